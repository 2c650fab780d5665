-- The W3C trace headers of an upload's receipt: its check (a background worker) continues
-- that trace, so one upload is one trace through every service (ARCHITECTURE: Observability).
-- Ids only (traceparent, tracestate); uploads stored before this migration have none.
ALTER TABLE uploads ADD COLUMN trace_headers jsonb;

-- The W3C trace headers of each priced list as billing received it: an invoice issued later
-- (the daily run, or a collective January-March invoice) links to the traces of the lists
-- it bills (ARCHITECTURE: Observability). Ids only; lists stored before have none.
ALTER TABLE priced_lists ADD COLUMN trace_headers jsonb;

-- The open-balance gauge (/metrics) sums what is open on all invoices: only the invoices
-- not settled, read from this index (a settled invoice has paid = total).
CREATE INDEX invoices_unsettled ON invoices (due_date) INCLUDE (total, paid) WHERE paid <> total;

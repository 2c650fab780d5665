-- The employer's tasks and messages inbox (issue 8): one row per thing the foundation tells the
-- employer through the platform, in one topic (ACCESS.md). The id is derived from what caused it
-- (upload, finding event, invoice, case step): a redelivered event writes nothing new.
CREATE TABLE messages (
    message_id  uuid PRIMARY KEY,
    employer_no integer NOT NULL,
    topic       text NOT NULL CHECK (topic IN ('mutations', 'contributions', 'reminders')),
    kind        text NOT NULL
        CHECK (kind IN ('list.faulty', 'list.unreadable', 'coverage.finding', 'invoice.issued',
                        'reminder')),
    -- a task needs the employer's action (faulty list, coverage finding, reminder)
    is_task     boolean NOT NULL,
    -- text key and its parameters, rendered in the employer's language when read; the
    -- parameters never hold personal data (no AHV numbers, no names)
    text_key    text NOT NULL,
    params      jsonb NOT NULL DEFAULT '{}',
    -- the worker a coverage finding concerns: the AHV number is the only reference the event
    -- carries; it is the employer's own worker, shown to the employer only, never logged
    worker_ahv  text,
    upload_id   uuid,
    invoice_id  uuid,
    case_id     uuid,
    step        text,
    created_on  date NOT NULL,
    read_at     timestamptz,
    done_at     timestamptz,
    CHECK (done_at IS NULL OR is_task)
);
CREATE INDEX messages_employer ON messages (employer_no, topic, created_on DESC);

-- Notices to outside bodies (Art. 22.3, RULES §9): one row per copy of a step, written in the
-- step's transaction; a sender worker delivers them by e-mail and retries with backoff.
CREATE TABLE notifications (
    id              uuid PRIMARY KEY,
    case_id         uuid NOT NULL REFERENCES cases (case_id),
    step            text NOT NULL,
    recipient       text NOT NULL CHECK (recipient IN ('catch_all', 'labour_office', 'association')),
    -- e-mail of the recipient; NULL: taken from the settings when sent (catch-all, association)
    address         text,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
    attempts        integer NOT NULL DEFAULT 0,
    -- wall-clock time (retries are operational, not business dates)
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- exception class and a short reason; never personal data
    last_error      text,
    created_on      date NOT NULL,
    sent_on         date,
    UNIQUE (case_id, step, recipient)
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';

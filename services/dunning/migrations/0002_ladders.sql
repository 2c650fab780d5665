-- The two ladders (RULES §9): what each case needs to evaluate its steps on a clock day.
ALTER TABLE cases
    ADD COLUMN period       text,
    ADD COLUMN anchor       date,
    ADD COLUMN steps_taken  integer NOT NULL DEFAULT 0,
    ADD COLUMN next_step_on date,
    ADD COLUMN held_since   date,
    ADD COLUMN shift_days   integer NOT NULL DEFAULT 0,
    ADD COLUMN close_reason text;
CREATE UNIQUE INDEX cases_data_period ON cases (employer_no, period) WHERE track = 'data';
CREATE UNIQUE INDEX cases_open_payment ON cases (employer_no)
    WHERE track = 'payment' AND closed_on IS NULL;
CREATE INDEX cases_due ON cases (next_step_on) WHERE closed_on IS NULL AND held_since IS NULL;

-- Every step taken, once (Art. 22-23: "recorded with its date and letter").
CREATE TABLE case_steps (
    case_id  uuid NOT NULL REFERENCES cases (case_id),
    step     text NOT NULL,
    dated    date NOT NULL,
    taken_on date NOT NULL,
    fee      numeric(14, 2) NOT NULL,
    amount   numeric(14, 2),
    PRIMARY KEY (case_id, step)
);

-- A period's list delivered without errors (a later faulty list does not undo it).
CREATE TABLE delivered_lists (
    employer_no  integer NOT NULL,
    period       text NOT NULL,
    delivered_on date NOT NULL,
    PRIMARY KEY (employer_no, period)
);

-- The latest balance billing announced per employer.
CREATE TABLE balances (
    employer_no     integer PRIMARY KEY,
    open_balance    numeric(14, 2) NOT NULL,
    overdue_balance numeric(14, 2) NOT NULL,
    as_of           date NOT NULL,
    changed_at      timestamptz NOT NULL
);

-- The first business day dunning saw: lists due before it are not chased (reading).
CREATE TABLE watch (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    first_day date NOT NULL
);

-- Operator actions (hold, release, fee waivers): who did what, when (issue 8: audited).
ALTER TABLE case_steps
    ADD COLUMN waived_on     date,
    ADD COLUMN waiver_reason text;
CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL,
    actor    text NOT NULL,
    action   text NOT NULL,
    case_id  uuid,
    detail   jsonb NOT NULL
);

-- Uploads are checked after they are stored: `state` says whether the check has run.
ALTER TABLE uploads
    ADD COLUMN file_kind     text NOT NULL DEFAULT 'xlsx' CHECK (file_kind IN ('xlsx', 'json')),
    ADD COLUMN language      char(2) NOT NULL DEFAULT 'de',
    ADD COLUMN submission_id text,
    ADD COLUMN state         text NOT NULL DEFAULT 'received'
                             CHECK (state IN ('received', 'checked'));
CREATE INDEX uploads_to_check ON uploads (received_at) WHERE state = 'received';

-- The outcome of the check of one upload (TEMPLATE.md "Checks and their codes").
CREATE TABLE reports (
    upload_id          uuid PRIMARY KEY REFERENCES uploads,
    status             text NOT NULL CHECK (status IN ('ok', 'faulty', 'unreadable')),
    row_count          integer NOT NULL,
    error_count        integer NOT NULL,
    warning_count      integer NOT NULL,
    counts_by_code     jsonb NOT NULL,
    on_time            boolean NOT NULL,
    due_date           date NOT NULL,
    received_on        date NOT NULL,
    replaces_upload_id uuid,
    -- one character per data row: the row's language (d, f, i, e), for later findings
    row_languages      text NOT NULL,
    rows_priced        integer NOT NULL DEFAULT 0,
    checked_at         timestamptz NOT NULL
);

CREATE TABLE findings (
    finding_id bigserial PRIMARY KEY,
    upload_id  uuid NOT NULL REFERENCES uploads,
    sheet      text,
    row_no     integer,
    col        text,
    code       text NOT NULL,
    severity   text NOT NULL CHECK (severity IN ('error', 'warning')),
    message    text NOT NULL
);
CREATE INDEX findings_of_upload ON findings (upload_id, finding_id);
-- pricing's declared-versus-computed findings arrive once per row and code
CREATE UNIQUE INDEX findings_declared ON findings (upload_id, row_no, code)
    WHERE code LIKE 'declared.%';

-- Rows of an upload that pricing has priced (completes the report).
CREATE TABLE priced_rows (
    upload_id uuid NOT NULL,
    row_no    integer NOT NULL,
    PRIMARY KEY (upload_id, row_no)
);

-- The list in force per employer and period: the latest error-free one (RULES §7).
CREATE TABLE list_versions (
    employer_no integer NOT NULL,
    period      char(7) NOT NULL,
    upload_id   uuid NOT NULL REFERENCES uploads,
    accepted_on date NOT NULL,
    PRIMARY KEY (employer_no, period)
);

-- Periods billing has invoiced: their lists can no longer be replaced.
CREATE TABLE invoiced_periods (
    employer_no integer NOT NULL,
    period      char(7) NOT NULL,
    invoice_id  uuid NOT NULL,
    PRIMARY KEY (employer_no, period)
);

-- Parts of a connector's submission until all have arrived.
CREATE TABLE submission_parts (
    employer_no   integer NOT NULL,
    submission_id text NOT NULL,
    part_no       integer NOT NULL,
    part_count    integer NOT NULL,
    period        char(7) NOT NULL,
    language      char(2) NOT NULL,
    rows          jsonb NOT NULL,
    received_at   timestamptz NOT NULL,
    PRIMARY KEY (employer_no, submission_id, part_no)
);

-- Submissions assembled into an upload: a part arriving late changes nothing.
CREATE TABLE submissions (
    employer_no   integer NOT NULL,
    submission_id text NOT NULL,
    upload_id     uuid NOT NULL REFERENCES uploads,
    PRIMARY KEY (employer_no, submission_id)
);

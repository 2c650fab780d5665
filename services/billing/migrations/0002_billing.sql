-- Invoices with their lines, the priced lists they come from, payments and pending lines
-- (RULES §8, Art. 20-21).
ALTER TABLE invoices
    ADD COLUMN sequence     integer NOT NULL,
    ADD COLUMN periods      text[] NOT NULL,
    ADD COLUMN paid         numeric(14, 2) NOT NULL DEFAULT 0,
    ADD COLUMN due_notified boolean NOT NULL DEFAULT false,
    ADD COLUMN issued_at    timestamptz NOT NULL;
CREATE UNIQUE INDEX invoices_sequence ON invoices (employer_no, sequence);
CREATE INDEX invoices_open ON invoices (due_date) WHERE NOT due_notified;

CREATE TABLE invoice_lines (
    invoice_id     uuid NOT NULL REFERENCES invoices,
    line_no        integer NOT NULL,
    kind           text NOT NULL,
    description    text NOT NULL,
    period         char(7),
    worker         text,
    insured_wage   numeric(14, 2),
    employer_share numeric(14, 2),
    employee_share numeric(14, 2),
    amount         numeric(14, 2) NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
);

-- Priced rows, kept per upload (rows may come before their list is complete).
CREATE TABLE priced_rows (
    upload_id      uuid NOT NULL,
    row_no         integer NOT NULL,
    employer_no    integer NOT NULL,
    period         char(7) NOT NULL,
    worker         text NOT NULL,
    insured_wage   numeric(14, 2) NOT NULL,
    premium_total  numeric(14, 2) NOT NULL,
    employer_share numeric(14, 2) NOT NULL,
    employee_share numeric(14, 2) NOT NULL,
    PRIMARY KEY (upload_id, row_no)
);

-- Per employer and period: the priced list in force, and the invoice it went onto.
CREATE TABLE periods (
    employer_no integer NOT NULL,
    period      char(7) NOT NULL,
    upload_id   uuid NOT NULL,
    priced_at   timestamptz NOT NULL,
    invoice_id  uuid REFERENCES invoices,
    PRIMARY KEY (employer_no, period)
);
CREATE INDEX periods_uninvoiced ON periods (employer_no) WHERE invoice_id IS NULL;

-- Fees, corrections after issue, interest and credits waiting for the next invoice.
CREATE TABLE pending_lines (
    line_id        uuid PRIMARY KEY,
    employer_no    integer NOT NULL,
    kind           text NOT NULL,
    description    text NOT NULL,
    period         char(7),
    worker         text,
    insured_wage   numeric(14, 2),
    employer_share numeric(14, 2),
    employee_share numeric(14, 2),
    amount         numeric(14, 2) NOT NULL,
    created_on     date NOT NULL,
    invoice_id     uuid REFERENCES invoices
);
CREATE INDEX pending_open ON pending_lines (employer_no) WHERE invoice_id IS NULL;

-- Payments as booked; `booking_id` makes a second import of the same credit a no-op.
CREATE TABLE payments (
    payment_id   uuid PRIMARY KEY,
    booking_id   text NOT NULL UNIQUE,
    source       text NOT NULL CHECK (source IN ('camt054', 'manual')),
    amount       numeric(14, 2) NOT NULL,
    value_date   date NOT NULL,
    qr_reference char(27),
    employer_no  integer,
    invoice_id   uuid REFERENCES invoices,
    applied      numeric(14, 2) NOT NULL DEFAULT 0,
    status       text NOT NULL CHECK (status IN ('booked', 'unmatched')),
    booked_at    timestamptz NOT NULL
);
CREATE INDEX payments_unmatched ON payments (booked_at) WHERE status = 'unmatched';

CREATE TABLE payment_imports (
    import_id  uuid PRIMARY KEY,
    sha256     char(64) NOT NULL UNIQUE,
    message_id text NOT NULL,
    entries    integer NOT NULL,
    booked     integer NOT NULL,
    duplicates integer NOT NULL,
    unmatched  integer NOT NULL,
    imported_at timestamptz NOT NULL
);

-- Lists pricing has finished (their rows may still be on their way).
CREATE TABLE priced_lists (
    upload_id   uuid PRIMARY KEY,
    employer_no integer NOT NULL,
    period      char(7) NOT NULL,
    row_count   integer NOT NULL,
    priced_at   timestamptz NOT NULL,
    complete    boolean NOT NULL DEFAULT false
);

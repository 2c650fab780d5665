-- Invoices; lines, payments and interest come with the billing issue.
CREATE TABLE invoices (
    invoice_id   uuid PRIMARY KEY,
    employer_no  integer NOT NULL,
    invoice_no   text NOT NULL UNIQUE,
    qr_reference char(27) NOT NULL UNIQUE,
    invoice_date date NOT NULL,
    due_date     date NOT NULL,
    total        numeric(14, 2) NOT NULL
);

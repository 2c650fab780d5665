-- Priced rows and per-list progress (RULES §2-§4). 0001's placeholder table never held data.
DROP TABLE priced_rows;

CREATE TABLE priced_rows (
    upload_id         uuid NOT NULL,
    row_no            integer NOT NULL,
    employer_no       integer NOT NULL,
    period            char(7) NOT NULL,
    subject           boolean NOT NULL,
    insured_wage      numeric(14, 2) NOT NULL,
    premium_total     numeric(14, 2) NOT NULL,
    employer_share    numeric(14, 2) NOT NULL,
    employee_share    numeric(14, 2) NOT NULL,
    savings_part      numeric(14, 2) NOT NULL,
    rate              numeric(6, 4) NOT NULL,
    parameter_version text NOT NULL,
    correction        boolean NOT NULL,
    event_id          uuid NOT NULL,
    PRIMARY KEY (upload_id, row_no)
);

-- One row per list, from its check; its rows may be priced before or after it arrives.
CREATE TABLE price_lists (
    upload_id    uuid PRIMARY KEY,
    employer_no  integer NOT NULL,
    period       char(7) NOT NULL,
    status       text NOT NULL,
    row_count    integer NOT NULL,
    completed_at timestamptz
);

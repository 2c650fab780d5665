-- Which workers each list named, and the checked lists: once a list is checked and all its
-- rows are assessed, the employer's other recent workers are judged through its period
-- (Art. 5.2: the follow-up of an interruption, Art. 9: an exit, that the list left out).
CREATE TABLE list_rows (
    upload_id uuid NOT NULL,
    row_no    integer NOT NULL,
    ahv       text NOT NULL,
    PRIMARY KEY (upload_id, row_no)
);

CREATE TABLE checked_lists (
    upload_id   uuid PRIMARY KEY,
    employer_no integer NOT NULL,
    period      char(7) NOT NULL,
    row_count   integer NOT NULL,
    judged      boolean NOT NULL DEFAULT false
);

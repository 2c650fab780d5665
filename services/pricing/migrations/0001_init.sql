-- Priced rows; the parameter tables and rules come with the pricing issue.
CREATE TABLE priced_rows (
    upload_id   uuid NOT NULL,
    row_no      integer NOT NULL,
    employer_no integer NOT NULL,
    period      char(7) NOT NULL,
    premium_total numeric(14, 2) NOT NULL,
    PRIMARY KEY (upload_id, row_no)
);

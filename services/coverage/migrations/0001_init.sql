-- Assignments per worker and employer; the rules that read them come with the coverage issue.
CREATE TABLE assignments (
    employer_no integer NOT NULL,
    ahv         text NOT NULL,
    starts_on   date NOT NULL,
    ends_on     date,
    PRIMARY KEY (employer_no, ahv, starts_on)
);

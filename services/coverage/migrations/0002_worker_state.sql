-- What coverage knows of each worker at each employer (RULES §5-§6); 0001's placeholder
-- table never held data.
DROP TABLE assignments;

CREATE TABLE workers (
    employer_no       integer NOT NULL,
    ahv               text NOT NULL,
    birth_date        date NOT NULL,
    sex               char(1) NOT NULL CHECK (sex IN ('M', 'F')),
    invalidity_degree integer NOT NULL,
    latest_period     char(7) NOT NULL,
    PRIMARY KEY (employer_no, ahv)
);

CREATE TABLE assignments (
    employer_no            integer NOT NULL,
    ahv                    text NOT NULL,
    starts_on              date NOT NULL,
    ends_on                date,
    expected_over_13_weeks boolean NOT NULL,
    extension_accepted_on  date,
    requested              boolean NOT NULL,
    children               boolean NOT NULL,
    ends_with_exit         boolean NOT NULL,
    reported_in            char(7) NOT NULL,
    PRIMARY KEY (employer_no, ahv, starts_on)
);

-- Entries (1), exits (2) and interruptions (4) as the lists declared them (Art. 9).
CREATE TABLE declarations (
    employer_no integer NOT NULL,
    ahv         text NOT NULL,
    period      char(7) NOT NULL,
    code        smallint NOT NULL,
    on_date     date,
    PRIMARY KEY (employer_no, ahv, period, code)
);

CREATE TABLE invalidity_changes (
    employer_no integer NOT NULL,
    ahv         text NOT NULL,
    on_date     date NOT NULL,
    degree      integer NOT NULL,
    PRIMARY KEY (employer_no, ahv, on_date)
);

-- The coverage periods as last derived, to tell what changed.
CREATE TABLE coverage_periods (
    employer_no  integer NOT NULL,
    ahv          text NOT NULL,
    insured_from date NOT NULL,
    insured_to   date,
    start_rule   char(2) NOT NULL,
    end_rule     char(2),
    PRIMARY KEY (employer_no, ahv, insured_from)
);

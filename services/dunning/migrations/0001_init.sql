-- Dunning cases of both ladders; steps, letters and notices come with the dunning issue.
CREATE TABLE cases (
    case_id     uuid PRIMARY KEY,
    employer_no integer NOT NULL,
    track       text NOT NULL CHECK (track IN ('data', 'payment')),
    opened_on   date NOT NULL,
    step        text,
    closed_on   date
);

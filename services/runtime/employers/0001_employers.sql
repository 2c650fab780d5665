-- Projection of auth.employer-changed: what a service needs to know of its employers.
CREATE TABLE employers (
    employer_no     integer PRIMARY KEY,
    name            text NOT NULL,
    address         jsonb NOT NULL,
    canton          text NOT NULL,
    language        text NOT NULL,
    enabled_topics  text[] NOT NULL,
    status          text NOT NULL,
    affiliated_from date NOT NULL,
    affiliated_until date,
    employer_share  numeric(5, 4) NOT NULL,
    changed_at      timestamptz NOT NULL
);

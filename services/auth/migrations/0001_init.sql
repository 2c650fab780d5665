-- Employers (tenants) and their users; credentials and sessions come with the auth issue.
CREATE TABLE employers (
    employer_no      integer PRIMARY KEY CHECK (employer_no > 0),
    name             text NOT NULL,
    street           text NOT NULL,
    house_no         text,
    postcode         text NOT NULL,
    town             text NOT NULL,
    country          char(2) NOT NULL DEFAULT 'CH',
    canton           char(2) NOT NULL,
    language         text NOT NULL CHECK (language IN ('de', 'fr', 'it', 'en')),
    enabled_topics   text[] NOT NULL,
    status           text NOT NULL CHECK (status IN ('affiliated', 'terminated')),
    affiliated_from  date NOT NULL,
    affiliated_until date,
    employer_share   numeric(5, 4) NOT NULL DEFAULT 0.5,
    changed_at       timestamptz NOT NULL
);

CREATE TABLE users (
    user_id       uuid PRIMARY KEY,
    employer_no   integer NOT NULL REFERENCES employers,
    login         text NOT NULL UNIQUE,
    kind          text NOT NULL CHECK (kind IN ('connect', 'connector', 'private')),
    status        text NOT NULL CHECK (status IN ('active', 'deregistered')),
    topics        text[] NOT NULL,
    password_hash text,
    created_at    timestamptz NOT NULL
);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    employer_no integer,
    outcome     text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);

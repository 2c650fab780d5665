-- Transactional outbox, inbox and parked events: what every service runs on (ARCHITECTURE).
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          text NOT NULL,
    value        bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE inbox (
    event_id   uuid PRIMARY KEY,
    topic      text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);

-- Events a service subscribes to but whose rules have not landed yet: kept, not dropped.
CREATE TABLE parked_events (
    event_id    uuid PRIMARY KEY,
    topic       text NOT NULL,
    employer_no integer NOT NULL,
    body        jsonb NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now()
);

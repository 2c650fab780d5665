-- Every file as received, before anything else happens (RULES §7).
CREATE TABLE uploads (
    upload_id   uuid PRIMARY KEY,
    employer_no integer NOT NULL,
    period      char(7) NOT NULL,
    channel     text NOT NULL CHECK (channel IN ('http', 'kafka')),
    sha256      char(64) NOT NULL,
    size_bytes  bigint NOT NULL,
    content     bytea NOT NULL,
    received_at timestamptz NOT NULL,
    received_by text NOT NULL,
    UNIQUE (employer_no, period, sha256)
);

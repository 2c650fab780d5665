-- Credentials, login challenges, refresh tokens, brute-force counters (ACCESS.md hygiene).
ALTER TABLE users
    ADD COLUMN admin               boolean NOT NULL DEFAULT false,
    ADD COLUMN password_changed_at timestamptz,
    ADD COLUMN phone               text,
    ADD COLUMN totp_secret         text,
    ADD COLUMN totp_confirmed      boolean NOT NULL DEFAULT false,
    ADD COLUMN totp_last_step      bigint,
    ADD COLUMN cert_fingerprint    text UNIQUE,
    ADD COLUMN ahv                 text,
    ADD COLUMN changed_at          timestamptz;

-- After the password: the second factor still owed (sms or totp), or a pending SMS code.
CREATE TABLE challenges (
    challenge_id uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users,
    method       text NOT NULL CHECK (method IN ('sms', 'totp')),
    code_hash    text,
    issued_at    timestamptz NOT NULL,
    tries        integer NOT NULL DEFAULT 0,
    used         boolean NOT NULL DEFAULT false
);

-- Refresh tokens: stored as SHA-256, single use, rotated.
CREATE TABLE refresh_tokens (
    token_hash  text PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users,
    session_id  text NOT NULL,
    methods     text[] NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

-- Failures per user and per source address, for delay and lockout.
CREATE TABLE throttle (
    key          text PRIMARY KEY,
    failures     integer NOT NULL,
    last_failure timestamptz NOT NULL
);

-- Private users' invitations: single use, bound to one AHV number.
CREATE TABLE invitations (
    invitation_id uuid PRIMARY KEY,
    employer_no   integer NOT NULL REFERENCES employers,
    ahv           text NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);

ALTER TABLE audit_log
    ADD COLUMN source  text,
    ADD COLUMN user_id uuid;
CREATE INDEX audit_log_employer ON audit_log (employer_no, at);

-- Topic waivers by employers: effective from the first day of the month after receipt.
CREATE TABLE waivers (
    employer_no  integer NOT NULL REFERENCES employers,
    topic        text NOT NULL,
    received_on  date NOT NULL,
    effective_on date NOT NULL,
    applied      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (employer_no, topic)
);

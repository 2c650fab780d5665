-- What auth.user-changed means for tokens already issued, kept so that a restarted process
-- screens tokens as before (services.runtime.handlers.load_revocations).
CREATE TABLE user_revocations (
    user_id                uuid PRIMARY KEY,
    status                 text NOT NULL,
    topics                 text[] NOT NULL,
    -- every credential revoked by a change of the user, whatever change came later
    revoked_credential_ids text[] NOT NULL,
    -- the latest deregistration, kept if the user is made active again
    deregistered_at        timestamptz,
    -- the newest change: status and topics are its
    changed_at             timestamptz NOT NULL
);
CREATE INDEX user_revocations_changed_at ON user_revocations (changed_at);

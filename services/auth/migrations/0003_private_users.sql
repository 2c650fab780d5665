-- Invitations of private users (connect@Private): who invited, the tries left, who redeemed.
ALTER TABLE invitations
    ADD COLUMN created_at  timestamptz,
    ADD COLUMN created_by  text,
    ADD COLUMN tries       integer NOT NULL DEFAULT 0,
    ADD COLUMN user_id     uuid REFERENCES users;
CREATE INDEX invitations_employer ON invitations (employer_no, ahv);

-- One active private user per worker and employer (ACCESS.md: bound to one AHV number).
CREATE UNIQUE INDEX users_private_worker ON users (employer_no, ahv)
    WHERE kind = 'private' AND status = 'active';

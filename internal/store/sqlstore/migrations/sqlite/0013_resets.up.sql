-- Support-assisted second-factor resets. An owner or adviser starts one for
-- a member; the member confirms it through a one-time link mailed to them
-- (only the token's hash is kept); after a waiting period the member's next
-- correct password removes every factor. At most one open reset per user.
CREATE TABLE mfa_resets (
    id                INTEGER PRIMARY KEY,
    user_id           INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id            INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    -- the owner or adviser who started it (kept if they leave: the record
    -- outlives the membership)
    started_by        INTEGER NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('awaiting_confirmation', 'waiting', 'cancelled', 'completed', 'expired')),
    confirm_hash      BLOB NOT NULL UNIQUE,
    cancel_hash       BLOB NOT NULL UNIQUE,
    -- the cancel link of the second mail, sent at confirmation
    later_cancel_hash BLOB UNIQUE,
    created_at        INTEGER NOT NULL,
    confirm_by        INTEGER NOT NULL,
    confirmed_at      INTEGER NOT NULL DEFAULT 0,
    effective_at      INTEGER NOT NULL DEFAULT 0,
    closed_at         INTEGER NOT NULL DEFAULT 0,
    closed_by         INTEGER NOT NULL DEFAULT 0
);
-- The arbiter of "one open reset per user", even for two racing starts.
CREATE UNIQUE INDEX mfa_resets_open ON mfa_resets(user_id) WHERE status IN ('awaiting_confirmation', 'waiting');
CREATE INDEX mfa_resets_org ON mfa_resets(org_id, status);
CREATE INDEX mfa_resets_due ON mfa_resets(status, effective_at);

-- Coffer Verify push requests: one row per "approve this sign-in?" sent to a
-- user's paired devices. A request belongs to one attempt (a pending login
-- or a session stepping up) and is answered once; approved, it is consumed
-- once. A pending request past expires_at counts as ignored.
CREATE TABLE push_requests (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    pending_id  INTEGER NOT NULL DEFAULT 0,
    session_id  INTEGER NOT NULL DEFAULT 0,
    -- the two-digit number shown on the sign-in screen
    number      INTEGER NOT NULL CHECK (number BETWEEN 10 AND 99),
    challenge   BLOB NOT NULL,
    ip          TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    place       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
    -- why a request was denied: denied, wrong_number, not_me
    reason      TEXT NOT NULL DEFAULT '',
    -- the device that answered and its Ed25519 signature of the approval
    factor_id   INTEGER NOT NULL DEFAULT 0,
    signature   BLOB,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    answered_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX push_requests_user ON push_requests(user_id, status, created_at);

-- Signatures of device requests already accepted, kept while their
-- timestamp is inside the accepted window: a captured request cannot be
-- sent again.
CREATE TABLE push_device_signatures (
    hash       BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX push_device_signatures_expiry ON push_device_signatures(expires_at);

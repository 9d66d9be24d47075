-- The security noticeboard: notices operators post to every user, and who
-- has read which.
CREATE TABLE notices (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('info', 'warning', 'action_required')),
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    due_at       INTEGER NOT NULL DEFAULT 0,
    published_at INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    -- The operator who posted it; kept (not a foreign key) when that
    -- account is deleted, as the audit log keeps ids.
    created_by   INTEGER NOT NULL DEFAULT 0,
    CHECK ((kind = 'action_required') = (due_at <> 0))
);
CREATE INDEX notices_published ON notices(published_at);

CREATE TABLE notice_reads (
    notice_id INTEGER NOT NULL REFERENCES notices(id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    read_at   INTEGER NOT NULL,
    PRIMARY KEY (notice_id, user_id)
);
CREATE INDEX notice_reads_user ON notice_reads(user_id);

-- Vulnerability reports from the public form: contact, summary and details
-- sealed together under the platform data key, bound to the row id.
CREATE TABLE vuln_reports (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    body_enc    BLOB NOT NULL
);

-- The mail outbox: a notification is a row here first, so a request never
-- waits on the mail server and a server that is down loses nothing. The
-- body (recipient, subject, text) is sealed with the platform data key and
-- bound to the row's id; it is dropped once the row is sent or failed.
-- message_id is the Message-ID's left part, the same on every retry, so a
-- receiver can drop a duplicate (delivery is at least once). Times are
-- milliseconds since the epoch: retries in tests are sub-second.
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL DEFAULT '',
    body_enc        BLOB,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    -- a worker's claim: no other may take the row before lease_until
    lease_until     INTEGER NOT NULL DEFAULT 0,
    lease_token     TEXT NOT NULL DEFAULT '',
    finished_at     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX mail_outbox_due ON mail_outbox(status, next_attempt_at);
CREATE INDEX mail_outbox_finished ON mail_outbox(status, finished_at);

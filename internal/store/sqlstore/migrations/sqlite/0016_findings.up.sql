-- What anomaly detection remembers of the events its rules compare:
-- successful sign-ins (device, network, place, hour), failed passwords (a
-- hash of the email tried, never the email or password), failed second
-- factors and exports. Kept small: only what a rule reads.
CREATE TABLE anomaly_signals (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('signin', 'password_failure', 'mfa_failure', 'export')),
    user_id    INTEGER NOT NULL DEFAULT 0,
    account    TEXT NOT NULL DEFAULT '',
    known      INTEGER NOT NULL DEFAULT 0,
    ip         TEXT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    device     TEXT NOT NULL DEFAULT '',
    country    TEXT NOT NULL DEFAULT '',
    lat        REAL NOT NULL DEFAULT 0,
    lon        REAL NOT NULL DEFAULT 0,
    has_loc    INTEGER NOT NULL DEFAULT 0,
    at         INTEGER NOT NULL
);
CREATE INDEX anomaly_signals_user ON anomaly_signals(kind, user_id, at);
CREATE INDEX anomaly_signals_ip ON anomaly_signals(kind, ip, at);

-- Findings: a rule that fired, what it did, and who resolved it.
CREATE TABLE findings (
    id          INTEGER PRIMARY KEY,
    rule        TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    user_id     INTEGER NOT NULL DEFAULT 0,
    org_id      INTEGER NOT NULL DEFAULT 0,
    ip          TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL,
    actions     TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolved_by INTEGER NOT NULL DEFAULT 0,
    resolved_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX findings_org ON findings(org_id, created_at);
CREATE INDEX findings_user ON findings(user_id, created_at);
CREATE INDEX findings_rule ON findings(rule, user_id, ip, created_at);

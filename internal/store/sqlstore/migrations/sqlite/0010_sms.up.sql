-- One-time codes sent by SMS or voice call. Only a keyed MAC of a code is
-- kept, so the table gives nothing away; a row is used at most once
-- (used_at set by a conditional update) and dies after a few wrong tries.
CREATE TABLE sms_codes (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- the phone it went to; a confirmation code confirms this factor
    factor_id   INTEGER NOT NULL REFERENCES mfa_factors(id) ON DELETE CASCADE,
    -- 'confirm' (a new phone) or 'verify' (sign-in and step-up)
    purpose     TEXT NOT NULL CHECK (purpose IN ('confirm', 'verify')),
    -- the pending login or session it was asked for (0: none), for the record
    pending_id  INTEGER NOT NULL DEFAULT 0,
    session_id  INTEGER NOT NULL DEFAULT 0,
    code_mac    BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sms_codes_user ON sms_codes(user_id, purpose);

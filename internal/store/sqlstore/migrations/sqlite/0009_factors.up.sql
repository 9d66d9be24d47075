-- Every second factor lives in one table, whatever its kind, so a user's
-- factors list, rename and remove the same way and "never remove the last
-- one" is one query. The TOTP rows keep their ids: their sealed secrets are
-- bound to them.
ALTER TABLE totp_factors RENAME TO mfa_factors;
-- counter: TOTP the last accepted time step, HOTP the last accepted counter,
-- WebAuthn the authenticator's last sign count. It only moves forward.
ALTER TABLE mfa_factors RENAME COLUMN last_step TO counter;
ALTER TABLE mfa_factors ADD COLUMN kind TEXT NOT NULL DEFAULT 'totp' CHECK (kind IN ('totp', 'hotp', 'webauthn', 'sms', 'push'));
ALTER TABLE mfa_factors ADD COLUMN name TEXT NOT NULL DEFAULT 'Authenticator app';
-- WebAuthn credential id, or a Verify device's key id: looked up at sign-in.
ALTER TABLE mfa_factors ADD COLUMN credential_id BLOB;
-- Public material: a WebAuthn credential (JSON), a Verify device's Ed25519
-- public key. Never secret; secrets go in secret_enc, sealed.
ALTER TABLE mfa_factors ADD COLUMN public_data BLOB NOT NULL DEFAULT x'';
-- What the list shows to tell factors apart without revealing the secret,
-- e.g. the last two digits of a phone number.
ALTER TABLE mfa_factors ADD COLUMN hint TEXT NOT NULL DEFAULT '';
ALTER TABLE mfa_factors ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX mfa_factors_credential ON mfa_factors(credential_id) WHERE credential_id IS NOT NULL;
CREATE INDEX mfa_factors_user_kind ON mfa_factors(user_id, kind, confirmed);

DROP TRIGGER totp_factors_secret_live_key_i;
DROP TRIGGER totp_factors_secret_live_key_u;
CREATE TRIGGER mfa_factors_secret_live_key_i BEFORE INSERT ON mfa_factors
WHEN substr(NEW.secret_enc, 1, 1) = x'02' AND EXISTS (SELECT 1 FROM data_keys WHERE state = 'destroyed' AND printf('%08X', id) = hex(substr(NEW.secret_enc, 2, 4)))
BEGIN SELECT RAISE(ABORT, 'sealed with a destroyed data key'); END;
CREATE TRIGGER mfa_factors_secret_live_key_u BEFORE UPDATE OF secret_enc ON mfa_factors
WHEN substr(NEW.secret_enc, 1, 1) = x'02' AND EXISTS (SELECT 1 FROM data_keys WHERE state = 'destroyed' AND printf('%08X', id) = hex(substr(NEW.secret_enc, 2, 4)))
BEGIN SELECT RAISE(ABORT, 'sealed with a destroyed data key'); END;

-- Which kind of factor last verified the session: an organisation may
-- refuse SMS or require a phishing-resistant factor.
ALTER TABLE sessions ADD COLUMN mfa_method TEXT NOT NULL DEFAULT 'totp';

-- Passkey sign-in (no password) is allowed unless an organisation the user
-- belongs to turns it off.
ALTER TABLE orgs ADD COLUMN allow_passkey_sign_in INTEGER NOT NULL DEFAULT 1;

-- One-time ceremony state between two requests (WebAuthn registration and
-- assertion options): kept in the database so any node can finish what
-- another began.
CREATE TABLE mfa_challenges (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL DEFAULT 0,
    purpose     TEXT NOT NULL,
    -- the pending login or session the challenge belongs to (0: none)
    pending_id  INTEGER NOT NULL DEFAULT 0,
    session_id  INTEGER NOT NULL DEFAULT 0,
    token_hash  BLOB UNIQUE,
    data        BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX mfa_challenges_user ON mfa_challenges(user_id, purpose);

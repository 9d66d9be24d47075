-- Envelope encryption: one active data key per organisation, wrapped by the
-- master key (key-encryption key). org_id 0 is the platform key for
-- user-level secrets (TOTP seeds); org_id -1 holds the keyring's root secret
-- (MACs and format-1 values). No foreign key to orgs: the keys of a deleted
-- organisation stay as destroyed tombstones so their ids are never reused.
CREATE TABLE data_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    wrapped      BLOB NOT NULL,
    kek_id       TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'destroyed')),
    created_at   INTEGER NOT NULL,
    destroyed_at INTEGER NOT NULL DEFAULT 0,
    UNIQUE (org_id, version)
);
CREATE UNIQUE INDEX data_keys_one_active ON data_keys(org_id) WHERE state = 'active';

-- Progress of re-encrypting an organisation's values under a new data key:
-- one row per encrypted column, so a crash resumes where it stopped.
CREATE TABLE key_rotations (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL,
    from_key    INTEGER NOT NULL,
    to_key      INTEGER NOT NULL,
    table_name  TEXT NOT NULL,
    last_id     INTEGER NOT NULL DEFAULT 0,
    done        INTEGER NOT NULL DEFAULT 0,
    total       INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL CHECK (state IN ('running', 'done')),
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL DEFAULT 0,
    UNIQUE (org_id, to_key, table_name)
);

-- A value sealed (format 2: 0x02 || key id || …) under a destroyed data key
-- can never be opened again; refuse to store one. This closes the race where
-- a server that cached a retiring key writes after the rotation destroyed it.
CREATE TRIGGER contacts_bank_details_live_key_i BEFORE INSERT ON contacts
WHEN substr(NEW.bank_details_enc, 1, 1) = x'02' AND EXISTS (SELECT 1 FROM data_keys WHERE state = 'destroyed' AND printf('%08X', id) = hex(substr(NEW.bank_details_enc, 2, 4)))
BEGIN SELECT RAISE(ABORT, 'sealed with a destroyed data key'); END;
CREATE TRIGGER contacts_bank_details_live_key_u BEFORE UPDATE OF bank_details_enc ON contacts
WHEN substr(NEW.bank_details_enc, 1, 1) = x'02' AND EXISTS (SELECT 1 FROM data_keys WHERE state = 'destroyed' AND printf('%08X', id) = hex(substr(NEW.bank_details_enc, 2, 4)))
BEGIN SELECT RAISE(ABORT, 'sealed with a destroyed data key'); END;
CREATE TRIGGER contacts_tax_number_live_key_i BEFORE INSERT ON contacts
WHEN substr(NEW.tax_number_enc, 1, 1) = x'02' AND EXISTS (SELECT 1 FROM data_keys WHERE state = 'destroyed' AND printf('%08X', id) = hex(substr(NEW.tax_number_enc, 2, 4)))
BEGIN SELECT RAISE(ABORT, 'sealed with a destroyed data key'); END;
CREATE TRIGGER contacts_tax_number_live_key_u BEFORE UPDATE OF tax_number_enc ON contacts
WHEN substr(NEW.tax_number_enc, 1, 1) = x'02' AND EXISTS (SELECT 1 FROM data_keys WHERE state = 'destroyed' AND printf('%08X', id) = hex(substr(NEW.tax_number_enc, 2, 4)))
BEGIN SELECT RAISE(ABORT, 'sealed with a destroyed data key'); END;
CREATE TRIGGER bank_accounts_number_live_key_i BEFORE INSERT ON bank_accounts
WHEN substr(NEW.account_number_enc, 1, 1) = x'02' AND EXISTS (SELECT 1 FROM data_keys WHERE state = 'destroyed' AND printf('%08X', id) = hex(substr(NEW.account_number_enc, 2, 4)))
BEGIN SELECT RAISE(ABORT, 'sealed with a destroyed data key'); END;
CREATE TRIGGER bank_accounts_number_live_key_u BEFORE UPDATE OF account_number_enc ON bank_accounts
WHEN substr(NEW.account_number_enc, 1, 1) = x'02' AND EXISTS (SELECT 1 FROM data_keys WHERE state = 'destroyed' AND printf('%08X', id) = hex(substr(NEW.account_number_enc, 2, 4)))
BEGIN SELECT RAISE(ABORT, 'sealed with a destroyed data key'); END;
CREATE TRIGGER totp_factors_secret_live_key_i BEFORE INSERT ON totp_factors
WHEN substr(NEW.secret_enc, 1, 1) = x'02' AND EXISTS (SELECT 1 FROM data_keys WHERE state = 'destroyed' AND printf('%08X', id) = hex(substr(NEW.secret_enc, 2, 4)))
BEGIN SELECT RAISE(ABORT, 'sealed with a destroyed data key'); END;
CREATE TRIGGER totp_factors_secret_live_key_u BEFORE UPDATE OF secret_enc ON totp_factors
WHEN substr(NEW.secret_enc, 1, 1) = x'02' AND EXISTS (SELECT 1 FROM data_keys WHERE state = 'destroyed' AND printf('%08X', id) = hex(substr(NEW.secret_enc, 2, 4)))
BEGIN SELECT RAISE(ABORT, 'sealed with a destroyed data key'); END;

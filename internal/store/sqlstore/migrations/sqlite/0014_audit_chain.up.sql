-- The audit log becomes hash-chained: one chain per organisation and one
-- global chain (org 0) for platform events. Each event carries its seq in
-- its chain, the previous event's hash and its own (SHA-256 over a
-- length-prefixed encoding, see internal/audit). Events from before this
-- migration get seq 0 here and are chained into the global chain, in id
-- order, the first time Coffer starts with the master key (the hashes need
-- Go, and the head's signature needs the key): see Store.SetAuditKey.
-- chain_id is the organisation's id (0: the global chain). It is not a
-- reference to orgs and not named org_id on purpose: deleting an
-- organisation deletes every org_id row, but its audit chain must outlive
-- it.
ALTER TABLE audit_events ADD COLUMN chain_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN prev_hash BLOB NOT NULL DEFAULT x'';
ALTER TABLE audit_events ADD COLUMN hash BLOB NOT NULL DEFAULT x'';
-- One event per place in a chain (seq 0: not yet chained).
CREATE UNIQUE INDEX audit_events_chain ON audit_events(chain_id, seq) WHERE seq > 0;
CREATE INDEX audit_events_chain_at ON audit_events(chain_id, at);

-- Each chain's head: its last seq and hash, signed (HMAC under a key
-- derived from the master key) at every append. Appending locks this row
-- (in PostgreSQL: SELECT … FOR UPDATE), so two writers never take the
-- same seq; and a chain whose last events were deleted no longer reaches
-- its signed head. tampered_at is the head's seq when an append found its
-- signature wrong: sticky, and covered by the signature.
CREATE TABLE audit_chains (
    chain_id      INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL,
    hash        BLOB NOT NULL,
    tampered_at INTEGER NOT NULL DEFAULT 0,
    mac         BLOB NOT NULL
);

-- Signed checkpoints, every 100 events of a chain and on demand
-- (coffer audit checkpoint).
CREATE TABLE audit_checkpoints (
    id     INTEGER PRIMARY KEY,
    chain_id INTEGER NOT NULL,
    seq    INTEGER NOT NULL,
    hash   BLOB NOT NULL,
    at     INTEGER NOT NULL,
    mac    BLOB NOT NULL,
    UNIQUE (chain_id, seq)
);

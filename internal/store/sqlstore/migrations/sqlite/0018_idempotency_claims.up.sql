-- A request's claim on its Idempotency-Key (a random token) and whether a
-- write transaction of it has committed: what lets a retry settle a key
-- whose node died between the books and the answer (see internal/idem).
ALTER TABLE idempotency_keys ADD COLUMN claim_token BLOB NOT NULL DEFAULT x'';
ALTER TABLE idempotency_keys ADD COLUMN applied INTEGER NOT NULL DEFAULT 0;

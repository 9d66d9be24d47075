-- Organisations, memberships and the double-entry ledger with what feeds it.
-- Money is always INTEGER minor units of the organisation's currency.
-- Dates of accounting records are TEXT 'YYYY-MM-DD'; timestamps are unix seconds.

ALTER TABLE users ADD COLUMN password_changed_at INTEGER NOT NULL DEFAULT 0;

CREATE TABLE orgs (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    currency      TEXT NOT NULL,
    lock_date     TEXT NOT NULL DEFAULT '',     -- '' or YYYY-MM-DD: nothing posts on or before it
    created_at    INTEGER NOT NULL,
    -- security settings (owners only)
    session_idle_secs      INTEGER NOT NULL DEFAULT 900,
    session_absolute_secs  INTEGER NOT NULL DEFAULT 43200,
    password_expiry_days   INTEGER NOT NULL DEFAULT 0,  -- 0: off (NIST advises against expiry)
    forbid_sms             INTEGER NOT NULL DEFAULT 0,
    require_phishing_resistant INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE memberships (
    org_id     INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'adviser', 'standard', 'invoice_only', 'read_only')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE invitations (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'adviser', 'standard', 'invoice_only', 'read_only')),
    token_hash  BLOB NOT NULL UNIQUE,
    invited_by  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER NOT NULL DEFAULT 0,
    revoked_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX invitations_org ON invitations(org_id);

-- Replays of writes sent with an Idempotency-Key header.
CREATE TABLE idempotency_keys (
    org_id       INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    status       INTEGER NOT NULL DEFAULT 0,   -- 0 while the first request is in flight
    content_type TEXT NOT NULL DEFAULT '',
    body         BLOB NOT NULL DEFAULT x'',
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id, key)
);

CREATE TABLE tax_rates (
    id       INTEGER PRIMARY KEY,
    org_id   INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    rate_bp  INTEGER NOT NULL CHECK (rate_bp >= 0 AND rate_bp <= 10000),  -- basis points: 2000 = 20%
    archived INTEGER NOT NULL DEFAULT 0,
    UNIQUE (org_id, name)
);

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL CHECK (type IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
    -- system role of an account the ledger posts to by itself:
    -- 'receivable', 'payable', 'tax', 'retained_earnings', 'bank', or ''
    system      TEXT NOT NULL DEFAULT '',
    tax_rate_id INTEGER REFERENCES tax_rates(id),
    description TEXT NOT NULL DEFAULT '',
    archived    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (org_id, code)
);
CREATE INDEX accounts_org ON accounts(org_id);

CREATE TABLE contacts (
    id               INTEGER PRIMARY KEY,
    org_id           INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    email            TEXT NOT NULL DEFAULT '',
    is_customer      INTEGER NOT NULL DEFAULT 0,
    is_supplier      INTEGER NOT NULL DEFAULT 0,
    -- sealed with the organisation's key, bound to (table, column, org, id)
    bank_details_enc BLOB,
    tax_number_enc   BLOB,
    archived         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX contacts_org ON contacts(org_id);

-- Posted journals are never updated or deleted; corrections are reversals.
CREATE TABLE journals (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    date        TEXT NOT NULL,
    narration   TEXT NOT NULL,
    -- what posted it: 'manual', 'invoice', 'payment', 'credit_note', 'allocation', 'bank', 'reversal'
    source_type TEXT NOT NULL,
    source_id   INTEGER NOT NULL DEFAULT 0,
    reverses_id INTEGER REFERENCES journals(id),
    created_by  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE INDEX journals_org_date ON journals(org_id, date);
CREATE UNIQUE INDEX journals_one_reversal ON journals(reverses_id) WHERE reverses_id IS NOT NULL;

CREATE TABLE journal_lines (
    id          INTEGER PRIMARY KEY,
    journal_id  INTEGER NOT NULL REFERENCES journals(id) ON DELETE CASCADE,
    org_id      INTEGER NOT NULL,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    debit       INTEGER NOT NULL DEFAULT 0 CHECK (debit >= 0),
    credit      INTEGER NOT NULL DEFAULT 0 CHECK (credit >= 0),
    description TEXT NOT NULL DEFAULT '',
    contact_id  INTEGER,
    CHECK ((debit = 0) <> (credit = 0))
);
CREATE INDEX journal_lines_journal ON journal_lines(journal_id);
CREATE INDEX journal_lines_org_account ON journal_lines(org_id, account_id);

-- Sales invoices, bills and credit notes share one table.
CREATE TABLE invoices (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('sales', 'bill', 'sales_credit', 'bill_credit')),
    number          TEXT NOT NULL,
    contact_id      INTEGER NOT NULL REFERENCES contacts(id),
    date            TEXT NOT NULL,
    due_date        TEXT NOT NULL,
    reference       TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('draft', 'awaiting_payment', 'paid', 'voided')),
    subtotal        INTEGER NOT NULL DEFAULT 0,
    tax_total       INTEGER NOT NULL DEFAULT 0,
    total           INTEGER NOT NULL DEFAULT 0,
    amount_paid     INTEGER NOT NULL DEFAULT 0,  -- payments, and for credit notes, allocations
    amount_credited INTEGER NOT NULL DEFAULT 0,  -- credit notes allocated to this invoice
    journal_id      INTEGER REFERENCES journals(id),
    void_journal_id INTEGER REFERENCES journals(id),
    created_by      INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (org_id, kind, number)
);
CREATE INDEX invoices_org_status ON invoices(org_id, kind, status);

CREATE TABLE invoice_lines (
    id          INTEGER PRIMARY KEY,
    invoice_id  INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    org_id      INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    description TEXT NOT NULL,
    quantity    INTEGER NOT NULL,   -- ten-thousandths: 1.5 = 15000
    unit_price  INTEGER NOT NULL,   -- minor units
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    tax_rate_id INTEGER REFERENCES tax_rates(id),
    tax_rate_bp INTEGER NOT NULL DEFAULT 0,
    line_amount INTEGER NOT NULL,   -- before tax
    tax_amount  INTEGER NOT NULL
);
CREATE INDEX invoice_lines_invoice ON invoice_lines(invoice_id);

CREATE TABLE payments (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    invoice_id      INTEGER NOT NULL REFERENCES invoices(id),
    bank_account_id INTEGER NOT NULL,      -- bank_accounts.id
    date            TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    reference       TEXT NOT NULL DEFAULT '',
    journal_id      INTEGER NOT NULL REFERENCES journals(id),
    bank_transaction_id INTEGER,
    created_by      INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);
CREATE INDEX payments_invoice ON payments(invoice_id);

CREATE TABLE credit_allocations (
    id             INTEGER PRIMARY KEY,
    org_id         INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    credit_note_id INTEGER NOT NULL REFERENCES invoices(id),
    invoice_id     INTEGER NOT NULL REFERENCES invoices(id),
    date           TEXT NOT NULL,
    amount         INTEGER NOT NULL CHECK (amount > 0),
    created_at     INTEGER NOT NULL
);

CREATE TABLE bank_accounts (
    id                 INTEGER PRIMARY KEY,
    org_id             INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    account_id         INTEGER NOT NULL UNIQUE REFERENCES accounts(id),
    name               TEXT NOT NULL,
    account_number_enc BLOB,          -- sealed; only the last 4 digits are shown
    number_last4       TEXT NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL
);

CREATE TABLE bank_imports (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    bank_account_id INTEGER NOT NULL REFERENCES bank_accounts(id),
    format          TEXT NOT NULL CHECK (format IN ('csv', 'ofx')),
    filename        TEXT NOT NULL DEFAULT '',
    imported        INTEGER NOT NULL,
    duplicates      INTEGER NOT NULL,
    created_by      INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);

CREATE TABLE bank_transactions (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    bank_account_id INTEGER NOT NULL REFERENCES bank_accounts(id),
    date            TEXT NOT NULL,
    amount          INTEGER NOT NULL,        -- signed: money in > 0, out < 0
    description     TEXT NOT NULL DEFAULT '',
    reference       TEXT NOT NULL DEFAULT '',
    fit_id          TEXT NOT NULL,            -- OFX FITID, or a content hash for CSV lines
    import_id       INTEGER REFERENCES bank_imports(id),
    status          TEXT NOT NULL DEFAULT 'unreconciled' CHECK (status IN ('unreconciled', 'reconciled')),
    payment_id      INTEGER REFERENCES payments(id),
    journal_id      INTEGER REFERENCES journals(id),
    created_at      INTEGER NOT NULL,
    UNIQUE (org_id, bank_account_id, fit_id)
);
CREATE INDEX bank_transactions_account ON bank_transactions(bank_account_id, status);

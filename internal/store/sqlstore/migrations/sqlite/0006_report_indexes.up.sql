-- Indexes for the reports (trial balance, P&L, balance sheet, aged).
--
-- Reports sum every journal line of an organisation per account, split by
-- the journal's date. With (org_id, account_id) alone each line costs a
-- table lookup on top of the journal's; covering the amounts lets SQLite
-- read the lines from the index in account order (no sort for GROUP BY)
-- and only look up each journal's date. About three times faster at a
-- million lines. It extends journal_lines_org_account, which it replaces
-- so postings keep maintaining one index, not two.
DROP INDEX IF EXISTS journal_lines_org_account;
CREATE INDEX IF NOT EXISTS journal_lines_org_account_amounts ON journal_lines(org_id, account_id, journal_id, debit, credit);

-- Aged reports subtract each invoice's credit allocations from both sides.
CREATE INDEX IF NOT EXISTS reports_credit_allocations_invoice ON credit_allocations(invoice_id);
CREATE INDEX IF NOT EXISTS reports_credit_allocations_credit_note ON credit_allocations(credit_note_id);

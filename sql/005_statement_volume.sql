-- caseledger migration 005: statement import at volume (a million lines a
-- file).
--
-- 1. Collective receipts. A statement's receipts to cases are booked as
--    collective entries: one entry for up to 63 lines of one value date,
--    with one debit of the bank account for their sum and one credit of a
--    case per line, hash-chained and signed like every entry. A line names
--    its own posting with posting_idx. Lines booked one entry each
--    (suspense, settlements, returns, and receipts alone on their value
--    date) keep statement_line_entries as before.
-- 2. A statement's counts and closing balance are written when its last
--    line has been read (a streamed MT940 statement gives its closing
--    balance after its lines), in the same transaction as its lines.
-- 3. The per-row foreign-key triggers of statement_lines cost more than the
--    rows themselves at this volume; what they checked is checked once per
--    INSERT statement instead, as for postings. What lines refer to
--    (statements, entries, postings, lines) is never deleted.

ALTER TABLE statement_lines ADD COLUMN posting_idx smallint CHECK (posting_idx >= 1);
ALTER TABLE statement_lines ADD CONSTRAINT posting_names_entry
    CHECK (posting_idx IS NULL OR entry_seq IS NOT NULL);
-- Which lines an entry is on (the reconciliation report, open items).
CREATE INDEX statement_lines_entry ON statement_lines (entry_seq) WHERE entry_seq IS NOT NULL;
-- The matcher's open items: receipts and settlements by value date, so that
-- loading them does not walk every posting of the custody account.
CREATE INDEX entries_open_items ON entries (value_date)
    WHERE kind IN ('receipt', 'suspense_receipt', 'settle');

ALTER TABLE statement_lines
    DROP CONSTRAINT statement_lines_statement_id_fkey,
    DROP CONSTRAINT statement_lines_bank_account_id_fkey,
    DROP CONSTRAINT statement_lines_entry_seq_fkey,
    DROP CONSTRAINT statement_lines_duplicate_of_fkey;

CREATE FUNCTION cl_statement_lines_refs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad bigint;
BEGIN
    SELECT n.id INTO bad FROM new_lines n
    WHERE NOT EXISTS (SELECT 1 FROM bank_statements s
                      WHERE s.id = n.statement_id AND s.bank_account_id = n.bank_account_id)
       OR (n.entry_seq IS NOT NULL AND n.posting_idx IS NULL
           AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.seq = n.entry_seq))
       OR (n.posting_idx IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM postings p
                           WHERE p.entry_seq = n.entry_seq AND p.idx = n.posting_idx))
       OR (n.duplicate_of IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM statement_lines l WHERE l.id = n.duplicate_of))
    LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'statement line % refers to a statement, entry, posting or line that does not exist', bad
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER statement_lines_refs AFTER INSERT ON statement_lines
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION cl_statement_lines_refs();

-- Only the figures written when a statement's last line is read change.
GRANT UPDATE (closing_balance, closing_date, line_count, booked_count, matched_count,
              suspense_count, exception_count, duplicate_count)
    ON bank_statements TO caseledger_app;

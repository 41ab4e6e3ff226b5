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
-- What the lines of a payout paid in parts add up to (the matcher loads it
-- with the open payouts).
CREATE INDEX statement_lines_disbursement ON statement_lines (disbursement_id)
    WHERE disbursement_id IS NOT NULL;
-- The matcher's open items: receipts and settlements by value date, so that
-- loading them does not walk every posting of the custody account.
CREATE INDEX entries_open_items ON entries (value_date)
    WHERE kind IN ('receipt', 'suspense_receipt', 'settle');

ALTER TABLE statement_lines
    DROP CONSTRAINT statement_lines_statement_id_fkey,
    DROP CONSTRAINT statement_lines_bank_account_id_fkey,
    DROP CONSTRAINT statement_lines_entry_seq_fkey,
    DROP CONSTRAINT statement_lines_duplicate_of_fkey;

-- What the new lines name is looked up by key (the id lists let it probe
-- the primary keys of the few entries, statements and lines named instead
-- of scanning postings, which grow with every line).
-- (Hash joins: the transition table's size is not known to the planner.)
CREATE FUNCTION cl_statement_lines_refs() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
DECLARE
    bad bigint;
    seqs bigint[];
BEGIN
    seqs := ARRAY(SELECT DISTINCT n.entry_seq FROM new_lines n WHERE n.entry_seq IS NOT NULL);
    WITH known_entries AS (
        SELECT e.seq FROM entries e WHERE e.seq = ANY (seqs)),
    known_postings AS (
        SELECT p.entry_seq, p.idx FROM postings p WHERE p.entry_seq = ANY (seqs)),
    known_statements AS (
        SELECT s.id, s.bank_account_id FROM bank_statements s
        WHERE s.id = ANY (ARRAY(SELECT DISTINCT n.statement_id FROM new_lines n))),
    known_lines AS (
        SELECT l.id FROM statement_lines l
        WHERE l.id = ANY (ARRAY(SELECT n.duplicate_of FROM new_lines n
                                WHERE n.duplicate_of IS NOT NULL)))
    SELECT n.id INTO bad FROM new_lines n
    LEFT JOIN known_statements s ON s.id = n.statement_id AND s.bank_account_id = n.bank_account_id
    LEFT JOIN known_entries e ON e.seq = n.entry_seq
    LEFT JOIN known_postings p ON p.entry_seq = n.entry_seq AND p.idx = n.posting_idx
    LEFT JOIN known_lines d ON d.id = n.duplicate_of
    WHERE s.id IS NULL
       OR (n.entry_seq IS NOT NULL AND e.seq IS NULL)
       OR (n.posting_idx IS NOT NULL AND p.idx IS NULL)
       OR (n.duplicate_of IS NOT NULL AND d.id IS NULL)
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

-- Only the figures written when a statement's last line is read change,
-- once: the import marks the statement complete with them, and a complete
-- statement (every statement imported before this migration too) is
-- evidence that no one changes.
ALTER TABLE bank_statements ADD COLUMN complete boolean NOT NULL DEFAULT true;
ALTER TABLE bank_statements ALTER COLUMN complete SET DEFAULT false;
CREATE FUNCTION cl_statement_completes_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.complete THEN
        RAISE EXCEPTION 'statement % is complete: its figures do not change', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER bank_statements_complete_once BEFORE UPDATE ON bank_statements
    FOR EACH ROW EXECUTE FUNCTION cl_statement_completes_once();
GRANT UPDATE (closing_balance, closing_date, line_count, booked_count, matched_count,
              suspense_count, exception_count, duplicate_count, complete)
    ON bank_statements TO caseledger_app;

-- 4. Batches that touch thousands of accounts (a chunk of a statement's
--    receipts). The balance update of 001 probed the primary key with the
--    list of the batch's accounts once per account when the planner chose a
--    nested loop (it cannot know the transition table's size): quadratic
--    in the accounts of a batch. The list is now probed once and joined by
--    hash, and missing entries are counted by key instead of joined.
CREATE OR REPLACE FUNCTION cl_postings_apply() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
DECLARE
    account_ids bigint[];
    entry_seqs bigint[];
    accounts_count bigint;
    updated_count bigint;
    orphan bigint;
    bad bigint;
BEGIN
    account_ids := ARRAY(SELECT DISTINCT n.account_id FROM new_postings n);
    entry_seqs := ARRAY(SELECT DISTINCT n.entry_seq FROM new_postings n);
    WITH per_account AS (
        SELECT n.account_id, sum(n.amount)::bigint AS delta,
               min(n.currency) AS currency_min, max(n.currency) AS currency_max
        FROM new_postings n GROUP BY n.account_id),
    updated AS (
        UPDATE accounts a SET balance = a.balance + d.delta
        FROM per_account d
        WHERE a.id = ANY (account_ids)
          AND a.id = d.account_id AND a.status <> 'closed'
          AND a.currency = d.currency_min AND a.currency = d.currency_max
        RETURNING a.id)
    SELECT cardinality(account_ids), (SELECT count(*) FROM updated) INTO accounts_count, updated_count;
    IF (SELECT count(*) FROM entries e WHERE e.seq = ANY (entry_seqs)) <> cardinality(entry_seqs) THEN
        SELECT s.seq INTO orphan FROM unnest(entry_seqs) AS s (seq)
            WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.seq = s.seq) LIMIT 1;
        RAISE EXCEPTION 'postings refer to entry %, which does not exist', orphan
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF updated_count <> accounts_count THEN
        SELECT n.account_id INTO bad
            FROM new_postings n LEFT JOIN accounts a ON a.id = n.account_id
            WHERE a.id IS NULL OR a.status = 'closed' OR a.currency <> n.currency
            LIMIT 1;
        RAISE EXCEPTION 'posting to account % refused (unknown, closed or other currency)', bad
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

-- The rules' look-ups of a batch join by hash for the same reason.
ALTER FUNCTION cl_batch_first_failure(cl_batch_entry[], cl_batch_posting[])
    SET enable_nestloop = off;

-- The cases of a chunk's pay-in numbers, one index probe each: joined any
-- other way the planner reads every case's pay-in number to find a few
-- thousand.
CREATE FUNCTION cl_payin_cases(p_payins text[])
RETURNS TABLE (ord bigint, id bigint, case_no text, status text, currency text)
LANGUAGE sql STABLE SET enable_mergejoin = off SET enable_hashjoin = off AS $$
    SELECT x.ord, c.id, c.case_no, c.status, c.currency::text
    FROM unnest(p_payins) WITH ORDINALITY AS x (payin, ord)
    JOIN accounts c ON c.payin_no = x.payin AND c.kind = 'case'
    WHERE x.payin <> ''
$$;
GRANT EXECUTE ON FUNCTION cl_payin_cases(text[]) TO caseledger_app;

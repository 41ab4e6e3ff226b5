-- caseledger migration 007: what reconciliation reads, found without
-- walking the custody account's history.
--
-- 1. The entries on a custody account that no statement line names yet,
--    kept as they change instead of searched for.
--
-- The matcher's open items (receipts booked through the API, settlements)
-- and the reconciliation report's "booked, on no statement line" were found
-- by walking every entry of the period (or every posting of the custody
-- account) and asking the statement lines about each: an import's fixed cost
-- grew with the year's journal (4 s before the first line, at 4.6 million
-- imported lines). unreconciled_entries holds just those entries:
--
--   added    when an entry posts to a custody (bank) account: a trigger on
--            postings, at the end of the INSERT that books it;
--   removed  when a statement line names the entry (statement_lines.
--            entry_seq, or statement_line_entries): triggers on both.
--
-- Entries an import books are added and removed in the same transaction.
-- The triggers run as the owner; the application may only read the table,
-- so it can no more hide an unreconciled entry from the report than change
-- the journal.

-- (No foreign keys: its rows come from postings, whose entry and account
-- exist and are never deleted; a check per row would cost more than the row.)
CREATE TABLE unreconciled_entries (
    entry_seq       bigint NOT NULL,
    bank_account_id bigint NOT NULL,
    PRIMARY KEY (entry_seq, bank_account_id)
);
CREATE INDEX unreconciled_entries_account ON unreconciled_entries (bank_account_id, entry_seq);

-- The custody accounts, found without reading every case.
CREATE INDEX accounts_bank ON accounts (id) WHERE kind = 'bank';

CREATE FUNCTION cl_unreconciled_add() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public AS $$
BEGIN
    INSERT INTO unreconciled_entries (entry_seq, bank_account_id)
    SELECT DISTINCT n.entry_seq, n.account_id FROM new_postings n
    WHERE n.account_id = ANY (ARRAY(SELECT a.id FROM accounts a WHERE a.kind = 'bank'));
    RETURN NULL;
END
$$;
CREATE TRIGGER postings_unreconciled AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION cl_unreconciled_add();

-- By key, always: inside an import's one transaction the table holds every
-- row added and removed so far (not yet vacuumable), and a scan of it for
-- each chunk, which its statistics (a few live rows) invite, grows with the
-- file.
CREATE FUNCTION cl_unreconciled_remove() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public SET enable_seqscan = off AS $$
BEGIN
    DELETE FROM unreconciled_entries u
    WHERE u.entry_seq = ANY (ARRAY(SELECT DISTINCT n.entry_seq FROM new_rows n
                                   WHERE n.entry_seq IS NOT NULL));
    RETURN NULL;
END
$$;
CREATE TRIGGER statement_lines_unreconciled AFTER INSERT ON statement_lines
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cl_unreconciled_remove();
CREATE TRIGGER statement_line_entries_unreconciled AFTER INSERT ON statement_line_entries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cl_unreconciled_remove();

-- What is unreconciled now, by the old definition.
INSERT INTO unreconciled_entries (entry_seq, bank_account_id)
SELECT DISTINCT p.entry_seq, p.account_id
FROM postings p JOIN accounts a ON a.id = p.account_id AND a.kind = 'bank'
WHERE NOT EXISTS (SELECT 1 FROM statement_line_entries x WHERE x.entry_seq = p.entry_seq)
  AND NOT EXISTS (SELECT 1 FROM statement_lines x WHERE x.entry_seq = p.entry_seq);

GRANT SELECT ON unreconciled_entries TO caseledger_app;

-- The same trap for the other statements that look up a batch's keys in
-- tables that grow: planned while a table is new (a fresh database's first
-- import), a scan looks cheapest and then reads every row the import has
-- added so far, for each chunk of a million-line file. They probe by key.
ALTER FUNCTION cl_statement_lines_refs() SET enable_seqscan = off;
ALTER FUNCTION cl_batch_first_failure(cl_batch_entry[], cl_batch_posting[])
    SET enable_seqscan = off;
ALTER FUNCTION cl_book_batch(bigint, bytea, int[], bigint[], text[], bigint[], text[], bigint[],
                             date[], text[], text[], text[], bytea[], bytea[], bytea[], text[],
                             text[], text[], bytea[], bigint[], bigint[], text[], text[], int[],
                             smallint[], bigint[], bigint[], text[])
    SET enable_seqscan = off;

-- 2. A custody account's book balance at the end of a day was the sum of
--    every posting it ever had up to that day (read after each import, and
--    for each statement shown). It is now its balance (kept by
--    cl_postings_apply) less what was booked on it for later days: a range
--    of an index by day, short for the recent days a report is asked for.
--
-- The day an entry counts on: its value date, else the UTC day it was
-- booked (created_at_us, microseconds since 1970).
CREATE FUNCTION cl_entry_day(p_value_date date, p_created_at_us bigint) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(p_value_date, DATE '1970-01-01' + (p_created_at_us / 86400000000)::int)
$$;
CREATE INDEX entries_day ON entries (cl_entry_day(value_date, created_at_us));

-- (plpgsql: its statement is planned for the day asked, where a SQL
-- function's generic plan would guess a third of the journal and walk the
-- account's postings.)
CREATE FUNCTION cl_book_balance(p_account bigint, p_day date) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT a.balance - coalesce((
                SELECT sum(p.amount) FROM entries e
                JOIN postings p ON p.entry_seq = e.seq AND p.account_id = p_account
                WHERE cl_entry_day(e.value_date, e.created_at_us) > p_day), 0)::bigint
            FROM accounts a WHERE a.id = p_account);
END
$$;
GRANT EXECUTE ON FUNCTION cl_entry_day(date, bigint), cl_book_balance(bigint, date)
    TO caseledger_app;

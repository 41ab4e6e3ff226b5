-- unreconciled_entries (migration 007): an entry leaves it when a statement
-- line names it (statement_lines.entry_seq, or statement_line_entries).
-- Runs as the owner: the application may only read the table.
--
-- By key, always (enable_seqscan = off, and both key columns named): inside
-- an import's one transaction the table holds every row added and removed
-- so far (not yet vacuumable), and a scan of it for each chunk, or a walk of
-- the index that leads with the other column, which its statistics (a few
-- live rows) invite, grew with the file (32c8147, 009: 110 ms per chunk at
-- the end of a 100,000-line import).
CREATE OR REPLACE FUNCTION cl_unreconciled_remove() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
SET enable_seqscan = off AS $$
BEGIN
    DELETE FROM unreconciled_entries u
    WHERE u.bank_account_id = ANY (ARRAY(SELECT a.id FROM accounts a WHERE a.kind = 'bank'))
      AND u.entry_seq = ANY (ARRAY(SELECT DISTINCT n.entry_seq FROM new_rows n
                                   WHERE n.entry_seq IS NOT NULL));
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION cl_unreconciled_remove() FROM PUBLIC;
CREATE OR REPLACE TRIGGER statement_lines_unreconciled AFTER INSERT ON statement_lines
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cl_unreconciled_remove();
CREATE OR REPLACE TRIGGER statement_line_entries_unreconciled AFTER INSERT ON statement_line_entries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cl_unreconciled_remove();

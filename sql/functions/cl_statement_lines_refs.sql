-- What new statement lines name exists: their statement (of the same bank
-- account), entry, posting and duplicated line; checked once per INSERT
-- statement instead of by a foreign-key trigger per row. The id lists let
-- it probe the primary keys of the few entries, statements and lines named.
--
-- Planner settings, each against a plan that was measured:
--   enable_nestloop = off: hash joins, since the transition table's size is
--     not known to the planner (87daef6: lines checked by key with hash
--     joins, an import at volume);
--   enable_seqscan = off: planned on a fresh database's still empty tables,
--     a scan of postings or lines looked cheapest and then read every row the
--     import had added, for each chunk (f7b1229: 5,558 -> 9,988 lines/s on a
--     fresh database's first 400,000-line camt.053).
CREATE OR REPLACE FUNCTION cl_statement_lines_refs() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
SET enable_nestloop = off SET enable_seqscan = off AS $$
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
REVOKE ALL ON FUNCTION cl_statement_lines_refs() FROM PUBLIC;
CREATE OR REPLACE TRIGGER statement_lines_refs AFTER INSERT ON statement_lines
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION cl_statement_lines_refs();

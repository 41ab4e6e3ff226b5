-- caseledger migration 009: a statement import's work per chunk that no
-- longer grows with what the import has written so far.
--
-- 007's cl_unreconciled_remove deleted by entry_seq alone. Both indexes of
-- unreconciled_entries hold entry_seq, and the planner, seeing a table of
-- a few live rows, could take the one that leads with bank_account_id: a
-- walk over the whole index for each chunk, including every row the import
-- had added and removed so far (not yet vacuumable). On a 100,000-line
-- import that DELETE alone took about 110 ms per chunk at the end. It now
-- names both key columns, so whichever index is taken is probed by key.
CREATE OR REPLACE FUNCTION cl_unreconciled_remove() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public SET enable_seqscan = off AS $$
BEGIN
    DELETE FROM unreconciled_entries u
    WHERE u.bank_account_id = ANY (ARRAY(SELECT a.id FROM accounts a WHERE a.kind = 'bank'))
      AND u.entry_seq = ANY (ARRAY(SELECT DISTINCT n.entry_seq FROM new_rows n
                                   WHERE n.entry_seq IS NOT NULL));
    RETURN NULL;
END
$$;

-- A statement's settled and returned lines are counted once, when it is
-- closed, like its other figures: GET /v1/statements counted them over all
-- the statement's lines at every read (a million rows for a large file, for
-- each statement of a list). Statements imported before this migration
-- keep NULL, and are counted as before.
ALTER TABLE bank_statements
    ADD COLUMN settled_count integer CHECK (settled_count >= 0),
    ADD COLUMN returned_count integer CHECK (returned_count >= 0);
GRANT UPDATE (settled_count, returned_count) ON bank_statements TO caseledger_app;

-- The application checks, when it connects, that the database has applied
-- the migrations its build needs (else: run caseledger migrate).
GRANT SELECT ON schema_migrations TO caseledger_app;

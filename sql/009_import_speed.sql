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

-- unreconciled_entries (migration 007): an entry that posts to a custody
-- (bank) account is added at the end of the INSERT that books it. Runs as
-- the owner: the application may only read the table.
CREATE OR REPLACE FUNCTION cl_unreconciled_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO unreconciled_entries (entry_seq, bank_account_id)
    SELECT DISTINCT n.entry_seq, n.account_id FROM new_postings n
    WHERE n.account_id = ANY (ARRAY(SELECT a.id FROM accounts a WHERE a.kind = 'bank'));
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION cl_unreconciled_add() FROM PUBLIC;
CREATE OR REPLACE TRIGGER postings_unreconciled AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION cl_unreconciled_add();

-- At commit: every entry has at least two postings summing to zero per
-- currency. Entries are only ever added by moving the head over them
-- (cl_entries_chain), so a deferred check of each head move covers every
-- new entry, once per batch rather than once per entry; postings, which
-- follow their entry, are in by then. (A generic plan: not planned again at
-- every commit.)
CREATE OR REPLACE FUNCTION cl_head_entries_balanced() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    bad bigint;
BEGIN
    WITH per_currency AS (
        SELECT p.entry_seq, sum(p.amount) AS total, count(*) AS postings_count
        FROM postings p WHERE p.entry_seq > OLD.seq AND p.entry_seq <= NEW.seq
        GROUP BY p.entry_seq, p.currency),
    per_entry AS (
        SELECT entry_seq, sum(postings_count) AS postings_count, bool_or(total <> 0) AS unbalanced
        FROM per_currency GROUP BY entry_seq)
    SELECT g.seq INTO bad
        FROM generate_series(OLD.seq + 1, NEW.seq) AS g (seq)
        LEFT JOIN per_entry e ON e.entry_seq = g.seq
        WHERE e.entry_seq IS NULL OR e.postings_count < 2 OR e.unbalanced
        ORDER BY g.seq LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'entry % postings are missing or do not sum to zero', bad
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION cl_head_entries_balanced() FROM PUBLIC;
-- (A constraint trigger cannot be replaced in place: dropped and created in
-- the same transaction.)
DROP TRIGGER IF EXISTS chain_head_entries_balanced ON chain_head;
CREATE CONSTRAINT TRIGGER chain_head_entries_balanced AFTER UPDATE ON chain_head
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cl_head_entries_balanced();

-- Entries follow the head: the new entries continue the chain from the head
-- without gaps (seq head+1, head+2, ...; each prev_hash the hash before it),
-- are signed with a registered key, and the head moves to the last of them.
CREATE OR REPLACE FUNCTION cl_entries_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    head record;
    broken bigint;
    unkeyed bigint;
    last_seq bigint;
    last_hash bytea;
BEGIN
    SELECT seq, hash INTO head FROM chain_head FOR UPDATE;
    WITH n AS (
        SELECT seq, prev_hash, hash, key_id,
               lag(hash) OVER (ORDER BY seq) AS previous_hash,
               row_number() OVER (ORDER BY seq) AS position
        FROM new_entries)
    SELECT min(n.seq) FILTER (WHERE n.seq <> head.seq + n.position
                                 OR n.prev_hash <> coalesce(n.previous_hash, head.hash)),
           min(n.seq) FILTER (WHERE NOT EXISTS (SELECT 1 FROM signing_keys k
                                                WHERE k.key_id = n.key_id)),
           max(n.seq), (array_agg(n.hash ORDER BY n.seq DESC))[1]
        INTO broken, unkeyed, last_seq, last_hash
        FROM n;
    IF broken IS NOT NULL THEN
        RAISE EXCEPTION 'entry % does not continue the chain from head %', broken, head.seq
            USING ERRCODE = 'serialization_failure';
    END IF;
    IF unkeyed IS NOT NULL THEN
        RAISE EXCEPTION 'entry % is signed with an unknown key', unkeyed
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF last_seq IS NOT NULL THEN
        UPDATE chain_head SET seq = last_seq, hash = last_hash;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION cl_entries_chain() FROM PUBLIC;
CREATE OR REPLACE TRIGGER entries_chain AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION cl_entries_chain();

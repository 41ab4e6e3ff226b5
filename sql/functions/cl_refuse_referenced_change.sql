-- What entries and postings refer to stays: an account with postings and a
-- key that signed entries are never deleted, nor their ids changed.
CREATE OR REPLACE FUNCTION cl_refuse_referenced_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'TRUNCATE on % refused: the journal refers to it', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- One branch per table: a branch's expression is prepared only when run.
    IF TG_TABLE_NAME = 'accounts' THEN
        IF EXISTS (SELECT 1 FROM postings p WHERE p.account_id = OLD.id) THEN
            RAISE EXCEPTION '% on accounts refused: postings refer to account %', TG_OP, OLD.id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    ELSIF EXISTS (SELECT 1 FROM entries e WHERE e.key_id = OLD.key_id) THEN
        RAISE EXCEPTION '% on signing_keys refused: entries are signed with key %', TG_OP,
                        OLD.key_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
REVOKE ALL ON FUNCTION cl_refuse_referenced_change() FROM PUBLIC;
CREATE OR REPLACE TRIGGER accounts_referenced BEFORE DELETE OR UPDATE OF id ON accounts
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_referenced_change();
CREATE OR REPLACE TRIGGER signing_keys_referenced BEFORE DELETE OR UPDATE OF key_id ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_referenced_change();
CREATE OR REPLACE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION cl_refuse_referenced_change();
CREATE OR REPLACE TRIGGER signing_keys_no_truncate BEFORE TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION cl_refuse_referenced_change();

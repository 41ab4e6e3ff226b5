-- Only the figures written when a statement's last line is read change,
-- once: the import marks the statement complete with them, and a complete
-- statement is evidence that no one changes.
CREATE OR REPLACE FUNCTION cl_statement_completes_once() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF OLD.complete THEN
        RAISE EXCEPTION 'statement % is complete: its figures do not change', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION cl_statement_completes_once() FROM PUBLIC;
CREATE OR REPLACE TRIGGER bank_statements_complete_once BEFORE UPDATE ON bank_statements
    FOR EACH ROW EXECUTE FUNCTION cl_statement_completes_once();

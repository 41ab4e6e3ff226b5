-- Append-only evidence: the journal (even for the table owner), requests
-- for money, bank statements and what their lines name.
CREATE OR REPLACE FUNCTION cl_refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'journal is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
REVOKE ALL ON FUNCTION cl_refuse_change() FROM PUBLIC;
CREATE OR REPLACE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_change();
CREATE OR REPLACE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION cl_refuse_change();
CREATE OR REPLACE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_change();
CREATE OR REPLACE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION cl_refuse_change();
CREATE OR REPLACE TRIGGER disbursements_no_delete BEFORE DELETE ON disbursements
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_change();
CREATE OR REPLACE TRIGGER bank_statements_no_delete BEFORE DELETE ON bank_statements
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_change();
CREATE OR REPLACE TRIGGER statement_lines_no_delete BEFORE DELETE ON statement_lines
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_change();
CREATE OR REPLACE TRIGGER statement_line_entries_append_only
    BEFORE UPDATE OR DELETE ON statement_line_entries
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_change();

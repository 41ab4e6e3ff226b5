-- Which total of a case a posting of an entry of this kind moves
-- ('received', 'disbursed' or NULL); reversed_kind is the kind of the entry
-- a reversal reverses. The one definition, for the totals kept
-- (cl_postings_apply) and the test that recomputes them.
CREATE OR REPLACE FUNCTION cl_case_total(p_kind text, p_reversed_kind text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_kind IN ('receipt', 'assign') THEN 'received'
                WHEN p_kind = 'reversal' AND p_reversed_kind IN ('receipt', 'assign')
                    THEN 'received'
                WHEN p_kind IN ('disbursement', 'return') THEN 'disbursed' END
$$;
REVOKE ALL ON FUNCTION cl_case_total(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_case_total(text, text) TO caseledger_app;

-- The cases of a chunk's pay-in numbers, one index probe each.
--
-- enable_mergejoin = off, enable_hashjoin = off: joined any other way the
-- planner read every case's pay-in number to find a few thousand (87daef6:
-- look-ups with one index probe per line; the joins had scanned a table that
-- grows with the cases). Invoker's rights; the table is named with its
-- schema, so a caller's temporary table cannot stand in for it.
CREATE OR REPLACE FUNCTION cl_payin_cases(p_payins text[])
RETURNS TABLE (ord bigint, id bigint, case_no text, status text, currency text)
LANGUAGE sql STABLE SET enable_mergejoin = off SET enable_hashjoin = off AS $$
    SELECT x.ord, c.id, c.case_no, c.status, c.currency::text
    FROM unnest(p_payins) WITH ORDINALITY AS x (payin, ord)
    JOIN public.accounts c ON c.payin_no = x.payin AND c.kind = 'case'
    WHERE x.payin <> ''
$$;
REVOKE ALL ON FUNCTION cl_payin_cases(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_payin_cases(text[]) TO caseledger_app;

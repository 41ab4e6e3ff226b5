-- A custody account's book balance at the end of a day: its balance (kept
-- by cl_postings_apply) less what was booked on it for later days, a range
-- of the index by day (entries_day). plpgsql: its statement is planned for
-- the day asked, where a SQL function's generic plan would guess a third of
-- the journal and walk the account's postings. Invoker's rights; tables
-- named with their schema.
CREATE OR REPLACE FUNCTION cl_book_balance(p_account bigint, p_day date) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT a.balance - coalesce((
                SELECT sum(p.amount) FROM public.entries e
                JOIN public.postings p ON p.entry_seq = e.seq AND p.account_id = p_account
                WHERE public.cl_entry_day(e.value_date, e.created_at_us) > p_day), 0)::bigint
            FROM public.accounts a WHERE a.id = p_account);
END
$$;
REVOKE ALL ON FUNCTION cl_book_balance(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_book_balance(bigint, date) TO caseledger_app;

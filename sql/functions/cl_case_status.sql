-- What an applicant sees of a case (POST /v1/status), in one row (no row:
-- no case with that number and that access-code hash; an unknown case and a
-- wrong code are one answer, reached by the same index probe): the case
-- with its totals, then the lists as two-dimensional arrays, newest first,
-- at most p_payouts_max + 1 and p_receipts_max + 1 long (one more than the
-- caller shows tells it that there are more):
--
--   payouts:  {amount, status, requested_at_us, approved_at_us, paid_at_us}
--             per payout in every status (transfers are not listed), text
--             (approved_at_us NULL unless approved, paid or returned;
--             paid_at_us NULL unless paid);
--   receipts: {amount, value_date_days, booked_at_us} per receipt or
--             assignment from suspense (value date: its suspense
--             receipt's) that no reversal undid, bigint.
--
-- Times are microseconds since 1970, dates days since then. Every element
-- is an integer, NULL or a status word, so the arrays' text form needs no
-- quoting. The case number comes normalized and the code as its keyed
-- BLAKE2b hash, both computed by the application, which alone holds the
-- key; bytea equality is not constant-time, but how many bytes of a keyed
-- hash match tells nothing about the code.
--
-- Why this shape (008): the statement's cost is mostly the starting of its
-- plan's nodes at every call; the lists walk indexes in the order shown and
-- stop after the rows asked for; the entry of each posting is read by a
-- lateral subquery kept as it is (OFFSET 0): a primary-key probe per
-- posting, where the join planned on a young database adds a bitmap scan, a
-- sort and a cache (about a fifth of the statement's time). One SQL
-- statement, neither SECURITY DEFINER nor with SET clauses, so that the
-- planner inlines it into the caller's prepared query; it runs with the
-- caller's rights, and names its tables with their schema.
CREATE OR REPLACE FUNCTION cl_case_status(p_case_no_norm text, p_access_code_hash bytea,
                                          p_receipts_max int, p_payouts_max int)
RETURNS TABLE (case_no text, status text, currency text, received_total bigint,
               disbursed_total bigint, held bigint, payouts text[], receipts bigint[])
LANGUAGE sql STABLE AS $$
    SELECT a.case_no, a.status, a.currency::text, a.received_total, a.disbursed_total,
           -a.balance,
           ARRAY(SELECT ARRAY[d.amount::text, d.status,
                              (extract(epoch FROM d.requested_at) * 1000000)::bigint::text,
                              CASE WHEN d.status IN ('approved', 'paid', 'returned')
                                   THEN (extract(epoch FROM d.decided_at) * 1000000)::bigint::text
                              END,
                              (extract(epoch FROM d.paid_at) * 1000000)::bigint::text]
                 FROM public.disbursements d
                 WHERE d.account_id = a.id AND d.kind = 'payout'
                 ORDER BY d.account_id DESC, d.id DESC LIMIT p_payouts_max + 1),
           ARRAY(SELECT ARRAY[-p.amount,
                              coalesce(e.value_date, CASE WHEN e.kind = 'assign' THEN
                                  (SELECT s.value_date FROM public.entries s
                                   WHERE s.seq = e.reverses_seq) END) - DATE '1970-01-01',
                              e.created_at_us]
                 FROM public.postings p CROSS JOIN LATERAL (
                     SELECT e.seq, e.kind, e.value_date, e.created_at_us, e.reverses_seq
                     FROM public.entries e WHERE e.seq = p.entry_seq OFFSET 0) AS e
                 WHERE p.account_id = a.id AND p.amount < 0 AND e.kind IN ('receipt', 'assign')
                   AND (SELECT x.kind FROM public.entries x WHERE x.reverses_seq = e.seq)
                       IS DISTINCT FROM 'reversal'
                 ORDER BY p.account_id DESC, p.entry_seq DESC LIMIT p_receipts_max + 1)
    FROM public.accounts a
    WHERE a.kind = 'case' AND a.case_no_norm = p_case_no_norm
      AND a.access_code_hash = p_access_code_hash
$$;
REVOKE ALL ON FUNCTION cl_case_status(text, bytea, int, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_case_status(text, bytea, int, int) TO caseledger_app;

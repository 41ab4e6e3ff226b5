-- caseledger migration 004: what an applicant sees of a case (POST
-- /v1/status), in one statement and one round trip.
--
-- cl_case_status takes the case number in its normalized form (as stored in
-- accounts.case_no_norm) and the keyed BLAKE2b hash of the access code, both
-- computed by the application, which alone holds the key. No row when no case
-- has that number and that code: an unknown case and a wrong code are one
-- answer, reached by the same index probe. Otherwise these rows, ordered by
-- part and then by item_id, descending:
--
--   one 'case' row:    case_no (as stored), status, currency, received_total
--                      (receipts and assignments, net of their reversals),
--                      disbursed_total (payouts, net of returns), held;
--   'payout' rows:     amount, status, at_us (requested), approved_at_us,
--                      paid_at_us -- payouts in every status (transfers are
--                      not listed), newest first (item_id: the payout's id);
--   'receipt' rows:    amount, value_date_days (an assignment: its suspense
--                      receipt's), at_us (booked) -- the money received that
--                      no reversal undid, newest first (item_id: the entry's
--                      seq);
--
-- at most p_payouts_max + 1 and p_receipts_max + 1 of them: one more than
-- the caller shows tells it that there are more. Columns a part does not
-- use are NULL; times are microseconds since 1970, dates days since then.
--
-- One SQL statement, neither SECURITY DEFINER nor with SET clauses, so that
-- the planner inlines it into the caller's (prepared) query: no function call
-- machinery and one plan, cached on the connection. It runs with the caller's
-- rights, which may read all of it anyway.
--
-- The hash is compared here with bytea equality, which is not constant-time:
-- the value compared is a keyed hash of what the client sent, under a key the
-- client does not know, so how many of its bytes match tells nothing about
-- the code.

CREATE FUNCTION cl_case_status(p_case_no_norm text, p_access_code_hash bytea,
                               p_receipts_max int, p_payouts_max int)
RETURNS TABLE (part text, item_id bigint, case_no text, status text, currency text,
               received_total bigint, disbursed_total bigint, held bigint, amount bigint,
               value_date_days int, at_us bigint, approved_at_us bigint, paid_at_us bigint)
LANGUAGE sql STABLE AS $$
    WITH c AS (
        SELECT a.id, a.case_no, a.status, a.currency::text AS currency, -a.balance AS held
        FROM accounts a
        WHERE a.kind = 'case' AND a.case_no_norm = p_case_no_norm
          AND a.access_code_hash = p_access_code_hash)
    (SELECT 'case', 0::bigint, c.case_no, c.status, c.currency, t.received_total,
            t.disbursed_total, c.held, NULL::bigint, NULL::int, NULL::bigint, NULL::bigint,
            NULL::bigint
     FROM c CROSS JOIN LATERAL (
         SELECT coalesce(-sum(p.amount) FILTER (
                    WHERE e.kind IN ('receipt', 'assign')
                       OR (e.kind = 'reversal' AND r.kind IN ('receipt', 'assign'))),
                    0)::bigint AS received_total,
                coalesce(sum(p.amount) FILTER (
                    WHERE e.kind IN ('disbursement', 'return')), 0)::bigint AS disbursed_total
         FROM postings p JOIN entries e ON e.seq = p.entry_seq
         LEFT JOIN entries r ON r.seq = e.reverses_seq
         WHERE p.account_id = c.id) AS t)
    UNION ALL
    (SELECT 'payout', d.id, NULL, d.status, NULL, NULL, NULL, NULL, d.amount, NULL,
            (extract(epoch FROM d.requested_at) * 1000000)::bigint,
            CASE WHEN d.status IN ('approved', 'paid', 'returned')
                 THEN (extract(epoch FROM d.decided_at) * 1000000)::bigint END,
            (extract(epoch FROM d.paid_at) * 1000000)::bigint
     FROM c JOIN disbursements d ON d.account_id = c.id
     WHERE d.kind = 'payout'
     ORDER BY d.id DESC LIMIT p_payouts_max + 1)
    UNION ALL
    (SELECT 'receipt', p.entry_seq, NULL, NULL, NULL, NULL, NULL, NULL, -p.amount,
            coalesce(e.value_date, s.value_date) - DATE '1970-01-01', e.created_at_us, NULL,
            NULL
     FROM c JOIN postings p ON p.account_id = c.id
     JOIN entries e ON e.seq = p.entry_seq
     LEFT JOIN entries s ON s.seq = e.reverses_seq AND e.kind = 'assign'
     WHERE p.amount < 0 AND e.kind IN ('receipt', 'assign')
       AND NOT EXISTS (SELECT 1 FROM entries x WHERE x.reverses_seq = e.seq
                       AND x.kind = 'reversal')
     ORDER BY p.entry_seq DESC LIMIT p_receipts_max + 1)
    ORDER BY 1, 2 DESC
$$;
REVOKE ALL ON FUNCTION cl_case_status(text, bytea, int, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_case_status(text, bytea, int, int) TO caseledger_app;

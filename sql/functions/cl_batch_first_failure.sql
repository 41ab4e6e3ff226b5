-- The first entry of a batch that is a replayed or conflicting idempotency
-- key or that a rule refuses, or no row. Within one entry: its key, who may
-- act, the state of the request it acts on, the accounts and the money,
-- then the shape of its postings. Codes:
--
--   replay, idempotency_conflict   the key (in its owner's space) is taken
--   forbidden                      the actor is not an enabled user with a
--                                  role that may book this kind (cl_kind_roles)
--   no_approved_request            a payout, transfer, settlement or return
--                                  that names no request
--   unknown_disbursement, bad_state, same_user
--                                  the request named is missing, not in the
--                                  state the entry moves it from, or its
--                                  requester would approve it (four eyes)
--   unknown_account, currency_mismatch, account_closed, account_frozen,
--   insufficient_funds             the accounts
--   amount_too_large               a posting on a case or suspense account
--                                  over cl_amount_max()
--   already_reversed               the entry reversed or assigned is taken
--   bad_postings                   the postings are not what the kind books:
--
--   receipt           bank +sum, one or more cases -x (collective receipts)
--   suspense_receipt  bank +x, suspense -x
--   assign            suspense +x, case -x, naming (reverses_seq) a suspense
--                     receipt of x
--   disbursement      its payout's case +amount, in_transit -amount
--   transfer          its transfer's case +amount, the other case -amount
--   settle            in_transit +x, bank -x: x what is still in transit of
--                     the payout (part: less than that, the payout stays
--                     approved)
--   return            in_transit +x, the payout's case -x, x what is still in
--                     transit (approved payout); or bank +x, the case -x,
--                     x at most the amount (a paid payout the bank sent back)
--   reversal          exactly the negated postings of a receipt, suspense
--                     receipt or transfer
--
-- So money leaves a case only by an approved request whose approver is not
-- its requester, or by undoing a receipt or transfer, whoever calls.
--
-- Planner settings, each against a plan that was measured:
--   enable_nestloop = off: the look-ups of a batch join by hash (57b4cd0: a
--     nested loop probed the whole account list once per account, quadratic
--     in a chunk's accounts at 100,000 cases);
--   enable_seqscan = off: planned on a fresh database's still empty tables,
--     a scan looked cheapest and then read every row the first import had
--     added, for each chunk (f7b1229: 5,558 -> 9,988 lines/s).
CREATE OR REPLACE FUNCTION cl_batch_first_failure(p_entries cl_batch_entry[],
                                                  p_postings cl_batch_posting[],
                                                  OUT failed_index int, OUT code text,
                                                  OUT replay_seq bigint,
                                                  OUT replay_object_id bigint)
LANGUAGE plpgsql STABLE SET search_path = public, pg_temp
SET enable_nestloop = off SET enable_seqscan = off AS $$
#variable_conflict use_column
BEGIN
    WITH e AS (SELECT * FROM unnest(p_entries)),
    idempotency_failures AS (
        SELECT e.i, CASE WHEN k.request_hash = e.idem_hash THEN 'replay'
                         ELSE 'idempotency_conflict' END AS code,
               -1 AS priority, k.entry_seq, k.object_id
        FROM e JOIN idempotency k ON k.key = e.idem_key AND k.owner = e.idem_owner
        WHERE k.key = ANY (ARRAY(SELECT x.idem_key FROM e AS x))),
    actor_failures AS (
        SELECT e.i, 'forbidden' AS code, 0 AS priority FROM e
        WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.name = e.actor AND NOT u.disabled
                          AND u.role = ANY (cl_kind_roles(e.kind)))),
    -- each posting with its account (one probe per account of the batch)
    p AS (
        SELECT q.i, q.o, q.a, q.m, q.c, acc.id IS NULL AS missing, acc.kind AS account_kind,
               acc.status, acc.currency, acc.balance
        FROM unnest(p_postings) q
        LEFT JOIN accounts acc ON acc.id = q.a
                              AND acc.id = ANY (ARRAY(SELECT x.a FROM unnest(p_postings) x))),
    net AS (
        SELECT p.i, p.a, sum(p.m) AS m, min(p.c) AS c, max(p.c) AS c_max, bool_or(p.missing)
                   AS missing, min(p.account_kind) AS account_kind, min(p.status) AS status,
               min(p.currency) AS currency, min(p.balance) AS balance
        FROM p GROUP BY p.i, p.a),
    running AS (
        SELECT net.*, e.kind,
               net.balance + sum(net.m) OVER (PARTITION BY net.a ORDER BY net.i) AS balance_after
        FROM net JOIN e ON e.i = net.i),
    account_failures AS (
        SELECT i, 2 AS priority, CASE
            WHEN missing THEN 'unknown_account'
            WHEN currency <> c OR currency <> c_max THEN 'currency_mismatch'
            WHEN status = 'closed' THEN 'account_closed'
            WHEN account_kind = 'case' AND m > 0 AND status = 'frozen'
                 AND kind IN ('disbursement', 'transfer') THEN 'account_frozen'
            WHEN account_kind = 'case' AND balance_after > 0 THEN 'insufficient_funds'
            END AS code
        FROM running),
    -- (no abs(): the most negative bigint has no absolute value)
    amount_failures AS (
        SELECT p.i, 2 AS priority, 'amount_too_large' AS code FROM p
        WHERE p.account_kind IN ('case', 'suspense')
          AND (p.m > cl_amount_max() OR p.m < -cl_amount_max())),
    -- the shape of each entry's postings
    shape AS (
        SELECT p.i, count(*) AS n,
               count(*) FILTER (WHERE p.account_kind = 'case' AND p.m > 0) AS case_debits,
               count(*) FILTER (WHERE p.account_kind = 'case' AND p.m < 0) AS case_credits,
               count(*) FILTER (WHERE p.account_kind = 'bank' AND p.m > 0) AS bank_debits,
               count(*) FILTER (WHERE p.account_kind = 'bank' AND p.m < 0) AS bank_credits,
               count(*) FILTER (WHERE p.account_kind = 'suspense' AND p.m > 0) AS suspense_debits,
               count(*) FILTER (WHERE p.account_kind = 'suspense' AND p.m < 0)
                   AS suspense_credits,
               count(*) FILTER (WHERE p.account_kind = 'in_transit' AND p.m > 0) AS transit_debits,
               count(*) FILTER (WHERE p.account_kind = 'in_transit' AND p.m < 0)
                   AS transit_credits,
               coalesce(sum(p.m) FILTER (WHERE p.m > 0), 0) AS debit,
               min(p.a) FILTER (WHERE p.account_kind = 'case' AND p.m > 0) AS case_debited,
               min(p.a) FILTER (WHERE p.account_kind = 'case' AND p.m < 0) AS case_credited,
               min(p.a) FILTER (WHERE p.account_kind = 'suspense' AND p.m > 0)
                   AS suspense_debited
        FROM p GROUP BY p.i),
    shape_failures AS (
        SELECT e.i, 3 AS priority, CASE
            WHEN e.kind IN ('disbursement', 'transfer', 'settle', 'return')
                 AND e.disbursement_id IS NULL THEN 'no_approved_request'
            WHEN e.kind NOT IN ('disbursement', 'transfer', 'settle', 'return')
                 AND e.disbursement_id IS NOT NULL THEN 'bad_postings'
            WHEN NOT coalesce(CASE e.kind
                WHEN 'receipt' THEN s.n >= 2 AND s.bank_debits = 1 AND s.case_credits = s.n - 1
                WHEN 'suspense_receipt' THEN s.n = 2 AND s.bank_debits = 1
                                             AND s.suspense_credits = 1
                WHEN 'assign' THEN s.n = 2 AND s.suspense_debits = 1 AND s.case_credits = 1
                    AND EXISTS (SELECT 1 FROM entries r JOIN postings rp ON rp.entry_seq = r.seq
                                WHERE r.seq = e.reverses_seq AND r.kind = 'suspense_receipt'
                                  AND rp.account_id = s.suspense_debited
                                  AND rp.amount = -s.debit)
                WHEN 'disbursement' THEN s.n = 2 AND s.case_debits = 1 AND s.transit_credits = 1
                WHEN 'transfer' THEN s.n = 2 AND s.case_debits = 1 AND s.case_credits = 1
                WHEN 'settle' THEN s.n = 2 AND s.transit_debits = 1 AND s.bank_credits = 1
                WHEN 'return' THEN s.n = 2 AND s.case_credits = 1
                                   AND s.transit_debits + s.bank_debits = 1
                WHEN 'reversal' THEN e.reverses_seq IS NOT NULL
                    AND EXISTS (SELECT 1 FROM entries r WHERE r.seq = e.reverses_seq
                                AND r.kind IN ('receipt', 'suspense_receipt', 'transfer'))
                    AND NOT EXISTS (
                        SELECT 1
                        FROM (SELECT rp.idx, rp.account_id, rp.amount FROM postings rp
                              WHERE rp.entry_seq = e.reverses_seq) AS o
                        FULL JOIN (SELECT q.o, q.a, q.m FROM unnest(p_postings) q
                                   WHERE q.i = e.i) AS n ON n.o = o.idx
                        WHERE o.idx IS NULL OR n.o IS NULL OR n.a <> o.account_id
                           OR n.m <> -o.amount)
                END, false) THEN 'bad_postings'
            END AS code
        FROM e LEFT JOIN shape s ON s.i = e.i),
    reversal_failures AS (
        SELECT e.i, 'already_reversed' AS code, 1 AS priority FROM e
        WHERE e.reverses_seq IS NOT NULL AND (
            EXISTS (SELECT 1 FROM entries x WHERE x.reverses_seq = e.reverses_seq)
            OR EXISTS (SELECT 1 FROM e AS earlier
                       WHERE earlier.reverses_seq = e.reverses_seq AND earlier.i < e.i))),
    disbursement_rows AS (
        SELECT e.i, e.kind AS entry_kind, e.actor, e.disbursement_from, e.disbursement_to,
               s.debit, s.case_debited, s.case_credited, s.transit_debits, s.bank_debits,
               d.id IS NULL AS missing, d.kind, d.status, d.requested_by, d.account_id,
               d.to_account_id, d.amount, d.paid_minor,
               lag(e.disbursement_to) OVER w AS previous_to,
               coalesce(sum(s.debit) FILTER (WHERE e.kind = 'settle')
                   OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS paid_before
        FROM e JOIN shape s ON s.i = e.i
        LEFT JOIN disbursements d
            ON d.id = e.disbursement_id
           AND d.id = ANY (ARRAY(SELECT x.disbursement_id FROM e AS x))
        WHERE e.disbursement_id IS NOT NULL
        WINDOW w AS (PARTITION BY e.disbursement_id ORDER BY e.i)),
    disbursement_failures AS (
        SELECT i, 1 AS priority, CASE
            WHEN missing THEN 'unknown_disbursement'
            WHEN coalesce(previous_to, status) <> disbursement_from THEN 'bad_state'
            WHEN NOT CASE entry_kind
                WHEN 'disbursement' THEN kind = 'payout' AND disbursement_from = 'requested'
                                         AND disbursement_to = 'approved'
                WHEN 'transfer' THEN kind = 'transfer' AND disbursement_from = 'requested'
                                     AND disbursement_to = 'approved'
                WHEN 'settle' THEN kind = 'payout' AND disbursement_from = 'approved'
                                   AND disbursement_to IN ('approved', 'paid')
                WHEN 'return' THEN kind = 'payout' AND disbursement_to = 'returned'
                                   AND disbursement_from IN ('approved', 'paid')
                ELSE false END THEN 'bad_state'
            WHEN disbursement_to = 'approved' AND disbursement_from = 'requested'
                 AND requested_by = actor THEN 'same_user'
            WHEN NOT CASE entry_kind
                WHEN 'disbursement' THEN case_debited = account_id AND debit = amount
                WHEN 'transfer' THEN case_debited = account_id AND case_credited = to_account_id
                                     AND debit = amount
                WHEN 'settle' THEN CASE WHEN disbursement_to = 'paid'
                                        THEN debit = amount - paid_minor - paid_before
                                        ELSE debit < amount - paid_minor - paid_before END
                WHEN 'return' THEN case_credited = account_id AND CASE
                    WHEN disbursement_from = 'approved'
                        THEN transit_debits = 1 AND debit = amount - paid_minor - paid_before
                    ELSE bank_debits = 1 AND debit <= amount END
                ELSE false END THEN 'bad_postings'
            END AS code
        FROM disbursement_rows)
    SELECT failures.i, failures.code, failures.entry_seq, failures.object_id FROM (
        SELECT i, code, priority, entry_seq, object_id FROM idempotency_failures
        UNION ALL SELECT i, code, priority, NULL, NULL FROM actor_failures
        UNION ALL SELECT i, code, priority, NULL, NULL FROM account_failures
        UNION ALL SELECT i, code, priority, NULL, NULL FROM amount_failures
        UNION ALL SELECT i, code, priority, NULL, NULL FROM shape_failures
        UNION ALL SELECT i, code, priority, NULL, NULL FROM reversal_failures
        UNION ALL SELECT i, code, priority, NULL, NULL FROM disbursement_failures) AS failures
    WHERE failures.code IS NOT NULL
    ORDER BY failures.i, failures.priority LIMIT 1
    INTO failed_index, code, replay_seq, replay_object_id;
END
$$;
REVOKE ALL ON FUNCTION cl_batch_first_failure(cl_batch_entry[], cl_batch_posting[]) FROM PUBLIC;

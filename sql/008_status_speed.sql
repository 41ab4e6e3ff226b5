-- caseledger migration 008: the applicant's status (POST /v1/status) for
-- less database work per call.
--
-- 1. A case account keeps what it has received and disbursed, as it keeps
--    its balance: received_total (receipts and assignments, net of their
--    reversals) and disbursed_total (payouts, net of returns), the figures
--    004's cl_case_status summed from all the case's postings at every
--    call. cl_postings_apply maintains them in the same UPDATE that moves
--    the balance, from the kinds of the new postings' entries (and, for a
--    reversal, of the entry it reverses); 0 on every other kind of account.
-- 2. cl_case_status reads them, and answers in one row whose plan has
--    about half the nodes of 004's (see below).

ALTER TABLE accounts
    ADD COLUMN received_total bigint NOT NULL DEFAULT 0,
    ADD COLUMN disbursed_total bigint NOT NULL DEFAULT 0;

-- Bookings wait until this migration commits: the totals below and the
-- trigger that keeps them then start from the same postings.
LOCK TABLE postings IN SHARE MODE;

-- Which total a posting of an entry of this kind moves ('received',
-- 'disbursed' or NULL); reversed_kind is the kind of the entry a reversal
-- reverses. The one definition, for the totals kept and the test that
-- recomputes them.
CREATE FUNCTION cl_case_total(p_kind text, p_reversed_kind text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_kind IN ('receipt', 'assign') THEN 'received'
                WHEN p_kind = 'reversal' AND p_reversed_kind IN ('receipt', 'assign')
                    THEN 'received'
                WHEN p_kind IN ('disbursement', 'return') THEN 'disbursed' END
$$;
GRANT EXECUTE ON FUNCTION cl_case_total(text, text) TO caseledger_app;

UPDATE accounts a SET received_total = t.received_total, disbursed_total = t.disbursed_total
FROM (SELECT p.account_id,
             coalesce(-sum(p.amount) FILTER (WHERE cl_case_total(e.kind, r.kind) = 'received'),
                      0)::bigint AS received_total,
             coalesce(sum(p.amount) FILTER (WHERE cl_case_total(e.kind, r.kind) = 'disbursed'),
                      0)::bigint AS disbursed_total
      FROM postings p JOIN entries e ON e.seq = p.entry_seq
      LEFT JOIN entries r ON r.seq = e.reverses_seq
      GROUP BY p.account_id) AS t
WHERE a.id = t.account_id AND a.kind = 'case';

-- 005's function, with the totals. The entries of the new postings are
-- read once (by key) for their kinds, which also tells whether each exists.
CREATE OR REPLACE FUNCTION cl_postings_apply() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
DECLARE
    account_ids bigint[];
    entry_seqs bigint[];
    accounts_count bigint;
    updated_count bigint;
    entries_count bigint;
    orphan bigint;
    bad bigint;
BEGIN
    account_ids := ARRAY(SELECT DISTINCT n.account_id FROM new_postings n);
    entry_seqs := ARRAY(SELECT DISTINCT n.entry_seq FROM new_postings n);
    WITH totals AS (
        SELECT e.seq, cl_case_total(e.kind, CASE WHEN e.kind = 'reversal' THEN
                   (SELECT r.kind FROM entries r WHERE r.seq = e.reverses_seq) END) AS total
        FROM entries e WHERE e.seq = ANY (entry_seqs)),
    per_account AS (
        SELECT n.account_id, sum(n.amount)::bigint AS delta,
               coalesce(-sum(n.amount) FILTER (WHERE t.total = 'received'), 0)::bigint
                   AS received_delta,
               coalesce(sum(n.amount) FILTER (WHERE t.total = 'disbursed'), 0)::bigint
                   AS disbursed_delta,
               min(n.currency) AS currency_min, max(n.currency) AS currency_max
        FROM new_postings n LEFT JOIN totals t ON t.seq = n.entry_seq
        GROUP BY n.account_id),
    updated AS (
        UPDATE accounts a SET
            balance = a.balance + d.delta,
            received_total = CASE WHEN a.kind = 'case'
                                  THEN a.received_total + d.received_delta ELSE 0 END,
            disbursed_total = CASE WHEN a.kind = 'case'
                                   THEN a.disbursed_total + d.disbursed_delta ELSE 0 END
        FROM per_account d
        WHERE a.id = ANY (account_ids)
          AND a.id = d.account_id AND a.status <> 'closed'
          AND a.currency = d.currency_min AND a.currency = d.currency_max
        RETURNING a.id)
    SELECT cardinality(account_ids), (SELECT count(*) FROM updated), (SELECT count(*) FROM totals)
        INTO accounts_count, updated_count, entries_count;
    IF entries_count <> cardinality(entry_seqs) THEN
        SELECT s.seq INTO orphan FROM unnest(entry_seqs) AS s (seq)
            WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.seq = s.seq) LIMIT 1;
        RAISE EXCEPTION 'postings refer to entry %, which does not exist', orphan
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF updated_count <> accounts_count THEN
        SELECT n.account_id INTO bad
            FROM new_postings n LEFT JOIN accounts a ON a.id = n.account_id
            WHERE a.id IS NULL OR a.status = 'closed' OR a.currency <> n.currency
            LIMIT 1;
        RAISE EXCEPTION 'posting to account % refused (unknown, closed or other currency)', bad
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
-- (By key, as 007 has the others: see there.)
ALTER FUNCTION cl_postings_apply() SET enable_seqscan = off;

-- A case's payouts, newest first.
CREATE INDEX disbursements_case_payouts ON disbursements (account_id, id) WHERE kind = 'payout';

-- 004's answer, in one row instead of one row per item (no row: no case
-- with that number and code): the case with its totals, then the lists as
-- two-dimensional arrays, newest first, at most p_payouts_max + 1 and
-- p_receipts_max + 1 long (one more than the caller shows tells it that
-- there are more):
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
-- quoting.
--
-- Why this shape: the statement's cost is mostly the starting of its plan's
-- nodes at every call, and a plan of one index probe with two subplans has
-- about half the nodes of 004's (no union, no common table scanned three
-- times, no sort of the whole answer), and narrower rows in each. The lists
-- walk indexes in the order they are shown (payouts: a new index by case and
-- id) and stop after the rows asked for, instead of sorting all of a case's
-- payouts and receipts; whether a receipt was reversed, and an assignment's
-- value date, are probes of one index each. The entry of each posting is
-- read by a lateral subquery that the planner keeps as it is (OFFSET 0): a
-- probe of the primary key per posting, walked in the index's order, where
-- the join it would otherwise plan on a young database, with no statistics
-- yet, adds a bitmap scan, a sort and a cache of entries (four more nodes
-- to start at every call: about a fifth of the statement's time). Still one SQL statement, neither
-- SECURITY DEFINER nor with SET clauses, so that the planner inlines it into
-- the caller's prepared query.
DROP FUNCTION cl_case_status(text, bytea, int, int);
CREATE FUNCTION cl_case_status(p_case_no_norm text, p_access_code_hash bytea,
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
                 FROM disbursements d
                 WHERE d.account_id = a.id AND d.kind = 'payout'
                 ORDER BY d.account_id DESC, d.id DESC LIMIT p_payouts_max + 1),
           ARRAY(SELECT ARRAY[-p.amount,
                              coalesce(e.value_date, CASE WHEN e.kind = 'assign' THEN
                                  (SELECT s.value_date FROM entries s
                                   WHERE s.seq = e.reverses_seq) END) - DATE '1970-01-01',
                              e.created_at_us]
                 FROM postings p CROSS JOIN LATERAL (
                     SELECT e.seq, e.kind, e.value_date, e.created_at_us, e.reverses_seq
                     FROM entries e WHERE e.seq = p.entry_seq OFFSET 0) AS e
                 WHERE p.account_id = a.id AND p.amount < 0 AND e.kind IN ('receipt', 'assign')
                   AND (SELECT x.kind FROM entries x WHERE x.reverses_seq = e.seq)
                       IS DISTINCT FROM 'reversal'
                 ORDER BY p.account_id DESC, p.entry_seq DESC LIMIT p_receipts_max + 1)
    FROM accounts a
    WHERE a.kind = 'case' AND a.case_no_norm = p_case_no_norm
      AND a.access_code_hash = p_access_code_hash
$$;
REVOKE ALL ON FUNCTION cl_case_status(text, bytea, int, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_case_status(text, bytea, int, int) TO caseledger_app;

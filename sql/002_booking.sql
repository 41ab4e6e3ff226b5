-- caseledger migration 002: cl_book_batch, the one way entries are booked.
--
-- The application locks the chain head (cl_chain_lock), seals a batch of
-- entries onto it (seq, prev_hash, hash, Ed25519 signature: done in C with
-- the signing key, which the database never sees), and calls cl_book_batch
-- once for the whole batch in the same transaction. cl_book_batch checks,
-- set-based and in batch order, everything that depends on current state.
-- If every entry passes it books them all (entries, postings, idempotency
-- records, disbursement state) and answers (NULL, 'ok'); otherwise it books
-- nothing and answers the 1-based index of the first entry that fails and
-- why: stale (the head moved), forbidden (the actor is not an enabled user
-- with one of the entry's allowed roles), unknown_account, currency_mismatch,
-- account_closed, account_frozen, insufficient_funds, already_reversed,
-- unknown_disbursement, bad_state, same_user. The application drops that
-- entry, reseals the rest and calls again.
--
-- An entry whose idempotency key is already recorded is answered like a
-- refusal: code 'replay' (same request: replay_seq and replay_object_id
-- carry the first result) or 'idempotency_conflict'. The primary key on
-- idempotency is the backstop against a concurrent twin.
--
-- The batch is one jsonb document:
--   {"head_seq": n, "head_hash": hex,
--    "entries": [{"i", "seq", "kind", "created_at_us", "actor", "reverses_seq",
--                 "value_date", "bank_ref", "memo", "key_id", "prev_hash", "hash",
--                 "signature", "roles" (allowed roles, comma-separated), "idem_key", "idem_op", "idem_hash", "object_id",
--                 "disbursement_id", "disbursement_from", "disbursement_to"}],
--    "postings": [{"i", "o", "a", "m", "c"}]}   (entry index, order, account,
--                                               amount, currency)

CREATE FUNCTION cl_batch_entries(p_batch jsonb) RETURNS TABLE (
    i int, seq bigint, kind text, created_at_us bigint, actor text, reverses_seq bigint,
    value_date date, bank_ref text, memo text, key_id text, prev_hash text, hash text,
    signature text, roles text, idem_key text, idem_op text, idem_hash text, object_id bigint,
    disbursement_id bigint, disbursement_from text, disbursement_to text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT * FROM jsonb_to_recordset(p_batch -> 'entries') AS x (
        i int, seq bigint, kind text, created_at_us bigint, actor text, reverses_seq bigint,
        value_date date, bank_ref text, memo text, key_id text, prev_hash text, hash text,
        signature text, roles text, idem_key text, idem_op text, idem_hash text,
        object_id bigint, disbursement_id bigint, disbursement_from text, disbursement_to text)
$$;

CREATE FUNCTION cl_batch_postings(p_batch jsonb) RETURNS TABLE (
    i int, o int, a bigint, m bigint, c text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT * FROM jsonb_to_recordset(p_batch -> 'postings') AS x (i int, o int, a bigint,
                                                                   m bigint, c text)
$$;

-- The first entry of the batch that a rule refuses, or no row.
CREATE FUNCTION cl_batch_first_failure(p_batch jsonb, OUT failed_index int, OUT code text)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    WITH e AS (SELECT * FROM cl_batch_entries(p_batch)),
    actor_failures AS (
        SELECT e.i, 'forbidden' AS code, 0 AS priority FROM e
        WHERE (SELECT count(*) FROM users u WHERE u.name = e.actor AND NOT u.disabled
               AND u.role = ANY (string_to_array(e.roles, ','))) = 0),
    net AS (
        SELECT p.i, p.a, sum(p.m) AS m, min(p.c) AS c FROM cl_batch_postings(p_batch) p
        GROUP BY p.i, p.a),
    running AS (
        SELECT net.i, net.a, net.m, net.c, e.kind, acc.id IS NULL AS missing,
               acc.kind AS account_kind, acc.status, acc.currency,
               acc.balance + sum(net.m) OVER (PARTITION BY net.a ORDER BY net.i) AS balance_after
        FROM net JOIN e ON e.i = net.i
        LEFT JOIN LATERAL (SELECT a.id, a.kind, a.status, a.currency, a.balance
                           FROM accounts a WHERE a.id = net.a) AS acc ON true),
    account_failures AS (
        SELECT i, 2 AS priority, CASE
            WHEN missing THEN 'unknown_account'
            WHEN currency <> c THEN 'currency_mismatch'
            WHEN status = 'closed' THEN 'account_closed'
            WHEN account_kind = 'case' AND m > 0 AND status = 'frozen'
                 AND kind IN ('disbursement', 'transfer') THEN 'account_frozen'
            WHEN account_kind = 'case' AND balance_after > 0 THEN 'insufficient_funds'
            END AS code
        FROM running),
    reversal_failures AS (
        SELECT e.i, 'already_reversed' AS code, 1 AS priority FROM e
        WHERE e.reverses_seq IS NOT NULL AND (
            (SELECT count(*) FROM entries x WHERE x.reverses_seq = e.reverses_seq) > 0
            OR EXISTS (SELECT 1 FROM e AS earlier
                       WHERE earlier.reverses_seq = e.reverses_seq AND earlier.i < e.i))),
    disbursement_rows AS (
        SELECT e.i, e.actor, e.disbursement_from, e.disbursement_to, d.id IS NULL AS missing,
               d.status, d.requested_by,
               row_number() OVER (PARTITION BY e.disbursement_id ORDER BY e.i) AS nth
        FROM e LEFT JOIN LATERAL (SELECT x.id, x.status, x.requested_by FROM disbursements x
                                  WHERE x.id = e.disbursement_id) AS d ON true
        WHERE e.disbursement_id IS NOT NULL),
    disbursement_failures AS (
        SELECT i, 1 AS priority, CASE
            WHEN missing THEN 'unknown_disbursement'
            WHEN status <> disbursement_from OR nth > 1 THEN 'bad_state'
            WHEN disbursement_to = 'approved' AND requested_by = actor THEN 'same_user'
            END AS code
        FROM disbursement_rows)
    -- Within one entry: who may act, then the state of what it acts on,
    -- then the money.
    SELECT failures.i, failures.code FROM (
        SELECT i, code, priority FROM actor_failures
        UNION ALL SELECT i, code, priority FROM account_failures
        UNION ALL SELECT i, code, priority FROM reversal_failures
        UNION ALL SELECT i, code, priority FROM disbursement_failures) AS failures
    WHERE failures.code IS NOT NULL
    ORDER BY failures.i, failures.priority LIMIT 1
    INTO failed_index, code;
END
$$;

CREATE FUNCTION cl_book_batch(p_batch jsonb, OUT failed_index int, OUT code text,
                              OUT replay_seq bigint, OUT replay_object_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    head record;
    locked_id bigint;
BEGIN
    failed_index := NULL;
    code := 'ok';
    SELECT c.seq, c.hash INTO head FROM chain_head c FOR UPDATE;
    IF head.seq <> (p_batch ->> 'head_seq')::bigint
       OR head.hash <> decode(p_batch ->> 'head_hash', 'hex') THEN
        failed_index := 1;
        code := 'stale';
        RETURN;
    END IF;
    -- A key already recorded: the first result again, or a conflict.
    SELECT e.i, CASE WHEN k.request_hash = decode(e.idem_hash, 'hex') THEN 'replay'
                     ELSE 'idempotency_conflict' END, k.entry_seq, k.object_id
        INTO failed_index, code, replay_seq, replay_object_id
        FROM cl_batch_entries(p_batch) e
        JOIN LATERAL (SELECT x.request_hash, x.entry_seq, x.object_id FROM idempotency x
                      WHERE x.key = e.idem_key) AS k ON true
        ORDER BY e.i LIMIT 1;
    IF failed_index IS NOT NULL THEN
        RETURN;
    END IF;
    code := 'ok';
    -- Lock what the rules read, in id order (no deadlocks between bookers);
    -- NO KEY UPDATE leaves foreign-key checks of other transactions alone.
    -- A batch is small next to the tables it touches: every access below is
    -- an index probe per row of the batch, never a scan of a table that
    -- grows with the journal.
    FOR locked_id IN SELECT DISTINCT p.a FROM cl_batch_postings(p_batch) p ORDER BY p.a LOOP
        PERFORM 1 FROM accounts WHERE id = locked_id FOR NO KEY UPDATE;
    END LOOP;
    FOR locked_id IN SELECT DISTINCT e.disbursement_id FROM cl_batch_entries(p_batch) e
                     WHERE e.disbursement_id IS NOT NULL ORDER BY e.disbursement_id LOOP
        PERFORM 1 FROM disbursements WHERE id = locked_id FOR NO KEY UPDATE;
    END LOOP;

    SELECT f.failed_index, f.code INTO failed_index, code FROM cl_batch_first_failure(p_batch) f;
    IF failed_index IS NOT NULL THEN
        RETURN;
    END IF;
    code := 'ok';

    INSERT INTO entries (seq, kind, created_at_us, actor, reverses_seq, value_date, bank_ref,
                         memo, key_id, prev_hash, hash, signature)
    SELECT e.seq, e.kind, e.created_at_us, e.actor, e.reverses_seq, e.value_date,
           coalesce(e.bank_ref, ''), coalesce(e.memo, ''), e.key_id, decode(e.prev_hash, 'hex'),
           decode(e.hash, 'hex'), decode(e.signature, 'hex')
    FROM cl_batch_entries(p_batch) e ORDER BY e.i;

    INSERT INTO postings (entry_seq, idx, account_id, amount, currency)
    SELECT e.seq, p.o::smallint, p.a, p.m, p.c
    FROM cl_batch_postings(p_batch) p JOIN cl_batch_entries(p_batch) e ON e.i = p.i;

    INSERT INTO idempotency (key, operation, request_hash, entry_seq, object_id)
    SELECT e.idem_key, e.idem_op, decode(e.idem_hash, 'hex'), e.seq, e.object_id
    FROM cl_batch_entries(p_batch) e WHERE e.idem_key IS NOT NULL;

    UPDATE disbursements d SET
        status = e.disbursement_to,
        decided_by = CASE WHEN e.disbursement_to = 'approved' THEN e.actor ELSE d.decided_by END,
        decided_at = CASE WHEN e.disbursement_to = 'approved' THEN now() ELSE d.decided_at END,
        approve_seq = CASE WHEN e.disbursement_to = 'approved' THEN e.seq ELSE d.approve_seq END,
        settle_seq = CASE WHEN e.disbursement_to = 'paid' THEN e.seq ELSE d.settle_seq END,
        paid_at = CASE WHEN e.disbursement_to = 'paid' THEN now() ELSE d.paid_at END,
        return_seq = CASE WHEN e.disbursement_to = 'returned' THEN e.seq ELSE d.return_seq END,
        returned_at = CASE WHEN e.disbursement_to = 'returned' THEN now() ELSE d.returned_at END,
        bank_ref = CASE WHEN e.disbursement_to IN ('paid', 'returned') THEN e.bank_ref
                        ELSE d.bank_ref END
    FROM cl_batch_entries(p_batch) e
    WHERE d.id = ANY (ARRAY(SELECT x.disbursement_id FROM cl_batch_entries(p_batch) x
                            WHERE x.disbursement_id IS NOT NULL))
      AND d.id = e.disbursement_id;
END
$$;
REVOKE ALL ON FUNCTION cl_book_batch(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_book_batch(jsonb) TO caseledger_app;

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
-- The batch arrives as typed arrays, one element per entry (p_index ..
-- p_disbursement_to) or per posting (p_posting_*), parsed once into
-- arrays of the composite types below; every statement reads those, and
-- every access to a table is an index probe per row of the batch (= ANY of
-- a key array), never a scan of a table that grows with the journal.
--   entries:  index (1-based over the caller's requests), seq, kind,
--             created_at_us, actor, reverses_seq, value_date, bank_ref, memo,
--             key_id, prev_hash, hash, signature, roles (allowed roles,
--             comma-separated), idem_key, idem_op, idem_hash, object_id,
--             disbursement_id, disbursement_from, disbursement_to
--   postings: entry index, order in the entry, account, amount, currency

CREATE TYPE cl_batch_entry AS (
    i int, seq bigint, kind text, created_at_us bigint, actor text, reverses_seq bigint,
    value_date date, bank_ref text, memo text, key_id text, prev_hash bytea, hash bytea,
    signature bytea, roles text, idem_key text, idem_op text, idem_hash bytea, object_id bigint,
    disbursement_id bigint, disbursement_from text, disbursement_to text);

CREATE TYPE cl_batch_posting AS (i int, o smallint, a bigint, m bigint, c text);

-- The first entry of the batch that is a replayed or conflicting
-- idempotency key or that a rule refuses, or no row. Within one entry: its
-- key, who may act, then the state of what it acts on, then the money.
CREATE FUNCTION cl_batch_first_failure(p_entries cl_batch_entry[], p_postings cl_batch_posting[],
                                       OUT failed_index int, OUT code text,
                                       OUT replay_seq bigint, OUT replay_object_id bigint)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    WITH e AS (SELECT * FROM unnest(p_entries)),
    idempotency_failures AS (
        SELECT e.i, CASE WHEN k.request_hash = e.idem_hash THEN 'replay'
                         ELSE 'idempotency_conflict' END AS code,
               -1 AS priority, k.entry_seq, k.object_id
        FROM e JOIN idempotency k ON k.key = e.idem_key
        WHERE k.key = ANY (ARRAY(SELECT x.idem_key FROM e AS x))),
    actor_failures AS (
        SELECT e.i, 'forbidden' AS code, 0 AS priority FROM e
        WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.name = e.actor AND NOT u.disabled
                          AND u.role = ANY (string_to_array(e.roles, ',')))),
    net AS (
        SELECT p.i, p.a, sum(p.m) AS m, min(p.c) AS c, max(p.c) AS c_max
        FROM unnest(p_postings) p GROUP BY p.i, p.a),
    running AS (
        SELECT net.i, net.a, net.m, net.c, net.c_max, e.kind, acc.id IS NULL AS missing,
               acc.kind AS account_kind, acc.status, acc.currency,
               acc.balance + sum(net.m) OVER (PARTITION BY net.a ORDER BY net.i) AS balance_after
        FROM net JOIN e ON e.i = net.i
        LEFT JOIN accounts acc ON acc.id = net.a
                              AND acc.id = ANY (ARRAY(SELECT x.a FROM net AS x))),
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
    reversal_failures AS (
        SELECT e.i, 'already_reversed' AS code, 1 AS priority FROM e
        WHERE e.reverses_seq IS NOT NULL AND (
            EXISTS (SELECT 1 FROM entries x WHERE x.reverses_seq = e.reverses_seq)
            OR EXISTS (SELECT 1 FROM e AS earlier
                       WHERE earlier.reverses_seq = e.reverses_seq AND earlier.i < e.i))),
    disbursement_rows AS (
        SELECT e.i, e.actor, e.disbursement_from, e.disbursement_to, d.id IS NULL AS missing,
               d.status, d.requested_by,
               row_number() OVER (PARTITION BY e.disbursement_id ORDER BY e.i) AS nth
        FROM e LEFT JOIN disbursements d
            ON d.id = e.disbursement_id
           AND d.id = ANY (ARRAY(SELECT x.disbursement_id FROM e AS x))
        WHERE e.disbursement_id IS NOT NULL),
    disbursement_failures AS (
        SELECT i, 1 AS priority, CASE
            WHEN missing THEN 'unknown_disbursement'
            WHEN status <> disbursement_from OR nth > 1 THEN 'bad_state'
            WHEN disbursement_to = 'approved' AND requested_by = actor THEN 'same_user'
            END AS code
        FROM disbursement_rows)
    SELECT failures.i, failures.code, failures.entry_seq, failures.object_id FROM (
        SELECT i, code, priority, entry_seq, object_id FROM idempotency_failures
        UNION ALL SELECT i, code, priority, NULL, NULL FROM actor_failures
        UNION ALL SELECT i, code, priority, NULL, NULL FROM account_failures
        UNION ALL SELECT i, code, priority, NULL, NULL FROM reversal_failures
        UNION ALL SELECT i, code, priority, NULL, NULL FROM disbursement_failures) AS failures
    WHERE failures.code IS NOT NULL
    ORDER BY failures.i, failures.priority LIMIT 1
    INTO failed_index, code, replay_seq, replay_object_id;
END
$$;

CREATE FUNCTION cl_book_batch(
    p_head_seq bigint, p_head_hash bytea,
    p_index int[], p_seq bigint[], p_kind text[], p_created_at_us bigint[], p_actor text[],
    p_reverses_seq bigint[], p_value_date date[], p_bank_ref text[], p_memo text[],
    p_key_id text[], p_prev_hash bytea[], p_hash bytea[], p_signature bytea[], p_roles text[],
    p_idem_key text[], p_idem_op text[], p_idem_hash bytea[], p_object_id bigint[],
    p_disbursement_id bigint[], p_disbursement_from text[], p_disbursement_to text[],
    p_posting_index int[], p_posting_order smallint[], p_posting_account bigint[],
    p_posting_amount bigint[], p_posting_currency text[],
    OUT failed_index int, OUT code text, OUT replay_seq bigint, OUT replay_object_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    head record;
    batch_entries cl_batch_entry[];
    batch_postings cl_batch_posting[];
BEGIN
    failed_index := NULL;
    code := 'ok';
    SELECT c.seq, c.hash INTO head FROM chain_head c FOR UPDATE;
    IF head.seq <> p_head_seq OR head.hash <> p_head_hash THEN
        failed_index := 1;
        code := 'stale';
        RETURN;
    END IF;
    batch_entries := ARRAY(
        SELECT ROW(x.*)::cl_batch_entry
        FROM unnest(p_index, p_seq, p_kind, p_created_at_us, p_actor, p_reverses_seq,
                    p_value_date, p_bank_ref, p_memo, p_key_id, p_prev_hash, p_hash, p_signature,
                    p_roles, p_idem_key, p_idem_op, p_idem_hash, p_object_id, p_disbursement_id,
                    p_disbursement_from, p_disbursement_to) AS x);
    batch_postings := ARRAY(
        SELECT ROW(x.*)::cl_batch_posting
        FROM unnest(p_posting_index, p_posting_order, p_posting_account, p_posting_amount,
                    p_posting_currency) AS x);
    IF cardinality(batch_entries) <> cardinality(p_index)
       OR cardinality(batch_postings) <> cardinality(p_posting_index) THEN
        RAISE EXCEPTION 'batch arrays differ in length' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Lock what the rules read, in id order (no deadlocks between bookers);
    -- NO KEY UPDATE leaves foreign-key checks of other transactions alone.
    -- The rules then read with a snapshot taken after the locks.
    PERFORM 1 FROM accounts a WHERE a.id = ANY (p_posting_account) ORDER BY a.id
        FOR NO KEY UPDATE;
    PERFORM 1 FROM disbursements d WHERE d.id = ANY (p_disbursement_id) ORDER BY d.id
        FOR NO KEY UPDATE;

    SELECT f.failed_index, f.code, f.replay_seq, f.replay_object_id
        INTO failed_index, code, replay_seq, replay_object_id
        FROM cl_batch_first_failure(batch_entries, batch_postings) f;
    IF failed_index IS NOT NULL THEN
        RETURN;
    END IF;
    code := 'ok';

    -- Everything in one statement; the triggers (chain, balances, foreign
    -- keys) run at its end and see all of it.
    WITH e AS (SELECT * FROM unnest(batch_entries)),
    new_entries AS (
        INSERT INTO entries (seq, kind, created_at_us, actor, reverses_seq, value_date, bank_ref,
                             memo, key_id, prev_hash, hash, signature)
        SELECT e.seq, e.kind, e.created_at_us, e.actor, e.reverses_seq, e.value_date,
               coalesce(e.bank_ref, ''), coalesce(e.memo, ''), e.key_id, e.prev_hash, e.hash,
               e.signature
        FROM e ORDER BY e.i),
    new_postings AS (
        INSERT INTO postings (entry_seq, idx, account_id, amount, currency)
        SELECT e.seq, p.o, p.a, p.m, p.c
        FROM unnest(batch_postings) p JOIN e ON e.i = p.i),
    new_keys AS (
        INSERT INTO idempotency (key, operation, request_hash, entry_seq, object_id)
        SELECT e.idem_key, e.idem_op, e.idem_hash, e.seq, e.object_id
        FROM e WHERE e.idem_key IS NOT NULL)
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
    FROM e
    WHERE d.id = ANY (p_disbursement_id) AND d.id = e.disbursement_id;
END
$$;
REVOKE ALL ON FUNCTION cl_book_batch(bigint, bytea, int[], bigint[], text[], bigint[], text[],
                                     bigint[], date[], text[], text[], text[], bytea[], bytea[],
                                     bytea[], text[], text[], text[], bytea[], bigint[], bigint[],
                                     text[], text[], int[], smallint[], bigint[], bigint[],
                                     text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_book_batch(bigint, bytea, int[], bigint[], text[], bigint[], text[],
                                        bigint[], date[], text[], text[], text[], bytea[],
                                        bytea[], bytea[], text[], text[], text[], bytea[],
                                        bigint[], bigint[], text[], text[], int[], smallint[],
                                        bigint[], bigint[], text[]) TO caseledger_app;

-- cl_book_batch: the one way entries are booked.
--
-- The application locks the chain head (cl_chain_lock), seals a batch of
-- entries onto it (seq, prev_hash, hash, Ed25519 signature: done in C with
-- the signing key, which the database never sees), and calls cl_book_batch
-- once for the whole batch in the same transaction. cl_book_batch checks,
-- set-based and in batch order, everything that depends on current state
-- (cl_batch_first_failure: who may book the kind, the request it acts on,
-- the accounts, the shape of the postings). If every entry passes it books
-- them all (entries, postings, idempotency records, disbursement state)
-- and answers (NULL, 'ok'); otherwise it books nothing and answers the
-- 1-based index of the first entry that fails and why, or 'stale' (the
-- head moved). The application drops that entry, reseals the rest and
-- calls again.
--
-- An entry whose idempotency key is already recorded (in its owner's key
-- space: a user's name for a client's key, '' for the importer's own keys)
-- is answered like a refusal: code 'replay' (same request: replay_seq and
-- replay_object_id carry the first result) or 'idempotency_conflict'. The
-- primary key on idempotency is the backstop against a concurrent twin.
--
-- The batch arrives as typed arrays, one element per entry (p_index ..
-- p_disbursement_to) or per posting (p_posting_*), parsed once into arrays
-- of the composite types of migration 010; every statement reads those,
-- and every access to a table is an index probe per row of the batch (=
-- ANY of a key array), never a scan of a table that grows with the journal.
--
-- enable_seqscan = off: planned on a fresh database's still empty tables, a
-- scan looked cheapest and then read every row the first import had added,
-- for each chunk (f7b1229: 5,558 -> 9,988 lines/s). A generic plan: the
-- batch's size is unknown to the planner either way.
CREATE OR REPLACE FUNCTION cl_book_batch(
    p_head_seq bigint, p_head_hash bytea,
    p_index int[], p_seq bigint[], p_kind text[], p_created_at_us bigint[], p_actor text[],
    p_reverses_seq bigint[], p_value_date date[], p_bank_ref text[], p_memo text[],
    p_key_id text[], p_prev_hash bytea[], p_hash bytea[], p_signature bytea[],
    p_idem_owner text[], p_idem_key text[], p_idem_op text[], p_idem_hash bytea[],
    p_object_id bigint[], p_disbursement_id bigint[], p_disbursement_from text[],
    p_disbursement_to text[],
    p_posting_index int[], p_posting_order smallint[], p_posting_account bigint[],
    p_posting_amount bigint[], p_posting_currency text[],
    OUT failed_index int, OUT code text, OUT replay_seq bigint, OUT replay_object_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
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
                    p_idem_owner, p_idem_key, p_idem_op, p_idem_hash, p_object_id,
                    p_disbursement_id, p_disbursement_from, p_disbursement_to) AS x);
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
    -- keys) run at its end and see all of it. A request that several
    -- entries of the batch move (parts of a payout, then its settlement)
    -- takes the fields of each step and the sum of what its settlements paid.
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
        INSERT INTO idempotency (owner, key, operation, request_hash, entry_seq, object_id)
        SELECT e.idem_owner, e.idem_key, e.idem_op, e.idem_hash, e.seq, e.object_id
        FROM e WHERE e.idem_key IS NOT NULL),
    debits AS (
        SELECT p.i, sum(p.m) FILTER (WHERE p.m > 0) AS debit
        FROM unnest(batch_postings) p GROUP BY p.i),
    steps AS (
        SELECT e.disbursement_id AS id,
               (array_agg(e.disbursement_to ORDER BY e.i DESC))[1] AS status,
               min(e.actor) FILTER (WHERE e.disbursement_to = 'approved'
                                      AND e.disbursement_from = 'requested') AS approved_by,
               min(e.seq) FILTER (WHERE e.disbursement_to = 'approved'
                                    AND e.disbursement_from = 'requested') AS approve_seq,
               min(e.seq) FILTER (WHERE e.disbursement_to = 'paid') AS settle_seq,
               min(e.seq) FILTER (WHERE e.disbursement_to = 'returned') AS return_seq,
               (array_agg(e.bank_ref ORDER BY e.i DESC)
                   FILTER (WHERE e.disbursement_to IN ('paid', 'returned')))[1] AS bank_ref,
               coalesce(sum(x.debit) FILTER (WHERE e.kind = 'settle'), 0) AS paid
        FROM e JOIN debits x ON x.i = e.i
        WHERE e.disbursement_id IS NOT NULL GROUP BY e.disbursement_id)
    UPDATE disbursements d SET
        status = s.status,
        decided_by = coalesce(s.approved_by, d.decided_by),
        decided_at = CASE WHEN s.approve_seq IS NOT NULL THEN now() ELSE d.decided_at END,
        approve_seq = coalesce(s.approve_seq, d.approve_seq),
        settle_seq = coalesce(s.settle_seq, d.settle_seq),
        paid_at = CASE WHEN s.settle_seq IS NOT NULL THEN now() ELSE d.paid_at END,
        return_seq = coalesce(s.return_seq, d.return_seq),
        returned_at = CASE WHEN s.return_seq IS NOT NULL THEN now() ELSE d.returned_at END,
        bank_ref = CASE WHEN s.settle_seq IS NOT NULL OR s.return_seq IS NOT NULL
                        THEN s.bank_ref ELSE d.bank_ref END,
        paid_minor = d.paid_minor + s.paid
    FROM steps s
    WHERE d.id = ANY (p_disbursement_id) AND d.id = s.id;
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

-- caseledger migration 002: cl_book, the one call that books a sealed entry.
--
-- The application seals an entry (seq, prev_hash, hash, Ed25519 signature)
-- against the head it has locked with cl_chain_lock(), then calls cl_book in
-- the same transaction. cl_book checks everything that depends on current
-- state and either books the entry completely or changes nothing and
-- answers with a code:
--   ok, replay (idempotency key seen with this request), idempotency_conflict,
--   stale (the head moved: reseal and call again), unknown_account,
--   currency_mismatch, account_closed, account_frozen, insufficient_funds,
--   already_reversed, unknown_disbursement, bad_state, same_user.
-- Constraints and triggers of migration 001 stay the backstop: if the code
-- here were wrong, the transaction fails instead of booking bad data.

CREATE FUNCTION cl_book(
    p_seq bigint, p_prev_hash bytea, p_kind text, p_created_at_us bigint, p_actor text,
    p_reverses_seq bigint, p_value_date date, p_bank_ref text, p_memo text, p_key_id text,
    p_hash bytea, p_signature bytea,
    p_accounts bigint[], p_amounts bigint[], p_currencies text[],
    p_idem_key text, p_idem_op text, p_idem_hash bytea, p_object_id bigint,
    p_disbursement_id bigint, p_disbursement_from text, p_disbursement_to text,
    OUT code text, OUT booked_seq bigint, OUT object_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    found_hash bytea;
    found_seq bigint;
    found_object bigint;
    head record;
    acc record;
    distinct_count int;
    locked_count int;
    disb record;
BEGIN
    booked_seq := NULL;
    object_id := p_object_id;

    IF p_idem_key IS NOT NULL THEN
        SELECT i.request_hash, i.entry_seq, i.object_id INTO found_hash, found_seq, found_object
            FROM idempotency i WHERE i.key = p_idem_key;
        IF FOUND THEN
            booked_seq := found_seq;
            object_id := found_object;
            code := CASE WHEN found_hash = p_idem_hash THEN 'replay' ELSE 'idempotency_conflict' END;
            RETURN;
        END IF;
    END IF;

    SELECT * INTO head FROM cl_chain_lock();
    IF head.seq + 1 <> p_seq OR head.hash <> p_prev_hash THEN
        code := 'stale';
        booked_seq := head.seq;
        RETURN;
    END IF;

    -- Lock the accounts in id order (no deadlocks between bookings).
    SELECT count(DISTINCT a) INTO distinct_count FROM unnest(p_accounts) AS a;
    WITH locked AS (
        SELECT id FROM accounts WHERE id = ANY (p_accounts) ORDER BY id FOR UPDATE)
    SELECT count(*) INTO locked_count FROM locked;
    IF locked_count <> distinct_count THEN
        code := 'unknown_account';
        RETURN;
    END IF;

    FOR acc IN
        SELECT a.id, a.kind, a.status, a.currency, a.balance, x.net, x.currency AS posted_currency
        FROM (SELECT u.account_id, sum(u.amount) AS net, min(u.currency) AS currency,
                     max(u.currency) AS currency_max
              FROM unnest(p_accounts, p_amounts, p_currencies) AS u(account_id, amount, currency)
              GROUP BY u.account_id) AS x
        JOIN accounts a ON a.id = x.account_id
        ORDER BY a.id
    LOOP
        IF acc.currency <> acc.posted_currency THEN
            code := 'currency_mismatch';
            RETURN;
        END IF;
        IF acc.status = 'closed' THEN
            code := 'account_closed';
            RETURN;
        END IF;
        IF acc.kind = 'case' AND acc.net > 0 THEN
            IF acc.status = 'frozen' AND p_kind IN ('disbursement', 'transfer') THEN
                code := 'account_frozen';
                RETURN;
            END IF;
            IF acc.balance + acc.net > 0 THEN
                code := 'insufficient_funds';
                RETURN;
            END IF;
        END IF;
    END LOOP;

    IF p_reverses_seq IS NOT NULL THEN
        PERFORM 1 FROM entries e WHERE e.reverses_seq = p_reverses_seq;
        IF FOUND THEN
            code := 'already_reversed';
            RETURN;
        END IF;
    END IF;

    IF p_disbursement_id IS NOT NULL THEN
        SELECT d.status, d.requested_by INTO disb FROM disbursements d
            WHERE d.id = p_disbursement_id FOR UPDATE;
        IF NOT FOUND THEN
            code := 'unknown_disbursement';
            RETURN;
        END IF;
        IF disb.status <> p_disbursement_from THEN
            code := 'bad_state';
            RETURN;
        END IF;
        IF p_disbursement_to = 'approved' AND disb.requested_by = p_actor THEN
            code := 'same_user';
            RETURN;
        END IF;
    END IF;

    INSERT INTO entries (seq, kind, created_at_us, actor, reverses_seq, value_date, bank_ref,
                         memo, key_id, prev_hash, hash, signature)
    VALUES (p_seq, p_kind, p_created_at_us, p_actor, p_reverses_seq, p_value_date,
            coalesce(p_bank_ref, ''), coalesce(p_memo, ''), p_key_id, p_prev_hash, p_hash,
            p_signature);
    INSERT INTO postings (entry_seq, idx, account_id, amount, currency)
    SELECT p_seq, (u.ord - 1)::smallint, u.account_id, u.amount, u.currency
    FROM unnest(p_accounts, p_amounts, p_currencies) WITH ORDINALITY
         AS u(account_id, amount, currency, ord);

    IF p_disbursement_id IS NOT NULL THEN
        UPDATE disbursements d SET
            status = p_disbursement_to,
            decided_by = CASE WHEN p_disbursement_to = 'approved' THEN p_actor ELSE d.decided_by END,
            decided_at = CASE WHEN p_disbursement_to = 'approved' THEN now() ELSE d.decided_at END,
            approve_seq = CASE WHEN p_disbursement_to = 'approved' THEN p_seq ELSE d.approve_seq END,
            settle_seq = CASE WHEN p_disbursement_to = 'paid' THEN p_seq ELSE d.settle_seq END,
            paid_at = CASE WHEN p_disbursement_to = 'paid' THEN now() ELSE d.paid_at END,
            return_seq = CASE WHEN p_disbursement_to = 'returned' THEN p_seq ELSE d.return_seq END,
            returned_at = CASE WHEN p_disbursement_to = 'returned' THEN now() ELSE d.returned_at END,
            bank_ref = CASE WHEN p_disbursement_to IN ('paid', 'returned') THEN p_bank_ref
                            ELSE d.bank_ref END
        WHERE d.id = p_disbursement_id;
    END IF;

    IF p_idem_key IS NOT NULL THEN
        INSERT INTO idempotency (key, operation, request_hash, entry_seq, object_id)
        VALUES (p_idem_key, p_idem_op, p_idem_hash, p_seq, p_object_id);
    END IF;

    code := 'ok';
    booked_seq := p_seq;
END
$$;
REVOKE ALL ON FUNCTION cl_book FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_book TO caseledger_app;

-- caseledger migration 010: the database as the last line of defence.
--
-- Functions, triggers and their grants now live in sql/functions (applied
-- after the migrations on every migrate); this migration changes what they
-- need of the tables, and the application role's rights.

-- 1. No temporary tables for anyone: a temporary table is searched before
--    the real ones by a function that does not pin its search_path, and the
--    application has no use for one. (Every function also pins search_path
--    with pg_temp last: sql/functions/README.md.)
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- Functions the owner creates are not callable by everyone by default.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;

-- 2. The booking function no longer takes the roles allowed from its
--    caller (the database derives them from the entry's kind:
--    cl_kind_roles), and an idempotency key belongs to its owner.
DROP FUNCTION cl_book_batch(bigint, bytea, int[], bigint[], text[], bigint[], text[], bigint[],
                            date[], text[], text[], text[], bytea[], bytea[], bytea[], text[],
                            text[], text[], bytea[], bigint[], bigint[], text[], text[], int[],
                            smallint[], bigint[], bigint[], text[]);
DROP FUNCTION cl_batch_first_failure(cl_batch_entry[], cl_batch_posting[]);
DROP TYPE cl_batch_entry;
CREATE TYPE cl_batch_entry AS (
    i int, seq bigint, kind text, created_at_us bigint, actor text, reverses_seq bigint,
    value_date date, bank_ref text, memo text, key_id text, prev_hash bytea, hash bytea,
    signature bytea, idem_owner text, idem_key text, idem_op text, idem_hash bytea,
    object_id bigint, disbursement_id bigint, disbursement_from text, disbursement_to text);

-- 3. Idempotency keys in their owner's space: a client's key is its user's
--    (owner: the user's name), the importer's own keys are in a space no
--    client reaches (owner ''). Keys recorded before: a booking's key is its
--    actor's, the importer's ('statement' bookings) the importer's, and any
--    other (requests, case and account changes) the requester's where it is
--    known.
ALTER TABLE idempotency ADD COLUMN owner text NOT NULL DEFAULT ''
    CHECK (length(owner) <= 256);
UPDATE idempotency k SET owner = e.actor
FROM entries e WHERE e.seq = k.entry_seq AND k.operation <> 'statement';
UPDATE idempotency k SET owner = d.requested_by
FROM disbursements d
WHERE k.entry_seq IS NULL AND d.id = k.object_id
  AND k.operation IN ('disbursement_request', 'transfer_request');
UPDATE idempotency k SET owner = d.decided_by
FROM disbursements d
WHERE k.entry_seq IS NULL AND d.id = k.object_id AND k.operation = 'reject';
ALTER TABLE idempotency DROP CONSTRAINT idempotency_pkey;
ALTER TABLE idempotency ADD PRIMARY KEY (key, owner);
ALTER TABLE idempotency ALTER COLUMN owner DROP DEFAULT;

-- 4. What a payout's parts have paid to the bank so far (statement lines
--    that pay a payout in parts): a settlement or return books only what is
--    still in transit, checked by the booking function.
ALTER TABLE disbursements ADD COLUMN paid_minor bigint NOT NULL DEFAULT 0;
UPDATE disbursements d SET paid_minor = CASE
    WHEN d.status = 'paid' THEN d.amount
    WHEN d.status = 'approved' THEN coalesce((
        SELECT -sum(l.amount) FROM statement_lines l
        WHERE l.disbursement_id = d.id AND l.rule = 'disbursement_part'), 0)
    ELSE 0 END
WHERE d.kind = 'payout' AND d.status IN ('approved', 'paid');
ALTER TABLE disbursements
    ADD CONSTRAINT paid_within_amount CHECK (paid_minor >= 0 AND paid_minor <= amount),
    -- A decision that moved money names its entry: the application, which
    -- may not write these columns, cannot approve or pay by hand.
    ADD CONSTRAINT approved_has_entry
        CHECK (status NOT IN ('approved', 'paid', 'returned') OR approve_seq IS NOT NULL),
    ADD CONSTRAINT paid_has_entry CHECK (status <> 'paid' OR settle_seq IS NOT NULL),
    ADD CONSTRAINT returned_has_entry CHECK (status <> 'returned' OR return_seq IS NOT NULL);

-- 5. Least privilege for the application role (the table is in README.md,
--    "What the application role may do").
--    Users and their tokens are managed by the owner (caseledger user add
--    connects as the owner): a server that could add users could add its
--    own approver and so be both pairs of eyes.
REVOKE INSERT ON users FROM caseledger_app;
REVOKE UPDATE ON users FROM caseledger_app;
--    A decision's entry, settlement and times are written by the booking
--    function only; the application rejects a request (status, decided_by,
--    decided_at, reject_reason), and the transition trigger refuses any
--    other change of those once made.
REVOKE UPDATE ON disbursements FROM caseledger_app;
GRANT UPDATE (status, decided_by, decided_at, reject_reason) ON disbursements TO caseledger_app;
--    A request is made as a request: the application names what is asked
--    and by whom, never a state, a decision or an entry.
REVOKE INSERT ON disbursements FROM caseledger_app;
GRANT INSERT (kind, account_id, to_account_id, amount, currency, payee_name, payee_account,
              payee_bank, purpose, requested_by) ON disbursements TO caseledger_app;

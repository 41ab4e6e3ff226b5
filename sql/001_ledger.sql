-- caseledger schema, migration 001: accounts, journal, disbursements,
-- idempotency, users, signing keys, chain head.
--
-- Conventions: money is bigint minor units; an entry's postings are signed
-- (debit positive, credit negative) and sum to zero per currency. A case
-- account is a liability, so the money it holds is the negative of its
-- balance: held = -balance, and balance <= 0 always (never "below zero").
--
-- The application connects as role caseledger_app (created by the operator
-- before migrating; see scripts/dev) which may read everything, append to
-- the journal, and change only what the workflow needs to change.

CREATE TABLE signing_keys (
    key_id      text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    public_key  bytea NOT NULL UNIQUE CHECK (octet_length(public_key) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 256),
    role        text NOT NULL CHECK (role IN ('clerk', 'approver', 'auditor', 'admin', 'bank')),
    token_hash  bytea UNIQUE CHECK (token_hash IS NULL OR octet_length(token_hash) = 32),
    disabled    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- ISO 7064 MOD 97-10: the whole number is congruent to 1 modulo 97.
-- Not STRICT, so that the planner inlines it into the CHECK below instead
-- of calling a SQL function for every update of an account's balance.
CREATE FUNCTION cl_mod97_valid(digits text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT digits ~ '^[0-9]{16}$' AND (digits::numeric % 97) = 1
$$;

-- The fields of an account other than its balance are checked by a
-- trigger when they are written (cl_account_fields, below): CHECK
-- constraints would be evaluated again at every balance update.
CREATE TABLE accounts (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL,
    currency         char(3) NOT NULL DEFAULT 'CNY',
    status           text NOT NULL DEFAULT 'open',
    balance          bigint NOT NULL DEFAULT 0,
    -- case accounts
    case_no          text UNIQUE,
    case_no_norm     text UNIQUE,
    payin_no         text UNIQUE,
    court            text,
    title            text,
    access_code_hash bytea,
    -- custody bank accounts
    bank_account_no  text UNIQUE,
    bank_name        text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT case_not_negative CHECK (kind <> 'case' OR balance <= 0)
) WITH (fillfactor = 50); -- room for balance updates on the same page (HOT: no index writes)
CREATE FUNCTION cl_account_fields() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each rule reads like the CHECK it replaces: NULL (unknown) passes.
    IF NOT (NEW.kind IN ('case', 'bank', 'suspense', 'in_transit', 'fees', 'assistance',
                         'refund'))
       OR NOT (NEW.currency ~ '^[A-Z]{3}$')
       OR NOT (NEW.status IN ('open', 'frozen', 'closed'))
       OR NOT (NEW.case_no IS NULL OR length(NEW.case_no) BETWEEN 1 AND 128)
       OR NOT (NEW.payin_no IS NULL OR cl_mod97_valid(NEW.payin_no))
       OR NOT (NEW.access_code_hash IS NULL OR octet_length(NEW.access_code_hash) = 32)
       OR NOT (NEW.kind <> 'case' OR (NEW.case_no IS NOT NULL AND NEW.case_no_norm IS NOT NULL
                                      AND NEW.payin_no IS NOT NULL AND NEW.court IS NOT NULL))
       OR NOT (NEW.kind <> 'bank' OR NEW.bank_account_no IS NOT NULL) THEN
        RAISE EXCEPTION 'account fields refused (kind %, currency %, status %)', NEW.kind,
                        NEW.currency, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER accounts_fields
    BEFORE INSERT OR UPDATE OF kind, currency, status, case_no, case_no_norm, payin_no, court,
                               access_code_hash, bank_account_no ON accounts
    FOR EACH ROW EXECUTE FUNCTION cl_account_fields();
-- One system account per kind and currency (bank accounts may be many).
CREATE UNIQUE INDEX accounts_system_kind ON accounts (kind, currency)
    WHERE kind IN ('suspense', 'in_transit', 'fees', 'assistance', 'refund');

-- Bodies of pay-in numbers (the check digits are computed by the application).
CREATE SEQUENCE payin_body_seq START 1 MAXVALUE 9999999999999;

CREATE TABLE applicants (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    id_no       text,
    phone       text
);
CREATE INDEX applicants_account ON applicants (account_id);

-- The journal. seq is the chain position (1, 2, 3, ... without gaps) and
-- the entry's id.
CREATE TABLE entries (
    seq             bigint PRIMARY KEY CHECK (seq > 0),
    kind            text NOT NULL CHECK (kind IN ('receipt', 'suspense_receipt', 'assign',
                                                  'disbursement', 'settle', 'return',
                                                  'transfer', 'reversal')),
    created_at_us   bigint NOT NULL,
    actor           text NOT NULL,
    reverses_seq    bigint REFERENCES entries (seq), -- unique where set: entries_reverses_once
    value_date      date,
    bank_ref        text NOT NULL DEFAULT '',
    memo            text NOT NULL DEFAULT '',
    key_id          text NOT NULL, -- a signing key's (checked by cl_entries_chain)
    prev_hash       bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash            bytea NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    signature       bytea NOT NULL CHECK (octet_length(signature) = 64)
);

-- An entry is reversed at most once. Partial: most entries reverse none,
-- and an index of their NULLs would only cost an insertion per entry.
CREATE UNIQUE INDEX entries_reverses_once ON entries (reverses_seq) WHERE reverses_seq IS NOT NULL;

-- entry_seq and account_id are references (to entries and accounts),
-- checked once per statement by cl_postings_apply rather than by a
-- foreign-key trigger per row; what they point to is never deleted (see
-- "What the database itself enforces").
CREATE TABLE postings (
    entry_seq   bigint NOT NULL,
    idx         smallint NOT NULL CHECK (idx >= 0),
    account_id  bigint NOT NULL,
    amount      bigint NOT NULL CHECK (amount <> 0),
    currency    char(3) NOT NULL,
    PRIMARY KEY (entry_seq, idx)
);
CREATE INDEX postings_account ON postings (account_id, entry_seq);

-- The single row every booking transaction locks: the chain's head.
CREATE TABLE chain_head (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq         bigint NOT NULL,
    hash        bytea NOT NULL CHECK (octet_length(hash) = 32)
) WITH (fillfactor = 10);
INSERT INTO chain_head (seq, hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Payouts and case-to-case transfers share one four-eyes workflow:
-- requested -> approved | rejected; approved payouts -> paid | returned.
CREATE TABLE disbursements (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL DEFAULT 'payout' CHECK (kind IN ('payout', 'transfer')),
    account_id      bigint NOT NULL REFERENCES accounts (id),
    to_account_id   bigint REFERENCES accounts (id),
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        char(3) NOT NULL,
    payee_name      text,
    payee_account   text,
    payee_bank      text,
    purpose         text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'requested'
                    CHECK (status IN ('requested', 'approved', 'rejected', 'paid', 'returned')),
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    decided_by      text,
    decided_at      timestamptz,
    reject_reason   text,
    approve_seq     bigint REFERENCES entries (seq),
    settle_seq      bigint REFERENCES entries (seq),
    return_seq      bigint REFERENCES entries (seq),
    bank_ref        text,
    paid_at         timestamptz,
    returned_at     timestamptz,
    CONSTRAINT four_eyes CHECK (decided_by IS NULL OR status = 'rejected'
                                OR decided_by <> requested_by),
    CONSTRAINT payout_fields CHECK (kind <> 'payout' OR (payee_name IS NOT NULL
                                                         AND payee_account IS NOT NULL)),
    CONSTRAINT transfer_fields CHECK (kind <> 'transfer' OR (to_account_id IS NOT NULL
                                                             AND to_account_id <> account_id))
);
CREATE INDEX disbursements_account ON disbursements (account_id, status);
CREATE INDEX disbursements_status ON disbursements (status, id);

-- Idempotency: the first successful result of a key, and a digest of the
-- request it answered.
CREATE TABLE idempotency (
    key             text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 128),
    operation       text NOT NULL,
    request_hash    bytea NOT NULL CHECK (octet_length(request_hash) = 32),
    entry_seq       bigint REFERENCES entries (seq),
    object_id       bigint,
    created_at      timestamptz NOT NULL DEFAULT now()
);

------------------------------------------------------------------------------
-- What the database itself enforces.

-- The journal is append-only, even for the table owner.
CREATE FUNCTION cl_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'journal is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION cl_refuse_change();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_change();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION cl_refuse_change();

-- Postings move the accounts' cached balances, once per statement and
-- account (set-based: a batch of entries updates the hot custody account
-- once). The CHECK on accounts.balance then refuses a negative case
-- balance. A posting must belong to an entry, and its account must exist,
-- match its currency and not be closed. One statement updates the
-- balances of the accounts that pass; any other account or a missing entry
-- fails the whole insert.
CREATE FUNCTION cl_postings_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    accounts_count bigint;
    updated_count bigint;
    orphan bigint;
    bad bigint;
BEGIN
    WITH per_account AS (
        SELECT n.account_id, sum(n.amount)::bigint AS delta,
               min(n.currency) AS currency_min, max(n.currency) AS currency_max
        FROM new_postings n GROUP BY n.account_id),
    updated AS (
        -- the id list lets it probe the primary key instead of scanning
        -- accounts, which grows with the cases
        UPDATE accounts a SET balance = a.balance + d.delta
        FROM per_account d
        WHERE a.id = ANY (ARRAY(SELECT x.account_id FROM per_account x))
          AND a.id = d.account_id AND a.status <> 'closed'
          AND a.currency = d.currency_min AND a.currency = d.currency_max
        RETURNING a.id)
    SELECT (SELECT count(*) FROM per_account), (SELECT count(*) FROM updated),
           (SELECT s.entry_seq FROM (SELECT DISTINCT n.entry_seq FROM new_postings n) AS s
            WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.seq = s.entry_seq) LIMIT 1)
        INTO accounts_count, updated_count, orphan;
    IF orphan IS NOT NULL THEN
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
CREATE TRIGGER postings_apply AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION cl_postings_apply();

-- At commit: every entry has at least two postings summing to zero per
-- currency. Entries are only ever added by moving the head over them
-- (cl_entries_chain), so a deferred check of each head move covers every
-- new entry, once per batch rather than once per entry; postings, which
-- follow their entry, are in by then.
CREATE FUNCTION cl_head_entries_balanced() RETURNS trigger LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$ -- not re-planned at every commit
DECLARE
    bad bigint;
BEGIN
    WITH per_currency AS (
        SELECT p.entry_seq, sum(p.amount) AS total, count(*) AS postings_count
        FROM postings p WHERE p.entry_seq > OLD.seq AND p.entry_seq <= NEW.seq
        GROUP BY p.entry_seq, p.currency),
    per_entry AS (
        SELECT entry_seq, sum(postings_count) AS postings_count, bool_or(total <> 0) AS unbalanced
        FROM per_currency GROUP BY entry_seq)
    SELECT g.seq INTO bad
        FROM generate_series(OLD.seq + 1, NEW.seq) AS g (seq)
        LEFT JOIN per_entry e ON e.entry_seq = g.seq
        WHERE e.entry_seq IS NULL OR e.postings_count < 2 OR e.unbalanced
        ORDER BY g.seq LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'entry % postings are missing or do not sum to zero', bad
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER chain_head_entries_balanced AFTER UPDATE ON chain_head
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cl_head_entries_balanced();

-- Entries follow the head: the new entries continue the chain from the head
-- without gaps (seq head+1, head+2, ...; each prev_hash the hash before it),
-- are signed with a registered key, and the head moves to the last of them.
CREATE FUNCTION cl_entries_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head record;
    broken bigint;
    unkeyed bigint;
    last_seq bigint;
    last_hash bytea;
BEGIN
    SELECT seq, hash INTO head FROM chain_head FOR UPDATE;
    WITH n AS (
        SELECT seq, prev_hash, hash, key_id,
               lag(hash) OVER (ORDER BY seq) AS previous_hash,
               row_number() OVER (ORDER BY seq) AS position
        FROM new_entries)
    SELECT min(n.seq) FILTER (WHERE n.seq <> head.seq + n.position
                                 OR n.prev_hash <> coalesce(n.previous_hash, head.hash)),
           min(n.seq) FILTER (WHERE NOT EXISTS (SELECT 1 FROM signing_keys k
                                                WHERE k.key_id = n.key_id)),
           max(n.seq), (array_agg(n.hash ORDER BY n.seq DESC))[1]
        INTO broken, unkeyed, last_seq, last_hash
        FROM n;
    IF broken IS NOT NULL THEN
        RAISE EXCEPTION 'entry % does not continue the chain from head %', broken, head.seq
            USING ERRCODE = 'serialization_failure';
    END IF;
    IF unkeyed IS NOT NULL THEN
        RAISE EXCEPTION 'entry % is signed with an unknown key', unkeyed
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF last_seq IS NOT NULL THEN
        UPDATE chain_head SET seq = last_seq, hash = last_hash;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER entries_chain AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION cl_entries_chain();

-- What entries and postings refer to stays: an account with postings and a
-- key that signed entries are never deleted, nor their ids changed.
CREATE FUNCTION cl_refuse_referenced_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'TRUNCATE on % refused: the journal refers to it', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- One branch per table: a branch's expression is prepared only when run.
    IF TG_TABLE_NAME = 'accounts' THEN
        IF EXISTS (SELECT 1 FROM postings p WHERE p.account_id = OLD.id) THEN
            RAISE EXCEPTION '% on accounts refused: postings refer to account %', TG_OP, OLD.id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    ELSIF EXISTS (SELECT 1 FROM entries e WHERE e.key_id = OLD.key_id) THEN
        RAISE EXCEPTION '% on signing_keys refused: entries are signed with key %', TG_OP,
                        OLD.key_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER accounts_referenced BEFORE DELETE OR UPDATE OF id ON accounts
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_referenced_change();
CREATE TRIGGER signing_keys_referenced BEFORE DELETE OR UPDATE OF key_id ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_referenced_change();
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION cl_refuse_referenced_change();
CREATE TRIGGER signing_keys_no_truncate BEFORE TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION cl_refuse_referenced_change();

-- A booking transaction's first step: wait for the head and read it. The
-- application role may lock the head but not move it itself.
CREATE FUNCTION cl_chain_lock(OUT seq bigint, OUT hash bytea) LANGUAGE sql
SECURITY DEFINER SET search_path = public AS $$
    SELECT seq, hash FROM chain_head FOR UPDATE
$$;
REVOKE ALL ON FUNCTION cl_chain_lock() FROM PUBLIC;

-- Disbursement workflow: only forward transitions, and fields that were
-- set at request time never change.
CREATE FUNCTION cl_disbursement_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind <> OLD.kind OR NEW.account_id <> OLD.account_id
       OR NEW.to_account_id IS DISTINCT FROM OLD.to_account_id
       OR NEW.amount <> OLD.amount OR NEW.currency <> OLD.currency
       OR NEW.requested_by <> OLD.requested_by OR NEW.requested_at <> OLD.requested_at THEN
        RAISE EXCEPTION 'disbursement % request fields are immutable', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status <> OLD.status AND NOT (
           (OLD.status = 'requested' AND NEW.status IN ('approved', 'rejected'))
        OR (OLD.status = 'approved' AND NEW.kind = 'payout' AND NEW.status IN ('paid', 'returned'))) THEN
        RAISE EXCEPTION 'disbursement % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER disbursements_transition BEFORE UPDATE ON disbursements
    FOR EACH ROW EXECUTE FUNCTION cl_disbursement_transition();
CREATE TRIGGER disbursements_no_delete BEFORE DELETE ON disbursements
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_change();

------------------------------------------------------------------------------
-- Least privilege for the application role.

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO caseledger_app;
-- Entries and postings are written only through cl_book_batch (migration 002).
GRANT INSERT ON idempotency, disbursements, applicants, signing_keys, users TO caseledger_app;
GRANT INSERT (kind, currency, case_no, case_no_norm, payin_no, court, title,
              access_code_hash, bank_account_no, bank_name) ON accounts TO caseledger_app;
GRANT UPDATE (status) ON accounts TO caseledger_app;
GRANT UPDATE (status, decided_by, decided_at, reject_reason, approve_seq, settle_seq,
              return_seq, bank_ref, paid_at, returned_at) ON disbursements TO caseledger_app;
GRANT UPDATE (token_hash, disabled) ON users TO caseledger_app;
GRANT EXECUTE ON FUNCTION cl_chain_lock() TO caseledger_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO caseledger_app;

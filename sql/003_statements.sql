-- caseledger migration 003: imported bank statements, their lines, and
-- what each line was matched to or booked as.
--
-- A statement file is imported in one transaction: its statements, every
-- line (with its match status, the rule that decided it and a reason a
-- person can read) and the entries booked for it, or nothing. A line's
-- identity (the bank's reference, else the parser's fingerprint) is unique
-- per custody bank account among lines that are not duplicates, so that a
-- re-imported or overlapping statement can never book a line twice.
--
-- Amounts are the bank's view (credit positive), as printed on the
-- statement; the journal's bank account is debit positive, so a +100 line
-- is a +100 posting on the bank account.

CREATE TABLE bank_statements (
    id                  bigserial PRIMARY KEY,
    bank_account_id     bigint NOT NULL REFERENCES accounts (id),
    format              text NOT NULL CHECK (format IN ('camt053', 'mt940', 'csv')),
    file_digest         bytea NOT NULL CHECK (octet_length(file_digest) = 32),
    file_index          integer NOT NULL CHECK (file_index >= 0), -- statement in its file
    statement_ref       text NOT NULL DEFAULT '',                 -- camt Stmt/Id, MT940 :20:
    sequence            text NOT NULL DEFAULT '',
    currency            char(3) NOT NULL,
    opening_balance     bigint NOT NULL,
    opening_date        date,
    closing_balance     bigint NOT NULL,
    closing_date        date,
    line_count          integer NOT NULL DEFAULT 0 CHECK (line_count >= 0),
    booked_count        integer NOT NULL DEFAULT 0,
    matched_count       integer NOT NULL DEFAULT 0,
    suspense_count      integer NOT NULL DEFAULT 0,
    exception_count     integer NOT NULL DEFAULT 0,
    duplicate_count     integer NOT NULL DEFAULT 0,
    imported_at         timestamptz NOT NULL DEFAULT now(),
    imported_by         text NOT NULL
);
CREATE INDEX bank_statements_account ON bank_statements (bank_account_id, closing_date, id);

CREATE TABLE statement_lines (
    id                  bigserial PRIMARY KEY,
    statement_id        bigint NOT NULL REFERENCES bank_statements (id),
    line_index          integer NOT NULL CHECK (line_index >= 0),
    bank_account_id     bigint NOT NULL REFERENCES accounts (id),
    identity            text NOT NULL CHECK (length(identity) BETWEEN 1 AND 300),
    value_date          date,
    booking_date        date,
    amount              bigint NOT NULL,             -- credit positive (bank's view)
    currency            char(3) NOT NULL,
    reversal            boolean NOT NULL DEFAULT false,
    bank_ref            text NOT NULL DEFAULT '',
    end_to_end_id       text NOT NULL DEFAULT '',
    counterparty_name   text NOT NULL DEFAULT '',
    counterparty_account text NOT NULL DEFAULT '',
    remittance          text NOT NULL DEFAULT '',
    return_reason       text NOT NULL DEFAULT '',
    payin_no            text NOT NULL DEFAULT '',    -- the pay-in number found (valid or not)
    status              text NOT NULL CHECK (status IN ('booked', 'matched', 'settled', 'returned',
                                                        'suspense', 'exception', 'duplicate')),
    rule                text NOT NULL,
    reason              text NOT NULL,
    candidates          text NOT NULL DEFAULT '',    -- ambiguous candidates, named
    entry_seq           bigint REFERENCES entries (seq), -- the (first) entry booked or matched
    disbursement_id     bigint REFERENCES disbursements (id),
    duplicate_of        bigint REFERENCES statement_lines (id),
    assigned_seq        bigint REFERENCES entries (seq), -- suspense -> case assignment
    assigned_at         timestamptz,
    assigned_by         text,
    UNIQUE (statement_id, line_index),
    CONSTRAINT duplicate_names_original CHECK ((status = 'duplicate') = (duplicate_of IS NOT NULL)),
    CONSTRAINT booked_has_entry CHECK (status IN ('exception', 'duplicate') OR entry_seq IS NOT NULL),
    CONSTRAINT assigned_only_suspense CHECK (assigned_seq IS NULL OR status = 'suspense')
);
-- The line identity: one line per bank account that is not a duplicate.
CREATE UNIQUE INDEX statement_lines_identity ON statement_lines (bank_account_id, identity)
    WHERE status <> 'duplicate';
CREATE INDEX statement_lines_open ON statement_lines (bank_account_id, status)
    WHERE status IN ('suspense', 'exception');

-- Every entry a line booked or matched (a batch debit settles several
-- payouts); an entry belongs to at most one line.
CREATE TABLE statement_line_entries (
    line_id             bigint NOT NULL REFERENCES statement_lines (id),
    entry_seq           bigint NOT NULL UNIQUE REFERENCES entries (seq),
    disbursement_id     bigint REFERENCES disbursements (id),
    PRIMARY KEY (line_id, entry_seq)
);

-- A payout that was paid and then came back on a statement (the bank
-- returned it after booking it out) may go from paid to returned; every
-- other rule of 001 stays.
CREATE OR REPLACE FUNCTION cl_disbursement_transition() RETURNS trigger LANGUAGE plpgsql AS $$
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
        OR (OLD.status = 'approved' AND NEW.kind = 'payout' AND NEW.status IN ('paid', 'returned'))
        OR (OLD.status = 'paid' AND NEW.kind = 'payout' AND NEW.status = 'returned')) THEN
        RAISE EXCEPTION 'disbursement % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

-- Statements are evidence: never changed or removed; lines change only
-- when a suspense line is assigned.
CREATE TRIGGER bank_statements_no_delete BEFORE DELETE ON bank_statements
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_change();
CREATE TRIGGER statement_lines_no_delete BEFORE DELETE ON statement_lines
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_change();
CREATE TRIGGER statement_line_entries_append_only BEFORE UPDATE OR DELETE ON statement_line_entries
    FOR EACH ROW EXECUTE FUNCTION cl_refuse_change();

------------------------------------------------------------------------------
-- Least privilege for the application role.

REVOKE ALL ON bank_statements, statement_lines, statement_line_entries FROM PUBLIC;
GRANT SELECT, INSERT ON bank_statements, statement_lines, statement_line_entries TO caseledger_app;
GRANT UPDATE (assigned_seq, assigned_at, assigned_by) ON statement_lines TO caseledger_app;
GRANT USAGE ON SEQUENCE bank_statements_id_seq, statement_lines_id_seq TO caseledger_app;

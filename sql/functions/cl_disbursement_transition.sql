-- Disbursement workflow: only forward transitions (requested -> approved |
-- rejected; an approved payout -> paid | returned; a paid payout that came
-- back on a statement -> returned). What was set at request time never
-- changes, a decision once recorded is never rewritten (each decision field
-- is written once, with the status change that makes it), and what a
-- payout's parts paid only grows, up to its amount.
CREATE OR REPLACE FUNCTION cl_disbursement_transition() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF NEW.kind <> OLD.kind OR NEW.account_id <> OLD.account_id
       OR NEW.to_account_id IS DISTINCT FROM OLD.to_account_id
       OR NEW.amount <> OLD.amount OR NEW.currency <> OLD.currency
       OR NEW.payee_name IS DISTINCT FROM OLD.payee_name
       OR NEW.payee_account IS DISTINCT FROM OLD.payee_account
       OR NEW.payee_bank IS DISTINCT FROM OLD.payee_bank
       OR NEW.purpose <> OLD.purpose
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
    IF (NEW.decided_by IS DISTINCT FROM OLD.decided_by AND OLD.decided_by IS NOT NULL)
       OR (NEW.decided_at IS DISTINCT FROM OLD.decided_at AND OLD.decided_at IS NOT NULL)
       OR (NEW.reject_reason IS DISTINCT FROM OLD.reject_reason AND OLD.reject_reason IS NOT NULL)
       OR (NEW.approve_seq IS DISTINCT FROM OLD.approve_seq AND OLD.approve_seq IS NOT NULL)
       OR (NEW.settle_seq IS DISTINCT FROM OLD.settle_seq AND OLD.settle_seq IS NOT NULL)
       OR (NEW.return_seq IS DISTINCT FROM OLD.return_seq AND OLD.return_seq IS NOT NULL)
       OR (NEW.paid_at IS DISTINCT FROM OLD.paid_at AND OLD.paid_at IS NOT NULL)
       OR (NEW.returned_at IS DISTINCT FROM OLD.returned_at AND OLD.returned_at IS NOT NULL) THEN
        RAISE EXCEPTION 'disbursement % decision fields are written once', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status = OLD.status AND (
           NEW.decided_by IS DISTINCT FROM OLD.decided_by
        OR NEW.decided_at IS DISTINCT FROM OLD.decided_at
        OR NEW.reject_reason IS DISTINCT FROM OLD.reject_reason
        OR NEW.approve_seq IS DISTINCT FROM OLD.approve_seq
        OR NEW.settle_seq IS DISTINCT FROM OLD.settle_seq
        OR NEW.return_seq IS DISTINCT FROM OLD.return_seq
        OR NEW.paid_at IS DISTINCT FROM OLD.paid_at
        OR NEW.returned_at IS DISTINCT FROM OLD.returned_at
        OR NEW.bank_ref IS DISTINCT FROM OLD.bank_ref) THEN
        RAISE EXCEPTION 'disbursement % decision fields change only with its status', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.paid_minor < OLD.paid_minor THEN
        RAISE EXCEPTION 'disbursement % paid parts only grow', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION cl_disbursement_transition() FROM PUBLIC;
CREATE OR REPLACE TRIGGER disbursements_transition BEFORE UPDATE ON disbursements
    FOR EACH ROW EXECUTE FUNCTION cl_disbursement_transition();

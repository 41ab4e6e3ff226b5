-- The fields of an account other than its balance, checked when they are
-- written (CHECK constraints would be evaluated again at every balance
-- update). Each rule reads like the CHECK it replaces: NULL (unknown)
-- passes. A case is closed only when it holds nothing.
CREATE OR REPLACE FUNCTION cl_account_fields() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
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
    IF TG_OP = 'UPDATE' AND NEW.status = 'closed' AND OLD.status <> 'closed'
       AND NEW.balance <> 0 THEN
        RAISE EXCEPTION 'account % holds %: it cannot be closed', NEW.id, -NEW.balance
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION cl_account_fields() FROM PUBLIC;
CREATE OR REPLACE TRIGGER accounts_fields
    BEFORE INSERT OR UPDATE OF kind, currency, status, case_no, case_no_norm, payin_no, court,
                               access_code_hash, bank_account_no ON accounts
    FOR EACH ROW EXECUTE FUNCTION cl_account_fields();

-- The largest amount one posting may move on a case or suspense account
-- (one receipt, statement line, payout or transfer), in minor units:
-- ¥10,000,000,000.00. One amount near bigint's limit would pin the custody
-- account (every later booking failing with numeric overflow); the server's
-- --amount-max (CASELEDGER_AMOUNT_MAX) can only lower it. A deployment that
-- needs more changes this number here and runs caseledger migrate.
CREATE OR REPLACE FUNCTION cl_amount_max() RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 1000000000000::bigint
$$;
REVOKE ALL ON FUNCTION cl_amount_max() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_amount_max() TO caseledger_app;

-- ISO 7064 MOD 97-10: the whole number is congruent to 1 modulo 97 (pay-in
-- numbers). Not STRICT and without SET clauses, so that the planner inlines
-- it into the account fields check instead of calling a function.
CREATE OR REPLACE FUNCTION cl_mod97_valid(digits text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT digits ~ '^[0-9]{16}$' AND (digits::numeric % 97) = 1
$$;
REVOKE ALL ON FUNCTION cl_mod97_valid(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_mod97_valid(text) TO caseledger_app;

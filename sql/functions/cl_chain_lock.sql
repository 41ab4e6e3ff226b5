-- A booking transaction's first step: wait for the head and read it. The
-- application role may lock the head but not move it itself.
CREATE OR REPLACE FUNCTION cl_chain_lock(OUT seq bigint, OUT hash bytea)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT c.seq, c.hash FROM public.chain_head c FOR UPDATE
$$;
REVOKE ALL ON FUNCTION cl_chain_lock() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_chain_lock() TO caseledger_app;

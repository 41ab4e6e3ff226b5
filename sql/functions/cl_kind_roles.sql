-- Who may book an entry of each kind: the roles are derived here from the
-- kind, never taken from the caller. (Requests and rejections, which book
-- nothing, are checked by the application; payouts and transfers then need
-- an approver other than their requester, checked by cl_batch_first_failure.)
CREATE OR REPLACE FUNCTION cl_kind_roles(p_kind text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_kind
        WHEN 'receipt' THEN ARRAY['clerk', 'bank', 'admin']
        WHEN 'suspense_receipt' THEN ARRAY['clerk', 'bank', 'admin']
        WHEN 'assign' THEN ARRAY['clerk', 'admin']
        WHEN 'disbursement' THEN ARRAY['approver']
        WHEN 'transfer' THEN ARRAY['approver']
        WHEN 'reversal' THEN ARRAY['approver']
        WHEN 'settle' THEN ARRAY['clerk', 'approver', 'bank', 'admin']
        WHEN 'return' THEN ARRAY['clerk', 'approver', 'bank', 'admin']
        ELSE ARRAY[]::text[] END
$$;
REVOKE ALL ON FUNCTION cl_kind_roles(text) FROM PUBLIC;

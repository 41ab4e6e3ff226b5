-- The day an entry counts on: its value date, else the UTC day it was
-- booked (created_at_us, microseconds since 1970). Used by the index
-- entries_day (migration 007): never change what it computes without
-- rebuilding that index in a migration.
CREATE OR REPLACE FUNCTION cl_entry_day(p_value_date date, p_created_at_us bigint) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(p_value_date, DATE '1970-01-01' + (p_created_at_us / 86400000000)::int)
$$;
REVOKE ALL ON FUNCTION cl_entry_day(date, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cl_entry_day(date, bigint) TO caseledger_app;

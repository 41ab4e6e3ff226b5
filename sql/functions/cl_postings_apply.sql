-- Postings move the accounts' cached balances and a case's received and
-- disbursed totals, once per statement and account (set-based: a batch of
-- entries updates the hot custody account once); the CHECK on
-- accounts.balance then refuses a negative case balance. A posting must
-- belong to an entry, and its account must exist, match its currency and
-- not be closed; any other account or a missing entry fails the whole
-- insert. The entries of the new postings are read once, by key, for their
-- kinds (which total a posting moves: cl_case_total), which also tells
-- whether each exists.
--
-- Planner settings, each against a plan that was measured:
--   enable_nestloop = off: the planner cannot know a transition table's
--     size and chose a nested loop that probed the whole list of the
--     batch's accounts once per account: quadratic in the accounts of a
--     chunk of a statement import (57b4cd0: an import at 100,000 cases).
--   enable_seqscan = off: planned on a fresh database's still empty tables
--     (its first import), a scan of accounts and entries looked cheapest and
--     then read every row the import had added, for each chunk (f7b1229:
--     a fresh database's first 400,000-line camt.053, 5,558 -> 9,988
--     lines/s). Every access here is by key.
CREATE OR REPLACE FUNCTION cl_postings_apply() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
SET enable_nestloop = off SET enable_seqscan = off AS $$
DECLARE
    account_ids bigint[];
    entry_seqs bigint[];
    accounts_count bigint;
    updated_count bigint;
    entries_count bigint;
    orphan bigint;
    bad bigint;
BEGIN
    account_ids := ARRAY(SELECT DISTINCT n.account_id FROM new_postings n);
    entry_seqs := ARRAY(SELECT DISTINCT n.entry_seq FROM new_postings n);
    WITH totals AS (
        SELECT e.seq, cl_case_total(e.kind, CASE WHEN e.kind = 'reversal' THEN
                   (SELECT r.kind FROM entries r WHERE r.seq = e.reverses_seq) END) AS total
        FROM entries e WHERE e.seq = ANY (entry_seqs)),
    per_account AS (
        SELECT n.account_id, sum(n.amount)::bigint AS delta,
               coalesce(-sum(n.amount) FILTER (WHERE t.total = 'received'), 0)::bigint
                   AS received_delta,
               coalesce(sum(n.amount) FILTER (WHERE t.total = 'disbursed'), 0)::bigint
                   AS disbursed_delta,
               min(n.currency) AS currency_min, max(n.currency) AS currency_max
        FROM new_postings n LEFT JOIN totals t ON t.seq = n.entry_seq
        GROUP BY n.account_id),
    updated AS (
        UPDATE accounts a SET
            balance = a.balance + d.delta,
            received_total = CASE WHEN a.kind = 'case'
                                  THEN a.received_total + d.received_delta ELSE 0 END,
            disbursed_total = CASE WHEN a.kind = 'case'
                                   THEN a.disbursed_total + d.disbursed_delta ELSE 0 END
        FROM per_account d
        WHERE a.id = ANY (account_ids)
          AND a.id = d.account_id AND a.status <> 'closed'
          AND a.currency = d.currency_min AND a.currency = d.currency_max
        RETURNING a.id)
    SELECT cardinality(account_ids), (SELECT count(*) FROM updated), (SELECT count(*) FROM totals)
        INTO accounts_count, updated_count, entries_count;
    IF entries_count <> cardinality(entry_seqs) THEN
        SELECT s.seq INTO orphan FROM unnest(entry_seqs) AS s (seq)
            WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.seq = s.seq) LIMIT 1;
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
REVOKE ALL ON FUNCTION cl_postings_apply() FROM PUBLIC;
CREATE OR REPLACE TRIGGER postings_apply AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION cl_postings_apply();

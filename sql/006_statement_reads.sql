-- caseledger migration 006: indexes for reading statements over the API.
--
-- GET /v1/statements/{id} pages a statement's lines by their index (003's
-- UNIQUE (statement_id, line_index) serves it: no index of its own, which
-- every imported line would pay for); an upload looks for an earlier import
-- of the same file (digest) for the account;
-- the exceptions queue pages the lines still waiting for a person (an
-- exception, or a suspense line not yet assigned to a case) by line id.

CREATE INDEX bank_statements_file ON bank_statements (bank_account_id, file_digest, id);
CREATE INDEX statement_lines_queue ON statement_lines (id)
    WHERE status = 'exception' OR (status = 'suspense' AND assigned_seq IS NULL);

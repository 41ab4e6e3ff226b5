-- caseledger migration 011: the payee of an approved request is signed.
--
-- An entry's canonical encoding has a version (ledger/chain.h). Version 2
-- adds the request an entry approves and that request's payee (name,
-- account, bank), read back by verify from the disbursement whose
-- approve_seq is the entry: a payee changed after its approval is then a
-- bad hash at the approval's seq. Every entry records the version it was
-- sealed with. The rows already booked were sealed as version 1 and keep
-- it; every row booked from now on is version 2 through the default, so
-- the booking function's INSERT does not name the column. (The encoding's
-- magic is hashed, so a version changed in the table is a bad hash too.)
ALTER TABLE entries
    ADD COLUMN encoding smallint NOT NULL DEFAULT 1 CHECK (encoding IN (1, 2));
ALTER TABLE entries ALTER COLUMN encoding SET DEFAULT 2;

-- One request per approval: verify reads the payee of the request whose
-- approve_seq is an entry (and refuses two), and reads them a page of
-- entries at a time by range.
CREATE UNIQUE INDEX disbursements_approve_seq ON disbursements (approve_seq)
    WHERE approve_seq IS NOT NULL;

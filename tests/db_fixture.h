/* A fresh database per test suite on the cluster `scripts/dev test` starts
 * (CASELEDGER_ADMIN_DSN), migrated, with keys in a temporary directory, one
 * custody bank account and a user for each role. */
#ifndef TESTS_DB_FIXTURE_H
#define TESTS_DB_FIXTURE_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "ledger.h"

#define FIXTURE_DSN_SIZE 768
#define FIXTURE_PATH_SIZE 256

struct fixture {
    char database[64];
    char app_dsn[FIXTURE_DSN_SIZE];   /* caseledger_app on the test database */
    char owner_dsn[FIXTURE_DSN_SIZE]; /* caseledger_owner */
    char super_dsn[FIXTURE_DSN_SIZE]; /* postgres superuser on the test database */
    char key_dir[FIXTURE_PATH_SIZE];
    char key_file[FIXTURE_PATH_SIZE + 32];
    char access_key_file[FIXTURE_PATH_SIZE + 32];
    char keyring_file[FIXTURE_PATH_SIZE + 32];
    struct ledger_config config;
    int64_t bank_account_id;
};

/* Users created by fixture_setup: clerk1, clerk2 (clerk), approver1,
 * approver2 (approver), auditor1, admin1, bank1. Aborts the test process
 * with a message when the cluster is not there. */
void fixture_setup(struct fixture *fixture, const char *name);
/* Check runs no checked teardown after a failed assertion (the forked test
 * process just exits): a suite's main() calls this after its run to drop
 * the databases "cltest_NAME_..." and key directories left by test
 * processes that are gone. CASELEDGER_KEEP_DB=1 keeps them for a look. */
void fixture_drop_leftovers(const char *name);
void fixture_teardown(struct fixture *fixture);
/* A new handle on the test database (signing and access keys loaded). */
struct ledger *fixture_ledger(const struct fixture *fixture);
/* A handle on the owner's connection (no keys): for what only the owner
 * may do, such as adding users. */
struct ledger *fixture_owner_ledger(const struct fixture *f);
/* A superuser connection to the test database (for tampering and
 * checking); PQfinish it. */
PGconn *fixture_super(const struct fixture *fixture);
/* Runs SQL as superuser and returns the first column of the first row as a
 * new string ("" when no row); aborts on an error. free() it. */
char *fixture_query(const struct fixture *fixture, const char *sql);
/* Same, as an int64 (0 when NULL or no row). */
long long fixture_query_int(const struct fixture *fixture, const char *sql);
/* A digest of everything booked: entries, postings, balances, disbursement
 * states and idempotency records. Equal digests = untouched books. */
char *fixture_books_digest(const struct fixture *fixture);

/* Terminates every backend of the application role on the fixture's
 * database (what a restart of PostgreSQL does to a server's connections,
 * without disturbing other databases) and waits until they have ended;
 * returns how many there were. */
long long fixture_cut_connections(const struct fixture *fixture);
/* ALTER DATABASE ... ALLOW_CONNECTIONS: while false, every new connection
 * to the fixture's database is refused. */
void fixture_allow_connections(const struct fixture *fixture, bool allowed);

/* Opens a case with one applicant as clerk1; returns its account id and
 * writes its access code (may be NULL). */
int64_t fixture_open_case(struct ledger *ledger, const char *case_no, char *access_code_out);
/* Books a receipt of amount_minor to case_no as clerk1. */
void fixture_receipt(struct ledger *ledger, const char *case_no, long long amount_minor,
                     const char *key);

#endif

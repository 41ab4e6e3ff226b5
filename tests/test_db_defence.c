/* The database as the last line of defence (issue: hardening), on the real
 * cluster. Each test acts as the application role (caseledger_app) with
 * plain SQL, the way a compromised or buggy server could, and shows that
 * the books do not change:
 *
 *   temporary tables     no temporary table for the application, and no
 *                        function that a temporary table could shadow;
 *   who may book what    cl_book_batch derives the allowed roles from the
 *                        entry's kind and the shape of the postings from
 *                        it: money leaves a case only by an approved
 *                        request whose approver is not its requester;
 *   grants               users, decisions and what they name are not the
 *                        application's to write;
 *   idempotency keys     a user's key is its own; the importer's keys are
 *                        out of every client's reach;
 *   payouts in parts     a settlement or return of a payout that bank
 *                        lines paid in part moves only what is left.
 *
 * Every test gets its own fresh database (db_fixture). */
#include <check.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db_fixture.h"
#include "ledger.h"

Suite *db_defence_suite(void);

#define TEST_TIMEOUT_S 60
#define SQL_SIZE 4096
#define FUNDED_MINOR 500000

static struct fixture fx;
static pid_t runner_pid;

static void setup(void)
{
    char name[32];
    snprintf(name, sizeof name, "defence_%ld", (long)runner_pid);
    fixture_setup(&fx, name);
}

static void teardown(void)
{
    fixture_teardown(&fx);
}

static long long query_int(const char *format, ...) __attribute__((format(printf, 1, 2)));
static long long query_int(const char *format, ...)
{
    char sql[SQL_SIZE];
    va_list args;
    va_start(args, format);
    int written = vsnprintf(sql, sizeof sql, format, args);
    va_end(args);
    ck_assert(written > 0 && written < SQL_SIZE);
    return fixture_query_int(&fx, sql);
}

static PGconn *connect_app(void)
{
    PGconn *conn = PQconnectdb(fx.app_dsn);
    ck_assert_msg(PQstatus(conn) == CONNECTION_OK, "app connection: %s", PQerrorMessage(conn));
    return conn;
}

/* Runs sql on conn; the SQLSTATE it ended with ("00000": success) and, for
 * a query, its first value (empty otherwise), written into value. */
static void run_sql(PGconn *conn, const char *sql, char state[6], char *value, size_t value_size)
{
    PGresult *result = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(result);
    const char *error_state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    snprintf(state, 6, "%s", ok ? "00000" : error_state ? error_state : "?????");
    snprintf(value, value_size, "%s",
             status == PGRES_TUPLES_OK && PQntuples(result) > 0 ? PQgetvalue(result, 0, 0) : "");
    PQclear(result);
}

#define EXPECT_SQL(conn, expected, sql)                                                            \
    do {                                                                                           \
        char state_[6];                                                                            \
        char value_[256];                                                                          \
        run_sql(conn, sql, state_, value_, sizeof value_);                                         \
        ck_assert_msg(strcmp(state_, expected) == 0, "line %d: %s: SQLSTATE %s, want %s",          \
                      __LINE__, sql, state_, expected);                                            \
    } while (0)

/* A funded case: opened, FUNDED_MINOR received through the ledger. */
static int64_t funded_case(struct ledger *ledger, const char *case_no)
{
    int64_t id = fixture_open_case(ledger, case_no, NULL);
    struct ledger_receipt_request receipt = {.case_no = case_no,
                                             .amount_minor = FUNDED_MINOR,
                                             .payer = "Debtor",
                                             .bank_ref = case_no,
                                             .value_date_days = LEDGER_VALUE_DATE_NONE};
    struct ledger_booking booking;
    char key[96];
    snprintf(key, sizeof key, "fund-%s", case_no);
    ck_assert_int_eq(ledger_receipt(ledger, "clerk1", &receipt, key, &booking), LEDGER_OK);
    return id;
}

static int64_t system_account(const char *kind)
{
    return query_int("SELECT id FROM accounts WHERE kind = '%s' AND currency = 'CNY'", kind);
}

/* One entry for cl_book_batch, written by hand as a caller of the
 * application role could: sealed onto the real head (a made-up hash and
 * signature: the database checks the chain's links, verify the
 * signatures). */
struct forged {
    const char *kind;
    const char *actor;
    const char *disbursement_id; /* "NULL" or a number */
    const char *from;            /* "NULL" or 'state' */
    const char *to;
    const char *reverses_seq; /* "NULL" or a number */
    int postings_count;
    int64_t accounts[4];
    int64_t amounts[4];
};

static void append(char *sql, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *sql, size_t size, const char *format, ...)
{
    size_t used = strlen(sql);
    va_list args;
    va_start(args, format);
    int written = vsnprintf(sql + used, size - used, format, args);
    va_end(args);
    ck_assert(written > 0 && (size_t)written < size - used);
}

/* The cl_book_batch call for one forged entry under key `key`. */
static void forged_sql(char sql[SQL_SIZE], const struct forged *f, const char *key)
{
    sql[0] = '\0';
    append(sql, SQL_SIZE,
           "SELECT coalesce(b.code, 'ok') FROM chain_head h, signing_keys k, LATERAL "
           "cl_book_batch(h.seq, h.hash, ARRAY[1], ARRAY[h.seq + 1], ARRAY['%s'], "
           "ARRAY[1700000000000000]::bigint[], ARRAY['%s'], ARRAY[%s]::bigint[], "
           "ARRAY[NULL]::date[], ARRAY['forged'], ARRAY['forged'], ARRAY[k.key_id], "
           "ARRAY[h.hash], ARRAY[sha256(random()::text::bytea)], "
           "ARRAY[sha512(random()::text::bytea)], ARRAY['%s'], ARRAY['%s'], ARRAY['forged'], "
           "ARRAY[sha256('forged')], ARRAY[NULL]::bigint[], ARRAY[%s]::bigint[], "
           "ARRAY[%s]::text[], ARRAY[%s]::text[], ",
           f->kind, f->actor, f->reverses_seq, f->actor, key, f->disbursement_id, f->from, f->to);
    append(sql, SQL_SIZE, "ARRAY[");
    for (int p = 0; p < f->postings_count; p++)
        append(sql, SQL_SIZE, "%s1", p ? ", " : "");
    append(sql, SQL_SIZE, "], ARRAY[");
    for (int p = 0; p < f->postings_count; p++)
        append(sql, SQL_SIZE, "%s%d", p ? ", " : "", p);
    append(sql, SQL_SIZE, "]::smallint[], ARRAY[");
    for (int p = 0; p < f->postings_count; p++)
        append(sql, SQL_SIZE, "%s%lld", p ? ", " : "", (long long)f->accounts[p]);
    append(sql, SQL_SIZE, "]::bigint[], ARRAY[");
    for (int p = 0; p < f->postings_count; p++)
        append(sql, SQL_SIZE, "%s%lld", p ? ", " : "", (long long)f->amounts[p]);
    append(sql, SQL_SIZE, "]::bigint[], ARRAY[");
    for (int p = 0; p < f->postings_count; p++)
        append(sql, SQL_SIZE, "%s'CNY'", p ? ", " : "");
    append(sql, SQL_SIZE, "]) b");
}

/* Sends the forged entry as the application role in its own transaction,
 * committed when the database answers 'ok'; asserts the database refused
 * it (a code other than 'ok', or an error at the call or at commit) with
 * the books exactly as before. Returns the code ("error" for an error). */
static void expect_forged_refused(int line, const struct forged *f, const char *want_code)
{
    char *before = fixture_books_digest(&fx);
    long long head_before = query_int("SELECT seq FROM chain_head");
    PGconn *app = connect_app();
    char sql[SQL_SIZE];
    forged_sql(sql, f, "forged-key");
    char state[6];
    char code[256];
    run_sql(app, "BEGIN", state, code, sizeof code);
    run_sql(app, sql, state, code, sizeof code);
    if (strcmp(state, "00000") != 0)
        snprintf(code, sizeof code, "error %s", state);
    else if (strcmp(code, "ok") == 0) {
        char commit_value[8];
        run_sql(app, "COMMIT", state, commit_value, sizeof commit_value);
        if (strcmp(state, "00000") != 0)
            snprintf(code, sizeof code, "error %s", state);
    }
    run_sql(app, "ROLLBACK", state, sql, 8);
    PQfinish(app);
    char *after = fixture_books_digest(&fx);
    ck_assert_msg(strcmp(code, want_code) == 0, "line %d: %s by %s: got %s, want %s", line, f->kind,
                  f->actor, code, want_code);
    ck_assert_msg(strcmp(before, after) == 0, "line %d: the books changed", line);
    ck_assert_int_eq(query_int("SELECT seq FROM chain_head"), head_before);
    free(before);
    free(after);
}
#define EXPECT_FORGED_REFUSED(want, ...)                                                           \
    expect_forged_refused(__LINE__, &(struct forged){__VA_ARGS__}, want)

/* ---- temporary tables ---------------------------------------------------- */

/* As reproduced on the commit before: a temporary chain_head made
 * cl_book_batch book a single posting of -100000 on a case (money from
 * nowhere). The application may no longer make a temporary table at all. */
START_TEST(app_cannot_make_temporary_tables)
{
    struct ledger *ledger = fixture_ledger(&fx);
    funded_case(ledger, "(2024)T1");
    ledger_close(ledger);
    PGconn *app = connect_app();
    EXPECT_SQL(app, "42501", "CREATE TEMPORARY TABLE chain_head (singleton boolean)");
    EXPECT_SQL(app, "42501", "CREATE TEMPORARY TABLE accounts (id bigint)");
    EXPECT_SQL(app, "42501", "CREATE TABLE accounts_copy (id bigint)");
    PQfinish(app);
}
END_TEST

/* Even a role that may make temporary tables (the application, were the
 * grant ever given back) cannot make the booking function read one: every
 * function pins its search_path with pg_temp last. The shadowing of the
 * reproduction, step by step: the books stay as they were. */
START_TEST(temporary_head_does_not_shadow_the_real_one)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = funded_case(ledger, "(2024)T2");
    ledger_close(ledger);
    PGconn *super = fixture_super(&fx);
    char grant[256];
    snprintf(grant, sizeof grant, "GRANT TEMPORARY ON DATABASE %s TO caseledger_app", fx.database);
    EXPECT_SQL(super, "00000", grant);
    PQfinish(super);
    char *before = fixture_books_digest(&fx);
    PGconn *app = connect_app();
    EXPECT_SQL(app, "00000",
               "CREATE TEMPORARY TABLE chain_head (singleton boolean PRIMARY KEY DEFAULT true, "
               "seq bigint, hash bytea)");
    /* a head of the attacker's own making, far from the real one */
    EXPECT_SQL(app, "00000",
               "INSERT INTO chain_head SELECT true, seq + 1000, sha256('fake') "
               "FROM public.chain_head");
    EXPECT_SQL(app, "00000", "GRANT ALL ON chain_head TO caseledger_owner");
    char sql[SQL_SIZE];
    /* a receipt of the right shape, sealed onto the fake head (the forged
     * SQL reads "chain_head": in this session, the temporary one) */
    struct forged f = {.kind = "receipt",
                       .actor = "clerk1",
                       .disbursement_id = "NULL",
                       .from = "NULL",
                       .to = "NULL",
                       .reverses_seq = "NULL",
                       .postings_count = 2,
                       .accounts = {fx.bank_account_id, case_id},
                       .amounts = {100000, -100000}};
    forged_sql(sql, &f, "shadow");
    char state[6];
    char code[64];
    char commit_value[8];
    run_sql(app, "BEGIN", state, commit_value, sizeof commit_value);
    run_sql(app, sql, state, code, sizeof code);
    bool refused = strcmp(state, "00000") != 0 || strcmp(code, "ok") != 0;
    if (!refused) {
        run_sql(app, "COMMIT", state, commit_value, sizeof commit_value);
        refused = strcmp(state, "00000") != 0;
    }
    char rollback[8];
    run_sql(app, "ROLLBACK", state, rollback, sizeof rollback);
    PQfinish(app);
    char *after = fixture_books_digest(&fx);
    ck_assert_msg(refused, "an entry was booked onto a temporary chain_head");
    ck_assert_str_eq(code, "stale");
    ck_assert_str_eq(before, after);
    ck_assert_int_eq(query_int("SELECT -balance FROM accounts WHERE id = %lld", (long long)case_id),
                     FUNDED_MINOR);
    free(before);
    free(after);
}
END_TEST

/* Every function that runs with the owner's rights or as a trigger pins its
 * search_path with pg_temp last; none is callable by PUBLIC. */
START_TEST(functions_pin_search_path)
{
    long long unpinned = query_int(
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND (p.prosecdef OR p.prorettype = 'trigger'::regtype) "
        "AND NOT coalesce('search_path=public, pg_temp' = ANY (p.proconfig), false)");
    ck_assert_int_eq(unpinned, 0);
    long long public_execute =
        query_int("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                  "WHERE n.nspname = 'public' AND p.prokind = 'f' "
                  "AND has_function_privilege('public', p.oid, 'EXECUTE')");
    ck_assert_int_eq(public_execute, 0);
}
END_TEST

/* ---- who may book what ----------------------------------------------------- */

/* As reproduced on the commit before: kind receipt, roles {approver}, case
 * +X / in_transit -X drained a case with no request and no second person.
 * The roles are the database's own now, and so is the shape of a receipt. */
START_TEST(receipt_shaped_drain_refused)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = funded_case(ledger, "(2024)D1");
    ledger_close(ledger);
    int64_t in_transit = system_account("in_transit");
    int64_t bank = system_account("bank");
    /* an approver may not book a receipt at all */
    EXPECT_FORGED_REFUSED("forbidden", .kind = "receipt", .actor = "approver1",
                          .disbursement_id = "NULL", .from = "NULL", .to = "NULL",
                          .reverses_seq = "NULL", .postings_count = 2,
                          .accounts = {case_id, in_transit}, .amounts = {100000, -100000});
    /* a clerk may, but a receipt debits the bank and credits cases */
    EXPECT_FORGED_REFUSED("bad_postings", .kind = "receipt", .actor = "clerk1",
                          .disbursement_id = "NULL", .from = "NULL", .to = "NULL",
                          .reverses_seq = "NULL", .postings_count = 2,
                          .accounts = {case_id, in_transit}, .amounts = {100000, -100000});
    EXPECT_FORGED_REFUSED("bad_postings", .kind = "receipt", .actor = "clerk1",
                          .disbursement_id = "NULL", .from = "NULL", .to = "NULL",
                          .reverses_seq = "NULL", .postings_count = 2, .accounts = {case_id, bank},
                          .amounts = {100000, -100000});
    /* a one-sided entry: refused whatever its kind */
    EXPECT_FORGED_REFUSED("bad_postings", .kind = "receipt", .actor = "clerk1",
                          .disbursement_id = "NULL", .from = "NULL", .to = "NULL",
                          .reverses_seq = "NULL", .postings_count = 1, .accounts = {case_id},
                          .amounts = {-100000});
}
END_TEST

/* No posting on a case or suspense account over cl_amount_max(), whoever
 * books it (the server checks its own, lower or equal, limit first). */
START_TEST(amount_over_the_ceiling_refused)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = funded_case(ledger, "(2024)D0");
    ledger_close(ledger);
    int64_t bank = system_account("bank");
    EXPECT_FORGED_REFUSED("amount_too_large", .kind = "receipt", .actor = "clerk1",
                          .disbursement_id = "NULL", .from = "NULL", .to = "NULL",
                          .reverses_seq = "NULL", .postings_count = 2, .accounts = {bank, case_id},
                          .amounts = {1000000000001LL, -1000000000001LL});
    EXPECT_FORGED_REFUSED("amount_too_large", .kind = "suspense_receipt", .actor = "clerk1",
                          .disbursement_id = "NULL", .from = "NULL", .to = "NULL",
                          .reverses_seq = "NULL", .postings_count = 2,
                          .accounts = {bank, system_account("suspense")},
                          .amounts = {INT64_MAX, -INT64_MAX});
}
END_TEST

/* Money out of a case only by a request approved by someone else, for its
 * amount, to in transit. */
START_TEST(outflow_needs_an_approved_request)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = funded_case(ledger, "(2024)D2");
    int64_t other_id = funded_case(ledger, "(2024)D3");
    struct ledger_disbursement_request payout = {.case_no = "(2024)D2",
                                                 .amount_minor = 10000,
                                                 .payee_name = "Creditor",
                                                 .payee_account = "62220001"};
    int64_t payout_id = 0;
    bool replayed = false;
    ck_assert_int_eq(
        ledger_disbursement_request(ledger, "clerk1", &payout, "req-d2", &payout_id, &replayed),
        LEDGER_OK);
    ledger_close(ledger);
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)payout_id);
    int64_t in_transit = system_account("in_transit");
    /* a payout entry naming no request */
    EXPECT_FORGED_REFUSED("no_approved_request", .kind = "disbursement", .actor = "approver1",
                          .disbursement_id = "NULL", .from = "NULL", .to = "NULL",
                          .reverses_seq = "NULL", .postings_count = 2,
                          .accounts = {case_id, in_transit}, .amounts = {10000, -10000});
    /* naming the request, for more than it asks */
    EXPECT_FORGED_REFUSED("bad_postings", .kind = "disbursement", .actor = "approver1",
                          .disbursement_id = id, .from = "'requested'", .to = "'approved'",
                          .reverses_seq = "NULL", .postings_count = 2,
                          .accounts = {case_id, in_transit}, .amounts = {400000, -400000});
    /* naming the request, from another case */
    EXPECT_FORGED_REFUSED("bad_postings", .kind = "disbursement", .actor = "approver1",
                          .disbursement_id = id, .from = "'requested'", .to = "'approved'",
                          .reverses_seq = "NULL", .postings_count = 2,
                          .accounts = {other_id, in_transit}, .amounts = {10000, -10000});
    /* as a transfer into another case */
    EXPECT_FORGED_REFUSED("bad_state", .kind = "transfer", .actor = "approver1",
                          .disbursement_id = id, .from = "'requested'", .to = "'approved'",
                          .reverses_seq = "NULL", .postings_count = 2,
                          .accounts = {case_id, other_id}, .amounts = {10000, -10000});
    /* approved by its own requester (a clerk cannot approve at all) */
    EXPECT_FORGED_REFUSED("forbidden", .kind = "disbursement", .actor = "clerk1",
                          .disbursement_id = id, .from = "'requested'", .to = "'approved'",
                          .reverses_seq = "NULL", .postings_count = 2,
                          .accounts = {case_id, in_transit}, .amounts = {10000, -10000});
    /* settled before it was approved */
    EXPECT_FORGED_REFUSED("bad_state", .kind = "settle", .actor = "clerk1", .disbursement_id = id,
                          .from = "'approved'", .to = "'paid'", .reverses_seq = "NULL",
                          .postings_count = 2, .accounts = {in_transit, system_account("bank")},
                          .amounts = {10000, -10000});
    /* a reversal that does not mirror the entry it names (entry 1: the
     * first case's funding) */
    EXPECT_FORGED_REFUSED(
        "bad_postings", .kind = "reversal", .actor = "approver1", .disbursement_id = "NULL",
        .from = "NULL", .to = "NULL", .reverses_seq = "1", .postings_count = 2,
        .accounts = {other_id, system_account("bank")}, .amounts = {FUNDED_MINOR, -FUNDED_MINOR});
}
END_TEST

/* The four eyes hold in SQL: an approver who requested a payout cannot
 * approve it even by calling the database. */
START_TEST(four_eyes_in_sql)
{
    PGconn *super = fixture_super(&fx);
    EXPECT_SQL(super, "00000", "UPDATE users SET role = 'approver' WHERE name = 'clerk2'");
    PQfinish(super);
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = funded_case(ledger, "(2024)D4");
    ledger_close(ledger);
    PGconn *app = connect_app();
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO disbursements (account_id, amount, currency, payee_name, "
             "payee_account, requested_by) VALUES (%lld, 10000, 'CNY', 'Me', '1', 'clerk2') "
             "RETURNING id",
             (long long)case_id);
    char state[6];
    char id[32];
    run_sql(app, sql, state, id, sizeof id);
    ck_assert_str_eq(state, "00000");
    PQfinish(app);
    EXPECT_FORGED_REFUSED(
        "same_user", .kind = "disbursement", .actor = "clerk2", .disbursement_id = id,
        .from = "'requested'", .to = "'approved'", .reverses_seq = "NULL", .postings_count = 2,
        .accounts = {case_id, system_account("in_transit")}, .amounts = {10000, -10000});
}
END_TEST

/* ---- grants ---------------------------------------------------------------- */

START_TEST(app_privileges_are_least)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = funded_case(ledger, "(2024)G1");
    struct ledger_disbursement_request payout = {.case_no = "(2024)G1",
                                                 .amount_minor = 10000,
                                                 .payee_name = "Creditor",
                                                 .payee_account = "62220001"};
    int64_t payout_id = 0;
    bool replayed = false;
    ck_assert_int_eq(
        ledger_disbursement_request(ledger, "clerk1", &payout, "req-g1", &payout_id, &replayed),
        LEDGER_OK);
    struct ledger_booking booking;
    ck_assert_int_eq(ledger_disbursement_approve(ledger, "approver1", payout_id, "ap-g1", &booking),
                     LEDGER_OK);
    ledger_close(ledger);
    char *before = fixture_books_digest(&fx);
    PGconn *app = connect_app();
    char sql[512];
    /* users are the owner's */
    EXPECT_SQL(app, "42501", "INSERT INTO users (name, role) VALUES ('mallory', 'approver')");
    EXPECT_SQL(app, "42501", "UPDATE users SET token_hash = NULL WHERE name = 'approver1'");
    EXPECT_SQL(app, "42501", "UPDATE users SET disabled = true WHERE name = 'approver1'");
    /* a decision is not rewritten, nor made by hand */
    snprintf(sql, sizeof sql, "UPDATE disbursements SET decided_by = 'clerk2' WHERE id = %lld",
             (long long)payout_id);
    EXPECT_SQL(app, "23514", sql);
    snprintf(sql, sizeof sql, "UPDATE disbursements SET approve_seq = 1 WHERE id = %lld",
             (long long)payout_id);
    EXPECT_SQL(app, "42501", sql);
    snprintf(sql, sizeof sql, "UPDATE disbursements SET bank_ref = 'X' WHERE id = %lld",
             (long long)payout_id);
    EXPECT_SQL(app, "42501", sql);
    snprintf(sql, sizeof sql, "UPDATE disbursements SET status = 'paid' WHERE id = %lld",
             (long long)payout_id);
    EXPECT_SQL(app, "23514", sql);
    /* a request made approved, or naming an entry as its approval */
    snprintf(sql, sizeof sql,
             "INSERT INTO disbursements (account_id, amount, currency, payee_name, "
             "payee_account, requested_by, status) VALUES (%lld, 1, 'CNY', 'M', '1', 'clerk1', "
             "'approved')",
             (long long)case_id);
    EXPECT_SQL(app, "42501", sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO disbursements (account_id, amount, currency, payee_name, "
             "payee_account, requested_by, approve_seq) VALUES (%lld, 1, 'CNY', 'M', '1', "
             "'clerk1', 1)",
             (long long)case_id);
    EXPECT_SQL(app, "42501", sql);
    /* a case that holds money is not closed */
    snprintf(sql, sizeof sql, "UPDATE accounts SET status = 'closed' WHERE id = %lld",
             (long long)case_id);
    EXPECT_SQL(app, "23514", sql);
    /* the importer's reconciliation state and the journal are not written */
    EXPECT_SQL(app, "42501", "DELETE FROM unreconciled_entries");
    EXPECT_SQL(app, "42501", "UPDATE chain_head SET seq = 0");
    EXPECT_SQL(app, "42501", "INSERT INTO postings VALUES (1, 9, 1, 1, 'CNY')");
    PQfinish(app);
    char *after = fixture_books_digest(&fx);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

/* ---- idempotency keys ---------------------------------------------------- */

/* A second user's request under the first user's key is its own: it gets
 * neither the first answer nor a conflict. The same user's retry replays. */
START_TEST(keys_are_per_user)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, "(2024)K1", NULL);
    struct ledger_receipt_request receipt = {.case_no = "(2024)K1",
                                             .amount_minor = 1000,
                                             .payer = "Debtor",
                                             .bank_ref = "K1",
                                             .value_date_days = LEDGER_VALUE_DATE_NONE};
    struct ledger_booking first;
    struct ledger_booking second;
    struct ledger_booking again;
    ck_assert_int_eq(ledger_receipt(ledger, "clerk1", &receipt, "same-key", &first), LEDGER_OK);
    ck_assert_int_eq(ledger_receipt(ledger, "clerk2", &receipt, "same-key", &second), LEDGER_OK);
    ck_assert(!second.replayed);
    ck_assert_int_ne(second.seq, first.seq);
    ck_assert_int_eq(ledger_receipt(ledger, "clerk1", &receipt, "same-key", &again), LEDGER_OK);
    ck_assert(again.replayed);
    ck_assert_int_eq(again.seq, first.seq);
    receipt.amount_minor = 2000;
    ck_assert_int_eq(ledger_receipt(ledger, "clerk2", &receipt, "same-key", &again),
                     LEDGER_ERR_IDEMPOTENCY_CONFLICT);
    ledger_close(ledger);
}
END_TEST

/* The importer's own keys (recon:<bank account>:<hash of reference>:<n>)
 * live where no client key can: a clerk who sends one first does not make
 * the statement's line fail. */
START_TEST(importer_keys_out_of_reach)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, "(2024)K2", NULL);
    struct ledger_receipt_request receipt = {.case_no = "(2024)K2",
                                             .amount_minor = 1000,
                                             .payer = "Debtor",
                                             .bank_ref = "K2",
                                             .value_date_days = LEDGER_VALUE_DATE_NONE};
    struct ledger_booking booking;
    char key[128];
    snprintf(key, sizeof key, "recon:%lld:x:0", (long long)fx.bank_account_id);
    ck_assert_int_eq(ledger_receipt(ledger, "clerk1", &receipt, key, &booking), LEDGER_OK);
    ledger_close(ledger);
    ck_assert_int_eq(
        query_int("SELECT count(*) FROM idempotency WHERE key = '%s' AND owner = ''", key), 0);
    ck_assert_int_eq(
        query_int("SELECT count(*) FROM idempotency WHERE key = '%s' AND owner = 'clerk1'", key),
        1);
}
END_TEST

static TCase *db_tcase(const char *name)
{
    TCase *tcase = tcase_create(name);
    tcase_add_checked_fixture(tcase, setup, teardown);
    tcase_set_timeout(tcase, TEST_TIMEOUT_S);
    return tcase;
}

Suite *db_defence_suite(void)
{
    Suite *suite = suite_create("db_defence");
    TCase *temporary = db_tcase("temporary_tables");
    tcase_add_test(temporary, app_cannot_make_temporary_tables);
    tcase_add_test(temporary, temporary_head_does_not_shadow_the_real_one);
    tcase_add_test(temporary, functions_pin_search_path);
    suite_add_tcase(suite, temporary);
    TCase *booking = db_tcase("who_may_book_what");
    tcase_add_test(booking, receipt_shaped_drain_refused);
    tcase_add_test(booking, amount_over_the_ceiling_refused);
    tcase_add_test(booking, outflow_needs_an_approved_request);
    tcase_add_test(booking, four_eyes_in_sql);
    suite_add_tcase(suite, booking);
    TCase *grants = db_tcase("grants");
    tcase_add_test(grants, app_privileges_are_least);
    suite_add_tcase(suite, grants);
    TCase *keys = db_tcase("idempotency_keys");
    tcase_add_test(keys, keys_are_per_user);
    tcase_add_test(keys, importer_keys_out_of_reach);
    suite_add_tcase(suite, keys);
    return suite;
}

int main(void)
{
    runner_pid = getpid();
    SRunner *runner = srunner_create(db_defence_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    fixture_drop_leftovers("defence");
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Benchmark: signed, chained bookings vs. a plain-SQL baseline, measured in
 * the same run on the same cluster (synchronous_commit on).
 *
 * Baseline: one transaction per transfer between two random accounts of
 * 1,000: insert an entry, two postings, update two balances with a
 * non-negative check. No signing, no chain. Also a "hot" variant in which
 * every transfer credits one shared account (as every receipt touches the
 * custody bank account).
 *
 * Ledger: receipts to random cases and approvals of pre-recorded
 * disbursement requests, alternating, each a signed entry on the chain;
 * inline (one transaction per entry) and through the committer (group
 * commit), at 1 and 16 clients.
 *
 * usage: bench_ledger [SECONDS_PER_RUN [grouped]]   (env as for the db tests;
 * "grouped" runs only the group-commit ledger at 16 clients, for profiling) */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_fixture.h"

#define CASES_COUNT 1000
#define CLIENTS_MAX 16
#define REQUESTS_PER_CLIENT 4000

struct run {
    const struct fixture *fixture;
    struct ledger_committer *committer; /* NULL: inline */
    bool hot;                           /* baseline: credit one shared account */
    int clients;
    double seconds;
    atomic_long done;
    atomic_long failed;
    atomic_bool stop;
    int64_t first_request_id; /* ledger: pre-recorded requests */
};

struct client {
    struct run *run;
    int index;
};

static double now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void must(PGconn *conn, const char *sql)
{
    PGresult *result = PQexec(conn, sql);
    if (PQresultStatus(result) != PGRES_COMMAND_OK && PQresultStatus(result) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench: %s: %s", sql, PQresultErrorMessage(result));
        exit(2);
    }
    PQclear(result);
}

/* ---- baseline ---- */

static const char baseline_schema[] =
    "DROP TABLE IF EXISTS bench_postings, bench_entries, bench_accounts;"
    "CREATE TABLE bench_accounts (id bigint PRIMARY KEY, balance bigint NOT NULL "
    "  CHECK (balance >= 0));"
    "CREATE TABLE bench_entries (id bigserial PRIMARY KEY, kind text NOT NULL, "
    "  created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE bench_postings (entry_id bigint NOT NULL REFERENCES bench_entries (id), "
    "  idx smallint NOT NULL, account_id bigint NOT NULL REFERENCES bench_accounts (id), "
    "  amount bigint NOT NULL, PRIMARY KEY (entry_id, idx));"
    "INSERT INTO bench_accounts SELECT g, 1000000000000 FROM generate_series(0, 1000) g;";

static const char baseline_transfer[] =
    "WITH e AS (INSERT INTO bench_entries (kind) VALUES ('transfer') RETURNING id) "
    "INSERT INTO bench_postings SELECT e.id, x.idx, x.account, x.amount FROM e, "
    "(VALUES (0::smallint, $1::bigint, -$3::bigint), (1::smallint, $2::bigint, $3::bigint)) "
    "AS x (idx, account, amount)";

static bool baseline_one(PGconn *conn, unsigned *seed, bool hot)
{
    long from = 1 + rand_r(seed) % CASES_COUNT;
    long to = hot ? 0 : 1 + rand_r(seed) % CASES_COUNT;
    if (to == from)
        to = from % CASES_COUNT + 1;
    char from_text[24], to_text[24], amount_text[24];
    snprintf(from_text, sizeof from_text, "%ld", from);
    snprintf(to_text, sizeof to_text, "%ld", to);
    snprintf(amount_text, sizeof amount_text, "%d", 1 + rand_r(seed) % 10000);
    const char *params[3] = {from_text, to_text, amount_text};
    bool ok = true;
    PGresult *result = PQexec(conn, "BEGIN");
    PQclear(result);
    result = PQexecParams(conn, baseline_transfer, 3, NULL, params, NULL, NULL, 0);
    ok = ok && PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    result = PQexecParams(conn,
                          "UPDATE bench_accounts SET balance = balance - $2 "
                          "WHERE id = $1 AND balance >= $2",
                          2, NULL, (const char *[]){from_text, amount_text}, NULL, NULL, 0);
    ok = ok && PQresultStatus(result) == PGRES_COMMAND_OK && strcmp(PQcmdTuples(result), "1") == 0;
    PQclear(result);
    result = PQexecParams(conn, "UPDATE bench_accounts SET balance = balance + $2 WHERE id = $1", 2,
                          NULL, (const char *[]){to_text, amount_text}, NULL, NULL, 0);
    ok = ok && PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    result = PQexec(conn, ok ? "COMMIT" : "ROLLBACK");
    ok = ok && PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    return ok;
}

static void *baseline_client(void *argument)
{
    struct client *client = argument;
    struct run *run = client->run;
    PGconn *conn = fixture_super(run->fixture);
    unsigned seed = (unsigned)client->index * 7919u + 1u;
    while (!atomic_load(&run->stop)) {
        if (baseline_one(conn, &seed, run->hot))
            atomic_fetch_add(&run->done, 1);
        else
            atomic_fetch_add(&run->failed, 1);
    }
    PQfinish(conn);
    return NULL;
}

/* ---- ledger ---- */

static void case_no_of(char *out, size_t size, long index)
{
    snprintf(out, size, "(2026)沪0115执%ld号", index);
}

static void *ledger_client(void *argument)
{
    struct client *client = argument;
    struct run *run = client->run;
    struct ledger *ledger = fixture_ledger(run->fixture);
    if (run->committer != NULL)
        ledger_attach_committer(ledger, run->committer);
    unsigned seed = (unsigned)client->index * 104729u + 3u;
    long request = 0;
    char key[64];
    char case_no[64];
    for (long n = 0; !atomic_load(&run->stop); n++) {
        struct ledger_booking booking;
        enum ledger_err err;
        snprintf(key, sizeof key, "bench-%d-%d-%ld-%ld", run->clients, run->committer != NULL,
                 (long)client->index, n);
        if (n % 2 == 1 && request < REQUESTS_PER_CLIENT) {
            int64_t id = run->first_request_id + client->index * REQUESTS_PER_CLIENT + request++;
            err = ledger_disbursement_approve(ledger, "approver1", id, key, &booking);
        } else {
            case_no_of(case_no, sizeof case_no, 1 + rand_r(&seed) % CASES_COUNT);
            struct ledger_receipt_request receipt = {.case_no = case_no,
                                                     .amount_minor = 1 + rand_r(&seed) % 100000,
                                                     .bank_ref = key,
                                                     .value_date_days = LEDGER_VALUE_DATE_NONE};
            err = ledger_receipt(ledger, "clerk1", &receipt, key, &booking);
        }
        if (err == LEDGER_OK)
            atomic_fetch_add(&run->done, 1);
        else
            atomic_fetch_add(&run->failed, 1);
    }
    ledger_close(ledger);
    return NULL;
}

static double timed_run(struct run *run, void *(*body)(void *))
{
    pthread_t threads[CLIENTS_MAX];
    struct client clients[CLIENTS_MAX];
    atomic_store(&run->done, 0);
    atomic_store(&run->failed, 0);
    atomic_store(&run->stop, false);
    double start = now_seconds();
    for (int i = 0; i < run->clients; i++) {
        clients[i] = (struct client){run, i};
        pthread_create(&threads[i], NULL, body, &clients[i]);
    }
    struct timespec pause = {(time_t)run->seconds,
                             (long)((run->seconds - (double)(time_t)run->seconds) * 1e9)};
    nanosleep(&pause, NULL);
    atomic_store(&run->stop, true);
    for (int i = 0; i < run->clients; i++)
        pthread_join(threads[i], NULL);
    double elapsed = now_seconds() - start;
    return (double)atomic_load(&run->done) / elapsed;
}

/* Cases with money, and enough disbursement requests for every client. */
static int64_t prepare_ledger(const struct fixture *fixture)
{
    struct ledger *ledger = fixture_ledger(fixture);
    char case_no[64];
    char key[64];
    for (long i = 1; i <= CASES_COUNT; i++) {
        case_no_of(case_no, sizeof case_no, i);
        fixture_open_case(ledger, case_no, NULL);
        snprintf(key, sizeof key, "fund-%ld", i);
        fixture_receipt(ledger, case_no, 100000000, key);
    }
    PGconn *conn = fixture_super(fixture);
    char sql[512];
    /* Requests are recorded directly (not timed): 2 runs x 16 clients. */
    snprintf(sql, sizeof sql,
             "INSERT INTO disbursements (account_id, amount, currency, payee_name, "
             "payee_account, requested_by) SELECT a.id, 1, 'CNY', 'Payee', '6222', 'clerk1' "
             "FROM generate_series(1, %d) g JOIN accounts a ON a.kind = 'case' AND "
             "a.id = (SELECT min(id) FROM accounts WHERE kind = 'case') + g %% %d",
             2 * 2 * CLIENTS_MAX * REQUESTS_PER_CLIENT, CASES_COUNT);
    must(conn, sql);
    PQfinish(conn);
    ledger_close(ledger);
    return fixture_query_int(fixture, "SELECT min(id) FROM disbursements");
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    bool grouped_only = argc > 2 && strcmp(argv[2], "grouped") == 0;
    struct fixture fixture;
    fixture_setup(&fixture, "bench");
    PGconn *conn = fixture_super(&fixture);
    must(conn, baseline_schema);
    PQfinish(conn);
    int64_t next_request = prepare_ledger(&fixture);
    char *sync = fixture_query(&fixture, "SHOW synchronous_commit");
    printf("bench_ledger: %.1f s per run, %d cases, synchronous_commit=%s\n", seconds, CASES_COUNT,
           sync);
    free(sync);

    static const int client_counts[2] = {1, 16};
    double baseline[2] = {0}, baseline_hot[2] = {0}, inline_rate[2] = {0}, grouped[2] = {0};
    for (int c = grouped_only ? 1 : 0; c < 2; c++) {
        struct run run = {.fixture = &fixture, .clients = client_counts[c], .seconds = seconds};
        if (!grouped_only) {
            baseline[c] = timed_run(&run, baseline_client);
            run.hot = true;
            baseline_hot[c] = timed_run(&run, baseline_client);
            run.hot = false;
        }
        run.first_request_id = next_request;
        next_request += CLIENTS_MAX * REQUESTS_PER_CLIENT;
        if (!grouped_only)
            inline_rate[c] = timed_run(&run, ledger_client);
        if (atomic_load(&run.failed) > 0)
            fprintf(stderr, "bench: %ld inline bookings failed\n", atomic_load(&run.failed));
        if (ledger_committer_start(&run.committer, &fixture.config, NULL, 0) != LEDGER_OK) {
            fprintf(stderr, "bench: committer did not start\n");
            return 2;
        }
        run.first_request_id = next_request;
        next_request += CLIENTS_MAX * REQUESTS_PER_CLIENT;
        grouped[c] = timed_run(&run, ledger_client);
        if (atomic_load(&run.failed) > 0)
            fprintf(stderr, "bench: %ld grouped bookings failed\n", atomic_load(&run.failed));
        struct ledger_committer_stats stats;
        ledger_committer_stats(run.committer, &stats);
        if (stats.batches > 0)
            printf("committer, %2d clients: %lld batches, %.1f entries/batch, per batch %.2f ms "
                   "(cl_book_batch + commit %.2f ms)\n",
                   run.clients, (long long)stats.batches,
                   (double)stats.requests / (double)stats.batches,
                   (double)stats.busy_us / 1000.0 / (double)stats.batches,
                   (double)stats.book_us / 1000.0 / (double)stats.batches);
        ledger_committer_stop(run.committer);
    }
    printf("%-46s %12s %12s\n", "entries/s", "1 client", "16 clients");
    printf("%-46s %12.0f %12.0f\n", "baseline plain SQL, random accounts", baseline[0],
           baseline[1]);
    printf("%-46s %12.0f %12.0f\n", "baseline plain SQL, one hot account", baseline_hot[0],
           baseline_hot[1]);
    printf("%-46s %12.0f %12.0f\n", "ledger signed+chained, inline", inline_rate[0],
           inline_rate[1]);
    printf("%-46s %12.0f %12.0f\n", "ledger signed+chained, group commit", grouped[0], grouped[1]);
    printf("%-46s %12.2f %12.2f\n", "ratio group commit / baseline random",
           grouped[0] / baseline[0], grouped[1] / baseline[1]);
    printf("%-46s %12.2f %12.2f\n", "ratio group commit / baseline hot",
           grouped[0] / baseline_hot[0], grouped[1] / baseline_hot[1]);

    struct ledger *ledger = fixture_ledger(&fixture);
    struct ledger_keyring keyring;
    struct ledger_verify_result result;
    double verify_start = now_seconds();
    if (ledger_keyring_load(&keyring, fixture.keyring_file) != LEDGER_OK ||
        ledger_verify(ledger, &keyring, NULL, &result) != LEDGER_OK || !result.ok) {
        fprintf(stderr, "bench: verify failed after the runs\n");
        return 1;
    }
    printf("verify: %" PRId64 " entries ok in %.2f s\n", result.checked,
           now_seconds() - verify_start);
    ledger_close(ledger);
    if (getenv("CASELEDGER_BENCH_KEEP") != NULL) /* keep the database for profiling */
        printf("kept database %s\n", fixture.database);
    else
        fixture_teardown(&fixture);
    return 0;
}

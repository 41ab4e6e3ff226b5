/* The crash drill's load client (scripts/dev drill): workers making
 * receipts and four-eyes payouts (a clerk requests, an approver approves)
 * against a running `caseledger serve`, every write with an
 * Idempotency-Key and retried with the same key until a definite answer,
 * while the orchestrator kills the server and stops PostgreSQL under it.
 * Each worker owns its cases, so that its model of their balances is
 * exact. At the end: the balances against the model (over HTTP), and the
 * journal against what was acknowledged (over SQL): nothing lost, nothing
 * booked twice. Prints one "ok - ..." or "not ok - ..." line per check and
 * a "drill: ..." line of figures; exits 1 when a check failed.
 *
 * usage: drill --port PORT --seconds S --workers N --clerk TOKEN
 *              --approver TOKEN --dsn DSN --run ID */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "http_client.h"
#include "test_clock.h"

#define WORKERS_MAX 32
#define CASES_PER_WORKER 2
#define WRITE_DEADLINE_MS 60000  /* retries of one write: a restart takes seconds */
#define CHECKS_DEADLINE_MS 60000 /* all the balance reads at the end */
#define RETRY_PAUSE_MS 100
#define RECEIPT_MIN_MINOR 100
#define RECEIPT_SPREAD_MINOR 100000
#define PAYOUT_EVERY 3 /* one operation in this many is a payout, when the case holds enough */
#define KEY_SIZE 96
#define RETRIED_MAX 4096 /* retried writes remembered per worker */
#define BODY_SIZE 512
#define WHY_SIZE 320

struct options {
    unsigned port;
    int seconds;
    int workers;
    const char *clerk;
    const char *approver;
    const char *dsn;
    const char *run;
};

/* A write that needed more than one attempt, and when the last one (the
 * one answered) began: a key recorded before that was booked by an earlier
 * attempt whose answer was lost, and the last answer was its replay. */
struct retried {
    char key[KEY_SIZE];
    int64_t last_attempt_us; /* wall clock, as the database's now() */
};

struct worker {
    const struct options *options;
    struct retried retried[RETRIED_MAX];
    int retried_count;
    int index;
    uint64_t random_state;
    int64_t held_minor[CASES_PER_WORKER]; /* the model */
    int64_t receipts;                     /* acknowledged */
    int64_t payouts;                      /* requested and approved, both acknowledged */
    int64_t unavailable;                  /* 503 answers on the way */
    int64_t unanswered;                   /* no answer (the server was down) */
    bool failed;
    char why[WHY_SIZE]; /* the failure */
};

static atomic_bool stopping;

static uint64_t next_random(struct worker *worker)
{
    uint64_t x = worker->random_state; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    worker->random_state = x;
    return x;
}

static void case_no_of(char *out, size_t size, const struct options *options, int worker, int index)
{
    snprintf(out, size, "DRILL-%s-%d-%d", options->run, worker, index);
}

/* One request: the status (0: no answer), and the answer's integer field
 * (may be NULL) into *value. */
static int request(const struct options *options, const char *method, const char *path,
                   const char *token, const char *key, const char *body, const char *field,
                   int64_t *value)
{
    char authorization[160];
    char idempotency[KEY_SIZE + 24];
    const char *headers[3];
    size_t count = 0;
    snprintf(authorization, sizeof authorization, "Authorization: Bearer %s", token);
    headers[count++] = authorization;
    if (key != NULL) {
        snprintf(idempotency, sizeof idempotency, "Idempotency-Key: %s", key);
        headers[count++] = idempotency;
    }
    if (body != NULL)
        headers[count++] = "Content-Type: application/json";
    struct http_client_response response;
    int status = http_client_request(&response, options->port, method, path, headers, count, body,
                                     body ? strlen(body) : 0) == 0
                     ? response.status
                     : 0;
    if (field != NULL && status >= 200 && status < 300) {
        json_t *json = json_loadb(response.body, response.body_size, 0, NULL);
        /* "balance.held": one level down at most (no strtok: workers
         * share this) */
        const char *dot = strchr(field, '.');
        json_t *found = json;
        if (dot != NULL) {
            char outer[32];
            snprintf(outer, sizeof outer, "%.*s", (int)(dot - field), field);
            found = json_object_get(found, outer);
        }
        found = json_object_get(found, dot != NULL ? dot + 1 : field);
        *value = json_is_integer(found) ? (int64_t)json_integer_value(found) : -1;
        json_decref(json);
    }
    http_client_response_free(&response);
    return status;
}

/* A write retried with its key until a definite answer: true with the
 * field's value when it is want_status; false (the worker failed) on any
 * other definite answer or past WRITE_DEADLINE_MS. */
static bool write_once(struct worker *worker, const char *path, const char *token, const char *key,
                       const char *body, int want_status, const char *field, int64_t *value)
{
    int64_t deadline_ms = test_now_ms() + WRITE_DEADLINE_MS;
    int status = 0;
    for (int attempt = 0; test_now_ms() < deadline_ms; attempt++) {
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        status = request(worker->options, "POST", path, token, key, body, field, value);
        if (status == want_status && *value < 0) {
            status = -1; /* a definite answer without what it must name */
            break;
        }
        if (status == want_status) {
            if (attempt > 0 && worker->retried_count < RETRIED_MAX) {
                struct retried *retried = &worker->retried[worker->retried_count++];
                snprintf(retried->key, sizeof retried->key, "%s", key);
                retried->last_attempt_us = (int64_t)wall.tv_sec * 1000000 + wall.tv_nsec / 1000;
            }
            return true;
        }
        if (status != 0 && status != 503)
            break;
        if (status == 0)
            worker->unanswered++;
        else
            worker->unavailable++;
        test_sleep_ms(RETRY_PAUSE_MS);
    }
    worker->failed = true;
    snprintf(worker->why, sizeof worker->why, "%s %s: %s", path, key,
             status == 0 || status == 503 ? "no definite answer in time"
             : status < 0                 ? "answered without its id"
                                          : "refused");
    if (status > 0 && status != 503)
        snprintf(worker->why + strlen(worker->why), sizeof worker->why - strlen(worker->why),
                 " with %d", status);
    return false;
}

static bool receipt(struct worker *worker, int case_index, int64_t sequence)
{
    char case_no[64];
    char key[KEY_SIZE];
    char body[BODY_SIZE];
    case_no_of(case_no, sizeof case_no, worker->options, worker->index, case_index);
    int64_t amount = RECEIPT_MIN_MINOR + (int64_t)(next_random(worker) % RECEIPT_SPREAD_MINOR);
    snprintf(key, sizeof key, "drill-%s-r-%d-%" PRId64, worker->options->run, worker->index,
             sequence);
    snprintf(body, sizeof body,
             "{\"case_no\":\"%s\",\"amount\":%" PRId64 ",\"bank_ref\":\"%s\","
             "\"value_date\":\"2026-11-20\",\"payer\":\"Drill Payer\"}",
             case_no, amount, key);
    int64_t entry_id = 0;
    if (!write_once(worker, "/v1/receipts", worker->options->clerk, key, body, 201, "entry_id",
                    &entry_id))
        return false;
    worker->held_minor[case_index] += amount;
    worker->receipts++;
    return true;
}

/* A payout of part of what the case holds: the clerk requests, the
 * approver approves (which books it out of the case). */
static bool payout(struct worker *worker, int case_index, int64_t sequence)
{
    char case_no[64];
    char key[KEY_SIZE];
    char body[BODY_SIZE];
    case_no_of(case_no, sizeof case_no, worker->options, worker->index, case_index);
    int64_t amount =
        1 + (int64_t)(next_random(worker) % (uint64_t)(worker->held_minor[case_index] / 2));
    snprintf(key, sizeof key, "drill-%s-p-%d-%" PRId64, worker->options->run, worker->index,
             sequence);
    snprintf(body, sizeof body,
             "{\"case_no\":\"%s\",\"payee\":{\"name\":\"Drill Payee\",\"bank_account\":"
             "\"6222020200112233\"},\"amount\":%" PRId64 ",\"purpose\":\"drill\"}",
             case_no, amount);
    int64_t id = 0;
    if (!write_once(worker, "/v1/disbursements", worker->options->clerk, key, body, 201, "id", &id))
        return false;
    char path[64];
    snprintf(path, sizeof path, "/v1/disbursements/%" PRId64 "/approve", id);
    snprintf(key, sizeof key, "drill-%s-a-%d-%" PRId64, worker->options->run, worker->index,
             sequence);
    int64_t entry_id = 0;
    if (!write_once(worker, path, worker->options->approver, key, "{}", 200, "entry_id", &entry_id))
        return false;
    worker->held_minor[case_index] -= amount;
    worker->payouts++;
    return true;
}

static void *work(void *argument)
{
    struct worker *worker = argument;
    for (int64_t sequence = 0; !atomic_load(&stopping); sequence++) {
        int case_index = (int)(next_random(worker) % CASES_PER_WORKER);
        bool pays = next_random(worker) % PAYOUT_EVERY == 0 &&
                    worker->held_minor[case_index] >= 2 * RECEIPT_MIN_MINOR;
        if (!(pays ? payout(worker, case_index, sequence) : receipt(worker, case_index, sequence)))
            break;
    }
    return NULL;
}

/* ---- the checks at the end ---- */

static int checks_failed;

static void check(bool ok, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    printf("%s - ", ok ? "ok" : "not ok");
    vprintf(format, args);
    printf("\n");
    va_end(args);
    if (!ok)
        checks_failed++;
}

/* GET the case's held balance, retrying while the server is not there
 * (until deadline_ms); -1 when it cannot be had. */
static int64_t held_of(const struct options *options, const char *case_no, int64_t deadline_ms)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/cases/%s", case_no);
    int64_t held = -1;
    while (test_now_ms() < deadline_ms) {
        int status =
            request(options, "GET", path, options->clerk, NULL, NULL, "balance.held", &held);
        if (status == 200)
            return held;
        if (status != 0 && status != 503)
            return -1;
        test_sleep_ms(RETRY_PAUSE_MS);
    }
    return -1;
}

static void check_balances(const struct options *options, struct worker *workers)
{
    int wrong = 0;
    char first[160] = "";
    int64_t deadline_ms = test_now_ms() + CHECKS_DEADLINE_MS;
    for (int w = 0; w < options->workers; w++)
        for (int c = 0; c < CASES_PER_WORKER; c++) {
            char case_no[64];
            case_no_of(case_no, sizeof case_no, options, w, c);
            int64_t held = held_of(options, case_no, deadline_ms);
            if (held == workers[w].held_minor[c])
                continue;
            if (wrong++ == 0)
                snprintf(first, sizeof first, "%s holds %" PRId64 ", the model %" PRId64, case_no,
                         held, workers[w].held_minor[c]);
        }
    check(wrong == 0, "every case balance equals the client's model (%d cases%s%s)",
          options->workers * CASES_PER_WORKER, wrong ? "; first wrong: " : "", first);
}

/* A count by a query whose $1 is the run's id. */
static long long sql_count(PGconn *conn, const char *sql, const char *run)
{
    const char *params[1] = {run};
    PGresult *result = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    long long value = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1
                          ? atoll(PQgetvalue(result, 0, 0))
                          : -1;
    PQclear(result);
    return value;
}

/* What the journal holds against what was acknowledged: *lost counts
 * acknowledged writes not in it, *doubled the ones in it more than once
 * (both -1 when it could not be read). */
static void check_journal(const struct options *options, int64_t receipts, int64_t payouts,
                          long long *lost, long long *doubled)
{
    *lost = -1;
    *doubled = -1;
    PGconn *conn = PQconnectdb(options->dsn);
    if (PQstatus(conn) != CONNECTION_OK) {
        check(false, "the journal can be read: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return;
    }
    long long booked =
        sql_count(conn, "SELECT count(*) FROM entries WHERE bank_ref LIKE 'drill-' || $1 || '-r-%'",
                  options->run);
    long long distinct = sql_count(
        conn,
        "SELECT count(DISTINCT bank_ref) FROM entries WHERE bank_ref LIKE 'drill-' || $1 || '-r-%'",
        options->run);
    check(booked == receipts && distinct == receipts,
          "receipts: %" PRId64
          " acknowledged, %lld booked, %lld distinct (lost %lld, doubled %lld)",
          receipts, booked, distinct, (long long)receipts - distinct, booked - distinct);
    long long requested =
        sql_count(conn,
                  "SELECT count(*) FROM disbursements d JOIN accounts a ON a.id = d.account_id "
                  "WHERE a.case_no LIKE 'DRILL-' || $1 || '-%'",
                  options->run);
    long long approved =
        sql_count(conn,
                  "SELECT count(*) FROM disbursements d JOIN accounts a ON a.id = d.account_id "
                  "WHERE a.case_no LIKE 'DRILL-' || $1 || '-%' AND d.status = 'approved'",
                  options->run);
    long long entries = sql_count(
        conn,
        "SELECT count(*) FROM entries e WHERE e.kind = 'disbursement' AND EXISTS (SELECT FROM "
        "postings p JOIN accounts a ON a.id = p.account_id WHERE p.entry_seq = e.seq AND "
        "a.case_no LIKE 'DRILL-' || $1 || '-%')",
        options->run);
    check(requested == payouts && approved == payouts && entries == payouts,
          "payouts: %" PRId64 " acknowledged, %lld requested, %lld approved, %lld booked", payouts,
          requested, approved, entries);
    /* A payout is lost when fewer were booked than acknowledged, doubled
     * when more were requested or booked. */
    *lost = (receipts - distinct) + (payouts > entries ? payouts - entries : 0);
    *doubled = (booked - distinct) + (requested > payouts ? requested - payouts : 0) +
               (entries > payouts ? entries - payouts : 0);
    PQfinish(conn);
}

/* Of the retried writes, how many had been recorded before their last
 * attempt began: booked by an attempt whose answer was lost (503 or no
 * answer), and answered by the replay of their key (-1: unknown). */
static long long replayed_after_loss(const struct options *options, const struct worker *workers,
                                     int workers_count, long long *retried_total)
{
    *retried_total = 0;
    PGconn *conn = PQconnectdb(options->dsn);
    long long replayed = PQstatus(conn) == CONNECTION_OK ? 0 : -1;
    for (int w = 0; w < workers_count && replayed >= 0; w++)
        for (int i = 0; i < workers[w].retried_count && replayed >= 0; i++) {
            char at_text[32];
            snprintf(at_text, sizeof at_text, "%" PRId64, workers[w].retried[i].last_attempt_us);
            const char *params[2] = {workers[w].retried[i].key, at_text};
            /* The key as recorded may carry a prefix (a scope). */
            PGresult *result =
                PQexecParams(conn,
                             "SELECT count(*) FROM idempotency WHERE key LIKE '%' || $1 AND "
                             "created_at < to_timestamp($2::bigint / 1000000.0)",
                             2, NULL, params, NULL, NULL, 0);
            if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1)
                replayed += atoll(PQgetvalue(result, 0, 0));
            else
                replayed = -1;
            PQclear(result);
            (*retried_total)++;
        }
    PQfinish(conn);
    return replayed;
}

static bool parse_options(struct options *options, int argc, char **argv)
{
    memset(options, 0, sizeof *options);
    options->workers = 8;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *name = argv[i];
        const char *value = argv[i + 1];
        if (strcmp(name, "--port") == 0)
            options->port = (unsigned)atoi(value);
        else if (strcmp(name, "--seconds") == 0)
            options->seconds = atoi(value);
        else if (strcmp(name, "--workers") == 0)
            options->workers = atoi(value);
        else if (strcmp(name, "--clerk") == 0)
            options->clerk = value;
        else if (strcmp(name, "--approver") == 0)
            options->approver = value;
        else if (strcmp(name, "--dsn") == 0)
            options->dsn = value;
        else if (strcmp(name, "--run") == 0)
            options->run = value;
        else
            return false;
    }
    return argc % 2 == 1 && options->port > 0 && options->seconds > 0 && options->workers > 0 &&
           options->workers <= WORKERS_MAX && options->clerk && options->approver && options->dsn &&
           options->run;
}

int main(int argc, char **argv)
{
    struct options options;
    if (!parse_options(&options, argc, argv)) {
        fprintf(stderr,
                "usage: drill --port PORT --seconds S --workers N (1..%d) --clerk TOKEN "
                "--approver TOKEN --dsn DSN --run ID\n",
                WORKERS_MAX);
        return 2;
    }
    static struct worker workers[WORKERS_MAX];
    pthread_t threads[WORKERS_MAX];
    int started = 0;
    for (int w = 0; w < options.workers; w++) {
        workers[w] =
            (struct worker){.options = &options,
                            .index = w,
                            .random_state = (uint64_t)0x9E3779B97F4A7C15ULL * ((uint64_t)w + 1) ^
                                            (uint64_t)time(NULL)};
        if (pthread_create(&threads[w], NULL, work, &workers[w]) != 0)
            break;
        started++;
    }
    int64_t started_ms = test_now_ms();
    while (test_now_ms() - started_ms < (int64_t)options.seconds * 1000)
        test_sleep_ms(100);
    atomic_store(&stopping, true);
    int64_t receipts = 0, payouts = 0, unavailable = 0, unanswered = 0;
    int failed = 0;
    const char *why = "";
    for (int w = 0; w < started; w++) {
        pthread_join(threads[w], NULL);
        receipts += workers[w].receipts;
        payouts += workers[w].payouts;
        unavailable += workers[w].unavailable;
        unanswered += workers[w].unanswered;
        if (workers[w].failed && failed++ == 0)
            why = workers[w].why;
    }
    check(started == options.workers, "%d workers started", started);
    check(failed == 0, "every write got a definite answer with its key (%d workers failed%s%s)",
          failed, failed ? "; first: " : "", why);
    check_balances(&options, workers);
    long long lost = -1;
    long long doubled = -1;
    check_journal(&options, receipts, payouts, &lost, &doubled);
    int64_t elapsed_ms = test_now_ms() - started_ms;
    long long retried = 0;
    long long replayed = replayed_after_loss(&options, workers, started, &retried);
    printf("drill: %" PRId64 " operations acknowledged (%" PRId64 " receipts, %" PRId64
           " payouts of two writes each) in %" PRId64 ".%" PRId64 " s by %d workers; %" PRId64
           " answers 503 and %" PRId64 " unanswered requests retried with their keys (%lld writes "
           "retried; %lld of them booked by an attempt whose answer was lost, answered by "
           "replay); lost %lld, doubled %lld\n",
           receipts + payouts, receipts, payouts, elapsed_ms / 1000, elapsed_ms % 1000 / 100,
           started, unavailable, unanswered, retried, replayed, lost, doubled);
    return checks_failed == 0 ? 0 : 1;
}

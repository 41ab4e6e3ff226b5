/* The server and a database that goes away: the real binary on a fresh
 * database, whose connections are cut under it (pg_terminate_backend of
 * the server's backends, the same path a restart of PostgreSQL takes,
 * without disturbing the suites that run beside this one) or refused for a
 * while (ALLOW_CONNECTIONS false). The server must answer again without a
 * restart, answer 503 with Retry-After while it cannot (never hang), and a
 * booking in flight at the loss is booked exactly once, whatever answer
 * the client got first, when the client retries with the same key.
 *
 * One database for the suite, one server per test; no fork (see
 * http_server_fixture.h). */
#include <check.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http_server_fixture.h"
#include "test_clock.h"

Suite *http_reconnect_suite(void);

#define BODY_SIZE 1024
#define SQL_SIZE 512
#define TEST_TIMEOUT_S 150
#define RECOVER_TIMEOUT_MS 10000 /* the server answers again within this after the loss */
#define ANSWER_MAX_MS 5000       /* any one answer while the database is away */
#define LOAD_THREADS 6
#define LOAD_RECEIPTS_MAX 4000 /* per thread: they book until the cuts are over */
#define LOAD_PAYOUTS_MAX 1000  /* by the payout thread: request, then approve */
#define LOAD_CUTS 3            /* times the connections are cut during the load */
#define LOAD_CUT_GAP_MS 400    /* between two cuts */
#define RETRY_DEADLINE_MS 60000
#define RECEIPT_MINOR 1000
#define PAYOUT_MINOR 300

static struct http_fixture hx;

/* ---- calling the server ---------------------------------------------- */

struct answer {
    int status;
    json_t *json;
    char code[64];
    bool retry_after; /* a Retry-After header came with it */
    int64_t took_ms;
    char excerpt[240];
};

__attribute__((format(printf, 5, 6))) static struct answer call(const char *method,
                                                                const char *path, const char *token,
                                                                const char *key,
                                                                const char *body_format, ...)
{
    struct answer answer;
    memset(&answer, 0, sizeof answer);
    char body[BODY_SIZE];
    if (body_format != NULL) {
        va_list args;
        va_start(args, body_format);
        vsnprintf(body, sizeof body, body_format, args);
        va_end(args);
    }
    struct http_client_response response;
    int64_t started_ms = test_now_ms();
    answer.status =
        http_fixture_call(&hx, &response, method, path, token, key, body_format ? body : NULL);
    answer.took_ms = test_now_ms() - started_ms;
    answer.json = http_fixture_json(&response);
    http_fixture_problem_code(&response, answer.code, sizeof answer.code);
    answer.retry_after = http_client_header(&response, "Retry-After") != NULL;
    snprintf(answer.excerpt, sizeof answer.excerpt, "%s %s: %s", method, path,
             response.body ? response.body : response.error);
    http_client_response_free(&response);
    return answer;
}

static void answer_free(struct answer *answer)
{
    json_decref(answer->json);
    answer->json = NULL;
}

static int64_t int_field(json_t *object, const char *name)
{
    json_t *value = json_object_get(object, name);
    return json_is_integer(value) ? (int64_t)json_integer_value(value) : -1;
}

/* A 503 while the database is away: with Retry-After, soon, and one of
 * the codes that say so. false with why (for a client thread, which must
 * not fail a check itself: the suite runs without fork). */
static bool is_unavailable(const struct answer *answer, char *why, size_t why_size)
{
    const char *code = answer->code;
    if (answer->status != 503)
        snprintf(why, why_size, "want 503, got %d: %s", answer->status, answer->excerpt);
    else if (!answer->retry_after)
        snprintf(why, why_size, "503 without Retry-After: %s", answer->excerpt);
    else if (strcmp(code, "database_unavailable") != 0 && strcmp(code, "database_error") != 0 &&
             strcmp(code, "busy") != 0)
        snprintf(why, why_size, "503 with code \"%s\": %s", code, answer->excerpt);
    else if (answer->took_ms > ANSWER_MAX_MS)
        snprintf(why, why_size, "the answer took %lld ms: %s", (long long)answer->took_ms,
                 answer->excerpt);
    else
        return true;
    return false;
}

static void expect_unavailable(const struct answer *answer)
{
    char why[400];
    ck_assert_msg(is_unavailable(answer, why, sizeof why), "%s", why);
}

/* While the database refuses connections: that, and nothing vaguer. */
static void expect_database_unavailable(const struct answer *answer)
{
    expect_unavailable(answer);
    ck_assert_msg(strcmp(answer->code, "database_unavailable") == 0, "code \"%s\": %s",
                  answer->code, answer->excerpt);
}

/* ---- fixture ---------------------------------------------------------- */

static void setup(void)
{
    http_fixture_start(&hx, HTTP_FIXTURE_THREADS);
}

static void teardown(void)
{
    fixture_allow_connections(&hx.db, true);
    if (hx.running)
        (void)http_fixture_stop(&hx);
}

static char case_no_global[64];

/* Opens a case as the clerk (retrying the same key through a loss). */
static void open_case(const char *case_no)
{
    struct answer made = call("POST", "/v1/cases", hx.tokens.clerk, case_no,
                              "{\"case_no\":\"%s\",\"court\":\"Court\",\"title\":\"Reconnect\","
                              "\"applicants\":[{\"name\":\"Li Si\"}]}",
                              case_no);
    ck_assert_msg(made.status == 201, "%s", made.excerpt);
    answer_free(&made);
}

/* A write with a key, retried with the same key until a definite answer
 * (not 503) or the deadline; every 503 on the way checked. The answer's
 * integer field, or -1 with why. */
static int64_t post_until_definite(const char *path, const char *token, const char *key,
                                   const char *body, int want_status, const char *field,
                                   int *unavailable_count, char *why, size_t why_size)
{
    for (int64_t deadline = test_now_ms() + RETRY_DEADLINE_MS; test_now_ms() < deadline;) {
        struct answer got = call("POST", path, token, key, "%s", body);
        bool unavailable = got.status == 503 && is_unavailable(&got, why, why_size);
        if (got.status != want_status && !unavailable) {
            if (got.status != 503)
                snprintf(why, why_size, "%d: %s", got.status, got.excerpt);
            answer_free(&got);
            return -1;
        }
        int64_t value = int_field(got.json, field);
        answer_free(&got);
        if (!unavailable)
            return value;
        (*unavailable_count)++;
        test_sleep_ms(50);
    }
    snprintf(why, why_size, "%s: still 503 after %d ms", key, RETRY_DEADLINE_MS);
    return -1;
}

/* A receipt, so: the entry id of the answer, or -1. */
static int64_t receipt_until_definite(const char *case_no, const char *key, long long amount_minor,
                                      int *unavailable_count, char *why, size_t why_size)
{
    char body[BODY_SIZE];
    snprintf(
        body, sizeof body,
        "{\"case_no\":\"%s\",\"amount\":%lld,\"bank_ref\":\"%s\",\"value_date\":\"2026-11-20\"}",
        case_no, amount_minor, key);
    return post_until_definite("/v1/receipts", hx.tokens.clerk, key, body, 201, "entry_id",
                               unavailable_count, why, why_size);
}

/* The same, checked (main thread): the entry id. */
static int64_t book_receipt(const char *case_no, const char *key, long long amount_minor,
                            int *unavailable_count)
{
    char why[400] = "";
    int64_t entry_id =
        receipt_until_definite(case_no, key, amount_minor, unavailable_count, why, sizeof why);
    ck_assert_msg(entry_id > 0, "receipt %s: %s", key, why);
    return entry_id;
}

/* GET path until 200 (every other answer a proper 503); the time it took,
 * or -1 past RECOVER_TIMEOUT_MS. */
static int64_t wait_answering(const char *path, const char *token)
{
    int64_t started_ms = test_now_ms();
    while (test_now_ms() - started_ms < RECOVER_TIMEOUT_MS) {
        struct answer got = call("GET", path, token, NULL, NULL);
        int status = got.status;
        if (status != 200)
            expect_unavailable(&got);
        answer_free(&got);
        if (status == 200)
            return test_now_ms() - started_ms;
        test_sleep_ms(50);
    }
    return -1;
}

/* What the case holds (a case account's postings are credits). */
static long long balance_of(const char *case_no)
{
    char sql[SQL_SIZE];
    snprintf(sql, sizeof sql,
             "SELECT -coalesce(sum(p.amount), 0) FROM postings p JOIN accounts a ON "
             "a.id = p.account_id WHERE a.case_no = '%s'",
             case_no);
    return fixture_query_int(&hx.db, sql);
}

/* A counter of /metrics, or -1. */
static long long metric(const char *name)
{
    struct http_client_response response;
    long long value = -1;
    if (http_fixture_call(&hx, &response, "GET", "/metrics", NULL, NULL, NULL) == 200) {
        size_t length = strlen(name);
        for (const char *line = response.body; line != NULL && *line != '\0';) {
            if (strncmp(line, name, length) == 0 && line[length] == ' ')
                value = atoll(line + length + 1);
            line = strchr(line, '\n');
            line = line != NULL ? line + 1 : NULL;
        }
    }
    http_client_response_free(&response);
    return value;
}

/* ======================================================================== */

/* Connections cut twice: the server answers again (health, reads through
 * the pool, bookings through the committer) without a restart. */
START_TEST(serves_again_after_connections_cut)
{
    snprintf(case_no_global, sizeof case_no_global, "RECONNECT-1");
    open_case(case_no_global);
    int unavailable = 0;
    (void)book_receipt(case_no_global, "cut-r0", RECEIPT_MINOR, &unavailable);
    ck_assert(http_fixture_healthy(&hx));
    char case_path[128];
    snprintf(case_path, sizeof case_path, "/v1/cases/%s", case_no_global);
    for (int round = 1; round <= 2; round++) {
        ck_assert_int_gt(fixture_cut_connections(&hx.db), 0);
        int64_t took_ms = wait_answering("/healthz", NULL);
        ck_assert_msg(took_ms >= 0, "round %d: /healthz did not answer 200 within %d ms", round,
                      RECOVER_TIMEOUT_MS);
        ck_assert_msg(wait_answering(case_path, hx.tokens.auditor) >= 0,
                      "round %d: GET %s did not answer 200 again", round, case_path);
        char key[32];
        snprintf(key, sizeof key, "cut-r%d", round);
        (void)book_receipt(case_no_global, key, RECEIPT_MINOR, &unavailable);
    }
    ck_assert_int_eq(balance_of(case_no_global), 3 * RECEIPT_MINOR);
    /* Each round: at least one pooled handle and the committer. */
    ck_assert_int_ge(metric("caseledger_db_reconnects_total"), 4);
    ck_assert_int_eq(http_fixture_verify(&hx), 0);
}
END_TEST

/* While the database refuses connections: /healthz and every call that
 * needs it answer 503 with Retry-After at once; once it takes them again,
 * 200, and a receipt refused meanwhile books once with its key. */
START_TEST(healthz_follows_the_database)
{
    open_case("RECONNECT-2");
    fixture_allow_connections(&hx.db, false);
    ck_assert_int_gt(fixture_cut_connections(&hx.db), 0);
    for (int i = 0; i < 5; i++) {
        struct answer health = call("GET", "/healthz", NULL, NULL, NULL);
        expect_database_unavailable(&health);
        answer_free(&health);
    }
    struct answer shown = call("GET", "/v1/cases/RECONNECT-2", hx.tokens.auditor, NULL, NULL);
    expect_database_unavailable(&shown);
    answer_free(&shown);
    struct answer refused = call("POST", "/v1/receipts", hx.tokens.clerk, "away-r1",
                                 "{\"case_no\":\"RECONNECT-2\",\"amount\":%d,\"bank_ref\":"
                                 "\"away-r1\",\"value_date\":\"2026-11-20\"}",
                                 RECEIPT_MINOR);
    expect_database_unavailable(&refused);
    answer_free(&refused);
    fixture_allow_connections(&hx.db, true);
    ck_assert_msg(wait_answering("/healthz", NULL) >= 0,
                  "/healthz did not answer 200 once the database took connections again");
    int unavailable = 0;
    (void)book_receipt("RECONNECT-2", "away-r1", RECEIPT_MINOR, &unavailable);
    ck_assert_int_eq(balance_of("RECONNECT-2"), RECEIPT_MINOR);
    ck_assert_int_eq(
        fixture_query_int(&hx.db, "SELECT count(*) FROM entries WHERE bank_ref = 'away-r1'"), 1);
}
END_TEST

/* Clients booking receipts, and a clerk and an approver making payouts,
 * while the connections are cut three times: each write retried with its
 * key until a definite answer is booked exactly once, the answer names
 * the entry that was booked (the replay of a commit whose outcome was
 * unknown answers with the first entry), and the balance is the sum. */
static atomic_bool load_stop;

struct load_client {
    int index;
    int unavailable;
    int sent;
    char why[400]; /* the first failure, "" when none */
    int64_t entry_ids[LOAD_RECEIPTS_MAX];
};

static void *send_receipts(void *argument)
{
    struct load_client *client = argument;
    for (int i = 0; i < LOAD_RECEIPTS_MAX && !atomic_load(&load_stop); i++) {
        client->sent++;
        char key[48];
        snprintf(key, sizeof key, "load-%d-%d", client->index, i);
        client->entry_ids[i] =
            receipt_until_definite("RECONNECT-3", key, RECEIPT_MINOR, &client->unavailable,
                                   client->why, sizeof client->why);
        if (client->entry_ids[i] <= 0)
            break;
    }
    return NULL;
}

struct payout_client {
    int unavailable;
    int sent;
    char why[400];
    int approved;
};

static void *send_payouts(void *argument)
{
    struct payout_client *client = argument;
    for (int i = 0; i < LOAD_PAYOUTS_MAX && !atomic_load(&load_stop); i++) {
        client->sent++;
        char key[48];
        char body[BODY_SIZE];
        snprintf(key, sizeof key, "payout-%d", i);
        snprintf(body, sizeof body,
                 "{\"case_no\":\"RECONNECT-3\",\"payee\":{\"name\":\"Wang Wu\","
                 "\"bank_account\":\"6222020200112233\"},\"amount\":%d,\"purpose\":\"payout\"}",
                 PAYOUT_MINOR);
        int64_t id = post_until_definite("/v1/disbursements", hx.tokens.clerk, key, body, 201, "id",
                                         &client->unavailable, client->why, sizeof client->why);
        if (id <= 0)
            return NULL;
        char path[64];
        snprintf(path, sizeof path, "/v1/disbursements/%lld/approve", (long long)id);
        snprintf(key, sizeof key, "approve-%d", i);
        if (post_until_definite(path, hx.tokens.approver, key, "{}", 200, "entry_id",
                                &client->unavailable, client->why, sizeof client->why) <= 0)
            return NULL;
        client->approved++;
    }
    return NULL;
}

START_TEST(bookings_in_flight_at_the_loss)
{
    open_case("RECONNECT-3");
    int unavailable = 0;
    long long receipts = 0;
    (void)book_receipt("RECONNECT-3", "seed", 100 * RECEIPT_MINOR, &unavailable);
    pthread_t threads[LOAD_THREADS + 1];
    static struct load_client clients[LOAD_THREADS];
    atomic_store(&load_stop, false);
    struct payout_client payouts = {0};
    for (int i = 0; i < LOAD_THREADS; i++) {
        clients[i] = (struct load_client){.index = i};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, send_receipts, &clients[i]), 0);
    }
    ck_assert_int_eq(pthread_create(&threads[LOAD_THREADS], NULL, send_payouts, &payouts), 0);
    for (int cut = 0; cut < LOAD_CUTS; cut++) {
        test_sleep_ms(LOAD_CUT_GAP_MS);
        (void)fixture_cut_connections(&hx.db);
    }
    test_sleep_ms(LOAD_CUT_GAP_MS);
    atomic_store(&load_stop, true);
    for (int i = 0; i <= LOAD_THREADS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < LOAD_THREADS; i++) {
        unavailable += clients[i].unavailable;
        ck_assert_msg(clients[i].why[0] == '\0', "client %d: %s", i, clients[i].why);
        receipts += clients[i].sent;
        for (int r = 0; r < clients[i].sent; r++) {
            char sql[SQL_SIZE];
            snprintf(sql, sizeof sql,
                     "SELECT coalesce(max(seq), -1) * 1000 + count(*) FROM entries "
                     "WHERE bank_ref = 'load-%d-%d'",
                     i, r);
            long long found = fixture_query_int(&hx.db, sql);
            ck_assert_msg(found % 1000 == 1, "receipt load-%d-%d booked %lld times", i, r,
                          found % 1000);
            ck_assert_msg(found / 1000 == clients[i].entry_ids[r],
                          "receipt load-%d-%d: answered entry %lld, booked %lld", i, r,
                          (long long)clients[i].entry_ids[r], found / 1000);
        }
    }
    unavailable += payouts.unavailable;
    ck_assert_msg(payouts.why[0] == '\0', "payouts: %s", payouts.why);
    ck_assert_int_eq(payouts.approved, payouts.sent);
    ck_assert_int_eq(fixture_query_int(&hx.db, "SELECT count(*) FROM disbursements WHERE "
                                               "status = 'approved'"),
                     payouts.approved);
    ck_assert_int_eq(balance_of("RECONNECT-3"), 100 * RECEIPT_MINOR + receipts * RECEIPT_MINOR -
                                                    payouts.approved * PAYOUT_MINOR);
    fprintf(stderr,
            "bookings_in_flight_at_the_loss: %lld receipts, %d payouts, %d answers 503 on the "
            "way\n",
            receipts, payouts.approved, unavailable);
    ck_assert_int_eq(http_fixture_verify(&hx), 0);
}
END_TEST

Suite *http_reconnect_suite(void)
{
    Suite *suite = suite_create("http_reconnect");
    TCase *reconnect = tcase_create("reconnect");
    tcase_add_checked_fixture(reconnect, setup, teardown);
    tcase_set_timeout(reconnect, TEST_TIMEOUT_S);
    tcase_add_test(reconnect, serves_again_after_connections_cut);
    tcase_add_test(reconnect, healthz_follows_the_database);
    tcase_add_test(reconnect, bookings_in_flight_at_the_loss);
    suite_add_tcase(suite, reconnect);
    return suite;
}

int main(void)
{
    http_fixture_setup(&hx, "httpreconnect");
    SRunner *runner = srunner_create(http_reconnect_suite());
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    http_fixture_teardown(&hx);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

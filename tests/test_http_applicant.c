/* The applicant's side, black box: the real binary serves POST /v1/status
 * and the page at GET / on a fresh fixture database with a case, two
 * receipts, a paid payout and a requested one.
 *
 *   status   the right code gives the right amounts; a wrong code and an
 *            unknown case give byte-identical 404 bodies; the code never
 *            reaches the server's log
 *   limits   past the per-case limit: 429 with Retry-After (even with the
 *            right code); past the per-client limit: 429 for every case
 *   browser  headless chromium opens /#case=...&code=..., the page looks
 *            the case up and shows the amounts; a screenshot at phone size
 *            goes to tests/artifacts/applicant.png. Without chromium this
 *            FAILS (it is a dependency of the test set-up, scripts/dev). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db_fixture.h"
#include "http_client.h"

#ifndef CASELEDGER_TEST_BIN
#define CASELEDGER_TEST_BIN "caseledger"
#endif
#ifndef CASELEDGER_TEST_SQL_DIR
#define CASELEDGER_TEST_SQL_DIR "sql"
#endif
#ifndef CASELEDGER_ARTIFACTS_DIR
#define CASELEDGER_ARTIFACTS_DIR "tests/artifacts"
#endif

#define SERVER_START_TIMEOUT_MS 20000
#define SERVER_STOP_TIMEOUT_MS 20000
#define BROWSER_TIMEOUT_MS 90000 /* one chromium run, wall clock */
#define PATH_SIZE 512
#define JSON_TEXT_SIZE 1024

/* The case the applicant looks up, and one more for the limits. */
static const char case_paid[] = "(2024)\xe6\xb2\xaa"
                                "0115\xe6\x89\xa7"
                                "2001\xe5\x8f\xb7";
static const char case_other[] = "(2024)APPLICANT-2";
static const char case_limited[] = "(2024)APPLICANT-3";
static const char case_victim[] = "(2024)APPLICANT-4"; /* one applicant, many guessers */
static const char case_victim_2[] = "(2024)APPLICANT-5";

static struct fixture db;
static char code_paid[LEDGER_ACCESS_CODE_TEXT_SIZE];
static char code_other[LEDGER_ACCESS_CODE_TEXT_SIZE];
static char code_limited[LEDGER_ACCESS_CODE_TEXT_SIZE];
static char code_victim[LEDGER_ACCESS_CODE_TEXT_SIZE];
static char code_victim_2[LEDGER_ACCESS_CODE_TEXT_SIZE];
static struct http_server_process server;
static char server_log[PATH_SIZE];

/* ---- set-up: the books ---- */

static void die(const char *what, struct ledger *ledger)
{
    fprintf(stderr, "test_http_applicant: %s: %s\n", what,
            ledger ? ledger_last_detail(ledger) : "");
    exit(2);
}

static void book_receipt(struct ledger *ledger, const char *case_no, int64_t amount_minor,
                         const char *date, const char *key)
{
    struct ledger_receipt_request request = {
        .case_no = case_no, .amount_minor = amount_minor, .payer = "Debtor Ltd", .bank_ref = key};
    struct ledger_booking booking;
    if (ledger_date_parse(&request.value_date_days, date) != LEDGER_OK ||
        ledger_receipt(ledger, "clerk1", &request, key, &booking) != LEDGER_OK)
        die("receipt", ledger);
}

static int64_t request_payout(struct ledger *ledger, const char *case_no, int64_t amount_minor,
                              const char *key)
{
    struct ledger_disbursement_request request = {.case_no = case_no,
                                                  .amount_minor = amount_minor,
                                                  .payee_name = "Applicant",
                                                  .payee_account = "6222000099998888",
                                                  .payee_bank = "Test Bank",
                                                  .purpose = "judgment payment"};
    int64_t id = 0;
    bool replayed = false;
    if (ledger_disbursement_request(ledger, "clerk1", &request, key, &id, &replayed) != LEDGER_OK)
        die("disbursement request", ledger);
    return id;
}

/* case_paid: receipts 1234.56 and 500.00; a payout of 300.00 approved and
 * paid; a payout of 200.00 requested. Received 1734.56, paid out 300.00,
 * held 1434.56. */
static void seed_books(void)
{
    struct ledger *ledger = fixture_ledger(&db);
    fixture_open_case(ledger, case_paid, code_paid);
    fixture_open_case(ledger, case_other, code_other);
    fixture_open_case(ledger, case_limited, code_limited);
    fixture_open_case(ledger, case_victim, code_victim);
    fixture_open_case(ledger, case_victim_2, code_victim_2);
    book_receipt(ledger, case_paid, 123456, "2026-11-20", "applicant-r1");
    book_receipt(ledger, case_paid, 50000, "2026-11-21", "applicant-r2");
    book_receipt(ledger, case_other, 1000, "2026-11-22", "applicant-r3");
    int64_t paid = request_payout(ledger, case_paid, 30000, "applicant-d1");
    struct ledger_booking booking;
    int32_t value_date = 0;
    if (ledger_disbursement_approve(ledger, "approver1", paid, "applicant-d1-approve", &booking) !=
            LEDGER_OK ||
        ledger_date_parse(&value_date, "2026-11-23") != LEDGER_OK ||
        ledger_disbursement_settle(ledger, "approver2", paid, "BANK-PAID-1", value_date,
                                   "applicant-d1-settle", &booking) != LEDGER_OK)
        die("payout approve/settle", ledger);
    (void)request_payout(ledger, case_paid, 20000, "applicant-d2");
    ledger_close(ledger);
}

static void suite_setup(void)
{
    /* Outside ctest (e.g. the valgrind pass of scripts/dev) the build's
     * own paths stand in for the environment ctest sets. */
    setenv("CASELEDGER_SQL_DIR", CASELEDGER_TEST_SQL_DIR, 0);
    setenv("CASELEDGER_BIN", CASELEDGER_TEST_BIN, 0);
    fixture_setup(&db, "applicant");
    seed_books();
}

/* ---- the server ---- */

static char *file_text(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return strdup("");
    char *text = NULL;
    size_t size = 0;
    char block[4096];
    size_t got = 0;
    while ((got = fread(block, 1, sizeof block, file)) > 0) {
        char *grown = realloc(text, size + got + 1);
        ck_assert_ptr_nonnull(grown);
        text = grown;
        memcpy(text + size, block, got);
        size += got;
    }
    fclose(file);
    if (text == NULL)
        return strdup("");
    text[size] = '\0';
    return text;
}

/* The server, behind a proxy at 127.0.0.1 when proxy is set. */
static void server_start_behind(const char *proxy)
{
    snprintf(server_log, sizeof server_log, "%s/server.log", db.key_dir);
    const char *args[] = {"--dsn",     db.app_dsn,  "--key-dir", db.key_dir,          "--key-file",
                          db.key_file, "--threads", "4",         "--trusted-proxies", proxy,
                          NULL};
    if (proxy == NULL)
        args[8] = NULL;
    char error[256];
    if (!http_server_start(&server, getenv("CASELEDGER_BIN"), args, server_log,
                           SERVER_START_TIMEOUT_MS, error, sizeof error)) {
        fprintf(stderr, "test_http_applicant: %s\n", error);
        exit(2);
    }
}

static void server_start(void)
{
    server_start_behind(NULL);
}

static void server_start_proxied(void)
{
    server_start_behind("127.0.0.1");
}

/* Set when a server did not exit cleanly on SIGTERM (a crash, or a
 * sanitizer's report at exit): the suite then fails. */
static bool server_exit_unclean;

static void server_stop(void)
{
    int status = http_server_stop(&server, SERVER_STOP_TIMEOUT_MS);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *log = file_text(server_log);
        fprintf(stderr, "test_http_applicant: the server exited with status %d; its log:\n%s\n",
                status, log);
        free(log);
        server_exit_unclean = true;
    }
    unlink(server_log);
}

/* POST /v1/status {"case_no", "access_code"}; the status, 0 without one. */
static int post_status(struct http_client_response *response, const char *case_no, const char *code)
{
    json_t *body = json_pack("{s:s, s:s}", "case_no", case_no, "access_code", code);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    ck_assert_ptr_nonnull(text);
    int result = http_client_post_json(response, server.port, "/v1/status", text);
    free(text);
    ck_assert_msg(result == 0, "no answer from the server: %s", response->error);
    return response->status;
}

static json_t *body_json(const struct http_client_response *response)
{
    json_error_t error;
    json_t *value = json_loadb(response->body, response->body_size, 0, &error);
    ck_assert_msg(value != NULL, "not JSON (%s): %s", error.text, response->body);
    return value;
}

static const char *string_of(json_t *object, const char *name)
{
    const char *value = json_string_value(json_object_get(object, name));
    ck_assert_msg(value != NULL, "no string \"%s\"", name);
    return value;
}

static long long integer_of(json_t *object, const char *name)
{
    json_t *value = json_object_get(object, name);
    ck_assert_msg(json_is_integer(value), "no integer \"%s\"", name);
    return (long long)json_integer_value(value);
}

/* ---- status ---- */

static void check_receipt(json_t *item, long long amount, const char *text, const char *date)
{
    ck_assert_int_eq(integer_of(item, "amount"), amount);
    ck_assert_str_eq(string_of(item, "amount_text"), text);
    ck_assert_str_eq(string_of(item, "value_date"), date);
}

START_TEST(right_code_gives_the_amounts)
{
    struct http_client_response response;
    ck_assert_int_eq(post_status(&response, case_paid, code_paid), 200);
    ck_assert_ptr_nonnull(
        strstr(http_client_header(&response, "Content-Type"), "application/json"));
    json_t *status = body_json(&response);
    ck_assert_str_eq(string_of(status, "case_no"), case_paid);
    ck_assert_str_eq(string_of(status, "status"), "open");
    ck_assert_str_eq(string_of(status, "currency"), "CNY");
    ck_assert_int_eq(integer_of(status, "received_total"), 173456);
    ck_assert_int_eq(integer_of(status, "disbursed_total"), 30000);
    ck_assert_int_eq(integer_of(status, "held"), 143456);
    ck_assert_str_eq(string_of(status, "held_text"), "1434.56");
    json_t *receipts = json_object_get(status, "receipts");
    ck_assert_uint_eq(json_array_size(receipts), 2);
    check_receipt(json_array_get(receipts, 0), 50000, "500.00", "2026-11-21"); /* newest first */
    check_receipt(json_array_get(receipts, 1), 123456, "1234.56", "2026-11-20");
    json_t *payouts = json_object_get(status, "disbursements");
    ck_assert_uint_eq(json_array_size(payouts), 2);
    json_t *requested = json_array_get(payouts, 0);
    ck_assert_int_eq(integer_of(requested, "amount"), 20000);
    ck_assert_str_eq(string_of(requested, "amount_text"), "200.00");
    ck_assert_str_eq(string_of(requested, "status"), "requested");
    ck_assert_ptr_nonnull(strchr(string_of(requested, "requested_at"), 'T'));
    ck_assert_ptr_null(json_object_get(requested, "approved_at"));
    ck_assert_ptr_null(json_object_get(requested, "paid_at"));
    json_t *paid = json_array_get(payouts, 1);
    ck_assert_int_eq(integer_of(paid, "amount"), 30000);
    ck_assert_str_eq(string_of(paid, "status"), "paid");
    ck_assert_ptr_nonnull(strchr(string_of(paid, "approved_at"), 'T'));
    ck_assert_ptr_nonnull(strchr(string_of(paid, "paid_at"), 'T'));
    /* Nothing staff-only: no payee, no pay-in number, no code. */
    ck_assert_ptr_null(strstr(response.body, "6222000099998888"));
    ck_assert_ptr_null(strstr(response.body, "payin"));
    ck_assert_ptr_null(strstr(response.body, code_paid));
    json_decref(status);
    http_client_response_free(&response);
}
END_TEST

/* The names of an object, in order, joined by commas. */
static void keys_of(char *out, size_t out_size, json_t *object)
{
    size_t used = 0;
    out[0] = '\0';
    for (void *at = json_object_iter(object); at != NULL; at = json_object_iter_next(object, at)) {
        int written = snprintf(out + used, out_size - used, "%s%s", used > 0 ? "," : "",
                               json_object_iter_key(at));
        ck_assert(written > 0 && (size_t)written < out_size - used);
        used += (size_t)written;
    }
}

static void check_keys(json_t *object, const char *expected)
{
    char keys[512];
    keys_of(keys, sizeof keys, object);
    ck_assert_str_eq(keys, expected);
}

/* The answer is written as text by the server: byte for byte what
 * jansson writes (JSON_COMPACT) for the same values in the same order, as
 * it was when jansson wrote it, for an answer with both lists and every
 * optional field, and for one with empty lists. */
START_TEST(answer_is_jansson_compact)
{
    const char *cases[][2] = {{case_paid, code_paid}, {case_other, code_other}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_client_response response;
        ck_assert_int_eq(post_status(&response, cases[i][0], cases[i][1]), 200);
        json_t *status = body_json(&response);
        char *again = json_dumps(status, JSON_COMPACT);
        ck_assert_ptr_nonnull(again);
        ck_assert_str_eq(response.body, again);
        ck_assert_uint_eq(response.body_size, strlen(again));
        free(again);
        /* The names in the order API clients have always seen them. */
        check_keys(status, "case_no,status,currency,received_total,received_total_text,"
                           "disbursed_total,disbursed_total_text,held,held_text,receipts,"
                           "receipts_more,disbursements,disbursements_more");
        json_t *receipts = json_object_get(status, "receipts");
        for (size_t r = 0; r < json_array_size(receipts); r++)
            check_keys(json_array_get(receipts, r), "amount,amount_text,value_date,booked_at");
        json_t *payouts = json_object_get(status, "disbursements");
        for (size_t p = 0; p < json_array_size(payouts); p++) {
            json_t *payout = json_array_get(payouts, p);
            check_keys(payout, json_object_get(payout, "paid_at") != NULL
                                   ? "amount,amount_text,status,requested_at,approved_at,paid_at"
                                   : "amount,amount_text,status,requested_at");
        }
        json_decref(status);
        http_client_response_free(&response);
    }
}
END_TEST

START_TEST(code_in_any_grouping_and_case)
{
    char loose[LEDGER_ACCESS_CODE_TEXT_SIZE];
    size_t used = 0;
    for (const char *c = code_other; *c != '\0'; c++)
        if (*c != '-')
            loose[used++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    loose[used] = '\0';
    struct http_client_response response;
    ck_assert_int_eq(post_status(&response, case_other, loose), 200);
    json_t *status = body_json(&response);
    ck_assert_int_eq(integer_of(status, "received_total"), 1000);
    ck_assert_uint_eq(json_array_size(json_object_get(status, "disbursements")), 0);
    json_decref(status);
    http_client_response_free(&response);
}
END_TEST

/* A well-formed code that is not the case's. */
static void wrong_code(char out[LEDGER_ACCESS_CODE_TEXT_SIZE], const char *code)
{
    snprintf(out, LEDGER_ACCESS_CODE_TEXT_SIZE, "%s", code);
    out[0] = out[0] == 'A' ? 'B' : 'A';
}

START_TEST(wrong_code_and_unknown_case_look_the_same)
{
    char code[LEDGER_ACCESS_CODE_TEXT_SIZE];
    wrong_code(code, code_other);
    struct http_client_response wrong;
    struct http_client_response unknown;
    ck_assert_int_eq(post_status(&wrong, case_other, code), 404);
    ck_assert_int_eq(post_status(&unknown, "(2024)NO-SUCH-CASE-1", code), 404);
    ck_assert_str_eq(wrong.body, unknown.body);
    ck_assert_str_eq(http_client_header(&wrong, "Content-Type"),
                     http_client_header(&unknown, "Content-Type"));
    ck_assert_ptr_nonnull(
        strstr(http_client_header(&wrong, "Content-Type"), "application/problem+json"));
    json_t *problem = body_json(&wrong);
    ck_assert_str_eq(string_of(problem, "code"), "not_found");
    ck_assert_int_eq(integer_of(problem, "status"), 404);
    json_decref(problem);
    ck_assert_uint_eq(wrong.headers_count, unknown.headers_count);
    http_client_response_free(&wrong);
    http_client_response_free(&unknown);
}
END_TEST

START_TEST(missing_fields_are_400)
{
    struct http_client_response response;
    ck_assert_int_eq(http_client_post_json(&response, server.port, "/v1/status",
                                           "{\"case_no\":\"(2024)APPLICANT-2\"}"),
                     0);
    ck_assert_int_eq(response.status, 400);
    http_client_response_free(&response);
    ck_assert_int_eq(http_client_post_json(&response, server.port, "/v1/status", "{\"case_no\":"),
                     0);
    ck_assert_int_eq(response.status, 400);
    http_client_response_free(&response);
}
END_TEST

START_TEST(codes_never_reach_the_log)
{
    struct http_client_response response;
    char code[LEDGER_ACCESS_CODE_TEXT_SIZE];
    wrong_code(code, code_paid);
    (void)post_status(&response, case_paid, code_paid);
    http_client_response_free(&response);
    (void)post_status(&response, "(2024)NO-SUCH-CASE-2", code);
    http_client_response_free(&response);
    char *log = file_text(server_log);
    ck_assert_msg(strstr(log, "/v1/status") != NULL, "the server logged no request: %s", log);
    ck_assert_msg(strstr(log, code_paid) == NULL && strstr(log, code) == NULL,
                  "an access code is in the server's log");
    free(log);
}
END_TEST

START_TEST(page_and_description_are_served)
{
    struct http_client_response response;
    ck_assert_int_eq(http_client_request(&response, server.port, "GET", "/", NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(response.status, 200);
    ck_assert_ptr_nonnull(strstr(http_client_header(&response, "Content-Type"), "text/html"));
    ck_assert_ptr_nonnull(strstr(response.body, "/v1/status"));
    http_client_response_free(&response);
    ck_assert_int_eq(
        http_client_request(&response, server.port, "GET", "/v1/openapi.json", NULL, 0, NULL, 0),
        0);
    ck_assert_int_eq(response.status, 200);
    json_t *document = body_json(&response);
    ck_assert_str_eq(string_of(document, "openapi"), "3.1.0");
    json_decref(document);
    http_client_response_free(&response);
}
END_TEST

/* ---- limits ---- */

static void check_rate_limited(struct http_client_response *response)
{
    ck_assert_int_eq(response->status, 429);
    const char *retry_after = http_client_header(response, "Retry-After");
    ck_assert_msg(retry_after != NULL, "429 without Retry-After");
    long seconds = strtol(retry_after, NULL, 10);
    ck_assert_msg(seconds >= 1 && seconds <= API_STATUS_WINDOW_S, "Retry-After %s", retry_after);
    json_t *problem = body_json(response);
    ck_assert_str_eq(string_of(problem, "code"), "rate_limited");
    json_decref(problem);
}

/* One test, in order: the per-client counter carries the per-case test's
 * failures over. */
START_TEST(failures_are_limited_per_case_then_per_client)
{
    char code[LEDGER_ACCESS_CODE_TEXT_SIZE];
    wrong_code(code, code_limited);
    struct http_client_response response;
    for (int i = 0; i < API_STATUS_FAILURES_PER_CLIENT_CASE; i++) {
        ck_assert_int_eq(post_status(&response, case_limited, code), 404);
        http_client_response_free(&response);
    }
    /* Checked before the lookup: the right code does not get through. */
    (void)post_status(&response, case_limited, code_limited);
    check_rate_limited(&response);
    http_client_response_free(&response);
    /* The same case in another spelling (full-width brackets) is limited too. */
    (void)post_status(&response,
                      "\xef\xbc\x88"
                      "2024\xef\xbc\x89"
                      "APPLICANT-3",
                      code_limited);
    check_rate_limited(&response);
    http_client_response_free(&response);
    /* Another case from the same client is still answered. */
    ck_assert_int_eq(post_status(&response, case_other, code_other), 200);
    http_client_response_free(&response);
    for (int i = API_STATUS_FAILURES_PER_CLIENT_CASE; i < API_STATUS_FAILURES_PER_IP; i++) {
        char unknown[64];
        snprintf(unknown, sizeof unknown, "(2024)NO-SUCH-CASE-%d", 100 + i);
        ck_assert_int_eq(post_status(&response, unknown, code), 404);
        http_client_response_free(&response);
    }
    (void)post_status(&response, case_other, code_other);
    check_rate_limited(&response);
    http_client_response_free(&response);
}
END_TEST

/* ---- clients: who is locked out ---- */

/* POST /v1/status from the source address source_ip (any 127.x.y.z: the
 * loopback answers to all of them), with an X-Forwarded-For line unless
 * forwarded_for is NULL. The status; response is the caller's to free. */
static int post_status_from(struct http_client_response *response, const char *source_ip,
                            const char *forwarded_for, const char *case_no, const char *code)
{
    json_t *body = json_pack("{s:s, s:s}", "case_no", case_no, "access_code", code);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    ck_assert_ptr_nonnull(text);
    char forwarded[128] = "";
    if (forwarded_for != NULL)
        snprintf(forwarded, sizeof forwarded, "X-Forwarded-For: %s\r\n", forwarded_for);
    char request[2048];
    int length = snprintf(request, sizeof request,
                          "POST /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                          "Content-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n%s",
                          forwarded, strlen(text), text);
    free(text);
    ck_assert_int_lt(length, (int)sizeof request);
    int socket_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(socket_fd, 0);
    struct sockaddr_in source = {.sin_family = AF_INET};
    ck_assert_int_eq(inet_pton(AF_INET, source_ip, &source.sin_addr), 1);
    ck_assert_int_eq(bind(socket_fd, (struct sockaddr *)(void *)&source, sizeof source), 0);
    struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server.port)};
    ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.1", &target.sin_addr), 1);
    ck_assert_int_eq(connect(socket_fd, (struct sockaddr *)(void *)&target, sizeof target), 0);
    ck_assert(http_client_send(socket_fd, request, (size_t)length, 10000));
    int result = http_client_receive(socket_fd, response, 10000);
    close(socket_fd);
    ck_assert_msg(result == 0, "no answer from the server: %s", response->error);
    return response->status;
}

static void expect_status_from(const char *source_ip, const char *forwarded_for,
                               const char *case_no, const char *code, int want)
{
    struct http_client_response response;
    int status = post_status_from(&response, source_ip, forwarded_for, case_no, code);
    if (want == 429)
        check_rate_limited(&response);
    http_client_response_free(&response);
    ck_assert_msg(status == want, "%s (forwarded for %s): %d, want %d", source_ip,
                  forwarded_for ? forwarded_for : "nobody", status, want);
}

/* Wrong codes from one address lock that address out of that case, not
 * the case for everyone (they used to lock the case's status for 10
 * minutes: anyone could lock a chosen applicant out). The lock is the
 * first of a doubling series: API_STATUS_BACKOFF_S. */
START_TEST(guessing_locks_the_guesser_not_the_case)
{
    char code[LEDGER_ACCESS_CODE_TEXT_SIZE];
    wrong_code(code, code_victim);
    for (int i = 0; i < API_STATUS_FAILURES_PER_CLIENT_CASE; i++)
        expect_status_from("127.0.0.1", NULL, case_victim, code, 404);
    /* The applicant, from another address, still gets in. */
    expect_status_from("127.0.0.2", NULL, case_victim, code_victim, 200);
    /* The guesser does not, not even with the right code, for a while. */
    struct http_client_response response;
    (void)post_status_from(&response, "127.0.0.1", NULL, case_victim, code_victim);
    check_rate_limited(&response);
    long retry_s = strtol(http_client_header(&response, "Retry-After"), NULL, 10);
    http_client_response_free(&response);
    ck_assert_msg(retry_s <= API_STATUS_BACKOFF_S, "the first lock lasts %ld s", retry_s);
}
END_TEST

/* Behind a trusted proxy (127.0.0.1 here) every client is its forwarded
 * address: one client's failures lock neither the case nor the proxy's
 * other clients. */
START_TEST(clients_behind_a_trusted_proxy_are_apart)
{
    char code[LEDGER_ACCESS_CODE_TEXT_SIZE];
    wrong_code(code, code_victim_2);
    for (int i = 0; i < API_STATUS_FAILURES_PER_CLIENT_CASE; i++)
        expect_status_from("127.0.0.1", "198.51.100.1", case_victim_2, code, 404);
    expect_status_from("127.0.0.1", "198.51.100.1", case_victim_2, code_victim_2, 429);
    expect_status_from("127.0.0.1", "198.51.100.2", case_victim_2, code_victim_2, 200);
    /* A spoofed address left of the proxy's own entry is not believed. */
    expect_status_from("127.0.0.1", "198.51.100.2, 198.51.100.1", case_victim_2, code_victim_2,
                       429);
    /* Past the per-client limit: that client is locked out of every case. */
    for (int i = API_STATUS_FAILURES_PER_CLIENT_CASE; i < API_STATUS_FAILURES_PER_IP; i++) {
        char unknown[64];
        snprintf(unknown, sizeof unknown, "(2024)NO-SUCH-CASE-%d", 200 + i);
        expect_status_from("127.0.0.1", "198.51.100.1", unknown, code, 404);
    }
    expect_status_from("127.0.0.1", "198.51.100.1", case_other, code_other, 429);
    /* ... and nobody else is: neither another client nor the proxy. */
    expect_status_from("127.0.0.1", "198.51.100.3", case_other, code_other, 200);
    expect_status_from("127.0.0.1", NULL, case_other, code_other, 200);
}
END_TEST

/* Without --trusted-proxies a client's X-Forwarded-For is ignored: it
 * cannot escape its limit by naming other addresses. */
START_TEST(forwarded_for_ignored_from_untrusted_peers)
{
    char code[LEDGER_ACCESS_CODE_TEXT_SIZE];
    wrong_code(code, code_other);
    for (int i = 0; i < API_STATUS_FAILURES_PER_IP; i++) {
        char unknown[64];
        char spoofed[32];
        snprintf(unknown, sizeof unknown, "(2024)NO-SUCH-CASE-%d", 300 + i);
        snprintf(spoofed, sizeof spoofed, "198.51.100.%d", 10 + i);
        expect_status_from("127.0.0.3", spoofed, unknown, code, 404);
    }
    expect_status_from("127.0.0.3", "198.51.100.99", case_other, code_other, 429);
    expect_status_from("127.0.0.4", "198.51.100.99", case_other, code_other, 200);
}
END_TEST

/* ---- browser ---- */

/* The chromium to run: $CASELEDGER_CHROMIUM, or chromium on PATH. */
static bool find_chromium(char out[PATH_SIZE])
{
    const char *given = getenv("CASELEDGER_CHROMIUM");
    if (given != NULL && given[0] != '\0') {
        snprintf(out, PATH_SIZE, "%s", given);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    char directories[4096];
    snprintf(directories, sizeof directories, "%s", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *dir = strtok_r(directories, ":", &save); dir != NULL;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, PATH_SIZE, "%s/chromium", dir);
        if (access(out, X_OK) == 0)
            return true;
    }
    return false;
}

static long long now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Runs argv with stdout to stdout_path and stderr to stderr_path; its exit
 * status, or -1 when it had to be killed after BROWSER_TIMEOUT_MS. */
static int run_bounded(const char *const *argv, const char *stdout_path, const char *stderr_path)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int out = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0)
            _exit(126);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        setpgid(0, 0); /* its own group: a timeout ends chromium's helpers too */
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    long long deadline = now_ms() + BROWSER_TIMEOUT_MS;
    int status = 0;
    pid_t done = 0;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < deadline) {
        struct timespec pause = {0, 50 * 1000000};
        nanosleep(&pause, NULL);
    }
    if (done == 0) {
        kill(-pid, SIGKILL);
        (void)waitpid(pid, &status, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* chromium --headless with the flags that keep it off the network, on
 * url, plus one extra flag (--dump-dom or --screenshot=...). */
static int run_chromium(const char *chromium, const char *profile, const char *url,
                        const char *language, const char *action, const char *stdout_path,
                        const char *stderr_path)
{
    char language_flag[32];
    snprintf(language_flag, sizeof language_flag, "--accept-lang=%s", language);
    char user_data[PATH_SIZE + 32];
    snprintf(user_data, sizeof user_data, "--user-data-dir=%s", profile);
    const char *argv[] = {chromium,
                          "--headless",
                          "--no-sandbox",
                          "--disable-gpu",
                          "--disable-quic",
                          "--no-first-run",
                          "--disable-background-networking",
                          "--disable-component-update",
                          "--disable-sync",
                          language_flag,
                          "--hide-scrollbars",
                          user_data,
                          "--virtual-time-budget=8000",
                          "--window-size=390,844",
                          action,
                          url,
                          NULL};
    return run_bounded(argv, stdout_path, stderr_path);
}

static void url_encode(char *out, size_t size, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t used = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0' && used + 4 < size; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '_' || *c == '.') {
            out[used++] = (char)*c;
        } else {
            out[used++] = '%';
            out[used++] = hex[*c >> 4];
            out[used++] = hex[*c & 15];
        }
    }
    out[used] = '\0';
}

/* The page at url in language: its DOM after the lookup, and a screenshot
 * at phone size in tests/artifacts/name. */
static char *browse(const char *chromium, const char *profile, const char *url,
                    const char *language, const char *name)
{
    char dom_path[PATH_SIZE + 16];
    char stderr_path[PATH_SIZE + 16];
    snprintf(dom_path, sizeof dom_path, "%s/dom.html", profile);
    snprintf(stderr_path, sizeof stderr_path, "%s/chromium.log", profile);
    int exit_status =
        run_chromium(chromium, profile, url, language, "--dump-dom", dom_path, stderr_path);
    char *dom = file_text(dom_path);
    char *chromium_log = file_text(stderr_path);
    ck_assert_msg(exit_status == 0 && dom[0] != '\0', "chromium failed (%d): %s", exit_status,
                  chromium_log);
    free(chromium_log);
    mkdir(CASELEDGER_ARTIFACTS_DIR, 0755);
    char png[PATH_SIZE + 32];
    char screenshot[PATH_SIZE + 48];
    snprintf(png, sizeof png, "%s/%s", CASELEDGER_ARTIFACTS_DIR, name);
    snprintf(screenshot, sizeof screenshot, "--screenshot=%s", png);
    unlink(png);
    /* A profile of its own: the first chromium's helpers may still hold the
     * first profile's lock for a moment after it exited. One retry, for a
     * chromium that gave up on a busy machine. */
    char shot_profile[PATH_SIZE + 16];
    snprintf(shot_profile, sizeof shot_profile, "%s/shot", profile);
    mkdir(shot_profile, 0700);
    struct stat picture;
    bool made = false;
    for (int attempt = 0; attempt < 2 && !made; attempt++) {
        exit_status =
            run_chromium(chromium, shot_profile, url, language, screenshot, dom_path, stderr_path);
        made = exit_status == 0 && stat(png, &picture) == 0 && picture.st_size > 1000;
    }
    chromium_log = file_text(stderr_path);
    ck_assert_msg(made, "chromium made no screenshot at %s (%d): %s", png, exit_status,
                  chromium_log);
    free(chromium_log);
    return dom;
}

static void check_shown(const char *dom, const char *const *shown, size_t shown_count)
{
    for (size_t i = 0; i < shown_count; i++) {
        if (strstr(dom, shown[i]) == NULL) {
            /* The whole DOM is too long for a Check message. */
            fprintf(stderr, "--- the page's DOM ---\n%s\n---\n", dom);
            ck_abort_msg("the page does not show \"%s\" (its DOM is on stderr)", shown[i]);
        }
    }
    ck_assert_msg(strstr(dom, "id=\"result\" hidden") == NULL, "the result stayed hidden");
}

START_TEST(browser_shows_the_amounts)
{
    char chromium[PATH_SIZE];
    ck_assert_msg(find_chromium(chromium),
                  "chromium is not installed: the browser test needs Debian's chromium package "
                  "(scripts/dev deps installs it; or set CASELEDGER_CHROMIUM)");
    char profile[] = "/tmp/caseledger-chromium-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(profile));
    char case_encoded[256];
    char code_encoded[64];
    url_encode(case_encoded, sizeof case_encoded, case_paid);
    url_encode(code_encoded, sizeof code_encoded, code_paid);
    char url[PATH_SIZE];
    snprintf(url, sizeof url, "%s/#case=%s&code=%s", server.base_url, case_encoded, code_encoded);

    static const char *const amounts[] = {
        "1734.56 CNY", /* received */
        "1434.56 CNY", /* held */
        "300.00 CNY",  /* paid out, and the paid payout */
        "1234.56 CNY", "500.00 CNY", "2026-11-20",
        "2026-11-21",  "200.00 CNY", /* the requested payout */
    };
    char *dom = browse(chromium, profile, url, "en-US", "applicant.png");
    check_shown(dom, amounts, sizeof amounts / sizeof amounts[0]);
    static const char *const english[] = {"Paid", "Awaiting approval", "Open", "Case fund status"};
    check_shown(dom, english, sizeof english / sizeof english[0]);
    free(dom);

    /* The language follows the browser's: zh-CN gives the Chinese page. */
    dom = browse(chromium, profile, url, "zh-CN", "applicant-zh.png");
    check_shown(dom, amounts, sizeof amounts / sizeof amounts[0]);
    static const char *const chinese[] = {
        "\xe5\xb7\xb2\xe6\x94\xaf\xe4\xbb\x98", /* paid */
        "\xe5\xbe\x85\xe5\xae\xa1\xe6\x89\xb9", /* awaiting approval */
        "lang=\"zh-CN\"",
    };
    check_shown(dom, chinese, sizeof chinese / sizeof chinese[0]);
    free(dom);

    char command[PATH_SIZE + 32];
    snprintf(command, sizeof command, "rm -rf '%s'", profile);
    ck_assert_int_eq(system(command), 0);
}
END_TEST

static Suite *applicant_suite(void)
{
    Suite *suite = suite_create("http_applicant");
    TCase *status = tcase_create("status");
    tcase_add_unchecked_fixture(status, server_start, server_stop);
    tcase_add_test(status, right_code_gives_the_amounts);
    tcase_add_test(status, code_in_any_grouping_and_case);
    tcase_add_test(status, answer_is_jansson_compact);
    tcase_add_test(status, wrong_code_and_unknown_case_look_the_same);
    tcase_add_test(status, missing_fields_are_400);
    tcase_add_test(status, codes_never_reach_the_log);
    tcase_add_test(status, page_and_description_are_served);
    suite_add_tcase(suite, status);
    TCase *limits = tcase_create("limits");
    tcase_add_unchecked_fixture(limits, server_start, server_stop);
    tcase_add_test(limits, failures_are_limited_per_case_then_per_client);
    suite_add_tcase(suite, limits);
    TCase *clients = tcase_create("clients");
    tcase_add_unchecked_fixture(clients, server_start, server_stop);
    tcase_add_test(clients, guessing_locks_the_guesser_not_the_case);
    tcase_add_test(clients, forwarded_for_ignored_from_untrusted_peers);
    suite_add_tcase(suite, clients);
    TCase *proxied = tcase_create("proxied");
    tcase_add_unchecked_fixture(proxied, server_start_proxied, server_stop);
    tcase_add_test(proxied, clients_behind_a_trusted_proxy_are_apart);
    suite_add_tcase(suite, proxied);
    TCase *browser = tcase_create("browser");
    tcase_add_unchecked_fixture(browser, server_start, server_stop);
    tcase_set_timeout(browser, 2 * BROWSER_TIMEOUT_MS / 1000 + 30);
    tcase_add_test(browser, browser_shows_the_amounts);
    suite_add_tcase(suite, browser);
    return suite;
}

int main(void)
{
    suite_setup();
    SRunner *runner = srunner_create(applicant_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    fixture_teardown(&db);
    return failed == 0 && !server_exit_unclean ? EXIT_SUCCESS : EXIT_FAILURE;
}

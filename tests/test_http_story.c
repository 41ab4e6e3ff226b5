/* Black-box story of one case through HTTP only, against the real binary
 * on a fresh database: a clerk opens a case, money comes in by pay-in
 * number, a payout is requested, refused to its requester, approved by
 * another user, settled; the applicant's status page follows every step.
 * Then every refusal the contract names, each leaving the books untouched
 * (fixture_books_digest before and after), idempotent and conflicting
 * retries, and a graceful shutdown with requests in flight.
 *
 * One database for the suite (main), one server per test (checked
 * fixture); the suite runs without fork so that a test can stop its server
 * and check the exit status (see http_server_fixture.h). */
#include <check.h>

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "http_server_fixture.h"
#include "payin.h"

Suite *http_story_suite(void);

#define PATH_SIZE 512
#define CASE_PATH_SIZE 400 /* room left for "/entries" and the like */
#define BODY_SIZE 2048
#define EXCERPT_SIZE 400
#define TEST_TIMEOUT_S 120
#define INFLIGHT_REQUESTS 6     /* requests held in their handlers at SIGTERM */
#define INFLIGHT_THREADS 8      /* server threads for the shutdown test (> requests) */
#define INFLIGHT_SETTLE_MS 1500 /* time for the held requests to reach their handlers */
#define VALUE_MISSING INT64_MIN

static struct http_fixture hx;

/* ---- calling the server ---------------------------------------------- */

struct answer {
    int status;
    json_t *json;   /* body as JSON, or NULL */
    char code[64];  /* problem+json code, or "" */
    char what[160]; /* "POST /v1/receipts" for messages */
    char excerpt[EXCERPT_SIZE];
};

/* One call; body_format (may be NULL: no body) is a printf format. */
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
    answer.status =
        http_fixture_call(&hx, &response, method, path, token, key, body_format ? body : NULL);
    answer.json = http_fixture_json(&response);
    http_fixture_problem_code(&response, answer.code, sizeof answer.code);
    snprintf(answer.what, sizeof answer.what, "%s %s", method, path);
    snprintf(answer.excerpt, sizeof answer.excerpt, "%s",
             response.body ? response.body : response.error);
    http_client_response_free(&response);
    return answer;
}

static void answer_free(struct answer *answer)
{
    json_decref(answer->json);
    answer->json = NULL;
}

#define EXPECT_STATUS(answer, want)                                                                \
    ck_assert_msg((answer).status == (want), "%s: status %d, want %d: %s", (answer).what,          \
                  (answer).status, (want), (answer).excerpt)

#define EXPECT_PROBLEM(answer, want_status, want_code)                                             \
    do {                                                                                           \
        EXPECT_STATUS(answer, want_status);                                                        \
        ck_assert_msg(strcmp((answer).code, (want_code)) == 0, "%s: code \"%s\", want \"%s\": %s", \
                      (answer).what, (answer).code, (want_code), (answer).excerpt);                \
    } while (0)

/* Actions on an existing resource answer 200 (or 201 when they book). */
#define EXPECT_DONE(answer)                                                                        \
    ck_assert_msg((answer).status == 200 || (answer).status == 201,                                \
                  "%s: status %d, want 200/201: %s", (answer).what, (answer).status,               \
                  (answer).excerpt)

/* A value by dotted path ("balance.held"); VALUE_MISSING when absent or
 * not an integer. */
static int64_t int_at(json_t *root, const char *dotted)
{
    char path[128];
    snprintf(path, sizeof path, "%s", dotted);
    json_t *value = root;
    for (char *part = strtok(path, "."); part != NULL && value != NULL; part = strtok(NULL, "."))
        value = json_object_get(value, part);
    return json_is_integer(value) ? (int64_t)json_integer_value(value) : VALUE_MISSING;
}

static const char *string_at(json_t *root, const char *name)
{
    const char *text = json_string_value(json_object_get(root, name));
    return text ? text : "";
}

/* ---- the books -------------------------------------------------------- */

static char *digest(void)
{
    return fixture_books_digest(&hx.db);
}

#define EXPECT_BOOKS_UNCHANGED(before, answer)                                                     \
    do {                                                                                           \
        char *after_ = digest();                                                                   \
        ck_assert_msg(strcmp((before), after_) == 0, "%s (%d) changed the books", (answer).what,   \
                      (answer).status);                                                            \
        free(after_);                                                                              \
    } while (0)

/* A refused call: exact status and code, and nothing booked or recorded. */
#define EXPECT_REFUSED(want_status, want_code, method, path, token, key, ...)                      \
    do {                                                                                           \
        char *before_ = digest();                                                                  \
        struct answer refused_ = call(method, path, token, key, __VA_ARGS__);                      \
        EXPECT_PROBLEM(refused_, want_status, want_code);                                          \
        EXPECT_BOOKS_UNCHANGED(before_, refused_);                                                 \
        free(before_);                                                                             \
        answer_free(&refused_);                                                                    \
    } while (0)

/* ---- story helpers ---------------------------------------------------- */

struct opened_case {
    char case_no[128];
    char path[CASE_PATH_SIZE]; /* /v1/cases/<percent-encoded case_no> */
    char payin_no[32];
    char access_code[64];
};

static bool access_code_well_formed(const char *code)
{
    size_t length = strlen(code);
    if (length < LEDGER_ACCESS_CODE_CHARS)
        return false;
    size_t symbols = 0;
    for (size_t i = 0; i < length; i++) {
        char c = code[i];
        if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))
            symbols++;
        else if (c != '-')
            return false;
    }
    return symbols == LEDGER_ACCESS_CODE_CHARS;
}

/* POST /v1/cases as the clerk: 201 with a valid pay-in number and an
 * access code. */
static void open_case(struct opened_case *opened, const char *case_no, const char *key)
{
    memset(opened, 0, sizeof *opened);
    snprintf(opened->case_no, sizeof opened->case_no, "%s", case_no);
    char segment[CASE_PATH_SIZE - 16];
    http_fixture_path_segment(segment, sizeof segment, case_no);
    snprintf(opened->path, sizeof opened->path, "/v1/cases/%s", segment);
    struct answer made = call("POST", "/v1/cases", hx.tokens.clerk, key,
                              "{\"case_no\":\"%s\",\"court\":\"Shanghai Minhang Court\","
                              "\"title\":\"HTTP story\",\"applicants\":[{\"name\":\"Zhang San\","
                              "\"id_no\":\"310101199001011234\",\"phone\":\"13800000000\"}]}",
                              case_no);
    EXPECT_STATUS(made, 201);
    ck_assert_str_eq(string_at(made.json, "case_no"), case_no);
    ck_assert_msg(int_at(made.json, "account_id") > 0, "account_id: %s", made.excerpt);
    const char *payin_no = string_at(made.json, "payin_no");
    ck_assert_msg(strlen(payin_no) == LEDGER_PAYIN_DIGITS &&
                      ledger_payin_check(payin_no, strlen(payin_no)) == LEDGER_OK,
                  "payin_no \"%s\" has no valid check digits", payin_no);
    const char *access_code = string_at(made.json, "access_code");
    ck_assert_msg(access_code_well_formed(access_code), "access_code \"%s\"", access_code);
    ck_assert_str_eq(string_at(made.json, "status"), "open");
    snprintf(opened->payin_no, sizeof opened->payin_no, "%s", payin_no);
    snprintf(opened->access_code, sizeof opened->access_code, "%s", access_code);
    answer_free(&made);
}

/* Books a receipt by case number as the clerk. */
static void receive(const struct opened_case *opened, long long amount_minor, const char *key)
{
    struct answer booked = call("POST", "/v1/receipts", hx.tokens.clerk, key,
                                "{\"case_no\":\"%s\",\"amount\":%lld,\"bank_ref\":\"%s\","
                                "\"value_date\":\"2026-11-20\"}",
                                opened->case_no, amount_minor, key);
    EXPECT_STATUS(booked, 201);
    answer_free(&booked);
}

/* Requests a payout with a token; returns the disbursement id. */
static int64_t request_payout(const struct opened_case *opened, const char *token,
                              long long amount_minor, const char *key)
{
    struct answer requested = call("POST", "/v1/disbursements", token, key,
                                   "{\"case_no\":\"%s\",\"payee\":{\"name\":\"Wang Wu\","
                                   "\"bank_account\":\"6222020200112233\",\"bank_name\":\"ICBC\"},"
                                   "\"amount\":%lld,\"purpose\":\"judgment payout\"}",
                                   opened->case_no, amount_minor);
    EXPECT_STATUS(requested, 201);
    ck_assert_str_eq(string_at(requested.json, "status"), "requested");
    int64_t id = int_at(requested.json, "id");
    ck_assert_msg(id > 0, "no disbursement id: %s", requested.excerpt);
    answer_free(&requested);
    return id;
}

/* GET /v1/cases/{case_no}: checks the balances. */
static void expect_case(const struct opened_case *opened, const char *status, int64_t held,
                        int64_t pending_out, int64_t received_total, int64_t disbursed_total)
{
    struct answer shown = call("GET", opened->path, hx.tokens.auditor, NULL, NULL);
    EXPECT_STATUS(shown, 200);
    ck_assert_str_eq(string_at(shown.json, "case_no"), opened->case_no);
    ck_assert_str_eq(string_at(shown.json, "payin_no"), opened->payin_no);
    ck_assert_str_eq(string_at(shown.json, "status"), status);
    ck_assert_str_eq(string_at(shown.json, "currency"), "CNY");
    ck_assert_msg(int_at(shown.json, "balance.held") == held &&
                      int_at(shown.json, "balance.pending_out") == pending_out &&
                      int_at(shown.json, "balance.available") == held - pending_out &&
                      int_at(shown.json, "received_total") == received_total &&
                      int_at(shown.json, "disbursed_total") == disbursed_total,
                  "%s: want held %lld pending_out %lld available %lld received %lld disbursed "
                  "%lld: %s",
                  shown.what, (long long)held, (long long)pending_out,
                  (long long)(held - pending_out), (long long)received_total,
                  (long long)disbursed_total, shown.excerpt);
    answer_free(&shown);
}

/* POST /v1/status with the access code: a new reference to the answer. */
static json_t *applicant_status(const struct opened_case *opened)
{
    struct answer status =
        call("POST", "/v1/status", NULL, NULL, "{\"case_no\":\"%s\",\"access_code\":\"%s\"}",
             opened->case_no, opened->access_code);
    EXPECT_STATUS(status, 200);
    ck_assert_str_eq(string_at(status.json, "case_no"), opened->case_no);
    ck_assert_str_eq(string_at(status.json, "currency"), "CNY");
    json_t *body = json_incref(status.json);
    answer_free(&status);
    return body;
}

static bool non_empty_string(json_t *object, const char *name)
{
    const char *text = json_string_value(json_object_get(object, name));
    return text != NULL && text[0] != '\0';
}

/* ---- fixture ---------------------------------------------------------- */

static void setup(void)
{
    http_fixture_start(&hx, HTTP_FIXTURE_THREADS);
}

static void unlock_chain_head(void);

static void teardown(void)
{
    unlock_chain_head();
    if (hx.running)
        (void)http_fixture_stop(&hx);
}

static void expect_clean_stop(void)
{
    ck_assert_msg(http_fixture_healthy(&hx), "the server stopped answering /healthz");
    ck_assert_int_eq(http_fixture_stop(&hx), 0);
    ck_assert_int_eq(http_fixture_verify(&hx), 0);
}

/* ======================================================================== */

START_TEST(story_whole)
{
    struct opened_case story;
    open_case(&story, "(2026)沪0112执100号", "story-open");
    expect_case(&story, "open", 0, 0, 0, 0);
    json_t *status = applicant_status(&story);
    ck_assert_int_eq(int_at(status, "held"), 0);
    ck_assert_int_eq(int_at(status, "received_total"), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(status, "receipts")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(status, "disbursements")), 0);
    json_decref(status);

    /* Money comes in by pay-in number, from the bank's integration. */
    char *before = digest();
#define STORY_RECEIPT                                                                              \
    "{\"payin_no\":\"%s\",\"amount\":500000,\"payer\":\"Li Si\",\"bank_ref\":\"BANK-REF-1\","      \
    "\"value_date\":\"2026-11-20\"}"
    struct answer receipt =
        call("POST", "/v1/receipts", hx.tokens.bank, "story-r1", STORY_RECEIPT, story.payin_no);
    EXPECT_STATUS(receipt, 201);
    ck_assert_str_eq(string_at(receipt.json, "case_no"), story.case_no);
    ck_assert_int_eq(int_at(receipt.json, "amount"), 500000);
    ck_assert_msg(int_at(receipt.json, "entry_id") > 0 && int_at(receipt.json, "seq") > 0,
                  "receipt ids: %s", receipt.excerpt);
    ck_assert_uint_eq(strlen(string_at(receipt.json, "hash")), 64);
    char *after_receipt = digest();
    ck_assert_str_ne(before, after_receipt);
    expect_case(&story, "open", 500000, 0, 500000, 0);

    /* The same key and body again: the first answer, nothing new booked. */
    struct answer replay =
        call("POST", "/v1/receipts", hx.tokens.bank, "story-r1", STORY_RECEIPT, story.payin_no);
    EXPECT_STATUS(replay, 201);
    ck_assert_msg(json_equal(replay.json, receipt.json), "replay %s differs from %s",
                  replay.excerpt, receipt.excerpt);
    EXPECT_BOOKS_UNCHANGED(after_receipt, replay);
    expect_case(&story, "open", 500000, 0, 500000, 0);
    /* The same key with another body: 409, nothing booked. */
    EXPECT_REFUSED(409, "idempotency_conflict", "POST", "/v1/receipts", hx.tokens.bank, "story-r1",
                   "{\"payin_no\":\"%s\",\"amount\":500001,\"payer\":\"Li Si\","
                   "\"bank_ref\":\"BANK-REF-1\",\"value_date\":\"2026-11-20\"}",
                   story.payin_no);
    answer_free(&receipt);
    answer_free(&replay);
    free(before);
    free(after_receipt);

    status = applicant_status(&story);
    ck_assert_int_eq(int_at(status, "held"), 500000);
    ck_assert_int_eq(int_at(status, "received_total"), 500000);
    ck_assert_int_eq(int_at(status, "disbursed_total"), 0);
    json_t *receipts = json_object_get(status, "receipts");
    ck_assert_uint_eq(json_array_size(receipts), 1);
    ck_assert_int_eq(int_at(json_array_get(receipts, 0), "amount"), 500000);
    ck_assert_str_eq(string_at(json_array_get(receipts, 0), "value_date"), "2026-11-20");
    json_decref(status);

    /* clerk1 asks for a payout of 2000.00 of the 5000.00. */
    int64_t payout = request_payout(&story, hx.tokens.clerk1, 200000, "story-d1");
    expect_case(&story, "open", 500000, 200000, 500000, 0);
    status = applicant_status(&story);
    json_t *payouts = json_object_get(status, "disbursements");
    ck_assert_uint_eq(json_array_size(payouts), 1);
    json_t *first = json_array_get(payouts, 0);
    ck_assert_int_eq(int_at(first, "amount"), 200000);
    ck_assert_str_eq(string_at(first, "status"), "requested");
    ck_assert_msg(non_empty_string(first, "requested_at"), "no requested_at");
    ck_assert_msg(!non_empty_string(first, "approved_at") && !non_empty_string(first, "paid_at"),
                  "dates of steps not taken yet");
    json_decref(status);

    /* More than is available (300000 left after the pending payout). */
    EXPECT_REFUSED(422, "insufficient_funds", "POST", "/v1/disbursements", hx.tokens.clerk,
                   "story-d2",
                   "{\"case_no\":\"%s\",\"payee\":{\"name\":\"Wang Wu\",\"bank_account\":"
                   "\"6222020200112233\"},\"amount\":300001}",
                   story.case_no);

    /* Its requester cannot approve it: clerk1's own token is refused. */
    char approve_path[PATH_SIZE];
    snprintf(approve_path, sizeof approve_path, "/v1/disbursements/%lld/approve",
             (long long)payout);
    EXPECT_REFUSED(403, "forbidden_role", "POST", approve_path, hx.tokens.clerk1, "story-a0", "{}");

    /* Another user, an approver, approves: case -> in transit. */
    struct answer approved = call("POST", approve_path, hx.tokens.approver, "story-a1", "{}");
    EXPECT_DONE(approved);
    ck_assert_int_eq(int_at(approved.json, "id"), payout);
    ck_assert_str_eq(string_at(approved.json, "status"), "approved");
    ck_assert_msg(int_at(approved.json, "entry_id") > 0, "approve: %s", approved.excerpt);
    answer_free(&approved);
    expect_case(&story, "open", 300000, 0, 500000, 200000);
    status = applicant_status(&story);
    first = json_array_get(json_object_get(status, "disbursements"), 0);
    ck_assert_str_eq(string_at(first, "status"), "approved");
    ck_assert_msg(non_empty_string(first, "approved_at"), "no approved_at after approval");
    ck_assert_int_eq(int_at(status, "held"), 300000);
    ck_assert_int_eq(int_at(status, "disbursed_total"), 200000);
    json_decref(status);

    /* The bank has paid it. */
    char settle_path[PATH_SIZE];
    snprintf(settle_path, sizeof settle_path, "/v1/disbursements/%lld/settle", (long long)payout);
    struct answer settled = call("POST", settle_path, hx.tokens.bank, "story-s1",
                                 "{\"bank_ref\":\"PAYOUT-REF-1\",\"value_date\":\"2026-11-21\"}");
    EXPECT_DONE(settled);
    answer_free(&settled);
    expect_case(&story, "open", 300000, 0, 500000, 200000);
    status = applicant_status(&story);
    first = json_array_get(json_object_get(status, "disbursements"), 0);
    ck_assert_str_eq(string_at(first, "status"), "paid");
    ck_assert_msg(non_empty_string(first, "requested_at") &&
                      non_empty_string(first, "approved_at") && non_empty_string(first, "paid_at"),
                  "dates after settlement");
    json_decref(status);

    /* The journal (receipt, payout, settlement so far), verified to its head. */
    struct answer verified = call("POST", "/v1/ledger/verify", hx.tokens.auditor, NULL, "{}");
    EXPECT_STATUS(verified, 200);
    ck_assert_msg(json_is_true(json_object_get(verified.json, "ok")), "%s", verified.excerpt);
    long long entries = fixture_query_int(&hx.db, "SELECT count(*) FROM entries");
    ck_assert_int_ge(entries, 3);
    ck_assert_int_eq(int_at(verified.json, "checked"), entries);
    answer_free(&verified);
    struct answer head = call("GET", "/v1/ledger/head", NULL, NULL, NULL);
    EXPECT_STATUS(head, 200);
    ck_assert_int_eq(int_at(head.json, "seq"), entries);
    answer_free(&head);

    /* Neither the access code nor a token ever reaches the log. */
    char *log = http_fixture_log(&hx);
    ck_assert_msg(strlen(log) > 0, "the server logged nothing");
    ck_assert_msg(strstr(log, story.access_code) == NULL, "the access code is in the log");
    ck_assert_msg(strstr(log, hx.tokens.bank) == NULL && strstr(log, hx.tokens.clerk) == NULL,
                  "a token is in the log");
    free(log);
    expect_clean_stop();
}
END_TEST

/* The staff list and the case's postings follow the story too. */
START_TEST(story_lists)
{
    struct opened_case listed;
    open_case(&listed, "HTTP-LIST-1", "list-open");
    receive(&listed, 10000, "list-r1");
    int64_t payout = request_payout(&listed, hx.tokens.clerk, 2500, "list-d1");

    char path[PATH_SIZE];
    snprintf(path, sizeof path, "/v1/disbursements?status=requested&case_no=HTTP-LIST-1");
    struct answer pending = call("GET", path, hx.tokens.approver, NULL, NULL);
    EXPECT_STATUS(pending, 200);
    ck_assert_msg(strstr(pending.excerpt, "\"requested\"") != NULL, "%s", pending.excerpt);
    answer_free(&pending);

    snprintf(path, sizeof path, "/v1/disbursements/%lld/approve", (long long)payout);
    struct answer approved = call("POST", path, hx.tokens.approver2, "list-a1", "{}");
    EXPECT_DONE(approved);
    answer_free(&approved);

    snprintf(path, sizeof path, "%s/entries", listed.path);
    struct answer entries = call("GET", path, hx.tokens.clerk, NULL, NULL);
    EXPECT_STATUS(entries, 200);
    /* Newest first: the payout before the receipt. */
    const char *payout_kind = strstr(entries.excerpt, "\"disbursement\"");
    const char *receipt_kind = strstr(entries.excerpt, "\"receipt\"");
    ck_assert_msg(payout_kind != NULL && receipt_kind != NULL && payout_kind < receipt_kind,
                  "entries not newest first: %s", entries.excerpt);
    answer_free(&entries);
    expect_clean_stop();
}
END_TEST

/* Follows a list's "next" cursors with ?limit=page_size from base (which
 * has a query already or not); writes the ids of id_name in order, and
 * returns how many pages it took. */
static int walk_pages(const char *base, const char *id_name, int page_size, int64_t *ids,
                      int ids_max, int *ids_count)
{
    char cursor[256] = "";
    int pages = 0;
    *ids_count = 0;
    do {
        char path[PATH_SIZE];
        snprintf(path, sizeof path, "%s%climit=%d%s%s", base, strchr(base, '?') ? '&' : '?',
                 page_size, cursor[0] ? "&cursor=" : "", cursor);
        struct answer page = call("GET", path, hx.tokens.auditor, NULL, NULL);
        EXPECT_STATUS(page, 200);
        json_t *items = json_object_get(page.json, "items");
        ck_assert_msg(json_is_array(items) && json_array_size(items) <= (size_t)page_size, "%s: %s",
                      page.what, page.excerpt);
        for (size_t i = 0; i < json_array_size(items) && *ids_count < ids_max; i++)
            ids[(*ids_count)++] = int_at(json_array_get(items, i), id_name);
        const char *next = json_string_value(json_object_get(page.json, "next"));
        ck_assert_msg(next != NULL || json_is_null(json_object_get(page.json, "next")),
                      "%s: \"next\" is neither a cursor nor null", page.what);
        http_fixture_path_segment(cursor, sizeof cursor, next ? next : "");
        answer_free(&page);
        pages++;
    } while (cursor[0] != '\0' && pages < 100);
    return pages;
}

static void expect_newest_first(const int64_t *ids, int count, int want_count, const char *what)
{
    ck_assert_msg(count == want_count, "%s: %d items, want %d", what, count, want_count);
    for (int i = 1; i < count; i++)
        ck_assert_msg(ids[i] < ids[i - 1], "%s: item %d (%lld) after %lld", what, i,
                      (long long)ids[i], (long long)ids[i - 1]);
}

/* Pages of a case's postings and of its payouts: every item once, newest
 * first, the last page without a cursor. */
START_TEST(story_pages)
{
    struct opened_case paged;
    open_case(&paged, "HTTP-PAGES-1", "pages-open");
    char key[32];
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof key, "pages-r%d", i);
        receive(&paged, 1000 + i, key);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "pages-d%d", i);
        (void)request_payout(&paged, hx.tokens.clerk, 10 + i, key);
    }
    int64_t ids[32];
    int count = 0;
    char base[PATH_SIZE];
    snprintf(base, sizeof base, "%s/entries", paged.path);
    ck_assert_int_eq(walk_pages(base, "entry_id", 2, ids, 32, &count), 4);
    expect_newest_first(ids, count, 7, "entries by 2");
    ck_assert_int_eq(walk_pages(base, "entry_id", 7, ids, 32, &count), 1);
    expect_newest_first(ids, count, 7, "entries by 7");
    ck_assert_int_eq(walk_pages("/v1/disbursements?case_no=HTTP-PAGES-1", "id", 2, ids, 32, &count),
                     3);
    expect_newest_first(ids, count, 5, "payouts by 2");
    ck_assert_int_eq(walk_pages("/v1/disbursements?status=requested&case_no=HTTP-PAGES-1", "id",
                                1000, ids, 32, &count),
                     1);
    expect_newest_first(ids, count, 5, "requested payouts");
    expect_clean_stop();
}
END_TEST

/* A replayed case opening gives the same case back and opens nothing new;
 * the same case number under another key is 409 case_exists. */
START_TEST(case_open_replay_and_exists)
{
    struct opened_case opened;
    open_case(&opened, "HTTP-REPLAY-1", "replay-open");
    char *before = digest();
    const char *body = "{\"case_no\":\"HTTP-REPLAY-1\",\"court\":\"Shanghai Minhang Court\","
                       "\"title\":\"HTTP story\",\"applicants\":[{\"name\":\"Zhang San\","
                       "\"id_no\":\"310101199001011234\",\"phone\":\"13800000000\"}]}";
    struct answer replay = call("POST", "/v1/cases", hx.tokens.clerk, "replay-open", "%s", body);
    EXPECT_STATUS(replay, 201);
    ck_assert_str_eq(string_at(replay.json, "payin_no"), opened.payin_no);
    EXPECT_BOOKS_UNCHANGED(before, replay);
    answer_free(&replay);
    EXPECT_REFUSED(409, "case_exists", "POST", "/v1/cases", hx.tokens.clerk, "replay-open-2", "%s",
                   body);
    EXPECT_REFUSED(409, "idempotency_conflict", "POST", "/v1/cases", hx.tokens.clerk, "replay-open",
                   "{\"case_no\":\"HTTP-REPLAY-2\",\"court\":\"Other Court\","
                   "\"applicants\":[{\"name\":\"Li Si\"}]}");
    free(before);
    expect_clean_stop();
}
END_TEST

/* Receipts that must never book anywhere. */
START_TEST(refused_receipts)
{
    struct opened_case target;
    open_case(&target, "HTTP-REFUSE-R", "refuse-r-open");
    /* One digit changed: the check digits no longer fit. */
    char bad_payin[32];
    snprintf(bad_payin, sizeof bad_payin, "%s", target.payin_no);
    bad_payin[5] = bad_payin[5] == '9' ? '0' : (char)(bad_payin[5] + 1);
    EXPECT_REFUSED(422, "invalid_payin_no", "POST", "/v1/receipts", hx.tokens.clerk, "refuse-r1",
                   "{\"payin_no\":\"%s\",\"amount\":100,\"bank_ref\":\"R1\","
                   "\"value_date\":\"2026-11-20\"}",
                   bad_payin);
    /* Valid check digits, but no case has that number: still 422. */
    char unissued[LEDGER_PAYIN_DIGITS + 1];
    ck_assert_int_eq(ledger_payin_make(unissued, 99999999999990ULL), LEDGER_OK);
    char *before = digest();
    struct answer unknown_payin = call("POST", "/v1/receipts", hx.tokens.clerk, "refuse-r2",
                                       "{\"payin_no\":\"%s\",\"amount\":100,\"bank_ref\":\"R2\","
                                       "\"value_date\":\"2026-11-20\"}",
                                       unissued);
    EXPECT_STATUS(unknown_payin, 422);
    EXPECT_BOOKS_UNCHANGED(before, unknown_payin);
    answer_free(&unknown_payin);
    free(before);
    EXPECT_REFUSED(422, "invalid_payin_no", "POST", "/v1/receipts", hx.tokens.clerk, "refuse-r3",
                   "{\"payin_no\":\"12345\",\"amount\":100,\"bank_ref\":\"R3\","
                   "\"value_date\":\"2026-11-20\"}");
    /* A pay-in number and a case number that name two different cases. */
    struct opened_case other;
    open_case(&other, "HTTP-REFUSE-R2", "refuse-r-open-2");
    before = digest();
    struct answer mismatch =
        call("POST", "/v1/receipts", hx.tokens.clerk, "refuse-r8",
             "{\"payin_no\":\"%s\",\"case_no\":\"HTTP-REFUSE-R\","
             "\"amount\":100,\"bank_ref\":\"R8\",\"value_date\":\"2026-11-20\"}",
             other.payin_no);
    ck_assert_msg(mismatch.status == 400 || mismatch.status == 422, "%s: %d: %s", mismatch.what,
                  mismatch.status, mismatch.excerpt);
    EXPECT_BOOKS_UNCHANGED(before, mismatch);
    answer_free(&mismatch);
    free(before);
    EXPECT_REFUSED(404, "unknown_case", "POST", "/v1/receipts", hx.tokens.clerk, "refuse-r4",
                   "{\"case_no\":\"HTTP-NO-SUCH-CASE\",\"amount\":100,\"bank_ref\":\"R4\","
                   "\"value_date\":\"2026-11-20\"}");
    EXPECT_REFUSED(404, "unknown_case", "GET", "/v1/cases/HTTP-NO-SUCH-CASE", hx.tokens.clerk, NULL,
                   NULL);
    EXPECT_REFUSED(404, "unknown_case", "GET", "/v1/cases/HTTP-NO-SUCH-CASE/entries",
                   hx.tokens.auditor, NULL, NULL);
    EXPECT_REFUSED(422, "invalid_amount", "POST", "/v1/receipts", hx.tokens.clerk, "refuse-r5",
                   "{\"case_no\":\"HTTP-REFUSE-R\",\"amount\":0,\"bank_ref\":\"R5\","
                   "\"value_date\":\"2026-11-20\"}");
    EXPECT_REFUSED(422, "invalid_amount", "POST", "/v1/receipts", hx.tokens.clerk, "refuse-r6",
                   "{\"case_no\":\"HTTP-REFUSE-R\",\"amount\":12.5,\"bank_ref\":\"R6\","
                   "\"value_date\":\"2026-11-20\"}");
    /* A change of the books without an Idempotency-Key. */
    EXPECT_REFUSED(400, "missing_idempotency_key", "POST", "/v1/receipts", hx.tokens.clerk, NULL,
                   "{\"case_no\":\"HTTP-REFUSE-R\",\"amount\":100,\"bank_ref\":\"R7\","
                   "\"value_date\":\"2026-11-20\"}");
    expect_case(&target, "open", 0, 0, 0, 0);
    expect_clean_stop();
}
END_TEST

/* Frozen: money may come in, none may leave; unfreezing lets it go. */
START_TEST(frozen_case)
{
    struct opened_case frozen;
    open_case(&frozen, "HTTP-FROZEN-1", "frozen-open");
    receive(&frozen, 80000, "frozen-r1");
    int64_t waiting = request_payout(&frozen, hx.tokens.clerk, 10000, "frozen-d1");
    char path[PATH_SIZE];
    snprintf(path, sizeof path, "%s/freeze", frozen.path);
    struct answer freeze = call("POST", path, hx.tokens.approver, "frozen-f1", "{}");
    EXPECT_DONE(freeze);
    answer_free(&freeze);
    expect_case(&frozen, "frozen", 80000, 10000, 80000, 0);

    EXPECT_REFUSED(409, "account_frozen", "POST", "/v1/disbursements", hx.tokens.clerk, "frozen-d2",
                   "{\"case_no\":\"HTTP-FROZEN-1\",\"payee\":{\"name\":\"Wang Wu\","
                   "\"bank_account\":\"6222020200112233\"},\"amount\":100}");
    char approve_path[PATH_SIZE];
    snprintf(approve_path, sizeof approve_path, "/v1/disbursements/%lld/approve",
             (long long)waiting);
    EXPECT_REFUSED(409, "account_frozen", "POST", approve_path, hx.tokens.approver, "frozen-a1",
                   "{}");
    receive(&frozen, 500, "frozen-r2");
    expect_case(&frozen, "frozen", 80500, 10000, 80500, 0);

    snprintf(path, sizeof path, "%s/unfreeze", frozen.path);
    struct answer unfreeze = call("POST", path, hx.tokens.approver, "frozen-u1", "{}");
    EXPECT_DONE(unfreeze);
    answer_free(&unfreeze);
    struct answer approved = call("POST", approve_path, hx.tokens.approver, "frozen-a2", "{}");
    EXPECT_DONE(approved);
    answer_free(&approved);
    expect_case(&frozen, "open", 70500, 0, 80500, 10000);
    expect_clean_stop();
}
END_TEST

/* Closed: nothing in, nothing out, no more status changes; a case holding
 * money cannot be closed. */
START_TEST(closed_case)
{
    struct opened_case holding;
    open_case(&holding, "HTTP-CLOSED-HOLDS", "closed-open-1");
    receive(&holding, 100, "closed-r0");
    char path[PATH_SIZE];
    snprintf(path, sizeof path, "%s/close", holding.path);
    EXPECT_REFUSED(409, "account_not_empty", "POST", path, hx.tokens.approver, "closed-c0", "{}");

    struct opened_case closed;
    open_case(&closed, "HTTP-CLOSED-1", "closed-open-2");
    snprintf(path, sizeof path, "%s/close", closed.path);
    struct answer close_answer = call("POST", path, hx.tokens.approver, "closed-c1", "{}");
    EXPECT_DONE(close_answer);
    answer_free(&close_answer);
    expect_case(&closed, "closed", 0, 0, 0, 0);

    EXPECT_REFUSED(409, "account_closed", "POST", "/v1/receipts", hx.tokens.clerk, "closed-r1",
                   "{\"case_no\":\"HTTP-CLOSED-1\",\"amount\":100,\"bank_ref\":\"C1\","
                   "\"value_date\":\"2026-11-20\"}");
    EXPECT_REFUSED(409, "account_closed", "POST", "/v1/receipts", hx.tokens.bank, "closed-r2",
                   "{\"payin_no\":\"%s\",\"amount\":100,\"bank_ref\":\"C2\","
                   "\"value_date\":\"2026-11-20\"}",
                   closed.payin_no);
    EXPECT_REFUSED(409, "account_closed", "POST", "/v1/disbursements", hx.tokens.clerk, "closed-d1",
                   "{\"case_no\":\"HTTP-CLOSED-1\",\"payee\":{\"name\":\"Wang Wu\","
                   "\"bank_account\":\"6222020200112233\"},\"amount\":100}");
    snprintf(path, sizeof path, "%s/freeze", closed.path);
    EXPECT_REFUSED(409, "account_closed", "POST", path, hx.tokens.approver, "closed-f1", "{}");
    expect_clean_stop();
}
END_TEST

/* Four eyes with one person: a clerk who requested a payout and was later
 * made an approver still cannot approve it (403 same_user_approval); the
 * role check refuses a clerk's approval (403 forbidden_role). */
START_TEST(same_user_approval)
{
    struct opened_case shared;
    open_case(&shared, "HTTP-FOUR-EYES", "eyes-open");
    receive(&shared, 9000, "eyes-r1");
    char dual[LEDGER_TOKEN_SIZE];
    http_fixture_user(&hx, "http_dual", LEDGER_ROLE_CLERK, dual);
    int64_t payout = request_payout(&shared, dual, 4000, "eyes-d1");
    char path[PATH_SIZE];
    snprintf(path, sizeof path, "/v1/disbursements/%lld/approve", (long long)payout);
    EXPECT_REFUSED(403, "forbidden_role", "POST", path, dual, "eyes-a0", "{}");

    /* Promoted, with a new token (the old one stays cached for a moment). */
    http_fixture_sql(&hx, "UPDATE users SET role = 'approver' WHERE name = 'http_dual'");
    http_fixture_reset_token(&hx, "http_dual", dual);
    EXPECT_REFUSED(403, "same_user_approval", "POST", path, dual, "eyes-a1", "{}");
    struct answer approved = call("POST", path, hx.tokens.approver, "eyes-a2", "{}");
    EXPECT_DONE(approved);
    answer_free(&approved);
    expect_case(&shared, "open", 5000, 0, 9000, 4000);
    expect_clean_stop();
}
END_TEST

/* Decided requests stay decided; unknown ones are 404. */
START_TEST(disbursement_states)
{
    struct opened_case decided;
    open_case(&decided, "HTTP-STATES-1", "states-open");
    receive(&decided, 9000, "states-r1");
    int64_t payout = request_payout(&decided, hx.tokens.clerk, 1000, "states-d1");
    char approve[PATH_SIZE];
    snprintf(approve, sizeof approve, "/v1/disbursements/%lld/approve", (long long)payout);
    struct answer approved = call("POST", approve, hx.tokens.approver, "states-a1", "{}");
    EXPECT_DONE(approved);
    /* A retry with the same key: the same answer. */
    struct answer again = call("POST", approve, hx.tokens.approver, "states-a1", "{}");
    EXPECT_STATUS(again, approved.status);
    ck_assert_msg(json_equal(again.json, approved.json), "%s vs %s", again.excerpt,
                  approved.excerpt);
    answer_free(&approved);
    answer_free(&again);
    EXPECT_REFUSED(409, "invalid_state", "POST", approve, hx.tokens.approver2, "states-a2", "{}");
    char reject[PATH_SIZE];
    snprintf(reject, sizeof reject, "/v1/disbursements/%lld/reject", (long long)payout);
    EXPECT_REFUSED(409, "invalid_state", "POST", reject, hx.tokens.approver2, "states-j1",
                   "{\"reason\":\"too late\"}");

    int64_t second = request_payout(&decided, hx.tokens.clerk, 1000, "states-d2");
    snprintf(reject, sizeof reject, "/v1/disbursements/%lld/reject", (long long)second);
    struct answer refused =
        call("POST", reject, hx.tokens.approver, "states-j2", "{\"reason\":\"no judgment\"}");
    EXPECT_DONE(refused);
    answer_free(&refused);
    snprintf(approve, sizeof approve, "/v1/disbursements/%lld/approve", (long long)second);
    EXPECT_REFUSED(409, "invalid_state", "POST", approve, hx.tokens.approver, "states-a3", "{}");
    expect_case(&decided, "open", 8000, 0, 9000, 1000);

    EXPECT_REFUSED(404, "unknown_disbursement", "POST", "/v1/disbursements/999999/approve",
                   hx.tokens.approver, "states-a4", "{}");
    EXPECT_REFUSED(409, "idempotency_conflict", "POST", "/v1/disbursements", hx.tokens.clerk,
                   "states-d2",
                   "{\"case_no\":\"HTTP-STATES-1\",\"payee\":{\"name\":\"Wang Wu\","
                   "\"bank_account\":\"6222020200112233\"},\"amount\":1001}");
    expect_clean_stop();
}
END_TEST

/* A receipt that would take a balance past int64 is refused as a rule
 * (422: over the largest amount of one entry, long before it could
 * overflow), not as an outage (503 tells a client to retry). */
START_TEST(amount_overflow_refused)
{
    struct opened_case target;
    open_case(&target, "HTTP-OVERFLOW-1", "overflow-open");
    receive(&target, 100, "overflow-r1");
    EXPECT_REFUSED(422, "amount_too_large", "POST", "/v1/receipts", hx.tokens.clerk, "overflow-r2",
                   "{\"case_no\":\"HTTP-OVERFLOW-1\",\"amount\":9223372036854775807,"
                   "\"bank_ref\":\"OVF\",\"value_date\":\"2026-11-20\"}");
    expect_case(&target, "open", 100, 0, 100, 0);
    expect_clean_stop();
}
END_TEST

#define BATCH_CLIENTS 24
#define BATCH_OVERFLOWS 3

struct batch_client {
    const char *case_no;
    int index;
    bool overflow;
    int status;
};

static void *send_batch_receipt(void *argument)
{
    struct batch_client *client = argument;
    char body[256];
    char key[64];
    snprintf(body, sizeof body,
             "{\"case_no\":\"%s\",\"amount\":1,\"bank_ref\":\"BATCH-%s%d\","
             "\"value_date\":\"2026-11-20\"}",
             client->case_no, client->overflow ? "FAIL-" : "", client->index);
    snprintf(key, sizeof key, "batch-%d", client->index);
    struct http_client_response response;
    client->status =
        http_fixture_call(&hx, &response, "POST", "/v1/receipts", hx.tokens.clerk, key, body);
    http_client_response_free(&response);
    return NULL;
}

/* Receipts that fail in the database share a commit batch with good ones
 * sent at the same moment: the good ones are all booked. (An amount can no
 * longer overflow a balance in one receipt: the largest amount of one entry
 * is refused before; a trigger raises the overflow's SQLSTATE instead.) */
START_TEST(failing_receipt_spares_its_batch)
{
    struct opened_case target;
    open_case(&target, "HTTP-BATCH-1", "batch-open");
    receive(&target, 100, "batch-r0");
    http_fixture_sql(&hx, "CREATE FUNCTION test_overflow() RETURNS trigger LANGUAGE plpgsql AS "
                          "$$BEGIN RAISE EXCEPTION 'test: overflow' USING ERRCODE = '22003'; "
                          "END$$");
    http_fixture_sql(&hx, "CREATE TRIGGER test_overflow BEFORE INSERT ON entries FOR EACH ROW "
                          "WHEN (NEW.bank_ref LIKE 'BATCH-FAIL-%') EXECUTE FUNCTION "
                          "test_overflow()");
    pthread_t threads[BATCH_CLIENTS];
    struct batch_client clients[BATCH_CLIENTS];
    for (int i = 0; i < BATCH_CLIENTS; i++) {
        clients[i] = (struct batch_client){.case_no = target.case_no,
                                           .index = i,
                                           .overflow = i % (BATCH_CLIENTS / BATCH_OVERFLOWS) == 0};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, send_batch_receipt, &clients[i]), 0);
    }
    int booked = 0;
    for (int i = 0; i < BATCH_CLIENTS; i++) {
        pthread_join(threads[i], NULL);
        if (clients[i].overflow)
            ck_assert_msg(clients[i].status != 201, "an overflowing receipt was booked");
        else
            ck_assert_msg(clients[i].status == 201, "good receipt %d got %d", i, clients[i].status);
        booked += clients[i].overflow ? 0 : 1;
    }
    http_fixture_sql(&hx, "DROP TRIGGER test_overflow ON entries");
    http_fixture_sql(&hx, "DROP FUNCTION test_overflow()");
    expect_case(&target, "open", 100 + booked, 0, 100 + booked, 0);
    expect_clean_stop();
}
END_TEST

/* The API takes a case number with a '/' (POST /v1/cases); percent-encoded
 * as %2F it names that case in a path (API.md: "case_no in a path is
 * percent-encoded UTF-8"; server.c keeps paths undecoded for this). */
START_TEST(case_no_with_slash_addressable)
{
    struct opened_case slashed;
    open_case(&slashed, "HTTP/SLASH-1", "slash-open");
    ck_assert_msg(strstr(slashed.path, "%2F") != NULL, "%s", slashed.path);
    expect_case(&slashed, "open", 0, 0, 0, 0);
    expect_clean_stop();
}
END_TEST

/* Spellings of one case number name one case; an access code may be typed
 * in lower case and without its dashes. */
START_TEST(case_no_spellings)
{
    struct opened_case spelled;
    open_case(&spelled, "(2026)沪0112执200号", "spell-open");
    struct opened_case full_width = spelled;
    char segment[CASE_PATH_SIZE - 16];
    http_fixture_path_segment(segment, sizeof segment, "（2026）沪0112执200号");
    snprintf(full_width.path, sizeof full_width.path, "/v1/cases/%s", segment);
    expect_case(&full_width, "open", 0, 0, 0, 0);
    struct opened_case typed = spelled;
    size_t used = 0;
    for (const char *c = spelled.access_code; *c != '\0' && used + 1 < sizeof typed.access_code;
         c++)
        if (*c != '-')
            typed.access_code[used++] = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    typed.access_code[used] = '\0';
    json_t *status = applicant_status(&typed);
    json_decref(status);
    expect_clean_stop();
}
END_TEST

/* ---- graceful shutdown ------------------------------------------------ */

struct inflight {
    const char *case_no;
    unsigned port;
    int index;
    int status;
    char error[128];
};

static void *send_receipt(void *argument)
{
    struct inflight *request = argument;
    char body[256];
    char key_line[64];
    snprintf(body, sizeof body,
             "{\"case_no\":\"%s\",\"amount\":%d,\"bank_ref\":\"SD-%d\","
             "\"value_date\":\"2026-11-20\"}",
             request->case_no, 100 + request->index, request->index);
    snprintf(key_line, sizeof key_line, "Idempotency-Key: shutdown-%d", request->index);
    char auth_line[128];
    snprintf(auth_line, sizeof auth_line, "Authorization: Bearer %s", hx.tokens.clerk);
    const char *headers[] = {auth_line, key_line, "Content-Type: application/json"};
    struct http_client_response response;
    http_client_request(&response, request->port, "POST", "/v1/receipts", headers, 3, body,
                        strlen(body));
    request->status = response.status;
    snprintf(request->error, sizeof request->error, "%s", response.error);
    http_client_response_free(&response);
    return NULL;
}

static void sleep_ms(long milliseconds)
{
    struct timespec pause = {milliseconds / 1000, (milliseconds % 1000) * 1000000};
    nanosleep(&pause, NULL);
}

static void *send_head_read(void *argument)
{
    struct inflight *request = argument;
    struct http_client_response response;
    http_client_request(&response, request->port, "GET", "/v1/ledger/head", NULL, 0, NULL, 0);
    request->status = response.status;
    snprintf(request->error, sizeof request->error, "%s", response.error);
    http_client_response_free(&response);
    return NULL;
}

/* A superuser session holding the chain head locked; teardown ends it if a
 * failed assertion left it open (or every later test would wait on it). */
static PGconn *locker;

static void lock_chain_head(void)
{
    locker = fixture_super(&hx.db);
    PGresult *locked = PQexec(locker, "BEGIN; LOCK TABLE chain_head IN ACCESS EXCLUSIVE MODE");
    ck_assert_int_eq(PQresultStatus(locked), PGRES_COMMAND_OK);
    PQclear(locked);
}

static void unlock_chain_head(void)
{
    if (locker == NULL)
        return;
    PGresult *done = PQexec(locker, "COMMIT");
    PQclear(done);
    PQfinish(locker);
    locker = NULL;
}

/* Requests held in their handlers (the chain head is locked by another
 * session) when SIGTERM comes: the server stops accepting new
 * connections, lets them finish once the lock goes, answers each with
 * want_status, exits 0; the chain verifies. */
/* Lines of the running server's log that contain text. */
static int log_lines_with(const char *text)
{
    char *log = http_fixture_log(&hx);
    int count = 0;
    for (const char *at = strstr(log, text); at != NULL; at = strstr(at + 1, text))
        count++;
    free(log);
    return count;
}

static void shutdown_with_held_requests(void *(*send)(void *), const char *case_no,
                                        const char *logged_path, int want_status)
{
    int logged_before = log_lines_with(logged_path);
    lock_chain_head();
    pthread_t threads[INFLIGHT_REQUESTS];
    struct inflight requests[INFLIGHT_REQUESTS];
    for (int i = 0; i < INFLIGHT_REQUESTS; i++) {
        requests[i] = (struct inflight){.case_no = case_no, .port = hx.server.port, .index = i};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, send, &requests[i]), 0);
    }
    sleep_ms(INFLIGHT_SETTLE_MS);
    for (int i = 0; i < INFLIGHT_REQUESTS; i++)
        ck_assert_msg(requests[i].status == 0, "request %d answered %d before the lock went", i,
                      requests[i].status);
    kill(hx.server.pid, SIGTERM);
    sleep_ms(500);
    int late = http_client_connect(hx.server.port);
    if (late >= 0)
        close(late);
    unlock_chain_head();
    for (int i = 0; i < INFLIGHT_REQUESTS; i++)
        pthread_join(threads[i], NULL);
    sleep_ms(200);
    /* A request is logged when it completes: begun, answered or not. */
    int begun = log_lines_with(logged_path) - logged_before;
    int exit_code = http_fixture_stop(&hx);
    ck_assert_msg(late < 0, "the server still accepted a connection after SIGTERM");
    for (int i = 0; i < INFLIGHT_REQUESTS; i++)
        ck_assert_msg(requests[i].status == want_status,
                      "in-flight request %d of %d got %d, want %d (%s); the server began %d of "
                      "them",
                      i, INFLIGHT_REQUESTS, requests[i].status, want_status, requests[i].error,
                      begun);
    ck_assert_int_eq(exit_code, 0);
    ck_assert_int_eq(http_fixture_verify(&hx), 0);
}

/* A request that arrives on a connection the server accepted earlier,
 * while the worker thread holding that connection is busy in another
 * handler, is in flight too: received, not yet begun. With one worker
 * thread: connection X is accepted first, request A then holds the worker
 * in its handler, X's request arrives, SIGTERM; once A is done the worker
 * must still begin and answer X before the server stops. */
#define EARLY_CONNECTIONS 24

START_TEST(graceful_shutdown_received_not_begun)
{
    http_fixture_stop(&hx);
    http_fixture_start(&hx, 1);
    int early[EARLY_CONNECTIONS];
    for (int i = 0; i < EARLY_CONNECTIONS; i++) {
        early[i] = http_client_connect(hx.server.port);
        ck_assert_int_ge(early[i], 0);
    }
    sleep_ms(300);
    lock_chain_head();
    pthread_t holder;
    struct inflight held = {.port = hx.server.port, .index = 0};
    ck_assert_int_eq(pthread_create(&holder, NULL, send_head_read, &held), 0);
    sleep_ms(INFLIGHT_SETTLE_MS);
    static const char request[] =
        "GET /v1/ledger/head HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < EARLY_CONNECTIONS; i++)
        ck_assert(
            http_client_send(early[i], request, sizeof request - 1, HTTP_FIXTURE_CALL_TIMEOUT_MS));
    sleep_ms(300);
    kill(hx.server.pid, SIGTERM);
    sleep_ms(500);
    unlock_chain_head();
    pthread_join(holder, NULL);
    int answered = 0;
    char error[128] = "";
    for (int i = 0; i < EARLY_CONNECTIONS; i++) {
        struct http_client_response response;
        int received = http_client_receive(early[i], &response, HTTP_FIXTURE_CALL_TIMEOUT_MS);
        close(early[i]);
        if (received == 0 && response.status == 200)
            answered++;
        else
            snprintf(error, sizeof error, "%s", response.error);
        http_client_response_free(&response);
    }
    int exit_code = http_fixture_stop(&hx);
    ck_assert_msg(held.status == 200, "the request in its handler got %d (%s)", held.status,
                  held.error);
    ck_assert_msg(answered == EARLY_CONNECTIONS,
                  "%d of %d requests received but not begun at SIGTERM were answered (%s)",
                  answered, EARLY_CONNECTIONS, error);
    ck_assert_int_eq(exit_code, 0);
}
END_TEST

/* An upload in progress when SIGTERM comes (headers read, half the body
 * sent) is finished and answered once the rest arrives. */
START_TEST(graceful_shutdown_upload_in_flight)
{
    static const char body[] = "{\"from_seq\":1,\"note\":\"sent in two halves\"}";
    char head[512];
    int head_size = snprintf(head, sizeof head,
                             "POST /v1/ledger/verify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Connection: close\r\nAuthorization: Bearer %s\r\n"
                             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                             hx.tokens.auditor, sizeof body - 1);
    ck_assert_int_lt(head_size, (int)sizeof head);
    int uploading = http_client_connect(hx.server.port);
    ck_assert_int_ge(uploading, 0);
    size_t half = (sizeof body - 1) / 2;
    ck_assert(http_client_send(uploading, head, (size_t)head_size, HTTP_FIXTURE_CALL_TIMEOUT_MS));
    ck_assert(http_client_send(uploading, body, half, HTTP_FIXTURE_CALL_TIMEOUT_MS));
    sleep_ms(300);
    kill(hx.server.pid, SIGTERM);
    sleep_ms(500);
    ck_assert(http_client_send(uploading, body + half, sizeof body - 1 - half,
                               HTTP_FIXTURE_CALL_TIMEOUT_MS));
    struct http_client_response response;
    int received = http_client_receive(uploading, &response, HTTP_FIXTURE_CALL_TIMEOUT_MS);
    close(uploading);
    int status = received == 0 ? response.status : 0;
    char error[128];
    snprintf(error, sizeof error, "%s", response.error);
    http_client_response_free(&response);
    int exit_code = http_fixture_stop(&hx);
    ck_assert_msg(status == 200, "the upload in flight got %d (%s)", status, error);
    ck_assert_int_eq(exit_code, 0);
}
END_TEST

START_TEST(graceful_shutdown_reads_in_flight)
{
    http_fixture_stop(&hx);
    http_fixture_start(&hx, INFLIGHT_THREADS);
    shutdown_with_held_requests(send_head_read, NULL, "\"path\":\"/v1/ledger/head\"", 200);
}
END_TEST

START_TEST(graceful_shutdown_bookings_in_flight)
{
    http_fixture_stop(&hx);
    http_fixture_start(&hx, INFLIGHT_THREADS);
    struct opened_case target;
    open_case(&target, "HTTP-SHUTDOWN-1", "shutdown-open");
    receive(&target, 1, "shutdown-r0");
    shutdown_with_held_requests(send_receipt, target.case_no, "\"path\":\"/v1/receipts\"", 201);
    /* Every held receipt was booked once (plus the opening and the first). */
    ck_assert_int_eq(fixture_query_int(&hx.db, "SELECT count(*) FROM idempotency "
                                               "WHERE key LIKE 'shutdown-%'"),
                     INFLIGHT_REQUESTS + 2);
}
END_TEST

/* Clients sending receipts back to back when SIGTERM comes: each request
 * either got a whole answer or was never booked (a booked request whose
 * answer was lost would be a request cut off in flight); exit 0; the chain
 * verifies. */
#define LOAD_THREADS 6
#define LOAD_REQUESTS_MAX 400 /* per client thread */

struct load_client {
    const char *case_no;
    unsigned port;
    int first_index;
    int sent;
    int answered;
    int lost_index; /* the request that got no answer, or -1 */
    char error[128];
};

static void *send_receipts(void *argument)
{
    struct load_client *client = argument;
    client->lost_index = -1;
    for (int i = 0; i < LOAD_REQUESTS_MAX; i++) {
        struct inflight request = {
            .case_no = client->case_no, .port = client->port, .index = client->first_index + i};
        send_receipt(&request);
        client->sent++;
        if (request.status != 201) {
            if (request.status == 0) {
                client->lost_index = request.index;
                snprintf(client->error, sizeof client->error, "%s", request.error);
            }
            break;
        }
        client->answered++;
    }
    return NULL;
}

START_TEST(graceful_shutdown_under_load)
{
    struct opened_case target;
    open_case(&target, "HTTP-SHUTDOWN-2", "shutdown2-open");
    pthread_t threads[LOAD_THREADS];
    struct load_client clients[LOAD_THREADS];
    for (int i = 0; i < LOAD_THREADS; i++) {
        clients[i] = (struct load_client){
            .case_no = target.case_no, .port = hx.server.port, .first_index = 10000 * (i + 1)};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, send_receipts, &clients[i]), 0);
    }
    sleep_ms(700);
    int exit_code = http_fixture_stop(&hx);
    int answered = 0;
    for (int i = 0; i < LOAD_THREADS; i++) {
        pthread_join(threads[i], NULL);
        answered += clients[i].answered;
    }
    ck_assert_int_eq(exit_code, 0);
    ck_assert_msg(answered > 0, "no request was answered before the shutdown");
    for (int i = 0; i < LOAD_THREADS; i++) {
        if (clients[i].lost_index < 0)
            continue;
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM idempotency WHERE key = 'shutdown-%d'",
                 clients[i].lost_index);
        ck_assert_msg(fixture_query_int(&hx.db, sql) == 0,
                      "request shutdown-%d was booked but its answer was lost (%s)",
                      clients[i].lost_index, clients[i].error);
    }
    ck_assert_int_eq(http_fixture_verify(&hx), 0);
}
END_TEST

Suite *http_story_suite(void)
{
    Suite *suite = suite_create("http_story");
    TCase *story = tcase_create("story");
    tcase_add_checked_fixture(story, setup, teardown);
    tcase_set_timeout(story, TEST_TIMEOUT_S);
    tcase_add_test(story, story_whole);
    tcase_add_test(story, story_lists);
    tcase_add_test(story, story_pages);
    tcase_add_test(story, case_open_replay_and_exists);
    suite_add_tcase(suite, story);

    TCase *refusals = tcase_create("refusals");
    tcase_add_checked_fixture(refusals, setup, teardown);
    tcase_set_timeout(refusals, TEST_TIMEOUT_S);
    tcase_add_test(refusals, refused_receipts);
    tcase_add_test(refusals, frozen_case);
    tcase_add_test(refusals, closed_case);
    tcase_add_test(refusals, same_user_approval);
    tcase_add_test(refusals, disbursement_states);
    tcase_add_test(refusals, amount_overflow_refused);
    tcase_add_test(refusals, failing_receipt_spares_its_batch);
    tcase_add_test(refusals, case_no_with_slash_addressable);
    tcase_add_test(refusals, case_no_spellings);
    suite_add_tcase(suite, refusals);

    TCase *shutdown = tcase_create("shutdown");
    tcase_add_checked_fixture(shutdown, setup, teardown);
    tcase_set_timeout(shutdown, TEST_TIMEOUT_S);
    tcase_add_test(shutdown, graceful_shutdown_reads_in_flight);
    tcase_add_test(shutdown, graceful_shutdown_received_not_begun);
    tcase_add_test(shutdown, graceful_shutdown_upload_in_flight);
    tcase_add_test(shutdown, graceful_shutdown_bookings_in_flight);
    tcase_add_test(shutdown, graceful_shutdown_under_load);
    suite_add_tcase(suite, shutdown);
    return suite;
}

int main(void)
{
    http_fixture_setup(&hx, "httpstory");
    SRunner *runner = srunner_create(http_story_suite());
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    http_fixture_teardown(&hx);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

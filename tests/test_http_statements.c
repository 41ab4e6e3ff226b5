/* Black-box suite of the statement and reconciliation endpoints against
 * the real binary on a fresh database: uploads of generated camt.053,
 * MT940 and CSV files and of every file of the shared corpus, the
 * statement view with its paged lines, the exceptions queue (an ambiguous
 * line naming both candidates), suspense assignment and its refusals,
 * re-uploads and overlaps that book nothing twice, refused files that
 * leave the books untouched (fixture_books_digest before and after), and
 * 413 past the statement body limit.
 *
 * One database for the suite (main), one server per test; no fork (see
 * http_server_fixture.h). Every test uses bank references of its own, so
 * that lines of one test are never duplicates of another's. */
#include <check.h>

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "http_server_fixture.h"
#include "import.h"
#include "statement.h"
#include "test_text.h"

Suite *http_statements_suite(void);

#define TEST_TIMEOUT_S 300
#define PATH_SIZE 512
#define TEXT_SIZE 600
#define HEADER_SIZE 320
#define ACCOUNT_NO "CUSTODY-1" /* the fixture's custody account (CNY) */
#define CASE_ONE "HTTP-STMT-1"
#define CASE_TWO "HTTP-STMT-2"
#define PADDING_BYTES 3000 /* text per line of the large file */
#define LARGE_LINES 400    /* lines of the large file: past API_BODY_MAX */
#define CORPUS_ACCOUNTS_MAX 64

static struct http_fixture hx;
static char payin_one[LEDGER_PAYIN_DIGITS + 1];
static char payin_two[LEDGER_PAYIN_DIGITS + 1];
static char mapping_dir[FIXTURE_PATH_SIZE];

/* ---- calling the server ---- */

struct reply {
    int status;
    json_t *json; /* the body as JSON, or NULL */
    char code[64];
    char text[TEXT_SIZE]; /* method, path and the start of the body, for messages */
};

/* One request with an optional token, key, content type and body. */
static struct reply send_request(const char *method, const char *path, const char *token,
                                 const char *key, const char *content_type, const void *body,
                                 size_t size)
{
    char lines[3][HEADER_SIZE];
    const char *headers[3];
    size_t count = 0;
    if (token != NULL)
        snprintf(lines[count], HEADER_SIZE, "Authorization: Bearer %s", token), count++;
    if (key != NULL)
        snprintf(lines[count], HEADER_SIZE, "Idempotency-Key: %s", key), count++;
    if (content_type != NULL)
        snprintf(lines[count], HEADER_SIZE, "Content-Type: %s", content_type), count++;
    for (size_t i = 0; i < count; i++)
        headers[i] = lines[i];
    struct http_client_response response;
    struct reply reply;
    memset(&reply, 0, sizeof reply);
    reply.status =
        http_fixture_call_headers(&hx, &response, method, path, headers, count, body, size);
    reply.json = http_fixture_json(&response);
    http_fixture_problem_code(&response, reply.code, sizeof reply.code);
    /* for messages only: a long body is cut short, and says so */
    if (snprintf(reply.text, sizeof reply.text, "%s %s: %s", method, path,
                 response.body ? response.body : response.error) >= (int)sizeof reply.text)
        memcpy(reply.text + sizeof reply.text - 4, "...", 4);
    http_client_response_free(&response);
    return reply;
}

/* A JSON request; takes body (may be NULL: no body). */
static struct reply send_json(const char *method, const char *path, const char *token,
                              const char *key, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct reply reply = send_request(method, path, token, key, body ? "application/json" : NULL,
                                      text, text ? strlen(text) : 0);
    free(text);
    json_decref(body);
    return reply;
}

/* POST /v1/statements?query with data as the body. */
static struct reply upload(const char *query, const char *token, const char *key,
                           const char *content_type, const char *data, size_t size)
{
    char path[PATH_SIZE + 16];
    snprintf(path, sizeof path, "/v1/statements?%s", query);
    return send_request("POST", path, token, key, content_type, data, size);
}

static void reply_free(struct reply *reply)
{
    json_decref(reply->json);
    reply->json = NULL;
}

/* The reply has this status and, unless code is NULL, this problem code. */
static void expect(const struct reply *reply, int status, const char *code)
{
    ck_assert_msg(reply->status == status, "status %d, want %d: %s", reply->status, status,
                  reply->text);
    ck_assert_msg(code == NULL || strcmp(reply->code, code) == 0, "code \"%s\", want \"%s\": %s",
                  reply->code, code, reply->text);
}

/* Each reply has its status and code; frees them. */
static void expect_each(struct reply *replies, const int *statuses, const char *const *codes,
                        size_t count)
{
    for (size_t i = 0; i < count; i++) {
        expect(&replies[i], statuses[i], codes[i]);
        reply_free(&replies[i]);
    }
}

static long long member_int(json_t *object, const char *name)
{
    json_t *value = json_object_get(object, name);
    ck_assert_msg(json_is_integer(value), "\"%s\" is not an integer", name);
    return (long long)json_integer_value(value);
}

static const char *member_string(json_t *object, const char *name)
{
    const char *text = json_string_value(json_object_get(object, name));
    return text != NULL ? text : "";
}

/* ---- generated statements ---- */

struct gen_line {
    long long amount; /* credit positive */
    const char *ref;
    const char *name;
    const char *remittance;
};

static void decimal(char *out, size_t size, long long minor, char separator)
{
    long long absolute = minor < 0 ? -minor : minor;
    snprintf(out, size, "%lld%c%02lld", absolute / 100, separator, absolute % 100);
}

static void camt_balance(struct test_text *t, const char *code, long long minor)
{
    char amount[32];
    decimal(amount, sizeof amount, minor, '.');
    test_text_append(t,
                     "<Bal><Tp><CdOrPrtry><Cd>%s</Cd></CdOrPrtry></Tp><Amt Ccy=\"CNY\">%s</Amt>"
                     "<CdtDbtInd>%s</CdtDbtInd><Dt><Dt>2024-03-02</Dt></Dt></Bal>\n",
                     code, amount, minor < 0 ? "DBIT" : "CRDT");
}

/* A camt.053 statement of 2024-03-02 for account; closing_off is added to
 * the true closing balance (to make it unbalanced); padding (may be NULL)
 * goes into every entry. A new string. */
static char *camt(const char *account, const struct gen_line *lines, size_t count,
                  long long closing_off, const char *padding)
{
    struct test_text t = {0};
    test_text_append(
        &t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.04\">\n"
            "<BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-03-02T20:00:00</CreDtTm>"
            "</GrpHdr>\n");
    test_text_append(&t,
                     "<Stmt><Id>HTTP-%s</Id><Acct><Id><Othr><Id>%s</Id></Othr></Id><Ccy>CNY</Ccy>"
                     "</Acct>\n",
                     count > 0 ? lines[0].ref : "EMPTY", account);
    camt_balance(&t, "OPBD", 0);
    long long balance = 0;
    for (size_t i = 0; i < count; i++) {
        const struct gen_line *l = &lines[i];
        char amount[32];
        decimal(amount, sizeof amount, l->amount, '.');
        bool credit = l->amount > 0;
        test_text_append(&t,
                         "<Ntry><Amt Ccy=\"CNY\">%s</Amt><CdtDbtInd>%s</CdtDbtInd><Sts>BOOK</Sts>"
                         "<BookgDt><Dt>2024-03-02</Dt></BookgDt><ValDt><Dt>2024-03-02</Dt></ValDt>"
                         "<AcctSvcrRef>%s</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><%s><Nm>%s</Nm>"
                         "</%s></RltdPties>",
                         amount, credit ? "CRDT" : "DBIT", l->ref, credit ? "Dbtr" : "Cdtr",
                         l->name ? l->name : "X", credit ? "Dbtr" : "Cdtr");
        if (l->remittance != NULL)
            test_text_append(&t, "<RmtInf><Ustrd>%s</Ustrd></RmtInf>", l->remittance);
        test_text_append(&t, "</TxDtls></NtryDtls>");
        if (padding != NULL)
            test_text_append(&t, "<AddtlNtryInf>%s</AddtlNtryInf>", padding);
        test_text_append(&t, "</Ntry>\n");
        balance += l->amount;
    }
    camt_balance(&t, "CLBD", balance + closing_off);
    test_text_append(&t, "</Stmt></BkToCstmrStmt></Document>\n");
    return t.data;
}

/* One MT940 statement of 2024-03-06 for ACCOUNT_NO in currency. */
static char *mt940(const char *currency, const struct gen_line *lines, size_t count)
{
    struct test_text t = {0};
    test_text_append(&t, ":20:HTTP-MT-%s\n:25:%s\n:28C:1/1\n:60F:C240306%s0,00\n",
                     count > 0 ? lines[0].ref : "EMPTY", ACCOUNT_NO, currency);
    long long balance = 0;
    for (size_t i = 0; i < count; i++) {
        char amount[32];
        decimal(amount, sizeof amount, lines[i].amount, ',');
        test_text_append(&t, ":61:2403060306%s%sNTRFNONREF//%s\n:86:/REMI/USTD//%s\n",
                         lines[i].amount < 0 ? "D" : "C", amount, lines[i].ref,
                         lines[i].remittance ? lines[i].remittance : "none");
        balance += lines[i].amount;
    }
    char closing[32];
    decimal(closing, sizeof closing, balance, ',');
    test_text_append(&t, ":62F:%s240306%s%s\n-\n", balance < 0 ? "D" : "C", currency, closing);
    return t.data;
}

static long long statements_stored(void)
{
    return fixture_query_int(&hx.db, "SELECT count(*) FROM bank_statements");
}

/* ---- fixture ---- */

static void setup(void)
{
    http_fixture_start(&hx, HTTP_FIXTURE_THREADS);
}

static void teardown(void)
{
    if (hx.running)
        (void)http_fixture_stop(&hx);
}

static void expect_clean_stop(void)
{
    ck_assert_msg(http_fixture_healthy(&hx), "the server stopped answering /healthz");
    ck_assert_int_eq(http_fixture_stop(&hx), 0);
    ck_assert_int_eq(http_fixture_verify(&hx), 0);
}

static void books_unchanged(const char *before, const char *what)
{
    char *after = fixture_books_digest(&hx.db);
    ck_assert_msg(strcmp(before, after) == 0, "%s changed the books", what);
    free(after);
}

/* ======================================================================== */

/* The line of a page whose bank reference is ref, or NULL. */
static json_t *line_with_ref(json_t *items, const char *ref)
{
    size_t index;
    json_t *item;
    json_array_foreach(items, index,
                       item) if (strcmp(member_string(item, "bank_ref"), ref) == 0) return item;
    return NULL;
}

/* Every line of statement id, page by page (page_size lines a page). */
static json_t *statement_lines(long long id, int page_size, int *pages)
{
    json_t *all = json_array();
    char cursor[32] = "";
    *pages = 0;
    for (int guard = 0; guard < 100; guard++) {
        char path[PATH_SIZE];
        snprintf(path, sizeof path, "/v1/statements/%lld?limit=%d%s%s", id, page_size,
                 cursor[0] ? "&cursor=" : "", cursor);
        struct reply page = send_json("GET", path, hx.tokens.auditor, NULL, NULL);
        expect(&page, 200, NULL);
        ck_assert_int_eq(member_int(page.json, "statement_id"), id);
        json_array_extend(all, json_object_get(page.json, "items"));
        (*pages)++;
        json_t *next = json_object_get(page.json, "next");
        snprintf(cursor, sizeof cursor, "%s", json_is_string(next) ? json_string_value(next) : "");
        reply_free(&page);
        if (cursor[0] == '\0')
            break;
    }
    return all;
}

static json_t *assign_body(const char *case_no)
{
    return json_pack("{s:s}", "case_no", case_no);
}

/* Upload, view, the queue, assignment and its refusals, the report. */
START_TEST(upload_view_and_assign)
{
    /* two receipts the statement's fourth line fits equally well */
    const char *cases[2] = {CASE_ONE, CASE_TWO};
    for (int i = 0; i < 2; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "ST-API-%d", i);
        struct reply booked =
            send_json("POST", "/v1/receipts", hx.tokens.clerk, ref,
                      json_pack("{s:s, s:i, s:s, s:s, s:s}", "case_no", cases[i], "amount", 5000,
                                "payer", "Wang Wu", "bank_ref", ref, "value_date", "2024-03-02"));
        expect(&booked, 201, NULL);
        reply_free(&booked);
    }
    char remittance[64];
    snprintf(remittance, sizeof remittance, "PAYIN %s", payin_one);
    struct gen_line lines[] = {{25000, "ST-R1", "Payer One", remittance},
                               {7700, "ST-R2", "Unknown Payer", "for the court"},
                               {-300, "ST-R3", "Bank fee", NULL},
                               {5000, "ST-R4", "Wang Wu", NULL}};
    char *file = camt(ACCOUNT_NO, lines, 4, 0, NULL);
    char query[64];
    snprintf(query, sizeof query, "bank_account=%lld", (long long)hx.db.bank_account_id);
    struct reply imported =
        upload(query, hx.tokens.bank, "st-upload-1", "application/xml", file, strlen(file));
    expect(&imported, 201, NULL);
    ck_assert_int_eq(member_int(imported.json, "lines"), 4);
    ck_assert_int_eq(member_int(imported.json, "booked"), 1);
    ck_assert_int_eq(member_int(imported.json, "suspense"), 1);
    ck_assert_int_eq(member_int(imported.json, "unmatched"), 2);
    ck_assert_str_eq(member_string(imported.json, "format"), "camt053");
    ck_assert(json_is_false(json_object_get(imported.json, "already_imported")));
    long long statement_id = member_int(imported.json, "statement_id");
    reply_free(&imported);
    free(file);

    /* the statement, two lines a page */
    int pages = 0;
    json_t *all = statement_lines(statement_id, 2, &pages);
    ck_assert_int_eq(pages, 2);
    ck_assert_uint_eq(json_array_size(all), 4);
    json_t *booked = line_with_ref(all, "ST-R1");
    ck_assert_str_eq(member_string(booked, "status"), "booked");
    ck_assert_str_eq(member_string(booked, "rule"), "payin_no");
    ck_assert_str_eq(member_string(booked, "case_no"), CASE_ONE);
    ck_assert_int_gt(member_int(booked, "entry_seq"), 0);
    ck_assert_str_ne(member_string(booked, "reason"), "");
    json_t *suspense = line_with_ref(all, "ST-R2");
    ck_assert_str_eq(member_string(suspense, "status"), "suspense");
    long long suspense_line = member_int(suspense, "line_id");
    json_t *debit = line_with_ref(all, "ST-R3");
    ck_assert_str_eq(member_string(debit, "status"), "exception");
    long long exception_line = member_int(debit, "line_id");
    json_t *ambiguous = line_with_ref(all, "ST-R4");
    ck_assert_str_eq(member_string(ambiguous, "status"), "exception");
    const char *candidates = member_string(ambiguous, "candidates");
    ck_assert_msg(strstr(candidates, CASE_ONE) != NULL || strstr(candidates, "entry") != NULL,
                  "candidates: %s", candidates);
    json_decref(all);

    /* the queue: the suspense credit, the debit, the ambiguous credit with both candidates */
    char path[PATH_SIZE];
    snprintf(path, sizeof path, "/v1/reconciliation/exceptions?%s&limit=1000", query);
    struct reply queue = send_json("GET", path, hx.tokens.clerk, NULL, NULL);
    expect(&queue, 200, NULL);
    json_t *items = json_object_get(queue.json, "items");
    ck_assert_str_eq(member_string(line_with_ref(items, "ST-R2"), "kind"), "unidentified_receipt");
    ck_assert_str_eq(member_string(line_with_ref(items, "ST-R3"), "kind"), "unmatched_debit");
    json_t *both = line_with_ref(items, "ST-R4");
    ck_assert_str_eq(member_string(both, "kind"), "ambiguous");
    int named = 0;
    for (const char *at = member_string(both, "candidates"); (at = strstr(at, "entry")) != NULL;
         at++)
        named++;
    ck_assert_msg(named >= 2, "ambiguous line names %d candidates: %s", named,
                  member_string(both, "candidates"));
    reply_free(&queue);

    /* assignment: booked once, replayed with its key, refused otherwise */
    char assign[PATH_SIZE];
    snprintf(assign, sizeof assign, "/v1/suspense/%lld/assign", suspense_line);
    char *before = fixture_books_digest(&hx.db);
    struct reply refusals[] = {
        send_json("POST", assign, hx.tokens.clerk, "st-assign-0", assign_body("NO-SUCH-CASE")),
        send_json("POST", assign, hx.tokens.clerk, NULL, assign_body(CASE_TWO)),
        send_json("POST", assign, hx.tokens.approver, "st-assign-0b", assign_body(CASE_TWO)),
        send_json("POST", assign, hx.tokens.clerk, "st-assign-0c", json_object()),
    };
    static const int refused_statuses[] = {404, 400, 403, 400};
    static const char *const refused_codes[] = {"unknown_case", "missing_idempotency_key",
                                                "forbidden_role", "missing_field"};
    expect_each(refusals, refused_statuses, refused_codes, 4);
    books_unchanged(before, "a refused assignment");
    free(before);
    struct reply first =
        send_json("POST", assign, hx.tokens.clerk, "st-assign-1", assign_body(CASE_TWO));
    expect(&first, 201, NULL);
    ck_assert_str_eq(member_string(first.json, "case_no"), CASE_TWO);
    ck_assert_int_eq(member_int(first.json, "amount"), 7700);
    long long entry = member_int(first.json, "entry_id");
    reply_free(&first);
    before = fixture_books_digest(&hx.db);
    struct reply again =
        send_json("POST", assign, hx.tokens.clerk, "st-assign-1", assign_body(CASE_TWO));
    expect(&again, 201, NULL);
    ck_assert_int_eq(member_int(again.json, "entry_id"), entry);
    reply_free(&again);
    char exception_path[PATH_SIZE];
    snprintf(exception_path, sizeof exception_path, "/v1/suspense/%lld/assign", exception_line);
    struct reply more[] = {
        send_json("POST", assign, hx.tokens.clerk, "st-assign-2", assign_body(CASE_ONE)),
        send_json("POST", assign, hx.tokens.clerk, "st-assign-1", assign_body(CASE_ONE)),
        send_json("POST", exception_path, hx.tokens.clerk, "st-assign-3", assign_body(CASE_ONE)),
        send_json("POST", "/v1/suspense/999999999/assign", hx.tokens.clerk, "st-assign-4",
                  assign_body(CASE_ONE)),
        send_json("POST", "/v1/suspense/x1/assign", hx.tokens.clerk, "st-assign-5",
                  assign_body(CASE_ONE)),
    };
    static const int more_statuses[] = {409, 409, 409, 404, 404};
    static const char *const more_codes[] = {"line_already_assigned", "idempotency_conflict",
                                             "line_not_in_suspense", "unknown_statement_line",
                                             "unknown_statement_line"};
    expect_each(more, more_statuses, more_codes, 5);
    books_unchanged(before, "a refused or replayed assignment");
    free(before);

    /* the assigned line leaves the queue and shows its case */
    queue = send_json("GET", path, hx.tokens.clerk, NULL, NULL);
    expect(&queue, 200, NULL);
    ck_assert_ptr_null(line_with_ref(json_object_get(queue.json, "items"), "ST-R2"));
    reply_free(&queue);
    all = statement_lines(statement_id, 1000, &pages);
    json_t *assigned = json_object_get(line_with_ref(all, "ST-R2"), "assigned");
    ck_assert_str_eq(member_string(assigned, "case_no"), CASE_TWO);
    ck_assert_int_eq(member_int(assigned, "entry_seq"), entry);
    json_decref(all);

    /* the report names the two unbooked exceptions */
    snprintf(path, sizeof path, "/v1/reconciliation/report?%s&date=2024-03-02", query);
    struct reply report = send_json("GET", path, hx.tokens.auditor, NULL, NULL);
    expect(&report, 200, NULL);
    ck_assert_int_eq(member_int(report.json, "statement_id"), statement_id);
    ck_assert_int_eq(member_int(report.json, "closing"), 25000 + 7700 - 300 + 5000);
    ck_assert_int_eq(member_int(report.json, "unexplained"), 0);
    reply_free(&report);
    struct reply unknown =
        send_json("GET", "/v1/statements/999999999", hx.tokens.clerk, NULL, NULL);
    expect(&unknown, 404, "unknown_statement");
    reply_free(&unknown);
    expect_clean_stop();
}
END_TEST

/* The same file again books nothing and answers what the first import
 * stored; an overlapping file books only its new line. */
START_TEST(reupload_books_nothing_twice)
{
    char remittance[64];
    snprintf(remittance, sizeof remittance, "PAYIN %s", payin_two);
    struct gen_line lines[] = {{1200, "RU-R1", NULL, remittance},
                               {1300, "RU-R2", NULL, remittance}};
    char *file = mt940("CNY", lines, 2);
    struct reply first = upload("bank_account_no=" ACCOUNT_NO, hx.tokens.clerk, "ru-1",
                                "text/plain", file, strlen(file));
    expect(&first, 201, NULL);
    ck_assert_int_eq(member_int(first.json, "booked"), 2);
    ck_assert_str_eq(member_string(first.json, "format"), "mt940");
    long long statement_id = member_int(first.json, "statement_id");
    reply_free(&first);
    long long stored = statements_stored();
    char *before = fixture_books_digest(&hx.db);
    /* the same key: the first answer; another key: the stored result, 200 */
    struct reply replay = upload("bank_account_no=" ACCOUNT_NO, hx.tokens.clerk, "ru-1",
                                 "text/plain", file, strlen(file));
    expect(&replay, 201, NULL);
    ck_assert_int_eq(member_int(replay.json, "statement_id"), statement_id);
    ck_assert_int_eq(member_int(replay.json, "booked"), 2);
    reply_free(&replay);
    struct reply again = upload("bank_account_no=" ACCOUNT_NO, hx.tokens.bank, "ru-2",
                                "application/octet-stream", file, strlen(file));
    expect(&again, 200, NULL);
    ck_assert(json_is_true(json_object_get(again.json, "already_imported")));
    ck_assert_int_eq(member_int(again.json, "statement_id"), statement_id);
    ck_assert_int_eq(member_int(again.json, "lines"), 2);
    reply_free(&again);
    /* curl --data-binary @FILE names it form data: the first bytes tell */
    struct reply curl = upload("bank_account_no=" ACCOUNT_NO, hx.tokens.bank, "ru-2c",
                               "application/x-www-form-urlencoded", file, strlen(file));
    expect(&curl, 200, NULL);
    ck_assert(json_is_true(json_object_get(curl.json, "already_imported")));
    ck_assert_str_eq(member_string(curl.json, "format"), "mt940");
    reply_free(&curl);
    /* the first key with another file: refused */
    struct gen_line other[] = {{1400, "RU-R9", NULL, remittance}};
    char *different = mt940("CNY", other, 1);
    struct reply conflict = upload("bank_account_no=" ACCOUNT_NO, hx.tokens.clerk, "ru-1",
                                   "text/plain", different, strlen(different));
    expect(&conflict, 409, "idempotency_conflict");
    reply_free(&conflict);
    books_unchanged(before, "a re-upload");
    ck_assert_int_eq(statements_stored(), stored);
    free(before);
    /* overlapping: RU-R2 again and RU-R3 new */
    struct gen_line overlap[] = {{1300, "RU-R2", NULL, remittance},
                                 {1500, "RU-R3", NULL, remittance}};
    char *overlapping = mt940("CNY", overlap, 2);
    struct reply third = upload("bank_account_no=" ACCOUNT_NO, hx.tokens.clerk, "ru-3",
                                "text/plain", overlapping, strlen(overlapping));
    expect(&third, 201, NULL);
    ck_assert_int_eq(member_int(third.json, "duplicates"), 1);
    ck_assert_int_eq(member_int(third.json, "booked"), 1);
    reply_free(&third);
    free(overlapping);
    free(different);
    free(file);
    expect_clean_stop();
}
END_TEST

struct refusal {
    const char *what;
    const char *query;
    const char *token_role; /* "clerk", "bank", "approver", NULL: none */
    const char *key;
    const char *content_type;
    const char *body;
    int status;
    const char *code;
};

static const char *token_of(const char *role)
{
    if (role == NULL)
        return NULL;
    return strcmp(role, "bank") == 0       ? hx.tokens.bank
           : strcmp(role, "approver") == 0 ? hx.tokens.approver
                                           : hx.tokens.clerk;
}

/* Refused files and requests: the stable code, and nothing booked or stored. */
START_TEST(refusals_leave_books_untouched)
{
    struct gen_line good[] = {{1000, "RF-R1", NULL, "x"}, {-200, "RF-R2", NULL, NULL}};
    char *unbalanced = camt(ACCOUNT_NO, good, 2, 1, NULL);
    char *wrong_account = camt("CUSTODY-9", good, 2, 0, NULL);
    char *valid = camt(ACCOUNT_NO, good, 2, 0, NULL);
    char *malformed = strdup(valid);
    malformed[strlen(malformed) / 2] = '\0';
    char *euro = mt940("EUR", good, 2);
    char *truncated = mt940("CNY", good, 2);
    *strstr(truncated, ":62F:") = '\0';
    /* its second line one fen over 10,000,000,000.00 */
    struct gen_line huge_lines[] = {{1000, "RF-H1", NULL, "x"},
                                    {1000000000001LL, "RF-H2", NULL, "y"}};
    char *huge = camt(ACCOUNT_NO, huge_lines, 2, 0, NULL);
    const char *account = "bank_account_no=" ACCOUNT_NO;
    const struct refusal refusals[] = {
        {"unbalanced", account, "bank", "rf-1", "application/xml", unbalanced, 422,
         "statement_unbalanced"},
        {"another account", account, "bank", "rf-2", "application/xml", wrong_account, 422,
         "wrong_account"},
        {"malformed XML", account, "bank", "rf-3", "application/xml", malformed, 422,
         "statement_malformed"},
        {"another currency", account, "bank", "rf-4", "text/plain", euro, 422, "currency_mismatch"},
        {"truncated MT940", account, "bank", "rf-5", "text/plain", truncated, 422,
         "statement_truncated"},
        {"not a statement", account, "bank", "rf-6", "application/xml", "<a>b</a>", 422,
         "not_a_statement"},
        {"unknown account", "bank_account=999999", "bank", "rf-7", "application/xml", valid, 404,
         "unknown_account"},
        {"unknown account number", "bank_account_no=NOPE", "bank", "rf-8", "application/xml", valid,
         404, "unknown_account"},
        {"no account", "format=camt053", "bank", "rf-9", "application/xml", valid, 400,
         "missing_parameter"},
        {"bad account id", "bank_account=abc", "bank", "rf-10", "application/xml", valid, 400,
         "invalid_parameter"},
        {"empty body", account, "bank", "rf-11", "application/xml", "", 400, "empty_body"},
        {"unknown media type", account, "bank", "rf-12", "image/png", valid, 415,
         "unsupported_media_type"},
        {"unguessable bytes", account, "bank", "rf-13", "application/octet-stream", "Date,Amount",
         415, "unsupported_media_type"},
        {"bad format", "bank_account_no=" ACCOUNT_NO "&format=pdf", "bank", "rf-14",
         "application/xml", valid, 400, "invalid_parameter"},
        {"CSV without mapping", account, "bank", "rf-15", "text/csv", "a,b\n", 400,
         "missing_parameter"},
        {"CSV unknown mapping", "bank_account_no=" ACCOUNT_NO "&mapping=nope", "bank", "rf-16",
         "text/csv", "a,b\n", 422, "unknown_mapping"},
        {"CSV mapping outside its directory", "bank_account_no=" ACCOUNT_NO "&mapping=..%2Fx",
         "bank", "rf-17", "text/csv", "a,b\n", 422, "unknown_mapping"},
        {"no idempotency key", account, "bank", NULL, "application/xml", valid, 400,
         "missing_idempotency_key"},
        {"approver", account, "approver", "rf-18", "application/xml", valid, 403, "forbidden_role"},
        {"no token", account, NULL, "rf-19", "application/xml", valid, 401, "unauthenticated"},
        {"bad encoding name", account, "bank", "rf-20", "text/plain; charset=\"x/../y\"", euro, 400,
         "invalid_parameter"},
        {"a line over the largest amount", account, "bank", "rf-21", "application/xml", huge, 422,
         "amount_too_large"},
    };
    long long stored = statements_stored();
    char *before = fixture_books_digest(&hx.db);
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        const struct refusal *r = &refusals[i];
        struct reply reply = upload(r->query, token_of(r->token_role), r->key, r->content_type,
                                    r->body, strlen(r->body));
        ck_assert_msg(reply.status == r->status && strcmp(reply.code, r->code) == 0,
                      "%s: %d %s, want %d %s: %s", r->what, reply.status, reply.code, r->status,
                      r->code, reply.text);
        /* A file that does not parse or balance names where. */
        if (strncmp(r->code, "statement_", 10) == 0 || strcmp(r->code, "not_a_statement") == 0)
            ck_assert_msg(json_is_integer(json_object_get(reply.json, "line")) &&
                              json_is_string(json_object_get(reply.json, "element")),
                          "%s: no line and element: %s", r->what, reply.text);
        if (strcmp(r->code, "amount_too_large") == 0)
            ck_assert_msg(json_integer_value(json_object_get(reply.json, "line")) > 0 &&
                              strstr(member_string(reply.json, "detail"), "line 2") != NULL,
                          "%s: the line is not named: %s", r->what, reply.text);
        reply_free(&reply);
        books_unchanged(before, r->what);
    }
    ck_assert_int_eq(statements_stored(), stored);
    free(before);
    free(huge);
    free(truncated);
    free(euro);
    free(malformed);
    free(valid);
    free(wrong_account);
    free(unbalanced);
    expect_clean_stop();
}
END_TEST

/* Past API_STATEMENT_BODY_MAX: 413; a file larger than a JSON body: fine. */
START_TEST(statement_body_limits)
{
    size_t size = (size_t)API_STATEMENT_BODY_MAX + 1;
    char *huge = malloc(size);
    ck_assert_ptr_nonnull(huge);
    memset(huge, ' ', size);
    huge[0] = '<';
    char *before = fixture_books_digest(&hx.db);
    struct reply refused = upload("bank_account_no=" ACCOUNT_NO, hx.tokens.bank, "bl-1",
                                  "application/xml", huge, size);
    expect(&refused, 413, "body_too_large");
    reply_free(&refused);
    books_unchanged(before, "an oversized file");
    free(before);
    free(huge);
    /* a JSON route keeps its own limit */
    char *json = malloc(API_BODY_MAX + 2);
    ck_assert_ptr_nonnull(json);
    memset(json, ' ', API_BODY_MAX + 1);
    json[0] = '{';
    json[API_BODY_MAX] = '}';
    struct reply json_refused = send_request("POST", "/v1/suspense/1/assign", hx.tokens.clerk,
                                             "bl-2", "application/json", json, API_BODY_MAX + 1);
    expect(&json_refused, 413, "body_too_large");
    reply_free(&json_refused);
    free(json);
    /* LARGE_LINES lines of PADDING_BYTES each: more than API_BODY_MAX */
    char *padding = malloc(PADDING_BYTES + 1);
    ck_assert_ptr_nonnull(padding);
    memset(padding, 'p', PADDING_BYTES);
    padding[PADDING_BYTES] = '\0';
    struct gen_line *lines = calloc(LARGE_LINES, sizeof *lines);
    char(*refs)[16] = calloc(LARGE_LINES, sizeof *refs);
    ck_assert_ptr_nonnull(lines);
    ck_assert_ptr_nonnull(refs);
    for (int i = 0; i < LARGE_LINES; i++) {
        snprintf(refs[i], sizeof refs[i], "BL-%04d", i);
        lines[i] = (struct gen_line){100 + i, refs[i], "Payer", "unknown"};
    }
    char *file = camt(ACCOUNT_NO, lines, LARGE_LINES, 0, padding);
    ck_assert_uint_gt(strlen(file), API_BODY_MAX);
    struct reply large = upload("bank_account_no=" ACCOUNT_NO, hx.tokens.bank, "bl-3",
                                "application/xml", file, strlen(file));
    expect(&large, 201, NULL);
    ck_assert_int_eq(member_int(large.json, "lines"), LARGE_LINES);
    ck_assert_int_eq(member_int(large.json, "suspense"), LARGE_LINES);
    reply_free(&large);
    free(file);
    free(refs);
    free(lines);
    free(padding);
    expect_clean_stop();
}
END_TEST

/* CSV through a mapping configured on the server (--mapping-dir). */
START_TEST(csv_with_named_mapping)
{
    char csv[512];
    snprintf(csv, sizeof csv,
             "Date,Amount,Balance,Reference,Remittance\n"
             "2024-03-05,12.00,12.00,CSV-R1,PAYIN %s\n"
             "2024-03-05,5.00,17.00,CSV-R2,misc\n",
             payin_two);
    struct reply imported =
        upload("bank_account_no=" ACCOUNT_NO "&mapping=test-bank", hx.tokens.bank, "csv-1",
               "text/csv; charset=utf-8", csv, strlen(csv));
    expect(&imported, 201, NULL);
    ck_assert_str_eq(member_string(imported.json, "format"), "csv");
    ck_assert_int_eq(member_int(imported.json, "booked"), 1);
    ck_assert_int_eq(member_int(imported.json, "suspense"), 1);
    reply_free(&imported);
    expect_clean_stop();
}
END_TEST

/* ---- the shared corpus ---- */

struct corpus_account {
    char number[LEDGER_BANK_ACCOUNT_MAX + 1];
    char currency[4];
};
static struct corpus_account corpus_accounts[CORPUS_ACCOUNTS_MAX];
static size_t corpus_accounts_count;

/* Account numbers compare as the importer compares them: without spaces,
 * letters upper-case. */
static void account_key(char *out, size_t size, const char *number)
{
    size_t used = 0;
    for (; *number != '\0' && used + 1 < size; number++)
        if (*number != ' ')
            out[used++] = (char)(*number >= 'a' && *number <= 'z' ? *number - 32 : *number);
    out[used] = '\0';
}

/* What importing the parsed file into the first statement's account must
 * answer: 201, or 422 with the first refusal (account, then currency). */
static const char *expected_refusal(const struct recon_statement *first)
{
    char want[2 * LEDGER_BANK_ACCOUNT_MAX];
    char have[2 * LEDGER_BANK_ACCOUNT_MAX];
    account_key(want, sizeof want, first->account_id);
    for (const struct recon_statement *s = first; s != NULL; s = s->next) {
        account_key(have, sizeof have, s->account_id);
        if (strcmp(want, have) != 0)
            return "wrong_account";
        if (strcmp(s->currency, first->currency) != 0)
            return "currency_mismatch";
    }
    return NULL;
}

/* The custody account of the statement's number; false when the number
 * is another currency's already (then the import says currency_mismatch). */
static bool corpus_account(const struct recon_statement *first)
{
    for (size_t i = 0; i < corpus_accounts_count; i++)
        if (strcmp(corpus_accounts[i].number, first->account_id) == 0)
            return strcmp(corpus_accounts[i].currency, first->currency) == 0;
    ck_assert_uint_lt(corpus_accounts_count, CORPUS_ACCOUNTS_MAX);
    struct corpus_account *account = &corpus_accounts[corpus_accounts_count++];
    snprintf(account->number, sizeof account->number, "%s", first->account_id);
    snprintf(account->currency, sizeof account->currency, "%s", first->currency);
    char key[96];
    snprintf(key, sizeof key, "corpus-account-%zu", corpus_accounts_count);
    struct reply made =
        send_json("POST", "/v1/bank-accounts", hx.tokens.admin, key,
                  json_pack("{s:s, s:s, s:s}", "account_no", first->account_id, "bank_name",
                            "Corpus Bank", "currency", first->currency));
    expect(&made, 201, NULL);
    reply_free(&made);
    return true;
}

/* The import streams: each statement's account and currency are checked
 * when its first lines arrive (or at its end, when it has none), its balance
 * and the rest at its end. So a file the parser refuses at a statement's
 * end is refused for the account or currency of a statement met before
 * that, when there is one: what a streamed parse (as the upload's) shows. */
struct stream_probe {
    const char *account_no;
    const char *currency;
    const char *refusal;
};

static enum recon_err probe_statement(void *context, const struct recon_statement *statement)
{
    struct stream_probe *probe = context;
    char want[2 * LEDGER_BANK_ACCOUNT_MAX];
    char have[2 * LEDGER_BANK_ACCOUNT_MAX];
    account_key(want, sizeof want, probe->account_no);
    account_key(have, sizeof have, statement->account_id);
    if (strcmp(want, have) != 0)
        probe->refusal = "wrong_account";
    else if (strcmp(statement->currency, probe->currency) != 0)
        probe->refusal = "currency_mismatch";
    return probe->refusal != NULL ? RECON_ERR_STOPPED : RECON_OK;
}

static enum recon_err probe_lines(void *context, const struct recon_statement *statement,
                                  const struct recon_line *lines, size_t count)
{
    (void)lines;
    (void)count;
    return probe_statement(context, statement);
}

/* The refusal a streamed import of data for account_no (CNY) gives, given
 * the parser's own (parsed, the whole-file parse's code). */
static const char *streamed_refusal(const char *data, size_t size, bool xml, const char *encoding,
                                    const char *account_no, enum recon_err parsed)
{
    struct recon_source source = {.format = xml ? RECON_FORMAT_CAMT053 : RECON_FORMAT_MT940,
                                  .data = data,
                                  .size = size,
                                  .encoding = encoding};
    struct stream_probe probe = {.account_no = account_no, .currency = "CNY"};
    struct recon_sink sink = {.context = &probe, .lines = probe_lines, .end = probe_statement};
    struct recon_error error;
    enum recon_err streamed = recon_parse_stream(&source, &sink, &error);
    if (probe.refusal != NULL)
        return probe.refusal;
    ck_assert_int_eq(streamed, parsed); /* the stream refuses what the whole parse does */
    return recon_err_code(parsed);
}

static char *read_file(const char *path, size_t *size)
{
    struct stat info;
    FILE *file = fopen(path, "rb");
    ck_assert_msg(file != NULL && fstat(fileno(file), &info) == 0, "cannot read %s", path);
    char *data = malloc((size_t)info.st_size + 1);
    ck_assert_ptr_nonnull(data);
    *size = fread(data, 1, (size_t)info.st_size, file);
    ck_assert_uint_eq(*size, (size_t)info.st_size);
    data[*size] = '\0';
    fclose(file);
    return data;
}

/* Uploads one corpus file and checks the answer against what the parser
 * makes of it; returns true when it was imported. */
static bool upload_corpus_file(const char *directory, const char *name, size_t serial)
{
    char path[PATH_SIZE * 2];
    snprintf(path, sizeof path, "%s/%s", directory, name);
    size_t size = 0;
    char *data = read_file(path, &size);
    bool xml = strstr(directory, "camt053") != NULL;
    /* the one file of the corpus in another character set than UTF-8 */
    const char *encoding = strstr(name, "raiffeisen-cmi") != NULL ? "CP852" : NULL;
    struct recon_statement *first = NULL;
    struct recon_error error;
    enum recon_err parsed = xml ? recon_camt053_parse(&first, data, size, NULL, 0, &error)
                                : recon_mt940_parse(&first, data, size, encoding, NULL, 0, &error);
    bool usable = parsed == RECON_OK && first->account_id[0] != '\0' &&
                  strlen(first->account_id) <= LEDGER_BANK_ACCOUNT_MAX;
    const char *refusal = parsed != RECON_OK
                              ? streamed_refusal(data, size, xml, encoding, ACCOUNT_NO, parsed)
                          : !usable                ? NULL
                          : !corpus_account(first) ? "currency_mismatch"
                                                   : expected_refusal(first);
    char query[PATH_SIZE];
    char number[3 * LEDGER_BANK_ACCOUNT_MAX + 1];
    http_fixture_path_segment(number, sizeof number, usable ? first->account_id : ACCOUNT_NO);
    snprintf(query, sizeof query, "bank_account_no=%s%s%s", number, encoding ? "&encoding=" : "",
             encoding ? encoding : "");
    char key[64];
    snprintf(key, sizeof key, "corpus-%zu", serial);
    bool imported = false;
    if (parsed != RECON_OK || usable) {
        struct reply reply =
            upload(query, hx.tokens.bank, key, xml ? "application/xml" : "text/plain", data, size);
        if (refusal != NULL) {
            ck_assert_msg(reply.status == 422 && strcmp(reply.code, refusal) == 0,
                          "%s: %d %s, want 422 %s: %s", name, reply.status, reply.code, refusal,
                          reply.text);
        } else {
            ck_assert_msg(reply.status == 201, "%s: %d: %s", name, reply.status, reply.text);
            size_t lines = 0;
            for (const struct recon_statement *s = first; s != NULL; s = s->next)
                lines += s->line_count;
            ck_assert_int_eq(member_int(reply.json, "lines"), (long long)lines);
            imported = true;
        }
        reply_free(&reply);
    }
    /* again, under another key: nothing booked, the stored answer */
    if (imported) {
        char *before = fixture_books_digest(&hx.db);
        snprintf(key, sizeof key, "corpus-again-%zu", serial);
        struct reply again =
            upload(query, hx.tokens.bank, key, xml ? "application/xml" : "text/plain", data, size);
        ck_assert_msg(again.status == 200 &&
                          json_is_true(json_object_get(again.json, "already_imported")),
                      "%s again: %d: %s", name, again.status, again.text);
        reply_free(&again);
        books_unchanged(before, name);
        free(before);
    }
    recon_statement_free(first);
    free(data);
    return imported;
}

static size_t upload_corpus_directory(const char *corpus, const char *format, size_t *serial)
{
    char directory[PATH_SIZE];
    snprintf(directory, sizeof directory, "%s/%s", corpus, format);
    DIR *listing = opendir(directory);
    ck_assert_msg(listing != NULL, "no corpus directory %s", directory);
    size_t imported = 0;
    struct dirent *entry;
    while ((entry = readdir(listing)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        if (upload_corpus_file(directory, entry->d_name, (*serial)++))
            imported++;
    }
    closedir(listing);
    return imported;
}

/* Every file of the shared corpus: imported into a custody account of its
 * own number and currency, or refused with the parser's code. */
START_TEST(corpus_files)
{
    const char *corpus = getenv("CASELEDGER_CORPUS_DIR");
    ck_assert_msg(corpus != NULL, "CASELEDGER_CORPUS_DIR is not set");
    size_t serial = 0;
    size_t camt_imported = upload_corpus_directory(corpus, "camt053", &serial);
    size_t mt940_imported = upload_corpus_directory(corpus, "mt940", &serial);
    ck_assert_uint_gt(camt_imported, 0);
    ck_assert_uint_gt(mt940_imported, 0);
    expect_clean_stop();
}
END_TEST

/* While a statement import holds the books (the chain head, to its end), a
 * booking over HTTP waits at most --lock-wait-ms, then is refused 503 busy
 * with nothing booked; the same request again after the import books. */
START_TEST(bookings_during_an_import_are_busy)
{
    (void)http_fixture_stop(&hx);
    setenv("CASELEDGER_LOCK_WAIT_MS", "300", 1);
    http_fixture_start(&hx, HTTP_FIXTURE_THREADS);
    unsetenv("CASELEDGER_LOCK_WAIT_MS");
    char *before = fixture_books_digest(&hx.db);
    struct ledger *importer = fixture_ledger(&hx.db);
    ck_assert_int_eq(ledger_import_begin(importer, "bank1"), LEDGER_OK);
    json_t *body = json_pack("{s:s, s:i, s:s, s:s}", "case_no", CASE_ONE, "amount", 4200,
                             "bank_ref", "ST-BUSY-1", "value_date", "2024-03-02");
    struct timespec started, finished;
    clock_gettime(CLOCK_MONOTONIC, &started);
    struct reply busy =
        send_json("POST", "/v1/receipts", hx.tokens.clerk, "ST-BUSY-1", json_deep_copy(body));
    clock_gettime(CLOCK_MONOTONIC, &finished);
    expect(&busy, 503, "busy");
    long waited_ms = (finished.tv_sec - started.tv_sec) * 1000L +
                     (finished.tv_nsec - started.tv_nsec) / 1000000L;
    ck_assert_msg(waited_ms >= 250 && waited_ms < 5000, "answered after %ld ms", waited_ms);
    books_unchanged(before, "a booking refused while an import ran");
    ledger_import_rollback(importer);
    ledger_close(importer);
    struct reply booked =
        send_json("POST", "/v1/receipts", hx.tokens.clerk, "ST-BUSY-1", json_deep_copy(body));
    expect(&booked, 201, NULL);
    json_decref(body);
    free(before);
    reply_free(&busy);
    reply_free(&booked);
    expect_clean_stop();
}
END_TEST

/* POST /v1/bank-accounts under its Idempotency-Key: the first request
 * again answers the same account; the key with another body is refused and
 * makes nothing; another key for the same body answers it too. */
START_TEST(bank_account_idempotency)
{
    const char *sql = "SELECT count(*) FROM accounts WHERE kind = 'bank'";
    long long banks = fixture_query_int(&hx.db, sql);
    json_t *first = json_pack("{s:s, s:s, s:s}", "account_no", "6222 0000 7777", "bank_name",
                              "Second Custody Bank", "currency", "CNY");
    struct reply made = send_json("POST", "/v1/bank-accounts", hx.tokens.admin, "bank-key-1",
                                  json_deep_copy(first));
    expect(&made, 201, NULL);
    long long id = member_int(made.json, "id");
    struct reply again = send_json("POST", "/v1/bank-accounts", hx.tokens.admin, "bank-key-1",
                                   json_deep_copy(first));
    expect(&again, 201, NULL);
    ck_assert_int_eq(member_int(again.json, "id"), id);
    struct reply other_key = send_json("POST", "/v1/bank-accounts", hx.tokens.admin, "bank-key-2",
                                       json_deep_copy(first));
    expect(&other_key, 201, NULL);
    ck_assert_int_eq(member_int(other_key.json, "id"), id);
    ck_assert_int_eq(fixture_query_int(&hx.db, sql), banks + 1);
    struct reply conflict =
        send_json("POST", "/v1/bank-accounts", hx.tokens.admin, "bank-key-1",
                  json_pack("{s:s, s:s, s:s}", "account_no", "6222 0000 8888", "bank_name",
                            "Third Custody Bank", "currency", "CNY"));
    expect(&conflict, 409, "idempotency_conflict");
    ck_assert_int_eq(fixture_query_int(&hx.db, sql), banks + 1);
    ck_assert_int_eq(fixture_query_int(&hx.db, "SELECT count(*) FROM accounts "
                                               "WHERE bank_account_no = '6222 0000 8888'"),
                     0);
    json_decref(first);
    reply_free(&made);
    reply_free(&again);
    reply_free(&other_key);
    reply_free(&conflict);
}
END_TEST

/* The reconciliation step after an import fails (the book balance cannot
 * be read) and the upload's record cannot be written: the import stands
 * (201), but the answer says the report could not be computed instead of
 * "difference": 0, and the lost record is logged. */
START_TEST(report_failure_is_not_a_zero)
{
    char *saved = fixture_query(&hx.db, "SELECT pg_get_functiondef("
                                        "'cl_book_balance(bigint, date)'::regprocedure)");
    ck_assert_str_ne(saved, "");
    http_fixture_sql(&hx, "CREATE OR REPLACE FUNCTION cl_book_balance(p_account bigint, "
                          "p_day date) RETURNS bigint LANGUAGE plpgsql STABLE AS "
                          "$$BEGIN RAISE EXCEPTION 'test: no book balance'; END$$");
    http_fixture_sql(&hx, "CREATE FUNCTION test_refuse_upload() RETURNS trigger "
                          "LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'test: no record'; END$$");
    http_fixture_sql(&hx, "CREATE TRIGGER test_refuse_upload BEFORE INSERT ON idempotency "
                          "FOR EACH ROW WHEN (NEW.operation = 'statement_upload') "
                          "EXECUTE FUNCTION test_refuse_upload()");
    char remittance[64];
    snprintf(remittance, sizeof remittance, "PAYIN %s", payin_one);
    struct gen_line lines[] = {{1234, "ST-RF1", "Payer Report", remittance}};
    char *file = camt(ACCOUNT_NO, lines, 1, 0, NULL);
    char query[64];
    snprintf(query, sizeof query, "bank_account=%lld", (long long)hx.db.bank_account_id);
    struct reply imported =
        upload(query, hx.tokens.bank, "st-report-fails", "application/xml", file, strlen(file));
    http_fixture_sql(&hx, saved);
    http_fixture_sql(&hx, "DROP TRIGGER test_refuse_upload ON idempotency");
    http_fixture_sql(&hx, "DROP FUNCTION test_refuse_upload()");
    free(saved);

    expect(&imported, 201, NULL);
    ck_assert_int_eq(member_int(imported.json, "booked"), 1);
    ck_assert_msg(json_is_null(json_object_get(imported.json, "difference")), "%s", imported.text);
    ck_assert(json_is_null(json_object_get(imported.json, "difference_text")));
    ck_assert(json_is_null(json_object_get(imported.json, "book_balance")));
    json_t *report_error = json_object_get(imported.json, "report_error");
    ck_assert_msg(json_is_object(report_error), "%s", imported.text);
    ck_assert_str_eq(member_string(report_error, "code"), "database_error");
    ck_assert_ptr_null(strstr(member_string(report_error, "detail"), "test:"));
    reply_free(&imported);
    char *log = http_fixture_log(&hx);
    ck_assert_msg(strstr(log, "\"event\":\"statement_upload_record\"") != NULL, "log: %s", log);
    ck_assert_msg(strstr(log, "\"event\":\"reconciliation_report\"") != NULL, "log: %s", log);
    free(log);

    /* the report works again: the same file answers what it stored */
    struct reply again =
        upload(query, hx.tokens.bank, "st-report-fails", "application/xml", file, strlen(file));
    expect(&again, 200, NULL);
    ck_assert(json_is_integer(json_object_get(again.json, "difference")));
    ck_assert(json_is_null(json_object_get(again.json, "report_error")));
    reply_free(&again);
    free(file);
    expect_clean_stop();
}
END_TEST

Suite *http_statements_suite(void)
{
    Suite *suite = suite_create("http_statements");
    TCase *story = tcase_create("core");
    tcase_add_checked_fixture(story, setup, teardown);
    tcase_set_timeout(story, TEST_TIMEOUT_S);
    tcase_add_test(story, upload_view_and_assign);
    tcase_add_test(story, reupload_books_nothing_twice);
    tcase_add_test(story, csv_with_named_mapping);
    tcase_add_test(story, corpus_files);
    suite_add_tcase(suite, story);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_set_timeout(errors, TEST_TIMEOUT_S);
    tcase_add_test(errors, refusals_leave_books_untouched);
    tcase_add_test(errors, bank_account_idempotency);
    tcase_add_test(errors, bookings_during_an_import_are_busy);
    tcase_add_test(errors, report_failure_is_not_a_zero);
    suite_add_tcase(suite, errors);
    TCase *limits = tcase_create("limits");
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_set_timeout(limits, TEST_TIMEOUT_S);
    tcase_add_test(limits, statement_body_limits);
    suite_add_tcase(suite, limits);
    return suite;
}

/* Two cases, and a CSV column mapping the server finds by name. */
static void seed(void)
{
    struct ledger *ledger = fixture_ledger(&hx.db);
    fixture_open_case(ledger, CASE_ONE, NULL);
    fixture_open_case(ledger, CASE_TWO, NULL);
    struct ledger_case_info info;
    if (ledger_case_info(ledger, CASE_ONE, &info) != LEDGER_OK)
        exit(2);
    memcpy(payin_one, info.payin_no, sizeof payin_one);
    if (ledger_case_info(ledger, CASE_TWO, &info) != LEDGER_OK)
        exit(2);
    memcpy(payin_two, info.payin_no, sizeof payin_two);
    ledger_close(ledger);
    snprintf(mapping_dir, sizeof mapping_dir, "/tmp/caseledger-mappings-%ld", (long)getpid());
    mkdir(mapping_dir, 0700);
    char path[FIXTURE_PATH_SIZE + 32];
    snprintf(path, sizeof path, "%s/test-bank.mapping", mapping_dir);
    FILE *file = fopen(path, "w");
    if (file == NULL)
        exit(2);
    fputs("delimiter = ,\nheader = yes\ndate = Date\namount = Amount\nbalance = Balance\n"
          "reference = Reference\nremittance = Remittance\naccount = " ACCOUNT_NO "\n"
          "currency = CNY\n",
          file);
    fclose(file);
    setenv("CASELEDGER_MAPPING_DIR", mapping_dir, 1);
}

static void unseed(void)
{
    char path[FIXTURE_PATH_SIZE + 32];
    snprintf(path, sizeof path, "%s/test-bank.mapping", mapping_dir);
    unlink(path);
    rmdir(mapping_dir);
}

int main(void)
{
    http_fixture_setup(&hx, "httpstmt");
    seed();
    SRunner *runner = srunner_create(http_statements_suite());
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    http_fixture_teardown(&hx);
    unseed();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Black-box authorisation of every endpoint, read from the route table
 * (api_routes): each role, no token, a bad token and a disabled user's
 * token against each route. No or bad token: 401; a role the route does
 * not list: 403 forbidden_role; a listed role: the route's own answer,
 * which is its success (a GET, with the suite's data, must answer 200) or
 * a 4xx about the request (a POST's body here is "{}"), never 401/403, an
 * unrouted 404 or a 5xx.
 * Public routes answer everyone alike. Then malformed Authorization
 * headers, the token cache's bound on a disabled user, and the applicant
 * status lookup: one applicant's code opens no other case (404, the same
 * answer as an unknown case), and guessing is rate limited (429).
 *
 * One database for the suite (main), one server per test; no fork (see
 * http_server_fixture.h). */
#include <check.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "http_server_fixture.h"
#include "import.h"
#include "routes.h"

Suite *http_authz_suite(void);

#define PATH_SIZE 512
#define REPORT_SIZE 16384
#define TEST_TIMEOUT_S 120
#define AUTHZ_CASE "HTTP-AUTHZ-1"

static struct http_fixture hx;
static int64_t authz_disbursement_id; /* requested by clerk1 on AUTHZ_CASE */
static int64_t authz_entry_id;        /* the receipt on AUTHZ_CASE */
static int64_t authz_line_id;         /* a statement line in suspense */
static char code_a[LEDGER_ACCESS_CODE_TEXT_SIZE];
static char code_b[LEDGER_ACCESS_CODE_TEXT_SIZE];
static char unknown_token[LEDGER_TOKEN_SIZE]; /* well-formed, nobody's */

enum identity_kind { IDENTITY_ROLE, IDENTITY_NONE, IDENTITY_BAD, IDENTITY_DISABLED };

struct identity {
    const char *name;
    enum identity_kind kind;
    unsigned role;     /* for IDENTITY_ROLE */
    const char *token; /* NULL for IDENTITY_NONE */
};

static struct identity identities[8];

static void identities_init(void)
{
    const struct http_tokens *t = &hx.tokens;
    struct identity all[] = {
        {"clerk", IDENTITY_ROLE, LEDGER_ROLE_CLERK, t->clerk},
        {"approver", IDENTITY_ROLE, LEDGER_ROLE_APPROVER, t->approver},
        {"auditor", IDENTITY_ROLE, LEDGER_ROLE_AUDITOR, t->auditor},
        {"admin", IDENTITY_ROLE, LEDGER_ROLE_ADMIN, t->admin},
        {"bank", IDENTITY_ROLE, LEDGER_ROLE_BANK, t->bank},
        {"no token", IDENTITY_NONE, 0, NULL},
        {"bad token", IDENTITY_BAD, 0, unknown_token},
        {"disabled user", IDENTITY_DISABLED, 0, t->disabled},
    };
    _Static_assert(sizeof all == sizeof identities, "one slot per identity");
    memcpy(identities, all, sizeof all);
}

/* The route's pattern with its {…} segments filled from the suite's data. */
static void route_path(char out[PATH_SIZE], const char *pattern)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *at = pattern; *at != '\0' && used + 1 < PATH_SIZE;) {
        if (*at != '{') {
            out[used++] = *at++;
            out[used] = '\0';
            continue;
        }
        const char *close = strchr(at, '}');
        ck_assert_ptr_nonnull(close);
        char value[64];
        if (strncmp(at, "{case_no}", 9) == 0)
            snprintf(value, sizeof value, "%s", AUTHZ_CASE);
        else if (strncmp(at, "{id}", 4) == 0)
            snprintf(value, sizeof value, "%lld", (long long)authz_disbursement_id);
        else if (strncmp(at, "{entry_id}", 10) == 0)
            snprintf(value, sizeof value, "%lld", (long long)authz_entry_id);
        else if (strncmp(at, "{line_id}", 9) == 0)
            snprintf(value, sizeof value, "%lld", (long long)authz_line_id);
        else
            ck_abort_msg("route %s has a parameter this suite does not know", pattern);
        used += (size_t)snprintf(out + used, PATH_SIZE - used, "%s", value);
        at = close + 1;
    }
}

/* The query a GET route needs to succeed with the suite's data. */
static const struct {
    const char *pattern;
    const char *query;
} route_queries[] = {
    {"/v1/reconciliation/report", "?bank_account_no=CUSTODY-1"},
};

static void route_query(char path[PATH_SIZE], const struct api_route *route)
{
    for (size_t i = 0; i < sizeof route_queries / sizeof route_queries[0]; i++)
        if (strcmp(route->method, "GET") == 0 &&
            strcmp(route->pattern, route_queries[i].pattern) == 0)
            strncat(path, route_queries[i].query, PATH_SIZE - strlen(path) - 1);
}

/* One request of route as identity; the status, and the problem code. */
static int call_route(const struct api_route *route, const struct identity *who, size_t serial,
                      char *code, size_t code_size)
{
    char path[PATH_SIZE];
    route_path(path, route->pattern);
    route_query(path, route);
    char key[64];
    snprintf(key, sizeof key, "authz-%ld-%zu", (long)getpid(), serial);
    struct http_client_response response;
    int status = http_fixture_call(&hx, &response, route->method, path, who->token,
                                   route->json_body ? key : NULL, route->json_body ? "{}" : NULL);
    http_fixture_problem_code(&response, code, code_size);
    http_client_response_free(&response);
    return status;
}

/* Appends a line to the report of mismatches. */
__attribute__((format(printf, 2, 3))) static void report(char *text, const char *format, ...)
{
    size_t used = strlen(text);
    if (used + 1 >= REPORT_SIZE)
        return;
    va_list args;
    va_start(args, format);
    vsnprintf(text + used, REPORT_SIZE - used, format, args);
    va_end(args);
}

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
}

/* What a role the route lists must get; NULL when the answer is right.
 * A GET succeeds. A POST succeeds or is refused for what it was sent (its
 * body is "{}", a request may already be decided): 400, 404 of a named
 * thing, 409 or 422 with a problem code. Anything else (401/403, an
 * unrouted 404, 5xx, a 4xx without a code) means the authorisation or the
 * handler broke. */
static const char *allowed_answer_wrong(const struct api_route *route, int status, const char *code)
{
    if (strcmp(route->method, "GET") == 0)
        return status == 200 ? NULL : "200 (the route's success)";
    if (status >= 200 && status < 300)
        return NULL;
    bool about_input = status == 400 || status == 404 || status == 409 || status == 422;
    bool named = code[0] != '\0' && strcmp(code, "unauthenticated") != 0 &&
                 strcmp(code, "forbidden_role") != 0 && strcmp(code, "not_found") != 0;
    return about_input && named ? NULL
                                : "2xx, or 400/404/409/422 with a code about the request "
                                  "(not 401/403, an unrouted 404 or 5xx)";
}

/* ======================================================================== */

/* Loop test: route number _i against every identity. */
START_TEST(route_roles)
{
    const struct api_route *route = &api_routes[_i];
    char *mismatches = calloc(1, REPORT_SIZE);
    ck_assert_ptr_nonnull(mismatches);
    for (size_t i = 0; i < sizeof identities / sizeof identities[0]; i++) {
        const struct identity *who = &identities[i];
        char code[64];
        int status = call_route(route, who, (size_t)_i * 100 + i, code, sizeof code);
        const char *want = NULL;
        if (status == 0)
            want = "an answer";
        else if (route->roles == API_ROLES_PUBLIC)
            want = status == 401 || status == 403 ? "no 401/403 (public route)" : NULL;
        else if (who->kind != IDENTITY_ROLE)
            want = status == 401 && strcmp(code, "unauthenticated") == 0 ? NULL
                                                                         : "401 unauthenticated";
        else if ((who->role & route->roles) == 0)
            want =
                status == 403 && strcmp(code, "forbidden_role") == 0 ? NULL : "403 forbidden_role";
        else
            want = allowed_answer_wrong(route, status, code);
        if (want != NULL)
            report(mismatches, "  %s %s as %s: %d %s, want %s\n", route->method, route->pattern,
                   who->name, status, code, want);
    }
    ck_assert_msg(mismatches[0] == '\0', "\n%s", mismatches);
    free(mismatches);
    ck_assert_msg(http_fixture_healthy(&hx), "the server stopped answering /healthz");
}
END_TEST

/* The table itself is sane: every role a route names exists, only GET and
 * POST, and bodies only on POST. */
START_TEST(route_table_sane)
{
    const unsigned known = LEDGER_ROLE_CLERK | LEDGER_ROLE_APPROVER | LEDGER_ROLE_AUDITOR |
                           LEDGER_ROLE_ADMIN | LEDGER_ROLE_BANK;
    ck_assert_uint_gt(api_routes_count, 0);
    for (size_t i = 0; i < api_routes_count; i++) {
        ck_assert_msg((api_routes[i].roles & ~known) == 0, "%s %s names an unknown role",
                      api_routes[i].method, api_routes[i].pattern);
        ck_assert_msg(strcmp(api_routes[i].method, "GET") == 0 ||
                          strcmp(api_routes[i].method, "POST") == 0,
                      "%s %s", api_routes[i].method, api_routes[i].pattern);
        ck_assert_msg(!api_routes[i].json_body || strcmp(api_routes[i].method, "POST") == 0,
                      "%s %s takes a body but is not a POST", api_routes[i].method,
                      api_routes[i].pattern);
    }
    expect_clean_stop();
}
END_TEST

/* The statement routes carry the roles API.md gives them (the matrix
 * above checks the server against the table; this, the table against the
 * contract). */
START_TEST(statement_route_roles)
{
    static const struct {
        const char *method;
        const char *pattern;
        unsigned roles;
    } contract[] = {
        {"POST", "/v1/statements", LEDGER_ROLE_CLERK | LEDGER_ROLE_BANK},
        {"GET", "/v1/statements/{id}", API_ROLES_STAFF},
        {"GET", "/v1/reconciliation/exceptions", API_ROLES_STAFF},
        {"GET", "/v1/reconciliation/report", API_ROLES_STAFF},
        {"POST", "/v1/suspense/{line_id}/assign", LEDGER_ROLE_CLERK},
    };
    for (size_t i = 0; i < sizeof contract / sizeof contract[0]; i++) {
        const struct api_route *found = NULL;
        for (size_t r = 0; r < api_routes_count && found == NULL; r++)
            if (strcmp(api_routes[r].method, contract[i].method) == 0 &&
                strcmp(api_routes[r].pattern, contract[i].pattern) == 0)
                found = &api_routes[r];
        ck_assert_msg(found != NULL, "no route %s %s", contract[i].method, contract[i].pattern);
        ck_assert_msg(found->roles == contract[i].roles, "%s %s: roles %#x, want %#x",
                      contract[i].method, contract[i].pattern, found->roles, contract[i].roles);
    }
    expect_clean_stop();
}
END_TEST

/* Authorization headers that are not one enabled user's bearer token. */
START_TEST(malformed_authorization)
{
    char lines[12][160];
    snprintf(lines[0], sizeof lines[0], "Authorization: Basic Y2xlcmsxOnBhc3N3b3Jk");
    snprintf(lines[1], sizeof lines[1], "Authorization: Bearer");
    snprintf(lines[2], sizeof lines[2], "Authorization: Bearer ");
    snprintf(lines[3], sizeof lines[3], "Authorization: Bearer %.63s", hx.tokens.auditor);
    snprintf(lines[4], sizeof lines[4], "Authorization: Bearer %s0", hx.tokens.auditor);
    snprintf(lines[5], sizeof lines[5], "Authorization: Bearer %s extra", hx.tokens.auditor);
    snprintf(lines[6], sizeof lines[6], "Authorization: %s", hx.tokens.auditor);
    snprintf(lines[7], sizeof lines[7], "Authorization: Token %s", hx.tokens.auditor);
    /* The right length, one character off the real token. */
    snprintf(lines[8], sizeof lines[8], "Authorization: Bearer %s", hx.tokens.auditor);
    lines[8][strlen(lines[8]) - 1] = lines[8][strlen(lines[8]) - 1] == 'a' ? 'b' : 'a';
    /* Upper-case hex of the real token is another token. */
    snprintf(lines[9], sizeof lines[9], "Authorization: Bearer ");
    for (const char *c = hx.tokens.auditor; *c != '\0'; c++) {
        char upper[2] = {(char)(*c >= 'a' && *c <= 'f' ? *c - 32 : *c), '\0'};
        strncat(lines[9], upper, sizeof lines[9] - strlen(lines[9]) - 1);
    }
    snprintf(lines[10], sizeof lines[10], "Authorization: Bearer %s", unknown_token);
    snprintf(lines[11], sizeof lines[11], "Authorization: Bearer %s", hx.tokens.disabled);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        const char *headers[] = {lines[i]};
        struct http_client_response response;
        int status = http_fixture_call_headers(&hx, &response, "GET", "/v1/cases/" AUTHZ_CASE,
                                               headers, 1, NULL, 0);
        char code[64];
        http_fixture_problem_code(&response, code, sizeof code);
        http_client_response_free(&response);
        ck_assert_msg(status == 401 && strcmp(code, "unauthenticated") == 0,
                      "\"%s\": %d %s, want 401", lines[i], status, code);
        /* A public route does not care. */
        status = http_fixture_call_headers(&hx, &response, "GET", "/v1/ledger/head", headers, 1,
                                           NULL, 0);
        http_client_response_free(&response);
        ck_assert_msg(status == 200, "\"%s\" on a public route: %d", lines[i], status);
    }
    expect_clean_stop();
}
END_TEST

/* A user disabled after their token was used is refused once the token
 * cache lets go of it (API_TOKEN_CACHE_US). */
START_TEST(disabled_after_use)
{
    char token[LEDGER_TOKEN_SIZE];
    http_fixture_user(&hx, "http_soon_disabled", LEDGER_ROLE_AUDITOR, token);
    struct http_client_response response;
    int status =
        http_fixture_call(&hx, &response, "GET", "/v1/cases/" AUTHZ_CASE, token, NULL, NULL);
    http_client_response_free(&response);
    ck_assert_msg(status != 401 && status != 403, "an enabled auditor got %d", status);
    http_fixture_sql(&hx, "UPDATE users SET disabled = true WHERE name = 'http_soon_disabled'");
    struct timespec pause = {API_TOKEN_CACHE_US / 1000000, 300 * 1000000};
    nanosleep(&pause, NULL);
    status = http_fixture_call(&hx, &response, "GET", "/v1/cases/" AUTHZ_CASE, token, NULL, NULL);
    http_client_response_free(&response);
    ck_assert_int_eq(status, 401);
    expect_clean_stop();
}
END_TEST

/* RFC 9110 section 11.6.1 / RFC 6750 section 3: a 401 names the scheme
 * to use (WWW-Authenticate: Bearer). */
START_TEST(unauthorized_names_scheme)
{
    struct http_client_response response;
    int status =
        http_fixture_call(&hx, &response, "GET", "/v1/cases/" AUTHZ_CASE, NULL, NULL, NULL);
    const char *challenge = http_client_header(&response, "WWW-Authenticate");
    char seen[128];
    snprintf(seen, sizeof seen, "%s", challenge ? challenge : "(none)");
    http_client_response_free(&response);
    ck_assert_int_eq(status, 401);
    ck_assert_msg(challenge != NULL && strncmp(seen, "Bearer", 6) == 0,
                  "a 401 without WWW-Authenticate: Bearer (got %s)", seen);
    expect_clean_stop();
}
END_TEST

/* RFC 9110 section 11.1: the authentication scheme is case-insensitive. */
START_TEST(scheme_case_insensitive)
{
    char line[160];
    snprintf(line, sizeof line, "Authorization: bearer %s", hx.tokens.auditor);
    const char *headers[] = {line};
    struct http_client_response response;
    int status = http_fixture_call_headers(&hx, &response, "GET", "/v1/cases/" AUTHZ_CASE, headers,
                                           1, NULL, 0);
    http_client_response_free(&response);
    ck_assert_msg(status != 401 && status != 403, "\"bearer\" (lower case) refused: %d", status);
    expect_clean_stop();
}
END_TEST

/* ---- applicants --------------------------------------------------------- */

struct status_answer {
    int status;
    char code[64];
    char detail[256];
    char retry_after[16];
    char body[512];
};

static struct status_answer status_lookup(const char *case_no, const char *access_code)
{
    struct status_answer answer;
    memset(&answer, 0, sizeof answer);
    json_t *request = json_pack("{s:s, s:s}", "case_no", case_no, "access_code", access_code);
    char *text = json_dumps(request, JSON_COMPACT);
    struct http_client_response response;
    answer.status = http_fixture_call(&hx, &response, "POST", "/v1/status", NULL, NULL, text);
    json_t *body = http_fixture_json(&response);
    const char *code = json_string_value(json_object_get(body, "code"));
    const char *detail = json_string_value(json_object_get(body, "detail"));
    const char *retry = http_client_header(&response, "Retry-After");
    snprintf(answer.code, sizeof answer.code, "%s", code ? code : "");
    snprintf(answer.detail, sizeof answer.detail, "%s", detail ? detail : "");
    snprintf(answer.retry_after, sizeof answer.retry_after, "%s", retry ? retry : "");
    snprintf(answer.body, sizeof answer.body, "%s", response.body ? response.body : "");
    http_client_response_free(&response);
    json_decref(body);
    free(text);
    json_decref(request);
    return answer;
}

/* Applicant A's code opens case A and nothing else; a wrong code, another
 * case's code and an unknown case all give the same 404. */
START_TEST(applicant_sees_only_own_case)
{
    struct status_answer own = status_lookup("HTTP-APPLICANT-A", code_a);
    ck_assert_msg(own.status == 200, "own case: %d %s", own.status, own.body);
    ck_assert_msg(strstr(own.body, "HTTP-APPLICANT-A") != NULL, "%s", own.body);
    ck_assert_msg(strstr(own.body, "HTTP-APPLICANT-B") == NULL, "%s", own.body);
    struct status_answer other = status_lookup("HTTP-APPLICANT-B", code_a);
    struct status_answer unknown = status_lookup("HTTP-APPLICANT-NONE", code_a);
    struct status_answer wrong = status_lookup("HTTP-APPLICANT-A", code_b);
    ck_assert_msg(other.status == 404, "A's code on B: %d %s", other.status, other.body);
    ck_assert_msg(unknown.status == 404, "unknown case: %d %s", unknown.status, unknown.body);
    ck_assert_msg(wrong.status == 404, "B's code on A: %d %s", wrong.status, wrong.body);
    /* No enumeration: the three refusals read alike. */
    ck_assert_str_eq(other.code, unknown.code);
    ck_assert_str_eq(other.detail, unknown.detail);
    ck_assert_str_eq(wrong.code, unknown.code);
    ck_assert_str_eq(wrong.detail, unknown.detail);
    /* B's own code still works. */
    struct status_answer own_b = status_lookup("HTTP-APPLICANT-B", code_b);
    ck_assert_msg(own_b.status == 200, "B's own case: %d %s", own_b.status, own_b.body);
    expect_clean_stop();
}
END_TEST

/* Guessing codes for one case: API_STATUS_FAILURES_PER_CLIENT_CASE wrong tries,
 * then 429 with Retry-After. */
START_TEST(applicant_guessing_rate_limited)
{
    for (int i = 0; i < API_STATUS_FAILURES_PER_CLIENT_CASE; i++) {
        struct status_answer wrong = status_lookup("HTTP-APPLICANT-A", code_b);
        ck_assert_msg(wrong.status == 404, "wrong try %d: %d %s", i + 1, wrong.status, wrong.body);
    }
    struct status_answer limited = status_lookup("HTTP-APPLICANT-A", code_b);
    ck_assert_msg(limited.status == 429, "try %d: %d %s", API_STATUS_FAILURES_PER_CLIENT_CASE + 1,
                  limited.status, limited.body);
    ck_assert_msg(atoi(limited.retry_after) > 0 && atoi(limited.retry_after) <= API_STATUS_WINDOW_S,
                  "Retry-After \"%s\"", limited.retry_after);
    expect_clean_stop();
}
END_TEST

/* ---- key files and the metrics token ---- */

#define METRICS_TOKEN "m3tr1cs-t0ken-f0r-pr0metheus-0123456789"

/* GET /metrics with an Authorization header value (NULL: none): the
 * status; the problem code and whether a challenge came into code. */
static int metrics_as(const char *authorization, char *code, size_t code_size, bool *challenged)
{
    char line[256];
    const char *headers[1] = {line};
    if (authorization != NULL)
        snprintf(line, sizeof line, "Authorization: %s", authorization);
    struct http_client_response response;
    int status = http_fixture_call_headers(&hx, &response, "GET", "/metrics", headers,
                                           authorization != NULL ? 1 : 0, NULL, 0);
    http_fixture_problem_code(&response, code, code_size);
    *challenged = http_client_header(&response, "WWW-Authenticate") != NULL;
    if (status == 200)
        ck_assert_ptr_nonnull(strstr(response.body, "caseledger_http_requests_total"));
    http_client_response_free(&response);
    return status;
}

static void write_secret(const char *path, const char *text, mode_t mode)
{
    FILE *file = fopen(path, "w");
    ck_assert_ptr_nonnull(file);
    ck_assert_int_ge(fputs(text, file), 0);
    ck_assert_int_eq(fclose(file), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* Starting the server with extra_args fails (it exits without listening);
 * its log then contains want_in_log (when not NULL). */
static void expect_refused_start(const char *const *extra_args, const char *want_in_log)
{
    char log_path[PATH_SIZE];
    snprintf(log_path, sizeof log_path, "%s/refused.log", hx.db.key_dir);
    const char *args[16] = {"--dsn", hx.db.app_dsn, "--key-dir", hx.db.key_dir, "--threads", "2"};
    size_t used = 6;
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && used < 15; i++)
        args[used++] = extra_args[i];
    args[used] = NULL;
    struct http_server_process server;
    char error[256];
    bool started = http_server_start(&server, getenv("CASELEDGER_BIN"), args, log_path,
                                     HTTP_FIXTURE_START_TIMEOUT_MS, error, sizeof error);
    if (started)
        (void)http_server_stop(&server, HTTP_FIXTURE_STOP_TIMEOUT_MS);
    char log[2048] = "";
    FILE *file = fopen(log_path, "r");
    if (file != NULL) {
        size_t got = fread(log, 1, sizeof log - 1, file);
        log[got] = '\0';
        fclose(file);
    }
    unlink(log_path);
    ck_assert_msg(!started, "the server started (want a refusal naming \"%s\")",
                  want_in_log ? want_in_log : "");
    ck_assert_msg(want_in_log == NULL || strstr(log, want_in_log) != NULL,
                  "the server's refusal does not name \"%s\": %s", want_in_log, log);
}

/* The key files as the fixture made them, whatever a test left behind. */
static void keyfiles_teardown(void)
{
    teardown();
    (void)chmod(hx.db.access_key_file, 0600);
    (void)chmod(hx.db.keyring_file, 0644);
}

/* Without --metrics-token-file, /metrics is public (as it always was). */
START_TEST(metrics_public_by_default)
{
    char code[64];
    bool challenged = false;
    ck_assert_int_eq(metrics_as(NULL, code, sizeof code, &challenged), 200);
    expect_clean_stop();
}
END_TEST

/* With --metrics-token-file, /metrics wants exactly that bearer token (no
 * staff token will do); a token file others may read is refused. */
START_TEST(metrics_token_required)
{
    char path[PATH_SIZE];
    snprintf(path, sizeof path, "%s/metrics.token", hx.db.key_dir);
    write_secret(path, METRICS_TOKEN "\n", 0600);
    const char *args[] = {"--metrics-token-file", path, NULL};
    http_fixture_start_with(&hx, HTTP_FIXTURE_THREADS, args);
    char code[64];
    bool challenged = false;
    ck_assert_int_eq(metrics_as(NULL, code, sizeof code, &challenged), 401);
    ck_assert_str_eq(code, "unauthenticated");
    ck_assert_msg(challenged, "401 without WWW-Authenticate");
    char bearer[128];
    snprintf(bearer, sizeof bearer, "Bearer %s", hx.tokens.admin);
    ck_assert_int_eq(metrics_as(bearer, code, sizeof code, &challenged), 401);
    ck_assert_int_eq(metrics_as("Bearer " METRICS_TOKEN "x", code, sizeof code, &challenged), 401);
    ck_assert_int_eq(metrics_as("Basic " METRICS_TOKEN, code, sizeof code, &challenged), 401);
    ck_assert_int_eq(metrics_as("Bearer " METRICS_TOKEN, code, sizeof code, &challenged), 200);
    ck_assert_int_eq(metrics_as("bearer " METRICS_TOKEN, code, sizeof code, &challenged), 200);
    expect_clean_stop();
    chmod(path, 0640);
    expect_refused_start(args, "--metrics-token-file");
    write_secret(path, "short\n", 0600);
    expect_refused_start(args, "--metrics-token-file");
    unlink(path);
    expect_refused_start(args, "--metrics-token-file");
}
END_TEST

/* The access-code key must be readable by its owner alone: a server whose
 * access.key group or others may read does not start. */
START_TEST(access_key_must_be_private)
{
    ck_assert_int_eq(chmod(hx.db.access_key_file, 0640), 0);
    expect_refused_start(NULL, NULL);
    ck_assert_int_eq(chmod(hx.db.access_key_file, 0604), 0);
    expect_refused_start(NULL, NULL);
    ck_assert_int_eq(chmod(hx.db.access_key_file, 0600), 0);
    http_fixture_start(&hx, HTTP_FIXTURE_THREADS);
    expect_clean_stop();
}
END_TEST

/* A keyring others may write is not trusted: verify answers 503 no_keyring
 * and the log says why; readable by all is fine. */
START_TEST(keyring_writable_by_others_refused)
{
    ck_assert_int_eq(chmod(hx.db.keyring_file, 0666), 0);
    http_fixture_start(&hx, HTTP_FIXTURE_THREADS);
    struct http_client_response response;
    int status = http_fixture_call(&hx, &response, "POST", "/v1/ledger/verify", hx.tokens.auditor,
                                   NULL, "{}");
    char code[64];
    http_fixture_problem_code(&response, code, sizeof code);
    http_client_response_free(&response);
    char *log = http_fixture_log(&hx);
    bool logged = strstr(log, "\"event\":\"keyring\"") != NULL;
    free(log);
    ck_assert_int_eq(chmod(hx.db.keyring_file, 0644), 0);
    ck_assert_int_eq(status, 503);
    ck_assert_str_eq(code, "no_keyring");
    ck_assert_msg(logged, "the refused keyring is not in the log");
    expect_clean_stop();
    http_fixture_start(&hx, HTTP_FIXTURE_THREADS);
    ck_assert_int_eq(http_fixture_call(&hx, &response, "POST", "/v1/ledger/verify",
                                       hx.tokens.auditor, NULL, "{}"),
                     200);
    http_client_response_free(&response);
    expect_clean_stop();
}
END_TEST

Suite *http_authz_suite(void)
{
    Suite *suite = suite_create("http_authz");
    TCase *matrix = tcase_create("matrix");
    tcase_add_checked_fixture(matrix, setup, teardown);
    tcase_set_timeout(matrix, TEST_TIMEOUT_S);
    tcase_add_test(matrix, route_table_sane);
    tcase_add_test(matrix, statement_route_roles);
    tcase_add_loop_test(matrix, route_roles, 0, (int)api_routes_count);
    suite_add_tcase(suite, matrix);

    TCase *tokens = tcase_create("tokens");
    tcase_add_checked_fixture(tokens, setup, teardown);
    tcase_set_timeout(tokens, TEST_TIMEOUT_S);
    tcase_add_test(tokens, malformed_authorization);
    tcase_add_test(tokens, disabled_after_use);
    tcase_add_test(tokens, unauthorized_names_scheme);
    tcase_add_test(tokens, scheme_case_insensitive);
    tcase_add_test(tokens, metrics_public_by_default);
    suite_add_tcase(suite, tokens);

    TCase *keyfiles = tcase_create("keyfiles");
    tcase_add_checked_fixture(keyfiles, NULL, keyfiles_teardown);
    tcase_set_timeout(keyfiles, TEST_TIMEOUT_S);
    tcase_add_test(keyfiles, access_key_must_be_private);
    tcase_add_test(keyfiles, keyring_writable_by_others_refused);
    tcase_add_test(keyfiles, metrics_token_required);
    suite_add_tcase(suite, keyfiles);

    TCase *applicants = tcase_create("applicants");
    tcase_add_checked_fixture(applicants, setup, teardown);
    tcase_set_timeout(applicants, TEST_TIMEOUT_S);
    tcase_add_test(applicants, applicant_sees_only_own_case);
    tcase_add_test(applicants, applicant_guessing_rate_limited);
    suite_add_tcase(suite, applicants);
    return suite;
}

/* The data the routes' parameters point at, made through the C API. */
static void seed(void)
{
    struct ledger *ledger = fixture_ledger(&hx.db);
    fixture_open_case(ledger, AUTHZ_CASE, NULL);
    struct ledger_receipt_request receipt = {.case_no = AUTHZ_CASE,
                                             .amount_minor = 100000,
                                             .bank_ref = "AUTHZ-R1",
                                             .value_date_days = LEDGER_VALUE_DATE_NONE};
    struct ledger_booking booking;
    if (ledger_receipt(ledger, "clerk1", &receipt, "authz-seed-r1", &booking) != LEDGER_OK) {
        fprintf(stderr, "seed: %s\n", ledger_last_detail(ledger));
        exit(2);
    }
    authz_entry_id = booking.seq;
    struct ledger_disbursement_request payout = {.case_no = AUTHZ_CASE,
                                                 .amount_minor = 1000,
                                                 .payee_name = "Wang Wu",
                                                 .payee_account = "6222020200112233"};
    bool replayed = false;
    if (ledger_disbursement_request(ledger, "clerk1", &payout, "authz-seed-d1",
                                    &authz_disbursement_id, &replayed) != LEDGER_OK) {
        fprintf(stderr, "seed: %s\n", ledger_last_detail(ledger));
        exit(2);
    }
    /* one imported statement line, in suspense */
    static const char statement[] = ":20:AUTHZ\n:25:CUSTODY-1\n:28C:1/1\n:60F:C240102CNY0,00\n"
                                    ":61:2401020102C5,00NTRFNONREF//AUTHZ-L1\n:86:for the court\n"
                                    ":62F:C240102CNY5,00\n-\n";
    struct recon_import_options options = {
        .format = RECON_FORMAT_MT940, .bank_account_no = "CUSTODY-1", .actor = "bank1"};
    struct recon_import_result result;
    struct recon_import_error error;
    if (recon_import_buffer(ledger, statement, sizeof statement - 1, &options, &result, &error) !=
        RECON_IMPORT_OK) {
        fprintf(stderr, "seed: %s\n", error.message);
        exit(2);
    }
    recon_import_result_free(&result);
    authz_line_id = fixture_query_int(&hx.db, "SELECT min(id) FROM statement_lines");
    fixture_open_case(ledger, "HTTP-APPLICANT-A", code_a);
    fixture_open_case(ledger, "HTTP-APPLICANT-B", code_b);
    ledger_close(ledger);
    uint8_t random_bytes[32];
    randombytes_buf(random_bytes, sizeof random_bytes);
    ledger_to_hex(unknown_token, random_bytes, sizeof random_bytes);
}

int main(void)
{
    http_fixture_setup(&hx, "httpauthz");
    seed();
    identities_init();
    SRunner *runner = srunner_create(http_authz_suite());
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    http_fixture_teardown(&hx);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

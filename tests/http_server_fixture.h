/* The real server binary (CASELEDGER_BIN) started for a black-box HTTP
 * test on a fresh fixture database, with bearer tokens for each role and
 * helpers to call it, read its log, verify the chain and compare the books.
 *
 * The HTTP suites run without forking (CK_NOFORK): the test process is the
 * server's parent, so a test can stop it and check its exit status, and a
 * checked teardown still runs after a failed assertion. */
#ifndef TESTS_HTTP_SERVER_FIXTURE_H
#define TESTS_HTTP_SERVER_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "db_fixture.h"
#include "http_client.h"

#define HTTP_FIXTURE_THREADS 4              /* worker threads = database handles */
#define HTTP_FIXTURE_START_TIMEOUT_MS 20000 /* waiting for the "listening" line */
#define HTTP_FIXTURE_STOP_TIMEOUT_MS 30000  /* SIGTERM to exit (then SIGKILL) */
#define HTTP_FIXTURE_CALL_TIMEOUT_MS 15000
#define HTTP_FIXTURE_HEADERS_MAX 8 /* extra header lines of one call */
#define HTTP_FIXTURE_LOG_PATH_SIZE 256

/* The identities a suite uses: a token per role, made with ledger_user_add,
 * plus clerk1 of the database fixture with a fresh token, and a disabled
 * user's token. */
struct http_tokens {
    char clerk[LEDGER_TOKEN_SIZE];     /* user http_clerk */
    char clerk2[LEDGER_TOKEN_SIZE];    /* user http_clerk2 */
    char approver[LEDGER_TOKEN_SIZE];  /* user http_approver */
    char approver2[LEDGER_TOKEN_SIZE]; /* user http_approver2 */
    char auditor[LEDGER_TOKEN_SIZE];
    char admin[LEDGER_TOKEN_SIZE];
    char bank[LEDGER_TOKEN_SIZE];
    char clerk1[LEDGER_TOKEN_SIZE];   /* the fixture's clerk1 */
    char disabled[LEDGER_TOKEN_SIZE]; /* user http_disabled (a clerk), disabled */
};

struct http_fixture {
    struct fixture db;
    struct http_tokens tokens;
    struct http_server_process server;
    bool running;
    unsigned threads;
    unsigned starts;                           /* servers started so far (names logs) */
    char log_path[HTTP_FIXTURE_LOG_PATH_SIZE]; /* the running server's stderr */
};

/* fixture_setup (a fresh database named after name) and the users and
 * tokens of struct http_tokens. Aborts the process when it cannot. */
void http_fixture_setup(struct http_fixture *fixture, const char *name);
/* Stops a server still running, drops the database. */
void http_fixture_teardown(struct http_fixture *fixture);

/* Starts `caseledger serve --port 0 --dsn … --key-dir … --threads N` on
 * the fixture's database (its stderr to a log file); aborts when it does
 * not come up. */
void http_fixture_start(struct http_fixture *fixture, unsigned threads);
/* The same with more arguments (NULL-terminated list, may be NULL). */
void http_fixture_start_with(struct http_fixture *fixture, unsigned threads,
                             const char *const *extra_args);
/* SIGTERM and wait: the exit code (0..255), or 128 + signal when it was
 * killed, or -1 when it could not be waited for. Keeps the log only when
 * the exit code is not 0 (or CASELEDGER_KEEP_HTTP_LOGS is set). */
int http_fixture_stop(struct http_fixture *fixture);
/* The running (or last) server's log as a new string (free()), "" when none. */
char *http_fixture_log(const struct http_fixture *fixture);

/* A new user of that role; token_out receives its bearer token. */
void http_fixture_user(struct http_fixture *fixture, const char *name, unsigned role,
                       char token_out[LEDGER_TOKEN_SIZE]);
/* A fresh bearer token for an existing user (as an operator would reset it). */
void http_fixture_reset_token(struct http_fixture *fixture, const char *name,
                              char token_out[LEDGER_TOKEN_SIZE]);
/* Runs one SQL command as superuser on the test database; aborts on error. */
void http_fixture_sql(const struct http_fixture *fixture, const char *sql);

/* One request to the running server: token (may be NULL) as a bearer
 * token, idempotency_key (may be NULL), json_text (may be NULL: no body)
 * as an application/json body, plus extra header lines (may be NULL).
 * Returns the status, 0 when there was no answer (response->error says
 * why). response is filled either way: http_client_response_free it. */
int http_fixture_call(const struct http_fixture *fixture, struct http_client_response *response,
                      const char *method, const char *path, const char *token,
                      const char *idempotency_key, const char *json_text);
int http_fixture_call_headers(const struct http_fixture *fixture,
                              struct http_client_response *response, const char *method,
                              const char *path, const char *const *header_lines,
                              size_t header_lines_count, const void *body, size_t body_size);
/* The answer's body parsed as JSON (a new reference), or NULL. */
json_t *http_fixture_json(const struct http_client_response *response);
/* The "code" of a problem+json answer, or "" (borrowed from a static when
 * absent; copied into code_out). */
const char *http_fixture_problem_code(const struct http_client_response *response, char *code_out,
                                      size_t code_size);
/* GET /healthz answers 200. */
bool http_fixture_healthy(const struct http_fixture *fixture);

/* Runs `caseledger verify` on the fixture's database: its exit code. */
int http_fixture_verify(const struct http_fixture *fixture);

/* Percent-encodes text as one path segment into out (always NUL-terminated). */
void http_fixture_path_segment(char *out, size_t out_size, const char *text);

#endif

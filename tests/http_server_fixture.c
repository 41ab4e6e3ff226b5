#include "http_server_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "chain.h"

#define SQL_SIZE 512
#define HEADER_LINE_SIZE 320
#define LOG_SIZE_MAX (64 * 1024 * 1024)

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "http fixture: %s: %s\n", what, detail ? detail : "");
    exit(2);
}

void http_fixture_sql(const struct http_fixture *fixture, const char *sql)
{
    PGconn *conn = fixture_super(&fixture->db);
    PGresult *result = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        die(sql, PQresultErrorMessage(result));
    PQclear(result);
    PQfinish(conn);
}

void http_fixture_user(struct http_fixture *fixture, const char *name, unsigned role,
                       char token_out[LEDGER_TOKEN_SIZE])
{
    struct ledger *ledger = fixture_owner_ledger(&fixture->db);
    if (ledger_user_add(ledger, name, role, token_out) != LEDGER_OK)
        die("could not add user", name);
    ledger_close(ledger);
}

void http_fixture_reset_token(struct http_fixture *fixture, const char *name,
                              char token_out[LEDGER_TOKEN_SIZE])
{
    uint8_t secret[32];
    uint8_t digest[32];
    char digest_hex[2 * sizeof digest + 1];
    randombytes_buf(secret, sizeof secret);
    ledger_to_hex(token_out, secret, sizeof secret);
    crypto_generichash(digest, sizeof digest, (const unsigned char *)token_out, 64, NULL, 0);
    ledger_to_hex(digest_hex, digest, sizeof digest);
    char sql[SQL_SIZE];
    snprintf(sql, sizeof sql, "UPDATE users SET token_hash = '\\x%s'::bytea WHERE name = '%s'",
             digest_hex, name);
    http_fixture_sql(fixture, sql);
}

/* ctest sets CASELEDGER_BIN and CASELEDGER_SQL_DIR; run by hand (or under
 * valgrind by scripts/dev), the suite finds them from where it lives: the
 * binary next to tests/ in the build tree, the SQL next to tests/ in the
 * source tree. */
static void environment_defaults(void)
{
    char path[FIXTURE_PATH_SIZE * 4];
    if (getenv("CASELEDGER_BIN") == NULL) {
        ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
        char *slash = length > 0 ? (path[length] = '\0', strrchr(path, '/')) : NULL;
        if (slash != NULL) {
            *slash = '\0';
            size_t used = strlen(path);
            snprintf(path + used, sizeof path - used, "/../api/caseledger");
            setenv("CASELEDGER_BIN", path, 0);
        }
    }
    if (getenv("CASELEDGER_SQL_DIR") == NULL) {
        snprintf(path, sizeof path, "%s", __FILE__);
        char *slash = strrchr(path, '/');
        if (slash != NULL) {
            *slash = '\0';
            size_t used = strlen(path);
            snprintf(path + used, sizeof path - used, "/../sql");
            setenv("CASELEDGER_SQL_DIR", path, 0);
        }
    }
}

void http_fixture_setup(struct http_fixture *fixture, const char *name)
{
    environment_defaults();
    memset(fixture, 0, sizeof *fixture);
    fixture_setup(&fixture->db, name);
    struct http_tokens *tokens = &fixture->tokens;
    http_fixture_user(fixture, "http_clerk", LEDGER_ROLE_CLERK, tokens->clerk);
    http_fixture_user(fixture, "http_clerk2", LEDGER_ROLE_CLERK, tokens->clerk2);
    http_fixture_user(fixture, "http_approver", LEDGER_ROLE_APPROVER, tokens->approver);
    http_fixture_user(fixture, "http_approver2", LEDGER_ROLE_APPROVER, tokens->approver2);
    http_fixture_user(fixture, "http_auditor", LEDGER_ROLE_AUDITOR, tokens->auditor);
    http_fixture_user(fixture, "http_admin", LEDGER_ROLE_ADMIN, tokens->admin);
    http_fixture_user(fixture, "http_bank", LEDGER_ROLE_BANK, tokens->bank);
    http_fixture_user(fixture, "http_disabled", LEDGER_ROLE_CLERK, tokens->disabled);
    http_fixture_sql(fixture, "UPDATE users SET disabled = true WHERE name = 'http_disabled'");
    http_fixture_reset_token(fixture, "clerk1", tokens->clerk1);
}

void http_fixture_teardown(struct http_fixture *fixture)
{
    if (fixture->running)
        (void)http_fixture_stop(fixture);
    fixture_teardown(&fixture->db);
}

void http_fixture_start(struct http_fixture *fixture, unsigned threads)
{
    http_fixture_start_with(fixture, threads, NULL);
}

void http_fixture_start_with(struct http_fixture *fixture, unsigned threads,
                             const char *const *extra_args)
{
    if (fixture->running)
        die("a server is running already", fixture->server.base_url);
    const char *binary = getenv("CASELEDGER_BIN");
    char threads_text[16];
    snprintf(threads_text, sizeof threads_text, "%u", threads);
    const char *args[HTTP_SERVER_ARGS_MAX + 1] = {
        "--dsn", fixture->db.app_dsn, "--key-dir", fixture->db.key_dir, "--threads", threads_text};
    size_t used = 6;
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
        if (used >= HTTP_SERVER_ARGS_MAX)
            die("too many server arguments", extra_args[i]);
        args[used++] = extra_args[i];
    }
    args[used] = NULL;
    fixture->starts++;
    snprintf(fixture->log_path, sizeof fixture->log_path, "/tmp/caseledger-%s-%u.log",
             fixture->db.database, fixture->starts);
    unlink(fixture->log_path);
    char error[256];
    if (!http_server_start(&fixture->server, binary, args, fixture->log_path,
                           HTTP_FIXTURE_START_TIMEOUT_MS, error, sizeof error))
        die("could not start the server", error);
    fixture->threads = threads;
    fixture->running = true;
}

int http_fixture_stop(struct http_fixture *fixture)
{
    if (!fixture->running)
        return -1;
    int status = http_server_stop(&fixture->server, HTTP_FIXTURE_STOP_TIMEOUT_MS);
    fixture->running = false;
    int code = -1;
    if (status != -1 && WIFEXITED(status))
        code = WEXITSTATUS(status);
    else if (status != -1 && WIFSIGNALED(status))
        code = 128 + WTERMSIG(status);
    if (code == 0 && getenv("CASELEDGER_KEEP_HTTP_LOGS") == NULL)
        unlink(fixture->log_path);
    else
        fprintf(stderr, "http fixture: server exited with %d; its log: %s\n", code,
                fixture->log_path);
    return code;
}

char *http_fixture_log(const struct http_fixture *fixture)
{
    FILE *file = fopen(fixture->log_path, "rb");
    char *text = NULL;
    size_t size = 0;
    if (file != NULL && fseek(file, 0, SEEK_END) == 0) {
        long length = ftell(file);
        if (length > 0 && length < LOG_SIZE_MAX && fseek(file, 0, SEEK_SET) == 0) {
            text = malloc((size_t)length + 1);
            if (text != NULL)
                size = fread(text, 1, (size_t)length, file);
        }
    }
    if (file != NULL)
        fclose(file);
    if (text == NULL)
        text = malloc(1);
    if (text == NULL)
        die("malloc", "out of memory");
    text[size] = '\0';
    return text;
}

int http_fixture_call_headers(const struct http_fixture *fixture,
                              struct http_client_response *response, const char *method,
                              const char *path, const char *const *header_lines,
                              size_t header_lines_count, const void *body, size_t body_size)
{
    if (http_client_request(response, fixture->server.port, method, path, header_lines,
                            header_lines_count, body, body_size) != 0)
        return 0;
    return response->status;
}

int http_fixture_call(const struct http_fixture *fixture, struct http_client_response *response,
                      const char *method, const char *path, const char *token,
                      const char *idempotency_key, const char *json_text)
{
    char lines[3][HEADER_LINE_SIZE];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t count = 0;
    if (token != NULL) {
        snprintf(lines[count], sizeof lines[count], "Authorization: Bearer %s", token);
        headers[count] = lines[count];
        count++;
    }
    if (idempotency_key != NULL) {
        snprintf(lines[count], sizeof lines[count], "Idempotency-Key: %s", idempotency_key);
        headers[count] = lines[count];
        count++;
    }
    if (json_text != NULL) {
        snprintf(lines[count], sizeof lines[count], "Content-Type: application/json");
        headers[count] = lines[count];
        count++;
    }
    return http_fixture_call_headers(fixture, response, method, path, headers, count, json_text,
                                     json_text ? strlen(json_text) : 0);
}

json_t *http_fixture_json(const struct http_client_response *response)
{
    if (response->body == NULL || response->body_size == 0)
        return NULL;
    return json_loadb(response->body, response->body_size, 0, NULL);
}

const char *http_fixture_problem_code(const struct http_client_response *response, char *code_out,
                                      size_t code_size)
{
    json_t *body = http_fixture_json(response);
    const char *code = body ? json_string_value(json_object_get(body, "code")) : NULL;
    snprintf(code_out, code_size, "%s", code ? code : "");
    json_decref(body);
    return code_out;
}

bool http_fixture_healthy(const struct http_fixture *fixture)
{
    struct http_client_response response;
    int status = http_fixture_call(fixture, &response, "GET", "/healthz", NULL, NULL, NULL);
    http_client_response_free(&response);
    return status == 200;
}

int http_fixture_verify(const struct http_fixture *fixture)
{
    const char *binary = getenv("CASELEDGER_BIN");
    if (binary == NULL)
        die("CASELEDGER_BIN is not set", "run the suite through ctest");
    pid_t pid = fork();
    if (pid == 0) {
        int null_fd = open("/dev/null", O_WRONLY);
        if (null_fd >= 0)
            dup2(null_fd, STDOUT_FILENO);
        execl(binary, binary, "verify", "--dsn", fixture->db.app_dsn, "--key-dir",
              fixture->db.key_dir, (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void http_fixture_path_segment(char *out, size_t out_size, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t used = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
        bool plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                     (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.' || *c == '~';
        size_t need = plain ? 1 : 3;
        if (used + need + 1 > out_size)
            break;
        if (plain) {
            out[used++] = (char)*c;
        } else {
            out[used++] = '%';
            out[used++] = hex[*c >> 4];
            out[used++] = hex[*c & 15];
        }
    }
    if (out_size > 0)
        out[used < out_size ? used : out_size - 1] = '\0';
}

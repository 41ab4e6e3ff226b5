/* The PostgreSQL store: connections, statement helpers, SQLSTATE mapping,
 * dates, and opening a ledger handle. */
#include "ledger_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void ledger_set_detail(struct ledger *ledger, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(ledger->detail, sizeof ledger->detail, format, args);
    va_end(args);
}

const char *ledger_last_detail(const struct ledger *ledger)
{
    return ledger->detail;
}

void ledger_clear_detail(struct ledger *ledger)
{
    ledger->detail[0] = '\0';
    ledger->last_db_err = LEDGER_OK;
}

const char *ledger_int64_text(char buffer[LEDGER_INT64_TEXT_SIZE], int64_t value)
{
    snprintf(buffer, LEDGER_INT64_TEXT_SIZE, "%" PRId64, value);
    return buffer;
}

const char *ledger_bytea_text(char *buffer, const uint8_t *bytes, size_t size)
{
    buffer[0] = '\\';
    buffer[1] = 'x';
    ledger_to_hex(buffer + 2, bytes, size);
    return buffer;
}

int32_t ledger_db_days(const PGresult *result, int row, int column)
{
    if (PQgetisnull(result, row, column))
        return LEDGER_VALUE_DATE_NONE;
    int64_t days = ledger_db_int64(result, row, column);
    return days < INT32_MIN + 1 || days > INT32_MAX ? LEDGER_VALUE_DATE_NONE : (int32_t)days;
}

enum ledger_err ledger_db_bytea(uint8_t *out, size_t size, const PGresult *result, int row,
                                int column)
{
    const char *text = PQgetvalue(result, row, column);
    if (text[0] != '\\' || text[1] != 'x')
        return LEDGER_ERR_DB;
    return ledger_from_hex(out, size, text + 2) == LEDGER_OK ? LEDGER_OK : LEDGER_ERR_DB;
}

bool ledger_int64_from_text(const char *text, int64_t *out)
{
    /* strtoll would also take leading blanks and a '+' */
    if (!(text[0] == '-' || (text[0] >= '0' && text[0] <= '9')))
        return false;
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return false;
    *out = (int64_t)value;
    return true;
}

int64_t ledger_db_int64(const PGresult *result, int row, int column)
{
    if (PQgetisnull(result, row, column))
        return 0;
    int64_t value = 0;
    /* The database's own bigint text: anything else is a broken invariant. */
    bool parsed = ledger_int64_from_text(PQgetvalue(result, row, column), &value);
    assert(parsed);
    if (!parsed)
        abort();
    return value;
}

/* SQLSTATE classes the callers act on. */
enum ledger_err ledger_db_error(struct ledger *ledger, const PGresult *result)
{
    const char *state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    const char *message = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (message == NULL)
        message = PQerrorMessage(ledger->conn);
    /* One line, without server internals that follow it. */
    size_t length = message ? strcspn(message, "\n") : 0;
    ledger_set_detail(ledger, "database: %.*s (%s)", (int)(length > 160 ? 160 : length),
                      message ? message : "", state ? state : "-");
    enum ledger_err err = LEDGER_ERR_DB;
    if (ledger->conn == NULL || PQstatus(ledger->conn) == CONNECTION_BAD ||
        (state != NULL && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
                           strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)))
        err = LEDGER_ERR_UNAVAILABLE; /* lost, or the server is shutting down or starting */
    else if (state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
        err = LEDGER_ERR_RETRY;
    else if (state != NULL && strcmp(state, "55P03") == 0)
        err = LEDGER_ERR_BUSY; /* lock_not_available: lock_timeout (lock_wait_ms) passed */
    else if (state != NULL && strcmp(state, "22003") == 0)
        err = LEDGER_ERR_OVERFLOW; /* bigint out of range: a balance would overflow */
    else if (state != NULL && (strcmp(state, "23505") == 0 || strcmp(state, "23514") == 0))
        err = LEDGER_ERR_BAD_STATE; /* unique or check violation: callers refine */
    ledger->last_db_err = err;
    return err;
}

enum ledger_err ledger_db_last_error(const struct ledger *ledger)
{
    return ledger->last_db_err;
}

/* Forgets every statement prepared on the connection (gone with it, or
 * deallocated). */
static void prepared_forget(struct ledger *ledger)
{
    for (size_t i = 0; i < LEDGER_PREPARED_MAX; i++) {
        free(ledger->prepared[i].sql);
        ledger->prepared[i].sql = NULL;
    }
}

static uint64_t sql_hash(const char *sql)
{
    uint64_t hash = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)sql; *c; c++)
        hash = (hash ^ *c) * 1099511628211ULL;
    return hash;
}

/* The name of sql prepared on this connection ("" when it cannot be: table
 * full or out of memory). When the server refuses to prepare it (an unknown
 * column, say), that refusal is the statement's result: returned, for the
 * caller to report; running it unprepared would only fail again, inside a
 * transaction with "current transaction is aborted" in place of the cause. */
static PGresult *prepared_name(struct ledger *ledger, const char *sql, int params_count,
                               char name[16])
{
    name[0] = '\0';
    uint64_t hash = sql_hash(sql);
    size_t start = (size_t)(hash % LEDGER_PREPARED_MAX);
    for (size_t probe = 0; probe < LEDGER_PREPARED_MAX; probe++) {
        size_t slot = (start + probe) % LEDGER_PREPARED_MAX;
        struct ledger_prepared *prepared = &ledger->prepared[slot];
        snprintf(name, 16, "cl_%zu", slot);
        if (prepared->sql != NULL) {
            if (prepared->sql_hash == hash && strcmp(prepared->sql, sql) == 0)
                return NULL;
            continue;
        }
        PGresult *result = PQprepare(ledger->conn, name, sql, params_count, NULL);
        if (PQresultStatus(result) == PGRES_FATAL_ERROR) {
            name[0] = '\0';
            return result;
        }
        bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
        PQclear(result);
        if (ok && (prepared->sql = strdup(sql)) != NULL) {
            prepared->sql_hash = hash;
            return NULL;
        }
        if (ok) {
            PGresult *drop = PQexec(ledger->conn, "DEALLOCATE ALL");
            PQclear(drop);
            prepared_forget(ledger);
        }
        break;
    }
    name[0] = '\0';
    return NULL;
}

enum ledger_err ledger_db_send(struct ledger *ledger, const char *sql, int params_count,
                               const Oid *types, const char *const *values, const int *lengths,
                               const int *formats)
{
    enum ledger_err err = ledger_db_settle(ledger);
    if (err != LEDGER_OK)
        return err;
    if (PQsendQueryParams(ledger->conn, sql, params_count, types, values, lengths, formats, 0) != 1)
        return ledger_db_error(ledger, NULL);
    ledger->pending = true;
    return LEDGER_OK;
}

enum ledger_err ledger_db_settle(struct ledger *ledger)
{
    if (!ledger->pending)
        return LEDGER_OK;
    ledger->pending = false;
    enum ledger_err err = LEDGER_OK;
    PGresult *result;
    while ((result = PQgetResult(ledger->conn)) != NULL) {
        if (err == LEDGER_OK && PQresultStatus(result) != PGRES_COMMAND_OK)
            err = ledger_db_error(ledger, result);
        PQclear(result);
    }
    return err;
}

PGresult *ledger_db_exec(struct ledger *ledger, ExecStatusType expect, const char *sql,
                         int params_count, const char *const *params)
{
    if (ledger_db_settle(ledger) != LEDGER_OK)
        return NULL;
    char name[16];
    PGresult *result = prepared_name(ledger, sql, params_count, name);
    if (result == NULL)
        result = name[0] != '\0'
                     ? PQexecPrepared(ledger->conn, name, params_count, params, NULL, NULL, 0)
                     : PQexecParams(ledger->conn, sql, params_count, NULL, params, NULL, NULL, 0);
    if (result != NULL && PQresultStatus(result) == expect)
        return result;
    (void)ledger_db_error(ledger, result);
    PQclear(result);
    return NULL;
}

enum ledger_err ledger_db_command(struct ledger *ledger, const char *sql)
{
    enum ledger_err err = ledger_db_settle(ledger);
    if (err != LEDGER_OK)
        return err;
    PGresult *result = PQexec(ledger->conn, sql);
    if (result == NULL || PQresultStatus(result) != PGRES_COMMAND_OK)
        err = ledger_db_error(ledger, result);
    PQclear(result);
    return err;
}

enum ledger_err ledger_db_begin(struct ledger *ledger)
{
    return ledger_db_command(ledger, "BEGIN");
}

enum ledger_err ledger_db_commit(struct ledger *ledger)
{
    return ledger_db_command(ledger, "COMMIT");
}

void ledger_db_rollback(struct ledger *ledger)
{
    enum ledger_err pending = ledger_db_settle(ledger); /* rolled back with the rest */
    (void)pending;
    PGresult *result = PQexec(ledger->conn, "ROLLBACK");
    PQclear(result);
}

int64_t ledger_now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* Civil-from-days and days-from-civil (proleptic Gregorian), after Howard
 * Hinnant's public-domain algorithms: exact integer arithmetic. */
static int32_t days_from_civil(int64_t year, unsigned month, unsigned day)
{
    year -= month <= 2;
    const int64_t era = (year >= 0 ? year : year - 399) / 400;
    const unsigned year_of_era = (unsigned)(year - era * 400);
    const unsigned day_of_year = (153 * (month + (month > 2 ? (unsigned)-3 : 9)) + 2) / 5 + day - 1;
    const unsigned day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return (int32_t)(era * 146097 + (int64_t)day_of_era - 719468);
}

const char *ledger_date_text(char buffer[LEDGER_DATE_TEXT_SIZE], int32_t days)
{
    int64_t z = (int64_t)days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned day_of_era = (unsigned)(z - era * 146097);
    const unsigned year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const unsigned day_of_year =
        day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const unsigned mp = (5 * day_of_year + 2) / 153;
    const unsigned day = day_of_year - (153 * mp + 2) / 5 + 1;
    const unsigned month = mp < 10 ? mp + 3 : mp - 9;
    const int64_t year = (int64_t)year_of_era + era * 400 + (month <= 2);
    /* Dates here are 1900..9999 (ledger_date_parse's range). */
    snprintf(buffer, LEDGER_DATE_TEXT_SIZE, "%04u-%02u-%02u", (unsigned)year % 10000u, month % 100u,
             day % 100u);
    return buffer;
}

static bool is_leap(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

enum ledger_err ledger_date_parse(int32_t *days, const char *text)
{
    static const unsigned month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(text) != 10 || text[4] != '-' || text[7] != '-')
        return LEDGER_ERR_INVALID_ARGUMENT;
    unsigned parts[3] = {0, 0, 0};
    const int starts[3] = {0, 5, 8};
    const int lengths[3] = {4, 2, 2};
    for (int p = 0; p < 3; p++) {
        for (int i = 0; i < lengths[p]; i++) {
            char c = text[starts[p] + i];
            if (c < '0' || c > '9')
                return LEDGER_ERR_INVALID_ARGUMENT;
            parts[p] = parts[p] * 10 + (unsigned)(c - '0');
        }
    }
    if (parts[0] < 1900 || parts[1] < 1 || parts[1] > 12 || parts[2] < 1)
        return LEDGER_ERR_INVALID_ARGUMENT;
    unsigned limit = month_days[parts[1] - 1] + (parts[1] == 2 && is_leap(parts[0]) ? 1u : 0u);
    if (parts[2] > limit)
        return LEDGER_ERR_INVALID_ARGUMENT;
    *days = days_from_civil(parts[0], parts[1], parts[2]);
    return LEDGER_OK;
}

/* Server notices (e.g. "no transaction in progress") are not the
 * caller's output. One kind is noted: a FATAL message that comes while the
 * connection is idle, the backend's last words before it ends (terminated,
 * or the server shutting down): the connection is lost, even while its
 * socket is not closed yet. */
static void notice_receive(void *argument, const PGresult *result)
{
    struct ledger *ledger = argument;
    const char *severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity != NULL && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
        ledger->session_ending = true;
}

/* The access-code key: 64 hex digits and a newline, in a file nobody else
 * may read (mode 0600 or 0400; with it, codes could be tested offline
 * against a copy of the database). Read without stdio (no copy left in a
 * FILE buffer) and the text wiped. */
static enum ledger_err read_access_key(struct ledger *ledger, const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        ledger_set_detail(ledger, "could not open access key file %s: %s", path, strerror(errno));
        return LEDGER_ERR_IO;
    }
    struct stat status;
    if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode) || (status.st_mode & 077) != 0) {
        ledger_set_detail(ledger, "access key file %s must be a file of mode 0600 or 0400", path);
        close(fd);
        return LEDGER_ERR_IO;
    }
    char text[2 * LEDGER_ACCESS_KEY_SIZE + 8];
    ssize_t length = read(fd, text, sizeof text - 1);
    close(fd);
    enum ledger_err err = LEDGER_ERR_IO;
    if (length > 0) {
        text[length] = '\0';
        text[strcspn(text, "\r\n")] = '\0';
        if (ledger_from_hex(ledger->access_key, LEDGER_ACCESS_KEY_SIZE, text) == LEDGER_OK) {
            ledger->has_access_key = true;
            err = LEDGER_OK;
        }
    }
    sodium_memzero(text, sizeof text);
    if (err != LEDGER_OK)
        ledger_set_detail(ledger, "access key file %s is malformed", path);
    return err;
}

static enum ledger_err register_signing_key(struct ledger *ledger)
{
    char key_text[2 * LEDGER_PUBLIC_KEY_SIZE + 3];
    const char *params[2] = {
        ledger->signer.key_id,
        ledger_bytea_text(key_text, ledger->signer.public_key, LEDGER_PUBLIC_KEY_SIZE)};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "WITH ins AS (INSERT INTO signing_keys (key_id, public_key) VALUES ($1, $2::bytea) "
        "ON CONFLICT DO NOTHING RETURNING 1) "
        "SELECT public_key = $2::bytea FROM signing_keys WHERE key_id = $1 "
        "UNION ALL SELECT true FROM ins",
        2, params);
    if (result == NULL)
        return LEDGER_ERR_DB;
    if (PQntuples(result) == 0) {
        /* Another connection registered the key while this INSERT waited
         * for it (on either unique index: key id or public key, hence no
         * conflict target): the row is committed, but this statement's
         * snapshot is older than it. Read it again with a new one. */
        PQclear(result);
        result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                "SELECT public_key = $2::bytea FROM signing_keys WHERE key_id = $1",
                                2, params);
        if (result == NULL)
            return LEDGER_ERR_DB;
    }
    bool matches = PQntuples(result) >= 1 && strcmp(PQgetvalue(result, 0, 0), "t") == 0;
    PQclear(result);
    if (!matches) {
        ledger_set_detail(ledger, "signing key %s is registered with another public key",
                          ledger->signer.key_id);
        return LEDGER_ERR_CRYPTO;
    }
    return LEDGER_OK;
}

/* A new session: no JIT (every statement here is bounded by a chunk or a
 * page, and the planner's estimates for unnested arrays passed the JIT
 * threshold, so each import chunk compiled its statements afresh: a fifth
 * of the backend's time in a 100,000-line import); and a database that has
 * applied every migration this build knows (a build newer than its database
 * fails at its first new column, well after it started); and how long a
 * statement may wait for a lock (lock_wait_ms, 0: no limit). One round
 * trip. */
static enum ledger_err session_check(struct ledger *ledger, unsigned lock_wait_ms)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SET jit = off; SET lock_timeout = %u; "
             "SELECT coalesce(max(version), 0) FROM schema_migrations",
             lock_wait_ms);
    PGresult *result = PQexec(ledger->conn, sql);
    enum ledger_err err = LEDGER_OK;
    int64_t version = 0;
    if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1) {
        ledger_set_detail(ledger,
                          "the database's schema cannot be read (run caseledger migrate; this "
                          "build needs migration %03d): %s",
                          LEDGER_SCHEMA_VERSION, PQerrorMessage(ledger->conn));
        err = LEDGER_ERR_DB;
    } else if ((version = ledger_db_int64(result, 0, 0)) < LEDGER_SCHEMA_VERSION) {
        ledger_set_detail(ledger,
                          "the database has applied migrations up to %03lld; this build needs "
                          "%03d: run caseledger migrate",
                          (long long)version, LEDGER_SCHEMA_VERSION);
        err = LEDGER_ERR_DB;
    }
    PQclear(result);
    return err;
}

/* A connection to dsn, with a bounded connect and TCP keepalives unless
 * the DSN says otherwise (its own values come after these and win). */
static PGconn *connect_database(const char *dsn)
{
    const char *const keywords[] = {"connect_timeout",  "keepalives_idle", "keepalives_interval",
                                    "keepalives_count", "dbname",          NULL};
    const char *const values[] = {LEDGER_CONNECT_TIMEOUT_S,
                                  LEDGER_KEEPALIVES_IDLE_S,
                                  LEDGER_KEEPALIVES_INTERVAL_S,
                                  LEDGER_KEEPALIVES_COUNT,
                                  dsn,
                                  NULL};
    return PQconnectdbParams(keywords, values, 1);
}

/* Connects and sets the session up (session_check); the connection is in
 * ledger->conn either way (a failed one CONNECTION_BAD, or NULL when out of
 * memory), for the caller to close on an error. */
static enum ledger_err session_open(struct ledger *ledger)
{
    ledger->conn = connect_database(ledger->dsn);
    if (PQstatus(ledger->conn) != CONNECTION_OK) {
        ledger_set_detail(ledger, "could not connect to the database: %s",
                          ledger->conn != NULL ? PQerrorMessage(ledger->conn) : "out of memory");
        return LEDGER_ERR_DB;
    }
    ledger->session_ending = false;
    PQsetNoticeReceiver(ledger->conn, notice_receive, ledger);
    return session_check(ledger, ledger->lock_wait_ms);
}

enum ledger_err ledger_open(struct ledger **out, const struct ledger_config *config, char *detail,
                            size_t detail_size)
{
    enum ledger_err err = ledger_crypto_init();
    if (err != LEDGER_OK)
        return err;
    struct ledger *ledger = calloc(1, sizeof *ledger);
    if (ledger == NULL)
        return LEDGER_ERR_NOMEM;
    ledger->lock_wait_ms = config->lock_wait_ms;
    ledger->dsn = strdup(config->dsn ? config->dsn : "");
    if (ledger->dsn == NULL) {
        err = LEDGER_ERR_NOMEM;
        goto fail;
    }
    ledger->amount_max_minor = config->amount_max_minor;
    if ((err = session_open(ledger)) != LEDGER_OK)
        goto fail;
    if (config->key_file != NULL) {
        err = ledger_signer_load(&ledger->signer, config->key_file);
        if (err != LEDGER_OK) {
            ledger_set_detail(ledger, "could not load signing key %s", config->key_file);
            goto fail;
        }
        ledger->has_signer = true;
        err = register_signing_key(ledger);
        if (err != LEDGER_OK)
            goto fail;
    }
    if (config->access_key_file != NULL) {
        err = read_access_key(ledger, config->access_key_file);
        if (err != LEDGER_OK)
            goto fail;
    }
    *out = ledger;
    return LEDGER_OK;
fail:
    if (detail != NULL && detail_size > 0)
        snprintf(detail, detail_size, "%s", ledger->detail);
    ledger_close(ledger);
    return err;
}

void ledger_close(struct ledger *ledger)
{
    if (ledger == NULL)
        return;
    PQfinish(ledger->conn);
    prepared_forget(ledger);
    free(ledger->dsn);
    ledger_signer_wipe(&ledger->signer);
    sodium_memzero(ledger->access_key, sizeof ledger->access_key);
    free(ledger);
}

enum ledger_err ledger_ping(struct ledger *ledger)
{
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK, "SELECT 1", 0, NULL);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    PQclear(result);
    return LEDGER_OK;
}

/* Whether the connection is lost. A backend that ended while its
 * connection sat idle has sent its last words (57P01) and closed the
 * socket; libpq notices only when it reads: read what is there, without
 * waiting, and parse it (notice_receive). */
static bool connection_lost(struct ledger *ledger)
{
    for (int read = 0;
         read < 2 && PQstatus(ledger->conn) == CONNECTION_OK && !ledger->session_ending; read++) {
        if (PQconsumeInput(ledger->conn) == 0)
            break;
        (void)PQisBusy(ledger->conn); /* parses what came */
    }
    return PQstatus(ledger->conn) != CONNECTION_OK || ledger->session_ending;
}

/* The back-off's clock: monotonic, so that a step of the wall clock
 * neither stretches nor skips a delay. */
static int64_t monotonic_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

enum ledger_err ledger_reconnect_if_lost(struct ledger *ledger)
{
    if (!connection_lost(ledger))
        return LEDGER_OK;
    int64_t now_us = monotonic_us();
    if (now_us < ledger->reconnect_at_us) {
        ledger_set_detail(ledger, "the database connection is lost; next attempt in %lld ms",
                          (long long)((ledger->reconnect_at_us - now_us) / 1000));
        ledger->last_db_err = LEDGER_ERR_UNAVAILABLE;
        return LEDGER_ERR_UNAVAILABLE;
    }
    PQfinish(ledger->conn);
    prepared_forget(ledger);
    ledger->pending = false;
    if (session_open(ledger) == LEDGER_OK) {
        ledger->reconnect_delay_ms = 0;
        ledger->reconnect_at_us = 0;
        ledger->reconnects++;
        return LEDGER_OK;
    }
    /* A session half set up is no session; back off: the least delay
     * first, doubling to the most. */
    PQfinish(ledger->conn);
    ledger->conn = NULL;
    unsigned delay_ms = ledger->reconnect_delay_ms;
    delay_ms = delay_ms == 0 ? LEDGER_RECONNECT_DELAY_MIN_MS : delay_ms * 2;
    if (delay_ms > LEDGER_RECONNECT_DELAY_MAX_MS)
        delay_ms = LEDGER_RECONNECT_DELAY_MAX_MS;
    ledger->reconnect_delay_ms = delay_ms;
    ledger->reconnect_at_us = monotonic_us() + (int64_t)delay_ms * 1000;
    ledger->last_db_err = LEDGER_ERR_UNAVAILABLE;
    return LEDGER_ERR_UNAVAILABLE;
}

int64_t ledger_reconnects(const struct ledger *ledger)
{
    return ledger->reconnects;
}

/* Schema migrations: sql/NNN_name.sql applied in order, once, never edited;
 * then every sql/functions/NAME.sql (functions, triggers, their grants)
 * applied again, in name order, in one transaction, on every migrate: the
 * tree holds the one current definition of each. */
#include "ledger_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATIONS_MAX 999
#define MIGRATION_FILE_MAX (4 * 1024 * 1024)
#define MIGRATION_NAME_MAX 128
#define MIGRATION_LOCK_ID "7301928374"
#define FUNCTIONS_MAX 200 /* files in sql/functions: about 25 today */
#define FUNCTIONS_DIR "functions"

struct migration {
    int version;
    char name[MIGRATION_NAME_MAX];
};

static bool migration_name_valid(const char *name)
{
    size_t length = strlen(name);
    if (length < 9 || length >= MIGRATION_NAME_MAX)
        return false;
    for (int i = 0; i < 3; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return name[3] == '_' && strcmp(name + length - 4, ".sql") == 0;
}

static int migration_compare(const void *a, const void *b)
{
    const struct migration *left = a;
    const struct migration *right = b;
    return (left->version > right->version) - (left->version < right->version);
}

static enum ledger_err list_migrations(const char *sql_dir, struct migration *list, int *count,
                                       char *detail, size_t detail_size)
{
    DIR *dir = opendir(sql_dir);
    if (dir == NULL) {
        snprintf(detail, detail_size, "could not open %s: %s", sql_dir, strerror(errno));
        return LEDGER_ERR_IO;
    }
    *count = 0;
    struct dirent *item;
    while ((item = readdir(dir)) != NULL) {
        if (!migration_name_valid(item->d_name))
            continue;
        if (*count >= MIGRATIONS_MAX) {
            closedir(dir);
            snprintf(detail, detail_size, "too many migrations in %s", sql_dir);
            return LEDGER_ERR_IO;
        }
        struct migration *migration = &list[*count];
        migration->version = atoi(item->d_name);
        /* migration_name_valid() bounded the length below MIGRATION_NAME_MAX. */
        memcpy(migration->name, item->d_name, strlen(item->d_name) + 1);
        (*count)++;
    }
    closedir(dir);
    qsort(list, (size_t)*count, sizeof *list, migration_compare);
    for (int i = 1; i < *count; i++) {
        if (list[i].version == list[i - 1].version) {
            snprintf(detail, detail_size, "two migrations numbered %03d", list[i].version);
            return LEDGER_ERR_IO;
        }
    }
    return LEDGER_OK;
}

static bool function_name_valid(const char *name)
{
    size_t length = strlen(name);
    if (length < 5 || length >= MIGRATION_NAME_MAX || name[0] == '.')
        return false;
    return strcmp(name + length - 4, ".sql") == 0;
}

static int function_compare(const void *a, const void *b)
{
    const struct migration *left = a;
    const struct migration *right = b;
    return strcmp(left->name, right->name);
}

/* The files of sql/functions, sorted by name (bounded). */
static enum ledger_err list_functions(const char *functions_dir, struct migration *list, int *count,
                                      char *detail, size_t detail_size)
{
    DIR *dir = opendir(functions_dir);
    if (dir == NULL) {
        snprintf(detail, detail_size, "could not open %s: %s", functions_dir, strerror(errno));
        return LEDGER_ERR_IO;
    }
    *count = 0;
    struct dirent *item;
    while ((item = readdir(dir)) != NULL) {
        if (!function_name_valid(item->d_name))
            continue;
        if (*count >= FUNCTIONS_MAX) {
            closedir(dir);
            snprintf(detail, detail_size, "too many files in %s", functions_dir);
            return LEDGER_ERR_IO;
        }
        /* function_name_valid() bounded the length below MIGRATION_NAME_MAX. */
        memcpy(list[*count].name, item->d_name, strlen(item->d_name) + 1);
        list[*count].version = 0;
        (*count)++;
    }
    closedir(dir);
    qsort(list, (size_t)*count, sizeof *list, function_compare);
    return LEDGER_OK;
}

/* Reads a whole file (bounded) into a new NUL-terminated buffer. */
static char *read_file(const char *path, char *detail, size_t detail_size)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        snprintf(detail, detail_size, "could not open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(MIGRATION_FILE_MAX + 1);
    size_t length = text ? fread(text, 1, MIGRATION_FILE_MAX + 1, file) : 0;
    fclose(file);
    if (text == NULL || length > MIGRATION_FILE_MAX) {
        snprintf(detail, detail_size, "%s is too large", path);
        free(text);
        return NULL;
    }
    text[length] = '\0';
    return text;
}

static void checksum_text(char out[2 * LEDGER_HASH_SIZE + 1], const char *text)
{
    uint8_t digest[LEDGER_HASH_SIZE];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)text, strlen(text), NULL, 0);
    ledger_to_hex(out, digest, sizeof digest);
}

static void notice_quiet(void *argument, const char *message)
{
    (void)argument;
    (void)message;
}

static bool exec_ok(PGconn *conn, const char *sql, char *detail, size_t detail_size)
{
    PGresult *result = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(result);
    bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(detail, detail_size, "%s", PQresultErrorMessage(result));
    PQclear(result);
    return ok;
}

/* Applies one migration unless applied; refuses a changed applied file. */
static enum ledger_err apply_one(PGconn *conn, const char *sql_dir, const struct migration *m,
                                 int *applied_count, char *detail, size_t detail_size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", sql_dir, m->name);
    char *text = read_file(path, detail, detail_size);
    if (text == NULL)
        return LEDGER_ERR_IO;
    char checksum[2 * LEDGER_HASH_SIZE + 1];
    checksum_text(checksum, text);
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *params[3] = {version, m->name, checksum};
    enum ledger_err err = LEDGER_OK;
    PGresult *found =
        PQexecParams(conn, "SELECT checksum FROM schema_migrations WHERE version = $1", 1, NULL,
                     params, NULL, NULL, 0);
    if (PQresultStatus(found) != PGRES_TUPLES_OK) {
        snprintf(detail, detail_size, "%s", PQresultErrorMessage(found));
        err = LEDGER_ERR_DB;
    } else if (PQntuples(found) == 1) {
        if (strcmp(PQgetvalue(found, 0, 0), checksum) != 0) {
            snprintf(detail, detail_size, "migration %s was changed after it was applied", m->name);
            err = LEDGER_ERR_DB;
        }
    } else if (!exec_ok(conn, "BEGIN", detail, detail_size) ||
               !exec_ok(conn, text, detail, detail_size)) {
        err = LEDGER_ERR_DB;
    } else {
        PGresult *record = PQexecParams(
            conn, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", 3,
            NULL, params, NULL, NULL, 0);
        bool recorded = PQresultStatus(record) == PGRES_COMMAND_OK;
        PQclear(record);
        if (recorded && exec_ok(conn, "COMMIT", detail, detail_size)) {
            (*applied_count)++;
        } else {
            err = LEDGER_ERR_DB;
        }
    }
    if (err != LEDGER_OK)
        exec_ok(conn, "ROLLBACK", detail + strlen(detail), 0);
    PQclear(found);
    free(text);
    return err;
}

/* Applies every file of sql/functions in one transaction (each file
 * replaces its definitions: CREATE OR REPLACE). Bodies are checked when
 * run, not when created, so the files need no order among themselves. */
static enum ledger_err apply_functions(PGconn *conn, const char *sql_dir, char *detail,
                                       size_t detail_size)
{
    char functions_dir[1024];
    snprintf(functions_dir, sizeof functions_dir, "%s/" FUNCTIONS_DIR, sql_dir);
    struct migration *list = calloc(FUNCTIONS_MAX, sizeof *list);
    if (list == NULL)
        return LEDGER_ERR_NOMEM;
    int count = 0;
    enum ledger_err err = list_functions(functions_dir, list, &count, detail, detail_size);
    if (err == LEDGER_OK &&
        (!exec_ok(conn, "BEGIN", detail, detail_size) ||
         !exec_ok(conn, "SET LOCAL check_function_bodies = off", detail, detail_size)))
        err = LEDGER_ERR_DB;
    for (int i = 0; i < count && err == LEDGER_OK; i++) {
        char path[1280];
        snprintf(path, sizeof path, "%s/%s", functions_dir, list[i].name);
        char *text = read_file(path, detail, detail_size);
        if (text == NULL) {
            err = LEDGER_ERR_IO;
        } else if (!exec_ok(conn, text, detail, detail_size)) {
            size_t used = strlen(detail);
            snprintf(detail + used, detail_size - used, " (in %s)", list[i].name);
            err = LEDGER_ERR_DB;
        }
        free(text);
    }
    if (err == LEDGER_OK && !exec_ok(conn, "COMMIT", detail, detail_size))
        err = LEDGER_ERR_DB;
    if (err != LEDGER_OK)
        exec_ok(conn, "ROLLBACK", detail + strlen(detail), 0);
    free(list);
    return err;
}

enum ledger_err ledger_migrate(const char *dsn, const char *sql_dir, int *applied_count,
                               char *detail, size_t detail_size)
{
    int count = 0;
    *applied_count = 0;
    detail[0] = '\0';
    struct migration *list = calloc(MIGRATIONS_MAX, sizeof *list);
    if (list == NULL)
        return LEDGER_ERR_NOMEM;
    enum ledger_err err = list_migrations(sql_dir, list, &count, detail, detail_size);
    PGconn *conn = NULL;
    if (err != LEDGER_OK)
        goto out;
    conn = PQconnectdb(dsn);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(detail, detail_size, "could not connect: %s", PQerrorMessage(conn));
        err = LEDGER_ERR_DB;
        goto out;
    }
    PQsetNoticeProcessor(conn, notice_quiet, NULL);
    if (!exec_ok(conn, "SET client_min_messages = warning", detail, detail_size) ||
        !exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK_ID ")", detail, detail_size) ||
        !exec_ok(conn,
                 "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                 "name text NOT NULL, checksum text NOT NULL, "
                 "applied_at timestamptz NOT NULL DEFAULT now())",
                 detail, detail_size)) {
        err = LEDGER_ERR_DB;
        goto out;
    }
    for (int i = 0; i < count && err == LEDGER_OK; i++)
        err = apply_one(conn, sql_dir, &list[i], applied_count, detail, detail_size);
    if (err == LEDGER_OK)
        err = apply_functions(conn, sql_dir, detail, detail_size);
out:
    PQfinish(conn); /* releases the advisory lock */
    free(list);
    return err;
}

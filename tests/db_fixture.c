#include "db_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include "chain.h"
#include "test_clock.h"

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fixture: %s: %s\n", what, detail ? detail : "");
    exit(2);
}

static void exec_or_die(PGconn *conn, const char *sql)
{
    PGresult *result = PQexec(conn, sql);
    if (PQresultStatus(result) != PGRES_COMMAND_OK && PQresultStatus(result) != PGRES_TUPLES_OK)
        die(sql, PQresultErrorMessage(result));
    PQclear(result);
}

static PGconn *connect_or_die(const char *dsn)
{
    PGconn *conn = PQconnectdb(dsn);
    if (PQstatus(conn) != CONNECTION_OK)
        die("could not connect (is the cluster of scripts/dev running?)", PQerrorMessage(conn));
    return conn;
}

static void write_keys(struct fixture *f)
{
    snprintf(f->key_dir, sizeof f->key_dir, "/tmp/caseledger-test-keys-%ld-XXXXXX", (long)getpid());
    if (mkdtemp(f->key_dir) == NULL)
        die("mkdtemp", strerror(errno));
    snprintf(f->key_file, sizeof f->key_file, "%s/current.key", f->key_dir);
    snprintf(f->access_key_file, sizeof f->access_key_file, "%s/access.key", f->key_dir);
    snprintf(f->keyring_file, sizeof f->keyring_file, "%s/trusted.pub", f->key_dir);
    struct ledger_signer signer;
    if (ledger_crypto_init() != LEDGER_OK ||
        ledger_signer_generate(&signer, f->key_file) != LEDGER_OK ||
        ledger_keyring_append(f->keyring_file, &signer) != LEDGER_OK)
        die("could not generate keys", f->key_dir);
    ledger_signer_wipe(&signer);
    uint8_t key[32];
    char text[65];
    randombytes_buf(key, sizeof key);
    ledger_to_hex(text, key, sizeof key);
    int fd = open(f->access_key_file, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, text, 64) != 64 || close(fd) != 0)
        die("could not write access key", f->access_key_file);
}

static void add_users(struct ledger *ledger)
{
    static const struct {
        const char *name;
        unsigned role;
    } users[] = {
        {"clerk1", LEDGER_ROLE_CLERK},       {"clerk2", LEDGER_ROLE_CLERK},
        {"approver1", LEDGER_ROLE_APPROVER}, {"approver2", LEDGER_ROLE_APPROVER},
        {"auditor1", LEDGER_ROLE_AUDITOR},   {"admin1", LEDGER_ROLE_ADMIN},
        {"bank1", LEDGER_ROLE_BANK},
    };
    char token[LEDGER_TOKEN_SIZE];
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++)
        if (ledger_user_add(ledger, users[i].name, users[i].role, token) != LEDGER_OK)
            die("could not add user", users[i].name);
}

static void drop_leftover_databases(PGconn *conn, const char *name);

void fixture_setup(struct fixture *f, const char *name)
{
    memset(f, 0, sizeof *f);
    const char *admin = getenv("CASELEDGER_ADMIN_DSN");
    const char *sql_dir = getenv("CASELEDGER_SQL_DIR");
    if (admin == NULL || sql_dir == NULL)
        die("CASELEDGER_ADMIN_DSN and CASELEDGER_SQL_DIR must be set", "run: scripts/dev test");
    snprintf(f->database, sizeof f->database, "cltest_%s_%ld", name, (long)getpid());
    snprintf(f->app_dsn, sizeof f->app_dsn, "%s dbname=%s user=caseledger_app", admin, f->database);
    snprintf(f->owner_dsn, sizeof f->owner_dsn, "%s dbname=%s user=caseledger_owner", admin,
             f->database);
    snprintf(f->super_dsn, sizeof f->super_dsn, "%s dbname=%s", admin, f->database);
    PGconn *conn = connect_or_die(admin);
    /* What failed tests of any suite left (their process is gone; a
     * database is named after the process that made it). */
    if (getenv("CASELEDGER_KEEP_DB") == NULL)
        drop_leftover_databases(conn, "");
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", f->database);
    exec_or_die(conn, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s OWNER caseledger_owner", f->database);
    exec_or_die(conn, sql);
    PQfinish(conn);
    int applied = 0;
    char detail[512];
    if (ledger_migrate(f->owner_dsn, sql_dir, &applied, detail, sizeof detail) != LEDGER_OK)
        die("migrate", detail);
    write_keys(f);
    f->config = (struct ledger_config){
        .dsn = f->app_dsn, .key_file = f->key_file, .access_key_file = f->access_key_file};
    struct ledger *ledger = fixture_ledger(f);
    if (ledger_setup_bank_account(ledger, "CUSTODY-1", "Test Custody Bank", "CNY",
                                  &f->bank_account_id) != LEDGER_OK)
        die("setup bank account", ledger_last_detail(ledger));
    ledger_close(ledger);
    ledger = fixture_owner_ledger(f);
    add_users(ledger);
    ledger_close(ledger);
}

void fixture_teardown(struct fixture *f)
{
    const char *admin = getenv("CASELEDGER_ADMIN_DSN");
    PGconn *conn = connect_or_die(admin);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->database);
    exec_or_die(conn, sql);
    PQfinish(conn);
    unlink(f->key_file);
    unlink(f->access_key_file);
    unlink(f->keyring_file);
    rmdir(f->key_dir);
}

struct ledger *fixture_ledger(const struct fixture *f)
{
    struct ledger *ledger = NULL;
    char detail[256];
    if (ledger_open(&ledger, &f->config, detail, sizeof detail) != LEDGER_OK)
        die("ledger_open", detail);
    return ledger;
}

struct ledger *fixture_owner_ledger(const struct fixture *f)
{
    struct ledger_config config = {.dsn = f->owner_dsn};
    struct ledger *ledger = NULL;
    char detail[256];
    if (ledger_open(&ledger, &config, detail, sizeof detail) != LEDGER_OK)
        die("ledger_open (owner)", detail);
    return ledger;
}

PGconn *fixture_super(const struct fixture *f)
{
    return connect_or_die(f->super_dsn);
}

char *fixture_query(const struct fixture *f, const char *sql)
{
    PGconn *conn = fixture_super(f);
    PGresult *result = PQexec(conn, sql);
    if (PQresultStatus(result) != PGRES_TUPLES_OK)
        die(sql, PQresultErrorMessage(result));
    char *value = strdup(PQntuples(result) > 0 ? PQgetvalue(result, 0, 0) : "");
    PQclear(result);
    PQfinish(conn);
    if (value == NULL)
        die("strdup", "out of memory");
    return value;
}

long long fixture_query_int(const struct fixture *f, const char *sql)
{
    char *text = fixture_query(f, sql);
    long long value = strtoll(text, NULL, 10);
    free(text);
    return value;
}

char *fixture_books_digest(const struct fixture *f)
{
    return fixture_query(
        f, "SELECT md5(concat_ws('|', "
           "(SELECT string_agg(seq || ':' || encode(hash, 'hex'), ',' ORDER BY seq) FROM entries), "
           "(SELECT string_agg(entry_seq || ':' || idx || ':' || account_id || ':' || amount, ',' "
           "   ORDER BY entry_seq, idx) FROM postings), "
           "(SELECT string_agg(id || ':' || balance || ':' || status, ',' ORDER BY id) FROM "
           "accounts), "
           "(SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM disbursements), "
           "(SELECT string_agg(key, ',' ORDER BY key) FROM idempotency), "
           "(SELECT seq || ':' || encode(hash, 'hex') FROM chain_head)))");
}

int64_t fixture_open_case(struct ledger *ledger, const char *case_no, char *access_code_out)
{
    struct ledger_applicant applicant = {.name = "Applicant"};
    struct ledger_case_request request = {
        .case_no = case_no, .court = "Test Court", .applicants_count = 1, .applicants = &applicant};
    struct ledger_case_result result;
    char key[160];
    snprintf(key, sizeof key, "open-%s", case_no);
    for (char *c = key; *c; c++)
        if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
            *c = '_';
    if (ledger_case_open(ledger, "clerk1", &request, key, &result) != LEDGER_OK)
        die("case open", ledger_last_detail(ledger));
    if (access_code_out != NULL)
        strcpy(access_code_out, result.access_code);
    return result.account_id;
}

void fixture_receipt(struct ledger *ledger, const char *case_no, long long amount_minor,
                     const char *key)
{
    struct ledger_receipt_request request = {.case_no = case_no,
                                             .amount_minor = amount_minor,
                                             .bank_ref = key,
                                             .value_date_days = LEDGER_VALUE_DATE_NONE};
    struct ledger_booking booking;
    if (ledger_receipt(ledger, "clerk1", &request, key, &booking) != LEDGER_OK)
        die("receipt", ledger_last_detail(ledger));
}

/* true when the process whose id ends name (after its last separator) is
 * gone. */
/* The first column of the first row of sql on the admin connection. */
static long long admin_int(PGconn *conn, const char *sql)
{
    PGresult *result = PQexec(conn, sql);
    if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1)
        die(sql, PQresultErrorMessage(result));
    long long value = atoll(PQgetvalue(result, 0, 0));
    PQclear(result);
    return value;
}

long long fixture_cut_connections(const struct fixture *f)
{
    PGconn *conn = connect_or_die(getenv("CASELEDGER_ADMIN_DSN"));
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(array_agg(pid), '{}')::text FROM pg_stat_activity "
             "WHERE datname = '%s' AND usename = 'caseledger_app'",
             f->database);
    PGresult *result = PQexec(conn, sql);
    if (PQresultStatus(result) != PGRES_TUPLES_OK)
        die(sql, PQresultErrorMessage(result));
    char pids[256];
    snprintf(pids, sizeof pids, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    snprintf(sql, sizeof sql,
             "SELECT count(pg_terminate_backend(pid)) FROM unnest('%s'::int[]) pid", pids);
    long long cut = admin_int(conn, sql);
    /* pg_terminate_backend only signals them. */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY('%s'::int[])",
             pids);
    for (int wait = 0; wait < 500 && admin_int(conn, sql) > 0; wait++)
        test_sleep_ms(10);
    PQfinish(conn);
    return cut;
}

void fixture_allow_connections(const struct fixture *f, bool allowed)
{
    PGconn *conn = connect_or_die(getenv("CASELEDGER_ADMIN_DSN"));
    char sql[256];
    snprintf(sql, sizeof sql, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS %s", f->database,
             allowed ? "true" : "false");
    exec_or_die(conn, sql);
    PQfinish(conn);
}

static bool owner_gone(const char *name, char separator)
{
    const char *pid_text = strrchr(name, separator);
    long pid = pid_text ? strtol(pid_text + 1, NULL, 10) : 0;
    return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static void drop_leftover_databases(PGconn *conn, const char *name)
{
    char pattern[96] = "cltest_"; /* name "": every suite's */
    if (name[0] != '\0')
        snprintf(pattern, sizeof pattern, "cltest_%s_", name);
    const char *params[1] = {pattern};
    PGresult *names =
        PQexecParams(conn, "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", 1,
                     NULL, params, NULL, NULL, 0);
    for (int row = 0; PQresultStatus(names) == PGRES_TUPLES_OK && row < PQntuples(names); row++) {
        const char *database = PQgetvalue(names, row, 0);
        if (!owner_gone(database, '_'))
            continue;
        char *quoted = PQescapeIdentifier(conn, database, strlen(database));
        char sql[256];
        if (quoted != NULL) {
            snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", quoted);
            PQclear(PQexec(conn, sql));
            PQfreemem(quoted);
        }
    }
    PQclear(names);
}

static void remove_leftover_key_dirs(void)
{
    static const char prefix[] = "caseledger-test-keys-";
    DIR *tmp = opendir("/tmp");
    if (tmp == NULL)
        return;
    struct dirent *item;
    while ((item = readdir(tmp)) != NULL) {
        if (strncmp(item->d_name, prefix, sizeof prefix - 1) != 0)
            continue;
        /* caseledger-test-keys-PID-XXXXXX: the pid is the field before the last */
        char owner[64];
        snprintf(owner, sizeof owner, "%s", item->d_name + sizeof prefix - 1);
        char *dash = strchr(owner, '-');
        if (dash == NULL)
            continue;
        *dash = '\0';
        char probe[80];
        snprintf(probe, sizeof probe, "-%s", owner);
        if (!owner_gone(probe, '-'))
            continue;
        static const char *const files[] = {"current.key", "access.key", "trusted.pub"};
        char path[FIXTURE_PATH_SIZE + 32];
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(path, sizeof path, "/tmp/%s/%s", item->d_name, files[i]);
            unlink(path);
        }
        snprintf(path, sizeof path, "/tmp/%s", item->d_name);
        rmdir(path);
    }
    closedir(tmp);
}

void fixture_drop_leftovers(const char *name)
{
    const char *admin = getenv("CASELEDGER_ADMIN_DSN");
    if (admin == NULL || getenv("CASELEDGER_KEEP_DB") != NULL)
        return;
    PGconn *conn = PQconnectdb(admin);
    if (PQstatus(conn) == CONNECTION_OK)
        drop_leftover_databases(conn, name);
    PQfinish(conn);
    remove_leftover_key_dirs();
}

/* End-to-end tests of the `caseledger` binary (CASELEDGER_BIN) on a fresh
 * database: every command prints JSON on stdout, errors exit 1 with a
 * stable code, usage errors exit 2; key rotation keeps old entries
 * verifiable. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "db_fixture.h"

#define OUTPUT_MAX 65536
#define ARGS_MAX 32

static struct fixture fx;

struct run {
    int status; /* exit status, or -1 */
    char out[OUTPUT_MAX];
    json_t *json; /* stdout parsed, or NULL */
};

static void setup(void)
{
    fixture_setup(&fx, "cli");
}

static void teardown(void)
{
    fixture_teardown(&fx);
}

/* Runs the binary with the fixture's database and key directory and the
 * given arguments (NULL-terminated), as user `as` (may be NULL). */
static void run_cli(struct run *run, const char *as, const char *const *arguments)
{
    const char *binary = getenv("CASELEDGER_BIN");
    ck_assert_msg(binary != NULL, "CASELEDGER_BIN must name the caseledger binary");
    const char *argv[ARGS_MAX + 8];
    size_t count = 0;
    argv[count++] = binary;
    for (size_t i = 0; arguments[i] != NULL && count < ARGS_MAX; i++)
        argv[count++] = arguments[i];
    argv[count++] = "--dsn";
    argv[count++] = fx.app_dsn;
    argv[count++] = "--key-dir";
    argv[count++] = fx.key_dir;
    if (as != NULL) {
        argv[count++] = "--as";
        argv[count++] = as;
    }
    argv[count] = NULL;
    int pipe_fds[2];
    ck_assert_int_eq(pipe(pipe_fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pipe_fds[1], STDOUT_FILENO);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        execv(binary, (char *const *)argv);
        _exit(127);
    }
    close(pipe_fds[1]);
    size_t used = 0;
    ssize_t got;
    while (used + 1 < OUTPUT_MAX &&
           (got = read(pipe_fds[0], run->out + used, OUTPUT_MAX - 1 - used)) > 0)
        used += (size_t)got;
    run->out[used] = '\0';
    close(pipe_fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    run->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run->json = json_loads(run->out, 0, NULL);
}

#define CLI(run, as, ...) run_cli(run, as, (const char *const[]){__VA_ARGS__, NULL})

static void run_free(struct run *run)
{
    json_decref(run->json);
    run->json = NULL;
}

static const char *string_of(const struct run *run, const char *key)
{
    ck_assert_msg(run->json != NULL, "stdout is not JSON: %s", run->out);
    json_t *value = json_object_get(run->json, key);
    ck_assert_msg(json_is_string(value), "no string %s in %s", key, run->out);
    return json_string_value(value);
}

static long long int_of(const struct run *run, const char *key)
{
    ck_assert_msg(run->json != NULL, "stdout is not JSON: %s", run->out);
    json_t *value = json_object_get(run->json, key);
    ck_assert_msg(json_is_integer(value), "no integer %s in %s", key, run->out);
    return (long long)json_integer_value(value);
}

static void expect_error(struct run *run, int status, const char *code)
{
    ck_assert_msg(run->status == status, "exit %d, wanted %d: %s", run->status, status, run->out);
    if (code != NULL)
        ck_assert_str_eq(string_of(run, "error"), code);
}

static long long held_of(const char *case_no)
{
    struct run run;
    CLI(&run, NULL, "balance", "--case-no", case_no);
    ck_assert_int_eq(run.status, 0);
    json_t *balance = json_object_get(run.json, "balance");
    long long held = (long long)json_integer_value(json_object_get(balance, "held"));
    run_free(&run);
    return held;
}

static const char case_no[] = "(2026)沪0115执42号";

START_TEST(story)
{
    struct run run;
    CLI(&run, "clerk1", "case", "open", "--case-no", case_no, "--court", "Test Court",
        "--applicant", "Li Lei", "--idempotency-key", "open-1");
    ck_assert_msg(run.status == 0, "%s", run.out);
    char payin[32];
    snprintf(payin, sizeof payin, "%s", string_of(&run, "payin_no"));
    ck_assert_uint_eq(strlen(string_of(&run, "access_code")), 19);
    run_free(&run);

    CLI(&run, "clerk1", "receipt", "--payin-no", payin, "--amount", "1234.56", "--bank-ref", "B-1",
        "--value-date", "2026-11-20", "--idempotency-key", "r-1");
    ck_assert_msg(run.status == 0, "%s", run.out);
    ck_assert_int_eq(int_of(&run, "amount"), 123456);
    ck_assert_str_eq(string_of(&run, "amount_text"), "1234.56");
    long long receipt_seq = int_of(&run, "seq");
    run_free(&run);
    CLI(&run, "clerk1", "receipt", "--payin-no", payin, "--amount", "1234.56", "--bank-ref", "B-1",
        "--value-date", "2026-11-20", "--idempotency-key", "r-1");
    ck_assert_int_eq(run.status, 0);
    ck_assert(json_is_true(json_object_get(run.json, "replayed")));
    ck_assert_int_eq(int_of(&run, "seq"), receipt_seq);
    run_free(&run);
    ck_assert_int_eq(held_of(case_no), 123456);

    CLI(&run, "clerk1", "disburse", "request", "--case-no", case_no, "--amount", "100",
        "--payee-name", "Li Lei", "--payee-account", "6222000011112222", "--idempotency-key",
        "d-1");
    ck_assert_msg(run.status == 0, "%s", run.out);
    char id[32];
    snprintf(id, sizeof id, "%lld", int_of(&run, "id"));
    run_free(&run);
    CLI(&run, "clerk1", "disburse", "approve", "--id", id);
    expect_error(&run, 1, "forbidden");
    run_free(&run);
    CLI(&run, "approver1", "disburse", "approve", "--id", id, "--idempotency-key", "a-1");
    ck_assert_msg(run.status == 0, "%s", run.out);
    run_free(&run);
    CLI(&run, "clerk1", "disburse", "settle", "--id", id, "--bank-ref", "PAY-1");
    ck_assert_msg(run.status == 0, "%s", run.out);
    ck_assert_str_eq(string_of(&run, "status"), "paid");
    run_free(&run);
    ck_assert_int_eq(held_of(case_no), 123456 - 10000);

    CLI(&run, NULL, "verify");
    ck_assert_msg(run.status == 0, "%s", run.out);
    ck_assert(json_is_true(json_object_get(run.json, "ok")));
    ck_assert_int_eq(int_of(&run, "checked"), 3);
    run_free(&run);
}
END_TEST

START_TEST(errors_and_usage)
{
    struct run run;
    CLI(&run, "clerk1", "case", "open", "--case-no", case_no, "--court", "Test Court");
    ck_assert_int_eq(run.status, 0);
    run_free(&run);
    static const char *const bad_amounts[] = {"12.345", "-5", "1e3", "1,000.00", "abc", "0"};
    char before_digest[64];
    char *digest = fixture_books_digest(&fx);
    snprintf(before_digest, sizeof before_digest, "%s", digest);
    free(digest);
    for (size_t i = 0; i < sizeof bad_amounts / sizeof bad_amounts[0]; i++) {
        CLI(&run, "clerk1", "receipt", "--case-no", case_no, "--amount", bad_amounts[i],
            "--bank-ref", "X");
        expect_error(&run, 1, "invalid_amount");
        run_free(&run);
    }
    CLI(&run, "clerk1", "receipt", "--payin-no", "8000000000000127", "--amount", "1", "--bank-ref",
        "X");
    expect_error(&run, 1, "invalid_payin_no");
    run_free(&run);
    CLI(&run, "clerk1", "receipt", "--case-no", "(2026)沪0115执999号", "--amount", "1",
        "--bank-ref", "X");
    expect_error(&run, 1, "unknown_case");
    run_free(&run);
    CLI(&run, "nobody", "receipt", "--case-no", case_no, "--amount", "1", "--bank-ref", "X");
    expect_error(&run, 1, "unknown_user");
    run_free(&run);
    /* over the largest amount: the default, and one configured lower */
    CLI(&run, "clerk1", "receipt", "--case-no", case_no, "--amount", "10000000000.01", "--bank-ref",
        "X");
    expect_error(&run, 1, "amount_too_large");
    run_free(&run);
    CLI(&run, "clerk1", "receipt", "--case-no", case_no, "--amount", "1.01", "--bank-ref", "X",
        "--amount-max", "100");
    expect_error(&run, 1, "amount_too_large");
    run_free(&run);
    static const char *const bad_maxima[] = {"0", "-1", "1.5", "1000000000001"};
    for (size_t i = 0; i < sizeof bad_maxima / sizeof bad_maxima[0]; i++) {
        CLI(&run, "clerk1", "receipt", "--case-no", case_no, "--amount", "1", "--bank-ref", "X",
            "--amount-max", bad_maxima[i]);
        expect_error(&run, 2, NULL);
        run_free(&run);
    }
    digest = fixture_books_digest(&fx);
    ck_assert_str_eq(digest, before_digest);
    free(digest);

    CLI(&run, NULL, "receipt", "--no-such-flag", "x");
    expect_error(&run, 2, NULL);
    run_free(&run);
    CLI(&run, NULL, "no-such-command", "--x", "y");
    expect_error(&run, 2, NULL);
    run_free(&run);
}
END_TEST

/* A new key becomes current; entries signed with the old one still verify
 * (its public key stays in trusted.pub); a keyring without the old key
 * names the first entry it cannot trust. */
START_TEST(key_rotation)
{
    struct run run;
    CLI(&run, "clerk1", "case", "open", "--case-no", case_no, "--court", "Test Court");
    ck_assert_int_eq(run.status, 0);
    run_free(&run);
    CLI(&run, "clerk1", "receipt", "--case-no", case_no, "--amount", "10", "--bank-ref", "K-1");
    ck_assert_int_eq(run.status, 0);
    run_free(&run);
    CLI(&run, NULL, "keygen");
    ck_assert_msg(run.status == 0, "%s", run.out);
    char new_key_id[32];
    snprintf(new_key_id, sizeof new_key_id, "%s", string_of(&run, "key_id"));
    run_free(&run);
    CLI(&run, "clerk1", "receipt", "--case-no", case_no, "--amount", "20", "--bank-ref", "K-2");
    ck_assert_int_eq(run.status, 0);
    run_free(&run);
    char *key_ids = fixture_query(&fx, "SELECT string_agg(key_id, ',' ORDER BY seq) FROM entries");
    ck_assert_msg(strstr(key_ids, new_key_id) == key_ids + strlen(key_ids) - strlen(new_key_id),
                  "last entry not signed with the new key: %s", key_ids);
    ck_assert_msg(strncmp(key_ids, new_key_id, strlen(new_key_id)) != 0,
                  "first entry signed with the new key: %s", key_ids);
    free(key_ids);
    CLI(&run, NULL, "verify");
    ck_assert_msg(run.status == 0, "%s", run.out);
    ck_assert_int_eq(int_of(&run, "checked"), 2);
    run_free(&run);

    /* An auditor's keyring holding only the new key. */
    char keyring[FIXTURE_PATH_SIZE + 32];
    snprintf(keyring, sizeof keyring, "%s/only-new.pub", fx.key_dir);
    FILE *in = fopen(fx.keyring_file, "r");
    FILE *out = fopen(keyring, "w");
    ck_assert(in != NULL && out != NULL);
    char line[256];
    while (fgets(line, sizeof line, in) != NULL)
        if (strncmp(line, new_key_id, strlen(new_key_id)) == 0)
            fputs(line, out);
    fclose(in);
    fclose(out);
    CLI(&run, NULL, "verify", "--keyring", keyring);
    expect_error(&run, 1, NULL);
    ck_assert_int_eq(int_of(&run, "first_bad_seq"), 1);
    run_free(&run);
    unlink(keyring);
}
END_TEST

/* Writes text to a new file in the fixture's key directory; its path in out. */
static void write_file(char *out, size_t size, const char *name, const char *text)
{
    snprintf(out, size, "%s/%s", fx.key_dir, name);
    FILE *file = fopen(out, "w");
    ck_assert_ptr_nonnull(file);
    fputs(text, file);
    fclose(file);
}

/* import books a statement once (a second import finds only duplicates),
 * refuses an unbalanced one with nothing booked; reconcile compares. */
START_TEST(import_and_reconcile)
{
    struct run run;
    CLI(&run, "clerk1", "case", "open", "--case-no", case_no, "--court", "Test Court");
    ck_assert_int_eq(run.status, 0);
    char statement[1024];
    snprintf(statement, sizeof statement,
             ":20:CLI-1\n:25:CUSTODY-1\n:28C:1/1\n:60F:C240102CNY0,00\n"
             ":61:2401020102C12,00NTRFNONREF//CLI-R1\n:86:/REMI/USTD//PAYIN %s\n"
             ":61:2401020102C3,00NTRFNONREF//CLI-R2\n:86:/REMI/USTD//for the court\n"
             ":62F:C240102CNY15,00\n-\n",
             string_of(&run, "payin_no"));
    run_free(&run);
    char path[FIXTURE_PATH_SIZE + 32];
    write_file(path, sizeof path, "cli-1.sta", statement);
    CLI(&run, "bank1", "import", path, "--bank-account", "CUSTODY-1");
    ck_assert_msg(run.status == 0, "%s", run.out);
    ck_assert_str_eq(string_of(&run, "format"), "mt940");
    ck_assert_int_eq(int_of(&run, "lines"), 2);
    ck_assert_int_eq(int_of(&run, "booked"), 1);
    ck_assert_int_eq(int_of(&run, "suspense"), 1);
    ck_assert_int_eq(int_of(&run, "difference"), 0);
    run_free(&run);
    ck_assert_int_eq(held_of(case_no), 1200);
    char *before = fixture_books_digest(&fx);
    CLI(&run, "bank1", "import", path, "--bank-account", "CUSTODY-1", "--format", "mt940");
    ck_assert_msg(run.status == 0, "%s", run.out);
    ck_assert_int_eq(int_of(&run, "duplicates"), 2);
    run_free(&run);
    char *unbalanced = strstr(statement, ":62F:C240102CNY15,00");
    ck_assert_ptr_nonnull(unbalanced);
    memcpy(unbalanced, ":62F:C240102CNY16,00", 20);
    write_file(path, sizeof path, "cli-2.sta", statement);
    CLI(&run, "bank1", "import", path, "--bank-account", "CUSTODY-1");
    expect_error(&run, 1, "statement_unbalanced");
    run_free(&run);
    CLI(&run, "bank1", "import", path, "--bank-account", "CUSTODY-9");
    expect_error(&run, 1, NULL);
    run_free(&run);
    char *after = fixture_books_digest(&fx);
    ck_assert_str_eq(before, after);
    free(after);
    free(before);
    CLI(&run, "bank1", "import", path, "--bank-account", "CUSTODY-1", "--format", "csv");
    expect_error(&run, 2, NULL); /* CSV needs --mapping */
    run_free(&run);
    unlink(path);
    snprintf(path, sizeof path, "%s/cli-1.sta", fx.key_dir);
    unlink(path);

    CLI(&run, NULL, "reconcile", "--bank-account", "CUSTODY-1", "--date", "2024-01-02");
    ck_assert_msg(run.status == 0, "%s", run.out);
    ck_assert_int_eq(int_of(&run, "closing"), 1500);
    ck_assert_int_eq(int_of(&run, "book_balance"), 1500);
    ck_assert_int_eq(int_of(&run, "unexplained"), 0);
    run_free(&run);
    CLI(&run, NULL, "reconcile", "--bank-account", "CUSTODY-9");
    expect_error(&run, 1, "unknown_account");
    run_free(&run);
    CLI(&run, NULL, "reconcile", "--bank-account", "CUSTODY-1", "--date", "2024-02-30");
    expect_error(&run, 1, NULL);
    run_free(&run);
    CLI(&run, NULL, "reconcile", "--date", "2024-01-02");
    expect_error(&run, 2, NULL);
    run_free(&run);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *suite = suite_create("cli");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup, teardown);
    tcase_set_timeout(core, 120);
    tcase_add_test(core, story);
    tcase_add_test(core, errors_and_usage);
    tcase_add_test(core, key_rotation);
    tcase_add_test(core, import_and_reconcile);
    suite_add_tcase(suite, core);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(cli_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

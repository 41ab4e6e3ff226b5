/* A ledger handle and the committer whose connection is lost: the backend
 * terminated (pg_terminate_backend, what a restart of PostgreSQL does to
 * it), or the database refusing connections for a while. The handle opens
 * a new connection with its session (jit off, lock_timeout) and prepares
 * its statements again; while it cannot, it answers LEDGER_ERR_UNAVAILABLE
 * at once and tries again no sooner than its back-off delay, which doubles
 * up to LEDGER_RECONNECT_DELAY_MAX_MS. */
#include <check.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_fixture.h"
#include "ledger.h"
#include "ledger_internal.h"
#include "test_clock.h"

Suite *db_reconnect_suite(void);

#define LOCK_WAIT_MS 1234 /* a session setting to find again after a reconnect */

static struct fixture fx;

static void setup(void)
{
    fixture_setup(&fx, "reconnect");
}

static void teardown(void)
{
    fixture_allow_connections(&fx, true);
    fixture_teardown(&fx);
}

static void cut_connections(void)
{
    ck_assert_int_gt(fixture_cut_connections(&fx), 0);
}

/* The first column of a one-row query through the handle's helpers. */
static void handle_text(struct ledger *ledger, const char *sql, char *out, size_t size)
{
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK, sql, 0, NULL);
    ck_assert_msg(result != NULL, "%s: %s", sql, ledger_last_detail(ledger));
    snprintf(out, size, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
}

static struct ledger *open_handle(void)
{
    struct ledger_config config = fx.config;
    config.lock_wait_ms = LOCK_WAIT_MS;
    struct ledger *ledger = NULL;
    char detail[256] = "";
    ck_assert_msg(ledger_open(&ledger, &config, detail, sizeof detail) == LEDGER_OK, "%s", detail);
    return ledger;
}

START_TEST(handle_reconnects_with_its_session)
{
    struct ledger *ledger = open_handle();
    char before[32];
    char after[32];
    char setting[32];
    handle_text(ledger, "SELECT pg_backend_pid()::text", before, sizeof before);
    ck_assert_int_eq(ledger_reconnect_if_lost(ledger), LEDGER_OK); /* up: nothing to do */
    ck_assert_int_eq(ledger_reconnects(ledger), 0);
    cut_connections();
    ck_assert_int_eq(ledger_reconnect_if_lost(ledger), LEDGER_OK);
    ck_assert_int_eq(ledger_reconnects(ledger), 1);
    /* The same statement again: prepared on the new connection, not
     * assumed from the old one. */
    handle_text(ledger, "SELECT pg_backend_pid()::text", after, sizeof after);
    ck_assert_str_ne(before, after);
    handle_text(ledger, "SELECT current_setting('lock_timeout')", setting, sizeof setting);
    ck_assert_str_eq(setting, "1234ms");
    handle_text(ledger, "SELECT current_setting('jit')", setting, sizeof setting);
    ck_assert_str_eq(setting, "off");
    ck_assert_int_eq(ledger_ping(ledger), LEDGER_OK);
    ledger_close(ledger);
}
END_TEST

/* A statement on a lost connection fails as LEDGER_ERR_UNAVAILABLE (its
 * outcome unknown), not as a plain database error. */
START_TEST(lost_connection_is_unavailable)
{
    struct ledger *ledger = open_handle();
    ck_assert_int_eq(ledger_ping(ledger), LEDGER_OK);
    cut_connections();
    ck_assert_int_eq(ledger_ping(ledger), LEDGER_ERR_UNAVAILABLE);
    ck_assert_int_eq(ledger_reconnect_if_lost(ledger), LEDGER_OK);
    ck_assert_int_eq(ledger_ping(ledger), LEDGER_OK);
    ledger_close(ledger);
}
END_TEST

/* While the database refuses: UNAVAILABLE at once, no new attempt before
 * the delay, the delay doubling to its bound; then back. */
START_TEST(backoff_while_refused)
{
    struct ledger *ledger = open_handle();
    fixture_allow_connections(&fx, false);
    cut_connections();
    int64_t started_ms = test_now_ms();
    ck_assert_int_eq(ledger_reconnect_if_lost(ledger), LEDGER_ERR_UNAVAILABLE);
    ck_assert_int_eq(ledger_reconnect_if_lost(ledger), LEDGER_ERR_UNAVAILABLE);
    ck_assert_msg(strstr(ledger_last_detail(ledger), "next attempt in") != NULL,
                  "a second call right after a failed attempt tried again: %s",
                  ledger_last_detail(ledger));
    ck_assert_int_eq(ledger_ping(ledger), LEDGER_ERR_UNAVAILABLE);
    ck_assert_int_lt(test_now_ms() - started_ms, 1000);
    /* Attempts every delay, for a while: the delay reaches its bound. */
    for (int attempt = 0; attempt < 8; attempt++) {
        test_sleep_ms(LEDGER_RECONNECT_DELAY_MAX_MS / 4);
        ck_assert_int_eq(ledger_reconnect_if_lost(ledger), LEDGER_ERR_UNAVAILABLE);
    }
    ck_assert_int_eq(ledger_reconnect_if_lost(ledger), LEDGER_ERR_UNAVAILABLE);
    long long next_ms = -1;
    const char *detail = strstr(ledger_last_detail(ledger), "next attempt in ");
    ck_assert_msg(detail != NULL && sscanf(detail, "next attempt in %lld ms", &next_ms) == 1, "%s",
                  ledger_last_detail(ledger));
    ck_assert_int_le(next_ms, LEDGER_RECONNECT_DELAY_MAX_MS);
    fixture_allow_connections(&fx, true);
    int64_t deadline = test_now_ms() + 2 * LEDGER_RECONNECT_DELAY_MAX_MS + 500;
    enum ledger_err err = LEDGER_ERR_UNAVAILABLE;
    while (err != LEDGER_OK && test_now_ms() < deadline) {
        err = ledger_reconnect_if_lost(ledger);
        test_sleep_ms(20);
    }
    ck_assert_int_eq(err, LEDGER_OK);
    ck_assert_int_eq(ledger_ping(ledger), LEDGER_OK);
    ledger_close(ledger);
}
END_TEST

static enum ledger_err receipt(struct ledger *ledger, const char *key)
{
    struct ledger_receipt_request request = {.case_no = "RECONNECT-1",
                                             .amount_minor = 500,
                                             .bank_ref = key,
                                             .value_date_days = LEDGER_VALUE_DATE_NONE};
    struct ledger_booking booking;
    return ledger_receipt(ledger, "clerk1", &request, key, &booking);
}

/* The committer's connection cut: the batch in flight (if any) answers
 * UNAVAILABLE, the next one reconnects; a receipt retried with its key
 * books once. */
START_TEST(committer_reconnects)
{
    struct ledger *ledger = fixture_ledger(&fx);
    (void)fixture_open_case(ledger, "RECONNECT-1", NULL);
    struct ledger_committer *committer = NULL;
    ck_assert_int_eq(ledger_committer_start(&committer, &fx.config, NULL, 0), LEDGER_OK);
    ledger_attach_committer(ledger, committer);
    ck_assert_int_eq(receipt(ledger, "commit-1"), LEDGER_OK);
    cut_connections();
    for (int round = 2; round <= 3; round++) {
        char key[32];
        snprintf(key, sizeof key, "commit-%d", round);
        enum ledger_err err = LEDGER_ERR_UNAVAILABLE;
        for (int attempt = 0; attempt < 100 && err != LEDGER_OK; attempt++) {
            err = ledger_reconnect_if_lost(ledger);
            if (err == LEDGER_OK)
                err = receipt(ledger, key);
            ck_assert_msg(err == LEDGER_OK || err == LEDGER_ERR_UNAVAILABLE, "%s: %s", key,
                          ledger_err_code(err));
            if (err != LEDGER_OK)
                test_sleep_ms(20);
        }
        ck_assert_int_eq(err, LEDGER_OK);
    }
    ledger_committer_stop(committer);
    ledger_close(ledger);
    ck_assert_int_eq(fixture_query_int(&fx, "SELECT count(*) FROM entries WHERE bank_ref LIKE "
                                            "'commit-%'"),
                     3);
}
END_TEST

Suite *db_reconnect_suite(void)
{
    Suite *suite = suite_create("db_reconnect");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, handle_reconnects_with_its_session);
    tcase_add_test(core, lost_connection_is_unavailable);
    tcase_add_test(core, backoff_while_refused);
    tcase_add_test(core, committer_reconnects);
    suite_add_tcase(suite, core);
    return suite;
}

int main(void)
{
    setenv("CK_DEFAULT_TIMEOUT", "120", 0);
    SRunner *runner = srunner_create(db_reconnect_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    fixture_drop_leftovers("reconnect");
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

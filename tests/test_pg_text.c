/* Unit suite for what the ledger reads from PostgreSQL's text: strict
 * int64 words (ledger_int64_from_text) and the rows of a two-dimensional
 * array of words (ledger_pg_rows, cl_case_status's lists). */
#include <check.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"

Suite *pg_text_suite(void);

START_TEST(int64_words)
{
    static const struct {
        const char *text;
        int64_t value;
    } good[] = {{"0", 0},
                {"-1", -1},
                {"42", 42},
                {"9223372036854775807", INT64_MAX},
                {"-9223372036854775808", INT64_MIN}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t value = 7;
        ck_assert_msg(ledger_int64_from_text(good[i].text, &value), "%s", good[i].text);
        ck_assert_int_eq(value, good[i].value);
    }
    static const char *const bad[] = {"",
                                      " 1",
                                      "+1",
                                      "1 ",
                                      "1x",
                                      "-",
                                      "0x10",
                                      "NULL",
                                      "9223372036854775808",
                                      "-9223372036854775809"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t value = 7;
        ck_assert_msg(!ledger_int64_from_text(bad[i], &value), "took \"%s\"", bad[i]);
        ck_assert_int_eq(value, 7);
    }
}
END_TEST

/* All rows of text, each row's words joined by '|' and rows by ';', or
 * "MALFORMED". */
static void read_rows(const char *text, size_t columns, char *out, size_t size)
{
    struct ledger_pg_rows rows;
    char words[8][LEDGER_PG_WORD_SIZE];
    ck_assert_uint_le(columns, 8);
    ledger_pg_rows_start(&rows, text, columns);
    out[0] = '\0';
    enum ledger_pg_rows_next next;
    while ((next = ledger_pg_rows_next(&rows, words)) == LEDGER_PG_ROWS_ROW) {
        if (out[0] != '\0')
            strncat(out, ";", size - strlen(out) - 1);
        for (size_t i = 0; i < columns; i++) {
            if (i > 0)
                strncat(out, "|", size - strlen(out) - 1);
            strncat(out, words[i], size - strlen(out) - 1);
        }
    }
    if (next == LEDGER_PG_ROWS_MALFORMED)
        snprintf(out, size, "MALFORMED");
    /* once ended or malformed, it stays so */
    ck_assert_int_eq(ledger_pg_rows_next(&rows, words), next);
}

START_TEST(array_rows)
{
    static const struct {
        const char *text;
        size_t columns;
        const char *rows;
    } cases[] = {
        {"{}", 3, ""},
        {"{{1,paid,NULL}}", 3, "1|paid|NULL"},
        {"{{-5,approved,1700000000000000},{7,paid,NULL}}", 3,
         "-5|approved|1700000000000000;7|paid|NULL"},
        {"{{1,2},{3,4},{5,6}}", 2, "1|2;3|4;5|6"},
        /* shapes it does not answer */
        {"{{1,2}}", 3, "MALFORMED"},                          /* too few words */
        {"{{1,2,3}}", 2, "MALFORMED"},                        /* too many */
        {"{{1,\"a b\",3}}", 3, "MALFORMED"},                  /* quoted */
        {"{{1,,3}}", 3, "MALFORMED"},                         /* empty word */
        {"{{1,2,3}", 3, "MALFORMED"},                         /* not closed */
        {"{{1,2,3}}x", 3, "MALFORMED"},                       /* trailing bytes */
        {"{1,2,3}", 3, "MALFORMED"},                          /* one dimension */
        {"", 3, "MALFORMED"},                                 /* nothing */
        {"{{1,2,3},}", 3, "MALFORMED"},                       /* a comma and no row */
        {"{{123456789012345678901234,2,3}}", 3, "MALFORMED"}, /* a word too long */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        read_rows(cases[i].text, cases[i].columns, out, sizeof out);
        ck_assert_msg(strcmp(out, cases[i].rows) == 0, "%s: \"%s\", want \"%s\"", cases[i].text,
                      out, cases[i].rows);
    }
}
END_TEST

Suite *pg_text_suite(void)
{
    Suite *suite = suite_create("pg_text");
    TCase *words = tcase_create("words");
    tcase_add_test(words, int64_words);
    tcase_add_test(words, array_rows);
    suite_add_tcase(suite, words);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(pg_text_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

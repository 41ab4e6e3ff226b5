/* Unit suite for ledger/money.c: every accept/reject rule of the decimal
 * parser is pinned here with its reason, next to format, arithmetic and the
 * currency table. */
#include <check.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "money.h"

Suite *money_suite(void);

#define NEG LEDGER_MONEY_ALLOW_NEGATIVE
#define COMMA LEDGER_MONEY_ALLOW_COMMA
#define SENTINEL_MINOR INT64_C(0x5a5a5a5a5a5a5a5a)
#define ROWS(table) ((int)(sizeof(table) / sizeof((table)[0])))

/* A copy of text on the heap without its NUL, so that a read past `length`
 * is caught by ASan and valgrind; freed by the caller. */
static char *copy_exact(const char *text, size_t length)
{
    char *copy = malloc(length > 0 ? length : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, text, length);
    return copy;
}

/* ---- parse: accepted text ---------------------------------------------- */

struct parse_accept_row {
    const char *text;
    int decimals;
    unsigned flags;
    int64_t expected_minor;
    const char *reason;
};

static const struct parse_accept_row parse_accept_rows[] = {
    {"1234.56", 2, 0, 123456, "plain amount with all fraction digits"},
    {"1234.5", 2, 0, 123450, "fewer fraction digits are padded with zeros"},
    {"1234", 2, 0, 123400, "no fraction at all"},
    {"0", 2, 0, 0, "zero is valid text; positivity is the caller's rule"},
    {"0.00", 2, 0, 0, "zero with fraction digits"},
    {"0.05", 2, 0, 5, "fraction only below one unit"},
    {"007.50", 2, 0, 750, "leading zeros are accepted"},
    {"000", 0, 0, 0, "leading zeros of zero"},
    {"7", 0, 0, 7, "0-decimal currency (JPY), whole units"},
    {"1.234", 3, 0, 1234, "3-decimal currency (KWD)"},
    {"1.2", 3, 0, 1200, "3 decimals, padded"},
    {"1.2345", 4, 0, 12345, "4-decimal currency (CLF)"},
    {"1,5", 2, COMMA, 150, "comma as the separator when allowed"},
    {"1234,56", 2, COMMA, 123456, "MT940 style amount"},
    {"-1234.56", 2, NEG, -123456, "negative when allowed"},
    {"-0.01", 2, NEG, -1, "smallest negative amount"},
    {"-1,23", 2, NEG | COMMA, -123, "negative with comma separator"},
    {"5", 2, NEG, 500, "ALLOW_NEGATIVE does not require a sign"},
    {"92233720368547758.07", 2, 0, INT64_MAX, "INT64_MAX with 2 decimals"},
    {"-92233720368547758.08", 2, NEG, INT64_MIN, "INT64_MIN with 2 decimals"},
    {"9223372036854775807", 0, 0, INT64_MAX, "INT64_MAX with 0 decimals"},
    {"-9223372036854775808", 0, NEG, INT64_MIN, "INT64_MIN with 0 decimals"},
    {"922337203685477.5807", 4, 0, INT64_MAX, "INT64_MAX with 4 decimals"},
    {"-922337203685477.5808", 4, NEG, INT64_MIN, "INT64_MIN with 4 decimals"},
    {"0009223372036854775807", 0, 0, INT64_MAX, "leading zeros do not count toward overflow"},
};

START_TEST(parse_accepts)
{
    const struct parse_accept_row *row = &parse_accept_rows[_i];
    const size_t length = strlen(row->text);
    char *text = copy_exact(row->text, length);
    int64_t minor = SENTINEL_MINOR;
    enum ledger_err err = ledger_money_parse(&minor, text, length, row->decimals, row->flags);
    free(text);
    ck_assert_msg(err == LEDGER_OK, "\"%s\" (%s): got error %d", row->text, row->reason, (int)err);
    ck_assert_msg(minor == row->expected_minor, "\"%s\" (%s): got %" PRId64 ", want %" PRId64,
                  row->text, row->reason, minor, row->expected_minor);
}
END_TEST

/* ---- parse: rejected text ---------------------------------------------- */

struct parse_reject_row {
    const char *text;
    int decimals;
    unsigned flags;
    enum ledger_err expected_err;
    const char *reason;
};

static const struct parse_reject_row parse_reject_rows[] = {
    {"", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "empty text"},
    {"", 2, NEG | COMMA, LEDGER_ERR_INVALID_AMOUNT, "empty text, whatever the flags"},
    {"NaN", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "not a number"},
    {"nan", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "not a number, lower case"},
    {"inf", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "infinity"},
    {"-Infinity", 2, NEG, LEDGER_ERR_INVALID_AMOUNT, "negative infinity"},
    {" 1", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "leading space"},
    {"1 ", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "trailing space"},
    {"\t1", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "leading tab"},
    {"1\n", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "trailing newline"},
    {"+1", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "plus sign"},
    {"+1", 2, NEG, LEDGER_ERR_INVALID_AMOUNT, "plus sign, even when negatives are allowed"},
    {"1.", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "separator without fraction digits"},
    {".5", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "no integer digit"},
    {"-.5", 2, NEG, LEDGER_ERR_INVALID_AMOUNT, "no integer digit after the sign"},
    {".", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "separator alone"},
    {"-", 2, NEG, LEDGER_ERR_INVALID_AMOUNT, "sign alone"},
    {"--1", 2, NEG, LEDGER_ERR_INVALID_AMOUNT, "double sign"},
    {"1-", 2, NEG, LEDGER_ERR_INVALID_AMOUNT, "trailing sign"},
    {"1,234.56", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "grouping comma"},
    {"1,234.56", 2, COMMA, LEDGER_ERR_INVALID_AMOUNT, "grouping comma read as separator: 3 digits"},
    {"1.234,56", 2, COMMA, LEDGER_ERR_INVALID_AMOUNT, "grouping point with comma separator"},
    {"1 234.56", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "grouping space"},
    {"1'234.56", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "grouping apostrophe"},
    {"1_234", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "grouping underscore"},
    {"1e3", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "exponent"},
    {"1E3", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "exponent, upper case"},
    {"1.5e2", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "exponent after a fraction"},
    {"0x10", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "hexadecimal"},
    {"-0", 2, NEG, LEDGER_ERR_INVALID_AMOUNT, "negative zero"},
    {"-0.00", 2, NEG, LEDGER_ERR_INVALID_AMOUNT, "negative zero with fraction"},
    {"-000", 0, NEG, LEDGER_ERR_INVALID_AMOUNT, "negative zero with leading zeros"},
    {"-0", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "sign without ALLOW_NEGATIVE"},
    {"-5", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "negative without ALLOW_NEGATIVE"},
    {"0.001", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "more fraction digits than the currency has"},
    {"1.230", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "a trailing zero is still a digit too many"},
    {"1.0", 0, 0, LEDGER_ERR_INVALID_AMOUNT, "0-decimal currency takes no separator"},
    {"1.", 0, 0, LEDGER_ERR_INVALID_AMOUNT, "0-decimal currency, bare separator"},
    {"1.2345", 3, 0, LEDGER_ERR_INVALID_AMOUNT, "4 digits for a 3-decimal currency"},
    {"1.23456", 4, 0, LEDGER_ERR_INVALID_AMOUNT, "5 digits for a 4-decimal currency"},
    {"1,5", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "comma without ALLOW_COMMA"},
    {"1.5", 2, COMMA, LEDGER_ERR_INVALID_AMOUNT, "point when the separator is comma"},
    {"1.2.3", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "two separators"},
    {"1..2", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "double separator"},
    {"1.5x", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "trailing letter"},
    {"12a", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "letter in the digits"},
    {"\xef\xbc\x91", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "full-width digit one (UTF-8)"},
    {"\xd9\xa1", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "Arabic-Indic digit one (UTF-8)"},
    {"CNY 1.00", 2, 0, LEDGER_ERR_INVALID_AMOUNT, "currency code in the text"},
    {"92233720368547758.08", 2, 0, LEDGER_ERR_OVERFLOW, "INT64_MAX + 1"},
    {"-92233720368547758.09", 2, NEG, LEDGER_ERR_OVERFLOW, "INT64_MIN - 1"},
    {"9223372036854775808", 0, 0, LEDGER_ERR_OVERFLOW, "INT64_MAX + 1, 0 decimals"},
    {"92233720368547759", 2, 0, LEDGER_ERR_OVERFLOW, "fits as units, not as minor units"},
    {"18446744073709551616", 0, 0, LEDGER_ERR_OVERFLOW, "2^64: wraps to 0 unless checked"},
    {"1844674407370955.1616", 4, 0, LEDGER_ERR_OVERFLOW, "2^64 minor units, 4 decimals"},
    {"99999999999999999999", 0, 0, LEDGER_ERR_OVERFLOW, "20 nines, beyond uint64 too"},
    {"99999999999999999999.999", 2, 0, LEDGER_ERR_INVALID_AMOUNT,
     "bad text is reported as bad text even when its digits overflow"},
};

START_TEST(parse_rejects)
{
    const struct parse_reject_row *row = &parse_reject_rows[_i];
    const size_t length = strlen(row->text);
    char *text = copy_exact(row->text, length);
    int64_t minor = SENTINEL_MINOR;
    enum ledger_err err = ledger_money_parse(&minor, text, length, row->decimals, row->flags);
    free(text);
    ck_assert_msg(err == row->expected_err, "\"%s\" (%s): got error %d, want %d", row->text,
                  row->reason, (int)err, (int)row->expected_err);
    ck_assert_msg(minor == SENTINEL_MINOR, "\"%s\" (%s): *out_minor was written", row->text,
                  row->reason);
}
END_TEST

/* ---- format ------------------------------------------------------------ */

struct format_row {
    int64_t amount_minor;
    int decimals;
    const char *expected_text;
};

static const struct format_row format_rows[] = {
    {123456, 2, "1234.56"},
    {-123456, 2, "-1234.56"},
    {123450, 2, "1234.50"},
    {5, 2, "0.05"},
    {-5, 2, "-0.05"},
    {0, 2, "0.00"},
    {0, 0, "0"},
    {7, 0, "7"},
    {-7, 0, "-7"},
    {100, 2, "1.00"},
    {10, 1, "1.0"},
    {1234, 3, "1.234"},
    {1, 3, "0.001"},
    {1, 4, "0.0001"},
    {-1, 4, "-0.0001"},
    {INT64_MAX, 2, "92233720368547758.07"},
    {INT64_MIN, 2, "-92233720368547758.08"},
    {INT64_MAX, 0, "9223372036854775807"},
    {INT64_MIN, 0, "-9223372036854775808"},
    {INT64_MIN, 4, "-922337203685477.5808"},
    {INT64_MIN + 1, 2, "-92233720368547758.07"},
};

START_TEST(format_known)
{
    const struct format_row *row = &format_rows[_i];
    char buffer[LEDGER_AMOUNT_TEXT_MAX];
    size_t written = ledger_money_format(buffer, sizeof buffer, row->amount_minor, row->decimals);
    ck_assert_str_eq(buffer, row->expected_text);
    ck_assert_uint_eq(written, strlen(row->expected_text));
}
END_TEST

/* ---- arithmetic -------------------------------------------------------- */

START_TEST(arithmetic_core)
{
    int64_t result = 0;
    ck_assert_int_eq(ledger_money_add(&result, 123456, 44), LEDGER_OK);
    ck_assert_int_eq(result, 123500);
    ck_assert_int_eq(ledger_money_add(&result, -5, 5), LEDGER_OK);
    ck_assert_int_eq(result, 0);
    ck_assert_int_eq(ledger_money_sub(&result, 100, 250), LEDGER_OK);
    ck_assert_int_eq(result, -150);
    ck_assert_int_eq(ledger_money_negate(&result, 42), LEDGER_OK);
    ck_assert_int_eq(result, -42);
    ck_assert_int_eq(ledger_money_negate(&result, 0), LEDGER_OK);
    ck_assert_int_eq(result, 0);
}
END_TEST

/* ---- currencies -------------------------------------------------------- */

struct currency_row {
    const char *code;
    int expected_decimals;
};

static const struct currency_row currency_rows[] = {
    {"CNY", 2}, {"USD", 2},  {"EUR", 2}, {"HKD", 2},   {"GBP", 2}, {"CHF", 2},  {"JPY", 0},
    {"KRW", 0}, {"KWD", 3},  {"BHD", 3}, {"JOD", 3},   {"OMR", 3}, {"CLF", 4},  {"XYZ", 2},
    {"ZZZ", 2}, {"cny", -1}, {"CN", -1}, {"CNYX", -1}, {"", -1},   {"C1Y", -1}, {"CN ", -1},
};

START_TEST(currency_decimals_known)
{
    const struct currency_row *row = &currency_rows[_i];
    ck_assert_msg(ledger_currency_decimals(row->code) == row->expected_decimals,
                  "\"%s\": got %d, want %d", row->code, ledger_currency_decimals(row->code),
                  row->expected_decimals);
    ck_assert_msg(ledger_currency_valid(row->code) == (row->expected_decimals >= 0),
                  "\"%s\": validity", row->code);
}
END_TEST

START_TEST(currency_null)
{
    ck_assert(!ledger_currency_valid(NULL));
    ck_assert_int_eq(ledger_currency_decimals(NULL), -1);
}
END_TEST

/* ---- limits ------------------------------------------------------------ */

START_TEST(parse_respects_length)
{
    int64_t minor = 0;
    /* Only `length` bytes are read: no NUL is needed and none is looked for. */
    ck_assert_int_eq(ledger_money_parse(&minor, "12345", 3, 2, 0), LEDGER_OK);
    ck_assert_int_eq(minor, 12300);
    ck_assert_int_eq(ledger_money_parse(&minor, "1.5xyz", 3, 2, 0), LEDGER_OK);
    ck_assert_int_eq(minor, 150);
    /* An embedded NUL is a byte like any other: not a digit. */
    minor = SENTINEL_MINOR;
    ck_assert_int_eq(ledger_money_parse(&minor, "1\0", 2, 2, 0), LEDGER_ERR_INVALID_AMOUNT);
    ck_assert_int_eq(ledger_money_parse(&minor, "1.\0", 3, 2, 0), LEDGER_ERR_INVALID_AMOUNT);
    ck_assert(minor == SENTINEL_MINOR);
}
END_TEST

START_TEST(parse_text_limit)
{
    char text[LEDGER_AMOUNT_TEXT_MAX + 2];
    int64_t minor = SENTINEL_MINOR;
    /* LEDGER_AMOUNT_TEXT_MAX bytes of leading zeros then "1": accepted. */
    memset(text, '0', sizeof text);
    text[LEDGER_AMOUNT_TEXT_MAX - 1] = '1';
    ck_assert_int_eq(ledger_money_parse(&minor, text, LEDGER_AMOUNT_TEXT_MAX, 2, 0), LEDGER_OK);
    ck_assert_int_eq(minor, 100);
    /* One byte more: refused as text, before any digit is looked at. */
    minor = SENTINEL_MINOR;
    text[LEDGER_AMOUNT_TEXT_MAX - 1] = '0';
    text[LEDGER_AMOUNT_TEXT_MAX] = '1';
    ck_assert_int_eq(ledger_money_parse(&minor, text, LEDGER_AMOUNT_TEXT_MAX + 1, 2, 0),
                     LEDGER_ERR_INVALID_AMOUNT);
    ck_assert(minor == SENTINEL_MINOR);
}
END_TEST

START_TEST(format_buffer_size)
{
    char buffer[8];
    /* "-1234.56" is 8 bytes: needs 9 with the NUL. */
    memset(buffer, 'x', sizeof buffer);
    ck_assert_uint_eq(ledger_money_format(buffer, sizeof buffer, -123456, 2), 0);
    ck_assert_str_eq(buffer, "");
    ck_assert_uint_eq(ledger_money_format(buffer, sizeof buffer, 123456, 2), 7);
    ck_assert_str_eq(buffer, "1234.56");
    ck_assert_uint_eq(ledger_money_format(buffer, 1, 0, 0), 0);
    ck_assert_str_eq(buffer, "");
    buffer[0] = 'x';
    ck_assert_uint_eq(ledger_money_format(buffer, 0, 5, 2), 0);
    ck_assert_int_eq(buffer[0], 'x'); /* size 0: nothing written */
    ck_assert_uint_eq(ledger_money_format(NULL, 0, 5, 2), 0);
}
END_TEST

START_TEST(format_longest)
{
    char buffer[22]; /* "-922337203685477.5808" + NUL, exactly */
    ck_assert_uint_eq(ledger_money_format(buffer, sizeof buffer, INT64_MIN, 4), 21);
    ck_assert_str_eq(buffer, "-922337203685477.5808");
    ck_assert_uint_eq(ledger_money_format(buffer, sizeof buffer - 1, INT64_MIN, 4), 0);
}
END_TEST

/* Values for the round trip: the limits and their neighbours, then values
 * from a fixed linear congruential sequence (no randomness between runs). */
static int64_t round_trip_value(int index)
{
    static const int64_t edges[] = {0,
                                    1,
                                    -1,
                                    9,
                                    -9,
                                    10,
                                    -10,
                                    99,
                                    100,
                                    -100,
                                    INT64_MAX,
                                    INT64_MIN,
                                    INT64_MAX - 1,
                                    INT64_MIN + 1};
    const int edge_count = ROWS(edges);
    uint64_t state = 0x9e3779b97f4a7c15u;
    if (index < edge_count)
        return edges[index];
    for (int step = edge_count; step <= index; step++)
        state = state * 6364136223846793005u + 1442695040888963407u;
    /* Shift some values down so that small magnitudes are covered too. */
    state >>= (unsigned)(index % 60);
    return (int64_t)(state ^ (index % 2 ? ~(uint64_t)0 : 0u));
}

#define ROUND_TRIP_VALUES 200

START_TEST(format_parse_round_trip)
{
    int64_t amount_minor = round_trip_value(_i);
    for (int decimals = 0; decimals <= 4; decimals++) {
        char buffer[LEDGER_AMOUNT_TEXT_MAX];
        int64_t parsed = SENTINEL_MINOR;
        size_t length = ledger_money_format(buffer, sizeof buffer, amount_minor, decimals);
        ck_assert_uint_gt(length, 0);
        ck_assert_int_eq(ledger_money_parse(&parsed, buffer, length, decimals, NEG), LEDGER_OK);
        ck_assert_msg(parsed == amount_minor, "%" PRId64 " -> \"%s\" -> %" PRId64, amount_minor,
                      buffer, parsed);
    }
}
END_TEST

START_TEST(arithmetic_limits)
{
    int64_t result = 0;
    ck_assert_int_eq(ledger_money_add(&result, INT64_MAX - 1, 1), LEDGER_OK);
    ck_assert(result == INT64_MAX);
    ck_assert_int_eq(ledger_money_add(&result, INT64_MIN, INT64_MAX), LEDGER_OK);
    ck_assert_int_eq(result, -1);
    ck_assert_int_eq(ledger_money_sub(&result, INT64_MIN + 1, 1), LEDGER_OK);
    ck_assert(result == INT64_MIN);
    ck_assert_int_eq(ledger_money_sub(&result, -1, INT64_MAX), LEDGER_OK);
    ck_assert(result == INT64_MIN);
    ck_assert_int_eq(ledger_money_negate(&result, INT64_MAX), LEDGER_OK);
    ck_assert(result == INT64_MIN + 1);
    ck_assert_int_eq(ledger_money_negate(&result, INT64_MIN + 1), LEDGER_OK);
    ck_assert(result == INT64_MAX);
}
END_TEST

/* ---- errors ------------------------------------------------------------ */

START_TEST(arithmetic_overflow)
{
    int64_t result = SENTINEL_MINOR;
    ck_assert_int_eq(ledger_money_add(&result, INT64_MAX, 1), LEDGER_ERR_OVERFLOW);
    ck_assert_int_eq(ledger_money_add(&result, INT64_MIN, -1), LEDGER_ERR_OVERFLOW);
    ck_assert_int_eq(ledger_money_add(&result, INT64_MAX, INT64_MAX), LEDGER_ERR_OVERFLOW);
    ck_assert_int_eq(ledger_money_sub(&result, INT64_MIN, 1), LEDGER_ERR_OVERFLOW);
    ck_assert_int_eq(ledger_money_sub(&result, INT64_MAX, -1), LEDGER_ERR_OVERFLOW);
    ck_assert_int_eq(ledger_money_sub(&result, 0, INT64_MIN), LEDGER_ERR_OVERFLOW);
    ck_assert_int_eq(ledger_money_negate(&result, INT64_MIN), LEDGER_ERR_OVERFLOW);
    ck_assert_msg(result == SENTINEL_MINOR, "*out written on overflow");
}
END_TEST

START_TEST(invalid_arguments)
{
    int64_t minor = SENTINEL_MINOR;
    char buffer[LEDGER_AMOUNT_TEXT_MAX];
    ck_assert_int_eq(ledger_money_parse(NULL, "1", 1, 2, 0), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_money_parse(&minor, NULL, 0, 2, 0), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_money_parse(&minor, "1", 1, -1, 0), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_money_parse(&minor, "1", 1, 5, 0), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_money_parse(&minor, "1", 1, 2, 0x4u), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert(minor == SENTINEL_MINOR);
    ck_assert_int_eq(ledger_money_add(NULL, 1, 1), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_money_sub(NULL, 1, 1), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_money_negate(NULL, 1), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(ledger_money_format(buffer, sizeof buffer, 1, 5), 0);
    ck_assert_str_eq(buffer, "");
    ck_assert_uint_eq(ledger_money_format(buffer, sizeof buffer, 1, -1), 0);
    ck_assert_str_eq(buffer, "");
}
END_TEST

Suite *money_suite(void)
{
    Suite *suite = suite_create("money");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_loop_test(core, parse_accepts, 0, ROWS(parse_accept_rows));
    tcase_add_loop_test(core, format_known, 0, ROWS(format_rows));
    tcase_add_test(core, arithmetic_core);
    tcase_add_loop_test(core, currency_decimals_known, 0, ROWS(currency_rows));
    tcase_add_test(core, currency_null);
    suite_add_tcase(suite, core);

    tcase_add_test(limits, parse_respects_length);
    tcase_add_test(limits, parse_text_limit);
    tcase_add_test(limits, format_buffer_size);
    tcase_add_test(limits, format_longest);
    tcase_add_loop_test(limits, format_parse_round_trip, 0, ROUND_TRIP_VALUES);
    tcase_add_test(limits, arithmetic_limits);
    suite_add_tcase(suite, limits);

    tcase_add_loop_test(errors, parse_rejects, 0, ROWS(parse_reject_rows));
    tcase_add_test(errors, arithmetic_overflow);
    tcase_add_test(errors, invalid_arguments);
    suite_add_tcase(suite, errors);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(money_suite());
    int failed;
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

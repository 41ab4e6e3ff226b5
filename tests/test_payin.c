/* Unit suite for ledger/payin.c: ISO 7064 MOD 97-10 known answers, error
 * detection (every single substitution, every adjacent transposition),
 * normalizing and finding a pay-in number in free text. */
#include <check.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "payin.h"

Suite *payin_suite(void);

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

/* ---- known answers ------------------------------------------------------
 * Computed independently with python3, e.g.
 *   python3 -c 'b="12345678901234"; print(98 - (int(b) * 100) % 97)'
 * and each full number checked with int(number) % 97 == 1. */

struct make_row {
    uint64_t body;
    const char *expected_number;
};

static const struct make_row make_rows[] = {
    {12345678901234u, "1234567890123428"},
    {0u, "0000000000000098"},
    {99999999999999u, "9999999999999939"},
    {88000000001234u, "8800000000123474"},
    {1u, "0000000000000195"},
    {20240000000042u, "2024000000004240"},
    {31415926535897u, "3141592653589728"},
    {88000000123456u, "8800000012345668"},
    {97u, "0000000000009798"},
    {50000000000000u, "5000000000000067"},
    {32u, "0000000000003202"},
    {65u, "0000000000006597"},
};

START_TEST(make_known)
{
    const struct make_row *row = &make_rows[_i];
    char number[LEDGER_PAYIN_DIGITS + 1];
    memset(number, 'x', sizeof number);
    ck_assert_int_eq(ledger_payin_make(number, row->body), LEDGER_OK);
    ck_assert_str_eq(number, row->expected_number);
    ck_assert_int_eq(ledger_payin_check(number, LEDGER_PAYIN_DIGITS), LEDGER_OK);
}
END_TEST

struct check_digits_row {
    const char *digits;
    int expected_check;
    const char *source;
};

static const struct check_digits_row check_digits_rows[] = {
    {"12345678901234", 28, "body of 1234567890123428"},
    {"00000000000000", 98, "zero body"},
    {"0", 98, "one digit"},
    {"1", 95, "one digit"},
    {"9", 71, "one digit"},
    {"12", 62, "two digits"},
    /* ISO 13616 IBAN examples: BBAN + country letters as digits, check 82 / 89. */
    {"32142829123456987654321611", 82, "GB82 WEST 1234 5698 7654 32"},
    {"3704004405320130001314", 89, "DE89 3704 0044 0532 0130 00"},
    {"1234567890123456789012345678901", 87, "31 digits"},
    {"12345678901234567890123456789012", 79, "32 digits, the longest accepted"},
};

START_TEST(check_digits_known)
{
    const struct check_digits_row *row = &check_digits_rows[_i];
    int check = ledger_mod97_check_digits(row->digits, strlen(row->digits));
    ck_assert_msg(check == row->expected_check, "%s (%s): got %d, want %d", row->digits,
                  row->source, check, row->expected_check);
}
END_TEST

/* ---- normalize ---------------------------------------------------------- */

struct normalize_row {
    const char *text;
    enum ledger_err expected_err;
    const char *expected_out;
    const char *reason;
};

static const struct normalize_row normalize_rows[] = {
    {"8800000000123474", LEDGER_OK, "8800000000123474", "already plain"},
    {"8800 0000 0012 3474", LEDGER_OK, "8800000000123474", "groups of four with spaces"},
    {"8800-0000-0012-3474", LEDGER_OK, "8800000000123474", "groups with hyphens"},
    {" 8800  0000-0012 - 3474 ", LEDGER_OK, "8800000000123474", "any spaces and hyphens"},
    {"8800 0000 0012 3475", LEDGER_ERR_INVALID_PAYIN, "8800000000123475", "bad check digits"},
    {"8800 0000 0012 347", LEDGER_ERR_INVALID_PAYIN, "", "15 digits"},
    {"8800 0000 0012 34745", LEDGER_ERR_INVALID_PAYIN, "", "17 digits"},
    {"8800 0000 0012 3474 5678 9012 3456 7890", LEDGER_ERR_INVALID_PAYIN, "",
     "32 digits: never written past out"},
    {"8800\t0000 0012 3474", LEDGER_ERR_INVALID_PAYIN, "", "tab is not dropped"},
    {"8800.0000.0012.3474", LEDGER_ERR_INVALID_PAYIN, "", "points are not dropped"},
    {"8800_0000_0012_3474", LEDGER_ERR_INVALID_PAYIN, "", "underscores are not dropped"},
    {"", LEDGER_ERR_INVALID_PAYIN, "", "empty"},
    {" - ", LEDGER_ERR_INVALID_PAYIN, "", "separators only"},
    {"0000 0000 0000 0001", LEDGER_ERR_INVALID_PAYIN, "0000000000000001", "check 01 not issued"},
};

START_TEST(normalize_known)
{
    const struct normalize_row *row = &normalize_rows[_i];
    char out[LEDGER_PAYIN_DIGITS + 1];
    enum ledger_err err;
    size_t length;
    char *text;
    memset(out, 'x', sizeof out);
    length = strlen(row->text);
    text = copy_exact(row->text, length);
    err = ledger_payin_normalize(out, text, length);
    free(text);
    ck_assert_msg(err == row->expected_err, "\"%s\" (%s): got error %d", row->text, row->reason,
                  (int)err);
    ck_assert_msg(strcmp(out, row->expected_out) == 0, "\"%s\" (%s): out \"%s\"", row->text,
                  row->reason, out);
}
END_TEST

/* ---- find in free text --------------------------------------------------- */

struct find_row {
    const char *text;
    enum ledger_err expected_err;
    const char *expected_out;
    const char *reason;
};

static const struct find_row find_rows[] = {
    {"8800000000123474", LEDGER_OK, "8800000000123474", "the number alone"},
    {"ref 8800 0000 0012 3474 thanks", LEDGER_OK, "8800000000123474", "groups of four joined"},
    {"88000000 00123474", LEDGER_OK, "8800000000123474", "groups of eight joined"},
    {"1 2 3 4 5 6 7 8 9 0 1 2 3 4 2 8", LEDGER_OK, "1234567890123428", "single digits joined"},
    {"REF8800000000123474", LEDGER_OK, "8800000000123474", "letters may touch the run"},
    {"8800000000123474.", LEDGER_OK, "8800000000123474", "punctuation may touch the run"},
    {"100 8800000000123474", LEDGER_OK, "8800000000123474",
     "a number one space before is not adjacent"},
    {"8800000000123474 100", LEDGER_OK, "8800000000123474",
     "a number one space after is not adjacent"},
    {"2024 8800 0000 0012 3474", LEDGER_OK, "8800000000123474",
     "the valid later candidate wins over 2024880000000012"},
    {"bad 8800000000123475 good 1234567890123428", LEDGER_OK, "1234567890123428",
     "a valid run after an invalid one wins"},
    {"\xe6\xa1\x88\xe5\x8f\xb7 8800000000123474 \xe5\x8f\xb7", LEDGER_OK, "8800000000123474",
     "UTF-8 text around it"},
    {"8800000000123475", LEDGER_ERR_INVALID_PAYIN, "8800000000123475", "bad check digits"},
    {"1234567890123429 and 8800000000123475", LEDGER_ERR_INVALID_PAYIN, "1234567890123429",
     "only invalid runs: the first is reported"},
    {"2024 8800 0000 0012 3475", LEDGER_ERR_INVALID_PAYIN, "2024880000000012",
     "only invalid candidates: the first is reported"},
    {"0000000000000001", LEDGER_ERR_INVALID_PAYIN, "0000000000000001", "check 01 not issued"},
    {"88000000001234740", LEDGER_ERR_UNKNOWN_CASE, "", "17 digits"},
    {"98800000000123474", LEDGER_ERR_UNKNOWN_CASE, "", "a digit adjacent in front"},
    {"880000000012347", LEDGER_ERR_UNKNOWN_CASE, "", "15 digits"},
    {"8800  0000 0012 3474", LEDGER_ERR_UNKNOWN_CASE, "", "two spaces do not join"},
    {"8800-0000-0012-3474", LEDGER_ERR_UNKNOWN_CASE, "", "hyphens do not join here"},
    {"8800\t0000 0012 3474", LEDGER_ERR_UNKNOWN_CASE, "", "a tab does not join"},
    {"8800 0000 0012 34745", LEDGER_ERR_UNKNOWN_CASE, "", "groups adding up to 17"},
    {"case (2024)\xe6\xb2\xaa"
     "0115\xe6\x89\xa7"
     "1234\xe5\x8f\xb7",
     LEDGER_ERR_UNKNOWN_CASE, "", "a case number is no pay-in number"},
    {"", LEDGER_ERR_UNKNOWN_CASE, "", "empty text"},
    {"no digits at all", LEDGER_ERR_UNKNOWN_CASE, "", "no digits"},
    {"8800 0000 0012 3474 ", LEDGER_OK, "8800000000123474", "trailing space"},
    {"8800 0000 0012 347 4", LEDGER_OK, "8800000000123474", "uneven groups still add up"},
};

START_TEST(find_known)
{
    const struct find_row *row = &find_rows[_i];
    char out[LEDGER_PAYIN_DIGITS + 1];
    enum ledger_err err;
    size_t length;
    char *text;
    memset(out, 'x', sizeof out);
    length = strlen(row->text);
    text = copy_exact(row->text, length);
    err = ledger_payin_find(out, text, length);
    free(text);
    ck_assert_msg(err == row->expected_err, "\"%s\" (%s): got error %d, want %d", row->text,
                  row->reason, (int)err, (int)row->expected_err);
    ck_assert_msg(strcmp(out, row->expected_out) == 0, "\"%s\" (%s): out \"%s\"", row->text,
                  row->reason, out);
}
END_TEST

/* ---- limits: detection and the whole body range -------------------------- */

/* Valid numbers whose every variant must be refused. */
static const char *const detect_numbers[] = {
    "1234567890123428", "8800000000123474", "0000000000000098", "9999999999999939",
    "3141592653589728", "2024000000004240", "0000000000009798",
};

START_TEST(single_substitution_detected)
{
    const char *number = detect_numbers[_i];
    char variant[LEDGER_PAYIN_DIGITS + 1];
    int variant_count = 0;
    ck_assert_int_eq(ledger_payin_check(number, LEDGER_PAYIN_DIGITS), LEDGER_OK);
    for (size_t position = 0; position < LEDGER_PAYIN_DIGITS; position++) {
        for (int digit = 0; digit <= 9; digit++) {
            if ((char)('0' + digit) == number[position])
                continue;
            memcpy(variant, number, sizeof variant);
            variant[position] = (char)('0' + digit);
            ck_assert_msg(ledger_payin_check(variant, LEDGER_PAYIN_DIGITS) ==
                              LEDGER_ERR_INVALID_PAYIN,
                          "%s not detected (from %s)", variant, number);
            variant_count++;
        }
    }
    ck_assert_int_eq(variant_count, (intmax_t)LEDGER_PAYIN_DIGITS * 9);
}
END_TEST

START_TEST(adjacent_transposition_detected)
{
    const char *number = detect_numbers[_i];
    char variant[LEDGER_PAYIN_DIGITS + 1];
    for (size_t position = 0; position + 1 < LEDGER_PAYIN_DIGITS; position++) {
        if (number[position] == number[position + 1])
            continue; /* swapping equal digits changes nothing */
        memcpy(variant, number, sizeof variant);
        variant[position] = number[position + 1];
        variant[position + 1] = number[position];
        ck_assert_msg(ledger_payin_check(variant, LEDGER_PAYIN_DIGITS) == LEDGER_ERR_INVALID_PAYIN,
                      "%s not detected (from %s)", variant, number);
    }
}
END_TEST

/* An oracle independent of payin.c: a 16-digit number fits in uint64_t. */
static uint64_t number_value(const char *number)
{
    uint64_t value = 0;
    for (size_t index = 0; index < LEDGER_PAYIN_DIGITS; index++)
        value = value * 10u + (uint64_t)(number[index] - '0');
    return value;
}

#define SWEEP_STEPS 400

START_TEST(body_sweep)
{
    /* Bodies spread over the whole range, plus those near either end. */
    const uint64_t body_max = LEDGER_PAYIN_BODY_MAX;
    const uint64_t offset = (uint64_t)_i;
    const uint64_t step = body_max / (SWEEP_STEPS - 1);
    const uint64_t bodies[] = {offset * step, offset, body_max - offset};
    for (size_t index = 0; index < sizeof bodies / sizeof bodies[0]; index++) {
        char number[LEDGER_PAYIN_DIGITS + 1];
        uint64_t value;
        int check;
        ck_assert_int_eq(ledger_payin_make(number, bodies[index]), LEDGER_OK);
        ck_assert_uint_eq(strlen(number), LEDGER_PAYIN_DIGITS);
        value = number_value(number);
        ck_assert_msg(value / 100u == bodies[index], "%s does not carry its body", number);
        ck_assert_msg(value % 97u == 1u, "%s is not 1 modulo 97", number);
        check = (int)(value % 100u);
        ck_assert_int_ge(check, 2);
        ck_assert_int_le(check, 98);
        ck_assert_int_eq(ledger_mod97_check_digits(number, LEDGER_PAYIN_BODY_DIGITS), check);
        ck_assert_int_eq(ledger_payin_check(number, LEDGER_PAYIN_DIGITS), LEDGER_OK);
    }
}
END_TEST

START_TEST(body_range)
{
    char number[LEDGER_PAYIN_DIGITS + 1];
    ck_assert_int_eq(ledger_payin_make(number, LEDGER_PAYIN_BODY_MAX), LEDGER_OK);
    ck_assert_str_eq(number, "9999999999999939");
    memset(number, 'x', sizeof number);
    ck_assert_int_eq(ledger_payin_make(number, LEDGER_PAYIN_BODY_MAX + 1),
                     LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_payin_make(number, UINT64_MAX), LEDGER_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(check_digits_length)
{
    const char *digits = "123456789012345678901234567890123";
    ck_assert_int_eq(ledger_mod97_check_digits(digits, 32), 79);
    ck_assert_int_eq(ledger_mod97_check_digits(digits, 33), -1);
    ck_assert_int_eq(ledger_mod97_check_digits(digits, 0), -1);
    ck_assert_int_eq(ledger_mod97_check_digits("12x4", 2), 62); /* reads only `length` */
}
END_TEST

START_TEST(find_respects_length)
{
    const char *full_text = "8800 0000 0012 3474";
    const size_t full_length = strlen(full_text);
    /* Every proper prefix, as an exact heap copy: no read past `length`,
     * and groups beyond it are not joined. */
    for (size_t length = 0; length <= full_length; length++) {
        char out[LEDGER_PAYIN_DIGITS + 1];
        char *text = copy_exact(full_text, length);
        enum ledger_err found = ledger_payin_find(out, text, length);
        enum ledger_err normalized = ledger_payin_normalize(out, text, length);
        free(text);
        ck_assert_int_eq(found, length == full_length ? LEDGER_OK : LEDGER_ERR_UNKNOWN_CASE);
        ck_assert_int_eq(normalized, length == full_length ? LEDGER_OK : LEDGER_ERR_INVALID_PAYIN);
    }
}
END_TEST

START_TEST(check_respects_length)
{
    ck_assert_int_eq(ledger_payin_check("8800000000123474xyz", LEDGER_PAYIN_DIGITS), LEDGER_OK);
    ck_assert_int_eq(ledger_payin_check("8800000000123474", LEDGER_PAYIN_DIGITS - 1),
                     LEDGER_ERR_INVALID_PAYIN);
}
END_TEST

/* ---- errors ---------------------------------------------------------------- */

struct check_reject_row {
    const char *text;
    size_t length;
    const char *reason;
};

static const struct check_reject_row check_reject_rows[] = {
    {"8800000000123475", 16, "bad check digits"},
    {"880000000012347", 15, "15 digits"},
    {"88000000001234740", 17, "17 digits"},
    {"", 0, "empty"},
    {"8800 0000 0012 3474", 19, "spaces are not accepted here"},
    {"8800-0000-0012-3474", 19, "hyphens are not accepted here"},
    {"880000000012347a", 16, "a letter"},
    {"880000000012347\0", 16, "an embedded NUL"},
    {"+800000000123474", 16, "a sign"},
    /* Congruent to 1 modulo 97, but check digits 00, 01, 99 are never issued:
     * the issued forms are 0000000000006597, 0000000000000098, 0000000000003202. */
    {"0000000000006500", 16, "check digits 00"},
    {"0000000000000001", 16, "check digits 01"},
    {"0000000000003299", 16, "check digits 99"},
};

START_TEST(check_rejects)
{
    const struct check_reject_row *row = &check_reject_rows[_i];
    char *text = copy_exact(row->text, row->length);
    enum ledger_err err = ledger_payin_check(text, row->length);
    free(text);
    ck_assert_msg(err == LEDGER_ERR_INVALID_PAYIN, "\"%s\" (%s) accepted", row->text, row->reason);
}
END_TEST

START_TEST(check_digits_rejects)
{
    ck_assert_int_eq(ledger_mod97_check_digits("12a4", 4), -1);
    ck_assert_int_eq(ledger_mod97_check_digits("12 4", 4), -1);
    ck_assert_int_eq(ledger_mod97_check_digits("-124", 4), -1);
    ck_assert_int_eq(ledger_mod97_check_digits(NULL, 4), -1);
}
END_TEST

START_TEST(invalid_arguments)
{
    char out[LEDGER_PAYIN_DIGITS + 1];
    ck_assert_int_eq(ledger_payin_make(NULL, 1), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_payin_check(NULL, 16), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_payin_normalize(NULL, "8800000000123474", 16),
                     LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_payin_normalize(out, NULL, 16), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_payin_find(NULL, "8800000000123474", 16), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_payin_find(out, NULL, 16), LEDGER_ERR_INVALID_ARGUMENT);
}
END_TEST

Suite *payin_suite(void)
{
    Suite *suite = suite_create("payin");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_loop_test(core, make_known, 0, ROWS(make_rows));
    tcase_add_loop_test(core, check_digits_known, 0, ROWS(check_digits_rows));
    tcase_add_loop_test(core, normalize_known, 0, ROWS(normalize_rows));
    tcase_add_loop_test(core, find_known, 0, ROWS(find_rows));
    suite_add_tcase(suite, core);

    tcase_add_loop_test(limits, single_substitution_detected, 0, ROWS(detect_numbers));
    tcase_add_loop_test(limits, adjacent_transposition_detected, 0, ROWS(detect_numbers));
    tcase_add_loop_test(limits, body_sweep, 0, SWEEP_STEPS);
    tcase_add_test(limits, body_range);
    tcase_add_test(limits, check_digits_length);
    tcase_add_test(limits, check_respects_length);
    tcase_add_test(limits, find_respects_length);
    suite_add_tcase(suite, limits);

    tcase_add_loop_test(errors, check_rejects, 0, ROWS(check_reject_rows));
    tcase_add_test(errors, check_digits_rejects);
    tcase_add_test(errors, invalid_arguments);
    suite_add_tcase(suite, errors);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(payin_suite());
    int failed;
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

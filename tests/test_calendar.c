/* Unit suite for the working-day calendar (ledger/calendar.h): the shipped
 * files of etc/holidays (CASELEDGER_HOLIDAYS_DIR) against the State
 * Council's notices, due days in working and calendar days, the refusal of
 * a year without a file, and every refusal of a malformed file. */
#include <check.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calendar.h"
#include "ledger.h"

Suite *calendar_suite(void);

#ifndef CASELEDGER_HOLIDAYS_DIR
#error "CASELEDGER_HOLIDAYS_DIR: the shipped etc/holidays directory"
#endif

static struct ledger_calendar *shipped;

static void load_shipped(void)
{
    char detail[512];
    enum ledger_err err =
        ledger_calendar_load(&shipped, CASELEDGER_HOLIDAYS_DIR, detail, sizeof detail);
    ck_assert_msg(err == LEDGER_OK, "%s: %s", ledger_err_code(err), detail);
}

static void free_shipped(void)
{
    ledger_calendar_free(shipped);
    shipped = NULL;
}

static int32_t day_of(const char *text)
{
    int32_t day = 0;
    ck_assert_msg(ledger_date_parse(&day, text) == LEDGER_OK, "%s", text);
    return day;
}

/* The due day's text, or the error's code. */
static const char *due(char buffer[64], const struct ledger_calendar *calendar, const char *arrival,
                       int32_t day_count, enum ledger_calendar_mode mode)
{
    int32_t due_day = 0;
    char detail[256];
    enum ledger_err err = ledger_calendar_due_day(&due_day, calendar, day_of(arrival), day_count,
                                                  mode, detail, sizeof detail);
    if (err != LEDGER_OK) {
        snprintf(buffer, 64, "%s", ledger_err_code(err));
        return buffer;
    }
    return ledger_date_text(buffer, due_day);
}

#define ck_due(calendar, arrival, count, mode, expected)                                           \
    do {                                                                                           \
        char buffer_[64];                                                                          \
        ck_assert_msg(strcmp(due(buffer_, calendar, arrival, count, mode), expected) == 0,         \
                      "%s + %d: %s, expected %s", arrival, (int)(count), buffer_, expected);       \
    } while (0)

static bool working(const char *text)
{
    bool is_working = false;
    enum ledger_err err = ledger_calendar_is_working_day(&is_working, shipped, day_of(text));
    ck_assert_msg(err == LEDGER_OK, "%s: %s", text, ledger_err_code(err));
    return is_working;
}

START_TEST(shipped_years)
{
    ck_assert(ledger_calendar_has_year(shipped, 2025));
    ck_assert(ledger_calendar_has_year(shipped, 2026));
    ck_assert(!ledger_calendar_has_year(shipped, 2024));
    ck_assert(!ledger_calendar_has_year(shipped, 2027));
}
END_TEST

/* Each listed day of the two notices, and their neighbours. */
START_TEST(shipped_days)
{
    static const struct {
        const char *day;
        bool working;
    } days[] = {
        {"2025-01-01", false}, {"2025-01-02", true},  {"2025-01-26", true},  {"2025-01-27", true},
        {"2025-01-28", false}, {"2025-02-04", false}, {"2025-02-05", true},  {"2025-02-08", true},
        {"2025-02-09", false}, {"2025-04-04", false}, {"2025-04-07", true},  {"2025-04-27", true},
        {"2025-05-05", false}, {"2025-05-06", true},  {"2025-05-31", false}, {"2025-06-02", false},
        {"2025-06-03", true},  {"2025-09-28", true},  {"2025-10-08", false}, {"2025-10-09", true},
        {"2025-10-11", true},  {"2025-10-12", false}, {"2025-12-31", true},  {"2026-01-01", false},
        {"2026-01-03", false}, {"2026-01-04", true},  {"2026-02-14", true},  {"2026-02-15", false},
        {"2026-02-23", false}, {"2026-02-24", true},  {"2026-02-28", true},  {"2026-03-01", false},
        {"2026-04-06", false}, {"2026-05-05", false}, {"2026-05-09", true},  {"2026-06-19", false},
        {"2026-09-20", true},  {"2026-09-25", false}, {"2026-09-27", false}, {"2026-09-30", true},
        {"2026-10-07", false}, {"2026-10-08", true},  {"2026-10-09", true},  {"2026-10-10", true},
        {"2026-10-11", false}, {"2026-12-31", true},
    };
    for (size_t i = 0; i < sizeof days / sizeof days[0]; i++)
        ck_assert_msg(working(days[i].day) == days[i].working, "%s", days[i].day);
    /* 2025: 365 days - 104 weekend days - 18 holidays on weekdays + 5
     * working weekend days. */
    int32_t count = 0;
    ck_assert(ledger_calendar_days_between(&count, shipped, day_of("2024-12-31"),
                                           day_of("2025-12-31"), LEDGER_CALENDAR_MODE_WORKING, NULL,
                                           0) == LEDGER_OK);
    ck_assert_int_eq(count, 248);
}
END_TEST

/* One due-day question: the shipped calendar or none (NULL). */
struct due_case {
    bool with_calendar;
    const char *arrival;
    int32_t day_count;
    enum ledger_calendar_mode mode;
    const char *expected; /* a day, or an error's code */
};

static void check_due_cases(const struct due_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++)
        ck_due(cases[i].with_calendar ? shipped : NULL, cases[i].arrival, cases[i].day_count,
               cases[i].mode, cases[i].expected);
}

#define WORKING LEDGER_CALENDAR_MODE_WORKING
#define CALENDAR LEDGER_CALENDAR_MODE_CALENDAR

START_TEST(working_due_days)
{
    static const struct due_case cases[] = {
        /* API.md: Friday 2026-02-13 + 3 working days (the 14th is a working
         * Saturday, the 15th to the 23rd the Spring Festival). */
        {true, "2026-02-13", 3, WORKING, "2026-02-25"},
        {true, "2026-02-13", 1, WORKING, "2026-02-14"},
        {true, "2026-02-14", 1, WORKING, "2026-02-24"},
        {true, "2026-02-27", 1, WORKING, "2026-02-28"},
        {true, "2026-02-27", 2, WORKING, "2026-03-02"},
        /* National Day and its working weekends. */
        {true, "2026-09-30", 1, WORKING, "2026-10-08"},
        {true, "2026-09-30", 3, WORKING, "2026-10-10"},
        {true, "2026-09-30", 4, WORKING, "2026-10-12"},
        {true, "2026-09-18", 1, WORKING, "2026-09-20"},
        {true, "2026-09-24", 1, WORKING, "2026-09-28"},
        /* 2025: Spring Festival, working Sunday 01-26 and Saturday 02-08. */
        {true, "2025-01-24", 1, WORKING, "2025-01-26"},
        {true, "2025-01-24", 2, WORKING, "2025-01-27"},
        {true, "2025-01-24", 3, WORKING, "2025-02-05"},
        {true, "2025-02-07", 1, WORKING, "2025-02-08"},
        {true, "2025-09-30", 1, WORKING, "2025-10-09"},
        /* 10 working days, the stricter courts' limit. */
        {true, "2026-02-13", 10, WORKING, "2026-03-05"},
        /* New Year 2025 -> 2026: both files. */
        {true, "2025-12-31", 1, WORKING, "2026-01-04"},
        {true, "2025-12-30", 2, WORKING, "2026-01-04"},
        /* No arrival counts itself: 0 days is the arrival day. */
        {true, "2026-02-15", 0, WORKING, "2026-02-15"},
    };
    check_due_cases(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(missing_year_refused)
{
    int32_t due_day = 7;
    char detail[256];
    /* 2026-12-31 is a Thursday: the next working day is in 2027. */
    enum ledger_err err =
        ledger_calendar_due_day(&due_day, shipped, day_of("2026-12-31"), 1,
                                LEDGER_CALENDAR_MODE_WORKING, detail, sizeof detail);
    ck_assert_int_eq(err, LEDGER_ERR_NO_CALENDAR);
    ck_assert_int_eq(due_day, 7);
    ck_assert_msg(strstr(detail, "2027") != NULL, "%s", detail);
    ck_assert_str_eq(ledger_err_code(err), "calendar_missing");
    ck_assert_int_eq(ledger_err_http_status(err), 503);
    /* Every question about such a day. */
    bool out_of_range = true;
    ck_assert_int_eq(
        ledger_calendar_is_working_day(&out_of_range, shipped, day_of("1900-01-01") - 1),
        LEDGER_ERR_INVALID_ARGUMENT);
    bool is_working = true;
    ck_assert_int_eq(ledger_calendar_is_working_day(&is_working, shipped, day_of("2027-01-04")),
                     LEDGER_ERR_NO_CALENDAR);
    int32_t count = 0;
    ck_assert_int_eq(ledger_calendar_days_between(&count, shipped, day_of("2026-12-20"),
                                                  day_of("2027-01-10"),
                                                  LEDGER_CALENDAR_MODE_WORKING, NULL, 0),
                     LEDGER_ERR_NO_CALENDAR);
}
END_TEST

START_TEST(calendar_due_days)
{
    static const struct due_case cases[] = {
        {true, "2026-01-15", 30, CALENDAR, "2026-02-14"},
        {true, "2026-02-13", 30, CALENDAR, "2026-03-15"},
        {true, "2026-12-15", 30, CALENDAR, "2027-01-14"},
        {false, "2027-12-15", 30, CALENDAR, "2028-01-14"},
        {false, "2028-02-15", 30, CALENDAR, "2028-03-16"},
        {false, "2026-02-13", 0, CALENDAR, "2026-02-13"},
        {false, "9999-12-01", 30, CALENDAR, "9999-12-31"},
        {false, "9999-12-01", 31, CALENDAR, "invalid_request"},
        {false, "9999-12-31", 1, WORKING, "invalid_request"},
        {false, "2026-02-13", LEDGER_CALENDAR_DAYS_MAX, CALENDAR, "2036-02-21"},
        {false, "2026-02-13", LEDGER_CALENDAR_DAYS_MAX + 1, CALENDAR, "invalid_request"},
        {false, "2026-02-13", -1, CALENDAR, "invalid_request"},
        {true, "2026-02-13", -1, WORKING, "invalid_request"},
        {false, "2026-02-13", 3, (enum ledger_calendar_mode)7, "invalid_request"},
        /* No calendar at all: working days refused, calendar days fine. */
        {false, "2026-02-13", 3, WORKING, "calendar_missing"},
        {false, "2026-02-13", 3, CALENDAR, "2026-02-16"},
        /* Before the first file too. */
        {true, "2024-12-20", 3, WORKING, "calendar_missing"},
    };
    check_due_cases(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

/* The count of the days after the first up to the last is the limit whose
 * due day the last is. */
START_TEST(days_between)
{
    int32_t count = -1;
    ck_assert(ledger_calendar_days_between(&count, shipped, day_of("2026-02-13"),
                                           day_of("2026-02-25"), LEDGER_CALENDAR_MODE_WORKING, NULL,
                                           0) == LEDGER_OK);
    ck_assert_int_eq(count, 3);
    ck_assert(ledger_calendar_days_between(&count, shipped, day_of("2026-02-13"),
                                           day_of("2026-02-25"), LEDGER_CALENDAR_MODE_CALENDAR,
                                           NULL, 0) == LEDGER_OK);
    ck_assert_int_eq(count, 12);
    ck_assert(ledger_calendar_days_between(&count, shipped, day_of("2026-02-13"),
                                           day_of("2026-02-13"), LEDGER_CALENDAR_MODE_WORKING, NULL,
                                           0) == LEDGER_OK);
    ck_assert_int_eq(count, 0);
    ck_assert(ledger_calendar_days_between(&count, shipped, day_of("2025-12-31"),
                                           day_of("2026-01-05"), LEDGER_CALENDAR_MODE_WORKING, NULL,
                                           0) == LEDGER_OK);
    ck_assert_int_eq(count, 2); /* Sunday 01-04 and Monday 01-05 */
    /* Round trip over every arrival of the two years, 1..30 working days. */
    const int32_t first = day_of("2025-01-01");
    for (int32_t arrival = first; arrival < day_of("2026-11-01"); arrival++) {
        for (int32_t limit = 1; limit <= 30; limit++) {
            int32_t due_day = 0;
            ck_assert(ledger_calendar_due_day(&due_day, shipped, arrival, limit,
                                              LEDGER_CALENDAR_MODE_WORKING, NULL, 0) == LEDGER_OK);
            ck_assert(ledger_calendar_days_between(&count, shipped, arrival, due_day,
                                                   LEDGER_CALENDAR_MODE_WORKING, NULL,
                                                   0) == LEDGER_OK);
            ck_assert_int_eq(count, limit);
        }
    }
    count = -1;
    char detail[128];
    ck_assert_int_eq(
        ledger_calendar_days_between(&count, shipped, day_of("2026-02-25"), day_of("2026-02-13"),
                                     LEDGER_CALENDAR_MODE_CALENDAR, detail, sizeof detail),
        LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(count, -1);
    ck_assert_int_eq(
        ledger_calendar_days_between(&count, NULL, day_of("1900-01-01"), day_of("9999-12-31"),
                                     LEDGER_CALENDAR_MODE_CALENDAR, detail, sizeof detail),
        LEDGER_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(mode_names)
{
    enum ledger_calendar_mode mode = LEDGER_CALENDAR_MODE_CALENDAR;
    ck_assert(ledger_calendar_mode_parse(&mode, "working") == LEDGER_OK);
    ck_assert_int_eq(mode, LEDGER_CALENDAR_MODE_WORKING);
    ck_assert(ledger_calendar_mode_parse(&mode, "calendar") == LEDGER_OK);
    ck_assert_int_eq(mode, LEDGER_CALENDAR_MODE_CALENDAR);
    ck_assert_int_eq(ledger_calendar_mode_parse(&mode, "Working"), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_calendar_mode_parse(&mode, ""), LEDGER_ERR_INVALID_ARGUMENT);
}
END_TEST

/* ---- files written for the test ---- */

static char directory[64];

static void make_directory(void)
{
    snprintf(directory, sizeof directory, "/tmp/test_calendar.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(directory));
}

static void write_file(const char *name, const char *text, size_t size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", directory, name);
    FILE *stream = fopen(path, "wb");
    ck_assert_ptr_nonnull(stream);
    ck_assert_uint_eq(fwrite(text, 1, size, stream), size);
    ck_assert_int_eq(fclose(stream), 0);
}

static void remove_file(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", directory, name);
    unlink(path);
}

static void remove_directory(void)
{
    static const char *const names[] = {"2025.txt", "2026.txt", "README", "25.txt", "abcd.txt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        remove_file(names[i]);
    rmdir(directory);
}

/* Loads directory: the error, and detail in *detail. */
static enum ledger_err load(char *detail, size_t detail_size)
{
    struct ledger_calendar *calendar = (struct ledger_calendar *)1;
    enum ledger_err err = ledger_calendar_load(&calendar, directory, detail, detail_size);
    ck_assert(err == LEDGER_OK ? calendar != NULL : calendar == NULL);
    ledger_calendar_free(calendar);
    return err;
}

START_TEST(good_file_formats)
{
    static const char text[] = "# comment only\r\n"
                               "\n"
                               "   \t\n"
                               "2026-01-01 holiday\n"
                               "  2026-01-02\tholiday   # with a comment\r\n"
                               "2026-01-04   workday#tight comment\n"
                               "2026-01-03 holiday"; /* no final newline */
    write_file("2026.txt", text, sizeof text - 1);
    write_file("README", "not a year file\n", 16);
    char detail[256];
    struct ledger_calendar *calendar = NULL;
    ck_assert_int_eq(ledger_calendar_load(&calendar, directory, detail, sizeof detail), LEDGER_OK);
    /* Days after the arrival only: 2025-12-31 is in no file. */
    ck_due(calendar, "2025-12-31", 1, LEDGER_CALENDAR_MODE_WORKING, "2026-01-04");
    ck_due(calendar, "2025-12-30", 1, LEDGER_CALENDAR_MODE_WORKING, "calendar_missing");
    ck_due(calendar, "2026-01-01", 1, LEDGER_CALENDAR_MODE_WORKING, "2026-01-04");
    /* No Spring Festival in this file: only what it lists moves. */
    ck_due(calendar, "2026-02-13", 3, LEDGER_CALENDAR_MODE_WORKING, "2026-02-18");
    ledger_calendar_free(calendar);
    /* An empty directory is a calendar of no year. */
    remove_file("2026.txt");
    ck_assert_int_eq(ledger_calendar_load(&calendar, directory, detail, sizeof detail), LEDGER_OK);
    ck_assert(!ledger_calendar_has_year(calendar, 2026));
    ck_due(calendar, "2026-02-13", 3, LEDGER_CALENDAR_MODE_WORKING, "calendar_missing");
    ledger_calendar_free(calendar);
}
END_TEST

/* Every malformed file: refused, naming the file and its line. */
START_TEST(bad_files)
{
    static const struct {
        const char *text;
        const char *where;   /* in detail */
        const char *problem; /* in detail */
    } cases[] = {
        {"2026-01-01\n", "2026.txt:1:", "expected"},
        {"2026-01-01 holiday extra\n", "2026.txt:1:", "\"holiday\" or \"workday\""},
        {"# ok\n2026-01-01 Holiday\n", "2026.txt:2:", "\"holiday\" or \"workday\""},
        {"2026-01-01 rest\n", "2026.txt:1:", "\"holiday\" or \"workday\""},
        {"2026-1-01 holiday\n", "2026.txt:1:", "expected"},
        {"2026-02-30 holiday\n", "2026.txt:1:", "not a date"},
        {"2026/01/01 holiday\n", "2026.txt:1:", "not a date"},
        {"2026-01-01holiday\n", "2026.txt:1:", "expected"},
        {"holiday 2026-01-01\n", "2026.txt:1:", "expected"},
        {"2025-12-31 holiday\n", "2026.txt:1:", "2025-12-31 is not in 2026"},
        {"2027-01-01 holiday\n", "2026.txt:1:", "is not in 2026"},
        {"2026-01-01 holiday\n\n2026-01-01 holiday\n",
         "2026.txt:3:", "2026-01-01 is listed twice (first on line 1)"},
        {"2026-01-04 workday\n2026-01-04 holiday\n", "2026.txt:2:", "listed twice"},
        {"2026-01-05 workday\n", "2026.txt:1:", "2026-01-05 is a weekday"},
    };
    make_directory();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file("2026.txt", cases[i].text, strlen(cases[i].text));
        char detail[512];
        ck_assert_int_eq(load(detail, sizeof detail), LEDGER_ERR_INVALID_ARGUMENT);
        ck_assert_msg(strstr(detail, cases[i].where) != NULL &&
                          strstr(detail, cases[i].problem) != NULL,
                      "case %zu: %s", i, detail);
        ck_assert_msg(strncmp(detail, directory, strlen(directory)) == 0, "%s", detail);
    }
    remove_directory();
}
END_TEST

START_TEST(bad_file_limits)
{
    make_directory();
    char detail[512];
    /* A line one byte too long (a comment), then one just short enough. */
    char line[LEDGER_CALENDAR_LINE_MAX + 2];
    memset(line, ' ', sizeof line);
    line[0] = '#';
    line[LEDGER_CALENDAR_LINE_MAX + 1] = '\n';
    write_file("2026.txt", line, sizeof line);
    ck_assert_int_eq(load(detail, sizeof detail), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(detail, "2026.txt:1: line longer than") != NULL, "%s", detail);
    write_file("2026.txt", line + 1, sizeof line - 1);
    ck_assert_int_eq(load(detail, sizeof detail), LEDGER_OK);
    /* A NUL byte. */
    write_file("2026.txt", "2026-01-01 holiday\n2026-01-02\0holiday\n", 38);
    ck_assert_int_eq(load(detail, sizeof detail), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(detail, "2026.txt:2: NUL byte") != NULL, "%s", detail);
    /* A file over the size limit (blank lines). */
    char *big = malloc(LEDGER_CALENDAR_FILE_MAX + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, '\n', LEDGER_CALENDAR_FILE_MAX + 1);
    write_file("2026.txt", big, LEDGER_CALENDAR_FILE_MAX);
    ck_assert_int_eq(load(detail, sizeof detail), LEDGER_OK);
    write_file("2026.txt", big, LEDGER_CALENDAR_FILE_MAX + 1);
    free(big);
    ck_assert_int_eq(load(detail, sizeof detail), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(detail, "2026.txt: longer than") != NULL, "%s", detail);
    remove_file("2026.txt");
    /* Names: a *.txt that is not a year file; a year out of range. */
    write_file("25.txt", "", 0);
    ck_assert_int_eq(load(detail, sizeof detail), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(detail, "25.txt: a calendar file is named YYYY.txt") != NULL, "%s",
                  detail);
    remove_file("25.txt");
    write_file("abcd.txt", "", 0);
    ck_assert_int_eq(load(detail, sizeof detail), LEDGER_ERR_INVALID_ARGUMENT);
    remove_file("abcd.txt");
    /* A bad file among good ones refuses the whole directory. */
    write_file("2025.txt", "2025-01-01 holiday\n", 19);
    write_file("2026.txt", "2026-01-01 holday\n", 18);
    ck_assert_int_eq(load(detail, sizeof detail), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(detail, "2026.txt:1:") != NULL, "%s", detail);
    remove_directory();
    /* A directory that is not there. */
    ck_assert_int_eq(load(detail, sizeof detail), LEDGER_ERR_IO);
    ck_assert_msg(strstr(detail, "could not open") != NULL, "%s", detail);
}
END_TEST

START_TEST(year_name_range)
{
    make_directory();
    char detail[512];
    write_file("1899.txt", "", 0);
    ck_assert_int_eq(load(detail, sizeof detail), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(detail, "1899.txt") != NULL, "%s", detail);
    remove_file("1899.txt");
    rmdir(directory);
}
END_TEST

Suite *calendar_suite(void)
{
    Suite *suite = suite_create("calendar");
    TCase *shipped_case = tcase_create("shipped");
    tcase_add_checked_fixture(shipped_case, load_shipped, free_shipped);
    tcase_add_test(shipped_case, shipped_years);
    tcase_add_test(shipped_case, shipped_days);
    tcase_add_test(shipped_case, working_due_days);
    tcase_add_test(shipped_case, missing_year_refused);
    tcase_add_test(shipped_case, calendar_due_days);
    tcase_add_test(shipped_case, days_between);
    tcase_add_test(shipped_case, mode_names);
    suite_add_tcase(suite, shipped_case);
    TCase *files_case = tcase_create("files");
    tcase_add_checked_fixture(files_case, make_directory, remove_directory);
    tcase_add_test(files_case, good_file_formats);
    suite_add_tcase(suite, files_case);
    TCase *errors_case = tcase_create("errors");
    tcase_add_test(errors_case, bad_files);
    tcase_add_test(errors_case, bad_file_limits);
    tcase_add_test(errors_case, year_name_range);
    suite_add_tcase(suite, errors_case);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(calendar_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

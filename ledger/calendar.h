/* The working-day calendar: which days are worked, and the day a time limit
 * ends.
 *
 * Working days come from one file per year, `YYYY.txt` in a directory
 * (etc/holidays/), that lists the public holidays and the working weekend
 * days of the State Council's yearly notice:
 *
 *     # comment
 *     2026-02-14 workday   # a Saturday or Sunday that is worked
 *     2026-02-15 holiday   # a rest day, whatever weekday it falls on
 *
 * A weekend day not listed is a rest day, a weekday not listed a working
 * day. A computation in working days that meets a year without a file
 * refuses with LEDGER_ERR_NO_CALENDAR, never guesses; one in calendar days
 * needs no file.
 *
 * Days are int32_t days since 1970-01-01 (ledger_date_parse). A loaded
 * calendar is never changed: many threads may read it at once. */
#ifndef LEDGER_CALENDAR_H
#define LEDGER_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct ledger_calendar;

/* How a time limit counts its days (the policy's "calendar" field). */
enum ledger_calendar_mode {
    LEDGER_CALENDAR_MODE_CALENDAR, /* "calendar": every day */
    LEDGER_CALENDAR_MODE_WORKING,  /* "working": working days only */
};

/* "calendar" or "working"; anything else LEDGER_ERR_INVALID_ARGUMENT. */
enum ledger_err ledger_calendar_mode_parse(enum ledger_calendar_mode *mode,
                                           const char *text) LEDGER_MUST_CHECK;

/* Loads every `YYYY.txt` of directory (other names are skipped) into a new
 * calendar, freed with ledger_calendar_free. A malformed file refuses the
 * whole directory with LEDGER_ERR_INVALID_ARGUMENT (a bad line, a date of
 * another year, a day listed twice, a workday on a weekday, a file or line
 * too long) and detail says "PATH:LINE: what"; a directory or file that
 * cannot be read is LEDGER_ERR_IO. An empty directory is a calendar with no
 * year. */
enum ledger_err ledger_calendar_load(struct ledger_calendar **calendar, const char *directory,
                                     char *detail, size_t detail_size) LEDGER_MUST_CHECK;
void ledger_calendar_free(struct ledger_calendar *calendar);

/* Whether year has a file. */
bool ledger_calendar_has_year(const struct ledger_calendar *calendar, int year);

/* Whether day is a working day; LEDGER_ERR_NO_CALENDAR if its year has no
 * file. */
enum ledger_err ledger_calendar_is_working_day(bool *working,
                                               const struct ledger_calendar *calendar,
                                               int32_t day) LEDGER_MUST_CHECK;

/* The day a limit of day_count days from arrival_day ends: the days are
 * counted after the arrival day, so with mode WORKING the due day is the
 * day_count-th working day after it (Friday 2026-02-13 + 3 = 2026-02-25).
 * day_count is 0..LEDGER_CALENDAR_DAYS_MAX (0: the arrival day itself).
 * Mode CALENDAR needs no file (calendar may be NULL). Errors:
 * LEDGER_ERR_NO_CALENDAR (a year met has no file), LEDGER_ERR_INVALID_ARGUMENT
 * (day_count out of range, a due day past 9999-12-31); detail (may be NULL)
 * says which. */
enum ledger_err ledger_calendar_due_day(int32_t *due_day, const struct ledger_calendar *calendar,
                                        int32_t arrival_day, int32_t day_count,
                                        enum ledger_calendar_mode mode, char *detail,
                                        size_t detail_size) LEDGER_MUST_CHECK;

/* The days after from_day up to and including to_day that count in mode
 * (an age: the due day of N days is the first day whose count is N).
 * to_day - from_day must be 0..LEDGER_CALENDAR_SPAN_MAX; errors as above. */
enum ledger_err ledger_calendar_days_between(int32_t *day_count,
                                             const struct ledger_calendar *calendar,
                                             int32_t from_day, int32_t to_day,
                                             enum ledger_calendar_mode mode, char *detail,
                                             size_t detail_size) LEDGER_MUST_CHECK;

#endif

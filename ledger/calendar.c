#include "calendar.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h" /* ledger_date_parse, ledger_date_text */
#include "limits.h"

/* The days ledger_date_parse takes: 1900-01-01 .. 9999-12-31. */
#define DAY_FIRST (-25567)
#define DAY_LAST 2932896
#define YEAR_FIRST 1900
#define YEAR_LAST 9999
#define YEAR_DAYS_MAX 366

struct calendar_year {
    int year;
    int32_t first_day;                              /* its 1 January */
    int32_t day_count;                              /* 365 or 366 */
    unsigned char working[(YEAR_DAYS_MAX + 7) / 8]; /* one bit a day of the year */
};

struct ledger_calendar {
    size_t year_count;
    struct calendar_year years[LEDGER_CALENDAR_YEARS_MAX]; /* ascending */
};

__attribute__((format(printf, 3, 4))) static void say(char *detail, size_t detail_size,
                                                      const char *format, ...)
{
    if (detail == NULL || detail_size == 0)
        return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(detail, detail_size, format, arguments);
    va_end(arguments);
}

enum ledger_err ledger_calendar_mode_parse(enum ledger_calendar_mode *mode, const char *text)
{
    if (strcmp(text, "calendar") == 0)
        *mode = LEDGER_CALENDAR_MODE_CALENDAR;
    else if (strcmp(text, "working") == 0)
        *mode = LEDGER_CALENDAR_MODE_WORKING;
    else
        return LEDGER_ERR_INVALID_ARGUMENT;
    return LEDGER_OK;
}

/* ---- days ---- */

/* 0 Monday .. 6 Sunday; 1970-01-01 was a Thursday. */
static int weekday_of(int32_t day)
{
    int remainder = (int)(day % 7);
    return (remainder + 7 + 3) % 7;
}

static bool is_weekend(int32_t day)
{
    return weekday_of(day) >= 5;
}

static bool is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* The number of four digits at text, or -1. */
static int four_digits(const char *text)
{
    int number = 0;
    for (size_t i = 0; i < 4; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        number = number * 10 + (text[i] - '0');
    }
    return number;
}

static int year_of_day(int32_t day)
{
    char text[LEDGER_DATE_TEXT_SIZE];
    return four_digits(ledger_date_text(text, day)); /* "YYYY-MM-DD" */
}

static bool year_is_working(const struct calendar_year *year, int32_t day)
{
    uint32_t index = (uint32_t)(day - year->first_day);
    return ((unsigned)year->working[index / 8] >> (index % 8)) & 1u;
}

static void year_set(struct calendar_year *year, int32_t day, bool working)
{
    uint32_t index = (uint32_t)(day - year->first_day);
    unsigned char bit = (unsigned char)(1u << (index % 8));
    if (working)
        year->working[index / 8] |= bit;
    else
        year->working[index / 8] &= (unsigned char)~bit;
}

/* The loaded year that holds day, or NULL. */
static const struct calendar_year *year_find(const struct ledger_calendar *calendar, int32_t day)
{
    if (calendar == NULL)
        return NULL;
    size_t low = 0;
    size_t high = calendar->year_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        const struct calendar_year *year = &calendar->years[middle];
        if (day < year->first_day)
            high = middle;
        else if (day >= year->first_day + year->day_count)
            low = middle + 1;
        else
            return year;
    }
    return NULL;
}

bool ledger_calendar_has_year(const struct ledger_calendar *calendar, int year)
{
    if (calendar == NULL)
        return false;
    for (size_t i = 0; i < calendar->year_count; i++)
        if (calendar->years[i].year == year)
            return true;
    return false;
}

/* Whether day is worked; *cursor caches the year of the day before. */
static enum ledger_err day_is_working(bool *working, const struct ledger_calendar *calendar,
                                      const struct calendar_year **cursor, int32_t day,
                                      char *detail, size_t detail_size)
{
    const struct calendar_year *year = *cursor;
    if (year == NULL || day < year->first_day || day >= year->first_day + year->day_count)
        year = year_find(calendar, day);
    if (year == NULL) {
        int missing = year_of_day(day);
        say(detail, detail_size,
            "no holiday calendar for %d: working days in %d cannot be counted until its "
            "calendar file is installed",
            missing, missing);
        return LEDGER_ERR_NO_CALENDAR;
    }
    *cursor = year;
    *working = year_is_working(year, day);
    return LEDGER_OK;
}

enum ledger_err ledger_calendar_is_working_day(bool *working,
                                               const struct ledger_calendar *calendar, int32_t day)
{
    if (day < DAY_FIRST || day > DAY_LAST)
        return LEDGER_ERR_INVALID_ARGUMENT;
    const struct calendar_year *cursor = NULL;
    return day_is_working(working, calendar, &cursor, day, NULL, 0);
}

/* The days and mode of a question (detail cleared, or saying what is wrong). */
static enum ledger_err check_question(int32_t first_day, int32_t last_day,
                                      enum ledger_calendar_mode mode, char *detail,
                                      size_t detail_size)
{
    say(detail, detail_size, "%s", "");
    if (first_day < DAY_FIRST || first_day > DAY_LAST || last_day < DAY_FIRST ||
        last_day > DAY_LAST) {
        say(detail, detail_size, "a day is outside 1900-01-01..9999-12-31");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (mode != LEDGER_CALENDAR_MODE_CALENDAR && mode != LEDGER_CALENDAR_MODE_WORKING) {
        say(detail, detail_size, "unknown calendar mode %d", (int)mode);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    return LEDGER_OK;
}

/* The day_count-th working day after arrival_day, walking at most
 * LEDGER_CALENDAR_SPAN_MAX days (a calendar of holidays only ends it). */
static enum ledger_err working_due_day(int32_t *due_day, const struct ledger_calendar *calendar,
                                       int32_t arrival_day, int32_t day_count, char *detail,
                                       size_t detail_size)
{
    const struct calendar_year *cursor = NULL;
    int32_t day = arrival_day;
    int32_t remaining = day_count;
    for (int32_t step = 0; remaining > 0; step++) {
        if (step >= LEDGER_CALENDAR_SPAN_MAX) {
            say(detail, detail_size, "no %d working days within %d days", (int)day_count,
                LEDGER_CALENDAR_SPAN_MAX);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        day++;
        if (day > DAY_LAST) {
            say(detail, detail_size, "the due day is past 9999-12-31");
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        bool working = false;
        enum ledger_err err = day_is_working(&working, calendar, &cursor, day, detail, detail_size);
        if (err != LEDGER_OK)
            return err;
        if (working)
            remaining--;
    }
    *due_day = day;
    return LEDGER_OK;
}

enum ledger_err ledger_calendar_due_day(int32_t *due_day, const struct ledger_calendar *calendar,
                                        int32_t arrival_day, int32_t day_count,
                                        enum ledger_calendar_mode mode, char *detail,
                                        size_t detail_size)
{
    enum ledger_err err = check_question(arrival_day, arrival_day, mode, detail, detail_size);
    if (err != LEDGER_OK)
        return err;
    if (day_count < 0 || day_count > LEDGER_CALENDAR_DAYS_MAX) {
        say(detail, detail_size, "a time limit is 0..%d days, not %d", LEDGER_CALENDAR_DAYS_MAX,
            (int)day_count);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (mode == LEDGER_CALENDAR_MODE_WORKING)
        return working_due_day(due_day, calendar, arrival_day, day_count, detail, detail_size);
    if (arrival_day > DAY_LAST - day_count) {
        say(detail, detail_size, "the due day is past 9999-12-31");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    *due_day = arrival_day + day_count;
    return LEDGER_OK;
}

enum ledger_err ledger_calendar_days_between(int32_t *day_count,
                                             const struct ledger_calendar *calendar,
                                             int32_t from_day, int32_t to_day,
                                             enum ledger_calendar_mode mode, char *detail,
                                             size_t detail_size)
{
    enum ledger_err err = check_question(from_day, to_day, mode, detail, detail_size);
    if (err != LEDGER_OK)
        return err;
    if (to_day < from_day || to_day - from_day > LEDGER_CALENDAR_SPAN_MAX) {
        say(detail, detail_size, "the span is 0..%d days, not %d", LEDGER_CALENDAR_SPAN_MAX,
            (int)(to_day - from_day));
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (mode == LEDGER_CALENDAR_MODE_CALENDAR) {
        *day_count = to_day - from_day;
        return LEDGER_OK;
    }
    const struct calendar_year *cursor = NULL;
    int32_t counted = 0;
    for (int32_t day = from_day + 1; day <= to_day; day++) {
        bool working = false;
        err = day_is_working(&working, calendar, &cursor, day, detail, detail_size);
        if (err != LEDGER_OK)
            return err;
        counted += working ? 1 : 0;
    }
    *day_count = counted;
    return LEDGER_OK;
}

/* ---- loading ---- */

/* One year file being read: the line each day was listed on (0: not). */
struct year_file {
    const char *path;
    struct calendar_year *year;
    size_t line_of_day[YEAR_DAYS_MAX];
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* "YYYY-MM-DD holiday|workday" (comment and outer blanks already cut). */
static const char *parse_line(int32_t *day, bool *working, char *line)
{
    size_t length = strlen(line);
    if (length < 11 || !is_blank(line[10]))
        return "expected \"YYYY-MM-DD holiday\" or \"YYYY-MM-DD workday\"";
    line[10] = '\0';
    if (ledger_date_parse(day, line) != LEDGER_OK)
        return "not a date (YYYY-MM-DD)";
    const char *word = line + 11;
    while (is_blank(*word))
        word++;
    if (strcmp(word, "holiday") == 0)
        *working = false;
    else if (strcmp(word, "workday") == 0)
        *working = true;
    else
        return "the day is \"holiday\" or \"workday\"";
    return NULL;
}

/* Applies one line: *problem says what is wrong with it. */
static void apply_line(struct year_file *file, char *line, size_t line_number, char *problem,
                       size_t problem_size)
{
    int32_t day = 0;
    bool working = false;
    const char *what = parse_line(&day, &working, line);
    if (what != NULL) {
        snprintf(problem, problem_size, "%s", what);
        return;
    }
    struct calendar_year *year = file->year;
    char text[LEDGER_DATE_TEXT_SIZE];
    ledger_date_text(text, day);
    if (day < year->first_day || day >= year->first_day + year->day_count) {
        snprintf(problem, problem_size, "%s is not in %d", text, year->year);
        return;
    }
    size_t *first_line = &file->line_of_day[day - year->first_day];
    if (*first_line != 0) {
        snprintf(problem, problem_size, "%s is listed twice (first on line %zu)", text,
                 *first_line);
        return;
    }
    if (working && !is_weekend(day)) {
        snprintf(problem, problem_size,
                 "%s is a weekday: only a Saturday or Sunday can be a workday", text);
        return;
    }
    *first_line = line_number;
    year_set(year, day, working);
}

/* Cuts the comment, a CR and the blanks around the text of a line. */
static char *trim_line(char *line)
{
    char *comment = strchr(line, '#');
    if (comment != NULL)
        *comment = '\0';
    size_t length = strlen(line);
    while (length > 0 && (is_blank(line[length - 1]) || line[length - 1] == '\r'))
        line[--length] = '\0';
    while (is_blank(*line))
        line++;
    return line;
}

static enum ledger_err parse_text(struct year_file *file, const char *text, size_t size,
                                  char *detail, size_t detail_size)
{
    char line[LEDGER_CALENDAR_LINE_MAX + 1];
    char problem[160];
    size_t line_number = 0;
    for (size_t start = 0; start < size; line_number++) {
        const char *end = memchr(text + start, '\n', size - start);
        size_t length = end != NULL ? (size_t)(end - (text + start)) : size - start;
        problem[0] = '\0';
        if (length > LEDGER_CALENDAR_LINE_MAX)
            snprintf(problem, sizeof problem, "line longer than %d bytes",
                     LEDGER_CALENDAR_LINE_MAX);
        else if (memchr(text + start, '\0', length) != NULL)
            snprintf(problem, sizeof problem, "NUL byte in the line");
        if (problem[0] == '\0') {
            memcpy(line, text + start, length);
            line[length] = '\0';
            char *content = trim_line(line);
            if (content[0] != '\0')
                apply_line(file, content, line_number + 1, problem, sizeof problem);
        }
        if (problem[0] != '\0') {
            say(detail, detail_size, "%s:%zu: %s", file->path, line_number + 1, problem);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        start += length + 1;
    }
    return LEDGER_OK;
}

/* The year's days before any file: weekends rest, weekdays worked. */
static enum ledger_err year_start(struct calendar_year *year, int year_number)
{
    char text[24];
    snprintf(text, sizeof text, "%04d-01-01", year_number);
    memset(year, 0, sizeof *year);
    year->year = year_number;
    year->day_count = is_leap(year_number) ? 366 : 365;
    if (ledger_date_parse(&year->first_day, text) != LEDGER_OK)
        return LEDGER_ERR_INVALID_ARGUMENT;
    for (int32_t index = 0; index < year->day_count; index++)
        year_set(year, year->first_day + index, !is_weekend(year->first_day + index));
    return LEDGER_OK;
}

/* Reads all of path (at most LEDGER_CALENDAR_FILE_MAX bytes) into text. */
static enum ledger_err read_file(char *text, size_t *size, const char *path, char *detail,
                                 size_t detail_size)
{
    FILE *stream = fopen(path, "rb");
    if (stream == NULL) {
        say(detail, detail_size, "could not open %s: %s", path, strerror(errno));
        return LEDGER_ERR_IO;
    }
    enum ledger_err err = LEDGER_OK;
    *size = fread(text, 1, LEDGER_CALENDAR_FILE_MAX + 1, stream);
    if (ferror(stream)) {
        say(detail, detail_size, "could not read %s", path);
        err = LEDGER_ERR_IO;
    } else if (*size > LEDGER_CALENDAR_FILE_MAX) {
        say(detail, detail_size, "%s: longer than %d bytes", path, LEDGER_CALENDAR_FILE_MAX);
        err = LEDGER_ERR_INVALID_ARGUMENT;
    }
    fclose(stream);
    return err;
}

static enum ledger_err year_load(struct calendar_year *year, const char *directory, int year_number,
                                 char *detail, size_t detail_size)
{
    char path[4096];
    int written = snprintf(path, sizeof path, "%s/%04d.txt", directory, year_number);
    if (written < 0 || (size_t)written >= sizeof path) {
        say(detail, detail_size, "calendar directory path too long");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    enum ledger_err err = year_start(year, year_number);
    if (err != LEDGER_OK)
        return err;
    char *text = malloc(LEDGER_CALENDAR_FILE_MAX + 1);
    struct year_file *file = calloc(1, sizeof *file);
    if (text == NULL || file == NULL) {
        err = LEDGER_ERR_NOMEM;
        goto free_buffers;
    }
    size_t size = 0;
    err = read_file(text, &size, path, detail, detail_size);
    if (err != LEDGER_OK)
        goto free_buffers;
    file->path = path;
    file->year = year;
    err = parse_text(file, text, size, detail, detail_size);
free_buffers:
    free(file);
    free(text);
    return err;
}

/* The year of a file name "YYYY.txt", 0 for a name to skip (not *.txt,
 * hidden), -1 for a *.txt file that is not a year file. */
static int year_of_name(const char *name)
{
    size_t length = strlen(name);
    if (name[0] == '.' || length < 4 || strcmp(name + length - 4, ".txt") != 0)
        return 0;
    if (length != 8)
        return -1;
    int year = four_digits(name);
    return year >= YEAR_FIRST && year <= YEAR_LAST ? year : -1;
}

static enum ledger_err list_years(int *years, size_t *year_count, DIR *listing,
                                  const char *directory, char *detail, size_t detail_size)
{
    *year_count = 0;
    const struct dirent *entry;
    for (size_t seen = 0; (entry = readdir(listing)) != NULL; seen++) {
        if (seen >= LEDGER_CALENDAR_ENTRIES_MAX) {
            say(detail, detail_size, "%s: more than %d entries", directory,
                LEDGER_CALENDAR_ENTRIES_MAX);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        int year = year_of_name(entry->d_name);
        if (year == 0)
            continue;
        if (year < 0) {
            say(detail, detail_size, "%s/%s: a calendar file is named YYYY.txt (1900..9999)",
                directory, entry->d_name);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        if (*year_count >= LEDGER_CALENDAR_YEARS_MAX) {
            say(detail, detail_size, "%s: more than %d year files", directory,
                LEDGER_CALENDAR_YEARS_MAX);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        years[(*year_count)++] = year;
    }
    return LEDGER_OK;
}

static int compare_years(const void *left, const void *right)
{
    int a = *(const int *)left;
    int b = *(const int *)right;
    return (a > b) - (a < b);
}

enum ledger_err ledger_calendar_load(struct ledger_calendar **calendar, const char *directory,
                                     char *detail, size_t detail_size)
{
    *calendar = NULL;
    say(detail, detail_size, "%s", "");
    DIR *listing = opendir(directory);
    if (listing == NULL) {
        say(detail, detail_size, "could not open %s: %s", directory, strerror(errno));
        return LEDGER_ERR_IO;
    }
    int years[LEDGER_CALENDAR_YEARS_MAX];
    size_t year_count = 0;
    enum ledger_err err = list_years(years, &year_count, listing, directory, detail, detail_size);
    closedir(listing);
    if (err != LEDGER_OK)
        return err;
    qsort(years, year_count, sizeof years[0], compare_years);
    struct ledger_calendar *loaded = calloc(1, sizeof *loaded);
    if (loaded == NULL)
        return LEDGER_ERR_NOMEM;
    for (size_t i = 0; i < year_count; i++) {
        err = year_load(&loaded->years[i], directory, years[i], detail, detail_size);
        if (err != LEDGER_OK) {
            free(loaded);
            return err;
        }
    }
    loaded->year_count = year_count;
    *calendar = loaded;
    return LEDGER_OK;
}

void ledger_calendar_free(struct ledger_calendar *calendar)
{
    free(calendar);
}

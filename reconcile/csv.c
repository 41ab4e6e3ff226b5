/* CSV bank exports into the statement model, with a named column mapping
 * (its text format is described in statement.h).
 *
 * The file is read line by line, each line converted from its declared
 * encoding (UTF-8 validated, or GB18030 through iconv) before the CSV is
 * tokenised: GB18030 trail bytes include '|' and '\\', so splitting the
 * raw bytes could cut a character. RFC 4180: fields separated by the
 * delimiter, records by line breaks, a field in double quotes may hold the
 * delimiter, line breaks and "" for a quote; text after a closing quote is
 * refused.
 *
 * Rules decided here:
 * - A row whose fields are all empty is skipped.
 * - With credit and debit columns, an empty cell is absent; a row needs one
 *   of them, and when both are given one must be zero.
 * - With a balance column, the opening balance is the first row's balance
 *   minus its amount and the closing balance the last row's; unless the
 *   checks are off, every row's balance must equal the previous one plus
 *   its amount (RECON_ERR_UNBALANCED at that row).
 */
#include "statement.h"

#include "recon_internal.h"

#include "money.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CSV_DATE_FORMAT_SIZE 32
#define CSV_KEY_SIZE 32
#define CSV_AMOUNT_TEXT_MAX 64 /* longer amount cells are refused */

enum csv_column {
    COLUMN_DATE,
    COLUMN_BOOKING_DATE,
    COLUMN_AMOUNT,
    COLUMN_CREDIT,
    COLUMN_DEBIT,
    COLUMN_BALANCE,
    COLUMN_REFERENCE,
    COLUMN_COUNTERPARTY,
    COLUMN_COUNTERPARTY_ACCOUNT,
    COLUMN_REMITTANCE,
    COLUMN_COUNT
};

static const char *const column_keys[COLUMN_COUNT] = {
    "date",         "booking_date",         "amount",     "credit", "debit", "balance", "reference",
    "counterparty", "counterparty_account", "remittance",
};

struct csv_column_spec {
    bool present;
    size_t number; /* 1-based when given as "#N", else 0 */
    char *name;    /* header text when given by name */
    uint64_t mapping_line;
};

struct recon_csv_mapping {
    char delimiter;
    bool gb18030;
    bool header;
    size_t skip_lines;
    char currency[RECON_CURRENCY_SIZE];
    char *account;
    char date_format[CSV_DATE_FORMAT_SIZE];
    char decimal;
    char thousands; /* 0: none */
    bool newest_first;
    struct csv_column_spec columns[COLUMN_COUNT];
};

/* ---- the mapping ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static void trim(const char **text, size_t *length)
{
    while (*length > 0 && is_space(**text)) {
        (*text)++;
        (*length)--;
    }
    while (*length > 0 && is_space((*text)[*length - 1]))
        (*length)--;
}

static bool equals(const char *text, size_t length, const char *word)
{
    return strlen(word) == length && memcmp(text, word, length) == 0;
}

void recon_csv_mapping_free(struct recon_csv_mapping *mapping)
{
    if (mapping == NULL)
        return;
    for (size_t index = 0; index < COLUMN_COUNT; index++)
        free(mapping->columns[index].name);
    free(mapping->account);
    free(mapping);
}

static enum recon_err mapping_fail(struct recon_error *error, uint64_t line, const char *key,
                                   const char *message)
{
    return recon_fail(error, RECON_ERR_MAPPING, line, key, "%s", message);
}

static char *copy_text(const char *text, size_t length)
{
    char *copy = malloc(length + 1);
    if (copy != NULL) {
        memcpy(copy, text, length);
        copy[length] = '\0';
    }
    return copy;
}

/* YYYY once, M or MM once, D or DD once, literal characters, a final '*'. */
static bool date_format_valid(const char *format)
{
    int years = 0, months = 0, days = 0;
    for (size_t index = 0; format[index] != '\0';) {
        char c = format[index];
        size_t run = 0;
        while (format[index + run] == c)
            run++;
        if (c == 'Y' && run == 4)
            years++;
        else if (c == 'M' && run <= 2)
            months++;
        else if (c == 'D' && run <= 2)
            days++;
        else if (c == 'Y' || c == 'M' || c == 'D' || (c == '*' && format[index + 1] != '\0'))
            return false;
        index += run;
    }
    return years == 1 && months == 1 && days == 1;
}

static bool read_yes_no(bool *out, const char *value, size_t length)
{
    if (equals(value, length, "yes") || equals(value, length, "true")) {
        *out = true;
        return true;
    }
    if (equals(value, length, "no") || equals(value, length, "false")) {
        *out = false;
        return true;
    }
    return false;
}

static bool read_delimiter(char *out, const char *value, size_t length)
{
    static const struct {
        const char *name;
        char delimiter;
    } names[] = {{"comma", ','}, {"semicolon", ';'}, {"tab", '\t'}, {"\\t", '\t'}, {"pipe", '|'}};
    for (size_t index = 0; index < sizeof names / sizeof names[0]; index++) {
        if (equals(value, length, names[index].name)) {
            *out = names[index].delimiter;
            return true;
        }
    }
    if (length == 1 && value[0] != '"' && value[0] != '\n' && (unsigned char)value[0] < 0x80) {
        *out = value[0];
        return true;
    }
    return false;
}

static enum recon_err mapping_column(struct recon_csv_mapping *mapping, size_t column,
                                     const char *value, size_t length, uint64_t line,
                                     struct recon_error *error)
{
    struct csv_column_spec *spec = &mapping->columns[column];
    if (spec->present)
        return mapping_fail(error, line, column_keys[column], "key appears twice");
    if (length == 0)
        return mapping_fail(error, line, column_keys[column], "column is empty");
    spec->present = true;
    spec->mapping_line = line;
    if (value[0] == '#' && length > 1) {
        size_t number = 0;
        for (size_t index = 1; index < length; index++) {
            if (value[index] < '0' || value[index] > '9' || number > RECON_CSV_COLUMNS_MAX)
                return mapping_fail(error, line, column_keys[column], "column number is invalid");
            number = number * 10 + (size_t)(value[index] - '0');
        }
        if (number < 1 || number > RECON_CSV_COLUMNS_MAX)
            return mapping_fail(error, line, column_keys[column], "column number is out of range");
        spec->number = number;
        return RECON_OK;
    }
    spec->name = copy_text(value, length);
    return spec->name != NULL ? RECON_OK
                              : recon_fail(error, RECON_ERR_NOMEM, line, "", "out of memory");
}

static enum recon_err mapping_setting(struct recon_csv_mapping *mapping, const char *key,
                                      const char *value, size_t length, uint64_t line,
                                      struct recon_error *error)
{
    bool ok = true;
    if (strcmp(key, "delimiter") == 0) {
        ok = read_delimiter(&mapping->delimiter, value, length);
    } else if (strcmp(key, "encoding") == 0) {
        mapping->gb18030 = equals(value, length, "gb18030") || equals(value, length, "GB18030");
        ok = mapping->gb18030 || equals(value, length, "utf-8") || equals(value, length, "UTF-8");
    } else if (strcmp(key, "header") == 0) {
        ok = read_yes_no(&mapping->header, value, length);
    } else if (strcmp(key, "skip_lines") == 0) {
        int count = 0;
        ok = length >= 1 && length <= 3 && recon_read_digits(&count, value, length) &&
             count <= RECON_CSV_SKIP_LINES_MAX;
        mapping->skip_lines = (size_t)count;
    } else if (strcmp(key, "currency") == 0) {
        ok = length == 3;
        if (ok) {
            memcpy(mapping->currency, value, 3);
            mapping->currency[3] = '\0';
            ok = ledger_currency_valid(mapping->currency);
        }
    } else if (strcmp(key, "account") == 0) {
        free(mapping->account);
        mapping->account = copy_text(value, length);
        if (mapping->account == NULL)
            return recon_fail(error, RECON_ERR_NOMEM, line, "", "out of memory");
    } else if (strcmp(key, "date_format") == 0) {
        ok = length > 0 && length < CSV_DATE_FORMAT_SIZE;
        if (ok) {
            memcpy(mapping->date_format, value, length);
            mapping->date_format[length] = '\0';
            ok = date_format_valid(mapping->date_format);
        }
    } else if (strcmp(key, "decimal") == 0) {
        ok = length == 1 && (value[0] == '.' || value[0] == ',');
        if (ok)
            mapping->decimal = value[0];
    } else if (strcmp(key, "thousands") == 0) {
        ok = equals(value, length, "none") || equals(value, length, "space") ||
             (length == 1 && (value[0] == ',' || value[0] == '.' || value[0] == '\''));
        if (ok && equals(value, length, "none"))
            mapping->thousands = '\0';
        else if (ok && equals(value, length, "space"))
            mapping->thousands = ' ';
        else if (ok)
            mapping->thousands = value[0];
    } else if (strcmp(key, "order") == 0) {
        mapping->newest_first = equals(value, length, "newest_first");
        ok = mapping->newest_first || equals(value, length, "oldest_first");
    } else {
        for (size_t column = 0; column < COLUMN_COUNT; column++) {
            if (strcmp(key, column_keys[column]) == 0)
                return mapping_column(mapping, column, value, length, line, error);
        }
        return mapping_fail(error, line, key, "unknown key");
    }
    return ok ? RECON_OK : mapping_fail(error, line, key, "invalid value");
}

static enum recon_err mapping_line(struct recon_csv_mapping *mapping, const char *text,
                                   size_t length, uint64_t line, struct recon_error *error)
{
    char key[CSV_KEY_SIZE];
    trim(&text, &length);
    if (length == 0 || text[0] == '#')
        return RECON_OK;
    const char *equal = memchr(text, '=', length);
    if (equal == NULL)
        return mapping_fail(error, line, "", "line is not key = value");
    const char *key_text = text;
    size_t key_length = (size_t)(equal - text);
    const char *value = equal + 1;
    size_t value_length = length - key_length - 1;
    trim(&key_text, &key_length);
    trim(&value, &value_length);
    if (key_length == 0 || key_length >= sizeof key)
        return mapping_fail(error, line, "", "key is empty or too long");
    memcpy(key, key_text, key_length);
    key[key_length] = '\0';
    return mapping_setting(mapping, key, value, value_length, line, error);
}

static enum recon_err mapping_validate(const struct recon_csv_mapping *mapping,
                                       struct recon_error *error)
{
    const struct csv_column_spec *columns = mapping->columns;
    if (!columns[COLUMN_DATE].present)
        return mapping_fail(error, 0, "date", "mapping has no date column");
    bool has_amount = columns[COLUMN_AMOUNT].present;
    bool has_credit = columns[COLUMN_CREDIT].present;
    bool has_debit = columns[COLUMN_DEBIT].present;
    if (has_amount == (has_credit || has_debit) || has_credit != has_debit)
        return mapping_fail(error, 0, "amount",
                            "mapping needs either an amount column or credit and debit columns");
    if (mapping->thousands != '\0' && mapping->thousands == mapping->decimal)
        return mapping_fail(error, 0, "thousands", "thousands and decimal separators are equal");
    for (size_t column = 0; column < COLUMN_COUNT; column++) {
        if (columns[column].present && !mapping->header && columns[column].number == 0)
            return mapping_fail(error, columns[column].mapping_line, column_keys[column],
                                "without a header, columns are given as #N");
    }
    return RECON_OK;
}

static void mapping_defaults(struct recon_csv_mapping *mapping)
{
    mapping->delimiter = ',';
    mapping->header = true;
    memcpy(mapping->currency, "CNY", RECON_CURRENCY_SIZE);
    memcpy(mapping->date_format, "YYYY-MM-DD", sizeof "YYYY-MM-DD");
    mapping->decimal = '.';
}

enum recon_err recon_csv_mapping_parse(struct recon_csv_mapping **out, const char *text,
                                       size_t size, struct recon_error *error)
{
    enum recon_err err = RECON_OK;
    uint64_t line = 0;
    if (error != NULL)
        memset(error, 0, sizeof *error);
    if (out == NULL || (text == NULL && size > 0))
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "invalid arguments");
    *out = NULL;
    if (size > RECON_MAPPING_BYTES_MAX)
        return mapping_fail(error, 0, "", "mapping is too large");
    if (size > 0 && !recon_utf8_valid(text, size))
        return mapping_fail(error, 0, "", "mapping is not valid UTF-8");
    struct recon_csv_mapping *mapping = calloc(1, sizeof *mapping);
    if (mapping == NULL)
        return recon_fail(error, RECON_ERR_NOMEM, 0, "", "out of memory");
    mapping_defaults(mapping);
    for (size_t start = 0; start < size && err == RECON_OK;) {
        const char *newline = memchr(text + start, '\n', size - start);
        size_t end = newline != NULL ? (size_t)(newline - text) : size;
        err = mapping_line(mapping, text + start, end - start, ++line, error);
        start = end + 1;
    }
    if (err == RECON_OK)
        err = mapping_validate(mapping, error);
    if (err != RECON_OK) {
        recon_csv_mapping_free(mapping);
        return err;
    }
    *out = mapping;
    return RECON_OK;
}

/* ---- records ---- */

struct csv_parser {
    const struct recon_csv_mapping *mapping;
    struct recon_builder builder;
    struct recon_error *error;
    unsigned flags;
    /* the record being read */
    struct recon_buffer record; /* fields, each followed by a NUL */
    size_t field_starts[RECON_CSV_COLUMNS_MAX + 1];
    size_t field_count;
    size_t field_length;
    bool in_quotes;
    bool field_quoted;
    bool after_quote;
    uint64_t record_line;
    /* where the mapping's columns are: 0-based, SIZE_MAX when not used */
    size_t column_index[COLUMN_COUNT];
    bool header_done;
    size_t lines_skipped;
    /* running balances of the rows, parallel to the statement's lines */
    int64_t *balances;
    size_t balance_capacity;
};

static enum recon_err csv_fail(struct csv_parser *parser, enum recon_err code, const char *path,
                               const char *message)
{
    return recon_fail(parser->error, code, parser->record_line, path, "%s", message);
}

static enum recon_err record_append(struct csv_parser *parser, const char *text, size_t length)
{
    bool no_memory;
    if (parser->field_length + length > parser->builder.limits.field_bytes_max)
        return csv_fail(parser, RECON_ERR_FIELD_TOO_LONG, "", "field is too long");
    if (!recon_buffer_append(&parser->record, text, length, &no_memory))
        return csv_fail(parser, no_memory ? RECON_ERR_NOMEM : RECON_ERR_FIELD_TOO_LONG, "",
                        "record is too long");
    parser->field_length += length;
    return RECON_OK;
}

static enum recon_err field_end(struct csv_parser *parser)
{
    bool no_memory;
    if (parser->field_count >= RECON_CSV_COLUMNS_MAX)
        return csv_fail(parser, RECON_ERR_LINE_TOO_LONG, "", "row has too many fields");
    if (!recon_buffer_append(&parser->record, "", 1, &no_memory))
        return csv_fail(parser, no_memory ? RECON_ERR_NOMEM : RECON_ERR_FIELD_TOO_LONG, "",
                        "record is too long");
    parser->field_count++;
    parser->field_starts[parser->field_count] = parser->record.length;
    parser->field_length = 0;
    parser->field_quoted = false;
    parser->after_quote = false;
    return RECON_OK;
}

static void record_reset(struct csv_parser *parser, uint64_t line)
{
    recon_buffer_clear(&parser->record);
    parser->field_count = 0;
    parser->field_starts[0] = 0;
    parser->field_length = 0;
    parser->in_quotes = false;
    parser->field_quoted = false;
    parser->after_quote = false;
    parser->record_line = line;
}

static const char *field_text(const struct csv_parser *parser, size_t index, size_t *length)
{
    const char *text = parser->record.data + parser->field_starts[index];
    *length = parser->field_starts[index + 1] - parser->field_starts[index] - 1;
    trim(&text, length);
    return text;
}

/* An opening quote: at the start of a field, after blanks only. */
static bool opens_quote(struct csv_parser *parser)
{
    const char *field = parser->record.data != NULL
                            ? parser->record.data + parser->field_starts[parser->field_count]
                            : "";
    for (size_t index = 0; index < parser->field_length; index++) {
        if (field[index] != ' ' && field[index] != '\t')
            return false;
    }
    parser->record.length -= parser->field_length;
    parser->field_length = 0;
    return true;
}

/* One character of a line outside quotes. */
static enum recon_err scan_plain(struct csv_parser *parser, char c)
{
    if (parser->after_quote) {
        if (c == parser->mapping->delimiter)
            return field_end(parser);
        if (c == ' ' || c == '\t')
            return RECON_OK;
        return csv_fail(parser, RECON_ERR_SYNTAX, "", "text after a closing quote");
    }
    if (c == parser->mapping->delimiter)
        return field_end(parser);
    if (c == '"' && !parser->field_quoted && opens_quote(parser)) {
        parser->in_quotes = true;
        parser->field_quoted = true;
        return RECON_OK;
    }
    return record_append(parser, &c, 1);
}

/* Scans one converted line; *complete when the record ends with it. */
static enum recon_err scan_line(struct csv_parser *parser, const char *text, size_t length,
                                bool *complete)
{
    for (size_t index = 0; index < length; index++) {
        char c = text[index];
        enum recon_err err;
        if (parser->in_quotes) {
            if (c == '"' && index + 1 < length && text[index + 1] == '"') {
                err = record_append(parser, "\"", 1);
                index++;
            } else if (c == '"') {
                parser->in_quotes = false;
                parser->after_quote = true;
                err = RECON_OK;
            } else {
                err = record_append(parser, &c, 1);
            }
        } else {
            err = scan_plain(parser, c);
        }
        if (err != RECON_OK)
            return err;
    }
    if (parser->in_quotes) {
        *complete = false;
        return record_append(parser, "\n", 1); /* the line break is in the field */
    }
    *complete = true;
    return field_end(parser);
}

/* ---- the header ---- */

static enum recon_err resolve_columns(struct csv_parser *parser, bool from_header)
{
    const struct recon_csv_mapping *mapping = parser->mapping;
    for (size_t column = 0; column < COLUMN_COUNT; column++) {
        const struct csv_column_spec *spec = &mapping->columns[column];
        parser->column_index[column] = SIZE_MAX;
        if (!spec->present)
            continue;
        if (spec->number > 0) {
            parser->column_index[column] = spec->number - 1;
            continue;
        }
        for (size_t index = 0; from_header && index < parser->field_count; index++) {
            size_t length;
            const char *name = field_text(parser, index, &length);
            if (!equals(name, length, spec->name))
                continue;
            if (parser->column_index[column] != SIZE_MAX)
                return csv_fail(parser, RECON_ERR_MAPPING, column_keys[column],
                                "column name appears twice in the header");
            parser->column_index[column] = index;
        }
        if (parser->column_index[column] == SIZE_MAX)
            return csv_fail(parser, RECON_ERR_MAPPING, column_keys[column],
                            "column is not in the header");
    }
    parser->header_done = true;
    return RECON_OK;
}

/* ---- rows ---- */

static const char *cell(const struct csv_parser *parser, enum csv_column column, size_t *length)
{
    size_t index = parser->column_index[column];
    if (index == SIZE_MAX) {
        *length = 0;
        return "";
    }
    return field_text(parser, index, length);
}

static enum recon_err read_date(struct csv_parser *parser, enum csv_column column,
                                int32_t *out_days)
{
    size_t length;
    const char *text = cell(parser, column, &length);
    const char *format = parser->mapping->date_format;
    int values[3] = {0, 0, 0}; /* year, month, day */
    size_t at = 0;
    for (size_t index = 0; format[index] != '\0';) {
        char c = format[index];
        size_t run = 0;
        while (format[index + run] == c)
            run++;
        if (c == '*') {
            at = length;
            break;
        }
        int slot = c == 'Y' ? 0 : c == 'M' ? 1 : c == 'D' ? 2 : -1;
        if (slot < 0) {
            for (size_t count = 0; count < run; count++, at++) {
                if (at >= length || text[at] != c)
                    return csv_fail(parser, RECON_ERR_INVALID_DATE, column_keys[column],
                                    "date does not match date_format");
            }
        } else {
            size_t digits = 0;
            size_t max = run == 1 ? 2 : run;
            while (digits < max && at + digits < length && text[at + digits] >= '0' &&
                   text[at + digits] <= '9')
                digits++;
            if (digits < run || !recon_read_digits(&values[slot], text + at, digits))
                return csv_fail(parser, RECON_ERR_INVALID_DATE, column_keys[column],
                                "date does not match date_format");
            at += digits;
        }
        index += run;
    }
    if (at != length || !recon_date_from_ymd(out_days, values[0], values[1], values[2]))
        return csv_fail(parser, RECON_ERR_INVALID_DATE, column_keys[column],
                        "date does not exist or does not match date_format");
    return RECON_OK;
}

/* Drops the grouping characters of the integer part, checking 3-digit groups. */
static bool strip_thousands(char *out, size_t *out_length, const char *text, size_t length,
                            char thousands, char decimal)
{
    const char *separator = memchr(text, decimal, length);
    size_t integer_end = separator != NULL ? (size_t)(separator - text) : length;
    size_t written = 0;
    size_t group = 0;
    bool grouped = false;
    for (size_t index = 0; index < length; index++) {
        if (index < integer_end && text[index] == thousands) {
            if ((grouped && group != 3) || (!grouped && (group == 0 || group > 3)))
                return false;
            grouped = true;
            group = 0;
            continue;
        }
        if (index < integer_end && text[index] >= '0' && text[index] <= '9')
            group++;
        out[written++] = text[index];
    }
    if (grouped && group != 3)
        return false;
    *out_length = written;
    return true;
}

/* The cell as an amount; *present false for an empty cell. */
static enum recon_err read_amount(struct csv_parser *parser, enum csv_column column,
                                  bool allow_negative, int64_t *out_minor, bool *present)
{
    char cleaned[CSV_AMOUNT_TEXT_MAX];
    size_t length, cleaned_length;
    const char *text = cell(parser, column, &length);
    *present = length > 0;
    if (length == 0)
        return RECON_OK;
    if (allow_negative && text[0] == '+') {
        text++;
        length--;
    }
    if (length > sizeof cleaned)
        return csv_fail(parser, RECON_ERR_INVALID_AMOUNT, column_keys[column],
                        "amount is too long");
    if (parser->mapping->thousands != '\0') {
        if (!strip_thousands(cleaned, &cleaned_length, text, length, parser->mapping->thousands,
                             parser->mapping->decimal))
            return csv_fail(parser, RECON_ERR_INVALID_AMOUNT, column_keys[column],
                            "amount has misplaced thousands separators");
        text = cleaned;
        length = cleaned_length;
    }
    enum recon_err err = recon_amount_parse(out_minor, text, length, parser->mapping->currency,
                                            parser->mapping->decimal, allow_negative);
    if (err == RECON_ERR_AMOUNT_PRECISION)
        return csv_fail(parser, err, column_keys[column],
                        "amount has more decimals than its currency");
    if (err != RECON_OK)
        return csv_fail(parser, err, column_keys[column], "amount is not a decimal amount");
    return RECON_OK;
}

static enum recon_err row_amount(struct csv_parser *parser, int64_t *out_minor)
{
    int64_t credit = 0, debit = 0;
    bool credit_present, debit_present;
    if (parser->mapping->columns[COLUMN_AMOUNT].present) {
        enum recon_err err = read_amount(parser, COLUMN_AMOUNT, true, out_minor, &credit_present);
        if (err == RECON_OK && !credit_present)
            err = csv_fail(parser, RECON_ERR_MISSING_FIELD, "amount", "row has no amount");
        return err;
    }
    enum recon_err err = read_amount(parser, COLUMN_CREDIT, false, &credit, &credit_present);
    if (err == RECON_OK)
        err = read_amount(parser, COLUMN_DEBIT, false, &debit, &debit_present);
    if (err != RECON_OK)
        return err;
    if (!credit_present && !debit_present)
        return csv_fail(parser, RECON_ERR_MISSING_FIELD, "credit",
                        "row has neither a credit nor a debit amount");
    if (credit != 0 && debit != 0)
        return csv_fail(parser, RECON_ERR_SYNTAX, "credit", "row has both a credit and a debit");
    *out_minor = credit != 0 ? credit : -debit;
    return RECON_OK;
}

static enum recon_err row_texts(struct csv_parser *parser, struct recon_line *line)
{
    static const struct {
        enum csv_column column;
        size_t offset;
    } texts[] = {
        {COLUMN_REFERENCE, offsetof(struct recon_line, bank_reference)},
        {COLUMN_COUNTERPARTY, offsetof(struct recon_line, counterparty_name)},
        {COLUMN_COUNTERPARTY_ACCOUNT, offsetof(struct recon_line, counterparty_account)},
        {COLUMN_REMITTANCE, offsetof(struct recon_line, remittance)},
    };
    for (size_t index = 0; index < sizeof texts / sizeof texts[0]; index++) {
        size_t length;
        const char *text = cell(parser, texts[index].column, &length);
        const char *stored = recon_builder_text(&parser->builder, text, length);
        if (stored == NULL)
            return csv_fail(parser, RECON_ERR_NOMEM, "", "out of memory");
        *(const char **)(void *)((char *)line + texts[index].offset) = stored;
    }
    return RECON_OK;
}

static enum recon_err remember_balance(struct csv_parser *parser, size_t line_index)
{
    int64_t balance = 0;
    bool present;
    enum recon_err err = read_amount(parser, COLUMN_BALANCE, true, &balance, &present);
    if (err == RECON_OK && !present)
        err = csv_fail(parser, RECON_ERR_MISSING_FIELD, "balance", "row has no balance");
    if (err != RECON_OK)
        return err;
    if (line_index >= parser->balance_capacity) {
        size_t capacity = parser->balance_capacity == 0 ? 16 : parser->balance_capacity * 2;
        int64_t *balances = realloc(parser->balances, capacity * sizeof *balances);
        if (balances == NULL)
            return csv_fail(parser, RECON_ERR_NOMEM, "", "out of memory");
        parser->balances = balances;
        parser->balance_capacity = capacity;
    }
    parser->balances[line_index] = balance;
    return RECON_OK;
}

static size_t columns_needed(const struct csv_parser *parser)
{
    size_t needed = 0;
    for (size_t column = 0; column < COLUMN_COUNT; column++) {
        if (parser->column_index[column] != SIZE_MAX && parser->column_index[column] + 1 > needed)
            needed = parser->column_index[column] + 1;
    }
    return needed;
}

static bool row_is_blank(const struct csv_parser *parser)
{
    for (size_t index = 0; index < parser->field_count; index++) {
        size_t length;
        field_text(parser, index, &length);
        if (length > 0)
            return false;
    }
    return true;
}

static enum recon_err row(struct csv_parser *parser)
{
    struct recon_line *line;
    if (row_is_blank(parser))
        return RECON_OK;
    if (parser->field_count < columns_needed(parser))
        return csv_fail(parser, RECON_ERR_SYNTAX, "",
                        "row has fewer fields than the mapping's columns");
    enum recon_err err =
        recon_builder_add_line(&parser->builder, &line, parser->record_line, parser->error);
    if (err != RECON_OK)
        return err;
    memcpy(line->currency, parser->mapping->currency, RECON_CURRENCY_SIZE);
    err = read_date(parser, COLUMN_DATE, &line->value_date_days);
    if (err == RECON_OK && parser->mapping->columns[COLUMN_BOOKING_DATE].present)
        err = read_date(parser, COLUMN_BOOKING_DATE, &line->booking_date_days);
    if (err == RECON_OK)
        err = row_amount(parser, &line->amount_minor);
    if (err == RECON_OK)
        err = row_texts(parser, line);
    if (err == RECON_OK && parser->mapping->columns[COLUMN_BALANCE].present)
        err = remember_balance(parser, parser->builder.current->line_count - 1);
    return err;
}

static enum recon_err record_complete(struct csv_parser *parser)
{
    if (!parser->header_done)
        return resolve_columns(parser, parser->mapping->header);
    return row(parser);
}

/* ---- the statement ---- */

static void reverse_rows(struct csv_parser *parser)
{
    struct recon_statement *statement = parser->builder.current;
    bool balances = parser->mapping->columns[COLUMN_BALANCE].present;
    size_t count = statement->line_count;
    for (size_t index = 0; index < count / 2; index++) {
        struct recon_line line = statement->lines[index];
        statement->lines[index] = statement->lines[count - 1 - index];
        statement->lines[count - 1 - index] = line;
        if (balances) {
            int64_t balance = parser->balances[index];
            parser->balances[index] = parser->balances[count - 1 - index];
            parser->balances[count - 1 - index] = balance;
        }
    }
}

static void set_balance(struct recon_balance *balance, int64_t amount_minor,
                        const struct recon_line *line, const char *currency)
{
    balance->present = true;
    balance->amount_minor = amount_minor;
    balance->date_days = line->value_date_days;
    balance->source_line = line->source_line;
    memcpy(balance->currency, currency, RECON_CURRENCY_SIZE);
}

static enum recon_err derive_balances(struct csv_parser *parser)
{
    struct recon_statement *statement = parser->builder.current;
    const int64_t *balances = parser->balances;
    int64_t opening;
    if (!parser->mapping->columns[COLUMN_BALANCE].present || statement->line_count == 0)
        return RECON_OK;
    const struct recon_line *first = &statement->lines[0];
    if (__builtin_sub_overflow(balances[0], first->amount_minor, &opening))
        return recon_fail(parser->error, RECON_ERR_OVERFLOW, first->source_line, "balance",
                          "opening balance is out of range");
    for (size_t index = 1; index < statement->line_count; index++) {
        int64_t expected;
        const struct recon_line *line = &statement->lines[index];
        if (parser->flags & RECON_PARSE_NO_STATEMENT_CHECKS)
            break;
        if (__builtin_add_overflow(balances[index - 1], line->amount_minor, &expected) ||
            expected != balances[index])
            return recon_fail(parser->error, RECON_ERR_UNBALANCED, line->source_line, "balance",
                              "balance does not follow from the previous row and this amount");
    }
    set_balance(&statement->opening, opening, first, parser->mapping->currency);
    set_balance(&statement->closing, balances[statement->line_count - 1],
                &statement->lines[statement->line_count - 1], parser->mapping->currency);
    return RECON_OK;
}

static enum recon_err statement_complete(struct csv_parser *parser)
{
    struct recon_statement *statement = parser->builder.current;
    memcpy(statement->currency, parser->mapping->currency, RECON_CURRENCY_SIZE);
    if (parser->mapping->account != NULL) {
        statement->account_id = recon_builder_text(&parser->builder, parser->mapping->account,
                                                   strlen(parser->mapping->account));
        if (statement->account_id == NULL)
            return recon_fail(parser->error, RECON_ERR_NOMEM, 0, "", "out of memory");
    }
    if (parser->mapping->newest_first)
        reverse_rows(parser);
    enum recon_err err = derive_balances(parser);
    if (err != RECON_OK)
        return err;
    return recon_builder_end(&parser->builder, parser->error);
}

/* One physical line: skipped, or scanned into the current record. */
static enum recon_err csv_line(struct csv_parser *parser, struct recon_converter *converter,
                               const char *raw, size_t raw_length, uint64_t line_number,
                               bool *record_open)
{
    const char *text;
    size_t length;
    bool complete;
    enum recon_err err = recon_converter_line(converter, raw, raw_length, line_number, &text,
                                              &length, parser->error);
    if (err != RECON_OK)
        return err;
    if (parser->lines_skipped < parser->mapping->skip_lines) {
        parser->lines_skipped++;
        return RECON_OK;
    }
    if (!*record_open)
        record_reset(parser, line_number);
    err = scan_line(parser, text, length, &complete);
    if (err != RECON_OK)
        return err;
    *record_open = !complete;
    return complete ? record_complete(parser) : RECON_OK;
}

static enum recon_err csv_read(struct csv_parser *parser, struct recon_reader *reader)
{
    struct recon_converter converter;
    bool record_open = false;
    enum recon_err err =
        recon_converter_init(&converter, parser->mapping->gb18030 ? "GB18030" : NULL,
                             parser->builder.limits.line_bytes_max, parser->error);
    if (err != RECON_OK)
        return err;
    err = recon_builder_begin(&parser->builder, 1, parser->error);
    if (err == RECON_OK && !parser->mapping->header)
        err = resolve_columns(parser, false);
    for (;;) {
        const char *raw;
        size_t raw_length;
        bool end;
        if (err == RECON_OK)
            err = recon_reader_next(reader, &raw, &raw_length, &end, parser->error);
        if (err != RECON_OK || end)
            break;
        err = csv_line(parser, &converter, raw, raw_length, reader->line_number, &record_open);
    }
    recon_converter_close(&converter);
    if (err == RECON_OK && record_open)
        err = csv_fail(parser, RECON_ERR_TRUNCATED, "", "file ends inside a quoted field");
    if (err == RECON_OK && !parser->header_done)
        err = csv_fail(parser, RECON_ERR_MAPPING, "header", "file has no header row");
    if (err == RECON_OK)
        err = statement_complete(parser);
    return err;
}

static enum recon_err csv_run(struct recon_statement **out, struct recon_reader *reader,
                              struct csv_parser *parser, unsigned flags)
{
    enum recon_err err = csv_read(parser, reader);
    if (err == RECON_OK)
        err = recon_builder_finish(&parser->builder, out, flags, parser->error);
    return err;
}

static void parser_init(struct csv_parser *parser, const struct recon_csv_mapping *mapping,
                        const struct recon_limits *limits, unsigned flags,
                        struct recon_error *error)
{
    memset(parser, 0, sizeof *parser);
    parser->mapping = mapping;
    parser->flags = flags;
    parser->error = error;
    recon_builder_init(&parser->builder, limits, RECON_FORMAT_CSV);
    recon_buffer_init(&parser->record,
                      parser->builder.limits.field_bytes_max * RECON_CSV_COLUMNS_MAX +
                          RECON_CSV_COLUMNS_MAX);
}

static void parser_free(struct csv_parser *parser)
{
    recon_buffer_free(&parser->record);
    free(parser->balances);
    recon_builder_discard(&parser->builder);
}

static enum recon_err check_arguments(struct recon_statement **out,
                                      const struct recon_csv_mapping *mapping, unsigned flags,
                                      struct recon_error *error)
{
    if (error != NULL)
        memset(error, 0, sizeof *error);
    if (out == NULL || mapping == NULL || (flags & ~RECON_PARSE_NO_STATEMENT_CHECKS) != 0)
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "invalid arguments");
    *out = NULL;
    return RECON_OK;
}

enum recon_err recon_csv_parse(struct recon_statement **out, const char *data, size_t size,
                               const struct recon_csv_mapping *mapping,
                               const struct recon_limits *limits, unsigned flags,
                               struct recon_error *error)
{
    struct csv_parser parser;
    struct recon_reader reader;
    enum recon_err err = check_arguments(out, mapping, flags, error);
    if (err != RECON_OK)
        return err;
    if (data == NULL && size > 0)
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "no data");
    parser_init(&parser, mapping, limits, flags, error);
    recon_reader_init_buffer(&reader, data != NULL ? data : "", size, &parser.builder.limits);
    err = csv_run(out, &reader, &parser, flags);
    recon_reader_close(&reader);
    parser_free(&parser);
    return err;
}

enum recon_err recon_csv_parse_file(struct recon_statement **out, const char *path,
                                    const struct recon_csv_mapping *mapping,
                                    const struct recon_limits *limits, unsigned flags,
                                    struct recon_error *error)
{
    struct csv_parser parser;
    struct recon_reader reader;
    enum recon_err err = check_arguments(out, mapping, flags, error);
    if (err != RECON_OK)
        return err;
    if (path == NULL)
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "no path");
    parser_init(&parser, mapping, limits, flags, error);
    err = recon_reader_init_file(&reader, path, &parser.builder.limits, error);
    if (err == RECON_OK) {
        err = csv_run(out, &reader, &parser, flags);
        recon_reader_close(&reader);
    }
    parser_free(&parser);
    return err;
}

/* CSV is read whole (a file may list its rows newest first) and then handed
 * over in chunks. */
enum recon_err recon_csv_stream(const struct recon_source *source, const struct recon_sink *sink,
                                const struct recon_limits *limits, struct recon_error *error)
{
    struct recon_statement *first = NULL;
    enum recon_err err =
        source->path != NULL
            ? recon_csv_parse_file(&first, source->path, source->mapping, limits, 0, error)
            : recon_csv_parse(&first, source->data, source->size, source->mapping, limits, 0,
                              error);
    if (err == RECON_OK)
        err = recon_statements_to_sink(first, sink, error);
    recon_statement_free(first);
    return err;
}

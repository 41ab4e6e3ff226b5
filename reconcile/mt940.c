/* SWIFT MT940 customer statements into the statement model.
 *
 * The input is read line by line (never whole), converted to UTF-8, and cut
 * into fields: a field starts at a line ":NN:" or ":NNa:" (or ":NS:"), and
 * runs over the following lines until the next field, a "-" terminator or
 * the next {1:} block. A statement starts at :20: (or, in fragments without
 * one, at its first field) and ends at the terminator, the next :20: or the
 * end of the input.
 *
 * Rules decided here (each pinned in tests/test_recon_mt940.c):
 * - Years YY are 20YY below 80, else 19YY.
 * - The :61: entry date MMDD takes the year that puts it within half a year
 *   of the value date.
 * - A :61: value date of 29 or 30 February that does not exist is read as
 *   the last day of February and flagged value_date_adjusted: German banks
 *   date their closing entries so under the 30/360 day count. Any other
 *   impossible date is RECON_ERR_INVALID_DATE.
 * - D/C marks: C, D, RC (reversal of a credit: a debit) and RD (reversal of
 *   a debit: a credit), optionally followed by the funds code letter.
 * - References NONREF and NOTPROVIDED mean none. The customer reference is
 *   16x, but one that runs on without a space (ASN writes an 18-character
 *   IBAN there) is kept whole; text after it is supplementary detail.
 * - A statement that has its opening balance but ends before its closing
 *   balance is RECON_ERR_TRUNCATED. Fragments with neither parse (they fail
 *   the statement checks for want of balances).
 * - The :86: text: German/Dutch structured subfields (GVC then ?NN or >NN),
 *   SWIFT slash codes (/EREF/ /REMI/ /NAME/ ...) or plain text. Physical
 *   lines of 65 characters were wrapped by the bank and join directly;
 *   shorter ones join with a space. Likewise, a structured subfield of 27
 *   characters continues in the next one.
 */
#include "statement.h"

#include "recon_internal.h"

#include <string.h>

#define MT940_TAG_SIZE 8
#define MT940_SWIFT_LINE_CHARS 65 /* a line the bank wrapped */
#define MT940_SUBFIELD_CHARS 27   /* a ?20..?29 subfield the bank filled */
#define MT940_REFERENCE_CHARS 16  /* :61: references, 16x */
#define MT940_YEAR_PIVOT 80       /* YY below: 20YY, else 19YY */
#define MT940_HALF_YEAR_DAYS 183

struct mt940_parser {
    struct recon_builder builder;
    struct recon_error *error;
    bool in_statement;
    /* the field being read */
    bool field_open;
    char tag[MT940_TAG_SIZE];
    uint64_t field_line;
    struct recon_buffer field;
    /* a line ":" alone: the first half of a wrapped tag (":\n86:") */
    bool pending_colon;
    uint64_t pending_colon_line;
    /* the last :61: line of the statement and its :86: text so far */
    bool line_open;
    size_t line_index;
    struct recon_buffer details;
    uint64_t details_line;
    /* scratch for the :86: parts */
    struct recon_buffer purpose;
    struct recon_buffer name;
    struct recon_buffer end_to_end;
    struct recon_buffer joined;
};

/* ---- small helpers ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool starts_with(const char *text, size_t length, const char *prefix)
{
    size_t prefix_length = strlen(prefix);
    return length >= prefix_length && memcmp(text, prefix, prefix_length) == 0;
}

static enum recon_err fail_field(struct mt940_parser *parser, enum recon_err code,
                                 const char *message)
{
    char path[MT940_TAG_SIZE + 2];
    snprintf(path, sizeof path, ":%s:", parser->tag);
    return recon_fail(parser->error, code, parser->field_line, path, "%s", message);
}

static enum recon_err out_of_memory(struct mt940_parser *parser)
{
    return recon_fail(parser->error, RECON_ERR_NOMEM, parser->field_line, "", "out of memory");
}

/* Appends to a scratch buffer; the inputs are never longer than a field. */
static enum recon_err append(struct mt940_parser *parser, struct recon_buffer *buffer,
                             const char *text, size_t length)
{
    bool no_memory;
    if (recon_buffer_append(buffer, text, length, &no_memory))
        return RECON_OK;
    if (no_memory)
        return out_of_memory(parser);
    return fail_field(parser, RECON_ERR_FIELD_TOO_LONG, "field text is too long");
}

static const char *buffer_text(const struct recon_buffer *buffer)
{
    return buffer->data != NULL ? buffer->data : "";
}

/* Stores text in the statement; sets *out. */
static enum recon_err store(struct mt940_parser *parser, const char **out, const char *text,
                            size_t length)
{
    const char *stored = recon_builder_text(&parser->builder, text, length);
    if (stored == NULL)
        return out_of_memory(parser);
    *out = stored;
    return RECON_OK;
}

static bool is_no_reference(const char *text, size_t length)
{
    while (length > 0 && text[length - 1] == ' ')
        length--;
    return (length == 6 && memcmp(text, "NONREF", 6) == 0) ||
           (length == 11 && memcmp(text, "NOTPROVIDED", 11) == 0);
}

/* ---- dates ---- */

static int year_of(int two_digit_year)
{
    return two_digit_year < MT940_YEAR_PIVOT ? 2000 + two_digit_year : 1900 + two_digit_year;
}

/* YYMMDD; with allow_february_30, 29/30 February that do not exist become
 * the last day of February (*adjusted set). */
static bool read_date(int32_t *out_days, const char *text, bool allow_february_30, bool *adjusted)
{
    int year, month, day;
    if (!recon_read_digits(&year, text, 2) || !recon_read_digits(&month, text + 2, 2) ||
        !recon_read_digits(&day, text + 4, 2))
        return false;
    year = year_of(year);
    if (recon_date_from_ymd(out_days, year, month, day))
        return true;
    if (!allow_february_30 || month != 2 || (day != 29 && day != 30))
        return false;
    *adjusted = true;
    return recon_date_from_ymd(out_days, year, 2, 29) || recon_date_from_ymd(out_days, year, 2, 28);
}

/* MMDD near value_days. */
static bool read_entry_date(int32_t *out_days, const char *text, int32_t value_days)
{
    int value_year, value_month, value_day, month, day;
    int32_t days;
    if (!recon_read_digits(&month, text, 2) || !recon_read_digits(&day, text + 2, 2))
        return false;
    recon_date_to_ymd(value_days, &value_year, &value_month, &value_day);
    for (int year = value_year - 1; year <= value_year + 1; year++) {
        if (recon_date_from_ymd(&days, year, month, day) &&
            days - value_days <= MT940_HALF_YEAR_DAYS &&
            value_days - days <= MT940_HALF_YEAR_DAYS) {
            *out_days = days;
            return true;
        }
    }
    return false;
}

/* ---- balances :60F: :60M: :62F: :62M: ---- */

/* The first physical line of the field; the rest must be blank. */
static bool field_first_line(const struct mt940_parser *parser, const char **text, size_t *length)
{
    const char *data = buffer_text(&parser->field);
    const char *newline = memchr(data, '\n', parser->field.length);
    *text = data;
    *length = newline != NULL ? (size_t)(newline - data) : parser->field.length;
    for (size_t index = *length; index < parser->field.length; index++) {
        char c = data[index];
        if (c != '\n' && c != ' ' && c != '\t')
            return false;
    }
    return true;
}

static enum recon_err parse_balance(struct mt940_parser *parser, struct recon_balance *balance)
{
    const char *text;
    size_t length;
    bool adjusted = false;
    int64_t amount;

    if (balance->present)
        return fail_field(parser, RECON_ERR_DUPLICATE_FIELD, "balance appears twice");
    if (!field_first_line(parser, &text, &length))
        return fail_field(parser, RECON_ERR_SYNTAX, "text after the balance");
    while (length > 0 && text[length - 1] == ' ')
        length--;
    if (length < 11 || (text[0] != 'C' && text[0] != 'D'))
        return fail_field(parser, RECON_ERR_SYNTAX, "balance is not C/D, date, currency, amount");
    if (!read_date(&balance->date_days, text + 1, false, &adjusted))
        return fail_field(parser, RECON_ERR_INVALID_DATE, "balance date does not exist");
    memcpy(balance->currency, text + 7, 3);
    balance->currency[3] = '\0';
    if (!is_upper(text[7]) || !is_upper(text[8]) || !is_upper(text[9]))
        return fail_field(parser, RECON_ERR_INVALID_CURRENCY, "balance currency is not ISO 4217");
    enum recon_err err =
        recon_amount_parse(&amount, text + 10, length - 10, balance->currency, ',', false);
    if (err != RECON_OK)
        return fail_field(parser, err, "balance amount is not a decimal amount of its currency");
    balance->amount_minor = text[0] == 'D' ? -amount : amount;
    balance->present = true;
    balance->source_line = parser->field_line;
    return RECON_OK;
}

/* ---- statement lines :61: ---- */

struct cursor {
    const char *text;
    size_t length;
    size_t position;
};

static char cursor_peek(const struct cursor *cursor, size_t ahead)
{
    size_t at = cursor->position + ahead;
    if (at >= cursor->length)
        return '\0';
    return cursor->text[at];
}

/* Some banks wrap :61: anywhere: line breaks between its subfields are skipped. */
static void cursor_skip_breaks(struct cursor *cursor)
{
    while (cursor_peek(cursor, 0) == '\n')
        cursor->position++;
}

/* UTF-8 continuation bytes at `ahead`: a cut there would split a character. */
static size_t continuation_bytes(const struct cursor *cursor, size_t ahead)
{
    size_t count = 0;
    while (((unsigned char)cursor_peek(cursor, ahead + count) & 0xc0) == 0x80)
        count++;
    return count;
}

/* Up to `max` characters before "//", a line break or the end. */
static size_t reference_length(const struct cursor *cursor, size_t max)
{
    size_t count = 0;
    while (count < max) {
        char c = cursor_peek(cursor, count);
        if (c == '\0' || c == '\n' || (c == '/' && cursor_peek(cursor, count + 1) == '/'))
            break;
        count++;
    }
    return count + continuation_bytes(cursor, count);
}

/* Characters from `ahead` up to a space, "//", a line break or the end, at most max. */
static size_t word_length(const struct cursor *cursor, size_t ahead, size_t max)
{
    size_t count = 0;
    while (count < max) {
        char c = cursor_peek(cursor, ahead + count);
        if (c == '\0' || c == '\n' || c == ' ' ||
            (c == '/' && cursor_peek(cursor, ahead + count + 1) == '/'))
            break;
        count++;
    }
    return count + continuation_bytes(cursor, ahead + count);
}

static enum recon_err line_dates(struct mt940_parser *parser, struct cursor *cursor,
                                 struct recon_line *line)
{
    bool adjusted = false;
    if (cursor->length < 6 || !read_date(&line->value_date_days, cursor->text, true, &adjusted))
        return fail_field(parser, RECON_ERR_INVALID_DATE, "value date does not exist");
    line->value_date_adjusted = adjusted;
    cursor->position = 6;
    cursor_skip_breaks(cursor);
    if (is_digit(cursor_peek(cursor, 0))) {
        if (cursor->position + 4 > cursor->length ||
            !read_entry_date(&line->booking_date_days, cursor->text + cursor->position,
                             line->value_date_days))
            return fail_field(parser, RECON_ERR_INVALID_DATE, "entry date does not exist");
        cursor->position += 4;
    } else if (cursor->position + 4 <= cursor->length &&
               memcmp(cursor->text + cursor->position, "    ", 4) == 0) {
        cursor->position += 4; /* an entry date left blank */
    }
    cursor_skip_breaks(cursor);
    return RECON_OK;
}

/* Mark (C, D, RC, RD), funds code, amount. */
static enum recon_err line_amount(struct mt940_parser *parser, struct cursor *cursor,
                                  struct recon_line *line, const char *currency)
{
    bool credit;
    int64_t amount;
    if (cursor_peek(cursor, 0) == 'R' &&
        (cursor_peek(cursor, 1) == 'C' || cursor_peek(cursor, 1) == 'D')) {
        line->reversal = true;
        cursor->position++;
    }
    char mark = cursor_peek(cursor, 0);
    if (mark != 'C' && mark != 'D')
        return fail_field(parser, RECON_ERR_SYNTAX, "statement line has no C/D mark");
    /* A reversed credit (RC) is a debit, a reversed debit (RD) a credit. */
    credit = mark == 'C' ? !line->reversal : line->reversal;
    cursor->position++;
    cursor_skip_breaks(cursor);
    if (is_upper(cursor_peek(cursor, 0)))
        cursor->position++; /* funds code: the currency's third letter */
    cursor_skip_breaks(cursor);
    size_t start = cursor->position;
    while (is_digit(cursor_peek(cursor, 0)) || cursor_peek(cursor, 0) == ',')
        cursor->position++;
    if (cursor->position == start)
        return fail_field(parser, RECON_ERR_SYNTAX, "statement line has no amount");
    enum recon_err err = recon_amount_parse(&amount, cursor->text + start, cursor->position - start,
                                            currency, ',', false);
    if (err != RECON_OK)
        return fail_field(parser, err, "statement line amount is not a decimal amount");
    line->amount_minor = credit ? amount : -amount;
    return RECON_OK;
}

/* Type code, references, supplementary details. */
static enum recon_err line_references(struct mt940_parser *parser, struct cursor *cursor,
                                      struct recon_line *line)
{
    enum recon_err err;
    cursor_skip_breaks(cursor);
    size_t type_start = cursor->position;
    for (size_t index = 0; index < 4; index++) {
        char c = cursor_peek(cursor, index);
        if (c == '\0' || c == '\n' || (index == 0 && !is_upper(c)))
            return fail_field(parser, RECON_ERR_SYNTAX,
                              "statement line ends before its transaction type");
    }
    cursor->position += 4 + continuation_bytes(cursor, 4);
    err = store(parser, &line->transaction_code, cursor->text + type_start,
                cursor->position - type_start);
    if (err != RECON_OK)
        return err;
    size_t owner_length = reference_length(cursor, MT940_REFERENCE_CHARS);
    /* A reference longer than 16x (ASN puts an 18-character IBAN there)
     * is kept whole up to the next space. */
    if (owner_length == MT940_REFERENCE_CHARS && cursor_peek(cursor, owner_length - 1) != ' ')
        owner_length += word_length(cursor, owner_length, MT940_REFERENCE_CHARS);
    if (!is_no_reference(cursor->text + cursor->position, owner_length)) {
        err = store(parser, &line->owner_reference, cursor->text + cursor->position, owner_length);
        if (err != RECON_OK)
            return err;
    }
    cursor->position += owner_length;
    if (cursor_peek(cursor, 0) == '/' && cursor_peek(cursor, 1) == '/') {
        cursor->position += 2;
        size_t bank_length = reference_length(cursor, MT940_REFERENCE_CHARS);
        if (!is_no_reference(cursor->text + cursor->position, bank_length)) {
            err =
                store(parser, &line->bank_reference, cursor->text + cursor->position, bank_length);
            if (err != RECON_OK)
                return err;
        }
        cursor->position += bank_length;
    }
    /* Whatever follows (the rest of the line, further lines) is supplementary detail. */
    return store(parser, &line->additional_info, cursor->text + cursor->position,
                 cursor->length - cursor->position);
}

static enum recon_err parse_statement_line(struct mt940_parser *parser)
{
    struct recon_statement *statement = parser->builder.current;
    struct recon_line *line;
    struct cursor cursor = {buffer_text(&parser->field), parser->field.length, 0};

    if (statement->closing.present)
        return fail_field(parser, RECON_ERR_SYNTAX, "statement line after the closing balance");
    /* The line before is complete (its :86: closed): a streamed chunk may go. */
    enum recon_err err = recon_builder_checkpoint(&parser->builder, parser->error);
    if (err == RECON_OK)
        err = recon_builder_add_line(&parser->builder, &line, parser->field_line, parser->error);
    if (err != RECON_OK)
        return err;
    memcpy(line->currency, statement->opening.currency, RECON_CURRENCY_SIZE);
    err = line_dates(parser, &cursor, line);
    if (err == RECON_OK)
        err = line_amount(parser, &cursor, line, statement->opening.currency);
    if (err == RECON_OK)
        err = line_references(parser, &cursor, line);
    if (err != RECON_OK)
        return err;
    parser->line_open = true;
    parser->line_index = statement->line_count - 1;
    recon_buffer_clear(&parser->details);
    parser->details_line = 0;
    return RECON_OK;
}

/* ---- :86: information to the account owner ---- */

/* Joins piece to buffer: directly when the previous piece filled its line
 * (full_chars), else with one space. */
static enum recon_err join_piece(struct mt940_parser *parser, struct recon_buffer *buffer,
                                 const char *piece, size_t length, size_t previous_chars,
                                 size_t full_chars)
{
    if (buffer->length > 0 && previous_chars < full_chars) {
        enum recon_err err = append(parser, buffer, " ", 1);
        if (err != RECON_OK)
            return err;
    }
    return append(parser, buffer, piece, length);
}

/* The :86: text with its physical lines joined (in parser->joined):
 * directly after a full 65-character line (the bank wrapped it), else with
 * a space. */
static enum recon_err details_join_lines(struct mt940_parser *parser)
{
    const char *text = buffer_text(&parser->details);
    size_t start = 0;
    size_t previous_chars = MT940_SWIFT_LINE_CHARS;
    recon_buffer_clear(&parser->joined);
    while (start <= parser->details.length) {
        const char *newline = memchr(text + start, '\n', parser->details.length - start);
        size_t end = newline != NULL ? (size_t)(newline - text) : parser->details.length;
        /* A line that starts a structured subfield follows on directly. */
        bool subfield = end - start >= 3 && (text[start] == '?' || text[start] == '>') &&
                        is_digit(text[start + 1]) && is_digit(text[start + 2]);
        enum recon_err err =
            join_piece(parser, &parser->joined, text + start, end - start,
                       subfield ? MT940_SWIFT_LINE_CHARS : previous_chars, MT940_SWIFT_LINE_CHARS);
        if (err != RECON_OK)
            return err;
        previous_chars = recon_utf8_length(text + start, end - start);
        start = end + 1;
    }
    return RECON_OK;
}

/* Plain text: the joined lines. */
static enum recon_err details_plain(struct mt940_parser *parser, struct recon_line *line)
{
    return store(parser, &line->remittance, buffer_text(&parser->joined), parser->joined.length);
}

static bool is_sepa_keyword(const char *text, size_t length)
{
    static const char *const keywords[] = {"EREF+", "KREF+", "MREF+", "CRED+", "DEBT+",
                                           "SVWZ+", "ABWA+", "ABWE+", "IBAN+", "BIC+",
                                           "COAM+", "OAMT+", "RTRN+"};
    for (size_t index = 0; index < sizeof keywords / sizeof keywords[0]; index++) {
        if (starts_with(text, length, keywords[index]))
            return true;
    }
    return false;
}

/* Structured ?NN subfields: code -> where its text goes. */
struct structured_state {
    size_t purpose_previous_chars;
    size_t name_previous_chars;
    size_t end_to_end_previous_chars;
    bool in_end_to_end;
    const char *account;
    size_t account_length;
    const char *iban;
    size_t iban_length;
    const char *booking_text;
    size_t booking_text_length;
    const char *reason;
    size_t reason_length;
};

static enum recon_err structured_purpose(struct mt940_parser *parser,
                                         struct structured_state *state, const char *text,
                                         size_t length)
{
    size_t chars = recon_utf8_length(text, length);
    enum recon_err err = join_piece(parser, &parser->purpose, text, length,
                                    state->purpose_previous_chars, MT940_SUBFIELD_CHARS);
    if (err != RECON_OK)
        return err;
    /* EREF+ starts the end-to-end id; a subfield without a keyword after a
     * full one continues it (the DK rules for SEPA in MT940). */
    if (starts_with(text, length, "EREF+")) {
        recon_buffer_clear(&parser->end_to_end);
        err = append(parser, &parser->end_to_end, text + 5, length - 5);
        state->in_end_to_end = true;
    } else if (state->in_end_to_end && !is_sepa_keyword(text, length) &&
               state->purpose_previous_chars >= MT940_SUBFIELD_CHARS) {
        err = append(parser, &parser->end_to_end, text, length);
    } else {
        state->in_end_to_end = false;
    }
    state->purpose_previous_chars = chars;
    return err;
}

static enum recon_err structured_subfield(struct mt940_parser *parser,
                                          struct structured_state *state, int code,
                                          const char *text, size_t length)
{
    if ((code >= 20 && code <= 29) || (code >= 60 && code <= 63))
        return structured_purpose(parser, state, text, length);
    if (code == 32 || code == 33) {
        enum recon_err err = join_piece(parser, &parser->name, text, length,
                                        state->name_previous_chars, MT940_SUBFIELD_CHARS);
        state->name_previous_chars = recon_utf8_length(text, length);
        return err;
    }
    if (code == 0) {
        state->booking_text = text;
        state->booking_text_length = length;
    } else if (code == 31) {
        state->account = text;
        state->account_length = length;
    } else if (code == 38) {
        state->iban = text;
        state->iban_length = length;
    } else if (code == 34 && length > 0 && text[0] == '9') {
        /* DK: a return's reason is a 9xx Textschluesselergaenzung. */
        state->reason = text;
        state->reason_length = length;
    }
    return RECON_OK;
}

static bool is_subfield_start(const char *text, size_t length, size_t at, char separator)
{
    return at + 2 < length && text[at] == separator && is_digit(text[at + 1]) &&
           is_digit(text[at + 2]);
}

static enum recon_err structured_store(struct mt940_parser *parser, struct recon_line *line,
                                       const struct structured_state *state)
{
    enum recon_err err =
        store(parser, &line->remittance, buffer_text(&parser->purpose), parser->purpose.length);
    if (err == RECON_OK)
        err = store(parser, &line->counterparty_name, buffer_text(&parser->name),
                    parser->name.length);
    if (err == RECON_OK && state->iban_length > 0)
        err = store(parser, &line->counterparty_account, state->iban, state->iban_length);
    else if (err == RECON_OK && state->account != NULL)
        err = store(parser, &line->counterparty_account, state->account, state->account_length);
    if (err == RECON_OK && state->reason != NULL)
        err = store(parser, &line->return_reason, state->reason, state->reason_length);
    if (err == RECON_OK &&
        !is_no_reference(buffer_text(&parser->end_to_end), parser->end_to_end.length))
        err = store(parser, &line->end_to_end_id, buffer_text(&parser->end_to_end),
                    parser->end_to_end.length);
    if (err != RECON_OK || state->booking_text == NULL)
        return err;
    /* The booking text (?00) goes before the :61: supplementary details. */
    recon_buffer_clear(&parser->name);
    err = append(parser, &parser->name, state->booking_text, state->booking_text_length);
    if (err == RECON_OK && line->additional_info[0] != '\0')
        err = join_piece(parser, &parser->name, line->additional_info,
                         strlen(line->additional_info), 0, 1);
    if (err == RECON_OK)
        err =
            store(parser, &line->additional_info, buffer_text(&parser->name), parser->name.length);
    return err;
}

/* GVC (3 digits), then subfields separated by '?' (or '>') and two digits. */
static enum recon_err details_structured(struct mt940_parser *parser, struct recon_line *line)
{
    const char *text = buffer_text(&parser->joined);
    size_t length = parser->joined.length;
    char separator = text[3];
    struct structured_state state;
    memset(&state, 0, sizeof state);
    size_t at = 3;
    while (at < length) {
        int code = (text[at + 1] - '0') * 10 + (text[at + 2] - '0');
        size_t start = at + 3;
        size_t end = start;
        while (end < length && !is_subfield_start(text, length, end, separator))
            end++;
        enum recon_err err = structured_subfield(parser, &state, code, text + start, end - start);
        if (err != RECON_OK)
            return err;
        at = end;
    }
    return structured_store(parser, line, &state);
}

static bool is_structured(const char *text, size_t length)
{
    return length >= 6 && is_digit(text[0]) && is_digit(text[1]) && is_digit(text[2]) &&
           (text[3] == '?' || text[3] == '>') && is_digit(text[4]) && is_digit(text[5]);
}

/* ---- SWIFT slash codes ---- */

static const char *const slash_codes[] = {
    "EREF", "REMI", "NAME", "IBAN", "BIC",  "CNTP", "RTRN", "MARF", "CSID", "PREF",
    "TRTP", "ORDP", "BENM", "ISDT", "ADDR", "KREF", "PURP", "ULTC", "ULTD", "ULTB",
    "ACCW", "IREF", "OCMT", "SVCL", "BUSP", "CHGS", "EXCH", "ID",   "ATOS", "FX"};

/* Length of the known code "/CODE/" at text[at], or 0. */
static size_t slash_code_at(const char *text, size_t length, size_t at)
{
    if (text[at] != '/')
        return 0;
    for (size_t index = 0; index < sizeof slash_codes / sizeof slash_codes[0]; index++) {
        size_t code_length = strlen(slash_codes[index]);
        if (at + code_length + 2 <= length &&
            memcmp(text + at + 1, slash_codes[index], code_length) == 0 &&
            text[at + 1 + code_length] == '/')
            return code_length + 2;
    }
    return 0;
}

static enum recon_err slash_value(struct mt940_parser *parser, struct recon_line *line,
                                  const char *code, const char *value, size_t length)
{
    while (length > 0 && value[length - 1] == '/')
        length--;
    if (starts_with(code, 6, "/EREF/") && !is_no_reference(value, length))
        return store(parser, &line->end_to_end_id, value, length);
    if (starts_with(code, 6, "/NAME/") && line->counterparty_name[0] == '\0')
        return store(parser, &line->counterparty_name, value, length);
    if (starts_with(code, 6, "/IBAN/"))
        return store(parser, &line->counterparty_account, value, length);
    if (starts_with(code, 6, "/RTRN/")) {
        const char *slash = memchr(value, '/', length);
        return store(parser, &line->return_reason, value,
                     slash != NULL ? (size_t)(slash - value) : length);
    }
    if (starts_with(code, 6, "/REMI/")) {
        if (starts_with(value, length, "USTD//"))
            return store(parser, &line->remittance, value + 6, length - 6);
        if (starts_with(value, length, "STRD/") && length > 9 && value[8] == '/')
            return store(parser, &line->creditor_reference, value + 9, length - 9);
        return store(parser, &line->remittance, value, length);
    }
    if (starts_with(code, 6, "/CNTP/")) {
        /* account/BIC/name/city */
        const char *first = memchr(value, '/', length);
        size_t account_length = first != NULL ? (size_t)(first - value) : length;
        enum recon_err err = store(parser, &line->counterparty_account, value, account_length);
        const char *second =
            first != NULL ? memchr(first + 1, '/', length - (size_t)(first + 1 - value)) : NULL;
        if (err != RECON_OK || second == NULL || line->counterparty_name[0] != '\0')
            return err;
        const char *name = second + 1;
        size_t rest = length - (size_t)(name - value);
        const char *third = memchr(name, '/', rest);
        return store(parser, &line->counterparty_name, name,
                     third != NULL ? (size_t)(third - name) : rest);
    }
    return RECON_OK;
}

static enum recon_err details_slash(struct mt940_parser *parser, struct recon_line *line)
{
    const char *text = buffer_text(&parser->joined);
    size_t length = parser->joined.length;
    size_t at = 0;
    while (at < length) {
        size_t code_length = slash_code_at(text, length, at);
        const char *code = text + at;
        size_t start = at + code_length;
        size_t end = start;
        while (end < length && slash_code_at(text, length, end) == 0)
            end++;
        enum recon_err err = slash_value(parser, line, code, text + start, end - start);
        if (err != RECON_OK)
            return err;
        at = end;
    }
    return RECON_OK;
}

/* Sets the open line's fields from its :86: text, once it is complete. */
static enum recon_err details_close(struct mt940_parser *parser)
{
    if (!parser->line_open)
        return RECON_OK;
    parser->line_open = false;
    if (parser->details.length == 0)
        return RECON_OK;
    struct recon_line *line = &parser->builder.current->lines[parser->line_index];
    recon_buffer_clear(&parser->purpose);
    recon_buffer_clear(&parser->name);
    recon_buffer_clear(&parser->end_to_end);
    enum recon_err err = details_join_lines(parser);
    if (err != RECON_OK)
        return err;
    if (is_structured(buffer_text(&parser->joined), parser->joined.length))
        return details_structured(parser, line);
    if (slash_code_at(buffer_text(&parser->joined), parser->joined.length, 0) > 0)
        return details_slash(parser, line);
    return details_plain(parser, line);
}

static enum recon_err details_add(struct mt940_parser *parser)
{
    if (parser->details.length > 0) {
        enum recon_err err = append(parser, &parser->details, "\n", 1);
        if (err != RECON_OK)
            return err;
    }
    return append(parser, &parser->details, buffer_text(&parser->field), parser->field.length);
}

/* ---- fields and statements ---- */

static enum recon_err field_text(struct mt940_parser *parser, const char **out)
{
    const char *text;
    size_t length;
    if (!field_first_line(parser, &text, &length))
        return fail_field(parser, RECON_ERR_SYNTAX, "field has more than one line");
    return store(parser, out, text, length);
}

static enum recon_err field_complete(struct mt940_parser *parser)
{
    struct recon_statement *statement = parser->builder.current;
    const char *tag = parser->tag;

    if (!parser->field_open)
        return RECON_OK;
    parser->field_open = false;
    if (strcmp(tag, "86") == 0)
        return parser->line_open ? details_add(parser) : RECON_OK; /* else: about the statement */
    enum recon_err err = details_close(parser);
    if (err != RECON_OK)
        return err;
    if (strcmp(tag, "20") == 0)
        return field_text(parser, &statement->statement_id);
    if (strcmp(tag, "25") == 0) {
        if (statement->account_id[0] != '\0')
            return fail_field(parser, RECON_ERR_DUPLICATE_FIELD, "account appears twice");
        return field_text(parser, &statement->account_id);
    }
    if (strcmp(tag, "28") == 0 || strcmp(tag, "28C") == 0)
        return field_text(parser, &statement->sequence);
    if (strcmp(tag, "60F") == 0 || strcmp(tag, "60M") == 0) {
        if (statement->line_count > 0)
            return fail_field(parser, RECON_ERR_SYNTAX, "opening balance after statement lines");
        return parse_balance(parser, &statement->opening);
    }
    if (strcmp(tag, "61") == 0)
        return parse_statement_line(parser);
    if (strcmp(tag, "62F") == 0 || strcmp(tag, "62M") == 0)
        return parse_balance(parser, &statement->closing);
    return RECON_OK; /* :21: :64: :65: :NS: and others: not used */
}

static enum recon_err statement_end(struct mt940_parser *parser, uint64_t line_number)
{
    struct recon_statement *statement = parser->builder.current;
    enum recon_err err = field_complete(parser);
    if (err == RECON_OK)
        err = details_close(parser);
    if (err != RECON_OK)
        return err;
    if (statement->opening.present && !statement->closing.present)
        return recon_fail(parser->error, RECON_ERR_TRUNCATED, line_number,
                          ":62F:", "statement ends before its closing balance");
    const char *currency =
        statement->opening.present ? statement->opening.currency : statement->closing.currency;
    memcpy(statement->currency, currency, RECON_CURRENCY_SIZE);
    parser->in_statement = false;
    return recon_builder_end(&parser->builder, parser->error);
}

/* ":20:" ":60F:" ":NS:" at the start of the line: the tag's length with
 * both colons, or 0. */
static size_t tag_length(const char *text, size_t length)
{
    if (length >= 4 && text[0] == ':' && text[1] == 'N' && text[2] == 'S' && text[3] == ':')
        return 4;
    if (length < 4 || text[0] != ':' || !is_digit(text[1]) || !is_digit(text[2]))
        return 0;
    if (text[3] == ':')
        return 4;
    if (length >= 5 && is_upper(text[3]) && text[4] == ':')
        return 5;
    return 0;
}

static enum recon_err open_field(struct mt940_parser *parser, const char *text, size_t length,
                                 size_t tag_chars, uint64_t line_number)
{
    enum recon_err err = field_complete(parser);
    if (err != RECON_OK)
        return err;
    bool is_reference = tag_chars == 4 && memcmp(text, ":20:", 4) == 0;
    if (parser->in_statement && is_reference) {
        err = statement_end(parser, line_number);
        if (err != RECON_OK)
            return err;
    }
    if (!parser->in_statement) {
        err = recon_builder_begin(&parser->builder, line_number, parser->error);
        if (err != RECON_OK)
            return err;
        parser->in_statement = true;
        parser->line_open = false;
    }
    memcpy(parser->tag, text + 1, tag_chars - 2);
    parser->tag[tag_chars - 2] = '\0';
    parser->field_open = true;
    parser->field_line = line_number;
    recon_buffer_clear(&parser->field);
    return append(parser, &parser->field, text + tag_chars, length - tag_chars);
}

/* "-", "-}..." or "-XXX": the end of a statement's text block. */
static bool is_terminator(const char *text, size_t length)
{
    if (length == 0 || text[0] != '-')
        return false;
    if (length == 1 || text[1] == '}')
        return true;
    if (length > 4)
        return false;
    for (size_t index = 1; index < length; index++) {
        if (!is_upper(text[index]))
            return false;
    }
    return true;
}

static enum recon_err process_line(struct mt940_parser *parser, const char *text, size_t length,
                                   uint64_t line_number);

/* A line after a lone ":": a wrapped tag ("86:...") or plain text. */
static enum recon_err process_after_colon(struct mt940_parser *parser, const char *text,
                                          size_t length, uint64_t line_number)
{
    char tag[MT940_TAG_SIZE + 1];
    size_t tag_chars;
    parser->pending_colon = false;
    tag[0] = ':';
    size_t copy = length < MT940_TAG_SIZE - 1 ? length : MT940_TAG_SIZE - 1;
    memcpy(tag + 1, text, copy);
    tag_chars = tag_length(tag, copy + 1);
    if (tag_chars > 0) {
        /* Open with the tag, then the text after it. */
        enum recon_err err =
            open_field(parser, tag, tag_chars, tag_chars, parser->pending_colon_line);
        if (err != RECON_OK)
            return err;
        return append(parser, &parser->field, text + tag_chars - 1, length - (tag_chars - 1));
    }
    enum recon_err err = process_line(parser, ":", 1, parser->pending_colon_line);
    if (err != RECON_OK)
        return err;
    return process_line(parser, text, length, line_number);
}

static enum recon_err process_line(struct mt940_parser *parser, const char *text, size_t length,
                                   uint64_t line_number)
{
    size_t tag_chars = tag_length(text, length);
    if (tag_chars > 0)
        return open_field(parser, text, length, tag_chars, line_number);
    if (is_terminator(text, length))
        return parser->in_statement ? statement_end(parser, line_number) : RECON_OK;
    if (parser->field_open) {
        enum recon_err err = append(parser, &parser->field, "\n", 1);
        if (err != RECON_OK)
            return err;
        return append(parser, &parser->field, text, length);
    }
    return RECON_OK; /* text outside a statement: file headers ("940", "ABNANL2A") */
}

/* Block wrappers: "{1:...}{2:...}{4:" opens the text block, whose rest (if
 * any) is a line; other "{n:...}" lines are ignored. */
static enum recon_err process_physical_line(struct mt940_parser *parser, const char *text,
                                            size_t length, uint64_t line_number)
{
    if (parser->pending_colon)
        return process_after_colon(parser, text, length, line_number);
    if (length == 1 && text[0] == ':') {
        parser->pending_colon = true;
        parser->pending_colon_line = line_number;
        return RECON_OK;
    }
    if (length > 0 && text[0] == '{' && !parser->field_open) {
        for (size_t index = 0; index + 3 <= length; index++) {
            if (memcmp(text + index, "{4:", 3) == 0)
                return process_line(parser, text + index + 3, length - index - 3, line_number);
        }
        return RECON_OK;
    }
    return process_line(parser, text, length, line_number);
}

static enum recon_err parse_input(struct mt940_parser *parser, struct recon_reader *reader,
                                  struct recon_converter *converter)
{
    for (;;) {
        const char *raw, *text;
        size_t raw_length, length;
        bool end;
        enum recon_err err = recon_reader_next(reader, &raw, &raw_length, &end, parser->error);
        if (err != RECON_OK)
            return err;
        if (end)
            break;
        err = recon_converter_line(converter, raw, raw_length, reader->line_number, &text, &length,
                                   parser->error);
        if (err == RECON_OK)
            err = process_physical_line(parser, text, length, reader->line_number);
        if (err != RECON_OK)
            return err;
    }
    if (parser->pending_colon) {
        enum recon_err err = process_line(parser, ":", 1, parser->pending_colon_line);
        if (err != RECON_OK)
            return err;
    }
    if (!parser->in_statement)
        return RECON_OK;
    uint64_t last_line = reader->line_number;
    enum recon_err err = statement_end(parser, last_line);
    const struct recon_statement *statement = parser->builder.current;
    if ((err == RECON_ERR_SYNTAX || err == RECON_ERR_INVALID_DATE ||
         err == RECON_ERR_INVALID_AMOUNT) &&
        statement->opening.present && !statement->closing.present) {
        /* The last field is cut off: say that rather than how it is cut. */
        return recon_fail(parser->error, RECON_ERR_TRUNCATED, last_line,
                          ":62F:", "input ends inside a statement");
    }
    return err;
}

static void parser_init(struct mt940_parser *parser, const struct recon_limits *limits,
                        struct recon_error *error)
{
    memset(parser, 0, sizeof *parser);
    recon_builder_init(&parser->builder, limits, RECON_FORMAT_MT940);
    parser->error = error;
    size_t max = parser->builder.limits.field_bytes_max;
    recon_buffer_init(&parser->field, max);
    recon_buffer_init(&parser->details, max);
    recon_buffer_init(&parser->purpose, max);
    recon_buffer_init(&parser->name, max);
    recon_buffer_init(&parser->end_to_end, max);
    recon_buffer_init(&parser->joined, max);
}

static void parser_free(struct mt940_parser *parser)
{
    recon_buffer_free(&parser->field);
    recon_buffer_free(&parser->details);
    recon_buffer_free(&parser->purpose);
    recon_buffer_free(&parser->name);
    recon_buffer_free(&parser->end_to_end);
    recon_buffer_free(&parser->joined);
    recon_builder_discard(&parser->builder);
}

static enum recon_err mt940_run(struct recon_statement **out, struct mt940_parser *parser,
                                struct recon_reader *reader, const char *encoding, unsigned flags)
{
    struct recon_converter converter;
    enum recon_err err = recon_converter_init(&converter, encoding,
                                              parser->builder.limits.line_bytes_max, parser->error);
    if (err == RECON_OK) {
        err = parse_input(parser, reader, &converter);
        if (err != RECON_OK && parser->error != NULL)
            parser->error->statement_index = parser->builder.statement_count;
        recon_converter_close(&converter);
    }
    if (err == RECON_OK)
        err = recon_builder_finish(&parser->builder, out, flags, parser->error);
    return err;
}

static enum recon_err check_arguments(struct recon_statement **out, unsigned flags,
                                      struct recon_error *error)
{
    if (error != NULL)
        memset(error, 0, sizeof *error);
    if (out == NULL || (flags & ~RECON_PARSE_NO_STATEMENT_CHECKS) != 0)
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "invalid arguments");
    *out = NULL;
    return RECON_OK;
}

enum recon_err recon_mt940_parse(struct recon_statement **out, const char *data, size_t size,
                                 const char *encoding, const struct recon_limits *limits,
                                 unsigned flags, struct recon_error *error)
{
    struct mt940_parser parser;
    struct recon_reader reader;
    enum recon_err err = check_arguments(out, flags, error);
    if (err != RECON_OK)
        return err;
    if (data == NULL && size > 0)
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "no data");
    parser_init(&parser, limits, error);
    recon_reader_init_buffer(&reader, data != NULL ? data : "", size, &parser.builder.limits);
    err = mt940_run(out, &parser, &reader, encoding, flags);
    recon_reader_close(&reader);
    parser_free(&parser);
    return err;
}

enum recon_err recon_mt940_parse_file(struct recon_statement **out, const char *path,
                                      const char *encoding, const struct recon_limits *limits,
                                      unsigned flags, struct recon_error *error)
{
    struct mt940_parser parser;
    struct recon_reader reader;
    enum recon_err err = check_arguments(out, flags, error);
    if (err != RECON_OK)
        return err;
    if (path == NULL)
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "no path");
    parser_init(&parser, limits, error);
    err = recon_reader_init_file(&reader, path, &parser.builder.limits, error);
    if (err == RECON_OK) {
        err = mt940_run(out, &parser, &reader, encoding, flags);
        recon_reader_close(&reader);
    }
    parser_free(&parser);
    return err;
}

enum recon_err recon_mt940_stream(const struct recon_source *source, const struct recon_sink *sink,
                                  const struct recon_limits *limits, struct recon_error *error)
{
    struct mt940_parser parser;
    struct recon_reader reader;
    enum recon_err err = RECON_OK;
    parser_init(&parser, limits, error);
    recon_builder_stream(&parser.builder, sink);
    if (source->path == NULL)
        recon_reader_init_buffer(&reader, source->data != NULL ? source->data : "", source->size,
                                 &parser.builder.limits);
    else
        err = recon_reader_init_file(&reader, source->path, &parser.builder.limits, error);
    if (err == RECON_OK) {
        err = mt940_run(NULL, &parser, &reader, source->encoding, 0);
        recon_reader_close(&reader);
    }
    parser_free(&parser);
    return err;
}

/* The statement model: building it, checking it, freeing it, its errors,
 * dates and line fingerprints. */
#include "statement.h"

#include "recon_internal.h"

#include "money.h"

#include <assert.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct err_row {
    const char *code;
    const char *message;
};

static const struct err_row err_table[RECON_ERR__COUNT] = {
    [RECON_OK] = {"ok", "ok"},
    [RECON_ERR_INVALID_ARGUMENT] = {"invalid_request", "invalid request"},
    [RECON_ERR_NOMEM] = {"out_of_memory", "out of memory"},
    [RECON_ERR_IO] = {"io_error", "could not read the statement file"},
    [RECON_ERR_INPUT_TOO_LARGE] = {"statement_too_large", "statement file is too large"},
    [RECON_ERR_LINE_TOO_LONG] = {"statement_line_too_long", "line is too long"},
    [RECON_ERR_FIELD_TOO_LONG] = {"statement_field_too_long", "field is too long"},
    [RECON_ERR_TOO_DEEP] = {"statement_too_deep", "elements are nested too deeply"},
    [RECON_ERR_TOO_MANY_LINES] = {"statement_too_many_lines", "too many statement lines"},
    [RECON_ERR_TOO_MANY_STATEMENTS] = {"statement_too_many_statements", "too many statements"},
    [RECON_ERR_ENCODING] = {"statement_invalid_encoding", "invalid byte sequence"},
    [RECON_ERR_SYNTAX] = {"statement_malformed", "statement file is malformed"},
    [RECON_ERR_FORBIDDEN_MARKUP] = {"statement_forbidden_markup",
                                    "document type declarations are not allowed"},
    [RECON_ERR_NOT_STATEMENT] = {"not_a_statement", "file holds no bank statement"},
    [RECON_ERR_TRUNCATED] = {"statement_truncated", "statement file ends inside a statement"},
    [RECON_ERR_MISSING_FIELD] = {"statement_missing_field", "mandatory field is missing"},
    [RECON_ERR_DUPLICATE_FIELD] = {"statement_duplicate_field", "field appears twice"},
    [RECON_ERR_INVALID_AMOUNT] = {"invalid_amount", "invalid amount"},
    [RECON_ERR_AMOUNT_PRECISION] = {"amount_precision",
                                    "amount has more decimals than its currency"},
    [RECON_ERR_INVALID_DATE] = {"invalid_date", "invalid date"},
    [RECON_ERR_INVALID_CURRENCY] = {"invalid_currency", "invalid currency code"},
    [RECON_ERR_OVERFLOW] = {"amount_overflow", "amount out of range"},
    [RECON_ERR_MAPPING] = {"invalid_mapping", "invalid CSV column mapping"},
    [RECON_ERR_CURRENCY_MIXED] = {"statement_currency_mixed",
                                  "statement has more than one currency"},
    [RECON_ERR_UNBALANCED] = {"statement_unbalanced", "statement does not balance"},
    [RECON_ERR_STOPPED] = {"import_stopped", "the import stopped the parse"},
};

static const struct err_row *err_row_of(enum recon_err err)
{
    if ((int)err < 0 || err >= RECON_ERR__COUNT || err_table[err].code == NULL)
        return &err_table[RECON_ERR_INVALID_ARGUMENT];
    return &err_table[err];
}

const char *recon_err_code(enum recon_err err)
{
    return err_row_of(err)->code;
}

const char *recon_err_message(enum recon_err err)
{
    return err_row_of(err)->message;
}

enum recon_err recon_fail(struct recon_error *error, enum recon_err code, uint64_t line,
                          const char *path, const char *format, ...)
{
    va_list arguments;

    va_start(arguments, format);
    if (error != NULL) {
        error->code = code;
        error->line = line;
        snprintf(error->path, sizeof error->path, "%s", path != NULL ? path : "");
        /* The analyzer loses va_start when it inlines this variadic call. */
        /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized) */
        vsnprintf(error->message, sizeof error->message, format, arguments);
        /* Truncation (or text from the file) must not leave broken UTF-8. */
        recon_utf8_trim(error->path);
        recon_utf8_trim(error->message);
    }
    va_end(arguments);
    return code;
}

void recon_limits_default(struct recon_limits *limits)
{
    assert(limits != NULL);
    limits->input_bytes_max = RECON_INPUT_BYTES_MAX;
    limits->line_bytes_max = RECON_LINE_BYTES_MAX;
    limits->field_bytes_max = RECON_FIELD_BYTES_MAX;
    limits->element_depth_max = RECON_ELEMENT_DEPTH_MAX;
    limits->lines_per_statement_max = RECON_LINES_PER_STATEMENT_MAX;
    limits->lines_per_file_max = RECON_LINES_PER_FILE_MAX;
    limits->statements_per_file_max = RECON_STATEMENTS_PER_FILE_MAX;
}

void recon_limits_stream(struct recon_limits *limits)
{
    recon_limits_default(limits);
    limits->lines_per_statement_max = RECON_STREAM_LINES_PER_STATEMENT_MAX;
    limits->lines_per_file_max = RECON_STREAM_LINES_PER_FILE_MAX;
}

enum recon_err recon_parse_stream(const struct recon_source *source, const struct recon_sink *sink,
                                  struct recon_error *error)
{
    if (error != NULL)
        memset(error, 0, sizeof *error);
    if (source == NULL || sink == NULL || sink->lines == NULL || sink->end == NULL ||
        (source->path == NULL && source->data == NULL && source->size > 0))
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "invalid arguments");
    struct recon_limits limits;
    if (source->limits != NULL)
        limits = *source->limits;
    else
        recon_limits_stream(&limits);
    switch (source->format) {
    case RECON_FORMAT_CAMT053:
        return recon_camt053_stream(source, sink, &limits, error);
    case RECON_FORMAT_MT940:
        return recon_mt940_stream(source, sink, &limits, error);
    case RECON_FORMAT_CSV:
        return recon_csv_stream(source, sink, &limits, error);
    }
    return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "unknown format");
}

enum recon_err recon_statements_to_sink(const struct recon_statement *first,
                                        const struct recon_sink *sink, struct recon_error *error)
{
    size_t chunk = sink->chunk_lines > 0 ? sink->chunk_lines : RECON_STREAM_CHUNK_LINES;
    size_t index = 0;
    for (const struct recon_statement *s = first; s != NULL; s = s->next, index++) {
        for (size_t offset = 0; offset < s->line_count; offset += chunk) {
            size_t count = s->line_count - offset < chunk ? s->line_count - offset : chunk;
            if (sink->lines(sink->context, s, s->lines + offset, count) != RECON_OK)
                return recon_fail(error, RECON_ERR_STOPPED, s->lines[offset].source_line, "",
                                  "the import stopped the parse");
        }
        if (sink->end(sink->context, s) != RECON_OK) {
            enum recon_err err = recon_fail(error, RECON_ERR_STOPPED, s->closing.source_line, "",
                                            "the import stopped the parse");
            if (error != NULL)
                error->statement_index = index;
            return err;
        }
    }
    return RECON_OK;
}

void recon_limits_resolve(struct recon_limits *out, const struct recon_limits *limits)
{
    if (limits == NULL)
        recon_limits_default(out);
    else
        *out = *limits;
}

/* ---- arena ---- */

#define ARENA_CHUNK_BYTES 65536

struct recon_arena_chunk {
    struct recon_arena_chunk *next;
    size_t used;
    size_t capacity;
    char bytes[];
};

static char *arena_allocate(struct recon_arena *arena, size_t size)
{
    struct recon_arena_chunk *chunk = arena->head;
    if (chunk == NULL || chunk->capacity - chunk->used < size) {
        size_t capacity = size > ARENA_CHUNK_BYTES ? size : ARENA_CHUNK_BYTES;
        chunk = malloc(sizeof *chunk + capacity);
        if (chunk == NULL)
            return NULL;
        chunk->capacity = capacity;
        chunk->used = 0;
        chunk->next = arena->head;
        arena->head = chunk;
    }
    char *result = chunk->bytes + chunk->used;
    chunk->used += size;
    return result;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

const char *recon_arena_text(struct recon_arena *arena, const char *text, size_t length)
{
    size_t start = 0;
    size_t end = length;
    while (start < end && is_blank(text[start]))
        start++;
    while (end > start && is_blank(text[end - 1]))
        end--;
    if (start == end)
        return "";
    char *copy = arena_allocate(arena, end - start + 1);
    if (copy == NULL)
        return NULL;
    size_t written = 0;
    for (size_t index = start; index < end; index++) {
        if (is_blank(text[index])) {
            if (copy[written - 1] != ' ') /* written > 0: text[start] is not blank */
                copy[written++] = ' ';
        } else {
            copy[written++] = text[index];
        }
    }
    copy[written] = '\0';
    return copy;
}

const char *recon_arena_copy(struct recon_arena *arena, const char *text, size_t length)
{
    if (length == 0)
        return "";
    char *copy = arena_allocate(arena, length + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, text, length);
    copy[length] = '\0';
    return copy;
}

void recon_arena_free(struct recon_arena *arena)
{
    struct recon_arena_chunk *chunk = arena->head;
    while (chunk != NULL) {
        struct recon_arena_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    arena->head = NULL;
}

/* ---- statements ---- */

static void statement_free_one(struct recon_statement *statement)
{
    if (statement->storage != NULL) {
        recon_arena_free(&statement->storage->arena);
        recon_arena_free(&statement->storage->header_arena);
        free(statement->storage);
    }
    free(statement->lines);
    free(statement);
}

void recon_statement_free(struct recon_statement *first)
{
    while (first != NULL) {
        struct recon_statement *next = first->next;
        statement_free_one(first);
        first = next;
    }
}

size_t recon_statement_count(const struct recon_statement *first)
{
    size_t count = 0;
    for (; first != NULL; first = first->next)
        count++;
    return count;
}

static void balance_init(struct recon_balance *balance)
{
    balance->present = false;
    balance->amount_minor = 0;
    balance->date_days = RECON_DATE_NONE;
    balance->currency[0] = '\0';
    balance->source_line = 0;
}

void recon_builder_init(struct recon_builder *builder, const struct recon_limits *limits,
                        enum recon_format format)
{
    memset(builder, 0, sizeof *builder);
    recon_limits_resolve(&builder->limits, limits);
    builder->format = format;
}

void recon_builder_stream(struct recon_builder *builder, const struct recon_sink *sink)
{
    builder->sink = sink;
    builder->chunk_lines = sink->chunk_lines > 0 ? sink->chunk_lines : RECON_STREAM_CHUNK_LINES;
}

enum recon_err recon_builder_begin(struct recon_builder *builder, uint64_t source_line,
                                   struct recon_error *error)
{
    assert(builder->current == NULL);
    if (builder->statement_count >= builder->limits.statements_per_file_max)
        return recon_fail(error, RECON_ERR_TOO_MANY_STATEMENTS, source_line, "",
                          "file has more than %zu statements",
                          builder->limits.statements_per_file_max);
    struct recon_statement *statement = calloc(1, sizeof *statement);
    if (statement == NULL)
        return recon_fail(error, RECON_ERR_NOMEM, source_line, "", "out of memory");
    statement->storage = calloc(1, sizeof *statement->storage);
    if (statement->storage == NULL) {
        free(statement);
        return recon_fail(error, RECON_ERR_NOMEM, source_line, "", "out of memory");
    }
    statement->format = builder->format;
    statement->source_line = source_line;
    statement->account_id = "";
    statement->statement_id = "";
    statement->sequence = "";
    balance_init(&statement->opening);
    balance_init(&statement->closing);
    builder->current = statement;
    return RECON_OK;
}

static void line_init(struct recon_line *line, uint64_t source_line)
{
    memset(line, 0, sizeof *line);
    line->value_date_days = RECON_DATE_NONE;
    line->booking_date_days = RECON_DATE_NONE;
    line->split_count = 1;
    line->source_line = source_line;
    line->bank_reference = "";
    line->owner_reference = "";
    line->end_to_end_id = "";
    line->transaction_code = "";
    line->counterparty_name = "";
    line->counterparty_account = "";
    line->remittance = "";
    line->creditor_reference = "";
    line->additional_info = "";
    line->return_reason = "";
}

enum recon_err recon_builder_add_line(struct recon_builder *builder, struct recon_line **out,
                                      uint64_t source_line, struct recon_error *error)
{
    struct recon_statement *statement = builder->current;
    assert(statement != NULL);
    if (statement->lines_total >= builder->limits.lines_per_statement_max)
        return recon_fail(error, RECON_ERR_TOO_MANY_LINES, source_line, "",
                          "statement has more than %zu lines",
                          builder->limits.lines_per_statement_max);
    if (builder->file_line_count >= builder->limits.lines_per_file_max)
        return recon_fail(error, RECON_ERR_TOO_MANY_LINES, source_line, "",
                          "file has more than %zu statement lines",
                          builder->limits.lines_per_file_max);
    if (statement->line_count == statement->storage->line_capacity) {
        size_t capacity =
            statement->storage->line_capacity == 0 ? 16 : statement->storage->line_capacity * 2;
        if (capacity > builder->limits.lines_per_statement_max)
            capacity = builder->limits.lines_per_statement_max;
        struct recon_line *lines = realloc(statement->lines, capacity * sizeof *lines);
        if (lines == NULL)
            return recon_fail(error, RECON_ERR_NOMEM, source_line, "", "out of memory");
        statement->lines = lines;
        statement->storage->line_capacity = capacity;
    }
    struct recon_line *line = &statement->lines[statement->line_count++];
    statement->lines_total++;
    builder->file_line_count++;
    line_init(line, source_line);
    *out = line;
    return RECON_OK;
}

const char *recon_builder_text(struct recon_builder *builder, const char *text, size_t length)
{
    assert(builder->current != NULL);
    return recon_arena_text(&builder->current->storage->arena, text, length);
}

/* ---- fingerprints ---- */

#define FINGERPRINT_BYTES 16u
_Static_assert(2 * FINGERPRINT_BYTES + 1 == RECON_FINGERPRINT_SIZE, "hex digits and a NUL");

static void hash_field(crypto_generichash_state *state, const void *bytes, size_t length)
{
    unsigned char prefix[4];
    uint32_t length32 = (uint32_t)length;
    for (size_t index = 0; index < sizeof prefix; index++)
        prefix[index] = (unsigned char)(length32 >> (8 * index));
    crypto_generichash_update(state, prefix, sizeof prefix);
    crypto_generichash_update(state, bytes, length);
}

static void hash_text(crypto_generichash_state *state, const char *text)
{
    hash_field(state, text, strlen(text));
}

static void hash_int64(crypto_generichash_state *state, int64_t value)
{
    unsigned char bytes[8];
    uint64_t bits = (uint64_t)value;
    for (size_t index = 0; index < sizeof bytes; index++)
        bytes[index] = (unsigned char)(bits >> (8 * index));
    hash_field(state, bytes, sizeof bytes);
}

/* The hash of what identifies a line, without its occurrence count. */
static void fingerprint_base(unsigned char out[FINGERPRINT_BYTES],
                             const struct recon_statement *statement, const struct recon_line *line)
{
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, FINGERPRINT_BYTES);
    hash_text(&state, "caseledger statement line v1");
    hash_text(&state, statement->account_id);
    hash_text(&state, line->currency);
    hash_int64(&state, line->amount_minor);
    hash_int64(&state, line->value_date_days);
    hash_int64(&state, line->booking_date_days);
    hash_text(&state, line->counterparty_account);
    hash_text(&state, line->counterparty_name);
    hash_text(&state, line->remittance);
    hash_text(&state, line->end_to_end_id);
    crypto_generichash_final(&state, out, FINGERPRINT_BYTES);
}

static void fingerprint_final(struct recon_line *line, const unsigned char base[FINGERPRINT_BYTES],
                              uint64_t occurrence)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char hash[FINGERPRINT_BYTES];
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, FINGERPRINT_BYTES);
    hash_field(&state, base, FINGERPRINT_BYTES);
    hash_int64(&state, (int64_t)occurrence);
    crypto_generichash_final(&state, hash, FINGERPRINT_BYTES);
    for (size_t index = 0; index < FINGERPRINT_BYTES; index++) {
        line->fingerprint[2 * index] = hex[hash[index] >> 4];
        line->fingerprint[2 * index + 1] = hex[hash[index] & 0x0f];
    }
    line->fingerprint[RECON_FINGERPRINT_SIZE - 1] = '\0';
}

/* Occurrences of line fingerprints seen so far in the statement: an open
 * addressing table of the base hashes of lines without a bank reference
 * (only their fingerprint is their identity), so that two identical such
 * payments on one day stay two lines, whether the statement is streamed or
 * not. It grows with those lines only, 32 bytes each. */
struct seen_slot {
    unsigned char hash[FINGERPRINT_BYTES];
    uint64_t count; /* 0: empty slot */
};

struct recon_seen {
    struct seen_slot *slots;
    size_t capacity; /* a power of two */
    size_t used;
};

static size_t seen_index(const struct recon_seen *seen, const unsigned char hash[FINGERPRINT_BYTES])
{
    uint64_t start = 0;
    memcpy(&start, hash, sizeof start);
    size_t mask = seen->capacity - 1;
    size_t index = (size_t)start & mask;
    while (seen->slots[index].count != 0 &&
           memcmp(seen->slots[index].hash, hash, FINGERPRINT_BYTES) != 0)
        index = (index + 1) & mask;
    return index;
}

static bool seen_grow(struct recon_seen *seen)
{
    size_t capacity = seen->capacity == 0 ? 64 : seen->capacity * 2;
    struct seen_slot *slots = calloc(capacity, sizeof *slots);
    if (slots == NULL)
        return false;
    struct recon_seen grown = {slots, capacity, seen->used};
    for (size_t i = 0; i < seen->capacity; i++)
        if (seen->slots[i].count != 0)
            grown.slots[seen_index(&grown, seen->slots[i].hash)] = seen->slots[i];
    free(seen->slots);
    *seen = grown;
    return true;
}

/* The number of earlier occurrences of hash, counting this one in. */
static bool seen_occurrence(struct recon_seen *seen, const unsigned char hash[FINGERPRINT_BYTES],
                            uint64_t *occurrence)
{
    if (2 * (seen->used + 1) > seen->capacity && !seen_grow(seen))
        return false;
    struct seen_slot *slot = &seen->slots[seen_index(seen, hash)];
    if (slot->count == 0) {
        memcpy(slot->hash, hash, FINGERPRINT_BYTES);
        seen->used++;
    }
    *occurrence = slot->count++;
    return true;
}

static void seen_clear(struct recon_seen *seen)
{
    if (seen == NULL)
        return;
    free(seen->slots);
    memset(seen, 0, sizeof *seen);
}

/* Fingerprints, sums and (when streaming) checks the currency of the
 * lines the builder holds, in order. */
static enum recon_err lines_complete(struct recon_builder *builder, struct recon_error *error)
{
    struct recon_statement *statement = builder->current;
    if (statement->line_count == 0)
        return RECON_OK;
    if (sodium_init() < 0)
        return recon_fail(error, RECON_ERR_NOMEM, statement->source_line, "",
                          "could not initialise libsodium");
    if (builder->seen == NULL && (builder->seen = calloc(1, sizeof *builder->seen)) == NULL)
        return recon_fail(error, RECON_ERR_NOMEM, statement->source_line, "", "out of memory");
    size_t first_number = statement->lines_total - statement->line_count + 1;
    for (size_t index = 0; index < statement->line_count; index++) {
        struct recon_line *line = &statement->lines[index];
        if (__builtin_add_overflow(statement->lines_sum_minor, line->amount_minor,
                                   &statement->lines_sum_minor))
            return recon_fail(error, RECON_ERR_OVERFLOW, line->source_line, "",
                              "sum of the statement lines is out of range");
        if (builder->sink != NULL && strcmp(line->currency, statement->currency) != 0)
            return recon_fail(error, RECON_ERR_CURRENCY_MIXED, line->source_line, "line",
                              "statement line %zu is in %s, the statement in %s",
                              first_number + index, line->currency, statement->currency);
        unsigned char base[FINGERPRINT_BYTES];
        uint64_t occurrence = 0;
        fingerprint_base(base, statement, line);
        if (line->bank_reference[0] == '\0' && !seen_occurrence(builder->seen, base, &occurrence))
            return recon_fail(error, RECON_ERR_NOMEM, line->source_line, "", "out of memory");
        fingerprint_final(line, base, occurrence);
    }
    return RECON_OK;
}

/* Streaming: the header's text moves to memory kept across chunks. */
static bool keep_header(struct recon_statement *statement)
{
    struct recon_arena kept = {NULL};
    const char **fields[] = {&statement->account_id, &statement->statement_id,
                             &statement->sequence};
    const char *copies[sizeof fields / sizeof fields[0]];
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if ((copies[i] = recon_arena_copy(&kept, *fields[i], strlen(*fields[i]))) == NULL) {
            recon_arena_free(&kept);
            return false;
        }
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        *fields[i] = copies[i];
    recon_arena_free(&statement->storage->header_arena);
    statement->storage->header_arena = kept;
    return true;
}

/* The statement's currency as far as known: its own, else its balances'. */
static void settle_currency(struct recon_statement *statement)
{
    if (statement->currency[0] != '\0')
        return;
    const struct recon_balance *balance =
        statement->opening.present ? &statement->opening : &statement->closing;
    memcpy(statement->currency, balance->currency, RECON_CURRENCY_SIZE);
}

/* Streaming: hands the lines held to the sink and frees their memory. */
static enum recon_err flush_lines(struct recon_builder *builder, struct recon_error *error)
{
    struct recon_statement *statement = builder->current;
    settle_currency(statement);
    enum recon_err err = lines_complete(builder, error);
    if (err != RECON_OK || statement->line_count == 0)
        return err;
    if (builder->sink->lines(builder->sink->context, statement, statement->lines,
                             statement->line_count) != RECON_OK)
        return recon_fail(error, RECON_ERR_STOPPED, statement->lines[0].source_line, "",
                          "the import stopped the parse");
    statement->line_count = 0;
    if (!keep_header(statement))
        return recon_fail(error, RECON_ERR_NOMEM, statement->source_line, "", "out of memory");
    recon_arena_free(&statement->storage->arena);
    return RECON_OK;
}

enum recon_err recon_builder_checkpoint(struct recon_builder *builder, struct recon_error *error)
{
    if (builder->sink == NULL || builder->current == NULL ||
        builder->current->line_count < builder->chunk_lines)
        return RECON_OK;
    return flush_lines(builder, error);
}

static void statement_append(struct recon_builder *builder, struct recon_statement *statement)
{
    if (builder->last == NULL)
        builder->first = statement;
    else
        builder->last->next = statement;
    builder->last = statement;
}

enum recon_err recon_builder_end(struct recon_builder *builder, struct recon_error *error)
{
    struct recon_statement *statement = builder->current;
    assert(statement != NULL);
    enum recon_err err =
        builder->sink != NULL ? flush_lines(builder, error) : lines_complete(builder, error);
    seen_clear(builder->seen);
    if (err != RECON_OK)
        return err;
    builder->current = NULL;
    if (builder->sink == NULL) {
        builder->statement_count++;
        statement_append(builder, statement);
        return RECON_OK;
    }
    err = recon_statement_check(statement, error);
    if (err == RECON_OK && builder->sink->end(builder->sink->context, statement) != RECON_OK)
        err = recon_fail(error, RECON_ERR_STOPPED, statement->closing.source_line, "",
                         "the import stopped the parse");
    if (err == RECON_OK)
        builder->statement_count++;
    else if (error != NULL)
        error->statement_index = builder->statement_count;
    statement_free_one(statement);
    return err;
}

enum recon_err recon_builder_finish(struct recon_builder *builder, struct recon_statement **out,
                                    unsigned flags, struct recon_error *error)
{
    size_t index = 0;
    assert(builder->current == NULL);
    if (builder->statement_count == 0)
        return recon_fail(error, RECON_ERR_NOT_STATEMENT, 0, "", "file holds no statement");
    if (builder->sink != NULL)
        return RECON_OK;
    if (!(flags & RECON_PARSE_NO_STATEMENT_CHECKS)) {
        for (const struct recon_statement *statement = builder->first; statement != NULL;
             statement = statement->next, index++) {
            enum recon_err err = recon_statement_check(statement, error);
            if (err != RECON_OK) {
                if (error != NULL)
                    error->statement_index = index;
                return err;
            }
        }
    }
    *out = builder->first;
    builder->first = NULL;
    builder->last = NULL;
    return RECON_OK;
}

void recon_builder_discard(struct recon_builder *builder)
{
    seen_clear(builder->seen);
    free(builder->seen);
    builder->seen = NULL;
    if (builder->current != NULL)
        statement_free_one(builder->current);
    builder->current = NULL;
    recon_statement_free(builder->first);
    builder->first = NULL;
    builder->last = NULL;
}

/* ---- checks ---- */

static int currency_decimals_or_default(const char *currency)
{
    int decimals = ledger_currency_decimals(currency);
    return decimals < 0 ? 2 : decimals;
}

static enum recon_err check_currencies(const struct recon_statement *statement,
                                       struct recon_error *error)
{
    if (!ledger_currency_valid(statement->currency))
        return recon_fail(error, RECON_ERR_MISSING_FIELD, statement->source_line, "currency",
                          "statement has no currency");
    if (strcmp(statement->opening.currency, statement->currency) != 0)
        return recon_fail(error, RECON_ERR_CURRENCY_MIXED, statement->opening.source_line,
                          "opening balance", "opening balance is in %s, the statement in %s",
                          statement->opening.currency, statement->currency);
    if (strcmp(statement->closing.currency, statement->currency) != 0)
        return recon_fail(error, RECON_ERR_CURRENCY_MIXED, statement->closing.source_line,
                          "closing balance", "closing balance is in %s, the statement in %s",
                          statement->closing.currency, statement->currency);
    for (size_t index = 0; index < statement->line_count; index++) {
        const struct recon_line *line = &statement->lines[index];
        if (strcmp(line->currency, statement->currency) != 0)
            return recon_fail(error, RECON_ERR_CURRENCY_MIXED, line->source_line, "line",
                              "statement line %zu is in %s, the statement in %s", index + 1,
                              line->currency, statement->currency);
    }
    return RECON_OK;
}

static enum recon_err check_balance(const struct recon_statement *statement,
                                    struct recon_error *error)
{
    int64_t expected;
    char opening[32], lines[32], closing[32];
    if (!__builtin_add_overflow(statement->opening.amount_minor, statement->lines_sum_minor,
                                &expected) &&
        expected == statement->closing.amount_minor)
        return RECON_OK;
    int decimals = currency_decimals_or_default(statement->currency);
    ledger_money_format(opening, sizeof opening, statement->opening.amount_minor, decimals);
    ledger_money_format(lines, sizeof lines, statement->lines_sum_minor, decimals);
    ledger_money_format(closing, sizeof closing, statement->closing.amount_minor, decimals);
    return recon_fail(error, RECON_ERR_UNBALANCED, statement->closing.source_line,
                      "closing balance",
                      "opening balance %s plus lines %s does not give the closing balance %s",
                      opening, lines, closing);
}

enum recon_err recon_statement_check(const struct recon_statement *statement,
                                     struct recon_error *error)
{
    if (statement == NULL)
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "no statement");
    if (!statement->opening.present)
        return recon_fail(error, RECON_ERR_MISSING_FIELD, statement->source_line, "opening balance",
                          "statement has no opening balance");
    if (!statement->closing.present)
        return recon_fail(error, RECON_ERR_MISSING_FIELD, statement->source_line, "closing balance",
                          "statement has no closing balance");
    enum recon_err err = check_currencies(statement, error);
    if (err != RECON_OK)
        return err;
    return check_balance(statement, error);
}

/* ---- dates ---- */

static bool is_leap_year(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && is_leap_year(year))
        return 29;
    return days[month - 1];
}

/* Howard Hinnant's days_from_civil, for years 1..9999. */
bool recon_date_from_ymd(int32_t *out_days, int year, int month, int day)
{
    if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month))
        return false;
    int shifted_year = month <= 2 ? year - 1 : year;
    int era = shifted_year / 400;
    int year_of_era = shifted_year - era * 400;
    int day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    int day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    *out_days = (int32_t)(era * 146097 + day_of_era - 719468);
    return true;
}

void recon_date_to_ymd(int32_t days, int *year, int *month, int *day)
{
    int32_t shifted = days + 719468;
    int32_t era = (shifted >= 0 ? shifted : shifted - 146096) / 146097;
    int32_t day_of_era = shifted - era * 146097;
    int32_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int32_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int32_t month_index = (5 * day_of_year + 2) / 153;
    *day = (int)(day_of_year - (153 * month_index + 2) / 5 + 1);
    *month = (int)(month_index < 10 ? month_index + 3 : month_index - 9);
    *year = (int)(year_of_era + era * 400 + (*month <= 2 ? 1 : 0));
}

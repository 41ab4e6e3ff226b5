/* What the statement parsers share and nobody else uses: memory of a
 * statement, the statement builder, text and amount helpers, a bounded line
 * reader over a buffer or a file, and the character set converter. */
#ifndef RECON_INTERNAL_H
#define RECON_INTERNAL_H

#include "statement.h"

#include <stdarg.h>
#include <stdio.h>

/* ---- errors ---- */

/* Fills error (when not NULL) and returns code. message is a printf format. */
enum recon_err recon_fail(struct recon_error *error, enum recon_err code, uint64_t line,
                          const char *path, const char *format, ...)
    __attribute__((format(printf, 5, 6)));

/* The limits to use: *limits, or the defaults when NULL. */
void recon_limits_resolve(struct recon_limits *out, const struct recon_limits *limits);

/* ---- the memory of one statement ---- */

struct recon_arena_chunk;

struct recon_arena {
    struct recon_arena_chunk *head;
};

/* Copies text (exactly length bytes) into the arena with white space runs
 * folded to one space and no space at either end. Returns "" (not stored)
 * for empty or blank text, NULL when out of memory. */
const char *recon_arena_text(struct recon_arena *arena, const char *text, size_t length);
/* Copies text as is (no folding). NULL when out of memory. */
const char *recon_arena_copy(struct recon_arena *arena, const char *text, size_t length);
void recon_arena_free(struct recon_arena *arena);

struct recon_statement_storage {
    struct recon_arena arena;        /* lines' text, and the header's until a chunk is streamed */
    struct recon_arena header_arena; /* streamed: the header's text, kept across chunks */
    size_t line_capacity;
};

/* ---- building the list of statements ---- */

struct recon_seen; /* occurrences of line fingerprints, for lines without a reference */

struct recon_builder {
    struct recon_limits limits;
    const struct recon_sink *sink; /* NULL: keep every statement (recon_builder_finish) */
    size_t chunk_lines;
    struct recon_seen *seen;
    enum recon_format format;
    struct recon_statement *first;
    struct recon_statement *last;
    struct recon_statement *current; /* being filled, not yet in the list */
    size_t statement_count;
    size_t file_line_count;
};

void recon_builder_init(struct recon_builder *builder, const struct recon_limits *limits,
                        enum recon_format format);
/* Streams the statements into sink instead of keeping them (see
 * recon_parse_stream). */
void recon_builder_stream(struct recon_builder *builder, const struct recon_sink *sink);
/* A point where no line of the current statement is half-filled: when
 * streaming and a chunk is full, its lines go to the sink and their memory
 * is reused. Parsers call it between lines. */
enum recon_err recon_builder_checkpoint(struct recon_builder *builder,
                                        struct recon_error *error) RECON_MUST_CHECK;
/* Starts a new current statement (there must be none). */
enum recon_err recon_builder_begin(struct recon_builder *builder, uint64_t source_line,
                                   struct recon_error *error) RECON_MUST_CHECK;
/* Appends a line to the current statement: zeroed, strings "", dates
 * RECON_DATE_NONE, split_count 1. *out_index is its index in lines[]; the
 * pointer stays valid until the next add. */
enum recon_err recon_builder_add_line(struct recon_builder *builder, struct recon_line **out,
                                      uint64_t source_line,
                                      struct recon_error *error) RECON_MUST_CHECK;
/* Text stored in the current statement's memory (see recon_arena_text);
 * NULL when out of memory. */
const char *recon_builder_text(struct recon_builder *builder, const char *text, size_t length);
/* Completes the current statement: sums its lines (overflow-checked),
 * fingerprints them, and appends it to the list. */
enum recon_err recon_builder_end(struct recon_builder *builder,
                                 struct recon_error *error) RECON_MUST_CHECK;
/* Streaming: the statements were handed to the sink; RECON_ERR_NOT_STATEMENT
 * when there was none. Otherwise: hands the list over: runs the statement checks unless
 * RECON_PARSE_NO_STATEMENT_CHECKS, refuses an empty list with
 * RECON_ERR_NOT_STATEMENT, and on success moves the list to *out. On failure
 * the builder still owns everything (call recon_builder_discard). */
enum recon_err recon_builder_finish(struct recon_builder *builder, struct recon_statement **out,
                                    unsigned flags, struct recon_error *error) RECON_MUST_CHECK;
/* Frees whatever the builder still holds. */
void recon_builder_discard(struct recon_builder *builder);

/* The streaming entry point of each parser (recon_parse_stream). */
enum recon_err recon_camt053_stream(const struct recon_source *source,
                                    const struct recon_sink *sink,
                                    const struct recon_limits *limits,
                                    struct recon_error *error) RECON_MUST_CHECK;
enum recon_err recon_mt940_stream(const struct recon_source *source, const struct recon_sink *sink,
                                  const struct recon_limits *limits,
                                  struct recon_error *error) RECON_MUST_CHECK;
enum recon_err recon_csv_stream(const struct recon_source *source, const struct recon_sink *sink,
                                const struct recon_limits *limits,
                                struct recon_error *error) RECON_MUST_CHECK;

/* Hands statements parsed whole to a sink, in chunks. */
enum recon_err recon_statements_to_sink(const struct recon_statement *first,
                                        const struct recon_sink *sink,
                                        struct recon_error *error) RECON_MUST_CHECK;

/* ---- amounts and dates ---- */

/* Parses unsigned (or, with allow_negative, signed) decimal text with the
 * given separator ('.' or ',') into minor units of currency. A trailing
 * separator ("9," in MT940) means no fraction; fraction digits beyond the
 * currency's minor unit are accepted only when they are zeros. An unknown
 * or empty currency parses with 2 decimals. */
enum recon_err recon_amount_parse(int64_t *out_minor, const char *text, size_t length,
                                  const char *currency, char separator,
                                  bool allow_negative) RECON_MUST_CHECK;

/* Reads exactly `count` ASCII digits; false when any is not a digit. */
bool recon_read_digits(int *out, const char *text, size_t count);

/* ---- text ---- */

/* A byte buffer that grows up to max bytes (plus a NUL it keeps). */
struct recon_buffer {
    char *data;
    size_t length;
    size_t capacity;
    size_t max;
};

void recon_buffer_init(struct recon_buffer *buffer, size_t max);
/* false when it would exceed max (nothing appended) or out of memory
 * (*out_of_memory set). */
bool recon_buffer_append(struct recon_buffer *buffer, const char *text, size_t length,
                         bool *out_of_memory);
void recon_buffer_clear(struct recon_buffer *buffer);
void recon_buffer_free(struct recon_buffer *buffer);

/* Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF)
 * without NUL bytes. */
bool recon_utf8_valid(const char *text, size_t length);
/* Characters (code points) of valid UTF-8 text. */
size_t recon_utf8_length(const char *text, size_t length);
/* Cuts a NUL-terminated string at its first invalid UTF-8 byte (a sequence
 * split by truncation, or foreign bytes), so that it is valid UTF-8. */
void recon_utf8_trim(char *text);

/* ---- reading lines of a buffer or a file ---- */

struct recon_reader {
    const char *data; /* buffer mode */
    size_t size;
    size_t offset;
    FILE *file; /* file mode */
    char *chunk;
    size_t chunk_length;
    size_t chunk_offset;
    bool file_end;
    struct recon_buffer line; /* file mode: the line being assembled */
    uint64_t line_number;     /* of the line last returned */
    uint64_t bytes_total;
    uint64_t bytes_max;
    size_t line_bytes_max;
};

void recon_reader_init_buffer(struct recon_reader *reader, const char *data, size_t size,
                              const struct recon_limits *limits);
enum recon_err recon_reader_init_file(struct recon_reader *reader, const char *path,
                                      const struct recon_limits *limits,
                                      struct recon_error *error) RECON_MUST_CHECK;
/* The next physical line without its "\n" or "\r\n"; *end set (and
 * RECON_OK) after the last one. Lines over line_bytes_max are
 * RECON_ERR_LINE_TOO_LONG. */
enum recon_err recon_reader_next(struct recon_reader *reader, const char **line, size_t *length,
                                 bool *end, struct recon_error *error) RECON_MUST_CHECK;
void recon_reader_close(struct recon_reader *reader);

/* ---- character sets ---- */

struct recon_converter {
    void *iconv_handle; /* iconv_t, or NULL for UTF-8 input */
    struct recon_buffer output;
    bool first_line;
};

/* encoding NULL, "utf-8" or "UTF-8": validate only; otherwise convert to
 * UTF-8 with iconv. An encoding iconv does not know is
 * RECON_ERR_INVALID_ARGUMENT. */
enum recon_err recon_converter_init(struct recon_converter *converter, const char *encoding,
                                    size_t line_bytes_max,
                                    struct recon_error *error) RECON_MUST_CHECK;
/* Converts (or validates) one line; *out points to UTF-8 valid until the
 * next call. A byte order mark at the start of the first line is dropped.
 * Invalid bytes are RECON_ERR_ENCODING with line_number. */
enum recon_err recon_converter_line(struct recon_converter *converter, const char *line,
                                    size_t length, uint64_t line_number, const char **out,
                                    size_t *out_length, struct recon_error *error) RECON_MUST_CHECK;
void recon_converter_close(struct recon_converter *converter);

#endif

/* Text helpers of the statement parsers: amounts, digits, bounded buffers,
 * UTF-8, reading lines of a buffer or a file, character set conversion. */
#include "recon_internal.h"

#include "money.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Amount text longer than this is refused before anything else. */
#define AMOUNT_TEXT_INPUT_MAX 64
/* Bytes read from a file at a time. */
#define READER_CHUNK_BYTES 65536

/* ---- amounts ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool recon_read_digits(int *out, const char *text, size_t count)
{
    int value = 0;
    for (size_t index = 0; index < count; index++) {
        if (!is_digit(text[index]))
            return false;
        value = value * 10 + (text[index] - '0');
    }
    *out = value;
    return true;
}

/* Drops the fraction digits beyond `decimals` when they are all zeros, and
 * a separator with nothing after it. Writes the result to normalized. */
static enum recon_err amount_normalize(char *normalized, size_t *normalized_length,
                                       const char *text, size_t length, char separator,
                                       int decimals)
{
    const char *found = memchr(text, separator, length);
    size_t keep = length;
    if (found != NULL) {
        size_t separator_index = (size_t)(found - text);
        size_t fraction_count = length - separator_index - 1;
        for (size_t index = separator_index + 1; index < length; index++) {
            if (!is_digit(text[index]))
                return RECON_ERR_INVALID_AMOUNT;
        }
        if (fraction_count > (size_t)decimals) {
            for (size_t index = separator_index + 1 + (size_t)decimals; index < length; index++) {
                if (text[index] != '0')
                    return RECON_ERR_AMOUNT_PRECISION;
            }
            fraction_count = (size_t)decimals;
        }
        keep = fraction_count == 0 ? separator_index : separator_index + 1 + fraction_count;
    }
    memcpy(normalized, text, keep);
    *normalized_length = keep;
    return RECON_OK;
}

enum recon_err recon_amount_parse(int64_t *out_minor, const char *text, size_t length,
                                  const char *currency, char separator, bool allow_negative)
{
    char normalized[AMOUNT_TEXT_INPUT_MAX];
    size_t normalized_length = 0;
    int decimals = ledger_currency_decimals(currency);
    unsigned flags = 0;

    if (decimals < 0)
        decimals = 2;
    if (length == 0 || length > AMOUNT_TEXT_INPUT_MAX)
        return RECON_ERR_INVALID_AMOUNT;
    enum recon_err err =
        amount_normalize(normalized, &normalized_length, text, length, separator, decimals);
    if (err != RECON_OK)
        return err;
    if (separator == ',')
        flags |= LEDGER_MONEY_ALLOW_COMMA;
    if (allow_negative)
        flags |= LEDGER_MONEY_ALLOW_NEGATIVE;
    switch (ledger_money_parse(out_minor, normalized, normalized_length, decimals, flags)) {
    case LEDGER_OK:
        return RECON_OK;
    case LEDGER_ERR_OVERFLOW:
        return RECON_ERR_OVERFLOW;
    default:
        return RECON_ERR_INVALID_AMOUNT;
    }
}

/* ---- buffers ---- */

void recon_buffer_init(struct recon_buffer *buffer, size_t max)
{
    buffer->data = NULL;
    buffer->length = 0;
    buffer->capacity = 0;
    buffer->max = max;
}

bool recon_buffer_append(struct recon_buffer *buffer, const char *text, size_t length,
                         bool *out_of_memory)
{
    *out_of_memory = false;
    if (length > buffer->max - buffer->length)
        return false;
    if (buffer->length + length + 1 > buffer->capacity) {
        size_t capacity = buffer->capacity == 0 ? 256 : buffer->capacity;
        while (capacity < buffer->length + length + 1)
            capacity *= 2;
        if (capacity > buffer->max + 1)
            capacity = buffer->max + 1;
        char *data = realloc(buffer->data, capacity);
        if (data == NULL) {
            *out_of_memory = true;
            return false;
        }
        buffer->data = data;
        buffer->capacity = capacity;
    }
    if (length > 0)
        memcpy(buffer->data + buffer->length, text, length);
    buffer->length += length;
    buffer->data[buffer->length] = '\0';
    return true;
}

void recon_buffer_clear(struct recon_buffer *buffer)
{
    buffer->length = 0;
    if (buffer->data != NULL)
        buffer->data[0] = '\0';
}

void recon_buffer_free(struct recon_buffer *buffer)
{
    free(buffer->data);
    buffer->data = NULL;
    buffer->length = 0;
    buffer->capacity = 0;
}

/* ---- UTF-8 ---- */

/* Bytes of the valid UTF-8 sequence at text[0], or 0 when invalid. */
static size_t utf8_sequence(const unsigned char *text, size_t length)
{
    unsigned char lead = text[0];
    size_t count;
    uint32_t code_point;
    uint32_t minimum;

    if (lead == 0)
        return 0;
    if (lead < 0x80)
        return 1;
    if (lead >= 0xc2 && lead <= 0xdf) {
        count = 2, code_point = lead & 0x1fu, minimum = 0x80;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        count = 3, code_point = lead & 0x0fu, minimum = 0x800;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        count = 4, code_point = lead & 0x07u, minimum = 0x10000;
    } else {
        return 0;
    }
    if (count > length)
        return 0;
    for (size_t index = 1; index < count; index++) {
        if ((text[index] & 0xc0) != 0x80)
            return 0;
        code_point = (code_point << 6) | (text[index] & 0x3fu);
    }
    if (code_point < minimum || code_point > 0x10ffff ||
        (code_point >= 0xd800 && code_point <= 0xdfff))
        return 0;
    return count;
}

/* Offset of the first invalid byte, or length when all is valid. */
static size_t utf8_invalid_offset(const char *text, size_t length)
{
    const unsigned char *bytes = (const unsigned char *)text;
    size_t offset = 0;
    while (offset < length) {
        size_t count = utf8_sequence(bytes + offset, length - offset);
        if (count == 0)
            return offset;
        offset += count;
    }
    return length;
}

bool recon_utf8_valid(const char *text, size_t length)
{
    return utf8_invalid_offset(text, length) == length;
}

void recon_utf8_trim(char *text)
{
    size_t length = strlen(text);
    text[utf8_invalid_offset(text, length)] = '\0';
}

size_t recon_utf8_length(const char *text, size_t length)
{
    size_t count = 0;
    for (size_t index = 0; index < length; index++) {
        if (((unsigned char)text[index] & 0xc0) != 0x80)
            count++;
    }
    return count;
}

/* ---- reader ---- */

void recon_reader_init_buffer(struct recon_reader *reader, const char *data, size_t size,
                              const struct recon_limits *limits)
{
    memset(reader, 0, sizeof *reader);
    reader->data = data;
    reader->size = size;
    reader->bytes_max = limits->input_bytes_max;
    reader->line_bytes_max = limits->line_bytes_max;
}

enum recon_err recon_reader_init_file(struct recon_reader *reader, const char *path,
                                      const struct recon_limits *limits, struct recon_error *error)
{
    memset(reader, 0, sizeof *reader);
    reader->bytes_max = limits->input_bytes_max;
    reader->line_bytes_max = limits->line_bytes_max;
    /* + 1: room for the '\r' of a "\r\n" line ending on a line of maximal length. */
    recon_buffer_init(&reader->line, limits->line_bytes_max + 1);
    reader->chunk = malloc(READER_CHUNK_BYTES);
    if (reader->chunk == NULL)
        return recon_fail(error, RECON_ERR_NOMEM, 0, "", "out of memory");
    reader->file = fopen(path, "rb");
    if (reader->file == NULL) {
        free(reader->chunk);
        reader->chunk = NULL;
        return recon_fail(error, RECON_ERR_IO, 0, "", "could not open the statement file: %s",
                          strerror(errno));
    }
    return RECON_OK;
}

static enum recon_err line_too_long(struct recon_reader *reader, struct recon_error *error)
{
    return recon_fail(error, RECON_ERR_LINE_TOO_LONG, reader->line_number + 1, "",
                      "line is longer than %zu bytes", reader->line_bytes_max);
}

/* Strips a trailing '\r' and checks the length. */
static enum recon_err reader_emit(struct recon_reader *reader, const char *start, size_t length,
                                  const char **line, size_t *out_length, struct recon_error *error)
{
    if (length > 0 && start[length - 1] == '\r')
        length--;
    if (length > reader->line_bytes_max)
        return line_too_long(reader, error);
    reader->line_number++;
    *line = start;
    *out_length = length;
    return RECON_OK;
}

static enum recon_err reader_next_buffer(struct recon_reader *reader, const char **line,
                                         size_t *length, bool *end, struct recon_error *error)
{
    if (reader->size > reader->bytes_max)
        return recon_fail(error, RECON_ERR_INPUT_TOO_LARGE, 0, "",
                          "input is larger than %llu bytes", (unsigned long long)reader->bytes_max);
    if (reader->offset >= reader->size) {
        *end = true;
        return RECON_OK;
    }
    const char *start = reader->data + reader->offset;
    size_t rest = reader->size - reader->offset;
    const char *newline = memchr(start, '\n', rest);
    size_t line_length = newline != NULL ? (size_t)(newline - start) : rest;
    reader->offset += newline != NULL ? line_length + 1 : line_length;
    return reader_emit(reader, start, line_length, line, length, error);
}

static enum recon_err reader_fill(struct recon_reader *reader, struct recon_error *error)
{
    size_t count = fread(reader->chunk, 1, READER_CHUNK_BYTES, reader->file);
    if (count == 0) {
        if (ferror(reader->file))
            return recon_fail(error, RECON_ERR_IO, reader->line_number, "",
                              "could not read the statement file");
        reader->file_end = true;
    }
    reader->bytes_total += count;
    if (reader->bytes_total > reader->bytes_max)
        return recon_fail(error, RECON_ERR_INPUT_TOO_LARGE, reader->line_number, "",
                          "input is larger than %llu bytes", (unsigned long long)reader->bytes_max);
    reader->chunk_length = count;
    reader->chunk_offset = 0;
    return RECON_OK;
}

static enum recon_err reader_next_file(struct recon_reader *reader, const char **line,
                                       size_t *length, bool *end, struct recon_error *error)
{
    bool started = false;
    bool out_of_memory;
    recon_buffer_clear(&reader->line);
    for (;;) {
        if (reader->chunk_offset == reader->chunk_length) {
            if (reader->file_end)
                break;
            enum recon_err err = reader_fill(reader, error);
            if (err != RECON_OK)
                return err;
            continue;
        }
        const char *start = reader->chunk + reader->chunk_offset;
        size_t rest = reader->chunk_length - reader->chunk_offset;
        const char *newline = memchr(start, '\n', rest);
        size_t part = newline != NULL ? (size_t)(newline - start) : rest;
        started = true;
        if (!recon_buffer_append(&reader->line, start, part, &out_of_memory))
            return out_of_memory ? recon_fail(error, RECON_ERR_NOMEM, 0, "", "out of memory")
                                 : line_too_long(reader, error);
        reader->chunk_offset += newline != NULL ? part + 1 : part;
        if (newline != NULL)
            return reader_emit(reader, reader->line.data != NULL ? reader->line.data : "",
                               reader->line.length, line, length, error);
    }
    if (!started) {
        *end = true;
        return RECON_OK;
    }
    return reader_emit(reader, reader->line.data != NULL ? reader->line.data : "",
                       reader->line.length, line, length, error);
}

enum recon_err recon_reader_next(struct recon_reader *reader, const char **line, size_t *length,
                                 bool *end, struct recon_error *error)
{
    *end = false;
    if (reader->file != NULL)
        return reader_next_file(reader, line, length, end, error);
    return reader_next_buffer(reader, line, length, end, error);
}

void recon_reader_close(struct recon_reader *reader)
{
    if (reader->file != NULL)
        fclose(reader->file);
    reader->file = NULL;
    free(reader->chunk);
    reader->chunk = NULL;
    recon_buffer_free(&reader->line);
}

/* ---- character sets ---- */

static bool is_utf8_name(const char *encoding)
{
    return encoding == NULL || strcasecmp(encoding, "utf-8") == 0 ||
           strcasecmp(encoding, "utf8") == 0;
}

enum recon_err recon_converter_init(struct recon_converter *converter, const char *encoding,
                                    size_t line_bytes_max, struct recon_error *error)
{
    converter->iconv_handle = NULL;
    converter->first_line = true;
    /* Every supported encoding needs at most 4 UTF-8 bytes per input byte. */
    recon_buffer_init(&converter->output, line_bytes_max * 4 + 16);
    if (is_utf8_name(encoding))
        return RECON_OK;
    iconv_t handle = iconv_open("UTF-8", encoding);
    if (handle == (iconv_t)-1) /* NOLINT(performance-no-int-to-ptr): iconv's error value */
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "encoding",
                          "unknown character set");
    converter->iconv_handle = handle;
    return RECON_OK;
}

static void drop_byte_order_mark(struct recon_converter *converter, const char **text,
                                 size_t *length)
{
    if (converter->first_line && *length >= 3 && memcmp(*text, "\xef\xbb\xbf", 3) == 0) {
        *text += 3;
        *length -= 3;
    }
    converter->first_line = false;
}

static enum recon_err invalid_bytes(size_t offset, uint64_t line_number, struct recon_error *error)
{
    return recon_fail(error, RECON_ERR_ENCODING, line_number, "",
                      "invalid byte sequence at byte %zu of line %llu", offset + 1,
                      (unsigned long long)line_number);
}

static bool buffer_reserve(struct recon_buffer *buffer, size_t size)
{
    if (buffer->capacity >= size)
        return true;
    char *data = realloc(buffer->data, size);
    if (data == NULL)
        return false;
    buffer->data = data;
    buffer->capacity = size;
    return true;
}

static enum recon_err convert_iconv(struct recon_converter *converter, const char *line,
                                    size_t length, uint64_t line_number, struct recon_error *error)
{
    size_t needed = length * 4 + 4;
    if (!buffer_reserve(&converter->output, needed + 1))
        return recon_fail(error, RECON_ERR_NOMEM, line_number, "", "out of memory");
    iconv_t handle = (iconv_t)converter->iconv_handle;
    char *input = (char *)line; /* iconv's prototype is not const-correct */
    size_t input_left = length;
    char *output = converter->output.data;
    size_t output_left = needed;
    iconv(handle, NULL, NULL, NULL, NULL);
    if (iconv(handle, &input, &input_left, &output, &output_left) == (size_t)-1)
        return invalid_bytes(length - input_left, line_number, error);
    if (iconv(handle, NULL, NULL, &output, &output_left) == (size_t)-1)
        return invalid_bytes(length, line_number, error);
    converter->output.length = needed - output_left;
    converter->output.data[converter->output.length] = '\0';
    return RECON_OK;
}

enum recon_err recon_converter_line(struct recon_converter *converter, const char *line,
                                    size_t length, uint64_t line_number, const char **out,
                                    size_t *out_length, struct recon_error *error)
{
    const char *text = line;
    size_t text_length = length;
    if (converter->iconv_handle != NULL) {
        enum recon_err err = convert_iconv(converter, line, length, line_number, error);
        if (err != RECON_OK)
            return err;
        text = converter->output.data;
        text_length = converter->output.length;
    }
    size_t invalid = utf8_invalid_offset(text, text_length);
    if (invalid != text_length) {
        /* After iconv only a NUL byte can be left invalid: name it in the input. */
        const char *nul = converter->iconv_handle != NULL ? memchr(line, '\0', length) : NULL;
        return invalid_bytes(nul != NULL ? (size_t)(nul - line) : invalid, line_number, error);
    }
    drop_byte_order_mark(converter, &text, &text_length);
    *out = text;
    *out_length = text_length;
    return RECON_OK;
}

void recon_converter_close(struct recon_converter *converter)
{
    if (converter->iconv_handle != NULL)
        iconv_close((iconv_t)converter->iconv_handle);
    converter->iconv_handle = NULL;
    recon_buffer_free(&converter->output);
}

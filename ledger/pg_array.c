/* One-dimensional array parameters in PostgreSQL's binary format (what
 * array_recv reads): no quoting or escaping of text and bytea elements, and
 * no text parsing on the server. And the rows of a two-dimensional array
 * result of plain words, in text form (what array_out writes). */
#include "ledger_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ndim, has-null flag, element type, then one (size, lower bound) pair. */
#define PG_ARRAY_HEADER_SIZE 20
#define PG_ARRAY_INITIAL_CAPACITY 256

void ledger_pg_array_init(struct ledger_pg_array *array, uint32_t element_oid)
{
    memset(array, 0, sizeof *array);
    array->element_oid = element_oid;
}

void ledger_pg_array_free(struct ledger_pg_array *array)
{
    free(array->data);
    array->data = NULL;
    array->size = 0;
    array->capacity = 0;
}

static bool reserve(struct ledger_pg_array *array, size_t more)
{
    if (array->failed)
        return false;
    if (array->data == NULL)
        array->size = PG_ARRAY_HEADER_SIZE;
    size_t needed = array->size + more;
    if (array->data != NULL && needed <= array->capacity)
        return true;
    size_t capacity = array->capacity ? array->capacity : PG_ARRAY_INITIAL_CAPACITY;
    while (capacity < needed)
        capacity *= 2;
    uint8_t *data = realloc(array->data, capacity);
    if (data == NULL) {
        array->failed = true;
        return false;
    }
    array->data = data;
    array->capacity = capacity;
    return true;
}

static void put_u32(uint8_t *out, uint32_t value)
{
    out[0] = (uint8_t)(value >> 24);
    out[1] = (uint8_t)(value >> 16);
    out[2] = (uint8_t)(value >> 8);
    out[3] = (uint8_t)value;
}

/* An element: its length (4 bytes, -1: NULL), then its bytes. */
static void append(struct ledger_pg_array *array, const void *bytes, size_t size)
{
    if (size > INT32_MAX || array->count >= INT32_MAX) {
        array->failed = true;
        return;
    }
    if (!reserve(array, 4 + size))
        return;
    put_u32(array->data + array->size, (uint32_t)size);
    if (size > 0)
        memcpy(array->data + array->size + 4, bytes, size);
    array->size += 4 + size;
    array->count++;
}

void ledger_pg_array_null(struct ledger_pg_array *array)
{
    if (array->count >= INT32_MAX) {
        array->failed = true;
        return;
    }
    if (!reserve(array, 4))
        return;
    put_u32(array->data + array->size, UINT32_MAX); /* -1 */
    array->size += 4;
    array->count++;
    array->has_null = true;
}

void ledger_pg_array_int64(struct ledger_pg_array *array, int64_t value)
{
    assert(array->element_oid == LEDGER_PG_INT8);
    uint8_t bytes[8];
    uint64_t bits = (uint64_t)value;
    for (int i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(bits >> (56 - 8 * i));
    append(array, bytes, sizeof bytes);
}

void ledger_pg_array_int32(struct ledger_pg_array *array, int32_t value)
{
    assert(array->element_oid == LEDGER_PG_INT4 || array->element_oid == LEDGER_PG_DATE);
    uint8_t bytes[4];
    put_u32(bytes, (uint32_t)value);
    append(array, bytes, sizeof bytes);
}

void ledger_pg_array_int16(struct ledger_pg_array *array, int16_t value)
{
    assert(array->element_oid == LEDGER_PG_INT2);
    uint16_t bits = (uint16_t)value;
    uint8_t bytes[2] = {(uint8_t)(bits >> 8), (uint8_t)bits};
    append(array, bytes, sizeof bytes);
}

void ledger_pg_array_text(struct ledger_pg_array *array, const char *text)
{
    assert(array->element_oid == LEDGER_PG_TEXT);
    if (text == NULL)
        ledger_pg_array_null(array);
    else
        append(array, text, strlen(text));
}

void ledger_pg_array_bytea(struct ledger_pg_array *array, const uint8_t *bytes, size_t size)
{
    assert(array->element_oid == LEDGER_PG_BYTEA);
    append(array, bytes, size);
}

void ledger_pg_array_id(struct ledger_pg_array *array, int64_t id)
{
    if (id == 0)
        ledger_pg_array_null(array);
    else
        ledger_pg_array_int64(array, id);
}

void ledger_pg_array_date(struct ledger_pg_array *array, int32_t days)
{
    assert(array->element_oid == LEDGER_PG_DATE);
    if (days == LEDGER_VALUE_DATE_NONE)
        ledger_pg_array_null(array);
    else
        ledger_pg_array_int32(array, days - LEDGER_PG_DATE_EPOCH_DAYS);
}

void ledger_pg_array_bool(struct ledger_pg_array *array, bool value)
{
    assert(array->element_oid == LEDGER_PG_BOOL);
    uint8_t byte = value ? 1 : 0;
    append(array, &byte, 1);
}

uint32_t ledger_pg_array_type(uint32_t element_oid)
{
    switch (element_oid) {
    case LEDGER_PG_BOOL:
        return 1000;
    case LEDGER_PG_BYTEA:
        return 1001;
    case LEDGER_PG_INT2:
        return 1005;
    case LEDGER_PG_INT4:
        return 1007;
    case LEDGER_PG_TEXT:
        return 1009;
    case LEDGER_PG_INT8:
        return 1016;
    case LEDGER_PG_DATE:
        return 1182;
    }
    return 0;
}

bool ledger_pg_array_finish(struct ledger_pg_array *array)
{
    if (!reserve(array, 0))
        return false;
    uint8_t *header = array->data;
    /* An empty array is sent with no dimensions (array_recv's own form). */
    put_u32(header, array->count > 0 ? 1 : 0);
    put_u32(header + 4, array->has_null ? 1 : 0);
    put_u32(header + 8, array->element_oid);
    put_u32(header + 12, (uint32_t)array->count);
    put_u32(header + 16, 1);
    if (array->count == 0)
        array->size = 12;
    return true;
}

/* ---- two-dimensional array results of words, in text form ---- */

void ledger_pg_rows_start(struct ledger_pg_rows *rows, const char *text, size_t columns)
{
    assert(columns > 0);
    memset(rows, 0, sizeof *rows);
    rows->at = text;
    rows->columns = columns;
}

/* array_out quotes an element with any of these (or empty, or NULL spelt
 * as a word): such an element is not a word. */
static bool word_char(char c)
{
    return c != '\0' && strchr("{}\",\\ \t\n\r\v\f", c) == NULL;
}

enum ledger_pg_rows_next ledger_pg_rows_next(struct ledger_pg_rows *rows,
                                             char (*words)[LEDGER_PG_WORD_SIZE])
{
    const char *at = rows->at;
    if (at == NULL)
        return LEDGER_PG_ROWS_MALFORMED;
    if (rows->ended)
        return LEDGER_PG_ROWS_END;
    if (!rows->started) {
        rows->started = true;
        if (strcmp(at, "{}") == 0) {
            rows->ended = true;
            return LEDGER_PG_ROWS_END;
        }
        if (*at++ != '{')
            goto malformed;
    }
    if (*at++ != '{')
        goto malformed;
    for (size_t i = 0; i < rows->columns; i++) {
        size_t length = 0;
        while (length < LEDGER_PG_WORD_SIZE && word_char(at[length]))
            length++;
        if (length == 0 || length == LEDGER_PG_WORD_SIZE)
            goto malformed;
        memcpy(words[i], at, length);
        words[i][length] = '\0';
        at += length;
        if (*at++ != (i + 1 < rows->columns ? ',' : '}'))
            goto malformed;
    }
    if (at[0] == ',') {
        at++;
    } else if (at[0] == '}' && at[1] == '\0') {
        rows->ended = true;
    } else {
        goto malformed;
    }
    rows->at = at;
    return LEDGER_PG_ROWS_ROW;
malformed:
    rows->at = NULL;
    return LEDGER_PG_ROWS_MALFORMED;
}

/* A growing, NUL-terminated text in memory (text_buffer.h). */
#include "text_buffer.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_TEXT_INITIAL 1024 /* bytes first allocated, doubled as needed */

void api_text_init(struct api_text *text, size_t max)
{
    *text = (struct api_text){.max = max};
}

/* Room for size more bytes and the NUL; false (failed) when there is none. */
static bool reserve(struct api_text *text, size_t size)
{
    if (text->failed)
        return false;
    if ((text->max != 0 && size > text->max - text->used) || size >= SIZE_MAX / 2 - text->used) {
        text->failed = true;
        return false;
    }
    if (text->used + size + 1 <= text->size)
        return true;
    size_t grown_size = text->size ? text->size : API_TEXT_INITIAL;
    while (grown_size < text->used + size + 1)
        grown_size *= 2;
    char *grown = realloc(text->data, grown_size);
    if (grown == NULL) {
        text->failed = true;
        return false;
    }
    text->data = grown;
    text->size = grown_size;
    return true;
}

void api_text_put(struct api_text *text, const char *bytes, size_t size)
{
    if (!reserve(text, size))
        return;
    memcpy(text->data + text->used, bytes, size);
    text->used += size;
    text->data[text->used] = '\0';
}

void api_text_puts(struct api_text *text, const char *string)
{
    api_text_put(text, string, strlen(string));
}

void api_text_printf(struct api_text *text, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    va_list measure;
    va_copy(measure, args);
    int length = vsnprintf(NULL, 0, format, measure);
    va_end(measure);
    if (length < 0)
        text->failed = true;
    else if (reserve(text, (size_t)length)) {
        vsnprintf(text->data + text->used, (size_t)length + 1, format, args);
        text->used += (size_t)length;
    }
    va_end(args);
}

char *api_text_take(struct api_text *text)
{
    char *data = text->data;
    if (!text->failed && data == NULL)
        data = calloc(1, 1);
    else if (text->failed) {
        free(data);
        data = NULL;
    }
    *text = (struct api_text){.max = text->max};
    return data;
}

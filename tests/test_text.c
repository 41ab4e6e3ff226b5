#include "test_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void test_text_append(struct test_text *text, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int needed = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (needed < 0)
        abort();
    if (text->length + (size_t)needed + 1 > text->capacity) {
        text->capacity = 2 * (text->length + (size_t)needed + 1);
        text->data = realloc(text->data, text->capacity);
        if (text->data == NULL)
            abort();
    }
    va_start(args, format);
    vsnprintf(text->data + text->length, text->capacity - text->length, format, args);
    va_end(args);
    text->length += (size_t)needed;
}

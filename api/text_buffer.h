/* A growing, NUL-terminated text in memory: what the metrics page and the
 * applicant's status answer are written into. Once anything fails (memory,
 * the bound) it stays failed, and api_text_take gives NULL. */
#ifndef API_TEXT_BUFFER_H
#define API_TEXT_BUFFER_H

#include <stdbool.h>
#include <stddef.h>

struct api_text {
    char *data;
    size_t used; /* bytes before the NUL */
    size_t size; /* bytes allocated */
    size_t max;  /* the most bytes it may hold; 0: no bound */
    bool failed;
};

void api_text_init(struct api_text *text, size_t max);
void api_text_put(struct api_text *text, const char *bytes, size_t size);
void api_text_puts(struct api_text *text, const char *string);
void api_text_printf(struct api_text *text, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* The text (free() it), or NULL when anything failed; text is left empty. */
char *api_text_take(struct api_text *text);

#endif

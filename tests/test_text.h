/* A growing text for tests that generate files (statements): appended to
 * with printf formats; aborts the test process when memory runs out. */
#ifndef TESTS_TEST_TEXT_H
#define TESTS_TEST_TEXT_H

#include <stddef.h>

struct test_text {
    char *data; /* NUL-terminated, owned: free() it */
    size_t length;
    size_t capacity;
};

void test_text_append(struct test_text *text, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

#endif

/* Bench-only: parse-only speed of the statement parsers (no database), for
 * tests/bench_import.sh. Parses FILE with the parsers' default limits, or
 * with lines per statement and per file raised to LINES_MAX, and prints one
 * JSON object: lines, statements, seconds, lines/s.
 *
 * usage: bench_parse camt053|mt940 FILE [LINES_MAX] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "statement.h"

static double now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "camt053") != 0 && strcmp(argv[1], "mt940") != 0)) {
        fprintf(stderr, "usage: bench_parse camt053|mt940 FILE [LINES_MAX]\n");
        return 2;
    }
    struct recon_limits limits;
    recon_limits_default(&limits);
    if (argc > 3) {
        size_t lines_max = (size_t)strtoull(argv[3], NULL, 10);
        limits.lines_per_statement_max = lines_max;
        limits.lines_per_file_max = lines_max;
    }
    struct recon_statement *first = NULL;
    struct recon_error error;
    double started = now_seconds();
    enum recon_err err = strcmp(argv[1], "camt053") == 0
                             ? recon_camt053_parse_file(&first, argv[2], &limits, 0, &error)
                             : recon_mt940_parse_file(&first, argv[2], NULL, &limits, 0, &error);
    double seconds = now_seconds() - started;
    if (err != RECON_OK) {
        printf("{\"error\": \"%s\", \"message\": \"%s\", \"line\": %llu}\n", recon_err_code(err),
               error.message, (unsigned long long)error.line);
        return 1;
    }
    size_t lines = 0;
    size_t statements = 0;
    for (const struct recon_statement *s = first; s != NULL; s = s->next, statements++)
        lines += s->line_count;
    recon_statement_free(first);
    printf("{\"lines\": %zu, \"statements\": %zu, \"seconds\": %.3f, \"lines_per_s\": %.0f}\n",
           lines, statements, seconds, (double)lines / seconds);
    return 0;
}

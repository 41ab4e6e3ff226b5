/* Bench-only: parse-only speed of the statement parsers (no database), for
 * tests/bench_import.sh. Streams FILE (recon_parse_stream, as the importer
 * does) into a sink that only counts, with the streamed parse's limits or
 * with lines per statement and per file set to LINES_MAX, and prints one
 * JSON object: lines, statements, seconds, lines/s.
 *
 * usage: bench_parse camt053|mt940 FILE [LINES_MAX] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "statement.h"

struct counts {
    size_t lines;
    size_t statements;
};

static enum recon_err count_lines(void *context, const struct recon_statement *statement,
                                  const struct recon_line *lines, size_t count)
{
    (void)statement;
    (void)lines;
    ((struct counts *)context)->lines += count;
    return RECON_OK;
}

static enum recon_err count_statement(void *context, const struct recon_statement *statement)
{
    (void)statement;
    ((struct counts *)context)->statements++;
    return RECON_OK;
}

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
    recon_limits_stream(&limits);
    if (argc > 3) {
        size_t lines_max = (size_t)strtoull(argv[3], NULL, 10);
        limits.lines_per_statement_max = lines_max;
        limits.lines_per_file_max = lines_max;
    }
    struct counts counts = {0, 0};
    struct recon_sink sink = {&counts, 0, count_lines, count_statement};
    struct recon_source source = {.format = strcmp(argv[1], "camt053") == 0 ? RECON_FORMAT_CAMT053
                                                                            : RECON_FORMAT_MT940,
                                  .path = argv[2],
                                  .limits = &limits};
    struct recon_error error;
    double started = now_seconds();
    enum recon_err err = recon_parse_stream(&source, &sink, &error);
    double seconds = now_seconds() - started;
    if (err != RECON_OK) {
        printf("{\"error\": \"%s\", \"message\": \"%s\", \"line\": %llu}\n", recon_err_code(err),
               error.message, (unsigned long long)error.line);
        return 1;
    }
    printf("{\"lines\": %zu, \"statements\": %zu, \"seconds\": %.3f, \"lines_per_s\": %.0f}\n",
           counts.lines, counts.statements, seconds, (double)counts.lines / seconds);
    return 0;
}

/* Unit suite for streamed parsing (recon_parse_stream): for every corpus
 * file, the lines a sink receives in chunks of 1, 2, 7 and the default are
 * the lines of the whole parse, field by field, fingerprints included; a
 * refused file is refused the same way; a sink that stops stops the parse;
 * an unbalanced statement reaches no end(). */
#include <check.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statement.h"

Suite *recon_stream_suite(void);

/* What a sink received: copies of the lines, flattened into one list. */
struct received {
    struct recon_line *lines;
    char **texts; /* 11 strings per line */
    size_t count;
    size_t capacity;
    size_t statements_ended;
    size_t chunk_max_seen;
    size_t chunk_limit;
    size_t stop_after_calls; /* 0: never */
    size_t calls;
    int64_t sums[64];
    size_t totals[64];
    char accounts[64][64];
};

#define TEXTS_PER_LINE 11

static const char **line_texts(const struct recon_line *line, const char *out[TEXTS_PER_LINE])
{
    out[0] = line->bank_reference;
    out[1] = line->owner_reference;
    out[2] = line->end_to_end_id;
    out[3] = line->transaction_code;
    out[4] = line->counterparty_name;
    out[5] = line->counterparty_account;
    out[6] = line->remittance;
    out[7] = line->creditor_reference;
    out[8] = line->additional_info;
    out[9] = line->return_reason;
    out[10] = line->fingerprint;
    return out;
}

static enum recon_err sink_lines(void *context, const struct recon_statement *statement,
                                 const struct recon_line *lines, size_t count)
{
    struct received *r = context;
    (void)statement;
    r->calls++;
    ck_assert_uint_ge(count, 1);
    ck_assert_uint_le(count, r->chunk_limit);
    if (count > r->chunk_max_seen)
        r->chunk_max_seen = count;
    if (r->stop_after_calls != 0 && r->calls >= r->stop_after_calls)
        return RECON_ERR_STOPPED;
    if (r->count + count > r->capacity) {
        r->capacity = 2 * (r->count + count);
        r->lines = realloc(r->lines, r->capacity * sizeof *r->lines);
        r->texts = realloc(r->texts, r->capacity * TEXTS_PER_LINE * sizeof *r->texts);
        ck_assert(r->lines != NULL && r->texts != NULL);
    }
    for (size_t i = 0; i < count; i++) {
        const char *texts[TEXTS_PER_LINE];
        r->lines[r->count] = lines[i];
        line_texts(&lines[i], texts);
        for (size_t t = 0; t < TEXTS_PER_LINE; t++) {
            r->texts[r->count * TEXTS_PER_LINE + t] = strdup(texts[t]);
            ck_assert_ptr_nonnull(r->texts[r->count * TEXTS_PER_LINE + t]);
        }
        r->count++;
    }
    return RECON_OK;
}

static enum recon_err sink_end(void *context, const struct recon_statement *statement)
{
    struct received *r = context;
    ck_assert_uint_lt(r->statements_ended, 64);
    r->sums[r->statements_ended] = statement->lines_sum_minor;
    r->totals[r->statements_ended] = statement->lines_total;
    snprintf(r->accounts[r->statements_ended], sizeof r->accounts[0], "%s", statement->account_id);
    r->statements_ended++;
    return RECON_OK;
}

static void received_free(struct received *r)
{
    for (size_t i = 0; i < r->count * TEXTS_PER_LINE; i++)
        free(r->texts[i]);
    free(r->texts);
    free(r->lines);
}

static char *corpus_path(const char *directory, const char *name)
{
    const char *root = getenv("CASELEDGER_CORPUS_DIR");
    ck_assert_msg(root != NULL, "CASELEDGER_CORPUS_DIR is not set");
    size_t size = strlen(root) + strlen(directory) + strlen(name) + 3;
    char *path = malloc(size);
    ck_assert_ptr_nonnull(path);
    snprintf(path, size, "%s/%s/%s", root, directory, name);
    return path;
}

static enum recon_err parse_whole(enum recon_format format, const char *path,
                                  struct recon_statement **out, struct recon_error *error)
{
    struct recon_limits limits;
    recon_limits_stream(&limits);
    if (format == RECON_FORMAT_CAMT053)
        return recon_camt053_parse_file(out, path, &limits, 0, error);
    return recon_mt940_parse_file(out, path, NULL, &limits, 0, error);
}

static void assert_same_line(const struct recon_line *a, const struct recon_line *b,
                             char *const *b_texts)
{
    const char *a_texts[TEXTS_PER_LINE];
    line_texts(a, a_texts);
    ck_assert_int_eq(a->amount_minor, b->amount_minor);
    ck_assert_int_eq(a->value_date_days, b->value_date_days);
    ck_assert_int_eq(a->booking_date_days, b->booking_date_days);
    ck_assert_str_eq(a->currency, b->currency);
    ck_assert_int_eq(a->reversal, b->reversal);
    ck_assert_uint_eq(a->split_index, b->split_index);
    ck_assert_uint_eq(a->batch_transaction_count, b->batch_transaction_count);
    ck_assert_uint_eq(a->source_line, b->source_line);
    for (size_t t = 0; t < TEXTS_PER_LINE; t++)
        ck_assert_str_eq(a_texts[t], b_texts[t]);
}

/* Streams one file with the given chunk size and compares with the whole parse. */
static void compare_file(enum recon_format format, const char *directory, const char *name,
                         size_t chunk)
{
    char *path = corpus_path(directory, name);
    struct recon_statement *whole = NULL;
    struct recon_error whole_error;
    enum recon_err whole_err = parse_whole(format, path, &whole, &whole_error);

    struct received r = {.chunk_limit = chunk ? chunk : 8192};
    struct recon_sink sink = {&r, chunk, sink_lines, sink_end};
    struct recon_source source = {.format = format, .path = path};
    struct recon_error error;
    enum recon_err err = recon_parse_stream(&source, &sink, &error);
    ck_assert_msg(err == whole_err, "%s chunk %zu: streamed %s, whole %s", name, chunk,
                  recon_err_code(err), recon_err_code(whole_err));
    if (err == RECON_OK) {
        size_t index = 0;
        size_t statement = 0;
        for (const struct recon_statement *s = whole; s != NULL; s = s->next, statement++) {
            ck_assert_uint_lt(statement, r.statements_ended);
            ck_assert_int_eq(r.sums[statement], s->lines_sum_minor);
            ck_assert_uint_eq(r.totals[statement], s->line_count);
            ck_assert_str_eq(r.accounts[statement], s->account_id);
            for (size_t i = 0; i < s->line_count; i++, index++) {
                ck_assert_uint_lt(index, r.count);
                assert_same_line(&s->lines[i], &r.lines[index], &r.texts[index * TEXTS_PER_LINE]);
            }
        }
        ck_assert_uint_eq(statement, r.statements_ended);
        ck_assert_uint_eq(index, r.count);
    } else {
        ck_assert_uint_eq(error.line, whole_error.line);
    }
    recon_statement_free(whole);
    received_free(&r);
    free(path);
}

static void compare_directory(enum recon_format format, const char *directory)
{
    const char *root = getenv("CASELEDGER_CORPUS_DIR");
    ck_assert_ptr_nonnull(root);
    char dir_path[4096];
    snprintf(dir_path, sizeof dir_path, "%s/%s", root, directory);
    DIR *dir = opendir(dir_path);
    ck_assert_ptr_nonnull(dir);
    size_t files = 0;
    struct dirent *item;
    while ((item = readdir(dir)) != NULL) {
        if (item->d_name[0] == '.')
            continue;
        static const size_t chunks[] = {1, 2, 7, 0};
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++)
            compare_file(format, directory, item->d_name, chunks[c]);
        files++;
    }
    closedir(dir);
    ck_assert_uint_ge(files, 9);
}

START_TEST(camt053_corpus_streams_as_parsed)
{
    compare_directory(RECON_FORMAT_CAMT053, "camt053");
}
END_TEST

START_TEST(mt940_corpus_streams_as_parsed)
{
    compare_directory(RECON_FORMAT_MT940, "mt940");
}
END_TEST

/* A generated MT940 statement of many identical NONREF lines: chunks stay
 * bounded, and identical lines keep distinct fingerprints across chunks. */
START_TEST(identical_lines_across_chunks)
{
    enum { LINES = 5000 };
    size_t size = 128 + LINES * 64;
    char *text = malloc(size);
    ck_assert_ptr_nonnull(text);
    size_t used = (size_t)snprintf(text, size, ":20:S\n:25:A\n:60F:C240104EUR0,\n");
    for (int i = 0; i < LINES; i++)
        used += (size_t)snprintf(text + used, size - used, ":61:240105C1,00NTRFNONREF\n:86:x\n");
    used += (size_t)snprintf(text + used, size - used, ":62F:C240105EUR%d,00\n-\n", LINES);
    struct received r = {.chunk_limit = 1000};
    struct recon_sink sink = {&r, 1000, sink_lines, sink_end};
    struct recon_source source = {.format = RECON_FORMAT_MT940, .data = text, .size = used};
    struct recon_error error;
    ck_assert_int_eq(recon_parse_stream(&source, &sink, &error), RECON_OK);
    ck_assert_uint_eq(r.count, LINES);
    ck_assert_uint_eq(r.chunk_max_seen, 1000);
    ck_assert_uint_eq(r.calls, LINES / 1000);
    ck_assert_uint_eq(r.statements_ended, 1);
    ck_assert_int_eq(r.sums[0], LINES * 100);
    /* Sorted fingerprints are all distinct. */
    char **prints = malloc(LINES * sizeof *prints);
    ck_assert_ptr_nonnull(prints);
    for (size_t i = 0; i < LINES; i++)
        prints[i] = r.texts[i * TEXTS_PER_LINE + 10];
    for (size_t i = 0; i < LINES; i++)
        for (size_t j = i + 1; j < LINES && j < i + 50; j++)
            ck_assert_str_ne(prints[i], prints[j]);
    free(prints);
    /* And the same as the whole parse. */
    struct recon_statement *whole = NULL;
    struct recon_limits limits;
    recon_limits_stream(&limits);
    ck_assert_int_eq(recon_mt940_parse(&whole, text, used, NULL, &limits, 0, &error), RECON_OK);
    for (size_t i = 0; i < LINES; i++)
        ck_assert_str_eq(whole->lines[i].fingerprint, r.texts[i * TEXTS_PER_LINE + 10]);
    recon_statement_free(whole);
    received_free(&r);
    free(text);
}
END_TEST

START_TEST(unbalanced_statement_never_ends)
{
    static const char text[] = ":20:S\n:25:A\n:60F:C240104EUR0,\n"
                               ":61:240105C10,00NTRFR1\n:86:a\n"
                               ":61:240105C11,00NTRFR2\n:86:b\n"
                               ":62F:C240105EUR22,00\n-\n";
    struct received r = {.chunk_limit = 1};
    struct recon_sink sink = {&r, 1, sink_lines, sink_end};
    struct recon_source source = {
        .format = RECON_FORMAT_MT940, .data = text, .size = sizeof text - 1};
    struct recon_error error;
    ck_assert_int_eq(recon_parse_stream(&source, &sink, &error), RECON_ERR_UNBALANCED);
    ck_assert_uint_eq(r.count, 2); /* streamed, but the statement never ended */
    ck_assert_uint_eq(r.statements_ended, 0);
    received_free(&r);
}
END_TEST

START_TEST(a_stopping_sink_stops_the_parse)
{
    static const char text[] = ":20:S\n:25:A\n:60F:C240104EUR0,\n"
                               ":61:240105C10,00NTRFR1\n:86:a\n"
                               ":61:240105C11,00NTRFR2\n:86:b\n"
                               ":61:240105C12,00NTRFR3\n:86:c\n"
                               ":62F:C240105EUR33,00\n-\n";
    struct received r = {.chunk_limit = 1, .stop_after_calls = 2};
    struct recon_sink sink = {&r, 1, sink_lines, sink_end};
    struct recon_source source = {
        .format = RECON_FORMAT_MT940, .data = text, .size = sizeof text - 1};
    struct recon_error error;
    ck_assert_int_eq(recon_parse_stream(&source, &sink, &error), RECON_ERR_STOPPED);
    ck_assert_str_eq(recon_err_code(RECON_ERR_STOPPED), "import_stopped");
    ck_assert_uint_eq(r.calls, 2);
    ck_assert_uint_eq(r.statements_ended, 0);
    received_free(&r);
}
END_TEST

START_TEST(bad_arguments)
{
    struct received r = {.chunk_limit = 1};
    struct recon_sink sink = {&r, 1, sink_lines, sink_end};
    struct recon_sink no_callbacks = {&r, 1, NULL, NULL};
    struct recon_source source = {.format = RECON_FORMAT_MT940, .data = NULL, .size = 3};
    struct recon_source unknown = {.format = (enum recon_format)99, .data = "", .size = 0};
    struct recon_error error;
    ck_assert_int_eq(recon_parse_stream(NULL, &sink, &error), RECON_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(recon_parse_stream(&source, &sink, &error), RECON_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(recon_parse_stream(&unknown, &no_callbacks, &error),
                     RECON_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(recon_parse_stream(&unknown, &sink, &error), RECON_ERR_INVALID_ARGUMENT);
}
END_TEST

Suite *recon_stream_suite(void)
{
    Suite *suite = suite_create("recon_stream");
    TCase *core = tcase_create("core");
    tcase_set_timeout(core, 120);
    tcase_add_test(core, camt053_corpus_streams_as_parsed);
    tcase_add_test(core, mt940_corpus_streams_as_parsed);
    tcase_add_test(core, identical_lines_across_chunks);
    tcase_add_test(core, unbalanced_statement_never_ends);
    tcase_add_test(core, a_stopping_sink_stops_the_parse);
    tcase_add_test(core, bad_arguments);
    suite_add_tcase(suite, core);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(recon_stream_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Checks every fuzz target makes on a parsed statement list: the model's
 * invariants hold for whatever input was accepted. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statement.h"

/* Limits small enough that the fuzzer reaches them. */
static inline void fuzz_limits(struct recon_limits *limits)
{
    recon_limits_default(limits);
    limits->line_bytes_max = 512;
    limits->field_bytes_max = 256;
    limits->element_depth_max = 24;
    limits->lines_per_statement_max = 200;
    limits->lines_per_file_max = 400;
    limits->statements_per_file_max = 50;
}

/* Strict UTF-8, written here again so that the check shares no code with
 * the parsers. */
static inline int fuzz_utf8_valid(const unsigned char *text)
{
    while (*text != 0) {
        unsigned char lead = *text;
        size_t count = lead < 0x80                    ? 1
                       : lead >= 0xc2 && lead <= 0xdf ? 2
                       : lead >= 0xe0 && lead <= 0xef ? 3
                       : lead >= 0xf0 && lead <= 0xf4 ? 4
                                                      : 0;
        if (count == 0)
            return 0;
        uint32_t code_point = count == 1 ? lead : lead & (0x7fu >> count);
        for (size_t index = 1; index < count; index++) {
            if ((text[index] & 0xc0) != 0x80)
                return 0;
            code_point = (code_point << 6) | (text[index] & 0x3fu);
        }
        if ((count == 3 && code_point < 0x800) || (count == 4 && code_point < 0x10000) ||
            code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff))
            return 0;
        text += count;
    }
    return 1;
}

static inline void fuzz_check_text(const char *text)
{
    if (text == NULL || !fuzz_utf8_valid((const unsigned char *)text))
        abort();
}

/* A refusal names a known error and gives valid UTF-8 text. */
static inline void fuzz_check_error(enum recon_err err, const struct recon_error *error)
{
    if (err == RECON_OK)
        return;
    if (error->code != err || err >= RECON_ERR__COUNT || error->message[0] == '\0')
        abort();
    fuzz_check_text(error->path);
    fuzz_check_text(error->message);
}

/* Aborts when an accepted statement breaks an invariant of the model. */
static inline void fuzz_check_statements(const struct recon_statement *first, unsigned flags)
{
    for (const struct recon_statement *statement = first; statement != NULL;
         statement = statement->next) {
        int64_t sum = 0;
        if (statement->currency[0] != '\0' && strlen(statement->currency) != 3)
            abort();
        fuzz_check_text(statement->account_id);
        fuzz_check_text(statement->statement_id);
        fuzz_check_text(statement->sequence);
        for (size_t index = 0; index < statement->line_count; index++) {
            const struct recon_line *line = &statement->lines[index];
            if (__builtin_add_overflow(sum, line->amount_minor, &sum))
                abort(); /* the parser must have refused this */
            fuzz_check_text(line->bank_reference);
            fuzz_check_text(line->owner_reference);
            fuzz_check_text(line->end_to_end_id);
            fuzz_check_text(line->transaction_code);
            fuzz_check_text(line->counterparty_name);
            fuzz_check_text(line->counterparty_account);
            fuzz_check_text(line->remittance);
            fuzz_check_text(line->creditor_reference);
            fuzz_check_text(line->additional_info);
            fuzz_check_text(line->return_reason);
            if (strlen(line->fingerprint) != RECON_FINGERPRINT_SIZE - 1)
                abort();
            if (line->split_index >= line->split_count)
                abort();
        }
        if (sum != statement->lines_sum_minor)
            abort();
        /* What passed the checks must pass them again. */
        if (!(flags & RECON_PARSE_NO_STATEMENT_CHECKS) &&
            recon_statement_check(statement, NULL) != RECON_OK)
            abort();
    }
}

/* ---- streaming: the same lines, two at a time ---- */

struct fuzz_stream {
    int compare;                            /* the whole parse accepted the input */
    const struct recon_statement *expected; /* the whole parse's statement being streamed */
    size_t index;                           /* its next line */
};

static inline enum recon_err fuzz_stream_lines(void *context,
                                               const struct recon_statement *statement,
                                               const struct recon_line *lines, size_t count)
{
    struct fuzz_stream *s = context;
    (void)statement;
    if (count == 0 || count > 2)
        abort();
    for (size_t i = 0; i < count; i++)
        fuzz_check_text(lines[i].remittance);
    if (!s->compare) /* refused whole: may be refused later in the stream */
        return RECON_OK;
    for (size_t i = 0; i < count; i++, s->index++) {
        if (s->expected == NULL || s->index >= s->expected->line_count)
            abort();
        const struct recon_line *want = &s->expected->lines[s->index];
        if (lines[i].amount_minor != want->amount_minor ||
            strcmp(lines[i].fingerprint, want->fingerprint) != 0 ||
            strcmp(lines[i].bank_reference, want->bank_reference) != 0 ||
            strcmp(lines[i].remittance, want->remittance) != 0)
            abort();
    }
    return RECON_OK;
}

static inline enum recon_err fuzz_stream_end(void *context, const struct recon_statement *statement)
{
    struct fuzz_stream *s = context;
    if (!s->compare)
        return RECON_OK;
    if (s->expected == NULL || s->index != s->expected->line_count ||
        statement->lines_total != s->expected->line_count ||
        statement->lines_sum_minor != s->expected->lines_sum_minor)
        abort();
    s->expected = s->expected->next;
    s->index = 0;
    return RECON_OK;
}

/* A streamed parse accepts what the whole parse (with its checks) accepts,
 * and hands over the same lines; both refuse the same inputs. */
static inline void fuzz_check_stream(const struct recon_source *source,
                                     const struct recon_statement *whole, enum recon_err whole_err)
{
    struct fuzz_stream state = {whole_err == RECON_OK, whole, 0};
    struct recon_sink sink = {&state, 2, fuzz_stream_lines, fuzz_stream_end};
    struct recon_error error;
    enum recon_err err = recon_parse_stream(source, &sink, &error);
    if ((err == RECON_OK) != (whole_err == RECON_OK) || (err == RECON_OK && state.expected != NULL))
        abort();
    fuzz_check_error(err, &error);
}

#endif

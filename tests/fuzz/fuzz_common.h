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

#endif

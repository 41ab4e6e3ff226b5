/* Importing bank statements into the ledger.
 *
 * A file is parsed (statement.h), each of its statements checked against
 * the custody account it is imported for (account, currency, opening +
 * lines = closing), and then, in ONE database transaction, every line is
 * matched (match.h), the entries of the whole file are booked, and the
 * statements are stored with the file's BLAKE2b-256 digest and every line
 * with its status, rule and reason. Anything refused books and stores
 * nothing. A line already imported for the account (same identity: bank
 * reference, else fingerprint) is stored as a duplicate and never booked
 * again, so re-importing a file or an overlapping statement is safe. */
#ifndef RECON_IMPORT_H
#define RECON_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"
#include "match.h"
#include "statement.h"

enum recon_import_err {
    RECON_IMPORT_OK = 0,
    RECON_IMPORT_ERR_INVALID_ARGUMENT,  /* caller's bug, or no format given */
    RECON_IMPORT_ERR_IO,                /* the file could not be read */
    RECON_IMPORT_ERR_PARSE,             /* the parser refused the file: error->parse says why */
    RECON_IMPORT_ERR_UNKNOWN_ACCOUNT,   /* no custody account with that number */
    RECON_IMPORT_ERR_WRONG_ACCOUNT,     /* a statement of another account */
    RECON_IMPORT_ERR_CURRENCY_MISMATCH, /* statement currency is not the account's */
    RECON_IMPORT_ERR_UNBALANCED,        /* opening + lines != closing */
    RECON_IMPORT_ERR_AMOUNT_TOO_LARGE,  /* a line over ledger_amount_max(): error->parse.line */
    RECON_IMPORT_ERR_LEDGER,            /* the ledger refused or failed: error->ledger */
    RECON_IMPORT_ERR_NOMEM,
    RECON_IMPORT_ERR__COUNT
};

struct recon_import_error {
    enum recon_import_err code;
    struct recon_error parse; /* RECON_IMPORT_ERR_PARSE / _UNBALANCED */
    enum ledger_err ledger;   /* RECON_IMPORT_ERR_LEDGER */
    size_t statement_index;   /* 0-based statement of the file, when known */
    char message[RECON_ERROR_MESSAGE_SIZE + 64];
};
/* Stable API code ("wrong_account", "statement_unbalanced", the parser's or
 * the ledger's code); never NULL. */
const char *recon_import_err_code(const struct recon_import_error *error);
/* The HTTP status for the error (422 for refused files). */
int recon_import_http_status(const struct recon_import_error *error);

struct recon_import_options {
    enum recon_format format;
    const struct recon_csv_mapping *mapping; /* CSV */
    const char *encoding;                    /* MT940; NULL: UTF-8 */
    const char *bank_account_no;             /* the custody account's statement number */
    const char *actor;                       /* clerk, bank or admin */
    const struct recon_limits *limits;       /* NULL: recon_limits_stream() */
    size_t
        chunk_lines; /* lines matched, booked and stored at a time; 0: RECON_STREAM_CHUNK_LINES */
};

struct recon_statement_summary {
    int64_t statement_id;
    size_t lines, booked, matched, settled, returned, suspense, exceptions, duplicates;
    int64_t opening_minor;
    int64_t closing_minor;
    int32_t closing_date_days;
};

struct recon_import_result {
    uint8_t file_digest[LEDGER_HASH_SIZE];
    int64_t bank_account_id;
    char currency[LEDGER_CURRENCY_SIZE];
    enum recon_format format;
    size_t statements_count;
    struct recon_statement_summary *statements; /* new array: recon_import_result_free */
    size_t statements_capacity;
    struct recon_statement_summary total; /* sums; opening of the first, closing of the last */
    int64_t book_balance_minor; /* custody account at the last closing date, after the import */
    int64_t difference_minor;   /* closing - book balance */
    /* LEDGER_OK: the two above were computed. Else the reconciliation
     * report after the commit failed: the import stands, and both are
     * unknown (never a 0 that reads as "reconciled"); report_detail says
     * why (for a log, not for a client). */
    enum ledger_err report_err;
    char report_detail[RECON_ERROR_MESSAGE_SIZE];
};

/* Imports a file (read twice: digest, then a streamed parse: memory does
 * not grow with the file). */
enum recon_import_err recon_import_file(struct ledger *ledger, const char *path,
                                        const struct recon_import_options *options,
                                        struct recon_import_result *result,
                                        struct recon_import_error *error) RECON_MUST_CHECK;
/* Imports a file held in memory. */
enum recon_import_err recon_import_buffer(struct ledger *ledger, const char *data, size_t size,
                                          const struct recon_import_options *options,
                                          struct recon_import_result *result,
                                          struct recon_import_error *error) RECON_MUST_CHECK;
void recon_import_result_free(struct recon_import_result *result);
/* Appends one statement's summary to result->statements and adds it to the
 * total (opening of the first, closing of the last); false when out of
 * memory (result unchanged). */
bool recon_import_result_add(struct recon_import_result *result,
                             const struct recon_statement_summary *summary) RECON_MUST_CHECK;

/* "camt053" -> RECON_FORMAT_CAMT053 ...; 0 when unknown. */
enum recon_format recon_format_parse(const char *name);
const char *recon_format_name(enum recon_format format);

#endif

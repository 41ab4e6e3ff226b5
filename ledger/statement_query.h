/* Reading imported bank statements for the API: a statement's summary, its
 * lines page by page with what each was matched to, the reconciliation
 * exceptions queue, an earlier import of the same file, and the
 * idempotency record of a statement upload. Nothing here books; the import
 * itself and suspense assignment are in statements.h.
 *
 * Pages follow query.h: a cursor (0: the first page; else the last line id
 * delivered), a limit of 1..LEDGER_QUERY_PAGE_MAX, rows handed one by one
 * to a callback. The strings of a row point into the query's result and are
 * valid only during the callback. */
#ifndef LEDGER_STATEMENT_QUERY_H
#define LEDGER_STATEMENT_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger.h"
#include "statements.h"

#define LEDGER_FILE_STATEMENTS_MAX 10000 /* statements listed for one imported file */

/* A custody bank account by its id (LEDGER_ERR_UNKNOWN_ACCOUNT when no
 * custody account has that id). */
enum ledger_err ledger_custody_account_get(struct ledger *ledger, int64_t bank_account_id,
                                           struct ledger_custody_account *out) LEDGER_MUST_CHECK;

/* ---- statements ---- */

struct ledger_statement_view {
    int64_t id;
    int64_t bank_account_id;
    const char *account_no;
    const char *format; /* camt053 | mt940 | csv */
    uint8_t file_digest[LEDGER_HASH_SIZE];
    int file_index; /* 0-based statement of its file */
    const char *statement_ref;
    const char *sequence;
    const char *currency;
    int64_t opening_minor;
    int32_t opening_date_days; /* LEDGER_VALUE_DATE_NONE when the bank gave none */
    int64_t closing_minor;
    int32_t closing_date_days;
    /* Lines by status; booked counts lines that booked an entry (booked,
     * settled and returned). */
    int64_t lines, booked, matched, settled, returned, suspense, exceptions, duplicates;
    int64_t imported_at_us;
    const char *imported_by;
    /* The custody account's book balance at the closing date (entries
     * without a value date count by the day they were booked). */
    int64_t book_balance_minor;
};
typedef enum ledger_err (*ledger_statement_visit)(void *context,
                                                  const struct ledger_statement_view *statement);

/* One statement; LEDGER_ERR_UNKNOWN_ENTRY when there is none. */
enum ledger_err ledger_statement_get(struct ledger *ledger, int64_t statement_id,
                                     ledger_statement_visit visit, void *context) LEDGER_MUST_CHECK;

/* The statements the import that stored first_statement_id stored from its
 * file, in file order (at most LEDGER_FILE_STATEMENTS_MAX);
 * LEDGER_ERR_UNKNOWN_ENTRY when there is no such statement. */
enum ledger_err ledger_statement_file_get(struct ledger *ledger, int64_t first_statement_id,
                                          ledger_statement_visit visit,
                                          void *context) LEDGER_MUST_CHECK;

/* The first statement of the earliest import of a file with this digest
 * for the custody account; *first_statement_id is 0 when there was none. */
enum ledger_err ledger_statement_file_find(struct ledger *ledger, int64_t bank_account_id,
                                           const uint8_t file_digest[LEDGER_HASH_SIZE],
                                           int64_t *first_statement_id) LEDGER_MUST_CHECK;

/* ---- lines ---- */

struct ledger_statement_line_view {
    int64_t id;
    int64_t statement_id;
    int64_t bank_account_id;
    int line_index; /* 0-based line of its statement */
    int32_t value_date_days;
    int32_t booking_date_days; /* LEDGER_VALUE_DATE_NONE when the bank gave none */
    int64_t amount_minor;      /* credit positive (the bank's view) */
    const char *currency;
    bool reversal;
    const char *bank_ref, *end_to_end_id, *counterparty_name, *counterparty_account;
    const char *remittance, *return_reason, *payin_no;
    const char
        *status; /* booked | matched | settled | returned | suspense | exception | duplicate */
    const char *rule;
    const char *reason;
    const char *candidates; /* ambiguous lines: every candidate, named; "" otherwise */
    int64_t entry_seq;      /* the (first) entry booked or matched; 0: none */
    int64_t disbursement_id;
    int64_t duplicate_of;
    const char *case_no; /* the case the line's money went to or came from; "" when none */
    /* Every entry of the line (a batch debit settles several payouts), as
     * a JSON array [{"entry_seq", "disbursement_id"|null}] made by the
     * database. */
    const char *entries_json;
    int64_t assigned_seq; /* suspense lines: the assignment to a case; 0: none */
    int64_t assigned_at_us;
    const char *assigned_by;      /* "" when not assigned */
    const char *assigned_case_no; /* "" when not assigned */
};
typedef enum ledger_err (*ledger_statement_line_visit)(
    void *context, const struct ledger_statement_line_view *line);

/* One line; LEDGER_ERR_UNKNOWN_ENTRY when there is none. */
enum ledger_err ledger_statement_line_get(struct ledger *ledger, int64_t line_id,
                                          ledger_statement_line_visit visit,
                                          void *context) LEDGER_MUST_CHECK;

/* The lines of a statement in file order. */
enum ledger_err ledger_statement_lines(struct ledger *ledger, int64_t statement_id, int64_t cursor,
                                       int limit, int64_t *next_cursor,
                                       ledger_statement_line_visit visit,
                                       void *context) LEDGER_MUST_CHECK;

/* The exceptions queue, oldest first: lines in suspense not yet assigned
 * to a case, and exceptions (unmatched debits and credits, ambiguous
 * matches, amounts that do not fit), of one custody account (0: all). */
enum ledger_err ledger_reconciliation_exceptions(struct ledger *ledger, int64_t bank_account_id,
                                                 int64_t cursor, int limit, int64_t *next_cursor,
                                                 ledger_statement_line_visit visit,
                                                 void *context) LEDGER_MUST_CHECK;

/* ---- idempotency of an upload ---- */

/* What makes two uploads the same request. */
struct ledger_statement_upload {
    int64_t bank_account_id;
    const char *format;
    const char *mapping;  /* CSV mapping name, or NULL */
    const char *encoding; /* MT940 character set, or NULL */
    uint8_t file_digest[LEDGER_HASH_SIZE];
};

/* The first statement stored by the upload recorded under the key (0: the
 * key is new); LEDGER_ERR_IDEMPOTENCY_CONFLICT when the key answered
 * another request. */
enum ledger_err ledger_statement_upload_find(struct ledger *ledger, const char *owner,
                                             const char *idempotency_key,
                                             const struct ledger_statement_upload *upload,
                                             int64_t *first_statement_id) LEDGER_MUST_CHECK;
/* Records the key for the upload that stored first_statement_id;
 * LEDGER_ERR_RETRY when a concurrent request took the key first. */
enum ledger_err ledger_statement_upload_record(struct ledger *ledger, const char *owner,
                                               const char *idempotency_key,
                                               const struct ledger_statement_upload *upload,
                                               int64_t first_statement_id) LEDGER_MUST_CHECK;

#endif

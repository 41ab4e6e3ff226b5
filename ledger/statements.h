/* Bank statements in the ledger: what the reconciliation (reconcile/)
 * needs from the books, and nothing else — storage of imported statements
 * and their lines, the reads a matcher needs, booking the entries of a
 * statement in one transaction, assigning a suspense line to a case, and
 * the reconciliation report.
 *
 * An import is one transaction on the handle's own connection:
 *
 *   ledger_import_begin()            BEGIN, lock the chain head
 *   ledger_open_items_load() ...     per statement: what its lines may match
 *   ledger_statement_open()          its row; then per chunk of its lines:
 *     ledger_line_identities_find()  which lines are already imported
 *     ledger_statement_book()        the entries, all or none
 *     ledger_statement_lines_add()   its lines (sent; the next call waits)
 *   ledger_statement_close()         the statement's figures
 *   ledger_import_commit()           or ledger_import_rollback()
 *
 * Holding the chain head from the start serializes an import with every
 * booking: what the matcher reads cannot change under it, and two imports
 * of overlapping statements cannot both book a line.
 *
 * Amounts of statement lines are the bank's view: credit (money in)
 * positive. The journal's custody account is debit positive, so a +100
 * line is a +100 posting on it. */
#ifndef LEDGER_STATEMENTS_H
#define LEDGER_STATEMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

/* Limits of what one import or report reads into memory. */
#define LEDGER_OPEN_ITEMS_MAX 1000000 /* unreconciled entries on a custody account */
#define LEDGER_PAYOUTS_MAX 1000000    /* approved and recently paid payouts */
#define LEDGER_PAID_LOOKBACK_DAYS 180 /* paid payouts a return may still name */
#define LEDGER_REPORT_ITEMS_MAX 10000 /* items listed in a report (all are summed) */
#define LEDGER_IDENTITY_MAX 300       /* bytes of a line identity */
#define LEDGER_REASON_MAX 512         /* bytes of a line's reason / candidates */

struct ledger_custody_account {
    int64_t id;
    char account_no[LEDGER_BANK_ACCOUNT_MAX + 1];
    char currency[LEDGER_CURRENCY_SIZE];
    char status[16];
};
/* The custody bank account whose statement number is account_no
 * (LEDGER_ERR_UNKNOWN_ACCOUNT when none). */
enum ledger_err ledger_custody_account_find(struct ledger *ledger, const char *account_no,
                                            struct ledger_custody_account *out) LEDGER_MUST_CHECK;

/* ---- the import transaction ---- */

/* Checks the actor (clerk, bank or admin), begins the transaction and locks
 * the chain head. On failure nothing is open. */
enum ledger_err ledger_import_begin(struct ledger *ledger, const char *actor) LEDGER_MUST_CHECK;
enum ledger_err ledger_import_commit(struct ledger *ledger) LEDGER_MUST_CHECK;
void ledger_import_rollback(struct ledger *ledger);

/* For each identity, the id of the line of the custody account that has it
 * and is not itself a duplicate (0: new). Sees lines stored earlier in the
 * same transaction. */
enum ledger_err ledger_line_identities_find(struct ledger *ledger, int64_t bank_account_id,
                                            const char *const *identities, size_t count,
                                            int64_t *line_ids_out) LEDGER_MUST_CHECK;

/* An entry on the custody account that no statement line accounts for
 * yet: a receipt or settlement booked through the API, waiting for its
 * statement line. */
struct ledger_open_item {
    int64_t seq;
    char kind[LEDGER_KIND_MAX + 1];
    int64_t amount_minor;    /* its posting on the custody account (debit positive) */
    int32_t value_date_days; /* LEDGER_VALUE_DATE_NONE when the entry has none */
    char bank_ref[LEDGER_BANK_REF_MAX + 1];
    char payer[LEDGER_NAME_MAX + 1]; /* receipts: the payer named when booking */
    int64_t account_id;      /* the other account of the entry (case, suspense, in_transit) */
    int64_t disbursement_id; /* settlements: the payout */
};
struct ledger_open_items {
    struct ledger_open_item *items;
    size_t count;
};
/* Every open item of the custody account (value dates in
 * [from_days, to_days], or none). *out is new; free with
 * ledger_open_items_free. More than LEDGER_OPEN_ITEMS_MAX: LEDGER_ERR_OVERFLOW. */
enum ledger_err ledger_open_items_load(struct ledger *ledger, int64_t bank_account_id,
                                       int32_t from_days, int32_t to_days,
                                       struct ledger_open_items *out) LEDGER_MUST_CHECK;
void ledger_open_items_free(struct ledger_open_items *items);

struct ledger_payout {
    int64_t id;
    char status[16]; /* approved | paid */
    int64_t account_id;
    char case_no[LEDGER_CASE_NO_MAX + 1];
    char case_status[16];
    int64_t amount_minor;
    char payee_name[LEDGER_NAME_MAX + 1];
    char payee_account[LEDGER_BANK_ACCOUNT_MAX + 1];
    int64_t settle_seq;       /* paid: the settlement entry */
    int64_t parts_paid_minor; /* approved: paid so far by statement lines that paid part of it */
};
struct ledger_payouts {
    struct ledger_payout *payouts;
    size_t count;
};
/* Payouts of the currency that are approved (sent, not yet seen paid), or
 * paid in the last LEDGER_PAID_LOOKBACK_DAYS, in id order. */
enum ledger_err ledger_payouts_load(struct ledger *ledger, const char *currency,
                                    struct ledger_payouts *out) LEDGER_MUST_CHECK;
void ledger_payouts_free(struct ledger_payouts *payouts);

struct ledger_payin_case {
    int64_t account_id; /* 0: no case has this pay-in number */
    char case_no[LEDGER_CASE_NO_MAX + 1];
    char status[16];
    char currency[LEDGER_CURRENCY_SIZE];
};
/* The case of each pay-in number (valid numbers only; others find none). */
enum ledger_err ledger_payin_cases_find(struct ledger *ledger, const char *const *payin_nos,
                                        size_t count,
                                        struct ledger_payin_case *cases_out) LEDGER_MUST_CHECK;

/* ---- booking a statement ---- */

enum ledger_statement_booking_kind {
    LEDGER_STATEMENT_RECEIPT = 1, /* bank -> case */
    LEDGER_STATEMENT_SUSPENSE,    /* bank -> suspense */
    LEDGER_STATEMENT_SETTLE,      /* in_transit -> bank; payout approved -> paid */
    LEDGER_STATEMENT_RETURN,      /* bank -> case; payout paid -> returned */
    LEDGER_STATEMENT_SETTLE_PART, /* in_transit -> bank; part of a payout, which stays approved */
};

struct ledger_statement_booking {
    enum ledger_statement_booking_kind kind;
    int64_t account_id;      /* receipt, return: the case account */
    int64_t disbursement_id; /* settle, return */
    int64_t amount_minor;    /* > 0 */
    const char *bank_ref;    /* the line's reference (may be "") */
    const char *payer;       /* may be NULL */
    int32_t value_date_days;
    const char *memo;            /* the rule and reason (cut to LEDGER_MEMO_MAX) */
    const char *idempotency_key; /* unique per booking, e.g. from the line identity */
    int64_t seq;                 /* out: the entry */
    int16_t posting_idx;         /* out: its posting in a collective entry, else 0 */
};

/* Books every booking on the custody account inside the open import
 * transaction, in order: all, or an error with *failed_index naming the
 * first refused (the caller rolls back). Receipts to cases that follow each
 * other with one value date are booked as collective entries of up to
 * LEDGER_POSTINGS_MAX - 1 receipts (one bank debit for their sum, one case
 * credit each; see sql/005); every other booking is an entry of its own.
 * Each booking's seq and posting_idx (its case posting in a collective
 * entry, else 0) are set. */
enum ledger_err ledger_statement_book(struct ledger *ledger, const char *actor,
                                      int64_t bank_account_id, const char *currency,
                                      struct ledger_statement_booking *bookings, size_t count,
                                      size_t *failed_index) LEDGER_MUST_CHECK;

/* ---- storing a statement ---- */

struct ledger_statement_record {
    int64_t bank_account_id;
    const char *format; /* camt053 | mt940 | csv */
    uint8_t file_digest[LEDGER_HASH_SIZE];
    int file_index;
    const char *statement_ref;
    const char *sequence;
    const char *currency;
    int64_t opening_minor;
    int32_t opening_date_days;
    int64_t closing_minor;
    int32_t closing_date_days;
    int line_count, booked_count, matched_count, suspense_count, exception_count, duplicate_count;
    int settled_count, returned_count; /* of booked_count */
    const char *imported_by;
};

struct ledger_statement_line_record {
    const char *identity;
    int32_t value_date_days;
    int32_t booking_date_days;
    int64_t amount_minor; /* credit positive */
    const char *currency;
    bool reversal;
    const char *bank_ref, *end_to_end_id, *counterparty_name, *counterparty_account;
    const char *remittance, *return_reason, *payin_no;
    const char
        *status; /* booked | matched | settled | returned | suspense | exception | duplicate */
    const char *rule;
    const char *reason;
    const char *candidates;
    int64_t duplicate_of;
    int64_t disbursement_id;
    int16_t posting_idx;  /* its posting in a collective entry (entry_seqs[0]), else 0 */
    size_t entries_count; /* entries booked or matched for the line */
    const int64_t *entry_seqs;
    const int64_t *entry_disbursement_ids; /* per entry, 0: none */
};

/* Inside the open import transaction: inserts the statement (its counts
 * zero, its closing balance as given so far) and sets *statement_id. */
enum ledger_err ledger_statement_open(struct ledger *ledger,
                                      const struct ledger_statement_record *statement,
                                      int64_t *statement_id) LEDGER_MUST_CHECK;
/* Inserts lines of the statement; line_index of lines[i] is first_index + i.
 * A duplicate may name a line stored before, in this call or earlier.
 * The last INSERT is sent without waiting for it, so that the database
 * stores these lines while the caller reads the next ones: its failure is
 * the answer of the handle's next call (or ledger_statement_lines_wait). */
enum ledger_err ledger_statement_lines_add(struct ledger *ledger, int64_t statement_id,
                                           int64_t bank_account_id, size_t first_index,
                                           const struct ledger_statement_line_record *lines,
                                           size_t count) LEDGER_MUST_CHECK;
/* Waits until the lines sent last are stored; their error, if any. */
enum ledger_err ledger_statement_lines_wait(struct ledger *ledger) LEDGER_MUST_CHECK;
/* Writes the statement's closing balance and counts once its last line is in. */
enum ledger_err
ledger_statement_close(struct ledger *ledger, int64_t statement_id,
                       const struct ledger_statement_record *statement) LEDGER_MUST_CHECK;

/* ---- after the import ---- */

/* Assigns a suspense line to a case: books suspense -> case once (as
 * ledger_assign_suspense) and records it on the line, in one transaction
 * of the handle's own connection (holding the chain head): both or
 * neither. A line that is not in suspense, or already assigned:
 * LEDGER_ERR_BAD_STATE; no such line: LEDGER_ERR_UNKNOWN_ENTRY. */
enum ledger_err ledger_statement_line_assign(struct ledger *ledger, const char *actor,
                                             int64_t line_id, const char *case_no,
                                             const char *idempotency_key,
                                             struct ledger_booking *booking) LEDGER_MUST_CHECK;

/* One reason why the book balance differs from the bank's. */
enum ledger_report_item_kind {
    LEDGER_REPORT_UNBOOKED_LINE = 1, /* on the statement, not in the books (exceptions) */
    LEDGER_REPORT_BOOK_ONLY_ENTRY,   /* in the books, on no statement line (yet) */
    LEDGER_REPORT_OPENING_BALANCE,   /* the first statement's opening balance */
};
struct ledger_report_item {
    enum ledger_report_item_kind kind;
    int64_t id;           /* line id, entry seq, or statement id */
    int64_t amount_minor; /* its share of the difference (closing - book) */
    int32_t date_days;
    char status[16]; /* line status, or entry kind */
    char reason[LEDGER_REASON_MAX + 1];
};
struct ledger_report {
    int64_t bank_account_id;
    char currency[LEDGER_CURRENCY_SIZE];
    int32_t date_days;
    int64_t book_balance_minor; /* custody account postings dated up to date_days */
    bool has_statement;
    int64_t statement_id; /* the last statement closing on or before date_days */
    int64_t closing_minor;
    int32_t closing_date_days;
    int64_t difference_minor;  /* closing - book_balance */
    int64_t explained_minor;   /* sum of every item's amount */
    int64_t unexplained_minor; /* difference - explained: 0 when the books reconcile */
    struct ledger_report_item *items;
    size_t items_count;
    size_t items_total; /* items found (only LEDGER_REPORT_ITEMS_MAX are listed) */
};
/* The reconciliation of a custody account at a date (entries without a
 * value date count by the day they were booked). *report is new; free with
 * ledger_report_free. */
enum ledger_err ledger_reconciliation_report(struct ledger *ledger, int64_t bank_account_id,
                                             int32_t date_days,
                                             struct ledger_report *report) LEDGER_MUST_CHECK;
void ledger_report_free(struct ledger_report *report);

#endif

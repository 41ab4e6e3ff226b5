/* Matching statement lines against the books: explainable rules, applied
 * in order; the first that decides a line gives it a status, the rule's
 * name and a reason a person can read. Candidates that fit equally are
 * never guessed between: the line goes to the exceptions with the
 * candidates named.
 *
 * Credits (money in), in order:
 *   duplicate_line        the line was imported before (same identity)
 *   receipt_bank_ref      a receipt booked through the API with the same
 *                         bank reference and amount: matched, not booked
 *   receipt_amount_payer  one receipt booked through the API with the same
 *                         amount and payer within RECON_MATCH_DATE_WINDOW_DAYS
 *                         (on the pay-in number's case when the line has
 *                         one): matched; two or more: exception
 *   payin_no              a valid pay-in number in the remittance text,
 *                         structured reference, end-to-end id or the owner
 *                         reference: a receipt on that case (suspense when no
 *                         open case has it)
 *   payin_check_digit     only a pay-in number with a bad check digit: to
 *                         suspense, never to a case
 *   batch_credit          a batch booking of several payments: suspense
 *   unidentified          anything else: suspense
 * Returns (a credit with the reversal indicator or a return reason):
 *   return_reference      a payout named by its reference (below) that was
 *                         paid: back on its case
 *   return_amount_payee   one paid payout with the same amount and payee
 *                         account: back on its case; two or more: exception
 *   return_unmatched      suspense
 * Debits (money out):
 *   duplicate_line
 *   settle_bank_ref       a settlement booked through the API with the same
 *                         bank reference and amount: matched
 *   disbursement_reference  payouts named by reference: one approved payout
 *                         of that amount is settled; several whose amounts
 *                         add up to the line are settled together (one bank
 *                         line for a batch); one already settled through the
 *                         API is matched
 *   disbursement_amount_payee  one approved payout with the amount and the
 *                         payee account: settled; two or more: exception
 *   reversed_credit       the bank reversed a credit: exception (the receipt
 *                         is reversed through its own workflow)
 *   unmatched_debit       exception
 *
 * A payout's reference is "CLD" followed by its id in decimal ("CLD42"),
 * as the payment file sends it as end-to-end id; it is found in the
 * end-to-end id, the owner reference and the remittance text. */
#ifndef RECON_MATCH_H
#define RECON_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger.h"
#include "statement.h"
#include "statements.h"

#define RECON_MATCH_DATE_WINDOW_DAYS 3 /* receipts: value dates this far apart still match */
#define RECON_BATCH_REFERENCES_MAX 64  /* payouts one bank line may settle */
#define RECON_REASON_SIZE 256
#define RECON_IDENTITY_SIZE 160
#define RECON_KEY_SIZE 100

enum recon_line_status {
    RECON_LINE_BOOKED = 1, /* a receipt booked on a case */
    RECON_LINE_MATCHED,    /* matched to an entry already in the books */
    RECON_LINE_SETTLED,    /* settled one or more payouts */
    RECON_LINE_RETURNED,   /* a returned payout, back on its case */
    RECON_LINE_SUSPENSE,   /* booked to suspense: waits for assignment */
    RECON_LINE_EXCEPTION,  /* not booked: waits for staff */
    RECON_LINE_DUPLICATE,  /* imported before: not booked again */
};
/* "booked", "matched", ... as stored. */
const char *recon_line_status_name(enum recon_line_status status);

/* What the matcher decided for one line. */
struct recon_decision {
    enum recon_line_status status;
    const char *rule; /* static */
    char reason[RECON_REASON_SIZE];
    char candidates[RECON_REASON_SIZE];
    char payin_no[LEDGER_PAYIN_DIGITS + 1]; /* the pay-in number found, valid or not */
    char identity[RECON_IDENTITY_SIZE];
    int64_t duplicate_of;    /* line id, 0 when a line of this statement (see duplicate_index) */
    int64_t disbursement_id; /* the (first) payout */
    int64_t matched_seq;     /* matched: the entry already booked */
    size_t bookings_first;   /* new entries: index in the bookings */
    size_t bookings_count;
};

/* One entry to book for a line, with the memory its pointers use. */
struct recon_booking {
    struct ledger_statement_booking booking;
    size_t line_index;
    char key[RECON_KEY_SIZE];
};

/* What the rules read: loaded once per statement (open items) or per
 * import (payouts); the matcher marks what it consumes. The rules find their
 * candidates in sorted tables (by bank reference, by amount), not by a scan
 * per line. */
struct recon_match_index;

struct recon_match_context {
    int64_t bank_account_id;
    const char *currency;
    struct ledger_open_items items;
    bool *item_used;
    struct ledger_payouts payouts;   /* statuses updated as lines settle and return them */
    struct recon_match_index *index; /* look-up tables, built on first use */
};

/* Drops the look-up tables (after items or payouts were reloaded or freed);
 * the next line builds them again. */
void recon_match_index_free(struct recon_match_context *context);

/* The identity of a line: "ref:" + the bank reference (+ "/split" for a
 * split camt entry), or "fp:" + the parser's fingerprint when the bank gives
 * no reference; a long reference is replaced by its hash ("refh:"). */
void recon_line_identity(char out[RECON_IDENTITY_SIZE], const struct recon_line *line);

/* Payout ids named "CLD<id>" in text; returns how many (at most max). */
size_t recon_disbursement_refs(int64_t *ids, size_t max, const char *text);

/* The pay-in number of a line: *found_valid when a valid one is in any of
 * its fields (first valid wins); else out holds a 16-digit number with a
 * bad check digit, or "". */
void recon_line_payin(char out[LEDGER_PAYIN_DIGITS + 1], bool *found_valid,
                      const struct recon_line *line);

/* Decides one line that is not a duplicate. payin_case is the case of the
 * line's valid pay-in number (account_id 0: none). Appends the entries to
 * book to bookings (capacity at least *bookings_count +
 * RECON_BATCH_REFERENCES_MAX). */
void recon_match_line(struct recon_match_context *context, const struct recon_line *line,
                      size_t line_index, const struct ledger_payin_case *payin_case,
                      struct recon_decision *decision, struct recon_booking *bookings,
                      size_t *bookings_count);

#endif

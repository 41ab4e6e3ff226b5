/* Reading the ledger: the lists and lookups the API shows (a case's
 * postings, disbursements, custody bank accounts, one account or
 * disbursement) and what the applicant status page shows of a case.
 * Nothing here writes.
 *
 * Lists are pages. A page is asked for with a cursor (0: the first page)
 * and a limit (1..LEDGER_QUERY_PAGE_MAX); it is delivered row by row to a
 * callback, which gets a pointer to a row valid only during the call (copy
 * what you keep). A callback that returns anything but LEDGER_OK stops the
 * page, and that error is returned. *next_cursor is 0 when the page was
 * the last one, else the cursor to ask for the next page with. Cursors are
 * positions (the last seq or id delivered); to clients they are opaque. */
#ifndef LEDGER_QUERY_H
#define LEDGER_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

#define LEDGER_QUERY_PAGE_MAX API_LIST_LIMIT_MAX /* rows of one page */
#define LEDGER_STATUS_TEXT_SIZE 16               /* "requested", "frozen", ... + NUL */
#define LEDGER_ACCOUNT_KIND_SIZE 16              /* "case", "in_transit", ... + NUL */

/* ISO 8601 UTC text of a time in microseconds since 1970-01-01:
 * "2026-11-20T08:15:30.123456Z". */
#define LEDGER_TIME_TEXT_SIZE 32
const char *ledger_time_text(char buffer[LEDGER_TIME_TEXT_SIZE], int64_t time_us);

/* ---- accounts ---- */

struct ledger_account_summary {
    int64_t id;
    char kind[LEDGER_ACCOUNT_KIND_SIZE];
    char status[LEDGER_STATUS_TEXT_SIZE];
    char currency[LEDGER_CURRENCY_SIZE];
    char case_no[LEDGER_CASE_NO_MAX + 1]; /* "" unless kind is "case" */
};
/* One account by id; LEDGER_ERR_UNKNOWN_ACCOUNT when there is none. */
enum ledger_err ledger_account_get(struct ledger *ledger, int64_t account_id,
                                   struct ledger_account_summary *account) LEDGER_MUST_CHECK;

/* ---- a case's postings ---- */

struct ledger_case_entry {
    int64_t seq; /* the entry (its id) */
    char kind[LEDGER_KIND_MAX + 1];
    int64_t amount_minor; /* from the case's point of view: money in positive */
    char currency[LEDGER_CURRENCY_SIZE];
    int64_t created_at_us;
    uint8_t hash[LEDGER_HASH_SIZE];
    int64_t reverses_seq;    /* the entry's link (reversal: what it reverses;
                                assign: the suspense receipt); 0: none */
    int64_t reversed_by_seq; /* the reversal of this entry; 0: none */
    int32_t value_date_days; /* LEDGER_VALUE_DATE_NONE: none */
    char actor[LEDGER_ACTOR_MAX + 1];
    char memo[LEDGER_MEMO_MAX + 1];
    char bank_ref[LEDGER_BANK_REF_MAX + 1];
    /* The other side: the first posting of the entry on another account. */
    int64_t counterpart_id; /* 0: none */
    char counterpart_kind[LEDGER_ACCOUNT_KIND_SIZE];
    char counterpart_case_no[LEDGER_CASE_NO_MAX + 1]; /* "" unless a case */
};
typedef enum ledger_err (*ledger_case_entry_visit)(void *context,
                                                   const struct ledger_case_entry *entry);
/* The postings of a case (one row per entry that touches it), newest
 * first. case_no is matched like ledger_case_info matches it. */
enum ledger_err ledger_case_entries(struct ledger *ledger, const char *case_no, int64_t cursor,
                                    int limit, int64_t *next_cursor, ledger_case_entry_visit visit,
                                    void *context) LEDGER_MUST_CHECK;

/* ---- disbursements (payouts and transfers) ---- */

struct ledger_disbursement_item {
    int64_t id;
    char kind[LEDGER_ACCOUNT_KIND_SIZE]; /* "payout" or "transfer" */
    char status[LEDGER_STATUS_TEXT_SIZE];
    char case_no[LEDGER_CASE_NO_MAX + 1];
    char to_case_no[LEDGER_CASE_NO_MAX + 1]; /* transfers; "" for payouts */
    int64_t amount_minor;
    char currency[LEDGER_CURRENCY_SIZE];
    char payee_name[LEDGER_NAME_MAX + 1]; /* payouts; "" for transfers */
    char payee_account[LEDGER_BANK_ACCOUNT_MAX + 1];
    char payee_bank[LEDGER_NAME_MAX + 1];
    char purpose[LEDGER_MEMO_MAX + 1]; /* a transfer's reason */
    char requested_by[LEDGER_NAME_MAX + 1];
    int64_t requested_at_us;
    char decided_by[LEDGER_NAME_MAX + 1]; /* "" until approved or rejected */
    int64_t decided_at_us;                /* 0: not yet */
    char reject_reason[LEDGER_MEMO_MAX + 1];
    char bank_ref[LEDGER_BANK_REF_MAX + 1]; /* of the settlement or return */
    int64_t paid_at_us;                     /* 0: not paid */
    int64_t returned_at_us;                 /* 0: not returned */
    int64_t approve_seq;                    /* entries; 0: none */
    int64_t settle_seq;
    int64_t return_seq;
};

struct ledger_disbursement_filter {
    const char *status;  /* NULL: any; else one of requested, approved, rejected, paid, returned */
    const char *kind;    /* NULL: any; else payout or transfer */
    const char *case_no; /* NULL: any; else the case it leaves (unknown: LEDGER_ERR_UNKNOWN_CASE) */
};
typedef enum ledger_err (*ledger_disbursement_visit)(void *context,
                                                     const struct ledger_disbursement_item *item);
/* Disbursements matching filter (NULL: all), newest first. A status or
 * kind that is not one of the above: LEDGER_ERR_INVALID_ARGUMENT. */
enum ledger_err ledger_disbursements_list(struct ledger *ledger,
                                          const struct ledger_disbursement_filter *filter,
                                          int64_t cursor, int limit, int64_t *next_cursor,
                                          ledger_disbursement_visit visit,
                                          void *context) LEDGER_MUST_CHECK;
/* One disbursement; LEDGER_ERR_UNKNOWN_DISBURSEMENT when there is none. */
enum ledger_err ledger_disbursement_get(struct ledger *ledger, int64_t id,
                                        struct ledger_disbursement_item *item) LEDGER_MUST_CHECK;

/* ---- custody bank accounts ---- */

struct ledger_bank_account_item {
    int64_t id;
    char account_no[LEDGER_BANK_ACCOUNT_MAX + 1];
    char bank_name[LEDGER_NAME_MAX + 1];
    char currency[LEDGER_CURRENCY_SIZE];
    char status[LEDGER_STATUS_TEXT_SIZE];
    int64_t balance_minor; /* book balance: money the books say is at the bank */
};
typedef enum ledger_err (*ledger_bank_account_visit)(void *context,
                                                     const struct ledger_bank_account_item *item);
/* Custody bank accounts, oldest first (the first of a currency is its
 * default). */
enum ledger_err ledger_bank_accounts_list(struct ledger *ledger, int64_t cursor, int limit,
                                          int64_t *next_cursor, ledger_bank_account_visit visit,
                                          void *context) LEDGER_MUST_CHECK;
/* One by its number as the bank prints it; LEDGER_ERR_UNKNOWN_ACCOUNT when
 * there is none. */
enum ledger_err ledger_bank_account_find(struct ledger *ledger, const char *account_no,
                                         struct ledger_bank_account_item *item) LEDGER_MUST_CHECK;

/* ---- what an applicant sees (POST /v1/status) ---- */

struct ledger_status_receipt {
    int64_t amount_minor;
    int32_t value_date_days; /* the bank's value date (an assignment: that of
                                the suspense receipt); LEDGER_VALUE_DATE_NONE
                                when the booking had none */
    int64_t booked_at_us;
};

struct ledger_status_payout {
    int64_t amount_minor;
    char status[LEDGER_STATUS_TEXT_SIZE]; /* requested, approved, rejected, paid, returned */
    int64_t requested_at_us;
    int64_t approved_at_us; /* 0: not approved (yet, or rejected) */
    int64_t paid_at_us;     /* 0: not paid */
};

/* The case as its applicant sees it. */
struct ledger_status_case {
    char case_no[LEDGER_CASE_NO_MAX + 1]; /* as stored, not as typed */
    char status[LEDGER_STATUS_TEXT_SIZE]; /* open, frozen, closed */
    char currency[LEDGER_CURRENCY_SIZE];
    int64_t received_total;  /* receipts and assignments, net of their reversals */
    int64_t disbursed_total; /* payouts, net of returns */
    int64_t held;            /* money on the case account */
};

/* The caller's arrays and, filled in, how much of them was used. */
struct ledger_status_lists {
    struct ledger_status_receipt *receipts; /* in: room for receipts_max */
    size_t receipts_max;
    struct ledger_status_payout *payouts; /* in: room for payouts_max */
    size_t payouts_max;
    size_t receipts_count; /* out */
    size_t payouts_count;
    bool receipts_more; /* out: the case has more than fit (the newest are given) */
    bool payouts_more;
};

/* What the applicant who gives access_code sees of case_no (normalized
 * like ledger_case_info), in one round trip (cl_case_status): the case, the
 * money received (receipts and assignments from suspense, without those
 * reversed) and its payouts (kind payout, every status; transfers are not
 * listed), each newest first and at most *_max (each
 * 0..LEDGER_QUERY_PAGE_MAX, else LEDGER_ERR_INVALID_ARGUMENT). An unknown
 * case, a wrong code and a malformed number or code are one answer,
 * LEDGER_ERR_UNKNOWN_CASE, after the same work (a keyed hash and one
 * statement); a database that does not answer is LEDGER_ERR_DB. */
enum ledger_err ledger_status_lookup(struct ledger *ledger, const char *case_no,
                                     const char *access_code,
                                     struct ledger_status_case *status_case,
                                     struct ledger_status_lists *lists) LEDGER_MUST_CHECK;

#endif

/* The ledger's operations: one account per case, signed chained entries.
 *
 * A `struct ledger` is one database connection plus the signing key; it is
 * used by one thread at a time. Bookings (entries) are sealed against the
 * locked chain head and booked by cl_book in one transaction. With a
 * committer attached (ledger_committer_*), bookings from many handles are
 * batched into shared transactions (group commit) by one thread.
 *
 * Every write takes an idempotency key (1..128 printable ASCII): the same
 * key with the same request returns the first result (`replayed` set); the
 * same key with a different request fails with
 * LEDGER_ERR_IDEMPOTENCY_CONFLICT. A refused request records nothing.
 *
 * Sign convention: debit positive, credit negative. A case account is a
 * liability: the money it holds is `held = -balance`, never below zero. */
#ifndef LEDGER_LEDGER_H
#define LEDGER_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain.h"
#include "err.h"
#include "limits.h"

struct ledger;
struct ledger_committer;

struct ledger_config {
    const char *dsn;             /* libpq conninfo of the application role */
    const char *key_file;        /* Ed25519 secret key; NULL: no booking (read-only) */
    const char *access_key_file; /* 32-byte key for access-code hashes; NULL: none */
    /* How long a statement may wait for a lock (the chain head that a
     * statement import holds to its end, say) before it fails with
     * LEDGER_ERR_BUSY and books nothing; 0: as long as it takes. */
    unsigned lock_wait_ms;
    /* The largest amount (minor units) of one receipt, payout, transfer or
     * statement line: LEDGER_ERR_AMOUNT_TOO_LARGE past it; 0:
     * LEDGER_AMOUNT_MAX_DEFAULT. At most LEDGER_AMOUNT_MAX_LIMIT. */
    int64_t amount_max_minor;
};

/* Opens a connection and loads the keys; registers the signing key's public
 * part in signing_keys. *out is a new handle, freed by ledger_close. On
 * failure, detail (may be NULL) receives why. */
enum ledger_err ledger_open(struct ledger **out, const struct ledger_config *config, char *detail,
                            size_t detail_size) LEDGER_MUST_CHECK;
void ledger_close(struct ledger *ledger);
/* The largest amount of one entry or statement line for this handle. */
int64_t ledger_amount_max(const struct ledger *ledger);
/* The last error's detail (never SQL text meant for clients); never NULL. */
const char *ledger_last_detail(const struct ledger *ledger);
/* Forgets the last error's detail (a pooled handle starts each request so). */
void ledger_clear_detail(struct ledger *ledger);

/* Group commit: one thread with its own connection books the entries that
 * attached handles submit, many per transaction. On failure, detail (may be
 * NULL) receives why (the database, the signing key, the access key). */
enum ledger_err ledger_committer_start(struct ledger_committer **out,
                                       const struct ledger_config *config, char *detail,
                                       size_t detail_size) LEDGER_MUST_CHECK;
/* Finishes the queued work, stops the thread and frees the committer. */
void ledger_committer_stop(struct ledger_committer *committer);
struct ledger_committer_stats {
    int64_t batches;    /* batches taken from the queue */
    int64_t requests;   /* booking requests answered */
    int64_t busy_us;    /* time spent on batches */
    int64_t book_us;    /* of which in the cl_book_batch + COMMIT round trips */
    int64_t reconnects; /* its lost connection opened again */
};
void ledger_committer_stats(struct ledger_committer *committer,
                            struct ledger_committer_stats *stats);

/* Routes the handle's bookings through the committer (NULL: book inline). */
void ledger_attach_committer(struct ledger *ledger, struct ledger_committer *committer);

/* Applies sql/NNN_*.sql files not applied yet, in order, each in its own
 * transaction, under an advisory lock; refuses when an applied file has
 * changed (migrations are never edited after they land). Prints nothing;
 * *applied_count tells how many were applied. Uses its own connection. */
enum ledger_err ledger_migrate(const char *dsn, const char *sql_dir, int *applied_count,
                               char *detail, size_t detail_size) LEDGER_MUST_CHECK;

/* Days since 1970-01-01 <-> "YYYY-MM-DD" (years 1900..9999, real dates
 * only: "2024-02-30" is refused). */
#define LEDGER_DATE_TEXT_SIZE 11
const char *ledger_date_text(char buffer[LEDGER_DATE_TEXT_SIZE], int32_t days);
enum ledger_err ledger_date_parse(int32_t *days, const char *text) LEDGER_MUST_CHECK;

/* ---- set-up and users ---- */

enum ledger_role {
    LEDGER_ROLE_CLERK = 1 << 0,
    LEDGER_ROLE_APPROVER = 1 << 1,
    LEDGER_ROLE_AUDITOR = 1 << 2,
    LEDGER_ROLE_ADMIN = 1 << 3,
    LEDGER_ROLE_BANK = 1 << 4,
};
/* "clerk" -> LEDGER_ROLE_CLERK; 0 when unknown. */
unsigned ledger_role_parse(const char *name);
const char *ledger_role_name(unsigned role);

/* Creates a user and a bearer token (printed once, stored as BLAKE2b-256).
 * token_out receives 64 hex chars + NUL. */
#define LEDGER_TOKEN_SIZE 65
enum ledger_err ledger_user_add(struct ledger *ledger, const char *name, unsigned role,
                                char token_out[LEDGER_TOKEN_SIZE]) LEDGER_MUST_CHECK;
/* Finds the enabled user whose token this is (constant-time compare of the
 * hash); name_out receives the name. LEDGER_ERR_UNKNOWN_USER otherwise. */
enum ledger_err ledger_user_by_token(struct ledger *ledger, const char *token,
                                     char name_out[LEDGER_NAME_MAX + 1],
                                     unsigned *role_out) LEDGER_MUST_CHECK;

/* Creates the custody bank account (if absent) and the system accounts of
 * its currency. */
enum ledger_err ledger_setup_bank_account(struct ledger *ledger, const char *account_no,
                                          const char *bank_name, const char *currency,
                                          int64_t *account_id_out) LEDGER_MUST_CHECK;
/* The same under an idempotency key (POST /v1/bank-accounts): the key's
 * first request again answers its account; the key with another number,
 * name or currency: LEDGER_ERR_IDEMPOTENCY_CONFLICT, and nothing made. */
enum ledger_err ledger_bank_account_create(struct ledger *ledger, const char *actor,
                                           const char *account_no, const char *bank_name,
                                           const char *currency, const char *idempotency_key,
                                           int64_t *account_id_out) LEDGER_MUST_CHECK;

/* ---- cases ---- */

#define LEDGER_APPLICANTS_MAX 64
struct ledger_applicant {
    const char *name;
    const char *id_no; /* may be NULL */
    const char *phone; /* may be NULL */
};

struct ledger_case_request {
    const char *case_no;
    const char *court;
    const char *title;    /* may be NULL */
    const char *currency; /* NULL: CNY */
    size_t applicants_count;
    const struct ledger_applicant *applicants;
};

#define LEDGER_ACCESS_CODE_TEXT_SIZE 24 /* "XXXX-XXXX-XXXX-XXXX" + NUL */
struct ledger_case_result {
    int64_t account_id;
    char payin_no[LEDGER_PAYIN_DIGITS + 1];
    /* Shown once; empty on a replay (only its hash is stored). */
    char access_code[LEDGER_ACCESS_CODE_TEXT_SIZE];
    bool replayed;
};

enum ledger_err ledger_case_open(struct ledger *ledger, const char *actor,
                                 const struct ledger_case_request *request,
                                 const char *idempotency_key,
                                 struct ledger_case_result *result) LEDGER_MUST_CHECK;

enum ledger_case_action { LEDGER_CASE_FREEZE, LEDGER_CASE_UNFREEZE, LEDGER_CASE_CLOSE };
enum ledger_err ledger_case_set_status(struct ledger *ledger, const char *actor,
                                       const char *case_no, enum ledger_case_action action,
                                       const char *idempotency_key) LEDGER_MUST_CHECK;

struct ledger_case_info {
    int64_t account_id;
    char case_no[LEDGER_CASE_NO_MAX + 1];
    char payin_no[LEDGER_PAYIN_DIGITS + 1];
    char status[16];
    char currency[LEDGER_CURRENCY_SIZE];
    int64_t held;            /* money on the case account */
    int64_t pending_out;     /* requested payouts and transfers not yet decided */
    int64_t available;       /* held - pending_out */
    int64_t received_total;  /* receipts and assignments, net of their reversals */
    int64_t disbursed_total; /* payouts approved, net of returns */
};
/* case_no is matched in its normalized form (full-width and ASCII forms,
 * spaces, bracket styles are the same case). */
enum ledger_err ledger_case_info(struct ledger *ledger, const char *case_no,
                                 struct ledger_case_info *info) LEDGER_MUST_CHECK;
/* Same, by pay-in number (check digits verified first). */
enum ledger_err ledger_case_info_by_payin(struct ledger *ledger, const char *payin_no,
                                          struct ledger_case_info *info) LEDGER_MUST_CHECK;
/* True when access_code (any grouping/case) opens case_no; compares keyed
 * hashes in constant time. Unknown case and wrong code both give false. */
bool ledger_case_access_check(struct ledger *ledger, const char *case_no, const char *access_code);

/* Normalizes a case number for lookup into out (NUL-terminated). */
enum ledger_err ledger_case_no_normalize(char *out, size_t size,
                                         const char *case_no) LEDGER_MUST_CHECK;

/* ---- bookings ---- */

struct ledger_booking {
    int64_t seq; /* the entry (its id) */
    uint8_t hash[LEDGER_HASH_SIZE];
    int64_t account_id; /* the case (or suspense) account credited/debited */
    int64_t object_id;  /* disbursement id where there is one */
    int64_t amount_minor;
    bool replayed;
    /* Filled by ledger_receipt (else empty): the account credited, so that
     * the caller need not look it up. */
    char currency[LEDGER_CURRENCY_SIZE];
    char case_no[LEDGER_CASE_NO_MAX + 1]; /* as stored; "": to suspense */
};

struct ledger_receipt_request {
    const char *payin_no; /* one of payin_no / case_no; neither: to suspense */
    const char *case_no;
    int64_t amount_minor; /* > 0 */
    const char *currency; /* NULL: the account's currency */
    const char *payer;    /* may be NULL */
    const char *bank_ref; /* the bank's reference of the credit */
    int32_t value_date_days;
    int64_t bank_account_id; /* 0: the first custody account of the currency */
};
enum ledger_err ledger_receipt(struct ledger *ledger, const char *actor,
                               const struct ledger_receipt_request *request,
                               const char *idempotency_key,
                               struct ledger_booking *booking) LEDGER_MUST_CHECK;

/* Books a suspense receipt (entry suspense_seq) suspense -> case, once. */
enum ledger_err ledger_assign_suspense(struct ledger *ledger, const char *actor,
                                       int64_t suspense_seq, const char *case_no,
                                       const char *idempotency_key,
                                       struct ledger_booking *booking) LEDGER_MUST_CHECK;

struct ledger_disbursement_request {
    const char *case_no;
    int64_t amount_minor;
    const char *payee_name;
    const char *payee_account;
    const char *payee_bank; /* may be NULL */
    const char *purpose;    /* may be NULL */
};
/* Records a payout request (no entry yet); refuses more than available. */
enum ledger_err ledger_disbursement_request(struct ledger *ledger, const char *actor,
                                            const struct ledger_disbursement_request *request,
                                            const char *idempotency_key, int64_t *disbursement_id,
                                            bool *replayed) LEDGER_MUST_CHECK;
/* Records a case-to-case transfer request; approved like a payout. */
enum ledger_err ledger_transfer_request(struct ledger *ledger, const char *actor,
                                        const char *from_case_no, const char *to_case_no,
                                        int64_t amount_minor, const char *reason,
                                        const char *idempotency_key, int64_t *disbursement_id,
                                        bool *replayed) LEDGER_MUST_CHECK;
/* Four eyes: the actor must not be the requester. Books case -> in_transit
 * (payout) or case -> case (transfer). */
enum ledger_err ledger_disbursement_approve(struct ledger *ledger, const char *actor,
                                            int64_t disbursement_id, const char *idempotency_key,
                                            struct ledger_booking *booking) LEDGER_MUST_CHECK;
enum ledger_err ledger_disbursement_reject(struct ledger *ledger, const char *actor,
                                           int64_t disbursement_id, const char *reason,
                                           const char *idempotency_key,
                                           bool *replayed) LEDGER_MUST_CHECK;
/* in_transit -> bank: the bank has paid it. */
enum ledger_err ledger_disbursement_settle(struct ledger *ledger, const char *actor,
                                           int64_t disbursement_id, const char *bank_ref,
                                           int32_t value_date_days, const char *idempotency_key,
                                           struct ledger_booking *booking) LEDGER_MUST_CHECK;
/* in_transit -> case: the payment came back. */
enum ledger_err ledger_disbursement_return(struct ledger *ledger, const char *actor,
                                           int64_t disbursement_id, const char *bank_ref,
                                           const char *reason, const char *idempotency_key,
                                           struct ledger_booking *booking) LEDGER_MUST_CHECK;

/* Books the mirror image of entry seq (receipt, suspense_receipt, transfer
 * only), once. Respects the case's non-negative balance. An assignment from
 * suspense is corrected with a transfer between the cases instead. */
enum ledger_err ledger_reverse(struct ledger *ledger, const char *actor, int64_t seq,
                               const char *reason, const char *idempotency_key,
                               struct ledger_booking *booking) LEDGER_MUST_CHECK;

/* LEDGER_OK when the database answers. */
enum ledger_err ledger_ping(struct ledger *ledger) LEDGER_MUST_CHECK;

/* Between two uses of a handle (never inside a transaction): when its
 * connection was lost (the backend ended, the server restarted), opens a
 * new one with the session ledger_open set up (statements are prepared
 * again as they are used), at most once per back-off delay. LEDGER_OK when
 * the connection is up; LEDGER_ERR_UNAVAILABLE (with a detail) when it is
 * lost and could not be opened again yet. */
enum ledger_err ledger_reconnect_if_lost(struct ledger *ledger) LEDGER_MUST_CHECK;
/* Connections this handle opened again so far. */
int64_t ledger_reconnects(const struct ledger *ledger);

/* ---- integrity ---- */

struct ledger_verify_result {
    bool ok;
    int64_t checked;       /* entries checked */
    int64_t first_bad_seq; /* 0 when ok, or when only derived data (a cached
                              balance) disagrees with a sound journal */
    char reason[128];
};
/* Verifies every entry after `from` (NULL: from genesis) against the
 * trusted keyring: seq continuity, prev-hash links, balance, hash,
 * signature; with `from`, first checks the head's signature and that the
 * stored entry at from->seq still has from->hash. Also checks that the
 * chain head row and cached balances agree with the journal. */
enum ledger_err ledger_verify(struct ledger *ledger, const struct ledger_keyring *keyring,
                              const struct ledger_head *from,
                              struct ledger_verify_result *result) LEDGER_MUST_CHECK;
/* Verifies the entries from from_seq on (1: everything), anchored on the
 * stored hash of entry from_seq - 1 (unsigned: for a signed anchor use
 * ledger_verify with a saved head). */
enum ledger_err ledger_verify_from_seq(struct ledger *ledger, const struct ledger_keyring *keyring,
                                       int64_t from_seq,
                                       struct ledger_verify_result *result) LEDGER_MUST_CHECK;
/* The current head, signed now with the handle's key. */
enum ledger_err ledger_head_current(struct ledger *ledger,
                                    struct ledger_head *head) LEDGER_MUST_CHECK;

#endif

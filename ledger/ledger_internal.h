/* What the files of the ledger module share; not part of the API. */
#ifndef LEDGER_INTERNAL_H
#define LEDGER_INTERNAL_H

#include <libpq-fe.h>
#include <pthread.h>

#include "ledger.h"

#define LEDGER_DETAIL_SIZE 256
#define LEDGER_ACCESS_KEY_SIZE 32

/* A small direct-mapped cache of lookups that do not change (a case
 * number's or pay-in number's account, system and custody accounts) and of
 * users' roles for a second. What can change (status, balances) is always
 * checked by the database under lock. */
#define LEDGER_CACHE_SLOTS 256
#define LEDGER_CACHE_KEY_MAX (2 * LEDGER_CASE_NO_MAX + 8)
#define LEDGER_ROLE_CACHE_US 1000000
struct ledger_cache_slot {
    bool used;
    char key[LEDGER_CACHE_KEY_MAX];
    int64_t value;
    char currency[LEDGER_CURRENCY_SIZE];
    char text[LEDGER_CASE_NO_MAX + 1]; /* a case account's number as stored, else "" */
    int64_t stored_at_us;
};

/* Statements run through ledger_db_exec are prepared once per connection
 * (planning a query costs more than running it on small rows). */
#define LEDGER_PREPARED_MAX 128
struct ledger_prepared {
    uint64_t sql_hash;
    char *sql; /* owned copy; NULL: free slot */
};

struct ledger {
    PGconn *conn; /* never NULL after ledger_open; CONNECTION_BAD once lost */
    char *dsn;    /* owned copy, to connect again */
    unsigned lock_wait_ms;
    int64_t reconnect_at_us;     /* a lost connection: no new attempt before this
                                    (CLOCK_MONOTONIC) */
    unsigned reconnect_delay_ms; /* the next wait after a failed attempt; 0: none failed */
    int64_t reconnects;          /* connections opened again */
    bool session_ending;         /* the backend said FATAL: it is ending */
    struct ledger_prepared prepared[LEDGER_PREPARED_MAX];
    struct ledger_cache_slot cache[LEDGER_CACHE_SLOTS];
    bool has_signer;
    struct ledger_signer signer;
    bool has_access_key;
    uint8_t access_key[LEDGER_ACCESS_KEY_SIZE];
    struct ledger_committer *committer; /* borrowed; NULL: book inline */
    char detail[LEDGER_DETAIL_SIZE];
    enum ledger_err last_db_err; /* of the last failed statement */
    int64_t amount_max_minor;    /* ledger_config's; 0: LEDGER_AMOUNT_MAX_DEFAULT */
    bool pending;                /* a statement sent (ledger_db_send), its result unread */
};

/* ---- database helpers (store.c) ---- */

/* Runs a parameterized statement (all parameters text, NULL allowed) and
 * returns its result, or NULL after recording a detail. The caller clears
 * the result. expect is PGRES_COMMAND_OK or PGRES_TUPLES_OK. */
PGresult *ledger_db_exec(struct ledger *ledger, ExecStatusType expect, const char *sql,
                         int params_count, const char *const *params);
/* Maps the SQLSTATE of a failed result (or the connection) to an error. */
enum ledger_err ledger_db_error(struct ledger *ledger, const PGresult *result);
/* The error of the last statement that failed in ledger_db_exec. */
enum ledger_err ledger_db_last_error(const struct ledger *ledger);
enum ledger_err ledger_db_command(struct ledger *ledger, const char *sql) LEDGER_MUST_CHECK;
/* Sends a statement that returns no rows (binary parameters as for
 * PQexecParams) without waiting for it: the server works on it while the
 * caller goes on. Its outcome is read by ledger_db_settle, which every
 * helper here calls before it uses the connection, so a failure is never
 * lost: it is the answer of the next statement instead. */
enum ledger_err ledger_db_send(struct ledger *ledger, const char *sql, int params_count,
                               const Oid *types, const char *const *values, const int *lengths,
                               const int *formats) LEDGER_MUST_CHECK;
/* Waits for the statement ledger_db_send sent, if any; its error, if any. */
enum ledger_err ledger_db_settle(struct ledger *ledger) LEDGER_MUST_CHECK;
enum ledger_err ledger_db_begin(struct ledger *ledger) LEDGER_MUST_CHECK;
enum ledger_err ledger_db_commit(struct ledger *ledger) LEDGER_MUST_CHECK;
void ledger_db_rollback(struct ledger *ledger);
/* The whole of text as a decimal int64; false when it is anything else. */
bool ledger_int64_from_text(const char *text, int64_t *out);
/* Parses a bigint column; aborts on malformed text (the database's own). */
int64_t ledger_db_int64(const PGresult *result, int row, int column);
void ledger_set_detail(struct ledger *ledger, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Text of an int64 in a caller buffer (for parameters). */
#define LEDGER_INT64_TEXT_SIZE 24
const char *ledger_int64_text(char buffer[LEDGER_INT64_TEXT_SIZE], int64_t value);
/* "\\x..." bytea text of bytes, into buffer of 2*size+3. */
const char *ledger_bytea_text(char *buffer, const uint8_t *bytes, size_t size);
/* Reads a bytea column (hex format) of exactly size bytes. */
/* A day count column (date - DATE '1970-01-01'); NULL (or out of range):
 * LEDGER_VALUE_DATE_NONE. */
int32_t ledger_db_days(const PGresult *result, int row, int column);
enum ledger_err ledger_db_bytea(uint8_t *out, size_t size, const PGresult *result, int row,
                                int column) LEDGER_MUST_CHECK;

int64_t ledger_now_us(void);

/* ---- array parameters in binary format (pg_array.c) ---- */

/* Element type OIDs (pg_type.dat; fixed since PostgreSQL 7). */
#define LEDGER_PG_BOOL 16u
#define LEDGER_PG_BYTEA 17u
#define LEDGER_PG_INT8 20u
#define LEDGER_PG_INT2 21u
#define LEDGER_PG_INT4 23u
#define LEDGER_PG_TEXT 25u
#define LEDGER_PG_DATE 1082u            /* int32 days since 2000-01-01 */
#define LEDGER_PG_DATE_EPOCH_DAYS 10957 /* 2000-01-01 in days since 1970-01-01 */

/* A growing one-dimensional array parameter; appends after a failed
 * allocation are ignored and finish reports it. */
struct ledger_pg_array {
    uint32_t element_oid;
    int32_t count;
    bool has_null;
    bool failed;
    uint8_t *data; /* owns; the header is filled in by finish */
    size_t size;
    size_t capacity;
};
void ledger_pg_array_init(struct ledger_pg_array *array, uint32_t element_oid);
void ledger_pg_array_free(struct ledger_pg_array *array);
void ledger_pg_array_null(struct ledger_pg_array *array);
void ledger_pg_array_int64(struct ledger_pg_array *array, int64_t value);
void ledger_pg_array_int32(struct ledger_pg_array *array, int32_t value); /* also dates */
void ledger_pg_array_int16(struct ledger_pg_array *array, int16_t value);
void ledger_pg_array_text(struct ledger_pg_array *array, const char *text); /* NULL: null */
void ledger_pg_array_bytea(struct ledger_pg_array *array, const uint8_t *bytes, size_t size);
void ledger_pg_array_bool(struct ledger_pg_array *array, bool value);
/* An int8 id, NULL for 0 (no such id); a date of days since 1970-01-01,
 * NULL for LEDGER_VALUE_DATE_NONE. */
void ledger_pg_array_id(struct ledger_pg_array *array, int64_t id);
void ledger_pg_array_date(struct ledger_pg_array *array, int32_t days);
/* The OID of the array type of an element type above. */
uint32_t ledger_pg_array_type(uint32_t element_oid);
/* Writes the header; false when an append failed. data/size are then the
 * parameter's value (binary format). */
bool ledger_pg_array_finish(struct ledger_pg_array *array) LEDGER_MUST_CHECK;

/* Rows of a two-dimensional array result in text form ("{{1,paid,NULL},
 * {2,approved,NULL}}", "{}" when empty) whose elements are all unquoted
 * words: integers, NULL, plain words such as a status. Anything else
 * (quoting, another number of columns, another shape) is malformed. */
#define LEDGER_PG_WORD_SIZE 24 /* the longest word (an int64's text) and a NUL */
struct ledger_pg_rows {
    const char *at; /* borrows the result's text; NULL once malformed */
    size_t columns;
    bool started;
    bool ended;
};
enum ledger_pg_rows_next { LEDGER_PG_ROWS_ROW, LEDGER_PG_ROWS_END, LEDGER_PG_ROWS_MALFORMED };
void ledger_pg_rows_start(struct ledger_pg_rows *rows, const char *text, size_t columns);
/* The next row's words, NUL-terminated, into words[0 .. columns - 1]. */
enum ledger_pg_rows_next ledger_pg_rows_next(struct ledger_pg_rows *rows,
                                             char (*words)[LEDGER_PG_WORD_SIZE]) LEDGER_MUST_CHECK;

/* ---- requests and idempotency (idempotency.c) ---- */

/* A request digest: BLAKE2b-256 over the operation name and length-prefixed
 * fields, so that "same request" is exact. */
struct ledger_request_hash {
    crypto_generichash_state state;
};
void ledger_request_hash_init(struct ledger_request_hash *hash, const char *operation);
void ledger_request_hash_text(struct ledger_request_hash *hash, const char *text);
void ledger_request_hash_int64(struct ledger_request_hash *hash, int64_t value);
void ledger_request_hash_final(struct ledger_request_hash *hash, uint8_t out[LEDGER_HASH_SIZE]);

/* LEDGER_OK when key is 1..128 printable ASCII. */
enum ledger_err ledger_idempotency_key_check(const char *key) LEDGER_MUST_CHECK;

/* Looks the key up in its owner's space (a client's key: the user's name;
 * the ledger's own keys: "") inside the caller's transaction: LEDGER_OK
 * and *found=false when new; *found=true with the first result when the
 * same request; LEDGER_ERR_IDEMPOTENCY_CONFLICT when another request. */
enum ledger_err ledger_idempotency_find(struct ledger *ledger, const char *owner, const char *key,
                                        const uint8_t request_hash[LEDGER_HASH_SIZE], bool *found,
                                        int64_t *entry_seq, int64_t *object_id) LEDGER_MUST_CHECK;
enum ledger_err ledger_idempotency_store(struct ledger *ledger, const char *owner, const char *key,
                                         const char *operation,
                                         const uint8_t request_hash[LEDGER_HASH_SIZE],
                                         int64_t entry_seq, int64_t object_id) LEDGER_MUST_CHECK;

/* ---- cache (cache.c) ---- */

/* true and fills value, currency and text (each may be NULL) when key is
 * cached (and younger than max_age_us, 0: any age). */
bool ledger_cache_get(struct ledger *ledger, const char *key, int64_t max_age_us, int64_t *value,
                      char currency[LEDGER_CURRENCY_SIZE], char text[LEDGER_CASE_NO_MAX + 1]);
/* currency and text may be NULL (stored as ""). */
void ledger_cache_put(struct ledger *ledger, const char *key, int64_t value, const char *currency,
                      const char *text);

/* ---- users (users.c) ---- */

/* LEDGER_OK when actor is an enabled user whose role is in allowed_roles. */
enum ledger_err ledger_actor_check(struct ledger *ledger, const char *actor,
                                   unsigned allowed_roles) LEDGER_MUST_CHECK;

/* ---- accounts (accounts.c) ---- */

struct ledger_account_ref {
    int64_t id;
    char kind[16];
    char status[16];
    char currency[LEDGER_CURRENCY_SIZE];
};
enum ledger_err ledger_case_find(struct ledger *ledger, const char *case_no,
                                 struct ledger_account_ref *account) LEDGER_MUST_CHECK;
/* The normalized case number and the keyed hash of the access code that
 * cl_case_status and ledger_case_access_check look a case up by; false
 * when either cannot be one (or no access key is loaded). */
bool ledger_access_lookup_key(const struct ledger *ledger, char norm[LEDGER_CASE_NO_MAX * 2 + 1],
                              uint8_t hash[LEDGER_HASH_SIZE], const char *case_no,
                              const char *access_code);
/* The account id, currency and case number as stored (case_no_out may be
 * NULL) of a case by case number or by pay-in number (checked first), from
 * the cache when it can; status is not known here. */
enum ledger_err ledger_case_account(struct ledger *ledger, const char *case_no,
                                    const char *payin_no, int64_t *account_id,
                                    char currency[LEDGER_CURRENCY_SIZE],
                                    char case_no_out[LEDGER_CASE_NO_MAX + 1]) LEDGER_MUST_CHECK;
enum ledger_err ledger_system_account(struct ledger *ledger, const char *kind, const char *currency,
                                      int64_t *account_id) LEDGER_MUST_CHECK;
/* The custody bank account: bank_account_id when non-zero (must exist,
 * currency must match), else the first of the currency. */
enum ledger_err ledger_bank_account(struct ledger *ledger, int64_t bank_account_id,
                                    const char *currency, int64_t *account_id) LEDGER_MUST_CHECK;

/* ---- booking (booking.c) ---- */

/* One entry to book, with the state change that goes with it. */
struct ledger_booking_request {
    struct ledger_entry entry; /* kind, actor, memo, bank_ref, value date,
                                  reverses_seq and postings filled in; seq,
                                  time, hashes and signature by the booker */
    unsigned allowed_roles;    /* the actor must have one of these (checked here, and the
                                  database derives its own from the entry's kind) */
    /* The key's space: the actor's name for a client's key (NULL: the
     * actor), "" for keys the ledger makes itself (a statement's lines),
     * which no client can reach. */
    const char *idempotency_owner;
    const char *idempotency_key;
    const char *operation;
    uint8_t request_hash[LEDGER_HASH_SIZE];
    int64_t object_id;
    int64_t disbursement_id; /* 0: none */
    const char *disbursement_from;
    const char *disbursement_to;
    /* result */
    void *booking_waiter; /* the committer's completion flag */
    enum ledger_err err;
    struct ledger_booking booking;
};

/* Books one request: inline in the handle's connection, or through the
 * attached committer. Fills request->booking; returns request->err. */
enum ledger_err ledger_book(struct ledger *ledger,
                            struct ledger_booking_request *request) LEDGER_MUST_CHECK;

/* Reads the entry seq of a replayed booking's hash into it. */
enum ledger_err ledger_booking_replay_hash(struct ledger *ledger,
                                           struct ledger_booking *booking) LEDGER_MUST_CHECK;

/* Books every request inside the caller's open transaction, in order, on
 * the chain head it locks (cl_chain_lock; the caller may hold it already),
 * in cl_book_batch calls of at most LEDGER_BATCH_MAX: all of them, or an
 * error with *failed_index naming the first one refused (the caller then
 * rolls back: the refused call booked nothing, earlier calls are undone by
 * the rollback). A recorded idempotency key counts as a refusal
 * (LEDGER_ERR_IDEMPOTENCY_CONFLICT); when it recorded the same request, the
 * refused request's booking says so (replayed, seq and object_id of the
 * first booking; not its hash). Fills each request's entry seq/hash and
 * booking. Never uses the committer. */
enum ledger_err ledger_book_in_transaction(struct ledger *ledger,
                                           struct ledger_booking_request **requests, size_t count,
                                           size_t *failed_index) LEDGER_MUST_CHECK;

/* ---- operations (operations.c) ---- */

/* The booking request of assigning suspense receipt suspense_seq to a case
 * (its booking's account_id and amount_minor filled in), checked as far as
 * the handle can; booked by the caller. */
/* The statement line (its id, 0: none) that booked a suspense receipt:
 * assigning that receipt goes through its line (reconciliation.c), so that
 * the line leaves the exceptions queue in the same transaction. */
enum ledger_err ledger_suspense_line_of_entry(struct ledger *ledger, int64_t suspense_seq,
                                              int64_t *line_id) LEDGER_MUST_CHECK;
enum ledger_err ledger_assign_prepare(struct ledger *ledger, const char *actor,
                                      int64_t suspense_seq, const char *case_no,
                                      const char *idempotency_key,
                                      struct ledger_booking_request *book) LEDGER_MUST_CHECK;
/* An assignment's booking error as the caller sees it: a suspense receipt
 * already consumed is LEDGER_ERR_BAD_STATE. */
enum ledger_err ledger_assign_refused(struct ledger *ledger, int64_t suspense_seq,
                                      enum ledger_err err) LEDGER_MUST_CHECK;

#endif

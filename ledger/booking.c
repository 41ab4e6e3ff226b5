/* Booking sealed entries, in batches: inline (a batch of one, in the
 * handle's own transaction) or through the committer (everything queued by
 * many handles, in one transaction: group commit).
 *
 * A batch transaction locks the chain head (cl_chain_lock), answers
 * replayed idempotency keys without sealing, seals the rest in order onto
 * the head, and books them with one cl_book_batch call. That call either
 * books all of them or names the first one a rule refuses; that one gets
 * its error, the ones after it are resealed, and the call is repeated.
 * Bookings are serialized on the head across all processes, and a batch of
 * any size pays for one commit and one update of each hot account. */
#include "ledger_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A booker's belief about the chain head (the committer keeps it between
 * batches, so that a batch needs one round trip). */
struct head_belief {
    bool known;
    int64_t seq;
    uint8_t hash[LEDGER_HASH_SIZE];
};

struct ledger_committer {
    struct ledger *ledger; /* owns: its own connection and signer */
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    struct ledger_booking_request **queue; /* ring of LEDGER_QUEUE_MAX */
    size_t queue_start;
    size_t queue_count;
    bool stopping;
    size_t expected; /* how full the next batch may get (from the last ones taken) */
    struct ledger_booking_request *batch[LEDGER_BATCH_MAX]; /* committer thread only */
    struct head_belief head;                                /* committer thread only */
    struct ledger_committer_stats stats;                    /* guarded by mutex */
};

/* A booking request's progress through one batch. */
enum slot_state { SLOT_PENDING, SLOT_DEFERRED, SLOT_SEALED, SLOT_DONE };

struct batch {
    struct ledger_booking_request **requests;
    size_t count;
    int64_t book_us;
    bool head_known; /* head_seq/head_hash are believed current */
    bool locked;     /* a transaction is open and holds the head */
    enum slot_state state[LEDGER_BATCH_MAX];
    int64_t head_seq;
    uint8_t head_hash[LEDGER_HASH_SIZE];
};

static const struct {
    const char *code;
    enum ledger_err err;
} book_codes[] = {
    {"forbidden", LEDGER_ERR_FORBIDDEN},
    {"unknown_account", LEDGER_ERR_UNKNOWN_ACCOUNT},
    {"currency_mismatch", LEDGER_ERR_CURRENCY_MISMATCH},
    {"account_closed", LEDGER_ERR_CLOSED},
    {"account_frozen", LEDGER_ERR_FROZEN},
    {"insufficient_funds", LEDGER_ERR_INSUFFICIENT},
    {"already_reversed", LEDGER_ERR_ALREADY_REVERSED},
    {"unknown_disbursement", LEDGER_ERR_UNKNOWN_DISBURSEMENT},
    {"bad_state", LEDGER_ERR_BAD_STATE},
    {"same_user", LEDGER_ERR_SAME_USER},
    {"amount_too_large", LEDGER_ERR_AMOUNT_TOO_LARGE},
    /* The application never sends these (it checks the same first); they
     * answer a caller that asks the database for what it may not do. */
    {"no_approved_request", LEDGER_ERR_FORBIDDEN},
    {"bad_postings", LEDGER_ERR_FORBIDDEN},
};

static enum ledger_err book_code_err(const char *code)
{
    for (size_t i = 0; i < sizeof book_codes / sizeof book_codes[0]; i++)
        if (strcmp(code, book_codes[i].code) == 0)
            return book_codes[i].err;
    return LEDGER_ERR_DB;
}

/* The space of a request's idempotency key (ledger_internal.h). */
static const char *key_owner(const struct ledger_booking_request *request)
{
    return request->idempotency_owner ? request->idempotency_owner : request->entry.actor;
}

static void resolve(struct batch *batch, size_t index, enum ledger_err err)
{
    batch->requests[index]->err = err;
    batch->state[index] = SLOT_DONE;
}

/* Marks the unresolved requests pending, deferring a second request with a
 * key the round already carries: it is answered (as a replay) in the next
 * round, once the first one is recorded. */
static void defer_duplicates(struct batch *batch)
{
    for (size_t i = 0; i < batch->count; i++) {
        if (batch->state[i] == SLOT_DONE)
            continue;
        if (batch->state[i] == SLOT_DEFERRED)
            batch->state[i] = SLOT_PENDING;
        for (size_t earlier = 0; earlier < i && batch->state[i] == SLOT_PENDING; earlier++)
            if ((batch->state[earlier] == SLOT_PENDING || batch->state[earlier] == SLOT_SEALED) &&
                strcmp(batch->requests[earlier]->idempotency_key,
                       batch->requests[i]->idempotency_key) == 0 &&
                strcmp(key_owner(batch->requests[earlier]), key_owner(batch->requests[i])) == 0)
                batch->state[i] = SLOT_DEFERRED;
    }
}

/* Seals the pending requests in order onto the head; a request sealed in
 * an earlier round keeps its seal while it still follows its predecessor. */
static enum ledger_err seal_pending(struct ledger *ledger, struct batch *batch)
{
    int64_t seq = batch->head_seq;
    const uint8_t *prev_hash = batch->head_hash;
    for (size_t i = 0; i < batch->count; i++) {
        if (batch->state[i] != SLOT_PENDING && batch->state[i] != SLOT_SEALED)
            continue;
        struct ledger_entry *entry = &batch->requests[i]->entry;
        bool still_valid = batch->state[i] == SLOT_SEALED && entry->seq == seq + 1 &&
                           memcmp(entry->prev_hash, prev_hash, LEDGER_HASH_SIZE) == 0;
        if (!still_valid) {
            entry->seq = seq + 1;
            entry->created_at_us = ledger_now_us();
            assert(ledger_entry_balanced(entry));
            enum ledger_err err = ledger_entry_seal(entry, prev_hash, &ledger->signer);
            if (err != LEDGER_OK) {
                resolve(batch, i, err);
                continue;
            }
            batch->state[i] = SLOT_SEALED;
        }
        seq = entry->seq;
        prev_hash = entry->hash;
    }
    return LEDGER_OK;
}

/* cl_book_batch's parameters after the head: one array per entry field,
 * then one per posting field, in its order. */
enum batch_column {
    COLUMN_INDEX,
    COLUMN_SEQ,
    COLUMN_KIND,
    COLUMN_CREATED_AT_US,
    COLUMN_ACTOR,
    COLUMN_REVERSES_SEQ,
    COLUMN_VALUE_DATE,
    COLUMN_BANK_REF,
    COLUMN_MEMO,
    COLUMN_KEY_ID,
    COLUMN_PREV_HASH,
    COLUMN_HASH,
    COLUMN_SIGNATURE,
    COLUMN_IDEM_OWNER,
    COLUMN_IDEM_KEY,
    COLUMN_IDEM_OP,
    COLUMN_IDEM_HASH,
    COLUMN_OBJECT_ID,
    COLUMN_DISBURSEMENT_ID,
    COLUMN_DISBURSEMENT_FROM,
    COLUMN_DISBURSEMENT_TO,
    COLUMN_POSTING_INDEX,
    COLUMN_POSTING_ORDER,
    COLUMN_POSTING_ACCOUNT,
    COLUMN_POSTING_AMOUNT,
    COLUMN_POSTING_CURRENCY,
    COLUMNS_COUNT
};

/* Element types of the columns, and the array types of the parameters. */
static const uint32_t column_types[COLUMNS_COUNT] = {
    LEDGER_PG_INT4,  LEDGER_PG_INT8,  LEDGER_PG_TEXT,  LEDGER_PG_INT8, LEDGER_PG_TEXT,
    LEDGER_PG_INT8,  LEDGER_PG_DATE,  LEDGER_PG_TEXT,  LEDGER_PG_TEXT, LEDGER_PG_TEXT,
    LEDGER_PG_BYTEA, LEDGER_PG_BYTEA, LEDGER_PG_BYTEA, LEDGER_PG_TEXT, LEDGER_PG_TEXT,
    LEDGER_PG_TEXT,  LEDGER_PG_BYTEA, LEDGER_PG_INT8,  LEDGER_PG_INT8, LEDGER_PG_TEXT,
    LEDGER_PG_TEXT,  LEDGER_PG_INT4,  LEDGER_PG_INT2,  LEDGER_PG_INT8, LEDGER_PG_INT8,
    LEDGER_PG_TEXT,
};

#define BATCH_PARAMS_COUNT (2 + COLUMNS_COUNT)
#define BOOK_BATCH_SQL                                                                             \
    "SELECT failed_index, code, replay_seq, replay_object_id FROM cl_book_batch($1, $2, $3, $4, "  \
    "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, "   \
    "$24, $25, $26, $27, $28)"

/* cl_book_batch's parameters for the sealed requests, all in binary. */
struct batch_params {
    uint8_t head_seq[8];
    struct ledger_pg_array columns[COLUMNS_COUNT];
    Oid types[BATCH_PARAMS_COUNT];
    const char *values[BATCH_PARAMS_COUNT];
    int lengths[BATCH_PARAMS_COUNT];
    int formats[BATCH_PARAMS_COUNT];
};

static void entry_columns(struct ledger_pg_array *columns, size_t index,
                          const struct ledger_booking_request *request)
{
    const struct ledger_entry *entry = &request->entry;
    ledger_pg_array_int32(&columns[COLUMN_INDEX], (int32_t)index);
    ledger_pg_array_int64(&columns[COLUMN_SEQ], entry->seq);
    ledger_pg_array_text(&columns[COLUMN_KIND], entry->kind);
    ledger_pg_array_int64(&columns[COLUMN_CREATED_AT_US], entry->created_at_us);
    ledger_pg_array_text(&columns[COLUMN_ACTOR], entry->actor);
    ledger_pg_array_id(&columns[COLUMN_REVERSES_SEQ], entry->reverses_seq);
    ledger_pg_array_date(&columns[COLUMN_VALUE_DATE], entry->value_date_days);
    ledger_pg_array_text(&columns[COLUMN_BANK_REF], entry->bank_ref);
    ledger_pg_array_text(&columns[COLUMN_MEMO], entry->memo);
    ledger_pg_array_text(&columns[COLUMN_KEY_ID], entry->key_id);
    ledger_pg_array_bytea(&columns[COLUMN_PREV_HASH], entry->prev_hash, LEDGER_HASH_SIZE);
    ledger_pg_array_bytea(&columns[COLUMN_HASH], entry->hash, LEDGER_HASH_SIZE);
    ledger_pg_array_bytea(&columns[COLUMN_SIGNATURE], entry->signature, LEDGER_SIGNATURE_SIZE);
    ledger_pg_array_text(&columns[COLUMN_IDEM_OWNER], key_owner(request));
    ledger_pg_array_text(&columns[COLUMN_IDEM_KEY], request->idempotency_key);
    ledger_pg_array_text(&columns[COLUMN_IDEM_OP], request->operation);
    ledger_pg_array_bytea(&columns[COLUMN_IDEM_HASH], request->request_hash, LEDGER_HASH_SIZE);
    ledger_pg_array_id(&columns[COLUMN_OBJECT_ID], request->object_id);
    ledger_pg_array_id(&columns[COLUMN_DISBURSEMENT_ID], request->disbursement_id);
    ledger_pg_array_text(&columns[COLUMN_DISBURSEMENT_FROM], request->disbursement_from);
    ledger_pg_array_text(&columns[COLUMN_DISBURSEMENT_TO], request->disbursement_to);
    for (size_t p = 0; p < entry->postings_count; p++) {
        const struct ledger_posting *posting = &entry->postings[p];
        ledger_pg_array_int32(&columns[COLUMN_POSTING_INDEX], (int32_t)index);
        ledger_pg_array_int16(&columns[COLUMN_POSTING_ORDER], (int16_t)p);
        ledger_pg_array_int64(&columns[COLUMN_POSTING_ACCOUNT], posting->account_id);
        ledger_pg_array_int64(&columns[COLUMN_POSTING_AMOUNT], posting->amount_minor);
        ledger_pg_array_text(&columns[COLUMN_POSTING_CURRENCY], posting->currency);
    }
}

static void batch_params_free(struct batch_params *params)
{
    for (size_t c = 0; c < COLUMNS_COUNT; c++)
        ledger_pg_array_free(&params->columns[c]);
}

/* The cl_book_batch parameters for the sealed requests; index i is 1-based
 * over batch->requests. false when out of memory (params freed). */
static bool batch_params_build(struct batch_params *params, const struct batch *batch)
{
    _Static_assert(LEDGER_BATCH_MAX < INT32_MAX && LEDGER_POSTINGS_MAX < INT16_MAX,
                   "batch indexes fit their SQL types");
    uint64_t head_seq = (uint64_t)batch->head_seq;
    for (int i = 0; i < 8; i++)
        params->head_seq[i] = (uint8_t)(head_seq >> (56 - 8 * i));
    for (size_t c = 0; c < COLUMNS_COUNT; c++)
        ledger_pg_array_init(&params->columns[c], column_types[c]);
    for (size_t i = 0; i < batch->count; i++)
        if (batch->state[i] == SLOT_SEALED)
            entry_columns(params->columns, i + 1, batch->requests[i]);
    params->types[0] = LEDGER_PG_INT8;
    params->types[1] = LEDGER_PG_BYTEA;
    params->values[0] = (const char *)params->head_seq;
    params->lengths[0] = (int)sizeof params->head_seq;
    params->values[1] = (const char *)batch->head_hash;
    params->lengths[1] = LEDGER_HASH_SIZE;
    for (size_t c = 0; c < COLUMNS_COUNT; c++) {
        if (!ledger_pg_array_finish(&params->columns[c]) ||
            params->columns[c].size > (size_t)INT32_MAX) {
            batch_params_free(params);
            return false;
        }
        params->types[2 + c] = ledger_pg_array_type(column_types[c]);
        params->values[2 + c] = (const char *)params->columns[c].data;
        params->lengths[2 + c] = (int)params->columns[c].size;
    }
    for (size_t p = 0; p < BATCH_PARAMS_COUNT; p++)
        params->formats[p] = 1;
    return true;
}

static void mark_booked(struct batch *batch)
{
    for (size_t i = 0; i < batch->count; i++) {
        if (batch->state[i] != SLOT_SEALED)
            continue;
        struct ledger_booking_request *request = batch->requests[i];
        request->booking.seq = request->entry.seq;
        request->booking.object_id = request->object_id;
        memcpy(request->booking.hash, request->entry.hash, LEDGER_HASH_SIZE);
        batch->head_seq = request->entry.seq;
        memcpy(batch->head_hash, request->entry.hash, LEDGER_HASH_SIZE);
        resolve(batch, i, LEDGER_OK);
    }
}

static bool batch_finished(const struct batch *batch)
{
    for (size_t i = 0; i < batch->count; i++)
        if (batch->state[i] != SLOT_DONE)
            return false;
    return true;
}

/* A statement of a pipeline: no parameters, or params_count of them. */
struct statement {
    const char *sql;
    int params_count;
    const Oid *types;
    const char *const *values;
    const int *lengths;
    const int *formats;
};

/* Sends the statements in one pipeline (one round trip) and collects one
 * result per statement (the caller clears them). A statement after a
 * failed one comes back PGRES_PIPELINE_ABORTED. */
#define PIPELINE_MAX 3
static enum ledger_err pipeline(struct ledger *ledger, size_t count,
                                const struct statement *statements, PGresult **results)
{
    assert(count <= PIPELINE_MAX);
    for (size_t i = 0; i < count; i++)
        results[i] = NULL;
    enum ledger_err err = ledger_db_settle(ledger);
    if (err != LEDGER_OK)
        return err;
    if (PQenterPipelineMode(ledger->conn) != 1)
        return ledger_db_error(ledger, NULL);
    size_t sent = 0;
    for (; sent < count; sent++) {
        const struct statement *statement = &statements[sent];
        if (PQsendQueryParams(ledger->conn, statement->sql, statement->params_count,
                              statement->types, statement->values, statement->lengths,
                              statement->formats, 0) != 1)
            break;
    }
    if (sent < count || PQpipelineSync(ledger->conn) != 1)
        err = ledger_db_error(ledger, NULL);
    for (size_t i = 0; i < sent; i++) {
        results[i] = PQgetResult(ledger->conn);
        PGresult *end;
        while ((end = PQgetResult(ledger->conn)) != NULL) /* the NULL after each statement */
            PQclear(end);
    }
    PGresult *sync;
    while ((sync = PQgetResult(ledger->conn)) != NULL) {
        bool is_sync = PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
        PQclear(sync);
        if (is_sync)
            break;
    }
    if (PQexitPipelineMode(ledger->conn) != 1 && err == LEDGER_OK)
        err = ledger_db_error(ledger, NULL);
    return err;
}

static bool result_ok(const PGresult *result)
{
    ExecStatusType status = PQresultStatus(result);
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

static void clear_results(PGresult **results, size_t count)
{
    for (size_t i = 0; i < count; i++)
        PQclear(results[i]);
}

/* BEGIN and lock the head (one round trip): for a booker that does not know
 * the head, or whose belief was stale. */
static enum ledger_err lock_round(struct ledger *ledger, struct batch *batch)
{
    const struct statement statements[2] = {{.sql = "BEGIN"},
                                            {.sql = "SELECT seq, hash FROM cl_chain_lock()"}};
    PGresult *results[2];
    enum ledger_err err = pipeline(ledger, 2, statements, results);
    if (err == LEDGER_OK &&
        !(result_ok(results[0]) && result_ok(results[1]) && PQntuples(results[1]) == 1))
        err = ledger_db_error(ledger, result_ok(results[0]) ? results[1] : results[0]);
    if (err == LEDGER_OK) {
        batch->locked = true;
        batch->head_seq = ledger_db_int64(results[1], 0, 0);
        err = ledger_db_bytea(batch->head_hash, LEDGER_HASH_SIZE, results[1], 0, 1);
        batch->head_known = err == LEDGER_OK;
    }
    clear_results(results, 2);
    return err;
}

/* Maps cl_book_batch's answer into the batch. *stale: the head had moved
 * (another booker); the next round locks it first. */
static enum ledger_err book_answer(struct batch *batch, const PGresult *result, bool *stale)
{
    *stale = false;
    if (PQgetisnull(result, 0, 0)) {
        mark_booked(batch);
        return LEDGER_OK;
    }
    int64_t failed = ledger_db_int64(result, 0, 0);
    const char *code = PQgetvalue(result, 0, 1);
    if (failed < 1 || (size_t)failed > batch->count)
        return LEDGER_ERR_DB;
    struct ledger_booking_request *request = batch->requests[failed - 1];
    if (strcmp(code, "stale") == 0) {
        *stale = true;
        batch->head_known = false;
    } else if (strcmp(code, "replay") == 0) {
        request->booking.replayed = true;
        request->booking.seq = ledger_db_int64(result, 0, 2);
        request->booking.object_id = ledger_db_int64(result, 0, 3);
        resolve(batch, (size_t)failed - 1, LEDGER_OK);
    } else if (strcmp(code, "idempotency_conflict") == 0) {
        resolve(batch, (size_t)failed - 1, LEDGER_ERR_IDEMPOTENCY_CONFLICT);
    } else {
        resolve(batch, (size_t)failed - 1, book_code_err(code));
    }
    return LEDGER_OK;
}

/* Books the sealed requests and commits in one round trip (BEGIN too when
 * the head is not locked yet: the function locks it and checks it is the
 * one the entries were sealed on). Refused or replayed requests are
 * resolved one at a time; the COMMIT then commits nothing. */
static enum ledger_err book_round(struct ledger *ledger, struct batch *batch, bool *stale)
{
    struct batch_params params;
    if (!batch_params_build(&params, batch))
        return LEDGER_ERR_NOMEM;
    const struct statement statements[3] = {{.sql = "BEGIN"},
                                            {.sql = BOOK_BATCH_SQL,
                                             .params_count = BATCH_PARAMS_COUNT,
                                             .types = params.types,
                                             .values = params.values,
                                             .lengths = params.lengths,
                                             .formats = params.formats},
                                            {.sql = "COMMIT"}};
    size_t first = batch->locked ? 1 : 0;
    PGresult *results[3] = {NULL, NULL, NULL};
    int64_t started_us = ledger_now_us();
    enum ledger_err err = pipeline(ledger, 3 - first, statements + first, results + first);
    batch->book_us += ledger_now_us() - started_us;
    batch->locked = false;
    batch_params_free(&params);
    for (size_t i = first; i < 3 && err == LEDGER_OK; i++)
        if (!result_ok(results[i]) || (i == 1 && PQntuples(results[i]) != 1))
            err = ledger_db_error(ledger, results[i]);
    if (err == LEDGER_OK)
        err = book_answer(batch, results[1], stale);
    clear_results(results, 3);
    return err;
}

/* Resolves every request of the batch, in one round trip when the head is
 * known and nothing is refused. An error leaves the connection outside any
 * transaction; requests booked by an earlier round stay booked. */
static enum ledger_err book_rounds(struct ledger *ledger, struct batch *batch)
{
    enum ledger_err err = LEDGER_OK;
    /* Each round resolves a request, or finds the head stale (then the next
     * round holds the lock and cannot find it stale again). */
    for (size_t round = 0; err == LEDGER_OK && !batch_finished(batch); round++) {
        if (round > 2 * batch->count + 2) {
            err = LEDGER_ERR_RETRY;
            break;
        }
        defer_duplicates(batch);
        if (!batch->head_known && (err = lock_round(ledger, batch)) != LEDGER_OK)
            break;
        if ((err = seal_pending(ledger, batch)) != LEDGER_OK)
            break;
        bool stale = false;
        err = book_round(ledger, batch, &stale);
    }
    if (err != LEDGER_OK) {
        ledger_db_rollback(ledger);
        batch->head_known = false;
    }
    return err;
}

static void mark_unbooked(struct batch *batch, enum ledger_err err)
{
    for (size_t i = 0; i < batch->count; i++)
        if (batch->state[i] != SLOT_DONE)
            resolve(batch, i, err);
}

/* true when every request was resolved (booked, replayed or refused by a
 * rule); false when a round failed as a whole: its requests are marked
 * with the error (err_out) and none of them was booked. head (may be NULL)
 * is the booker's belief about the chain head, used and updated. */
static bool book_batch(struct ledger *ledger, struct ledger_booking_request **requests,
                       size_t count, enum ledger_err *err_out, struct ledger_committer_stats *stats,
                       struct head_belief *head)
{
    struct batch batch;
    memset(&batch, 0, sizeof batch);
    batch.requests = requests;
    batch.count = count;
    if (head != NULL && head->known) {
        batch.head_known = true;
        batch.head_seq = head->seq;
        memcpy(batch.head_hash, head->hash, LEDGER_HASH_SIZE);
    }
    for (size_t i = 0; i < count; i++) {
        requests[i]->err = LEDGER_ERR_DB;
        requests[i]->booking.replayed = false;
    }
    int64_t started_us = ledger_now_us();
    enum ledger_err err = book_rounds(ledger, &batch);
    if (err != LEDGER_OK)
        mark_unbooked(&batch, err);
    if (head != NULL) {
        head->known = batch.head_known;
        head->seq = batch.head_seq;
        memcpy(head->hash, batch.head_hash, LEDGER_HASH_SIZE);
    }
    if (stats != NULL) {
        stats->batches += 1;
        stats->requests += (int64_t)count;
        stats->busy_us += ledger_now_us() - started_us;
        stats->book_us += batch.book_us;
    }
    *err_out = err;
    return err == LEDGER_OK;
}

static enum ledger_err book_inline(struct ledger *ledger, struct ledger_booking_request *request)
{
    enum ledger_err err = LEDGER_ERR_RETRY;
    for (int attempt = 0; attempt < LEDGER_RETRY_MAX; attempt++) {
        if (book_batch(ledger, &request, 1, &err, NULL, NULL))
            return request->err;
        if (err != LEDGER_ERR_RETRY)
            break;
    }
    request->err = err;
    return err;
}

/* ---- the committer ---- */

/* A waiting booker: the committer wakes only the bookers whose requests
 * it has finished (one condition variable each, under the queue mutex). */
struct pending {
    bool done;
    pthread_cond_t finished;
};

/* A batch costs nearly the same for one request as for ten. When bookers
 * arrive spread out in time (each after its own HTTP round trip, say), a
 * committer that starts as soon as one is queued books small batches, and
 * the database work it spends on each starves the bookers on their way.
 * So while the queue holds fewer requests than recent batches took, wait
 * for more, at most LEDGER_GATHER_WAIT_US: with one booker there is no
 * wait at all. Called and returns with the mutex held. */
static void gather(struct ledger_committer *c)
{
    if (c->queue_count >= c->expected || c->stopping)
        return;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += (long)LEDGER_GATHER_WAIT_US * 1000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec += deadline.tv_nsec / 1000000000L;
        deadline.tv_nsec %= 1000000000L;
    }
    while (c->queue_count < c->expected && !c->stopping)
        if (pthread_cond_timedwait(&c->wake, &c->mutex, &deadline) == ETIMEDOUT)
            break;
}

/* Books the batch taken from the queue, each request answered. A lost
 * connection is opened again first (or, while that cannot be, every
 * request is answered LEDGER_ERR_UNAVAILABLE at once): the batch then
 * starts outside any transaction, on a head it locks afresh. */
static void commit_batch(struct ledger_committer *c, size_t count,
                         struct ledger_committer_stats *stats)
{
    int64_t reconnects = ledger_reconnects(c->ledger);
    enum ledger_err err = ledger_reconnect_if_lost(c->ledger);
    stats->reconnects += ledger_reconnects(c->ledger) - reconnects;
    if (err != LEDGER_OK) {
        c->head.known = false;
        for (size_t i = 0; i < count; i++)
            c->batch[i]->err = err;
        return;
    }
    /* A round that found the books held past lock_wait_ms (an import) fails
     * whole, at once: each request alone would wait as long; so does a
     * round whose connection was lost (its COMMIT's outcome is unknown: the
     * clients retry with their keys, which find what it booked). */
    if (book_batch(c->ledger, c->batch, count, &err, stats, &c->head) || err == LEDGER_ERR_BUSY ||
        err == LEDGER_ERR_UNAVAILABLE)
        return;
    /* Isolate whatever broke the round: one transaction each for the
     * requests it left unbooked. */
    for (size_t i = 0; i < count; i++)
        if (c->batch[i]->err == err)
            (void)book_inline(c->ledger, c->batch[i]);
}

static void *committer_main(void *argument)
{
    struct ledger_committer *c = argument;
    pthread_mutex_lock(&c->mutex);
    for (;;) {
        while (c->queue_count == 0 && !c->stopping)
            pthread_cond_wait(&c->wake, &c->mutex);
        if (c->queue_count == 0 && c->stopping)
            break;
        gather(c);
        size_t count = 0;
        while (c->queue_count > 0 && count < LEDGER_BATCH_MAX) {
            c->batch[count++] = c->queue[c->queue_start];
            c->queue_start = (c->queue_start + 1) % LEDGER_QUEUE_MAX;
            c->queue_count--;
        }
        /* Up at once, down by a quarter a batch: one batch cut short by the
         * deadline does not undo what the load showed. */
        c->expected = count > c->expected * 3 / 4 ? count : c->expected * 3 / 4;
        pthread_mutex_unlock(&c->mutex);
        struct ledger_committer_stats stats = {0};
        commit_batch(c, count, &stats);
        pthread_mutex_lock(&c->mutex);
        c->stats.batches += stats.batches;
        c->stats.requests += (int64_t)count;
        c->stats.busy_us += stats.busy_us;
        c->stats.book_us += stats.book_us;
        c->stats.reconnects += stats.reconnects;
        for (size_t i = 0; i < count; i++) {
            struct pending *pending = c->batch[i]->booking_waiter;
            pending->done = true;
            pthread_cond_signal(&pending->finished);
        }
    }
    pthread_mutex_unlock(&c->mutex);
    return NULL;
}

enum ledger_err ledger_committer_start(struct ledger_committer **out,
                                       const struct ledger_config *config, char *detail,
                                       size_t detail_size)
{
    char ignored[1];
    if (detail == NULL) {
        detail = ignored;
        detail_size = sizeof ignored;
    }
    detail[0] = '\0';
    struct ledger_committer *c = calloc(1, sizeof *c);
    if (c == NULL)
        return LEDGER_ERR_NOMEM;
    enum ledger_err err = ledger_open(&c->ledger, config, detail, detail_size);
    if (err != LEDGER_OK)
        goto fail;
    if (!c->ledger->has_signer) {
        snprintf(detail, detail_size, "no signing key: the committer books signed entries");
        err = LEDGER_ERR_CRYPTO;
        goto fail;
    }
    c->queue = calloc(LEDGER_QUEUE_MAX, sizeof *c->queue);
    if (c->queue == NULL) {
        err = LEDGER_ERR_NOMEM;
        goto fail;
    }
    pthread_mutex_init(&c->mutex, NULL);
    /* gather() waits against the monotonic clock. */
    pthread_condattr_t wake_attributes;
    pthread_condattr_init(&wake_attributes);
    pthread_condattr_setclock(&wake_attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&c->wake, &wake_attributes);
    pthread_condattr_destroy(&wake_attributes);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->mutex);
        err = LEDGER_ERR_NOMEM;
        goto fail;
    }
    *out = c;
    return LEDGER_OK;
fail:
    free(c->queue);
    ledger_close(c->ledger);
    free(c);
    return err;
}

void ledger_committer_stop(struct ledger_committer *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mutex);
    c->stopping = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->mutex);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->mutex);
    free(c->queue);
    ledger_close(c->ledger);
    free(c);
}

void ledger_committer_stats(struct ledger_committer *c, struct ledger_committer_stats *stats)
{
    pthread_mutex_lock(&c->mutex);
    *stats = c->stats;
    pthread_mutex_unlock(&c->mutex);
}

void ledger_attach_committer(struct ledger *ledger, struct ledger_committer *committer)
{
    ledger->committer = committer;
}

static enum ledger_err book_through_committer(struct ledger_committer *c,
                                              struct ledger_booking_request *request)
{
    struct pending pending = {.done = false};
    if (pthread_cond_init(&pending.finished, NULL) != 0) {
        request->err = LEDGER_ERR_NOMEM;
        return LEDGER_ERR_NOMEM;
    }
    request->booking_waiter = &pending;
    pthread_mutex_lock(&c->mutex);
    if (c->queue_count >= LEDGER_QUEUE_MAX || c->stopping) {
        request->err = LEDGER_ERR_RETRY;
        pending.done = true;
    } else {
        c->queue[(c->queue_start + c->queue_count) % LEDGER_QUEUE_MAX] = request;
        c->queue_count++;
        pthread_cond_signal(&c->wake);
    }
    while (!pending.done)
        pthread_cond_wait(&pending.finished, &c->mutex);
    pthread_mutex_unlock(&c->mutex);
    pthread_cond_destroy(&pending.finished);
    return request->err;
}

enum ledger_err ledger_booking_replay_hash(struct ledger *ledger, struct ledger_booking *booking)
{
    char seq_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[1] = {ledger_int64_text(seq_text, booking->seq)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT hash FROM entries WHERE seq = $1", 1, params);
    if (result == NULL)
        return LEDGER_ERR_DB;
    enum ledger_err err = PQntuples(result) == 1
                              ? ledger_db_bytea(booking->hash, LEDGER_HASH_SIZE, result, 0, 0)
                              : LEDGER_ERR_DB;
    PQclear(result);
    return err;
}

enum ledger_err ledger_book(struct ledger *ledger, struct ledger_booking_request *request)
{
    request->err = LEDGER_ERR_DB;
    if (ledger->committer == NULL && !ledger->has_signer) {
        ledger_set_detail(ledger, "no signing key configured: cannot book");
        return LEDGER_ERR_CRYPTO;
    }
    if (ledger->committer != NULL)
        (void)book_through_committer(ledger->committer, request);
    else
        (void)book_inline(ledger, request);
    if (request->err == LEDGER_OK && request->booking.replayed)
        request->err = ledger_booking_replay_hash(ledger, &request->booking);
    if (request->err != LEDGER_OK && ledger->detail[0] == '\0')
        ledger_set_detail(ledger, "%s", ledger_err_message(request->err));
    return request->err;
}

/* ---- many entries in the caller's transaction ---- */

/* Books one chunk (at most LEDGER_BATCH_MAX) sealed onto the locked head;
 * on a refusal *failed_index is the chunk's 0-based index of the first
 * refused request. */
static enum ledger_err book_chunk(struct ledger *ledger, struct batch *batch, size_t *failed_index)
{
    for (size_t i = 0; i < batch->count; i++)
        batch->state[i] = SLOT_PENDING;
    enum ledger_err err = seal_pending(ledger, batch);
    if (err != LEDGER_OK)
        return err;
    for (size_t i = 0; i < batch->count; i++)
        if (batch->state[i] != SLOT_SEALED) {
            *failed_index = i;
            return batch->requests[i]->err;
        }
    if ((err = ledger_db_settle(ledger)) != LEDGER_OK)
        return err;
    struct batch_params params;
    if (!batch_params_build(&params, batch))
        return LEDGER_ERR_NOMEM;
    PGresult *result = PQexecParams(ledger->conn, BOOK_BATCH_SQL, BATCH_PARAMS_COUNT, params.types,
                                    params.values, params.lengths, params.formats, 0);
    batch_params_free(&params);
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        err = ledger_db_error(ledger, result);
        PQclear(result);
        return err;
    }
    if (PQntuples(result) != 1) {
        err = LEDGER_ERR_DB;
    } else if (!PQgetisnull(result, 0, 0)) {
        int64_t failed = ledger_db_int64(result, 0, 0);
        const char *code = PQgetvalue(result, 0, 1);
        *failed_index = failed >= 1 ? (size_t)failed - 1 : 0;
        bool replay = strcmp(code, "replay") == 0 && failed >= 1 && (size_t)failed <= batch->count;
        if (replay) {
            struct ledger_booking *first = &batch->requests[*failed_index]->booking;
            first->replayed = true;
            first->seq = ledger_db_int64(result, 0, 2);
            first->object_id = ledger_db_int64(result, 0, 3);
        }
        err = replay || strcmp(code, "idempotency_conflict") == 0 ? LEDGER_ERR_IDEMPOTENCY_CONFLICT
                                                                  : book_code_err(code);
        ledger_set_detail(ledger, "entry %zu of the set refused: %s", *failed_index + 1, code);
    } else {
        mark_booked(batch);
    }
    PQclear(result);
    return err;
}

enum ledger_err ledger_book_in_transaction(struct ledger *ledger,
                                           struct ledger_booking_request **requests, size_t count,
                                           size_t *failed_index)
{
    *failed_index = 0;
    if (!ledger->has_signer) {
        ledger_set_detail(ledger, "no signing key configured: cannot book");
        return LEDGER_ERR_CRYPTO;
    }
    struct batch batch;
    memset(&batch, 0, sizeof batch);
    PGresult *result =
        ledger_db_exec(ledger, PGRES_TUPLES_OK, "SELECT seq, hash FROM cl_chain_lock()", 0, NULL);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    batch.head_seq = ledger_db_int64(result, 0, 0);
    enum ledger_err err = ledger_db_bytea(batch.head_hash, LEDGER_HASH_SIZE, result, 0, 1);
    PQclear(result);
    for (size_t offset = 0; err == LEDGER_OK && offset < count; offset += LEDGER_BATCH_MAX) {
        batch.requests = requests + offset;
        batch.count = count - offset < LEDGER_BATCH_MAX ? count - offset : LEDGER_BATCH_MAX;
        batch.head_known = true;
        batch.locked = true;
        size_t chunk_failed = 0;
        err = book_chunk(ledger, &batch, &chunk_failed);
        if (err != LEDGER_OK)
            *failed_index = offset + chunk_failed;
    }
    return err;
}

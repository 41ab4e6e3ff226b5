/* Booking sealed entries: inline (one transaction per entry) or through the
 * committer (many entries per transaction, pipelined: group commit).
 *
 * In both paths a transaction first locks the chain head
 * (cl_chain_lock), seals each entry onto the head it holds, and books it
 * with cl_book, which checks the current state and either books the entry
 * whole or changes nothing and says why. Bookings are therefore serialized
 * on the head across all processes, and a batch pays for one commit. */
#include "ledger_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOOK_PARAMS_COUNT 22
#define ARRAY_TEXT_SIZE (LEDGER_POSTINGS_MAX * (LEDGER_INT64_TEXT_SIZE + 1) + 3)

static const char book_sql[] =
    "SELECT code, booked_seq, object_id FROM cl_book($1, $2::bytea, $3, $4, $5, $6, $7::date, "
    "$8, $9, $10, $11::bytea, $12::bytea, $13::bigint[], $14::bigint[], $15::text[], $16, $17, "
    "$18::bytea, $19, $20, $21, $22)";
static const char book_statement[] = "cl_book";

/* The text parameters of one cl_book call. */
struct book_params {
    char seq[LEDGER_INT64_TEXT_SIZE];
    char prev_hash[2 * LEDGER_HASH_SIZE + 3];
    char created_at[LEDGER_INT64_TEXT_SIZE];
    char reverses[LEDGER_INT64_TEXT_SIZE];
    char value_date[LEDGER_DATE_TEXT_SIZE];
    char hash[2 * LEDGER_HASH_SIZE + 3];
    char signature[2 * LEDGER_SIGNATURE_SIZE + 3];
    char accounts[ARRAY_TEXT_SIZE];
    char amounts[ARRAY_TEXT_SIZE];
    char currencies[LEDGER_POSTINGS_MAX * 4 + 3];
    char request_hash[2 * LEDGER_HASH_SIZE + 3];
    char object_id[LEDGER_INT64_TEXT_SIZE];
    char disbursement_id[LEDGER_INT64_TEXT_SIZE];
    const char *values[BOOK_PARAMS_COUNT];
};

struct ledger_committer {
    struct ledger *ledger; /* owns: its own connection and signer */
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t finished;
    struct ledger_booking_request **queue; /* ring of LEDGER_QUEUE_MAX */
    size_t queue_start;
    size_t queue_count;
    bool stopping;
    /* the batch being worked on (committer thread only) */
    struct ledger_booking_request *batch[LEDGER_BATCH_MAX];
    bool batch_done[LEDGER_BATCH_MAX];
    struct book_params *params; /* LEDGER_BATCH_MAX of them */
};

/* Each request's completion flag lives beside it, guarded by the mutex. */
struct pending {
    struct ledger_booking_request *request;
    bool done;
};

static void array_text(char *out, size_t size, const struct ledger_entry *entry, int which)
{
    size_t used = 0;
    out[used++] = '{';
    for (size_t i = 0; i < entry->postings_count; i++) {
        const struct ledger_posting *posting = &entry->postings[i];
        int written;
        if (which == 0)
            written = snprintf(out + used, size - used, "%s%lld", i ? "," : "",
                               (long long)posting->account_id);
        else if (which == 1)
            written = snprintf(out + used, size - used, "%s%lld", i ? "," : "",
                               (long long)posting->amount_minor);
        else
            written = snprintf(out + used, size - used, "%s%s", i ? "," : "", posting->currency);
        assert(written > 0 && (size_t)written < size - used);
        used += (size_t)written;
    }
    out[used++] = '}';
    out[used] = '\0';
}

static void book_params_fill(struct book_params *p, const struct ledger_booking_request *request)
{
    const struct ledger_entry *entry = &request->entry;
    const char **v = p->values;
    v[0] = ledger_int64_text(p->seq, entry->seq);
    v[1] = ledger_bytea_text(p->prev_hash, entry->prev_hash, LEDGER_HASH_SIZE);
    v[2] = entry->kind;
    v[3] = ledger_int64_text(p->created_at, entry->created_at_us);
    v[4] = entry->actor;
    v[5] = entry->reverses_seq ? ledger_int64_text(p->reverses, entry->reverses_seq) : NULL;
    v[6] = entry->value_date_days != LEDGER_VALUE_DATE_NONE
               ? ledger_date_text(p->value_date, entry->value_date_days)
               : NULL;
    v[7] = entry->bank_ref;
    v[8] = entry->memo;
    v[9] = entry->key_id;
    v[10] = ledger_bytea_text(p->hash, entry->hash, LEDGER_HASH_SIZE);
    v[11] = ledger_bytea_text(p->signature, entry->signature, LEDGER_SIGNATURE_SIZE);
    array_text(p->accounts, sizeof p->accounts, entry, 0);
    array_text(p->amounts, sizeof p->amounts, entry, 1);
    array_text(p->currencies, sizeof p->currencies, entry, 2);
    v[12] = p->accounts;
    v[13] = p->amounts;
    v[14] = p->currencies;
    v[15] = request->idempotency_key;
    v[16] = request->operation;
    v[17] = ledger_bytea_text(p->request_hash, request->request_hash, LEDGER_HASH_SIZE);
    v[18] = request->object_id ? ledger_int64_text(p->object_id, request->object_id) : NULL;
    v[19] = request->disbursement_id
                ? ledger_int64_text(p->disbursement_id, request->disbursement_id)
                : NULL;
    v[20] = request->disbursement_from;
    v[21] = request->disbursement_to;
}

static enum ledger_err prepare_book(struct ledger *ledger)
{
    if (ledger->book_prepared)
        return LEDGER_OK;
    PGresult *result = PQprepare(ledger->conn, book_statement, book_sql, BOOK_PARAMS_COUNT, NULL);
    enum ledger_err err = LEDGER_OK;
    if (PQresultStatus(result) != PGRES_COMMAND_OK)
        err = ledger_db_error(ledger, result);
    else
        ledger->book_prepared = true;
    PQclear(result);
    return err;
}

static enum ledger_err lock_head(struct ledger *ledger, int64_t *seq,
                                 uint8_t hash[LEDGER_HASH_SIZE])
{
    PGresult *result =
        ledger_db_exec(ledger, PGRES_TUPLES_OK, "SELECT seq, hash FROM cl_chain_lock()", 0, NULL);
    if (result == NULL)
        return ledger_db_error(ledger, NULL) == LEDGER_ERR_RETRY ? LEDGER_ERR_RETRY : LEDGER_ERR_DB;
    enum ledger_err err = LEDGER_ERR_DB;
    if (PQntuples(result) == 1) {
        *seq = ledger_db_int64(result, 0, 0);
        err = ledger_db_bytea(hash, LEDGER_HASH_SIZE, result, 0, 1);
    }
    PQclear(result);
    return err;
}

static enum ledger_err seal(struct ledger *ledger, struct ledger_booking_request *request,
                            int64_t head_seq, const uint8_t head_hash[LEDGER_HASH_SIZE])
{
    struct ledger_entry *entry = &request->entry;
    entry->seq = head_seq + 1;
    entry->created_at_us = ledger_now_us();
    assert(ledger_entry_balanced(entry));
    return ledger_entry_seal(entry, head_hash, &ledger->signer);
}

/* Maps cl_book's answer into the request; true when it booked. */
static bool book_outcome(struct ledger_booking_request *request, const PGresult *result)
{
    const char *code = PQgetvalue(result, 0, 0);
    static const struct {
        const char *code;
        enum ledger_err err;
    } codes[] = {
        {"ok", LEDGER_OK},
        {"replay", LEDGER_OK},
        {"idempotency_conflict", LEDGER_ERR_IDEMPOTENCY_CONFLICT},
        {"stale", LEDGER_ERR_RETRY},
        {"unknown_account", LEDGER_ERR_UNKNOWN_ACCOUNT},
        {"currency_mismatch", LEDGER_ERR_CURRENCY_MISMATCH},
        {"account_closed", LEDGER_ERR_CLOSED},
        {"account_frozen", LEDGER_ERR_FROZEN},
        {"insufficient_funds", LEDGER_ERR_INSUFFICIENT},
        {"already_reversed", LEDGER_ERR_ALREADY_REVERSED},
        {"unknown_disbursement", LEDGER_ERR_UNKNOWN_DISBURSEMENT},
        {"bad_state", LEDGER_ERR_BAD_STATE},
        {"same_user", LEDGER_ERR_SAME_USER},
    };
    request->err = LEDGER_ERR_DB;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(code, codes[i].code) == 0)
            request->err = codes[i].err;
    request->booking.replayed = strcmp(code, "replay") == 0;
    request->booking.seq = ledger_db_int64(result, 0, 1);
    request->booking.object_id = ledger_db_int64(result, 0, 2);
    bool booked = strcmp(code, "ok") == 0;
    if (booked)
        memcpy(request->booking.hash, request->entry.hash, LEDGER_HASH_SIZE);
    return booked;
}

/* One entry, one transaction, on the handle's own connection. */
static enum ledger_err book_inline_once(struct ledger *ledger,
                                        struct ledger_booking_request *request)
{
    int64_t head_seq = 0;
    uint8_t head_hash[LEDGER_HASH_SIZE];
    struct book_params params;
    enum ledger_err err = prepare_book(ledger);
    if (err == LEDGER_OK)
        err = ledger_db_begin(ledger);
    if (err != LEDGER_OK)
        return err;
    if ((err = lock_head(ledger, &head_seq, head_hash)) != LEDGER_OK ||
        (err = seal(ledger, request, head_seq, head_hash)) != LEDGER_OK)
        goto rollback;
    book_params_fill(&params, request);
    PGresult *result = PQexecPrepared(ledger->conn, book_statement, BOOK_PARAMS_COUNT,
                                      params.values, NULL, NULL, 0);
    if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1) {
        err = ledger_db_error(ledger, result);
        PQclear(result);
        goto rollback;
    }
    bool booked = book_outcome(request, result);
    PQclear(result);
    if (!booked) {
        ledger_db_rollback(ledger);
        return request->err;
    }
    if ((err = ledger_db_commit(ledger)) != LEDGER_OK)
        goto rollback;
    return LEDGER_OK;
rollback:
    ledger_db_rollback(ledger);
    request->err = err;
    return err;
}

static enum ledger_err book_inline(struct ledger *ledger, struct ledger_booking_request *request)
{
    enum ledger_err err = LEDGER_ERR_RETRY;
    for (int attempt = 0; attempt < LEDGER_RETRY_MAX && err == LEDGER_ERR_RETRY; attempt++)
        err = book_inline_once(ledger, request);
    request->err = err;
    return err;
}

/* ---- the committer ---- */

/* Sends cl_book for requests [from, count) not done yet, sealed in a chain
 * from the given head, and reads the answers. Returns LEDGER_OK when every
 * answer came back (some may be stale: the caller runs another round), or
 * the error of a failed statement (the transaction is then aborted). */
static enum ledger_err pipeline_round(struct ledger_committer *c, size_t count, int64_t *head_seq,
                                      uint8_t head_hash[LEDGER_HASH_SIZE], size_t *stale_count)
{
    struct ledger *ledger = c->ledger;
    int64_t seq = *head_seq;
    uint8_t hash[LEDGER_HASH_SIZE];
    memcpy(hash, head_hash, LEDGER_HASH_SIZE);
    size_t sent[LEDGER_BATCH_MAX];
    size_t sent_count = 0;
    enum ledger_err err = LEDGER_OK;
    if (PQenterPipelineMode(ledger->conn) != 1)
        return LEDGER_ERR_DB;
    for (size_t i = 0; i < count; i++) {
        if (c->batch_done[i])
            continue;
        struct ledger_booking_request *request = c->batch[i];
        if ((err = seal(ledger, request, seq, hash)) != LEDGER_OK) {
            request->err = err;
            c->batch_done[i] = true;
            continue;
        }
        seq = request->entry.seq;
        memcpy(hash, request->entry.hash, LEDGER_HASH_SIZE);
        book_params_fill(&c->params[i], request);
        if (PQsendQueryPrepared(ledger->conn, book_statement, BOOK_PARAMS_COUNT,
                                c->params[i].values, NULL, NULL, 0) != 1) {
            err = LEDGER_ERR_DB;
            break;
        }
        sent[sent_count++] = i;
    }
    if (PQpipelineSync(ledger->conn) != 1)
        err = LEDGER_ERR_DB;
    *stale_count = 0;
    for (size_t k = 0; k < sent_count; k++) {
        PGresult *result = PQgetResult(ledger->conn);
        if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1 && err == LEDGER_OK) {
            struct ledger_booking_request *request = c->batch[sent[k]];
            if (book_outcome(request, result)) {
                *head_seq = request->entry.seq;
                memcpy(head_hash, request->entry.hash, LEDGER_HASH_SIZE);
                c->batch_done[sent[k]] = true;
            } else if (request->err == LEDGER_ERR_RETRY) {
                (*stale_count)++; /* follows a refused entry: reseal next round */
            } else {
                c->batch_done[sent[k]] = true;
            }
        } else if (err == LEDGER_OK) {
            err = ledger_db_error(ledger, result);
        }
        PQclear(result);
        PQclear(PQgetResult(ledger->conn)); /* the NULL that ends each query */
    }
    PGresult *sync = PQgetResult(ledger->conn); /* PGRES_PIPELINE_SYNC */
    PQclear(sync);
    PQexitPipelineMode(ledger->conn);
    return err;
}

/* Books c->batch[0..count) in one transaction. false: the transaction
 * failed as a whole and nothing of it was booked. */
static bool commit_batch(struct ledger_committer *c, size_t count)
{
    struct ledger *ledger = c->ledger;
    int64_t head_seq = 0;
    uint8_t head_hash[LEDGER_HASH_SIZE];
    memset(c->batch_done, 0, sizeof c->batch_done);
    if (ledger_db_begin(ledger) != LEDGER_OK)
        return false;
    if (lock_head(ledger, &head_seq, head_hash) != LEDGER_OK)
        goto fail;
    size_t stale_count = count;
    for (int round = 0; stale_count > 0; round++) {
        if (round >= LEDGER_RETRY_MAX * 64 ||
            pipeline_round(c, count, &head_seq, head_hash, &stale_count) != LEDGER_OK)
            goto fail;
    }
    if (ledger_db_commit(ledger) != LEDGER_OK)
        goto fail;
    return true;
fail:
    ledger_db_rollback(ledger);
    return false;
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
        size_t count = 0;
        while (c->queue_count > 0 && count < LEDGER_BATCH_MAX) {
            c->batch[count++] = c->queue[c->queue_start];
            c->queue_start = (c->queue_start + 1) % LEDGER_QUEUE_MAX;
            c->queue_count--;
        }
        pthread_mutex_unlock(&c->mutex);
        if (!commit_batch(c, count)) {
            /* Isolate the request that broke the batch: one by one. */
            for (size_t i = 0; i < count; i++)
                (void)book_inline(c->ledger, c->batch[i]);
        }
        pthread_mutex_lock(&c->mutex);
        for (size_t i = 0; i < count; i++)
            ((struct pending *)c->batch[i]->booking_waiter)->done = true;
        pthread_cond_broadcast(&c->finished);
    }
    pthread_mutex_unlock(&c->mutex);
    return NULL;
}

enum ledger_err ledger_committer_start(struct ledger_committer **out,
                                       const struct ledger_config *config)
{
    struct ledger_committer *c = calloc(1, sizeof *c);
    if (c == NULL)
        return LEDGER_ERR_NOMEM;
    char detail[LEDGER_DETAIL_SIZE];
    enum ledger_err err = ledger_open(&c->ledger, config, detail, sizeof detail);
    if (err != LEDGER_OK)
        goto fail;
    if (!c->ledger->has_signer || (err = prepare_book(c->ledger)) != LEDGER_OK) {
        err = err != LEDGER_OK ? err : LEDGER_ERR_CRYPTO;
        goto fail;
    }
    c->queue = calloc(LEDGER_QUEUE_MAX, sizeof *c->queue);
    c->params = calloc(LEDGER_BATCH_MAX, sizeof *c->params);
    if (c->queue == NULL || c->params == NULL) {
        err = LEDGER_ERR_NOMEM;
        goto fail;
    }
    pthread_mutex_init(&c->mutex, NULL);
    pthread_cond_init(&c->wake, NULL);
    pthread_cond_init(&c->finished, NULL);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        err = LEDGER_ERR_NOMEM;
        goto fail_thread;
    }
    *out = c;
    return LEDGER_OK;
fail_thread:
    pthread_cond_destroy(&c->finished);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->mutex);
fail:
    free(c->params);
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
    pthread_cond_destroy(&c->finished);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->mutex);
    free(c->params);
    free(c->queue);
    ledger_close(c->ledger);
    free(c);
}

void ledger_attach_committer(struct ledger *ledger, struct ledger_committer *committer)
{
    ledger->committer = committer;
}

static enum ledger_err book_through_committer(struct ledger_committer *c,
                                              struct ledger_booking_request *request)
{
    struct pending pending = {request, false};
    request->booking_waiter = &pending;
    pthread_mutex_lock(&c->mutex);
    if (c->queue_count >= LEDGER_QUEUE_MAX || c->stopping) {
        pthread_mutex_unlock(&c->mutex);
        return LEDGER_ERR_RETRY;
    }
    c->queue[(c->queue_start + c->queue_count) % LEDGER_QUEUE_MAX] = request;
    c->queue_count++;
    pthread_cond_signal(&c->wake);
    while (!pending.done)
        pthread_cond_wait(&c->finished, &c->mutex);
    pthread_mutex_unlock(&c->mutex);
    return request->err;
}

static enum ledger_err fill_replay(struct ledger *ledger, struct ledger_booking_request *request)
{
    char seq_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[1] = {ledger_int64_text(seq_text, request->booking.seq)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT hash FROM entries WHERE seq = $1", 1, params);
    if (result == NULL)
        return LEDGER_ERR_DB;
    enum ledger_err err = PQntuples(result) == 1
                              ? ledger_db_bytea(request->booking.hash, LEDGER_HASH_SIZE, result, 0, 0)
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
        request->err = fill_replay(ledger, request);
    if (request->err != LEDGER_OK && ledger->detail[0] == '\0')
        ledger_set_detail(ledger, "%s", ledger_err_message(request->err));
    return request->err;
}

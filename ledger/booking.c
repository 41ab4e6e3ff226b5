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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

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
    pthread_cond_t finished;
    struct ledger_booking_request **queue; /* ring of LEDGER_QUEUE_MAX */
    size_t queue_start;
    size_t queue_count;
    bool stopping;
    struct ledger_booking_request *batch[LEDGER_BATCH_MAX]; /* committer thread only */
    struct head_belief head;                                  /* committer thread only */
    struct ledger_committer_stats stats;                      /* guarded by mutex */
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
};

static enum ledger_err book_code_err(const char *code)
{
    for (size_t i = 0; i < sizeof book_codes / sizeof book_codes[0]; i++)
        if (strcmp(code, book_codes[i].code) == 0)
            return book_codes[i].err;
    return LEDGER_ERR_DB;
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
                       batch->requests[i]->idempotency_key) == 0)
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

static json_t *hex_json(const uint8_t *bytes, size_t size)
{
    char text[2 * LEDGER_SIGNATURE_SIZE + 1];
    assert(size <= LEDGER_SIGNATURE_SIZE);
    ledger_to_hex(text, bytes, size);
    return json_string(text);
}

static json_t *optional_int(int64_t value)
{
    return value ? json_integer((json_int_t)value) : json_null();
}

static void roles_text(char *out, size_t size, unsigned roles)
{
    size_t used = 0;
    out[0] = '\0';
    for (unsigned role = 1; role <= LEDGER_ROLE_BANK; role <<= 1) {
        if ((roles & role) == 0)
            continue;
        int written = snprintf(out + used, size - used, "%s%s", used ? "," : "",
                               ledger_role_name(role));
        if (written < 0 || (size_t)written >= size - used)
            return;
        used += (size_t)written;
    }
}

static json_t *entry_json(size_t index, const struct ledger_booking_request *request)
{
    const struct ledger_entry *entry = &request->entry;
    char roles[64];
    roles_text(roles, sizeof roles, request->allowed_roles);
    char date[LEDGER_DATE_TEXT_SIZE];
    json_t *value_date = entry->value_date_days == LEDGER_VALUE_DATE_NONE
                             ? json_null()
                             : json_string(ledger_date_text(date, entry->value_date_days));
    return json_pack(
        "{s:I, s:I, s:s, s:I, s:s, s:o, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:o, s:o, "
        "s:o, s:s?, s:s?, s:s}",
        "i", (json_int_t)index, "seq", (json_int_t)entry->seq, "kind", entry->kind,
        "created_at_us", (json_int_t)entry->created_at_us, "actor", entry->actor, "reverses_seq",
        optional_int(entry->reverses_seq), "value_date", value_date, "bank_ref", entry->bank_ref,
        "memo", entry->memo, "key_id", entry->key_id, "prev_hash",
        hex_json(entry->prev_hash, LEDGER_HASH_SIZE), "hash",
        hex_json(entry->hash, LEDGER_HASH_SIZE), "signature",
        hex_json(entry->signature, LEDGER_SIGNATURE_SIZE), "idem_key", request->idempotency_key,
        "idem_op", request->operation, "idem_hash",
        hex_json(request->request_hash, LEDGER_HASH_SIZE), "object_id",
        optional_int(request->object_id), "disbursement_id",
        optional_int(request->disbursement_id), "disbursement_from", request->disbursement_from,
        "disbursement_to", request->disbursement_to, "roles", roles);
}

/* The cl_book_batch document for the sealed requests; index i is 1-based
 * over batch->requests. */
static char *batch_document(const struct batch *batch)
{
    json_t *entries = json_array();
    json_t *postings = json_array();
    for (size_t i = 0; i < batch->count; i++) {
        if (batch->state[i] != SLOT_SEALED)
            continue;
        const struct ledger_booking_request *request = batch->requests[i];
        json_array_append_new(entries, entry_json(i + 1, request));
        for (size_t p = 0; p < request->entry.postings_count; p++) {
            const struct ledger_posting *posting = &request->entry.postings[p];
            json_array_append_new(postings,
                                  json_pack("{s:I, s:I, s:I, s:I, s:s}", "i", (json_int_t)(i + 1),
                                            "o", (json_int_t)p, "a",
                                            (json_int_t)posting->account_id, "m",
                                            (json_int_t)posting->amount_minor, "c",
                                            posting->currency));
        }
    }
    json_t *document = json_pack("{s:I, s:o, s:o, s:o}", "head_seq", (json_int_t)batch->head_seq,
                                 "head_hash", hex_json(batch->head_hash, LEDGER_HASH_SIZE),
                                 "entries", entries, "postings", postings);
    char *text = document ? json_dumps(document, JSON_COMPACT) : NULL;
    json_decref(document);
    return text;
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

/* Sends the statements in one pipeline (one round trip) and collects one
 * result per statement (the caller clears them). A statement after a
 * failed one comes back PGRES_PIPELINE_ABORTED. */
#define PIPELINE_MAX 3
static enum ledger_err pipeline(struct ledger *ledger, size_t count, const char *const *sql,
                                const char *const *param, PGresult **results)
{
    assert(count <= PIPELINE_MAX);
    enum ledger_err err = LEDGER_OK;
    if (PQenterPipelineMode(ledger->conn) != 1)
        return LEDGER_ERR_DB;
    size_t sent = 0;
    for (; sent < count; sent++)
        if (PQsendQueryParams(ledger->conn, sql[sent], param[sent] ? 1 : 0, NULL, &param[sent],
                              NULL, NULL, 0) != 1)
            break;
    if (sent < count || PQpipelineSync(ledger->conn) != 1)
        err = LEDGER_ERR_DB;
    for (size_t i = 0; i < count; i++)
        results[i] = NULL;
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
    if (PQexitPipelineMode(ledger->conn) != 1)
        err = LEDGER_ERR_DB;
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
    const char *sql[2] = {"BEGIN", "SELECT seq, hash FROM cl_chain_lock()"};
    const char *param[2] = {NULL, NULL};
    PGresult *results[2];
    enum ledger_err err = pipeline(ledger, 2, sql, param, results);
    if (err == LEDGER_OK && !(result_ok(results[0]) && result_ok(results[1]) &&
                              PQntuples(results[1]) == 1))
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
    char *document = batch_document(batch);
    if (document == NULL)
        return LEDGER_ERR_NOMEM;
    const char *sql[3] = {"BEGIN",
                          "SELECT failed_index, code, replay_seq, replay_object_id "
                          "FROM cl_book_batch($1::jsonb)",
                          "COMMIT"};
    const char *param[3] = {NULL, document, NULL};
    size_t first = batch->locked ? 1 : 0;
    PGresult *results[3] = {NULL, NULL, NULL};
    int64_t started_us = ledger_now_us();
    enum ledger_err err = pipeline(ledger, 3 - first, sql + first, param + first, results + first);
    batch->book_us += ledger_now_us() - started_us;
    batch->locked = false;
    free(document);
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

struct pending {
    bool done;
};

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
        enum ledger_err err = LEDGER_OK;
        struct ledger_committer_stats stats = {0};
        if (!book_batch(c->ledger, c->batch, count, &err, &stats, &c->head)) {
            /* Isolate whatever broke the round: one transaction each for the
             * requests it left unbooked. */
            for (size_t i = 0; i < count; i++)
                if (c->batch[i]->err == err)
                    (void)book_inline(c->ledger, c->batch[i]);
        }
        pthread_mutex_lock(&c->mutex);
        c->stats.batches += stats.batches;
        c->stats.requests += (int64_t)count;
        c->stats.busy_us += stats.busy_us;
        c->stats.book_us += stats.book_us;
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
    if (!c->ledger->has_signer) {
        err = LEDGER_ERR_CRYPTO;
        goto fail;
    }
    c->queue = calloc(LEDGER_QUEUE_MAX, sizeof *c->queue);
    if (c->queue == NULL) {
        err = LEDGER_ERR_NOMEM;
        goto fail;
    }
    pthread_mutex_init(&c->mutex, NULL);
    pthread_cond_init(&c->wake, NULL);
    pthread_cond_init(&c->finished, NULL);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        pthread_cond_destroy(&c->finished);
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
    pthread_cond_destroy(&c->finished);
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
    struct pending pending = {false};
    request->booking_waiter = &pending;
    pthread_mutex_lock(&c->mutex);
    if (c->queue_count >= LEDGER_QUEUE_MAX || c->stopping) {
        pthread_mutex_unlock(&c->mutex);
        request->err = LEDGER_ERR_RETRY;
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
    enum ledger_err err =
        PQntuples(result) == 1
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

/* ---- many entries in the caller's transaction ---- */

/* Books one chunk (at most LEDGER_BATCH_MAX) sealed onto the locked head;
 * on a refusal *failed_index is the chunk's 0-based index of the first
 * refused request. */
static enum ledger_err book_chunk(struct ledger *ledger, struct batch *batch,
                                  size_t *failed_index)
{
    for (size_t i = 0; i < batch->count; i++)
        batch->state[i] = SLOT_PENDING;
    enum ledger_err err = seal_pending(ledger, batch);
    for (size_t i = 0; err == LEDGER_OK && i < batch->count; i++)
        if (batch->state[i] != SLOT_SEALED) {
            *failed_index = i;
            return batch->requests[i]->err;
        }
    char *document = batch_document(batch);
    if (document == NULL)
        return LEDGER_ERR_NOMEM;
    const char *params[1] = {document};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT failed_index, code FROM cl_book_batch($1::jsonb)",
                                      1, params);
    free(document);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    if (PQntuples(result) != 1) {
        err = LEDGER_ERR_DB;
    } else if (!PQgetisnull(result, 0, 0)) {
        int64_t failed = ledger_db_int64(result, 0, 0);
        const char *code = PQgetvalue(result, 0, 1);
        *failed_index = failed >= 1 ? (size_t)failed - 1 : 0;
        err = strcmp(code, "replay") == 0 || strcmp(code, "idempotency_conflict") == 0
                  ? LEDGER_ERR_IDEMPOTENCY_CONFLICT
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
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT seq, hash FROM cl_chain_lock()", 0, NULL);
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

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
};

/* A booking request's progress through one batch. */
enum slot_state { SLOT_PENDING, SLOT_DEFERRED, SLOT_SEALED, SLOT_DONE };

struct batch {
    struct ledger_booking_request **requests;
    size_t count;
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

static enum ledger_err lock_head(struct ledger *ledger, struct batch *batch)
{
    PGresult *result =
        ledger_db_exec(ledger, PGRES_TUPLES_OK, "SELECT seq, hash FROM cl_chain_lock()", 0, NULL);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_ERR_DB;
    if (PQntuples(result) == 1) {
        batch->head_seq = ledger_db_int64(result, 0, 0);
        err = ledger_db_bytea(batch->head_hash, LEDGER_HASH_SIZE, result, 0, 1);
    }
    PQclear(result);
    return err;
}

static void resolve(struct batch *batch, size_t index, enum ledger_err err)
{
    batch->requests[index]->err = err;
    batch->state[index] = SLOT_DONE;
}

/* Answers the requests whose idempotency key is already recorded (replay or
 * conflict) and defers a second request with a key the batch already
 * carries (it is answered as a replay in the next round). */
static enum ledger_err answer_known_keys(struct ledger *ledger, struct batch *batch)
{
    json_t *keys = json_array();
    for (size_t i = 0; i < batch->count; i++) {
        if (batch->state[i] == SLOT_DONE)
            continue;
        batch->state[i] = SLOT_PENDING;
        json_array_append_new(keys, json_string(batch->requests[i]->idempotency_key));
    }
    char *keys_text = json_dumps(keys, JSON_COMPACT);
    json_decref(keys);
    if (keys_text == NULL)
        return LEDGER_ERR_NOMEM;
    const char *params[1] = {keys_text};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT key, request_hash, entry_seq, object_id FROM idempotency "
        "WHERE key IN (SELECT jsonb_array_elements_text($1::jsonb))",
        1, params);
    free(keys_text);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    int rows = PQntuples(result);
    for (size_t i = 0; i < batch->count; i++) {
        struct ledger_booking_request *request = batch->requests[i];
        if (batch->state[i] == SLOT_DONE)
            continue;
        for (int row = 0; row < rows; row++) {
            if (strcmp(PQgetvalue(result, row, 0), request->idempotency_key) != 0)
                continue;
            uint8_t stored[LEDGER_HASH_SIZE];
            if (ledger_db_bytea(stored, sizeof stored, result, row, 1) != LEDGER_OK ||
                sodium_memcmp(stored, request->request_hash, LEDGER_HASH_SIZE) != 0) {
                resolve(batch, i, LEDGER_ERR_IDEMPOTENCY_CONFLICT);
            } else {
                request->booking.replayed = true;
                request->booking.seq = ledger_db_int64(result, row, 2);
                request->booking.object_id = ledger_db_int64(result, row, 3);
                resolve(batch, i, LEDGER_OK);
            }
        }
        for (size_t earlier = 0; earlier < i && batch->state[i] == SLOT_PENDING; earlier++)
            if (batch->state[earlier] == SLOT_PENDING &&
                strcmp(batch->requests[earlier]->idempotency_key, request->idempotency_key) == 0)
                batch->state[i] = SLOT_DEFERRED;
    }
    PQclear(result);
    return LEDGER_OK;
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

/* Books the sealed requests. *booked is true when all of them were booked;
 * else the first refused one is resolved with its error. */
static enum ledger_err book_sealed(struct ledger *ledger, struct batch *batch, bool *booked)
{
    char *document = batch_document(batch);
    if (document == NULL)
        return LEDGER_ERR_NOMEM;
    const char *params[1] = {document};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT failed_index, code FROM cl_book_batch($1::jsonb)", 1,
                                      params);
    free(document);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    *booked = PQgetisnull(result, 0, 0);
    if (!*booked) {
        int64_t failed = ledger_db_int64(result, 0, 0);
        const char *code = PQgetvalue(result, 0, 1);
        if (strcmp(code, "stale") == 0 || failed < 1 || (size_t)failed > batch->count)
            err = LEDGER_ERR_RETRY; /* we hold the head: cannot happen; start over */
        else
            resolve(batch, (size_t)failed - 1, book_code_err(code));
    }
    PQclear(result);
    return err;
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

/* Inside an open transaction: resolves every request of the batch. An
 * error means the transaction must be rolled back and nothing of it
 * counts. */
static enum ledger_err book_in_transaction(struct ledger *ledger, struct batch *batch)
{
    enum ledger_err err = lock_head(ledger, batch);
    /* Each round resolves at least one request. */
    for (size_t round = 0; err == LEDGER_OK && !batch_finished(batch); round++) {
        if (round > batch->count) {
            err = LEDGER_ERR_RETRY;
            break;
        }
        bool booked = false;
        if ((err = answer_known_keys(ledger, batch)) != LEDGER_OK ||
            (err = seal_pending(ledger, batch)) != LEDGER_OK)
            break;
        bool any_sealed = false;
        for (size_t i = 0; i < batch->count; i++)
            any_sealed = any_sealed || batch->state[i] == SLOT_SEALED;
        if (!any_sealed)
            continue;
        err = book_sealed(ledger, batch, &booked);
        if (err == LEDGER_OK && booked)
            mark_booked(batch);
    }
    return err;
}

/* One transaction for the whole batch. false: it failed as a whole and
 * nothing of it was booked. */
static bool book_batch(struct ledger *ledger, struct ledger_booking_request **requests,
                       size_t count, enum ledger_err *err_out)
{
    struct batch batch;
    memset(&batch, 0, sizeof batch);
    batch.requests = requests;
    batch.count = count;
    for (size_t i = 0; i < count; i++) {
        requests[i]->err = LEDGER_ERR_DB;
        requests[i]->booking.replayed = false;
    }
    enum ledger_err err = ledger_db_begin(ledger);
    if (err == LEDGER_OK)
        err = book_in_transaction(ledger, &batch);
    if (err == LEDGER_OK)
        err = ledger_db_commit(ledger);
    if (err != LEDGER_OK)
        ledger_db_rollback(ledger);
    *err_out = err;
    return err == LEDGER_OK;
}

static enum ledger_err book_inline(struct ledger *ledger, struct ledger_booking_request *request)
{
    enum ledger_err err = LEDGER_ERR_RETRY;
    for (int attempt = 0; attempt < LEDGER_RETRY_MAX; attempt++) {
        if (book_batch(ledger, &request, 1, &err))
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
        if (!book_batch(c->ledger, c->batch, count, &err)) {
            /* Isolate whatever broke the batch: one transaction each. */
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

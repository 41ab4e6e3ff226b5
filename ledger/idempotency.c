/* Request digests and idempotency records. */
#include "ledger_internal.h"

#include <string.h>

void ledger_request_hash_init(struct ledger_request_hash *hash, const char *operation)
{
    crypto_generichash_init(&hash->state, NULL, 0, LEDGER_HASH_SIZE);
    ledger_request_hash_text(hash, operation);
}

void ledger_request_hash_text(struct ledger_request_hash *hash, const char *text)
{
    /* A NULL field and an empty one differ: marker byte, length, bytes. */
    uint8_t header[9] = {0};
    size_t length = text ? strlen(text) : 0;
    header[0] = text ? 1 : 0;
    for (int i = 0; i < 8; i++)
        header[1 + i] = (uint8_t)((uint64_t)length >> (56 - 8 * i));
    crypto_generichash_update(&hash->state, header, sizeof header);
    if (length > 0)
        crypto_generichash_update(&hash->state, (const unsigned char *)text, length);
}

void ledger_request_hash_int64(struct ledger_request_hash *hash, int64_t value)
{
    uint8_t bytes[9];
    bytes[0] = 2;
    for (int i = 0; i < 8; i++)
        bytes[1 + i] = (uint8_t)((uint64_t)value >> (56 - 8 * i));
    crypto_generichash_update(&hash->state, bytes, sizeof bytes);
}

void ledger_request_hash_final(struct ledger_request_hash *hash, uint8_t out[LEDGER_HASH_SIZE])
{
    crypto_generichash_final(&hash->state, out, LEDGER_HASH_SIZE);
}

enum ledger_err ledger_idempotency_key_check(const char *key)
{
    if (key == NULL)
        return LEDGER_ERR_INVALID_ARGUMENT;
    size_t length = strlen(key);
    if (length < 1 || length > LEDGER_IDEMPOTENCY_KEY_MAX)
        return LEDGER_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < length; i++)
        if (key[i] < 0x21 || key[i] > 0x7e)
            return LEDGER_ERR_INVALID_ARGUMENT;
    return LEDGER_OK;
}

enum ledger_err ledger_idempotency_find(struct ledger *ledger, const char *owner, const char *key,
                                        const uint8_t request_hash[LEDGER_HASH_SIZE], bool *found,
                                        int64_t *entry_seq, int64_t *object_id)
{
    const char *params[2] = {key, owner};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT request_hash, entry_seq, object_id FROM idempotency WHERE key = $1 AND owner = $2",
        2, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    *found = PQntuples(result) == 1;
    if (*found) {
        uint8_t stored[LEDGER_HASH_SIZE];
        err = ledger_db_bytea(stored, sizeof stored, result, 0, 0);
        if (err == LEDGER_OK && sodium_memcmp(stored, request_hash, LEDGER_HASH_SIZE) != 0) {
            ledger_set_detail(ledger, "idempotency key was used for another request");
            err = LEDGER_ERR_IDEMPOTENCY_CONFLICT;
        }
        *entry_seq = ledger_db_int64(result, 0, 1);
        *object_id = ledger_db_int64(result, 0, 2);
    }
    PQclear(result);
    return err;
}

enum ledger_err ledger_idempotency_store(struct ledger *ledger, const char *owner, const char *key,
                                         const char *operation,
                                         const uint8_t request_hash[LEDGER_HASH_SIZE],
                                         int64_t entry_seq, int64_t object_id)
{
    char hash_text[2 * LEDGER_HASH_SIZE + 3];
    char seq_text[LEDGER_INT64_TEXT_SIZE];
    char object_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[6] = {key,
                             operation,
                             ledger_bytea_text(hash_text, request_hash, LEDGER_HASH_SIZE),
                             entry_seq ? ledger_int64_text(seq_text, entry_seq) : NULL,
                             object_id ? ledger_int64_text(object_text, object_id) : NULL,
                             owner};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_COMMAND_OK,
        "INSERT INTO idempotency (key, operation, request_hash, entry_seq, object_id, owner) "
        "VALUES ($1, $2, $3::bytea, $4, $5, $6)",
        6, params);
    if (result == NULL)
        return LEDGER_ERR_RETRY; /* a concurrent twin won: the caller retries and replays */
    PQclear(result);
    return LEDGER_OK;
}

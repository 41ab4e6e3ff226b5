/* Failure counters for applicant status lookups (see server_internal.h).
 *
 * A table of API_RATE_SLOTS entries in buckets of API_RATE_BUCKET_SLOTS.
 * A key is known by its keyed BLAKE2b digest (128 bits: two keys never
 * share one in practice, and a client cannot aim at a bucket without the
 * key); its bucket is the digest modulo the buckets. A check only looks:
 * it never takes or changes an entry. A failure updates the key's entry,
 * or takes a free or expired one of its bucket, and only when the bucket
 * is full of live entries the one whose last failure is oldest. */
#include "server_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

_Static_assert(API_RATE_SLOTS % API_RATE_BUCKET_SLOTS == 0, "whole buckets");
_Static_assert(API_RATE_DIGEST_SIZE >= crypto_generichash_BYTES_MIN, "a BLAKE2b digest size");
_Static_assert(sizeof(((struct api_rate_limiter *)0)->hash_key) >= crypto_generichash_KEYBYTES_MIN,
               "a BLAKE2b key size");

int64_t api_rate_now_s(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec;
}

bool api_rate_init(struct api_rate_limiter *limiter, size_t slots_count)
{
    memset(limiter, 0, sizeof *limiter);
    if (slots_count < API_RATE_BUCKET_SLOTS || slots_count % API_RATE_BUCKET_SLOTS != 0)
        return false;
    limiter->entries = calloc(slots_count, sizeof *limiter->entries);
    if (limiter->entries == NULL)
        return false;
    limiter->buckets_count = slots_count / API_RATE_BUCKET_SLOTS;
    pthread_mutex_init(&limiter->mutex, NULL);
    randombytes_buf(limiter->hash_key, sizeof limiter->hash_key);
    return true;
}

void api_rate_destroy(struct api_rate_limiter *limiter)
{
    if (limiter->entries == NULL)
        return;
    pthread_mutex_destroy(&limiter->mutex);
    free(limiter->entries);
    limiter->entries = NULL;
}

static void key_digest(const struct api_rate_limiter *limiter, const char *key,
                       uint8_t digest[API_RATE_DIGEST_SIZE])
{
    crypto_generichash(digest, API_RATE_DIGEST_SIZE, (const unsigned char *)key, strlen(key),
                       limiter->hash_key, sizeof limiter->hash_key);
}

static size_t bucket_index(const struct api_rate_limiter *limiter,
                           const uint8_t digest[API_RATE_DIGEST_SIZE])
{
    uint64_t value = 0;
    for (size_t i = 0; i < sizeof value; i++)
        value = (value << 8) | digest[i];
    return (size_t)(value % limiter->buckets_count);
}

size_t api_rate_bucket_of(const struct api_rate_limiter *limiter, const char *key)
{
    uint8_t digest[API_RATE_DIGEST_SIZE];
    key_digest(limiter, key, digest);
    return bucket_index(limiter, digest);
}

/* The bucket of key; its digest into digest. */
static struct api_rate_entry *bucket_entries(struct api_rate_limiter *limiter, const char *key,
                                             uint8_t digest[API_RATE_DIGEST_SIZE])
{
    key_digest(limiter, key, digest);
    return &limiter->entries[bucket_index(limiter, digest) * API_RATE_BUCKET_SLOTS];
}

static bool expired(const struct api_rate_entry *entry, int64_t now_s)
{
    return !entry->used || now_s >= entry->expires_s;
}

/* The live entry of key in its bucket, or NULL. Under the mutex. */
static struct api_rate_entry *entry_find(struct api_rate_entry *bucket,
                                         const uint8_t digest[API_RATE_DIGEST_SIZE], int64_t now_s)
{
    for (size_t i = 0; i < API_RATE_BUCKET_SLOTS; i++)
        if (!expired(&bucket[i], now_s) &&
            memcmp(bucket[i].key_digest, digest, API_RATE_DIGEST_SIZE) == 0)
            return &bucket[i];
    return NULL;
}

/* The entry of key, or a fresh one in its place: a free or expired entry
 * of the bucket, else the least recent. Under the mutex. */
static struct api_rate_entry *entry_take(struct api_rate_entry *bucket,
                                         const uint8_t digest[API_RATE_DIGEST_SIZE], int64_t now_s)
{
    struct api_rate_entry *found = entry_find(bucket, digest, now_s);
    if (found != NULL)
        return found;
    struct api_rate_entry *taken = &bucket[0];
    for (size_t i = 0; i < API_RATE_BUCKET_SLOTS; i++) {
        if (expired(&bucket[i], now_s)) {
            taken = &bucket[i];
            break;
        }
        if (bucket[i].last_failure_s < taken->last_failure_s)
            taken = &bucket[i];
    }
    memset(taken, 0, sizeof *taken);
    memcpy(taken->key_digest, digest, API_RATE_DIGEST_SIZE);
    taken->used = true;
    taken->window_start_s = now_s;
    return taken;
}

bool api_rate_allowed(struct api_rate_limiter *limiter, const char *key, int64_t now_s,
                      int64_t *retry_after_s)
{
    uint8_t digest[API_RATE_DIGEST_SIZE];
    struct api_rate_entry *bucket = bucket_entries(limiter, key, digest);
    pthread_mutex_lock(&limiter->mutex);
    const struct api_rate_entry *entry = entry_find(bucket, digest, now_s);
    int64_t blocked_until_s = entry != NULL ? entry->blocked_until_s : 0;
    pthread_mutex_unlock(&limiter->mutex);
    bool allowed = now_s >= blocked_until_s;
    *retry_after_s = allowed ? 0 : blocked_until_s - now_s;
    return allowed;
}

/* The lock after failures (at least rule->failures_max of them). */
static int64_t backoff_s(const struct api_rate_rule *rule, uint32_t failures)
{
    assert(failures >= rule->failures_max);
    uint32_t doublings = failures - rule->failures_max;
    int64_t lock_s = rule->backoff_s;
    for (uint32_t i = 0; i < doublings && lock_s < rule->backoff_max_s; i++)
        lock_s *= 2;
    return lock_s < rule->backoff_max_s ? lock_s : rule->backoff_max_s;
}

void api_rate_failed(struct api_rate_limiter *limiter, const char *key,
                     const struct api_rate_rule *rule, int64_t now_s)
{
    uint8_t digest[API_RATE_DIGEST_SIZE];
    struct api_rate_entry *bucket = bucket_entries(limiter, key, digest);
    pthread_mutex_lock(&limiter->mutex);
    struct api_rate_entry *entry = entry_take(bucket, digest, now_s);
    if (entry->failures < UINT32_MAX)
        entry->failures++;
    entry->last_failure_s = now_s;
    if (rule->backoff_s == 0) { /* a fixed window: locked to its end */
        entry->expires_s = entry->window_start_s + rule->window_s;
        if (entry->failures >= rule->failures_max)
            entry->blocked_until_s = entry->expires_s;
    } else { /* locks that double; forgotten a window after the last */
        if (entry->failures >= rule->failures_max)
            entry->blocked_until_s = now_s + backoff_s(rule, entry->failures);
        entry->expires_s =
            (entry->blocked_until_s > now_s ? entry->blocked_until_s : now_s) + rule->window_s;
    }
    pthread_mutex_unlock(&limiter->mutex);
}

/* Failure counters in fixed windows, for applicant status lookups: per
 * client address and per case. A bounded table: a key hashes to one slot
 * (keyed BLAKE2b, so a client cannot aim at another's slot); a colliding
 * newer key takes the slot over. */
#include "server_internal.h"

#include <string.h>
#include <time.h>

#include <sodium.h>

static int64_t now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec;
}

void api_rate_init(struct api_rate_limiter *limiter)
{
    memset(limiter, 0, sizeof *limiter);
    pthread_mutex_init(&limiter->mutex, NULL);
    randombytes_buf(limiter->hash_key, sizeof limiter->hash_key);
}

void api_rate_destroy(struct api_rate_limiter *limiter)
{
    pthread_mutex_destroy(&limiter->mutex);
}

static uint64_t key_hash(const struct api_rate_limiter *limiter, const char *key)
{
    uint8_t digest[8];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)key, strlen(key),
                       limiter->hash_key, sizeof limiter->hash_key);
    uint64_t value = 0;
    for (size_t i = 0; i < sizeof digest; i++)
        value = (value << 8) | digest[i];
    return value | 1; /* 0 marks an empty slot */
}

/* The slot of key in the current window (reset when stale or taken over). */
static struct api_rate_slot *slot_of(struct api_rate_limiter *limiter, uint64_t hash, int64_t now,
                                     int64_t window_s)
{
    struct api_rate_slot *slot = &limiter->slots[hash % API_RATE_SLOTS];
    if (slot->key_hash != hash || now - slot->window_start_s >= window_s) {
        slot->key_hash = hash;
        slot->window_start_s = now;
        slot->failures = 0;
    }
    return slot;
}

bool api_rate_allowed(struct api_rate_limiter *limiter, const char *key, uint32_t limit,
                      int64_t window_s, int64_t *retry_after_s)
{
    uint64_t hash = key_hash(limiter, key);
    int64_t now = now_seconds();
    pthread_mutex_lock(&limiter->mutex);
    struct api_rate_slot *slot = slot_of(limiter, hash, now, window_s);
    bool allowed = slot->failures < limit;
    *retry_after_s = allowed ? 0 : slot->window_start_s + window_s - now;
    pthread_mutex_unlock(&limiter->mutex);
    if (*retry_after_s < 1 && !allowed)
        *retry_after_s = 1;
    return allowed;
}

void api_rate_failed(struct api_rate_limiter *limiter, const char *key, int64_t window_s)
{
    uint64_t hash = key_hash(limiter, key);
    int64_t now = now_seconds();
    pthread_mutex_lock(&limiter->mutex);
    struct api_rate_slot *slot = slot_of(limiter, hash, now, window_s);
    if (slot->failures < UINT32_MAX)
        slot->failures++;
    pthread_mutex_unlock(&limiter->mutex);
}

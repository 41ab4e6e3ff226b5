/* The handle's lookup cache (see ledger_internal.h). */
#include "ledger_internal.h"

#include <stdio.h>
#include <string.h>

static size_t slot_of(const char *key)
{
    uint64_t hash = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)key; *c; c++)
        hash = (hash ^ *c) * 1099511628211ULL;
    return (size_t)(hash % LEDGER_CACHE_SLOTS);
}

bool ledger_cache_get(struct ledger *ledger, const char *key, int64_t max_age_us, int64_t *value,
                      char currency[LEDGER_CURRENCY_SIZE], char text[LEDGER_CASE_NO_MAX + 1])
{
    const struct ledger_cache_slot *slot = &ledger->cache[slot_of(key)];
    if (!slot->used || strcmp(slot->key, key) != 0)
        return false;
    if (max_age_us > 0 && ledger_now_us() - slot->stored_at_us > max_age_us)
        return false;
    if (value != NULL)
        *value = slot->value;
    if (currency != NULL)
        memcpy(currency, slot->currency, LEDGER_CURRENCY_SIZE);
    if (text != NULL)
        memcpy(text, slot->text, sizeof slot->text);
    return true;
}

void ledger_cache_put(struct ledger *ledger, const char *key, int64_t value, const char *currency,
                      const char *text)
{
    if (strlen(key) >= LEDGER_CACHE_KEY_MAX)
        return;
    struct ledger_cache_slot *slot = &ledger->cache[slot_of(key)];
    slot->used = true;
    snprintf(slot->key, sizeof slot->key, "%s", key);
    slot->value = value;
    snprintf(slot->currency, sizeof slot->currency, "%s", currency ? currency : "");
    snprintf(slot->text, sizeof slot->text, "%s", text ? text : "");
    slot->stored_at_us = ledger_now_us();
}

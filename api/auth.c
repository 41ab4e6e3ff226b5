/* Bearer tokens: a token's user and role, cached by the token's hash for a
 * moment (API_TOKEN_CACHE_US) so that a request does not always cost a
 * query; a disabled user is refused within that time. */
#include "server_internal.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

static int64_t now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

enum ledger_err api_auth_token(struct api_server *server, struct ledger *ledger,
                               const char *authorization, char user[LEDGER_NAME_MAX + 1],
                               unsigned *role)
{
    static const char prefix[] = "Bearer ";
    /* The scheme name is case-insensitive (RFC 9110). */
    if (strncasecmp(authorization, prefix, sizeof prefix - 1) != 0)
        return LEDGER_ERR_UNKNOWN_USER;
    const char *token = authorization + sizeof prefix - 1;
    if (strlen(token) != 64)
        return LEDGER_ERR_UNKNOWN_USER;
    uint8_t hash[32];
    crypto_generichash(hash, sizeof hash, (const unsigned char *)token, 64, NULL, 0);
    struct api_token_entry *slot = &server->tokens[hash[0] % API_TOKEN_CACHE_SLOTS];
    int64_t now = now_us();
    pthread_mutex_lock(&server->token_mutex);
    bool hit = slot->used && sodium_memcmp(slot->token_hash, hash, sizeof hash) == 0 &&
               now - slot->stored_at_us < API_TOKEN_CACHE_US;
    if (hit) {
        memcpy(user, slot->user, LEDGER_NAME_MAX + 1);
        *role = slot->role;
    }
    pthread_mutex_unlock(&server->token_mutex);
    if (hit)
        return LEDGER_OK;
    enum ledger_err err = ledger_user_by_token(ledger, token, user, role);
    if (err != LEDGER_OK)
        return err;
    pthread_mutex_lock(&server->token_mutex);
    memcpy(slot->token_hash, hash, sizeof hash);
    memcpy(slot->user, user, LEDGER_NAME_MAX + 1);
    slot->role = *role;
    slot->stored_at_us = now;
    slot->used = true;
    pthread_mutex_unlock(&server->token_mutex);
    return LEDGER_OK;
}

/* Users, roles and bearer tokens. */
#include "ledger_internal.h"

#include <string.h>

static const struct {
    unsigned role;
    const char *name;
} role_names[] = {
    {LEDGER_ROLE_CLERK, "clerk"},     {LEDGER_ROLE_APPROVER, "approver"},
    {LEDGER_ROLE_AUDITOR, "auditor"}, {LEDGER_ROLE_ADMIN, "admin"},
    {LEDGER_ROLE_BANK, "bank"},
};

unsigned ledger_role_parse(const char *name)
{
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
        if (name != NULL && strcmp(name, role_names[i].name) == 0)
            return role_names[i].role;
    return 0;
}

const char *ledger_role_name(unsigned role)
{
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
        if (role == role_names[i].role)
            return role_names[i].name;
    return "unknown";
}

static void token_hash_text(char out[2 * LEDGER_HASH_SIZE + 3], const char *token)
{
    uint8_t digest[LEDGER_HASH_SIZE];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)token, strlen(token), NULL, 0);
    ledger_bytea_text(out, digest, sizeof digest);
}

enum ledger_err ledger_user_add(struct ledger *ledger, const char *name, unsigned role,
                                char token_out[LEDGER_TOKEN_SIZE])
{
    if (name == NULL || name[0] == '\0' || strlen(name) > LEDGER_NAME_MAX ||
        ledger_role_parse(ledger_role_name(role)) == 0) {
        ledger_set_detail(ledger, "a user needs a name (1..%d bytes) and a known role",
                          LEDGER_NAME_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    uint8_t secret[32];
    randombytes_buf(secret, sizeof secret);
    ledger_to_hex(token_out, secret, sizeof secret);
    sodium_memzero(secret, sizeof secret);
    char hash_text[2 * LEDGER_HASH_SIZE + 3];
    token_hash_text(hash_text, token_out);
    const char *params[3] = {name, ledger_role_name(role), hash_text};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_COMMAND_OK,
        "INSERT INTO users (name, role, token_hash) VALUES ($1, $2, $3::bytea)", 3, params);
    if (result == NULL) {
        sodium_memzero(token_out, LEDGER_TOKEN_SIZE);
        if (strstr(ledger_last_detail(ledger), "(42501)") != NULL) {
            ledger_set_detail(ledger, "users are added by the schema owner: connect with "
                                      "--owner-dsn or CASELEDGER_OWNER_DSN");
            return LEDGER_ERR_FORBIDDEN;
        }
        if (ledger_db_last_error(ledger) != LEDGER_ERR_BAD_STATE)
            return ledger_db_last_error(ledger);
        ledger_set_detail(ledger, "user %s exists already", name);
        return LEDGER_ERR_BAD_STATE;
    }
    PQclear(result);
    return LEDGER_OK;
}

enum ledger_err ledger_user_by_token(struct ledger *ledger, const char *token,
                                     char name_out[LEDGER_NAME_MAX + 1], unsigned *role_out)
{
    if (token == NULL || strlen(token) != 2 * 32)
        return LEDGER_ERR_UNKNOWN_USER;
    /* The lookup is by the token's hash: an index probe on a digest reveals
     * nothing usable about the token through timing. */
    char hash_text[2 * LEDGER_HASH_SIZE + 3];
    token_hash_text(hash_text, token);
    const char *params[1] = {hash_text};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT name, role, token_hash FROM users WHERE token_hash = $1::bytea AND NOT disabled", 1,
        params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_ERR_UNKNOWN_USER;
    if (PQntuples(result) == 1) {
        uint8_t stored[LEDGER_HASH_SIZE];
        uint8_t wanted[LEDGER_HASH_SIZE];
        if (ledger_db_bytea(stored, sizeof stored, result, 0, 2) == LEDGER_OK &&
            ledger_from_hex(wanted, sizeof wanted, hash_text + 2) == LEDGER_OK &&
            sodium_memcmp(stored, wanted, LEDGER_HASH_SIZE) == 0) {
            snprintf(name_out, LEDGER_NAME_MAX + 1, "%s", PQgetvalue(result, 0, 0));
            *role_out = ledger_role_parse(PQgetvalue(result, 0, 1));
            err = LEDGER_OK;
        }
    }
    PQclear(result);
    return err;
}

enum ledger_err ledger_actor_check(struct ledger *ledger, const char *actor, unsigned allowed_roles)
{
    if (actor == NULL || actor[0] == '\0') {
        ledger_set_detail(ledger, "no acting user given");
        return LEDGER_ERR_UNKNOWN_USER;
    }
    char key[LEDGER_CACHE_KEY_MAX];
    int64_t cached_role = 0;
    snprintf(key, sizeof key, "u:%s", actor);
    if (ledger_cache_get(ledger, key, LEDGER_ROLE_CACHE_US, &cached_role, NULL, NULL) &&
        ((unsigned)cached_role & allowed_roles) != 0)
        return LEDGER_OK; /* bookings are checked again by the database */
    const char *params[1] = {actor};
    PGresult *result =
        ledger_db_exec(ledger, PGRES_TUPLES_OK,
                       "SELECT role FROM users WHERE name = $1 AND NOT disabled", 1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "user %s does not exist or is disabled", actor);
        err = LEDGER_ERR_UNKNOWN_USER;
    } else if ((ledger_role_parse(PQgetvalue(result, 0, 0)) & allowed_roles) == 0) {
        ledger_set_detail(ledger, "user %s (role %s) may not do this", actor,
                          PQgetvalue(result, 0, 0));
        err = LEDGER_ERR_FORBIDDEN;
    } else {
        ledger_cache_put(ledger, key, ledger_role_parse(PQgetvalue(result, 0, 0)), NULL, NULL);
    }
    PQclear(result);
    return err;
}

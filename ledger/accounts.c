/* Accounts: custody bank accounts, system accounts, case accounts with
 * their pay-in numbers and access codes, and case status. */
#include "ledger_internal.h"

#include <stdio.h>
#include <string.h>

#include "money.h"
#include "payin.h"

#define PAYIN_BODY_BASE 80000000000000ULL /* bodies 8xxxxxxxxxxxxx */
static const char access_alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"; /* no 0/O, 1/I */
_Static_assert(sizeof access_alphabet - 1 == 32, "5 bits per access-code character");

/* ---- case numbers ---- */

/* Decodes one UTF-8 code point; returns its length or 0 when invalid. */
static size_t utf8_decode(const unsigned char *text, uint32_t *code_point)
{
    if (text[0] < 0x80) {
        *code_point = text[0];
        return 1;
    }
    size_t length = (text[0] & 0xE0) == 0xC0   ? 2
                    : (text[0] & 0xF0) == 0xE0 ? 3
                    : (text[0] & 0xF8) == 0xF0 ? 4
                                               : 0;
    if (length == 0)
        return 0;
    uint32_t value = text[0] & (0x7Fu >> length);
    for (size_t i = 1; i < length; i++) {
        if ((text[i] & 0xC0) != 0x80)
            return 0;
        value = (value << 6) | (text[i] & 0x3Fu);
    }
    static const uint32_t minimum[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (value < minimum[length] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
        return 0;
    *code_point = value;
    return length;
}

static size_t utf8_encode(char *out, uint32_t code_point)
{
    if (code_point < 0x80) {
        out[0] = (char)code_point;
        return 1;
    }
    if (code_point < 0x800) {
        out[0] = (char)(0xC0 | (code_point >> 6));
        out[1] = (char)(0x80 | (code_point & 0x3F));
        return 2;
    }
    if (code_point < 0x10000) {
        out[0] = (char)(0xE0 | (code_point >> 12));
        out[1] = (char)(0x80 | ((code_point >> 6) & 0x3F));
        out[2] = (char)(0x80 | (code_point & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (code_point >> 18));
    out[1] = (char)(0x80 | ((code_point >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((code_point >> 6) & 0x3F));
    out[3] = (char)(0x80 | (code_point & 0x3F));
    return 4;
}

/* Folds the forms people type for the same case number into one. */
static uint32_t case_no_fold(uint32_t c)
{
    if (c >= 0xFF01 && c <= 0xFF5E) /* full-width ASCII */
        c -= 0xFEE0;
    if (c == 0x3014 || c == 0x3010 || c == 0xFE5D || c == 0x2985 || c == 0x3016)
        c = '(';
    if (c == 0x3015 || c == 0x3011 || c == 0xFE5E || c == 0x2986 || c == 0x3017)
        c = ')';
    if (c == '[')
        c = '(';
    if (c == ']')
        c = ')';
    if (c >= 'a' && c <= 'z')
        c -= 'a' - 'A';
    return c;
}

enum ledger_err ledger_case_no_normalize(char *out, size_t size, const char *case_no)
{
    const unsigned char *in = (const unsigned char *)case_no;
    size_t in_length = strlen(case_no);
    if (in_length == 0 || in_length > LEDGER_CASE_NO_MAX || size < in_length + 1)
        return LEDGER_ERR_INVALID_ARGUMENT;
    size_t used = 0;
    for (size_t i = 0; i < in_length;) {
        uint32_t c = 0;
        size_t length = utf8_decode(in + i, &c);
        if (length == 0 || i + length > in_length || c < 0x20 || c == 0x7F)
            return LEDGER_ERR_INVALID_ARGUMENT;
        i += length;
        c = case_no_fold(c);
        if (c == ' ' || c == 0x3000 || c == 0xA0)
            continue;
        if (used + 4 >= size)
            return LEDGER_ERR_INVALID_ARGUMENT;
        used += utf8_encode(out + used, c);
    }
    if (used == 0)
        return LEDGER_ERR_INVALID_ARGUMENT;
    out[used] = '\0';
    return LEDGER_OK;
}

/* ---- access codes ---- */

static void access_code_generate(char out[LEDGER_ACCESS_CODE_TEXT_SIZE])
{
    size_t used = 0;
    for (int i = 0; i < LEDGER_ACCESS_CODE_CHARS; i++) {
        if (i > 0 && i % 4 == 0)
            out[used++] = '-';
        out[used++] = access_alphabet[randombytes_uniform(32)];
    }
    out[used] = '\0';
}

/* Keyed BLAKE2b of the normalized case number and the code's characters
 * (upper-cased, separators dropped). false when the code cannot be one. */
static bool access_code_hash(const struct ledger *ledger, uint8_t out[LEDGER_HASH_SIZE],
                             const char *case_no_norm, const char *code)
{
    char compact[LEDGER_ACCESS_CODE_CHARS + 1];
    size_t used = 0;
    for (size_t i = 0; code[i] != '\0' && i < 64; i++) {
        char c = code[i];
        if (c == '-' || c == ' ')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (used >= LEDGER_ACCESS_CODE_CHARS || strchr(access_alphabet, c) == NULL || c == '\0')
            return false;
        compact[used++] = c;
    }
    if (used != LEDGER_ACCESS_CODE_CHARS)
        return false;
    compact[used] = '\0';
    crypto_generichash_state state;
    crypto_generichash_init(&state, ledger->access_key, LEDGER_ACCESS_KEY_SIZE, LEDGER_HASH_SIZE);
    crypto_generichash_update(&state, (const unsigned char *)case_no_norm,
                              strlen(case_no_norm) + 1);
    crypto_generichash_update(&state, (const unsigned char *)compact, used);
    crypto_generichash_final(&state, out, LEDGER_HASH_SIZE);
    sodium_memzero(compact, sizeof compact);
    return true;
}

bool ledger_access_lookup_key(const struct ledger *ledger, char norm[LEDGER_CASE_NO_MAX * 2 + 1],
                              uint8_t hash[LEDGER_HASH_SIZE], const char *case_no,
                              const char *access_code)
{
    return ledger->has_access_key && case_no != NULL && access_code != NULL &&
           ledger_case_no_normalize(norm, LEDGER_CASE_NO_MAX * 2 + 1, case_no) == LEDGER_OK &&
           access_code_hash(ledger, hash, norm, access_code);
}

bool ledger_case_access_check(struct ledger *ledger, const char *case_no, const char *access_code)
{
    char norm[LEDGER_CASE_NO_MAX * 2 + 1];
    uint8_t wanted[LEDGER_HASH_SIZE];
    /* Unknown case and wrong code take the same path and the same answer. */
    if (!ledger_access_lookup_key(ledger, norm, wanted, case_no, access_code))
        return false;
    const char *params[1] = {norm};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT access_code_hash FROM accounts WHERE kind = 'case' AND case_no_norm = $1", 1,
        params);
    if (result == NULL)
        return false;
    uint8_t stored[LEDGER_HASH_SIZE];
    bool ok = PQntuples(result) == 1 && !PQgetisnull(result, 0, 0) &&
              ledger_db_bytea(stored, sizeof stored, result, 0, 0) == LEDGER_OK &&
              sodium_memcmp(stored, wanted, LEDGER_HASH_SIZE) == 0;
    PQclear(result);
    return ok;
}

/* ---- lookups ---- */

static void fill_account_ref(struct ledger_account_ref *account, const PGresult *result)
{
    account->id = ledger_db_int64(result, 0, 0);
    snprintf(account->kind, sizeof account->kind, "%s", PQgetvalue(result, 0, 1));
    snprintf(account->status, sizeof account->status, "%s", PQgetvalue(result, 0, 2));
    snprintf(account->currency, sizeof account->currency, "%s", PQgetvalue(result, 0, 3));
}

enum ledger_err ledger_case_find(struct ledger *ledger, const char *case_no,
                                 struct ledger_account_ref *account)
{
    char norm[LEDGER_CASE_NO_MAX * 2 + 1];
    if (case_no == NULL || ledger_case_no_normalize(norm, sizeof norm, case_no) != LEDGER_OK) {
        ledger_set_detail(ledger, "malformed case number");
        return LEDGER_ERR_UNKNOWN_CASE;
    }
    const char *params[1] = {norm};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT id, kind, status, currency FROM accounts "
                                      "WHERE kind = 'case' AND case_no_norm = $1",
                                      1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no case %s", case_no);
        err = LEDGER_ERR_UNKNOWN_CASE;
    } else {
        fill_account_ref(account, result);
    }
    PQclear(result);
    return err;
}

enum ledger_err ledger_case_account(struct ledger *ledger, const char *case_no,
                                    const char *payin_no, int64_t *account_id,
                                    char currency[LEDGER_CURRENCY_SIZE],
                                    char case_no_out[LEDGER_CASE_NO_MAX + 1])
{
    char lookup[LEDGER_CASE_NO_MAX * 2 + 1];
    char key[LEDGER_CACHE_KEY_MAX];
    if (payin_no != NULL) {
        if (ledger_payin_normalize(lookup, payin_no, strlen(payin_no)) != LEDGER_OK) {
            ledger_set_detail(ledger, "pay-in number is malformed or has a bad check digit");
            return LEDGER_ERR_INVALID_PAYIN;
        }
    } else if (case_no == NULL ||
               ledger_case_no_normalize(lookup, sizeof lookup, case_no) != LEDGER_OK) {
        ledger_set_detail(ledger, "malformed case number");
        return LEDGER_ERR_UNKNOWN_CASE;
    }
    snprintf(key, sizeof key, "%s:%s", payin_no ? "p" : "c", lookup);
    if (ledger_cache_get(ledger, key, 0, account_id, currency, case_no_out))
        return LEDGER_OK;
    const char *params[1] = {lookup};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        payin_no
            ? "SELECT id, currency, case_no FROM accounts WHERE kind = 'case' AND payin_no = $1"
            : "SELECT id, currency, case_no FROM accounts WHERE kind = 'case' AND case_no_norm = "
              "$1",
        1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no case with that %s", payin_no ? "pay-in number" : "number");
        err = LEDGER_ERR_UNKNOWN_CASE;
    } else {
        *account_id = ledger_db_int64(result, 0, 0);
        snprintf(currency, LEDGER_CURRENCY_SIZE, "%s", PQgetvalue(result, 0, 1));
        if (case_no_out != NULL)
            snprintf(case_no_out, LEDGER_CASE_NO_MAX + 1, "%s", PQgetvalue(result, 0, 2));
        ledger_cache_put(ledger, key, *account_id, currency, PQgetvalue(result, 0, 2));
    }
    PQclear(result);
    return err;
}

enum ledger_err ledger_system_account(struct ledger *ledger, const char *kind, const char *currency,
                                      int64_t *account_id)
{
    char key[LEDGER_CACHE_KEY_MAX];
    snprintf(key, sizeof key, "s:%s:%s", kind, currency);
    if (ledger_cache_get(ledger, key, 0, account_id, NULL, NULL))
        return LEDGER_OK;
    const char *params[2] = {kind, currency};
    PGresult *result =
        ledger_db_exec(ledger, PGRES_TUPLES_OK,
                       "SELECT id FROM accounts WHERE kind = $1 AND currency = $2", 2, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no %s account in %s (run setup)", kind, currency);
        err = LEDGER_ERR_UNKNOWN_ACCOUNT;
    } else {
        *account_id = ledger_db_int64(result, 0, 0);
        ledger_cache_put(ledger, key, *account_id, currency, NULL);
    }
    PQclear(result);
    return err;
}

enum ledger_err ledger_bank_account(struct ledger *ledger, int64_t bank_account_id,
                                    const char *currency, int64_t *account_id)
{
    char key[LEDGER_CACHE_KEY_MAX];
    snprintf(key, sizeof key, "b:%lld:%s", (long long)bank_account_id, currency);
    if (ledger_cache_get(ledger, key, 0, account_id, NULL, NULL))
        return LEDGER_OK; /* a closed custody account is refused when booking */
    char id_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[2] = {bank_account_id ? ledger_int64_text(id_text, bank_account_id) : NULL,
                             currency};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT id, currency FROM accounts WHERE kind = 'bank' AND status <> 'closed' AND "
        "(CASE WHEN $1::bigint IS NULL THEN currency = $2 ELSE id = $1::bigint END) "
        "ORDER BY id LIMIT 1",
        2, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no custody bank account for %s", currency);
        err = LEDGER_ERR_UNKNOWN_ACCOUNT;
    } else if (strcmp(PQgetvalue(result, 0, 1), currency) != 0) {
        ledger_set_detail(ledger, "bank account currency is %s, not %s", PQgetvalue(result, 0, 1),
                          currency);
        err = LEDGER_ERR_CURRENCY_MISMATCH;
    } else {
        *account_id = ledger_db_int64(result, 0, 0);
        ledger_cache_put(ledger, key, *account_id, currency, NULL);
    }
    PQclear(result);
    return err;
}

enum ledger_err ledger_setup_bank_account(struct ledger *ledger, const char *account_no,
                                          const char *bank_name, const char *currency,
                                          int64_t *account_id_out)
{
    if (currency == NULL)
        currency = "CNY";
    if (account_no == NULL || account_no[0] == '\0' ||
        strlen(account_no) > LEDGER_BANK_ACCOUNT_MAX || !ledger_currency_valid(currency)) {
        ledger_set_detail(ledger, "a bank account needs an account number and a valid currency");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    const char *params[3] = {account_no, bank_name ? bank_name : "", currency};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "WITH bank AS (INSERT INTO accounts (kind, currency, bank_account_no, bank_name) "
        "  VALUES ('bank', $3, $1, $2) ON CONFLICT (bank_account_no) DO NOTHING RETURNING id, "
        "currency), "
        "sys AS (INSERT INTO accounts (kind, currency) "
        "  SELECT k, $3 FROM unnest(ARRAY['suspense', 'in_transit', 'fees', 'assistance', "
        "  'refund']) AS k ON CONFLICT (kind, currency) WHERE kind IN ('suspense', "
        "  'in_transit', 'fees', 'assistance', 'refund') DO NOTHING) "
        "SELECT id, currency FROM bank UNION ALL "
        "SELECT id, currency FROM accounts WHERE kind = 'bank' AND bank_account_no = $1",
        3, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) < 1) {
        err = LEDGER_ERR_DB;
    } else if (strcmp(PQgetvalue(result, 0, 1), currency) != 0) {
        ledger_set_detail(ledger, "bank account %s exists in another currency", account_no);
        err = LEDGER_ERR_CURRENCY_MISMATCH;
    } else if (account_id_out != NULL) {
        *account_id_out = ledger_db_int64(result, 0, 0);
    }
    PQclear(result);
    return err;
}

/* A change that is not a journal entry, made once under an idempotency key:
 * in one transaction, apply (which gives the object it made or changed) and
 * the key's record; or, when the key's first request was this one, its
 * object again without applying. Retried when a concurrent twin stored the
 * key first. */
typedef enum ledger_err (*keyed_apply)(struct ledger *ledger, const void *request,
                                       int64_t *object_id);

static enum ledger_err keyed_once(struct ledger *ledger, const char *owner,
                                  const char *idempotency_key, const char *operation,
                                  const uint8_t request_hash[LEDGER_HASH_SIZE], keyed_apply apply,
                                  const void *request, int64_t *object_id)
{
    bool found = false;
    int64_t seq = 0;
    enum ledger_err err;
    if ((err = ledger_db_begin(ledger)) != LEDGER_OK)
        return err;
    err = ledger_idempotency_find(ledger, owner, idempotency_key, request_hash, &found, &seq,
                                  object_id);
    if (err == LEDGER_OK && !found) {
        err = apply(ledger, request, object_id);
        if (err == LEDGER_OK)
            err = ledger_idempotency_store(ledger, owner, idempotency_key, operation, request_hash,
                                           0, *object_id);
    }
    if (err == LEDGER_OK)
        err = ledger_db_commit(ledger);
    if (err != LEDGER_OK)
        ledger_db_rollback(ledger);
    return err;
}

static enum ledger_err keyed(struct ledger *ledger, const char *owner, const char *idempotency_key,
                             const char *operation, const uint8_t request_hash[LEDGER_HASH_SIZE],
                             keyed_apply apply, const void *request, int64_t *object_id)
{
    enum ledger_err err = LEDGER_ERR_RETRY;
    for (int attempt = 0; attempt < LEDGER_RETRY_MAX && err == LEDGER_ERR_RETRY; attempt++)
        err = keyed_once(ledger, owner, idempotency_key, operation, request_hash, apply, request,
                         object_id);
    return err;
}

struct bank_account_request {
    const char *account_no, *bank_name, *currency;
};

static enum ledger_err apply_bank_account(struct ledger *ledger, const void *request,
                                          int64_t *account_id)
{
    const struct bank_account_request *r = request;
    return ledger_setup_bank_account(ledger, r->account_no, r->bank_name, r->currency, account_id);
}

enum ledger_err ledger_bank_account_create(struct ledger *ledger, const char *actor,
                                           const char *account_no, const char *bank_name,
                                           const char *currency, const char *idempotency_key,
                                           int64_t *account_id_out)
{
    if (ledger_idempotency_key_check(idempotency_key) != LEDGER_OK) {
        ledger_set_detail(ledger, "an idempotency key is 1-128 printable ASCII characters");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (currency == NULL)
        currency = "CNY";
    uint8_t request_hash[LEDGER_HASH_SIZE];
    struct ledger_request_hash hash;
    ledger_request_hash_init(&hash, "bank_account");
    ledger_request_hash_text(&hash, account_no ? account_no : "");
    ledger_request_hash_text(&hash, bank_name ? bank_name : "");
    ledger_request_hash_text(&hash, currency);
    ledger_request_hash_final(&hash, request_hash);
    const struct bank_account_request request = {account_no, bank_name, currency};
    return keyed(ledger, actor, idempotency_key, "bank_account", request_hash, apply_bank_account,
                 &request, account_id_out);
}

/* ---- case info ---- */

static const char case_info_sql[] =
    "SELECT a.id, a.case_no, a.payin_no, a.status, a.currency, -a.balance, "
    " coalesce((SELECT sum(d.amount) FROM disbursements d "
    "           WHERE d.account_id = a.id AND d.status = 'requested'), 0)::bigint, "
    " coalesce((SELECT -sum(p.amount) FROM postings p JOIN entries e ON e.seq = p.entry_seq "
    "           LEFT JOIN entries r ON r.seq = e.reverses_seq "
    "           WHERE p.account_id = a.id AND (e.kind IN ('receipt', 'assign') "
    "             OR (e.kind = 'reversal' AND r.kind IN ('receipt', 'assign')))), 0)::bigint, "
    " coalesce((SELECT sum(p.amount) FROM postings p JOIN entries e ON e.seq = p.entry_seq "
    "           WHERE p.account_id = a.id AND e.kind IN ('disbursement', 'return')), 0)::bigint "
    "FROM accounts a WHERE a.kind = 'case' AND ";

static enum ledger_err case_info_where(struct ledger *ledger, const char *where, const char *key,
                                       struct ledger_case_info *info)
{
    char sql[sizeof case_info_sql + 64];
    snprintf(sql, sizeof sql, "%s%s", case_info_sql, where);
    const char *params[1] = {key};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK, sql, 1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no such case");
        err = LEDGER_ERR_UNKNOWN_CASE;
    } else {
        memset(info, 0, sizeof *info);
        info->account_id = ledger_db_int64(result, 0, 0);
        snprintf(info->case_no, sizeof info->case_no, "%s", PQgetvalue(result, 0, 1));
        snprintf(info->payin_no, sizeof info->payin_no, "%s", PQgetvalue(result, 0, 2));
        snprintf(info->status, sizeof info->status, "%s", PQgetvalue(result, 0, 3));
        snprintf(info->currency, sizeof info->currency, "%s", PQgetvalue(result, 0, 4));
        info->held = ledger_db_int64(result, 0, 5);
        info->pending_out = ledger_db_int64(result, 0, 6);
        info->received_total = ledger_db_int64(result, 0, 7);
        info->disbursed_total = ledger_db_int64(result, 0, 8);
        if (ledger_money_sub(&info->available, info->held, info->pending_out) != LEDGER_OK)
            err = LEDGER_ERR_OVERFLOW;
    }
    PQclear(result);
    return err;
}

enum ledger_err ledger_case_info(struct ledger *ledger, const char *case_no,
                                 struct ledger_case_info *info)
{
    char norm[LEDGER_CASE_NO_MAX * 2 + 1];
    if (case_no == NULL || ledger_case_no_normalize(norm, sizeof norm, case_no) != LEDGER_OK) {
        ledger_set_detail(ledger, "malformed case number");
        return LEDGER_ERR_UNKNOWN_CASE;
    }
    return case_info_where(ledger, "a.case_no_norm = $1", norm, info);
}

enum ledger_err ledger_case_info_by_payin(struct ledger *ledger, const char *payin_no,
                                          struct ledger_case_info *info)
{
    if (payin_no == NULL || ledger_payin_check(payin_no, strlen(payin_no)) != LEDGER_OK) {
        ledger_set_detail(ledger, "pay-in number is malformed or has a bad check digit");
        return LEDGER_ERR_INVALID_PAYIN;
    }
    return case_info_where(ledger, "a.payin_no = $1", payin_no, info);
}

/* ---- opening a case ---- */

static enum ledger_err case_request_check(struct ledger *ledger,
                                          const struct ledger_case_request *request)
{
    if (request->case_no == NULL || request->court == NULL || request->court[0] == '\0' ||
        strlen(request->court) > LEDGER_COURT_MAX ||
        (request->title != NULL && strlen(request->title) > LEDGER_TITLE_MAX) ||
        (request->currency != NULL && !ledger_currency_valid(request->currency)) ||
        request->applicants_count > LEDGER_APPLICANTS_MAX ||
        (request->applicants_count > 0 && request->applicants == NULL)) {
        ledger_set_detail(ledger,
                          "a case needs a case number, a court (1..%d bytes), a valid "
                          "currency and at most %d applicants",
                          LEDGER_COURT_MAX, LEDGER_APPLICANTS_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < request->applicants_count; i++) {
        const struct ledger_applicant *applicant = &request->applicants[i];
        if (applicant->name == NULL || applicant->name[0] == '\0' ||
            strlen(applicant->name) > LEDGER_NAME_MAX ||
            (applicant->id_no && strlen(applicant->id_no) > LEDGER_NAME_MAX) ||
            (applicant->phone && strlen(applicant->phone) > LEDGER_NAME_MAX)) {
            ledger_set_detail(ledger, "applicant %zu needs a name of 1..%d bytes", i + 1,
                              LEDGER_NAME_MAX);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
    }
    return LEDGER_OK;
}

static void case_request_hash(const struct ledger_case_request *request,
                              uint8_t out[LEDGER_HASH_SIZE])
{
    struct ledger_request_hash hash;
    ledger_request_hash_init(&hash, "case_open");
    ledger_request_hash_text(&hash, request->case_no);
    ledger_request_hash_text(&hash, request->court);
    ledger_request_hash_text(&hash, request->title);
    ledger_request_hash_text(&hash, request->currency ? request->currency : "CNY");
    ledger_request_hash_int64(&hash, (int64_t)request->applicants_count);
    for (size_t i = 0; i < request->applicants_count; i++) {
        ledger_request_hash_text(&hash, request->applicants[i].name);
        ledger_request_hash_text(&hash, request->applicants[i].id_no);
        ledger_request_hash_text(&hash, request->applicants[i].phone);
    }
    ledger_request_hash_final(&hash, out);
}

static enum ledger_err payin_next(struct ledger *ledger, char payin[LEDGER_PAYIN_DIGITS + 1])
{
    PGresult *result =
        ledger_db_exec(ledger, PGRES_TUPLES_OK, "SELECT nextval('payin_body_seq')", 0, NULL);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    uint64_t body = PAYIN_BODY_BASE + (uint64_t)ledger_db_int64(result, 0, 0);
    PQclear(result);
    return ledger_payin_make(payin, body);
}

static enum ledger_err insert_case(struct ledger *ledger, const struct ledger_case_request *request,
                                   const char *norm, struct ledger_case_result *result_out)
{
    enum ledger_err err = payin_next(ledger, result_out->payin_no);
    if (err != LEDGER_OK)
        return err;
    uint8_t code_hash[LEDGER_HASH_SIZE];
    access_code_generate(result_out->access_code);
    if (!access_code_hash(ledger, code_hash, norm, result_out->access_code))
        return LEDGER_ERR_CRYPTO;
    char hash_text[2 * LEDGER_HASH_SIZE + 3];
    const char *params[7] = {request->case_no,
                             norm,
                             result_out->payin_no,
                             request->court,
                             request->title,
                             request->currency ? request->currency : "CNY",
                             ledger_bytea_text(hash_text, code_hash, sizeof code_hash)};
    PGresult *result = PQexecParams(
        ledger->conn,
        "INSERT INTO accounts (kind, case_no, case_no_norm, payin_no, court, title, currency, "
        "access_code_hash) VALUES ('case', $1, $2, $3, $4, $5, $6, $7::bytea) "
        "ON CONFLICT DO NOTHING RETURNING id",
        7, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        err = ledger_db_error(ledger, result);
    } else if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "case %s exists already", request->case_no);
        err = LEDGER_ERR_CASE_EXISTS;
    } else {
        result_out->account_id = ledger_db_int64(result, 0, 0);
    }
    PQclear(result);
    return err;
}

static enum ledger_err insert_applicants(struct ledger *ledger,
                                         const struct ledger_case_request *request,
                                         int64_t account_id)
{
    char id_text[LEDGER_INT64_TEXT_SIZE];
    ledger_int64_text(id_text, account_id);
    for (size_t i = 0; i < request->applicants_count; i++) {
        const struct ledger_applicant *applicant = &request->applicants[i];
        const char *params[4] = {id_text, applicant->name, applicant->id_no, applicant->phone};
        PGresult *result = ledger_db_exec(
            ledger, PGRES_COMMAND_OK,
            "INSERT INTO applicants (account_id, name, id_no, phone) VALUES ($1, $2, $3, $4)", 4,
            params);
        if (result == NULL)
            return ledger_db_last_error(ledger);
        PQclear(result);
    }
    return LEDGER_OK;
}

static enum ledger_err replay_case(struct ledger *ledger, int64_t account_id,
                                   struct ledger_case_result *result_out)
{
    char id_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[1] = {ledger_int64_text(id_text, account_id)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT payin_no FROM accounts WHERE id = $1", 1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = PQntuples(result) == 1 ? LEDGER_OK : LEDGER_ERR_DB;
    if (err == LEDGER_OK) {
        result_out->account_id = account_id;
        snprintf(result_out->payin_no, sizeof result_out->payin_no, "%s", PQgetvalue(result, 0, 0));
        result_out->access_code[0] = '\0';
        result_out->replayed = true;
    }
    PQclear(result);
    return err;
}

static enum ledger_err case_open_once(struct ledger *ledger, const char *actor,
                                      const struct ledger_case_request *request, const char *norm,
                                      const char *idempotency_key,
                                      const uint8_t request_hash[LEDGER_HASH_SIZE],
                                      struct ledger_case_result *result);

enum ledger_err ledger_case_open(struct ledger *ledger, const char *actor,
                                 const struct ledger_case_request *request,
                                 const char *idempotency_key, struct ledger_case_result *result)
{
    memset(result, 0, sizeof *result);
    char norm[LEDGER_CASE_NO_MAX * 2 + 1];
    enum ledger_err err = case_request_check(ledger, request);
    if (err != LEDGER_OK)
        return err;
    if (ledger_case_no_normalize(norm, sizeof norm, request->case_no) != LEDGER_OK) {
        ledger_set_detail(ledger, "case number must be 1..%d bytes of printable UTF-8",
                          LEDGER_CASE_NO_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (!ledger->has_access_key) {
        ledger_set_detail(ledger, "no access-code key configured");
        return LEDGER_ERR_CRYPTO;
    }
    if ((err = ledger_idempotency_key_check(idempotency_key)) != LEDGER_OK) {
        ledger_set_detail(ledger, "idempotency key must be 1..128 printable ASCII characters");
        return err;
    }
    if ((err = ledger_actor_check(ledger, actor, LEDGER_ROLE_CLERK | LEDGER_ROLE_ADMIN)) !=
        LEDGER_OK)
        return err;
    uint8_t request_hash[LEDGER_HASH_SIZE];
    case_request_hash(request, request_hash);
    /* Retried: deadlocks, and a concurrent twin of this key (whose commit
     * makes the retry a replay rather than "case exists"). */
    err = LEDGER_ERR_RETRY;
    for (int attempt = 0; attempt < LEDGER_RETRY_MAX; attempt++) {
        err = case_open_once(ledger, actor, request, norm, idempotency_key, request_hash, result);
        if (err != LEDGER_ERR_RETRY && !(err == LEDGER_ERR_CASE_EXISTS && attempt == 0))
            break;
    }
    return err;
}

static enum ledger_err case_open_once(struct ledger *ledger, const char *actor,
                                      const struct ledger_case_request *request, const char *norm,
                                      const char *idempotency_key,
                                      const uint8_t request_hash[LEDGER_HASH_SIZE],
                                      struct ledger_case_result *result)
{
    bool found = false;
    int64_t seq = 0;
    int64_t account_id = 0;
    enum ledger_err err;
    memset(result, 0, sizeof *result);
    if ((err = ledger_db_begin(ledger)) != LEDGER_OK)
        return err;
    err = ledger_idempotency_find(ledger, actor, idempotency_key, request_hash, &found, &seq,
                                  &account_id);
    if (err == LEDGER_OK && found) {
        err = replay_case(ledger, account_id, result);
    } else if (err == LEDGER_OK) {
        err = insert_case(ledger, request, norm, result);
        if (err == LEDGER_OK)
            err = insert_applicants(ledger, request, result->account_id);
        if (err == LEDGER_OK)
            err = ledger_idempotency_store(ledger, actor, idempotency_key, "case_open",
                                           request_hash, 0, result->account_id);
    }
    if (err == LEDGER_OK)
        err = ledger_db_commit(ledger);
    if (err != LEDGER_OK) {
        ledger_db_rollback(ledger);
        sodium_memzero(result->access_code, sizeof result->access_code);
    }
    return err;
}

/* ---- freeze, unfreeze, close ---- */

static const char *const action_names[] = {"freeze", "unfreeze", "close"};

static enum ledger_err apply_status(struct ledger *ledger, int64_t account_id,
                                    enum ledger_case_action action)
{
    char id_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[1] = {ledger_int64_text(id_text, account_id)};
    PGresult *result =
        ledger_db_exec(ledger, PGRES_TUPLES_OK,
                       "SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE", 1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    PQclear(result);
    /* A fresh snapshot after the lock: sees what its holders committed. */
    result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT status, balance, (SELECT count(*) FROM disbursements d WHERE d.account_id = a.id "
        "AND d.status IN ('requested', 'approved')) FROM accounts a WHERE id = $1",
        1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    const char *status = PQgetvalue(result, 0, 0);
    const char *next = NULL;
    enum ledger_err err = LEDGER_OK;
    if (strcmp(status, "closed") == 0) {
        err = LEDGER_ERR_CLOSED;
    } else if (action == LEDGER_CASE_FREEZE) {
        next = "frozen";
    } else if (action == LEDGER_CASE_UNFREEZE) {
        next = "open";
    } else if (ledger_db_int64(result, 0, 1) != 0 || ledger_db_int64(result, 0, 2) != 0) {
        ledger_set_detail(ledger, "case still holds money or has open disbursements");
        err = LEDGER_ERR_NOT_EMPTY;
    } else {
        next = "closed";
    }
    PQclear(result);
    if (err != LEDGER_OK)
        return err;
    const char *update_params[2] = {id_text, next};
    result = ledger_db_exec(ledger, PGRES_COMMAND_OK,
                            "UPDATE accounts SET status = $2 WHERE id = $1", 2, update_params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    PQclear(result);
    return LEDGER_OK;
}

struct status_request {
    int64_t account_id;
    enum ledger_case_action action;
};

static enum ledger_err apply_status_request(struct ledger *ledger, const void *request,
                                            int64_t *account_id)
{
    const struct status_request *r = request;
    *account_id = r->account_id;
    return apply_status(ledger, r->account_id, r->action);
}

enum ledger_err ledger_case_set_status(struct ledger *ledger, const char *actor,
                                       const char *case_no, enum ledger_case_action action,
                                       const char *idempotency_key)
{
    enum ledger_err err = ledger_idempotency_key_check(idempotency_key);
    if (err != LEDGER_OK || (unsigned)action > LEDGER_CASE_CLOSE)
        return LEDGER_ERR_INVALID_ARGUMENT;
    if ((err = ledger_actor_check(ledger, actor, LEDGER_ROLE_APPROVER | LEDGER_ROLE_ADMIN)) !=
        LEDGER_OK)
        return err;
    struct ledger_account_ref account;
    if ((err = ledger_case_find(ledger, case_no, &account)) != LEDGER_OK)
        return err;
    uint8_t request_hash[LEDGER_HASH_SIZE];
    struct ledger_request_hash hash;
    ledger_request_hash_init(&hash, "case_status");
    ledger_request_hash_int64(&hash, account.id);
    ledger_request_hash_text(&hash, action_names[action]);
    ledger_request_hash_final(&hash, request_hash);
    const struct status_request request = {account.id, action};
    int64_t object_id = 0;
    return keyed(ledger, actor, idempotency_key, "case_status", request_hash, apply_status_request,
                 &request, &object_id);
}

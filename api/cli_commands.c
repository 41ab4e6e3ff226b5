/* The subcommands of `caseledger`. Each parses its flags, calls one ledger
 * operation, and prints the result as JSON. */
#include "cli_commands.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "money.h"
#include "server.h"
#include "import.h"
#include "statement_json.h"
#include "statements.h"
#include <time.h>

#ifndef CASELEDGER_SQL_DIR
#define CASELEDGER_SQL_DIR "sql"
#endif

#define IDEMPOTENCY_KEY_SIZE 33

static int unused_check(const struct api_args *args)
{
    const char *unused = api_args_unused(args);
    if (unused == NULL)
        return 0;
    fprintf(stderr, "caseledger: unknown flag --%s\n", unused);
    return 2;
}

/* Opens the ledger: with the signing key when booking, with the access-code
 * key when opening cases. NULL after printing the error. */
static struct ledger *open_ledger(const struct api_config *config, bool signer, bool access)
{
    struct ledger_config ledger_config = {
        .dsn = config->dsn,
        .key_file = signer ? config->key_file : NULL,
        .access_key_file = access ? config->access_key_file : NULL,
        .amount_max_minor = config->amount_max_minor,
    };
    struct ledger *ledger = NULL;
    char detail[256];
    enum ledger_err err = ledger_open(&ledger, &ledger_config, detail, sizeof detail);
    if (err != LEDGER_OK) {
        (void)api_print_error(err, detail);
        return NULL;
    }
    return ledger;
}

static const char *idempotency_key(struct api_args *args, char buffer[IDEMPOTENCY_KEY_SIZE])
{
    const char *given = api_arg(args, "idempotency-key", NULL);
    if (given != NULL)
        return given;
    uint8_t random[16];
    randombytes_buf(random, sizeof random);
    ledger_to_hex(buffer, random, sizeof random);
    return buffer;
}

static int finish_ledger(struct ledger *ledger, enum ledger_err err, json_t *output)
{
    int status;
    if (err != LEDGER_OK) {
        json_decref(output);
        status = api_print_error(err, ledger_last_detail(ledger));
    } else {
        status = api_print_json(output);
    }
    ledger_close(ledger);
    return status;
}

static json_t *booking_json(const struct ledger_booking *booking, const char *key,
                            const char *currency)
{
    char hash[2 * LEDGER_HASH_SIZE + 1];
    ledger_to_hex(hash, booking->hash, LEDGER_HASH_SIZE);
    return json_pack("{s:I, s:I, s:s, s:I, s:o, s:s, s:b, s:s}", "entry_id",
                     (json_int_t)booking->seq, "seq", (json_int_t)booking->seq, "hash", hash,
                     "amount", (json_int_t)booking->amount_minor, "amount_text",
                     api_amount_text(booking->amount_minor, currency), "currency", currency,
                     "replayed", booking->replayed, "idempotency_key", key);
}

static bool parse_int64(int64_t *out, const char *text)
{
    if (text == NULL || *text == '\0')
        return false;
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || value <= 0)
        return false;
    *out = (int64_t)value;
    return true;
}

/* ---- set-up ---- */

int api_cmd_migrate(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    const char *dsn = api_arg(args, "dsn", getenv("CASELEDGER_OWNER_DSN"));
    const char *sql_dir = api_arg(args, "sql-dir", CASELEDGER_SQL_DIR);
    if (unused_check(args))
        return 2;
    if (dsn == NULL)
        dsn = config->dsn;
    int applied = 0;
    char detail[512];
    enum ledger_err err = ledger_migrate(dsn ? dsn : "", sql_dir, &applied, detail, sizeof detail);
    if (err != LEDGER_OK)
        return api_print_error(err, detail);
    return api_print_json(json_pack("{s:i}", "applied", applied));
}

static enum ledger_err write_access_key(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return errno == EEXIST ? LEDGER_OK : LEDGER_ERR_IO;
    uint8_t key[32];
    char text[2 * sizeof key + 2];
    randombytes_buf(key, sizeof key);
    ledger_to_hex(text, key, sizeof key);
    sodium_memzero(key, sizeof key);
    size_t length = strlen(text);
    text[length++] = '\n';
    bool ok = write(fd, text, length) == (ssize_t)length && fsync(fd) == 0;
    sodium_memzero(text, sizeof text);
    return close(fd) == 0 && ok ? LEDGER_OK : LEDGER_ERR_IO;
}

int api_cmd_keygen(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    if (unused_check(args))
        return 2;
    if (ledger_crypto_init() != LEDGER_OK)
        return api_print_error(LEDGER_ERR_CRYPTO, "libsodium did not initialize");
    if (mkdir(config->key_dir, 0700) != 0 && errno != EEXIST)
        return api_print_error(LEDGER_ERR_IO, config->key_dir);
    char fresh[API_PATH_MAX + 32];
    char final_path[API_PATH_MAX + 96];
    char link_target[64];
    snprintf(fresh, sizeof fresh, "%s/new-%ld.key", config->key_dir, (long)getpid());
    struct ledger_signer signer;
    enum ledger_err err = ledger_signer_generate(&signer, fresh);
    if (err != LEDGER_OK)
        return api_print_error(err, "could not write a new key file");
    snprintf(link_target, sizeof link_target, "signing-%s.key", signer.key_id);
    snprintf(final_path, sizeof final_path, "%s/%s", config->key_dir, link_target);
    if (rename(fresh, final_path) != 0 || (unlink(config->key_file) != 0 && errno != ENOENT) ||
        symlink(link_target, config->key_file) != 0) {
        ledger_signer_wipe(&signer);
        return api_print_error(LEDGER_ERR_IO, "could not install the new key file");
    }
    err = ledger_keyring_append(config->keyring_file, &signer);
    if (err == LEDGER_OK)
        err = write_access_key(config->access_key_file);
    char public_hex[2 * LEDGER_PUBLIC_KEY_SIZE + 1];
    ledger_to_hex(public_hex, signer.public_key, LEDGER_PUBLIC_KEY_SIZE);
    json_t *output = json_pack("{s:s, s:s, s:s, s:s}", "key_id", signer.key_id, "public_key",
                               public_hex, "key_file", final_path, "keyring", config->keyring_file);
    ledger_signer_wipe(&signer);
    if (err != LEDGER_OK) {
        json_decref(output);
        return api_print_error(err, "could not write the keyring or the access key");
    }
    return api_print_json(output);
}

int api_cmd_setup(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    const char *account_no = api_arg(args, "bank-account", NULL);
    const char *bank_name = api_arg(args, "bank-name", NULL);
    const char *currency = api_arg(args, "currency", "CNY");
    if (unused_check(args))
        return 2;
    if (account_no == NULL)
        return api_usage("setup needs --bank-account");
    struct ledger *ledger = open_ledger(config, false, false);
    if (ledger == NULL)
        return 1;
    int64_t id = 0;
    enum ledger_err err = ledger_setup_bank_account(ledger, account_no, bank_name, currency, &id);
    return finish_ledger(ledger, err,
                         json_pack("{s:I, s:s, s:s}", "bank_account_id", (json_int_t)id,
                                   "account_no", account_no, "currency", currency));
}

int api_cmd_user(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    const char *name = api_arg(args, "name", NULL);
    const char *role_name = api_arg(args, "role", NULL);
    /* Users are the owner's to make: the application role may not add
     * one (it could otherwise add its own approver). */
    const char *owner_dsn = api_arg(args, "owner-dsn", getenv("CASELEDGER_OWNER_DSN"));
    if (unused_check(args))
        return 2;
    unsigned role = ledger_role_parse(role_name);
    if (name == NULL || role == 0)
        return api_usage("user add needs --name and --role clerk|approver|auditor|admin|bank");
    struct api_config owner_config = *config;
    if (owner_dsn != NULL && owner_dsn[0] != '\0')
        owner_config.dsn = owner_dsn;
    struct ledger *ledger = open_ledger(&owner_config, false, false);
    if (ledger == NULL)
        return 1;
    char token[LEDGER_TOKEN_SIZE];
    enum ledger_err err = ledger_user_add(ledger, name, role, token);
    json_t *output = err == LEDGER_OK ? json_pack("{s:s, s:s, s:s}", "name", name, "role",
                                                  role_name, "token", token)
                                      : NULL;
    sodium_memzero(token, sizeof token);
    return finish_ledger(ledger, err, output);
}

/* ---- cases ---- */

static json_t *case_info_json(const struct ledger_case_info *info)
{
    const char *c = info->currency;
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:o, s:o, s:o}, s:I, s:I, s:o, s:o}", "case_no",
        info->case_no, "payin_no", info->payin_no, "status", info->status, "currency", c, "balance",
        "held", (json_int_t)info->held, "pending_out", (json_int_t)info->pending_out, "available",
        (json_int_t)info->available, "held_text", api_amount_text(info->held, c),
        "pending_out_text", api_amount_text(info->pending_out, c), "available_text",
        api_amount_text(info->available, c), "received_total", (json_int_t)info->received_total,
        "disbursed_total", (json_int_t)info->disbursed_total, "received_total_text",
        api_amount_text(info->received_total, c), "disbursed_total_text",
        api_amount_text(info->disbursed_total, c));
}

static int case_open(struct api_config *config, struct api_args *args)
{
    char key_buffer[IDEMPOTENCY_KEY_SIZE];
    const char *names[LEDGER_APPLICANTS_MAX];
    struct ledger_applicant applicants[LEDGER_APPLICANTS_MAX];
    struct ledger_case_request request = {
        .case_no = api_arg(args, "case-no", NULL),
        .court = api_arg(args, "court", NULL),
        .title = api_arg(args, "title", NULL),
        .currency = api_arg(args, "currency", NULL),
        .applicants = applicants,
    };
    int count = api_arg_all(args, "applicant", names, LEDGER_APPLICANTS_MAX);
    for (int i = 0; i < count; i++)
        applicants[i] = (struct ledger_applicant){.name = names[i]};
    request.applicants_count = (size_t)count;
    const char *key = idempotency_key(args, key_buffer);
    if (unused_check(args))
        return 2;
    if (request.case_no == NULL || request.court == NULL)
        return api_usage("case open needs --case-no and --court");
    struct ledger *ledger = open_ledger(config, false, true);
    if (ledger == NULL)
        return 1;
    struct ledger_case_result result;
    enum ledger_err err = ledger_case_open(ledger, config->actor, &request, key, &result);
    json_t *output = json_pack("{s:s, s:I, s:s, s:s, s:s, s:b, s:s}", "case_no", request.case_no,
                               "account_id", (json_int_t)result.account_id, "payin_no",
                               result.payin_no, "access_code", result.access_code, "status", "open",
                               "replayed", result.replayed, "idempotency_key", key);
    sodium_memzero(result.access_code, sizeof result.access_code);
    return finish_ledger(ledger, err, output);
}

int api_cmd_case(struct api_config *config, struct api_args *args, const char *sub)
{
    if (strcmp(sub, "open") == 0)
        return case_open(config, args);
    char key_buffer[IDEMPOTENCY_KEY_SIZE];
    const char *case_no = api_arg(args, "case-no", NULL);
    const char *key = idempotency_key(args, key_buffer);
    if (unused_check(args))
        return 2;
    if (case_no == NULL)
        return api_usage("needs --case-no");
    struct ledger *ledger = open_ledger(config, false, false);
    if (ledger == NULL)
        return 1;
    enum ledger_err err = LEDGER_OK;
    if (strcmp(sub, "freeze") == 0)
        err = ledger_case_set_status(ledger, config->actor, case_no, LEDGER_CASE_FREEZE, key);
    else if (strcmp(sub, "unfreeze") == 0)
        err = ledger_case_set_status(ledger, config->actor, case_no, LEDGER_CASE_UNFREEZE, key);
    else if (strcmp(sub, "close") == 0)
        err = ledger_case_set_status(ledger, config->actor, case_no, LEDGER_CASE_CLOSE, key);
    struct ledger_case_info info;
    if (err == LEDGER_OK)
        err = ledger_case_info(ledger, case_no, &info);
    return finish_ledger(ledger, err, err == LEDGER_OK ? case_info_json(&info) : NULL);
}

int api_cmd_balance(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    const char *case_no = api_arg(args, "case-no", NULL);
    const char *payin_no = api_arg(args, "payin-no", NULL);
    if (unused_check(args))
        return 2;
    if ((case_no == NULL) == (payin_no == NULL))
        return api_usage("balance needs --case-no or --payin-no");
    struct ledger *ledger = open_ledger(config, false, false);
    if (ledger == NULL)
        return 1;
    struct ledger_case_info info;
    enum ledger_err err = case_no ? ledger_case_info(ledger, case_no, &info)
                                  : ledger_case_info_by_payin(ledger, payin_no, &info);
    return finish_ledger(ledger, err, err == LEDGER_OK ? case_info_json(&info) : NULL);
}

/* ---- bookings ---- */

int api_cmd_receipt(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    char key_buffer[IDEMPOTENCY_KEY_SIZE];
    struct ledger_receipt_request request = {
        .payin_no = api_arg(args, "payin-no", NULL),
        .case_no = api_arg(args, "case-no", NULL),
        .currency = api_arg(args, "currency", NULL),
        .payer = api_arg(args, "payer", NULL),
        .bank_ref = api_arg(args, "bank-ref", NULL),
        .value_date_days = LEDGER_VALUE_DATE_NONE,
    };
    const char *amount = api_arg(args, "amount", NULL);
    const char *value_date = api_arg(args, "value-date", NULL);
    const char *key = idempotency_key(args, key_buffer);
    if (unused_check(args))
        return 2;
    if (amount == NULL || request.bank_ref == NULL)
        return api_usage("receipt needs --amount and --bank-ref");
    if (!api_parse_amount(&request.amount_minor, amount, request.currency))
        return 1;
    if (value_date != NULL && ledger_date_parse(&request.value_date_days, value_date) != LEDGER_OK)
        return api_print_error(LEDGER_ERR_INVALID_ARGUMENT, "value date must be YYYY-MM-DD");
    struct ledger *ledger = open_ledger(config, true, false);
    if (ledger == NULL)
        return 1;
    struct ledger_booking booking;
    enum ledger_err err = ledger_receipt(ledger, config->actor, &request, key, &booking);
    return finish_ledger(ledger, err,
                         booking_json(&booking, key, request.currency ? request.currency : "CNY"));
}

int api_cmd_assign(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    char key_buffer[IDEMPOTENCY_KEY_SIZE];
    int64_t seq = 0;
    const char *entry = api_arg(args, "entry", NULL);
    const char *case_no = api_arg(args, "case-no", NULL);
    const char *key = idempotency_key(args, key_buffer);
    if (unused_check(args))
        return 2;
    if (!parse_int64(&seq, entry) || case_no == NULL)
        return api_usage("assign needs --entry SEQ and --case-no");
    struct ledger *ledger = open_ledger(config, true, false);
    if (ledger == NULL)
        return 1;
    struct ledger_booking booking;
    enum ledger_err err =
        ledger_assign_suspense(ledger, config->actor, seq, case_no, key, &booking);
    return finish_ledger(ledger, err, booking_json(&booking, key, "CNY"));
}

static int disburse_request(struct api_config *config, struct api_args *args)
{
    char key_buffer[IDEMPOTENCY_KEY_SIZE];
    struct ledger_disbursement_request request = {
        .case_no = api_arg(args, "case-no", NULL),
        .payee_name = api_arg(args, "payee-name", NULL),
        .payee_account = api_arg(args, "payee-account", NULL),
        .payee_bank = api_arg(args, "payee-bank", NULL),
        .purpose = api_arg(args, "purpose", NULL),
    };
    const char *amount = api_arg(args, "amount", NULL);
    const char *key = idempotency_key(args, key_buffer);
    if (unused_check(args))
        return 2;
    if (request.case_no == NULL || amount == NULL)
        return api_usage("disburse request needs --case-no, --amount, --payee-name, "
                         "--payee-account");
    if (!api_parse_amount(&request.amount_minor, amount, NULL))
        return 1;
    struct ledger *ledger = open_ledger(config, false, false);
    if (ledger == NULL)
        return 1;
    int64_t id = 0;
    bool replayed = false;
    enum ledger_err err =
        ledger_disbursement_request(ledger, config->actor, &request, key, &id, &replayed);
    return finish_ledger(ledger, err,
                         json_pack("{s:I, s:s, s:b, s:s}", "id", (json_int_t)id, "status",
                                   "requested", "replayed", replayed, "idempotency_key", key));
}

int api_cmd_disburse(struct api_config *config, struct api_args *args, const char *sub)
{
    if (strcmp(sub, "request") == 0)
        return disburse_request(config, args);
    char key_buffer[IDEMPOTENCY_KEY_SIZE];
    int64_t id = 0;
    const char *id_text = api_arg(args, "id", NULL);
    const char *reason = api_arg(args, "reason", NULL);
    const char *bank_ref = api_arg(args, "bank-ref", NULL);
    const char *key = idempotency_key(args, key_buffer);
    if (unused_check(args))
        return 2;
    if (!parse_int64(&id, id_text))
        return api_usage("needs --id N");
    bool books = strcmp(sub, "reject") != 0;
    struct ledger *ledger = open_ledger(config, books, false);
    if (ledger == NULL)
        return 1;
    struct ledger_booking booking;
    memset(&booking, 0, sizeof booking);
    enum ledger_err err;
    const char *status = "approved";
    if (strcmp(sub, "approve") == 0) {
        err = ledger_disbursement_approve(ledger, config->actor, id, key, &booking);
    } else if (strcmp(sub, "settle") == 0) {
        status = "paid";
        err = ledger_disbursement_settle(ledger, config->actor, id, bank_ref,
                                         LEDGER_VALUE_DATE_NONE, key, &booking);
    } else if (strcmp(sub, "return") == 0) {
        status = "returned";
        err =
            ledger_disbursement_return(ledger, config->actor, id, bank_ref, reason, key, &booking);
    } else {
        status = "rejected";
        err = ledger_disbursement_reject(ledger, config->actor, id, reason, key, &booking.replayed);
    }
    json_t *output = booking_json(&booking, key, "CNY");
    json_object_set_new(output, "id", json_integer((json_int_t)id));
    json_object_set_new(output, "status", json_string(status));
    return finish_ledger(ledger, err, output);
}

int api_cmd_transfer(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    char key_buffer[IDEMPOTENCY_KEY_SIZE];
    const char *from = api_arg(args, "from", NULL);
    const char *to = api_arg(args, "to", NULL);
    const char *amount = api_arg(args, "amount", NULL);
    const char *reason = api_arg(args, "reason", NULL);
    const char *key = idempotency_key(args, key_buffer);
    if (unused_check(args))
        return 2;
    int64_t amount_minor = 0;
    if (from == NULL || to == NULL || amount == NULL)
        return api_usage("transfer needs --from, --to, --amount and --reason");
    if (!api_parse_amount(&amount_minor, amount, NULL))
        return 1;
    struct ledger *ledger = open_ledger(config, false, false);
    if (ledger == NULL)
        return 1;
    int64_t id = 0;
    bool replayed = false;
    enum ledger_err err = ledger_transfer_request(ledger, config->actor, from, to, amount_minor,
                                                  reason, key, &id, &replayed);
    return finish_ledger(ledger, err,
                         json_pack("{s:I, s:s, s:b, s:s}", "id", (json_int_t)id, "status",
                                   "requested", "replayed", replayed, "idempotency_key", key));
}

int api_cmd_reverse(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    char key_buffer[IDEMPOTENCY_KEY_SIZE];
    int64_t seq = 0;
    const char *entry = api_arg(args, "entry", NULL);
    const char *reason = api_arg(args, "reason", NULL);
    const char *key = idempotency_key(args, key_buffer);
    if (unused_check(args))
        return 2;
    if (!parse_int64(&seq, entry))
        return api_usage("reverse needs --entry SEQ and --reason");
    struct ledger *ledger = open_ledger(config, true, false);
    if (ledger == NULL)
        return 1;
    struct ledger_booking booking;
    enum ledger_err err = ledger_reverse(ledger, config->actor, seq, reason, key, &booking);
    json_t *output = booking_json(&booking, key, "CNY");
    json_object_set_new(output, "reverses", json_integer((json_int_t)seq));
    return finish_ledger(ledger, err, output);
}

/* ---- integrity ---- */

static json_t *head_json(const struct ledger_head *head)
{
    char hash[2 * LEDGER_HASH_SIZE + 1];
    char signature[2 * LEDGER_SIGNATURE_SIZE + 1];
    char public_key[2 * LEDGER_PUBLIC_KEY_SIZE + 1];
    ledger_to_hex(hash, head->hash, LEDGER_HASH_SIZE);
    ledger_to_hex(signature, head->signature, LEDGER_SIGNATURE_SIZE);
    ledger_to_hex(public_key, head->public_key, LEDGER_PUBLIC_KEY_SIZE);
    return json_pack("{s:I, s:s, s:I, s:s, s:s, s:s}", "seq", (json_int_t)head->seq, "hash", hash,
                     "signed_at_us", (json_int_t)head->signed_at_us, "signature", signature,
                     "key_id", head->key_id, "public_key", public_key);
}

int api_cmd_head(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    if (unused_check(args))
        return 2;
    struct ledger *ledger = open_ledger(config, true, false);
    if (ledger == NULL)
        return 1;
    struct ledger_head head;
    enum ledger_err err = ledger_head_current(ledger, &head);
    return finish_ledger(ledger, err, err == LEDGER_OK ? head_json(&head) : NULL);
}

static bool head_from_file(struct ledger_head *head, const char *path)
{
    json_error_t error;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
    json_int_t seq = -1;
    json_int_t signed_at = 0;
    const char *hash = NULL;
    const char *signature = NULL;
    const char *key_id = NULL;
    const char *public_key = NULL;
    bool ok = root != NULL &&
              json_unpack(root, "{s:I, s:s, s:I, s:s, s:s, s:s}", "seq", &seq, "hash", &hash,
                          "signed_at_us", &signed_at, "signature", &signature, "key_id", &key_id,
                          "public_key", &public_key) == 0 &&
              seq >= 0 && strlen(key_id) <= LEDGER_KEY_ID_MAX &&
              ledger_from_hex(head->hash, LEDGER_HASH_SIZE, hash) == LEDGER_OK &&
              ledger_from_hex(head->signature, LEDGER_SIGNATURE_SIZE, signature) == LEDGER_OK &&
              ledger_from_hex(head->public_key, LEDGER_PUBLIC_KEY_SIZE, public_key) == LEDGER_OK;
    if (ok) {
        head->seq = (int64_t)seq;
        head->signed_at_us = (int64_t)signed_at;
        snprintf(head->key_id, sizeof head->key_id, "%s", key_id);
    }
    json_decref(root);
    return ok;
}

int api_cmd_verify(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    const char *head_file = api_arg(args, "head", NULL);
    if (unused_check(args))
        return 2;
    struct ledger_keyring keyring;
    if (ledger_keyring_load(&keyring, config->keyring_file) != LEDGER_OK)
        return api_print_error(LEDGER_ERR_IO, "could not read the trusted keyring");
    struct ledger_head head;
    memset(&head, 0, sizeof head);
    if (head_file != NULL && !head_from_file(&head, head_file))
        return api_print_error(LEDGER_ERR_INVALID_ARGUMENT, "head file is not a signed head");
    struct ledger *ledger = open_ledger(config, false, false);
    if (ledger == NULL)
        return 1;
    struct ledger_verify_result result;
    enum ledger_err err = ledger_verify(ledger, &keyring, head_file ? &head : NULL, &result);
    if (err != LEDGER_OK)
        return finish_ledger(ledger, err, NULL);
    json_t *output =
        json_pack("{s:b, s:I}", "ok", result.ok, "checked", (json_int_t)result.checked);
    if (!result.ok) {
        json_object_set_new(output, "first_bad_seq",
                            json_integer((json_int_t)result.first_bad_seq));
        json_object_set_new(output, "reason", json_string(result.reason));
    }
    ledger_close(ledger);
    (void)api_print_json(output);
    if (!result.ok)
        fprintf(stderr, "caseledger: verification failed at seq %lld: %s\n",
                (long long)result.first_bad_seq, result.reason);
    return result.ok ? 0 : 1;
}

/* ---- the HTTP server ---- */

int api_cmd_serve(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    const char *listen = api_arg(args, "listen", getenv("CASELEDGER_LISTEN"));
    const char *port = api_arg(args, "port", getenv("CASELEDGER_PORT"));
    const char *threads = api_arg(args, "threads", getenv("CASELEDGER_THREADS"));
    const char *body_max = api_arg(args, "body-max", getenv("CASELEDGER_BODY_MAX"));
    const char *statement_max =
        api_arg(args, "statement-body-max", getenv("CASELEDGER_STATEMENT_BODY_MAX"));
    const char *mapping_dir = api_arg(args, "mapping-dir", getenv("CASELEDGER_MAPPING_DIR"));
    const char *quiet = api_arg(args, "quiet", NULL);
    const char *lock_wait = api_arg(args, "lock-wait-ms", getenv("CASELEDGER_LOCK_WAIT_MS"));
    const char *bodies_max =
        api_arg(args, "bodies-in-flight-max", getenv("CASELEDGER_BODIES_IN_FLIGHT_MAX"));
    const char *proxies = api_arg(args, "trusted-proxies", getenv("CASELEDGER_TRUSTED_PROXIES"));
    const char *metrics_token =
        api_arg(args, "metrics-token-file", getenv("CASELEDGER_METRICS_TOKEN_FILE"));
    if (unused_check(args))
        return 2;
    int64_t port_value = 8080;
    int64_t threads_value = API_THREADS_DEFAULT;
    int64_t body_value = API_BODY_MAX;
    int64_t statement_value = API_STATEMENT_BODY_MAX;
    int64_t lock_wait_value = API_LOCK_WAIT_MS;
    int64_t bodies_value = (int64_t)API_BODIES_IN_FLIGHT_MAX;
    if ((port != NULL && strcmp(port, "0") != 0 && !parse_int64(&port_value, port)) ||
        port_value > 65535 || (threads != NULL && !parse_int64(&threads_value, threads)) ||
        threads_value > 256 || (body_max != NULL && !parse_int64(&body_value, body_max)) ||
        (statement_max != NULL && !parse_int64(&statement_value, statement_max)) ||
        (lock_wait != NULL && !parse_int64(&lock_wait_value, lock_wait)) ||
        lock_wait_value > 3600 * 1000 ||
        (bodies_max != NULL && !parse_int64(&bodies_value, bodies_max)) ||
        bodies_value <= statement_value || bodies_value <= body_value)
        return api_usage("--port 0..65535, --threads 1..256, --body-max BYTES, "
                         "--statement-body-max BYTES, --lock-wait-ms 1..3600000, "
                         "--bodies-in-flight-max BYTES (more than either body limit)");
    if (port != NULL && strcmp(port, "0") == 0)
        port_value = 0;
    struct api_server_config server_config = {
        .listen_address = listen ? listen : "127.0.0.1",
        .port = (unsigned)port_value,
        .dsn = config->dsn,
        .key_file = config->key_file,
        .access_key_file = config->access_key_file,
        .keyring_file = config->keyring_file,
        .threads = (unsigned)threads_value,
        .body_max = (size_t)body_value,
        .statement_body_max = (size_t)statement_value,
        .mapping_dir = mapping_dir ? mapping_dir : API_MAPPING_DIR_DEFAULT,
        .quiet = quiet != NULL,
        .lock_wait_ms = (unsigned)lock_wait_value,
        .amount_max_minor = config->amount_max_minor,
        .bodies_in_flight_max = (size_t)bodies_value,
        .trusted_proxies = proxies,
        .metrics_token_file =
            metrics_token != NULL && metrics_token[0] != '\0' ? metrics_token : NULL,
    };
    return api_server_run(&server_config);
}

/* ---- statements ---- */

static enum recon_format format_of(const char *given, const char *path)
{
    if (given != NULL)
        return recon_format_parse(given);
    const char *dot = strrchr(path, '.');
    if (dot == NULL)
        return (enum recon_format)0;
    if (strcmp(dot, ".xml") == 0)
        return RECON_FORMAT_CAMT053;
    if (strcmp(dot, ".csv") == 0)
        return RECON_FORMAT_CSV;
    if (strcmp(dot, ".sta") == 0 || strcmp(dot, ".mt940") == 0 || strcmp(dot, ".txt") == 0)
        return RECON_FORMAT_MT940;
    return (enum recon_format)0;
}

/* Reads a CSV mapping file (at most RECON_MAPPING_BYTES_MAX); NULL after
 * printing the error. */
static struct recon_csv_mapping *mapping_load(const char *path)
{
    char text[RECON_MAPPING_BYTES_MAX + 1];
    FILE *file = fopen(path, "rb");
    size_t size = file ? fread(text, 1, sizeof text, file) : 0;
    if (file == NULL || ferror(file) || size > RECON_MAPPING_BYTES_MAX) {
        if (file != NULL)
            fclose(file);
        (void)api_print_error(LEDGER_ERR_IO, "could not read the mapping file (at most 16 KiB)");
        return NULL;
    }
    fclose(file);
    struct recon_csv_mapping *mapping = NULL;
    struct recon_error error;
    if (recon_csv_mapping_parse(&mapping, text, size, &error) != RECON_OK) {
        json_t *body =
            json_pack("{s:s, s:s, s:s, s:I}", "error", recon_err_code(error.code), "message",
                      error.message, "path", error.path, "line", (json_int_t)error.line);
        fprintf(stderr, "caseledger: bad CSV mapping: %s\n", error.message);
        (void)api_print_json(body);
        return NULL;
    }
    return mapping;
}

static int import_error(const struct recon_import_error *error)
{
    json_t *body =
        json_pack("{s:s, s:s, s:I, s:I}", "error", recon_import_err_code(error), "message",
                  error->message, "status", (json_int_t)recon_import_http_status(error),
                  "statement", (json_int_t)error->statement_index + 1);
    if (error->code == RECON_IMPORT_ERR_PARSE || error->code == RECON_IMPORT_ERR_UNBALANCED) {
        json_object_set_new(body, "path", json_string(error->parse.path));
        json_object_set_new(body, "line", json_integer((json_int_t)error->parse.line));
    }
    fprintf(stderr, "caseledger: statement refused, nothing booked: %s\n", error->message);
    (void)api_print_json(body);
    return 1;
}

int api_cmd_import(struct api_config *config, struct api_args *args, const char *sub)
{
    const char *path = sub;
    struct recon_import_options options = {
        .bank_account_no = api_arg(args, "bank-account", NULL),
        .encoding = api_arg(args, "encoding", NULL),
        .actor = config->actor,
    };
    const char *format = api_arg(args, "format", NULL);
    const char *mapping_path = api_arg(args, "mapping", NULL);
    const char *lines_max = api_arg(args, "lines-max", NULL);
    if (unused_check(args))
        return 2;
    options.format = format_of(format, path);
    if (options.bank_account_no == NULL || options.format == 0 ||
        (options.format == RECON_FORMAT_CSV && mapping_path == NULL))
        return api_usage("import needs FILE, --bank-account, a known --format (camt053, mt940, "
                         "csv) and --mapping for CSV");
    /* --lines-max N: lines per statement and per file, instead of the
     * streamed import's defaults (recon_limits.h). */
    struct recon_limits limits;
    recon_limits_stream(&limits);
    if (lines_max != NULL) {
        char *end = NULL;
        unsigned long long value = strtoull(lines_max, &end, 10);
        if (lines_max[0] < '1' || lines_max[0] > '9' || *end != '\0' || value > SIZE_MAX)
            return api_usage("--lines-max must be a positive number");
        limits.lines_per_statement_max = (size_t)value;
        limits.lines_per_file_max = (size_t)value;
        options.limits = &limits;
    }
    struct recon_csv_mapping *mapping = NULL;
    if (mapping_path != NULL && (mapping = mapping_load(mapping_path)) == NULL)
        return 1;
    options.mapping = mapping;
    struct ledger *ledger = open_ledger(config, true, false);
    if (ledger == NULL) {
        recon_csv_mapping_free(mapping);
        return 1;
    }
    struct recon_import_result result;
    struct recon_import_error error;
    int status;
    if (recon_import_file(ledger, path, &options, &result, &error) != RECON_IMPORT_OK)
        status = import_error(&error);
    else
        status = api_print_json(api_import_json(&result));
    recon_import_result_free(&result);
    recon_csv_mapping_free(mapping);
    ledger_close(ledger);
    return status;
}

int api_cmd_reconcile(struct api_config *config, struct api_args *args, const char *sub)
{
    (void)sub;
    const char *account_no = api_arg(args, "bank-account", NULL);
    const char *date_text = api_arg(args, "date", NULL);
    if (unused_check(args))
        return 2;
    if (account_no == NULL)
        return api_usage("reconcile needs --bank-account");
    int32_t date_days = (int32_t)(time(NULL) / 86400);
    if (date_text != NULL && ledger_date_parse(&date_days, date_text) != LEDGER_OK)
        return api_print_error(LEDGER_ERR_INVALID_ARGUMENT, "date must be YYYY-MM-DD");
    struct ledger *ledger = open_ledger(config, false, false);
    if (ledger == NULL)
        return 1;
    struct ledger_custody_account account;
    struct ledger_report report;
    enum ledger_err err = ledger_custody_account_find(ledger, account_no, &account);
    if (err == LEDGER_OK)
        err = ledger_reconciliation_report(ledger, account.id, date_days, &report);
    if (err != LEDGER_OK)
        return finish_ledger(ledger, err, NULL);
    json_t *output = api_report_json(account_no, &report);
    ledger_report_free(&report);
    return finish_ledger(ledger, LEDGER_OK, output);
}

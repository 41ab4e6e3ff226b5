#include "cli_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"

bool api_args_parse(struct api_args *args, int argc, char **argv)
{
    memset(args, 0, sizeof *args);
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0' || args->count >= API_ARGS_MAX)
            return false;
        args->names[args->count] = argv[i] + 2;
        if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
            args->values[args->count] = argv[++i];
        args->count++;
    }
    return true;
}

const char *api_arg(struct api_args *args, const char *name, const char *fallback)
{
    const char *value = fallback;
    for (int i = 0; i < args->count; i++) {
        if (strcmp(args->names[i], name) == 0) {
            args->used[i] = true;
            value = args->values[i] ? args->values[i] : "";
        }
    }
    return value;
}

int api_arg_all(struct api_args *args, const char *name, const char **out, int max)
{
    int found = 0;
    for (int i = 0; i < args->count && found < max; i++) {
        if (strcmp(args->names[i], name) == 0 && args->values[i] != NULL) {
            args->used[i] = true;
            out[found++] = args->values[i];
        }
    }
    return found;
}

const char *api_args_unused(const struct api_args *args)
{
    for (int i = 0; i < args->count; i++)
        if (!args->used[i])
            return args->names[i];
    return NULL;
}

void api_config_load(struct api_config *config, struct api_args *args)
{
    memset(config, 0, sizeof *config);
    config->dsn = api_arg(args, "dsn", getenv("CASELEDGER_DSN"));
    const char *key_dir = api_arg(args, "key-dir", getenv("CASELEDGER_KEY_DIR"));
    snprintf(config->key_dir, sizeof config->key_dir, "%s", key_dir ? key_dir : "var/keys");
    snprintf(config->key_file, sizeof config->key_file, "%s/current.key", config->key_dir);
    snprintf(config->access_key_file, sizeof config->access_key_file, "%s/access.key",
             config->key_dir);
    snprintf(config->keyring_file, sizeof config->keyring_file, "%s/trusted.pub", config->key_dir);
    const char *key_file = api_arg(args, "key-file", NULL);
    if (key_file != NULL)
        snprintf(config->key_file, sizeof config->key_file, "%s", key_file);
    const char *keyring = api_arg(args, "keyring", NULL);
    if (keyring != NULL)
        snprintf(config->keyring_file, sizeof config->keyring_file, "%s", keyring);
    config->actor = api_arg(args, "as", getenv("CASELEDGER_USER"));
    const char *amount_max = api_arg(args, "amount-max", getenv("CASELEDGER_AMOUNT_MAX"));
    if (amount_max != NULL) {
        char *end = NULL;
        errno = 0;
        long long value = strtoll(amount_max, &end, 10);
        config->amount_max_invalid = errno != 0 || end == amount_max || *end != '\0' || value < 1 ||
                                     value > LEDGER_AMOUNT_MAX_LIMIT;
        config->amount_max_minor = config->amount_max_invalid ? 0 : (int64_t)value;
    }
}

int api_print_json(json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT);
    json_decref(value);
    if (text == NULL) {
        fputs("caseledger: could not render output\n", stderr);
        return 1;
    }
    puts(text);
    free(text);
    return 0;
}

int api_print_error(enum ledger_err err, const char *detail)
{
    json_t *body = json_pack("{s:s, s:s, s:s}", "error", ledger_err_code(err), "message",
                             ledger_err_message(err), "detail", detail ? detail : "");
    fprintf(stderr, "caseledger: %s%s%s\n", ledger_err_message(err),
            detail && detail[0] ? ": " : "", detail ? detail : "");
    if (body != NULL)
        (void)api_print_json(body);
    return 1;
}

int api_usage(const char *message)
{
    fprintf(stderr, "caseledger: %s (see caseledger help)\n", message);
    return 2;
}

bool api_parse_amount(int64_t *amount_minor, const char *text, const char *currency)
{
    int decimals = ledger_currency_decimals(currency ? currency : "CNY");
    enum ledger_err err =
        text ? ledger_money_parse(amount_minor, text, strlen(text), decimals < 0 ? 2 : decimals, 0)
             : LEDGER_ERR_INVALID_AMOUNT;
    if (err != LEDGER_OK) {
        (void)api_print_error(err, "amount must be a decimal like 1234.56");
        return false;
    }
    return true;
}

json_t *api_amount_text(int64_t amount_minor, const char *currency)
{
    char text[LEDGER_AMOUNT_TEXT_MAX];
    int decimals = ledger_currency_decimals(currency ? currency : "CNY");
    if (ledger_money_format(text, sizeof text, amount_minor, decimals < 0 ? 2 : decimals) == 0)
        return json_null();
    return json_string(text);
}

/* Command-line arguments, configuration from flags and environment, and
 * JSON output of the `caseledger` command. */
#ifndef API_CLI_ARGS_H
#define API_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "ledger.h"

#define API_ARGS_MAX 64
#define API_PATH_MAX 1024

struct api_args {
    int count;
    const char *names[API_ARGS_MAX];  /* "--case-no" without the dashes */
    const char *values[API_ARGS_MAX]; /* NULL for a flag without value */
    bool used[API_ARGS_MAX];
};

/* Parses "--name value" pairs from argv[0..argc). false on a malformed list. */
bool api_args_parse(struct api_args *args, int argc, char **argv);
/* The value of --name (last one wins), or fallback. Marks it used. */
const char *api_arg(struct api_args *args, const char *name, const char *fallback);
/* All values of a repeated --name, up to max; returns how many. */
int api_arg_all(struct api_args *args, const char *name, const char **out, int max);
/* The name of the first argument nobody asked for, or NULL. */
const char *api_args_unused(const struct api_args *args);

struct api_config {
    const char *dsn;
    char key_file[API_PATH_MAX + 32];
    char access_key_file[API_PATH_MAX + 32];
    char keyring_file[API_PATH_MAX + 32];
    char key_dir[API_PATH_MAX];
    const char *actor;
    int64_t amount_max_minor; /* 0: LEDGER_AMOUNT_MAX_DEFAULT */
    bool amount_max_invalid;  /* --amount-max given but not 1..LEDGER_AMOUNT_MAX_LIMIT */
};
/* Flags win over environment: --dsn / CASELEDGER_DSN, --key-dir /
 * CASELEDGER_KEY_DIR (default ./var/keys), --as / CASELEDGER_USER,
 * --amount-max / CASELEDGER_AMOUNT_MAX (minor units). */
void api_config_load(struct api_config *config, struct api_args *args);

/* Prints value as one JSON document on stdout and releases it; returns 0. */
int api_print_json(json_t *value);
/* Prints {"error": code, "message", "detail"} on stdout and a message on
 * stderr; returns the exit status (1). */
int api_print_error(enum ledger_err err, const char *detail);
/* Usage error: message on stderr, exit status 2. */
int api_usage(const char *message);

/* Parses a decimal amount for the currency; false (and prints) on error. */
bool api_parse_amount(int64_t *amount_minor, const char *text, const char *currency);
/* "1234.56" text of an amount in a new JSON string. */
json_t *api_amount_text(int64_t amount_minor, const char *currency);

#endif

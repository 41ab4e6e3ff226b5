/* caseledger: the command line. Every subcommand prints one JSON document
 * on stdout; on error it prints {"error", "message", "detail"} there, a
 * message on stderr, and exits non-zero (1: refused or failed, 2: usage). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_args.h"
#include "cli_commands.h"

static const char usage_text[] =
    "usage: caseledger COMMAND [--flag value ...]\n"
    "\n"
    "  migrate [--dsn DSN] [--sql-dir DIR]          apply schema migrations (owner role)\n"
    "  serve [--listen 127.0.0.1] [--port 8080] [--threads 16] [--lock-wait-ms 10000] [--quiet]\n"
    "          [--body-max BYTES] [--statement-body-max BYTES] [--amount-max MINOR]\n"
    "          [--bodies-in-flight-max BYTES] [--trusted-proxies ADDR[/BITS],...]\n"
    "          [--metrics-token-file FILE]\n"
    "          [--mapping-dir etc/csv-mappings]      the HTTP API (SIGTERM/SIGINT: stop)\n"
    "  keygen [--key-dir DIR]                        new signing key (becomes current)\n"
    "  setup --bank-account NO [--bank-name N] [--currency CNY]\n"
    "  user add --name N --role clerk|approver|auditor|admin|bank [--owner-dsn DSN]\n"
    "  case open --case-no NO --court C [--title T] [--currency CNY] [--applicant NAME]...\n"
    "  case show|freeze|unfreeze|close --case-no NO\n"
    "  receipt (--payin-no N | --case-no NO | neither: suspense) --amount 12.34\n"
    "          --bank-ref REF [--payer P] [--value-date YYYY-MM-DD] [--currency CNY]\n"
    "  assign --entry SEQ --case-no NO                suspense receipt -> case\n"
    "  disburse request --case-no NO --amount A --payee-name N --payee-account ACC\n"
    "          [--payee-bank B] [--purpose P]\n"
    "  disburse approve|reject|settle|return --id N [--reason R] [--bank-ref REF]\n"
    "  transfer --from NO --to NO --amount A --reason R   (request; approve with\n"
    "          transfer approve --id N or disburse approve --id N)\n"
    "  reverse --entry SEQ --reason R\n"
    "  balance (--case-no NO | --payin-no N)\n"
    "  head                                          signed chain head\n"
    "  verify [--head FILE]                          check the journal from genesis or a head\n"
    "  import FILE --bank-account NO [--format camt053|mt940|csv] [--mapping FILE]\n"
    "          [--encoding CP852] [--lines-max N]    import, match and book a statement file\n"
    "  reconcile --bank-account NO [--date YYYY-MM-DD]  book vs bank balance, line by line\n"
    "\n"
    "Common flags: --dsn (CASELEDGER_DSN), --key-dir (CASELEDGER_KEY_DIR, default var/keys),\n"
    "--as USER (CASELEDGER_USER), --idempotency-key KEY (default: a new random key),\n"
    "--amount-max MINOR (CASELEDGER_AMOUNT_MAX): largest amount of one entry or statement\n"
    "line in minor units (default and most 1000000000000 = 10,000,000,000.00).\n";

struct command {
    const char *name;
    const char *sub; /* NULL: no subcommand; "*": one operand (a file) */
    int (*run)(struct api_config *config, struct api_args *args, const char *sub);
};

static const struct command commands[] = {
    {"migrate", NULL, api_cmd_migrate},
    {"serve", NULL, api_cmd_serve},
    {"keygen", NULL, api_cmd_keygen},
    {"setup", NULL, api_cmd_setup},
    {"user", "add", api_cmd_user},
    {"case", "open", api_cmd_case},
    {"case", "show", api_cmd_case},
    {"case", "freeze", api_cmd_case},
    {"case", "unfreeze", api_cmd_case},
    {"case", "close", api_cmd_case},
    {"receipt", NULL, api_cmd_receipt},
    {"assign", NULL, api_cmd_assign},
    {"disburse", "request", api_cmd_disburse},
    {"disburse", "approve", api_cmd_disburse},
    {"disburse", "reject", api_cmd_disburse},
    {"disburse", "settle", api_cmd_disburse},
    {"disburse", "return", api_cmd_disburse},
    {"transfer", NULL, api_cmd_transfer},
    {"transfer", "approve", api_cmd_disburse},
    {"transfer", "reject", api_cmd_disburse},
    {"reverse", NULL, api_cmd_reverse},
    {"balance", NULL, api_cmd_balance},
    {"head", NULL, api_cmd_head},
    {"verify", NULL, api_cmd_verify},
    {"import", "*", api_cmd_import},
    {"reconcile", NULL, api_cmd_reconcile},
};

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *name = argv[1];
    const char *sub = argc > 2 && strncmp(argv[2], "--", 2) != 0 ? argv[2] : NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const struct command *command = &commands[i];
        if (strcmp(command->name, name) != 0)
            continue;
        bool sub_matches = command->sub == NULL ? sub == NULL
                                                : sub != NULL && (strcmp(command->sub, "*") == 0 ||
                                                                  strcmp(command->sub, sub) == 0);
        if (!sub_matches)
            continue;
        int first = sub ? 3 : 2;
        struct api_args args;
        if (!api_args_parse(&args, argc - first, argv + first))
            return api_usage("arguments must be --name value pairs");
        struct api_config config;
        api_config_load(&config, &args);
        if (config.amount_max_invalid)
            return api_usage("--amount-max (CASELEDGER_AMOUNT_MAX) must be 1..1000000000000 "
                             "minor units (the database's ceiling)");
        return command->run(&config, &args, sub);
    }
    return api_usage("unknown command");
}

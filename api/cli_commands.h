/* The subcommands of `caseledger`; each returns the process exit status. */
#ifndef API_CLI_COMMANDS_H
#define API_CLI_COMMANDS_H

#include "cli_args.h"

int api_cmd_migrate(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_keygen(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_setup(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_user(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_case(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_receipt(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_assign(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_disburse(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_transfer(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_reverse(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_balance(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_head(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_serve(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_verify(struct api_config *config, struct api_args *args, const char *sub);
/* import FILE: sub is the file. */
int api_cmd_import(struct api_config *config, struct api_args *args, const char *sub);
int api_cmd_reconcile(struct api_config *config, struct api_args *args, const char *sub);

#endif

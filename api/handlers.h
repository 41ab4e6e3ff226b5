/* Route handlers (one file per area: handlers_*.c). */
#ifndef API_HANDLERS_H
#define API_HANDLERS_H

#include "server.h"

/* handlers_system.c */
void api_get_healthz(struct api_handler_context *context, struct api_response *response);
void api_get_metrics(struct api_handler_context *context, struct api_response *response);
void api_get_openapi(struct api_handler_context *context, struct api_response *response);
void api_get_index(struct api_handler_context *context, struct api_response *response);
void api_get_ledger_head(struct api_handler_context *context, struct api_response *response);
void api_post_ledger_verify(struct api_handler_context *context, struct api_response *response);

/* handlers_cases.c */
void api_post_cases(struct api_handler_context *context, struct api_response *response);
void api_get_case(struct api_handler_context *context, struct api_response *response);
void api_get_case_entries(struct api_handler_context *context, struct api_response *response);
void api_post_case_freeze(struct api_handler_context *context, struct api_response *response);
void api_post_case_unfreeze(struct api_handler_context *context, struct api_response *response);
void api_post_case_close(struct api_handler_context *context, struct api_response *response);
void api_post_bank_accounts(struct api_handler_context *context, struct api_response *response);
void api_get_bank_accounts(struct api_handler_context *context, struct api_response *response);

/* handlers_money.c */
void api_post_receipts(struct api_handler_context *context, struct api_response *response);
void api_post_disbursements(struct api_handler_context *context, struct api_response *response);
void api_get_disbursements(struct api_handler_context *context, struct api_response *response);
void api_post_disbursement_approve(struct api_handler_context *context,
                                   struct api_response *response);
void api_post_disbursement_reject(struct api_handler_context *context,
                                  struct api_response *response);
void api_post_disbursement_settle(struct api_handler_context *context,
                                  struct api_response *response);
void api_post_disbursement_return(struct api_handler_context *context,
                                  struct api_response *response);
void api_post_transfers(struct api_handler_context *context, struct api_response *response);
void api_post_entry_reverse(struct api_handler_context *context, struct api_response *response);

/* handlers_statements.c */
void api_post_statements(struct api_handler_context *context, struct api_response *response);
void api_get_statement(struct api_handler_context *context, struct api_response *response);
void api_get_reconciliation_exceptions(struct api_handler_context *context,
                                       struct api_response *response);
void api_get_reconciliation_report(struct api_handler_context *context,
                                   struct api_response *response);
void api_post_suspense_assign(struct api_handler_context *context, struct api_response *response);

/* handlers_status.c */
void api_post_status(struct api_handler_context *context, struct api_response *response);

#endif

/* TEMPORARY during development of the HTTP issue: handlers not written yet
 * answer 501. Each is removed from here when its real one lands; this file
 * must be gone before the issue is closed. */
#include "handlers.h"

#define PENDING(name)                                                                              \
    void name(struct api_handler_context *context, struct api_response *response)                 \
    {                                                                                              \
        (void)context;                                                                             \
        api_respond_problem(response, 501, "not_implemented", #name);                             \
    }

PENDING(api_post_cases)
PENDING(api_get_case)
PENDING(api_get_case_entries)
PENDING(api_post_case_freeze)
PENDING(api_post_case_unfreeze)
PENDING(api_post_case_close)
PENDING(api_post_bank_accounts)
PENDING(api_get_bank_accounts)
PENDING(api_post_receipts)
PENDING(api_post_disbursements)
PENDING(api_get_disbursements)
PENDING(api_post_disbursement_approve)
PENDING(api_post_disbursement_reject)
PENDING(api_post_disbursement_settle)
PENDING(api_post_disbursement_return)
PENDING(api_post_transfers)
PENDING(api_post_entry_reverse)
PENDING(api_post_status)

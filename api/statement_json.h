/* JSON of statement imports and reconciliation reports, the same for the
 * command line (`caseledger import`, `reconcile`) and the HTTP API
 * (POST /v1/statements, GET /v1/reconciliation). */
#ifndef API_STATEMENT_JSON_H
#define API_STATEMENT_JSON_H

#include <jansson.h>

#include "import.h"
#include "statements.h"

/* {"statement_id", "lines", "booked", "matched", "settled", "returned",
 * "suspense", "duplicates", "unmatched", "opening"(+_text),
 * "closing"(+_text)} of one statement, or of a file's total. New object. */
json_t *api_statement_summary_json(const struct recon_statement_summary *summary,
                                   const char *currency);
/* The total of an import with "format", "currency", "file_digest",
 * "book_balance"(+_text), "difference"(+_text) and "statements" (each
 * statement's summary). New object. */
json_t *api_import_json(const struct recon_import_result *result);
/* A reconciliation report of the custody account account_no. New object. */
json_t *api_report_json(const char *account_no, const struct ledger_report *report);

#endif

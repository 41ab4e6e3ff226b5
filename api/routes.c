#include "routes.h"

#include <string.h>

#include "handlers.h"

#define APPROVER LEDGER_ROLE_APPROVER
#define CLERK LEDGER_ROLE_CLERK

const struct api_route api_routes[] = {
    {"GET", "/", api_get_index, API_ROLES_PUBLIC, false, false, false},
    {"GET", "/healthz", api_get_healthz, API_ROLES_PUBLIC, true, false, false},
    {"GET", "/metrics", api_get_metrics, API_ROLES_PUBLIC, false, false, false},
    {"GET", "/v1/openapi.json", api_get_openapi, API_ROLES_PUBLIC, false, false, false},
    {"GET", "/v1/ledger/head", api_get_ledger_head, API_ROLES_PUBLIC, true, false, false},
    {"POST", "/v1/ledger/verify", api_post_ledger_verify, LEDGER_ROLE_AUDITOR, true, true, false},
    {"POST", "/v1/bank-accounts", api_post_bank_accounts, LEDGER_ROLE_ADMIN, true, true, false},
    {"GET", "/v1/bank-accounts", api_get_bank_accounts, API_ROLES_STAFF, true, false, false},
    {"POST", "/v1/cases", api_post_cases, CLERK, true, true, false},
    {"GET", "/v1/cases/{case_no}", api_get_case, API_ROLES_STAFF, true, false, false},
    {"GET", "/v1/cases/{case_no}/entries", api_get_case_entries, API_ROLES_STAFF, true, false,
     false},
    {"POST", "/v1/cases/{case_no}/freeze", api_post_case_freeze, APPROVER, true, true, false},
    {"POST", "/v1/cases/{case_no}/unfreeze", api_post_case_unfreeze, APPROVER, true, true, false},
    {"POST", "/v1/cases/{case_no}/close", api_post_case_close, APPROVER, true, true, false},
    {"POST", "/v1/receipts", api_post_receipts, CLERK | LEDGER_ROLE_BANK, true, true, false},
    {"POST", "/v1/disbursements", api_post_disbursements, CLERK, true, true, false},
    {"GET", "/v1/disbursements", api_get_disbursements, API_ROLES_STAFF, true, false, false},
    {"POST", "/v1/disbursements/{id}/approve", api_post_disbursement_approve, APPROVER, true, true,
     false},
    {"POST", "/v1/disbursements/{id}/reject", api_post_disbursement_reject, APPROVER, true, true,
     false},
    {"POST", "/v1/disbursements/{id}/settle", api_post_disbursement_settle,
     CLERK | APPROVER | LEDGER_ROLE_BANK, true, true, false},
    {"POST", "/v1/disbursements/{id}/return", api_post_disbursement_return,
     CLERK | APPROVER | LEDGER_ROLE_BANK, true, true, false},
    {"POST", "/v1/transfers", api_post_transfers, CLERK, true, true, false},
    {"POST", "/v1/entries/{entry_id}/reverse", api_post_entry_reverse, APPROVER, true, true, false},
    {"POST", "/v1/statements", api_post_statements, CLERK | LEDGER_ROLE_BANK, true, false, true},
    {"GET", "/v1/statements/{id}", api_get_statement, API_ROLES_STAFF, true, false, false},
    {"GET", "/v1/reconciliation/exceptions", api_get_reconciliation_exceptions, API_ROLES_STAFF,
     true, false, false},
    {"GET", "/v1/reconciliation/report", api_get_reconciliation_report, API_ROLES_STAFF, true,
     false, false},
    {"POST", "/v1/suspense/{line_id}/assign", api_post_suspense_assign, CLERK, true, true, false},
    {"POST", "/v1/status", api_post_status, API_ROLES_PUBLIC, true, true, false},
};
const size_t api_routes_count = sizeof api_routes / sizeof api_routes[0];

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes one path segment [start, end) into out; false when it is
 * malformed, too long, or decodes to a NUL. (An encoded '/' stays inside
 * its segment: the path was split before decoding.) */
static bool decode_segment(char out[API_PARAM_MAX], const char *start, const char *end)
{
    size_t used = 0;
    for (const char *c = start; c < end; c++) {
        char value = *c;
        if (value == '%') {
            if (end - c < 3)
                return false;
            int high = hex_value(c[1]);
            int low = hex_value(c[2]);
            if (high < 0 || low < 0)
                return false;
            value = (char)(high * 16 + low);
            c += 2;
        }
        if (value == '\0' || used + 1 >= API_PARAM_MAX)
            return false;
        out[used++] = value;
    }
    out[used] = '\0';
    return used > 0;
}

/* Matches path against pattern; captures {…} segments. */
static bool match(const char *pattern, const char *path, char params[API_PARAMS_MAX][API_PARAM_MAX])
{
    size_t captured = 0;
    const char *p = pattern;
    const char *s = path;
    while (*p != '\0' && *s != '\0') {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        const char *p_end = strchr(p, '/');
        const char *s_end = strchr(s, '/');
        if (p_end == NULL)
            p_end = p + strlen(p);
        if (s_end == NULL)
            s_end = s + strlen(s);
        if (*p == '{') {
            if (captured >= API_PARAMS_MAX || !decode_segment(params[captured++], s, s_end))
                return false;
        } else if ((size_t)(p_end - p) != (size_t)(s_end - s) ||
                   strncmp(p, s, (size_t)(p_end - p)) != 0) {
            return false;
        }
        p = p_end;
        s = s_end;
    }
    return *p == '\0' && *s == '\0';
}

const struct api_route *api_route_find(const char *method, const char *path,
                                       char params[API_PARAMS_MAX][API_PARAM_MAX], bool *path_known)
{
    *path_known = false;
    /* HEAD is GET without the body (libmicrohttpd leaves it out) */
    const char *wanted = strcmp(method, "HEAD") == 0 ? "GET" : method;
    for (size_t i = 0; i < api_routes_count; i++) {
        if (!match(api_routes[i].pattern, path, params))
            continue;
        *path_known = true;
        if (strcmp(api_routes[i].method, wanted) == 0)
            return &api_routes[i];
    }
    return NULL;
}

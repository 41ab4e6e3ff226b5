/* The route table: every endpoint the server serves, with the roles that
 * may call it. The OpenAPI description must name exactly these (a test
 * checks it). */
#ifndef API_ROUTES_H
#define API_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "server.h"

#define API_ROLES_PUBLIC 0u
#define API_ROLES_STAFF                                                                            \
    (LEDGER_ROLE_CLERK | LEDGER_ROLE_APPROVER | LEDGER_ROLE_AUDITOR | LEDGER_ROLE_ADMIN)

struct api_route {
    const char *method;  /* "GET", "POST" */
    const char *pattern; /* "/v1/cases/{case_no}/freeze": {name} matches one segment */
    api_handler handler;
    unsigned roles;   /* LEDGER_ROLE_* mask; API_ROLES_PUBLIC: no token needed */
    bool uses_ledger; /* takes a pooled database handle */
    bool json_body;   /* POST with a JSON object body */
    bool file_body;   /* POST whose body is a file (a statement), up to statement_body_max */
};

extern const struct api_route api_routes[];
extern const size_t api_routes_count;

/* Finds the route for method and path (percent-decoded segments into
 * params). *path_known is true when some route has this path under
 * another method (405 rather than 404). */
const struct api_route *api_route_find(const char *method, const char *path,
                                       char params[API_PARAMS_MAX][API_PARAM_MAX],
                                       bool *path_known);

#endif

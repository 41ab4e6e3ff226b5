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


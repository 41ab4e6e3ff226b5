/* The HTTP server: libmicrohttpd with a thread pool, a pool of ledger
 * handles sharing one committer, routing, auth, limits, problem+json
 * errors, one JSON log line per request, metrics. */
#ifndef API_SERVER_H
#define API_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ledger.h"

struct api_server;
struct api_request;

#define API_MAPPING_DIR_DEFAULT "etc/csv-mappings" /* relative to the working directory */

struct api_server_config {
    const char *listen_address; /* "127.0.0.1" */
    unsigned port;              /* 0: any free port (printed) */
    const char *dsn;
    const char *key_file;
    const char *access_key_file;
    const char *keyring_file;
    unsigned threads;               /* worker threads = database handles */
    size_t body_max;                /* JSON bodies */
    size_t statement_body_max;      /* statement files (POST /v1/statements) */
    const char *mapping_dir;        /* CSV column mappings by name: DIR/NAME.mapping */
    bool quiet;                     /* no request log lines */
    unsigned lock_wait_ms;          /* a statement's wait for a lock; 0: API_LOCK_WAIT_MS */
    size_t bodies_in_flight_max;    /* bytes of bodies held at once; 0: API_BODIES_IN_FLIGHT_MAX */
    const char *trusted_proxies;    /* "ADDR[/BITS], ..." whose X-Forwarded-For counts, or NULL */
    const char *metrics_token_file; /* GET /metrics needs this bearer token; NULL: public */
    int64_t amount_max_minor;       /* largest amount of one entry or line; 0: the default */
};

/* Runs until SIGTERM or SIGINT; in-flight requests finish first. Prints
 * {"listening": "http://ADDR:PORT"} on stdout once ready. Returns the
 * process exit status. */
int api_server_run(const struct api_server_config *config);

/* ---- for handlers ---- */

#define API_PARAMS_MAX 4
#define API_PARAM_MAX 512

/* A handler's answer. Exactly one of json / raw is set. */
struct api_response {
    unsigned status;
    json_t *json;    /* owned */
    const char *raw; /* borrowed, static */
    char *owned;     /* or an owned buffer (free()d once sent) */
    size_t raw_size;
    const char *content_type;
    char retry_after[16];  /* "" or seconds, for 429 */
    bool www_authenticate; /* 401: ask for a bearer token */
};

struct api_handler_context {
    struct api_request *request;
    struct ledger *ledger; /* a pooled handle, or NULL for routes without database */
    const char *user;      /* authenticated staff user, or NULL */
    unsigned role;
    char params[API_PARAMS_MAX][API_PARAM_MAX]; /* {…} path segments, percent-decoded */
    json_t *body;                               /* parsed JSON object of a POST, or NULL */
    const char *idempotency_key;                /* header value, validated, or NULL */
};

typedef void (*api_handler)(struct api_handler_context *context, struct api_response *response);

/* Responses. The problem+json body is {"type", "title", "status",
 * "detail", "code"}. */
void api_respond_json(struct api_response *response, unsigned status, json_t *body);
void api_respond_problem(struct api_response *response, unsigned status, const char *code,
                         const char *detail);
void api_respond_ledger_error(struct api_response *response, enum ledger_err err,
                              const char *detail);
/* Retry-After: API_UNAVAILABLE_RETRY_AFTER_S (the database is away). */
void api_respond_retry_soon(struct api_response *response);
void api_respond_raw(struct api_response *response, unsigned status, const char *content_type,
                     const char *data, size_t size);
/* Same, taking a malloc()ed NUL-terminated text. */
void api_respond_owned(struct api_response *response, unsigned status, const char *content_type,
                       char *text);

/* A request header's value, or NULL. */
const char *api_header(struct api_handler_context *context, const char *name);
/* The raw request body of a file_body route (NUL-terminated; size 0 when
 * empty). Borrowed for the request. */
const char *api_body_bytes(struct api_handler_context *context, size_t *size);

/* Query string value of the request, or NULL. */
const char *api_query(struct api_handler_context *context, const char *name);
/* The client's address as text (for rate limiting; never logged with codes):
 * the peer, or behind a trusted proxy the address it forwarded. */
const char *api_client_address(struct api_handler_context *context);
/* The server (for its committer stats, rate limiter, config). */
struct api_server *api_context_server(struct api_handler_context *context);
const struct api_server_config *api_server_config_of(const struct api_server *server);

/* Body fields: each returns false after setting the 400/422 response. */
bool api_body_string(struct api_handler_context *context, struct api_response *response,
                     const char *name, bool required, size_t max_bytes, const char **out);
bool api_body_amount(struct api_handler_context *context, struct api_response *response,
                     const char *name, int64_t *amount_minor);
bool api_body_int64(struct api_handler_context *context, struct api_response *response,
                    const char *name, bool required, int64_t *out);
/* Requires the Idempotency-Key header (400 otherwise). */
bool api_require_idempotency_key(struct api_handler_context *context,
                                 struct api_response *response);
/* ?limit= (default 50, 1..1000; 400 otherwise). */
bool api_list_limit(struct api_handler_context *context, struct api_response *response, int *limit);

/* Amount text of minor units in the currency, as a new JSON string. */
json_t *api_amount_json(int64_t amount_minor, const char *currency);

#endif

/* The HTTP server's request lifecycle: accept a request, bound its body,
 * route it, authenticate and authorise it, parse its JSON strictly, call
 * one handler with a pooled ledger handle, answer, log one JSON line, count
 * it. Shutdown on SIGTERM/SIGINT lets in-flight requests finish. */
#include "server_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define QUERY_VALUE_MAX 512
#define API_FORWARDED_HEADERS_MAX 8 /* X-Forwarded-For header lines read (the last ones) */

static int64_t now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* Paths reach us undecoded: segments are decoded one by one by the router,
 * so that an encoded '/' inside a case number stays inside its segment. */
static size_t keep_escaped(void *cls, struct MHD_Connection *connection, char *text)
{
    (void)cls;
    (void)connection;
    return strlen(text);
}

const struct api_server_config *api_server_config_of(const struct api_server *server)
{
    return &server->config;
}

struct api_server *api_context_server(struct api_handler_context *context)
{
    return context->request->server;
}

const char *api_client_address(struct api_handler_context *context)
{
    return context->request->client_address;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

const char *api_header(struct api_handler_context *context, const char *name)
{
    return MHD_lookup_connection_value(context->request->connection, MHD_HEADER_KIND, name);
}

const char *api_body_bytes(struct api_handler_context *context, size_t *size)
{
    *size = context->request->body_size;
    return context->request->body != NULL ? context->request->body : "";
}

/* Query values are percent-decoded here ('+' is a space); a malformed or
 * over-long one reads as absent. Each call decodes into the next of the
 * request's API_QUERY_SLOTS buffers. */
const char *api_query(struct api_handler_context *context, const char *name)
{
    const char *raw =
        MHD_lookup_connection_value(context->request->connection, MHD_GET_ARGUMENT_KIND, name);
    if (raw == NULL)
        return NULL;
    struct api_request *request = context->request;
    size_t slot = request->query_used % API_QUERY_SLOTS;
    char *out = request->query_values[slot];
    size_t used = 0;
    for (const char *c = raw; *c != '\0'; c++) {
        char value = *c == '+' ? ' ' : *c;
        if (*c == '%') {
            int high = c[1] ? hex_digit(c[1]) : -1;
            int low = high >= 0 && c[2] ? hex_digit(c[2]) : -1;
            if (low < 0)
                return NULL;
            value = (char)(high * 16 + low);
            c += 2;
        }
        if (value == '\0' || used + 1 >= QUERY_VALUE_MAX)
            return NULL;
        out[used++] = value;
    }
    out[used] = '\0';
    request->query_used++;
    return out;
}

/* Every query parameter (name and value) is valid percent-encoding of
 * text without NUL that fits a value buffer; otherwise the request is
 * refused rather than the parameter ignored. */
static bool escaped_valid(const char *text)
{
    size_t length = 0;
    for (const char *c = text; *c != '\0'; c++, length++) {
        if (*c != '%')
            continue;
        int high = c[1] ? hex_digit(c[1]) : -1;
        int low = high >= 0 && c[2] ? hex_digit(c[2]) : -1;
        if (low < 0 || (high == 0 && low == 0))
            return false;
        c += 2;
    }
    return length + 1 < QUERY_VALUE_MAX;
}

static enum MHD_Result query_argument_check(void *cls, enum MHD_ValueKind kind, const char *key,
                                            const char *value)
{
    bool *valid = cls;
    (void)kind;
    if (key == NULL || !escaped_valid(key) || (value != NULL && !escaped_valid(value))) {
        *valid = false;
        return MHD_NO;
    }
    return MHD_YES;
}

static bool query_valid(struct MHD_Connection *connection)
{
    bool valid = true;
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, query_argument_check, &valid);
    return valid;
}

/* ---- answering ---- */

struct MHD_Response *api_response_build(struct api_request *request, struct api_response *response)
{
    struct MHD_Response *built = NULL;
    if (response->json != NULL) {
        char *text = json_dumps(response->json, JSON_COMPACT);
        json_decref(response->json);
        response->json = NULL;
        if (text != NULL) {
            built = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
            free(text);
        }
    } else if (response->owned != NULL) {
        built = MHD_create_response_from_buffer(strlen(response->owned), response->owned,
                                                MHD_RESPMEM_MUST_COPY);
        free(response->owned);
        response->owned = NULL;
    } else if (response->raw != NULL) {
        built = MHD_create_response_from_buffer(response->raw_size, (void *)response->raw,
                                                MHD_RESPMEM_PERSISTENT);
    }
    if (built == NULL) {
        static const char failed[] =
            "{\"type\":\"https://caseledger.invalid/problems/internal\",\"title\":\"Internal "
            "Server Error\",\"status\":500,\"detail\":\"could not render the answer\","
            "\"code\":\"internal\"}";
        response->status = 500;
        response->content_type = "application/problem+json; charset=utf-8";
        built = MHD_create_response_from_buffer(sizeof failed - 1, (void *)failed,
                                                MHD_RESPMEM_PERSISTENT);
    }
    MHD_add_response_header(built, "Content-Type",
                            response->content_type ? response->content_type
                                                   : "application/json; charset=utf-8");
    MHD_add_response_header(built, "X-Request-Id", request->request_id);
    MHD_add_response_header(built, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(built, "Cache-Control", "no-store");
    if (response->retry_after[0] != '\0')
        MHD_add_response_header(built, "Retry-After", response->retry_after);
    if (request->bad_framing || request->close_after || atomic_load(&request->server->stopping))
        MHD_add_response_header(built, MHD_HTTP_HEADER_CONNECTION, "close");
    if (response->www_authenticate)
        MHD_add_response_header(built, "WWW-Authenticate", "Bearer realm=\"caseledger\"");
    request->status = response->status;
    return built;
}

/* ---- request checks ---- */

static bool idempotency_key_valid(const char *key)
{
    size_t length = strlen(key);
    if (length < 1 || length > LEDGER_IDEMPOTENCY_KEY_MAX)
        return false;
    for (size_t i = 0; i < length; i++)
        if (key[i] < 0x21 || key[i] > 0x7e)
            return false;
    return true;
}

/* Depth and string sizes of a parsed document, without recursion: an
 * explicit stack bounded by API_JSON_DEPTH_MAX. */
static bool json_within_limits(json_t *root, const char **why)
{
    struct frame {
        json_t *value;
        void *iterator;
        size_t index;
    } stack[API_JSON_DEPTH_MAX + 1];
    size_t depth = 0;
    stack[0] = (struct frame){root, json_is_object(root) ? json_object_iter(root) : NULL, 0};
    for (;;) {
        struct frame *top = &stack[depth];
        json_t *child = NULL;
        if (json_is_object(top->value) && top->iterator != NULL) {
            if (strlen(json_object_iter_key(top->iterator)) > API_JSON_STRING_MAX) {
                *why = "a key is too long";
                return false;
            }
            child = json_object_iter_value(top->iterator);
            top->iterator = json_object_iter_next(top->value, top->iterator);
        } else if (json_is_array(top->value) && top->index < json_array_size(top->value)) {
            child = json_array_get(top->value, top->index++);
        } else if (depth == 0) {
            return true;
        } else {
            depth--;
            continue;
        }
        if (json_is_string(child) && json_string_length(child) > API_JSON_STRING_MAX) {
            *why = "a string is too long";
            return false;
        }
        if (json_is_object(child) || json_is_array(child)) {
            if (depth + 1 >= API_JSON_DEPTH_MAX) {
                *why = "the document is nested too deeply";
                return false;
            }
            stack[++depth] =
                (struct frame){child, json_is_object(child) ? json_object_iter(child) : NULL, 0};
        }
    }
}

/* Parses the request body as a JSON object (an empty body is {}). */
static bool parse_body(struct api_request *request, struct api_handler_context *context,
                       struct api_response *response)
{
    if (request->body_size == 0) {
        context->body = json_object();
        return true;
    }
    const char *type =
        MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, "Content-Type");
    /* Media types are case-insensitive (RFC 9110); parameters may follow. */
    if (type == NULL || strncasecmp(type, "application/json", 16) != 0 ||
        (type[16] != '\0' && type[16] != ';' && type[16] != ' ')) {
        api_respond_problem(response, 415, "unsupported_media_type",
                            "send the body as application/json");
        return false;
    }
    json_error_t error;
    context->body = json_loadb(request->body, request->body_size, JSON_REJECT_DUPLICATES, &error);
    char detail[256];
    if (context->body == NULL) {
        snprintf(detail, sizeof detail, "malformed JSON at line %d column %d: %s", error.line,
                 error.column, error.text);
        api_respond_problem(response, 400, "malformed_json", detail);
        return false;
    }
    const char *why = NULL;
    if (!json_is_object(context->body)) {
        api_respond_problem(response, 400, "malformed_json", "the body must be a JSON object");
        return false;
    }
    if (!json_within_limits(context->body, &why)) {
        api_respond_problem(response, 400, "json_limits", why);
        return false;
    }
    return true;
}

static bool authorise(struct api_request *request, const struct api_route *route,
                      struct api_handler_context *context, struct api_response *response)
{
    if (route->roles == API_ROLES_PUBLIC)
        return true;
    const char *authorization =
        MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, "Authorization");
    char user[LEDGER_NAME_MAX + 1];
    unsigned role = 0;
    enum ledger_err err = authorization == NULL ? LEDGER_ERR_UNKNOWN_USER
                                                : api_auth_token(request->server, context->ledger,
                                                                 authorization, user, &role);
    if (err == LEDGER_ERR_UNKNOWN_USER) {
        api_respond_problem(response, 401, "unauthenticated",
                            "send Authorization: Bearer <token> of an enabled user");
        response->www_authenticate = true;
        return false;
    }
    if (err != LEDGER_OK) {
        api_respond_ledger_error(response, err, NULL);
        return false;
    }
    snprintf(request->user, sizeof request->user, "%s", user);
    context->user = request->user;
    context->role = role;
    if ((role & route->roles) == 0) {
        api_respond_problem(response, 403, "forbidden_role", "your role may not use this endpoint");
        return false;
    }
    return true;
}

static void respond_bodies_busy(struct api_response *response)
{
    api_respond_problem(response, 503, "busy",
                        "the server is receiving too many request bodies at once: try again");
    snprintf(response->retry_after, sizeof response->retry_after, "%d",
             API_UPLOAD_BUSY_RETRY_AFTER_S);
}

/* A route's token and role, checked from the headers alone, before any
 * of the body is read (an upload without a token is never buffered):
 * false after setting the answer. */
static bool authorise_early(struct api_request *request, struct api_response *response)
{
    const struct api_route *route = request->route;
    if (route == NULL || route->roles == API_ROLES_PUBLIC)
        return true;
    struct api_handler_context context;
    memset(&context, 0, sizeof context);
    context.request = request;
    context.ledger = api_pool_acquire(&request->server->pool);
    if (context.ledger == NULL) {
        api_respond_problem(response, 503, "busy", "all database connections are busy");
        snprintf(response->retry_after, sizeof response->retry_after, "1");
        return false;
    }
    request->authorised = authorise(request, route, &context, response);
    request->role = context.role;
    api_pool_release(&request->server->pool, context.ledger);
    return request->authorised;
}

static bool read_idempotency_key(struct api_request *request, struct api_handler_context *context,
                                 struct api_response *response)
{
    const char *key =
        MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, "Idempotency-Key");
    if (key != NULL && !idempotency_key_valid(key)) {
        api_respond_problem(response, 400, "invalid_idempotency_key",
                            "Idempotency-Key must be 1-128 printable ASCII characters");
        return false;
    }
    context->idempotency_key = key;
    return true;
}

/* Route, check, and run the handler. */
static void dispatch(struct api_request *request, struct api_response *response)
{
    struct api_server *server = request->server;
    struct api_handler_context context;
    memset(&context, 0, sizeof context);
    context.request = request;
    bool path_known = false;
    const struct api_route *route =
        api_route_find(request->method, request->path, context.params, &path_known);
    if (request->body_too_large) {
        api_respond_problem(response, 413, "body_too_large", "the request body is too large");
        return;
    }
    if (request->body_busy) {
        respond_bodies_busy(response);
        return;
    }
    if (route == NULL) {
        api_respond_problem(response, path_known ? 405 : 404,
                            path_known ? "method_not_allowed" : "not_found",
                            path_known ? "this path does not take that method" : "no such path");
        return;
    }
    request->route_index = (size_t)(route - api_routes);
    if (!query_valid(request->connection)) {
        api_respond_problem(response, 400, "invalid_query",
                            "a query parameter is not valid percent-encoded text");
        return;
    }
    if (!route->json_body && !route->file_body && request->body_size > 0) {
        api_respond_problem(response, 400, "unexpected_body", "this request takes no body");
        return;
    }
    bool needs_ledger = route->uses_ledger || route->roles != API_ROLES_PUBLIC;
    if (needs_ledger && (context.ledger = api_pool_acquire(&server->pool)) == NULL) {
        api_respond_problem(response, 503, "busy", "all database connections are busy");
        snprintf(response->retry_after, sizeof response->retry_after, "1");
        return;
    }
    if (request->authorised) {
        context.user = request->user;
        context.role = request->role;
    }
    if ((request->authorised || authorise(request, route, &context, response)) &&
        read_idempotency_key(request, &context, response) &&
        (!route->json_body || parse_body(request, &context, response)))
        route->handler(&context, response);
    json_decref(context.body);
    if (context.ledger != NULL)
        api_pool_release(&server->pool, context.ledger);
}

/* ---- libmicrohttpd callbacks ---- */

struct forwarded_values {
    const char *values[API_FORWARDED_HEADERS_MAX];
    size_t count;
};

static enum MHD_Result collect_forwarded(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    (void)kind;
    struct forwarded_values *forwarded = cls;
    if (strcasecmp(key, "X-Forwarded-For") != 0 || value == NULL)
        return MHD_YES;
    if (forwarded->count == API_FORWARDED_HEADERS_MAX) /* keep the right-most ones */
        memmove(forwarded->values, forwarded->values + 1,
                (API_FORWARDED_HEADERS_MAX - 1) * sizeof forwarded->values[0]);
    else
        forwarded->count++;
    forwarded->values[forwarded->count - 1] = value;
    return MHD_YES;
}

/* The peer, or behind a trusted proxy the client it forwarded. */
static void client_address_set(struct api_request *request, struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    struct forwarded_values forwarded = {.count = 0};
    const struct api_trusted_proxies *proxies = &request->server->proxies;
    if (proxies->count > 0)
        MHD_get_connection_values(connection, MHD_HEADER_KIND, collect_forwarded, &forwarded);
    api_client_address_resolve(request->client_address, sizeof request->client_address, proxies,
                               info != NULL ? info->client_addr : NULL, forwarded.values,
                               forwarded.count);
}

static struct api_request *request_new(struct api_server *server, struct MHD_Connection *connection,
                                       const char *url, const char *method)
{
    struct api_request *request = calloc(1, sizeof *request);
    if (request == NULL)
        return NULL;
    request->server = server;
    request->connection = connection;
    atomic_fetch_add(&server->requests_open, 1);
    request->started_us = now_us();
    request->route_index = API_ROUTES_MAX;
    uint8_t id[8];
    randombytes_buf(id, sizeof id);
    sodium_bin2hex(request->request_id, sizeof request->request_id, id, sizeof id);
    snprintf(request->method, sizeof request->method, "%s", method);
    /* An over-long path stays empty and is answered 414. */
    if (strlen(url) < sizeof request->path)
        snprintf(request->path, sizeof request->path, "%s", url);
    /* A statement file may be larger than a JSON body: the route decides. */
    char params[API_PARAMS_MAX][API_PARAM_MAX];
    bool path_known = false;
    request->route = api_route_find(method, request->path, params, &path_known);
    const struct api_route *route = request->route;
    if (route != NULL) /* also for an answer from the headers (its log line, metrics) */
        request->route_index = (size_t)(route - api_routes);
    request->body_max = route != NULL && route->file_body ? server->config.statement_body_max
                                                          : server->config.body_max;
    /* A body no handler reads is counted (413, unexpected_body), not kept. */
    request->body_discard = route == NULL || (!route->json_body && !route->file_body);
    client_address_set(request, connection);
    return request;
}

struct length_headers {
    const char *first;
    bool disagree;
};

static enum MHD_Result collect_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct length_headers *lengths = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0 || value == NULL)
        return MHD_YES;
    if (lengths->first == NULL)
        lengths->first = value;
    else if (strcmp(lengths->first, value) != 0)
        lengths->disagree = true;
    return MHD_YES;
}

/* Reserves bytes of the server's budget for bodies until the request
 * holds total; false (nothing reserved) past the budget. */
static bool body_reserve(struct api_request *request, size_t total)
{
    if (total <= request->body_reserved)
        return true;
    struct api_server *server = request->server;
    size_t more = total - request->body_reserved;
    size_t budget = server->config.bodies_in_flight_max;
    size_t held = atomic_load(&server->bodies_in_flight);
    do {
        if (held > budget || more > budget - held)
            return false;
    } while (!atomic_compare_exchange_weak(&server->bodies_in_flight, &held, held + more));
    request->body_reserved = total;
    return true;
}

static void body_drop(struct api_request *request)
{
    free(request->body);
    request->body = NULL;
    request->body_size = 0;
    request->body_capacity = 0;
    atomic_fetch_sub(&request->server->bodies_in_flight, request->body_reserved);
    request->body_reserved = 0;
}

/* Room for size more bytes (and the NUL): the declared length at once, or
 * growing by doubling (a chunked body comes in many small pieces), never
 * past the route's limit nor the server's budget (then body_busy). false
 * only when memory ran out. */
static bool body_grow(struct api_request *request, size_t size)
{
    if (request->body_size + size + 1 <= request->body_capacity)
        return true;
    size_t capacity = request->body_capacity ? request->body_capacity : 4096;
    if (request->body_capacity == 0 && request->body_declared > 0)
        capacity = request->body_declared + 1;
    while (capacity < request->body_size + size + 1)
        capacity *= 2;
    if (capacity > request->body_max + 1)
        capacity = request->body_max + 1;
    if (!body_reserve(request, capacity)) {
        body_drop(request);
        request->body_busy = true;
        return true;
    }
    char *grown = realloc(request->body, capacity);
    if (grown == NULL)
        return false;
    request->body = grown;
    request->body_capacity = capacity;
    return true;
}

static bool append_body(struct api_request *request, const char *data, size_t size)
{
    if (request->body_too_large || request->body_busy)
        return true;
    if (size > request->body_max - request->body_size) {
        body_drop(request);
        request->body_too_large = true;
        return true;
    }
    if (request->body_discard) {
        request->body_size += size;
        return true;
    }
    if (!body_grow(request, size))
        return false;
    if (request->body_busy)
        return true;
    memcpy(request->body + request->body_size, data, size);
    request->body_size += size;
    request->body[request->body_size] = '\0';
    return true;
}

static enum MHD_Result queue_answer(struct api_request *request, struct MHD_Connection *connection,
                                    struct api_response *response)
{
    struct MHD_Response *built = api_response_build(request, response);
    enum MHD_Result result = MHD_queue_response(connection, response->status, built);
    MHD_destroy_response(built);
    request->responded = true;
    return result;
}

/* Answers the request (once: the connection's last callback for it). */
static enum MHD_Result respond(struct api_request *request, struct MHD_Connection *connection)
{
    struct api_response response;
    memset(&response, 0, sizeof response);
    if (request->bad_framing)
        api_respond_problem(&response, 400, "bad_framing", "Content-Length headers that disagree");
    else if (request->path[0] == '\0')
        api_respond_problem(&response, 414, "uri_too_long", "the path is too long");
    else
        dispatch(request, &response);
    return queue_answer(request, connection, &response);
}

/* The first call of a request: what its headers alone decide, before any
 * of its body is read. A refusal is answered at once; libmicrohttpd then
 * reads no body and closes the connection after the answer. */
static enum MHD_Result on_headers(struct api_request *request, struct MHD_Connection *connection)
{
    /* Two Content-Length values that disagree frame the body two ways
     * (request smuggling behind a proxy): refused (RFC 9112 6.3). */
    struct length_headers lengths = {NULL, false};
    MHD_get_connection_values(connection, MHD_HEADER_KIND, collect_length, &lengths);
    request->bad_framing = lengths.disagree;
    unsigned long long declared = lengths.first != NULL ? strtoull(lengths.first, NULL, 10) : 0;
    if (declared > request->body_max)
        request->body_too_large = true;
    else
        request->body_declared = (size_t)declared;
    /* A client that waits for "100 Continue" before its body gets what the
     * headers alone refuse at once instead, and keeps its body. (One that
     * sends a body past the limit straight away has it read and dropped:
     * closing on it could lose the answer to a reset.) */
    const char *expect =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    if ((request->bad_framing || request->body_too_large) && expect != NULL &&
        strcasecmp(expect, "100-continue") == 0)
        return respond(request, connection);
    if (request->bad_framing)
        return MHD_YES;
    /* No token, or a role the route does not take: refused before a byte
     * of the body is read or held, and the connection closed. (Only when a
     * body is coming: a request without one is authorised once, by
     * dispatch, which follows at once; checking it here too took a second
     * pooled handle per request.) */
    bool body_announced = declared > 0 || MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                                      "Transfer-Encoding") != NULL;
    struct api_response response;
    memset(&response, 0, sizeof response);
    bool refused = body_announced && !authorise_early(request, &response);
    if (!refused && request->body_declared > 0 && !request->body_too_large &&
        !request->body_discard && !body_reserve(request, request->body_declared + 1)) {
        respond_bodies_busy(&response);
        refused = true;
    }
    if (!refused)
        return MHD_YES;
    request->close_after = body_announced;
    return queue_answer(request, connection, &response);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct api_request *request = *con_cls;
    if (request == NULL) {
        request = request_new(cls, connection, url, method);
        if (request == NULL)
            return MHD_NO;
        *con_cls = request;
        return on_headers(request, connection);
    }
    if (request->responded) { /* answered from the headers: the body is dropped */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!append_body(request, upload_data, *upload_data_size))
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return respond(request, connection);
}

/* One JSON line per request: never the query string, tokens or codes. */
static void log_request(const struct api_request *request, int64_t duration_us)
{
    if (request->server->config.quiet)
        return;
    char timestamp[32];
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(timestamp, sizeof timestamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
    json_t *line = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:f}", "ts", timestamp, "level", "info", "request_id",
        request->request_id, "method", request->method, "path", request->path, "route",
        request->route_index < api_routes_count ? api_routes[request->route_index].pattern : "",
        "status", (int)request->status, "duration_ms", (double)(duration_us / 10) / 100.0);
    if (line != NULL && request->user[0] != '\0')
        json_object_set_new(line, "user", json_string(request->user));
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    if (text != NULL)
        fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(line);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)connection;
    struct api_request *request = *con_cls;
    if (request == NULL)
        return;
    int64_t duration_us = now_us() - request->started_us;
    /* 499: the answer did not reach the client (it left, or we stopped). */
    if (!request->responded || code != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        request->status = 499;
    api_metrics_record(request->server->metrics, request->route_index, request->status,
                       duration_us);
    log_request(request, duration_us);
    atomic_fetch_sub(&request->server->requests_open, 1);
    body_drop(request);
    free(request);
    *con_cls = NULL;
}

/* ---- start and stop ---- */

/* The trusted keyring for POST /v1/ledger/verify: without one (missing,
 * malformed, or writable by others) that route answers 503 no_keyring;
 * the reason is logged once here. */
static void keyring_open(struct api_server *server)
{
    const char *path = server->config.keyring_file;
    if (path == NULL)
        return;
    enum ledger_err err = ledger_keyring_load(&server->keyring, path);
    server->has_keyring = err == LEDGER_OK;
    if (err != LEDGER_OK)
        fprintf(stderr,
                "{\"level\":\"warn\",\"event\":\"keyring\",\"error\":\"%s\",\"detail\":"
                "\"no trusted keyring: it is missing, malformed, or writable by group or others "
                "(or not owned by this user or root); POST /v1/ledger/verify answers 503\"}\n",
                ledger_err_code(err));
}

static enum ledger_err server_open(struct api_server *server, char *detail, size_t detail_size)
{
    struct ledger_config ledger_config = {.dsn = server->config.dsn,
                                          .key_file = server->config.key_file,
                                          .access_key_file = server->config.access_key_file,
                                          .lock_wait_ms = server->config.lock_wait_ms
                                                              ? server->config.lock_wait_ms
                                                              : API_LOCK_WAIT_MS,
                                          .amount_max_minor = server->config.amount_max_minor};
    server->metrics = calloc(1, sizeof *server->metrics);
    if (server->metrics == NULL)
        return LEDGER_ERR_NOMEM;
    pthread_mutex_init(&server->token_mutex, NULL);
    if (!api_rate_init(&server->limiter, API_RATE_SLOTS))
        return LEDGER_ERR_NOMEM;
    if (server->config.trusted_proxies != NULL &&
        !api_trusted_proxies_parse(&server->proxies, server->config.trusted_proxies)) {
        snprintf(detail, detail_size,
                 "--trusted-proxies: addresses or ADDRESS/BITS prefixes, at most %d",
                 API_TRUSTED_PROXIES_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    enum ledger_err err = api_metrics_token_load(server, detail, detail_size);
    if (err != LEDGER_OK)
        return err;
    keyring_open(server);
    char why[256];
    err = ledger_committer_start(&server->committer, &ledger_config, why, sizeof why);
    if (err != LEDGER_OK) {
        snprintf(detail, detail_size, "could not start the committer: %.200s", why);
        return err;
    }
    return api_pool_open(&server->pool, server->config.threads, &ledger_config, server->committer,
                         detail, detail_size);
}

static void server_close(struct api_server *server)
{
    api_listener_close(&server->listener);
    if (server->pool.handles != NULL)
        api_pool_close(&server->pool);
    ledger_committer_stop(server->committer);
    api_rate_destroy(&server->limiter);
    pthread_mutex_destroy(&server->token_mutex);
    free(server->metrics);
}

/* One worker: a daemon with one thread and no listening socket, fed by
 * the listener (listener.c). Its connection limit is the server's, never
 * reached (the listener admits at most that many in all); the per-address
 * limit is the listener's, across workers. */
struct MHD_Daemon *api_server_worker_start(struct api_server *server, struct api_worker *worker)
{
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                                MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET,
                            0, NULL, NULL, on_request, server, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)API_CONNECTIONS_MAX + 1, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)API_REQUEST_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)API_HEADER_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                            server, MHD_OPTION_NOTIFY_CONNECTION, api_listener_notify, worker,
                            MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL, MHD_OPTION_END);
}

static bool server_listen(struct api_server *server, unsigned *port_bound, char *detail,
                          size_t detail_size)
{
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)server->config.port);
    if (inet_pton(AF_INET, server->config.listen_address, &address.sin_addr) != 1) {
        snprintf(detail, detail_size, "listen address must be an IPv4 address");
        return false;
    }
    return api_listener_start(&server->listener, server, &address, server->config.threads,
                              port_bound, detail, detail_size);
}

int api_server_run(const struct api_server_config *config)
{
    struct api_server *server = calloc(1, sizeof *server);
    if (server == NULL)
        return 1;
    server->config = *config;
    if (server->config.statement_body_max == 0)
        server->config.statement_body_max = API_STATEMENT_BODY_MAX;
    if (server->config.bodies_in_flight_max == 0)
        server->config.bodies_in_flight_max = API_BODIES_IN_FLIGHT_MAX;
    char detail[256] = "";
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    /* Worker threads inherit the mask: only the main thread takes signals. */
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    int status = 1;
    unsigned port = 0;
    if (server_open(server, detail, sizeof detail) != LEDGER_OK ||
        !server_listen(server, &port, detail, sizeof detail)) {
        fprintf(stderr, "caseledger: %s\n", detail);
        goto out;
    }
    printf("{\"listening\":\"http://%s:%u\"}\n", config->listen_address, port);
    fflush(stdout);
    int received = 0;
    sigwait(&signals, &received);
    fprintf(stderr, "{\"level\":\"info\",\"event\":\"shutdown\",\"signal\":%d}\n", received);
    /* Stop accepting (the listening socket closes: new clients are
     * refused); MHD_stop_daemon then lets running handlers finish. */
    api_listener_stop_accepting(&server->listener);
    /* Let the requests already begun finish and their answers go out, and
     * those already received on a connection whose worker was busy begin
     * and finish too: wait for a quiet spell, bounded by the request
     * timeout. From here on every answer closes its connection. */
    atomic_store(&server->stopping, true);
    int quiet_ms = 0;
    for (int waited_ms = 0;
         quiet_ms < API_SHUTDOWN_QUIET_MS && waited_ms < API_REQUEST_TIMEOUT_S * 1000;
         waited_ms += 10) {
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
        quiet_ms = atomic_load(&server->requests_open) > 0 ? 0 : quiet_ms + 10;
    }
    status = 0;
out:
    server_close(server);
    free(server);
    return status;
}

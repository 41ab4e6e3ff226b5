/* Building responses (JSON, problem+json) and reading request bodies with
 * the limits every client-controlled value has. */
#include "server_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"

void api_respond_json(struct api_response *response, unsigned status, json_t *body)
{
    json_decref(response->json);
    response->status = status;
    response->json = body;
    response->raw = NULL;
    response->content_type = "application/json; charset=utf-8";
}

static const char *status_title(unsigned status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

void api_respond_problem(struct api_response *response, unsigned status, const char *code,
                         const char *detail)
{
    char type[128];
    snprintf(type, sizeof type, "https://caseledger.invalid/problems/%s", code);
    json_t *body =
        json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", status_title(status),
                  "status", (int)status, "detail", detail ? detail : "", "code", code);
    api_respond_json(response, status, body);
    response->content_type = "application/problem+json; charset=utf-8";
}

void api_respond_retry_soon(struct api_response *response)
{
    snprintf(response->retry_after, sizeof response->retry_after, "%d",
             API_UNAVAILABLE_RETRY_AFTER_S);
}

void api_respond_ledger_error(struct api_response *response, enum ledger_err err,
                              const char *detail)
{
    /* Database details stay in the log, not in the client's answer. */
    bool internal = err == LEDGER_ERR_DB || err == LEDGER_ERR_RETRY || err == LEDGER_ERR_BUSY ||
                    err == LEDGER_ERR_UNAVAILABLE || err == LEDGER_ERR_CRYPTO ||
                    err == LEDGER_ERR_IO || err == LEDGER_ERR_NOMEM;
    api_respond_problem(response, (unsigned)ledger_err_http_status(err), ledger_err_code(err),
                        internal || detail == NULL || detail[0] == '\0' ? ledger_err_message(err)
                                                                        : detail);
    if (err == LEDGER_ERR_BUSY)
        snprintf(response->retry_after, sizeof response->retry_after, "%d", API_BUSY_RETRY_AFTER_S);
    else if (err == LEDGER_ERR_UNAVAILABLE || err == LEDGER_ERR_DB || err == LEDGER_ERR_RETRY)
        api_respond_retry_soon(response);
}

void api_respond_raw(struct api_response *response, unsigned status, const char *content_type,
                     const char *data, size_t size)
{
    json_decref(response->json);
    response->json = NULL;
    response->status = status;
    response->raw = data;
    response->raw_size = size;
    response->content_type = content_type;
}

json_t *api_amount_json(int64_t amount_minor, const char *currency)
{
    char text[LEDGER_AMOUNT_TEXT_MAX];
    int decimals = ledger_currency_decimals(currency ? currency : "CNY");
    if (ledger_money_format(text, sizeof text, amount_minor, decimals < 0 ? 2 : decimals) == 0)
        return json_null();
    return json_string(text);
}

/* ---- body fields ---- */

bool api_body_string(struct api_handler_context *context, struct api_response *response,
                     const char *name, bool required, size_t max_bytes, const char **out)
{
    *out = NULL;
    json_t *value = context->body ? json_object_get(context->body, name) : NULL;
    char detail[160];
    if (value == NULL || json_is_null(value)) {
        if (!required)
            return true;
        snprintf(detail, sizeof detail, "\"%s\" is required", name);
        api_respond_problem(response, 400, "missing_field", detail);
        return false;
    }
    if (!json_is_string(value)) {
        snprintf(detail, sizeof detail, "\"%s\" must be a string", name);
        api_respond_problem(response, 400, "invalid_field", detail);
        return false;
    }
    size_t length = json_string_length(value);
    if (length == 0 || length > max_bytes) {
        snprintf(detail, sizeof detail, "\"%s\" must be 1..%zu bytes", name, max_bytes);
        api_respond_problem(response, 422, "invalid_field", detail);
        return false;
    }
    *out = json_string_value(value);
    return true;
}

bool api_body_amount(struct api_handler_context *context, struct api_response *response,
                     const char *name, int64_t *amount_minor)
{
    json_t *value = context->body ? json_object_get(context->body, name) : NULL;
    char detail[160];
    if (value == NULL) {
        snprintf(detail, sizeof detail, "\"%s\" is required (integer minor units)", name);
        api_respond_problem(response, 400, "missing_field", detail);
        return false;
    }
    if (!json_is_integer(value)) {
        snprintf(detail, sizeof detail,
                 "\"%s\" must be an integer number of minor units (fen), not %s", name,
                 json_is_real(value) ? "a decimal number" : "this type");
        api_respond_problem(response, 422, "invalid_amount", detail);
        return false;
    }
    json_int_t amount = json_integer_value(value);
    if (amount <= 0) {
        snprintf(detail, sizeof detail, "\"%s\" must be positive", name);
        api_respond_problem(response, 422, "invalid_amount", detail);
        return false;
    }
    *amount_minor = (int64_t)amount;
    return true;
}

bool api_body_int64(struct api_handler_context *context, struct api_response *response,
                    const char *name, bool required, int64_t *out)
{
    json_t *value = context->body ? json_object_get(context->body, name) : NULL;
    char detail[160];
    if (value == NULL || json_is_null(value)) {
        if (!required)
            return true;
        snprintf(detail, sizeof detail, "\"%s\" is required", name);
        api_respond_problem(response, 400, "missing_field", detail);
        return false;
    }
    if (!json_is_integer(value) || json_integer_value(value) < 0) {
        snprintf(detail, sizeof detail, "\"%s\" must be a non-negative integer", name);
        api_respond_problem(response, 422, "invalid_field", detail);
        return false;
    }
    *out = (int64_t)json_integer_value(value);
    return true;
}

bool api_require_idempotency_key(struct api_handler_context *context, struct api_response *response)
{
    if (context->idempotency_key == NULL) {
        api_respond_problem(response, 400, "missing_idempotency_key",
                            "this request changes the books: send an Idempotency-Key header "
                            "(1-128 printable ASCII characters)");
        return false;
    }
    return true;
}

bool api_list_limit(struct api_handler_context *context, struct api_response *response, int *limit)
{
    const char *text = api_query(context, "limit");
    *limit = API_LIST_LIMIT_DEFAULT;
    if (text == NULL)
        return true;
    int value = 0;
    size_t length = strlen(text);
    bool digits = length > 0 && length <= 4;
    for (size_t i = 0; digits && i < length; i++) {
        digits = text[i] >= '0' && text[i] <= '9';
        value = value * 10 + (text[i] - '0');
    }
    if (!digits || value < 1 || value > API_LIST_LIMIT_MAX) {
        api_respond_problem(response, 400, "invalid_limit", "limit must be 1..1000");
        return false;
    }
    *limit = value;
    return true;
}

void api_respond_owned(struct api_response *response, unsigned status, const char *content_type,
                       char *text)
{
    api_respond_raw(response, status, content_type, NULL, 0);
    response->owned = text;
}

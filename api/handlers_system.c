/* Health, metrics, the embedded page and OpenAPI description, and the
 * ledger's signed head and verification. */
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "handlers.h"
#include "server_internal.h"

void api_get_healthz(struct api_handler_context *context, struct api_response *response)
{
    /* The pool opened a lost connection again before this (or could not:
     * then the ping fails at once). */
    if (ledger_ping(context->ledger) != LEDGER_OK) {
        api_respond_problem(response, 503, "database_unavailable", "the database does not answer");
        api_respond_retry_soon(response);
        return;
    }
    api_respond_json(response, 200, json_pack("{s:s}", "status", "ok"));
}

void api_get_metrics(struct api_handler_context *context, struct api_response *response)
{
    struct api_server *server = api_context_server(context);
    if (!api_metrics_allowed(server, api_header(context, "Authorization"))) {
        api_respond_problem(response, 401, "unauthenticated",
                            "send Authorization: Bearer <the metrics token>");
        response->www_authenticate = true;
        return;
    }
    char *text =
        api_metrics_render(server->metrics, &server->pool, server->committer, &server->listener);
    if (text == NULL) {
        api_respond_problem(response, 500, "internal", "could not render metrics");
        return;
    }
    api_respond_owned(response, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}

void api_get_openapi(struct api_handler_context *context, struct api_response *response)
{
    (void)context;
    api_respond_raw(response, 200, "application/json; charset=utf-8", api_asset_openapi_json,
                    api_asset_openapi_json_size);
}

void api_get_index(struct api_handler_context *context, struct api_response *response)
{
    (void)context;
    api_respond_raw(response, 200, "text/html; charset=utf-8", api_asset_index_html,
                    api_asset_index_html_size);
}

static json_t *head_json(const struct ledger_head *head)
{
    char hash[2 * LEDGER_HASH_SIZE + 1];
    char signature[2 * LEDGER_SIGNATURE_SIZE + 1];
    char public_key[2 * LEDGER_PUBLIC_KEY_SIZE + 1];
    ledger_to_hex(hash, head->hash, LEDGER_HASH_SIZE);
    ledger_to_hex(signature, head->signature, LEDGER_SIGNATURE_SIZE);
    ledger_to_hex(public_key, head->public_key, LEDGER_PUBLIC_KEY_SIZE);
    return json_pack("{s:I, s:s, s:I, s:s, s:s, s:s}", "seq", (json_int_t)head->seq, "hash", hash,
                     "signed_at", (json_int_t)head->signed_at_us, "signature", signature, "key_id",
                     head->key_id, "public_key", public_key);
}

void api_get_ledger_head(struct api_handler_context *context, struct api_response *response)
{
    struct ledger_head head;
    enum ledger_err err = ledger_head_current(context->ledger, &head);
    if (err != LEDGER_OK) {
        api_respond_ledger_error(response, err, NULL);
        return;
    }
    api_respond_json(response, 200, head_json(&head));
}

/* {"seq", "hash", "signed_at", "signature", "key_id", "public_key"} */
static bool head_from_json(struct ledger_head *head, json_t *value)
{
    json_int_t seq = -1;
    json_int_t signed_at = 0;
    const char *hash = NULL;
    const char *signature = NULL;
    const char *key_id = NULL;
    const char *public_key = NULL;
    memset(head, 0, sizeof *head);
    if (json_unpack(value, "{s:I, s:s, s:I, s:s, s:s, s:s}", "seq", &seq, "hash", &hash,
                    "signed_at", &signed_at, "signature", &signature, "key_id", &key_id,
                    "public_key", &public_key) != 0 ||
        seq < 0 || strlen(key_id) > LEDGER_KEY_ID_MAX ||
        ledger_from_hex(head->hash, LEDGER_HASH_SIZE, hash) != LEDGER_OK ||
        ledger_from_hex(head->signature, LEDGER_SIGNATURE_SIZE, signature) != LEDGER_OK ||
        ledger_from_hex(head->public_key, LEDGER_PUBLIC_KEY_SIZE, public_key) != LEDGER_OK)
        return false;
    head->seq = (int64_t)seq;
    head->signed_at_us = (int64_t)signed_at;
    memcpy(head->key_id, key_id, strlen(key_id) + 1);
    return true;
}

void api_post_ledger_verify(struct api_handler_context *context, struct api_response *response)
{
    struct api_server *server = api_context_server(context);
    if (!server->has_keyring) {
        api_respond_problem(response, 503, "no_keyring",
                            "the server has no trusted keyring to verify against");
        return;
    }
    int64_t from_seq = 1;
    if (!api_body_int64(context, response, "from_seq", false, &from_seq))
        return;
    json_t *head_value = json_object_get(context->body, "head");
    struct ledger_head head;
    if (head_value != NULL && !head_from_json(&head, head_value)) {
        api_respond_problem(response, 422, "invalid_head",
                            "head must be a signed head as GET /v1/ledger/head gives it");
        return;
    }
    struct ledger_verify_result result;
    enum ledger_err err =
        head_value != NULL
            ? ledger_verify(context->ledger, &server->keyring, &head, &result)
            : ledger_verify_from_seq(context->ledger, &server->keyring, from_seq, &result);
    if (err != LEDGER_OK) {
        api_respond_ledger_error(response, err, ledger_last_detail(context->ledger));
        return;
    }
    json_t *body = json_pack("{s:b, s:I}", "ok", result.ok, "checked", (json_int_t)result.checked);
    if (!result.ok) {
        json_object_set_new(body, "first_bad_seq", json_integer((json_int_t)result.first_bad_seq));
        json_object_set_new(body, "reason", json_string(result.reason));
    }
    api_respond_json(response, 200, body);
}

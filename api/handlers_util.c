/* Helpers the staff handlers share. */
#include "handlers_util.h"

#include <stdio.h>
#include <string.h>

#include "query.h"

#define ID_DIGITS_MAX 18 /* ids and cursors are positive int64 below 10^18 */

void api_respond_ledger_failure(struct api_handler_context *context, struct api_response *response,
                                enum ledger_err err)
{
    api_respond_ledger_error(response, err, ledger_last_detail(context->ledger));
}

void api_set_amount(json_t *object, const char *name, int64_t amount_minor, const char *currency)
{
    char text_name[64];
    snprintf(text_name, sizeof text_name, "%s_text", name);
    json_object_set_new(object, name, json_integer((json_int_t)amount_minor));
    json_object_set_new(object, text_name, api_amount_json(amount_minor, currency));
}

json_t *api_time_json(int64_t time_us)
{
    char text[LEDGER_TIME_TEXT_SIZE];
    return json_string(ledger_time_text(text, time_us));
}

json_t *api_hash_json(const uint8_t hash[LEDGER_HASH_SIZE])
{
    char text[2 * LEDGER_HASH_SIZE + 1];
    ledger_to_hex(text, hash, LEDGER_HASH_SIZE);
    return json_string(text);
}

/* A positive decimal of at most ID_DIGITS_MAX digits; 0 when it is not. */
static int64_t positive_decimal(const char *text)
{
    size_t length = strlen(text);
    if (length == 0 || length > ID_DIGITS_MAX)
        return 0;
    int64_t value = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9')
            return 0;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

bool api_list_cursor(struct api_handler_context *context, struct api_response *response,
                     int64_t *cursor)
{
    const char *text = api_query(context, "cursor");
    *cursor = 0;
    if (text == NULL || text[0] == '\0')
        return true;
    *cursor = positive_decimal(text);
    if (*cursor <= 0) {
        api_respond_problem(response, 400, "invalid_cursor",
                            "cursor must be the \"next\" value of an earlier page");
        return false;
    }
    return true;
}

void api_respond_page(struct api_response *response, json_t *items, int64_t next_cursor)
{
    char next_text[24];
    snprintf(next_text, sizeof next_text, "%lld", (long long)next_cursor);
    json_t *body = json_object();
    json_object_set_new(body, "items", items);
    json_object_set_new(body, "next", next_cursor > 0 ? json_string(next_text) : json_null());
    api_respond_json(response, 200, body);
}

enum ledger_err api_append_item(json_t *items, json_t *item)
{
    return item != NULL && json_array_append_new(items, item) == 0 ? LEDGER_OK : LEDGER_ERR_NOMEM;
}

bool api_member_string(struct api_response *response, json_t *object, const char *label,
                       const char *name, bool required, size_t max_bytes, const char **out)
{
    json_t *value = json_object_get(object, name);
    char detail[160];
    bool missing = value == NULL || json_is_null(value);
    *out = NULL;
    if (missing && !required)
        return true;
    if (missing || !json_is_string(value)) {
        snprintf(detail, sizeof detail, "\"%s.%s\" %s", label, name,
                 missing ? "is required" : "must be a string");
        api_respond_problem(response, 400, missing ? "missing_field" : "invalid_field", detail);
        return false;
    }
    size_t length = json_string_length(value);
    if (length == 0 || length > max_bytes) {
        snprintf(detail, sizeof detail, "\"%s.%s\" must be 1..%zu bytes", label, name, max_bytes);
        api_respond_problem(response, 422, "invalid_field", detail);
        return false;
    }
    *out = json_string_value(value);
    return true;
}

bool api_path_object_id(struct api_handler_context *context, struct api_response *response,
                        const char *unknown_code, int64_t *id)
{
    *id = positive_decimal(context->params[0]);
    if (*id <= 0) {
        api_respond_problem(response, 404, unknown_code, "the id in the path is not a known id");
        return false;
    }
    return true;
}

bool api_path_id(struct api_handler_context *context, struct api_response *response,
                 enum ledger_err unknown, int64_t *id)
{
    *id = positive_decimal(context->params[0]);
    if (*id <= 0) {
        api_respond_ledger_error(response, unknown, "the id in the path is not a known id");
        return false;
    }
    return true;
}

bool api_respond_booking(struct api_handler_context *context, struct api_response *response,
                         enum ledger_err err, const struct ledger_booking *booking)
{
    /* A receipt's booking names the account it credited; an assignment's
     * is looked up. */
    struct ledger_account_summary account;
    memset(&account, 0, sizeof account);
    bool named = err == LEDGER_OK && booking->currency[0] != '\0';
    if (named) {
        snprintf(account.kind, sizeof account.kind, "%s",
                 booking->case_no[0] != '\0' ? "case" : "suspense");
        snprintf(account.case_no, sizeof account.case_no, "%s", booking->case_no);
        snprintf(account.currency, sizeof account.currency, "%s", booking->currency);
    } else if (err == LEDGER_OK) {
        err = ledger_account_get(context->ledger, booking->account_id, &account);
    }
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return false;
    }
    bool is_case = strcmp(account.kind, "case") == 0;
    json_t *body = json_object();
    json_object_set_new(body, "entry_id", json_integer((json_int_t)booking->seq));
    json_object_set_new(body, "seq", json_integer((json_int_t)booking->seq));
    json_object_set_new(body, "case_no", is_case ? json_string(account.case_no) : json_null());
    json_object_set_new(body, "suspense", json_boolean(!is_case));
    api_set_amount(body, "amount", booking->amount_minor, account.currency);
    json_object_set_new(body, "currency", json_string(account.currency));
    json_object_set_new(body, "hash", api_hash_json(booking->hash));
    api_respond_json(response, 201, body);
    return true;
}

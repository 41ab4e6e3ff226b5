/* Cases and custody bank accounts: opening a case, reading it and its
 * postings, freezing, unfreezing and closing it; creating and listing the
 * custody bank accounts. */
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "handlers_util.h"
#include "query.h"

#define CURRENCY_TEXT_MAX 3

/* ---- cases ---- */

static json_t *case_json(const struct ledger_case_info *info)
{
    json_t *balance = json_object();
    api_set_amount(balance, "held", info->held, info->currency);
    api_set_amount(balance, "pending_out", info->pending_out, info->currency);
    api_set_amount(balance, "available", info->available, info->currency);
    json_t *body = json_object();
    json_object_set_new(body, "case_no", json_string(info->case_no));
    json_object_set_new(body, "account_id", json_integer((json_int_t)info->account_id));
    json_object_set_new(body, "payin_no", json_string(info->payin_no));
    json_object_set_new(body, "status", json_string(info->status));
    json_object_set_new(body, "currency", json_string(info->currency));
    json_object_set_new(body, "balance", balance);
    api_set_amount(body, "received_total", info->received_total, info->currency);
    api_set_amount(body, "disbursed_total", info->disbursed_total, info->currency);
    return body;
}

/* Answers the case as GET /v1/cases/{case_no} shows it. */
static void respond_case(struct api_handler_context *context, struct api_response *response,
                         const char *case_no)
{
    struct ledger_case_info info;
    enum ledger_err err = ledger_case_info(context->ledger, case_no, &info);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    api_respond_json(response, 200, case_json(&info));
}

/* "applicants": [{"name", "id_no"?, "phone"?}], 1..LEDGER_APPLICANTS_MAX. */
static bool parse_applicants(struct api_handler_context *context, struct api_response *response,
                             struct ledger_applicant applicants[LEDGER_APPLICANTS_MAX],
                             size_t *count)
{
    json_t *array = json_object_get(context->body, "applicants");
    *count = 0;
    if (!json_is_array(array) || json_array_size(array) < 1 ||
        json_array_size(array) > LEDGER_APPLICANTS_MAX) {
        api_respond_problem(response, array == NULL ? 400 : 422,
                            array == NULL ? "missing_field" : "invalid_field",
                            "\"applicants\" must be an array of 1..64 {\"name\", \"id_no\"?, "
                            "\"phone\"?}");
        return false;
    }
    for (size_t i = 0; i < json_array_size(array); i++) {
        json_t *item = json_array_get(array, i);
        char label[48]; /* "applicants[N]" */
        snprintf(label, sizeof label, "applicants[%zu]", i);
        struct ledger_applicant *applicant = &applicants[i];
        if (!json_is_object(item)) {
            api_respond_problem(response, 400, "invalid_field", "each applicant must be an object");
            return false;
        }
        if (!api_member_string(response, item, label, "name", true, LEDGER_NAME_MAX,
                               &applicant->name) ||
            !api_member_string(response, item, label, "id_no", false, LEDGER_NAME_MAX,
                               &applicant->id_no) ||
            !api_member_string(response, item, label, "phone", false, LEDGER_NAME_MAX,
                               &applicant->phone))
            return false;
    }
    *count = json_array_size(array);
    return true;
}

void api_post_cases(struct api_handler_context *context, struct api_response *response)
{
    struct ledger_case_request request;
    struct ledger_applicant applicants[LEDGER_APPLICANTS_MAX];
    memset(&request, 0, sizeof request);
    if (!api_require_idempotency_key(context, response) ||
        !api_body_string(context, response, "case_no", true, LEDGER_CASE_NO_MAX,
                         &request.case_no) ||
        !api_body_string(context, response, "court", true, LEDGER_COURT_MAX, &request.court) ||
        !api_body_string(context, response, "title", false, LEDGER_TITLE_MAX, &request.title) ||
        !api_body_string(context, response, "currency", false, CURRENCY_TEXT_MAX,
                         &request.currency) ||
        !parse_applicants(context, response, applicants, &request.applicants_count))
        return;
    request.applicants = applicants;
    struct ledger_case_result result;
    enum ledger_err err = ledger_case_open(context->ledger, context->user, &request,
                                           context->idempotency_key, &result);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    json_t *body = json_object();
    json_object_set_new(body, "case_no", json_string(request.case_no));
    json_object_set_new(body, "account_id", json_integer((json_int_t)result.account_id));
    json_object_set_new(body, "payin_no", json_string(result.payin_no));
    /* Shown once: a replay has only the stored hash. */
    json_object_set_new(body, "access_code",
                        result.replayed ? json_null() : json_string(result.access_code));
    json_object_set_new(body, "status", json_string("open"));
    if (result.replayed)
        json_object_set_new(body, "replayed", json_true());
    sodium_memzero(result.access_code, sizeof result.access_code);
    api_respond_json(response, 201, body);
}

void api_get_case(struct api_handler_context *context, struct api_response *response)
{
    respond_case(context, response, context->params[0]);
}

/* ---- a case's postings ---- */

static json_t *counterpart_json(const struct ledger_case_entry *entry)
{
    if (entry->counterpart_id == 0)
        return json_null();
    json_t *counterpart = json_object();
    json_object_set_new(counterpart, "kind", json_string(entry->counterpart_kind));
    json_object_set_new(counterpart, "id", json_integer((json_int_t)entry->counterpart_id));
    if (entry->counterpart_case_no[0] != '\0')
        json_object_set_new(counterpart, "case_no", json_string(entry->counterpart_case_no));
    return counterpart;
}

static json_t *case_entry_json(const struct ledger_case_entry *entry)
{
    json_t *item = json_object();
    json_object_set_new(item, "entry_id", json_integer((json_int_t)entry->seq));
    json_object_set_new(item, "seq", json_integer((json_int_t)entry->seq));
    json_object_set_new(item, "kind", json_string(entry->kind));
    api_set_amount(item, "amount", entry->amount_minor, entry->currency);
    json_object_set_new(item, "currency", json_string(entry->currency));
    json_object_set_new(item, "counterpart", counterpart_json(entry));
    json_object_set_new(item, "created_at", api_time_json(entry->created_at_us));
    json_object_set_new(item, "hash", api_hash_json(entry->hash));
    json_object_set_new(item, "actor", json_string(entry->actor));
    json_object_set_new(item, "memo", json_string(entry->memo));
    json_object_set_new(item, "bank_ref", json_string(entry->bank_ref));
    if (entry->value_date_days != LEDGER_VALUE_DATE_NONE) {
        char date[LEDGER_DATE_TEXT_SIZE];
        json_object_set_new(item, "value_date",
                            json_string(ledger_date_text(date, entry->value_date_days)));
    }
    if (entry->reverses_seq != 0)
        json_object_set_new(item, strcmp(entry->kind, "assign") == 0 ? "assigned_from" : "reverses",
                            json_integer((json_int_t)entry->reverses_seq));
    if (entry->reversed_by_seq != 0)
        json_object_set_new(item, "reversed_by", json_integer((json_int_t)entry->reversed_by_seq));
    return item;
}

static enum ledger_err visit_case_entry(void *items, const struct ledger_case_entry *entry)
{
    return api_append_item(items, case_entry_json(entry));
}

void api_get_case_entries(struct api_handler_context *context, struct api_response *response)
{
    int limit = 0;
    int64_t cursor = 0;
    if (!api_list_limit(context, response, &limit) || !api_list_cursor(context, response, &cursor))
        return;
    json_t *items = json_array();
    int64_t next_cursor = 0;
    enum ledger_err err = ledger_case_entries(context->ledger, context->params[0], cursor, limit,
                                              &next_cursor, visit_case_entry, items);
    if (err != LEDGER_OK) {
        json_decref(items);
        api_respond_ledger_failure(context, response, err);
        return;
    }
    api_respond_page(response, items, next_cursor);
}

/* ---- freeze, unfreeze, close ---- */

static void case_action(struct api_handler_context *context, struct api_response *response,
                        enum ledger_case_action action)
{
    if (!api_require_idempotency_key(context, response))
        return;
    enum ledger_err err = ledger_case_set_status(context->ledger, context->user, context->params[0],
                                                 action, context->idempotency_key);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    respond_case(context, response, context->params[0]);
}

void api_post_case_freeze(struct api_handler_context *context, struct api_response *response)
{
    case_action(context, response, LEDGER_CASE_FREEZE);
}

void api_post_case_unfreeze(struct api_handler_context *context, struct api_response *response)
{
    case_action(context, response, LEDGER_CASE_UNFREEZE);
}

void api_post_case_close(struct api_handler_context *context, struct api_response *response)
{
    case_action(context, response, LEDGER_CASE_CLOSE);
}

/* ---- custody bank accounts ---- */

static json_t *bank_account_json(const struct ledger_bank_account_item *item, bool with_balance)
{
    json_t *body = json_object();
    json_object_set_new(body, "id", json_integer((json_int_t)item->id));
    json_object_set_new(body, "account_no", json_string(item->account_no));
    json_object_set_new(body, "bank_name", json_string(item->bank_name));
    json_object_set_new(body, "currency", json_string(item->currency));
    if (with_balance) {
        json_object_set_new(body, "status", json_string(item->status));
        api_set_amount(body, "balance", item->balance_minor, item->currency);
    }
    return body;
}

/* Creating an account that exists with the same name and currency answers
 * it again (201); with another name or currency: 409 bank_account_exists.
 * The Idempotency-Key's first request answers again; the key with another
 * body: 409 idempotency_conflict, nothing made. */
void api_post_bank_accounts(struct api_handler_context *context, struct api_response *response)
{
    const char *account_no = NULL;
    const char *bank_name = NULL;
    const char *currency = NULL;
    if (!api_require_idempotency_key(context, response) ||
        !api_body_string(context, response, "account_no", true, LEDGER_BANK_ACCOUNT_MAX,
                         &account_no) ||
        !api_body_string(context, response, "bank_name", true, LEDGER_NAME_MAX, &bank_name) ||
        !api_body_string(context, response, "currency", false, CURRENCY_TEXT_MAX, &currency))
        return;
    int64_t id = 0;
    struct ledger_bank_account_item item;
    enum ledger_err err =
        ledger_bank_account_create(context->ledger, context->user, account_no, bank_name, currency,
                                   context->idempotency_key, &id);
    if (err == LEDGER_OK)
        err = ledger_bank_account_find(context->ledger, account_no, &item);
    if (err == LEDGER_ERR_CURRENCY_MISMATCH ||
        (err == LEDGER_OK && strcmp(item.bank_name, bank_name) != 0)) {
        api_respond_problem(response, 409, "bank_account_exists",
                            "a custody account with this number exists with another bank name "
                            "or currency");
        return;
    }
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    api_respond_json(response, 201, bank_account_json(&item, false));
}

static enum ledger_err visit_bank_account(void *items, const struct ledger_bank_account_item *item)
{
    return api_append_item(items, bank_account_json(item, true));
}

void api_get_bank_accounts(struct api_handler_context *context, struct api_response *response)
{
    int limit = 0;
    int64_t cursor = 0;
    if (!api_list_limit(context, response, &limit) || !api_list_cursor(context, response, &cursor))
        return;
    json_t *items = json_array();
    int64_t next_cursor = 0;
    enum ledger_err err = ledger_bank_accounts_list(context->ledger, cursor, limit, &next_cursor,
                                                    visit_bank_account, items);
    if (err != LEDGER_OK) {
        json_decref(items);
        api_respond_ledger_failure(context, response, err);
        return;
    }
    api_respond_page(response, items, next_cursor);
}

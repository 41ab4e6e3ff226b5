/* Money in and out: receipts, payout and transfer requests with their
 * four-eyes decisions, settlement and return of payouts, reversals, and
 * the list of disbursements. Every booking takes an Idempotency-Key; the
 * ledger answers a repeated request with its first result. */
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "handlers_util.h"
#include "query.h"

#define CURRENCY_TEXT_MAX 3
#define PAYIN_TEXT_MAX 64 /* 16 digits with the grouping people type */
#define DATE_TEXT_MAX 10  /* YYYY-MM-DD */

/* "name": "YYYY-MM-DD" into days; absent and optional: LEDGER_VALUE_DATE_NONE. */
static bool body_date(struct api_handler_context *context, struct api_response *response,
                      const char *name, bool required, int32_t *days)
{
    const char *text = NULL;
    *days = LEDGER_VALUE_DATE_NONE;
    if (!api_body_string(context, response, name, required, DATE_TEXT_MAX + 1, &text))
        return false;
    if (text != NULL && ledger_date_parse(days, text) != LEDGER_OK) {
        char detail[96];
        snprintf(detail, sizeof detail, "\"%s\" must be a date YYYY-MM-DD", name);
        api_respond_problem(response, 422, "invalid_field", detail);
        return false;
    }
    return true;
}

/* {"id", "status"[, "entry_id", "hash"]} of a decision. */
static json_t *decision_json(int64_t id, const char *status, const struct ledger_booking *booking)
{
    json_t *body = json_object();
    json_object_set_new(body, "id", json_integer((json_int_t)id));
    json_object_set_new(body, "status", json_string(status));
    if (booking != NULL) {
        json_object_set_new(body, "entry_id", json_integer((json_int_t)booking->seq));
        json_object_set_new(body, "hash", api_hash_json(booking->hash));
    }
    return body;
}

/* ---- receipts ---- */

static bool receipt_request(struct api_handler_context *context, struct api_response *response,
                            struct ledger_receipt_request *request)
{
    int64_t bank_account_id = 0;
    memset(request, 0, sizeof *request);
    if (!api_body_string(context, response, "payin_no", false, PAYIN_TEXT_MAX,
                         &request->payin_no) ||
        !api_body_string(context, response, "case_no", false, LEDGER_CASE_NO_MAX,
                         &request->case_no) ||
        !api_body_amount(context, response, "amount", &request->amount_minor) ||
        !api_body_string(context, response, "currency", false, CURRENCY_TEXT_MAX,
                         &request->currency) ||
        !api_body_string(context, response, "payer", false, LEDGER_NAME_MAX, &request->payer) ||
        !api_body_string(context, response, "bank_ref", true, LEDGER_BANK_REF_MAX,
                         &request->bank_ref) ||
        !body_date(context, response, "value_date", true, &request->value_date_days) ||
        !api_body_int64(context, response, "bank_account", false, &bank_account_id))
        return false;
    if (json_object_get(context->body, "bank_account") != NULL && bank_account_id <= 0 &&
        !json_is_null(json_object_get(context->body, "bank_account"))) {
        api_respond_problem(response, 422, "invalid_field",
                            "\"bank_account\" must be the id of a custody bank account");
        return false;
    }
    request->bank_account_id = bank_account_id;
    return true;
}

void api_post_receipts(struct api_handler_context *context, struct api_response *response)
{
    struct ledger_receipt_request request;
    if (!api_require_idempotency_key(context, response) ||
        !receipt_request(context, response, &request))
        return;
    struct ledger_booking booking;
    enum ledger_err err = ledger_receipt(context->ledger, context->user, &request,
                                         context->idempotency_key, &booking);
    if (err == LEDGER_ERR_UNKNOWN_CASE && request.payin_no != NULL) {
        /* Never booked elsewhere, and not a 404: the number is refused. */
        api_respond_problem(response, 422, "unknown_payin_no",
                            "no case has this pay-in number; nothing was booked");
        return;
    }
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    /* The booking names the account credited: no lookup after it. */
    bool is_case = booking.case_no[0] != '\0';
    json_t *body = json_object();
    json_object_set_new(body, "entry_id", json_integer((json_int_t)booking.seq));
    json_object_set_new(body, "seq", json_integer((json_int_t)booking.seq));
    json_object_set_new(body, "case_no", is_case ? json_string(booking.case_no) : json_null());
    json_object_set_new(body, "suspense", json_boolean(!is_case));
    api_set_amount(body, "amount", booking.amount_minor, booking.currency);
    json_object_set_new(body, "currency", json_string(booking.currency));
    json_object_set_new(body, "hash", api_hash_json(booking.hash));
    api_respond_json(response, 201, body);
}

/* ---- payout and transfer requests ---- */

static bool payout_request(struct api_handler_context *context, struct api_response *response,
                           struct ledger_disbursement_request *request)
{
    memset(request, 0, sizeof *request);
    if (!api_body_string(context, response, "case_no", true, LEDGER_CASE_NO_MAX,
                         &request->case_no) ||
        !api_body_amount(context, response, "amount", &request->amount_minor) ||
        !api_body_string(context, response, "purpose", false, LEDGER_MEMO_MAX, &request->purpose))
        return false;
    json_t *payee = json_object_get(context->body, "payee");
    if (!json_is_object(payee)) {
        api_respond_problem(response, 400, payee == NULL ? "missing_field" : "invalid_field",
                            "\"payee\" must be {\"name\", \"bank_account\", \"bank_name\"?}");
        return false;
    }
    return api_member_string(response, payee, "payee", "name", true, LEDGER_NAME_MAX,
                             &request->payee_name) &&
           api_member_string(response, payee, "payee", "bank_account", true,
                             LEDGER_BANK_ACCOUNT_MAX, &request->payee_account) &&
           api_member_string(response, payee, "payee", "bank_name", false, LEDGER_NAME_MAX,
                             &request->payee_bank);
}

void api_post_disbursements(struct api_handler_context *context, struct api_response *response)
{
    struct ledger_disbursement_request request;
    if (!api_require_idempotency_key(context, response) ||
        !payout_request(context, response, &request))
        return;
    int64_t id = 0;
    bool replayed = false;
    enum ledger_err err = ledger_disbursement_request(context->ledger, context->user, &request,
                                                      context->idempotency_key, &id, &replayed);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    api_respond_json(response, 201, decision_json(id, "requested", NULL));
}

void api_post_transfers(struct api_handler_context *context, struct api_response *response)
{
    const char *from = NULL;
    const char *to = NULL;
    const char *reason = NULL;
    int64_t amount_minor = 0;
    if (!api_require_idempotency_key(context, response) ||
        !api_body_string(context, response, "from", true, LEDGER_CASE_NO_MAX, &from) ||
        !api_body_string(context, response, "to", true, LEDGER_CASE_NO_MAX, &to) ||
        !api_body_amount(context, response, "amount", &amount_minor) ||
        !api_body_string(context, response, "reason", true, LEDGER_MEMO_MAX, &reason))
        return;
    int64_t id = 0;
    bool replayed = false;
    enum ledger_err err =
        ledger_transfer_request(context->ledger, context->user, from, to, amount_minor, reason,
                                context->idempotency_key, &id, &replayed);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    char approve_with[64];
    snprintf(approve_with, sizeof approve_with, "/v1/disbursements/%lld/approve", (long long)id);
    json_t *body = decision_json(id, "requested", NULL);
    json_object_set_new(body, "kind", json_string("transfer"));
    json_object_set_new(body, "approve_with", json_string(approve_with));
    api_respond_json(response, 201, body);
}

/* ---- decisions ---- */

void api_post_disbursement_approve(struct api_handler_context *context,
                                   struct api_response *response)
{
    int64_t id = 0;
    if (!api_require_idempotency_key(context, response) ||
        !api_path_id(context, response, LEDGER_ERR_UNKNOWN_DISBURSEMENT, &id))
        return;
    struct ledger_booking booking;
    enum ledger_err err = ledger_disbursement_approve(context->ledger, context->user, id,
                                                      context->idempotency_key, &booking);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    api_respond_json(response, 200, decision_json(id, "approved", &booking));
}

void api_post_disbursement_reject(struct api_handler_context *context,
                                  struct api_response *response)
{
    int64_t id = 0;
    const char *reason = NULL;
    if (!api_require_idempotency_key(context, response) ||
        !api_path_id(context, response, LEDGER_ERR_UNKNOWN_DISBURSEMENT, &id) ||
        !api_body_string(context, response, "reason", true, LEDGER_MEMO_MAX, &reason))
        return;
    bool replayed = false;
    enum ledger_err err = ledger_disbursement_reject(context->ledger, context->user, id, reason,
                                                     context->idempotency_key, &replayed);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    api_respond_json(response, 200, decision_json(id, "rejected", NULL));
}

void api_post_disbursement_settle(struct api_handler_context *context,
                                  struct api_response *response)
{
    int64_t id = 0;
    const char *bank_ref = NULL;
    int32_t value_date_days = LEDGER_VALUE_DATE_NONE;
    if (!api_require_idempotency_key(context, response) ||
        !api_path_id(context, response, LEDGER_ERR_UNKNOWN_DISBURSEMENT, &id) ||
        !api_body_string(context, response, "bank_ref", true, LEDGER_BANK_REF_MAX, &bank_ref) ||
        !body_date(context, response, "value_date", false, &value_date_days))
        return;
    struct ledger_booking booking;
    enum ledger_err err =
        ledger_disbursement_settle(context->ledger, context->user, id, bank_ref, value_date_days,
                                   context->idempotency_key, &booking);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    api_respond_json(response, 200, decision_json(id, "paid", &booking));
}

void api_post_disbursement_return(struct api_handler_context *context,
                                  struct api_response *response)
{
    int64_t id = 0;
    const char *bank_ref = NULL;
    const char *reason = NULL;
    /* The memo holds "disbursement N returned: " before the reason. */
    if (!api_require_idempotency_key(context, response) ||
        !api_path_id(context, response, LEDGER_ERR_UNKNOWN_DISBURSEMENT, &id) ||
        !api_body_string(context, response, "bank_ref", true, LEDGER_BANK_REF_MAX, &bank_ref) ||
        !api_body_string(context, response, "reason", false, LEDGER_MEMO_MAX - 64, &reason))
        return;
    struct ledger_booking booking;
    enum ledger_err err = ledger_disbursement_return(context->ledger, context->user, id, bank_ref,
                                                     reason, context->idempotency_key, &booking);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    api_respond_json(response, 200, decision_json(id, "returned", &booking));
}

/* ---- reversals ---- */

void api_post_entry_reverse(struct api_handler_context *context, struct api_response *response)
{
    int64_t seq = 0;
    const char *reason = NULL;
    if (!api_require_idempotency_key(context, response) ||
        !api_path_id(context, response, LEDGER_ERR_UNKNOWN_ENTRY, &seq) ||
        !api_body_string(context, response, "reason", true, LEDGER_MEMO_MAX, &reason))
        return;
    struct ledger_booking booking;
    enum ledger_err err = ledger_reverse(context->ledger, context->user, seq, reason,
                                         context->idempotency_key, &booking);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    json_t *body = json_object();
    json_object_set_new(body, "entry_id", json_integer((json_int_t)booking.seq));
    json_object_set_new(body, "seq", json_integer((json_int_t)booking.seq));
    json_object_set_new(body, "reverses", json_integer((json_int_t)seq));
    json_object_set_new(body, "hash", api_hash_json(booking.hash));
    api_respond_json(response, 201, body);
}

/* ---- the list ---- */

static void set_text_if(json_t *object, const char *name, const char *text)
{
    if (text[0] != '\0')
        json_object_set_new(object, name, json_string(text));
}

static void set_time_if(json_t *object, const char *name, int64_t time_us)
{
    if (time_us != 0)
        json_object_set_new(object, name, api_time_json(time_us));
}

static void set_id_if(json_t *object, const char *name, int64_t id)
{
    if (id != 0)
        json_object_set_new(object, name, json_integer((json_int_t)id));
}

static json_t *payee_json(const struct ledger_disbursement_item *item)
{
    if (item->payee_name[0] == '\0')
        return json_null();
    json_t *payee = json_object();
    json_object_set_new(payee, "name", json_string(item->payee_name));
    json_object_set_new(payee, "bank_account", json_string(item->payee_account));
    set_text_if(payee, "bank_name", item->payee_bank);
    return payee;
}

static json_t *disbursement_json(const struct ledger_disbursement_item *item)
{
    json_t *body = json_object();
    json_object_set_new(body, "id", json_integer((json_int_t)item->id));
    json_object_set_new(body, "kind", json_string(item->kind));
    json_object_set_new(body, "case_no", json_string(item->case_no));
    set_text_if(body, "to_case_no", item->to_case_no);
    api_set_amount(body, "amount", item->amount_minor, item->currency);
    json_object_set_new(body, "currency", json_string(item->currency));
    json_object_set_new(body, "payee", payee_json(item));
    json_object_set_new(body, "purpose", json_string(item->purpose));
    json_object_set_new(body, "status", json_string(item->status));
    json_object_set_new(body, "requested_by", json_string(item->requested_by));
    json_object_set_new(body, "requested_at", api_time_json(item->requested_at_us));
    set_text_if(body, "decided_by", item->decided_by);
    set_time_if(body, "decided_at", item->decided_at_us);
    set_text_if(body, "reject_reason", item->reject_reason);
    set_text_if(body, "bank_ref", item->bank_ref);
    set_time_if(body, "paid_at", item->paid_at_us);
    set_time_if(body, "returned_at", item->returned_at_us);
    set_id_if(body, "approve_entry_id", item->approve_seq);
    set_id_if(body, "settle_entry_id", item->settle_seq);
    set_id_if(body, "return_entry_id", item->return_seq);
    return body;
}

static enum ledger_err visit_disbursement(void *items, const struct ledger_disbursement_item *item)
{
    return api_append_item(items, disbursement_json(item));
}

void api_get_disbursements(struct api_handler_context *context, struct api_response *response)
{
    int limit = 0;
    int64_t cursor = 0;
    if (!api_list_limit(context, response, &limit) || !api_list_cursor(context, response, &cursor))
        return;
    /* api_query hands out API_QUERY_SLOTS (4) rotating buffers: limit and
     * cursor are parsed already, so these three may reuse theirs. */
    struct ledger_disbursement_filter filter = {.status = api_query(context, "status"),
                                                .kind = api_query(context, "kind"),
                                                .case_no = api_query(context, "case_no")};
    /* An empty filter value means no filter. */
    if (filter.status != NULL && filter.status[0] == '\0')
        filter.status = NULL;
    if (filter.kind != NULL && filter.kind[0] == '\0')
        filter.kind = NULL;
    if (filter.case_no != NULL && filter.case_no[0] == '\0')
        filter.case_no = NULL;
    json_t *items = json_array();
    int64_t next_cursor = 0;
    enum ledger_err err = ledger_disbursements_list(context->ledger, &filter, cursor, limit,
                                                    &next_cursor, visit_disbursement, items);
    if (err != LEDGER_OK) {
        json_decref(items);
        api_respond_ledger_failure(context, response, err);
        return;
    }
    api_respond_page(response, items, next_cursor);
}

/* POST /v1/status: what an applicant may see of a case, given its number
 * and access code, without a staff token.
 *
 * A wrong code and an unknown case are one answer (404 not_found, one
 * detail) reached by one path: ledger_status_lookup does the same work (a
 * keyed hash and one statement, a single round trip that also brings
 * everything shown) for both. Failures are counted per
 * client address and per case number (normalized, so that spelling
 * variants of one number share a counter); the limits are checked before
 * the lookup, so a limited client learns nothing more, not even with the
 * right code. The access code is never logged or echoed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "query.h"
#include "server_internal.h"

#define STATUS_ACCESS_CODE_MAX 64 /* bytes: a code is 16 characters plus grouping */
#define STATUS_ITEMS_MAX 500      /* receipts or payouts listed (the newest) */
#define STATUS_RATE_KEY_SIZE (LEDGER_CASE_NO_MAX * 2 + 32)

static const char not_found_detail[] = "no case with this case number and access code";

struct status_rate_keys {
    char client[STATUS_RATE_KEY_SIZE];
    char case_no[STATUS_RATE_KEY_SIZE];
};

static void rate_keys_make(struct status_rate_keys *keys, struct api_handler_context *context,
                           const char *case_no)
{
    char normalized[LEDGER_CASE_NO_MAX * 2 + 1];
    /* A number that does not normalize cannot exist; it is counted as given. */
    if (ledger_case_no_normalize(normalized, sizeof normalized, case_no) != LEDGER_OK)
        snprintf(normalized, sizeof normalized, "%s", case_no);
    snprintf(keys->client, sizeof keys->client, "status-client:%s", api_client_address(context));
    snprintf(keys->case_no, sizeof keys->case_no, "status-case:%s", normalized);
}

/* false after answering 429 when the client or the case is over its limit. */
static bool rate_check(struct api_rate_limiter *limiter, const struct status_rate_keys *keys,
                       struct api_response *response)
{
    int64_t client_retry_s = 0;
    int64_t case_retry_s = 0;
    bool client_allowed = api_rate_allowed(limiter, keys->client, API_STATUS_FAILURES_PER_IP,
                                           API_STATUS_WINDOW_S, &client_retry_s);
    bool case_allowed = api_rate_allowed(limiter, keys->case_no, API_STATUS_FAILURES_PER_CASE,
                                         API_STATUS_WINDOW_S, &case_retry_s);
    if (client_allowed && case_allowed)
        return true;
    int64_t retry_s = client_retry_s > case_retry_s ? client_retry_s : case_retry_s;
    api_respond_problem(response, 429, "rate_limited", "too many failed lookups: try again later");
    snprintf(response->retry_after, sizeof response->retry_after, "%lld", (long long)retry_s);
    return false;
}

static json_t *time_json(int64_t time_us)
{
    char text[LEDGER_TIME_TEXT_SIZE];
    return time_us == 0 ? json_null() : json_string(ledger_time_text(text, time_us));
}

static json_t *receipt_json(const struct ledger_status_receipt *receipt, const char *currency)
{
    char date[LEDGER_DATE_TEXT_SIZE];
    json_t *value_date = receipt->value_date_days == LEDGER_VALUE_DATE_NONE
                             ? json_null()
                             : json_string(ledger_date_text(date, receipt->value_date_days));
    return json_pack("{s:I, s:o, s:o, s:o}", "amount", (json_int_t)receipt->amount_minor,
                     "amount_text", api_amount_json(receipt->amount_minor, currency), "value_date",
                     value_date, "booked_at", time_json(receipt->booked_at_us));
}

static json_t *payout_json(const struct ledger_status_payout *payout, const char *currency)
{
    json_t *item =
        json_pack("{s:I, s:o, s:s, s:o}", "amount", (json_int_t)payout->amount_minor, "amount_text",
                  api_amount_json(payout->amount_minor, currency), "status", payout->status,
                  "requested_at", time_json(payout->requested_at_us));
    if (item != NULL && payout->approved_at_us != 0)
        json_object_set_new(item, "approved_at", time_json(payout->approved_at_us));
    if (item != NULL && payout->paid_at_us != 0)
        json_object_set_new(item, "paid_at", time_json(payout->paid_at_us));
    return item;
}

static json_t *status_json(const struct ledger_status_case *status_case,
                           const struct ledger_status_lists *lists)
{
    const char *currency = status_case->currency;
    json_t *receipts = json_array();
    json_t *payouts = json_array();
    for (size_t i = 0; receipts != NULL && i < lists->receipts_count; i++)
        json_array_append_new(receipts, receipt_json(&lists->receipts[i], currency));
    for (size_t i = 0; payouts != NULL && i < lists->payouts_count; i++)
        json_array_append_new(payouts, payout_json(&lists->payouts[i], currency));
    return json_pack(
        "{s:s, s:s, s:s, s:I, s:o, s:I, s:o, s:I, s:o, s:o, s:b, s:o, s:b}", "case_no",
        status_case->case_no, "status", status_case->status, "currency", currency, "received_total",
        (json_int_t)status_case->received_total, "received_total_text",
        api_amount_json(status_case->received_total, currency), "disbursed_total",
        (json_int_t)status_case->disbursed_total, "disbursed_total_text",
        api_amount_json(status_case->disbursed_total, currency), "held",
        (json_int_t)status_case->held, "held_text", api_amount_json(status_case->held, currency),
        "receipts", receipts, "receipts_more", lists->receipts_more, "disbursements", payouts,
        "disbursements_more", lists->payouts_more);
}

/* Both refusals (unknown case, wrong code) come here. */
static void respond_not_found(struct api_rate_limiter *limiter, const struct status_rate_keys *keys,
                              struct api_response *response)
{
    api_rate_failed(limiter, keys->client, API_STATUS_WINDOW_S);
    api_rate_failed(limiter, keys->case_no, API_STATUS_WINDOW_S);
    api_respond_problem(response, 404, "not_found", not_found_detail);
}

void api_post_status(struct api_handler_context *context, struct api_response *response)
{
    const char *case_no = NULL;
    const char *access_code = NULL;
    if (!api_body_string(context, response, "case_no", true, LEDGER_CASE_NO_MAX, &case_no) ||
        !api_body_string(context, response, "access_code", true, STATUS_ACCESS_CODE_MAX,
                         &access_code))
        return;
    struct api_rate_limiter *limiter = &api_context_server(context)->limiter;
    struct status_rate_keys keys;
    rate_keys_make(&keys, context, case_no);
    if (!rate_check(limiter, &keys, response))
        return;
    struct ledger_status_case status_case;
    struct ledger_status_lists lists = {.receipts_max = STATUS_ITEMS_MAX,
                                        .payouts_max = STATUS_ITEMS_MAX};
    lists.receipts = malloc(STATUS_ITEMS_MAX * sizeof *lists.receipts);
    lists.payouts = malloc(STATUS_ITEMS_MAX * sizeof *lists.payouts);
    enum ledger_err err = LEDGER_ERR_NOMEM;
    if (lists.receipts != NULL && lists.payouts != NULL)
        err = ledger_status_lookup(context->ledger, case_no, access_code, &status_case, &lists);
    json_t *body = err == LEDGER_OK ? status_json(&status_case, &lists) : NULL;
    if (body != NULL)
        api_respond_json(response, 200, body);
    else if (err == LEDGER_ERR_UNKNOWN_CASE)
        respond_not_found(limiter, &keys, response);
    else if (err == LEDGER_ERR_DB || err == LEDGER_ERR_RETRY)
        /* Not the applicant's failure: say so, and count nothing. */
        api_respond_problem(response, 503, "database_unavailable", "the database does not answer");
    else
        api_respond_ledger_error(response, err == LEDGER_OK ? LEDGER_ERR_NOMEM : err, NULL);
    free(lists.receipts);
    free(lists.payouts);
}

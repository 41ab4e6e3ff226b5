/* POST /v1/status: what an applicant may see of a case, given its number
 * and access code, without a staff token.
 *
 * A wrong code and an unknown case are one answer (404 not_found, one
 * detail) reached by one path: ledger_status_lookup does the same work (a
 * keyed hash and one statement, a single round trip that also brings
 * everything shown) for both. Failures are counted per client address (an
 * IPv6 one by its /64) in fixed windows, and per client address and case
 * number (normalized, so that spelling variants of one number share a
 * counter) with locks that double; the limits are checked before the
 * lookup, so a limited client learns nothing more, not even with the right
 * code. No counter is per case alone: wrong codes from one address cannot
 * lock a case's applicant out. The access code is never logged or echoed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "money.h"
#include "query.h"
#include "server_internal.h"
#include "text_buffer.h"

#define STATUS_ACCESS_CODE_MAX 64 /* bytes: a code is 16 characters plus grouping */
#define STATUS_ITEMS_MAX 500      /* receipts or payouts listed (the newest) */
#define STATUS_CLIENT_KEY_SIZE 96
#define STATUS_RATE_KEY_SIZE (LEDGER_CASE_NO_MAX * 2 + STATUS_CLIENT_KEY_SIZE + 32)
#define STATUS_TEXT_MAX ((size_t)1024 * 1024) /* bytes: 1,000 items of about 200 bytes fit */

static const char not_found_detail[] = "no case with this case number and access code";

static const struct api_rate_rule client_rule = {.failures_max = API_STATUS_FAILURES_PER_IP,
                                                 .window_s = API_STATUS_WINDOW_S};
static const struct api_rate_rule client_case_rule = {.failures_max =
                                                          API_STATUS_FAILURES_PER_CLIENT_CASE,
                                                      .window_s = API_STATUS_WINDOW_S,
                                                      .backoff_s = API_STATUS_BACKOFF_S,
                                                      .backoff_max_s = API_STATUS_BACKOFF_MAX_S};

struct status_rate_keys {
    char client[STATUS_RATE_KEY_SIZE];
    char client_case[STATUS_RATE_KEY_SIZE];
};

static void rate_keys_make(struct status_rate_keys *keys, struct api_handler_context *context,
                           const char *case_no)
{
    char normalized[LEDGER_CASE_NO_MAX * 2 + 1];
    /* A number that does not normalize cannot exist; it is counted as given. */
    if (ledger_case_no_normalize(normalized, sizeof normalized, case_no) != LEDGER_OK)
        snprintf(normalized, sizeof normalized, "%s", case_no);
    char client[STATUS_CLIENT_KEY_SIZE];
    api_client_rate_key(client, sizeof client, api_client_address(context));
    snprintf(keys->client, sizeof keys->client, "status-client:%s", client);
    snprintf(keys->client_case, sizeof keys->client_case, "status-client-case:%s|%s", client,
             normalized);
}

/* false after answering 429 when the client, or the client on this case,
 * is locked. */
static bool rate_check(struct api_rate_limiter *limiter, const struct status_rate_keys *keys,
                       struct api_response *response)
{
    int64_t now_s = api_rate_now_s();
    int64_t client_retry_s = 0;
    int64_t case_retry_s = 0;
    bool client_allowed = api_rate_allowed(limiter, keys->client, now_s, &client_retry_s);
    bool case_allowed = api_rate_allowed(limiter, keys->client_case, now_s, &case_retry_s);
    if (client_allowed && case_allowed)
        return true;
    int64_t retry_s = client_retry_s > case_retry_s ? client_retry_s : case_retry_s;
    api_respond_problem(response, 429, "rate_limited", "too many failed lookups: try again later");
    snprintf(response->retry_after, sizeof response->retry_after, "%lld", (long long)retry_s);
    return false;
}

/* The answer is written as text, in the bytes json_dumps(..., JSON_COMPACT)
 * wrote from the jansson objects it was once built of (keys in the same
 * order, the same escapes): some thirty objects allocated, filled and
 * dumped per lookup were a tenth of the server's time for it. Strings that
 * are not plain printable ASCII go through jansson itself, one each, so
 * that its escaping and its refusal of invalid UTF-8 stay the reference;
 * tests/test_http_applicant.c compares the two renderings. */
/* Printable ASCII but '"' and '\\': bytes json_dumps writes as they are. */
static bool plain(const char *value)
{
    for (const char *c = value; *c != '\0'; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            return false;
    return true;
}

static void put_string(struct api_text *text, const char *value)
{
    if (plain(value)) {
        api_text_put(text, "\"", 1);
        api_text_puts(text, value);
        api_text_put(text, "\"", 1);
        return;
    }
    json_t *string = json_string(value);
    char *dumped = string != NULL ? json_dumps(string, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (dumped == NULL)
        text->failed = true;
    else
        api_text_puts(text, dumped);
    free(dumped);
    json_decref(string);
}

static void put_int64(struct api_text *text, int64_t value)
{
    char digits[24]; /* "-9223372036854775808" */
    int length = snprintf(digits, sizeof digits, "%lld", (long long)value);
    api_text_put(text, digits, (size_t)length);
}

/* "name":value pairs; each but the first after a comma. */
static void put_key(struct api_text *text, const char *name)
{
    bool first = text->used > 0 && text->data[text->used - 1] == '{';
    api_text_puts(text, first ? "\"" : ",\"");
    api_text_puts(text, name);
    api_text_put(text, "\":", 2);
}

static void put_amount(struct api_text *text, const char *name, int64_t amount_minor,
                       const char *currency, bool with_text)
{
    put_key(text, name);
    put_int64(text, amount_minor);
    if (!with_text)
        return;
    char name_text[32];
    snprintf(name_text, sizeof name_text, "%s_text", name);
    put_key(text, name_text);
    char amount_text[LEDGER_AMOUNT_TEXT_MAX];
    int decimals = ledger_currency_decimals(currency);
    if (ledger_money_format(amount_text, sizeof amount_text, amount_minor,
                            decimals < 0 ? 2 : decimals) == 0)
        api_text_puts(text, "null");
    else
        put_string(text, amount_text);
}

static void put_time(struct api_text *text, const char *name, int64_t time_us)
{
    char time_text[LEDGER_TIME_TEXT_SIZE];
    put_key(text, name);
    if (time_us == 0)
        api_text_puts(text, "null");
    else
        put_string(text, ledger_time_text(time_text, time_us));
}

static void put_receipt(struct api_text *text, const struct ledger_status_receipt *receipt,
                        const char *currency)
{
    char date[LEDGER_DATE_TEXT_SIZE];
    api_text_puts(text, "{");
    put_amount(text, "amount", receipt->amount_minor, currency, true);
    put_key(text, "value_date");
    if (receipt->value_date_days == LEDGER_VALUE_DATE_NONE)
        api_text_puts(text, "null");
    else
        put_string(text, ledger_date_text(date, receipt->value_date_days));
    put_time(text, "booked_at", receipt->booked_at_us);
    api_text_puts(text, "}");
}

static void put_payout(struct api_text *text, const struct ledger_status_payout *payout,
                       const char *currency)
{
    api_text_puts(text, "{");
    put_amount(text, "amount", payout->amount_minor, currency, true);
    put_key(text, "status");
    put_string(text, payout->status);
    put_time(text, "requested_at", payout->requested_at_us);
    if (payout->approved_at_us != 0)
        put_time(text, "approved_at", payout->approved_at_us);
    if (payout->paid_at_us != 0)
        put_time(text, "paid_at", payout->paid_at_us);
    api_text_puts(text, "}");
}

/* The answer's text (malloc()ed), or NULL. */
static char *status_text(const struct ledger_status_case *status_case,
                         const struct ledger_status_lists *lists)
{
    const char *currency = status_case->currency;
    struct api_text text;
    api_text_init(&text, STATUS_TEXT_MAX);
    api_text_puts(&text, "{");
    put_key(&text, "case_no");
    put_string(&text, status_case->case_no);
    put_key(&text, "status");
    put_string(&text, status_case->status);
    put_key(&text, "currency");
    put_string(&text, currency);
    put_amount(&text, "received_total", status_case->received_total, currency, true);
    put_amount(&text, "disbursed_total", status_case->disbursed_total, currency, true);
    put_amount(&text, "held", status_case->held, currency, true);
    put_key(&text, "receipts");
    api_text_puts(&text, "[");
    for (size_t i = 0; i < lists->receipts_count; i++) {
        if (i > 0)
            api_text_puts(&text, ",");
        put_receipt(&text, &lists->receipts[i], currency);
    }
    api_text_puts(&text, "]");
    put_key(&text, "receipts_more");
    api_text_puts(&text, lists->receipts_more ? "true" : "false");
    put_key(&text, "disbursements");
    api_text_puts(&text, "[");
    for (size_t i = 0; i < lists->payouts_count; i++) {
        if (i > 0)
            api_text_puts(&text, ",");
        put_payout(&text, &lists->payouts[i], currency);
    }
    api_text_puts(&text, "]");
    put_key(&text, "disbursements_more");
    api_text_puts(&text, lists->payouts_more ? "true" : "false");
    api_text_puts(&text, "}");
    return api_text_take(&text);
}

/* Both refusals (unknown case, wrong code) come here. */
static void respond_not_found(struct api_rate_limiter *limiter, const struct status_rate_keys *keys,
                              struct api_response *response)
{
    int64_t now_s = api_rate_now_s();
    api_rate_failed(limiter, keys->client, &client_rule, now_s);
    api_rate_failed(limiter, keys->client_case, &client_case_rule, now_s);
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
    char *body = err == LEDGER_OK ? status_text(&status_case, &lists) : NULL;
    if (body != NULL)
        api_respond_owned(response, 200, "application/json; charset=utf-8", body);
    else if (err == LEDGER_ERR_UNKNOWN_CASE)
        respond_not_found(limiter, &keys, response);
    else if (err == LEDGER_ERR_DB || err == LEDGER_ERR_RETRY || err == LEDGER_ERR_UNAVAILABLE) {
        /* Not the applicant's failure: say so, and count nothing. */
        api_respond_problem(response, 503, "database_unavailable", "the database does not answer");
        api_respond_retry_soon(response);
    } else
        api_respond_ledger_error(response, err == LEDGER_OK ? LEDGER_ERR_NOMEM : err, NULL);
    free(lists.receipts);
    free(lists.payouts);
}

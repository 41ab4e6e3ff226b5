/* JSON of statement imports and reconciliation reports (statement_json.h). */
#include "statement_json.h"

#include <stdio.h>

#include "handlers_util.h"
#include "server.h"

json_t *api_statement_summary_json(const struct recon_statement_summary *s, const char *currency)
{
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:o}", "statement_id",
        (json_int_t)s->statement_id, "lines", (json_int_t)s->lines, "booked",
        (json_int_t)s->booked + (json_int_t)s->settled + (json_int_t)s->returned, "matched",
        (json_int_t)s->matched, "settled", (json_int_t)s->settled, "returned",
        (json_int_t)s->returned, "suspense", (json_int_t)s->suspense, "duplicates",
        (json_int_t)s->duplicates, "unmatched", (json_int_t)s->exceptions, "opening",
        (json_int_t)s->opening_minor, "opening_text", api_amount_json(s->opening_minor, currency),
        "closing", (json_int_t)s->closing_minor, "closing_text",
        api_amount_json(s->closing_minor, currency));
}

/* null when the report was computed; else why not, without internals. */
static json_t *report_error_json(enum ledger_err err)
{
    if (err == LEDGER_OK)
        return json_null();
    char detail[512];
    snprintf(detail, sizeof detail,
             "the statement was imported, but the reconciliation report could not be computed "
             "(%s): book_balance and difference are unknown; ask GET /v1/reconciliation/report",
             ledger_err_message(err));
    return json_pack("{s:s, s:s}", "code", ledger_err_code(err), "detail", detail);
}

json_t *api_import_json(const struct recon_import_result *result)
{
    json_t *output = api_statement_summary_json(&result->total, result->currency);
    json_t *statements = json_array();
    for (size_t i = 0; i < result->statements_count; i++)
        json_array_append_new(statements,
                              api_statement_summary_json(&result->statements[i], result->currency));
    char digest[2 * LEDGER_HASH_SIZE + 1];
    ledger_to_hex(digest, result->file_digest, LEDGER_HASH_SIZE);
    json_object_set_new(output, "format", json_string(recon_format_name(result->format)));
    json_object_set_new(output, "currency", json_string(result->currency));
    json_object_set_new(output, "file_digest", json_string(digest));
    if (result->report_err == LEDGER_OK) {
        api_set_amount(output, "book_balance", result->book_balance_minor, result->currency);
        api_set_amount(output, "difference", result->difference_minor, result->currency);
    } else {
        static const char *const unknown[] = {"book_balance", "book_balance_text", "difference",
                                              "difference_text"};
        for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
            json_object_set_new(output, unknown[i], json_null());
    }
    json_object_set_new(output, "report_error", report_error_json(result->report_err));
    json_object_set_new(output, "statements", statements);
    return output;
}

static const char *report_kind_name(enum ledger_report_item_kind kind)
{
    return kind == LEDGER_REPORT_UNBOOKED_LINE     ? "unbooked_line"
           : kind == LEDGER_REPORT_BOOK_ONLY_ENTRY ? "book_only_entry"
                                                   : "opening_balance";
}

json_t *api_report_json(const char *account_no, const struct ledger_report *r)
{
    char date[LEDGER_DATE_TEXT_SIZE];
    char closing_date[LEDGER_DATE_TEXT_SIZE];
    json_t *items = json_array();
    for (size_t i = 0; i < r->items_count; i++) {
        const struct ledger_report_item *item = &r->items[i];
        json_array_append_new(items,
                              json_pack("{s:s, s:I, s:I, s:o, s:s?, s:s, s:s}", "kind",
                                        report_kind_name(item->kind), "id", (json_int_t)item->id,
                                        "amount", (json_int_t)item->amount_minor, "amount_text",
                                        api_amount_json(item->amount_minor, r->currency), "date",
                                        item->date_days == LEDGER_VALUE_DATE_NONE
                                            ? NULL
                                            : ledger_date_text(date, item->date_days),
                                        "status", item->status, "reason", item->reason));
    }
    return json_pack(
        "{s:s, s:s, s:s, s:I, s:o, s:o, s:s?, s:I, s:I, s:I, s:I, s:o, s:I}", "bank_account",
        account_no, "currency", r->currency, "date", ledger_date_text(date, r->date_days),
        "book_balance", (json_int_t)r->book_balance_minor, "statement_id",
        r->has_statement ? json_integer(r->statement_id) : json_null(), "closing",
        r->has_statement ? json_integer(r->closing_minor) : json_null(), "closing_date",
        r->has_statement ? ledger_date_text(closing_date, r->closing_date_days) : NULL,
        "difference", (json_int_t)r->difference_minor, "explained", (json_int_t)r->explained_minor,
        "unexplained", (json_int_t)r->unexplained_minor, "items_total", (json_int_t)r->items_total,
        "items", items, "items_listed", (json_int_t)r->items_count);
}

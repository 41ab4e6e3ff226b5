/* After an import: assigning a suspense line to a case, and the
 * reconciliation report of a custody account at a date (statements.h). */
#include "statements.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"

/* ---- suspense assignment ---- */

/* The line's suspense receipt; the line stays locked until the
 * transaction ends. */
static enum ledger_err suspense_line(struct ledger *ledger, int64_t line_id, int64_t *entry_seq)
{
    char id_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[1] = {ledger_int64_text(id_text, line_id)};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT status, entry_seq FROM statement_lines WHERE id = $1 FOR UPDATE", 1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no statement line %lld", (long long)line_id);
        err = LEDGER_ERR_UNKNOWN_ENTRY;
    } else if (strcmp(PQgetvalue(result, 0, 0), "suspense") != 0) {
        ledger_set_detail(ledger, "statement line %lld is %s, not in suspense", (long long)line_id,
                          PQgetvalue(result, 0, 0));
        err = LEDGER_ERR_BAD_STATE;
    } else {
        *entry_seq = ledger_db_int64(result, 0, 1);
    }
    PQclear(result);
    return err;
}

/* Books the assignment in the open transaction; the key's first booking
 * when the same request was booked before. */
static enum ledger_err book_assignment(struct ledger *ledger, struct ledger_booking_request *book)
{
    struct ledger_booking_request *requests[1] = {book};
    size_t failed_index = 0;
    enum ledger_err err = ledger_book_in_transaction(ledger, requests, 1, &failed_index);
    if (err == LEDGER_ERR_IDEMPOTENCY_CONFLICT && book->booking.replayed) {
        ledger->detail[0] = '\0';
        err = ledger_booking_replay_hash(ledger, &book->booking);
    }
    return err;
}

/* Records the assignment (entry seq) on the line, unless another entry
 * was recorded there. */
static enum ledger_err mark_line(struct ledger *ledger, int64_t line_id, int64_t seq,
                                 const char *actor)
{
    char id_text[LEDGER_INT64_TEXT_SIZE];
    char seq_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[3] = {ledger_int64_text(id_text, line_id), ledger_int64_text(seq_text, seq),
                             actor};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "UPDATE statement_lines SET assigned_seq = $2, assigned_at = now(), assigned_by = $3 "
        "WHERE id = $1 AND (assigned_seq IS NULL OR assigned_seq = $2) RETURNING id",
        3, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "statement line %lld was assigned by another entry",
                          (long long)line_id);
        err = LEDGER_ERR_BAD_STATE;
    }
    PQclear(result);
    return err;
}

enum ledger_err ledger_suspense_line_of_entry(struct ledger *ledger, int64_t suspense_seq,
                                              int64_t *line_id)
{
    *line_id = 0;
    char seq_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[1] = {ledger_int64_text(seq_text, suspense_seq)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT id FROM statement_lines WHERE entry_seq = $1 "
                                      "AND status = 'suspense' ORDER BY id LIMIT 1",
                                      1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    if (PQntuples(result) == 1)
        *line_id = ledger_db_int64(result, 0, 0);
    PQclear(result);
    return LEDGER_OK;
}

/* One transaction: the chain head and the line locked, the assignment
 * booked (or the key's first one found), the line marked; any failure
 * rolls back both. A retry with the same key answers the first booking. */
enum ledger_err ledger_statement_line_assign(struct ledger *ledger, const char *actor,
                                             int64_t line_id, const char *case_no,
                                             const char *idempotency_key,
                                             struct ledger_booking *booking)
{
    memset(booking, 0, sizeof *booking);
    enum ledger_err err = ledger_import_begin(ledger, actor);
    if (err != LEDGER_OK)
        return err;
    int64_t suspense_seq = 0;
    struct ledger_booking_request book;
    memset(&book, 0, sizeof book);
    if ((err = suspense_line(ledger, line_id, &suspense_seq)) == LEDGER_OK &&
        (err = ledger_assign_prepare(ledger, actor, suspense_seq, case_no, idempotency_key,
                                     &book)) == LEDGER_OK &&
        (err = book_assignment(ledger, &book)) == LEDGER_OK &&
        (err = mark_line(ledger, line_id, book.booking.seq, actor)) == LEDGER_OK)
        err = ledger_import_commit(ledger);
    else
        ledger_import_rollback(ledger);
    if (err == LEDGER_OK)
        *booking = book.booking;
    return ledger_assign_refused(ledger, suspense_seq, err);
}

/* ---- the reconciliation report ---- */

/* Items of a custody account ($1) at a date ($2): each one's share of
 * closing - book. An entry without a value date counts by its booking day. */
#define REPORT_ITEMS_CTE                                                                           \
    "WITH first_statement AS (SELECT s.id, s.opening_balance, s.opening_date, s.closing_date "     \
    "  FROM bank_statements s WHERE s.bank_account_id = $1 AND s.closing_date <= $2::date "        \
    "  ORDER BY s.closing_date, s.id LIMIT 1), "                                                   \
    "items AS ("                                                                                   \
    " SELECT 1 AS kind, l.id, l.amount, coalesce(l.booking_date, l.value_date) AS day, "           \
    "  l.status, l.rule || ': ' || l.reason AS reason "                                            \
    "  FROM statement_lines l JOIN bank_statements s ON s.id = l.statement_id "                    \
    "  WHERE l.bank_account_id = $1 AND l.status = 'exception' AND s.closing_date <= $2::date "    \
    " UNION ALL "                                                                                  \
    " SELECT 2, e.seq, -p.amount, cl_entry_day(e.value_date, e.created_at_us), e.kind, "           \
    "  'booked, on no statement line: ' || e.bank_ref "                                            \
    "  FROM unreconciled_entries u JOIN entries e ON e.seq = u.entry_seq "                         \
    "  JOIN postings p ON p.entry_seq = e.seq AND p.account_id = $1 "                              \
    "  WHERE u.bank_account_id = $1 AND cl_entry_day(e.value_date, e.created_at_us) <= $2::date "  \
    " UNION ALL "                                                                                  \
    " SELECT 3, f.id, f.opening_balance, f.opening_date, 'opening', "                              \
    "  'opening balance of the first statement, before any booked line' "                          \
    "  FROM first_statement f WHERE f.opening_balance <> 0) "

static enum ledger_err report_balances(struct ledger *ledger, const char *const *params,
                                       struct ledger_report *report)
{
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT a.currency, "
        " cl_book_balance(a.id, $2::date), "
        " s.id, s.closing_balance, s.closing_date - DATE '1970-01-01' "
        "FROM accounts a LEFT JOIN LATERAL (SELECT x.id, x.closing_balance, x.closing_date "
        " FROM bank_statements x WHERE x.bank_account_id = a.id AND x.closing_date <= $2::date "
        " ORDER BY x.closing_date DESC, x.id DESC LIMIT 1) s ON true "
        "WHERE a.id = $1 AND a.kind = 'bank'",
        2, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no custody bank account %s", params[0]);
        err = LEDGER_ERR_UNKNOWN_ACCOUNT;
    } else {
        snprintf(report->currency, sizeof report->currency, "%s", PQgetvalue(result, 0, 0));
        report->book_balance_minor = ledger_db_int64(result, 0, 1);
        report->has_statement = !PQgetisnull(result, 0, 2);
        report->statement_id = ledger_db_int64(result, 0, 2);
        report->closing_minor = ledger_db_int64(result, 0, 3);
        report->closing_date_days =
            report->has_statement ? (int32_t)ledger_db_int64(result, 0, 4) : LEDGER_VALUE_DATE_NONE;
    }
    PQclear(result);
    return err;
}

static void fill_item(struct ledger_report_item *item, const PGresult *result, int row)
{
    item->kind = (enum ledger_report_item_kind)ledger_db_int64(result, row, 0);
    item->id = ledger_db_int64(result, row, 1);
    item->amount_minor = ledger_db_int64(result, row, 2);
    item->date_days = PQgetisnull(result, row, 3) ? LEDGER_VALUE_DATE_NONE
                                                  : (int32_t)ledger_db_int64(result, row, 3);
    snprintf(item->status, sizeof item->status, "%s", PQgetvalue(result, row, 4));
    snprintf(item->reason, sizeof item->reason, "%s", PQgetvalue(result, row, 5));
}

/* The items (the first LEDGER_REPORT_ITEMS_MAX) with the sum and count of
 * all of them, from one reading of the books: each row carries the totals
 * (none when there is no item). */
static enum ledger_err report_items(struct ledger *ledger, const char *const *params,
                                    struct ledger_report *report)
{
    char limit_text[LEDGER_INT64_TEXT_SIZE];
    const char *all[3] = {params[0], params[1],
                          ledger_int64_text(limit_text, LEDGER_REPORT_ITEMS_MAX)};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        REPORT_ITEMS_CTE "SELECT kind, id, amount, day - DATE '1970-01-01', status, reason, "
                         " (sum(amount) OVER ())::bigint, count(*) OVER () "
                         "FROM items ORDER BY kind, day, id LIMIT $3::bigint",
        3, all);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    size_t rows = (size_t)PQntuples(result);
    report->explained_minor = rows > 0 ? ledger_db_int64(result, 0, 6) : 0;
    report->items_total = rows > 0 ? (size_t)ledger_db_int64(result, 0, 7) : 0;
    if (rows > 0 && (report->items = calloc(rows, sizeof *report->items)) == NULL)
        err = LEDGER_ERR_NOMEM;
    for (size_t i = 0; err == LEDGER_OK && i < rows; i++)
        fill_item(&report->items[i], result, (int)i);
    if (err == LEDGER_OK)
        report->items_count = rows;
    PQclear(result);
    return err;
}

enum ledger_err ledger_reconciliation_report(struct ledger *ledger, int64_t bank_account_id,
                                             int32_t date_days, struct ledger_report *report)
{
    memset(report, 0, sizeof *report);
    report->bank_account_id = bank_account_id;
    report->date_days = date_days;
    char account_text[LEDGER_INT64_TEXT_SIZE];
    char date_text[LEDGER_DATE_TEXT_SIZE];
    const char *params[2] = {ledger_int64_text(account_text, bank_account_id),
                             ledger_date_text(date_text, date_days)};
    enum ledger_err err;
    if ((err = report_balances(ledger, params, report)) != LEDGER_OK ||
        (err = report_items(ledger, params, report)) != LEDGER_OK) {
        ledger_report_free(report);
        return err;
    }
    if (__builtin_sub_overflow(report->closing_minor, report->book_balance_minor,
                               &report->difference_minor) ||
        __builtin_sub_overflow(report->difference_minor, report->explained_minor,
                               &report->unexplained_minor)) {
        ledger_report_free(report);
        return LEDGER_ERR_OVERFLOW;
    }
    return LEDGER_OK;
}

void ledger_report_free(struct ledger_report *report)
{
    free(report->items);
    report->items = NULL;
    report->items_count = 0;
}

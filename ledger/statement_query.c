/* Reading imported bank statements (statement_query.h): every statement is
 * parameterized and bounded by a LIMIT; a page asks for one row more than
 * it delivers to know whether another follows. */
#include "statement_query.h"

#include <stdio.h>
#include <string.h>

#include "ledger_internal.h"
#include "query.h"

#define UPLOAD_OPERATION "statement_upload"

/* ---- columns ---- */

static const char *text_column(const PGresult *result, int row, int column)
{
    return PQgetisnull(result, row, column) ? "" : PQgetvalue(result, row, column);
}

enum ledger_err ledger_custody_account_get(struct ledger *ledger, int64_t bank_account_id,
                                           struct ledger_custody_account *out)
{
    memset(out, 0, sizeof *out);
    char id_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[1] = {ledger_int64_text(id_text, bank_account_id)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT id, bank_account_no, currency, status FROM accounts "
                                      "WHERE kind = 'bank' AND id = $1",
                                      1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no custody bank account %lld", (long long)bank_account_id);
        err = LEDGER_ERR_UNKNOWN_ACCOUNT;
    } else {
        out->id = ledger_db_int64(result, 0, 0);
        snprintf(out->account_no, sizeof out->account_no, "%s", text_column(result, 0, 1));
        snprintf(out->currency, sizeof out->currency, "%s", text_column(result, 0, 2));
        snprintf(out->status, sizeof out->status, "%s", text_column(result, 0, 3));
    }
    PQclear(result);
    return err;
}

/* ---- statements ---- */

/* A statement row with its line counts and the custody account's book
 * balance at its closing date (as ledger_reconciliation_report counts it).
 * Statements imported before their settled and returned counts were kept
 * (009) have their lines counted. */
#define STATEMENT_SELECT                                                                           \
    "SELECT s.id, s.bank_account_id, a.bank_account_no, s.format, s.file_digest, s.file_index, "   \
    " s.statement_ref, s.sequence, s.currency, s.opening_balance, "                                \
    " s.opening_date - DATE '1970-01-01', s.closing_balance, s.closing_date - DATE '1970-01-01', " \
    " s.line_count, s.booked_count, s.matched_count, "                                             \
    " coalesce(s.settled_count, (SELECT count(*) FROM statement_lines l "                          \
    "  WHERE l.statement_id = s.id AND l.status = 'settled')), "                                   \
    " coalesce(s.returned_count, (SELECT count(*) FROM statement_lines l "                         \
    "  WHERE l.statement_id = s.id AND l.status = 'returned')), "                                  \
    " s.suspense_count, s.exception_count, s.duplicate_count, "                                    \
    " (extract(epoch FROM s.imported_at) * 1000000)::bigint, s.imported_by, "                      \
    " cl_book_balance(s.bank_account_id, coalesce(s.closing_date, DATE 'infinity')) "              \
    "FROM bank_statements s JOIN accounts a ON a.id = s.bank_account_id "

static enum ledger_err fill_statement(struct ledger_statement_view *s, const PGresult *result,
                                      int row)
{
    memset(s, 0, sizeof *s);
    s->id = ledger_db_int64(result, row, 0);
    s->bank_account_id = ledger_db_int64(result, row, 1);
    s->account_no = text_column(result, row, 2);
    s->format = text_column(result, row, 3);
    enum ledger_err err = ledger_db_bytea(s->file_digest, sizeof s->file_digest, result, row, 4);
    s->file_index = (int)ledger_db_int64(result, row, 5);
    s->statement_ref = text_column(result, row, 6);
    s->sequence = text_column(result, row, 7);
    s->currency = text_column(result, row, 8);
    s->opening_minor = ledger_db_int64(result, row, 9);
    s->opening_date_days = ledger_db_days(result, row, 10);
    s->closing_minor = ledger_db_int64(result, row, 11);
    s->closing_date_days = ledger_db_days(result, row, 12);
    int64_t *counts[] = {&s->lines,    &s->booked,   &s->matched,    &s->settled,
                         &s->returned, &s->suspense, &s->exceptions, &s->duplicates};
    for (int i = 0; i < (int)(sizeof counts / sizeof counts[0]); i++)
        *counts[i] = ledger_db_int64(result, row, 13 + i);
    s->imported_at_us = ledger_db_int64(result, row, 21);
    s->imported_by = text_column(result, row, 22);
    s->book_balance_minor = ledger_db_int64(result, row, 23);
    return err;
}

/* Runs a statement query on one id parameter and visits each row. */
static enum ledger_err visit_statements(struct ledger *ledger, const char *sql, int64_t id,
                                        ledger_statement_visit visit, void *context)
{
    char id_text[LEDGER_INT64_TEXT_SIZE];
    char max_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[2] = {ledger_int64_text(id_text, id),
                             ledger_int64_text(max_text, LEDGER_FILE_STATEMENTS_MAX)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK, sql, 2, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    int rows = PQntuples(result);
    if (rows == 0) {
        ledger_set_detail(ledger, "no statement %lld", (long long)id);
        err = LEDGER_ERR_UNKNOWN_ENTRY;
    }
    struct ledger_statement_view statement;
    for (int row = 0; row < rows && err == LEDGER_OK; row++)
        if ((err = fill_statement(&statement, result, row)) == LEDGER_OK)
            err = visit(context, &statement);
    PQclear(result);
    return err;
}

enum ledger_err ledger_statement_get(struct ledger *ledger, int64_t statement_id,
                                     ledger_statement_visit visit, void *context)
{
    return visit_statements(ledger, STATEMENT_SELECT "WHERE s.id = $1 LIMIT $2::bigint",
                            statement_id, visit, context);
}

enum ledger_err ledger_statement_file_get(struct ledger *ledger, int64_t first_statement_id,
                                          ledger_statement_visit visit, void *context)
{
    /* The import stored its statements in file order under one digest; the
     * next import of the same file starts again at file_index 0. */
    return visit_statements(
        ledger,
        STATEMENT_SELECT
        ", (SELECT f.id, f.bank_account_id, f.file_digest, (SELECT min(n.id) FROM bank_statements "
        "   n WHERE n.bank_account_id = f.bank_account_id AND n.file_digest = f.file_digest "
        "   AND n.file_index = 0 AND n.id > f.id) AS next_id "
        "   FROM bank_statements f WHERE f.id = $1) origin "
        "WHERE s.bank_account_id = origin.bank_account_id AND s.file_digest = origin.file_digest "
        " AND s.id >= origin.id AND (origin.next_id IS NULL OR s.id < origin.next_id) "
        "ORDER BY s.id LIMIT $2::bigint",
        first_statement_id, visit, context);
}

enum ledger_err ledger_statement_file_find(struct ledger *ledger, int64_t bank_account_id,
                                           const uint8_t file_digest[LEDGER_HASH_SIZE],
                                           int64_t *first_statement_id)
{
    *first_statement_id = 0;
    char id_text[LEDGER_INT64_TEXT_SIZE];
    char digest_text[2 * LEDGER_HASH_SIZE + 3];
    const char *params[2] = {ledger_int64_text(id_text, bank_account_id),
                             ledger_bytea_text(digest_text, file_digest, LEDGER_HASH_SIZE)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT min(id) FROM bank_statements WHERE "
                                      "bank_account_id = $1 AND file_digest = $2::bytea "
                                      "AND file_index = 0",
                                      2, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    if (PQntuples(result) == 1)
        *first_statement_id = ledger_db_int64(result, 0, 0);
    PQclear(result);
    return LEDGER_OK;
}

/* ---- lines ---- */

/* A line with the case its money went to or came from (its entry's case
 * posting, else its payout's case), every entry, and its assignment. */
#define LINE_CASE_OF(seq)                                                                          \
    "(SELECT a.case_no FROM postings p JOIN accounts a ON a.id = p.account_id "                    \
    " WHERE p.entry_seq = " seq " AND a.kind = 'case' ORDER BY p.idx LIMIT 1)"
/* The line's own entry: in a collective entry, its own posting (posting_idx). */
#define LINE_CASE_OF_OWN                                                                           \
    "(SELECT a.case_no FROM postings p JOIN accounts a ON a.id = p.account_id "                    \
    " WHERE p.entry_seq = l.entry_seq AND (l.posting_idx IS NULL OR p.idx = l.posting_idx) "       \
    " AND a.kind = 'case' ORDER BY p.idx LIMIT 1)"
#define LINE_SELECT                                                                                \
    "SELECT l.id, l.statement_id, l.bank_account_id, l.line_index, "                               \
    " l.value_date - DATE '1970-01-01', l.booking_date - DATE '1970-01-01', l.amount, "            \
    " l.currency, l.reversal, l.bank_ref, l.end_to_end_id, l.counterparty_name, "                  \
    " l.counterparty_account, l.remittance, l.return_reason, l.payin_no, l.status, l.rule, "       \
    " l.reason, l.candidates, l.entry_seq, l.disbursement_id, l.duplicate_of, "                    \
    " coalesce(" LINE_CASE_OF_OWN ", (SELECT a.case_no FROM disbursements d "                      \
    "  JOIN accounts a ON a.id = d.account_id WHERE d.id = "                                       \
    "l.disbursement_id), ''), "                                                                    \
    " coalesce((SELECT json_agg(json_build_object('entry_seq', x.entry_seq, "                      \
    "  'disbursement_id', x.disbursement_id) ORDER BY x.entry_seq)::text "                         \
    "  FROM statement_line_entries x WHERE x.line_id = l.id), "                                    \
    "  CASE WHEN l.posting_idx IS NOT NULL THEN json_build_array("                                 \
    "  json_build_object('entry_seq', l.entry_seq, 'disbursement_id', NULL))"                      \
    "  ::text END, '[]'), "                                                                        \
    " l.assigned_seq, (extract(epoch FROM l.assigned_at) * 1000000)::bigint, "                     \
    "l.assigned_by, "                                                                              \
    " coalesce(" LINE_CASE_OF("l.assigned_seq") ", '') "                                           \
                                                "FROM statement_lines l "

static void fill_line(struct ledger_statement_line_view *l, const PGresult *result, int row)
{
    memset(l, 0, sizeof *l);
    l->id = ledger_db_int64(result, row, 0);
    l->statement_id = ledger_db_int64(result, row, 1);
    l->bank_account_id = ledger_db_int64(result, row, 2);
    l->line_index = (int)ledger_db_int64(result, row, 3);
    l->value_date_days = ledger_db_days(result, row, 4);
    l->booking_date_days = ledger_db_days(result, row, 5);
    l->amount_minor = ledger_db_int64(result, row, 6);
    l->currency = text_column(result, row, 7);
    l->reversal = strcmp(text_column(result, row, 8), "t") == 0;
    const char **texts[] = {
        &l->bank_ref,   &l->end_to_end_id, &l->counterparty_name, &l->counterparty_account,
        &l->remittance, &l->return_reason, &l->payin_no,          &l->status,
        &l->rule,       &l->reason,        &l->candidates};
    for (int i = 0; i < (int)(sizeof texts / sizeof texts[0]); i++)
        *texts[i] = text_column(result, row, 9 + i);
    l->entry_seq = ledger_db_int64(result, row, 20);
    l->disbursement_id = ledger_db_int64(result, row, 21);
    l->duplicate_of = ledger_db_int64(result, row, 22);
    l->case_no = text_column(result, row, 23);
    l->entries_json = text_column(result, row, 24);
    l->assigned_seq = ledger_db_int64(result, row, 25);
    l->assigned_at_us = ledger_db_int64(result, row, 26);
    l->assigned_by = text_column(result, row, 27);
    l->assigned_case_no = text_column(result, row, 28);
}

/* One page of lines: params are the filter ($1), the cursor ($2) and
 * limit + 1 ($3); a limit of 0 means one row, no page. */
/* A page of lines; its cursor is the last line's id, or with by_index (a
 * statement's own lines) the next line's index. */
static enum ledger_err visit_lines(struct ledger *ledger, const char *sql, bool by_index,
                                   int64_t filter, int64_t cursor, int limit, int64_t *next_cursor,
                                   ledger_statement_line_visit visit, void *context)
{
    *next_cursor = 0;
    if (limit < 0 || limit > LEDGER_QUERY_PAGE_MAX || cursor < 0) {
        ledger_set_detail(ledger, "a page needs a limit of 1..%d and a cursor from a previous page",
                          LEDGER_QUERY_PAGE_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    char filter_text[LEDGER_INT64_TEXT_SIZE];
    char cursor_text[LEDGER_INT64_TEXT_SIZE];
    char limit_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[3] = {filter > 0 ? ledger_int64_text(filter_text, filter) : NULL,
                             cursor > 0 ? ledger_int64_text(cursor_text, cursor) : NULL,
                             ledger_int64_text(limit_text, (int64_t)limit + 1)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK, sql, 3, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    int rows = PQntuples(result);
    int deliver = limit == 0 ? 1 : limit;
    enum ledger_err err = LEDGER_OK;
    if (limit == 0 && rows == 0) {
        ledger_set_detail(ledger, "no statement line %lld", (long long)filter);
        err = LEDGER_ERR_UNKNOWN_ENTRY;
    }
    struct ledger_statement_line_view line;
    for (int row = 0; row < rows && row < deliver && err == LEDGER_OK; row++) {
        fill_line(&line, result, row);
        err = visit(context, &line);
    }
    if (err == LEDGER_OK && limit > 0 && rows > limit) /* after the last line delivered */
        *next_cursor = by_index ? ledger_db_int64(result, limit - 1, 3) + 1
                                : ledger_db_int64(result, limit - 1, 0);
    PQclear(result);
    return err;
}

enum ledger_err ledger_statement_line_get(struct ledger *ledger, int64_t line_id,
                                          ledger_statement_line_visit visit, void *context)
{
    int64_t next_cursor = 0;
    return visit_lines(ledger,
                       LINE_SELECT "WHERE l.id = $1::bigint AND $2::bigint IS NULL "
                                   "LIMIT $3::bigint",
                       false, line_id, 0, 0, &next_cursor, visit, context);
}

enum ledger_err ledger_statement_lines(struct ledger *ledger, int64_t statement_id, int64_t cursor,
                                       int limit, int64_t *next_cursor,
                                       ledger_statement_line_visit visit, void *context)
{
    if (limit < 1) {
        *next_cursor = 0;
        ledger_set_detail(ledger, "a page needs a limit of 1..%d", LEDGER_QUERY_PAGE_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    return visit_lines(ledger,
                       LINE_SELECT "WHERE l.statement_id = $1::bigint "
                                   "AND ($2::bigint IS NULL OR l.line_index >= $2::bigint) "
                                   "ORDER BY l.line_index LIMIT $3::bigint",
                       true, statement_id, cursor, limit, next_cursor, visit, context);
}

enum ledger_err ledger_reconciliation_exceptions(struct ledger *ledger, int64_t bank_account_id,
                                                 int64_t cursor, int limit, int64_t *next_cursor,
                                                 ledger_statement_line_visit visit, void *context)
{
    if (limit < 1) {
        *next_cursor = 0;
        ledger_set_detail(ledger, "a page needs a limit of 1..%d", LEDGER_QUERY_PAGE_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    return visit_lines(
        ledger,
        LINE_SELECT "WHERE (l.status = 'exception' OR (l.status = 'suspense' "
                    " AND l.assigned_seq IS NULL)) "
                    "AND ($1::bigint IS NULL OR l.bank_account_id = $1::bigint) "
                    "AND ($2::bigint IS NULL OR l.id > $2::bigint) ORDER BY l.id LIMIT $3::bigint",
        false, bank_account_id, cursor, limit, next_cursor, visit, context);
}

/* ---- idempotency of an upload ---- */

static void upload_hash(uint8_t out[LEDGER_HASH_SIZE], const struct ledger_statement_upload *upload)
{
    char digest_text[2 * LEDGER_HASH_SIZE + 1];
    ledger_to_hex(digest_text, upload->file_digest, LEDGER_HASH_SIZE);
    struct ledger_request_hash hash;
    ledger_request_hash_init(&hash, UPLOAD_OPERATION);
    ledger_request_hash_int64(&hash, upload->bank_account_id);
    ledger_request_hash_text(&hash, upload->format);
    ledger_request_hash_text(&hash, upload->mapping);
    ledger_request_hash_text(&hash, upload->encoding);
    ledger_request_hash_text(&hash, digest_text);
    ledger_request_hash_final(&hash, out);
}

enum ledger_err ledger_statement_upload_find(struct ledger *ledger, const char *owner,
                                             const char *idempotency_key,
                                             const struct ledger_statement_upload *upload,
                                             int64_t *first_statement_id)
{
    *first_statement_id = 0;
    if (ledger_idempotency_key_check(idempotency_key) != LEDGER_OK) {
        ledger_set_detail(ledger, "idempotency key must be 1..128 printable ASCII characters");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    uint8_t request_hash[LEDGER_HASH_SIZE];
    upload_hash(request_hash, upload);
    bool found = false;
    int64_t entry_seq = 0;
    int64_t object_id = 0;
    enum ledger_err err = ledger_idempotency_find(ledger, owner, idempotency_key, request_hash,
                                                  &found, &entry_seq, &object_id);
    if (err == LEDGER_OK && found)
        *first_statement_id = object_id;
    return err;
}

enum ledger_err ledger_statement_upload_record(struct ledger *ledger, const char *owner,
                                               const char *idempotency_key,
                                               const struct ledger_statement_upload *upload,
                                               int64_t first_statement_id)
{
    uint8_t request_hash[LEDGER_HASH_SIZE];
    upload_hash(request_hash, upload);
    return ledger_idempotency_store(ledger, owner, idempotency_key, UPLOAD_OPERATION, request_hash,
                                    0, first_statement_id);
}

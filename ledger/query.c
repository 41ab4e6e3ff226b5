/* Reading the ledger: pages of a case's postings, of disbursements and of
 * custody bank accounts, single lookups, and the applicant's view of a
 * case. Every statement is parameterized and bounded by a LIMIT; a page
 * asks for one row more than it delivers to know whether another follows. */
#include "query.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger_internal.h"

const char *ledger_time_text(char buffer[LEDGER_TIME_TEXT_SIZE], int64_t time_us)
{
    int64_t seconds = time_us / 1000000;
    int64_t micros = time_us % 1000000;
    if (micros < 0) {
        micros += 1000000;
        seconds -= 1;
    }
    time_t whole = (time_t)seconds;
    struct tm utc;
    if (gmtime_r(&whole, &utc) == NULL) {
        snprintf(buffer, LEDGER_TIME_TEXT_SIZE, "1970-01-01T00:00:00.000000Z");
        return buffer;
    }
    /* gmtime_r gives fields in range; the casts and modulos bound the text. */
    snprintf(buffer, LEDGER_TIME_TEXT_SIZE, "%04u-%02u-%02uT%02u:%02u:%02u.%06uZ",
             (unsigned)(utc.tm_year + 1900) % 10000u, (unsigned)(utc.tm_mon + 1) % 100u,
             (unsigned)utc.tm_mday % 100u, (unsigned)utc.tm_hour % 100u,
             (unsigned)utc.tm_min % 100u, (unsigned)utc.tm_sec % 100u, (unsigned)micros % 1000000u);
    return buffer;
}

/* ---- small helpers ---- */

static void copy_text(char *out, size_t size, const PGresult *result, int row, int column)
{
    snprintf(out, size, "%s",
             PQgetisnull(result, row, column) ? "" : PQgetvalue(result, row, column));
}

static enum ledger_err page_check(struct ledger *ledger, int64_t cursor, int limit,
                                  int64_t *next_cursor)
{
    *next_cursor = 0;
    if (limit < 1 || limit > LEDGER_QUERY_PAGE_MAX || cursor < 0) {
        ledger_set_detail(ledger, "a page needs a limit of 1..%d and a cursor from a previous page",
                          LEDGER_QUERY_PAGE_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    return LEDGER_OK;
}

/* Parameters of a page: the cursor (NULL: first page) and limit + 1. */
struct page_params {
    char cursor[LEDGER_INT64_TEXT_SIZE];
    char limit[LEDGER_INT64_TEXT_SIZE];
};

static const char *page_cursor(struct page_params *params, int64_t cursor)
{
    return cursor > 0 ? ledger_int64_text(params->cursor, cursor) : NULL;
}

static const char *page_limit(struct page_params *params, int limit)
{
    return ledger_int64_text(params->limit, (int64_t)limit + 1);
}

/* ---- accounts ---- */

enum ledger_err ledger_account_get(struct ledger *ledger, int64_t account_id,
                                   struct ledger_account_summary *account)
{
    char id_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[1] = {ledger_int64_text(id_text, account_id)};
    memset(account, 0, sizeof *account);
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT id, kind, status, currency, case_no FROM accounts WHERE id = $1", 1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no account %lld", (long long)account_id);
        err = LEDGER_ERR_UNKNOWN_ACCOUNT;
    } else {
        account->id = ledger_db_int64(result, 0, 0);
        copy_text(account->kind, sizeof account->kind, result, 0, 1);
        copy_text(account->status, sizeof account->status, result, 0, 2);
        copy_text(account->currency, sizeof account->currency, result, 0, 3);
        copy_text(account->case_no, sizeof account->case_no, result, 0, 4);
    }
    PQclear(result);
    return err;
}

/* ---- a case's postings ---- */

/* One row per entry touching the case: the case's share summed (an entry
 * may post to one account more than once), and the first posting on
 * another account as the counterpart. */
static const char case_entries_sql[] =
    "WITH page AS (SELECT p.entry_seq, -sum(p.amount)::bigint AS amount, "
    "  min(p.currency) AS currency FROM postings p "
    "  WHERE p.account_id = $1 AND ($2::bigint IS NULL OR p.entry_seq < $2::bigint) "
    "  GROUP BY p.entry_seq ORDER BY p.entry_seq DESC LIMIT $3::bigint) "
    "SELECT e.seq, e.kind, page.amount, e.created_at_us, e.hash, e.reverses_seq, "
    "  (SELECT x.seq FROM entries x WHERE x.reverses_seq = e.seq AND x.kind = 'reversal'), "
    "  e.value_date - DATE '1970-01-01', e.actor, e.memo, e.bank_ref, c.id, c.kind, c.case_no, "
    "  page.currency "
    "FROM page JOIN entries e ON e.seq = page.entry_seq "
    "LEFT JOIN LATERAL (SELECT o.id, o.kind, o.case_no FROM postings q "
    "  JOIN accounts o ON o.id = q.account_id "
    "  WHERE q.entry_seq = e.seq AND q.account_id <> $1 ORDER BY q.idx LIMIT 1) c ON true "
    "ORDER BY e.seq DESC";

static enum ledger_err fill_case_entry(struct ledger_case_entry *entry, const PGresult *result,
                                       int row)
{
    memset(entry, 0, sizeof *entry);
    entry->seq = ledger_db_int64(result, row, 0);
    copy_text(entry->kind, sizeof entry->kind, result, row, 1);
    entry->amount_minor = ledger_db_int64(result, row, 2);
    entry->created_at_us = ledger_db_int64(result, row, 3);
    enum ledger_err err = ledger_db_bytea(entry->hash, sizeof entry->hash, result, row, 4);
    entry->reverses_seq = ledger_db_int64(result, row, 5);
    entry->reversed_by_seq = ledger_db_int64(result, row, 6);
    entry->value_date_days = ledger_db_days(result, row, 7);
    copy_text(entry->actor, sizeof entry->actor, result, row, 8);
    copy_text(entry->memo, sizeof entry->memo, result, row, 9);
    copy_text(entry->bank_ref, sizeof entry->bank_ref, result, row, 10);
    entry->counterpart_id = ledger_db_int64(result, row, 11);
    copy_text(entry->counterpart_kind, sizeof entry->counterpart_kind, result, row, 12);
    copy_text(entry->counterpart_case_no, sizeof entry->counterpart_case_no, result, row, 13);
    copy_text(entry->currency, sizeof entry->currency, result, row, 14);
    return err;
}

enum ledger_err ledger_case_entries(struct ledger *ledger, const char *case_no, int64_t cursor,
                                    int limit, int64_t *next_cursor, ledger_case_entry_visit visit,
                                    void *context)
{
    enum ledger_err err = page_check(ledger, cursor, limit, next_cursor);
    struct ledger_account_ref account;
    if (err != LEDGER_OK || (err = ledger_case_find(ledger, case_no, &account)) != LEDGER_OK)
        return err;
    char account_text[LEDGER_INT64_TEXT_SIZE];
    struct page_params page;
    const char *params[3] = {ledger_int64_text(account_text, account.id),
                             page_cursor(&page, cursor), page_limit(&page, limit)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK, case_entries_sql, 3, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    int rows = PQntuples(result);
    struct ledger_case_entry entry;
    for (int row = 0; row < rows && row < limit && err == LEDGER_OK; row++) {
        err = fill_case_entry(&entry, result, row);
        if (err == LEDGER_OK)
            err = visit(context, &entry);
    }
    if (err == LEDGER_OK && rows > limit) /* the last row delivered (column 0: seq or id) */
        *next_cursor = ledger_db_int64(result, limit - 1, 0);
    PQclear(result);
    return err;
}

/* ---- disbursements ---- */

/* Times as microseconds since the epoch: extract(epoch ...) is numeric,
 * exact to the microsecond. */
static const char disbursements_sql[] =
    "SELECT d.id, d.kind, d.status, a.case_no, t.case_no, d.amount, d.currency, d.payee_name, "
    "  d.payee_account, d.payee_bank, d.purpose, d.requested_by, "
    "  (extract(epoch FROM d.requested_at) * 1000000)::bigint, d.decided_by, "
    "  (extract(epoch FROM d.decided_at) * 1000000)::bigint, d.reject_reason, d.bank_ref, "
    "  (extract(epoch FROM d.paid_at) * 1000000)::bigint, "
    "  (extract(epoch FROM d.returned_at) * 1000000)::bigint, "
    "  d.approve_seq, d.settle_seq, d.return_seq "
    "FROM disbursements d JOIN accounts a ON a.id = d.account_id "
    "LEFT JOIN accounts t ON t.id = d.to_account_id "
    "WHERE ($1::bigint IS NULL OR d.id = $1::bigint) AND ($2::text IS NULL OR d.status = $2) "
    "  AND ($3::text IS NULL OR d.kind = $3) AND ($4::bigint IS NULL OR d.account_id = $4::bigint) "
    "  AND ($5::bigint IS NULL OR d.id < $5::bigint) "
    "ORDER BY d.id DESC LIMIT $6::bigint";

static void fill_disbursement(struct ledger_disbursement_item *item, const PGresult *result,
                              int row)
{
    memset(item, 0, sizeof *item);
    item->id = ledger_db_int64(result, row, 0);
    copy_text(item->kind, sizeof item->kind, result, row, 1);
    copy_text(item->status, sizeof item->status, result, row, 2);
    copy_text(item->case_no, sizeof item->case_no, result, row, 3);
    copy_text(item->to_case_no, sizeof item->to_case_no, result, row, 4);
    item->amount_minor = ledger_db_int64(result, row, 5);
    copy_text(item->currency, sizeof item->currency, result, row, 6);
    copy_text(item->payee_name, sizeof item->payee_name, result, row, 7);
    copy_text(item->payee_account, sizeof item->payee_account, result, row, 8);
    copy_text(item->payee_bank, sizeof item->payee_bank, result, row, 9);
    copy_text(item->purpose, sizeof item->purpose, result, row, 10);
    copy_text(item->requested_by, sizeof item->requested_by, result, row, 11);
    item->requested_at_us = ledger_db_int64(result, row, 12);
    copy_text(item->decided_by, sizeof item->decided_by, result, row, 13);
    item->decided_at_us = ledger_db_int64(result, row, 14);
    copy_text(item->reject_reason, sizeof item->reject_reason, result, row, 15);
    copy_text(item->bank_ref, sizeof item->bank_ref, result, row, 16);
    item->paid_at_us = ledger_db_int64(result, row, 17);
    item->returned_at_us = ledger_db_int64(result, row, 18);
    item->approve_seq = ledger_db_int64(result, row, 19);
    item->settle_seq = ledger_db_int64(result, row, 20);
    item->return_seq = ledger_db_int64(result, row, 21);
}

static bool one_of(const char *value, const char *const *allowed, size_t allowed_count)
{
    for (size_t i = 0; i < allowed_count; i++)
        if (strcmp(value, allowed[i]) == 0)
            return true;
    return false;
}

static enum ledger_err filter_check(struct ledger *ledger,
                                    const struct ledger_disbursement_filter *filter,
                                    int64_t *account_id)
{
    static const char *const statuses[] = {"requested", "approved", "rejected", "paid", "returned"};
    static const char *const kinds[] = {"payout", "transfer"};
    *account_id = 0;
    if (filter == NULL)
        return LEDGER_OK;
    if (filter->status != NULL && !one_of(filter->status, statuses, 5)) {
        ledger_set_detail(ledger, "status must be requested, approved, rejected, paid or returned");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (filter->kind != NULL && !one_of(filter->kind, kinds, 2)) {
        ledger_set_detail(ledger, "kind must be payout or transfer");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (filter->case_no == NULL)
        return LEDGER_OK;
    struct ledger_account_ref account;
    enum ledger_err err = ledger_case_find(ledger, filter->case_no, &account);
    if (err == LEDGER_OK)
        *account_id = account.id;
    return err;
}

enum ledger_err ledger_disbursements_list(struct ledger *ledger,
                                          const struct ledger_disbursement_filter *filter,
                                          int64_t cursor, int limit, int64_t *next_cursor,
                                          ledger_disbursement_visit visit, void *context)
{
    int64_t account_id = 0;
    enum ledger_err err = page_check(ledger, cursor, limit, next_cursor);
    if (err != LEDGER_OK || (err = filter_check(ledger, filter, &account_id)) != LEDGER_OK)
        return err;
    char account_text[LEDGER_INT64_TEXT_SIZE];
    struct page_params page;
    const char *params[6] = {NULL,
                             filter ? filter->status : NULL,
                             filter ? filter->kind : NULL,
                             account_id ? ledger_int64_text(account_text, account_id) : NULL,
                             page_cursor(&page, cursor),
                             page_limit(&page, limit)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK, disbursements_sql, 6, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    int rows = PQntuples(result);
    struct ledger_disbursement_item item;
    for (int row = 0; row < rows && row < limit && err == LEDGER_OK; row++) {
        fill_disbursement(&item, result, row);
        err = visit(context, &item);
    }
    if (err == LEDGER_OK && rows > limit) /* the last row delivered (column 0: seq or id) */
        *next_cursor = ledger_db_int64(result, limit - 1, 0);
    PQclear(result);
    return err;
}

enum ledger_err ledger_disbursement_get(struct ledger *ledger, int64_t id,
                                        struct ledger_disbursement_item *item)
{
    char id_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[6] = {ledger_int64_text(id_text, id), NULL, NULL, NULL, NULL, "1"};
    memset(item, 0, sizeof *item);
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK, disbursements_sql, 6, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no disbursement %lld", (long long)id);
        err = LEDGER_ERR_UNKNOWN_DISBURSEMENT;
    } else {
        fill_disbursement(item, result, 0);
    }
    PQclear(result);
    return err;
}

/* ---- custody bank accounts ---- */

static const char bank_accounts_sql[] =
    "SELECT id, bank_account_no, bank_name, currency, status, balance FROM accounts "
    "WHERE kind = 'bank' AND ($1::text IS NULL OR bank_account_no = $1) "
    "  AND ($2::bigint IS NULL OR id > $2::bigint) ORDER BY id LIMIT $3::bigint";

static void fill_bank_account(struct ledger_bank_account_item *item, const PGresult *result,
                              int row)
{
    memset(item, 0, sizeof *item);
    item->id = ledger_db_int64(result, row, 0);
    copy_text(item->account_no, sizeof item->account_no, result, row, 1);
    copy_text(item->bank_name, sizeof item->bank_name, result, row, 2);
    copy_text(item->currency, sizeof item->currency, result, row, 3);
    copy_text(item->status, sizeof item->status, result, row, 4);
    item->balance_minor = ledger_db_int64(result, row, 5);
}

enum ledger_err ledger_bank_accounts_list(struct ledger *ledger, int64_t cursor, int limit,
                                          int64_t *next_cursor, ledger_bank_account_visit visit,
                                          void *context)
{
    enum ledger_err err = page_check(ledger, cursor, limit, next_cursor);
    if (err != LEDGER_OK)
        return err;
    struct page_params page;
    const char *params[3] = {NULL, page_cursor(&page, cursor), page_limit(&page, limit)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK, bank_accounts_sql, 3, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    int rows = PQntuples(result);
    struct ledger_bank_account_item item;
    for (int row = 0; row < rows && row < limit && err == LEDGER_OK; row++) {
        fill_bank_account(&item, result, row);
        err = visit(context, &item);
    }
    if (err == LEDGER_OK && rows > limit) /* the last row delivered (column 0: seq or id) */
        *next_cursor = ledger_db_int64(result, limit - 1, 0);
    PQclear(result);
    return err;
}

enum ledger_err ledger_bank_account_find(struct ledger *ledger, const char *account_no,
                                         struct ledger_bank_account_item *item)
{
    memset(item, 0, sizeof *item);
    if (account_no == NULL || account_no[0] == '\0') {
        ledger_set_detail(ledger, "no bank account number given");
        return LEDGER_ERR_UNKNOWN_ACCOUNT;
    }
    const char *params[3] = {account_no, NULL, "1"};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK, bank_accounts_sql, 3, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no custody bank account with that number");
        err = LEDGER_ERR_UNKNOWN_ACCOUNT;
    } else {
        fill_bank_account(item, result, 0);
    }
    PQclear(result);
    return err;
}

/* ---- the applicant's view ---- */

/* cl_case_status's row (sql/008_status_speed.sql): the case and its
 * totals, then its payouts and receipts as arrays of rows, each newest first
 * and one more than asked. */
static const char case_status_sql[] =
    "SELECT case_no, status, currency, received_total, disbursed_total, held, payouts, receipts "
    "FROM cl_case_status($1, $2::bytea, $3::int, $4::int)";

enum status_column {
    STATUS_CASE_NO,
    STATUS_STATUS,
    STATUS_CURRENCY,
    STATUS_RECEIVED_TOTAL,
    STATUS_DISBURSED_TOTAL,
    STATUS_HELD,
    STATUS_PAYOUTS,
    STATUS_RECEIPTS,
    STATUS_COLUMNS
};

/* The words of a payout's row and of a receipt's. */
enum status_payout_word {
    PAYOUT_AMOUNT,
    PAYOUT_STATUS,
    PAYOUT_REQUESTED_AT_US,
    PAYOUT_APPROVED_AT_US,
    PAYOUT_PAID_AT_US,
    PAYOUT_WORDS
};
enum status_receipt_word { RECEIPT_AMOUNT, RECEIPT_VALUE_DATE_DAYS, RECEIPT_AT_US, RECEIPT_WORDS };
#define STATUS_WORDS_MAX PAYOUT_WORDS

static void status_case_fill(struct ledger_status_case *status_case, const PGresult *result)
{
    memset(status_case, 0, sizeof *status_case);
    copy_text(status_case->case_no, sizeof status_case->case_no, result, 0, STATUS_CASE_NO);
    copy_text(status_case->status, sizeof status_case->status, result, 0, STATUS_STATUS);
    copy_text(status_case->currency, sizeof status_case->currency, result, 0, STATUS_CURRENCY);
    status_case->received_total = ledger_db_int64(result, 0, STATUS_RECEIVED_TOTAL);
    status_case->disbursed_total = ledger_db_int64(result, 0, STATUS_DISBURSED_TOTAL);
    status_case->held = ledger_db_int64(result, 0, STATUS_HELD);
}

/* An integer word of a list; NULL gives if_null. false: not an integer. */
static bool word_int64(const char *word, int64_t if_null, int64_t *value)
{
    if (strcmp(word, "NULL") == 0) {
        *value = if_null;
        return true;
    }
    return ledger_int64_from_text(word, value);
}

static bool status_payout_read(struct ledger_status_lists *lists, size_t index,
                               char (*words)[LEDGER_PG_WORD_SIZE])
{
    struct ledger_status_payout *payout = &lists->payouts[index];
    if (strlen(words[PAYOUT_STATUS]) >= sizeof payout->status)
        return false;
    snprintf(payout->status, sizeof payout->status, "%s", words[PAYOUT_STATUS]);
    return word_int64(words[PAYOUT_AMOUNT], 0, &payout->amount_minor) &&
           word_int64(words[PAYOUT_REQUESTED_AT_US], 0, &payout->requested_at_us) &&
           word_int64(words[PAYOUT_APPROVED_AT_US], 0, &payout->approved_at_us) &&
           word_int64(words[PAYOUT_PAID_AT_US], 0, &payout->paid_at_us);
}

static bool status_receipt_read(struct ledger_status_lists *lists, size_t index,
                                char (*words)[LEDGER_PG_WORD_SIZE])
{
    struct ledger_status_receipt *receipt = &lists->receipts[index];
    int64_t days = 0;
    if (!word_int64(words[RECEIPT_AMOUNT], 0, &receipt->amount_minor) ||
        !word_int64(words[RECEIPT_VALUE_DATE_DAYS], LEDGER_VALUE_DATE_NONE, &days) ||
        !word_int64(words[RECEIPT_AT_US], 0, &receipt->booked_at_us))
        return false;
    receipt->value_date_days =
        days < INT32_MIN + 1 || days > INT32_MAX ? LEDGER_VALUE_DATE_NONE : (int32_t)days;
    return true;
}

/* One list of cl_case_status: its rows of words_count words, read into
 * lists by read while they fit, *more when one more follows (the LIMIT
 * gives at most one more: anything past it is a shape it does not answer). */
struct status_list {
    size_t words_count;
    size_t max;
    size_t *count;
    bool *more;
    bool (*read)(struct ledger_status_lists *lists, size_t index,
                 char (*words)[LEDGER_PG_WORD_SIZE]);
};

static bool status_list_fill(struct ledger_status_lists *lists, const struct status_list *list,
                             const char *text)
{
    struct ledger_pg_rows rows;
    char words[STATUS_WORDS_MAX][LEDGER_PG_WORD_SIZE];
    enum ledger_pg_rows_next next;
    assert(list->words_count <= STATUS_WORDS_MAX);
    ledger_pg_rows_start(&rows, text, list->words_count);
    while ((next = ledger_pg_rows_next(&rows, words)) == LEDGER_PG_ROWS_ROW) {
        if (*list->more)
            return false;
        if (*list->count == list->max)
            *list->more = true;
        else if (!list->read(lists, (*list->count)++, words))
            return false;
    }
    return next == LEDGER_PG_ROWS_END;
}

/* Sorts cl_case_status's row into the caller's structures. */
static enum ledger_err status_fill(struct ledger *ledger, const PGresult *result,
                                   struct ledger_status_case *status_case,
                                   struct ledger_status_lists *lists)
{
    int rows = PQntuples(result);
    if (rows == 0) {
        ledger_set_detail(ledger, "no case with this case number and access code");
        return LEDGER_ERR_UNKNOWN_CASE;
    }
    if (rows != 1 || PQnfields(result) != STATUS_COLUMNS ||
        PQgetisnull(result, 0, STATUS_PAYOUTS) || PQgetisnull(result, 0, STATUS_RECEIPTS)) {
        ledger_set_detail(ledger, "cl_case_status answered in an unexpected shape");
        return LEDGER_ERR_DB;
    }
    status_case_fill(status_case, result);
    const struct status_list payouts = {PAYOUT_WORDS, lists->payouts_max, &lists->payouts_count,
                                        &lists->payouts_more, status_payout_read};
    const struct status_list receipts = {RECEIPT_WORDS, lists->receipts_max, &lists->receipts_count,
                                         &lists->receipts_more, status_receipt_read};
    if (!status_list_fill(lists, &payouts, PQgetvalue(result, 0, STATUS_PAYOUTS)) ||
        !status_list_fill(lists, &receipts, PQgetvalue(result, 0, STATUS_RECEIPTS))) {
        ledger_set_detail(ledger, "cl_case_status answered lists in an unexpected shape");
        return LEDGER_ERR_DB;
    }
    return LEDGER_OK;
}

enum ledger_err ledger_status_lookup(struct ledger *ledger, const char *case_no,
                                     const char *access_code,
                                     struct ledger_status_case *status_case,
                                     struct ledger_status_lists *lists)
{
    memset(status_case, 0, sizeof *status_case);
    lists->receipts_count = 0;
    lists->payouts_count = 0;
    lists->receipts_more = false;
    lists->payouts_more = false;
    if (lists->receipts_max > LEDGER_QUERY_PAGE_MAX || lists->payouts_max > LEDGER_QUERY_PAGE_MAX ||
        (lists->receipts_max > 0 && lists->receipts == NULL) ||
        (lists->payouts_max > 0 && lists->payouts == NULL)) {
        ledger_set_detail(ledger, "status lists need arrays of at most %d rows",
                          LEDGER_QUERY_PAGE_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    char norm[LEDGER_CASE_NO_MAX * 2 + 1];
    uint8_t hash[LEDGER_HASH_SIZE];
    char hash_text[2 * LEDGER_HASH_SIZE + 3];
    char receipts_max[LEDGER_INT64_TEXT_SIZE];
    char payouts_max[LEDGER_INT64_TEXT_SIZE];
    /* A number or code that cannot be one still costs the statement (with
     * NULLs, which match no case): the same work, and a database that does
     * not answer is noticed the same way. */
    bool well_formed = ledger_access_lookup_key(ledger, norm, hash, case_no, access_code);
    const char *params[4] = {well_formed ? norm : NULL,
                             well_formed ? ledger_bytea_text(hash_text, hash, sizeof hash) : NULL,
                             ledger_int64_text(receipts_max, (int64_t)lists->receipts_max),
                             ledger_int64_text(payouts_max, (int64_t)lists->payouts_max)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK, case_status_sql, 4, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = status_fill(ledger, result, status_case, lists);
    PQclear(result);
    return err;
}

/* Bank statements in the ledger: the import transaction, the reads of the
 * matcher, booking a statement's entries (booking.c's sealing and
 * cl_book_batch, in the caller's transaction), storing statements and
 * lines, suspense assignment of a line, and the reconciliation report. */
#include "statements.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"

static const char *date_param(char buffer[LEDGER_DATE_TEXT_SIZE], int32_t days)
{
    return days == LEDGER_VALUE_DATE_NONE ? NULL : ledger_date_text(buffer, days);
}

static void copy_column(char *out, size_t size, const PGresult *result, int row, int column)
{
    snprintf(out, size, "%s", PQgetvalue(result, row, column));
}

enum ledger_err ledger_custody_account_find(struct ledger *ledger, const char *account_no,
                                            struct ledger_custody_account *out)
{
    memset(out, 0, sizeof *out);
    if (account_no == NULL || account_no[0] == '\0' ||
        strlen(account_no) > LEDGER_BANK_ACCOUNT_MAX) {
        ledger_set_detail(ledger, "a bank account number of 1..64 bytes is needed");
        return LEDGER_ERR_UNKNOWN_ACCOUNT;
    }
    const char *params[1] = {account_no};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT id, bank_account_no, currency, status FROM accounts "
                                      "WHERE kind = 'bank' AND bank_account_no = $1",
                                      1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no custody bank account with that number");
        err = LEDGER_ERR_UNKNOWN_ACCOUNT;
    } else {
        out->id = ledger_db_int64(result, 0, 0);
        copy_column(out->account_no, sizeof out->account_no, result, 0, 1);
        copy_column(out->currency, sizeof out->currency, result, 0, 2);
        copy_column(out->status, sizeof out->status, result, 0, 3);
    }
    PQclear(result);
    return err;
}

/* ---- the import transaction ---- */

enum ledger_err ledger_import_begin(struct ledger *ledger, const char *actor)
{
    ledger->detail[0] = '\0';
    enum ledger_err err =
        ledger_actor_check(ledger, actor, LEDGER_ROLE_CLERK | LEDGER_ROLE_BANK | LEDGER_ROLE_ADMIN);
    if (err != LEDGER_OK)
        return err;
    if (!ledger->has_signer) {
        ledger_set_detail(ledger, "no signing key configured: cannot book");
        return LEDGER_ERR_CRYPTO;
    }
    if ((err = ledger_db_begin(ledger)) != LEDGER_OK)
        return err;
    PGresult *result =
        ledger_db_exec(ledger, PGRES_TUPLES_OK, "SELECT seq FROM cl_chain_lock()", 0, NULL);
    if (result == NULL) {
        err = ledger_db_last_error(ledger);
        ledger_db_rollback(ledger);
        return err;
    }
    PQclear(result);
    return LEDGER_OK;
}

enum ledger_err ledger_import_commit(struct ledger *ledger)
{
    enum ledger_err err = ledger_db_commit(ledger);
    if (err != LEDGER_OK)
        ledger_db_rollback(ledger);
    return err;
}

void ledger_import_rollback(struct ledger *ledger)
{
    ledger_db_rollback(ledger);
}

/* One text[] parameter in binary form; false when out of memory. */
static bool text_array(struct ledger_pg_array *array, const char *const *texts, size_t count)
{
    ledger_pg_array_init(array, LEDGER_PG_TEXT);
    for (size_t i = 0; i < count; i++)
        ledger_pg_array_text(array, texts[i] ? texts[i] : "");
    if (ledger_pg_array_finish(array) && array->size <= (size_t)INT32_MAX)
        return true;
    ledger_pg_array_free(array);
    return false;
}

/* Runs sql with $1 text (may be NULL: not passed) and $2 (or $1) a text[]
 * of count texts; NULL with the error recorded. Each element is looked up
 * by its own index probe (a correlated subquery), however the table grew
 * inside the import transaction. */
static PGresult *lookup_texts(struct ledger *ledger, const char *sql, const char *first,
                              const char *const *texts, size_t count)
{
    if (ledger_db_settle(ledger) != LEDGER_OK)
        return NULL;
    struct ledger_pg_array array;
    if (!text_array(&array, texts, count)) {
        ledger_set_detail(ledger, "out of memory");
        return NULL;
    }
    Oid types[2] = {0, ledger_pg_array_type(LEDGER_PG_TEXT)};
    const char *values[2] = {first, (const char *)array.data};
    int lengths[2] = {0, (int)array.size};
    int formats[2] = {0, 1};
    int skip = first == NULL ? 1 : 0;
    PGresult *result = PQexecParams(ledger->conn, sql, 2 - skip, types + skip, values + skip,
                                    lengths + skip, formats + skip, 0);
    ledger_pg_array_free(&array);
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        ledger_db_error(ledger, result);
        PQclear(result);
        return NULL;
    }
    return result;
}

enum ledger_err ledger_line_identities_find(struct ledger *ledger, int64_t bank_account_id,
                                            const char *const *identities, size_t count,
                                            int64_t *line_ids_out)
{
    char account_text[LEDGER_INT64_TEXT_SIZE];
    ledger_int64_text(account_text, bank_account_id);
    for (size_t i = 0; i < count; i++)
        line_ids_out[i] = 0;
    if (count == 0)
        return LEDGER_OK;
    PGresult *result = lookup_texts(
        ledger,
        "SELECT x.ord, (SELECT l.id FROM statement_lines l WHERE l.bank_account_id = $1::bigint "
        " AND l.identity = x.identity AND l.status <> 'duplicate') "
        "FROM unnest($2::text[]) WITH ORDINALITY AS x(identity, ord)",
        account_text, identities, count);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    for (int row = 0; row < PQntuples(result); row++) {
        int64_t ordinal = ledger_db_int64(result, row, 0);
        if (ordinal >= 1 && (size_t)ordinal <= count && !PQgetisnull(result, row, 1))
            line_ids_out[ordinal - 1] = ledger_db_int64(result, row, 1);
    }
    PQclear(result);
    return LEDGER_OK;
}

/* ---- what lines may match ---- */

static void fill_open_item(struct ledger_open_item *item, const PGresult *result, int row)
{
    item->seq = ledger_db_int64(result, row, 0);
    copy_column(item->kind, sizeof item->kind, result, row, 1);
    item->amount_minor = ledger_db_int64(result, row, 2);
    item->value_date_days = ledger_db_days(result, row, 3);
    copy_column(item->bank_ref, sizeof item->bank_ref, result, row, 4);
    copy_column(item->payer, sizeof item->payer, result, row, 5);
    item->account_id = ledger_db_int64(result, row, 6);
    item->disbursement_id = ledger_db_int64(result, row, 7);
}

enum ledger_err ledger_open_items_load(struct ledger *ledger, int64_t bank_account_id,
                                       int32_t from_days, int32_t to_days,
                                       struct ledger_open_items *out)
{
    memset(out, 0, sizeof *out);
    char account_text[LEDGER_INT64_TEXT_SIZE];
    char from_text[LEDGER_DATE_TEXT_SIZE];
    char to_text[LEDGER_DATE_TEXT_SIZE];
    char limit_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[4] = {ledger_int64_text(account_text, bank_account_id),
                             ledger_date_text(from_text, from_days),
                             ledger_date_text(to_text, to_days),
                             ledger_int64_text(limit_text, LEDGER_OPEN_ITEMS_MAX + 1)};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT e.seq, e.kind, p.amount, e.value_date - DATE '1970-01-01', e.bank_ref, "
        " CASE WHEN e.memo LIKE 'payer: %' THEN substr(e.memo, 8) ELSE '' END, "
        " (SELECT o.account_id FROM postings o WHERE o.entry_seq = e.seq "
        "  AND o.account_id <> p.account_id ORDER BY o.idx LIMIT 1), "
        " (SELECT d.id FROM disbursements d WHERE d.settle_seq = e.seq) "
        "FROM unreconciled_entries u JOIN entries e ON e.seq = u.entry_seq "
        "JOIN postings p ON p.entry_seq = e.seq AND p.account_id = $1::bigint "
        "WHERE u.bank_account_id = $1::bigint "
        " AND e.kind IN ('receipt', 'suspense_receipt', 'settle') "
        " AND (e.value_date IS NULL OR e.value_date BETWEEN $2::date AND $3::date) "
        "ORDER BY e.seq LIMIT $4::bigint",
        4, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    size_t rows = (size_t)PQntuples(result);
    if (rows > LEDGER_OPEN_ITEMS_MAX) {
        ledger_set_detail(ledger, "more than %d unreconciled entries", LEDGER_OPEN_ITEMS_MAX);
        err = LEDGER_ERR_OVERFLOW;
    } else if (rows > 0 && (out->items = calloc(rows, sizeof *out->items)) == NULL) {
        err = LEDGER_ERR_NOMEM;
    }
    for (size_t i = 0; err == LEDGER_OK && i < rows; i++)
        fill_open_item(&out->items[i], result, (int)i);
    if (err == LEDGER_OK)
        out->count = rows;
    PQclear(result);
    return err;
}

void ledger_open_items_free(struct ledger_open_items *items)
{
    free(items->items);
    items->items = NULL;
    items->count = 0;
}

static void fill_payout(struct ledger_payout *payout, const PGresult *result, int row)
{
    payout->id = ledger_db_int64(result, row, 0);
    copy_column(payout->status, sizeof payout->status, result, row, 1);
    payout->account_id = ledger_db_int64(result, row, 2);
    copy_column(payout->case_no, sizeof payout->case_no, result, row, 3);
    copy_column(payout->case_status, sizeof payout->case_status, result, row, 4);
    payout->amount_minor = ledger_db_int64(result, row, 5);
    copy_column(payout->payee_name, sizeof payout->payee_name, result, row, 6);
    copy_column(payout->payee_account, sizeof payout->payee_account, result, row, 7);
    payout->settle_seq = ledger_db_int64(result, row, 8);
    payout->parts_paid_minor = ledger_db_int64(result, row, 9);
}

enum ledger_err ledger_payouts_load(struct ledger *ledger, const char *currency,
                                    struct ledger_payouts *out)
{
    memset(out, 0, sizeof *out);
    char days_text[LEDGER_INT64_TEXT_SIZE];
    char limit_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[3] = {currency, ledger_int64_text(days_text, LEDGER_PAID_LOOKBACK_DAYS),
                             ledger_int64_text(limit_text, LEDGER_PAYOUTS_MAX + 1)};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT d.id, d.status, d.account_id, a.case_no, a.status, d.amount, d.payee_name, "
        " d.payee_account, d.settle_seq, CASE WHEN d.status = 'approved' THEN d.paid_minor "
        " ELSE 0 END "
        "FROM disbursements d JOIN accounts a ON a.id = "
        "d.account_id "
        "WHERE d.kind = 'payout' AND d.currency = $1 AND (d.status = 'approved' OR "
        " (d.status = 'paid' AND d.paid_at > now() - make_interval(days => $2::int))) "
        "ORDER BY d.id LIMIT $3::bigint",
        3, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    size_t rows = (size_t)PQntuples(result);
    if (rows > LEDGER_PAYOUTS_MAX) {
        ledger_set_detail(ledger, "more than %d open payouts", LEDGER_PAYOUTS_MAX);
        err = LEDGER_ERR_OVERFLOW;
    } else if (rows > 0 && (out->payouts = calloc(rows, sizeof *out->payouts)) == NULL) {
        err = LEDGER_ERR_NOMEM;
    }
    for (size_t i = 0; err == LEDGER_OK && i < rows; i++)
        fill_payout(&out->payouts[i], result, (int)i);
    if (err == LEDGER_OK)
        out->count = rows;
    PQclear(result);
    return err;
}

void ledger_payouts_free(struct ledger_payouts *payouts)
{
    free(payouts->payouts);
    payouts->payouts = NULL;
    payouts->count = 0;
}

enum ledger_err ledger_payin_cases_find(struct ledger *ledger, const char *const *payin_nos,
                                        size_t count, struct ledger_payin_case *cases_out)
{
    memset(cases_out, 0, count * sizeof *cases_out);
    if (count == 0)
        return LEDGER_OK;
    PGresult *result = lookup_texts(
        ledger, "SELECT ord, id, case_no, status, currency FROM cl_payin_cases($1::text[])", NULL,
        payin_nos, count);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    for (int row = 0; row < PQntuples(result); row++) {
        int64_t ordinal = ledger_db_int64(result, row, 0);
        if (ordinal < 1 || (size_t)ordinal > count)
            continue;
        struct ledger_payin_case *found = &cases_out[ordinal - 1];
        found->account_id = ledger_db_int64(result, row, 1);
        copy_column(found->case_no, sizeof found->case_no, result, row, 2);
        copy_column(found->status, sizeof found->status, result, row, 3);
        copy_column(found->currency, sizeof found->currency, result, row, 4);
    }
    PQclear(result);
    return LEDGER_OK;
}

/* ---- booking a statement ---- */

struct system_accounts {
    int64_t bank;
    int64_t suspense;
    int64_t in_transit;
    const char *currency;
};

static void statement_posting(struct ledger_entry *entry, int64_t debit, int64_t credit,
                              int64_t amount_minor, const char *currency)
{
    struct ledger_posting *postings = entry->postings;
    postings[0] = (struct ledger_posting){.account_id = debit, .amount_minor = amount_minor};
    postings[1] = (struct ledger_posting){.account_id = credit, .amount_minor = -amount_minor};
    snprintf(postings[0].currency, sizeof postings[0].currency, "%s", currency);
    snprintf(postings[1].currency, sizeof postings[1].currency, "%s", currency);
    entry->postings_count = 2;
}

static const char *booking_kind_name(enum ledger_statement_booking_kind kind)
{
    switch (kind) {
    case LEDGER_STATEMENT_RECEIPT:
        return "receipt";
    case LEDGER_STATEMENT_SUSPENSE:
        return "suspense_receipt";
    case LEDGER_STATEMENT_SETTLE:
    case LEDGER_STATEMENT_SETTLE_PART:
        return "settle";
    case LEDGER_STATEMENT_RETURN:
        return "return";
    }
    return NULL;
}

/* Fills one sealed-to-be request from a statement booking. */
static enum ledger_err statement_request(struct ledger *ledger, const char *actor,
                                         const struct system_accounts *accounts,
                                         const struct ledger_statement_booking *booking,
                                         struct ledger_booking_request *request)
{
    const char *kind = booking_kind_name(booking->kind);
    memset(request, 0, sizeof *request);
    if (kind == NULL || booking->amount_minor <= 0 ||
        ledger_idempotency_key_check(booking->idempotency_key) != LEDGER_OK) {
        ledger_set_detail(ledger, "a statement booking needs a kind, an amount and a key");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct ledger_entry *entry = &request->entry;
    snprintf(entry->kind, sizeof entry->kind, "%s", kind);
    snprintf(entry->actor, sizeof entry->actor, "%s", actor);
    snprintf(entry->bank_ref, sizeof entry->bank_ref, "%s",
             booking->bank_ref ? booking->bank_ref : "");
    snprintf(entry->memo, sizeof entry->memo, "%s", booking->memo ? booking->memo : "");
    entry->value_date_days = booking->value_date_days;
    request->allowed_roles = LEDGER_ROLE_CLERK | LEDGER_ROLE_BANK | LEDGER_ROLE_ADMIN;
    request->idempotency_owner = ""; /* the ledger's own key: no client reaches it */
    request->idempotency_key = booking->idempotency_key;
    request->operation = "statement";
    struct ledger_request_hash hash;
    ledger_request_hash_init(&hash, kind);
    ledger_request_hash_int64(&hash, accounts->bank);
    ledger_request_hash_int64(&hash, booking->account_id);
    ledger_request_hash_int64(&hash, booking->disbursement_id);
    ledger_request_hash_int64(&hash, booking->amount_minor);
    ledger_request_hash_text(&hash, entry->bank_ref);
    ledger_request_hash_final(&hash, request->request_hash);
    int64_t amount = booking->amount_minor;
    const char *currency = accounts->currency;
    switch (booking->kind) {
    case LEDGER_STATEMENT_RECEIPT:
        statement_posting(entry, accounts->bank, booking->account_id, amount, currency);
        break;
    case LEDGER_STATEMENT_SUSPENSE:
        statement_posting(entry, accounts->bank, accounts->suspense, amount, currency);
        break;
    case LEDGER_STATEMENT_SETTLE_PART: /* the payout stays approved until its last part */
        statement_posting(entry, accounts->in_transit, accounts->bank, amount, currency);
        request->object_id = booking->disbursement_id;
        request->disbursement_id = booking->disbursement_id;
        request->disbursement_from = "approved";
        request->disbursement_to = "approved";
        break;
    case LEDGER_STATEMENT_SETTLE:
    case LEDGER_STATEMENT_RETURN: {
        bool settle = booking->kind == LEDGER_STATEMENT_SETTLE;
        statement_posting(entry, settle ? accounts->in_transit : accounts->bank,
                          settle ? accounts->bank : booking->account_id, amount, currency);
        request->object_id = booking->disbursement_id;
        request->disbursement_id = booking->disbursement_id;
        request->disbursement_from = settle ? "approved" : "paid";
        request->disbursement_to = settle ? "paid" : "returned";
        break;
    }
    }
    return LEDGER_OK;
}

/* How many of bookings[0..count) go into one collective receipt entry: the
 * receipts to cases that follow the first with its value date, at most
 * LEDGER_POSTINGS_MAX - 1, while their sum stays in range; 1 for anything
 * else. */
static size_t block_length(const struct ledger_statement_booking *bookings, size_t count)
{
    if (bookings[0].kind != LEDGER_STATEMENT_RECEIPT || bookings[0].amount_minor <= 0)
        return 1;
    int64_t sum = bookings[0].amount_minor;
    size_t n = 1;
    while (n < count && n < LEDGER_POSTINGS_MAX - 1 &&
           bookings[n].kind == LEDGER_STATEMENT_RECEIPT && bookings[n].amount_minor > 0 &&
           bookings[n].value_date_days == bookings[0].value_date_days &&
           !__builtin_add_overflow(sum, bookings[n].amount_minor, &sum))
        n++;
    return n;
}

/* One collective receipt entry for bookings[0..n) (n >= 2): the bank's debit
 * of their sum first, then each case's credit. Its key is the first line's. */
static enum ledger_err block_request(struct ledger *ledger, const char *actor,
                                     const struct system_accounts *accounts,
                                     const struct ledger_statement_booking *bookings, size_t n,
                                     struct ledger_booking_request *request)
{
    memset(request, 0, sizeof *request);
    if (ledger_idempotency_key_check(bookings[0].idempotency_key) != LEDGER_OK) {
        ledger_set_detail(ledger, "a statement booking needs a kind, an amount and a key");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct ledger_entry *entry = &request->entry;
    snprintf(entry->kind, sizeof entry->kind, "receipt");
    snprintf(entry->actor, sizeof entry->actor, "%s", actor);
    snprintf(entry->memo, sizeof entry->memo,
             "%zu receipts of one bank statement; each line's reference is on its statement line",
             n);
    entry->value_date_days = bookings[0].value_date_days;
    request->allowed_roles = LEDGER_ROLE_CLERK | LEDGER_ROLE_BANK | LEDGER_ROLE_ADMIN;
    request->idempotency_owner = "";
    request->idempotency_key = bookings[0].idempotency_key;
    request->operation = "statement";
    struct ledger_request_hash hash;
    ledger_request_hash_init(&hash, "receipts");
    ledger_request_hash_int64(&hash, accounts->bank);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ledger_statement_booking *b = &bookings[i];
        ledger_request_hash_int64(&hash, b->account_id);
        ledger_request_hash_int64(&hash, b->amount_minor);
        ledger_request_hash_text(&hash, b->bank_ref ? b->bank_ref : "");
        sum += b->amount_minor; /* in range: block_length */
        struct ledger_posting *posting = &entry->postings[i + 1];
        *posting =
            (struct ledger_posting){.account_id = b->account_id, .amount_minor = -b->amount_minor};
        snprintf(posting->currency, sizeof posting->currency, "%s", accounts->currency);
    }
    ledger_request_hash_final(&hash, request->request_hash);
    entry->postings[0] = (struct ledger_posting){.account_id = accounts->bank, .amount_minor = sum};
    snprintf(entry->postings[0].currency, sizeof entry->postings[0].currency, "%s",
             accounts->currency);
    entry->postings_count = n + 1;
    return LEDGER_OK;
}

struct statement_requests {
    struct ledger_booking_request *storage;
    struct ledger_booking_request **pointers;
    size_t *first; /* per request: its first booking */
    size_t *length;
    size_t count;
};

static enum ledger_err build_requests(struct ledger *ledger, const char *actor,
                                      const struct system_accounts *accounts,
                                      const struct ledger_statement_booking *bookings, size_t count,
                                      struct statement_requests *r, size_t *failed_index)
{
    for (size_t i = 0; i < count;) {
        size_t n = block_length(bookings + i, count - i);
        struct ledger_booking_request *request = &r->storage[r->count];
        enum ledger_err err =
            n == 1 ? statement_request(ledger, actor, accounts, &bookings[i], request)
                   : block_request(ledger, actor, accounts, bookings + i, n, request);
        if (err != LEDGER_OK) {
            *failed_index = i;
            return err;
        }
        r->pointers[r->count] = request;
        r->first[r->count] = i;
        r->length[r->count] = n;
        r->count++;
        i += n;
    }
    return LEDGER_OK;
}

enum ledger_err ledger_statement_book(struct ledger *ledger, const char *actor,
                                      int64_t bank_account_id, const char *currency,
                                      struct ledger_statement_booking *bookings, size_t count,
                                      size_t *failed_index)
{
    *failed_index = 0;
    struct system_accounts accounts = {.bank = bank_account_id, .currency = currency};
    enum ledger_err err;
    if ((err = ledger_system_account(ledger, "suspense", currency, &accounts.suspense)) !=
            LEDGER_OK ||
        (err = ledger_system_account(ledger, "in_transit", currency, &accounts.in_transit)) !=
            LEDGER_OK)
        return err;
    if (count == 0)
        return LEDGER_OK;
    struct statement_requests r = {.storage = calloc(count, sizeof *r.storage),
                                   .pointers = calloc(count, sizeof *r.pointers),
                                   .first = calloc(count, sizeof *r.first),
                                   .length = calloc(count, sizeof *r.length)};
    if (r.storage == NULL || r.pointers == NULL || r.first == NULL || r.length == NULL) {
        err = LEDGER_ERR_NOMEM;
        goto free_requests;
    }
    if ((err = build_requests(ledger, actor, &accounts, bookings, count, &r, failed_index)) !=
        LEDGER_OK)
        goto free_requests;
    size_t failed_request = 0;
    err = ledger_book_in_transaction(ledger, r.pointers, r.count, &failed_request);
    if (err != LEDGER_OK) {
        *failed_index = failed_request < r.count ? r.first[failed_request] : 0;
        goto free_requests;
    }
    for (size_t q = 0; q < r.count; q++)
        for (size_t k = 0; k < r.length[q]; k++) {
            struct ledger_statement_booking *b = &bookings[r.first[q] + k];
            b->seq = r.storage[q].entry.seq;
            b->posting_idx = r.length[q] > 1 ? (int16_t)(k + 1) : 0;
        }
free_requests:
    free(r.length);
    free(r.first);
    free(r.pointers);
    free(r.storage);
    return err;
}

/* ---- storing a statement ---- */

enum ledger_err ledger_statement_open(struct ledger *ledger,
                                      const struct ledger_statement_record *s,
                                      int64_t *statement_id)
{
    char texts[4][LEDGER_INT64_TEXT_SIZE];
    char dates[2][LEDGER_DATE_TEXT_SIZE];
    char digest[2 * LEDGER_HASH_SIZE + 3];
    const char *params[12] = {ledger_int64_text(texts[0], s->bank_account_id),
                              s->format,
                              ledger_bytea_text(digest, s->file_digest, LEDGER_HASH_SIZE),
                              ledger_int64_text(texts[1], s->file_index),
                              s->statement_ref ? s->statement_ref : "",
                              s->sequence ? s->sequence : "",
                              s->currency,
                              ledger_int64_text(texts[2], s->opening_minor),
                              date_param(dates[0], s->opening_date_days),
                              ledger_int64_text(texts[3], s->closing_minor),
                              date_param(dates[1], s->closing_date_days),
                              s->imported_by};
    PGresult *result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "INSERT INTO bank_statements (bank_account_id, format, file_digest, file_index, "
        "statement_ref, sequence, currency, opening_balance, opening_date, closing_balance, "
        "closing_date, imported_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
        "RETURNING id",
        12, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    *statement_id = ledger_db_int64(result, 0, 0);
    PQclear(result);
    return LEDGER_OK;
}

enum ledger_err ledger_statement_close(struct ledger *ledger, int64_t statement_id,
                                       const struct ledger_statement_record *s)
{
    enum { COUNTS = 8 };
    char texts[COUNTS + 2][LEDGER_INT64_TEXT_SIZE];
    char date[LEDGER_DATE_TEXT_SIZE];
    const int counts[COUNTS] = {s->line_count,     s->booked_count,    s->matched_count,
                                s->suspense_count, s->exception_count, s->duplicate_count,
                                s->settled_count,  s->returned_count};
    const char *params[COUNTS + 3] = {ledger_int64_text(texts[COUNTS], statement_id),
                                      ledger_int64_text(texts[COUNTS + 1], s->closing_minor),
                                      date_param(date, s->closing_date_days)};
    for (int i = 0; i < COUNTS; i++)
        params[3 + i] = ledger_int64_text(texts[i], counts[i]);
    PGresult *result = ledger_db_exec(
        ledger, PGRES_COMMAND_OK,
        "UPDATE bank_statements SET closing_balance = $2, closing_date = $3, line_count = $4, "
        "booked_count = $5, matched_count = $6, suspense_count = $7, exception_count = $8, "
        "duplicate_count = $9, settled_count = $10, returned_count = $11, complete = true "
        "WHERE id = $1",
        COUNTS + 3, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    PQclear(result);
    return LEDGER_OK;
}

/* The columns of a lines INSERT, as binary arrays (pg_array.c). */
enum line_column {
    LINE_INDEX,
    LINE_IDENTITY,
    LINE_VALUE_DATE,
    LINE_BOOKING_DATE,
    LINE_AMOUNT,
    LINE_CURRENCY,
    LINE_REVERSAL,
    LINE_BANK_REF,
    LINE_E2E,
    LINE_CP_NAME,
    LINE_CP_ACCOUNT,
    LINE_REMITTANCE,
    LINE_RETURN_REASON,
    LINE_PAYIN_NO,
    LINE_STATUS,
    LINE_RULE,
    LINE_REASON,
    LINE_CANDIDATES,
    LINE_ENTRY_SEQ,
    LINE_POSTING_IDX,
    LINE_DISBURSEMENT,
    LINE_DUPLICATE_OF,
    LINK_INDEX,
    LINK_SEQ,
    LINK_DISBURSEMENT,
    LINE_COLUMNS
};

static const uint32_t line_column_types[LINE_COLUMNS] = {
    [LINE_INDEX] = LEDGER_PG_INT4,         [LINE_IDENTITY] = LEDGER_PG_TEXT,
    [LINE_VALUE_DATE] = LEDGER_PG_DATE,    [LINE_BOOKING_DATE] = LEDGER_PG_DATE,
    [LINE_AMOUNT] = LEDGER_PG_INT8,        [LINE_CURRENCY] = LEDGER_PG_TEXT,
    [LINE_REVERSAL] = LEDGER_PG_BOOL,      [LINE_BANK_REF] = LEDGER_PG_TEXT,
    [LINE_E2E] = LEDGER_PG_TEXT,           [LINE_CP_NAME] = LEDGER_PG_TEXT,
    [LINE_CP_ACCOUNT] = LEDGER_PG_TEXT,    [LINE_REMITTANCE] = LEDGER_PG_TEXT,
    [LINE_RETURN_REASON] = LEDGER_PG_TEXT, [LINE_PAYIN_NO] = LEDGER_PG_TEXT,
    [LINE_STATUS] = LEDGER_PG_TEXT,        [LINE_RULE] = LEDGER_PG_TEXT,
    [LINE_REASON] = LEDGER_PG_TEXT,        [LINE_CANDIDATES] = LEDGER_PG_TEXT,
    [LINE_ENTRY_SEQ] = LEDGER_PG_INT8,     [LINE_POSTING_IDX] = LEDGER_PG_INT2,
    [LINE_DISBURSEMENT] = LEDGER_PG_INT8,  [LINE_DUPLICATE_OF] = LEDGER_PG_INT8,
    [LINK_INDEX] = LEDGER_PG_INT4,         [LINK_SEQ] = LEDGER_PG_INT8,
    [LINK_DISBURSEMENT] = LEDGER_PG_INT8,
};

/* The lines of one INSERT ($3..$24, one array per column). */
#define INSERT_LINES                                                                               \
    "INSERT INTO statement_lines (statement_id, line_index, bank_account_id, identity, "           \
    " value_date, booking_date, amount, currency, reversal, bank_ref, end_to_end_id, "             \
    " counterparty_name, counterparty_account, remittance, return_reason, payin_no, status, "      \
    " rule, reason, candidates, entry_seq, posting_idx, disbursement_id, duplicate_of) "           \
    "SELECT $1::bigint, x.i, $2::bigint, x.identity, x.value_date, x.booking_date, x.amount, "     \
    " x.currency, x.reversal, x.bank_ref, x.e2e, x.cp_name, x.cp_account, x.remittance, "          \
    " x.return_reason, x.payin_no, x.status, x.rule, x.reason, x.candidates, x.entry_seq, "        \
    " x.posting_idx, x.disbursement_id, CASE WHEN x.status = 'duplicate' THEN "                    \
    "  coalesce(x.duplicate_of, (SELECT l.id FROM statement_lines l "                              \
    "   WHERE l.bank_account_id = $2::bigint AND l.identity = x.identity "                         \
    "   AND l.status <> 'duplicate')) END "                                                        \
    "FROM unnest($3::int[], $4::text[], $5::date[], $6::date[], "                                  \
    " $7::bigint[], $8::text[], $9::boolean[], $10::text[], $11::text[], $12::text[], "            \
    " $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], "              \
    " $19::text[], $20::text[], $21::bigint[], $22::smallint[], $23::bigint[], $24::bigint[]) "    \
    " AS x (i, identity, value_date, booking_date, amount, currency, reversal, bank_ref, e2e, "    \
    " cp_name, cp_account, remittance, return_reason, payin_no, status, rule, reason, "            \
    " candidates, entry_seq, posting_idx, disbursement_id, duplicate_of)"

static const char insert_lines_sql[] = INSERT_LINES;

/* The same, with the entries of lines booked one entry each (or several)
 * linked by line index ($25..$27): the lines come back from the INSERT. */
static const char insert_lines_links_sql[] =
    "WITH ins AS (" INSERT_LINES " RETURNING id, line_index) "
    "INSERT INTO statement_line_entries (line_id, entry_seq, disbursement_id) "
    "SELECT ins.id, k.seq, k.d FROM unnest($25::int[], $26::bigint[], $27::bigint[]) "
    " AS k (i, seq, d) JOIN ins ON ins.line_index = k.i";

static void line_elements(struct ledger_pg_array *c, size_t index,
                          const struct ledger_statement_line_record *l)
{
    ledger_pg_array_int32(&c[LINE_INDEX], (int32_t)index);
    ledger_pg_array_text(&c[LINE_IDENTITY], l->identity);
    ledger_pg_array_date(&c[LINE_VALUE_DATE], l->value_date_days);
    ledger_pg_array_date(&c[LINE_BOOKING_DATE], l->booking_date_days);
    ledger_pg_array_int64(&c[LINE_AMOUNT], l->amount_minor);
    ledger_pg_array_text(&c[LINE_CURRENCY], l->currency);
    ledger_pg_array_bool(&c[LINE_REVERSAL], l->reversal);
    ledger_pg_array_text(&c[LINE_BANK_REF], l->bank_ref);
    ledger_pg_array_text(&c[LINE_E2E], l->end_to_end_id);
    ledger_pg_array_text(&c[LINE_CP_NAME], l->counterparty_name);
    ledger_pg_array_text(&c[LINE_CP_ACCOUNT], l->counterparty_account);
    ledger_pg_array_text(&c[LINE_REMITTANCE], l->remittance);
    ledger_pg_array_text(&c[LINE_RETURN_REASON], l->return_reason);
    ledger_pg_array_text(&c[LINE_PAYIN_NO], l->payin_no);
    ledger_pg_array_text(&c[LINE_STATUS], l->status);
    ledger_pg_array_text(&c[LINE_RULE], l->rule);
    ledger_pg_array_text(&c[LINE_REASON], l->reason);
    ledger_pg_array_text(&c[LINE_CANDIDATES], l->candidates ? l->candidates : "");
    ledger_pg_array_id(&c[LINE_ENTRY_SEQ], l->entries_count ? l->entry_seqs[0] : 0);
    if (l->posting_idx > 0)
        ledger_pg_array_int16(&c[LINE_POSTING_IDX], l->posting_idx);
    else
        ledger_pg_array_null(&c[LINE_POSTING_IDX]);
    ledger_pg_array_id(&c[LINE_DISBURSEMENT], l->disbursement_id);
    ledger_pg_array_id(&c[LINE_DUPLICATE_OF], l->duplicate_of);
    if (l->posting_idx > 0) /* its posting names it; no link of its own */
        return;
    for (size_t e = 0; e < l->entries_count; e++) {
        ledger_pg_array_int32(&c[LINK_INDEX], (int32_t)index);
        ledger_pg_array_int64(&c[LINK_SEQ], l->entry_seqs[e]);
        ledger_pg_array_id(&c[LINK_DISBURSEMENT],
                           l->entry_disbursement_ids ? l->entry_disbursement_ids[e] : 0);
    }
}

/* One INSERT of the lines of one pass: the duplicates or the others; only
 * sent when send (ledger_db_send). */
static enum ledger_err insert_lines_pass(struct ledger *ledger, const char *ids[2],
                                         size_t first_index,
                                         const struct ledger_statement_line_record *lines,
                                         size_t count, bool duplicates, bool send)
{
    struct ledger_pg_array columns[LINE_COLUMNS];
    for (size_t c = 0; c < LINE_COLUMNS; c++)
        ledger_pg_array_init(&columns[c], line_column_types[c]);
    size_t rows = 0;
    for (size_t i = 0; i < count; i++)
        if ((strcmp(lines[i].status, "duplicate") == 0) == duplicates) {
            line_elements(columns, first_index + i, &lines[i]);
            rows++;
        }
    enum ledger_err err = LEDGER_OK;
    Oid types[2 + LINE_COLUMNS] = {0}; /* the ids first, as text */
    const char *values[2 + LINE_COLUMNS] = {ids[0], ids[1]};
    int lengths[2 + LINE_COLUMNS] = {0};
    int formats[2 + LINE_COLUMNS] = {0};
    for (size_t c = 0; rows > 0 && c < LINE_COLUMNS; c++) {
        if (!ledger_pg_array_finish(&columns[c]) || columns[c].size > (size_t)INT32_MAX) {
            err = LEDGER_ERR_NOMEM;
            break;
        }
        types[2 + c] = ledger_pg_array_type(line_column_types[c]);
        values[2 + c] = (const char *)columns[c].data;
        lengths[2 + c] = (int)columns[c].size;
        formats[2 + c] = 1;
    }
    if (rows > 0 && err == LEDGER_OK) {
        bool links = columns[LINK_INDEX].count > 0;
        const char *sql = links ? insert_lines_links_sql : insert_lines_sql;
        int params_count = links ? 2 + LINE_COLUMNS : 2 + LINK_INDEX;
        err = ledger_db_send(ledger, sql, params_count, types, values, lengths, formats);
        if (err == LEDGER_OK && !send)
            err = ledger_db_settle(ledger);
    }
    for (size_t c = 0; c < LINE_COLUMNS; c++)
        ledger_pg_array_free(&columns[c]);
    return err;
}

enum ledger_err ledger_statement_lines_wait(struct ledger *ledger)
{
    return ledger_db_settle(ledger);
}

enum ledger_err ledger_statement_lines_add(struct ledger *ledger, int64_t statement_id,
                                           int64_t bank_account_id, size_t first_index,
                                           const struct ledger_statement_line_record *lines,
                                           size_t count)
{
    char statement_text[LEDGER_INT64_TEXT_SIZE];
    char account_text[LEDGER_INT64_TEXT_SIZE];
    const char *ids[2] = {ledger_int64_text(statement_text, statement_id),
                          ledger_int64_text(account_text, bank_account_id)};
    if (first_index + count > (size_t)INT32_MAX) {
        ledger_set_detail(ledger, "a statement has more lines than a line index holds");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    /* Duplicates last: one may name a line stored in this same call. The
     * last INSERT is only sent. */
    bool duplicates = false;
    for (size_t i = 0; i < count && !duplicates; i++)
        duplicates = strcmp(lines[i].status, "duplicate") == 0;
    enum ledger_err err = LEDGER_OK;
    for (int pass = 0; pass < 2 && err == LEDGER_OK; pass++)
        err = insert_lines_pass(ledger, ids, first_index, lines, count, pass == 1,
                                pass == 1 || !duplicates);
    return err;
}

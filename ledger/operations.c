/* The ledger's operations: receipts, suspense assignment, disbursements and
 * transfers under four eyes, settlement, returns and reversals. Each
 * resolves and checks what it can from its own connection, then books one
 * sealed entry (booking.c), where the state-dependent checks happen under
 * lock. */
#include "ledger_internal.h"

#include <stdio.h>
#include <string.h>

#include "money.h"
#include "payin.h"
#include "statements.h"

static bool text_fits(const char *text, size_t max)
{
    return text == NULL || strlen(text) <= max;
}

static enum ledger_err invalid(struct ledger *ledger, const char *what)
{
    ledger_set_detail(ledger, "%s", what);
    return LEDGER_ERR_INVALID_ARGUMENT;
}

int64_t ledger_amount_max(const struct ledger *ledger)
{
    int64_t max = ledger->amount_max_minor;
    return max <= 0                        ? LEDGER_AMOUNT_MAX_DEFAULT
           : max > LEDGER_AMOUNT_MAX_LIMIT ? LEDGER_AMOUNT_MAX_LIMIT
                                           : max;
}

/* A positive amount no larger than the handle's largest. */
static enum ledger_err amount_check(struct ledger *ledger, int64_t amount_minor)
{
    if (amount_minor <= 0) {
        ledger_set_detail(ledger, "amount must be a positive number of minor units");
        return LEDGER_ERR_INVALID_AMOUNT;
    }
    if (amount_minor > ledger_amount_max(ledger)) {
        ledger_set_detail(ledger,
                          "amount %lld is over the largest amount of one entry, %lld minor units",
                          (long long)amount_minor, (long long)ledger_amount_max(ledger));
        return LEDGER_ERR_AMOUNT_TOO_LARGE;
    }
    return LEDGER_OK;
}

/* Starts a booking request; checks the key and the actor's role (the
 * database checks the role again when it books). */
static enum ledger_err booking_start(struct ledger *ledger, struct ledger_booking_request *request,
                                     const char *kind, const char *actor, const char *operation,
                                     const char *idempotency_key, unsigned roles)
{
    memset(request, 0, sizeof *request);
    ledger->detail[0] = '\0';
    if (ledger_idempotency_key_check(idempotency_key) != LEDGER_OK)
        return invalid(ledger, "idempotency key must be 1..128 printable ASCII characters");
    snprintf(request->entry.kind, sizeof request->entry.kind, "%s", kind);
    snprintf(request->entry.actor, sizeof request->entry.actor, "%s", actor);
    request->entry.value_date_days = LEDGER_VALUE_DATE_NONE;
    request->idempotency_key = idempotency_key;
    request->operation = operation;
    request->allowed_roles = roles;
    return ledger_actor_check(ledger, actor, roles);
}

static void add_posting(struct ledger_entry *entry, int64_t account_id, int64_t amount_minor,
                        const char *currency)
{
    struct ledger_posting *posting = &entry->postings[entry->postings_count++];
    posting->account_id = account_id;
    posting->amount_minor = amount_minor;
    snprintf(posting->currency, sizeof posting->currency, "%s", currency);
}

/* Two postings: debit `to_debit`, credit `to_credit`. */
static void add_transfer(struct ledger_entry *entry, int64_t to_debit, int64_t to_credit,
                         int64_t amount_minor, const char *currency)
{
    add_posting(entry, to_debit, amount_minor, currency);
    add_posting(entry, to_credit, -amount_minor, currency);
}

static enum ledger_err finish(struct ledger *ledger, struct ledger_booking_request *request,
                              struct ledger_booking *booking, int64_t account_id,
                              int64_t amount_minor)
{
    enum ledger_err err = ledger_book(ledger, request);
    *booking = request->booking;
    booking->account_id = account_id;
    booking->amount_minor = amount_minor;
    return err;
}

/* ---- receipts ---- */

/* The account a receipt credits: the case named (target_case_no: its
 * number as stored) or suspense (target_case_no ""). */
static enum ledger_err receipt_target(struct ledger *ledger,
                                      const struct ledger_receipt_request *request,
                                      struct ledger_account_ref *target, bool *to_suspense,
                                      char target_case_no[LEDGER_CASE_NO_MAX + 1])
{
    *to_suspense = false;
    target_case_no[0] = '\0';
    if (request->payin_no != NULL || request->case_no != NULL) {
        enum ledger_err err = ledger_case_account(ledger, request->case_no, request->payin_no,
                                                  &target->id, target->currency, target_case_no);
        if (err != LEDGER_OK || request->payin_no == NULL || request->case_no == NULL)
            return err;
        int64_t named_id = 0;
        char currency[LEDGER_CURRENCY_SIZE];
        if (ledger_case_account(ledger, request->case_no, NULL, &named_id, currency, NULL) !=
                LEDGER_OK ||
            named_id != target->id)
            return invalid(ledger, "pay-in number and case number name different cases");
        return LEDGER_OK;
    }
    *to_suspense = true;
    const char *currency = request->currency ? request->currency : "CNY";
    snprintf(target->currency, sizeof target->currency, "%s", currency);
    return ledger_system_account(ledger, "suspense", currency, &target->id);
}

enum ledger_err ledger_receipt(struct ledger *ledger, const char *actor,
                               const struct ledger_receipt_request *request,
                               const char *idempotency_key, struct ledger_booking *booking)
{
    struct ledger_booking_request book;
    memset(booking, 0, sizeof *booking);
    enum ledger_err err = booking_start(ledger, &book, "receipt", actor, "receipt", idempotency_key,
                                        LEDGER_ROLE_CLERK | LEDGER_ROLE_BANK | LEDGER_ROLE_ADMIN);
    if (err != LEDGER_OK || (err = amount_check(ledger, request->amount_minor)) != LEDGER_OK)
        return err;
    if (request->bank_ref == NULL || request->bank_ref[0] == '\0' ||
        !text_fits(request->bank_ref, LEDGER_BANK_REF_MAX) ||
        !text_fits(request->payer, LEDGER_NAME_MAX) ||
        (request->currency != NULL && !ledger_currency_valid(request->currency)))
        return invalid(ledger, "a receipt needs a bank reference (1..128 bytes), a payer of at "
                               "most 256 bytes and a valid currency");
    struct ledger_account_ref target;
    bool to_suspense = false;
    int64_t bank_id = 0;
    char target_case_no[LEDGER_CASE_NO_MAX + 1];
    if ((err = receipt_target(ledger, request, &target, &to_suspense, target_case_no)) != LEDGER_OK)
        return err;
    if (request->currency != NULL && strcmp(request->currency, target.currency) != 0) {
        ledger_set_detail(ledger, "case account is in %s", target.currency);
        return LEDGER_ERR_CURRENCY_MISMATCH;
    }
    if ((err = ledger_bank_account(ledger, request->bank_account_id, target.currency, &bank_id)) !=
        LEDGER_OK)
        return err;
    struct ledger_request_hash hash;
    ledger_request_hash_init(&hash, "receipt");
    ledger_request_hash_int64(&hash, target.id);
    ledger_request_hash_int64(&hash, request->amount_minor);
    ledger_request_hash_text(&hash, target.currency);
    ledger_request_hash_text(&hash, request->payer);
    ledger_request_hash_text(&hash, request->bank_ref);
    ledger_request_hash_int64(&hash, request->value_date_days);
    ledger_request_hash_int64(&hash, bank_id);
    ledger_request_hash_final(&hash, book.request_hash);
    if (to_suspense)
        snprintf(book.entry.kind, sizeof book.entry.kind, "suspense_receipt");
    snprintf(book.entry.bank_ref, sizeof book.entry.bank_ref, "%s", request->bank_ref);
    if (request->payer != NULL)
        snprintf(book.entry.memo, sizeof book.entry.memo, "payer: %s", request->payer);
    book.entry.value_date_days = request->value_date_days;
    add_transfer(&book.entry, bank_id, target.id, request->amount_minor, target.currency);
    err = finish(ledger, &book, booking, target.id, request->amount_minor);
    memcpy(booking->currency, target.currency, sizeof booking->currency);
    memcpy(booking->case_no, target_case_no, sizeof booking->case_no);
    return err;
}

/* ---- reading entries ---- */

struct stored_entry {
    char kind[LEDGER_KIND_MAX + 1];
    size_t postings_count;
    struct ledger_posting postings[LEDGER_POSTINGS_MAX];
};

static enum ledger_err read_entry(struct ledger *ledger, int64_t seq, struct stored_entry *entry)
{
    char seq_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[1] = {ledger_int64_text(seq_text, seq)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT e.kind, p.account_id, p.amount, p.currency "
                                      "FROM entries e JOIN postings p ON p.entry_seq = e.seq "
                                      "WHERE e.seq = $1 ORDER BY p.idx",
                                      1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    int rows = PQntuples(result);
    enum ledger_err err = LEDGER_OK;
    if (rows < 2 || rows > LEDGER_POSTINGS_MAX) {
        ledger_set_detail(ledger, "no entry %lld", (long long)seq);
        err = LEDGER_ERR_UNKNOWN_ENTRY;
    } else {
        snprintf(entry->kind, sizeof entry->kind, "%s", PQgetvalue(result, 0, 0));
        entry->postings_count = (size_t)rows;
        for (int i = 0; i < rows; i++) {
            entry->postings[i].account_id = ledger_db_int64(result, i, 1);
            entry->postings[i].amount_minor = ledger_db_int64(result, i, 2);
            snprintf(entry->postings[i].currency, sizeof entry->postings[i].currency, "%s",
                     PQgetvalue(result, i, 3));
        }
    }
    PQclear(result);
    return err;
}

enum ledger_err ledger_assign_prepare(struct ledger *ledger, const char *actor,
                                      int64_t suspense_seq, const char *case_no,
                                      const char *idempotency_key,
                                      struct ledger_booking_request *book)
{
    enum ledger_err err = booking_start(ledger, book, "assign", actor, "assign", idempotency_key,
                                        LEDGER_ROLE_CLERK | LEDGER_ROLE_ADMIN);
    if (err != LEDGER_OK)
        return err;
    struct stored_entry source;
    struct ledger_account_ref target;
    if ((err = read_entry(ledger, suspense_seq, &source)) != LEDGER_OK ||
        (err = ledger_case_find(ledger, case_no, &target)) != LEDGER_OK)
        return err;
    if (strcmp(source.kind, "suspense_receipt") != 0) {
        ledger_set_detail(ledger, "entry %lld is not a suspense receipt", (long long)suspense_seq);
        return LEDGER_ERR_BAD_STATE;
    }
    /* The suspense posting is the credit of the receipt. */
    const struct ledger_posting *credit = &source.postings[1];
    if (strcmp(credit->currency, target.currency) != 0)
        return LEDGER_ERR_CURRENCY_MISMATCH;
    int64_t amount = -credit->amount_minor;
    struct ledger_request_hash hash;
    ledger_request_hash_init(&hash, "assign");
    ledger_request_hash_int64(&hash, suspense_seq);
    ledger_request_hash_int64(&hash, target.id);
    ledger_request_hash_final(&hash, book->request_hash);
    book->entry.reverses_seq = suspense_seq;
    snprintf(book->entry.memo, sizeof book->entry.memo, "assign suspense receipt %lld",
             (long long)suspense_seq);
    add_transfer(&book->entry, credit->account_id, target.id, amount, target.currency);
    book->booking.account_id = target.id;
    book->booking.amount_minor = amount;
    return LEDGER_OK;
}

enum ledger_err ledger_assign_refused(struct ledger *ledger, int64_t suspense_seq,
                                      enum ledger_err err)
{
    if (err != LEDGER_ERR_ALREADY_REVERSED)
        return err;
    ledger_set_detail(ledger, "suspense receipt %lld was already assigned or reversed",
                      (long long)suspense_seq);
    return LEDGER_ERR_BAD_STATE;
}

enum ledger_err ledger_assign_suspense(struct ledger *ledger, const char *actor,
                                       int64_t suspense_seq, const char *case_no,
                                       const char *idempotency_key, struct ledger_booking *booking)
{
    struct ledger_booking_request book;
    memset(booking, 0, sizeof *booking);
    /* A receipt a statement line put in suspense is assigned through its
     * line: booked and recorded on the line in one transaction. */
    int64_t line_id = 0;
    enum ledger_err err = ledger_suspense_line_of_entry(ledger, suspense_seq, &line_id);
    if (err != LEDGER_OK)
        return err;
    if (line_id > 0)
        return ledger_statement_line_assign(ledger, actor, line_id, case_no, idempotency_key,
                                            booking);
    err = ledger_assign_prepare(ledger, actor, suspense_seq, case_no, idempotency_key, &book);
    if (err != LEDGER_OK)
        return err;
    err = finish(ledger, &book, booking, book.booking.account_id, book.booking.amount_minor);
    return ledger_assign_refused(ledger, suspense_seq, err);
}

/* ---- disbursement and transfer requests ---- */

struct request_row {
    const char *kind;
    int64_t account_id;
    int64_t to_account_id;
    int64_t amount_minor;
    const char *currency;
    const char *payee_name;
    const char *payee_account;
    const char *payee_bank;
    const char *purpose;
};

/* Inside a transaction: locks the case, checks status and available funds,
 * inserts the request. */
static enum ledger_err insert_request(struct ledger *ledger, const char *actor,
                                      const struct request_row *row, int64_t *id)
{
    char account_text[LEDGER_INT64_TEXT_SIZE];
    const char *lock_params[1] = {ledger_int64_text(account_text, row->account_id)};
    /* Lock first; the next statement's snapshot then sees every request
     * committed by those who held the lock before us. */
    PGresult *result =
        ledger_db_exec(ledger, PGRES_TUPLES_OK,
                       "SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE", 1, lock_params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    PQclear(result);
    result = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT status, -balance - coalesce((SELECT sum(amount) FROM disbursements d "
        "WHERE d.account_id = a.id AND d.status = 'requested'), 0)::bigint "
        "FROM accounts a WHERE id = $1",
        1, lock_params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    const char *status = PQgetvalue(result, 0, 0);
    if (strcmp(status, "closed") == 0)
        err = LEDGER_ERR_CLOSED;
    else if (strcmp(status, "frozen") == 0)
        err = LEDGER_ERR_FROZEN;
    else if (ledger_db_int64(result, 0, 1) < row->amount_minor)
        err = LEDGER_ERR_INSUFFICIENT;
    if (err != LEDGER_OK)
        ledger_set_detail(ledger, "%s (available %lld)", ledger_err_message(err),
                          (long long)ledger_db_int64(result, 0, 1));
    PQclear(result);
    if (err != LEDGER_OK)
        return err;
    char to_text[LEDGER_INT64_TEXT_SIZE];
    char amount_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[10] = {row->kind,
                              account_text,
                              row->to_account_id ? ledger_int64_text(to_text, row->to_account_id)
                                                 : NULL,
                              ledger_int64_text(amount_text, row->amount_minor),
                              row->currency,
                              row->payee_name,
                              row->payee_account,
                              row->payee_bank,
                              row->purpose ? row->purpose : "",
                              actor};
    result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                            "INSERT INTO disbursements (kind, account_id, to_account_id, amount, "
                            "currency, payee_name, payee_account, payee_bank, purpose, "
                            "requested_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                            "RETURNING id",
                            10, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    *id = ledger_db_int64(result, 0, 0);
    PQclear(result);
    return LEDGER_OK;
}

static enum ledger_err record_request_once(struct ledger *ledger, const char *actor,
                                           const struct request_row *row, const char *operation,
                                           const char *idempotency_key, int64_t *id, bool *replayed)
{
    uint8_t request_hash[LEDGER_HASH_SIZE];
    struct ledger_request_hash hash;
    ledger_request_hash_init(&hash, operation);
    ledger_request_hash_int64(&hash, row->account_id);
    ledger_request_hash_int64(&hash, row->to_account_id);
    ledger_request_hash_int64(&hash, row->amount_minor);
    ledger_request_hash_text(&hash, row->payee_name);
    ledger_request_hash_text(&hash, row->payee_account);
    ledger_request_hash_text(&hash, row->payee_bank);
    ledger_request_hash_text(&hash, row->purpose);
    ledger_request_hash_final(&hash, request_hash);
    int64_t seq = 0;
    *replayed = false;
    enum ledger_err err = ledger_db_begin(ledger);
    if (err != LEDGER_OK)
        return err;
    err = ledger_idempotency_find(ledger, actor, idempotency_key, request_hash, replayed, &seq, id);
    if (err == LEDGER_OK && !*replayed) {
        err = insert_request(ledger, actor, row, id);
        if (err == LEDGER_OK)
            err = ledger_idempotency_store(ledger, actor, idempotency_key, operation, request_hash,
                                           0, *id);
    }
    if (err == LEDGER_OK)
        err = ledger_db_commit(ledger);
    if (err != LEDGER_OK)
        ledger_db_rollback(ledger);
    return err;
}

/* Deadlocks, serialization failures and a concurrent twin of the same
 * idempotency key are retried (bounded); the retry then replays. */
static enum ledger_err record_request(struct ledger *ledger, const char *actor,
                                      const struct request_row *row, const char *operation,
                                      const char *idempotency_key, int64_t *id, bool *replayed)
{
    enum ledger_err err = LEDGER_ERR_RETRY;
    for (int attempt = 0; attempt < LEDGER_RETRY_MAX && err == LEDGER_ERR_RETRY; attempt++)
        err = record_request_once(ledger, actor, row, operation, idempotency_key, id, replayed);
    return err;
}

enum ledger_err ledger_disbursement_request(struct ledger *ledger, const char *actor,
                                            const struct ledger_disbursement_request *request,
                                            const char *idempotency_key, int64_t *disbursement_id,
                                            bool *replayed)
{
    ledger->detail[0] = '\0';
    if (ledger_idempotency_key_check(idempotency_key) != LEDGER_OK)
        return invalid(ledger, "idempotency key must be 1..128 printable ASCII characters");
    enum ledger_err err = amount_check(ledger, request->amount_minor);
    if (err != LEDGER_OK)
        return err;
    if (request->payee_name == NULL || request->payee_name[0] == '\0' ||
        request->payee_account == NULL || request->payee_account[0] == '\0' ||
        !text_fits(request->payee_name, LEDGER_NAME_MAX) ||
        !text_fits(request->payee_account, LEDGER_BANK_ACCOUNT_MAX) ||
        !text_fits(request->payee_bank, LEDGER_NAME_MAX) ||
        !text_fits(request->purpose, LEDGER_MEMO_MAX))
        return invalid(ledger, "a payout needs a payee name and bank account within limits");
    if ((err = ledger_actor_check(ledger, actor, LEDGER_ROLE_CLERK)) != LEDGER_OK)
        return err;
    struct ledger_account_ref account;
    if ((err = ledger_case_find(ledger, request->case_no, &account)) != LEDGER_OK)
        return err;
    struct request_row row = {"payout",
                              account.id,
                              0,
                              request->amount_minor,
                              account.currency,
                              request->payee_name,
                              request->payee_account,
                              request->payee_bank,
                              request->purpose};
    return record_request(ledger, actor, &row, "disbursement_request", idempotency_key,
                          disbursement_id, replayed);
}

enum ledger_err ledger_transfer_request(struct ledger *ledger, const char *actor,
                                        const char *from_case_no, const char *to_case_no,
                                        int64_t amount_minor, const char *reason,
                                        const char *idempotency_key, int64_t *disbursement_id,
                                        bool *replayed)
{
    ledger->detail[0] = '\0';
    if (ledger_idempotency_key_check(idempotency_key) != LEDGER_OK)
        return invalid(ledger, "idempotency key must be 1..128 printable ASCII characters");
    enum ledger_err err = amount_check(ledger, amount_minor);
    if (err != LEDGER_OK)
        return err;
    if (reason == NULL || reason[0] == '\0' || !text_fits(reason, LEDGER_MEMO_MAX))
        return invalid(ledger, "a transfer needs a reason of 1..512 bytes");
    if ((err = ledger_actor_check(ledger, actor, LEDGER_ROLE_CLERK)) != LEDGER_OK)
        return err;
    struct ledger_account_ref from;
    struct ledger_account_ref to;
    if ((err = ledger_case_find(ledger, from_case_no, &from)) != LEDGER_OK ||
        (err = ledger_case_find(ledger, to_case_no, &to)) != LEDGER_OK)
        return err;
    if (from.id == to.id)
        return invalid(ledger, "a transfer needs two different cases");
    if (strcmp(from.currency, to.currency) != 0)
        return LEDGER_ERR_CURRENCY_MISMATCH;
    if (strcmp(to.status, "closed") == 0)
        return LEDGER_ERR_CLOSED;
    struct request_row row = {"transfer", from.id, to.id, amount_minor, from.currency,
                              NULL,       NULL,    NULL,  reason};
    return record_request(ledger, actor, &row, "transfer_request", idempotency_key, disbursement_id,
                          replayed);
}

/* ---- decisions on requests ---- */

struct disbursement_row {
    char kind[16];
    char status[16];
    char currency[LEDGER_CURRENCY_SIZE];
    char requested_by[LEDGER_NAME_MAX + 1];
    char purpose[LEDGER_MEMO_MAX + 1];
    int64_t account_id;
    int64_t to_account_id;
    int64_t amount_minor;
    int64_t paid_minor; /* what statement lines paying it in parts paid so far */
    /* "" for a transfer; signed with the approval (chain.h, version 2) */
    char payee_name[LEDGER_PAYEE_NAME_MAX + 1];
    char payee_account[LEDGER_PAYEE_ACCOUNT_MAX + 1];
    char payee_bank[LEDGER_PAYEE_BANK_MAX + 1];
    bool payee_fits; /* the stored payee fits the fields above */
};

/* Copies a column into a field of capacity bytes; false when it does not fit. */
static bool copy_column(char *field, size_t capacity, const PGresult *result, int column)
{
    int written = snprintf(field, capacity, "%s", PQgetvalue(result, 0, column));
    return written >= 0 && (size_t)written < capacity;
}

static enum ledger_err read_disbursement(struct ledger *ledger, int64_t id,
                                         struct disbursement_row *row)
{
    char id_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[1] = {ledger_int64_text(id_text, id)};
    PGresult *result = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                      "SELECT kind, status, currency, requested_by, purpose, "
                                      "account_id, to_account_id, amount, "
                                      "coalesce(payee_name, ''), coalesce(payee_account, ''), "
                                      "coalesce(payee_bank, ''), paid_minor "
                                      "FROM disbursements WHERE id = $1",
                                      1, params);
    if (result == NULL)
        return ledger_db_last_error(ledger);
    enum ledger_err err = LEDGER_OK;
    if (PQntuples(result) != 1) {
        ledger_set_detail(ledger, "no disbursement %lld", (long long)id);
        err = LEDGER_ERR_UNKNOWN_DISBURSEMENT;
    } else {
        snprintf(row->kind, sizeof row->kind, "%s", PQgetvalue(result, 0, 0));
        snprintf(row->status, sizeof row->status, "%s", PQgetvalue(result, 0, 1));
        snprintf(row->currency, sizeof row->currency, "%s", PQgetvalue(result, 0, 2));
        snprintf(row->requested_by, sizeof row->requested_by, "%s", PQgetvalue(result, 0, 3));
        snprintf(row->purpose, sizeof row->purpose, "%s", PQgetvalue(result, 0, 4));
        row->account_id = ledger_db_int64(result, 0, 5);
        row->to_account_id = ledger_db_int64(result, 0, 6);
        row->amount_minor = ledger_db_int64(result, 0, 7);
        row->payee_fits = copy_column(row->payee_name, sizeof row->payee_name, result, 8) &&
                          copy_column(row->payee_account, sizeof row->payee_account, result, 9) &&
                          copy_column(row->payee_bank, sizeof row->payee_bank, result, 10);
        row->paid_minor = ledger_db_int64(result, 0, 11);
    }
    PQclear(result);
    return err;
}

static void decision_hash(struct ledger_booking_request *book, const char *operation, int64_t id,
                          const char *text)
{
    struct ledger_request_hash hash;
    ledger_request_hash_init(&hash, operation);
    ledger_request_hash_int64(&hash, id);
    ledger_request_hash_text(&hash, text);
    ledger_request_hash_final(&hash, book->request_hash);
}

enum ledger_err ledger_disbursement_approve(struct ledger *ledger, const char *actor,
                                            int64_t disbursement_id, const char *idempotency_key,
                                            struct ledger_booking *booking)
{
    struct ledger_booking_request book;
    memset(booking, 0, sizeof *booking);
    enum ledger_err err = booking_start(ledger, &book, "disbursement", actor, "approve",
                                        idempotency_key, LEDGER_ROLE_APPROVER);
    if (err != LEDGER_OK)
        return err;
    struct disbursement_row row;
    if ((err = read_disbursement(ledger, disbursement_id, &row)) != LEDGER_OK)
        return err;
    if (strcmp(row.requested_by, actor) == 0) {
        ledger_set_detail(ledger, "%s requested disbursement %lld and cannot approve it", actor,
                          (long long)disbursement_id);
        return LEDGER_ERR_SAME_USER;
    }
    int64_t credit_id = row.to_account_id;
    if (strcmp(row.kind, "transfer") == 0) {
        snprintf(book.entry.kind, sizeof book.entry.kind, "transfer");
    } else if ((err = ledger_system_account(ledger, "in_transit", row.currency, &credit_id)) !=
               LEDGER_OK) {
        return err;
    }
    decision_hash(&book, "approve", disbursement_id, NULL);
    int written = snprintf(book.entry.memo, sizeof book.entry.memo, "disbursement %lld: %.400s",
                           (long long)disbursement_id, row.purpose);
    if (written < 0)
        return LEDGER_ERR_INVALID_ARGUMENT;
    /* Where the money goes is sealed with the approval (verify reads it
     * back from the request). */
    if (!row.payee_fits)
        return invalid(ledger, "the request's payee exceeds the limits of a signed entry");
    book.entry.disbursement_id = disbursement_id;
    memcpy(book.entry.payee_name, row.payee_name, sizeof book.entry.payee_name);
    memcpy(book.entry.payee_account, row.payee_account, sizeof book.entry.payee_account);
    memcpy(book.entry.payee_bank, row.payee_bank, sizeof book.entry.payee_bank);
    add_transfer(&book.entry, row.account_id, credit_id, row.amount_minor, row.currency);
    book.object_id = disbursement_id;
    book.disbursement_id = disbursement_id;
    book.disbursement_from = "requested";
    book.disbursement_to = "approved";
    return finish(ledger, &book, booking, row.account_id, row.amount_minor);
}

static enum ledger_err reject_once(struct ledger *ledger, const char *actor,
                                   int64_t disbursement_id, const char *reason,
                                   const char *idempotency_key,
                                   const uint8_t request_hash[LEDGER_HASH_SIZE], bool *replayed);

enum ledger_err ledger_disbursement_reject(struct ledger *ledger, const char *actor,
                                           int64_t disbursement_id, const char *reason,
                                           const char *idempotency_key, bool *replayed)
{
    ledger->detail[0] = '\0';
    *replayed = false;
    if (ledger_idempotency_key_check(idempotency_key) != LEDGER_OK)
        return invalid(ledger, "idempotency key must be 1..128 printable ASCII characters");
    if (reason == NULL || reason[0] == '\0' || !text_fits(reason, LEDGER_MEMO_MAX))
        return invalid(ledger, "a rejection needs a reason of 1..512 bytes");
    enum ledger_err err = ledger_actor_check(ledger, actor, LEDGER_ROLE_APPROVER);
    if (err != LEDGER_OK)
        return err;
    struct ledger_booking_request book; /* only for its request hash */
    decision_hash(&book, "reject", disbursement_id, reason);
    err = LEDGER_ERR_RETRY;
    for (int attempt = 0; attempt < LEDGER_RETRY_MAX && err == LEDGER_ERR_RETRY; attempt++)
        err = reject_once(ledger, actor, disbursement_id, reason, idempotency_key,
                          book.request_hash, replayed);
    return err;
}

static enum ledger_err reject_once(struct ledger *ledger, const char *actor,
                                   int64_t disbursement_id, const char *reason,
                                   const char *idempotency_key,
                                   const uint8_t request_hash[LEDGER_HASH_SIZE], bool *replayed)
{
    enum ledger_err err;
    int64_t seq = 0;
    int64_t object_id = 0;
    if ((err = ledger_db_begin(ledger)) != LEDGER_OK)
        return err;
    err = ledger_idempotency_find(ledger, actor, idempotency_key, request_hash, replayed, &seq,
                                  &object_id);
    if (err == LEDGER_OK && !*replayed) {
        char id_text[LEDGER_INT64_TEXT_SIZE];
        const char *params[3] = {ledger_int64_text(id_text, disbursement_id), actor, reason};
        PGresult *result = ledger_db_exec(
            ledger, PGRES_TUPLES_OK,
            "UPDATE disbursements SET status = 'rejected', decided_by = $2, decided_at = now(), "
            "reject_reason = $3 WHERE id = $1 AND status = 'requested' RETURNING id",
            3, params);
        if (result == NULL) {
            err = ledger_db_last_error(ledger);
        } else {
            if (PQntuples(result) != 1)
                err = read_disbursement(ledger, disbursement_id, &(struct disbursement_row){0}) ==
                              LEDGER_OK
                          ? LEDGER_ERR_BAD_STATE
                          : LEDGER_ERR_UNKNOWN_DISBURSEMENT;
            PQclear(result);
        }
        if (err == LEDGER_OK)
            err = ledger_idempotency_store(ledger, actor, idempotency_key, "reject", request_hash,
                                           0, disbursement_id);
    }
    if (err == LEDGER_OK)
        err = ledger_db_commit(ledger);
    if (err != LEDGER_OK)
        ledger_db_rollback(ledger);
    return err;
}

/* Settle (in_transit -> bank) and return (in_transit -> case). */
static enum ledger_err close_payout(struct ledger *ledger, const char *actor, int64_t id,
                                    const char *bank_ref, const char *reason,
                                    int32_t value_date_days, bool is_return,
                                    const char *idempotency_key, struct ledger_booking *booking)
{
    struct ledger_booking_request book;
    memset(booking, 0, sizeof *booking);
    const char *kind = is_return ? "return" : "settle";
    enum ledger_err err = booking_start(ledger, &book, kind, actor, kind, idempotency_key,
                                        LEDGER_ROLE_CLERK | LEDGER_ROLE_APPROVER |
                                            LEDGER_ROLE_BANK | LEDGER_ROLE_ADMIN);
    if (err != LEDGER_OK)
        return err;
    if (bank_ref == NULL || bank_ref[0] == '\0' || !text_fits(bank_ref, LEDGER_BANK_REF_MAX) ||
        !text_fits(reason, LEDGER_MEMO_MAX - 64))
        return invalid(ledger, "a bank reference of 1..128 bytes is needed");
    struct disbursement_row row;
    int64_t in_transit = 0;
    int64_t other = 0;
    if ((err = read_disbursement(ledger, id, &row)) != LEDGER_OK)
        return err;
    if (strcmp(row.kind, "payout") != 0) {
        ledger_set_detail(ledger, "only payouts are settled or returned");
        return LEDGER_ERR_BAD_STATE;
    }
    if ((err = ledger_system_account(ledger, "in_transit", row.currency, &in_transit)) != LEDGER_OK)
        return err;
    if (is_return)
        other = row.account_id;
    else if ((err = ledger_bank_account(ledger, 0, row.currency, &other)) != LEDGER_OK)
        return err;
    struct ledger_request_hash hash;
    ledger_request_hash_init(&hash, kind);
    ledger_request_hash_int64(&hash, id);
    ledger_request_hash_text(&hash, bank_ref);
    ledger_request_hash_text(&hash, reason);
    ledger_request_hash_int64(&hash, value_date_days);
    ledger_request_hash_final(&hash, book.request_hash);
    snprintf(book.entry.bank_ref, sizeof book.entry.bank_ref, "%s", bank_ref);
    snprintf(book.entry.memo, sizeof book.entry.memo, "disbursement %lld %s%s%s", (long long)id,
             is_return ? "returned" : "paid", reason ? ": " : "", reason ? reason : "");
    book.entry.value_date_days = value_date_days;
    /* What bank lines paid of it in parts has left already: only the rest
     * is still in transit (the database refuses any other amount). A payout
     * paid in full books nothing more: the database answers a replay of
     * its key, or refuses the state. */
    int64_t in_transit_minor = row.amount_minor - row.paid_minor;
    if (in_transit_minor <= 0)
        in_transit_minor = row.amount_minor;
    add_transfer(&book.entry, in_transit, other, in_transit_minor, row.currency);
    book.object_id = id;
    book.disbursement_id = id;
    book.disbursement_from = "approved";
    book.disbursement_to = is_return ? "returned" : "paid";
    return finish(ledger, &book, booking, row.account_id, in_transit_minor);
}

enum ledger_err ledger_disbursement_settle(struct ledger *ledger, const char *actor,
                                           int64_t disbursement_id, const char *bank_ref,
                                           int32_t value_date_days, const char *idempotency_key,
                                           struct ledger_booking *booking)
{
    return close_payout(ledger, actor, disbursement_id, bank_ref, NULL, value_date_days, false,
                        idempotency_key, booking);
}

enum ledger_err ledger_disbursement_return(struct ledger *ledger, const char *actor,
                                           int64_t disbursement_id, const char *bank_ref,
                                           const char *reason, const char *idempotency_key,
                                           struct ledger_booking *booking)
{
    return close_payout(ledger, actor, disbursement_id, bank_ref, reason, LEDGER_VALUE_DATE_NONE,
                        true, idempotency_key, booking);
}

/* ---- reversal ---- */

enum ledger_err ledger_reverse(struct ledger *ledger, const char *actor, int64_t seq,
                               const char *reason, const char *idempotency_key,
                               struct ledger_booking *booking)
{
    struct ledger_booking_request book;
    memset(booking, 0, sizeof *booking);
    enum ledger_err err = booking_start(ledger, &book, "reversal", actor, "reverse",
                                        idempotency_key, LEDGER_ROLE_APPROVER);
    if (err != LEDGER_OK)
        return err;
    if (reason == NULL || reason[0] == '\0' || !text_fits(reason, LEDGER_MEMO_MAX))
        return invalid(ledger, "a reversal needs a reason of 1..512 bytes");
    struct stored_entry source;
    if ((err = read_entry(ledger, seq, &source)) != LEDGER_OK)
        return err;
    /* An assignment from suspense is corrected by a transfer between the
     * cases (four eyes), not reversed: the suspense receipt stays consumed. */
    static const char *const reversible[] = {"receipt", "suspense_receipt", "transfer"};
    bool allowed = false;
    for (size_t i = 0; i < sizeof reversible / sizeof reversible[0]; i++)
        allowed = allowed || strcmp(source.kind, reversible[i]) == 0;
    if (!allowed) {
        ledger_set_detail(ledger, "a %s entry is corrected through its workflow, not reversed",
                          source.kind);
        return LEDGER_ERR_NOT_REVERSIBLE;
    }
    /* A collective entry of a statement's receipts is the bank's record of
     * many payments: one of them booked to the wrong case is moved by a
     * transfer (four eyes); none of them can be undone here. */
    if (source.postings_count > 2) {
        ledger_set_detail(ledger,
                          "entry %lld books %zu receipts of a bank statement: correct a "
                          "line with a transfer between cases",
                          (long long)seq, source.postings_count - 1);
        return LEDGER_ERR_NOT_REVERSIBLE;
    }
    decision_hash(&book, "reverse", seq, reason);
    book.entry.reverses_seq = seq;
    snprintf(book.entry.memo, sizeof book.entry.memo, "%s", reason);
    int64_t case_account = 0;
    for (size_t i = 0; i < source.postings_count; i++) {
        const struct ledger_posting *posting = &source.postings[i];
        int64_t negated = 0;
        if (ledger_money_negate(&negated, posting->amount_minor) != LEDGER_OK)
            return LEDGER_ERR_OVERFLOW;
        add_posting(&book.entry, posting->account_id, negated, posting->currency);
        if (posting->amount_minor < 0)
            case_account = posting->account_id;
    }
    return finish(ledger, &book, booking, case_account, source.postings[0].amount_minor);
}

#include "err.h"

#include <stddef.h>

struct err_row {
    const char *code;
    const char *message;
    int http_status;
};

/* One table: error -> stable API code, message, HTTP status. */
static const struct err_row err_table[LEDGER_ERR__COUNT] = {
    [LEDGER_OK] = {"ok", "ok", 200},
    [LEDGER_ERR_INVALID_ARGUMENT] = {"invalid_request", "invalid request", 400},
    [LEDGER_ERR_INVALID_AMOUNT] = {"invalid_amount", "invalid amount", 422},
    [LEDGER_ERR_OVERFLOW] = {"amount_overflow", "amount out of range", 422},
    [LEDGER_ERR_CURRENCY_MISMATCH] = {"currency_mismatch", "currency does not match the account",
                                      422},
    [LEDGER_ERR_INVALID_PAYIN] = {"invalid_payin_no", "invalid pay-in number", 422},
    [LEDGER_ERR_UNKNOWN_CASE] = {"unknown_case", "unknown case", 404},
    [LEDGER_ERR_UNKNOWN_ACCOUNT] = {"unknown_account", "unknown account", 404},
    [LEDGER_ERR_UNKNOWN_ENTRY] = {"unknown_entry", "unknown entry", 404},
    [LEDGER_ERR_UNKNOWN_DISBURSEMENT] = {"unknown_disbursement", "unknown disbursement", 404},
    [LEDGER_ERR_UNKNOWN_USER] = {"unknown_user", "unknown or disabled user", 403},
    [LEDGER_ERR_CASE_EXISTS] = {"case_exists", "case already exists", 409},
    [LEDGER_ERR_INSUFFICIENT] = {"insufficient_funds", "insufficient funds", 422},
    [LEDGER_ERR_FROZEN] = {"account_frozen", "account is frozen", 409},
    [LEDGER_ERR_CLOSED] = {"account_closed", "account is closed", 409},
    [LEDGER_ERR_NOT_EMPTY] = {"account_not_empty", "account still holds money", 409},
    [LEDGER_ERR_BAD_STATE] = {"invalid_state", "not allowed in the current state", 409},
    [LEDGER_ERR_SAME_USER] = {"same_user_approval", "approver must not be the requester", 403},
    [LEDGER_ERR_FORBIDDEN] = {"forbidden", "role does not allow this", 403},
    [LEDGER_ERR_ALREADY_REVERSED] = {"already_reversed", "entry is already reversed", 409},
    [LEDGER_ERR_NOT_REVERSIBLE] = {"not_reversible", "entry kind cannot be reversed", 422},
    [LEDGER_ERR_IDEMPOTENCY_CONFLICT] = {"idempotency_conflict",
                                         "idempotency key was used for another request", 409},
    [LEDGER_ERR_DB] = {"database_error", "database error", 503},
    [LEDGER_ERR_RETRY] = {"busy", "too much contention, retry", 503},
    [LEDGER_ERR_CRYPTO] = {"crypto_error", "cryptographic failure", 500},
    [LEDGER_ERR_IO] = {"io_error", "could not read or write a file", 500},
    [LEDGER_ERR_NOMEM] = {"out_of_memory", "out of memory", 503},
    [LEDGER_ERR_VERIFY_FAILED] = {"verify_failed", "ledger verification failed", 409},
    [LEDGER_ERR_AMOUNT_TOO_LARGE] = {"amount_too_large",
                                     "amount is over the largest amount of one entry", 422},
    [LEDGER_ERR_BUSY] = {"busy",
                         "the books are held by a running statement import or booking; nothing "
                         "was booked: retry later with the same Idempotency-Key",
                         503},
    [LEDGER_ERR_UNAVAILABLE] = {"database_unavailable",
                                "the database cannot be reached; whether a write sent just before "
                                "took effect is unknown: retry with the same Idempotency-Key",
                                503},
    /* The server lacks data only its operator can install (a year's
     * etc/holidays file): nothing the client can change, nothing booked. */
    [LEDGER_ERR_NO_CALENDAR] = {"calendar_missing",
                                "no holiday calendar for that year: working days in it cannot be "
                                "counted until the server is given its calendar file",
                                503},
};

static const struct err_row *err_row_of(enum ledger_err err)
{
    if ((int)err < 0 || err >= LEDGER_ERR__COUNT || err_table[err].code == NULL)
        return &err_table[LEDGER_ERR_INVALID_ARGUMENT];
    return &err_table[err];
}

const char *ledger_err_code(enum ledger_err err)
{
    return err_row_of(err)->code;
}

const char *ledger_err_message(enum ledger_err err)
{
    return err_row_of(err)->message;
}

int ledger_err_http_status(enum ledger_err err)
{
    return err_row_of(err)->http_status;
}

/* Error values of the ledger core, and their stable names.
 *
 * Every fallible ledger function returns enum ledger_err; 0 is success.
 * Each value names one thing a caller can act on. The API maps each to an
 * HTTP status and a stable problem+json `code` (ledger_err_code()). */
#ifndef LEDGER_ERR_H
#define LEDGER_ERR_H

enum ledger_err {
    LEDGER_OK = 0,
    LEDGER_ERR_INVALID_ARGUMENT,  /* malformed input (caller's bug or client input) */
    LEDGER_ERR_INVALID_AMOUNT,    /* not a positive amount / bad decimal text */
    LEDGER_ERR_OVERFLOW,          /* int64 arithmetic would overflow */
    LEDGER_ERR_CURRENCY_MISMATCH, /* amounts or accounts of different currencies */
    LEDGER_ERR_INVALID_PAYIN,     /* pay-in number with bad format or check digits */
    LEDGER_ERR_UNKNOWN_CASE,      /* no case with that case number / pay-in number */
    LEDGER_ERR_UNKNOWN_ACCOUNT,   /* no such account */
    LEDGER_ERR_UNKNOWN_ENTRY,     /* no such journal entry */
    LEDGER_ERR_UNKNOWN_DISBURSEMENT,
    LEDGER_ERR_UNKNOWN_USER,         /* acting user does not exist or is disabled */
    LEDGER_ERR_CASE_EXISTS,          /* case number already has an account */
    LEDGER_ERR_INSUFFICIENT,         /* would take a case below zero / above available */
    LEDGER_ERR_FROZEN,               /* account is frozen: no money may leave it */
    LEDGER_ERR_CLOSED,               /* account is closed: no entries */
    LEDGER_ERR_NOT_EMPTY,            /* cannot close an account that holds money */
    LEDGER_ERR_BAD_STATE,            /* object is not in a state that allows this */
    LEDGER_ERR_SAME_USER,            /* four-eyes: approver is the requester */
    LEDGER_ERR_FORBIDDEN,            /* acting user's role does not allow this */
    LEDGER_ERR_ALREADY_REVERSED,     /* entry already has a reversal */
    LEDGER_ERR_NOT_REVERSIBLE,       /* entry kind cannot be reversed */
    LEDGER_ERR_IDEMPOTENCY_CONFLICT, /* same key, different request */
    LEDGER_ERR_DB,                   /* database failed (connection, unexpected SQLSTATE) */
    LEDGER_ERR_RETRY,                /* serialization failure, retries exhausted */
    LEDGER_ERR_CRYPTO,               /* libsodium failure, bad key */
    LEDGER_ERR_IO,                   /* file could not be read or written */
    LEDGER_ERR_NOMEM,
    LEDGER_ERR_VERIFY_FAILED,    /* chain or signature check failed */
    LEDGER_ERR_BUSY,             /* a lock was not had within ledger_config.lock_wait_ms */
    LEDGER_ERR_AMOUNT_TOO_LARGE, /* over ledger_config.amount_max_minor */
    LEDGER_ERR_UNAVAILABLE,      /* the connection is lost (and not restored yet): a statement's
                                    outcome, a COMMIT's too, is unknown */
    LEDGER_ERR_NO_CALENDAR,      /* a working-day count met a year with no holiday calendar file
                                    (calendar.h): refused, never guessed */
    LEDGER_ERR__COUNT
};

/* The stable machine-readable name ("insufficient_funds"); never NULL. */
const char *ledger_err_code(enum ledger_err err);
/* A short lower-case human message ("insufficient funds"); never NULL. */
const char *ledger_err_message(enum ledger_err err);
/* The HTTP status the API answers with for this error. */
int ledger_err_http_status(enum ledger_err err);

#define LEDGER_MUST_CHECK __attribute__((warn_unused_result))

#endif

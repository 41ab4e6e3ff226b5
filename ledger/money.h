/* Money: int64_t minor units, exact decimal text, overflow-checked arithmetic.
 *
 * No floating point anywhere. An amount is an integer count of the currency's
 * minor unit (fen for CNY). Decimal text is parsed and printed exactly. */
#ifndef LEDGER_MONEY_H
#define LEDGER_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Flags for ledger_money_parse(). */
#define LEDGER_MONEY_ALLOW_NEGATIVE 0x1u /* accept a leading '-' (bank statement lines) */
#define LEDGER_MONEY_ALLOW_COMMA 0x2u    /* ',' as the decimal separator (MT940, some CSV) */

/* Parses decimal text of exactly `length` bytes (no NUL needed) into minor
 * units of a currency with `decimals` minor digits (0..4). The accepted
 * grammar is: optional '-' (only with LEDGER_MONEY_ALLOW_NEGATIVE), one or
 * more ASCII digits, optionally a separator followed by 1..decimals digits.
 * Rejected: empty text, spaces, '+', grouping separators, exponents, NaN,
 * "-0" (and any negative zero), more fraction digits than the currency has
 * (LEDGER_ERR_INVALID_AMOUNT), values outside int64 (LEDGER_ERR_OVERFLOW).
 * On error *out_minor is left untouched.
 * Further rules (pinned in tests/test_money.c):
 * - fewer fraction digits are padded ("1234.5" = 123450 for 2 decimals);
 *   leading zeros are accepted ("007.50" = 750); zero is accepted ("0",
 *   "0.00"): whether an amount must be positive is the caller's rule;
 * - with 0 decimals no separator is accepted ("7.0" is invalid for JPY);
 * - with LEDGER_MONEY_ALLOW_COMMA the separator is ',' only and '.' is
 *   rejected (in those formats '.' would be a grouping mark);
 * - text longer than LEDGER_AMOUNT_TEXT_MAX bytes is LEDGER_ERR_INVALID_AMOUNT;
 *   bad text is LEDGER_ERR_INVALID_AMOUNT even when its digits overflow;
 * - NULL out_minor or text, decimals outside 0..4 and unknown flags are
 *   LEDGER_ERR_INVALID_ARGUMENT. */
enum ledger_err ledger_money_parse(int64_t *out_minor, const char *text, size_t length,
                                   int decimals, unsigned flags) LEDGER_MUST_CHECK;

/* Writes the exact decimal text of amount_minor ("-1234.56", "0.05", "7")
 * with `decimals` fraction digits into buffer (always NUL-terminated when
 * size > 0). Returns the length written, or 0 when it does not fit or
 * decimals is outside 0..4 (buffer is then ""). INT64_MIN is formatted too. */
size_t ledger_money_format(char *buffer, size_t size, int64_t amount_minor, int decimals);

/* Overflow-checked arithmetic: on overflow return LEDGER_ERR_OVERFLOW and
 * leave *out untouched (LEDGER_ERR_INVALID_ARGUMENT when out is NULL). */
enum ledger_err ledger_money_add(int64_t *out, int64_t a, int64_t b) LEDGER_MUST_CHECK;
enum ledger_err ledger_money_sub(int64_t *out, int64_t a, int64_t b) LEDGER_MUST_CHECK;
enum ledger_err ledger_money_negate(int64_t *out, int64_t a) LEDGER_MUST_CHECK;

/* True for three upper-case ASCII letters. */
bool ledger_currency_valid(const char *currency);
/* Minor digits of an ISO 4217 currency (CNY 2, JPY 0, KWD 3, ...); 2 for
 * currencies not in the table; -1 when the code is not valid. */
int ledger_currency_decimals(const char *currency);

#endif

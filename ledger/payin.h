/* Pay-in numbers: the numeric virtual sub-account of a case.
 *
 * A pay-in number is LEDGER_PAYIN_DIGITS (16) ASCII digits: a 14-digit body
 * followed by two check digits computed with ISO 7064 MOD 97-10, so that the
 * whole number taken as an integer is congruent to 1 modulo 97. Any single
 * mistyped digit and any swap of two adjacent digits is detected.
 *
 * Check digits are 02..98 (ISO 7064). A body whose check digits are 97, 98
 * or 02 is also congruent to 1 when followed by 00, 01 or 99; those numbers
 * are never issued and are rejected. Every function that returns enum
 * ledger_err returns LEDGER_ERR_INVALID_ARGUMENT for a NULL out or text. */
#ifndef LEDGER_PAYIN_H
#define LEDGER_PAYIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "limits.h"

#define LEDGER_PAYIN_BODY_DIGITS (LEDGER_PAYIN_DIGITS - 2)
#define LEDGER_PAYIN_BODY_MAX 99999999999999ULL /* 14 nines */

/* Writes the 16-digit pay-in number for `body` (0..LEDGER_PAYIN_BODY_MAX,
 * zero-padded to 14 digits) plus NUL into out. */
enum ledger_err ledger_payin_make(char out[LEDGER_PAYIN_DIGITS + 1],
                                  uint64_t body) LEDGER_MUST_CHECK;

/* The two ISO 7064 MOD 97-10 check digits (2..98) for a string of decimal
 * digits of the given length (1..32); -1 when it is not all digits. */
int ledger_mod97_check_digits(const char *digits, size_t length);

/* Classifies text (exactly `length` bytes) as a pay-in number:
 * LEDGER_OK when it is 16 digits with valid check digits,
 * LEDGER_ERR_INVALID_PAYIN when it is not. Spaces or '-' between digit
 * groups are NOT accepted here (see ledger_payin_normalize). */
enum ledger_err ledger_payin_check(const char *text, size_t length) LEDGER_MUST_CHECK;

/* Copies text into out, dropping ASCII spaces and '-' (as people write
 * "8800 0000 0012 3456"), and checks the result as ledger_payin_check does.
 * On error out holds the 16 digits when there were exactly 16 (bad check
 * digits), and "" otherwise (a letter, a tab, too few or too many digits). */
enum ledger_err ledger_payin_normalize(char out[LEDGER_PAYIN_DIGITS + 1], const char *text,
                                       size_t length) LEDGER_MUST_CHECK;

/* Finds a pay-in number in free text (remittance information, references):
 * the first run of exactly 16 digits not adjacent to other digits
 * (digit groups separated by single spaces are joined when they add up to
 * 16). Returns LEDGER_OK and fills out when a run with valid check digits is
 * found; LEDGER_ERR_INVALID_PAYIN (and fills out with the run) when only a
 * 16-digit run with bad check digits is found; LEDGER_ERR_UNKNOWN_CASE when
 * no 16-digit run is present (out is then "").
 * Precisely: every maximal run of digits starts a candidate, joined with
 * the runs that follow it after exactly one space until 16 digits are
 * reached; it is a candidate if that hits 16 exactly. So in
 * "ref 2024 8800 0000 0012 3456" both "2024880000000012" and
 * "8800000000123456" are candidates. The first candidate with valid check
 * digits wins; failing that, the first candidate is reported as invalid.
 * '-' does not join groups here; a run of 17 or more digits is no candidate. */
enum ledger_err ledger_payin_find(char out[LEDGER_PAYIN_DIGITS + 1], const char *text,
                                  size_t length) LEDGER_MUST_CHECK;

#endif

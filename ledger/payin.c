/* Pay-in numbers: ISO 7064 MOD 97-10 over a 14-digit body, computed digit by
 * digit (no big integers), normalizing, and finding one in free text. */
#include "payin.h"

#include <string.h>

#define PAYIN_MODULUS 97u
#define PAYIN_CHECK_BASE 98u /* check digits = 98 - (body * 100 mod 97) */
#define PAYIN_CHECK_MIN 2    /* ISO 7064 MOD 97-10 check digits are 02..98 */
#define PAYIN_CHECK_MAX 98
#define PAYIN_CHECK_INPUT_MAX 32u /* digits ledger_mod97_check_digits accepts */

_Static_assert(LEDGER_PAYIN_BODY_DIGITS == 14, "LEDGER_PAYIN_BODY_MAX is 14 nines");

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static unsigned digit_value(char c)
{
    return (unsigned)(c - '0');
}

static bool all_digits(const char *text, size_t length)
{
    for (size_t index = 0; index < length; index++) {
        if (!is_digit(text[index]))
            return false;
    }
    return true;
}

/* remainder of (remainder * 10 + digit) modulo 97, remainder < 97. */
static unsigned mod97_push(unsigned remainder, unsigned digit)
{
    return (remainder * 10u + digit) % PAYIN_MODULUS;
}

/* The digits (all ASCII digits) taken as one integer, modulo 97. */
static unsigned mod97_of(const char *digits, size_t length)
{
    unsigned remainder = 0;
    for (size_t index = 0; index < length; index++)
        remainder = mod97_push(remainder, digit_value(digits[index]));
    return remainder;
}

int ledger_mod97_check_digits(const char *digits, size_t length)
{
    unsigned remainder;
    if (digits == NULL || length == 0 || length > PAYIN_CHECK_INPUT_MAX ||
        !all_digits(digits, length))
        return -1;
    /* Append two zeros: the check digits' place. */
    remainder = mod97_push(mod97_push(mod97_of(digits, length), 0), 0);
    return (int)(PAYIN_CHECK_BASE - remainder);
}

enum ledger_err ledger_payin_make(char out[LEDGER_PAYIN_DIGITS + 1], uint64_t body)
{
    int check;
    if (out == NULL || body > LEDGER_PAYIN_BODY_MAX)
        return LEDGER_ERR_INVALID_ARGUMENT;
    for (size_t index = LEDGER_PAYIN_BODY_DIGITS; index > 0; index--) {
        out[index - 1] = (char)('0' + (int)(body % 10u));
        body /= 10u;
    }
    check = ledger_mod97_check_digits(out, LEDGER_PAYIN_BODY_DIGITS);
    if (check < PAYIN_CHECK_MIN || check > PAYIN_CHECK_MAX)
        return LEDGER_ERR_INVALID_ARGUMENT; /* cannot happen: the body is all digits */
    out[LEDGER_PAYIN_BODY_DIGITS] = (char)('0' + check / 10);
    out[LEDGER_PAYIN_BODY_DIGITS + 1] = (char)('0' + check % 10);
    out[LEDGER_PAYIN_DIGITS] = '\0';
    return LEDGER_OK;
}

/* The check described in payin.h; text is not NULL. */
static bool payin_valid(const char *text, size_t length)
{
    unsigned check;
    if (length != LEDGER_PAYIN_DIGITS || !all_digits(text, length))
        return false;
    /* 00, 01 and 99 also give a remainder of 1 (as 97, 98 and 02 do) but are
     * never issued: ISO 7064 check digits are 02..98. */
    check = digit_value(text[LEDGER_PAYIN_BODY_DIGITS]) * 10u +
            digit_value(text[LEDGER_PAYIN_BODY_DIGITS + 1]);
    if (check < PAYIN_CHECK_MIN || check > PAYIN_CHECK_MAX)
        return false;
    return mod97_of(text, length) == 1u;
}

enum ledger_err ledger_payin_check(const char *text, size_t length)
{
    if (text == NULL)
        return LEDGER_ERR_INVALID_ARGUMENT;
    return payin_valid(text, length) ? LEDGER_OK : LEDGER_ERR_INVALID_PAYIN;
}

enum ledger_err ledger_payin_normalize(char out[LEDGER_PAYIN_DIGITS + 1], const char *text,
                                       size_t length)
{
    size_t kept = 0;
    if (out == NULL || text == NULL)
        return LEDGER_ERR_INVALID_ARGUMENT;
    out[0] = '\0';
    for (size_t index = 0; index < length; index++) {
        char c = text[index];
        if (c == ' ' || c == '-')
            continue;
        if (!is_digit(c) || kept == LEDGER_PAYIN_DIGITS) {
            out[0] = '\0';
            return LEDGER_ERR_INVALID_PAYIN; /* a letter, or a 17th digit */
        }
        out[kept++] = c;
    }
    if (kept != LEDGER_PAYIN_DIGITS) {
        out[0] = '\0';
        return LEDGER_ERR_INVALID_PAYIN;
    }
    out[LEDGER_PAYIN_DIGITS] = '\0';
    return payin_valid(out, kept) ? LEDGER_OK : LEDGER_ERR_INVALID_PAYIN;
}

/* The run of digits starting at text[start] ends where this returns. */
static size_t run_end(const char *text, size_t length, size_t start)
{
    while (start < length && is_digit(text[start]))
        start++;
    return start;
}

/* Starting with the digit run at text[start] (the first digit of a run),
 * joins the runs that follow it after exactly one space until they hold
 * LEDGER_PAYIN_DIGITS digits. Fills candidate and returns true when they add
 * up to exactly that; false when they fall short or overshoot. At most
 * LEDGER_PAYIN_DIGITS runs are joined, as each holds at least one digit. */
static bool join_runs(char candidate[LEDGER_PAYIN_DIGITS + 1], const char *text, size_t length,
                      size_t start)
{
    size_t count = 0;
    size_t index = start;
    for (;;) {
        size_t end = run_end(text, length, index);
        if (count + (end - index) > LEDGER_PAYIN_DIGITS)
            return false;
        memcpy(candidate + count, text + index, end - index);
        count += end - index;
        if (count == LEDGER_PAYIN_DIGITS)
            break;
        if (end + 1 >= length || text[end] != ' ' || !is_digit(text[end + 1]))
            return false;
        index = end + 1;
    }
    candidate[LEDGER_PAYIN_DIGITS] = '\0';
    return true;
}

enum ledger_err ledger_payin_find(char out[LEDGER_PAYIN_DIGITS + 1], const char *text,
                                  size_t length)
{
    char candidate[LEDGER_PAYIN_DIGITS + 1];
    bool have_invalid = false;
    size_t index = 0;

    if (out == NULL || text == NULL)
        return LEDGER_ERR_INVALID_ARGUMENT;
    out[0] = '\0';
    while (index < length) {
        if (!is_digit(text[index])) {
            index++;
            continue;
        }
        if (join_runs(candidate, text, length, index)) {
            if (payin_valid(candidate, LEDGER_PAYIN_DIGITS)) {
                memcpy(out, candidate, sizeof candidate);
                return LEDGER_OK;
            }
            if (!have_invalid)
                memcpy(out, candidate, sizeof candidate);
            have_invalid = true;
        }
        index = run_end(text, length, index);
    }
    return have_invalid ? LEDGER_ERR_INVALID_PAYIN : LEDGER_ERR_UNKNOWN_CASE;
}

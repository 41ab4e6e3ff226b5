/* Money: exact decimal text <-> int64_t minor units, overflow-checked
 * arithmetic, ISO 4217 minor digits. No floating point in this file. */
#include "money.h"

#include "limits.h"

#include <string.h>

#define MONEY_DECIMALS_MAX 4
#define MONEY_DEFAULT_DECIMALS 2
/* Largest magnitude of a negative int64_t: INT64_MAX + 1, as unsigned. */
#define MONEY_NEGATIVE_MAGNITUDE_MAX ((uint64_t)INT64_MAX + 1u)
/* Room for the longest text ledger_money_format writes: 19 digits, a sign
 * and a separator ("-922337203685477.5808"), 21 bytes; no NUL. */
#define MONEY_FORMAT_TEXT_MAX 24

/* Where the parts of a syntactically valid amount lie in the text. */
struct money_syntax {
    bool negative;
    size_t integer_start;
    size_t integer_count;
    size_t fraction_start;
    size_t fraction_count;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static unsigned digit_value(char c)
{
    return (unsigned)(c - '0');
}

/* Counts the ASCII digits from text[start] on; stops at the first non-digit. */
static size_t count_digits(const char *text, size_t length, size_t start)
{
    size_t index = start;
    while (index < length && is_digit(text[index]))
        index++;
    return index - start;
}

/* Checks the grammar (sign, digits, separator, fraction digits) without
 * computing the value, so that bad text is always LEDGER_ERR_INVALID_AMOUNT
 * and never LEDGER_ERR_OVERFLOW, whatever its length. */
static enum ledger_err money_scan(struct money_syntax *syntax, const char *text, size_t length,
                                  int decimals, unsigned flags)
{
    const char separator = (flags & LEDGER_MONEY_ALLOW_COMMA) ? ',' : '.';
    size_t index = 0;

    if (length == 0 || length > LEDGER_AMOUNT_TEXT_MAX)
        return LEDGER_ERR_INVALID_AMOUNT;
    syntax->negative = text[0] == '-';
    if (syntax->negative) {
        if (!(flags & LEDGER_MONEY_ALLOW_NEGATIVE))
            return LEDGER_ERR_INVALID_AMOUNT;
        index = 1;
    }
    syntax->integer_start = index;
    syntax->integer_count = count_digits(text, length, index);
    if (syntax->integer_count == 0)
        return LEDGER_ERR_INVALID_AMOUNT; /* "", "-", ".5", "+1", " 1", "NaN" */
    index += syntax->integer_count;
    syntax->fraction_start = index;
    syntax->fraction_count = 0;
    if (index == length)
        return LEDGER_OK;
    if (text[index] != separator)
        return LEDGER_ERR_INVALID_AMOUNT; /* "1,234.56", "1e3", "1 " */
    index++;
    syntax->fraction_start = index;
    syntax->fraction_count = count_digits(text, length, index);
    if (syntax->fraction_count == 0 || syntax->fraction_count > (size_t)decimals)
        return LEDGER_ERR_INVALID_AMOUNT; /* "1.", "0.001" with 2, "7.0" with 0 */
    if (index + syntax->fraction_count != length)
        return LEDGER_ERR_INVALID_AMOUNT; /* trailing text: "1.5x", "1.2.3" */
    return LEDGER_OK;
}

/* magnitude = magnitude * 10 + digit, or false on uint64_t overflow. */
static bool magnitude_push_digit(uint64_t *magnitude, unsigned digit)
{
    uint64_t shifted;
    if (__builtin_mul_overflow(*magnitude, 10u, &shifted))
        return false;
    return !__builtin_add_overflow(shifted, (uint64_t)digit, magnitude);
}

/* The value of the scanned text in minor units, as an unsigned magnitude. */
static enum ledger_err money_magnitude(uint64_t *out_magnitude, const char *text,
                                       const struct money_syntax *syntax, int decimals)
{
    uint64_t magnitude = 0;
    for (size_t index = 0; index < syntax->integer_count; index++) {
        if (!magnitude_push_digit(&magnitude, digit_value(text[syntax->integer_start + index])))
            return LEDGER_ERR_OVERFLOW;
    }
    for (size_t index = 0; index < (size_t)decimals; index++) {
        unsigned digit = 0;
        if (index < syntax->fraction_count)
            digit = digit_value(text[syntax->fraction_start + index]);
        if (!magnitude_push_digit(&magnitude, digit))
            return LEDGER_ERR_OVERFLOW;
    }
    *out_magnitude = magnitude;
    return LEDGER_OK;
}

enum ledger_err ledger_money_parse(int64_t *out_minor, const char *text, size_t length,
                                   int decimals, unsigned flags)
{
    const unsigned known_flags = LEDGER_MONEY_ALLOW_NEGATIVE | LEDGER_MONEY_ALLOW_COMMA;
    struct money_syntax syntax;
    uint64_t magnitude;
    enum ledger_err err;

    if (out_minor == NULL || text == NULL || decimals < 0 || decimals > MONEY_DECIMALS_MAX ||
        (flags & ~known_flags) != 0)
        return LEDGER_ERR_INVALID_ARGUMENT;
    err = money_scan(&syntax, text, length, decimals, flags);
    if (err != LEDGER_OK)
        return err;
    err = money_magnitude(&magnitude, text, &syntax, decimals);
    if (err != LEDGER_OK)
        return err;
    if (!syntax.negative) {
        if (magnitude > (uint64_t)INT64_MAX)
            return LEDGER_ERR_OVERFLOW;
        *out_minor = (int64_t)magnitude;
        return LEDGER_OK;
    }
    if (magnitude == 0)
        return LEDGER_ERR_INVALID_AMOUNT; /* "-0", "-0.00": no negative zero */
    if (magnitude > MONEY_NEGATIVE_MAGNITUDE_MAX)
        return LEDGER_ERR_OVERFLOW;
    /* -(magnitude - 1) - 1 stays inside int64_t even for INT64_MIN. */
    *out_minor = -(int64_t)(magnitude - 1u) - 1;
    return LEDGER_OK;
}

/* |amount_minor| as uint64_t, defined for INT64_MIN too. */
static uint64_t money_abs(int64_t amount_minor)
{
    if (amount_minor >= 0)
        return (uint64_t)amount_minor;
    return (uint64_t)(-(amount_minor + 1)) + 1u;
}

size_t ledger_money_format(char *buffer, size_t size, int64_t amount_minor, int decimals)
{
    char reversed[MONEY_FORMAT_TEXT_MAX];
    size_t count = 0;
    uint64_t magnitude = money_abs(amount_minor);

    if (buffer == NULL || size == 0)
        return 0;
    buffer[0] = '\0';
    if (decimals < 0 || decimals > MONEY_DECIMALS_MAX)
        return 0;
    /* Digits from the last; at least decimals + 1 of them ("0.05"). */
    do {
        if (decimals > 0 && count == (size_t)decimals)
            reversed[count++] = '.';
        reversed[count++] = (char)('0' + (int)(magnitude % 10u));
        magnitude /= 10u;
    } while (magnitude != 0 || count <= (size_t)decimals);
    if (amount_minor < 0)
        reversed[count++] = '-';
    if (count + 1 > size)
        return 0;
    for (size_t index = 0; index < count; index++)
        buffer[index] = reversed[count - 1 - index];
    buffer[count] = '\0';
    return count;
}

enum ledger_err ledger_money_add(int64_t *out, int64_t a, int64_t b)
{
    int64_t result;
    if (out == NULL)
        return LEDGER_ERR_INVALID_ARGUMENT;
    if (__builtin_add_overflow(a, b, &result))
        return LEDGER_ERR_OVERFLOW;
    *out = result;
    return LEDGER_OK;
}

enum ledger_err ledger_money_sub(int64_t *out, int64_t a, int64_t b)
{
    int64_t result;
    if (out == NULL)
        return LEDGER_ERR_INVALID_ARGUMENT;
    if (__builtin_sub_overflow(a, b, &result))
        return LEDGER_ERR_OVERFLOW;
    *out = result;
    return LEDGER_OK;
}

enum ledger_err ledger_money_negate(int64_t *out, int64_t a)
{
    int64_t result;
    if (out == NULL)
        return LEDGER_ERR_INVALID_ARGUMENT;
    if (__builtin_sub_overflow((int64_t)0, a, &result))
        return LEDGER_ERR_OVERFLOW;
    *out = result;
    return LEDGER_OK;
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

bool ledger_currency_valid(const char *currency)
{
    /* Stops at the first non-letter, so a short string is never over-read. */
    return currency != NULL && is_upper(currency[0]) && is_upper(currency[1]) &&
           is_upper(currency[2]) && currency[3] == '\0';
}

struct currency_row {
    char code[LEDGER_CURRENCY_SIZE];
    int decimals;
};

/* ISO 4217 minor units of the currencies that are not 2, and the common
 * 2-digit ones spelled out so that the table documents them. */
static const struct currency_row currency_table[] = {
    {"CNY", 2}, {"USD", 2}, {"EUR", 2}, {"HKD", 2}, {"GBP", 2}, {"CHF", 2}, {"MOP", 2}, {"TWD", 2},
    {"SGD", 2}, {"AUD", 2}, {"CAD", 2}, {"JPY", 0}, {"KRW", 0}, {"VND", 0}, {"ISK", 0}, {"CLP", 0},
    {"PYG", 0}, {"UGX", 0}, {"BIF", 0}, {"DJF", 0}, {"GNF", 0}, {"KMF", 0}, {"RWF", 0}, {"VUV", 0},
    {"XAF", 0}, {"XOF", 0}, {"XPF", 0}, {"UYI", 0}, {"KWD", 3}, {"BHD", 3}, {"JOD", 3}, {"OMR", 3},
    {"IQD", 3}, {"LYD", 3}, {"TND", 3}, {"CLF", 4}, {"UYW", 4},
};

int ledger_currency_decimals(const char *currency)
{
    const size_t row_count = sizeof currency_table / sizeof currency_table[0];
    if (!ledger_currency_valid(currency))
        return -1;
    for (size_t index = 0; index < row_count; index++) {
        if (memcmp(currency_table[index].code, currency, LEDGER_CURRENCY_SIZE) == 0)
            return currency_table[index].decimals;
    }
    return MONEY_DEFAULT_DECIMALS;
}

/* Unit suite for reconcile/csv.c: the column mapping format, RFC 4180
 * fields, UTF-8 and GB18030 input (a GB18030 sample built here from known
 * bytes), running balances, and every refusal with its line. */
#include <check.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "statement.h"

Suite *recon_csv_suite(void);

#define ROWS(table) ((int)(sizeof(table) / sizeof((table)[0])))

static int32_t days(int year, int month, int day)
{
    int32_t result = 0;
    ck_assert(recon_date_from_ymd(&result, year, month, day));
    return result;
}

static struct recon_csv_mapping *mapping_ok(const char *text)
{
    struct recon_csv_mapping *mapping = NULL;
    struct recon_error error;
    enum recon_err err = recon_csv_mapping_parse(&mapping, text, strlen(text), &error);
    ck_assert_msg(err == RECON_OK, "mapping: %s at line %llu %s: %s", recon_err_code(err),
                  (unsigned long long)error.line, error.path, error.message);
    return mapping;
}

/* Parses data (size bytes) with the mapping text. */
static enum recon_err parse_with(struct recon_statement **out, const char *mapping_text,
                                 const char *data, size_t size, const struct recon_limits *limits,
                                 unsigned flags, struct recon_error *error)
{
    struct recon_csv_mapping *mapping = mapping_ok(mapping_text);
    enum recon_err err = recon_csv_parse(out, data, size, mapping, limits, flags, error);
    recon_csv_mapping_free(mapping);
    return err;
}

static struct recon_statement *parse_ok(const char *mapping_text, const char *data, unsigned flags)
{
    struct recon_statement *statement = NULL;
    struct recon_error error;
    enum recon_err err =
        parse_with(&statement, mapping_text, data, strlen(data), NULL, flags, &error);
    ck_assert_msg(err == RECON_OK, "%s at line %llu %s: %s", recon_err_code(err),
                  (unsigned long long)error.line, error.path, error.message);
    return statement;
}

/* ---- GB18030 ------------------------------------------------------------
 * The sample's bytes, written out (GB18030 of the UTF-8 below):
 *   交易日期,收入,支出,余额,对方户名,摘要
 *   2024-01-05,"1,000.00",,"11,000.00",张三𠀀,(2024)沪0115执1234号 案款
 *   2024-01-06,,200.50,"10,799.50",李四,退款 €
 * 𠀀 (U+20000) is a four-byte GB18030 sequence (95 32 82 36), € is A2 E3. */
static const char gb18030_sample[] =
    "\xbd\xbb\xd2\xd7\xc8\xd5\xc6\xda,\xca\xd5\xc8\xeb,\xd6\xa7\xb3\xf6,\xd3\xe0\xb6\xee,"
    "\xb6\xd4\xb7\xbd\xbb\xa7\xc3\xfb,\xd5\xaa\xd2\xaa\r\n"
    "2024-01-05,\"1,000.00\",,\"11,000.00\",\xd5\xc5\xc8\xfd\x95"
    "2\x82"
    "6,(2024)\xbb\xa6"
    "0115\xd6\xb4"
    "1234\xba\xc5 \xb0\xb8\xbf\xee\r\n"
    "2024-01-06,,200.50,\"10,799.50\",\xc0\xee\xcb\xc4,\xcd\xcb\xbf\xee \xa2\xe3\r\n";

static const char gb18030_mapping[] =
    "# a Chinese bank's export\n"
    "encoding = gb18030\n"
    "delimiter = comma\n"
    "header = yes\n"
    "currency = CNY\n"
    "account = 6222000011112222\n"
    "thousands = ,\n"
    "date = \xe4\xba\xa4\xe6\x98\x93\xe6\x97\xa5\xe6\x9c\x9f\n"         /* 交易日期 */
    "credit = \xe6\x94\xb6\xe5\x85\xa5\n"                               /* 收入 */
    "debit = \xe6\x94\xaf\xe5\x87\xba\n"                                /* 支出 */
    "balance = \xe4\xbd\x99\xe9\xa2\x9d\n"                              /* 余额 */
    "counterparty = \xe5\xaf\xb9\xe6\x96\xb9\xe6\x88\xb7\xe5\x90\x8d\n" /* 对方户名 */
    "remittance = \xe6\x91\x98\xe8\xa6\x81\n";                          /* 摘要 */

START_TEST(gb18030_converted)
{
    struct recon_statement *statement = parse_ok(gb18030_mapping, gb18030_sample, 0);
    ck_assert_int_eq(statement->format, RECON_FORMAT_CSV);
    ck_assert_uint_eq(statement->line_count, 2);
    ck_assert_str_eq(statement->account_id, "6222000011112222");
    ck_assert_str_eq(statement->currency, "CNY");
    const struct recon_line *line = &statement->lines[0];
    ck_assert_int_eq(line->amount_minor, 100000);
    ck_assert_int_eq(line->value_date_days, days(2024, 1, 5));
    ck_assert_str_eq(line->counterparty_name, "\xe5\xbc\xa0\xe4\xb8\x89\xf0\xa0\x80\x80");
    ck_assert_str_eq(line->remittance, "(2024)\xe6\xb2\xaa"
                                       "0115\xe6\x89\xa7"
                                       "1234\xe5\x8f\xb7 \xe6\xa1\x88\xe6\xac\xbe");
    ck_assert_uint_eq(line->source_line, 2);
    line = &statement->lines[1];
    ck_assert_int_eq(line->amount_minor, -20050);
    ck_assert_str_eq(line->counterparty_name, "\xe6\x9d\x8e\xe5\x9b\x9b");
    ck_assert_str_eq(line->remittance, "\xe9\x80\x80\xe6\xac\xbe \xe2\x82\xac");
    /* Opening = first balance - first amount; closing = last balance. */
    ck_assert_int_eq(statement->opening.amount_minor, 1000000);
    ck_assert_int_eq(statement->closing.amount_minor, 1079950);
    ck_assert_int_eq(statement->lines_sum_minor, 79950);
    ck_assert_int_eq(statement->closing.date_days, days(2024, 1, 6));
    recon_statement_free(statement);
}
END_TEST

/* Invalid bytes are refused with their line, never guessed around. */
START_TEST(gb18030_invalid_refused)
{
    static const char *const samples[] = {
        /* 0x81 followed by a space is no GB18030 character (line 3) */
        "\xbd\xbb\xd2\xd7\xc8\xd5\xc6\xda,\xca\xd5\xc8\xeb,\xd6\xa7\xb3\xf6,\xd3\xe0\xb6\xee,"
        "\xb6\xd4\xb7\xbd\xbb\xa7\xc3\xfb,\xd5\xaa\xd2\xaa\n"
        "2024-01-05,1.00,,2.00,a,b\n"
        "2024-01-06,1.00,,3.00,\x81 ,b\n",
        /* a four-byte sequence cut short at the end of line 3 */
        "\xbd\xbb\xd2\xd7\xc8\xd5\xc6\xda,\xca\xd5\xc8\xeb,\xd6\xa7\xb3\xf6,\xd3\xe0\xb6\xee,"
        "\xb6\xd4\xb7\xbd\xbb\xa7\xc3\xfb,\xd5\xaa\xd2\xaa\n"
        "2024-01-05,1.00,,2.00,a,b\n"
        "2024-01-06,1.00,,3.00,a,\x95"
        "2\n",
        /* 0xFF is never valid (line 2) */
        "\xbd\xbb\xd2\xd7\xc8\xd5\xc6\xda,\xca\xd5\xc8\xeb,\xd6\xa7\xb3\xf6,\xd3\xe0\xb6\xee,"
        "\xb6\xd4\xb7\xbd\xbb\xa7\xc3\xfb,\xd5\xaa\xd2\xaa\n"
        "2024-01-05,1.00,,2.00,\xff,b\n",
    };
    const uint64_t lines[] = {3, 3, 2};
    for (size_t index = 0; index < 3; index++) {
        struct recon_statement *statement = NULL;
        struct recon_error error;
        ck_assert_int_eq(parse_with(&statement, gb18030_mapping, samples[index],
                                    strlen(samples[index]), NULL, 0, &error),
                         RECON_ERR_ENCODING);
        ck_assert_uint_eq(error.line, lines[index]);
        ck_assert_ptr_null(statement);
    }
}
END_TEST

/* ---- UTF-8 and RFC 4180 ---- */

static const char utf8_mapping[] = "date = Date\n"
                                   "amount = Amount\n"
                                   "balance = Balance\n"
                                   "reference = Ref\n"
                                   "counterparty = Name\n"
                                   "counterparty_account = Account\n"
                                   "remittance = Memo\n";

START_TEST(utf8_quoted_fields)
{
    static const char data[] = "\xef\xbb\xbf" /* a byte order mark */
                               "Date,Amount,Balance,Ref,Name,Account,Memo\n"
                               "2024-01-05,100.00,100.00,R1,\"Wang, Wu\",6222,\"say \"\"hi\"\"\"\n"
                               "2024-01-05,-30.5,69.50,R2,Zhao,6223,\"two\n"
                               "lines\"\n"
                               "\n"
                               ",,,,,,\n"
                               "2024-01-06,+0.50,70.00,R3, \"Qian\" ,6224,\n";
    struct recon_statement *statement = parse_ok(utf8_mapping, data, 0);
    ck_assert_uint_eq(statement->line_count, 3);
    ck_assert_str_eq(statement->lines[0].counterparty_name, "Wang, Wu");
    ck_assert_str_eq(statement->lines[0].remittance, "say \"hi\"");
    ck_assert_str_eq(statement->lines[0].bank_reference, "R1");
    ck_assert_str_eq(statement->lines[0].counterparty_account, "6222");
    ck_assert_int_eq(statement->lines[1].amount_minor, -3050);
    ck_assert_str_eq(statement->lines[1].remittance, "two lines");
    ck_assert_uint_eq(statement->lines[1].source_line, 3);
    ck_assert_int_eq(statement->lines[2].amount_minor, 50);
    ck_assert_str_eq(statement->lines[2].counterparty_name, "Qian");
    ck_assert_uint_eq(statement->lines[2].source_line, 7);
    ck_assert_int_eq(statement->opening.amount_minor, 0);
    ck_assert_int_eq(statement->closing.amount_minor, 7000);
    recon_statement_free(statement);
}
END_TEST

/* Semicolons, decimal commas, dotted thousands, dates with a time, rows
 * newest first, columns by number, lines skipped before the header. */
START_TEST(dialects)
{
    static const char european[] = "delimiter = semicolon\n"
                                   "decimal = ,\n"
                                   "thousands = .\n"
                                   "currency = EUR\n"
                                   "date_format = DD.MM.YYYY\n"
                                   "order = newest_first\n"
                                   "date = Buchungstag\n"
                                   "credit = Haben\n"
                                   "debit = Soll\n"
                                   "balance = Saldo\n";
    static const char european_data[] = "Buchungstag;Soll;Haben;Saldo\n"
                                        "06.01.2024;1.234,56;;8.765,44\n"
                                        "05.01.2024;;0,00;10.000,00\n"
                                        "05.01.2024;0;5.000,00;10.000,00\n";
    struct recon_statement *statement = parse_ok(european, european_data, 0);
    ck_assert_uint_eq(statement->line_count, 3);
    ck_assert_int_eq(statement->lines[0].amount_minor, 500000); /* oldest first now */
    ck_assert_int_eq(statement->lines[1].amount_minor, 0);
    ck_assert_int_eq(statement->lines[2].amount_minor, -123456);
    ck_assert_int_eq(statement->opening.amount_minor, 500000);
    ck_assert_int_eq(statement->closing.amount_minor, 876544);
    ck_assert_int_eq(statement->lines[2].value_date_days, days(2024, 1, 6));
    recon_statement_free(statement);

    static const char numbered[] = "delimiter = tab\n"
                                   "header = no\n"
                                   "skip_lines = 2\n"
                                   "date_format = YYYY/M/D*\n"
                                   "date = #2\n"
                                   "booking_date = #1\n"
                                   "amount = #3\n";
    static const char numbered_data[] = "Account statement\n"
                                        "from 2024-01-01\n"
                                        "2024/1/4\t2024/1/5 10:22:33\t12.00\n"
                                        "2024/01/05\t2024/12/31 23:59\t-2\n";
    statement = parse_ok(numbered, numbered_data, RECON_PARSE_NO_STATEMENT_CHECKS);
    ck_assert_uint_eq(statement->line_count, 2);
    ck_assert_int_eq(statement->lines[0].value_date_days, days(2024, 1, 5));
    ck_assert_int_eq(statement->lines[0].booking_date_days, days(2024, 1, 4));
    ck_assert_int_eq(statement->lines[1].value_date_days, days(2024, 12, 31));
    ck_assert_int_eq(statement->lines[1].amount_minor, -200);
    ck_assert_uint_eq(statement->lines[0].source_line, 3);
    ck_assert(!statement->opening.present); /* no balance column */
    recon_statement_free(statement);

    struct recon_error error;
    ck_assert_int_eq(
        parse_with(&statement, numbered, numbered_data, strlen(numbered_data), NULL, 0, &error),
        RECON_ERR_MISSING_FIELD);
    ck_assert_str_eq(error.message, "statement has no opening balance");
}
END_TEST

/* ---- edge: decimals (the same rule as camt.053 and MT940) ----
 * Exact in the currency's minor unit is accepted ("1.230" CNY is 123),
 * anything beyond it refused ("1.234"), never rounded. */
START_TEST(decimals)
{
    static const char mapping[] = "date = Date\namount = Amount\n";
    struct recon_statement *statement =
        parse_ok(mapping, "Date,Amount\n2024-01-05,1.230\n", RECON_PARSE_NO_STATEMENT_CHECKS);
    ck_assert_int_eq(statement->lines[0].amount_minor, 123);
    recon_statement_free(statement);
    struct recon_error error;
    static const char data[] = "Date,Amount\n2024-01-05,1.00\n2024-01-05,1.234\n";
    ck_assert_int_eq(parse_with(&statement, mapping, data, strlen(data), NULL,
                                RECON_PARSE_NO_STATEMENT_CHECKS, &error),
                     RECON_ERR_AMOUNT_PRECISION);
    ck_assert_uint_eq(error.line, 3);
    ck_assert_str_eq(error.path, "amount");
}
END_TEST

/* ---- the mapping ---- */

struct mapping_row {
    const char *text;
    uint64_t line;
    const char *key;
};

static const struct mapping_row mapping_rows[] = {
    {"date = D\namount = A\ncolour = blue\n", 3, "colour"},
    {"amount = A\n", 0, "date"},
    {"date = D\namount = A\ncredit = C\ndebit = X\n", 0, "amount"},
    {"date = D\ncredit = C\n", 0, "amount"},
    {"date = D\namount = A\nencoding = latin1\n", 3, "encoding"},
    {"date = D\namount = A\ndelimiter = ;;\n", 3, "delimiter"},
    {"date = D\namount = A\ndate_format = YY-MM-DD\n", 3, "date_format"},
    {"date = D\namount = A\ndate_format = YYYY-MM\n", 3, "date_format"},
    {"date = D\namount = A\ndecimal = ,\nthousands = ,\n", 0, "thousands"},
    {"date = D\namount = A\nheader = no\n", 1, "date"},
    {"date = D\namount = A\nheader = maybe\n", 3, "header"},
    {"date = D\namount = A\ncurrency = yuan\n", 3, "currency"},
    {"date = D\namount = A\nskip_lines = 1000\n", 3, "skip_lines"},
    {"date = D\ndate = E\namount = A\n", 2, "date"},
    {"date = #0\namount = A\n", 1, "date"},
    {"date = D\namount = A\njust some words\n", 3, ""},
    {"date = D\namount = A\norder = random\n", 3, "order"},
};

START_TEST(mapping_refused)
{
    const struct mapping_row *row = &mapping_rows[_i];
    struct recon_csv_mapping *mapping = (struct recon_csv_mapping *)&mapping_rows;
    struct recon_error error;
    ck_assert_int_eq(recon_csv_mapping_parse(&mapping, row->text, strlen(row->text), &error),
                     RECON_ERR_MAPPING);
    ck_assert_ptr_null(mapping);
    ck_assert_uint_eq(error.line, row->line);
    ck_assert_str_eq(error.path, row->key);
    ck_assert_str_eq(recon_err_code(error.code), "invalid_mapping");
}
END_TEST

START_TEST(mapping_not_matching_file)
{
    struct recon_statement *statement = NULL;
    struct recon_error error;
    static const char data[] = "title\nDate,Sum\n2024-01-05,1.00\n";
    ck_assert_int_eq(parse_with(&statement, "skip_lines = 1\ndate = Date\namount = Amount\n", data,
                                strlen(data), NULL, 0, &error),
                     RECON_ERR_MAPPING);
    ck_assert_uint_eq(error.line, 2);
    ck_assert_str_eq(error.path, "amount");
    ck_assert_int_eq(
        parse_with(&statement, "date = Date\namount = Amount\n", "", 0, NULL, 0, &error),
        RECON_ERR_MAPPING);
    ck_assert_str_eq(error.path, "header");
    static const char twice[] = "Date,Amount,Amount\n";
    ck_assert_int_eq(parse_with(&statement, "date = Date\namount = Amount\n", twice, strlen(twice),
                                NULL, 0, &error),
                     RECON_ERR_MAPPING);
    ck_assert_uint_eq(error.line, 1);
    struct recon_csv_mapping *mapping = NULL;
    ck_assert_int_eq(recon_csv_mapping_parse(&mapping, "date = \xc3\x28\n", 9, &error),
                     RECON_ERR_MAPPING);
    ck_assert_int_eq(recon_csv_parse(&statement, "x", 1, NULL, NULL, 0, &error),
                     RECON_ERR_INVALID_ARGUMENT);
    recon_csv_mapping_free(NULL);
}
END_TEST

/* ---- refusals ---- */

struct refusal_row {
    const char *name;
    const char *mapping;
    const char *data;
    enum recon_err expected;
    uint64_t line;
};

static const char plain_mapping[] = "date = Date\namount = Amount\nbalance = Balance\n";
static const char split_mapping[] = "date = Date\ncredit = In\ndebit = Out\n";

static const struct refusal_row refusal_rows[] = {
    {"text after a closing quote", plain_mapping,
     "Date,Amount,Balance\n2024-01-05,\"1.00\"x,1.00\n", RECON_ERR_SYNTAX, 2},
    {"unterminated quote", plain_mapping, "Date,Amount,Balance\n2024-01-05,\"1.00,1.00\n",
     RECON_ERR_TRUNCATED, 2},
    {"running balance broken", plain_mapping,
     "Date,Amount,Balance\n2024-01-05,1.00,1.00\n2024-01-05,1.00,2.00\n2024-01-06,1.00,3.01\n",
     RECON_ERR_UNBALANCED, 4},
    {"invalid UTF-8", plain_mapping,
     "Date,Amount,Balance\n2024-01-05,1.00,1.00\n2024-01-05,1.00,2.00\n2024-01-06,1.00,\xc3\x28\n",
     RECON_ERR_ENCODING, 4},
    {"impossible date", plain_mapping, "Date,Amount,Balance\n2024-02-30,1.00,1.00\n",
     RECON_ERR_INVALID_DATE, 2},
    {"date not in the format", plain_mapping, "Date,Amount,Balance\n05/01/2024,1.00,1.00\n",
     RECON_ERR_INVALID_DATE, 2},
    {"not an amount", plain_mapping, "Date,Amount,Balance\n2024-01-05,1e3,1.00\n",
     RECON_ERR_INVALID_AMOUNT, 2},
    {"grouping without thousands", plain_mapping,
     "Date,Amount,Balance\n2024-01-05,\"1,000.00\",1\n", RECON_ERR_INVALID_AMOUNT, 2},
    {"misplaced grouping", "thousands = ,\ndate = Date\namount = Amount\n",
     "Date,Amount\n2024-01-05,\"10,00.00\"\n", RECON_ERR_INVALID_AMOUNT, 2},
    {"amount out of range", plain_mapping,
     "Date,Amount,Balance\n2024-01-05,99999999999999999999,1\n", RECON_ERR_OVERFLOW, 2},
    {"credit and debit", split_mapping, "Date,In,Out\n2024-01-05,1.00,2.00\n", RECON_ERR_SYNTAX, 2},
    {"neither credit nor debit", split_mapping, "Date,In,Out\n2024-01-05,,\n",
     RECON_ERR_MISSING_FIELD, 2},
    {"negative debit", split_mapping, "Date,In,Out\n2024-01-05,,-2.00\n", RECON_ERR_INVALID_AMOUNT,
     2},
    {"missing amount", plain_mapping, "Date,Amount,Balance\n2024-01-05,,1.00\n",
     RECON_ERR_MISSING_FIELD, 2},
    {"short row", plain_mapping, "Date,Amount,Balance\n2024-01-05,1.00\n", RECON_ERR_SYNTAX, 2},
};

START_TEST(refusal)
{
    const struct refusal_row *row = &refusal_rows[_i];
    struct recon_statement *statement = NULL;
    struct recon_error error;
    enum recon_err err =
        parse_with(&statement, row->mapping, row->data, strlen(row->data), NULL, 0, &error);
    ck_assert_msg(err == row->expected, "%s: %s at line %llu (%s)", row->name, recon_err_code(err),
                  (unsigned long long)error.line, error.message);
    ck_assert_ptr_null(statement);
    ck_assert_uint_eq(error.line, row->line);
    ck_assert_uint_gt(strlen(error.message), 0);
}
END_TEST

/* Without the checks, a broken running balance still parses. */
START_TEST(unbalanced_without_checks)
{
    static const char data[] = "Date,Amount,Balance\n2024-01-05,1.00,1.00\n2024-01-06,1.00,3.01\n";
    struct recon_statement *statement =
        parse_ok(plain_mapping, data, RECON_PARSE_NO_STATEMENT_CHECKS);
    ck_assert_int_eq(statement->opening.amount_minor, 0);
    ck_assert_int_eq(statement->closing.amount_minor, 301);
    ck_assert_int_eq(recon_statement_check(statement, NULL), RECON_ERR_UNBALANCED);
    recon_statement_free(statement);
}
END_TEST

/* ---- limits ---- */

START_TEST(limits_refused)
{
    struct recon_limits limits;
    struct recon_statement *statement = NULL;
    struct recon_error error;
    char data[2048];

    recon_limits_default(&limits);
    limits.line_bytes_max = 64;
    int length =
        snprintf(data, sizeof data,
                 "Date,Amount,Balance\n2024-01-05,1.00,1.00\n2024-01-05,1.00,2.00,%070d\n", 0);
    ck_assert_int_eq(
        parse_with(&statement, plain_mapping, data, (size_t)length, &limits, 0, &error),
        RECON_ERR_LINE_TOO_LONG);
    ck_assert_uint_eq(error.line, 3);

    recon_limits_default(&limits);
    limits.field_bytes_max = 16;
    length = snprintf(data, sizeof data, "Date,Amount,Balance\n2024-01-05,1.00,\"%020d\"\n", 0);
    ck_assert_int_eq(
        parse_with(&statement, plain_mapping, data, (size_t)length, &limits, 0, &error),
        RECON_ERR_FIELD_TOO_LONG);
    ck_assert_uint_eq(error.line, 2);

    recon_limits_default(&limits);
    limits.lines_per_statement_max = 2;
    static const char three[] = "Date,Amount,Balance\n2024-01-05,1.00,1.00\n2024-01-05,1.00,2.00\n"
                                "2024-01-05,1.00,3.00\n";
    ck_assert_int_eq(
        parse_with(&statement, plain_mapping, three, strlen(three), &limits, 0, &error),
        RECON_ERR_TOO_MANY_LINES);
    ck_assert_uint_eq(error.line, 4);

    recon_limits_default(&limits);
    limits.input_bytes_max = 10;
    ck_assert_int_eq(
        parse_with(&statement, plain_mapping, three, strlen(three), &limits, 0, &error),
        RECON_ERR_INPUT_TOO_LARGE);

    length = snprintf(data, sizeof data, "Date");
    for (int column = 0; column < RECON_CSV_COLUMNS_MAX; column++)
        length += snprintf(data + length, sizeof data - (size_t)length, ",");
    ck_assert_int_eq(parse_with(&statement, plain_mapping, data, (size_t)length, NULL, 0, &error),
                     RECON_ERR_LINE_TOO_LONG);
}
END_TEST

/* The file entry point reads the same as the buffer one. */
START_TEST(file_parse)
{
    char path[] = "/tmp/test_recon_csv_XXXXXX";
    int descriptor = mkstemp(path);
    ck_assert_int_ge(descriptor, 0);
    FILE *file = fdopen(descriptor, "wb");
    ck_assert_ptr_nonnull(file);
    ck_assert_uint_eq(fwrite(gb18030_sample, 1, sizeof gb18030_sample - 1, file),
                      sizeof gb18030_sample - 1);
    fclose(file);
    struct recon_csv_mapping *mapping = mapping_ok(gb18030_mapping);
    struct recon_statement *statement = NULL;
    struct recon_error error;
    ck_assert_int_eq(recon_csv_parse_file(&statement, path, mapping, NULL, 0, &error), RECON_OK);
    ck_assert_uint_eq(statement->line_count, 2);
    ck_assert_int_eq(statement->closing.amount_minor, 1079950);
    recon_statement_free(statement);
    unlink(path);
    ck_assert_int_eq(recon_csv_parse_file(&statement, path, mapping, NULL, 0, &error),
                     RECON_ERR_IO);
    ck_assert_int_eq(recon_csv_parse_file(&statement, NULL, mapping, NULL, 0, &error),
                     RECON_ERR_INVALID_ARGUMENT);
    recon_csv_mapping_free(mapping);
}
END_TEST

Suite *recon_csv_suite(void)
{
    Suite *suite = suite_create("recon_csv");
    TCase *core = tcase_create("core");
    TCase *edge = tcase_create("edge");
    TCase *errors = tcase_create("errors");
    TCase *limits = tcase_create("limits");

    tcase_add_test(core, gb18030_converted);
    tcase_add_test(core, utf8_quoted_fields);
    tcase_add_test(core, dialects);
    tcase_add_test(core, file_parse);
    suite_add_tcase(suite, core);

    tcase_add_test(edge, decimals);
    tcase_add_test(edge, unbalanced_without_checks);
    suite_add_tcase(suite, edge);

    tcase_add_test(errors, gb18030_invalid_refused);
    tcase_add_loop_test(errors, mapping_refused, 0, ROWS(mapping_rows));
    tcase_add_test(errors, mapping_not_matching_file);
    tcase_add_loop_test(errors, refusal, 0, ROWS(refusal_rows));
    suite_add_tcase(suite, errors);

    tcase_add_test(limits, limits_refused);
    suite_add_tcase(suite, limits);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(recon_csv_suite());
    int failed;
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

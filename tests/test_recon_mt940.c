/* Unit suite for reconcile/mt940.c: every MT940 file of the shared corpus
 * with its numbers pinned (read off the files by hand), the :61: and :86:
 * dialects, the rules written in mt940.c, and every refusal. */
#include <check.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statement.h"

Suite *recon_mt940_suite(void);

#define ROWS(table) ((int)(sizeof(table) / sizeof((table)[0])))

/* ---- helpers ---- */

static char *corpus_path(const char *name)
{
    const char *directory = getenv("CASELEDGER_CORPUS_DIR");
    ck_assert_msg(directory != NULL, "CASELEDGER_CORPUS_DIR is not set");
    size_t size = strlen(directory) + strlen(name) + 16;
    char *path = malloc(size);
    ck_assert_ptr_nonnull(path);
    snprintf(path, size, "%s/mt940/%s", directory, name);
    return path;
}

static char *read_whole(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    ck_assert_msg(file != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(file, 0, SEEK_END), 0);
    long length = ftell(file);
    ck_assert_int_ge(length, 0);
    rewind(file);
    char *data = malloc((size_t)length + 1);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(fread(data, 1, (size_t)length, file), (size_t)length);
    fclose(file);
    data[length] = '\0';
    *size = (size_t)length;
    return data;
}

static int32_t days(int year, int month, int day)
{
    int32_t result = 0;
    ck_assert(recon_date_from_ymd(&result, year, month, day));
    return result;
}

static enum recon_err parse_text(struct recon_statement **out, const char *text, unsigned flags,
                                 struct recon_error *error)
{
    return recon_mt940_parse(out, text, strlen(text), NULL, NULL, flags, error);
}

static struct recon_statement *parse_ok(const char *text, unsigned flags)
{
    struct recon_statement *first = NULL;
    struct recon_error error;
    enum recon_err err = parse_text(&first, text, flags, &error);
    ck_assert_msg(err == RECON_OK, "%s at line %llu %s: %s", recon_err_code(err),
                  (unsigned long long)error.line, error.path, error.message);
    return first;
}

static const struct recon_statement *statement_at(const struct recon_statement *first, size_t index)
{
    for (size_t count = 0; count < index && first != NULL; count++)
        first = first->next;
    ck_assert_ptr_nonnull(first);
    return first;
}

/* ---- the corpus ---------------------------------------------------------
 * Numbers read off the files by hand (minor units, credit positive; D/RC
 * marks are debits, C/RD credits; the totals over all lines of
 * betterplace's 97 lines were cross-checked with an awk script that shares
 * no code with the parser). Per file: the first statement's opening, the
 * last statement's closing, the sum of every line.
 * - ASNB: 31 daily statements, lines -65.00 | +1000.00 -801.55 | -1.65 |
 *   +828.72 -1000.00 | +1000.18 -903.76 = +56.94; 444.29 + 56.94 = 501.23.
 * - citi: -212.39 -369.28 +0,00 +0,00 -561.08 = -1142.75 from 17376.67.
 * - abnamro: 3236.28 - (9 + 11.59 + 11.63 + 11.8 + 13.45 + 15.49 + 107 +
 *   141.48 = 321.44) is not 876.84: unbalanced; 2nd: 2876.84 - 24.49.
 * - ing: 0.00 - 50.27 + 4.68 = -45.59, closing says 3.47: unbalanced.
 * - knab: 0 + 500 = 500 balances; 3058.98 - 7260 + 500 is not 798.98.
 * - postfinance: 0 + 79.70 + 149.50 = 229.20 balances; 229.20 - 79.90 +
 *   10.10 = 159.40, closing says 159.60: unbalanced (2nd statement).
 * - rabobank: 473.17 - 1213.28 is not 395.82; 1000.89 stays; 1295.82 -
 *   44.95 - 236.56 is not 1250.87; 4196.12 - 88.10 - 6.20 = 4101.82.
 * - sns: 1234.56 - 20 - 5 = 1209.56; 1209.56 stays.
 * - triodos: 4975.09 - 15.70 - 700.00 = 4259.39, closing says 4370.79.
 * - sberbank: 627311.30 - 2402 - 3460 - 3575 = 617874.30 (HUF).
 * - february_30: 1200.00 - 6.00 = 1194.00.
 * - raiffeisen-cmi (CP852): 25170637.10 + 2066637 - 14790 - 3051800 -
 *   3892.77 - 789.24 - 1578.49 - 6000 = 24158423.60, closing says
 *   25281687.60: unbalanced.
 * - sparkassen: a fragment: one :61: of +30.00, no :20:, no balances.
 */
struct corpus_row {
    const char *file;
    const char *encoding;
    size_t statements;
    size_t lines;
    int64_t opening_minor;
    int64_t closing_minor;
    int64_t sum_minor;
    size_t checked_statement;
    enum recon_err checked;
    bool balances;
};

static const struct corpus_row corpus_rows[] = {
    {"ASNB-mt940.txt", NULL, 31, 8, 44429, 50123, 5694, 0, RECON_OK, true},
    {"betterplace-sepa_mt9401.sta", NULL, 26, 97, -123471836, 5005, -926913590, 0, RECON_OK, true},
    {"citi-mt940.txt", NULL, 1, 5, 1737667, 1623392, -114275, 0, RECON_OK, true},
    {"jejik-abnamro.sta", NULL, 2, 10, 323628, 184975, -34593, 0, RECON_ERR_UNBALANCED, true},
    {"jejik-ing.sta", NULL, 1, 7, 0, 347, -4559, 0, RECON_ERR_UNBALANCED, true},
    {"jejik-knab.sta", NULL, 2, 3, 0, 79898, -626000, 1, RECON_ERR_UNBALANCED, true},
    {"jejik-postfinance.sta", NULL, 2, 4, 0, 15960, 15940, 1, RECON_ERR_UNBALANCED, true},
    {"jejik-rabobank.sta", NULL, 4, 5, 47317, 410182, -158909, 0, RECON_ERR_UNBALANCED, true},
    {"jejik-sns.sta", NULL, 2, 2, 123456, 120956, -2500, 0, RECON_OK, true},
    {"jejik-triodos.sta", NULL, 1, 2, 497509, 437079, -71570, 0, RECON_ERR_UNBALANCED, true},
    {"sberbank-171011_01234945.sta", NULL, 1, 3, 62731130, 61787430, -943700, 0, RECON_OK, true},
    {"self-provided-february_30.sta", NULL, 1, 1, 120000, 119400, -600, 0, RECON_OK, true},
    {"self-provided-raiffeisen-cmi.sta", "CP852", 1, 7, 2517063710, 2528168760, -101221350, 0,
     RECON_ERR_UNBALANCED, true},
    {"self-provided-sparkassen.sta", NULL, 1, 1, 0, 0, 3000, 0, RECON_ERR_MISSING_FIELD, false},
};

START_TEST(corpus_file)
{
    const struct corpus_row *row = &corpus_rows[_i];
    char *path = corpus_path(row->file);
    struct recon_statement *first = NULL;
    struct recon_error error;
    size_t lines = 0;
    int64_t sum = 0;

    enum recon_err err = recon_mt940_parse_file(&first, path, row->encoding, NULL,
                                                RECON_PARSE_NO_STATEMENT_CHECKS, &error);
    ck_assert_msg(err == RECON_OK, "%s: %s at line %llu %s: %s", row->file, recon_err_code(err),
                  (unsigned long long)error.line, error.path, error.message);
    ck_assert_uint_eq(recon_statement_count(first), row->statements);
    ck_assert_ptr_nonnull(first);
    const struct recon_statement *last = first;
    for (const struct recon_statement *statement = first; statement != NULL;
         statement = statement->next) {
        ck_assert_int_eq(statement->format, RECON_FORMAT_MT940);
        lines += statement->line_count;
        sum += statement->lines_sum_minor;
        last = statement;
    }
    ck_assert_uint_eq(lines, row->lines);
    ck_assert_int_eq(sum, row->sum_minor);
    ck_assert(first->opening.present == row->balances);
    ck_assert(last->closing.present == row->balances);
    if (row->balances) {
        ck_assert_int_eq(first->opening.amount_minor, row->opening_minor);
        ck_assert_int_eq(last->closing.amount_minor, row->closing_minor);
    }
    recon_statement_free(first);

    first = NULL;
    err = recon_mt940_parse_file(&first, path, row->encoding, NULL, 0, &error);
    ck_assert_msg(err == row->checked, "%s: %s (%s)", row->file, recon_err_code(err),
                  error.message);
    if (err == RECON_OK) {
        ck_assert_uint_eq(recon_statement_count(first), row->statements);
    } else {
        ck_assert_ptr_null(first);
        ck_assert_uint_eq(error.statement_index, row->checked_statement);
        ck_assert_uint_gt(error.line, 0);
    }
    recon_statement_free(first);
    free(path);
}
END_TEST

START_TEST(corpus_buffer_equals_file)
{
    const struct corpus_row *row = &corpus_rows[_i];
    char *path = corpus_path(row->file);
    size_t size;
    char *data = read_whole(path, &size);
    struct recon_statement *from_file = NULL, *from_buffer = NULL;
    struct recon_error error;
    ck_assert_int_eq(recon_mt940_parse_file(&from_file, path, row->encoding, NULL,
                                            RECON_PARSE_NO_STATEMENT_CHECKS, &error),
                     RECON_OK);
    ck_assert_int_eq(recon_mt940_parse(&from_buffer, data, size, row->encoding, NULL,
                                       RECON_PARSE_NO_STATEMENT_CHECKS, &error),
                     RECON_OK);
    const struct recon_statement *a = from_file, *b = from_buffer;
    for (; a != NULL && b != NULL; a = a->next, b = b->next) {
        ck_assert_uint_eq(a->line_count, b->line_count);
        for (size_t index = 0; index < a->line_count; index++) {
            ck_assert_str_eq(a->lines[index].remittance, b->lines[index].remittance);
            ck_assert_str_eq(a->lines[index].fingerprint, b->lines[index].fingerprint);
        }
    }
    ck_assert_ptr_null(a);
    ck_assert_ptr_null(b);
    recon_statement_free(from_file);
    recon_statement_free(from_buffer);
    free(data);
    free(path);
}
END_TEST

/* Statements, balances and the fields of the multi-statement files. */
START_TEST(corpus_statement_details)
{
    char *path = corpus_path("jejik-abnamro.sta");
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(
        recon_mt940_parse_file(&first, path, NULL, NULL, RECON_PARSE_NO_STATEMENT_CHECKS, &error),
        RECON_OK);
    const struct recon_statement *second = statement_at(first, 1);
    ck_assert_str_eq(first->statement_id, "ABN AMRO BANK NV");
    ck_assert_str_eq(first->account_id, "517852257");
    ck_assert_str_eq(first->sequence, "19321/1");
    ck_assert_int_eq(first->opening.date_days, days(2011, 5, 22));
    ck_assert_uint_eq(first->line_count, 8);
    ck_assert_int_eq(first->lines_sum_minor, -32144);
    ck_assert_int_eq(first->lines[0].amount_minor, -900); /* "D9," */
    ck_assert_int_eq(first->lines[0].value_date_days, days(2011, 5, 24));
    ck_assert_str_eq(first->lines[0].transaction_code, "N192");
    ck_assert_str_eq(first->lines[0].owner_reference, "");  /* NONREF */
    ck_assert_int_eq(first->lines[6].amount_minor, -10700); /* "D107," */
    ck_assert_int_eq(second->opening.amount_minor, 287684); /* :60M: */
    ck_assert_int_eq(second->closing.amount_minor, 184975); /* :62M: */
    ck_assert_int_eq(second->lines_sum_minor, -2449);
    ck_assert_str_eq(second->lines[1].remittance, "52.89.39.882 MYCOM DEN HAAG");
    recon_statement_free(first);
    free(path);

    path = corpus_path("ASNB-mt940.txt");
    ck_assert_int_eq(recon_mt940_parse_file(&first, path, NULL, NULL, 0, &error), RECON_OK);
    const struct recon_statement *fifth = statement_at(first, 4);
    ck_assert_str_eq(fifth->sequence, "5/1");
    ck_assert_int_eq(fifth->opening.amount_minor, 37929);
    ck_assert_int_eq(fifth->closing.amount_minor, 57774);
    ck_assert_int_eq(fifth->lines_sum_minor, 19845);
    /* An 18-character IBAN where 16x belongs is kept whole. */
    ck_assert_str_eq(first->lines[0].owner_reference, "NL47INGB9999999999");
    ck_assert_str_eq(first->lines[0].additional_info, "hr gjlm paulissen");
    ck_assert_str_eq(first->lines[0].remittance,
                     "NL47INGB9999999999 hr gjlm paulissen Betaling sieraden");
    /* A 65-character line was wrapped by the bank: joined without a space. */
    const struct recon_statement *twenty_ninth = statement_at(first, 28);
    ck_assert_ptr_nonnull(
        strstr(twenty_ninth->lines[0].remittance, "-Transfer Solutions BV-DIVIDEND 28/01/2020"));
    recon_statement_free(first);
    free(path);

    path = corpus_path("betterplace-sepa_mt9401.sta");
    ck_assert_int_eq(recon_mt940_parse_file(&first, path, NULL, NULL, 0, &error), RECON_OK);
    ck_assert_int_eq(first->opening.amount_minor, -123471836); /* D1234718,36 */
    ck_assert_int_eq(first->closing.amount_minor, -123762823);
    ck_assert_int_eq(first->lines_sum_minor, -290987);
    const struct recon_statement *twenty_first = statement_at(first, 20);
    ck_assert_int_eq(twenty_first->opening.amount_minor, 76665649);
    ck_assert_int_eq(twenty_first->lines_sum_minor, 35859391);
    ck_assert_int_eq(twenty_first->closing.amount_minor, 112525040);
    recon_statement_free(first);
    free(path);
}
END_TEST

/* The :86: dialects as the corpus writes them. */
START_TEST(corpus_information_dialects)
{
    char *path = corpus_path("betterplace-sepa_mt9401.sta");
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(recon_mt940_parse_file(&first, path, NULL, NULL, 0, &error), RECON_OK);
    /* German structured ?NN subfields, a SEPA return. */
    const struct recon_line *line = &first->lines[0];
    ck_assert_int_eq(line->amount_minor, 30000); /* "CR300,": C, funds code R */
    ck_assert_str_eq(line->bank_reference, "0724710345313905");
    ck_assert_str_eq(line->owner_reference, "TFNr 40005 MSGID");
    ck_assert_str_eq(line->end_to_end_id, "TFNR 40005 00005");
    ck_assert_str_eq(line->return_reason, "914");
    ck_assert_str_eq(line->additional_info, "RETOURE");
    ck_assert_str_eq(line->remittance, "EREF+TFNR 40005 00005 MTLG:Grund nicht spezifiziert "
                                       "Reject aus SEPA-Ueberweisungsauftrag");
    /* RC: a reversed credit is a debit. */
    ck_assert_int_eq(first->lines[5].amount_minor, -20488);
    ck_assert(first->lines[5].reversal);
    /* Counterparty from ?31 and ?32/?33, the 27-character ?20 continued in ?21. */
    line = &statement_at(first, 1)->lines[0];
    ck_assert_str_eq(line->counterparty_name,
                     "Richter Renate 70 Zeichen Beginn Fuellzeichen xxxxxxxx");
    ck_assert_str_eq(line->counterparty_account, "DE42100100100043921105");
    ck_assert_str_eq(line->end_to_end_id, "EndToEndIdTFNR2000400001");
    recon_statement_free(first);
    free(path);

    /* '>' as the subfield separator (Triodos). */
    path = corpus_path("jejik-triodos.sta");
    ck_assert_int_eq(
        recon_mt940_parse_file(&first, path, NULL, NULL, RECON_PARSE_NO_STATEMENT_CHECKS, &error),
        RECON_OK);
    ck_assert_str_eq(first->lines[0].remittance,
                     "ALGEMENE TUSSENREKENING KOSTEN VAN 01-10-2010 TOT EN MET 31-12-2010");
    ck_assert_str_eq(first->lines[0].counterparty_account, "0390123456");
    ck_assert_str_eq(first->account_id, "TRIODOSBANK/0390123456");
    recon_statement_free(first);
    free(path);

    /* Plain text and a bank reference after "//" (Knab). */
    path = corpus_path("jejik-knab.sta");
    ck_assert_int_eq(
        recon_mt940_parse_file(&first, path, NULL, NULL, RECON_PARSE_NO_STATEMENT_CHECKS, &error),
        RECON_OK);
    ck_assert_str_eq(first->lines[0].bank_reference, "B4E07XM00J000023");
    ck_assert_str_eq(first->lines[0].remittance, "HIER EEN MOOIE OMSCHRIJVING IN HOOFDLETTERS "
                                                 "WANT DAT IS ZOALS DE NEDERLANDSE BANKEN "
                                                 "COMMUNICEREN");
    ck_assert_int_eq(statement_at(first, 1)->lines[1].amount_minor, 50000); /* "C500" */
    recon_statement_free(first);
    free(path);

    /* Several :86: for one line, name after the 16x reference (Rabobank). */
    path = corpus_path("jejik-rabobank.sta");
    ck_assert_int_eq(
        recon_mt940_parse_file(&first, path, NULL, NULL, RECON_PARSE_NO_STATEMENT_CHECKS, &error),
        RECON_OK);
    ck_assert_str_eq(first->lines[0].owner_reference, "0121470966");
    ck_assert_str_eq(first->lines[0].additional_info, "W.P. Jansen");
    ck_assert_str_eq(
        first->lines[0].remittance,
        "Terugboeking NIET AKKOORD MET AFSCHRIJVING KOSTEN KINDEROPVANG JUNI 20095731");
    ck_assert_uint_eq(statement_at(first, 1)->line_count, 0);
    recon_statement_free(first);
    free(path);

    /* A blank entry date, funds code D, zero amounts (Citi). */
    path = corpus_path("citi-mt940.txt");
    ck_assert_int_eq(recon_mt940_parse_file(&first, path, NULL, NULL, 0, &error), RECON_OK);
    ck_assert_int_eq(first->lines[0].amount_minor, -21239);
    ck_assert_int_eq(first->lines[0].booking_date_days, RECON_DATE_NONE);
    ck_assert_str_eq(first->lines[0].additional_info, "/ABC/DEF/MISCELLANEOUS");
    ck_assert_int_eq(first->lines[2].amount_minor, 0);
    ck_assert_str_eq(first->currency, "USD");
    recon_statement_free(first);
    free(path);

    /* A tag wrapped as ":" + "86:" and a :61: wrapped before its amount. */
    path = corpus_path("self-provided-sparkassen.sta");
    ck_assert_int_eq(
        recon_mt940_parse_file(&first, path, NULL, NULL, RECON_PARSE_NO_STATEMENT_CHECKS, &error),
        RECON_OK);
    ck_assert_int_eq(first->lines[0].amount_minor, 3000);
    ck_assert_int_eq(first->lines[0].value_date_days, days(2018, 11, 26));
    ck_assert_str_eq(first->lines[0].remittance, "SVWZ+Test");
    ck_assert_str_eq(first->lines[0].additional_info, "GUTSCHR. UEBERWEISUNG");
    ck_assert_str_eq(first->account_id, "");
    recon_statement_free(first);
    ck_assert_int_eq(recon_mt940_parse_file(&first, path, NULL, NULL, 0, &error),
                     RECON_ERR_MISSING_FIELD);
    ck_assert_str_eq(error.message, "statement has no opening balance");
    free(path);
}
END_TEST

/* The CP852 file: refused as UTF-8 (with the line), read when declared. */
START_TEST(corpus_encoding)
{
    char *path = corpus_path("self-provided-raiffeisen-cmi.sta");
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(
        recon_mt940_parse_file(&first, path, NULL, NULL, RECON_PARSE_NO_STATEMENT_CHECKS, &error),
        RECON_ERR_ENCODING);
    ck_assert_uint_eq(error.line, 7);
    ck_assert_ptr_null(first);
    ck_assert_int_eq(recon_mt940_parse_file(&first, path, "CP852", NULL,
                                            RECON_PARSE_NO_STATEMENT_CHECKS, &error),
                     RECON_OK);
    ck_assert_str_eq(first->lines[0].additional_info, "Csoportos \xc3\xa1tutal\xc3\xa1s "
                                                      "j\xc3\xb3v\xc3\xa1\xc3\xadr\xc3\xa1sa");
    ck_assert_str_eq(first->currency, "HUF");
    recon_statement_free(first);
    ck_assert_int_eq(recon_mt940_parse_file(&first, path, "NO-SUCH-CHARSET", NULL, 0, &error),
                     RECON_ERR_INVALID_ARGUMENT);
    free(path);
}
END_TEST

/* ---- edge: 30 February ---------------------------------------------------
 * Rule: a :61: value date of 29 or 30 February that does not exist is read
 * as the last day of that February and flagged value_date_adjusted: German
 * banks date closing entries so under the 30/360 day count ("ENTGELT-
 * ABSCHLUSS" in the corpus file). It is never silent (the flag) and never
 * wider: 31 February, 31 April, month 13, and any impossible balance or
 * entry date are RECON_ERR_INVALID_DATE. */
START_TEST(edge_february_30)
{
    char *path = corpus_path("self-provided-february_30.sta");
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(recon_mt940_parse_file(&first, path, NULL, NULL, 0, &error), RECON_OK);
    const struct recon_line *line = &first->lines[0];
    ck_assert_int_eq(line->value_date_days, days(2016, 2, 29));
    ck_assert(line->value_date_adjusted);
    ck_assert_int_eq(line->booking_date_days, days(2016, 3, 1));
    ck_assert_int_eq(line->amount_minor, -600);
    ck_assert_str_eq(line->remittance, "Pauschalen");
    ck_assert_str_eq(line->additional_info, "ENTGELTABSCHLUSS");
    recon_statement_free(first);
    free(path);

    static const char non_leap[] = ":20:R\n:25:A\n:60F:C150227EUR10,00\n"
                                   ":61:1502300227D1,00NMSCNONREF\n:62F:C150227EUR9,00\n-\n";
    first = parse_ok(non_leap, 0);
    ck_assert_int_eq(first->lines[0].value_date_days, days(2015, 2, 28));
    ck_assert(first->lines[0].value_date_adjusted);
    recon_statement_free(first);

    static const char *const impossible[] = {
        ":20:R\n:60F:C150227EUR10,00\n:61:150231D1,00NMSCNONREF\n:62F:C150227EUR9,00\n",
        ":20:R\n:60F:C150227EUR10,00\n:61:150431D1,00NMSCNONREF\n:62F:C150227EUR9,00\n",
        ":20:R\n:60F:C150227EUR10,00\n:61:151301D1,00NMSCNONREF\n:62F:C150227EUR9,00\n",
        ":20:R\n:60F:C150227EUR10,00\n:61:1502270230D1,00NMSCNONREF\n:62F:C150227EUR9,00\n",
        ":20:R\n:60F:C150230EUR10,00\n:61:150227D1,00NMSCNONREF\n:62F:C150227EUR9,00\n",
    };
    for (size_t index = 0; index < 5; index++) {
        ck_assert_int_eq(parse_text(&first, impossible[index], 0, &error), RECON_ERR_INVALID_DATE);
        ck_assert_uint_eq(error.line, index == 4 ? 2 : 3);
        ck_assert_ptr_null(first);
    }
}
END_TEST

/* ---- synthetic statements ---- */

static const char statement_ok[] = ":20:STMT1\n"
                                   ":25:CN0012345678\n"
                                   ":28C:1/1\n"
                                   ":60F:C240104CNY100,00\n"
                                   ":61:2401050105C10,00NTRFNONREF//BANKREF1\n"
                                   ":86:payment 8800000000123474\n"
                                   ":62F:C240105CNY110,00\n"
                                   "-\n";

START_TEST(slash_codes)
{
    static const char text[] =
        ":20:S\n:25:A\n:60F:C240104EUR0,\n"
        ":61:2401050105C10,00NTRFNONREF\n"
        ":86:/TRTP/SEPA OVERBOEKING/IBAN/NL12INGB0001234567/BIC/INGBNL2A/NAME/J. J\n"
        "ANSEN/REMI/USTD//PAYIN 8800000000123474/EREF/E2E-77/RTRN/MS03/\n"
        ":61:2401050105D4,00NTRFNONREF\n"
        ":86:/CNTP/NL99RABO0123456789/RABONL2U/P. PIETERS/UTRECHT/REMI/STRD/CUR/RF18539007547034/\n"
        ":62F:C240105EUR6,00\n-\n";
    struct recon_statement *first = parse_ok(text, 0);
    const struct recon_line *line = &first->lines[0];
    ck_assert_str_eq(line->counterparty_name, "J. JANSEN"); /* a 65-character line, wrapped */
    ck_assert_str_eq(line->counterparty_account, "NL12INGB0001234567");
    ck_assert_str_eq(line->remittance, "PAYIN 8800000000123474");
    ck_assert_str_eq(line->end_to_end_id, "E2E-77");
    ck_assert_str_eq(line->return_reason, "MS03");
    line = &first->lines[1];
    ck_assert_str_eq(line->counterparty_name, "P. PIETERS");
    ck_assert_str_eq(line->counterparty_account, "NL99RABO0123456789");
    ck_assert_str_eq(line->creditor_reference, "RF18539007547034");
    recon_statement_free(first);
}
END_TEST

/* Re-parsing gives the same fingerprints; identical lines still differ. */
START_TEST(fingerprints)
{
    static const char text[] = ":20:S\n:25:A\n:60F:C240104EUR0,\n"
                               ":61:240105C10,00NTRFNONREF\n:86:same\n"
                               ":61:240105C10,00NTRFNONREF\n:86:same\n"
                               ":61:240105C11,00NTRFNONREF\n:86:same\n"
                               ":62F:C240105EUR31,00\n-\n";
    struct recon_statement *first = parse_ok(text, 0);
    struct recon_statement *again = parse_ok(text, 0);
    for (size_t index = 0; index < 3; index++) {
        ck_assert_uint_eq(strlen(first->lines[index].fingerprint), 32);
        ck_assert_str_eq(first->lines[index].fingerprint, again->lines[index].fingerprint);
    }
    ck_assert_str_ne(first->lines[0].fingerprint, first->lines[1].fingerprint);
    ck_assert_str_ne(first->lines[0].fingerprint, first->lines[2].fingerprint);
    recon_statement_free(first);
    recon_statement_free(again);

    first = parse_ok(statement_ok, 0);
    ck_assert_str_eq(first->lines[0].bank_reference, "BANKREF1");
    ck_assert_str_eq(first->lines[0].remittance, "payment 8800000000123474");
    ck_assert_int_eq(first->lines[0].booking_date_days, days(2024, 1, 5));
    recon_statement_free(first);
}
END_TEST

/* ---- refusals ---- */

struct refusal_row {
    const char *name;
    const char *text;
    enum recon_err expected;
    uint64_t line;
};

static const struct refusal_row refusal_rows[] = {
    {"truncated after a line", ":20:S\n:25:A\n:60F:C240104EUR0,\n:61:240105C10,00NTRFNONREF\n",
     RECON_ERR_TRUNCATED, 4},
    {"truncated inside a line", ":20:S\n:25:A\n:60F:C240104EUR0,\n:61:2401", RECON_ERR_TRUNCATED,
     4},
    {"truncated before the next statement",
     ":20:S\n:60F:C240104EUR0,\n:61:240105C10,00NTRFNONREF\n:20:T\n:60F:C240104EUR0,\n"
     ":62F:C240104EUR0,\n",
     RECON_ERR_TRUNCATED, 4},
    {"unbalanced",
     ":20:S\n:60F:C240104EUR100,00\n:61:240105D10,00NTRFNONREF\n:62F:C240105EUR91,00\n-\n",
     RECON_ERR_UNBALANCED, 4},
    {"currency mixed",
     ":20:S\n:60F:C240104EUR100,00\n:61:240105D10,00NTRFNONREF\n:62F:C240105USD90,00\n-\n",
     RECON_ERR_CURRENCY_MIXED, 4},
    {"amount with two commas",
     ":20:S\n:60F:C240104EUR100,00\n:61:240105C1,2,3NTRFNONREF\n:62F:C240105EUR90,00\n",
     RECON_ERR_INVALID_AMOUNT, 3},
    {"too many decimals",
     ":20:S\n:60F:C240104EUR100,00\n:61:240105C1,234NTRFNONREF\n:62F:C240105EUR90,00\n",
     RECON_ERR_AMOUNT_PRECISION, 3},
    {"too many decimals for JPY", ":20:S\n:60F:C240104JPY100,5\n:62F:C240105JPY100,5\n",
     RECON_ERR_AMOUNT_PRECISION, 2},
    {"amount out of range", ":20:S\n:60F:C240104EUR99999999999999999999,00\n", RECON_ERR_OVERFLOW,
     2},
    {"sum out of range",
     ":20:S\n:60F:C240104EUR0,\n:61:240105C90000000000000000,00NTRFNONREF\n"
     ":61:240105C90000000000000000,00NTRFNONREF\n:62F:C240105EUR0,\n-\n",
     RECON_ERR_OVERFLOW, 4},
    {"currency not ISO", ":20:S\n:60F:C240104E1R100,00\n", RECON_ERR_INVALID_CURRENCY, 2},
    {"no C/D mark",
     ":20:S\n:60F:C240104EUR100,00\n:61:240105X10,00NTRFNONREF\n:62F:C240105EUR90,00\n",
     RECON_ERR_SYNTAX, 3},
    {"no transaction type",
     ":20:S\n:60F:C240104EUR100,00\n:61:240105C10,00\n:62F:C240105EUR110,00\n", RECON_ERR_SYNTAX,
     3},
    {"balance not C/D", ":20:S\n:60F:X240104EUR100,00\n:62F:C240105EUR110,00\n", RECON_ERR_SYNTAX,
     2},
    {"two accounts", ":20:S\n:25:A\n:25:B\n", RECON_ERR_DUPLICATE_FIELD, 3},
    {"two opening balances", ":20:S\n:60F:C240104EUR1,00\n:60M:C240104EUR1,00\n",
     RECON_ERR_DUPLICATE_FIELD, 3},
    {"line after the closing balance",
     ":20:S\n:60F:C240104EUR0,\n:62F:C240105EUR0,\n:61:240105C10,00NTRFNONREF\n-\n",
     RECON_ERR_SYNTAX, 4},
    {"not MT940", "hello\nworld\n", RECON_ERR_NOT_STATEMENT, 0},
    {"empty", "", RECON_ERR_NOT_STATEMENT, 0},
    {"invalid UTF-8", ":20:S\n:60F:C240104EUR0,\n:61:240105C10,00NTRFNONREF\n:86:caf\xc3\x28\n",
     RECON_ERR_ENCODING, 4},
    {"NUL byte", ":20:S\n:60F:C240104EUR0,\n:86:a\0b\n", RECON_ERR_ENCODING, 3},
};

START_TEST(refusal)
{
    const struct refusal_row *row = &refusal_rows[_i];
    struct recon_statement *first = NULL;
    struct recon_error error;
    size_t size = strcmp(row->name, "NUL byte") == 0 ? 30 : strlen(row->text);
    enum recon_err err = recon_mt940_parse(&first, row->text, size, NULL, NULL, 0, &error);
    ck_assert_msg(err == row->expected, "%s: %s at line %llu (%s)", row->name, recon_err_code(err),
                  (unsigned long long)error.line, error.message);
    ck_assert_ptr_null(first);
    ck_assert_int_eq(error.code, row->expected);
    ck_assert_uint_gt(strlen(error.message), 0);
    if (row->line > 0)
        ck_assert_uint_eq(error.line, row->line);
}
END_TEST

/* A truncated copy of a corpus file: cut after the first :61: of Knab. */
START_TEST(refusal_truncated_corpus)
{
    char *path = corpus_path("jejik-knab.sta");
    size_t size;
    char *data = read_whole(path, &size);
    char *cut = strstr(data, ":86:");
    ck_assert_ptr_nonnull(cut);
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(recon_mt940_parse(&first, data, (size_t)(cut - data), NULL, NULL,
                                       RECON_PARSE_NO_STATEMENT_CHECKS, &error),
                     RECON_ERR_TRUNCATED);
    ck_assert_uint_eq(error.line, 5);
    ck_assert_str_eq(error.message, "statement ends before its closing balance");
    free(data);
    free(path);
}
END_TEST

/* An error names the statement it is in (0-based). */
START_TEST(refusal_statement_index)
{
    static const char text[] =
        ":20:S1\n:60F:C240104EUR0,\n:62F:C240104EUR0,\n-\n"
        ":20:S2\n:60F:C240104EUR0,\n:61:240105C1,00NTRFNONREF\n"
        ":62F:C240105EUR1,00\n-\n"
        ":20:S3\n:60F:C240104EUR0,\n:61:240105C1,0x0NTRFNONREF\n:62F:C240105EUR1,00\n";
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(parse_text(&first, text, 0, &error), RECON_ERR_SYNTAX);
    ck_assert_uint_eq(error.statement_index, 2);
    ck_assert_uint_eq(error.line, 12);
    ck_assert_str_eq(error.path, ":61:");
}
END_TEST

/* ---- limits ---- */

START_TEST(limits_refused)
{
    struct recon_limits limits;
    struct recon_statement *first = NULL;
    struct recon_error error;
    char text[4096];

    recon_limits_default(&limits);
    limits.line_bytes_max = 40;
    snprintf(text, sizeof text, ":20:S\n:25:A\n:60F:C240104CNY0,\n:86:%060d\n", 0);
    ck_assert_int_eq(recon_mt940_parse(&first, text, strlen(text), NULL, &limits, 0, &error),
                     RECON_ERR_LINE_TOO_LONG);
    ck_assert_uint_eq(error.line, 4);
    limits.line_bytes_max = 64;
    ck_assert_int_eq(recon_mt940_parse(&first, text, strlen(text), NULL, &limits, 0, &error),
                     RECON_ERR_TRUNCATED);

    recon_limits_default(&limits);
    limits.field_bytes_max = 100;
    size_t length = (size_t)snprintf(text, sizeof text,
                                     ":20:S\n:60F:C240104CNY0,\n"
                                     ":61:240105C1,00NTRFNONREF\n:86:x\n");
    for (int count = 0; count < 20; count++)
        length += (size_t)snprintf(text + length, sizeof text - length, "continued text\n");
    ck_assert_int_eq(recon_mt940_parse(&first, text, length, NULL, &limits, 0, &error),
                     RECON_ERR_FIELD_TOO_LONG);
    ck_assert_str_eq(error.path, ":86:");

    recon_limits_default(&limits);
    limits.lines_per_statement_max = 1;
    static const char two_lines[] = ":20:S\n:60F:C240104EUR0,\n:61:240105C1,00NTRFNONREF\n"
                                    ":61:240105C1,00NTRFNONREF\n:62F:C240105EUR2,00\n";
    ck_assert_int_eq(
        recon_mt940_parse(&first, two_lines, strlen(two_lines), NULL, &limits, 0, &error),
        RECON_ERR_TOO_MANY_LINES);
    ck_assert_uint_eq(error.line, 4);
    recon_limits_default(&limits);
    limits.lines_per_file_max = 1;
    ck_assert_int_eq(
        recon_mt940_parse(&first, two_lines, strlen(two_lines), NULL, &limits, 0, &error),
        RECON_ERR_TOO_MANY_LINES);

    char *path = corpus_path("ASNB-mt940.txt");
    recon_limits_default(&limits);
    limits.statements_per_file_max = 30;
    ck_assert_int_eq(recon_mt940_parse_file(&first, path, NULL, &limits, 0, &error),
                     RECON_ERR_TOO_MANY_STATEMENTS);
    limits.statements_per_file_max = 31;
    ck_assert_int_eq(recon_mt940_parse_file(&first, path, NULL, &limits, 0, &error), RECON_OK);
    recon_statement_free(first);
    recon_limits_default(&limits);
    limits.input_bytes_max = 1000;
    ck_assert_int_eq(recon_mt940_parse_file(&first, path, NULL, &limits, 0, &error),
                     RECON_ERR_INPUT_TOO_LARGE);
    ck_assert_int_eq(
        recon_mt940_parse(&first, statement_ok, strlen(statement_ok), NULL, &limits, 0, &error),
        RECON_OK);
    recon_statement_free(first);
    free(path);
}
END_TEST

START_TEST(invalid_arguments)
{
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(recon_mt940_parse(NULL, "x", 1, NULL, NULL, 0, &error),
                     RECON_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(recon_mt940_parse(&first, NULL, 1, NULL, NULL, 0, &error),
                     RECON_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(recon_mt940_parse(&first, "x", 1, NULL, NULL, 0x10, &error),
                     RECON_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(recon_mt940_parse_file(&first, NULL, NULL, NULL, 0, &error),
                     RECON_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(recon_mt940_parse_file(&first, "/nonexistent/x.sta", NULL, NULL, 0, &error),
                     RECON_ERR_IO);
    ck_assert_int_eq(
        recon_mt940_parse(&first, statement_ok, strlen(statement_ok), NULL, NULL, 0, NULL),
        RECON_OK);
    recon_statement_free(first);
}
END_TEST

Suite *recon_mt940_suite(void)
{
    Suite *suite = suite_create("recon_mt940");
    TCase *core = tcase_create("core");
    TCase *edge = tcase_create("edge");
    TCase *errors = tcase_create("errors");
    TCase *limits = tcase_create("limits");

    tcase_add_loop_test(core, corpus_file, 0, ROWS(corpus_rows));
    tcase_add_loop_test(core, corpus_buffer_equals_file, 0, ROWS(corpus_rows));
    tcase_add_test(core, corpus_statement_details);
    tcase_add_test(core, corpus_information_dialects);
    tcase_add_test(core, corpus_encoding);
    tcase_add_test(core, slash_codes);
    tcase_add_test(core, fingerprints);
    suite_add_tcase(suite, core);

    tcase_add_test(edge, edge_february_30);
    suite_add_tcase(suite, edge);

    tcase_add_loop_test(errors, refusal, 0, ROWS(refusal_rows));
    tcase_add_test(errors, refusal_truncated_corpus);
    tcase_add_test(errors, refusal_statement_index);
    tcase_add_test(errors, invalid_arguments);
    suite_add_tcase(suite, errors);

    tcase_add_test(limits, limits_refused);
    suite_add_tcase(suite, limits);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(recon_mt940_suite());
    int failed;
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Unit suite for reconcile/camt053.c: every camt.053 file of the shared
 * corpus with its numbers pinned (read off the files by hand), the split of
 * entries into lines, the rules written in camt053.c, and every refusal. */
#include <check.h>

#include <iconv.h>
#include <libxml/parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statement.h"

#include <unistd.h>

Suite *recon_camt053_suite(void);

#define ROWS(table) ((int)(sizeof(table) / sizeof((table)[0])))
#define DOCUMENT_SIZE 16384

/* ---- helpers ---- */

static char *corpus_path(const char *name)
{
    const char *directory = getenv("CASELEDGER_CORPUS_DIR");
    ck_assert_msg(directory != NULL, "CASELEDGER_CORPUS_DIR is not set");
    size_t size = strlen(directory) + strlen(name) + 16;
    char *path = malloc(size);
    ck_assert_ptr_nonnull(path);
    snprintf(path, size, "%s/camt053/%s", directory, name);
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
    *size = (size_t)length;
    return data;
}

static int32_t days(int year, int month, int day)
{
    int32_t result = 0;
    ck_assert(recon_date_from_ymd(&result, year, month, day));
    return result;
}

/* Overwrites the first `from` in document with `to` (same length). */
static void patch(char *document, const char *from, const char *to)
{
    char *at = strstr(document, from);
    ck_assert_ptr_nonnull(at);
    ck_assert_uint_eq(strlen(from), strlen(to));
    for (size_t index = 0; to[index] != '\0'; index++)
        at[index] = to[index];
}

static enum recon_err parse_text(struct recon_statement **out, const char *text, unsigned flags,
                                 struct recon_error *error)
{
    return recon_camt053_parse(out, text, strlen(text), NULL, flags, error);
}

static const char document_head[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.04\">\n"
    "<BkToCstmrStmt>\n"
    "<GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-01-05T10:00:00</CreDtTm></GrpHdr>\n";
static const char document_tail[] = "</BkToCstmrStmt>\n</Document>\n";

static const char *balance_xml(char *out, size_t size, const char *code, const char *amount,
                               const char *currency, const char *direction, const char *date)
{
    snprintf(out, size,
             "<Bal><Tp><CdOrPrtry><Cd>%s</Cd></CdOrPrtry></Tp>"
             "<Amt Ccy=\"%s\">%s</Amt><CdtDbtInd>%s</CdtDbtInd><Dt><Dt>%s</Dt></Dt></Bal>\n",
             code, currency, amount, direction, date);
    return out;
}

/* A document with one statement: opening, entries (XML), closing. */
static char *statement_document(const char *opening, const char *entries, const char *closing)
{
    char opening_xml[512], closing_xml[512];
    char *document = malloc(DOCUMENT_SIZE);
    ck_assert_ptr_nonnull(document);
    int length = snprintf(
        document, DOCUMENT_SIZE,
        "%s<Stmt>\n<Id>S1</Id>\n<Acct><Id><IBAN>CN0012345678</IBAN></Id><Ccy>CNY</Ccy></Acct>\n"
        "%s%s%s</Stmt>\n%s",
        document_head,
        balance_xml(opening_xml, sizeof opening_xml, "OPBD", opening, "CNY", "CRDT", "2024-01-04"),
        entries,
        balance_xml(closing_xml, sizeof closing_xml, "CLBD", closing, "CNY", "CRDT", "2024-01-05"),
        document_tail);
    ck_assert_int_lt(length, DOCUMENT_SIZE);
    return document;
}

static const char entry_credit_100[] =
    "<Ntry><Amt Ccy=\"CNY\">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>"
    "<BookgDt><Dt>2024-01-05</Dt></BookgDt><ValDt><Dt>2024-01-05</Dt></ValDt>"
    "<AcctSvcrRef>REF1</AcctSvcrRef></Ntry>\n";

/* ---- the corpus ---------------------------------------------------------
 * Numbers read off the files by hand (minor units, credit positive):
 * - five.decimals: OPBD 18.150 CRDT, CLBD 27.050 CRDT, one Ntry 8.850 CRDT.
 *   18.15 + 8.85 = 27.00, not 27.05: the statement does not balance.
 * - minimal, v3, v4, v8: OPBD 18.15 EUR CRDT, CLBD 27.00 *SEK* DBIT, one Ntry
 *   8.85 EUR CRDT (v3's TxDtls says 105.750 EUR, v4/v8's 0 SEK: one TxDtls
 *   never overrides the booked entry amount). Closing in another currency.
 * - multi.statement: 18.15 + 8.85 = 27.00; 27.00 - 7.00 = 20.00.
 * - raiffeisen: 15 debits 905.30 158.50 38 14.50 155.85 240 1395 49.70
 *   799.75 136.60 71.80 18.10 13.95 34 16.80 (= 4047.85) and one credit 368:
 *   9433.31 - 3679.85 = 5753.46.
 * - sps: 832.01 + 1284.30 = 2116.31 (CLAV ignored).
 */
struct corpus_row {
    const char *file;
    size_t statements;
    size_t lines;
    int64_t opening_minor; /* first statement */
    const char *opening_currency;
    int64_t closing_minor; /* last statement */
    const char *closing_currency;
    int64_t sum_minor;        /* all lines of the file */
    enum recon_err checked;   /* result with the statement checks */
    size_t checked_statement; /* statement the check refuses */
};

static const struct corpus_row corpus_rows[] = {
    {"genkgo-camt053.v2.five.decimals.xml", 1, 1, 1815, "EUR", 2705, "EUR", 885,
     RECON_ERR_UNBALANCED, 0},
    {"genkgo-camt053.v2.minimal.xml", 1, 1, 1815, "EUR", -2700, "SEK", 885,
     RECON_ERR_CURRENCY_MIXED, 0},
    {"genkgo-camt053.v2.multi.statement.xml", 2, 2, 1815, "EUR", 2000, "EUR", 185, RECON_OK, 0},
    {"genkgo-camt053.v3.xml", 1, 1, 1815, "EUR", -2700, "SEK", 885, RECON_ERR_CURRENCY_MIXED, 0},
    {"genkgo-camt053.v4.xml", 1, 1, 1815, "EUR", -2700, "SEK", 885, RECON_ERR_CURRENCY_MIXED, 0},
    {"genkgo-camt053.v8.xml", 1, 1, 1815, "EUR", -2700, "SEK", 885, RECON_ERR_CURRENCY_MIXED, 0},
    {"ofxstatement-raiffeisen-v04.xml", 1, 16, 943331, "CHF", 575346, "CHF", -367985, RECON_OK, 0},
    {"ofxstatement-sps-v08.xml", 1, 1, 83201, "CHF", 211631, "CHF", 128430, RECON_OK, 0},
};

START_TEST(corpus_file)
{
    const struct corpus_row *row = &corpus_rows[_i];
    char *path = corpus_path(row->file);
    struct recon_statement *first = NULL;
    struct recon_error error;
    size_t lines = 0;
    int64_t sum = 0;

    enum recon_err err =
        recon_camt053_parse_file(&first, path, NULL, RECON_PARSE_NO_STATEMENT_CHECKS, &error);
    ck_assert_msg(err == RECON_OK, "%s: %s at line %llu %s: %s", row->file, recon_err_code(err),
                  (unsigned long long)error.line, error.path, error.message);
    ck_assert_uint_eq(recon_statement_count(first), row->statements);
    ck_assert_ptr_nonnull(first);
    const struct recon_statement *last = first;
    for (const struct recon_statement *statement = first; statement != NULL;
         statement = statement->next) {
        ck_assert_int_eq(statement->format, RECON_FORMAT_CAMT053);
        lines += statement->line_count;
        sum += statement->lines_sum_minor;
        last = statement;
    }
    ck_assert_uint_eq(lines, row->lines);
    ck_assert_int_eq(sum, row->sum_minor);
    ck_assert(first->opening.present);
    ck_assert_int_eq(first->opening.amount_minor, row->opening_minor);
    ck_assert_str_eq(first->opening.currency, row->opening_currency);
    ck_assert(last->closing.present);
    ck_assert_int_eq(last->closing.amount_minor, row->closing_minor);
    ck_assert_str_eq(last->closing.currency, row->closing_currency);
    recon_statement_free(first);

    /* With the checks (what an import does). */
    first = NULL;
    err = recon_camt053_parse_file(&first, path, NULL, 0, &error);
    ck_assert_msg(err == row->checked, "%s: %s (%s)", row->file, recon_err_code(err),
                  error.message);
    if (err == RECON_OK) {
        ck_assert_uint_eq(recon_statement_count(first), row->statements);
    } else {
        ck_assert_ptr_null(first);
        ck_assert_int_eq(error.code, row->checked);
        ck_assert_uint_eq(error.statement_index, row->checked_statement);
        ck_assert_uint_gt(error.line, 0);
    }
    recon_statement_free(first);
    free(path);
}
END_TEST

/* The buffer and the file entry points give the same result. */
START_TEST(corpus_buffer_equals_file)
{
    const struct corpus_row *row = &corpus_rows[_i];
    char *path = corpus_path(row->file);
    size_t size;
    char *data = read_whole(path, &size);
    struct recon_statement *from_file = NULL, *from_buffer = NULL;
    struct recon_error error;
    ck_assert_int_eq(
        recon_camt053_parse_file(&from_file, path, NULL, RECON_PARSE_NO_STATEMENT_CHECKS, &error),
        RECON_OK);
    ck_assert_int_eq(recon_camt053_parse(&from_buffer, data, size, NULL,
                                         RECON_PARSE_NO_STATEMENT_CHECKS, &error),
                     RECON_OK);
    const struct recon_statement *a = from_file, *b = from_buffer;
    for (; a != NULL && b != NULL; a = a->next, b = b->next) {
        ck_assert_uint_eq(a->line_count, b->line_count);
        for (size_t index = 0; index < a->line_count; index++) {
            ck_assert_int_eq(a->lines[index].amount_minor, b->lines[index].amount_minor);
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

/* genkgo-camt053.v2.wrong.xml is a group header without any Stmt. */
START_TEST(corpus_wrong_refused)
{
    char *path = corpus_path("genkgo-camt053.v2.wrong.xml");
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(
        recon_camt053_parse_file(&first, path, NULL, RECON_PARSE_NO_STATEMENT_CHECKS, &error),
        RECON_ERR_NOT_STATEMENT);
    ck_assert_ptr_null(first);
    ck_assert_str_eq(error.path, "/Document/BkToCstmrStmt");
    ck_assert_uint_eq(error.line, 3);
    ck_assert_str_eq(error.message, "BkToCstmrStmt holds no Stmt");
    ck_assert_str_eq(recon_err_code(error.code), "not_a_statement");
    free(path);
}
END_TEST

START_TEST(corpus_line_details)
{
    char *path = corpus_path("ofxstatement-raiffeisen-v04.xml");
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(recon_camt053_parse_file(&first, path, NULL, 0, &error), RECON_OK);
    ck_assert_str_eq(first->account_id, "CHxxxxxxxxxxxxxxxxxxx");
    ck_assert_str_eq(first->statement_id, "STM-C053-170412091216-01");
    ck_assert_str_eq(first->currency, "CHF"); /* no Acct/Ccy: the opening balance's */
    ck_assert_int_eq(first->opening.date_days, days(2017, 4, 1)); /* "2017-04-01+02:00" */
    ck_assert_int_eq(first->closing.date_days, days(2017, 4, 11));
    const struct recon_line *line = &first->lines[0];
    ck_assert_int_eq(line->amount_minor, -90530); /* "905.3" DBIT */
    ck_assert_int_eq(line->booking_date_days, days(2017, 4, 1));
    ck_assert_int_eq(line->value_date_days, days(2017, 4, 3));
    ck_assert_str_eq(line->bank_reference, "210564431020000000024556150000");
    ck_assert_str_eq(line->transaction_code, "PMNT/RDDT/PMDD");
    ck_assert_str_eq(line->additional_info,
                     "Sistema di addebitamento diretto xxxxxxxxxxxxxxxxxxxxxx AG");
    ck_assert_int_eq(first->lines[12].amount_minor, 36800); /* the one credit */
    ck_assert_uint_eq(strlen(line->fingerprint), 32);
    recon_statement_free(first);
    free(path);

    path = corpus_path("ofxstatement-sps-v08.xml");
    ck_assert_int_eq(recon_camt053_parse_file(&first, path, NULL, 0, &error), RECON_OK);
    line = &first->lines[0];
    ck_assert_int_eq(line->amount_minor, 128430);
    ck_assert_str_eq(line->bank_reference, "A032-J30K20-03-JF021"); /* TxDtls over Ntry */
    ck_assert_str_eq(line->end_to_end_id, "9502830971");
    ck_assert_str_eq(line->counterparty_name, "PAYEE"); /* a credit: the debtor (Dbtr/Pty/Nm) */
    ck_assert_str_eq(line->remittance, "PAYMENT INFO");
    ck_assert_str_eq(first->account_id, "0035-2915203-10-000");
    ck_assert_str_eq(first->sequence, "12");
    recon_statement_free(first);
    free(path);

    path = corpus_path("genkgo-camt053.v8.xml");
    ck_assert_int_eq(
        recon_camt053_parse_file(&first, path, NULL, RECON_PARSE_NO_STATEMENT_CHECKS, &error),
        RECON_OK);
    line = &first->lines[0];
    ck_assert_int_eq(line->booking_date_days, days(2014, 12, 31)); /* DtTm, date as printed */
    ck_assert_str_eq(line->counterparty_name, "NAME NAME");
    ck_assert_str_eq(line->counterparty_account, "NL56AGDH9619008421");
    ck_assert_str_eq(line->creditor_reference, "4654654654654654");
    ck_assert_str_eq(line->end_to_end_id, "MUELL/FINP/RA12345");
    ck_assert_str_eq(line->currency, "EUR");
    recon_statement_free(first);
    free(path);
}
END_TEST

/* ---- edge: amounts with more decimals than the currency -----------------
 * Rule: an amount is accepted when it is exact in the currency's minor unit
 * (the ISO 20022 schema allows 5 fraction digits for any currency), so
 * "18.150" EUR is 1815 minor units; a non-zero digit beyond the minor unit
 * ("8.855" EUR) is refused with RECON_ERR_AMOUNT_PRECISION. Nothing is ever
 * rounded. The five.decimals file therefore parses, and is then refused
 * because 18.15 + 8.85 is not its closing 27.05. */
START_TEST(edge_five_decimals)
{
    char *path = corpus_path("genkgo-camt053.v2.five.decimals.xml");
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(
        recon_camt053_parse_file(&first, path, NULL, RECON_PARSE_NO_STATEMENT_CHECKS, &error),
        RECON_OK);
    ck_assert_int_eq(first->opening.amount_minor, 1815);
    ck_assert_int_eq(first->lines[0].amount_minor, 885);
    ck_assert_int_eq(first->closing.amount_minor, 2705);
    recon_statement_free(first);
    ck_assert_int_eq(recon_camt053_parse_file(&first, path, NULL, 0, &error), RECON_ERR_UNBALANCED);
    ck_assert_uint_eq(error.line, 49); /* the CLBD balance */
    ck_assert_str_eq(error.message, "opening balance 18.15 plus lines 8.85 does not give the "
                                    "closing balance 27.05");
    free(path);

    char *document = statement_document("1.00000", entry_credit_100, "101.00");
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_OK);
    recon_statement_free(first);
    free(document);

    document = statement_document("1.001", entry_credit_100, "101.001");
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_ERR_AMOUNT_PRECISION);
    ck_assert_str_eq(error.path, "/Document/BkToCstmrStmt/Stmt[1]/Bal[1]/Amt");
    ck_assert_uint_eq(error.line, 8);
    free(document);
}
END_TEST

/* ---- entries ---- */

static const char entry_three_transactions[] =
    "<Ntry><Amt Ccy=\"CNY\">60.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>"
    "<BookgDt><Dt>2024-01-05</Dt></BookgDt><ValDt><Dt>2024-01-06</Dt></ValDt>"
    "<AcctSvcrRef>BATCH7</AcctSvcrRef><NtryDtls><Btch><NbOfTxs>3</NbOfTxs></Btch>\n"
    "<TxDtls><Refs><EndToEndId>E1</EndToEndId></Refs><Amt Ccy=\"CNY\">10.00</Amt>"
    "<RltdPties><Dbtr><Nm>Zhang San</Nm></Dbtr><DbtrAcct><Id><Othr><Id>6222001</Id></Othr></Id>"
    "</DbtrAcct></RltdPties><RmtInf><Ustrd>case 1</Ustrd><Ustrd>part "
    "two</Ustrd></RmtInf></TxDtls>\n"
    "<TxDtls><Refs><AcctSvcrRef>T2</AcctSvcrRef></Refs><Amt Ccy=\"CNY\">20.00</Amt>"
    "<RltdPties><Dbtr><Nm>Li Si</Nm></Dbtr></RltdPties></TxDtls>\n"
    "<TxDtls><Amt Ccy=\"CNY\">30.00</Amt><CdtDbtInd>CRDT</CdtDbtInd></TxDtls>\n"
    "</NtryDtls></Ntry>\n";

START_TEST(entry_split_by_transactions)
{
    char *document = statement_document("0", entry_three_transactions, "60.00");
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_OK);
    ck_assert_uint_eq(first->line_count, 3);
    const int64_t amounts[] = {1000, 2000, 3000};
    for (size_t index = 0; index < 3; index++) {
        const struct recon_line *line = &first->lines[index];
        ck_assert_int_eq(line->amount_minor, amounts[index]);
        ck_assert_uint_eq(line->split_index, index);
        ck_assert_uint_eq(line->split_count, 3);
        ck_assert_uint_eq(line->batch_transaction_count, 0);
        ck_assert_int_eq(line->value_date_days, days(2024, 1, 6));
    }
    ck_assert_str_eq(first->lines[0].bank_reference, "BATCH7"); /* the entry's */
    ck_assert_str_eq(first->lines[1].bank_reference, "T2");     /* its own */
    ck_assert_str_eq(first->lines[0].end_to_end_id, "E1");
    ck_assert_str_eq(first->lines[0].counterparty_name, "Zhang San");
    ck_assert_str_eq(first->lines[0].counterparty_account, "6222001");
    ck_assert_str_eq(first->lines[0].remittance, "case 1 part two");
    ck_assert_str_eq(first->lines[1].counterparty_name, "Li Si");
    /* Lines of one entry share its reference but not their fingerprints. */
    ck_assert_str_ne(first->lines[0].fingerprint, first->lines[1].fingerprint);
    recon_statement_free(first);
    free(document);
}
END_TEST

/* TxDtls that do not add up to the entry (or lack amounts) leave the entry
 * whole: one line, the booked amount, batch_transaction_count set. */
START_TEST(entry_batch_not_split)
{
    static const char not_adding_up[] =
        "<Ntry><Amt Ccy=\"CNY\">60.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
        "<BookgDt><Dt>2024-01-05</Dt></BookgDt><NtryDtls>"
        "<TxDtls><Amt Ccy=\"CNY\">10.00</Amt></TxDtls><TxDtls><Amt Ccy=\"CNY\">20.00</Amt></TxDtls>"
        "</NtryDtls></Ntry>\n";
    static const char batch_without_details[] =
        "<Ntry><Amt Ccy=\"CNY\">60.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
        "<NtryDtls><Btch><NbOfTxs>5</NbOfTxs><TtlAmt Ccy=\"CNY\">60.00</TtlAmt></Btch></NtryDtls>"
        "</Ntry>\n";
    const char *entries[] = {not_adding_up, batch_without_details};
    const uint32_t counts[] = {2, 5};
    for (size_t index = 0; index < 2; index++) {
        char *document = statement_document("0", entries[index], "60.00");
        struct recon_statement *first = NULL;
        struct recon_error error;
        ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_OK);
        ck_assert_uint_eq(first->line_count, 1);
        ck_assert_int_eq(first->lines[0].amount_minor, 6000);
        ck_assert_uint_eq(first->lines[0].batch_transaction_count, counts[index]);
        ck_assert_uint_eq(first->lines[0].split_count, 1);
        recon_statement_free(first);
        free(document);
    }
}
END_TEST

/* A reversed credit is a debit with reversal set; its counterparty stays the
 * original payer; returns carry their reason; pending entries are left out. */
START_TEST(entry_reversal_return_pending)
{
    static const char entries[] =
        "<Ntry><Amt Ccy=\"CNY\">100.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd>"
        "<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Payer</Nm></Dbtr><Cdtr><Nm>Court</Nm></Cdtr>"
        "</RltdPties></TxDtls></NtryDtls></Ntry>\n"
        "<Ntry><Amt Ccy=\"CNY\">50.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
        "<NtryDtls><TxDtls><Refs><InstrId>PAYOUT-9</InstrId></Refs><RltdPties><Dbtr><Nm>Court</Nm>"
        "</Dbtr><Cdtr><Nm>Creditor</Nm></Cdtr></RltdPties><RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf>"
        "</TxDtls></NtryDtls></Ntry>\n"
        "<Ntry><Amt Ccy=\"CNY\">7.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts>"
        "</Ntry>\n";
    char *document = statement_document("100.00", entries, "50.00");
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_OK);
    ck_assert_uint_eq(first->line_count, 2);
    ck_assert_uint_eq(first->skipped_entry_count, 1);
    ck_assert_int_eq(first->lines[0].amount_minor, -10000);
    ck_assert(first->lines[0].reversal);
    ck_assert_str_eq(first->lines[0].counterparty_name, "Payer");
    ck_assert_int_eq(first->lines[1].amount_minor, 5000);
    ck_assert(!first->lines[1].reversal);
    ck_assert_str_eq(first->lines[1].return_reason, "AC04");
    ck_assert_str_eq(first->lines[1].owner_reference, "PAYOUT-9");
    /* A credit that is a return: the debtor is what the bank names. */
    ck_assert_str_eq(first->lines[1].counterparty_name, "Court");
    ck_assert_int_eq(first->lines[0].value_date_days, RECON_DATE_NONE);
    recon_statement_free(first);
    free(document);
}
END_TEST

/* PRCD is the opening balance when there is no OPBD; OPBD wins over it. */
START_TEST(balance_previous_closing)
{
    char prcd[512], opbd[512], clbd[512], document[DOCUMENT_SIZE];
    balance_xml(prcd, sizeof prcd, "PRCD", "5.00", "CNY", "DBIT", "2024-01-04");
    balance_xml(opbd, sizeof opbd, "OPBD", "6.00", "CNY", "CRDT", "2024-01-04");
    balance_xml(clbd, sizeof clbd, "CLBD", "106.00", "CNY", "CRDT", "2024-01-05");
    snprintf(document, sizeof document, "%s<Stmt><Id>S</Id>%s%s%s%s</Stmt>%s", document_head, prcd,
             clbd, entry_credit_100, "", document_tail);
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(parse_text(&first, document, RECON_PARSE_NO_STATEMENT_CHECKS, &error),
                     RECON_OK);
    ck_assert_int_eq(first->opening.amount_minor, -500);
    ck_assert_str_eq(first->currency, "CNY");
    recon_statement_free(first);
    snprintf(document, sizeof document, "%s<Stmt><Id>S</Id>%s%s%s%s</Stmt>%s", document_head, prcd,
             opbd, clbd, entry_credit_100, document_tail);
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_OK);
    ck_assert_int_eq(first->opening.amount_minor, 600);
    recon_statement_free(first);
}
END_TEST

/* Any camt.053.001.NN namespace reads the same. */
START_TEST(namespace_versions)
{
    static const char *const versions[] = {"02", "03", "06", "08", "13"};
    char *base = statement_document("0", entry_credit_100, "100.00");
    for (size_t index = 0; index < 5; index++) {
        char *document = strdup(base);
        char version[32];
        ck_assert_ptr_nonnull(document);
        snprintf(version, sizeof version, "camt.053.001.%s", versions[index]);
        patch(document, "camt.053.001.04", version);
        struct recon_statement *first = NULL;
        struct recon_error error;
        ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_OK);
        ck_assert_int_eq(first->lines[0].amount_minor, 10000);
        recon_statement_free(first);
        free(document);
    }
    free(base);
}
END_TEST

/* ---- refusals ---- */

struct refusal_row {
    const char *name;
    const char *document;
    enum recon_err expected;
    uint64_t line;
    const char *path;
};

static const struct refusal_row refusal_rows[] = {
    {"malformed: tag mismatch",
     "<?xml version=\"1.0\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">"
     "\n<BkToCstmrStmt>\n<Stmt><Id>1</Idx></Stmt>\n</BkToCstmrStmt></Document>\n",
     RECON_ERR_SYNTAX, 4, NULL},
    {"malformed: truncated",
     "<?xml version=\"1.0\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">"
     "\n<BkToCstmrStmt>\n<Stmt><Id>1</Id>\n",
     RECON_ERR_SYNTAX, 0, NULL},
    {"empty input", "", RECON_ERR_SYNTAX, 0, NULL},
    {"billion laughs",
     "<?xml version=\"1.0\"?>\n<!DOCTYPE Document [\n<!ENTITY a \"aaaaaaaaaa\">\n"
     "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n<!ENTITY c "
     "\"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
     "]>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>"
     "<Stmt><Id>&c;</Id></Stmt></BkToCstmrStmt></Document>\n",
     RECON_ERR_FORBIDDEN_MARKUP, 0, NULL},
    {"external entity",
     "<?xml version=\"1.0\"?><!-- a comment first -->\n"
     "<!DOCTYPE Document [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
     "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>"
     "<Stmt><Id>&x;</Id></Stmt></BkToCstmrStmt></Document>\n",
     RECON_ERR_FORBIDDEN_MARKUP, 0, NULL},
    {"UTF-16", "\xff\xfe<\0?\0x\0m\0l\0", RECON_ERR_ENCODING, 0, NULL},
    {"another message",
     "<?xml version=\"1.0\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\">"
     "<CstmrCdtTrfInitn/></Document>\n",
     RECON_ERR_NOT_STATEMENT, 2, "/Document"},
    {"camt.052",
     "<?xml version=\"1.0\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">"
     "\n<BkToCstmrAcctRpt/></Document>\n",
     RECON_ERR_NOT_STATEMENT, 3, "/Document/BkToCstmrAcctRpt"},
    {"no namespace", "<?xml version=\"1.0\"?>\n<Document><BkToCstmrStmt/></Document>\n",
     RECON_ERR_NOT_STATEMENT, 2, "/Document"},
};

START_TEST(refusal)
{
    const struct refusal_row *row = &refusal_rows[_i];
    struct recon_statement *first = NULL;
    struct recon_error error;
    size_t size = row->expected == RECON_ERR_ENCODING ? 14 : strlen(row->document);
    enum recon_err err = recon_camt053_parse(&first, row->document, size, NULL, 0, &error);
    ck_assert_msg(err == row->expected, "%s: %s (%s)", row->name, recon_err_code(err),
                  error.message);
    ck_assert_ptr_null(first);
    ck_assert_int_eq(error.code, row->expected);
    ck_assert_uint_gt(strlen(error.message), 0);
    if (row->line > 0)
        ck_assert_uint_eq(error.line, row->line);
    if (row->path != NULL)
        ck_assert_str_eq(error.path, row->path);
}
END_TEST

/* ---- documents in another encoding than UTF-8 ----
 * libxml2 honours a declared encoding (UTF-7, ISO-8859-x, ...) and detects
 * EBCDIC and UTF-16 from the first bytes: a DOCTYPE written in one of them
 * is not "<!DOCTYPE" in the raw bytes. Each document below declares an
 * entity in an internal subset; libxml2 itself reads that subset (shown
 * first), and the parser must refuse the file before libxml2 sees it. */

static const char utf7_doctype[] =
    "<?xml version=\"1.0\" encoding=\"UTF-7\"?>\n"
    "+ADw-!DOCTYPE Document +AFs-+ADw-!ENTITY x +ACI-12+ACI-+AD4-+AF0-+AD4-\n"
    "+ADw-Document xmlns+AD0AIg-urn:iso:std:iso:20022:tech:xsd:camt.053.001.02+ACIAPg-"
    "+ADw-BkToCstmrStmt+AD4APA-Stmt+AD4APA-Id+AD4AJg-x+ADsAPA-/Id+AD4-"
    "+ADw-/Stmt+AD4APA-/BkToCstmrStmt+AD4APA-/Document+AD4-\n";

static const char plain_doctype[] =
    "<?xml version=\"1.0\" encoding=\"%s\"?>\n"
    "<!DOCTYPE Document [<!ENTITY x \"12\">]>\n"
    "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>"
    "<Stmt><Id>&x;</Id></Stmt></BkToCstmrStmt></Document>\n";

/* plain_doctype declaring `declared`, converted to `charset` (iconv). */
static char *encoded_doctype(const char *declared, const char *charset, size_t *size)
{
    char text[1024];
    snprintf(text, sizeof text, plain_doctype, declared);
    size_t out_size = 4 * sizeof text;
    char *out = malloc(out_size);
    ck_assert_ptr_nonnull(out);
    iconv_t conversion = iconv_open(charset, "UTF-8");
    ck_assert_msg(conversion != (iconv_t)-1, "iconv cannot write %s", charset);
    char *in = text;
    size_t in_left = strlen(text);
    char *at = out;
    size_t out_left = out_size;
    ck_assert(iconv(conversion, &in, &in_left, &at, &out_left) != (size_t)-1);
    iconv_close(conversion);
    *size = out_size - out_left;
    return out;
}

/* What libxml2 makes of the bytes on its own (camt053.c's options). */
static bool libxml2_reads_entity(const char *bytes, size_t size)
{
    xmlDocPtr document = xmlReadMemory(bytes, (int)size, NULL, NULL,
                                       XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    bool declared = document != NULL && document->intSubset != NULL &&
                    xmlGetDocEntity(document, (const xmlChar *)"x") != NULL;
    xmlFreeDoc(document);
    return declared;
}

struct foreign_row {
    const char *name;
    const char *declared; /* NULL: utf7_doctype as it is */
    const char *charset;
};

static const struct foreign_row foreign_rows[] = {
    {"UTF-7 declared", NULL, NULL},
    {"EBCDIC (IBM037)", "IBM037", "IBM037"},
    {"UTF-16LE without a byte order mark", "UTF-16", "UTF-16LE"},
    {"UTF-16 with a byte order mark", "UTF-16", "UTF-16"},
    {"ISO-8859-1 declared", "ISO-8859-1", "ISO-8859-1"},
};

START_TEST(foreign_encoding_refused)
{
    const struct foreign_row *row = &foreign_rows[_i];
    size_t size = sizeof utf7_doctype - 1;
    char *bytes = row->declared == NULL ? strdup(utf7_doctype)
                                        : encoded_doctype(row->declared, row->charset, &size);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_msg(libxml2_reads_entity(bytes, size), "%s: libxml2 does not read it", row->name);

    struct recon_statement *first = NULL;
    struct recon_error error;
    enum recon_err err = recon_camt053_parse(&first, bytes, size, NULL, 0, &error);
    ck_assert_msg(err == RECON_ERR_ENCODING, "%s: %s (%s)", row->name, recon_err_code(err),
                  error.message);
    ck_assert_ptr_null(first);
    ck_assert_msg(strstr(error.message, "UTF-8") != NULL, "%s: %s", row->name, error.message);

    /* The same from a file (read through a buffer of its own). */
    char path[] = "/tmp/caseledger-camt-XXXXXX";
    int descriptor = mkstemp(path);
    ck_assert_int_ge(descriptor, 0);
    ck_assert_int_eq(write(descriptor, bytes, size), (ssize_t)size);
    close(descriptor);
    err = recon_camt053_parse_file(&first, path, NULL, 0, &error);
    unlink(path);
    ck_assert_msg(err == RECON_ERR_ENCODING, "%s (file): %s (%s)", row->name, recon_err_code(err),
                  error.message);
    free(bytes);
}
END_TEST

/* UTF-8 in every spelling still reads: a byte order mark, no declaration,
 * "utf-8" in any case and quotes, a declaration without an encoding. */
START_TEST(utf8_spellings_read)
{
    static const char *const heads[] = {
        "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "",
        "<?xml version='1.0' encoding='utf-8' standalone='yes'?>",
        "<?xml version=\"1.0\"?>\n",
        "\xEF\xBB\xBF",
        "\n  <?xml-stylesheet href=\"a.xsl\"?>\n",
    };
    char *document = statement_document("0", entry_credit_100, "100.00");
    const char *body = strstr(document, "<Document");
    ck_assert_ptr_nonnull(body);
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        size_t size = strlen(heads[i]) + strlen(body) + 1;
        char *text = malloc(size);
        ck_assert_ptr_nonnull(text);
        snprintf(text, size, "%s%s", heads[i], body);
        struct recon_statement *first = NULL;
        struct recon_error error;
        ck_assert_msg(parse_text(&first, text, 0, &error) == RECON_OK, "head %zu: %s", i,
                      error.message);
        ck_assert_int_eq(first->lines[0].amount_minor, 10000);
        recon_statement_free(first);
        free(text);
    }
    free(document);
}
END_TEST

/* A declaration the pre-check cannot read to its end is refused, not
 * guessed: one longer than the bytes read before libxml2 starts. */
START_TEST(long_declaration_refused)
{
    char text[2048];
    int length =
        snprintf(text, sizeof text, "<?xml version=\"1.0\"%*s encoding=\"UTF-7\"?>", 1200, "");
    ck_assert_int_lt(length, (int)sizeof text);
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(parse_text(&first, text, 0, &error), RECON_ERR_ENCODING);
}
END_TEST

/* Statement-level refusals and field errors, each with its element. */
START_TEST(refusal_statement)
{
    struct recon_statement *first = NULL;
    struct recon_error error;

    char *document = statement_document("0", entry_credit_100, "100.01");
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_ERR_UNBALANCED);
    ck_assert_str_eq(recon_err_code(error.code), "statement_unbalanced");
    ck_assert_uint_eq(error.line, 10); /* the CLBD balance */
    free(document);

    document = statement_document("0", entry_credit_100, "100.00");
    patch(document, "<BookgDt><Dt>2024-01-05", "<BookgDt><Dt>2023-02-29");
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_ERR_INVALID_DATE);
    ck_assert_str_eq(error.path, "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/BookgDt/Dt");
    ck_assert_uint_eq(error.line, 9);
    free(document);

    document = statement_document("0", entry_credit_100, "100.00");
    patch(document, "<CdtDbtInd>CRDT</CdtDbtInd><Sts>", "<CdtDbtInd>CRDX</CdtDbtInd><Sts>");
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_ERR_SYNTAX);
    ck_assert_str_eq(error.path, "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/CdtDbtInd");
    free(document);

    document = statement_document("0", entry_credit_100, "100.00");
    patch(document, "<Amt Ccy=\"CNY\">100.00", "<Amt Ccy=\"C1Y\">100.00");
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_ERR_INVALID_CURRENCY);
    free(document);

    document = statement_document("0", entry_credit_100, "100.00");
    patch(document, "<Amt Ccy=\"CNY\">100.00", "<Amt Ccy=\"CNY\">1e+002");
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_ERR_INVALID_AMOUNT);
    free(document);

    document = statement_document("0", entry_credit_100, "100.00");
    patch(document, "<Amt Ccy=\"CNY\">100.00", "<Amt Cxy=\"CNY\">100.00");
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_ERR_MISSING_FIELD);
    free(document);

    document = statement_document("0", "<Ntry><CdtDbtInd>CRDT</CdtDbtInd></Ntry>", "0");
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_ERR_MISSING_FIELD);
    ck_assert_str_eq(error.path, "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]");
    free(document);

    /* Two CLBD balances. */
    char clbd[512], twice[DOCUMENT_SIZE];
    balance_xml(clbd, sizeof clbd, "CLBD", "1.00", "CNY", "CRDT", "2024-01-05");
    snprintf(twice, sizeof twice, "%s<Stmt>%s%s</Stmt>%s", document_head, clbd, clbd,
             document_tail);
    ck_assert_int_eq(parse_text(&first, twice, 0, &error), RECON_ERR_DUPLICATE_FIELD);

    /* A statement without its closing balance. */
    snprintf(twice, sizeof twice, "%s<Stmt>%s</Stmt>%s", document_head, "", document_tail);
    ck_assert_int_eq(parse_text(&first, twice, 0, &error), RECON_ERR_MISSING_FIELD);
    ck_assert_int_eq(parse_text(&first, twice, RECON_PARSE_NO_STATEMENT_CHECKS, &error), RECON_OK);
    ck_assert_uint_eq(first->line_count, 0);
    recon_statement_free(first);

    /* Lines whose sum leaves int64: refused, never wrapped. */
    static const char huge[] = "<Ntry><Amt Ccy=\"JPY\">9000000000000000000</Amt>"
                               "<CdtDbtInd>CRDT</CdtDbtInd></Ntry>";
    snprintf(twice, sizeof twice, "%s<Stmt>%s%s</Stmt>%s", document_head, huge, huge,
             document_tail);
    ck_assert_int_eq(parse_text(&first, twice, 0, &error), RECON_ERR_OVERFLOW);

    /* Mixed currencies in the lines. */
    document = statement_document("0", entry_credit_100, "100.00");
    patch(document, "<Amt Ccy=\"CNY\">100.00", "<Amt Ccy=\"USD\">100.00");
    ck_assert_int_eq(parse_text(&first, document, 0, &error), RECON_ERR_CURRENCY_MIXED);
    free(document);
}
END_TEST

/* ---- limits ---- */

START_TEST(limits_refused)
{
    struct recon_limits limits;
    struct recon_statement *first = NULL;
    struct recon_error error;
    char *document = statement_document("0", entry_three_transactions, "60.00");
    size_t size = strlen(document);

    recon_limits_default(&limits);
    limits.element_depth_max = 8;
    ck_assert_int_eq(recon_camt053_parse(&first, document, size, &limits, 0, &error),
                     RECON_ERR_TOO_DEEP);
    ck_assert_uint_gt(error.line, 0);

    recon_limits_default(&limits);
    limits.lines_per_statement_max = 2;
    ck_assert_int_eq(recon_camt053_parse(&first, document, size, &limits, 0, &error),
                     RECON_ERR_TOO_MANY_LINES);

    char long_entry[1024];
    snprintf(long_entry, sizeof long_entry,
             "<Ntry><Amt Ccy=\"CNY\">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><NtryDtls><TxDtls>"
             "<RmtInf><Ustrd>%0100d</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>",
             7);
    char *long_document = statement_document("0", long_entry, "1.00");
    recon_limits_default(&limits);
    limits.field_bytes_max = 99;
    ck_assert_int_eq(
        recon_camt053_parse(&first, long_document, strlen(long_document), &limits, 0, &error),
        RECON_ERR_FIELD_TOO_LONG);
    ck_assert_str_eq(error.path,
                     "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/NtryDtls/TxDtls[1]/RmtInf/Ustrd");
    limits.field_bytes_max = 100;
    ck_assert_int_eq(
        recon_camt053_parse(&first, long_document, strlen(long_document), &limits, 0, &error),
        RECON_OK);
    recon_statement_free(first);
    free(long_document);

    recon_limits_default(&limits);
    limits.input_bytes_max = 100;
    ck_assert_int_eq(recon_camt053_parse(&first, document, size, &limits, 0, &error),
                     RECON_ERR_INPUT_TOO_LARGE);
    free(document);

    char *path = corpus_path("genkgo-camt053.v2.multi.statement.xml");
    recon_limits_default(&limits);
    limits.statements_per_file_max = 1;
    ck_assert_int_eq(recon_camt053_parse_file(&first, path, &limits, 0, &error),
                     RECON_ERR_TOO_MANY_STATEMENTS);
    free(path);
}
END_TEST

START_TEST(invalid_arguments)
{
    struct recon_statement *first = NULL;
    struct recon_error error;
    ck_assert_int_eq(recon_camt053_parse(NULL, "x", 1, NULL, 0, &error),
                     RECON_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(recon_camt053_parse(&first, NULL, 1, NULL, 0, &error),
                     RECON_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(recon_camt053_parse(&first, "x", 1, NULL, 0x80, &error),
                     RECON_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(
        recon_camt053_parse_file(&first, "/nonexistent/statement.xml", NULL, 0, &error),
        RECON_ERR_IO);
    ck_assert_int_eq(recon_camt053_parse(&first, "<a/>", 4, NULL, 0, NULL),
                     RECON_ERR_NOT_STATEMENT); /* no error struct is fine */
    ck_assert_int_eq(recon_statement_check(NULL, &error), RECON_ERR_INVALID_ARGUMENT);
    recon_statement_free(NULL);
}
END_TEST

/* Every error has its own stable code and a message. */
START_TEST(error_codes)
{
    for (int index = 0; index < RECON_ERR__COUNT; index++) {
        const char *code = recon_err_code((enum recon_err)index);
        ck_assert_uint_gt(strlen(code), 0);
        ck_assert_uint_gt(strlen(recon_err_message((enum recon_err)index)), 0);
        for (int other = 0; other < index; other++)
            ck_assert_str_ne(code, recon_err_code((enum recon_err)other));
    }
    ck_assert_str_eq(recon_err_code(RECON_ERR__COUNT), "invalid_request");
}
END_TEST

/* Dates: days since 1970-01-01, both ways, and impossible dates refused. */
START_TEST(dates)
{
    int32_t value = 7;
    int year, month, day;
    ck_assert_int_eq(days(1970, 1, 1), 0);
    ck_assert_int_eq(days(1969, 12, 31), -1);
    ck_assert_int_eq(days(2000, 3, 1), 11017);
    ck_assert_int_eq(days(2024, 2, 29), 19782);
    ck_assert(!recon_date_from_ymd(&value, 2023, 2, 29));
    ck_assert(!recon_date_from_ymd(&value, 2024, 4, 31));
    ck_assert(!recon_date_from_ymd(&value, 2024, 13, 1));
    ck_assert(!recon_date_from_ymd(&value, 0, 1, 1));
    ck_assert_int_eq(value, 7); /* untouched */
    for (int32_t count = -719000; count < 2900000; count += 997) {
        recon_date_to_ymd(count, &year, &month, &day);
        ck_assert(recon_date_from_ymd(&value, year, month, day));
        ck_assert_int_eq(value, count);
    }
}
END_TEST

Suite *recon_camt053_suite(void)
{
    Suite *suite = suite_create("recon_camt053");
    TCase *core = tcase_create("core");
    TCase *edge = tcase_create("edge");
    TCase *errors = tcase_create("errors");
    TCase *limits = tcase_create("limits");

    tcase_add_loop_test(core, corpus_file, 0, ROWS(corpus_rows));
    tcase_add_loop_test(core, corpus_buffer_equals_file, 0, ROWS(corpus_rows));
    tcase_add_test(core, corpus_wrong_refused);
    tcase_add_test(core, corpus_line_details);
    tcase_add_test(core, entry_split_by_transactions);
    tcase_add_test(core, entry_batch_not_split);
    tcase_add_test(core, entry_reversal_return_pending);
    tcase_add_test(core, balance_previous_closing);
    tcase_add_test(core, namespace_versions);
    tcase_add_test(core, dates);
    suite_add_tcase(suite, core);

    tcase_add_test(edge, edge_five_decimals);
    suite_add_tcase(suite, edge);

    tcase_add_loop_test(errors, refusal, 0, ROWS(refusal_rows));
    tcase_add_test(errors, refusal_statement);
    tcase_add_loop_test(errors, foreign_encoding_refused, 0, ROWS(foreign_rows));
    tcase_add_test(errors, utf8_spellings_read);
    tcase_add_test(errors, long_declaration_refused);
    tcase_add_test(errors, invalid_arguments);
    tcase_add_test(errors, error_codes);
    suite_add_tcase(suite, errors);

    tcase_add_test(limits, limits_refused);
    suite_add_tcase(suite, limits);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(recon_camt053_suite());
    int failed;
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Integration suite for statement import and reconciliation on a real
 * PostgreSQL: a generated 30-day scenario over 1,000 cases (camt.053 for
 * days 1-15, one MT940 file for days 15-30 whose first statement overlaps),
 * refusals that book nothing, ambiguous candidates, bad check digits,
 * suspense assignment and the report's numbers.
 *
 * Statement amounts are credit positive (the bank's view); a case holds
 * held = -balance. */
#include <check.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db_fixture.h"
#include "test_text.h"
#include "import.h"
#include "ledger.h"
#include "ledger_internal.h"
#include "payin.h"
#include "statement_query.h"
#include "statements.h"

Suite *import_db_suite(void);

#define CASES 1000
#define DAYS 30
#define RECEIPTS_PER_DAY 30
#define PAYOUTS 10
#define FUNDED_MINOR 500000LL
#define PAYOUT_MINOR 100000LL
#define ACCOUNT_NO "CUSTODY-1"

static struct fixture fx;

static void setup(void)
{
    char name[32];
    snprintf(name, sizeof name, "import_%ld", (long)getpid());
    fixture_setup(&fx, name);
}

static void teardown(void)
{
    fixture_teardown(&fx);
}

/* ---- generated statement lines ---- */

struct gen_line {
    int day;          /* of January 2024 */
    long long amount; /* credit positive */
    char ref[24];
    char e2e[48];
    char remittance[96];
    char name[48];
    char account[32];
    bool returned; /* carries a return reason */
};

struct gen_day {
    struct gen_line lines[RECEIPTS_PER_DAY + 16];
    size_t count;
};

static void amount_text(char *out, size_t size, long long minor, char separator)
{
    long long absolute = minor < 0 ? -minor : minor;
    snprintf(out, size, "%lld%c%02lld", absolute / 100, separator, absolute % 100);
}

static void camt_entry(struct test_text *t, const struct gen_line *l)
{
    char amount[32];
    amount_text(amount, sizeof amount, l->amount, '.');
    bool credit = l->amount > 0;
    test_text_append(t,
                     "<Ntry><Amt Ccy=\"CNY\">%s</Amt><CdtDbtInd>%s</CdtDbtInd><Sts>BOOK</Sts>"
                     "<BookgDt><Dt>2024-01-%02d</Dt></BookgDt><ValDt><Dt>2024-01-%02d</Dt></ValDt>"
                     "<AcctSvcrRef>%s</AcctSvcrRef><NtryDtls><TxDtls>",
                     amount, credit ? "CRDT" : "DBIT", l->day, l->day, l->ref);
    if (l->e2e[0])
        test_text_append(t, "<Refs><EndToEndId>%s</EndToEndId></Refs>", l->e2e);
    const char *party = credit && !l->returned ? "Dbtr" : "Cdtr";
    test_text_append(t, "<RltdPties><%s><Nm>%s</Nm></%s>", party, l->name[0] ? l->name : "X",
                     party);
    if (l->account[0])
        test_text_append(t, "<%sAcct><Id><Othr><Id>%s</Id></Othr></Id></%sAcct>", party, l->account,
                         party);
    test_text_append(t, "</RltdPties>");
    if (l->remittance[0])
        test_text_append(t, "<RmtInf><Ustrd>%s</Ustrd></RmtInf>", l->remittance);
    if (l->returned)
        test_text_append(t, "<RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf>");
    test_text_append(t, "</TxDtls></NtryDtls></Ntry>\n");
}

static void camt_balance(struct test_text *t, const char *code, long long minor, int day)
{
    char amount[32];
    amount_text(amount, sizeof amount, minor, '.');
    test_text_append(t,
                     "<Bal><Tp><CdOrPrtry><Cd>%s</Cd></CdOrPrtry></Tp><Amt Ccy=\"CNY\">%s</Amt>"
                     "<CdtDbtInd>%s</CdtDbtInd><Dt><Dt>2024-01-%02d</Dt></Dt></Bal>\n",
                     code, amount, minor < 0 ? "DBIT" : "CRDT", day);
}

/* One camt.053 document for a day; *balance moves to its closing. */
static char *camt_document(const struct gen_day *day, int day_number, long long *balance,
                           const char *account_no)
{
    struct test_text t = {0};
    test_text_append(
        &t,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.04\">\n"
        "<BkToCstmrStmt><GrpHdr><MsgId>M%d</MsgId><CreDtTm>2024-01-%02dT20:00:00"
        "</CreDtTm></GrpHdr>\n<Stmt><Id>CAMT-%02d</Id><Acct><Id><Othr><Id>%s</Id></Othr>"
        "</Id><Ccy>CNY</Ccy></Acct>\n",
        day_number, day_number, day_number, account_no);
    camt_balance(&t, "OPBD", *balance, day_number > 1 ? day_number - 1 : 1);
    for (size_t i = 0; i < day->count; i++) {
        camt_entry(&t, &day->lines[i]);
        *balance += day->lines[i].amount;
    }
    camt_balance(&t, "CLBD", *balance, day_number);
    test_text_append(&t, "</Stmt></BkToCstmrStmt></Document>\n");
    return t.data;
}

static void mt940_line(struct test_text *t, const struct gen_line *l)
{
    char amount[32];
    amount_text(amount, sizeof amount, l->amount, ',');
    test_text_append(t, ":61:2401%02d01%02d%s%sNTRFNONREF//%s\n", l->day, l->day,
                     l->amount < 0 ? "D" : "C", amount, l->ref);
    test_text_append(t, ":86:");
    if (l->e2e[0])
        test_text_append(t, "/EREF/%s", l->e2e);
    if (l->remittance[0])
        test_text_append(t, "/REMI/USTD//%s", l->remittance);
    if (l->name[0])
        test_text_append(t, "/NAME/%s", l->name);
    test_text_append(t, "\n");
}

/* One MT940 statement over days [first, last]. */
static void mt940_statement(struct test_text *t, const struct gen_day *days, int first, int last,
                            long long *balance)
{
    char amount[32];
    amount_text(amount, sizeof amount, *balance, ',');
    test_text_append(t, ":20:MT-%02d-%02d\n:25:%s\n:28C:%d/1\n:60F:%s2401%02dCNY%s\n", first, last,
                     ACCOUNT_NO, last, *balance < 0 ? "D" : "C", first, amount);
    for (int d = first; d <= last; d++)
        for (size_t i = 0; i < days[d].count; i++) {
            mt940_line(t, &days[d].lines[i]);
            *balance += days[d].lines[i].amount;
        }
    amount_text(amount, sizeof amount, *balance, ',');
    test_text_append(t, ":62F:%s2401%02dCNY%s\n-\n", *balance < 0 ? "D" : "C", last, amount);
}

/* ---- the scenario's books ---- */

struct scenario {
    struct ledger *ledger;
    char case_no[CASES][48];
    char payin[CASES][LEDGER_PAYIN_DIGITS + 1];
    int64_t account_id[CASES];
    long long expected_held[CASES];
    long long expected_suspense;
    int64_t payout_id[PAYOUTS];
    struct gen_day days[DAYS + 1];
};

static void open_cases(struct scenario *s)
{
    for (int i = 0; i < CASES; i++) {
        snprintf(s->case_no[i], sizeof s->case_no[i], "(2024)沪0115执%d号", i + 1);
        s->account_id[i] = fixture_open_case(s->ledger, s->case_no[i], NULL);
        struct ledger_case_info info;
        ck_assert_int_eq(ledger_case_info(s->ledger, s->case_no[i], &info), LEDGER_OK);
        memcpy(s->payin[i], info.payin_no, sizeof s->payin[i]);
    }
}

/* Cases 0..PAYOUTS-1 are funded through the API (the day 1 statement
 * carries the same bank references) and each pays one payout. */
static void fund_and_pay(struct scenario *s)
{
    for (int i = 0; i < PAYOUTS; i++) {
        char ref[24];
        snprintf(ref, sizeof ref, "API-%d", i);
        struct ledger_receipt_request request = {.case_no = s->case_no[i],
                                                 .amount_minor = FUNDED_MINOR,
                                                 .payer = "Debtor",
                                                 .bank_ref = ref,
                                                 .value_date_days = 19723};
        struct ledger_booking booking;
        ck_assert_int_eq(ledger_receipt(s->ledger, "clerk1", &request, ref, &booking), LEDGER_OK);
        char account[24];
        snprintf(account, sizeof account, "6222%04d", i);
        struct ledger_disbursement_request payout = {.case_no = s->case_no[i],
                                                     .amount_minor = PAYOUT_MINOR,
                                                     .payee_name = "Creditor",
                                                     .payee_account = account};
        bool replayed = false;
        char key[32];
        snprintf(key, sizeof key, "payout-%d", i);
        ck_assert_int_eq(ledger_disbursement_request(s->ledger, "clerk1", &payout, key,
                                                     &s->payout_id[i], &replayed),
                         LEDGER_OK);
        snprintf(key, sizeof key, "approve-%d", i);
        ck_assert_int_eq(
            ledger_disbursement_approve(s->ledger, "approver1", s->payout_id[i], key, &booking),
            LEDGER_OK);
        s->expected_held[i] = FUNDED_MINOR - PAYOUT_MINOR;
    }
}

/* A new line of the day with bank reference SERIES DAY KIND INDEX ("D05P003"). */
static struct gen_line *next_line(struct gen_day *day, int day_number, char series, char kind,
                                  int index)
{
    ck_assert_uint_lt(day->count, sizeof day->lines / sizeof day->lines[0]);
    struct gen_line *l = &day->lines[day->count++];
    memset(l, 0, sizeof *l);
    l->day = day_number;
    snprintf(l->ref, sizeof l->ref, "%c%02d%c%03d", series, day_number, kind, index);
    return l;
}

/* Receipts with a pay-in number (some grouped in fours), one unidentified
 * receipt a day. */
static void generate_receipts(struct scenario *s, int d)
{
    for (int k = 0; k < RECEIPTS_PER_DAY; k++) {
        int c = (d * 31 + k * 17) % CASES;
        struct gen_line *l = next_line(&s->days[d], d, 'D', 'R', k);
        l->amount = 10000 + ((d * 37 + k * 11) % 900) * 100 + k;
        char p[sizeof s->payin[c]]; /* a copy: GCC's -Wrestrict at -O2 cannot tell the
                                       fields of *s apart */
        memcpy(p, s->payin[c], sizeof p);
        if (k % 3 == 0)
            snprintf(l->remittance, sizeof l->remittance, "PAYIN %.4s %.4s %.4s %.4s", p, p + 4,
                     p + 8, p + 12);
        else
            snprintf(l->remittance, sizeof l->remittance, "case payment %s", p);
        snprintf(l->name, sizeof l->name, "Payer %d", k);
        s->expected_held[c] += l->amount;
    }
    struct gen_line *l = next_line(&s->days[d], d, 'D', 'U', 0);
    l->amount = 7700 + d;
    snprintf(l->remittance, sizeof l->remittance, "for the court");
    snprintf(l->name, sizeof l->name, "Unknown Payer");
    s->expected_suspense += l->amount;
}

static void generate_special_lines(struct scenario *s)
{
    for (int i = 0; i < PAYOUTS; i++) { /* day 1: the API receipts */
        struct gen_line *l = next_line(&s->days[1], 1, 'A', 'P', i);
        snprintf(l->ref, sizeof l->ref, "API-%d", i);
        l->amount = FUNDED_MINOR;
        snprintf(l->name, sizeof l->name, "Debtor");
    }
    /* day 5: payouts 0..6 by reference, 7 by amount + payee, 8 + 9 in one line */
    for (int i = 0; i < 8; i++) {
        struct gen_line *l = next_line(&s->days[5], 5, 'D', 'P', i);
        l->amount = -PAYOUT_MINOR;
        if (i < 7)
            snprintf(l->e2e, sizeof l->e2e, "CLD%lld", (long long)s->payout_id[i]);
        snprintf(l->account, sizeof l->account, "6222%04d", i);
        snprintf(l->name, sizeof l->name, "Creditor");
    }
    struct gen_line *batch = next_line(&s->days[5], 5, 'D', 'B', 0);
    batch->amount = -2 * PAYOUT_MINOR;
    snprintf(batch->remittance, sizeof batch->remittance, "batch CLD%lld CLD%lld",
             (long long)s->payout_id[8], (long long)s->payout_id[9]);
    /* day 7: a mistyped pay-in number (last digit off by one) */
    struct gen_line *bad = next_line(&s->days[7], 7, 'D', 'X', 0);
    bad->amount = 12345;
    snprintf(bad->remittance, sizeof bad->remittance, "case payment %.15s%c", s->payin[42],
             (char)('0' + (s->payin[42][15] - '0' + 1) % 10));
    s->expected_suspense += bad->amount;
    /* day 10: payout 0 comes back */
    struct gen_line *back = next_line(&s->days[10], 10, 'D', 'T', 0);
    back->amount = PAYOUT_MINOR;
    back->returned = true;
    snprintf(back->e2e, sizeof back->e2e, "CLD%lld", (long long)s->payout_id[0]);
    s->expected_held[0] += PAYOUT_MINOR;
}

static struct recon_import_options options_for(enum recon_format format)
{
    /* Small chunks: every file streams through several of them. */
    return (struct recon_import_options){
        .format = format, .bank_account_no = ACCOUNT_NO, .actor = "bank1", .chunk_lines = 7};
}

static void import_ok(struct ledger *ledger, const char *data, enum recon_format format,
                      struct recon_import_result *result)
{
    struct recon_import_options options = options_for(format);
    struct recon_import_error error;
    enum recon_import_err code =
        recon_import_buffer(ledger, data, strlen(data), &options, result, &error);
    ck_assert_msg(code == RECON_IMPORT_OK, "import refused: %s: %s", recon_import_err_code(&error),
                  error.message);
}

static void check_case_balances(const struct scenario *s)
{
    PGconn *conn = fixture_super(&fx);
    PGresult *result = PQexec(conn, "SELECT id, -balance FROM accounts WHERE kind = 'case' "
                                    "ORDER BY id");
    ck_assert_int_eq(PQresultStatus(result), PGRES_TUPLES_OK);
    ck_assert_int_eq(PQntuples(result), CASES);
    for (int i = 0; i < CASES; i++) {
        ck_assert_int_eq(strtoll(PQgetvalue(result, i, 0), NULL, 10), s->account_id[i]);
        ck_assert_msg(strtoll(PQgetvalue(result, i, 1), NULL, 10) == s->expected_held[i],
                      "case %d holds %s, expected %lld", i, PQgetvalue(result, i, 1),
                      s->expected_held[i]);
    }
    PQclear(result);
    PQfinish(conn);
}

static long long query_int(const char *sql)
{
    return fixture_query_int(&fx, sql);
}

/* The whole story: 15 camt.053 days, a duplicate re-import, then one MT940
 * file whose first statement (days 15-16) overlaps day 15. */
/* Settled and returned lines of every statement, as the statement view
 * gives them. */
static enum ledger_err add_view_counts(void *context, const struct ledger_statement_view *view)
{
    int64_t *sums = context;
    sums[0] += view->settled;
    sums[1] += view->returned;
    return LEDGER_OK;
}

static void view_counts(struct ledger *ledger, int64_t sums[2])
{
    sums[0] = sums[1] = 0;
    char *ids = fixture_query(&fx, "SELECT string_agg(id::text, ' ') FROM bank_statements");
    int statements = 0;
    for (char *next = ids; *next != '\0'; statements++) {
        char *end;
        long long id = strtoll(next, &end, 10);
        ck_assert_ptr_ne(end, next);
        ck_assert_int_eq(ledger_statement_get(ledger, id, add_view_counts, sums), LEDGER_OK);
        next = end + (*end == ' ');
    }
    ck_assert_int_gt(statements, 1);
    free(ids);
}

START_TEST(scenario_thirty_days)
{
    struct scenario *s = calloc(1, sizeof *s);
    ck_assert_ptr_nonnull(s);
    s->ledger = fixture_ledger(&fx);
    open_cases(s);
    fund_and_pay(s);
    for (int d = 1; d <= DAYS; d++)
        generate_receipts(s, d);
    generate_special_lines(s);
    long long balance = 0;
    long long closing_day10 = 0;
    char *day3 = NULL;
    struct recon_import_result result;
    for (int d = 1; d <= 15; d++) {
        char *document = camt_document(&s->days[d], d, &balance, ACCOUNT_NO);
        import_ok(s->ledger, document, RECON_FORMAT_CAMT053, &result);
        ck_assert_uint_eq(result.total.duplicates, 0);
        ck_assert_uint_eq(result.total.exceptions, 0);
        ck_assert_int_eq(result.difference_minor, 0);
        if (d == 1)
            ck_assert_uint_eq(result.total.matched, PAYOUTS);
        if (d == 5)
            ck_assert_uint_eq(result.total.settled, 9); /* 8 lines + 1 batch line */
        if (d == 10) {
            ck_assert_uint_eq(result.total.returned, 1);
            closing_day10 = balance;
        }
        recon_import_result_free(&result);
        if (d == 3)
            day3 = document;
        else
            free(document);
    }
    /* the same file again: every line a duplicate, nothing booked */
    char *before = fixture_books_digest(&fx);
    import_ok(s->ledger, day3, RECON_FORMAT_CAMT053, &result);
    ck_assert_uint_eq(result.total.duplicates, result.total.lines);
    ck_assert_uint_eq(result.total.lines, RECEIPTS_PER_DAY + 1);
    recon_import_result_free(&result);
    char *after = fixture_books_digest(&fx);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    free(day3);
    /* MT940: days 15-16 (overlapping day 15), then 17..30 */
    long long mt_balance = balance - 0;
    for (size_t i = 0; i < s->days[15].count; i++)
        mt_balance -= s->days[15].lines[i].amount;
    struct test_text mt = {0};
    mt940_statement(&mt, s->days, 15, 16, &mt_balance);
    for (int d = 17; d <= DAYS; d++)
        mt940_statement(&mt, s->days, d, d, &mt_balance);
    import_ok(s->ledger, mt.data, RECON_FORMAT_MT940, &result);
    ck_assert_uint_eq(result.statements_count, 15);
    ck_assert_uint_eq(result.statements[0].duplicates, s->days[15].count);
    ck_assert_uint_eq(result.total.exceptions, 0);
    ck_assert_int_eq(result.difference_minor, 0);
    ck_assert_int_eq(result.book_balance_minor, mt_balance);
    recon_import_result_free(&result);
    free(mt.data);
    /* book balance = bank closing; every case as expected; suspense */
    struct ledger_report report;
    ck_assert_int_eq(
        ledger_reconciliation_report(s->ledger, fx.bank_account_id, 19723 + 29, &report),
        LEDGER_OK);
    ck_assert(report.has_statement);
    ck_assert_int_eq(report.closing_minor, mt_balance);
    ck_assert_int_eq(report.book_balance_minor, report.closing_minor);
    ck_assert_int_eq(report.difference_minor, 0);
    ck_assert_int_eq(report.unexplained_minor, 0);
    ck_assert_uint_eq(report.items_total, 0);
    ledger_report_free(&report);
    /* at an earlier day: the books as they stood at its end (every posting
     * of the custody account up to it), not as they stand now */
    ck_assert_int_eq(
        ledger_reconciliation_report(s->ledger, fx.bank_account_id, 19723 + 9, &report), LEDGER_OK);
    ck_assert_int_eq(report.closing_minor, closing_day10);
    ck_assert_int_eq(report.book_balance_minor,
                     query_int("SELECT sum(p.amount) FROM postings p "
                               "JOIN entries e ON e.seq = p.entry_seq "
                               "JOIN accounts a ON a.id = p.account_id AND a.kind = 'bank' "
                               "WHERE coalesce(e.value_date, (to_timestamp(e.created_at_us "
                               "/ 1000000.0) AT TIME ZONE 'UTC')::date) <= DATE '2024-01-10'"));
    ck_assert_int_ne(report.book_balance_minor, mt_balance);
    ck_assert_int_eq(report.difference_minor, 0);
    ck_assert_int_eq(report.unexplained_minor, 0);
    ledger_report_free(&report);
    check_case_balances(s);
    ck_assert_int_eq(query_int("SELECT -balance FROM accounts WHERE kind = 'suspense'"),
                     s->expected_suspense);
    ck_assert_int_eq(query_int("SELECT balance FROM accounts WHERE kind = 'in_transit'"), 0);
    ck_assert_int_eq(query_int("SELECT count(*) FROM disbursements WHERE status = 'paid'"),
                     PAYOUTS - 1);
    ck_assert_int_eq(query_int("SELECT count(*) FROM disbursements WHERE status = 'returned'"), 1);
    /* each statement's settled and returned lines, counted when it closed */
    /* 8 payouts one line each, payouts 8 and 9 on one batch line */
    ck_assert_int_eq(query_int("SELECT sum(settled_count) FROM bank_statements"), PAYOUTS - 1);
    ck_assert_int_eq(query_int("SELECT sum(returned_count) FROM bank_statements"), 1);
    ck_assert_int_eq(
        query_int("SELECT count(*) FROM bank_statements s WHERE settled_count IS DISTINCT FROM "
                  "(SELECT count(*) FROM statement_lines l WHERE l.statement_id = s.id "
                  "AND l.status = 'settled') OR returned_count IS DISTINCT FROM "
                  "(SELECT count(*) FROM statement_lines l WHERE l.statement_id = s.id "
                  "AND l.status = 'returned')"),
        0);
    int64_t sums[2];
    view_counts(s->ledger, sums);
    ck_assert_int_eq(sums[0], PAYOUTS - 1);
    ck_assert_int_eq(sums[1], 1);
    /* statements imported before the counts were kept: counted when read */
    PGconn *super = fixture_super(&fx);
    PGresult *cleared = PQexec(super, "SET session_replication_role = replica; "
                                      "UPDATE bank_statements SET settled_count = NULL, "
                                      "returned_count = NULL");
    ck_assert_int_eq(PQresultStatus(cleared), PGRES_COMMAND_OK);
    PQclear(cleared);
    PQfinish(super);
    view_counts(s->ledger, sums);
    ck_assert_int_eq(sums[0], PAYOUTS - 1);
    ck_assert_int_eq(sums[1], 1);
    /* the mistyped pay-in number went to suspense, with its rule */
    char *rule = fixture_query(&fx, "SELECT rule || ':' || status FROM statement_lines "
                                    "WHERE bank_ref = 'D07X000'");
    ck_assert_str_eq(rule, "payin_check_digit:suspense");
    free(rule);
    struct ledger_keyring keyring;
    ck_assert_int_eq(ledger_keyring_load(&keyring, fx.keyring_file), LEDGER_OK);
    struct ledger_verify_result verified;
    ck_assert_int_eq(ledger_verify(s->ledger, &keyring, NULL, &verified), LEDGER_OK);
    ck_assert_msg(verified.ok, "chain: %s", verified.reason);
    ledger_close(s->ledger);
    free(s);
}
END_TEST

/* ---- refusals: nothing booked, nothing stored ---- */

static void small_day(struct gen_day *day, const char *payin)
{
    memset(day, 0, sizeof *day);
    struct gen_line *l = next_line(day, 2, 'S', 'R', 0);
    l->amount = 10000;
    snprintf(l->remittance, sizeof l->remittance, "payment %s", payin);
}

static void expect_refused(struct ledger *ledger, const char *data,
                           const struct recon_import_options *options, enum recon_import_err code,
                           const char *api_code)
{
    char *before = fixture_books_digest(&fx);
    struct recon_import_result result;
    struct recon_import_error error;
    ck_assert_int_eq(recon_import_buffer(ledger, data, strlen(data), options, &result, &error),
                     code);
    ck_assert_str_eq(recon_import_err_code(&error), api_code);
    char *after = fixture_books_digest(&fx);
    ck_assert_str_eq(before, after);
    ck_assert_int_eq(query_int("SELECT count(*) FROM bank_statements"), 0);
    ck_assert_int_eq(query_int("SELECT count(*) FROM statement_lines"), 0);
    free(before);
    free(after);
}

/* A new handle, and a case opened with it (its pay-in number in *info). */
static struct ledger *ledger_with_case(const char *case_no, struct ledger_case_info *info)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_no, NULL);
    ck_assert_int_eq(ledger_case_info(ledger, case_no, info), LEDGER_OK);
    return ledger;
}

START_TEST(refusals_book_nothing)
{
    struct ledger_case_info info;
    struct ledger *ledger = ledger_with_case("(2024)R1", &info);
    struct gen_day day;
    small_day(&day, info.payin_no);
    long long balance = 0;
    struct recon_import_options camt = options_for(RECON_FORMAT_CAMT053);
    /* unbalanced: the closing balance is one fen off */
    char *good = camt_document(&day, 2, &balance, ACCOUNT_NO);
    char *unbalanced = strdup(good);
    char *closing = strstr(unbalanced, "<Amt Ccy=\"CNY\">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
                                       "<Dt>");
    ck_assert_ptr_nonnull(closing);
    closing[19] = '1'; /* 100.00 -> 100.01 */
    expect_refused(ledger, unbalanced, &camt, RECON_IMPORT_ERR_UNBALANCED, "statement_unbalanced");
    /* wrong account */
    balance = 0;
    char *other = camt_document(&day, 2, &balance, "CUSTODY-2");
    expect_refused(ledger, other, &camt, RECON_IMPORT_ERR_WRONG_ACCOUNT, "wrong_account");
    /* malformed XML */
    char *malformed = strdup(good);
    malformed[strlen(malformed) - 5] = '\0';
    expect_refused(ledger, malformed, &camt, RECON_IMPORT_ERR_PARSE,
                   recon_err_code(RECON_ERR_SYNTAX));
    /* too many decimals */
    char *decimals = strdup(good);
    char *amount = strstr(decimals, "100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>");
    ck_assert_ptr_nonnull(amount);
    memcpy(amount, "10.005", 6);
    expect_refused(ledger, decimals, &camt, RECON_IMPORT_ERR_PARSE, "amount_precision");
    /* a statement in another currency than the account */
    struct recon_import_options mt = options_for(RECON_FORMAT_MT940);
    expect_refused(ledger,
                   ":20:X\n:25:CUSTODY-1\n:60F:C240102EUR0,00\n:61:240102C1,00NTRFNONREF//A\n"
                   ":62F:C240102EUR1,00\n-\n",
                   &mt, RECON_IMPORT_ERR_CURRENCY_MISMATCH, "currency_mismatch");
    /* truncated MT940 */
    expect_refused(ledger,
                   ":20:X\n:25:CUSTODY-1\n:60F:C240102CNY0,00\n:61:240102C1,00NTRFNONREF//A\n", &mt,
                   RECON_IMPORT_ERR_PARSE, recon_err_code(RECON_ERR_TRUNCATED));
    /* a CSV mapping naming a column the file does not have */
    static const char mapping_text[] = "delimiter = ,\nheader = yes\ndate = Date\namount = Amount\n"
                                       "balance = Saldo\naccount = CUSTODY-1\n";
    struct recon_csv_mapping *mapping = NULL;
    struct recon_error parse_error;
    ck_assert_int_eq(
        recon_csv_mapping_parse(&mapping, mapping_text, strlen(mapping_text), &parse_error),
        RECON_OK);
    struct recon_import_options csv = options_for(RECON_FORMAT_CSV);
    csv.mapping = mapping;
    expect_refused(ledger, "Date,Amount,Balance\n2024-01-02,1.00,1.00\n", &csv,
                   RECON_IMPORT_ERR_PARSE, recon_err_code(RECON_ERR_MAPPING));
    recon_csv_mapping_free(mapping);
    free(decimals);
    free(malformed);
    free(other);
    free(unbalanced);
    free(good);
    ledger_close(ledger);
}
END_TEST

/* ---- collective receipts, and a refusal after lines were booked ---- */

#define MANY_LINES 200

/* One MT940 statement of count receipts (one value date) over the cases. */
static void many_receipts(struct test_text *t, char payins[][LEDGER_PAYIN_DIGITS + 1], int cases,
                          int count, const char *series, long long *balance,
                          long long closing_error)
{
    char amount[32];
    amount_text(amount, sizeof amount, *balance, ',');
    test_text_append(t, ":20:%s\n:25:%s\n:28C:1/1\n:60F:C240105CNY%s\n", series, ACCOUNT_NO,
                     amount);
    for (int i = 0; i < count; i++) {
        long long minor = 100 + i;
        amount_text(amount, sizeof amount, minor, ',');
        test_text_append(t, ":61:2401050105C%sNTRFNONREF//%s-%d\n:86:/REMI/USTD//payment %s\n",
                         amount, series, i, payins[i % cases]);
        *balance += minor;
    }
    amount_text(amount, sizeof amount, *balance + closing_error, ',');
    test_text_append(t, ":62F:C240105CNY%s\n-\n", amount);
}

START_TEST(collective_receipts_and_late_refusal)
{
    struct ledger *ledger = fixture_ledger(&fx);
    char payins[3][LEDGER_PAYIN_DIGITS + 1];
    for (int i = 0; i < 3; i++) {
        char case_no[32];
        snprintf(case_no, sizeof case_no, "(2024)M%d", i + 1);
        fixture_open_case(ledger, case_no, NULL);
        struct ledger_case_info info;
        ck_assert_int_eq(ledger_case_info(ledger, case_no, &info), LEDGER_OK);
        memcpy(payins[i], info.payin_no, sizeof payins[i]);
    }
    long long balance = 0;
    struct test_text t = {0};
    many_receipts(&t, payins, 3, MANY_LINES, "MANY", &balance, 0);
    struct recon_import_result result;
    import_ok(ledger, t.data, RECON_FORMAT_MT940, &result);
    ck_assert_uint_eq(result.total.booked, MANY_LINES);
    ck_assert_int_eq(result.difference_minor, 0);
    recon_import_result_free(&result);
    free(t.data);
    /* chunks of 7 lines: collective entries of up to 7 receipts, each line
     * naming its own posting, on its own case, with its own amount */
    ck_assert_int_eq(
        query_int("SELECT count(*) FROM statement_lines WHERE posting_idx IS NOT NULL"),
        MANY_LINES - MANY_LINES % 7 + (MANY_LINES % 7 > 1 ? MANY_LINES % 7 : 0));
    ck_assert_int_eq(query_int("SELECT count(*) FROM statement_lines l JOIN postings p "
                               "ON p.entry_seq = l.entry_seq AND p.idx = l.posting_idx "
                               "JOIN accounts a ON a.id = p.account_id AND a.kind = 'case' "
                               "WHERE p.amount = -l.amount AND l.payin_no = a.payin_no"),
                     MANY_LINES - MANY_LINES % 7 + (MANY_LINES % 7 > 1 ? MANY_LINES % 7 : 0));
    ck_assert_int_eq(query_int("SELECT count(*) FROM (SELECT entry_seq FROM postings "
                               "GROUP BY entry_seq HAVING count(*) = 8) AS e"),
                     MANY_LINES / 7);
    ck_assert_int_eq(query_int("SELECT -sum(balance) FROM accounts WHERE kind = 'case'"), balance);
    /* a complete statement's figures do not change, not even for the app role
     * that wrote them */
    PGconn *app = PQconnectdb(fx.app_dsn);
    ck_assert_int_eq(PQstatus(app), CONNECTION_OK);
    PGresult *changed = PQexec(app, "UPDATE bank_statements SET line_count = 1");
    ck_assert_int_eq(PQresultStatus(changed), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(changed, PG_DIAG_SQLSTATE), "23514");
    PQclear(changed);
    /* nor can it hide a booked entry from the reconciliation report */
    PGresult *hidden = PQexec(app, "DELETE FROM unreconciled_entries");
    ck_assert_int_eq(PQresultStatus(hidden), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(hidden, PG_DIAG_SQLSTATE), "42501");
    PQclear(hidden);
    PQfinish(app);
    /* a collective entry is not reversed: a line is corrected by a transfer */
    int64_t collective = query_int("SELECT min(entry_seq) FROM statement_lines "
                                   "WHERE posting_idx IS NOT NULL");
    struct ledger_booking booking;
    ck_assert_int_eq(ledger_reverse(ledger, "approver1", collective, "wrong", "rev-many", &booking),
                     LEDGER_ERR_NOT_REVERSIBLE);
    /* the next file: a good statement of MANY_LINES lines, then one a fen
     * off. The first is matched, booked and stored chunk by chunk before
     * the second is read; all of it is rolled back. */
    char *before = fixture_books_digest(&fx);
    long long statements = query_int("SELECT count(*) FROM bank_statements");
    struct test_text late = {0};
    long long late_balance = balance;
    many_receipts(&late, payins, 3, MANY_LINES, "LATE1", &late_balance, 0);
    many_receipts(&late, payins, 3, 3, "LATE2", &late_balance, 1);
    struct recon_import_options mt = options_for(RECON_FORMAT_MT940);
    struct recon_import_error error;
    ck_assert_int_eq(recon_import_buffer(ledger, late.data, late.length, &mt, &result, &error),
                     RECON_IMPORT_ERR_UNBALANCED);
    ck_assert_str_eq(recon_import_err_code(&error), "statement_unbalanced");
    ck_assert_uint_eq(error.statement_index, 1);
    char *after = fixture_books_digest(&fx);
    ck_assert_str_eq(before, after);
    ck_assert_int_eq(query_int("SELECT count(*) FROM bank_statements"), statements);
    free(before);
    free(after);
    free(late.data);
    struct ledger_keyring keyring;
    ck_assert_int_eq(ledger_keyring_load(&keyring, fx.keyring_file), LEDGER_OK);
    struct ledger_verify_result verified;
    ck_assert_int_eq(ledger_verify(ledger, &keyring, NULL, &verified), LEDGER_OK);
    ck_assert_msg(verified.ok, "chain: %s", verified.reason);
    ledger_close(ledger);
}
END_TEST

/* ---- a chunk's lines are sent, not waited for ---- */

/* The INSERT of a chunk's lines is only sent, so that the database stores
 * them while the next chunk is read. Its failure is not lost: it is the
 * answer of the wait, or of whichever call on the handle comes next, and the
 * import rolls back. */
START_TEST(sent_lines_failure_is_not_lost)
{
    struct ledger *ledger = fixture_ledger(&fx);
    char *before = fixture_books_digest(&fx);
    struct ledger_custody_account account;
    ck_assert_int_eq(ledger_custody_account_find(ledger, ACCOUNT_NO, &account), LEDGER_OK);
    for (int next_call = 0; next_call < 2; next_call++) {
        ck_assert_int_eq(ledger_import_begin(ledger, "bank1"), LEDGER_OK);
        struct ledger_statement_record record = {.bank_account_id = account.id,
                                                 .format = "mt940",
                                                 .statement_ref = "SENT",
                                                 .sequence = "1",
                                                 .currency = "CNY",
                                                 .imported_by = "bank1"};
        int64_t statement_id = 0;
        ck_assert_int_eq(ledger_statement_open(ledger, &record, &statement_id), LEDGER_OK);
        /* booked, yet naming no entry: the table's check refuses it */
        struct ledger_statement_line_record line = {.identity = "ref:SENT-1",
                                                    .value_date_days = 19723,
                                                    .booking_date_days = 19723,
                                                    .amount_minor = 100,
                                                    .currency = "CNY",
                                                    .bank_ref = "SENT-1",
                                                    .end_to_end_id = "",
                                                    .counterparty_name = "",
                                                    .counterparty_account = "",
                                                    .remittance = "",
                                                    .return_reason = "",
                                                    .payin_no = "",
                                                    .status = "booked",
                                                    .rule = "payin_no",
                                                    .reason = "test"};
        ck_assert_int_eq(ledger_statement_lines_add(ledger, statement_id, account.id, 0, &line, 1),
                         LEDGER_OK);
        if (next_call == 0) {
            ck_assert_int_eq(ledger_statement_lines_wait(ledger), LEDGER_ERR_BAD_STATE);
        } else {
            const char *identity = "ref:OTHER";
            int64_t line_id = 0;
            ck_assert_int_eq(
                ledger_line_identities_find(ledger, account.id, &identity, 1, &line_id),
                LEDGER_ERR_BAD_STATE);
        }
        ck_assert_msg(strstr(ledger_last_detail(ledger), "booked_has_entry") != NULL, "detail: %s",
                      ledger_last_detail(ledger));
        ck_assert_int_eq(ledger_statement_lines_wait(ledger), LEDGER_OK); /* read once */
        ledger_import_rollback(ledger);
    }
    char *after = fixture_books_digest(&fx);
    ck_assert_str_eq(before, after);
    ck_assert_int_eq(query_int("SELECT count(*) FROM bank_statements"), 0);
    free(before);
    free(after);
    ledger_close(ledger);
}
END_TEST

/* ---- several bank lines paying one payout ---- */

/* An MT940 statement of debit lines (amounts in fen, all naming payout id). */
static char *debits_statement(const char *series, int64_t payout_id, const long long *amounts,
                              int count, long long *balance)
{
    struct test_text t = {0};
    char amount[32];
    amount_text(amount, sizeof amount, *balance, ',');
    test_text_append(&t, ":20:%s\n:25:%s\n:28C:1/1\n:60F:C240110CNY%s\n", series, ACCOUNT_NO,
                     amount);
    for (int i = 0; i < count; i++) {
        amount_text(amount, sizeof amount, amounts[i], ',');
        test_text_append(&t, ":61:2401100110D%sNTRFNONREF//%s-%d\n:86:/EREF/CLD%lld\n", amount,
                         series, i, (long long)payout_id);
        *balance -= amounts[i];
    }
    amount_text(amount, sizeof amount, *balance, ',');
    test_text_append(&t, ":62F:C240110CNY%s\n-\n", amount);
    return t.data;
}

/* A ledger's session compiles nothing: the import's statements over a
 * chunk's unnested arrays passed the planner's JIT threshold, and each chunk
 * paid for compiling them anew. The database's own default is left as it
 * is (on); only caseledger's sessions turn it off. */
START_TEST(sessions_do_not_jit)
{
    char *database_default = fixture_query(&fx, "SELECT current_setting('jit')");
    struct ledger *ledger = fixture_ledger(&fx);
    PGresult *result = PQexec(ledger->conn, "SELECT current_setting('jit')");
    ck_assert_int_eq(PQresultStatus(result), PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(result, 0, 0), "off");
    ck_assert_str_eq(database_default, "on");
    PQclear(result);
    free(database_default);
    ledger_close(ledger);
}
END_TEST

/* A statement the server refuses to prepare (here: an unknown column)
 * inside a transaction is reported with its own cause, not as the
 * "current transaction is aborted" of running it again unprepared. */
START_TEST(refused_statement_reports_its_cause)
{
    struct ledger *ledger = fixture_ledger(&fx);
    ck_assert_int_eq(ledger_db_begin(ledger), LEDGER_OK);
    PGresult *result =
        ledger_db_exec(ledger, PGRES_TUPLES_OK, "SELECT no_such_column FROM accounts WHERE id = $1",
                       1, (const char *const[]){"1"});
    ck_assert_ptr_null(result);
    ck_assert_int_eq(ledger_db_last_error(ledger), LEDGER_ERR_DB);
    ck_assert_msg(strstr(ledger_last_detail(ledger), "no_such_column") != NULL, "detail: %s",
                  ledger_last_detail(ledger));
    ledger_db_rollback(ledger);
    /* the connection goes on */
    result = ledger_db_exec(ledger, PGRES_TUPLES_OK, "SELECT 1", 0, NULL);
    ck_assert_ptr_nonnull(result);
    PQclear(result);
    ledger_close(ledger);
}
END_TEST

/* A build opens only a database that has applied every migration it knows:
 * one missing its last is refused at once, naming the remedy. */
START_TEST(older_schema_is_refused_at_open)
{
    char *last = fixture_query(&fx, "SELECT max(version) FROM schema_migrations");
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM schema_migrations WHERE version = %s", last);
    PGconn *super = fixture_super(&fx);
    PGresult *deleted = PQexec(super, sql);
    ck_assert_int_eq(PQresultStatus(deleted), PGRES_COMMAND_OK);
    PQclear(deleted);
    struct ledger *ledger = NULL;
    char detail[256] = "";
    ck_assert_int_eq(ledger_open(&ledger, &fx.config, detail, sizeof detail), LEDGER_ERR_DB);
    ck_assert_ptr_null(ledger);
    ck_assert_msg(strstr(detail, "run caseledger migrate") != NULL, "detail: %s", detail);
    /* and with it applied again, the same configuration opens */
    snprintf(sql, sizeof sql,
             "INSERT INTO schema_migrations (version, name, checksum) "
             "VALUES (%s, 'again', '')",
             last);
    PGresult *inserted = PQexec(super, sql);
    ck_assert_int_eq(PQresultStatus(inserted), PGRES_COMMAND_OK);
    PQclear(inserted);
    PQfinish(super);
    ck_assert_int_eq(ledger_open(&ledger, &fx.config, detail, sizeof detail), LEDGER_OK);
    ledger_close(ledger);
    free(last);
}
END_TEST

START_TEST(payout_paid_in_parts)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, "(2024)P1", NULL);
    struct ledger_receipt_request receipt = {.case_no = "(2024)P1",
                                             .amount_minor = 500000,
                                             .payer = "Debtor",
                                             .bank_ref = "FUND-P1",
                                             .value_date_days = 19723};
    struct ledger_booking booking;
    ck_assert_int_eq(ledger_receipt(ledger, "clerk1", &receipt, "fund-p1", &booking), LEDGER_OK);
    struct ledger_disbursement_request payout = {.case_no = "(2024)P1",
                                                 .amount_minor = 100000,
                                                 .payee_name = "Creditor",
                                                 .payee_account = "62220001"};
    int64_t payout_id = 0;
    bool replayed = false;
    ck_assert_int_eq(
        ledger_disbursement_request(ledger, "clerk1", &payout, "pay-p1", &payout_id, &replayed),
        LEDGER_OK);
    ck_assert_int_eq(
        ledger_disbursement_approve(ledger, "approver1", payout_id, "appr-p1", &booking),
        LEDGER_OK);
    /* the bank's opening balance: the funding receipt */
    long long balance = 500000;
    /* file 1: 300.00 + 200.00 of 1,000.00 (and one line paying more than is
     * left: an exception, nothing booked) */
    static const long long first_parts[] = {30000, 20000, 60000};
    char *first = debits_statement("PARTS1", payout_id, first_parts, 3, &balance);
    struct recon_import_result result;
    struct recon_import_options mt = options_for(RECON_FORMAT_MT940);
    struct recon_import_error error;
    ck_assert_int_eq(recon_import_buffer(ledger, first, strlen(first), &mt, &result, &error),
                     RECON_IMPORT_OK);
    ck_assert_uint_eq(result.total.settled, 2);
    ck_assert_uint_eq(result.total.exceptions, 1);
    recon_import_result_free(&result);
    char *status = fixture_query(&fx, "SELECT status FROM disbursements");
    ck_assert_str_eq(status, "approved");
    free(status);
    ck_assert_int_eq(query_int("SELECT balance FROM accounts WHERE kind = 'in_transit'"),
                     -(100000 - 50000));
    ck_assert_int_eq(query_int("SELECT count(*) FROM statement_lines WHERE rule = "
                               "'disbursement_part' AND status = 'settled'"),
                     2);
    /* a line of the payout's whole amount to its payee's account but naming
     * no payout: the payout is half paid, so it is not settled by amount and
     * payee (that would book 500.00 against a 1,000.00 line) */
    char *book_before = fixture_books_digest(&fx);
    char whole[512];
    char opening[32];
    amount_text(opening, sizeof opening, balance, ',');
    char closing[32];
    amount_text(closing, sizeof closing, balance - 100000, ',');
    snprintf(whole, sizeof whole,
             ":20:WHOLE\n:25:%s\n:28C:1/1\n:60F:C240110CNY%s\n"
             ":61:2401100110D1000,00NTRFNONREF//WHOLE-1\n:86:/IBAN/62220001/NAME/Creditor\n"
             ":62F:C240110CNY%s\n-\n",
             ACCOUNT_NO, opening, closing);
    balance -= 100000;
    ck_assert_int_eq(recon_import_buffer(ledger, whole, strlen(whole), &mt, &result, &error),
                     RECON_IMPORT_OK);
    ck_assert_uint_eq(result.total.settled, 0);
    ck_assert_uint_eq(result.total.exceptions, 1);
    recon_import_result_free(&result);
    char *book_after = fixture_books_digest(&fx);
    ck_assert_str_eq(book_before, book_after);
    free(book_before);
    free(book_after);
    /* file 2, another day: the rest, 500.00, settles it */
    static const long long last_part[] = {50000};
    char *second = debits_statement("PARTS2", payout_id, last_part, 1, &balance);
    ck_assert_int_eq(recon_import_buffer(ledger, second, strlen(second), &mt, &result, &error),
                     RECON_IMPORT_OK);
    ck_assert_uint_eq(result.total.settled, 1);
    recon_import_result_free(&result);
    status = fixture_query(&fx, "SELECT status FROM disbursements");
    ck_assert_str_eq(status, "paid");
    free(status);
    ck_assert_int_eq(query_int("SELECT balance FROM accounts WHERE kind = 'in_transit'"), 0);
    ck_assert_int_eq(query_int("SELECT -balance FROM accounts WHERE kind = 'case'"), 400000);
    /* the book balance of the custody account equals the bank's, but for the
     * 600.00 and 1,000.00 lines the bank paid and no payout explains */
    ck_assert_int_eq(query_int("SELECT balance FROM accounts WHERE kind = 'bank'"),
                     balance + 60000 + 100000);
    free(second);
    free(first);
    ledger_close(ledger);
}
END_TEST

/* A payout that bank lines paid in part, then settled or returned through
 * the API (POST /v1/disbursements/{id}/settle|return): only what is still in
 * transit moves. (Before: the whole amount again; a return credited the
 * case with money that had already left the bank.) */
static int64_t approved_payout(struct ledger *ledger, const char *case_no, const char *series,
                               long long *balance)
{
    fixture_open_case(ledger, case_no, NULL);
    struct ledger_receipt_request receipt = {.case_no = case_no,
                                             .amount_minor = 500000,
                                             .payer = "Debtor",
                                             .bank_ref = series,
                                             .value_date_days = 19723};
    struct ledger_booking booking;
    ck_assert_int_eq(ledger_receipt(ledger, "clerk1", &receipt, series, &booking), LEDGER_OK);
    *balance += 500000;
    struct ledger_disbursement_request payout = {.case_no = case_no,
                                                 .amount_minor = 100000,
                                                 .payee_name = "Creditor",
                                                 .payee_account = "62220001"};
    int64_t payout_id = 0;
    bool replayed = false;
    char key[64];
    snprintf(key, sizeof key, "pay-%s", series);
    ck_assert_int_eq(
        ledger_disbursement_request(ledger, "clerk1", &payout, key, &payout_id, &replayed),
        LEDGER_OK);
    snprintf(key, sizeof key, "appr-%s", series);
    ck_assert_int_eq(ledger_disbursement_approve(ledger, "approver1", payout_id, key, &booking),
                     LEDGER_OK);
    return payout_id;
}

/* A statement whose two lines pay 300.00 and 200.00 of the payout. */
static void pay_half(struct ledger *ledger, int64_t payout_id, const char *series,
                     long long *balance)
{
    static const long long parts[] = {30000, 20000};
    char *statement = debits_statement(series, payout_id, parts, 2, balance);
    struct recon_import_result result;
    struct recon_import_options mt = options_for(RECON_FORMAT_MT940);
    struct recon_import_error error;
    ck_assert_int_eq(
        recon_import_buffer(ledger, statement, strlen(statement), &mt, &result, &error),
        RECON_IMPORT_OK);
    ck_assert_uint_eq(result.total.settled, 2);
    recon_import_result_free(&result);
    free(statement);
}

START_TEST(payout_in_parts_then_settled_or_returned)
{
    struct ledger *ledger = fixture_ledger(&fx);
    long long balance = 0;
    int64_t returned = approved_payout(ledger, "(2024)PR1", "PR1", &balance);
    int64_t settled = approved_payout(ledger, "(2024)PR2", "PR2", &balance);
    pay_half(ledger, returned, "PR1", &balance);
    pay_half(ledger, settled, "PR2", &balance);
    ck_assert_int_eq(query_int("SELECT balance FROM accounts WHERE kind = 'in_transit'"),
                     -(50000 + 50000));
    struct ledger_booking booking;
    ck_assert_int_eq(ledger_disbursement_return(ledger, "bank1", returned, "RET-1", "closed",
                                                "ret-pr1", &booking),
                     LEDGER_OK);
    ck_assert_int_eq(booking.amount_minor, 50000);
    /* 5,000.00 in, 1,000.00 out of which 500.00 left the bank: 4,500.00 */
    ck_assert_int_eq(query_int("SELECT -balance FROM accounts WHERE case_no = '(2024)PR1'"),
                     450000);
    ck_assert_int_eq(ledger_disbursement_settle(ledger, "bank1", settled, "SET-1",
                                                LEDGER_VALUE_DATE_NONE, "set-pr2", &booking),
                     LEDGER_OK);
    ck_assert_int_eq(booking.amount_minor, 50000);
    ck_assert_int_eq(query_int("SELECT -balance FROM accounts WHERE case_no = '(2024)PR2'"),
                     400000);
    ck_assert_int_eq(query_int("SELECT balance FROM accounts WHERE kind = 'in_transit'"), 0);
    /* the custody account: 10,000.00 in, 500.00 + 500.00 + 500.00 out */
    ck_assert_int_eq(query_int("SELECT balance FROM accounts WHERE kind = 'bank'"),
                     1000000 - 150000);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT paid_minor FROM disbursements WHERE id = %lld",
             (long long)settled);
    ck_assert_int_eq(query_int(sql), 100000);
    ledger_close(ledger);
}
END_TEST

/* ---- ambiguity, bad check digits, assignment, the report ---- */

static void api_receipt(struct ledger *ledger, const char *case_no, long long amount,
                        const char *payer, const char *ref)
{
    struct ledger_receipt_request request = {.case_no = case_no,
                                             .amount_minor = amount,
                                             .payer = payer,
                                             .bank_ref = ref,
                                             .value_date_days = 19723 + 1};
    struct ledger_booking booking;
    ck_assert_int_eq(ledger_receipt(ledger, "clerk1", &request, ref, &booking), LEDGER_OK);
}

START_TEST(ambiguous_and_exceptions_explained)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, "(2024)A1", NULL);
    fixture_open_case(ledger, "(2024)A2", NULL);
    struct ledger_case_info a2;
    ck_assert_int_eq(ledger_case_info(ledger, "(2024)A2", &a2), LEDGER_OK);
    /* two receipts through the API: same amount, payer and day */
    api_receipt(ledger, "(2024)A1", 5000, "Wang Wu", "API-A");
    api_receipt(ledger, "(2024)A2", 5000, "Wang Wu", "API-B");
    struct gen_day day = {0};
    struct gen_line *l = next_line(&day, 2, 'S', 'R', 0); /* fits both */
    l->amount = 5000;
    snprintf(l->name, sizeof l->name, "Wang Wu");
    l = next_line(&day, 2, 'S', 'R', 1); /* a debit nobody asked for */
    l->amount = -300;
    snprintf(l->name, sizeof l->name, "Bank fee");
    l = next_line(&day, 2, 'S', 'R', 2); /* a bad check digit */
    l->amount = 700;
    snprintf(l->remittance, sizeof l->remittance, "for %.15s%c", a2.payin_no,
             (char)('0' + (a2.payin_no[15] - '0' + 3) % 10));
    long long balance = 0;
    char *document = camt_document(&day, 2, &balance, ACCOUNT_NO);
    struct recon_import_result result;
    import_ok(ledger, document, RECON_FORMAT_CAMT053, &result);
    ck_assert_uint_eq(result.total.exceptions, 2);
    ck_assert_uint_eq(result.total.suspense, 1);
    ck_assert_uint_eq(result.total.booked + result.total.matched, 0);
    recon_import_result_free(&result);
    char *candidates = fixture_query(&fx, "SELECT candidates FROM statement_lines "
                                          "WHERE bank_ref = 'S02R000'");
    ck_assert_msg(strstr(candidates, "receipt entry 1") && strstr(candidates, "receipt entry 2"),
                  "candidates: %s", candidates);
    free(candidates);
    ck_assert_int_eq(ledger_case_info(ledger, "(2024)A2", &a2), LEDGER_OK);
    ck_assert_int_eq(a2.held, 5000); /* the 7.00 with a bad check digit is not on the case */
    /* report: closing 54.00 (50 + 7 - 3); books 100 + 7; explained by the
     * unbooked exceptions (+50, -3) and the two book-only receipts (-100) */
    struct ledger_report report;
    ck_assert_int_eq(ledger_reconciliation_report(ledger, fx.bank_account_id, 19723 + 1, &report),
                     LEDGER_OK);
    ck_assert_int_eq(report.closing_minor, 5400);
    ck_assert_int_eq(report.book_balance_minor, 10700);
    ck_assert_int_eq(report.difference_minor, -5300);
    ck_assert_int_eq(report.explained_minor, -5300);
    ck_assert_int_eq(report.unexplained_minor, 0);
    ck_assert_uint_eq(report.items_total, 4);
    ledger_report_free(&report);
    /* the suspense line is assigned to the case, once */
    long long line_id = query_int("SELECT id FROM statement_lines WHERE status = 'suspense'");
    struct ledger_booking booking;
    ck_assert_int_eq(
        ledger_statement_line_assign(ledger, "clerk1", line_id, "(2024)A2", "assign-1", &booking),
        LEDGER_OK);
    ck_assert_int_eq(
        ledger_statement_line_assign(ledger, "clerk1", line_id, "(2024)A1", "assign-2", &booking),
        LEDGER_ERR_BAD_STATE);
    ck_assert_int_eq(ledger_case_info(ledger, "(2024)A2", &a2), LEDGER_OK);
    ck_assert_int_eq(a2.held, 5700);
    long long exception_id = query_int("SELECT min(id) FROM statement_lines "
                                       "WHERE status = 'exception'");
    ck_assert_int_eq(ledger_statement_line_assign(ledger, "clerk1", exception_id, "(2024)A2",
                                                  "assign-3", &booking),
                     LEDGER_ERR_BAD_STATE);
    free(document);
    ledger_close(ledger);
}
END_TEST

/* A statement line over the largest amount of one entry refuses the whole
 * file, naming the line; nothing is booked or stored. The limit is the
 * handle's (ledger_config.amount_max_minor; 0: the default). */
START_TEST(huge_line_refuses_the_file)
{
    struct ledger_case_info info;
    struct ledger *ledger = ledger_with_case("(2024)H1", &info);
    struct gen_day day;
    small_day(&day, info.payin_no); /* line 1: 100.00 for the case */
    struct gen_line *huge = next_line(&day, 2, 'S', 'R', 1);
    huge->amount = 1000000000001LL; /* one fen over 10,000,000,000.00 */
    long long balance = 0;
    char *document = camt_document(&day, 2, &balance, ACCOUNT_NO);
    struct recon_import_options camt = options_for(RECON_FORMAT_CAMT053);
    expect_refused(ledger, document, &camt, RECON_IMPORT_ERR_AMOUNT_TOO_LARGE, "amount_too_large");
    struct recon_import_result result;
    struct recon_import_error error;
    ck_assert_int_eq(
        recon_import_buffer(ledger, document, strlen(document), &camt, &result, &error),
        RECON_IMPORT_ERR_AMOUNT_TOO_LARGE);
    ck_assert_msg(strstr(error.message, "line 2") != NULL, "%s", error.message);
    ck_assert_int_eq(recon_import_http_status(&error), 422);
    free(document);
    ledger_close(ledger);

    /* the same limit lowered on the handle: a debit of 100.01 over 100.00 */
    struct ledger_config config = fx.config;
    config.amount_max_minor = 10000;
    ck_assert_int_eq(ledger_open(&ledger, &config, NULL, 0), LEDGER_OK);
    ck_assert_int_eq(ledger_amount_max(ledger), 10000);
    small_day(&day, info.payin_no);
    day.lines[0].amount = -10001;
    balance = 0;
    document = camt_document(&day, 2, &balance, ACCOUNT_NO);
    expect_refused(ledger, document, &camt, RECON_IMPORT_ERR_AMOUNT_TOO_LARGE, "amount_too_large");
    day.lines[0].amount = 10000; /* exactly the largest: imported */
    balance = 0;
    free(document);
    document = camt_document(&day, 2, &balance, ACCOUNT_NO);
    import_ok(ledger, document, RECON_FORMAT_CAMT053, &result);
    ck_assert_uint_eq(result.total.booked, 1);
    recon_import_result_free(&result);
    free(document);
    ledger_close(ledger);
}
END_TEST

/* Runs a statement as superuser that returns no rows. */
static void super_command(const char *sql)
{
    PGconn *conn = fixture_super(&fx);
    PGresult *result = PQexec(conn, sql);
    ck_assert_msg(PQresultStatus(result) == PGRES_COMMAND_OK, "%s: %s", sql,
                  PQresultErrorMessage(result));
    PQclear(result);
    PQfinish(conn);
}

/* Imports one statement with one credit nobody can identify: a suspense
 * line; returns its id. */
static long long suspense_line_imported(struct ledger *ledger)
{
    struct gen_day day = {0};
    struct gen_line *l = next_line(&day, 2, 'S', 'R', 0);
    l->amount = 700;
    snprintf(l->name, sizeof l->name, "Somebody");
    snprintf(l->remittance, sizeof l->remittance, "no reference");
    long long balance = 0;
    char *document = camt_document(&day, 2, &balance, ACCOUNT_NO);
    struct recon_import_result result;
    import_ok(ledger, document, RECON_FORMAT_CAMT053, &result);
    ck_assert_uint_eq(result.total.suspense, 1);
    recon_import_result_free(&result);
    free(document);
    return query_int("SELECT id FROM statement_lines WHERE status = 'suspense'");
}

/* The importer's own keys are out of every client's reach: a clerk who
 * sends a request first under the very key a statement's line will book
 * with (recon:<bank account>:<hash of the line>:<n>) gets a booking of its
 * own, and the statement still imports. (Before: one key space, and the
 * line failed with idempotency_conflict, refusing the file.) The key is
 * learnt from an import into a first database, then taken in a second. */
START_TEST(client_key_cannot_block_a_statement)
{
    struct ledger *ledger = fixture_ledger(&fx);
    suspense_line_imported(ledger);
    char *key = fixture_query(&fx, "SELECT key FROM idempotency WHERE operation = 'statement'");
    ck_assert_msg(strncmp(key, "recon:", 6) == 0, "importer key %s", key);
    ledger_close(ledger);
    teardown();
    setup();
    ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, "(2024)K9", NULL);
    struct ledger_receipt_request receipt = {.case_no = "(2024)K9",
                                             .amount_minor = 100,
                                             .payer = "Clerk",
                                             .bank_ref = "K9",
                                             .value_date_days = LEDGER_VALUE_DATE_NONE};
    struct ledger_booking booking;
    ck_assert_int_eq(ledger_receipt(ledger, "clerk1", &receipt, key, &booking), LEDGER_OK);
    suspense_line_imported(ledger); /* asserts the import and its suspense line */
    ck_assert_int_eq(query_int("SELECT count(*) FROM entries WHERE kind = 'suspense_receipt'"), 1);
    free(key);
    ledger_close(ledger);
}
END_TEST

/* Assigning the suspense receipt of a statement line by its entry (the
 * command line's `assign --entry SEQ`) goes through the line: the line is
 * marked in the same transaction and leaves the exceptions queue. (Before:
 * the receipt was assigned and its line stayed in the queue.) */
START_TEST(assign_by_entry_marks_its_line)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, "(2024)A1", NULL);
    long long line_id = suspense_line_imported(ledger);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT entry_seq FROM statement_lines WHERE id = %lld", line_id);
    int64_t suspense_seq = query_int(sql);
    struct ledger_booking booking;
    ck_assert_int_eq(
        ledger_assign_suspense(ledger, "clerk1", suspense_seq, "(2024)A1", "by-entry", &booking),
        LEDGER_OK);
    snprintf(sql, sizeof sql, "SELECT assigned_seq FROM statement_lines WHERE id = %lld", line_id);
    ck_assert_int_eq(query_int(sql), booking.seq);
    ck_assert_int_eq(
        ledger_assign_suspense(ledger, "clerk1", suspense_seq, "(2024)A1", "by-entry", &booking),
        LEDGER_OK);
    ck_assert(booking.replayed);
    ck_assert_int_eq(query_int("SELECT count(*) FROM entries WHERE kind = 'assign'"), 1);
    ledger_close(ledger);
}
END_TEST

/* Assigning a suspense line books the assignment and marks the line in
 * one transaction: when marking the line fails after the booking (here a
 * trigger refuses the update; or the line was assigned meanwhile), no
 * assignment is booked, and a retry with the same key books it once. */
START_TEST(assign_is_one_transaction)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, "(2024)A1", NULL);
    long long line_id = suspense_line_imported(ledger);
    super_command("CREATE FUNCTION test_refuse_assign() RETURNS trigger LANGUAGE plpgsql AS "
                  "$$BEGIN RAISE EXCEPTION 'test: line update refused'; END$$");
    super_command("CREATE TRIGGER test_refuse_assign BEFORE UPDATE OF assigned_seq "
                  "ON statement_lines FOR EACH ROW EXECUTE FUNCTION test_refuse_assign()");
    char *before = fixture_books_digest(&fx);
    struct ledger_booking booking;
    ck_assert_int_ne(
        ledger_statement_line_assign(ledger, "clerk1", line_id, "(2024)A1", "assign-1", &booking),
        LEDGER_OK);
    char *after = fixture_books_digest(&fx);
    ck_assert_str_eq(before, after);
    ck_assert_int_eq(query_int("SELECT count(*) FROM entries WHERE kind = 'assign'"), 0);
    free(after);
    super_command("DROP TRIGGER test_refuse_assign ON statement_lines");

    /* assigned meanwhile (to the suspense receipt itself, as a stand-in) */
    super_command("UPDATE statement_lines SET assigned_seq = entry_seq WHERE status = 'suspense'");
    ck_assert_int_eq(
        ledger_statement_line_assign(ledger, "clerk1", line_id, "(2024)A1", "assign-1", &booking),
        LEDGER_ERR_BAD_STATE);
    after = fixture_books_digest(&fx);
    ck_assert_str_eq(before, after);
    free(after);
    free(before);
    super_command("UPDATE statement_lines SET assigned_seq = NULL WHERE status = 'suspense'");

    /* the same key again, nothing in the way: booked once, the line marked */
    ck_assert_int_eq(
        ledger_statement_line_assign(ledger, "clerk1", line_id, "(2024)A1", "assign-1", &booking),
        LEDGER_OK);
    ck_assert(!booking.replayed);
    int64_t seq = booking.seq;
    ck_assert_int_eq(query_int("SELECT assigned_seq FROM statement_lines WHERE status = "
                               "'suspense'"),
                     seq);
    ck_assert_int_eq(
        ledger_statement_line_assign(ledger, "clerk1", line_id, "(2024)A1", "assign-1", &booking),
        LEDGER_OK);
    ck_assert(booking.replayed);
    ck_assert_int_eq(booking.seq, seq);
    ck_assert_int_eq(query_int("SELECT count(*) FROM entries WHERE kind = 'assign'"), 1);
    struct ledger_case_info a1;
    ck_assert_int_eq(ledger_case_info(ledger, "(2024)A1", &a1), LEDGER_OK);
    ck_assert_int_eq(a1.held, 700);
    ledger_close(ledger);
}
END_TEST

Suite *import_db_suite(void)
{
    Suite *suite = suite_create("import_db");
    TCase *story = tcase_create("scenario");
    tcase_add_checked_fixture(story, setup, teardown);
    tcase_set_timeout(story, 600);
    tcase_add_test(story, scenario_thirty_days);
    suite_add_tcase(suite, story);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_set_timeout(errors, 120);
    tcase_add_test(errors, refusals_book_nothing);
    tcase_add_test(errors, collective_receipts_and_late_refusal);
    tcase_add_test(errors, payout_paid_in_parts);
    tcase_add_test(errors, payout_in_parts_then_settled_or_returned);
    tcase_add_test(errors, sent_lines_failure_is_not_lost);
    tcase_add_test(errors, sessions_do_not_jit);
    tcase_add_test(errors, refused_statement_reports_its_cause);
    tcase_add_test(errors, older_schema_is_refused_at_open);
    tcase_add_test(errors, ambiguous_and_exceptions_explained);
    tcase_add_test(errors, assign_is_one_transaction);
    tcase_add_test(errors, assign_by_entry_marks_its_line);
    tcase_add_test(errors, client_key_cannot_block_a_statement);
    tcase_add_test(errors, huge_line_refuses_the_file);
    suite_add_tcase(suite, errors);
    return suite;
}

int main(void)
{
    fixture_drop_leftovers("import"); /* what failed tests of earlier runs left */
    SRunner *runner = srunner_create(import_db_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Integration suite for the ledger's operations on a real PostgreSQL: every
 * operation with the balances read back (ledger_case_info and SQL sums),
 * every refusal leaving the books untouched, idempotent replays, the rules
 * the database enforces by itself (as caseledger_app and as superuser), and
 * verification of the whole chain at the end of a story.
 *
 * Each test gets a fresh migrated database (checked fixture: it runs in the
 * forked test process), so tests never see each other's bookings and seq
 * numbers start at 1.
 *
 * Sign convention (ledger.h): debit positive, credit negative; a case
 * account holds held = -balance. */
#include <check.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db_fixture.h"
#include "ledger.h"
#include "payin.h"

Suite *ledger_db_suite(void);

#define ROWS(table) ((int)(sizeof(table) / sizeof((table)[0])))
#define TEST_TIMEOUT_S 60
#define SQL_SIZE 2048

static struct fixture fx;

/* Each test's database is named after this runner
 * ("cltest_ledger_RUNNER_TEST"); main() sweeps what failed tests left
 * (fixture_drop_leftovers). */
static pid_t runner_pid;

static void setup(void)
{
    char name[32];
    snprintf(name, sizeof name, "ledger_%ld", (long)runner_pid);
    fixture_setup(&fx, name);
}

static void teardown(void)
{
    fixture_teardown(&fx);
}

/* ---- SQL helpers (superuser, through the fixture) ------------------------ */

static void format_sql(char sql[SQL_SIZE], const char *format, va_list args)
    __attribute__((format(printf, 2, 0)));
static void format_sql(char sql[SQL_SIZE], const char *format, va_list args)
{
    int written = vsnprintf(sql, SQL_SIZE, format, args);
    ck_assert(written > 0 && written < SQL_SIZE);
}

/* The first column of the first row, as a new string; free() it. */
static char *query_text(const char *format, ...) __attribute__((format(printf, 1, 2)));
static char *query_text(const char *format, ...)
{
    char sql[SQL_SIZE];
    va_list args;
    va_start(args, format);
    format_sql(sql, format, args);
    va_end(args);
    return fixture_query(&fx, sql);
}

static long long query_int(const char *format, ...) __attribute__((format(printf, 1, 2)));
static long long query_int(const char *format, ...)
{
    char sql[SQL_SIZE];
    va_list args;
    va_start(args, format);
    format_sql(sql, format, args);
    va_end(args);
    return fixture_query_int(&fx, sql);
}

#define EXPECT_QUERY_TEXT(expected, ...)                                                           \
    do {                                                                                           \
        char *text_ = query_text(__VA_ARGS__);                                                     \
        ck_assert_msg(strcmp(text_, (expected)) == 0, "line %d: got \"%s\", want \"%s\"",          \
                      __LINE__, text_, (expected));                                                \
        free(text_);                                                                               \
    } while (0)

static long long entries_count(void)
{
    return query_int("SELECT count(*) FROM entries");
}

static long long balance_of(int64_t account_id)
{
    return query_int("SELECT balance FROM accounts WHERE id = %lld", (long long)account_id);
}

static int64_t system_account(const char *kind)
{
    return query_int("SELECT id FROM accounts WHERE kind = '%s' AND currency = 'CNY'", kind);
}

/* ---- libpq helpers (any role) ------------------------------------------ */

static PGconn *connect_app(void)
{
    PGconn *conn = PQconnectdb(fx.app_dsn);
    ck_assert_msg(PQstatus(conn) == CONNECTION_OK, "app connection: %s", PQerrorMessage(conn));
    return conn;
}

/* Runs one statement; asserts that it ends with SQLSTATE `expected`
 * ("00000": it succeeds). */
static void sql_expect(int line, PGconn *conn, const char *expected, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
static void sql_expect(int line, PGconn *conn, const char *expected, const char *format, ...)
{
    char sql[SQL_SIZE];
    va_list args;
    va_start(args, format);
    format_sql(sql, format, args);
    va_end(args);
    PGresult *result = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(result);
    const char *state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    const char *got = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? "00000"
                      : state != NULL                                         ? state
                                                                              : "?????";
    ck_assert_msg(strcmp(got, expected) == 0, "line %d: %s: SQLSTATE %s (%s), want %s", line, sql,
                  got, PQresultErrorMessage(result), expected);
    PQclear(result);
}
#define EXPECT_SQL(conn, expected, ...) sql_expect(__LINE__, conn, expected, __VA_ARGS__)

/* ---- ledger helpers ------------------------------------------------------ */

#define EXPECT_OK(ledger, ...)                                                                     \
    do {                                                                                           \
        enum ledger_err err_ = (__VA_ARGS__);                                                      \
        ck_assert_msg(err_ == LEDGER_OK, "line %d: %s: %s (%s)", __LINE__, #__VA_ARGS__,           \
                      ledger_err_code(err_), ledger_last_detail(ledger));                          \
    } while (0)

/* The call fails with `expected` and the books are exactly as before. */
#define EXPECT_REFUSED(ledger, expected, ...)                                                      \
    do {                                                                                           \
        char *before_ = fixture_books_digest(&fx);                                                 \
        enum ledger_err err_ = (__VA_ARGS__);                                                      \
        char *after_ = fixture_books_digest(&fx);                                                  \
        ck_assert_msg(err_ == (expected), "line %d: %s: got %s (%s), want %s", __LINE__,           \
                      #__VA_ARGS__, ledger_err_code(err_), ledger_last_detail(ledger),             \
                      ledger_err_code(expected));                                                  \
        ck_assert_msg(strcmp(before_, after_) == 0, "line %d: books changed by refused %s",        \
                      __LINE__, #__VA_ARGS__);                                                     \
        free(before_);                                                                             \
        free(after_);                                                                              \
    } while (0)

#define EXPECT_BOOKS_UNCHANGED(before)                                                             \
    do {                                                                                           \
        char *after_ = fixture_books_digest(&fx);                                                  \
        ck_assert_msg(strcmp((before), after_) == 0, "line %d: books changed", __LINE__);          \
        free(after_);                                                                              \
    } while (0)

#define EXPECT_STATUS(disbursement_id, expected)                                                   \
    EXPECT_QUERY_TEXT(expected, "SELECT status FROM disbursements WHERE id = %lld",                \
                      (long long)(disbursement_id))

static struct ledger_receipt_request receipt_to(const char *case_no, int64_t amount_minor,
                                                const char *bank_ref)
{
    return (struct ledger_receipt_request){.case_no = case_no,
                                           .amount_minor = amount_minor,
                                           .bank_ref = bank_ref,
                                           .value_date_days = LEDGER_VALUE_DATE_NONE};
}

static struct ledger_disbursement_request payout_of(const char *case_no, int64_t amount_minor)
{
    return (struct ledger_disbursement_request){.case_no = case_no,
                                                .amount_minor = amount_minor,
                                                .payee_name = "张三",
                                                .payee_account = "6222020200112233445",
                                                .payee_bank = "Test Bank",
                                                .purpose = "judgment payout"};
}

static struct ledger_booking receipt_at(int line, struct ledger *ledger, const char *case_no,
                                        int64_t amount_minor, const char *key)
{
    struct ledger_receipt_request request = receipt_to(case_no, amount_minor, key);
    struct ledger_booking booking;
    enum ledger_err err = ledger_receipt(ledger, "clerk1", &request, key, &booking);
    ck_assert_msg(err == LEDGER_OK, "line %d: receipt %s: %s (%s)", line, key, ledger_err_code(err),
                  ledger_last_detail(ledger));
    ck_assert_msg(!booking.replayed, "line %d: receipt %s replayed", line, key);
    return booking;
}
#define RECEIPT(ledger, case_no, amount, key) receipt_at(__LINE__, ledger, case_no, amount, key)

static int64_t request_at(int line, struct ledger *ledger, const char *case_no,
                          int64_t amount_minor, const char *key)
{
    struct ledger_disbursement_request request = payout_of(case_no, amount_minor);
    int64_t id = 0;
    bool replayed = true;
    enum ledger_err err =
        ledger_disbursement_request(ledger, "clerk1", &request, key, &id, &replayed);
    ck_assert_msg(err == LEDGER_OK, "line %d: request %s: %s (%s)", line, key, ledger_err_code(err),
                  ledger_last_detail(ledger));
    ck_assert_msg(!replayed && id > 0, "line %d: request %s", line, key);
    return id;
}
#define REQUEST(ledger, case_no, amount, key) request_at(__LINE__, ledger, case_no, amount, key)

static int64_t transfer_at(int line, struct ledger *ledger, const char *from, const char *to,
                           int64_t amount_minor, const char *key)
{
    int64_t id = 0;
    bool replayed = true;
    enum ledger_err err = ledger_transfer_request(ledger, "clerk1", from, to, amount_minor,
                                                  "booked to the wrong case", key, &id, &replayed);
    ck_assert_msg(err == LEDGER_OK, "line %d: transfer %s: %s (%s)", line, key,
                  ledger_err_code(err), ledger_last_detail(ledger));
    ck_assert_msg(!replayed && id > 0, "line %d: transfer %s", line, key);
    return id;
}
#define TRANSFER(ledger, from, to, amount, key) transfer_at(__LINE__, ledger, from, to, amount, key)

static struct ledger_booking approve_at(int line, struct ledger *ledger, const char *actor,
                                        int64_t id, const char *key)
{
    struct ledger_booking booking;
    enum ledger_err err = ledger_disbursement_approve(ledger, actor, id, key, &booking);
    ck_assert_msg(err == LEDGER_OK, "line %d: approve %s: %s (%s)", line, key, ledger_err_code(err),
                  ledger_last_detail(ledger));
    ck_assert_msg(!booking.replayed, "line %d: approve %s replayed", line, key);
    return booking;
}
#define APPROVE(ledger, id, key) approve_at(__LINE__, ledger, "approver1", id, key)

static struct ledger_booking settle_at(int line, struct ledger *ledger, int64_t id, const char *key)
{
    struct ledger_booking booking;
    enum ledger_err err =
        ledger_disbursement_settle(ledger, "bank1", id, key, LEDGER_VALUE_DATE_NONE, key, &booking);
    ck_assert_msg(err == LEDGER_OK, "line %d: settle %s: %s (%s)", line, key, ledger_err_code(err),
                  ledger_last_detail(ledger));
    return booking;
}
#define SETTLE(ledger, id, key) settle_at(__LINE__, ledger, id, key)

/* Checks a case's figures through ledger_case_info, and the same money
 * through SQL: the cached balance, the sum of its postings, and the sum of
 * its requested disbursements. */
static void expect_case_at(int line, struct ledger *ledger, const char *case_no, int64_t held,
                           int64_t pending_out, int64_t received_total, int64_t disbursed_total)
{
    struct ledger_case_info info;
    enum ledger_err err = ledger_case_info(ledger, case_no, &info);
    ck_assert_msg(err == LEDGER_OK, "line %d: case info %s: %s", line, case_no,
                  ledger_err_code(err));
    ck_assert_msg(info.held == held, "line %d: %s held %lld, want %lld", line, case_no,
                  (long long)info.held, (long long)held);
    ck_assert_msg(info.pending_out == pending_out, "line %d: %s pending_out %lld, want %lld", line,
                  case_no, (long long)info.pending_out, (long long)pending_out);
    ck_assert_msg(info.available == held - pending_out, "line %d: %s available %lld, want %lld",
                  line, case_no, (long long)info.available, (long long)(held - pending_out));
    ck_assert_msg(info.received_total == received_total,
                  "line %d: %s received_total %lld, want %lld", line, case_no,
                  (long long)info.received_total, (long long)received_total);
    ck_assert_msg(info.disbursed_total == disbursed_total,
                  "line %d: %s disbursed_total %lld, want %lld", line, case_no,
                  (long long)info.disbursed_total, (long long)disbursed_total);
    long long id = (long long)info.account_id;
    long long cached = query_int("SELECT -balance FROM accounts WHERE id = %lld", id);
    long long posted =
        query_int("SELECT coalesce(-sum(amount), 0) FROM postings WHERE account_id = %lld", id);
    long long requested = query_int("SELECT coalesce(sum(amount), 0) FROM disbursements "
                                    "WHERE account_id = %lld AND status = 'requested'",
                                    id);
    ck_assert_msg(cached == held && posted == held, "line %d: %s SQL held %lld / %lld, want %lld",
                  line, case_no, cached, posted, (long long)held);
    ck_assert_msg(requested == pending_out, "line %d: %s SQL pending %lld, want %lld", line,
                  case_no, requested, (long long)pending_out);
}
#define EXPECT_CASE(ledger, case_no, held, pending_out, received, disbursed)                       \
    expect_case_at(__LINE__, ledger, case_no, held, pending_out, received, disbursed)

static void hash_hex(char out[2 * LEDGER_HASH_SIZE + 1], const uint8_t hash[LEDGER_HASH_SIZE])
{
    ledger_to_hex(out, hash, LEDGER_HASH_SIZE);
}

/* The booking's hash is the stored hash of its entry. */
static void expect_entry_hash(const struct ledger_booking *booking)
{
    char hex[2 * LEDGER_HASH_SIZE + 1];
    hash_hex(hex, booking->hash);
    EXPECT_QUERY_TEXT(hex, "SELECT encode(hash, 'hex') FROM entries WHERE seq = %lld",
                      (long long)booking->seq);
}

/* The money in the books adds up: all balances sum to zero, and the bank
 * holds what the cases, suspense and in-transit hold together. */
static void expect_books_balance(void)
{
    ck_assert_int_eq(query_int("SELECT coalesce(sum(balance), 0) FROM accounts"), 0);
    ck_assert_int_eq(query_int("SELECT count(*) FROM (SELECT entry_seq FROM postings "
                               "GROUP BY entry_seq HAVING sum(amount) <> 0) AS u"),
                     0);
}

/* ======================================================================== */
/* cases                                                                    */
/* ======================================================================== */

static const char case_one[] = "(2024)沪0115执1号";
static const char case_one_full_width[] = "（2024）沪0115执1号";
static const char case_two[] = "(2024)沪0115执2号";
static const char case_three[] = "(2024)沪0115执3号";

static void expect_payin_valid(const char *payin_no)
{
    ck_assert_uint_eq(strlen(payin_no), LEDGER_PAYIN_DIGITS);
    for (size_t i = 0; i < LEDGER_PAYIN_DIGITS; i++)
        ck_assert_msg(isdigit((unsigned char)payin_no[i]), "pay-in %s: not a digit", payin_no);
    unsigned long long value = strtoull(payin_no, NULL, 10);
    /* ISO 7064 MOD 97-10: the whole number is 1 modulo 97, and the check
     * digits are 98 - (body * 100 mod 97). */
    ck_assert_uint_eq(value % 97, 1);
    unsigned long long body = value / 100;
    ck_assert_uint_eq(value % 100, 98 - (body * 100) % 97);
}

static void lower_case(char *text)
{
    for (; *text; text++)
        *text = (char)tolower((unsigned char)*text);
}

static void drop_dashes(char *out, const char *text)
{
    for (; *text; text++)
        if (*text != '-')
            *out++ = *text;
    *out = '\0';
}

static void expect_access_code_forms(struct ledger *ledger, const char *code)
{
    char lower[LEDGER_ACCESS_CODE_TEXT_SIZE];
    char compact[LEDGER_ACCESS_CODE_TEXT_SIZE];
    char wrong[LEDGER_ACCESS_CODE_TEXT_SIZE];
    ck_assert_uint_eq(strlen(code), 19);
    ck_assert(code[4] == '-' && code[9] == '-' && code[14] == '-');
    ck_assert(ledger_case_access_check(ledger, case_one, code));
    snprintf(lower, sizeof lower, "%s", code);
    lower_case(lower);
    ck_assert(ledger_case_access_check(ledger, case_one, lower));
    drop_dashes(compact, code);
    ck_assert_uint_eq(strlen(compact), 16);
    ck_assert(ledger_case_access_check(ledger, case_one, compact));
    lower_case(compact);
    ck_assert(ledger_case_access_check(ledger, case_one, compact));
    ck_assert(ledger_case_access_check(ledger, case_one_full_width, code));
    /* One character off, one character short, another case, no case. */
    snprintf(wrong, sizeof wrong, "%s", code);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    ck_assert(!ledger_case_access_check(ledger, case_one, wrong));
    snprintf(wrong, sizeof wrong, "%.18s", code);
    ck_assert(!ledger_case_access_check(ledger, case_one, wrong));
    ck_assert(!ledger_case_access_check(ledger, case_one, ""));
    ck_assert(!ledger_case_access_check(ledger, "(2024)沪0115执999号", code));
}

START_TEST(case_open_and_find)
{
    struct ledger *ledger = fixture_ledger(&fx);
    struct ledger_applicant applicants[2] = {
        {.name = "张三", .id_no = "310101199001011234", .phone = "13800000000"},
        {.name = "李四"},
    };
    struct ledger_case_request request = {.case_no = case_one,
                                          .court = "上海市徐汇区人民法院",
                                          .title = "张三、李四申请执行王五",
                                          .applicants_count = 2,
                                          .applicants = applicants};
    struct ledger_case_result result;
    EXPECT_OK(ledger, ledger_case_open(ledger, "clerk1", &request, "open-1", &result));
    ck_assert(!result.replayed);
    ck_assert_int_gt(result.account_id, 0);
    expect_payin_valid(result.payin_no);
    ck_assert_int_eq(entries_count(), 0); /* opening a case books nothing */

    EXPECT_QUERY_TEXT(case_one, "SELECT case_no FROM accounts WHERE id = %lld",
                      (long long)result.account_id);
    EXPECT_QUERY_TEXT("open", "SELECT status FROM accounts WHERE id = %lld",
                      (long long)result.account_id);
    ck_assert_int_eq(query_int("SELECT count(*) FROM applicants WHERE account_id = %lld",
                               (long long)result.account_id),
                     2);

    struct ledger_case_info info;
    EXPECT_OK(ledger, ledger_case_info(ledger, case_one, &info));
    ck_assert_int_eq(info.account_id, result.account_id);
    ck_assert_str_eq(info.case_no, case_one);
    ck_assert_str_eq(info.payin_no, result.payin_no);
    ck_assert_str_eq(info.status, "open");
    ck_assert_str_eq(info.currency, "CNY");
    EXPECT_CASE(ledger, case_one, 0, 0, 0, 0);

    /* Full-width, spaced and 〔〕 forms are the same case. */
    static const char *const forms[] = {case_one_full_width, " (2024) 沪0115执1号 ",
                                        "〔2024〕沪0115执1号", "【2024】沪0115执1号"};
    for (int i = 0; i < ROWS(forms); i++) {
        struct ledger_case_info other;
        EXPECT_OK(ledger, ledger_case_info(ledger, forms[i], &other));
        ck_assert_int_eq(other.account_id, result.account_id);
    }
    EXPECT_OK(ledger, ledger_case_info_by_payin(ledger, result.payin_no, &info));
    ck_assert_int_eq(info.account_id, result.account_id);

    expect_access_code_forms(ledger, result.access_code);

    /* A second case: another pay-in number, and its code does not open the first. */
    char code_two[LEDGER_ACCESS_CODE_TEXT_SIZE];
    int64_t id_two = fixture_open_case(ledger, case_two, code_two);
    struct ledger_case_info info_two;
    EXPECT_OK(ledger, ledger_case_info(ledger, case_two, &info_two));
    ck_assert_int_eq(info_two.account_id, id_two);
    expect_payin_valid(info_two.payin_no);
    ck_assert_str_ne(info_two.payin_no, result.payin_no);
    ck_assert(ledger_case_access_check(ledger, case_two, code_two));
    ck_assert(!ledger_case_access_check(ledger, case_one, code_two));
    ck_assert(!ledger_case_access_check(ledger, case_two, result.access_code));
    ledger_close(ledger);
}
END_TEST

START_TEST(case_exists_refused)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    struct ledger_applicant applicant = {.name = "王五"};
    struct ledger_case_request request = {.case_no = case_one,
                                          .court = "Another Court",
                                          .applicants_count = 1,
                                          .applicants = &applicant};
    struct ledger_case_result result;
    EXPECT_REFUSED(ledger, LEDGER_ERR_CASE_EXISTS,
                   ledger_case_open(ledger, "clerk1", &request, "open-again", &result));
    ck_assert_str_eq(result.access_code, "");
    request.case_no = case_one_full_width;
    EXPECT_REFUSED(ledger, LEDGER_ERR_CASE_EXISTS,
                   ledger_case_open(ledger, "clerk2", &request, "open-full-width", &result));
    request.case_no = "(2024)沪0115执1号 ";
    EXPECT_REFUSED(ledger, LEDGER_ERR_CASE_EXISTS,
                   ledger_case_open(ledger, "clerk2", &request, "open-spaced", &result));
    ck_assert_int_eq(query_int("SELECT count(*) FROM accounts WHERE kind = 'case'"), 1);
    ledger_close(ledger);
}
END_TEST

/* ======================================================================== */
/* receipts                                                                 */
/* ======================================================================== */

START_TEST(receipt_by_case_no)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = fixture_open_case(ledger, case_one, NULL);
    struct ledger_booking first = RECEIPT(ledger, case_one, 150000, "r-1");
    ck_assert_int_eq(first.seq, 1);
    ck_assert_int_eq(first.account_id, case_id);
    ck_assert_int_eq(first.amount_minor, 150000);
    expect_entry_hash(&first);
    EXPECT_CASE(ledger, case_one, 150000, 0, 150000, 0);
    ck_assert_int_eq(balance_of(fx.bank_account_id), 150000);
    EXPECT_QUERY_TEXT("receipt", "SELECT kind FROM entries WHERE seq = 1");
    EXPECT_QUERY_TEXT("r-1", "SELECT bank_ref FROM entries WHERE seq = 1");
    ck_assert_int_eq(query_int("SELECT amount FROM postings WHERE entry_seq = 1 AND "
                               "account_id = %lld",
                               (long long)fx.bank_account_id),
                     150000);
    ck_assert_int_eq(query_int("SELECT amount FROM postings WHERE entry_seq = 1 AND "
                               "account_id = %lld",
                               (long long)case_id),
                     -150000);

    /* By its full-width form: the same case. */
    struct ledger_booking second = RECEIPT(ledger, case_one_full_width, 50000, "r-2");
    ck_assert_int_eq(second.seq, 2);
    ck_assert_int_eq(second.account_id, case_id);
    expect_entry_hash(&second);
    EXPECT_CASE(ledger, case_one, 200000, 0, 200000, 0);
    ck_assert_int_eq(balance_of(fx.bank_account_id), 200000);
    ck_assert_int_eq(entries_count(), 2);
    expect_books_balance();
    ledger_close(ledger);
}
END_TEST

START_TEST(receipt_by_payin_no)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = fixture_open_case(ledger, case_one, NULL);
    fixture_open_case(ledger, case_two, NULL);
    struct ledger_case_info info;
    EXPECT_OK(ledger, ledger_case_info(ledger, case_one, &info));

    int32_t value_date = 0;
    EXPECT_OK(ledger, ledger_date_parse(&value_date, "2024-03-01"));
    struct ledger_receipt_request request = {.payin_no = info.payin_no,
                                             .amount_minor = 12345,
                                             .payer = "王五",
                                             .bank_ref = "CMB20240301-0001",
                                             .value_date_days = value_date};
    struct ledger_booking booking;
    EXPECT_OK(ledger, ledger_receipt(ledger, "bank1", &request, "payin-1", &booking));
    ck_assert_int_eq(booking.account_id, case_id);
    ck_assert_int_eq(booking.seq, 1);
    EXPECT_CASE(ledger, case_one, 12345, 0, 12345, 0);
    EXPECT_CASE(ledger, case_two, 0, 0, 0, 0);
    EXPECT_QUERY_TEXT("2024-03-01", "SELECT value_date::text FROM entries WHERE seq = 1");
    EXPECT_QUERY_TEXT("payer: 王五", "SELECT memo FROM entries WHERE seq = 1");
    EXPECT_QUERY_TEXT("bank1", "SELECT actor FROM entries WHERE seq = 1");

    /* Written in groups of four, and together with its matching case number. */
    char grouped[32];
    snprintf(grouped, sizeof grouped, "%.4s %.4s-%.4s %.4s", info.payin_no, info.payin_no + 4,
             info.payin_no + 8, info.payin_no + 12);
    request = (struct ledger_receipt_request){.payin_no = grouped,
                                              .amount_minor = 100,
                                              .bank_ref = "CMB20240301-0002",
                                              .value_date_days = LEDGER_VALUE_DATE_NONE};
    EXPECT_OK(ledger, ledger_receipt(ledger, "clerk1", &request, "payin-2", &booking));
    ck_assert_int_eq(booking.account_id, case_id);
    request.payin_no = info.payin_no;
    request.case_no = case_one_full_width;
    request.bank_ref = "CMB20240301-0003";
    EXPECT_OK(ledger, ledger_receipt(ledger, "clerk1", &request, "payin-3", &booking));
    EXPECT_CASE(ledger, case_one, 12545, 0, 12545, 0);

    /* A pay-in number and a case number naming different cases. */
    request.case_no = case_two;
    request.bank_ref = "CMB20240301-0004";
    EXPECT_REFUSED(ledger, LEDGER_ERR_INVALID_ARGUMENT,
                   ledger_receipt(ledger, "clerk1", &request, "payin-4", &booking));
    ck_assert_int_eq(balance_of(fx.bank_account_id), 12545);
    ledger_close(ledger);
}
END_TEST

START_TEST(receipt_suspense_and_assign)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = fixture_open_case(ledger, case_one, NULL);
    fixture_open_case(ledger, case_two, NULL);
    int64_t suspense = system_account("suspense");
    struct ledger_receipt_request request = {.amount_minor = 7000,
                                             .payer = "unknown payer",
                                             .bank_ref = "UNIDENTIFIED-1",
                                             .value_date_days = LEDGER_VALUE_DATE_NONE};
    struct ledger_booking received;
    EXPECT_OK(ledger, ledger_receipt(ledger, "clerk1", &request, "suspense-1", &received));
    ck_assert_int_eq(received.seq, 1);
    ck_assert_int_eq(received.account_id, suspense);
    EXPECT_QUERY_TEXT("suspense_receipt", "SELECT kind FROM entries WHERE seq = 1");
    ck_assert_int_eq(balance_of(suspense), -7000);
    ck_assert_int_eq(balance_of(fx.bank_account_id), 7000);
    EXPECT_CASE(ledger, case_one, 0, 0, 0, 0);

    struct ledger_booking assigned;
    EXPECT_OK(ledger, ledger_assign_suspense(ledger, "clerk2", received.seq, case_one_full_width,
                                             "assign-1", &assigned));
    ck_assert_int_eq(assigned.seq, 2);
    ck_assert_int_eq(assigned.account_id, case_id);
    ck_assert_int_eq(assigned.amount_minor, 7000);
    expect_entry_hash(&assigned);
    EXPECT_QUERY_TEXT("assign", "SELECT kind FROM entries WHERE seq = 2");
    ck_assert_int_eq(query_int("SELECT reverses_seq FROM entries WHERE seq = 2"), 1);
    ck_assert_int_eq(balance_of(suspense), 0);
    ck_assert_int_eq(balance_of(fx.bank_account_id), 7000);
    EXPECT_CASE(ledger, case_one, 7000, 0, 7000, 0);

    /* Not twice: neither to another case nor to the same one. */
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_BAD_STATE,
        ledger_assign_suspense(ledger, "clerk1", received.seq, case_two, "assign-2", &assigned));
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_BAD_STATE,
        ledger_assign_suspense(ledger, "clerk1", received.seq, case_one, "assign-3", &assigned));
    /* Nor an entry that is not a suspense receipt, nor one that does not exist. */
    struct ledger_booking plain = RECEIPT(ledger, case_two, 500, "r-plain");
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_BAD_STATE,
        ledger_assign_suspense(ledger, "clerk1", plain.seq, case_one, "assign-4", &assigned));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_ENTRY,
                   ledger_assign_suspense(ledger, "clerk1", 999, case_one, "assign-5", &assigned));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_CASE,
                   ledger_assign_suspense(ledger, "clerk1", received.seq, "(2024)沪0115执999号",
                                          "assign-6", &assigned));
    /* The assigned suspense receipt is no longer reversible on its own. */
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_ALREADY_REVERSED,
        ledger_reverse(ledger, "approver1", received.seq, "duplicate", "rev-s", &assigned));
    EXPECT_CASE(ledger, case_one, 7000, 0, 7000, 0);
    EXPECT_CASE(ledger, case_two, 500, 0, 500, 0);
    expect_books_balance();
    ledger_close(ledger);
}
END_TEST

/* ======================================================================== */
/* disbursements                                                            */
/* ======================================================================== */

START_TEST(payout_approve_settle)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = fixture_open_case(ledger, case_one, NULL);
    int64_t in_transit = system_account("in_transit");
    RECEIPT(ledger, case_one, 100000, "r-1");
    int64_t id = REQUEST(ledger, case_one, 30000, "d-1");
    EXPECT_STATUS(id, "requested");
    ck_assert_int_eq(entries_count(), 1); /* a request books nothing */
    EXPECT_CASE(ledger, case_one, 100000, 30000, 100000, 0);

    struct ledger_booking approved = APPROVE(ledger, id, "a-1");
    ck_assert_int_eq(approved.seq, 2);
    ck_assert_int_eq(approved.account_id, case_id);
    ck_assert_int_eq(approved.amount_minor, 30000);
    expect_entry_hash(&approved);
    EXPECT_STATUS(id, "approved");
    EXPECT_QUERY_TEXT("approver1", "SELECT decided_by FROM disbursements WHERE id = %lld",
                      (long long)id);
    ck_assert_int_eq(
        query_int("SELECT approve_seq FROM disbursements WHERE id = %lld", (long long)id), 2);
    EXPECT_QUERY_TEXT("disbursement", "SELECT kind FROM entries WHERE seq = 2");
    EXPECT_CASE(ledger, case_one, 70000, 0, 100000, 30000);
    ck_assert_int_eq(balance_of(in_transit), -30000);
    ck_assert_int_eq(balance_of(fx.bank_account_id), 100000);

    struct ledger_booking settled = SETTLE(ledger, id, "PAY-1");
    ck_assert_int_eq(settled.seq, 3);
    expect_entry_hash(&settled);
    EXPECT_STATUS(id, "paid");
    ck_assert_int_eq(
        query_int("SELECT settle_seq FROM disbursements WHERE id = %lld", (long long)id), 3);
    EXPECT_QUERY_TEXT("PAY-1", "SELECT bank_ref FROM disbursements WHERE id = %lld", (long long)id);
    EXPECT_QUERY_TEXT("settle", "SELECT kind FROM entries WHERE seq = 3");
    EXPECT_CASE(ledger, case_one, 70000, 0, 100000, 30000);
    ck_assert_int_eq(balance_of(in_transit), 0);
    ck_assert_int_eq(balance_of(fx.bank_account_id), 70000);
    ck_assert_int_eq(entries_count(), 3);
    expect_books_balance();
    ledger_close(ledger);
}
END_TEST

/* ledger.h: a booking's object_id is the disbursement id where there is
 * one, on the first answer as on a replay. */
START_TEST(booking_names_disbursement)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    RECEIPT(ledger, case_one, 10000, "r-1");
    int64_t paid = REQUEST(ledger, case_one, 1000, "d-1");
    int64_t returned = REQUEST(ledger, case_one, 2000, "d-2");
    ck_assert_int_ne(paid, returned);
    struct ledger_booking approved = APPROVE(ledger, paid, "a-1");
    ck_assert_int_eq(approved.object_id, paid);
    struct ledger_booking settled = SETTLE(ledger, paid, "PAY-1");
    ck_assert_int_eq(settled.object_id, paid);
    approved = APPROVE(ledger, returned, "a-2");
    ck_assert_int_eq(approved.object_id, returned);
    struct ledger_booking booking;
    EXPECT_OK(ledger, ledger_disbursement_return(ledger, "bank1", returned, "RET-1", NULL, "ret-1",
                                                 &booking));
    ck_assert_int_eq(booking.object_id, returned);
    ledger_close(ledger);
}
END_TEST

START_TEST(payout_returned)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = fixture_open_case(ledger, case_one, NULL);
    int64_t in_transit = system_account("in_transit");
    RECEIPT(ledger, case_one, 50000, "r-1");
    int64_t id = REQUEST(ledger, case_one, 20000, "d-1");
    APPROVE(ledger, id, "a-1");
    EXPECT_CASE(ledger, case_one, 30000, 0, 50000, 20000);
    ck_assert_int_eq(balance_of(in_transit), -20000);

    struct ledger_booking returned;
    EXPECT_OK(ledger, ledger_disbursement_return(ledger, "bank1", id, "RET-1",
                                                 "payee account closed", "ret-1", &returned));
    ck_assert_int_eq(returned.seq, 3);
    ck_assert_int_eq(returned.account_id, case_id);
    ck_assert_int_eq(returned.amount_minor, 20000);
    expect_entry_hash(&returned);
    EXPECT_STATUS(id, "returned");
    EXPECT_QUERY_TEXT("return", "SELECT kind FROM entries WHERE seq = 3");
    ck_assert_int_eq(
        query_int("SELECT return_seq FROM disbursements WHERE id = %lld", (long long)id), 3);
    EXPECT_CASE(ledger, case_one, 50000, 0, 50000, 0);
    ck_assert_int_eq(balance_of(in_transit), 0);
    ck_assert_int_eq(balance_of(fx.bank_account_id), 50000);

    /* Returned is final: neither settled nor returned again. */
    struct ledger_booking booking;
    EXPECT_REFUSED(ledger, LEDGER_ERR_BAD_STATE,
                   ledger_disbursement_settle(ledger, "bank1", id, "PAY-2", LEDGER_VALUE_DATE_NONE,
                                              "s-2", &booking));
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_BAD_STATE,
        ledger_disbursement_return(ledger, "bank1", id, "RET-2", NULL, "ret-2", &booking));
    /* The money is available again. */
    int64_t again = REQUEST(ledger, case_one, 50000, "d-2");
    APPROVE(ledger, again, "a-2");
    EXPECT_CASE(ledger, case_one, 0, 0, 50000, 50000);
    expect_books_balance();
    ledger_close(ledger);
}
END_TEST

START_TEST(payout_rejected)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    RECEIPT(ledger, case_one, 40000, "r-1");
    int64_t id = REQUEST(ledger, case_one, 25000, "d-1");
    EXPECT_CASE(ledger, case_one, 40000, 25000, 40000, 0);

    bool replayed = true;
    EXPECT_OK(ledger, ledger_disbursement_reject(ledger, "approver2", id, "documents missing",
                                                 "rej-1", &replayed));
    ck_assert(!replayed);
    EXPECT_STATUS(id, "rejected");
    EXPECT_QUERY_TEXT("approver2", "SELECT decided_by FROM disbursements WHERE id = %lld",
                      (long long)id);
    EXPECT_QUERY_TEXT("documents missing",
                      "SELECT reject_reason FROM disbursements WHERE id = %lld", (long long)id);
    ck_assert_int_eq(entries_count(), 1); /* a rejection books nothing */
    EXPECT_CASE(ledger, case_one, 40000, 0, 40000, 0);

    struct ledger_booking booking;
    EXPECT_REFUSED(ledger, LEDGER_ERR_BAD_STATE,
                   ledger_disbursement_approve(ledger, "approver1", id, "a-1", &booking));
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_BAD_STATE,
        ledger_disbursement_reject(ledger, "approver1", id, "again", "rej-2", &replayed));
    EXPECT_REFUSED(ledger, LEDGER_ERR_BAD_STATE,
                   ledger_disbursement_settle(ledger, "bank1", id, "PAY-1", LEDGER_VALUE_DATE_NONE,
                                              "s-1", &booking));
    /* The reservation is released: the whole amount can be requested. */
    int64_t all = REQUEST(ledger, case_one, 40000, "d-2");
    EXPECT_CASE(ledger, case_one, 40000, 40000, 40000, 0);
    APPROVE(ledger, all, "a-2");
    EXPECT_CASE(ledger, case_one, 0, 0, 40000, 40000);
    ledger_close(ledger);
}
END_TEST

START_TEST(payout_reservations)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    RECEIPT(ledger, case_one, 100000, "r-1");
    struct ledger_disbursement_request request = payout_of(case_one, 100001);
    int64_t id = 0;
    bool replayed = false;
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_INSUFFICIENT,
        ledger_disbursement_request(ledger, "clerk1", &request, "d-over", &id, &replayed));
    int64_t first = REQUEST(ledger, case_one, 60000, "d-1");
    EXPECT_CASE(ledger, case_one, 100000, 60000, 100000, 0);
    /* 50000 is below held but above what the pending 60000 leaves. */
    request.amount_minor = 50000;
    EXPECT_REFUSED(ledger, LEDGER_ERR_INSUFFICIENT,
                   ledger_disbursement_request(ledger, "clerk1", &request, "d-2", &id, &replayed));
    int64_t transfer_id = 0;
    fixture_open_case(ledger, case_two, NULL);
    EXPECT_REFUSED(ledger, LEDGER_ERR_INSUFFICIENT,
                   ledger_transfer_request(ledger, "clerk1", case_one, case_two, 40001, "move",
                                           "t-1", &transfer_id, &replayed));
    int64_t second = REQUEST(ledger, case_one, 40000, "d-3");
    EXPECT_CASE(ledger, case_one, 100000, 100000, 100000, 0);
    request.amount_minor = 1;
    EXPECT_REFUSED(ledger, LEDGER_ERR_INSUFFICIENT,
                   ledger_disbursement_request(ledger, "clerk1", &request, "d-4", &id, &replayed));
    APPROVE(ledger, second, "a-3");
    EXPECT_CASE(ledger, case_one, 60000, 60000, 100000, 40000);
    EXPECT_REFUSED(ledger, LEDGER_ERR_INSUFFICIENT,
                   ledger_disbursement_request(ledger, "clerk1", &request, "d-5", &id, &replayed));
    APPROVE(ledger, first, "a-1");
    EXPECT_CASE(ledger, case_one, 0, 0, 100000, 100000);
    ledger_close(ledger);
}
END_TEST

/* ======================================================================== */
/* transfers                                                                */
/* ======================================================================== */

START_TEST(transfer_approved)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t from_id = fixture_open_case(ledger, case_one, NULL);
    int64_t to_id = fixture_open_case(ledger, case_two, NULL);
    int64_t in_transit = system_account("in_transit");
    RECEIPT(ledger, case_one, 80000, "r-1");
    int64_t id = TRANSFER(ledger, case_one, case_two, 30000, "t-1");
    EXPECT_STATUS(id, "requested");
    EXPECT_QUERY_TEXT("transfer", "SELECT kind FROM disbursements WHERE id = %lld", (long long)id);
    EXPECT_CASE(ledger, case_one, 80000, 30000, 80000, 0);
    EXPECT_CASE(ledger, case_two, 0, 0, 0, 0);

    struct ledger_booking booking = APPROVE(ledger, id, "a-1");
    ck_assert_int_eq(booking.seq, 2);
    ck_assert_int_eq(booking.account_id, from_id);
    EXPECT_STATUS(id, "approved");
    EXPECT_QUERY_TEXT("transfer", "SELECT kind FROM entries WHERE seq = 2");
    ck_assert_int_eq(query_int("SELECT amount FROM postings WHERE entry_seq = 2 AND "
                               "account_id = %lld",
                               (long long)from_id),
                     30000);
    ck_assert_int_eq(query_int("SELECT amount FROM postings WHERE entry_seq = 2 AND "
                               "account_id = %lld",
                               (long long)to_id),
                     -30000);
    /* A transfer is neither a receipt nor a payout (ledger.h). */
    EXPECT_CASE(ledger, case_one, 50000, 0, 80000, 0);
    EXPECT_CASE(ledger, case_two, 30000, 0, 0, 0);
    ck_assert_int_eq(balance_of(in_transit), 0);
    ck_assert_int_eq(balance_of(fx.bank_account_id), 80000);

    /* Transfers are not settled, and move between two existing, different cases. */
    EXPECT_REFUSED(ledger, LEDGER_ERR_BAD_STATE,
                   ledger_disbursement_settle(ledger, "bank1", id, "PAY-1", LEDGER_VALUE_DATE_NONE,
                                              "s-1", &booking));
    int64_t other = 0;
    bool replayed = false;
    EXPECT_REFUSED(ledger, LEDGER_ERR_INVALID_ARGUMENT,
                   ledger_transfer_request(ledger, "clerk1", case_one, case_one_full_width, 100,
                                           "self", "t-2", &other, &replayed));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_CASE,
                   ledger_transfer_request(ledger, "clerk1", case_one, "(2024)沪0115执999号", 100,
                                           "nowhere", "t-3", &other, &replayed));
    EXPECT_REFUSED(ledger, LEDGER_ERR_INSUFFICIENT,
                   ledger_transfer_request(ledger, "clerk1", case_one, case_two, 50001, "too much",
                                           "t-4", &other, &replayed));
    EXPECT_REFUSED(ledger, LEDGER_ERR_INVALID_ARGUMENT,
                   ledger_transfer_request(ledger, "clerk1", case_one, case_two, 100, "", "t-5",
                                           &other, &replayed));
    /* And back again. */
    int64_t back = TRANSFER(ledger, case_two, case_one, 30000, "t-6");
    APPROVE(ledger, back, "a-6");
    EXPECT_CASE(ledger, case_one, 80000, 0, 80000, 0);
    EXPECT_CASE(ledger, case_two, 0, 0, 0, 0);
    expect_books_balance();
    ledger_close(ledger);
}
END_TEST

/* ======================================================================== */
/* reversals                                                                */
/* ======================================================================== */

START_TEST(reverse_receipt)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = fixture_open_case(ledger, case_one, NULL);
    struct ledger_booking wrong = RECEIPT(ledger, case_one, 10000, "r-1");
    RECEIPT(ledger, case_one, 50000, "r-2");
    EXPECT_CASE(ledger, case_one, 60000, 0, 60000, 0);

    struct ledger_booking reversal;
    EXPECT_OK(ledger,
              ledger_reverse(ledger, "approver1", wrong.seq, "booked twice", "rev-1", &reversal));
    ck_assert_int_eq(reversal.seq, 3);
    ck_assert_int_eq(reversal.account_id, case_id);
    expect_entry_hash(&reversal);
    EXPECT_QUERY_TEXT("reversal", "SELECT kind FROM entries WHERE seq = 3");
    ck_assert_int_eq(query_int("SELECT reverses_seq FROM entries WHERE seq = 3"), wrong.seq);
    ck_assert_int_eq(query_int("SELECT amount FROM postings WHERE entry_seq = 3 AND "
                               "account_id = %lld",
                               (long long)case_id),
                     10000);
    EXPECT_CASE(ledger, case_one, 50000, 0, 50000, 0);
    ck_assert_int_eq(balance_of(fx.bank_account_id), 50000);

    /* Once only (the case could cover it: the refusal is about the entry). */
    EXPECT_REFUSED(ledger, LEDGER_ERR_ALREADY_REVERSED,
                   ledger_reverse(ledger, "approver2", wrong.seq, "again", "rev-2", &reversal));
    /* A reversal is not reversed, and an unknown entry is unknown. */
    EXPECT_REFUSED(ledger, LEDGER_ERR_NOT_REVERSIBLE,
                   ledger_reverse(ledger, "approver1", 3, "undo", "rev-3", &reversal));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_ENTRY,
                   ledger_reverse(ledger, "approver1", 99, "none", "rev-4", &reversal));
    EXPECT_REFUSED(ledger, LEDGER_ERR_INVALID_ARGUMENT,
                   ledger_reverse(ledger, "approver1", 2, "", "rev-5", &reversal));
    EXPECT_CASE(ledger, case_one, 50000, 0, 50000, 0);
    expect_books_balance();
    ledger_close(ledger);
}
END_TEST

/* A second reversal is refused as ALREADY_REVERSED also when the case has
 * nothing left to give back: the refusal is about the entry. */
START_TEST(reverse_twice_on_empty_case)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    struct ledger_booking wrong = RECEIPT(ledger, case_one, 10000, "r-1");
    struct ledger_booking reversal;
    EXPECT_OK(ledger,
              ledger_reverse(ledger, "approver1", wrong.seq, "wrong case", "rev-1", &reversal));
    EXPECT_CASE(ledger, case_one, 0, 0, 0, 0);
    EXPECT_REFUSED(ledger, LEDGER_ERR_ALREADY_REVERSED,
                   ledger_reverse(ledger, "approver1", wrong.seq, "again", "rev-2", &reversal));
    ledger_close(ledger);
}
END_TEST

START_TEST(reverse_refusals)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    struct ledger_booking receipt = RECEIPT(ledger, case_one, 10000, "r-1");
    int64_t id = REQUEST(ledger, case_one, 6000, "d-1");
    struct ledger_booking approved = APPROVE(ledger, id, "a-1");
    struct ledger_booking settled = SETTLE(ledger, id, "PAY-1");
    EXPECT_CASE(ledger, case_one, 4000, 0, 10000, 6000);
    struct ledger_booking reversal;
    /* Payouts are corrected through their workflow. */
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_NOT_REVERSIBLE,
        ledger_reverse(ledger, "approver1", approved.seq, "undo payout", "rev-1", &reversal));
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_NOT_REVERSIBLE,
        ledger_reverse(ledger, "approver1", settled.seq, "undo settle", "rev-2", &reversal));
    /* Reversing the receipt would take the case below zero (4000 left of 10000). */
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_INSUFFICIENT,
        ledger_reverse(ledger, "approver1", receipt.seq, "wrong case", "rev-3", &reversal));
    EXPECT_CASE(ledger, case_one, 4000, 0, 10000, 6000);
    ledger_close(ledger);
}
END_TEST

START_TEST(reverse_transfer_not_assign)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    fixture_open_case(ledger, case_two, NULL);
    RECEIPT(ledger, case_one, 9000, "r-1");
    struct ledger_booking moved =
        APPROVE(ledger, TRANSFER(ledger, case_one, case_two, 4000, "t-1"), "a-1");
    EXPECT_CASE(ledger, case_one, 5000, 0, 9000, 0);
    EXPECT_CASE(ledger, case_two, 4000, 0, 0, 0);
    struct ledger_booking reversal;
    EXPECT_OK(ledger,
              ledger_reverse(ledger, "approver2", moved.seq, "wrong target", "rev-t", &reversal));
    EXPECT_CASE(ledger, case_one, 9000, 0, 9000, 0);
    EXPECT_CASE(ledger, case_two, 0, 0, 0, 0);

    struct ledger_receipt_request unknown = {.amount_minor = 300,
                                             .bank_ref = "UNIDENTIFIED-2",
                                             .value_date_days = LEDGER_VALUE_DATE_NONE};
    struct ledger_booking suspense_receipt;
    struct ledger_booking assigned;
    EXPECT_OK(ledger, ledger_receipt(ledger, "clerk1", &unknown, "s-1", &suspense_receipt));
    EXPECT_OK(ledger, ledger_assign_suspense(ledger, "clerk1", suspense_receipt.seq, case_two,
                                             "as-1", &assigned));
    EXPECT_CASE(ledger, case_two, 300, 0, 300, 0);
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_NOT_REVERSIBLE,
        ledger_reverse(ledger, "approver1", assigned.seq, "wrong case", "rev-a", &reversal));
    EXPECT_CASE(ledger, case_two, 300, 0, 300, 0);
    ck_assert_int_eq(balance_of(system_account("suspense")), 0);
    expect_books_balance();
    ledger_close(ledger);
}
END_TEST

/* An assignment from suspense is not reversed (the suspense receipt stays
 * consumed, so the money could never leave suspense again); a wrong
 * assignment is corrected by a four-eyes transfer between the cases. */
START_TEST(assign_corrected_by_transfer)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    fixture_open_case(ledger, case_two, NULL);
    struct ledger_receipt_request unknown = {.amount_minor = 4200,
                                             .bank_ref = "UNIDENTIFIED-3",
                                             .value_date_days = LEDGER_VALUE_DATE_NONE};
    struct ledger_booking received;
    struct ledger_booking assigned;
    struct ledger_booking reversal;
    struct ledger_booking moved;
    EXPECT_OK(ledger, ledger_receipt(ledger, "clerk1", &unknown, "s-1", &received));
    EXPECT_OK(ledger,
              ledger_assign_suspense(ledger, "clerk1", received.seq, case_two, "as-1", &assigned));
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_NOT_REVERSIBLE,
        ledger_reverse(ledger, "approver1", assigned.seq, "wrong case", "rev-1", &reversal));
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_BAD_STATE,
        ledger_assign_suspense(ledger, "clerk1", received.seq, case_one, "as-2", &assigned));
    int64_t transfer = TRANSFER(ledger, case_two, case_one, 4200, "t-fix");
    EXPECT_OK(ledger,
              ledger_disbursement_approve(ledger, "approver1", transfer, "t-fix-ok", &moved));
    /* received_total counts money from payers (receipts, assignments), not
     * transfers between cases. */
    EXPECT_CASE(ledger, case_one, 4200, 0, 0, 0);
    EXPECT_CASE(ledger, case_two, 0, 0, 4200, 0);
    ck_assert_int_eq(balance_of(system_account("suspense")), 0);
    ledger_close(ledger);
}
END_TEST

/* ======================================================================== */
/* status: freeze, unfreeze, close                                          */
/* ======================================================================== */

static void expect_case_status(struct ledger *ledger, const char *case_no, const char *status)
{
    struct ledger_case_info info;
    EXPECT_OK(ledger, ledger_case_info(ledger, case_no, &info));
    ck_assert_str_eq(info.status, status);
}

START_TEST(frozen_case)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    fixture_open_case(ledger, case_two, NULL);
    RECEIPT(ledger, case_one, 20000, "r-1");
    RECEIPT(ledger, case_two, 700, "r-2");
    int64_t pending = REQUEST(ledger, case_one, 5000, "d-1");
    int64_t transfer_in = TRANSFER(ledger, case_two, case_one, 700, "t-in");
    EXPECT_OK(ledger, ledger_case_set_status(ledger, "approver1", case_one, LEDGER_CASE_FREEZE,
                                             "freeze-1"));
    expect_case_status(ledger, case_one, "frozen");

    struct ledger_disbursement_request request = payout_of(case_one, 100);
    int64_t id = 0;
    bool replayed = false;
    struct ledger_booking booking;
    EXPECT_REFUSED(ledger, LEDGER_ERR_FROZEN,
                   ledger_disbursement_request(ledger, "clerk1", &request, "d-2", &id, &replayed));
    EXPECT_REFUSED(ledger, LEDGER_ERR_FROZEN,
                   ledger_transfer_request(ledger, "clerk1", case_one, case_two, 100, "out",
                                           "t-out", &id, &replayed));
    EXPECT_REFUSED(ledger, LEDGER_ERR_FROZEN,
                   ledger_disbursement_approve(ledger, "approver1", pending, "a-1", &booking));
    EXPECT_STATUS(pending, "requested");
    /* Money may still come in: receipts and transfers to the case. */
    RECEIPT(ledger, case_one, 1000, "r-3");
    APPROVE(ledger, transfer_in, "a-in");
    EXPECT_CASE(ledger, case_one, 21700, 5000, 21000, 0);

    EXPECT_OK(ledger, ledger_case_set_status(ledger, "admin1", case_one, LEDGER_CASE_UNFREEZE,
                                             "unfreeze-1"));
    expect_case_status(ledger, case_one, "open");
    APPROVE(ledger, pending, "a-1");
    EXPECT_CASE(ledger, case_one, 16700, 0, 21000, 5000);
    ledger_close(ledger);
}
END_TEST

START_TEST(closed_case)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    fixture_open_case(ledger, case_two, NULL);
    RECEIPT(ledger, case_one, 3000, "r-1");
    RECEIPT(ledger, case_two, 100, "r-2");
    /* Not while it holds money. */
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_NOT_EMPTY,
        ledger_case_set_status(ledger, "approver1", case_one, LEDGER_CASE_CLOSE, "close-1"));
    int64_t pending = REQUEST(ledger, case_one, 3000, "d-1");
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_NOT_EMPTY,
        ledger_case_set_status(ledger, "approver1", case_one, LEDGER_CASE_CLOSE, "close-2"));
    /* Nor while a payout is approved but not yet paid (held is 0 then). */
    APPROVE(ledger, pending, "a-1");
    EXPECT_CASE(ledger, case_one, 0, 0, 3000, 3000);
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_NOT_EMPTY,
        ledger_case_set_status(ledger, "approver1", case_one, LEDGER_CASE_CLOSE, "close-3"));
    SETTLE(ledger, pending, "PAY-1");
    EXPECT_OK(ledger,
              ledger_case_set_status(ledger, "approver1", case_one, LEDGER_CASE_CLOSE, "close-4"));
    expect_case_status(ledger, case_one, "closed");
    EXPECT_CASE(ledger, case_one, 0, 0, 3000, 3000);

    /* A closed case takes no entries and no requests, and stays closed. */
    struct ledger_receipt_request receipt = receipt_to(case_one, 100, "r-late");
    struct ledger_booking booking;
    EXPECT_REFUSED(ledger, LEDGER_ERR_CLOSED,
                   ledger_receipt(ledger, "clerk1", &receipt, "r-late", &booking));
    struct ledger_case_info info;
    EXPECT_OK(ledger, ledger_case_info(ledger, case_one, &info));
    receipt.case_no = NULL;
    receipt.payin_no = info.payin_no;
    EXPECT_REFUSED(ledger, LEDGER_ERR_CLOSED,
                   ledger_receipt(ledger, "clerk1", &receipt, "r-late-payin", &booking));
    struct ledger_disbursement_request request = payout_of(case_one, 1);
    int64_t id = 0;
    bool replayed = false;
    EXPECT_REFUSED(ledger, LEDGER_ERR_CLOSED,
                   ledger_disbursement_request(ledger, "clerk1", &request, "d-2", &id, &replayed));
    EXPECT_REFUSED(ledger, LEDGER_ERR_CLOSED,
                   ledger_transfer_request(ledger, "clerk1", case_two, case_one, 100, "in", "t-1",
                                           &id, &replayed));
    static const enum ledger_case_action actions[] = {LEDGER_CASE_FREEZE, LEDGER_CASE_UNFREEZE,
                                                      LEDGER_CASE_CLOSE};
    static const char *const keys[] = {"st-freeze", "st-unfreeze", "st-close"};
    for (int i = 0; i < ROWS(actions); i++)
        EXPECT_REFUSED(ledger, LEDGER_ERR_CLOSED,
                       ledger_case_set_status(ledger, "approver1", case_one, actions[i], keys[i]));
    expect_case_status(ledger, case_one, "closed");
    EXPECT_CASE(ledger, case_two, 100, 0, 100, 0);
    ledger_close(ledger);
}
END_TEST

START_TEST(status_refusals)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    EXPECT_REFUSED(ledger, LEDGER_ERR_FORBIDDEN,
                   ledger_case_set_status(ledger, "clerk1", case_one, LEDGER_CASE_FREEZE, "f-1"));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_USER,
                   ledger_case_set_status(ledger, "nobody", case_one, LEDGER_CASE_FREEZE, "f-2"));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_CASE,
                   ledger_case_set_status(ledger, "approver1", "(2024)沪0115执999号",
                                          LEDGER_CASE_FREEZE, "f-3"));
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_INVALID_ARGUMENT,
        ledger_case_set_status(ledger, "approver1", case_one, (enum ledger_case_action)7, "f-4"));
    /* An empty case closes at once. */
    EXPECT_OK(ledger, ledger_case_set_status(ledger, "admin1", case_one, LEDGER_CASE_CLOSE, "c-1"));
    expect_case_status(ledger, case_one, "closed");
    ledger_close(ledger);
}
END_TEST

/* ======================================================================== */
/* idempotency                                                              */
/* ======================================================================== */

START_TEST(replay_case_open)
{
    struct ledger *ledger = fixture_ledger(&fx);
    struct ledger_applicant applicant = {.name = "张三"};
    struct ledger_case_request request = {.case_no = case_one,
                                          .court = "Test Court",
                                          .applicants_count = 1,
                                          .applicants = &applicant};
    struct ledger_case_result first;
    struct ledger_case_result again;
    EXPECT_OK(ledger, ledger_case_open(ledger, "clerk1", &request, "open-1", &first));
    char *before = fixture_books_digest(&fx);
    EXPECT_OK(ledger, ledger_case_open(ledger, "clerk1", &request, "open-1", &again));
    EXPECT_BOOKS_UNCHANGED(before);
    ck_assert(again.replayed);
    ck_assert_int_eq(again.account_id, first.account_id);
    ck_assert_str_eq(again.payin_no, first.payin_no);
    ck_assert_str_eq(again.access_code, ""); /* shown once only */
    ck_assert(ledger_case_access_check(ledger, case_one, first.access_code));
    ck_assert_int_eq(query_int("SELECT count(*) FROM accounts WHERE kind = 'case'"), 1);
    ck_assert_int_eq(query_int("SELECT count(*) FROM applicants"), 1);

    request.case_no = case_two;
    EXPECT_REFUSED(ledger, LEDGER_ERR_IDEMPOTENCY_CONFLICT,
                   ledger_case_open(ledger, "clerk1", &request, "open-1", &again));
    request.case_no = case_one;
    request.court = "Another Court";
    EXPECT_REFUSED(ledger, LEDGER_ERR_IDEMPOTENCY_CONFLICT,
                   ledger_case_open(ledger, "clerk1", &request, "open-1", &again));
    free(before);
    ledger_close(ledger);
}
END_TEST

START_TEST(replay_receipt)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    struct ledger_booking first = RECEIPT(ledger, case_one, 5000, "r-1");
    struct ledger_receipt_request request = receipt_to(case_one, 5000, "r-1");
    struct ledger_booking again;
    char *before = fixture_books_digest(&fx);
    EXPECT_OK(ledger, ledger_receipt(ledger, "clerk1", &request, "r-1", &again));
    EXPECT_BOOKS_UNCHANGED(before);
    ck_assert(again.replayed);
    ck_assert_int_eq(again.seq, first.seq);
    ck_assert_mem_eq(again.hash, first.hash, LEDGER_HASH_SIZE);
    EXPECT_CASE(ledger, case_one, 5000, 0, 5000, 0);
    /* By the full-width case number it is the same request. */
    request.case_no = case_one_full_width;
    EXPECT_OK(ledger, ledger_receipt(ledger, "clerk1", &request, "r-1", &again));
    ck_assert(again.replayed);
    ck_assert_int_eq(again.seq, first.seq);
    EXPECT_BOOKS_UNCHANGED(before);

    request.amount_minor = 5001;
    EXPECT_REFUSED(ledger, LEDGER_ERR_IDEMPOTENCY_CONFLICT,
                   ledger_receipt(ledger, "clerk1", &request, "r-1", &again));
    request.amount_minor = 5000;
    request.bank_ref = "another-ref";
    EXPECT_REFUSED(ledger, LEDGER_ERR_IDEMPOTENCY_CONFLICT,
                   ledger_receipt(ledger, "clerk1", &request, "r-1", &again));
    EXPECT_CASE(ledger, case_one, 5000, 0, 5000, 0);
    free(before);
    ledger_close(ledger);
}
END_TEST

START_TEST(replay_disbursement_workflow)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    RECEIPT(ledger, case_one, 90000, "r-1");
    int64_t id = REQUEST(ledger, case_one, 20000, "d-1");
    struct ledger_disbursement_request request = payout_of(case_one, 20000);
    int64_t again_id = 0;
    bool replayed = false;
    char *before = fixture_books_digest(&fx);
    EXPECT_OK(ledger,
              ledger_disbursement_request(ledger, "clerk1", &request, "d-1", &again_id, &replayed));
    EXPECT_BOOKS_UNCHANGED(before);
    ck_assert(replayed);
    ck_assert_int_eq(again_id, id);
    EXPECT_CASE(ledger, case_one, 90000, 20000, 90000, 0);
    request.amount_minor = 20001;
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_IDEMPOTENCY_CONFLICT,
        ledger_disbursement_request(ledger, "clerk1", &request, "d-1", &again_id, &replayed));
    free(before);

    struct ledger_booking approved = APPROVE(ledger, id, "a-1");
    struct ledger_booking again;
    before = fixture_books_digest(&fx);
    EXPECT_OK(ledger, ledger_disbursement_approve(ledger, "approver1", id, "a-1", &again));
    EXPECT_BOOKS_UNCHANGED(before);
    ck_assert(again.replayed);
    ck_assert_int_eq(again.seq, approved.seq);
    ck_assert_mem_eq(again.hash, approved.hash, LEDGER_HASH_SIZE);
    ck_assert_int_eq(again.object_id, id);
    EXPECT_CASE(ledger, case_one, 70000, 0, 90000, 20000);
    free(before);

    struct ledger_booking settled;
    EXPECT_OK(ledger, ledger_disbursement_settle(ledger, "bank1", id, "PAY-1",
                                                 LEDGER_VALUE_DATE_NONE, "s-1", &settled));
    ck_assert(!settled.replayed);
    before = fixture_books_digest(&fx);
    EXPECT_OK(ledger, ledger_disbursement_settle(ledger, "bank1", id, "PAY-1",
                                                 LEDGER_VALUE_DATE_NONE, "s-1", &again));
    EXPECT_BOOKS_UNCHANGED(before);
    ck_assert(again.replayed);
    ck_assert_int_eq(again.seq, settled.seq);
    ck_assert_mem_eq(again.hash, settled.hash, LEDGER_HASH_SIZE);
    EXPECT_REFUSED(ledger, LEDGER_ERR_IDEMPOTENCY_CONFLICT,
                   ledger_disbursement_settle(ledger, "bank1", id, "PAY-OTHER",
                                              LEDGER_VALUE_DATE_NONE, "s-1", &again));
    ck_assert_int_eq(balance_of(fx.bank_account_id), 70000);
    ck_assert_int_eq(entries_count(), 3);
    free(before);
    ledger_close(ledger);
}
END_TEST

START_TEST(replay_reverse_reject_freeze)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    struct ledger_booking receipt = RECEIPT(ledger, case_one, 8000, "r-1");
    RECEIPT(ledger, case_one, 2000, "r-2");
    struct ledger_booking reversal;
    struct ledger_booking again;
    EXPECT_OK(ledger,
              ledger_reverse(ledger, "approver1", receipt.seq, "wrong case", "rev-1", &reversal));
    char *before = fixture_books_digest(&fx);
    EXPECT_OK(ledger,
              ledger_reverse(ledger, "approver1", receipt.seq, "wrong case", "rev-1", &again));
    EXPECT_BOOKS_UNCHANGED(before);
    ck_assert(again.replayed);
    ck_assert_int_eq(again.seq, reversal.seq);
    ck_assert_mem_eq(again.hash, reversal.hash, LEDGER_HASH_SIZE);
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_IDEMPOTENCY_CONFLICT,
        ledger_reverse(ledger, "approver1", receipt.seq, "other reason", "rev-1", &again));
    EXPECT_CASE(ledger, case_one, 2000, 0, 2000, 0);
    free(before);

    int64_t id = REQUEST(ledger, case_one, 1500, "d-1");
    bool replayed = true;
    EXPECT_OK(ledger,
              ledger_disbursement_reject(ledger, "approver1", id, "no", "rej-1", &replayed));
    ck_assert(!replayed);
    before = fixture_books_digest(&fx);
    EXPECT_OK(ledger,
              ledger_disbursement_reject(ledger, "approver1", id, "no", "rej-1", &replayed));
    EXPECT_BOOKS_UNCHANGED(before);
    ck_assert(replayed);
    EXPECT_STATUS(id, "rejected");
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_IDEMPOTENCY_CONFLICT,
        ledger_disbursement_reject(ledger, "approver1", id, "another reason", "rej-1", &replayed));
    free(before);

    EXPECT_OK(ledger,
              ledger_case_set_status(ledger, "approver1", case_one, LEDGER_CASE_FREEZE, "fr-1"));
    before = fixture_books_digest(&fx);
    EXPECT_OK(ledger, ledger_case_set_status(ledger, "approver1", case_one_full_width,
                                             LEDGER_CASE_FREEZE, "fr-1"));
    EXPECT_BOOKS_UNCHANGED(before);
    expect_case_status(ledger, case_one, "frozen");
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_IDEMPOTENCY_CONFLICT,
        ledger_case_set_status(ledger, "approver1", case_one, LEDGER_CASE_UNFREEZE, "fr-1"));
    expect_case_status(ledger, case_one, "frozen");
    free(before);
    ledger_close(ledger);
}
END_TEST

/* Every field of a settlement is part of the request: the same key with
 * another value date is another request (ledger.h: "the same key with a
 * different request fails"), not a replay of the first. */
START_TEST(replay_settle_value_date)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    RECEIPT(ledger, case_one, 9000, "r-1");
    int64_t paid = REQUEST(ledger, case_one, 1000, "d-1");
    APPROVE(ledger, paid, "a-1");
    int32_t first_day = 0;
    int32_t other_day = 0;
    EXPECT_OK(ledger, ledger_date_parse(&first_day, "2024-05-06"));
    EXPECT_OK(ledger, ledger_date_parse(&other_day, "2024-05-07"));
    struct ledger_booking booking;
    EXPECT_OK(ledger, ledger_disbursement_settle(ledger, "bank1", paid, "PAY-1", first_day, "s-1",
                                                 &booking));
    EXPECT_QUERY_TEXT("2024-05-06", "SELECT value_date::text FROM entries WHERE seq = %lld",
                      (long long)booking.seq);
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_IDEMPOTENCY_CONFLICT,
        ledger_disbursement_settle(ledger, "bank1", paid, "PAY-1", other_day, "s-1", &booking));
    ledger_close(ledger);
}
END_TEST

/* Likewise the reason of a return. */
START_TEST(replay_return_reason)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    RECEIPT(ledger, case_one, 9000, "r-1");
    int64_t returned = REQUEST(ledger, case_one, 2000, "d-1");
    APPROVE(ledger, returned, "a-1");
    struct ledger_booking booking;
    EXPECT_OK(ledger, ledger_disbursement_return(ledger, "bank1", returned, "RET-1",
                                                 "account closed", "ret-1", &booking));
    EXPECT_REFUSED(ledger, LEDGER_ERR_IDEMPOTENCY_CONFLICT,
                   ledger_disbursement_return(ledger, "bank1", returned, "RET-1", "name mismatch",
                                              "ret-1", &booking));
    EXPECT_CASE(ledger, case_one, 9000, 0, 9000, 0);
    ledger_close(ledger);
}
END_TEST

/* A refused request records nothing: its key is free for the next one, and
 * a key belongs to one operation. */
START_TEST(refused_request_keeps_key_free)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    RECEIPT(ledger, case_one, 1000, "r-1");
    struct ledger_disbursement_request request = payout_of(case_one, 5000);
    int64_t id = 0;
    bool replayed = true;
    EXPECT_REFUSED(ledger, LEDGER_ERR_INSUFFICIENT,
                   ledger_disbursement_request(ledger, "clerk1", &request, "d-1", &id, &replayed));
    ck_assert_int_eq(query_int("SELECT count(*) FROM idempotency WHERE key = 'd-1'"), 0);
    RECEIPT(ledger, case_one, 4000, "r-2");
    EXPECT_OK(ledger,
              ledger_disbursement_request(ledger, "clerk1", &request, "d-1", &id, &replayed));
    ck_assert(!replayed);
    EXPECT_CASE(ledger, case_one, 5000, 5000, 5000, 0);

    struct ledger_receipt_request receipt = receipt_to("(2024)沪0115执999号", 100, "r-x");
    struct ledger_booking booking;
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_CASE,
                   ledger_receipt(ledger, "clerk1", &receipt, "r-x", &booking));
    receipt.case_no = case_one;
    EXPECT_OK(ledger, ledger_receipt(ledger, "clerk1", &receipt, "r-x", &booking));
    ck_assert(!booking.replayed);
    /* The key of a receipt cannot name a payout request. */
    EXPECT_REFUSED(ledger, LEDGER_ERR_IDEMPOTENCY_CONFLICT,
                   ledger_disbursement_request(ledger, "clerk1", &request, "r-x", &id, &replayed));
    EXPECT_CASE(ledger, case_one, 5100, 5000, 5100, 0);
    ledger_close(ledger);
}
END_TEST

/* ======================================================================== */
/* refusals                                                                 */
/* ======================================================================== */

START_TEST(refuse_unknown_case)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    RECEIPT(ledger, case_one, 1000, "r-1");
    static const char unknown[] = "(2024)沪0115执999号";
    struct ledger_receipt_request receipt = receipt_to(unknown, 100, "r-2");
    struct ledger_booking booking;
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_CASE,
                   ledger_receipt(ledger, "clerk1", &receipt, "r-2", &booking));
    /* A well-formed pay-in number that no case has. */
    char payin[LEDGER_PAYIN_DIGITS + 1];
    EXPECT_OK(ledger, ledger_payin_make(payin, 12345678901234u));
    receipt.case_no = NULL;
    receipt.payin_no = payin;
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_CASE,
                   ledger_receipt(ledger, "clerk1", &receipt, "r-3", &booking));
    struct ledger_case_info info;
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_CASE, ledger_case_info(ledger, unknown, &info));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_CASE,
                   ledger_case_info_by_payin(ledger, payin, &info));
    struct ledger_disbursement_request request = payout_of(unknown, 100);
    int64_t id = 0;
    bool replayed = false;
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_CASE,
                   ledger_disbursement_request(ledger, "clerk1", &request, "d-1", &id, &replayed));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_CASE,
                   ledger_transfer_request(ledger, "clerk1", unknown, case_one, 100, "x", "t-1",
                                           &id, &replayed));
    ck_assert(!ledger_case_access_check(ledger, unknown, "2345-6789-ABCD-EFGH"));
    EXPECT_CASE(ledger, case_one, 1000, 0, 1000, 0);
    ledger_close(ledger);
}
END_TEST

START_TEST(refuse_bad_payin)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    struct ledger_case_info info;
    EXPECT_OK(ledger, ledger_case_info(ledger, case_one, &info));
    char bad[4][LEDGER_PAYIN_DIGITS + 8];
    /* last digit changed; two adjacent different digits swapped; 15 digits; a letter */
    snprintf(bad[0], sizeof bad[0], "%s", info.payin_no);
    bad[0][15] = bad[0][15] == '9' ? '0' : (char)(bad[0][15] + 1);
    snprintf(bad[1], sizeof bad[1], "%s", info.payin_no);
    for (int i = 14; i > 0; i--) {
        if (bad[1][i] != bad[1][i + 1]) {
            char swap = bad[1][i];
            bad[1][i] = bad[1][i + 1];
            bad[1][i + 1] = swap;
            break;
        }
    }
    snprintf(bad[2], sizeof bad[2], "%.15s", info.payin_no);
    snprintf(bad[3], sizeof bad[3], "%.15sX", info.payin_no);
    for (int i = 0; i < ROWS(bad); i++) {
        ck_assert_str_ne(bad[i], info.payin_no);
        struct ledger_receipt_request receipt = {.payin_no = bad[i],
                                                 .amount_minor = 100,
                                                 .bank_ref = "BAD-PAYIN",
                                                 .value_date_days = LEDGER_VALUE_DATE_NONE};
        struct ledger_booking booking;
        EXPECT_REFUSED(ledger, LEDGER_ERR_INVALID_PAYIN,
                       ledger_receipt(ledger, "clerk1", &receipt, "bad-payin", &booking));
        struct ledger_case_info other;
        EXPECT_REFUSED(ledger, LEDGER_ERR_INVALID_PAYIN,
                       ledger_case_info_by_payin(ledger, bad[i], &other));
    }
    EXPECT_CASE(ledger, case_one, 0, 0, 0, 0);
    ck_assert_int_eq(entries_count(), 0);
    ledger_close(ledger);
}
END_TEST

/* Four eyes: a clerk who requested and later became an approver still
 * cannot approve the own request. */
START_TEST(refuse_same_user)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    fixture_open_case(ledger, case_two, NULL);
    RECEIPT(ledger, case_one, 10000, "r-1");
    int64_t payout = REQUEST(ledger, case_one, 1000, "d-1");
    int64_t transfer = TRANSFER(ledger, case_one, case_two, 1000, "t-1");
    char *changed = query_text("UPDATE users SET role = 'approver' WHERE name = 'clerk1' "
                               "RETURNING name");
    ck_assert_str_eq(changed, "clerk1");
    free(changed);
    struct ledger_booking booking;
    EXPECT_REFUSED(ledger, LEDGER_ERR_SAME_USER,
                   ledger_disbursement_approve(ledger, "clerk1", payout, "a-1", &booking));
    EXPECT_REFUSED(ledger, LEDGER_ERR_SAME_USER,
                   ledger_disbursement_approve(ledger, "clerk1", transfer, "a-2", &booking));
    EXPECT_STATUS(payout, "requested");
    EXPECT_STATUS(transfer, "requested");
    /* Another approver may. */
    APPROVE(ledger, payout, "a-3");
    EXPECT_CASE(ledger, case_one, 9000, 1000, 10000, 1000);
    ledger_close(ledger);
}
END_TEST

START_TEST(refuse_wrong_role_and_unknown_user)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    struct ledger_booking receipt = RECEIPT(ledger, case_one, 10000, "r-1");
    int64_t id = REQUEST(ledger, case_one, 1000, "d-1");
    struct ledger_booking booking;
    bool replayed = false;
    /* Approving: approvers only. */
    static const char *const not_approvers[] = {"clerk1", "clerk2", "auditor1", "admin1", "bank1"};
    for (int i = 0; i < ROWS(not_approvers); i++)
        EXPECT_REFUSED(ledger, LEDGER_ERR_FORBIDDEN,
                       ledger_disbursement_approve(ledger, not_approvers[i], id, "a-x", &booking));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_USER,
                   ledger_disbursement_approve(ledger, "nobody", id, "a-1", &booking));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_USER,
                   ledger_disbursement_approve(ledger, "", id, "a-1", &booking));
    EXPECT_REFUSED(ledger, LEDGER_ERR_FORBIDDEN,
                   ledger_disbursement_reject(ledger, "clerk2", id, "no", "rej-1", &replayed));
    EXPECT_REFUSED(ledger, LEDGER_ERR_FORBIDDEN,
                   ledger_reverse(ledger, "clerk1", receipt.seq, "x", "rev-1", &booking));
    /* Requesting and receiving: not approvers or auditors. */
    struct ledger_disbursement_request request = payout_of(case_one, 100);
    int64_t other = 0;
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_FORBIDDEN,
        ledger_disbursement_request(ledger, "approver1", &request, "d-2", &other, &replayed));
    struct ledger_receipt_request incoming = receipt_to(case_one, 100, "r-2");
    EXPECT_REFUSED(ledger, LEDGER_ERR_FORBIDDEN,
                   ledger_receipt(ledger, "auditor1", &incoming, "r-2", &booking));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_USER,
                   ledger_receipt(ledger, "ghost", &incoming, "r-2", &booking));
    struct ledger_applicant applicant = {.name = "A"};
    struct ledger_case_request open = {
        .case_no = case_two, .court = "Court", .applicants_count = 1, .applicants = &applicant};
    struct ledger_case_result opened;
    EXPECT_REFUSED(ledger, LEDGER_ERR_FORBIDDEN,
                   ledger_case_open(ledger, "approver1", &open, "open-x", &opened));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_USER,
                   ledger_case_open(ledger, "ghost", &open, "open-x", &opened));
    /* A disabled user is no user. */
    char *disabled = query_text("UPDATE users SET disabled = true WHERE name = 'approver2' "
                                "RETURNING name");
    free(disabled);
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_USER,
                   ledger_disbursement_approve(ledger, "approver2", id, "a-2", &booking));
    EXPECT_STATUS(id, "requested");
    EXPECT_CASE(ledger, case_one, 10000, 1000, 10000, 0);
    ledger_close(ledger);
}
END_TEST

START_TEST(refuse_bad_amounts)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    fixture_open_case(ledger, case_two, NULL);
    RECEIPT(ledger, case_one, 1000, "r-1");
    static const int64_t amounts[] = {0, -1, -1000, INT64_MIN};
    for (int i = 0; i < ROWS(amounts); i++) {
        struct ledger_receipt_request receipt = receipt_to(case_one, amounts[i], "r-bad");
        struct ledger_booking booking;
        EXPECT_REFUSED(ledger, LEDGER_ERR_INVALID_AMOUNT,
                       ledger_receipt(ledger, "clerk1", &receipt, "r-bad", &booking));
        struct ledger_disbursement_request request = payout_of(case_one, amounts[i]);
        int64_t id = 0;
        bool replayed = false;
        EXPECT_REFUSED(
            ledger, LEDGER_ERR_INVALID_AMOUNT,
            ledger_disbursement_request(ledger, "clerk1", &request, "d-bad", &id, &replayed));
        EXPECT_REFUSED(ledger, LEDGER_ERR_INVALID_AMOUNT,
                       ledger_transfer_request(ledger, "clerk1", case_one, case_two, amounts[i],
                                               "x", "t-bad", &id, &replayed));
    }
    EXPECT_CASE(ledger, case_one, 1000, 0, 1000, 0);
    ledger_close(ledger);
}
END_TEST

/* Every write refuses a key that is empty, longer than 128 bytes or not
 * printable ASCII, before touching anything. */
static void expect_key_refused(struct ledger *ledger, const char *key, int64_t disbursement_id,
                               int64_t seq)
{
    struct ledger_booking booking;
    bool replayed = false;
    int64_t id = 0;
    struct ledger_receipt_request receipt = receipt_to(case_one, 100, "r-key");
    struct ledger_disbursement_request request = payout_of(case_one, 100);
    struct ledger_applicant applicant = {.name = "A"};
    struct ledger_case_request open = {
        .case_no = case_three, .court = "Court", .applicants_count = 1, .applicants = &applicant};
    struct ledger_case_result opened;
    const enum ledger_err want = LEDGER_ERR_INVALID_ARGUMENT;
    EXPECT_REFUSED(ledger, want, ledger_case_open(ledger, "clerk1", &open, key, &opened));
    EXPECT_REFUSED(ledger, want, ledger_receipt(ledger, "clerk1", &receipt, key, &booking));
    EXPECT_REFUSED(ledger, want,
                   ledger_disbursement_request(ledger, "clerk1", &request, key, &id, &replayed));
    EXPECT_REFUSED(ledger, want,
                   ledger_transfer_request(ledger, "clerk1", case_one, case_two, 100, "x", key, &id,
                                           &replayed));
    EXPECT_REFUSED(
        ledger, want,
        ledger_disbursement_approve(ledger, "approver1", disbursement_id, key, &booking));
    EXPECT_REFUSED(
        ledger, want,
        ledger_disbursement_reject(ledger, "approver1", disbursement_id, "no", key, &replayed));
    EXPECT_REFUSED(ledger, want,
                   ledger_disbursement_settle(ledger, "bank1", disbursement_id, "PAY",
                                              LEDGER_VALUE_DATE_NONE, key, &booking));
    EXPECT_REFUSED(
        ledger, want,
        ledger_disbursement_return(ledger, "bank1", disbursement_id, "RET", NULL, key, &booking));
    EXPECT_REFUSED(ledger, want, ledger_reverse(ledger, "approver1", seq, "x", key, &booking));
    EXPECT_REFUSED(ledger, want,
                   ledger_assign_suspense(ledger, "clerk1", seq, case_one, key, &booking));
    EXPECT_REFUSED(ledger, want,
                   ledger_case_set_status(ledger, "approver1", case_one, LEDGER_CASE_FREEZE, key));
}

START_TEST(refuse_bad_idempotency_keys)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    fixture_open_case(ledger, case_two, NULL);
    struct ledger_booking receipt = RECEIPT(ledger, case_one, 1000, "r-1");
    int64_t id = REQUEST(ledger, case_one, 100, "d-1");
    char long_key[LEDGER_IDEMPOTENCY_KEY_MAX + 2];
    memset(long_key, 'k', LEDGER_IDEMPOTENCY_KEY_MAX + 1);
    long_key[LEDGER_IDEMPOTENCY_KEY_MAX + 1] = '\0';
    const char *const keys[] = {"",           long_key,   "with space", "tab\tkey", "ctl\001key",
                                "del\177key", "é-accent", "new\nline",  NULL};
    for (int i = 0; i < ROWS(keys); i++)
        expect_key_refused(ledger, keys[i], id, receipt.seq);
    /* 128 printable characters are a key. */
    long_key[LEDGER_IDEMPOTENCY_KEY_MAX] = '\0';
    RECEIPT(ledger, case_one, 1, long_key);
    EXPECT_CASE(ledger, case_one, 1001, 100, 1001, 0);
    EXPECT_STATUS(id, "requested");
    ledger_close(ledger);
}
END_TEST

START_TEST(refuse_decision_states)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    RECEIPT(ledger, case_one, 100000, "r-1");
    int64_t id = REQUEST(ledger, case_one, 10000, "d-1");
    struct ledger_booking booking;
    bool replayed = false;
    /* Settle and return need an approved payout. */
    EXPECT_REFUSED(ledger, LEDGER_ERR_BAD_STATE,
                   ledger_disbursement_settle(ledger, "bank1", id, "PAY-1", LEDGER_VALUE_DATE_NONE,
                                              "s-1", &booking));
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_BAD_STATE,
        ledger_disbursement_return(ledger, "bank1", id, "RET-1", "x", "ret-1", &booking));
    APPROVE(ledger, id, "a-1");
    /* Approving twice (the case could cover it again). */
    EXPECT_REFUSED(ledger, LEDGER_ERR_BAD_STATE,
                   ledger_disbursement_approve(ledger, "approver2", id, "a-2", &booking));
    EXPECT_REFUSED(ledger, LEDGER_ERR_BAD_STATE,
                   ledger_disbursement_reject(ledger, "approver2", id, "late", "rej-1", &replayed));
    SETTLE(ledger, id, "PAY-1");
    EXPECT_REFUSED(ledger, LEDGER_ERR_BAD_STATE,
                   ledger_disbursement_settle(ledger, "bank1", id, "PAY-2", LEDGER_VALUE_DATE_NONE,
                                              "s-2", &booking));
    EXPECT_REFUSED(
        ledger, LEDGER_ERR_BAD_STATE,
        ledger_disbursement_return(ledger, "bank1", id, "RET-2", "x", "ret-2", &booking));
    /* Unknown disbursements. */
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_DISBURSEMENT,
                   ledger_disbursement_approve(ledger, "approver1", 9999, "a-3", &booking));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_DISBURSEMENT,
                   ledger_disbursement_reject(ledger, "approver1", 9999, "x", "rej-2", &replayed));
    EXPECT_REFUSED(ledger, LEDGER_ERR_UNKNOWN_DISBURSEMENT,
                   ledger_disbursement_settle(ledger, "bank1", 9999, "PAY-3",
                                              LEDGER_VALUE_DATE_NONE, "s-3", &booking));
    EXPECT_CASE(ledger, case_one, 90000, 0, 100000, 10000);
    ledger_close(ledger);
}
END_TEST

/* Approving twice is BAD_STATE also when the case no longer holds the
 * amount a second time: the refusal is about the disbursement. */
START_TEST(refuse_approve_twice_on_empty_case)
{
    struct ledger *ledger = fixture_ledger(&fx);
    fixture_open_case(ledger, case_one, NULL);
    RECEIPT(ledger, case_one, 10000, "r-1");
    int64_t id = REQUEST(ledger, case_one, 10000, "d-1");
    APPROVE(ledger, id, "a-1");
    EXPECT_CASE(ledger, case_one, 0, 0, 10000, 10000);
    struct ledger_booking booking;
    EXPECT_REFUSED(ledger, LEDGER_ERR_BAD_STATE,
                   ledger_disbursement_approve(ledger, "approver2", id, "a-2", &booking));
    ledger_close(ledger);
}
END_TEST

/* ======================================================================== */
/* database rules: what PostgreSQL refuses by itself                        */
/* ======================================================================== */

/* A small story so that every table has rows: receipt (seq 1), payout
 * request and approval (seq 2). Returns the disbursement id. */
static int64_t small_story(struct ledger *ledger)
{
    fixture_open_case(ledger, case_one, NULL);
    RECEIPT(ledger, case_one, 10000, "r-1");
    int64_t id = REQUEST(ledger, case_one, 4000, "d-1");
    APPROVE(ledger, id, "a-1");
    return id;
}

START_TEST(db_app_cannot_change_journal)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t id = small_story(ledger);
    int64_t case_id = query_int("SELECT id FROM accounts WHERE kind = 'case'");
    char *before = fixture_books_digest(&fx);
    PGconn *app = connect_app();
    EXPECT_SQL(app, "42501", "UPDATE entries SET memo = 'changed' WHERE seq = 1");
    EXPECT_SQL(app, "42501", "DELETE FROM entries WHERE seq = 2");
    EXPECT_SQL(app, "42501", "UPDATE postings SET amount = amount * 2 WHERE entry_seq = 1");
    EXPECT_SQL(app, "42501", "DELETE FROM postings WHERE entry_seq = 2");
    EXPECT_SQL(app, "42501", "TRUNCATE postings");
    EXPECT_SQL(app, "42501", "UPDATE accounts SET balance = 0 WHERE id = %lld", (long long)case_id);
    EXPECT_SQL(app, "42501",
               "INSERT INTO accounts (kind, currency, balance) VALUES ('fees', 'USD', -5)");
    EXPECT_SQL(app, "42501", "UPDATE chain_head SET seq = 0");
    EXPECT_SQL(app, "42501", "DELETE FROM chain_head");
    EXPECT_SQL(app, "42501", "UPDATE disbursements SET amount = 1 WHERE id = %lld", (long long)id);
    EXPECT_SQL(app, "42501", "DELETE FROM disbursements WHERE id = %lld", (long long)id);
    EXPECT_SQL(app, "42501", "DELETE FROM idempotency");
    /* What it may do, it may do: read. */
    EXPECT_SQL(app, "00000", "SELECT count(*) FROM entries");
    PQfinish(app);
    EXPECT_BOOKS_UNCHANGED(before);
    free(before);
    ledger_close(ledger);
}
END_TEST

START_TEST(db_superuser_blocked_by_triggers)
{
    struct ledger *ledger = fixture_ledger(&fx);
    small_story(ledger);
    char *before = fixture_books_digest(&fx);
    PGconn *super = fixture_super(&fx);
    EXPECT_SQL(super, "42501", "UPDATE entries SET memo = 'changed' WHERE seq = 1");
    EXPECT_SQL(super, "42501", "DELETE FROM entries WHERE seq = 2");
    EXPECT_SQL(super, "42501", "UPDATE postings SET amount = amount * 2 WHERE entry_seq = 1");
    EXPECT_SQL(super, "42501", "DELETE FROM postings WHERE entry_seq = 2");
    EXPECT_SQL(super, "42501", "TRUNCATE postings");
    EXPECT_SQL(super, "42501", "DELETE FROM disbursements");
    EXPECT_BOOKS_UNCHANGED(before);

    /* With triggers disabled a superuser can change history; verification
     * then names the changed entry. */
    struct ledger_keyring keyring;
    struct ledger_verify_result result;
    EXPECT_OK(ledger, ledger_keyring_load(&keyring, fx.keyring_file));
    EXPECT_OK(ledger, ledger_verify(ledger, &keyring, NULL, &result));
    ck_assert(result.ok);
    EXPECT_SQL(super, "00000", "SET session_replication_role = replica");
    EXPECT_SQL(super, "00000", "UPDATE entries SET memo = 'tampered' WHERE seq = 1");
    EXPECT_SQL(super, "00000", "SET session_replication_role = origin");
    EXPECT_OK(ledger, ledger_verify(ledger, &keyring, NULL, &result));
    ck_assert(!result.ok);
    ck_assert_int_eq(result.first_bad_seq, 1);
    PQfinish(super);
    free(before);
    ledger_close(ledger);
}
END_TEST

/* Inserts, in the open transaction on conn, an entry following the head
 * (with a made-up hash and signature: the database does not check those).
 * Done as superuser: privileges do not apply, the triggers and checks do. */
static void insert_raw_entry(PGconn *conn, const char *tag)
{
    EXPECT_SQL(conn, "00000",
               "INSERT INTO entries (seq, kind, created_at_us, actor, key_id, prev_hash, hash, "
               "signature) SELECT h.seq + 1, 'receipt', 0, 'intruder', "
               "(SELECT key_id FROM signing_keys LIMIT 1), h.hash, "
               "sha256(convert_to('%s' || h.seq, 'UTF8')), decode(repeat('00', 64), 'hex') "
               "FROM chain_head h",
               tag);
}

static void insert_raw_posting(int line, PGconn *conn, const char *expected, int idx,
                               int64_t account_id, long long amount_minor)
{
    sql_expect(line, conn, expected,
               "INSERT INTO postings (entry_seq, idx, account_id, amount, currency) "
               "SELECT seq, %d, %lld, %lld, 'CNY' FROM chain_head",
               idx, (long long)account_id, amount_minor);
}
#define INSERT_POSTING(conn, expected, idx, account_id, amount)                                    \
    insert_raw_posting(__LINE__, conn, expected, idx, account_id, amount)

START_TEST(db_unbalanced_entry_refused_at_commit)
{
    struct ledger *ledger = fixture_ledger(&fx);
    small_story(ledger);
    int64_t case_id = query_int("SELECT id FROM accounts WHERE kind = 'case'");
    char *before = fixture_books_digest(&fx);
    PGconn *super = fixture_super(&fx);
    /* Two postings that do not sum to zero. */
    EXPECT_SQL(super, "00000", "BEGIN");
    insert_raw_entry(super, "unbalanced");
    INSERT_POSTING(super, "00000", 0, fx.bank_account_id, 100);
    INSERT_POSTING(super, "00000", 1, case_id, -50);
    EXPECT_SQL(super, "23514", "COMMIT");
    EXPECT_BOOKS_UNCHANGED(before);
    /* One posting only. */
    EXPECT_SQL(super, "00000", "BEGIN");
    insert_raw_entry(super, "single");
    INSERT_POSTING(super, "00000", 0, fx.bank_account_id, 100);
    EXPECT_SQL(super, "23514", "COMMIT");
    /* No postings at all. */
    EXPECT_SQL(super, "00000", "BEGIN");
    insert_raw_entry(super, "empty");
    EXPECT_SQL(super, "23514", "COMMIT");
    EXPECT_BOOKS_UNCHANGED(before);
    /* An entry that does not follow the head. */
    EXPECT_SQL(super, "40001",
               "INSERT INTO entries (seq, kind, created_at_us, actor, key_id, prev_hash, hash, "
               "signature) SELECT h.seq + 5, 'receipt', 0, 'intruder', "
               "(SELECT key_id FROM signing_keys LIMIT 1), h.hash, sha256('gap'::bytea), "
               "decode(repeat('00', 64), 'hex') FROM chain_head h");
    PQfinish(super);
    EXPECT_BOOKS_UNCHANGED(before);
    free(before);
    ledger_close(ledger);
}
END_TEST

/* The references of the journal, checked per statement rather than by
 * foreign-key triggers per row: still refused, with SQLSTATE 23503. */
START_TEST(db_journal_references_enforced)
{
    struct ledger *ledger = fixture_ledger(&fx);
    small_story(ledger);
    int64_t case_id = query_int("SELECT id FROM accounts WHERE kind = 'case'");
    char *before = fixture_books_digest(&fx);
    PGconn *super = fixture_super(&fx);
    /* Postings of an entry that does not exist. */
    EXPECT_SQL(super, "23503",
               "INSERT INTO postings (entry_seq, idx, account_id, amount, currency) "
               "SELECT seq + 1, i, %lld, (1 - 2 * i) * 100, 'CNY' FROM chain_head, "
               "generate_series(0, 1) i",
               (long long)case_id);
    /* An entry signed with a key that is not registered. */
    EXPECT_SQL(super, "23503",
               "INSERT INTO entries (seq, kind, created_at_us, actor, key_id, prev_hash, hash, "
               "signature) SELECT h.seq + 1, 'receipt', 0, 'intruder', '0123456789abcdef', "
               "h.hash, sha256('unknown key'::bytea), decode(repeat('00', 64), 'hex') "
               "FROM chain_head h");
    /* What the journal refers to cannot go away. */
    EXPECT_SQL(super, "23503", "DELETE FROM accounts WHERE id = %lld", (long long)case_id);
    EXPECT_SQL(super, "23503", "UPDATE accounts SET id = id + 1000000 WHERE id = %lld",
               (long long)case_id);
    EXPECT_SQL(super, "23503", "DELETE FROM signing_keys");
    EXPECT_SQL(super, "23503", "TRUNCATE accounts CASCADE");
    EXPECT_SQL(super, "23503", "TRUNCATE signing_keys");
    PQfinish(super);
    EXPECT_BOOKS_UNCHANGED(before);
    free(before);
    ledger_close(ledger);
}
END_TEST

START_TEST(db_case_balance_not_below_zero)
{
    struct ledger *ledger = fixture_ledger(&fx);
    small_story(ledger); /* the case holds 6000 */
    int64_t case_id = query_int("SELECT id FROM accounts WHERE kind = 'case'");
    char *before = fixture_books_digest(&fx);
    PGconn *super = fixture_super(&fx);
    EXPECT_SQL(super, "00000", "BEGIN");
    insert_raw_entry(super, "overdraw");
    INSERT_POSTING(super, "23514", 0, case_id, 6001); /* debit more than it holds */
    EXPECT_SQL(super, "00000", "ROLLBACK");
    /* Nor by writing the cached balance itself. */
    EXPECT_SQL(super, "23514", "UPDATE accounts SET balance = 1 WHERE id = %lld",
               (long long)case_id);
    PQfinish(super);
    EXPECT_BOOKS_UNCHANGED(before);
    EXPECT_CASE(ledger, case_one, 6000, 0, 10000, 4000);
    free(before);
    ledger_close(ledger);
}
END_TEST

START_TEST(db_closed_account_takes_no_postings)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t case_id = fixture_open_case(ledger, case_one, NULL);
    EXPECT_OK(ledger,
              ledger_case_set_status(ledger, "approver1", case_one, LEDGER_CASE_CLOSE, "close-1"));
    char *before = fixture_books_digest(&fx);
    PGconn *super = fixture_super(&fx);
    EXPECT_SQL(super, "00000", "BEGIN");
    insert_raw_entry(super, "closed");
    INSERT_POSTING(super, "00000", 0, fx.bank_account_id, 100);
    INSERT_POSTING(super, "23514", 1, case_id, -100);
    EXPECT_SQL(super, "00000", "ROLLBACK");
    PQfinish(super);
    EXPECT_BOOKS_UNCHANGED(before);
    free(before);
    ledger_close(ledger);
}
END_TEST

START_TEST(db_four_eyes_and_transitions)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t approved = small_story(ledger);
    int64_t requested = REQUEST(ledger, case_one, 1000, "d-2");
    char *before = fixture_books_digest(&fx);
    PGconn *app = connect_app();
    EXPECT_SQL(app, "23514",
               "UPDATE disbursements SET status = 'approved', decided_by = requested_by, "
               "decided_at = now() WHERE id = %lld",
               (long long)requested);
    EXPECT_SQL(app, "23514", "UPDATE disbursements SET status = 'requested' WHERE id = %lld",
               (long long)approved);
    /* (the application may not even name a decision when it inserts) */
    EXPECT_SQL(app, "42501",
               "INSERT INTO disbursements (account_id, amount, currency, payee_name, "
               "payee_account, requested_by, decided_by, status) SELECT account_id, 1, 'CNY', "
               "'x', 'y', 'clerk1', 'clerk1', 'approved' FROM disbursements WHERE id = %lld",
               (long long)requested);
    PQfinish(app);
    PGconn *super = fixture_super(&fx);
    EXPECT_SQL(super, "23514",
               "UPDATE disbursements SET status = 'approved', decided_by = requested_by "
               "WHERE id = %lld",
               (long long)requested);
    EXPECT_SQL(super, "23514", "UPDATE disbursements SET amount = 1 WHERE id = %lld",
               (long long)approved);
    PQfinish(super);
    EXPECT_BOOKS_UNCHANGED(before);
    EXPECT_STATUS(requested, "requested");
    free(before);
    ledger_close(ledger);
}
END_TEST

START_TEST(db_payin_check_digits)
{
    struct ledger *ledger = fixture_ledger(&fx);
    char good[LEDGER_PAYIN_DIGITS + 1];
    char bad[LEDGER_PAYIN_DIGITS + 1];
    EXPECT_OK(ledger, ledger_payin_make(good, 80000000099999u));
    snprintf(bad, sizeof bad, "%s", good);
    bad[15] = bad[15] == '9' ? '0' : (char)(bad[15] + 1);
    PGconn *app = connect_app();
#define INSERT_CASE_SQL                                                                            \
    "INSERT INTO accounts (kind, case_no, case_no_norm, payin_no, court) "                         \
    "VALUES ('case', '%s', '%s', '%s', 'Court')"
    EXPECT_SQL(app, "23514", INSERT_CASE_SQL, "DIRECT-1", "DIRECT-1", bad);
    EXPECT_SQL(app, "23514", INSERT_CASE_SQL, "DIRECT-2", "DIRECT-2", "800000000999");
    EXPECT_SQL(app, "23514", INSERT_CASE_SQL, "DIRECT-3", "DIRECT-3", "80000000099999AB");
    ck_assert_int_eq(query_int("SELECT count(*) FROM accounts WHERE kind = 'case'"), 0);
    /* The same row with correct check digits is accepted. */
    EXPECT_SQL(app, "00000", INSERT_CASE_SQL, "DIRECT-4", "DIRECT-4", good);
    ck_assert_int_eq(query_int("SELECT count(*) FROM accounts WHERE kind = 'case'"), 1);
    PQfinish(app);
    ledger_close(ledger);
}
END_TEST

/* The database accepts a balanced entry whatever its signature (it cannot
 * check Ed25519); verification is what catches a forged one. */
START_TEST(db_forged_entry_caught_by_verify)
{
    struct ledger *ledger = fixture_ledger(&fx);
    small_story(ledger);
    int64_t case_id = query_int("SELECT id FROM accounts WHERE kind = 'case'");
    PGconn *super = fixture_super(&fx);
    EXPECT_SQL(super, "00000", "BEGIN");
    insert_raw_entry(super, "forged");
    INSERT_POSTING(super, "00000", 0, fx.bank_account_id, 100);
    INSERT_POSTING(super, "00000", 1, case_id, -100);
    EXPECT_SQL(super, "00000", "COMMIT");
    PQfinish(super);
    RECEIPT(ledger, case_one, 1, "r-after");
    struct ledger_keyring keyring;
    struct ledger_verify_result result;
    EXPECT_OK(ledger, ledger_keyring_load(&keyring, fx.keyring_file));
    EXPECT_OK(ledger, ledger_verify(ledger, &keyring, NULL, &result));
    ck_assert(!result.ok);
    ck_assert_int_eq(result.first_bad_seq, 3);
    ck_assert_int_eq(result.checked, 2);
    ledger_close(ledger);
}
END_TEST

/* ======================================================================== */
/* integrity: verification after a whole story                              */
/* ======================================================================== */

/* Every operation once; returns the number of entries booked. */
static int64_t whole_story(struct ledger *ledger)
{
    fixture_open_case(ledger, case_one, NULL);
    fixture_open_case(ledger, case_two, NULL);
    fixture_open_case(ledger, case_three, NULL);
    struct ledger_booking booking;
    bool replayed = false;
    RECEIPT(ledger, case_one, 500000, "r-1"); /* 1 */
    RECEIPT(ledger, case_two, 20000, "r-2");  /* 2 */
    struct ledger_receipt_request unknown = {.amount_minor = 3000,
                                             .bank_ref = "UNIDENTIFIED",
                                             .value_date_days = LEDGER_VALUE_DATE_NONE};
    EXPECT_OK(ledger, ledger_receipt(ledger, "clerk1", &unknown, "s-1", &booking)); /* 3 */
    int64_t suspense_seq = booking.seq;
    EXPECT_OK(ledger, ledger_assign_suspense(ledger, "clerk1", suspense_seq, case_two, "as-1",
                                             &booking)); /* 4 */
    int64_t paid = REQUEST(ledger, case_one, 100000, "d-1");
    APPROVE(ledger, paid, "a-1");  /* 5 */
    SETTLE(ledger, paid, "PAY-1"); /* 6 */
    int64_t returned = REQUEST(ledger, case_one, 50000, "d-2");
    APPROVE(ledger, returned, "a-2"); /* 7 */
    EXPECT_OK(ledger, ledger_disbursement_return(ledger, "bank1", returned, "RET-1", "closed",
                                                 "ret-1", &booking)); /* 8 */
    int64_t rejected = REQUEST(ledger, case_one, 1000, "d-3");
    EXPECT_OK(ledger,
              ledger_disbursement_reject(ledger, "approver2", rejected, "no", "rej-1", &replayed));
    int64_t moved = TRANSFER(ledger, case_two, case_three, 23000, "t-1");
    APPROVE(ledger, moved, "a-3");                                           /* 9 */
    struct ledger_booking duplicate = RECEIPT(ledger, case_one, 700, "r-3"); /* 10 */
    EXPECT_OK(ledger, ledger_reverse(ledger, "approver1", duplicate.seq, "duplicate", "rev-1",
                                     &booking)); /* 11 */
    EXPECT_OK(ledger,
              ledger_case_set_status(ledger, "approver1", case_three, LEDGER_CASE_FREEZE, "fr-1"));
    RECEIPT(ledger, case_three, 100, "r-4"); /* 12 */
    EXPECT_OK(ledger, ledger_case_set_status(ledger, "approver1", case_three, LEDGER_CASE_UNFREEZE,
                                             "unfr-1"));
    int64_t emptied = REQUEST(ledger, case_three, 23100, "d-4");
    APPROVE(ledger, emptied, "a-4");  /* 13 */
    SETTLE(ledger, emptied, "PAY-4"); /* 14 */
    EXPECT_OK(ledger,
              ledger_case_set_status(ledger, "admin1", case_three, LEDGER_CASE_CLOSE, "close-3"));
    EXPECT_CASE(ledger, case_one, 400000, 0, 500000, 100000);
    EXPECT_CASE(ledger, case_two, 0, 0, 23000, 0);
    EXPECT_CASE(ledger, case_three, 0, 0, 100, 23100);
    ck_assert_int_eq(balance_of(fx.bank_account_id), 500000 + 20000 + 3000 - 100000 + 100 - 23100);
    ck_assert_int_eq(balance_of(system_account("in_transit")), 0);
    ck_assert_int_eq(balance_of(system_account("suspense")), 0);
    expect_books_balance();
    return 14;
}

START_TEST(verify_whole_story)
{
    struct ledger *ledger = fixture_ledger(&fx);
    int64_t booked = whole_story(ledger);
    ck_assert_int_eq(entries_count(), booked);
    struct ledger_keyring keyring;
    struct ledger_verify_result result;
    EXPECT_OK(ledger, ledger_keyring_load(&keyring, fx.keyring_file));
    EXPECT_OK(ledger, ledger_verify(ledger, &keyring, NULL, &result));
    ck_assert_msg(result.ok, "verify: seq %lld: %s", (long long)result.first_bad_seq,
                  result.reason);
    ck_assert_int_eq(result.checked, booked);
    ck_assert_int_eq(result.first_bad_seq, 0);

    struct ledger_head head;
    EXPECT_OK(ledger, ledger_head_current(ledger, &head));
    ck_assert_int_eq(head.seq, booked);
    char hex[2 * LEDGER_HASH_SIZE + 1];
    hash_hex(hex, head.hash);
    EXPECT_QUERY_TEXT(hex, "SELECT encode(hash, 'hex') FROM entries WHERE seq = %lld",
                      (long long)booked);
    EXPECT_OK(ledger, ledger_head_verify(&head, &keyring));

    /* From the saved head: nothing new, then one more entry. */
    EXPECT_OK(ledger, ledger_verify(ledger, &keyring, &head, &result));
    ck_assert(result.ok);
    ck_assert_int_eq(result.checked, 0);
    RECEIPT(ledger, case_one, 1, "r-last");
    EXPECT_OK(ledger, ledger_verify(ledger, &keyring, &head, &result));
    ck_assert(result.ok);
    ck_assert_int_eq(result.checked, 1);
    EXPECT_OK(ledger, ledger_verify(ledger, &keyring, NULL, &result));
    ck_assert(result.ok);
    ck_assert_int_eq(result.checked, booked + 1);
    EXPECT_OK(ledger, ledger_head_current(ledger, &head));
    ck_assert_int_eq(head.seq, booked + 1);
    ledger_close(ledger);
}
END_TEST

/* ======================================================================== */

static TCase *db_tcase(const char *name)
{
    TCase *tcase = tcase_create(name);
    tcase_add_checked_fixture(tcase, setup, teardown);
    tcase_set_timeout(tcase, TEST_TIMEOUT_S);
    return tcase;
}

Suite *ledger_db_suite(void)
{
    Suite *suite = suite_create("ledger_db");
    TCase *cases = db_tcase("cases");
    tcase_add_test(cases, case_open_and_find);
    tcase_add_test(cases, case_exists_refused);
    suite_add_tcase(suite, cases);

    TCase *receipts = db_tcase("receipts");
    tcase_add_test(receipts, receipt_by_case_no);
    tcase_add_test(receipts, receipt_by_payin_no);
    tcase_add_test(receipts, receipt_suspense_and_assign);
    suite_add_tcase(suite, receipts);

    TCase *disbursements = db_tcase("disbursements");
    tcase_add_test(disbursements, payout_approve_settle);
    tcase_add_test(disbursements, booking_names_disbursement);
    tcase_add_test(disbursements, payout_returned);
    tcase_add_test(disbursements, payout_rejected);
    tcase_add_test(disbursements, payout_reservations);
    suite_add_tcase(suite, disbursements);

    TCase *transfers = db_tcase("transfers");
    tcase_add_test(transfers, transfer_approved);
    suite_add_tcase(suite, transfers);

    TCase *reversals = db_tcase("reversals");
    tcase_add_test(reversals, reverse_receipt);
    tcase_add_test(reversals, reverse_twice_on_empty_case);
    tcase_add_test(reversals, reverse_refusals);
    tcase_add_test(reversals, reverse_transfer_not_assign);
    tcase_add_test(reversals, assign_corrected_by_transfer);
    suite_add_tcase(suite, reversals);

    TCase *status = db_tcase("status");
    tcase_add_test(status, frozen_case);
    tcase_add_test(status, closed_case);
    tcase_add_test(status, status_refusals);
    suite_add_tcase(suite, status);

    TCase *idempotency = db_tcase("idempotency");
    tcase_add_test(idempotency, replay_case_open);
    tcase_add_test(idempotency, replay_receipt);
    tcase_add_test(idempotency, replay_disbursement_workflow);
    tcase_add_test(idempotency, replay_reverse_reject_freeze);
    tcase_add_test(idempotency, replay_settle_value_date);
    tcase_add_test(idempotency, replay_return_reason);
    tcase_add_test(idempotency, refused_request_keeps_key_free);
    suite_add_tcase(suite, idempotency);

    TCase *refusals = db_tcase("refusals");
    tcase_add_test(refusals, refuse_unknown_case);
    tcase_add_test(refusals, refuse_bad_payin);
    tcase_add_test(refusals, refuse_same_user);
    tcase_add_test(refusals, refuse_wrong_role_and_unknown_user);
    tcase_add_test(refusals, refuse_bad_amounts);
    tcase_add_test(refusals, refuse_bad_idempotency_keys);
    tcase_add_test(refusals, refuse_decision_states);
    tcase_add_test(refusals, refuse_approve_twice_on_empty_case);
    suite_add_tcase(suite, refusals);

    TCase *rules = db_tcase("database_rules");
    tcase_add_test(rules, db_app_cannot_change_journal);
    tcase_add_test(rules, db_superuser_blocked_by_triggers);
    tcase_add_test(rules, db_unbalanced_entry_refused_at_commit);
    tcase_add_test(rules, db_journal_references_enforced);
    tcase_add_test(rules, db_case_balance_not_below_zero);
    tcase_add_test(rules, db_closed_account_takes_no_postings);
    tcase_add_test(rules, db_four_eyes_and_transitions);
    tcase_add_test(rules, db_payin_check_digits);
    tcase_add_test(rules, db_forged_entry_caught_by_verify);
    suite_add_tcase(suite, rules);

    TCase *integrity = db_tcase("integrity");
    tcase_add_test(integrity, verify_whole_story);
    suite_add_tcase(suite, integrity);
    return suite;
}

int main(void)
{
    runner_pid = getpid();
    SRunner *runner = srunner_create(ledger_db_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    fixture_drop_leftovers("ledger");
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

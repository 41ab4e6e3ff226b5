/* Integration suite for the ledger's read queries (ledger/query.h) on a real
 * PostgreSQL: a case's postings, disbursements, custody bank accounts,
 * single lookups and the applicant's status lists. Pages are walked to the
 * end and checked for order, completeness and no repeats; filters and
 * limits are checked against what was booked; every refusal has a test.
 *
 * Each test gets a fresh migrated database (checked fixture), so seq
 * numbers and ids start at 1 in every test. */
#include <check.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db_fixture.h"
#include "ledger.h"
#include "query.h"

Suite *query_db_suite(void);

#define ROWS(table) ((int)(sizeof(table) / sizeof((table)[0])))
#define TEST_TIMEOUT_S 60
#define SEEN_MAX 64

static struct fixture fx;
static struct ledger *db;
static int key_counter;

static pid_t runner_pid;

static const char case_a[] = "(2026)沪0115执100号";
static const char case_b[] = "(2026)沪0115执200号";
static const char case_c[] = "(2026)沪0115执300号";

static void setup(void)
{
    char name[32];
    snprintf(name, sizeof name, "query_%ld", (long)runner_pid);
    fixture_setup(&fx, name);
    db = fixture_ledger(&fx);
    key_counter = 0;
}

static void teardown(void)
{
    ledger_close(db);
    db = NULL;
    fixture_teardown(&fx);
}

/* ---- booking helpers ------------------------------------------------------ */

#define EXPECT_OK(...)                                                                             \
    do {                                                                                           \
        enum ledger_err err_ = (__VA_ARGS__);                                                      \
        ck_assert_msg(err_ == LEDGER_OK, "line %d: %s: %s (%s)", __LINE__, #__VA_ARGS__,           \
                      ledger_err_code(err_), ledger_last_detail(db));                              \
    } while (0)

#define EXPECT_ERR(expected, ...)                                                                  \
    do {                                                                                           \
        enum ledger_err err_ = (__VA_ARGS__);                                                      \
        ck_assert_msg(err_ == (expected), "line %d: %s: got %s, want %s", __LINE__, #__VA_ARGS__,  \
                      ledger_err_code(err_), ledger_err_code(expected));                           \
    } while (0)

static const char *next_key(char key[32])
{
    snprintf(key, 32, "query-key-%d", ++key_counter);
    return key;
}

static int32_t date_days(const char *text)
{
    int32_t days = 0;
    ck_assert(ledger_date_parse(&days, text) == LEDGER_OK);
    return days;
}

/* A receipt to case_no (NULL: suspense) with a value date; its entry seq. */
static int64_t receipt(const char *case_no, int64_t amount_minor, const char *value_date)
{
    char key[32];
    struct ledger_receipt_request request = {
        .case_no = case_no,
        .amount_minor = amount_minor,
        .bank_ref = next_key(key),
        .payer = "Debtor Ltd",
        .value_date_days = value_date ? date_days(value_date) : LEDGER_VALUE_DATE_NONE};
    struct ledger_booking booking;
    EXPECT_OK(ledger_receipt(db, "clerk1", &request, key, &booking));
    return booking.seq;
}

static int64_t payout(const char *case_no, int64_t amount_minor)
{
    char key[32];
    struct ledger_disbursement_request request = {.case_no = case_no,
                                                  .amount_minor = amount_minor,
                                                  .payee_name = "张三",
                                                  .payee_account = "6222020200112233445",
                                                  .payee_bank = "Test Bank",
                                                  .purpose = "judgment payout"};
    int64_t id = 0;
    bool replayed = false;
    EXPECT_OK(ledger_disbursement_request(db, "clerk1", &request, next_key(key), &id, &replayed));
    return id;
}

static int64_t transfer(const char *from, const char *to, int64_t amount_minor)
{
    char key[32];
    int64_t id = 0;
    bool replayed = false;
    EXPECT_OK(ledger_transfer_request(db, "clerk1", from, to, amount_minor, "wrong case",
                                      next_key(key), &id, &replayed));
    return id;
}

static int64_t approve(int64_t id)
{
    char key[32];
    struct ledger_booking booking;
    EXPECT_OK(ledger_disbursement_approve(db, "approver1", id, next_key(key), &booking));
    return booking.seq;
}

static void reject(int64_t id)
{
    char key[32];
    bool replayed = false;
    EXPECT_OK(ledger_disbursement_reject(db, "approver1", id, "not due", next_key(key), &replayed));
}

static int64_t settle(int64_t id)
{
    char key[32];
    struct ledger_booking booking;
    EXPECT_OK(ledger_disbursement_settle(db, "clerk1", id, "PAID-1", date_days("2026-11-22"),
                                         next_key(key), &booking));
    return booking.seq;
}

static int64_t give_back(int64_t id)
{
    char key[32];
    struct ledger_booking booking;
    EXPECT_OK(ledger_disbursement_return(db, "clerk1", id, "RET-1", "account closed", next_key(key),
                                         &booking));
    return booking.seq;
}

static int64_t reverse(int64_t seq)
{
    char key[32];
    struct ledger_booking booking;
    EXPECT_OK(ledger_reverse(db, "approver1", seq, "bank recall", next_key(key), &booking));
    return booking.seq;
}

static int64_t assign(int64_t suspense_seq, const char *case_no)
{
    char key[32];
    struct ledger_booking booking;
    EXPECT_OK(ledger_assign_suspense(db, "clerk1", suspense_seq, case_no, next_key(key), &booking));
    return booking.seq;
}

/* ---- collecting pages ---------------------------------------------------- */

struct entries_seen {
    int count;
    int stop_after; /* 0: never; else the visitor fails after this many */
    struct ledger_case_entry rows[SEEN_MAX];
};

static enum ledger_err collect_entry(void *context, const struct ledger_case_entry *entry)
{
    struct entries_seen *seen = context;
    if (seen->stop_after != 0 && seen->count >= seen->stop_after)
        return LEDGER_ERR_NOMEM;
    ck_assert_int_lt(seen->count, SEEN_MAX);
    seen->rows[seen->count++] = *entry;
    return LEDGER_OK;
}

struct disbursements_seen {
    int count;
    struct ledger_disbursement_item rows[SEEN_MAX];
};

static enum ledger_err collect_disbursement(void *context,
                                            const struct ledger_disbursement_item *item)
{
    struct disbursements_seen *seen = context;
    ck_assert_int_lt(seen->count, SEEN_MAX);
    seen->rows[seen->count++] = *item;
    return LEDGER_OK;
}

struct bank_accounts_seen {
    int count;
    struct ledger_bank_account_item rows[SEEN_MAX];
};

static enum ledger_err collect_bank_account(void *context,
                                            const struct ledger_bank_account_item *item)
{
    struct bank_accounts_seen *seen = context;
    ck_assert_int_lt(seen->count, SEEN_MAX);
    seen->rows[seen->count++] = *item;
    return LEDGER_OK;
}

/* Walks every page of a case's postings with limit; checks each page's
 * size and that seqs fall strictly; returns the pages walked. */
static int walk_entries(const char *case_no, int limit, struct entries_seen *all)
{
    int64_t cursor = 0;
    int pages = 0;
    memset(all, 0, sizeof *all);
    for (;;) {
        struct entries_seen page;
        memset(&page, 0, sizeof page);
        int64_t next_cursor = -1;
        EXPECT_OK(
            ledger_case_entries(db, case_no, cursor, limit, &next_cursor, collect_entry, &page));
        pages++;
        ck_assert_int_le(page.count, limit);
        for (int i = 0; i < page.count; i++) {
            ck_assert_int_lt(all->count, SEEN_MAX);
            if (all->count > 0)
                ck_assert_int_lt(page.rows[i].seq, all->rows[all->count - 1].seq);
            all->rows[all->count++] = page.rows[i];
        }
        if (next_cursor == 0)
            break;
        ck_assert_int_eq(page.count, limit); /* only a full page has a next one */
        ck_assert_int_eq(next_cursor, page.rows[page.count - 1].seq);
        ck_assert_int_lt(pages, 100);
        cursor = next_cursor;
    }
    return pages;
}

/* ---- a case's postings ---------------------------------------------------- */

START_TEST(entries_newest_first_with_signs_and_counterparts)
{
    fixture_open_case(db, case_a, NULL);
    int64_t account_b = fixture_open_case(db, case_b, NULL);
    int64_t received = receipt(case_a, 100000, "2026-11-20");
    int64_t moved = approve(transfer(case_a, case_b, 1000));
    int64_t paid_out = approve(payout(case_a, 30000));
    int64_t reversed = receipt(case_a, 500, NULL);
    int64_t reversal = reverse(reversed);

    struct entries_seen seen;
    int pages = walk_entries(case_a, 50, &seen);
    ck_assert_int_eq(pages, 1);
    ck_assert_int_eq(seen.count, 5);
    const int64_t order[] = {reversal, reversed, paid_out, moved, received};
    const int64_t amounts[] = {-500, 500, -30000, -1000, 100000};
    const char *const kinds[] = {"reversal", "receipt", "disbursement", "transfer", "receipt"};
    const char *const counterparts[] = {"bank", "bank", "in_transit", "case", "bank"};
    for (int i = 0; i < ROWS(order); i++) {
        const struct ledger_case_entry *row = &seen.rows[i];
        ck_assert_int_eq(row->seq, order[i]);
        ck_assert_int_eq(row->amount_minor, amounts[i]);
        ck_assert_str_eq(row->kind, kinds[i]);
        ck_assert_str_eq(row->counterpart_kind, counterparts[i]);
        ck_assert_str_eq(row->currency, "CNY");
        ck_assert_int_gt(row->created_at_us, 0);
        ck_assert_int_ne(row->counterpart_id, 0);
    }
    /* The transfer names the other case; the receipt its bank reference,
     * payer memo, value date and the custody account. */
    ck_assert_int_eq(seen.rows[3].counterpart_id, account_b);
    ck_assert_str_eq(seen.rows[3].counterpart_case_no, case_b);
    ck_assert_str_eq(seen.rows[3].actor, "approver1");
    ck_assert_int_eq(seen.rows[4].counterpart_id, fx.bank_account_id);
    ck_assert_str_eq(seen.rows[4].counterpart_case_no, "");
    ck_assert_str_eq(seen.rows[4].memo, "payer: Debtor Ltd");
    ck_assert_str_eq(seen.rows[4].bank_ref, "query-key-1");
    ck_assert_int_eq(seen.rows[4].value_date_days, date_days("2026-11-20"));
    ck_assert_int_eq(seen.rows[1].value_date_days, LEDGER_VALUE_DATE_NONE);
    /* Reversal links both ways. */
    ck_assert_int_eq(seen.rows[0].reverses_seq, reversed);
    ck_assert_int_eq(seen.rows[1].reversed_by_seq, reversal);
    ck_assert_int_eq(seen.rows[4].reversed_by_seq, 0);
    ck_assert_int_eq(seen.rows[4].reverses_seq, 0);

    /* The hash is the stored one. */
    char sql[128];
    char hex[2 * LEDGER_HASH_SIZE + 1];
    snprintf(sql, sizeof sql, "SELECT encode(hash, 'hex') FROM entries WHERE seq = %lld",
             (long long)received);
    char *stored = fixture_query(&fx, sql);
    ledger_to_hex(hex, seen.rows[4].hash, LEDGER_HASH_SIZE);
    ck_assert_str_eq(hex, stored);
    free(stored);

    /* Seen from case B the transfer is money in. */
    struct entries_seen seen_b;
    walk_entries(case_b, 50, &seen_b);
    ck_assert_int_eq(seen_b.count, 1);
    ck_assert_int_eq(seen_b.rows[0].amount_minor, 1000);
    ck_assert_str_eq(seen_b.rows[0].counterpart_case_no, case_a);
}
END_TEST

START_TEST(entries_pages_cover_everything_once)
{
    fixture_open_case(db, case_a, NULL);
    fixture_open_case(db, case_b, NULL);
    int64_t seqs[7];
    for (int i = 0; i < ROWS(seqs); i++) {
        seqs[i] = receipt(case_a, 100 + i, "2026-11-01");
        receipt(case_b, 1, "2026-11-01"); /* interleaved: never in case A's pages */
    }
    const int limits[] = {1, 2, 3, 6, 7, 8, 1000};
    const int pages_expected[] = {7, 4, 3, 2, 1, 1, 1};
    for (int l = 0; l < ROWS(limits); l++) {
        struct entries_seen seen;
        int pages = walk_entries(case_a, limits[l], &seen);
        ck_assert_msg(pages == pages_expected[l], "limit %d: %d pages", limits[l], pages);
        ck_assert_int_eq(seen.count, ROWS(seqs));
        for (int i = 0; i < ROWS(seqs); i++) {
            ck_assert_int_eq(seen.rows[i].seq, seqs[ROWS(seqs) - 1 - i]);
            ck_assert_int_eq(seen.rows[i].amount_minor, 100 + ROWS(seqs) - 1 - i);
        }
    }
}
END_TEST

START_TEST(entries_exact_pages_end_without_cursor)
{
    fixture_open_case(db, case_a, NULL);
    for (int i = 0; i < 6; i++)
        receipt(case_a, 10, NULL);
    struct entries_seen page;
    memset(&page, 0, sizeof page);
    int64_t next_cursor = -1;
    EXPECT_OK(ledger_case_entries(db, case_a, 0, 3, &next_cursor, collect_entry, &page));
    ck_assert_int_eq(page.count, 3);
    ck_assert_int_eq(next_cursor, page.rows[2].seq);
    int64_t cursor = next_cursor;
    memset(&page, 0, sizeof page);
    EXPECT_OK(ledger_case_entries(db, case_a, cursor, 3, &next_cursor, collect_entry, &page));
    ck_assert_int_eq(page.count, 3);
    ck_assert_int_eq(next_cursor, 0); /* no empty page at the end */
}
END_TEST

START_TEST(entries_empty_case_and_spellings)
{
    fixture_open_case(db, case_a, NULL);
    struct entries_seen page;
    memset(&page, 0, sizeof page);
    int64_t next_cursor = -1;
    EXPECT_OK(ledger_case_entries(db, case_a, 0, 50, &next_cursor, collect_entry, &page));
    ck_assert_int_eq(page.count, 0);
    ck_assert_int_eq(next_cursor, 0);
    /* Full-width brackets and digits, spaces: the same case. */
    receipt(case_a, 42, NULL);
    EXPECT_OK(ledger_case_entries(db, "（２０２６） 沪0115执100号", 0, 50, &next_cursor,
                                  collect_entry, &page));
    ck_assert_int_eq(page.count, 1);
    ck_assert_int_eq(page.rows[0].amount_minor, 42);
}
END_TEST

START_TEST(entries_refusals)
{
    fixture_open_case(db, case_a, NULL);
    receipt(case_a, 10, NULL);
    receipt(case_a, 20, NULL);
    receipt(case_a, 30, NULL);
    struct entries_seen page;
    memset(&page, 0, sizeof page);
    int64_t next_cursor = -1;
    EXPECT_ERR(LEDGER_ERR_UNKNOWN_CASE,
               ledger_case_entries(db, case_b, 0, 50, &next_cursor, collect_entry, &page));
    EXPECT_ERR(LEDGER_ERR_UNKNOWN_CASE,
               ledger_case_entries(db, "", 0, 50, &next_cursor, collect_entry, &page));
    const int bad_limits[] = {0, -1, LEDGER_QUERY_PAGE_MAX + 1};
    for (int i = 0; i < ROWS(bad_limits); i++)
        EXPECT_ERR(
            LEDGER_ERR_INVALID_ARGUMENT,
            ledger_case_entries(db, case_a, 0, bad_limits[i], &next_cursor, collect_entry, &page));
    EXPECT_ERR(LEDGER_ERR_INVALID_ARGUMENT,
               ledger_case_entries(db, case_a, -5, 10, &next_cursor, collect_entry, &page));
    ck_assert_int_eq(page.count, 0);
    EXPECT_OK(ledger_case_entries(db, case_a, 0, LEDGER_QUERY_PAGE_MAX, &next_cursor, collect_entry,
                                  &page));
    ck_assert_int_eq(page.count, 3);
    /* A visitor's error stops the page and is returned. */
    memset(&page, 0, sizeof page);
    page.stop_after = 2;
    EXPECT_ERR(LEDGER_ERR_NOMEM,
               ledger_case_entries(db, case_a, 0, 50, &next_cursor, collect_entry, &page));
    ck_assert_int_eq(page.count, 2);
    ck_assert_int_eq(next_cursor, 0);
}
END_TEST

/* ---- disbursements -------------------------------------------------------- */

struct disbursement_story {
    int64_t requested, approved, rejected, paid, returned, transfer;
    int64_t approve_seq, settle_seq, return_seq;
};

/* Case A: one payout in each state and a transfer to B; case B: one
 * requested payout. */
static void disbursement_story(struct disbursement_story *story)
{
    fixture_open_case(db, case_a, NULL);
    fixture_open_case(db, case_b, NULL);
    receipt(case_a, 1000000, NULL);
    receipt(case_b, 1000, NULL);
    story->paid = payout(case_a, 100);
    story->returned = payout(case_a, 200);
    story->rejected = payout(case_a, 300);
    story->approved = payout(case_a, 400);
    story->transfer = transfer(case_a, case_b, 500);
    story->requested = payout(case_a, 600);
    payout(case_b, 700);
    approve(story->paid);
    story->settle_seq = settle(story->paid);
    story->approve_seq = approve(story->returned);
    story->return_seq = give_back(story->returned);
    reject(story->rejected);
    approve(story->approved);
    approve(story->transfer);
}

static int list_all(const struct ledger_disbursement_filter *filter, int limit,
                    struct disbursements_seen *all)
{
    int64_t cursor = 0;
    memset(all, 0, sizeof *all);
    for (int pages = 0; pages < 100; pages++) {
        struct disbursements_seen page;
        memset(&page, 0, sizeof page);
        int64_t next_cursor = -1;
        EXPECT_OK(ledger_disbursements_list(db, filter, cursor, limit, &next_cursor,
                                            collect_disbursement, &page));
        ck_assert_int_le(page.count, limit);
        for (int i = 0; i < page.count; i++) {
            if (all->count > 0)
                ck_assert_int_lt(page.rows[i].id, all->rows[all->count - 1].id);
            all->rows[all->count++] = page.rows[i];
        }
        if (next_cursor == 0)
            break;
        ck_assert_int_eq(next_cursor, page.rows[page.count - 1].id);
        cursor = next_cursor;
    }
    return all->count;
}

START_TEST(disbursements_filters)
{
    struct disbursement_story story;
    disbursement_story(&story);
    struct disbursements_seen seen;
    ck_assert_int_eq(list_all(NULL, 50, &seen), 7);
    ck_assert_int_eq(seen.rows[0].id, 7); /* newest first */

    struct {
        struct ledger_disbursement_filter filter;
        int count;
        int64_t first_id;
    } cases[] = {
        {{.status = "requested"}, 2, 7},
        {{.status = "requested", .case_no = case_a}, 1, story.requested},
        {{.status = "approved"}, 2, story.transfer},
        {{.status = "approved", .kind = "payout"}, 1, story.approved},
        {{.status = "rejected"}, 1, story.rejected},
        {{.status = "paid"}, 1, story.paid},
        {{.status = "returned"}, 1, story.returned},
        {{.kind = "transfer"}, 1, story.transfer},
        {{.kind = "payout", .case_no = case_a}, 5, story.requested},
        {{.case_no = case_b}, 1, 7},
        {{.case_no = case_b, .status = "paid"}, 0, 0},
        {{.case_no = case_c}, 0, 0}, /* opened below: exists, nothing leaves it */
    };
    fixture_open_case(db, case_c, NULL);
    for (int i = 0; i < ROWS(cases); i++) {
        int count = list_all(&cases[i].filter, 2, &seen);
        ck_assert_msg(count == cases[i].count, "filter %d: %d rows", i, count);
        if (count > 0)
            ck_assert_int_eq(seen.rows[0].id, cases[i].first_id);
        for (int r = 0; r < count; r++) {
            if (cases[i].filter.status != NULL)
                ck_assert_str_eq(seen.rows[r].status, cases[i].filter.status);
            if (cases[i].filter.kind != NULL)
                ck_assert_str_eq(seen.rows[r].kind, cases[i].filter.kind);
            if (cases[i].filter.case_no != NULL)
                ck_assert_str_eq(seen.rows[r].case_no, cases[i].filter.case_no);
        }
    }
}
END_TEST

START_TEST(disbursements_fields)
{
    struct disbursement_story story;
    disbursement_story(&story);
    struct ledger_disbursement_item item;
    EXPECT_OK(ledger_disbursement_get(db, story.requested, &item));
    ck_assert_str_eq(item.kind, "payout");
    ck_assert_str_eq(item.status, "requested");
    ck_assert_str_eq(item.case_no, case_a);
    ck_assert_str_eq(item.to_case_no, "");
    ck_assert_int_eq(item.amount_minor, 600);
    ck_assert_str_eq(item.currency, "CNY");
    ck_assert_str_eq(item.payee_name, "张三");
    ck_assert_str_eq(item.payee_account, "6222020200112233445");
    ck_assert_str_eq(item.payee_bank, "Test Bank");
    ck_assert_str_eq(item.purpose, "judgment payout");
    ck_assert_str_eq(item.requested_by, "clerk1");
    ck_assert_int_gt(item.requested_at_us, 0);
    ck_assert_str_eq(item.decided_by, "");
    ck_assert(item.decided_at_us == 0 && item.paid_at_us == 0 && item.returned_at_us == 0);
    ck_assert(item.approve_seq == 0 && item.settle_seq == 0 && item.return_seq == 0);

    EXPECT_OK(ledger_disbursement_get(db, story.paid, &item));
    ck_assert_str_eq(item.status, "paid");
    ck_assert_str_eq(item.decided_by, "approver1");
    ck_assert_int_ge(item.decided_at_us, item.requested_at_us);
    ck_assert_int_ge(item.paid_at_us, item.decided_at_us);
    ck_assert_int_eq(item.settle_seq, story.settle_seq);
    ck_assert_str_eq(item.bank_ref, "PAID-1");

    EXPECT_OK(ledger_disbursement_get(db, story.returned, &item));
    ck_assert_str_eq(item.status, "returned");
    ck_assert_int_eq(item.approve_seq, story.approve_seq);
    ck_assert_int_eq(item.return_seq, story.return_seq);
    ck_assert_int_gt(item.returned_at_us, 0);

    EXPECT_OK(ledger_disbursement_get(db, story.rejected, &item));
    ck_assert_str_eq(item.reject_reason, "not due");
    ck_assert_int_eq(item.approve_seq, 0);

    EXPECT_OK(ledger_disbursement_get(db, story.transfer, &item));
    ck_assert_str_eq(item.kind, "transfer");
    ck_assert_str_eq(item.to_case_no, case_b);
    ck_assert_str_eq(item.payee_name, "");
    ck_assert_str_eq(item.purpose, "wrong case");
    ck_assert_int_gt(item.approve_seq, 0);

    EXPECT_ERR(LEDGER_ERR_UNKNOWN_DISBURSEMENT, ledger_disbursement_get(db, 999, &item));
    EXPECT_ERR(LEDGER_ERR_UNKNOWN_DISBURSEMENT, ledger_disbursement_get(db, 0, &item));
}
END_TEST

START_TEST(disbursements_refusals)
{
    struct disbursement_story story;
    disbursement_story(&story);
    struct disbursements_seen seen;
    memset(&seen, 0, sizeof seen);
    int64_t next_cursor = -1;
    const struct ledger_disbursement_filter bad[] = {
        {.status = "done"}, {.status = "REQUESTED"}, {.status = ""}, {.kind = "refund"}};
    for (int i = 0; i < ROWS(bad); i++)
        EXPECT_ERR(LEDGER_ERR_INVALID_ARGUMENT,
                   ledger_disbursements_list(db, &bad[i], 0, 10, &next_cursor, collect_disbursement,
                                             &seen));
    const struct ledger_disbursement_filter unknown = {.case_no = "(2026)nowhere"};
    EXPECT_ERR(LEDGER_ERR_UNKNOWN_CASE, ledger_disbursements_list(db, &unknown, 0, 10, &next_cursor,
                                                                  collect_disbursement, &seen));
    EXPECT_ERR(LEDGER_ERR_INVALID_ARGUMENT, ledger_disbursements_list(db, NULL, 0, 0, &next_cursor,
                                                                      collect_disbursement, &seen));
    EXPECT_ERR(LEDGER_ERR_INVALID_ARGUMENT,
               ledger_disbursements_list(db, NULL, 0, LEDGER_QUERY_PAGE_MAX + 1, &next_cursor,
                                         collect_disbursement, &seen));
    ck_assert_int_eq(seen.count, 0);
    /* A cursor past the oldest gives an empty last page. */
    EXPECT_OK(
        ledger_disbursements_list(db, NULL, 1, 10, &next_cursor, collect_disbursement, &seen));
    ck_assert_int_eq(seen.count, 0);
    ck_assert_int_eq(next_cursor, 0);
}
END_TEST

/* ---- accounts --------------------------------------------------------------- */

START_TEST(bank_accounts_listed_with_balances)
{
    int64_t second = 0;
    int64_t dollars = 0;
    EXPECT_OK(ledger_setup_bank_account(db, "CUSTODY-2", "Second Bank", "CNY", &second));
    EXPECT_OK(ledger_setup_bank_account(db, "CUSTODY-USD", "Dollar Bank", "USD", &dollars));
    fixture_open_case(db, case_a, NULL);
    receipt(case_a, 12345, NULL);
    receipt(case_a, 55, NULL);

    const int limits[] = {1, 2, 3, 50};
    for (int l = 0; l < ROWS(limits); l++) {
        struct bank_accounts_seen all;
        memset(&all, 0, sizeof all);
        int64_t cursor = 0;
        for (int pages = 0; pages < 10; pages++) {
            int64_t next_cursor = -1;
            int before = all.count;
            EXPECT_OK(ledger_bank_accounts_list(db, cursor, limits[l], &next_cursor,
                                                collect_bank_account, &all));
            ck_assert_int_le(all.count - before, limits[l]);
            if (next_cursor == 0)
                break;
            ck_assert_int_eq(next_cursor, all.rows[all.count - 1].id);
            cursor = next_cursor;
        }
        ck_assert_int_eq(all.count, 3);
        ck_assert_int_eq(all.rows[0].id, fx.bank_account_id); /* oldest first */
        ck_assert_int_eq(all.rows[1].id, second);
        ck_assert_int_eq(all.rows[2].id, dollars);
        ck_assert_str_eq(all.rows[0].account_no, "CUSTODY-1");
        ck_assert_str_eq(all.rows[0].bank_name, "Test Custody Bank");
        ck_assert_int_eq(all.rows[0].balance_minor, 12400); /* the default takes receipts */
        ck_assert_int_eq(all.rows[1].balance_minor, 0);
        ck_assert_str_eq(all.rows[2].currency, "USD");
        ck_assert_str_eq(all.rows[2].status, "open");
    }

    struct ledger_bank_account_item item;
    EXPECT_OK(ledger_bank_account_find(db, "CUSTODY-2", &item));
    ck_assert_int_eq(item.id, second);
    ck_assert_str_eq(item.bank_name, "Second Bank");
    EXPECT_ERR(LEDGER_ERR_UNKNOWN_ACCOUNT, ledger_bank_account_find(db, "CUSTODY-9", &item));
    EXPECT_ERR(LEDGER_ERR_UNKNOWN_ACCOUNT, ledger_bank_account_find(db, "", &item));
    int64_t next_cursor = -1;
    struct bank_accounts_seen none;
    memset(&none, 0, sizeof none);
    EXPECT_ERR(LEDGER_ERR_INVALID_ARGUMENT,
               ledger_bank_accounts_list(db, 0, 0, &next_cursor, collect_bank_account, &none));
    EXPECT_ERR(LEDGER_ERR_INVALID_ARGUMENT,
               ledger_bank_accounts_list(db, -1, 10, &next_cursor, collect_bank_account, &none));
    ck_assert_int_eq(none.count, 0);
}
END_TEST

START_TEST(account_lookup)
{
    int64_t account_a = fixture_open_case(db, case_a, NULL);
    struct ledger_account_summary account;
    EXPECT_OK(ledger_account_get(db, account_a, &account));
    ck_assert_int_eq(account.id, account_a);
    ck_assert_str_eq(account.kind, "case");
    ck_assert_str_eq(account.case_no, case_a);
    ck_assert_str_eq(account.status, "open");
    ck_assert_str_eq(account.currency, "CNY");
    EXPECT_OK(ledger_account_get(db, fx.bank_account_id, &account));
    ck_assert_str_eq(account.kind, "bank");
    ck_assert_str_eq(account.case_no, "");
    EXPECT_ERR(LEDGER_ERR_UNKNOWN_ACCOUNT, ledger_account_get(db, 99999, &account));
}
END_TEST

/* ---- the applicant's view -------------------------------------------------- */

START_TEST(status_lookup_receipts_and_payouts)
{
    char code_a[LEDGER_ACCESS_CODE_TEXT_SIZE];
    char code_b[LEDGER_ACCESS_CODE_TEXT_SIZE];
    fixture_open_case(db, case_a, code_a);
    fixture_open_case(db, case_b, code_b);
    receipt(case_a, 1000, "2026-11-01");
    int64_t undone = receipt(case_a, 2000, "2026-11-02");
    int64_t suspense = receipt(NULL, 3000, "2026-11-03");
    assign(suspense, case_a);
    receipt(case_b, 9000, "2026-11-04");
    approve(transfer(case_b, case_a, 4000)); /* a transfer in is not a receipt */
    reverse(undone);
    receipt(case_a, 5000, NULL);
    int64_t requested = payout(case_a, 100);
    int64_t paid = payout(case_a, 200);
    int64_t rejected = payout(case_a, 300);
    approve(paid);
    settle(paid);
    reject(rejected);
    (void)requested;

    struct ledger_status_case status_case;
    struct ledger_status_receipt receipts[8];
    struct ledger_status_payout payouts[8];
    struct ledger_status_lists lists = {
        .receipts = receipts, .receipts_max = 8, .payouts = payouts, .payouts_max = 8};
    EXPECT_OK(ledger_status_lookup(db, case_a, code_a, &status_case, &lists));
    ck_assert_str_eq(status_case.case_no, case_a);
    ck_assert_str_eq(status_case.status, "open");
    ck_assert_str_eq(status_case.currency, "CNY");
    /* 1000 + 3000 (assigned) + 5000; the reversed 2000 nets out */
    ck_assert_int_eq(status_case.received_total, 9000);
    ck_assert_int_eq(status_case.disbursed_total, 200); /* the approved payout */
    ck_assert_int_eq(status_case.held, 9000 + 4000 - 200);
    ck_assert_uint_eq(lists.receipts_count, 3); /* newest first, the reversed one left out */
    ck_assert(!lists.receipts_more && !lists.payouts_more);
    ck_assert_int_eq(receipts[0].amount_minor, 5000);
    ck_assert_int_eq(receipts[0].value_date_days, LEDGER_VALUE_DATE_NONE);
    ck_assert_int_gt(receipts[0].booked_at_us, 0);
    ck_assert_int_eq(receipts[1].amount_minor, 3000); /* assigned: the suspense value date */
    ck_assert_int_eq(receipts[1].value_date_days, date_days("2026-11-03"));
    ck_assert_int_eq(receipts[2].amount_minor, 1000);
    ck_assert_int_eq(receipts[2].value_date_days, date_days("2026-11-01"));

    ck_assert_uint_eq(lists.payouts_count, 3);
    ck_assert_int_eq(payouts[0].amount_minor, 300);
    ck_assert_str_eq(payouts[0].status, "rejected");
    ck_assert_int_eq(payouts[0].approved_at_us, 0); /* decided, but not approved */
    ck_assert_int_eq(payouts[1].amount_minor, 200);
    ck_assert_str_eq(payouts[1].status, "paid");
    ck_assert_int_ge(payouts[1].approved_at_us, payouts[1].requested_at_us);
    ck_assert_int_ge(payouts[1].paid_at_us, payouts[1].approved_at_us);
    ck_assert_int_eq(payouts[2].amount_minor, 100);
    ck_assert_str_eq(payouts[2].status, "requested");
    ck_assert(payouts[2].approved_at_us == 0 && payouts[2].paid_at_us == 0);
    ck_assert_int_gt(payouts[2].requested_at_us, 0);

    /* Case B: its own receipt; its transfer out is not a payout. */
    EXPECT_OK(ledger_status_lookup(db, case_b, code_b, &status_case, &lists));
    ck_assert_int_eq(status_case.received_total, 9000);
    ck_assert_int_eq(status_case.held, 5000);
    ck_assert_uint_eq(lists.receipts_count, 1);
    ck_assert_int_eq(receipts[0].amount_minor, 9000);
    ck_assert_uint_eq(lists.payouts_count, 0);
}
END_TEST

/* Cases whose kept totals (accounts.received_total, disbursed_total,
 * maintained at booking) differ from the totals summed from their
 * postings, as 004's cl_case_status summed them at every call. */
static long long totals_drifted(void)
{
    return fixture_query_int(
        &fx, "SELECT count(*) FROM accounts a LEFT JOIN ("
             "  SELECT p.account_id,"
             "         -sum(p.amount) FILTER (WHERE e.kind IN ('receipt', 'assign') OR "
             "             (e.kind = 'reversal' AND r.kind IN ('receipt', 'assign'))) AS received,"
             "         sum(p.amount) FILTER (WHERE e.kind IN ('disbursement', 'return'))"
             "             AS disbursed"
             "  FROM postings p JOIN entries e ON e.seq = p.entry_seq"
             "  LEFT JOIN entries r ON r.seq = e.reverses_seq GROUP BY p.account_id) t"
             " ON t.account_id = a.id WHERE a.kind = 'case' AND"
             " (a.received_total <> coalesce(t.received, 0) OR"
             "  a.disbursed_total <> coalesce(t.disbursed, 0))");
}

static void expect_totals(const char *case_no, const char *code, int64_t received_total,
                          int64_t disbursed_total, int64_t held)
{
    struct ledger_status_case status_case;
    struct ledger_status_lists lists = {.receipts_max = 0, .payouts_max = 0};
    EXPECT_OK(ledger_status_lookup(db, case_no, code, &status_case, &lists));
    ck_assert_int_eq(status_case.received_total, received_total);
    ck_assert_int_eq(status_case.disbursed_total, disbursed_total);
    ck_assert_int_eq(status_case.held, held);
    ck_assert_int_eq(totals_drifted(), 0);
}

/* The totals are kept at booking (sql/008): after each kind of entry that
 * moves them, or must not, they equal what the postings sum to. */
START_TEST(status_totals_kept_at_booking)
{
    char code_a[LEDGER_ACCESS_CODE_TEXT_SIZE];
    char code_b[LEDGER_ACCESS_CODE_TEXT_SIZE];
    fixture_open_case(db, case_a, code_a);
    fixture_open_case(db, case_b, code_b);
    expect_totals(case_a, code_a, 0, 0, 0);
    int64_t undone = receipt(case_a, 2000, "2026-11-02");
    receipt(case_a, 1000, "2026-11-01");
    expect_totals(case_a, code_a, 3000, 0, 3000);
    reverse(undone); /* a reversal of a receipt takes it out */
    expect_totals(case_a, code_a, 1000, 0, 1000);
    int64_t suspense = receipt(NULL, 3000, "2026-11-03");
    expect_totals(case_a, code_a, 1000, 0, 1000); /* suspense is no case's */
    assign(suspense, case_a);                     /* an assignment from suspense is received */
    expect_totals(case_a, code_a, 4000, 0, 4000);
    receipt(case_b, 9000, NULL);
    int64_t moved = transfer(case_b, case_a, 500);
    approve(moved); /* a transfer moves the money held, not the totals */
    expect_totals(case_a, code_a, 4000, 0, 4500);
    expect_totals(case_b, code_b, 9000, 0, 8500);
    int64_t paid = payout(case_a, 300);
    int64_t returned = payout(case_a, 200);
    int64_t requested = payout(case_a, 100);
    expect_totals(case_a, code_a, 4000, 0, 4500); /* requested: nothing booked yet */
    approve(paid);
    approve(returned);
    expect_totals(case_a, code_a, 4000, 500, 4000); /* approved: disbursed */
    settle(paid);
    expect_totals(case_a, code_a, 4000, 500, 4000); /* settling moves in-transit only */
    give_back(returned); /* a payout that came back is disbursed no more */
    expect_totals(case_a, code_a, 4000, 300, 4200);
    reject(requested);
    expect_totals(case_a, code_a, 4000, 300, 4200);
    /* Other accounts keep no totals. */
    ck_assert_int_eq(fixture_query_int(&fx, "SELECT count(*) FROM accounts WHERE kind <> 'case' "
                                            "AND (received_total <> 0 OR disbursed_total <> 0)"),
                     0);
}
END_TEST

START_TEST(status_lookup_bounds)
{
    char code_a[LEDGER_ACCESS_CODE_TEXT_SIZE];
    fixture_open_case(db, case_a, code_a);
    for (int i = 1; i <= 3; i++)
        receipt(case_a, (int64_t)100 * i, NULL);
    payout(case_a, 10);
    payout(case_a, 20);
    struct ledger_status_case status_case;
    struct ledger_status_receipt receipts[2];
    struct ledger_status_payout payouts[2];
    struct ledger_status_lists lists = {
        .receipts = receipts, .receipts_max = 2, .payouts = payouts, .payouts_max = 2};
    EXPECT_OK(ledger_status_lookup(db, case_a, code_a, &status_case, &lists));
    ck_assert_uint_eq(lists.receipts_count, 2);
    ck_assert(lists.receipts_more);
    ck_assert_int_eq(receipts[0].amount_minor, 300);
    ck_assert_int_eq(receipts[1].amount_minor, 200);
    ck_assert_uint_eq(lists.payouts_count, 2);
    ck_assert(!lists.payouts_more);

    lists = (struct ledger_status_lists){.receipts_max = 0, .payouts_max = 0};
    EXPECT_OK(ledger_status_lookup(db, case_a, code_a, &status_case, &lists));
    ck_assert(lists.receipts_count == 0 && lists.payouts_count == 0);
    ck_assert(lists.receipts_more && lists.payouts_more);

    lists = (struct ledger_status_lists){.receipts = receipts, .receipts_max = 1001};
    EXPECT_ERR(LEDGER_ERR_INVALID_ARGUMENT,
               ledger_status_lookup(db, case_a, code_a, &status_case, &lists));
    lists = (struct ledger_status_lists){.receipts = NULL, .receipts_max = 1};
    EXPECT_ERR(LEDGER_ERR_INVALID_ARGUMENT,
               ledger_status_lookup(db, case_a, code_a, &status_case, &lists));
}
END_TEST

/* An unknown case, a wrong code and malformed input are one answer, and
 * leave nothing filled in. */
START_TEST(status_lookup_refusals)
{
    char code_a[LEDGER_ACCESS_CODE_TEXT_SIZE];
    char code_b[LEDGER_ACCESS_CODE_TEXT_SIZE];
    fixture_open_case(db, case_a, code_a);
    fixture_open_case(db, case_b, code_b);
    receipt(case_a, 100, NULL);
    struct ledger_status_case status_case;
    struct ledger_status_receipt receipts[2];
    struct ledger_status_lists lists = {.receipts = receipts, .receipts_max = 2};
    const struct {
        const char *case_no;
        const char *code;
    } refused[] = {
        {case_a, code_b},                /* another case's code */
        {"(2026)沪0115执999号", code_a}, /* unknown case */
        {case_a, "2345-6789-ABCD-EFG"},  /* too short */
        {case_a, "0000-0000-0000-0000"}, /* not of the alphabet */
        {case_a, ""},
        {"", code_a},
        {case_a, NULL},
        {NULL, code_a},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        EXPECT_ERR(
            LEDGER_ERR_UNKNOWN_CASE,
            ledger_status_lookup(db, refused[i].case_no, refused[i].code, &status_case, &lists));
        ck_assert_str_eq(status_case.case_no, "");
        ck_assert_uint_eq(lists.receipts_count, 0);
    }
    /* Spelling variants of the number and of the code find the case. */
    EXPECT_OK(ledger_status_lookup(db, "（2026）沪0115执100号", code_a, &status_case, &lists));
    ck_assert_str_eq(status_case.case_no, case_a);
    ck_assert_uint_eq(lists.receipts_count, 1);
}
END_TEST

/* ---- time text ---------------------------------------------------------------- */

START_TEST(time_text)
{
    static const struct {
        int64_t time_us;
        const char *text;
    } rows[] = {
        {0, "1970-01-01T00:00:00.000000Z"},
        {1, "1970-01-01T00:00:00.000001Z"},
        {-1, "1969-12-31T23:59:59.999999Z"},
        {1795420800123456LL, "2026-11-23T08:00:00.123456Z"},
        {951782400000000LL, "2000-02-29T00:00:00.000000Z"},
    };
    for (int i = 0; i < ROWS(rows); i++) {
        char text[LEDGER_TIME_TEXT_SIZE];
        ck_assert_str_eq(ledger_time_text(text, rows[i].time_us), rows[i].text);
    }
}
END_TEST

/* ---- runner ----------------------------------------------------------------------- */

static TCase *db_tcase(const char *name)
{
    TCase *tcase = tcase_create(name);
    tcase_add_checked_fixture(tcase, setup, teardown);
    tcase_set_timeout(tcase, TEST_TIMEOUT_S);
    return tcase;
}

Suite *query_db_suite(void)
{
    Suite *suite = suite_create("query_db");
    TCase *entries = db_tcase("case_entries");
    tcase_add_test(entries, entries_newest_first_with_signs_and_counterparts);
    tcase_add_test(entries, entries_pages_cover_everything_once);
    tcase_add_test(entries, entries_exact_pages_end_without_cursor);
    tcase_add_test(entries, entries_empty_case_and_spellings);
    tcase_add_test(entries, entries_refusals);
    suite_add_tcase(suite, entries);

    TCase *disbursements = db_tcase("disbursements");
    tcase_add_test(disbursements, disbursements_filters);
    tcase_add_test(disbursements, disbursements_fields);
    tcase_add_test(disbursements, disbursements_refusals);
    suite_add_tcase(suite, disbursements);

    TCase *accounts = db_tcase("accounts");
    tcase_add_test(accounts, bank_accounts_listed_with_balances);
    tcase_add_test(accounts, account_lookup);
    suite_add_tcase(suite, accounts);

    TCase *status = db_tcase("status_lookup");
    tcase_add_test(status, status_lookup_receipts_and_payouts);
    tcase_add_test(status, status_lookup_bounds);
    tcase_add_test(status, status_totals_kept_at_booking);
    tcase_add_test(status, status_lookup_refusals);
    suite_add_tcase(suite, status);

    TCase *core = tcase_create("core");
    tcase_add_test(core, time_text);
    suite_add_tcase(suite, core);
    return suite;
}

int main(void)
{
    runner_pid = getpid();
    SRunner *runner = srunner_create(query_db_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    fixture_drop_leftovers("query");
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

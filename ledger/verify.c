/* Verifying the journal against the chain and the trusted keyring, and the
 * signed head. */
#include "ledger_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char entries_page_sql[] =
    "SELECT seq, kind, created_at_us, actor, coalesce(reverses_seq, 0), "
    "coalesce((value_date - date '1970-01-01'), -2147483648), bank_ref, memo, key_id, "
    "prev_hash, hash, signature, encoding FROM entries WHERE seq > $1 ORDER BY seq LIMIT $2";
static const char postings_page_sql[] =
    "SELECT entry_seq, account_id, amount, currency FROM postings "
    "WHERE entry_seq > $1 AND entry_seq <= $2 ORDER BY entry_seq, idx";
/* The requests the page's entries approved, with their payees (chain.h,
 * encoding version 2). */
static const char payees_page_sql[] =
    "SELECT approve_seq, id, coalesce(payee_name, ''), coalesce(payee_account, ''), "
    "coalesce(payee_bank, '') FROM disbursements "
    "WHERE approve_seq > $1 AND approve_seq <= $2 ORDER BY approve_seq, id";

static void verify_fail(struct ledger_verify_result *result, int64_t seq, const char *reason)
{
    if (!result->ok)
        return;
    result->ok = false;
    result->first_bad_seq = seq;
    snprintf(result->reason, sizeof result->reason, "%s", reason);
}

/* Copies a column into a field of capacity bytes; false when it does not
 * fit (such text cannot have been sealed as is). */
static bool copy_field(char *field, size_t capacity, const PGresult *rows, int row, int column)
{
    const char *text = PQgetvalue(rows, row, column);
    size_t length = strlen(text);
    if (length >= capacity)
        return false;
    memcpy(field, text, length + 1);
    return true;
}

static bool entry_from_row(struct ledger_entry *entry, const PGresult *rows, int row)
{
    memset(entry, 0, sizeof *entry);
    entry->seq = ledger_db_int64(rows, row, 0);
    entry->created_at_us = ledger_db_int64(rows, row, 2);
    entry->reverses_seq = ledger_db_int64(rows, row, 4);
    entry->value_date_days = (int32_t)ledger_db_int64(rows, row, 5);
    int64_t encoding = ledger_db_int64(rows, row, 12);
    /* An unknown version stays 0, which the encoder refuses. */
    if (encoding == LEDGER_ENTRY_ENCODING_V1 || encoding == LEDGER_ENTRY_ENCODING_V2)
        entry->encoding = (enum ledger_entry_encoding)encoding;
    return copy_field(entry->kind, sizeof entry->kind, rows, row, 1) &&
           copy_field(entry->actor, sizeof entry->actor, rows, row, 3) &&
           copy_field(entry->bank_ref, sizeof entry->bank_ref, rows, row, 6) &&
           copy_field(entry->memo, sizeof entry->memo, rows, row, 7) &&
           copy_field(entry->key_id, sizeof entry->key_id, rows, row, 8) &&
           ledger_db_bytea(entry->prev_hash, LEDGER_HASH_SIZE, rows, row, 9) == LEDGER_OK &&
           ledger_db_bytea(entry->hash, LEDGER_HASH_SIZE, rows, row, 10) == LEDGER_OK &&
           ledger_db_bytea(entry->signature, LEDGER_SIGNATURE_SIZE, rows, row, 11) == LEDGER_OK;
}

/* One page: its entries, their postings and the requests they approved,
 * each in seq order, with a cursor into the last two. */
struct page {
    PGresult *entries;
    PGresult *postings;
    PGresult *payees;
    int posting_row;
    int payee_row;
};

static void page_clear(struct page *page)
{
    PQclear(page->payees);
    PQclear(page->postings);
    PQclear(page->entries);
}

/* Reads the page after last_seq; page->entries has no rows at the end. */
static enum ledger_err page_read(struct ledger *ledger, int64_t last_seq, struct page *page)
{
    memset(page, 0, sizeof *page);
    char after_text[LEDGER_INT64_TEXT_SIZE];
    char limit_text[LEDGER_INT64_TEXT_SIZE];
    const char *page_params[2] = {ledger_int64_text(after_text, last_seq),
                                  ledger_int64_text(limit_text, LEDGER_VERIFY_PAGE)};
    page->entries = ledger_db_exec(ledger, PGRES_TUPLES_OK, entries_page_sql, 2, page_params);
    if (page->entries == NULL)
        return ledger_db_last_error(ledger);
    int count = PQntuples(page->entries);
    if (count == 0)
        return LEDGER_OK;
    char upto_text[LEDGER_INT64_TEXT_SIZE];
    const char *range_params[2] = {
        after_text, ledger_int64_text(upto_text, ledger_db_int64(page->entries, count - 1, 0))};
    page->postings = ledger_db_exec(ledger, PGRES_TUPLES_OK, postings_page_sql, 2, range_params);
    if (page->postings != NULL)
        page->payees = ledger_db_exec(ledger, PGRES_TUPLES_OK, payees_page_sql, 2, range_params);
    if (page->payees == NULL) {
        page_clear(page);
        return ledger_db_last_error(ledger);
    }
    return LEDGER_OK;
}

/* Adds the entry's postings from the page; false when it has more than an
 * entry holds. */
static bool attach_postings(struct ledger_entry *entry, struct page *page)
{
    bool fits = true;
    int total = PQntuples(page->postings);
    for (; page->posting_row < total &&
           ledger_db_int64(page->postings, page->posting_row, 0) == entry->seq;
         page->posting_row++) {
        if (entry->postings_count >= LEDGER_POSTINGS_MAX) {
            fits = false;
            continue;
        }
        struct ledger_posting *posting = &entry->postings[entry->postings_count++];
        posting->account_id = ledger_db_int64(page->postings, page->posting_row, 1);
        posting->amount_minor = ledger_db_int64(page->postings, page->posting_row, 2);
        snprintf(posting->currency, sizeof posting->currency, "%s",
                 PQgetvalue(page->postings, page->posting_row, 3));
    }
    return fits;
}

enum payee_read { PAYEE_OK, PAYEE_TOO_LONG, PAYEE_TWO_REQUESTS };

/* Fills a version 2 entry's request id and payee from the request whose
 * approve_seq it is (none: 0 and empty, as sealed). A version 1 entry
 * carries none: its request's row is passed over. */
static enum payee_read attach_payee(struct ledger_entry *entry, struct page *page)
{
    int total = PQntuples(page->payees);
    while (page->payee_row < total &&
           ledger_db_int64(page->payees, page->payee_row, 0) < entry->seq)
        page->payee_row++; /* names a seq that is not in the journal: a gap shows it */
    if (page->payee_row >= total || ledger_db_int64(page->payees, page->payee_row, 0) != entry->seq)
        return PAYEE_OK;
    int row = page->payee_row++;
    if (page->payee_row < total && ledger_db_int64(page->payees, page->payee_row, 0) == entry->seq)
        return PAYEE_TWO_REQUESTS;
    if (entry->encoding != LEDGER_ENTRY_ENCODING_V2)
        return PAYEE_OK;
    entry->disbursement_id = ledger_db_int64(page->payees, row, 1);
    bool fits =
        copy_field(entry->payee_name, sizeof entry->payee_name, page->payees, row, 2) &&
        copy_field(entry->payee_account, sizeof entry->payee_account, page->payees, row, 3) &&
        copy_field(entry->payee_bank, sizeof entry->payee_bank, page->payees, row, 4);
    return fits ? PAYEE_OK : PAYEE_TOO_LONG;
}

/* Checks one entry of the page onto prev_hash; false when it failed. */
static bool verify_entry(struct ledger_entry *entry, struct page *page, int row,
                         int64_t expected_seq, const uint8_t prev_hash[LEDGER_HASH_SIZE],
                         const struct ledger_keyring *keyring, struct ledger_verify_result *result)
{
    bool readable = entry_from_row(entry, page->entries, row);
    if (entry->seq != expected_seq) {
        verify_fail(result, expected_seq,
                    entry->seq > expected_seq ? "entry missing (gap in sequence)"
                                              : "sequence out of order");
        return false;
    }
    readable = attach_postings(entry, page) && readable;
    enum payee_read payee = attach_payee(entry, page);
    if (payee == PAYEE_TWO_REQUESTS) {
        verify_fail(result, entry->seq, "more than one request names this entry as its approval");
        return false;
    }
    readable = readable && payee == PAYEE_OK;
    enum ledger_chain_check check =
        readable ? ledger_entry_check(entry, prev_hash, keyring) : LEDGER_CHAIN_BAD_ENCODING;
    if (check != LEDGER_CHAIN_OK) {
        verify_fail(result, entry->seq, ledger_chain_check_text(check));
        return false;
    }
    return true;
}

/* Checks one page of entries after *last_seq; *more is false when there
 * were none. */
static enum ledger_err verify_page(struct ledger *ledger, const struct ledger_keyring *keyring,
                                   int64_t *last_seq, uint8_t prev_hash[LEDGER_HASH_SIZE],
                                   struct ledger_verify_result *result, bool *more)
{
    struct page page;
    enum ledger_err err = page_read(ledger, *last_seq, &page);
    if (err != LEDGER_OK)
        return err;
    int count = PQntuples(page.entries);
    *more = count > 0;
    struct ledger_entry *entry = count > 0 ? malloc(sizeof *entry) : NULL;
    if (count > 0 && entry == NULL)
        err = LEDGER_ERR_NOMEM;
    for (int i = 0; i < count && entry != NULL; i++) {
        if (!verify_entry(entry, &page, i, *last_seq + 1, prev_hash, keyring, result))
            break;
        memcpy(prev_hash, entry->hash, LEDGER_HASH_SIZE);
        *last_seq = entry->seq;
        result->checked++;
    }
    free(entry);
    page_clear(&page);
    return err;
}

/* The head row and the cached balances must agree with the journal. */
static enum ledger_err verify_derived(struct ledger *ledger, int64_t last_seq,
                                      const uint8_t last_hash[LEDGER_HASH_SIZE],
                                      struct ledger_verify_result *result)
{
    PGresult *head =
        ledger_db_exec(ledger, PGRES_TUPLES_OK, "SELECT seq, hash FROM chain_head", 0, NULL);
    if (head == NULL)
        return ledger_db_last_error(ledger);
    uint8_t head_hash[LEDGER_HASH_SIZE];
    int64_t head_seq = PQntuples(head) == 1 ? ledger_db_int64(head, 0, 0) : -1;
    bool head_ok = head_seq == last_seq &&
                   ledger_db_bytea(head_hash, sizeof head_hash, head, 0, 1) == LEDGER_OK &&
                   memcmp(head_hash, last_hash, LEDGER_HASH_SIZE) == 0;
    PQclear(head);
    if (!head_ok) {
        verify_fail(result, head_seq > last_seq ? last_seq + 1 : last_seq,
                    "chain head does not match the last entry (entries missing at the end?)");
        return LEDGER_OK;
    }
    PGresult *orphans = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT min(p.entry_seq) FROM postings p LEFT JOIN entries e ON e.seq = p.entry_seq "
        "WHERE e.seq IS NULL",
        0, NULL);
    if (orphans == NULL)
        return ledger_db_last_error(ledger);
    bool has_orphans = !PQgetisnull(orphans, 0, 0);
    int64_t orphan_seq = has_orphans ? ledger_db_int64(orphans, 0, 0) : 0;
    PQclear(orphans);
    if (has_orphans) {
        verify_fail(result, orphan_seq, "postings without an entry");
        return LEDGER_OK;
    }
    PGresult *balances = ledger_db_exec(
        ledger, PGRES_TUPLES_OK,
        "SELECT a.id FROM accounts a LEFT JOIN (SELECT account_id, sum(amount) AS total "
        "FROM postings GROUP BY account_id) p ON p.account_id = a.id "
        "WHERE a.balance <> coalesce(p.total, 0) ORDER BY a.id LIMIT 1",
        0, NULL);
    if (balances == NULL)
        return ledger_db_last_error(ledger);
    if (PQntuples(balances) > 0) {
        char reason[96];
        snprintf(reason, sizeof reason, "cached balance of account %s differs from its postings",
                 PQgetvalue(balances, 0, 0));
        verify_fail(result, 0, reason);
    }
    PQclear(balances);
    return LEDGER_OK;
}

static enum ledger_err verify_from_head(struct ledger *ledger, const struct ledger_keyring *keyring,
                                        const struct ledger_head *from,
                                        struct ledger_verify_result *result)
{
    if (ledger_head_verify(from, keyring) != LEDGER_OK) {
        verify_fail(result, from->seq, "saved head signature does not verify");
        return LEDGER_OK;
    }
    if (from->seq == 0)
        return LEDGER_OK;
    char seq_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[1] = {ledger_int64_text(seq_text, from->seq)};
    PGresult *row = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                   "SELECT hash FROM entries WHERE seq = $1", 1, params);
    if (row == NULL)
        return ledger_db_last_error(ledger);
    uint8_t stored[LEDGER_HASH_SIZE];
    bool same = PQntuples(row) == 1 &&
                ledger_db_bytea(stored, sizeof stored, row, 0, 0) == LEDGER_OK &&
                memcmp(stored, from->hash, LEDGER_HASH_SIZE) == 0;
    PQclear(row);
    if (!same)
        verify_fail(result, from->seq, "entry at the saved head was changed or removed");
    return LEDGER_OK;
}

/* Walks the chain after `from` (NULL: genesis); signed: `from` is a signed
 * head to check first. */
static enum ledger_err verify_walk(struct ledger *ledger, const struct ledger_keyring *keyring,
                                   const struct ledger_head *from, bool signed_anchor,
                                   struct ledger_verify_result *result)
{
    memset(result, 0, sizeof *result);
    result->ok = true;
    int64_t last_seq = 0;
    uint8_t prev_hash[LEDGER_HASH_SIZE] = {0};
    /* One snapshot for the whole walk. */
    enum ledger_err err =
        ledger_db_command(ledger, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (err != LEDGER_OK)
        return err;
    if (from != NULL) {
        if (signed_anchor)
            err = verify_from_head(ledger, keyring, from, result);
        last_seq = from->seq;
        memcpy(prev_hash, from->hash, LEDGER_HASH_SIZE);
    }
    bool more = true;
    while (err == LEDGER_OK && result->ok && more)
        err = verify_page(ledger, keyring, &last_seq, prev_hash, result, &more);
    if (err == LEDGER_OK && result->ok)
        err = verify_derived(ledger, last_seq, prev_hash, result);
    ledger_db_rollback(ledger);
    return err;
}

enum ledger_err ledger_verify(struct ledger *ledger, const struct ledger_keyring *keyring,
                              const struct ledger_head *from, struct ledger_verify_result *result)
{
    return verify_walk(ledger, keyring, from, true, result);
}

enum ledger_err ledger_verify_from_seq(struct ledger *ledger, const struct ledger_keyring *keyring,
                                       int64_t from_seq, struct ledger_verify_result *result)
{
    if (from_seq <= 1)
        return ledger_verify(ledger, keyring, NULL, result);
    struct ledger_head anchor;
    memset(&anchor, 0, sizeof anchor);
    anchor.seq = from_seq - 1;
    char seq_text[LEDGER_INT64_TEXT_SIZE];
    const char *params[1] = {ledger_int64_text(seq_text, anchor.seq)};
    PGresult *row = ledger_db_exec(ledger, PGRES_TUPLES_OK,
                                   "SELECT hash FROM entries WHERE seq = $1", 1, params);
    if (row == NULL)
        return ledger_db_last_error(ledger);
    bool found = PQntuples(row) == 1 &&
                 ledger_db_bytea(anchor.hash, LEDGER_HASH_SIZE, row, 0, 0) == LEDGER_OK;
    PQclear(row);
    if (!found) {
        ledger_set_detail(ledger, "no entry %lld to start from", (long long)anchor.seq);
        return LEDGER_ERR_UNKNOWN_ENTRY;
    }
    return verify_walk(ledger, keyring, &anchor, false, result);
}

enum ledger_err ledger_head_current(struct ledger *ledger, struct ledger_head *head)
{
    if (!ledger->has_signer) {
        ledger_set_detail(ledger, "no signing key configured");
        return LEDGER_ERR_CRYPTO;
    }
    PGresult *row =
        ledger_db_exec(ledger, PGRES_TUPLES_OK, "SELECT seq, hash FROM chain_head", 0, NULL);
    if (row == NULL)
        return ledger_db_last_error(ledger);
    memset(head, 0, sizeof *head);
    enum ledger_err err = LEDGER_ERR_DB;
    if (PQntuples(row) == 1) {
        head->seq = ledger_db_int64(row, 0, 0);
        err = ledger_db_bytea(head->hash, LEDGER_HASH_SIZE, row, 0, 1);
    }
    PQclear(row);
    if (err != LEDGER_OK)
        return err;
    head->signed_at_us = ledger_now_us();
    return ledger_head_sign(head, &ledger->signer);
}

/* Tamper suite on the real cluster: a journal of 20 entries is built
 * through the API, then changed behind the ledger's back the way a
 * malicious superuser would (inside a transaction with
 * session_replication_role = replica, which silences the append-only,
 * balance and foreign-key triggers), and ledger_verify must name the first
 * bad entry. Every test gets its own fresh database.
 *
 * The journal (seq: kind, what):
 *    1..8  receipt     A 100000, B 50000, C 30000, A 2000, B 3000, C 4000,
 *                      A 500, B 600
 *    9     disbursement  payout of 10000 from A approved (A -> in transit)
 *   10     settle        that payout paid (in transit -> bank)
 *   11     disbursement  payout of 5000 from B approved
 *   12     return        that payout came back (in transit -> B)
 *   13     transfer      7000 from A to C
 *   14     reversal      of receipt 8
 *   15..20 receipt     C 700, A 800, B 900, C 1000, A 1100, B 1200
 * A signed head is saved after entry 10.
 *
 * The payee of a request is outside the journal but sealed with its
 * approval (encoding version 2, ledger/chain.h): a changed payee is found
 * at the approval's seq (9 and 11 for the payouts, 13 for the transfer).
 * Entries sealed as version 1 (before migration 011) keep verifying.
 *
 * What verify cannot see is written down as tests too (section
 * "limits"): a tail cut off together with the head row, when no signed
 * head was saved before; changes before a saved head when verifying from
 * it; everything else outside the journal (idempotency records, users,
 * case metadata); and the payee of a version 1 approval. */
#include <check.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chain.h"
#include "db_fixture.h"
#include "ledger.h"

Suite *db_tamper_suite(void);

#define ROWS(table) ((int)(sizeof(table) / sizeof((table)[0])))
#define JOURNAL_ENTRIES 20
#define SAVED_HEAD_SEQ 10
#define SQL_SIZE 2048
#define OUTPUT_SIZE 4096
#define PATH_SIZE 512

/* Where the binary is when CMake did not say (a run by hand from the build
 * directory): set by main() from argv[0]. */
static char default_bin[PATH_SIZE];

struct journal {
    struct fixture fixture;
    char case_nos[3][64];
    int64_t case_ids[3];
    struct ledger_head saved_head; /* signed after entry SAVED_HEAD_SEQ */
    struct ledger_keyring keyring;
};

static void receipt(struct ledger *ledger, const char *case_no, long long amount_minor,
                    const char *key)
{
    fixture_receipt(ledger, case_no, amount_minor, key);
}

static int64_t payout(struct ledger *ledger, const char *case_no, int64_t amount_minor,
                      const char *key)
{
    struct ledger_disbursement_request request = {.case_no = case_no,
                                                  .amount_minor = amount_minor,
                                                  .payee_name = "Applicant",
                                                  .payee_account = "6222020200112233445",
                                                  .purpose = "payout"};
    int64_t id = 0;
    bool replayed = false;
    char approve_key[64];
    struct ledger_booking booking;
    ck_assert_int_eq(ledger_disbursement_request(ledger, "clerk1", &request, key, &id, &replayed),
                     LEDGER_OK);
    snprintf(approve_key, sizeof approve_key, "%s-approve", key);
    ck_assert_int_eq(ledger_disbursement_approve(ledger, "approver1", id, approve_key, &booking),
                     LEDGER_OK);
    return id;
}

static void build_journal(struct journal *j, const char *name)
{
    memset(j, 0, sizeof *j);
    fixture_setup(&j->fixture, name);
    struct ledger *ledger = fixture_ledger(&j->fixture);
    static const char *const names[3] = {"(2024)沪0115执101号", "(2024)沪0115执102号",
                                         "(2024)沪0115执103号"};
    for (int i = 0; i < 3; i++) {
        snprintf(j->case_nos[i], sizeof j->case_nos[i], "%s", names[i]);
        j->case_ids[i] = fixture_open_case(ledger, names[i], NULL);
    }
    static const long long first_receipts[8] = {100000, 50000, 30000, 2000, 3000, 4000, 500, 600};
    for (int i = 0; i < 8; i++) {
        char key[32];
        snprintf(key, sizeof key, "r%d", i + 1);
        receipt(ledger, j->case_nos[i % 3], first_receipts[i], key);
    }
    struct ledger_booking booking;
    int64_t paid = payout(ledger, j->case_nos[0], 10000, "p1"); /* 9 */
    ck_assert_int_eq(ledger_disbursement_settle(ledger, "bank1", paid, "BANK-OUT-1",
                                                LEDGER_VALUE_DATE_NONE, "p1-settle", &booking),
                     LEDGER_OK); /* 10 */
    ck_assert_int_eq(ledger_head_current(ledger, &j->saved_head), LEDGER_OK);
    ck_assert_int_eq(j->saved_head.seq, SAVED_HEAD_SEQ);
    int64_t returned = payout(ledger, j->case_nos[1], 5000, "p2"); /* 11 */
    ck_assert_int_eq(ledger_disbursement_return(ledger, "bank1", returned, "BANK-RET-1",
                                                "account closed", "p2-return", &booking),
                     LEDGER_OK); /* 12 */
    int64_t id = 0;
    bool replayed = false;
    ck_assert_int_eq(ledger_transfer_request(ledger, "clerk1", j->case_nos[0], j->case_nos[2], 7000,
                                             "joined enforcement", "t1", &id, &replayed),
                     LEDGER_OK);
    ck_assert_int_eq(ledger_disbursement_approve(ledger, "approver2", id, "t1-approve", &booking),
                     LEDGER_OK); /* 13 */
    ck_assert_int_eq(ledger_reverse(ledger, "approver1", 8, "wrong case", "v1", &booking),
                     LEDGER_OK); /* 14 */
    for (int i = 0; i < 6; i++) {
        char key[32];
        snprintf(key, sizeof key, "r%d", 15 + i);
        receipt(ledger, j->case_nos[(i + 2) % 3], 700 + 100 * i, key); /* 15..20 */
    }
    ledger_close(ledger);
    ck_assert_int_eq(fixture_query_int(&j->fixture, "SELECT seq FROM chain_head"), JOURNAL_ENTRIES);
    ck_assert_int_eq(ledger_keyring_load(&j->keyring, j->fixture.keyring_file), LEDGER_OK);
}

static void journal_teardown(struct journal *j)
{
    fixture_teardown(&j->fixture);
}

/* Runs sql as superuser with the triggers silenced, in one transaction. */
static void tamper(const struct journal *j, const char *sql)
{
    PGconn *conn = fixture_super(&j->fixture);
    char script[SQL_SIZE + 128];
    snprintf(script, sizeof script,
             "BEGIN; SET LOCAL session_replication_role = replica; %s; COMMIT", sql);
    PGresult *result = PQexec(conn, script);
    ck_assert_msg(PQresultStatus(result) == PGRES_COMMAND_OK, "tamper failed: %s\n%s",
                  PQresultErrorMessage(result), sql);
    PQclear(result);
    PQfinish(conn);
}

static struct ledger_verify_result verify(const struct journal *j, const struct ledger_head *from)
{
    struct ledger *ledger = fixture_ledger(&j->fixture);
    struct ledger_verify_result result;
    ck_assert_int_eq(ledger_verify(ledger, &j->keyring, from, &result), LEDGER_OK);
    ledger_close(ledger);
    return result;
}

static void expect_bad(const struct ledger_verify_result *result, int64_t seq, const char *reason)
{
    ck_assert_msg(!result->ok, "verify passed a tampered journal (checked %lld)",
                  (long long)result->checked);
    ck_assert_msg(result->first_bad_seq == seq, "first_bad_seq %lld, expected %lld (%s)",
                  (long long)result->first_bad_seq, (long long)seq, result->reason);
    ck_assert_msg(strstr(result->reason, reason) != NULL, "reason \"%s\", expected \"%s\"",
                  result->reason, reason);
}

/* ---- the real binary ---------------------------------------------------- */

static const char *caseledger_bin(void)
{
    const char *bin = getenv("CASELEDGER_BIN");
    return bin != NULL && bin[0] != '\0' ? bin : default_bin;
}

/* Runs `caseledger COMMAND [--head HEAD_FILE] --dsn DSN --key-dir DIR`
 * (no shell); returns its exit status and its stdout in output. */
static int run_cli(const struct journal *j, const char *command, const char *head_file,
                   char *output, size_t output_size)
{
    const char *argv[9] = {caseledger_bin(), command};
    size_t argc = 2;
    if (head_file != NULL) {
        argv[argc++] = "--head";
        argv[argc++] = head_file;
    }
    argv[argc++] = "--dsn";
    argv[argc++] = j->fixture.app_dsn;
    argv[argc++] = "--key-dir";
    argv[argc++] = j->fixture.key_dir;
    argv[argc] = NULL;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null_fd = open("/dev/null", O_WRONLY);
        if (dup2(fds[1], STDOUT_FILENO) < 0 || null_fd < 0 || dup2(null_fd, STDERR_FILENO) < 0)
            _exit(126);
        close(fds[0]);
        close(fds[1]);
        close(null_fd);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t length = 0;
    for (;;) { /* read to the end, keeping what fits */
        char chunk[512];
        ssize_t got = read(fds[0], chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t keep =
            (size_t)got < output_size - 1 - length ? (size_t)got : output_size - 1 - length;
        memcpy(output + length, chunk, keep);
        length += keep;
    }
    output[length] = '\0';
    close(fds[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "%s did not exit normally", caseledger_bin());
    ck_assert_msg(WEXITSTATUS(status) != 127, "could not run %s", caseledger_bin());
    return WEXITSTATUS(status);
}

static void expect_cli_bad(const struct journal *j, const char *head_file, int64_t seq)
{
    char output[OUTPUT_SIZE];
    char expected[64];
    int status = run_cli(j, "verify", head_file, output, sizeof output);
    snprintf(expected, sizeof expected, "\"first_bad_seq\":%lld", (long long)seq);
    ck_assert_msg(status == 1, "verify exited %d: %s", status, output);
    ck_assert_msg(strstr(output, expected) != NULL, "expected %s in: %s", expected, output);
    ck_assert_ptr_nonnull(strstr(output, "\"ok\":false"));
}

static void expect_cli_ok(const struct journal *j, int64_t checked)
{
    char output[OUTPUT_SIZE];
    char expected[64];
    int status = run_cli(j, "verify", NULL, output, sizeof output);
    snprintf(expected, sizeof expected, "\"checked\":%lld", (long long)checked);
    ck_assert_msg(status == 0, "verify exited %d: %s", status, output);
    ck_assert_msg(strstr(output, "\"ok\":true") != NULL && strstr(output, expected) != NULL,
                  "expected ok and %s in: %s", expected, output);
}

/* ---- the untouched journal ---------------------------------------------- */

START_TEST(untouched_journal_verifies)
{
    struct journal j;
    build_journal(&j, "tamper_clean");
    struct ledger_verify_result result = verify(&j, NULL);
    ck_assert_msg(result.ok, "%lld: %s", (long long)result.first_bad_seq, result.reason);
    ck_assert_int_eq(result.checked, JOURNAL_ENTRIES);
    ck_assert_int_eq(result.first_bad_seq, 0);
    result = verify(&j, &j.saved_head);
    ck_assert(result.ok);
    ck_assert_int_eq(result.checked, JOURNAL_ENTRIES - SAVED_HEAD_SEQ);
    expect_cli_ok(&j, JOURNAL_ENTRIES);
    journal_teardown(&j);
}
END_TEST

/* ---- changes made with SQL alone ---------------------------------------- */

struct tamper_row {
    const char *name;
    const char *sql;
    int64_t first_bad_seq; /* -1: any */
    const char *reason;    /* a part of the reason verify gives; NULL: any */
};

/* The account a posting of an entry goes to, in SQL. */
#define POSTING_ACCOUNT(seq, idx)                                                                  \
    "(SELECT account_id FROM postings WHERE entry_seq = " #seq " AND idx = " #idx ")"

/* Moves entries and postings of seq `from` to seq `to`. */
#define MOVE_ENTRY(from, to)                                                                       \
    "UPDATE entries SET seq = " #to " WHERE seq = " #from ";"                                      \
    "UPDATE postings SET entry_seq = " #to " WHERE entry_seq = " #from ";"

/* SQL pieces and macros read better one statement a line. */
/* clang-format off */
static const struct tamper_row tamper_rows[] = {
    /* (a) a posting's amount or account at seq 7 */
    {"amount, one posting",
     "UPDATE postings SET amount = amount + 100 WHERE entry_seq = 7 AND idx = 0",
     7, "postings do not sum to zero"},
    {"amount, both postings and the cached balances",
     "UPDATE accounts SET balance = balance + 100 WHERE id = " POSTING_ACCOUNT(7, 0) ";"
     "UPDATE accounts SET balance = balance - 100 WHERE id = " POSTING_ACCOUNT(7, 1) ";"
     "UPDATE postings SET amount = amount + 100 WHERE entry_seq = 7 AND idx = 0;"
     "UPDATE postings SET amount = amount - 100 WHERE entry_seq = 7 AND idx = 1",
     7, "hash does not match the entry"},
    {"account of a posting (case A -> case B)",
     "UPDATE postings SET account_id = " POSTING_ACCOUNT(8, 1) " WHERE entry_seq = 7 AND idx = 1",
     7, "hash does not match the entry"},
    {"currency of a posting",
     "UPDATE postings SET currency = 'USD' WHERE entry_seq = 7",
     7, "hash does not match the entry"},
    {"order of the postings",
     "UPDATE postings SET idx = 9 WHERE entry_seq = 7 AND idx = 0;"
     "UPDATE postings SET idx = 0 WHERE entry_seq = 7 AND idx = 1;"
     "UPDATE postings SET idx = 1 WHERE entry_seq = 7 AND idx = 9",
     7, "hash does not match the entry"},
    /* (b) one posting of entry 7 deleted (an entry of one posting); one added */
    {"one posting deleted",
     "DELETE FROM postings WHERE entry_seq = 7 AND idx = 1",
     7, "entry cannot be encoded"},
    {"a third posting added",
     "INSERT INTO postings (entry_seq, idx, account_id, amount, currency) "
     "SELECT 7, 2, account_id, 1, currency FROM postings WHERE entry_seq = 7 AND idx = 0",
     7, "postings do not sum to zero"},
    /* (c) entry 7 deleted with its postings; and with the rest renumbered */
    {"entry deleted",
     "DELETE FROM postings WHERE entry_seq = 7; DELETE FROM entries WHERE seq = 7",
     7, "entry missing (gap in sequence)"},
    {"entry deleted, later entries renumbered, head moved",
     "DELETE FROM postings WHERE entry_seq = 7; DELETE FROM entries WHERE seq = 7;"
     "UPDATE entries SET seq = seq + 1000000 WHERE seq > 7;"
     "UPDATE postings SET entry_seq = entry_seq + 1000000 WHERE entry_seq > 7;"
     "UPDATE entries SET seq = seq - 1000001 WHERE seq > 1000000;"
     "UPDATE postings SET entry_seq = entry_seq - 1000001 WHERE entry_seq > 1000000;"
     "UPDATE chain_head SET seq = seq - 1",
     7, "previous hash does not match the previous entry"},
    /* (d) entries swapped (seq through a temporary value) */
    {"entries 5 and 12 swapped",
     MOVE_ENTRY(5, 1000000) MOVE_ENTRY(12, 5) MOVE_ENTRY(1000000, 12),
     5, "previous hash does not match the previous entry"},
    {"adjacent entries 5 and 6 swapped",
     MOVE_ENTRY(5, 1000000) MOVE_ENTRY(6, 5) MOVE_ENTRY(1000000, 6),
     5, "previous hash does not match the previous entry"},
    {"entries 5 and 12 swapped, prev_hash links rewritten",
     MOVE_ENTRY(5, 1000000) MOVE_ENTRY(12, 5) MOVE_ENTRY(1000000, 12)
     "UPDATE entries e SET prev_hash = p.hash FROM entries p WHERE p.seq = e.seq - 1 "
     "AND e.seq IN (5, 6, 12, 13)",
     5, "hash does not match the entry"},
    /* (f) fields of an entry that are not postings */
    {"memo",
     "UPDATE entries SET memo = 'payer: someone else' WHERE seq = 7",
     7, "hash does not match the entry"},
    {"kind",
     "UPDATE entries SET kind = 'transfer' WHERE seq = 7",
     7, "hash does not match the entry"},
    {"created_at",
     "UPDATE entries SET created_at_us = created_at_us - 86400000000 WHERE seq = 7",
     7, "hash does not match the entry"},
    {"actor",
     "UPDATE entries SET actor = 'clerk2' WHERE seq = 7",
     7, "hash does not match the entry"},
    {"bank_ref",
     "UPDATE entries SET bank_ref = 'OTHER-REF' WHERE seq = 7",
     7, "hash does not match the entry"},
    {"value_date",
     "UPDATE entries SET value_date = date '2024-01-01' WHERE seq = 7",
     7, "hash does not match the entry"},
    {"reverses_seq",
     "UPDATE entries SET reverses_seq = 2 WHERE seq = 14",
     14, "hash does not match the entry"},
    {"stored hash",
     "UPDATE entries SET hash = set_byte(hash, 0, get_byte(hash, 0) # 1) WHERE seq = 7",
     7, "hash does not match the entry"},
    {"stored prev_hash",
     "UPDATE entries SET prev_hash = set_byte(prev_hash, 0, get_byte(prev_hash, 0) # 1) "
     "WHERE seq = 7",
     7, "previous hash does not match the previous entry"},
    {"signature",
     "UPDATE entries SET signature = set_byte(signature, 0, get_byte(signature, 0) # 1) "
     "WHERE seq = 7",
     7, "signature does not verify"},
    /* (g, first part) the last entry deleted with the head row left as it
     * was; the head row moved back with the entries left */
    {"last entry deleted, head left",
     "UPDATE accounts a SET balance = a.balance - p.amount FROM postings p "
     "WHERE p.entry_seq = 20 AND p.account_id = a.id;"
     "DELETE FROM postings WHERE entry_seq = 20; DELETE FROM entries WHERE seq = 20",
     20, "chain head does not match the last entry"},
    {"head moved back, entries left",
     "UPDATE chain_head SET seq = 19, hash = (SELECT hash FROM entries WHERE seq = 19)",
     20, "chain head does not match the last entry"},
    /* (i) the request an approval paid out on: its payee is sealed with
     * the approval (both payouts have the same payee) */
    {"payee account of a paid payout",
     "UPDATE disbursements SET payee_account = '6222999999999999' WHERE id = 1",
     9, "hash does not match the entry"},
    {"payee name of a returned payout",
     "UPDATE disbursements SET payee_name = 'Someone Else' WHERE id = 2",
     11, "hash does not match the entry"},
    {"payee bank added to a payout",
     "UPDATE disbursements SET payee_bank = 'Other Bank' WHERE id = 1",
     9, "hash does not match the entry"},
    {"payee added to a transfer",
     "UPDATE disbursements SET payee_name = 'Someone Else', payee_account = '6222999999999999' "
     "WHERE kind = 'transfer'",
     13, "hash does not match the entry"},
    /* (an approved request without its approval entry is refused by a
     * CHECK: the attacker drops it first) */
    {"two payouts trade their approvals (same payee)",
     "ALTER TABLE disbursements DROP CONSTRAINT approved_has_entry;"
     "UPDATE disbursements SET approve_seq = NULL WHERE id = 1;"
     "UPDATE disbursements SET approve_seq = 9 WHERE id = 2;"
     "UPDATE disbursements SET approve_seq = 11 WHERE id = 1",
     9, "hash does not match the entry"},
    {"approval unlinked from its payout",
     "ALTER TABLE disbursements DROP CONSTRAINT approved_has_entry;"
     "UPDATE disbursements SET approve_seq = NULL WHERE id = 1",
     9, "hash does not match the entry"},
    {"a second request names an approval",
     "DROP INDEX disbursements_approve_seq;"
     "INSERT INTO disbursements (account_id, amount, currency, payee_name, payee_account, "
     "status, requested_by, decided_by, approve_seq) SELECT account_id, amount, currency, "
     "payee_name, '6222999999999999', 'approved', requested_by, decided_by, approve_seq "
     "FROM disbursements WHERE id = 1",
     9, "more than one request names this entry as its approval"},
    {"encoding version of an approval set back to 1",
     "UPDATE entries SET encoding = 1 WHERE seq = 9",
     9, "hash does not match the entry"},
    {"encoding version of a receipt set back to 1",
     "UPDATE entries SET encoding = 1 WHERE seq = 7",
     7, "hash does not match the entry"},
    /* (h) a cached balance alone: no entry is bad, so first_bad_seq is 0 and
     * the reason names the account */
    {"cached balance",
     "UPDATE accounts SET balance = balance - 1 WHERE id = " POSTING_ACCOUNT(1, 1),
     0, "cached balance of account"},
    /* Postings that belong to no entry (seq 21, after the last) moving
     * 5000 from case A to case B, with the cached balances moved to match:
     * the walk never reads them, and the balance check sums every posting,
     * so verify passes while the cases' balances have changed. It must
     * fail (where it points is left open). */
    {"orphan postings with no entry, balances adjusted",
     "INSERT INTO postings (entry_seq, idx, account_id, amount, currency) VALUES "
     "(21, 0, " POSTING_ACCOUNT(1, 1) ", 5000, 'CNY'), "
     "(21, 1, " POSTING_ACCOUNT(2, 1) ", -5000, 'CNY');"
     "UPDATE accounts SET balance = balance + 5000 WHERE id = " POSTING_ACCOUNT(1, 1) ";"
     "UPDATE accounts SET balance = balance - 5000 WHERE id = " POSTING_ACCOUNT(2, 1),
     -1, NULL},
};
/* clang-format on */

START_TEST(sql_tamper_detected)
{
    const struct tamper_row *row = &tamper_rows[_i];
    struct journal j;
    char name[32];
    snprintf(name, sizeof name, "tamper_sql_%d", _i);
    build_journal(&j, name);
    tamper(&j, row->sql);
    struct ledger_verify_result result = verify(&j, NULL);
    bool seq_right = row->first_bad_seq < 0 || result.first_bad_seq == row->first_bad_seq;
    bool reason_right = row->reason == NULL || strstr(result.reason, row->reason) != NULL;
    if (!result.ok && seq_right && reason_right)
        printf("[tamper] %-52s -> first_bad_seq %lld: %s\n", row->name,
               (long long)result.first_bad_seq, result.reason);
    else
        printf("[tamper] %-52s -> NOT AS EXPECTED: ok=%d first_bad_seq %lld (%s)\n", row->name,
               result.ok, (long long)result.first_bad_seq, result.reason);
    fflush(stdout);
    ck_assert_msg(!result.ok, "\"%s\" not detected (checked %lld)", row->name,
                  (long long)result.checked);
    ck_assert_msg(seq_right, "\"%s\": first_bad_seq %lld, expected %lld (%s)", row->name,
                  (long long)result.first_bad_seq, (long long)row->first_bad_seq, result.reason);
    ck_assert_msg(reason_right, "\"%s\": reason \"%s\"", row->name, result.reason);
    journal_teardown(&j);
}
END_TEST

/* (c) through the real binary: exit 1 and the first bad seq on stdout. */
START_TEST(cli_verify_reports_tamper)
{
    struct journal j;
    build_journal(&j, "tamper_cli");
    expect_cli_ok(&j, JOURNAL_ENTRIES);
    tamper(&j, "DELETE FROM postings WHERE entry_seq = 7; DELETE FROM entries WHERE seq = 7");
    expect_cli_bad(&j, NULL, 7);
    journal_teardown(&j);
}
END_TEST

START_TEST(cli_verify_reports_changed_amount)
{
    struct journal j;
    build_journal(&j, "tamper_cli_amount");
    tamper(&j, "UPDATE postings SET amount = amount * 2 WHERE entry_seq = 13");
    expect_cli_bad(&j, NULL, 13);
    journal_teardown(&j);
}
END_TEST

/* ---- (e) a forged entry at the end -------------------------------------- */

/* "\\x" and the hex of bytes, into out of 2 * size + 3. */
static void bytea_text(char *out, const uint8_t *bytes, size_t size)
{
    out[0] = '\\';
    out[1] = 'x';
    ledger_to_hex(out + 2, bytes, size);
}

/* Appends entry (sealed) as an attacker with superuser rights would: the
 * key registered in signing_keys, postings, cached balances and the head
 * moved to match. */
static void append_forged(const struct journal *j, const struct ledger_entry *entry,
                          const struct ledger_signer *attacker)
{
    PGconn *conn = fixture_super(&j->fixture);
    PGresult *result = PQexec(conn, "BEGIN; SET LOCAL session_replication_role = replica");
    ck_assert_int_eq(PQresultStatus(result), PGRES_COMMAND_OK);
    PQclear(result);
    char seq[24], created[24], public_key[2 * LEDGER_PUBLIC_KEY_SIZE + 3];
    char prev_hash[2 * LEDGER_HASH_SIZE + 3], hash[2 * LEDGER_HASH_SIZE + 3];
    char signature[2 * LEDGER_SIGNATURE_SIZE + 3];
    snprintf(seq, sizeof seq, "%" PRId64, entry->seq);
    snprintf(created, sizeof created, "%" PRId64, entry->created_at_us);
    bytea_text(public_key, attacker->public_key, LEDGER_PUBLIC_KEY_SIZE);
    bytea_text(prev_hash, entry->prev_hash, LEDGER_HASH_SIZE);
    bytea_text(hash, entry->hash, LEDGER_HASH_SIZE);
    bytea_text(signature, entry->signature, LEDGER_SIGNATURE_SIZE);
    const char *key_params[2] = {attacker->key_id, public_key};
    result = PQexecParams(conn,
                          "INSERT INTO signing_keys (key_id, public_key) VALUES ($1, $2::bytea) "
                          "ON CONFLICT DO NOTHING",
                          2, NULL, key_params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(result) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(result));
    PQclear(result);
    const char *entry_params[10] = {seq,         entry->kind,    created,   entry->actor,
                                    entry->memo, entry->key_id,  prev_hash, hash,
                                    signature,   entry->bank_ref};
    result = PQexecParams(conn,
                          "INSERT INTO entries (seq, kind, created_at_us, actor, memo, key_id, "
                          "prev_hash, hash, signature, bank_ref) VALUES ($1, $2, $3, $4, $5, $6, "
                          "$7::bytea, $8::bytea, $9::bytea, $10)",
                          10, NULL, entry_params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(result) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(result));
    PQclear(result);
    for (size_t i = 0; i < entry->postings_count; i++) {
        char idx[24], account[24], amount[24];
        snprintf(idx, sizeof idx, "%zu", i);
        snprintf(account, sizeof account, "%" PRId64, entry->postings[i].account_id);
        snprintf(amount, sizeof amount, "%" PRId64, entry->postings[i].amount_minor);
        const char *posting_params[5] = {seq, idx, account, amount, entry->postings[i].currency};
        result = PQexecParams(conn,
                              "INSERT INTO postings (entry_seq, idx, account_id, amount, currency) "
                              "VALUES ($1, $2, $3, $4, $5)",
                              5, NULL, posting_params, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(result) == PGRES_COMMAND_OK, "%s",
                      PQresultErrorMessage(result));
        PQclear(result);
        const char *balance_params[2] = {account, amount};
        result = PQexecParams(conn, "UPDATE accounts SET balance = balance + $2 WHERE id = $1", 2,
                              NULL, balance_params, NULL, NULL, 0);
        ck_assert_int_eq(PQresultStatus(result), PGRES_COMMAND_OK);
        PQclear(result);
    }
    const char *head_params[2] = {seq, hash};
    result = PQexecParams(conn, "UPDATE chain_head SET seq = $1, hash = $2::bytea", 2, NULL,
                          head_params, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(result), PGRES_COMMAND_OK);
    PQclear(result);
    result = PQexec(conn, "COMMIT");
    ck_assert_int_eq(PQresultStatus(result), PGRES_COMMAND_OK);
    PQclear(result);
    PQfinish(conn);
}

/* An entry taking 50000 out of case A to case B, onto the current head. */
static void forged_entry(const struct journal *j, struct ledger_entry *entry)
{
    memset(entry, 0, sizeof *entry);
    entry->seq = JOURNAL_ENTRIES + 1;
    entry->created_at_us = 1767225600000000; /* 2026-01-01 */
    snprintf(entry->kind, sizeof entry->kind, "transfer");
    snprintf(entry->actor, sizeof entry->actor, "approver1");
    snprintf(entry->memo, sizeof entry->memo, "disbursement 99: joined enforcement");
    entry->value_date_days = LEDGER_VALUE_DATE_NONE;
    entry->postings_count = 2;
    entry->postings[0] =
        (struct ledger_posting){.account_id = j->case_ids[0], .amount_minor = 50000};
    entry->postings[1] =
        (struct ledger_posting){.account_id = j->case_ids[1], .amount_minor = -50000};
    snprintf(entry->postings[0].currency, LEDGER_CURRENCY_SIZE, "CNY");
    snprintf(entry->postings[1].currency, LEDGER_CURRENCY_SIZE, "CNY");
    char *head_hex = fixture_query(&j->fixture, "SELECT encode(hash, 'hex') FROM chain_head");
    ck_assert_int_eq(ledger_from_hex(entry->prev_hash, LEDGER_HASH_SIZE, head_hex), LEDGER_OK);
    free(head_hex);
}

static void attacker_key(const struct journal *j, struct ledger_signer *attacker, char *path,
                         size_t path_size)
{
    snprintf(path, path_size, "%s/attacker.key", j->fixture.key_dir);
    ck_assert_int_eq(ledger_signer_generate(attacker, path), LEDGER_OK);
}

START_TEST(forged_entry_unknown_key)
{
    struct journal j;
    build_journal(&j, "tamper_forged");
    struct ledger_signer attacker;
    char path[PATH_SIZE];
    attacker_key(&j, &attacker, path, sizeof path);
    struct ledger_entry *entry = malloc(sizeof *entry);
    ck_assert_ptr_nonnull(entry);
    forged_entry(&j, entry);
    ck_assert_int_eq(ledger_entry_seal(entry, entry->prev_hash, &attacker), LEDGER_OK);
    append_forged(&j, entry, &attacker);
    struct ledger_verify_result result = verify(&j, NULL);
    expect_bad(&result, JOURNAL_ENTRIES + 1, "signing key is not in the trusted keyring");
    ck_assert_int_eq(result.checked, JOURNAL_ENTRIES);
    expect_cli_bad(&j, NULL, JOURNAL_ENTRIES + 1);
    ledger_signer_wipe(&attacker);
    unlink(path);
    free(entry);
    journal_teardown(&j);
}
END_TEST

/* The forger claims the trusted key id but signs with its own key. */
START_TEST(forged_entry_claims_trusted_key)
{
    struct journal j;
    build_journal(&j, "tamper_forged_id");
    struct ledger_signer attacker;
    char path[PATH_SIZE];
    attacker_key(&j, &attacker, path, sizeof path);
    struct ledger_entry *entry = malloc(sizeof *entry);
    ck_assert_ptr_nonnull(entry);
    forged_entry(&j, entry);
    ck_assert_int_eq(ledger_entry_seal(entry, entry->prev_hash, &attacker), LEDGER_OK);
    snprintf(entry->key_id, sizeof entry->key_id, "%s", j.keyring.key_ids[0]);
    ck_assert_int_eq(ledger_entry_hash(entry->hash, entry->prev_hash, entry), LEDGER_OK);
    crypto_sign_detached(entry->signature, NULL, entry->hash, LEDGER_HASH_SIZE,
                         attacker.secret_key);
    append_forged(&j, entry, &attacker);
    struct ledger_verify_result result = verify(&j, NULL);
    expect_bad(&result, JOURNAL_ENTRIES + 1, "signature does not verify");
    ledger_signer_wipe(&attacker);
    unlink(path);
    free(entry);
    journal_teardown(&j);
}
END_TEST

/* ---- (g) tail truncation ------------------------------------------------ */

/* The last entry removed with everything that points at it, the balances
 * and the head moved back: the rest is a valid chain of 19. */
static const char truncate_sql[] =
    "DELETE FROM idempotency WHERE entry_seq = 20;"
    "UPDATE accounts a SET balance = a.balance - p.amount FROM postings p "
    "WHERE p.entry_seq = 20 AND p.account_id = a.id;"
    "DELETE FROM postings WHERE entry_seq = 20; DELETE FROM entries WHERE seq = 20;"
    "UPDATE chain_head SET seq = 19, hash = (SELECT hash FROM entries WHERE seq = 19)";

START_TEST(tail_truncation_needs_a_saved_head)
{
    struct journal j;
    build_journal(&j, "tamper_truncate");
    struct ledger *ledger = fixture_ledger(&j.fixture);
    struct ledger_head head;
    ck_assert_int_eq(ledger_head_current(ledger, &head), LEDGER_OK);
    ledger_close(ledger);
    ck_assert_int_eq(head.seq, JOURNAL_ENTRIES);
    /* The same head through the binary, saved to a file an auditor keeps. */
    char head_file[PATH_SIZE];
    char output[OUTPUT_SIZE];
    snprintf(head_file, sizeof head_file, "%s/head.json", j.fixture.key_dir);
    ck_assert_int_eq(run_cli(&j, "head", NULL, output, sizeof output), 0);
    FILE *file = fopen(head_file, "w");
    ck_assert_ptr_nonnull(file);
    ck_assert_int_eq(fputs(output, file) >= 0, 1);
    ck_assert_int_eq(fclose(file), 0);

    tamper(&j, truncate_sql);

    /* From genesis, a journal cut at its tail with its head row moved back
     * is a valid shorter journal: verify cannot know entry 20 existed. */
    struct ledger_verify_result result = verify(&j, NULL);
    ck_assert_msg(result.ok, "%lld: %s", (long long)result.first_bad_seq, result.reason);
    ck_assert_int_eq(result.checked, JOURNAL_ENTRIES - 1);
    expect_cli_ok(&j, JOURNAL_ENTRIES - 1);
    /* From the head signed before, it is caught at that head's seq. */
    result = verify(&j, &head);
    expect_bad(&result, JOURNAL_ENTRIES, "entry at the saved head was changed or removed");
    expect_cli_bad(&j, head_file, JOURNAL_ENTRIES);
    /* An older saved head (seq 10) is still intact and says nothing. */
    result = verify(&j, &j.saved_head);
    ck_assert(result.ok);
    unlink(head_file);
    journal_teardown(&j);
}
END_TEST

/* After the saved head, every change is still found. */
START_TEST(saved_head_detects_later_change)
{
    struct journal j;
    build_journal(&j, "tamper_after_head");
    tamper(&j, "UPDATE entries SET memo = 'changed' WHERE seq = 15");
    struct ledger_verify_result result = verify(&j, &j.saved_head);
    expect_bad(&result, 15, "hash does not match the entry");
    journal_teardown(&j);
}
END_TEST

/* The entry at the saved head itself changed. */
START_TEST(saved_head_entry_changed)
{
    struct journal j;
    build_journal(&j, "tamper_at_head");
    tamper(&j, "UPDATE entries SET hash = set_byte(hash, 0, get_byte(hash, 0) # 1) WHERE seq = 10");
    struct ledger_verify_result result = verify(&j, &j.saved_head);
    expect_bad(&result, SAVED_HEAD_SEQ, "entry at the saved head was changed or removed");
    journal_teardown(&j);
}
END_TEST

/* A head whose signature is not from a trusted key is refused. */
START_TEST(saved_head_forged)
{
    struct journal j;
    build_journal(&j, "tamper_head_forged");
    struct ledger_head head = j.saved_head;
    head.signed_at_us++;
    struct ledger_verify_result result = verify(&j, &head);
    expect_bad(&result, SAVED_HEAD_SEQ, "saved head signature does not verify");
    journal_teardown(&j);
}
END_TEST

/* ---- limits: what verify does not see (documented, not wished for) ------ */

/* Verifying from a saved head checks the entry at the head and what comes
 * after it, not what comes before: entry 5 changed is seen only from
 * genesis. */
START_TEST(limit_before_saved_head)
{
    struct journal j;
    build_journal(&j, "tamper_before_head");
    tamper(&j, "UPDATE entries SET memo = 'changed' WHERE seq = 5");
    struct ledger_verify_result result = verify(&j, &j.saved_head);
    ck_assert(result.ok);
    result = verify(&j, NULL);
    expect_bad(&result, 5, "hash does not match the entry");
    journal_teardown(&j);
}
END_TEST

/* The payee of a payout is sealed with its approval: changed after the
 * approval, the binary names the approval's seq (9). */
START_TEST(payee_changed_after_approval)
{
    struct journal j;
    build_journal(&j, "tamper_payee");
    tamper(&j, "UPDATE disbursements SET payee_account = '6222999999999999' WHERE id = 1");
    struct ledger_verify_result result = verify(&j, NULL);
    expect_bad(&result, 9, "hash does not match the entry");
    ck_assert_int_eq(result.checked, 8);
    expect_cli_bad(&j, NULL, 9);
    journal_teardown(&j);
}
END_TEST

/* ---- entries sealed before encoding version 2 --------------------------- */

/* An entry as stored, read back as an auditor would (postings in order). */
static void stored_entry(PGconn *conn, const PGresult *rows, int row, struct ledger_entry *entry)
{
    memset(entry, 0, sizeof *entry);
    entry->seq = strtoll(PQgetvalue(rows, row, 0), NULL, 10);
    snprintf(entry->kind, sizeof entry->kind, "%s", PQgetvalue(rows, row, 1));
    entry->created_at_us = strtoll(PQgetvalue(rows, row, 2), NULL, 10);
    snprintf(entry->actor, sizeof entry->actor, "%s", PQgetvalue(rows, row, 3));
    entry->reverses_seq = strtoll(PQgetvalue(rows, row, 4), NULL, 10);
    entry->value_date_days = (int32_t)strtol(PQgetvalue(rows, row, 5), NULL, 10);
    snprintf(entry->bank_ref, sizeof entry->bank_ref, "%s", PQgetvalue(rows, row, 6));
    snprintf(entry->memo, sizeof entry->memo, "%s", PQgetvalue(rows, row, 7));
    snprintf(entry->key_id, sizeof entry->key_id, "%s", PQgetvalue(rows, row, 8));
    const char *params[1] = {PQgetvalue(rows, row, 0)};
    PGresult *postings = PQexecParams(conn,
                                      "SELECT account_id, amount, currency FROM postings "
                                      "WHERE entry_seq = $1 ORDER BY idx",
                                      1, NULL, params, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(postings), PGRES_TUPLES_OK);
    ck_assert_int_le(PQntuples(postings), LEDGER_POSTINGS_MAX);
    entry->postings_count = (size_t)PQntuples(postings);
    for (int i = 0; i < PQntuples(postings); i++) {
        entry->postings[i].account_id = strtoll(PQgetvalue(postings, i, 0), NULL, 10);
        entry->postings[i].amount_minor = strtoll(PQgetvalue(postings, i, 1), NULL, 10);
        snprintf(entry->postings[i].currency, LEDGER_CURRENCY_SIZE, "%s",
                 PQgetvalue(postings, i, 2));
    }
    PQclear(postings);
}

/* Stores entry's version 1 seal (as superuser, inside conn's transaction). */
static void store_version1_seal(PGconn *conn, const struct ledger_entry *entry)
{
    char seq[24], prev_hash[2 * LEDGER_HASH_SIZE + 3], hash[2 * LEDGER_HASH_SIZE + 3];
    char signature[2 * LEDGER_SIGNATURE_SIZE + 3];
    snprintf(seq, sizeof seq, "%" PRId64, entry->seq);
    bytea_text(prev_hash, entry->prev_hash, LEDGER_HASH_SIZE);
    bytea_text(hash, entry->hash, LEDGER_HASH_SIZE);
    bytea_text(signature, entry->signature, LEDGER_SIGNATURE_SIZE);
    const char *params[4] = {seq, prev_hash, hash, signature};
    PGresult *result = PQexecParams(conn,
                                    "UPDATE entries SET encoding = 1, prev_hash = $2::bytea, "
                                    "hash = $3::bytea, signature = $4::bytea WHERE seq = $1",
                                    4, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(result) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(result));
    PQclear(result);
    const char *head_params[1] = {hash}; /* the last one stays */
    result = PQexecParams(conn, "UPDATE chain_head SET hash = $1::bytea", 1, NULL, head_params,
                          NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(result), PGRES_COMMAND_OK);
    PQclear(result);
}

/* Seals the whole journal again as version 1 with the trusted key, as the
 * ledger did before migration 011, and stores it so: a journal booked
 * before encoding version 2 (its approvals carry no payee). */
static void reseal_as_version1(const struct journal *j)
{
    struct ledger_signer signer;
    ck_assert_int_eq(ledger_signer_load(&signer, j->fixture.key_file), LEDGER_OK);
    PGconn *conn = fixture_super(&j->fixture);
    PGresult *result = PQexec(conn, "BEGIN; SET LOCAL session_replication_role = replica");
    ck_assert_int_eq(PQresultStatus(result), PGRES_COMMAND_OK);
    PQclear(result);
    PGresult *rows = PQexec(
        conn, "SELECT seq, kind, created_at_us, actor, coalesce(reverses_seq, 0), "
              "coalesce(value_date - date '1970-01-01', -2147483648), bank_ref, memo, key_id "
              "FROM entries ORDER BY seq");
    ck_assert_int_eq(PQresultStatus(rows), PGRES_TUPLES_OK);
    uint8_t prev_hash[LEDGER_HASH_SIZE] = {0};
    struct ledger_entry *entry = malloc(sizeof *entry);
    ck_assert_ptr_nonnull(entry);
    for (int row = 0; row < PQntuples(rows); row++) {
        stored_entry(conn, rows, row, entry);
        entry->encoding = LEDGER_ENTRY_ENCODING_V1;
        memcpy(entry->prev_hash, prev_hash, LEDGER_HASH_SIZE);
        ck_assert_int_eq(ledger_entry_hash(entry->hash, prev_hash, entry), LEDGER_OK);
        crypto_sign_detached(entry->signature, NULL, entry->hash, LEDGER_HASH_SIZE,
                             signer.secret_key);
        store_version1_seal(conn, entry);
        memcpy(prev_hash, entry->hash, LEDGER_HASH_SIZE);
    }
    result = PQexec(conn, "COMMIT");
    ck_assert_int_eq(PQresultStatus(result), PGRES_COMMAND_OK);
    PQclear(result);
    PQclear(rows);
    free(entry);
    PQfinish(conn);
    ledger_signer_wipe(&signer);
}

/* A journal sealed as version 1 verifies, and goes on as version 2: the
 * next bookings are version 2 entries chained onto the last version 1. */
START_TEST(version1_entries_still_verify)
{
    struct journal j;
    build_journal(&j, "tamper_version1");
    reseal_as_version1(&j);
    ck_assert_int_eq(fixture_query_int(&j.fixture, "SELECT count(*) FROM entries "
                                                   "WHERE encoding = 1"),
                     JOURNAL_ENTRIES);
    struct ledger_verify_result result = verify(&j, NULL);
    ck_assert_msg(result.ok, "%lld: %s", (long long)result.first_bad_seq, result.reason);
    ck_assert_int_eq(result.checked, JOURNAL_ENTRIES);
    struct ledger *ledger = fixture_ledger(&j.fixture);
    receipt(ledger, j.case_nos[0], 1300, "r21");
    int64_t paid = payout(ledger, j.case_nos[0], 900, "p3"); /* 22 */
    ledger_close(ledger);
    ck_assert_int_eq(fixture_query_int(&j.fixture, "SELECT count(*) FROM entries "
                                                   "WHERE encoding = 2 AND seq > 20"),
                     2);
    result = verify(&j, NULL);
    ck_assert_msg(result.ok, "%lld: %s", (long long)result.first_bad_seq, result.reason);
    ck_assert_int_eq(result.checked, JOURNAL_ENTRIES + 2);
    expect_cli_ok(&j, JOURNAL_ENTRIES + 2);
    /* The version 2 approval covers its payee. */
    char sql[128];
    snprintf(sql, sizeof sql,
             "UPDATE disbursements SET payee_name = 'Someone Else' WHERE id = %lld",
             (long long)paid);
    tamper(&j, sql);
    result = verify(&j, NULL);
    expect_bad(&result, JOURNAL_ENTRIES + 2, "hash does not match the entry");
    journal_teardown(&j);
}
END_TEST

/* Tables outside the journal that no entry seals: an idempotency record
 * removed (a retry of that key would book again), a case renamed, and the
 * payee of a payout approved by a version 1 entry (sealed before
 * migration 011, and so without its payee). verify passes all three. */
START_TEST(limit_outside_the_journal)
{
    struct journal j;
    build_journal(&j, "tamper_outside");
    reseal_as_version1(&j);
    tamper(&j, "UPDATE disbursements SET payee_account = '6222999999999999' WHERE id = 1;"
               "DELETE FROM idempotency WHERE key = 'r3';"
               "UPDATE accounts SET case_no = case_no || 'x' WHERE kind = 'case' AND id "
               "= " POSTING_ACCOUNT(3, 1));
    struct ledger_verify_result result = verify(&j, NULL);
    ck_assert_msg(result.ok,
                  "verify now covers tables outside the journal (%lld: %s): update "
                  "this test",
                  (long long)result.first_bad_seq, result.reason);
    ck_assert_int_eq(result.checked, JOURNAL_ENTRIES);
    journal_teardown(&j);
}
END_TEST

Suite *db_tamper_suite(void)
{
    Suite *suite = suite_create("db_tamper");
    TCase *clean = tcase_create("clean");
    TCase *sql = tcase_create("sql");
    TCase *cli = tcase_create("cli");
    TCase *forged = tcase_create("forged");
    TCase *heads = tcase_create("heads");
    TCase *payees = tcase_create("payees");
    TCase *limits = tcase_create("limits");
    tcase_add_test(clean, untouched_journal_verifies);
    suite_add_tcase(suite, clean);
    tcase_add_loop_test(sql, sql_tamper_detected, 0, ROWS(tamper_rows));
    suite_add_tcase(suite, sql);
    tcase_add_test(cli, cli_verify_reports_tamper);
    tcase_add_test(cli, cli_verify_reports_changed_amount);
    suite_add_tcase(suite, cli);
    tcase_add_test(forged, forged_entry_unknown_key);
    tcase_add_test(forged, forged_entry_claims_trusted_key);
    suite_add_tcase(suite, forged);
    tcase_add_test(heads, tail_truncation_needs_a_saved_head);
    tcase_add_test(heads, saved_head_detects_later_change);
    tcase_add_test(heads, saved_head_entry_changed);
    tcase_add_test(heads, saved_head_forged);
    suite_add_tcase(suite, heads);
    tcase_add_test(payees, payee_changed_after_approval);
    tcase_add_test(payees, version1_entries_still_verify);
    suite_add_tcase(suite, payees);
    tcase_add_test(limits, limit_before_saved_head);
    tcase_add_test(limits, limit_outside_the_journal);
    suite_add_tcase(suite, limits);
    return suite;
}

int main(int argc, char **argv)
{
    (void)argc;
    /* CMake sets CK_DEFAULT_TIMEOUT=120 for CTest; a run by hand gets the
     * same bound instead of Check's 4 s default. */
    setenv("CK_DEFAULT_TIMEOUT", "120", 0);
    /* By hand, without CASELEDGER_BIN: BUILD/tests/test_db_tamper ->
     * BUILD/api/caseledger. */
    const char *slash = strrchr(argv[0], '/');
    int dir_length = slash ? (int)(slash - argv[0]) : 1;
    snprintf(default_bin, sizeof default_bin, "%.*s/../api/caseledger", dir_length,
             slash ? argv[0] : ".");
    if (ledger_crypto_init() != LEDGER_OK) {
        fprintf(stderr, "could not initialise libsodium\n");
        return EXIT_FAILURE;
    }
    SRunner *runner = srunner_create(db_tamper_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    fixture_drop_leftovers("tamper");
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

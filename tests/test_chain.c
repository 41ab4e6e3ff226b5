/* Unit suite for ledger/chain.c: the canonical encoding, the hash chain, the
 * Ed25519 signatures, key files, the keyring and signed heads.
 *
 * The known-answer vectors were computed outside libsodium, with Python's
 * struct and hashlib.blake2b(digest_size=32) for the encoding and hashes,
 * and the cryptography package (OpenSSL) for the Ed25519 signatures. The
 * signing seed is the secret key of RFC 8032, section 7.1, TEST 1, so its
 * public key is pinned by the RFC too. */
#include <check.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "limits.h"

Suite *chain_suite(void);

#define ROWS(table) ((int)(sizeof(table) / sizeof((table)[0])))
#define PATH_SIZE 256
#define HEX_SIZE (2 * LEDGER_ENTRY_ENCODED_MAX + 1)

/* ---- fixed vectors ------------------------------------------------------ */

static const char rfc8032_seed_hex[] =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char rfc8032_public_hex[] =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char fixed_key_id[] = "7849ac3049680be1";

/* Entry 1: seq 42, UTF-8 actor and memo, three CNY postings, signed by the
 * RFC 8032 key. */
static const char entry1_encoding_hex[] =
    "434c4531"         /* "CLE1" */
    "000000000000002a" /* seq 42 */
    "000619c23237ad80" /* created_at_us */
    "00000007"
    "72656365697074" /* "receipt" */
    "00000006"
    "e5bca0e4b889"     /* "张三" */
    "0000000000000000" /* reverses_seq none */
    "00004da3"         /* value_date_days 19875 */
    "00000010"
    "42522d32303234303630312d30303031" /* "BR-20240601-0001" */
    "0000001e"
    "283230323429e6b2aa30313135e689a731323334e58fb720e6a188e6acbe" /* memo */
    "00000010"
    "37383439616333303439363830626531" /* key id */
    "0003"                             /* 3 postings */
    "00000000000003e9"
    "00000000000249f0"
    "434e59" /* 1001 +150000 CNY */
    "00000000000007d2"
    "fffffffffffe7960"
    "434e59" /* 2002 -100000 CNY */
    "0000000000000bbb"
    "ffffffffffff3cb0"
    "434e59"; /* 3003 -50000 CNY */
static const char entry1_hash_hex[] =
    "c44595aa3555eb39ac2171e634e5ae193d53e49e585315a14d40d4802010265b";
static const char entry1_signature_hex[] =
    "d381d9661a998483975ff9abfa253573a6d4a86708b9620aad2a55385fa387f0"
    "0cc4d824abccd19545e2f3980c5ee0d1c6afccb9858430c7a01b88d8a746c10d";

/* Entry 2: seq 0, time before 1970, no value date, empty strings. */
static const char entry2_encoding_hex[] = "434c4531"
                                          "0000000000000000" /* seq 0 */
                                          "ffffffffffffffff" /* created_at_us -1 */
                                          "00000008"
                                          "726576657273616c" /* "reversal" */
                                          "00000000"         /* actor "" */
                                          "0000000000000029" /* reverses_seq 41 */
                                          "80000000"         /* value date none (INT32_MIN) */
                                          "00000000"
                                          "00000000"
                                          "00000000" /* bank_ref, memo, key_id "" */
                                          "0002"
                                          "0000000000000005"
                                          "0000000000000001"
                                          "555344" /* 5 +1 USD */
                                          "0000000000000006"
                                          "ffffffffffffffff"
                                          "555344"; /* 6 -1 USD */
static const char entry2_hash_hex[] =
    "5ea68ff9d314ad03c2448f4f646de61fdd603788d5028a3c865eba3ce561c8e2";

/* Entry 2 in encoding version 2: no request, empty payee. */
static const char entry2_v2_encoding_hex[] = "434c4532" /* "CLE2" */
                                             "0000000000000000"
                                             "ffffffffffffffff"
                                             "00000008"
                                             "726576657273616c"
                                             "00000000"
                                             "0000000000000029"
                                             "80000000"
                                             "00000000"
                                             "00000000"
                                             "00000000"         /* as in version 1 */
                                             "0000000000000000" /* disbursement_id none */
                                             "00000000"
                                             "00000000"
                                             "00000000" /* payee name, account, bank "" */
                                             "0002"
                                             "0000000000000005"
                                             "0000000000000001"
                                             "555344"
                                             "0000000000000006"
                                             "ffffffffffffffff"
                                             "555344";
static const char entry2_v2_hash_hex[] =
    "15976f936c18a2c2cca388d8ed65ded6c43f3ad66df699a29c50a8e3044e7aed";

/* Entry 3: the approval of payout 7 (encoding version 2), its payee in
 * UTF-8, signed by the RFC 8032 key. */
static const char entry3_encoding_hex[] =
    "434c4532"         /* "CLE2" */
    "000000000000002b" /* seq 43 */
    "000619c23237ad81" /* created_at_us */
    "0000000c"
    "64697362757273656d656e74" /* "disbursement" */
    "00000006"
    "e69d8ee59b9b"     /* "李四" */
    "0000000000000000" /* reverses_seq none */
    "80000000"         /* value date none */
    "00000000"         /* bank_ref "" */
    "0000001c"
    "64697362757273656d656e7420373a20e6a188e6acbee58f91e8bf98" /* memo */
    "00000010"
    "37383439616333303439363830626531" /* key id */
    "0000000000000007"                 /* disbursement_id 7 */
    "00000006"
    "e5bca0e4b889" /* payee name "张三" */
    "00000013"
    "36323232303230323030313132323333343435" /* payee account */
    "0000001e"
    "e4b8ade59bbde5b7a5e59586e993b6e8a18ce4b88ae6b5b7e58886e8a18c" /* payee bank */
    "0002"
    "00000000000007d2"
    "0000000000013880"
    "434e59" /* 2002 +80000 CNY */
    "0000000000000fa4"
    "fffffffffffec780"
    "434e59"; /* 4004 -80000 CNY */
static const char entry3_hash_hex[] =
    "a50aa1a4d4efd130df0655d0c4f21e478ec0547a8d3f03e29f26e67f2a47de82";
static const char entry3_signature_hex[] =
    "02f257c9d3310d8d8db324df5864bdd09c5409b9a39f5f145bd5e5fd3fc714ac"
    "63fce3ef354f692d60aa4b21f5f1228a586f0e7cb39882e2e6e15ce57372b202";

/* Hash of the 3-entry chain (entry 1 with seq i, created_at_us + i; the
 * second with entry 3's disbursement id and payee), sealed, so in
 * encoding version 2. */
static const char chain3_hash_hex[] =
    "a7833b961b008451ce279f6fc0ff27e8cd6f76981f1873182d603451fa5217d8";

/* Head over entry 1: seq 42, entry 1's hash, signed_at_us below. */
#define HEAD_SIGNED_AT_US INT64_C(1717171800000000)
static const char head_signature_hex[] =
    "b04603985c38b1d9f1bcd5a97d75c0ea3b41aaa3d10ea1899ea4330207b77ca5"
    "36614a89859b262c8789a5f784a903b925cb42bbd6fd74712c6c2c2b77bbf507";

static const uint8_t zero_hash[LEDGER_HASH_SIZE];

/* ---- helpers ------------------------------------------------------------ */

static void copy_text(char *field, size_t field_size, const char *text)
{
    size_t length = strlen(text);

    ck_assert_uint_lt(length, field_size);
    memcpy(field, text, length + 1);
}

static void set_posting(struct ledger_posting *posting, int64_t account_id, int64_t amount_minor,
                        const char *currency)
{
    posting->account_id = account_id;
    posting->amount_minor = amount_minor;
    copy_text(posting->currency, sizeof posting->currency, currency);
}

/* Entry 1 of the vectors, with an empty key id (sealing fills it). */
static void make_entry1(struct ledger_entry *entry)
{
    memset(entry, 0, sizeof *entry);
    entry->encoding = LEDGER_ENTRY_ENCODING_V1;
    entry->seq = 42;
    entry->created_at_us = INT64_C(1717171717123456);
    copy_text(entry->kind, sizeof entry->kind, "receipt");
    copy_text(entry->actor, sizeof entry->actor, "张三");
    entry->reverses_seq = 0;
    entry->value_date_days = 19875;
    copy_text(entry->bank_ref, sizeof entry->bank_ref, "BR-20240601-0001");
    copy_text(entry->memo, sizeof entry->memo, "(2024)沪0115执1234号 案款");
    entry->postings_count = 3;
    set_posting(&entry->postings[0], 1001, 150000, "CNY");
    set_posting(&entry->postings[1], 2002, -100000, "CNY");
    set_posting(&entry->postings[2], 3003, -50000, "CNY");
}

static void make_entry2(struct ledger_entry *entry)
{
    memset(entry, 0, sizeof *entry);
    entry->encoding = LEDGER_ENTRY_ENCODING_V1;
    entry->seq = 0;
    entry->created_at_us = -1;
    copy_text(entry->kind, sizeof entry->kind, "reversal");
    entry->reverses_seq = 41;
    entry->value_date_days = LEDGER_VALUE_DATE_NONE;
    entry->postings_count = 2;
    set_posting(&entry->postings[0], 5, 1, "USD");
    set_posting(&entry->postings[1], 6, -1, "USD");
}

/* Entry 3 of the vectors, with an empty key id (sealing fills it). */
static void make_entry3(struct ledger_entry *entry)
{
    memset(entry, 0, sizeof *entry);
    entry->encoding = LEDGER_ENTRY_ENCODING_V2;
    entry->seq = 43;
    entry->created_at_us = INT64_C(1717171717123457);
    copy_text(entry->kind, sizeof entry->kind, "disbursement");
    copy_text(entry->actor, sizeof entry->actor, "李四");
    entry->value_date_days = LEDGER_VALUE_DATE_NONE;
    copy_text(entry->memo, sizeof entry->memo, "disbursement 7: 案款发还");
    entry->disbursement_id = 7;
    copy_text(entry->payee_name, sizeof entry->payee_name, "张三");
    copy_text(entry->payee_account, sizeof entry->payee_account, "6222020200112233445");
    copy_text(entry->payee_bank, sizeof entry->payee_bank, "中国工商银行上海分行");
    entry->postings_count = 2;
    set_posting(&entry->postings[0], 2002, 80000, "CNY");
    set_posting(&entry->postings[1], 4004, -80000, "CNY");
}

static void signer_from_seed(struct ledger_signer *signer,
                             const uint8_t seed[crypto_sign_SEEDBYTES])
{
    memset(signer, 0, sizeof *signer);
    ck_assert_int_eq(crypto_sign_seed_keypair(signer->public_key, signer->secret_key, seed), 0);
    ledger_key_id(signer->key_id, signer->public_key);
}

static void fixed_signer(struct ledger_signer *signer)
{
    uint8_t seed[crypto_sign_SEEDBYTES];

    ck_assert_int_eq(ledger_from_hex(seed, sizeof seed, rfc8032_seed_hex), LEDGER_OK);
    signer_from_seed(signer, seed);
}

/* A second, different key: seed of 32 bytes of `fill`. */
static void other_signer(struct ledger_signer *signer, uint8_t fill)
{
    uint8_t seed[crypto_sign_SEEDBYTES];

    memset(seed, fill, sizeof seed);
    signer_from_seed(signer, seed);
}

static void keyring_with(struct ledger_keyring *keyring, const struct ledger_signer *signer)
{
    memset(keyring, 0, sizeof *keyring);
    ck_assert_int_eq(ledger_keyring_add(keyring, signer->key_id, signer->public_key), LEDGER_OK);
}

/* Member by member: the structs have padding, so no memcmp of the whole. */
static bool postings_equal(const struct ledger_posting *a, const struct ledger_posting *b)
{
    return a->account_id == b->account_id && a->amount_minor == b->amount_minor &&
           memcmp(a->currency, b->currency, sizeof a->currency) == 0;
}

static bool entries_equal(const struct ledger_entry *a, const struct ledger_entry *b)
{
    if (a->encoding != b->encoding || a->disbursement_id != b->disbursement_id ||
        memcmp(a->payee_name, b->payee_name, sizeof a->payee_name) != 0 ||
        memcmp(a->payee_account, b->payee_account, sizeof a->payee_account) != 0 ||
        memcmp(a->payee_bank, b->payee_bank, sizeof a->payee_bank) != 0) {
        return false;
    }
    if (a->seq != b->seq || a->created_at_us != b->created_at_us ||
        memcmp(a->kind, b->kind, sizeof a->kind) != 0 ||
        memcmp(a->actor, b->actor, sizeof a->actor) != 0 || a->reverses_seq != b->reverses_seq ||
        a->value_date_days != b->value_date_days ||
        memcmp(a->bank_ref, b->bank_ref, sizeof a->bank_ref) != 0 ||
        memcmp(a->memo, b->memo, sizeof a->memo) != 0 ||
        memcmp(a->key_id, b->key_id, sizeof a->key_id) != 0 ||
        a->postings_count != b->postings_count ||
        memcmp(a->prev_hash, b->prev_hash, sizeof a->prev_hash) != 0 ||
        memcmp(a->hash, b->hash, sizeof a->hash) != 0 ||
        memcmp(a->signature, b->signature, sizeof a->signature) != 0) {
        return false;
    }
    for (size_t index = 0; index < LEDGER_POSTINGS_MAX; index++) {
        if (!postings_equal(&a->postings[index], &b->postings[index])) {
            return false;
        }
    }
    return true;
}

static bool heads_equal(const struct ledger_head *a, const struct ledger_head *b)
{
    return a->seq == b->seq && memcmp(a->hash, b->hash, sizeof a->hash) == 0 &&
           a->signed_at_us == b->signed_at_us &&
           memcmp(a->key_id, b->key_id, sizeof a->key_id) == 0 &&
           memcmp(a->public_key, b->public_key, sizeof a->public_key) == 0 &&
           memcmp(a->signature, b->signature, sizeof a->signature) == 0;
}

static void expect_hex(const uint8_t *bytes, size_t size, const char *expected_hex)
{
    static char hex[HEX_SIZE];

    ck_assert_uint_le(size, LEDGER_ENTRY_ENCODED_MAX);
    ledger_to_hex(hex, bytes, size);
    ck_assert_str_eq(hex, expected_hex);
}

/* ---- encoding ----------------------------------------------------------- */

START_TEST(encode_known_answer)
{
    struct ledger_entry entry;
    uint8_t buffer[LEDGER_ENTRY_ENCODED_MAX];
    size_t length = 0;

    make_entry1(&entry);
    copy_text(entry.key_id, sizeof entry.key_id, fixed_key_id);
    ck_assert_int_eq(ledger_entry_encode(buffer, sizeof buffer, &length, &entry), LEDGER_OK);
    ck_assert_uint_eq(length, 186);
    expect_hex(buffer, length, entry1_encoding_hex);

    make_entry2(&entry);
    ck_assert_int_eq(ledger_entry_encode(buffer, sizeof buffer, &length, &entry), LEDGER_OK);
    ck_assert_uint_eq(length, 100);
    expect_hex(buffer, length, entry2_encoding_hex);

    entry.encoding = LEDGER_ENTRY_ENCODING_V2;
    ck_assert_int_eq(ledger_entry_encode(buffer, sizeof buffer, &length, &entry), LEDGER_OK);
    ck_assert_uint_eq(length, 120);
    expect_hex(buffer, length, entry2_v2_encoding_hex);

    make_entry3(&entry);
    copy_text(entry.key_id, sizeof entry.key_id, fixed_key_id);
    ck_assert_int_eq(ledger_entry_encode(buffer, sizeof buffer, &length, &entry), LEDGER_OK);
    ck_assert_uint_eq(length, 229);
    expect_hex(buffer, length, entry3_encoding_hex);
}
END_TEST

START_TEST(hash_known_answer)
{
    struct ledger_entry entry;
    uint8_t hash[LEDGER_HASH_SIZE];

    make_entry1(&entry);
    copy_text(entry.key_id, sizeof entry.key_id, fixed_key_id);
    ck_assert_int_eq(ledger_entry_hash(hash, zero_hash, &entry), LEDGER_OK);
    expect_hex(hash, sizeof hash, entry1_hash_hex);

    make_entry2(&entry);
    ck_assert_int_eq(ledger_entry_hash(hash, zero_hash, &entry), LEDGER_OK);
    expect_hex(hash, sizeof hash, entry2_hash_hex);
    entry.encoding = LEDGER_ENTRY_ENCODING_V2;
    ck_assert_int_eq(ledger_entry_hash(hash, zero_hash, &entry), LEDGER_OK);
    expect_hex(hash, sizeof hash, entry2_v2_hash_hex);

    make_entry3(&entry);
    copy_text(entry.key_id, sizeof entry.key_id, fixed_key_id);
    ck_assert_int_eq(ledger_entry_hash(hash, zero_hash, &entry), LEDGER_OK);
    expect_hex(hash, sizeof hash, entry3_hash_hex);
}
END_TEST

START_TEST(key_id_known_answer)
{
    struct ledger_signer signer;
    char key_id[LEDGER_KEY_ID_MAX + 1];

    fixed_signer(&signer);
    expect_hex(signer.public_key, sizeof signer.public_key, rfc8032_public_hex);
    ledger_key_id(key_id, signer.public_key);
    ck_assert_str_eq(key_id, fixed_key_id);
    ledger_signer_wipe(&signer);
}
END_TEST

START_TEST(seal_known_answer)
{
    struct ledger_signer signer;
    struct ledger_entry entry;

    fixed_signer(&signer);
    make_entry3(&entry);
    memset(entry.prev_hash, 0xee, sizeof entry.prev_hash); /* replaced by seal */
    ck_assert_int_eq(ledger_entry_seal(&entry, zero_hash, &signer), LEDGER_OK);
    ck_assert_str_eq(entry.key_id, fixed_key_id);
    expect_hex(entry.prev_hash, sizeof entry.prev_hash,
               "0000000000000000000000000000000000000000000000000000000000000000");
    expect_hex(entry.hash, sizeof entry.hash, entry3_hash_hex);
    expect_hex(entry.signature, sizeof entry.signature, entry3_signature_hex);
    ledger_signer_wipe(&signer);
}
END_TEST

/* What verify does with an entry sealed before version 2: its stored hash
 * and signature check as version 1. */
START_TEST(version1_entry_checks)
{
    struct ledger_signer signer;
    struct ledger_keyring keyring;
    struct ledger_entry entry;

    fixed_signer(&signer);
    keyring_with(&keyring, &signer);
    make_entry1(&entry);
    copy_text(entry.key_id, sizeof entry.key_id, fixed_key_id);
    ck_assert_int_eq(ledger_from_hex(entry.hash, sizeof entry.hash, entry1_hash_hex), LEDGER_OK);
    ck_assert_int_eq(ledger_from_hex(entry.signature, sizeof entry.signature, entry1_signature_hex),
                     LEDGER_OK);
    ck_assert_int_eq(ledger_entry_check(&entry, zero_hash, &keyring), LEDGER_CHAIN_OK);
    /* The same entry read as version 2 (its version changed in the table). */
    entry.encoding = LEDGER_ENTRY_ENCODING_V2;
    ck_assert_int_eq(ledger_entry_check(&entry, zero_hash, &keyring), LEDGER_CHAIN_BAD_HASH);
    ledger_signer_wipe(&signer);
}
END_TEST

/* Sealing always uses the current version, whatever the entry said. */
START_TEST(seal_uses_current_version)
{
    struct ledger_signer signer;
    struct ledger_keyring keyring;
    struct ledger_entry entry;
    uint8_t hash[LEDGER_HASH_SIZE];

    fixed_signer(&signer);
    keyring_with(&keyring, &signer);
    make_entry1(&entry);
    ck_assert_int_eq(entry.encoding, LEDGER_ENTRY_ENCODING_V1);
    ck_assert_int_eq(ledger_entry_seal(&entry, zero_hash, &signer), LEDGER_OK);
    ck_assert_int_eq(entry.encoding, LEDGER_ENTRY_ENCODING_CURRENT);
    ck_assert_int_eq(LEDGER_ENTRY_ENCODING_CURRENT, LEDGER_ENTRY_ENCODING_V2);
    ck_assert_int_eq(ledger_entry_check(&entry, zero_hash, &keyring), LEDGER_CHAIN_OK);
    entry.encoding = LEDGER_ENTRY_ENCODING_V1;
    ck_assert_int_eq(ledger_entry_hash(hash, zero_hash, &entry), LEDGER_OK);
    expect_hex(hash, sizeof hash, entry1_hash_hex);
    ck_assert_int_ne(memcmp(hash, entry.hash, sizeof hash), 0);
    ledger_signer_wipe(&signer);
}
END_TEST

/* Every byte short of the encoding is refused; the exact size is enough. */
START_TEST(encode_buffer_bounds)
{
    struct ledger_entry entry;
    uint8_t buffer[LEDGER_ENTRY_ENCODED_MAX];
    size_t length = 0;

    make_entry1(&entry);
    copy_text(entry.key_id, sizeof entry.key_id, fixed_key_id);
    for (size_t size = 0; size < 186; size++) {
        ck_assert_int_eq(ledger_entry_encode(buffer, size, &length, &entry),
                         LEDGER_ERR_INVALID_ARGUMENT);
    }
    ck_assert_int_eq(ledger_entry_encode(buffer, 186, &length, &entry), LEDGER_OK);
    ck_assert_uint_eq(length, 186);
}
END_TEST

/* The largest entry (version 2, the larger) encodes to exactly
 * LEDGER_ENTRY_ENCODED_MAX bytes. */
START_TEST(encode_largest_entry)
{
    static struct ledger_entry entry;
    static uint8_t buffer[LEDGER_ENTRY_ENCODED_MAX];
    size_t length = 0;

    make_entry3(&entry);
    memset(entry.kind, 'k', LEDGER_KIND_MAX);
    entry.kind[LEDGER_KIND_MAX] = '\0';
    memset(entry.actor, 'a', LEDGER_ACTOR_MAX);
    entry.actor[LEDGER_ACTOR_MAX] = '\0';
    memset(entry.bank_ref, 'b', LEDGER_BANK_REF_MAX);
    entry.bank_ref[LEDGER_BANK_REF_MAX] = '\0';
    memset(entry.memo, 'm', LEDGER_MEMO_MAX);
    entry.memo[LEDGER_MEMO_MAX] = '\0';
    copy_text(entry.key_id, sizeof entry.key_id, fixed_key_id);
    entry.disbursement_id = INT64_MAX;
    memset(entry.payee_name, 'n', LEDGER_PAYEE_NAME_MAX);
    entry.payee_name[LEDGER_PAYEE_NAME_MAX] = '\0';
    memset(entry.payee_account, '6', LEDGER_PAYEE_ACCOUNT_MAX);
    entry.payee_account[LEDGER_PAYEE_ACCOUNT_MAX] = '\0';
    memset(entry.payee_bank, 'b', LEDGER_PAYEE_BANK_MAX);
    entry.payee_bank[LEDGER_PAYEE_BANK_MAX] = '\0';
    entry.postings_count = LEDGER_POSTINGS_MAX;
    for (size_t index = 0; index < LEDGER_POSTINGS_MAX; index++) {
        set_posting(&entry.postings[index], (int64_t)index + 1, index % 2 == 0 ? 7 : -7, "CNY");
    }
    ck_assert(ledger_entry_balanced(&entry));
    ck_assert_int_eq(ledger_entry_encode(buffer, sizeof buffer, &length, &entry), LEDGER_OK);
    ck_assert_uint_eq(length, LEDGER_ENTRY_ENCODED_MAX);
}
END_TEST

struct balance_row {
    int64_t amounts[3];
    const char *currencies[3];
    size_t postings_count;
    bool balanced;
    const char *reason;
};

static const struct balance_row balance_rows[] = {
    {{100, -100, 0}, {"CNY", "CNY", "CNY"}, 2, true, "two postings"},
    {{100, -60, -40}, {"CNY", "CNY", "CNY"}, 3, true, "three postings"},
    {{100, -100, 0}, {"CNY", "USD", "CNY"}, 2, false, "sum zero across currencies only"},
    {{100, 5, -100}, {"CNY", "USD", "CNY"}, 3, false, "USD leg alone"},
    {{0, 0, 0}, {"CNY", "USD", "JPY"}, 3, true, "zero in every currency"},
    {{100, -99, 0}, {"CNY", "CNY", "CNY"}, 2, false, "off by one minor unit"},
    {{INT64_MAX, 1, INT64_MIN}, {"CNY", "CNY", "CNY"}, 3, false, "running sum overflows"},
    {{INT64_MAX, INT64_MIN, 1}, {"CNY", "CNY", "CNY"}, 3, true, "extremes that cancel"},
    {{INT64_MIN, INT64_MIN, 0}, {"CNY", "CNY", "CNY"}, 2, false, "negative overflow"},
};

START_TEST(balanced_table)
{
    const struct balance_row *row = &balance_rows[_i];
    struct ledger_entry entry;

    make_entry1(&entry);
    entry.postings_count = row->postings_count;
    for (size_t index = 0; index < 3; index++) {
        set_posting(&entry.postings[index], (int64_t)index + 1, row->amounts[index],
                    row->currencies[index]);
    }
    ck_assert_msg(ledger_entry_balanced(&entry) == row->balanced, "%s", row->reason);
}
END_TEST

START_TEST(balanced_refuses_too_many_postings)
{
    struct ledger_entry entry;

    make_entry1(&entry);
    entry.postings_count = LEDGER_POSTINGS_MAX + 1;
    ck_assert(!ledger_entry_balanced(&entry));
}
END_TEST

/* ---- chain -------------------------------------------------------------- */

#define CHAIN_LENGTH 3

/* Index of the first entry that fails, or -1; *check_out says why. */
static int first_bad_entry(enum ledger_chain_check *check_out, const struct ledger_entry *entries,
                           size_t count, const struct ledger_keyring *keyring)
{
    const uint8_t *prev_hash = zero_hash;

    for (size_t index = 0; index < count; index++) {
        enum ledger_chain_check check = ledger_entry_check(&entries[index], prev_hash, keyring);

        if (check != LEDGER_CHAIN_OK) {
            *check_out = check;
            return (int)index;
        }
        prev_hash = entries[index].hash;
    }
    *check_out = LEDGER_CHAIN_OK;
    return -1;
}

static void make_chain(struct ledger_entry entries[CHAIN_LENGTH],
                       const struct ledger_signer *signer)
{
    const uint8_t *prev_hash = zero_hash;

    for (size_t index = 0; index < CHAIN_LENGTH; index++) {
        make_entry1(&entries[index]);
        entries[index].seq = (int64_t)index + 1;
        entries[index].created_at_us += (int64_t)index + 1;
        if (index == 1) { /* an approval: the one the payee rows change */
            struct ledger_entry approval;
            make_entry3(&approval);
            entries[index].disbursement_id = approval.disbursement_id;
            memcpy(entries[index].payee_name, approval.payee_name, sizeof approval.payee_name);
            memcpy(entries[index].payee_account, approval.payee_account,
                   sizeof approval.payee_account);
            memcpy(entries[index].payee_bank, approval.payee_bank, sizeof approval.payee_bank);
            entries[index].encoding = LEDGER_ENTRY_ENCODING_V2;
        }
        ck_assert_int_eq(ledger_entry_seal(&entries[index], prev_hash, signer), LEDGER_OK);
        prev_hash = entries[index].hash;
    }
}

START_TEST(chain_verifies)
{
    struct ledger_signer signer;
    struct ledger_keyring keyring;
    struct ledger_entry entries[CHAIN_LENGTH];
    enum ledger_chain_check check;

    fixed_signer(&signer);
    keyring_with(&keyring, &signer);
    make_chain(entries, &signer);
    ck_assert_int_eq(first_bad_entry(&check, entries, CHAIN_LENGTH, &keyring), -1);
    ck_assert_int_eq(check, LEDGER_CHAIN_OK);
    expect_hex(entries[CHAIN_LENGTH - 1].hash, LEDGER_HASH_SIZE, chain3_hash_hex);
    for (size_t index = 0; index < CHAIN_LENGTH; index++) {
        ck_assert_int_eq(crypto_sign_verify_detached(entries[index].signature, entries[index].hash,
                                                     LEDGER_HASH_SIZE, signer.public_key),
                         0);
    }
    ledger_signer_wipe(&signer);
}
END_TEST

static void swap_postings(struct ledger_entry *entry)
{
    struct ledger_posting first = entry->postings[0];

    entry->postings[0] = entry->postings[1];
    entry->postings[1] = first;
}

struct tamper_row {
    const char *field;
    enum ledger_chain_check expected;
};

/* Each row changes one thing in the middle entry. */
static const struct tamper_row tamper_rows[] = {
    {"amount", LEDGER_CHAIN_UNBALANCED},
    {"amounts, still balanced", LEDGER_CHAIN_BAD_HASH},
    {"account", LEDGER_CHAIN_BAD_HASH},
    {"order of postings", LEDGER_CHAIN_BAD_HASH},
    {"currency of all postings", LEDGER_CHAIN_BAD_HASH},
    {"kind", LEDGER_CHAIN_BAD_HASH},
    {"actor", LEDGER_CHAIN_BAD_HASH},
    {"memo, one UTF-8 byte", LEDGER_CHAIN_BAD_HASH},
    {"bank_ref", LEDGER_CHAIN_BAD_HASH},
    {"seq", LEDGER_CHAIN_BAD_HASH},
    {"created_at_us", LEDGER_CHAIN_BAD_HASH},
    {"reverses_seq", LEDGER_CHAIN_BAD_HASH},
    {"value_date_days", LEDGER_CHAIN_BAD_HASH},
    {"key_id", LEDGER_CHAIN_BAD_HASH},
    {"prev_hash", LEDGER_CHAIN_BAD_PREV_HASH},
    {"hash", LEDGER_CHAIN_BAD_HASH},
    {"signature", LEDGER_CHAIN_BAD_SIGNATURE},
    {"postings_count above the maximum", LEDGER_CHAIN_BAD_ENCODING},
    {"one posting", LEDGER_CHAIN_BAD_ENCODING},
    {"payee_name", LEDGER_CHAIN_BAD_HASH},
    {"payee_account", LEDGER_CHAIN_BAD_HASH},
    {"payee_bank", LEDGER_CHAIN_BAD_HASH},
    {"disbursement_id", LEDGER_CHAIN_BAD_HASH},
    {"encoding version 2 -> 1", LEDGER_CHAIN_BAD_HASH},
    {"encoding version unknown", LEDGER_CHAIN_BAD_ENCODING},
};

/* The rows of the fields version 2 adds (the chain's entries carry a
 * payee: make_chain). */
static void tamper_payee(struct ledger_entry *entry, int row)
{
    switch (row) {
    case 19:
        entry->payee_name[0] = 'X';
        break;
    case 20:
        entry->payee_account[18] = '6';
        break;
    case 21:
        entry->payee_bank[0] = '\0';
        break;
    case 22:
        entry->disbursement_id += 1;
        break;
    case 23:
        entry->encoding = LEDGER_ENTRY_ENCODING_V1;
        memset(entry->payee_name, 0, sizeof entry->payee_name);
        memset(entry->payee_account, 0, sizeof entry->payee_account);
        memset(entry->payee_bank, 0, sizeof entry->payee_bank);
        entry->disbursement_id = 0;
        break;
    case 24:
        entry->encoding = (enum ledger_entry_encoding)3;
        break;
    default:
        ck_abort_msg("no tamper row %d", row);
    }
}

static void tamper(struct ledger_entry *entry, int row)
{
    switch (row) {
    case 0:
        entry->postings[0].amount_minor += 1;
        break;
    case 1:
        entry->postings[0].amount_minor += 1;
        entry->postings[1].amount_minor -= 1;
        break;
    case 2:
        entry->postings[2].account_id = 3004;
        break;
    case 3:
        swap_postings(entry);
        break;
    case 4:
        for (size_t index = 0; index < entry->postings_count; index++) {
            copy_text(entry->postings[index].currency, LEDGER_CURRENCY_SIZE, "USD");
        }
        break;
    case 5:
        copy_text(entry->kind, sizeof entry->kind, "disbursement");
        break;
    case 6:
        copy_text(entry->actor, sizeof entry->actor, "李四");
        break;
    case 7:
        entry->memo[7] ^= 0x01;
        break; /* inside "沪" */
    case 8:
        entry->bank_ref[0] = 'X';
        break;
    case 9:
        entry->seq += 1;
        break;
    case 10:
        entry->created_at_us += 1;
        break;
    case 11:
        entry->reverses_seq = 1;
        break;
    case 12:
        entry->value_date_days = LEDGER_VALUE_DATE_NONE;
        break;
    case 13:
        entry->key_id[0] = entry->key_id[0] == '0' ? '1' : '0';
        break;
    case 14:
        entry->prev_hash[31] ^= 0x80;
        break;
    case 15:
        entry->hash[0] ^= 0x01;
        break;
    case 16:
        entry->signature[63] ^= 0x01;
        break;
    case 17:
        entry->postings_count = LEDGER_POSTINGS_MAX + 1;
        break;
    case 18:
        entry->postings_count = 1;
        break;
    default:
        tamper_payee(entry, row);
    }
}

START_TEST(chain_detects_tamper)
{
    const struct tamper_row *row = &tamper_rows[_i];
    struct ledger_signer signer;
    struct ledger_keyring keyring;
    struct ledger_entry entries[CHAIN_LENGTH];
    enum ledger_chain_check check;

    fixed_signer(&signer);
    keyring_with(&keyring, &signer);
    make_chain(entries, &signer);
    tamper(&entries[1], _i);
    ck_assert_msg(first_bad_entry(&check, entries, CHAIN_LENGTH, &keyring) == 1, "%s", row->field);
    ck_assert_msg(check == row->expected, "%s: got %s", row->field, ledger_chain_check_text(check));
    ledger_signer_wipe(&signer);
}
END_TEST

/* Deleting, reordering or inserting entries breaks the prev_hash links. */
START_TEST(chain_detects_delete_reorder_insert)
{
    struct ledger_signer signer;
    struct ledger_keyring keyring;
    struct ledger_entry entries[CHAIN_LENGTH];
    struct ledger_entry edited[CHAIN_LENGTH + 1];
    enum ledger_chain_check check;

    fixed_signer(&signer);
    keyring_with(&keyring, &signer);
    make_chain(entries, &signer);

    edited[0] = entries[0];
    edited[1] = entries[2];
    ck_assert_int_eq(first_bad_entry(&check, edited, 2, &keyring), 1);
    ck_assert_int_eq(check, LEDGER_CHAIN_BAD_PREV_HASH);

    edited[0] = entries[1];
    edited[1] = entries[0];
    edited[2] = entries[2];
    ck_assert_int_eq(first_bad_entry(&check, edited, 3, &keyring), 0);
    ck_assert_int_eq(check, LEDGER_CHAIN_BAD_PREV_HASH);

    /* A properly sealed entry inserted after entry 0 passes itself; the
     * next entry no longer links. */
    edited[0] = entries[0];
    make_entry2(&edited[1]);
    ck_assert_int_eq(ledger_entry_seal(&edited[1], entries[0].hash, &signer), LEDGER_OK);
    edited[2] = entries[1];
    edited[3] = entries[2];
    ck_assert_int_eq(first_bad_entry(&check, edited, 4, &keyring), 2);
    ck_assert_int_eq(check, LEDGER_CHAIN_BAD_PREV_HASH);

    /* Dropping the last entry is not visible in the chain alone: the signed
     * head is what catches it (see the head case). */
    ck_assert_int_eq(first_bad_entry(&check, entries, 2, &keyring), -1);
    ledger_signer_wipe(&signer);
}
END_TEST

/* Re-sealing a changed entry with a trusted key hides it only until the
 * next link; with an untrusted key it is caught at once. */
START_TEST(chain_detects_resealing)
{
    struct ledger_signer signer;
    struct ledger_signer intruder;
    struct ledger_signer forger;
    struct ledger_keyring keyring;
    struct ledger_entry entries[CHAIN_LENGTH];
    enum ledger_chain_check check;

    fixed_signer(&signer);
    other_signer(&intruder, 0x42);
    keyring_with(&keyring, &signer);
    make_chain(entries, &signer);

    entries[1].postings[0].amount_minor += 5;
    entries[1].postings[1].amount_minor -= 5;
    ck_assert_int_eq(ledger_entry_seal(&entries[1], entries[0].hash, &signer), LEDGER_OK);
    ck_assert_int_eq(first_bad_entry(&check, entries, CHAIN_LENGTH, &keyring), 2);
    ck_assert_int_eq(check, LEDGER_CHAIN_BAD_PREV_HASH);

    make_chain(entries, &signer);
    ck_assert_int_eq(ledger_entry_seal(&entries[1], entries[0].hash, &intruder), LEDGER_OK);
    ck_assert_int_eq(first_bad_entry(&check, entries, CHAIN_LENGTH, &keyring), 1);
    ck_assert_int_eq(check, LEDGER_CHAIN_UNKNOWN_KEY);

    /* The intruder's secret under the trusted key's id. */
    forger = intruder;
    memcpy(forger.key_id, signer.key_id, sizeof forger.key_id);
    make_chain(entries, &signer);
    ck_assert_int_eq(ledger_entry_seal(&entries[1], entries[0].hash, &forger), LEDGER_OK);
    ck_assert_int_eq(first_bad_entry(&check, entries, CHAIN_LENGTH, &keyring), 1);
    ck_assert_int_eq(check, LEDGER_CHAIN_BAD_SIGNATURE);

    /* Key rotation: old entries stay verifiable with both keys trusted. */
    ck_assert_int_eq(ledger_keyring_add(&keyring, intruder.key_id, intruder.public_key), LEDGER_OK);
    make_chain(entries, &signer);
    ck_assert_int_eq(ledger_entry_seal(&entries[2], entries[1].hash, &intruder), LEDGER_OK);
    ck_assert_int_eq(first_bad_entry(&check, entries, CHAIN_LENGTH, &keyring), -1);
    ledger_signer_wipe(&signer);
    ledger_signer_wipe(&intruder);
    ledger_signer_wipe(&forger);
}
END_TEST

/* ---- keys: sign/verify, key files, keyring ------------------------------ */

struct temp_dir {
    char path[PATH_SIZE];
};

static void temp_dir_create(struct temp_dir *dir)
{
    const char *base = getenv("TMPDIR");
    int written = snprintf(dir->path, sizeof dir->path, "%s/test_chain.XXXXXX",
                           base != NULL && base[0] != '\0' ? base : "/tmp");

    ck_assert(written > 0 && (size_t)written < sizeof dir->path);
    ck_assert_ptr_nonnull(mkdtemp(dir->path));
}

static void temp_path(char out[PATH_SIZE], const struct temp_dir *dir, const char *name)
{
    int written = snprintf(out, PATH_SIZE, "%s/%s", dir->path, name);

    ck_assert(written > 0 && written < PATH_SIZE);
}

/* Removes the named files (missing ones are fine) and the directory. */
static void temp_dir_remove(const struct temp_dir *dir, const char *const *names, size_t count)
{
    char path[PATH_SIZE];

    for (size_t index = 0; index < count; index++) {
        temp_path(path, dir, names[index]);
        ck_assert(unlink(path) == 0 || errno == ENOENT);
    }
    ck_assert_int_eq(rmdir(dir->path), 0);
}

static void write_file(const char *path, const char *bytes, size_t length, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    ck_assert_int_ge(fd, 0);
    ck_assert(write(fd, bytes, length) == (ssize_t)length);
    ck_assert_int_eq(close(fd), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* Reads a small file whole into buffer (NUL-terminated); returns its length. */
static size_t read_file(char *buffer, size_t size, const char *path)
{
    int fd = open(path, O_RDONLY);
    ssize_t length;

    ck_assert_int_ge(fd, 0);
    length = read(fd, buffer, size - 1);
    ck_assert_int_ge(length, 0);
    ck_assert_int_eq(close(fd), 0);
    buffer[length] = '\0';
    return (size_t)length;
}

static void assert_same_signer(const struct ledger_signer *a, const struct ledger_signer *b)
{
    ck_assert_str_eq(a->key_id, b->key_id);
    ck_assert_int_eq(memcmp(a->public_key, b->public_key, LEDGER_PUBLIC_KEY_SIZE), 0);
    ck_assert_int_eq(sodium_memcmp(a->secret_key, b->secret_key, LEDGER_SECRET_KEY_SIZE), 0);
}

START_TEST(sign_verify_round_trip)
{
    struct ledger_signer signer;
    struct ledger_keyring keyring;
    struct ledger_entry entry;
    struct temp_dir dir;
    char path[PATH_SIZE];
    static const char *const names[] = {"key"};

    temp_dir_create(&dir);
    temp_path(path, &dir, "key");
    ck_assert_int_eq(ledger_signer_generate(&signer, path), LEDGER_OK);
    keyring_with(&keyring, &signer);
    make_entry1(&entry);
    ck_assert_int_eq(ledger_entry_seal(&entry, zero_hash, &signer), LEDGER_OK);
    ck_assert_int_eq(ledger_entry_check(&entry, zero_hash, &keyring), LEDGER_CHAIN_OK);
    ck_assert_int_eq(crypto_sign_verify_detached(entry.signature, entry.hash, LEDGER_HASH_SIZE,
                                                 signer.public_key),
                     0);
    entry.hash[5] ^= 0x10;
    ck_assert_int_ne(crypto_sign_verify_detached(entry.signature, entry.hash, LEDGER_HASH_SIZE,
                                                 signer.public_key),
                     0);
    ledger_signer_wipe(&signer);
    temp_dir_remove(&dir, names, 1);
}
END_TEST

#define KEY_FILE_LENGTH 168 /* 21 + 1 + 16 + 1 + 128 + 1 */

START_TEST(key_file_round_trip)
{
    struct ledger_signer generated;
    struct ledger_signer loaded;
    struct ledger_signer untouched;
    struct ledger_entry sealed_generated;
    struct ledger_entry sealed_loaded;
    struct temp_dir dir;
    struct stat status;
    char path[PATH_SIZE];
    char before[512];
    char after[512];
    static const char *const names[] = {"signing.key"};

    temp_dir_create(&dir);
    temp_path(path, &dir, "signing.key");
    ck_assert_int_eq(ledger_signer_generate(&generated, path), LEDGER_OK);
    ck_assert_int_eq(stat(path, &status), 0);
    ck_assert_uint_eq(status.st_mode & 07777, 0600);
    ck_assert_int_eq(status.st_size, KEY_FILE_LENGTH);
    ck_assert_uint_eq(read_file(before, sizeof before, path), KEY_FILE_LENGTH);
    ck_assert_int_eq(strncmp(before, "caseledger-ed25519-v1 ", 22), 0);
    ck_assert_int_eq(strncmp(before + 22, generated.key_id, LEDGER_KEY_ID_MAX), 0);

    /* O_EXCL: an existing file is never overwritten. */
    memset(&untouched, 0x5a, sizeof untouched);
    loaded = untouched;
    ck_assert_int_eq(ledger_signer_generate(&loaded, path), LEDGER_ERR_IO);
    ck_assert_int_eq(memcmp(&loaded, &untouched, sizeof loaded), 0);
    ck_assert_uint_eq(read_file(after, sizeof after, path), KEY_FILE_LENGTH);
    ck_assert_str_eq(after, before);

    ck_assert_int_eq(ledger_signer_load(&loaded, path), LEDGER_OK);
    assert_same_signer(&loaded, &generated);

    /* The loaded key signs exactly as the generated one (Ed25519 is
     * deterministic). */
    make_entry1(&sealed_generated);
    sealed_loaded = sealed_generated;
    ck_assert_int_eq(ledger_entry_seal(&sealed_generated, zero_hash, &generated), LEDGER_OK);
    ck_assert_int_eq(ledger_entry_seal(&sealed_loaded, zero_hash, &loaded), LEDGER_OK);
    ck_assert(entries_equal(&sealed_generated, &sealed_loaded));

    ledger_signer_wipe(&loaded);
    for (size_t index = 0; index < sizeof loaded; index++) {
        ck_assert_uint_eq(((const unsigned char *)&loaded)[index], 0);
    }
    ledger_signer_wipe(&generated);
    sodium_memzero(before, sizeof before);
    sodium_memzero(after, sizeof after);
    temp_dir_remove(&dir, names, 1);
}
END_TEST

struct mode_row {
    mode_t mode;
    enum ledger_err expected;
};

static const struct mode_row mode_rows[] = {
    {0600, LEDGER_OK},     {0400, LEDGER_OK},     {0640, LEDGER_ERR_IO}, {0660, LEDGER_ERR_IO},
    {0604, LEDGER_ERR_IO}, {0602, LEDGER_ERR_IO}, {0610, LEDGER_ERR_IO}, {0644, LEDGER_ERR_IO},
};

START_TEST(key_file_mode_refused)
{
    const struct mode_row *row = &mode_rows[_i];
    struct ledger_signer signer;
    struct ledger_signer loaded;
    struct temp_dir dir;
    char path[PATH_SIZE];
    static const char *const names[] = {"key"};

    temp_dir_create(&dir);
    temp_path(path, &dir, "key");
    ck_assert_int_eq(ledger_signer_generate(&signer, path), LEDGER_OK);
    ck_assert_int_eq(chmod(path, row->mode), 0);
    ck_assert_msg(ledger_signer_load(&loaded, path) == row->expected, "mode %o", row->mode);
    if (row->expected == LEDGER_OK) {
        assert_same_signer(&loaded, &signer);
    }
    ledger_signer_wipe(&signer);
    ledger_signer_wipe(&loaded);
    temp_dir_remove(&dir, names, 1);
}
END_TEST

/* A valid key file line for the RFC 8032 key. */
static void fixed_key_file(char line[KEY_FILE_LENGTH + 1])
{
    struct ledger_signer signer;
    int written;

    fixed_signer(&signer);
    written = snprintf(line, KEY_FILE_LENGTH + 1, "caseledger-ed25519-v1 %s ", signer.key_id);
    ck_assert_int_eq(written, 39);
    ledger_to_hex(line + 39, signer.secret_key, LEDGER_SECRET_KEY_SIZE);
    line[KEY_FILE_LENGTH - 1] = '\n';
    line[KEY_FILE_LENGTH] = '\0';
    ledger_signer_wipe(&signer);
}

struct corrupt_row {
    const char *what;
    int offset; /* byte to change, or -1 */
    char replacement;
    int length_delta; /* bytes cut (negative) or appended (positive, 'x') */
    enum ledger_err expected;
};

static const struct corrupt_row corrupt_rows[] = {
    {"intact file", -1, 0, 0, LEDGER_OK},
    {"seed digit flipped", 39 + 10, '0', 0, LEDGER_ERR_CRYPTO},
    {"public half digit flipped", 39 + 64 + 10, 'f', 0, LEDGER_ERR_CRYPTO},
    {"key id changed", 22, '0', 0, LEDGER_ERR_CRYPTO},
    {"key id upper-case", 22 + 4, 'A', 0, LEDGER_ERR_CRYPTO},
    {"tag changed", 0, 'C', 0, LEDGER_ERR_INVALID_ARGUMENT},
    {"separator changed", 38, '\t', 0, LEDGER_ERR_INVALID_ARGUMENT},
    {"non-hex digit", 60, 'g', 0, LEDGER_ERR_INVALID_ARGUMENT},
    {"newline missing", -1, 0, -1, LEDGER_ERR_INVALID_ARGUMENT},
    {"truncated secret", -1, 0, -40, LEDGER_ERR_INVALID_ARGUMENT},
    {"empty file", -1, 0, -KEY_FILE_LENGTH, LEDGER_ERR_INVALID_ARGUMENT},
    {"trailing byte", -1, 0, 1, LEDGER_ERR_INVALID_ARGUMENT},
    {"second line", -1, 0, KEY_FILE_LENGTH, LEDGER_ERR_INVALID_ARGUMENT},
    {"much too long", -1, 0, 4000, LEDGER_ERR_INVALID_ARGUMENT},
};

START_TEST(key_file_corrupt_refused)
{
    const struct corrupt_row *row = &corrupt_rows[_i];
    static char content[KEY_FILE_LENGTH + 4096];
    struct ledger_signer loaded;
    struct ledger_signer untouched;
    struct temp_dir dir;
    char path[PATH_SIZE];
    size_t length = KEY_FILE_LENGTH;
    static const char *const names[] = {"key"};

    fixed_key_file(content);
    if (row->offset >= 0) {
        ck_assert(content[row->offset] != row->replacement);
        content[row->offset] = row->replacement;
    }
    if (row->length_delta < 0) {
        length -= (size_t)-row->length_delta;
    } else if (row->length_delta > 0) {
        memset(content + length, 'x', (size_t)row->length_delta);
        length += (size_t)row->length_delta;
    }
    temp_dir_create(&dir);
    temp_path(path, &dir, "key");
    write_file(path, content, length, 0600);
    memset(&untouched, 0x5a, sizeof untouched);
    loaded = untouched;
    ck_assert_msg(ledger_signer_load(&loaded, path) == row->expected, "%s", row->what);
    if (row->expected != LEDGER_OK) {
        ck_assert_msg(memcmp(&loaded, &untouched, sizeof loaded) == 0, "%s", row->what);
    } else {
        ck_assert_str_eq(loaded.key_id, fixed_key_id);
    }
    ledger_signer_wipe(&loaded);
    sodium_memzero(content, sizeof content);
    temp_dir_remove(&dir, names, 1);
}
END_TEST

START_TEST(key_file_not_a_file)
{
    struct ledger_signer loaded;
    struct ledger_keyring keyring;
    struct temp_dir dir;
    char path[PATH_SIZE];

    temp_dir_create(&dir);
    temp_path(path, &dir, "missing");
    ck_assert_int_eq(ledger_signer_load(&loaded, path), LEDGER_ERR_IO);
    ck_assert_int_eq(chmod(dir.path, 0700), 0);
    ck_assert_int_eq(ledger_signer_load(&loaded, dir.path), LEDGER_ERR_IO);
    temp_path(path, &dir, "fifo");
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(ledger_signer_load(&loaded, path), LEDGER_ERR_IO);
    ck_assert_int_eq(ledger_keyring_load(&keyring, path), LEDGER_ERR_IO);
    ck_assert_int_eq(ledger_keyring_load(&keyring, dir.path), LEDGER_ERR_IO);
    ck_assert_int_eq(unlink(path), 0);
    temp_path(path, &dir, "no/such/dir/key");
    ck_assert_int_eq(ledger_signer_generate(&loaded, path), LEDGER_ERR_IO);
    temp_dir_remove(&dir, NULL, 0);
}
END_TEST

#define KEYRING_LINE_LENGTH 82 /* 16 + 1 + 64 + 1 */

START_TEST(keyring_append_idempotent)
{
    struct ledger_signer first;
    struct ledger_signer second;
    struct ledger_keyring keyring;
    struct temp_dir dir;
    struct stat status;
    char path[PATH_SIZE];
    char text[512];
    static const char *const names[] = {"keyring"};

    fixed_signer(&first);
    other_signer(&second, 0x07);
    temp_dir_create(&dir);
    temp_path(path, &dir, "keyring");

    ck_assert_int_eq(ledger_keyring_append(path, &first), LEDGER_OK);
    ck_assert_int_eq(stat(path, &status), 0);
    ck_assert_uint_eq(status.st_mode & 07777, 0644);
    ck_assert_int_eq(status.st_size, KEYRING_LINE_LENGTH);
    ck_assert_uint_eq(read_file(text, sizeof text, path), KEYRING_LINE_LENGTH);
    ck_assert_str_eq(text, "7849ac3049680be1 "
                           "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n");

    ck_assert_int_eq(ledger_keyring_append(path, &first), LEDGER_OK);
    ck_assert_int_eq(stat(path, &status), 0);
    ck_assert_int_eq(status.st_size, KEYRING_LINE_LENGTH);

    ck_assert_int_eq(ledger_keyring_append(path, &second), LEDGER_OK);
    ck_assert_int_eq(ledger_keyring_append(path, &first), LEDGER_OK);
    ck_assert_int_eq(ledger_keyring_append(path, &second), LEDGER_OK);
    ck_assert_int_eq(stat(path, &status), 0);
    ck_assert_int_eq(status.st_size, (off_t)2 * KEYRING_LINE_LENGTH);

    memset(&keyring, 0x5a, sizeof keyring);
    ck_assert_int_eq(ledger_keyring_load(&keyring, path), LEDGER_OK);
    ck_assert_uint_eq(keyring.keys_count, 2);
    ck_assert_ptr_nonnull(ledger_keyring_find(&keyring, first.key_id));
    ck_assert_int_eq(memcmp(ledger_keyring_find(&keyring, first.key_id), first.public_key,
                            LEDGER_PUBLIC_KEY_SIZE),
                     0);
    ck_assert_int_eq(memcmp(ledger_keyring_find(&keyring, second.key_id), second.public_key,
                            LEDGER_PUBLIC_KEY_SIZE),
                     0);
    ck_assert_ptr_null(ledger_keyring_find(&keyring, "0000000000000000"));
    ck_assert_ptr_null(ledger_keyring_find(&keyring, ""));
    ck_assert_ptr_null(ledger_keyring_find(&keyring, "7849ac3049680be"));

    ledger_signer_wipe(&first);
    ledger_signer_wipe(&second);
    temp_dir_remove(&dir, names, 1);
}
END_TEST

struct keyring_file_row {
    const char *what;
    const char *text;
    enum ledger_err expected;
    size_t keys_count;
};

#define FIXED_LINE                                                                                 \
    "7849ac3049680be1 d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

static const struct keyring_file_row keyring_file_rows[] = {
    {"empty file", "", LEDGER_OK, 0},
    {"one key", FIXED_LINE "\n", LEDGER_OK, 1},
    {"same key twice", FIXED_LINE "\n" FIXED_LINE "\n", LEDGER_OK, 1},
    {"upper-case public key",
     "7849ac3049680be1 D75A980182B10AB7D54BFED3C964073A0EE172F3DAA62325AF021A68F707511A\n",
     LEDGER_OK, 1},
    {"no final newline", FIXED_LINE, LEDGER_ERR_INVALID_ARGUMENT, 0},
    {"blank line", "\n" FIXED_LINE "\n", LEDGER_ERR_INVALID_ARGUMENT, 0},
    {"CRLF", FIXED_LINE "\r\n", LEDGER_ERR_INVALID_ARGUMENT, 0},
    {"comment", "# trusted keys\n", LEDGER_ERR_INVALID_ARGUMENT, 0},
    {"short key", "7849ac3049680be1 d75a\n", LEDGER_ERR_INVALID_ARGUMENT, 0},
    {"key id of another key",
     "7849ac3049680be2 d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n",
     LEDGER_ERR_CRYPTO, 0},
    {"key changed under its id",
     "7849ac3049680be1 d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511b\n",
     LEDGER_ERR_CRYPTO, 0},
};

/* Writes a keyring file of text with mode and loads it: expected, with
 * keys_count keys; a refused keyring leaves the loaded one untouched and
 * is not appended to either (nor changed). */
static void check_keyring_file(const char *what, const char *text, mode_t mode,
                               enum ledger_err expected, size_t keys_count)
{
    struct ledger_keyring keyring;
    struct ledger_keyring untouched;
    struct ledger_signer signer;
    struct temp_dir dir;
    struct stat status;
    char path[PATH_SIZE];
    static const char *const names[] = {"keyring"};

    temp_dir_create(&dir);
    temp_path(path, &dir, "keyring");
    write_file(path, text, strlen(text), mode);
    memset(&untouched, 0x5a, sizeof untouched);
    keyring = untouched;
    ck_assert_msg(ledger_keyring_load(&keyring, path) == expected, "%s", what);
    if (expected == LEDGER_OK) {
        ck_assert_uint_eq(keyring.keys_count, keys_count);
    } else {
        ck_assert_msg(memcmp(&keyring, &untouched, sizeof keyring) == 0, "%s", what);
        other_signer(&signer, 0x09);
        ck_assert_msg(ledger_keyring_append(path, &signer) == expected, "%s", what);
        ck_assert_int_eq(stat(path, &status), 0);
        ck_assert_int_eq(status.st_size, (off_t)strlen(text));
        ledger_signer_wipe(&signer);
    }
    temp_dir_remove(&dir, names, 1);
}

START_TEST(keyring_file_table)
{
    const struct keyring_file_row *row = &keyring_file_rows[_i];

    check_keyring_file(row->what, row->text, 0644, row->expected, row->keys_count);
}
END_TEST

/* Public keys: readable by anyone is fine; writable by group or others is
 * not (whoever may write the keyring decides what verify trusts). */
static const struct mode_row keyring_mode_rows[] = {
    {0644, LEDGER_OK},     {0600, LEDGER_OK},     {0444, LEDGER_OK},     {0400, LEDGER_OK},
    {0664, LEDGER_ERR_IO}, {0646, LEDGER_ERR_IO}, {0666, LEDGER_ERR_IO}, {0620, LEDGER_ERR_IO},
    {0602, LEDGER_ERR_IO}, {0777, LEDGER_ERR_IO},
};

START_TEST(keyring_mode_refused)
{
    const struct mode_row *row = &keyring_mode_rows[_i];
    char what[32];

    snprintf(what, sizeof what, "mode %o", (unsigned)row->mode);
    check_keyring_file(what, FIXED_LINE "\n", row->mode, row->expected, 1);
}
END_TEST

/* A keyring owned by another user (not root) is refused, whatever its mode:
 * that user could rewrite it. (Needs root to give the file away.) */
START_TEST(keyring_owner_refused)
{
    struct ledger_keyring keyring;
    struct ledger_signer signer;
    struct temp_dir dir;
    char path[PATH_SIZE];
    static const char *const names[] = {"keyring"};

    if (geteuid() != 0) {
        fprintf(stderr, "keyring_owner_refused: not root, cannot give a file away; skipped\n");
        return;
    }
    temp_dir_create(&dir);
    temp_path(path, &dir, "keyring");
    write_file(path, FIXED_LINE "\n", KEYRING_LINE_LENGTH, 0644);
    ck_assert_int_eq(ledger_keyring_load(&keyring, path), LEDGER_OK);
    ck_assert_int_eq(chown(path, 4242, (gid_t)-1), 0);
    ck_assert_int_eq(ledger_keyring_load(&keyring, path), LEDGER_ERR_IO);
    other_signer(&signer, 0x0c);
    ck_assert_int_eq(ledger_keyring_append(path, &signer), LEDGER_ERR_IO);
    ledger_signer_wipe(&signer);
    ck_assert_int_eq(chown(path, 0, (gid_t)-1), 0);
    ck_assert_int_eq(ledger_keyring_load(&keyring, path), LEDGER_OK);
    temp_dir_remove(&dir, names, 1);
}
END_TEST

START_TEST(keyring_limits)
{
    static struct ledger_keyring keyring;
    static struct ledger_signer signers[LEDGER_KEYRING_MAX + 1];
    struct temp_dir dir;
    char path[PATH_SIZE];
    static const char *const names[] = {"keyring"};

    memset(&keyring, 0, sizeof keyring);
    temp_dir_create(&dir);
    temp_path(path, &dir, "keyring");
    for (size_t index = 0; index < LEDGER_KEYRING_MAX + 1; index++) {
        other_signer(&signers[index], (uint8_t)(index + 1));
    }
    for (size_t index = 0; index < LEDGER_KEYRING_MAX; index++) {
        ck_assert_int_eq(
            ledger_keyring_add(&keyring, signers[index].key_id, signers[index].public_key),
            LEDGER_OK);
        ck_assert_int_eq(ledger_keyring_append(path, &signers[index]), LEDGER_OK);
    }
    ck_assert_uint_eq(keyring.keys_count, LEDGER_KEYRING_MAX);
    /* Adding a present key to a full keyring is still fine. */
    ck_assert_int_eq(ledger_keyring_add(&keyring, signers[3].key_id, signers[3].public_key),
                     LEDGER_OK);
    ck_assert_int_eq(ledger_keyring_add(&keyring, signers[LEDGER_KEYRING_MAX].key_id,
                                        signers[LEDGER_KEYRING_MAX].public_key),
                     LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_keyring_append(path, &signers[LEDGER_KEYRING_MAX]),
                     LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_keyring_append(path, &signers[0]), LEDGER_OK);
    memset(&keyring, 0, sizeof keyring);
    ck_assert_int_eq(ledger_keyring_load(&keyring, path), LEDGER_OK);
    ck_assert_uint_eq(keyring.keys_count, LEDGER_KEYRING_MAX);
    for (size_t index = 0; index < LEDGER_KEYRING_MAX; index++) {
        ck_assert_ptr_nonnull(ledger_keyring_find(&keyring, signers[index].key_id));
    }
    for (size_t index = 0; index < LEDGER_KEYRING_MAX + 1; index++) {
        ledger_signer_wipe(&signers[index]);
    }
    temp_dir_remove(&dir, names, 1);
}
END_TEST

START_TEST(keyring_add_checks_key_id)
{
    struct ledger_keyring keyring;
    struct ledger_signer first;
    struct ledger_signer second;

    fixed_signer(&first);
    other_signer(&second, 0x11);
    memset(&keyring, 0, sizeof keyring);
    ck_assert_int_eq(ledger_keyring_add(&keyring, second.key_id, first.public_key),
                     LEDGER_ERR_CRYPTO);
    ck_assert_int_eq(ledger_keyring_add(&keyring, "", first.public_key), LEDGER_ERR_CRYPTO);
    ck_assert_int_eq(ledger_keyring_add(&keyring, "7849ac3049680be1x", first.public_key),
                     LEDGER_ERR_CRYPTO);
    ck_assert_uint_eq(keyring.keys_count, 0);
    ck_assert_int_eq(ledger_keyring_add(&keyring, first.key_id, first.public_key), LEDGER_OK);
    ck_assert_int_eq(ledger_keyring_add(&keyring, first.key_id, first.public_key), LEDGER_OK);
    ck_assert_uint_eq(keyring.keys_count, 1);
    ck_assert_int_eq(ledger_keyring_load(&keyring, "/nonexistent/caseledger/keyring"),
                     LEDGER_ERR_IO);
    ck_assert_uint_eq(keyring.keys_count, 1);
    ledger_signer_wipe(&first);
    ledger_signer_wipe(&second);
}
END_TEST

/* ---- signed heads ------------------------------------------------------- */

static void make_head(struct ledger_head *head, const struct ledger_signer *signer)
{
    memset(head, 0, sizeof *head);
    head->seq = 42;
    ck_assert_int_eq(ledger_from_hex(head->hash, sizeof head->hash, entry1_hash_hex), LEDGER_OK);
    head->signed_at_us = HEAD_SIGNED_AT_US;
    ck_assert_int_eq(ledger_head_sign(head, signer), LEDGER_OK);
}

START_TEST(head_known_answer)
{
    struct ledger_signer signer;
    struct ledger_keyring keyring;
    struct ledger_head head;

    fixed_signer(&signer);
    keyring_with(&keyring, &signer);
    make_head(&head, &signer);
    ck_assert_str_eq(head.key_id, fixed_key_id);
    expect_hex(head.public_key, sizeof head.public_key, rfc8032_public_hex);
    expect_hex(head.signature, sizeof head.signature, head_signature_hex);
    ck_assert_int_eq(ledger_head_verify(&head, &keyring), LEDGER_OK);
    ledger_signer_wipe(&signer);
}
END_TEST

static const char *const head_tamper_rows[] = {
    "seq",
    "hash",
    "signed_at_us",
    "signature",
    "key_id unknown",
    "public_key of another key",
    "key_id and public_key of another trusted key",
};

START_TEST(head_detects_tamper)
{
    struct ledger_signer signer;
    struct ledger_signer other;
    struct ledger_keyring keyring;
    struct ledger_head head;

    fixed_signer(&signer);
    other_signer(&other, 0x33);
    keyring_with(&keyring, &signer);
    ck_assert_int_eq(ledger_keyring_add(&keyring, other.key_id, other.public_key), LEDGER_OK);
    make_head(&head, &signer);
    switch (_i) {
    case 0:
        head.seq -= 1;
        break; /* a head that hides the last entry */
    case 1:
        head.hash[31] ^= 0x01;
        break;
    case 2:
        head.signed_at_us += 1;
        break;
    case 3:
        head.signature[0] ^= 0x01;
        break;
    case 4:
        copy_text(head.key_id, sizeof head.key_id, "0123456789abcdef");
        break;
    case 5:
        memcpy(head.public_key, other.public_key, LEDGER_PUBLIC_KEY_SIZE);
        break;
    case 6:
        memcpy(head.key_id, other.key_id, sizeof head.key_id);
        memcpy(head.public_key, other.public_key, LEDGER_PUBLIC_KEY_SIZE);
        break;
    default:
        ck_abort_msg("no head tamper row %d", _i);
    }
    ck_assert_msg(ledger_head_verify(&head, &keyring) == LEDGER_ERR_VERIFY_FAILED, "%s",
                  head_tamper_rows[_i]);
    ledger_signer_wipe(&signer);
    ledger_signer_wipe(&other);
}
END_TEST

START_TEST(head_needs_trusted_key)
{
    struct ledger_signer signer;
    struct ledger_keyring keyring;
    struct ledger_head head;
    struct ledger_head untouched;

    fixed_signer(&signer);
    memset(&keyring, 0, sizeof keyring);
    make_head(&head, &signer);
    ck_assert_int_eq(ledger_head_verify(&head, &keyring), LEDGER_ERR_VERIFY_FAILED);

    /* A head for the chain's last entry. */
    keyring_with(&keyring, &signer);
    make_head(&head, &signer);
    head.seq = 0;
    ck_assert_int_eq(ledger_head_sign(&head, &signer), LEDGER_OK);
    ck_assert_int_eq(ledger_head_verify(&head, &keyring), LEDGER_OK);

    head.seq = -1;
    untouched = head;
    ck_assert_int_eq(ledger_head_sign(&head, &signer), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert(heads_equal(&head, &untouched));
    ck_assert_int_eq(ledger_head_verify(&head, &keyring), LEDGER_ERR_INVALID_ARGUMENT);
    ledger_signer_wipe(&signer);
}
END_TEST

/* ---- errors ------------------------------------------------------------- */

struct refuse_row {
    const char *what;
    bool sealable; /* seal replaces what is wrong (the key id, the version) */
};

static const struct refuse_row refuse_rows[] = {
    {"no postings", false},
    {"one posting", false},
    {"more postings than LEDGER_POSTINGS_MAX", false},
    {"lower-case currency", false},
    {"two-letter currency", false},
    {"digit in currency", false},
    {"currency without NUL", false},
    {"negative seq", false},
    {"negative reverses_seq", false},
    {"negative account_id", false},
    {"kind without NUL", false},
    {"actor without NUL", false},
    {"bank_ref without NUL", false},
    {"memo without NUL", false},
    {"key_id without NUL", true},
    {"encoding version 0", true},
    {"encoding version 3", true},
    {"version 1 with a disbursement id", true},
    {"version 1 with a payee name", true},
    {"version 1 with a payee account", true},
    {"version 1 with a payee bank", true},
    {"negative disbursement_id", false},
    {"payee_name without NUL", false},
    {"payee_account without NUL", false},
    {"payee_bank without NUL", false},
};

/* The rows of the version and of the fields version 2 adds. */
static void make_refused_payee(struct ledger_entry *entry, int row)
{
    switch (row) {
    case 15:
        entry->encoding = (enum ledger_entry_encoding)0;
        break;
    case 16:
        entry->encoding = (enum ledger_entry_encoding)3;
        break;
    case 17:
        entry->disbursement_id = 7;
        break;
    case 18:
        copy_text(entry->payee_name, sizeof entry->payee_name, "张三");
        break;
    case 19:
        copy_text(entry->payee_account, sizeof entry->payee_account, "6222020200112233445");
        break;
    case 20:
        copy_text(entry->payee_bank, sizeof entry->payee_bank, "ICBC");
        break;
    case 21:
        make_entry3(entry);
        entry->disbursement_id = -7;
        break;
    case 22:
        make_entry3(entry);
        memset(entry->payee_name, 'n', sizeof entry->payee_name);
        break;
    case 23:
        make_entry3(entry);
        memset(entry->payee_account, '6', sizeof entry->payee_account);
        break;
    case 24:
        make_entry3(entry);
        memset(entry->payee_bank, 'b', sizeof entry->payee_bank);
        break;
    default:
        ck_abort_msg("no refuse row %d", row);
    }
}

static void make_refused(struct ledger_entry *entry, int row)
{
    make_entry1(entry);
    switch (row) {
    case 0:
        entry->postings_count = 0;
        break;
    case 1:
        entry->postings_count = 1;
        break;
    case 2:
        entry->postings_count = LEDGER_POSTINGS_MAX + 1;
        break;
    case 3:
        copy_text(entry->postings[1].currency, LEDGER_CURRENCY_SIZE, "cny");
        break;
    case 4:
        copy_text(entry->postings[1].currency, LEDGER_CURRENCY_SIZE, "CN");
        break;
    case 5:
        copy_text(entry->postings[1].currency, LEDGER_CURRENCY_SIZE, "C1Y");
        break;
    case 6:
        entry->postings[2].currency[3] = 'Y';
        break;
    case 7:
        entry->seq = -1;
        break;
    case 8:
        entry->reverses_seq = -1;
        break;
    case 9:
        entry->postings[0].account_id = -1001;
        break;
    case 10:
        memset(entry->kind, 'k', sizeof entry->kind);
        break;
    case 11:
        memset(entry->actor, 'a', sizeof entry->actor);
        break;
    case 12:
        memset(entry->bank_ref, 'b', sizeof entry->bank_ref);
        break;
    case 13:
        memset(entry->memo, 'm', sizeof entry->memo);
        break;
    case 14:
        memset(entry->key_id, 'f', sizeof entry->key_id);
        break;
    default:
        make_refused_payee(entry, row);
    }
}

START_TEST(encode_refuses)
{
    const char *what = refuse_rows[_i].what;
    struct ledger_signer signer;
    struct ledger_keyring keyring;
    struct ledger_entry entry;
    struct ledger_entry untouched;
    uint8_t buffer[LEDGER_ENTRY_ENCODED_MAX];
    uint8_t hash[LEDGER_HASH_SIZE];
    size_t length = 0;

    fixed_signer(&signer);
    keyring_with(&keyring, &signer);
    make_refused(&entry, _i);
    ck_assert_msg(ledger_entry_encode(buffer, sizeof buffer, &length, &entry) ==
                      LEDGER_ERR_INVALID_ARGUMENT,
                  "%s", what);
    ck_assert_msg(ledger_entry_hash(hash, zero_hash, &entry) == LEDGER_ERR_INVALID_ARGUMENT, "%s",
                  what);
    ck_assert_msg(ledger_entry_check(&entry, entry.prev_hash, &keyring) ==
                      LEDGER_CHAIN_BAD_ENCODING,
                  "%s", what);
    if (!refuse_rows[_i].sealable) {
        untouched = entry;
        ck_assert_msg(ledger_entry_seal(&entry, zero_hash, &signer) == LEDGER_ERR_INVALID_ARGUMENT,
                      "%s", what);
        ck_assert_msg(entries_equal(&entry, &untouched), "%s", what);
    }
    ledger_signer_wipe(&signer);
}
END_TEST

START_TEST(seal_refuses_unbalanced)
{
    struct ledger_signer signer;
    struct ledger_entry entry;
    struct ledger_entry untouched;

    fixed_signer(&signer);
    make_entry1(&entry);
    entry.postings[2].amount_minor -= 1;
    untouched = entry;
    ck_assert_int_eq(ledger_entry_seal(&entry, zero_hash, &signer), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert(entries_equal(&entry, &untouched));

    /* A signer without a key id is refused as well. */
    make_entry1(&entry);
    signer.key_id[0] = '\0';
    ck_assert_int_eq(ledger_entry_seal(&entry, zero_hash, &signer), LEDGER_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(ledger_head_sign(&(struct ledger_head){.seq = 1}, &signer),
                     LEDGER_ERR_INVALID_ARGUMENT);
    ledger_signer_wipe(&signer);
}
END_TEST

/* The prev_hash check comes first, then encoding, balance, hash, key and
 * signature: an entry wrong in several ways reports the earliest. */
START_TEST(check_order)
{
    struct ledger_signer signer;
    struct ledger_keyring keyring;
    struct ledger_keyring empty;
    struct ledger_entry entry;
    uint8_t other_prev[LEDGER_HASH_SIZE];

    fixed_signer(&signer);
    keyring_with(&keyring, &signer);
    memset(&empty, 0, sizeof empty);
    memset(other_prev, 0x01, sizeof other_prev);
    make_entry1(&entry);
    ck_assert_int_eq(ledger_entry_seal(&entry, zero_hash, &signer), LEDGER_OK);

    entry.signature[0] ^= 0x01;
    ck_assert_int_eq(ledger_entry_check(&entry, zero_hash, &keyring), LEDGER_CHAIN_BAD_SIGNATURE);
    ck_assert_int_eq(ledger_entry_check(&entry, zero_hash, &empty), LEDGER_CHAIN_UNKNOWN_KEY);
    entry.hash[0] ^= 0x01;
    ck_assert_int_eq(ledger_entry_check(&entry, zero_hash, &empty), LEDGER_CHAIN_BAD_HASH);
    entry.postings[0].amount_minor = 1;
    ck_assert_int_eq(ledger_entry_check(&entry, zero_hash, &empty), LEDGER_CHAIN_UNBALANCED);
    entry.postings_count = 1;
    ck_assert_int_eq(ledger_entry_check(&entry, zero_hash, &empty), LEDGER_CHAIN_BAD_ENCODING);
    ck_assert_int_eq(ledger_entry_check(&entry, other_prev, &empty), LEDGER_CHAIN_BAD_PREV_HASH);
    ledger_signer_wipe(&signer);
}
END_TEST

START_TEST(check_texts)
{
    static const enum ledger_chain_check checks[] = {
        LEDGER_CHAIN_OK,           LEDGER_CHAIN_BAD_PREV_HASH,
        LEDGER_CHAIN_BAD_HASH,     LEDGER_CHAIN_BAD_SIGNATURE,
        LEDGER_CHAIN_UNKNOWN_KEY,  LEDGER_CHAIN_UNBALANCED,
        LEDGER_CHAIN_BAD_ENCODING,
    };

    for (int index = 0; index < ROWS(checks); index++) {
        const char *text = ledger_chain_check_text(checks[index]);

        ck_assert_ptr_nonnull(text);
        ck_assert_uint_gt(strlen(text), 0);
        for (int earlier = 0; earlier < index; earlier++) {
            ck_assert_str_ne(text, ledger_chain_check_text(checks[earlier]));
        }
    }
    ck_assert_str_eq(ledger_chain_check_text((enum ledger_chain_check)99),
                     "unknown chain check result");
}
END_TEST

START_TEST(hex_helpers)
{
    static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    uint8_t decoded[sizeof bytes];
    char hex[2 * sizeof bytes + 1];

    ledger_to_hex(hex, bytes, sizeof bytes);
    ck_assert_str_eq(hex, "00017f80abff");
    ck_assert_int_eq(ledger_from_hex(decoded, sizeof decoded, hex), LEDGER_OK);
    ck_assert_int_eq(memcmp(decoded, bytes, sizeof bytes), 0);
    ck_assert_int_eq(ledger_from_hex(decoded, sizeof decoded, "00017F80ABFF"), LEDGER_OK);
    ck_assert_int_eq(memcmp(decoded, bytes, sizeof bytes), 0);

    ledger_to_hex(hex, bytes, 0);
    ck_assert_str_eq(hex, "");
    ck_assert_int_eq(ledger_from_hex(decoded, 0, ""), LEDGER_OK);
}
END_TEST

static const char *const bad_hex_rows[] = {
    "",               /* empty */
    "00017f80abf",    /* odd, one digit short */
    "00017f80ab",     /* one byte short */
    "00017f80abff00", /* one byte long */
    "00017f80abffx",  /* trailing junk */
    "00017f80abgf",   /* not a hex digit */
    "00017f80ab f",   /* space */
    "0x017f80abff",   /* prefix */
    "-0017f80abff",   /* sign */
};

START_TEST(hex_refuses)
{
    uint8_t decoded[6];

    memset(decoded, 0xaa, sizeof decoded);
    ck_assert_msg(ledger_from_hex(decoded, sizeof decoded, bad_hex_rows[_i]) ==
                      LEDGER_ERR_INVALID_ARGUMENT,
                  "\"%s\"", bad_hex_rows[_i]);
    for (size_t index = 0; index < sizeof decoded; index++) {
        ck_assert_uint_eq(decoded[index], 0);
    }
}
END_TEST

START_TEST(crypto_init_repeats)
{
    ck_assert_int_eq(ledger_crypto_init(), LEDGER_OK);
    ck_assert_int_eq(ledger_crypto_init(), LEDGER_OK);
}
END_TEST

/* ---- suite -------------------------------------------------------------- */

Suite *chain_suite(void)
{
    Suite *suite = suite_create("chain");
    TCase *encoding = tcase_create("encoding");
    TCase *chain = tcase_create("chain");
    TCase *keys = tcase_create("keys");
    TCase *head = tcase_create("head");
    TCase *errors = tcase_create("errors");

    tcase_add_test(encoding, encode_known_answer);
    tcase_add_test(encoding, hash_known_answer);
    tcase_add_test(encoding, key_id_known_answer);
    tcase_add_test(encoding, seal_known_answer);
    tcase_add_test(encoding, version1_entry_checks);
    tcase_add_test(encoding, seal_uses_current_version);
    tcase_add_test(encoding, encode_buffer_bounds);
    tcase_add_test(encoding, encode_largest_entry);
    tcase_add_loop_test(encoding, balanced_table, 0, ROWS(balance_rows));
    tcase_add_test(encoding, balanced_refuses_too_many_postings);
    suite_add_tcase(suite, encoding);

    tcase_add_test(chain, chain_verifies);
    tcase_add_loop_test(chain, chain_detects_tamper, 0, ROWS(tamper_rows));
    tcase_add_test(chain, chain_detects_delete_reorder_insert);
    tcase_add_test(chain, chain_detects_resealing);
    suite_add_tcase(suite, chain);

    tcase_add_test(keys, sign_verify_round_trip);
    tcase_add_test(keys, key_file_round_trip);
    tcase_add_loop_test(keys, key_file_mode_refused, 0, ROWS(mode_rows));
    tcase_add_loop_test(keys, key_file_corrupt_refused, 0, ROWS(corrupt_rows));
    tcase_add_test(keys, key_file_not_a_file);
    tcase_add_test(keys, keyring_append_idempotent);
    tcase_add_loop_test(keys, keyring_file_table, 0, ROWS(keyring_file_rows));
    tcase_add_loop_test(keys, keyring_mode_refused, 0, ROWS(keyring_mode_rows));
    tcase_add_test(keys, keyring_owner_refused);
    tcase_add_test(keys, keyring_limits);
    tcase_add_test(keys, keyring_add_checks_key_id);
    suite_add_tcase(suite, keys);

    tcase_add_test(head, head_known_answer);
    tcase_add_loop_test(head, head_detects_tamper, 0, ROWS(head_tamper_rows));
    tcase_add_test(head, head_needs_trusted_key);
    suite_add_tcase(suite, head);

    tcase_add_loop_test(errors, encode_refuses, 0, ROWS(refuse_rows));
    tcase_add_test(errors, seal_refuses_unbalanced);
    tcase_add_test(errors, check_order);
    tcase_add_test(errors, check_texts);
    tcase_add_test(errors, hex_helpers);
    tcase_add_loop_test(errors, hex_refuses, 0, ROWS(bad_hex_rows));
    tcase_add_test(errors, crypto_init_repeats);
    suite_add_tcase(suite, errors);
    return suite;
}

int main(void)
{
    SRunner *runner;
    int failed;

    if (ledger_crypto_init() != LEDGER_OK) {
        fprintf(stderr, "could not initialise libsodium\n");
        return EXIT_FAILURE;
    }
    umask(022); /* the mode checks expect 0600 and 0644 exactly */
    runner = srunner_create(chain_suite());
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

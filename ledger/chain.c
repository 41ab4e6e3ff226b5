/* The signed hash chain (see chain.h, the contract). Decisions that header
 * leaves open are documented there: key files readable by group or others
 * are refused, a keyring writable by group or others (or owned by another
 * user than this one or root) is refused, the keyring file is fixed-size
 * lines, ledger_entry_check
 * reports the first failure in a fixed order. Nothing here recurses, and
 * every file read is bounded by a named size. */
#include "chain.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(LEDGER_HASH_SIZE == crypto_generichash_BYTES, "hash is BLAKE2b-256");
_Static_assert(LEDGER_HASH_SIZE >= crypto_generichash_BYTES_MIN &&
                   LEDGER_HASH_SIZE <= crypto_generichash_BYTES_MAX,
               "hash size accepted by crypto_generichash");
_Static_assert(LEDGER_SIGNATURE_SIZE == crypto_sign_ed25519_BYTES, "Ed25519 signature size");
_Static_assert(LEDGER_PUBLIC_KEY_SIZE == crypto_sign_ed25519_PUBLICKEYBYTES, "Ed25519 public key");
_Static_assert(LEDGER_SECRET_KEY_SIZE == crypto_sign_ed25519_SECRETKEYBYTES, "Ed25519 secret key");
_Static_assert(LEDGER_KEY_ID_MAX == 2 * 8, "key id is the hex of 8 bytes");
_Static_assert(LEDGER_CURRENCY_SIZE == 4, "currency is 3 letters and a NUL");
_Static_assert(LEDGER_POSTINGS_MAX <= UINT16_MAX, "postings_count is encoded as u16");
_Static_assert(LEDGER_MEMO_MAX <= UINT32_MAX, "string lengths are encoded as u32");

#define ENTRY_MAGIC_V1 "CLE1"
#define ENTRY_MAGIC_V2 "CLE2"
#define HEAD_MAGIC "CLH1"
#define MAGIC_SIZE 4
#define POSTINGS_MIN 2
#define KEY_ID_BYTES (LEDGER_KEY_ID_MAX / 2)

/* Signed head message: magic, seq u64, hash, signed_at_us i64. */
#define HEAD_MESSAGE_SIZE (MAGIC_SIZE + 8 + LEDGER_HASH_SIZE + 8)

/* Key file: "caseledger-ed25519-v1 KEY_ID SECRET_KEY_HEX\n", one fixed-size line. */
#define KEY_FILE_TAG "caseledger-ed25519-v1"
#define KEY_FILE_TAG_LENGTH (sizeof(KEY_FILE_TAG) - 1)
#define SECRET_KEY_HEX_LENGTH ((size_t)2 * LEDGER_SECRET_KEY_SIZE)
#define KEY_FILE_LINE_LENGTH                                                                       \
    (KEY_FILE_TAG_LENGTH + 1 + LEDGER_KEY_ID_MAX + 1 + SECRET_KEY_HEX_LENGTH + 1)

/* Keyring: "KEY_ID PUBLIC_KEY_HEX\n" per key, each line the same size. */
#define PUBLIC_KEY_HEX_LENGTH ((size_t)2 * LEDGER_PUBLIC_KEY_SIZE)
#define KEYRING_LINE_LENGTH (LEDGER_KEY_ID_MAX + 1 + PUBLIC_KEY_HEX_LENGTH + 1)
#define KEYRING_FILE_MAX (LEDGER_KEYRING_MAX * KEYRING_LINE_LENGTH)

#define KEY_FILE_MODE 0600
#define KEYRING_FILE_MODE 0644

/* Always-on assertion for states that must never happen (never for input). */
#define CHAIN_ASSERT(condition)                                                                    \
    ((condition) ? (void)0 : chain_assert_failed(#condition, __FILE__, __LINE__))

static _Noreturn void chain_assert_failed(const char *condition, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, condition);
    abort();
}

/* ---- canonical encoding ---- */

struct encoder {
    uint8_t *buffer;
    size_t size;
    size_t length;
    bool overflowed;
};

static void put_bytes(struct encoder *encoder, const void *bytes, size_t count)
{
    if (encoder->overflowed || count > encoder->size - encoder->length) {
        encoder->overflowed = true;
        return;
    }
    if (count > 0) {
        memcpy(encoder->buffer + encoder->length, bytes, count);
    }
    encoder->length += count;
}

static void put_unsigned(struct encoder *encoder, uint64_t value, size_t width_bytes)
{
    uint8_t bytes[8];

    CHAIN_ASSERT(width_bytes <= sizeof bytes);
    for (size_t index = 0; index < width_bytes; index++) {
        bytes[index] = (uint8_t)(value >> (8 * (width_bytes - 1 - index)));
    }
    put_bytes(encoder, bytes, width_bytes);
}

/* seq, reverses_seq and account_id (u64 in the encoding, refused when
 * negative) go through here too. Two's complement: the conversion to
 * unsigned is defined (modulo 2^64). */
static void put_i64(struct encoder *encoder, int64_t value)
{
    put_unsigned(encoder, (uint64_t)value, 8);
}

static void put_string(struct encoder *encoder, const char *text, size_t length)
{
    put_unsigned(encoder, (uint64_t)length, 4);
    put_bytes(encoder, text, length);
}

/* Length of a NUL-terminated string held in an array of capacity bytes;
 * false when the array holds no NUL. */
static bool field_length(size_t *length_out, const char *field, size_t capacity)
{
    size_t length = strnlen(field, capacity);

    if (length == capacity) {
        return false;
    }
    *length_out = length;
    return true;
}

/* Three upper-case ASCII letters and a NUL: one spelling per currency. */
static bool currency_encodable(const char currency[LEDGER_CURRENCY_SIZE])
{
    for (size_t index = 0; index < LEDGER_CURRENCY_SIZE - 1; index++) {
        if (currency[index] < 'A' || currency[index] > 'Z') {
            return false;
        }
    }
    return currency[LEDGER_CURRENCY_SIZE - 1] == '\0';
}

static bool postings_encodable(const struct ledger_entry *entry)
{
    if (entry->postings_count < POSTINGS_MIN || entry->postings_count > LEDGER_POSTINGS_MAX) {
        return false;
    }
    for (size_t index = 0; index < entry->postings_count; index++) {
        const struct ledger_posting *posting = &entry->postings[index];

        if (posting->account_id < 0 || !currency_encodable(posting->currency)) {
            return false;
        }
    }
    return true;
}

struct entry_strings {
    size_t kind_length;
    size_t actor_length;
    size_t bank_ref_length;
    size_t memo_length;
    size_t key_id_length;
    size_t payee_name_length;
    size_t payee_account_length;
    size_t payee_bank_length;
};

/* The fields version 2 adds; version 1 refuses them when set, so that
 * nothing is left out of a hash without a word. */
static bool payee_encodable(struct entry_strings *strings, const struct ledger_entry *entry)
{
    if (entry->disbursement_id < 0 ||
        !field_length(&strings->payee_name_length, entry->payee_name, sizeof entry->payee_name) ||
        !field_length(&strings->payee_account_length, entry->payee_account,
                      sizeof entry->payee_account) ||
        !field_length(&strings->payee_bank_length, entry->payee_bank, sizeof entry->payee_bank)) {
        return false;
    }
    if (entry->encoding == LEDGER_ENTRY_ENCODING_V1) {
        return entry->disbursement_id == 0 && strings->payee_name_length == 0 &&
               strings->payee_account_length == 0 && strings->payee_bank_length == 0;
    }
    return entry->encoding == LEDGER_ENTRY_ENCODING_V2;
}

static bool entry_encodable(struct entry_strings *strings, const struct ledger_entry *entry)
{
    if (entry->seq < 0 || entry->reverses_seq < 0) {
        return false;
    }
    if (!field_length(&strings->kind_length, entry->kind, sizeof entry->kind) ||
        !field_length(&strings->actor_length, entry->actor, sizeof entry->actor) ||
        !field_length(&strings->bank_ref_length, entry->bank_ref, sizeof entry->bank_ref) ||
        !field_length(&strings->memo_length, entry->memo, sizeof entry->memo) ||
        !field_length(&strings->key_id_length, entry->key_id, sizeof entry->key_id) ||
        !payee_encodable(strings, entry)) {
        return false;
    }
    return postings_encodable(entry);
}

enum ledger_err ledger_entry_encode(uint8_t *buffer, size_t size, size_t *length_out,
                                    const struct ledger_entry *entry)
{
    struct entry_strings strings;
    struct encoder encoder = {.buffer = buffer, .size = size, .length = 0, .overflowed = false};
    bool with_payee;

    if (buffer == NULL || length_out == NULL || entry == NULL ||
        !entry_encodable(&strings, entry)) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    with_payee = entry->encoding == LEDGER_ENTRY_ENCODING_V2;
    put_bytes(&encoder, with_payee ? ENTRY_MAGIC_V2 : ENTRY_MAGIC_V1, MAGIC_SIZE);
    put_i64(&encoder, entry->seq);
    put_i64(&encoder, entry->created_at_us);
    put_string(&encoder, entry->kind, strings.kind_length);
    put_string(&encoder, entry->actor, strings.actor_length);
    put_i64(&encoder, entry->reverses_seq);
    put_unsigned(&encoder, (uint32_t)entry->value_date_days, 4);
    put_string(&encoder, entry->bank_ref, strings.bank_ref_length);
    put_string(&encoder, entry->memo, strings.memo_length);
    put_string(&encoder, entry->key_id, strings.key_id_length);
    if (with_payee) {
        put_i64(&encoder, entry->disbursement_id);
        put_string(&encoder, entry->payee_name, strings.payee_name_length);
        put_string(&encoder, entry->payee_account, strings.payee_account_length);
        put_string(&encoder, entry->payee_bank, strings.payee_bank_length);
    }
    put_unsigned(&encoder, (uint64_t)entry->postings_count, 2);
    for (size_t index = 0; index < entry->postings_count; index++) {
        const struct ledger_posting *posting = &entry->postings[index];

        put_i64(&encoder, posting->account_id);
        put_i64(&encoder, posting->amount_minor);
        put_bytes(&encoder, posting->currency, LEDGER_CURRENCY_SIZE - 1);
    }
    if (encoder.overflowed) {
        return LEDGER_ERR_INVALID_ARGUMENT; /* buffer too small */
    }
    CHAIN_ASSERT(encoder.length <= LEDGER_ENTRY_ENCODED_MAX);
    *length_out = encoder.length;
    return LEDGER_OK;
}

/* Sum of the postings in currency, from first_index on; false on overflow. */
static bool currency_sum(int64_t *sum_out, const struct ledger_entry *entry, size_t first_index)
{
    const char *currency = entry->postings[first_index].currency;
    int64_t sum = 0;

    for (size_t index = first_index; index < entry->postings_count; index++) {
        const struct ledger_posting *posting = &entry->postings[index];

        if (strncmp(posting->currency, currency, LEDGER_CURRENCY_SIZE) == 0 &&
            __builtin_add_overflow(sum, posting->amount_minor, &sum)) {
            return false;
        }
    }
    *sum_out = sum;
    return true;
}

static bool currency_seen_before(const struct ledger_entry *entry, size_t index)
{
    for (size_t earlier = 0; earlier < index; earlier++) {
        if (strncmp(entry->postings[earlier].currency, entry->postings[index].currency,
                    LEDGER_CURRENCY_SIZE) == 0) {
            return true;
        }
    }
    return false;
}

bool ledger_entry_balanced(const struct ledger_entry *entry)
{
    if (entry == NULL || entry->postings_count > LEDGER_POSTINGS_MAX) {
        return false;
    }
    for (size_t index = 0; index < entry->postings_count; index++) {
        int64_t sum;

        if (currency_seen_before(entry, index)) {
            continue;
        }
        if (!currency_sum(&sum, entry, index) || sum != 0) {
            return false;
        }
    }
    return true;
}

/* out = BLAKE2b-256(prev_hash || encoding), streamed: no concatenated copy. */
static enum ledger_err hash_encoding(uint8_t out[LEDGER_HASH_SIZE],
                                     const uint8_t prev_hash[LEDGER_HASH_SIZE],
                                     const uint8_t *encoding, size_t encoding_length)
{
    crypto_generichash_state state;

    if (crypto_generichash_init(&state, NULL, 0, LEDGER_HASH_SIZE) != 0 ||
        crypto_generichash_update(&state, prev_hash, LEDGER_HASH_SIZE) != 0 ||
        crypto_generichash_update(&state, encoding, encoding_length) != 0 ||
        crypto_generichash_final(&state, out, LEDGER_HASH_SIZE) != 0) {
        return LEDGER_ERR_CRYPTO;
    }
    return LEDGER_OK;
}

enum ledger_err ledger_entry_hash(uint8_t out[LEDGER_HASH_SIZE],
                                  const uint8_t prev_hash[LEDGER_HASH_SIZE],
                                  const struct ledger_entry *entry)
{
    uint8_t encoding[LEDGER_ENTRY_ENCODED_MAX];
    size_t encoding_length;
    enum ledger_err err;

    if (out == NULL || prev_hash == NULL) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    err = ledger_entry_encode(encoding, sizeof encoding, &encoding_length, entry);
    if (err != LEDGER_OK) {
        return err;
    }
    return hash_encoding(out, prev_hash, encoding, encoding_length);
}

/* ---- keys ---- */

enum ledger_err ledger_crypto_init(void)
{
    return sodium_init() < 0 ? LEDGER_ERR_CRYPTO : LEDGER_OK;
}

void ledger_key_id(char out[LEDGER_KEY_ID_MAX + 1],
                   const uint8_t public_key[LEDGER_PUBLIC_KEY_SIZE])
{
    uint8_t digest[LEDGER_HASH_SIZE];
    int result =
        crypto_generichash(digest, sizeof digest, public_key, LEDGER_PUBLIC_KEY_SIZE, NULL, 0);

    CHAIN_ASSERT(result == 0); /* fails only for sizes the static asserts exclude */
    ledger_to_hex(out, digest, KEY_ID_BYTES);
}

/* True when key_id is a well-formed id (16 characters) naming public_key. */
static bool key_id_matches(const char *key_id, const uint8_t public_key[LEDGER_PUBLIC_KEY_SIZE])
{
    char expected[LEDGER_KEY_ID_MAX + 1];

    if (strnlen(key_id, LEDGER_KEY_ID_MAX + 1) != LEDGER_KEY_ID_MAX) {
        return false;
    }
    ledger_key_id(expected, public_key);
    return memcmp(expected, key_id, LEDGER_KEY_ID_MAX) == 0;
}

static enum ledger_err write_all(int fd, const char *bytes, size_t length)
{
    size_t written = 0;

    while (written < length) {
        ssize_t result = write(fd, bytes + written, length - written);

        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result <= 0) {
            return LEDGER_ERR_IO;
        }
        written += (size_t)result;
    }
    return LEDGER_OK;
}

/* Creates path (refusing an existing one), writes bytes, fsyncs and closes;
 * removes the file again when any step fails. */
static enum ledger_err write_new_file(const char *path, const char *bytes, size_t length,
                                      mode_t mode)
{
    enum ledger_err err;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

    if (fd < 0) {
        return LEDGER_ERR_IO;
    }
    err = write_all(fd, bytes, length);
    if (err == LEDGER_OK && fsync(fd) != 0) {
        err = LEDGER_ERR_IO;
    }
    if (close(fd) != 0 && err == LEDGER_OK) {
        err = LEDGER_ERR_IO;
    }
    if (err != LEDGER_OK) {
        (void)unlink(path);
    }
    return err;
}

/* Reads fd to its end into buffer; LEDGER_ERR_INVALID_ARGUMENT when it holds
 * more than size - 1 bytes (the last byte only detects an oversized file). */
static enum ledger_err read_bounded(char *buffer, size_t size, size_t *length_out, int fd)
{
    size_t length = 0;

    while (length < size) {
        ssize_t result = read(fd, buffer + length, size - length);

        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result < 0) {
            return LEDGER_ERR_IO;
        }
        if (result == 0) {
            break;
        }
        length += (size_t)result;
    }
    if (length >= size) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    *length_out = length;
    return LEDGER_OK;
}

/* Decodes exactly 2 * size hex digits of text into out (zeroed on failure). */
static bool hex_decode(uint8_t *out, size_t size, const char *text, size_t text_length)
{
    size_t decoded_size = 0;

    if (text_length != 2 * size ||
        sodium_hex2bin(out, size, text, text_length, NULL, &decoded_size, NULL) != 0 ||
        decoded_size != size) {
        sodium_memzero(out, size);
        return false;
    }
    return true;
}

static void format_key_file(char line[KEY_FILE_LINE_LENGTH + 1], const struct ledger_signer *signer)
{
    size_t offset = 0;

    memcpy(line, KEY_FILE_TAG " ", KEY_FILE_TAG_LENGTH + 1);
    offset += KEY_FILE_TAG_LENGTH + 1;
    memcpy(line + offset, signer->key_id, LEDGER_KEY_ID_MAX);
    offset += LEDGER_KEY_ID_MAX;
    line[offset++] = ' ';
    ledger_to_hex(line + offset, signer->secret_key, LEDGER_SECRET_KEY_SIZE);
    offset += SECRET_KEY_HEX_LENGTH;
    line[offset++] = '\n';
    line[offset] = '\0';
    CHAIN_ASSERT(offset == KEY_FILE_LINE_LENGTH);
}

enum ledger_err ledger_signer_generate(struct ledger_signer *signer, const char *path)
{
    struct ledger_signer fresh;
    char line[KEY_FILE_LINE_LENGTH + 1];
    enum ledger_err err;

    if (signer == NULL || path == NULL) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    err = ledger_crypto_init();
    if (err != LEDGER_OK) {
        return err;
    }
    if (crypto_sign_keypair(fresh.public_key, fresh.secret_key) != 0) {
        sodium_memzero(&fresh, sizeof fresh);
        return LEDGER_ERR_CRYPTO;
    }
    ledger_key_id(fresh.key_id, fresh.public_key);
    format_key_file(line, &fresh);
    err = write_new_file(path, line, KEY_FILE_LINE_LENGTH, KEY_FILE_MODE);
    sodium_memzero(line, sizeof line);
    if (err == LEDGER_OK) {
        *signer = fresh;
    }
    sodium_memzero(&fresh, sizeof fresh);
    return err;
}

/* Fills signer from a key file line; checks the secret key against the seed
 * it holds and the key id against the public key. */
static enum ledger_err parse_key_file(struct ledger_signer *signer, const char *line, size_t length)
{
    const char *key_id = line + KEY_FILE_TAG_LENGTH + 1;
    const char *secret_hex = key_id + LEDGER_KEY_ID_MAX + 1;
    uint8_t seed[crypto_sign_SEEDBYTES];
    uint8_t derived_secret[LEDGER_SECRET_KEY_SIZE];
    enum ledger_err err = LEDGER_OK;

    if (length != KEY_FILE_LINE_LENGTH ||
        memcmp(line, KEY_FILE_TAG " ", KEY_FILE_TAG_LENGTH + 1) != 0 ||
        key_id[LEDGER_KEY_ID_MAX] != ' ' || line[length - 1] != '\n' ||
        !hex_decode(signer->secret_key, LEDGER_SECRET_KEY_SIZE, secret_hex,
                    SECRET_KEY_HEX_LENGTH)) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    memcpy(signer->key_id, key_id, LEDGER_KEY_ID_MAX);
    signer->key_id[LEDGER_KEY_ID_MAX] = '\0';
    /* Derive the key pair from the seed again: a changed public half or key
     * id no longer matches. */
    if (crypto_sign_ed25519_sk_to_seed(seed, signer->secret_key) != 0 ||
        crypto_sign_seed_keypair(signer->public_key, derived_secret, seed) != 0 ||
        sodium_memcmp(derived_secret, signer->secret_key, LEDGER_SECRET_KEY_SIZE) != 0 ||
        !key_id_matches(signer->key_id, signer->public_key)) {
        err = LEDGER_ERR_CRYPTO;
    }
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(derived_secret, sizeof derived_secret);
    return err;
}

enum ledger_err ledger_signer_load(struct ledger_signer *signer, const char *path)
{
    struct ledger_signer loaded;
    char line[KEY_FILE_LINE_LENGTH + 1];
    size_t length = 0;
    struct stat status;
    enum ledger_err err;
    int fd;

    if (signer == NULL || path == NULL) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    err = ledger_crypto_init();
    if (err != LEDGER_OK) {
        return err;
    }
    /* O_NONBLOCK: a FIFO at path must not hang us; no effect on a file. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return LEDGER_ERR_IO;
    }
    /* fstat on the open descriptor: the file checked is the file read. */
    if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode) || (status.st_mode & 077) != 0) {
        err = LEDGER_ERR_IO;
        goto close_fd;
    }
    err = read_bounded(line, sizeof line, &length, fd);
    if (err != LEDGER_OK) {
        goto wipe_line;
    }
    err = parse_key_file(&loaded, line, length);
    if (err == LEDGER_OK) {
        *signer = loaded;
    }
    sodium_memzero(&loaded, sizeof loaded);
wipe_line:
    sodium_memzero(line, sizeof line);
close_fd:
    (void)close(fd);
    return err;
}

void ledger_signer_wipe(struct ledger_signer *signer)
{
    if (signer != NULL) {
        sodium_memzero(signer, sizeof *signer);
    }
}

/* ---- sealing and checking entries ---- */

enum ledger_err ledger_entry_seal(struct ledger_entry *entry,
                                  const uint8_t prev_hash[LEDGER_HASH_SIZE],
                                  const struct ledger_signer *signer)
{
    struct ledger_entry sealed;
    enum ledger_err err;

    if (entry == NULL || prev_hash == NULL || signer == NULL ||
        strnlen(signer->key_id, sizeof signer->key_id) != LEDGER_KEY_ID_MAX) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    /* Work on a copy so that entry is untouched on failure (prev_hash may
     * point into entry). */
    sealed = *entry;
    sealed.encoding = LEDGER_ENTRY_ENCODING_CURRENT;
    memcpy(sealed.key_id, signer->key_id, sizeof sealed.key_id);
    memcpy(sealed.prev_hash, prev_hash, LEDGER_HASH_SIZE);
    if (!ledger_entry_balanced(&sealed)) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    err = ledger_entry_hash(sealed.hash, sealed.prev_hash, &sealed);
    if (err != LEDGER_OK) {
        return err;
    }
    if (crypto_sign_detached(sealed.signature, NULL, sealed.hash, LEDGER_HASH_SIZE,
                             signer->secret_key) != 0) {
        return LEDGER_ERR_CRYPTO;
    }
    *entry = sealed;
    return LEDGER_OK;
}

enum ledger_chain_check ledger_entry_check(const struct ledger_entry *entry,
                                           const uint8_t expected_prev_hash[LEDGER_HASH_SIZE],
                                           const struct ledger_keyring *keyring)
{
    uint8_t encoding[LEDGER_ENTRY_ENCODED_MAX];
    uint8_t hash[LEDGER_HASH_SIZE];
    size_t encoding_length;
    const uint8_t *public_key;

    CHAIN_ASSERT(entry != NULL && expected_prev_hash != NULL && keyring != NULL);
    if (memcmp(entry->prev_hash, expected_prev_hash, LEDGER_HASH_SIZE) != 0) {
        return LEDGER_CHAIN_BAD_PREV_HASH;
    }
    /* Encodability before balance: an entry with more postings than the
     * array holds cannot be summed, and the header names it BAD_ENCODING. */
    if (ledger_entry_encode(encoding, sizeof encoding, &encoding_length, entry) != LEDGER_OK) {
        return LEDGER_CHAIN_BAD_ENCODING;
    }
    if (!ledger_entry_balanced(entry)) {
        return LEDGER_CHAIN_UNBALANCED;
    }
    if (hash_encoding(hash, entry->prev_hash, encoding, encoding_length) != LEDGER_OK ||
        memcmp(hash, entry->hash, LEDGER_HASH_SIZE) != 0) {
        return LEDGER_CHAIN_BAD_HASH;
    }
    public_key = ledger_keyring_find(keyring, entry->key_id);
    if (public_key == NULL) {
        return LEDGER_CHAIN_UNKNOWN_KEY;
    }
    if (crypto_sign_verify_detached(entry->signature, entry->hash, LEDGER_HASH_SIZE, public_key) !=
        0) {
        return LEDGER_CHAIN_BAD_SIGNATURE;
    }
    return LEDGER_CHAIN_OK;
}

const char *ledger_chain_check_text(enum ledger_chain_check check)
{
    switch (check) {
    case LEDGER_CHAIN_OK:
        return "ok";
    case LEDGER_CHAIN_BAD_PREV_HASH:
        return "previous hash does not match the previous entry";
    case LEDGER_CHAIN_BAD_HASH:
        return "hash does not match the entry";
    case LEDGER_CHAIN_BAD_SIGNATURE:
        return "signature does not verify";
    case LEDGER_CHAIN_UNKNOWN_KEY:
        return "signing key is not in the trusted keyring";
    case LEDGER_CHAIN_UNBALANCED:
        return "postings do not sum to zero";
    case LEDGER_CHAIN_BAD_ENCODING:
        return "entry cannot be encoded";
    }
    return "unknown chain check result";
}

/* ---- keyring ---- */

enum ledger_err ledger_keyring_add(struct ledger_keyring *keyring, const char *key_id,
                                   const uint8_t public_key[LEDGER_PUBLIC_KEY_SIZE])
{
    const uint8_t *known;

    if (keyring == NULL || key_id == NULL || public_key == NULL) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (!key_id_matches(key_id, public_key)) {
        return LEDGER_ERR_CRYPTO;
    }
    known = ledger_keyring_find(keyring, key_id);
    if (known != NULL) {
        /* Same id, other key: a 64-bit id collision, or a forged line. */
        return memcmp(known, public_key, LEDGER_PUBLIC_KEY_SIZE) == 0 ? LEDGER_OK
                                                                      : LEDGER_ERR_CRYPTO;
    }
    if (keyring->keys_count >= LEDGER_KEYRING_MAX) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    memcpy(keyring->key_ids[keyring->keys_count], key_id, LEDGER_KEY_ID_MAX + 1);
    memcpy(keyring->public_keys[keyring->keys_count], public_key, LEDGER_PUBLIC_KEY_SIZE);
    keyring->keys_count++;
    return LEDGER_OK;
}

const uint8_t *ledger_keyring_find(const struct ledger_keyring *keyring, const char *key_id)
{
    if (keyring == NULL || key_id == NULL) {
        return NULL;
    }
    CHAIN_ASSERT(keyring->keys_count <= LEDGER_KEYRING_MAX);
    for (size_t index = 0; index < keyring->keys_count; index++) {
        if (strncmp(keyring->key_ids[index], key_id, LEDGER_KEY_ID_MAX + 1) == 0) {
            return keyring->public_keys[index];
        }
    }
    return NULL;
}

/* Adds every line of a keyring file's text to keyring. */
static enum ledger_err parse_keyring(struct ledger_keyring *keyring, const char *text,
                                     size_t length)
{
    for (size_t offset = 0; offset < length; offset += KEYRING_LINE_LENGTH) {
        const char *line = text + offset;
        char key_id[LEDGER_KEY_ID_MAX + 1];
        uint8_t public_key[LEDGER_PUBLIC_KEY_SIZE];
        enum ledger_err err;

        if (length - offset < KEYRING_LINE_LENGTH || line[LEDGER_KEY_ID_MAX] != ' ' ||
            line[KEYRING_LINE_LENGTH - 1] != '\n' ||
            !hex_decode(public_key, sizeof public_key, line + LEDGER_KEY_ID_MAX + 1,
                        PUBLIC_KEY_HEX_LENGTH)) {
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        memcpy(key_id, line, LEDGER_KEY_ID_MAX);
        key_id[LEDGER_KEY_ID_MAX] = '\0';
        err = ledger_keyring_add(keyring, key_id, public_key);
        if (err != LEDGER_OK) {
            return err;
        }
    }
    return LEDGER_OK;
}

/* Reads and parses the keyring file open on fd into keyring (emptied first). */
static enum ledger_err read_keyring(struct ledger_keyring *keyring, int fd)
{
    char text[KEYRING_FILE_MAX + 1];
    size_t length = 0;
    enum ledger_err err;

    keyring->keys_count = 0;
    err = read_bounded(text, sizeof text, &length, fd);
    if (err != LEDGER_OK) {
        return err;
    }
    return parse_keyring(keyring, text, length);
}

/* The keyring holds public keys: anyone may read it. Whoever may write it
 * decides which signatures verify passes, so only its owner may, and the
 * owner is this user or root. */
static bool keyring_file_trusted(const struct stat *status)
{
    return S_ISREG(status->st_mode) && (status->st_mode & (S_IWGRP | S_IWOTH)) == 0 &&
           (status->st_uid == geteuid() || status->st_uid == 0);
}

enum ledger_err ledger_keyring_load(struct ledger_keyring *keyring, const char *path)
{
    struct ledger_keyring loaded;
    struct stat status;
    enum ledger_err err;
    int fd;

    if (keyring == NULL || path == NULL) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return LEDGER_ERR_IO;
    }
    if (fstat(fd, &status) != 0 || !keyring_file_trusted(&status)) {
        err = LEDGER_ERR_IO;
    } else {
        err = read_keyring(&loaded, fd);
    }
    (void)close(fd);
    if (err == LEDGER_OK) {
        *keyring = loaded;
    }
    return err;
}

/* Blocks until this process holds the write lock on the whole file. */
static enum ledger_err lock_file(int fd)
{
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};

    while (fcntl(fd, F_SETLKW, &lock) != 0) {
        if (errno != EINTR) {
            return LEDGER_ERR_IO;
        }
    }
    return LEDGER_OK;
}

static void format_keyring_line(char line[KEYRING_LINE_LENGTH + 1],
                                const struct ledger_signer *signer)
{
    memcpy(line, signer->key_id, LEDGER_KEY_ID_MAX);
    line[LEDGER_KEY_ID_MAX] = ' ';
    ledger_to_hex(line + LEDGER_KEY_ID_MAX + 1, signer->public_key, LEDGER_PUBLIC_KEY_SIZE);
    line[KEYRING_LINE_LENGTH - 1] = '\n';
    line[KEYRING_LINE_LENGTH] = '\0';
}

/* With the file locked: parse what is there, append the line if missing. */
static enum ledger_err append_locked(int fd, const struct ledger_signer *signer)
{
    struct ledger_keyring keyring;
    char line[KEYRING_LINE_LENGTH + 1];
    size_t keys_before;
    enum ledger_err err;

    err = read_keyring(&keyring, fd);
    if (err != LEDGER_OK) {
        return err;
    }
    keys_before = keyring.keys_count;
    err = ledger_keyring_add(&keyring, signer->key_id, signer->public_key);
    if (err != LEDGER_OK || keyring.keys_count == keys_before) {
        return err; /* refused, or already present */
    }
    format_keyring_line(line, signer);
    err = write_all(fd, line, KEYRING_LINE_LENGTH); /* O_APPEND: at the end */
    if (err == LEDGER_OK && fsync(fd) != 0) {
        err = LEDGER_ERR_IO;
    }
    return err;
}

enum ledger_err ledger_keyring_append(const char *path, const struct ledger_signer *signer)
{
    struct stat status;
    enum ledger_err err;
    int fd;

    if (path == NULL || signer == NULL) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, KEYRING_FILE_MODE);
    if (fd < 0) {
        return LEDGER_ERR_IO;
    }
    if (fstat(fd, &status) != 0 || !keyring_file_trusted(&status)) {
        err = LEDGER_ERR_IO;
        goto close_fd;
    }
    err = lock_file(fd);
    if (err != LEDGER_OK) {
        goto close_fd;
    }
    err = append_locked(fd, signer);
close_fd:
    /* Closing releases the lock; a failed close may have lost the write. */
    if (close(fd) != 0 && err == LEDGER_OK) {
        err = LEDGER_ERR_IO;
    }
    return err;
}

/* ---- signed heads ---- */

static enum ledger_err head_message(uint8_t message[HEAD_MESSAGE_SIZE],
                                    const struct ledger_head *head)
{
    struct encoder encoder = {
        .buffer = message, .size = HEAD_MESSAGE_SIZE, .length = 0, .overflowed = false};

    if (head->seq < 0) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    put_bytes(&encoder, HEAD_MAGIC, MAGIC_SIZE);
    put_i64(&encoder, head->seq);
    put_bytes(&encoder, head->hash, LEDGER_HASH_SIZE);
    put_i64(&encoder, head->signed_at_us);
    CHAIN_ASSERT(!encoder.overflowed && encoder.length == HEAD_MESSAGE_SIZE);
    return LEDGER_OK;
}

enum ledger_err ledger_head_sign(struct ledger_head *head, const struct ledger_signer *signer)
{
    uint8_t message[HEAD_MESSAGE_SIZE];
    uint8_t signature[LEDGER_SIGNATURE_SIZE];
    enum ledger_err err;

    if (head == NULL || signer == NULL ||
        strnlen(signer->key_id, sizeof signer->key_id) != LEDGER_KEY_ID_MAX) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    err = head_message(message, head);
    if (err != LEDGER_OK) {
        return err;
    }
    if (crypto_sign_detached(signature, NULL, message, sizeof message, signer->secret_key) != 0) {
        return LEDGER_ERR_CRYPTO;
    }
    memcpy(head->key_id, signer->key_id, sizeof head->key_id);
    memcpy(head->public_key, signer->public_key, LEDGER_PUBLIC_KEY_SIZE);
    memcpy(head->signature, signature, LEDGER_SIGNATURE_SIZE);
    return LEDGER_OK;
}

enum ledger_err ledger_head_verify(const struct ledger_head *head,
                                   const struct ledger_keyring *keyring)
{
    uint8_t message[HEAD_MESSAGE_SIZE];
    const uint8_t *public_key;
    enum ledger_err err;

    if (head == NULL || keyring == NULL ||
        strnlen(head->key_id, sizeof head->key_id) == sizeof head->key_id) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    err = head_message(message, head);
    if (err != LEDGER_OK) {
        return err;
    }
    public_key = ledger_keyring_find(keyring, head->key_id);
    /* The carried public key is not trusted, but one that differs from the
     * trusted key for its id means the head was altered. */
    if (public_key == NULL || memcmp(public_key, head->public_key, LEDGER_PUBLIC_KEY_SIZE) != 0 ||
        crypto_sign_verify_detached(head->signature, message, sizeof message, public_key) != 0) {
        return LEDGER_ERR_VERIFY_FAILED;
    }
    return LEDGER_OK;
}

/* ---- hex ---- */

void ledger_to_hex(char *out, const uint8_t *bytes, size_t size)
{
    CHAIN_ASSERT(out != NULL && (bytes != NULL || size == 0) && size < SIZE_MAX / 2);
    sodium_bin2hex(out, 2 * size + 1, bytes, size);
}

enum ledger_err ledger_from_hex(uint8_t *out, size_t size, const char *text)
{
    if (out == NULL || text == NULL || size >= SIZE_MAX / 2) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (!hex_decode(out, size, text, strnlen(text, 2 * size + 1))) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    return LEDGER_OK;
}

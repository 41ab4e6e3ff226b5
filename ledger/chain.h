/* The signed hash chain: canonical entry encoding, BLAKE2b-256 chaining,
 * Ed25519 signatures, signing keys and the trusted keyring, signed heads.
 *
 * hash(entry n) = BLAKE2b-256(hash(entry n-1) || canonical(entry n)),
 * with hash(entry 0) = 32 zero bytes (genesis), and
 * signature(entry n) = Ed25519(secret key, hash(entry n)).
 *
 * Canonical encoding, version 1 (all integers big-endian, fixed order):
 *   "CLE1"                      4 bytes magic
 *   seq                         u64
 *   created_at_us               i64 (microseconds since 1970-01-01 UTC)
 *   kind                        str
 *   actor                       str
 *   reverses_seq                u64 (0 = none)
 *   value_date_days             i32 (days since 1970-01-01; INT32_MIN = none)
 *   bank_ref                    str
 *   memo                        str
 *   key_id                      str
 *   postings_count              u16
 *   per posting, in order:      account_id u64, amount_minor i64, currency 3 bytes
 * where str = u32 byte length followed by the bytes (no NUL). An empty
 * string and "none" are the same thing: length 0.
 *
 * Version 2 ("CLE2") is version 1 with four fields after key_id, before
 * postings_count:
 *   disbursement_id             u64 (0 = none)
 *   payee_name                  str
 *   payee_account               str
 *   payee_bank                  str
 * They say where the money of an approval goes. The request (a row of
 * disbursements, outside the journal) is what the bank is paid from, so
 * its payee must be under the signature: the entry that approves a request
 * (kind 'disbursement' for a payout, 'transfer' for a transfer) is sealed
 * with that request's id and payee, and verify reads them back from the
 * request whose approve_seq is the entry (id 0 and empty strings when no
 * request names it). A payee, or an approve_seq, changed after the
 * approval is then a bad hash at the approval's seq; the id stops two
 * requests from trading their approvals. Every other entry carries 0 and
 * empty strings. A transfer's destination is a posting already, and so is
 * every amount; a settlement or a return moves money within the ledger
 * (in transit to the bank or back to the case) and names its request in
 * its signed memo: neither needs a payee.
 *
 * The version of each entry is stored with it (entries.encoding): entries
 * sealed before version 2 keep verifying as version 1 (their payees are not
 * covered), and the magic, which is hashed, ties each entry to its version,
 * so a version changed in the table is a bad hash too. New entries are
 * always sealed with LEDGER_ENTRY_ENCODING_CURRENT. */
#ifndef LEDGER_CHAIN_H
#define LEDGER_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "err.h"
#include "limits.h"

#define LEDGER_HASH_SIZE 32
#define LEDGER_SIGNATURE_SIZE crypto_sign_BYTES
#define LEDGER_PUBLIC_KEY_SIZE crypto_sign_PUBLICKEYBYTES
#define LEDGER_SECRET_KEY_SIZE crypto_sign_SECRETKEYBYTES
#define LEDGER_KEY_ID_MAX 16 /* 16 hex chars = first 8 bytes of BLAKE2b-256(public key) */
#define LEDGER_VALUE_DATE_NONE INT32_MIN
#define LEDGER_ACTOR_MAX LEDGER_NAME_MAX
#define LEDGER_PAYEE_NAME_MAX LEDGER_NAME_MAX
#define LEDGER_PAYEE_ACCOUNT_MAX LEDGER_BANK_ACCOUNT_MAX
#define LEDGER_PAYEE_BANK_MAX LEDGER_NAME_MAX

/* Versions of the canonical encoding (the database's entries.encoding). */
enum ledger_entry_encoding {
    LEDGER_ENTRY_ENCODING_V1 = 1,
    LEDGER_ENTRY_ENCODING_V2 = 2,
    LEDGER_ENTRY_ENCODING_CURRENT = LEDGER_ENTRY_ENCODING_V2,
};

struct ledger_posting {
    int64_t account_id;
    int64_t amount_minor; /* debit positive, credit negative */
    char currency[LEDGER_CURRENCY_SIZE];
};

struct ledger_entry {
    enum ledger_entry_encoding encoding; /* set by ledger_entry_seal */
    int64_t seq;
    int64_t created_at_us;
    char kind[LEDGER_KIND_MAX + 1];
    char actor[LEDGER_ACTOR_MAX + 1];
    int64_t reverses_seq;
    int32_t value_date_days;
    char bank_ref[LEDGER_BANK_REF_MAX + 1];
    char memo[LEDGER_MEMO_MAX + 1];
    char key_id[LEDGER_KEY_ID_MAX + 1];
    /* Version 2 on: the request this entry approves (0 and "" otherwise). */
    int64_t disbursement_id;
    char payee_name[LEDGER_PAYEE_NAME_MAX + 1];
    char payee_account[LEDGER_PAYEE_ACCOUNT_MAX + 1];
    char payee_bank[LEDGER_PAYEE_BANK_MAX + 1];
    size_t postings_count;
    struct ledger_posting postings[LEDGER_POSTINGS_MAX];
    uint8_t prev_hash[LEDGER_HASH_SIZE];
    uint8_t hash[LEDGER_HASH_SIZE];
    uint8_t signature[LEDGER_SIGNATURE_SIZE];
};

/* Upper bound of an encoding's size (of any version), for buffers. */
#define LEDGER_ENTRY_ENCODED_MAX                                                                   \
    (4 + 8 + 8 + 4 + LEDGER_KIND_MAX + 4 + LEDGER_ACTOR_MAX + 8 + 4 + 4 + LEDGER_BANK_REF_MAX +    \
     4 + LEDGER_MEMO_MAX + 4 + LEDGER_KEY_ID_MAX + 8 + 4 + LEDGER_PAYEE_NAME_MAX + 4 +             \
     LEDGER_PAYEE_ACCOUNT_MAX + 4 + LEDGER_PAYEE_BANK_MAX + 2 + LEDGER_POSTINGS_MAX * (8 + 8 + 3))

/* Writes the canonical encoding of entry, in its version (entry->encoding),
 * into buffer. Refuses (INVALID_ARGUMENT) an unknown version, an entry with
 * fewer than 2 or more than LEDGER_POSTINGS_MAX postings, a currency that
 * is not 3 upper-case ASCII letters, a negative seq, reverses_seq,
 * disbursement_id or account_id (encoded as u64), a string field with no
 * NUL inside its array, a version 1 entry with a disbursement id or a payee
 * (version 1 cannot carry them), or a buffer too small
 * (LEDGER_ENTRY_ENCODED_MAX always suffices). */
enum ledger_err ledger_entry_encode(uint8_t *buffer, size_t size, size_t *length_out,
                                    const struct ledger_entry *entry) LEDGER_MUST_CHECK;

/* True when the postings sum to zero per currency (overflow-checked, summed
 * in posting order; an overflowing sum is not zero). False when
 * postings_count exceeds LEDGER_POSTINGS_MAX. */
bool ledger_entry_balanced(const struct ledger_entry *entry);

/* out = BLAKE2b-256(prev_hash || canonical(entry)). INVALID_ARGUMENT when
 * ledger_entry_encode refuses the entry. */
enum ledger_err ledger_entry_hash(uint8_t out[LEDGER_HASH_SIZE],
                                  const uint8_t prev_hash[LEDGER_HASH_SIZE],
                                  const struct ledger_entry *entry) LEDGER_MUST_CHECK;

/* A signing key: owns secret material, wiped by ledger_signer_wipe(). */
struct ledger_signer {
    char key_id[LEDGER_KEY_ID_MAX + 1];
    uint8_t public_key[LEDGER_PUBLIC_KEY_SIZE];
    uint8_t secret_key[LEDGER_SECRET_KEY_SIZE];
};

/* Calls sodium_init(); LEDGER_ERR_CRYPTO when it fails. Safe to call often.
 * Call it once at start-up; the key file functions also call it. */
enum ledger_err ledger_crypto_init(void) LEDGER_MUST_CHECK;

/* The key id of a public key: lower-case hex of the first 8 bytes of
 * BLAKE2b-256(public key). */
void ledger_key_id(char out[LEDGER_KEY_ID_MAX + 1],
                   const uint8_t public_key[LEDGER_PUBLIC_KEY_SIZE]);

/* Creates a new key pair and writes it to path, created with mode 0600 and
 * refusing to overwrite (O_EXCL): one line "caseledger-ed25519-v1 KEY_ID
 * SECRET_KEY_HEX\n" (SECRET_KEY_HEX: the 64-byte libsodium secret key,
 * seed then public key). The file is fsynced before success; on failure it
 * is removed again. Fills signer. LEDGER_ERR_IO when path exists. */
enum ledger_err ledger_signer_generate(struct ledger_signer *signer,
                                       const char *path) LEDGER_MUST_CHECK;
/* Reads a key file written by ledger_signer_generate; checks that the
 * public key derived from the secret matches the key id. Refuses with
 * LEDGER_ERR_IO a file that cannot be read, is not a regular file, or whose
 * mode grants the group or others any access (mode & 077); with
 * LEDGER_ERR_INVALID_ARGUMENT one that is not exactly that line; with
 * LEDGER_ERR_CRYPTO one whose public half or key id does not match the
 * seed. signer is untouched on failure. */
enum ledger_err ledger_signer_load(struct ledger_signer *signer,
                                   const char *path) LEDGER_MUST_CHECK;
void ledger_signer_wipe(struct ledger_signer *signer);

/* Sets entry->encoding to LEDGER_ENTRY_ENCODING_CURRENT, fills
 * entry->key_id, hashes entry onto prev_hash (copied into entry->prev_hash)
 * and signs the hash: sets entry->hash, entry->signature.
 * Refuses (INVALID_ARGUMENT) an entry that cannot be encoded or is not
 * balanced; entry is untouched on failure. Needs ledger_crypto_init(). */
enum ledger_err ledger_entry_seal(struct ledger_entry *entry,
                                  const uint8_t prev_hash[LEDGER_HASH_SIZE],
                                  const struct ledger_signer *signer) LEDGER_MUST_CHECK;

/* Trusted public keys, kept outside the database (an auditor's copy), one
 * line per key: "KEY_ID PUBLIC_KEY_HEX\n", exactly (no blank or comment
 * lines). Every key id must be the id of its key (else LEDGER_ERR_CRYPTO);
 * more than LEDGER_KEYRING_MAX keys is LEDGER_ERR_INVALID_ARGUMENT. */
#define LEDGER_KEYRING_MAX 64
struct ledger_keyring {
    size_t keys_count;
    char key_ids[LEDGER_KEYRING_MAX][LEDGER_KEY_ID_MAX + 1];
    uint8_t public_keys[LEDGER_KEYRING_MAX][LEDGER_PUBLIC_KEY_SIZE];
};
/* Replaces keyring with the file's keys; keyring is untouched on failure.
 * A keyring writable by group or others, or owned by a user other than
 * this one or root, is refused (LEDGER_ERR_IO): whoever could write it
 * could make verify trust a key of their own. Readable by all is fine. */
enum ledger_err ledger_keyring_load(struct ledger_keyring *keyring,
                                    const char *path) LEDGER_MUST_CHECK;
/* Appends the signer's public key line to path (created 0644 if missing;
 * an existing one refused as ledger_keyring_load refuses it); does nothing
 * when the key id is already in it. The file is locked
 * (fcntl) while read and appended, and fsynced; a malformed file is
 * refused as ledger_keyring_load would refuse it. */
enum ledger_err ledger_keyring_append(const char *path,
                                      const struct ledger_signer *signer) LEDGER_MUST_CHECK;
/* Adds a key; LEDGER_OK without change when it is already there. */
enum ledger_err
ledger_keyring_add(struct ledger_keyring *keyring, const char *key_id,
                   const uint8_t public_key[LEDGER_PUBLIC_KEY_SIZE]) LEDGER_MUST_CHECK;
/* The public key for key_id, or NULL. */
const uint8_t *ledger_keyring_find(const struct ledger_keyring *keyring, const char *key_id);

enum ledger_chain_check {
    LEDGER_CHAIN_OK = 0,
    LEDGER_CHAIN_BAD_PREV_HASH, /* stored prev_hash is not the previous entry's hash */
    LEDGER_CHAIN_BAD_HASH,      /* recomputed hash differs from the stored one */
    LEDGER_CHAIN_BAD_SIGNATURE, /* signature does not verify */
    LEDGER_CHAIN_UNKNOWN_KEY,   /* key id not in the trusted keyring */
    LEDGER_CHAIN_UNBALANCED,    /* postings do not sum to zero */
    LEDGER_CHAIN_BAD_ENCODING,  /* entry cannot be encoded (too many postings, ...) */
};
/* Checks one stored entry against the hash of its predecessor, re-encoding
 * and recomputing, and returns the first failure in this order: prev_hash
 * linkage, encoding, balance, hash, key in keyring, signature. */
enum ledger_chain_check ledger_entry_check(const struct ledger_entry *entry,
                                           const uint8_t expected_prev_hash[LEDGER_HASH_SIZE],
                                           const struct ledger_keyring *keyring);
const char *ledger_chain_check_text(enum ledger_chain_check check);

/* A signed head: "CLH1" || seq u64 || hash || signed_at_us i64, signed.
 * The caller sets seq, hash and signed_at_us; ledger_head_sign fills key_id,
 * public_key and signature (INVALID_ARGUMENT for a negative seq). */
struct ledger_head {
    int64_t seq;
    uint8_t hash[LEDGER_HASH_SIZE];
    int64_t signed_at_us;
    char key_id[LEDGER_KEY_ID_MAX + 1];
    uint8_t public_key[LEDGER_PUBLIC_KEY_SIZE];
    uint8_t signature[LEDGER_SIGNATURE_SIZE];
};
enum ledger_err ledger_head_sign(struct ledger_head *head,
                                 const struct ledger_signer *signer) LEDGER_MUST_CHECK;
/* Checks the head's signature with the keyring's key for head->key_id
 * (not the public key carried in the head). LEDGER_ERR_VERIFY_FAILED when
 * the key id is not in the keyring, the carried public key differs from the
 * trusted one, or the signature does not verify. */
enum ledger_err ledger_head_verify(const struct ledger_head *head,
                                   const struct ledger_keyring *keyring) LEDGER_MUST_CHECK;

/* Lower-case hex helpers: out must hold 2*size+1 bytes. from_hex returns
 * LEDGER_ERR_INVALID_ARGUMENT unless text is exactly 2*size hex digits
 * (either case accepted; out is zeroed on failure). */
void ledger_to_hex(char *out, const uint8_t *bytes, size_t size);
enum ledger_err ledger_from_hex(uint8_t *out, size_t size, const char *text) LEDGER_MUST_CHECK;

#endif

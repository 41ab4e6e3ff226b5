/* Black-box robustness: malformed, truncated and oversized requests sent
 * as raw bytes to the real binary, each with the exact status the server
 * gives (read from api/server.c and libmicrohttpd 0.9.75: problem+json
 * from the server, HTML from libmicrohttpd for what never reaches it, or
 * a closed connection), and after each one the server still answers
 * GET /healthz. Each batch (a TCase with its own server) ends by checking
 * that the books did not move and that the server stops with exit 0.
 *
 * No fork (see http_server_fixture.h). */
#include <check.h>

#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "http_server_fixture.h"

Suite *http_badinput_suite(void);

#define ROWS(table) ((int)(sizeof(table) / sizeof((table)[0])))
#define TEST_TIMEOUT_S 120
#define RAW_TIMEOUT_MS 10000
#define BAD_CASE "HTTP-BAD-1"
#define BAD_CASE_2 "HTTP-BAD-2"
#define AMOUNT_MAX "1000000000000" /* the default largest amount: 10,000,000,000.00 */
#define AMOUNT_OVER_MAX "1000000000001"
#define STALLED_CONNECTIONS 20
#define DRIBBLE_PAUSE_MS 5

static struct http_fixture hx;
static char *batch_digest; /* the books when the batch's server started */

/* ---- building raw requests ---------------------------------------------- */

struct buffer {
    char *data;
    size_t size;
    size_t capacity;
};

static void put(struct buffer *out, const void *data, size_t size)
{
    if (out->size + size + 1 > out->capacity) {
        size_t capacity = (out->size + size + 1) * 2;
        char *grown = realloc(out->data, capacity);
        ck_assert_ptr_nonnull(grown);
        out->data = grown;
        out->capacity = capacity;
    }
    memcpy(out->data + out->size, data, size);
    out->size += size;
    out->data[out->size] = '\0';
}

__attribute__((format(printf, 2, 3))) static void putf(struct buffer *out, const char *format, ...)
{
    char text[1024];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(text, sizeof text, format, args);
    va_end(args);
    ck_assert_int_ge(length, 0);
    ck_assert_int_lt(length, (int)sizeof text);
    put(out, text, (size_t)length);
}

static void put_text(struct buffer *out, const char *text)
{
    put(out, text, strlen(text));
}

static void put_repeat(struct buffer *out, const char *unit, size_t count)
{
    for (size_t i = 0; i < count; i++)
        put_text(out, unit);
}

enum who { NOBODY, AUDITOR, CLERK };

struct bad_request {
    const char *name;
    const char *method; /* request line; NULL when raw_build makes everything */
    const char *path;
    enum who who;                           /* Authorization: Bearer of this role */
    const char *content_type;               /* NULL: no Content-Type */
    const char *key;                        /* Idempotency-Key value, or NULL */
    const char *headers;                    /* more header lines, each ending in CRLF, or NULL */
    const char *body;                       /* NULL: no body (no Content-Length) */
    void (*body_build)(struct buffer *out); /* a generated body instead */
    void (*raw_build)(struct buffer *out);  /* the whole request instead */
    int want_status;                        /* 0: closed without an answer */
    const char *want_code;                  /* problem+json code, or NULL: not problem+json */
};

static const char *token_of(enum who who)
{
    switch (who) {
    case AUDITOR:
        return hx.tokens.auditor;
    case CLERK:
        return hx.tokens.clerk;
    case NOBODY:
        break;
    }
    return NULL;
}

static void build_request(struct buffer *out, const struct bad_request *row)
{
    if (row->raw_build != NULL) {
        row->raw_build(out);
        return;
    }
    putf(out, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", row->method, row->path);
    if (token_of(row->who) != NULL)
        putf(out, "Authorization: Bearer %s\r\n", token_of(row->who));
    if (row->content_type != NULL)
        putf(out, "Content-Type: %s\r\n", row->content_type);
    if (row->key != NULL)
        putf(out, "Idempotency-Key: %s\r\n", row->key);
    if (row->headers != NULL)
        put_text(out, row->headers);
    struct buffer body = {0};
    if (row->body_build != NULL)
        row->body_build(&body);
    else if (row->body != NULL)
        put_text(&body, row->body);
    if (row->body_build != NULL || row->body != NULL)
        putf(out, "Content-Length: %zu\r\n", body.size);
    put_text(out, "\r\n");
    if (body.size > 0)
        put(out, body.data, body.size);
    free(body.data);
}

/* ---- generated bodies and requests ---------------------------------------- */

static void body_nested_objects(struct buffer *out, size_t depth)
{
    put_repeat(out, "{\"a\":", depth);
    put_text(out, "1");
    put_repeat(out, "}", depth);
}

static void body_depth_max(struct buffer *out)
{
    body_nested_objects(out, API_JSON_DEPTH_MAX);
}

static void body_depth_over(struct buffer *out)
{
    body_nested_objects(out, API_JSON_DEPTH_MAX + 1);
}

static void body_arrays_over(struct buffer *out)
{
    put_text(out, "{\"a\":");
    put_repeat(out, "[", API_JSON_DEPTH_MAX);
    put_repeat(out, "]", API_JSON_DEPTH_MAX);
    put_text(out, "}");
}

/* Far deeper than any parser should recurse. */
static void body_arrays_100k(struct buffer *out)
{
    put_repeat(out, "[", 100000);
    put_repeat(out, "]", 100000);
}

static void body_string_of(struct buffer *out, size_t bytes)
{
    put_text(out, "{\"note\":\"");
    put_repeat(out, "x", bytes);
    put_text(out, "\"}");
}

static void body_string_max(struct buffer *out)
{
    body_string_of(out, API_JSON_STRING_MAX);
}

static void body_string_over(struct buffer *out)
{
    body_string_of(out, API_JSON_STRING_MAX + 1);
}

/* Two-byte characters: 4098 bytes in 2049 characters. */
static void body_utf8_string_over(struct buffer *out)
{
    put_text(out, "{\"note\":\"");
    put_repeat(out, "\xc3\xa9", API_JSON_STRING_MAX / 2 + 1);
    put_text(out, "\"}");
}

static void body_key_over(struct buffer *out)
{
    put_text(out, "{\"");
    put_repeat(out, "k", API_JSON_STRING_MAX + 1);
    put_text(out, "\":1}");
}

static void body_array_string_over(struct buffer *out)
{
    put_text(out, "{\"a\":[\"");
    put_repeat(out, "x", API_JSON_STRING_MAX + 1);
    put_text(out, "\"]}");
}

/* Exactly API_BODY_MAX bytes of a valid object. */
static void body_exactly_max(struct buffer *out)
{
    put_text(out, "{\"a\":[");
    size_t fixed = strlen("{\"a\":[") + strlen("1]}");
    put_repeat(out, "1,", (API_BODY_MAX - fixed) / 2);
    if ((API_BODY_MAX - fixed) % 2 != 0)
        put_text(out, " ");
    put_text(out, "1]}");
    ck_assert_uint_eq(out->size, API_BODY_MAX);
}

static void body_over_max(struct buffer *out)
{
    body_string_of(out, API_BODY_MAX);
}

/* Many keys: jansson's hashing, our iteration. */
static void body_many_keys(struct buffer *out)
{
    put_text(out, "{");
    for (int i = 0; i < 20000; i++)
        putf(out, "%s\"k%d\":%d", i ? "," : "", i, i);
    put_text(out, "}");
}

static void raw_path_of(struct buffer *out, size_t bytes)
{
    put_text(out, "GET /");
    put_repeat(out, "a", bytes);
    put_text(out, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

/* Longer than the server's path buffer: its own 414. */
static void raw_path_long(struct buffer *out)
{
    raw_path_of(out, 2000);
}

/* Longer than libmicrohttpd's header memory: its 414. */
static void raw_path_huge(struct buffer *out)
{
    raw_path_of(out, API_HEADER_MEMORY + 8000);
}

static void raw_header_flood(struct buffer *out)
{
    put_text(out, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (int i = 0; i < 500; i++) {
        putf(out, "X-Flood-%d: ", i);
        put_repeat(out, "v", 100);
        put_text(out, "\r\n");
    }
    put_text(out, "Connection: close\r\n\r\n");
}

static void raw_header_huge(struct buffer *out)
{
    put_text(out, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ");
    put_repeat(out, "v", API_HEADER_MEMORY + 8000);
    put_text(out, "\r\nConnection: close\r\n\r\n");
}

static void raw_many_tiny_headers(struct buffer *out)
{
    put_text(out, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    put_repeat(out, "X: y\r\n", API_HEADER_MEMORY / 4);
    put_text(out, "Connection: close\r\n\r\n");
}

static void raw_garbage(struct buffer *out)
{
    put_text(out, "garbage\r\n\r\n");
}

static void raw_garbage_words(struct buffer *out)
{
    put_text(out, "this is not http\r\n\r\n");
}

static void raw_tls_hello(struct buffer *out)
{
    static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00,
                                          0xa1, 0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00};
    put(out, hello, sizeof hello);
    put_text(out, "\r\n\r\n");
}

static void raw_binary(struct buffer *out)
{
    for (int c = 1; c < 256; c++) {
        char byte = (char)c;
        put(out, &byte, 1);
    }
    put_text(out, "\r\n\r\n");
}

static void raw_nul_first(struct buffer *out)
{
    put(out, "\0", 1);
    put_text(out, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

static void raw_no_version(struct buffer *out)
{
    put_text(out, "GET /healthz\r\n\r\n");
}

static void raw_bad_version(struct buffer *out)
{
    put_text(out, "GET /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

static void raw_http2_preface(struct buffer *out)
{
    put_text(out, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
}

static void raw_header_no_colon(struct buffer *out)
{
    put_text(out, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nNoColonHere\r\n"
                  "Connection: close\r\n\r\n");
}

static void raw_post_head(struct buffer *out, const char *length_line)
{
    putf(out,
         "POST /v1/ledger/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
         "Authorization: Bearer %s\r\nContent-Type: application/json\r\n%s\r\n",
         hx.tokens.auditor, length_line);
}

static void raw_length_letters(struct buffer *out)
{
    raw_post_head(out, "Content-Length: abc\r\n");
    put_text(out, "{}");
}

static void raw_length_negative(struct buffer *out)
{
    raw_post_head(out, "Content-Length: -5\r\n");
    put_text(out, "{}");
}

/* Two Content-Length values that disagree: the framing is invalid (RFC
 * 9112 section 6.3: 400 and close), or a proxy in front and this server
 * could read different requests from one stream. */
static void raw_length_twice(struct buffer *out)
{
    raw_post_head(out, "Content-Length: 2\r\nContent-Length: 30\r\n");
    put_text(out, "{}");
}

static void raw_length_huge(struct buffer *out)
{
    raw_post_head(out, "Content-Length: 99999999999999999999999\r\n");
    put_text(out, "{}");
}

/* A client that asks before sending a body past the limit: the answer is
 * 413 at once, not "100 Continue" (the body never comes). */
static void raw_expect_over_max(struct buffer *out)
{
    raw_post_head(out, "Expect: 100-continue\r\nContent-Length: 2000000\r\n");
}

static void raw_bad_chunk_size(struct buffer *out)
{
    raw_post_head(out, "Transfer-Encoding: chunked\r\n");
    put_text(out, "zz\r\n{}\r\n0\r\n\r\n");
}

static void raw_chunked_over_max(struct buffer *out)
{
    raw_post_head(out, "Transfer-Encoding: chunked\r\n");
    for (int i = 0; i < API_BODY_MAX / 65536 + 1; i++) {
        putf(out, "%x\r\n", 65536);
        put_repeat(out, "xxxxxxxxxxxxxxxx", 65536 / 16);
        put_text(out, "\r\n");
    }
    put_text(out, "0\r\n\r\n");
}

static void raw_chunked_ok(struct buffer *out)
{
    raw_post_head(out, "Transfer-Encoding: chunked\r\n");
    put_text(out, "1\r\n{\r\n1\r\n}\r\n0\r\n\r\n");
}

/* ---- the tables ------------------------------------------------------------ */

#define VERIFY "/v1/ledger/verify"
#define KEY_16 "kkkkkkkkkkkkkkkk"
#define KEY_128 KEY_16 KEY_16 KEY_16 KEY_16 KEY_16 KEY_16 KEY_16 KEY_16
_Static_assert(sizeof KEY_128 - 1 == LEDGER_IDEMPOTENCY_KEY_MAX, "a key of the longest length");
#define JSON "application/json"

/* JSON that must never reach a handler. */
static const struct bad_request json_rows[] = {
    {"invalid UTF-8 byte", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "{\"a\":\"\xff\"}", NULL,
     NULL, 400, "malformed_json"},
    {"overlong UTF-8", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "{\"a\":\"\xc0\xaf\"}", NULL,
     NULL, 400, "malformed_json"},
    {"UTF-8 surrogate", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "{\"a\":\"\xed\xa0\x80\"}", NULL,
     NULL, 400, "malformed_json"},
    {"truncated UTF-8", "POST", "/v1/cases", CLERK, JSON, "bad-utf8", NULL,
     "{\"case_no\":\"\xe6\xa1\"}", NULL, NULL, 400, "malformed_json"},
    {"invalid UTF-8 on a public route", "POST", "/v1/status", NOBODY, JSON, NULL, NULL,
     "{\"case_no\":\"\xfe\",\"access_code\":\"x\"}", NULL, NULL, 400, "malformed_json"},
    {"lone surrogate escape", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "{\"a\":\"\\ud800\"}",
     NULL, NULL, 400, "malformed_json"},
    {"NUL escape", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "{\"a\":\"\\u0000\"}", NULL, NULL,
     400, "malformed_json"},
    {"duplicate keys", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "{\"a\":1,\"a\":2}", NULL, NULL,
     400, "malformed_json"},
    {"duplicate amount", "POST", "/v1/receipts", CLERK, JSON, "dup-amount", NULL,
     "{\"case_no\":\"" BAD_CASE "\",\"amount\":1,\"amount\":100000,\"bank_ref\":\"D\","
     "\"value_date\":\"2026-11-20\"}",
     NULL, NULL, 400, "malformed_json"},
    {"integer above int64", "POST", "/v1/receipts", CLERK, JSON, "big-amount", NULL,
     "{\"case_no\":\"" BAD_CASE "\",\"amount\":9223372036854775808,\"bank_ref\":\"B\","
     "\"value_date\":\"2026-11-20\"}",
     NULL, NULL, 400, "malformed_json"},
    {"integer below int64", "POST", VERIFY, AUDITOR, JSON, NULL, NULL,
     "{\"from_seq\":-9223372036854775809}", NULL, NULL, 400, "malformed_json"},
    {"real overflow", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "{\"from_seq\":1e400}", NULL, NULL,
     400, "malformed_json"},
    {"truncated object", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "{\"a\":", NULL, NULL, 400,
     "malformed_json"},
    {"truncated string", "POST", "/v1/cases", CLERK, JSON, "trunc", NULL, "{\"case_no\":\"AB", NULL,
     NULL, 400, "malformed_json"},
    {"array, not an object", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "[]", NULL, NULL, 400,
     "malformed_json"},
    {"number, not an object", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "42", NULL, NULL, 400,
     "malformed_json"},
    {"string, not an object", "POST", "/v1/status", NOBODY, JSON, NULL, NULL, "\"code\"", NULL,
     NULL, 400, "malformed_json"},
    {"null, not an object", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "null", NULL, NULL, 400,
     "malformed_json"},
    {"trailing garbage", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "{}x", NULL, NULL, 400,
     "malformed_json"},
    {"two documents", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "{}{}", NULL, NULL, 400,
     "malformed_json"},
    {"byte order mark", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "\xef\xbb\xbf{}", NULL, NULL,
     400, "malformed_json"},
    {"single quotes", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, "{'a':1}", NULL, NULL, 400,
     "malformed_json"},
    {"objects nested past the limit", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, NULL,
     body_depth_over, NULL, 400, "json_limits"},
    {"arrays nested past the limit", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, NULL,
     body_arrays_over, NULL, 400, "json_limits"},
    {"100000 nested arrays", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, NULL, body_arrays_100k,
     NULL, 400, "malformed_json"},
    {"string past the limit", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, NULL, body_string_over,
     NULL, 400, "json_limits"},
    {"UTF-8 string past the limit in bytes", "POST", "/v1/status", NOBODY, JSON, NULL, NULL, NULL,
     body_utf8_string_over, NULL, 400, "json_limits"},
    {"key past the limit", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, NULL, body_key_over, NULL,
     400, "json_limits"},
    {"string in an array past the limit", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, NULL,
     body_array_string_over, NULL, 400, "json_limits"},
    /* The limits themselves are allowed. */
    {"nesting at the limit (allowed)", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, NULL,
     body_depth_max, NULL, 200, NULL},
    {"string at the limit (allowed)", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, NULL,
     body_string_max, NULL, 200, NULL},
    {"20000 keys (allowed)", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, NULL, body_many_keys, NULL,
     200, NULL},
};

/* Well-formed JSON that a handler must refuse (the contract: 400 for a
 * missing field, 422 invalid_amount for an amount that is not a positive
 * integer of minor units). */
#define RECEIPT_WITH(amount)                                                                       \
    "{\"case_no\":\"" BAD_CASE "\",\"amount\":" amount ",\"bank_ref\":\"BAD\","                    \
    "\"value_date\":\"2026-11-20\"}"
#define PAYOUT_WITH(amount)                                                                        \
    "{\"case_no\":\"" BAD_CASE "\",\"payee\":{\"name\":\"Wang Wu\",\"bank_account\":"              \
    "\"6222020200112233\"},\"amount\":" amount "}"

static const struct bad_request field_rows[] = {
    {"negative amount", "POST", "/v1/receipts", CLERK, JSON, "amt-1", NULL, RECEIPT_WITH("-100"),
     NULL, NULL, 422, "invalid_amount"},
    {"zero amount", "POST", "/v1/receipts", CLERK, JSON, "amt-2", NULL, RECEIPT_WITH("0"), NULL,
     NULL, 422, "invalid_amount"},
    {"decimal amount", "POST", "/v1/receipts", CLERK, JSON, "amt-3", NULL, RECEIPT_WITH("12.5"),
     NULL, NULL, 422, "invalid_amount"},
    {"integral real amount", "POST", "/v1/receipts", CLERK, JSON, "amt-4", NULL,
     RECEIPT_WITH("100.0"), NULL, NULL, 422, "invalid_amount"},
    {"exponent amount", "POST", "/v1/receipts", CLERK, JSON, "amt-5", NULL, RECEIPT_WITH("1e3"),
     NULL, NULL, 422, "invalid_amount"},
    {"amount as a string", "POST", "/v1/receipts", CLERK, JSON, "amt-6", NULL,
     RECEIPT_WITH("\"100\""), NULL, NULL, 422, "invalid_amount"},
    {"amount as decimal text", "POST", "/v1/receipts", CLERK, JSON, "amt-7", NULL,
     RECEIPT_WITH("\"12.50\""), NULL, NULL, 422, "invalid_amount"},
    {"amount true", "POST", "/v1/receipts", CLERK, JSON, "amt-8", NULL, RECEIPT_WITH("true"), NULL,
     NULL, 422, "invalid_amount"},
    {"amount null", "POST", "/v1/receipts", CLERK, JSON, "amt-9", NULL, RECEIPT_WITH("null"), NULL,
     NULL, 422, "invalid_amount"},
    {"amount an object", "POST", "/v1/receipts", CLERK, JSON, "amt-10", NULL,
     RECEIPT_WITH("{\"fen\":100}"), NULL, NULL, 422, "invalid_amount"},
    {"most negative amount", "POST", "/v1/receipts", CLERK, JSON, "amt-11", NULL,
     RECEIPT_WITH("-9223372036854775808"), NULL, NULL, 422, "invalid_amount"},
    {"negative payout", "POST", "/v1/disbursements", CLERK, JSON, "amt-12", NULL, PAYOUT_WITH("-5"),
     NULL, NULL, 422, "invalid_amount"},
    {"decimal payout", "POST", "/v1/disbursements", CLERK, JSON, "amt-13", NULL,
     PAYOUT_WITH("0.01"), NULL, NULL, 422, "invalid_amount"},
    {"missing amount", "POST", "/v1/receipts", CLERK, JSON, "amt-14", NULL,
     "{\"case_no\":\"" BAD_CASE "\",\"bank_ref\":\"BAD\",\"value_date\":\"2026-11-20\"}", NULL,
     NULL, 400, "missing_field"},
    {"empty body for a receipt", "POST", "/v1/receipts", CLERK, JSON, "empty-1", NULL, "", NULL,
     NULL, 400, NULL},
    {"empty body for a case", "POST", "/v1/cases", CLERK, JSON, "empty-2", NULL, "", NULL, NULL,
     400, NULL},
    {"empty body for a payout", "POST", "/v1/disbursements", CLERK, NULL, "empty-3", NULL, NULL,
     NULL, NULL, 400, NULL},
    {"empty body for a status", "POST", "/v1/status", NOBODY, JSON, NULL, NULL, "", NULL, NULL, 400,
     NULL},
    {"receipt over the largest amount", "POST", "/v1/receipts", CLERK, JSON, "amt-15", NULL,
     RECEIPT_WITH(AMOUNT_OVER_MAX), NULL, NULL, 422, "amount_too_large"},
    {"receipt of the largest int64", "POST", "/v1/receipts", CLERK, JSON, "amt-16", NULL,
     RECEIPT_WITH("9223372036854775807"), NULL, NULL, 422, "amount_too_large"},
    {"suspense receipt over the largest amount", "POST", "/v1/receipts", CLERK, JSON, "amt-17",
     NULL, "{\"amount\":" AMOUNT_OVER_MAX ",\"bank_ref\":\"BAD\",\"value_date\":\"2026-11-20\"}",
     NULL, NULL, 422, "amount_too_large"},
    {"payout over the largest amount", "POST", "/v1/disbursements", CLERK, JSON, "amt-18", NULL,
     PAYOUT_WITH(AMOUNT_OVER_MAX), NULL, NULL, 422, "amount_too_large"},
    {"transfer over the largest amount", "POST", "/v1/transfers", CLERK, JSON, "amt-19", NULL,
     "{\"from\":\"" BAD_CASE "\",\"to\":\"" BAD_CASE_2 "\",\"amount\":" AMOUNT_OVER_MAX
     ",\"reason\":\"too much\"}",
     NULL, NULL, 422, "amount_too_large"},
    {"no Idempotency-Key on a receipt", "POST", "/v1/receipts", CLERK, JSON, NULL, NULL,
     RECEIPT_WITH("100"), NULL, NULL, 400, "missing_idempotency_key"},
    {"no Idempotency-Key on a payout", "POST", "/v1/disbursements", CLERK, JSON, NULL, NULL,
     PAYOUT_WITH("100"), NULL, NULL, 400, "missing_idempotency_key"},
};

/* Headers: media type, Idempotency-Key, bodies where none belong. */
static const struct bad_request header_rows[] = {
    {"text/plain body", "POST", VERIFY, AUDITOR, "text/plain", NULL, NULL, "{}", NULL, NULL, 415,
     "unsupported_media_type"},
    {"body without Content-Type", "POST", VERIFY, AUDITOR, NULL, NULL, NULL, "{}", NULL, NULL, 415,
     "unsupported_media_type"},
    {"a JSON-like media type", "POST", VERIFY, AUDITOR, "application/jsonx", NULL, NULL, "{}", NULL,
     NULL, 415, "unsupported_media_type"},
    {"form body", "POST", "/v1/cases", CLERK, "application/x-www-form-urlencoded", "form", NULL,
     "case_no=X&court=Y", NULL, NULL, 415, "unsupported_media_type"},
    {"XML body on a JSON route", "POST", "/v1/receipts", CLERK, "application/xml", "xml", NULL,
     "<receipt/>", NULL, NULL, 415, "unsupported_media_type"},
    {"multipart body", "POST", "/v1/status", NOBODY, "multipart/form-data; boundary=x", NULL, NULL,
     "--x--", NULL, NULL, 415, "unsupported_media_type"},
    {"Idempotency-Key of 129 characters", "POST", VERIFY, AUDITOR, JSON, KEY_128 "k", NULL, "{}",
     NULL, NULL, 400, "invalid_idempotency_key"},
    {"empty Idempotency-Key", "POST", VERIFY, AUDITOR, JSON, "", NULL, "{}", NULL, NULL, 400,
     "invalid_idempotency_key"},
    {"Idempotency-Key with a space", "POST", "/v1/receipts", CLERK, JSON, "a b", NULL,
     RECEIPT_WITH("100"), NULL, NULL, 400, "invalid_idempotency_key"},
    {"Idempotency-Key with a tab", "POST", VERIFY, AUDITOR, JSON, "a\tb", NULL, "{}", NULL, NULL,
     400, "invalid_idempotency_key"},
    {"Idempotency-Key with DEL", "POST", VERIFY, AUDITOR, JSON,
     "a\x7f"
     "b",
     NULL, "{}", NULL, NULL, 400, "invalid_idempotency_key"},
    {"Idempotency-Key with a control byte", "POST", VERIFY, AUDITOR, JSON,
     "a\x01"
     "b",
     NULL, "{}", NULL, NULL, 400, "invalid_idempotency_key"},
    {"Idempotency-Key in UTF-8", "POST", "/v1/receipts", CLERK, JSON, "key-\xc3\xa9", NULL,
     RECEIPT_WITH("100"), NULL, NULL, 400, "invalid_idempotency_key"},
    {"Idempotency-Key of 128 characters (allowed)", "POST", VERIFY, AUDITOR, JSON, KEY_128, NULL,
     "{}", NULL, NULL, 200, NULL},
    {"body on a GET", "GET", "/healthz", NOBODY, JSON, NULL, NULL, "{}", NULL, NULL, 400,
     "unexpected_body"},
    {"body on a staff GET", "GET", "/v1/cases/" BAD_CASE, AUDITOR, JSON, NULL, NULL, "{\"x\":1}",
     NULL, NULL, 400, "unexpected_body"},
    {"body on the ledger head", "GET", "/v1/ledger/head", NOBODY, "text/plain", NULL, NULL, "x",
     NULL, NULL, 400, "unexpected_body"},
};

/* Paths and methods. */
static const struct bad_request route_rows[] = {
    {"bad percent-encoding", "GET", "/v1/cases/%zz", AUDITOR, NULL, NULL, NULL, NULL, NULL, NULL,
     404, "not_found"},
    {"truncated percent-encoding", "GET", "/v1/cases/ab%2", AUDITOR, NULL, NULL, NULL, NULL, NULL,
     NULL, 404, "not_found"},
    {"percent-encoded NUL", "GET", "/v1/cases/a%00b", AUDITOR, NULL, NULL, NULL, NULL, NULL, NULL,
     404, "not_found"},
    /* An encoded '/' stays inside its segment: one (unknown) case number. */
    {"percent-encoded slash in a segment", "GET", "/v1/cases/a%2Fb/entries", AUDITOR, NULL, NULL,
     NULL, NULL, NULL, NULL, 404, "unknown_case"},
    {"bad percent-encoding in a query value", "GET", "/v1/disbursements?case_no=%zz", AUDITOR, NULL,
     NULL, NULL, NULL, NULL, NULL, 400, "invalid_query"},
    {"truncated percent-encoding in a query value", "GET", "/v1/disbursements?status=pa%2", AUDITOR,
     NULL, NULL, NULL, NULL, NULL, NULL, 400, "invalid_query"},
    {"percent-encoded NUL in a query value", "GET", "/v1/disbursements?case_no=a%00b", AUDITOR,
     NULL, NULL, NULL, NULL, NULL, NULL, 400, "invalid_query"},
    {"bad percent-encoding in a query name", "GET", "/v1/disbursements?ca%zzse=1", AUDITOR, NULL,
     NULL, NULL, NULL, NULL, NULL, 400, "invalid_query"},
    {"bad percent-encoding in an id", "POST", "/v1/disbursements/%G1/approve", CLERK, JSON, "pct",
     NULL, "{}", NULL, NULL, 404, "not_found"},
    {"encoded letters in a fixed segment", "GET", "/%68ealthz", NOBODY, NULL, NULL, NULL, NULL,
     NULL, NULL, 404, "not_found"},
    {"dot segments", "GET", "/v1/cases/../../healthz", NOBODY, NULL, NULL, NULL, NULL, NULL, NULL,
     404, "not_found"},
    {"empty segment", "GET", "/v1/cases//entries", AUDITOR, NULL, NULL, NULL, NULL, NULL, NULL, 404,
     "not_found"},
    {"trailing slash", "GET", "/healthz/", NOBODY, NULL, NULL, NULL, NULL, NULL, NULL, 404,
     "not_found"},
    {"unknown version", "GET", "/v2/cases/" BAD_CASE, AUDITOR, NULL, NULL, NULL, NULL, NULL, NULL,
     404, "not_found"},
    {"unknown action", "POST", "/v1/cases/" BAD_CASE "/delete", CLERK, JSON, "unknown", NULL, "{}",
     NULL, NULL, 404, "not_found"},
    {"path without a slash", "GET", "healthz", NOBODY, NULL, NULL, NULL, NULL, NULL, NULL, 404,
     "not_found"},
    {"path too long for the server", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_path_long, 414, "uri_too_long"},
    {"path too long for the header memory", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_path_huge, 414, NULL},
    {"DELETE a collection", "DELETE", "/v1/cases", CLERK, NULL, NULL, NULL, NULL, NULL, NULL, 405,
     "method_not_allowed"},
    {"PUT a case", "PUT", "/v1/cases/" BAD_CASE, CLERK, JSON, NULL, NULL, "{}", NULL, NULL, 405,
     "method_not_allowed"},
    {"PATCH an approval", "PATCH", "/v1/disbursements/1/approve", NOBODY, NULL, NULL, NULL, NULL,
     NULL, NULL, 405, "method_not_allowed"},
    {"GET a POST-only route", "GET", "/v1/receipts", CLERK, NULL, NULL, NULL, NULL, NULL, NULL, 405,
     "method_not_allowed"},
    {"POST to /healthz", "POST", "/healthz", NOBODY, JSON, NULL, NULL, "{}", NULL, NULL, 405,
     "method_not_allowed"},
    {"GET the status lookup", "GET", "/v1/status?case_no=X&access_code=Y", NOBODY, NULL, NULL, NULL,
     NULL, NULL, NULL, 405, "method_not_allowed"},
    {"made-up method", "BREW", "/v1/cases", NOBODY, NULL, NULL, NULL, NULL, NULL, NULL, 405,
     "method_not_allowed"},
    /* HEAD is GET without the body (so no problem+json to read) */
    {"HEAD of a GET route", "HEAD", "/healthz", NOBODY, NULL, NULL, NULL, NULL, NULL, NULL, 200,
     NULL},
    {"HEAD of a POST-only route", "HEAD", "/v1/receipts", CLERK, NULL, NULL, NULL, NULL, NULL, NULL,
     405, NULL},
};

/* HTTP itself broken: libmicrohttpd answers (HTML) or hangs up. */
static const struct bad_request http_rows[] = {
    {"header flood past the header memory", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_header_flood, 431, NULL},
    {"one header past the header memory", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_header_huge, 431, NULL},
    {"thousands of tiny headers", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_many_tiny_headers, 431, NULL},
    {"garbage", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL, raw_garbage, 0, NULL},
    {"garbage words", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL, raw_garbage_words, 400,
     NULL},
    {"TLS client hello", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL, raw_tls_hello, 0, NULL},
    {"binary bytes", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL, raw_binary, 0, NULL},
    {"NUL before the request line", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL, raw_nul_first,
     400, NULL},
    {"request line without version", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_no_version, 400, NULL},
    {"unknown HTTP version", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL, raw_bad_version, 505,
     NULL},
    {"HTTP/2 preface", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL, raw_http2_preface, 505,
     NULL},
    {"header line without a colon", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_header_no_colon, 400, NULL},
    {"Content-Length in letters", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_length_letters, 400, NULL},
    {"negative Content-Length", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_length_negative, 400, NULL},
    {"two Content-Length values that disagree", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_length_twice, 400, NULL},
    {"Content-Length past 2^64", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL, raw_length_huge,
     413, NULL},
    {"Expect: 100-continue past API_BODY_MAX", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_expect_over_max, 413, "body_too_large"},
    {"chunk size not hex", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL, raw_bad_chunk_size,
     400, NULL},
    {"body past API_BODY_MAX", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, NULL, body_over_max, NULL,
     413, "body_too_large"},
    {"body past API_BODY_MAX to an unknown path", "POST", "/v1/nowhere", NOBODY, JSON, NULL, NULL,
     NULL, body_over_max, NULL, 413, "body_too_large"},
    {"chunked body past API_BODY_MAX", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_chunked_over_max, 413, "body_too_large"},
    {"body of exactly API_BODY_MAX (allowed)", "POST", VERIFY, AUDITOR, JSON, NULL, NULL, NULL,
     body_exactly_max, NULL, 200, NULL},
    {"chunked body in pieces (allowed)", NULL, NULL, NOBODY, NULL, NULL, NULL, NULL, NULL,
     raw_chunked_ok, 200, NULL},
};

/* ---- running a row --------------------------------------------------------- */

static void run_row(const struct bad_request *row)
{
    struct buffer request = {0};
    build_request(&request, row);
    struct http_client_response response;
    int result =
        http_client_raw(&response, hx.server.port, request.data, request.size, RAW_TIMEOUT_MS);
    free(request.data);
    int status = result == 0 ? response.status : 0;
    char code[64] = "";
    if (result == 0)
        http_fixture_problem_code(&response, code, sizeof code);
    char excerpt[240];
    snprintf(excerpt, sizeof excerpt, "%s",
             result != 0     ? response.error
             : response.body ? response.body
                             : "");
    const char *type = result == 0 ? http_client_header(&response, "Content-Type") : NULL;
    bool problem = type != NULL && strncmp(type, "application/problem+json", 24) == 0;
    http_client_response_free(&response);
    ck_assert_msg(status == row->want_status, "%s: status %d, want %d: %s", row->name, status,
                  row->want_status, excerpt);
    if (row->want_code != NULL) {
        ck_assert_msg(problem, "%s: not problem+json: %s", row->name, excerpt);
        ck_assert_msg(strcmp(code, row->want_code) == 0, "%s: code \"%s\", want \"%s\"", row->name,
                      code, row->want_code);
    }
    ck_assert_msg(http_fixture_healthy(&hx), "%s: the server stopped answering /healthz",
                  row->name);
}

START_TEST(json_row)
{
    run_row(&json_rows[_i]);
}
END_TEST

START_TEST(field_row)
{
    run_row(&field_rows[_i]);
}
END_TEST

START_TEST(header_row)
{
    run_row(&header_rows[_i]);
}
END_TEST

START_TEST(route_row)
{
    run_row(&route_rows[_i]);
}
END_TEST

START_TEST(http_row)
{
    run_row(&http_rows[_i]);
}
END_TEST

/* ---- connections that misbehave ---------------------------------------------- */

static void sleep_ms(long milliseconds)
{
    struct timespec pause = {milliseconds / 1000, (milliseconds % 1000) * 1000000};
    nanosleep(&pause, NULL);
}

/* Connects and writes the bytes, then hangs up without reading. */
static void send_and_hang_up(const char *bytes, size_t size)
{
    int socket_fd = http_client_connect(hx.server.port);
    ck_assert_int_ge(socket_fd, 0);
    ck_assert(http_client_send(socket_fd, bytes, size, RAW_TIMEOUT_MS));
    sleep_ms(100);
    close(socket_fd);
}

/* Requests cut off: in the request line, in the headers, before the body,
 * in the body, in a chunk; none books anything, the server serves on. */
START_TEST(requests_cut_off)
{
    char receipt[1024];
    const char *body = RECEIPT_WITH("100");
    int length = snprintf(receipt, sizeof receipt,
                          "POST /v1/receipts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                          "%s\r\nContent-Type: application/json\r\nIdempotency-Key: cut-%d\r\n"
                          "Content-Length: %zu\r\n\r\n%s",
                          hx.tokens.clerk, 1, strlen(body), body);
    ck_assert_int_lt(length, (int)sizeof receipt);
    size_t head_size = (size_t)(strstr(receipt, "\r\n\r\n") + 4 - receipt);
    send_and_hang_up(receipt, 10);                 /* in the request line */
    send_and_hang_up(receipt, head_size - 30);     /* in the headers */
    send_and_hang_up(receipt, head_size);          /* before the body */
    send_and_hang_up(receipt, head_size + 20);     /* in the body */
    send_and_hang_up(receipt, (size_t)length - 1); /* one byte short */
    /* A promise of a long body, then nothing more. */
    char promise[512];
    int promised = snprintf(promise, sizeof promise,
                            "POST /v1/receipts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                            "Bearer %s\r\nContent-Type: application/json\r\nIdempotency-Key: "
                            "cut-2\r\nContent-Length: 100000\r\n\r\n{\"case_no\":",
                            hx.tokens.clerk);
    send_and_hang_up(promise, (size_t)promised);
    /* Chunked, cut in a chunk. */
    int chunked = snprintf(promise, sizeof promise,
                           "POST /v1/receipts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                           "Bearer %s\r\nContent-Type: application/json\r\nIdempotency-Key: "
                           "cut-3\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{\"case_no\":",
                           hx.tokens.clerk);
    send_and_hang_up(promise, (size_t)chunked);
    sleep_ms(300);
    ck_assert(http_fixture_healthy(&hx));
    ck_assert_int_eq(fixture_query_int(&hx.db, "SELECT count(*) FROM idempotency "
                                               "WHERE key LIKE 'cut-%'"),
                     0);
}
END_TEST

/* A request written a few bytes at a time is still answered. */
START_TEST(slow_client_answered)
{
    char request[512];
    int length = snprintf(request, sizeof request,
                          "POST " VERIFY " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                          "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: 16\r\n\r\n{\"from_seq\": 1 }",
                          hx.tokens.auditor);
    int socket_fd = http_client_connect(hx.server.port);
    ck_assert_int_ge(socket_fd, 0);
    for (int at = 0; at < length; at += 3) {
        size_t piece = (size_t)(length - at < 3 ? length - at : 3);
        ck_assert(http_client_send(socket_fd, request + at, piece, RAW_TIMEOUT_MS));
        sleep_ms(DRIBBLE_PAUSE_MS);
    }
    struct http_client_response response;
    int result = http_client_receive(socket_fd, &response, RAW_TIMEOUT_MS);
    close(socket_fd);
    int status = response.status;
    http_client_response_free(&response);
    ck_assert_int_eq(result, 0);
    ck_assert_int_eq(status, 200);
}
END_TEST

/* Clients that open connections and stall in the headers do not keep
 * others from being served. */
START_TEST(stalled_clients_do_not_block)
{
    int stalled[STALLED_CONNECTIONS];
    for (int i = 0; i < STALLED_CONNECTIONS; i++) {
        stalled[i] = http_client_connect(hx.server.port);
        ck_assert_int_ge(stalled[i], 0);
        const char *partial = i % 2 ? "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
                                    : "POST " VERIFY " HTTP/1.1\r\nContent-Length: 50\r\n\r\n{";
        ck_assert(http_client_send(stalled[i], partial, strlen(partial), RAW_TIMEOUT_MS));
    }
    sleep_ms(200);
    for (int round = 0; round < 5; round++)
        ck_assert_msg(http_fixture_healthy(&hx), "not served while %d clients stall",
                      STALLED_CONNECTIONS);
    struct http_client_response response;
    ck_assert_int_eq(
        http_fixture_call(&hx, &response, "POST", VERIFY, hx.tokens.auditor, NULL, "{}"), 200);
    http_client_response_free(&response);
    for (int i = 0; i < STALLED_CONNECTIONS; i++)
        close(stalled[i]);
}
END_TEST

/* How many of the sockets the server has closed (readable: end of file,
 * since it never writes to an idle connection). */
static int closed_by_server(const int *sockets, int count)
{
    int closed = 0;
    for (int i = 0; i < count; i++) {
        struct pollfd probe = {.fd = sockets[i], .events = POLLIN};
        if (poll(&probe, 1, 0) > 0)
            closed++;
    }
    return closed;
}

/* More idle connections from one address than it may hold: the extra one
 * is turned away; once they close, the address is served again. Closed
 * connections of earlier tests may still count for a moment, so the idle
 * ones are opened again until the server has kept every one of them. */
START_TEST(connections_per_address_bounded)
{
    int idle[API_CONNECTIONS_PER_IP];
    int refused = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        sleep_ms(500);
        for (int i = 0; i < API_CONNECTIONS_PER_IP; i++) {
            idle[i] = http_client_connect(hx.server.port);
            ck_assert_int_ge(idle[i], 0);
        }
        sleep_ms(300);
        refused = closed_by_server(idle, API_CONNECTIONS_PER_IP);
        if (refused == 0)
            break;
        for (int i = 0; i < API_CONNECTIONS_PER_IP; i++)
            close(idle[i]);
    }
    ck_assert_msg(refused == 0, "the server would not keep %d connections from one address",
                  API_CONNECTIONS_PER_IP);
    struct http_client_response response;
    int status = http_fixture_call(&hx, &response, "GET", "/healthz", NULL, NULL, NULL);
    http_client_response_free(&response);
    for (int i = 0; i < API_CONNECTIONS_PER_IP; i++)
        close(idle[i]);
    ck_assert_msg(status == 0, "connection %d from one address answered %d",
                  API_CONNECTIONS_PER_IP + 1, status);
    sleep_ms(300);
    ck_assert(http_fixture_healthy(&hx));
}
END_TEST

/* A trusted proxy carries many clients' connections: the per-address
 * limit does not apply to it (the limit in all still does). */
START_TEST(trusted_proxy_not_limited_per_address)
{
    enum { OPENED = API_CONNECTIONS_PER_IP + 16 };
    int idle[OPENED];
    for (int i = 0; i < OPENED; i++) {
        idle[i] = http_client_connect(hx.server.port);
        ck_assert_int_ge(idle[i], 0);
    }
    sleep_ms(300);
    int refused = closed_by_server(idle, OPENED);
    bool healthy = http_fixture_healthy(&hx);
    for (int i = 0; i < OPENED; i++)
        close(idle[i]);
    ck_assert_msg(refused == 0, "%d of %d connections from the trusted proxy were refused", refused,
                  OPENED);
    ck_assert(healthy);
}
END_TEST

/* Open connections per worker, from /metrics asked on a connection the
 * server already holds; the sum, or -1 when the answer has no such lines. */
static long worker_connections(int socket_fd, long counts[], size_t counts_max, size_t *workers)
{
    static const char request[] = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    struct http_client_response response;
    ck_assert(http_client_send(socket_fd, request, sizeof request - 1, 5000));
    ck_assert_int_eq(http_client_receive(socket_fd, &response, 5000), 0);
    ck_assert_int_eq(response.status, 200);
    static const char name[] = "caseledger_http_worker_connections{worker=\"";
    long sum = 0;
    *workers = 0;
    for (const char *at = strstr(response.body, name); at != NULL; at = strstr(at + 1, name)) {
        unsigned long index = 0;
        long count = 0;
        ck_assert_int_eq(sscanf(at + sizeof name - 1, "%lu\"} %ld", &index, &count), 2);
        ck_assert_uint_lt(index, counts_max);
        counts[index] = count;
        sum += count;
        (*workers)++;
    }
    http_client_response_free(&response);
    return *workers > 0 ? sum : -1;
}

/* Many connections opened at once are spread over the workers: each holds
 * its share (N / workers, rounded up), one more at most should a
 * connection of an earlier test still have been closing meanwhile.
 * (libmicrohttpd's own pool let whichever worker woke first accept: one
 * could take them all.) Counted only when the server holds exactly the N
 * connections, no older one. */
START_TEST(connections_spread_over_workers)
{
    enum { OPENED = HTTP_FIXTURE_THREADS * 4 };
    int sockets[OPENED];
    long counts[HTTP_FIXTURE_THREADS] = {0};
    size_t workers = 0;
    long sum = -1;
    for (int attempt = 0; attempt < 5 && sum != OPENED; attempt++) {
        sleep_ms(300);
        for (int i = 0; i < OPENED; i++) {
            sockets[i] = http_client_connect(hx.server.port);
            ck_assert_int_ge(sockets[i], 0);
        }
        sleep_ms(200);
        sum = worker_connections(sockets[0], counts, HTTP_FIXTURE_THREADS, &workers);
        for (int i = 0; i < OPENED; i++)
            close(sockets[i]);
    }
    ck_assert_int_eq(sum, OPENED);
    ck_assert_uint_eq(workers, HTTP_FIXTURE_THREADS);
    long share = (OPENED + HTTP_FIXTURE_THREADS - 1) / HTTP_FIXTURE_THREADS;
    for (size_t i = 0; i < workers; i++)
        ck_assert_msg(counts[i] <= share + 1, "worker %zu holds %ld of %d connections", i,
                      counts[i], OPENED);
}
END_TEST

/* RFC 9110 section 8.3.1: media type names are case-insensitive. */
START_TEST(media_type_case_insensitive)
{
    const char *headers[] = {NULL, "Content-Type: Application/JSON"};
    char auth[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", hx.tokens.auditor);
    headers[0] = auth;
    struct http_client_response response;
    int status = http_fixture_call_headers(&hx, &response, "POST", VERIFY, headers, 2, "{}", 2);
    http_client_response_free(&response);
    ck_assert_msg(status == 200, "Content-Type: Application/JSON answered %d", status);
}
END_TEST

/* ---- the largest amount ------------------------------------------------------ */

static int post_receipt(const char *amount, const char *key, long long *entry_amount)
{
    char auth[128];
    char key_line[64];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", hx.tokens.clerk);
    snprintf(key_line, sizeof key_line, "Idempotency-Key: %s", key);
    const char *lines[3] = {auth, "Content-Type: application/json", key_line};
    char body[256];
    snprintf(body, sizeof body, RECEIPT_WITH("%s"), amount);
    struct http_client_response response;
    int status = http_fixture_call_headers(&hx, &response, "POST", "/v1/receipts", lines, 3, body,
                                           strlen(body));
    char code[64] = "";
    http_fixture_problem_code(&response, code, sizeof code);
    json_t *json = http_fixture_json(&response);
    *entry_amount = json_integer_value(json_object_get(json, "amount"));
    json_decref(json);
    http_client_response_free(&response);
    ck_assert_msg(status != 422 || strcmp(code, "amount_too_large") == 0, "code %s", code);
    return status;
}

/* One receipt over the largest amount is refused and books nothing; one of
 * exactly the largest amount is booked. */
START_TEST(largest_amount_booked)
{
    http_fixture_start(&hx, HTTP_FIXTURE_THREADS);
    char *before = fixture_books_digest(&hx.db);
    long long amount = 0;
    ck_assert_int_eq(post_receipt(AMOUNT_OVER_MAX, "max-1", &amount), 422);
    char *after = fixture_books_digest(&hx.db);
    ck_assert_str_eq(before, after);
    free(after);
    free(before);
    ck_assert_int_eq(post_receipt(AMOUNT_MAX, "max-2", &amount), 201);
    ck_assert_int_eq(amount, 1000000000000LL);
    ck_assert_int_eq(
        fixture_query_int(&hx.db, "SELECT -balance FROM accounts WHERE case_no = '" BAD_CASE "'"),
        100000 + 1000000000000LL);
    ck_assert_int_eq(http_fixture_stop(&hx), 0);
    ck_assert_int_eq(http_fixture_verify(&hx), 0);
}
END_TEST

/* ---- uploads: refused from their headers, and bounded in all ---------------- */

#define UPLOAD_PATH "/v1/statements?bank_account_no=CUSTODY-1&format=mt940"
#define UPLOAD_DECLARED 50000000 /* bytes promised (under API_STATEMENT_BODY_MAX), never sent */

/* Sends only the headers of an upload of declared bytes (token may be NULL)
 * and reads the answer: the server must answer and close without waiting
 * for the body. Returns the status (0: no answer in time); the response is
 * left to the caller. */
static int upload_headers_only(struct http_client_response *response, const char *token,
                               size_t declared, int timeout_ms)
{
    char head[512];
    char authorization[128] = "";
    if (token != NULL)
        snprintf(authorization, sizeof authorization, "Authorization: Bearer %s\r\n", token);
    int length = snprintf(head, sizeof head,
                          "POST " UPLOAD_PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                          "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
                          authorization, declared);
    ck_assert_int_lt(length, (int)sizeof head);
    int socket_fd = http_client_connect(hx.server.port);
    ck_assert_int_ge(socket_fd, 0);
    ck_assert(http_client_send(socket_fd, head, (size_t)length, RAW_TIMEOUT_MS));
    int result = http_client_receive(socket_fd, response, timeout_ms);
    close(socket_fd);
    return result == 0 ? response->status : 0;
}

static void expect_refused_at_once(const char *token, int want_status, const char *want_code)
{
    struct http_client_response response;
    int status = upload_headers_only(&response, token, UPLOAD_DECLARED, 3000);
    char code[64] = "";
    http_fixture_problem_code(&response, code, sizeof code);
    const char *connection = status != 0 ? http_client_header(&response, "Connection") : NULL;
    bool closes = connection != NULL && strcasecmp(connection, "close") == 0;
    char error[128];
    snprintf(error, sizeof error, "%s", response.error);
    http_client_response_free(&response);
    ck_assert_msg(status == want_status,
                  "the headers of an upload answered %d (want %d at once, before the body): %s",
                  status, want_status, error);
    ck_assert_str_eq(code, want_code);
    ck_assert_msg(closes, "the answer before the body does not close the connection");
}

/* POST /v1/statements without a token (or with a role that may not
 * upload) is refused from its headers: 401/403 at once and the connection
 * closed, not after 50 MB were read and held. */
START_TEST(upload_refused_before_its_body)
{
    expect_refused_at_once(NULL, 401, "unauthenticated");
    expect_refused_at_once("0000000000000000000000000000000000000000000000000000000000000000", 401,
                           "unauthenticated");
    expect_refused_at_once(hx.tokens.auditor, 403, "forbidden_role");
    ck_assert(http_fixture_healthy(&hx));
    /* Logged (and counted) under their route, like any other answer. */
    char *log = http_fixture_log(&hx);
    bool logged = false;
    for (char *line = strtok(log, "\n"); line != NULL && !logged; line = strtok(NULL, "\n"))
        logged = strstr(line, "\"route\":\"/v1/statements\"") != NULL &&
                 strstr(line, "\"status\":403") != NULL;
    free(log);
    ck_assert_msg(logged, "no log line of the 403 under the route /v1/statements");
}
END_TEST

#define INFLIGHT_BODY_MAX "100000"
#define INFLIGHT_STATEMENT_MAX 600000
#define INFLIGHT_BUDGET "1000000" /* one statement upload fits, two do not */

static void inflight_start(void)
{
    static const char *const args[] = {
        "--body-max", INFLIGHT_BODY_MAX,        "--statement-body-max",
        "600000",     "--bodies-in-flight-max", INFLIGHT_BUDGET,
        NULL};
    _Static_assert(INFLIGHT_STATEMENT_MAX == 600000, "the argument above");
    http_fixture_start_with(&hx, HTTP_FIXTURE_THREADS, args);
    free(batch_digest);
    batch_digest = fixture_books_digest(&hx.db);
}

/* Opens an upload of declared bytes (as the clerk), sends its headers and
 * the first bytes of its body, and leaves it hanging: the socket. */
static int upload_begun(size_t declared)
{
    char head[512];
    int length = snprintf(head, sizeof head,
                          "POST " UPLOAD_PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                          "Bearer %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n"
                          ":20:INFLIGHT\n",
                          hx.tokens.clerk, declared);
    ck_assert_int_lt(length, (int)sizeof head);
    int socket_fd = http_client_connect(hx.server.port);
    ck_assert_int_ge(socket_fd, 0);
    ck_assert(http_client_send(socket_fd, head, (size_t)length, RAW_TIMEOUT_MS));
    return socket_fd;
}

/* The bytes of bodies being received are bounded server-wide: while one
 * statement upload holds most of the budget, a second is refused from its
 * headers (503 busy, Retry-After, closed); a small JSON body still fits;
 * once the first is gone the budget is back. */
START_TEST(bodies_in_flight_bounded)
{
    int first = upload_begun(INFLIGHT_STATEMENT_MAX);
    sleep_ms(300);
    struct http_client_response response;
    int status = upload_headers_only(&response, hx.tokens.clerk, INFLIGHT_STATEMENT_MAX, 3000);
    char code[64] = "";
    http_fixture_problem_code(&response, code, sizeof code);
    const char *retry_after = status != 0 ? http_client_header(&response, "Retry-After") : NULL;
    bool has_retry = retry_after != NULL && atoi(retry_after) >= 1;
    http_client_response_free(&response);
    ck_assert_msg(status == 503, "a second upload past the budget answered %d", status);
    ck_assert_str_eq(code, "busy");
    ck_assert_msg(has_retry, "503 busy without Retry-After");
    ck_assert_int_eq(
        http_fixture_call(&hx, &response, "POST", VERIFY, hx.tokens.auditor, NULL, "{}"), 200);
    http_client_response_free(&response);
    close(first);
    /* The first upload's bytes come back when the server sees it gone. */
    for (int attempt = 0; attempt < 50 && status == 503; attempt++) {
        sleep_ms(100);
        int socket_fd = upload_begun(INFLIGHT_STATEMENT_MAX);
        struct pollfd probe = {.fd = socket_fd, .events = POLLIN};
        status = poll(&probe, 1, 300) > 0 ? 503 : 0; /* answered at once: refused */
        close(socket_fd);
    }
    ck_assert_msg(status == 0, "the budget did not come back after the upload was dropped");
}
END_TEST

/* ---- batches ---------------------------------------------------------------- */

static void batch_start(void)
{
    http_fixture_start(&hx, HTTP_FIXTURE_THREADS);
    free(batch_digest);
    batch_digest = fixture_books_digest(&hx.db);
}

static void batch_stop(void)
{
    if (hx.running)
        (void)http_fixture_stop(&hx);
}

static void proxied_start(void)
{
    static const char *const args[] = {"--trusted-proxies", "127.0.0.1", NULL};
    http_fixture_start_with(&hx, HTTP_FIXTURE_THREADS, args);
    free(batch_digest);
    batch_digest = fixture_books_digest(&hx.db);
}

/* The last test of each batch: still serving, books untouched, exit 0. */
START_TEST(batch_end)
{
    ck_assert_msg(http_fixture_healthy(&hx), "the server stopped answering /healthz");
    char *now = fixture_books_digest(&hx.db);
    ck_assert_msg(strcmp(now, batch_digest) == 0, "the batch changed the books");
    free(now);
    ck_assert_int_eq(http_fixture_stop(&hx), 0);
    ck_assert_int_eq(http_fixture_verify(&hx), 0);
}
END_TEST

static TCase *batch(const char *name)
{
    TCase *tcase = tcase_create(name);
    tcase_add_unchecked_fixture(tcase, batch_start, batch_stop);
    tcase_set_timeout(tcase, TEST_TIMEOUT_S);
    return tcase;
}

Suite *http_badinput_suite(void)
{
    Suite *suite = suite_create("http_badinput");
    TCase *json = batch("json");
    tcase_add_loop_test(json, json_row, 0, ROWS(json_rows));
    tcase_add_test(json, batch_end);
    suite_add_tcase(suite, json);

    TCase *fields = batch("fields");
    tcase_add_loop_test(fields, field_row, 0, ROWS(field_rows));
    tcase_add_test(fields, batch_end);
    suite_add_tcase(suite, fields);

    TCase *headers = batch("headers");
    tcase_add_loop_test(headers, header_row, 0, ROWS(header_rows));
    tcase_add_test(headers, media_type_case_insensitive);
    tcase_add_test(headers, batch_end);
    suite_add_tcase(suite, headers);

    TCase *routes = batch("routes");
    tcase_add_loop_test(routes, route_row, 0, ROWS(route_rows));
    tcase_add_test(routes, batch_end);
    suite_add_tcase(suite, routes);

    TCase *http = batch("http");
    tcase_add_loop_test(http, http_row, 0, ROWS(http_rows));
    tcase_add_test(http, batch_end);
    suite_add_tcase(suite, http);

    TCase *largest = tcase_create("largest_amount");
    tcase_set_timeout(largest, TEST_TIMEOUT_S);
    tcase_add_checked_fixture(largest, NULL, batch_stop);
    tcase_add_test(largest, largest_amount_booked);
    suite_add_tcase(suite, largest);

    TCase *uploads = batch("uploads");
    tcase_add_test(uploads, upload_refused_before_its_body);
    tcase_add_test(uploads, batch_end);
    suite_add_tcase(suite, uploads);

    TCase *inflight = tcase_create("inflight");
    tcase_add_unchecked_fixture(inflight, inflight_start, batch_stop);
    tcase_set_timeout(inflight, TEST_TIMEOUT_S);
    tcase_add_test(inflight, bodies_in_flight_bounded);
    tcase_add_test(inflight, batch_end);
    suite_add_tcase(suite, inflight);

    TCase *proxied = tcase_create("proxied");
    tcase_add_unchecked_fixture(proxied, proxied_start, batch_stop);
    tcase_set_timeout(proxied, TEST_TIMEOUT_S);
    tcase_add_test(proxied, trusted_proxy_not_limited_per_address);
    tcase_add_test(proxied, batch_end);
    suite_add_tcase(suite, proxied);

    TCase *connections = batch("connections");
    tcase_add_test(connections, requests_cut_off);
    tcase_add_test(connections, slow_client_answered);
    tcase_add_test(connections, stalled_clients_do_not_block);
    tcase_add_test(connections, connections_per_address_bounded);
    tcase_add_test(connections, connections_spread_over_workers);
    tcase_add_test(connections, batch_end);
    suite_add_tcase(suite, connections);
    return suite;
}

int main(void)
{
    http_fixture_setup(&hx, "httpbad");
    struct ledger *ledger = fixture_ledger(&hx.db);
    fixture_open_case(ledger, BAD_CASE, NULL);
    fixture_open_case(ledger, BAD_CASE_2, NULL);
    fixture_receipt(ledger, BAD_CASE, 100000, "bad-seed-r1");
    ledger_close(ledger);
    SRunner *runner = srunner_create(http_badinput_suite());
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    free(batch_digest);
    http_fixture_teardown(&hx);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Every limit of caseledger, named, in one place. */
#ifndef LEDGER_LIMITS_H
#define LEDGER_LIMITS_H

/* Money */
#define LEDGER_AMOUNT_TEXT_MAX 32 /* bytes of a decimal amount string */
#define LEDGER_CURRENCY_SIZE 4    /* "CNY" + NUL */

/* Accounts and cases */
#define LEDGER_CASE_NO_MAX 128 /* bytes of a case number (UTF-8) */
#define LEDGER_COURT_MAX 256
#define LEDGER_TITLE_MAX 512
#define LEDGER_NAME_MAX 256 /* payee / payer / user names */
#define LEDGER_BANK_ACCOUNT_MAX 64
#define LEDGER_PAYIN_DIGITS 16      /* digits of a pay-in number incl. 2 check digits */
#define LEDGER_ACCESS_CODE_CHARS 16 /* 16 x 5 bits = 80 bits of entropy */

/* Journal */
#define LEDGER_POSTINGS_MAX 64 /* postings of one entry */
#define LEDGER_MEMO_MAX 512    /* reason / purpose / memo text */
#define LEDGER_BANK_REF_MAX 128
#define LEDGER_IDEMPOTENCY_KEY_MAX 128
#define LEDGER_KIND_MAX 32

/* Group commit */
#define LEDGER_BATCH_MAX 512       /* entries in one commit */
#define LEDGER_QUEUE_MAX 65536     /* requests waiting for the committer */
#define LEDGER_RETRY_MAX 8         /* retries of a serialization failure */
#define LEDGER_GATHER_WAIT_US 1000 /* longest wait for a batch to fill (see booking.c) */

/* Connections (store.c): a lost connection is opened again when its handle
 * is next taken, at most once per delay; the delay doubles from the least
 * to the most while the database stays away. */
#define LEDGER_RECONNECT_DELAY_MIN_MS 50
#define LEDGER_RECONNECT_DELAY_MAX_MS 1000
/* libpq connect_timeout, and TCP keepalives that notice a peer gone without
 * a word in 25 s; the DSN's own values win. */
#define LEDGER_CONNECT_TIMEOUT_S "5"
#define LEDGER_KEEPALIVES_IDLE_S "10"
#define LEDGER_KEEPALIVES_INTERVAL_S "5"
#define LEDGER_KEEPALIVES_COUNT "3"

/* Verification */
#define LEDGER_VERIFY_PAGE 2000 /* entries read per query while verifying */

/* HTTP API (api/) */
#define API_BODY_MAX (1024 * 1024)                /* bytes of a JSON request body: 413 past it */
#define API_STATEMENT_BODY_MAX (64 * 1024 * 1024) /* bytes of an uploaded statement file: 413 */
#define API_MAPPING_NAME_MAX 64                   /* bytes of a CSV mapping's name */
#define API_ENCODING_NAME_MAX 32                  /* bytes of a character set name */
#define API_JSON_DEPTH_MAX 8                      /* nesting of a JSON request body */
#define API_JSON_STRING_MAX 4096                  /* bytes of any JSON string in a request */
#define API_HEADER_MEMORY 32768                   /* per-connection memory for headers (431/413) */
#define API_CONNECTIONS_MAX 512                   /* open connections */
#define API_CONNECTIONS_PER_IP 64
#define API_LISTEN_BACKLOG 512    /* connections the kernel holds until accepted */
#define API_ACCEPT_BURST_MAX 64   /* accepted in a row before polling again */
#define API_ACCEPT_PAUSE_MS 100   /* out of descriptors or memory: accepting pauses */
#define API_REQUEST_TIMEOUT_S 30  /* idle connection / slow request timeout */
#define API_SHUTDOWN_QUIET_MS 300 /* no request running this long: stop */
#define API_THREADS_DEFAULT 16    /* MHD worker threads = database handles */
#define API_POOL_WAIT_MS 5000     /* waiting for a free database handle: 503 past it */
#define API_LOCK_WAIT_MS                                                                           \
    10000                        /* a request's wait for a lock (an import holds the chain         \
                                    head to its end): 503 busy past it; --lock-wait-ms */
#define API_BUSY_RETRY_AFTER_S 5 /* Retry-After of that 503 */
/* Retry-After of a 503 while the database is away */
#define API_UNAVAILABLE_RETRY_AFTER_S 1
#define API_LIST_LIMIT_DEFAULT 50
#define API_LIST_LIMIT_MAX 1000
#define API_STATUS_FAILURES_PER_IP 10  /* wrong status lookups per window per client */
#define API_STATUS_FAILURES_PER_CASE 5 /* wrong status lookups per window per case */
#define API_STATUS_WINDOW_S 600
#define API_RATE_SLOTS 4096        /* tracked clients/cases (oldest forgotten first) */
#define API_TOKEN_CACHE_US 2000000 /* a bearer token's user is re-read after this */

#endif

/* Every limit of caseledger, named, in one place. */
#ifndef LEDGER_LIMITS_H
#define LEDGER_LIMITS_H

#include <stdint.h> /* INT64_MAX */

/* Money */
#define LEDGER_AMOUNT_TEXT_MAX 32 /* bytes of a decimal amount string */
/* The largest amount of one entry (a receipt, payout, transfer) and of one
 * statement line, in minor units, unless configured (--amount-max): one
 * amount near bigint's limit would pin the custody account, every later
 * booking failing with numeric overflow. 10,000,000,000.00 of a currency
 * with two decimals: more than any court deposit, 9.2 million times below
 * the limit. */
#define LEDGER_AMOUNT_MAX_DEFAULT 1000000000000LL
/* The largest that may be configured: the database's own ceiling
 * (sql/functions/cl_amount_max.sql, which refuses more whoever books), so
 * the option only lowers it. (A collective entry of LEDGER_POSTINGS_MAX - 1
 * such lines stays far from overflow.) */
#define LEDGER_AMOUNT_MAX_LIMIT LEDGER_AMOUNT_MAX_DEFAULT
#define LEDGER_CURRENCY_SIZE 4 /* "CNY" + NUL */

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

/* Working-day calendar (calendar.c, etc/holidays/YYYY.txt) */
/* The longest time limit, in days: 10 years, where the court's rules count
 * 3 to 30 days; it bounds the walk to a due day. */
#define LEDGER_CALENDAR_DAYS_MAX 3660
/* The longest span walked, in days (an age, or the calendar days a due day
 * of LEDGER_CALENDAR_DAYS_MAX working days may need): 100 years, one bit
 * test a day. */
#define LEDGER_CALENDAR_SPAN_MAX 36600
#define LEDGER_CALENDAR_YEARS_MAX 200    /* year files in the directory */
#define LEDGER_CALENDAR_ENTRIES_MAX 4096 /* directory entries looked at */
#define LEDGER_CALENDAR_FILE_MAX 65536   /* bytes of one year file: 366 lines with comments */
#define LEDGER_CALENDAR_LINE_MAX 256     /* bytes of one line, without its newline */

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
#define API_BODIES_IN_FLIGHT_MAX                                                                   \
    ((size_t)256 * 1024 * 1024) /* bytes of request bodies held at once, server-wide: 503 busy     \
                                   past it; --bodies-in-flight-max */
#define API_UPLOAD_BUSY_RETRY_AFTER_S 2 /* Retry-After of that 503 */
/* Status lookups by applicants. A client address (an IPv6 one by its /64)
 * may fail 10 times per 600 s window: 1,440 wrong guesses a day at most,
 * against codes of 80 bits (README: the guessing bound). One address and
 * one case: 5 failures, then a lock of 60 s that doubles with each further
 * failure (up to a day), forgotten 600 s after the lock ends. No lock
 * holds a case for everyone: nobody can lock a chosen applicant out. */
#define API_STATUS_FAILURES_PER_IP 10         /* wrong status lookups per window per client */
#define API_STATUS_FAILURES_PER_CLIENT_CASE 5 /* then the client's lock on that case */
#define API_STATUS_WINDOW_S 600
#define API_STATUS_BACKOFF_S 60                 /* the first lock of a client on a case */
#define API_STATUS_BACKOFF_MAX_S (24 * 60 * 60) /* the longest */
#define API_RATE_SLOTS 65536       /* tracked counters: buckets of API_RATE_BUCKET_SLOTS */
#define API_RATE_BUCKET_SLOTS 8    /* a full bucket forgets its expired, else least recent */
#define API_TRUSTED_PROXIES_MAX 32 /* --trusted-proxies entries */
#define API_FORWARDED_HOPS_MAX 32  /* X-Forwarded-For addresses looked at, right to left */
#define API_METRICS_TOKEN_MAX 256  /* bytes of the --metrics-token-file token */
#define API_METRICS_TOKEN_MIN 16
#define API_TOKEN_CACHE_US 2000000 /* a bearer token's user is re-read after this */

_Static_assert(LEDGER_AMOUNT_MAX_LIMIT <= INT64_MAX / LEDGER_POSTINGS_MAX,
               "a collective entry of the largest lines does not overflow");

#endif

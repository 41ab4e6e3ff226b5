/* What the files of the HTTP server share; not for handlers. */
#ifndef API_SERVER_INTERNAL_H
#define API_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <netinet/in.h>

#include <microhttpd.h>

#include "routes.h"
#include "server.h"

/* ---- pool of ledger handles (pool.c) ---- */

struct api_pool {
    pthread_mutex_t mutex;
    pthread_cond_t available;
    size_t size;
    size_t free_count;
    struct ledger **handles; /* all, owned */
    struct ledger **free;    /* stack of free ones */
    atomic_size_t in_use;
    atomic_llong reconnects; /* lost connections of handles opened again */
};

enum ledger_err api_pool_open(struct api_pool *pool, size_t size,
                              const struct ledger_config *config,
                              struct ledger_committer *committer, char *detail, size_t detail_size);
void api_pool_close(struct api_pool *pool);
/* NULL when none came free within API_POOL_WAIT_MS. */
struct ledger *api_pool_acquire(struct api_pool *pool);
void api_pool_release(struct api_pool *pool, struct ledger *ledger);

/* ---- rate limiting (ratelimit.c) ----
 *
 * Failure counters by key (e.g. "status-client:203.0.113.7"), each under a
 * rule: at most failures_max failures, then locked. A bounded table in
 * buckets: checking a key never changes another key's state; a failure
 * takes a free or expired entry of its bucket, and only in a bucket full
 * of live entries the least recent one (see ratelimit.c). */

#define API_RATE_DIGEST_SIZE 16

struct api_rate_rule {
    uint32_t failures_max; /* failures that lock the key */
    int64_t window_s;      /* backoff_s 0: failures counted in fixed windows of this length,
                              locked to the window's end; else: kept this long after the last
                              failure or lock */
    int64_t backoff_s;     /* 0, or the first lock, doubled by each further failure */
    int64_t backoff_max_s; /* the longest lock */
};

struct api_rate_entry {
    uint8_t key_digest[API_RATE_DIGEST_SIZE];
    int64_t window_start_s;
    int64_t last_failure_s;
    int64_t blocked_until_s;
    int64_t expires_s; /* forgotten from then on */
    uint32_t failures;
    bool used;
};

struct api_rate_limiter {
    pthread_mutex_t mutex;
    uint8_t hash_key[16];           /* keyed hashes: clients cannot aim at buckets */
    struct api_rate_entry *entries; /* owned: buckets_count * API_RATE_BUCKET_SLOTS */
    size_t buckets_count;
};

/* A table of slots_count entries (a multiple of API_RATE_BUCKET_SLOTS);
 * false when it cannot be had. */
bool api_rate_init(struct api_rate_limiter *limiter, size_t slots_count);
void api_rate_destroy(struct api_rate_limiter *limiter);
/* Seconds of the monotonic clock: the now_s of the calls below. */
int64_t api_rate_now_s(void);
/* true when key is not locked at now_s; else *retry_after_s is how long it
 * stays locked (at least 1). Changes nothing. */
bool api_rate_allowed(struct api_rate_limiter *limiter, const char *key, int64_t now_s,
                      int64_t *retry_after_s);
/* Counts a failure of key under rule at now_s. */
void api_rate_failed(struct api_rate_limiter *limiter, const char *key,
                     const struct api_rate_rule *rule, int64_t now_s);
/* The bucket key falls in (for tests that need two keys to share one). */
size_t api_rate_bucket_of(const struct api_rate_limiter *limiter, const char *key);

/* ---- client addresses (client_address.c) ----
 *
 * Behind a reverse proxy every connection comes from the proxy. The
 * addresses of --trusted-proxies (addresses or CIDR prefixes) are the only
 * peers whose X-Forwarded-For is read: the client is the right-most address
 * in it that is not itself a trusted proxy. From any other peer the header
 * is ignored: the peer is the client. */

struct api_address_prefix {
    int family; /* AF_INET or AF_INET6 */
    uint8_t address[16];
    unsigned prefix_bits;
};

struct api_trusted_proxies {
    size_t count;
    struct api_address_prefix prefixes[API_TRUSTED_PROXIES_MAX];
};

/* Parses "127.0.0.1, 10.0.0.0/8, ::1" (commas or blanks between); false on
 * any malformed entry or more than API_TRUSTED_PROXIES_MAX. */
bool api_trusted_proxies_parse(struct api_trusted_proxies *proxies, const char *text);
/* The client's address as text into out: the peer, or for a trusted peer
 * the right-most untrusted address of forwarded_for (the X-Forwarded-For
 * values in the order received; forwarded_count of them, may be 0). */
void api_client_address_resolve(char *out, size_t out_size,
                                const struct api_trusted_proxies *proxies,
                                const struct sockaddr *peer, const char *const *forwarded_for,
                                size_t forwarded_count);
/* Whether peer (any socket address, may be NULL) is a trusted proxy. */
bool api_peer_trusted(const struct api_trusted_proxies *proxies, const struct sockaddr *peer);
/* The key a client is counted under: its address, an IPv6 address reduced
 * to its /64 (one subscriber's usual allocation). */
void api_client_rate_key(char *out, size_t out_size, const char *address);

/* ---- metrics (metrics.c) ---- */

#define API_ROUTES_MAX 64
#define API_LATENCY_BUCKETS 12
struct api_metrics {
    /* [route index or API_ROUTES_MAX for unmatched][status 100..599] */
    atomic_uint_fast64_t requests[API_ROUTES_MAX + 1][500];
    atomic_uint_fast64_t latency_buckets[API_LATENCY_BUCKETS]; /* cumulative at render */
    atomic_uint_fast64_t latency_count;
    atomic_uint_fast64_t latency_sum_us;
};

void api_metrics_record(struct api_metrics *metrics, size_t route_index, unsigned status,
                        int64_t duration_us);
struct api_listener;
/* Reads --metrics-token-file (a file no one else may read) into the
 * server; LEDGER_OK at once without one. Else an error with detail. */
struct api_server;
enum ledger_err api_metrics_token_load(struct api_server *server, char *detail, size_t detail_size);
/* Whether authorization (the header's value, may be NULL) may read
 * /metrics: always without a token configured. */
bool api_metrics_allowed(const struct api_server *server, const char *authorization);
/* Prometheus text of everything, as a new string (free()). */
char *api_metrics_render(const struct api_metrics *metrics, const struct api_pool *pool,
                         struct ledger_committer *committer, const struct api_listener *listener);

/* ---- connections (listener.c) ----
 *
 * Our own listening socket and accept thread hand each connection to the
 * worker (one libmicrohttpd daemon with one thread, started without a
 * listening socket) that holds the fewest, after checking the limits on
 * open connections in all and per client address. */

struct api_worker {
    struct api_listener *listener;
    struct MHD_Daemon *daemon;
    atomic_size_t connections; /* handed to it and not yet closed */
};

struct api_address_slot {
    uint8_t address[16]; /* IPv4 in the first 4 bytes, or IPv6 */
    int family;          /* 0: a free slot */
    uint32_t connections;
};

struct api_listener {
    bool open;                                 /* started, not yet closed */
    const struct api_trusted_proxies *proxies; /* the server's: no per-address limit for them */
    int listen_fd;
    int wake_fd; /* an eventfd: written to stop the accept thread */
    pthread_t thread;
    bool thread_started;
    struct api_worker *workers;
    size_t workers_count;
    size_t next_worker; /* where the search for the least busy starts (accept thread only) */
    pthread_mutex_t mutex;
    size_t connections;                                     /* open in all (under mutex) */
    struct api_address_slot addresses[API_CONNECTIONS_MAX]; /* per client address (under mutex) */
    atomic_uint_fast64_t refused; /* connections closed at once: over a limit */
};

/* Starts workers_count worker daemons (options: the request callbacks,
 * timeouts and memory per connection), listens on address:port (port 0: any
 * free port, *port_bound tells which) and starts accepting. false after
 * writing why into detail, with nothing left running. */
bool api_listener_start(struct api_listener *listener, struct api_server *server,
                        const struct sockaddr_in *address, size_t workers_count,
                        unsigned *port_bound, char *detail, size_t detail_size);
/* A worker's notice of a connection's start and end (its cls: the worker). */
void api_listener_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                         enum MHD_ConnectionNotificationCode code);
/* Starts one worker daemon of the server (server.c), or NULL. */
struct MHD_Daemon *api_server_worker_start(struct api_server *server, struct api_worker *worker);
/* Stops accepting and closes the listening socket; the workers keep
 * serving the connections they hold. */
void api_listener_stop_accepting(struct api_listener *listener);
/* Stops the workers (closing every connection) and frees everything. */
void api_listener_close(struct api_listener *listener);

/* ---- the server ---- */

struct api_token_entry {
    uint8_t token_hash[32];
    char user[LEDGER_NAME_MAX + 1];
    unsigned role;
    int64_t stored_at_us;
    bool used;
};
#define API_TOKEN_CACHE_SLOTS 64

struct api_server {
    struct api_server_config config;
    struct api_listener listener;
    struct ledger_committer *committer;
    struct api_pool pool;
    struct api_rate_limiter limiter;
    struct api_metrics *metrics;
    struct ledger_keyring keyring;
    bool has_keyring;
    pthread_mutex_t token_mutex;
    struct api_token_entry tokens[API_TOKEN_CACHE_SLOTS];
    struct api_trusted_proxies proxies;
    atomic_size_t bodies_in_flight;                /* bytes reserved by request bodies */
    char metrics_token[API_METRICS_TOKEN_MAX + 1]; /* "" when /metrics is public */
    atomic_size_t requests_open;                   /* begun and not yet completed */
    atomic_bool stopping; /* shutdown begun: answers close their connection */
};

/* Per request: lives from the first callback to MHD's completion notice. */
struct api_request {
    struct api_server *server;
    struct MHD_Connection *connection;
    char request_id[17];
    int64_t started_us;
    char method[8];
    char path[1024];
    const struct api_route *route; /* NULL: no route has this method and path */
    char *body;
    size_t body_size;
    size_t body_capacity;
    size_t body_max;      /* of the route: statement_body_max for file bodies, else body_max */
    size_t body_declared; /* Content-Length; 0 when none */
    size_t body_reserved; /* bytes counted in server->bodies_in_flight */
    bool body_too_large;
    bool body_busy;    /* past the server's bytes in flight: 503 */
    bool body_discard; /* a body nobody will read (unknown route, none taken): counted, not kept */
    bool authorised;   /* the token and role were checked from the headers */
    bool close_after;  /* answered before its body: the connection closes */
    unsigned role;
    bool bad_framing; /* e.g. two Content-Length headers that disagree */
    bool responded;
    unsigned status;
    size_t route_index;
    char user[LEDGER_NAME_MAX + 1];
    char client_address[64];
#define API_QUERY_SLOTS 4
    char query_values[API_QUERY_SLOTS][512]; /* decoded query values handed out */
    size_t query_used;
};

/* Checks the bearer token (cached by the token's hash for a moment). */
enum ledger_err api_auth_token(struct api_server *server, struct ledger *ledger,
                               const char *authorization, char user[LEDGER_NAME_MAX + 1],
                               unsigned *role);

/* Builds the MHD response of an api_response (takes its json). */
struct MHD_Response *api_response_build(struct api_request *request, struct api_response *response);

#endif

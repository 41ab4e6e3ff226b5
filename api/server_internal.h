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

/* ---- rate limiting (ratelimit.c) ---- */

struct api_rate_slot {
    uint64_t key_hash;
    int64_t window_start_s;
    uint32_t failures;
};

struct api_rate_limiter {
    pthread_mutex_t mutex;
    uint8_t hash_key[16]; /* keyed hashes: clients cannot aim at slots */
    struct api_rate_slot slots[API_RATE_SLOTS];
};

void api_rate_init(struct api_rate_limiter *limiter);
void api_rate_destroy(struct api_rate_limiter *limiter);
/* true when key (e.g. "ip:1.2.3.4") is under limit failures in the current
 * window; else *retry_after_s is when the window ends. */
bool api_rate_allowed(struct api_rate_limiter *limiter, const char *key, uint32_t limit,
                      int64_t window_s, int64_t *retry_after_s);
void api_rate_failed(struct api_rate_limiter *limiter, const char *key, int64_t window_s);

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
    bool open; /* started, not yet closed */
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
    atomic_size_t requests_open; /* begun and not yet completed */
    atomic_bool stopping;        /* shutdown begun: answers close their connection */
};

/* Per request: lives from the first callback to MHD's completion notice. */
struct api_request {
    struct api_server *server;
    struct MHD_Connection *connection;
    char request_id[17];
    int64_t started_us;
    char method[8];
    char path[1024];
    char *body;
    size_t body_size;
    size_t body_capacity;
    size_t body_max; /* of the route: statement_body_max for file bodies, else body_max */
    bool body_too_large;
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

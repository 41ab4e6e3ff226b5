/* Prometheus text: requests by route and status, a latency histogram,
 * entries booked, database handles in use. With --metrics-token-file the
 * page asks for that bearer token (Prometheus: bearer_token_file); without
 * it the page is public, as it always was. */
#include "server_internal.h"
#include "text_buffer.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

static const int64_t bucket_bounds_us[API_LATENCY_BUCKETS] = {
    500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000};

void api_metrics_record(struct api_metrics *metrics, size_t route_index, unsigned status,
                        int64_t duration_us)
{
    if (route_index > API_ROUTES_MAX)
        route_index = API_ROUTES_MAX;
    if (status >= 100 && status < 600)
        atomic_fetch_add(&metrics->requests[route_index][status - 100], 1);
    for (size_t i = 0; i < API_LATENCY_BUCKETS; i++) {
        if (duration_us <= bucket_bounds_us[i]) {
            atomic_fetch_add(&metrics->latency_buckets[i], 1);
            break;
        }
    }
    atomic_fetch_add(&metrics->latency_count, 1);
    atomic_fetch_add(&metrics->latency_sum_us, (uint_fast64_t)(duration_us > 0 ? duration_us : 0));
}

static void render_requests(struct api_text *text, const struct api_metrics *metrics)
{
    api_text_printf(text,
                    "# HELP caseledger_http_requests_total HTTP requests by route and status.\n"
                    "# TYPE caseledger_http_requests_total counter\n");
    for (size_t route = 0; route <= API_ROUTES_MAX; route++) {
        const char *name = route < api_routes_count ? api_routes[route].pattern : "unmatched";
        const char *method = route < api_routes_count ? api_routes[route].method : "";
        for (unsigned status = 0; status < 500; status++) {
            uint_fast64_t count = atomic_load(&metrics->requests[route][status]);
            if (count > 0)
                api_text_printf(
                    text,
                    "caseledger_http_requests_total{method=\"%s\",route=\"%s\",status=\"%u\"} "
                    "%llu\n",
                    method, name, status + 100, (unsigned long long)count);
        }
    }
}

static void render_latency(struct api_text *text, const struct api_metrics *metrics)
{
    api_text_printf(text, "# HELP caseledger_http_request_duration_seconds Request latency.\n"
                          "# TYPE caseledger_http_request_duration_seconds histogram\n");
    uint_fast64_t cumulative = 0;
    for (size_t i = 0; i < API_LATENCY_BUCKETS; i++) {
        cumulative += atomic_load(&metrics->latency_buckets[i]);
        api_text_printf(
            text, "caseledger_http_request_duration_seconds_bucket{le=\"%lld.%06lld\"} %llu\n",
            (long long)(bucket_bounds_us[i] / 1000000), (long long)(bucket_bounds_us[i] % 1000000),
            (unsigned long long)cumulative);
    }
    uint_fast64_t count = atomic_load(&metrics->latency_count);
    uint_fast64_t sum_us = atomic_load(&metrics->latency_sum_us);
    api_text_printf(text, "caseledger_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                    (unsigned long long)count);
    api_text_printf(text, "caseledger_http_request_duration_seconds_sum %llu.%06llu\n",
                    (unsigned long long)(sum_us / 1000000), (unsigned long long)(sum_us % 1000000));
    api_text_printf(text, "caseledger_http_request_duration_seconds_count %llu\n",
                    (unsigned long long)count);
}

/* Open connections per worker (how evenly the listener spreads them), and
 * those turned away at once. */
static void render_connections(struct api_text *text, const struct api_listener *listener)
{
    api_text_printf(
        text, "# HELP caseledger_http_worker_connections Open connections per worker thread.\n"
              "# TYPE caseledger_http_worker_connections gauge\n");
    for (size_t i = 0; i < listener->workers_count; i++)
        api_text_printf(text, "caseledger_http_worker_connections{worker=\"%zu\"} %zu\n", i,
                        atomic_load(&listener->workers[i].connections));
    api_text_printf(
        text,
        "# HELP caseledger_http_connections_refused_total Connections closed at once (over a "
        "limit).\n"
        "# TYPE caseledger_http_connections_refused_total counter\n"
        "caseledger_http_connections_refused_total %llu\n",
        (unsigned long long)atomic_load(&listener->refused));
}

char *api_metrics_render(const struct api_metrics *metrics, const struct api_pool *pool,
                         struct ledger_committer *committer, const struct api_listener *listener)
{
    struct api_text text;
    api_text_init(&text, 0);
    render_requests(&text, metrics);
    render_latency(&text, metrics);
    render_connections(&text, listener);
    struct ledger_committer_stats stats = {0};
    if (committer != NULL)
        ledger_committer_stats(committer, &stats);
    api_text_printf(
        &text,
        "# HELP caseledger_booking_requests_total Booking requests answered by the committer.\n"
        "# TYPE caseledger_booking_requests_total counter\n"
        "caseledger_booking_requests_total %lld\n"
        "# HELP caseledger_booking_batches_total Batches (transactions) of the committer.\n"
        "# TYPE caseledger_booking_batches_total counter\n"
        "caseledger_booking_batches_total %lld\n"
        "# HELP caseledger_db_pool_in_use Database handles in use.\n"
        "# TYPE caseledger_db_pool_in_use gauge\n"
        "caseledger_db_pool_in_use %zu\n"
        "# HELP caseledger_db_pool_size Database handles.\n"
        "# TYPE caseledger_db_pool_size gauge\n"
        "caseledger_db_pool_size %zu\n"
        "# HELP caseledger_db_reconnects_total Lost database connections opened again (handles "
        "and committer).\n"
        "# TYPE caseledger_db_reconnects_total counter\n"
        "caseledger_db_reconnects_total %lld\n",
        (long long)stats.requests, (long long)stats.batches, atomic_load(&pool->in_use), pool->size,
        atomic_load(&pool->reconnects) + (long long)stats.reconnects);
    return api_text_take(&text);
}

/* ---- the token of GET /metrics ---- */

/* The token of text (one line; a final newline is not part of it): false
 * unless API_METRICS_TOKEN_MIN..MAX printable characters without blanks. */
static bool token_take(char out[API_METRICS_TOKEN_MAX + 1], char *text, size_t length)
{
    if (length > 0 && text[length - 1] == '\n')
        length--;
    if (length > 0 && text[length - 1] == '\r')
        length--;
    if (length < API_METRICS_TOKEN_MIN || length > API_METRICS_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < length; i++)
        if (text[i] < 0x21 || text[i] > 0x7e)
            return false;
    memcpy(out, text, length);
    out[length] = '\0';
    return true;
}

enum ledger_err api_metrics_token_load(struct api_server *server, char *detail, size_t detail_size)
{
    const char *path = server->config.metrics_token_file;
    server->metrics_token[0] = '\0';
    if (path == NULL)
        return LEDGER_OK;
    char text[API_METRICS_TOKEN_MAX + 3];
    ssize_t length = -1;
    struct stat status;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    bool private_file = fd >= 0 && fstat(fd, &status) == 0 && S_ISREG(status.st_mode) &&
                        (status.st_mode & 077) == 0;
    if (private_file)
        length = read(fd, text, sizeof text);
    if (fd >= 0)
        close(fd);
    bool taken = length > 0 && (size_t)length < sizeof text &&
                 token_take(server->metrics_token, text, (size_t)length);
    sodium_memzero(text, sizeof text);
    if (taken)
        return LEDGER_OK;
    snprintf(detail, detail_size,
             fd < 0          ? "--metrics-token-file: could not open %s"
             : !private_file ? "--metrics-token-file: %s must be a file of mode 0600 or 0400"
                             : "--metrics-token-file: %s must hold one token of 16-256 "
                               "printable characters",
             path);
    return LEDGER_ERR_IO;
}

bool api_metrics_allowed(const struct api_server *server, const char *authorization)
{
    if (server->metrics_token[0] == '\0')
        return true;
    static const char prefix[] = "Bearer ";
    if (authorization == NULL || strncasecmp(authorization, prefix, sizeof prefix - 1) != 0)
        return false;
    /* Compared as hashes: the time taken tells nothing of the token. */
    const char *given = authorization + sizeof prefix - 1;
    uint8_t given_hash[crypto_generichash_BYTES];
    uint8_t token_hash[crypto_generichash_BYTES];
    crypto_generichash(given_hash, sizeof given_hash, (const unsigned char *)given, strlen(given),
                       NULL, 0);
    crypto_generichash(token_hash, sizeof token_hash, (const unsigned char *)server->metrics_token,
                       strlen(server->metrics_token), NULL, 0);
    return sodium_memcmp(given_hash, token_hash, sizeof token_hash) == 0;
}

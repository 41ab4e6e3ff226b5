/* Prometheus text: requests by route and status, a latency histogram,
 * entries booked, database handles in use. */
#include "server_internal.h"
#include "text_buffer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

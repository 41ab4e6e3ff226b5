/* A fixed pool of ledger handles (one database connection each), all
 * booking through one committer. */
#include "server_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum ledger_err api_pool_open(struct api_pool *pool, size_t size,
                              const struct ledger_config *config,
                              struct ledger_committer *committer, char *detail, size_t detail_size)
{
    memset(pool, 0, sizeof *pool);
    pool->handles = calloc(size, sizeof *pool->handles);
    pool->free = calloc(size, sizeof *pool->free);
    if (pool->handles == NULL || pool->free == NULL) {
        free(pool->handles);
        free(pool->free);
        return LEDGER_ERR_NOMEM;
    }
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->available, NULL);
    for (size_t i = 0; i < size; i++) {
        enum ledger_err err = ledger_open(&pool->handles[i], config, detail, detail_size);
        if (err != LEDGER_OK) {
            pool->size = i;
            api_pool_close(pool);
            return err;
        }
        ledger_attach_committer(pool->handles[i], committer);
        pool->free[i] = pool->handles[i];
    }
    pool->size = size;
    pool->free_count = size;
    return LEDGER_OK;
}

void api_pool_close(struct api_pool *pool)
{
    for (size_t i = 0; i < pool->size; i++)
        ledger_close(pool->handles[i]);
    free(pool->handles);
    free(pool->free);
    pthread_cond_destroy(&pool->available);
    pthread_mutex_destroy(&pool->mutex);
    memset(pool, 0, sizeof *pool);
}

struct ledger *api_pool_acquire(struct api_pool *pool)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += API_POOL_WAIT_MS / 1000;
    deadline.tv_nsec += (long)(API_POOL_WAIT_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    struct ledger *ledger = NULL;
    pthread_mutex_lock(&pool->mutex);
    while (pool->free_count == 0) {
        if (pthread_cond_timedwait(&pool->available, &pool->mutex, &deadline) == ETIMEDOUT)
            break;
    }
    if (pool->free_count > 0) {
        ledger = pool->free[--pool->free_count];
        atomic_fetch_add(&pool->in_use, 1);
    }
    pthread_mutex_unlock(&pool->mutex);
    if (ledger != NULL) {
        ledger_clear_detail(ledger);
        /* A connection lost while the handle was free (or by the request
         * before) is opened again here; while it cannot be, the request's
         * statements fail at once with LEDGER_ERR_UNAVAILABLE (503). */
        int64_t reconnects = ledger_reconnects(ledger);
        if (ledger_reconnect_if_lost(ledger) == LEDGER_OK)
            ledger_clear_detail(ledger);
        atomic_fetch_add(&pool->reconnects, (long long)(ledger_reconnects(ledger) - reconnects));
    }
    return ledger;
}

void api_pool_release(struct api_pool *pool, struct ledger *ledger)
{
    pthread_mutex_lock(&pool->mutex);
    pool->free[pool->free_count++] = ledger;
    atomic_fetch_sub(&pool->in_use, 1);
    pthread_cond_signal(&pool->available);
    pthread_mutex_unlock(&pool->mutex);
}

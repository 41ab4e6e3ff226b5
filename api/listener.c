/* Connections: our own listening socket and accept thread, and the
 * workers that serve what it accepts.
 *
 * libmicrohttpd's thread pool lets every worker accept from one shared
 * socket: whichever wakes first takes the connection, and one worker could
 * take all of a client's connections and serve them one request at a time
 * while the others idled. Here each worker is a daemon of its own, with one
 * thread and no listening socket (MHD_USE_NO_LISTEN_SOCKET, which the
 * library's documentation says does not go with its thread pool), and the
 * accept thread gives each new connection to the worker that holds the
 * fewest (MHD_add_connection; MHD_USE_ITC wakes that worker).
 *
 * The daemons do not see each other's connections, so the limits on open
 * connections, in all (API_CONNECTIONS_MAX) and per client address
 * (API_CONNECTIONS_PER_IP; not for a --trusted-proxies peer, which
 * carries many clients' connections: only the limit in all holds it),
 * are kept here: counted when a connection is
 * accepted, before it is handed on, and given back when its worker tells
 * that it closed (MHD_OPTION_NOTIFY_CONNECTION). A connection over a limit
 * is closed at once. The workers' own limits are set above ours, never to
 * be reached. (Should a worker drop a handed connection before it starts,
 * which only a failed allocation does, its count would stay taken.)
 *
 * Accept errors never end the thread: a connection that went away before
 * it was accepted is passed over; running out of descriptors or memory
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM) pauses accepting for
 * API_ACCEPT_PAUSE_MS, logged once per pause, instead of spinning on a
 * socket that stays readable. */
/* accept4() (Linux): the accepted socket non-blocking and close-on-exec in
 * one call, as libmicrohttpd's own accept does. */
#define _GNU_SOURCE
#include "server_internal.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- counting: in all and per client address ---- */

/* The address bytes and family of a peer; false for any other kind. */
static bool address_key(const struct sockaddr *address, socklen_t size, uint8_t key[16],
                        int *family)
{
    memset(key, 0, 16);
    if (address->sa_family == AF_INET && size >= (socklen_t)sizeof(struct sockaddr_in)) {
        memcpy(key, &((const struct sockaddr_in *)(const void *)address)->sin_addr, 4);
        *family = AF_INET;
        return true;
    }
    if (address->sa_family == AF_INET6 && size >= (socklen_t)sizeof(struct sockaddr_in6)) {
        memcpy(key, &((const struct sockaddr_in6 *)(const void *)address)->sin6_addr, 16);
        *family = AF_INET6;
        return true;
    }
    return false;
}

/* The slot of an address, or with create a free one for it; NULL when
 * neither. Under the mutex. At most API_CONNECTIONS_MAX addresses hold
 * connections, so a free slot exists whenever the total is under it. */
static struct api_address_slot *address_slot(struct api_listener *listener, const uint8_t key[16],
                                             int family, bool create)
{
    struct api_address_slot *free_slot = NULL;
    for (size_t i = 0; i < API_CONNECTIONS_MAX; i++) {
        struct api_address_slot *slot = &listener->addresses[i];
        if (slot->family == family && memcmp(slot->address, key, 16) == 0)
            return slot;
        if (slot->family == 0 && free_slot == NULL)
            free_slot = slot;
    }
    if (!create || free_slot == NULL)
        return NULL;
    memcpy(free_slot->address, key, 16);
    free_slot->family = family;
    free_slot->connections = 0;
    return free_slot;
}

/* Counts a new connection from address; false (nothing counted) when it is
 * over a limit. */
static bool connection_admit(struct api_listener *listener, const struct sockaddr *address,
                             socklen_t size)
{
    uint8_t key[16];
    int family = 0;
    bool known =
        !api_peer_trusted(listener->proxies, address) && address_key(address, size, key, &family);
    bool admitted = false;
    pthread_mutex_lock(&listener->mutex);
    if (listener->connections < API_CONNECTIONS_MAX) {
        struct api_address_slot *slot = known ? address_slot(listener, key, family, true) : NULL;
        if (!known || (slot != NULL && slot->connections < API_CONNECTIONS_PER_IP)) {
            if (slot != NULL)
                slot->connections++;
            listener->connections++;
            admitted = true;
        }
    }
    pthread_mutex_unlock(&listener->mutex);
    return admitted;
}

static void connection_release(struct api_listener *listener, const struct sockaddr *address,
                               socklen_t size)
{
    uint8_t key[16];
    int family = 0;
    bool known = address != NULL && !api_peer_trusted(listener->proxies, address) &&
                 address_key(address, size, key, &family);
    pthread_mutex_lock(&listener->mutex);
    assert(listener->connections > 0);
    listener->connections--;
    struct api_address_slot *slot = known ? address_slot(listener, key, family, false) : NULL;
    if (slot != NULL) {
        assert(slot->connections > 0);
        if (--slot->connections == 0)
            slot->family = 0;
    }
    pthread_mutex_unlock(&listener->mutex);
}

/* A worker's notice of a connection's start and end. */
void api_listener_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                         enum MHD_ConnectionNotificationCode code)
{
    struct api_worker *worker = cls;
    (void)socket_context;
    if (code != MHD_CONNECTION_NOTIFY_CLOSED)
        return;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *address = info != NULL ? info->client_addr : NULL;
    socklen_t size = address == NULL                  ? 0
                     : address->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                                      : (socklen_t)sizeof(struct sockaddr_in);
    connection_release(worker->listener, address, size);
    atomic_fetch_sub(&worker->connections, 1);
}

/* ---- accepting ---- */

/* The worker with the fewest connections; ties go round, from the one
 * after the last chosen. */
static struct api_worker *least_busy_worker(struct api_listener *listener)
{
    assert(listener->workers_count > 0);
    size_t best = listener->next_worker;
    size_t best_count = SIZE_MAX;
    for (size_t i = 0; i < listener->workers_count; i++) {
        size_t index = (listener->next_worker + i) % listener->workers_count;
        size_t count = atomic_load(&listener->workers[index].connections);
        if (count < best_count) {
            best = index;
            best_count = count;
        }
    }
    listener->next_worker = (best + 1) % listener->workers_count;
    return &listener->workers[best];
}

static void hand_over(struct api_listener *listener, int client_fd,
                      const struct sockaddr_storage *address, socklen_t size)
{
    const struct sockaddr *peer = (const struct sockaddr *)(const void *)address;
    if (!connection_admit(listener, peer, size)) {
        close(client_fd);
        atomic_fetch_add(&listener->refused, 1);
        return;
    }
    struct api_worker *worker = least_busy_worker(listener);
    atomic_fetch_add(&worker->connections, 1);
    /* On failure MHD has closed the socket; no notice follows. */
    if (MHD_add_connection(worker->daemon, client_fd, peer, size) != MHD_YES) {
        atomic_fetch_sub(&worker->connections, 1);
        connection_release(listener, peer, size);
        atomic_fetch_add(&listener->refused, 1);
    }
}

static void log_accept_error(int error)
{
    fprintf(stderr, "{\"level\":\"error\",\"event\":\"accept\",\"error\":\"%s\",\"pause_ms\":%d}\n",
            strerror(error), API_ACCEPT_PAUSE_MS);
}

/* Accepts what is waiting (at most API_ACCEPT_BURST_MAX); returns how long
 * to pause before the next poll, in ms (0: none). */
static int accept_waiting(struct api_listener *listener)
{
    for (int accepted = 0; accepted < API_ACCEPT_BURST_MAX; accepted++) {
        struct sockaddr_storage address;
        memset(&address, 0, sizeof address);
        socklen_t size = sizeof address;
        int client_fd = accept4(listener->listen_fd, (struct sockaddr *)(void *)&address, &size,
                                SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client_fd >= 0) {
            hand_over(listener, client_fd, &address, size);
            continue;
        }
        switch (errno) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return 0;
        case EINTR:
        case ECONNABORTED: /* gone before we took it */
        case EPROTO:
        case EPERM: /* refused by a firewall rule */
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
            continue; /* accept(2): Linux passes these network errors on */
        default:      /* EMFILE, ENFILE, ENOBUFS, ENOMEM, or worse */
            log_accept_error(errno);
            return API_ACCEPT_PAUSE_MS;
        }
    }
    return 0;
}

static void *accept_main(void *argument)
{
    struct api_listener *listener = argument;
    int pause_ms = 0;
    for (;;) {
        struct pollfd waiting[2] = {{.fd = listener->wake_fd, .events = POLLIN},
                                    {.fd = listener->listen_fd, .events = POLLIN}};
        /* While paused only the wake-up is watched, for pause_ms. */
        int ready = poll(waiting, pause_ms > 0 ? 1 : 2, pause_ms > 0 ? pause_ms : -1);
        if (ready < 0 && errno != EINTR)
            pause_ms = API_ACCEPT_PAUSE_MS;
        else
            pause_ms = 0;
        if (ready > 0 && (waiting[0].revents & POLLIN) != 0)
            return NULL;
        if (ready > 0 && (waiting[1].revents & POLLIN) != 0)
            pause_ms = accept_waiting(listener);
    }
}

/* ---- start and stop ---- */

static bool listen_on(struct api_listener *listener, const struct sockaddr_in *address,
                      unsigned *port_bound, char *detail, size_t detail_size)
{
    listener->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener->listen_fd < 0)
        goto failed;
    int on = 1;
    struct sockaddr_in bound;
    memset(&bound, 0, sizeof bound);
    socklen_t bound_size = sizeof bound;
    if (setsockopt(listener->listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(listener->listen_fd, (const struct sockaddr *)(const void *)address,
             sizeof *address) != 0 ||
        listen(listener->listen_fd, API_LISTEN_BACKLOG) != 0 ||
        getsockname(listener->listen_fd, (struct sockaddr *)(void *)&bound, &bound_size) != 0)
        goto failed;
    *port_bound = ntohs(bound.sin_port);
    return true;
failed:
    snprintf(detail, detail_size, "could not listen on port %u: %s", ntohs(address->sin_port),
             strerror(errno));
    return false;
}

bool api_listener_start(struct api_listener *listener, struct api_server *server,
                        const struct sockaddr_in *address, size_t workers_count,
                        unsigned *port_bound, char *detail, size_t detail_size)
{
    memset(listener, 0, sizeof *listener);
    listener->proxies = &server->proxies;
    listener->listen_fd = -1;
    listener->wake_fd = -1;
    listener->open = true;
    pthread_mutex_init(&listener->mutex, NULL);
    listener->workers = workers_count > 0 ? calloc(workers_count, sizeof *listener->workers) : NULL;
    if (listener->workers == NULL) {
        snprintf(detail, detail_size, workers_count > 0 ? "out of memory" : "no worker threads");
        api_listener_close(listener);
        return false;
    }
    for (size_t i = 0; i < workers_count; i++) {
        struct api_worker *worker = &listener->workers[i];
        worker->listener = listener;
        worker->daemon = api_server_worker_start(server, worker);
        if (worker->daemon == NULL) {
            snprintf(detail, detail_size, "could not start worker %zu: %s", i, strerror(errno));
            goto failed;
        }
        listener->workers_count++;
    }
    if (!listen_on(listener, address, port_bound, detail, detail_size))
        goto failed;
    listener->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int error = listener->wake_fd < 0
                    ? errno
                    : pthread_create(&listener->thread, NULL, accept_main, listener);
    if (error != 0) {
        snprintf(detail, detail_size, "could not start accepting: %s", strerror(error));
        goto failed;
    }
    listener->thread_started = true;
    return true;
failed:
    api_listener_close(listener);
    return false;
}

void api_listener_stop_accepting(struct api_listener *listener)
{
    if (!listener->open)
        return;
    if (listener->thread_started) {
        uint64_t one = 1;
        while (write(listener->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
            ;
        pthread_join(listener->thread, NULL);
        listener->thread_started = false;
    }
    if (listener->listen_fd >= 0)
        close(listener->listen_fd);
    listener->listen_fd = -1;
}

void api_listener_close(struct api_listener *listener)
{
    if (!listener->open)
        return;
    listener->open = false;
    api_listener_stop_accepting(listener);
    for (size_t i = 0; listener->workers != NULL && i < listener->workers_count; i++)
        MHD_stop_daemon(listener->workers[i].daemon);
    listener->workers_count = 0;
    free(listener->workers);
    listener->workers = NULL;
    if (listener->wake_fd >= 0)
        close(listener->wake_fd);
    listener->wake_fd = -1;
    pthread_mutex_destroy(&listener->mutex);
}

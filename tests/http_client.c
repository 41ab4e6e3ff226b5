#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNKS_MAX 100000      /* chunks of one chunked body */
#define LISTENING_LINE_MAX 256 /* bytes of the server's first stdout line */
#define READ_BLOCK 65536

static long long now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int remaining_ms(long long deadline_ms)
{
    long long left = deadline_ms - now_ms();
    return left < 0 ? 0 : (int)(left > 1000000 ? 1000000 : left);
}

static void sleep_ms(long milliseconds)
{
    struct timespec pause = {milliseconds / 1000, (milliseconds % 1000) * 1000000};
    nanosleep(&pause, NULL);
}

int http_client_connect(unsigned port)
{
    int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (socket_fd < 0)
        return -1;
    /* Not inherited by the processes tests start (a server, a browser). */
    (void)fcntl(socket_fd, F_SETFD, FD_CLOEXEC);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(socket_fd, (const struct sockaddr *)&address, sizeof address) != 0) {
        int saved = errno;
        close(socket_fd);
        errno = saved;
        return -1;
    }
    return socket_fd;
}

bool http_client_send(int socket_fd, const void *data, size_t size, int timeout_ms)
{
    const char *next = data;
    long long deadline = now_ms() + timeout_ms;
    while (size > 0) {
        struct pollfd wait_for = {.fd = socket_fd, .events = POLLOUT};
        int ready = poll(&wait_for, 1, remaining_ms(deadline));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return false;
        ssize_t sent = send(socket_fd, next, size, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent <= 0)
            return false;
        next += sent;
        size -= (size_t)sent;
    }
    return true;
}

/* ---- parsing ---- */

static void set_error(struct http_client_response *response, const char *what)
{
    snprintf(response->error, sizeof response->error, "%s", what);
}

/* Decodes a chunked body [data, data + size) into response->body. */
static int dechunk(struct http_client_response *response, const char *data, size_t size)
{
    char *out = malloc(size + 1);
    if (out == NULL)
        return set_error(response, "out of memory"), -1;
    size_t used = 0;
    size_t at = 0;
    for (int chunk = 0; chunk < CHUNKS_MAX; chunk++) {
        const char *line_end = memchr(data + at, '\n', size - at);
        if (line_end == NULL)
            break;
        char *after = NULL;
        unsigned long long length = strtoull(data + at, &after, 16);
        if (after == data + at || length > size)
            break;
        at = (size_t)(line_end - data) + 1;
        if (length == 0) {
            response->body = out;
            response->body_size = used;
            out[used] = '\0';
            return 0;
        }
        if (length > size - at)
            break;
        memcpy(out + used, data + at, (size_t)length);
        used += (size_t)length;
        at += (size_t)length;
        if (at + 2 <= size && data[at] == '\r' && data[at + 1] == '\n')
            at += 2;
        else if (at + 1 <= size && data[at] == '\n')
            at += 1;
    }
    free(out);
    set_error(response, "malformed or incomplete chunked body");
    return -1;
}

/* Splits the header block (status line first, every line ending in CRLF)
 * into response->headers. */
static int parse_head(struct http_client_response *response)
{
    int major = 0;
    int minor = 0;
    int status = 0;
    if (sscanf(response->head, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || status < 100 ||
        status > 999)
        return set_error(response, "no HTTP status line"), -1;
    response->status = status;
    char *end = strstr(response->head, "\r\n");
    while (end != NULL && response->headers_count < HTTP_CLIENT_HEADERS_MAX) {
        *end = '\0'; /* ends the previous line */
        char *line = end + 2;
        end = strstr(line, "\r\n");
        if (end == NULL)
            break;
        *end = '\0';
        char *colon = strchr(line, ':');
        if (colon != NULL) {
            *colon = '\0';
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t')
                value++;
            size_t length = strlen(value);
            while (length > 0 && (value[length - 1] == ' ' || value[length - 1] == '\t'))
                value[--length] = '\0';
            response->headers[response->headers_count++] =
                (struct http_client_header){.name = line, .value = value};
        }
    }
    return 0;
}

int http_client_parse(struct http_client_response *response, const char *bytes, size_t size)
{
    memset(response, 0, sizeof *response);
    response->raw = malloc(size + 1);
    if (response->raw == NULL)
        return set_error(response, "out of memory"), -1;
    memcpy(response->raw, bytes, size);
    response->raw[size] = '\0';
    response->raw_size = size;
    const char *head_end = NULL;
    for (size_t i = 0; i + 3 < size && head_end == NULL; i++)
        if (memcmp(bytes + i, "\r\n\r\n", 4) == 0)
            head_end = bytes + i;
    if (head_end == NULL)
        return set_error(response, size == 0 ? "the connection closed without an answer"
                                             : "no end of headers in the answer"),
               -1;
    size_t head_size = (size_t)(head_end - bytes);
    response->head = malloc(head_size + 3);
    if (response->head == NULL)
        return set_error(response, "out of memory"), -1;
    memcpy(response->head, bytes, head_size);
    memcpy(response->head + head_size, "\r\n", 3);
    if (parse_head(response) != 0)
        return -1;
    const char *body = head_end + 4;
    size_t body_size = size - head_size - 4;
    const char *encoding = http_client_header(response, "Transfer-Encoding");
    if (encoding != NULL && strcasecmp(encoding, "chunked") == 0)
        return dechunk(response, body, body_size);
    const char *length_text = http_client_header(response, "Content-Length");
    if (length_text != NULL) {
        unsigned long long length = strtoull(length_text, NULL, 10);
        if (length < body_size)
            body_size = (size_t)length;
        response->body_short = length > body_size; /* cut off (or a HEAD answer) */
    }
    response->body = malloc(body_size + 1);
    if (response->body == NULL)
        return set_error(response, "out of memory"), -1;
    memcpy(response->body, body, body_size);
    response->body[body_size] = '\0';
    response->body_size = body_size;
    return 0;
}

/* ---- receiving ---- */

/* Reads into *buffer until the peer closes, the size limit or the deadline. */
static int read_all(int socket_fd, char **buffer, size_t *size, bool *truncated, long long deadline,
                    char *error, size_t error_size)
{
    size_t capacity = 0;
    *buffer = NULL;
    *size = 0;
    *truncated = false;
    for (;;) {
        struct pollfd wait_for = {.fd = socket_fd, .events = POLLIN};
        int ready = poll(&wait_for, 1, remaining_ms(deadline));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            snprintf(error, error_size, "timed out waiting for the answer (%zu bytes read)", *size);
            return -1;
        }
        if (*size == capacity) {
            if (capacity >= HTTP_CLIENT_RESPONSE_MAX) {
                *truncated = true;
                return 0;
            }
            capacity += READ_BLOCK;
            char *grown = realloc(*buffer, capacity);
            if (grown == NULL)
                return snprintf(error, error_size, "out of memory"), -1;
            *buffer = grown;
        }
        ssize_t got = recv(socket_fd, *buffer + *size, capacity - *size, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got == 0 || (got < 0 && errno == ECONNRESET && *size > 0))
            return 0; /* closed (a reset after an answer still leaves the answer) */
        if (got < 0) {
            snprintf(error, error_size, "could not read: %s", strerror(errno));
            return -1;
        }
        *size += (size_t)got;
    }
}

int http_client_receive(int socket_fd, struct http_client_response *response, int timeout_ms)
{
    memset(response, 0, sizeof *response);
    char *bytes = NULL;
    size_t size = 0;
    bool truncated = false;
    if (read_all(socket_fd, &bytes, &size, &truncated, now_ms() + timeout_ms, response->error,
                 sizeof response->error) != 0) {
        free(bytes);
        return -1;
    }
    int result = http_client_parse(response, bytes ? bytes : "", size);
    response->truncated = truncated;
    free(bytes);
    return result;
}

int http_client_raw(struct http_client_response *response, unsigned port, const void *request,
                    size_t request_size, int timeout_ms)
{
    memset(response, 0, sizeof *response);
    int socket_fd = http_client_connect(port);
    if (socket_fd < 0) {
        snprintf(response->error, sizeof response->error, "could not connect to port %u: %s", port,
                 strerror(errno));
        return -1;
    }
    int result = -1;
    if (!http_client_send(socket_fd, request, request_size, timeout_ms))
        snprintf(response->error, sizeof response->error, "could not send the request");
    else
        result = http_client_receive(socket_fd, response, timeout_ms);
    close(socket_fd);
    return result;
}

int http_client_request(struct http_client_response *response, unsigned port, const char *method,
                        const char *path, const char *const *header_lines,
                        size_t header_lines_count, const void *body, size_t body_size)
{
    memset(response, 0, sizeof *response);
    size_t head_size = strlen(method) + strlen(path) + 128;
    for (size_t i = 0; i < header_lines_count; i++)
        head_size += strlen(header_lines[i]) + 2;
    char *request = malloc(head_size + (body ? body_size : 0));
    if (request == NULL)
        return set_error(response, "out of memory"), -1;
    int written = snprintf(request, head_size,
                           "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                           "Connection: close\r\n",
                           method, path, port);
    size_t used = written > 0 ? (size_t)written : 0;
    for (size_t i = 0; i < header_lines_count && used < head_size; i++)
        used += (size_t)snprintf(request + used, head_size - used, "%s\r\n", header_lines[i]);
    if (body != NULL && used < head_size)
        used += (size_t)snprintf(request + used, head_size - used, "Content-Length: %zu\r\n",
                                 body_size);
    if (used + 2 >= head_size) {
        free(request);
        return set_error(response, "request head too long"), -1;
    }
    memcpy(request + used, "\r\n", 2);
    used += 2;
    if (body != NULL) {
        memcpy(request + used, body, body_size);
        used += body_size;
    }
    int result = http_client_raw(response, port, request, used, HTTP_CLIENT_TIMEOUT_MS_DEFAULT);
    free(request);
    return result;
}

int http_client_post_json(struct http_client_response *response, unsigned port, const char *path,
                          const char *json_text)
{
    const char *headers[] = {"Content-Type: application/json"};
    return http_client_request(response, port, "POST", path, headers, 1, json_text,
                               strlen(json_text));
}

const char *http_client_header(const struct http_client_response *response, const char *name)
{
    for (size_t i = 0; i < response->headers_count; i++)
        if (strcasecmp(response->headers[i].name, name) == 0)
            return response->headers[i].value;
    return NULL;
}

void http_client_response_free(struct http_client_response *response)
{
    free(response->raw);
    free(response->head);
    free(response->body);
    memset(response, 0, sizeof *response);
}

/* ---- the server under test ---- */

/* Reads the first line the server prints, up to the deadline. */
static bool read_first_line(int fd, char line[LISTENING_LINE_MAX], long long deadline)
{
    size_t used = 0;
    while (used + 1 < LISTENING_LINE_MAX) {
        struct pollfd wait_for = {.fd = fd, .events = POLLIN};
        int ready = poll(&wait_for, 1, remaining_ms(deadline));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return false;
        char c;
        ssize_t got = read(fd, &c, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        if (c == '\n')
            break;
        line[used++] = c;
    }
    line[used] = '\0';
    return true;
}

static void child_exec(const char *binary, const char *const *args, const char *stderr_path,
                       int stdout_fd)
{
    const char *argv[HTTP_SERVER_ARGS_MAX + 5] = {binary, "serve", "--port", "0"};
    size_t count = 4;
    for (size_t i = 0; args != NULL && args[i] != NULL && i < HTTP_SERVER_ARGS_MAX; i++)
        argv[count++] = args[i];
    argv[count] = NULL;
    dup2(stdout_fd, STDOUT_FILENO);
    if (stderr_path != NULL) {
        int log_fd = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (log_fd >= 0)
            dup2(log_fd, STDERR_FILENO);
    }
    /* execv takes char *const[] for history's sake; it changes nothing. */
    execv(binary, (char *const *)argv);
    fprintf(stderr, "http_server_start: could not run %s: %s\n", binary, strerror(errno));
    _exit(127);
}

bool http_server_start(struct http_server_process *server, const char *binary,
                       const char *const *args, const char *stderr_path, int timeout_ms,
                       char *error, size_t error_size)
{
    memset(server, 0, sizeof *server);
    server->pid = -1;
    server->stdout_fd = -1;
    int pipe_fds[2];
    if (binary == NULL || pipe(pipe_fds) != 0) {
        snprintf(error, error_size, "no server binary (set CASELEDGER_BIN) or no pipe");
        return false;
    }
    (void)fcntl(pipe_fds[0], F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipe_fds[0]);
        child_exec(binary, args, stderr_path, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    if (pid < 0) {
        close(pipe_fds[0]);
        snprintf(error, error_size, "fork: %s", strerror(errno));
        return false;
    }
    server->pid = pid;
    server->stdout_fd = pipe_fds[0];
    char line[LISTENING_LINE_MAX];
    const char *marker = "\"listening\":\"http://127.0.0.1:";
    const char *found = NULL;
    if (read_first_line(pipe_fds[0], line, now_ms() + timeout_ms))
        found = strstr(line, marker);
    unsigned long port = found ? strtoul(found + strlen(marker), NULL, 10) : 0;
    if (port == 0 || port > 65535) {
        snprintf(error, error_size, "the server did not say where it listens (see %s)",
                 stderr_path ? stderr_path : "its stderr");
        (void)http_server_stop(server, 2000);
        return false;
    }
    server->port = (unsigned)port;
    snprintf(server->base_url, sizeof server->base_url, "http://127.0.0.1:%u", server->port);
    return true;
}

int http_server_stop(struct http_server_process *server, int timeout_ms)
{
    int status = -1;
    if (server->pid > 0) {
        kill(server->pid, SIGTERM);
        long long deadline = now_ms() + timeout_ms;
        pid_t done = 0;
        while ((done = waitpid(server->pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
            sleep_ms(20);
        if (done == 0) {
            kill(server->pid, SIGKILL);
            (void)waitpid(server->pid, &status, 0);
        }
    }
    if (server->stdout_fd >= 0)
        close(server->stdout_fd);
    server->pid = -1;
    server->stdout_fd = -1;
    return status;
}

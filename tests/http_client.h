/* A tiny HTTP/1.1 client for tests, and a way to run the server binary
 * under test. Every request is one connection to 127.0.0.1 with
 * "Connection: close": the answer is everything read until the server
 * closes, bounded in size and time.
 *
 * Requests can be built (http_client_request) or sent as raw bytes
 * (http_client_raw), or written piece by piece over a connection of one's
 * own (http_client_connect, http_client_send, http_client_receive) for
 * tests of slow, split or malformed requests. */
#ifndef TESTS_HTTP_CLIENT_H
#define TESTS_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HTTP_CLIENT_RESPONSE_MAX (16 * 1024 * 1024) /* bytes read from one answer */
#define HTTP_CLIENT_HEADERS_MAX 64                  /* header lines parsed */
#define HTTP_CLIENT_TIMEOUT_MS_DEFAULT 15000

struct http_client_header {
    char *name;  /* points into the response's header block */
    char *value; /* leading and trailing blanks removed */
};

struct http_client_response {
    int status; /* 200, 404, ...; 0 when the status line was unreadable */
    char *raw;  /* every byte received, NUL-terminated (owned) */
    size_t raw_size;
    char *head; /* copy of the status line and header lines (owned, split up) */
    struct http_client_header headers[HTTP_CLIENT_HEADERS_MAX];
    size_t headers_count;
    char *body; /* the body, de-chunked, NUL-terminated (owned) */
    size_t body_size;
    bool truncated;  /* the answer was longer than HTTP_CLIENT_RESPONSE_MAX */
    bool body_short; /* fewer body bytes than Content-Length said */
    char error[128]; /* why a call failed ("" on success) */
};

/* Connects to 127.0.0.1:port; a socket or -1 (errno set). */
int http_client_connect(unsigned port);
/* Writes all of data; false on an error or when timeout_ms passes. */
bool http_client_send(int socket_fd, const void *data, size_t size, int timeout_ms);
/* Reads until the peer closes (or the limits), then parses. 0 on success,
 * -1 with response->error set. response is overwritten (call
 * http_client_response_free after either result). */
int http_client_receive(int socket_fd, struct http_client_response *response, int timeout_ms);
/* Parses bytes already read (takes a copy). 0, or -1 with response->error. */
int http_client_parse(struct http_client_response *response, const char *bytes, size_t size);

/* Connects, sends request_size raw bytes, receives, closes. */
int http_client_raw(struct http_client_response *response, unsigned port, const void *request,
                    size_t request_size, int timeout_ms);
/* Builds "METHOD path HTTP/1.1" with Host, Connection: close, the given
 * extra header lines (each "Name: value", may be NULL), and
 * Content-Length when body is not NULL; sends it as http_client_raw. */
int http_client_request(struct http_client_response *response, unsigned port, const char *method,
                        const char *path, const char *const *header_lines,
                        size_t header_lines_count, const void *body, size_t body_size);
/* POST of a JSON text with Content-Type application/json. */
int http_client_post_json(struct http_client_response *response, unsigned port, const char *path,
                          const char *json_text);

/* The first header of that name (case-insensitive), or NULL. */
const char *http_client_header(const struct http_client_response *response, const char *name);
void http_client_response_free(struct http_client_response *response);

/* ---- the server under test ---- */

#define HTTP_SERVER_ARGS_MAX 32

struct http_server_process {
    pid_t pid;
    unsigned port;
    int stdout_fd;     /* the server's stdout, after the "listening" line */
    char base_url[64]; /* "http://127.0.0.1:PORT" */
};

/* Starts `binary serve --port 0 args...` (args NULL-terminated, at most
 * HTTP_SERVER_ARGS_MAX), waits up to timeout_ms for its
 * {"listening":"http://127.0.0.1:PORT"} line and fills server. The
 * server's stderr (its request log) goes to stderr_path, or is inherited
 * when NULL. false with a message in error on failure (the child is gone). */
bool http_server_start(struct http_server_process *server, const char *binary,
                       const char *const *args, const char *stderr_path, int timeout_ms,
                       char *error, size_t error_size);
/* SIGTERM, then waits (SIGKILL after timeout_ms); the exit status as
 * waitpid gives it, or -1. */
int http_server_stop(struct http_server_process *server, int timeout_ms);

#endif

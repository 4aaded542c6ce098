//  mon_http.c: GET /metrics with libmicrohttpd. The daemon runs its own
//  polling thread; the only state it shares with the monitor's actor is the
//  published text, behind a mutex.
#include "mon_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#define METRICS_PATH        "/metrics"
#define METRICS_TYPE        "text/plain; version=0.0.4; charset=utf-8"
#define NOT_FOUND_TEXT      "not found: the metrics are on " METRICS_PATH "\n"
#define NOT_ALLOWED_TEXT    "method not allowed\n"

struct _mon_http_t {
    struct MHD_Daemon *daemon;
    pthread_mutex_t    lock;        //  guards text, size and requests
    char              *text;
    size_t             size;
    uint64_t           requests;
    int                port;
};

//  A response from a constant string (MHD copies nothing: it is static).
static enum MHD_Result
s_answer_static (struct MHD_Connection *connection, unsigned int status, const char *text)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (text), (void *) text, MHD_RESPMEM_PERSISTENT);
    if (!response)
        return MHD_NO;
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
}

//  Called on the daemon's thread, once per request (GET has no body).
static enum MHD_Result
s_handle (void *cls, struct MHD_Connection *connection, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **con_cls)
{
    mon_http_t *self = (mon_http_t *) cls;
    if (*upload_data_size)          //  a body on a GET: ignore it
        *upload_data_size = 0;
    pthread_mutex_lock (&self->lock);
    self->requests++;
    pthread_mutex_unlock (&self->lock);
    if (!streq (method, MHD_HTTP_METHOD_GET) && !streq (method, MHD_HTTP_METHOD_HEAD))
        return s_answer_static (connection, MHD_HTTP_METHOD_NOT_ALLOWED, NOT_ALLOWED_TEXT);
    if (!streq (url, METRICS_PATH))
        return s_answer_static (connection, MHD_HTTP_NOT_FOUND, NOT_FOUND_TEXT);

    pthread_mutex_lock (&self->lock);
    size_t size = self->size;
    char *copy = (char *) malloc (size? size: 1);
    if (copy && size)
        memcpy (copy, self->text, size);
    pthread_mutex_unlock (&self->lock);
    if (!copy)
        return MHD_NO;
    struct MHD_Response *response = MHD_create_response_from_buffer (
        size, copy, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (copy);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_TYPE);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response (connection, MHD_HTTP_OK, response);
    MHD_destroy_response (response);
    return rc;
}

static void
s_log_mhd (void *cls, const char *format, va_list args)
{
    char line [512];
    vsnprintf (line, sizeof (line), format, args);
    size_t size = strlen (line);
    while (size && (line [size - 1] == '\n' || line [size - 1] == '\r'))
        line [--size] = 0;
    zsys_warning ("monitor: metrics http: %s", line);
}

mon_http_t *
mon_http_new (const char *host, int port)
{
    if (port < 0 || port > 65535) {
        zsys_error ("monitor: metrics port %d out of range", port);
        return NULL;
    }
    struct sockaddr_in addr4;
    struct sockaddr_in6 addr6;
    struct sockaddr *addr = NULL;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    memset (&addr4, 0, sizeof (addr4));
    memset (&addr6, 0, sizeof (addr6));
    if (!host || streq (host, "") || streq (host, "*"))
        ;                           //  every IPv4 interface
    else
    if (inet_pton (AF_INET, host, &addr4.sin_addr) == 1) {
        addr4.sin_family = AF_INET;
        addr4.sin_port = htons ((uint16_t) port);
        addr = (struct sockaddr *) &addr4;
    }
    else
    if (inet_pton (AF_INET6, host, &addr6.sin6_addr) == 1) {
        addr6.sin6_family = AF_INET6;
        addr6.sin6_port = htons ((uint16_t) port);
        addr = (struct sockaddr *) &addr6;
        flags |= MHD_USE_IPv6;
    }
    else {
        zsys_error ("monitor: metrics: '%s' is not an IP address (PYCHAT_BIND)", host);
        return NULL;
    }
    mon_http_t *self = (mon_http_t *) zmalloc (sizeof (mon_http_t));
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    self->text = strdup ("");
    assert (self->text);
    if (addr)
        self->daemon = MHD_start_daemon (flags, (uint16_t) port, NULL, NULL, s_handle, self,
                                         MHD_OPTION_EXTERNAL_LOGGER, s_log_mhd, NULL,
                                         MHD_OPTION_SOCK_ADDR, addr,
                                         MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 64,
                                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 10,
                                         MHD_OPTION_END);
    else
        self->daemon = MHD_start_daemon (flags, (uint16_t) port, NULL, NULL, s_handle, self,
                                         MHD_OPTION_EXTERNAL_LOGGER, s_log_mhd, NULL,
                                         MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 64,
                                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 10,
                                         MHD_OPTION_END);
    if (!self->daemon) {
        zsys_error ("monitor: cannot serve metrics on %s:%d", host && *host? host: "*", port);
        mon_http_destroy (&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon,
                                                            MHD_DAEMON_INFO_BIND_PORT);
    self->port = info? info->port: port;
    return self;
}

void
mon_http_destroy (mon_http_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        mon_http_t *self = *self_p;
        if (self->daemon)
            MHD_stop_daemon (self->daemon);     //  joins its thread
        pthread_mutex_destroy (&self->lock);
        free (self->text);
        free (self);
        *self_p = NULL;
    }
}

int
mon_http_port (mon_http_t *self)
{
    assert (self);
    return self->port;
}

void
mon_http_publish (mon_http_t *self, const char *text, size_t size)
{
    assert (self);
    assert (text);
    char *copy = (char *) malloc (size + 1);
    assert (copy);
    memcpy (copy, text, size);
    copy [size] = 0;
    pthread_mutex_lock (&self->lock);
    char *old = self->text;
    self->text = copy;
    self->size = size;
    pthread_mutex_unlock (&self->lock);
    free (old);
}

uint64_t
mon_http_requests (mon_http_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    uint64_t requests = self->requests;
    pthread_mutex_unlock (&self->lock);
    return requests;
}

//  --------------------------------------------------------------------------
//  Selftest: a plain HTTP/1.0 client over a TCP socket

static char *
s_fetch (int port, const char *request)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert (fd >= 0);
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof (addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons ((uint16_t) port);
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert (connect (fd, (struct sockaddr *) &addr, sizeof (addr)) == 0);
    assert (write (fd, request, strlen (request)) == (ssize_t) strlen (request));
    size_t cap = 4096, size = 0;
    char *reply = (char *) malloc (cap);
    assert (reply);
    while (true) {
        if (size + 1024 > cap) {
            cap *= 2;
            reply = (char *) realloc (reply, cap);
            assert (reply);
        }
        ssize_t got = read (fd, reply + size, cap - size - 1);
        if (got <= 0)
            break;
        size += (size_t) got;
    }
    reply [size] = 0;
    close (fd);
    return reply;
}

void
mon_http_test (bool verbose)
{
    printf (" * mon_http: ");
    assert (mon_http_new ("not-an-ip", 0) == NULL);
    assert (mon_http_new ("127.0.0.1", 70000) == NULL);
    mon_http_t *http = mon_http_new ("127.0.0.1", 0);
    assert (http);
    int port = mon_http_port (http);
    assert (port > 0);
    //  The port is taken now: a second server cannot have it
    assert (mon_http_new ("127.0.0.1", port) == NULL);

    char *reply = s_fetch (port, "GET /metrics HTTP/1.0\r\n\r\n");
    assert (strncmp (reply, "HTTP/1.0 200", 12) == 0 || strncmp (reply, "HTTP/1.1 200", 12) == 0);
    free (reply);
    const char *text = "# HELP pychat_x A test.\n# TYPE pychat_x gauge\npychat_x 1\n";
    mon_http_publish (http, text, strlen (text));
    reply = s_fetch (port, "GET /metrics HTTP/1.0\r\n\r\n");
    if (verbose)
        printf ("\n%s\n", reply);
    assert (strstr (reply, "Content-Type: text/plain; version=0.0.4"));
    assert (strstr (reply, "\r\n\r\n# HELP pychat_x A test.\n"));
    assert (strstr (reply, "pychat_x 1\n"));
    free (reply);
    reply = s_fetch (port, "GET /other HTTP/1.0\r\n\r\n");
    assert (strstr (reply, " 404 "));
    free (reply);
    reply = s_fetch (port, "POST /metrics HTTP/1.0\r\nContent-Length: 2\r\n\r\nxx");
    assert (strstr (reply, " 405 "));
    free (reply);
    assert (mon_http_requests (http) == 4);
    mon_http_destroy (&http);
    mon_http_destroy (&http);
    printf ("OK\n");
}

//  bench_sock.c: Redis pub/sub (RESP2), MQTT 3.1.1 at QoS 0 (mosquitto) and
//  NATS, each spoken directly on a TCP socket (optionally TLS, OpenSSL),
//  one publisher and S subscribers in this thread with poll(2).
//
//  What counts as the server's acknowledgement of a publish:
//    redis   the integer reply to every PUBLISH
//    mqtt    a PINGRESP to a PINGREQ sent after every BARRIER_EVERY publishes
//            (the broker handles one connection's packets in order)
//    nats    a PONG to a PING sent after every BARRIER_EVERY publishes
#define _GNU_SOURCE
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUT_CAP         (256 * 1024)    //  publisher's unsent bytes
#define READ_CHUNK      (64 * 1024)
#define READS_PER_PUMP  256
#define BARRIER_EVERY   50
#define BARRIER_QUEUE   4096
#define SETUP_TIMEOUT_NS (30 * 1000000000LL)

typedef enum { PROTO_REDIS, PROTO_MQTT, PROTO_NATS } proto_t;

typedef struct {
    int      fd;
    SSL     *ssl;
    int      index;                 //  subscriber index, -1 for the publisher
    bool     ready;                 //  subscription (or connection) confirmed
    int      pending;               //  Redis: subscribe confirmations still awaited
    char    *in;
    size_t   inlen, incap;
    char    *out;
    size_t   outlen;
    size_t   retry_len;             //  TLS: a write to repeat with the same length
} conn_t;

typedef struct {
    proto_t  proto;
    SSL_CTX *tls;
    conn_t  *conns;                 //  [0] publisher, [1..S] subscribers
    struct pollfd *fds;
    int      nconns;
    uint64_t sent;
    uint64_t barriers [BARRIER_QUEUE];  //  sent count behind each barrier
    unsigned barrier_head, barrier_tail;
    bench_driver_t *driver;
} sstate_t;

//  --------------------------------------------------------------------------
//  Connections

static void
s_conn_open (sstate_t *state, conn_t *conn, const char *host, int port, int index)
{
    conn->index = index;
    conn->incap = READ_CHUNK * 2;
    conn->in = (char *) malloc (conn->incap);
    conn->out = (char *) malloc (OUT_CAP);
    conn->fd = socket (AF_INET, SOCK_STREAM, 0);
    if (conn->fd == -1)
        bench_fail ("socket: %s", strerror (errno));
    int one = 1;
    setsockopt (conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof (one));
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, host, &addr.sin_addr);
    if (connect (conn->fd, (struct sockaddr *) &addr, sizeof (addr)) == -1)
        bench_fail ("connect %s:%d: %s", host, port, strerror (errno));
    if (state->tls) {
        if (state->proto == PROTO_NATS) {
            //  NATS sends its INFO in clear before the TLS handshake.
            char line [4096];
            size_t got = 0;
            while (got < sizeof (line) - 1 && !memmem (line, got, "\r\n", 2)) {
                ssize_t n = recv (conn->fd, line + got, sizeof (line) - 1 - got, 0);
                if (n <= 0)
                    bench_fail ("nats: no INFO before TLS");
                got += (size_t) n;
            }
        }
        conn->ssl = SSL_new (state->tls);
        SSL_set_fd (conn->ssl, conn->fd);
        SSL_set_mode (conn->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        X509_VERIFY_PARAM_set1_ip_asc (SSL_get0_param (conn->ssl), host);
        if (SSL_connect (conn->ssl) != 1) {
            ERR_print_errors_fp (stderr);
            bench_fail ("TLS handshake with %s:%d failed", host, port);
        }
    }
    fcntl (conn->fd, F_SETFL, fcntl (conn->fd, F_GETFL) | O_NONBLOCK);
}

static void
s_conn_close (conn_t *conn)
{
    if (conn->ssl) {
        SSL_shutdown (conn->ssl);
        SSL_free (conn->ssl);
    }
    if (conn->fd > 0)
        close (conn->fd);
    free (conn->in);
    free (conn->out);
}

static bool
s_conn_queue (conn_t *conn, const void *data, size_t size)
{
    if (conn->outlen + size > OUT_CAP)
        return false;
    memcpy (conn->out + conn->outlen, data, size);
    conn->outlen += size;
    return true;
}

static void
s_conn_flush (conn_t *conn)
{
    while (conn->outlen > 0) {
        ssize_t n;
        if (conn->ssl) {
            size_t size = conn->retry_len? conn->retry_len: conn->outlen;
            int rc = SSL_write (conn->ssl, conn->out, (int) size);
            if (rc <= 0) {
                int error = SSL_get_error (conn->ssl, rc);
                if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
                    conn->retry_len = size;
                    return;
                }
                bench_fail ("TLS write failed (%d)", error);
            }
            conn->retry_len = 0;
            n = rc;
        }
        else {
            n = write (conn->fd, conn->out, conn->outlen);
            if (n == -1) {
                if (errno == EAGAIN || errno == EINTR)
                    return;
                bench_fail ("write: %s", strerror (errno));
            }
        }
        memmove (conn->out, conn->out + n, conn->outlen - (size_t) n);
        conn->outlen -= (size_t) n;
    }
}

//  --------------------------------------------------------------------------
//  Parsers: each consumes complete messages from conn->in and returns the
//  number of bytes used.

static void
s_barrier_done (sstate_t *state)
{
    if (state->barrier_head != state->barrier_tail) {
        state->driver->acked = state->barriers [state->barrier_tail % BARRIER_QUEUE];
        state->barrier_tail++;
    }
}

//  One RESP element at p: sets *data/*size for bulk and simple strings.
//  Returns bytes used, 0 if incomplete.
static size_t
s_resp_element (const char *p, const char *end, const char **data, size_t *size)
{
    const char *crlf = (const char *) memmem (p, (size_t) (end - p), "\r\n", 2);
    if (!crlf)
        return 0;
    if (*p == '$') {
        long length = strtol (p + 1, NULL, 10);
        if (length < 0) {
            *data = NULL;
            *size = 0;
            return (size_t) (crlf + 2 - p);
        }
        if (crlf + 2 + length + 2 > end)
            return 0;
        *data = crlf + 2;
        *size = (size_t) length;
        return (size_t) (crlf + 2 + length + 2 - p);
    }
    *data = p + 1;
    *size = (size_t) (crlf - p - 1);
    return (size_t) (crlf + 2 - p);
}

static size_t
s_parse_redis (sstate_t *state, conn_t *conn)
{
    const char *start = conn->in, *p = start, *end = start + conn->inlen;
    while (p < end) {
        if (*p == '*') {
            const char *crlf = (const char *) memmem (p, (size_t) (end - p), "\r\n", 2);
            if (!crlf)
                break;
            long count = strtol (p + 1, NULL, 10);
            const char *q = crlf + 2;
            const char *data [4] = { NULL, NULL, NULL, NULL };
            size_t size [4] = { 0, 0, 0, 0 };
            bool complete = true;
            for (long i = 0; i < count; i++) {
                if (q >= end) { complete = false; break; }
                const char *d; size_t s;
                size_t used = s_resp_element (q, end, &d, &s);
                if (!used) { complete = false; break; }
                if (i < 4) { data [i] = d; size [i] = s; }
                q += used;
            }
            if (!complete)
                break;
            if (count >= 3 && size [0] == 7 && memcmp (data [0], "message", 7) == 0)
                bench_deliver (conn->index, data [2], size [2]);
            else if (count >= 1 && size [0] == 9 && memcmp (data [0], "subscribe", 9) == 0) {
                if (conn->pending > 1)
                    conn->pending--;        //  one confirmation per channel
                else
                    conn->ready = true;
            }
            p = q;
        }
        else {
            const char *d; size_t s;
            size_t used = s_resp_element (p, end, &d, &s);
            if (!used)
                break;
            if (*p == ':' && conn->index < 0)
                state->driver->acked++;
            else if (*p == '-')
                fprintf (stderr, "pcbench: redis error: %.*s\n", (int) s, d);
            p += used;
        }
    }
    return (size_t) (p - start);
}

static size_t
s_parse_mqtt (sstate_t *state, conn_t *conn)
{
    const unsigned char *start = (const unsigned char *) conn->in, *p = start;
    const unsigned char *end = start + conn->inlen;
    while (end - p >= 2) {
        size_t remaining = 0, shift = 0;
        const unsigned char *q = p + 1;
        bool complete = false;
        while (q < end && shift <= 21) {
            remaining |= (size_t) (*q & 127) << shift;
            shift += 7;
            if (!(*q++ & 128)) {
                complete = true;
                break;
            }
        }
        if (!complete || (size_t) (end - q) < remaining)
            break;
        int type = p [0] >> 4;
        if (type == 3 && remaining >= 2) {          //  PUBLISH
            size_t topic = (size_t) q [0] << 8 | q [1];
            size_t skip = 2 + topic + (((p [0] >> 1) & 3)? 2: 0);
            if (skip <= remaining)
                bench_deliver (conn->index, (const char *) q + skip, remaining - skip);
        }
        else if (type == 9)                         //  SUBACK
            conn->ready = true;
        else if (type == 2) {                       //  CONNACK
            if (remaining >= 2 && q [1] != 0)
                bench_fail ("mqtt: CONNACK refused (%d)", q [1]);
            if (conn->index < 0)
                conn->ready = true;
        }
        else if (type == 13)                        //  PINGRESP
            s_barrier_done (state);
        p = q + remaining;
    }
    return (size_t) (p - start);
}

static size_t
s_parse_nats (sstate_t *state, conn_t *conn)
{
    const char *start = conn->in, *p = start, *end = start + conn->inlen;
    while (p < end) {
        const char *crlf = (const char *) memmem (p, (size_t) (end - p), "\r\n", 2);
        if (!crlf)
            break;
        if (strncmp (p, "MSG ", 4) == 0) {
            //  MSG <subject> <sid> [reply-to] <#bytes>
            const char *space = crlf;
            while (space > p && space [-1] != ' ')
                space--;
            size_t size = (size_t) strtoul (space, NULL, 10);
            if ((size_t) (end - crlf - 2) < size + 2)
                break;
            bench_deliver (conn->index, crlf + 2, size);
            p = crlf + 2 + size + 2;
            continue;
        }
        if (strncmp (p, "PING", 4) == 0) {
            s_conn_queue (conn, "PONG\r\n", 6);
            s_conn_flush (conn);
        }
        else if (strncmp (p, "PONG", 4) == 0) {
            if (conn->ready)
                s_barrier_done (state);
            conn->ready = true;
        }
        else if (strncmp (p, "-ERR", 4) == 0)
            fprintf (stderr, "pcbench: nats: %.*s\n", (int) (crlf - p), p);
        p = crlf + 2;
    }
    return (size_t) (p - start);
}

//  Reads what is there (until EAGAIN / WANT_READ) and parses it.
static void
s_conn_read (sstate_t *state, conn_t *conn)
{
    for (int reads = 0; reads < READS_PER_PUMP; reads++) {
        if (conn->incap - conn->inlen < READ_CHUNK) {
            conn->incap *= 2;
            conn->in = (char *) realloc (conn->in, conn->incap);
        }
        ssize_t n;
        if (conn->ssl) {
            int rc = SSL_read (conn->ssl, conn->in + conn->inlen, READ_CHUNK);
            if (rc <= 0) {
                int error = SSL_get_error (conn->ssl, rc);
                if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE)
                    return;
                bench_fail ("%s: TLS connection %d closed (%d)", state->driver->system, conn->index, error);
            }
            n = rc;
        }
        else {
            n = read (conn->fd, conn->in + conn->inlen, READ_CHUNK);
            if (n == 0)
                bench_fail ("%s: connection %d closed by the server", state->driver->system, conn->index);
            if (n == -1) {
                if (errno == EAGAIN || errno == EINTR)
                    return;
                bench_fail ("read: %s", strerror (errno));
            }
        }
        conn->inlen += (size_t) n;
        size_t used = state->proto == PROTO_REDIS? s_parse_redis (state, conn)
                    : state->proto == PROTO_MQTT?  s_parse_mqtt (state, conn)
                    :                              s_parse_nats (state, conn);
        memmove (conn->in, conn->in + used, conn->inlen - used);
        conn->inlen -= used;
    }
}

//  --------------------------------------------------------------------------
//  Driver

static void
s_sock_pump (bench_driver_t *self, int timeout_ms)
{
    sstate_t *state = (sstate_t *) self->state;
    //  Every connection may publish (D), and NATS subscribers answer PINGs
    for (int i = 0; i < state->nconns; i++) {
        conn_t *conn = &state->conns [i];
        if (conn->outlen)
            s_conn_flush (conn);
        state->fds [i].events = POLLIN | (conn->outlen? POLLOUT: 0);
    }
    bool pending = false;               //  TLS bytes already decrypted
    for (int i = 0; i < state->nconns && !pending; i++)
        pending = state->conns [i].ssl && SSL_pending (state->conns [i].ssl) > 0;
    if (poll (state->fds, (nfds_t) state->nconns, pending? 0: timeout_ms) < 0 && !pending)
        return;
    for (int i = 0; i < state->nconns; i++) {
        conn_t *conn = &state->conns [i];
        if ((state->fds [i].revents & (POLLIN | POLLERR | POLLHUP))
        ||  (conn->ssl && SSL_pending (conn->ssl) > 0))
            s_conn_read (state, conn);
    }
    for (int i = 0; i < state->nconns; i++)
        if (state->conns [i].outlen)
            s_conn_flush (&state->conns [i]);
}

//  The bytes before and after a payload of size bytes published on topic.
//  Returns the header's size; *trailer_size is 0 or 2 ("\r\n").
static size_t
s_publish_header (proto_t proto, const char *topic, size_t size, char *header, size_t *trailer_size)
{
    size_t header_size, topic_size = strlen (topic);
    *trailer_size = 2;
    if (proto == PROTO_REDIS)
        header_size = (size_t) snprintf (header, 96, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%zu\r\n",
                                         topic_size, topic, size);
    else if (proto == PROTO_MQTT) {
        size_t remaining = 2 + topic_size + size;
        header_size = 0;
        header [header_size++] = 0x30;
        do {
            unsigned char byte = remaining & 127;
            remaining >>= 7;
            header [header_size++] = (char) (byte | (remaining? 128: 0));
        } while (remaining);
        header [header_size++] = (char) (topic_size >> 8);
        header [header_size++] = (char) (topic_size & 255);
        memcpy (header + header_size, topic, topic_size);
        header_size += topic_size;
        *trailer_size = 0;
    }
    else
        header_size = (size_t) snprintf (header, 96, "PUB %s %zu\r\n", topic, size);
    return header_size;
}

static int
s_sock_publish (bench_driver_t *self, const char *payload, size_t size)
{
    sstate_t *state = (sstate_t *) self->state;
    conn_t *pub = &state->conns [0];
    char header [96];
    size_t trailer_size;
    size_t header_size = s_publish_header (state->proto, BENCH_TOPIC, size, header, &trailer_size);
    const char *trailer = "\r\n";
    bool barrier = state->proto != PROTO_REDIS && (state->sent + 1) % BARRIER_EVERY == 0;
    if (pub->outlen + header_size + size + trailer_size + 8 > OUT_CAP
    ||  (barrier && state->barrier_head - state->barrier_tail >= BARRIER_QUEUE))
        return -1;
    s_conn_queue (pub, header, header_size);
    s_conn_queue (pub, payload, size);
    s_conn_queue (pub, trailer, trailer_size);
    state->sent++;
    if (barrier) {
        if (state->proto == PROTO_MQTT)
            s_conn_queue (pub, "\xc0\x00", 2);
        else
            s_conn_queue (pub, "PING\r\n", 6);
        state->barriers [state->barrier_head++ % BARRIER_QUEUE] = state->sent;
    }
    return 0;
}

static void
s_sock_destroy (bench_driver_t **self_p)
{
    if (*self_p) {
        bench_driver_t *self = *self_p;
        sstate_t *state = (sstate_t *) self->state;
        for (int i = 0; i < state->nconns; i++)
            s_conn_close (&state->conns [i]);
        if (state->tls)
            SSL_CTX_free (state->tls);
        free (state->conns);
        free (state->fds);
        free (state);
        free (self);
        *self_p = NULL;
    }
}

//  The hello each connection sends: connect (MQTT, NATS) and subscribe.
static void
s_hello (sstate_t *state, conn_t *conn, int number)
{
    if (state->proto == PROTO_REDIS) {
        if (conn->index >= 0)
            s_conn_queue (conn, "*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\nbench\r\n", 30);
        else
            conn->ready = true;
    }
    else if (state->proto == PROTO_MQTT) {
        char id [32];
        int idsize = snprintf (id, sizeof (id), "pcb%d-%d", (int) getpid (), number);
        unsigned char packet [64] = { 0x10, (unsigned char) (12 + idsize),
            0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, (unsigned char) idsize };
        memcpy (packet + 14, id, (size_t) idsize);
        s_conn_queue (conn, packet, 14 + (size_t) idsize);
        if (conn->index >= 0)
            s_conn_queue (conn, "\x82\x0a\x00\x01\x00\x05" "bench" "\x00", 12);
    }
    else {
        const char *connect = "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"pcbench\"}\r\n";
        s_conn_queue (conn, connect, strlen (connect));
        if (conn->index >= 0)
            s_conn_queue (conn, "SUB bench 1\r\n", 13);
        s_conn_queue (conn, "PING\r\n", 6);
    }
    s_conn_flush (conn);
}

//  The driver without its connections: protocol and TLS from the system name.
static bench_driver_t *
s_sock_driver_new (bench_opts_t *opts, int subs)
{
    bench_driver_t *self = (bench_driver_t *) calloc (1, sizeof (bench_driver_t));
    sstate_t *state = (sstate_t *) calloc (1, sizeof (sstate_t));
    self->system = opts->system;
    self->subs = subs;
    self->state = state;
    self->publish = s_sock_publish;
    self->pump = s_sock_pump;
    self->destroy = s_sock_destroy;
    state->driver = self;
    if (strncmp (opts->system, "redis", 5) == 0)
        state->proto = PROTO_REDIS;
    else if (strncmp (opts->system, "mqtt", 4) == 0)
        state->proto = PROTO_MQTT;
    else if (strncmp (opts->system, "nats", 4) == 0)
        state->proto = PROTO_NATS;
    else
        bench_fail ("unknown system %s", opts->system);
    if (strstr (opts->system, "-tls")) {
        if (!opts->ca)
            bench_fail ("%s needs --ca", opts->system);
        state->tls = SSL_CTX_new (TLS_client_method ());
        SSL_CTX_set_verify (state->tls, SSL_VERIFY_PEER, NULL);
        if (SSL_CTX_load_verify_locations (state->tls, opts->ca, NULL) != 1)
            bench_fail ("cannot load CA %s", opts->ca);
    }
    return self;
}

static void
s_sock_conns_new (sstate_t *state, int count)
{
    state->nconns = count;
    state->conns = (conn_t *) calloc ((size_t) count, sizeof (conn_t));
    state->fds = (struct pollfd *) calloc ((size_t) count, sizeof (struct pollfd));
}

//  Pumps until every connection is ready (its subscriptions confirmed).
static void
s_sock_wait_ready (bench_driver_t *self)
{
    sstate_t *state = (sstate_t *) self->state;
    int64_t deadline = bench_now_ns () + SETUP_TIMEOUT_NS;
    int missing = state->nconns;
    while (missing && bench_now_ns () < deadline) {
        s_sock_pump (self, 10);
        missing = 0;
        for (int i = 0; i < state->nconns; i++)
            missing += !state->conns [i].ready;
    }
    if (missing)
        bench_fail ("%s: %d of %d connections never confirmed", self->system, missing, state->nconns);
    self->acked = 0;
    state->sent = 0;
}

bench_driver_t *
bench_sock_new (bench_opts_t *opts, int subs)
{
    bench_driver_t *self = s_sock_driver_new (opts, subs);
    sstate_t *state = (sstate_t *) self->state;
    s_sock_conns_new (state, subs + 1);
    static int number;
    for (int i = 0; i < state->nconns; i++) {
        s_conn_open (state, &state->conns [i], opts->host, opts->port, i - 1);
        state->fds [i].fd = state->conns [i].fd;
        state->fds [i].events = POLLIN;
        s_hello (state, &state->conns [i], number++);
    }
    s_sock_wait_ready (self);
    return self;
}

//  --------------------------------------------------------------------------
//  D: a room is NATS subject room.R or Redis channel room:R; a user's inbox
//  inbox.U / inbox:U, and a DM is a publish on the recipient's. NATS: one
//  connection per user, which publishes and subscribes. Redis: two, since
//  a connection in subscribe mode cannot PUBLISH: conns [U] publishes for
//  user U, conns [users + U] receives.

static void
s_topic (sstate_t *state, char *topic, size_t size, const char *kind, int number)
{
    snprintf (topic, size, "%s%c%d", kind, state->proto == PROTO_NATS? '.': ':', number);
}

static int
s_sock_post (bench_driver_t *self, int user, int room, int to, const char *payload, size_t size)
{
    sstate_t *state = (sstate_t *) self->state;
    conn_t *conn = &state->conns [user];
    char topic [32], header [96];
    s_topic (state, topic, sizeof (topic), room >= 0? "room": "inbox", room >= 0? room: to);
    size_t trailer_size;
    size_t header_size = s_publish_header (state->proto, topic, size, header, &trailer_size);
    if (conn->outlen + header_size + size + trailer_size > OUT_CAP)
        return -1;
    s_conn_queue (conn, header, header_size);
    s_conn_queue (conn, payload, size);
    s_conn_queue (conn, "\r\n", trailer_size);
    s_conn_flush (conn);
    state->sent++;
    return 0;
}

//  Subscribes conn (user u's receiving connection) to u's rooms and inbox.
static void
s_d_hello (sstate_t *state, conn_t *conn, const bench_plan_t *plan, int u)
{
    char topic [32], line [96];
    int nrooms = plan->user_nrooms [u];
    if (state->proto == PROTO_NATS) {
        const char *connect = "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"pcbench\"}\r\n";
        s_conn_queue (conn, connect, strlen (connect));
        for (int k = 0; k <= nrooms; k++) {
            if (k < nrooms)
                s_topic (state, topic, sizeof (topic), "room", plan->user_rooms [plan->user_first [u] + k]);
            else
                s_topic (state, topic, sizeof (topic), "inbox", u);
            int n = snprintf (line, sizeof (line), "SUB %s %d\r\n", topic, k + 1);
            s_conn_queue (conn, line, (size_t) n);
        }
        s_conn_queue (conn, "PING\r\n", 6);      //  its PONG: the SUBs are in effect
    }
    else {
        int n = snprintf (line, sizeof (line), "*%d\r\n$9\r\nSUBSCRIBE\r\n", nrooms + 2);
        s_conn_queue (conn, line, (size_t) n);
        for (int k = 0; k <= nrooms; k++) {
            if (k < nrooms)
                s_topic (state, topic, sizeof (topic), "room", plan->user_rooms [plan->user_first [u] + k]);
            else
                s_topic (state, topic, sizeof (topic), "inbox", u);
            n = snprintf (line, sizeof (line), "$%zu\r\n%s\r\n", strlen (topic), topic);
            s_conn_queue (conn, line, (size_t) n);
        }
        conn->pending = nrooms + 1;
    }
    s_conn_flush (conn);
}

bench_driver_t *
bench_sock_d_new (bench_opts_t *opts, const bench_plan_t *plan)
{
    bench_driver_t *self = s_sock_driver_new (opts, plan->users);
    sstate_t *state = (sstate_t *) self->state;
    if (state->proto == PROTO_MQTT)
        bench_fail ("%s: no workload D (NATS and Redis only)", opts->system);
    self->post = s_sock_post;
    bool redis = state->proto == PROTO_REDIS;
    s_sock_conns_new (state, redis? 2 * plan->users: plan->users);
    for (int i = 0; i < state->nconns; i++) {
        int user = i % plan->users;
        bool receives = !redis || i >= plan->users;
        conn_t *conn = &state->conns [i];
        s_conn_open (state, conn, opts->host, opts->port, receives? user: -1);
        state->fds [i].fd = conn->fd;
        state->fds [i].events = POLLIN;
        if (receives)
            s_d_hello (state, conn, plan, user);
        else
            conn->ready = true;         //  a Redis publisher: nothing to confirm
    }
    s_sock_wait_ready (self);
    return self;
}

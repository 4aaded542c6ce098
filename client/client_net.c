//  client_net.c: the one transport: DEALER + SUB with CURVE, never blocking.
#include "client_net.h"
#include "pc_keys.h"
#include "pc_limits.h"

#define LINGER_MS   100                 //  what is queued may still leave (LOGOUT)

struct _client_net_t {
    zcert_t  *cert;
    bool      owns_cert;
    zsock_t  *dealer;
    zsock_t  *sub;
    char      host [256];
    char      endpoint [512];
    char      server_key [41];
    char      prefix [16];
    unsigned  next_reqid;
    size_t    malformed;
    pc_msg_t *batch;            //  a fan-out batch not yet handed out in full
    pc_msg_t *replies;          //  likewise of replies (a lot's SEND answers)
    zsock_t  *monitor;          //  the DEALER's handshake events (PAIR)
    int       handshakes_failed;
    bool      handshake_ok;
};

#define KEY_FAILURES    2           //  failed CURVE handshakes that mean "wrong key"

client_net_t *
client_net_new (void)
{
    client_net_t *self = (client_net_t *) zmalloc (sizeof (client_net_t));
    assert (self);
    zuuid_t *uuid = zuuid_new ();
    snprintf (self->prefix, sizeof (self->prefix), "u%.7s", zuuid_str (uuid));
    zuuid_destroy (&uuid);
    self->next_reqid = 1;
    return self;
}

void
client_net_close (client_net_t *self)
{
    assert (self);
    pc_msg_destroy (&self->batch);
    pc_msg_destroy (&self->replies);
    zsock_destroy (&self->sub);
    if (self->dealer && self->monitor)
        zmq_socket_monitor (zsock_resolve (self->dealer), NULL, 0);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->dealer);
    self->handshakes_failed = 0;
    self->handshake_ok = false;
    if (self->owns_cert)
        zcert_destroy (&self->cert);
    self->cert = NULL;
}

void
client_net_destroy (client_net_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        client_net_close (*self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

static zsock_t *
s_socket (client_net_t *self, int type)
{
    zsock_t *sock = pc_keys_client (type, self->cert, self->server_key);
    zsock_set_linger (sock, LINGER_MS);
    return sock;
}

//  Watches the DEALER's CURVE handshakes (libzmq >= 4.3): a broker that
//  drops every handshake is one whose public key is not the one we hold.
static void
s_monitor (client_net_t *self)
{
    char endpoint [64];
    snprintf (endpoint, sizeof (endpoint), "inproc://pychat-net-%p", (void *) self);
    int events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
               | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
    if (zmq_socket_monitor (zsock_resolve (self->dealer), endpoint, events) == -1)
        return;                             //  no monitor: only the timeout tells
    self->monitor = zsock_new (ZMQ_PAIR);
    if (!self->monitor || zsock_connect (self->monitor, "%s", endpoint) == -1) {
        zmq_socket_monitor (zsock_resolve (self->dealer), NULL, 0);
        zsock_destroy (&self->monitor);
    }
}

bool
client_net_key_refused (client_net_t *self)
{
    assert (self);
    while (self->monitor && (zsock_events (self->monitor) & ZMQ_POLLIN)) {
        zmsg_t *event = zmsg_recv (self->monitor);
        zframe_t *head = event? zmsg_first (event): NULL;
        if (head && zframe_size (head) >= 2) {
            uint16_t id;
            memcpy (&id, zframe_data (head), sizeof (id));
            if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                self->handshake_ok = true;
            else
            if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
                ;                           //  the broker read our key and said no (full)
            else
                self->handshakes_failed++;
        }
        zmsg_destroy (&event);
    }
    return !self->handshake_ok && self->handshakes_failed >= KEY_FAILURES;
}

int
client_net_open (client_net_t *self, const char *endpoint, const char *server_key,
                 zcert_t *cert, char *errtext, size_t size)
{
    assert (self);
    client_net_close (self);
    const char *start = strncmp (endpoint, "tcp://", 6) == 0? endpoint + 6: NULL;
    const char *colon = start? strrchr (start, ':'): NULL;
    char *end = NULL;
    long port = colon? strtol (colon + 1, &end, 10): 0;
    if (!colon || colon == start || (size_t) (colon - start) >= sizeof (self->host)
    ||  strlen (endpoint) >= sizeof (self->endpoint)
    ||  !colon [1] || *end || port < 1 || port > 65535) {
        snprintf (errtext, size, "bad server address '%s' (expected tcp://HOST:PORT)", endpoint);
        return -1;
    }
    if (!server_key || strlen (server_key) != 40) {
        snprintf (errtext, size, "no server key: set PYCHAT_SERVER_KEY or PYCHAT_DATA");
        return -1;
    }
    memcpy (self->host, start, (size_t) (colon - start));
    self->host [colon - start] = 0;
    snprintf (self->server_key, sizeof (self->server_key), "%s", server_key);
    snprintf (self->endpoint, sizeof (self->endpoint), "%s", endpoint);
    self->owns_cert = cert == NULL;
    self->cert = cert? cert: zcert_new ();
    assert (self->cert);
    self->dealer = s_socket (self, ZMQ_DEALER);
    s_monitor (self);
    if (zsock_connect (self->dealer, "%s", endpoint) == -1) {
        snprintf (errtext, size, "cannot connect to '%s': %s", endpoint, zmq_strerror (zmq_errno ()));
        client_net_close (self);
        return -1;
    }
    return 0;
}

bool
client_net_is_open (client_net_t *self)
{
    assert (self);
    return self->dealer != NULL;
}

int
client_net_send (client_net_t *self, pc_msg_t *request, char *reqid)
{
    assert (self);
    snprintf (reqid, 32, "%s-%u", self->prefix, self->next_reqid++);
    if (!self->dealer)
        return -1;
    pc_msg_set_reqid (request, reqid);
    return pc_msg_send_nowait (request, self->dealer);
}

int
client_net_subscribe (client_net_t *self, int port, const char *topic)
{
    assert (self);
    if (!self->dealer)
        return -1;
    zsock_destroy (&self->sub);
    self->sub = s_socket (self, ZMQ_SUB);
    if (zsock_connect (self->sub, "tcp://%s:%d", self->host, port) == -1) {
        zsock_destroy (&self->sub);
        return -1;
    }
    zsock_set_subscribe (self->sub, topic);
    return 0;
}

//  The next message of sock into msg: first those left in its batch
//  (several messages packed in one frame: fan-out, or the broker's answers
//  to several SENDs of one lot), then from the socket without waiting.
//  0 | -1 nothing waiting | -2 malformed.
static int
s_next (zsock_t *sock, pc_msg_t **batch_p, pc_msg_t *msg)
{
    if (*batch_p && pc_msg_more (*batch_p)) {
        pc_msg_move_batch (msg, *batch_p);
        int rc = pc_msg_next (msg);
        if (pc_msg_more (msg))
            pc_msg_move_batch (*batch_p, msg);
        return rc;
    }
    if (!sock || !(zsock_events (sock) & ZMQ_POLLIN))
        return -1;
    int rc = pc_msg_recv (msg, sock);
    if (rc == 0 && pc_msg_more (msg)) {
        if (!*batch_p)
            *batch_p = pc_msg_new (NULL);
        pc_msg_move_batch (*batch_p, msg);     //  the rest, for later calls
    }
    return rc;
}

//  The next message from sock (caller owns it), skipping malformed ones
static pc_msg_t *
s_read (client_net_t *self, zsock_t *sock)
{
    pc_msg_t **batch_p = sock && sock == self->sub? &self->batch: &self->replies;
    pc_msg_t *msg = pc_msg_new (NULL);
    int rc;
    while ((rc = s_next (sock, batch_p, msg)) == -2)
        self->malformed++;
    if (rc == 0)
        return msg;
    pc_msg_destroy (&msg);
    return NULL;
}

int
client_net_recv (client_net_t *self, pc_msg_t *msg)
{
    assert (self);
    return s_next (self->dealer, &self->replies, msg);
}

pc_msg_t *client_net_reply (client_net_t *self) { assert (self); return s_read (self, self->dealer); }
pc_msg_t *client_net_fanout (client_net_t *self) { assert (self); return s_read (self, self->sub); }
void
client_net_wait (client_net_t *self, int ms)
{
    zmq_pollitem_t items [2];
    int count = 0;
    if (client_net_dealer (self))
        items [count++] = (zmq_pollitem_t) { client_net_dealer (self), 0, ZMQ_POLLIN, 0 };
    if (client_net_sub (self))
        items [count++] = (zmq_pollitem_t) { client_net_sub (self), 0, ZMQ_POLLIN, 0 };
    if (count)
        zmq_poll (items, count, ms);
    else
        zclock_sleep (ms);
}

void *client_net_dealer (client_net_t *self) { return self->dealer? zsock_resolve (self->dealer): NULL; }
void *client_net_sub (client_net_t *self) { return self->sub? zsock_resolve (self->sub): NULL; }
size_t client_net_malformed (client_net_t *self) { return self->malformed; }
zcert_t *client_net_cert (client_net_t *self) { assert (self); return self->cert; }
const char *client_net_host (client_net_t *self) { assert (self); return self->host; }
const char *client_net_endpoint (client_net_t *self) { assert (self); return self->endpoint; }

//  The table client_session drives.
static int s_t_open (void *h, const char *e, const char *k, char *t, size_t n) { return client_net_open ((client_net_t *) h, e, k, NULL, t, n); }
static void s_t_close (void *h) { client_net_close ((client_net_t *) h); }
static int s_t_send (void *h, pc_msg_t *r, char *id) { return client_net_send ((client_net_t *) h, r, id); }
static int s_t_subscribe (void *h, int port, const char *topic) { return client_net_subscribe ((client_net_t *) h, port, topic); }
static pc_msg_t *s_t_reply (void *h) { return client_net_reply ((client_net_t *) h); }
static pc_msg_t *s_t_fanout (void *h) { return client_net_fanout ((client_net_t *) h); }
static int64_t s_t_now (void *h) { return zclock_mono (); }

const client_session_transport_t client_net_transport = {
    s_t_open, s_t_close, s_t_send, s_t_subscribe, s_t_reply, s_t_fanout, s_t_now
};

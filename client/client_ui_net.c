//  client_ui_net.c: non-blocking DEALER + SUB for the full-screen client.
#include "client_ui_net.h"
#include "pc_limits.h"

#define LINGER_MS   0                   //  a dropped connection keeps nothing

struct _client_ui_net_t {
    zcert_t  *cert;
    zsock_t  *dealer;
    zsock_t  *sub;
    char      host [256];
    char      server_key [41];
    char      prefix [16];
    unsigned  next_reqid;
    size_t    malformed;
    pc_msg_t *batch;            //  a fan-out batch not yet handed out in full
};

client_ui_net_t *
client_ui_net_new (void)
{
    client_ui_net_t *self = (client_ui_net_t *) zmalloc (sizeof (client_ui_net_t));
    assert (self);
    zuuid_t *uuid = zuuid_new ();
    snprintf (self->prefix, sizeof (self->prefix), "u%.7s", zuuid_str (uuid));
    zuuid_destroy (&uuid);
    self->next_reqid = 1;
    return self;
}

void
client_ui_net_close (client_ui_net_t *self)
{
    assert (self);
    pc_msg_destroy (&self->batch);
    zsock_destroy (&self->sub);
    zsock_destroy (&self->dealer);
    zcert_destroy (&self->cert);
}

void
client_ui_net_destroy (client_ui_net_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        client_ui_net_close (*self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_secure (client_ui_net_t *self, zsock_t *sock)
{
    zcert_apply (self->cert, sock);
    zsock_set_curve_serverkey (sock, self->server_key);
    zsock_set_linger (sock, LINGER_MS);
    zsock_set_maxmsgsize (sock, PC_MSG_MAX);
}

int
client_ui_net_open (client_ui_net_t *self, const char *endpoint, const char *server_key,
                    char *errtext, size_t size)
{
    assert (self);
    client_ui_net_close (self);
    const char *start = strncmp (endpoint, "tcp://", 6) == 0? endpoint + 6: NULL;
    const char *colon = start? strrchr (start, ':'): NULL;
    char *end = NULL;
    long port = colon? strtol (colon + 1, &end, 10): 0;
    if (!colon || colon == start || (size_t) (colon - start) >= sizeof (self->host)
    ||  !colon [1] || *end || port < 1 || port > 65535) {
        snprintf (errtext, size, "bad server address (expected tcp://HOST:PORT)");
        return -1;
    }
    if (!server_key || strlen (server_key) != 40) {
        snprintf (errtext, size, "no server key: set PYCHAT_SERVER_KEY or PYCHAT_DATA");
        return -1;
    }
    memcpy (self->host, start, (size_t) (colon - start));
    self->host [colon - start] = 0;
    snprintf (self->server_key, sizeof (self->server_key), "%s", server_key);
    self->cert = zcert_new ();
    assert (self->cert);
    self->dealer = zsock_new (ZMQ_DEALER);
    assert (self->dealer);
    s_secure (self, self->dealer);
    if (zsock_connect (self->dealer, "%s", endpoint) == -1) {
        snprintf (errtext, size, "cannot connect: %s", zmq_strerror (zmq_errno ()));
        client_ui_net_close (self);
        return -1;
    }
    return 0;
}

bool
client_ui_net_is_open (client_ui_net_t *self)
{
    assert (self);
    return self->dealer != NULL;
}

int
client_ui_net_send (client_ui_net_t *self, pc_msg_t *request, char *reqid)
{
    assert (self);
    snprintf (reqid, 32, "%s-%u", self->prefix, self->next_reqid++);
    if (!self->dealer)
        return -1;
    pc_msg_set_reqid (request, reqid);
    return pc_msg_send_nowait (request, self->dealer);
}

int
client_ui_net_subscribe (client_ui_net_t *self, int port, const char *topic)
{
    assert (self);
    if (!self->dealer)
        return -1;
    zsock_destroy (&self->sub);
    self->sub = zsock_new (ZMQ_SUB);
    assert (self->sub);
    s_secure (self, self->sub);
    if (zsock_connect (self->sub, "tcp://%s:%d", self->host, port) == -1) {
        zsock_destroy (&self->sub);
        return -1;
    }
    zsock_set_subscribe (self->sub, topic);
    return 0;
}

//  The next message from sock: first those left in a batch (several
//  messages packed in one frame), then from the socket.
static pc_msg_t *
s_read (client_ui_net_t *self, zsock_t *sock)
{
    if (sock && sock == self->sub)
        while (self->batch && pc_msg_more (self->batch)) {
            if (pc_msg_next (self->batch) == 0)
                return pc_msg_dup (self->batch);
            self->malformed++;
        }
    while (sock && (zsock_events (sock) & ZMQ_POLLIN)) {
        pc_msg_t *msg = pc_msg_new (NULL);
        int rc = pc_msg_recv (msg, sock);
        if (rc == 0 && pc_msg_more (msg)) {
            pc_msg_destroy (&self->batch);      //  keep the rest for later calls
            self->batch = msg;
            return pc_msg_dup (msg);
        }
        if (rc == 0)
            return msg;
        pc_msg_destroy (&msg);
        if (rc == -1)
            break;
        self->malformed++;
    }
    return NULL;
}

pc_msg_t *client_ui_net_reply (client_ui_net_t *self) { assert (self); return s_read (self, self->dealer); }
pc_msg_t *client_ui_net_fanout (client_ui_net_t *self) { assert (self); return s_read (self, self->sub); }
void *client_ui_net_dealer (client_ui_net_t *self) { return self->dealer? zsock_resolve (self->dealer): NULL; }
void *client_ui_net_sub (client_ui_net_t *self) { return self->sub? zsock_resolve (self->sub): NULL; }
size_t client_ui_net_malformed (client_ui_net_t *self) { return self->malformed; }
zcert_t *client_ui_net_cert (client_ui_net_t *self) { assert (self); return self->cert; }
const char *client_ui_net_host (client_ui_net_t *self) { assert (self); return self->host; }

//  The table client_session drives.
static int s_t_open (void *h, const char *e, const char *k, char *t, size_t n) { return client_ui_net_open ((client_ui_net_t *) h, e, k, t, n); }
static void s_t_close (void *h) { client_ui_net_close ((client_ui_net_t *) h); }
static int s_t_send (void *h, pc_msg_t *r, char *id) { return client_ui_net_send ((client_ui_net_t *) h, r, id); }
static int s_t_subscribe (void *h, int port, const char *topic) { return client_ui_net_subscribe ((client_ui_net_t *) h, port, topic); }
static pc_msg_t *s_t_reply (void *h) { return client_ui_net_reply ((client_ui_net_t *) h); }
static pc_msg_t *s_t_fanout (void *h) { return client_ui_net_fanout ((client_ui_net_t *) h); }
static int64_t s_t_now (void *h) { return zclock_mono (); }

const client_session_transport_t client_ui_net_transport = {
    s_t_open, s_t_close, s_t_send, s_t_subscribe, s_t_reply, s_t_fanout, s_t_now
};

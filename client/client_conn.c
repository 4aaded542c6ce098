//  client_conn.c: DEALER request/reply with timeout, login, subscriptions.
#include "client_conn.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <signal.h>

#define LOGOUT_WAIT_MS      300         //  how long LOGOUT may delay the exit
#define SUBS_INTERVAL_MS    20          //  between two SUBS while waiting
#define LINGER_MS           100

struct _client_conn_t {
    char        endpoint [512];
    char        host [256];             //  of endpoint, for the fan-out socket
    char        server_key [41];
    zcert_t    *cert;                   //  borrowed
    int         timeout_ms;
    zsock_t    *dealer;
    zsock_t    *sub;
    zpoller_t  *poller;                 //  on the dealer
    char        reqid_prefix [16];
    unsigned    next_reqid;
    int         fanout_port;
    char        topic [64];             //  this session's fan-out topic
    bool        logged_in;
    bool        quiet;                  //  no "no reply" line on timeouts
};

static volatile sig_atomic_t s_interrupted = 0;

static void
s_on_signal (int signum)
{
    (void) signum;
    s_interrupted = 1;
}

void
client_conn_catch_signals (void)
{
    //  czmq's own handler would make every later zpoller_wait return at
    //  once; ours only sets a flag, and we still send LOGOUT on the way out.
    zsys_init ();
    zsys_handler_set (NULL);
    struct sigaction action;
    memset (&action, 0, sizeof (action));
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    action.sa_flags = 0;                //  no SA_RESTART: interrupt blocking reads
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    signal (SIGPIPE, SIG_IGN);          //  a closed stdout is an error, not a death
}

bool
client_conn_interrupted (void)
{
    return s_interrupted != 0;
}

void
client_conn_sanitize (const char *text, char *out, size_t size)
{
    size_t i = 0;
    for (; text && text [i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char) text [i];
        out [i] = (c < 0x20 && c != '\t') || c == 0x7f? '?': (char) c;
    }
    if (size)
        out [i] = 0;
}

//  Splits "tcp://HOST:PORT" into host; -1 when it is not of that form.
static int
s_parse_endpoint (const char *endpoint, char *host, size_t size)
{
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return -1;
    const char *start = endpoint + 6;
    const char *colon = strrchr (start, ':');
    if (!colon || colon == start || (size_t) (colon - start) >= size)
        return -1;
    char *end;
    long port = strtol (colon + 1, &end, 10);
    if (colon [1] == 0 || *end || port < 1 || port > 65535)
        return -1;
    memcpy (host, start, (size_t) (colon - start));
    host [colon - start] = 0;
    return 0;
}

static void
s_secure (zsock_t *sock, zcert_t *cert, const char *server_key)
{
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, server_key);
    zsock_set_linger (sock, LINGER_MS);
    zsock_set_maxmsgsize (sock, PC_MSG_MAX);
}

client_conn_t *
client_conn_new (const char *endpoint, const char *server_key, zcert_t *cert, int timeout_ms)
{
    assert (endpoint);
    assert (server_key);
    assert (cert);
    client_conn_t *self = (client_conn_t *) zmalloc (sizeof (client_conn_t));
    assert (self);
    if (strlen (endpoint) >= sizeof (self->endpoint)
    ||  s_parse_endpoint (endpoint, self->host, sizeof (self->host)) == -1) {
        fprintf (stderr, "pychat: bad server address '%s' (expected tcp://HOST:PORT)\n", endpoint);
        free (self);
        return NULL;
    }
    snprintf (self->endpoint, sizeof (self->endpoint), "%s", endpoint);
    snprintf (self->server_key, sizeof (self->server_key), "%s", server_key);
    self->cert = cert;
    self->timeout_ms = timeout_ms > 0? timeout_ms: 1;
    self->dealer = zsock_new (ZMQ_DEALER);
    assert (self->dealer);
    s_secure (self->dealer, cert, server_key);
    if (zsock_connect (self->dealer, "%s", endpoint) == -1) {
        fprintf (stderr, "pychat: cannot connect to '%s': %s\n", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->dealer);
        free (self);
        return NULL;
    }
    self->poller = zpoller_new (self->dealer, NULL);
    assert (self->poller);
    //  A random prefix keeps ids unique across runs that share a device key.
    zuuid_t *uuid = zuuid_new ();
    snprintf (self->reqid_prefix, sizeof (self->reqid_prefix), "%.8s", zuuid_str (uuid));
    zuuid_destroy (&uuid);
    self->next_reqid = 1;
    return self;
}

void
client_conn_destroy (client_conn_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        client_conn_t *self = *self_p;
        zpoller_destroy (&self->poller);
        zsock_destroy (&self->sub);
        zsock_destroy (&self->dealer);
        free (self);
        *self_p = NULL;
    }
}

static void
s_set_fresh_reqid (client_conn_t *self, pc_msg_t *request)
{
    char reqid [32];
    snprintf (reqid, sizeof (reqid), "%s-%u", self->reqid_prefix, self->next_reqid++);
    pc_msg_set_reqid (request, reqid);
}

//  Waits until deadline (zclock_mono ms) for the reply to reqid. 0 with
//  *reply_p set, 1 on timeout, CLIENT_INTERRUPTED, or PC_EXIT_UNREACHABLE
//  after a malformed reply to our own request (message printed).
static int
s_wait_reply (client_conn_t *self, const char *reqid, int64_t deadline, pc_msg_t **reply_p)
{
    *reply_p = NULL;
    pc_msg_t *reply = pc_msg_new (NULL);
    int rc = 1;
    while (true) {
        if (s_interrupted) {
            rc = CLIENT_INTERRUPTED;
            break;
        }
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            break;
        void *which = zpoller_wait (self->poller, (int) left);
        if (!which)
            continue;               //  timeout or signal: checked above
        int status = pc_msg_recv (reply, self->dealer);
        if (status == -1)
            continue;
        if (!streq (pc_msg_reqid (reply), reqid))
            continue;               //  stale: a reply to an earlier request
        if (status == -2 || !(pc_msg_is (reply, "OK") || pc_msg_is (reply, "ERROR"))) {
            char why [160];
            client_conn_sanitize (status == -2? pc_msg_error_text (reply): pc_msg_command (reply),
                                  why, sizeof (why));
            fprintf (stderr, "pychat: malformed reply from %s: %s\n", self->endpoint, why);
            rc = PC_EXIT_UNREACHABLE;
            break;
        }
        *reply_p = reply;
        return 0;
    }
    pc_msg_destroy (&reply);
    return rc;
}

static void
s_no_reply (client_conn_t *self)
{
    if (self->quiet)
        return;
    fprintf (stderr, "pychat: no reply from %s within %g s (is the broker running?)\n",
             self->endpoint, self->timeout_ms / 1000.0);
}

int
client_conn_request (client_conn_t *self, pc_msg_t *request, pc_msg_t **reply_p)
{
    assert (self);
    assert (reply_p);
    *reply_p = NULL;
    if (s_interrupted)
        return CLIENT_INTERRUPTED;
    s_set_fresh_reqid (self, request);
    int64_t deadline = zclock_mono () + self->timeout_ms;
    //  With no peer yet, a DEALER queues; if even the queue is full the
    //  broker is not there to drain it.
    if (pc_msg_send_nowait (request, self->dealer) == -1) {
        s_no_reply (self);
        return PC_EXIT_UNREACHABLE;
    }
    int rc = s_wait_reply (self, pc_msg_reqid (request), deadline, reply_p);
    if (rc == 1) {
        s_no_reply (self);
        rc = PC_EXIT_UNREACHABLE;
    }
    return rc;
}

//  Prints the one-line report of an ERROR reply; returns its exit code.
static int
s_report_error (const char *what, pc_msg_t *reply)
{
    int code = pc_msg_error_code (reply);
    char reason [256];
    client_conn_sanitize (pc_msg_error_reason (reply), reason, sizeof (reason));
    if (!*reason)
        snprintf (reason, sizeof (reason), "%s", pc_error_name (code));
    if (code == PC_ERR_THROTTLED) {
        char wait [32];
        client_conn_sanitize (pc_msg_field (reply, 2), wait, sizeof (wait));
        if (streq (what, "login"))
            fprintf (stderr, "pychat: too many failed logins, retry in %s s\n", *wait? wait: "a few");
        else
            fprintf (stderr, "pychat: %s refused: too many attempts, retry in %s s\n",
                     what, *wait? wait: "a few");
        return pc_error_exit (code);
    }
    int exit_code = pc_error_exit (code);
    if (exit_code == PC_EXIT_REFUSED)
        fprintf (stderr, "pychat: %s refused: %s\n", what, reason);
    else
    if (exit_code == PC_EXIT_REJECTED)
        fprintf (stderr, "pychat: %s rejected: %s\n", what, reason);
    else
        fprintf (stderr, "pychat: %s failed: server error %d: %s\n", what, code, reason);
    return exit_code;
}

int
client_conn_call (client_conn_t *self, const char *what, pc_msg_t *request, pc_msg_t **reply_p)
{
    int rc = client_conn_request (self, request, reply_p);
    if (rc == 0 && pc_msg_is (*reply_p, "ERROR")) {
        rc = s_report_error (what, *reply_p);
        pc_msg_destroy (reply_p);
    }
    return rc;
}

int
client_conn_login (client_conn_t *self, const char *name, const char *password)
{
    assert (self);
    pc_msg_t *request = pc_msg_new ("LOGIN");
    pc_msg_add (request, name);
    pc_msg_add (request, password);
    pc_msg_t *reply = NULL;
    int rc = client_conn_call (self, "login", request, &reply);
    pc_msg_destroy (&request);          //  the password goes with it
    if (rc)
        return rc;
    const char *port_txt = pc_msg_field (reply, 2);
    char *end = NULL;
    long port = port_txt? strtol (port_txt, &end, 10): 0;
    if (!port_txt || !*port_txt || *end || port < 1 || port > 65535) {
        fprintf (stderr, "pychat: malformed LOGIN reply from %s (no fan-out port)\n", self->endpoint);
        rc = PC_EXIT_UNREACHABLE;
    }
    else
    if (!pc_msg_field (reply, 3) || strlen (pc_msg_field (reply, 3)) >= sizeof (self->topic)) {
        fprintf (stderr, "pychat: malformed LOGIN reply from %s (no topic)\n", self->endpoint);
        rc = PC_EXIT_UNREACHABLE;
    }
    else {
        self->fanout_port = (int) port;
        snprintf (self->topic, sizeof (self->topic), "%s", pc_msg_field (reply, 3));
        self->logged_in = true;
    }
    pc_msg_destroy (&reply);
    return rc;
}

int
client_conn_join (client_conn_t *self, const char *room)
{
    assert (self);
    pc_msg_t *request = pc_msg_new ("JOIN");
    pc_msg_add (request, room);
    pc_msg_t *reply = NULL;
    char what [64];
    snprintf (what, sizeof (what), "join #%s", room);
    int rc = client_conn_call (self, what, request, &reply);
    pc_msg_destroy (&request);
    pc_msg_destroy (&reply);
    return rc;
}

//  True if topic is among the fields of the SUBS reply.
static bool
s_listed (pc_msg_t *reply, const char *topic)
{
    for (size_t i = 0; i < pc_msg_nfields (reply); i++)
        if (streq (pc_msg_field (reply, i), topic))
            return true;
    return false;
}

const char *
client_conn_topic (client_conn_t *self)
{
    assert (self);
    return self->topic;
}

int
client_conn_subscribe (client_conn_t *self)
{
    assert (self);
    assert (self->logged_in);
    assert (!self->sub);
    self->sub = zsock_new (ZMQ_SUB);
    assert (self->sub);
    s_secure (self->sub, self->cert, self->server_key);
    if (zsock_connect (self->sub, "tcp://%s:%d", self->host, self->fanout_port) == -1) {
        fprintf (stderr, "pychat: cannot connect to the fan-out at tcp://%s:%d: %s\n",
                 self->host, self->fanout_port, zmq_strerror (zmq_errno ()));
        return PC_EXIT_UNREACHABLE;
    }
    //  Everything for this session (every room it joined) comes on its
    //  own topic, which the LOGIN reply named.
    zsock_set_subscribe (self->sub, self->topic);
    //  The broker applies a subscription only after checking who sent it;
    //  SUBS tells us when it has. Each SUBS has its own wait, the whole
    //  loop one timeout.
    int64_t deadline = zclock_mono () + self->timeout_ms;
    pc_msg_t *request = pc_msg_new ("SUBS");
    int rc = 0;
    while (true) {
        pc_msg_t *reply = NULL;
        rc = client_conn_call (self, "subscribe", request, &reply);
        if (rc)
            break;
        bool done = s_listed (reply, self->topic);
        pc_msg_destroy (&reply);
        if (done)
            break;
        if (zclock_mono () + SUBS_INTERVAL_MS > deadline) {
            fprintf (stderr, "pychat: the broker did not confirm the subscriptions within %g s\n",
                     self->timeout_ms / 1000.0);
            rc = PC_EXIT_UNREACHABLE;
            break;
        }
        zclock_sleep (SUBS_INTERVAL_MS);
    }
    pc_msg_destroy (&request);
    return rc;
}

int
client_conn_ping_async (client_conn_t *self)
{
    assert (self);
    pc_msg_t *request = pc_msg_new ("PING");
    s_set_fresh_reqid (self, request);
    int rc = pc_msg_send_nowait (request, self->dealer);
    pc_msg_destroy (&request);
    return rc;
}

void
client_conn_drain (client_conn_t *self)
{
    assert (self);
    pc_msg_t *reply = pc_msg_new (NULL);
    while (zsock_events (self->dealer) & ZMQ_POLLIN)
        if (pc_msg_recv (reply, self->dealer) == -1)
            break;
    pc_msg_destroy (&reply);
}

void
client_conn_logout (client_conn_t *self)
{
    assert (self);
    if (!self->logged_in)
        return;
    self->logged_in = false;
    pc_msg_t *request = pc_msg_new ("LOGOUT");
    s_set_fresh_reqid (self, request);
    if (pc_msg_send_nowait (request, self->dealer) == 0) {
        //  Wait a moment even after a signal: the reply means it arrived.
        int64_t deadline = zclock_mono () + LOGOUT_WAIT_MS;
        pc_msg_t *reply = pc_msg_new (NULL);
        while (zclock_mono () < deadline) {
            if (!zpoller_wait (self->poller, (int) (deadline - zclock_mono ())))
                continue;
            if (pc_msg_recv (reply, self->dealer) == 0
            &&  streq (pc_msg_reqid (reply), pc_msg_reqid (request)))
                break;
        }
        pc_msg_destroy (&reply);
    }
    pc_msg_destroy (&request);
}

void
client_conn_set_quiet (client_conn_t *self, bool quiet)
{
    assert (self);
    self->quiet = quiet;
}

void
client_conn_set_timeout (client_conn_t *self, int timeout_ms)
{
    assert (self);
    self->timeout_ms = timeout_ms > 0? timeout_ms: 1;
}

bool
client_conn_logged_in (client_conn_t *self)
{
    assert (self);
    return self->logged_in;
}

void
client_conn_forget_login (client_conn_t *self)
{
    assert (self);
    self->logged_in = false;
}

int
client_conn_send_async (client_conn_t *self, pc_msg_t *request)
{
    assert (self);
    s_set_fresh_reqid (self, request);
    return pc_msg_send_nowait (request, self->dealer);
}

zsock_t *client_conn_dealer (client_conn_t *self) { assert (self); return self->dealer; }
zsock_t *client_conn_sub (client_conn_t *self) { assert (self); return self->sub; }
const char *client_conn_endpoint (client_conn_t *self) { assert (self); return self->endpoint; }
const char *client_conn_host (client_conn_t *self) { assert (self); return self->host; }
int client_conn_timeout_ms (client_conn_t *self) { assert (self); return self->timeout_ms; }

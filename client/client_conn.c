//  client_conn.c: blocking request/reply with a timeout, and login, on
//  the one transport (client_net).
#include "client_conn.h"
#include "pc_proto.h"
#include "client_net.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <signal.h>

#define LOGOUT_WAIT_MS      300         //  how long LOGOUT may delay the exit

#define SEEDS_MAX           16

struct _client_conn_t {
    client_net_t *net;
    char       *seeds [SEEDS_MAX];     //  the servers given (PYCHAT_SERVER A,B,...)
    size_t      nseeds, seed;           //  how many, the one in use
    char        server_key [64];
    zcert_t    *cert;                  //  borrowed
    int         timeout_ms;
    bool        logged_in;
    bool        quiet;                  //  no "no reply" line on timeouts
};

static volatile sig_atomic_t s_interrupted = 0;   //  the signal's number

static void
s_on_signal (int signum)
{
    s_interrupted = signum;
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

int
client_conn_exit_code (int rc)
{
    if (rc == 0)
        return PC_EXIT_OK;              //  done, whatever came after
    if (s_interrupted) {
        if (rc == CLIENT_INTERRUPTED)
            fprintf (stderr, "pychat: interrupted\n");
        return 128 + s_interrupted;     //  the shell's way: 130 after Ctrl-C
    }
    return rc == CLIENT_INTERRUPTED? PC_EXIT_UNREACHABLE: rc;
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

client_conn_t *
client_conn_new (const char *endpoint, const char *server_key, zcert_t *cert, int timeout_ms)
{
    assert (endpoint);
    assert (server_key);
    assert (cert);
    client_conn_t *self = (client_conn_t *) zmalloc (sizeof (client_conn_t));
    assert (self);
    self->timeout_ms = timeout_ms > 0? timeout_ms: 1;
    self->net = client_net_new ();
    self->cert = cert;
    snprintf (self->server_key, sizeof (self->server_key), "%s", server_key);
    //  Several servers (brokers of one PyChat): the first, and the next
    //  when one does not answer before the login
    for (const char *at = endpoint; *at && self->nseeds < SEEDS_MAX; ) {
        size_t len = strcspn (at, ",");
        if (len)
            self->seeds [self->nseeds++] = strndup (at, len);
        at += len;
        at += strspn (at, ", ");
    }
    char why [600];
    if (client_net_open (self->net, self->nseeds? self->seeds [0]: endpoint, server_key, cert,
                         why, sizeof (why)) == -1) {
        fprintf (stderr, "pychat: %s\n", why);
        client_conn_destroy (&self);
    }
    return self;
}

void
client_conn_destroy (client_conn_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        client_net_destroy (&(*self_p)->net);
        for (size_t i = 0; i < (*self_p)->nseeds; i++)
            free ((*self_p)->seeds [i]);
        free (*self_p);
        *self_p = NULL;
    }
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
        if (client_net_key_refused (self->net)) {
            fprintf (stderr, "pychat: " CLIENT_NET_KEY_REFUSED "\n", client_net_endpoint (self->net));
            rc = PC_EXIT_UNREACHABLE;
            break;
        }
        zmq_pollitem_t item = { client_net_dealer (self->net), 0, ZMQ_POLLIN, 0 };
        zmq_poll (&item, 1, left < 100? left: 100);     //  a slice: the monitor, a signal
        int status = client_net_recv (self->net, reply);
        if (status == -1)
            continue;
        if (!streq (pc_msg_reqid (reply), reqid))
            continue;               //  stale: a reply to an earlier request
        if (status == -2 || !(pc_msg_is (reply, "OK") || pc_msg_is (reply, "ERROR"))) {
            char why [160];
            client_conn_sanitize (status == -2? pc_msg_error_text (reply): pc_msg_command (reply),
                                  why, sizeof (why));
            fprintf (stderr, "pychat: malformed reply from %s: %s\n", client_net_endpoint (self->net), why);
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
             client_net_endpoint (self->net), self->timeout_ms / 1000.0);
}

int
client_conn_request (client_conn_t *self, pc_msg_t *request, pc_msg_t **reply_p)
{
    assert (self);
    assert (reply_p);
    *reply_p = NULL;
    if (s_interrupted)
        return CLIENT_INTERRUPTED;
    int64_t deadline = zclock_mono () + self->timeout_ms;
    //  With no peer yet, a DEALER queues; if even the queue is full the
    //  broker is not there to drain it.
    char reqid [32];
    if (client_net_send (self->net, request, reqid) == -1) {
        s_no_reply (self);
        return PC_EXIT_UNREACHABLE;
    }
    int rc = s_wait_reply (self, pc_msg_reqid (request), deadline, reply_p);
    //  Not logged in yet and another server given: ask it (each once)
    for (size_t tries = 1; rc == 1 && !self->logged_in && tries < self->nseeds; tries++) {
        s_no_reply (self);
        self->seed = (self->seed + 1) % self->nseeds;
        char why [600];
        if (client_net_open (self->net, self->seeds [self->seed], self->server_key, self->cert,
                             why, sizeof (why)) == -1) {
            fprintf (stderr, "pychat: %s\n", why);
            return PC_EXIT_USAGE;
        }
        if (!self->quiet)
            fprintf (stderr, "pychat: trying %s\n", self->seeds [self->seed]);
        deadline = zclock_mono () + self->timeout_ms;
        if (client_net_send (self->net, request, reqid) == -1)
            break;
        rc = s_wait_reply (self, pc_msg_reqid (request), deadline, reply_p);
    }
    if (rc == 1) {
        s_no_reply (self);
        rc = PC_EXIT_UNREACHABLE;
    }
    return rc;
}

int
client_conn_report (const char *what, pc_msg_t *reply)
{
    int code = pc_msg_error_code (reply);
    char reason [256];
    client_conn_sanitize (pc_msg_error_reason (reply), reason, sizeof (reason));
    if (!*reason)
        snprintf (reason, sizeof (reason), "%s", pc_error_name (code));
    if (code == PC_ERR_THROTTLED) {
        char wait [32];
        client_conn_sanitize (pc_error_detail (reply), wait, sizeof (wait));
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
client_conn_report_code (const char *what, int code, const char *reason)
{
    pc_msg_t *reply = pc_msg_new ("ERROR");
    pc_msg_addf (reply, "%d", code);
    pc_msg_add (reply, reason? reason: "");
    int rc = client_conn_report (what, reply);
    pc_msg_destroy (&reply);
    return rc;
}

int
client_conn_call (client_conn_t *self, const char *what, pc_msg_t *request, pc_msg_t **reply_p)
{
    int rc = client_conn_request (self, request, reply_p);
    if (rc == 0 && pc_msg_is (*reply_p, "ERROR")) {
        rc = client_conn_report (what, *reply_p);
        pc_msg_destroy (reply_p);
    }
    return rc;
}

//  Checks a LOGIN or RESUME OK reply (port and topic where LOGIN has
//  them) and marks the connection logged in: 0 or an exit code.
static int s_logged_in (client_conn_t *self, pc_msg_t *reply);

int
client_conn_login (client_conn_t *self, const char *name, const char *password,
                   const char *device, char *token, char *sid)
{
    assert (self);
    pc_msg_t *request = pc_msg_new ("LOGIN");
    pc_msg_add (request, name);
    pc_msg_add (request, password);
    if (device)
        pc_msg_add (request, device);
    pc_msg_t *reply = NULL;
    int rc = client_conn_call (self, "login", request, &reply);
    pc_msg_destroy (&request);          //  the password goes with it
    if (rc)
        return rc;
    const char *got = pc_login_ok_token (reply), *got_sid = pc_login_ok_session (reply);
    if (token)
        snprintf (token, 80, "%s", got && strlen (got) < 80? got: "");
    if (sid)
        snprintf (sid, 24, "%s", got_sid && strlen (got_sid) < 24? got_sid: "");
    return s_logged_in (self, reply);
}

int
client_conn_resume (client_conn_t *self, const char *name, const char *token, const char *device)
{
    assert (self);
    pc_msg_t *request = pc_msg_new ("RESUME");
    pc_msg_add (request, name);
    pc_msg_add (request, token);
    if (device)
        pc_msg_add (request, device);
    pc_msg_t *reply = NULL;
    int rc = client_conn_request (self, request, &reply);
    pc_msg_destroy (&request);
    if (rc)
        return rc;
    int code = pc_msg_error_code (reply);
    if (code == PC_ERR_AUTH || code == PC_ERR_FORBIDDEN) {
        pc_msg_destroy (&reply);
        return CLIENT_CONN_TOKEN_REFUSED;
    }
    if (code) {
        rc = client_conn_report ("resume", reply);
        pc_msg_destroy (&reply);
        return rc;
    }
    return s_logged_in (self, reply);
}

static int
s_logged_in (client_conn_t *self, pc_msg_t *reply)
{
    int rc = 0;
    const char *port_txt = pc_login_ok_port (reply);
    char *end = NULL;
    long port = port_txt? strtol (port_txt, &end, 10): 0;
    if (!port_txt || !*port_txt || *end || port < 1 || port > 65535) {
        fprintf (stderr, "pychat: malformed LOGIN reply from %s (no fan-out port)\n", client_net_endpoint (self->net));
        rc = PC_EXIT_UNREACHABLE;
    }
    else
    if (!pc_login_ok_topic (reply) || strlen (pc_login_ok_topic (reply)) >= 64) {
        fprintf (stderr, "pychat: malformed LOGIN reply from %s (no topic)\n", client_net_endpoint (self->net));
        rc = PC_EXIT_UNREACHABLE;
    }
    else {
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

int
client_conn_enter (client_conn_t *self, const char *room, const char *what)
{
    assert (self);
    //  WHO first: it answers 404 for a room that does not exist (or that
    //  this user may not know of), where a JOIN would create the room
    pc_msg_t *request = pc_msg_new ("WHO");
    pc_msg_add (request, room);
    pc_msg_t *reply = NULL;
    int rc = client_conn_call (self, what, request, &reply);
    pc_msg_destroy (&request);
    pc_msg_destroy (&reply);
    return rc? rc: client_conn_join (self, room);
}

int
client_conn_ping_async (client_conn_t *self)
{
    assert (self);
    pc_msg_t *request = pc_msg_new ("PING");
    char reqid [32];
    int rc = client_net_send (self->net, request, reqid);
    pc_msg_destroy (&request);
    return rc;
}

void
client_conn_drain (client_conn_t *self)
{
    assert (self);
    pc_msg_t *reply = pc_msg_new (NULL);
    while (client_net_recv (self->net, reply) != -1)
        ;
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
    pc_msg_add (request, "keep");
    char reqid [32];
    if (client_net_send (self->net, request, reqid) == 0) {
        //  Wait a moment even after a signal: the reply means it arrived.
        int64_t deadline = zclock_mono () + LOGOUT_WAIT_MS;
        pc_msg_t *reply = pc_msg_new (NULL);
        while (zclock_mono () < deadline) {
            zmq_pollitem_t item = { client_net_dealer (self->net), 0, ZMQ_POLLIN, 0 };
            zmq_poll (&item, 1, deadline - zclock_mono ());
            if (client_net_recv (self->net, reply) == 0 && streq (pc_msg_reqid (reply), reqid))
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

const char *client_conn_endpoint (client_conn_t *self) { assert (self); return client_net_endpoint (self->net); }
const char *client_conn_host (client_conn_t *self) { assert (self); return client_net_host (self->net); }

//  client_post.c: send and dm, one message each, on client_session.
#include "client_post.h"
#include "pc_proto.h"
#include "client_conn.h"
#include "client_dm.h"
#include "client_listen.h"
#include "client_net.h"
#include "client_session.h"
#include "client_token.h"
#include "pc_keys.h"
#include "pc_limits.h"

#include <inttypes.h>
#include <sodium.h>

#define RETRY_FIRST_MS      100         //  after a lost connection, then doubled
#define RETRY_MAX_MS        1000
#define PATIENCE_MS         3000        //  one LOGIN (a password hash on the way)
#define LOGOUT_WAIT_MS      300

typedef enum { P_SETKEY, P_GETKEY, P_LOGOUT } post_req_t;

typedef struct {
    client_opts_t    *opts;
    client_session_t *session;
    const char       *room;             //  SEND: the room; NULL for a DM
    const char       *peer;             //  DM: the recipient
    pc_buf_t         *text;
    const char       *kind;             //  edit, delete, reply, react, unreact or NULL
    const char       *ref;              //  and the message it is about
    client_dm_keys_t  keys;
    client_dm_devices_t peer_devices;   //  DM: the recipient's, checked and pinned
    client_dm_devices_t own_devices;    //  DM: the sender's own, likewise
    bool              has_peer;
    bool              has_own;
    bool              queued;           //  the request is in the outbox
    bool              done;
    bool              logged_out;
    bool              print_id;
    int64_t           held_said;        //  when "held back" was last said (ms)
    char              held_why [120];   //  the server's reason, sanitized
    int               rc;
} post_t;

static void
s_done (post_t *self, int rc)
{
    if (!self->done)
        self->rc = rc;
    self->done = true;
}

static void
s_new_cid (char *cid)
{
    zuuid_t *uuid = zuuid_new ();
    snprintf (cid, CLIENT_SESSION_CID, "%s", zuuid_str (uuid));
    zuuid_destroy (&uuid);
}

static void
s_queue_send (post_t *self)
{
    char cid [CLIENT_SESSION_CID];
    s_new_cid (cid);
    pc_msg_t *request = pc_msg_new ("SEND");
    pc_msg_add (request, self->room);
    pc_msg_add (request, cid);
    pc_msg_add (request, self->text->data);
    if (self->kind) {
        pc_msg_add (request, self->kind);
        pc_msg_add (request, self->ref);
    }
    self->queued = client_session_send_request (self->session, &request) == 0;
}

//  Adds this device to the own list when the server did not list it (yet:
//  its SETKEY may still be on the way), so that the sender's copy opens
//  here too.
static void
s_add_self (post_t *self)
{
    client_dm_devices_t *own = &self->own_devices;
    if (client_dm_devices_find (own, self->keys.id) || own->count == PC_DEVICES_MAX)
        return;
    client_dm_device_t *device = &own->device [own->count++];
    memset (device, 0, sizeof (*device));
    snprintf (device->id, sizeof (device->id), "%s", self->keys.id);
    snprintf (device->z85, sizeof (device->z85), "%s", self->keys.public_txt);
    snprintf (device->name, sizeof (device->name), "%s", self->keys.name);
}

//  Both device lists came, checked against the pins (trust on first use,
//  per device): seal for every device of the recipient and of the sender,
//  queue the DM.
static void
s_queue_dm (post_t *self)
{
    s_add_self (self);
    //  A delete carries no text; an edit's, a reply's, a reaction's is
    //  sealed as a DM's is
    bool erase = self->kind && streq (self->kind, "delete");
    char *box = erase? strdup ("-")
              : client_dm_seal_devices (self->text->data, self->text->size, &self->keys,
                                        &self->peer_devices, &self->own_devices);
    if (!box) {
        fprintf (stderr, "pychat: cannot seal for %s: a published key is not usable\n",
                 self->peer);
        s_done (self, PC_EXIT_REFUSED);
        return;
    }
    char cid [CLIENT_SESSION_CID];
    s_new_cid (cid);
    pc_msg_t *request = pc_msg_new ("DM");
    pc_msg_add (request, self->peer);
    pc_msg_add (request, cid);
    pc_msg_add (request, box);
    free (box);
    if (self->kind) {
        pc_msg_add (request, self->kind);
        pc_msg_add (request, self->ref);
    }
    self->queued = client_session_send_request (self->session, &request) == 0;
}

static void
s_ask (post_t *self, const char *command, const char *field, post_req_t kind)
{
    pc_msg_t *request = pc_msg_new (command);
    if (field)
        pc_msg_add (request, field);
    client_session_request (self->session, request, kind, field, 0);
    pc_msg_destroy (&request);
}

static void
s_on_token (void *arg, const char *token, const char *sid)
{
    post_t *self = (post_t *) arg;
    client_token_update (self->opts->home, self->opts->user, self->opts->server_key, token, sid);
}

static int
s_on_password (void *arg, char *password, size_t size)
{
    return client_token_password (((post_t *) arg)->opts->user, password, size);
}

static void
s_on_login (void *arg, pc_msg_t *reply, bool again)
{
    post_t *self = (post_t *) arg;
    if (pc_msg_is (reply, "ERROR")) {
        s_done (self, client_conn_report ("login", reply));
        return;
    }
    //  This device in the account's list, so that others can write to it;
    //  a DM needs the devices of the recipient and of the sender first.
    pc_msg_t *request = client_dm_setkey_new (&self->keys);
    client_session_request (self->session, request, P_SETKEY, NULL, 0);
    pc_msg_destroy (&request);
    if (self->peer && !self->queued) {
        s_ask (self, "GETKEY", self->peer, P_GETKEY);
        if (!streq (self->peer, self->opts->user))
            s_ask (self, "GETKEY", self->opts->user, P_GETKEY);
    }
}

static void
s_on_reply (void *arg, int kind, const char *what, long n, pc_msg_t *reply)
{
    post_t *self = (post_t *) arg;
    if (kind == P_LOGOUT)
        self->logged_out = true;
    if (kind == P_SETKEY && reply) {
        client_dm_setkey_refused (reply, client_dm_say_stderr, NULL);
        return;
    }
    if (kind != P_GETKEY || !reply || self->queued || self->done)
        return;                         //  a lost GETKEY is asked again after LOGIN
    bool own = streq (what, self->opts->user);
    bool peer = streq (what, self->peer);
    int code = pc_msg_error_code (reply);
    client_dm_devices_t devices;
    if (peer && client_dm_no_such_user (reply)) {
        fprintf (stderr, "pychat: no such user: %s\n", self->peer);
        s_done (self, PC_EXIT_REFUSED);
        return;
    }
    if (peer && code == PC_ERR_NOT_FOUND) {
        fprintf (stderr, "pychat: %s has no key yet (they must log in once)\n", self->peer);
        s_done (self, PC_EXIT_REFUSED);
        return;
    }
    if (code == PC_ERR_NOT_FOUND)
        memset (&devices, 0, sizeof (devices));     //  our own first key is on the way
    else
    if (code) {
        char what_txt [80];
        snprintf (what_txt, sizeof (what_txt), "key lookup of %s", what);
        s_done (self, client_conn_report (what_txt, reply));
        return;
    }
    else
    if (client_dm_devices_parse (reply, &devices)) {
        fprintf (stderr, "pychat: malformed GETKEY reply (no devices)\n");
        s_done (self, PC_EXIT_UNREACHABLE);
        return;
    }
    int rc = client_dm_devices_check (self->opts->home, self->opts->user, self->keys.id, what,
                                      &devices, client_dm_say_stderr, NULL);
    if (rc) {
        s_done (self, rc == 1? PC_EXIT_REFUSED: PC_EXIT_USAGE);
        return;
    }
    if (peer) {
        self->peer_devices = devices;
        self->has_peer = true;
    }
    if (own) {
        self->own_devices = devices;
        self->has_own = true;
    }
    if (self->has_peer && self->has_own)
        s_queue_dm (self);
}

static void
s_on_sent (void *arg, const char *cid, int code, const char *reason, uint64_t id, int64_t ts)
{
    post_t *self = (post_t *) arg;
    if (code) {
        s_done (self, client_conn_report_code (self->room? "send": "dm", code, reason));
        return;
    }
    if (id == 0) {
        fprintf (stderr, "pychat: malformed %s reply (no message id)\n", self->room? "SEND": "DM");
        s_done (self, PC_EXIT_UNREACHABLE);
        return;
    }
    if (self->print_id)
        printf ("%" PRIu64 "\n", id);
    s_done (self, client_listen_flush_stdout ());
}

//  Flood control held the message back: the engine sends it again; the
//  person is told, at most once a second
static void
s_on_held (void *arg, const char *cid, int64_t wait_ms, const char *reason)
{
    post_t *self = (post_t *) arg;
    int64_t now = zclock_mono ();
    if (self->held_said && now - self->held_said < 1000)
        return;
    self->held_said = now;
    client_conn_sanitize (reason, self->held_why, sizeof (self->held_why));
    fprintf (stderr, "pychat: held back by the server (%s): sending again in %.1f s\n",
             *self->held_why? self->held_why: "rate limit", wait_ms / 1000.0);
}

static void
s_on_join_failed (void *arg, const char *room, int code, const char *reason)
{
    char what [64];
    snprintf (what, sizeof (what), "join #%s", room);
    s_done ((post_t *) arg, client_conn_report_code (what, code, reason));
}

static void
s_on_state (void *arg, client_session_state_t state, const char *why)
{
    if (state == CLIENT_SESSION_REFUSED && *why) {
        char safe [300];
        client_conn_sanitize (why, safe, sizeof (safe));
        fprintf (stderr, "pychat: %s\n", safe);
        s_done ((post_t *) arg, PC_EXIT_USAGE);
    }
}

//  Polls the transport up to ms, then lets the engine read and tick.
static void
s_wait (post_t *self, client_net_t *net, int ms)
{
    client_net_wait (net, ms);
    client_session_input (self->session);
    client_session_tick (self->session);
}

//  Runs the engine until the post is answered, refused, interrupted or
//  out of time; then logs out (best effort).
static int
s_run (post_t *self, client_net_t *net, const char *password)
{
    int64_t deadline = zclock_mono () + self->opts->timeout_ms;
    client_session_start (self->session, self->opts->server, self->opts->server_key,
                          self->opts->user, password);
    while (!self->done && !client_conn_interrupted () && zclock_mono () < deadline) {
        s_wait (self, net, 50);
        if (!self->done && client_net_key_refused (net)) {
            fprintf (stderr, "pychat: " CLIENT_NET_KEY_REFUSED "\n", self->opts->server);
            s_done (self, PC_EXIT_UNREACHABLE);
        }
    }
    if (!self->done && client_conn_interrupted ())
        s_done (self, CLIENT_INTERRUPTED);
    if (!self->done && self->held_said) {
        //  The broker answered: it was holding the message back (slow mode,
        //  flood control) for longer than --timeout allows
        fprintf (stderr, "pychat: gave up after %g s (--timeout): the server was holding the message back (%s)\n",
                 self->opts->timeout_ms / 1000.0, *self->held_why? self->held_why: "rate limit");
        s_done (self, PC_EXIT_UNREACHABLE);
    }
    if (!self->done) {
        fprintf (stderr, "pychat: no reply from %s within %g s (is the broker running?)\n",
                 self->opts->server, self->opts->timeout_ms / 1000.0);
        s_done (self, PC_EXIT_UNREACHABLE);
    }
    if (client_session_state (self->session) == CLIENT_SESSION_ONLINE) {
        s_ask (self, "LOGOUT", "keep", P_LOGOUT);      //  the token stays for the next run
        int64_t until = zclock_mono () + LOGOUT_WAIT_MS;
        while (!self->logged_out && zclock_mono () < until)
            s_wait (self, net, 20);
    }
    return self->rc;
}

int
client_post_run (client_opts_t *opts, const char *password, const char *room,
                 const char *peer, pc_buf_t *text, bool print_id)
{
    return client_post_event (opts, password, room, peer, text, NULL, NULL, print_id);
}

int
client_post_event (client_opts_t *opts, const char *password, const char *room,
                   const char *peer, pc_buf_t *text, const char *kind, const char *ref,
                   bool print_id)
{
    post_t self;
    memset (&self, 0, sizeof (self));
    self.opts = opts;
    self.kind = kind;
    self.ref = ref;
    self.room = room;
    self.peer = room? NULL: peer;
    self.text = text;
    self.print_id = print_id;
    int rc = client_dm_device_load (opts->home, &self.keys);
    if (rc)
        return rc;
    client_net_t *net = client_net_new ();
    client_session_events_t events = {
        .state = s_on_state, .login = s_on_login, .join_failed = s_on_join_failed,
        .sent = s_on_sent, .reply = s_on_reply, .token = s_on_token, .password = s_on_password,
        .held = s_on_held
    };
    self.session = client_session_new (&client_net_transport, net, &events, &self);
    client_token_setup (self.session, opts->home, opts->user, opts->server_key);
    client_session_set_persistent (self.session, true);
    client_session_set_reliable (self.session, true);
    client_session_set_backoff (self.session, RETRY_FIRST_MS, RETRY_MAX_MS);
    client_session_set_patience (self.session, PATIENCE_MS);
    if (room) {
        client_session_follow (self.session, room, true, 0, -1);
        s_queue_send (&self);
    }
    rc = s_run (&self, net, password);
    client_session_destroy (&self.session);
    client_net_destroy (&net);
    client_dm_keys_clear (&self.keys);
    return rc;
}

//  client_session_fake.c: the scripted transport of client_session's selftest.
#include "client_session_fake.h"
#include "pc_proto.h"
#include "pc_util.h"

#include <inttypes.h>

struct _client_session_fake_t {
    bool      open;
    int       opens;
    int64_t   clock;
    unsigned  next_reqid;
    char      topic [64];
    zlistx_t *sent;                     //  pc_msg_t *: what the engine sent
    zlistx_t *replies;                  //  pc_msg_t *: what it will read
    zlistx_t *fanouts;
};

static void
s_fake_msg_destroy (void **item)
{
    pc_msg_destroy ((pc_msg_t **) item);
}

static int
s_fake_open (void *handle, const char *endpoint, const char *key, char *errtext, size_t size)
{
    client_session_fake_t *fake = (client_session_fake_t *) handle;
    fake->open = true;
    fake->opens++;
    return 0;
}

static void
s_fake_close (void *handle)
{
    client_session_fake_t *fake = (client_session_fake_t *) handle;
    fake->open = false;
    zlistx_purge (fake->replies);
    zlistx_purge (fake->fanouts);
}

static int
s_fake_send (void *handle, pc_msg_t *request, char *reqid)
{
    client_session_fake_t *fake = (client_session_fake_t *) handle;
    snprintf (reqid, CLIENT_SESSION_REQID, "f-%u", fake->next_reqid++);
    if (!fake->open)
        return -1;
    pc_msg_set_reqid (request, reqid);
    zlistx_add_end (fake->sent, pc_msg_dup (request));
    return 0;
}

static int
s_fake_subscribe (void *handle, int port, const char *topic)
{
    snprintf (((client_session_fake_t *) handle)->topic, 64, "%s", topic);
    return 0;
}

static pc_msg_t *
s_fake_reply (void *handle)
{
    return (pc_msg_t *) zlistx_detach (((client_session_fake_t *) handle)->replies, NULL);
}

static pc_msg_t *
s_fake_fanout (void *handle)
{
    return (pc_msg_t *) zlistx_detach (((client_session_fake_t *) handle)->fanouts, NULL);
}

static int64_t
s_fake_now (void *handle)
{
    return ((client_session_fake_t *) handle)->clock;
}

const client_session_transport_t client_session_fake_transport = {
    s_fake_open, s_fake_close, s_fake_send, s_fake_subscribe,
    s_fake_reply, s_fake_fanout, s_fake_now
};

client_session_fake_t *
client_session_fake_new (void)
{
    client_session_fake_t *self = (client_session_fake_t *) zmalloc (sizeof (client_session_fake_t));
    assert (self);
    self->clock = 1000000;
    self->sent = zlistx_new ();
    self->replies = zlistx_new ();
    self->fanouts = zlistx_new ();
    zlistx_set_destructor (self->sent, s_fake_msg_destroy);
    zlistx_set_destructor (self->replies, s_fake_msg_destroy);
    zlistx_set_destructor (self->fanouts, s_fake_msg_destroy);
    return self;
}

void
client_session_fake_destroy (client_session_fake_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        zlistx_destroy (&(*self_p)->sent);
        zlistx_destroy (&(*self_p)->replies);
        zlistx_destroy (&(*self_p)->fanouts);
        free (*self_p);
        *self_p = NULL;
    }
}

int64_t *client_session_fake_clock (client_session_fake_t *self) { return &self->clock; }
int client_session_fake_opens (client_session_fake_t *self) { return self->opens; }
bool client_session_fake_is_open (client_session_fake_t *self) { return self->open; }
const char *client_session_fake_topic (client_session_fake_t *self) { return self->topic; }
size_t client_session_fake_pending (client_session_fake_t *self) { return zlistx_size (self->sent); }
void client_session_fake_purge (client_session_fake_t *self) { zlistx_purge (self->sent); }

//  The next request the engine sent: must be command; caller owns it.
pc_msg_t *
client_session_fake_expect (client_session_fake_t *fake, const char *command)
{
    pc_msg_t *request = (pc_msg_t *) zlistx_detach (fake->sent, NULL);
    if (!request || !pc_msg_is (request, command))
        zsys_error ("client_session_test: expected %s, got %s", command,
                    request? pc_msg_command (request): "nothing");
    assert (request && pc_msg_is (request, command));
    return request;
}

//  Answers request OK with fields (NULL-terminated); destroys request.
void
client_session_fake_answer (client_session_fake_t *fake, pc_msg_t **request_p, ...)
{
    pc_msg_t *reply = pc_msg_new_ok (*request_p);
    va_list args;
    va_start (args, request_p);
    const char *field;
    while ((field = va_arg (args, const char *)))
        pc_msg_add (reply, field);
    va_end (args);
    zlistx_add_end (fake->replies, reply);
    pc_msg_destroy (request_p);
}

void
client_session_fake_refuse (client_session_fake_t *fake, pc_msg_t **request_p, int code, const char *reason)
{
    zlistx_add_end (fake->replies, pc_msg_new_error (*request_p, code, reason));
    pc_msg_destroy (request_p);
}

void
client_session_fake_fan (client_session_fake_t *fake, const char *id, const char *room, const char *text)
{
    pc_msg_t *msg = pc_msg_new ("MSG");
    pc_msg_set_topic (msg, fake->topic);
    pc_msg_add (msg, id);
    pc_msg_add (msg, room);
    pc_msg_add (msg, "bob");
    pc_msg_add (msg, "1000");
    pc_msg_add (msg, text);
    zlistx_add_end (fake->fanouts, msg);
}


//  LOGIN, JOIN of #r (and the SENDs waiting) before SUBS; returns with
//  the JOIN and SUBS answered, the catch-up HISTORY still out.
pc_msg_t *
client_session_fake_login (client_session_t *session, client_session_fake_t *fake, pc_msg_t **sends, int resends)
{
    pc_msg_t *login = client_session_fake_expect (fake, "LOGIN");
    assert (streq (pc_login_user (login), "alice"));
    client_session_fake_answer (fake, &login, "alice", "user", "5556", "s/T/", NULL);
    client_session_input (session);
    assert (client_session_state (session) == CLIENT_SESSION_ONLINE);
    assert (streq (client_session_fake_topic (fake), "s/T/"));
    pc_msg_t *join = client_session_fake_expect (fake, "JOIN");
    assert (streq (pc_join_room (join), "r"));
    for (int i = 0; i < resends; i++)
        sends [i] = client_session_fake_expect (fake, "SEND");
    pc_msg_t *subs = client_session_fake_expect (fake, "SUBS");
    client_session_fake_answer (fake, &join, "r", "s/T/", NULL);
    client_session_fake_answer (fake, &subs, "s/T/", NULL);
    client_session_input (session);
    return client_session_fake_expect (fake, "HISTORY");
}

//  --------------------------------------------------------------------------
//  A front end that writes down what it hears


static void
s_heard (client_session_fake_heard_t *heard, const char *format, ...)
{
    size_t len = strlen (heard->log);
    va_list args;
    va_start (args, format);
    vsnprintf (heard->log + len, sizeof (heard->log) - len, format, args);
    va_end (args);
}

static void
s_t_state (void *arg, client_session_state_t state, const char *why)
{
    ((client_session_fake_heard_t *) arg)->state = state;
}

static void
s_t_message (void *arg, const char *room, uint64_t id, const char *from, int64_t ts,
             const char *text, bool live)
{
    s_heard ((client_session_fake_heard_t *) arg, "%s:%" PRIu64 ":%s%s;", room, id, text, live? "": "*");
}

static void
s_t_sent (void *arg, const char *cid, int code, const char *reason, uint64_t id, int64_t ts)
{
    s_heard ((client_session_fake_heard_t *) arg, "sent:%d:%" PRIu64 ";", code, id);
}

static void
s_t_ready (void *arg)
{
    ((client_session_fake_heard_t *) arg)->readies++;
}

const client_session_events_t client_session_fake_events = {
    .state = s_t_state, .message = s_t_message, .sent = s_t_sent, .ready = s_t_ready
};

//  client_session.c: login, joins, outbox, gap fill, probe and reconnect.
#include "client_session.h"
#include "pc_proto.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <inttypes.h>
#include <sodium.h>

#define PROBE_MS            1000        //  SUBS every second: needs the login
#define DEAD_MS             CLIENT_SESSION_DEAD_MS
#define SUBS_RETRY_MS       50
#define REQ_EXPIRE_MS       15000
#define BACKOFF_FIRST_MS    1000
#define BACKOFF_MAX_MS      30000
#define FILL_TRIES          3           //  probes before a gap is called lost
#define ROOMS_MAX           64
#define REQS_MAX            512
#define OUTBOX_MAX          200
#define SERVERS_MAX         16          //  seeds and brokers LOGIN named
#define SERVER_LEN          256

typedef enum {
    Q_LOGIN, Q_REGISTER, Q_JOIN, Q_LEAVE, Q_SEND, Q_SUBS, Q_FILL, Q_PING, Q_FRONT
} req_kind_t;

typedef struct {
    char       reqid [CLIENT_SESSION_REQID];
    req_kind_t kind;
    int        front_kind;
    char       what [80];
    long       n;
    int64_t    at;
} req_t;

typedef struct {
    char     name [PC_NAME_MAX + 1];    //  a room, or CLIENT_SESSION_INBOX
    bool     inbox;                     //  INBOX and DMMSG instead of HISTORY and MSG
    bool     known;                 //  last means something
    uint64_t last;                  //  the last id handed on
    uint64_t seen;                  //  the highest id the fan-out announced
    long     backlog;               //  while !known: how many to hand on
    bool     joined;
    bool     answered;              //  the JOIN was answered (OK or not)
    bool     filling;               //  a HISTORY of the catch-up is out
    int      tries;                 //  fills that brought nothing
} room_t;

//  A SEND or DM (fields: target, client message id, ...) until answered.
typedef struct {
    char      room [PC_NAME_MAX + 1];   //  a SEND's room: "" for a DM
    char      cid [CLIENT_SESSION_CID];
    pc_msg_t *request;
    bool      inflight;
    int64_t   hold_until;               //  held back (429): not sent before
} out_t;

struct _client_session_t {
    const client_session_transport_t *tr;
    void       *handle;
    client_session_events_t events;
    void       *arg;
    client_session_state_t state;
    bool        open;
    bool        ever_online;
    bool        register_first;
    bool        persistent;         //  retry before the first login too
    bool        reliable;           //  503 is retried; SENDs wait for their JOIN
    char        endpoint [512];     //  the seed list as given (comma-separated)
    char        servers [SERVERS_MAX][SERVER_LEN];  //  seeds, then brokers LOGIN named
    size_t      nservers;
    size_t      server;             //  the one in use
    size_t      tried;              //  servers tried since the last login
    char        server_key [64];
    char        user [PC_NAME_MAX + 1];
    char        password [PC_SECRET_MAX + 1];
    char        token [80];         //  resume token ("" none): RESUME first
    char        sid [24];           //  its id
    char        device [PC_ID_MAX + 1];
    bool        resuming;           //  the Q_LOGIN out is a RESUME
    int         retry_hint_ms;      //  a 503's retry-after, for the next wait
    char        topic [64];
    bool        subscribed;
    bool        ready;
    int64_t     subs_at;            //  0: no SUBS retry due
    int64_t     last_rx, next_probe, retry_at;
    int         backoff_ms, backoff_first_ms, backoff_max_ms;
    int         patience_ms;        //  silence that means the server is gone
    room_t      rooms [ROOMS_MAX];
    size_t      nrooms;
    req_t       reqs [REQS_MAX];
    size_t      nreqs;
    out_t       outbox [OUTBOX_MAX];
    size_t      nout;
};

static int64_t s_now (client_session_t *self) { return self->tr->now (self->handle); }

client_session_t *
client_session_new (const client_session_transport_t *transport, void *handle,
                    const client_session_events_t *events, void *arg)
{
    assert (transport && events);
    client_session_t *self = (client_session_t *) zmalloc (sizeof (client_session_t));
    assert (self);
    self->tr = transport;
    self->handle = handle;
    self->events = *events;
    self->arg = arg;
    self->backoff_first_ms = self->backoff_ms = BACKOFF_FIRST_MS;
    self->backoff_max_ms = BACKOFF_MAX_MS;
    self->patience_ms = DEAD_MS;
    return self;
}

void
client_session_destroy (client_session_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        client_session_t *self = *self_p;
        client_session_stop (self);
        for (size_t i = 0; i < self->nout; i++)
            pc_msg_destroy (&self->outbox [i].request);
        sodium_memzero (self->password, sizeof (self->password));
        sodium_memzero (self->token, sizeof (self->token));
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Requests

static req_t *
s_request (client_session_t *self, pc_msg_t *request, req_kind_t kind, const char *what)
{
    char reqid [CLIENT_SESSION_REQID];
    if (!self->open || self->tr->send (self->handle, request, reqid) == -1)
        return NULL;
    if (self->nreqs == REQS_MAX) {              //  forget the oldest
        memmove (self->reqs, self->reqs + 1, (REQS_MAX - 1) * sizeof (req_t));
        self->nreqs--;
    }
    req_t *req = &self->reqs [self->nreqs++];
    memset (req, 0, sizeof (*req));
    snprintf (req->reqid, sizeof (req->reqid), "%s", reqid);
    req->kind = kind;
    snprintf (req->what, sizeof (req->what), "%s", what? what: "");
    req->at = s_now (self);
    return req;
}

static req_t *
s_simple (client_session_t *self, const char *command, const char *f1, const char *f2,
          const char *f3, req_kind_t kind, const char *what)
{
    pc_msg_t *request = pc_msg_new (command);
    if (f1) pc_msg_add (request, f1);
    if (f2) pc_msg_add (request, f2);
    if (f3) pc_msg_add (request, f3);
    req_t *req = s_request (self, request, kind, what);
    pc_msg_destroy (&request);
    return req;
}

static room_t *
s_room (client_session_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->nrooms; i++)
        if (streq (self->rooms [i].name, name))
            return &self->rooms [i];
    return NULL;
}

static void
s_set_state (client_session_t *self, client_session_state_t state, const char *why)
{
    self->state = state;
    if (self->events.state)
        self->events.state (self->arg, state, why? why: "");
}

//  --------------------------------------------------------------------------
//  Connection

//  Closes the connection; front-end requests are told they will get no
//  reply, SENDs go back to the outbox to be resent after the next LOGIN.
static void
s_close (client_session_t *self)
{
    if (self->open)
        self->tr->close (self->handle);
    self->open = false;
    self->subscribed = false;
    self->ready = false;
    self->subs_at = 0;
    req_t lost [REQS_MAX];
    size_t nlost = 0;
    for (size_t i = 0; i < self->nreqs; i++)
        if (self->reqs [i].kind == Q_FRONT)
            lost [nlost++] = self->reqs [i];
    self->nreqs = 0;
    for (size_t i = 0; i < self->nout; i++)
        self->outbox [i].inflight = false;
    for (size_t i = 0; i < self->nrooms; i++) {
        self->rooms [i].joined = self->rooms [i].answered = false;
        self->rooms [i].filling = false;
    }
    for (size_t i = 0; i < nlost && self->events.reply; i++)
        self->events.reply (self->arg, lost [i].front_kind, lost [i].what, lost [i].n, NULL);
}

//  The connection is gone (or useless): try again after the backoff, or
//  at once (the broker answered but forgot us). Before the first login a
//  person is waiting: give up and say why.
//  Adds endpoint to the servers unless it is there (or there is no room)
static void
s_add_server (client_session_t *self, const char *endpoint, size_t len)
{
    if (len == 0 || len >= SERVER_LEN || self->nservers == SERVERS_MAX)
        return;
    for (size_t i = 0; i < self->nservers; i++)
        if (strlen (self->servers [i]) == len && memcmp (self->servers [i], endpoint, len) == 0)
            return;
    memcpy (self->servers [self->nservers], endpoint, len);
    self->servers [self->nservers++][len] = 0;
}

//  With several servers, a lost one is left for the next (round robin):
//  the session resumes there with its token, resends what was not
//  acknowledged and fills its gaps from the shared history
static void
s_next_server (client_session_t *self)
{
    if (self->nservers > 1) {
        self->server = (self->server + 1) % self->nservers;
        self->tried++;
    }
}

static void
s_went_down (client_session_t *self, const char *why, bool at_once)
{
    s_close (self);
    if (!at_once)
        s_next_server (self);
    if (!self->ever_online && !self->persistent && self->tried < self->nservers
    &&  self->nservers > 1) {
        //  A person is waiting, and another seed may answer: try it now
        self->retry_at = s_now (self);
        s_set_state (self, CLIENT_SESSION_WAITING, why);
        return;
    }
    if (!self->ever_online && !self->persistent) {
        s_set_state (self, CLIENT_SESSION_IDLE, why);
        return;
    }
    if (!at_once && self->retry_hint_ms <= 0 && self->nservers > 1
    &&  self->tried < self->nservers) {
        //  Another broker of the list has not been tried since this one
        //  was lost: go there now (a quarter second of jitter, so that a
        //  broker's crowd does not arrive at once), the backoff is for
        //  when they all fail
        self->retry_at = s_now (self) + randombytes_uniform (250);
        s_set_state (self, CLIENT_SESSION_WAITING, why);
        return;
    }
    self->retry_at = s_now (self) + (at_once? 0: self->backoff_ms);
    if (self->retry_hint_ms > 0) {
        //  The server said how long: that, plus up to half again (jitter),
        //  so that a crowd told the same does not come back at once
        self->retry_at = s_now (self) + self->retry_hint_ms
                       + randombytes_uniform ((uint32_t) self->retry_hint_ms / 2 + 1);
        self->retry_hint_ms = 0;
    }
    else
    if (!at_once)
        self->backoff_ms = self->backoff_ms * 2 > self->backoff_max_ms? self->backoff_max_ms
                                                                      : self->backoff_ms * 2;
    s_set_state (self, CLIENT_SESSION_WAITING, why);
}

//  RESUME with the token when there is one, else LOGIN with the password
static void
s_login (client_session_t *self)
{
    self->resuming = *self->token != 0;
    const char *device = *self->device? self->device: NULL;
    if (self->resuming)
        s_simple (self, "RESUME", self->user, self->token, device, Q_LOGIN, NULL);
    else
        s_simple (self, "LOGIN", self->user, self->password, device, Q_LOGIN, NULL);
}

static void
s_connect (client_session_t *self)
{
    char why [160] = "";
    s_close (self);
    const char *endpoint = self->nservers? self->servers [self->server]: self->endpoint;
    if (self->tr->open (self->handle, endpoint, self->server_key, why, sizeof (why)) == -1) {
        s_set_state (self, CLIENT_SESSION_REFUSED, why);
        return;
    }
    self->open = true;
    self->last_rx = s_now (self);
    self->next_probe = self->last_rx + PROBE_MS;
    s_set_state (self, CLIENT_SESSION_CONNECTING, "");
    if (self->register_first)
        s_simple (self, "REGISTER", self->user, self->password, NULL, Q_REGISTER, NULL);
    else
        s_login (self);
}

static void
s_start (client_session_t *self, const char *endpoint, const char *server_key,
         const char *user, const char *password, bool register_first)
{
    assert (self);
    snprintf (self->endpoint, sizeof (self->endpoint), "%s", endpoint? endpoint: "");
    self->nservers = self->server = self->tried = 0;
    for (const char *at = self->endpoint; *at; ) {
        size_t len = strcspn (at, ",");
        while (len && at [len - 1] == ' ')
            len--;
        s_add_server (self, at, len);
        at += strcspn (at, ",");
        at += strspn (at, ", ");
    }
    snprintf (self->server_key, sizeof (self->server_key), "%s", server_key? server_key: "");
    snprintf (self->user, sizeof (self->user), "%s", user? user: "");
    snprintf (self->password, sizeof (self->password), "%s", password? password: "");
    self->register_first = register_first;
    self->backoff_ms = self->backoff_first_ms;
    s_connect (self);
}

void
client_session_start (client_session_t *self, const char *endpoint, const char *server_key,
                      const char *user, const char *password)
{
    s_start (self, endpoint, server_key, user, password, false);
}

void
client_session_register (client_session_t *self, const char *endpoint, const char *server_key,
                         const char *user, const char *password)
{
    s_start (self, endpoint, server_key, user, password, true);
}

void
client_session_set_token (client_session_t *self, const char *token)
{
    assert (self);
    snprintf (self->token, sizeof (self->token), "%s", token? token: "");
}

void
client_session_set_device (client_session_t *self, const char *device)
{
    assert (self);
    snprintf (self->device, sizeof (self->device), "%s", device? device: "");
}

const char *
client_session_token_id (client_session_t *self)
{
    assert (self);
    return self->sid;
}

void
client_session_set_persistent (client_session_t *self, bool persistent)
{
    assert (self);
    self->persistent = persistent;
}

void
client_session_set_reliable (client_session_t *self, bool reliable)
{
    assert (self);
    self->reliable = reliable;
}

void
client_session_set_backoff (client_session_t *self, int first_ms, int max_ms)
{
    assert (self && first_ms > 0 && max_ms >= first_ms);
    self->backoff_first_ms = self->backoff_ms = first_ms;
    self->backoff_max_ms = max_ms;
}

void
client_session_set_patience (client_session_t *self, int ms)
{
    assert (self);
    self->patience_ms = ms > 0? ms: DEAD_MS;
}

void
client_session_stop (client_session_t *self)
{
    assert (self);
    s_close (self);
    self->state = CLIENT_SESSION_IDLE;
}

//  --------------------------------------------------------------------------
//  Rooms and the outbox

static void s_fill (client_session_t *self, room_t *room);

//  A room is joined; the inbox is the user's own: nothing to join.
static void
s_join (client_session_t *self, room_t *room)
{
    if (!room->inbox) {
        s_simple (self, "JOIN", room->name, NULL, NULL, Q_JOIN, room->name);
        return;
    }
    room->joined = room->answered = true;
    s_fill (self, room);
}

//  Asks for what room misses: after last (a known room), else its latest
//  backlog messages (or its newest one, only to learn where it stands).
static void
s_fill (client_session_t *self, room_t *room)
{
    if (room->filling || !room->joined || room->backlog < 0)
        return;
    char since [32], limit [16];
    if (room->known && room->last)
        snprintf (since, sizeof (since), "%" PRIu64, room->last);
    else
        snprintf (since, sizeof (since), "%s", room->known? "-1": "0");
    long n = room->known? PC_HISTORY_MAX: room->backlog? room->backlog: 1;
    snprintf (limit, sizeof (limit), "%ld", n > PC_HISTORY_MAX? (long) PC_HISTORY_MAX: n);
    if (room->inbox)
        room->filling = s_simple (self, "INBOX", since, limit, NULL, Q_FILL, room->name) != NULL;
    else
        room->filling = s_simple (self, "HISTORY", room->name, since, limit, Q_FILL, room->name) != NULL;
}

static void
s_send_out (client_session_t *self, out_t *out)
{
    out->inflight = s_request (self, out->request, Q_SEND, out->cid) != NULL;
}

//  Sends, in order, what the outbox holds and is not out yet.
static void
s_flush_outbox (client_session_t *self)
{
    int64_t now = s_now (self);
    for (size_t i = 0; i < self->nout && self->state == CLIENT_SESSION_ONLINE; i++) {
        out_t *out = &self->outbox [i];
        room_t *room = *out->room? s_room (self, out->room): NULL;
        if ((self->reliable && room && !room->joined) || out->hold_until > now)
            break;                      //  in order: this one waits for its JOIN, or its turn
        if (!out->inflight)
            s_send_out (self, out);
    }
}

void
client_session_follow (client_session_t *self, const char *room, bool known,
                       uint64_t last, long backlog)
{
    assert (self && room);
    room_t *r = s_room (self, room);
    if (!r) {
        if (self->nrooms == ROOMS_MAX)
            return;
        r = &self->rooms [self->nrooms++];
        memset (r, 0, sizeof (*r));
        snprintf (r->name, sizeof (r->name), "%s", room);
        r->known = known;
        r->last = known? last: 0;
        r->backlog = backlog;
    }
    if (self->state == CLIENT_SESSION_ONLINE && !r->joined) {
        self->ready = false;
        s_join (self, r);
    }
}

void
client_session_follow_inbox (client_session_t *self, uint64_t last)
{
    assert (self);
    client_session_follow (self, CLIENT_SESSION_INBOX, true, last, 0);
    s_room (self, CLIENT_SESSION_INBOX)->inbox = true;
}

void
client_session_unfollow (client_session_t *self, const char *room)
{
    assert (self);
    room_t *r = s_room (self, room);
    if (!r)
        return;
    if (self->state == CLIENT_SESSION_ONLINE)
        s_simple (self, "LEAVE", room, NULL, NULL, Q_LEAVE, room);
    size_t at = (size_t) (r - self->rooms);
    memmove (self->rooms + at, self->rooms + at + 1, (self->nrooms - at - 1) * sizeof (room_t));
    self->nrooms--;
}

int
client_session_send_request (client_session_t *self, pc_msg_t **request_p)
{
    assert (self && request_p && *request_p);
    pc_msg_t *request = *request_p;
    *request_p = NULL;
    if (self->nout == OUTBOX_MAX || pc_msg_nfields (request) < 2) {
        pc_msg_destroy (&request);
        return -1;
    }
    out_t *out = &self->outbox [self->nout++];
    memset (out, 0, sizeof (*out));
    if (pc_msg_is (request, "SEND"))
        snprintf (out->room, sizeof (out->room), "%s", pc_send_room (request));
    snprintf (out->cid, sizeof (out->cid), "%s", pc_msg_cmd (request) == PC_CMD_SEND? pc_send_cmid (request)
                                                                   : pc_dm_cmid (request));
    out->request = request;
    s_flush_outbox (self);
    return 0;
}

int
client_session_send (client_session_t *self, const char *room, const char *text, char *cid)
{
    assert (self && room && text);
    zuuid_t *uuid = zuuid_new ();
    char id [CLIENT_SESSION_CID];
    snprintf (id, sizeof (id), "%s", zuuid_str (uuid));
    zuuid_destroy (&uuid);
    if (cid)
        snprintf (cid, CLIENT_SESSION_CID, "%s", id);
    pc_msg_t *request = pc_msg_new ("SEND");
    pc_msg_add (request, room);
    pc_msg_add (request, id);
    pc_msg_add (request, text);
    return client_session_send_request (self, &request);
}

size_t
client_session_queued (client_session_t *self)
{
    assert (self);
    return self->nout;
}

int
client_session_request (client_session_t *self, pc_msg_t *request, int kind,
                        const char *what, long n)
{
    assert (self && request);
    req_t *req = s_request (self, request, Q_FRONT, what);
    if (!req)
        return -1;
    req->front_kind = kind;
    req->n = n;
    return 0;
}

//  --------------------------------------------------------------------------
//  Replies

//  Subscribed, every JOIN answered, no catch-up out: tell the front end,
//  once per login.
static void
s_check_ready (client_session_t *self)
{
    if (self->ready || !self->subscribed)
        return;
    for (size_t i = 0; i < self->nrooms; i++) {
        room_t *r = &self->rooms [i];
        if (!r->answered || r->filling || (r->joined && r->seen > r->last))
            return;
    }
    self->ready = true;
    if (self->events.ready)
        self->events.ready (self->arg);
}

//  A refused RESUME: the token is forgotten, and the password (asked for
//  when not at hand) logs in instead. false when there is none.
static bool
s_resume_refused (client_session_t *self)
{
    sodium_memzero (self->token, sizeof (self->token));
    self->sid [0] = 0;
    if (self->events.token)
        self->events.token (self->arg, NULL, NULL);
    if (!*self->password && (!self->events.password
    ||  self->events.password (self->arg, self->password, sizeof (self->password)) != 0))
        return false;
    s_login (self);
    return true;
}

//  "retry-after=MS" at the end of an ERROR's detail: MS, else 0.
static int
s_retry_after (pc_msg_t *reply)
{
    const char *detail = pc_error_detail (reply);
    const char *hint = detail? strstr (detail, "retry-after="): NULL;
    long ms = hint? atol (hint + 12): 0;
    return ms > 0 && ms < 600000? (int) ms: 0;
}

static void
s_on_login (client_session_t *self, pc_msg_t *reply)
{
    int code = pc_msg_error_code (reply);
    if (self->resuming && (code == PC_ERR_AUTH || code == PC_ERR_FORBIDDEN)
    &&  s_resume_refused (self))
        return;
    if (pc_msg_is (reply, "ERROR")) {
        if (code == PC_ERR_UNAVAILABLE && (self->ever_online || self->persistent)) {
            self->retry_hint_ms = s_retry_after (reply);
            s_went_down (self, "the server's auth service is unavailable", false);
            return;
        }
        s_close (self);
        self->state = CLIENT_SESSION_REFUSED;
        if (self->events.login)
            self->events.login (self->arg, reply, self->ever_online);
        s_set_state (self, CLIENT_SESSION_REFUSED, pc_msg_error_reason (reply));
        return;
    }
    const char *port_txt = pc_login_ok_port (reply);
    const char *topic = pc_login_ok_topic (reply);
    long port = port_txt? atol (port_txt): 0;
    if (port < 1 || port > 65535 || !topic || strlen (topic) >= sizeof (self->topic)) {
        s_went_down (self, "malformed LOGIN reply", false);
        return;
    }
    snprintf (self->topic, sizeof (self->topic), "%s", topic);
    const char *sid = self->resuming? pc_resume_ok_session (reply): pc_login_ok_session (reply);
    snprintf (self->sid, sizeof (self->sid), "%s", sid? sid: "");
    const char *token = self->resuming? NULL: pc_login_ok_token (reply);
    if (token && *token && strlen (token) < sizeof (self->token)) {
        snprintf (self->token, sizeof (self->token), "%s", token);
        if (self->events.token)
            self->events.token (self->arg, token, self->sid);
    }
    //  Several brokers: the live ones ("ID ENDPOINT") join the seeds
    size_t fields = pc_msg_nfields (reply), first = self->resuming? 5: 6;
    for (size_t i = first; i < fields; i++) {
        const char *entry = pc_msg_field (reply, i);
        const char *space = strchr (entry, ' ');
        if (space)
            s_add_server (self, space + 1, strlen (space + 1));
    }
    self->tried = 0;
    self->tr->subscribe (self->handle, (int) port, self->topic);
    bool again = self->ever_online;
    self->ever_online = true;
    self->backoff_ms = self->backoff_first_ms;
    s_set_state (self, CLIENT_SESSION_ONLINE, "");
    if (self->events.login)
        self->events.login (self->arg, reply, again);
    if (self->state != CLIENT_SESSION_ONLINE)
        return;                         //  the front end stopped us
    //  One DEALER's commands are handled in order: the JOINs come first,
    //  then the SENDs nobody acknowledged, in the order they were sent.
    for (size_t i = 0; i < self->nrooms; i++)
        s_join (self, &self->rooms [i]);
    s_flush_outbox (self);
    s_simple (self, "SUBS", NULL, NULL, NULL, Q_SUBS, NULL);
}

static void
s_on_register (client_session_t *self, pc_msg_t *reply)
{
    self->register_first = false;
    if (pc_msg_is (reply, "ERROR")) {
        s_on_login (self, reply);       //  refused: the front end hears it as LOGIN's
        return;
    }
    s_login (self);
}

static void
s_on_subs (client_session_t *self, pc_msg_t *reply)
{
    bool listed = false;
    for (size_t f = 0; !pc_msg_is (reply, "ERROR") && f < pc_subs_ok_count (reply); f++)
        listed |= streq (pc_subs_ok_topic (reply, f), self->topic);
    if (listed && !self->subscribed) {
        self->subscribed = true;
        self->subs_at = 0;
        //  Whatever arrived between the JOINs and the subscription.
        for (size_t i = 0; i < self->nrooms; i++)
            if (self->rooms [i].known)
                s_fill (self, &self->rooms [i]);
        s_check_ready (self);
    }
    else
    if (!listed && self->subscribed)
        s_went_down (self, "the server lost this session's subscription", true);
    else
    if (!listed)
        self->subs_at = s_now (self) + SUBS_RETRY_MS;
}

static void
s_on_join (client_session_t *self, room_t *room, pc_msg_t *reply)
{
    if (self->reliable && pc_msg_error_code (reply) == PC_ERR_UNAVAILABLE)
        return;                         //  JOIN again at the next probe
    room->answered = true;
    if (pc_msg_is (reply, "ERROR")) {
        if (self->events.join_failed)
            self->events.join_failed (self->arg, room->name, pc_msg_error_code (reply),
                                      pc_msg_error_reason (reply));
        s_check_ready (self);
        return;
    }
    room->joined = true;
    s_fill (self, room);
    s_flush_outbox (self);
}

//  Hands on one record: fields are id from time text (a room) or id from
//  to time box (the inbox).
static void
s_deliver (client_session_t *self, room_t *room, uint64_t id, const char **fields, bool live)
{
    room->last = id;
    for (int i = 0; i < 5; i++)
        fields [i] = fields [i]? fields [i]: "";
    if (room->inbox && self->events.dm)
        self->events.dm (self->arg, id, fields [1], fields [2], strtoll (fields [3], NULL, 10),
                         fields [4], live);
    else
    if (!room->inbox && self->events.message)
        self->events.message (self->arg, room->name, id, fields [1],
                              strtoll (fields [2], NULL, 10), fields [3], live);
}

//  Record m of a HISTORY page (id from time text) or an INBOX page (id
//  from to time box).
static void
s_record (pc_msg_t *reply, bool inbox, size_t m, const char **fields)
{
    if (inbox) {
        fields [0] = pc_inbox_ok_id (reply, m);
        fields [1] = pc_inbox_ok_from (reply, m);
        fields [2] = pc_inbox_ok_to (reply, m);
        fields [3] = pc_inbox_ok_time (reply, m);
        fields [4] = pc_inbox_ok_box (reply, m);
    }
    else {
        fields [0] = pc_history_ok_id (reply, m);
        fields [1] = pc_history_ok_from (reply, m);
        fields [2] = pc_history_ok_time (reply, m);
        fields [3] = pc_history_ok_text (reply, m);
        fields [4] = NULL;
    }
}

//  True when every id of first..last is the ref of a delete event of the
//  page (RS "delete" SP ID: PROTOCOL.md, "Edits, deletes, replies and
//  reactions"), whose message history no longer lists.
static bool
s_all_deleted (pc_msg_t *reply, bool inbox, size_t n, uint64_t first, uint64_t last)
{
    if (inbox || last - first >= n)
        return false;
    for (uint64_t want = first; want <= last; want++) {
        bool found = false;
        for (size_t m = 0; m < n && !found; m++) {
            const char *fields [5];
            s_record (reply, inbox, m, fields);
            found = fields [3] && strncmp (fields [3], "\x1e" "delete ", 8) == 0
                 && strtoull (fields [3] + 8, NULL, 10) == want;
        }
        if (!found)
            return false;
    }
    return true;
}

static void
s_on_fill (client_session_t *self, room_t *room, pc_msg_t *reply)
{
    room->filling = false;
    if (pc_msg_error_code (reply) == PC_ERR_THROTTLED)
        room->tries = 0;                //  held back: nothing is lost for that
    if (pc_msg_is (reply, "ERROR"))
        return;                         //  tried again at the next probe
    size_t n = room->inbox? pc_inbox_ok_count (reply): pc_history_ok_count (reply);
    bool was_known = room->known;
    uint64_t before = room->last;
    if (!was_known && room->backlog == 0) {
        //  Only where the room stands: nothing is handed on.
        room->last = n? strtoull (pc_history_ok_id (reply, n - 1), NULL, 10): 0;
        n = 0;
    }
    room->known = true;
    for (size_t m = 0; m < n; m++) {
        const char *fields [5];
        s_record (reply, room->inbox, m, fields);
        uint64_t id = strtoull (fields [0], NULL, 10);
        if (id == 0 || (room->last && id <= room->last))
            continue;
        //  History no longer holds what came between: said, never skipped
        //  (unless the page has its deletes: those were taken out on purpose)
        if (was_known && id > room->last + 1 && self->events.lost
        &&  !s_all_deleted (reply, room->inbox, n, room->last + 1, id - 1))
            self->events.lost (self->arg, room->name, room->last + 1, id - 1);
        s_deliver (self, room, id, fields, false);
    }
    if (room->last > before)
        room->tries = 0;
    if (was_known && n == PC_HISTORY_MAX)
        s_fill (self, room);            //  a full page: there is more
    else
    if (room->seen > room->last && (room->last > before || !was_known))
        s_fill (self, room);            //  announced meanwhile
    s_check_ready (self);
}

static void
s_on_send (client_session_t *self, const char *cid, pc_msg_t *reply)
{
    size_t i = 0;
    while (i < self->nout && !streq (self->outbox [i].cid, cid))
        i++;
    if (i == self->nout)
        return;
    if (self->reliable && pc_msg_error_code (reply) == PC_ERR_UNAVAILABLE) {
        self->outbox [i].inflight = false;  //  again at the next probe
        return;
    }
    int64_t wait = pc_msg_error_code (reply) == PC_ERR_THROTTLED? client_session_retry_after (reply): -1;
    if (wait >= 0) {
        self->outbox [i].inflight = false;  //  again once the server takes it
        self->outbox [i].hold_until = s_now (self) + wait;
        for (size_t later = i + 1; later < self->nout; later++)
            self->outbox [later].inflight = false;     //  refused too: in order, after it
        if (self->events.held)
            self->events.held (self->arg, cid, wait, pc_msg_error_reason (reply));
        return;
    }
    pc_msg_destroy (&self->outbox [i].request);
    memmove (self->outbox + i, self->outbox + i + 1, (self->nout - i - 1) * sizeof (out_t));
    self->nout--;
    if (!self->events.sent)
        return;
    if (pc_msg_is (reply, "ERROR"))
        self->events.sent (self->arg, cid, pc_msg_error_code (reply),
                           pc_msg_error_reason (reply), 0, 0);
    else {
        //  A DM's OK is the same, then the id of the sender's copy: the id
        //  its writer names it by (edits, replies: PROTOCOL.md), when stored
        const char *id = pc_send_ok_id (reply);
        const char *ts = pc_send_ok_time (reply);
        const char *own = pc_dm_ok_own (reply);
        if (own && strtoull (own, NULL, 10))
            id = own;
        self->events.sent (self->arg, cid, 0, "", id? strtoull (id, NULL, 10): 0,
                           ts? strtoll (ts, NULL, 10): 0);
    }
}

//  403 "log in first": the broker restarted (or expired us) and forgot the
//  login; its sockets reconnected on their own, so only this tells.
static bool
s_forgotten (pc_msg_t *reply)
{
    return pc_msg_error_code (reply) == PC_ERR_FORBIDDEN
        && streq (pc_msg_error_reason (reply), "log in first");
}

static void
s_on_reply (client_session_t *self, pc_msg_t *reply)
{
    self->last_rx = s_now (self);
    size_t i = 0;
    while (i < self->nreqs && !streq (self->reqs [i].reqid, pc_msg_reqid (reply)))
        i++;
    if (i == self->nreqs)
        return;                         //  stale
    req_t req = self->reqs [i];
    memmove (self->reqs + i, self->reqs + i + 1, (self->nreqs - i - 1) * sizeof (req_t));
    self->nreqs--;
    if (s_forgotten (reply) && req.kind != Q_LOGIN && req.kind != Q_REGISTER) {
        s_went_down (self, "the server restarted: logging in again", true);
        return;
    }
    room_t *room = s_room (self, req.what);
    switch (req.kind) {
        case Q_LOGIN:    s_on_login (self, reply); break;
        case Q_REGISTER: s_on_register (self, reply); break;
        case Q_SUBS:     s_on_subs (self, reply); break;
        case Q_SEND:     s_on_send (self, req.what, reply); break;
        case Q_LEAVE:
        case Q_PING:     break;
        case Q_JOIN:     if (room) s_on_join (self, room, reply); break;
        case Q_FILL:     if (room) s_on_fill (self, room, reply); break;
        case Q_FRONT:
            if (self->events.reply)
                self->events.reply (self->arg, req.front_kind, req.what, req.n, reply);
            break;
    }
}

//  A live MSG (or DMMSG: one to us, or the copy of one we wrote, both of
//  our inbox's sequence): handed on when it is the next one, else the gap
//  is fetched.
static void
s_on_msg (client_session_t *self, pc_msg_t *msg)
{
    bool dm = pc_msg_is (msg, "DMMSG");
    room_t *room = dm? s_room (self, CLIENT_SESSION_INBOX): s_room (self, pc_message_room (msg));
    if (room && room->inbox != dm)
        room = NULL;
    if (!room) {
        if (self->events.fanout)
            self->events.fanout (self->arg, msg);
        return;
    }
    uint64_t id = strtoull (dm? pc_dmmsg_id (msg): pc_message_id (msg), NULL, 10);
    if (id == 0 || (room->known && id <= room->last) || room->backlog < 0)
        return;                         //  handed on already, or only joined
    if (room->known && id == room->last + 1 && !room->filling) {
        const char *fields [5] = {
            dm? pc_dmmsg_id (msg): pc_message_id (msg), dm? pc_dmmsg_from (msg): pc_message_from (msg),
            dm? pc_dmmsg_to (msg): pc_message_time (msg), dm? pc_dmmsg_time (msg): pc_message_text (msg),
            dm? pc_dmmsg_box (msg): NULL };
        s_deliver (self, room, id, fields, true);
        return;
    }
    if (id > room->seen)
        room->seen = id;
    if (room->known)
        s_fill (self, room);
}

static void
s_on_fanout (client_session_t *self, pc_msg_t *msg)
{
    const char *topic = pc_msg_topic (msg);
    if (!topic || !streq (topic, self->topic))
        return;
    self->last_rx = s_now (self);
    if ((pc_msg_is (msg, "MSG") || pc_msg_is (msg, "DMMSG")) && pc_msg_nfields (msg) >= 5)
        s_on_msg (self, msg);
    else
    if (self->events.fanout)
        self->events.fanout (self->arg, msg);
}

void
client_session_input (client_session_t *self)
{
    assert (self);
    pc_msg_t *msg;
    for (int n = 0; n < 1000 && self->open && (msg = self->tr->reply (self->handle)); n++) {
        s_on_reply (self, msg);
        pc_msg_destroy (&msg);
    }
    for (int n = 0; n < 1000 && self->open && (msg = self->tr->fanout (self->handle)); n++) {
        s_on_fanout (self, msg);
        pc_msg_destroy (&msg);
    }
}

//  --------------------------------------------------------------------------
//  Timers

//  Gaps the store could not fill yet (it was behind, or down): again, and
//  after FILL_TRIES probes, what is still missing is reported lost.
static void
s_retry_fills (client_session_t *self)
{
    for (size_t i = 0; i < self->nrooms; i++) {
        room_t *r = &self->rooms [i];
        if (!r->joined || r->filling || !r->known || r->seen <= r->last)
            continue;
        if (++r->tries > FILL_TRIES) {
            if (self->events.lost)
                self->events.lost (self->arg, r->name, r->last + 1, r->seen);
            r->last = r->seen;
            r->tries = 0;
            s_check_ready (self);
        }
        else
            s_fill (self, r);
    }
}

//  Reliable: what the server could not take (503) goes again.
static void
s_retry_unavailable (client_session_t *self)
{
    for (size_t i = 0; i < self->nrooms; i++) {
        room_t *r = &self->rooms [i];
        bool out = false;
        for (size_t q = 0; q < self->nreqs && !out; q++)
            out = self->reqs [q].kind == Q_JOIN && streq (self->reqs [q].what, r->name);
        if (!r->inbox && !r->answered && !out)
            s_join (self, r);
    }
    s_flush_outbox (self);
}

static void
s_expire (client_session_t *self, int64_t now)
{
    size_t kept = 0;
    req_t expired [REQS_MAX];
    size_t nexpired = 0;
    for (size_t i = 0; i < self->nreqs; i++) {
        req_t *req = &self->reqs [i];
        if (now - req->at < REQ_EXPIRE_MS || req->kind == Q_SEND)
            self->reqs [kept++] = *req;
        else {
            room_t *room = req->kind == Q_FILL? s_room (self, req->what): NULL;
            if (room)
                room->filling = false;
            if (req->kind == Q_FRONT)
                expired [nexpired++] = *req;
        }
    }
    self->nreqs = kept;
    for (size_t i = 0; i < nexpired && self->events.reply; i++)
        self->events.reply (self->arg, expired [i].front_kind, expired [i].what,
                            expired [i].n, NULL);
}

void
client_session_tick (client_session_t *self)
{
    assert (self);
    int64_t now = s_now (self);
    if (self->state == CLIENT_SESSION_WAITING && now >= self->retry_at) {
        s_connect (self);
        return;
    }
    if (self->state != CLIENT_SESSION_CONNECTING && self->state != CLIENT_SESSION_ONLINE)
        return;
    if (now - self->last_rx > self->patience_ms) {
        char why [80];
        snprintf (why, sizeof (why), "no answer for %g s", self->patience_ms / 1000.0);
        s_went_down (self, why, false);
        return;
    }
    if (self->state == CLIENT_SESSION_ONLINE && self->subs_at && now >= self->subs_at) {
        self->subs_at = 0;
        s_simple (self, "SUBS", NULL, NULL, NULL, Q_SUBS, NULL);
    }
    if (self->state == CLIENT_SESSION_ONLINE && self->nout && self->outbox [0].hold_until
    &&  now >= self->outbox [0].hold_until) {
        self->outbox [0].hold_until = 0;
        s_flush_outbox (self);
    }
    if (now >= self->next_probe) {
        self->next_probe = now + PROBE_MS;
        if (self->state == CLIENT_SESSION_CONNECTING)
            s_simple (self, "PING", NULL, NULL, NULL, Q_PING, NULL);
        else
        if (self->subscribed) {
            s_simple (self, "SUBS", NULL, NULL, NULL, Q_SUBS, NULL);
            s_retry_fills (self);
        }
        if (self->reliable && self->state == CLIENT_SESSION_ONLINE)
            s_retry_unavailable (self);
    }
    s_expire (self, now);
}

int64_t
client_session_retry_after (pc_msg_t *reply)
{
    const char *texts [2] = { pc_error_detail (reply), pc_error_reason (reply) };
    for (int i = 0; i < 2; i++) {
        const char *token = texts [i]? strstr (texts [i], "retry-after="): NULL;
        if (token) {
            char *end;
            long long ms = strtoll (token + 12, &end, 10);
            if (end != token + 12 && ms >= 0 && ms <= 3600 * 1000)
                return (int64_t) ms;
        }
    }
    return -1;
}

client_session_state_t client_session_state (client_session_t *self) { assert (self); return self->state; }
bool client_session_ever_online (client_session_t *self) { assert (self); return self->ever_online; }
int64_t client_session_retry_at (client_session_t *self) { assert (self); return self->retry_at; }
const char *client_session_user (client_session_t *self) { assert (self); return self->user; }
const char *client_session_topic (client_session_t *self) { assert (self); return self->topic; }

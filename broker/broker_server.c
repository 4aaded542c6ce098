//  broker_server.c: sessions, rooms, routing and subscription authorisation.
#include "broker_server.h"
#include "broker_room.h"
#include "broker_session.h"
#include "broker_store.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_msg.h"
#include "pc_util.h"
#include "pc_zap.h"

#define SESSION_IDLE_MS     60000   //  PROTOCOL.md: sessions idle 60 s are dropped
#define AUTH_TIMEOUT_MS     3000    //  no auth reply by then: 503
#define HEARTBEAT_MS        2000    //  "$ev/" heartbeat for the monitor
#define TICK_MS             250
#define ADMIN_TOOL          "server-admin"  //  the name pychat-admin's session acts under
#define INLINE_MAX          8192    //  fan-out frames up to this size are copied per session
//  A flush's messages to a room go out in frames of at most this size (one
//  message may exceed it alone). CURVE allocates two buffers of a frame's
//  size per subscriber; below the allocator's mmap threshold (main.c) they
//  come from the heap instead of fresh pages, and a few boxes per flush
//  cost little more than one.
#define FANOUT_FRAME_MAX    (12 * 1024)
#define BATCH_MAX           256     //  requests read in one go; SENDs among them share one Redis round trip
#define FILESVC_SILENCE_MS  6000    //  file service not heard for this long: FILES answers 503

//  czmq 4.2 has no log level: per-message logs only with -v
#define s_debug(self, ...) do { if ((self)->verbose) zsys_debug (__VA_ARGS__); } while (0)

typedef struct {
    zframe_t *routing_id;       //  where the client's reply goes
    char     *reqid;            //  the client's request id
    char     *command;          //  REGISTER or LOGIN
    char     *key;              //  the client's session key
    char     *name;             //  the account asked for
    int64_t   deadline;
} pending_t;

typedef struct {
    zsock_t    *pipe;
    pc_config_t config;
    zcert_t    *cert;
    char       *monitor_key;
    char       *admin_key;      //  pychat-admin on the server host
    char       *filesvc_key;    //  the file service (FCHECK, FEVENT)
    int64_t     filesvc_heard;  //  its last message (ms), 0: never
    zsock_t    *router;
    zsock_t    *xpub;
    zsock_t    *authsvc;
    zpoller_t  *poller;
    zhashx_t   *sessions;       //  key -> broker_session_t
    zhashx_t   *rooms;          //  name -> broker_room_t
    zhashx_t   *pending;        //  auth request id -> pending_t
    broker_store_t *store;      //  history and inboxes in Redis
    uint64_t    next_auth_id;
    pc_msg_t   *msg;            //  reused for every receive
    pc_msg_t   *batch_msgs [BATCH_MAX];         //  requests, reused
    broker_session_t *batch_sessions [BATCH_MAX];
    int64_t     batch_received [BATCH_MAX];     //  when each SEND was read (us)
    uint64_t    latency_sum_us; //  read -> published, this heartbeat window
    uint64_t    latency_max_us;
    uint64_t    latency_count;
    size_t      batch_size;     //  SENDs waiting for s_flush_sends
    pc_msg_t   *carry;          //  the rest of a client's batch of requests
    int64_t     next_heartbeat;
    int64_t     auth_heard;     //  last reply from an auth service (ms), 0: never
    int64_t     started;
    bool        terminated;
    bool        verbose;
    //  Counters, for the log and the monitor
    uint64_t    malformed;
    uint64_t    flushes, flushed;   //  s_flush_sends calls with work, SENDs they stored
    uint64_t    flushed_ahead;      //  of those, SENDs numbered ahead of Redis
    uint64_t    subs_refused;
} server_t;

static void
s_pending_destroy (pending_t **self_p)
{
    if (*self_p) {
        pending_t *self = *self_p;
        zframe_destroy (&self->routing_id);
        zstr_free (&self->reqid);
        zstr_free (&self->command);
        zstr_free (&self->key);
        zstr_free (&self->name);
        free (self);
        *self_p = NULL;
    }
}

static zsock_t *
s_curve_server (server_t *self, int type, int offset)
{
    zsock_t *sock = zsock_new (type);
    assert (sock);
    zcert_apply (self->cert, sock);
    pc_zap_secure (sock, "clients");
    zsock_set_backlog (sock, PC_BACKLOG);
    zsock_set_maxmsgsize (sock, PC_MSG_MAX);
    zsock_set_linger (sock, 0);
    char endpoint [300];
    pc_config_bind_endpoint (&self->config, offset, endpoint, sizeof (endpoint));
    if (type == ZMQ_XPUB) {
        zsock_set_xpub_manual (sock, 1);
        zsock_set_sndhwm (sock, self->config.fanout_hwm);
    }
    if (zsock_bind (sock, "%s", endpoint) == -1) {
        zsys_error ("broker: cannot bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    else
        zsys_info ("broker: listening on %s", endpoint);
    return sock;
}

static server_t *
s_server_new (zsock_t *pipe, pc_config_t *config)
{
    server_t *self = (server_t *) zmalloc (sizeof (server_t));
    assert (self);
    self->pipe = pipe;
    self->config = *config;
    self->sessions = zhashx_new ();
    zhashx_set_destructor (self->sessions, (czmq_destructor *) broker_session_destroy);
    self->rooms = zhashx_new ();
    zhashx_set_destructor (self->rooms, (czmq_destructor *) broker_room_destroy);
    self->pending = zhashx_new ();
    zhashx_set_destructor (self->pending, (czmq_destructor *) s_pending_destroy);
    self->carry = pc_msg_new (NULL);
    self->msg = pc_msg_new (NULL);
    self->next_heartbeat = pc_now_ms () + HEARTBEAT_MS;
    self->started = pc_now_ms ();
    return self;
}

static void
s_server_destroy (server_t **self_p)
{
    if (*self_p) {
        server_t *self = *self_p;
        zpoller_destroy (&self->poller);
        zsock_destroy (&self->router);
        zsock_destroy (&self->xpub);
        zsock_destroy (&self->authsvc);
        zhashx_destroy (&self->sessions);
        zhashx_destroy (&self->rooms);
        zhashx_destroy (&self->pending);
        broker_store_destroy (&self->store);
        pc_msg_destroy (&self->msg);
        for (size_t i = 0; i < BATCH_MAX; i++)
            pc_msg_destroy (&self->batch_msgs [i]);
        pc_msg_destroy (&self->carry);
        zcert_destroy (&self->cert);
        zstr_free (&self->monitor_key);
        zstr_free (&self->admin_key);
        zstr_free (&self->filesvc_key);
        free (self);
        *self_p = NULL;
    }
}

//  Keys, sockets. 0 ok, -1 could not start (logged).
static int
s_server_start (server_t *self)
{
    const char *keys = self->config.keys_dir;
    self->cert = pc_keys_ensure (keys, "broker");
    zcert_t *authsvc_cert = pc_keys_ensure (keys, "authsvc");
    zcert_t *monitor_cert = pc_keys_ensure (keys, "monitor");
    zcert_t *admin_cert = pc_keys_ensure (keys, "admin");
    if (admin_cert)
        self->admin_key = strdup (zcert_public_txt (admin_cert));
    zcert_destroy (&admin_cert);
    zcert_t *filesvc_cert = pc_keys_ensure (keys, "filesvc");
    if (filesvc_cert)
        self->filesvc_key = strdup (zcert_public_txt (filesvc_cert));
    zcert_destroy (&filesvc_cert);
    if (!self->cert || !authsvc_cert || !monitor_cert || !self->admin_key || !self->filesvc_key) {
        zsys_error ("broker: cannot create or read keys in %s: %s", keys, strerror (errno));
        zcert_destroy (&authsvc_cert);
        zcert_destroy (&monitor_cert);
        return -1;
    }
    self->monitor_key = strdup (zcert_public_txt (monitor_cert));
    self->store = broker_store_new (self->config.redis_host, self->config.redis_port,
                                    self->config.history_max);
    zsys_info ("broker: history in redis %s:%d (last %zu messages per room)",
               self->config.redis_host, self->config.redis_port, self->config.history_max);
    char path [PATH_MAX];
    snprintf (path, sizeof (path), "%s/broker.pub", self->config.data_dir);
    if (pc_keys_write_text (path, zcert_public_txt (self->cert), 0644) == -1)
        zsys_warning ("broker: cannot write %s: %s", path, strerror (errno));

    self->router = s_curve_server (self, ZMQ_ROUTER, PC_OFF_BROKER);
    self->xpub = s_curve_server (self, ZMQ_XPUB, PC_OFF_FANOUT);

    //  One DEALER to every auth service: round robin; ZMQ_IMMEDIATE so a
    //  request is never queued for a service that is not connected.
    self->authsvc = zsock_new (ZMQ_DEALER);
    zcert_apply (self->cert, self->authsvc);
    zsock_set_curve_serverkey (self->authsvc, zcert_public_txt (authsvc_cert));
    zsock_set_immediate (self->authsvc, 1);
    zsock_set_linger (self->authsvc, 0);
    zsock_set_maxmsgsize (self->authsvc, PC_MSG_MAX);
    zsock_set_reconnect_ivl (self->authsvc, 200);
    zsock_set_reconnect_ivl_max (self->authsvc, 2000);
    char *endpoints = strdup (self->config.authsvc);
    for (char *save = NULL, *endpoint = strtok_r (endpoints, ",", &save); endpoint;
         endpoint = strtok_r (NULL, ",", &save))
        if (zsock_connect (self->authsvc, "%s", endpoint) == -1)
            zsys_error ("broker: bad auth service endpoint '%s'", endpoint);
        else
            zsys_info ("broker: auth service at %s", endpoint);
    free (endpoints);
    zcert_destroy (&authsvc_cert);
    zcert_destroy (&monitor_cert);
    if (!self->router || !self->xpub)
        return -1;
    self->poller = zpoller_new (self->pipe, self->router, self->xpub, self->authsvc, NULL);
    //  An actor ends on $TERM from its owner, not on the signal flag:
    //  without nonstop, zpoller_wait returns at once after SIGTERM and the
    //  $TERM would never be read (the owner then waits forever).
    zpoller_set_nonstop (self->poller, true);
    return 0;
}

//  --------------------------------------------------------------------------
//  Events for the monitor, on "$ev/"

static void
s_event (server_t *self, const char *kind, const char *a, const char *b)
{
    pc_msg_t *event = pc_msg_new ("EVENT");
    pc_msg_set_topic (event, PC_TOPIC_EVENT);
    pc_msg_add (event, kind);
    if (a)
        pc_msg_add (event, a);
    if (b)
        pc_msg_add (event, b);
    pc_msg_send (event, self->xpub);
    pc_msg_destroy (&event);
}

static void
s_send_heartbeat (server_t *self)
{
    zhashx_t *users = zhashx_new ();
    for (broker_session_t *session = (broker_session_t *) zhashx_first (self->sessions);
         session; session = (broker_session_t *) zhashx_next (self->sessions))
        if (broker_session_user (session) && !streq (broker_session_key (session), self->admin_key))
            zhashx_update (users, broker_session_user (session), (void *) 1);
    pc_buf_t list;
    pc_buf_init (&list);
    zlistx_t *names = zhashx_keys (users);
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names)) {
        if (list.size + PC_NAME_MAX + 1 >= PC_FIELD_MAX)
            break;              //  the count stays exact; the list is capped
        pc_buf_printf (&list, "%s%s", list.size? ",": "", name);
    }
    char count [24];
    snprintf (count, sizeof (count), "%zu", zhashx_size (users));
    s_event (self, "heartbeat", count, list.data);
    //  Health, for the monitor's alerts: how long since an auth service
    //  answered (-1: never), whether Redis answers, and the broker's queues.
    char heard [24];
    snprintf (heard, sizeof (heard), "%" PRId64,
              self->auth_heard? pc_now_ms () - self->auth_heard: (int64_t) -1);
    s_event (self, "health", "authsvc", heard);
    s_event (self, "health", "redis", broker_store_available (self->store)? "up": "down");
    snprintf (heard, sizeof (heard), "%" PRId64,
              self->filesvc_heard? pc_now_ms () - self->filesvc_heard: (int64_t) -1);
    s_event (self, "health", "filesvc", heard);
    pc_msg_t *stats = pc_msg_new ("EVENT");
    pc_msg_set_topic (stats, PC_TOPIC_EVENT);
    pc_msg_add (stats, "stats");
    pc_msg_addf (stats, "%zu", zhashx_size (self->sessions));
    pc_msg_addf (stats, "%zu", zhashx_size (self->pending));
    pc_msg_addf (stats, "%zu", broker_store_flush (self->store));
    pc_msg_addf (stats, "%" PRIu64, self->malformed);
    pc_msg_addf (stats, "%" PRIu64, self->subs_refused);
    pc_msg_addf (stats, "%" PRId64, (pc_now_ms () - self->started) / 1000);
    pc_msg_addf (stats, "%" PRIu64, self->latency_count? self->latency_sum_us / self->latency_count: 0);
    pc_msg_addf (stats, "%" PRIu64, self->latency_max_us);
    self->latency_sum_us = self->latency_max_us = self->latency_count = 0;
    pc_msg_send (stats, self->xpub);
    pc_msg_destroy (&stats);
    //  Ask the auth services for a sign of life (answer: s_handle_auth_reply)
    pc_msg_t *ping = pc_msg_new ("PING");
    pc_msg_set_reqid (ping, "hb");
    pc_msg_send_nowait (ping, self->authsvc);
    pc_msg_destroy (&ping);
    pc_buf_free (&list);
    zlistx_destroy (&names);
    zhashx_destroy (&users);
}

//  --------------------------------------------------------------------------
//  Replies

static void
s_reply_error (server_t *self, pc_msg_t *request, int code, const char *text)
{
    pc_msg_t *reply = pc_msg_new_error (request, code, text);
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
}

//  Sends an OK reply with up to two fields (NULL for none).
static void
s_reply_ok (server_t *self, pc_msg_t *request, const char *a, const char *b)
{
    pc_msg_t *reply = pc_msg_new_ok (request);
    if (a)
        pc_msg_add (reply, a);
    if (b)
        pc_msg_add (reply, b);
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
}

//  --------------------------------------------------------------------------
//  Sessions and rooms

//  Reads the room's settings (invite-only, creator, invited) from Redis
//  unless done already; false while they cannot be read.
static bool
s_room_load (server_t *self, broker_room_t *room)
{
    if (broker_room_loaded (room))
        return true;
    bool invite_only;
    char *creator;
    zlistx_t *invited = zlistx_new ();
    zlistx_set_destructor (invited, (czmq_destructor *) zstr_free);
    bool loaded = broker_store_room_load (self->store, broker_room_name (room), &invite_only,
                                          &creator, invited) == 0;
    if (loaded) {
        broker_room_set_policy (room, invite_only, creator);
        for (char *user = (char *) zlistx_first (invited); user; user = (char *) zlistx_next (invited))
            broker_room_invite (room, user, true);
        zstr_free (&creator);
    }
    zlistx_destroy (&invited);
    return loaded;
}

static broker_room_t *
s_room_require (server_t *self, const char *name)
{
    broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, name);
    if (!room) {
        room = broker_room_new (name);
        zhashx_insert (self->rooms, name, room);
        s_room_load (self, room);
    }
    return room;
}

static bool
s_is_admin (broker_session_t *session)
{
    return streq (broker_session_role (session), "admin");
}

static void
s_session_leave (server_t *self, broker_session_t *session, const char *name)
{
    broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, name);
    if (room && broker_room_leave (room, broker_session_user (session), broker_session_key (session)))
        s_event (self, "leave", broker_session_user (session), name);
    broker_session_remove_room (session, name);
}

//  Leaves every room and forgets the user; tells the monitor.
static void
s_session_logout (server_t *self, broker_session_t *session)
{
    const char *user = broker_session_user (session);
    if (!user)
        return;
    zlistx_t *rooms = broker_session_rooms (session);
    for (char *name = (char *) zlistx_first (rooms); name; name = (char *) zlistx_next (rooms)) {
        broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, name);
        if (room && broker_room_leave (room, user, broker_session_key (session)))
            s_event (self, "leave", user, name);
    }
    zlistx_destroy (&rooms);
    s_event (self, "logout", user, NULL);
    broker_session_logout (session);
}

static void
s_expire_sessions (server_t *self, int64_t now)
{
    zlistx_t *idle = zlistx_new ();
    for (broker_session_t *session = (broker_session_t *) zhashx_first (self->sessions);
         session; session = (broker_session_t *) zhashx_next (self->sessions))
        if (now - broker_session_last_seen (session) > SESSION_IDLE_MS)
            zlistx_add_end (idle, session);
    for (broker_session_t *session = (broker_session_t *) zlistx_first (idle);
         session; session = (broker_session_t *) zlistx_next (idle)) {
        if (broker_session_user (session))
            zsys_info ("broker: session of %s expired", broker_session_user (session));
        s_session_logout (self, session);
        zhashx_delete (self->sessions, broker_session_key (session));
    }
    zlistx_destroy (&idle);
}

//  --------------------------------------------------------------------------
//  The auth service

//  Sends request's command with the fields a, b, c (NULL: none) to an auth
//  service; its answer reaches the client through s_handle_auth_reply.
static void
s_forward_to_auth (server_t *self, pc_msg_t *request, broker_session_t *session,
                   const char *target, const char *a, const char *b, const char *c)
{
    char auth_id [32];
    snprintf (auth_id, sizeof (auth_id), "b%" PRIu64, ++self->next_auth_id);
    pc_msg_t *forward = pc_msg_new (pc_msg_command (request));
    pc_msg_set_reqid (forward, auth_id);
    const char *fields [] = { a, b, c };
    for (size_t i = 0; i < 3 && fields [i]; i++)
        pc_msg_add (forward, fields [i]);
    int rc = pc_msg_send_nowait (forward, self->authsvc);
    pc_msg_destroy (&forward);
    if (rc == -1) {
        zsys_warning ("broker: no auth service connected");
        s_event (self, "auth-down", NULL, NULL);
        s_reply_error (self, request, PC_ERR_UNAVAILABLE, "auth service unavailable, try again later");
        return;
    }
    pending_t *pending = (pending_t *) zmalloc (sizeof (pending_t));
    assert (pending);
    pending->routing_id = zframe_dup (pc_msg_routing_id (request));
    pending->reqid = strdup (pc_msg_reqid (request));
    pending->command = strdup (pc_msg_command (request));
    pending->key = strdup (broker_session_key (session));
    pending->name = strdup (target? target: "");   //  never a password
    pending->deadline = pc_now_ms () + AUTH_TIMEOUT_MS;
    zhashx_insert (self->pending, auth_id, pending);
}

//  Sends a NOTICE (kind, text) to one session's topic: kicked, banned...
static void
s_notice (server_t *self, broker_session_t *session, const char *kind, const char *text)
{
    pc_msg_t *notice = pc_msg_new ("NOTICE");
    pc_msg_set_topic (notice, broker_session_topic (session));
    pc_msg_add (notice, kind);
    pc_msg_add (notice, text);
    pc_msg_send (notice, self->xpub);
    pc_msg_destroy (&notice);
}

//  Ends every session of user at once: they are told why, then forgotten,
//  so nothing more is delivered to them and their next command is refused.
static void
s_drop_user (server_t *self, const char *user, const char *kind, const char *text)
{
    zlistx_t *doomed = zlistx_new ();
    for (broker_session_t *session = (broker_session_t *) zhashx_first (self->sessions);
         session; session = (broker_session_t *) zhashx_next (self->sessions))
        if (broker_session_user (session) && streq (broker_session_user (session), user))
            zlistx_add_end (doomed, session);
    for (broker_session_t *session = (broker_session_t *) zlistx_first (doomed);
         session; session = (broker_session_t *) zlistx_next (doomed)) {
        s_notice (self, session, kind, text);
        s_session_logout (self, session);
        zhashx_delete (self->sessions, broker_session_key (session));
    }
    zlistx_destroy (&doomed);
}

//  Audit log (Redis stream "audit") and the monitor's event feed.
static void
s_audit (server_t *self, const char *actor, const char *action, const char *target)
{
    broker_store_audit (self->store, actor, action, target);
    pc_msg_t *event = pc_msg_new ("EVENT");
    pc_msg_set_topic (event, PC_TOPIC_EVENT);
    pc_msg_add (event, "admin");
    pc_msg_add (event, actor);
    pc_msg_add (event, action);
    pc_msg_add (event, target);
    pc_msg_send (event, self->xpub);
    pc_msg_destroy (&event);
    zsys_info ("broker: %s: %s %s", actor, action, target);
}

//  The auth service changed an account (pending->name is its name): audit it
//  and end the sessions of a banned or deleted account.
static void
s_after_account_change (server_t *self, pending_t *pending)
{
    const char *command = pending->command;
    broker_session_t *actor_session = (broker_session_t *) zhashx_lookup (self->sessions, pending->key);
    const char *actor = actor_session && broker_session_user (actor_session)?
                        broker_session_user (actor_session): "?";
    const char *target = pending->name;
    if (streq (command, "BAN")) {
        s_audit (self, actor, "ban", target);
        s_drop_user (self, target, "banned", "you have been banned");
    }
    else
    if (streq (command, "UNBAN"))
        s_audit (self, actor, "unban", target);
    else
    if (streq (command, "DELUSER")) {
        s_audit (self, actor, "delete", target);
        s_drop_user (self, target, "deleted", "your account has been deleted");
    }
    else
    if (streq (command, "DELETEME")) {
        s_audit (self, target, "delete-account", target);
        s_drop_user (self, target, "deleted", "your account has been deleted");
    }
    else
    if (streq (command, "RESETPW"))
        s_audit (self, actor, "reset-password", target);
    else
    if (streq (command, "PASSWD"))
        s_audit (self, target, "change-password", target);
}

static void
s_handle_auth_reply (server_t *self)
{
    pc_msg_t *reply = self->msg;
    if (pc_msg_recv (reply, self->authsvc) != 0) {
        zsys_warning ("broker: malformed reply from the auth service: %s", pc_msg_error_text (reply));
        return;
    }
    self->auth_heard = pc_now_ms ();
    if (streq (pc_msg_reqid (reply), "hb"))
        return;                 //  an answer to our heartbeat PING
    pending_t *pending = (pending_t *) zhashx_lookup (self->pending, pc_msg_reqid (reply));
    if (!pending)
        return;                 //  late reply: the client had its 503 already
    pc_msg_t *answer;
    if (pc_msg_is (reply, "OK")) {
        answer = pc_msg_new ("OK");
        if (streq (pending->command, "LOGIN")) {
            const char *name = pc_msg_field (reply, 0);
            const char *role = pc_msg_field (reply, 1);
            if (!name || !pc_name_valid (name))
                name = pending->name;
            if (!role)
                role = "user";
            broker_session_t *session =
                (broker_session_t *) zhashx_lookup (self->sessions, pending->key);
            if (!session) {
                session = broker_session_new (pending->key);
                zhashx_insert (self->sessions, pending->key, session);
            }
            s_session_logout (self, session);
            broker_session_login (session, name, role);
            broker_session_touch (session, pc_now_ms ());
            s_event (self, "login", name, NULL);
            s_debug (self, "broker: %s logged in", name);
            pc_msg_add (answer, name);
            pc_msg_add (answer, role);
            pc_msg_addf (answer, "%d", self->config.base_port + PC_OFF_FANOUT);
            pc_msg_add (answer, broker_session_topic (session));
        }
        else
        if (streq (pending->command, "REGISTER"))
            pc_msg_add (answer, pending->name);
        else {
            for (size_t i = 0; i < pc_msg_nfields (reply); i++)
                pc_msg_add (answer, pc_msg_field (reply, i));
            s_after_account_change (self, pending);
        }
    }
    else {
        answer = pc_msg_new ("ERROR");
        for (size_t i = 0; i < pc_msg_nfields (reply); i++)
            pc_msg_add (answer, pc_msg_field (reply, i));
        if (streq (pending->command, "LOGIN"))
            s_event (self, "login-failed", pending->name, pc_msg_field (reply, 0));
    }
    pc_msg_set_routing_id (answer, pending->routing_id);
    pc_msg_set_reqid (answer, pending->reqid);
    pc_msg_send (answer, self->router);
    pc_msg_destroy (&answer);
    zhashx_delete (self->pending, pc_msg_reqid (reply));
}

static void
s_expire_pending (server_t *self, int64_t now)
{
    zlistx_t *late = zlistx_new ();
    zlistx_set_destructor (late, (czmq_destructor *) zstr_free);
    for (pending_t *pending = (pending_t *) zhashx_first (self->pending); pending;
         pending = (pending_t *) zhashx_next (self->pending))
        if (now >= pending->deadline) {
            pc_msg_t *answer = pc_msg_new ("ERROR");
            pc_msg_set_routing_id (answer, pending->routing_id);
            pc_msg_set_reqid (answer, pending->reqid);
            pc_msg_addf (answer, "%d", PC_ERR_UNAVAILABLE);
            pc_msg_add (answer, "auth service did not answer, try again later");
            pc_msg_send (answer, self->router);
            pc_msg_destroy (&answer);
            zlistx_add_end (late, strdup ((const char *) zhashx_cursor (self->pending)));
        }
    if (zlistx_size (late)) {
        zsys_warning ("broker: %zu auth request(s) timed out", zlistx_size (late));
        s_event (self, "auth-down", NULL, NULL);
    }
    for (char *id = (char *) zlistx_first (late); id; id = (char *) zlistx_next (late))
        zhashx_delete (self->pending, id);
    zlistx_destroy (&late);
}

//  --------------------------------------------------------------------------
//  Client commands

//  Delivers msg to every session in the room (each on its own topic, so
//  leaving or being removed stops delivery at once), and once on the room's
//  topic, which only the monitor may hear.
//  What one flush delivers to one room: its messages, packed, in order. Every
//  session in the room gets these same bytes as a single frame (one CURVE
//  box for the lot, PROTOCOL.md "Packed form"), built once and shared.
typedef struct {
    broker_room_t *room;
    pc_buf_t       packed;
} roombox_t;

//  Publishes packed data on topic as one frame, the topic and a NUL first
//  (PROTOCOL.md, "Fan-out messages"): one CURVE box per subscriber. XPUB
//  never blocks: a subscriber over its high-water mark loses the message,
//  and finds the gap by id.
static void
s_publish (server_t *self, const char *topic, const void *data, size_t size)
{
    size_t topic_size = strlen (topic) + 1;
    zmq_msg_t frame;
    if (zmq_msg_init_size (&frame, topic_size + size) == -1)
        return;
    memcpy (zmq_msg_data (&frame), topic, topic_size);
    memcpy ((byte *) zmq_msg_data (&frame) + topic_size, data, size);
    if (zmq_msg_send (&frame, zsock_resolve (self->xpub), 0) == -1)
        zmq_msg_close (&frame);
}

//  Publishes the same packed bytes to every session of room. Up to
//  INLINE_MAX bytes each session gets its own one-frame copy (one box);
//  above that the copies would cost more than the second box saves, so each
//  gets [topic][body] with the body shared by reference (zmq_msg_copy).
static void
s_publish_room (server_t *self, broker_room_t *room, const void *data, size_t size)
{
    if (size <= INLINE_MAX) {
        for (broker_session_t *member = (broker_session_t *) broker_room_first_session (room);
             member; member = (broker_session_t *) broker_room_next_session (room))
            s_publish (self, broker_session_topic (member), data, size);
        return;
    }
    void *xpub = zsock_resolve (self->xpub);
    zmq_msg_t body;
    if (zmq_msg_init_size (&body, size) == -1)
        return;
    memcpy (zmq_msg_data (&body), data, size);
    for (broker_session_t *member = (broker_session_t *) broker_room_first_session (room);
         member; member = (broker_session_t *) broker_room_next_session (room)) {
        const char *topic = broker_session_topic (member);
        if (zmq_send (xpub, topic, strlen (topic), ZMQ_SNDMORE) == -1)
            continue;
        zmq_msg_t part;
        zmq_msg_init (&part);
        zmq_msg_copy (&part, &body);
        if (zmq_msg_send (&part, xpub, 0) == -1)
            zmq_msg_close (&part);
    }
    zmq_msg_close (&body);
}

//  Can this SEND join the batch? Else it gets its answer now (0: handled).
static bool
s_send_batchable (server_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_msg_field (request, 0);
    if (!broker_session_in_room (session, name)) {
        s_reply_error (self, request, PC_ERR_FORBIDDEN, "join the room before sending to it");
        return false;
    }
    //  A resent SEND (same client message id) is acknowledged, not repeated
    const char *earlier = broker_session_sent (session, name, pc_msg_field (request, 1));
    char id [32], ts [32];
    if (earlier && sscanf (earlier, "%31s %31s", id, ts) == 2) {
        s_reply_ok (self, request, id, ts);
        return false;
    }
    return true;
}

//  Delivers the new messages of a flush (rc 0) to their rooms. Delivery is
//  per session (leaving or being removed stops it at once); each session
//  gets this flush's messages of a room in frames of at most
//  FANOUT_FRAME_MAX. The room's topic, which only the monitor may hear,
//  gets each message once.
static void
s_deliver_batch (server_t *self, broker_append_t *items, size_t count)
{
    roombox_t boxes [BATCH_MAX];
    size_t nboxes = 0;
    for (size_t i = 0; i < count; i++) {
        if (items [i].rc != 0)
            continue;
        pc_msg_t *request = self->batch_msgs [i];
        const char *name = pc_msg_field (request, 0);
        broker_room_t *room = s_room_require (self, name);
        broker_room_set_seq (room, items [i].seq);
        pc_msg_t *out = pc_msg_new ("MSG");
        pc_msg_addf (out, "%" PRIu64, items [i].seq);
        pc_msg_add (out, name);
        pc_msg_add (out, items [i].from);
        pc_msg_addf (out, "%" PRId64, items [i].ts);
        pc_msg_add (out, items [i].text);
        zframe_t *packed = pc_msg_pack (out);
        s_publish (self, broker_room_topic (room), zframe_data (packed), zframe_size (packed));
        size_t box = 0;
        while (box < nboxes && boxes [box].room != room)
            box++;
        if (box == nboxes) {
            boxes [nboxes].room = room;
            pc_buf_init (&boxes [nboxes++].packed);
        }
        //  A full frame goes out now
        if (boxes [box].packed.size > 0
        &&  boxes [box].packed.size + zframe_size (packed) > FANOUT_FRAME_MAX) {
            s_publish_room (self, room, boxes [box].packed.data, boxes [box].packed.size);
            pc_buf_reset (&boxes [box].packed);
        }
        pc_buf_append (&boxes [box].packed, (const char *) zframe_data (packed),
                       zframe_size (packed));
        zframe_destroy (&packed);
        pc_msg_destroy (&out);
    }
    for (size_t box = 0; box < nboxes; box++) {
        s_publish_room (self, boxes [box].room, boxes [box].packed.data, boxes [box].packed.size);
        pc_buf_free (&boxes [box].packed);
    }
}

//  Numbers, delivers and stores the waiting SENDs (one pipelined round trip
//  to Redis for the lot) and acknowledges each once stored, in the order
//  they came.
static void
s_flush_sends (server_t *self)
{
    size_t count = self->batch_size;
    if (count == 0)
        return;
    self->batch_size = 0;
    self->flushes++;
    self->flushed += count;
    broker_append_t items [BATCH_MAX];
    char streams [BATCH_MAX][48];
    for (size_t i = 0; i < count; i++) {
        pc_msg_t *request = self->batch_msgs [i];
        snprintf (streams [i], sizeof (streams [i]), "room:%s", pc_msg_field (request, 0));
        items [i] = (broker_append_t) {
            streams [i], broker_session_user (self->batch_sessions [i]),
            pc_msg_field (request, 1), pc_msg_field (request, 2), 0, 0, 0
        };
    }
    //  Senders past their resends get ids now, and their messages go out
    //  once Redis's socket has them, while Redis stores them; a lot with
    //  anyone else waits for Redis's dedup check and numbering (see
    //  broker_session_resends_done).
    bool ahead = true;
    for (size_t i = 0; i < count && ahead; i++)
        ahead = broker_session_resends_done (self->batch_sessions [i]);
    ahead = ahead && broker_store_number_many (self->store, items, count);
    if (ahead) {
        self->flushed_ahead += count;
        broker_store_write_send (self->store, items, count);
    }
    else
        broker_store_append_many (self->store, items, count);
    s_deliver_batch (self, items, count);
    int64_t delivered = zclock_usecs ();
    if (ahead)
        broker_store_write_finish (self->store, items, count);
    for (size_t i = 0; i < count; i++) {
        pc_msg_t *request = self->batch_msgs [i];
        broker_session_t *session = self->batch_sessions [i];
        if (items [i].rc == -1) {
            s_reply_error (self, request, PC_ERR_UNAVAILABLE,
                           "message not stored: storage unavailable, try again");
            continue;
        }
        if (items [i].rc == 0 && !ahead)
            broker_session_set_resends_done (session);
        char id [32], ts [32], remembered [64];
        snprintf (id, sizeof (id), "%" PRIu64, items [i].seq);
        snprintf (ts, sizeof (ts), "%" PRId64, items [i].ts);
        snprintf (remembered, sizeof (remembered), "%s %s", id, ts);
        broker_session_remember (session, pc_msg_field (request, 0), pc_msg_field (request, 1),
                                 remembered);
        s_reply_ok (self, request, id, ts);
    }
    //  Delivery latency as the broker sees it: read -> handed to every
    //  member's queue (the monitor shows it per heartbeat)
    for (size_t i = 0; i < count; i++) {
        uint64_t latency = (uint64_t) (delivered - self->batch_received [i]);
        self->latency_sum_us += latency;
        self->latency_count++;
        if (latency > self->latency_max_us)
            self->latency_max_us = latency;
    }
}

//  Parses a decimal field the codec already checked as an integer; clamps.
static uint64_t
s_number (const char *text, uint64_t low, uint64_t high)
{
    if (!text || *text == '-')
        return low;
    unsigned long long value = strtoull (text, NULL, 10);
    return value < low? low: value > high? high: value;
}

//  HISTORY/INBOX's since: -1 from the start, 0 the newest, N after id N.
static uint64_t
s_since (const char *text)
{
    if (text && streq (text, "-1"))
        return BROKER_FROM_START;
    return s_number (text, 0, UINT64_MAX - 1);
}

//  Answers with up to limit messages of stream after since (or the latest
//  limit when since is 0): per message the fields id, from, ts, text, and
//  with to set, id, from, to, ts, box (an inbox).
static void
s_reply_stream (server_t *self, pc_msg_t *request, const char *stream, const char *to,
                uint64_t since, size_t limit)
{
    zlistx_t *records = broker_store_records_new ();
    if (broker_store_history (self->store, stream, since, limit, records) == -1) {
        s_reply_error (self, request, PC_ERR_UNAVAILABLE, "history unavailable: storage is down");
        zlistx_destroy (&records);
        return;
    }
    pc_msg_t *reply = pc_msg_new_ok (request);
    for (broker_record_t *record = (broker_record_t *) zlistx_first (records); record;
         record = (broker_record_t *) zlistx_next (records)) {
        pc_msg_addf (reply, "%" PRIu64, record->seq);
        pc_msg_add (reply, record->from);
        if (to)
            pc_msg_add (reply, to);
        pc_msg_addf (reply, "%" PRId64, record->ts);
        pc_msg_add (reply, record->text);
    }
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
    zlistx_destroy (&records);
}

static void
s_cmd_history (server_t *self, pc_msg_t *request, broker_session_t *session)
{
    //  A room's history is for its members, as its messages are
    if (!broker_session_in_room (session, pc_msg_field (request, 0))) {
        s_reply_error (self, request, PC_ERR_FORBIDDEN, "join the room before reading its history");
        return;
    }
    char stream [48];
    snprintf (stream, sizeof (stream), "room:%s", pc_msg_field (request, 0));
    s_reply_stream (self, request, stream, NULL, s_since (pc_msg_field (request, 1)),
                    (size_t) s_number (pc_msg_field (request, 2), 1, PC_HISTORY_MAX));
}

static void
s_cmd_inbox (server_t *self, pc_msg_t *request, broker_session_t *session)
{
    char stream [48];
    const char *user = broker_session_user (session);
    snprintf (stream, sizeof (stream), "inbox:%s", user);
    s_reply_stream (self, request, stream, user, s_since (pc_msg_field (request, 0)),
                    (size_t) s_number (pc_msg_field (request, 1), 1, PC_HISTORY_MAX));
}

//  DM to cmid box: the box is sealed by the sender for the recipient
//  (crypto_box); the broker stores it in the recipient's inbox and delivers
//  it to every session of the recipient. It never sees the text.
static void
s_cmd_dm (server_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *to = pc_msg_field (request, 0);
    const char *cmid = pc_msg_field (request, 1);
    const char *box = pc_msg_field (request, 2);
    if (strlen (box) > PC_BOX_MAX || strlen (box) == 0) {
        s_reply_error (self, request, strlen (box)? PC_ERR_TOO_LONG: PC_ERR_MALFORMED,
                       "a sealed message is 1-8192 characters of base64");
        return;
    }
    const char *from = broker_session_user (session);
    char stream [48];
    snprintf (stream, sizeof (stream), "inbox:%s", to);
    uint64_t seq;
    int64_t stored_ts;
    int rc = broker_store_append (self->store, stream, from, cmid, box, &seq, &stored_ts);
    if (rc == -1) {
        s_reply_error (self, request, PC_ERR_UNAVAILABLE, "message not stored: storage unavailable, try again");
        return;
    }
    char id [32], ts [32];
    snprintf (id, sizeof (id), "%" PRIu64, seq);
    snprintf (ts, sizeof (ts), "%" PRId64, stored_ts);
    if (rc == 0) {
        pc_msg_t *out = pc_msg_new ("DMMSG");
        pc_msg_add (out, id);
        pc_msg_add (out, from);
        pc_msg_add (out, to);
        pc_msg_add (out, ts);
        pc_msg_add (out, box);
        for (broker_session_t *other = (broker_session_t *) zhashx_first (self->sessions);
             other; other = (broker_session_t *) zhashx_next (self->sessions))
            if (broker_session_user (other) && streq (broker_session_user (other), to)) {
                pc_msg_set_topic (out, broker_session_topic (other));
                pc_msg_send (out, self->xpub);
            }
        pc_msg_destroy (&out);
        s_event (self, "dm", from, to);         //  metadata only
    }
    s_reply_ok (self, request, id, ts);
}

//  CREATE room mode: claims a new room (mode "open" or "invite-only"); its
//  creator may invite and kick.
static void
s_cmd_create (server_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_msg_field (request, 0);
    const char *mode = pc_msg_field (request, 1);
    if (!streq (mode, "open") && !streq (mode, "invite-only")) {
        s_reply_error (self, request, PC_ERR_MALFORMED, "mode is open or invite-only");
        return;
    }
    broker_room_t *room = s_room_require (self, name);
    if (!s_room_load (self, room)) {
        s_reply_error (self, request, PC_ERR_UNAVAILABLE, "room settings unavailable: storage is down");
        return;
    }
    if (broker_room_creator (room) || broker_room_messages (room) > 0 || broker_room_members (room) > 0) {
        s_reply_error (self, request, PC_ERR_CONFLICT, "the room exists already");
        return;
    }
    const char *user = broker_session_user (session);
    int rc = broker_store_room_create (self->store, name, user, streq (mode, "invite-only"));
    if (rc == -1)
        s_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable");
    else
    if (rc == 1)
        s_reply_error (self, request, PC_ERR_CONFLICT, "the room exists already");
    else {
        broker_room_set_policy (room, streq (mode, "invite-only"), user);
        s_audit (self, user, streq (mode, "invite-only")? "create-room-invite-only": "create-room", name);
        s_reply_ok (self, request, name, mode);
    }
}

//  Is the session allowed to steer room (its creator, or an admin)?
static bool
s_may_moderate (broker_room_t *room, broker_session_t *session)
{
    const char *creator = broker_room_creator (room);
    return s_is_admin (session) || (creator && streq (creator, broker_session_user (session)));
}

static void
s_cmd_invite (server_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_msg_field (request, 0);
    const char *guest = pc_msg_field (request, 1);
    broker_room_t *room = s_room_require (self, name);
    if (!s_room_load (self, room))
        s_reply_error (self, request, PC_ERR_UNAVAILABLE, "room settings unavailable: storage is down");
    else
    if (!s_may_moderate (room, session))
        s_reply_error (self, request, PC_ERR_FORBIDDEN, "only the room's creator or an admin may invite");
    else
    if (broker_store_room_invite (self->store, name, guest, true) == -1)
        s_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable");
    else {
        broker_room_invite (room, guest, true);
        s_audit (self, broker_session_user (session), "invite", guest);
        s_reply_ok (self, request, name, guest);
    }
}

//  KICK room user: every session of user leaves the room at once (delivery
//  is per session, so nothing more reaches them) and is told so; in an
//  invite-only room the invitation goes too.
static void
s_cmd_kick (server_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_msg_field (request, 0);
    const char *victim = pc_msg_field (request, 1);
    broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, name);
    if (!room) {
        s_reply_error (self, request, PC_ERR_NOT_FOUND, "no such room");
        return;
    }
    if (!s_may_moderate (room, session)) {
        s_reply_error (self, request, PC_ERR_FORBIDDEN, "only the room's creator or an admin may kick");
        return;
    }
    char text [128];
    snprintf (text, sizeof (text), "you were removed from #%s by %s", name, broker_session_user (session));
    size_t kicked = 0;
    for (broker_session_t *other = (broker_session_t *) zhashx_first (self->sessions);
         other; other = (broker_session_t *) zhashx_next (self->sessions))
        if (broker_session_user (other) && streq (broker_session_user (other), victim)
        &&  broker_session_in_room (other, name)) {
            if (broker_room_leave (room, victim, broker_session_key (other)))
                s_event (self, "leave", victim, name);
            broker_session_remove_room (other, name);
            s_notice (self, other, "kicked", text);
            kicked++;
        }
    if (broker_room_invite_only (room)) {
        broker_room_invite (room, victim, false);
        broker_store_room_invite (self->store, name, victim, false);
    }
    if (kicked == 0 && !broker_room_invite_only (room)) {
        s_reply_error (self, request, PC_ERR_NOT_FOUND, "that user is not in the room");
        return;
    }
    s_audit (self, broker_session_user (session), "kick", victim);
    s_reply_ok (self, request, name, victim);
}

static void
s_cmd_rooms (server_t *self, pc_msg_t *request)
{
    pc_msg_t *reply = pc_msg_new_ok (request);
    zlistx_t *names = zhashx_keys (self->rooms);
    zlistx_set_comparator (names, (czmq_comparator *) strcmp);
    pc_list_sort (names, (czmq_comparator *) strcmp);
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names)) {
        broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, name);
        pc_msg_addf (reply, "%s %zu %" PRIu64, name, broker_room_members (room),
                     broker_room_messages (room));
        if (pc_msg_nfields (reply) >= PC_FIELDS_MAX)
            break;
    }
    zlistx_destroy (&names);
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
}

static void
s_cmd_who (server_t *self, pc_msg_t *request)
{
    broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, pc_msg_field (request, 0));
    if (!room) {
        s_reply_error (self, request, PC_ERR_NOT_FOUND, "no such room");
        return;
    }
    pc_msg_t *reply = pc_msg_new_ok (request);
    zlistx_t *members = broker_room_member_list (room);
    for (const char *user = (const char *) zlistx_first (members); user;
         user = (const char *) zlistx_next (members)) {
        pc_msg_add (reply, user);
        if (pc_msg_nfields (reply) >= PC_FIELDS_MAX)
            break;
    }
    zlistx_destroy (&members);
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
}

static void
s_cmd_subs (server_t *self, pc_msg_t *request, broker_session_t *session)
{
    pc_msg_t *reply = pc_msg_new_ok (request);
    zlistx_t *topics = broker_session_subs (session);
    for (const char *topic = (const char *) zlistx_first (topics); topic;
         topic = (const char *) zlistx_next (topics))
        pc_msg_add (reply, topic);
    zlistx_destroy (&topics);
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
}

//  --------------------------------------------------------------------------
//  The file service (PROTOCOL.md, "File sharing"): the broker says who a
//  key is and which spaces it may use, and relays the service's events.

//  FILES: where the file service is, while it is alive.
static void
s_cmd_files (server_t *self, pc_msg_t *request)
{
    if (!self->filesvc_heard || pc_now_ms () - self->filesvc_heard > FILESVC_SILENCE_MS) {
        s_reply_error (self, request, PC_ERR_UNAVAILABLE,
                       "the file service is not running (not heard from in the last 6 s)");
        return;
    }
    char port [16];
    snprintf (port, sizeof (port), "%d", self->config.base_port + PC_OFF_FILES);
    s_reply_ok (self, request, port, self->filesvc_key);
}

//  FCHECK key space: OK user role space-id when key's session is logged in
//  and may use space (a room it joined, or "@peer" for the pair's space).
static void
s_cmd_fcheck (server_t *self, pc_msg_t *request)
{
    const char *key = pc_msg_field (request, 0);
    const char *space = pc_msg_field (request, 1);
    broker_session_t *session = (broker_session_t *) zhashx_lookup (self->sessions, key);
    const char *user = session? broker_session_user (session): NULL;
    if (!user) {
        s_reply_error (self, request, PC_ERR_FORBIDDEN,
                       "log in to the broker first, with the key you use for files");
        return;
    }
    char space_id [PC_NAME_MAX * 2 + 8];
    if (space [0] == '@') {
        const char *peer = space + 1;
        if (!pc_name_valid (peer)) {
            s_reply_error (self, request, PC_ERR_BAD_NAME, "a private space is @ and a user name");
            return;
        }
        if (streq (peer, user)) {
            s_reply_error (self, request, PC_ERR_BAD_NAME,
                           "a private space is shared with another user, not yourself");
            return;
        }
        //  One space for the pair, whoever asks: the names sorted
        bool first = strcmp (user, peer) < 0;
        snprintf (space_id, sizeof (space_id), "dm/%s+%s", first? user: peer, first? peer: user);
    }
    else {
        if (!pc_name_valid (space)) {
            s_reply_error (self, request, PC_ERR_BAD_NAME, "a space is a room name or @user");
            return;
        }
        //  The files of a room are for its members, as its history is
        if (!broker_session_in_room (session, space)) {
            s_reply_error (self, request, PC_ERR_FORBIDDEN, "join the room before using its files");
            return;
        }
        snprintf (space_id, sizeof (space_id), "room/%s", space);
    }
    pc_msg_t *reply = pc_msg_new_ok (request);
    pc_msg_add (reply, user);
    pc_msg_add (reply, broker_session_role (session));
    pc_msg_add (reply, space_id);
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
}

//  "shared NAME (SIZE)": bytes, or KiB, MiB, GiB with one decimal.
static void
s_human_size (const char *text, char *size, size_t max)
{
    double value = (double) strtoull (text, NULL, 10);
    const char *units [] = { "KiB", "MiB", "GiB" };
    if (value < 1024)
        snprintf (size, max, "%.0f B", value);
    else {
        size_t unit = 0;
        for (value /= 1024; value >= 1024 && unit < 2; value /= 1024)
            unit++;
        snprintf (size, max, "%.1f %s", value, units [unit]);
    }
}

//  Posts "shared NAME (SIZE)" in room as user, stored then delivered like
//  any room message, once per file id (a resent event is not posted
//  again): 0 posted, 1 posted before, -1 not stored (storage down).
static int
s_post_shared (server_t *self, const char *name, const char *user, const char *file,
               const char *size, const char *file_id)
{
    char human [32], text [PC_TEXT_MAX + 1], cmid [PC_ID_MAX + 1], stream [48];
    s_human_size (size, human, sizeof (human));
    snprintf (text, sizeof (text), "shared %s (%s)", file, human);
    if (!pc_utf8_valid (text, strlen (text)))
        return 1;               //  the file service checked the name: cannot happen
    snprintf (cmid, sizeof (cmid), "file-%.58s", file_id);
    snprintf (stream, sizeof (stream), "room:%s", name);
    uint64_t seq;
    int64_t ts;
    int rc = broker_store_append (self->store, stream, user, cmid, text, &seq, &ts);
    if (rc == -1)
        return -1;
    broker_room_t *room = s_room_require (self, name);
    broker_room_set_seq (room, seq);
    if (rc == 1)
        return 1;
    pc_msg_t *out = pc_msg_new ("MSG");
    pc_msg_addf (out, "%" PRIu64, seq);
    pc_msg_add (out, name);
    pc_msg_add (out, user);
    pc_msg_addf (out, "%" PRId64, ts);
    pc_msg_add (out, text);
    zframe_t *packed = pc_msg_pack (out);
    s_publish (self, broker_room_topic (room), zframe_data (packed), zframe_size (packed));
    s_publish_room (self, room, zframe_data (packed), zframe_size (packed));
    zframe_destroy (&packed);
    pc_msg_destroy (&out);
    return 0;
}

//  FEVENT kind fields...: published as EVENT on "$ev/"; a file-up in a
//  room is also posted there (answered 503 when it cannot be stored, so
//  the file service sends it again).
static void
s_cmd_fevent (server_t *self, pc_msg_t *request)
{
    const char *kind = pc_msg_field (request, 0);
    if (streq (kind, "file-up") && pc_msg_nfields (request) >= 5) {
        const char *user = pc_msg_field (request, 1);
        const char *space = pc_msg_field (request, 2);
        const char *file_id = pc_msg_nfields (request) >= 6? pc_msg_field (request, 5): "";
        if (strncmp (space, "room/", 5) == 0 && pc_name_valid (space + 5) && pc_name_valid (user)
        &&  *file_id) {
            int rc = s_post_shared (self, space + 5, user, pc_msg_field (request, 3),
                                    pc_msg_field (request, 4), file_id);
            if (rc == -1) {
                s_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable, try again");
                return;
            }
            if (rc == 1) {          //  seen before: announced already
                s_reply_ok (self, request, NULL, NULL);
                return;
            }
        }
    }
    pc_msg_t *event = pc_msg_new ("EVENT");
    pc_msg_set_topic (event, PC_TOPIC_EVENT);
    for (size_t i = 0; i < pc_msg_nfields (request); i++)
        pc_msg_add (event, pc_msg_field (request, i));
    pc_msg_send (event, self->xpub);
    pc_msg_destroy (&event);
    s_reply_ok (self, request, NULL, NULL);
}

static void
s_handle_filesvc (server_t *self, pc_msg_t *request)
{
    self->filesvc_heard = pc_now_ms ();
    const char *command = pc_msg_command (request);
    if (streq (command, "FCHECK"))
        s_cmd_fcheck (self, request);
    else
    if (streq (command, "FEVENT"))
        s_cmd_fevent (self, request);
    else
    if (streq (command, "PING"))
        s_reply_ok (self, request, "PONG", NULL);
    else
        s_reply_error (self, request, PC_ERR_UNKNOWN, "not a command for the file service");
}

static bool
s_is_account_command (const char *command)
{
    return streq (command, "USERS") || streq (command, "BAN") || streq (command, "UNBAN")
        || streq (command, "DELUSER") || streq (command, "RESETPW") || streq (command, "PASSWD")
        || streq (command, "DELETEME") || streq (command, "MKADMIN");
}

//  Reads one request into the next free batch slot and handles it: a SEND
//  joins the batch, anything else first flushes it (so each client's
//  requests keep their order). -1 when nothing could be read.
static int
s_handle_client (server_t *self)
{
    size_t slot = self->batch_size;
    if (!self->batch_msgs [slot])
        self->batch_msgs [slot] = pc_msg_new (NULL);
    pc_msg_t *request = self->batch_msgs [slot];
    //  Several requests in one frame (a batch) are taken one by one, as if
    //  they had come in frames of their own
    int rc;
    if (pc_msg_more (self->carry)) {
        pc_msg_move_batch (request, self->carry);
        rc = pc_msg_next (request);
    }
    else
        rc = pc_msg_recv (request, self->router);
    if (rc == -1)
        return -1;
    if (pc_msg_more (request))
        pc_msg_move_batch (self->carry, request);
    if (rc == -2) {
        self->malformed++;
        zsys_warning ("broker: malformed request from %s: %s",
                      pc_msg_user_id (request)? pc_msg_user_id (request): "?",
                      pc_msg_error_text (request));
        char code [8];
        snprintf (code, sizeof (code), "%d", pc_msg_error (request));
        s_event (self, "reject", code, pc_msg_error_text (request));
        if (pc_msg_routing_id (request))
            s_reply_error (self, request, pc_msg_error (request), pc_msg_error_text (request));
        return 0;
    }
    const char *key = pc_msg_user_id (request);
    if (!key) {                 //  cannot happen with CURVE; refuse, don't assert
        s_reply_error (self, request, PC_ERR_FORBIDDEN, "no CURVE identity");
        return 0;
    }
    broker_session_t *session = (broker_session_t *) zhashx_lookup (self->sessions, key);
    if (!session && streq (key, self->filesvc_key)) {
        //  The file service has no session: it asks on its users' behalf
        //  (checked here, off the path of every session's SEND)
        s_flush_sends (self);
        s_handle_filesvc (self, request);
        return 0;
    }
    if (!session) {
        session = broker_session_new (key);
        zhashx_insert (self->sessions, key, session);
        //  The server's admin key (pychat-admin, on the server host) is an
        //  admin without a password: whoever holds it owns the server anyway.
        if (self->admin_key && streq (key, self->admin_key))
            broker_session_login (session, ADMIN_TOOL, "admin");
    }
    broker_session_touch (session, pc_now_ms ());
    const char *command = pc_msg_command (request);
    const char *user = broker_session_user (session);
    if (streq (command, "SEND") && user) {
        if (s_send_batchable (self, request, session)) {
            self->batch_received [self->batch_size] = zclock_usecs ();
            self->batch_sessions [self->batch_size++] = session;
            if (self->batch_size == BATCH_MAX)
                s_flush_sends (self);
        }
        return 0;
    }
    s_flush_sends (self);

    if (streq (command, "PING"))
        s_reply_ok (self, request, "PONG", NULL);
    else
    if (streq (command, "REGISTER") || streq (command, "LOGIN")) {
        if (pc_msg_nfields (request) != 2)
            s_reply_error (self, request, PC_ERR_MALFORMED, "takes a name and a password");
        else {
            //  Throttling by source: the peer's address (a fresh key is free)
            const char *source = pc_msg_peer_address (request);
            s_forward_to_auth (self, request, session, pc_msg_field (request, 0),
                               pc_msg_field (request, 0), pc_msg_field (request, 1),
                               source && *source? source: broker_session_key (session));
        }
    }
    else
    if (streq (command, "LOGOUT")) {
        s_session_logout (self, session);
        s_reply_ok (self, request, NULL, NULL);
    }
    else
    if (streq (command, "FCHECK") || streq (command, "FEVENT"))
        s_reply_error (self, request, PC_ERR_FORBIDDEN, "only the file service may ask this");
    else
    if (!streq (command, "JOIN") && !streq (command, "LEAVE") && !streq (command, "SEND")
    &&  !streq (command, "ROOMS") && !streq (command, "WHO") && !streq (command, "SUBS")
    &&  !streq (command, "HISTORY") && !streq (command, "DM") && !streq (command, "INBOX")
    &&  !streq (command, "SETKEY") && !streq (command, "GETKEY") && !s_is_account_command (command)
    &&  !streq (command, "KICK") && !streq (command, "CREATE") && !streq (command, "INVITE")
    &&  !streq (command, "FILES"))
        s_reply_error (self, request, PC_ERR_UNKNOWN, "not a broker command");
    else
    if (!user)
        s_reply_error (self, request, PC_ERR_FORBIDDEN, "log in first");
    else
    if (streq (command, "JOIN")) {
        const char *name = pc_msg_field (request, 0);
        broker_room_t *room = s_room_require (self, name);
        if (!s_room_load (self, room)) {
            s_reply_error (self, request, PC_ERR_UNAVAILABLE, "room settings unavailable: storage is down");
            return 0;
        }
        if (!broker_session_in_room (session, name)
        &&  !broker_room_may_join (room, user, s_is_admin (session))) {
            s_reply_error (self, request, PC_ERR_FORBIDDEN,
                           "invite-only room: ask its creator for an invitation");
            return 0;
        }
        if (broker_room_messages (room) == 0) {
            //  First sight of the room since start: learn its last id
            char stream [48];
            snprintf (stream, sizeof (stream), "room:%s", name);
            zlistx_t *records = broker_store_records_new ();
            if (broker_store_history (self->store, stream, 0, 1, records) == 0
            &&  zlistx_first (records))
                broker_room_set_seq (room, ((broker_record_t *) zlistx_first (records))->seq);
            zlistx_destroy (&records);
        }
        if (!broker_session_in_room (session, name)) {
            broker_session_add_room (session, name);
            if (broker_room_join (room, user, broker_session_key (session), session))
                s_event (self, "join", user, name);
        }
        s_reply_ok (self, request, name, broker_session_topic (session));
    }
    else
    if (streq (command, "LEAVE")) {
        const char *name = pc_msg_field (request, 0);
        if (!broker_session_in_room (session, name))
            s_reply_error (self, request, PC_ERR_NOT_FOUND, "not in that room");
        else {
            s_session_leave (self, session, name);
            s_reply_ok (self, request, name, NULL);
        }
    }
    else
    if (streq (command, "ROOMS"))
        s_cmd_rooms (self, request);
    else
    if (streq (command, "WHO"))
        s_cmd_who (self, request);
    else
    if (streq (command, "HISTORY"))
        s_cmd_history (self, request, session);
    else
    if (streq (command, "INBOX"))
        s_cmd_inbox (self, request, session);
    else
    if (streq (command, "DM"))
        s_cmd_dm (self, request, session);
    else
    if (streq (command, "SETKEY")) {
        if (pc_msg_nfields (request) != 1)
            s_reply_error (self, request, PC_ERR_MALFORMED, "SETKEY takes one key");
        else            //  a user sets only its own key
            s_forward_to_auth (self, request, session, user, pc_msg_field (request, 0), user, NULL);
    }
    else
    if (streq (command, "GETKEY"))
        s_forward_to_auth (self, request, session, NULL, pc_msg_field (request, 0), NULL, NULL);
    else
    if (streq (command, "PASSWD")) {
        if (pc_msg_nfields (request) != 2)
            s_reply_error (self, request, PC_ERR_MALFORMED, "PASSWD takes the old and the new password");
        else
            s_forward_to_auth (self, request, session, user, pc_msg_field (request, 0),
                               pc_msg_field (request, 1), user);
    }
    else
    if (streq (command, "DELETEME")) {
        if (pc_msg_nfields (request) != 1)
            s_reply_error (self, request, PC_ERR_MALFORMED, "DELETEME takes the password");
        else
            s_forward_to_auth (self, request, session, user, pc_msg_field (request, 0), user, NULL);
    }
    else
    if (s_is_account_command (command)) {       //  the admins' account commands
        if (!s_is_admin (session))
            s_reply_error (self, request, PC_ERR_FORBIDDEN, "admins only");
        else
        if (streq (command, "MKADMIN"))
            s_reply_error (self, request, PC_ERR_FORBIDDEN, "use pychat-admin on the server host");
        else
            s_forward_to_auth (self, request, session, pc_msg_field (request, 0),
                               pc_msg_field (request, 0), pc_msg_field (request, 1), NULL);
    }
    else
    if (streq (command, "KICK"))
        s_cmd_kick (self, request, session);
    else
    if (streq (command, "CREATE"))
        s_cmd_create (self, request, session);
    else
    if (streq (command, "INVITE"))
        s_cmd_invite (self, request, session);
    else
    if (streq (command, "FILES"))
        s_cmd_files (self, request);
    else
        s_cmd_subs (self, request, session);
    return 0;
}

//  --------------------------------------------------------------------------
//  Subscription authorisation (ZMQ_XPUB_MANUAL): the broker applies a
//  subscription only for a key that may read the topic: a logged-in
//  session's own "s/TOKEN/", or anything for the monitor's key. ZMQ_SUBSCRIBE
//  right after the receive applies it to the pipe that sent it.

static bool
s_may_subscribe (server_t *self, const char *key, const char *topic, size_t size)
{
    if (!key)
        return false;
    if (self->monitor_key && streq (key, self->monitor_key))
        return true;
    broker_session_t *session = (broker_session_t *) zhashx_lookup (self->sessions, key);
    if (!session || !broker_session_user (session))
        return false;
    //  Only the session's own topic, exactly
    const char *own = broker_session_topic (session);
    return size == strlen (own) && memcmp (topic, own, size) == 0;
}

static void
s_handle_subscription (server_t *self)
{
    zframe_t *frame = zframe_recv (self->xpub);
    if (!frame)
        return;
    size_t size = zframe_size (frame);
    const char *data = (const char *) zframe_data (frame);
    const char *key = zframe_meta (frame, "User-Id");
    if (size >= 1 && (data [0] == 1 || data [0] == 0) && key && *key) {
        bool subscribe = data [0] == 1;
        const char *topic = data + 1;
        size_t topic_size = size - 1;
        char *topic_str = (char *) malloc (topic_size + 1);
        assert (topic_str);
        memcpy (topic_str, topic, topic_size);
        topic_str [topic_size] = 0;
        broker_session_t *session = (broker_session_t *) zhashx_lookup (self->sessions, key);
        void *handle = zsock_resolve (self->xpub);
        if (!subscribe) {
            zmq_setsockopt (handle, ZMQ_UNSUBSCRIBE, topic, topic_size);
            if (session)
                broker_session_remove_sub (session, topic_str);
        }
        else
        if (s_may_subscribe (self, key, topic, topic_size)
        &&  strlen (topic_str) == topic_size) {
            zmq_setsockopt (handle, ZMQ_SUBSCRIBE, topic, topic_size);
            if (session)
                broker_session_add_sub (session, topic_str);
            s_debug (self, "broker: subscription to '%s' applied", topic_str);
        }
        else {
            self->subs_refused++;
            s_debug (self, "broker: subscription refused (%zu bytes) for %s", topic_size, key);
        }
        free (topic_str);
    }
    zframe_destroy (&frame);
}

//  --------------------------------------------------------------------------

static void
s_handle_pipe (server_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "VERBOSE"))
        self->verbose = true;
    zstr_free (&command);
}

static void
s_tick (server_t *self)
{
    int64_t now = pc_now_ms ();
    s_expire_pending (self, now);
    broker_store_flush (self->store);
    s_expire_sessions (self, now);
    if (now >= self->next_heartbeat) {
        s_send_heartbeat (self);
        self->next_heartbeat = now + HEARTBEAT_MS;
    }
}

void
broker_server_actor (zsock_t *pipe, void *config)
{
    server_t *self = s_server_new (pipe, (pc_config_t *) config);
    zsock_signal (pipe, 0);
    if (s_server_start (self) == -1) {
        zstr_send (pipe, "FAILED");
        s_server_destroy (&self);
        return;
    }
    zstr_send (pipe, "READY");
    int64_t next_tick = pc_now_ms () + TICK_MS;
    while (!self->terminated) {
        int64_t wait = pc_msg_more (self->carry)? 0: next_tick - pc_now_ms ();
        void *which = zpoller_wait (self->poller, (int) (wait > 0? wait: 0));
        if (which == self->pipe)
            s_handle_pipe (self);
        else
        if (!which && zpoller_terminated (self->poller))
            break;
        //  zpoller_wait names the first ready socket in the order they were
        //  added, so a ROUTER that never runs dry would starve the others:
        //  each turn serves every ready socket, each a burst at most.
        if (which == self->router || pc_msg_more (self->carry)
        ||  (zsock_events (self->router) & ZMQ_POLLIN)) {
            //  Drain what is waiting (up to a batch), then flush the SENDs
            for (int count = 0; count < BATCH_MAX; count++)
                if (s_handle_client (self) == -1
                ||  (!pc_msg_more (self->carry) && !(zsock_events (self->router) & ZMQ_POLLIN)))
                    break;
            s_flush_sends (self);
        }
        for (int count = 0; count < BATCH_MAX && (zsock_events (self->xpub) & ZMQ_POLLIN); count++)
            s_handle_subscription (self);
        for (int count = 0; count < BATCH_MAX && (zsock_events (self->authsvc) & ZMQ_POLLIN); count++)
            s_handle_auth_reply (self);
        if (pc_now_ms () >= next_tick) {
            s_tick (self);
            next_tick = pc_now_ms () + TICK_MS;
        }
    }
    zsys_info ("broker: stopping (%" PRIu64 " malformed requests, %" PRIu64 " subscriptions refused, "
               "%" PRIu64 " SENDs stored in %" PRIu64 " batches, %" PRIu64 " numbered ahead)",
               self->malformed, self->subs_refused, self->flushed, self->flushes,
               self->flushed_ahead);
    s_server_destroy (&self);
}

//  Sends a request over dealer and returns the reply (caller destroys).
static pc_msg_t *
s_test_request (zsock_t *dealer, const char *command, const char *a, const char *b)
{
    pc_msg_t *request = pc_msg_new (command);
    pc_msg_set_reqid (request, "t1");
    if (a)
        pc_msg_add (request, a);
    if (b)
        pc_msg_add (request, b);
    assert (pc_msg_send (request, dealer) == 0);
    pc_msg_destroy (&request);
    pc_msg_t *reply = pc_msg_new (NULL);
    int rc = pc_msg_recv (reply, dealer);
    assert (rc == 0);
    assert (streq (pc_msg_reqid (reply), "t1"));
    return reply;
}

void
broker_server_test (bool verbose)
{
    printf (" * broker_server: ");
    //  A real broker on a private port range and data folder, with no auth
    //  service: a client is answered, refused before login, and told 503
    //  for LOGIN within the auth timeout instead of hanging.
    char dir [] = "/tmp/broker_server_test.XXXXXX";
    assert (mkdtemp (dir));
    setenv ("PYCHAT_DATA", dir, 1);
    setenv ("PYCHAT_BIND", "127.0.0.1", 1);
    zactor_t *zap = pc_zap_new ();
    pc_zap_allow_any (zap, "clients");
    zactor_t *broker = NULL;
    pc_config_t config;
    for (int attempt = 0; attempt < 20 && !broker; attempt++) {
        char port [16];
        snprintf (port, sizeof (port), "%d", 20000 + randof (30000));
        setenv ("PYCHAT_PORT", port, 1);
        assert (pc_config_load (&config) == 0);
        config.authsvc [0] = 0;         //  no auth service at all
        broker = zactor_new (broker_server_actor, &config);
        char *status = zstr_recv (broker);
        if (!streq (status, "READY"))
            zactor_destroy (&broker);       //  port taken: try another
        zstr_free (&status);
    }
    assert (broker);
    char *server_key = pc_keys_public (config.keys_dir, "broker");
    assert (server_key);
    zcert_t *client_cert = zcert_new ();
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zcert_apply (client_cert, dealer);
    zsock_set_curve_serverkey (dealer, server_key);
    zsock_set_rcvtimeo (dealer, 5000);
    zsock_connect (dealer, "tcp://127.0.0.1:%d", config.base_port);

    pc_msg_t *reply = s_test_request (dealer, "PING", NULL, NULL);
    assert (pc_msg_is (reply, "OK") && streq (pc_msg_field (reply, 0), "PONG"));
    pc_msg_destroy (&reply);
    reply = s_test_request (dealer, "JOIN", "lobby", NULL);
    assert (pc_msg_error_code (reply) == PC_ERR_FORBIDDEN);
    pc_msg_destroy (&reply);
    reply = s_test_request (dealer, "SUBS", NULL, NULL);
    assert (pc_msg_error_code (reply) == PC_ERR_FORBIDDEN);
    pc_msg_destroy (&reply);
    reply = s_test_request (dealer, "LOGIN", "alice", "secret");
    assert (pc_msg_error_code (reply) == PC_ERR_UNAVAILABLE);
    pc_msg_destroy (&reply);
    reply = s_test_request (dealer, "MSG", NULL, NULL);    //  wrong field count
    assert (pc_msg_error_code (reply) == PC_ERR_MALFORMED);
    pc_msg_destroy (&reply);
    reply = s_test_request (dealer, "STATS", NULL, NULL);  //  not a broker command
    assert (pc_msg_error_code (reply) == PC_ERR_UNKNOWN);
    pc_msg_destroy (&reply);
    //  Bad signature: still an answer, and the broker goes on
    zstr_sendx (dealer, "GET / HTTP/1.0", "x", "y", NULL);
    reply = pc_msg_new (NULL);
    assert (pc_msg_recv (reply, dealer) == 0);
    assert (pc_msg_error_code (reply) == PC_ERR_MALFORMED);
    pc_msg_destroy (&reply);
    reply = s_test_request (dealer, "PING", NULL, NULL);
    assert (pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);

    //  The file service's commands: from its key only
    reply = s_test_request (dealer, "FCHECK", zcert_public_txt (client_cert), "lobby");
    assert (pc_msg_error_code (reply) == PC_ERR_FORBIDDEN);
    pc_msg_destroy (&reply);
    reply = s_test_request (dealer, "FEVENT", "files", "0");
    assert (pc_msg_error_code (reply) == PC_ERR_FORBIDDEN);
    pc_msg_destroy (&reply);
    reply = s_test_request (dealer, "FILES", NULL, NULL);      //  not logged in
    assert (pc_msg_error_code (reply) == PC_ERR_FORBIDDEN);
    pc_msg_destroy (&reply);
    zcert_t *filesvc_cert = pc_keys_load (config.keys_dir, "filesvc");
    assert (filesvc_cert);
    zsock_t *filesvc = pc_keys_client (ZMQ_DEALER, filesvc_cert, server_key);
    zsock_set_rcvtimeo (filesvc, 5000);
    zsock_connect (filesvc, "tcp://127.0.0.1:%d", config.base_port);
    reply = s_test_request (filesvc, "FEVENT", "files", "0");
    assert (pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    reply = s_test_request (filesvc, "FCHECK", zcert_public_txt (client_cert), "lobby");
    assert (pc_msg_error_code (reply) == PC_ERR_FORBIDDEN);     //  not logged in
    pc_msg_destroy (&reply);
    reply = s_test_request (filesvc, "JOIN", "lobby", NULL);
    assert (pc_msg_error_code (reply) == PC_ERR_UNKNOWN);
    pc_msg_destroy (&reply);
    zsock_destroy (&filesvc);
    zcert_destroy (&filesvc_cert);
    char size [32];
    s_human_size ("512", size, sizeof (size));
    assert (streq (size, "512 B"));
    s_human_size ("1536", size, sizeof (size));
    assert (streq (size, "1.5 KiB"));
    s_human_size ("3145728", size, sizeof (size));
    assert (streq (size, "3.0 MiB"));
    s_human_size ("5368709120", size, sizeof (size));
    assert (streq (size, "5.0 GiB"));

    zsock_destroy (&dealer);
    zcert_destroy (&client_cert);
    zstr_free (&server_key);
    zactor_destroy (&broker);
    pc_zap_destroy (&zap);
    char command [PATH_MAX + 16];
    snprintf (command, sizeof (command), "rm -rf '%s'", dir);
    assert (system (command) == 0);
    unsetenv ("PYCHAT_DATA");
    unsetenv ("PYCHAT_BIND");
    unsetenv ("PYCHAT_PORT");
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

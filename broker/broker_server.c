//  broker_server.c: the broker's actor: its sockets, the poll loop, the
//  tick, and the check of who may send what. The commands themselves are
//  answered by broker_chat, broker_moderation, broker_authlink and
//  broker_files, through the table in broker_dispatch.
#include "broker_server.h"
#include "broker_authlink.h"
#include "broker_chat.h"
#include "broker_cluster.h"
#include "broker_ctx.h"
#include "broker_dispatch.h"
#include "broker_moderation.h"
#include "broker_search.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_redis.h"
#include "pc_util.h"
#include "pc_zap.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define SESSION_IDLE_MS     60000   //  PROTOCOL.md: sessions idle 60 s are dropped
#define HEARTBEAT_MS        2000    //  "$ev/" heartbeat for the monitor
#define TICK_MS             250
#define TRIM_MS             10000   //  the heap is given back at most this often
#define ADMIN_TOOL          "server-admin"  //  the name pychat-admin's session acts under

static zsock_t *
s_curve_server (broker_t *self, int type, int offset)
{
    zsock_t *sock = zsock_new (type);
    assert (sock);
    zcert_apply (self->cert, sock);
    pc_zap_secure (sock, "clients");
    zsock_set_backlog (sock, pc_zap_backlog ());
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
    else {
        pc_zap_gate (sock);
        zsys_info ("broker: listening on %s", endpoint);
    }
    return sock;
}

static broker_t *
s_server_new (zsock_t *pipe, pc_config_t *config)
{
    broker_t *self = (broker_t *) zmalloc (sizeof (broker_t));
    assert (self);
    self->pipe = pipe;
    self->config = *config;
    self->sessions = zhashx_new ();
    zhashx_set_destructor (self->sessions, (czmq_destructor *) broker_session_destroy);
    self->rooms = zhashx_new ();
    zhashx_set_destructor (self->rooms, (czmq_destructor *) broker_room_destroy);
    self->pending = zhashx_new ();
    zhashx_set_destructor (self->pending, (czmq_destructor *) broker_authlink_pending_destroy);
    self->carry = pc_msg_new (NULL);
    pc_buf_init (&self->acks);
    pc_buf_init (&self->packed);
    self->msg = pc_msg_new (NULL);
    self->next_heartbeat = pc_now_ms () + HEARTBEAT_MS;
    self->started = pc_now_ms ();
    self->limits = broker_limits_new (config);
    self->next_trim = self->started + TRIM_MS;
    return self;
}

static void
s_server_destroy (broker_t **self_p)
{
    if (*self_p) {
        broker_t *self = *self_p;
        zsock_destroy (&self->router);
        broker_fanout_destroy (&self->fanout);
        zsock_destroy (&self->authsvc);
        zhashx_destroy (&self->sessions);
        zhashx_destroy (&self->rooms);
        zhashx_destroy (&self->pending);
        broker_limits_destroy (&self->limits);
        broker_search_destroy (&self->search);
        if (self->cluster)
            broker_cluster_leave (self);
        broker_cluster_destroy (&self->cluster);
        broker_store_destroy (&self->store);
        pc_msg_destroy (&self->msg);
        for (size_t lot = 0; lot < BROKER_LOTS; lot++)
            for (size_t i = 0; i < BROKER_BATCH_MAX; i++)
                pc_msg_destroy (&self->lots [lot].msgs [i]);
        pc_msg_destroy (&self->carry);
        pc_buf_free (&self->acks);
        pc_buf_free (&self->packed);
        zcert_destroy (&self->cert);
        zstr_free (&self->admin_key);
        zstr_free (&self->filesvc_key);
        free (self);
        *self_p = NULL;
    }
}

//  One DEALER to every auth service: round robin; ZMQ_IMMEDIATE so a
//  request is never queued for a service that is not connected.
static zsock_t *
s_authsvc_connect (broker_t *self, const char *server_key)
{
    zsock_t *authsvc = zsock_new (ZMQ_DEALER);
    assert (authsvc);
    zcert_apply (self->cert, authsvc);
    zsock_set_curve_serverkey (authsvc, server_key);
    zsock_set_immediate (authsvc, 1);
    zsock_set_linger (authsvc, 0);
    zsock_set_maxmsgsize (authsvc, PC_MSG_MAX);
    zsock_set_reconnect_ivl (authsvc, 200);
    zsock_set_reconnect_ivl_max (authsvc, 2000);
    char *endpoints = strdup (self->config.authsvc);
    for (char *save = NULL, *endpoint = strtok_r (endpoints, ",", &save); endpoint;
         endpoint = strtok_r (NULL, ",", &save))
        if (zsock_connect (authsvc, "%s", endpoint) == -1)
            zsys_error ("broker: bad auth service endpoint '%s'", endpoint);
        else
            zsys_info ("broker: auth service at %s", endpoint);
    free (endpoints);
    return authsvc;
}

//  Keys, sockets. 0 ok, -1 could not start (logged).
static int
s_server_start (broker_t *self)
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
    self->store = broker_store_new (self->config.redis_host, self->config.redis_port,
                                    self->config.history_max);
    char where [300];
    zsys_info ("broker: history in redis %s (last %zu messages per room)",
               pc_redis_where (self->config.redis_host, self->config.redis_port, where,
                               sizeof (where)), self->config.history_max);
    if (*self->config.broker_id) {
        self->cluster = broker_cluster_new (self->config.broker_id, self->config.advertise,
                                            self->config.redis_host, self->config.redis_port);
        broker_store_set_cluster (self->store, true);
        broker_store_set_replicas (self->store, self->config.redis_replicas, 1000);
        zsys_info ("broker: multi-broker mode as '%s' (clients told %s): Redis numbers and "
                   "publishes every message; no outage journal", self->config.broker_id,
                   self->config.advertise);
    }
    char path [PATH_MAX];
    snprintf (path, sizeof (path), "%s/broker.pub", self->config.data_dir);
    if (pc_keys_write_text (path, zcert_public_txt (self->cert), 0644) == -1)
        zsys_warning ("broker: cannot write %s: %s", path, strerror (errno));

    self->router = s_curve_server (self, ZMQ_ROUTER, PC_OFF_BROKER);
    zsock_t *xpub = s_curve_server (self, ZMQ_XPUB, PC_OFF_FANOUT);
    if (xpub) {
        self->fanout = broker_fanout_new (&xpub, self->sessions, zcert_public_txt (monitor_cert));
        broker_fanout_set_verbose (self->fanout, self->verbose);
    }

    self->authsvc = s_authsvc_connect (self, zcert_public_txt (authsvc_cert));
    zcert_destroy (&authsvc_cert);
    zcert_destroy (&monitor_cert);
    if (!self->router || !self->fanout)
        return -1;
    return 0;
}

//  --------------------------------------------------------------------------
//  The monitor's heartbeat, on "$ev/"

static void
s_send_heartbeat (broker_t *self)
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
    broker_ctx_event (self, "heartbeat", count, list.data);
    //  Health, for the monitor's alerts: how long since an auth service
    //  answered (-1: never), whether Redis answers, and the broker's queues.
    char heard [24];
    snprintf (heard, sizeof (heard), "%" PRId64,
              self->auth_heard? pc_now_ms () - self->auth_heard: (int64_t) -1);
    broker_ctx_event (self, "health", "authsvc", heard);
    broker_ctx_event (self, "health", "redis", broker_store_available (self->store)? "up": "down");
    snprintf (heard, sizeof (heard), "%" PRId64,
              self->filesvc_heard? pc_now_ms () - self->filesvc_heard: (int64_t) -1);
    broker_ctx_event (self, "health", "filesvc", heard);
    zhashx_t *refusals = broker_limits_refusals (self->limits);
    for (const char *count = (const char *) zhashx_first (refusals); count;
         count = (const char *) zhashx_next (refusals))
        broker_ctx_event (self, "throttled", (const char *) zhashx_cursor (refusals), count);
    zhashx_destroy (&refusals);
    pc_msg_t *stats = pc_msg_new ("EVENT");
    pc_msg_set_topic (stats, PC_TOPIC_EVENT);
    pc_msg_add (stats, "stats");
    pc_msg_addf (stats, "%zu", zhashx_size (self->sessions));
    pc_msg_addf (stats, "%zu", zhashx_size (self->pending));
    pc_msg_addf (stats, "%zu", broker_store_flush (self->store));
    pc_msg_addf (stats, "%" PRIu64, self->malformed);
    pc_msg_addf (stats, "%" PRIu64, broker_fanout_refused (self->fanout));
    pc_msg_addf (stats, "%" PRId64, (pc_now_ms () - self->started) / 1000);
    pc_msg_addf (stats, "%" PRIu64, self->latency_count? self->latency_sum_us / self->latency_count: 0);
    pc_msg_addf (stats, "%" PRIu64, self->latency_max_us);
    self->latency_sum_us = self->latency_max_us = self->latency_count = 0;
    broker_fanout_send (self->fanout, stats);
    pc_msg_destroy (&stats);
    broker_metrics_send (self->fanout, &self->latency);
    broker_metrics_members (self->fanout, self->rooms, &self->members_cursor);
    //  Ask the auth services for a sign of life (answer: s_handle_auth_reply)
    pc_msg_t *ping = pc_msg_new ("PING");
    pc_msg_set_reqid (ping, "hb");
    pc_msg_send_nowait (ping, self->authsvc);
    pc_msg_destroy (&ping);
    pc_buf_free (&list);
    zlistx_destroy (&names);
    zhashx_destroy (&users);
}

static void
s_expire_sessions (broker_t *self, int64_t now)
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
        broker_ctx_logout (self, session);
        zhashx_delete (self->sessions, broker_session_key (session));
    }
    zlistx_destroy (&idle);
}

//  The file service has no session: it asks on its users' behalf, its own
//  commands and PING only.
static void
s_handle_filesvc (broker_t *self, pc_msg_t *request, const broker_route_t *route)
{
    self->filesvc_heard = pc_now_ms ();
    if (route && (route->who == PC_WHO_FILESVC || pc_msg_cmd (request) == PC_CMD_PING))
        route->handler (self, request, NULL);
    else
        broker_ctx_reply_error (self, request, PC_ERR_UNKNOWN, "not a command for the file service");
}

//  Whether the session may send the command of route; else it is told
//  why, in this order: not a broker command, a service's (the file
//  service's), not logged in, not an admin.
static bool
s_may_send (broker_t *self, pc_msg_t *request, broker_session_t *session,
            const broker_route_t *route)
{
    const char *reason = NULL;
    int code = PC_ERR_FORBIDDEN;
    if (!route) {
        code = PC_ERR_UNKNOWN;
        reason = "not a broker command";
    }
    else
    if (route->who == PC_WHO_FILESVC || route->who == PC_WHO_SERVICE)
        reason = "only the file service may ask this";
    else
    if (route->who != PC_WHO_ANYONE && !broker_session_user (session))
        reason = "log in first";
    else
    if (route->who == PC_WHO_ADMIN && !broker_ctx_is_admin (session))
        reason = "admins only";
    if (reason)
        broker_ctx_reply_error (self, request, code, reason);
    return reason == NULL;
}

//  ERROR 429 (or 503) with "retry-after=MS" as its detail
static void
s_reply_retry (broker_t *self, pc_msg_t *request, int code, const char *reason, int64_t wait_ms)
{
    pc_msg_t *reply = pc_msg_new_error (request, code, reason);
    pc_msg_addf (reply, "retry-after=%" PRId64, wait_ms);
    broker_ctx_send (self, reply);
}

//  Logged-in sessions, but pychat-admin's
static size_t
s_logged_in (broker_t *self)
{
    size_t count = 0;
    for (broker_session_t *session = (broker_session_t *) zhashx_first (self->sessions);
         session; session = (broker_session_t *) zhashx_next (self->sessions))
        if (broker_session_user (session) && !streq (broker_session_key (session), self->admin_key))
            count++;
    return count;
}

//  Flood control (broker_limits), slow mode and the cap on sessions: true
//  when the request may go on, else it was answered (429 or 503).
static bool
s_within_limits (broker_t *self, pc_msg_t *request, broker_session_t *session, pc_cmd_t command)
{
    const char *user = broker_session_user (session);
    const char *key = broker_session_key (session);
    if (self->admin_key && streq (key, self->admin_key))
        return true;            //  the server's own tool
    int64_t now = pc_now_ms ();
    const char *what = NULL;
    int64_t wait = broker_limits_check (self->limits, command, user, key, now, &what);
    if (wait > 0) {
        s_reply_retry (self, request, PC_ERR_THROTTLED, what, wait);
        return false;
    }
    if (command == PC_CMD_SEND && user && !broker_ctx_is_admin (session)) {
        broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, pc_send_room (request));
        int seconds = room? broker_room_slowmode (room): 0;
        const char *creator = room? broker_room_creator (room): NULL;
        if (seconds > 0 && !(creator && streq (creator, user))
        &&  broker_session_in_room (session, pc_send_room (request))
        &&  !broker_session_sent (session, pc_send_room (request), pc_send_cmid (request),
                                  NULL, NULL)
        &&  (wait = broker_limits_slow (self->limits, pc_send_room (request), user, seconds, now)) > 0) {
            char reason [64];
            snprintf (reason, sizeof (reason), "slow mode: one message every %d s", seconds);
            s_reply_retry (self, request, PC_ERR_THROTTLED, reason, wait);
            return false;
        }
    }
    if ((command == PC_CMD_LOGIN || command == PC_CMD_RESUME) && !user && self->config.max_sessions
    &&  s_logged_in (self) >= self->config.max_sessions) {
        s_reply_retry (self, request, PC_ERR_UNAVAILABLE, "server full", 5000);
        return false;
    }
    return true;
}

//  Reads the next request into request: the rest of a client's batch
//  first (several requests in one frame are taken one by one, as if they
//  had come in frames of their own). 0 | -1 nothing read | -2 malformed
//  (answered).
static int
s_read_request (broker_t *self, pc_msg_t *request)
{
    int rc;
    if (pc_msg_more (self->carry)) {
        pc_msg_move_batch (request, self->carry);
        rc = pc_msg_next (request);
    }
    else
        rc = pc_msg_recv_nowait (request, self->router);
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
        broker_ctx_event (self, "reject", code, pc_msg_error_text (request));
        if (pc_msg_routing_id (request))
            broker_ctx_reply_error (self, request, pc_msg_error (request), pc_msg_error_text (request));
    }
    return rc;
}

//  A new session for key. The server's admin key (pychat-admin, on the
//  server host) is an admin without a password: whoever holds it owns the
//  server anyway.
static broker_session_t *
s_session_new (broker_t *self, const char *key)
{
    broker_session_t *session = broker_session_new (key);
    zhashx_insert (self->sessions, key, session);
    if (self->admin_key && streq (key, self->admin_key))
        broker_session_login (session, ADMIN_TOOL, "admin");
    return session;
}

//  Reads one request into the next free batch slot and handles it: a SEND
//  joins the batch, anything else first flushes it (so each client's
//  requests keep their order). -1 when nothing could be read.
static int
s_handle_client (broker_t *self)
{
    broker_lot_t *lot = broker_ctx_lot (self);
    if (!lot->msgs [lot->size])
        lot->msgs [lot->size] = pc_msg_new (NULL);
    pc_msg_t *request = lot->msgs [lot->size];
    int rc = s_read_request (self, request);
    if (rc != 0)
        return rc == -1? -1: 0;
    const char *key = pc_msg_user_id (request);
    if (!key) {                 //  cannot happen with CURVE; refuse, don't assert
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN, "no CURVE identity");
        return 0;
    }
    pc_cmd_t command = pc_msg_cmd (request);
    const broker_route_t *route = broker_dispatch_route (command);
    broker_session_t *session = (broker_session_t *) zhashx_lookup (self->sessions, key);
    if (!session && streq (key, self->filesvc_key)) {
        //  Checked here, off the path of every session's SEND
        broker_chat_flush (self);
        s_handle_filesvc (self, request, route);
        return 0;
    }
    if (!session)
        session = s_session_new (self, key);
    broker_session_touch (session, pc_now_ms ());
    //  A SEND of a logged-in session joins the batch; anything else sees
    //  the SENDs before it stored and answered
    if (!(command == PC_CMD_SEND && broker_session_user (session)))
        broker_chat_flush (self);
    if (s_may_send (self, request, session, route) && s_within_limits (self, request, session, command))
        route->handler (self, request, session);
    return 0;
}

//  --------------------------------------------------------------------------

static void
s_handle_pipe (broker_t *self)
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
s_tick (broker_t *self)
{
    //  Sessions may go below: none is left in a lot
    broker_chat_flush (self);
    int64_t now = pc_now_ms ();
    broker_authlink_expire (self, now);
    broker_store_flush (self->store);
    if (self->cluster)
        broker_cluster_tick (self, now);
    s_expire_sessions (self, now);
    broker_search_tick (self);
    if (now >= self->next_heartbeat) {
        s_send_heartbeat (self);
        broker_moderation_audit_poll (self);
        broker_limits_prune (self->limits, now);
        self->next_heartbeat = now + HEARTBEAT_MS;
    }
#ifdef __GLIBC__
    //  Connections and sessions that went leave free blocks all over the
    //  heaps (libzmq's I/O thread has an arena of its own): handed back,
    //  the broker's memory returns to near where it was before a storm
    if (now >= self->next_trim) {
        malloc_trim (0);
        self->next_trim = now + TRIM_MS;
    }
#endif
}

void
broker_server_actor (zsock_t *pipe, void *config)
{
    broker_t *self = s_server_new (pipe, (pc_config_t *) config);
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
        //  One zmq_poll a turn names every ready socket (and the cluster's
        //  Redis subscription, a descriptor); each turn then serves each of
        //  them, a burst at most, so a ROUTER that never runs dry starves
        //  no other. Asking a socket's ZMQ_EVENTS costs a poll and a getpid
        //  system call, so nothing asks it per request: the ROUTER is read
        //  without waiting until it is dry.
        int cluster_fd = self->cluster? broker_cluster_fd (self->cluster): -1;
        //  Lots waiting for Redis's answer: poll its socket. (Someone
        //  else's command may have read their answers already.)
        int redis_fd = broker_chat_redis_fd (self);
        if (redis_fd < 0)
            broker_chat_answer (self);
        zmq_pollitem_t items [6] = {
            { zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (self->router), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (broker_fanout_socket (self->fanout)), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (self->authsvc), 0, ZMQ_POLLIN, 0 }
        };
        int nitems = 4, cluster_at = -1, redis_at = -1;
        if (cluster_fd >= 0)
            items [cluster_at = nitems++] = (zmq_pollitem_t) { NULL, cluster_fd, ZMQ_POLLIN, 0 };
        if (redis_fd >= 0)
            items [redis_at = nitems++] = (zmq_pollitem_t) { NULL, redis_fd, ZMQ_POLLIN, 0 };
        //  An actor ends on $TERM from its owner, not on a signal: EINTR
        //  (SIGTERM) goes round again to read that $TERM
        int ready = zmq_poll (items, nitems, (long) (wait > 0? wait: 0));
        if (ready == -1 && zmq_errno () == ETERM)
            break;
        //  revents stay 0 (as built) on a timeout or EINTR
        if (items [0].revents & ZMQ_POLLIN)
            s_handle_pipe (self);
        //  What the cluster and the auth services say may end sessions
        //  (a ban, a login elsewhere): none may be left in a lot
        if (cluster_at >= 0 && (items [cluster_at].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            broker_chat_flush (self);
            broker_cluster_handle (self);
        }
        //  Redis answered lots in flight: acknowledge them
        if (redis_at >= 0 && (items [redis_at].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
            broker_chat_answer (self);
        if ((items [1].revents & ZMQ_POLLIN) || pc_msg_more (self->carry)) {
            //  Drain what is waiting (up to a batch), then send the SENDs
            //  on their way; Redis's answer is read as it comes
            for (int count = 0; count < BROKER_BATCH_MAX; count++)
                if (s_handle_client (self) == -1)
                    break;
            broker_chat_post (self);
        }
        zsock_t *xpub = broker_fanout_socket (self->fanout);
        if (items [2].revents & ZMQ_POLLIN)
            for (int count = 0; count < BROKER_BATCH_MAX && (zsock_events (xpub) & ZMQ_POLLIN); count++)
                broker_fanout_handle_subscription (self->fanout);
        if (items [3].revents & ZMQ_POLLIN) {
            broker_chat_flush (self);
            for (int count = 0; count < BROKER_BATCH_MAX && (zsock_events (self->authsvc) & ZMQ_POLLIN); count++)
                broker_authlink_handle_reply (self);
        }
        if (pc_now_ms () >= next_tick) {
            s_tick (self);
            next_tick = pc_now_ms () + TICK_MS;
        }
    }
    broker_chat_flush (self);
    zsys_info ("broker: stopping (%" PRIu64 " malformed requests, %" PRIu64 " subscriptions refused, "
               "%" PRIu64 " SENDs stored in %" PRIu64 " batches, %" PRIu64 " numbered ahead)",
               self->malformed, broker_fanout_refused (self->fanout), self->flushed, self->flushes,
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

//  Sends a request and checks the answer: error code, or 0 for OK; and
//  when reason is set, the error's reason
static void
s_test_expect (zsock_t *dealer, const char *command, const char *a, const char *b,
               int code, const char *reason)
{
    pc_msg_t *reply = s_test_request (dealer, command, a, b);
    if (code == 0)
        assert (pc_msg_is (reply, "OK"));
    else
        assert (pc_msg_error_code (reply) == code);
    if (reason)
        assert (streq (pc_msg_error_reason (reply), reason));
    pc_msg_destroy (&reply);
}

//  A real broker on a private port range (config filled in), with no auth
//  service at all
static zactor_t *
s_test_broker (pc_config_t *config)
{
    zactor_t *broker = NULL;
    for (int attempt = 0; attempt < 20 && !broker; attempt++) {
        char port [16];
        snprintf (port, sizeof (port), "%d", 20000 + randof (30000));
        setenv ("PYCHAT_PORT", port, 1);
        assert (pc_config_load (config) == 0);
        config->authsvc [0] = 0;
        broker = zactor_new (broker_server_actor, config);
        char *status = zstr_recv (broker);
        if (!streq (status, "READY"))
            zactor_destroy (&broker);       //  port taken: try another
        zstr_free (&status);
    }
    assert (broker);
    return broker;
}

//  A client is answered, refused before login (whatever the command asks
//  for), and told 503 for LOGIN within the auth timeout instead of hanging
static void
s_test_anonymous (zsock_t *dealer)
{
    pc_msg_t *reply = s_test_request (dealer, "PING", NULL, NULL);
    assert (pc_msg_is (reply, "OK") && streq (pc_ping_ok_pong (reply), "PONG"));
    pc_msg_destroy (&reply);
    s_test_expect (dealer, "JOIN", "lobby", NULL, PC_ERR_FORBIDDEN, "log in first");
    s_test_expect (dealer, "SUBS", NULL, NULL, PC_ERR_FORBIDDEN, "log in first");
    s_test_expect (dealer, "USERS", NULL, NULL, PC_ERR_FORBIDDEN, "log in first");
    s_test_expect (dealer, "LOGIN", "alice", "secret", PC_ERR_UNAVAILABLE, NULL);
    s_test_expect (dealer, "LOGIN", "alice", NULL, PC_ERR_MALFORMED, NULL);
    s_test_expect (dealer, "MSG", NULL, NULL, PC_ERR_MALFORMED, NULL);     //  wrong field count
    s_test_expect (dealer, "STATS", NULL, NULL, PC_ERR_UNKNOWN, "not a broker command");
    s_test_expect (dealer, "LOGOUT", NULL, NULL, 0, NULL);
    //  Bad signature: still an answer, and the broker goes on
    zstr_sendx (dealer, "GET / HTTP/1.0", "x", "y", NULL);
    reply = pc_msg_new (NULL);
    assert (pc_msg_recv (reply, dealer) == 0);
    assert (pc_msg_error_code (reply) == PC_ERR_MALFORMED);
    pc_msg_destroy (&reply);
    s_test_expect (dealer, "PING", NULL, NULL, 0, NULL);
}

//  The file service's commands: from its key only; it may not chat
static void
s_test_filesvc (pc_config_t *config, const char *server_key, zsock_t *dealer,
                const char *client_key)
{
    const char *only = "only the file service may ask this";
    s_test_expect (dealer, "FCHECK", client_key, "lobby", PC_ERR_FORBIDDEN, only);
    s_test_expect (dealer, "FEVENT", "files", "0", PC_ERR_FORBIDDEN, only);
    s_test_expect (dealer, "FILES", NULL, NULL, PC_ERR_FORBIDDEN, "log in first");
    zcert_t *filesvc_cert = pc_keys_load (config->keys_dir, "filesvc");
    assert (filesvc_cert);
    zsock_t *filesvc = pc_keys_client (ZMQ_DEALER, filesvc_cert, server_key);
    zsock_set_rcvtimeo (filesvc, 5000);
    zsock_connect (filesvc, "tcp://127.0.0.1:%d", config->base_port);
    s_test_expect (filesvc, "FEVENT", "files", "0", 0, NULL);
    s_test_expect (filesvc, "PING", NULL, NULL, 0, NULL);
    //  not logged in
    s_test_expect (filesvc, "FCHECK", client_key, "lobby", PC_ERR_FORBIDDEN, NULL);
    s_test_expect (filesvc, "JOIN", "lobby", NULL, PC_ERR_UNKNOWN,
                   "not a command for the file service");
    zsock_destroy (&filesvc);
    zcert_destroy (&filesvc_cert);
}

//  pychat-admin's key is an admin without a password: past the checks of
//  who may ask, to the auth service (absent here: 503); MKADMIN is refused
static void
s_test_admin (pc_config_t *config, const char *server_key)
{
    zcert_t *admin_cert = pc_keys_load (config->keys_dir, "admin");
    assert (admin_cert);
    zsock_t *admin = pc_keys_client (ZMQ_DEALER, admin_cert, server_key);
    zsock_set_rcvtimeo (admin, 5000);
    zsock_connect (admin, "tcp://127.0.0.1:%d", config->base_port);
    s_test_expect (admin, "USERS", NULL, NULL, PC_ERR_UNAVAILABLE, NULL);
    s_test_expect (admin, "MKADMIN", "bob", "admin", PC_ERR_FORBIDDEN,
                   "use pychat-admin on the server host");
    s_test_expect (admin, "FEVENT", "files", "0", PC_ERR_FORBIDDEN, NULL);
    zsock_destroy (&admin);
    zcert_destroy (&admin_cert);
}

void
broker_server_test (bool verbose)
{
    printf (" * broker_server: ");
    char dir [] = "/tmp/broker_server_test.XXXXXX";
    assert (mkdtemp (dir));
    setenv ("PYCHAT_DATA", dir, 1);
    setenv ("PYCHAT_BIND", "127.0.0.1", 1);
    zactor_t *zap = pc_zap_new ();
    pc_zap_allow_any (zap, "clients");
    pc_config_t config;
    zactor_t *broker = s_test_broker (&config);
    char *server_key = pc_keys_public (config.keys_dir, "broker");
    assert (server_key);
    zcert_t *client_cert = zcert_new ();
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zcert_apply (client_cert, dealer);
    zsock_set_curve_serverkey (dealer, server_key);
    zsock_set_rcvtimeo (dealer, 5000);
    zsock_connect (dealer, "tcp://127.0.0.1:%d", config.base_port);
    s_test_anonymous (dealer);
    s_test_filesvc (&config, server_key, dealer, zcert_public_txt (client_cert));
    s_test_admin (&config, server_key);

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

//  mon_server.c: the monitor actor. One thread owns both sockets and the
//  statistics, so nothing here needs a lock.
#include "mon_server.h"
#include "mon_alerts.h"
#include "mon_json.h"
#include "mon_prom.h"
#include "mon_stats.h"
#include "pc_limits.h"
#include "pc_msg.h"
#include "pc_service.h"
#include "pc_util.h"
#include "pc_zap.h"

//  The broker sends a heartbeat event every 2 s: this much silence means it
//  is gone, or the monitor's key is not trusted to subscribe.
#define BROKER_SILENCE_MS   10000
//  Fan-out messages taken per poll round, so requests are never starved.
#define SUB_BATCH           256
//  Alerts, memory and the metrics text are refreshed this often.
#define TICK_MS             1000

typedef struct {
    zsock_t     *pipe;
    zsock_t     *sub;               //  broker's fan-out, subscribed to "r/" and "$ev/"
    zsock_t     *router;            //  console requests
    zpoller_t   *poller;
    mon_stats_t *stats;
    pc_msg_t    *msg;               //  reused for every received message
    char        *fanout;
    char        *endpoint;          //  the ROUTER's bound endpoint, "" if none
    char         failure [256];     //  why the sockets could not be set up, "" if they were
    int          summary_ms;
    int64_t      next_summary;
    int64_t      next_tick;
    mon_http_t  *http;              //  not owned; NULL: no metrics endpoint
    int64_t      started;
    bool         broker_silent;     //  the silence warning was logged
    bool         verbose;
    bool         terminated;
} server_t;

static int64_t
s_now (void)
{
    return zclock_mono ();
}

static void
s_server_destroy (server_t **self_p)
{
    if (*self_p) {
        server_t *self = *self_p;
        zpoller_destroy (&self->poller);
        zsock_destroy (&self->sub);
        zsock_destroy (&self->router);
        mon_stats_destroy (&self->stats);
        pc_msg_destroy (&self->msg);
        zstr_free (&self->fanout);
        zstr_free (&self->endpoint);
        free (self);
        *self_p = NULL;
    }
}

//  Sets up both sockets. On failure self->failure says why (the actor then
//  reports it, pc_service.h, and ends).
static server_t *
s_server_new (zsock_t *pipe, mon_server_args_t *args)
{
    server_t *self = (server_t *) zmalloc (sizeof (server_t));
    assert (self);
    self->pipe = pipe;
    self->verbose = args->verbose;
    self->started = s_now ();
    self->stats = mon_stats_new (self->started);
    self->msg = pc_msg_new (NULL);
    self->summary_ms = args->summary_ms > 0? args->summary_ms: 5000;
    self->next_summary = self->started + self->summary_ms;
    self->next_tick = self->started;
    self->http = args->http;
    mon_stats_set_thresholds (self->stats, args->alert_login_failures, args->alert_room_rate);
    mon_stats_set_top_rooms (self->stats, args->metrics_top_rooms);
    mon_stats_set_wall_offset (self->stats, pc_now_ms () - self->started);
    self->fanout = strdup (args->fanout);
    self->endpoint = strdup ("");
    self->poller = zpoller_new (pipe, NULL);
    //  An actor ends on $TERM from its owner, not on the signal flag:
    //  without nonstop, zpoller_wait returns at once after SIGTERM and the
    //  $TERM would never be read (the owner then waits forever).
    zpoller_set_nonstop (self->poller, true);
    assert (self->poller && self->fanout && self->endpoint);

    self->router = zsock_new (ZMQ_ROUTER);
    assert (self->router);
    zcert_apply (args->cert, self->router);
    pc_zap_secure (self->router, "console");
    zsock_set_maxmsgsize (self->router, PC_MSG_MAX);
    zsock_set_linger (self->router, 0);
    if (zsock_bind (self->router, "%s", args->bind) == -1) {
        snprintf (self->failure, sizeof (self->failure), "cannot bind %s: %s", args->bind,
                  zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->router);
        return self;
    }
    char *bound = zsock_last_endpoint (self->router);
    if (bound) {
        zstr_free (&self->endpoint);
        self->endpoint = bound;
    }

    self->sub = zsock_new (ZMQ_SUB);
    assert (self->sub);
    zcert_apply (args->cert, self->sub);
    zsock_set_curve_serverkey (self->sub, args->broker_key);
    zsock_set_maxmsgsize (self->sub, PC_MSG_MAX);
    //  The monitor hears everything: a deep queue, so a burst is not dropped.
    zsock_set_rcvhwm (self->sub, 100000);
    //  ZMTP heartbeats notice a vanished broker and make the SUB reconnect.
    zsock_set_heartbeat_ivl (self->sub, 3000);
    zsock_set_heartbeat_timeout (self->sub, 10000);
    zsock_set_linger (self->sub, 0);
    //  Room copies ("r/") and events ("$ev/"): not the per-session copies
    zsock_set_subscribe (self->sub, PC_TOPIC_ROOM);
    zsock_set_subscribe (self->sub, PC_TOPIC_EVENT);
    if (zsock_connect (self->sub, "%s", self->fanout) == -1) {
        snprintf (self->failure, sizeof (self->failure), "cannot connect to %s: %s",
                  self->fanout, zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->sub);
        zsock_destroy (&self->router);
        zstr_free (&self->endpoint);
        self->endpoint = strdup ("");
        return self;
    }
    zpoller_add (self->poller, self->sub);
    zpoller_add (self->poller, self->router);
    zsys_info ("monitor: listening on %s, subscribed to %s", self->endpoint, self->fanout);
    return self;
}

//  The text /metrics serves, as of now.
static void
s_publish_metrics (server_t *self, int64_t now)
{
    if (self->http) {
        pc_buf_t buf;
        pc_buf_init (&buf);
        mon_prom_metrics (self->stats, &buf, now);
        mon_http_publish (self->http, buf.data, buf.size);
        pc_buf_free (&buf);
    }
}

//  Once a second: the process figures, alerts, and the text /metrics serves.
static void
s_tick (server_t *self, int64_t now)
{
    pc_proc_t proc;
    pc_proc_self (&proc);
    mon_stats_set_process (self->stats, &proc);
    mon_alerts_tick (self->stats, now);
    s_publish_metrics (self, now);
}

static char *
s_stats_json (server_t *self)
{
    pc_buf_t buf;
    pc_buf_init (&buf);
    int64_t now = s_now ();
    mon_alerts_tick (self->stats, now);          //  alerts as of now
    mon_json_stats (self->stats, &buf, now);
    s_publish_metrics (self, now);  //  so /metrics never lags what STATS said
    return buf.data;                //  the caller frees it
}

static void
s_handle_pipe (server_t *self)
{
    zmsg_t *request = zmsg_recv (self->pipe);
    if (!request) {
        self->terminated = true;    //  interrupted
        return;
    }
    char *command = zmsg_popstr (request);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "ENDPOINT"))
        zstr_send (self->pipe, self->endpoint);
    else
    if (streq (command, "STATS")) {
        char *json = s_stats_json (self);
        zstr_send (self->pipe, json);
        free (json);
    }
    else
        zsys_error ("monitor: invalid pipe command '%s'", command);
    zstr_free (&command);
    zmsg_destroy (&request);
}

//  Warns when the malformed count reaches 1, 10, 100...; the rest go to
//  debug, so a misbehaving peer cannot flood the log.
static bool
s_worth_a_warning (uint64_t count)
{
    while (count >= 10 && count % 10 == 0)
        count /= 10;
    return count == 1;
}

static void
s_handle_sub (server_t *self)
{
    bool more = false;                  //  a batch (several messages in a frame)
    for (int round = 0; round < SUB_BATCH || more; round++) {
        int rc = more? pc_msg_next (self->msg): pc_msg_recv (self->msg, self->sub);
        if (rc == -1)
            return;
        more = pc_msg_more (self->msg);
        int64_t now = s_now ();
        if (rc == 0)
            rc = mon_stats_handle (self->stats, self->msg, now);
        else
            mon_stats_broker_malformed (self->stats, now);
        if (rc == -2) {
            uint64_t count = mon_stats_malformed_total (self->stats);
            const char *why = pc_msg_error (self->msg)? pc_msg_error_text (self->msg):
                              "does not fit its topic";
            if (s_worth_a_warning (count))
                zsys_warning ("monitor: malformed fan-out message (%s), %" PRIu64 " so far",
                              why, count);
            else
            if (self->verbose)
                zsys_debug ("monitor: malformed fan-out message (%s)", why);
        }
        else
        if (!self->verbose)
            ;
        else
        if (pc_msg_cmd (self->msg) == PC_CMD_MSG)
            //  Never the text: only who wrote where.
            zsys_debug ("monitor: MSG %s in %s from %s", pc_message_id (self->msg),
                        pc_message_room (self->msg), pc_message_from (self->msg));
        else
            zsys_debug ("monitor: EVENT %s", pc_event_kind (self->msg));
        if (!more && !(zsock_events (self->sub) & ZMQ_POLLIN))
            return;
    }
}

static void
s_reply (server_t *self, pc_msg_t *reply)
{
    //  A ROUTER drops what it cannot deliver; this never blocks.
    if (pc_msg_send (reply, self->router) == -1 && self->verbose)
        zsys_debug ("monitor: reply not sent: %s", zmq_strerror (zmq_errno ()));
}

//  The answer to a request that did not decode, or NULL to drop it.
static pc_msg_t *
s_malformed (server_t *self, pc_msg_t *request)
{
    mon_stats_malformed (self->stats);
    if (self->verbose)
        zsys_debug ("monitor: malformed request from %s: %s",
                    pc_msg_peer_address (request)? pc_msg_peer_address (request): "?",
                    pc_msg_error_text (request));
    //  A command that is not ours is 405 whatever its fields; an
    //  unreadable signature or frame count (no request id) is dropped.
    const char *command = pc_msg_command (request);
    pc_cmd_t known = pc_cmd_lookup (command);
    if (!pc_msg_routing_id (request))
        return NULL;
    if (*command && known != PC_CMD_PING && known != PC_CMD_STATS)
        return pc_msg_new_error (request, PC_ERR_UNKNOWN, "unknown command");
    if (pc_msg_error (request) == PC_ERR_MALFORMED && *pc_msg_reqid (request) == 0)
        return NULL;
    return pc_msg_new_error (request, pc_msg_error (request), pc_msg_error_text (request));
}

static pc_msg_t *
s_stats (server_t *self, pc_msg_t *request)
{
    char *json = s_stats_json (self);
    pc_msg_t *reply;
    if (strlen (json) > PC_FIELD_MAX) {
        zsys_warning ("monitor: STATS is %zu bytes, over the field limit", strlen (json));
        reply = pc_msg_new_error (request, PC_ERR_INTERNAL, "statistics too large to send");
    }
    else
        reply = pc_stats_ok (request, json);
    free (json);
    return reply;
}

static void
s_handle_one (server_t *self, int rc)
{
    pc_msg_t *request = self->msg;
    if (rc == -1)
        return;
    pc_msg_t *reply;
    if (rc == -2)
        reply = s_malformed (self, request);
    else
    if (pc_msg_cmd (request) == PC_CMD_PING)
        reply = pc_ping_ok (request, "PONG");
    else
    if (pc_msg_cmd (request) == PC_CMD_STATS)
        reply = s_stats (self, request);
    else
        reply = pc_msg_new_error (request, PC_ERR_UNKNOWN, "unknown command");
    if (reply) {
        s_reply (self, reply);
        pc_msg_destroy (&reply);
    }
}

//  Reads one frame of requests and answers each (a frame may hold a batch).
static void
s_handle_router (server_t *self)
{
    s_handle_one (self, pc_msg_recv (self->msg, self->router));
    while (pc_msg_more (self->msg))
        s_handle_one (self, pc_msg_next (self->msg));
}

static void
s_summary (server_t *self, int64_t now)
{
    pc_buf_t buf;
    pc_buf_init (&buf);
    mon_stats_summary (self->stats, &buf);
    zsys_info ("monitor: %s", buf.data);
    pc_buf_free (&buf);

    int64_t silence = mon_stats_broker_silence (self->stats, now);
    bool silent = silence == -1? now - self->started >= BROKER_SILENCE_MS:
                                 silence >= BROKER_SILENCE_MS;
    if (silent && !self->broker_silent)
        zsys_warning ("monitor: nothing heard from the broker at %s for %d s "
                      "(is it running, does it trust the monitor's key?)",
                      self->fanout, BROKER_SILENCE_MS / 1000);
    else
    if (!silent && self->broker_silent)
        zsys_info ("monitor: hearing the broker again");
    self->broker_silent = silent;
}

void
mon_server_actor (zsock_t *pipe, void *args)
{
    server_t *self = s_server_new (pipe, (mon_server_args_t *) args);
    zsock_signal (pipe, 0);
    if (*self->failure) {
        pc_service_failed (pipe, "%s", self->failure);
        s_server_destroy (&self);
        return;
    }
    pc_service_ready (pipe);
    while (!self->terminated) {
        int64_t now = s_now ();
        if (now >= self->next_summary) {
            if (self->sub)
                s_summary (self, now);
            self->next_summary = now + self->summary_ms;
        }
        if (now >= self->next_tick) {
            if (self->sub)
                s_tick (self, now);
            self->next_tick = now + TICK_MS;
        }
        int64_t next = self->next_tick < self->next_summary? self->next_tick: self->next_summary;
        void *which = zpoller_wait (self->poller, (int) (next - now));
        if (which == pipe)
            s_handle_pipe (self);
        else
        if (!which && zpoller_terminated (self->poller) && zmq_errno () == ETERM)
            break;                  //  the context is gone
        //  zpoller_wait names only the first ready socket: serve each ready
        //  one every turn, so a busy fan-out feed cannot starve STATS.
        if (self->sub && (which == self->sub || (zsock_events (self->sub) & ZMQ_POLLIN)))
            s_handle_sub (self);
        if (self->router && (which == self->router || (zsock_events (self->router) & ZMQ_POLLIN)))
            s_handle_router (self);
        //  Otherwise a timeout or a signal: main decides, and sends $TERM.
    }
    s_server_destroy (&self);
}

char *
mon_server_endpoint (zactor_t *self)
{
    assert (self);
    zstr_send (self, "ENDPOINT");
    return zstr_recv (self);
}

char *
mon_server_stats (zactor_t *self)
{
    assert (self);
    zstr_send (self, "STATS");
    return zstr_recv (self);
}

//  --------------------------------------------------------------------------
//  Selftest

static void
s_publish (zsock_t *pub, const char *topic, const char *command, const char *f1,
           const char *f2, const char *f3, const char *f4, const char *f5)
{
    pc_msg_t *msg = pc_msg_new (command);
    pc_msg_set_topic (msg, topic);
    const char *fields [] = { f1, f2, f3, f4, f5 };
    for (int i = 0; i < 5 && fields [i]; i++)
        pc_msg_add (msg, fields [i]);
    assert (pc_msg_send (msg, pub) == 0);
    pc_msg_destroy (&msg);
}

//  Polls the actor's STATS until it holds needle, for up to 5 s.
static bool
s_wait_stats (zactor_t *server, const char *needle, zsock_t *pub)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        char *json = mon_server_stats (server);
        bool found = json && strstr (json, needle);
        zstr_free (&json);
        if (found)
            return true;
        if (pub)                    //  slow joiner: say it again
            s_publish (pub, "$ev/", "EVENT", "login", "alice", NULL, NULL, NULL);
        zclock_sleep (50);
    }
    return false;
}

static pc_msg_t *
s_request (zsock_t *dealer, const char *command, const char *reqid)
{
    pc_msg_t *msg = pc_msg_new (command);
    pc_msg_set_reqid (msg, reqid);
    assert (pc_msg_send (msg, dealer) == 0);
    assert (pc_msg_recv (msg, dealer) == 0);
    assert (streq (pc_msg_reqid (msg), reqid));
    return msg;
}

void
mon_server_test (bool verbose)
{
    printf (" * mon_server: ");
    zactor_t *zap = pc_zap_new ();
    pc_zap_allow_any (zap, "console");
    pc_zap_allow_any (zap, "clients");

    //  A stand-in broker: a CURVE PUB on an ephemeral port
    zcert_t *broker_cert = zcert_new ();
    zcert_t *monitor_cert = zcert_new ();
    zsock_t *pub = zsock_new (ZMQ_PUB);
    zcert_apply (broker_cert, pub);
    pc_zap_secure (pub, "clients");
    int port = zsock_bind (pub, "tcp://127.0.0.1:*");
    assert (port > 0);
    char fanout [64];
    snprintf (fanout, sizeof (fanout), "tcp://127.0.0.1:%d", port);

    mon_http_t *http = mon_http_new ("127.0.0.1", 0);
    assert (http);
    mon_server_args_t args = { monitor_cert, zcert_public_txt (broker_cert), fanout,
                               "tcp://127.0.0.1:*", 200, verbose, http, 0, 0, 0 };
    pc_service_t service = { .name = "mon_server_test", .help = NULL };
    zactor_t *server = pc_service_start (&service, mon_server_actor, &args, NULL);
    assert (server);
    char *endpoint = mon_server_endpoint (server);
    assert (endpoint && strneq (endpoint, ""));

    zcert_t *console_cert = zcert_new ();
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zcert_apply (console_cert, dealer);
    zsock_set_curve_serverkey (dealer, zcert_public_txt (monitor_cert));
    zsock_set_rcvtimeo (dealer, 3000);
    assert (zsock_connect (dealer, "%s", endpoint) == 0);

    pc_msg_t *reply = s_request (dealer, "PING", "p1");
    assert (pc_msg_is (reply, "OK") && streq (pc_ping_ok_pong (reply), "PONG"));
    pc_msg_destroy (&reply);

    //  Events and messages through the real sockets
    assert (s_wait_stats (server, "\"online\":[\"alice\"]", pub));
    s_publish (pub, "$ev/", "EVENT", "join", "alice", "lobby", NULL, NULL);
    s_publish (pub, "r/lobby/", "MSG", "1", "lobby", "alice", "1700000000000", "hello");
    s_publish (pub, "r/lobby/", "MSG", "2", "lobby", "alice", "1700000000001", "again");
    s_publish (pub, "r/lobby/", "MSG", "3", "dev", "alice", "1700000000001", "wrong topic");
    zsock_send (pub, "ss", "r/lobby/", "garbage");
    assert (s_wait_stats (server, "\"messages_total\":2,", NULL));

    reply = s_request (dealer, "STATS", "s1");
    assert (pc_msg_is (reply, "OK") && pc_msg_nfields (reply) == 1);
    const char *json = pc_stats_ok_json (reply);
    if (verbose)
        printf ("\n   %s\n   ", json);
    assert (strstr (json, "\"rooms\":{\"lobby\":{\"messages\":2,\"members\":1,"));
    assert (strstr (json, "\"users_online\":1,"));
    assert (strstr (json, "\"malformed_total\":2,"));
    assert (!strstr (json, "broker_last_heard_ms\":-1"));
    pc_msg_destroy (&reply);

    //  Unknown and malformed requests
    reply = s_request (dealer, "SEND", "u1");           //  a broker command, not ours
    assert (pc_msg_error_code (reply) == PC_ERR_UNKNOWN);
    pc_msg_destroy (&reply);
    zsock_send (dealer, "sss", PC_SIGNATURE, "FLY", "u2");
    reply = pc_msg_new (NULL);
    assert (pc_msg_recv (reply, dealer) == 0);
    assert (pc_msg_error_code (reply) == PC_ERR_UNKNOWN && streq (pc_msg_reqid (reply), "u2"));
    zsock_send (dealer, "ssss", PC_SIGNATURE, "PING", "u3", "surplus");
    assert (pc_msg_recv (reply, dealer) == 0);
    assert (pc_msg_error_code (reply) == PC_ERR_MALFORMED && streq (pc_msg_reqid (reply), "u3"));
    zsock_send (dealer, "s", "garbage");                //  dropped, no reply
    pc_msg_destroy (&reply);
    reply = s_request (dealer, "PING", "p2");           //  still alive, in order
    assert (pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    assert (s_wait_stats (server, "\"malformed_total\":6,", NULL));

    zsock_destroy (&dealer);
    zactor_destroy (&server);
    zstr_free (&endpoint);
    mon_http_destroy (&http);

    //  A bind that fails: the actor says why and ends
    mon_server_args_t bad = { monitor_cert, zcert_public_txt (broker_cert), fanout,
                              "tcp://256.0.0.1:1", 200, false, NULL, 0, 0, 0 };
    char *reason = NULL;
    server = pc_service_start (&service, mon_server_actor, &bad, &reason);
    assert (!server && reason && strstr (reason, "cannot bind tcp://256.0.0.1:1"));
    zstr_free (&reason);

    zsock_destroy (&pub);
    zcert_destroy (&console_cert);
    zcert_destroy (&monitor_cert);
    zcert_destroy (&broker_cert);
    pc_zap_destroy (&zap);
    printf ("OK\n");
}

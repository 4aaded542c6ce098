//  files_server.c: the file service's actor: its request loop, the FCHECKs
//  to the broker and its timers. Uploads are files_upload's, downloads
//  files_download's, the shared state and replies files_core's.
#include "files_server.h"
#include "files_core.h"
#include "files_download.h"
#include "files_testkit.h"
#include "files_upload.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_service.h"
#include "pc_util.h"
#include "pc_zap.h"

#include <inttypes.h>

#define TICK_MS             250
#define BURST_MAX           64          //  requests read in a row before the timers
#define CHECKS_MAX          4096        //  FCHECKs waiting for the broker, all keys
#define SWEEP_FIRST_MS      5000
#define SWEEP_MS            (10 * 60 * 1000)

//  A client request waiting for the broker's FCHECK answer.
typedef struct {
    pc_msg_t *request;
    int64_t   deadline;
} check_t;

static void
s_check_destroy (check_t **self_p)
{
    if (*self_p) {
        pc_msg_destroy (&(*self_p)->request);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_server_destroy (files_core_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        files_core_t *self = *self_p;
        zpoller_destroy (&self->poller);
        zsock_destroy (&self->router);
        zsock_destroy (&self->broker);
        zhashx_destroy (&self->checks);
        zhashx_destroy (&self->uploads);
        zhashx_destroy (&self->handles);
        zhashx_destroy (&self->outbox);
        files_store_destroy (&self->store);
        files_disk_destroy (&self->disk);
        pc_msg_destroy (&self->request);
        pc_msg_destroy (&self->answer);
        free (self->buffer);
        free (self);
        *self_p = NULL;
    }
}

//  Creates the server: folders, sockets; NULL with failure saying why
//  when it cannot.
static files_core_t *
s_server_new (zsock_t *pipe, files_server_args_t *args, char *failure, size_t size)
{
    files_core_t *self = (files_core_t *) zmalloc (sizeof (files_core_t));
    assert (self);
    self->pipe = pipe;
    self->config = *args->config;
    self->verbose = args->verbose;
    self->checks = zhashx_new ();
    zhashx_set_destructor (self->checks, (czmq_destructor *) s_check_destroy);
    self->uploads = zhashx_new ();
    zhashx_set_destructor (self->uploads, (czmq_destructor *) files_upload_destroy);
    self->handles = zhashx_new ();
    zhashx_set_destructor (self->handles, (czmq_destructor *) files_download_destroy);
    self->outbox = zhashx_new ();
    zhashx_set_destructor (self->outbox, (czmq_destructor *) files_core_outgoing_destroy);
    self->request = pc_msg_new (NULL);
    self->answer = pc_msg_new (NULL);
    self->buffer = (char *) malloc (PC_CHUNK_MAX);
    assert (self->buffer);
    self->next_event = pc_now_ms () + FILES_EVENT_MS;
    self->next_sweep = pc_now_ms () + SWEEP_FIRST_MS;
    self->store = files_store_new (self->config.redis_host, self->config.redis_port);
    self->disk = files_disk_new (self->config.files_dir);
    if (!self->disk) {
        snprintf (failure, size, "cannot create %s: %s", self->config.files_dir, strerror (errno));
        args->port = -1;
        s_server_destroy (&self);
        return NULL;
    }
    self->router = zsock_new (ZMQ_ROUTER);
    assert (self->router);
    zcert_apply (args->cert, self->router);
    pc_zap_secure (self->router, "clients");
    zsock_set_backlog (self->router, pc_zap_backlog ());
    zsock_set_maxmsgsize (self->router, PC_MSG_MAX);
    zsock_set_linger (self->router, 0);
    args->port = zsock_bind (self->router, "%s", args->endpoint);
    if (args->port == -1) {
        snprintf (failure, size, "cannot bind %s: %s", args->endpoint, zmq_strerror (zmq_errno ()));
        s_server_destroy (&self);
        return NULL;
    }
    pc_zap_gate (self->router);         //  a storm of uploads waits, no accept spin
    //  ZMQ_IMMEDIATE: an FCHECK is never queued for a broker that is not
    //  connected; the client hears 503 at once instead of after the timeout.
    self->broker = pc_keys_client (ZMQ_DEALER, args->cert, args->broker_key);
    zsock_set_immediate (self->broker, 1);
    zsock_set_reconnect_ivl (self->broker, 200);
    zsock_set_reconnect_ivl_max (self->broker, 2000);
    if (zsock_connect (self->broker, "%s", args->broker) == -1) {
        snprintf (failure, size, "bad broker endpoint '%s'", args->broker);
        args->port = -1;
        s_server_destroy (&self);
        return NULL;
    }
    self->poller = zpoller_new (self->pipe, self->router, self->broker, NULL);
    assert (self->poller);
    //  An actor ends on $TERM from its owner, not on the signal flag:
    //  without nonstop, zpoller_wait returns at once after SIGTERM and the
    //  $TERM would never be read (the owner then waits forever).
    zpoller_set_nonstop (self->poller, true);
    return self;
}

//  --------------------------------------------------------------------------
//  The broker: FCHECK out, answers in

static void
s_ping (files_core_t *self, pc_msg_t *request)
{
    pc_msg_t *reply = pc_ping_ok (request, "PONG");
    files_core_send (self, &reply);
}

//  What each command does. A request that names a space is FCHECKed with
//  the broker first (after what needs no broker: precheck), then checked
//  runs with the user, role and space the broker answered; the others
//  (PING, and those naming an upload or handle) are answered at once.
typedef void (s_direct_fn) (files_core_t *self, pc_msg_t *request);
typedef void (s_checked_fn) (files_core_t *self, pc_msg_t *request, const char *user,
                             const char *role, const char *space);
typedef struct {
    s_direct_fn  *direct;
    const char *(*space) (pc_msg_t *request);
    int         (*precheck) (files_core_t *self, pc_msg_t *request);
    s_checked_fn *checked;
} route_t;

static const route_t s_routes [PC_CMD_COUNT] = {
    [PC_CMD_PING]  = { s_ping, NULL, NULL, NULL },
    [PC_CMD_FDATA] = { files_upload_fdata, NULL, NULL, NULL },
    [PC_CMD_FDONE] = { files_upload_fdone, NULL, NULL, NULL },
    [PC_CMD_FREAD] = { files_download_fread, NULL, NULL, NULL },
    [PC_CMD_FLIST] = { NULL, pc_flist_space, NULL, files_download_flist },
    [PC_CMD_FPUT]  = { NULL, pc_fput_space, files_upload_precheck, files_upload_fput },
    [PC_CMD_FOPEN] = { NULL, pc_fopen_space, NULL, files_download_fopen },
    [PC_CMD_FRM]   = { NULL, pc_frm_space, NULL, files_download_frm },
};

//  A request that names a space waits for the broker's FCHECK answer.
static void
s_check (files_core_t *self, pc_msg_t *request, const route_t *route)
{
    if (route->precheck && route->precheck (self, request) == -1)
        return;
    if (zhashx_size (self->checks) >= CHECKS_MAX) {
        files_core_error (self, request, PC_ERR_UNAVAILABLE, "the file service is busy, try again", NULL);
        return;
    }
    char reqid [32];
    snprintf (reqid, sizeof (reqid), "k%" PRIu64, ++self->next_check);
    pc_msg_t *ask = pc_fcheck_new (pc_msg_user_id (request), route->space (request));
    pc_msg_set_reqid (ask, reqid);
    int rc = pc_msg_send_nowait (ask, self->broker);
    pc_msg_destroy (&ask);
    if (rc == -1) {
        if (!self->broker_lost)
            zsys_warning ("filesvc: the broker is not connected: answering 503");
        self->broker_lost = true;
        files_core_error (self, request, PC_ERR_UNAVAILABLE,
                 "the file service cannot reach the broker to check your session, try again",
                 NULL);
        return;
    }
    check_t *check = (check_t *) zmalloc (sizeof (check_t));
    assert (check);
    check->request = pc_msg_dup (request);
    check->deadline = pc_now_ms () + FILES_CHECK_MS;
    zhashx_insert (self->checks, reqid, check);
}

//  The broker said who the key is and which space it may use.
static void
s_checked (files_core_t *self, pc_msg_t *request, pc_msg_t *answer)
{
    if (pc_msg_cmd (answer) != PC_CMD_OK) {
        int code = pc_msg_error_code (answer);
        if (code < 400 || code > 599)
            code = PC_ERR_UNAVAILABLE;
        files_core_error (self, request, code, pc_msg_error_reason (answer), NULL);
        return;
    }
    const char *user = pc_fcheck_ok_user (answer);
    const char *role = pc_fcheck_ok_role (answer);
    const char *space = pc_fcheck_ok_space (answer);
    if (pc_msg_nfields (answer) != 3 || !pc_name_valid (user) || !space
    ||  strlen (space) > PC_ID_MAX
    ||  (strncmp (space, "room/", 5) != 0 && strncmp (space, "dm/", 3) != 0)) {
        zsys_warning ("filesvc: unexpected FCHECK answer from the broker");
        files_core_error (self, request, PC_ERR_INTERNAL, "unexpected answer from the broker", NULL);
        return;
    }
    files_core_debug (self, "filesvc: %s %s in %s", user, pc_msg_command (request), space);
    s_routes [pc_msg_cmd (request)].checked (self, request, user, role, space);
}

static void
s_handle_broker (files_core_t *self)
{
    pc_msg_t *answer = self->answer;
    if (pc_msg_recv (answer, self->broker) != 0) {
        zsys_warning ("filesvc: malformed message from the broker: %s", pc_msg_error_text (answer));
        return;
    }
    if (self->broker_lost)
        zsys_info ("filesvc: the broker answers again");
    self->broker_lost = false;
    const char *reqid = pc_msg_reqid (answer);
    check_t *check = (check_t *) zhashx_lookup (self->checks, reqid);
    if (check) {
        s_checked (self, check->request, answer);
        zhashx_delete (self->checks, reqid);
        return;
    }
    files_outgoing_t *outgoing = (files_outgoing_t *) zhashx_lookup (self->outbox, reqid);
    if (outgoing && pc_msg_cmd (answer) == PC_CMD_OK)
        zhashx_delete (self->outbox, reqid);
    else
    if (outgoing)
        zsys_warning ("filesvc: the broker refused %s (%d %s): will try again", reqid,
                      pc_msg_error_code (answer), pc_msg_error_reason (answer));
    //  else: a late FCHECK answer (the client had its 503) or an event's OK
}

//  --------------------------------------------------------------------------
//  Client requests

//  Answers the request just read (rc from pc_msg_recv/next), or asks the
//  broker first. -1 when nothing could be read.
static int
s_handle_one (files_core_t *self, int rc)
{
    pc_msg_t *request = self->request;
    if (rc == -1)
        return -1;
    const char *key = pc_msg_user_id (request);
    if (rc == -2) {
        self->malformed++;
        zsys_warning ("filesvc: malformed request from %s: %s", key? key: "?",
                      pc_msg_error_text (request));
        if (pc_msg_routing_id (request))
            files_core_error (self, request, pc_msg_error (request), pc_msg_error_text (request), NULL);
        return 0;
    }
    if (!key) {                 //  cannot happen with CURVE; refuse, don't assert
        files_core_error (self, request, PC_ERR_FORBIDDEN, "no CURVE identity", NULL);
        return 0;
    }
    pc_cmd_t command = pc_msg_cmd (request);
    const route_t *route = command > PC_CMD_UNKNOWN && command < PC_CMD_COUNT?
                           &s_routes [command]: NULL;
    if (route && route->direct)
        route->direct (self, request);
    else
    if (route && route->checked)
        s_check (self, request, route);
    else {
        self->malformed++;
        files_core_error (self, request, PC_ERR_UNKNOWN, "not a file service command", NULL);
    }
    return 0;
}

//  Reads one frame of requests and answers each (a frame may hold a
//  batch). -1 when nothing could be read.
static int
s_handle_request (files_core_t *self)
{
    int rc = s_handle_one (self, pc_msg_recv (self->request, self->router));
    while (rc == 0 && pc_msg_more (self->request))
        rc = s_handle_one (self, pc_msg_next (self->request));
    return rc;
}

//  --------------------------------------------------------------------------
//  Timers

static void
s_expire (files_core_t *self, int64_t now)
{
    zlistx_t *doomed = zlistx_new ();
    zlistx_set_destructor (doomed, (czmq_destructor *) zstr_free);
    for (check_t *check = (check_t *) zhashx_first (self->checks); check;
         check = (check_t *) zhashx_next (self->checks))
        if (now >= check->deadline) {
            files_core_error (self, check->request, PC_ERR_UNAVAILABLE,
                     "the broker is not answering: cannot check your session, try again", NULL);
            zlistx_add_end (doomed, strdup ((const char *) zhashx_cursor (self->checks)));
        }
    if (zlistx_size (doomed))
        zsys_warning ("filesvc: %zu request(s) got no FCHECK answer from the broker",
                      zlistx_size (doomed));
    for (char *id = (char *) zlistx_first (doomed); id; id = (char *) zlistx_next (doomed))
        zhashx_delete (self->checks, id);
    zlistx_purge (doomed);

    for (files_handle_t *handle = (files_handle_t *) zhashx_first (self->handles); handle;
         handle = (files_handle_t *) zhashx_next (self->handles))
        if (now - handle->last_used >= FILES_HANDLE_IDLE_MS)
            zlistx_add_end (doomed, strdup (handle->id));
    for (char *id = (char *) zlistx_first (doomed); id; id = (char *) zlistx_next (doomed))
        zhashx_delete (self->handles, id);
    zlistx_purge (doomed);

    //  An idle upload stays in Redis (and on disk): FPUT resumes it
    for (files_upload_t *upload = (files_upload_t *) zhashx_first (self->uploads); upload;
         upload = (files_upload_t *) zhashx_next (self->uploads))
        if (now - upload->last_used >= FILES_UPLOAD_IDLE_MS)
            zlistx_add_end (doomed, strdup (upload->entry->id));
    for (char *id = (char *) zlistx_first (doomed); id; id = (char *) zlistx_next (doomed))
        zhashx_delete (self->uploads, id);
    zlistx_destroy (&doomed);
}

static void
s_resend_events (files_core_t *self, int64_t now)
{
    zlistx_t *expired = zlistx_new ();
    zlistx_set_destructor (expired, (czmq_destructor *) zstr_free);
    for (files_outgoing_t *outgoing = (files_outgoing_t *) zhashx_first (self->outbox); outgoing;
         outgoing = (files_outgoing_t *) zhashx_next (self->outbox)) {
        if (now >= outgoing->give_up)
            zlistx_add_end (expired, strdup ((const char *) zhashx_cursor (self->outbox)));
        else
        if (now >= outgoing->next_try) {
            pc_msg_send_nowait (outgoing->event, self->broker);
            outgoing->next_try = now + OUTBOX_RETRY_MS;
        }
    }
    if (zlistx_size (expired))
        zsys_warning ("filesvc: the broker never acknowledged %zu file-up event(s)",
                      zlistx_size (expired));
    for (char *id = (char *) zlistx_first (expired); id; id = (char *) zlistx_next (expired))
        zhashx_delete (self->outbox, id);
    zlistx_destroy (&expired);
}

static void
s_tick (files_core_t *self)
{
    int64_t now = pc_now_ms ();
    s_expire (self, now);
    if (now >= self->next_event) {
        size_t downloading = files_download_active (self);
        char counts [6][24];
        snprintf (counts [0], 24, "%zu", zhashx_size (self->uploads));
        snprintf (counts [1], 24, "%zu", downloading);
        snprintf (counts [2], 24, "%" PRIu64, self->uploads_total);
        snprintf (counts [3], 24, "%" PRIu64, self->downloads_total);
        snprintf (counts [4], 24, "%" PRIu64, self->bytes_in);
        snprintf (counts [5], 24, "%" PRIu64, self->bytes_out);
        files_core_event (self, "files", counts [0], counts [1], counts [2], counts [3], counts [4],
                 counts [5], NULL);
        s_resend_events (self, now);
        self->next_event = now + FILES_EVENT_MS;
    }
    if (now >= self->next_sweep) {
        files_upload_sweep (self, now);
        self->next_sweep = now + SWEEP_MS;
    }
}

static void
s_handle_pipe (files_core_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "VERBOSE"))
        self->verbose = true;
    else
    if (streq (command, "SWEEP")) {         //  now, not in 10 minutes (tests)
        files_upload_sweep (self, pc_now_ms ());
        zstr_send (self->pipe, "SWEPT");
    }
    zstr_free (&command);
}

void
files_server_actor (zsock_t *pipe, void *args)
{
    assert (args);
    char failure [512];
    files_core_t *self = s_server_new (pipe, (files_server_args_t *) args, failure,
                                       sizeof (failure));
    zsock_signal (pipe, 0);
    if (!self) {
        pc_service_failed (pipe, "%s", failure);
        return;
    }
    pc_service_ready (pipe);
    int64_t next_tick = pc_now_ms () + TICK_MS;
    while (!self->terminated) {
        int64_t wait = next_tick - pc_now_ms ();
        void *which = zpoller_wait (self->poller, (int) (wait > 0? wait: 0));
        if (which == self->pipe)
            s_handle_pipe (self);
        //  zpoller_wait names only the first ready socket: serve both that
        //  are ready each turn, so that clients streaming chunks cannot
        //  starve the broker's FCHECK answers (or the other way round).
        //  One request per turn from each waiting peer (the ROUTER queues
        //  fairly), a burst at most, then the timers.
        if (which == self->router || (zsock_events (self->router) & ZMQ_POLLIN))
            for (int count = 0; count < BURST_MAX; count++)
                if (s_handle_request (self) == -1
                ||  !(zsock_events (self->router) & ZMQ_POLLIN))
                    break;
        for (int count = 0; count < BURST_MAX && (zsock_events (self->broker) & ZMQ_POLLIN); count++)
            s_handle_broker (self);
        if (pc_now_ms () >= next_tick) {
            s_tick (self);
            next_tick = pc_now_ms () + TICK_MS;
        }
    }
    zsys_info ("filesvc: stopping (%" PRIu64 " uploads, %" PRIu64 " downloads, %" PRIu64
               " malformed requests)", self->uploads_total, self->downloads_total, self->malformed);
    s_server_destroy (&self);
}

//  --------------------------------------------------------------------------
//  Selftest: the real actor, a fake broker and two clients (files_testkit.h).
//  What uploads and downloads do is tested in files_upload and files_download.

//  Malformed and unknown requests: an error each, and the service goes on.
static void
s_test_malformed (files_testkit_t *kit)
{
    pc_msg_t *reply = files_testkit_call (kit, kit->client, false, PC_SIGNATURE, "PING", "p1", NULL);
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_ping_ok_pong (reply), "PONG"));
    pc_msg_destroy (&reply);
    reply = files_testkit_call (kit, kit->client, false, "GET / HTTP/1.0", "x", "y", NULL);
    files_testkit_error (&reply, PC_ERR_MALFORMED);
    reply = files_testkit_call (kit, kit->client, false, PC_SIGNATURE, "SEND", "s1", "lobby", "c1",
                                "hi", NULL);
    files_testkit_error (&reply, PC_ERR_UNKNOWN);
    reply = files_testkit_call (kit, kit->client, false, PC_SIGNATURE, "FLIST", "l0", NULL);
    files_testkit_error (&reply, PC_ERR_MALFORMED);
    //  What needs no broker is refused before asking it
    reply = files_testkit_call (kit, kit->client, false, PC_SIGNATURE, "FPUT", "u0", "lobby",
                                "a.txt", "5", "not-a-sha", "", NULL);
    files_testkit_error (&reply, PC_ERR_MALFORMED);
    reply = files_testkit_call (kit, kit->client, false, PC_SIGNATURE, "FPUT", "u1", "lobby",
                                "a.txt", "-5", kit->sha, "", NULL);
    files_testkit_error (&reply, PC_ERR_MALFORMED);
    reply = files_testkit_call (kit, kit->client, false, PC_SIGNATURE, "PING", "p2", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
}

//  The broker's FCHECK answer decides: its code and reason reach the
//  client; no answer at all is 503 after FILES_CHECK_MS.
static void
s_test_broker (files_testkit_t *kit)
{
    pc_msg_t *reply = files_testkit_call (kit, kit->other, true, PC_SIGNATURE, "FLIST", "l4",
                                          "lobby", NULL);
    files_testkit_error (&reply, PC_ERR_FORBIDDEN);
    int64_t start = zclock_mono ();
    reply = files_testkit_call (kit, kit->client, true, PC_SIGNATURE, "FLIST", "l6", "silent", NULL);
    files_testkit_error (&reply, PC_ERR_UNAVAILABLE);
    assert (zclock_mono () - start >= FILES_CHECK_MS - 100);
}

//  A folder it cannot create: the actor says why and ends.
static void
s_test_failed_start (files_testkit_t *kit)
{
    pc_config_t config = kit->config;
    snprintf (config.files_dir, sizeof (config.files_dir), "/proc/no/such/folder");
    files_server_args_t args = {
        &config, kit->service_cert, zcert_public_txt (kit->broker_cert), "tcp://127.0.0.1:*",
        "tcp://127.0.0.1:1", false, 0
    };
    pc_service_t service = { .name = "files_server_test", .help = NULL };
    char *reason = NULL;
    zactor_t *server = pc_service_start (&service, files_server_actor, &args, &reason);
    assert (!server && reason && strstr (reason, "cannot create /proc/no/such/folder"));
    zstr_free (&reason);
}

void
files_server_test (bool verbose)
{
    printf (" * files_server: ");
    files_testkit_t *kit = files_testkit_new (verbose);
    if (!kit)
        return;
    s_test_malformed (kit);
    s_test_broker (kit);
    s_test_failed_start (kit);
    files_testkit_destroy (&kit);
    printf ("OK\n");
}

//  bench_pychat.c: PyChat in the benchmarks: real users over CURVE, speaking
//  PROTOCOL.md through the proto library (pc_msg_*): REGISTER, LOGIN, JOIN,
//  SUBS, SEND and DM, and the broker's fan-out MSG and DMMSG. A pool of
//  users logs in once per run; the drivers of A/B (one publisher, S
//  subscribers of one room) and of D (every user in its rooms) use it.
#include "bench.h"
#include "pc_limits.h"
#include "pc_msg.h"

#include <czmq.h>

#define DRAIN_BATCH     256         //  messages read from one socket per pump
#define PENDING_MAX     (12 * 1024) //  a frame of queued SENDs goes out at this size
#define KEEPALIVE_MS    10000       //  PROTOCOL.md: sessions idle 60 s are dropped
#define REQUEST_TIMEOUT_MS 6000
#define REQUEST_RETRIES 20
#define RETRY_MS        500         //  after a 503 or 429
#define SUBS_RETRY_MS   100
#define SUBS_PATIENCE_MS 120000

//  A driver's state
typedef struct {
    zsock_t        *pub_zsock;      //  the publisher's DEALER (A/B)
    zsock_t       **sub_zsocks;
    bench_zpoll_t  *zpoll;          //  A/B: [0] publisher, [1..S] subscribers; D: the SUBs
    int             nsubs;
    uint64_t        sent;
    char            room [64];
    pc_msg_t       *msg;
    pc_buf_t        pending;        //  SENDs packed since the last pump
    uint64_t        errors;
    int64_t         next_dealers_ns;    //  D: when to read the DEALERs' replies next
} pstate_t;

//  --------------------------------------------------------------------------
//  A pool of real users, logged in once per run

typedef struct {
    zcert_t *cert;
    zsock_t *dealer;
    zsock_t *sub;
    char     name [32];
    char     password [48];
    char     topic [128];
    char     join_room [PC_NAME_MAX + 1];   //  D: the room a JOIN phase without one joins
    char     reqid [24];
    unsigned reqno;
    int      state;                 //  phase: 0 to do, 1 in flight, 2 done, 3 failed
    int      tries;
    int      last_code;             //  the last answer's error code (0 OK), -1 none in time
    int64_t  deadline_ns;
    int64_t  not_before_ns;         //  when to ask again (SUBS, 503, 429)
} user_t;

static struct {
    user_t   *users;
    int       count;
    int       logged_in;            //  users [0..logged_in) are logged in
    char     *broker_key;
    int       port;
    pc_msg_t *msg;
    int64_t   next_keepalive;
    int       publisher;            //  index whose DEALER the current driver reads, or -1
} s_pool = { .publisher = -1 };

//  PING every logged-in session every KEEPALIVE_MS, and throw away the
//  replies that piled up (on every DEALER but the running publisher's).
void
bench_pychat_keepalive (void)
{
    int64_t now = bench_now_ns ();
    if (!s_pool.users || now < s_pool.next_keepalive)
        return;
    s_pool.next_keepalive = now + KEEPALIVE_MS * 1000000LL;
    pc_msg_t *ping = pc_msg_new ("PING");
    pc_msg_set_reqid (ping, "ka");
    for (int i = 0; i < s_pool.logged_in; i++) {
        user_t *user = &s_pool.users [i];
        if (i != s_pool.publisher)
            for (int n = 0; n < 100 && (zsock_events (user->dealer) & ZMQ_POLLIN); n++)
                if (pc_msg_recv (s_pool.msg, user->dealer) == -1)
                    break;
        pc_msg_send_nowait (ping, user->dealer);
    }
    pc_msg_destroy (&ping);
}

static void
s_user_request (user_t *user, const char *command, const char *a, const char *b)
{
    pc_msg_t *request = pc_msg_new (command);
    snprintf (user->reqid, sizeof (user->reqid), "q%u", ++user->reqno);
    pc_msg_set_reqid (request, user->reqid);
    if (a)
        pc_msg_add (request, a);
    if (b)
        pc_msg_add (request, b);
    pc_msg_send (request, user->dealer);
    pc_msg_destroy (&request);
    user->state = 1;
    user->tries++;
    user->deadline_ns = bench_now_ns () + REQUEST_TIMEOUT_MS * 1000000LL;
}

static void
s_user_send (user_t *user, const char *command, const char *room)
{
    if (streq (command, "REGISTER") || streq (command, "LOGIN"))
        s_user_request (user, command, user->name, user->password);
    else if (streq (command, "JOIN"))
        s_user_request (user, command, room? room: user->join_room, NULL);
    else
        s_user_request (user, command, NULL, NULL);
}

//  What a reply means for this phase: 2 done, 0 try again, 3 failed.
static int
s_judge (user_t *user, const char *command, pc_msg_t *reply)
{
    int code = pc_msg_error_code (reply);
    pc_cmd_t asked = pc_cmd_lookup (command);
    if (asked == PC_CMD_REGISTER)
        return code == 0 || code == 409? 2: code == 503 || code == 429? 0: 3;
    if (asked == PC_CMD_LOGIN)
        return code == 0? 2: code == 503 || code == 429? 0: 3;
    if (asked == PC_CMD_JOIN) {
        if (code || !pc_join_ok_topic (reply))
            return 3;
        snprintf (user->topic, sizeof (user->topic), "%s", pc_join_ok_topic (reply));
        zsock_set_subscribe (user->sub, user->topic);
        return 2;
    }
    //  SUBS: done once the topic is listed
    if (code)
        return 3;
    for (size_t i = 0; i < pc_subs_ok_count (reply); i++)
        if (streq (pc_subs_ok_topic (reply, i), user->topic))
            return 2;
    return 0;
}

//  Runs one command for users [first, last) with at most `window` in flight;
//  retries 503/429/timeouts (SUBS: until the topic is listed). Returns the
//  number of users that failed.
static int
s_phase (const char *command, int first, int last, int window, const char *room, double *rate)
{
    int count = last - first, skipped = 0;
    for (int i = first; i < last; i++) {
        s_pool.users [i].state = 0;
        s_pool.users [i].tries = 0;
        s_pool.users [i].last_code = 0;
        s_pool.users [i].not_before_ns = 0;
        //  A JOIN phase without a room: each user joins its join_room, if any
        if (streq (command, "JOIN") && !room && !s_pool.users [i].join_room [0]) {
            s_pool.users [i].state = 2;
            skipped++;
        }
    }
    //  A SUB may still be connecting when thousands are (and SUBS only
    //  lists what the broker applied): ask every SUBS_RETRY_MS, for up to
    //  SUBS_PATIENCE_MS. Other commands retry 503/429 (after RETRY_MS: the
    //  broker answers 503 when the auth service is slower than 3 s, as it
    //  is while thousands of CURVE handshakes take both cores) and timeouts.
    int max_tries = streq (command, "SUBS")? SUBS_PATIENCE_MS / SUBS_RETRY_MS: REQUEST_RETRIES;
    zmq_pollitem_t *items = (zmq_pollitem_t *) calloc ((size_t) window, sizeof (zmq_pollitem_t));
    int *which = (int *) calloc ((size_t) window, sizeof (int));
    int next = first, done = skipped, failed = 0, in_flight = 0;
    int64_t start = bench_now_ns ();
    int64_t deadline = start + (int64_t) (count * 2 + 120) * 1000000000LL;
    while (done + failed < count && bench_now_ns () < deadline) {
        //  Fill the window (scan from the oldest to-do user)
        int64_t fill_now = bench_now_ns ();
        for (int i = first; i < last && in_flight < window; i++) {
            user_t *user = &s_pool.users [i];
            if (user->state == 0 && fill_now >= user->not_before_ns) {
                if (user->tries >= max_tries) {
                    user->state = 3;
                    failed++;
                    continue;
                }
                s_user_send (user, command, room);
                in_flight++;
            }
            if (i >= next)
                next = i + 1;
        }
        int n = 0;
        for (int i = first; i < last && n < window; i++)
            if (s_pool.users [i].state == 1) {
                items [n].socket = zsock_resolve (s_pool.users [i].dealer);
                items [n].events = ZMQ_POLLIN;
                which [n++] = i;
            }
        zmq_poll (items, n, 20);
        int64_t now = bench_now_ns ();
        for (int k = 0; k < n; k++) {
            user_t *user = &s_pool.users [which [k]];
            while (user->state == 1 && (zsock_events (user->dealer) & ZMQ_POLLIN)) {
                if (pc_msg_recv (s_pool.msg, user->dealer) != 0)
                    continue;
                if (!streq (pc_msg_reqid (s_pool.msg), user->reqid))
                    continue;           //  a PONG, or a reply we stopped waiting for
                int verdict = s_judge (user, command, s_pool.msg);
                user->last_code = pc_msg_error_code (s_pool.msg);
                //  A 503 means the auth services are behind (the broker gave
                //  up on them after 3 s, but they still hash that request):
                //  asking again at once only adds to their queue, so each
                //  retry waits twice as long, up to 16 x RETRY_MS
                if (verdict == 0)
                    user->not_before_ns = now + (user->last_code == 0? SUBS_RETRY_MS:
                                                 RETRY_MS << (user->tries < 5? user->tries - 1: 4))
                                              * 1000000LL;
                user->state = verdict;
                in_flight--;
                if (verdict == 2)
                    done++;
                else if (verdict == 3) {
                    failed++;
                    if (failed <= 3)
                        fprintf (stderr, "pcbench: pychat: %s %s: %d %s\n", command, user->name,
                                 pc_msg_error_code (s_pool.msg), pc_msg_error_reason (s_pool.msg));
                }
            }
            if (user->state == 1 && now > user->deadline_ns) {
                user->state = 0;        //  timed out: send again
                user->last_code = -1;
                in_flight--;
            }
        }
        if (streq (command, "LOGIN")) {
            //  Logged-in users need their keepalive while the others log in.
            int logged = first;
            while (logged < last && s_pool.users [logged].state == 2)
                logged++;
            if (logged > s_pool.logged_in)
                s_pool.logged_in = logged;
        }
        bench_pychat_keepalive ();
    }
    double seconds = (double) (bench_now_ns () - start) / 1e9;
    if (rate)
        *rate = seconds > 0? (done - skipped) / seconds: 0;
    //  Why those that did not make it did not: their last answers
    int timeouts = 0, busy = 0, other = 0;
    for (int i = first; i < last; i++) {
        user_t *user = &s_pool.users [i];
        if (user->state == 2)
            continue;
        if (user->last_code == -1)
            timeouts++;
        else
        if (user->last_code == 503 || user->last_code == 429)
            busy++;
        else
            other++;
    }
    if (timeouts + busy + other)
        fprintf (stderr, "pcbench: pychat: %s: %d of %d not done after %.0f s: last answer "
                 "none in time %d, 503/429 %d, other %d\n", command, count - done, count, seconds,
                 timeouts, busy, other);
    free (items);
    free (which);
    return count - done;
}

int
bench_pychat_pool (bench_opts_t *opts, double *logins_per_s, double *registers_per_s)
{
    bench_zmq_init ();
    char path [4096];
    snprintf (path, sizeof (path), "%s/broker.pub", opts->data? opts->data: ".");
    s_pool.broker_key = bench_read_key (path);
    s_pool.port = opts->port;
    s_pool.msg = pc_msg_new (NULL);
    int count = opts->users;
    s_pool.count = count;
    s_pool.users = (user_t *) calloc ((size_t) count, sizeof (user_t));
    for (int i = 0; i < count; i++) {
        user_t *user = &s_pool.users [i];
        snprintf (user->name, sizeof (user->name), "bench-%d", opts->first + i);
        snprintf (user->password, sizeof (user->password), "bench-password-%d-%d",
                  opts->first + i, opts->port);
        user->cert = zcert_new ();
        user->dealer = zsock_new (ZMQ_DEALER);
        user->sub = zsock_new (ZMQ_SUB);
        if (!user->cert || !user->dealer || !user->sub)
            bench_fail ("pychat: cannot create user %d's sockets (descriptor limit?)", i);
        zsock_t *both [2] = { user->dealer, user->sub };
        for (int k = 0; k < 2; k++) {
            zcert_apply (user->cert, both [k]);
            zsock_set_curve_serverkey (both [k], s_pool.broker_key);
            zsock_set_linger (both [k], 0);
            zsock_set_maxmsgsize (both [k], 1024 * 1024);
        }
        //  Several brokers: users spread over them (the publisher, user 0,
        //  on the first), so a room spans them all
        int port = opts->nports? opts->ports [i % opts->nports]: opts->port;
        if (zsock_connect (user->dealer, "tcp://127.0.0.1:%d", port)
        ||  zsock_connect (user->sub, "tcp://127.0.0.1:%d", port + 1))
            bench_fail ("pychat: cannot connect user %d", i);
        bench_connect_paced (2 * i + 2);
    }
    //  The broker answers 503 until its DEALER reaches an auth service:
    //  wait (at most 15 s) until a LOGIN of nobody gets its 401.
    user_t *probe = &s_pool.users [0];
    for (int64_t until = bench_now_ns () + 15000000000LL; bench_now_ns () < until; ) {
        s_user_request (probe, "LOGIN", "nobody-bench-probe", "x");
        zsock_set_rcvtimeo (probe->dealer, 1000);
        int code = 503;
        while (pc_msg_recv (s_pool.msg, probe->dealer) == 0)
            if (streq (pc_msg_reqid (s_pool.msg), probe->reqid)) {
                code = pc_msg_error_code (s_pool.msg);
                break;
            }
        zsock_set_rcvtimeo (probe->dealer, -1);
        if (code != 503)
            break;
        zclock_sleep (100);
    }
    //  REGISTER is one Argon2id hash per user; LOGIN one verification. A
    //  window of 16 keeps the auth services busy without reaching the
    //  broker's 3 s auth timeout.
    int window = opts->auth_window > 0? opts->auth_window: 16;
    int failed = s_phase ("REGISTER", 0, count, window, NULL, registers_per_s);
    if (failed)
        fprintf (stderr, "pcbench: pychat: %d REGISTERs failed\n", failed);
    failed = s_phase ("LOGIN", 0, count, window, NULL, logins_per_s);
    s_pool.logged_in = count;
    if (failed) {
        fprintf (stderr, "pcbench: pychat: %d LOGINs failed\n", failed);
        return -1;
    }
    return 0;
}

void
bench_pychat_pool_destroy (void)
{
    for (int i = 0; i < s_pool.count; i++) {
        zsock_destroy (&s_pool.users [i].dealer);
        zsock_destroy (&s_pool.users [i].sub);
        zcert_destroy (&s_pool.users [i].cert);
    }
    free (s_pool.users);
    s_pool.users = NULL;
    s_pool.count = s_pool.logged_in = 0;
    pc_msg_destroy (&s_pool.msg);
    zstr_free (&s_pool.broker_key);
}

//  The SENDs queued since the last pump go out packed in one frame (a
//  batch, PROTOCOL.md "Framing"), as a client with several messages to send
//  does: one CURVE box for the lot instead of one per message. -1 when the
//  DEALER is full (they stay queued).
static int
s_pychat_flush (pstate_t *state)
{
    if (state->pending.size == 0)
        return 0;
    if (zmq_send (zsock_resolve (state->pub_zsock), state->pending.data, state->pending.size,
                  ZMQ_DONTWAIT) == -1)
        return -1;
    pc_buf_reset (&state->pending);
    return 0;
}

static int
s_pychat_publish (bench_driver_t *self, const char *payload, size_t size)
{
    pstate_t *state = (pstate_t *) self->state;
    if (state->pending.size >= PENDING_MAX && s_pychat_flush (state) == -1)
        return -1;
    char text [BENCH_PAYLOAD + 1], cmid [32];
    if (size > BENCH_PAYLOAD)
        size = BENCH_PAYLOAD;
    memcpy (text, payload, size);
    text [size] = 0;
    snprintf (cmid, sizeof (cmid), "c%" PRIu64, state->sent + 1);
    pc_msg_reset (state->msg, "SEND");
    pc_msg_set_reqid (state->msg, "s");
    pc_msg_add (state->msg, state->room);
    pc_msg_add (state->msg, cmid);
    pc_msg_add (state->msg, text);
    pc_msg_pack_append (state->msg, &state->pending);
    state->sent++;
    return 0;
}

//  Hands each MSG text and DMMSG box of packed data (PROTOCOL.md,
//  "Framing") to bench_deliver, reading in place like a lean subscriber
//  would (no allocation per message); stops at anything that does not add up.
static void
s_deliver_packed (int sub, const byte *data, size_t size)
{
    size_t offset = 0;
    while (offset < size) {
        const byte *parts [8];
        size_t sizes [8];
        int count = pc_msg_unpack_parts (data, size, &offset, parts, sizes, 8);
        if (count == -1)
            return;
        if (count == 8 && ((sizes [1] == 3 && memcmp (parts [1], "MSG", 3) == 0)
                       ||  (sizes [1] == 5 && memcmp (parts [1], "DMMSG", 5) == 0)))
            bench_deliver (sub, (const char *) parts [7], sizes [7]);
    }
}

//  Reads up to DRAIN_BATCH frames of a user's SUB: [topic NUL packed] or,
//  for big batches, [topic][packed]; one frame may carry a batch of
//  messages. Each delivery is the user's (index). True if it stopped with
//  input left (bench_zpoll: hand the socket back).
static bool
s_read_sub (zsock_t *sub, int index)
{
    void *handle = zsock_resolve (sub);
    int n;
    for (n = 0; n < DRAIN_BATCH && (zsock_events (sub) & ZMQ_POLLIN); n++) {
        zmq_msg_t topic, body;
        zmq_msg_init (&topic);
        zmq_msg_init (&body);
        if (zmq_msg_recv (&topic, handle, 0) == -1) {
            zmq_msg_close (&topic);
            continue;
        }
        if (!zmq_msg_more (&topic)) {
            const byte *data = (const byte *) zmq_msg_data (&topic);
            const byte *nul = (const byte *) memchr (data, 0, zmq_msg_size (&topic));
            if (nul)
                s_deliver_packed (index, nul + 1, zmq_msg_size (&topic) - (size_t) (nul + 1 - data));
        }
        else
        if (zmq_msg_recv (&body, handle, 0) != -1 && !zmq_msg_more (&body))
            s_deliver_packed (index, (const byte *) zmq_msg_data (&body), zmq_msg_size (&body));
        while (zmq_msg_more (&body) && zmq_msg_recv (&body, handle, 0) != -1)
            ;
        zmq_msg_close (&topic);
        zmq_msg_close (&body);
    }
    return n == DRAIN_BATCH;
}

//  Reads up to budget frames of replies of a DEALER: each reply to a SEND
//  or DM (request id "s") is an ack, or an error (the first 3 shown); the
//  broker packs a lot's acks to one client in one frame (a batch). True if
//  it stopped with input left.
static bool
s_read_replies (bench_driver_t *self, zsock_t *dealer, int budget)
{
    pstate_t *state = (pstate_t *) self->state;
    int n;
    for (n = 0; n < budget && (zsock_events (dealer) & ZMQ_POLLIN); n++) {
        int rc = pc_msg_recv (state->msg, dealer);
        while (rc == 0) {
            if (streq (pc_msg_reqid (state->msg), "s")) {       //  else a keepalive PONG
                if (pc_msg_error_code (state->msg) && state->errors++ < 3)
                    fprintf (stderr, "pcbench: pychat: %s: %d %s\n", state->room [0]? "SEND": "D",
                             pc_msg_error_code (state->msg), pc_msg_error_reason (state->msg));
                self->acked++;
            }
            rc = pc_msg_more (state->msg)? pc_msg_next (state->msg): -1;
        }
    }
    return n == budget;
}

static void
s_pychat_pump (bench_driver_t *self, int timeout_ms)
{
    pstate_t *state = (pstate_t *) self->state;
    s_pychat_flush (state);
    //  A send (this flush, a keepalive PING) may take the signal of acks
    bench_zpoll_again (state->zpoll, 0);
    const int *ready;
    int nready = bench_zpoll_wait (state->zpoll, timeout_ms, &ready);
    for (int k = 0; k < nready; k++) {
        int i = ready [k];
        bool more = i == 0? s_read_replies (self, state->pub_zsock, 4 * DRAIN_BATCH)
                          : s_read_sub (state->sub_zsocks [i - 1], i - 1);
        if (more)
            bench_zpoll_again (state->zpoll, i);
    }
}

static void
s_pychat_destroy (bench_driver_t **self_p)
{
    if (*self_p) {
        bench_driver_t *self = *self_p;
        pstate_t *state = (pstate_t *) self->state;
        if (state->errors)
            fprintf (stderr, "pcbench: pychat: %" PRIu64 " error replies\n", state->errors);
        s_pool.publisher = -1;
        pc_msg_destroy (&state->msg);
        pc_buf_free (&state->pending);
        free (state->sub_zsocks);
        bench_zpoll_destroy (&state->zpoll);
        free (state);
        free (self);
        *self_p = NULL;
    }
}

//  Users 0 (publisher) and 1..subs join room; each subscriber's SUB takes
//  the topic the JOIN reply names, and SUBS is asked until it is applied.
bench_driver_t *
bench_pychat_new (bench_opts_t *opts, int subs, const char *room)
{
    if (subs + 1 > s_pool.count)
        bench_fail ("pychat: %d subscribers need %d users, the pool has %d (--users)",
                    subs, subs + 1, s_pool.count);
    if (s_phase ("JOIN", 0, subs + 1, 256, room, NULL))
        bench_fail ("pychat: JOIN %s failed", room);
    if (s_phase ("SUBS", 1, subs + 1, 256, NULL, NULL))
        bench_fail ("pychat: subscriptions to %s never applied", room);
    bench_driver_t *self = (bench_driver_t *) calloc (1, sizeof (bench_driver_t));
    pstate_t *state = (pstate_t *) calloc (1, sizeof (pstate_t));
    self->system = opts->system;
    self->subs = subs;
    self->state = state;
    self->publish = s_pychat_publish;
    self->pump = s_pychat_pump;
    self->destroy = s_pychat_destroy;
    state->nsubs = subs;
    snprintf (state->room, sizeof (state->room), "%s", room);
    state->msg = pc_msg_new (NULL);
    pc_buf_init (&state->pending);
    state->pub_zsock = s_pool.users [0].dealer;
    state->sub_zsocks = (zsock_t **) calloc ((size_t) subs + 1, sizeof (zsock_t *));
    state->zpoll = bench_zpoll_new (subs + 1);
    bench_zpoll_add (state->zpoll, zsock_resolve (state->pub_zsock), 0);
    for (int i = 0; i < subs; i++) {
        state->sub_zsocks [i] = s_pool.users [i + 1].sub;
        bench_zpoll_add (state->zpoll, zsock_resolve (state->sub_zsocks [i]), i + 1);
    }
    s_pool.publisher = 0;
    //  Drop what the publisher's DEALER still holds (keepalive PONGs).
    while (zsock_events (state->pub_zsock) & ZMQ_POLLIN)
        if (pc_msg_recv (state->msg, state->pub_zsock) == -1)
            break;
    return self;
}

//  --------------------------------------------------------------------------
//  D: pool users 0..U-1, each in its rooms (room R is "dR"), each SUB on its
//  session topic, which carries the MSGs of its rooms and its DMMSGs. A
//  room message is a SEND, a DM a DM whose box is the payload: the broker
//  stores and forwards a box without opening it (it checks its length).
//  items: the users' SUBs.

static int
s_pychat_d_post (bench_driver_t *self, int user, int room, int to, const char *payload, size_t size)
{
    pstate_t *state = (pstate_t *) self->state;
    char text [BENCH_DM_PAYLOAD + 1], cmid [32], name [PC_NAME_MAX + 1];
    if (size > BENCH_DM_PAYLOAD)
        size = BENCH_DM_PAYLOAD;
    memcpy (text, payload, size);
    text [size] = 0;
    snprintf (cmid, sizeof (cmid), "d%" PRIu64, ++state->sent);
    pc_msg_reset (state->msg, room >= 0? "SEND": "DM");
    pc_msg_set_reqid (state->msg, "s");
    if (room >= 0) {
        snprintf (name, sizeof (name), "d%d", room);
        pc_msg_add (state->msg, name);
    }
    else
        pc_msg_add (state->msg, s_pool.users [to].name);
    pc_msg_add (state->msg, cmid);
    pc_msg_add (state->msg, text);
    if (pc_msg_send_nowait (state->msg, s_pool.users [user].dealer) == -1) {
        state->sent--;
        return -1;
    }
    return 0;
}

//  Waits on the SUBs only (bench_zpoll): the DEALERs' replies (acks,
//  errors) are read every DEALER_MS instead: D counts deliveries, not acks.
#define DEALER_MS 50

static void
s_pychat_d_pump (bench_driver_t *self, int timeout_ms)
{
    pstate_t *state = (pstate_t *) self->state;
    int users = state->nsubs;
    const int *ready;
    int nready = bench_zpoll_wait (state->zpoll, timeout_ms, &ready);
    for (int k = 0; k < nready; k++)
        if (s_read_sub (state->sub_zsocks [ready [k]], ready [k]))
            bench_zpoll_again (state->zpoll, ready [k]);
    int64_t now = bench_now_ns ();
    if (now >= state->next_dealers_ns) {
        state->next_dealers_ns = now + DEALER_MS * 1000000LL;
        for (int i = 0; i < users; i++)
            s_read_replies (self, s_pool.users [i].dealer, DRAIN_BATCH);
    }
}

bench_driver_t *
bench_pychat_d_new (bench_opts_t *opts, const bench_plan_t *plan)
{
    int users = plan->users;
    if (users > s_pool.logged_in)
        bench_fail ("pychat: D needs %d users, the pool has %d logged in (--users)",
                    users, s_pool.logged_in);
    //  One JOIN phase per rank of membership: the k-th room of every user
    //  that has k rooms, 256 JOINs in flight
    int most = 0;
    for (int u = 0; u < users; u++)
        most = plan->user_nrooms [u] > most? plan->user_nrooms [u]: most;
    for (int k = 0; k < most; k++) {
        for (int u = 0; u < users; u++) {
            user_t *user = &s_pool.users [u];
            if (k < plan->user_nrooms [u])
                snprintf (user->join_room, sizeof (user->join_room), "d%d",
                          plan->user_rooms [plan->user_first [u] + k]);
            else
                user->join_room [0] = 0;
        }
        if (s_phase ("JOIN", 0, users, 256, NULL, NULL))
            bench_fail ("pychat: D: JOINs failed");
    }
    for (int u = 0; u < users; u++)
        s_pool.users [u].join_room [0] = 0;
    if (s_phase ("SUBS", 0, users, 256, NULL, NULL))
        bench_fail ("pychat: D: subscriptions never applied");
    bench_driver_t *self = (bench_driver_t *) calloc (1, sizeof (bench_driver_t));
    pstate_t *state = (pstate_t *) calloc (1, sizeof (pstate_t));
    self->system = opts->system;
    self->subs = users;
    self->state = state;
    self->post = s_pychat_d_post;
    self->pump = s_pychat_d_pump;
    self->destroy = s_pychat_destroy;
    state->nsubs = users;
    state->msg = pc_msg_new (NULL);
    state->sub_zsocks = (zsock_t **) calloc ((size_t) users, sizeof (zsock_t *));
    state->zpoll = bench_zpoll_new (users);
    for (int u = 0; u < users; u++) {
        state->sub_zsocks [u] = s_pool.users [u].sub;
        bench_zpoll_add (state->zpoll, zsock_resolve (s_pool.users [u].sub), u);
    }
    //  Every DEALER's replies are read by the pump; the keepalive may
    //  drain them too (none is the publisher's to keep)
    s_pool.publisher = -1;
    return self;
}

//  bench_zmq.c: the ZeroMQ systems.
//
//  zmq          bare libzmq PUB (in this process) -> S SUBs; no ack.
//  relay        DEALER -> relay-server ROUTER; the relay publishes on its XPUB
//               and acks every message; S SUBs read the XPUB.
//  relay-curve  the same with CURVE on every socket.
//  (pychat, the real PyChat users, is bench_pychat.c; it shares this file's
//  context and helpers)
#include "bench.h"
#include "pc_limits.h"

#include <czmq.h>
#include <signal.h>

#define MAX_SOCKETS     16000
#define DRAIN_BATCH     256         //  messages read from one socket per pump
#define PROBE_MS        10
#define SETUP_TIMEOUT_MS 20000
//  Thousands of clients connect in waves: a burst of thousands of
//  handshakes at once overflows loopback's packet queue
//  (net.core.netdev_max_backlog, 1000 here; see /proc/net/softnet_stat), and
//  every dropped packet waits out TCP's retransmit backoff, minutes at worst.
#define CONNECT_WAVE    100
#define CONNECT_PAUSE_MS 20

typedef enum { KIND_ZMQ, KIND_RELAY } kind_t;

typedef struct {
    kind_t          kind;
    void           *pub;            //  PUB (zmq), DEALER (relay)
    void          **subs;
    void          **dealers;        //  relay, workload C: one per subscriber
    bench_zpoll_t  *zpoll;          //  [0] publisher (relay), [1..S] subscribers
    int             nsubs;
    uint64_t        sent;
} zstate_t;

static void *s_ctx;

void
bench_zmq_init (void)
{
    if (!s_ctx) {
        zsys_set_max_sockets (MAX_SOCKETS);
        zsys_set_linger (0);
        zsys_set_logstream (stderr);
        zsys_handler_set (NULL);        //  SIGINT/SIGTERM: default, we are a tool
        s_ctx = zsys_init ();
        if (!s_ctx)
            bench_fail ("cannot create a ZeroMQ context");
    }
}

char *
bench_read_key (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        bench_fail ("cannot read %s", path);
    char line [128] = "";
    if (!fgets (line, sizeof (line), file))
        line [0] = 0;
    fclose (file);
    line [strcspn (line, "\r\n")] = 0;
    if (strlen (line) != 40)
        bench_fail ("%s does not hold a Z85 key", path);
    return strdup (line);
}

//  A raw socket with this process's own fresh CURVE key when server_key.
static void *
s_socket (int type, const char *server_key)
{
    void *sock = zmq_socket (s_ctx, type);
    if (!sock)
        bench_fail ("zmq_socket: %s", zmq_strerror (zmq_errno ()));
    int zero = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &zero, sizeof (zero));
    if (server_key) {
        char public_key [41], secret_key [41];
        if (zmq_curve_keypair (public_key, secret_key))
            bench_fail ("zmq_curve_keypair: %s", zmq_strerror (zmq_errno ()));
        zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, server_key, 40);
        zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, public_key, 40);
        zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, secret_key, 40);
    }
    return sock;
}

//  Two frames: topic, payload. 0 | -1 would block.
static int
s_send_pair (void *sock, const char *payload, size_t size)
{
    if (zmq_send (sock, BENCH_TOPIC, strlen (BENCH_TOPIC), ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1)
        return -1;
    zmq_send (sock, payload, size, 0);      //  atomic with the first frame
    return 0;
}

//  Reads up to DRAIN_BATCH [topic, payload] messages; probes mark ready.
static int
s_drain_sub (void *sock, int index, bool *ready)
{
    int count = 0;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (count < DRAIN_BATCH) {
        if (zmq_msg_recv (&frame, sock, ZMQ_DONTWAIT) == -1)
            break;
        int more = zmq_msg_more (&frame);
        if (more && zmq_msg_recv (&frame, sock, 0) != -1) {
            const char *data = (const char *) zmq_msg_data (&frame);
            size_t size = zmq_msg_size (&frame);
            if (ready && size >= 16 && memcmp (data, "0000000000000000", 16) == 0)
                ready [index] = true;
            else
                bench_deliver (index, data, size);
        }
        count++;
    }
    zmq_msg_close (&frame);
    return count;
}

//  --------------------------------------------------------------------------
//  zmq and relay drivers

static int
s_raw_publish (bench_driver_t *self, const char *payload, size_t size)
{
    zstate_t *state = (zstate_t *) self->state;
    if (s_send_pair (state->pub, payload, size) == -1)
        return -1;
    state->sent++;
    if (state->kind == KIND_ZMQ)
        self->acked = state->sent;
    else
        bench_zpoll_again (state->zpoll, 0);    //  the send may take the acks' signal
    return 0;
}

static void
s_raw_pump_with (bench_driver_t *self, int timeout_ms, bool *ready)
{
    zstate_t *state = (zstate_t *) self->state;
    const int *sockets;
    int nready = bench_zpoll_wait (state->zpoll, timeout_ms, &sockets);
    for (int k = 0; k < nready; k++) {
        int i = sockets [k];
        if (i == 0) {
            char ack [16];
            for (int n = 0; n < 4 * DRAIN_BATCH; n++) {
                if (zmq_recv (state->pub, ack, sizeof (ack), ZMQ_DONTWAIT) == -1)
                    break;
                self->acked++;
            }
        }
        else
            s_drain_sub (state->subs [i - 1], i - 1, ready);
        //  After a receive libzmq wants ZMQ_EVENTS asked again before its
        //  descriptor is waited on (zmq_getsockopt(3), ZMQ_FD)
        bench_zpoll_again (state->zpoll, i);
    }
}

static void
s_raw_pump (bench_driver_t *self, int timeout_ms)
{
    s_raw_pump_with (self, timeout_ms, NULL);
}

static void
s_raw_destroy (bench_driver_t **self_p)
{
    if (*self_p) {
        bench_driver_t *self = *self_p;
        zstate_t *state = (zstate_t *) self->state;
        bench_zpoll_destroy (&state->zpoll);
        for (int i = 0; i < state->nsubs; i++)
            zmq_close (state->subs [i]);
        for (int i = 0; state->dealers && i < state->nsubs; i++)
            if (state->dealers [i])
                zmq_close (state->dealers [i]);
        free (state->dealers);
        zmq_close (state->pub);
        free (state->subs);
        free (state);
        free (self);
        *self_p = NULL;
    }
}

//  Call after the n-th connect (from 1)
void
bench_connect_paced (int n)
{
    if (n % CONNECT_WAVE == 0)
        zclock_sleep (CONNECT_PAUSE_MS);
}

//  Workload C against the relay: gives every subscriber a DEALER of its
//  own (a PyChat client has both), which sends one message through the
//  relay (on a topic nobody takes) and waits for its ack, so that both
//  connections of every client have carried traffic, as a logged-in
//  PyChat client's have. 0 | -1 (some ack never came).
int
bench_zmq_pairs (bench_driver_t *self, bench_opts_t *opts)
{
    zstate_t *state = (zstate_t *) self->state;
    if (state->kind != KIND_RELAY)
        return 0;
    char *server_key = opts->keyfile && strstr (opts->system, "curve")? bench_read_key (opts->keyfile): NULL;
    char endpoint [64];
    snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", opts->port);
    state->dealers = (void **) calloc ((size_t) state->nsubs, sizeof (void *));
    char payload [BENCH_PAYLOAD];
    memset (payload, 'c', sizeof (payload));
    for (int i = 0; i < state->nsubs; i++) {
        state->dealers [i] = s_socket (ZMQ_DEALER, server_key);
        if (zmq_connect (state->dealers [i], endpoint))
            bench_fail ("connect %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        zmq_send (state->dealers [i], "idle/", 5, ZMQ_SNDMORE);
        zmq_send (state->dealers [i], payload, sizeof (payload), 0);
        bench_connect_paced (i + 1);
    }
    free (server_key);
    int missing = state->nsubs;
    bool *acked = (bool *) calloc ((size_t) state->nsubs, sizeof (bool));
    int64_t deadline = bench_now_ns () + (SETUP_TIMEOUT_MS + 100LL * state->nsubs) * 1000000LL;
    while (missing > 0 && bench_now_ns () < deadline) {
        for (int i = 0; i < state->nsubs; i++) {
            char ack [16];
            if (!acked [i] && zmq_recv (state->dealers [i], ack, sizeof (ack), ZMQ_DONTWAIT) != -1) {
                acked [i] = true;
                missing--;
            }
        }
        s_raw_pump (self, 1 + state->nsubs / 100);
    }
    free (acked);
    return missing? -1: 0;
}

bench_driver_t *
bench_zmq_new (bench_opts_t *opts, int subs)
{
    bench_zmq_init ();
    bench_driver_t *self = (bench_driver_t *) calloc (1, sizeof (bench_driver_t));
    zstate_t *state = (zstate_t *) calloc (1, sizeof (zstate_t));
    self->system = opts->system;
    self->subs = subs;
    self->state = state;
    self->publish = s_raw_publish;
    self->pump = s_raw_pump;
    self->destroy = s_raw_destroy;
    state->kind = strncmp (opts->system, "relay", 5) == 0? KIND_RELAY: KIND_ZMQ;
    state->nsubs = subs;
    state->subs = (void **) calloc ((size_t) subs, sizeof (void *));
    state->zpoll = bench_zpoll_new (subs + 1);
    char *server_key = opts->keyfile && strstr (opts->system, "curve")? bench_read_key (opts->keyfile): NULL;
    char endpoint [64];
    //  A closed PUB releases its port asynchronously: each instance binds
    //  the next port of the block bench/run reserved (16 ports).
    static int instance;
    int sub_port = opts->port + instance++ % 16;
    if (state->kind == KIND_ZMQ) {
        state->pub = s_socket (ZMQ_PUB, NULL);
        int hwm = 100000;           //  as the PyChat broker's XPUB
        zmq_setsockopt (state->pub, ZMQ_SNDHWM, &hwm, sizeof (hwm));
        snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", sub_port);
        if (zmq_bind (state->pub, endpoint))
            bench_fail ("bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
    }
    else {
        state->pub = s_socket (ZMQ_DEALER, server_key);
        snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", opts->port);
        zmq_connect (state->pub, endpoint);
        sub_port = opts->port + 1;
    }
    if (state->kind == KIND_RELAY)
        bench_zpoll_add (state->zpoll, state->pub, 0);
    snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", sub_port);
    for (int i = 0; i < subs; i++) {
        state->subs [i] = s_socket (ZMQ_SUB, server_key);
        zmq_setsockopt (state->subs [i], ZMQ_SUBSCRIBE, BENCH_TOPIC, strlen (BENCH_TOPIC));
        if (zmq_connect (state->subs [i], endpoint))
            bench_fail ("connect %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        bench_connect_paced (i + 1);
        bench_zpoll_add (state->zpoll, state->subs [i], i + 1);
    }
    free (server_key);

    //  Slow joiners: publish probes until every subscriber has seen one.
    bool *ready = (bool *) calloc ((size_t) subs + 1, sizeof (bool));
    char probe [BENCH_PAYLOAD];
    memset (probe, '0', sizeof (probe));
    //  Each probe reaches every subscriber of the server (with --hold, the
    //  other generator processes' too): space them out as clients grow
    //  (3,000 each: one per 1.5 s), and give thousands of CURVE handshakes
    //  the time they take. Every 160 ms, three generators' probes to 9,000
    //  subscribers were 170k encryptions a second on the server and starved
    //  the very handshakes they waited for.
    int64_t probe_ns = PROBE_MS * 1000000LL * (1 + subs / 20);
    int64_t deadline = bench_now_ns () + (SETUP_TIMEOUT_MS + 100LL * subs) * 1000000LL;
    int missing = subs;
    uint64_t probes = 0;
    while (missing > 0 && bench_now_ns () < deadline) {
        if (s_send_pair (state->pub, probe, sizeof (probe)) == 0)
            probes++;
        //  zmq_poll over thousands of sockets costs about a millisecond
        //  itself: poll less often as they grow, or the generator's own
        //  I/O thread gets no time for the CURVE handshakes
        int64_t until = bench_now_ns () + probe_ns;
        while (bench_now_ns () < until)
            s_raw_pump_with (self, 1 + subs / 100, ready);
        missing = 0;
        for (int i = 0; i < subs; i++)
            missing += !ready [i];
    }
    if (missing)
        bench_fail ("%s: %d of %d subscribers never saw a probe", opts->system, missing, subs);
    //  Let the last probes and their acks pass, then start counting afresh.
    while (state->kind == KIND_RELAY && self->acked < probes && bench_now_ns () < deadline)
        s_raw_pump_with (self, 10, ready);
    for (int i = 0; i < 20; i++)
        s_raw_pump_with (self, 1, ready);
    free (ready);
    self->acked = 0;
    state->sent = 0;
    return self;
}

//  --------------------------------------------------------------------------
//  The relay server: ROUTER on port, XPUB on port+1. Every [topic, payload]
//  received is published and acknowledged with a one-byte reply. With
//  --curve KEYFILE it makes a key pair, writes the public key to KEYFILE and
//  is a CURVE server on both sockets (any client key is accepted).

static volatile sig_atomic_t s_stop;
static void s_on_signal (int signum) { (void) signum; s_stop = 1; }

int
bench_relay_main (int argc, char **argv)
{
    int port = 0;
    const char *keyfile = NULL;
    double max_seconds = 1200;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp (argv [i], "--port") == 0)
            port = atoi (argv [i + 1]);
        else if (strcmp (argv [i], "--curve") == 0)
            keyfile = argv [i + 1];
        else if (strcmp (argv [i], "--max-seconds") == 0)
            max_seconds = atof (argv [i + 1]);
    }
    if (port <= 0)
        bench_fail ("relay-server: --port P is required");
    signal (SIGTERM, s_on_signal);
    signal (SIGINT, s_on_signal);
    void *ctx = zmq_ctx_new ();
    void *router = zmq_socket (ctx, ZMQ_ROUTER);
    void *xpub = zmq_socket (ctx, ZMQ_XPUB);
    int zero = 0, one = 1, hwm = 100000;   //  as the PyChat broker's XPUB
    int backlog = PC_BACKLOG;
    zmq_setsockopt (xpub, ZMQ_SNDHWM, &hwm, sizeof (hwm));
    zmq_setsockopt (router, ZMQ_LINGER, &zero, sizeof (zero));
    zmq_setsockopt (xpub, ZMQ_LINGER, &zero, sizeof (zero));
    //  As the PyChat broker's (PC_BACKLOG): libzmq's 100 drops SYNs when
    //  thousands connect
    zmq_setsockopt (router, ZMQ_BACKLOG, &backlog, sizeof (backlog));
    zmq_setsockopt (xpub, ZMQ_BACKLOG, &backlog, sizeof (backlog));
    if (keyfile) {
        char public_key [41], secret_key [41];
        zmq_curve_keypair (public_key, secret_key);
        FILE *file = fopen (keyfile, "w");
        if (!file)
            bench_fail ("relay-server: cannot write %s", keyfile);
        fprintf (file, "%s\n", public_key);
        fclose (file);
        void *both [2] = { router, xpub };
        for (int i = 0; i < 2; i++) {
            zmq_setsockopt (both [i], ZMQ_CURVE_SERVER, &one, sizeof (one));
            zmq_setsockopt (both [i], ZMQ_CURVE_SECRETKEY, secret_key, 40);
        }
    }
    char endpoint [64];
    snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", port);
    if (zmq_bind (router, endpoint))
        bench_fail ("relay-server: bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
    snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", port + 1);
    if (zmq_bind (xpub, endpoint))
        bench_fail ("relay-server: bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
    zmq_pollitem_t items [2] = { { router, 0, ZMQ_POLLIN, 0 }, { xpub, 0, ZMQ_POLLIN, 0 } };
    int64_t end = bench_now_ns () + (int64_t) (max_seconds * 1e9);
    zmq_msg_t rid, topic, payload, sub;
    zmq_msg_init (&rid);
    zmq_msg_init (&topic);
    zmq_msg_init (&payload);
    zmq_msg_init (&sub);
    while (!s_stop && bench_now_ns () < end) {
        if (zmq_poll (items, 2, 500) <= 0)
            continue;
        if (items [1].revents & ZMQ_POLLIN)
            for (int i = 0; i < 1000 && zmq_msg_recv (&sub, xpub, ZMQ_DONTWAIT) != -1; i++)
                ;
        if (!(items [0].revents & ZMQ_POLLIN))
            continue;
        for (int i = 0; i < 1000; i++) {
            if (zmq_msg_recv (&rid, router, ZMQ_DONTWAIT) == -1)
                break;
            if (!zmq_msg_more (&rid) || zmq_msg_recv (&topic, router, 0) == -1)
                continue;
            if (!zmq_msg_more (&topic) || zmq_msg_recv (&payload, router, 0) == -1)
                continue;
            while (zmq_msg_more (&payload))         //  ignore extra frames
                zmq_msg_recv (&payload, router, 0);
            zmq_msg_send (&topic, xpub, ZMQ_SNDMORE);
            zmq_msg_send (&payload, xpub, 0);
            zmq_msg_send (&rid, router, ZMQ_SNDMORE);
            zmq_send (router, "K", 1, 0);
        }
    }
    zmq_msg_close (&rid);
    zmq_msg_close (&topic);
    zmq_msg_close (&payload);
    zmq_msg_close (&sub);
    zmq_close (router);
    zmq_close (xpub);
    zmq_ctx_term (ctx);
    return 0;
}

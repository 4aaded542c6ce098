//  pcbench.c: the load generator: workloads A (throughput), B (latency at a
//  fixed rate), C (server footprint with idle clients) and D (many users in
//  rooms of Zipf-distributed sizes, some DMs, at a steady rate) against one
//  system, one JSON object per result line on stdout (bench/run collects
//  them). Everything runs in this one thread: one publisher and S
//  subscribers multiplexed with poll (zmq_poll for ZeroMQ systems).
//
//  pcbench SYSTEM [options]       SYSTEM: pychat zmq relay relay-curve
//                                 redis redis-tls mqtt mqtt-tls nats nats-tls
//  pcbench relay-server ...       the minimal ROUTER->XPUB relay (bench_zmq.c)
#include "bench.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define ACK_WINDOW      1000        //  A: sent but not yet confirmed by the server
#define LAG_WINDOW      1000        //  A: sent but not yet seen by the average subscriber
                                    //  (= libzmq's default HWM: no system is driven into
                                    //  drops by the generator alone)
#define HIST_MAX_US     1000000     //  latency histogram: 1 us buckets up to 1 s
#define DRAIN_IDLE_NS   500000000LL //  end of a run: 0.5 s without a delivery
#define DRAIN_MAX_NS    3000000000LL

//  Per-run delivery statistics
static struct {
    int       subs;
    uint64_t *received;         //  per subscriber
    uint64_t *last_seq;         //  per subscriber: highest sequence seen
    uint64_t  sum_last;         //  sum of last_seq, for the average lag
    uint64_t  delivered;
    int64_t   last_delivery_ns;
    bool      measure_latency;
    uint32_t *hist;             //  HIST_MAX_US + 1 buckets
    uint64_t  samples;
} s_stats;

//  D: one planned message. Deliveries are checked against the plan: a DM
//  counts only at its recipient (PyChat also sends the sender a copy, for
//  the sender's other devices; the peers have no such copy).
typedef struct {
    int64_t  at_ns;             //  intended send time, from the start
    int      sender;
    int      room;              //  -1: a DM
    int      to;                //  a DM's recipient
} planned_t;

static struct {
    planned_t *msgs;            //  [count]: message seq is msgs [seq - 1]
    uint64_t   count;
    uint64_t   ignored;         //  deliveries that are not the plan's (a DM's copy)
} s_d;

int64_t
bench_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
bench_fail (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "pcbench: ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
    fflush (stdout);
    _exit (1);          //  not exit(): czmq's atexit would wait for open sockets
}

long
bench_rss_kb (int pid)
{
    char path [64], line [256];
    snprintf (path, sizeof (path), "/proc/%d/status", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    long kb = -1;
    while (fgets (line, sizeof (line), file))
        if (strncmp (line, "VmRSS:", 6) == 0) {
            kb = strtol (line + 6, NULL, 10);
            break;
        }
    fclose (file);
    return kb;
}

//  Each run stamps its id into bytes 32..39 of the payload: a message still
//  queued somewhere from an earlier run (a broker backlog) is not counted.
static uint32_t s_run_id;

static uint64_t
s_hexn (const char *text, int digits)
{
    uint64_t value = 0;
    for (int i = 0; i < digits; i++) {
        char c = text [i];
        value = (value << 4) | (uint64_t) (c <= '9'? c - '0': c - 'a' + 10);
    }
    return value;
}

static uint64_t
s_hex (const char *text)
{
    return s_hexn (text, 16);
}

static void
s_payload (char *payload, uint64_t seq, int64_t ts)
{
    static const char digits [] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, seq >>= 4)
        payload [i] = digits [seq & 15];
    uint64_t t = (uint64_t) ts;
    for (int i = 31; i >= 16; i--, t >>= 4)
        payload [i] = digits [t & 15];
    uint32_t run = s_run_id;
    for (int i = 39; i >= 32; i--, run >>= 4)
        payload [i] = digits [run & 15];
    memset (payload + 40, 'x', BENCH_PAYLOAD - 40);
}

//  Every driver calls this for every message a subscriber receives.
//  Sequence 0 is a probe (drivers use it to learn that a subscription is
//  in effect); it is not counted.
void
bench_deliver (int sub, const char *payload, size_t size)
{
    if (size < 40 || sub < 0 || sub >= s_stats.subs)
        return;
    uint64_t seq = s_hex (payload);
    if (seq == 0 || s_hexn (payload + 32, 8) != s_run_id)
        return;
    if (s_d.msgs) {
        if (seq > s_d.count)
            return;
        planned_t *planned = &s_d.msgs [seq - 1];
        if (planned->room < 0 && planned->to != sub) {
            s_d.ignored++;
            return;
        }
    }
    int64_t now = bench_now_ns ();
    s_stats.received [sub]++;
    if (seq > s_stats.last_seq [sub]) {
        s_stats.sum_last += seq - s_stats.last_seq [sub];
        s_stats.last_seq [sub] = seq;
    }
    s_stats.delivered++;
    s_stats.last_delivery_ns = now;
    if (s_stats.measure_latency) {
        int64_t us = (now - (int64_t) s_hex (payload + 16)) / 1000;
        if (us < 0)
            us = 0;
        if (us > HIST_MAX_US)
            us = HIST_MAX_US;
        s_stats.hist [us]++;
        s_stats.samples++;
    }
}

static void
s_stats_reset (int subs)
{
    s_run_id++;
    free (s_stats.received);
    free (s_stats.last_seq);
    s_stats.subs = subs;
    s_stats.received = (uint64_t *) calloc ((size_t) subs + 1, sizeof (uint64_t));
    s_stats.last_seq = (uint64_t *) calloc ((size_t) subs + 1, sizeof (uint64_t));
    s_stats.sum_last = 0;
    s_stats.delivered = 0;
    s_stats.last_delivery_ns = 0;
    s_stats.measure_latency = false;
    if (!s_stats.hist)
        s_stats.hist = (uint32_t *) calloc (HIST_MAX_US + 1, sizeof (uint32_t));
    memset (s_stats.hist, 0, (HIST_MAX_US + 1) * sizeof (uint32_t));
    s_stats.samples = 0;
}

static double
s_percentile (double fraction)
{
    if (!s_stats.samples)
        return -1;
    uint64_t rank = (uint64_t) (fraction * (double) s_stats.samples);
    if (rank >= s_stats.samples)
        rank = s_stats.samples - 1;
    uint64_t seen = 0;
    for (int us = 0; us <= HIST_MAX_US; us++) {
        seen += s_stats.hist [us];
        if (seen > rank)
            return us;
    }
    return HIST_MAX_US;
}

static void
s_idle_pump (bench_driver_t *driver, int timeout_ms)
{
    driver->pump (driver, timeout_ms);
    if (strcmp (driver->system, "pychat") == 0)
        bench_pychat_keepalive ();
}

//  After publishing stopped: pump until every subscriber has every message,
//  or nothing arrived for DRAIN_IDLE_NS, bounded by DRAIN_MAX_NS.
static void
s_drain (bench_driver_t *driver, uint64_t expected)
{
    int64_t start = bench_now_ns ();
    int64_t last = start;
    uint64_t seen = s_stats.delivered;
    while (s_stats.delivered < expected) {
        int64_t now = bench_now_ns ();
        if (now - start > DRAIN_MAX_NS || now - last > DRAIN_IDLE_NS)
            break;
        s_idle_pump (driver, 5);
        if (s_stats.delivered != seen) {
            seen = s_stats.delivered;
            last = bench_now_ns ();
        }
    }
}

static void
s_json_num (const char *name, double value, bool valid, bool last)
{
    if (valid)
        printf ("\"%s\": %.6g%s", name, value, last? "": ", ");
    else
        printf ("\"%s\": null%s", name, last? "": ", ");
}

typedef struct {
    const char *workload;
    int    subscribers;
    double rate;                bool has_rate;
    double deliveries_per_s;    bool has_deliveries;
    double drops;               bool has_drops;
    double p50, p99, p999;      bool has_latency;
    double bytes_per_client;    bool has_bytes;
    double logins_per_s;        bool has_logins;
    double sent;
    double seconds;
    int    rounds;              //  B: figures are medians over this many rounds
    //  D only
    int    rooms;
    double dms, expected, cpu_s, cpu_per_1k, rss_kb;
    bool   has_cpu;
} result_t;

static void
s_emit (bench_opts_t *opts, result_t *r)
{
    printf ("{\"system\": \"%s\", \"workload\": \"%s\", \"subscribers\": %d, ",
            opts->system, r->workload, r->subscribers);
    s_json_num ("rate", r->rate, r->has_rate, false);
    s_json_num ("deliveries_per_s", r->deliveries_per_s, r->has_deliveries, false);
    s_json_num ("drops", r->drops, r->has_drops, false);
    s_json_num ("p50_us", r->p50, r->has_latency, false);
    s_json_num ("p99_us", r->p99, r->has_latency, false);
    s_json_num ("p999_us", r->p999, r->has_latency, false);
    s_json_num ("bytes_per_client", r->bytes_per_client, r->has_bytes, false);
    s_json_num ("logins_per_s", r->logins_per_s, r->has_logins, false);
    s_json_num ("sent", r->sent, r->workload [0] != 'C', false);
    if (r->rounds > 0)
        printf ("\"rounds\": %d, ", r->rounds);
    if (r->workload [0] == 'D') {
        printf ("\"rooms\": %d, ", r->rooms);
        s_json_num ("dms", r->dms, true, false);
        s_json_num ("expected", r->expected, true, false);
        s_json_num ("cpu_s", r->cpu_s, r->has_cpu, false);
        s_json_num ("cpu_s_per_1k", r->cpu_per_1k, r->has_cpu, false);
        s_json_num ("rss_kb", r->rss_kb, r->rss_kb > 0, false);
    }
    s_json_num ("seconds", r->seconds, true, true);
    printf ("}\n");
    fflush (stdout);
}

static bench_driver_t *
s_driver_new (bench_opts_t *opts, int subs, const char *room)
{
    const char *system = opts->system;
    if (strcmp (system, "pychat") == 0)
        return bench_pychat_new (opts, subs, room);
    if (strncmp (system, "zmq", 3) == 0 || strncmp (system, "relay", 5) == 0)
        return bench_zmq_new (opts, subs);
    return bench_sock_new (opts, subs);
}

//  A: as fast as the server confirms, bounded by ACK_WINDOW unconfirmed and
//  LAG_WINDOW ahead of the average subscriber, for dur seconds.
static void
s_run_a (bench_opts_t *opts, int subs)
{
    char room [32];
    snprintf (room, sizeof (room), "a%d", subs);
    bench_driver_t *driver = s_driver_new (opts, subs, room);
    s_stats_reset (subs);
    char payload [BENCH_PAYLOAD];
    uint64_t sent = 0;
    int64_t start = bench_now_ns ();
    int64_t end = start + (int64_t) (opts->dur_a * 1e9);
    while (bench_now_ns () < end) {
        bool blocked = false;
        for (int burst = 0; burst < 64; burst++) {
            if (sent - driver->acked >= ACK_WINDOW
            ||  sent * (uint64_t) subs - s_stats.sum_last >= (uint64_t) LAG_WINDOW * subs) {
                blocked = true;
                break;
            }
            s_payload (payload, sent + 1, bench_now_ns ());
            if (driver->publish (driver, payload, BENCH_PAYLOAD) == -1) {
                blocked = true;
                break;
            }
            sent++;
        }
        s_idle_pump (driver, blocked? 1: 0);
    }
    s_drain (driver, sent * (uint64_t) subs);
    double seconds = (double) ((s_stats.last_delivery_ns? s_stats.last_delivery_ns: end) - start) / 1e9;
    result_t r = { .workload = "A", .subscribers = subs };
    r.has_deliveries = r.has_drops = true;
    r.deliveries_per_s = seconds > 0? (double) s_stats.delivered / seconds: 0;
    r.drops = (double) sent * subs - (double) s_stats.delivered;
    r.sent = (double) sent;
    r.seconds = seconds;
    s_emit (opts, &r);
    driver->destroy (&driver);
}

//  B: one publisher at a fixed rate; the payload carries the intended send
//  time, so a late send counts against the system (no coordinated omission).
static result_t
s_run_b_round (bench_opts_t *opts, int subs, int rate, int round)
{
    char room [32];
    snprintf (room, sizeof (room), "b%d-%d-%d", subs, rate, round);
    bench_driver_t *driver = s_driver_new (opts, subs, room);
    s_stats_reset (subs);
    s_stats.measure_latency = true;
    char payload [BENCH_PAYLOAD];
    uint64_t total = (uint64_t) (opts->dur_b * rate);
    int64_t interval = 1000000000LL / rate;
    uint64_t sent = 0;
    int64_t start = bench_now_ns () + 1000000;
    int64_t end = start + (int64_t) (opts->dur_b * 1e9) + 1000000000LL;
    while (sent < total && bench_now_ns () < end) {
        int64_t next = start + (int64_t) sent * interval;
        int64_t now = bench_now_ns ();
        while (now >= next && sent < total) {
            s_payload (payload, sent + 1, next);
            if (driver->publish (driver, payload, BENCH_PAYLOAD) == -1)
                break;
            sent++;
            next = start + (int64_t) sent * interval;
        }
        if (next - bench_now_ns () > 1500000)
            s_idle_pump (driver, 1);
        else {
            s_idle_pump (driver, 0);
            struct timespec nap = { 0, 20000 };
            nanosleep (&nap, NULL);
        }
    }
    s_drain (driver, sent * (uint64_t) subs);
    result_t r = { .workload = "B", .subscribers = subs, .rate = rate, .has_rate = true };
    double seconds = (double) (bench_now_ns () - start) / 1e9;
    r.has_deliveries = r.has_drops = r.has_latency = true;
    r.deliveries_per_s = (double) s_stats.delivered / opts->dur_b;
    r.drops = (double) sent * subs - (double) s_stats.delivered;
    r.p50 = s_percentile (0.50);
    r.p99 = s_percentile (0.99);
    r.p999 = s_percentile (0.999);
    r.has_latency = s_stats.samples > 0;
    r.sent = (double) sent;
    r.seconds = seconds;
    driver->destroy (&driver);
    fprintf (stderr, "pcbench: %s B %d/s round %d: p50 %.0f p99 %.0f p99.9 %.0f us, %.0f drops\n",
             opts->system, rate, round + 1, r.p50, r.p99, r.p999, r.drops);
    return r;
}

static int
s_compare_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

//  The median of n values (n <= 16), by field offset into result_t.
static double
s_median (result_t *rounds, int n, size_t field)
{
    double values [16];
    for (int i = 0; i < n; i++)
        values [i] = *(double *) ((char *) &rounds [i] + field);
    qsort (values, (size_t) n, sizeof (double), s_compare_double);
    return n % 2? values [n / 2]: (values [n / 2 - 1] + values [n / 2]) / 2;
}

//  B in rounds (a fresh room each): latency tails on 2 shared cores vary
//  from run to run, so each figure is the median over the rounds; drops
//  and messages sent are summed.
static void
s_run_b (bench_opts_t *opts, int subs, int rate)
{
    result_t rounds [16];
    int n = opts->rounds_b < 1? 1: opts->rounds_b > 16? 16: opts->rounds_b;
    for (int i = 0; i < n; i++)
        rounds [i] = s_run_b_round (opts, subs, rate, i);
    result_t r = rounds [0];
    r.p50 = s_median (rounds, n, offsetof (result_t, p50));
    r.p99 = s_median (rounds, n, offsetof (result_t, p99));
    r.p999 = s_median (rounds, n, offsetof (result_t, p999));
    r.deliveries_per_s = s_median (rounds, n, offsetof (result_t, deliveries_per_s));
    r.drops = r.sent = r.seconds = 0;
    for (int i = 0; i < n; i++) {
        r.has_latency = r.has_latency && rounds [i].has_latency;
        r.drops += rounds [i].drops;
        r.sent += rounds [i].sent;
        r.seconds += rounds [i].seconds;
    }
    r.rounds = n;
    s_emit (opts, &r);
}

//  --------------------------------------------------------------------------
//  D: a realistic chat load. The seed makes the world and the schedule, so
//  every system gets the identical plan:
//  - room of rank k (1..R) has min(U, max(2, round(U / k^s))) members (Zipf's
//    rank-size law: one room of everybody, a few big ones, a long tail of
//    small ones), drawn at random from the U users;
//  - every user also listens on its own inbox (NATS subject inbox.U, Redis
//    channel inbox:U; PyChat delivers DMs to the user's session topic);
//  - messages arrive as a Poisson process of the total rate; with
//    probability dm_share a message is a DM (512 bytes, the size of a
//    sealed box) from a user drawn uniformly to another, else a 128-byte
//    text to a room drawn with weight sqrt(members), from one of its
//    members drawn uniformly: a big room is busier than a small one, but
//    each of its members speaks less (a room of everybody that took a
//    share of the traffic in proportion to its size would be a broadcast
//    channel, and would make D workload A again);
//  - every member of the room, the sender included, should get a room
//    message (every system here echoes to a subscribed sender); a DM its
//    recipient. The payload carries the intended send time: latency is from
//    when the message was due, not from when the generator got to it.

static uint64_t s_rng;

static uint64_t
s_random (void)
{
    //  splitmix64: one well-mixed 64-bit value per call
    uint64_t z = (s_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int
s_random_below (int n)
{
    return (int) (s_random () % (uint64_t) n);
}

static double
s_random_unit (void)             //  (0, 1]
{
    return ((double) (s_random () >> 11) + 1.0) / 9007199254740992.0;
}

static bench_plan_t *
s_plan_new (bench_opts_t *opts)
{
    int users = opts->d_users, rooms = opts->d_rooms;
    bench_plan_t *plan = (bench_plan_t *) calloc (1, sizeof (bench_plan_t));
    plan->users = users;
    plan->rooms = rooms;
    plan->room_size = (int *) calloc ((size_t) rooms, sizeof (int));
    plan->room_first = (int *) calloc ((size_t) rooms, sizeof (int));
    plan->user_nrooms = (int *) calloc ((size_t) users, sizeof (int));
    plan->user_first = (int *) calloc ((size_t) users, sizeof (int));
    int total = 0;
    for (int r = 0; r < rooms; r++) {
        int size = (int) lround ((double) users / pow (r + 1, opts->d_zipf));
        plan->room_size [r] = size < 2? 2: size > users? users: size;
        plan->room_first [r] = total;
        total += plan->room_size [r];
    }
    //  Room 0 (rank 1) has everybody: no user is without a room
    assert (plan->room_size [0] == users);
    plan->members = (int *) calloc ((size_t) total, sizeof (int));
    int *deck = (int *) calloc ((size_t) users, sizeof (int));
    for (int r = 0; r < rooms; r++) {
        for (int u = 0; u < users; u++)
            deck [u] = u;
        for (int i = 0; i < plan->room_size [r]; i++) {     //  partial Fisher-Yates
            int j = i + s_random_below (users - i);
            int t = deck [i]; deck [i] = deck [j]; deck [j] = t;
            plan->members [plan->room_first [r] + i] = deck [i];
            plan->user_nrooms [deck [i]]++;
        }
    }
    free (deck);
    //  Each user's rooms, from the members lists
    int sum = 0;
    for (int u = 0; u < users; u++) {
        plan->user_first [u] = sum;
        sum += plan->user_nrooms [u];
    }
    plan->user_rooms = (int *) calloc ((size_t) sum + 1, sizeof (int));
    int *fill = (int *) calloc ((size_t) users, sizeof (int));
    for (int r = 0; r < rooms; r++)
        for (int i = 0; i < plan->room_size [r]; i++) {
            int u = plan->members [plan->room_first [r] + i];
            plan->user_rooms [plan->user_first [u] + fill [u]++] = r;
        }
    free (fill);
    return plan;
}

static void
s_plan_destroy (bench_plan_t **plan_p)
{
    bench_plan_t *plan = *plan_p;
    if (plan) {
        free (plan->room_size);
        free (plan->room_first);
        free (plan->members);
        free (plan->user_nrooms);
        free (plan->user_first);
        free (plan->user_rooms);
        free (plan);
        *plan_p = NULL;
    }
}

//  utime + stime of pid, in seconds; -1 if it cannot be read.
static double
s_cpu_seconds (int pid)
{
    char path [64], line [1024];
    snprintf (path, sizeof (path), "/proc/%d/stat", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    size_t got = fread (line, 1, sizeof (line) - 1, file);
    fclose (file);
    line [got] = 0;
    //  Fields after the command name (which may hold spaces): state is
    //  field 3, utime 14, stime 15.
    char *p = strrchr (line, ')');
    unsigned long utime = 0, stime = 0;
    if (!p || sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                      &utime, &stime) != 2)
        return -1;
    return (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
}

static double
s_server_cpu (bench_opts_t *opts)
{
    double sum = 0;
    for (int i = 0; i < opts->ncpu_pids; i++) {
        double seconds = s_cpu_seconds (opts->cpu_pids [i]);
        if (seconds < 0)
            return -1;
        sum += seconds;
    }
    return opts->ncpu_pids? sum: -1;
}

//  The schedule: count messages (seq i + 1 is msgs [i]), and what each
//  user should receive (expected [user]); returns the DMs among them.
static uint64_t
s_schedule (bench_opts_t *opts, const bench_plan_t *plan, planned_t *msgs, uint64_t count,
            uint64_t *expected)
{
    uint64_t dms = 0;
    double *weight = (double *) calloc ((size_t) plan->rooms, sizeof (double));
    for (int r = 0; r < plan->rooms; r++)       //  cumulative sqrt(members)
        weight [r] = (r? weight [r - 1]: 0) + sqrt ((double) plan->room_size [r]);
    double at = 0;
    for (uint64_t i = 0; i < count; i++) {
        at += -log (s_random_unit ()) / opts->d_rate;       //  Poisson arrivals
        planned_t *m = &msgs [i];
        m->at_ns = (int64_t) (at * 1e9);
        if (s_random_unit () <= opts->d_dm_share) {
            m->sender = s_random_below (plan->users);
            m->room = -1;
            m->to = (m->sender + 1 + s_random_below (plan->users - 1)) % plan->users;
            expected [m->to]++;
            dms++;
            continue;
        }
        //  The room: the first whose cumulative weight reaches x
        double x = s_random_unit () * weight [plan->rooms - 1];
        int low = 0, high = plan->rooms - 1;
        while (low < high) {
            int mid = (low + high) / 2;
            if (weight [mid] >= x)
                high = mid;
            else
                low = mid + 1;
        }
        m->room = low;
        m->sender = plan->members [plan->room_first [low] + s_random_below (plan->room_size [low])];
        for (int k = 0; k < plan->room_size [low]; k++)
            expected [plan->members [plan->room_first [low] + k]]++;
    }
    free (weight);
    return dms;
}

//  Sends the schedule on time (a message late because the generator was
//  busy still carries its intended time), pumping between sends. Returns
//  the messages sent: fewer than count if it fell 5 s behind.
static uint64_t
s_send_schedule (bench_driver_t *driver, const planned_t *msgs, uint64_t count, double seconds)
{
    char payload [BENCH_DM_PAYLOAD];
    static const char alphabet [] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint64_t sent = 0;
    int64_t start = bench_now_ns () + 10000000;
    int64_t end = start + (int64_t) (seconds * 1e9) + 5000000000LL;
    while (sent < count && bench_now_ns () < end) {
        int64_t now = bench_now_ns ();
        while (sent < count && start + msgs [sent].at_ns <= now) {
            const planned_t *m = &msgs [sent];
            size_t size = m->room < 0? BENCH_DM_PAYLOAD: BENCH_PAYLOAD;
            s_payload (payload, sent + 1, start + m->at_ns);
            for (size_t i = 40; i < size; i++)     //  a box is base64: printable
                payload [i] = alphabet [(sent + i) & 63];
            if (driver->post (driver, m->sender, m->room, m->to, payload, size) == -1)
                break;
            sent++;
        }
        int64_t next = sent < count? start + msgs [sent].at_ns: end;
        int64_t gap = next - bench_now_ns ();
        if (gap > 1500000)
            s_idle_pump (driver, 1);
        else {
            //  No busy loop (2 shared cores): a pass over every socket,
            //  then a nap of at most 250 us, less if a send is due sooner
            s_idle_pump (driver, 0);
            gap = next - bench_now_ns ();
            if (gap > 0) {
                struct timespec nap = { 0, gap < 250000? (long) gap: 250000 };
                nanosleep (&nap, NULL);
            }
        }
    }
    return sent;
}

static double
s_own_cpu (void)
{
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    return (double) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
         + (double) (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static void
s_run_d (bench_opts_t *opts)
{
    s_rng = opts->d_seed;
    bench_plan_t *plan = s_plan_new (opts);
    uint64_t count = (uint64_t) (opts->d_rate * opts->d_dur);
    planned_t *msgs = (planned_t *) calloc ((size_t) count + 1, sizeof (planned_t));
    uint64_t *expected = (uint64_t *) calloc ((size_t) plan->users, sizeof (uint64_t));
    uint64_t dms = s_schedule (opts, plan, msgs, count, expected);
    uint64_t expected_total = 0;
    for (int u = 0; u < plan->users; u++)
        expected_total += expected [u];
    int memberships = 0;
    for (int r = 0; r < plan->rooms; r++)
        memberships += plan->room_size [r];
    fprintf (stderr, "pcbench: %s D: %d users, %d rooms (%d..%d members, %d memberships), "
             "%" PRIu64 " messages (%" PRIu64 " DMs) in %.0f s, %" PRIu64 " deliveries expected\n",
             opts->system, plan->users, plan->rooms, plan->room_size [plan->rooms - 1],
             plan->room_size [0], memberships, count, dms, opts->d_dur, expected_total);

    int64_t setup = bench_now_ns ();
    bench_driver_t *driver = strcmp (opts->system, "pychat") == 0
                           ? bench_pychat_d_new (opts, plan)
                           : bench_sock_d_new (opts, plan);
    fprintf (stderr, "pcbench: %s D: set up in %.1f s\n", opts->system,
             (double) (bench_now_ns () - setup) / 1e9);
    s_stats_reset (plan->users);
    s_stats.measure_latency = true;
    s_d.msgs = msgs;
    s_d.count = count;
    s_d.ignored = 0;

    double cpu_before = s_server_cpu (opts), own_before = s_own_cpu ();
    double each_before [8];
    for (int i = 0; i < opts->ncpu_pids; i++)
        each_before [i] = s_cpu_seconds (opts->cpu_pids [i]);
    uint64_t sent = s_send_schedule (driver, msgs, count, opts->d_dur);
    uint64_t planned = 0;
    for (uint64_t i = 0; i < sent; i++)
        planned += msgs [i].room < 0? 1: (uint64_t) plan->room_size [msgs [i].room];
    s_drain (driver, planned);
    double cpu_after = s_server_cpu (opts), own_cpu = s_own_cpu () - own_before;
    long rss = 0;
    for (int i = 0; i < opts->ncpu_pids; i++) {
        long kb = bench_rss_kb (opts->cpu_pids [i]);
        rss = kb < 0 || rss < 0? -1: rss + kb;
    }
    //  Drops: what a user should have got and did not (unsent messages
    //  count: the generator fell behind); duplicates beyond the plan show.
    uint64_t drops = 0, extra = 0;
    for (int u = 0; u < plan->users; u++) {
        if (s_stats.received [u] < expected [u])
            drops += expected [u] - s_stats.received [u];
        else
            extra += s_stats.received [u] - expected [u];
    }
    result_t r = { .workload = "D", .subscribers = plan->users, .rate = opts->d_rate,
                   .has_rate = true, .has_deliveries = true, .has_drops = true };
    r.deliveries_per_s = (double) s_stats.delivered / opts->d_dur;
    r.drops = (double) drops;
    r.has_latency = s_stats.samples > 0;
    r.p50 = s_percentile (0.50);
    r.p99 = s_percentile (0.99);
    r.p999 = s_percentile (0.999);
    r.sent = (double) sent;
    r.seconds = opts->d_dur;
    r.rooms = plan->rooms;
    r.dms = (double) dms;
    r.expected = (double) expected_total;
    r.has_cpu = cpu_before >= 0 && cpu_after >= 0 && s_stats.delivered > 0;
    r.cpu_s = cpu_after - cpu_before;
    r.cpu_per_1k = s_stats.delivered? r.cpu_s * 1000 / (double) s_stats.delivered: 0;
    r.rss_kb = (double) rss;
    fprintf (stderr, "pcbench: %s D: %" PRIu64 " of %" PRIu64 " messages sent, %" PRIu64
             " of %" PRIu64 " deliveries (%" PRIu64 " missing, %" PRIu64 " beyond the plan, %"
             PRIu64 " DM copies to senders ignored); p50 %.0f p99 %.0f p99.9 %.0f us; "
             "server CPU %.2f s (%.4f s per 1,000 deliveries), VmRSS %ld kB; "
             "this generator's CPU %.2f s\n",
             opts->system, sent, count, s_stats.delivered, expected_total, drops, extra,
             s_d.ignored, r.p50, r.p99, r.p999, r.cpu_s, r.cpu_per_1k, rss, own_cpu);
    for (int i = 0; i < opts->ncpu_pids; i++)
        fprintf (stderr, "pcbench: %s D: server process %d: %.2f s CPU, VmRSS %ld kB\n",
                 opts->system, opts->cpu_pids [i],
                 s_cpu_seconds (opts->cpu_pids [i]) - each_before [i],
                 bench_rss_kb (opts->cpu_pids [i]));
    s_emit (opts, &r);
    s_d.msgs = NULL;
    s_d.count = 0;
    driver->destroy (&driver);
    free (msgs);
    free (expected);
    s_plan_destroy (&plan);
}

//  C: the server's VmRSS before and after `idle` clients connect and
//  subscribe (PyChat: log in, join a room, subscribe).
static void
s_run_c (bench_opts_t *opts)
{
    if (opts->server_pid <= 0 || opts->idle <= 0)
        return;
    long before = bench_rss_kb (opts->server_pid);
    int64_t start = bench_now_ns ();
    bench_driver_t *driver = NULL;
    double logins = 0, registers = 0;
    result_t r = { .workload = "C", .subscribers = opts->idle };
    if (strcmp (opts->system, "pychat") == 0) {
        //  The pool logs everybody in (measuring logins/s); the driver
        //  then joins the idle room and subscribes.
        if (bench_pychat_pool (opts, &logins, &registers))
            bench_fail ("pychat: could not log the users in");
        driver = bench_pychat_new (opts, opts->idle - 1, "idle");
    }
    else {
        driver = s_driver_new (opts, opts->idle, NULL);
        if (strncmp (opts->system, "relay", 5) == 0 && bench_zmq_pairs (driver, opts))
            bench_fail ("%s: not every client's message was acknowledged", opts->system);
    }
    double seconds = (double) (bench_now_ns () - start) / 1e9;
    s_stats_reset (opts->idle);
    for (int i = 0; i < 100; i++)
        s_idle_pump (driver, 10);
    long after = bench_rss_kb (opts->server_pid);
    r.has_bytes = before > 0 && after > 0;
    r.bytes_per_client = (double) (after - before) * 1024.0 / opts->idle;
    r.has_logins = true;
    r.logins_per_s = logins > 0? logins: opts->idle / seconds;
    r.seconds = seconds;
    fprintf (stderr, "pcbench: %s C: VmRSS %ld kB -> %ld kB with %d clients%s\n",
             opts->system, before, after, opts->idle,
             registers > 0? "": " (logins_per_s = connects+subscribes per s)");
    if (registers > 0)
        fprintf (stderr, "pcbench: pychat: %.1f registers/s, %.1f logins/s\n", registers, logins);
    s_emit (opts, &r);
    driver->destroy (&driver);
}

//  C at the descriptor limit: one process cannot hold ~9,000 clients (each
//  ZeroMQ socket costs a TCP descriptor and a mailbox descriptor), so
//  bench/run --c-max starts several, measures the server's RSS itself and
//  asks each to hold `hold` idle clients: PyChat users logged in, in the
//  idle room and subscribed; relay clients with a DEALER and a SUB that
//  have carried a message each. Prints {"held": N, ...} once they are all
//  up, then keeps them alive until its standard input closes (or 30 min).
static void
s_run_hold (bench_opts_t *opts)
{
    int64_t start = bench_now_ns ();
    bench_driver_t *driver = NULL;
    double logins = 0, registers = 0;
    if (strcmp (opts->system, "pychat") == 0) {
        opts->users = opts->hold;
        if (bench_pychat_pool (opts, &logins, &registers))
            bench_fail ("pychat: could not log the users in");
        driver = bench_pychat_new (opts, opts->hold - 1, "idle");
    }
    else {
        driver = s_driver_new (opts, opts->hold, NULL);
        if (bench_zmq_pairs (driver, opts))
            bench_fail ("%s: not every client's message was acknowledged", opts->system);
    }
    double seconds = (double) (bench_now_ns () - start) / 1e9;
    printf ("{\"held\": %d, \"logins_per_s\": %.6g, \"seconds\": %.6g}\n",
            opts->hold, logins > 0? logins: opts->hold / seconds, seconds);
    fflush (stdout);
    s_stats_reset (opts->hold);
    int64_t until = bench_now_ns () + 1800LL * 1000000000LL;
    while (bench_now_ns () < until) {
        struct pollfd input = { .fd = 0, .events = POLLIN };
        if (poll (&input, 1, 0) == 1) {
            char byte;
            if (read (0, &byte, 1) <= 0)
                break;              //  closed: bench/run has measured
        }
        s_idle_pump (driver, 100);
    }
    driver->destroy (&driver);
}

static int
s_parse_list (const char *text, int *list, int max)
{
    int count = 0;
    char *copy = strdup (text), *save = NULL;
    for (char *item = strtok_r (copy, ",", &save); item && count < max;
         item = strtok_r (NULL, ",", &save))
        list [count++] = atoi (item);
    free (copy);
    return count;
}

static void
s_usage (void)
{
    fprintf (stderr,
        "usage: pcbench SYSTEM [--port P] [--ca FILE] [--key FILE] [--data DIR] [--pid PID]\n"
        "       [--users N] [--idle N] [--subs-a 1,100] [--rates-b 500,2000] [--subs-b S] [--rounds-b N]\n"
        "       [--hold N [--first K]]     hold N idle clients until stdin closes (bench/run --c-max)\n"
        "       [--auth-window N]          PyChat REGISTERs/LOGINs in flight (16)\n"
        "       [--ports P1,P2,...]        PyChat with several brokers: user i on broker i mod N\n"
        "       [--dur-a SECONDS] [--dur-b SECONDS] [--no-c]\n"
        "       [--d-users U --d-rooms R --d-rate MSG/S --d-dur SECONDS]  workload D (after A, B)\n"
        "       [--d-zipf S] [--d-dms SHARE] [--d-seed N] [--cpu-pids PID,PID]  (1.1, 0.03, 1)\n"
        "SYSTEM: pychat zmq relay relay-curve redis redis-tls mqtt mqtt-tls nats nats-tls\n"
        "       pcbench relay-server --port P [--curve KEYFILE]\n");
    exit (1);
}

int
main (int argc, char **argv)
{
    if (argc < 2)
        s_usage ();
    if (strcmp (argv [1], "relay-server") == 0)
        return bench_relay_main (argc - 1, argv + 1);

    //  Thousands of sockets: lift the descriptor limit to the hard limit.
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
    bench_opts_t opts = {
        .system = argv [1], .host = "127.0.0.1", .users = 101, .idle = 100,
        .subs_b = 100, .dur_a = 3, .dur_b = 5, .rounds_b = 1,
        .d_rooms = 30, .d_rate = 1000, .d_dur = 10, .d_zipf = 1.1, .d_dm_share = 0.03, .d_seed = 1
    };
    opts.nsubs_a = s_parse_list ("1,100", opts.subs_a, 8);
    opts.nrates_b = s_parse_list ("500,2000", opts.rates_b, 8);
    for (int i = 2; i < argc; i++) {
        const char *arg = argv [i];
        const char *value = i + 1 < argc? argv [i + 1]: NULL;
        if (strcmp (arg, "--no-c") == 0) { opts.skip_c = true; continue; }
        if (!value)
            s_usage ();
        i++;
        if      (strcmp (arg, "--port") == 0)    opts.port = atoi (value);
        else if (strcmp (arg, "--ports") == 0) {
            opts.nports = s_parse_list (value, opts.ports, 8);
            opts.port = opts.nports? opts.ports [0]: 0;
        }
        else if (strcmp (arg, "--ca") == 0)      opts.ca = value;
        else if (strcmp (arg, "--key") == 0)     opts.keyfile = value;
        else if (strcmp (arg, "--data") == 0)    opts.data = value;
        else if (strcmp (arg, "--pid") == 0)     opts.server_pid = atoi (value);
        else if (strcmp (arg, "--users") == 0)   opts.users = atoi (value);
        else if (strcmp (arg, "--idle") == 0)    opts.idle = atoi (value);
        else if (strcmp (arg, "--subs-a") == 0)  opts.nsubs_a = s_parse_list (value, opts.subs_a, 8);
        else if (strcmp (arg, "--rates-b") == 0) opts.nrates_b = s_parse_list (value, opts.rates_b, 8);
        else if (strcmp (arg, "--subs-b") == 0)  opts.subs_b = atoi (value);
        else if (strcmp (arg, "--rounds-b") == 0) opts.rounds_b = atoi (value);
        else if (strcmp (arg, "--hold") == 0)    opts.hold = atoi (value);
        else if (strcmp (arg, "--first") == 0)   opts.first = atoi (value);
        else if (strcmp (arg, "--auth-window") == 0) opts.auth_window = atoi (value);
        else if (strcmp (arg, "--dur-a") == 0)   opts.dur_a = atof (value);
        else if (strcmp (arg, "--dur-b") == 0)   opts.dur_b = atof (value);
        else if (strcmp (arg, "--d-users") == 0) opts.d_users = atoi (value);
        else if (strcmp (arg, "--d-rooms") == 0) opts.d_rooms = atoi (value);
        else if (strcmp (arg, "--d-rate") == 0)  opts.d_rate = atoi (value);
        else if (strcmp (arg, "--d-dur") == 0)   opts.d_dur = atof (value);
        else if (strcmp (arg, "--d-zipf") == 0)  opts.d_zipf = atof (value);
        else if (strcmp (arg, "--d-dms") == 0)   opts.d_dm_share = atof (value);
        else if (strcmp (arg, "--d-seed") == 0)  opts.d_seed = (unsigned) strtoul (value, NULL, 10);
        else if (strcmp (arg, "--cpu-pids") == 0) opts.ncpu_pids = s_parse_list (value, opts.cpu_pids, 8);
        else
            s_usage ();
    }
    if (opts.port <= 0 || opts.dur_a <= 0 || opts.dur_a > 60 || opts.dur_b <= 0 || opts.dur_b > 60)
        s_usage ();
    if (opts.d_users && (opts.d_users < 2 || opts.d_rooms < 1 || opts.d_rate < 1
                     ||  opts.d_dur <= 0 || opts.d_dur > 300 || opts.d_zipf < 0
                     ||  opts.d_dm_share < 0 || opts.d_dm_share > 1))
        s_usage ();
    if (opts.ncpu_pids == 0 && opts.server_pid > 0) {
        opts.cpu_pids [0] = opts.server_pid;
        opts.ncpu_pids = 1;
    }
    if (opts.hold > 0) {
        s_run_hold (&opts);
        if (strcmp (opts.system, "pychat") == 0)
            bench_pychat_pool_destroy ();
        return 0;
    }
    //  C first, on a server that has not served A and B yet: after them its
    //  allocator reuses what their connections freed, and the new clients
    //  seem to cost half as much. (PyChat's C also logs the pool in, which
    //  A and B reuse.)
    if (strcmp (opts.system, "pychat") != 0 && !opts.skip_c)
        s_run_c (&opts);
    if (strcmp (opts.system, "pychat") == 0) {
        if (opts.skip_c || opts.idle <= 0) {
            double logins, registers;
            if (bench_pychat_pool (&opts, &logins, &registers))
                bench_fail ("pychat: could not log the users in");
        }
        else
            s_run_c (&opts);
    }
    //  A size of 0 skips that workload (developers' runs: bench/run --set)
    for (int i = 0; i < opts.nsubs_a; i++)
        if (opts.subs_a [i] > 0)
            s_run_a (&opts, opts.subs_a [i]);
    for (int i = 0; i < opts.nrates_b && opts.subs_b > 0; i++)
        s_run_b (&opts, opts.subs_b, opts.rates_b [i]);
    if (opts.d_users > 0)
        s_run_d (&opts);
    if (strcmp (opts.system, "pychat") == 0)
        bench_pychat_pool_destroy ();
    return 0;
}

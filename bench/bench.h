//  bench.h: the load generator's shared parts.
//
//  One workload engine (pcbench.c) drives one "driver" per system: a
//  publisher and S subscribers multiplexed in this one thread. A driver
//  publishes when asked, and its pump() polls every socket once and hands
//  each delivered payload to bench_deliver (). Payloads are 128 bytes:
//  16 hex digits of sequence number, 16 hex digits of CLOCK_MONOTONIC
//  nanoseconds (the intended send time), then padding.
#ifndef BENCH_H_INCLUDED
#define BENCH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_PAYLOAD       128
#define BENCH_DM_PAYLOAD    512     //  D: a DM the size of a sealed box (PROTOCOL.md: a
                                    //  128-byte text for one device each side is ~510 B)
#define BENCH_TOPIC         "bench"

//  Workload D's world, made from a seed so that every system gets the same:
//  which users are in which room. Rooms are numbered 0..rooms-1, users
//  0..users-1; the flat arrays are indexed by room_first / user_first.
typedef struct {
    int      users;
    int      rooms;
    int     *room_size;         //  [rooms]
    int     *room_first;        //  [rooms]: room r's members are members [room_first [r]..]
    int     *members;
    int     *user_nrooms;       //  [users]
    int     *user_first;        //  [users]: user u's rooms are user_rooms [user_first [u]..]
    int     *user_rooms;
} bench_plan_t;

typedef struct _bench_driver_t bench_driver_t;
struct _bench_driver_t {
    const char *system;
    int      subs;
    //  Queue one payload for publishing: 0 queued, -1 busy (try after pump).
    int    (*publish) (bench_driver_t *self, const char *payload, size_t size);
    //  D: user posts payload to room (room >= 0), or a DM to user `to`
    //  (room -1). 0 queued, -1 busy (try after pump). NULL for A/B drivers.
    int    (*post)    (bench_driver_t *self, int user, int room, int to,
                       const char *payload, size_t size);
    //  Polls every socket once (at most timeout_ms) and handles what is ready.
    void   (*pump)    (bench_driver_t *self, int timeout_ms);
    void   (*destroy) (bench_driver_t **self_p);
    //  Messages the server confirmed (ack, reply, or a PING/PONG barrier
    //  behind them). Systems without any ack set acked = sent.
    uint64_t acked;
    void    *state;
};

//  Options of one run, from the command line.
typedef struct {
    const char *system;
    const char *host;
    int      port;
    int      ports [8];         //  PyChat with several brokers: user i on ports [i % nports]
    int      nports;
    const char *ca;             //  CA file: TLS on
    const char *keyfile;        //  relay CURVE public key (Z85) file
    const char *data;           //  PyChat data dir (broker.pub)
    int      server_pid;        //  for VmRSS
    int      users;             //  PyChat: accounts in the pool
    int      idle;              //  C: idle clients
    int      subs_a [8];   int nsubs_a;
    int      rates_b [8];  int nrates_b;
    int      subs_b;
    int      rounds_b;          //  B: rounds per rate, figures are their medians
    double   dur_a;
    double   dur_b;
    bool     skip_c;
    int      hold;              //  C at the descriptor limit: clients this process holds
    int      first;             //  PyChat: the first user's number (bench-FIRST...)
    int      auth_window;       //  PyChat: REGISTERs/LOGINs in flight (default 16)
    int      d_users;           //  D: users (0 skips D), rooms, total msg/s, seconds
    int      d_rooms;
    int      d_rate;
    double   d_dur;
    double   d_zipf;            //  D: room of rank k has users / k^s members
    double   d_dm_share;        //  D: share of messages that are DMs
    unsigned d_seed;
    int      cpu_pids [8];      //  D: the server's processes (CPU, VmRSS)
    int      ncpu_pids;
} bench_opts_t;

//  pcbench.c
int64_t bench_now_ns (void);
void    bench_deliver (int sub, const char *payload, size_t size);
long    bench_rss_kb (int pid);
void    bench_fail (const char *format, ...) __attribute__ ((format (printf, 1, 2), noreturn));

//  bench_sock.c: redis (RESP), MQTT 3.1.1 QoS 0, NATS; optional TLS.
bench_driver_t *bench_sock_new (bench_opts_t *opts, int subs);
//  D: every user's connection(s), subscribed to its rooms and its inbox.
bench_driver_t *bench_sock_d_new (bench_opts_t *opts, const bench_plan_t *plan);
//  bench_zmq.c: bare PUB->SUB, ROUTER->XPUB relay (CURVE or not), and the
//  context and helpers bench_pychat.c shares: the context (idempotent), a
//  Z85 key read from a file, and a pause after every wave of connections.
void    bench_zmq_init (void);
char   *bench_read_key (const char *path);
void    bench_connect_paced (int n);
bench_driver_t *bench_zmq_new (bench_opts_t *opts, int subs);
//  C against the relay: a DEALER per subscriber, each with one message acked.
int bench_zmq_pairs (bench_driver_t *self, bench_opts_t *opts);
int     bench_relay_main (int argc, char **argv);
//  bench_zpoll.c: many ZeroMQ sockets waited on with epoll over their ZMQ_FD,
//  so that a wait costs what the ready sockets cost, not what all of them do.
//  A socket is known by its index (0..capacity-1). wait () gives the indices
//  of the sockets with input (valid until the next wait). A socket read in
//  part, or sent on, is handed back with again (): the next wait asks it
//  before it blocks.
typedef struct _bench_zpoll_t bench_zpoll_t;
bench_zpoll_t *bench_zpoll_new (int capacity);
void    bench_zpoll_add (bench_zpoll_t *self, void *socket, int index);
int     bench_zpoll_wait (bench_zpoll_t *self, int timeout_ms, const int **ready);
void    bench_zpoll_again (bench_zpoll_t *self, int index);
void    bench_zpoll_destroy (bench_zpoll_t **self_p);

//  bench_pychat.c: PyChat: a pool of logged-in users; the drivers borrow
//  from it.
int     bench_pychat_pool (bench_opts_t *opts, double *logins_per_s, double *registers_per_s);
bench_driver_t *bench_pychat_new (bench_opts_t *opts, int subs, const char *room);
//  D: pool users 0..plan->users-1 join their rooms; DMs reach their session.
bench_driver_t *bench_pychat_d_new (bench_opts_t *opts, const bench_plan_t *plan);
void    bench_pychat_keepalive (void);
void    bench_pychat_pool_destroy (void);
#endif

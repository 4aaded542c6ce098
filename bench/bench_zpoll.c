//  bench_zpoll.c: waits on many ZeroMQ sockets at the cost of the ready ones
//  (see bench.h).
//
//  zmq_poll asks every socket it is given for its events on every call: in
//  libzmq a getpid () and a look into the socket's mailbox each, then one
//  poll(2) over all their descriptors. With 100 or 1,000 subscribers in this
//  one thread, called every few microseconds while B waits for its next
//  send, that was most of a core (perf, B at S=100 and 500 msg/s: getpid and
//  poll 40 % of the generator's samples, the generator's main thread 100 %
//  busy), taken from the very server it measures on 2 cores. Here each
//  socket's ZMQ_FD is in one epoll set; only the sockets whose descriptor
//  fired, or that a reader left with input, are asked for their events.
//
//  ZMQ_FD tells that a socket's mailbox has commands, not that it has
//  messages; libzmq's contract is that once ZMQ_EVENTS has said "no input",
//  the next message to arrive makes the descriptor readable, and that a send
//  or receive may take that signal without saying so. So a socket that was
//  read and not asked for its events after, read only in part, or sent on,
//  is handed back (bench_zpoll_again): the next wait asks it before it
//  blocks.
#include "bench.h"

#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <zmq.h>

#define EVENTS_MAX  256

struct _bench_zpoll_t {
    int     epfd;
    int     capacity;
    void  **sockets;            //  [capacity], by index
    bool   *asked;              //  [capacity]: already a candidate this wait
    int    *again;              //  indices handed back with input left
    int     nagain;
    int    *ready;              //  what the last wait found, [capacity]
};

bench_zpoll_t *
bench_zpoll_new (int capacity)
{
    bench_zpoll_t *self = (bench_zpoll_t *) calloc (1, sizeof (bench_zpoll_t));
    self->epfd = epoll_create1 (EPOLL_CLOEXEC);
    if (self->epfd == -1)
        bench_fail ("epoll_create1 failed");
    self->capacity = capacity;
    self->sockets = (void **) calloc ((size_t) capacity, sizeof (void *));
    self->asked = (bool *) calloc ((size_t) capacity, sizeof (bool));
    self->again = (int *) calloc ((size_t) capacity, sizeof (int));
    self->ready = (int *) calloc ((size_t) capacity, sizeof (int));
    return self;
}

void
bench_zpoll_add (bench_zpoll_t *self, void *socket, int index)
{
    if (index < 0 || index >= self->capacity || self->sockets [index])
        bench_fail ("bench_zpoll_add: index %d taken or out of range", index);
    int fd;
    size_t size = sizeof (fd);
    if (zmq_getsockopt (socket, ZMQ_FD, &fd, &size) == -1)
        bench_fail ("ZMQ_FD: %s", zmq_strerror (zmq_errno ()));
    struct epoll_event event = { .events = EPOLLIN, .data.u32 = (uint32_t) index };
    if (epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &event) == -1)
        bench_fail ("epoll_ctl: cannot add a socket's ZMQ_FD");
    self->sockets [index] = socket;
    //  It may hold input already (its descriptor may have been read)
    bench_zpoll_again (self, index);
}

void
bench_zpoll_again (bench_zpoll_t *self, int index)
{
    if (index >= 0 && index < self->capacity && self->sockets [index] && !self->asked [index]) {
        self->asked [index] = true;
        self->again [self->nagain++] = index;
    }
}

static void
s_ask (bench_zpoll_t *self, int index, int *nready)
{
    int events = 0;
    size_t size = sizeof (events);
    if (zmq_getsockopt (self->sockets [index], ZMQ_EVENTS, &events, &size) == 0
    &&  (events & ZMQ_POLLIN))
        self->ready [(*nready)++] = index;
}

int
bench_zpoll_wait (bench_zpoll_t *self, int timeout_ms, const int **ready)
{
    //  The handed-back ones first (they are marked asked): if one has
    //  input, the wait only collects what else fired
    int nready = 0;
    for (int i = 0; i < self->nagain; i++)
        s_ask (self, self->again [i], &nready);
    struct epoll_event events [EVENTS_MAX];
    int fired = epoll_wait (self->epfd, events, EVENTS_MAX, nready? 0: timeout_ms);
    for (int i = 0; i < fired; i++) {
        int index = (int) events [i].data.u32;
        if (!self->asked [index]) {
            self->asked [index] = true;
            s_ask (self, index, &nready);
            self->again [self->nagain++] = index;       //  to clear asked below
        }
    }
    for (int i = 0; i < self->nagain; i++)
        self->asked [self->again [i]] = false;
    self->nagain = 0;
    *ready = self->ready;
    return nready;
}

void
bench_zpoll_destroy (bench_zpoll_t **self_p)
{
    if (*self_p) {
        bench_zpoll_t *self = *self_p;
        close (self->epfd);
        free (self->sockets);
        free (self->asked);
        free (self->again);
        free (self->ready);
        free (self);
        *self_p = NULL;
    }
}

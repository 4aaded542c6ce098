//  auth_pool.c: worker threads behind a bounded queue (auth_pool.h).
#include "auth_pool.h"

#include <pthread.h>

#define AVG_FIRST_MS    100         //  a guess of one Argon2id until measured
//  The broker answers 503 itself once it has waited PC_AUTH_WAIT_MS for a
//  reply: a request that cannot be done by then is refused at once (with
//  its retry-after), and one that waited that long already is dropped
//  unrun, so that a storm never leaves the workers hashing for requests
//  nobody waits for while the fresh ones time out behind them.
#define WAIT_MAX_MS     (PC_AUTH_WAIT_MS * 4 / 5)

typedef struct {
    pc_msg_t *request;
    int64_t   queued;               //  zclock_mono when submitted
} job_t;

typedef struct {
    auth_pool_t *pool;
    void        *state;
    pthread_t    thread;
    bool         started;
} worker_t;

struct _auth_pool_t {
    pthread_mutex_t lock;
    pthread_cond_t  wake;
    zlistx_t     *queue;            //  job_t *, oldest first
    size_t        queue_max;
    size_t        busy;
    long          refused;
    long          dropped;          //  waited past PC_AUTH_WAIT_MS: not run
    double        avg_ms;           //  moving average of one request's time
    bool          stopping;
    auth_pool_fn *fn;
    worker_t     *workers;
    size_t        nworkers;
    char          endpoint [64];
    zsock_t      *replies;          //  PULL, the owner's
};

static void *
s_worker (void *arg)
{
    worker_t *worker = (worker_t *) arg;
    auth_pool_t *self = worker->pool;
    zsock_t *push = zsock_new_push (self->endpoint);
    assert (push);
    pthread_mutex_lock (&self->lock);
    while (true) {
        while (!self->stopping && zlistx_size (self->queue) == 0)
            pthread_cond_wait (&self->wake, &self->lock);
        if (self->stopping)
            break;
        job_t *job = (job_t *) zlistx_detach (self->queue, NULL);
        pc_msg_t *request = job->request;
        bool stale = zclock_mono () - job->queued >= PC_AUTH_WAIT_MS;
        free (job);
        if (stale) {
            self->dropped++;
            pc_msg_destroy (&request);
            continue;
        }
        self->busy++;
        pthread_mutex_unlock (&self->lock);
        int64_t start = zclock_usecs ();
        pc_msg_t *reply = self->fn (worker->state, request);
        double took_ms = (zclock_usecs () - start) / 1000.0;
        pc_msg_destroy (&request);
        if (reply && zsock_send (push, "p", reply) == -1)
            pc_msg_destroy (&reply);
        pthread_mutex_lock (&self->lock);
        self->busy--;
        self->avg_ms = self->avg_ms * 0.8 + took_ms * 0.2;
    }
    pthread_mutex_unlock (&self->lock);
    zsock_destroy (&push);
    return NULL;
}

auth_pool_t *
auth_pool_new (size_t workers, size_t queue_max, auth_pool_fn *fn, void **states)
{
    assert (workers > 0 && queue_max > 0 && fn && states);
    auth_pool_t *self = (auth_pool_t *) zmalloc (sizeof (auth_pool_t));
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    self->queue = zlistx_new ();
    self->queue_max = queue_max;
    self->avg_ms = AVG_FIRST_MS;
    self->fn = fn;
    snprintf (self->endpoint, sizeof (self->endpoint), "inproc://auth-pool-%p", (void *) self);
    self->replies = zsock_new_pull (self->endpoint);
    assert (self->replies);
    self->workers = (worker_t *) zmalloc (workers * sizeof (worker_t));
    assert (self->workers);
    self->nworkers = workers;
    for (size_t i = 0; i < workers; i++) {
        self->workers [i].pool = self;
        self->workers [i].state = states [i];
        self->workers [i].started =
            pthread_create (&self->workers [i].thread, NULL, s_worker, &self->workers [i]) == 0;
        if (!self->workers [i].started)
            zsys_error ("authsvc: cannot start worker %zu: %s", i, strerror (errno));
    }
    return self;
}

void
auth_pool_destroy (auth_pool_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        auth_pool_t *self = *self_p;
        pthread_mutex_lock (&self->lock);
        self->stopping = true;
        pthread_cond_broadcast (&self->wake);
        pthread_mutex_unlock (&self->lock);
        for (size_t i = 0; i < self->nworkers; i++)
            if (self->workers [i].started)
                pthread_join (self->workers [i].thread, NULL);
        pc_msg_t *msg;
        while ((msg = auth_pool_reply (self)))
            pc_msg_destroy (&msg);
        job_t *job;
        while ((job = (job_t *) zlistx_detach (self->queue, NULL))) {
            pc_msg_destroy (&job->request);
            free (job);
        }
        zlistx_destroy (&self->queue);
        zsock_destroy (&self->replies);
        free (self->workers);
        pthread_cond_destroy (&self->wake);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

//  When one more request would be done, from now, by the average time of a
//  request: what waits and what is in hand, over the workers, plus itself.
//  Called with the lock held.
static double
s_done_in_ms (auth_pool_t *self)
{
    double waiting = (double) zlistx_size (self->queue) + self->busy;
    return (waiting / self->nworkers + 1) * self->avg_ms;
}

int
auth_pool_submit (auth_pool_t *self, pc_msg_t **request_p)
{
    assert (self && request_p && *request_p);
    pthread_mutex_lock (&self->lock);
    //  A request waits only while every worker is busy: the queue counts
    //  the requests beyond those the workers hold. Nor does it wait when
    //  the ones before it would take the workers past WAIT_MAX_MS.
    bool full = zlistx_size (self->queue) >= self->queue_max
             || (self->busy >= self->nworkers && s_done_in_ms (self) > WAIT_MAX_MS);
    if (full)
        self->refused++;
    else {
        job_t *job = (job_t *) zmalloc (sizeof (job_t));
        assert (job);
        job->request = *request_p;
        job->queued = zclock_mono ();
        zlistx_add_end (self->queue, job);
        *request_p = NULL;
        pthread_cond_signal (&self->wake);
    }
    pthread_mutex_unlock (&self->lock);
    return full? -1: 0;
}

zsock_t *
auth_pool_socket (auth_pool_t *self)
{
    return self->replies;
}

pc_msg_t *
auth_pool_reply (auth_pool_t *self)
{
    if (!(zsock_events (self->replies) & ZMQ_POLLIN))
        return NULL;
    void *reply = NULL;
    if (zsock_recv (self->replies, "p", &reply) == -1)
        return NULL;
    return (pc_msg_t *) reply;
}

int
auth_pool_retry_after (auth_pool_t *self)
{
    pthread_mutex_lock (&self->lock);
    double ms = s_done_in_ms (self);
    pthread_mutex_unlock (&self->lock);
    return ms < 50? 50: ms > 60000? 60000: (int) ms;
}

#define S_LOCKED(type, expr) \
    pthread_mutex_lock (&self->lock); type value = (expr); pthread_mutex_unlock (&self->lock); \
    return value;

size_t auth_pool_workers (auth_pool_t *self) { return self->nworkers; }
size_t auth_pool_queue_max (auth_pool_t *self) { return self->queue_max; }
size_t auth_pool_queued (auth_pool_t *self) { S_LOCKED (size_t, zlistx_size (self->queue)) }
size_t auth_pool_busy (auth_pool_t *self) { S_LOCKED (size_t, self->busy) }
long auth_pool_refused (auth_pool_t *self) { S_LOCKED (long, self->refused) }
long auth_pool_dropped (auth_pool_t *self) { S_LOCKED (long, self->dropped) }

//  --------------------------------------------------------------------------
//  Selftest: a worker that sleeps as long as the request's first field says

static pc_msg_t *
s_test_fn (void *state, pc_msg_t *request)
{
    int *runs = (int *) state;
    zclock_sleep (atoi (pc_msg_field (request, 0)));
    __atomic_add_fetch (runs, 1, __ATOMIC_RELAXED);
    pc_msg_t *reply = pc_msg_new_ok (request);
    pc_msg_add (reply, pc_msg_field (request, 0));
    return reply;
}

void
auth_pool_test (bool verbose)
{
    printf (" * auth_pool: ");
    int runs [2] = { 0, 0 };
    void *states [2] = { &runs [0], &runs [1] };
    auth_pool_t *pool = auth_pool_new (2, 2, s_test_fn, states);
    assert (auth_pool_workers (pool) == 2 && auth_pool_reply (pool) == NULL);
    //  Two run, two wait, the fifth is refused at once
    int accepted = 0, refused = 0;
    for (int i = 0; i < 5; i++) {
        pc_msg_t *request = pc_msg_new ("LOGIN");
        pc_msg_set_reqid (request, "t");
        pc_msg_add (request, "200");
        if (i == 2) {                   //  the first two in the workers' hands
            int64_t taken = zclock_mono () + 5000;
            while (auth_pool_busy (pool) < 2 && zclock_mono () < taken)
                zclock_sleep (5);
            assert (auth_pool_busy (pool) == 2);
        }
        if (auth_pool_submit (pool, &request) == 0)
            accepted++;
        else {
            assert (request);
            pc_msg_destroy (&request);
            refused++;
        }
    }
    assert (accepted == 4 && refused == 1 && auth_pool_refused (pool) == 1);
    assert (auth_pool_retry_after (pool) >= 50);
    zpoller_t *poller = zpoller_new (auth_pool_socket (pool), NULL);
    int replies = 0;
    int64_t deadline = zclock_mono () + 5000;
    while (replies < 4 && zclock_mono () < deadline) {
        zpoller_wait (poller, 100);
        pc_msg_t *reply;
        while ((reply = auth_pool_reply (pool))) {
            assert (pc_msg_is (reply, "OK") && streq (pc_msg_field (reply, 0), "200"));
            pc_msg_destroy (&reply);
            replies++;
        }
    }
    assert (replies == 4 && runs [0] + runs [1] == 4);
    assert (runs [0] > 0 && runs [1] > 0);      //  both workers worked
    zpoller_destroy (&poller);
    auth_pool_destroy (&pool);

    //  One worker: a request that waited past PC_AUTH_WAIT_MS is dropped
    //  unrun (the broker answered it), and once a request is known to take
    //  long, one that could not be done in time is refused at once
    void *one [1] = { &runs [0] };
    runs [0] = 0;
    pool = auth_pool_new (1, 100, s_test_fn, one);
    const char *sleeps [] = { "3100", "10", NULL, "500", "10", "10", "10" };
    int outcome [7];
    for (int i = 0; i < 7; i++) {
        if (!sleeps [i]) {              //  the 3.1 s job done, the other dropped
            int64_t done = zclock_mono () + 10000;
            while (auth_pool_dropped (pool) < 1 && zclock_mono () < done)
                zclock_sleep (20);
            continue;
        }
        pc_msg_t *request = pc_msg_new ("LOGIN");
        pc_msg_set_reqid (request, "t");
        pc_msg_add (request, sleeps [i]);
        outcome [i] = auth_pool_submit (pool, &request);
        if (request)
            pc_msg_destroy (&request);
        int64_t taken = zclock_mono () + 5000;
        while (i % 3 == 0 && auth_pool_busy (pool) < 1 && zclock_mono () < taken)
            zclock_sleep (5);       //  the long ones in the worker's hands
    }
    assert (auth_pool_dropped (pool) == 1);
    //  average now 0.8 * 100 + 0.2 * 3100 = 700 ms: with 500 in hand, two
    //  more fit in 2,400 ms, the third not
    assert (outcome [3] == 0 && outcome [4] == 0 && outcome [5] == 0 && outcome [6] == -1);
    poller = zpoller_new (auth_pool_socket (pool), NULL);
    replies = 0;
    deadline = zclock_mono () + 5000;
    while (replies < 4 && zclock_mono () < deadline) {
        zpoller_wait (poller, 100);
        pc_msg_t *reply;
        while ((reply = auth_pool_reply (pool))) {
            pc_msg_destroy (&reply);
            replies++;
        }
    }
    assert (replies == 4 && runs [0] == 4);     //  3100, 500, 10, 10
    zpoller_destroy (&poller);
    auth_pool_destroy (&pool);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

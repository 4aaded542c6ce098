//  auth_pool.h: the auth service's Argon2id workers.
//
//  Requests that hash a password (REGISTER, LOGIN, PASSWD, DELETEME,
//  RESETPW, MKADMIN) run on a pool of threads behind a bounded queue, so
//  that one process hashes on every core and a full queue is answered at
//  once (503, "retry-after=MS") instead of by the broker's 3 s timeout.
//  Each worker has a state of its own (its own Redis connection: hiredis
//  contexts are not shared between threads). Replies come back to the
//  owner's thread on an inproc PULL socket (auth_pool_socket), so that
//  only that thread ever touches the ROUTER.
#ifndef AUTH_POOL_H_INCLUDED
#define AUTH_POOL_H_INCLUDED

#include <czmq.h>
#include "pc_msg.h"
#include "pc_limits.h"

typedef struct _auth_pool_t auth_pool_t;

//  Runs one request on a worker (state: that worker's); returns the reply
//  (owned by the pool from then on), or NULL for none.
typedef pc_msg_t *(auth_pool_fn) (void *state, pc_msg_t *request);

//  workers threads, states [i] the i-th's (borrowed, must outlive the
//  pool), at most queue_max requests waiting for a worker.
auth_pool_t *auth_pool_new      (size_t workers, size_t queue_max, auth_pool_fn *fn,
                                 void **states);
//  Stops the workers (each finishes the request in hand), drops what waits.
void        auth_pool_destroy   (auth_pool_t **self_p);
//  Queues *request_p (taken, nulled): 0, or -1 when the queue is full
//  (*request_p is left to the caller then).
int         auth_pool_submit    (auth_pool_t *self, pc_msg_t **request_p);
//  The socket to poll for replies, and the next reply (caller owns; NULL
//  when none is waiting).
zsock_t    *auth_pool_socket    (auth_pool_t *self);
pc_msg_t   *auth_pool_reply     (auth_pool_t *self);
//  What a refused request should wait before it comes again: the queue's
//  length over the workers, times the average time of a request, in ms.
int         auth_pool_retry_after (auth_pool_t *self);
size_t      auth_pool_workers   (auth_pool_t *self);
size_t      auth_pool_queued    (auth_pool_t *self);
size_t      auth_pool_busy      (auth_pool_t *self);
long        auth_pool_refused   (auth_pool_t *self);
//  Requests dropped unrun: they had waited PC_AUTH_WAIT_MS, and the broker
//  had answered 503 for them already.
long        auth_pool_dropped   (auth_pool_t *self);
size_t      auth_pool_queue_max (auth_pool_t *self);

void        auth_pool_test      (bool verbose);
#endif

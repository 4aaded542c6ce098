//  auth_server.h: the auth service's request loop, as a czmq actor.
//
//  A CURVE ROUTER (ZAP domain "services": only keys the process's ZAP
//  handler allows) answering PING, REGISTER and LOGIN (PROTOCOL.md,
//  "Commands to the auth service"). Requests that run Argon2id go to a pool
//  of worker threads behind a bounded queue (auth_pool.h); the rest, and
//  every reply, stay on the actor's thread. Several processes behind the
//  broker's DEALER scale it further.
#ifndef AUTH_SERVER_H_INCLUDED
#define AUTH_SERVER_H_INCLUDED

#include <czmq.h>

#define AUTH_ZAP_DOMAIN     "services"
#define AUTH_QUEUE_PER_WORKER   16      //  default queue: this many per worker

//  The actor's state; its command handlers (auth_dispatch.h) take it.
typedef struct _auth_server_t auth_server_t;

//  What the actor needs. It binds before it signals ready, so when
//  zactor_new returns, port says how the bind went.
typedef struct {
    const char *endpoint;       //  bind endpoint, e.g. tcp://*:5557 (may end in :*)
    zcert_t    *cert;           //  the service's own certificate (borrowed)
    const char *redis_host;
    int         redis_port;
    int         source_limit;   //  failed LOGINs from one source (0: default 30)
    bool        verbose;        //  debug log per request
    int         port;           //  out: bound port, or -1 (the actor then exits)
    int         workers;        //  Argon2id threads (0: one per core); out: how many
    int         queue;          //  requests waiting for them at most (0: 16 per worker)
} auth_server_args_t;

//  zactor_new (auth_server_actor, &args), or pc_service_start: the actor
//  then says READY or FAILED (pc_service.h's start contract); it ends on
//  "$TERM" or an interrupt.
void        auth_server_actor   (zsock_t *pipe, void *args);

void        auth_server_test    (bool verbose);
#endif

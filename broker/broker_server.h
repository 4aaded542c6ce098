//  broker_server.h: the broker core, as a czmq actor.
//
//  It owns the ROUTER (client commands), the XPUB (fan-out, subscriptions
//  authorised by hand) and the DEALER to the auth service(s). main.c and the
//  tests drive the same actor.
#ifndef BROKER_SERVER_H_INCLUDED
#define BROKER_SERVER_H_INCLUDED

#include <czmq.h>
#include "pc_config.h"

//  zactor_new (broker_server_actor, config): config (pc_config_t *) is copied
//  before the actor signals. The actor then sends "READY" when its sockets
//  are bound, or "FAILED" when it could not start (the reason is logged) and
//  ends. Commands on the pipe: "$TERM", "VERBOSE".
void        broker_server_actor     (zsock_t *pipe, void *config);

void        broker_server_test      (bool verbose);
#endif

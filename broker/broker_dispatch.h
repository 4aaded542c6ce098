//  broker_dispatch.h: which handler answers which command, and who may send
//  it. Written by hand until the protocol model's generated table replaces
//  it; the rows follow PROTOCOL.md's command table.
#ifndef BROKER_DISPATCH_H_INCLUDED
#define BROKER_DISPATCH_H_INCLUDED

#include "broker_ctx.h"

//  Who may send a command; the actor refuses anyone else before the
//  handler runs (PROTOCOL.md, "Errors").
typedef enum {
    BROKER_WHO_ANYONE,          //  any key, logged in or not
    BROKER_WHO_SESSION,         //  a logged-in session (else 403 "log in first")
    BROKER_WHO_ADMIN,           //  a logged-in admin (else 403 "admins only")
    BROKER_WHO_FILESVC          //  the file service's key, without a session
} broker_who_t;

//  A command handler: answers request (session is NULL for the file
//  service). Returns 0.
typedef int (broker_handler_fn) (broker_t *self, pc_msg_t *request, broker_session_t *session);

typedef struct {
    const char        *command;
    broker_who_t       who;
    broker_handler_fn *handler;
} broker_dispatch_t;

//  The row of command, or NULL when the broker does not take it.
const broker_dispatch_t *broker_dispatch_find (const char *command);

void        broker_dispatch_test    (bool verbose);
#endif

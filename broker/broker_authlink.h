//  broker_authlink.h: the link to the auth service(s): requests the broker
//  forwards for its clients (REGISTER, LOGIN, account commands), the
//  pending ones, and their answers.
//
//  A forwarded request waits in self->pending under an id of the broker's
//  own; the service's reply goes back to the client with the client's
//  request id, or a 503 when none came in time (broker_authlink_expire).
#ifndef BROKER_AUTHLINK_H_INCLUDED
#define BROKER_AUTHLINK_H_INCLUDED

#include "broker_ctx.h"

//  Handlers (broker_dispatch.h): REGISTER, LOGIN, SETKEY, GETKEY, PASSWD,
//  DELETEME.

typedef struct _broker_pending_t broker_pending_t;

//  Fills the OK answer to a forwarded request from the service's reply,
//  and does what the change calls for (ends a banned user's sessions...).
typedef void (broker_auth_ok_fn) (broker_t *self, broker_pending_t *pending,
                                  pc_msg_t *reply, pc_msg_t *answer);

struct _broker_pending_t {
    zframe_t *routing_id;       //  where the client's reply goes
    char     *reqid;            //  the client's request id
    char     *key;              //  the client's session key
    char     *name;             //  the account asked for ("" if none)
    int64_t   deadline;
    broker_auth_ok_fn *on_ok;   //  NULL: the reply's fields, as they are
    bool      login;            //  a failure is a failed login, for the monitor
};

//  Sends *forward_p (request's command for the auth service, made with its
//  constructor; this takes it and nulls the pointer) to an auth service,
//  target naming the account (NULL: none; never a password); on_ok
//  completes the answer (NULL: the reply's fields). No service connected:
//  503 now.
void        broker_authlink_forward (broker_t *self, pc_msg_t *request, broker_session_t *session,
                                     const char *target, pc_msg_t **forward_p,
                                     broker_auth_ok_fn *on_ok);
//  Adds the reply's fields to answer (for on_ok functions).
void        broker_authlink_copy    (pc_msg_t *reply, pc_msg_t *answer);
//  Who asked for pending: its session's user, or "?" when it is gone.
const char *broker_authlink_actor   (broker_t *self, broker_pending_t *pending);
//  Reads one reply of an auth service and answers the client.
void        broker_authlink_handle_reply (broker_t *self);
//  Answers 503 to the requests past their deadline.
void        broker_authlink_expire  (broker_t *self, int64_t now);
//  Destructor for self->pending.
void        broker_authlink_pending_destroy (broker_pending_t **self_p);
#endif

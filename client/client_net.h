//  client_net.h: the client's one transport to a PyChat service, never
//  blocking.
//
//  A DEALER (requests) and, for the broker, a SUB (fan-out) at the same
//  host, both with CURVE and the same certificate, so the broker knows they
//  belong to one session (PROTOCOL.md, "Transport"). It only opens sockets,
//  gives each request a unique request id, sends with ZMQ_DONTWAIT and
//  reads what is there. Everything above it is built on it: the session
//  engine (client_session, through client_net_transport), the scriptable
//  commands' blocking request/reply (client_conn) and the file transfers
//  (client_xfer), which poll client_net_dealer / _sub themselves.
#ifndef CLIENT_NET_H_INCLUDED
#define CLIENT_NET_H_INCLUDED

#include <czmq.h>
#include "pc_msg.h"
#include "client_session.h"

typedef struct _client_net_t client_net_t;

client_net_t *client_net_new  (void);
void        client_net_destroy   (client_net_t **self_p);

//  Closes any open sockets, then connects a new DEALER to endpoint
//  ("tcp://HOST:PORT") with cert (borrowed: it must outlive the sockets),
//  or with a new certificate of its own when cert is NULL (a reconnect is
//  then a new session on the broker). 0, or -1 when the endpoint is not of
//  that form or cannot be connected (errtext says why).
int         client_net_open      (client_net_t *self, const char *endpoint,
                                  const char *server_key, zcert_t *cert,
                                  char *errtext, size_t size);
void        client_net_close     (client_net_t *self);
//  True when the server keeps refusing our CURVE handshake and none has
//  succeeded on this connection: the server key we hold is not its key
//  (a socket monitor on the DEALER; reads the events waiting, never blocks).
bool        client_net_key_refused (client_net_t *self);
//  The one line that says so.
#define CLIENT_NET_KEY_REFUSED  "the server's key does not match: %s refused the encrypted " \
                                "handshake (check --server-key, PYCHAT_SERVER_KEY or $PYCHAT_DATA/broker.pub)"
bool        client_net_is_open   (client_net_t *self);

//  Gives request a fresh request id (copied into reqid, at least 32 bytes)
//  and sends it without waiting. 0, or -1 when it would block / not open.
int         client_net_send      (client_net_t *self, pc_msg_t *request, char *reqid);

//  Opens the SUB at the DEALER's host and port, subscribed to topic. 0 | -1.
int         client_net_subscribe (client_net_t *self, int port, const char *topic);

//  Next waiting message on the DEALER / the SUB, or NULL (caller owns).
//  Malformed messages are dropped and counted.
pc_msg_t   *client_net_reply     (client_net_t *self);
//  Reads the next reply into msg: 0, -1 when none is waiting, -2 when it
//  did not decode (msg says why; not counted).
int         client_net_recv      (client_net_t *self, pc_msg_t *msg);
pc_msg_t   *client_net_fanout    (client_net_t *self);

//  Waits up to ms for a message on the DEALER or the SUB (sleeps when
//  neither is open). For front ends with no input of their own.
void        client_net_wait      (client_net_t *self, int ms);

void       *client_net_dealer    (client_net_t *self);    //  libzmq handle or NULL
void       *client_net_sub       (client_net_t *self);    //  libzmq handle or NULL
size_t      client_net_malformed (client_net_t *self);
//  This session's certificate (borrowed; NULL when closed): the file
//  service must see the key the broker knows. And the broker's host.
zcert_t    *client_net_cert      (client_net_t *self);
const char *client_net_host      (client_net_t *self);
const char *client_net_endpoint  (client_net_t *self);

//  The session engine's transport (handle: a client_net_t).
extern const client_session_transport_t client_net_transport;

#endif

//  client_ui_net.h: the full-screen client's sockets, never blocking.
//
//  The scriptable client waits for each reply (client_conn); a full-screen
//  client must not, so this module only opens sockets, sends with
//  ZMQ_DONTWAIT and reads what is there. The caller polls the two sockets
//  (client_ui_net_dealer / _sub) together with the keyboard, matches replies
//  to requests by request id and decides when the server is gone.
//
//  Each open uses a fresh ephemeral CURVE certificate (as client_cmd's
//  s_open does), so a reconnect is a new session on the broker: the old
//  one, if the broker still has it, simply expires.
#ifndef CLIENT_UI_NET_H_INCLUDED
#define CLIENT_UI_NET_H_INCLUDED

#include <czmq.h>
#include "pc_msg.h"
#include "client_session.h"

typedef struct _client_ui_net_t client_ui_net_t;

client_ui_net_t *client_ui_net_new  (void);
void        client_ui_net_destroy   (client_ui_net_t **self_p);

//  Closes any open sockets, then connects a new DEALER to endpoint
//  ("tcp://HOST:PORT") with a new certificate. 0, or -1 when the endpoint
//  is not of that form or cannot be connected (errtext says why).
int         client_ui_net_open      (client_ui_net_t *self, const char *endpoint,
                                     const char *server_key, char *errtext, size_t size);
void        client_ui_net_close     (client_ui_net_t *self);
bool        client_ui_net_is_open   (client_ui_net_t *self);

//  Gives request a fresh request id (copied into reqid, at least 32 bytes)
//  and sends it without waiting. 0, or -1 when it would block / not open.
int         client_ui_net_send      (client_ui_net_t *self, pc_msg_t *request, char *reqid);

//  Opens the SUB at the DEALER's host and port, subscribed to topic. 0 | -1.
int         client_ui_net_subscribe (client_ui_net_t *self, int port, const char *topic);

//  Next waiting message on the DEALER / the SUB, or NULL (caller owns).
//  Malformed messages are dropped and counted.
pc_msg_t   *client_ui_net_reply     (client_ui_net_t *self);
pc_msg_t   *client_ui_net_fanout    (client_ui_net_t *self);

void       *client_ui_net_dealer    (client_ui_net_t *self);    //  libzmq handle or NULL
void       *client_ui_net_sub       (client_ui_net_t *self);    //  libzmq handle or NULL
size_t      client_ui_net_malformed (client_ui_net_t *self);
//  This session's certificate (borrowed; NULL when closed): the file
//  service must see the key the broker knows. And the broker's host.
zcert_t    *client_ui_net_cert      (client_ui_net_t *self);
const char *client_ui_net_host      (client_ui_net_t *self);

//  The session engine's transport (handle: a client_ui_net_t).
extern const client_session_transport_t client_ui_net_transport;

#endif

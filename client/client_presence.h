//  client_presence.h: what `pychat listen --presence` prints of PRESENCE
//  and TYPING fan-out messages (PROTOCOL.md, "Presence and typing").
#ifndef CLIENT_PRESENCE_H_INCLUDED
#define CLIENT_PRESENCE_H_INCLUDED

#include <czmq.h>
#include "pc_msg.h"

//  Prints msg when it is a PRESENCE that changes what states (user ->
//  "STATE TEXT", owned by the hash; a new user is a change) held, or a
//  TYPING: a line of text, or with json one JSON object. Returns true when
//  something was printed.
bool        client_presence_print (bool json, pc_msg_t *msg, zhashx_t *states);
#endif

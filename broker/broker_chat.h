//  broker_chat.h: rooms and messages: the commands of a chat session
//  (PROTOCOL.md, "Rooms", "History", "Direct messages").
//
//  SENDs are batched: broker_on_send queues a SEND the actor read, and
//  broker_chat_flush numbers, stores (one pipelined round trip to Redis for
//  the lot), delivers and acknowledges the waiting ones. The actor flushes
//  before it handles any other request, so each client's requests keep
//  their order.
#ifndef BROKER_CHAT_H_INCLUDED
#define BROKER_CHAT_H_INCLUDED

#include "broker_ctx.h"

//  Handlers (broker_dispatch.h): PING, LOGOUT, JOIN, LEAVE, SEND, ROOMS,
//  WHO, SUBS, HISTORY, INBOX, DM, CREATE, INVITE.

//  Numbers, delivers and stores the waiting SENDs and acknowledges each
//  once stored, in the order they came. Nothing when none wait.
void        broker_chat_flush       (broker_t *self);
//  Hands a stored message of room to its sessions here (and the room's
//  topic); goes out at broker_fanout_flush.
void        broker_chat_deliver     (broker_t *self, broker_room_t *room, uint64_t seq, int64_t ts,
                                     const char *from, const char *text);
//  A stored direct message of owner's inbox to every session of owner
//  here; from "FROM>TO" is the sender's own copy of a DM to TO.
void        broker_chat_deliver_dm  (broker_t *self, const char *owner, uint64_t seq, int64_t ts,
                                     const char *from, const char *box);
//  Whether the session may steer room (its creator, or an admin).
bool        broker_chat_may_moderate (broker_room_t *room, broker_session_t *session);

void        broker_chat_test        (bool verbose);
#endif

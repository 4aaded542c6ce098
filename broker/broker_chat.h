//  broker_chat.h: rooms and messages: the commands of a chat session
//  (PROTOCOL.md, "Rooms", "History", "Direct messages").
//
//  SENDs are batched: broker_on_send queues a SEND the actor read into a
//  lot, and broker_chat_post numbers, delivers and writes the lot to Redis
//  (one pipelined round trip for the lot) without waiting for Redis's
//  answer: the actor reads on meanwhile, and broker_chat_answer
//  acknowledges each lot once Redis has it. The actor flushes (waits for
//  every lot to be stored and acknowledged) before it handles any other
//  request, so each client's requests keep their order.
#ifndef BROKER_CHAT_H_INCLUDED
#define BROKER_CHAT_H_INCLUDED

#include "broker_ctx.h"

//  Handlers (broker_dispatch.h): PING, LOGOUT, JOIN, LEAVE, SEND, ROOMS,
//  WHO, SUBS, HISTORY, INBOX, DM, CREATE, INVITE.

//  Numbers, delivers and writes the waiting SENDs, and acknowledges them
//  once Redis has them, in the order they came: post does not wait for
//  Redis (unless two lots already do), flush waits for every lot.
void        broker_chat_post        (broker_t *self);
void        broker_chat_flush       (broker_t *self);
//  Acknowledges the lots Redis has answered, without waiting; poll
//  redis_fd (-1 when no lot waits) to know when to.
void        broker_chat_answer      (broker_t *self);
int         broker_chat_redis_fd    (broker_t *self);
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

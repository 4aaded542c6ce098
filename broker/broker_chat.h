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

int         broker_on_ping          (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_logout        (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_join          (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_leave         (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_send          (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_rooms         (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_who           (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_subs          (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_history       (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_inbox         (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_dm            (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_create        (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_invite        (broker_t *self, pc_msg_t *request, broker_session_t *session);

//  Numbers, delivers and stores the waiting SENDs and acknowledges each
//  once stored, in the order they came. Nothing when none wait.
void        broker_chat_flush       (broker_t *self);
//  Whether the session may steer room (its creator, or an admin).
bool        broker_chat_may_moderate (broker_room_t *room, broker_session_t *session);

void        broker_chat_test        (bool verbose);
#endif

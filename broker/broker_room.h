//  broker_room.h: a chat room: its members (users, counted per session),
//  its last message id and its message count.
#ifndef BROKER_ROOM_H_INCLUDED
#define BROKER_ROOM_H_INCLUDED

#include <czmq.h>

typedef struct _broker_room_t broker_room_t;

broker_room_t *broker_room_new      (const char *name);         //  caller owns
void        broker_room_destroy     (broker_room_t **self_p);
const char *broker_room_name        (broker_room_t *self);
//  "r/NAME/": the fan-out topic of the room.
const char *broker_room_topic       (broker_room_t *self);
//  A session (key, with an opaque handle for delivery) of user joins /
//  leaves. A user stays a member while any of its sessions is in the room.
//  Returns true when the user's membership changed.
bool        broker_room_join        (broker_room_t *self, const char *user, const char *key,
                                     void *session);
bool        broker_room_leave       (broker_room_t *self, const char *user, const char *key);
//  The sessions in the room, to deliver to: first / next handle, or NULL.
void       *broker_room_first_session (broker_room_t *self);
void       *broker_room_next_session  (broker_room_t *self);
size_t      broker_room_members     (broker_room_t *self);      //  distinct users
bool        broker_room_has_member  (broker_room_t *self, const char *user);
//  Sorted list of member names (caller destroys).
zlistx_t   *broker_room_member_list (broker_room_t *self);
//  The room's last message id (the per-room sequence the store keeps):
//  set_seq only moves it forward; 0 until learnt. Ids are not a count
//  (they jump past a crashed broker's reservation).
void        broker_room_set_seq     (broker_room_t *self, uint64_t seq);
uint64_t    broker_room_seq         (broker_room_t *self);
//  How many messages were ever stored in the room: set from Redis when the
//  room is first seen, one more for each new message stored since.
uint64_t    broker_room_messages    (broker_room_t *self);
void        broker_room_set_messages (broker_room_t *self, uint64_t messages);
void        broker_room_add_message (broker_room_t *self);

//  Who may join: a room is open unless invite-only; then its creator, the
//  invited and admins may. The settings live in Redis: loaded says whether
//  they have been read since the broker started.
void        broker_room_set_policy  (broker_room_t *self, bool invite_only, const char *creator);
bool        broker_room_loaded      (broker_room_t *self);
bool        broker_room_invite_only (broker_room_t *self);
const char *broker_room_creator     (broker_room_t *self);      //  NULL if none
void        broker_room_invite      (broker_room_t *self, const char *user, bool add);
//  The invited of from become self's (settings read again).
void        broker_room_copy_invited (broker_room_t *self, broker_room_t *from);
//  Slow mode: seconds between two posts of one user (0: off)
void        broker_room_set_slowmode (broker_room_t *self, int seconds);
int         broker_room_slowmode    (broker_room_t *self);
bool        broker_room_may_join    (broker_room_t *self, const char *user, bool admin);

void        broker_room_test        (bool verbose);
#endif

//  broker_presence.h: who is online, away or offline, and who is typing.
//
//  A user is online while any of their sessions is logged in, on any
//  broker; away while they say so (AWAY with a message; AWAY alone is
//  back); offline once their last session ends (LOGOUT, expiry, a ban).
//  The away message lives in Redis ("away:USER"), so every broker's WHO
//  sees it; it is forgotten when the user goes offline, and when a user
//  who was offline everywhere logs in (a dead broker's user never ended).
//  With several brokers each keeps the set of users it has sessions of
//  ("online:ID"): a user is online while a live broker ("broker:ID") has
//  them, so a dead broker's sessions stop counting with its TTL.
//
//  Changes are told to the members of the rooms the user is in, as a
//  PRESENCE fan-out message (user, state, text): when the user's first
//  session enters a room (its members learn the user is here, online or
//  away), when the user goes away or comes back, and when the user goes
//  offline (to the rooms of the last session). A typing notice (TYPING
//  room, or TYPING @user for a DM) goes to the room's other members, or
//  to the peer's sessions, as a TYPING fan-out message (space, from); it
//  is never stored, a user sends at most one per space every
//  BROKER_TYPING_EVERY_S on a broker (else 429), and clients let it expire.
//  With several brokers both travel on the control channel (pc:ctl), so
//  sessions on every broker get them.
#ifndef BROKER_PRESENCE_H_INCLUDED
#define BROKER_PRESENCE_H_INCLUDED

#include "broker_ctx.h"

#define BROKER_AWAY_MAX         200     //  bytes of an away message (one line)
#define BROKER_TYPING_EVERY_S   2       //  one TYPING per user and space

//  session just logged in (its user is set).
void        broker_presence_login   (broker_t *self, broker_session_t *session);
//  session is ending (still holding its user and rooms); others: how many
//  other sessions of its user this broker still has.
void        broker_presence_logout  (broker_t *self, broker_session_t *session, size_t others);
//  user's first session here entered room: its members hear user's state.
void        broker_presence_joined  (broker_t *self, const char *user, const char *room);
//  A "presence" or "typing" control message of another broker.
void        broker_presence_control (broker_t *self, const char *command, const char *a,
                                     const char *b, const char *c);
//  "USER STATE[ TEXT]" for WHO room presence, one per member in order
//  (caller destroys), or NULL when Redis cannot be read.
zlistx_t   *broker_presence_who     (broker_t *self, zlistx_t *members);

void        broker_presence_test    (bool verbose);
#endif

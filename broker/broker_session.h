//  broker_session.h: one client session = one CURVE key.
//
//  The key (the connection's User-Id) is the identity; LOGIN binds it to a
//  user. The session remembers the rooms it joined, the fan-out topics the
//  broker applied for it, and the last client message ids it sent (so a
//  resent SEND is stored and delivered once).
#ifndef BROKER_SESSION_H_INCLUDED
#define BROKER_SESSION_H_INCLUDED

#include <czmq.h>

typedef struct _broker_session_t broker_session_t;

broker_session_t *broker_session_new   (const char *key);       //  caller owns
void        broker_session_destroy     (broker_session_t **self_p);
const char *broker_session_key         (broker_session_t *self);
//  "s/TOKEN/": the fan-out topic this session's messages are delivered on
//  (a random token, fixed for the session's life).
const char *broker_session_topic       (broker_session_t *self);
//  The logged-in user, or NULL.
const char *broker_session_user        (broker_session_t *self);
const char *broker_session_role        (broker_session_t *self);
void        broker_session_login       (broker_session_t *self, const char *user, const char *role);
//  The id of the resume token this login holds ("" when none): PASSWD
//  keeps it, LOGOUT revokes it.
const char *broker_session_token_id    (broker_session_t *self);
void        broker_session_set_token_id (broker_session_t *self, const char *sid);
//  Forgets the user, its rooms and its topics.
void        broker_session_logout      (broker_session_t *self);

void        broker_session_touch       (broker_session_t *self, int64_t now_ms);
int64_t     broker_session_last_seen   (broker_session_t *self);

bool        broker_session_in_room     (broker_session_t *self, const char *room);
void        broker_session_add_room    (broker_session_t *self, const char *room);
void        broker_session_remove_room (broker_session_t *self, const char *room);
//  The rooms joined (caller destroys the list; items are borrowed).
zlistx_t   *broker_session_rooms       (broker_session_t *self);

//  Fan-out topics applied for this key.
void        broker_session_add_sub     (broker_session_t *self, const char *topic);
void        broker_session_remove_sub  (broker_session_t *self, const char *topic);
zlistx_t   *broker_session_subs        (broker_session_t *self);   //  as _rooms

//  Whether an earlier SEND of this login had this client message id in
//  this room, and the message id and time it got (seq, ts: may be NULL).
//  The last 64 SENDs are remembered.
bool        broker_session_sent        (broker_session_t *self, const char *room, const char *cmid,
                                        uint64_t *seq, int64_t *ts);
void        broker_session_remember    (broker_session_t *self, const char *room, const char *cmid,
                                        uint64_t seq, int64_t ts);
//  A SEND remembered before it was stored, which could not be stored
void        broker_session_forget      (broker_session_t *self, const char *room, const char *cmid);

//  Whether a SEND of this login was found new by the store (not a resend
//  of one stored before). A client resends what went unanswered first, in
//  order, after it reconnects: from then on its SENDs are new, and the
//  broker may number and deliver them before Redis has stored them.
bool        broker_session_resends_done     (broker_session_t *self);
void        broker_session_set_resends_done (broker_session_t *self);

void        broker_session_test        (bool verbose);
#endif

//  broker_fanout.h: the broker's fan-out (its XPUB): who may subscribe to
//  what, and who gets which message.
//
//  Delivery is per session: each logged-in session subscribes to its own
//  topic "s/TOKEN/", so leaving a room or being removed stops delivery at
//  once. A room's messages also go once to the room's topic "r/ROOM/",
//  which only the monitor may hear. The framing of the frames is the
//  codec's (pc_fanout.h).
#ifndef BROKER_FANOUT_H_INCLUDED
#define BROKER_FANOUT_H_INCLUDED

#include <czmq.h>
#include "pc_msg.h"
#include "broker_room.h"
#include "broker_session.h"

typedef struct _broker_fanout_t broker_fanout_t;

//  Takes the bound XPUB (ZMQ_XPUB_MANUAL set; *xpub_p is nulled).
//  sessions (key -> broker_session_t) is borrowed: subscriptions are
//  authorised against it. monitor_key may subscribe to anything.
broker_fanout_t *broker_fanout_new  (zsock_t **xpub_p, zhashx_t *sessions,
                                     const char *monitor_key);
void        broker_fanout_destroy   (broker_fanout_t **self_p);
void        broker_fanout_set_verbose (broker_fanout_t *self, bool verbose);
//  The XPUB, to poll (borrowed).
zsock_t    *broker_fanout_socket    (broker_fanout_t *self);

//  Subscription authorisation (ZMQ_XPUB_MANUAL): reads one (un)subscribe
//  and applies a subscription only for a key that may read the topic: a
//  logged-in session's own topic, or anything for the monitor's key.
void        broker_fanout_handle_subscription (broker_fanout_t *self);
//  Subscriptions refused so far.
uint64_t    broker_fanout_refused   (broker_fanout_t *self);

//  Sends msg on its own topic ("$ev/" for an EVENT...); msg is kept.
void        broker_fanout_send      (broker_fanout_t *self, pc_msg_t *msg);
//  A NOTICE (kind, text) to one session: kicked, banned...
void        broker_fanout_notice    (broker_fanout_t *self, broker_session_t *session,
                                     const char *kind, const char *text);
//  msg to every session of user (msg's topic is changed).
void        broker_fanout_to_user   (broker_fanout_t *self, pc_msg_t *msg, const char *user);

//  A room's message (packed, pc_msg_pack): it goes to the room's topic now
//  and joins the room's next frame to its sessions, which goes out when it
//  is full or at broker_fanout_flush. Every session in the room gets the
//  same bytes, built once and shared.
void        broker_fanout_room_add  (broker_fanout_t *self, broker_room_t *room,
                                     const void *packed, size_t size);
//  Sends every room's frame waiting.
void        broker_fanout_flush     (broker_fanout_t *self);

void        broker_fanout_test      (bool verbose);
#endif

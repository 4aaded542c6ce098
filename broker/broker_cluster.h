//  broker_cluster.h: several brokers on one Redis (PYCHAT_BROKER_ID set).
//
//  Redis numbers and publishes: a SEND or DM is stored by the store's
//  append script, which also publishes it on the stream's channel
//  ("pc:room:NAME", "pc:inbox:USER") in the same atomic step, so a channel
//  carries a stream's messages in id order whichever broker took them.
//  Every broker subscribes, on a connection of its own, to the channels of
//  the rooms and users it has sessions of, and delivers only from there:
//  two brokers in one room deliver the same ids in the same order.
//
//  Nothing is skipped: a subscription remembers the last id it delivered;
//  when a channel is (re)subscribed (a new room, a lost connection) and
//  when a message arrives past the next id, the broker reads the stream
//  from there first. Once a second the counters of the subscribed streams
//  are read: a message that pub/sub lost (it publishes at most once) is
//  read from the stream then. Pub/sub never carries what a stream lacks.
//
//  The control channel "pc:ctl" carries what changes sessions on other
//  brokers: bans and deletions end a user's sessions everywhere, kicks take
//  a user out of a room everywhere, room settings are read again.
//
//  Brokers register themselves ("broker:ID", the endpoint clients reach it
//  at, with a 10 s TTL renewed every 2 s; set "brokers"), and keep who is
//  in which room ("members:ROOM:ID", a set per broker), so that LOGIN can
//  name the live brokers and WHO and ROOMS count every broker's members.
#ifndef BROKER_CLUSTER_H_INCLUDED
#define BROKER_CLUSTER_H_INCLUDED

#include "broker_ctx.h"

#define BROKER_CLUSTER_TTL_S        10      //  a broker not heard of for this long is gone
#define BROKER_CLUSTER_CHECK_MS     1000    //  counters of subscribed streams read

//  The cluster of a broker named id (config's broker_id), its clients
//  reaching it at endpoint. Does not connect yet.
broker_cluster_t *broker_cluster_new (const char *id, const char *endpoint,
                                      const char *redis_host, int redis_port);
void        broker_cluster_destroy  (broker_cluster_t **self_p);
const char *broker_cluster_id       (broker_cluster_t *self);
//  The subscription connection's descriptor, to poll for input; -1 while
//  it is not connected.
int         broker_cluster_fd       (broker_cluster_t *self);
//  Reads what the subscription connection has and delivers it.
void        broker_cluster_handle   (broker_t *broker);
//  Now and then: (re)connects, registers, checks counters, drops the
//  subscriptions nobody here needs any more.
void        broker_cluster_tick     (broker_t *broker, int64_t now);

//  Deliver room's messages, and user's direct messages, from now on
//  (unless this broker does already; what came before, a session reads).
void        broker_cluster_watch_room (broker_t *broker, const char *room);
void        broker_cluster_watch_user (broker_t *broker, const char *user);
//  A user's membership of room on this broker began (true) or ended.
void        broker_cluster_member   (broker_t *broker, const char *room, const char *user,
                                     bool in);
//  Every broker's members of room (sorted, caller destroys), or NULL when
//  Redis cannot be read. live is broker_cluster_brokers' list, to read it
//  once for many rooms, or NULL to read it now.
zlistx_t   *broker_cluster_members  (broker_t *broker, const char *room, zlistx_t *live);
//  Room names any broker knows (caller destroys), or NULL.
zlistx_t   *broker_cluster_rooms    (broker_t *broker);
//  A room came to be (JOIN, CREATE): every broker may list it.
void        broker_cluster_room_made (broker_t *broker, const char *room);
//  The live brokers, one "ID ENDPOINT" each (caller destroys), or NULL.
zlistx_t   *broker_cluster_brokers  (broker_t *broker);

//  A clean stop: no longer live, no members here.
void        broker_cluster_leave    (broker_t *broker);
//  Tells the other brokers: "drop USER KIND TEXT" (end the user's
//  sessions), "kick ROOM USER TEXT", "room ROOM" (settings changed).
void        broker_cluster_control  (broker_t *broker, const char *command, const char *a,
                                     const char *b, const char *c);

void        broker_cluster_test     (bool verbose);
#endif

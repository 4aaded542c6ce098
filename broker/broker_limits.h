//  broker_limits.h: flood control. Token buckets per user (SEND and DM;
//  the commands that read a lot: HISTORY, INBOX, ROOMS, WHO, USERS) and
//  per session (every command), a room's slow mode (one message per user
//  every N seconds), and the count of refusals per user for the monitor.
//
//  A bucket holds at most burst tokens and gains rate tokens a second; a
//  request takes one. A request that finds no token is refused (429) and
//  told how long until there is one: "retry-after=MS" in the error's
//  detail (PROTOCOL.md, "Flood control").
#ifndef BROKER_LIMITS_H_INCLUDED
#define BROKER_LIMITS_H_INCLUDED

#include <czmq.h>
#include "pc_config.h"
#include "pc_proto.h"

typedef struct _broker_limits_t broker_limits_t;

//  The rates come from config (PYCHAT_RATE_SEND, _QUERY, _SESSION).
broker_limits_t *broker_limits_new  (const pc_config_t *config);
void        broker_limits_destroy   (broker_limits_t **self_p);

//  Whether command from session key (user, NULL before login) may go on
//  at now (ms): 0, or the milliseconds until it may. A refusal is counted
//  for the user (or the key); *what_p names the limit that refused.
int64_t     broker_limits_check     (broker_limits_t *self, pc_cmd_t command, const char *user,
                                     const char *key, int64_t now, const char **what_p);
//  Slow mode: whether user may post in room (seconds between two posts)
//  at now: 0 (and the post is counted), or the milliseconds until it may.
int64_t     broker_limits_slow      (broker_limits_t *self, const char *room, const char *user,
                                     int seconds, int64_t now);
//  Forgets what no longer limits anybody (full buckets, old posts).
void        broker_limits_prune     (broker_limits_t *self, int64_t now);
//  The refusals since the last call, per user ("user" -> count as text,
//  caller destroys the hash); the counts start again from 0.
zhashx_t   *broker_limits_refusals  (broker_limits_t *self);
//  Entries held (users, sessions, slow-mode posts), for the selftest
size_t      broker_limits_size      (broker_limits_t *self);

void        broker_limits_test      (bool verbose);
#endif

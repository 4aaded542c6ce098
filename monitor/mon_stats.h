//  mon_stats.h: what the monitor knows, aggregated from the broker's fan-out.
//
//  Pure bookkeeping: no sockets, no clock. Callers hand it decoded fan-out
//  messages (MSG on r/ROOM/, EVENT on $ev/) with the current time, and read
//  the totals back as JSON (STATS) or as a one-line summary (the log).
//  Message texts are never stored: a MSG only bumps counters.
#ifndef MON_STATS_H_INCLUDED
#define MON_STATS_H_INCLUDED

#include <czmq.h>
#include "pc_msg.h"
#include "pc_util.h"

typedef struct _mon_stats_t mon_stats_t;

//  now_ms is the start time, for uptime_s.
mon_stats_t *mon_stats_new           (int64_t now_ms);      //  caller owns result
void         mon_stats_destroy       (mon_stats_t **self_p);

//  Takes one decoded fan-out message and marks the broker as heard.
//  0 counted or ignored (unknown event kinds, other topics' commands that
//  are harmless), -2 malformed: counted in malformed_total, nothing applied.
int          mon_stats_handle        (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms);
//  Something arrived from the broker that did not decode: counts it.
void         mon_stats_broker_malformed (mon_stats_t *self, int64_t now_ms);
//  Counts a malformed message from elsewhere (a console request).
void         mon_stats_malformed     (mon_stats_t *self);

uint64_t     mon_stats_messages      (mon_stats_t *self);
uint64_t     mon_stats_malformed_total (mon_stats_t *self);
//  Messages counted in room, 0 for an unknown room.
uint64_t     mon_stats_room_messages (mon_stats_t *self, const char *room);
//  Users currently joined to room, 0 for an unknown room.
size_t       mon_stats_room_members  (mon_stats_t *self, const char *room);
bool         mon_stats_is_member     (mon_stats_t *self, const char *room, const char *user);
//  Users online: the last heartbeat's count, plus logins and joins since,
//  minus logouts (the heartbeat's name list may be capped; its count is not).
size_t       mon_stats_online        (mon_stats_t *self);
bool         mon_stats_is_online     (mon_stats_t *self, const char *user);
//  Milliseconds since anything arrived from the broker; -1 if nothing has.
int64_t      mon_stats_broker_silence (mon_stats_t *self, int64_t now_ms);

//  Appends the STATS object (PROTOCOL.md, "Commands to the monitor"):
//  {"messages_total":N,"rooms":{"NAME":{"messages":N,"members":N}},
//   "users_online":N,"online":["NAME"],"uptime_s":N,"malformed_total":N,
//   "broker_last_heard_ms":N}  rooms and names sorted; the last is the age
//  of the broker's last message in ms, -1 when it was never heard.
void         mon_stats_json          (mon_stats_t *self, pc_buf_t *buf, int64_t now_ms);
//  Appends "12 messages (lobby 10, dev 2), 2 online": busiest rooms first,
//  at most 8 rooms named.
void         mon_stats_summary       (mon_stats_t *self, pc_buf_t *buf);

void         mon_stats_test          (bool verbose);
#endif

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

//  Alert thresholds (ISSUE 4): failed logins within 60 s that raise the
//  "login_failures" alert (PYCHAT_ALERT_LOGIN_FAILURES, default 5), and a
//  room's messages per second over the last 10 s that raise "room_rate"
//  (PYCHAT_ALERT_ROOM_RATE, default 500). Values < 1 keep the default.
#define MON_ALERT_LOGIN_FAILURES    5
#define MON_ALERT_ROOM_RATE         500
void         mon_stats_set_thresholds (mon_stats_t *self, int login_failures, int room_rate);
//  Difference between the wall clock (Unix ms) and the clock the caller
//  passes as now_ms: events and alerts carry wall-clock times.
void         mon_stats_set_wall_offset (mon_stats_t *self, int64_t offset_ms);
//  The monitor's resident memory in bytes (the caller reads /proc).
void         mon_stats_set_rss       (mon_stats_t *self, uint64_t bytes);

//  Re-evaluates every alert at now_ms: raises (zsys_warning, once) or
//  clears (zsys_info, once) them. Call about once a second and before
//  reading the state. Returns the number of active alerts.
size_t       mon_stats_tick          (mon_stats_t *self, int64_t now_ms);
//  True when an alert of kind (for room_rate: on subject) is active.
bool         mon_stats_alert_active  (mon_stats_t *self, const char *kind, const char *subject);

uint64_t     mon_stats_login_failures (mon_stats_t *self);
uint64_t     mon_stats_dms           (mon_stats_t *self);
uint64_t     mon_stats_rejects       (mon_stats_t *self);
//  Messages in the last complete seconds window (1, 60, 900) divided by
//  the window (or by the seconds the monitor has run, when fewer).
double       mon_stats_rate          (mon_stats_t *self, const char *room, int seconds, int64_t now_ms);

//  Appends the STATS object (PROTOCOL.md, "Commands to the monitor"):
//  {"messages_total":N,"rooms":{"NAME":{"messages":N,"members":N,
//   "rate_1s":R,"rate_1m":R,"rate_15m":R}},"users_online":N,"online":["NAME"],
//   "uptime_s":N,"malformed_total":N,"broker_last_heard_ms":N, ...}
//  rooms and names sorted; broker_last_heard_ms is the age of the broker's
//  last message in ms, -1 when it was never heard. The fields after it are
//  listed in PROTOCOL.md (rates, logins, DMs, rejects, broker, health,
//  alerts, events, rate_history).
void         mon_stats_json          (mon_stats_t *self, pc_buf_t *buf, int64_t now_ms);
//  Appends the Prometheus text exposition (format 0.0.4) of the counters.
void         mon_stats_metrics       (mon_stats_t *self, pc_buf_t *buf, int64_t now_ms);
//  Appends "12 messages (lobby 10, dev 2), 2 online": busiest rooms first,
//  at most 8 rooms named.
void         mon_stats_summary       (mon_stats_t *self, pc_buf_t *buf);

void         mon_stats_test          (bool verbose);
#endif

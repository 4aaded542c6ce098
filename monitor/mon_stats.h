//  mon_stats.h: what the monitor knows, aggregated from the broker's fan-out.
//
//  Pure bookkeeping: no sockets, no clock. Callers hand it decoded fan-out
//  messages (MSG on r/ROOM/, EVENT on $ev/) with the current time, and read
//  the totals back as a one-line summary (the log), as JSON (mon_json) or
//  as Prometheus text (mon_prom); mon_alerts judges them.
//  Message texts are never stored: a MSG only bumps counters.
#ifndef MON_STATS_H_INCLUDED
#define MON_STATS_H_INCLUDED

#include <czmq.h>
#include "pc_msg.h"
#include "pc_util.h"
#include "pc_limits.h"
#include "pc_proc.h"
#include "mon_ring.h"

//  --------------------------------------------------------------------------
//  The model. Written here and by mon_alerts (its alert list); read by
//  mon_json and mon_prom. Nobody else touches the fields.

typedef struct {
    char      *name;
    uint64_t   messages;
    zhashx_t  *members;             //  user name -> (void *) 1
    mon_ring_t ring;
} mon_room_t;

//  The monitor's own log of what happened, newest last (never texts).
#define MON_EVENTS_MAX      100
#define MON_EVENT_TEXT_MAX  160

typedef struct {
    int64_t   ts;                   //  Unix ms
    char      kind [24];
    char      text [MON_EVENT_TEXT_MAX];
} mon_event_t;

//  Alert kinds; a room_rate alert exists once per room (its subject).
typedef enum {
    MON_ALERT_LOGIN, MON_ALERT_BROKER, MON_ALERT_AUTHSVC, MON_ALERT_REDIS, MON_ALERT_ROOM,
    MON_ALERT_FILESVC, MON_ALERT_THROTTLED, MON_ALERT_KINDS
} mon_alert_kind_t;

//  Flood control: a user's (or, before login, a key's) refused requests,
//  as the broker reports them every heartbeat ("throttled" event)
typedef struct {
    uint64_t  total;                //  refused since the monitor started
    int64_t   last_ms;              //  the last report with refusals
    uint32_t  streak;               //  reports in a row (at most 3 s apart)
} mon_throttled_t;
#define MON_THROTTLED_STREAK    5   //  about 10 s of refusals raise "user_throttled"
#define MON_THROTTLED_QUIET_MS  10000   //  and 10 s without clear it

typedef struct {
    mon_alert_kind_t kind;
    char      subject [PC_ID_MAX + 1];      //  the room, the user (or key), or ""
    char      detail [128];
    int64_t   since_ms;             //  Unix ms when raised
} mon_alert_t;

//  A service is down after three missed heartbeats (the broker's are 2 s apart).
#define MON_SERVICE_SILENCE_MS  6000
//  The broker's latency histogram: at most this many buckets
#define MON_LATENCY_BUCKETS     24
//  Moderation and account actions counted by name ("admin" events)
#define MON_ADMIN_ACTIONS       13      //  the last one: any other

typedef struct _mon_stats_t mon_stats_t;
struct _mon_stats_t {
    int64_t   started_ms;
    int64_t   heard_ms;             //  last message from the broker; 0: never
    int64_t   wall_offset;          //  Unix ms - now_ms
    uint64_t  messages;
    uint64_t  malformed;
    zhashx_t *rooms;                //  name -> mon_room_t, owned
    zhashx_t *online;               //  user name -> (void *) 1
    size_t    unlisted;             //  online but left off a capped heartbeat list
    mon_ring_t ring;                //  all rooms' messages
    mon_ring_t failures_ring;       //  failed logins
    uint64_t  login_failures;
    uint64_t  dms;
    uint64_t  rejects;
    uint64_t  auth_down;
    zhashx_t *throttled;            //  user (or key) -> mon_throttled_t, owned
    uint64_t  throttled_total;
    //  The broker's own figures ("stats" event); valid when broker_known
    bool      broker_known;
    uint64_t  broker [8];           //  sessions, pending, journal, malformed, refused, uptime,
                                    //  delivery latency avg and max (us)
    bool      authsvc_known;
    int64_t   authsvc_ms;           //  as last reported; -1: never answered
    bool      authsvc_never;        //  the broker has said -1 since authsvc_never_ms
    int64_t   authsvc_never_ms;     //  (a restarted broker says -1 until its first PING's answer)
    //  The broker's delivery latency since its start ("latency" event)
    size_t    latency_buckets;      //  0: never reported
    uint64_t  latency_bounds_us [MON_LATENCY_BUCKETS];
    uint64_t  latency_le [MON_LATENCY_BUCKETS];     //  deliveries <= each bound
    uint64_t  latency_count;
    uint64_t  latency_sum_us;
    pc_proc_t broker_proc;          //  the broker's process ("process" event); start_ms 0: never
    pc_proc_t proc;                 //  the monitor's own (mon_stats_set_process)
    uint64_t  logins;
    uint64_t  admin_actions [MON_ADMIN_ACTIONS];
    size_t    top_rooms;            //  rooms with a label of their own in /metrics
    int       redis_state;          //  -1 unknown, 0 down, 1 up
    //  The file service's figures ("files" event), valid when files_heard_ms
    int64_t   files_heard_ms;       //  0: never
    uint64_t  files [6];            //  active uploads, active downloads, uploads,
                                    //  downloads, bytes in, bytes out
    uint64_t  files_shared;         //  "file-up" events seen (listed uploads)
    uint64_t  files_fetched;        //  "file-down" events seen
    uint64_t  files_removed;        //  "file-rm" events seen
    uint64_t  rss;
    int       login_threshold;
    int       room_rate_limit;
    mon_event_t events [MON_EVENTS_MAX];
    size_t    events_next;          //  total ever logged; next slot is % MON_EVENTS_MAX
    zlistx_t *alerts;               //  mon_alert_t, owned, in the order raised
    uint64_t  alerts_total [MON_ALERT_KINDS];
};

//  --------------------------------------------------------------------------

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
//  The monitor's own process figures (pc_proc_self); sets rss too.
void         mon_stats_set_process   (mon_stats_t *self, const pc_proc_t *proc);
//  How many of the busiest rooms get a label of their own in /metrics
//  (PYCHAT_METRICS_TOP_ROOMS); the others add up in room="_other". < 1:
//  the default.
#define MON_METRICS_TOP_ROOMS   20
void         mon_stats_set_top_rooms (mon_stats_t *self, int rooms);
//  The name of admin action index (0 .. MON_ADMIN_ACTIONS - 1; the last is "other").
const char  *mon_stats_admin_action  (size_t index);
//  Rooms, busiest first (then by name); caller frees the array (not the rooms).
mon_room_t **mon_stats_rooms_by_traffic (mon_stats_t *self, size_t *count_p);

//  Appends an entry to the event log, at now_ms (wall-clock time kept).
void         mon_stats_log_event     (mon_stats_t *self, int64_t now_ms, const char *kind,
                                      const char *format, ...)
                                      __attribute__ ((format (printf, 4, 5)));
//  The keys of a hash, sorted; caller destroys the list.
zlistx_t    *mon_stats_sorted_keys   (zhashx_t *hash);
//  Seconds since the start, 0 before it.
int64_t      mon_stats_uptime        (mon_stats_t *self, int64_t now_ms);
//  Messages per second of ring (the whole, or a room's) over seconds.
double       mon_stats_ring_rate     (mon_stats_t *self, mon_ring_t *ring, int seconds,
                                      int64_t now_ms);

uint64_t     mon_stats_login_failures (mon_stats_t *self);
uint64_t     mon_stats_dms           (mon_stats_t *self);
uint64_t     mon_stats_rejects       (mon_stats_t *self);
//  Messages in the last complete seconds window (1, 60, 900) divided by
//  the window (or by the seconds the monitor has run, when fewer).
double       mon_stats_rate          (mon_stats_t *self, const char *room, int seconds, int64_t now_ms);

//  Appends "12 messages (lobby 10, dev 2), 2 online": busiest rooms first,
//  at most 8 rooms named.
void         mon_stats_summary       (mon_stats_t *self, pc_buf_t *buf);

//  For selftests: decodes topic, command and fields (NULL-terminated) the
//  way the SUB side does, then handles it: mon_stats_handle's answer, or -2
//  when it did not decode (counted as the broker's malformed).
int          mon_stats_feed          (mon_stats_t *self, int64_t now_ms, const char *topic,
                                      const char *command, ...);

void         mon_stats_test          (bool verbose);
#endif

//  mon_stats.c: aggregation of the broker's fan-out (MSG counts, who is
//  online, who is in which room). Input is the network's: nothing here
//  asserts on it; a message that does not make sense is counted and dropped.
#include "mon_stats.h"
#include "pc_limits.h"

#include <errno.h>
#include <stdlib.h>

//  Per-second message counts over the last RING_SECONDS seconds: the 1 s,
//  1 min and 15 min rates, the 60 s sparkline and the alert windows.
#define RING_SECONDS    900

typedef struct {
    uint32_t  counts [RING_SECONDS];
    int64_t   last_sec;             //  the second counts [last_sec % N] holds
} ring_t;

typedef struct {
    char     *name;
    uint64_t  messages;
    zhashx_t *members;              //  user name -> (void *) 1
    ring_t    ring;
} room_t;

//  The monitor's own log of what happened, newest last (never texts).
#define EVENTS_MAX      100
#define EVENT_TEXT_MAX  160

typedef struct {
    int64_t   ts;                   //  Unix ms
    char      kind [24];
    char      text [EVENT_TEXT_MAX];
} event_t;

//  Alert kinds; a room_rate alert exists once per room (its subject).
typedef enum {
    ALERT_LOGIN_FAILURES, ALERT_BROKER, ALERT_AUTHSVC, ALERT_REDIS, ALERT_ROOM_RATE,
    ALERT_FILESVC, ALERT_KINDS
} alert_kind_t;

static const char *s_alert_names [ALERT_KINDS] = {
    "login_failures", "broker_down", "authsvc_down", "redis_down", "room_rate", "filesvc_down"
};

typedef struct {
    alert_kind_t kind;
    char      subject [PC_NAME_MAX + 1];    //  the room, or ""
    char      detail [128];
    int64_t   since_ms;             //  Unix ms when raised
} alert_t;

//  A service is down after three missed heartbeats (the broker's are 2 s apart).
#define SERVICE_SILENCE_MS  6000

struct _mon_stats_t {
    int64_t   started_ms;
    int64_t   heard_ms;             //  last message from the broker; 0: never
    int64_t   wall_offset;          //  Unix ms - now_ms
    uint64_t  messages;
    uint64_t  malformed;
    zhashx_t *rooms;                //  name -> room_t, owned
    zhashx_t *online;               //  user name -> (void *) 1
    size_t    unlisted;             //  online but left off a capped heartbeat list
    ring_t    ring;                 //  all rooms' messages
    ring_t    failures_ring;        //  failed logins
    uint64_t  login_failures;
    uint64_t  dms;
    uint64_t  rejects;
    uint64_t  auth_down;
    //  The broker's own figures ("stats" event); valid when broker_known
    bool      broker_known;
    uint64_t  broker [8];           //  sessions, pending, journal, malformed, refused, uptime,
                                    //  delivery latency avg and max (us)
    bool      authsvc_known;
    int64_t   authsvc_ms;           //  as last reported; -1: never answered
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
    event_t   events [EVENTS_MAX];
    size_t    events_next;          //  total ever logged; next slot is % EVENTS_MAX
    zlistx_t *alerts;               //  alert_t, owned, in the order raised
    uint64_t  alerts_total [ALERT_KINDS];
};

#define SUMMARY_ROOMS   8

static void
s_room_destroy (room_t **self_p)
{
    if (*self_p) {
        room_t *self = *self_p;
        zhashx_destroy (&self->members);
        zstr_free (&self->name);
        free (self);
        *self_p = NULL;
    }
}

static void
s_room_free (void **item)
{
    s_room_destroy ((room_t **) item);
}

static room_t *
s_room_require (mon_stats_t *self, const char *name)
{
    room_t *room = (room_t *) zhashx_lookup (self->rooms, name);
    if (!room) {
        room = (room_t *) zmalloc (sizeof (room_t));
        assert (room);
        room->name = strdup (name);
        assert (room->name);
        room->members = zhashx_new ();
        assert (room->members);
        zhashx_insert (self->rooms, name, room);
    }
    return room;
}

static int64_t
s_second (int64_t now_ms)
{
    return now_ms >= 0? now_ms / 1000: (now_ms - 999) / 1000;
}

static size_t
s_slot (int64_t second)
{
    return (size_t) (((second % RING_SECONDS) + RING_SECONDS) % RING_SECONDS);
}

//  Moves the ring on to second, zeroing the seconds nothing was counted in.
static void
s_ring_advance (ring_t *ring, int64_t second)
{
    if (second <= ring->last_sec)
        return;
    if (second - ring->last_sec >= RING_SECONDS)
        memset (ring->counts, 0, sizeof (ring->counts));
    else
        for (int64_t sec = ring->last_sec + 1; sec <= second; sec++)
            ring->counts [s_slot (sec)] = 0;
    ring->last_sec = second;
}

static void
s_ring_add (ring_t *ring, int64_t now_ms)
{
    s_ring_advance (ring, s_second (now_ms));
    ring->counts [s_slot (ring->last_sec)]++;
}

//  Sum of count seconds, from `back` seconds before now_ms's second on
//  backwards (back 0 is the current, still incomplete second).
static uint64_t
s_ring_sum (ring_t *ring, int64_t now_ms, int back, int count)
{
    int64_t now_sec = s_second (now_ms);
    s_ring_advance (ring, now_sec);
    uint64_t sum = 0;
    for (int k = back; k < back + count && k < RING_SECONDS; k++)
        sum += ring->counts [s_slot (now_sec - k)];
    return sum;
}

//  Messages per second over the last `seconds` complete seconds, or over
//  the seconds the monitor has run when that is fewer.
static double
s_ring_rate (mon_stats_t *self, ring_t *ring, int seconds, int64_t now_ms)
{
    int64_t ran = s_second (now_ms) - s_second (self->started_ms);
    int divisor = ran < seconds? (int) (ran > 1? ran: 1): seconds;
    return (double) s_ring_sum (ring, now_ms, 1, divisor) / divisor;
}

static void
s_log_event (mon_stats_t *self, int64_t now_ms, const char *kind, const char *format, ...)
{
    event_t *event = &self->events [self->events_next++ % EVENTS_MAX];
    event->ts = now_ms + self->wall_offset;
    snprintf (event->kind, sizeof (event->kind), "%s", kind);
    va_list args;
    va_start (args, format);
    vsnprintf (event->text, sizeof (event->text), format, args);
    va_end (args);
    //  Never cut a UTF-8 sequence in two
    size_t size = strlen (event->text);
    if (size == sizeof (event->text) - 1) {
        while (size && ((unsigned char) event->text [size - 1] & 0xC0) == 0x80)
            size--;
        if (size && ((unsigned char) event->text [size - 1] & 0xC0) == 0xC0)
            size--;
        event->text [size] = 0;
    }
}

static void
s_alert_free (alert_t **alert_p)
{
    if (*alert_p) {
        free (*alert_p);
        *alert_p = NULL;
    }
}

mon_stats_t *
mon_stats_new (int64_t now_ms)
{
    mon_stats_t *self = (mon_stats_t *) zmalloc (sizeof (mon_stats_t));
    assert (self);
    self->started_ms = now_ms;
    self->rooms = zhashx_new ();
    assert (self->rooms);
    zhashx_set_destructor (self->rooms, s_room_free);
    self->online = zhashx_new ();
    assert (self->online);
    self->alerts = zlistx_new ();
    assert (self->alerts);
    zlistx_set_destructor (self->alerts, (zlistx_destructor_fn *) s_alert_free);
    self->ring.last_sec = s_second (now_ms);
    self->failures_ring.last_sec = s_second (now_ms);
    self->authsvc_ms = -1;
    self->redis_state = -1;
    self->login_threshold = MON_ALERT_LOGIN_FAILURES;
    self->room_rate_limit = MON_ALERT_ROOM_RATE;
    return self;
}

void
mon_stats_destroy (mon_stats_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        mon_stats_t *self = *self_p;
        zhashx_destroy (&self->rooms);
        zhashx_destroy (&self->online);
        zlistx_destroy (&self->alerts);
        free (self);
        *self_p = NULL;
    }
}

static int
s_strcmp (const void *item1, const void *item2)
{
    return strcmp ((const char *) item1, (const char *) item2);
}

//  The keys of a hash, sorted; caller destroys the list.
static zlistx_t *
s_sorted_keys (zhashx_t *hash)
{
    zlistx_t *keys = zhashx_keys (hash);
    assert (keys);
    zlistx_set_comparator (keys, s_strcmp);
    pc_list_sort (keys, s_strcmp);
    return keys;
}

static void
s_forget_memberships (mon_stats_t *self, const char *user)
{
    for (room_t *room = (room_t *) zhashx_first (self->rooms); room;
         room = (room_t *) zhashx_next (self->rooms))
        zhashx_delete (room->members, user);
}

//  "COUNT" and "USER,USER,..." (possibly empty): the authoritative list of
//  who is online. Users who dropped off it lose their memberships too (a
//  session that expired left its rooms). Nothing is applied unless every
//  name in the list is valid.
static int
s_heartbeat (mon_stats_t *self, const char *count, const char *list)
{
    char *end;
    errno = 0;
    long long value = strtoll (count, &end, 10);
    if (*count == 0 || *end || errno || value < 0)
        return -2;
    zhashx_t *online = zhashx_new ();
    assert (online);
    int rc = 0;
    if (list && *list) {
        char *copy = strdup (list);
        assert (copy);
        char *cursor = copy;
        while (cursor) {
            char *comma = strchr (cursor, ',');
            if (comma)
                *comma = 0;
            if (!pc_name_valid (cursor)) {
                rc = -2;
                break;
            }
            zhashx_insert (online, cursor, (void *) 1);
            cursor = comma? comma + 1: NULL;
        }
        free (copy);
    }
    if (rc == 0) {
        zlistx_t *before = zhashx_keys (self->online);
        for (const char *user = (const char *) zlistx_first (before); user;
             user = (const char *) zlistx_next (before))
            if (!zhashx_lookup (online, user))
                s_forget_memberships (self, user);
        zlistx_destroy (&before);
        zhashx_destroy (&self->online);
        self->online = online;
        //  The broker caps the list at one field; its count stays exact.
        size_t listed = zhashx_size (online);
        self->unlisted = (unsigned long long) value > listed? (size_t) value - listed: 0;
    }
    else
        zhashx_destroy (&online);
    return rc;
}

//  A non-negative decimal integer of at most 19 digits, or -1.
static int64_t
s_count (const char *text)
{
    if (!text || !*text || strlen (text) > 19)
        return -1;
    for (const char *c = text; *c; c++)
        if (*c < '0' || *c > '9')
            return -1;
    return strtoll (text, NULL, 10);
}

//  "health authsvc MS" (MS >= -1) and "health redis up|down".
static int
s_health (mon_stats_t *self, const char *service, const char *value)
{
    if (!service || !value)
        return -2;
    if (streq (service, "authsvc")) {
        int64_t ms = streq (value, "-1")? -1: s_count (value);
        if (ms == -1 && !streq (value, "-1"))
            return -2;
        self->authsvc_known = true;
        self->authsvc_ms = ms;
    }
    else
    if (streq (service, "redis")) {
        if (streq (value, "up"))
            self->redis_state = 1;
        else
        if (streq (value, "down"))
            self->redis_state = 0;
        else
            return -2;
    }
    //  Other services: a later broker's, not ours to judge
    return 0;
}

static int
s_event (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *kind = pc_msg_field (msg, 0);
    const char *user = pc_msg_field (msg, 1);
    const char *room = pc_msg_field (msg, 2);
    if (!kind)
        return -2;
    if (streq (kind, "login")) {
        if (!user || !pc_name_valid (user))
            return -2;
        zhashx_insert (self->online, user, (void *) 1);
        s_log_event (self, now_ms, kind, "%s logged in", user);
    }
    else
    if (streq (kind, "logout")) {
        if (!user || !pc_name_valid (user))
            return -2;
        zhashx_delete (self->online, user);
        s_forget_memberships (self, user);
        s_log_event (self, now_ms, kind, "%s logged out", user);
    }
    else
    if (streq (kind, "join")) {
        if (!user || !pc_name_valid (user) || !room || !pc_name_valid (room))
            return -2;
        zhashx_insert (self->online, user, (void *) 1);
        zhashx_insert (s_room_require (self, room)->members, user, (void *) 1);
        s_log_event (self, now_ms, kind, "%s joined %s", user, room);
    }
    else
    if (streq (kind, "leave")) {
        if (!user || !pc_name_valid (user) || !room || !pc_name_valid (room))
            return -2;
        room_t *known = (room_t *) zhashx_lookup (self->rooms, room);
        if (known)
            zhashx_delete (known->members, user);
        s_log_event (self, now_ms, kind, "%s left %s", user, room);
    }
    else
    if (streq (kind, "heartbeat")) {
        if (!user)                  //  the count
            return -2;
        return s_heartbeat (self, user, room);
    }
    else
    if (streq (kind, "login-failed")) {
        //  USER CODE; the name is what the client typed (it passed the codec)
        if (!user || !pc_name_valid (user) || !room || s_count (room) == -1)
            return -2;
        self->login_failures++;
        s_ring_add (&self->failures_ring, now_ms);
        s_log_event (self, now_ms, kind, "%s (%s)", user, room);
    }
    else
    if (streq (kind, "dm")) {
        //  FROM TO: who wrote to whom; there is no text to see
        if (!user || !pc_name_valid (user) || !room || !pc_name_valid (room))
            return -2;
        self->dms++;
        s_log_event (self, now_ms, kind, "%s -> %s", user, room);
    }
    else
    if (streq (kind, "reject")) {
        self->rejects++;
        s_log_event (self, now_ms, kind, "%s %s", user? user: "?", room? room: "");
    }
    else
    if (streq (kind, "auth-down")) {
        self->auth_down++;
        s_log_event (self, now_ms, kind, "no auth service answered");
    }
    else
    if (streq (kind, "health"))
        return s_health (self, user, room);
    else
    if (streq (kind, "files")) {
        //  ACTIVE-UPLOADS ACTIVE-DOWNLOADS UPLOADS DOWNLOADS BYTES-IN BYTES-OUT
        uint64_t values [6];
        for (size_t i = 0; i < 6; i++) {
            int64_t value = s_count (pc_msg_field (msg, i + 1));
            if (value == -1)
                return -2;
            values [i] = (uint64_t) value;
        }
        memcpy (self->files, values, sizeof (values));
        self->files_heard_ms = now_ms;
    }
    else
    if (streq (kind, "file-up") || streq (kind, "file-down")) {
        //  USER SPACE-ID NAME SIZE: metadata only; a private file's NAME is "-"
        const char *name = pc_msg_field (msg, 3);
        if (!user || !pc_name_valid (user) || !room || !name
        ||  s_count (pc_msg_field (msg, 4)) == -1)
            return -2;
        bool up = streq (kind, "file-up");
        if (up)
            self->files_shared++;
        else
            self->files_fetched++;
        s_log_event (self, now_ms, kind, "%s %s %s in %s (%s bytes)", user,
                     up? "uploaded": "downloaded", name, room, pc_msg_field (msg, 4));
    }
    else
    if (streq (kind, "file-rm")) {
        const char *name = pc_msg_field (msg, 3);
        if (!user || !pc_name_valid (user) || !room || !name)
            return -2;
        self->files_removed++;
        s_log_event (self, now_ms, kind, "%s removed %s from %s", user, name, room);
    }
    else
    if (streq (kind, "stats")) {
        //  SESSIONS PENDING-AUTH JOURNAL MALFORMED SUBS-REFUSED UPTIME-S
        //  [LATENCY-AVG-US LATENCY-MAX-US]
        uint64_t values [8] = { 0 };
        size_t given = pc_msg_nfields (msg) >= 9? 8: 6;
        for (size_t i = 0; i < given; i++) {
            int64_t value = s_count (pc_msg_field (msg, i + 1));
            if (value == -1)
                return -2;
            values [i] = (uint64_t) value;
        }
        memcpy (self->broker, values, sizeof (values));
        self->broker_known = true;
    }
    //  Other kinds (later additions) are not ours to judge.
    return 0;
}

int
mon_stats_handle (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    assert (self);
    assert (msg);
    self->heard_ms = now_ms;
    const char *topic = pc_msg_topic (msg);
    int rc = 0;
    if (pc_msg_is (msg, "MSG")) {
        //  The codec checked the field types; the topic must be the room's.
        const char *room = pc_msg_field (msg, 1);
        char expected [PC_NAME_MAX + 8];
        snprintf (expected, sizeof (expected), PC_TOPIC_ROOM "%s/", room? room: "");
        if (room && topic && streq (topic, expected)) {
            room_t *known = s_room_require (self, room);
            known->messages++;
            s_ring_add (&known->ring, now_ms);
            self->messages++;
            s_ring_add (&self->ring, now_ms);
        }
        else
            rc = -2;
    }
    else
    if (pc_msg_is (msg, "EVENT") && topic && streq (topic, PC_TOPIC_EVENT))
        rc = s_event (self, msg, now_ms);
    else
        rc = -2;                    //  nothing else belongs on the fan-out
    if (rc == -2)
        self->malformed++;
    return rc;
}

void
mon_stats_broker_malformed (mon_stats_t *self, int64_t now_ms)
{
    assert (self);
    self->heard_ms = now_ms;
    self->malformed++;
}

void
mon_stats_malformed (mon_stats_t *self)
{
    assert (self);
    self->malformed++;
}

uint64_t
mon_stats_messages (mon_stats_t *self)
{
    assert (self);
    return self->messages;
}

uint64_t
mon_stats_malformed_total (mon_stats_t *self)
{
    assert (self);
    return self->malformed;
}

uint64_t
mon_stats_room_messages (mon_stats_t *self, const char *room)
{
    assert (self);
    room_t *known = (room_t *) zhashx_lookup (self->rooms, room);
    return known? known->messages: 0;
}

size_t
mon_stats_room_members (mon_stats_t *self, const char *room)
{
    assert (self);
    room_t *known = (room_t *) zhashx_lookup (self->rooms, room);
    return known? zhashx_size (known->members): 0;
}

bool
mon_stats_is_member (mon_stats_t *self, const char *room, const char *user)
{
    assert (self);
    room_t *known = (room_t *) zhashx_lookup (self->rooms, room);
    return known && zhashx_lookup (known->members, user) != NULL;
}

size_t
mon_stats_online (mon_stats_t *self)
{
    assert (self);
    return zhashx_size (self->online) + self->unlisted;
}

bool
mon_stats_is_online (mon_stats_t *self, const char *user)
{
    assert (self);
    return zhashx_lookup (self->online, user) != NULL;
}

int64_t
mon_stats_broker_silence (mon_stats_t *self, int64_t now_ms)
{
    assert (self);
    if (!self->heard_ms)
        return -1;
    return now_ms > self->heard_ms? now_ms - self->heard_ms: 0;
}

void
mon_stats_set_thresholds (mon_stats_t *self, int login_failures, int room_rate)
{
    assert (self);
    self->login_threshold = login_failures > 0? login_failures: MON_ALERT_LOGIN_FAILURES;
    self->room_rate_limit = room_rate > 0? room_rate: MON_ALERT_ROOM_RATE;
}

void
mon_stats_set_wall_offset (mon_stats_t *self, int64_t offset_ms)
{
    assert (self);
    self->wall_offset = offset_ms;
}

void
mon_stats_set_rss (mon_stats_t *self, uint64_t bytes)
{
    assert (self);
    self->rss = bytes;
}

uint64_t
mon_stats_login_failures (mon_stats_t *self)
{
    assert (self);
    return self->login_failures;
}

uint64_t
mon_stats_dms (mon_stats_t *self)
{
    assert (self);
    return self->dms;
}

uint64_t
mon_stats_rejects (mon_stats_t *self)
{
    assert (self);
    return self->rejects;
}

double
mon_stats_rate (mon_stats_t *self, const char *room, int seconds, int64_t now_ms)
{
    assert (self);
    if (!room)
        return s_ring_rate (self, &self->ring, seconds, now_ms);
    room_t *known = (room_t *) zhashx_lookup (self->rooms, room);
    return known? s_ring_rate (self, &known->ring, seconds, now_ms): 0.0;
}

//  --------------------------------------------------------------------------
//  Alerts

static alert_t *
s_alert_find (mon_stats_t *self, alert_kind_t kind, const char *subject)
{
    for (alert_t *alert = (alert_t *) zlistx_first (self->alerts); alert;
         alert = (alert_t *) zlistx_next (self->alerts))
        if (alert->kind == kind && streq (alert->subject, subject))
            return alert;
    return NULL;
}

//  Raises or clears one alert; logs and records only the transitions.
static void
s_alert_set (mon_stats_t *self, alert_kind_t kind, const char *subject, bool active,
             int64_t now_ms, const char *detail)
{
    alert_t *alert = s_alert_find (self, kind, subject);
    if (active && !alert) {
        alert = (alert_t *) zmalloc (sizeof (alert_t));
        assert (alert);
        alert->kind = kind;
        snprintf (alert->subject, sizeof (alert->subject), "%s", subject);
        alert->since_ms = now_ms + self->wall_offset;
        snprintf (alert->detail, sizeof (alert->detail), "%s", detail);
        zlistx_add_end (self->alerts, alert);
        self->alerts_total [kind]++;
        zsys_warning ("monitor: alert %s raised: %s", s_alert_names [kind], detail);
        s_log_event (self, now_ms, "alert", "%s: %s", s_alert_names [kind], detail);
    }
    else
    if (active)
        snprintf (alert->detail, sizeof (alert->detail), "%s", detail);
    else
    if (alert) {
        zsys_info ("monitor: alert %s%s%s cleared", s_alert_names [kind],
                   *subject? " ": "", subject);
        s_log_event (self, now_ms, "alert-cleared", "%s%s%s", s_alert_names [kind],
                     *subject? " ": "", subject);
        zlistx_delete (self->alerts, zlistx_cursor (self->alerts));
    }
}

size_t
mon_stats_tick (mon_stats_t *self, int64_t now_ms)
{
    assert (self);
    char detail [128];
    int64_t ran = now_ms - self->started_ms;

    uint64_t failures = s_ring_sum (&self->failures_ring, now_ms, 0, 60);
    snprintf (detail, sizeof (detail), "%" PRIu64 " failed logins in the last 60 s "
              "(threshold %d)", failures, self->login_threshold);
    s_alert_set (self, ALERT_LOGIN_FAILURES, "",
                 failures >= (uint64_t) self->login_threshold, now_ms, detail);

    int64_t silence = mon_stats_broker_silence (self, now_ms);
    bool broker_down = silence == -1? ran >= SERVICE_SILENCE_MS: silence > SERVICE_SILENCE_MS;
    if (silence == -1)
        snprintf (detail, sizeof (detail), "nothing heard from the broker since the start");
    else
        snprintf (detail, sizeof (detail), "nothing heard from the broker for %" PRId64 " s",
                  silence / 1000);
    s_alert_set (self, ALERT_BROKER, "", broker_down, now_ms, detail);

    bool authsvc_down = self->authsvc_known
                     && (self->authsvc_ms > SERVICE_SILENCE_MS
                     || (self->authsvc_ms == -1 && ran >= SERVICE_SILENCE_MS));
    if (self->authsvc_ms == -1)
        snprintf (detail, sizeof (detail), "no auth service has answered the broker");
    else
        snprintf (detail, sizeof (detail), "no auth service answered the broker for %" PRId64
                  " s", self->authsvc_ms / 1000);
    s_alert_set (self, ALERT_AUTHSVC, "", authsvc_down, now_ms, detail);

    s_alert_set (self, ALERT_REDIS, "", self->redis_state == 0, now_ms,
                 "the broker reports Redis down");

    //  Only once it has been heard: a stack may run without file sharing.
    bool filesvc_down = self->files_heard_ms
                     && now_ms - self->files_heard_ms > SERVICE_SILENCE_MS;
    snprintf (detail, sizeof (detail), "nothing heard from the file service for %" PRId64 " s",
              self->files_heard_ms? (now_ms - self->files_heard_ms) / 1000: 0);
    s_alert_set (self, ALERT_FILESVC, "", filesvc_down, now_ms, detail);

    for (room_t *room = (room_t *) zhashx_first (self->rooms); room;
         room = (room_t *) zhashx_next (self->rooms)) {
        double rate = (double) s_ring_sum (&room->ring, now_ms, 1, 10) / 10.0;
        bool over = rate > self->room_rate_limit;
        if (over || s_alert_find (self, ALERT_ROOM_RATE, room->name)) {
            snprintf (detail, sizeof (detail), "%s: %.1f messages/s over 10 s (limit %d)",
                      room->name, rate, self->room_rate_limit);
            s_alert_set (self, ALERT_ROOM_RATE, room->name, over, now_ms, detail);
        }
    }
    return zlistx_size (self->alerts);
}

bool
mon_stats_alert_active (mon_stats_t *self, const char *kind, const char *subject)
{
    assert (self);
    for (alert_t *alert = (alert_t *) zlistx_first (self->alerts); alert;
         alert = (alert_t *) zlistx_next (self->alerts))
        if (streq (s_alert_names [alert->kind], kind)
        && (!subject || streq (alert->subject, subject)))
            return true;
    return false;
}

static size_t
s_alerts_of (mon_stats_t *self, alert_kind_t kind)
{
    size_t count = 0;
    for (alert_t *alert = (alert_t *) zlistx_first (self->alerts); alert;
         alert = (alert_t *) zlistx_next (self->alerts))
        if (alert->kind == kind)
            count++;
    return count;
}

//  Service health as the gauges and STATS show it: 1 up, 0 down, -1 unknown.
static int
s_broker_up (mon_stats_t *self, int64_t now_ms)
{
    int64_t silence = mon_stats_broker_silence (self, now_ms);
    return silence != -1 && silence <= SERVICE_SILENCE_MS;
}

static int
s_authsvc_up (mon_stats_t *self, int64_t now_ms)
{
    if (!self->authsvc_known || !s_broker_up (self, now_ms))
        return -1;
    return self->authsvc_ms >= 0 && self->authsvc_ms <= SERVICE_SILENCE_MS;
}

static int
s_redis_up (mon_stats_t *self, int64_t now_ms)
{
    return s_broker_up (self, now_ms)? self->redis_state: -1;
}

static int
s_filesvc_up (mon_stats_t *self, int64_t now_ms)
{
    if (!self->files_heard_ms)
        return -1;
    return now_ms - self->files_heard_ms <= SERVICE_SILENCE_MS;
}

static const char *
s_state_name (int state)
{
    return state == 1? "up": state == 0? "down": "unknown";
}

//  --------------------------------------------------------------------------
//  STATS

void
mon_stats_json (mon_stats_t *self, pc_buf_t *buf, int64_t now_ms)
{
    assert (self);
    assert (buf);
    pc_buf_printf (buf, "{\"messages_total\":%" PRIu64 ",\"rooms\":{", self->messages);
    zlistx_t *names = s_sorted_keys (self->rooms);
    bool first = true;
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names)) {
        room_t *room = (room_t *) zhashx_lookup (self->rooms, name);
        if (!first)
            pc_buf_append (buf, ",", 1);
        first = false;
        pc_buf_json_str (buf, name);
        pc_buf_printf (buf, ":{\"messages\":%" PRIu64 ",\"members\":%zu,"
                       "\"rate_1s\":%.2f,\"rate_1m\":%.2f,\"rate_15m\":%.2f}",
                       room->messages, zhashx_size (room->members),
                       s_ring_rate (self, &room->ring, 1, now_ms),
                       s_ring_rate (self, &room->ring, 60, now_ms),
                       s_ring_rate (self, &room->ring, RING_SECONDS, now_ms));
    }
    zlistx_destroy (&names);
    pc_buf_printf (buf, "},\"users_online\":%zu,\"online\":[", mon_stats_online (self));
    names = s_sorted_keys (self->online);
    first = true;
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names)) {
        if (!first)
            pc_buf_append (buf, ",", 1);
        first = false;
        pc_buf_json_str (buf, name);
    }
    zlistx_destroy (&names);
    int64_t uptime = now_ms > self->started_ms? (now_ms - self->started_ms) / 1000: 0;
    pc_buf_printf (buf, "],\"uptime_s\":%" PRId64 ",\"malformed_total\":%" PRIu64
                   ",\"broker_last_heard_ms\":%" PRId64,
                   uptime, self->malformed, mon_stats_broker_silence (self, now_ms));

    pc_buf_printf (buf, ",\"rate_1s\":%.2f,\"rate_1m\":%.2f,\"rate_15m\":%.2f,\"rate_history\":[",
                   s_ring_rate (self, &self->ring, 1, now_ms),
                   s_ring_rate (self, &self->ring, 60, now_ms),
                   s_ring_rate (self, &self->ring, RING_SECONDS, now_ms));
    for (int back = 60; back >= 1; back--)
        pc_buf_printf (buf, "%s%" PRIu64, back == 60? "": ",",
                       s_ring_sum (&self->ring, now_ms, back, 1));
    pc_buf_printf (buf, "],\"login_failures_total\":%" PRIu64 ",\"login_failures_1m\":%" PRIu64
                   ",\"dms_total\":%" PRIu64 ",\"rejects_total\":%" PRIu64
                   ",\"auth_down_total\":%" PRIu64,
                   self->login_failures, s_ring_sum (&self->failures_ring, now_ms, 0, 60),
                   self->dms, self->rejects, self->auth_down);
    pc_buf_printf (buf, ",\"files\":{\"filesvc\":\"%s\",\"active_uploads\":%" PRIu64
                   ",\"active_downloads\":%" PRIu64 ",\"uploads_total\":%" PRIu64
                   ",\"downloads_total\":%" PRIu64 ",\"bytes_in_total\":%" PRIu64
                   ",\"bytes_out_total\":%" PRIu64 ",\"shared\":%" PRIu64
                   ",\"fetched\":%" PRIu64 ",\"removed\":%" PRIu64 "}",
                   s_state_name (s_filesvc_up (self, now_ms)), self->files [0],
                   self->files [1], self->files [2], self->files [3], self->files [4],
                   self->files [5], self->files_shared, self->files_fetched,
                   self->files_removed);
    if (self->broker_known)
        pc_buf_printf (buf, ",\"broker\":{\"sessions\":%" PRIu64 ",\"pending_auth\":%" PRIu64
                       ",\"journal\":%" PRIu64 ",\"malformed\":%" PRIu64
                       ",\"subs_refused\":%" PRIu64 ",\"uptime_s\":%" PRIu64
                       ",\"delivery_avg_us\":%" PRIu64 ",\"delivery_max_us\":%" PRIu64 "}",
                       self->broker [0], self->broker [1], self->broker [2],
                       self->broker [3], self->broker [4], self->broker [5],
                       self->broker [6], self->broker [7]);
    else
        pc_buf_printf (buf, ",\"broker\":null");
    pc_buf_printf (buf, ",\"broker_up\":%s,\"authsvc_last_heard_ms\":%" PRId64
                   ",\"authsvc\":\"%s\",\"redis\":\"%s\",\"memory_rss_bytes\":%" PRIu64
                   ",\"thresholds\":{\"login_failures\":%d,\"room_rate\":%d},\"alerts\":[",
                   s_broker_up (self, now_ms)? "true": "false",
                   self->authsvc_known? self->authsvc_ms: -1,
                   s_state_name (s_authsvc_up (self, now_ms)),
                   s_state_name (s_redis_up (self, now_ms)), self->rss,
                   self->login_threshold, self->room_rate_limit);
    first = true;
    for (alert_t *alert = (alert_t *) zlistx_first (self->alerts); alert;
         alert = (alert_t *) zlistx_next (self->alerts)) {
        pc_buf_printf (buf, "%s{\"kind\":\"%s\",\"subject\":", first? "": ",",
                       s_alert_names [alert->kind]);
        pc_buf_json_str (buf, alert->subject);
        pc_buf_printf (buf, ",\"detail\":");
        pc_buf_json_str (buf, alert->detail);
        pc_buf_printf (buf, ",\"since_ms\":%" PRId64 "}", alert->since_ms);
        first = false;
    }
    pc_buf_printf (buf, "],\"alerts_total\":{");
    for (int kind = 0; kind < ALERT_KINDS; kind++)
        pc_buf_printf (buf, "%s\"%s\":%" PRIu64, kind? ",": "", s_alert_names [kind],
                       self->alerts_total [kind]);
    pc_buf_printf (buf, "},\"events\":[");
    size_t count = self->events_next < EVENTS_MAX? self->events_next: EVENTS_MAX;
    for (size_t index = self->events_next - count; index < self->events_next; index++) {
        event_t *event = &self->events [index % EVENTS_MAX];
        pc_buf_printf (buf, "%s{\"ts\":%" PRId64 ",\"kind\":",
                       index == self->events_next - count? "": ",", event->ts);
        pc_buf_json_str (buf, event->kind);
        pc_buf_printf (buf, ",\"text\":");
        pc_buf_json_str (buf, event->text);
        pc_buf_append (buf, "}", 1);
    }
    pc_buf_append (buf, "]}", 2);
}

//  --------------------------------------------------------------------------
//  Prometheus text exposition, format 0.0.4

static void
s_prom_family (pc_buf_t *buf, const char *name, const char *type, const char *help)
{
    pc_buf_printf (buf, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

//  A label value: backslash, double quote and line feed escaped.
static void
s_prom_label (pc_buf_t *buf, const char *value)
{
    for (const char *c = value; *c; c++)
        if (*c == '\\')
            pc_buf_append (buf, "\\\\", 2);
        else
        if (*c == '"')
            pc_buf_append (buf, "\\\"", 2);
        else
        if (*c == '\n')
            pc_buf_append (buf, "\\n", 2);
        else
            pc_buf_append (buf, c, 1);
}

static void
s_prom_value (pc_buf_t *buf, const char *name, const char *type, const char *help,
              uint64_t value)
{
    s_prom_family (buf, name, type, help);
    pc_buf_printf (buf, "%s %" PRIu64 "\n", name, value);
}

void
mon_stats_metrics (mon_stats_t *self, pc_buf_t *buf, int64_t now_ms)
{
    assert (self);
    assert (buf);
    s_prom_family (buf, "pychat_messages_total", "counter",
                   "Room messages the monitor has counted, per room.");
    zlistx_t *names = s_sorted_keys (self->rooms);
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names)) {
        room_t *room = (room_t *) zhashx_lookup (self->rooms, name);
        pc_buf_printf (buf, "pychat_messages_total{room=\"");
        s_prom_label (buf, name);
        pc_buf_printf (buf, "\"} %" PRIu64 "\n", room->messages);
    }
    s_prom_family (buf, "pychat_room_members", "gauge", "Users joined to each room.");
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names)) {
        room_t *room = (room_t *) zhashx_lookup (self->rooms, name);
        pc_buf_printf (buf, "pychat_room_members{room=\"");
        s_prom_label (buf, name);
        pc_buf_printf (buf, "\"} %zu\n", zhashx_size (room->members));
    }
    zlistx_destroy (&names);
    s_prom_value (buf, "pychat_messages_all_total", "counter",
                  "Room messages the monitor has counted, all rooms.", self->messages);
    s_prom_family (buf, "pychat_messages_per_second", "gauge",
                   "Room messages per second over the last 1 s, 1 min and 15 min.");
    pc_buf_printf (buf, "pychat_messages_per_second{window=\"1s\"} %.2f\n"
                   "pychat_messages_per_second{window=\"1m\"} %.2f\n"
                   "pychat_messages_per_second{window=\"15m\"} %.2f\n",
                   s_ring_rate (self, &self->ring, 1, now_ms),
                   s_ring_rate (self, &self->ring, 60, now_ms),
                   s_ring_rate (self, &self->ring, RING_SECONDS, now_ms));
    s_prom_value (buf, "pychat_users_online", "gauge", "Users logged in.",
                  mon_stats_online (self));
    s_prom_value (buf, "pychat_login_failures_total", "counter",
                  "Failed logins the broker reported.", self->login_failures);
    s_prom_value (buf, "pychat_dms_total", "counter",
                  "Direct messages the broker reported (counts only).", self->dms);
    s_prom_value (buf, "pychat_rejects_total", "counter",
                  "Requests the broker rejected as malformed.", self->rejects);
    s_prom_value (buf, "pychat_monitor_malformed_total", "counter",
                  "Malformed messages the monitor received.", self->malformed);
    s_prom_family (buf, "pychat_alerts_active", "gauge", "Alerts active now, per kind.");
    for (int kind = 0; kind < ALERT_KINDS; kind++)
        pc_buf_printf (buf, "pychat_alerts_active{kind=\"%s\"} %zu\n", s_alert_names [kind],
                       s_alerts_of (self, (alert_kind_t) kind));
    s_prom_family (buf, "pychat_alerts_total", "counter", "Alerts raised, per kind.");
    for (int kind = 0; kind < ALERT_KINDS; kind++)
        pc_buf_printf (buf, "pychat_alerts_total{kind=\"%s\"} %" PRIu64 "\n",
                       s_alert_names [kind], self->alerts_total [kind]);
    s_prom_value (buf, "pychat_broker_sessions", "gauge",
                  "Sessions the broker holds (its last stats event).", self->broker [0]);
    s_prom_value (buf, "pychat_broker_pending_auth", "gauge",
                  "Requests the broker is waiting on the auth service for.", self->broker [1]);
    s_prom_value (buf, "pychat_broker_journal", "gauge",
                  "Messages the broker keeps in memory until Redis takes them.", self->broker [2]);
    s_prom_value (buf, "pychat_broker_malformed_total", "counter",
                  "Malformed requests the broker counted.", self->broker [3]);
    s_prom_value (buf, "pychat_broker_subs_refused_total", "counter",
                  "Subscriptions the broker refused.", self->broker [4]);
    s_prom_value (buf, "pychat_broker_delivery_avg_microseconds", "gauge",
                  "Mean time from reading a SEND to handing it to every member, last heartbeat.",
                  self->broker [6]);
    s_prom_value (buf, "pychat_broker_delivery_max_microseconds", "gauge",
                  "Longest time from reading a SEND to handing it to every member, last heartbeat.",
                  self->broker [7]);
    s_prom_value (buf, "pychat_broker_up", "gauge",
                  "1 when the broker was heard within 6 s.", s_broker_up (self, now_ms) == 1);
    s_prom_value (buf, "pychat_authsvc_up", "gauge",
                  "1 when an auth service answered the broker within 6 s.",
                  s_authsvc_up (self, now_ms) == 1);
    s_prom_value (buf, "pychat_redis_up", "gauge",
                  "1 when the broker reports Redis up.", s_redis_up (self, now_ms) == 1);
    s_prom_value (buf, "pychat_filesvc_up", "gauge",
                  "1 when the file service was heard within 6 s.",
                  s_filesvc_up (self, now_ms) == 1);
    s_prom_family (buf, "pychat_file_transfers_active", "gauge",
                   "File transfers in progress on the file service.");
    pc_buf_printf (buf, "pychat_file_transfers_active{direction=\"up\"} %" PRIu64 "\n"
                   "pychat_file_transfers_active{direction=\"down\"} %" PRIu64 "\n",
                   self->files [0], self->files [1]);
    s_prom_family (buf, "pychat_file_transfers_total", "counter",
                   "Completed file transfers since the file service started.");
    pc_buf_printf (buf, "pychat_file_transfers_total{direction=\"up\"} %" PRIu64 "\n"
                   "pychat_file_transfers_total{direction=\"down\"} %" PRIu64 "\n",
                   self->files [2], self->files [3]);
    s_prom_family (buf, "pychat_file_bytes_total", "counter",
                   "File bytes received and sent by the file service since it started.");
    pc_buf_printf (buf, "pychat_file_bytes_total{direction=\"in\"} %" PRIu64 "\n"
                   "pychat_file_bytes_total{direction=\"out\"} %" PRIu64 "\n",
                   self->files [4], self->files [5]);
    int64_t uptime = now_ms > self->started_ms? (now_ms - self->started_ms) / 1000: 0;
    s_prom_value (buf, "pychat_monitor_uptime_seconds", "gauge",
                  "Seconds since the monitor started.", (uint64_t) uptime);
    s_prom_value (buf, "pychat_monitor_memory_bytes", "gauge",
                  "Resident memory of the monitor (VmRSS).", self->rss);
}

//  Busiest first, then by name, so the summary is stable.
static int
s_busier (const void *one, const void *two)
{
    const room_t *a = *(const room_t * const *) one;
    const room_t *b = *(const room_t * const *) two;
    if (a->messages != b->messages)
        return a->messages > b->messages? -1: 1;
    return strcmp (a->name, b->name);
}

void
mon_stats_summary (mon_stats_t *self, pc_buf_t *buf)
{
    assert (self);
    assert (buf);
    pc_buf_printf (buf, "%" PRIu64 " message%s", self->messages,
                   self->messages == 1? "": "s");
    size_t count = zhashx_size (self->rooms);
    if (count) {
        room_t **rooms = (room_t **) malloc (count * sizeof (room_t *));
        assert (rooms);
        size_t index = 0;
        for (room_t *room = (room_t *) zhashx_first (self->rooms); room;
             room = (room_t *) zhashx_next (self->rooms))
            rooms [index++] = room;
        qsort (rooms, count, sizeof (room_t *), s_busier);
        pc_buf_append (buf, " (", 2);
        for (index = 0; index < count && index < SUMMARY_ROOMS; index++)
            pc_buf_printf (buf, "%s%s %" PRIu64, index? ", ": "",
                           rooms [index]->name, rooms [index]->messages);
        if (count > SUMMARY_ROOMS)
            pc_buf_printf (buf, ", %zu more rooms", count - SUMMARY_ROOMS);
        pc_buf_append (buf, ")", 1);
        free (rooms);
    }
    pc_buf_printf (buf, ", %zu online", mon_stats_online (self));
}

//  --------------------------------------------------------------------------
//  Selftest

//  Builds a fan-out message the way the SUB side sees it after decoding.
static int
s_feed (mon_stats_t *self, int64_t now, const char *topic, const char *command, ...)
{
    zmsg_t *raw = zmsg_new ();
    zmsg_addstr (raw, topic);
    zmsg_addstr (raw, PC_SIGNATURE);
    zmsg_addstr (raw, command);
    zmsg_addstr (raw, "");
    va_list args;
    va_start (args, command);
    const char *field;
    while ((field = va_arg (args, const char *)))
        zmsg_addstr (raw, field);
    va_end (args);
    pc_msg_t *msg = pc_msg_new (NULL);
    int rc = pc_msg_decode (msg, &raw, PC_MSG_TOPIC);
    if (rc == 0)
        rc = mon_stats_handle (self, msg, now);
    else
        mon_stats_broker_malformed (self, now);
    pc_msg_destroy (&msg);
    return rc;
}

void
mon_stats_test (bool verbose)
{
    printf (" * mon_stats: ");
    int64_t t0 = 1700000000000;
    mon_stats_t *stats = mon_stats_new (t0);
    assert (stats);
    assert (mon_stats_broker_silence (stats, t0) == -1);

    pc_buf_t buf;
    pc_buf_init (&buf);
    mon_stats_json (stats, &buf, t0);
    const char *empty = "{\"messages_total\":0,\"rooms\":{},\"users_online\":0,"
                        "\"online\":[],\"uptime_s\":0,\"malformed_total\":0,"
                        "\"broker_last_heard_ms\":-1,\"rate_1s\":0.00,";
    assert (strncmp (buf.data, empty, strlen (empty)) == 0);
    assert (strstr (buf.data, "\"broker\":null,\"broker_up\":false,"
                    "\"authsvc_last_heard_ms\":-1,\"authsvc\":\"unknown\","
                    "\"redis\":\"unknown\","));
    assert (strstr (buf.data, "\"alerts\":[],"));
    assert (strstr (buf.data, "\"events\":[]}"));
    pc_buf_free (&buf);

    //  Logins, joins and messages
    assert (s_feed (stats, t0, "$ev/", "EVENT", "login", "alice", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "login", "bob", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "join", "alice", "lobby", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "join", "bob", "lobby", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "join", "bob", "dev", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "join", "bob", "dev", NULL) == 0);
    for (int i = 0; i < 10; i++)
        assert (s_feed (stats, t0, "r/lobby/", "MSG", "1", "lobby", "alice",
                        "1700000000000", "hello", NULL) == 0);
    assert (s_feed (stats, t0, "r/dev/", "MSG", "1", "dev", "bob", "1700000000000", "x", NULL) == 0);
    assert (s_feed (stats, t0, "r/dev/", "MSG", "2", "dev", "bob", "1700000000000", "y", NULL) == 0);
    assert (mon_stats_messages (stats) == 12);
    assert (mon_stats_room_messages (stats, "lobby") == 10);
    assert (mon_stats_room_messages (stats, "dev") == 2);
    assert (mon_stats_room_messages (stats, "nowhere") == 0);
    assert (mon_stats_room_members (stats, "lobby") == 2);
    assert (mon_stats_room_members (stats, "dev") == 1);
    assert (mon_stats_online (stats) == 2);

    pc_buf_init (&buf);
    mon_stats_summary (stats, &buf);
    assert (streq (buf.data, "12 messages (lobby 10, dev 2), 2 online"));
    pc_buf_free (&buf);
    pc_buf_init (&buf);
    mon_stats_json (stats, &buf, t0 + 2500);
    const char *counted = "{\"messages_total\":12,\"rooms\":{"
                   "\"dev\":{\"messages\":2,\"members\":1,\"rate_1s\":0.00,"
                   "\"rate_1m\":1.00,\"rate_15m\":1.00},"
                   "\"lobby\":{\"messages\":10,\"members\":2,\"rate_1s\":0.00,"
                   "\"rate_1m\":5.00,\"rate_15m\":5.00}},"
                   "\"users_online\":2,\"online\":[\"alice\",\"bob\"],\"uptime_s\":2,"
                   "\"malformed_total\":0,\"broker_last_heard_ms\":2500,";
    if (strncmp (buf.data, counted, strlen (counted)))
        printf ("\n%s\n", buf.data);
    assert (strncmp (buf.data, counted, strlen (counted)) == 0);
    //  12 messages in the second t0, 2 s ago: the sparkline's second-last slot
    assert (strstr (buf.data, ",0,12,0],\"login_failures_total\":0,"));
    assert (strstr (buf.data, "\"kind\":\"join\",\"text\":\"alice joined lobby\"}"));
    pc_buf_free (&buf);

    //  Leave, logout (drops every membership)
    assert (s_feed (stats, t0, "$ev/", "EVENT", "leave", "alice", "lobby", NULL) == 0);
    assert (!mon_stats_is_member (stats, "lobby", "alice"));
    assert (s_feed (stats, t0, "$ev/", "EVENT", "leave", "alice", "nowhere", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "logout", "bob", NULL) == 0);
    assert (!mon_stats_is_online (stats, "bob"));
    assert (mon_stats_room_members (stats, "lobby") == 0);
    assert (mon_stats_room_members (stats, "dev") == 0);
    assert (mon_stats_room_messages (stats, "lobby") == 10);

    //  Heartbeat is authoritative; who drops off it loses memberships
    assert (s_feed (stats, t0, "$ev/", "EVENT", "join", "carol", "dev", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "heartbeat", "2", "alice,dave", NULL) == 0);
    assert (mon_stats_online (stats) == 2);
    assert (mon_stats_is_online (stats, "alice") && mon_stats_is_online (stats, "dave"));
    assert (!mon_stats_is_online (stats, "carol"));
    assert (!mon_stats_is_member (stats, "dev", "carol"));
    assert (s_feed (stats, t0, "$ev/", "EVENT", "heartbeat", "0", "", NULL) == 0);
    assert (mon_stats_online (stats) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "heartbeat", "0", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "heartbeat", "1", "erin", NULL) == 0);
    assert (mon_stats_is_online (stats, "erin"));
    //  A capped list: the count is exact, the names are what fitted
    assert (s_feed (stats, t0, "$ev/", "EVENT", "heartbeat", "3", "erin", NULL) == 0);
    assert (mon_stats_online (stats) == 3);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "heartbeat", "1", "erin", NULL) == 0);
    assert (mon_stats_online (stats) == 1);

    //  Unknown kinds are ignored, not malformed
    assert (s_feed (stats, t0, "$ev/", "EVENT", "reject", "400", "bad signature", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "auth-down", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "future-kind", "x", NULL) == 0);
    assert (mon_stats_malformed_total (stats) == 0);

    //  Malformed: counted, nothing applied, never a crash
    uint64_t malformed = 0;
    assert (s_feed (stats, t0, "$ev/", "EVENT", "login", NULL) == -2);
    assert (mon_stats_malformed_total (stats) == ++malformed);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "login", "Not A Name", NULL) == -2);
    assert (mon_stats_malformed_total (stats) == ++malformed);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "join", "alice", NULL) == -2);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "leave", "alice", "", NULL) == -2);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "heartbeat", NULL) == -2);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "heartbeat", "x", "alice", NULL) == -2);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "heartbeat", "-1", "alice", NULL) == -2);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "heartbeat", "2", "alice,,bob", NULL) == -2);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "heartbeat", "1", "alice,", NULL) == -2);
    assert (mon_stats_is_online (stats, "erin") && mon_stats_online (stats) == 1);
    malformed += 7;
    assert (mon_stats_malformed_total (stats) == malformed);
    //  MSG on the wrong topic, EVENT off $ev/, replies on the fan-out
    assert (s_feed (stats, t0, "r/dev/", "MSG", "3", "lobby", "bob", "1", "x", NULL) == -2);
    assert (s_feed (stats, t0, "r/lobby", "MSG", "3", "lobby", "bob", "1", "x", NULL) == -2);
    assert (s_feed (stats, t0, "r/lobbyx/", "MSG", "3", "lobby", "bob", "1", "x", NULL) == -2);
    assert (s_feed (stats, t0, "", "MSG", "3", "lobby", "bob", "1", "x", NULL) == -2);
    assert (s_feed (stats, t0, "r/lobby/", "EVENT", "login", "mallory", NULL) == -2);
    assert (s_feed (stats, t0, "$ev/", "OK", NULL) == -2);
    //  Decoder failures (bad field types)
    assert (s_feed (stats, t0, "r/lobby/", "MSG", "3", "lobby", "bob", "soon", "x", NULL) == -2);
    assert (s_feed (stats, t0, "r/lobby/", "MSG", "3", "lobby", NULL) == -2);
    malformed += 8;
    assert (mon_stats_malformed_total (stats) == malformed);
    assert (mon_stats_messages (stats) == 12);
    assert (!mon_stats_is_online (stats, "mallory"));
    mon_stats_malformed (stats);
    assert (mon_stats_malformed_total (stats) == malformed + 1);
    assert (mon_stats_broker_silence (stats, t0 + 10) == 10);

    //  Failed logins, DMs, rejects, health and the broker's figures
    int64_t t1 = t0 + 100000;
    for (int i = 0; i < 4; i++)
        assert (s_feed (stats, t1, "$ev/", "EVENT", "login-failed", "eve", "401", NULL) == 0);
    assert (mon_stats_tick (stats, t1) == 0);
    assert (!mon_stats_alert_active (stats, "login_failures", NULL));
    assert (s_feed (stats, t1 + 500, "$ev/", "EVENT", "login-failed", "eve", "429", NULL) == 0);
    assert (mon_stats_login_failures (stats) == 5);
    assert (mon_stats_tick (stats, t1 + 600) >= 1);
    assert (mon_stats_alert_active (stats, "login_failures", NULL));
    assert (s_feed (stats, t1, "$ev/", "EVENT", "login-failed", "eve", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "dm", "alice", "bob", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "dm", "alice", NULL) == -2);
    assert (mon_stats_dms (stats) == 1);
    assert (mon_stats_rejects (stats) == 1);            //  the one above
    assert (s_feed (stats, t1, "$ev/", "EVENT", "health", "authsvc", "12", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "health", "redis", "up", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "health", "redis", "maybe", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "health", "authsvc", "soon", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "stats", "3", "0", "0", "7", "1", "99", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "stats", "3", "0", "0", "7", "1", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "stats", "3", "0", "0", "7", "1", "99", "x", "9", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "stats", "3", "0", "0", "-7", "1", "9", NULL) == -2);
    malformed += 7;
    assert (mon_stats_malformed_total (stats) == malformed + 1);
    mon_stats_tick (stats, t1 + 600);
    assert (!mon_stats_alert_active (stats, "authsvc_down", NULL));
    assert (!mon_stats_alert_active (stats, "broker_down", NULL));
    pc_buf_init (&buf);
    mon_stats_json (stats, &buf, t1 + 600);
    if (verbose)
        printf ("\n   %s\n   ", buf.data);
    assert (strstr (buf.data, "\"login_failures_total\":5,\"login_failures_1m\":5,"
                    "\"dms_total\":1,\"rejects_total\":1,\"auth_down_total\":1,"));
    assert (strstr (buf.data, "\"broker\":{\"sessions\":3,\"pending_auth\":0,\"journal\":0,"
                    "\"malformed\":7,\"subs_refused\":1,\"uptime_s\":99,\"delivery_avg_us\":0,"
                    "\"delivery_max_us\":0},\"broker_up\":true,"
                    "\"authsvc_last_heard_ms\":12,\"authsvc\":\"up\",\"redis\":\"up\","));
    assert (strstr (buf.data, "\"alerts\":[{\"kind\":\"login_failures\",\"subject\":\"\","
                    "\"detail\":\"5 failed logins in the last 60 s (threshold 5)\","
                    "\"since_ms\":1700000100600}]"));
    assert (strstr (buf.data, "\"auth_down_total\":1,\"files\":{\"filesvc\":\"unknown\","
                    "\"active_uploads\":0,\"active_downloads\":0,\"uploads_total\":0,"
                    "\"downloads_total\":0,\"bytes_in_total\":0,\"bytes_out_total\":0,"
                    "\"shared\":0,\"fetched\":0,\"removed\":0},\"broker\":{"));
    assert (strstr (buf.data, "\"alerts_total\":{\"login_failures\":1,"));
    assert (strstr (buf.data, "\"kind\":\"dm\",\"text\":\"alice -> bob\"}"));
    pc_buf_free (&buf);

    //  Services gone quiet, Redis down; then it all comes back
    assert (s_feed (stats, t1 + 1000, "$ev/", "EVENT", "health", "authsvc", "6001", NULL) == 0);
    assert (s_feed (stats, t1 + 1000, "$ev/", "EVENT", "health", "redis", "down", NULL) == 0);
    mon_stats_tick (stats, t1 + 1000);
    assert (mon_stats_alert_active (stats, "authsvc_down", NULL));
    assert (mon_stats_alert_active (stats, "redis_down", NULL));
    mon_stats_tick (stats, t1 + 8000);
    assert (mon_stats_alert_active (stats, "broker_down", NULL));
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "health", "authsvc", "-1", NULL) == 0);
    mon_stats_tick (stats, t1 + 62000);
    assert (mon_stats_alert_active (stats, "authsvc_down", NULL));
    assert (!mon_stats_alert_active (stats, "broker_down", NULL));
    assert (!mon_stats_alert_active (stats, "login_failures", NULL));   //  over a minute ago
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "health", "authsvc", "100", NULL) == 0);
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "health", "redis", "up", NULL) == 0);
    assert (mon_stats_tick (stats, t1 + 62000) == 0);

    //  The file service: counters, transfers (metadata only), silence
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "files", "1", "2", "3", "4", "500",
                    "600", NULL) == 0);
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "files", "1", "2", "3", NULL) == -2);
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "file-up", "alice", "room/lobby",
                    "a.pdf", "2048", NULL) == 0);
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "file-down", "bob", "dm/alice+bob",
                    "-", "99", NULL) == 0);
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "file-up", "alice", NULL) == -2);
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "file-rm", "alice", "room/lobby",
                    "a.pdf", NULL) == 0);
    malformed += 2;
    pc_buf_init (&buf);
    mon_stats_json (stats, &buf, t1 + 62000);
    assert (strstr (buf.data, "\"files\":{\"filesvc\":\"up\",\"active_uploads\":1,"
                    "\"active_downloads\":2,\"uploads_total\":3,\"downloads_total\":4,"
                    "\"bytes_in_total\":500,\"bytes_out_total\":600,\"shared\":1,"
                    "\"fetched\":1,\"removed\":1}"));
    assert (strstr (buf.data, "alice uploaded a.pdf in room/lobby (2048 bytes)"));
    pc_buf_free (&buf);
    pc_buf_init (&buf);
    mon_stats_metrics (stats, &buf, t1 + 62000);
    assert (strstr (buf.data, "pychat_file_bytes_total{direction=\"in\"} 500\n"));
    assert (strstr (buf.data, "pychat_filesvc_up 1\n"));
    pc_buf_free (&buf);
    mon_stats_tick (stats, t1 + 69000);
    assert (mon_stats_alert_active (stats, "filesvc_down", NULL));
    assert (s_feed (stats, t1 + 70000, "$ev/", "EVENT", "files", "0", "0", "3", "4", "500",
                    "600", NULL) == 0);
    mon_stats_tick (stats, t1 + 70000);
    assert (!mon_stats_alert_active (stats, "filesvc_down", NULL));

    //  A room over its rate; rates per window
    mon_stats_set_thresholds (stats, 3, 2);
    int64_t t2 = t1 + 200000;
    for (int sec = 0; sec < 10; sec++)
        for (int i = 0; i < 3; i++)
            assert (s_feed (stats, t2 + sec * 1000, "r/busy/", "MSG", "1", "busy", "bob",
                            "1", "x", NULL) == 0);
    mon_stats_tick (stats, t2 + 10000);
    assert (mon_stats_alert_active (stats, "room_rate", "busy"));
    assert (!mon_stats_alert_active (stats, "room_rate", "lobby"));
    assert (mon_stats_rate (stats, "busy", 1, t2 + 10000) == 3.0);
    assert (mon_stats_rate (stats, "busy", 60, t2 + 10000) == 0.5);
    assert (mon_stats_rate (stats, NULL, 60, t2 + 10000) == 0.5);
    pc_buf_init (&buf);
    mon_stats_set_rss (stats, 4096);
    mon_stats_metrics (stats, &buf, t2 + 10000);
    if (verbose)
        printf ("\n%s\n   ", buf.data);
    assert (strstr (buf.data, "# TYPE pychat_messages_total counter\n"));
    assert (strstr (buf.data, "pychat_messages_total{room=\"busy\"} 30\n"));
    assert (strstr (buf.data, "pychat_messages_all_total 42\n"));
    assert (strstr (buf.data, "pychat_login_failures_total 5\n"));
    assert (strstr (buf.data, "pychat_alerts_active{kind=\"room_rate\"} 1\n"));
    assert (strstr (buf.data, "pychat_alerts_total{kind=\"login_failures\"} 1\n"));
    assert (strstr (buf.data, "pychat_monitor_memory_bytes 4096\n"));
    pc_buf_free (&buf);
    mon_stats_tick (stats, t2 + 30000);
    assert (!mon_stats_alert_active (stats, "room_rate", "busy"));
    //  Label escaping
    pc_buf_init (&buf);
    s_prom_label (&buf, "a\"b\\c\nd");
    assert (streq (buf.data, "a\\\"b\\\\c\\nd"));
    pc_buf_free (&buf);
    //  The event log keeps the last EVENTS_MAX
    for (int i = 0; i < EVENTS_MAX + 5; i++)
        assert (s_feed (stats, t2, "$ev/", "EVENT", "dm", "alice", "bob", NULL) == 0);
    pc_buf_init (&buf);
    mon_stats_json (stats, &buf, t2);
    size_t logged = 0;
    for (const char *at = strstr (buf.data, "\"events\":["); (at = strstr (at, "\"ts\":")); at++)
        logged++;
    assert (logged == EVENTS_MAX);
    pc_buf_free (&buf);

    //  Many rooms: the summary names the busiest eight
    for (int i = 0; i < 20; i++) {
        char room [16], topic [24];
        snprintf (room, sizeof (room), "room%02d", i);
        snprintf (topic, sizeof (topic), "r/%s/", room);
        assert (s_feed (stats, t0, topic, "MSG", "1", room, "bob", "1", "x", NULL) == 0);
    }
    pc_buf_init (&buf);
    mon_stats_summary (stats, &buf);
    assert (streq (buf.data, "62 messages (busy 30, lobby 10, dev 2, room00 1, room01 1, "
                   "room02 1, room03 1, room04 1, 15 more rooms), 1 online"));
    if (verbose)
        printf ("\n   %s\n   ", buf.data);
    pc_buf_free (&buf);

    //  Random garbage through the decoder and into the aggregator
    for (int round = 0; round < 1000; round++) {
        zmsg_t *raw = zmsg_new ();
        zmsg_addstr (raw, randof (2)? "$ev/": "r/lobby/");
        zmsg_addstr (raw, PC_SIGNATURE);
        zmsg_addstr (raw, randof (2)? "EVENT": "MSG");
        zmsg_addstr (raw, "");
        const char *words [] = { "login", "logout", "join", "leave", "heartbeat",
                                 "lobby", "alice", "3", ",", "a,b", "", "-", "Z" };
        int nfields = randof (6);
        for (int f = 0; f < nfields; f++)
            zmsg_addstr (raw, words [randof (sizeof (words) / sizeof (words [0]))]);
        pc_msg_t *msg = pc_msg_new (NULL);
        if (pc_msg_decode (msg, &raw, PC_MSG_TOPIC) == 0)
            mon_stats_handle (stats, msg, t0);
        pc_msg_destroy (&msg);
    }
    mon_stats_destroy (&stats);
    mon_stats_destroy (&stats);         //  safe twice
    printf ("OK\n");
}

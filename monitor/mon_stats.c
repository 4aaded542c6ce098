//  mon_stats.c: aggregation of the broker's fan-out (MSG counts, who is
//  online, who is in which room). Input is the network's: nothing here
//  asserts on it; a message that does not make sense is counted and dropped.
#include "mon_stats.h"
#include "pc_limits.h"

#include <errno.h>
#include <stdlib.h>

#define SUMMARY_ROOMS   8

static void
s_room_destroy (mon_room_t **self_p)
{
    if (*self_p) {
        mon_room_t *self = *self_p;
        zhashx_destroy (&self->members);
        zstr_free (&self->name);
        free (self);
        *self_p = NULL;
    }
}

static void
s_room_free (void **item)
{
    s_room_destroy ((mon_room_t **) item);
}

static mon_room_t *
s_room_require (mon_stats_t *self, const char *name)
{
    mon_room_t *room = (mon_room_t *) zhashx_lookup (self->rooms, name);
    if (!room) {
        room = (mon_room_t *) zmalloc (sizeof (mon_room_t));
        assert (room);
        room->name = strdup (name);
        assert (room->name);
        room->members = zhashx_new ();
        assert (room->members);
        zhashx_insert (self->rooms, name, room);
    }
    return room;
}

static void
s_alert_free (mon_alert_t **alert_p)
{
    if (*alert_p) {
        free (*alert_p);
        *alert_p = NULL;
    }
}

void
mon_stats_log_event (mon_stats_t *self, int64_t now_ms, const char *kind, const char *format, ...)
{
    mon_event_t *event = &self->events [self->events_next++ % MON_EVENTS_MAX];
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
    self->throttled = zhashx_new ();
    assert (self->throttled);
    zhashx_set_destructor (self->throttled, (czmq_destructor *) zstr_free);
    self->alerts = zlistx_new ();
    assert (self->alerts);
    zlistx_set_destructor (self->alerts, (zlistx_destructor_fn *) s_alert_free);
    self->ring.last_sec = mon_ring_second (now_ms);
    self->failures_ring.last_sec = mon_ring_second (now_ms);
    self->authsvc_ms = -1;
    self->redis_state = -1;
    self->login_threshold = MON_ALERT_LOGIN_FAILURES;
    self->room_rate_limit = MON_ALERT_ROOM_RATE;
    self->top_rooms = MON_METRICS_TOP_ROOMS;
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
        zhashx_destroy (&self->throttled);
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
zlistx_t *
mon_stats_sorted_keys (zhashx_t *hash)
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
    for (mon_room_t *room = (mon_room_t *) zhashx_first (self->rooms); room;
         room = (mon_room_t *) zhashx_next (self->rooms))
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
        //  The broker caps the list at one field; its count stays exact.
        size_t listed = zhashx_size (online);
        self->unlisted = (unsigned long long) value > listed? (size_t) value - listed: 0;
        //  Who is missing from a complete list has no session left
        zlistx_t *before = zhashx_keys (self->online);
        for (const char *user = (const char *) zlistx_first (before); user;
             user = (const char *) zlistx_next (before))
            if (!zhashx_lookup (online, user) && self->unlisted == 0)
                s_forget_memberships (self, user);
        zlistx_destroy (&before);
        zhashx_destroy (&self->online);
        self->online = online;
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

//  "health authsvc MS" (MS >= -1) and "health redis up|down". A broker
//  says -1 (never) from its start until an auth service answers its first
//  heartbeat PING: that run of -1 is timed here, from when it began (or
//  from when the silence before it began), so a restarted broker is not an
//  auth service outage.
static int
s_health (mon_stats_t *self, const char *service, const char *value, int64_t now_ms)
{
    if (!service || !value)
        return -2;
    if (streq (service, "authsvc")) {
        int64_t ms = streq (value, "-1")? -1: s_count (value);
        if (ms == -1 && !streq (value, "-1"))
            return -2;
        if (ms == -1 && !self->authsvc_never) {
            self->authsvc_never = true;
            bool silent = self->authsvc_known && self->authsvc_ms > MON_SERVICE_SILENCE_MS;
            self->authsvc_never_ms = now_ms - (silent? self->authsvc_ms: 0);
        }
        else
        if (ms != -1)
            self->authsvc_never = false;
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

//  --------------------------------------------------------------------------
//  Events ($ev/ EVENT KIND FIELDS...), one handler per kind: 0 applied, -2
//  malformed (nothing applied). Fields are read by their names in the
//  protocol model (pc_proto.h).

typedef int (s_event_fn) (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms);

static bool
s_names_valid (const char *one, const char *two)
{
    return one && pc_name_valid (one) && (!two || pc_name_valid (two));
}

static int
s_on_login (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *user = pc_ev_login_user (msg);
    if (!s_names_valid (user, NULL))
        return -2;
    zhashx_insert (self->online, user, (void *) 1);
    self->logins++;
    mon_stats_log_event (self, now_ms, "login", "%s logged in", user);
    return 0;
}

//  One session logged out. Memberships are the broker's "leave" events (a
//  user leaves a room with their last session in it, and the broker sends
//  those before the logout): nothing to forget here. The user goes offline
//  with their last session (SESSIONS 0, or absent from an older broker).
static int
s_on_logout (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *user = pc_ev_logout_user (msg);
    const char *sessions = pc_msg_nfields (msg) >= 3? pc_ev_logout_sessions (msg): "0";
    int64_t left = s_count (sessions);
    if (!s_names_valid (user, NULL) || left == -1)
        return -2;
    if (left == 0)
        zhashx_delete (self->online, user);
    if (left)
        mon_stats_log_event (self, now_ms, "logout", "%s logged out (%" PRId64 " session%s left)",
                             user, left, left == 1? "": "s");
    else
        mon_stats_log_event (self, now_ms, "logout", "%s logged out", user);
    return 0;
}

static int
s_on_join (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *user = pc_ev_join_user (msg);
    const char *room = pc_ev_join_room (msg);
    if (!room || !s_names_valid (user, room))
        return -2;
    zhashx_insert (self->online, user, (void *) 1);
    zhashx_insert (s_room_require (self, room)->members, user, (void *) 1);
    mon_stats_log_event (self, now_ms, "join", "%s joined %s", user, room);
    return 0;
}

static int
s_on_leave (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *user = pc_ev_leave_user (msg);
    const char *room = pc_ev_leave_room (msg);
    if (!room || !s_names_valid (user, room))
        return -2;
    mon_room_t *known = (mon_room_t *) zhashx_lookup (self->rooms, room);
    if (known)
        zhashx_delete (known->members, user);
    mon_stats_log_event (self, now_ms, "leave", "%s left %s", user, room);
    return 0;
}

static int
s_on_heartbeat (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *count = pc_ev_heartbeat_count (msg);
    return count? s_heartbeat (self, count, pc_ev_heartbeat_users (msg)): -2;
}

//  The name is what the client typed (it passed the codec)
static int
s_on_login_failed (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *user = pc_ev_login_failed_user (msg);
    const char *code = pc_ev_login_failed_code (msg);
    if (!s_names_valid (user, NULL) || s_count (code) == -1)
        return -2;
    self->login_failures++;
    mon_ring_add (&self->failures_ring, now_ms);
    mon_stats_log_event (self, now_ms, "login-failed", "%s (%s)", user, code);
    return 0;
}

//  Who wrote to whom; there is no text to see
static int
s_on_dm (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *from = pc_ev_dm_from (msg);
    const char *to = pc_ev_dm_to (msg);
    if (!to || !s_names_valid (from, to))
        return -2;
    self->dms++;
    mon_stats_log_event (self, now_ms, "dm", "%s -> %s", from, to);
    return 0;
}

static int
s_on_reject (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *code = pc_ev_reject_code (msg);
    const char *reason = pc_ev_reject_reason (msg);
    self->rejects++;
    mon_stats_log_event (self, now_ms, "reject", "%s %s", code? code: "?", reason? reason: "");
    return 0;
}

//  Requests of one user refused by flood control since the last heartbeat
static int
s_on_throttled (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *user = pc_ev_throttled_user (msg);
    int64_t count = s_count (pc_ev_throttled_count (msg));
    if (!user || !*user || strlen (user) > PC_ID_MAX || count <= 0)
        return -2;
    mon_throttled_t *entry = (mon_throttled_t *) zhashx_lookup (self->throttled, user);
    if (!entry) {
        entry = (mon_throttled_t *) zmalloc (sizeof (mon_throttled_t));
        assert (entry);
        zhashx_insert (self->throttled, user, entry);
    }
    entry->streak = entry->last_ms && now_ms - entry->last_ms <= 3000? entry->streak + 1: 1;
    entry->last_ms = now_ms;
    entry->total += (uint64_t) count;
    self->throttled_total += (uint64_t) count;
    if (entry->streak == 1)
        mon_stats_log_event (self, now_ms, "throttled", "%s: %" PRId64 " requests refused", user, count);
    return 0;
}

static int
s_on_auth_down (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    self->auth_down++;
    mon_stats_log_event (self, now_ms, "auth-down", "no auth service answered");
    return 0;
}

static int
s_on_health (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    return s_health (self, pc_ev_health_service (msg), pc_ev_health_state (msg), now_ms);
}

//  count texts as non-negative integers into values; 0 | -2.
static int
s_counts (const char **texts, uint64_t *values, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        int64_t value = s_count (texts [i]);
        if (value == -1)
            return -2;
        values [i] = (uint64_t) value;
    }
    return 0;
}

static int
s_on_files (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *texts [6] = {
        pc_ev_files_active_uploads (msg), pc_ev_files_active_downloads (msg),
        pc_ev_files_uploads (msg), pc_ev_files_downloads (msg),
        pc_ev_files_bytes_in (msg), pc_ev_files_bytes_out (msg)
    };
    uint64_t values [6];
    if (s_counts (texts, values, 6))
        return -2;
    memcpy (self->files, values, sizeof (values));
    self->files_heard_ms = now_ms;
    return 0;
}

//  Metadata only; a private file's name is "-"
static int
s_file_moved (mon_stats_t *self, int64_t now_ms, bool up, const char *user,
              const char *space, const char *name, const char *size)
{
    if (!s_names_valid (user, NULL) || !space || !name || s_count (size) == -1)
        return -2;
    if (up)
        self->files_shared++;
    else
        self->files_fetched++;
    mon_stats_log_event (self, now_ms, up? "file-up": "file-down", "%s %s %s in %s (%s bytes)",
                         user, up? "uploaded": "downloaded", name, space, size);
    return 0;
}

static int
s_on_file_up (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    return s_file_moved (self, now_ms, true, pc_ev_file_up_user (msg), pc_ev_file_up_space (msg),
                         pc_ev_file_up_name (msg), pc_ev_file_up_size (msg));
}

static int
s_on_file_down (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    return s_file_moved (self, now_ms, false, pc_ev_file_down_user (msg),
                         pc_ev_file_down_space (msg), pc_ev_file_down_name (msg),
                         pc_ev_file_down_size (msg));
}

static int
s_on_file_rm (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *user = pc_ev_file_rm_user (msg);
    const char *space = pc_ev_file_rm_space (msg);
    const char *name = pc_ev_file_rm_name (msg);
    if (!s_names_valid (user, NULL) || !space || !name)
        return -2;
    self->files_removed++;
    mon_stats_log_event (self, now_ms, "file-rm", "%s removed %s from %s", user, name, space);
    return 0;
}

//  The latency pair came later: a broker that sends six figures is fine
static int
s_on_stats (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *texts [8] = {
        pc_ev_stats_sessions (msg), pc_ev_stats_pending_auth (msg), pc_ev_stats_journal (msg),
        pc_ev_stats_malformed (msg), pc_ev_stats_subs_refused (msg), pc_ev_stats_uptime_s (msg),
        pc_ev_stats_latency_avg_us (msg), pc_ev_stats_latency_max_us (msg)
    };
    uint64_t values [8] = { 0 };
    if (s_counts (texts, values, pc_msg_nfields (msg) >= 9? 8: 6))
        return -2;
    memcpy (self->broker, values, sizeof (values));
    self->broker_known = true;
    return 0;
}

//  --------------------------------------------------------------------------
//  Moderation, the broker's latency histogram and process figures

static const char *s_admin_actions [MON_ADMIN_ACTIONS] = {
    "kick", "ban", "unban", "delete", "reset-password", "change-password", "delete-account",
    "create-room", "create-room-invite-only", "invite", "slowmode", "create-admin", "other"
};

const char *
mon_stats_admin_action (size_t index)
{
    assert (index < MON_ADMIN_ACTIONS);
    return s_admin_actions [index];
}

//  "admin ACTOR ACTION TARGET": logged with the action as its kind
static int
s_on_admin (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *actor = pc_ev_admin_actor (msg);
    const char *action = pc_ev_admin_action (msg);
    const char *target = pc_ev_admin_target (msg);
    if (!s_names_valid (actor, NULL) || !action || !target || !*action)
        return -2;
    size_t index = 0;
    while (index < MON_ADMIN_ACTIONS - 1 && !streq (s_admin_actions [index], action))
        index++;
    self->admin_actions [index]++;
    mon_stats_log_event (self, now_ms, index < MON_ADMIN_ACTIONS - 1? action: "admin",
                         "%s: %s %s", actor, action, target);
    return 0;
}

//  "N,N,...": at most max non-negative integers into values; how many, or -1.
static int
s_count_list (const char *text, uint64_t *values, size_t max)
{
    if (!text || !*text)
        return -1;
    size_t count = 0;
    char item [24];
    while (*text) {
        size_t size = strcspn (text, ",");
        if (count == max || size == 0 || size >= sizeof (item))
            return -1;
        memcpy (item, text, size);
        item [size] = 0;
        int64_t value = s_count (item);
        if (value == -1)
            return -1;
        values [count++] = (uint64_t) value;
        text += size;
        if (*text == ',' && !*++text)
            return -1;                  //  a trailing comma
    }
    return (int) count;
}

//  "latency COUNT SUM-US BOUNDS-US BUCKETS": bounds ascending, counts that
//  never fall and never pass COUNT; or nothing is applied.
static int
s_on_latency (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    int64_t count = s_count (pc_ev_latency_count (msg));
    int64_t sum = s_count (pc_ev_latency_sum_us (msg));
    uint64_t bounds [MON_LATENCY_BUCKETS], le [MON_LATENCY_BUCKETS];
    int buckets = s_count_list (pc_ev_latency_bounds_us (msg), bounds, MON_LATENCY_BUCKETS);
    if (count == -1 || sum == -1 || buckets < 1
    ||  s_count_list (pc_ev_latency_buckets (msg), le, MON_LATENCY_BUCKETS) != buckets)
        return -2;
    for (int i = 0; i < buckets; i++)
        if ((i && (bounds [i] <= bounds [i - 1] || le [i] < le [i - 1]))
        ||  le [i] > (uint64_t) count)
            return -2;
    self->latency_buckets = (size_t) buckets;
    memcpy (self->latency_bounds_us, bounds, sizeof (bounds));
    memcpy (self->latency_le, le, sizeof (le));
    self->latency_count = (uint64_t) count;
    self->latency_sum_us = (uint64_t) sum;
    return 0;
}

//  "process SERVICE START-MS RSS-BYTES CPU-MS OPEN-FDS": the broker's kept
static int
s_on_process (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *service = pc_ev_process_service (msg);
    const char *texts [4] = {
        pc_ev_process_start_ms (msg), pc_ev_process_rss_bytes (msg),
        pc_ev_process_cpu_ms (msg), pc_ev_process_open_fds (msg)
    };
    uint64_t values [4];
    if (!service || s_counts (texts, values, 4))
        return -2;
    if (streq (service, "broker")) {
        self->broker_proc.start_ms = (int64_t) values [0];
        self->broker_proc.rss_bytes = values [1];
        self->broker_proc.cpu_ms = values [2];
        self->broker_proc.open_fds = values [3];
    }
    return 0;
}

//  "USER,USER,..." (may be empty) into a new hash, or NULL if a name is bad.
static zhashx_t *
s_name_set (const char *list)
{
    zhashx_t *names = zhashx_new ();
    assert (names);
    if (list && *list) {
        char *copy = strdup (list);
        assert (copy);
        for (char *cursor = copy; cursor; ) {
            char *comma = strchr (cursor, ',');
            if (comma)
                *comma = 0;
            if (!pc_name_valid (cursor)) {
                zhashx_destroy (&names);
                break;
            }
            zhashx_insert (names, cursor, (void *) 1);
            cursor = comma? comma + 1: NULL;
        }
        free (copy);
    }
    return names;
}

//  "members ROOM COUNT USERS": who is in the room now, so a monitor that
//  started late (or missed a join) catches up. A capped list only adds.
static int
s_on_members (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    const char *room = pc_ev_members_room (msg);
    int64_t count = s_count (pc_ev_members_count (msg));
    zhashx_t *names = count == -1 || !s_names_valid (room, NULL)? NULL
                    : s_name_set (pc_ev_members_users (msg));
    if (!names)
        return -2;
    mon_room_t *known = (mon_room_t *) zhashx_lookup (self->rooms, room);
    if (count > 0 && !known)
        known = s_room_require (self, room);
    if (known && (size_t) count == zhashx_size (names)) {
        zhashx_destroy (&known->members);
        known->members = names;
    }
    else {
        if (known)
            for (void *item = zhashx_first (names); item; item = zhashx_next (names))
                zhashx_insert (known->members, (const char *) zhashx_cursor (names), (void *) 1);
        zhashx_destroy (&names);
    }
    return 0;
}

static s_event_fn *s_handlers [PC_EV_COUNT] = {
    [PC_EV_LOGIN] = s_on_login,             [PC_EV_LOGOUT] = s_on_logout,
    [PC_EV_JOIN] = s_on_join,               [PC_EV_LEAVE] = s_on_leave,
    [PC_EV_HEARTBEAT] = s_on_heartbeat,     [PC_EV_LOGIN_FAILED] = s_on_login_failed,
    [PC_EV_DM] = s_on_dm,                   [PC_EV_REJECT] = s_on_reject,
    [PC_EV_AUTH_DOWN] = s_on_auth_down,     [PC_EV_HEALTH] = s_on_health,
    [PC_EV_FILES] = s_on_files,             [PC_EV_FILE_UP] = s_on_file_up,
    [PC_EV_FILE_DOWN] = s_on_file_down,     [PC_EV_FILE_RM] = s_on_file_rm,
    [PC_EV_STATS] = s_on_stats,             [PC_EV_ADMIN] = s_on_admin,
    [PC_EV_LATENCY] = s_on_latency,         [PC_EV_PROCESS] = s_on_process,
    [PC_EV_MEMBERS] = s_on_members,         [PC_EV_THROTTLED] = s_on_throttled
};

static int
s_event (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    if (!pc_event_kind (msg))
        return -2;
    pc_ev_t kind = pc_msg_ev (msg);
    if (kind <= PC_EV_UNKNOWN || kind >= PC_EV_COUNT || !s_handlers [kind])
        return 0;               //  other kinds (admin, later additions) are not ours to judge
    return s_handlers [kind] (self, msg, now_ms);
}

//  --------------------------------------------------------------------------

int
mon_stats_handle (mon_stats_t *self, pc_msg_t *msg, int64_t now_ms)
{
    assert (self);
    assert (msg);
    self->heard_ms = now_ms;
    const char *topic = pc_msg_topic (msg);
    int rc = 0;
    if (pc_msg_cmd (msg) == PC_CMD_MSG) {
        //  The codec checked the field types; the topic must be the room's.
        const char *room = pc_message_room (msg);
        char expected [PC_NAME_MAX + 8];
        snprintf (expected, sizeof (expected), PC_TOPIC_ROOM "%s/", room? room: "");
        if (room && topic && streq (topic, expected)) {
            mon_room_t *known = s_room_require (self, room);
            known->messages++;
            mon_ring_add (&known->ring, now_ms);
            self->messages++;
            mon_ring_add (&self->ring, now_ms);
        }
        else
            rc = -2;
    }
    else
    if (pc_msg_cmd (msg) == PC_CMD_EVENT && topic && streq (topic, PC_TOPIC_EVENT))
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
    mon_room_t *known = (mon_room_t *) zhashx_lookup (self->rooms, room);
    return known? known->messages: 0;
}

size_t
mon_stats_room_members (mon_stats_t *self, const char *room)
{
    assert (self);
    mon_room_t *known = (mon_room_t *) zhashx_lookup (self->rooms, room);
    return known? zhashx_size (known->members): 0;
}

bool
mon_stats_is_member (mon_stats_t *self, const char *room, const char *user)
{
    assert (self);
    mon_room_t *known = (mon_room_t *) zhashx_lookup (self->rooms, room);
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

void
mon_stats_set_process (mon_stats_t *self, const pc_proc_t *proc)
{
    assert (self);
    assert (proc);
    self->proc = *proc;
    self->rss = proc->rss_bytes;
}

void
mon_stats_set_top_rooms (mon_stats_t *self, int rooms)
{
    assert (self);
    self->top_rooms = rooms > 0? (size_t) rooms: MON_METRICS_TOP_ROOMS;
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
        return mon_stats_ring_rate (self, &self->ring, seconds, now_ms);
    mon_room_t *known = (mon_room_t *) zhashx_lookup (self->rooms, room);
    return known? mon_stats_ring_rate (self, &known->ring, seconds, now_ms): 0.0;
}

int64_t
mon_stats_uptime (mon_stats_t *self, int64_t now_ms)
{
    assert (self);
    return now_ms > self->started_ms? (now_ms - self->started_ms) / 1000: 0;
}

double
mon_stats_ring_rate (mon_stats_t *self, mon_ring_t *ring, int seconds, int64_t now_ms)
{
    assert (self);
    return mon_ring_rate (ring, self->started_ms, seconds, now_ms);
}

//  Busiest first, then by name, so the summary is stable.
static int
s_busier (const void *one, const void *two)
{
    const mon_room_t *a = *(const mon_room_t * const *) one;
    const mon_room_t *b = *(const mon_room_t * const *) two;
    if (a->messages != b->messages)
        return a->messages > b->messages? -1: 1;
    return strcmp (a->name, b->name);
}

mon_room_t **
mon_stats_rooms_by_traffic (mon_stats_t *self, size_t *count_p)
{
    assert (self);
    assert (count_p);
    size_t count = zhashx_size (self->rooms);
    mon_room_t **rooms = (mon_room_t **) malloc ((count + 1) * sizeof (mon_room_t *));
    assert (rooms);
    size_t index = 0;
    for (mon_room_t *room = (mon_room_t *) zhashx_first (self->rooms); room;
         room = (mon_room_t *) zhashx_next (self->rooms))
        rooms [index++] = room;
    qsort (rooms, count, sizeof (mon_room_t *), s_busier);
    *count_p = count;
    return rooms;
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
        size_t index;
        mon_room_t **rooms = mon_stats_rooms_by_traffic (self, &count);
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

int
mon_stats_feed (mon_stats_t *self, int64_t now, const char *topic, const char *command, ...)
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

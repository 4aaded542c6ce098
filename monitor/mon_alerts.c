//  mon_alerts.c: raises and clears the monitor's alerts from what
//  mon_stats aggregated (mon_alerts.h).
#include "mon_alerts.h"

#define SERVICE_SILENCE_MS  MON_SERVICE_SILENCE_MS

static const char *s_names [MON_ALERT_KINDS] = {
    "login_failures", "broker_down", "authsvc_down", "redis_down", "room_rate", "filesvc_down",
    "user_throttled"
};

const char *
mon_alerts_name (mon_alert_kind_t kind)
{
    assert (kind < MON_ALERT_KINDS);
    return s_names [kind];
}

static mon_alert_t *
s_alert_find (mon_stats_t *self, mon_alert_kind_t kind, const char *subject)
{
    for (mon_alert_t *alert = (mon_alert_t *) zlistx_first (self->alerts); alert;
         alert = (mon_alert_t *) zlistx_next (self->alerts))
        if (alert->kind == kind && streq (alert->subject, subject))
            return alert;
    return NULL;
}

//  Raises or clears one alert; logs and records only the transitions.
static void
s_alert_set (mon_stats_t *self, mon_alert_kind_t kind, const char *subject, bool active,
             int64_t now_ms, const char *detail)
{
    mon_alert_t *alert = s_alert_find (self, kind, subject);
    if (active && !alert) {
        alert = (mon_alert_t *) zmalloc (sizeof (mon_alert_t));
        assert (alert);
        alert->kind = kind;
        snprintf (alert->subject, sizeof (alert->subject), "%s", subject);
        alert->since_ms = now_ms + self->wall_offset;
        snprintf (alert->detail, sizeof (alert->detail), "%s", detail);
        zlistx_add_end (self->alerts, alert);
        self->alerts_total [kind]++;
        zsys_warning ("monitor: alert %s raised: %s", s_names [kind], detail);
        mon_stats_log_event (self, now_ms, "alert", "%s: %s", s_names [kind], detail);
    }
    else
    if (active)
        snprintf (alert->detail, sizeof (alert->detail), "%s", detail);
    else
    if (alert) {
        zsys_info ("monitor: alert %s%s%s cleared", s_names [kind],
                   *subject? " ": "", subject);
        mon_stats_log_event (self, now_ms, "alert-cleared", "%s%s%s", s_names [kind],
                     *subject? " ": "", subject);
        zlistx_delete (self->alerts, zlistx_cursor (self->alerts));
    }
}

//  A user (or key) refused by flood control in every heartbeat for about
//  10 s keeps hitting the limit; 10 s without a refusal clear it. Users
//  quiet for an hour are forgotten.
static void
s_throttled (mon_stats_t *self, int64_t now_ms)
{
    zlistx_t *gone = zlistx_new ();
    zlistx_set_destructor (gone, (czmq_destructor *) zstr_free);
    char detail [128];
    for (mon_throttled_t *entry = (mon_throttled_t *) zhashx_first (self->throttled); entry;
         entry = (mon_throttled_t *) zhashx_next (self->throttled)) {
        const char *user = (const char *) zhashx_cursor (self->throttled);
        bool active = entry->streak >= MON_THROTTLED_STREAK
                   && now_ms - entry->last_ms < MON_THROTTLED_QUIET_MS;
        snprintf (detail, sizeof (detail), "%.40s keeps hitting the rate limit "
                  "(%" PRIu64 " requests refused)", user, entry->total);
        s_alert_set (self, MON_ALERT_THROTTLED, user, active, now_ms, detail);
        if (now_ms - entry->last_ms > 3600 * 1000)
            zlistx_add_end (gone, strdup (user));
    }
    for (char *user = (char *) zlistx_first (gone); user; user = (char *) zlistx_next (gone))
        zhashx_delete (self->throttled, user);
    zlistx_destroy (&gone);
}

size_t
mon_alerts_tick (mon_stats_t *self, int64_t now_ms)
{
    assert (self);
    char detail [128];
    int64_t ran = now_ms - self->started_ms;

    uint64_t failures = mon_ring_sum (&self->failures_ring, now_ms, 0, 60);
    snprintf (detail, sizeof (detail), "%" PRIu64 " failed logins in the last 60 s "
              "(threshold %d)", failures, self->login_threshold);
    s_alert_set (self, MON_ALERT_LOGIN, "",
                 failures >= (uint64_t) self->login_threshold, now_ms, detail);

    int64_t silence = mon_stats_broker_silence (self, now_ms);
    bool broker_down = silence == -1? ran >= SERVICE_SILENCE_MS: silence > SERVICE_SILENCE_MS;
    if (silence == -1)
        snprintf (detail, sizeof (detail), "nothing heard from the broker since the start");
    else
        snprintf (detail, sizeof (detail), "nothing heard from the broker for %" PRId64 " s",
                  silence / 1000);
    s_alert_set (self, MON_ALERT_BROKER, "", broker_down, now_ms, detail);

    //  "Never answered" counts from when the broker began to say so: a
    //  broker that has just (re)started has not sent its first PING yet
    bool authsvc_down = self->authsvc_known
                     && (self->authsvc_ms > SERVICE_SILENCE_MS
                     || (self->authsvc_ms == -1 && self->authsvc_never
                         && now_ms - self->authsvc_never_ms >= SERVICE_SILENCE_MS));
    if (self->authsvc_ms == -1)
        snprintf (detail, sizeof (detail), "no auth service has answered the broker");
    else
        snprintf (detail, sizeof (detail), "no auth service answered the broker for %" PRId64
                  " s", self->authsvc_ms / 1000);
    s_alert_set (self, MON_ALERT_AUTHSVC, "", authsvc_down, now_ms, detail);

    s_alert_set (self, MON_ALERT_REDIS, "", self->redis_state == 0, now_ms,
                 "the broker reports Redis down");

    //  Only once it has been heard: a stack may run without file sharing.
    bool filesvc_down = self->files_heard_ms
                     && now_ms - self->files_heard_ms > SERVICE_SILENCE_MS;
    snprintf (detail, sizeof (detail), "nothing heard from the file service for %" PRId64 " s",
              self->files_heard_ms? (now_ms - self->files_heard_ms) / 1000: 0);
    s_alert_set (self, MON_ALERT_FILESVC, "", filesvc_down, now_ms, detail);

    for (mon_room_t *room = (mon_room_t *) zhashx_first (self->rooms); room;
         room = (mon_room_t *) zhashx_next (self->rooms)) {
        double rate = (double) mon_ring_sum (&room->ring, now_ms, 1, 10) / 10.0;
        bool over = rate > self->room_rate_limit;
        if (over || s_alert_find (self, MON_ALERT_ROOM, room->name)) {
            snprintf (detail, sizeof (detail), "%s: %.1f messages/s over 10 s (limit %d)",
                      room->name, rate, self->room_rate_limit);
            s_alert_set (self, MON_ALERT_ROOM, room->name, over, now_ms, detail);
        }
    }
    s_throttled (self, now_ms);
    return zlistx_size (self->alerts);
}

bool
mon_alerts_active (mon_stats_t *self, const char *kind, const char *subject)
{
    assert (self);
    for (mon_alert_t *alert = (mon_alert_t *) zlistx_first (self->alerts); alert;
         alert = (mon_alert_t *) zlistx_next (self->alerts))
        if (streq (s_names [alert->kind], kind)
        && (!subject || streq (alert->subject, subject)))
            return true;
    return false;
}

size_t
mon_alerts_count (mon_stats_t *self, mon_alert_kind_t kind)
{
    size_t count = 0;
    for (mon_alert_t *alert = (mon_alert_t *) zlistx_first (self->alerts); alert;
         alert = (mon_alert_t *) zlistx_next (self->alerts))
        if (alert->kind == kind)
            count++;
    return count;
}

//  Service health as the gauges and STATS show it: 1 up, 0 down, -1 unknown.
int
mon_alerts_broker_up (mon_stats_t *self, int64_t now_ms)
{
    int64_t silence = mon_stats_broker_silence (self, now_ms);
    return silence != -1 && silence <= SERVICE_SILENCE_MS;
}

int
mon_alerts_authsvc_up (mon_stats_t *self, int64_t now_ms)
{
    if (!self->authsvc_known || !mon_alerts_broker_up (self, now_ms))
        return -1;
    if (self->authsvc_ms == -1)     //  down once the broker has asked long enough
        return self->authsvc_never && now_ms - self->authsvc_never_ms >= SERVICE_SILENCE_MS? 0: -1;
    return self->authsvc_ms <= SERVICE_SILENCE_MS;
}

int
mon_alerts_redis_up (mon_stats_t *self, int64_t now_ms)
{
    return mon_alerts_broker_up (self, now_ms)? self->redis_state: -1;
}

int
mon_alerts_filesvc_up (mon_stats_t *self, int64_t now_ms)
{
    if (!self->files_heard_ms)
        return -1;
    return now_ms - self->files_heard_ms <= SERVICE_SILENCE_MS;
}

const char *
mon_alerts_state_name (int state)
{
    return state == 1? "up": state == 0? "down": "unknown";
}


//  --------------------------------------------------------------------------
//  Selftest

#define s_feed mon_stats_feed

//  Five failed logins within 60 s raise login_failures; it clears a minute on.
static void
s_test_logins (mon_stats_t *stats, int64_t t1)
{
    for (int i = 0; i < 4; i++)
        assert (s_feed (stats, t1, "$ev/", "EVENT", "login-failed", "eve", "401", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "health", "authsvc", "12", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "health", "redis", "up", NULL) == 0);
    assert (mon_alerts_tick (stats, t1) == 0);
    assert (!mon_alerts_active (stats, "login_failures", NULL));
    assert (s_feed (stats, t1 + 500, "$ev/", "EVENT", "login-failed", "eve", "429", NULL) == 0);
    assert (mon_alerts_tick (stats, t1 + 600) == 1);
    assert (mon_alerts_active (stats, "login_failures", NULL));
    assert (mon_alerts_count (stats, MON_ALERT_LOGIN) == 1);
    mon_alert_t *alert = (mon_alert_t *) zlistx_first (stats->alerts);
    assert (streq (alert->detail, "5 failed logins in the last 60 s (threshold 5)"));
    assert (alert->since_ms == t1 + 600);
    assert (stats->alerts_total [MON_ALERT_LOGIN] == 1);
    assert (mon_alerts_broker_up (stats, t1 + 600) == 1);
    assert (mon_alerts_authsvc_up (stats, t1 + 600) == 1);
    assert (streq (mon_alerts_state_name (mon_alerts_redis_up (stats, t1 + 600)), "up"));
    assert (streq (mon_alerts_state_name (mon_alerts_filesvc_up (stats, t1 + 600)), "unknown"));
}

//  Services gone quiet, Redis down; then it all comes back.
static void
s_test_services (mon_stats_t *stats, int64_t t1)
{
    assert (s_feed (stats, t1 + 1000, "$ev/", "EVENT", "health", "authsvc", "6001", NULL) == 0);
    assert (s_feed (stats, t1 + 1000, "$ev/", "EVENT", "health", "redis", "down", NULL) == 0);
    mon_alerts_tick (stats, t1 + 1000);
    assert (mon_alerts_active (stats, "authsvc_down", NULL));
    assert (mon_alerts_active (stats, "redis_down", NULL));
    mon_alerts_tick (stats, t1 + 8000);
    assert (mon_alerts_active (stats, "broker_down", NULL));
    assert (mon_alerts_broker_up (stats, t1 + 8000) == 0);
    assert (mon_alerts_redis_up (stats, t1 + 8000) == -1);       //  nobody to ask
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "health", "authsvc", "-1", NULL) == 0);
    mon_alerts_tick (stats, t1 + 62000);
    assert (mon_alerts_active (stats, "authsvc_down", NULL));
    assert (!mon_alerts_active (stats, "broker_down", NULL));
    assert (!mon_alerts_active (stats, "login_failures", NULL));   //  over a minute ago
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "health", "authsvc", "100", NULL) == 0);
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "health", "redis", "up", NULL) == 0);
    assert (mon_alerts_tick (stats, t1 + 62000) == 0);
    //  The file service: only once heard, then after its silence
    assert (s_feed (stats, t1 + 62000, "$ev/", "EVENT", "files", "1", "2", "3", "4", "500",
                    "600", NULL) == 0);
    assert (mon_alerts_filesvc_up (stats, t1 + 62000) == 1);
    mon_alerts_tick (stats, t1 + 69000);
    assert (mon_alerts_active (stats, "filesvc_down", NULL));
    assert (s_feed (stats, t1 + 70000, "$ev/", "EVENT", "files", "0", "0", "3", "4", "500",
                    "600", NULL) == 0);
    mon_alerts_tick (stats, t1 + 70000);
    assert (!mon_alerts_active (stats, "filesvc_down", NULL));
    //  Every transition is in the event log
    mon_event_t *last = &stats->events [(stats->events_next - 1) % MON_EVENTS_MAX];
    assert (streq (last->kind, "alert-cleared") && streq (last->text, "filesvc_down"));
}

//  A restarted broker says "never" until its first PING is answered: no
//  authsvc_down for that, unless it goes on saying so for the silence.
static void
s_test_broker_restart (int64_t t0)
{
    mon_stats_t *stats = mon_stats_new (t0);
    assert (s_feed (stats, t0 + 60000, "$ev/", "EVENT", "health", "authsvc", "800", NULL) == 0);
    assert (mon_alerts_tick (stats, t0 + 60000) == 0);
    assert (mon_alerts_authsvc_up (stats, t0 + 60000) == 1);
    assert (s_feed (stats, t0 + 63000, "$ev/", "EVENT", "health", "authsvc", "-1", NULL) == 0);
    assert (s_feed (stats, t0 + 65000, "$ev/", "EVENT", "health", "authsvc", "-1", NULL) == 0);
    mon_alerts_tick (stats, t0 + 65000);
    assert (!mon_alerts_active (stats, "authsvc_down", NULL));
    assert (mon_alerts_authsvc_up (stats, t0 + 65000) == -1);        //  not known yet
    assert (s_feed (stats, t0 + 67000, "$ev/", "EVENT", "health", "authsvc", "30", NULL) == 0);
    assert (mon_alerts_tick (stats, t0 + 67000) == 0);
    //  A broker that never hears one: down after the silence
    for (int64_t t = t0 + 69000; t <= t0 + 75000; t += 2000) {
        assert (s_feed (stats, t, "$ev/", "EVENT", "health", "authsvc", "-1", NULL) == 0);
        mon_alerts_tick (stats, t);
        assert (mon_alerts_active (stats, "authsvc_down", NULL) == (t - (t0 + 69000) >= 6000));
    }
    assert (mon_alerts_authsvc_up (stats, t0 + 75000) == 0);
    mon_stats_destroy (&stats);
}

//  A room over its rate, per room.
static void
s_test_room_rate (mon_stats_t *stats, int64_t t2)
{
    mon_stats_set_thresholds (stats, 3, 2);
    assert (s_feed (stats, t2, "r/lobby/", "MSG", "1", "lobby", "bob", "1", "x", NULL) == 0);
    for (int sec = 0; sec < 10; sec++)
        for (int i = 0; i < 3; i++)
            assert (s_feed (stats, t2 + sec * 1000, "r/busy/", "MSG", "1", "busy", "bob",
                            "1", "x", NULL) == 0);
    mon_alerts_tick (stats, t2 + 10000);
    assert (mon_alerts_active (stats, "room_rate", "busy"));
    assert (mon_alerts_active (stats, "room_rate", NULL));
    assert (!mon_alerts_active (stats, "room_rate", "lobby"));
    assert (mon_alerts_count (stats, MON_ALERT_ROOM) == 1);
    mon_alerts_tick (stats, t2 + 30000);
    assert (!mon_alerts_active (stats, "room_rate", "busy"));
}

//  A user refused in every heartbeat for 10 s; one refused once is not
static void
s_test_throttled (mon_stats_t *stats, int64_t t3)
{
    for (int beat = 0; beat < MON_THROTTLED_STREAK; beat++)
        assert (s_feed (stats, t3 + beat * 2000, "$ev/", "EVENT", "throttled", "eve", "300", NULL) == 0);
    assert (s_feed (stats, t3, "$ev/", "EVENT", "throttled", "bob", "1", NULL) == 0);
    assert (s_feed (stats, t3, "$ev/", "EVENT", "throttled", "bob", "x", NULL) == -2);
    mon_alerts_tick (stats, t3 + 8000);
    assert (mon_alerts_active (stats, "user_throttled", "eve"));
    assert (!mon_alerts_active (stats, "user_throttled", "bob"));
    assert (stats->throttled_total == 1501);
    mon_alerts_tick (stats, t3 + 30000);
    assert (!mon_alerts_active (stats, "user_throttled", "eve"));
}

void
mon_alerts_test (bool verbose)
{
    printf (" * mon_alerts: ");
    int64_t t0 = 1700000000000;
    mon_stats_t *stats = mon_stats_new (t0);
    mon_stats_set_wall_offset (stats, 0);
    assert (mon_alerts_tick (stats, t0) == 0);
    assert (mon_alerts_broker_up (stats, t0) == 0 && mon_alerts_authsvc_up (stats, t0) == -1);
    assert (streq (mon_alerts_name (MON_ALERT_FILESVC), "filesvc_down"));
    s_test_logins (stats, t0 + 100000);
    s_test_services (stats, t0 + 100000);
    s_test_room_rate (stats, t0 + 300000);
    s_test_throttled (stats, t0 + 400000);
    mon_stats_destroy (&stats);
    s_test_broker_restart (t0);
    printf ("OK\n");
}

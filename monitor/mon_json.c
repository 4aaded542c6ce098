//  mon_json.c: the STATS object, built as a jansson tree (mon_json.h).
#include "mon_json.h"
#include "mon_alerts.h"

#include <jansson.h>
#include <math.h>

//  A string value. Names are checked upstream; a text that is not UTF-8
//  (a peer's reason in a reject event) goes with its other bytes as '?'.
static json_t *
s_string (const char *text)
{
    json_t *value = json_string (text);
    if (!value) {
        char *copy = strdup (text);
        assert (copy);
        for (char *c = copy; *c; c++)
            if ((unsigned char) *c >= 0x80)
                *c = '?';
        value = json_string (copy);
        free (copy);
    }
    assert (value);
    return value;
}

static json_t *
s_rate (double rate)
{
    return json_real (round (rate * 100) / 100);
}

static json_t *
s_room (mon_stats_t *stats, mon_room_t *room, int64_t now_ms)
{
    return json_pack ("{s:I, s:I, s:o, s:o, s:o}",
        "messages", (json_int_t) room->messages,
        "members", (json_int_t) zhashx_size (room->members),
        "rate_1s", s_rate (mon_stats_ring_rate (stats, &room->ring, 1, now_ms)),
        "rate_1m", s_rate (mon_stats_ring_rate (stats, &room->ring, 60, now_ms)),
        "rate_15m", s_rate (mon_stats_ring_rate (stats, &room->ring, MON_RING_SECONDS, now_ms)));
}

static json_t *
s_rooms (mon_stats_t *stats, int64_t now_ms)
{
    json_t *rooms = json_object ();
    zlistx_t *names = mon_stats_sorted_keys (stats->rooms);
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names))
        json_object_set_new (rooms, name,
            s_room (stats, (mon_room_t *) zhashx_lookup (stats->rooms, name), now_ms));
    zlistx_destroy (&names);
    return rooms;
}

static json_t *
s_online (mon_stats_t *stats)
{
    json_t *online = json_array ();
    zlistx_t *names = mon_stats_sorted_keys (stats->online);
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names))
        json_array_append_new (online, s_string (name));
    zlistx_destroy (&names);
    return online;
}

//  Messages in each of the last 60 complete seconds, oldest first.
static json_t *
s_rate_history (mon_stats_t *stats, int64_t now_ms)
{
    json_t *history = json_array ();
    for (int back = 60; back >= 1; back--)
        json_array_append_new (history,
            json_integer ((json_int_t) mon_ring_sum (&stats->ring, now_ms, back, 1)));
    return history;
}

static json_t *
s_files (mon_stats_t *stats, int64_t now_ms)
{
    return json_pack ("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "filesvc", mon_alerts_state_name (mon_alerts_filesvc_up (stats, now_ms)),
        "active_uploads", (json_int_t) stats->files [0],
        "active_downloads", (json_int_t) stats->files [1],
        "uploads_total", (json_int_t) stats->files [2],
        "downloads_total", (json_int_t) stats->files [3],
        "bytes_in_total", (json_int_t) stats->files [4],
        "bytes_out_total", (json_int_t) stats->files [5],
        "shared", (json_int_t) stats->files_shared,
        "fetched", (json_int_t) stats->files_fetched,
        "removed", (json_int_t) stats->files_removed);
}

//  The broker's own figures, or null before its first "stats" event.
static json_t *
s_broker (mon_stats_t *stats)
{
    if (!stats->broker_known)
        return json_null ();
    return json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "sessions", (json_int_t) stats->broker [0],
        "pending_auth", (json_int_t) stats->broker [1],
        "journal", (json_int_t) stats->broker [2],
        "malformed", (json_int_t) stats->broker [3],
        "subs_refused", (json_int_t) stats->broker [4],
        "uptime_s", (json_int_t) stats->broker [5],
        "delivery_avg_us", (json_int_t) stats->broker [6],
        "delivery_max_us", (json_int_t) stats->broker [7]);
}

static json_t *
s_alerts (mon_stats_t *stats)
{
    json_t *alerts = json_array ();
    for (mon_alert_t *alert = (mon_alert_t *) zlistx_first (stats->alerts); alert;
         alert = (mon_alert_t *) zlistx_next (stats->alerts))
        json_array_append_new (alerts, json_pack ("{s:s, s:o, s:o, s:I}",
            "kind", mon_alerts_name (alert->kind),
            "subject", s_string (alert->subject),
            "detail", s_string (alert->detail),
            "since_ms", (json_int_t) alert->since_ms));
    return alerts;
}

static json_t *
s_alerts_total (mon_stats_t *stats)
{
    json_t *totals = json_object ();
    for (int kind = 0; kind < MON_ALERT_KINDS; kind++)
        json_object_set_new (totals, mon_alerts_name ((mon_alert_kind_t) kind),
                             json_integer ((json_int_t) stats->alerts_total [kind]));
    return totals;
}

//  The event log, oldest first.
static json_t *
s_events (mon_stats_t *stats)
{
    json_t *events = json_array ();
    size_t count = stats->events_next < MON_EVENTS_MAX? stats->events_next: MON_EVENTS_MAX;
    for (size_t index = stats->events_next - count; index < stats->events_next; index++) {
        mon_event_t *event = &stats->events [index % MON_EVENTS_MAX];
        json_array_append_new (events, json_pack ("{s:I, s:o, s:o}",
            "ts", (json_int_t) event->ts, "kind", s_string (event->kind),
            "text", s_string (event->text)));
    }
    return events;
}

//  Traffic: totals, who is online, rates.
static void
s_traffic (json_t *root, mon_stats_t *stats, int64_t now_ms)
{
    json_object_set_new (root, "messages_total", json_integer ((json_int_t) stats->messages));
    json_object_set_new (root, "rooms", s_rooms (stats, now_ms));
    json_object_set_new (root, "users_online", json_integer ((json_int_t) mon_stats_online (stats)));
    json_object_set_new (root, "online", s_online (stats));
    json_object_set_new (root, "uptime_s", json_integer (mon_stats_uptime (stats, now_ms)));
    json_object_set_new (root, "malformed_total", json_integer ((json_int_t) stats->malformed));
    json_object_set_new (root, "broker_last_heard_ms",
                         json_integer (mon_stats_broker_silence (stats, now_ms)));
    json_object_set_new (root, "rate_1s", s_rate (mon_stats_rate (stats, NULL, 1, now_ms)));
    json_object_set_new (root, "rate_1m", s_rate (mon_stats_rate (stats, NULL, 60, now_ms)));
    json_object_set_new (root, "rate_15m",
                         s_rate (mon_stats_rate (stats, NULL, MON_RING_SECONDS, now_ms)));
    json_object_set_new (root, "rate_history", s_rate_history (stats, now_ms));
    json_object_set_new (root, "login_failures_total",
                         json_integer ((json_int_t) stats->login_failures));
    json_object_set_new (root, "login_failures_1m",
                         json_integer ((json_int_t) mon_ring_sum (&stats->failures_ring, now_ms, 0, 60)));
    json_object_set_new (root, "dms_total", json_integer ((json_int_t) stats->dms));
    json_object_set_new (root, "rejects_total", json_integer ((json_int_t) stats->rejects));
    json_object_set_new (root, "auth_down_total", json_integer ((json_int_t) stats->auth_down));
}

//  Health: files, the broker, the services, the monitor, the alerts.
static void
s_health (json_t *root, mon_stats_t *stats, int64_t now_ms)
{
    json_object_set_new (root, "files", s_files (stats, now_ms));
    json_object_set_new (root, "broker", s_broker (stats));
    json_object_set_new (root, "broker_up",
                         json_boolean (mon_alerts_broker_up (stats, now_ms) == 1));
    json_object_set_new (root, "authsvc_last_heard_ms",
                         json_integer (stats->authsvc_known? stats->authsvc_ms: -1));
    json_object_set_new (root, "authsvc",
                         json_string (mon_alerts_state_name (mon_alerts_authsvc_up (stats, now_ms))));
    json_object_set_new (root, "redis",
                         json_string (mon_alerts_state_name (mon_alerts_redis_up (stats, now_ms))));
    json_object_set_new (root, "memory_rss_bytes", json_integer ((json_int_t) stats->rss));
    json_object_set_new (root, "thresholds", json_pack ("{s:i, s:i}",
        "login_failures", stats->login_threshold, "room_rate", stats->room_rate_limit));
    json_object_set_new (root, "alerts", s_alerts (stats));
    json_object_set_new (root, "alerts_total", s_alerts_total (stats));
    json_object_set_new (root, "events", s_events (stats));
}

//  Flood control: requests refused per user (or key), and in all
static void
s_throttled (json_t *root, mon_stats_t *stats)
{
    json_t *throttled = json_object ();
    for (mon_throttled_t *entry = (mon_throttled_t *) zhashx_first (stats->throttled); entry;
         entry = (mon_throttled_t *) zhashx_next (stats->throttled))
        json_object_set_new (throttled, (const char *) zhashx_cursor (stats->throttled),
                             json_integer ((json_int_t) entry->total));
    json_object_set_new (root, "throttled", throttled);
    json_object_set_new (root, "throttled_total", json_integer ((json_int_t) stats->throttled_total));
}

void
mon_json_stats (mon_stats_t *stats, pc_buf_t *buf, int64_t now_ms)
{
    assert (stats);
    assert (buf);
    json_t *root = json_object ();
    s_traffic (root, stats, now_ms);
    s_health (root, stats, now_ms);
    s_throttled (root, stats);
    char *text = json_dumps (root, JSON_COMPACT | JSON_REAL_PRECISION (15));
    assert (text);
    pc_buf_append (buf, text, strlen (text));
    free (text);
    json_decref (root);
}

//  --------------------------------------------------------------------------
//  Selftest

#define s_feed mon_stats_feed

static void
s_test_empty (mon_stats_t *stats, int64_t t0)
{
    pc_buf_t buf;
    pc_buf_init (&buf);
    mon_json_stats (stats, &buf, t0);
    const char *empty = "{\"messages_total\":0,\"rooms\":{},\"users_online\":0,"
                        "\"online\":[],\"uptime_s\":0,\"malformed_total\":0,"
                        "\"broker_last_heard_ms\":-1,\"rate_1s\":0.0,";
    if (strncmp (buf.data, empty, strlen (empty)))
        printf ("\n%s\n", buf.data);
    assert (strncmp (buf.data, empty, strlen (empty)) == 0);
    assert (strstr (buf.data, "\"broker\":null,\"broker_up\":false,"
                    "\"authsvc_last_heard_ms\":-1,\"authsvc\":\"unknown\","
                    "\"redis\":\"unknown\","));
    assert (strstr (buf.data, "\"alerts\":[],"));
    assert (strstr (buf.data, "\"events\":[],\"throttled\":{},\"throttled_total\":0}"));
    pc_buf_free (&buf);
}

//  Rooms sorted, rates over the seconds the monitor has run, the sparkline.
static void
s_test_traffic (mon_stats_t *stats, int64_t t0)
{
    assert (s_feed (stats, t0, "$ev/", "EVENT", "login", "bob", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "join", "alice", "lobby", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "join", "bob", "lobby", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "join", "bob", "dev", NULL) == 0);
    for (int i = 0; i < 10; i++)
        assert (s_feed (stats, t0, "r/lobby/", "MSG", "1", "lobby", "alice", "1", "hi", NULL) == 0);
    assert (s_feed (stats, t0, "r/dev/", "MSG", "1", "dev", "bob", "1", "x", NULL) == 0);
    assert (s_feed (stats, t0, "r/dev/", "MSG", "2", "dev", "bob", "1", "y", NULL) == 0);
    pc_buf_t buf;
    pc_buf_init (&buf);
    mon_json_stats (stats, &buf, t0 + 2500);
    const char *counted = "{\"messages_total\":12,\"rooms\":{"
                   "\"dev\":{\"messages\":2,\"members\":1,\"rate_1s\":0.0,"
                   "\"rate_1m\":1.0,\"rate_15m\":1.0},"
                   "\"lobby\":{\"messages\":10,\"members\":2,\"rate_1s\":0.0,"
                   "\"rate_1m\":5.0,\"rate_15m\":5.0}},"
                   "\"users_online\":2,\"online\":[\"alice\",\"bob\"],\"uptime_s\":2,"
                   "\"malformed_total\":0,\"broker_last_heard_ms\":2500,";
    if (strncmp (buf.data, counted, strlen (counted)))
        printf ("\n%s\n", buf.data);
    assert (strncmp (buf.data, counted, strlen (counted)) == 0);
    //  12 messages in the second t0, 2 s ago: the sparkline's second-last slot
    assert (strstr (buf.data, ",0,12,0],\"login_failures_total\":0,"));
    assert (strstr (buf.data, "\"kind\":\"join\",\"text\":\"alice joined lobby\"}"));
    pc_buf_free (&buf);
}

//  The counters, the broker's figures, health, alerts and the event log.
static void
s_test_health (mon_stats_t *stats, int64_t t1)
{
    for (int i = 0; i < 5; i++)
        assert (s_feed (stats, t1, "$ev/", "EVENT", "login-failed", "eve", "401", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "dm", "alice", "bob", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "reject", "400", "bad signature", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "auth-down", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "health", "authsvc", "12", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "health", "redis", "up", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "stats", "3", "0", "0", "7", "1", "99", NULL) == 0);
    mon_alerts_tick (stats, t1 + 600);
    pc_buf_t buf;
    pc_buf_init (&buf);
    mon_json_stats (stats, &buf, t1 + 600);
    assert (strstr (buf.data, "\"login_failures_total\":5,\"login_failures_1m\":5,"
                    "\"dms_total\":1,\"rejects_total\":1,\"auth_down_total\":1,"));
    assert (strstr (buf.data, "\"auth_down_total\":1,\"files\":{\"filesvc\":\"unknown\","
                    "\"active_uploads\":0,\"active_downloads\":0,\"uploads_total\":0,"
                    "\"downloads_total\":0,\"bytes_in_total\":0,\"bytes_out_total\":0,"
                    "\"shared\":0,\"fetched\":0,\"removed\":0},\"broker\":{"));
    assert (strstr (buf.data, "\"broker\":{\"sessions\":3,\"pending_auth\":0,\"journal\":0,"
                    "\"malformed\":7,\"subs_refused\":1,\"uptime_s\":99,\"delivery_avg_us\":0,"
                    "\"delivery_max_us\":0},\"broker_up\":true,"
                    "\"authsvc_last_heard_ms\":12,\"authsvc\":\"up\",\"redis\":\"up\","));
    assert (strstr (buf.data, "\"alerts\":[{\"kind\":\"login_failures\",\"subject\":\"\","
                    "\"detail\":\"5 failed logins in the last 60 s (threshold 5)\","
                    "\"since_ms\":1700000100600}]"));
    assert (strstr (buf.data, "\"alerts_total\":{\"login_failures\":1,"));
    assert (strstr (buf.data, "\"kind\":\"dm\",\"text\":\"alice -> bob\"}"));
    assert (strstr (buf.data, "\"text\":\"400 bad signature\"}"));
    pc_buf_free (&buf);
}

void
mon_json_test (bool verbose)
{
    printf (" * mon_json: ");
    int64_t t0 = 1700000000000;
    mon_stats_t *stats = mon_stats_new (t0);
    mon_stats_set_wall_offset (stats, 0);
    s_test_empty (stats, t0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "login", "alice", NULL) == 0);
    s_test_traffic (stats, t0);
    s_test_health (stats, t0 + 100000);
    //  Not UTF-8: the other bytes go as '?'
    json_t *text = s_string ("bad \xff\xfe text");
    assert (streq (json_string_value (text), "bad ?? text"));
    json_decref (text);
    //  What the console reads back parses, and says the same
    pc_buf_t buf;
    pc_buf_init (&buf);
    mon_json_stats (stats, &buf, t0 + 100600);
    if (verbose)
        printf ("\n   %s\n   ", buf.data);
    json_t *parsed = json_loads (buf.data, 0, NULL);
    assert (parsed);
    assert (json_integer_value (json_object_get (parsed, "messages_total")) == 12);
    assert (json_real_value (json_object_get (json_object_get (
            json_object_get (parsed, "rooms"), "lobby"), "rate_15m")) == 0.1);
    json_decref (parsed);
    pc_buf_free (&buf);
    mon_stats_destroy (&stats);
    printf ("OK\n");
}

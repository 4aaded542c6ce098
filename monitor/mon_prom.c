//  mon_prom.c: the Prometheus text exposition, format 0.0.4 (mon_prom.h).
#include "mon_prom.h"
#include "mon_alerts.h"

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

//  Traffic: rooms, messages, rates, logins, alerts.
static void
s_traffic (mon_stats_t *stats, pc_buf_t *buf, int64_t now_ms)
{
    s_prom_family (buf, "pychat_messages_total", "counter",
                   "Room messages the monitor has counted, per room.");
    zlistx_t *names = mon_stats_sorted_keys (stats->rooms);
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names)) {
        mon_room_t *room = (mon_room_t *) zhashx_lookup (stats->rooms, name);
        pc_buf_printf (buf, "pychat_messages_total{room=\"");
        s_prom_label (buf, name);
        pc_buf_printf (buf, "\"} %" PRIu64 "\n", room->messages);
    }
    s_prom_family (buf, "pychat_room_members", "gauge", "Users joined to each room.");
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names)) {
        mon_room_t *room = (mon_room_t *) zhashx_lookup (stats->rooms, name);
        pc_buf_printf (buf, "pychat_room_members{room=\"");
        s_prom_label (buf, name);
        pc_buf_printf (buf, "\"} %zu\n", zhashx_size (room->members));
    }
    zlistx_destroy (&names);
    s_prom_value (buf, "pychat_messages_all_total", "counter",
                  "Room messages the monitor has counted, all rooms.", stats->messages);
    s_prom_family (buf, "pychat_messages_per_second", "gauge",
                   "Room messages per second over the last 1 s, 1 min and 15 min.");
    pc_buf_printf (buf, "pychat_messages_per_second{window=\"1s\"} %.2f\n"
                   "pychat_messages_per_second{window=\"1m\"} %.2f\n"
                   "pychat_messages_per_second{window=\"15m\"} %.2f\n",
                   mon_stats_ring_rate (stats, &stats->ring, 1, now_ms),
                   mon_stats_ring_rate (stats, &stats->ring, 60, now_ms),
                   mon_stats_ring_rate (stats, &stats->ring, MON_RING_SECONDS, now_ms));
    s_prom_value (buf, "pychat_users_online", "gauge", "Users logged in.",
                  mon_stats_online (stats));
    s_prom_value (buf, "pychat_login_failures_total", "counter",
                  "Failed logins the broker reported.", stats->login_failures);
    s_prom_value (buf, "pychat_dms_total", "counter",
                  "Direct messages the broker reported (counts only).", stats->dms);
    s_prom_value (buf, "pychat_rejects_total", "counter",
                  "Requests the broker rejected as malformed.", stats->rejects);
    s_prom_value (buf, "pychat_monitor_malformed_total", "counter",
                  "Malformed messages the monitor received.", stats->malformed);
    s_prom_family (buf, "pychat_alerts_active", "gauge", "Alerts active now, per kind.");
    for (int kind = 0; kind < MON_ALERT_KINDS; kind++)
        pc_buf_printf (buf, "pychat_alerts_active{kind=\"%s\"} %zu\n", mon_alerts_name ((mon_alert_kind_t) kind),
                       mon_alerts_count (stats, (mon_alert_kind_t) kind));
    s_prom_family (buf, "pychat_alerts_total", "counter", "Alerts raised, per kind.");
    for (int kind = 0; kind < MON_ALERT_KINDS; kind++)
        pc_buf_printf (buf, "pychat_alerts_total{kind=\"%s\"} %" PRIu64 "\n",
                       mon_alerts_name ((mon_alert_kind_t) kind), stats->alerts_total [kind]);
}

//  Health: the broker's figures, the services, file transfers, the monitor.
static void
s_health (mon_stats_t *stats, pc_buf_t *buf, int64_t now_ms)
{
    s_prom_value (buf, "pychat_broker_sessions", "gauge",
                  "Sessions the broker holds (its last stats event).", stats->broker [0]);
    s_prom_value (buf, "pychat_broker_pending_auth", "gauge",
                  "Requests the broker is waiting on the auth service for.", stats->broker [1]);
    s_prom_value (buf, "pychat_broker_journal", "gauge",
                  "Messages the broker keeps in memory until Redis takes them.", stats->broker [2]);
    s_prom_value (buf, "pychat_broker_malformed_total", "counter",
                  "Malformed requests the broker counted.", stats->broker [3]);
    s_prom_value (buf, "pychat_broker_subs_refused_total", "counter",
                  "Subscriptions the broker refused.", stats->broker [4]);
    s_prom_value (buf, "pychat_broker_delivery_avg_microseconds", "gauge",
                  "Mean time from reading a SEND to handing it to every member, last heartbeat.",
                  stats->broker [6]);
    s_prom_value (buf, "pychat_broker_delivery_max_microseconds", "gauge",
                  "Longest time from reading a SEND to handing it to every member, last heartbeat.",
                  stats->broker [7]);
    s_prom_value (buf, "pychat_broker_up", "gauge",
                  "1 when the broker was heard within 6 s.", mon_alerts_broker_up (stats, now_ms) == 1);
    s_prom_value (buf, "pychat_authsvc_up", "gauge",
                  "1 when an auth service answered the broker within 6 s.",
                  mon_alerts_authsvc_up (stats, now_ms) == 1);
    s_prom_value (buf, "pychat_redis_up", "gauge",
                  "1 when the broker reports Redis up.", mon_alerts_redis_up (stats, now_ms) == 1);
    s_prom_value (buf, "pychat_filesvc_up", "gauge",
                  "1 when the file service was heard within 6 s.",
                  mon_alerts_filesvc_up (stats, now_ms) == 1);
    s_prom_family (buf, "pychat_file_transfers_active", "gauge",
                   "File transfers in progress on the file service.");
    pc_buf_printf (buf, "pychat_file_transfers_active{direction=\"up\"} %" PRIu64 "\n"
                   "pychat_file_transfers_active{direction=\"down\"} %" PRIu64 "\n",
                   stats->files [0], stats->files [1]);
    s_prom_family (buf, "pychat_file_transfers_total", "counter",
                   "Completed file transfers since the file service started.");
    pc_buf_printf (buf, "pychat_file_transfers_total{direction=\"up\"} %" PRIu64 "\n"
                   "pychat_file_transfers_total{direction=\"down\"} %" PRIu64 "\n",
                   stats->files [2], stats->files [3]);
    s_prom_family (buf, "pychat_file_bytes_total", "counter",
                   "File bytes received and sent by the file service since it started.");
    pc_buf_printf (buf, "pychat_file_bytes_total{direction=\"in\"} %" PRIu64 "\n"
                   "pychat_file_bytes_total{direction=\"out\"} %" PRIu64 "\n",
                   stats->files [4], stats->files [5]);
    int64_t uptime = mon_stats_uptime (stats, now_ms);
    s_prom_value (buf, "pychat_monitor_uptime_seconds", "gauge",
                  "Seconds since the monitor started.", (uint64_t) uptime);
    s_prom_value (buf, "pychat_monitor_memory_bytes", "gauge",
                  "Resident memory of the monitor (VmRSS).", stats->rss);
}

void
mon_prom_metrics (mon_stats_t *stats, pc_buf_t *buf, int64_t now_ms)
{
    assert (stats);
    assert (buf);
    s_traffic (stats, buf, now_ms);
    s_health (stats, buf, now_ms);
}

//  --------------------------------------------------------------------------
//  Selftest

#define s_feed mon_stats_feed

void
mon_prom_test (bool verbose)
{
    printf (" * mon_prom: ");
    int64_t t0 = 1700000000000;
    mon_stats_t *stats = mon_stats_new (t0);
    for (int sec = 0; sec < 10; sec++)
        for (int i = 0; i < 3; i++)
            assert (s_feed (stats, t0 + sec * 1000, "r/busy/", "MSG", "1", "busy", "bob",
                            "1", "x", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "join", "bob", "busy", NULL) == 0);
    for (int i = 0; i < 5; i++)
        assert (s_feed (stats, t0, "$ev/", "EVENT", "login-failed", "eve", "401", NULL) == 0);
    assert (s_feed (stats, t0 + 10000, "$ev/", "EVENT", "files", "1", "2", "3", "4", "500",
                    "600", NULL) == 0);
    mon_stats_set_thresholds (stats, 3, 2);
    mon_stats_set_rss (stats, 4096);
    mon_alerts_tick (stats, t0 + 10000);
    pc_buf_t buf;
    pc_buf_init (&buf);
    mon_prom_metrics (stats, &buf, t0 + 10000);
    if (verbose)
        printf ("\n%s\n   ", buf.data);
    assert (strstr (buf.data, "# TYPE pychat_messages_total counter\n"));
    assert (strstr (buf.data, "pychat_messages_total{room=\"busy\"} 30\n"));
    assert (strstr (buf.data, "pychat_room_members{room=\"busy\"} 1\n"));
    assert (strstr (buf.data, "pychat_messages_all_total 30\n"));
    assert (strstr (buf.data, "pychat_messages_per_second{window=\"1m\"} 3.00\n"));
    assert (strstr (buf.data, "pychat_login_failures_total 5\n"));
    assert (strstr (buf.data, "pychat_alerts_active{kind=\"room_rate\"} 1\n"));
    assert (strstr (buf.data, "pychat_alerts_total{kind=\"login_failures\"} 1\n"));
    assert (strstr (buf.data, "pychat_file_bytes_total{direction=\"in\"} 500\n"));
    assert (strstr (buf.data, "pychat_filesvc_up 1\n"));
    assert (strstr (buf.data, "pychat_monitor_uptime_seconds 10\n"));
    assert (strstr (buf.data, "pychat_monitor_memory_bytes 4096\n"));
    pc_buf_free (&buf);
    //  Label escaping
    pc_buf_init (&buf);
    s_prom_label (&buf, "a\"b\\c\nd");
    assert (streq (buf.data, "a\\\"b\\\\c\\nd"));
    pc_buf_free (&buf);
    mon_stats_destroy (&stats);
    printf ("OK\n");
}

//  mon_prom.c: the Prometheus text exposition, format 0.0.4 (mon_prom.h).
//  Names follow Prometheus's conventions, so that `promtool check metrics`
//  has nothing to say: base units (seconds, bytes), counters end in
//  _total, the delivery latency is a histogram, room labels are bounded.
#include "mon_prom.h"
#include "mon_alerts.h"
#include "pc_version.h"

#define OTHER_ROOMS     "_other"

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

static void
s_prom_seconds (pc_buf_t *buf, const char *name, const char *type, const char *help,
                double value)
{
    s_prom_family (buf, name, type, help);
    pc_buf_printf (buf, "%s %.6f\n", name, value);
}

//  Per room: the busiest top_rooms rooms by name, the others (and a room
//  that happens to be called "_other") summed in room="_other", always
//  there so that its series never starts and stops.
static void
s_rooms (mon_stats_t *stats, pc_buf_t *buf)
{
    size_t count;
    mon_room_t **rooms = mon_stats_rooms_by_traffic (stats, &count);
    uint64_t other_messages = 0, other_members = 0;
    zlistx_t *named = zlistx_new ();
    size_t index;
    for (index = 0; index < count; index++)
        if (zlistx_size (named) < stats->top_rooms && !streq (rooms [index]->name, OTHER_ROOMS))
            zlistx_add_end (named, rooms [index]);
        else {
            other_messages += rooms [index]->messages;
            other_members += zhashx_size (rooms [index]->members);
        }
    s_prom_family (buf, "pychat_messages_total", "counter",
                   "Room messages the monitor has counted, per room (the busiest "
                   "PYCHAT_METRICS_TOP_ROOMS rooms; the rest summed as room _other).");
    for (mon_room_t *room = (mon_room_t *) zlistx_first (named); room;
         room = (mon_room_t *) zlistx_next (named)) {
        pc_buf_printf (buf, "pychat_messages_total{room=\"");
        s_prom_label (buf, room->name);
        pc_buf_printf (buf, "\"} %" PRIu64 "\n", room->messages);
    }
    pc_buf_printf (buf, "pychat_messages_total{room=\"" OTHER_ROOMS "\"} %" PRIu64 "\n",
                   other_messages);
    s_prom_family (buf, "pychat_room_members", "gauge",
                   "Users in each room (a user with several sessions in it counts once).");
    for (mon_room_t *room = (mon_room_t *) zlistx_first (named); room;
         room = (mon_room_t *) zlistx_next (named)) {
        pc_buf_printf (buf, "pychat_room_members{room=\"");
        s_prom_label (buf, room->name);
        pc_buf_printf (buf, "\"} %zu\n", zhashx_size (room->members));
    }
    pc_buf_printf (buf, "pychat_room_members{room=\"" OTHER_ROOMS "\"} %" PRIu64 "\n",
                   other_members);
    s_prom_value (buf, "pychat_rooms", "gauge", "Rooms the monitor has seen.", count);
    zlistx_destroy (&named);
    free (rooms);
}

//  Traffic: rooms, messages, logins, moderation, alerts.
static void
s_traffic (mon_stats_t *stats, pc_buf_t *buf, int64_t now_ms)
{
    s_rooms (stats, buf);
    s_prom_value (buf, "pychat_messages_all_total", "counter",
                  "Room messages the monitor has counted, all rooms.", stats->messages);
    s_prom_value (buf, "pychat_users_online", "gauge", "Users logged in.",
                  mon_stats_online (stats));
    s_prom_value (buf, "pychat_logins_total", "counter",
                  "Logins the broker reported.", stats->logins);
    s_prom_value (buf, "pychat_login_failures_total", "counter",
                  "Failed logins the broker reported.", stats->login_failures);
    s_prom_value (buf, "pychat_dms_total", "counter",
                  "Direct messages the broker reported (counts only).", stats->dms);
    s_prom_value (buf, "pychat_rejects_total", "counter",
                  "Requests the broker rejected as malformed.", stats->rejects);
    s_prom_value (buf, "pychat_throttled_total", "counter",
                  "Requests the broker held back (429: flood control or slow mode).",
                  stats->throttled_total);
    s_prom_value (buf, "pychat_monitor_malformed_total", "counter",
                  "Malformed messages the monitor received.", stats->malformed);
    s_prom_family (buf, "pychat_admin_actions_total", "counter",
                   "Moderation and account actions the broker reported, per action.");
    for (size_t index = 0; index < MON_ADMIN_ACTIONS; index++)
        pc_buf_printf (buf, "pychat_admin_actions_total{action=\"%s\"} %" PRIu64 "\n",
                       mon_stats_admin_action (index), stats->admin_actions [index]);
    s_prom_family (buf, "pychat_alerts_active", "gauge", "Alerts active now, per kind.");
    for (int kind = 0; kind < MON_ALERT_KINDS; kind++)
        pc_buf_printf (buf, "pychat_alerts_active{kind=\"%s\"} %zu\n", mon_alerts_name ((mon_alert_kind_t) kind),
                       mon_alerts_count (stats, (mon_alert_kind_t) kind));
    s_prom_family (buf, "pychat_alerts_total", "counter", "Alerts raised, per kind.");
    for (int kind = 0; kind < MON_ALERT_KINDS; kind++)
        pc_buf_printf (buf, "pychat_alerts_total{kind=\"%s\"} %" PRIu64 "\n",
                       mon_alerts_name ((mon_alert_kind_t) kind), stats->alerts_total [kind]);
}

//  The broker's delivery latency: a histogram in seconds, cumulative
//  buckets as the broker counted them since its start.
static void
s_latency (mon_stats_t *stats, pc_buf_t *buf)
{
    const char *name = "pychat_broker_delivery_seconds";
    s_prom_family (buf, name, "histogram",
                   "Time from the broker reading a SEND to handing it to every member, "
                   "since the broker started.");
    for (size_t i = 0; i < stats->latency_buckets; i++)
        pc_buf_printf (buf, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
                       (double) stats->latency_bounds_us [i] / 1e6, stats->latency_le [i]);
    pc_buf_printf (buf, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, stats->latency_count);
    pc_buf_printf (buf, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name,
                   (double) stats->latency_sum_us / 1e6, name, stats->latency_count);
    s_prom_seconds (buf, "pychat_broker_delivery_max_seconds", "gauge",
                    "Longest delivery over the broker's last heartbeat (2 s).",
                    (double) stats->broker [7] / 1e6);
}

//  The monitor's own process (the standard names), and the broker's.
static void
s_process (mon_stats_t *stats, pc_buf_t *buf)
{
    pc_proc_t *proc = &stats->proc;
    s_prom_seconds (buf, "process_start_time_seconds", "gauge",
                    "Start time of the monitor process since the Unix epoch.",
                    (double) proc->start_ms / 1000.0);
    s_prom_seconds (buf, "process_cpu_seconds_total", "counter",
                    "User and system CPU time the monitor process has used.",
                    (double) proc->cpu_ms / 1000.0);
    s_prom_value (buf, "process_resident_memory_bytes", "gauge",
                  "Resident memory of the monitor process.", proc->rss_bytes);
    s_prom_value (buf, "process_virtual_memory_bytes", "gauge",
                  "Virtual memory of the monitor process.", proc->virtual_bytes);
    s_prom_value (buf, "process_open_fds", "gauge",
                  "File descriptors the monitor process has open.", proc->open_fds);
    s_prom_value (buf, "process_max_fds", "gauge",
                  "File descriptors the monitor process may open.", proc->max_fds);
    pc_proc_t *broker = &stats->broker_proc;
    s_prom_seconds (buf, "pychat_broker_start_time_seconds", "gauge",
                    "Start time of the broker process since the Unix epoch (0: not reported).",
                    (double) broker->start_ms / 1000.0);
    s_prom_seconds (buf, "pychat_broker_cpu_seconds_total", "counter",
                    "User and system CPU time the broker process has used.",
                    (double) broker->cpu_ms / 1000.0);
    s_prom_value (buf, "pychat_broker_resident_memory_bytes", "gauge",
                  "Resident memory of the broker process.", broker->rss_bytes);
    s_prom_value (buf, "pychat_broker_open_fds", "gauge",
                  "File descriptors the broker process has open.", broker->open_fds);
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
    s_latency (stats, buf);
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
    s_process (stats, buf);
}

void
mon_prom_metrics (mon_stats_t *stats, pc_buf_t *buf, int64_t now_ms)
{
    assert (stats);
    assert (buf);
    s_prom_family (buf, "pychat_build_info", "gauge",
                   "Always 1; the version of PyChat that serves these metrics.");
    pc_buf_printf (buf, "pychat_build_info{version=\"%s\"} 1\n", PC_VERSION);
    s_traffic (stats, buf, now_ms);
    s_health (stats, buf, now_ms);
}

//  --------------------------------------------------------------------------
//  Selftest

#define s_feed mon_stats_feed

//  More rooms than top_rooms: the quietest add up in room="_other".
static void
s_test_top_rooms (void)
{
    int64_t t0 = 1700000000000;
    mon_stats_t *stats = mon_stats_new (t0);
    mon_stats_set_top_rooms (stats, 2);
    const char *rooms [] = { "a", "b", "c", "_other" };
    for (int r = 0; r < 4; r++) {
        char topic [32];
        snprintf (topic, sizeof (topic), "r/%s/", rooms [r]);
        for (int i = 0; i < 4 - r; i++)
            assert (s_feed (stats, t0, topic, "MSG", "1", rooms [r], "bob", "1", "x", NULL) == 0);
        assert (s_feed (stats, t0, "$ev/", "EVENT", "join", "bob", rooms [r], NULL) == 0);
    }
    pc_buf_t buf;
    pc_buf_init (&buf);
    mon_prom_metrics (stats, &buf, t0);
    assert (strstr (buf.data, "pychat_messages_total{room=\"a\"} 4\n"));
    assert (strstr (buf.data, "pychat_messages_total{room=\"b\"} 3\n"));
    assert (!strstr (buf.data, "{room=\"c\"}"));
    assert (strstr (buf.data, "pychat_messages_total{room=\"_other\"} 3\n"));
    assert (strstr (buf.data, "pychat_room_members{room=\"_other\"} 2\n"));
    assert (strstr (buf.data, "pychat_rooms 4\n"));
    pc_buf_free (&buf);
    mon_stats_destroy (&stats);
}

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
    assert (s_feed (stats, t0, "$ev/", "EVENT", "latency", "3", "1500", "100,1000,10000",
                    "1,2,3", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "process", "broker", "1699999990000", "8192",
                    "2500", "17", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "admin", "root", "kick", "bob", NULL) == 0);
    mon_stats_set_thresholds (stats, 3, 2);
    pc_proc_t proc = { .start_ms = 1699999999500, .cpu_ms = 1250, .rss_bytes = 4096,
                       .open_fds = 9, .max_fds = 1024 };
    mon_stats_set_process (stats, &proc);
    mon_alerts_tick (stats, t0 + 10000);
    pc_buf_t buf;
    pc_buf_init (&buf);
    mon_prom_metrics (stats, &buf, t0 + 10000);
    if (verbose)
        printf ("\n%s\n   ", buf.data);
    assert (strstr (buf.data, "pychat_build_info{version=\"" PC_VERSION "\"} 1\n"));
    assert (strstr (buf.data, "# TYPE pychat_messages_total counter\n"));
    assert (strstr (buf.data, "pychat_messages_total{room=\"busy\"} 30\n"));
    assert (strstr (buf.data, "pychat_messages_total{room=\"_other\"} 0\n"));
    assert (strstr (buf.data, "pychat_room_members{room=\"busy\"} 1\n"));
    assert (strstr (buf.data, "pychat_messages_all_total 30\n"));
    assert (!strstr (buf.data, "per_second"));
    assert (strstr (buf.data, "pychat_login_failures_total 5\n"));
    assert (strstr (buf.data, "pychat_admin_actions_total{action=\"kick\"} 1\n"));
    assert (strstr (buf.data, "pychat_alerts_active{kind=\"room_rate\"} 1\n"));
    assert (strstr (buf.data, "pychat_alerts_total{kind=\"login_failures\"} 1\n"));
    assert (strstr (buf.data, "pychat_file_bytes_total{direction=\"in\"} 500\n"));
    assert (strstr (buf.data, "pychat_filesvc_up 1\n"));
    assert (strstr (buf.data, "# TYPE pychat_broker_delivery_seconds histogram\n"));
    assert (strstr (buf.data, "pychat_broker_delivery_seconds_bucket{le=\"0.0001\"} 1\n"));
    assert (strstr (buf.data, "pychat_broker_delivery_seconds_bucket{le=\"0.01\"} 3\n"));
    assert (strstr (buf.data, "pychat_broker_delivery_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert (strstr (buf.data, "pychat_broker_delivery_seconds_sum 0.001500\n"));
    assert (strstr (buf.data, "pychat_broker_delivery_seconds_count 3\n"));
    assert (!strstr (buf.data, "microseconds"));
    assert (strstr (buf.data, "process_start_time_seconds 1699999999.500000\n"));
    assert (strstr (buf.data, "process_cpu_seconds_total 1.250000\n"));
    assert (strstr (buf.data, "process_resident_memory_bytes 4096\n"));
    assert (strstr (buf.data, "process_open_fds 9\n"));
    assert (strstr (buf.data, "pychat_broker_start_time_seconds 1699999990.000000\n"));
    assert (strstr (buf.data, "pychat_broker_resident_memory_bytes 8192\n"));
    assert (strstr (buf.data, "pychat_monitor_uptime_seconds 10\n"));
    assert (strstr (buf.data, "pychat_monitor_memory_bytes 4096\n"));
    pc_buf_free (&buf);
    //  Label escaping
    pc_buf_init (&buf);
    s_prom_label (&buf, "a\"b\\c\nd");
    assert (streq (buf.data, "a\\\"b\\\\c\\nd"));
    pc_buf_free (&buf);
    mon_stats_destroy (&stats);
    s_test_top_rooms ();
    printf ("OK\n");
}

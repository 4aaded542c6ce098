//  mon_stats_test.c: mon_stats's selftest (mon_stats_test, declared in
//  mon_stats.h), through real decoded fan-out messages (mon_stats_feed).
#include "mon_stats.h"

#define s_feed mon_stats_feed

//  Logins, joins and messages; the summary line.
static void
s_test_counting (mon_stats_t *stats, int64_t t0)
{
    assert (mon_stats_broker_silence (stats, t0) == -1);
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
    assert (mon_stats_rate (stats, "lobby", 60, t0 + 2500) == 5.0);
    pc_buf_t buf;
    pc_buf_init (&buf);
    mon_stats_summary (stats, &buf);
    assert (streq (buf.data, "12 messages (lobby 10, dev 2), 2 online"));
    pc_buf_free (&buf);
}

//  Leave, logout (per session: a user stays online and in their rooms while
//  another session of theirs is there); the heartbeat is authoritative.
static void
s_test_membership (mon_stats_t *stats, int64_t t0)
{
    assert (s_feed (stats, t0, "$ev/", "EVENT", "leave", "alice", "lobby", NULL) == 0);
    assert (!mon_stats_is_member (stats, "lobby", "alice"));
    assert (s_feed (stats, t0, "$ev/", "EVENT", "leave", "alice", "nowhere", NULL) == 0);
    //  One of bob's two sessions logs out (a one-shot CLI command)
    assert (s_feed (stats, t0, "$ev/", "EVENT", "logout", "bob", "1", NULL) == 0);
    assert (mon_stats_is_online (stats, "bob"));
    assert (mon_stats_room_members (stats, "lobby") == 1);
    assert (mon_stats_room_members (stats, "dev") == 1);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "logout", "bob", "x", NULL) == -2);
    //  The last: the broker sends the leaves first
    assert (s_feed (stats, t0, "$ev/", "EVENT", "leave", "bob", "lobby", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "leave", "bob", "dev", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "logout", "bob", "0", NULL) == 0);
    assert (!mon_stats_is_online (stats, "bob"));
    assert (mon_stats_room_members (stats, "lobby") == 0);
    assert (mon_stats_room_members (stats, "dev") == 0);
    assert (mon_stats_room_messages (stats, "lobby") == 10);
    //  An older broker's logout (no count): offline
    assert (s_feed (stats, t0, "$ev/", "EVENT", "login", "bob", NULL) == 0);
    assert (s_feed (stats, t0, "$ev/", "EVENT", "logout", "bob", NULL) == 0);
    assert (!mon_stats_is_online (stats, "bob"));
    //  Who drops off the heartbeat's list loses memberships
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
    assert (mon_stats_malformed_total (stats) == 1);
}

//  Malformed: counted, nothing applied, never a crash.
static void
s_test_malformed (mon_stats_t *stats, int64_t t0)
{
    uint64_t malformed = mon_stats_malformed_total (stats);
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
}

//  Failed logins, DMs, rejects, health, the broker's and file service's figures.
static void
s_test_figures (mon_stats_t *stats, int64_t t1)
{
    uint64_t malformed = mon_stats_malformed_total (stats);
    for (int i = 0; i < 5; i++)
        assert (s_feed (stats, t1, "$ev/", "EVENT", "login-failed", "eve", "401", NULL) == 0);
    assert (mon_stats_login_failures (stats) == 5);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "login-failed", "eve", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "dm", "alice", "bob", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "dm", "alice", NULL) == -2);
    assert (mon_stats_dms (stats) == 1);
    assert (mon_stats_rejects (stats) == 1);            //  s_test_membership's
    assert (s_feed (stats, t1, "$ev/", "EVENT", "health", "authsvc", "12", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "health", "redis", "up", NULL) == 0);
    assert (stats->authsvc_ms == 12 && stats->redis_state == 1);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "health", "redis", "maybe", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "health", "authsvc", "soon", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "stats", "3", "0", "0", "7", "1", "99", NULL) == 0);
    assert (stats->broker_known && stats->broker [0] == 3 && stats->broker [5] == 99);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "stats", "3", "0", "0", "7", "1", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "stats", "3", "0", "0", "7", "1", "99", "x", "9", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "stats", "3", "0", "0", "-7", "1", "9", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "files", "1", "2", "3", "4", "500", "600", NULL) == 0);
    assert (stats->files [4] == 500 && stats->files_heard_ms == t1);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "files", "1", "2", "3", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "file-up", "alice", "room/lobby",
                    "a.pdf", "2048", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "file-down", "bob", "dm/alice+bob",
                    "-", "99", NULL) == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "file-up", "alice", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "file-rm", "alice", "room/lobby", "a.pdf", NULL) == 0);
    assert (stats->files_shared == 1 && stats->files_fetched == 1 && stats->files_removed == 1);
    mon_event_t *last = &stats->events [(stats->events_next - 2) % MON_EVENTS_MAX];
    assert (streq (last->text, "bob downloaded - in dm/alice+bob (99 bytes)"));
    //  Moderation, with its action as the event's kind
    assert (s_feed (stats, t1, "$ev/", "EVENT", "admin", "root", "ban", "eve", NULL) == 0);
    last = &stats->events [(stats->events_next - 1) % MON_EVENTS_MAX];
    assert (streq (last->kind, "ban") && streq (last->text, "root: ban eve"));
    assert (s_feed (stats, t1, "$ev/", "EVENT", "admin", "root", "frobnicate", "x", NULL) == 0);
    assert (stats->admin_actions [1] == 1 && stats->admin_actions [MON_ADMIN_ACTIONS - 1] == 1);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "admin", "root", NULL) == -2);
    //  The latency histogram: as reported, or not at all
    assert (s_feed (stats, t1, "$ev/", "EVENT", "latency", "5", "900", "100,200", "4,5", NULL) == 0);
    assert (stats->latency_buckets == 2 && stats->latency_le [1] == 5);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "latency", "5", "900", "200,100", "4,5", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "latency", "5", "900", "100,200", "5,4", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "latency", "5", "900", "100,200", "4,6", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "latency", "5", "900", "100,200", "4", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "latency", "5", "900", "100,", "4,", NULL) == -2);
    assert (stats->latency_buckets == 2 && stats->latency_count == 5);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "process", "broker", "1", "2", "3", "4", NULL) == 0);
    assert (stats->broker_proc.open_fds == 4);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "process", "broker", "1", "2", "-3", "4", NULL) == -2);
    //  A room's members as the broker has them now
    assert (s_feed (stats, t1, "$ev/", "EVENT", "members", "synced", "2", "ann,bo", NULL) == 0);
    assert (mon_stats_room_members (stats, "synced") == 2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "members", "synced", "1", "cy", NULL) == 0);
    assert (mon_stats_is_member (stats, "synced", "cy") && mon_stats_room_members (stats, "synced") == 1);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "members", "synced", "3", "dee", NULL) == 0);
    assert (mon_stats_room_members (stats, "synced") == 2);         //  capped: adds
    assert (s_feed (stats, t1, "$ev/", "EVENT", "members", "synced", "0", "", NULL) == 0);
    assert (mon_stats_room_members (stats, "synced") == 0);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "members", "unseen", "0", "", NULL) == 0);
    assert (!zhashx_lookup (stats->rooms, "unseen"));
    assert (s_feed (stats, t1, "$ev/", "EVENT", "members", "synced", "1", "Bad Name", NULL) == -2);
    assert (s_feed (stats, t1, "$ev/", "EVENT", "members", "synced", "x", "ann", NULL) == -2);
    assert (mon_stats_malformed_total (stats) == malformed + 9 + 7 + 2);
}

//  The event log keeps the last MON_EVENTS_MAX; many rooms: the summary
//  names the busiest eight.
static void
s_test_many (mon_stats_t *stats, int64_t t0)
{
    for (int i = 0; i < MON_EVENTS_MAX + 5; i++)
        assert (s_feed (stats, t0, "$ev/", "EVENT", "dm", "alice", "bob", NULL) == 0);
    assert (streq (stats->events [(stats->events_next - 1) % MON_EVENTS_MAX].text, "alice -> bob"));
    for (int i = 0; i < 20; i++) {
        char room [16], topic [24];
        snprintf (room, sizeof (room), "room%02d", i);
        snprintf (topic, sizeof (topic), "r/%s/", room);
        assert (s_feed (stats, t0, topic, "MSG", "1", room, "bob", "1", "x", NULL) == 0);
    }
    pc_buf_t buf;
    pc_buf_init (&buf);
    mon_stats_summary (stats, &buf);
    assert (streq (buf.data, "32 messages (lobby 10, dev 2, room00 1, room01 1, room02 1, "
                   "room03 1, room04 1, room05 1, 15 more rooms), 1 online"));
    pc_buf_free (&buf);
}

//  Random garbage through the decoder and into the aggregator.
static void
s_test_garbage (mon_stats_t *stats, int64_t t0)
{
    const char *words [] = { "login", "logout", "join", "leave", "heartbeat", "files",
                             "stats", "file-up", "lobby", "alice", "3", ",", "a,b", "",
                             "-", "Z" };
    for (int round = 0; round < 1000; round++) {
        zmsg_t *raw = zmsg_new ();
        zmsg_addstr (raw, randof (2)? "$ev/": "r/lobby/");
        zmsg_addstr (raw, PC_SIGNATURE);
        zmsg_addstr (raw, randof (2)? "EVENT": "MSG");
        zmsg_addstr (raw, "");
        int nfields = randof (6);
        for (int f = 0; f < nfields; f++)
            zmsg_addstr (raw, words [randof (sizeof (words) / sizeof (words [0]))]);
        pc_msg_t *msg = pc_msg_new (NULL);
        if (pc_msg_decode (msg, &raw, PC_MSG_TOPIC) == 0)
            mon_stats_handle (stats, msg, t0);
        pc_msg_destroy (&msg);
    }
}

void
mon_stats_test (bool verbose)
{
    printf (" * mon_stats: ");
    int64_t t0 = 1700000000000;
    mon_stats_t *stats = mon_stats_new (t0);
    assert (stats);
    s_test_counting (stats, t0);
    s_test_membership (stats, t0);
    s_test_malformed (stats, t0);
    s_test_figures (stats, t0 + 100000);
    s_test_many (stats, t0);
    s_test_garbage (stats, t0);
    mon_stats_destroy (&stats);
    mon_stats_destroy (&stats);         //  safe twice
    printf ("OK\n");
}

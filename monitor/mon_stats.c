//  mon_stats.c: aggregation of the broker's fan-out (MSG counts, who is
//  online, who is in which room). Input is the network's: nothing here
//  asserts on it; a message that does not make sense is counted and dropped.
#include "mon_stats.h"
#include "pc_limits.h"

#include <errno.h>
#include <stdlib.h>

typedef struct {
    char     *name;
    uint64_t  messages;
    zhashx_t *members;              //  user name -> (void *) 1
} room_t;

struct _mon_stats_t {
    int64_t   started_ms;
    int64_t   heard_ms;             //  last message from the broker; 0: never
    uint64_t  messages;
    uint64_t  malformed;
    zhashx_t *rooms;                //  name -> room_t, owned
    zhashx_t *online;               //  user name -> (void *) 1
    size_t    unlisted;             //  online but left off a capped heartbeat list
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
    zlistx_sort (keys);
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

static int
s_event (mon_stats_t *self, pc_msg_t *msg)
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
    }
    else
    if (streq (kind, "logout")) {
        if (!user || !pc_name_valid (user))
            return -2;
        zhashx_delete (self->online, user);
        s_forget_memberships (self, user);
    }
    else
    if (streq (kind, "join")) {
        if (!user || !pc_name_valid (user) || !room || !pc_name_valid (room))
            return -2;
        zhashx_insert (self->online, user, (void *) 1);
        zhashx_insert (s_room_require (self, room)->members, user, (void *) 1);
    }
    else
    if (streq (kind, "leave")) {
        if (!user || !pc_name_valid (user) || !room || !pc_name_valid (room))
            return -2;
        room_t *known = (room_t *) zhashx_lookup (self->rooms, room);
        if (known)
            zhashx_delete (known->members, user);
    }
    else
    if (streq (kind, "heartbeat")) {
        if (!user)                  //  the count
            return -2;
        return s_heartbeat (self, user, room);
    }
    //  Other kinds (reject, auth-down, later additions) are not ours to judge.
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
            s_room_require (self, room)->messages++;
            self->messages++;
        }
        else
            rc = -2;
    }
    else
    if (pc_msg_is (msg, "EVENT") && topic && streq (topic, PC_TOPIC_EVENT))
        rc = s_event (self, msg);
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
        pc_buf_printf (buf, ":{\"messages\":%" PRIu64 ",\"members\":%zu}",
                       room->messages, zhashx_size (room->members));
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
                   ",\"broker_last_heard_ms\":%" PRId64 "}",
                   uptime, self->malformed, mon_stats_broker_silence (self, now_ms));
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
    assert (streq (buf.data, "{\"messages_total\":0,\"rooms\":{},\"users_online\":0,"
                   "\"online\":[],\"uptime_s\":0,\"malformed_total\":0,"
                   "\"broker_last_heard_ms\":-1}"));
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
    assert (streq (buf.data, "{\"messages_total\":12,\"rooms\":{"
                   "\"dev\":{\"messages\":2,\"members\":1},"
                   "\"lobby\":{\"messages\":10,\"members\":2}},"
                   "\"users_online\":2,\"online\":[\"alice\",\"bob\"],\"uptime_s\":2,"
                   "\"malformed_total\":0,\"broker_last_heard_ms\":2500}"));
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

    //  Many rooms: the summary names the busiest eight
    for (int i = 0; i < 20; i++) {
        char room [16], topic [24];
        snprintf (room, sizeof (room), "room%02d", i);
        snprintf (topic, sizeof (topic), "r/%s/", room);
        assert (s_feed (stats, t0, topic, "MSG", "1", room, "bob", "1", "x", NULL) == 0);
    }
    pc_buf_init (&buf);
    mon_stats_summary (stats, &buf);
    assert (streq (buf.data, "32 messages (lobby 10, dev 2, room00 1, room01 1, room02 1, "
                   "room03 1, room04 1, room05 1, 14 more rooms), 1 online"));
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

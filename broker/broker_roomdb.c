//  broker_roomdb.c: room settings and the audit log in Redis (see
//  broker_roomdb.h).
#include "broker_roomdb.h"
#include "pc_util.h"

int
broker_roomdb_audit (broker_store_t *store, const char *actor, const char *action, const char *target)
{
    char ts [24];
    snprintf (ts, sizeof (ts), "%" PRId64, pc_now_ms ());
    const char *argv [] = { "XADD", "audit", "MAXLEN", "~", "10000", "*", "ts", ts,
                            "actor", actor, "action", action, "target", target };
    redisReply *reply = pc_redis_argv (broker_store_redis (store), 14, argv, NULL);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

//  What else Redis holds of a room: its count of messages (STREAM:count, or
//  for a room older than the count, the stream's length) and whether any
//  key of the room exists. KEYS: count, stream, sequence, meta, invited.
static const char *s_known_lua =
    "local count = redis.call('GET', KEYS[1]) or redis.call('XLEN', KEYS[2]) "
    "return {tonumber(count), redis.call('EXISTS', KEYS[2], KEYS[3], KEYS[4], KEYS[5])}";

static int
s_load_known (broker_store_t *store, const char *room, const char *meta, const char *members,
              broker_roomdb_room_t *out)
{
    char count [64], stream [64], seq [64];
    snprintf (count, sizeof (count), "room:%s:count", room);
    snprintf (stream, sizeof (stream), "room:%s", room);
    snprintf (seq, sizeof (seq), "room:%s:seq", room);
    const char *eval [] = { "EVAL", s_known_lua, "5", count, stream, seq, meta, members };
    redisReply *reply = pc_redis_argv (broker_store_redis (store), 8, eval, NULL);
    if (!reply)
        return -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
    &&  reply->element [0]->type == REDIS_REPLY_INTEGER
    &&  reply->element [1]->type == REDIS_REPLY_INTEGER) {
        out->messages = reply->element [0]->integer > 0? (uint64_t) reply->element [0]->integer: 0;
        out->known = reply->element [1]->integer > 0;
    }
    freeReplyObject (reply);
    return 0;
}

int
broker_roomdb_load (broker_store_t *store, const char *room, broker_roomdb_room_t *out,
                    zlistx_t *invited)
{
    memset (out, 0, sizeof (*out));
    char meta [64], members [64];
    snprintf (meta, sizeof (meta), "roommeta:%s", room);
    snprintf (members, sizeof (members), "roominvited:%s", room);
    const char *hmget [] = { "HMGET", meta, "creator", "invite_only" };
    redisReply *reply = pc_redis_argv (broker_store_redis (store), 4, hmget, NULL);
    if (!reply)
        return -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        if (reply->element [0]->type == REDIS_REPLY_STRING)
            out->creator = strdup (reply->element [0]->str);
        out->invite_only = reply->element [1]->type == REDIS_REPLY_STRING
                        && streq (reply->element [1]->str, "1");
    }
    freeReplyObject (reply);
    const char *smembers [] = { "SMEMBERS", members };
    reply = pc_redis_argv (broker_store_redis (store), 2, smembers, NULL);
    if (!reply || s_load_known (store, room, meta, members, out) == -1) {
        if (reply)
            freeReplyObject (reply);
        zstr_free (&out->creator);
        return -1;
    }
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++)
        if (reply->element [i]->str)
            zlistx_add_end (invited, strdup (reply->element [i]->str));
    freeReplyObject (reply);
    return 0;
}

int
broker_roomdb_create (broker_store_t *store, const char *room, const char *creator,
                          bool invite_only)
{
    char meta [64];
    snprintf (meta, sizeof (meta), "roommeta:%s", room);
    const char *hsetnx [] = { "HSETNX", meta, "creator", creator };
    redisReply *reply = pc_redis_argv (broker_store_redis (store), 4, hsetnx, NULL);
    if (!reply)
        return -1;
    int rc = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1? 0: 1;
    freeReplyObject (reply);
    if (rc == 0) {
        const char *hset [] = { "HSET", meta, "invite_only", invite_only? "1": "0" };
        reply = pc_redis_argv (broker_store_redis (store), 4, hset, NULL);
        if (!reply)
            return -1;
        freeReplyObject (reply);
    }
    return rc;
}

int
broker_roomdb_invite (broker_store_t *store, const char *room, const char *user, bool add)
{
    char members [64];
    snprintf (members, sizeof (members), "roominvited:%s", room);
    const char *argv [] = { add? "SADD": "SREM", members, user };
    redisReply *reply = pc_redis_argv (broker_store_redis (store), 3, argv, NULL);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

int
broker_roomdb_set_slowmode (broker_store_t *store, const char *room, int seconds)
{
    char meta [64], value [16];
    snprintf (meta, sizeof (meta), "roommeta:%s", room);
    snprintf (value, sizeof (value), "%d", seconds);
    const char *argv [] = { "HSET", meta, "slowmode", value };
    redisReply *reply = pc_redis_argv (broker_store_redis (store), 4, argv, NULL);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

int
broker_roomdb_slowmode (broker_store_t *store, const char *room)
{
    char meta [64];
    snprintf (meta, sizeof (meta), "roommeta:%s", room);
    const char *argv [] = { "HGET", meta, "slowmode" };
    redisReply *reply = pc_redis_argv (broker_store_redis (store), 3, argv, NULL);
    if (!reply)
        return -1;
    int seconds = reply->type == REDIS_REPLY_STRING? atoi (reply->str): 0;
    freeReplyObject (reply);
    return seconds > 0? seconds: 0;
}

//  --------------------------------------------------------------------------
//  Selftest: against a real redis-server on a free port

//  Room settings and the audit log
static void
s_test_rooms (broker_store_t *store)
{
    broker_roomdb_room_t room;
    zlistx_t *invited = zlistx_new ();
    zlistx_set_destructor (invited, (czmq_destructor *) zstr_free);
    assert (broker_roomdb_load (store, "secret", &room, invited) == 0);
    assert (!room.known && !room.invite_only && room.creator == NULL && room.messages == 0);
    assert (zlistx_size (invited) == 0);
    assert (broker_roomdb_create (store, "secret", "alice", true) == 0);
    assert (broker_roomdb_create (store, "secret", "bob", false) == 1);
    assert (broker_roomdb_invite (store, "secret", "bob", true) == 0);
    assert (broker_roomdb_load (store, "secret", &room, invited) == 0);
    assert (room.known && room.invite_only && streq (room.creator, "alice"));
    assert (zlistx_size (invited) == 1 && room.messages == 0);
    zstr_free (&room.creator);
    assert (broker_roomdb_slowmode (store, "secret") == 0);
    assert (broker_roomdb_set_slowmode (store, "secret", 30) == 0);
    assert (broker_roomdb_slowmode (store, "secret") == 30);
    //  A room known by its messages alone, counted, or (older) by length
    uint64_t seq;
    int64_t ts;
    assert (broker_store_append (store, "room:talk", "bob", "c1", "one", &seq, &ts) == 0);
    assert (broker_store_append (store, "room:talk", "bob", "c2", "two", &seq, &ts) == 0);
    assert (broker_store_append (store, "room:talk", "bob", "c2", "two", &seq, &ts) == 1);
    assert (broker_roomdb_load (store, "talk", &room, invited) == 0);
    assert (room.known && !room.invite_only && !room.creator && room.messages == 2);
    redisReply *reply = pc_redis_command (broker_store_redis (store), "DEL room:talk:count");
    freeReplyObject (reply);
    assert (broker_roomdb_load (store, "talk", &room, invited) == 0);
    assert (room.known && room.messages == 2);
    zlistx_destroy (&invited);
    assert (broker_roomdb_audit (store, "root", "ban", "mallory") == 0);
}

void
broker_roomdb_test (bool verbose)
{
    printf (" * broker_roomdb: ");
    int port = 0;
    pid_t redis = pc_redis_server_start (&port);
    if (redis <= 0) {
        printf ("SKIPPED (no redis-server)\n");
        return;
    }
    broker_store_t *store = broker_store_new ("127.0.0.1", port, 5);
    s_test_rooms (store);
    broker_store_destroy (&store);
    pc_redis_server_stop (redis);
    //  Redis away: -1, not an answer
    store = broker_store_new ("127.0.0.1", port, 5);
    broker_roomdb_room_t room;
    zlistx_t *invited = zlistx_new ();
    assert (broker_roomdb_load (store, "secret", &room, invited) == -1);
    assert (broker_roomdb_audit (store, "root", "ban", "mallory") == -1);
    zlistx_destroy (&invited);
    broker_store_destroy (&store);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

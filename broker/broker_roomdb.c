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

int
broker_roomdb_load (broker_store_t *store, const char *room, bool *invite_only,
                        char **creator_p, zlistx_t *invited)
{
    *invite_only = false;
    *creator_p = NULL;
    char meta [64], members [64];
    snprintf (meta, sizeof (meta), "roommeta:%s", room);
    snprintf (members, sizeof (members), "roominvited:%s", room);
    const char *hmget [] = { "HMGET", meta, "creator", "invite_only" };
    redisReply *reply = pc_redis_argv (broker_store_redis (store), 4, hmget, NULL);
    if (!reply)
        return -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        if (reply->element [0]->type == REDIS_REPLY_STRING)
            *creator_p = strdup (reply->element [0]->str);
        *invite_only = reply->element [1]->type == REDIS_REPLY_STRING
                    && streq (reply->element [1]->str, "1");
    }
    freeReplyObject (reply);
    const char *smembers [] = { "SMEMBERS", members };
    reply = pc_redis_argv (broker_store_redis (store), 2, smembers, NULL);
    if (!reply) {
        zstr_free (creator_p);
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
    bool invite_only;
    char *creator;
    zlistx_t *invited = zlistx_new ();
    zlistx_set_destructor (invited, (czmq_destructor *) zstr_free);
    assert (broker_roomdb_load (store, "secret", &invite_only, &creator, invited) == 0);
    assert (!invite_only && creator == NULL && zlistx_size (invited) == 0);
    assert (broker_roomdb_create (store, "secret", "alice", true) == 0);
    assert (broker_roomdb_create (store, "secret", "bob", false) == 1);
    assert (broker_roomdb_invite (store, "secret", "bob", true) == 0);
    assert (broker_roomdb_load (store, "secret", &invite_only, &creator, invited) == 0);
    assert (invite_only && streq (creator, "alice") && zlistx_size (invited) == 1);
    zstr_free (&creator);
    assert (broker_roomdb_slowmode (store, "secret") == 0);
    assert (broker_roomdb_set_slowmode (store, "secret", 30) == 0);
    assert (broker_roomdb_slowmode (store, "secret") == 30);
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
    bool invite_only;
    char *creator;
    zlistx_t *invited = zlistx_new ();
    assert (broker_roomdb_load (store, "secret", &invite_only, &creator, invited) == -1);
    assert (broker_roomdb_audit (store, "root", "ban", "mallory") == -1);
    zlistx_destroy (&invited);
    broker_store_destroy (&store);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

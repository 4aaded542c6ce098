//  broker_cluster.c: several brokers on one Redis (see broker_cluster.h).
#include "broker_cluster.h"
#include "broker_chat.h"
#include "broker_marks.h"
#include "broker_moderation.h"
#include "broker_presence.h"
#include "pc_limits.h"
#include "pc_redis.h"
#include "pc_util.h"

#define CONNECT_MS          500         //  to connect the subscription connection
#define RETRY_MS            500         //  between attempts
#define REGISTER_MS         2000        //  "broker:ID" renewed
#define CATCH_UP_MAX        1000        //  messages read from a stream in one go
#define CTL_CHANNEL         "pc:ctl"

typedef enum { SUB_ROOM, SUB_USER, SUB_CTL } sub_kind_t;

//  One channel this broker listens to
typedef struct {
    sub_kind_t kind;
    char    *name;              //  room or user
    char    *stream;            //  "room:NAME", "inbox:USER"
    char    *channel;
    uint64_t last;              //  the last id delivered
    uint64_t seen;              //  the stream's counter at the previous check
    bool     confirmed;         //  Redis said it subscribed (since the last connect)
} sub_t;

struct _broker_cluster_t {
    char         *id;
    char         *endpoint;
    char         *host;
    int           port;
    redisContext *sub;          //  the subscription connection, NULL while down
    zhashx_t     *subs;         //  channel -> sub_t
    int64_t       next_connect, next_register, next_check;
    bool          down_logged;
    bool          registered;   //  once: the predecessor's members forgotten
    uint64_t      delivered, caught_up, lost_found;
};

static void
s_sub_destroy (sub_t **self_p)
{
    if (*self_p) {
        sub_t *self = *self_p;
        free (self->name);
        free (self->stream);
        free (self->channel);
        free (self);
        *self_p = NULL;
    }
}

broker_cluster_t *
broker_cluster_new (const char *id, const char *endpoint, const char *redis_host, int redis_port)
{
    broker_cluster_t *self = (broker_cluster_t *) zmalloc (sizeof (broker_cluster_t));
    assert (self);
    self->id = strdup (id);
    self->endpoint = strdup (endpoint);
    self->host = strdup (redis_host);
    self->port = redis_port;
    self->subs = zhashx_new ();
    zhashx_set_destructor (self->subs, (zhashx_destructor_fn *) s_sub_destroy);
    sub_t *ctl = (sub_t *) zmalloc (sizeof (sub_t));
    ctl->kind = SUB_CTL;
    ctl->name = strdup ("");
    ctl->stream = strdup ("");
    ctl->channel = strdup (CTL_CHANNEL);
    zhashx_insert (self->subs, CTL_CHANNEL, ctl);
    return self;
}

void
broker_cluster_destroy (broker_cluster_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        broker_cluster_t *self = *self_p;
        if (self->sub)
            redisFree (self->sub);
        zhashx_destroy (&self->subs);
        free (self->id);
        free (self->endpoint);
        free (self->host);
        free (self);
        *self_p = NULL;
    }
}

const char *
broker_cluster_id (broker_cluster_t *self)
{
    return self->id;
}

int
broker_cluster_fd (broker_cluster_t *self)
{
    return self->sub? self->sub->fd: -1;
}

//  --------------------------------------------------------------------------
//  The subscription connection

static void
s_drop (broker_cluster_t *self, const char *why)
{
    if (self->sub) {
        zsys_warning ("broker: cluster: subscription connection lost (%s): reconnecting, "
                      "then reading each stream from its last id", why);
        redisFree (self->sub);
        self->sub = NULL;
    }
    for (sub_t *sub = (sub_t *) zhashx_first (self->subs); sub;
         sub = (sub_t *) zhashx_next (self->subs))
        sub->confirmed = false;
    self->next_connect = pc_now_ms () + RETRY_MS;
}

//  Sends SUBSCRIBE (or UNSUBSCRIBE) for channel; the answer comes in
//  broker_cluster_handle
static void
s_send (broker_cluster_t *self, const char *verb, const char *channel)
{
    if (!self->sub)
        return;
    const char *argv [] = { verb, channel };
    int done = 0;
    if (redisAppendCommandArgv (self->sub, 2, argv, NULL) != REDIS_OK)
        s_drop (self, "out of memory");
    else
    while (self->sub && !done)
        if (redisBufferWrite (self->sub, &done) != REDIS_OK)
            s_drop (self, self->sub->errstr);
}

static void
s_connect (broker_t *broker)
{
    broker_cluster_t *self = broker->cluster;
    struct timeval timeout = { CONNECT_MS / 1000, (CONNECT_MS % 1000) * 1000 };
    //  Where the store's connection finds Redis (the sentinels' primary)
    char host [256];
    int port;
    if (pc_redis_address (broker_store_redis (broker->store), host, sizeof (host), &port)) {
        free (self->host);
        self->host = strdup (host);
        self->port = port;
    }
    redisContext *sub = pc_redis_connect (self->host, self->port, timeout);
    char where [300];
    pc_redis_where (self->host, self->port, where, sizeof (where));
    if (!sub || sub->err) {
        if (!self->down_logged)
            zsys_warning ("broker: cluster: cannot subscribe on redis %s (%s): retrying",
                          where, sub? sub->errstr: "out of memory");
        self->down_logged = true;
        if (sub)
            redisFree (sub);
        self->next_connect = pc_now_ms () + RETRY_MS;
        return;
    }
    if (sub->connection_type == REDIS_CONN_TCP)
        redisEnableKeepAlive (sub);
    self->sub = sub;
    if (self->down_logged)
        zsys_info ("broker: cluster: subscribed on redis %s again", where);
    self->down_logged = false;
    for (sub_t *each = (sub_t *) zhashx_first (self->subs); each;
         each = (sub_t *) zhashx_next (self->subs))
        s_send (self, "SUBSCRIBE", each->channel);
}

//  --------------------------------------------------------------------------
//  Delivery, in id order

//  Delivers one stored message of sub's stream (to local sessions only)
static void
s_deliver (broker_t *broker, sub_t *sub, uint64_t seq, int64_t ts, const char *from,
           const char *text)
{
    broker_cluster_t *self = broker->cluster;
    sub->last = seq;
    self->delivered++;
    broker_store_delivered (broker->store, sub->stream, seq);
    if (sub->kind == SUB_ROOM) {
        broker_room_t *room = (broker_room_t *) zhashx_lookup (broker->rooms, sub->name);
        if (room)
            broker_chat_deliver (broker, room, seq, ts, from, text);
    }
    else
        broker_chat_deliver_dm (broker, sub->name, seq, ts, from, text);
}

//  Reads sub's stream after its last id, up to (not including) before
//  (0: all there is), and delivers it. False: Redis cannot be read now.
static bool
s_catch_up (broker_t *broker, sub_t *sub, uint64_t before)
{
    broker_cluster_t *self = broker->cluster;
    while (!before || sub->last + 1 < before) {
        zlistx_t *records = broker_store_records_new ();
        if (broker_store_history (broker->store, sub->stream, sub->last? sub->last: BROKER_FROM_START,
                                  CATCH_UP_MAX, records) == -1) {
            zlistx_destroy (&records);
            return false;
        }
        size_t count = 0;
        for (broker_record_t *record = (broker_record_t *) zlistx_first (records); record;
             record = (broker_record_t *) zlistx_next (records)) {
            if (before && record->seq >= before)
                break;
            if (record->seq <= sub->last)
                continue;
            s_deliver (broker, sub, record->seq, record->ts, record->from, record->text);
            self->caught_up++;
            count++;
        }
        zlistx_destroy (&records);
        if (count < CATCH_UP_MAX)
            break;
    }
    //  What the stream no longer has (trimmed) is skipped: readers see
    //  the jump in ids and ask for history, which says what is gone
    if (before && sub->last + 1 < before)
        sub->last = before - 1;
    return true;
}

//  "SEQ TS FROM TEXT" on sub's channel
static void
s_on_message (broker_t *broker, sub_t *sub, const char *payload, size_t size)
{
    unsigned long long seq;
    long long ts;
    int at = 0;
    char from [2 * PC_NAME_MAX + 2];        //  "FROM>TO" for a sender's copy of a DM
    if (sscanf (payload, "%llu %lld %65s %n", &seq, &ts, from, &at) != 3 || at <= 0
    ||  (size_t) at > size) {
        zsys_warning ("broker: cluster: malformed message on %s", sub->channel);
        return;
    }
    if (seq <= sub->last)
        return;                 //  read from the stream already
    if (seq > sub->last + 1) {
        broker->cluster->lost_found++;
        s_catch_up (broker, sub, seq);
    }
    s_deliver (broker, sub, seq, ts, from, payload + at);
}

//  "ID\nCOMMAND\nA\nB\nC" on the control channel
static void
s_on_control (broker_t *broker, char *payload)
{
    char *fields [5] = { NULL };
    char *rest = payload;
    for (int i = 0; i < 5 && rest; i++)
        fields [i] = strsep (&rest, "\n");
    if (!fields [2] || streq (fields [0], broker->cluster->id))
        return;                 //  our own, done already
    const char *command = fields [1], *a = fields [2], *b = fields [3], *c = fields [4];
    if (streq (command, "drop") && b && c)
        broker_moderation_drop_here (broker, a, b, c);
    else
    if (streq (command, "kick") && b && c) {
        broker_room_t *room = (broker_room_t *) zhashx_lookup (broker->rooms, a);
        if (room)
            broker_moderation_kick_here (broker, room, b, c);
    }
    else
    if (streq (command, "room"))
        broker_ctx_room_reload (broker, a);
    else
    if (streq (command, "presence") || streq (command, "typing"))
        broker_presence_control (broker, command, a, b, c);
    else
        broker_marks_control (broker, command, a, b, c);
}

//  A reply on the subscription connection
static void
s_on_reply (broker_t *broker, redisReply *reply)
{
    broker_cluster_t *self = broker->cluster;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
    ||  reply->element [0]->type != REDIS_REPLY_STRING
    ||  reply->element [1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = reply->element [0]->str;
    sub_t *sub = (sub_t *) zhashx_lookup (self->subs, reply->element [1]->str);
    if (!sub)
        return;                 //  unsubscribed since
    if (streq (kind, "subscribe")) {
        //  From now on the channel has everything: what came before it is
        //  in the stream
        sub->confirmed = true;
        if (sub->kind != SUB_CTL)
            s_catch_up (broker, sub, 0);
    }
    else
    if (streq (kind, "message") && reply->element [2]->type == REDIS_REPLY_STRING) {
        if (sub->kind == SUB_CTL)
            s_on_control (broker, reply->element [2]->str);
        else
            s_on_message (broker, sub, reply->element [2]->str, reply->element [2]->len);
    }
}

void
broker_cluster_handle (broker_t *broker)
{
    broker_cluster_t *self = broker->cluster;
    if (!self->sub)
        return;
    if (redisBufferRead (self->sub) != REDIS_OK) {
        s_drop (self, self->sub->errstr);
        return;
    }
    void *reply = NULL;
    while (self->sub && redisGetReplyFromReader (self->sub, &reply) == REDIS_OK && reply) {
        s_on_reply (broker, (redisReply *) reply);
        freeReplyObject (reply);
        reply = NULL;
    }
    if (self->sub && self->sub->err)
        s_drop (self, self->sub->errstr);
    broker_fanout_flush (broker->fanout);
}

//  --------------------------------------------------------------------------
//  Watching streams

//  Starts listening to the stream of a room or a user's inbox, unless this
//  broker does already. Live delivery starts after the stream's last id
//  now: a session that joins a room or logs in reads what came before
//  itself (HISTORY, INBOX).
static void
s_watch (broker_t *broker, sub_kind_t kind, const char *name)
{
    broker_cluster_t *self = broker->cluster;
    char stream [PC_NAME_MAX + 16], channel [PC_NAME_MAX + 32];
    snprintf (stream, sizeof (stream), "%s:%s", kind == SUB_ROOM? "room": "inbox", name);
    broker_store_channel (stream, channel, sizeof (channel));
    if (zhashx_lookup (self->subs, channel))
        return;
    uint64_t last = 0;
    zlistx_t *records = broker_store_records_new ();
    if (broker_store_history (broker->store, stream, 0, 1, records) == 0 && zlistx_first (records))
        last = ((broker_record_t *) zlistx_first (records))->seq;
    zlistx_destroy (&records);
    sub_t *sub = (sub_t *) zmalloc (sizeof (sub_t));
    sub->kind = kind;
    sub->name = strdup (name);
    sub->stream = strdup (stream);
    sub->channel = strdup (channel);
    sub->last = last;
    zhashx_insert (self->subs, channel, sub);
    s_send (self, "SUBSCRIBE", channel);
}

void
broker_cluster_watch_room (broker_t *broker, const char *room)
{
    s_watch (broker, SUB_ROOM, room);
}

void
broker_cluster_watch_user (broker_t *broker, const char *user)
{
    s_watch (broker, SUB_USER, user);
}

//  Whether anyone here still needs sub
static bool
s_needed (broker_t *broker, sub_t *sub)
{
    if (sub->kind == SUB_CTL)
        return true;
    if (sub->kind == SUB_ROOM) {
        broker_room_t *room = (broker_room_t *) zhashx_lookup (broker->rooms, sub->name);
        return room && broker_room_first_session (room);
    }
    for (broker_session_t *session = (broker_session_t *) zhashx_first (broker->sessions); session;
         session = (broker_session_t *) zhashx_next (broker->sessions))
        if (broker_session_user (session) && streq (broker_session_user (session), sub->name))
            return true;
    return false;
}

//  Reads the counters of the subscribed streams: a stream whose counter
//  was past the last id delivered already at the previous check lost a
//  publish (or it is still on its way, then it is skipped when it comes)
static void
s_check_counters (broker_t *broker)
{
    broker_cluster_t *self = broker->cluster;
    redisContext *redis = pc_redis_context (broker_store_redis (broker->store));
    if (!redis)
        return;
    zlistx_t *checked = zlistx_new ();
    for (sub_t *sub = (sub_t *) zhashx_first (self->subs); sub;
         sub = (sub_t *) zhashx_next (self->subs))
        if (sub->kind != SUB_CTL && sub->confirmed) {
            redisAppendCommand (redis, "GET %s:seq", sub->stream);
            zlistx_add_end (checked, sub);
        }
    for (sub_t *sub = (sub_t *) zlistx_first (checked); sub; sub = (sub_t *) zlistx_next (checked)) {
        redisReply *reply = NULL;
        if (redisGetReply (redis, (void **) &reply) != REDIS_OK || !reply) {
            pc_redis_drop (broker_store_redis (broker->store), "no reply to a counter check");
            break;
        }
        uint64_t counter = reply->type == REDIS_REPLY_STRING? strtoull (reply->str, NULL, 10): 0;
        freeReplyObject (reply);
        if (sub->seen > sub->last) {
            zsys_warning ("broker: cluster: %s: ids %" PRIu64 "-%" PRIu64 " never came by pub/sub: "
                          "read from the stream", sub->stream, sub->last + 1, sub->seen);
            self->lost_found++;
            s_catch_up (broker, sub, sub->seen + 1);
        }
        sub->seen = counter;
    }
    zlistx_destroy (&checked);
    broker_fanout_flush (broker->fanout);
}

//  A broker that starts again under its id forgets who its predecessor
//  had in which room, and which users ("online:ID", broker_presence): a
//  kill -9 left them there
static bool
s_forget_members (broker_t *broker)
{
    broker_cluster_t *self = broker->cluster;
    pc_redis_t *redis = broker_store_redis (broker->store);
    char cursor [32] = "0";
    redisReply *online = pc_redis_command (redis, "DEL online:%s", self->id);   //  broker_presence
    if (!online)
        return false;
    freeReplyObject (online);
    do {
        redisReply *reply = pc_redis_command (redis, "SCAN %s MATCH members:*:%s COUNT 1000",
                                              cursor, self->id);
        if (!reply)
            return false;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        ||  reply->element [0]->type != REDIS_REPLY_STRING
        ||  reply->element [1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject (reply);
            return false;
        }
        snprintf (cursor, sizeof (cursor), "%s", reply->element [0]->str);
        redisReply *keys = reply->element [1];
        for (size_t i = 0; i < keys->elements; i++)
            if (keys->element [i]->type == REDIS_REPLY_STRING) {
                redisReply *done = pc_redis_command (redis, "DEL %s", keys->element [i]->str);
                if (done)
                    freeReplyObject (done);
            }
        freeReplyObject (reply);
    } while (!streq (cursor, "0"));
    return true;
}

static void
s_register (broker_t *broker)
{
    broker_cluster_t *self = broker->cluster;
    pc_redis_t *redis = broker_store_redis (broker->store);
    if (!self->registered && !s_forget_members (broker))
        return;
    self->registered = true;
    redisReply *reply = pc_redis_command (redis, "SET broker:%s %s EX %d", self->id, self->endpoint,
                                          BROKER_CLUSTER_TTL_S);
    if (reply)
        freeReplyObject (reply);
    reply = pc_redis_command (redis, "SADD brokers %s", self->id);
    if (reply)
        freeReplyObject (reply);
}

void
broker_cluster_tick (broker_t *broker, int64_t now)
{
    broker_cluster_t *self = broker->cluster;
    if (!self->sub && now >= self->next_connect)
        s_connect (broker);
    if (now >= self->next_register) {
        s_register (broker);
        self->next_register = now + REGISTER_MS;
    }
    if (now >= self->next_check) {
        //  Channels nobody here needs any more
        zlistx_t *unneeded = zlistx_new ();
        for (sub_t *sub = (sub_t *) zhashx_first (self->subs); sub;
             sub = (sub_t *) zhashx_next (self->subs))
            if (!s_needed (broker, sub))
                zlistx_add_end (unneeded, sub->channel);
        for (char *channel = (char *) zlistx_first (unneeded); channel;
             channel = (char *) zlistx_next (unneeded)) {
            s_send (self, "UNSUBSCRIBE", channel);
            zhashx_delete (self->subs, channel);
        }
        zlistx_destroy (&unneeded);
        s_check_counters (broker);
        self->next_check = now + BROKER_CLUSTER_CHECK_MS;
    }
}

//  --------------------------------------------------------------------------
//  Membership, rooms and brokers in Redis

void
broker_cluster_member (broker_t *broker, const char *room, const char *user, bool in)
{
    redisReply *reply = pc_redis_command (broker_store_redis (broker->store), "%s members:%s:%s %s",
                                          in? "SADD": "SREM", room, broker->cluster->id, user);
    if (reply)
        freeReplyObject (reply);
}

//  The live brokers, "ID ENDPOINT" each (sorted), or NULL: two reads, the
//  set and one MGET of every broker's key, whatever the number of brokers
static zlistx_t *
s_live_ids (broker_t *broker)
{
    pc_redis_t *redis = broker_store_redis (broker->store);
    redisReply *set = pc_redis_command (redis, "SMEMBERS brokers");
    if (!set)
        return NULL;
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, (czmq_destructor *) zstr_free);
    for (size_t i = 0; set->type == REDIS_REPLY_ARRAY && i < set->elements; i++)
        if (set->element [i]->type == REDIS_REPLY_STRING)
            zlistx_add_end (ids, strdup (set->element [i]->str));
    freeReplyObject (set);
    zlistx_t *live = zlistx_new ();
    zlistx_set_destructor (live, (czmq_destructor *) zstr_free);
    redisReply *endpoints = pc_redis_keys (redis, "MGET", "broker:", ids);
    size_t i = 0;
    for (const char *id = (const char *) zlistx_first (ids); id && endpoints
         && endpoints->type == REDIS_REPLY_ARRAY && i < endpoints->elements;
         id = (const char *) zlistx_next (ids), i++)
        if (endpoints->element [i]->type == REDIS_REPLY_STRING)
            zlistx_add_end (live, zsys_sprintf ("%s %s", id, endpoints->element [i]->str));
    if (zlistx_size (ids) && !endpoints)
        zlistx_destroy (&live);
    if (endpoints)
        freeReplyObject (endpoints);
    zlistx_destroy (&ids);
    if (live)
        pc_list_sort (live, (czmq_comparator *) strcmp);
    return live;
}

zlistx_t *
broker_cluster_brokers (broker_t *broker)
{
    return s_live_ids (broker);
}

zlistx_t *
broker_cluster_members (broker_t *broker, const char *room, zlistx_t *live)
{
    zlistx_t *read_now = live? NULL: s_live_ids (broker);
    if (!live)
        live = read_now;
    if (!live)
        return NULL;
    //  SUNION of the live brokers' sets: a dead broker's members do not count
    char prefix [PC_NAME_MAX + 16];
    snprintf (prefix, sizeof (prefix), "members:%s:", room);
    redisReply *reply = pc_redis_keys (broker_store_redis (broker->store), "SUNION", prefix, live);
    zlistx_t *members = NULL;
    if (reply || zlistx_size (live) == 0) {
        members = zlistx_new ();
        zlistx_set_destructor (members, (czmq_destructor *) zstr_free);
        zlistx_set_duplicator (members, (czmq_duplicator *) strdup);
        zlistx_set_comparator (members, (czmq_comparator *) strcmp);
        for (size_t i = 0; reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++)
            if (reply->element [i]->type == REDIS_REPLY_STRING)
                zlistx_add_end (members, reply->element [i]->str);
        pc_list_sort (members, (czmq_comparator *) strcmp);
    }
    if (reply)
        freeReplyObject (reply);
    zlistx_destroy (&read_now);
    return members;
}

void
broker_cluster_room_made (broker_t *broker, const char *room)
{
    redisReply *reply = pc_redis_command (broker_store_redis (broker->store), "SADD rooms %s", room);
    if (reply)
        freeReplyObject (reply);
}

zlistx_t *
broker_cluster_rooms (broker_t *broker)
{
    redisReply *reply = pc_redis_command (broker_store_redis (broker->store), "SMEMBERS rooms");
    if (!reply)
        return NULL;
    zlistx_t *rooms = zlistx_new ();
    zlistx_set_destructor (rooms, (czmq_destructor *) zstr_free);
    zlistx_set_duplicator (rooms, (czmq_duplicator *) strdup);
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++)
        if (reply->element [i]->type == REDIS_REPLY_STRING && pc_name_valid (reply->element [i]->str))
            zlistx_add_end (rooms, reply->element [i]->str);
    freeReplyObject (reply);
    return rooms;
}

void
broker_cluster_leave (broker_t *broker)
{
    pc_redis_t *redis = broker_store_redis (broker->store);
    if (!pc_redis_available (redis))
        return;
    redisReply *reply = pc_redis_command (redis, "DEL broker:%s", broker->cluster->id);
    if (reply)
        freeReplyObject (reply);
    reply = pc_redis_command (redis, "SREM brokers %s", broker->cluster->id);
    if (reply)
        freeReplyObject (reply);
    s_forget_members (broker);
}

void
broker_cluster_control (broker_t *broker, const char *command, const char *a, const char *b,
                        const char *c)
{
    char *payload = zsys_sprintf ("%s\n%s\n%s\n%s\n%s", broker->cluster->id, command, a,
                                  b? b: "", c? c: "");
    redisReply *reply = pc_redis_command (broker_store_redis (broker->store), "PUBLISH %s %s",
                                          CTL_CHANNEL, payload);
    if (reply)
        freeReplyObject (reply);
    zstr_free (&payload);
}

void
broker_cluster_test (bool verbose)
{
    printf (" * broker_cluster: ");
    //  The module's behaviour needs several brokers on a real Redis: the
    //  black-box tests run that (tests/wire/test_cluster.py). Here: the
    //  object's life and its bookkeeping of channels.
    broker_cluster_t *self = broker_cluster_new ("b1", "tcp://127.0.0.1:1", "127.0.0.1", 1);
    assert (streq (broker_cluster_id (self), "b1"));
    assert (broker_cluster_fd (self) == -1);
    assert (zhashx_size (self->subs) == 1 && zhashx_lookup (self->subs, CTL_CHANNEL));
    char channel [64];
    broker_store_channel ("room:lobby", channel, sizeof (channel));
    assert (streq (channel, "pc:room:lobby"));
    broker_cluster_destroy (&self);
    assert (self == NULL);
    printf ("OK\n");
}

//  broker_store.c: room history in Redis streams, with an outage journal.
#include "broker_store.h"
#include "pc_util.h"

#include <hiredis.h>

#define DEDUP_TTL_S         600         //  a resend is recognised for 10 minutes
#define JOURNAL_MAX         100000      //  messages kept while Redis is down
#define RETRY_MS            500         //  between reconnection attempts

//  KEYS: stream, sequence, dedup; ARGV: from, ts, text, maxlen, ttl, floor
static const char *s_append_lua =
    "local d = redis.call('GET', KEYS[3]) "
    "if d then return {0, d} end "
    "local cur = tonumber(redis.call('GET', KEYS[2]) or '0') "
    "if cur < tonumber(ARGV[6]) then redis.call('SET', KEYS[2], ARGV[6]) end "
    "local seq = redis.call('INCR', KEYS[2]) "
    "redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], seq .. '-0', "
    "           'from', ARGV[1], 'ts', ARGV[2], 'text', ARGV[3]) "
    "local v = seq .. ' ' .. ARGV[2] "
    "redis.call('SET', KEYS[3], v, 'EX', ARGV[5]) "
    "return {1, v}";

//  The journal's replay: the sequence was chosen while Redis was away.
//  KEYS: stream, sequence, dedup; ARGV: from, ts, text, maxlen, ttl, seq
static const char *s_replay_lua =
    "local seq = tonumber(ARGV[6]) "
    "local cur = tonumber(redis.call('GET', KEYS[2]) or '0') "
    "if cur < seq then redis.call('SET', KEYS[2], seq) end "
    "pcall(redis.call, 'XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], seq .. '-0', "
    "      'from', ARGV[1], 'ts', ARGV[2], 'text', ARGV[3]) "
    "redis.call('SET', KEYS[3], seq .. ' ' .. ARGV[2], 'EX', ARGV[5]) "
    "return 1";

typedef struct {
    char    *room;
    char    *from;
    char    *cmid;
    char    *text;
    uint64_t seq;
    int64_t  ts;
} journal_entry_t;

struct _broker_store_t {
    char         *host;
    int           port;
    size_t        history_max;
    redisContext *redis;
    int64_t       next_attempt;
    bool          was_down;
    zhashx_t     *last_seq;         //  stream -> last sequence known + 1 (0: unknown)
    zlistx_t     *journal;          //  journal_entry_t, oldest first
    char          append_sha [48];  //  SCRIPT LOAD of s_append_lua, "" if unknown
};

static void
s_entry_destroy (journal_entry_t **self_p)
{
    if (*self_p) {
        journal_entry_t *self = *self_p;
        zstr_free (&self->room);
        zstr_free (&self->from);
        zstr_free (&self->cmid);
        zstr_free (&self->text);
        free (self);
        *self_p = NULL;
    }
}

static void
s_record_destroy (broker_record_t **self_p)
{
    if (*self_p) {
        broker_record_t *self = *self_p;
        zstr_free (&self->from);
        zstr_free (&self->text);
        free (self);
        *self_p = NULL;
    }
}

zlistx_t *
broker_store_records_new (void)
{
    zlistx_t *list = zlistx_new ();
    zlistx_set_destructor (list, (czmq_destructor *) s_record_destroy);
    return list;
}

broker_store_t *
broker_store_new (const char *host, int port, size_t history_max)
{
    broker_store_t *self = (broker_store_t *) zmalloc (sizeof (broker_store_t));
    assert (self);
    self->host = strdup (host);
    self->port = port;
    self->history_max = history_max? history_max: 10000;
    self->last_seq = zhashx_new ();
    self->journal = zlistx_new ();
    zlistx_set_destructor (self->journal, (czmq_destructor *) s_entry_destroy);
    return self;
}

void
broker_store_destroy (broker_store_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        broker_store_t *self = *self_p;
        if (zlistx_size (self->journal))
            zsys_error ("broker: %zu message(s) never reached Redis", zlistx_size (self->journal));
        if (self->redis)
            redisFree (self->redis);
        zhashx_destroy (&self->last_seq);
        zlistx_destroy (&self->journal);
        zstr_free (&self->host);
        free (self);
        *self_p = NULL;
    }
}

static void
s_disconnect (broker_store_t *self, const char *why)
{
    if (!self->was_down)
        zsys_error ("broker: redis %s:%d unavailable: %s", self->host, self->port, why);
    self->was_down = true;
    if (self->redis) {
        redisFree (self->redis);
        self->redis = NULL;
    }
    self->next_attempt = pc_now_ms () + RETRY_MS;
}

//  Connects when needed, at most every RETRY_MS. True when connected.
static bool
s_connected (broker_store_t *self)
{
    if (self->redis)
        return true;
    if (pc_now_ms () < self->next_attempt)
        return false;
    struct timeval timeout = { 0, 500000 };
    self->redis = redisConnectWithTimeout (self->host, self->port, timeout);
    if (!self->redis || self->redis->err) {
        s_disconnect (self, self->redis? self->redis->errstr: "out of memory");
        return false;
    }
    struct timeval command_timeout = { 2, 0 };
    redisSetTimeout (self->redis, command_timeout);
    //  The append script by its SHA1: a batch then sends 40 bytes per
    //  message instead of the whole script (and Redis does not hash it)
    self->append_sha [0] = 0;
    redisReply *loaded = (redisReply *) redisCommand (self->redis, "SCRIPT LOAD %s", s_append_lua);
    if (loaded && loaded->type == REDIS_REPLY_STRING && loaded->len < sizeof (self->append_sha))
        snprintf (self->append_sha, sizeof (self->append_sha), "%s", loaded->str);
    if (loaded)
        freeReplyObject (loaded);
    if (self->was_down)
        zsys_info ("broker: redis %s:%d is back", self->host, self->port);
    self->was_down = false;
    return true;
}

//  Runs a command; NULL (and disconnects) when Redis failed.
static redisReply *
s_command (broker_store_t *self, int argc, const char **argv)
{
    if (!s_connected (self))
        return NULL;
    redisReply *reply = (redisReply *) redisCommandArgv (self->redis, argc, argv, NULL);
    if (!reply) {
        s_disconnect (self, self->redis->errstr);
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        //  LOADING, MISCONF, OOM: Redis is up but cannot take writes
        s_disconnect (self, reply->str);
        freeReplyObject (reply);
        return NULL;
    }
    return reply;
}

//  The last sequence of a stream as far as this broker knows; false when it
//  has never learnt it (then it cannot number messages while Redis is away).
static bool
s_known_seq (broker_store_t *self, const char *room, uint64_t *seq)
{
    uintptr_t value = (uintptr_t) zhashx_lookup (self->last_seq, room);
    *seq = value? value - 1: 0;
    return value != 0;
}

static void
s_set_known_seq (broker_store_t *self, const char *room, uint64_t seq)
{
    uint64_t known;
    if (!s_known_seq (self, room, &known) || seq > known)
        zhashx_update (self->last_seq, room, (void *) (uintptr_t) (seq + 1));
}

static int
s_eval (broker_store_t *self, const char *script, const char *room, const char *from,
        const char *cmid, int64_t ts, const char *text, uint64_t seq_arg,
        uint64_t *seq, int64_t *stored_ts)
{
    char seqkey [80], dedup [200], ts_txt [24], maxlen [24], ttl [16], seq_txt [24];
    const char *stream = room;
    snprintf (seqkey, sizeof (seqkey), "%s:seq", stream);
    snprintf (dedup, sizeof (dedup), "sent:%s:%s:%s", from, stream, cmid);
    snprintf (ts_txt, sizeof (ts_txt), "%" PRId64, ts);
    snprintf (maxlen, sizeof (maxlen), "%zu", self->history_max);
    snprintf (ttl, sizeof (ttl), "%d", DEDUP_TTL_S);
    snprintf (seq_txt, sizeof (seq_txt), "%" PRIu64, seq_arg);
    const char *argv [] = { "EVAL", script, "3", stream, seqkey, dedup,
                            from, ts_txt, text, maxlen, ttl, seq_txt };
    redisReply *reply = s_command (self, 12, argv);
    if (!reply)
        return -1;
    int rc = -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
    &&  reply->element [1]->type == REDIS_REPLY_STRING) {
        unsigned long long got_seq;
        long long got_ts;
        if (sscanf (reply->element [1]->str, "%llu %lld", &got_seq, &got_ts) == 2) {
            *seq = got_seq;
            *stored_ts = got_ts;
            rc = reply->element [0]->integer == 1? 0: 1;
        }
    }
    else
    if (reply->type == REDIS_REPLY_INTEGER)
        rc = 0;                                 //  replay
    freeReplyObject (reply);
    return rc;
}

size_t
broker_store_flush (broker_store_t *self)
{
    while (zlistx_size (self->journal)) {
        journal_entry_t *entry = (journal_entry_t *) zlistx_first (self->journal);
        uint64_t seq;
        int64_t ts;
        if (s_eval (self, s_replay_lua, entry->room, entry->from, entry->cmid, entry->ts,
                    entry->text, entry->seq, &seq, &ts) == -1)
            break;
        zlistx_delete (self->journal, zlistx_cursor (self->journal));
        if (zlistx_size (self->journal) == 0)
            zsys_info ("broker: journal written to redis");
    }
    return zlistx_size (self->journal);
}

int
broker_store_append (broker_store_t *self, const char *room, const char *from,
                     const char *cmid, const char *text, uint64_t *seq, int64_t *ts)
{
    int64_t now = pc_now_ms ();
    if (broker_store_flush (self) == 0) {
        uint64_t floor;
        s_known_seq (self, room, &floor);
        int rc = s_eval (self, s_append_lua, room, from, cmid, now, text, floor, seq, ts);
        if (rc >= 0) {
            s_set_known_seq (self, room, *seq);
            return rc;
        }
    }
    //  Redis is away: journal it, if we know where the room's sequence is
    uint64_t known;
    if (!s_known_seq (self, room, &known) || zlistx_size (self->journal) >= JOURNAL_MAX)
        return -1;
    journal_entry_t *entry = (journal_entry_t *) zmalloc (sizeof (journal_entry_t));
    assert (entry);
    entry->room = strdup (room);
    entry->from = strdup (from);
    entry->cmid = strdup (cmid);
    entry->text = strdup (text);
    entry->seq = known + 1;
    entry->ts = now;
    zlistx_add_end (self->journal, entry);
    s_set_known_seq (self, room, entry->seq);
    *seq = entry->seq;
    *ts = now;
    return 0;
}

//  Builds the EVAL argv of an append into argv (12 entries) and buffers.
typedef struct {
    char seqkey [80], dedup [200], ts [24], maxlen [24], ttl [16], floor [24];
} append_args_t;

static void
s_append_args (broker_store_t *self, broker_append_t *item, int64_t now, append_args_t *args,
               const char **argv)
{
    snprintf (args->seqkey, sizeof (args->seqkey), "%s:seq", item->stream);
    snprintf (args->dedup, sizeof (args->dedup), "sent:%s:%s:%s", item->from, item->stream, item->cmid);
    snprintf (args->ts, sizeof (args->ts), "%" PRId64, now);
    snprintf (args->maxlen, sizeof (args->maxlen), "%zu", self->history_max);
    snprintf (args->ttl, sizeof (args->ttl), "%d", DEDUP_TTL_S);
    uint64_t floor;
    s_known_seq (self, item->stream, &floor);
    snprintf (args->floor, sizeof (args->floor), "%" PRIu64, floor);
    bool by_sha = *self->append_sha != 0;
    const char *values [] = { by_sha? "EVALSHA": "EVAL", by_sha? self->append_sha: s_append_lua,
                              "3", item->stream, args->seqkey, args->dedup,
                              item->from, args->ts, item->text, args->maxlen, args->ttl, args->floor };
    memcpy (argv, values, sizeof (values));
}

void
broker_store_append_many (broker_store_t *self, broker_append_t *items, size_t count)
{
    size_t done = 0;
    if (count > 0 && broker_store_flush (self) == 0 && s_connected (self)) {
        int64_t now = pc_now_ms ();
        append_args_t *args = (append_args_t *) malloc (count * sizeof (append_args_t));
        assert (args);
        bool sent = true;
        for (size_t i = 0; i < count && sent; i++) {
            const char *argv [12];
            s_append_args (self, &items [i], now, &args [i], argv);
            sent = redisAppendCommandArgv (self->redis, 12, argv, NULL) == REDIS_OK;
        }
        free (args);
        //  Read the replies in order; a failure leaves the rest to the
        //  one-by-one path below (which journals them if Redis is gone).
        for (; sent && done < count; done++) {
            redisReply *reply = NULL;
            if (redisGetReply (self->redis, (void **) &reply) != REDIS_OK || !reply) {
                s_disconnect (self, self->redis->errstr);
                break;
            }
            broker_append_t *item = &items [done];
            item->rc = -1;
            unsigned long long seq;
            long long ts;
            if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
            &&  reply->element [1]->type == REDIS_REPLY_STRING
            &&  sscanf (reply->element [1]->str, "%llu %lld", &seq, &ts) == 2) {
                item->seq = seq;
                item->ts = ts;
                item->rc = reply->element [0]->integer == 1? 0: 1;
                s_set_known_seq (self, item->stream, seq);
            }
            freeReplyObject (reply);
            if (item->rc == -1) {
                s_disconnect (self, "unexpected reply to an append");
                done++;
                break;
            }
        }
    }
    for (; done < count; done++) {
        broker_append_t *item = &items [done];
        item->rc = broker_store_append (self, item->stream, item->from, item->cmid, item->text,
                                        &item->seq, &item->ts);
    }
}

static broker_record_t *
s_record_from_entry (redisReply *entry)
{
    //  [ "SEQ-0", [ field, value, ... ] ]
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2
    ||  entry->element [0]->type != REDIS_REPLY_STRING
    ||  entry->element [1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    broker_record_t *record = (broker_record_t *) zmalloc (sizeof (broker_record_t));
    assert (record);
    record->seq = strtoull (entry->element [0]->str, NULL, 10);
    redisReply *fields = entry->element [1];
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const char *name = fields->element [i]->str;
        const char *value = fields->element [i + 1]->str;
        if (!name || !value)
            continue;
        if (streq (name, "from") && !record->from)
            record->from = strdup (value);
        else
        if (streq (name, "text") && !record->text)
            record->text = strdup (value);
        else
        if (streq (name, "ts"))
            record->ts = strtoll (value, NULL, 10);
    }
    if (!record->from || !record->text)
        s_record_destroy (&record);
    return record;
}

int
broker_store_history (broker_store_t *self, const char *room, uint64_t since,
                      size_t limit, zlistx_t *records)
{
    broker_store_flush (self);
    char start [32], count [24];
    const char *stream = room;
    snprintf (count, sizeof (count), "%zu", limit);
    redisReply *reply;
    bool forward = since > 0;           //  oldest first; else XREVRANGE
    if (since == BROKER_FROM_START) {
        const char *argv [] = { "XRANGE", stream, "-", "+", "COUNT", count };
        reply = s_command (self, 6, argv);
        since = 0;
    }
    else
    if (since > 0) {
        snprintf (start, sizeof (start), "(%" PRIu64 "-0", since);
        const char *argv [] = { "XRANGE", stream, start, "+", "COUNT", count };
        reply = s_command (self, 6, argv);
    }
    else {
        const char *argv [] = { "XREVRANGE", stream, "+", "-", "COUNT", count };
        reply = s_command (self, 6, argv);
    }
    if (!reply)
        return -1;
    if (reply->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < reply->elements; i++) {
            broker_record_t *record = s_record_from_entry (reply->element [i]);
            if (!record)
                continue;
            s_set_known_seq (self, room, record->seq);
            if (forward)
                zlistx_add_end (records, record);
            else
                zlistx_add_start (records, record);     //  XREVRANGE: newest first
        }
    if (!forward && zlistx_size (records) == 0)
        s_set_known_seq (self, room, 0);        //  an empty stream: known
    freeReplyObject (reply);
    //  Messages still in the journal come after what Redis holds
    for (journal_entry_t *entry = (journal_entry_t *) zlistx_first (self->journal); entry;
         entry = (journal_entry_t *) zlistx_next (self->journal))
        if (streq (entry->room, room) && entry->seq > since && zlistx_size (records) < limit) {
            broker_record_t *record = (broker_record_t *) zmalloc (sizeof (broker_record_t));
            assert (record);
            record->seq = entry->seq;
            record->ts = entry->ts;
            record->from = strdup (entry->from);
            record->text = strdup (entry->text);
            zlistx_add_end (records, record);
        }
    return 0;
}

bool
broker_store_available (broker_store_t *self)
{
    return s_connected (self);
}

int
broker_store_audit (broker_store_t *self, const char *actor, const char *action, const char *target)
{
    char ts [24];
    snprintf (ts, sizeof (ts), "%" PRId64, pc_now_ms ());
    const char *argv [] = { "XADD", "audit", "MAXLEN", "~", "10000", "*", "ts", ts,
                            "actor", actor, "action", action, "target", target };
    redisReply *reply = s_command (self, 14, argv);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

int
broker_store_room_load (broker_store_t *self, const char *room, bool *invite_only,
                        char **creator_p, zlistx_t *invited)
{
    *invite_only = false;
    *creator_p = NULL;
    char meta [64], members [64];
    snprintf (meta, sizeof (meta), "roommeta:%s", room);
    snprintf (members, sizeof (members), "roominvited:%s", room);
    const char *hmget [] = { "HMGET", meta, "creator", "invite_only" };
    redisReply *reply = s_command (self, 4, hmget);
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
    reply = s_command (self, 2, smembers);
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
broker_store_room_create (broker_store_t *self, const char *room, const char *creator,
                          bool invite_only)
{
    char meta [64];
    snprintf (meta, sizeof (meta), "roommeta:%s", room);
    const char *hsetnx [] = { "HSETNX", meta, "creator", creator };
    redisReply *reply = s_command (self, 4, hsetnx);
    if (!reply)
        return -1;
    int rc = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1? 0: 1;
    freeReplyObject (reply);
    if (rc == 0) {
        const char *hset [] = { "HSET", meta, "invite_only", invite_only? "1": "0" };
        reply = s_command (self, 4, hset);
        if (!reply)
            return -1;
        freeReplyObject (reply);
    }
    return rc;
}

int
broker_store_room_invite (broker_store_t *self, const char *room, const char *user, bool add)
{
    char members [64];
    snprintf (members, sizeof (members), "roominvited:%s", room);
    const char *argv [] = { add? "SADD": "SREM", members, user };
    redisReply *reply = s_command (self, 3, argv);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest: against a real redis-server on a free port

static int
s_free_port (void)
{
    //  Ask the kernel for a free port (bind to port 0)
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t size = sizeof (addr);
    int port = -1;
    if (fd >= 0 && bind (fd, (struct sockaddr *) &addr, sizeof (addr)) == 0
    &&  getsockname (fd, (struct sockaddr *) &addr, &size) == 0)
        port = ntohs (addr.sin_port);
    if (fd >= 0)
        close (fd);
    return port;
}

static pid_t
s_start_redis (int port, const char *dir)
{
    char port_txt [16];
    snprintf (port_txt, sizeof (port_txt), "%d", port);
    pid_t pid = fork ();
    if (pid == 0) {
        //  Not our stdout/stderr: a pipe held open would outlive a failed test
        int null = open ("/dev/null", O_WRONLY);
        dup2 (null, STDOUT_FILENO);
        dup2 (null, STDERR_FILENO);
        execlp ("redis-server", "redis-server", "--port", port_txt, "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", dir, (char *) NULL);
        _exit (127);
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        redisContext *probe = redisConnect ("127.0.0.1", port);
        bool up = probe && !probe->err;
        if (probe)
            redisFree (probe);
        if (up)
            return pid;
        zclock_sleep (50);
    }
    return pid;
}

static void
s_stop (pid_t pid)
{
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);
}

void
broker_store_test (bool verbose)
{
    printf (" * broker_store: ");
    if (system ("command -v redis-server >/dev/null") != 0) {
        printf ("SKIPPED (no redis-server)\n");
        return;
    }
    char dir [] = "/tmp/broker_store_test.XXXXXX";
    assert (mkdtemp (dir));
    int port = s_free_port ();
    pid_t redis = s_start_redis (port, dir);
    broker_store_t *store = broker_store_new ("127.0.0.1", port, 5);
    uint64_t seq;
    int64_t ts;
    assert (broker_store_append (store, "room:lobby", "alice", "c1", "one", &seq, &ts) == 0);
    assert (seq == 1);
    assert (broker_store_append (store, "room:lobby", "bob", "c1", "two", &seq, &ts) == 0);
    assert (seq == 2);
    //  A resend: same sender, same client message id -> same seq, stored once
    int64_t first_ts = ts;
    assert (broker_store_append (store, "room:lobby", "bob", "c1", "two", &seq, &ts) == 1);
    assert (seq == 2 && ts == first_ts);
    for (int i = 3; i <= 8; i++) {
        char cmid [16];
        snprintf (cmid, sizeof (cmid), "k%d", i);
        assert (broker_store_append (store, "room:lobby", "alice", cmid, "more", &seq, &ts) == 0);
        assert (seq == (uint64_t) i);
    }
    zlistx_t *records = broker_store_records_new ();
    assert (broker_store_history (store, "room:lobby", 6, 100, records) == 0);
    assert (zlistx_size (records) == 2);
    broker_record_t *record = (broker_record_t *) zlistx_first (records);
    assert (record->seq == 7 && streq (record->from, "alice") && streq (record->text, "more"));
    zlistx_purge (records);
    //  Latest N, oldest first
    assert (broker_store_history (store, "room:lobby", 0, 3, records) == 0);
    assert (zlistx_size (records) == 3);
    assert (((broker_record_t *) zlistx_first (records))->seq == 6);
    assert (((broker_record_t *) zlistx_last (records))->seq == 8);
    zlistx_purge (records);
    //  From the start: message 1 is reachable however long the room is
    assert (broker_store_history (store, "room:lobby", BROKER_FROM_START, 2, records) == 0);
    assert (zlistx_size (records) == 2);
    assert (((broker_record_t *) zlistx_first (records))->seq == 1);
    assert (((broker_record_t *) zlistx_last (records))->seq == 2);
    zlistx_purge (records);

    //  Redis goes away: the known room keeps going through the journal, an
    //  unknown room is refused; when Redis is back the journal lands in order.
    s_stop (redis);
    assert (broker_store_append (store, "room:lobby", "alice", "j1", "during", &seq, &ts) == 0);
    assert (seq == 9);
    assert (broker_store_append (store, "room:elsewhere", "alice", "j2", "x", &seq, &ts) == -1);
    assert (broker_store_history (store, "room:lobby", 8, 10, records) == -1);
    redis = s_start_redis (port, dir);              //  empty: no persistence here
    zclock_sleep (RETRY_MS + 50);
    assert (broker_store_flush (store) == 0);
    assert (broker_store_append (store, "room:lobby", "bob", "j3", "after", &seq, &ts) == 0);
    assert (seq == 10);                             //  never reuses a sequence
    assert (broker_store_history (store, "room:lobby", 0, 10, records) == 0);
    assert (zlistx_size (records) == 2);
    assert (((broker_record_t *) zlistx_first (records))->seq == 9);
    zlistx_destroy (&records);
    //  Pipelined appends: in order, with a duplicate in the lot
    broker_append_t items [4] = {
        { "room:fast", "alice", "p1", "a", 0, 0, 0 },
        { "room:fast", "bob",   "p1", "b", 0, 0, 0 },
        { "room:fast", "alice", "p1", "a", 0, 0, 0 },
        { "room:fast", "alice", "p2", "c", 0, 0, 0 },
    };
    broker_store_append_many (store, items, 4);
    assert (items [0].rc == 0 && items [0].seq == 1);
    assert (items [1].rc == 0 && items [1].seq == 2);
    assert (items [2].rc == 1 && items [2].seq == 1);
    assert (items [3].rc == 0 && items [3].seq == 3);
    //  Room settings and the audit log
    bool invite_only;
    char *creator;
    zlistx_t *invited = zlistx_new ();
    zlistx_set_destructor (invited, (czmq_destructor *) zstr_free);
    assert (broker_store_room_load (store, "secret", &invite_only, &creator, invited) == 0);
    assert (!invite_only && creator == NULL && zlistx_size (invited) == 0);
    assert (broker_store_room_create (store, "secret", "alice", true) == 0);
    assert (broker_store_room_create (store, "secret", "bob", false) == 1);
    assert (broker_store_room_invite (store, "secret", "bob", true) == 0);
    assert (broker_store_room_load (store, "secret", &invite_only, &creator, invited) == 0);
    assert (invite_only && streq (creator, "alice") && zlistx_size (invited) == 1);
    zstr_free (&creator);
    zlistx_destroy (&invited);
    assert (broker_store_audit (store, "root", "ban", "mallory") == 0);
    broker_store_destroy (&store);
    s_stop (redis);
    char command [PATH_MAX + 16];
    snprintf (command, sizeof (command), "rm -rf '%s'", dir);
    assert (system (command) == 0);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

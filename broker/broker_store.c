//  broker_store.c: room history in Redis streams, with an outage journal.
#include "broker_store.h"
#include "broker_scripts.h"
#include "broker_journal.h"
#include "broker_search.h"
#include "pc_redis.h"
#include "pc_util.h"

#include <netinet/tcp.h>
#include <sys/socket.h>

#define DEDUP_TTL_S         600         //  a resend is recognised for 10 to 20 minutes
#define DEDUP_RUNS          1024        //  runs of a sender's in a window's dedup list
#define JOURNAL_MAX         100000      //  messages kept while Redis is down
#define CONNECT_MS          500         //  at most this to connect
#define RETRY_MS            BROKER_STORE_RETRY_MS

//  Ids handed out ahead of their write: the broker numbers and delivers a
//  message before Redis has stored it, so it first reserves ids in Redis
//  ("STREAM:ahead"), RESERVE at a time, topped up by the writes themselves.
//  A broker that restarts after a crash numbers from past the reservation:
//  an id it may have delivered but not stored is never given to another
//  message. A clean stop gives the unused ids back.
#define RESERVE             BROKER_STORE_RESERVE
#define S_TEXT(x)           #x
#define S_NUMBER_TEXT(x)    S_TEXT (x)
#define RESERVE_TXT         S_NUMBER_TEXT (BROKER_STORE_RESERVE)

//  The records that remember what from stored in stream by client message
//  id: the hash (field CMID = "SEQ TS") or, runs, the list of a lot's runs;
//  this 10-minute window's (offset 0) or the one before (-1). A resend is
//  looked up in all four (broker_scripts.c).
static void
s_dedup_key (const char *from, const char *stream, int offset, bool runs, char *key, size_t size)
{
    long long window = (long long) (pc_now_ms () / 1000 / DEDUP_TTL_S) + offset;
    snprintf (key, size, "sent:%s:%s:%lld%s", from, stream, window, runs? ":runs": "");
}

//  One message's formatted arguments in a write of a run (s_run_append)
typedef struct {
    const char *from, *cmid, *text;
    char   ts [24], seq [24];
    size_t key;                 //  the first message of its sender in the run
    char   dedup [200];         //  that sender's dedup list (key == itself only)
} run_item_t;

//  One run of a lot written: items [first, last), one MULTI of queued
//  commands (s_run_append)
typedef struct {
    size_t        first, last, queued;
} run_t;

//  A lot written and waiting for Redis's answer: its items (the caller's)
//  and its runs, read one reply at a time
typedef struct {
    broker_append_t *items;
    size_t        count;
    run_t        *runs_of;
    size_t        runs, runs_cap;
    size_t        run, got;         //  the run being read, its replies read so far
} lot_t;

struct _broker_store_t {
    pc_redis_t   *redis;
    size_t        history_max;
    zhashx_t     *last_seq;         //  stream -> last sequence known + 1 (0: unknown)
    zhashx_t     *ahead;            //  stream -> last id reserved by this broker + 1
    broker_journal_t *journal;      //  numbered while Redis could not take them
    char          append_sha [48];  //  SCRIPT LOAD of broker_scripts_append, "" if unknown
    char          write_sha [48];   //  and of broker_scripts_write
    char          book_sha [48];    //  and of broker_scripts_run_book
    char          sent_sha [48];    //  and of broker_scripts_sent
    bool          cluster;          //  several brokers: publish, no journal, no reservations
    int           replicas;         //  acknowledge once this many replicas have it (WAIT)
    int           replica_wait_ms;  //  for at most this long
    int           connected;        //  replicas the primary has (ROLE), -1 unknown
    int64_t       next_role;        //  when ROLE is read again
    pc_buf_t      resp;             //  a lot's commands, RESP, kept grown from lot to lot
    pc_buf_t      sent;             //  a run's dedup record of one sender, likewise
    run_item_t   *run_items;        //  s_run_append's per-message arguments, kept likewise
    size_t        run_cap;          //  items it holds
    //  The lots written and not yet answered, oldest first (a ring), all on
    //  one connection
    lot_t         lots [BROKER_STORE_LOTS];
    size_t        lot_head, lot_count;
    redisContext *writing;          //  the connection they were written to
    redisContext *corked;           //  holds a lot until write_release
    uint64_t      tickets;          //  lots written so far (the last one's ticket)
    uint64_t      answered;         //  lots answered so far, in order
};

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

static void s_release (broker_store_t *self);

//  Scripts by their SHA1: a batch then sends 40 bytes per message instead
//  of the whole script (and Redis does not hash it each time)
static void
s_load_script (pc_redis_t *redis, const char *script, char *sha)
{
    *sha = 0;
    redisReply *loaded = pc_redis_command (redis, "SCRIPT LOAD %s", script);
    if (loaded && loaded->type == REDIS_REPLY_STRING && loaded->len < 48)
        snprintf (sha, 48, "%s", loaded->str);
    if (loaded)
        freeReplyObject (loaded);
}

//  A fresh connection (Redis may have restarted): load the scripts again
static void
s_on_connect (pc_redis_t *redis, void *arg)
{
    broker_store_t *self = (broker_store_t *) arg;
    s_load_script (redis, broker_scripts_append, self->append_sha);
    s_load_script (redis, broker_scripts_write, self->write_sha);
    s_load_script (redis, broker_scripts_run_book, self->book_sha);
    s_load_script (redis, broker_scripts_sent, self->sent_sha);
    //  hiredis frees its read buffer whenever it empties past 16 KiB: a
    //  lot's replies then cost a fresh mapping each (page faults, munmap's
    //  TLB shootdowns). Kept, it is mapped once.
    redisContext *context = pc_redis_context (redis);
    if (context && context->reader)
        context->reader->maxbuf = 0;
}

broker_store_t *
broker_store_new (const char *host, int port, size_t history_max)
{
    broker_store_t *self = (broker_store_t *) zmalloc (sizeof (broker_store_t));
    assert (self);
    //  The broker's loop must not wait long for a Redis that is away
    self->redis = pc_redis_new ("broker", host, port);
    pc_redis_set_connect (self->redis, CONNECT_MS, RETRY_MS);
    pc_redis_set_on_connect (self->redis, s_on_connect, self);
    self->history_max = history_max? history_max: 10000;
    self->last_seq = zhashx_new ();
    self->ahead = zhashx_new ();
    self->journal = broker_journal_new (JOURNAL_MAX);
    self->connected = -1;
    pc_buf_init (&self->resp);
    pc_buf_init (&self->sent);
    return self;
}

void
broker_store_set_cluster (broker_store_t *self, bool cluster)
{
    self->cluster = cluster;
}

void
broker_store_set_replicas (broker_store_t *self, int replicas, int timeout_ms)
{
    self->replicas = replicas;
    self->replica_wait_ms = timeout_ms;
}

//  With replicas asked for: WAIT until that many have what this
//  connection wrote. False when fewer did in time (or Redis failed)
//  How many replicas the primary has now (ROLE), read at most once a
//  second: a WAIT asks for no more than there are, so that losing the
//  replica (or promoting it) does not stop every SEND
static void
s_read_role (broker_store_t *self)
{
    int64_t now = pc_now_ms ();
    if (self->replicas <= 0 || now < self->next_role)
        return;
    self->next_role = now + 1000;
    redisReply *reply = pc_redis_command (self->redis, "ROLE");
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3
    &&  reply->element [2]->type == REDIS_REPLY_ARRAY) {
        int connected = (int) reply->element [2]->elements;
        if (connected != self->connected && self->connected >= 0)
            zsys_info ("broker: the redis primary has %d replica(s): SENDs are acknowledged once "
                       "%d of them hold%s them", connected,
                       connected < self->replicas? connected: self->replicas,
                       connected == 1? "s": "");
        self->connected = connected;
    }
    if (reply)
        freeReplyObject (reply);
}

static bool
s_replicated (broker_store_t *self)
{
    if (self->replicas <= 0)
        return true;
    s_read_role (self);
    int need = self->connected >= 0 && self->connected < self->replicas? self->connected
                                                                      : self->replicas;
    if (need == 0)
        return true;
    redisReply *reply = pc_redis_command (self->redis, "WAIT %d %d", need, self->replica_wait_ms);
    bool done = reply && reply->type == REDIS_REPLY_INTEGER && reply->integer >= need;
    if (reply)
        freeReplyObject (reply);
    if (!done)
        self->next_role = 0;            //  a replica may have gone: ask again
    return done;
}

void
broker_store_channel (const char *stream, char *channel, size_t size)
{
    snprintf (channel, size, "pc:%s", stream);
}

void
broker_store_destroy (broker_store_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        broker_store_t *self = *self_p;
        if (broker_journal_size (self->journal))
            zsys_error ("broker: %zu message(s) never reached Redis", broker_journal_size (self->journal));
        else
            s_release (self);
        pc_redis_destroy (&self->redis);
        zhashx_destroy (&self->last_seq);
        zhashx_destroy (&self->ahead);
        broker_journal_destroy (&self->journal);
        pc_buf_free (&self->resp);
        pc_buf_free (&self->sent);
        free (self->run_items);
        for (size_t i = 0; i < BROKER_STORE_LOTS; i++)
            free (self->lots [i].runs_of);
        free (self);
        *self_p = NULL;
    }
}

//  Runs a command; NULL when Redis failed (an outage, logged once).
static redisReply *
s_command (broker_store_t *self, int argc, const char **argv)
{
    return pc_redis_argv (self->redis, argc, argv, NULL);
}

//  The next reply of a pipeline on redis: NULL when there is none (the
//  connection is dropped: the rest of the pipeline is lost).
static redisReply *
s_pipeline_reply (broker_store_t *self, redisContext *redis)
{
    redisReply *reply = NULL;
    if (redisGetReply (redis, (void **) &reply) != REDIS_OK)
        reply = NULL;
    reply = pc_redis_checked (self->redis, reply);
    if (!reply)
        pc_redis_drop (self->redis, "no reply in a pipeline");
    return reply;
}

//  Ids per stream are kept in a hash as id + 1, so that 0 (no entry) means
//  not known. False (*id 0) when there is none.
static bool
s_lookup_id (zhashx_t *ids, const char *stream, uint64_t *id)
{
    uintptr_t value = (uintptr_t) zhashx_lookup (ids, stream);
    *id = value? value - 1: 0;
    return value != 0;
}

//  The last sequence of a stream as far as this broker knows; false when it
//  has never learnt it (then it cannot number messages while Redis is away).
static bool
s_known_seq (broker_store_t *self, const char *room, uint64_t *seq)
{
    return s_lookup_id (self->last_seq, room, seq);
}

static void
s_set_known_seq (broker_store_t *self, const char *room, uint64_t seq)
{
    uint64_t known;
    if (!s_known_seq (self, room, &known) || seq > known)
        zhashx_update (self->last_seq, room, (void *) (uintptr_t) (seq + 1));
}

//  The last id this broker reserved for numbering ahead in a stream.
static bool
s_known_ahead (broker_store_t *self, const char *stream, uint64_t *ahead)
{
    return s_lookup_id (self->ahead, stream, ahead);
}

static void
s_set_known_ahead (broker_store_t *self, const char *stream, uint64_t ahead)
{
    zhashx_update (self->ahead, stream, (void *) (uintptr_t) (ahead + 1));
}

//  A write found its id taken: Redis keeps what it had
static void
s_id_taken (const char *stream, uint64_t seq)
{
    zsys_warning ("broker: %s already had id %" PRIu64 ": kept what it had (a journal written "
                  "twice, or another broker on this Redis)", stream, seq);
}

//  The arguments of one run of broker_scripts_append or broker_scripts_write (21 in argv)
typedef struct {
    char seqkey [80], dedup [200], before [200], runs [200], runs_before [200];
    char ahead [80], count [80], ts [24], maxlen [24];
    char ttl [16], seq [24];
    char channel [80];
} script_args_t;

#define SCRIPT_ARGC 21

static void
s_script_args (broker_store_t *self, bool write, const char *stream, const char *from,
               const char *cmid, int64_t ts, const char *text, uint64_t seq, bool fresh,
               bool reserve, script_args_t *args, const char **argv)
{
    snprintf (args->seqkey, sizeof (args->seqkey), "%s:seq", stream);
    s_dedup_key (from, stream, 0, false, args->dedup, sizeof (args->dedup));
    s_dedup_key (from, stream, -1, false, args->before, sizeof (args->before));
    s_dedup_key (from, stream, 0, true, args->runs, sizeof (args->runs));
    s_dedup_key (from, stream, -1, true, args->runs_before, sizeof (args->runs_before));
    snprintf (args->ahead, sizeof (args->ahead), "%s:ahead", stream);
    snprintf (args->count, sizeof (args->count), "%s:count", stream);
    snprintf (args->ts, sizeof (args->ts), "%" PRId64, ts);
    snprintf (args->maxlen, sizeof (args->maxlen), "%zu", self->history_max);
    snprintf (args->ttl, sizeof (args->ttl), "%d", 2 * DEDUP_TTL_S);
    snprintf (args->seq, sizeof (args->seq), "%" PRIu64, seq);
    //  Several brokers: the append publishes, and nobody numbers ahead
    if (self->cluster && !write)
        broker_store_channel (stream, args->channel, sizeof (args->channel));
    else
        *args->channel = 0;
    reserve = reserve && !self->cluster;
    const char *sha = write? self->write_sha: self->append_sha;
    const char *values [SCRIPT_ARGC] = {
        *sha? "EVALSHA": "EVAL", *sha? sha: write? broker_scripts_write: broker_scripts_append, "8",
        stream, args->seqkey, args->dedup, args->ahead, args->count, args->before, args->runs,
        args->runs_before,
        from, args->ts, text, args->maxlen, args->ttl, args->seq,
        fresh? "1": "0", reserve? RESERVE_TXT: "0", args->channel, cmid
    };
    memcpy (argv, values, sizeof (values));
}

//  Reads a script's reply: 0 stored, 1 a duplicate (of *seq, *ts), -1 not
//  a reply of ours. Learns the stream's last id and reservation.
static int
s_script_reply (broker_store_t *self, const char *stream, redisReply *reply, bool reserved,
                uint64_t *seq, int64_t *ts)
{
    unsigned long long got_seq;
    long long got_ts;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
    ||  reply->element [0]->type != REDIS_REPLY_INTEGER
    ||  reply->element [1]->type != REDIS_REPLY_STRING
    ||  reply->element [2]->type != REDIS_REPLY_INTEGER
    ||  sscanf (reply->element [1]->str, "%llu %lld", &got_seq, &got_ts) != 2)
        return -1;
    *seq = got_seq;
    *ts = got_ts;
    if (reply->element [0]->integer == 2)
        s_id_taken (stream, *seq);
    if (reply->element [0]->integer == 0)
        return 1;
    s_set_known_seq (self, stream, *seq);
    //  A reservation counts only if the script made it for us (a replay's
    //  may be a dead broker's)
    long long ahead = reply->element [2]->integer;
    if (reserved && ahead > 0)
        s_set_known_ahead (self, stream, (uint64_t) ahead);
    return 0;
}

static int
s_eval (broker_store_t *self, bool write, const char *stream, const char *from,
        const char *cmid, int64_t ts, const char *text, uint64_t seq_arg,
        uint64_t *seq, int64_t *stored_ts)
{
    script_args_t args;
    const char *argv [SCRIPT_ARGC];
    uint64_t ahead;
    bool fresh = !s_known_ahead (self, stream, &ahead);
    s_script_args (self, write, stream, from, cmid, ts, text, seq_arg, fresh, false, &args, argv);
    redisReply *reply = s_command (self, SCRIPT_ARGC, argv);
    if (!reply)
        return -1;
    int rc = s_script_reply (self, stream, reply, false, seq, stored_ts);
    freeReplyObject (reply);
    if (rc == -1)
        pc_redis_down (self->redis, "unexpected reply to an append");
    return rc;
}

size_t
broker_store_flush (broker_store_t *self)
{
    while (broker_journal_size (self->journal)) {
        broker_journal_entry_t *entry = broker_journal_first (self->journal);
        uint64_t seq;
        int64_t ts;
        if (s_eval (self, true, entry->stream, entry->from, entry->cmid, entry->ts,
                    entry->text, entry->seq, &seq, &ts) == -1)
            break;
        broker_journal_pop (self->journal);
        if (broker_journal_size (self->journal) == 0)
            zsys_info ("broker: journal written to redis");
    }
    return broker_journal_size (self->journal);
}

//  Keeps a numbered message for when Redis is back: 0, or -1 when full.
static int
s_journal (broker_store_t *self, const char *stream, const char *from, const char *cmid,
           const char *text, uint64_t seq, int64_t ts)
{
    if (broker_journal_add (self->journal, stream, from, cmid, text, seq, ts) == -1)
        return -1;
    s_set_known_seq (self, stream, seq);
    return 0;
}

int
broker_store_append (broker_store_t *self, const char *room, const char *from,
                     const char *cmid, const char *text, uint64_t *seq, int64_t *ts)
{
    int64_t now = pc_now_ms ();
    if (broker_store_flush (self) == 0) {
        uint64_t floor;
        s_known_seq (self, room, &floor);
        int rc = s_eval (self, false, room, from, cmid, now, text, floor, seq, ts);
        if (rc == 0 && !s_replicated (self))
            return -2;
        if (rc >= 0)
            return rc;
    }
    //  Redis is away: journal it, if we know where the room's sequence is
    //  (not with several brokers: another may be numbering the stream)
    uint64_t known;
    if (self->cluster || !s_known_seq (self, room, &known) || s_journal (self, room, from, cmid, text, known + 1, now))
        return -1;
    *seq = known + 1;
    *ts = now;
    return 0;
}

//  Hands Redis's socket what redisAppendCommand buffered. False: Redis is
//  gone (disconnected).
static bool
s_write_out (broker_store_t *self, redisContext *redis)
{
    int written = 0;
    while (!written)
        if (redisBufferWrite (redis, &written) != REDIS_OK) {
            pc_redis_checked (self->redis, NULL);       //  drops it, with hiredis's reason
            return false;
        }
    return true;
}

//  Hands count appends (broker_scripts_append) to Redis in one pipeline. True when
//  all are sent; false: Redis is gone (disconnected), nothing to read.
static bool
s_pipeline_send (broker_store_t *self, redisContext *redis, broker_append_t *items, size_t count)
{
    int64_t now = pc_now_ms ();
    script_args_t args;
    for (size_t i = 0; i < count; i++) {
        broker_append_t *item = &items [i];
        const char *argv [SCRIPT_ARGC];
        uint64_t floor, ahead;
        s_known_seq (self, item->stream, &floor);
        //  The stream's first script in this broker starts past what an
        //  earlier broker reserved; the lot's later ones follow the first
        bool fresh = !s_known_ahead (self, item->stream, &ahead);
        for (size_t j = 0; j < i && fresh; j++)
            fresh = !streq (items [j].stream, item->stream);
        s_script_args (self, false, item->stream, item->from, item->cmid, now, item->text,
                       floor, fresh, true, &args, argv);
        if (redisAppendCommandArgv (redis, SCRIPT_ARGC, argv, NULL) != REDIS_OK) {
            pc_redis_drop (self->redis, "out of memory");
            return false;
        }
    }
    return s_write_out (self, redis);
}

//  Reads the replies to s_pipeline_send in order. Returns how many items
//  were answered; a failure disconnects and leaves the rest to the caller.
static size_t
s_pipeline_read (broker_store_t *self, redisContext *redis, broker_append_t *items, size_t count)
{
    size_t done = 0;
    for (; done < count; done++) {
        broker_append_t *item = &items [done];
        redisReply *reply = s_pipeline_reply (self, redis);
        if (!reply)
            break;
        int rc = s_script_reply (self, item->stream, reply, true, &item->seq, &item->ts);
        freeReplyObject (reply);
        if (rc == -1) {
            pc_redis_drop (self->redis, "unexpected reply to an append");
            break;
        }
        item->rc = rc;
    }
    return done;
}

void
broker_store_append_many (broker_store_t *self, broker_append_t *items, size_t count)
{
    size_t done = 0;
    redisContext *redis = count > 0 && broker_store_flush (self) == 0?
                          pc_redis_context (self->redis): NULL;
    if (redis && s_pipeline_send (self, redis, items, count))
        done = s_pipeline_read (self, redis, items, count);
    if (done == count && count > 0 && !s_replicated (self))
        for (size_t i = 0; i < count; i++)
            if (items [i].rc == 0)
                items [i].rc = -2;      //  stored, not yet on a replica
    //  What the pipeline did not answer goes one by one (and is journaled
    //  if Redis is gone)
    for (; done < count; done++) {
        broker_append_t *item = &items [done];
        item->rc = broker_store_append (self, item->stream, item->from, item->cmid, item->text,
                                        &item->seq, &item->ts);
    }
}

//  A lot's streams (a lot has few): the last id given and the reservation
typedef struct {
    const char *stream;
    uint64_t    last, ahead;
} lot_stream_t;

static uint64_t
s_item_hash (const broker_append_t *item)
{
    uint64_t hash = 14695981039346656037ULL;          //  FNV-1a
    const char *parts [] = { item->stream, item->from, item->cmid };
    for (size_t i = 0; i < 3; i++) {
        for (const char *c = parts [i]; *c; c++)
            hash = (hash ^ (uint8_t) *c) * 1099511628211ULL;
        hash = (hash ^ 0xff) * 1099511628211ULL;       //  "ab"+"c" is not "a"+"bc"
    }
    return hash;
}

static bool
s_same_item (const broker_append_t *a, const broker_append_t *b)
{
    return streq (a->stream, b->stream) && streq (a->from, b->from) && streq (a->cmid, b->cmid);
}

bool
broker_store_number_many (broker_store_t *self, broker_append_t *items, size_t count)
{
    if (self->cluster || broker_journal_size (self->journal) || !pc_redis_available (self->redis) || count == 0)
        return false;
    //  Per item: its stream in the lot and the item it repeats (or itself),
    //  found through an open-addressing table of item indexes + 1
    lot_stream_t *streams = (lot_stream_t *) malloc (count * sizeof (lot_stream_t));
    size_t *stream_of = (size_t *) malloc (count * sizeof (size_t));
    size_t *first_of = (size_t *) malloc (count * sizeof (size_t));
    size_t slots = 16;
    while (slots < 2 * count)
        slots *= 2;
    size_t *table = (size_t *) calloc (slots, sizeof (size_t));
    assert (streams && stream_of && first_of && table);
    size_t nstreams = 0;
    bool ok = true;
    for (size_t i = 0; i < count && ok; i++) {
        size_t slot = s_item_hash (&items [i]) & (slots - 1);
        while (table [slot] && !s_same_item (&items [table [slot] - 1], &items [i]))
            slot = (slot + 1) & (slots - 1);
        if (!table [slot])
            table [slot] = i + 1;
        first_of [i] = table [slot] - 1;
        size_t at = 0;
        while (at < nstreams && !streq (streams [at].stream, items [i].stream))
            at++;
        if (at == nstreams) {
            streams [at].stream = items [i].stream;
            ok = s_known_seq (self, items [i].stream, &streams [at].last)
              && s_known_ahead (self, items [i].stream, &streams [at].ahead);
            nstreams++;
        }
        stream_of [i] = at;
        //  Every stream must have room for its share of the lot
        if (first_of [i] == i && ++streams [at].last > streams [at].ahead)
            ok = false;
    }
    if (ok) {
        int64_t now = pc_now_ms ();
        for (size_t at = 0; at < nstreams; at++)
            s_known_seq (self, streams [at].stream, &streams [at].last);
        for (size_t i = 0; i < count; i++) {
            broker_append_t *item = &items [i];
            if (first_of [i] < i) {     //  sent twice in the lot: one message
                item->seq = items [first_of [i]].seq;
                item->ts = items [first_of [i]].ts;
                item->rc = 1;
                continue;
            }
            item->seq = ++streams [stream_of [i]].last;
            item->ts = now;
            item->rc = 0;
        }
        for (size_t at = 0; at < nstreams; at++)
            s_set_known_seq (self, streams [at].stream, streams [at].last);
    }
    free (streams);
    free (stream_of);
    free (first_of);
    free (table);
    return ok;
}

//  TCP_CORK holds what write_send wrote in the kernel until write_finish:
//  Redis is not woken to compete with the fan-out for the cores, and a
//  broker that dies in between still sends it (the kernel flushes a closed
//  socket's queue).
static void
s_cork (redisContext *redis, int on)
{
#ifdef TCP_CORK
    if (redis)
        setsockopt (redis->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof (on));
#endif
}

//  The end of the run of one stream's items that starts at first, and
//  how many of them are to be written (a repeat, rc 1, is not).
static size_t
s_run_end (broker_append_t *items, size_t count, size_t first, size_t *writes)
{
    size_t last = first;
    *writes = 0;
    while (last < count && streq (items [last].stream, items [first].stream))
        *writes += items [last++].rc != 1;
    return last;
}

//  Appends one command in RESP to buf: hiredis would format each into a
//  string of its own and copy it into an output buffer it frees whenever it
//  is written (for a lot of 256 messages, some 100 KiB each time). The
//  lengths are written without snprintf, which cost a fifth of the broker's
//  time at one publisher (a dozen per message).
static void
s_resp_argv (pc_buf_t *buf, size_t argc, const char **argv)
{
    char head [PC_INT_TEXT + 1] = "*";
    size_t size = 1 + pc_uint_text (head + 1, argc);
    char *at = pc_buf_extend (buf, size + 2);
    memcpy (at, head, size);
    memcpy (at + size, "\r\n", 2);
    head [0] = '$';
    for (size_t i = 0; i < argc; i++) {
        size_t len = strlen (argv [i]);
        size = 1 + pc_uint_text (head + 1, len);
        at = pc_buf_extend (buf, size + len + 4);
        memcpy (at, head, size);
        memcpy (at + size, "\r\n", 2);
        memcpy (at + size + 2, argv [i], len);
        memcpy (at + size + 2 + len, "\r\n", 2);
    }
}

//  Writes what s_resp_argv buffered to Redis's socket (after anything
//  hiredis itself still holds). False: Redis is gone (disconnected).
static bool
s_resp_write (broker_store_t *self, redisContext *redis)
{
    if (!s_write_out (self, redis))
        return false;
    for (size_t done = 0; done < self->resp.size; ) {
        ssize_t sent = send (redis->fd, self->resp.data + done, self->resp.size - done, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent <= 0) {
            pc_redis_drop (self->redis, sent < 0? strerror (errno): "connection closed");
            return false;
        }
        done += (size_t) sent;
    }
    return true;
}

//  Buffers the writes of items [first, last), one stream's run of a lot.
//  Redis spends less on plain commands than on the same work in a script,
//  whose redis.call converts every argument and reply between Lua and
//  Redis (a lot of 256 x 128 B against a private redis-server, its CPU per
//  message: 4.6 us for one script call that did it all, 3.6 us as below;
//  run for run on 2 cores, the machine's noise moves both by +-1 us). So a
//  run is a MULTI of its bookkeeping (broker_scripts_run_book, first, to
//  see the stream before the run), one XADD per message (one whose id is
//  taken fails alone: EXEC answers each), an XTRIM now and then, and per
//  sender its dedup record of the run (RPUSH, LTRIM, EXPIRE of its list).
//  The bookkeeping counts on the run's ids following one another, as
//  broker_store_number_many gives them.
static void
s_run_append (broker_store_t *self, lot_t *lot, broker_append_t *items, size_t first,
              size_t last, size_t writes)
{
    //  Kept from lot to lot: a lot of 256 needs 64 KB, a mapping of its
    //  own (above main.c's threshold), which cost an mmap, an munmap and a
    //  TLB flush on both cores per lot when it was allocated each time.
    if (writes > self->run_cap) {
        self->run_cap = writes;
        free (self->run_items);
        self->run_items = (run_item_t *) malloc (writes * sizeof (run_item_t));
        assert (self->run_items);
    }
    if (lot->runs == lot->runs_cap) {
        lot->runs_cap = lot->runs_cap? 2 * lot->runs_cap: 16;
        lot->runs_of = (run_t *) realloc (lot->runs_of, lot->runs_cap * sizeof (run_t));
        assert (lot->runs_of);
    }
    //  The messages, and which dedup list (sender) each belongs to: the
    //  first message of a sender stands for its list
    run_item_t *bufs = self->run_items;
    size_t n = 0, senders = 0;
    for (size_t i = first; i < last; i++) {
        broker_append_t *item = &items [i];
        if (item->rc == 1)
            continue;
        assert (item->seq == items [first].seq + n);
        run_item_t *buf = &bufs [n];
        buf->from = item->from;
        buf->cmid = item->cmid;
        buf->text = item->text;
        buf->key = n;
        //  A sender's messages follow one another in most runs
        if (n > 0 && streq (item->from, bufs [n - 1].from))
            buf->key = bufs [n - 1].key;
        else
            for (size_t j = 0; j < n; j++)
                if (bufs [j].key == j && streq (bufs [j].from, item->from)) {
                    buf->key = j;
                    break;
                }
        if (buf->key == n) {
            s_dedup_key (item->from, item->stream, 0, true, buf->dedup, sizeof (buf->dedup));
            senders++;
        }
        pc_uint_text (buf->seq, item->seq);
        pc_int_text (buf->ts, item->ts);
        n++;
    }
    assert (n == writes);
    char seqkey [80], ahead [80], counter [80], maxlen [24], ttl [16], keep [16];
    snprintf (seqkey, sizeof (seqkey), "%s:seq", items [first].stream);
    snprintf (ahead, sizeof (ahead), "%s:ahead", items [first].stream);
    snprintf (counter, sizeof (counter), "%s:count", items [first].stream);
    snprintf (maxlen, sizeof (maxlen), "%zu", self->history_max);
    snprintf (ttl, sizeof (ttl), "%d", 2 * DEDUP_TTL_S);
    snprintf (keep, sizeof (keep), "%d", -DEDUP_RUNS);
    const char *stream = items [first].stream;
    const char *multi [] = { "MULTI" };
    s_resp_argv (&self->resp, 1, multi);
    char first_txt [24], count_txt [24];
    snprintf (first_txt, sizeof (first_txt), "%" PRIu64, items [first].seq);
    snprintf (count_txt, sizeof (count_txt), "%zu", writes);
    const char *book [] = { *self->book_sha? "EVALSHA": "EVAL",
                            *self->book_sha? self->book_sha: broker_scripts_run_book,
                            "4", stream, seqkey, ahead, counter, first_txt, count_txt, RESERVE_TXT };
    s_resp_argv (&self->resp, 10, book);
    for (size_t k = 0; k < writes; k++) {
        const char *xadd [] = { "XADD", stream, bufs [k].seq, "from", bufs [k].from,
                                "ts", bufs [k].ts, "text", bufs [k].text };
        s_resp_argv (&self->resp, 9, xadd);
    }
    //  The history is trimmed by a run that holds a multiple of 64 among
    //  its ids, not by every XADD: Redis spent 1.2 us less per message
    //  (5.1 against 3.9, a lot of 256 x 100 B against a private
    //  redis-server kept at 10,000 entries); of runs of one message, as
    //  most are at a low rate, 63 in 64 skip it
    uint64_t last_seq = items [first].seq + writes - 1;
    bool trim = (items [first].seq - 1) / 64 != last_seq / 64;
    if (trim) {
        const char *xtrim [] = { "XTRIM", stream, "MAXLEN", "~", maxlen };
        s_resp_argv (&self->resp, 5, xtrim);
    }
    //  Each sender's dedup record of the run: "\nCMID SEQ TS" per message
    for (size_t j = 0; j < writes; j++) {
        if (bufs [j].key != j)
            continue;
        pc_buf_reset (&self->sent);
        for (size_t m = j; m < writes; m++)
            if (bufs [m].key == j) {
                pc_buf_append (&self->sent, "\n", 1);
                pc_buf_append (&self->sent, bufs [m].cmid, strlen (bufs [m].cmid));
                pc_buf_append (&self->sent, " ", 1);
                pc_buf_append (&self->sent, bufs [m].seq, strlen (bufs [m].seq));
                pc_buf_append (&self->sent, " ", 1);
                pc_buf_append (&self->sent, bufs [m].ts, strlen (bufs [m].ts));
            }
        pc_buf_append (&self->sent, "", 1);
        const char *rpush [] = { "RPUSH", bufs [j].dedup, self->sent.data };
        s_resp_argv (&self->resp, 3, rpush);
        const char *ltrim [] = { "LTRIM", bufs [j].dedup, keep, "-1" };
        s_resp_argv (&self->resp, 4, ltrim);
        const char *expire [] = { "EXPIRE", bufs [j].dedup, ttl };
        s_resp_argv (&self->resp, 3, expire);
    }
    const char *exec [] = { "EXEC" };
    s_resp_argv (&self->resp, 1, exec);
    lot->runs_of [lot->runs++] = (run_t) { first, last, 1 + writes + trim + 3 * senders };
}

//  EXEC's answer to a run of items [first, last) (s_run_append): the
//  reservation, then an id or an error per message (an id another writer
//  took), then the XTRIM's (if any) and the dedup lists' answers. Takes
//  reply. False: not that shape (the connection is dropped).
static bool
s_run_answer (broker_store_t *self, redisReply *reply, broker_append_t *items, size_t first,
              size_t last, size_t queued)
{
    bool ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == queued
           && reply->element [0]->type == REDIS_REPLY_INTEGER;
    if (ok) {
        long long ahead = reply->element [0]->integer;
        if (ahead > 0)
            s_set_known_ahead (self, items [first].stream, (uint64_t) ahead);
        size_t n = 1;
        for (size_t i = first; i < last; i++)
            if (items [i].rc != 1 && reply->element [n++]->type == REDIS_REPLY_ERROR)
                s_id_taken (items [i].stream, items [i].seq);
    }
    freeReplyObject (reply);
    if (!ok)
        pc_redis_drop (self->redis, "unexpected reply to a write");
    return ok;
}

bool
broker_store_sent_before (broker_store_t *self, const char *from, const char *stream,
                          const char *cmid)
{
    char keys [4][256];
    for (int k = 0; k < 4; k++)
        s_dedup_key (from, stream, -(k % 2), k >= 2, keys [k], sizeof (keys [k]));
    const char *argv [] = { *self->sent_sha? "EVALSHA": "EVAL",
                            *self->sent_sha? self->sent_sha: broker_scripts_sent, "4",
                            keys [0], keys [1], keys [2], keys [3], cmid };
    redisReply *reply = s_command (self, 8, argv);
    bool sent = reply && reply->type == REDIS_REPLY_STRING;
    if (reply)
        freeReplyObject (reply);
    return sent;
}

//  The oldest lot in flight, and the one write_send fills next
static lot_t *
s_lot_oldest (broker_store_t *self)
{
    return &self->lots [self->lot_head];
}

static lot_t *
s_lot_next (broker_store_t *self)
{
    return &self->lots [(self->lot_head + self->lot_count) % BROKER_STORE_LOTS];
}

static void s_lots_settle (void *arg);

//  Lets go of the oldest lots once every run of them is answered.
static void
s_lots_pop (broker_store_t *self)
{
    while (self->lot_count && s_lot_oldest (self)->run == s_lot_oldest (self)->runs) {
        self->lot_head = (self->lot_head + 1) % BROKER_STORE_LOTS;
        self->lot_count--;
        self->answered++;
    }
    if (!self->lot_count)
        self->writing = NULL;
    //  Anyone else who uses the connection reads these lots' answers first
    pc_redis_set_pending (self->redis, self->lot_count? s_lots_settle: NULL, self);
}

//  The connection the lots are on, if it is still the service's
static redisContext *
s_lots_redis (broker_store_t *self)
{
    return self->writing && pc_redis_current (self->redis) == self->writing? self->writing: NULL;
}

//  Redis cannot answer the lots in flight (the connection is gone): what
//  it did not answer waits in the journal, in order (rc -1: the journal is
//  full, the message is lost).
static void
s_lots_fail (broker_store_t *self)
{
    //  Answers out of step, or a reply that cannot be read: nobody else
    //  may read the rest
    if (s_lots_redis (self))
        pc_redis_drop (self->redis, "a write's answers are lost");
    for (; self->lot_count; self->lot_count--) {
        lot_t *lot = s_lot_oldest (self);
        size_t from = lot->run < lot->runs? lot->runs_of [lot->run].first: lot->count;
        for (size_t i = from; i < lot->count; i++) {
            broker_append_t *item = &lot->items [i];
            if (item->rc == 0
            &&  s_journal (self, item->stream, item->from, item->cmid, item->text, item->seq,
                           item->ts))
                item->rc = -1;
        }
        self->lot_head = (self->lot_head + 1) % BROKER_STORE_LOTS;
        self->answered++;
    }
    self->writing = NULL;
    pc_redis_set_pending (self->redis, NULL, NULL);
}

//  Takes the next reply (checked, not NULL) to the oldest lot: MULTI's OK
//  and a QUEUED per command, then EXEC's answer. False: out of step (the
//  connection is dropped).
static bool
s_lots_take (broker_store_t *self, redisReply *reply)
{
    lot_t *lot = s_lot_oldest (self);
    assert (self->lot_count && lot->run < lot->runs);
    run_t *run = &lot->runs_of [lot->run];
    if (lot->got++ < 1 + run->queued) {
        freeReplyObject (reply);
        return true;
    }
    if (!s_run_answer (self, reply, lot->items, run->first, run->last, run->queued))
        return false;
    lot->run++;
    lot->got = 0;
    s_lots_pop (self);
    return true;
}

//  Reads the answers of every lot in flight, waiting for them (the pending
//  hook: before anyone else's command on the connection); a lot still held
//  by the cork is let go first.
static void
s_lots_settle (void *arg)
{
    broker_store_t *self = (broker_store_t *) arg;
    broker_store_write_finish (self, self->tickets);
}

uint64_t
broker_store_write_send (broker_store_t *self, broker_append_t *items, size_t count)
{
    assert (self->lot_count < BROKER_STORE_LOTS);
    //  Behind other lots: on their connection (pc_redis_context would
    //  read their answers first)
    redisContext *redis = self->lot_count? s_lots_redis (self)
                        : count > 0? pc_redis_context (self->redis): NULL;
    if (self->lot_count && !redis)
        s_lots_fail (self);
    lot_t *lot = s_lot_next (self);
    lot->items = items;
    lot->count = count;
    lot->runs = lot->run = lot->got = 0;
    self->lot_count++;
    self->tickets++;
    if (redis) {
        pc_buf_reset (&self->resp);
        size_t writes;
        for (size_t first = 0, last; first < count; first = last) {
            last = s_run_end (items, count, first, &writes);
            if (writes)
                s_run_append (self, lot, items, first, last, writes);
        }
        if (self->resp.size) {
            s_cork (redis, 1);
            self->corked = redis;
        }
    }
    if (redis && s_resp_write (self, redis)) {
        self->writing = redis;
        s_lots_pop (self);              //  a lot of repeats only is answered now
    }
    else
        s_lots_fail (self);
    return self->tickets;
}

void
broker_store_write_release (broker_store_t *self)
{
    if (self->corked && pc_redis_current (self->redis) == self->corked)
        s_cork (self->corked, 0);
    self->corked = NULL;
}

int
broker_store_write_fd (broker_store_t *self)
{
    redisContext *redis = self->lot_count? s_lots_redis (self): NULL;
    return redis? redis->fd: -1;
}

uint64_t
broker_store_write_read (broker_store_t *self, uint64_t wait)
{
    redisContext *redis = self->lot_count? s_lots_redis (self): NULL;
    if (self->lot_count && !redis) {
        s_lots_fail (self);
        return self->answered;
    }
    //  What the socket holds now, without waiting
    bool ok = true;
    while (self->lot_count && ok) {
        char buffer [16384];
        ssize_t size = recv (redis->fd, buffer, sizeof (buffer), MSG_DONTWAIT);
        if (size < 0 && errno == EINTR)
            continue;
        if (size < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        ok = size > 0 && redisReaderFeed (redis->reader, buffer, (size_t) size) == REDIS_OK;
        if (!ok)
            pc_redis_drop (self->redis, size < 0? strerror (errno): "connection closed");
    }
    while (ok && self->lot_count) {
        void *reply = NULL;
        if (redisGetReplyFromReader (redis, &reply) != REDIS_OK) {
            pc_redis_drop (self->redis, "unreadable reply to a write");
            ok = false;
        }
        else
        if (!reply)
            break;
        else
        if (!pc_redis_checked (self->redis, (redisReply *) reply)
        ||  !s_lots_take (self, (redisReply *) reply))
            ok = false;
    }
    //  Then what is waited for, as it comes
    while (ok && self->lot_count && self->answered < wait) {
        redisReply *reply = s_pipeline_reply (self, redis);
        ok = reply && s_lots_take (self, reply);
    }
    if (!ok)
        s_lots_fail (self);
    return self->answered;
}

void
broker_store_write_finish (broker_store_t *self, uint64_t ticket)
{
    broker_store_write_release (self);
    broker_store_write_read (self, ticket);
}

//  A clean stop gives back the ids reserved and not used: the next broker
//  numbers on from the last one stored.
static void
s_release (broker_store_t *self)
{
    redisContext *redis = zhashx_size (self->ahead) && pc_redis_available (self->redis)?
                          pc_redis_context (self->redis): NULL;
    if (!redis)
        return;
    size_t sent = 0;
    for (void *value = zhashx_first (self->ahead); value; value = zhashx_next (self->ahead)) {
        char key [80];
        snprintf (key, sizeof (key), "%s:ahead", (const char *) zhashx_cursor (self->ahead));
        const char *argv [] = { "DEL", key };
        if (redisAppendCommandArgv (redis, 2, argv, NULL) != REDIS_OK)
            break;
        sent++;
    }
    for (size_t i = 0; i < sent; i++) {
        redisReply *reply = NULL;
        if (redisGetReply (redis, (void **) &reply) != REDIS_OK || !reply)
            break;
        freeReplyObject (reply);
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
    snprintf (count, sizeof (count), "%zu", limit);
    snprintf (start, sizeof (start), "(%" PRIu64 "-0", since);
    bool forward = since > 0;           //  oldest first; else XREVRANGE
    if (since == BROKER_FROM_START) {
        snprintf (start, sizeof (start), "-");
        since = 0;
    }
    const char *argv [] = { forward? "XRANGE": "XREVRANGE", room, forward? start: "+",
                            forward? "+": "-", "COUNT", count };
    redisReply *reply = s_command (self, 6, argv);
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
    broker_journal_records (self->journal, room, since, limit, records);
    return 0;
}

void
broker_store_delivered (broker_store_t *self, const char *stream, uint64_t seq)
{
    s_set_known_seq (self, stream, seq);
}

bool
broker_store_known_seq (broker_store_t *self, const char *stream, uint64_t *seq)
{
    return s_known_seq (self, stream, seq);
}

bool
broker_store_available (broker_store_t *self)
{
    return pc_redis_context (self->redis) && pc_redis_available (self->redis);
}

pc_redis_t *
broker_store_redis (broker_store_t *self)
{
    return self->redis;
}

//  --------------------------------------------------------------------------
//  Edits, deletes, replies and reactions (broker_chat): entries of their
//  own, appended like messages; a delete also takes the text out of Redis.

int
broker_store_entry (broker_store_t *self, const char *stream, uint64_t seq,
                    broker_record_t **record_p)
{
    *record_p = NULL;
    broker_store_flush (self);
    char id [32];
    snprintf (id, sizeof (id), "%" PRIu64 "-0", seq);
    const char *argv [] = { "XRANGE", stream, id, id };
    redisReply *reply = s_command (self, 4, argv);
    if (!reply)
        return -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1)
        *record_p = s_record_from_entry (reply->element [0]);
    freeReplyObject (reply);
    return *record_p? 0: 1;
}

//  XADD cannot change an entry: the message and every edit of it are
//  XDELed (an edit is found by its text, RS "edit" SP ID SP, among the
//  entries after the message: a bounded scan, the stream being trimmed to
//  history_max). KEYS: stream; ARGV: the message's id, the edit prefix.
//  The search index (broker_search.h) loses the message in the same step:
//  it is taken out of the words of every text it had, and its latest
//  edited text out of the index's hash.
static const char *s_scrub_lua =
    BROKER_SEARCH_LUA
    "local gone = 0 "
    "local first = ARGV[1] .. '-0' "
    "for _, e in ipairs(redis.call('XRANGE', KEYS[1], first, '+')) do "
    "  local f = e[2] "
    "  for i = 1, #f - 1, 2 do "
    "    if f[i] == 'text' and (e[1] == first "
    "        or string.sub(f[i + 1], 1, #ARGV[2]) == ARGV[2]) then "
    "      local body = sx_body (f[i + 1], true) "
    "      if body then sx_unindex (KEYS[1], ARGV[1], body) end "
    "      gone = gone + redis.call('XDEL', KEYS[1], e[1]) end "
    "  end "
    "end "
    "local edited = redis.call('HGET', KEYS[1] .. ':sxe', ARGV[1]) "
    "if edited then "
    "  sx_unindex (KEYS[1], ARGV[1], edited) "
    "  redis.call('HDEL', KEYS[1] .. ':sxe', ARGV[1]) end "
    "return gone";

int
broker_store_scrub (broker_store_t *self, const char *stream, uint64_t seq)
{
    broker_store_flush (self);
    char id [32], prefix [48];
    snprintf (id, sizeof (id), "%" PRIu64, seq);
    snprintf (prefix, sizeof (prefix), "\x1e" "edit %" PRIu64 " ", seq);
    const char *argv [] = { "EVAL", s_scrub_lua, "1", stream, id, prefix };
    redisReply *reply = s_command (self, 6, argv);
    if (!reply)
        return -1;
    int rc = reply->type == REDIS_REPLY_INTEGER? 0: -1;
    freeReplyObject (reply);
    return rc;
}

void
broker_store_record_destroy (broker_record_t **record_p)
{
    s_record_destroy (record_p);
}

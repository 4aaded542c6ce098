//  files_store.c: the file service's metadata in Redis (hiredis 0.14).
#include "files_store.h"
#include "pc_util.h"

#include <hiredis/hiredis.h>
#include "pc_redis.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/wait.h>

struct _files_store_t {
    pc_redis_t   *redis;            //  connected lazily; outages logged once
};

//  A new upload: reserves its size on the quota and records it, unless the
//  quota or the count of pending uploads would be exceeded.
//  KEYS: fquota:USER, fupload:ID, fuploads:USER, fuploads
//  ARGV: size, quota, max pending, user, space, name, sha, meta, now, field, id
static const char *s_begin_lua =
    "local used = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if used + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return {1, used} end\n"
    "if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[3]) then return {2, used} end\n"
    "redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "redis.call('HSET', KEYS[2], 'user', ARGV[4], 'space', ARGV[5], 'name', ARGV[6],\n"
    "           'size', ARGV[1], 'sha', ARGV[7], 'meta', ARGV[8], 'touched', ARGV[9])\n"
    "redis.call('HSET', KEYS[3], ARGV[10], ARGV[11])\n"
    "redis.call('ZADD', KEYS[4], ARGV[9], ARGV[11])\n"
    "return {0, used}\n";

//  A pending upload goes: its records, and its size off the quota (only if
//  it was still recorded, so a second discard changes nothing; a leftover
//  in the sorted set goes all the same).
//  KEYS: fupload:ID, fuploads:USER, fuploads, fquota:USER  ARGV: field, id, size
static const char *s_discard_lua =
    "local existed = redis.call('DEL', KEYS[1])\n"
    "if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then\n"
    "    redis.call('HDEL', KEYS[2], ARGV[1])\n"
    "end\n"
    "redis.call('ZREM', KEYS[3], ARGV[2])\n"
    "if existed == 0 then return 0 end\n"
    "if redis.call('DECRBY', KEYS[4], ARGV[3]) < 0 then redis.call('SET', KEYS[4], 0) end\n"
    "return 1\n";

//  A finished upload becomes a listed file, unless the name was taken
//  meanwhile. The quota keeps the size: the file now holds it.
//  KEYS: fspace:SPACE, fmeta:ID, fupload:ID, fuploads:USER, fuploads
//  ARGV: name, id, space, size, sha, from, time, meta, field
static const char *s_list_lua =
    "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('HSET', KEYS[2], 'space', ARGV[3], 'name', ARGV[1], 'size', ARGV[4],\n"
    "           'sha', ARGV[5], 'from', ARGV[6], 'time', ARGV[7], 'meta', ARGV[8])\n"
    "redis.call('DEL', KEYS[3])\n"
    "if redis.call('HGET', KEYS[4], ARGV[9]) == ARGV[2] then\n"
    "    redis.call('HDEL', KEYS[4], ARGV[9])\n"
    "end\n"
    "redis.call('ZREM', KEYS[5], ARGV[2])\n"
    "return 0\n";

//  A listed file goes, and its size off its uploader's quota.
//  KEYS: fspace:SPACE, fmeta:ID, fquota:FROM  ARGV: name, id, size
static const char *s_remove_lua =
    "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 1 end\n"
    "redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "redis.call('DEL', KEYS[2])\n"
    "if redis.call('DECRBY', KEYS[3], ARGV[3]) < 0 then redis.call('SET', KEYS[3], 0) end\n"
    "return 0\n";

void
files_entry_destroy (files_entry_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        files_entry_t *self = *self_p;
        zstr_free (&self->id);
        zstr_free (&self->space);
        zstr_free (&self->name);
        zstr_free (&self->sha);
        zstr_free (&self->meta);
        zstr_free (&self->user);
        free (self);
        *self_p = NULL;
    }
}

files_store_t *
files_store_new (const char *host, int port)
{
    assert (host);
    files_store_t *self = (files_store_t *) zmalloc (sizeof (files_store_t));
    assert (self);
    self->redis = pc_redis_new ("filesvc", host, port);
    return self;
}

void
files_store_destroy (files_store_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        files_store_t *self = *self_p;
        pc_redis_destroy (&self->redis);
        free (self);
        *self_p = NULL;
    }
}

bool
files_store_available (files_store_t *self)
{
    assert (self);
    return pc_redis_available (self->redis);
}

//  --------------------------------------------------------------------------
//  The connection (as auth_store: lazy, dropped on any error)

//  EVAL script with nkeys keys then the arguments, all in args (strings).
static redisReply *
s_eval (files_store_t *self, const char *script, int nkeys, const char **args, size_t nargs)
{
    const char *argv [24];
    size_t argvlen [24];
    assert (nargs + 3 <= 24);
    char count [16];
    snprintf (count, sizeof (count), "%d", nkeys);
    argv [0] = "EVAL";
    argv [1] = script;
    argv [2] = count;
    for (size_t i = 0; i < nargs; i++)
        argv [i + 3] = args [i];
    for (size_t i = 0; i < nargs + 3; i++)
        argvlen [i] = strlen (argv [i]);
    return pc_redis_argv (self->redis, (int) nargs + 3, argv, argvlen);
}

//  A script's first integer (plain or first of an array), or -1.
static long long
s_script_rc (redisReply *reply, long long *second)
{
    if (reply->type == REDIS_REPLY_INTEGER)
        return reply->integer;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1
    &&  reply->element [0]->type == REDIS_REPLY_INTEGER) {
        if (second && reply->elements >= 2 && reply->element [1]->type == REDIS_REPLY_INTEGER)
            *second = reply->element [1]->integer;
        return reply->element [0]->integer;
    }
    return -1;
}

static char *
s_string (redisReply *reply)
{
    return reply && reply->type == REDIS_REPLY_STRING? strdup (reply->str): NULL;
}

static uint64_t
s_number (redisReply *reply)
{
    return reply && reply->type == REDIS_REPLY_STRING? strtoull (reply->str, NULL, 10): 0;
}

static char *
s_resume_field (const char *space, uint64_t size, const char *sha, const char *name)
{
    return zsys_sprintf ("%s\n%" PRIu64 "\n%s\n%s", space, size, sha, name);
}

//  --------------------------------------------------------------------------
//  Listed files

//  Reads fmeta:ID into a new entry (NULL when it is not there).
static files_entry_t *
s_entry_from_meta (redisReply *reply, const char *id)
{
    //  HMGET fmeta:ID space name size sha from time meta
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 7
    ||  reply->element [1]->type != REDIS_REPLY_STRING)
        return NULL;
    files_entry_t *entry = (files_entry_t *) zmalloc (sizeof (files_entry_t));
    assert (entry);
    entry->id = strdup (id);
    entry->space = s_string (reply->element [0]);
    entry->name = s_string (reply->element [1]);
    entry->size = s_number (reply->element [2]);
    entry->sha = s_string (reply->element [3]);
    entry->user = s_string (reply->element [4]);
    entry->time = (int64_t) s_number (reply->element [5]);
    entry->meta = s_string (reply->element [6]);
    if (!entry->space || !entry->sha || !entry->user || !entry->meta)
        files_entry_destroy (&entry);
    return entry;
}

static int
s_entry_compare (const files_entry_t *a, const files_entry_t *b)
{
    return strcmp (a->name, b->name);
}

int
files_store_list (files_store_t *self, const char *space, zlistx_t *entries)
{
    assert (self);
    redisReply *names = pc_redis_command (self->redis, "HGETALL fspace:%s", space);
    if (!names)
        return -1;
    int rc = 0;
    size_t count = names->type == REDIS_REPLY_ARRAY? names->elements / 2: 0;
    //  One round trip for the lot: pipelined HMGETs (HGETALL just worked,
    //  so the connection is there)
    redisContext *redis = pc_redis_context (self->redis);
    for (size_t i = 0; i < count && redis; i++)
        redisAppendCommand (redis, "HMGET fmeta:%s space name size sha from time meta",
                            names->element [2 * i + 1]->str);
    for (size_t i = 0; i < count && rc == 0; i++) {
        redisReply *meta = NULL;
        if (!redis || redisGetReply (redis, (void **) &meta) != REDIS_OK) {
            pc_redis_checked (self->redis, NULL);
            rc = -1;
            break;
        }
        files_entry_t *entry = s_entry_from_meta (meta, names->element [2 * i + 1]->str);
        if (entry)
            zlistx_add_end (entries, entry);
        freeReplyObject (meta);
    }
    freeReplyObject (names);
    zlistx_set_comparator (entries, (czmq_comparator *) s_entry_compare);
    pc_list_sort (entries, (czmq_comparator *) s_entry_compare);
    return rc;
}

int
files_store_lookup (files_store_t *self, const char *space, const char *name,
                    files_entry_t **entry_p)
{
    assert (self);
    *entry_p = NULL;
    redisReply *reply = pc_redis_command (self->redis, "HGET fspace:%s %s", space, name);
    if (!reply)
        return -1;
    char *id = s_string (reply);
    freeReplyObject (reply);
    if (!id)
        return 1;
    reply = pc_redis_command (self->redis, "HMGET fmeta:%s space name size sha from time meta", id);
    if (!reply) {
        free (id);
        return -1;
    }
    *entry_p = s_entry_from_meta (reply, id);
    freeReplyObject (reply);
    free (id);
    return *entry_p? 0: 1;
}

int
files_store_remove (files_store_t *self, files_entry_t *entry)
{
    assert (self);
    assert (entry);
    char *space_key = zsys_sprintf ("fspace:%s", entry->space);
    char *meta_key = zsys_sprintf ("fmeta:%s", entry->id);
    char *quota_key = zsys_sprintf ("fquota:%s", entry->user);
    char size [24];
    snprintf (size, sizeof (size), "%" PRIu64, entry->size);
    const char *args [] = { space_key, meta_key, quota_key, entry->name, entry->id, size };
    redisReply *reply = s_eval (self, s_remove_lua, 3, args, 6);
    zstr_free (&space_key);
    zstr_free (&meta_key);
    zstr_free (&quota_key);
    if (!reply)
        return -1;
    int rc = (int) s_script_rc (reply, NULL);
    freeReplyObject (reply);
    return rc == 0? 0: 1;
}

int
files_store_quota_used (files_store_t *self, const char *user, uint64_t *used_p)
{
    assert (self);
    redisReply *reply = pc_redis_command (self->redis, "GET fquota:%s", user);
    if (!reply)
        return -1;
    *used_p = s_number (reply);
    freeReplyObject (reply);
    return 0;
}

//  --------------------------------------------------------------------------
//  Pending uploads

int
files_store_upload_get (files_store_t *self, const char *id, files_entry_t **entry_p)
{
    assert (self);
    *entry_p = NULL;
    redisReply *reply = pc_redis_command (self->redis, "HMGET fupload:%s user space name size sha meta touched", id);
    if (!reply)
        return -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 7
    &&  reply->element [0]->type == REDIS_REPLY_STRING) {
        files_entry_t *entry = (files_entry_t *) zmalloc (sizeof (files_entry_t));
        assert (entry);
        entry->id = strdup (id);
        entry->user = s_string (reply->element [0]);
        entry->space = s_string (reply->element [1]);
        entry->name = s_string (reply->element [2]);
        entry->size = s_number (reply->element [3]);
        entry->sha = s_string (reply->element [4]);
        entry->meta = s_string (reply->element [5]);
        entry->time = (int64_t) s_number (reply->element [6]);
        if (entry->space && entry->name && entry->sha && entry->meta)
            *entry_p = entry;
        else
            files_entry_destroy (&entry);
    }
    freeReplyObject (reply);
    return *entry_p? 0: 1;
}

int
files_store_upload_find (files_store_t *self, const char *user, const char *space,
                         const char *name, uint64_t size, const char *sha,
                         files_entry_t **entry_p)
{
    assert (self);
    *entry_p = NULL;
    char *field = s_resume_field (space, size, sha, name);
    redisReply *reply = pc_redis_command (self->redis, "HGET fuploads:%s %s", user, field);
    zstr_free (&field);
    if (!reply)
        return -1;
    char *id = s_string (reply);
    freeReplyObject (reply);
    if (!id)
        return 1;
    int rc = files_store_upload_get (self, id, entry_p);
    free (id);
    return rc;
}

int
files_store_upload_begin (files_store_t *self, files_entry_t *entry, uint64_t quota,
                          size_t max_pending, int64_t now_ms, uint64_t *used_p)
{
    assert (self);
    assert (entry);
    char *quota_key = zsys_sprintf ("fquota:%s", entry->user);
    char *upload_key = zsys_sprintf ("fupload:%s", entry->id);
    char *user_key = zsys_sprintf ("fuploads:%s", entry->user);
    char *field = s_resume_field (entry->space, entry->size, entry->sha, entry->name);
    char size [24], limit [24], pending [24], now [24];
    snprintf (size, sizeof (size), "%" PRIu64, entry->size);
    snprintf (limit, sizeof (limit), "%" PRIu64, quota);
    snprintf (pending, sizeof (pending), "%zu", max_pending);
    snprintf (now, sizeof (now), "%" PRId64, now_ms);
    const char *args [] = {
        quota_key, upload_key, user_key, "fuploads",
        size, limit, pending, entry->user, entry->space, entry->name, entry->sha,
        entry->meta, now, field, entry->id
    };
    redisReply *reply = s_eval (self, s_begin_lua, 4, args, 15);
    zstr_free (&quota_key);
    zstr_free (&upload_key);
    zstr_free (&user_key);
    zstr_free (&field);
    if (!reply)
        return -1;
    long long used = 0;
    int rc = (int) s_script_rc (reply, &used);
    freeReplyObject (reply);
    if (used_p)
        *used_p = used > 0? (uint64_t) used: 0;
    return rc >= 0 && rc <= 2? rc: -1;
}

int
files_store_upload_touch (files_store_t *self, const char *id, int64_t now_ms)
{
    assert (self);
    redisReply *reply = pc_redis_command (self->redis, "ZADD fuploads XX %lld %s", (long long) now_ms, id);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

int
files_store_upload_discard (files_store_t *self, files_entry_t *entry)
{
    assert (self);
    assert (entry);
    char *upload_key = zsys_sprintf ("fupload:%s", entry->id);
    char *user_key = zsys_sprintf ("fuploads:%s", entry->user);
    char *quota_key = zsys_sprintf ("fquota:%s", entry->user);
    char *field = s_resume_field (entry->space, entry->size, entry->sha, entry->name);
    char size [24];
    snprintf (size, sizeof (size), "%" PRIu64, entry->size);
    const char *args [] = { upload_key, user_key, "fuploads", quota_key, field, entry->id, size };
    redisReply *reply = s_eval (self, s_discard_lua, 4, args, 7);
    zstr_free (&upload_key);
    zstr_free (&user_key);
    zstr_free (&quota_key);
    zstr_free (&field);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

//  Splits a resume field ("SPACE\nSIZE\nSHA\nNAME") into entry (space,
//  size, sha, name; the name is the rest, whatever it holds): false when it
//  is not one.
static bool
s_parse_resume_field (const char *field, files_entry_t *entry)
{
    const char *size_at = strchr (field, '\n');
    const char *sha_at = size_at? strchr (size_at + 1, '\n'): NULL;
    const char *name_at = sha_at? strchr (sha_at + 1, '\n'): NULL;
    if (!name_at || sha_at == size_at + 1)
        return false;
    for (const char *digit = size_at + 1; digit < sha_at; digit++)
        if (*digit < '0' || *digit > '9')
            return false;
    entry->space = strndup (field, (size_t) (size_at - field));
    entry->size = strtoull (size_at + 1, NULL, 10);
    entry->sha = strndup (sha_at + 1, (size_t) (name_at - sha_at - 1));
    entry->name = strdup (name_at + 1);
    assert (entry->space && entry->sha && entry->name);
    return true;
}

int
files_store_upload_replace (files_store_t *self, const char *user, const char *space,
                            const char *name, uint64_t size, const char *sha, zlistx_t *ids)
{
    assert (self);
    assert (ids);
    redisReply *reply = pc_redis_command (self->redis, "HGETALL fuploads:%s", user);
    if (!reply)
        return -1;
    //  The uploads to discard, collected first: discarding uses the connection
    zlistx_t *doomed = zlistx_new ();
    zlistx_set_destructor (doomed, (czmq_destructor *) files_entry_destroy);
    size_t count = reply->type == REDIS_REPLY_ARRAY? reply->elements / 2: 0;
    for (size_t i = 0; i < count; i++) {
        redisReply *field = reply->element [2 * i];
        redisReply *id = reply->element [2 * i + 1];
        if (field->type != REDIS_REPLY_STRING || id->type != REDIS_REPLY_STRING)
            continue;
        files_entry_t *entry = (files_entry_t *) zmalloc (sizeof (files_entry_t));
        assert (entry);
        if (s_parse_resume_field (field->str, entry)
        &&  streq (entry->space, space) && streq (entry->name, name)
        &&  (entry->size != size || !streq (entry->sha, sha))) {
            entry->id = strdup (id->str);
            entry->user = strdup (user);
            entry->meta = strdup ("");
            zlistx_add_end (doomed, entry);
        }
        else
            files_entry_destroy (&entry);
    }
    freeReplyObject (reply);
    int rc = 0;
    for (files_entry_t *entry = (files_entry_t *) zlistx_first (doomed); entry && rc == 0;
         entry = (files_entry_t *) zlistx_next (doomed)) {
        rc = files_store_upload_discard (self, entry);
        if (rc == 0)
            zlistx_add_end (ids, strdup (entry->id));
    }
    zlistx_destroy (&doomed);
    return rc;
}

int
files_store_upload_list (files_store_t *self, files_entry_t *entry, int64_t now_ms)
{
    assert (self);
    assert (entry);
    char *space_key = zsys_sprintf ("fspace:%s", entry->space);
    char *meta_key = zsys_sprintf ("fmeta:%s", entry->id);
    char *upload_key = zsys_sprintf ("fupload:%s", entry->id);
    char *user_key = zsys_sprintf ("fuploads:%s", entry->user);
    char *field = s_resume_field (entry->space, entry->size, entry->sha, entry->name);
    char size [24], now [24];
    snprintf (size, sizeof (size), "%" PRIu64, entry->size);
    snprintf (now, sizeof (now), "%" PRId64, now_ms);
    const char *args [] = {
        space_key, meta_key, upload_key, user_key, "fuploads",
        entry->name, entry->id, entry->space, size, entry->sha, entry->user, now,
        entry->meta, field
    };
    redisReply *reply = s_eval (self, s_list_lua, 5, args, 14);
    zstr_free (&space_key);
    zstr_free (&meta_key);
    zstr_free (&upload_key);
    zstr_free (&user_key);
    zstr_free (&field);
    if (!reply)
        return -1;
    int rc = (int) s_script_rc (reply, NULL);
    freeReplyObject (reply);
    if (rc == 0)
        entry->time = now_ms;
    return rc == 0 || rc == 1? rc: -1;
}

int
files_store_upload_stale (files_store_t *self, int64_t cutoff_ms, size_t limit, zlistx_t *ids)
{
    assert (self);
    redisReply *reply = pc_redis_command (self->redis, "ZRANGEBYSCORE fuploads -inf %lld LIMIT 0 %llu",
                                   (long long) cutoff_ms, (unsigned long long) limit);
    if (!reply)
        return -1;
    if (reply->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < reply->elements; i++)
            if (reply->element [i]->type == REDIS_REPLY_STRING)
                zlistx_add_end (ids, strdup (reply->element [i]->str));
    freeReplyObject (reply);
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest

static files_entry_t *
s_test_entry (const char *id, const char *user, const char *space, const char *name, uint64_t size)
{
    files_entry_t *entry = (files_entry_t *) zmalloc (sizeof (files_entry_t));
    entry->id = strdup (id);
    entry->user = strdup (user);
    entry->space = strdup (space);
    entry->name = strdup (name);
    entry->sha = strdup ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    entry->meta = strdup ("");
    entry->size = size;
    return entry;
}

//  Begin (quota, pending limit), resume, list, remove, discard, the stale
//  sweep. Returns bob's upload that lost its name (caller destroys).
static files_entry_t *
s_test_lifecycle (files_store_t *store, zlistx_t *entries, zlistx_t *ids)
{
    //  Two uploads: the quota holds both, a third is over it
    files_entry_t *one = s_test_entry ("00000000000000000000000000000001", "alice",
                                       "room/lobby", "b report.pdf", 600);
    files_entry_t *two = s_test_entry ("00000000000000000000000000000002", "alice",
                                       "room/lobby", "a notes.txt", 300);
    files_entry_t *three = s_test_entry ("00000000000000000000000000000003", "alice",
                                         "room/lobby", "c.bin", 200);
    uint64_t used = 0;
    assert (files_store_upload_begin (store, one, 1000, 8, 1000, &used) == 0 && used == 0);
    assert (files_store_upload_begin (store, two, 1000, 8, 2000, &used) == 0 && used == 600);
    assert (files_store_upload_begin (store, three, 1000, 8, 3000, &used) == 1 && used == 900);
    assert (files_store_upload_begin (store, three, 10000, 2, 3000, &used) == 2);
    assert (files_store_quota_used (store, "alice", &used) == 0 && used == 900);

    //  Resume: found by user, space, name, size and sha only
    files_entry_t *found = NULL;
    assert (files_store_upload_find (store, "alice", "room/lobby", "b report.pdf", 600,
                                     one->sha, &found) == 0);
    assert (streq (found->id, one->id) && found->size == 600 && streq (found->user, "alice"));
    assert (found->time == 1000);
    files_entry_destroy (&found);
    assert (files_store_upload_find (store, "bob", "room/lobby", "b report.pdf", 600,
                                     one->sha, &found) == 1 && !found);
    assert (files_store_upload_find (store, "alice", "room/lobby", "b report.pdf", 601,
                                     one->sha, &found) == 1);

    //  Listed: in the space, sorted by name; the name is then taken
    assert (files_store_upload_list (store, one, 5000) == 0);
    assert (files_store_upload_list (store, two, 5001) == 0);
    assert (files_store_upload_get (store, one->id, &found) == 1);
    assert (files_store_list (store, "room/lobby", entries) == 0);
    assert (zlistx_size (entries) == 2);
    files_entry_t *first = (files_entry_t *) zlistx_first (entries);
    assert (streq (first->name, "a notes.txt") && first->size == 300 && first->time == 5001);
    assert (streq (first->user, "alice") && streq (first->id, two->id));
    zlistx_purge (entries);
    assert (files_store_lookup (store, "room/lobby", "b report.pdf", &found) == 0);
    assert (streq (found->id, one->id) && found->size == 600);
    files_entry_destroy (&found);
    assert (files_store_lookup (store, "room/other", "b report.pdf", &found) == 1);
    assert (files_store_upload_begin (store, three, 1000, 8, 6000, &used) == 1);

    //  Removed: unlisted, the quota given back (once)
    assert (files_store_lookup (store, "room/lobby", "b report.pdf", &found) == 0);
    assert (files_store_remove (store, found) == 0);
    assert (files_store_remove (store, found) == 1);
    files_entry_destroy (&found);
    assert (files_store_quota_used (store, "alice", &used) == 0 && used == 300);

    //  Discarded pending upload: quota back once; stale sweep finds old ones
    assert (files_store_upload_begin (store, three, 1000, 8, 6000, &used) == 0);
    assert (files_store_upload_stale (store, 5999, 10, ids) == 0 && zlistx_size (ids) == 0);
    assert (files_store_upload_touch (store, three->id, 7000) == 0);
    assert (files_store_upload_stale (store, 6500, 10, ids) == 0 && zlistx_size (ids) == 0);
    assert (files_store_upload_stale (store, 7000, 10, ids) == 0 && zlistx_size (ids) == 1);
    assert (streq ((char *) zlistx_first (ids), three->id));
    assert (files_store_upload_discard (store, three) == 0);
    assert (files_store_upload_discard (store, three) == 0);
    assert (files_store_quota_used (store, "alice", &used) == 0 && used == 300);
    assert (files_store_upload_find (store, "alice", "room/lobby", "c.bin", 200,
                                     three->sha, &found) == 1);
    //  The name taken between FPUT and FDONE
    files_entry_t *rival = s_test_entry ("00000000000000000000000000000004", "bob",
                                         "room/lobby", "a notes.txt", 10);
    assert (files_store_upload_begin (store, rival, 1000, 8, 8000, &used) == 0);
    assert (files_store_upload_list (store, rival, 8001) == 1);

    files_entry_destroy (&one);
    files_entry_destroy (&two);
    files_entry_destroy (&three);
    return rival;
}

static void
s_test_replace (files_store_t *store, zlistx_t *ids)
{
    uint64_t used = 0;
    files_entry_t *found = NULL;
    //  The newest FPUT of a name wins: only the user's uploads of that space
    //  and name of another size or sha go, each given back to the quota once
    files_entry_t *old = s_test_entry ("00000000000000000000000000000005", "alice",
                                       "room/lobby", "d.bin", 100);
    files_entry_t *older = s_test_entry ("00000000000000000000000000000006", "alice",
                                         "room/lobby", "d.bin", 101);
    files_entry_t *elsewhere = s_test_entry ("00000000000000000000000000000007", "alice",
                                             "room/lobby2", "d.bin", 102);
    files_entry_t *another = s_test_entry ("00000000000000000000000000000008", "alice",
                                           "room/lobby", "xd.bin", 103);
    files_entry_t *bobs = s_test_entry ("00000000000000000000000000000009", "bob",
                                        "room/lobby", "d.bin", 104);
    files_entry_t *odd = s_test_entry ("0000000000000000000000000000000a", "alice",
                                       "room/lobby", "d.bin\nx", 105);
    files_entry_t *pending [] = { old, older, elsewhere, another, bobs, odd };
    zlistx_purge (ids);
    for (size_t i = 0; i < sizeof (pending) / sizeof (pending [0]); i++)
        assert (files_store_upload_begin (store, pending [i], 10000, 8, 9000, &used) == 0);
    assert (files_store_quota_used (store, "alice", &used) == 0 && used == 300 + 511);
    //  d.bin of 100 bytes (and that sha) is the exact match: it stays
    assert (files_store_upload_replace (store, "alice", "room/lobby", "d.bin", 100, old->sha,
                                        ids) == 0);
    assert (zlistx_size (ids) == 1 && streq ((char *) zlistx_first (ids), older->id));
    zlistx_purge (ids);
    assert (files_store_quota_used (store, "alice", &used) == 0 && used == 300 + 410);
    assert (files_store_upload_get (store, older->id, &found) == 1);
    assert (files_store_upload_find (store, "alice", "room/lobby", "d.bin", 101, older->sha,
                                     &found) == 1);
    //  Another sha of the same size replaces it
    const char *other_sha = "0123456789abcdef0123456789abcdef"
                            "0123456789abcdef0123456789abcdef";
    assert (files_store_upload_replace (store, "alice", "room/lobby", "d.bin", 100, other_sha,
                                        ids) == 0);
    assert (zlistx_size (ids) == 1 && streq ((char *) zlistx_first (ids), old->id));
    zlistx_purge (ids);
    assert (files_store_quota_used (store, "alice", &used) == 0 && used == 300 + 310);
    //  Nothing left to replace: nothing changes (a discard is given back once)
    assert (files_store_upload_replace (store, "alice", "room/lobby", "d.bin", 1, old->sha,
                                        ids) == 0 && zlistx_size (ids) == 0);
    assert (files_store_upload_discard (store, old) == 0);
    assert (files_store_quota_used (store, "alice", &used) == 0 && used == 300 + 310);
    //  Other spaces, other names, other users are untouched
    for (size_t i = 2; i < sizeof (pending) / sizeof (pending [0]); i++) {
        assert (files_store_upload_get (store, pending [i]->id, &found) == 0);
        assert (streq (found->name, pending [i]->name) && found->size == pending [i]->size);
        files_entry_destroy (&found);
    }
    assert (files_store_quota_used (store, "bob", &used) == 0 && used == 10 + 104);
    for (size_t i = 0; i < sizeof (pending) / sizeof (pending [0]); i++)
        files_entry_destroy (&pending [i]);

}

//  Redis goes away: prompt -1, then it recovers (on the same port).
static void
s_test_outage (files_store_t *store, pid_t *redis_p, int port, zlistx_t *entries,
               zlistx_t *ids, files_entry_t *rival)
{
    uint64_t used = 0;
    files_entry_t *found = NULL;
    pc_redis_server_stop (*redis_p);
    int64_t start = zclock_mono ();
    assert (files_store_list (store, "room/lobby", entries) == -1);
    assert (!files_store_available (store));
    assert (files_store_lookup (store, "room/lobby", "x", &found) == -1);
    assert (files_store_upload_begin (store, rival, 1000, 8, 8000, &used) == -1);
    assert (files_store_upload_replace (store, "bob", "room/lobby", "d.bin", 1, rival->sha,
                                        ids) == -1 && zlistx_size (ids) == 0);
    assert (zclock_mono () - start < 5000);
    *redis_p = pc_redis_server_start (&port);
    assert (*redis_p > 0);
    assert (files_store_list (store, "room/lobby", entries) == 0);
    assert (files_store_available (store));

}

void
files_store_test (bool verbose)
{
    printf (" * files_store: ");
    int port = 0;
    pid_t redis = pc_redis_server_start (&port);
    if (redis == -1) {
        printf ("SKIPPED (cannot start redis-server)\n");
        return;
    }
    files_store_t *store = files_store_new ("127.0.0.1", port);
    zlistx_t *entries = zlistx_new ();
    zlistx_set_destructor (entries, (czmq_destructor *) files_entry_destroy);
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, (czmq_destructor *) zstr_free);
    assert (files_store_list (store, "room/lobby", entries) == 0);
    assert (zlistx_size (entries) == 0);
    files_entry_t *rival = s_test_lifecycle (store, entries, ids);
    s_test_replace (store, ids);
    s_test_outage (store, &redis, port, entries, ids, rival);
    zlistx_destroy (&ids);
    zlistx_destroy (&entries);
    files_entry_destroy (&rival);
    files_store_destroy (&store);
    files_store_destroy (&store);
    pc_redis_server_stop (redis);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

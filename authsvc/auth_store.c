//  auth_store.c: accounts and login throttling in Redis (hiredis 0.14).
#include "auth_store.h"
#include "pc_util.h"
#include "pc_keys.h"
#include "pc_limits.h"

#include <czmq.h>
#include <hiredis/hiredis.h>
#include "pc_redis.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

struct _auth_store_t {
    pc_redis_t   *redis;            //  connected lazily; outages logged once
    int           account_limit;
    int           source_limit;
};

//  Creating an account is one Lua script, which Redis runs atomically: of
//  two REGISTERs of one name (from any number of authsvc processes) exactly
//  one finds the key missing.
//  KEYS: user:NAME, users  ARGV: hash, created, name
static const char *s_create_lua =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'hash', ARGV[1], 'role', 'user', 'created', ARGV[2])\n"
    "redis.call('SADD', KEYS[2], ARGV[3])\n"
    "return 1\n";

//  Remaining lock time of the account and of the source, in ms (<= 0: none).
//  KEYS: lock:acct:NAME, lock:src:SRC
static const char *s_locks_lua =
    "return { redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2]) }\n";

//  Counts a failure for the account and for the source. Under the limit the
//  counter lives AUTH_FAIL_WINDOW_S from its first failure; at the limit and
//  past it, each failure locks for 2 s, 4 s, 8 s ... (at most 15 min) and the
//  counter is kept for the lock plus the window, so that the next failure
//  after the lock doubles the delay instead of starting over.
//  KEYS: fail:acct:NAME, lock:acct:NAME, fail:src:SRC, lock:src:SRC
//  ARGV: account limit, source limit, window s, first lock ms, max lock ms
static const char *s_failed_lua =
    "local function fail (counter, lock, limit)\n"
    "    local n = redis.call('INCR', counter)\n"
    "    if n < limit then\n"
    "        if n == 1 or redis.call('TTL', counter) < 0 then\n"
    "            redis.call('EXPIRE', counter, tonumber (ARGV[3]))\n"
    "        end\n"
    "        return 0\n"
    "    end\n"
    "    local ms = tonumber (ARGV[4])\n"
    "    local max = tonumber (ARGV[5])\n"
    "    for i = 1, n - limit do\n"
    "        ms = ms * 2\n"
    "        if ms >= max then ms = max break end\n"
    "    end\n"
    "    redis.call('SET', lock, '1', 'PX', ms)\n"
    "    redis.call('PEXPIRE', counter, ms + tonumber (ARGV[3]) * 1000)\n"
    "    return ms\n"
    "end\n"
    "return { fail (KEYS[1], KEYS[2], tonumber (ARGV[1])),\n"
    "         fail (KEYS[3], KEYS[4], tonumber (ARGV[2])) }\n";

//  A successful LOGIN: last_login (only on an account that still exists, so
//  no half account is ever created) and the account's failures forgotten.
//  KEYS: user:NAME, fail:acct:NAME, lock:acct:NAME  ARGV: now
static const char *s_login_ok_lua =
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "    redis.call('HSET', KEYS[1], 'last_login', ARGV[1])\n"
    "end\n"
    "redis.call('DEL', KEYS[2], KEYS[3])\n"
    "return 1\n";

auth_store_t *
auth_store_new (const char *host, int port)
{
    assert (host);
    auth_store_t *self = (auth_store_t *) zmalloc (sizeof (auth_store_t));
    assert (self);
    self->redis = pc_redis_new ("authsvc", host, port);
    self->account_limit = AUTH_ACCOUNT_LIMIT;
    self->source_limit = AUTH_SOURCE_LIMIT;
    return self;
}

void
auth_store_destroy (auth_store_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        auth_store_t *self = *self_p;
        pc_redis_destroy (&self->redis);
        free (self);
        *self_p = NULL;
    }
}

pc_redis_t *
auth_store_redis (auth_store_t *self)
{
    assert (self);
    return self->redis;
}

void
auth_store_set_limits (auth_store_t *self, int account_limit, int source_limit)
{
    assert (self);
    assert (account_limit > 0 && source_limit > 0);
    self->account_limit = account_limit;
    self->source_limit = source_limit;
}

//  An integer reply or element as a number (Lua numbers come as integers).
static bool
s_integer (redisReply *reply, long long *value)
{
    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        *value = reply->integer;
        return true;
    }
    return false;
}

int
auth_store_user_create (auth_store_t *self, const char *name, const char *hash, int64_t now_ms)
{
    assert (self);
    assert (name && hash);
    redisReply *reply = pc_redis_command (self->redis, "EVAL %s 2 user:%s users %s %lld %s",
                                   s_create_lua, name, hash, (long long) now_ms, name);
    long long created;
    if (!reply)
        return -1;
    int rc = s_integer (reply, &created)? (created? 0: 1): -1;
    if (rc == -1)
        pc_redis_down (self->redis, "unexpected reply to account creation");
    freeReplyObject (reply);
    return rc;
}

int
auth_store_user_lookup (auth_store_t *self, const char *name, char **hash_p, char **role_p)
{
    assert (self);
    assert (name && hash_p && role_p);
    *hash_p = NULL;
    *role_p = NULL;
    redisReply *reply = pc_redis_command (self->redis, "HMGET user:%s hash role", name);
    if (!reply)
        return -1;
    int rc = -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        redisReply *hash = reply->element [0];
        redisReply *role = reply->element [1];
        if (hash->type != REDIS_REPLY_STRING)
            rc = 1;                     //  no account (or no hash: cannot log in)
        else {
            *hash_p = strdup (hash->str);
            *role_p = strdup (role->type == REDIS_REPLY_STRING && role->len? role->str: "user");
            assert (*hash_p && *role_p);
            rc = 0;
        }
    }
    else
        pc_redis_down (self->redis, "unexpected reply to HMGET");
    freeReplyObject (reply);
    return rc;
}

int
auth_store_throttled (auth_store_t *self, const char *name, const char *source, int *wait_s)
{
    assert (self);
    assert (name && source && wait_s);
    *wait_s = 0;
    redisReply *reply = pc_redis_command (self->redis, "EVAL %s 2 lock:acct:%s lock:src:%s",
                                   s_locks_lua, name, source);
    if (!reply)
        return -1;
    long long account_ms, source_ms;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
    ||  !s_integer (reply->element [0], &account_ms)
    ||  !s_integer (reply->element [1], &source_ms)) {
        pc_redis_down (self->redis, "unexpected reply to PTTL");
        freeReplyObject (reply);
        return -1;
    }
    freeReplyObject (reply);
    //  PTTL: -2 no lock, -1 a lock without expiry (never written by us:
    //  ignore it rather than lock an account for ever).
    long long left_ms = account_ms > source_ms? account_ms: source_ms;
    if (left_ms <= 0)
        return 0;
    long long seconds = (left_ms + 999) / 1000;
    *wait_s = seconds < 1? 1: (int) seconds;
    return 1;
}

int
auth_store_login_failed (auth_store_t *self, const char *name, const char *source)
{
    assert (self);
    assert (name && source);
    redisReply *reply = pc_redis_command (self->redis,
        "EVAL %s 4 fail:acct:%s lock:acct:%s fail:src:%s lock:src:%s %d %d %d %d %d",
        s_failed_lua, name, name, source, source,
        self->account_limit, self->source_limit, AUTH_FAIL_WINDOW_S,
        AUTH_LOCK_FIRST_MS, AUTH_LOCK_MAX_MS);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

int
auth_store_login_ok (auth_store_t *self, const char *name, int64_t now_ms)
{
    assert (self);
    assert (name);
    redisReply *reply = pc_redis_command (self->redis, "EVAL %s 3 user:%s fail:acct:%s lock:acct:%s %lld",
                                   s_login_ok_lua, name, name, name, (long long) now_ms);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest helpers: a private redis-server

//  A port the kernel just handed out, hence free (for now) on 127.0.0.1.
//  Only an existing account changes: HSET alone would create a half account.
static const char *s_user_set_lua =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end "
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) "
    "return 0";

int
auth_store_user_set (auth_store_t *self, const char *name, const char *field, const char *value)
{
    assert (self);
    redisReply *reply = pc_redis_command (self->redis, "EVAL %s 1 user:%s %s %s", s_user_set_lua, name, field, value);
    if (!reply)
        return -1;
    long long result = -1;
    int rc = s_integer (reply, &result) && (result == 0 || result == 1)? (int) result: -1;
    freeReplyObject (reply);
    return rc;
}

int
auth_store_user_banned (auth_store_t *self, const char *name)
{
    assert (self);
    redisReply *reply = pc_redis_command (self->redis, "HGET user:%s banned", name);
    if (!reply)
        return -1;
    int rc = reply->type == REDIS_REPLY_STRING && streq (reply->str, "1")? 1: 0;
    freeReplyObject (reply);
    return rc;
}

int
auth_store_user_delete (auth_store_t *self, const char *name)
{
    assert (self);
    redisReply *reply = pc_redis_command (self->redis, "DEL user:%s", name);
    if (!reply)
        return -1;
    long long deleted = 0;
    int rc = s_integer (reply, &deleted)? (deleted? 0: 1): -1;
    freeReplyObject (reply);
    if (rc == 0) {
        reply = pc_redis_command (self->redis, "SREM users %s", name);
        if (!reply)
            return -1;
        freeReplyObject (reply);
        //  The links between the ids of its DMs (broker_dm_kinds)
        reply = pc_redis_command (self->redis, "DEL dmlink:%s", name);
        if (!reply)
            return -1;
        freeReplyObject (reply);
    }
    return rc;
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

int
auth_store_users (auth_store_t *self, zlistx_t *lines)
{
    assert (self);
    redisReply *names = pc_redis_command (self->redis, "SMEMBERS users");
    if (!names)
        return -1;
    int rc = 0;
    for (size_t i = 0; names->type == REDIS_REPLY_ARRAY && i < names->elements && rc == 0; i++) {
        const char *name = names->element [i]->str;
        if (!name)
            continue;
        redisReply *user = pc_redis_command (self->redis, "HMGET user:%s role created last_login banned", name);
        if (!user) {
            rc = -1;
            break;
        }
        if (user->type == REDIS_REPLY_ARRAY && user->elements == 4 && user->element [1]->str) {
            const char *role = user->element [0]->str;
            const char *last = user->element [2]->str;
            const char *banned = user->element [3]->str;
            zlistx_add_end (lines, zsys_sprintf ("%s %s %s %s %s", name, role? role: "user",
                                                 user->element [1]->str, last? last: "0",
                                                 banned && streq (banned, "1")? "1": "0"));
        }
        freeReplyObject (user);
    }
    freeReplyObject (names);
    zlistx_set_comparator (lines, s_compare);
    pc_list_sort (lines, s_compare);
    return rc;
}

int
auth_store_audit (auth_store_t *self, const char *actor, const char *action, const char *target)
{
    assert (self);
    redisReply *reply = pc_redis_command (self->redis, "XADD audit MAXLEN ~ 10000 * ts %lld actor %s action %s target %s source authsvc",
                                   (long long) pc_now_ms (), actor, action, target);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

//  Only an existing account gets a device: HSET alone would create a hash.
//  ARGV: key, id, device name, now (ms), PC_DEVICES_MAX.
static const char *s_device_set_lua =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end "
    "if redis.call('HEXISTS', KEYS[1], 'revoked:' .. ARGV[1]) == 1 then return 2 end "
    "local field = 'dev:' .. ARGV[2] "
    "local added = ARGV[4] "
    "local current = redis.call('HGET', KEYS[1], field) "
    "if current then "
    "  local key, since = string.match(current, '^(%S+) (%S+)') "
    "  if key ~= ARGV[1] then return 4 end "
    "  added = since "
    "else "
    "  local count = 0 "
    "  for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do "
    "    if string.sub(name, 1, 4) == 'dev:' then count = count + 1 end "
    "  end "
    "  if count >= tonumber(ARGV[5]) then return 3 end "
    "end "
    "redis.call('HSET', KEYS[1], field, ARGV[1] .. ' ' .. added .. ' ' .. ARGV[3], 'dmkey', ARGV[1]) "
    "return 0";

int
auth_store_device_set (auth_store_t *self, const char *name, const char *key,
                       const char *id, const char *device)
{
    assert (self);
    redisReply *reply = pc_redis_command (self->redis, "EVAL %s 1 user:%s %s %s %s %lld %d",
                                          s_device_set_lua, name, key, id, device,
                                          (long long) pc_now_ms (), PC_DEVICES_MAX);
    if (!reply)
        return -1;
    long long value = -1;
    int rc = s_integer (reply, &value) && value >= 0 && value <= 4? (int) value: -1;
    if (rc == -1)
        pc_redis_down (self->redis, "unexpected reply to device set");
    freeReplyObject (reply);
    return rc;
}

//  The revoked key is remembered, so that the device cannot add itself
//  again at its next login; dmkey moves to a device that is left.
static const char *s_device_revoke_lua =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end "
    "local field = 'dev:' .. ARGV[1] "
    "local current = redis.call('HGET', KEYS[1], field) "
    "if not current then return 2 end "
    "local key = string.match(current, '^(%S+)') "
    "redis.call('HDEL', KEYS[1], field) "
    "redis.call('HSET', KEYS[1], 'revoked:' .. key, ARGV[2]) "
    "if redis.call('HGET', KEYS[1], 'dmkey') == key then "
    "  redis.call('HDEL', KEYS[1], 'dmkey') "
    "  local all = redis.call('HGETALL', KEYS[1]) "
    "  for i = 1, #all, 2 do "
    "    if string.sub(all[i], 1, 4) == 'dev:' then "
    "      redis.call('HSET', KEYS[1], 'dmkey', string.match(all[i + 1], '^(%S+)')) "
    "      break "
    "    end "
    "  end "
    "end "
    "return 0";

int
auth_store_device_revoke (auth_store_t *self, const char *name, const char *id)
{
    assert (self);
    redisReply *reply = pc_redis_command (self->redis, "EVAL %s 1 user:%s %s %lld",
                                          s_device_revoke_lua, name, id, (long long) pc_now_ms ());
    if (!reply)
        return -1;
    long long value = -1;
    int rc = s_integer (reply, &value) && value >= 0 && value <= 2? (int) value: -1;
    if (rc == -1)
        pc_redis_down (self->redis, "unexpected reply to device revoke");
    freeReplyObject (reply);
    return rc;
}

int
auth_store_devices (auth_store_t *self, const char *name, zlistx_t *devices)
{
    assert (self);
    redisReply *reply = pc_redis_command (self->redis, "HGETALL user:%s", name);
    if (!reply)
        return -1;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2) {
        pc_redis_down (self->redis, "unexpected reply to HGETALL");
        freeReplyObject (reply);
        return -1;
    }
    const char *dmkey = NULL;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        redisReply *field = reply->element [i], *value = reply->element [i + 1];
        if (field->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
            continue;
        if (streq (field->str, "dmkey"))
            dmkey = value->str;
        else
        if (strncmp (field->str, "dev:", 4) == 0)
            zlistx_add_end (devices, zsys_sprintf ("%s %s", field->str + 4, value->str));
    }
    char id [PC_DEVICE_ID];
    if (zlistx_size (devices) == 0 && dmkey && pc_keys_device_id (dmkey, id))
        zlistx_add_end (devices, zsys_sprintf ("%s %s 0 unknown", id, dmkey));
    int rc = reply->elements? 0: 2;
    freeReplyObject (reply);
    return rc;
}

int
auth_store_key_get (auth_store_t *self, const char *name, char **key_p)
{
    assert (self);
    *key_p = NULL;
    redisReply *reply = pc_redis_command (self->redis, "HMGET user:%s dmkey hash", name);
    if (!reply)
        return -1;
    int rc = -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        redisReply *key = reply->element [0];
        if (key->type == REDIS_REPLY_STRING && key->len) {
            *key_p = strdup (key->str);
            rc = 0;
        }
        else
            rc = reply->element [1]->type == REDIS_REPLY_STRING? 1: 2;
    }
    else
        pc_redis_down (self->redis, "unexpected reply to HMGET");
    freeReplyObject (reply);
    return rc;
}

//  --------------------------------------------------------------------------
//  Selftest

//  Simulates a lock running out, without waiting for it.
static void
s_test_expire_lock (auth_store_t *self, const char *kind, const char *id)
{
    redisReply *reply = pc_redis_command (self->redis, "DEL lock:%s:%s", kind, id);
    assert (reply);
    freeReplyObject (reply);
}

//  Accounts: created once, then taken
static void
s_test_accounts (auth_store_t *store, int port)
{
    assert (auth_store_user_create (store, "alice", "$argon2id$fake", 1700000000000) == 0);
    assert (auth_store_user_create (store, "alice", "$argon2id$other", 1700000000001) == 1);
    char *hash, *role;
    assert (auth_store_user_lookup (store, "alice", &hash, &role) == 0);
    assert (streq (hash, "$argon2id$fake"));
    assert (streq (role, "user"));
    zstr_free (&hash);
    zstr_free (&role);
    assert (auth_store_user_lookup (store, "bob", &hash, &role) == 1);
    assert (hash == NULL && role == NULL);
    redisReply *reply = pc_redis_command (store->redis, "SISMEMBER users alice");
    assert (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1);
    freeReplyObject (reply);
    reply = pc_redis_command (store->redis, "HGET user:alice created");
    assert (reply && reply->type == REDIS_REPLY_STRING && streq (reply->str, "1700000000000"));
    freeReplyObject (reply);

    //  Two stores (as two processes would) racing for one name: one wins
    auth_store_t *rival = auth_store_new ("127.0.0.1", port);
    int first = auth_store_user_create (store, "carol", "$h1", 1);
    int second = auth_store_user_create (rival, "carol", "$h2", 2);
    assert (first == 0 && second == 1);
    auth_store_destroy (&rival);

    //  Successful login stamps last_login
    assert (auth_store_login_ok (store, "alice", 1700000000123) == 0);
    assert (auth_store_user_banned (store, "alice") == 0);
    assert (auth_store_user_set (store, "alice", "banned", "1") == 0);
    assert (auth_store_user_banned (store, "alice") == 1);
    assert (auth_store_user_set (store, "alice", "banned", "0") == 0);
    assert (auth_store_user_set (store, "ghost", "banned", "1") == 1);
    zlistx_t *lines = zlistx_new ();
    zlistx_set_destructor (lines, (czmq_destructor *) zstr_free);
    assert (auth_store_users (store, lines) == 0);
    assert (zlistx_size (lines) >= 1);
    assert (strncmp ((char *) zlistx_first (lines), "alice user ", 11) == 0);
    zlistx_destroy (&lines);
    assert (auth_store_audit (store, "root", "ban", "alice") == 0);
    char *key = NULL;
    assert (auth_store_key_get (store, "alice", &key) == 1 && key == NULL);
    assert (auth_store_device_set (store, "alice", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
                                   "0a0b0c0d", "desk") == 0);
    assert (auth_store_key_get (store, "alice", &key) == 0);
    assert (streq (key, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));
    free (key);
    assert (auth_store_device_set (store, "nobody", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
                                   "0a0b0c0d", "desk") == 1);
    //  Devices: listed, renamed in place, an id taken by another key
    //  refused, revoked for good
    zlistx_t *devices = zlistx_new ();
    zlistx_set_destructor (devices, (czmq_destructor *) zstr_free);
    assert (auth_store_devices (store, "alice", devices) == 0 && zlistx_size (devices) == 1);
    assert (strncmp ((char *) zlistx_first (devices), "0a0b0c0d rq:rM>", 15) == 0);
    assert (strstr ((char *) zlistx_first (devices), " desk"));
    assert (auth_store_device_set (store, "alice", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
                                   "0a0b0c0d", "laptop") == 0);
    assert (auth_store_device_set (store, "alice", "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
                                   "0a0b0c0d", "evil") == 4);
    assert (auth_store_device_set (store, "alice", "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
                                   "01020304", "phone") == 0);
    zlistx_purge (devices);
    assert (auth_store_devices (store, "alice", devices) == 0 && zlistx_size (devices) == 2);
    assert (auth_store_device_revoke (store, "alice", "01020304") == 0);
    assert (auth_store_device_revoke (store, "alice", "01020304") == 2);
    assert (auth_store_device_revoke (store, "nobody", "01020304") == 1);
    assert (auth_store_device_set (store, "alice", "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
                                   "01020304", "phone") == 2);
    zlistx_purge (devices);
    assert (auth_store_devices (store, "alice", devices) == 0 && zlistx_size (devices) == 1);
    assert (strstr ((char *) zlistx_first (devices), " laptop"));
    assert (auth_store_devices (store, "nobody", devices) == 2);
    zlistx_destroy (&devices);
    assert (auth_store_key_get (store, "nobody", &key) == 2);
    reply = pc_redis_command (store->redis, "HGET user:alice last_login");
    assert (reply && reply->type == REDIS_REPLY_STRING && streq (reply->str, "1700000000123"));
    freeReplyObject (reply);
    //  ... but never creates an account
    assert (auth_store_login_ok (store, "ghost", 1) == 0);
    assert (auth_store_user_lookup (store, "ghost", &hash, &role) == 1);
}

//  Account throttling: 5 failures lock for 2 s, then 4 s, 8 s...
static void
s_test_account_throttle (auth_store_t *store, int port)
{
    redisReply *reply;
    int wait_s = -1;
    assert (auth_store_throttled (store, "alice", "src1", &wait_s) == 0);
    assert (wait_s == 0);
    for (int failure = 1; failure <= 4; failure++) {
        assert (auth_store_login_failed (store, "alice", "src1") == 0);
        assert (auth_store_throttled (store, "alice", "src1", &wait_s) == 0);
    }
    assert (auth_store_login_failed (store, "alice", "src1") == 0);
    assert (auth_store_throttled (store, "alice", "src1", &wait_s) == 1);
    assert (wait_s == 2);
    //  Another source is refused too: the account is locked
    assert (auth_store_throttled (store, "alice", "src2", &wait_s) == 1);
    //  Another account from the same source is not
    assert (auth_store_throttled (store, "bob", "src1", &wait_s) == 0);
    int expected [] = { 4, 8, 16, 32, 64, 128, 256, 512, 900, 900 };
    for (size_t step = 0; step < sizeof (expected) / sizeof (expected [0]); step++) {
        s_test_expire_lock (store, "acct", "alice");
        assert (auth_store_throttled (store, "alice", "src1", &wait_s) == 0);
        assert (auth_store_login_failed (store, "alice", "src1") == 0);
        assert (auth_store_throttled (store, "alice", "src1", &wait_s) == 1);
        assert (wait_s == expected [step]);
    }
    //  The failure counter outlives the lock
    reply = pc_redis_command (store->redis, "PTTL fail:acct:alice");
    assert (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 900000);
    freeReplyObject (reply);
    //  Success clears the account's failures
    s_test_expire_lock (store, "acct", "alice");
    assert (auth_store_login_ok (store, "alice", 2) == 0);
    reply = pc_redis_command (store->redis, "EXISTS fail:acct:alice");
    assert (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0);
    freeReplyObject (reply);
    //  A counter under the limit expires within the window
    assert (auth_store_login_failed (store, "dave", "src3") == 0);
    reply = pc_redis_command (store->redis, "TTL fail:acct:dave");
    assert (reply && reply->type == REDIS_REPLY_INTEGER
            && reply->integer > 0 && reply->integer <= AUTH_FAIL_WINDOW_S);
    freeReplyObject (reply);
}

//  Source throttling: failures against many accounts from one source
static void
s_test_source_throttle (auth_store_t *store, int port)
{
    int wait_s;
    auth_store_set_limits (store, 5, 3);
    assert (auth_store_login_failed (store, "u1", "spray") == 0);
    assert (auth_store_login_failed (store, "u2", "spray") == 0);
    assert (auth_store_throttled (store, "u9", "spray", &wait_s) == 0);
    assert (auth_store_login_failed (store, "u3", "spray") == 0);
    assert (auth_store_throttled (store, "u9", "spray", &wait_s) == 1);
    assert (wait_s == 2);
    assert (auth_store_throttled (store, "u9", "elsewhere", &wait_s) == 0);
}

void
auth_store_test (bool verbose)
{
    printf (" * auth_store: ");
    int port = 0;
    pid_t redis = pc_redis_server_start (&port);
    if (redis == -1) {
        printf ("SKIPPED (cannot start redis-server)\n");
        return;
    }
    auth_store_t *store = auth_store_new ("127.0.0.1", port);

    s_test_accounts (store, port);
    s_test_account_throttle (store, port);
    s_test_source_throttle (store, port);
    char *hash, *role;
    int wait_s;
    //  Redis goes away: every call answers -1 promptly, then recovers
    pc_redis_server_stop (redis);
    int64_t start = zclock_mono ();
    assert (auth_store_user_create (store, "erin", "$h", 1) == -1);
    assert (auth_store_user_lookup (store, "alice", &hash, &role) == -1);
    assert (auth_store_throttled (store, "alice", "src1", &wait_s) == -1);
    assert (auth_store_login_failed (store, "alice", "src1") == -1);
    assert (auth_store_login_ok (store, "alice", 3) == -1);
    assert (zclock_mono () - start < 5000);
    redis = pc_redis_server_start (&port);
    assert (redis > 0);
    assert (auth_store_user_create (store, "erin", "$h", 1) == 0);
    assert (auth_store_user_lookup (store, "erin", &hash, &role) == 0);
    zstr_free (&hash);
    zstr_free (&role);

    auth_store_destroy (&store);
    auth_store_destroy (&store);        //  safe twice
    pc_redis_server_stop (redis);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

//  auth_tokens.c: resume tokens in Redis, only their hashes (auth_tokens.h).
#include "auth_tokens.h"
#include "pc_redis.h"
#include "pc_util.h"

#include <hiredis/hiredis.h>
#include <sodium.h>

//  KEYS: toks:USER, tok:HASH  ARGV: sid, hash, device, now, ttl, user
static const char *s_issue_lua =
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "    local h, d = string.match (all[i+1], '^(%S+) (%S+)')\n"
    "    if h and (d == ARGV[3] or redis.call('EXISTS', 'tok:' .. h) == 0) then\n"
    "        redis.call('DEL', 'tok:' .. h)\n"
    "        redis.call('HDEL', KEYS[1], all[i])\n"
    "    end\n"
    "end\n"
    "redis.call('SET', KEYS[2], ARGV[6] .. ' ' .. ARGV[1], 'EX', tonumber (ARGV[5]))\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ARGV[4])\n"
    "redis.call('EXPIRE', KEYS[1], tonumber (ARGV[5]))\n"
    "return 1\n";

//  KEYS: tok:HASH, toks:USER  ARGV: user, now, ttl
static const char *s_resume_lua =
    "local v = redis.call('GET', KEYS[1])\n"
    "if not v then return '' end\n"
    "local u, sid = string.match (v, '^(%S+) (%S+)$')\n"
    "if u ~= ARGV[1] then return '' end\n"
    "local e = redis.call('HGET', KEYS[2], sid)\n"
    "if not e then redis.call('DEL', KEYS[1]) return '' end\n"
    "local h, d, c = string.match (e, '^(%S+) (%S+) (%S+)')\n"
    "redis.call('HSET', KEYS[2], sid, h .. ' ' .. d .. ' ' .. c .. ' ' .. ARGV[2])\n"
    "redis.call('EXPIRE', KEYS[1], tonumber (ARGV[3]))\n"
    "redis.call('EXPIRE', KEYS[2], tonumber (ARGV[3]))\n"
    "return sid\n";

//  KEYS: toks:USER  ARGV: sid or '*', sid to keep ('' none)
static const char *s_revoke_lua =
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "local n = 0\n"
    "for i = 1, #all, 2 do\n"
    "    if (ARGV[1] == '*' or all[i] == ARGV[1]) and all[i] ~= ARGV[2] then\n"
    "        local h = string.match (all[i+1], '^(%S+)')\n"
    "        if h then redis.call('DEL', 'tok:' .. h) end\n"
    "        redis.call('HDEL', KEYS[1], all[i])\n"
    "        n = n + 1\n"
    "    end\n"
    "end\n"
    "return n\n";

//  KEYS: toks:USER
static const char *s_list_lua =
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "local out = {}\n"
    "for i = 1, #all, 2 do\n"
    "    local h, rest = string.match (all[i+1], '^(%S+) (.*)$')\n"
    "    if h and redis.call('EXISTS', 'tok:' .. h) == 1 then\n"
    "        table.insert (out, all[i] .. ' ' .. rest)\n"
    "    else\n"
    "        redis.call('HDEL', KEYS[1], all[i])\n"
    "    end\n"
    "end\n"
    "return out\n";

//  The hex BLAKE2b-256 of a token's text: what Redis keeps.
static void
s_hash (const char *token, char *hex)
{
    uint8_t digest [crypto_generichash_BYTES];
    crypto_generichash (digest, sizeof (digest), (const uint8_t *) token, strlen (token), NULL, 0);
    sodium_bin2hex (hex, 2 * sizeof (digest) + 1, digest, sizeof (digest));
}

static void
s_random_hex (char *hex, size_t bytes)
{
    uint8_t buffer [32];
    assert (bytes <= sizeof (buffer));
    randombytes_buf (buffer, bytes);
    sodium_bin2hex (hex, 2 * bytes + 1, buffer, bytes);
    sodium_memzero (buffer, sizeof (buffer));
}

int
auth_tokens_issue (auth_store_t *store, const char *user, const char *device,
                   int64_t now_ms, char *token, char *sid)
{
    s_random_hex (token, 32);
    s_random_hex (sid, 8);
    char hash [65];
    s_hash (token, hash);
    redisReply *reply = pc_redis_command (auth_store_redis (store),
        "EVAL %s 2 toks:%s tok:%s %s %s %s %lld %d %s", s_issue_lua, user, hash, sid, hash,
        device, (long long) now_ms, AUTH_TOKEN_TTL_S, user);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

int
auth_tokens_resume (auth_store_t *store, const char *user, const char *token,
                    int64_t now_ms, char *sid)
{
    char hash [65];
    s_hash (token, hash);
    redisReply *reply = pc_redis_command (auth_store_redis (store),
        "EVAL %s 2 tok:%s toks:%s %s %lld %d", s_resume_lua, hash, user, user,
        (long long) now_ms, AUTH_TOKEN_TTL_S);
    if (!reply)
        return -1;
    int rc = 1;
    if (reply->type == REDIS_REPLY_STRING && reply->len > 0 && reply->len < AUTH_TOKEN_SID) {
        snprintf (sid, AUTH_TOKEN_SID, "%s", reply->str);
        rc = 0;
    }
    freeReplyObject (reply);
    return rc;
}

int
auth_tokens_revoke (auth_store_t *store, const char *user, const char *sid, const char *keep)
{
    redisReply *reply = pc_redis_command (auth_store_redis (store), "EVAL %s 1 toks:%s %s %s",
                                          s_revoke_lua, user, sid, keep? keep: "");
    if (!reply)
        return -1;
    int rc = reply->type == REDIS_REPLY_INTEGER && reply->integer > 0? 0: 1;
    freeReplyObject (reply);
    return rc;
}

//  Oldest first: by the third word (created, ms).
static int
s_by_created (const void *a, const void *b)
{
    const char *x = strchr (strchr ((const char *) a, ' ') + 1, ' ');
    const char *y = strchr (strchr ((const char *) b, ' ') + 1, ' ');
    long long cx = x? atoll (x + 1): 0, cy = y? atoll (y + 1): 0;
    return cx < cy? -1: cx > cy? 1: strcmp ((const char *) a, (const char *) b);
}

int
auth_tokens_list (auth_store_t *store, const char *user, zlistx_t *lines)
{
    redisReply *reply = pc_redis_command (auth_store_redis (store), "EVAL %s 1 toks:%s",
                                          s_list_lua, user);
    if (!reply)
        return -1;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        const char *line = reply->element [i]->str;
        //  SID DEVICE CREATED LAST: three spaces, or it is not ours
        if (line && strchr (line, ' ') && strchr (strchr (line, ' ') + 1, ' '))
            zlistx_add_end (lines, strdup (line));
    }
    freeReplyObject (reply);
    pc_list_sort (lines, s_by_created);
    return 0;
}

void
auth_tokens_test (bool verbose)
{
    printf (" * auth_tokens: ");
    int port = 0;
    pid_t redis = pc_redis_server_start (&port);
    if (redis == -1) {
        printf ("SKIPPED (cannot start redis-server)\n");
        return;
    }
    auth_store_t *store = auth_store_new ("127.0.0.1", port);
    char token [AUTH_TOKEN_TEXT], sid [AUTH_TOKEN_SID], other [AUTH_TOKEN_TEXT],
         other_sid [AUTH_TOKEN_SID], found [AUTH_TOKEN_SID];
    assert (auth_tokens_issue (store, "alice", "laptop", 1000, token, sid) == 0);
    assert (strlen (token) == 64 && strlen (sid) == 16);
    assert (auth_tokens_resume (store, "alice", token, 2000, found) == 0 && streq (found, sid));
    assert (auth_tokens_resume (store, "bob", token, 2000, found) == 1);
    assert (auth_tokens_resume (store, "alice", "00", 2000, found) == 1);
    //  Only the hash is stored: the token's text is nowhere in Redis
    redisReply *reply = pc_redis_command (auth_store_redis (store), "KEYS *%s*", token);
    assert (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 0);
    freeReplyObject (reply);
    //  A second device, then a new token of the first replaces its last
    assert (auth_tokens_issue (store, "alice", "phone", 3000, other, other_sid) == 0);
    char again [AUTH_TOKEN_TEXT], again_sid [AUTH_TOKEN_SID];
    assert (auth_tokens_issue (store, "alice", "laptop", 4000, again, again_sid) == 0);
    assert (auth_tokens_resume (store, "alice", token, 5000, found) == 1);
    zlistx_t *lines = zlistx_new ();
    zlistx_set_destructor (lines, (czmq_destructor *) zstr_free);
    assert (auth_tokens_list (store, "alice", lines) == 0 && zlistx_size (lines) == 2);
    assert (strncmp ((char *) zlistx_first (lines), other_sid, 16) == 0);
    zlistx_destroy (&lines);
    //  Revoke all but one, then one, then nothing left
    assert (auth_tokens_revoke (store, "alice", "*", other_sid) == 0);
    assert (auth_tokens_resume (store, "alice", again, 6000, found) == 1);
    assert (auth_tokens_resume (store, "alice", other, 6000, found) == 0);
    assert (auth_tokens_revoke (store, "alice", "nosuch", NULL) == 1);
    assert (auth_tokens_revoke (store, "alice", other_sid, NULL) == 0);
    assert (auth_tokens_resume (store, "alice", other, 7000, found) == 1);
    auth_store_destroy (&store);
    pc_redis_server_stop (redis);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

//  broker_marks.c: read markers, unread counts, notification levels and
//  mentions (see broker_marks.h).
#include "broker_marks.h"
#include "broker_cluster.h"
#include "broker_dispatch.h"
#include "pc_limits.h"
#include "pc_util.h"

#define PREVIEW_MAX     200     //  bytes of a live MENTION's text (the inbox has all of it)

//  --------------------------------------------------------------------------
//  Scripts. Each runs on the store's connection, so it sees every message
//  this broker stored before it (one connection, in order).

//  MARK. KEYS: marks:USER, room:NAME, joined:USER. ARGV: room, id (0: the
//  last), the last id this broker knows, "1" when the session is in the
//  room. {1, id} moved, {0, marker} not moved (an id at or behind the
//  marker), {-1, last} id past the room's last id, {-2, 0} the user is not
//  in the room.
static const char *s_mark_lua =
    "if ARGV[4] ~= '1' and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return {-2, 0} end "
    "local last = tonumber(ARGV[3]) "
    "local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1) "
    "if top[1] then "
    "  local seq = tonumber(string.match(top[1][1], '^(%d+)')) "
    "  if seq > last then last = seq end "
    "end "
    "local want = tonumber(ARGV[2]) "
    "if want == 0 then want = last end "
    "if want > last then return {-1, last} end "
    "local mark = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') "
    "if want > mark then redis.call('HSET', KEYS[1], ARGV[1], want) return {1, want} end "
    "return {0, mark}";

//  UNREAD. KEYS: marks:USER, notify:USER, joined:USER. ARGV: user, how
//  many entries to read at most per room. One field per room:
//  "ROOM UNREAD MENTIONS LEVEL MARK LAST". Unread are the messages (plain
//  or replies: not edits, deletes or reactions) after the marker that
//  others wrote; mentions those of them naming @USER.
static const char *s_unread_lua =
    "local user = ARGV[1] "
    "local function names_me (text) "
    "  local low = string.lower(text) "
    "  local at = 1 "
    "  while true do "
    "    local s, e = string.find(low, '@' .. user, at, true) "
    "    if not s then return false end "
    "    local before = s > 1 and string.sub(low, s - 1, s - 1) or '' "
    "    local after = string.sub(low, e + 1, e + 1) "
    "    if not string.find(before, '^[%w_%-@]') and not string.find(after, '^[%w_%-]') then "
    "      return true "
    "    end "
    "    at = e + 1 "
    "  end "
    "end "
    "local rooms = redis.call('SMEMBERS', KEYS[3]) "
    "table.sort(rooms) "
    "local out = {} "
    "for _, room in ipairs(rooms) do "
    "  local stream = 'room:' .. room "
    "  local mark = tonumber(redis.call('HGET', KEYS[1], room) or '0') "
    "  local level = redis.call('HGET', KEYS[2], room) or 'all' "
    "  local last = 0 "
    "  local top = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1) "
    "  if top[1] then last = tonumber(string.match(top[1][1], '^(%d+)')) end "
    "  local unread, mentions = 0, 0 "
    "  if last > mark then "
    "    local entries = redis.call('XRANGE', stream, (mark + 1) .. '-0', '+', 'COUNT', ARGV[2]) "
    "    for _, entry in ipairs(entries) do "
    "      local from, text = nil, nil "
    "      local f = entry[2] "
    "      for i = 1, #f, 2 do "
    "        if f[i] == 'from' then from = f[i + 1] elseif f[i] == 'text' then text = f[i + 1] end "
    "      end "
    "      if from and text and from ~= user "
    "      and (string.byte(text, 1) ~= 30 or string.sub(text, 2, 7) == 'reply ') then "
    "        unread = unread + 1 "
    "        if names_me(text) then mentions = mentions + 1 end "
    "      end "
    "    end "
    "  end "
    "  out[#out + 1] = string.format('%s %d %d %s %d %d', room, unread, mentions, level, mark, last) "
    "end "
    "return out";

//  A mention. KEYS: joined:USER, notify:USER, mentions:USER,
//  mentions:USER:seq. ARGV: room, message id, from, time, text, keep.
//  nil when USER is not in the room (or the entry could not be added: a
//  script error would read as Redis being down), else {mention id, level}.
static const char *s_mention_lua =
    "if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return nil end "
    "local n = redis.call('INCR', KEYS[4]) "
    "local ok = pcall(redis.call, 'XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], n .. '-0', "
    "                 'room', ARGV[1], 'msg', ARGV[2], 'from', ARGV[3], 'ts', ARGV[4], 'text', ARGV[5]) "
    "if not ok then return nil end "
    "return {n, redis.call('HGET', KEYS[2], ARGV[1]) or 'all'}";

//  A first join puts the marker at the room's last id. KEYS: joined:USER,
//  marks:USER. ARGV: room, last.
static const char *s_joined_lua =
    "if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then "
    "  redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) "
    "end "
    "return 0";

static redisReply *
s_eval (broker_t *self, const char *script, int nkeys, const char **keys, int nargs, const char **args)
{
    const char *argv [16];
    char numkeys [8];
    assert (3 + nkeys + nargs <= 16);
    snprintf (numkeys, sizeof (numkeys), "%d", nkeys);
    int argc = 0;
    argv [argc++] = "EVAL";
    argv [argc++] = script;
    argv [argc++] = numkeys;
    for (int i = 0; i < nkeys; i++)
        argv [argc++] = keys [i];
    for (int i = 0; i < nargs; i++)
        argv [argc++] = args [i];
    return pc_redis_argv (broker_store_redis (self->store), argc, argv, NULL);
}

//  --------------------------------------------------------------------------
//  Live: MARKED and MENTION to every session of the user, here and, with
//  several brokers, on the others (control "mark", "mention").

static void
s_tell_marked_here (broker_t *self, const char *user, const char *room, const char *id)
{
    pc_msg_t *out = pc_marked_new (room, id);
    broker_fanout_to_user (self->fanout, out, user);
    pc_msg_destroy (&out);
}

//  what: "MENTION-ID ROOM MSG-ID FROM"
static void
s_tell_mention_here (broker_t *self, const char *user, const char *what, const char *text)
{
    char mid [32], room [PC_NAME_MAX + 1], msg [32], from [PC_NAME_MAX + 1];
    if (sscanf (what, "%31s %32s %31s %32s", mid, room, msg, from) != 4)
        return;
    pc_msg_t *out = pc_mention_new (mid, room, msg, from, text);
    broker_fanout_to_user (self->fanout, out, user);
    pc_msg_destroy (&out);
}

bool
broker_marks_control (broker_t *self, const char *command, const char *a, const char *b,
                      const char *c)
{
    if (streq (command, "mark") && b && c && *b && *c)
        s_tell_marked_here (self, a, b, c);
    else
    if (streq (command, "mention") && b && c)
        s_tell_mention_here (self, a, b, c);
    else
        return false;
    return true;
}

//  --------------------------------------------------------------------------
//  Membership

void
broker_marks_joined (broker_t *self, const char *user, const char *room, uint64_t last)
{
    char joined [64], marks [64], seq [32];
    snprintf (joined, sizeof (joined), "joined:%s", user);
    snprintf (marks, sizeof (marks), "marks:%s", user);
    snprintf (seq, sizeof (seq), "%" PRIu64, last);
    const char *keys [] = { joined, marks };
    const char *args [] = { room, seq };
    redisReply *reply = s_eval (self, s_joined_lua, 2, keys, 2, args);
    if (reply)
        freeReplyObject (reply);
}

void
broker_marks_left (broker_t *self, const char *user, const char *room)
{
    char joined [64];
    snprintf (joined, sizeof (joined), "joined:%s", user);
    const char *argv [] = { "SREM", joined, room };
    redisReply *reply = pc_redis_argv (broker_store_redis (self->store), 3, argv, NULL);
    if (reply)
        freeReplyObject (reply);
}

void
broker_marks_forget (broker_t *self, const char *user)
{
    char keys [5][64];
    snprintf (keys [0], sizeof (keys [0]), "joined:%s", user);
    snprintf (keys [1], sizeof (keys [1]), "marks:%s", user);
    snprintf (keys [2], sizeof (keys [2]), "notify:%s", user);
    snprintf (keys [3], sizeof (keys [3]), "mentions:%s", user);
    snprintf (keys [4], sizeof (keys [4]), "mentions:%s:seq", user);
    const char *argv [] = { "DEL", keys [0], keys [1], keys [2], keys [3], keys [4] };
    redisReply *reply = pc_redis_argv (broker_store_redis (self->store), 6, argv, NULL);
    if (reply)
        freeReplyObject (reply);
    else
        zsys_warning ("broker: the read markers of a deleted account were not removed");
}

//  --------------------------------------------------------------------------
//  Mentions

static bool
s_name_char (unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || c == '_' || c == '-';
}

size_t
broker_marks_names (const char *text, size_t max, broker_marks_name_fn *fn, void *arg)
{
    char seen [BROKER_MENTIONS_NAMES][PC_NAME_MAX + 1];
    size_t found = 0;
    if (max > BROKER_MENTIONS_NAMES)
        max = BROKER_MENTIONS_NAMES;
    for (const char *at = strchr (text, '@'); at && found < max; at = strchr (at + 1, '@')) {
        if (at > text && (s_name_char ((unsigned char) at [-1]) || at [-1] == '@'))
            continue;                   //  inside a word: an address, "a@b"
        size_t size = 0;
        while (s_name_char ((unsigned char) at [1 + size]))
            size++;
        if (size == 0 || size > PC_NAME_MAX)
            continue;
        char name [PC_NAME_MAX + 1];
        for (size_t i = 0; i < size; i++)
            name [i] = (char) tolower ((unsigned char) at [1 + i]);
        name [size] = 0;
        bool again = false;
        for (size_t i = 0; i < found && !again; i++)
            again = streq (seen [i], name);
        if (again)
            continue;
        strcpy (seen [found++], name);
        if (fn)
            fn (arg, name);
    }
    return found;
}

typedef struct {
    broker_t   *self;
    const char *room, *from, *text;
    char        msg [32], ts [32];
} mention_t;

static void
s_mention_one (void *arg, const char *name)
{
    mention_t *job = (mention_t *) arg;
    broker_t *self = job->self;
    if (streq (name, job->from))
        return;                         //  naming yourself is no mention
    char joined [64], notify [64], stream [64], seq [64], keep [16];
    snprintf (joined, sizeof (joined), "joined:%s", name);
    snprintf (notify, sizeof (notify), "notify:%s", name);
    snprintf (stream, sizeof (stream), "mentions:%s", name);
    snprintf (seq, sizeof (seq), "mentions:%s:seq", name);
    snprintf (keep, sizeof (keep), "%d", BROKER_MENTIONS_KEEP);
    const char *keys [] = { joined, notify, stream, seq };
    const char *args [] = { job->room, job->msg, job->from, job->ts, job->text, keep };
    redisReply *reply = s_eval (self, s_mention_lua, 4, keys, 6, args);
    if (!reply) {
        zsys_warning ("broker: a mention of %s was not stored: storage unavailable", name);
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
    &&  reply->element [0]->type == REDIS_REPLY_INTEGER
    &&  reply->element [1]->type == REDIS_REPLY_STRING
    &&  !streq (reply->element [1]->str, "none")) {
        //  Live: a preview of one line (the inbox holds the text)
        char preview [PREVIEW_MAX + 1];
        size_t size = 0;
        for (const char *c = job->text; *c && size < PREVIEW_MAX; c++)
            preview [size++] = *c == '\n' || *c == '\t'? ' ': *c;
        while (size > 0 && ((unsigned char) preview [size - 1] & 0xc0) == 0x80)
            size--;                     //  never cut a character in two
        if (size > 0 && (unsigned char) preview [size - 1] >= 0xc0)
            size--;
        preview [size] = 0;
        char what [128];
        snprintf (what, sizeof (what), "%lld %s %s %s", reply->element [0]->integer,
                  job->room, job->msg, job->from);
        s_tell_mention_here (self, name, what, preview);
        if (self->cluster)
            broker_cluster_control (self, "mention", name, what, preview);
    }
    freeReplyObject (reply);
}

void
broker_marks_message (broker_t *self, const char *room, uint64_t seq, int64_t ts,
                      const char *from, const char *text)
{
    if (!strchr (text, '@'))
        return;                         //  the hot path: most messages stop here
    if (text [0] == BROKER_EVENT_MARK) {
        if (strncmp (text + 1, "reply ", 6) != 0)
            return;                     //  an edit or a reaction notifies nobody
        const char *space = strchr (text + 7, ' ');
        if (!space)
            return;
        text = space + 1;
    }
    mention_t job = { self, room, from, text, "", "" };
    snprintf (job.msg, sizeof (job.msg), "%" PRIu64, seq);
    snprintf (job.ts, sizeof (job.ts), "%" PRId64, ts);
    broker_marks_names (text, BROKER_MENTIONS_NAMES, s_mention_one, &job);
}

//  --------------------------------------------------------------------------
//  Commands

//  MARK room [id]: the user has read room up to id (none or 0: its last).
int
broker_on_mark (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_mark_room (request);
    const char *id = pc_mark_id (request);
    if (id && *id == '-') {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "id: a message id, or 0 for the last");
        return 0;
    }
    broker_room_t *room = broker_ctx_room_for (self, request, session, name);
    if (!room)
        return 0;
    const char *user = broker_session_user (session);
    char marks [64], stream [48], joined [64], want [32], known [32];
    snprintf (marks, sizeof (marks), "marks:%s", user);
    snprintf (joined, sizeof (joined), "joined:%s", user);
    snprintf (stream, sizeof (stream), "room:%s", name);
    snprintf (want, sizeof (want), "%llu", id? strtoull (id, NULL, 10): 0ULL);
    snprintf (known, sizeof (known), "%" PRIu64, broker_room_seq (room));
    const char *keys [] = { marks, stream, joined };
    const char *args [] = { name, want, known, broker_session_in_room (session, name)? "1": "0" };
    redisReply *reply = s_eval (self, s_mark_lua, 3, keys, 4, args);
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
    ||  reply->element [0]->type != REDIS_REPLY_INTEGER
    ||  reply->element [1]->type != REDIS_REPLY_INTEGER) {
        if (reply)
            freeReplyObject (reply);
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable, try again");
        return 0;
    }
    long long rc = reply->element [0]->integer, value = reply->element [1]->integer;
    freeReplyObject (reply);
    char mark [32];
    snprintf (mark, sizeof (mark), "%lld", value);
    if (rc == -2) {
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN, "join the room before marking it read");
        return 0;
    }
    if (rc == -1) {
        char reason [128];
        snprintf (reason, sizeof (reason), "no message %s in #%s: its last id is %s", want, name, mark);
        broker_ctx_reply_error (self, request, PC_ERR_NOT_FOUND, reason);
        return 0;
    }
    if (rc == 1) {
        s_tell_marked_here (self, user, name, mark);
        if (self->cluster)
            broker_cluster_control (self, "mark", user, name, mark);
    }
    broker_ctx_send (self, pc_mark_ok (request, name, mark));
    return 0;
}

//  UNREAD: per room the user is in, "ROOM UNREAD MENTIONS LEVEL MARK LAST"
int
broker_on_unread (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *user = broker_session_user (session);
    char marks [64], notify [64], joined [64], scan [16];
    snprintf (marks, sizeof (marks), "marks:%s", user);
    snprintf (notify, sizeof (notify), "notify:%s", user);
    snprintf (joined, sizeof (joined), "joined:%s", user);
    snprintf (scan, sizeof (scan), "%d", BROKER_MARKS_SCAN_MAX);
    const char *keys [] = { marks, notify, joined };
    const char *args [] = { user, scan };
    redisReply *reply = s_eval (self, s_unread_lua, 3, keys, 2, args);
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        if (reply)
            freeReplyObject (reply);
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable, try again");
        return 0;
    }
    pc_msg_t *out = pc_msg_new_ok (request);
    for (size_t i = 0; i < reply->elements && pc_msg_nfields (out) < PC_FIELDS_MAX; i++)
        if (reply->element [i]->type == REDIS_REPLY_STRING)
            pc_msg_add (out, reply->element [i]->str);
    freeReplyObject (reply);
    broker_ctx_send (self, out);
    return 0;
}

//  NOTIFY room all|mentions|none
int
broker_on_notify (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_notify_room (request);
    const char *level = pc_notify_level (request);
    if (!streq (level, "all") && !streq (level, "mentions") && !streq (level, "none")) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "level is all, mentions or none");
        return 0;
    }
    if (!broker_ctx_room_for (self, request, session, name))
        return 0;
    char notify [64];
    snprintf (notify, sizeof (notify), "notify:%s", broker_session_user (session));
    const char *set [] = { "HSET", notify, name, level };
    const char *del [] = { "HDEL", notify, name };
    bool all = streq (level, "all");
    redisReply *reply = pc_redis_argv (broker_store_redis (self->store), all? 3: 4, all? del: set, NULL);
    if (!reply) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable, try again");
        return 0;
    }
    freeReplyObject (reply);
    broker_ctx_send (self, pc_notify_ok (request, name, level));
    return 0;
}

//  MENTIONS since limit: the user's mentions after since (0: the latest
//  limit, -1: from the first), 6 fields each.
int
broker_on_mentions (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *since = pc_mentions_since (request);
    long long limit = strtoll (pc_mentions_limit (request), NULL, 10);
    if (limit < 1 || limit > PC_HISTORY_MAX) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "limit is 1-200");
        return 0;
    }
    char stream [64], start [32], count [16];
    snprintf (stream, sizeof (stream), "mentions:%s", broker_session_user (session));
    snprintf (count, sizeof (count), "%lld", limit);
    bool latest = streq (since, "0");
    if (streq (since, "-1") || *since == '-')
        snprintf (start, sizeof (start), "-");
    else
        snprintf (start, sizeof (start), "%llu-0", strtoull (since, NULL, 10) + 1);
    const char *range [] = { "XRANGE", stream, start, "+", "COUNT", count };
    const char *newest [] = { "XREVRANGE", stream, "+", "-", "COUNT", count };
    redisReply *reply = pc_redis_argv (broker_store_redis (self->store), 6, latest? newest: range, NULL);
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        if (reply)
            freeReplyObject (reply);
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable, try again");
        return 0;
    }
    pc_msg_t *out = pc_msg_new_ok (request);
    for (size_t k = 0; k < reply->elements; k++) {
        redisReply *entry = reply->element [latest? reply->elements - 1 - k: k];
        if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2
        ||  entry->element [0]->type != REDIS_REPLY_STRING
        ||  entry->element [1]->type != REDIS_REPLY_ARRAY)
            continue;
        const char *fields [5] = { "", "", "", "", "" };
        static const char *names [5] = { "room", "msg", "from", "ts", "text" };
        redisReply *pairs = entry->element [1];
        for (size_t i = 0; i + 1 < pairs->elements; i += 2)
            for (int n = 0; n < 5; n++)
                if (pairs->element [i]->str && pairs->element [i + 1]->str
                &&  streq (pairs->element [i]->str, names [n]))
                    fields [n] = pairs->element [i + 1]->str;
        pc_msg_addf (out, "%llu", strtoull (entry->element [0]->str, NULL, 10));
        for (int n = 0; n < 5; n++)
            pc_msg_add (out, fields [n]);
    }
    freeReplyObject (reply);
    broker_ctx_send (self, out);
    return 0;
}

//  --------------------------------------------------------------------------

static void
s_collect (void *arg, const char *name)
{
    char *out = (char *) arg;
    strcat (out, name);
    strcat (out, ",");
}

void
broker_marks_test (bool verbose)
{
    printf (" * broker_marks: ");
    char out [256] = "";
    assert (broker_marks_names ("no names here", 8, s_collect, out) == 0);
    assert (broker_marks_names ("hi @Bob and @carol-2, @bob again", 8, s_collect, out) == 2);
    assert (streq (out, "bob,carol-2,"));
    out [0] = 0;
    assert (broker_marks_names ("mail a@b.c, @@x, @ alone, @dave.", 8, s_collect, out) == 1);
    assert (streq (out, "dave,"));
    assert (broker_marks_names ("@a @b @c @d @e @f @g @h @i @j", 99, NULL, NULL) == BROKER_MENTIONS_NAMES);
    assert (broker_marks_names ("@abcdefghijklmnopqrstuvwxyz0123456789", 8, NULL, NULL) == 0);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

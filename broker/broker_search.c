//  broker_search.c: the search index in Redis and SEARCH (see broker_search.h).
#include "broker_search.h"
#include "broker_dispatch.h"
#include "pc_limits.h"
#include "pc_redis.h"
#include "pc_util.h"
#include "pc_words.h"

//  Entries indexed per timer tick, at most: a script run holds Redis (and
//  this broker, waiting for it) some 20-50 us per entry, so while SENDs
//  are flowing the timer takes a small bite (a few ms in 250: what a
//  message may wait behind it), and when the broker is idle a larger one,
//  in steps, given up as soon as a request comes in; a SEARCH catches up
//  whatever is left of its room
#define TICK_BUDGET_IDLE    2000
#define TICK_BUDGET_BUSY    50
#define TICK_STEP           100     //  entries a timer's script run indexes
#define CATCH_UP_MAX        5000    //  entries a SEARCH indexes first, at most
#define SWEEP_WORDS         "100"   //  words swept of trimmed ids per script run
#define CONTEXT_MAX         200     //  bytes of the message before and after a hit

struct _broker_search_t {
    zhashx_t *indexed;              //  stream -> last id indexed + 1 (0: not known)
    uint64_t  flushed;              //  the broker's SENDs stored, at the last tick
};

//  Indexes up to ARGV[1] entries after the cursor, and sweeps ARGV[2]
//  words of trimmed ids. KEYS: stream. Returns {entries read, the cursor
//  after them}.
static const char *s_index_lua =
    BROKER_SEARCH_LUA
    "local s = KEYS[1] "
    "local cur = redis.call ('GET', s .. ':sxc') or '0' "
    "local es = redis.call ('XRANGE', s, '(' .. cur .. '-0', '+', 'COUNT', ARGV[1]) "
    //  A batch's ids are gathered per word and added with one ZADD per
    //  word (at most 2 * ARGV[1] arguments: a message gives a word once)
    "local pending, order = {}, {} "
    "local function add (id, t) "
    "  for _, w in ipairs (sx_words (t)) do "
    "    local p = pending[w] "
    "    if not p then p = {} pending[w] = p order[#order + 1] = w end "
    "    p[#p + 1] = id p[#p + 1] = id "
    "  end "
    "end "
    "local function flush () "
    "  for _, w in ipairs (order) do "
    "    local key = s .. ':sx:' .. w "
    "    if redis.call ('EXISTS', key) == 0 then redis.call ('ZADD', s .. ':sxw', 0, w) end "
    "    redis.call ('ZADD', key, unpack (pending[w])) "
    "  end "
    "  pending, order = {}, {} "
    "end "
    "local last = cur "
    "for _, e in ipairs (es) do "
    "  local id = string.match (e[1], '^(%d+)') "
    "  local f, t = e[2], nil "
    "  for i = 1, #f - 1, 2 do if f[i] == 'text' then t = f[i + 1] end end "
    "  if t and string.byte (t, 1) ~= 30 then add (id, t) "
    "  elseif t then "
    "    local k, r, rest = string.match (t, '^\\30(%a+) (%d+) ?(.*)$') "
    "    if k == 'reply' then add (id, rest) "
    "    elseif k == 'edit' then "
    "      flush () "
    //        the text it had: its latest edit, else its own entry's
    "      local old = redis.call ('HGET', s .. ':sxe', r) "
    "      if not old then "
    "        local o = redis.call ('XRANGE', s, r .. '-0', r .. '-0') "
    "        if #o == 1 then "
    "          local of = o[1][2] "
    "          for i = 1, #of - 1, 2 do if of[i] == 'text' then old = sx_body (of[i + 1], false) end end "
    "        end "
    "      end "
    "      if old then "
    "        sx_unindex (s, r, old) "
    "        add (r, rest) "
    "        redis.call ('HSET', s .. ':sxe', r, rest) "
    "      end "
    "    end "
    "  end "
    "  last = id "
    "end "
    "flush () "
    "if #es > 0 then redis.call ('SET', s .. ':sxc', last) end "
    //  Messages trimmed from the stream (PYCHAT_HISTORY) leave the index
    //  too: while the stream has lost its first ids, each run sweeps the
    //  next ARGV[2] words of the room (S:sxp: the last one swept) of the
    //  ids below the stream's first
    "local head = redis.call ('XRANGE', s, '-', '+', 'COUNT', 1) "
    "local low = #head == 1 and tonumber (string.match (head[1][1], '^(%d+)')) or 0 "
    "if #es > 0 and low > 1 then "
    "  local from = redis.call ('GET', s .. ':sxp') "
    "  local ws = redis.call ('ZRANGEBYLEX', s .. ':sxw', from and ('(' .. from) or '-', '+', "
    "                         'LIMIT', 0, tonumber (ARGV[2])) "
    "  for _, w in ipairs (ws) do "
    "    local key = s .. ':sx:' .. w "
    "    if redis.call ('ZREMRANGEBYSCORE', key, '-inf', '(' .. low) > 0 "
    "    and redis.call ('EXISTS', key) == 0 then redis.call ('ZREM', s .. ':sxw', w) end "
    "  end "
    "  if #ws < tonumber (ARGV[2]) then redis.call ('DEL', s .. ':sxp') "
    "  else redis.call ('SET', s .. ':sxp', ws[#ws]) end "
    "end "
    "return {#es, tonumber (last)}";

//  The newest messages holding every term, older than ARGV[2] (0: any).
//  KEYS: stream; ARGV: limit, before, budget, then per term "w WORD" or
//  "p PREFIX". The rarest term drives: its ids are read newest first, a
//  chunk at a time (a prefix's sets merged: the ids at or above the
//  highest last id of a full chunk are all in hand), and each is looked up
//  in the other terms' sets; at most budget ids are looked at. Returns {next, then per hit id, from,
//  ts, text, before, after}; next is where to go on from (ARGV[2] of the
//  next call), 0 when the search reached the room's first message.
static const char *s_search_lua =
    BROKER_SEARCH_LUA
    "local s = KEYS[1] "
    "local limit, before, budget = tonumber (ARGV[1]), tonumber (ARGV[2]), tonumber (ARGV[3]) "
    "local terms = {} "
    "for i = 4, #ARGV do "
    "  local kind, w = string.sub (ARGV[i], 1, 1), string.sub (ARGV[i], 3) "
    "  local keys, n = {}, 0 "
    "  if kind == 'p' then "
    "    for _, x in ipairs (redis.call ('ZRANGEBYLEX', s .. ':sxw', '[' .. w, '(' .. w .. '\\255', "
    "                                    'LIMIT', 0, 256)) do "
    "      keys[#keys + 1] = s .. ':sx:' .. x end "
    "  else keys[1] = s .. ':sx:' .. w end "
    "  for _, k in ipairs (keys) do n = n + redis.call ('ZCARD', k) end "
    "  if n == 0 then return {0} end "
    "  terms[#terms + 1] = {keys = keys, n = n} "
    "end "
    "table.sort (terms, function (a, b) return a.n < b.n end) "
    "local function fields (e) "
    "  local f, from, ts, t = e[2] "
    "  for i = 1, #f - 1, 2 do "
    "    if f[i] == 'from' then from = f[i + 1] elseif f[i] == 'ts' then ts = f[i + 1] "
    "    elseif f[i] == 'text' then t = f[i + 1] end "
    "  end "
    "  return from, ts, t "
    "end "
    "local function latest (id, t) "
    "  local body = t and sx_body (t, false) "
    "  if not body then return nil end "
    "  return redis.call ('HGET', s .. ':sxe', id) or body "
    "end "
    "local function near (id, older) "
    "  local es "
    "  if older then es = redis.call ('XREVRANGE', s, '(' .. id .. '-0', '-', 'COUNT', 8) "
    "  else es = redis.call ('XRANGE', s, '(' .. id .. '-0', '+', 'COUNT', 8) end "
    "  for _, e in ipairs (es) do "
    "    local other = string.match (e[1], '^(%d+)') "
    "    local from, ts, t = fields (e) "
    "    local body = latest (other, t) "
    "    if body and from then return other .. ' ' .. from .. ' ' .. body end "
    "  end "
    "  return '' "
    "end "
    //  A prefix drives with many sets: a short read of each is merged
    "local chunk = #terms[1].keys == 1 and 256 or 32 "
    "local out, hits, scanned = {0}, 0, 0 "
    "local hi = before > 0 and ('(' .. before) or '+inf' "
    "while true do "
    "  local cand, seen, floor = {}, {}, nil "
    "  for _, k in ipairs (terms[1].keys) do "
    "    local ids = redis.call ('ZREVRANGEBYSCORE', k, hi, '-inf', 'LIMIT', 0, chunk) "
    "    for _, x in ipairs (ids) do "
    "      local v = tonumber (x) "
    "      if not seen[v] then seen[v] = true cand[#cand + 1] = v end "
    "    end "
    "    if #ids == chunk then "
    "      local m = tonumber (ids[#ids]) "
    "      if not floor or m > floor then floor = m end "
    "    end "
    "  end "
    "  table.sort (cand, function (a, b) return a > b end) "
    "  for _, c in ipairs (cand) do "
    "    if floor and c < floor then break end "
    "    scanned = scanned + 1 "
    "    local ok = true "
    "    for j = 2, #terms do "
    "      local found = false "
    "      for _, k in ipairs (terms[j].keys) do "
    "        if redis.call ('ZSCORE', k, c) then found = true break end "
    "      end "
    "      if not found then ok = false break end "
    "    end "
    "    if ok then "
    "      local id = tostring (c) "
    "      local e = redis.call ('XRANGE', s, id .. '-0', id .. '-0') "
    "      if #e == 1 then "
    "        local from, ts, t = fields (e[1]) "
    "        local body = latest (id, t) "
    "        if from and ts and body then "
    "          local n = #out "
    "          out[n + 1] = id out[n + 2] = from out[n + 3] = ts out[n + 4] = body "
    "          out[n + 5] = near (id, true) out[n + 6] = near (id, false) "
    "          hits = hits + 1 "
    "        end "
    "      end "
    "    end "
    "    if hits >= limit or scanned >= budget then out[1] = c return out end "
    "  end "
    "  if not floor then return out end "
    "  hi = '(' .. floor "
    "end";

broker_search_t *
broker_search_new (void)
{
    broker_search_t *self = (broker_search_t *) zmalloc (sizeof (broker_search_t));
    assert (self);
    self->indexed = zhashx_new ();
    return self;
}

void
broker_search_destroy (broker_search_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        broker_search_t *self = *self_p;
        zhashx_destroy (&self->indexed);
        free (self);
        *self_p = NULL;
    }
}

static broker_search_t *
s_search (broker_t *self)
{
    if (!self->search)
        self->search = broker_search_new ();
    return self->search;
}

//  Indexes stream, batch entries a script run, up to max entries; with
//  yield it stops as soon as a client's request is waiting, so that a
//  SEND waits behind one small run at most. The number indexed, -1 when
//  Redis cannot be reached.
static long
s_index (broker_t *self, const char *stream, long max, long batch, bool yield)
{
    pc_redis_t *redis = broker_store_redis (self->store);
    long done = 0;
    while (done < max) {
        char count [24];
        long size = max - done < batch? max - done: batch;
        snprintf (count, sizeof (count), "%ld", size);
        const char *argv [] = { "EVAL", s_index_lua, "1", stream, count, SWEEP_WORDS };
        redisReply *reply = pc_redis_argv (redis, 6, argv, NULL);
        if (!reply)
            return -1;
        bool ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
               && reply->element [0]->type == REDIS_REPLY_INTEGER
               && reply->element [1]->type == REDIS_REPLY_INTEGER;
        long read = ok? (long) reply->element [0]->integer: 0;
        if (ok)
            zhashx_update (s_search (self)->indexed, stream,
                           (void *) (uintptr_t) (reply->element [1]->integer + 1));
        freeReplyObject (reply);
        done += read;
        if (read < size)
            break;                      //  caught up
        if (yield && (zsock_events (self->router) & ZMQ_POLLIN))
            break;                      //  a client waits: later
    }
    return done;
}

long
broker_search_index (broker_t *self, const char *stream, long max)
{
    return s_index (self, stream, max, BROKER_SEARCH_BATCH, false);
}

void
broker_search_tick (broker_t *self)
{
    broker_search_t *search = s_search (self);
    if (!broker_store_available (self->store))
        return;
    long budget = self->flushed != search->flushed? TICK_BUDGET_BUSY: TICK_BUDGET_IDLE;
    search->flushed = self->flushed;
    zlistx_t *names = zhashx_keys (self->rooms);
    for (const char *name = (const char *) zlistx_first (names); name && budget > 0;
         name = (const char *) zlistx_next (names)) {
        char stream [48];
        snprintf (stream, sizeof (stream), "room:%s", name);
        uint64_t last, indexed = (uintptr_t) zhashx_lookup (search->indexed, stream);
        if (!broker_store_known_seq (self->store, stream, &last) || (indexed && last + 1 <= indexed))
            continue;                   //  nothing new here, as far as this broker knows
        long done = s_index (self, stream, budget, TICK_STEP, true);
        if (done < 0 || (zsock_events (self->router) & ZMQ_POLLIN))
            break;
        budget -= done > 0? done: 1;
    }
    zlistx_destroy (&names);
}

//  At most max bytes of text, cut at a character's start, "…" when cut
static void
s_add_cut (pc_msg_t *reply, const char *text, size_t max)
{
    size_t len = strlen (text);
    if (len <= max) {
        pc_msg_add (reply, text);
        return;
    }
    while (max > 0 && ((unsigned char) text [max] & 0xC0) == 0x80)
        max--;
    pc_msg_addf (reply, "%.*s\xe2\x80\xa6", (int) max, text);
}

int
broker_on_search (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    //  Who may read a room's history may search it (HISTORY's rule)
    const char *name = pc_search_room (request);
    if (!broker_ctx_room_for (self, request, session, name))
        return 0;
    if (!broker_session_in_room (session, name)) {
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN, "join the room before searching it");
        return 0;
    }
    const char *text = pc_search_query (request);
    if (strlen (text) > PC_QUERY_MAX) {
        broker_ctx_reply_error (self, request, PC_ERR_TOO_LONG, "the query is too long: at most 256 bytes");
        return 0;
    }
    pc_query_t query;
    const char *why;
    if (pc_query_parse (text, &query, &why) == -1) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, why);
        return 0;
    }
    long limit = BROKER_SEARCH_LIMIT;
    if (pc_search_limit (request)) {
        limit = strtol (pc_search_limit (request), NULL, 10);
        limit = limit < 1? 1: limit > BROKER_SEARCH_LIMIT_MAX? BROKER_SEARCH_LIMIT_MAX: limit;
    }
    long long before = pc_search_before (request)? strtoll (pc_search_before (request), NULL, 10): 0;
    if (before < 0)
        before = 0;
    char stream [48];
    snprintf (stream, sizeof (stream), "room:%s", name);
    //  What was stored since the last tick (here or on another broker)
    //  is indexed first
    if (broker_search_index (self, stream, CATCH_UP_MAX) == -1) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "search unavailable: storage is down");
        return 0;
    }
    char limit_txt [24], before_txt [24], budget_txt [24];
    snprintf (limit_txt, sizeof (limit_txt), "%ld", limit);
    snprintf (before_txt, sizeof (before_txt), "%lld", before);
    snprintf (budget_txt, sizeof (budget_txt), "%d", BROKER_SEARCH_BUDGET);
    char terms [PC_QUERY_WORDS][PC_WORD_MAX + 4];
    const char *argv [7 + PC_QUERY_WORDS] = { "EVAL", s_search_lua, "1", stream,
                                              limit_txt, before_txt, budget_txt };
    for (size_t i = 0; i < query.count; i++) {
        snprintf (terms [i], sizeof (terms [i]), "%c %s", query.terms [i].prefix? 'p': 'w',
                  query.terms [i].word);
        argv [7 + i] = terms [i];
    }
    redisReply *reply = pc_redis_argv (broker_store_redis (self->store), 7 + (int) query.count,
                                       argv, NULL);
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
    ||  (reply->elements - 1) % 6 != 0 || reply->element [0]->type != REDIS_REPLY_INTEGER) {
        if (reply)
            freeReplyObject (reply);
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "search unavailable: storage is down");
        return 0;
    }
    pc_msg_t *ok = pc_msg_new_ok (request);
    pc_msg_addf (ok, "%lld", reply->element [0]->integer);
    for (size_t i = 1; i < reply->elements; i++) {
        redisReply *field = reply->element [i];
        const char *value = field->type == REDIS_REPLY_STRING? field->str: "";
        size_t slot = (i - 1) % 6;
        if (slot >= 4)
            s_add_cut (ok, value, CONTEXT_MAX);   //  before, after: "ID FROM TEXT"
        else
            pc_msg_add (ok, value);
    }
    freeReplyObject (reply);
    broker_ctx_send (self, ok);
    return 0;
}

void
broker_search_test (bool verbose)
{
    printf (" * broker_search: ");
    broker_search_t *search = broker_search_new ();
    broker_search_destroy (&search);
    broker_search_destroy (&search);
    //  The Lua rule is pc_words.h's: checked against a real Redis by
    //  tests/wire/test_search.py
    printf ("OK\n");
}

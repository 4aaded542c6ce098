//  broker_search.h: search in a room's history (PROTOCOL.md, "Search").
//
//  The index lives in Redis beside the room's stream, so every broker on
//  that Redis shares it and no other process is needed (Redis here has no
//  full-text module). For stream S ("room:NAME"):
//
//      S:sx:WORD   sorted set: the ids of the messages holding WORD (score = id)
//      S:sxw       sorted set of the room's words (score 0: ZRANGEBYLEX for prefixes)
//      S:sxc       the last stream id indexed (the room's index cursor)
//      S:sxe       hash: id -> latest text of an edited message
//      S:sxp       the last word swept of trimmed ids (see s_index_lua)
//
//  Indexing is off the SEND path: the broker's timer indexes, a batch at a
//  time, the rooms it knows that have new entries, and a SEARCH first
//  catches its room up. One Lua script reads the cursor, the entries after
//  it, indexes them and moves the cursor, atomically: two brokers indexing
//  one room never index an entry twice, and doing so would be harmless.
//  An edit moves its message from the words of the text before to those
//  of the new one; a delete (broker_store_scrub, the same script that
//  XDELs the text) takes the message out of every word it was under.
//  Words are cut as pc_words.h says; BROKER_SEARCH_LUA is that rule in
//  Lua, shared with broker_store's scrub.
#ifndef BROKER_SEARCH_H_INCLUDED
#define BROKER_SEARCH_H_INCLUDED

#include "broker_ctx.h"
#include "pc_words.h"

//  Lua: sx_words (text) -> the distinct words of text (pc_words.h's rule);
//  sx_body (text, edits) -> what a stream entry's text says (a message's
//  text, a reply's TEXT, and with edits an edit's TEXT; nil for other
//  events); sx_unindex (stream, id, text) takes id out of text's words.
#define BROKER_SEARCH_LUA \
    "local function sx_words (t) " \
    "  local out, seen = {}, {} " \
    "  for w in string.gmatch (string.lower (t), '[%w\\128-\\255]+') do " \
    "    if #w <= 64 and not seen[w] then " \
    "      local _, n = string.gsub (w, '[^\\128-\\191]', '') " \
    "      if n >= 2 then seen[w] = true out[#out + 1] = w end " \
    "    end " \
    "  end " \
    "  return out " \
    "end " \
    "local function sx_body (t, edits) " \
    "  if string.byte (t, 1) ~= 30 then return t end " \
    "  local k, r, rest = string.match (t, '^\\30(%a+) (%d+) ?(.*)$') " \
    "  if k == 'reply' or (edits and k == 'edit') then return rest end " \
    "  return nil " \
    "end " \
    "local function sx_unindex (s, id, t) " \
    "  for _, w in ipairs (sx_words (t)) do " \
    "    if redis.call ('ZREM', s .. ':sx:' .. w, id) == 1 " \
    "    and redis.call ('EXISTS', s .. ':sx:' .. w) == 0 then " \
    "      redis.call ('ZREM', s .. ':sxw', w) end " \
    "  end " \
    "end "

#define BROKER_SEARCH_BATCH     1000    //  entries indexed per script run
//  Ids one SEARCH looks at, at most: the script holds Redis (every broker's
//  SENDs wait) some 5 us per id and word, so a search of words that seldom
//  meet stops after a few tens of ms and says where to go on
#define BROKER_SEARCH_BUDGET    5000
#define BROKER_SEARCH_LIMIT     20      //  hits per reply by default
#define BROKER_SEARCH_LIMIT_MAX PC_SEARCH_LIMIT_MAX

typedef struct _broker_search_t broker_search_t;

broker_search_t *broker_search_new     (void);
void        broker_search_destroy      (broker_search_t **self_p);
//  From the broker's timer: indexes a batch of the rooms here with
//  entries past their index cursor (at most a few batches a tick).
void        broker_search_tick         (broker_t *self);
//  Indexes stream up to at most max entries: the number indexed, -1 when
//  Redis cannot be reached.
long        broker_search_index        (broker_t *self, const char *stream, long max);

//  Handler (broker_dispatch.h): SEARCH.

void        broker_search_test         (bool verbose);
#endif

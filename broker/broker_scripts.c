//  broker_scripts.c: the Lua scripts the store runs in Redis (see
//  broker_scripts.h). Each is one atomic step: several brokers and a
//  journal replay may write the same stream.
#include "broker_scripts.h"

//  Dedup: what a sender stored in a stream is remembered by its client
//  message id per sender, stream and 10-minute window, for two windows
//  (this window's and the one before, so a resend is recognised for 10 to
//  20 minutes), in one of two shapes:
//  - a hash sent:FROM:STREAM:WINDOW, field CMID = "SEQ TS", written by the
//    scripts below (a message at a time: several brokers, the journal). One
//    hash for a lot's worth of messages costs Redis a fraction of a key
//    with its own expiry each (5.0 instead of 9.2 us a message, measured);
//  - a list sent:FROM:STREAM:WINDOW:runs, one element per run of a lot the
//    broker numbered itself, "\nCMID SEQ TS" per message of the sender's
//    in the run, at most DEDUP_RUNS (broker_store.c) elements: one RPUSH
//    of a run costs Redis far less than a hash field per message (2.6 us
//    less per message, a lot of 256 x 100 B), and a resend is rare enough
//    to be looked for in it (SENT_IN, newest run first).
//  A client message id is 1-64 printable ASCII characters without spaces,
//  so "\nCMID " finds it and nothing else.
#define SENT_IN \
    "local function sent_in(key, cmid) " \
    "  local needle, hi, left = '\\n' .. cmid .. ' ', -1, redis.call('LLEN', key) " \
    "  while left > 0 do " \
    "    local runs = redis.call('LRANGE', key, hi - 63, hi) " \
    "    for i = #runs, 1, -1 do " \
    "      local at = string.find(runs[i], needle, 1, true) " \
    "      if at then return string.match(runs[i], '^%d+ %-?%d+', at + #needle) end end " \
    "    left, hi = left - #runs, hi - 64 end " \
    "  return nil end "

//  Dedup check, then the next id. The floor is the broker's own idea of the
//  last id (Redis may have come back empty); a broker that has not reserved
//  for the stream (new=1) also starts past what a predecessor reserved.
//  Every message stored counts in STREAM:count (started from the stream's
//  length for a stream older than the count). KEYS: stream, sequence,
//  dedup, ahead, count, dedup-before, dedup runs, dedup runs before; ARGV:
//  from, ts, text, maxlen, ttl,
//  floor, new, reserve, channel, cmid. With several brokers (channel not
//  "") the new message is also published there as "SEQ TS FROM TEXT", in
//  the same atomic step, so that the channel carries a stream's messages in
//  id order.
//  Returns {1 new | 0 duplicate, "SEQ TS", ahead}.
const char *const broker_scripts_append =
    SENT_IN
    "local d = redis.call('HGET', KEYS[3], ARGV[10]) or redis.call('HGET', KEYS[6], ARGV[10]) "
    "          or sent_in(KEYS[7], ARGV[10]) or sent_in(KEYS[8], ARGV[10]) "
    "if d then return {0, d, 0} end "
    "local floor = tonumber(ARGV[6]) "
    "if ARGV[7] == '1' then "
    "  floor = math.max(floor, tonumber(redis.call('GET', KEYS[4]) or '0')) end "
    "local cur = tonumber(redis.call('GET', KEYS[2]) or '0') "
    "if cur < floor then redis.call('SET', KEYS[2], floor) end "
    "local seq = redis.call('INCR', KEYS[2]) "
    "redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], seq .. '-0', "
    "           'from', ARGV[1], 'ts', ARGV[2], 'text', ARGV[3]) "
    "if redis.call('INCR', KEYS[5]) == 1 then "
    "  redis.call('SET', KEYS[5], redis.call('XLEN', KEYS[1])) end "
    "local v = seq .. ' ' .. ARGV[2] "
    "redis.call('HSET', KEYS[3], ARGV[10], v) "
    "redis.call('EXPIRE', KEYS[3], ARGV[5]) "
    "if ARGV[9] ~= '' then "
    "  redis.call('PUBLISH', ARGV[9], v .. ' ' .. ARGV[1] .. ' ' .. ARGV[3]) end "
    "local ahead = 0 "
    "if tonumber(ARGV[8]) > 0 then "
    "  ahead = seq + tonumber(ARGV[8]) redis.call('SET', KEYS[4], ahead) end "
    "return {1, v, ahead}";

//  A message numbered by the broker: written ahead or from the journal.
//  Same KEYS and ARGV, but ARGV[6] is its id (ARGV[7] unused). Returns
//  {1 stored | 2 the stream already had that id, "SEQ TS", ahead}.
const char *const broker_scripts_write =
    "local seq = tonumber(ARGV[6]) "
    "local cur = tonumber(redis.call('GET', KEYS[2]) or '0') "
    "if cur < seq then redis.call('SET', KEYS[2], seq) end "
    "local ok = pcall(redis.call, 'XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], seq .. '-0', "
    "                 'from', ARGV[1], 'ts', ARGV[2], 'text', ARGV[3]) "
    "if ok and redis.call('INCR', KEYS[5]) == 1 then "
    "  redis.call('SET', KEYS[5], redis.call('XLEN', KEYS[1])) end "
    "local v = seq .. ' ' .. ARGV[2] "
    "redis.call('HSET', KEYS[3], ARGV[10], v) "
    "redis.call('EXPIRE', KEYS[3], ARGV[5]) "
    "local ahead = tonumber(redis.call('GET', KEYS[4]) or '0') "
    "local reserve = tonumber(ARGV[8]) "
    "if reserve > 0 and ahead < seq + reserve / 2 then "
    "  ahead = seq + reserve redis.call('SET', KEYS[4], ahead) end "
    "return {ok and 1 or 2, v, ahead}";

//  The bookkeeping of a run written as plain XADDs in one MULTI (see
//  broker_store.c, s_run_append): it runs first in the transaction, so the
//  stream's last generated id is the one before the run's XADDs. Its ids
//  are first..first+n-1 (a lot numbers a stream's messages one after the
//  other), so those above that id are the ones the XADDs will store.
//  KEYS: stream, sequence, ahead, count; ARGV: first, n, reserve. Returns
//  ahead.
const char *const broker_scripts_run_book =
    "local first, n = tonumber(ARGV[1]), tonumber(ARGV[2]) "
    "local hi, top = first + n - 1, 0 "
    "if redis.call('EXISTS', KEYS[1]) == 1 then "
    "  local info = redis.call('XINFO', 'STREAM', KEYS[1]) "
    "  for k = 1, #info, 2 do "
    "    if info[k] == 'last-generated-id' then "
    "      top = tonumber(string.match(info[k + 1], '^%d+')) break end end end "
    "local stored = math.max(0, math.min(n, hi - math.max(top, first - 1))) "
    "if stored > 0 and redis.call('INCRBY', KEYS[4], stored) == stored then "
    "  redis.call('SET', KEYS[4], redis.call('XLEN', KEYS[1]) + stored) end "
    "local last = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), hi) "
    "redis.call('SET', KEYS[2], last) "
    "local ahead = tonumber(redis.call('GET', KEYS[3]) or '0') "
    "local reserve = tonumber(ARGV[3]) "
    "if reserve > 0 and ahead < last + reserve / 2 then "
    "  ahead = last + reserve redis.call('SET', KEYS[3], ahead) end "
    "return ahead";

//  Whether from stored a message in a stream under a client message id
//  (the dedup records above). KEYS: dedup, dedup-before, dedup runs, dedup
//  runs before; ARGV: cmid. Returns "SEQ TS", or nil.
const char *const broker_scripts_sent =
    SENT_IN
    "return redis.call('HGET', KEYS[1], ARGV[1]) or redis.call('HGET', KEYS[2], ARGV[1]) "
    "       or sent_in(KEYS[3], ARGV[1]) or sent_in(KEYS[4], ARGV[1])";

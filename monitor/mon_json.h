//  mon_json.h: the STATS reply (PROTOCOL.md, "Commands to the monitor"),
//  rendered with jansson from the model mon_stats keeps.
//
//  {"messages_total":N,"rooms":{"NAME":{"messages":N,"members":N,
//   "rate_1s":R,"rate_1m":R,"rate_15m":R}},"users_online":N,"online":["NAME"],
//   "uptime_s":N,"malformed_total":N,"broker_last_heard_ms":N, ...}
//  Rooms and names sorted; broker_last_heard_ms is the age of the broker's
//  last message in ms, -1 when it was never heard. The fields after it are
//  listed in PROTOCOL.md (rates, logins, DMs, rejects, files, broker,
//  health, alerts, events, rate_history). Rates are rounded to 0.01.
#ifndef MON_JSON_H_INCLUDED
#define MON_JSON_H_INCLUDED

#include "mon_stats.h"

//  Appends the STATS object, compact, to buf.
void        mon_json_stats      (mon_stats_t *stats, pc_buf_t *buf, int64_t now_ms);

void        mon_json_test       (bool verbose);
#endif

//  mon_alerts.h: the monitor's alerts (PROTOCOL.md, "Commands to the
//  monitor"): too many failed logins, a service gone quiet, Redis down, a
//  room over its rate. Judged on the model mon_stats keeps; each is raised
//  (zsys_warning, an event) and cleared (zsys_info, an event) once.
#ifndef MON_ALERTS_H_INCLUDED
#define MON_ALERTS_H_INCLUDED

#include "mon_stats.h"

//  Re-evaluates every alert at now_ms. Call about once a second and before
//  reading the state. Returns the number of active alerts.
size_t      mon_alerts_tick         (mon_stats_t *stats, int64_t now_ms);
//  True when an alert of kind (its name; for room_rate: on subject, or any
//  when subject is NULL) is active.
bool        mon_alerts_active       (mon_stats_t *stats, const char *kind, const char *subject);
//  Alerts of kind active now.
size_t      mon_alerts_count        (mon_stats_t *stats, mon_alert_kind_t kind);
//  "login_failures", "broker_down", ...
const char *mon_alerts_name         (mon_alert_kind_t kind);

//  Service health as the gauges and STATS show it: 1 up, 0 down, -1 unknown.
int         mon_alerts_broker_up    (mon_stats_t *stats, int64_t now_ms);
int         mon_alerts_authsvc_up   (mon_stats_t *stats, int64_t now_ms);
int         mon_alerts_redis_up     (mon_stats_t *stats, int64_t now_ms);
int         mon_alerts_filesvc_up   (mon_stats_t *stats, int64_t now_ms);
//  "up", "down", "unknown" for 1, 0, -1.
const char *mon_alerts_state_name   (int state);

void        mon_alerts_test         (bool verbose);
#endif

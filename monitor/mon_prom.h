//  mon_prom.h: the monitor's counters as Prometheus text (exposition format
//  0.0.4), served on GET /metrics (mon_http). Names, types and help lines
//  are in the HELP and TYPE lines of the text itself.
#ifndef MON_PROM_H_INCLUDED
#define MON_PROM_H_INCLUDED

#include "mon_stats.h"

//  Appends the exposition of every counter and gauge to buf.
void        mon_prom_metrics    (mon_stats_t *stats, pc_buf_t *buf, int64_t now_ms);

void        mon_prom_test       (bool verbose);
#endif

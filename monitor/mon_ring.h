//  mon_ring.h: per-second counts over the last MON_RING_SECONDS seconds:
//  the 1 s, 1 min and 15 min rates, the 60 s sparkline and the alert
//  windows. A plain value (no allocation): embed it, zero it, set last_sec.
#ifndef MON_RING_H_INCLUDED
#define MON_RING_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#define MON_RING_SECONDS    900

typedef struct {
    uint32_t  counts [MON_RING_SECONDS];
    int64_t   last_sec;             //  the second counts [last_sec % N] holds
} mon_ring_t;

//  The second now_ms falls in (floor, also before 1970).
int64_t     mon_ring_second     (int64_t now_ms);
//  Counts one at now_ms.
void        mon_ring_add        (mon_ring_t *self, int64_t now_ms);
//  Sum of count seconds, from `back` seconds before now_ms's second on
//  backwards (back 0 is the current, still incomplete second).
uint64_t    mon_ring_sum        (mon_ring_t *self, int64_t now_ms, int back, int count);
//  Counts per second over the last `seconds` complete seconds, or over the
//  seconds since started_ms when that is fewer.
double      mon_ring_rate       (mon_ring_t *self, int64_t started_ms, int seconds, int64_t now_ms);

void        mon_ring_test       (bool verbose);
#endif

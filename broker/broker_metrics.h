//  broker_metrics.h: what the broker measures for the monitor beyond its
//  queues: the delivery latency as a histogram since the start, and its own
//  process figures (PROTOCOL.md, events "latency" and "process"). Sent on
//  "$ev/" with every heartbeat.
#ifndef BROKER_METRICS_H_INCLUDED
#define BROKER_METRICS_H_INCLUDED

#include <czmq.h>
#include "broker_fanout.h"

//  Upper bounds of the latency buckets, microseconds (50 us .. 1 s)
#define BROKER_LATENCY_BUCKETS  14

typedef struct {
    uint64_t    count;              //  deliveries since the start
    uint64_t    sum_us;
    uint64_t    buckets [BROKER_LATENCY_BUCKETS];  //  each: deliveries <= its bound
} broker_latency_t;

//  Counts one delivery that took us microseconds.
void        broker_latency_observe  (broker_latency_t *self, uint64_t us);
//  Publishes "latency" (the histogram) and "process" (the broker's own
//  figures) on fanout.
void        broker_metrics_send     (broker_fanout_t *fanout, broker_latency_t *latency);
//  Publishes "members" for up to BROKER_MEMBERS_ROOMS rooms of rooms (name
//  -> broker_room_t), taking them in turn from *cursor (advanced).
#define BROKER_MEMBERS_ROOMS    16
void        broker_metrics_members  (broker_fanout_t *fanout, zhashx_t *rooms, size_t *cursor);

void        broker_metrics_test     (bool verbose);
#endif

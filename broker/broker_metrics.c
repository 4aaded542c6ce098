//  broker_metrics.c: the latency histogram and the process figures the
//  broker reports to the monitor (see broker_metrics.h).
#include "broker_metrics.h"
#include "broker_room.h"
#include "pc_limits.h"
#include "pc_proc.h"
#include "pc_proto.h"
#include "pc_util.h"

static const uint64_t s_bounds_us [BROKER_LATENCY_BUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000
};

void
broker_latency_observe (broker_latency_t *self, uint64_t us)
{
    assert (self);
    self->count++;
    self->sum_us += us;
    for (int i = 0; i < BROKER_LATENCY_BUCKETS; i++)
        if (us <= s_bounds_us [i])
            self->buckets [i]++;
}

//  The "latency" event's four fields
static pc_msg_t *
s_latency_event (broker_latency_t *latency)
{
    pc_buf_t bounds, buckets;
    pc_buf_init (&bounds);
    pc_buf_init (&buckets);
    for (int i = 0; i < BROKER_LATENCY_BUCKETS; i++) {
        pc_buf_printf (&bounds, "%s%" PRIu64, i? ",": "", s_bounds_us [i]);
        pc_buf_printf (&buckets, "%s%" PRIu64, i? ",": "", latency->buckets [i]);
    }
    char count [24], sum [24];
    snprintf (count, sizeof (count), "%" PRIu64, latency->count);
    snprintf (sum, sizeof (sum), "%" PRIu64, latency->sum_us);
    pc_msg_t *event = pc_ev_latency_new (count, sum, bounds.data, buckets.data);
    pc_buf_free (&bounds);
    pc_buf_free (&buckets);
    return event;
}

static pc_msg_t *
s_process_event (void)
{
    pc_proc_t proc;
    pc_proc_self (&proc);
    char start [24], rss [24], cpu [24], fds [24];
    snprintf (start, sizeof (start), "%" PRId64, proc.start_ms);
    snprintf (rss, sizeof (rss), "%" PRIu64, proc.rss_bytes);
    snprintf (cpu, sizeof (cpu), "%" PRIu64, proc.cpu_ms);
    snprintf (fds, sizeof (fds), "%" PRIu64, proc.open_fds);
    return pc_ev_process_new ("broker", start, rss, cpu, fds);
}

void
broker_metrics_send (broker_fanout_t *fanout, broker_latency_t *latency)
{
    assert (latency);
    pc_msg_t *event = s_latency_event (latency);
    broker_fanout_send (fanout, event);
    pc_msg_destroy (&event);
    event = s_process_event ();
    broker_fanout_send (fanout, event);
    pc_msg_destroy (&event);
}

//  "members ROOM COUNT USERS", the list capped at one field
static pc_msg_t *
s_members_event (broker_room_t *room)
{
    zlistx_t *names = broker_room_member_list (room);
    pc_buf_t list;
    pc_buf_init (&list);
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names)) {
        if (list.size + PC_NAME_MAX + 1 >= PC_FIELD_MAX)
            break;
        pc_buf_printf (&list, "%s%s", list.size? ",": "", name);
    }
    char count [24];
    snprintf (count, sizeof (count), "%zu", broker_room_members (room));
    pc_msg_t *event = pc_ev_members_new (broker_room_name (room), count, list.data);
    pc_buf_free (&list);
    zlistx_destroy (&names);
    return event;
}

void
broker_metrics_members (broker_fanout_t *fanout, zhashx_t *rooms, size_t *cursor)
{
    assert (rooms);
    assert (cursor);
    size_t size = zhashx_size (rooms);
    if (size == 0)
        return;
    if (*cursor >= size)
        *cursor = 0;
    size_t index = 0, sent = 0;
    for (broker_room_t *room = (broker_room_t *) zhashx_first (rooms);
         room && sent < BROKER_MEMBERS_ROOMS; room = (broker_room_t *) zhashx_next (rooms), index++)
        if (index >= *cursor) {
            pc_msg_t *event = s_members_event (room);
            broker_fanout_send (fanout, event);
            pc_msg_destroy (&event);
            sent++;
        }
    *cursor += sent;
}

//  --------------------------------------------------------------------------
//  Selftest

void
broker_metrics_test (bool verbose)
{
    printf (" * broker_metrics: ");
    broker_latency_t latency = { 0 };
    broker_latency_observe (&latency, 40);
    broker_latency_observe (&latency, 100);
    broker_latency_observe (&latency, 3000);
    broker_latency_observe (&latency, 5000000);         //  over every bound
    assert (latency.count == 4 && latency.sum_us == 5003140);
    assert (latency.buckets [0] == 1 && latency.buckets [1] == 2 && latency.buckets [5] == 2);
    assert (latency.buckets [6] == 3 && latency.buckets [BROKER_LATENCY_BUCKETS - 1] == 3);
    pc_msg_t *event = s_latency_event (&latency);
    assert (streq (pc_ev_latency_count (event), "4"));
    assert (streq (pc_ev_latency_sum_us (event), "5003140"));
    assert (streq (pc_ev_latency_bounds_us (event),
                   "50,100,250,500,1000,2500,5000,10000,25000,50000,100000,250000,500000,1000000"));
    assert (streq (pc_ev_latency_buckets (event), "1,2,2,2,2,2,3,3,3,3,3,3,3,3"));
    pc_msg_destroy (&event);
    event = s_process_event ();
    assert (streq (pc_ev_process_service (event), "broker"));
    assert (atoll (pc_ev_process_start_ms (event)) > 1500000000000LL);
    assert (atoll (pc_ev_process_rss_bytes (event)) > 0);
    pc_msg_destroy (&event);
    broker_room_t *room = broker_room_new ("lobby");
    int one, two;
    broker_room_join (room, "bob", "k1", &one);
    broker_room_join (room, "alice", "k2", &two);
    event = s_members_event (room);
    assert (streq (pc_ev_members_room (event), "lobby"));
    assert (streq (pc_ev_members_count (event), "2"));
    assert (streq (pc_ev_members_users (event), "alice,bob"));
    pc_msg_destroy (&event);
    broker_room_destroy (&room);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

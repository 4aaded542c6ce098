//  mon_ring.c: per-second counts in a ring of MON_RING_SECONDS slots.
#include "mon_ring.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

int64_t
mon_ring_second (int64_t now_ms)
{
    return now_ms >= 0? now_ms / 1000: (now_ms - 999) / 1000;
}

static size_t
s_slot (int64_t second)
{
    return (size_t) (((second % MON_RING_SECONDS) + MON_RING_SECONDS) % MON_RING_SECONDS);
}

//  Moves the ring on to second, zeroing the seconds nothing was counted in.
static void
s_advance (mon_ring_t *self, int64_t second)
{
    if (second <= self->last_sec)
        return;
    if (second - self->last_sec >= MON_RING_SECONDS)
        memset (self->counts, 0, sizeof (self->counts));
    else
        for (int64_t sec = self->last_sec + 1; sec <= second; sec++)
            self->counts [s_slot (sec)] = 0;
    self->last_sec = second;
}

void
mon_ring_add (mon_ring_t *self, int64_t now_ms)
{
    assert (self);
    s_advance (self, mon_ring_second (now_ms));
    self->counts [s_slot (self->last_sec)]++;
}

uint64_t
mon_ring_sum (mon_ring_t *self, int64_t now_ms, int back, int count)
{
    assert (self);
    int64_t now_sec = mon_ring_second (now_ms);
    s_advance (self, now_sec);
    uint64_t sum = 0;
    for (int k = back; k < back + count && k < MON_RING_SECONDS; k++)
        sum += self->counts [s_slot (now_sec - k)];
    return sum;
}

double
mon_ring_rate (mon_ring_t *self, int64_t started_ms, int seconds, int64_t now_ms)
{
    assert (self);
    int64_t ran = mon_ring_second (now_ms) - mon_ring_second (started_ms);
    int divisor = ran < seconds? (int) (ran > 1? ran: 1): seconds;
    return (double) mon_ring_sum (self, now_ms, 1, divisor) / divisor;
}

void
mon_ring_test (bool verbose)
{
    printf (" * mon_ring: ");
    assert (mon_ring_second (1999) == 1 && mon_ring_second (-1) == -1);
    mon_ring_t ring;
    memset (&ring, 0, sizeof (ring));
    int64_t t0 = 1700000000000;
    ring.last_sec = mon_ring_second (t0);
    for (int i = 0; i < 6; i++)
        mon_ring_add (&ring, t0 + i * 500);         //  2 a second for 3 s
    assert (mon_ring_sum (&ring, t0 + 2999, 0, 1) == 2);
    assert (mon_ring_sum (&ring, t0 + 2999, 0, 3) == 6);
    assert (mon_ring_sum (&ring, t0 + 3000, 1, 60) == 6);
    //  Over the 3 s it ran, not over a minute
    assert (mon_ring_rate (&ring, t0, 60, t0 + 3000) == 2.0);
    assert (mon_ring_rate (&ring, t0 - 60000, 60, t0 + 3000) == 0.1);
    //  A jump past the ring's length forgets everything
    assert (mon_ring_sum (&ring, t0 + MON_RING_SECONDS * 1000 + 5000, 0, MON_RING_SECONDS) == 0);
    printf ("OK\n");
}

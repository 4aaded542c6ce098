//  broker_store_test.c: the store's selftest (broker_store_test, declared
//  in broker_store.h), through the public API, against a real redis-server
//  on a free port: appends, resends, history, numbering ahead, outages and
//  the count of messages.
#include "broker_store.h"
#include "pc_util.h"

#include <poll.h>
#include <signal.h>

//  STREAM:count, the messages stored in stream (-1: none)
static long long
s_count (broker_store_t *store, const char *stream)
{
    redisReply *reply = pc_redis_command (broker_store_redis (store), "GET %s:count", stream);
    assert (reply);
    long long count = reply->type == REDIS_REPLY_STRING? atoll (reply->str): -1;
    freeReplyObject (reply);
    return count;
}

//  A fresh Redis on port (empty: no persistence here), once the store may
//  connect again: the journal is written to it
static void
s_redis_back (broker_store_t *store, int port, pid_t *redis_p)
{
    *redis_p = pc_redis_server_start (&port);
    assert (*redis_p > 0);
    zclock_sleep (BROKER_STORE_RETRY_MS + 50);
    assert (broker_store_flush (store) == 0);
}

//  Appends, resends, history: latest, after an id, from the start
static void
s_test_append (broker_store_t *store)
{
    uint64_t seq;
    int64_t ts;
    assert (broker_store_append (store, "room:lobby", "alice", "c1", "one", &seq, &ts) == 0);
    assert (seq == 1);
    assert (broker_store_append (store, "room:lobby", "bob", "c1", "two", &seq, &ts) == 0);
    assert (seq == 2);
    //  A resend: same sender, same client message id -> same seq, stored once
    int64_t first_ts = ts;
    assert (broker_store_append (store, "room:lobby", "bob", "c1", "two", &seq, &ts) == 1);
    assert (seq == 2 && ts == first_ts);
    for (int i = 3; i <= 8; i++) {
        char cmid [16];
        snprintf (cmid, sizeof (cmid), "k%d", i);
        assert (broker_store_append (store, "room:lobby", "alice", cmid, "more", &seq, &ts) == 0);
        assert (seq == (uint64_t) i);
    }
    assert (s_count (store, "room:lobby") == 8);    //  the resend is not counted
    zlistx_t *records = broker_store_records_new ();
    assert (broker_store_history (store, "room:lobby", 6, 100, records) == 0);
    assert (zlistx_size (records) == 2);
    broker_record_t *record = (broker_record_t *) zlistx_first (records);
    assert (record->seq == 7 && streq (record->from, "alice") && streq (record->text, "more"));
    zlistx_purge (records);
    //  Latest N, oldest first
    assert (broker_store_history (store, "room:lobby", 0, 3, records) == 0);
    assert (zlistx_size (records) == 3);
    assert (((broker_record_t *) zlistx_first (records))->seq == 6);
    assert (((broker_record_t *) zlistx_last (records))->seq == 8);
    zlistx_purge (records);
    //  From the start: message 1 is reachable however long the room is
    assert (broker_store_history (store, "room:lobby", BROKER_FROM_START, 2, records) == 0);
    assert (zlistx_size (records) == 2);
    assert (((broker_record_t *) zlistx_first (records))->seq == 1);
    assert (((broker_record_t *) zlistx_last (records))->seq == 2);
    zlistx_destroy (&records);
}

//  Redis goes away: the known room keeps going through the journal, an
//  unknown room is refused; when Redis is back the journal lands in order.
static void
s_test_outage (broker_store_t *store, int port, pid_t *redis_p)
{
    uint64_t seq;
    int64_t ts;
    pc_redis_server_stop (*redis_p);
    assert (broker_store_append (store, "room:lobby", "alice", "j1", "during", &seq, &ts) == 0);
    assert (seq == 9);
    assert (broker_store_append (store, "room:elsewhere", "alice", "j2", "x", &seq, &ts) == -1);
    zlistx_t *records = broker_store_records_new ();
    assert (broker_store_history (store, "room:lobby", 8, 10, records) == -1);
    assert (!broker_store_available (store));
    s_redis_back (store, port, redis_p);
    assert (broker_store_available (store));
    assert (broker_store_append (store, "room:lobby", "bob", "j3", "after", &seq, &ts) == 0);
    assert (seq == 10);                             //  never reuses a sequence
    //  The new Redis had no count: it starts from what the stream holds
    assert (s_count (store, "room:lobby") == 2);
    assert (broker_store_history (store, "room:lobby", 0, 10, records) == 0);
    assert (zlistx_size (records) == 2);
    assert (((broker_record_t *) zlistx_first (records))->seq == 9);
    zlistx_destroy (&records);
}

//  Pipelined appends: in order, with a duplicate in the lot
static void
s_test_append_many (broker_store_t *store)
{
    broker_append_t items [4] = {
        { "room:fast", "alice", "p1", "a", 0, 0, 0 },
        { "room:fast", "bob",   "p1", "b", 0, 0, 0 },
        { "room:fast", "alice", "p1", "a", 0, 0, 0 },
        { "room:fast", "alice", "p2", "c", 0, 0, 0 },
    };
    broker_store_append_many (store, items, 4);
    assert (items [0].rc == 0 && items [0].seq == 1);
    assert (items [1].rc == 0 && items [1].seq == 2);
    assert (items [2].rc == 1 && items [2].seq == 1);
    assert (items [3].rc == 0 && items [3].seq == 3);
    assert (s_count (store, "room:fast") == 3);
}

//  A lot bigger than what is reserved waits for Redis, numbering none
static void
s_test_over_reserve (broker_store_t *store)
{
    size_t big = BROKER_STORE_RESERVE + 8;
    broker_append_t *lot = (broker_append_t *) calloc (big, sizeof (broker_append_t));
    char (*cmids) [16] = (char (*) [16]) calloc (big, 16);
    assert (lot && cmids);
    for (size_t i = 0; i < big; i++) {
        snprintf (cmids [i], 16, "b%zu", i);
        lot [i] = (broker_append_t) { "room:fast", "alice", cmids [i], "x", 0, 0, 0 };
    }
    assert (!broker_store_number_many (store, lot, big));
    assert (lot [0].seq == 0 && lot [big - 1].seq == 0);
    uint64_t known;
    assert (broker_store_known_seq (store, "room:fast", &known) && known == 5);
    free (lot);
    free (cmids);
}

//  Numbering ahead: from the ids room:fast's appends reserved; a message
//  twice in the lot is one; an unknown stream waits for Redis
static void
s_test_number_ahead (broker_store_t *store)
{
    broker_append_t next [3] = {
        { "room:fast", "alice", "q1", "d", 0, 0, 0 },
        { "room:fast", "bob",   "q1", "e", 0, 0, 0 },
        { "room:fast", "alice", "q1", "d", 0, 0, 0 },
    };
    assert (broker_store_number_many (store, next, 3));
    assert (next [0].rc == 0 && next [0].seq == 4);
    assert (next [1].rc == 0 && next [1].seq == 5);
    assert (next [2].rc == 1 && next [2].seq == 4 && next [2].ts == next [0].ts);
    broker_store_write_finish (store, broker_store_write_send (store, next, 3));
    assert (next [0].rc == 0 && next [1].rc == 0);
    assert (s_count (store, "room:fast") == 5);     //  the repeat is not counted
    broker_append_t unknown = { "room:new", "alice", "n1", "x", 0, 0, 0 };
    assert (!broker_store_number_many (store, &unknown, 1));
    s_test_over_reserve (store);
    zlistx_t *records = broker_store_records_new ();
    assert (broker_store_history (store, "room:fast", 3, 10, records) == 0);
    assert (zlistx_size (records) == 2);
    broker_record_t *record = (broker_record_t *) zlistx_first (records);
    assert (record->seq == 4 && streq (record->from, "alice") && streq (record->text, "d"));
    zlistx_destroy (&records);
    //  A resend of a message written ahead is still recognised
    uint64_t seq;
    int64_t ts;
    assert (broker_store_append (store, "room:fast", "bob", "q1", "e", &seq, &ts) == 1);
    assert (seq == 5);
}

//  A lot written while another writer took one of its ids (a journal written
//  twice, a second broker): the stream keeps what it had, XADD takes no id
//  at or below the stream's last (so the one before it is lost too, as
//  s_id_taken warns), the count counts what was stored, and every message
//  of the lot, of either sender, is recognised when sent again.
static void
s_test_run_id_taken (broker_store_t *store)
{
    redisReply *reply = pc_redis_command (broker_store_redis (store),
        "XADD room:fast 7-0 from mallory ts 0 text squat");
    assert (reply);
    freeReplyObject (reply);
    broker_append_t lot [3] = {
        { "room:fast", "alice", "r1", "i", 0, 0, 0 },
        { "room:fast", "bob",   "r1", "j", 0, 0, 0 },
        { "room:fast", "alice", "r2", "k", 0, 0, 0 },
    };
    assert (broker_store_number_many (store, lot, 3));
    assert (lot [0].seq == 6 && lot [1].seq == 7 && lot [2].seq == 8);
    broker_store_write_finish (store, broker_store_write_send (store, lot, 3));
    assert (s_count (store, "room:fast") == 6);
    zlistx_t *records = broker_store_records_new ();
    assert (broker_store_history (store, "room:fast", 5, 10, records) == 0);
    assert (zlistx_size (records) == 2);
    broker_record_t *record = (broker_record_t *) zlistx_first (records);
    assert (record->seq == 7 && streq (record->from, "mallory"));
    record = (broker_record_t *) zlistx_next (records);
    assert (record->seq == 8 && streq (record->from, "alice") && streq (record->text, "k"));
    zlistx_destroy (&records);
    uint64_t seq;
    int64_t ts;
    assert (broker_store_append (store, "room:fast", "bob", "r1", "j", &seq, &ts) == 1 && seq == 7);
    assert (broker_store_append (store, "room:fast", "alice", "r1", "i", &seq, &ts) == 1 && seq == 6);
    assert (broker_store_append (store, "room:fast", "alice", "r2", "k", &seq, &ts) == 1 && seq == 8);
    uint64_t known;
    assert (broker_store_known_seq (store, "room:fast", &known) && known == 8);
}

//  Lots in flight: two written before either is answered, answered in
//  order as Redis's replies are read, without waiting; anyone else's
//  command on the connection has a lot's answer read first.
static void
s_test_in_flight (broker_store_t *store)
{
    broker_append_t one [2] = {
        { "room:fast", "alice", "f1", "l", 0, 0, 0 },
        { "room:fast", "bob",   "f1", "m", 0, 0, 0 },
    };
    broker_append_t two = { "room:fast", "carol", "f1", "n", 0, 0, 0 };
    assert (broker_store_write_fd (store) == -1);
    assert (broker_store_number_many (store, one, 2));
    uint64_t first = broker_store_write_send (store, one, 2);
    broker_store_write_release (store);
    assert (broker_store_number_many (store, &two, 1));
    assert (two.seq == one [1].seq + 1);
    uint64_t second = broker_store_write_send (store, &two, 1);
    broker_store_write_release (store);
    assert (second == first + 1);
    uint64_t answered = 0;
    int64_t deadline = zclock_mono () + 2000;
    while (answered < second && zclock_mono () < deadline) {
        struct pollfd pfd = { broker_store_write_fd (store), POLLIN, 0 };
        assert (pfd.fd >= 0);
        poll (&pfd, 1, 100);
        answered = broker_store_write_read (store, 0);
        assert (answered == first - 1 || answered == first || answered == second);
    }
    assert (answered == second && broker_store_write_fd (store) == -1);
    assert (one [0].rc == 0 && one [1].rc == 0 && two.rc == 0);
    assert (s_count (store, "room:fast") == 9);
    //  A lot in flight, then someone else's read: it sees the lot stored
    broker_append_t three = { "room:fast", "dave", "f1", "o", 0, 0, 0 };
    assert (broker_store_number_many (store, &three, 1));
    uint64_t third = broker_store_write_send (store, &three, 1);
    broker_store_write_release (store);
    zlistx_t *records = broker_store_records_new ();
    assert (broker_store_history (store, "room:fast", 0, 1, records) == 0);
    broker_record_t *record = (broker_record_t *) zlistx_first (records);
    assert (record && record->seq == three.seq && streq (record->text, "o"));
    zlistx_destroy (&records);
    assert (broker_store_write_fd (store) == -1 && broker_store_write_read (store, 0) == third);
    assert (three.rc == 0 && s_count (store, "room:fast") == 10);
}

//  A lot's dedup records (one list element per run and sender): a resend
//  of any of its messages is recognised, as the first, middle or last of a
//  run, by an id that begins like another (r1, r10) and by the DM check
//  (sent_before); an id that is only the beginning of one (r) is new. A
//  sender's list keeps its last 1,024 runs.
static void
s_test_dedup_runs (broker_store_t *store)
{
    uint64_t seq;
    int64_t ts;
    broker_append_t reserve = { "room:runs", "erin", "r0", "first", 0, 0, 0 };
    broker_store_append_many (store, &reserve, 1);
    assert (reserve.rc == 0);
    broker_append_t lot [5] = {
        { "room:runs", "erin", "r10", "a", 0, 0, 0 },
        { "room:runs", "erin", "r1",  "b", 0, 0, 0 },
        { "room:runs", "fred", "r1",  "c", 0, 0, 0 },
        { "room:runs", "erin", "r2",  "d", 0, 0, 0 },
        { "room:runs", "erin", "r3",  "e", 0, 0, 0 },
    };
    assert (broker_store_number_many (store, lot, 5));
    broker_store_write_finish (store, broker_store_write_send (store, lot, 5));
    const char *resent [] = { "r10", "r1", "r2", "r3" };
    const int which [] = { 0, 1, 3, 4 };
    for (int i = 0; i < 4; i++) {
        assert (broker_store_append (store, "room:runs", "erin", resent [i], "again", &seq, &ts) == 1);
        assert (seq == lot [which [i]].seq && ts == lot [which [i]].ts);
        assert (broker_store_sent_before (store, "erin", "room:runs", resent [i]));
    }
    assert (broker_store_append (store, "room:runs", "fred", "r1", "again", &seq, &ts) == 1);
    assert (seq == lot [2].seq);
    assert (!broker_store_sent_before (store, "fred", "room:runs", "r2"));
    assert (!broker_store_sent_before (store, "erin", "room:runs", "r"));
    assert (broker_store_append (store, "room:runs", "erin", "r", "new", &seq, &ts) == 0);
    assert (seq == lot [4].seq + 1);
    //  1,025 runs of one message: the first is forgotten, the second not
    broker_append_t run = { "room:runs", "gwen", NULL, "x", 0, 0, 0 };
    char cmid [16];
    for (int i = 0; i <= 1024; i++) {
        snprintf (cmid, sizeof (cmid), "g%d", i);
        run.cmid = cmid;
        assert (broker_store_number_many (store, &run, 1) && run.rc == 0);
        broker_store_write_finish (store, broker_store_write_send (store, &run, 1));
        assert (run.rc == 0);
    }
    assert (!broker_store_sent_before (store, "gwen", "room:runs", "g0"));
    assert (broker_store_sent_before (store, "gwen", "room:runs", "g1"));
    assert (broker_store_sent_before (store, "gwen", "room:runs", "g1024"));
}

//  A broker that ends without giving its reserved ids back (killed): the
//  next one numbers past them, so no id it may have delivered is given to
//  another message; after a clean stop the ids go on.
static void
s_test_successor (int port)
{
    uint64_t seq;
    int64_t ts;
    broker_store_t *successor = broker_store_new ("127.0.0.1", port, 5);
    assert (broker_store_append (successor, "room:fast", "carol", "s1", "f", &seq, &ts) == 0);
    assert (seq == 3 + BROKER_STORE_RESERVE + 1);
    broker_store_destroy (&successor);
    successor = broker_store_new ("127.0.0.1", port, 5);
    assert (broker_store_append (successor, "room:fast", "carol", "s2", "g", &seq, &ts) == 0);
    assert (seq == 3 + BROKER_STORE_RESERVE + 2);
    broker_store_destroy (&successor);
}

//  Redis gone between numbering and writing: the lot is journaled under
//  its ids and written when Redis is back
static void
s_test_write_outage (broker_store_t *store, int port, pid_t *redis_p)
{
    broker_append_t late = { "room:fast", "alice", "q2", "h", 0, 0, 0 };
    assert (broker_store_number_many (store, &late, 1));
    pc_redis_server_stop (*redis_p);
    broker_store_write_finish (store, broker_store_write_send (store, &late, 1));
    assert (late.rc == 0);
    assert (!broker_store_number_many (store, &late, 1));  //  not while Redis is away
    s_redis_back (store, port, redis_p);
    zlistx_t *records = broker_store_records_new ();
    assert (broker_store_history (store, "room:fast", 0, 1, records) == 0);
    broker_record_t *record = (broker_record_t *) zlistx_first (records);
    assert (record && record->seq == late.seq && streq (record->text, "h"));
    zlistx_destroy (&records);
    //  The new Redis holds the journaled message only, counted once
    assert (s_count (store, "room:fast") == 1);
}

//  Redis dies with two lots in flight (stopped first, so that neither is
//  answered): both wait in the journal, in order, not lost, and are
//  written when Redis is back
static void
s_test_flying_outage (broker_store_t *store, int port, pid_t *redis_p)
{
    broker_append_t zero = { "room:fly", "alice", "y0", "p", 0, 0, 0 };
    broker_store_append_many (store, &zero, 1);     //  reserves ids ahead
    assert (zero.rc == 0);
    broker_append_t one = { "room:fly", "alice", "y1", "q", 0, 0, 0 };
    broker_append_t two = { "room:fly", "bob", "y1", "r", 0, 0, 0 };
    assert (kill (*redis_p, SIGSTOP) == 0);
    assert (broker_store_number_many (store, &one, 1));
    broker_store_write_send (store, &one, 1);
    broker_store_write_release (store);
    assert (broker_store_number_many (store, &two, 1));
    uint64_t second = broker_store_write_send (store, &two, 1);
    broker_store_write_release (store);
    assert (kill (*redis_p, SIGKILL) == 0);
    pc_redis_server_stop (*redis_p);
    assert (broker_store_write_read (store, second) == second);
    assert (one.rc == 0 && two.rc == 0 && two.seq == one.seq + 1);
    assert (broker_store_write_fd (store) == -1);
    assert (!broker_store_number_many (store, &one, 1));    //  not while Redis is away
    s_redis_back (store, port, redis_p);
    zlistx_t *records = broker_store_records_new ();
    assert (broker_store_history (store, "room:fly", 0, 5, records) == 0);
    assert (zlistx_size (records) == 2);
    broker_record_t *record = (broker_record_t *) zlistx_first (records);
    assert (record->seq == one.seq && streq (record->text, "q"));
    record = (broker_record_t *) zlistx_next (records);
    assert (record->seq == two.seq && streq (record->text, "r"));
    zlistx_destroy (&records);
}

void
broker_store_test (bool verbose)
{
    printf (" * broker_store: ");
    int port = 0;
    pid_t redis = pc_redis_server_start (&port);
    if (redis <= 0) {
        printf ("SKIPPED (no redis-server)\n");
        return;
    }
    broker_store_t *store = broker_store_new ("127.0.0.1", port, 5);
    s_test_append (store);
    s_test_outage (store, port, &redis);
    s_test_append_many (store);
    s_test_number_ahead (store);
    s_test_run_id_taken (store);
    s_test_in_flight (store);
    s_test_dedup_runs (store);
    s_test_successor (port);
    s_test_write_outage (store, port, &redis);
    s_test_flying_outage (store, port, &redis);
    broker_store_destroy (&store);
    pc_redis_server_stop (redis);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

//  client_session_test.c: the session engine's selftest, against a scripted
//  fake of the transport table (client_session_fake.h).
#include "client_session.h"
#include "client_session_fake.h"
#include "pc_proto.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <inttypes.h>

static void
s_test_login_and_gap (client_session_t *session, client_session_fake_t *fake, client_session_fake_heard_t *heard)
{
    client_session_start (session, "tcp://h:1", "key", "alice", "secret");
    pc_msg_t *history = client_session_fake_login (session, fake, NULL, 0);
    assert (streq (pc_history_since (history), "0") && streq (pc_history_limit (history), "50"));
    client_session_fake_answer (fake, &history, "1", "bob", "1000", "one", "2", "bob", "1000", "two", NULL);
    client_session_input (session);
    assert (streq (heard->log, "r:1:one*;r:2:two*;"));
    assert (heard->readies == 1);
    //  Live: the next id is handed on; a gap is fetched first; repeats dropped.
    client_session_fake_fan (fake, "3", "r", "three");
    client_session_fake_fan (fake, "6", "r", "six");
    client_session_input (session);
    history = client_session_fake_expect (fake, "HISTORY");
    assert (streq (pc_history_since (history), "3"));
    client_session_fake_answer (fake, &history, "4", "bob", "1", "four", "5", "bob", "1", "five",
              "6", "bob", "1", "six", NULL);
    client_session_fake_fan (fake, "6", "r", "six");
    client_session_fake_fan (fake, "7", "r", "seven");
    client_session_input (session);
    assert (streq (heard->log, "r:1:one*;r:2:two*;r:3:three;r:4:four*;r:5:five*;r:6:six*;r:7:seven;"));
    assert (client_session_fake_pending (fake) == 0);
}

//  A reply says "log in first": LOGIN again at once, then JOIN, then the
//  unacknowledged SENDs in order with their client message ids, then SUBS.
static void
s_test_forgotten (client_session_t *session, client_session_fake_t *fake, client_session_fake_heard_t *heard)
{
    heard->log [0] = 0;
    char cid1 [CLIENT_SESSION_CID], cid2 [CLIENT_SESSION_CID];
    assert (client_session_send (session, "r", "hello", cid1) == 0);
    pc_msg_t *send = client_session_fake_expect (fake, "SEND");
    assert (streq (pc_send_cmid (send), cid1));
    client_session_fake_refuse (fake, &send, PC_ERR_FORBIDDEN, "log in first");
    client_session_input (session);
    assert (client_session_state (session) == CLIENT_SESSION_WAITING);
    assert (client_session_send (session, "r", "again", cid2) == 0);
    assert (client_session_queued (session) == 2 && client_session_fake_pending (fake) == 0);
    client_session_tick (session);                  //  at once: no backoff
    assert (client_session_fake_opens (fake) == 2);
    pc_msg_t *sends [2];
    pc_msg_t *history = client_session_fake_login (session, fake, sends, 2);
    pc_msg_t *first = sends [0], *second = sends [1];
    assert (streq (pc_send_cmid (first), cid1) && streq (pc_send_text (first), "hello"));
    assert (streq (pc_send_cmid (second), cid2));
    assert (streq (pc_history_since (history), "7"));    //  caught up from the last id
    client_session_fake_answer (fake, &first, "8", "2000", NULL);
    client_session_fake_answer (fake, &second, "9", "2001", NULL);
    client_session_fake_answer (fake, &history, NULL);
    client_session_input (session);
    assert (streq (heard->log, "sent:0:8;sent:0:9;"));
    assert (client_session_queued (session) == 0 && heard->readies == 2);
}

//  Silence: reconnect after 1 s, then 2 s, then 4 s; SUBS probes meanwhile.
static void
s_test_backoff (client_session_t *session, client_session_fake_t *fake, client_session_fake_heard_t *heard)
{
    *client_session_fake_clock (fake) += 1000;
    client_session_tick (session);
    pc_msg_t *probe = client_session_fake_expect (fake, "SUBS");
    pc_msg_destroy (&probe);
    *client_session_fake_clock (fake) += 2001;
    client_session_tick (session);
    assert (client_session_state (session) == CLIENT_SESSION_WAITING);
    int opens = client_session_fake_opens (fake);
    int64_t waits [] = { 1000, 2000, 4000 };
    for (size_t i = 0; i < 3; i++) {
        assert (client_session_retry_at (session) == *client_session_fake_clock (fake) + waits [i]);
        *client_session_fake_clock (fake) += waits [i] - 1;
        client_session_tick (session);
        assert (client_session_fake_opens (fake) == opens);
        *client_session_fake_clock (fake) += 1;
        client_session_tick (session);
        assert (client_session_fake_opens (fake) == ++opens);
        assert (client_session_state (session) == CLIENT_SESSION_CONNECTING);
        pc_msg_t *login = client_session_fake_expect (fake, "LOGIN");
        pc_msg_destroy (&login);
        *client_session_fake_clock (fake) += CLIENT_SESSION_DEAD_MS + 1;
        client_session_tick (session);
        client_session_fake_purge (fake);                  //  the PINGs meanwhile
    }
}

void
client_session_test (bool verbose)
{
    printf (" * client_session: ");
    client_session_fake_t *fake = client_session_fake_new ();
    client_session_fake_heard_t heard;
    memset (&heard, 0, sizeof (heard));
    client_session_t *session = client_session_new (&client_session_fake_transport, fake,
                                                    &client_session_fake_events, &heard);
    client_session_follow (session, "r", false, 0, 50);
    s_test_login_and_gap (session, fake, &heard);
    s_test_forgotten (session, fake, &heard);
    s_test_backoff (session, fake, &heard);
    client_session_destroy (&session);
    assert (!client_session_fake_is_open (fake));
    client_session_fake_destroy (&fake);
    printf ("OK\n");
}

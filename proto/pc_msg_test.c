//  pc_msg_test.c: the codec's selftest (pc_msg_test, declared in pc_msg.h),
//  through the public API only: real sockets, packed and plain forms,
//  batches, every malformed case, and random garbage.
#include "pc_msg.h"
#include "pc_limits.h"
#include "pc_util.h"

//  --------------------------------------------------------------------------
//  Selftest

static int
s_decode_frames (pc_msg_t *self, int flags, int nframes, const char **frames, const size_t *sizes)
{
    zmsg_t *msg = zmsg_new ();
    for (int i = 0; i < nframes; i++)
        zmsg_addmem (msg, frames [i], sizes? sizes [i]: strlen (frames [i]));
    return pc_msg_decode (self, &msg, flags);
}

//  Round trip through a real socket pair
static void
s_test_round_trip (pc_msg_t *got)
{
    zsock_t *output = zsock_new_dealer ("@inproc://pc_msg_test");
    zsock_t *input = zsock_new_router (">inproc://pc_msg_test");
    pc_msg_t *msg = pc_msg_new ("SEND");
    pc_msg_set_reqid (msg, "r1");
    pc_msg_add (msg, "lobby");
    pc_msg_add (msg, "c-1");
    pc_msg_add (msg, "héllo 你好");
    assert (pc_msg_send (msg, output) == 0);
    assert (pc_msg_recv (got, input) == 0);
    assert (pc_msg_routing_id (got));
    assert (streq (pc_msg_command (got), "SEND"));
    assert (streq (pc_msg_reqid (got), "r1"));
    assert (pc_msg_nfields (got) == 3);
    assert (streq (pc_msg_field (got, 2), "héllo 你好"));
    assert (pc_msg_field (got, 3) == NULL);
    //  Reply goes back to the sender
    pc_msg_t *reply = pc_msg_new_ok (got);
    pc_msg_add (reply, "7");
    assert (pc_msg_send (reply, input) == 0);
    assert (pc_msg_recv (got, output) == 0);
    assert (pc_msg_is (got, "OK"));
    assert (streq (pc_msg_reqid (got), "r1"));
    assert (streq (pc_msg_field (got, 0), "7"));
    pc_msg_destroy (&reply);
    pc_msg_destroy (&msg);
    zsock_destroy (&input);
    zsock_destroy (&output);

}

//  Malformed inputs: each gets the right code, none crashes
static void
s_test_malformed (pc_msg_t *got)
{
    const char *ok3 [] = { PC_SIGNATURE, "PING", "x" };
    assert (s_decode_frames (got, 0, 3, ok3, NULL) == 0);
    const char *short2 [] = { PC_SIGNATURE, "PING" };
    assert (s_decode_frames (got, 0, 2, short2, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_MALFORMED);
    const char *badsig [] = { "HTTP/1.1", "PING", "x" };
    assert (s_decode_frames (got, 0, 3, badsig, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_MALFORMED);
    const char *newver [] = { "PYCHAT9", "PING", "x" };
    assert (s_decode_frames (got, 0, 3, newver, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_VERSION);
    const char *unknown [] = { PC_SIGNATURE, "FLY", "r9" };
    assert (s_decode_frames (got, 0, 3, unknown, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_UNKNOWN);
    assert (streq (pc_msg_reqid (got), "r9"));
    const char *extra [] = { PC_SIGNATURE, "PING", "x", "surplus" };
    assert (s_decode_frames (got, 0, 4, extra, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_MALFORMED);
    const char *badname [] = { PC_SIGNATURE, "JOIN", "x", "Lobby" };
    assert (s_decode_frames (got, 0, 4, badname, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_BAD_NAME);
    const char *badutf8 [] = { PC_SIGNATURE, "SEND", "x", "lobby", "c1", "\xff\xfe" };
    assert (s_decode_frames (got, 0, 6, badutf8, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_BAD_TEXT);
    char *big = (char *) malloc (PC_TEXT_MAX + 2);
    memset (big, 'a', PC_TEXT_MAX + 1);
    big [PC_TEXT_MAX + 1] = 0;
    const char *toolong [] = { PC_SIGNATURE, "SEND", "x", "lobby", "c1", big };
    assert (s_decode_frames (got, 0, 6, toolong, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_TOO_LONG);
    big [PC_TEXT_MAX] = 0;             //  exactly at the limit: accepted
    assert (s_decode_frames (got, 0, 6, toolong, NULL) == 0);
    free (big);
    const char *nul [] = { PC_SIGNATURE, "LOGIN", "x", "alice", "pa\0ss" };
    size_t nulsizes [] = { 7, 5, 1, 5, 5 };
    assert (s_decode_frames (got, 0, 5, nul, nulsizes) == -2);
    const char *badreq [] = { PC_SIGNATURE, "PING", "has space" };
    assert (s_decode_frames (got, 0, 3, badreq, NULL) == -2);
    const char *routed_empty [] = { "" };
    assert (s_decode_frames (got, PC_MSG_ROUTED | PC_MSG_TOPIC, 1, routed_empty, NULL) == -2);
    assert (s_decode_frames (got, PC_MSG_ROUTED, 0, NULL, NULL) == -2);
    const char *fanout [] = { "r/lobby/", PC_SIGNATURE, "MSG", "", "12", "lobby", "bob", "1700000000000", "hi" };
    assert (s_decode_frames (got, PC_MSG_TOPIC, 9, fanout, NULL) == 0);
    assert (streq (pc_msg_topic (got), "r/lobby/"));
    assert (streq (pc_msg_field (got, 4), "hi"));
}

//  Packed form: the same message in one frame; broken packs refused
static void
s_test_packed (pc_msg_t *got)
{
    pc_msg_t *packme = pc_msg_new ("MSG");
    pc_msg_add (packme, "7");
    pc_msg_add (packme, "lobby");
    pc_msg_add (packme, "bob");
    pc_msg_add (packme, "1700000000000");
    pc_msg_add (packme, "héllo");
    zframe_t *packed = pc_msg_pack (packme);
    //  Packed from parts, without a pc_msg_t: the same bytes
    pc_buf_t parts;
    pc_buf_init (&parts);
    const char *fields [] = { "7", "lobby", "bob", "1700000000000", "héllo" };
    pc_msg_pack_parts (&parts, "MSG", NULL, 5, fields, NULL);
    assert (parts.size == zframe_size (packed) && memcmp (parts.data, zframe_data (packed), parts.size) == 0);
    pc_buf_reset (&parts);
    pc_msg_set_reqid (packme, "r9");
    pc_msg_pack_append (packme, &parts);
    size_t sizes [] = { 1, 5, 3, 13, 6 };
    pc_msg_pack_parts (&parts, "MSG", "r9", 5, fields, sizes);
    assert (parts.size % 2 == 0 && memcmp (parts.data, parts.data + parts.size / 2, parts.size / 2) == 0);
    pc_msg_set_reqid (packme, NULL);
    pc_buf_free (&parts);
    zmsg_t *wire = zmsg_new ();
    zmsg_addstr (wire, "s/0123/");
    zmsg_append (wire, &(zframe_t *) { zframe_dup (packed) });
    assert (pc_msg_decode (got, &wire, PC_MSG_TOPIC) == 0);
    assert (pc_msg_is (got, "MSG") && streq (pc_msg_field (got, 4), "héllo"));
    assert (streq (pc_msg_topic (got), "s/0123/"));
    for (size_t cut = 0; cut < zframe_size (packed); cut++) {
        zmsg_t *broken = zmsg_new ();
        zmsg_addstr (broken, "s/0123/");
        zmsg_addmem (broken, zframe_data (packed), cut);
        assert (pc_msg_decode (got, &broken, PC_MSG_TOPIC) == -2);
    }
    //  A batch: three packed messages in one frame, decoded one by one
    zframe_t *one = pc_msg_pack (packme);
    pc_msg_reset (packme, "MSG");
    pc_msg_add (packme, "8");
    pc_msg_add (packme, "lobby");
    pc_msg_add (packme, "ann");
    pc_msg_add (packme, "1700000000001");
    pc_msg_add (packme, "second");
    zframe_t *two = pc_msg_pack (packme);
    size_t total = 2 * zframe_size (one) + zframe_size (two);
    byte *joined = (byte *) malloc (total);
    memcpy (joined, zframe_data (one), zframe_size (one));
    memcpy (joined + zframe_size (one), zframe_data (two), zframe_size (two));
    memcpy (joined + zframe_size (one) + zframe_size (two), zframe_data (one), zframe_size (one));
    wire = zmsg_new ();
    zmsg_addstr (wire, "s/0123/");
    zmsg_addmem (wire, joined, total);
    assert (pc_msg_decode (got, &wire, PC_MSG_TOPIC) == 0);
    assert (streq (pc_msg_field (got, 0), "7") && pc_msg_more (got));
    pc_msg_t *copy = pc_msg_dup (got);
    assert (pc_msg_next (got) == 0);
    assert (streq (pc_msg_field (got, 0), "8") && streq (pc_msg_field (got, 4), "second"));
    assert (streq (pc_msg_topic (got), "s/0123/"));
    assert (streq (pc_msg_field (copy, 4), "héllo") && !pc_msg_more (copy));
    assert (pc_msg_more (got) && pc_msg_next (got) == 0);
    assert (streq (pc_msg_field (got, 0), "7") && !pc_msg_more (got));
    assert (pc_msg_next (got) == -1);
    //  A batch cut short: the whole messages decode, the torn one is malformed
    wire = zmsg_new ();
    zmsg_addstr (wire, "s/0123/");
    zmsg_addmem (wire, joined, total - 3);
    assert (pc_msg_decode (got, &wire, PC_MSG_TOPIC) == 0);
    assert (pc_msg_next (got) == 0);
    assert (pc_msg_next (got) == -2 && !pc_msg_more (got));
    free (joined);
    pc_msg_destroy (&copy);
    zframe_destroy (&one);
    zframe_destroy (&two);
    zframe_destroy (&packed);
    pc_msg_destroy (&packme);
}

//  What pc_msg_send puts on the wire: one frame, the topic and a NUL
//  first on a PUB; sizes of 128 bytes and more take several varint bytes
static void
s_test_wire_form (pc_msg_t *got)
{
    zmsg_t *wire;
    zsock_t *pub = zsock_new_pub ("@inproc://pc_msg_test_pub");
    zsock_t *sub = zsock_new_sub (">inproc://pc_msg_test_pub", "s/0123/");
    pc_msg_t *long_text = pc_msg_new ("MSG");
    pc_msg_set_topic (long_text, "s/0123/");
    pc_msg_add (long_text, "9");
    pc_msg_add (long_text, "lobby");
    pc_msg_add (long_text, "bob");
    pc_msg_add (long_text, "1700000000002");
    char text [PC_TEXT_MAX + 1];
    memset (text, 'y', PC_TEXT_MAX);
    text [PC_TEXT_MAX] = 0;
    pc_msg_add (long_text, text);
    for (int attempt = 0; attempt < 200; attempt++) {
        assert (pc_msg_send (long_text, pub) == 0);
        if (zsock_events (sub) & ZMQ_POLLIN)
            break;
        zclock_sleep (5);           //  the subscription travels first
    }
    zmsg_t *raw = zmsg_recv (sub);
    assert (raw && zmsg_size (raw) == 1);
    assert (memcmp (zframe_data (zmsg_first (raw)), "s/0123/\0", 8) == 0);
    assert (pc_msg_decode (got, &raw, PC_MSG_TOPIC) == 0);
    assert (streq (pc_msg_topic (got), "s/0123/") && !pc_msg_more (got));
    assert (pc_msg_field_size (got, 4) == PC_TEXT_MAX && streq (pc_msg_field (got, 4), text));
    while (zsock_events (sub) & ZMQ_POLLIN)
        assert (pc_msg_recv (got, sub) == 0 && pc_msg_field_size (got, 4) == PC_TEXT_MAX);
    //  A topic frame without its NUL, and a padded varint, are malformed
    wire = zmsg_new ();
    zmsg_addstr (wire, "s/0123/");
    assert (pc_msg_decode (got, &wire, PC_MSG_TOPIC) == -2);
    byte ping [24] = { 0x83, 0x00, 7 };        //  count 3, padded to two bytes
    memcpy (ping + 3, PC_SIGNATURE, 7);
    memcpy (ping + 10, "\x04PING\x00", 6);
    wire = zmsg_new ();
    zmsg_addmem (wire, ping, 16);
    assert (pc_msg_decode (got, &wire, 0) == -2);
    ping [1] = 3;                              //  the same, spelt right
    wire = zmsg_new ();
    zmsg_addmem (wire, ping + 1, 15);
    assert (pc_msg_decode (got, &wire, 0) == 0 && pc_msg_is (got, "PING"));
    pc_msg_destroy (&long_text);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
}

//  A batch of requests on a ROUTER: every one keeps its sender
static void
s_test_router_batch (pc_msg_t *got)
{
    zsock_t *client = zsock_new_dealer ("@inproc://pc_msg_test_batch");
    zsock_t *server = zsock_new_router (">inproc://pc_msg_test_batch");
    pc_msg_t *pinger = pc_msg_new ("PING");
    zframe_t *pings [3];
    for (int i = 0; i < 3; i++) {
        pc_msg_set_reqid (pinger, i == 0? "b0": i == 1? "b1": "b2");
        pings [i] = pc_msg_pack (pinger);
    }
    size_t one_size = zframe_size (pings [0]);
    zframe_t *three = zframe_new (NULL, one_size * 3);
    for (int i = 0; i < 3; i++) {
        assert (zframe_size (pings [i]) == one_size);
        memcpy (zframe_data (three) + i * one_size, zframe_data (pings [i]), one_size);
        zframe_destroy (&pings [i]);
    }
    assert (zframe_send (&three, client, 0) == 0);
    pc_msg_t *held = pc_msg_new (NULL);
    assert (pc_msg_recv (got, server) == 0 && streq (pc_msg_reqid (got), "b0"));
    assert (pc_msg_more (got));
    pc_msg_move_batch (held, got);
    assert (!pc_msg_more (got) && pc_msg_more (held));
    assert (pc_msg_next (held) == 0 && streq (pc_msg_reqid (held), "b1"));
    assert (pc_msg_routing_id (held) && pc_msg_more (held));
    assert (pc_msg_next (held) == 0 && streq (pc_msg_reqid (held), "b2") && !pc_msg_more (held));
    pc_msg_t *reply = pc_msg_new_ok (held);
    assert (pc_msg_send (reply, server) == 0);
    assert (pc_msg_recv (got, client) == 0 && streq (pc_msg_reqid (got), "b2"));
    pc_msg_destroy (&reply);
    pc_msg_destroy (&held);
    pc_msg_destroy (&pinger);
    zsock_destroy (&server);
    zsock_destroy (&client);
}

//  Binary fields survive encode, pack and decode byte for byte
static void
s_test_binary (pc_msg_t *got)
{
    zmsg_t *wire;
    pc_msg_t *chunk = pc_msg_new ("FCHUNK");
    pc_msg_add (chunk, "0");
    const byte bytes [] = { 0, 1, 0, 255, 10, 0 };
    pc_msg_add_mem (chunk, bytes, sizeof (bytes));
    wire = pc_msg_encode (chunk);
    assert (pc_msg_decode (got, &wire, 0) == 0);
    assert (pc_msg_field_size (got, 1) == sizeof (bytes));
    assert (memcmp (pc_msg_field (got, 1), bytes, sizeof (bytes)) == 0);
    pc_msg_t *chunk_copy = pc_msg_dup (got);
    assert (pc_msg_field_size (chunk_copy, 1) == sizeof (bytes));
    wire = zmsg_new ();
    zmsg_append (wire, &(zframe_t *) { pc_msg_pack (chunk_copy) });
    assert (pc_msg_decode (got, &wire, 0) == 0);
    assert (memcmp (pc_msg_field (got, 1), bytes, sizeof (bytes)) == 0);
    pc_msg_destroy (&chunk_copy);
    pc_msg_destroy (&chunk);
    const char *nulname [] = { PC_SIGNATURE, "FDATA", "x", "u1", "0", "" };
    assert (s_decode_frames (got, 0, 6, nulname, NULL) == -2);   //  empty chunk
    const char *traversal [] = { PC_SIGNATURE, "FOPEN", "x", "lobby", "../../etc/passwd" };
    assert (s_decode_frames (got, 0, 5, traversal, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_BAD_NAME);
    const char *err [] = { PC_SIGNATURE, "ERROR", "x", "429", "slow down", "12" };
    assert (s_decode_frames (got, 0, 6, err, NULL) == 0);
    assert (pc_msg_error_code (got) == 429);
    assert (streq (pc_msg_error_reason (got), "slow down"));
}

//  Random garbage never crashes the decoder
static void
s_test_garbage (pc_msg_t *got)
{
    for (int round = 0; round < 2000; round++) {
        zmsg_t *junk = zmsg_new ();
        int nframes = randof (8);
        for (int f = 0; f < nframes; f++) {
            byte data [40];
            size_t size = randof (sizeof (data));
            for (size_t b = 0; b < size; b++)
                data [b] = (byte) randof (256);
            if (f == 0 && randof (2))
                zmsg_addstr (junk, PC_SIGNATURE);
            else
            if (f == 1 && randof (2))
                zmsg_addstr (junk, pc_schemas [1 + randof (PC_CMD_COUNT - 1)].name);
            else
                zmsg_addmem (junk, data, size);
        }
        int rc = pc_msg_decode (got, &junk, randof (4));
        assert (rc == 0 || rc == -2);
    }
}
//  The generated vocabulary: lookups, constructors and named accessors agree
//  with the schema, and a built message passes the decoder's checks.
static void
s_test_generated (pc_msg_t *got)
{
    assert (pc_cmd_lookup ("SEND") == PC_CMD_SEND);
    assert (pc_cmd_lookup ("FRM") == PC_CMD_FRM && pc_cmd_lookup ("ZZZ") == PC_CMD_UNKNOWN);
    assert (pc_cmd_lookup (NULL) == PC_CMD_UNKNOWN);
    for (int i = 1; i < PC_CMD_COUNT; i++)
        assert (pc_cmd_lookup (pc_cmd_name ((pc_cmd_t) i)) == (pc_cmd_t) i);
    assert (pc_cmd_name (PC_CMD_UNKNOWN) == NULL);
    pc_msg_t *send = pc_send_new ("lobby", "c-9", "named", NULL, NULL);
    assert (pc_msg_cmd (send) == PC_CMD_SEND);
    zmsg_t *wire = zmsg_new ();
    zmsg_append (wire, &(zframe_t *) { pc_msg_pack (send) });
    assert (pc_msg_decode (got, &wire, 0) == 0 && pc_msg_cmd (got) == PC_CMD_SEND);
    assert (streq (pc_send_room (got), "lobby") && streq (pc_send_cmid (got), "c-9"));
    assert (streq (pc_send_text (got), "named"));
    pc_msg_t *ok = pc_send_ok (got, "41", "1700000000000");
    assert (pc_msg_is (ok, "OK") && streq (pc_send_ok_id (ok), "41"));
    assert (streq (pc_send_ok_time (ok), "1700000000000"));
    pc_msg_destroy (&ok);
    pc_msg_destroy (&send);
    //  An optional field left out; a repeated one counted
    pc_msg_t *flist = pc_flist_new ("room/lobby", NULL);
    assert (pc_msg_nfields (flist) == 1 && pc_flist_after (flist) == NULL);
    pc_msg_destroy (&flist);
    pc_msg_t *event = pc_ev_join_new ("alice", "lobby");
    assert (streq (pc_msg_topic (event), PC_TOPIC_EVENT) && pc_msg_ev (event) == PC_EV_JOIN);
    assert (streq (pc_ev_join_user (event), "alice") && streq (pc_ev_join_room (event), "lobby"));
    assert (pc_event_arg_count (event) == 2);
    pc_msg_destroy (&event);
    event = pc_ev_file_up_new ("bob", "room/lobby", "a.txt", "12", NULL);
    assert (pc_msg_nfields (event) == 5 && pc_ev_file_up_file_id (event) == NULL);
    assert (pc_ev_lookup ("file-up") == PC_EV_FILE_UP && pc_ev_lookup ("nope") == PC_EV_UNKNOWN);
    pc_msg_destroy (&event);
    //  Reply groups: HISTORY's four fields per message
    pc_msg_t *history = pc_history_new ("lobby", "0", "2");
    pc_msg_t *page = pc_msg_new_ok (history);
    const char *values [] = { "1", "ann", "17", "hi", "2", "bob", "18", "yo" };
    for (size_t i = 0; i < 8; i++)
        pc_msg_add (page, values [i]);
    assert (pc_history_ok_count (page) == 2);
    assert (streq (pc_history_ok_from (page, 1), "bob") && streq (pc_history_ok_text (page, 0), "hi"));
    pc_msg_destroy (&page);
    pc_msg_destroy (&history);
}

void
pc_msg_test (bool verbose)
{
    printf (" * pc_msg: ");
    pc_msg_t *got = pc_msg_new (NULL);
    s_test_round_trip (got);
    s_test_malformed (got);
    s_test_packed (got);
    s_test_wire_form (got);
    s_test_router_batch (got);
    s_test_binary (got);
    s_test_garbage (got);
    s_test_generated (got);
    pc_msg_destroy (&got);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

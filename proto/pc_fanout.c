//  pc_fanout.c: the framing of fan-out messages (see pc_fanout.h).
#include "pc_fanout.h"
#include "pc_msg.h"

int
pc_fanout_send (void *handle, const char *topic, const void *data, size_t size)
{
    size_t topic_size = strlen (topic) + 1;
    zmq_msg_t frame;
    if (zmq_msg_init_size (&frame, topic_size + size) == -1)
        return -1;
    memcpy (zmq_msg_data (&frame), topic, topic_size);
    memcpy ((byte *) zmq_msg_data (&frame) + topic_size, data, size);
    if (zmq_msg_send (&frame, handle, 0) == -1) {
        zmq_msg_close (&frame);
        return -1;
    }
    return 0;
}

int
pc_fanout_body_init (zmq_msg_t *body, const void *data, size_t size)
{
    if (zmq_msg_init_size (body, size) == -1)
        return -1;
    memcpy (zmq_msg_data (body), data, size);
    return 0;
}

int
pc_fanout_send_shared (void *handle, const char *topic, zmq_msg_t *body)
{
    if (zmq_send (handle, topic, strlen (topic), ZMQ_SNDMORE) == -1)
        return -1;
    zmq_msg_t part;
    zmq_msg_init (&part);
    zmq_msg_copy (&part, body);
    if (zmq_msg_send (&part, handle, 0) == -1) {
        zmq_msg_close (&part);
        return -1;
    }
    return 0;
}

//  Receives one fan-out frame on sub and checks it is topic, NUL, packed
static void
s_expect_inline (zsock_t *sub, const char *topic, zframe_t *packed)
{
    zmsg_t *msg = zmsg_recv (sub);
    assert (msg && zmsg_size (msg) == 1);
    zframe_t *frame = zmsg_first (msg);
    size_t topic_size = strlen (topic) + 1;
    assert (zframe_size (frame) == topic_size + 2 * zframe_size (packed));
    assert (memcmp (zframe_data (frame), topic, topic_size) == 0);
    assert (memcmp (zframe_data (frame) + topic_size, zframe_data (packed),
                    zframe_size (packed)) == 0);
    zmsg_destroy (&msg);
}

void
pc_fanout_test (bool verbose)
{
    printf (" * pc_fanout: ");
    assert (pc_fanout_fits (0, PC_FANOUT_FRAME_MAX * 2));
    assert (pc_fanout_fits (100, PC_FANOUT_FRAME_MAX - 100));
    assert (!pc_fanout_fits (100, PC_FANOUT_FRAME_MAX - 99));

    zsock_t *pub = zsock_new_pub ("inproc://pc_fanout_test");
    zsock_t *sub = zsock_new_sub ("inproc://pc_fanout_test", "s/x/");
    assert (pub && sub);
    zsock_set_rcvtimeo (sub, 2000);
    zclock_sleep (50);          //  let the subscription reach the publisher
    pc_msg_t *msg = pc_msg_new ("MSG");
    pc_msg_add (msg, "1");
    zframe_t *packed = pc_msg_pack (msg);
    //  Two messages in one frame: a batch
    byte two [256];
    assert (zframe_size (packed) * 2 <= sizeof (two));
    memcpy (two, zframe_data (packed), zframe_size (packed));
    memcpy (two + zframe_size (packed), zframe_data (packed), zframe_size (packed));
    assert (pc_fanout_send (zsock_resolve (pub), "s/x/", two, zframe_size (packed) * 2) == 0);
    s_expect_inline (sub, "s/x/", packed);
    //  The shared form: [topic][body]
    zmq_msg_t body;
    assert (pc_fanout_body_init (&body, zframe_data (packed), zframe_size (packed)) == 0);
    assert (pc_fanout_send_shared (zsock_resolve (pub), "s/x/", &body) == 0);
    zmq_msg_close (&body);
    zmsg_t *got = zmsg_recv (sub);
    assert (got && zmsg_size (got) == 2);
    assert (zframe_streq (zmsg_first (got), "s/x/"));
    assert (zframe_eq (zmsg_next (got), packed));
    zmsg_destroy (&got);
    zframe_destroy (&packed);
    pc_msg_destroy (&msg);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

//  broker_fanout.c: the broker's fan-out (see broker_fanout.h).
#include "broker_fanout.h"
#include "pc_fanout.h"
#include "pc_util.h"

#define ROOMS_MAX   256     //  rooms with a frame waiting; one more flushes them all
#define KEEP_MAX    (64 * 1024) //  a room's frame buffer is kept up to this size

//  What one flush delivers to one room: its messages, packed, in order
typedef struct {
    broker_room_t *room;
    pc_buf_t       packed;
} roombox_t;

struct _broker_fanout_t {
    zsock_t    *xpub;
    void       *handle;         //  the XPUB's libzmq socket
    zhashx_t   *sessions;       //  borrowed
    char       *monitor_key;
    bool        verbose;
    uint64_t    refused;
    roombox_t   boxes [ROOMS_MAX];  //  [0, nboxes) wait; every buffer is kept
    size_t      nboxes;
};

broker_fanout_t *
broker_fanout_new (zsock_t **xpub_p, zhashx_t *sessions, const char *monitor_key)
{
    assert (xpub_p && *xpub_p);
    broker_fanout_t *self = (broker_fanout_t *) zmalloc (sizeof (broker_fanout_t));
    assert (self);
    self->xpub = *xpub_p;
    *xpub_p = NULL;
    self->handle = zsock_resolve (self->xpub);
    self->sessions = sessions;
    self->monitor_key = monitor_key? strdup (monitor_key): NULL;
    return self;
}

void
broker_fanout_destroy (broker_fanout_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        broker_fanout_t *self = *self_p;
        for (size_t box = 0; box < ROOMS_MAX; box++)
            pc_buf_free (&self->boxes [box].packed);
        zsock_destroy (&self->xpub);
        zstr_free (&self->monitor_key);
        free (self);
        *self_p = NULL;
    }
}

void
broker_fanout_set_verbose (broker_fanout_t *self, bool verbose)
{
    self->verbose = verbose;
}

zsock_t *
broker_fanout_socket (broker_fanout_t *self)
{
    return self->xpub;
}

uint64_t
broker_fanout_refused (broker_fanout_t *self)
{
    return self->refused;
}

//  --------------------------------------------------------------------------
//  Subscriptions. ZMQ_SUBSCRIBE right after the receive applies it to the
//  pipe that sent it.

static bool
s_may_subscribe (broker_fanout_t *self, const char *key, const char *topic, size_t size)
{
    if (self->monitor_key && streq (key, self->monitor_key))
        return true;
    broker_session_t *session = (broker_session_t *) zhashx_lookup (self->sessions, key);
    if (!session || !broker_session_user (session))
        return false;
    //  Only the session's own topic, exactly
    const char *own = broker_session_topic (session);
    return size == strlen (own) && memcmp (topic, own, size) == 0;
}

//  Applies or refuses one (un)subscription of key to topic
static void
s_subscription (broker_fanout_t *self, const char *key, bool subscribe,
                const char *topic, size_t topic_size)
{
    char *topic_str = (char *) malloc (topic_size + 1);
    assert (topic_str);
    memcpy (topic_str, topic, topic_size);
    topic_str [topic_size] = 0;
    broker_session_t *session = (broker_session_t *) zhashx_lookup (self->sessions, key);
    if (!subscribe) {
        zmq_setsockopt (self->handle, ZMQ_UNSUBSCRIBE, topic, topic_size);
        if (session)
            broker_session_remove_sub (session, topic_str);
    }
    else
    if (s_may_subscribe (self, key, topic, topic_size)
    &&  strlen (topic_str) == topic_size) {
        zmq_setsockopt (self->handle, ZMQ_SUBSCRIBE, topic, topic_size);
        if (session)
            broker_session_add_sub (session, topic_str);
        if (self->verbose)
            zsys_debug ("broker: subscription to '%s' applied", topic_str);
    }
    else {
        self->refused++;
        if (self->verbose)
            zsys_debug ("broker: subscription refused (%zu bytes) for %s", topic_size, key);
    }
    free (topic_str);
}

void
broker_fanout_handle_subscription (broker_fanout_t *self)
{
    zframe_t *frame = zframe_recv (self->xpub);
    if (!frame)
        return;
    size_t size = zframe_size (frame);
    const char *data = (const char *) zframe_data (frame);
    const char *key = zframe_meta (frame, "User-Id");
    if (size >= 1 && (data [0] == 1 || data [0] == 0) && key && *key)
        s_subscription (self, key, data [0] == 1, data + 1, size - 1);
    zframe_destroy (&frame);
}

//  --------------------------------------------------------------------------
//  Messages

void
broker_fanout_send (broker_fanout_t *self, pc_msg_t *msg)
{
    pc_msg_send (msg, self->xpub);
}

void
broker_fanout_notice (broker_fanout_t *self, broker_session_t *session,
                      const char *kind, const char *text)
{
    pc_msg_t *notice = pc_msg_new ("NOTICE");
    pc_msg_set_topic (notice, broker_session_topic (session));
    pc_msg_add (notice, kind);
    pc_msg_add (notice, text);
    pc_msg_send (notice, self->xpub);
    pc_msg_destroy (&notice);
}

void
broker_fanout_to_user (broker_fanout_t *self, pc_msg_t *msg, const char *user)
{
    for (broker_session_t *other = (broker_session_t *) zhashx_first (self->sessions);
         other; other = (broker_session_t *) zhashx_next (self->sessions))
        if (broker_session_user (other) && streq (broker_session_user (other), user)) {
            pc_msg_set_topic (msg, broker_session_topic (other));
            pc_msg_send (msg, self->xpub);
        }
}

//  Publishes the same packed bytes to every session of room: up to
//  PC_FANOUT_INLINE_MAX each its own one-frame copy (one box), above that
//  [topic][body] with the body shared by reference. XPUB never blocks: a
//  subscriber over its high-water mark loses the frame, and finds the gap
//  by id.
static void
s_publish_room (broker_fanout_t *self, broker_room_t *room, const void *data, size_t size)
{
    if (size <= PC_FANOUT_INLINE_MAX) {
        for (broker_session_t *member = (broker_session_t *) broker_room_first_session (room);
             member; member = (broker_session_t *) broker_room_next_session (room))
            pc_fanout_send (self->handle, broker_session_topic (member), data, size);
        return;
    }
    zmq_msg_t body;
    if (pc_fanout_body_init (&body, data, size) == -1)
        return;
    for (broker_session_t *member = (broker_session_t *) broker_room_first_session (room);
         member; member = (broker_session_t *) broker_room_next_session (room))
        pc_fanout_send_shared (self->handle, broker_session_topic (member), &body);
    zmq_msg_close (&body);
}

void
broker_fanout_room_add (broker_fanout_t *self, broker_room_t *room, const void *packed, size_t size)
{
    pc_fanout_send (self->handle, broker_room_topic (room), packed, size);
    size_t box = 0;
    while (box < self->nboxes && self->boxes [box].room != room)
        box++;
    if (box == ROOMS_MAX) {
        broker_fanout_flush (self);
        box = 0;
    }
    if (box == self->nboxes) {
        self->boxes [box].room = room;
        if (!self->boxes [box].packed.data)
            pc_buf_init (&self->boxes [box].packed);
        self->nboxes++;
    }
    pc_buf_t *frame = &self->boxes [box].packed;
    //  A full frame goes out now
    if (!pc_fanout_fits (frame->size, size)) {
        s_publish_room (self, room, frame->data, frame->size);
        pc_buf_reset (frame);
    }
    pc_buf_append (frame, (const char *) packed, size);
}

void
broker_fanout_flush (broker_fanout_t *self)
{
    for (size_t box = 0; box < self->nboxes; box++) {
        pc_buf_t *frame = &self->boxes [box].packed;
        s_publish_room (self, self->boxes [box].room, frame->data, frame->size);
        //  The buffer stays for the next flush: grown past 16 KB it is a
        //  mapping of its own (main.c's threshold), and freeing it each
        //  flush cost an mmap, an munmap and a TLB flush on both cores.
        //  One that a big message grew past KEEP_MAX goes.
        if (frame->cap > KEEP_MAX)
            pc_buf_free (frame);
        else
            pc_buf_reset (frame);
    }
    self->nboxes = 0;
}

//  --------------------------------------------------------------------------
//  Selftest: a real XPUB on inproc (no CURVE, so subscriptions carry no key
//  and are ignored; the test applies its own by hand).

//  Receives one fan-out message on sub, in either form (topic, NUL,
//  payload in one frame, or [topic][payload]); returns the payload's size
static size_t
s_test_frame (zsock_t *sub, const char *topic)
{
    zmsg_t *msg = zmsg_recv (sub);
    assert (msg);
    zframe_t *frame = zmsg_first (msg);
    size_t size;
    if (zmsg_size (msg) == 2) {
        assert (zframe_streq (frame, topic));
        size = zframe_size (zmsg_next (msg));
    }
    else {
        size_t topic_size = strlen (topic) + 1;
        assert (zframe_size (frame) > topic_size);
        assert (memcmp (zframe_data (frame), topic, topic_size) == 0);
        size = zframe_size (frame) - topic_size;
    }
    zmsg_destroy (&msg);
    return size;
}

void
broker_fanout_test (bool verbose)
{
    printf (" * broker_fanout: ");
    zsock_t *xpub = zsock_new (ZMQ_XPUB);
    zsock_set_xpub_manual (xpub, 1);
    assert (zsock_bind (xpub, "inproc://broker_fanout_test") == 0);
    zhashx_t *sessions = zhashx_new ();
    zhashx_set_destructor (sessions, (czmq_destructor *) broker_session_destroy);
    broker_fanout_t *fanout = broker_fanout_new (&xpub, sessions, NULL);
    assert (fanout && !xpub);
    broker_session_t *session = broker_session_new ("key-a");
    broker_session_login (session, "alice", "user");
    zhashx_insert (sessions, "key-a", session);

    zsock_t *sub = zsock_new_sub ("inproc://broker_fanout_test", broker_session_topic (session));
    zsock_set_rcvtimeo (sub, 2000);
    //  No User-Id on inproc: not authorised; applied by hand instead
    zframe_t *request = zframe_recv (broker_fanout_socket (fanout));
    assert (request);
    zmq_setsockopt (zsock_resolve (broker_fanout_socket (fanout)), ZMQ_SUBSCRIBE,
                    zframe_data (request) + 1, zframe_size (request) - 1);
    zframe_destroy (&request);

    broker_room_t *room = broker_room_new ("lobby");
    broker_room_join (room, "alice", "key-a", session);
    pc_msg_t *msg = pc_msg_new ("MSG");
    pc_msg_add (msg, "1");
    pc_msg_add (msg, "lobby");
    pc_msg_add (msg, "alice");
    pc_msg_add (msg, "0");
    char text [4001];
    memset (text, 'x', 4000);
    text [4000] = 0;
    pc_msg_add (msg, text);
    zframe_t *packed = pc_msg_pack (msg);
    size_t size = zframe_size (packed);
    //  Five messages of 4 kB: frames of at most 12 KiB, in order (3 + 2;
    //  both over 8 KiB, so in the shared form), then one small frame
    for (int i = 0; i < 5; i++)
        broker_fanout_room_add (fanout, room, zframe_data (packed), size);
    broker_fanout_flush (fanout);
    assert (s_test_frame (sub, broker_session_topic (session)) == 3 * size);
    assert (s_test_frame (sub, broker_session_topic (session)) == 2 * size);
    broker_fanout_room_add (fanout, room, zframe_data (packed), size);
    broker_fanout_flush (fanout);
    assert (s_test_frame (sub, broker_session_topic (session)) == size);
    //  A NOTICE to the session
    broker_fanout_notice (fanout, session, "kicked", "bye");
    pc_msg_t *notice = pc_msg_new (NULL);
    assert (pc_msg_recv (notice, sub) == 0 && pc_msg_is (notice, "NOTICE"));
    assert (streq (pc_notice_kind (notice), "kicked"));
    pc_msg_destroy (&notice);
    assert (broker_fanout_refused (fanout) == 0);

    zframe_destroy (&packed);
    pc_msg_destroy (&msg);
    broker_room_destroy (&room);
    zsock_destroy (&sub);
    broker_fanout_destroy (&fanout);
    zhashx_destroy (&sessions);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

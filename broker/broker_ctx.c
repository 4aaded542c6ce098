//  broker_ctx.c: the helpers every command module shares (see broker_ctx.h).
#include "broker_ctx.h"
#include "broker_cluster.h"
#include "broker_presence.h"
#include "broker_roomdb.h"
#include "pc_limits.h"

broker_lot_t *
broker_ctx_lot (broker_t *self)
{
    return &self->lots [(self->lot_first + self->lots_flying) % BROKER_LOTS];
}

void
broker_ctx_reply_error (broker_t *self, pc_msg_t *request, int code, const char *text)
{
    pc_msg_t *reply = pc_msg_new_error (request, code, text);
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
}

void
broker_ctx_reply_ok (broker_t *self, pc_msg_t *request)
{
    broker_ctx_send (self, pc_msg_new_ok (request));
}

void
broker_ctx_send (broker_t *self, pc_msg_t *reply)
{
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
}

void
broker_ctx_send_packed (broker_t *self, zframe_t *routing_id, pc_buf_t *packed)
{
    void *handle = zsock_resolve (self->router);
    if (zmq_send (handle, zframe_data (routing_id), zframe_size (routing_id), ZMQ_SNDMORE) != -1)
        zmq_send (handle, packed->data, packed->size, 0);
}

void
broker_ctx_event (broker_t *self, const char *kind, const char *a, const char *b)
{
    pc_msg_t *event = pc_msg_new ("EVENT");
    pc_msg_set_topic (event, PC_TOPIC_EVENT);
    pc_msg_add (event, kind);
    if (a)
        pc_msg_add (event, a);
    if (b)
        pc_msg_add (event, b);
    broker_fanout_send (self->fanout, event);
    pc_msg_destroy (&event);
}

//  A new room object with what Redis holds of it (settings, invited, count
//  of messages); NULL while Redis cannot be read. *known: Redis holds any
//  of it, so the room exists.
static broker_room_t *
s_room_read (broker_t *self, const char *name, bool *known)
{
    broker_roomdb_room_t stored;
    zlistx_t *invited = zlistx_new ();
    zlistx_set_destructor (invited, (czmq_destructor *) zstr_free);
    broker_room_t *room = NULL;
    if (broker_roomdb_load (self->store, name, &stored, invited) == 0) {
        room = broker_room_new (name);
        broker_room_set_policy (room, stored.invite_only, stored.creator);
        broker_room_set_messages (room, stored.messages);
        int slowmode = broker_roomdb_slowmode (self->store, name);
        broker_room_set_slowmode (room, slowmode > 0? slowmode: 0);
        for (char *user = (char *) zlistx_first (invited); user; user = (char *) zlistx_next (invited))
            broker_room_invite (room, user, true);
        *known = stored.known;
        zstr_free (&stored.creator);
    }
    zlistx_destroy (&invited);
    return room;
}

broker_room_t *
broker_ctx_room (broker_t *self, const char *name)
{
    broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, name);
    bool known;
    if (!room && (room = s_room_read (self, name, &known)))
        zhashx_insert (self->rooms, name, room);
    return room;
}

int
broker_ctx_room_find (broker_t *self, const char *name, broker_room_t **room_p)
{
    *room_p = (broker_room_t *) zhashx_lookup (self->rooms, name);
    if (*room_p)
        return 0;
    bool known = false;
    broker_room_t *room = s_room_read (self, name, &known);
    if (!room)
        return -1;
    if (!known) {
        broker_room_destroy (&room);
        return 1;
    }
    zhashx_insert (self->rooms, name, room);
    *room_p = room;
    return 0;
}

bool
broker_ctx_room_visible (broker_room_t *room, broker_session_t *session)
{
    const char *user = broker_session_user (session);
    if (!user)
        return !broker_room_invite_only (room);
    return !broker_room_invite_only (room)
        || broker_room_may_join (room, user, broker_ctx_is_admin (session))
        || broker_room_has_member (room, user);
}

broker_room_t *
broker_ctx_room_for (broker_t *self, pc_msg_t *request, broker_session_t *session,
                     const char *name)
{
    broker_room_t *room;
    int rc = broker_ctx_room_find (self, name, &room);
    if (rc == -1)
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE,
                                "room unavailable: storage is down");
    else
    if (rc == 1 || !broker_ctx_room_visible (room, session)) {
        char text [PC_NAME_MAX + 16];
        snprintf (text, sizeof (text), "no such room: %s", name);
        broker_ctx_reply_error (self, request, PC_ERR_NOT_FOUND, text);
    }
    else
        return room;
    return NULL;
}

void
broker_ctx_room_reload (broker_t *self, const char *name)
{
    broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, name);
    bool known;
    broker_room_t *fresh = room? s_room_read (self, name, &known): NULL;
    if (!fresh)
        return;
    broker_room_set_policy (room, broker_room_invite_only (fresh), broker_room_creator (fresh));
    broker_room_set_slowmode (room, broker_room_slowmode (fresh));
    broker_room_copy_invited (room, fresh);
    broker_room_destroy (&fresh);
}

void
broker_ctx_membership (broker_t *self, const char *user, const char *room, bool in)
{
    broker_ctx_event (self, in? "join": "leave", user, room);
    if (self->cluster)
        broker_cluster_member (self, room, user, in);
    if (in)
        broker_presence_joined (self, user, room);
}

bool
broker_ctx_is_admin (broker_session_t *session)
{
    return streq (broker_session_role (session), "admin");
}

void
broker_ctx_logout (broker_t *self, broker_session_t *session)
{
    const char *user = broker_session_user (session);
    if (!user)
        return;
    zlistx_t *rooms = broker_session_rooms (session);
    for (char *name = (char *) zlistx_first (rooms); name; name = (char *) zlistx_next (rooms)) {
        broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, name);
        if (room && broker_room_leave (room, user, broker_session_key (session)))
            broker_ctx_membership (self, user, name, false);
    }
    zlistx_destroy (&rooms);
    //  The user stays online while another session of theirs is logged in
    size_t others = 0;
    for (broker_session_t *other = (broker_session_t *) zhashx_first (self->sessions); other;
         other = (broker_session_t *) zhashx_next (self->sessions))
        if (other != session && broker_session_user (other)
        &&  streq (broker_session_user (other), user))
            others++;
    char sessions [24];
    snprintf (sessions, sizeof (sessions), "%zu", others);
    pc_msg_t *event = pc_ev_logout_new (user, sessions);
    broker_fanout_send (self->fanout, event);
    pc_msg_destroy (&event);
    broker_presence_logout (self, session, others);
    broker_session_logout (session);
}

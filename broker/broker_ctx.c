//  broker_ctx.c: the helpers every command module shares (see broker_ctx.h).
#include "broker_ctx.h"
#include "broker_roomdb.h"
#include "pc_limits.h"

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

bool
broker_ctx_room_load (broker_t *self, broker_room_t *room)
{
    if (broker_room_loaded (room))
        return true;
    bool invite_only;
    char *creator;
    zlistx_t *invited = zlistx_new ();
    zlistx_set_destructor (invited, (czmq_destructor *) zstr_free);
    bool loaded = broker_roomdb_load (self->store, broker_room_name (room), &invite_only,
                                          &creator, invited) == 0;
    if (loaded) {
        broker_room_set_policy (room, invite_only, creator);
        int slowmode = broker_roomdb_slowmode (self->store, broker_room_name (room));
        broker_room_set_slowmode (room, slowmode > 0? slowmode: 0);
        for (char *user = (char *) zlistx_first (invited); user; user = (char *) zlistx_next (invited))
            broker_room_invite (room, user, true);
        zstr_free (&creator);
    }
    zlistx_destroy (&invited);
    return loaded;
}

broker_room_t *
broker_ctx_room (broker_t *self, const char *name)
{
    broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, name);
    if (!room) {
        room = broker_room_new (name);
        zhashx_insert (self->rooms, name, room);
        broker_ctx_room_load (self, room);
    }
    return room;
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
            broker_ctx_event (self, "leave", user, name);
    }
    zlistx_destroy (&rooms);
    broker_ctx_event (self, "logout", user, NULL);
    broker_session_logout (session);
}

//  broker_moderation.c: KICK, BAN, UNBAN, DELUSER, RESETPW, the audit log
//  and notices (see broker_moderation.h).
#include "broker_moderation.h"
#include "broker_marks.h"
#include "broker_authlink.h"
#include "broker_chat.h"
#include "broker_cluster.h"
#include "broker_dispatch.h"
#include "broker_roomdb.h"
#include "pc_limits.h"


void
broker_moderation_audit (broker_t *self, const char *actor, const char *action, const char *target)
{
    broker_roomdb_audit (self->store, actor, action, target);
    pc_msg_t *event = pc_ev_admin_new (actor, action, target);
    broker_fanout_send (self->fanout, event);
    pc_msg_destroy (&event);
    zsys_info ("broker: %s: %s %s", actor, action, target);
}

//  One entry of XREAD's or XREVRANGE's reply: [id, [field, value, ...]].
//  Tells the monitor of it when it is not the broker's own; keeps its id.
static void
s_audit_entry (broker_t *self, redisReply *entry)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2
    ||  entry->element [0]->type != REDIS_REPLY_STRING
    ||  entry->element [1]->type != REDIS_REPLY_ARRAY)
        return;
    snprintf (self->audit_seen, sizeof (self->audit_seen), "%s", entry->element [0]->str);
    const char *actor = NULL, *action = NULL, *target = NULL, *source = NULL;
    redisReply *fields = entry->element [1];
    for (size_t index = 0; index + 1 < fields->elements; index += 2) {
        const char *name = fields->element [index]->str;
        const char *value = fields->element [index + 1]->str;
        if (!name || !value)
            continue;
        if (streq (name, "actor"))
            actor = value;
        else
        if (streq (name, "action"))
            action = value;
        else
        if (streq (name, "target"))
            target = value;
        else
        if (streq (name, "source"))
            source = value;
    }
    if (actor && action && target && source && streq (source, "authsvc")) {
        pc_msg_t *event = pc_ev_admin_new (actor, action, target);
        broker_fanout_send (self->fanout, event);
        pc_msg_destroy (&event);
        zsys_info ("broker: %s: %s %s", actor, action, target);
    }
}

void
broker_moderation_audit_poll (broker_t *self)
{
    pc_redis_t *redis = broker_store_redis (self->store);
    if (!pc_redis_available (redis))
        return;
    bool first = !*self->audit_seen;
    redisReply *reply = first
        ? pc_redis_command (redis, "XREVRANGE audit + - COUNT 1")
        : pc_redis_command (redis, "XREAD COUNT 64 STREAMS audit %s", self->audit_seen);
    if (!reply)
        return;
    if (first) {
        snprintf (self->audit_seen, sizeof (self->audit_seen), "0-0");
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1
        &&  reply->element [0]->type == REDIS_REPLY_ARRAY && reply->element [0]->elements == 2
        &&  reply->element [0]->element [0]->type == REDIS_REPLY_STRING)
            snprintf (self->audit_seen, sizeof (self->audit_seen), "%s",
                      reply->element [0]->element [0]->str);
    }
    else
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1
    &&  reply->element [0]->type == REDIS_REPLY_ARRAY && reply->element [0]->elements == 2) {
        redisReply *entries = reply->element [0]->element [1];
        for (size_t index = 0; entries->type == REDIS_REPLY_ARRAY && index < entries->elements; index++)
            s_audit_entry (self, entries->element [index]);
    }
    freeReplyObject (reply);
}

void
broker_moderation_drop_user (broker_t *self, const char *user, const char *kind, const char *text)
{
    if (self->cluster)
        broker_cluster_control (self, "drop", user, kind, text);
    broker_moderation_drop_here (self, user, kind, text);
    if (streq (kind, "deleted"))
        broker_marks_forget (self, user);   //  a new account of the name starts clean
}

void
broker_moderation_drop_here (broker_t *self, const char *user, const char *kind, const char *text)
{
    zlistx_t *doomed = zlistx_new ();
    for (broker_session_t *session = (broker_session_t *) zhashx_first (self->sessions);
         session; session = (broker_session_t *) zhashx_next (self->sessions))
        if (broker_session_user (session) && streq (broker_session_user (session), user))
            zlistx_add_end (doomed, session);
    for (broker_session_t *session = (broker_session_t *) zlistx_first (doomed);
         session; session = (broker_session_t *) zlistx_next (doomed)) {
        broker_fanout_notice (self->fanout, session, kind, text);
        broker_ctx_logout (self, session);
        zhashx_delete (self->sessions, broker_session_key (session));
    }
    zlistx_destroy (&doomed);
}

size_t
broker_moderation_kick_here (broker_t *self, broker_room_t *room, const char *victim, const char *text)
{
    const char *name = broker_room_name (room);
    size_t kicked = 0;
    for (broker_session_t *other = (broker_session_t *) zhashx_first (self->sessions);
         other; other = (broker_session_t *) zhashx_next (self->sessions))
        if (broker_session_user (other) && streq (broker_session_user (other), victim)
        &&  broker_session_in_room (other, name)) {
            if (broker_room_leave (room, victim, broker_session_key (other)))
                broker_ctx_membership (self, victim, name, false);
            broker_session_remove_room (other, name);
            broker_fanout_notice (self->fanout, other, "kicked", text);
            kicked++;
        }
    return kicked;
}

//  KICK room user: every session of user leaves the room at once (delivery
//  is per session, so nothing more reaches them) and is told so; in an
//  invite-only room the invitation goes too.
int
broker_on_kick (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_kick_room (request);
    const char *victim = pc_kick_user (request);
    broker_room_t *room = broker_ctx_room_for (self, request, session, name);
    if (!room)
        return 0;
    if (!broker_chat_may_moderate (room, session)) {
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN,
                                "only the room's creator or an admin may kick");
        return 0;
    }
    char text [128];
    snprintf (text, sizeof (text), "you were removed from #%s by %s", name, broker_session_user (session));
    size_t kicked = broker_moderation_kick_here (self, room, victim, text);
    broker_marks_left (self, victim, name);
    if (self->cluster) {
        //  Sessions of victim on other brokers too
        zlistx_t *members = broker_cluster_members (self, name, NULL);
        if (members && zlistx_find (members, (void *) victim))
            kicked++;
        zlistx_destroy (&members);
        broker_cluster_control (self, "kick", name, victim, text);
    }
    if (broker_room_invite_only (room)) {
        broker_room_invite (room, victim, false);
        broker_roomdb_invite (self->store, name, victim, false);
    }
    if (kicked == 0 && !broker_room_invite_only (room)) {
        broker_ctx_reply_error (self, request, PC_ERR_NOT_FOUND, "that user is not in the room");
        return 0;
    }
    broker_moderation_audit (self, broker_session_user (session), "kick", victim);
    broker_ctx_send (self, pc_kick_ok (request, name, victim));
    return 0;
}

//  --------------------------------------------------------------------------
//  The admins' account commands: the auth service changes the account
//  (pending->name), then the broker audits it and ends the sessions of a
//  banned or deleted account.

static void
s_banned (broker_t *self, broker_pending_t *pending, pc_msg_t *reply, pc_msg_t *answer)
{
    broker_authlink_copy (reply, answer);
    broker_moderation_audit (self, broker_authlink_actor (self, pending), "ban", pending->name);
    broker_moderation_drop_user (self, pending->name, "banned", "you have been banned");
}

static void
s_unbanned (broker_t *self, broker_pending_t *pending, pc_msg_t *reply, pc_msg_t *answer)
{
    broker_authlink_copy (reply, answer);
    broker_moderation_audit (self, broker_authlink_actor (self, pending), "unban", pending->name);
}

static void
s_deleted (broker_t *self, broker_pending_t *pending, pc_msg_t *reply, pc_msg_t *answer)
{
    broker_authlink_copy (reply, answer);
    broker_moderation_audit (self, broker_authlink_actor (self, pending), "delete", pending->name);
    broker_moderation_drop_user (self, pending->name, "deleted", "your account has been deleted");
}

static void
s_password_reset (broker_t *self, broker_pending_t *pending, pc_msg_t *reply, pc_msg_t *answer)
{
    broker_authlink_copy (reply, answer);
    broker_moderation_audit (self, broker_authlink_actor (self, pending), "reset-password",
                             pending->name);
}

//  Per account command: what its OK calls for, which field names the
//  account, or why the broker refuses it
typedef struct {
    broker_auth_ok_fn *on_ok;
    const char *(*account) (pc_msg_t *request);
    const char *refused;
} account_command_t;

static const account_command_t s_account_commands [PC_CMD_COUNT] = {
    [PC_CMD_BAN]     = { s_banned, pc_ban_user, NULL },
    [PC_CMD_UNBAN]   = { s_unbanned, pc_unban_user, NULL },
    [PC_CMD_DELUSER] = { s_deleted, pc_deluser_user, NULL },
    [PC_CMD_RESETPW] = { s_password_reset, pc_resetpw_user, NULL },
    [PC_CMD_MKADMIN] = { NULL, NULL, "use pychat-admin on the server host" },
    //  USERS: its answer as it comes
};

//  USERS, BAN, UNBAN, DELUSER, RESETPW, MKADMIN (admins only): carried out
//  by the auth service, the request's fields as they came
int
broker_on_account (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const account_command_t *command = &s_account_commands [pc_msg_cmd (request)];
    if (command->refused) {
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN, command->refused);
        return 0;
    }
    pc_msg_t *forward = pc_msg_new (pc_msg_command (request));
    for (size_t i = 0; i < pc_msg_nfields (request); i++)
        pc_msg_add (forward, pc_msg_field (request, i));
    broker_authlink_forward (self, request, session,
                             command->account? command->account (request): NULL,
                             &forward, command->on_ok);
    return 0;
}

//  broker_authlink.c: requests forwarded to the auth service(s) and their
//  answers (see broker_authlink.h).
#include "broker_authlink.h"
#include "broker_cluster.h"
#include "broker_dispatch.h"
#include "broker_moderation.h"
#include "broker_presence.h"
#include "pc_limits.h"
#include "pc_util.h"


void
broker_authlink_pending_destroy (broker_pending_t **self_p)
{
    if (*self_p) {
        broker_pending_t *self = *self_p;
        zframe_destroy (&self->routing_id);
        zstr_free (&self->reqid);
        zstr_free (&self->key);
        zstr_free (&self->name);
        free (self);
        *self_p = NULL;
    }
}

//  As broker_authlink_forward; the pending request is returned (NULL when
//  no service took it) so that the caller may mark it a login.
static broker_pending_t *
s_forward (broker_t *self, pc_msg_t *request, broker_session_t *session, const char *target,
           pc_msg_t **forward_p, broker_auth_ok_fn *on_ok)
{
    char auth_id [32];
    snprintf (auth_id, sizeof (auth_id), "b%" PRIu64, ++self->next_auth_id);
    pc_msg_set_reqid (*forward_p, auth_id);
    int rc = pc_msg_send_nowait (*forward_p, self->authsvc);
    pc_msg_destroy (forward_p);
    if (rc == -1) {
        zsys_warning ("broker: no auth service connected");
        broker_ctx_event (self, "auth-down", NULL, NULL);
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE,
                                "auth service unavailable, try again later");
        return NULL;
    }
    broker_pending_t *pending = (broker_pending_t *) zmalloc (sizeof (broker_pending_t));
    assert (pending);
    pending->routing_id = zframe_dup (pc_msg_routing_id (request));
    pending->reqid = strdup (pc_msg_reqid (request));
    pending->key = strdup (broker_session_key (session));
    pending->name = strdup (target? target: "");
    pending->deadline = pc_now_ms () + PC_AUTH_WAIT_MS;
    pending->on_ok = on_ok;
    zhashx_insert (self->pending, auth_id, pending);
    return pending;
}

void
broker_authlink_forward (broker_t *self, pc_msg_t *request, broker_session_t *session,
                         const char *target, pc_msg_t **forward_p, broker_auth_ok_fn *on_ok)
{
    s_forward (self, request, session, target, forward_p, on_ok);
}

void
broker_authlink_copy (pc_msg_t *reply, pc_msg_t *answer)
{
    for (size_t i = 0; i < pc_msg_nfields (reply); i++)
        pc_msg_add (answer, pc_msg_field (reply, i));
}

const char *
broker_authlink_actor (broker_t *self, broker_pending_t *pending)
{
    broker_session_t *session = (broker_session_t *) zhashx_lookup (self->sessions, pending->key);
    return session && broker_session_user (session)? broker_session_user (session): "?";
}

//  --------------------------------------------------------------------------
//  REGISTER and LOGIN: anyone may ask

//  LOGIN or RESUME succeeded: the key's session is the user's from now on
//  (name and role as the auth service said, sid its token's id)
static void
s_bind (broker_t *self, broker_pending_t *pending, const char *name, const char *role,
        const char *sid, pc_msg_t *answer)
{
    if (!name || !pc_name_valid (name))
        name = pending->name;
    if (!role)
        role = "user";
    broker_session_t *session = (broker_session_t *) zhashx_lookup (self->sessions, pending->key);
    if (!session) {
        session = broker_session_new (pending->key);
        zhashx_insert (self->sessions, pending->key, session);
    }
    broker_ctx_logout (self, session);
    broker_session_login (session, name, role);
    broker_session_set_token_id (session, sid);
    broker_session_touch (session, pc_now_ms ());
    broker_presence_login (self, session);
    broker_ctx_event (self, "login", name, NULL);
    broker_debug (self, "broker: %s logged in", name);
    pc_msg_add (answer, name);
    pc_msg_add (answer, role);
    pc_msg_addf (answer, "%d", self->config.base_port + PC_OFF_FANOUT);
    pc_msg_add (answer, broker_session_topic (session));
    if (self->cluster)
        broker_cluster_watch_user (self, name);
}

//  With several brokers, LOGIN and RESUME end with the live ones ("ID
//  ENDPOINT" each): a client that loses its broker goes to another
static void
s_add_brokers (broker_t *self, pc_msg_t *answer)
{
    zlistx_t *brokers = self->cluster? broker_cluster_brokers (self): NULL;
    for (char *entry = brokers? (char *) zlistx_first (brokers): NULL; entry;
         entry = (char *) zlistx_next (brokers))
        pc_msg_add (answer, entry);
    zlistx_destroy (&brokers);
}

static void
s_logged_in (broker_t *self, broker_pending_t *pending, pc_msg_t *reply, pc_msg_t *answer)
{
    const char *sid = pc_login_ok_session (reply);
    s_bind (self, pending, pc_login_ok_user (reply), pc_login_ok_role (reply), sid, answer);
    const char *token = pc_login_ok_token (reply);
    pc_msg_add (answer, token? token: "");
    pc_msg_add (answer, sid? sid: "");
    s_add_brokers (self, answer);
}

static void
s_resumed (broker_t *self, broker_pending_t *pending, pc_msg_t *reply, pc_msg_t *answer)
{
    const char *sid = pc_resume_ok_session (reply);
    s_bind (self, pending, pc_resume_ok_user (reply), pc_resume_ok_role (reply), sid, answer);
    pc_msg_add (answer, sid? sid: "");
    s_add_brokers (self, answer);
}

static void
s_registered (broker_t *self, broker_pending_t *pending, pc_msg_t *reply, pc_msg_t *answer)
{
    pc_msg_add (answer, pending->name);
}

//  REGISTER and LOGIN take a name and a password; the auth service
//  throttles by source, the peer's address (a fresh key is free)
static const char *
s_source (pc_msg_t *request, broker_session_t *session)
{
    const char *source = pc_msg_peer_address (request);
    return source && *source? source: broker_session_key (session);
}

int
broker_on_register (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    if (pc_msg_nfields (request) != 2) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "takes a name and a password");
        return 0;
    }
    const char *user = pc_register_user (request);
    pc_msg_t *forward = pc_register_new (user, pc_register_password (request),
                                         s_source (request, session));
    s_forward (self, request, session, user, &forward, s_registered);
    return 0;
}

//  A client that names no device still gets a token, for "unknown"
static const char *
s_device (const char *device)
{
    return device && *device? device: "unknown";
}

int
broker_on_login (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    if (pc_msg_nfields (request) != 2 && pc_msg_nfields (request) != 3) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED,
                                "takes a name, a password and maybe a device");
        return 0;
    }
    const char *user = pc_login_user (request);
    pc_msg_t *forward = pc_login_new (user, pc_login_password (request),
                                      s_device (pc_login_device (request)),
                                      s_source (request, session));
    broker_pending_t *pending = s_forward (self, request, session, user, &forward, s_logged_in);
    if (pending)
        pending->login = true;
    return 0;
}

//  RESUME user token [device]: a login without the password
int
broker_on_resume (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    if (pc_msg_nfields (request) != 2 && pc_msg_nfields (request) != 3) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED,
                                "takes a name, a token and maybe a device");
        return 0;
    }
    const char *user = pc_resume_user (request);
    pc_msg_t *forward = pc_resume_new (user, pc_resume_token (request),
                                       s_device (pc_resume_device (request)),
                                       s_source (request, session));
    broker_pending_t *pending = s_forward (self, request, session, user, &forward, s_resumed);
    if (pending)
        pending->login = true;
    return 0;
}

//  --------------------------------------------------------------------------
//  A session's own account

//  The account SESSIONS and REVOKE are about: the session's own, or the
//  one named (admins only). NULL: refused (answered).
static const char *
s_token_owner (broker_t *self, pc_msg_t *request, broker_session_t *session, const char *named)
{
    const char *user = broker_session_user (session);
    if (named && !streq (named, user) && !streq (broker_session_role (session), "admin")) {
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN,
                                "only admins see or revoke another user's sessions");
        return NULL;
    }
    return named? named: user;
}

int
broker_on_sessions (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *owner = s_token_owner (self, request, session, pc_sessions_user (request));
    if (owner) {
        pc_msg_t *forward = pc_sessions_new (owner);
        broker_authlink_forward (self, request, session, owner, &forward, NULL);
    }
    return 0;
}

static void
s_revoked (broker_t *self, broker_pending_t *pending, pc_msg_t *reply, pc_msg_t *answer)
{
    broker_authlink_copy (reply, answer);
    broker_moderation_audit (self, broker_authlink_actor (self, pending), "revoke-session",
                             pending->name);
}

int
broker_on_revoke (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *owner = s_token_owner (self, request, session, pc_revoke_user (request));
    if (owner) {
        pc_msg_t *forward = pc_revoke_new (pc_revoke_session (request), owner);
        broker_authlink_forward (self, request, session, owner, &forward, s_revoked);
    }
    return 0;
}

//  LOGOUT [keep]: the session ends; its resume token too, unless "keep"
//  (a scriptable command that ends, and comes back with the token later)
int
broker_on_logout (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    char user [PC_NAME_MAX + 1] = "", sid [24] = "";
    if (broker_session_user (session)) {
        snprintf (user, sizeof (user), "%s", broker_session_user (session));
        snprintf (sid, sizeof (sid), "%s", broker_session_token_id (session));
    }
    const char *keep = pc_logout_keep (request);
    broker_ctx_logout (self, session);
    if (*user && *sid && !(keep && streq (keep, "keep"))) {
        pc_msg_t *forward = pc_revoke_new (sid, user);
        broker_authlink_forward (self, request, session, user, &forward, NULL);
    }
    else
        broker_ctx_reply_ok (self, request);
    return 0;
}

//  SETKEY key [device]: publishes one DM device of the logged-in user (its
//  key and the name the client gives it); the auth service answers its id.
int
broker_on_setkey (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *user = broker_session_user (session);
    if (pc_msg_nfields (request) > 2) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "SETKEY takes a key and maybe a device name");
        return 0;
    }
    //  A user sets only its own devices
    pc_msg_t *forward = pc_setkey_new (pc_setkey_key (request), s_device (pc_setkey_device (request)),
                                       user);
    broker_authlink_forward (self, request, session, user, &forward, NULL);
    return 0;
}

int
broker_on_getkey (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    pc_msg_t *forward = pc_getkey_new (pc_getkey_user (request));
    broker_authlink_forward (self, request, session, NULL, &forward, NULL);
    return 0;
}

//  DEVREVOKE id: a user revokes one of its own DM devices.
int
broker_on_devrevoke (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *user = broker_session_user (session);
    if (pc_msg_nfields (request) != 1) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "DEVREVOKE takes one device id");
        return 0;
    }
    pc_msg_t *forward = pc_devrevoke_new (pc_devrevoke_device (request), user);
    broker_authlink_forward (self, request, session, user, &forward, NULL);
    return 0;
}

static void
s_password_changed (broker_t *self, broker_pending_t *pending, pc_msg_t *reply, pc_msg_t *answer)
{
    broker_authlink_copy (reply, answer);
    broker_moderation_audit (self, pending->name, "change-password", pending->name);
}

int
broker_on_passwd (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *user = broker_session_user (session);
    if (pc_msg_nfields (request) != 2) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED,
                                "PASSWD takes the old and the new password");
        return 0;
    }
    const char *sid = broker_session_token_id (session);
    pc_msg_t *forward = pc_passwd_new (pc_passwd_old (request), pc_passwd_password (request), user,
                                       *sid? sid: "-");
    broker_authlink_forward (self, request, session, user, &forward, s_password_changed);
    return 0;
}

static void
s_deleted_self (broker_t *self, broker_pending_t *pending, pc_msg_t *reply, pc_msg_t *answer)
{
    broker_authlink_copy (reply, answer);
    broker_moderation_audit (self, pending->name, "delete-account", pending->name);
    broker_moderation_drop_user (self, pending->name, "deleted", "your account has been deleted");
}

int
broker_on_deleteme (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *user = broker_session_user (session);
    if (pc_msg_nfields (request) != 1) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "DELETEME takes the password");
        return 0;
    }
    pc_msg_t *forward = pc_deleteme_new (pc_deleteme_password (request), user);
    broker_authlink_forward (self, request, session, user, &forward, s_deleted_self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Answers

void
broker_authlink_handle_reply (broker_t *self)
{
    pc_msg_t *reply = self->msg;
    if (pc_msg_recv (reply, self->authsvc) != 0) {
        zsys_warning ("broker: malformed reply from the auth service: %s", pc_msg_error_text (reply));
        return;
    }
    self->auth_heard = pc_now_ms ();
    if (streq (pc_msg_reqid (reply), "hb"))
        return;                 //  an answer to our heartbeat PING
    broker_pending_t *pending = (broker_pending_t *) zhashx_lookup (self->pending, pc_msg_reqid (reply));
    if (!pending)
        return;                 //  late reply: the client had its 503 already
    pc_msg_t *answer;
    if (pc_msg_is (reply, "OK")) {
        answer = pc_msg_new ("OK");
        if (pending->on_ok)
            pending->on_ok (self, pending, reply, answer);
        else
            broker_authlink_copy (reply, answer);
    }
    else {
        answer = pc_msg_new ("ERROR");
        broker_authlink_copy (reply, answer);
        if (pending->login)
            broker_ctx_event (self, "login-failed", pending->name, pc_error_code (reply));
    }
    pc_msg_set_routing_id (answer, pending->routing_id);
    pc_msg_set_reqid (answer, pending->reqid);
    pc_msg_send (answer, self->router);
    pc_msg_destroy (&answer);
    zhashx_delete (self->pending, pc_msg_reqid (reply));
}

void
broker_authlink_expire (broker_t *self, int64_t now)
{
    zlistx_t *late = zlistx_new ();
    zlistx_set_destructor (late, (czmq_destructor *) zstr_free);
    for (broker_pending_t *pending = (broker_pending_t *) zhashx_first (self->pending); pending;
         pending = (broker_pending_t *) zhashx_next (self->pending))
        if (now >= pending->deadline) {
            pc_msg_t *answer = pc_msg_new ("ERROR");
            pc_msg_set_routing_id (answer, pending->routing_id);
            pc_msg_set_reqid (answer, pending->reqid);
            pc_msg_addf (answer, "%d", PC_ERR_UNAVAILABLE);
            pc_msg_add (answer, "auth service did not answer, try again later");
            pc_msg_send (answer, self->router);
            pc_msg_destroy (&answer);
            zlistx_add_end (late, strdup ((const char *) zhashx_cursor (self->pending)));
        }
    if (zlistx_size (late)) {
        zsys_warning ("broker: %zu auth request(s) timed out", zlistx_size (late));
        broker_ctx_event (self, "auth-down", NULL, NULL);
    }
    for (char *id = (char *) zlistx_first (late); id; id = (char *) zlistx_next (late))
        zhashx_delete (self->pending, id);
    zlistx_destroy (&late);
}

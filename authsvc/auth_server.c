//  auth_server.c: the auth service's request loop (PING, REGISTER, LOGIN).
#include "auth_server.h"
#include "auth_hash.h"
#include "auth_store.h"
#include "pc_redis.h"
#include "pc_msg.h"
#include "pc_limits.h"
#include "pc_util.h"
#include "pc_zap.h"
#include "pc_keys.h"
#include "pc_service.h"
#include "auth_dispatch.h"

#include <hiredis/hiredis.h>

#define AUTH_TEXT_UNAVAILABLE   "storage unavailable"
#define AUTH_TEXT_FAILED        "unknown user or wrong password"

struct _auth_server_t {
    zsock_t      *pipe;             //  from the actor's owner
    zsock_t      *router;           //  requests from the broker (and admin)
    zpoller_t    *poller;
    auth_store_t *store;
    pc_msg_t     *request;          //  reused for every request
    char         *dummy_hash;       //  verified for unknown users: same time
    bool          verbose;
    bool          terminated;
};

static void
s_server_destroy (auth_server_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        auth_server_t *self = *self_p;
        zpoller_destroy (&self->poller);
        zsock_destroy (&self->router);
        auth_store_destroy (&self->store);
        pc_msg_destroy (&self->request);
        zstr_free (&self->dummy_hash);
        free (self);
        *self_p = NULL;
    }
}

//  Creates the server and binds; NULL (logged) when the bind fails.
static auth_server_t *
s_server_new (zsock_t *pipe, auth_server_args_t *args)
{
    auth_server_t *self = (auth_server_t *) zmalloc (sizeof (auth_server_t));
    assert (self);
    self->pipe = pipe;
    self->verbose = args->verbose;
    self->request = pc_msg_new (NULL);
    self->store = auth_store_new (args->redis_host, args->redis_port);
    auth_store_set_limits (self->store, AUTH_ACCOUNT_LIMIT,
                           args->source_limit > 0? args->source_limit: AUTH_SOURCE_LIMIT);
    //  A LOGIN of an unknown name still checks a password against a hash,
    //  so that its timing does not tell which names exist.
    if (auth_hash_init () == 0) {
        char seed [32];
        snprintf (seed, sizeof (seed), "%08x%08x", (unsigned) randof (0x7fffffff),
                  (unsigned) zclock_time ());
        self->dummy_hash = auth_hash_password (seed);
    }
    if (!self->dummy_hash) {
        zsys_error ("authsvc: cannot initialise libsodium / Argon2id");
        s_server_destroy (&self);
        return NULL;
    }
    self->router = zsock_new (ZMQ_ROUTER);
    assert (self->router);
    zcert_apply (args->cert, self->router);
    pc_zap_secure (self->router, AUTH_ZAP_DOMAIN);
    zsock_set_maxmsgsize (self->router, PC_MSG_MAX);
    args->port = zsock_bind (self->router, "%s", args->endpoint);
    if (args->port == -1) {
        zsys_error ("authsvc: cannot bind %s: %s", args->endpoint, zmq_strerror (zmq_errno ()));
        s_server_destroy (&self);
        return NULL;
    }
    self->poller = zpoller_new (self->pipe, self->router, NULL);
    //  An actor ends on $TERM from its owner, not on the signal flag:
    //  without nonstop, zpoller_wait returns at once after SIGTERM and the
    //  $TERM would never be read (the owner then waits forever).
    assert (self->poller);
    zpoller_set_nonstop (self->poller, true);
    return self;
}

static pc_msg_t *
s_unavailable (pc_msg_t *request)
{
    return pc_msg_new_error (request, PC_ERR_UNAVAILABLE, AUTH_TEXT_UNAVAILABLE);
}

pc_msg_t *
auth_on_ping (auth_server_t *self, pc_msg_t *request)
{
    return pc_ping_ok (request, "PONG");
}

pc_msg_t *
auth_on_register (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_register_user (request);
    const char *password = pc_register_password (request);
    char *hash = auth_hash_password (password);
    if (!hash) {
        zsys_error ("authsvc: Argon2id failed (out of memory?)");
        return pc_msg_new_error (request, PC_ERR_INTERNAL, "cannot hash the password");
    }
    int rc = auth_store_user_create (self->store, name, hash, pc_now_ms ());
    free (hash);
    if (rc == -1)
        return s_unavailable (request);
    if (rc == 1)
        return pc_msg_new_error (request, PC_ERR_CONFLICT, "name taken");
    zsys_info ("authsvc: registered %s", name);
    return pc_register_ok (request, name);
}

//  The broker names the client's source (address or key) as a third field;
//  pychat-admin does not.
pc_msg_t *
auth_on_login (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_login_user (request);
    const char *password = pc_login_password (request);
    const char *source = pc_login_source (request)? pc_login_source (request): "-";
    //  While refused, the password is not even looked at.
    int wait_s = 0;
    int rc = auth_store_throttled (self->store, name, source, &wait_s);
    if (rc == -1)
        return s_unavailable (request);
    if (rc == 1) {
        char text [80];
        snprintf (text, sizeof (text), "too many failed logins, retry in %d s", wait_s);
        pc_msg_t *reply = pc_msg_new_error (request, PC_ERR_THROTTLED, text);
        pc_msg_addf (reply, "%d", wait_s);
        return reply;
    }
    char *hash = NULL;
    char *role = NULL;
    rc = auth_store_user_lookup (self->store, name, &hash, &role);
    if (rc == -1)
        return s_unavailable (request);
    bool valid = auth_hash_verify (rc == 0? hash: self->dummy_hash, password) && rc == 0;
    zstr_free (&hash);
    pc_msg_t *reply;
    int banned = valid? auth_store_user_banned (self->store, name): 0;
    if (banned == -1) {
        zstr_free (&role);
        return s_unavailable (request);
    }
    if (banned == 1) {
        //  After the password check: a guesser learns nothing from a ban
        zstr_free (&role);
        return pc_msg_new_error (request, PC_ERR_FORBIDDEN, "this account is banned");
    }
    if (valid) {
        //  A failure to record the login is answered 503, never OK: the
        //  account's failures would otherwise survive a correct password.
        if (auth_store_login_ok (self->store, name, pc_now_ms ()) == -1)
            reply = s_unavailable (request);
        else {
            reply = pc_msg_new_ok (request);
            pc_msg_add (reply, name);               //  the auth service's LOGIN
            pc_msg_add (reply, role);               //  reply: user, role
        }
    }
    else {
        //  An uncounted failure would be a free guess: 503 rather than 401.
        if (auth_store_login_failed (self->store, name, source) == -1)
            reply = s_unavailable (request);
        else
            reply = pc_msg_new_error (request, PC_ERR_AUTH, AUTH_TEXT_FAILED);
    }
    zstr_free (&role);
    return reply;
}

//  SETKEY key name: the broker names the logged-in user; the key is the
//  public half of that user's direct-message key pair.
pc_msg_t *
auth_on_setkey (auth_server_t *self, pc_msg_t *request)
{
    const char *key = pc_setkey_key (request);
    if (!pc_setkey_user (request))
        return pc_msg_new_error (request, PC_ERR_MALFORMED, "which account?");
    if (!pc_keys_valid_z85 (key))
        return pc_msg_new_error (request, PC_ERR_MALFORMED, "a key is 40 characters of Z85");
    int rc = auth_store_key_set (self->store, pc_setkey_user (request), key);
    if (rc == -1)
        return s_unavailable (request);
    if (rc == 1)
        return pc_msg_new_error (request, PC_ERR_NOT_FOUND, "no such user");
    return pc_msg_new_ok (request);
}

pc_msg_t *
auth_on_getkey (auth_server_t *self, pc_msg_t *request)
{
    char *key = NULL;
    int rc = auth_store_key_get (self->store, pc_getkey_user (request), &key);
    if (rc == -1)
        return s_unavailable (request);
    //  Which of the two, in the detail: a sender is told that the name
    //  is wrong, not to wait for a key (REGISTER tells who exists anyway).
    if (rc >= 1) {
        pc_msg_t *reply = pc_msg_new_error (request, PC_ERR_NOT_FOUND,
                                            rc == 2? "no such user": "no key published yet");
        pc_msg_add (reply, rc == 2? PC_GETKEY_NO_USER: PC_GETKEY_NO_KEY);
        return reply;
    }
    pc_msg_t *reply = pc_getkey_ok (request, pc_getkey_user (request), key);
    free (key);
    return reply;
}

//  Checks name's password: 0 right, 1 wrong (or no account), -1 unavailable.
static int
s_check_password (auth_server_t *self, const char *name, const char *password)
{
    char *hash = NULL, *role = NULL;
    int rc = auth_store_user_lookup (self->store, name, &hash, &role);
    if (rc == 0)
        rc = auth_hash_verify (hash, password)? 0: 1;
    zstr_free (&hash);
    zstr_free (&role);
    return rc;
}

//  Sets name's password hash: 0, 1 no account, -1 unavailable, -2 no memory.
static int
s_set_password (auth_server_t *self, const char *name, const char *password)
{
    char *hash = auth_hash_password (password);
    if (!hash)
        return -2;
    int rc = auth_store_user_set (self->store, name, "hash", hash);
    free (hash);
    return rc;
}

//  Account management. Only trusted keys reach the auth service (the broker,
//  which lets only admins ask for these, and pychat-admin on the server
//  host); users' own PASSWD and DELETEME prove the old password here.
//  The answer to a change of account name (rc from the store): OK, 503, 500
//  or 404, logged when done.
static pc_msg_t *
s_account_reply (pc_msg_t *request, int rc, const char *name)
{
    if (rc == -1)
        return s_unavailable (request);
    if (rc == -2)
        return pc_msg_new_error (request, PC_ERR_INTERNAL, "cannot hash the password");
    if (rc == 1)
        return pc_msg_new_error (request, PC_ERR_NOT_FOUND, "no such user");
    zsys_info ("authsvc: %s %s", pc_msg_command (request), name);
    return pc_msg_new_ok (request);
}

pc_msg_t *
auth_on_users (auth_server_t *self, pc_msg_t *request)
{
    zlistx_t *lines = zlistx_new ();
    zlistx_set_destructor (lines, (czmq_destructor *) zstr_free);
    int rc = auth_store_users (self->store, lines);
    pc_msg_t *reply = rc == -1? s_unavailable (request): pc_msg_new_ok (request);
    for (char *line = (char *) zlistx_first (lines); line && rc == 0;
         line = (char *) zlistx_next (lines)) {
        if (pc_msg_nfields (reply) >= PC_FIELDS_MAX)
            break;
        pc_msg_add (reply, line);
    }
    zlistx_destroy (&lines);
    return reply;
}

pc_msg_t *
auth_on_ban (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_ban_user (request);
    return s_account_reply (request, auth_store_user_set (self->store, name, "banned", "1"), name);
}

pc_msg_t *
auth_on_unban (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_unban_user (request);
    return s_account_reply (request, auth_store_user_set (self->store, name, "banned", "0"), name);
}

pc_msg_t *
auth_on_deluser (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_deluser_user (request);
    return s_account_reply (request, auth_store_user_delete (self->store, name), name);
}

pc_msg_t *
auth_on_resetpw (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_resetpw_user (request);
    return s_account_reply (request,
                            s_set_password (self, name, pc_resetpw_password (request)), name);
}

pc_msg_t *
auth_on_passwd (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_passwd_user (request);
    if (!name)
        return pc_msg_new_error (request, PC_ERR_MALFORMED, "which account?");
    int rc = s_check_password (self, name, pc_passwd_old (request));
    if (rc == 1)
        return pc_msg_new_error (request, PC_ERR_AUTH, "wrong password");
    if (rc == 0)
        rc = s_set_password (self, name, pc_passwd_password (request));
    return s_account_reply (request, rc, name);
}

pc_msg_t *
auth_on_deleteme (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_deleteme_user (request);
    if (!name)
        return pc_msg_new_error (request, PC_ERR_MALFORMED, "which account?");
    int rc = s_check_password (self, name, pc_deleteme_password (request));
    if (rc == 1)
        return pc_msg_new_error (request, PC_ERR_AUTH, "wrong password");
    if (rc == 0)
        rc = auth_store_user_delete (self->store, name);
    return s_account_reply (request, rc, name);
}

//  MKADMIN name password: creates the account as an admin, or makes an
//  existing account an admin (its password unchanged).
pc_msg_t *
auth_on_mkadmin (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_mkadmin_user (request);
    char *hash = auth_hash_password (pc_mkadmin_password (request));
    if (!hash)
        return pc_msg_new_error (request, PC_ERR_INTERNAL, "cannot hash the password");
    int rc = auth_store_user_create (self->store, name, hash, pc_now_ms ());
    free (hash);
    if (rc != -1)
        rc = auth_store_user_set (self->store, name, "role", "admin");
    if (rc == 0)
        auth_store_audit (self->store, "pychat-admin", "create-admin", name);
    return s_account_reply (request, rc, name);
}

//  Answers the request just read (rc from pc_msg_recv/next), whatever it holds.
static void
s_handle_one (auth_server_t *self, int rc)
{
    pc_msg_t *request = self->request;
    if (rc == -1)
        return;                         //  interrupted
    const char *peer = pc_msg_user_id (request);
    pc_msg_t *reply = NULL;
    if (rc == -2) {
        zsys_warning ("authsvc: malformed request from %s: %d %s", peer? peer: "?",
                      pc_msg_error (request), pc_msg_error_text (request));
        //  The broker waits for one reply per request: always answer (with
        //  the request id when it could be read).
        if (pc_msg_routing_id (request))
            reply = pc_msg_new_error (request, pc_msg_error (request), pc_msg_error_text (request));
    }
    else {
        const char *command = pc_msg_command (request);
        const auth_route_t *route = auth_dispatch_route (pc_msg_cmd (request));
        if (route)
            reply = route->handler (self, request);
        else {
            zsys_warning ("authsvc: unknown command %s from %s", command, peer? peer: "?");
            char text [64];
            snprintf (text, sizeof (text), "unknown command '%s'", command);
            reply = pc_msg_new_error (request, PC_ERR_UNKNOWN, text);
        }
        if (self->verbose)
            zsys_debug ("authsvc: %s from %s: %s %s", command, peer? peer: "?",
                        pc_msg_command (reply), pc_msg_is (reply, "ERROR")? pc_error_code (reply): "");
    }
    if (reply) {
        if (pc_msg_send (reply, self->router) == -1)
            zsys_warning ("authsvc: cannot send reply: %s", zmq_strerror (zmq_errno ()));
        pc_msg_destroy (&reply);
    }
}

//  Reads one frame of requests and answers each (a frame may hold a batch).
static void
s_handle_request (auth_server_t *self)
{
    s_handle_one (self, pc_msg_recv (self->request, self->router));
    while (pc_msg_more (self->request))
        s_handle_one (self, pc_msg_next (self->request));
}

static void
s_handle_pipe (auth_server_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    zstr_free (&command);
}

void
auth_server_actor (zsock_t *pipe, void *args)
{
    assert (args);
    auth_server_args_t *server_args = (auth_server_args_t *) args;
    auth_server_t *self = s_server_new (pipe, server_args);
    zsock_signal (pipe, 0);             //  czmq's handshake; then pc_service's
    if (!self) {
        pc_service_failed (pipe, "cannot serve on %s", server_args->endpoint);
        return;
    }
    pc_service_ready (pipe);
    while (!self->terminated) {
        void *which = zpoller_wait (self->poller, -1);
        if (which == self->router)
            s_handle_request (self);
        else
        if (which == self->pipe)
            s_handle_pipe (self);
        else
            break;                      //  interrupted
    }
    s_server_destroy (&self);
}

//  --------------------------------------------------------------------------
//  Selftest

//  Sends a request of frames (NULL-terminated) and returns the reply (the
//  caller destroys it), or NULL when none came within a while.
static pc_msg_t *
s_test_call (zsock_t *dealer, const char *first, ...)
{
    zmsg_t *msg = zmsg_new ();
    va_list args;
    va_start (args, first);
    for (const char *frame = first; frame; frame = va_arg (args, const char *))
        zmsg_addstr (msg, frame);
    va_end (args);
    assert (zmsg_send (&msg, dealer) == 0);
    pc_msg_t *reply = pc_msg_new (NULL);
    if (pc_msg_recv (reply, dealer) != 0)
        pc_msg_destroy (&reply);
    return reply;
}

//  Expects an ERROR reply with code (and request id).
static void
s_test_error (pc_msg_t **reply_p, int code, const char *reqid)
{
    pc_msg_t *reply = *reply_p;
    assert (reply);
    assert (pc_msg_error_code (reply) == code);
    assert (streq (pc_msg_reqid (reply), reqid));
    pc_msg_destroy (reply_p);
}

static zsock_t *
s_test_dealer (zcert_t *cert, zcert_t *server_cert, int port, int timeout)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zcert_apply (cert, dealer);
    zsock_set_curve_serverkey (dealer, zcert_public_txt (server_cert));
    zsock_set_rcvtimeo (dealer, timeout);
    zsock_connect (dealer, "tcp://127.0.0.1:%d", port);
    return dealer;
}

//  REGISTER: once, then taken
static void
s_test_register_login (zsock_t *broker, int redis_port)
{
    pc_msg_t *reply;
    reply = s_test_call (broker, PC_SIGNATURE, "REGISTER", "r1", "alice", "s3cret", "key-a", NULL);
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_register_ok_user (reply), "alice"));
    pc_msg_destroy (&reply);
    reply = s_test_call (broker, PC_SIGNATURE, "REGISTER", "r2", "alice", "other", NULL);
    assert (reply && streq (pc_msg_error_reason (reply), "name taken"));
    s_test_error (&reply, PC_ERR_CONFLICT, "r2");

    //  LOGIN: right, wrong, unknown (the last two alike)
    reply = s_test_call (broker, PC_SIGNATURE, "LOGIN", "l1", "alice", "s3cret", "key-a", NULL);
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_msg_reqid (reply), "l1"));
    assert (streq (pc_login_ok_user (reply), "alice") && streq (pc_login_ok_role (reply), "user"));
    pc_msg_destroy (&reply);
    reply = s_test_call (broker, PC_SIGNATURE, "LOGIN", "l2", "alice", "wrong", "key-a", NULL);
    assert (reply && streq (pc_msg_error_reason (reply), AUTH_TEXT_FAILED));
    s_test_error (&reply, PC_ERR_AUTH, "l2");
    reply = s_test_call (broker, PC_SIGNATURE, "LOGIN", "l3", "nobody", "wrong", NULL);
    assert (reply && streq (pc_msg_error_reason (reply), AUTH_TEXT_FAILED));
    s_test_error (&reply, PC_ERR_AUTH, "l3");
}

//  Malformed and unknown requests: answered, never fatal
static void
s_test_malformed (zsock_t *broker, int redis_port)
{
    pc_msg_t *reply;
    reply = s_test_call (broker, PC_SIGNATURE, "LOGIN", "m1", "Alice", "pw", NULL);
    s_test_error (&reply, PC_ERR_BAD_NAME, "m1");
    reply = s_test_call (broker, PC_SIGNATURE, "LOGIN", "m2", "alice", NULL);
    s_test_error (&reply, PC_ERR_MALFORMED, "m2");
    reply = s_test_call (broker, PC_SIGNATURE, "FLY", "m3", NULL);
    s_test_error (&reply, PC_ERR_UNKNOWN, "m3");
    reply = s_test_call (broker, PC_SIGNATURE, "JOIN", "m4", "lobby", NULL);
    s_test_error (&reply, PC_ERR_UNKNOWN, "m4");
    reply = s_test_call (broker, "PYCHAT9", "PING", "m5", NULL);
    s_test_error (&reply, PC_ERR_VERSION, "");
    reply = s_test_call (broker, "garbage", NULL);
    s_test_error (&reply, PC_ERR_MALFORMED, "");
}

//  Throttling: 5 failures (one above), then even the right password is refused
static void
s_test_throttling (zsock_t *broker, int redis_port)
{
    pc_msg_t *reply;
    for (int failure = 2; failure <= 5; failure++) {
        reply = s_test_call (broker, PC_SIGNATURE, "LOGIN", "t", "alice", "wrong", "key-b", NULL);
        s_test_error (&reply, PC_ERR_AUTH, "t");
    }
    reply = s_test_call (broker, PC_SIGNATURE, "LOGIN", "t6", "alice", "s3cret", "key-c", NULL);
    assert (reply && pc_msg_nfields (reply) == 3 && streq (pc_error_detail (reply), "2"));
    assert (streq (pc_msg_error_reason (reply), "too many failed logins, retry in 2 s"));
    s_test_error (&reply, PC_ERR_THROTTLED, "t6");
    //  When the lock runs out (here: is removed), the right password works
    redisContext *redis_ctx = redisConnect ("127.0.0.1", redis_port);
    assert (redis_ctx && !redis_ctx->err);
    redisReply *redis_reply = (redisReply *) redisCommand (redis_ctx, "DEL lock:acct:alice");
    assert (redis_reply);
    freeReplyObject (redis_reply);
    redisFree (redis_ctx);
    reply = s_test_call (broker, PC_SIGNATURE, "LOGIN", "t7", "alice", "s3cret", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
}

void
auth_server_test (bool verbose)
{
    printf (" * auth_server: ");
    int redis_port = 0;
    pid_t redis = pc_redis_server_start (&redis_port);
    if (redis == -1) {
        printf ("SKIPPED (cannot start redis-server)\n");
        return;
    }
    zactor_t *zap = pc_zap_new ();
    zcert_t *server_cert = zcert_new ();
    zcert_t *broker_cert = zcert_new ();
    zcert_t *stranger_cert = zcert_new ();
    pc_zap_allow_key (zap, AUTH_ZAP_DOMAIN, zcert_public_txt (broker_cert));

    auth_server_args_t args = {
        "tcp://127.0.0.1:*", server_cert, "127.0.0.1", redis_port, 0, verbose, 0
    };
    zactor_t *server = zactor_new (auth_server_actor, &args);
    assert (server);
    char *ready = zstr_recv (server);
    assert (ready && streq (ready, "READY") && args.port > 0);
    zstr_free (&ready);
    zsock_t *broker = s_test_dealer (broker_cert, server_cert, args.port, 5000);

    pc_msg_t *reply = s_test_call (broker, PC_SIGNATURE, "PING", "p1", NULL);
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_msg_reqid (reply), "p1"));
    assert (streq (pc_ping_ok_pong (reply), "PONG"));
    pc_msg_destroy (&reply);

    s_test_register_login (broker, redis_port);
    s_test_malformed (broker, redis_port);
    s_test_throttling (broker, redis_port);
    //  A key the ZAP handler does not know gets nothing at all
    zsock_t *stranger = s_test_dealer (stranger_cert, server_cert, args.port, 300);
    reply = s_test_call (stranger, PC_SIGNATURE, "PING", "s1", NULL);
    assert (reply == NULL);
    zsock_destroy (&stranger);

    //  Redis down: 503 (PING still answers), then back by itself
    pc_redis_server_stop (redis);
    reply = s_test_call (broker, PC_SIGNATURE, "LOGIN", "d1", "alice", "s3cret", NULL);
    assert (reply && streq (pc_msg_error_reason (reply), AUTH_TEXT_UNAVAILABLE));
    s_test_error (&reply, PC_ERR_UNAVAILABLE, "d1");
    reply = s_test_call (broker, PC_SIGNATURE, "REGISTER", "d2", "bob", "pw", NULL);
    s_test_error (&reply, PC_ERR_UNAVAILABLE, "d2");
    reply = s_test_call (broker, PC_SIGNATURE, "PING", "d3", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    redis = pc_redis_server_start (&redis_port);
    assert (redis > 0);
    reply = s_test_call (broker, PC_SIGNATURE, "REGISTER", "d4", "bob", "pw", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);

    zsock_destroy (&broker);
    zactor_destroy (&server);
    pc_zap_destroy (&zap);
    zcert_destroy (&server_cert);
    zcert_destroy (&broker_cert);
    zcert_destroy (&stranger_cert);
    pc_redis_server_stop (redis);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

//  auth_server.c: the auth service's request loop (PING, REGISTER, LOGIN).
#include "auth_server.h"
#include "auth_hash.h"
#include "auth_pool.h"
#include "auth_store.h"
#include "auth_tokens.h"
#include "pc_redis.h"
#include "pc_msg.h"
#include "pc_limits.h"
#include "pc_util.h"
#include "pc_zap.h"
#include "pc_keys.h"
#include "pc_service.h"
#include "auth_dispatch.h"

#include <hiredis/hiredis.h>
#include <sodium.h>

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
    bool          worker;           //  a pool worker's state: dummy_hash is borrowed
    auth_pool_t  *pool;             //  the Argon2id workers (the main state's)
    auth_server_t **workers;        //  their states
    size_t        nworkers;
    long          resumed;          //  RESUMEs answered OK (main thread only)
};

//  Requests that run Argon2id: on the pool.
static bool
s_hashes (pc_cmd_t command)
{
    return command == PC_CMD_REGISTER || command == PC_CMD_LOGIN || command == PC_CMD_PASSWD
        || command == PC_CMD_DELETEME || command == PC_CMD_RESETPW || command == PC_CMD_MKADMIN;
}

static void
s_server_destroy (auth_server_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        auth_server_t *self = *self_p;
        auth_pool_destroy (&self->pool);            //  joins the workers first
        for (size_t i = 0; i < self->nworkers; i++)
            s_server_destroy (&self->workers [i]);
        free (self->workers);
        zpoller_destroy (&self->poller);
        zsock_destroy (&self->router);
        auth_store_destroy (&self->store);
        pc_msg_destroy (&self->request);
        if (!self->worker)
            zstr_free (&self->dummy_hash);
        free (self);
        *self_p = NULL;
    }
}

static pc_msg_t *s_dispatch (auth_server_t *self, pc_msg_t *request);

//  A worker runs the request's handler on its own state.
static pc_msg_t *
s_pool_run (void *state, pc_msg_t *request)
{
    return s_dispatch ((auth_server_t *) state, request);
}

//  The workers' states (each with its own Redis connection) and the pool.
static void
s_pool_start (auth_server_t *self, auth_server_args_t *args)
{
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    self->nworkers = args->workers > 0? (size_t) args->workers: cores > 0? (size_t) cores: 1;
    size_t queue = args->queue > 0? (size_t) args->queue: AUTH_QUEUE_PER_WORKER * self->nworkers;
    self->workers = (auth_server_t **) zmalloc (self->nworkers * sizeof (auth_server_t *));
    assert (self->workers);
    for (size_t i = 0; i < self->nworkers; i++) {
        auth_server_t *worker = (auth_server_t *) zmalloc (sizeof (auth_server_t));
        assert (worker);
        worker->worker = true;
        worker->verbose = self->verbose;
        worker->dummy_hash = self->dummy_hash;
        worker->store = auth_store_new (args->redis_host, args->redis_port);
        auth_store_set_limits (worker->store, AUTH_ACCOUNT_LIMIT,
                               args->source_limit > 0? args->source_limit: AUTH_SOURCE_LIMIT);
        self->workers [i] = worker;
    }
    self->pool = auth_pool_new (self->nworkers, queue, s_pool_run, (void **) self->workers);
    args->workers = (int) self->nworkers;
    args->queue = (int) queue;
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
    s_pool_start (self, args);
    self->poller = zpoller_new (self->pipe, self->router, auth_pool_socket (self->pool), NULL);
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

//  A correct password: the login recorded, and a resume token for the
//  device when one is named. The auth service leaves the broker's fields
//  (fan-out port, session topic) empty.
static pc_msg_t *
s_logged_in (auth_server_t *self, pc_msg_t *request, const char *name, const char *role)
{
    //  A failure to record the login is answered 503, never OK: the
    //  account's failures would otherwise survive a correct password.
    if (auth_store_login_ok (self->store, name, pc_now_ms ()) == -1)
        return s_unavailable (request);
    const char *device = pc_login_device (request);
    char token [AUTH_TOKEN_TEXT] = "", sid [AUTH_TOKEN_SID] = "";
    if (device && *device
    &&  auth_tokens_issue (self->store, name, device, pc_now_ms (), token, sid) == -1)
        return s_unavailable (request);
    //  The broker fills in the port and topic (and, with several brokers,
    //  appends the live ones)
    pc_msg_t *reply = pc_msg_new_ok (request);
    const char *fields [] = { name, role? role: "user", "", "", token, sid };
    for (size_t i = 0; i < sizeof (fields) / sizeof (fields [0]); i++)
        pc_msg_add (reply, fields [i]);
    sodium_memzero (token, sizeof (token));
    return reply;
}

//  The broker names the client's device and source (address or key) as
//  third and fourth fields; pychat-admin names neither.
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
        reply = s_logged_in (self, request, name, role);
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

//  SETKEY key device user: the broker names the logged-in user and, when
//  the client did not, the device; the key is the public half of that
//  device's direct-message key pair. Answers the device's id.
pc_msg_t *
auth_on_setkey (auth_server_t *self, pc_msg_t *request)
{
    const char *key = pc_setkey_key (request);
    const char *device = pc_setkey_device (request);
    if (!pc_setkey_user (request) || !device)
        return pc_msg_new_error (request, PC_ERR_MALFORMED, "which account and device?");
    char id [PC_DEVICE_ID];
    if (!pc_keys_device_id (key, id))
        return pc_msg_new_error (request, PC_ERR_MALFORMED, "a key is 40 characters of Z85");
    int rc = auth_store_device_set (self->store, pc_setkey_user (request), key, id, device);
    if (rc == -1)
        return s_unavailable (request);
    if (rc == 1)
        return pc_msg_new_error (request, PC_ERR_NOT_FOUND, "no such user");
    if (rc == 2)
        return pc_msg_new_error (request, PC_ERR_FORBIDDEN, "this device was revoked");
    if (rc == 3)
        return pc_msg_new_error (request, PC_ERR_CONFLICT,
                                 "too many devices: revoke one with `pychat devices revoke ID`");
    if (rc == 4)
        return pc_msg_new_error (request, PC_ERR_CONFLICT, "another key has this device id");
    return pc_setkey_ok (request, id);
}

//  GETKEY user: the key published last, then every device.
pc_msg_t *
auth_on_getkey (auth_server_t *self, pc_msg_t *request)
{
    char *key = NULL;
    int rc = auth_store_key_get (self->store, pc_getkey_user (request), &key);
    zlistx_t *devices = zlistx_new ();
    zlistx_set_destructor (devices, (czmq_destructor *) zstr_free);
    if (rc == 0 && auth_store_devices (self->store, pc_getkey_user (request), devices) != 0)
        rc = -1;
    if (rc == -1) {
        free (key);
        zlistx_destroy (&devices);
        return s_unavailable (request);
    }
    //  Which of the two, in the detail: a sender is told that the name
    //  is wrong, not to wait for a key (REGISTER tells who exists anyway).
    if (rc >= 1) {
        zlistx_destroy (&devices);
        pc_msg_t *reply = pc_msg_new_error (request, PC_ERR_NOT_FOUND,
                                            rc == 2? "no such user": "no key published yet");
        pc_msg_add (reply, rc == 2? PC_GETKEY_NO_USER: PC_GETKEY_NO_KEY);
        return reply;
    }
    pc_msg_t *reply = pc_msg_new_ok (request);
    pc_msg_add (reply, pc_getkey_user (request));
    pc_msg_add (reply, key);
    for (char *line = (char *) zlistx_first (devices); line; line = (char *) zlistx_next (devices))
        pc_msg_add (reply, line);
    free (key);
    zlistx_destroy (&devices);
    return reply;
}

//  DEVREVOKE id user: the broker names the logged-in user, who revokes one
//  of its own devices.
pc_msg_t *
auth_on_devrevoke (auth_server_t *self, pc_msg_t *request)
{
    if (!pc_devrevoke_user (request))
        return pc_msg_new_error (request, PC_ERR_MALFORMED, "which account?");
    int rc = auth_store_device_revoke (self->store, pc_devrevoke_user (request),
                                       pc_devrevoke_device (request));
    if (rc == -1)
        return s_unavailable (request);
    if (rc == 1)
        return pc_msg_new_error (request, PC_ERR_NOT_FOUND, "no such user");
    if (rc == 2)
        return pc_msg_new_error (request, PC_ERR_NOT_FOUND, "no such device");
    return pc_msg_new_ok (request);
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

//  After a change that ends name's sessions (rc 0: done), every resume
//  token of the account but keep goes too: 0, or -1 when Redis failed.
static int
s_revoke_after (auth_server_t *self, int rc, const char *name, const char *keep)
{
    if (rc == 0 && auth_tokens_revoke (self->store, name, "*", keep) == -1)
        return -1;
    return rc;
}

pc_msg_t *
auth_on_ban (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_ban_user (request);
    int rc = auth_store_user_set (self->store, name, "banned", "1");
    return s_account_reply (request, s_revoke_after (self, rc, name, NULL), name);
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
    int rc = auth_store_user_delete (self->store, name);
    return s_account_reply (request, s_revoke_after (self, rc, name, NULL), name);
}

pc_msg_t *
auth_on_resetpw (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_resetpw_user (request);
    int rc = s_set_password (self, name, pc_resetpw_password (request));
    return s_account_reply (request, s_revoke_after (self, rc, name, NULL), name);
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
    //  The device that changed it stays logged in; every other one must
    //  give the new password.
    rc = s_revoke_after (self, rc, name, pc_passwd_session (request));
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
    return s_account_reply (request, s_revoke_after (self, rc, name, NULL), name);
}

//  --------------------------------------------------------------------------
//  Resume tokens (auth_tokens.h): no Argon2id, on the main thread

//  RESUME user token [device] [source]: the account as a LOGIN would give
//  it, when the token is its live one and the account is not banned.
pc_msg_t *
auth_on_resume (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_resume_user (request);
    char sid [AUTH_TOKEN_SID];
    int rc = auth_tokens_resume (self->store, name, pc_resume_token (request), pc_now_ms (), sid);
    char *hash = NULL, *role = NULL;
    if (rc == 0)
        rc = auth_store_user_lookup (self->store, name, &hash, &role);
    zstr_free (&hash);
    int banned = rc == 0? auth_store_user_banned (self->store, name): 0;
    pc_msg_t *reply;
    if (rc == -1 || banned == -1)
        reply = s_unavailable (request);
    else
    if (rc == 1)
        reply = pc_msg_new_error (request, PC_ERR_AUTH, "unknown, expired or revoked token");
    else
    if (banned == 1)
        reply = pc_msg_new_error (request, PC_ERR_FORBIDDEN, "this account is banned");
    else {
        self->resumed++;
        reply = pc_msg_new_ok (request);
        const char *fields [] = { name, role? role: "user", "", "", sid };
        for (size_t i = 0; i < sizeof (fields) / sizeof (fields [0]); i++)
            pc_msg_add (reply, fields [i]);
    }
    zstr_free (&role);
    return reply;
}

//  SESSIONS user: the account's live tokens, one field each.
pc_msg_t *
auth_on_sessions (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_sessions_user (request);
    if (!name)
        return pc_msg_new_error (request, PC_ERR_MALFORMED, "which account?");
    zlistx_t *lines = zlistx_new ();
    zlistx_set_destructor (lines, (czmq_destructor *) zstr_free);
    int rc = auth_tokens_list (self->store, name, lines);
    pc_msg_t *reply = rc == -1? s_unavailable (request): pc_msg_new_ok (request);
    for (char *line = (char *) zlistx_first (lines); line && rc == 0;
         line = (char *) zlistx_next (lines))
        if (pc_msg_nfields (reply) < PC_FIELDS_MAX)
            pc_msg_add (reply, line);
    zlistx_destroy (&lines);
    return reply;
}

//  REVOKE sid user: one token of the account ("*": all of them).
pc_msg_t *
auth_on_revoke (auth_server_t *self, pc_msg_t *request)
{
    const char *name = pc_revoke_user (request);
    if (!name)
        return pc_msg_new_error (request, PC_ERR_MALFORMED, "which account?");
    int rc = auth_tokens_revoke (self->store, name, pc_revoke_session (request), NULL);
    if (rc == -1)
        return s_unavailable (request);
    if (rc == 1)
        return pc_msg_new_error (request, PC_ERR_NOT_FOUND, "no such session");
    return pc_msg_new_ok (request);
}

//  STATS: the pool and the Argon2id counter, as one JSON object.
pc_msg_t *
auth_on_stats (auth_server_t *self, pc_msg_t *request)
{
    char json [400];
    snprintf (json, sizeof (json),
              "{\"hashes\": %ld, \"resumed\": %ld, \"workers\": %zu, \"busy\": %zu, "
              "\"queued\": %zu, \"queue_max\": %zu, \"refused_busy\": %ld}",
              auth_hash_count (), self->resumed, auth_pool_workers (self->pool),
              auth_pool_busy (self->pool), auth_pool_queued (self->pool),
              auth_pool_queue_max (self->pool), auth_pool_refused (self->pool));
    return pc_stats_ok (request, json);
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

//  The reply to a well-formed request, from its handler (on the thread
//  whose state self is: the main one, or a worker's).
static pc_msg_t *
s_dispatch (auth_server_t *self, pc_msg_t *request)
{
    const char *peer = pc_msg_user_id (request);
    const char *command = pc_msg_command (request);
    const auth_route_t *route = auth_dispatch_route (pc_msg_cmd (request));
    pc_msg_t *reply;
    if (route)
        reply = route->handler (self, request);
    else {
        zsys_warning ("authsvc: unknown command %s from %s", command, peer? peer: "?");
        char text [64];
        snprintf (text, sizeof (text), "unknown command '%s'", command);
        reply = pc_msg_new_error (request, PC_ERR_UNKNOWN, text);
    }
    if (self->verbose && reply)
        zsys_debug ("authsvc: %s from %s: %s %s", command, peer? peer: "?",
                    pc_msg_command (reply), pc_msg_is (reply, "ERROR")? pc_error_code (reply): "");
    return reply;
}

//  A request that hashes goes to the pool; a full queue is answered at
//  once, with what to wait before the next try.
static pc_msg_t *
s_to_pool (auth_server_t *self, pc_msg_t *request)
{
    pc_msg_t *job = pc_msg_dup (request);
    if (auth_pool_submit (self->pool, &job) == 0)
        return NULL;
    pc_msg_destroy (&job);
    int wait_ms = auth_pool_retry_after (self->pool);
    char text [80];
    snprintf (text, sizeof (text), "auth service busy, retry after %d ms", wait_ms);
    pc_msg_t *reply = pc_msg_new_error (request, PC_ERR_UNAVAILABLE, text);
    pc_msg_addf (reply, "retry-after=%d", wait_ms);
    return reply;
}

static void
s_send_reply (auth_server_t *self, pc_msg_t **reply_p)
{
    if (*reply_p && pc_msg_send (*reply_p, self->router) == -1)
        zsys_warning ("authsvc: cannot send reply: %s", zmq_strerror (zmq_errno ()));
    pc_msg_destroy (reply_p);
}

//  Answers the request just read (rc from pc_msg_recv/next), whatever it
//  holds, or hands it to the pool.
static void
s_handle_one (auth_server_t *self, int rc)
{
    pc_msg_t *request = self->request;
    if (rc == -1)
        return;                         //  interrupted
    pc_msg_t *reply = NULL;
    if (rc == -2) {
        const char *peer = pc_msg_user_id (request);
        zsys_warning ("authsvc: malformed request from %s: %d %s", peer? peer: "?",
                      pc_msg_error (request), pc_msg_error_text (request));
        //  The broker waits for one reply per request: always answer (with
        //  the request id when it could be read).
        if (pc_msg_routing_id (request))
            reply = pc_msg_new_error (request, pc_msg_error (request), pc_msg_error_text (request));
    }
    else
    if (s_hashes (pc_msg_cmd (request)) && auth_dispatch_route (pc_msg_cmd (request)))
        reply = s_to_pool (self, request);
    else
        reply = s_dispatch (self, request);
    s_send_reply (self, &reply);
}

//  Sends the replies the workers have finished.
static void
s_handle_pool (auth_server_t *self)
{
    pc_msg_t *reply;
    while ((reply = auth_pool_reply (self->pool)))
        s_send_reply (self, &reply);
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
        if (which == auth_pool_socket (self->pool))
            s_handle_pool (self);
        else
        if (which == self->pipe)
            s_handle_pipe (self);
        else
            break;                      //  interrupted
    }
    s_server_destroy (&self);
}

//  auth_server_test.c: the auth service's selftest (auth_server.h), over
//  a real CURVE socket against a real redis-server.
#include "auth_server.h"
#include "auth_hash.h"
#include "pc_redis.h"
#include "pc_msg.h"
#include "pc_proto.h"
#include "pc_limits.h"
#include "pc_util.h"
#include "pc_zap.h"

#include <hiredis/hiredis.h>

#define AUTH_TEXT_UNAVAILABLE   "storage unavailable"
#define AUTH_TEXT_FAILED        "unknown user or wrong password"


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

//  The Argon2id counter, from STATS
static long
s_test_hashes (zsock_t *broker)
{
    pc_msg_t *reply = s_test_call (broker, PC_SIGNATURE, "STATS", "s", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    const char *json = strstr (pc_stats_ok_json (reply), "\"hashes\": ");
    assert (json);
    long hashes = atol (json + 10);
    pc_msg_destroy (&reply);
    return hashes;
}

//  LOGIN with a device gives a token; RESUME takes it without Argon2id;
//  PASSWD keeps the session named, BAN ends them all
static void
s_test_tokens (zsock_t *broker)
{
    pc_msg_t *reply = s_test_call (broker, PC_SIGNATURE, "LOGIN", "k1", "alice", "s3cret", "laptop", "src", NULL);
    assert (reply && pc_msg_is (reply, "OK") && strlen (pc_login_ok_token (reply)) == 64);
    char *token = strdup (pc_login_ok_token (reply));
    char *sid = strdup (pc_login_ok_session (reply));
    pc_msg_destroy (&reply);
    reply = s_test_call (broker, PC_SIGNATURE, "LOGIN", "k2", "alice", "s3cret", "phone", NULL);
    char *phone = strdup (pc_login_ok_token (reply));
    pc_msg_destroy (&reply);
    long hashes = s_test_hashes (broker);
    reply = s_test_call (broker, PC_SIGNATURE, "RESUME", "k3", "alice", token, NULL);
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_resume_ok_session (reply), sid));
    assert (streq (pc_resume_ok_role (reply), "user"));
    pc_msg_destroy (&reply);
    assert (s_test_hashes (broker) == hashes);
    reply = s_test_call (broker, PC_SIGNATURE, "RESUME", "k4", "bob", token, NULL);
    s_test_error (&reply, PC_ERR_AUTH, "k4");
    reply = s_test_call (broker, PC_SIGNATURE, "SESSIONS", "k5", "alice", NULL);
    assert (reply && pc_sessions_ok_count (reply) == 3);     //  with key-a's, from above
    pc_msg_destroy (&reply);
    //  PASSWD from the laptop: the phone's token is gone, the laptop's stays
    reply = s_test_call (broker, PC_SIGNATURE, "PASSWD", "k6", "s3cret", "s3cret", "alice", sid, NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    reply = s_test_call (broker, PC_SIGNATURE, "RESUME", "k7", "alice", phone, NULL);
    s_test_error (&reply, PC_ERR_AUTH, "k7");
    reply = s_test_call (broker, PC_SIGNATURE, "RESUME", "k8", "alice", token, NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    reply = s_test_call (broker, PC_SIGNATURE, "BAN", "k9", "alice", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    reply = s_test_call (broker, PC_SIGNATURE, "RESUME", "k10", "alice", token, NULL);
    s_test_error (&reply, PC_ERR_AUTH, "k10");
    reply = s_test_call (broker, PC_SIGNATURE, "UNBAN", "k11", "alice", NULL);
    pc_msg_destroy (&reply);
    free (token);
    free (sid);
    free (phone);
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
        "tcp://127.0.0.1:*", server_cert, "127.0.0.1", redis_port, 0, verbose, 0, 2, 0
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
    s_test_tokens (broker);
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

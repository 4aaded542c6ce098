//  files_testkit.c: the file service's selftest fixture (files_testkit.h).
#include "files_testkit.h"
#include "files_disk.h"
#include "files_server.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_redis.h"
#include "pc_service.h"
#include "pc_zap.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

//  The fake broker's answer to the FCHECK that request caused.
static void
s_answer_fcheck (files_testkit_t *self)
{
    pc_msg_t *ask = pc_msg_new (NULL);
    while (true) {
        assert (pc_msg_recv (ask, self->broker) == 0);
        if (pc_msg_cmd (ask) == PC_CMD_FCHECK)
            break;
        pc_msg_t *ok = pc_msg_new_ok (ask);         //  an FEVENT
        pc_msg_send (ok, self->broker);
        pc_msg_destroy (&ok);
    }
    const char *space = pc_fcheck_space (ask);
    pc_msg_t *answer;
    if (streq (space, "lobby") && streq (pc_fcheck_key (ask), zcert_public_txt (self->client_cert))) {
        answer = pc_msg_new_ok (ask);
        pc_msg_add (answer, "alice");
        pc_msg_add (answer, "user");
        pc_msg_add (answer, "room/lobby");
    }
    else
        answer = pc_msg_new_error (ask, PC_ERR_FORBIDDEN, "join the room first");
    if (!streq (space, "silent"))
        pc_msg_send (answer, self->broker);
    pc_msg_destroy (&answer);
    pc_msg_destroy (&ask);
}

pc_msg_t *
files_testkit_call (files_testkit_t *self, zsock_t *dealer, bool fcheck, const char *first, ...)
{
    zmsg_t *msg = zmsg_new ();
    va_list args;
    va_start (args, first);
    for (const char *frame = first; frame; frame = va_arg (args, const char *))
        zmsg_addstr (msg, frame);
    va_end (args);
    assert (zmsg_send (&msg, dealer) == 0);
    if (fcheck)
        s_answer_fcheck (self);
    pc_msg_t *reply = pc_msg_new (NULL);
    if (pc_msg_recv (reply, dealer) != 0)
        pc_msg_destroy (&reply);
    return reply;
}

void
files_testkit_error (pc_msg_t **reply_p, int code)
{
    assert (*reply_p);
    if (pc_msg_error_code (*reply_p) != code)
        printf ("expected %d, got %s %d %s\n", code, pc_msg_command (*reply_p),
                pc_msg_error_code (*reply_p), pc_msg_error_reason (*reply_p));
    assert (pc_msg_error_code (*reply_p) == code);
    pc_msg_destroy (reply_p);
}

pc_msg_t *
files_testkit_event (files_testkit_t *self, const char *kind)
{
    pc_msg_t *event = pc_msg_new (NULL);
    while (true) {
        assert (pc_msg_recv (event, self->broker) == 0);
        pc_msg_t *ok = pc_msg_new_ok (event);
        pc_msg_send (ok, self->broker);
        pc_msg_destroy (&ok);
        if (pc_msg_cmd (event) == PC_CMD_FEVENT && streq (pc_fevent_kind (event), kind))
            return event;
    }
}

char *
files_testkit_put (files_testkit_t *self, const char *name)
{
    char size [24];
    snprintf (size, sizeof (size), "%zu", strlen (FILES_TESTKIT_TEXT));
    pc_msg_t *reply = files_testkit_call (self, self->client, true, PC_SIGNATURE, "FPUT", "tp1",
                                          "lobby", name, size, self->sha, "", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    char *id = strdup (pc_fput_ok_upload (reply));
    pc_msg_destroy (&reply);
    reply = files_testkit_call (self, self->client, false, PC_SIGNATURE, "FDATA", "tp2", id, "0",
                                FILES_TESTKIT_TEXT, NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    reply = files_testkit_call (self, self->client, false, PC_SIGNATURE, "FDONE", "tp3", id, NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    pc_msg_t *event = files_testkit_event (self, "file-up");
    assert (streq (pc_ev_file_up_file_id (event), id));
    pc_msg_destroy (&event);
    return id;
}

char *
files_testkit_redis (files_testkit_t *self, const char *command)
{
    redisContext *redis = redisConnect ("127.0.0.1", self->redis_port);
    assert (redis && !redis->err);
    redisReply *reply = (redisReply *) redisCommand (redis, command);
    assert (reply);
    char *text = reply->type == REDIS_REPLY_STRING? strdup (reply->str):
                 reply->type == REDIS_REPLY_INTEGER? zsys_sprintf ("%lld", reply->integer):
                 strdup ("");
    freeReplyObject (reply);
    redisFree (redis);
    return text;
}

bool
files_testkit_exists (files_testkit_t *self, const char *format, ...)
{
    char name [PATH_MAX / 2], path [PATH_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (name, sizeof (name), format, args);
    va_end (args);
    snprintf (path, sizeof (path), "%s/%s", self->dir, name);
    return access (path, F_OK) == 0;
}

//  The private folder and redis-server, and the configuration for both.
static int
s_kit_storage (files_testkit_t *self)
{
    self->redis = pc_redis_server_start (&self->redis_port);
    if (self->redis == -1)
        return -1;
    snprintf (self->dir, sizeof (self->dir), "/tmp/files_test.XXXXXX");
    assert (mkdtemp (self->dir));
    assert (pc_config_load (&self->config) == 0);
    snprintf (self->config.files_dir, sizeof (self->config.files_dir), "%s/files", self->dir);
    snprintf (self->config.redis_host, sizeof (self->config.redis_host), "127.0.0.1");
    self->config.redis_port = self->redis_port;
    self->config.files_max = 1 << 20;
    self->config.files_quota = 2 << 20;
    self->config.files_min_free = 0;
    files_disk_sha256_hex (FILES_TESTKIT_TEXT, strlen (FILES_TESTKIT_TEXT), self->sha);
    return 0;
}

static zsock_t *
s_kit_client (files_testkit_t *self, zcert_t *cert, int port)
{
    zsock_t *dealer = pc_keys_client (ZMQ_DEALER, cert, zcert_public_txt (self->service_cert));
    zsock_set_rcvtimeo (dealer, 5000);
    assert (zsock_connect (dealer, "tcp://127.0.0.1:%d", port) == 0);
    return dealer;
}

files_testkit_t *
files_testkit_new (bool verbose)
{
    files_testkit_t *self = (files_testkit_t *) zmalloc (sizeof (files_testkit_t));
    assert (self);
    if (s_kit_storage (self) == -1) {
        printf ("SKIPPED (cannot start redis-server)\n");
        free (self);
        return NULL;
    }
    self->zap = pc_zap_new ();
    pc_zap_allow_any (self->zap, "clients");
    self->broker_cert = zcert_new ();
    self->service_cert = zcert_new ();
    self->client_cert = zcert_new ();
    self->other_cert = zcert_new ();
    self->broker = zsock_new (ZMQ_ROUTER);
    zcert_apply (self->broker_cert, self->broker);
    pc_zap_secure (self->broker, "clients");
    zsock_set_rcvtimeo (self->broker, 5000);
    int broker_port = zsock_bind (self->broker, "tcp://127.0.0.1:*");
    assert (broker_port > 0);
    char broker_endpoint [64];
    snprintf (broker_endpoint, sizeof (broker_endpoint), "tcp://127.0.0.1:%d", broker_port);
    files_server_args_t args = {
        &self->config, self->service_cert, zcert_public_txt (self->broker_cert),
        "tcp://127.0.0.1:*", broker_endpoint, verbose, 0
    };
    pc_service_t service = { .name = "files_testkit", .help = NULL };
    self->server = pc_service_start (&service, files_server_actor, &args, NULL);
    assert (self->server && args.port > 0);
    self->client = s_kit_client (self, self->client_cert, args.port);
    self->other = s_kit_client (self, self->other_cert, args.port);
    return self;
}

void
files_testkit_destroy (files_testkit_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        files_testkit_t *self = *self_p;
        zsock_destroy (&self->client);
        zsock_destroy (&self->other);
        zactor_destroy (&self->server);
        zsock_destroy (&self->broker);
        zcert_destroy (&self->broker_cert);
        zcert_destroy (&self->service_cert);
        zcert_destroy (&self->client_cert);
        zcert_destroy (&self->other_cert);
        pc_zap_destroy (&self->zap);
        pc_redis_server_stop (self->redis);
        char command [PATH_MAX];
        snprintf (command, sizeof (command), "rm -rf '%s'", self->dir);
        assert (system (command) == 0);
        free (self);
        *self_p = NULL;
    }
}

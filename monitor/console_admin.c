//  console_admin.c: BAN / UNBAN / KICK from the console, with the admin key.
#include "console_admin.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_msg.h"
#include "pc_util.h"

#define ADMIN_TIMEOUT_MS    3000

struct _console_admin_t {
    pc_config_t *config;
    zcert_t     *cert;              //  the server's admin key
    zsock_t     *dealer;            //  made on the first action
    pc_msg_t    *msg;
    char         reqid [32];        //  the request in flight, "" if none
    int64_t      sent_at;
    uint64_t     sequence;
    console_ui_action_t action;     //  the one in flight
};

console_admin_t *
console_admin_new (pc_config_t *config)
{
    zcert_t *cert = pc_keys_load (config->keys_dir, "admin");
    if (!cert)
        return NULL;
    console_admin_t *self = (console_admin_t *) zmalloc (sizeof (console_admin_t));
    assert (self);
    self->config = config;
    self->cert = cert;
    self->msg = pc_msg_new (NULL);
    assert (self->msg);
    return self;
}

void
console_admin_destroy (console_admin_t **self_p)
{
    if (*self_p) {
        console_admin_t *self = *self_p;
        zsock_destroy (&self->dealer);
        pc_msg_destroy (&self->msg);
        zcert_destroy (&self->cert);
        free (self);
        *self_p = NULL;
    }
}

static int
s_connect (console_admin_t *self)
{
    char *server_key = pc_keys_public (self->config->keys_dir, "broker");
    if (!server_key)
        return -1;
    self->dealer = pc_keys_client (ZMQ_DEALER, self->cert, server_key);
    zsock_set_sndhwm (self->dealer, 10);
    free (server_key);
    if (zsock_connect (self->dealer, "tcp://%s:%d", self->config->broker_host,
                       self->config->base_port + PC_OFF_BROKER) == -1) {
        zsock_destroy (&self->dealer);
        return -1;
    }
    return 0;
}

//  A name as the broker wants it (folded), or false
static bool
s_name (const char *text, char *name, size_t size)
{
    if (strlen (text) > PC_NAME_MAX)
        return false;
    snprintf (name, size, "%s", text);
    pc_name_fold (name);
    return pc_name_valid (name);
}

int
console_admin_send (console_admin_t *self, console_ui_action_t *action,
                    char *result, size_t size)
{
    if (*self->reqid) {
        snprintf (result, size, "%s %s: the last admin action is still waiting for the broker",
                  action->command, action->user);
        return -1;
    }
    bool kick = streq (action->command, "KICK");
    console_ui_action_t folded;
    memset (&folded, 0, sizeof (folded));
    snprintf (folded.command, sizeof (folded.command), "%s", action->command);
    if (!s_name (action->user, folded.user, sizeof (folded.user))
    ||  (kick && !s_name (action->room, folded.room, sizeof (folded.room)))) {
        snprintf (result, size, "%s: a name is 1-32 of a-z 0-9 _ -", action->command);
        return -1;
    }
    if (!self->dealer && s_connect (self) == -1) {
        snprintf (result, size, "%s: no broker key in %s (is the broker running?)",
                  action->command, self->config->keys_dir);
        return -1;
    }
    snprintf (self->reqid, sizeof (self->reqid), "a%" PRIu64, ++self->sequence);
    pc_msg_reset (self->msg, folded.command);
    pc_msg_set_reqid (self->msg, self->reqid);
    if (kick)
        pc_msg_add (self->msg, folded.room);
    pc_msg_add (self->msg, folded.user);
    self->action = folded;
    self->sent_at = zclock_mono ();
    if (pc_msg_send_nowait (self->msg, self->dealer) == -1) {
        //  the queue is full: nobody is there; the timeout reports it
    }
    return 0;
}

bool
console_admin_busy (console_admin_t *self)
{
    return *self->reqid != 0;
}

zsock_t *
console_admin_socket (console_admin_t *self)
{
    return self->dealer;
}

static void
s_result (console_admin_t *self, char *result, size_t size)
{
    console_ui_action_t *action = &self->action;
    if (pc_msg_is (self->msg, "OK")) {
        if (streq (action->command, "BAN"))
            snprintf (result, size, "banned %s", action->user);
        else
        if (streq (action->command, "UNBAN"))
            snprintf (result, size, "unbanned %s", action->user);
        else
            snprintf (result, size, "kicked %s from %s", action->user, action->room);
    }
    else
        snprintf (result, size, "%s %s%s%s failed: %d %s", action->command, action->user,
                  *action->room? " ": "", action->room, pc_msg_error_code (self->msg),
                  pc_msg_error_reason (self->msg));
}

bool
console_admin_poll (console_admin_t *self, int64_t now, char *result, size_t size)
{
    while (self->dealer && (zsock_events (self->dealer) & ZMQ_POLLIN)) {
        int rc = pc_msg_recv (self->msg, self->dealer);
        if (rc == -1)
            break;              //  interrupted
        if (rc != 0)
            continue;           //  malformed: not ours to judge
        if (*self->reqid && streq (pc_msg_reqid (self->msg), self->reqid)
        &&  (pc_msg_is (self->msg, "OK") || pc_msg_is (self->msg, "ERROR"))) {
            self->reqid [0] = 0;
            s_result (self, result, size);
            return true;
        }
        //  a NOTICE on the admin's topic, or a late reply: ignored
    }
    if (*self->reqid && now - self->sent_at > ADMIN_TIMEOUT_MS) {
        self->reqid [0] = 0;
        zsock_destroy (&self->dealer);      //  a late answer must not count
        snprintf (result, size, "%s %s: no answer from the broker", self->action.command,
                  self->action.user);
        return true;
    }
    return false;
}

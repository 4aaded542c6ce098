//  client_ui_xfer.c: one file transfer in a background thread.
#include "client_ui_xfer.h"
#include "client_conn.h"
#include "pc_keys.h"
#include "pc_util.h"

#include <sodium.h>

//  What the thread owns while it runs.
typedef struct {
    client_ui_xfer_kind_t kind;
    char        host [256];
    int         port;
    char        server_key [41];
    zcert_t    *cert;
    int         timeout_ms;
    char        space [PC_NAME_MAX + 2];
    char        name [PC_FILE_NAME_MAX + 1];
    char       *path;
    bool        with_keys;
    client_xfer_keys_t keys;
    zsock_t    *pipe;
    bool        stop;
} task_t;

struct _client_ui_xfer_t {
    zactor_t   *actor;
    client_xfer_phase_t phase;
    uint64_t    done, total;
    char        note [512];
    bool        finished;
    int         rc;
    char        error [512];
    client_xfer_file_t result;
    client_xfer_file_t *files;
    size_t      nfiles;
};

static void
s_task_destroy (task_t **task_p)
{
    task_t *task = *task_p;
    if (task) {
        zcert_destroy (&task->cert);
        free (task->path);
        sodium_memzero (task, sizeof (*task));
        free (task);
        *task_p = NULL;
    }
}

//  The engine's tick: a $TERM on the pipe stops the transfer.
static int
s_task_tick (void *arg)
{
    task_t *task = (task_t *) arg;
    while (!task->stop && (zsock_events (task->pipe) & ZMQ_POLLIN)) {
        char *command = zstr_recv (task->pipe);
        if (!command || streq (command, "$TERM"))
            task->stop = true;
        zstr_free (&command);
    }
    return task->stop? 1: 0;
}

static void
s_task_progress (void *arg, client_xfer_phase_t phase, uint64_t done, uint64_t total)
{
    task_t *task = (task_t *) arg;
    char done_txt [24], total_txt [24];
    snprintf (done_txt, sizeof (done_txt), "%" PRIu64, done);
    snprintf (total_txt, sizeof (total_txt), "%" PRIu64, total);
    zstr_sendx (task->pipe, "P", phase == CLIENT_XFER_HASH? "H": phase == CLIENT_XFER_SEND? "S": "R",
                done_txt, total_txt, NULL);
}

static void
s_task_note (void *arg, const char *text)
{
    task_t *task = (task_t *) arg;
    zstr_sendx (task->pipe, "N", text, NULL);
}

static void
s_add_file (zmsg_t *msg, const client_xfer_file_t *file)
{
    zmsg_addstr (msg, file->name);
    zmsg_addstrf (msg, "%" PRIu64, file->size);
    zmsg_addstr (msg, file->from);
    zmsg_addstrf (msg, "%" PRId64, file->time);
    zmsg_addstr (msg, file->sha256);
}

static void
s_task_actor (zsock_t *pipe, void *args)
{
    task_t *task = (task_t *) args;
    task->pipe = pipe;
    zsock_signal (pipe, 0);
    char why [300] = "";
    client_xfer_t *xfer = client_xfer_new (task->host, task->port, task->server_key, task->cert,
                                           task->timeout_ms, why, sizeof (why));
    zmsg_t *done = zmsg_new ();
    zmsg_addstr (done, "D");
    if (!xfer) {
        zmsg_addstrf (done, "%d", PC_EXIT_UNREACHABLE);
        zmsg_addstr (done, why);
    }
    else {
        client_xfer_set_tick (xfer, s_task_tick, task);
        client_xfer_set_progress (xfer, s_task_progress, task);
        client_xfer_set_note (xfer, s_task_note, task);
        client_xfer_file_t result, *files = NULL;
        size_t count = 0;
        memset (&result, 0, sizeof (result));
        const client_xfer_keys_t *keys = task->with_keys? &task->keys: NULL;
        int rc;
        if (task->kind == CLIENT_UI_XFER_LIST)
            rc = client_xfer_list (xfer, task->space, &files, &count);
        else
        if (task->kind == CLIENT_UI_XFER_PUT)
            rc = client_xfer_put (xfer, task->space, task->name, task->path, keys, &result);
        else
            rc = client_xfer_get (xfer, task->space, task->name, task->path, false, keys, &result);
        zmsg_addstrf (done, "%d", rc);
        zmsg_addstr (done, rc? client_xfer_error (xfer): "");
        if (rc == 0 && task->kind == CLIENT_UI_XFER_LIST)
            for (size_t i = 0; i < count; i++)
                s_add_file (done, &files [i]);
        else
        if (rc == 0)
            s_add_file (done, &result);
        free (files);
        client_xfer_destroy (&xfer);
    }
    sodium_memzero (&task->keys, sizeof (task->keys));
    zmsg_send (&done, pipe);
    //  The UI destroys the actor once it has read the result.
    while (!task->stop) {
        char *command = zstr_recv (pipe);
        if (!command || streq (command, "$TERM"))
            task->stop = true;
        zstr_free (&command);
    }
    s_task_destroy (&task);
}

client_ui_xfer_t *
client_ui_xfer_new (client_ui_xfer_kind_t kind, const char *host, int port, const char *server_key,
                    zcert_t *cert, int timeout_ms, const char *space, const char *name,
                    const char *path, const client_xfer_keys_t *keys)
{
    assert (host && server_key && cert && space);
    task_t *task = (task_t *) zmalloc (sizeof (task_t));
    assert (task);
    task->kind = kind;
    snprintf (task->host, sizeof (task->host), "%s", host);
    task->port = port;
    snprintf (task->server_key, sizeof (task->server_key), "%s", server_key);
    task->cert = zcert_dup (cert);
    task->timeout_ms = timeout_ms;
    snprintf (task->space, sizeof (task->space), "%s", space);
    snprintf (task->name, sizeof (task->name), "%s", name? name: "");
    task->path = strdup (path? path: "");
    if (keys) {
        task->keys = *keys;
        task->with_keys = true;
    }
    client_ui_xfer_t *self = (client_ui_xfer_t *) zmalloc (sizeof (client_ui_xfer_t));
    assert (self);
    self->actor = zactor_new (s_task_actor, task);
    assert (self->actor);
    return self;
}

void
client_ui_xfer_destroy (client_ui_xfer_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        client_ui_xfer_t *self = *self_p;
        zactor_destroy (&self->actor);
        free (self->files);
        free (self);
        *self_p = NULL;
    }
}

void *
client_ui_xfer_socket (client_ui_xfer_t *self)
{
    assert (self);
    return zsock_resolve (self->actor);
}

static bool
s_uint (const char *text, uint64_t *value)
{
    if (!text || !*text || strspn (text, "0123456789") != strlen (text))
        return false;
    *value = strtoull (text, NULL, 10);
    return true;
}

//  Pops five frames into file; false when they are not there.
static bool
s_pop_file (zmsg_t *msg, client_xfer_file_t *file)
{
    char *parts [5] = { NULL };
    bool ok = true;
    for (int i = 0; i < 5; i++)
        ok &= (parts [i] = zmsg_popstr (msg)) != NULL;
    uint64_t time_ms = 0;
    if (ok) {
        snprintf (file->name, sizeof (file->name), "%s", parts [0]);
        ok = s_uint (parts [1], &file->size) && s_uint (parts [3], &time_ms);
        snprintf (file->from, sizeof (file->from), "%s", parts [2]);
        file->time = (int64_t) time_ms;
        snprintf (file->sha256, sizeof (file->sha256), "%s", parts [4]);
    }
    for (int i = 0; i < 5; i++)
        zstr_free (&parts [i]);
    return ok;
}

client_ui_xfer_event_t
client_ui_xfer_read (client_ui_xfer_t *self)
{
    assert (self);
    if (self->finished || !(zsock_events (self->actor) & ZMQ_POLLIN))
        return CLIENT_UI_XFER_NONE;
    zmsg_t *msg = zmsg_recv (self->actor);
    if (!msg)
        return CLIENT_UI_XFER_NONE;
    char *type = zmsg_popstr (msg);
    client_ui_xfer_event_t event = CLIENT_UI_XFER_NONE;
    if (type && streq (type, "P")) {
        char *phase = zmsg_popstr (msg), *done = zmsg_popstr (msg), *total = zmsg_popstr (msg);
        self->phase = phase && streq (phase, "H")? CLIENT_XFER_HASH:
                      phase && streq (phase, "S")? CLIENT_XFER_SEND: CLIENT_XFER_RECV;
        s_uint (done, &self->done);
        s_uint (total, &self->total);
        zstr_free (&phase);
        zstr_free (&done);
        zstr_free (&total);
        event = CLIENT_UI_XFER_PROGRESS;
    }
    else
    if (type && streq (type, "N")) {
        char *text = zmsg_popstr (msg);
        snprintf (self->note, sizeof (self->note), "%s", text? text: "");
        zstr_free (&text);
        event = CLIENT_UI_XFER_NOTE;
    }
    else
    if (type && streq (type, "D")) {
        char *rc = zmsg_popstr (msg), *error = zmsg_popstr (msg);
        self->rc = rc? atoi (rc): PC_EXIT_UNREACHABLE;
        snprintf (self->error, sizeof (self->error), "%s", error? error: "");
        zstr_free (&rc);
        zstr_free (&error);
        size_t count = zmsg_size (msg) / 5;
        if (count == 1)
            s_pop_file (msg, &self->result);
        self->files = (client_xfer_file_t *) calloc (count + 1, sizeof (client_xfer_file_t));
        assert (self->files);
        if (count == 1)
            self->files [0] = self->result;
        else
            for (size_t i = 0; i < count; i++)
                s_pop_file (msg, &self->files [i]);
        self->nfiles = count;
        self->finished = true;
        event = CLIENT_UI_XFER_DONE;
    }
    zstr_free (&type);
    zmsg_destroy (&msg);
    return event;
}

client_xfer_phase_t client_ui_xfer_phase (client_ui_xfer_t *self) { assert (self); return self->phase; }
uint64_t client_ui_xfer_done (client_ui_xfer_t *self) { assert (self); return self->done; }
uint64_t client_ui_xfer_total (client_ui_xfer_t *self) { assert (self); return self->total; }
const char *client_ui_xfer_note (client_ui_xfer_t *self) { assert (self); return self->note; }
bool client_ui_xfer_finished (client_ui_xfer_t *self) { assert (self); return self->finished; }
int client_ui_xfer_rc (client_ui_xfer_t *self) { assert (self); return self->rc; }
const char *client_ui_xfer_error (client_ui_xfer_t *self) { assert (self); return self->error; }

const client_xfer_file_t *
client_ui_xfer_result (client_ui_xfer_t *self)
{
    assert (self);
    return &self->result;
}

const client_xfer_file_t *
client_ui_xfer_files (client_ui_xfer_t *self, size_t *count_p)
{
    assert (self);
    *count_p = self->nfiles;
    return self->files;
}

void
client_ui_xfer_test (bool verbose)
{
    printf (" * client_ui_xfer: ");
    //  Nobody at the port: the listing ends with "no reply", reported
    zcert_t *cert = zcert_new ();
    zcert_t *server = zcert_new ();
    client_ui_xfer_t *xfer = client_ui_xfer_new (CLIENT_UI_XFER_LIST, "127.0.0.1", 1,
                                                 zcert_public_txt (server), cert, 200,
                                                 "lobby", NULL, NULL, NULL);
    zcert_destroy (&cert);                  //  the thread has its own copy
    zpoller_t *poller = zpoller_new (client_ui_xfer_socket (xfer), NULL);
    int64_t deadline = zclock_mono () + 5000;
    while (!client_ui_xfer_finished (xfer) && zclock_mono () < deadline) {
        zpoller_wait (poller, 100);
        while (client_ui_xfer_read (xfer) != CLIENT_UI_XFER_NONE)
            ;
    }
    assert (client_ui_xfer_finished (xfer));
    assert (client_ui_xfer_rc (xfer) == PC_EXIT_UNREACHABLE);
    assert (strstr (client_ui_xfer_error (xfer), "no reply"));
    zpoller_destroy (&poller);
    client_ui_xfer_destroy (&xfer);
    //  Destroyed while it still waits: it stops at once
    cert = zcert_new ();
    xfer = client_ui_xfer_new (CLIENT_UI_XFER_LIST, "127.0.0.1", 1, zcert_public_txt (server),
                               cert, 60000, "lobby", NULL, NULL, NULL);
    int64_t start = zclock_mono ();
    zclock_sleep (50);
    client_ui_xfer_destroy (&xfer);
    assert (zclock_mono () - start < 2000);
    zcert_destroy (&cert);
    zcert_destroy (&server);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

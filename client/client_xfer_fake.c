//  client_xfer_fake.c: the in-memory file service of client_xfer's selftest.
#include "client_xfer_fake.h"
#include "pc_limits.h"
#include "pc_msg.h"
#include "pc_proto.h"
#include "pc_util.h"

#include <inttypes.h>
#include <sodium.h>

#define FAKE_FILES  8
#define FAKE_CHUNK  65536

typedef struct {
    char     space [64];
    char     name [PC_FILE_NAME_MAX + 1];
    char     sha [65];
    char    *meta;
    uint8_t *data;
    uint64_t size;
    uint64_t have;                      //  uploads: bytes held
} fake_file_t;

typedef struct {
    zsock_t    *router;
    fake_file_t files [FAKE_FILES];
    fake_file_t upload;                 //  one pending upload, id "u1"
    bool        uploading;
    uint64_t    stall_at;               //  0: never
} fake_t;

//  A command's handler: the reply to send (caller owns), or NULL for none.
typedef pc_msg_t *(fake_fn) (fake_t *self, pc_msg_t *msg);

static void
s_free (fake_file_t *file)
{
    free (file->data);
    free (file->meta);
    memset (file, 0, sizeof (*file));
}

static fake_file_t *
s_find (fake_t *self, const char *space, const char *name)
{
    for (size_t i = 0; i < FAKE_FILES; i++)
        if (self->files [i].data && streq (self->files [i].space, space)
        &&  streq (self->files [i].name, name))
            return &self->files [i];
    return NULL;
}

static pc_msg_t *
s_error (pc_msg_t *request, int code, const char *text, const char *detail)
{
    pc_msg_t *reply = pc_msg_new_error (request, code, text);
    if (detail)
        pc_msg_add (reply, detail);
    return reply;
}

static pc_msg_t *
s_flist (fake_t *self, pc_msg_t *msg)
{
    pc_msg_t *reply = pc_msg_new_ok (msg);
    for (size_t i = 0; i < FAKE_FILES; i++) {
        fake_file_t *file = &self->files [i];
        if (!file->data || !streq (file->space, pc_flist_space (msg)))
            continue;
        pc_msg_add (reply, file->name);
        pc_msg_addf (reply, "%" PRIu64, file->size);
        pc_msg_add (reply, "alice");
        pc_msg_add (reply, "1700000000000");
        pc_msg_add (reply, file->sha);
    }
    return reply;
}

static pc_msg_t *
s_fput (fake_t *self, pc_msg_t *msg)
{
    const char *space = pc_fput_space (msg), *name = pc_fput_name (msg);
    uint64_t size = strtoull (pc_fput_size (msg), NULL, 10);
    if (s_find (self, space, name))
        return s_error (msg, PC_ERR_CONFLICT, "the space already has a file of that name", NULL);
    if (size > 8 * 1024 * 1024)
        return s_error (msg, PC_ERR_TOO_LONG, "larger than the limit", NULL);
    fake_file_t *up = &self->upload;
    if (self->uploading && streq (up->space, space) && streq (up->name, name)
    &&  up->size == size && streq (up->sha, pc_fput_sha256 (msg)))
        up->have -= up->have % FAKE_CHUNK;          //  continue, at a whole chunk
    else {
        s_free (up);
        snprintf (up->space, sizeof (up->space), "%s", space);
        snprintf (up->name, sizeof (up->name), "%s", name);
        snprintf (up->sha, sizeof (up->sha), "%s", pc_fput_sha256 (msg));
        up->meta = strdup (pc_fput_meta (msg));
        up->size = size;
        up->data = (uint8_t *) malloc (size + 1);
        self->uploading = true;
    }
    pc_msg_t *reply = pc_msg_new_ok (msg);
    pc_msg_add (reply, "u1");
    pc_msg_addf (reply, "%" PRIu64, up->have);
    pc_msg_addf (reply, "%d", FAKE_CHUNK);
    return reply;
}

static pc_msg_t *
s_fdata (fake_t *self, pc_msg_t *msg)
{
    fake_file_t *up = &self->upload;
    uint64_t offset = strtoull (pc_fdata_offset (msg), NULL, 10);
    size_t size = pc_fdata_data_size (msg);
    char detail [32];
    snprintf (detail, sizeof (detail), "%" PRIu64, up->have);
    if (self->stall_at && up->have >= self->stall_at)
        return NULL;                        //  a service that died: silence
    if (!self->uploading || !streq (pc_fdata_upload (msg), "u1"))
        return s_error (msg, PC_ERR_NOT_FOUND, "no such upload", NULL);
    if (offset != up->have || up->have + size > up->size)
        return s_error (msg, offset != up->have? PC_ERR_CONFLICT: PC_ERR_TOO_LONG,
                        "wrong offset", detail);
    memcpy (up->data + up->have, pc_fdata_data (msg), size);
    up->have += size;
    pc_msg_t *reply = pc_msg_new_ok (msg);
    pc_msg_addf (reply, "%" PRIu64, up->have);
    return reply;
}

static pc_msg_t *
s_fdone (fake_t *self, pc_msg_t *msg)
{
    fake_file_t *up = &self->upload;
    uint8_t sha [32];
    char hex [65];
    crypto_hash_sha256 (sha, up->data, up->have);
    sodium_bin2hex (hex, sizeof (hex), sha, sizeof (sha));
    if (!self->uploading || up->have != up->size || !streq (hex, up->sha))
        return s_error (msg, PC_ERR_CONFLICT, "incomplete or checksum mismatch", NULL);
    size_t i = 0;
    while (i < FAKE_FILES && self->files [i].data)
        i++;
    assert (i < FAKE_FILES);
    self->files [i] = *up;
    memset (up, 0, sizeof (*up));
    self->uploading = false;
    pc_msg_t *reply = pc_msg_new_ok (msg);
    pc_msg_add (reply, self->files [i].name);
    pc_msg_addf (reply, "%" PRIu64, self->files [i].size);
    pc_msg_add (reply, self->files [i].sha);
    return reply;
}

static pc_msg_t *
s_fopen (fake_t *self, pc_msg_t *msg)
{
    fake_file_t *file = s_find (self, pc_fopen_space (msg), pc_fopen_name (msg));
    if (!file)
        return s_error (msg, PC_ERR_NOT_FOUND, "no such file", NULL);
    pc_msg_t *reply = pc_msg_new_ok (msg);
    pc_msg_addf (reply, "h%zu", (size_t) (file - self->files));
    pc_msg_addf (reply, "%" PRIu64, file->size);
    pc_msg_add (reply, file->sha);
    pc_msg_add (reply, "alice");
    pc_msg_add (reply, "1700000000000");
    pc_msg_add (reply, file->meta);
    return reply;
}

static pc_msg_t *
s_fread (fake_t *self, pc_msg_t *msg)
{
    size_t index = (size_t) atoi (pc_fread_handle (msg) + 1);
    uint64_t offset = strtoull (pc_fread_offset (msg), NULL, 10);
    size_t length = (size_t) atol (pc_fread_length (msg));
    fake_file_t *file = index < FAKE_FILES? &self->files [index]: NULL;
    if (!file || !file->data || offset >= file->size)
        return s_error (msg, file && file->data? PC_ERR_MALFORMED: PC_ERR_NOT_FOUND, "no", NULL);
    if (length > file->size - offset)
        length = (size_t) (file->size - offset);
    pc_msg_t *reply = pc_msg_new ("FCHUNK");
    pc_msg_set_routing_id (reply, pc_msg_routing_id (msg));
    pc_msg_set_reqid (reply, pc_msg_reqid (msg));
    pc_msg_addf (reply, "%" PRIu64, offset);
    pc_msg_add_mem (reply, file->data + offset, length);
    return reply;
}

static pc_msg_t *
s_frm (fake_t *self, pc_msg_t *msg)
{
    fake_file_t *file = s_find (self, pc_frm_space (msg), pc_frm_name (msg));
    if (!file)
        return s_error (msg, PC_ERR_NOT_FOUND, "no such file", NULL);
    s_free (file);
    return pc_msg_new_ok (msg);
}

static const struct {
    pc_cmd_t  command;
    fake_fn  *handle;
} s_handlers [] = {
    { PC_CMD_FLIST, s_flist }, { PC_CMD_FPUT, s_fput }, { PC_CMD_FDATA, s_fdata },
    { PC_CMD_FDONE, s_fdone }, { PC_CMD_FOPEN, s_fopen }, { PC_CMD_FREAD, s_fread },
    { PC_CMD_FRM, s_frm }
};

static void
s_handle (fake_t *self, pc_msg_t *msg)
{
    pc_msg_t *reply = NULL;
    size_t i = 0;
    while (i < sizeof (s_handlers) / sizeof (s_handlers [0])
    &&    pc_msg_cmd (msg) != s_handlers [i].command)
        i++;
    if (i < sizeof (s_handlers) / sizeof (s_handlers [0]))
        reply = s_handlers [i].handle (self, msg);
    else
        reply = pc_msg_new_ok (msg);
    if (reply)
        pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
}

//  A knob from the pipe: false on $TERM.
static bool
s_knob (fake_t *self, zsock_t *pipe)
{
    char *command = NULL, *arg = NULL;
    zstr_recvx (pipe, &command, &arg, NULL);
    bool term = !command || streq (command, "$TERM");
    if (command && streq (command, "CORRUPT")) {
        for (size_t i = 0; i < FAKE_FILES; i++)
            if (self->files [i].data && streq (self->files [i].name, arg))
                self->files [i].data [self->files [i].size / 2] ^= 0x20;
    }
    else
    if (command && streq (command, "STALL"))
        self->stall_at = strtoull (arg, NULL, 10);
    else
    if (command && streq (command, "RESUME"))
        self->stall_at = 0;
    zstr_free (&command);
    zstr_free (&arg);
    if (!term)
        zsock_signal (pipe, 0);
    return !term;
}

void
client_xfer_fake_actor (zsock_t *pipe, void *args)
{
    fake_t *self = (fake_t *) zmalloc (sizeof (fake_t));
    zcert_t *cert = (zcert_t *) args;
    self->router = zsock_new (ZMQ_ROUTER);
    zcert_apply (cert, self->router);
    zsock_set_curve_server (self->router, 1);
    zsock_set_maxmsgsize (self->router, PC_MSG_MAX);
    int port = zsock_bind (self->router, "tcp://127.0.0.1:*");
    assert (port > 0);
    zsock_signal (pipe, 0);
    zstr_sendf (pipe, "%d", port);
    zpoller_t *poller = zpoller_new (pipe, self->router, NULL);
    pc_msg_t *msg = pc_msg_new (NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe && !s_knob (self, pipe))
            break;
        if (which == self->router && pc_msg_recv (msg, self->router) == 0)
            s_handle (self, msg);
        else
        if (!which)
            break;
    }
    pc_msg_destroy (&msg);
    for (size_t i = 0; i < FAKE_FILES; i++)
        s_free (&self->files [i]);
    s_free (&self->upload);
    zpoller_destroy (&poller);
    zsock_destroy (&self->router);
    free (self);
}

void
client_xfer_fake_knob (zactor_t *service, const char *command, const char *arg)
{
    zstr_sendx (service, command, arg, NULL);
    zsock_wait (service);
}

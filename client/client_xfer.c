//  client_xfer.c: FLIST, FPUT/FDATA/FDONE, FOPEN/FREAD, FRM with credit.
#include "client_xfer.h"
#include "pc_proto.h"
#include "client_conn.h"
#include "client_net.h"
#include "client_seal.h"
#include "client_state.h"
#include "client_xfer_fake.h"
#include "pc_keys.h"
#include "pc_msg.h"
#include "pc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "client_xfer_core.h"

static void
s_own (const client_xfer_keys_t *keys, client_dm_keys_t *own)
{
    memset (own, 0, sizeof (*own));
    memcpy (own->secret_key, keys->own_secret, sizeof (own->secret_key));
    snprintf (own->id, sizeof (own->id), "%s", keys->own_id);
}

char *
xfer_meta_seal (const client_xfer_keys_t *keys, const client_seal_info_t *info)
{
    if (keys->peer_devices.count == 0)
        return client_seal_meta (info, keys->peer_public, keys->own_secret);
    uint8_t plain [CLIENT_SEAL_META_PLAIN];
    client_seal_info_pack (info, plain);
    client_dm_keys_t own;
    s_own (keys, &own);
    char *meta = client_dm_seal_blob (plain, sizeof (plain), &own, &keys->peer_devices,
                                      &keys->own_devices);
    client_dm_keys_clear (&own);
    sodium_memzero (plain, sizeof (plain));
    return meta;
}

int
xfer_meta_open (const client_xfer_keys_t *keys, const char *meta, client_seal_info_t *info)
{
    if (!meta || strncmp (meta, "2 ", 2) != 0) {
        //  The older form, for one key: the peer's (or one of its devices')
        if (client_seal_meta_open (meta, keys->peer_public, keys->own_secret, info) == 0)
            return 0;
        uint8_t key [32];
        for (size_t i = 0; i < keys->peer_devices.count; i++)
            if (client_dm_z85_decode (keys->peer_devices.device [i].z85, key)
            &&  client_seal_meta_open (meta, key, keys->own_secret, info) == 0)
                return 0;
        return -1;
    }
    uint8_t plain [CLIENT_SEAL_META_PLAIN];
    client_dm_keys_t own;
    s_own (keys, &own);
    int rc = client_dm_open_blob (meta, &own, &keys->peer_devices, &keys->own_devices,
                                  plain, sizeof (plain));
    client_dm_keys_clear (&own);
    if (rc == 0)
        client_seal_info_unpack (plain, info);
    sodium_memzero (plain, sizeof (plain));
    return rc;
}


client_xfer_t *
client_xfer_new (const char *host, int port, const char *server_key, zcert_t *cert,
                 int timeout_ms, char *why, size_t why_size)
{
    assert (host && server_key && cert);
    if (port < 1 || port > 65535 || !pc_keys_valid_z85 (server_key)) {
        snprintf (why, why_size, "the broker gave an unusable file service address (port %d)", port);
        return NULL;
    }
    client_xfer_t *self = (client_xfer_t *) zmalloc (sizeof (client_xfer_t));
    assert (self);
    snprintf (self->endpoint, sizeof (self->endpoint), "tcp://%s:%d", host, port);
    self->timeout_ms = timeout_ms > 0? timeout_ms: 1;
    self->net = client_net_new ();
    char error [400];
    if (client_net_open (self->net, self->endpoint, server_key, cert, error, sizeof (error)) == -1) {
        snprintf (why, why_size, "the file service: %s", error);
        client_xfer_destroy (&self);
    }
    return self;
}

void
client_xfer_destroy (client_xfer_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        client_xfer_t *self = *self_p;
        client_net_destroy (&self->net);
        free (self);
        *self_p = NULL;
    }
}

void
client_xfer_set_progress (client_xfer_t *self, client_xfer_progress_fn *fn, void *arg)
{
    assert (self);
    self->progress = fn;
    self->progress_arg = arg;
}

void
client_xfer_set_note (client_xfer_t *self, client_xfer_note_fn *fn, void *arg)
{
    assert (self);
    self->note = fn;
    self->note_arg = arg;
}

void
client_xfer_set_tick (client_xfer_t *self, client_xfer_tick_fn *fn, void *arg)
{
    assert (self);
    self->tick = fn;
    self->tick_arg = arg;
}

const char *
client_xfer_error (client_xfer_t *self)
{
    assert (self);
    return self->error;
}

bool
client_xfer_private (const char *space)
{
    return space && space [0] == '@';
}

void
client_xfer_size_text (uint64_t bytes, char *out, size_t size)
{
    static const char *units [] = { "KiB", "MiB", "GiB", "TiB" };
    if (bytes < 1024) {
        snprintf (out, size, "%" PRIu64 " B", bytes);
        return;
    }
    double value = (double) bytes / 1024;
    size_t unit = 0;
    while (value >= 1024 && unit < 3) {
        value /= 1024;
        unit++;
    }
    snprintf (out, size, "%.1f %s", value, units [unit]);
}

char *
client_xfer_dm_text (const char *sender, const char *name, uint64_t size)
{
    char size_txt [32];
    client_xfer_size_text (size, size_txt, sizeof (size_txt));
    //  A name of letters, digits and ._- is typed as is; any other goes in
    //  single quotes, a quote inside as '\''.
    pc_buf_t word;
    pc_buf_init (&word);
    bool plain = strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789._-+,@=") == strlen (name);
    if (plain)
        pc_buf_append (&word, name, strlen (name));
    else {
        pc_buf_append (&word, "'", 1);
        for (const char *c = name; *c; c++)
            if (*c == '\'')
                pc_buf_append (&word, "'\\''", 4);
            else
                pc_buf_append (&word, c, 1);
        pc_buf_append (&word, "'", 1);
    }
    char *text = zsys_sprintf ("sent you a file: %s (%s) — pychat get --with %s %s",
                               name, size_txt, sender, word.data);
    pc_buf_free (&word);
    return text;
}

//  --------------------------------------------------------------------------
//  Errors, progress, notes

int
xfer_fail (client_xfer_t *self, int code, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

int
xfer_fail (client_xfer_t *self, int code, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof (self->error), format, args);
    va_end (args);
    return code;
}

//  A download that failed a check: it is refused and never kept.
int
xfer_damaged (client_xfer_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

int
xfer_damaged (client_xfer_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof (self->error), format, args);
    va_end (args);
    self->damaged = true;
    return PC_EXIT_UNREACHABLE;
}

//  An ERROR reply as one line ("WHAT refused: REASON"); its exit code.
int
xfer_refused (client_xfer_t *self, const char *what, pc_msg_t *reply)
{
    int code = pc_msg_error_code (reply);
    char reason [256];
    client_conn_sanitize (pc_msg_error_reason (reply), reason, sizeof (reason));
    if (!*reason)
        snprintf (reason, sizeof (reason), "%s", pc_error_name (code));
    int exit_code = pc_error_exit (code);
    if (exit_code == PC_EXIT_REFUSED)
        return xfer_fail (self, exit_code, "%s refused: %s", what, reason);
    if (exit_code == PC_EXIT_REJECTED)
        return xfer_fail (self, exit_code, "%s rejected: %s", what, reason);
    return xfer_fail (self, exit_code, "%s failed: file service error %d: %s", what, code, reason);
}

void
xfer_progress (client_xfer_t *self, client_xfer_phase_t phase, uint64_t done, uint64_t total, bool force)
{
    if (!self->progress)
        return;
    int64_t now = zclock_mono ();
    if (!force && now - self->progress_at < PROGRESS_MS)
        return;
    self->progress_at = now;
    self->progress (self->progress_arg, phase, done, total);
}

void
xfer_note (client_xfer_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

void
xfer_note (client_xfer_t *self, const char *format, ...)
{
    if (!self->note)
        return;
    char text [512];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof (text), format, args);
    va_end (args);
    self->note (self->note_arg, text);
}

//  True when the transfer must stop (a signal, or the tick said so).
bool
xfer_stopped (client_xfer_t *self)
{
    if (client_conn_interrupted ())
        return true;
    return self->tick && self->tick (self->tick_arg) != 0;
}

//  --------------------------------------------------------------------------
//  Requests

//  Sends request under a fresh request id (copied into reqid, 32 bytes).
//  0, or an exit code with the error set.
int
xfer_send (client_xfer_t *self, pc_msg_t *request, char *reqid)
{
    if (client_net_send (self->net, request, reqid) == -1)
        return xfer_fail (self, PC_EXIT_UNREACHABLE, "the file service at %s does not take "
                       "requests (is it running?)", self->endpoint);
    return 0;
}

//  Waits up to timeout_ms for the next reply (any request id) into reply,
//  ticking every SLICE_MS. 0, PC_EXIT_UNREACHABLE (error set) or
//  CLIENT_INTERRUPTED. A reply that does not decode is an error: the
//  service is ours to trust for framing, not for content.
int
xfer_wait (client_xfer_t *self, int timeout_ms, pc_msg_t *reply)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        if (xfer_stopped (self))
            return xfer_fail (self, CLIENT_INTERRUPTED, "interrupted");
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return xfer_fail (self, PC_EXIT_UNREACHABLE, "no reply from the file service at %s "
                           "within %g s", self->endpoint, timeout_ms / 1000.0);
        int status = client_net_recv (self->net, reply);
        if (status == -1) {
            zmq_pollitem_t item = { client_net_dealer (self->net), 0, ZMQ_POLLIN, 0 };
            zmq_poll (&item, 1, left < SLICE_MS? left: SLICE_MS);
            continue;
        }
        if (status == -2) {
            char why [160];
            client_conn_sanitize (pc_msg_error_text (reply), why, sizeof (why));
            return xfer_fail (self, PC_EXIT_UNREACHABLE, "malformed reply from the file service: %s", why);
        }
        return 0;
    }
}

//  One request, one reply (OK, ERROR, or FCHUNK). Replies to other request
//  ids (left over from an abandoned window) are dropped.
int
xfer_call (client_xfer_t *self, pc_msg_t *request, int timeout_ms, pc_msg_t **reply_p)
{
    *reply_p = NULL;
    char reqid [32];
    int rc = xfer_send (self, request, reqid);
    if (rc)
        return rc;
    pc_msg_t *reply = pc_msg_new (NULL);
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        rc = xfer_wait (self, (int) (left > 0? left: 0), reply);
        if (rc)
            break;
        if (streq (pc_msg_reqid (reply), reqid)) {
            *reply_p = reply;
            return 0;
        }
    }
    if (rc == PC_EXIT_UNREACHABLE)
        xfer_fail (self, rc, "no reply from the file service at %s within %g s (is it running?)",
                self->endpoint, timeout_ms / 1000.0);
    pc_msg_destroy (&reply);
    return rc;
}

//  --------------------------------------------------------------------------
//  Reading what the service says

bool
xfer_uint (const char *text, uint64_t *value)
{
    if (!text || !*text || strlen (text) > 20 || strspn (text, "0123456789") != strlen (text))
        return false;
    errno = 0;
    unsigned long long v = strtoull (text, NULL, 10);
    if (errno)
        return false;
    *value = v;
    return true;
}

bool
xfer_sha_hex (const char *text)
{
    return text && strlen (text) == 64 && strspn (text, "0123456789abcdef") == 64;
}

//  Fills file from entry i of an FLIST reply: name, size, from, time,
//  SHA-256. false when any is not what PROTOCOL.md says (the entry is then
//  not shown).
static bool
s_file_fields (pc_msg_t *reply, size_t i, client_xfer_file_t *file)
{
    const char *name = pc_flist_ok_name (reply, i);
    const char *from = pc_flist_ok_from (reply, i);
    const char *time_txt = pc_flist_ok_time (reply, i);
    const char *sha = pc_flist_ok_sha256 (reply, i);
    uint64_t time_ms = 0;
    if (!name || pc_file_name_check (name, strlen (name), NULL) == -1
    ||  !xfer_uint (pc_flist_ok_size (reply, i), &file->size)
    ||  !pc_name_valid (from) || !xfer_uint (time_txt, &time_ms) || !xfer_sha_hex (sha))
        return false;
    snprintf (file->name, sizeof (file->name), "%s", name);
    snprintf (file->from, sizeof (file->from), "%s", from);
    file->time = (int64_t) time_ms;
    snprintf (file->sha256, sizeof (file->sha256), "%s", sha);
    return true;
}

void
xfer_hex (const uint8_t *sha, char *hex)
{
    sodium_bin2hex (hex, 65, sha, 32);
}

int
client_xfer_list (client_xfer_t *self, const char *space, client_xfer_file_t **files_p,
                  size_t *count_p)
{
    assert (self && space && files_p && count_p);
    *files_p = NULL;
    *count_p = 0;
    self->error [0] = 0;
    client_xfer_file_t *files = NULL;
    size_t count = 0, cap = 0;
    char after [PC_FILE_NAME_MAX + 1] = "";
    int rc = 0;
    //  A reply holds at most LIST_PAGE files: ask again after the last
    //  name until a reply is short (PROTOCOL.md, FLIST).
    while (rc == 0) {
        pc_msg_t *request = pc_msg_new ("FLIST");
        pc_msg_add (request, space);
        if (*after)
            pc_msg_add (request, after);
        pc_msg_t *reply = NULL;
        rc = xfer_call (self, request, self->timeout_ms, &reply);
        pc_msg_destroy (&request);
        if (rc)
            break;
        if (pc_msg_is (reply, "ERROR"))
            rc = xfer_refused (self, "files", reply);
        else
        if (!pc_msg_is (reply, "OK") || pc_msg_nfields (reply) % 5)
            rc = xfer_fail (self, PC_EXIT_UNREACHABLE, "malformed FLIST reply from the file service");
        size_t page = rc? 0: pc_msg_nfields (reply) / 5;
        bool advanced = false;
        for (size_t i = 0; i < page; i++) {
            if (count == cap) {
                cap = cap? cap * 2: LIST_PAGE;
                files = (client_xfer_file_t *) realloc (files, cap * sizeof (client_xfer_file_t));
                assert (files);
            }
            if (s_file_fields (reply, i, &files [count])) {
                advanced |= strcmp (files [count].name, after) > 0;
                count++;
            }
        }
        //  Resume after the last name the service sent (even one not shown)
        const char *last = page? pc_flist_ok_name (reply, page - 1): NULL;
        if (last && strlen (last) <= PC_FILE_NAME_MAX)
            snprintf (after, sizeof (after), "%s", last);
        pc_msg_destroy (&reply);
        if (rc || page < LIST_PAGE || !advanced)
            break;
    }
    if (rc) {
        free (files);
        return rc;
    }
    *files_p = files? files: (client_xfer_file_t *) calloc (1, sizeof (client_xfer_file_t));
    *count_p = count;
    return 0;
}

int
client_xfer_rm (client_xfer_t *self, const char *space, const char *name)
{
    assert (self && space && name);
    self->error [0] = 0;
    pc_msg_t *request = pc_msg_new ("FRM");
    pc_msg_add (request, space);
    pc_msg_add (request, name);
    pc_msg_t *reply = NULL;
    int rc = xfer_call (self, request, self->timeout_ms, &reply);
    pc_msg_destroy (&request);
    if (rc == 0 && !pc_msg_is (reply, "OK")) {
        char what [300];
        snprintf (what, sizeof (what), "rm %s", name);
        rc = pc_msg_is (reply, "ERROR")? xfer_refused (self, what, reply):
             xfer_fail (self, PC_EXIT_UNREACHABLE, "malformed FRM reply from the file service");
    }
    pc_msg_destroy (&reply);
    return rc;
}

//  --------------------------------------------------------------------------
//  Selftest: the engine against the in-memory file service of
//  client_xfer_fake.

static void
s_test_note (void *arg, const char *text)
{
    snprintf ((char *) arg, 256, "%s", text);
}

static int
s_test_stop (void *arg)
{
    return *(int *) arg;
}

static void
s_test_write (const char *path, const uint8_t *data, size_t size)
{
    FILE *file = fopen (path, "wb");
    assert (file);
    assert (fwrite (data, 1, size, file) == size);
    fclose (file);
}

//  True when path holds exactly data.
static bool
s_test_same (const char *path, const uint8_t *data, size_t size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return false;
    uint8_t *back = (uint8_t *) malloc (size + 1);
    size_t got = fread (back, 1, size + 1, file);
    fclose (file);
    bool same = got == size && memcmp (back, data, size) == 0;
    free (back);
    return same;
}

typedef struct {
    zactor_t *service;
    zcert_t  *service_cert, *cert;
    int       port;
    client_xfer_t *xfer;
    char      note [256];
    int       stop;
    char      dir [64];
    char      src [PATH_MAX], dest [PATH_MAX], part [PATH_MAX], pending [PATH_MAX];
    uint8_t  *data;
    size_t    size;
} xfer_test_t;

static void
s_test_texts (void)
{
    char text [32];
    client_xfer_size_text (512, text, sizeof (text));
    assert (streq (text, "512 B"));
    client_xfer_size_text (1536, text, sizeof (text));
    assert (streq (text, "1.5 KiB"));
    client_xfer_size_text (200 * 1024 * 1024, text, sizeof (text));
    assert (streq (text, "200.0 MiB"));
    assert (client_xfer_private ("@bob") && !client_xfer_private ("lobby"));
    char *dm = client_xfer_dm_text ("alice", "notes.txt", 1536);
    assert (streq (dm, "sent you a file: notes.txt (1.5 KiB) — pychat get --with alice notes.txt"));
    free (dm);
    dm = client_xfer_dm_text ("alice", "it's mine.txt", 10);
    assert (streq (dm, "sent you a file: it's mine.txt (10 B) — pychat get --with alice "
                       "'it'\\''s mine.txt'"));
    free (dm);

}

static void
s_test_put_get (xfer_test_t *t)
{
    //  Put, list, get; no overwrite without force
    client_xfer_file_t file;
    assert (client_xfer_put (t->xfer, "lobby", "a.bin", t->src, NULL, &file) == 0);
    assert (file.size == t->size && strlen (file.sha256) == 64 && !*t->note);
    client_xfer_file_t *files = NULL;
    size_t count = 0;
    assert (client_xfer_list (t->xfer, "lobby", &files, &count) == 0);
    assert (count == 1 && streq (files [0].name, "a.bin") && files [0].size == t->size);
    assert (streq (files [0].sha256, file.sha256) && streq (files [0].from, "alice"));
    free (files);
    assert (client_xfer_get (t->xfer, "lobby", "a.bin", t->dest, false, NULL, &file) == 0);
    assert (s_test_same (t->dest, t->data, t->size) && access (t->part, F_OK) == -1);
    assert (client_xfer_get (t->xfer, "lobby", "a.bin", t->dest, false, NULL, &file) == PC_EXIT_USAGE);
    assert (strstr (client_xfer_error (t->xfer), "--force"));
    assert (client_xfer_get (t->xfer, "lobby", "a.bin", t->dest, true, NULL, &file) == 0);
    //  The same bytes again: there already, nothing sent; other bytes: refused
    assert (client_xfer_put (t->xfer, "lobby", "a.bin", t->src, NULL, &file) == 0);
    assert (strstr (t->note, "there already"));
    t->note [0] = 0;
    FILE *other = fopen (t->part, "w");
    assert (other);
    fputs ("other bytes", other);
    fclose (other);
    assert (client_xfer_put (t->xfer, "lobby", "a.bin", t->part, NULL, &file) == PC_EXIT_REFUSED);
    unlink (t->part);
    assert (client_xfer_get (t->xfer, "lobby", "nope", t->part, false, NULL, &file) == PC_EXIT_REFUSED);
    assert (access (t->part, F_OK) == -1);

}

static void
s_test_resume (xfer_test_t *t)
{
    client_xfer_file_t file;
    //  A download resumes from its .part (cut to a whole chunk), and a
    //  .part of other bytes is downloaded again
    unlink (t->dest);
    s_test_write (t->part, t->data, 300000);
    t->note [0] = 0;
    assert (client_xfer_get (t->xfer, "lobby", "a.bin", t->dest, false, NULL, &file) == 0);
    assert (streq (t->note, "resuming at 262144 bytes"));
    assert (s_test_same (t->dest, t->data, t->size));
    unlink (t->dest);
    uint8_t *other = (uint8_t *) calloc (1, 600000);
    s_test_write (t->part, other, 600000);
    assert (client_xfer_get (t->xfer, "lobby", "a.bin", t->dest, false, NULL, &file) == 0);
    assert (strstr (t->note, "again from 0"));
    assert (s_test_same (t->dest, t->data, t->size));
    free (other);

}

static void
s_test_corrupt_and_stall (xfer_test_t *t)
{
    client_xfer_file_t file;
    char why [256] = "";
    //  A stored byte flipped: refused, nothing kept
    unlink (t->dest);
    client_xfer_fake_knob (t->service, "CORRUPT", "a.bin");
    assert (client_xfer_get (t->xfer, "lobby", "a.bin", t->dest, false, NULL, &file) == PC_EXIT_UNREACHABLE);
    assert (streq (client_xfer_error (t->xfer), "a.bin: checksum mismatch, download refused"));
    assert (access (t->dest, F_OK) == -1 && access (t->part, F_OK) == -1);

    //  An upload cut short (the t->service stops answering) resumes
    client_xfer_fake_knob (t->service, "STALL", "300000");
    client_xfer_t *short_xfer = client_xfer_new ("127.0.0.1", t->port, zcert_public_txt (t->service_cert),
                                                 t->cert, 300, why, sizeof (why));
    assert (client_xfer_put (short_xfer, "lobby", "b.bin", t->src, NULL, &file) == PC_EXIT_UNREACHABLE);
    assert (strstr (client_xfer_error (short_xfer), "no reply"));
    client_xfer_destroy (&short_xfer);
    client_xfer_fake_knob (t->service, "RESUME", "");
    t->note [0] = 0;
    assert (client_xfer_put (t->xfer, "lobby", "b.bin", t->src, NULL, &file) == 0);
    assert (streq (t->note, "resuming at 327680 bytes"));
    assert (client_xfer_get (t->xfer, "lobby", "b.bin", t->dest, false, NULL, &file) == 0);
    assert (s_test_same (t->dest, t->data, t->size));

}

static void
s_test_private (xfer_test_t *t)
{
    client_xfer_file_t file;
    char why [256] = "";
    client_xfer_t *short_xfer;
    //  Private: sealed on the way out, opened by the other end only
    uint8_t alice_pk [32], alice_sk [32], bob_pk [32], bob_sk [32], carol_pk [32], carol_sk [32];
    crypto_box_keypair (alice_pk, alice_sk);
    crypto_box_keypair (bob_pk, bob_sk);
    crypto_box_keypair (carol_pk, carol_sk);
    client_xfer_keys_t alice, bob, carol;
    memset (&alice, 0, sizeof (alice));             //  no devices: the one-key meta
    memset (&bob, 0, sizeof (bob));
    memset (&carol, 0, sizeof (carol));
    memcpy (alice.peer_public, bob_pk, 32);
    memcpy (alice.own_secret, alice_sk, 32);
    memcpy (bob.peer_public, alice_pk, 32);
    memcpy (bob.own_secret, bob_sk, 32);
    memcpy (carol.peer_public, alice_pk, 32);
    memcpy (carol.own_secret, carol_sk, 32);
    snprintf (alice.pending_dir, sizeof (alice.pending_dir), "%s", t->pending);
    bob.pending_dir [0] = carol.pending_dir [0] = 0;
    client_xfer_fake_knob (t->service, "STALL", "200000");
    short_xfer = client_xfer_new ("127.0.0.1", t->port, zcert_public_txt (t->service_cert),
                                  t->cert, 300, why, sizeof (why));
    assert (client_xfer_put (short_xfer, "@bob", "secret.bin", t->src, &alice, &file) == PC_EXIT_UNREACHABLE);
    client_xfer_destroy (&short_xfer);
    zdir_t *kept = zdir_new (t->pending, NULL);
    assert (kept && zdir_count (kept) == 1);    //  key and header wait for the retry
    zdir_destroy (&kept);
    client_xfer_fake_knob (t->service, "RESUME", "");
    t->note [0] = 0;
    assert (client_xfer_put (t->xfer, "@bob", "secret.bin", t->src, &alice, &file) == 0);
    assert (streq (t->note, "resuming at 262144 bytes"));
    assert (file.size == client_seal_cipher_size (t->size));
    kept = zdir_new (t->pending, NULL);
    assert (!kept || zdir_count (kept) == 0);   //  gone once FDONE succeeded
    zdir_destroy (&kept);
    unlink (t->dest);
    assert (client_xfer_get (t->xfer, "@bob", "secret.bin", t->dest, false, &bob, &file) == 0);
    assert (s_test_same (t->dest, t->data, t->size) && file.size == t->size);
    unlink (t->dest);
    assert (client_xfer_get (t->xfer, "@bob", "secret.bin", t->dest, false, &alice, &file) == 0);
    assert (s_test_same (t->dest, t->data, t->size));
    unlink (t->dest);
    assert (client_xfer_get (t->xfer, "@bob", "secret.bin", t->dest, false, &carol, &file) == PC_EXIT_REFUSED);
    assert (strstr (client_xfer_error (t->xfer), "not sealed for this device"));
    assert (access (t->dest, F_OK) == -1 && access (t->part, F_OK) == -1);
    client_xfer_fake_knob (t->service, "CORRUPT", "secret.bin");
    assert (client_xfer_get (t->xfer, "@bob", "secret.bin", t->dest, false, &bob, &file) == PC_EXIT_UNREACHABLE);
    assert (strstr (client_xfer_error (t->xfer), "refused"));
    assert (access (t->dest, F_OK) == -1 && access (t->part, F_OK) == -1);

}

static void
s_test_rm (xfer_test_t *t)
{
    client_xfer_file_t file;
    client_xfer_file_t *files = NULL;
    size_t count = 0;
    //  rm; a t->stop from the tick interrupts
    assert (client_xfer_rm (t->xfer, "lobby", "a.bin") == 0);
    assert (client_xfer_rm (t->xfer, "lobby", "a.bin") == PC_EXIT_REFUSED);
    assert (client_xfer_list (t->xfer, "lobby", &files, &count) == 0);
    assert (count == 1 && streq (files [0].name, "b.bin"));
    free (files);
    t->stop = 1;
    assert (client_xfer_put (t->xfer, "lobby", "c.bin", t->src, NULL, &file) == CLIENT_INTERRUPTED);
    t->stop = 0;
    //  Not a regular file, not there
    assert (client_xfer_put (t->xfer, "lobby", "d", t->dir, NULL, &file) == PC_EXIT_USAGE);
    assert (client_xfer_put (t->xfer, "lobby", "d", t->part, NULL, &file) == PC_EXIT_USAGE);

}

void
client_xfer_test (bool verbose)
{
    printf (" * client_xfer: ");
    assert (sodium_init () >= 0);
    s_test_texts ();
    xfer_test_t context, *t = &context;
    memset (t, 0, sizeof (*t));
    t->service_cert = zcert_new ();
    t->service = zactor_new (client_xfer_fake_actor, t->service_cert);
    char *port_txt = zstr_recv (t->service);
    t->port = atoi (port_txt);
    zstr_free (&port_txt);
    t->cert = zcert_new ();
    char why [256] = "";
    assert (!client_xfer_new ("127.0.0.1", 0, zcert_public_txt (t->service_cert), t->cert, 1000,
                              why, sizeof (why)));
    assert (*why);
    t->xfer = client_xfer_new ("127.0.0.1", t->port, zcert_public_txt (t->service_cert),
                               t->cert, 5000, why, sizeof (why));
    assert (t->xfer);
    client_xfer_set_note (t->xfer, s_test_note, t->note);
    client_xfer_set_tick (t->xfer, s_test_stop, &t->stop);
    snprintf (t->dir, sizeof (t->dir), "/tmp/client_xfer_test.XXXXXX");
    assert (mkdtemp (t->dir));
    snprintf (t->src, sizeof (t->src), "%s/src.bin", t->dir);
    snprintf (t->dest, sizeof (t->dest), "%s/dest.bin", t->dir);
    snprintf (t->part, sizeof (t->part), "%s/dest.bin.part", t->dir);
    snprintf (t->pending, sizeof (t->pending), "%s/pending", t->dir);
    t->size = 1024 * 1024 + 123;                //  4 whole chunks of 256 KiB and a bit
    t->data = (uint8_t *) malloc (t->size);
    randombytes_buf (t->data, t->size);
    s_test_write (t->src, t->data, t->size);

    s_test_put_get (t);
    s_test_resume (t);
    s_test_corrupt_and_stall (t);
    s_test_private (t);
    s_test_rm (t);

    client_xfer_destroy (&t->xfer);
    zactor_destroy (&t->service);
    zcert_destroy (&t->cert);
    zcert_destroy (&t->service_cert);
    unlink (t->src);
    unlink (t->dest);
    zsys_dir_delete (t->pending);
    rmdir (t->dir);
    free (t->data);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

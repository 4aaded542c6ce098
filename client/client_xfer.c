//  client_xfer.c: FLIST, FPUT/FDATA/FDONE, FOPEN/FREAD, FRM with credit.
#include "client_xfer.h"
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

#define SLICE_MS            100         //  longest wait between two ticks
#define PROGRESS_MS         100         //  at most ten progress calls a second
#define DONE_TIMEOUT_MS     120000      //  FDONE: the service hashes and fsyncs it all
#define RESYNC_MAX          5           //  409s in a row before an upload gives up
#define HASH_BUFFER         (256 * 1024)
#define LIST_PAGE           204         //  files in a full FLIST reply
#define DONE_TRIES          5           //  FDONE 503 (storage down): the upload is kept
#define DONE_PAUSE_MS       1000

struct _client_xfer_t {
    char        endpoint [300];
    client_net_t *net;                  //  the DEALER to the file service
    int         timeout_ms;
    char        error [512];
    bool        damaged;                //  the failure was a check: discard the download
    client_xfer_progress_fn *progress;
    void       *progress_arg;
    int64_t     progress_at;
    client_xfer_note_fn *note;
    void       *note_arg;
    client_xfer_tick_fn *tick;
    void       *tick_arg;
};

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

static int
s_fail (client_xfer_t *self, int code, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (client_xfer_t *self, int code, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof (self->error), format, args);
    va_end (args);
    return code;
}

//  A download that failed a check: it is refused and never kept.
static int
s_damaged (client_xfer_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static int
s_damaged (client_xfer_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof (self->error), format, args);
    va_end (args);
    self->damaged = true;
    return PC_EXIT_UNREACHABLE;
}

//  An ERROR reply as one line ("WHAT refused: REASON"); its exit code.
static int
s_refused (client_xfer_t *self, const char *what, pc_msg_t *reply)
{
    int code = pc_msg_error_code (reply);
    char reason [256];
    client_conn_sanitize (pc_msg_error_reason (reply), reason, sizeof (reason));
    if (!*reason)
        snprintf (reason, sizeof (reason), "%s", pc_error_name (code));
    int exit_code = pc_error_exit (code);
    if (exit_code == PC_EXIT_REFUSED)
        return s_fail (self, exit_code, "%s refused: %s", what, reason);
    if (exit_code == PC_EXIT_REJECTED)
        return s_fail (self, exit_code, "%s rejected: %s", what, reason);
    return s_fail (self, exit_code, "%s failed: file service error %d: %s", what, code, reason);
}

static void
s_progress (client_xfer_t *self, client_xfer_phase_t phase, uint64_t done, uint64_t total, bool force)
{
    if (!self->progress)
        return;
    int64_t now = zclock_mono ();
    if (!force && now - self->progress_at < PROGRESS_MS)
        return;
    self->progress_at = now;
    self->progress (self->progress_arg, phase, done, total);
}

static void
s_note (client_xfer_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_note (client_xfer_t *self, const char *format, ...)
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
static bool
s_stopped (client_xfer_t *self)
{
    if (client_conn_interrupted ())
        return true;
    return self->tick && self->tick (self->tick_arg) != 0;
}

//  --------------------------------------------------------------------------
//  Requests

//  Sends request under a fresh request id (copied into reqid, 32 bytes).
//  0, or an exit code with the error set.
static int
s_send (client_xfer_t *self, pc_msg_t *request, char *reqid)
{
    if (client_net_send (self->net, request, reqid) == -1)
        return s_fail (self, PC_EXIT_UNREACHABLE, "the file service at %s does not take "
                       "requests (is it running?)", self->endpoint);
    return 0;
}

//  Waits up to timeout_ms for the next reply (any request id) into reply,
//  ticking every SLICE_MS. 0, PC_EXIT_UNREACHABLE (error set) or
//  CLIENT_INTERRUPTED. A reply that does not decode is an error: the
//  service is ours to trust for framing, not for content.
static int
s_wait (client_xfer_t *self, int timeout_ms, pc_msg_t *reply)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        if (s_stopped (self))
            return s_fail (self, CLIENT_INTERRUPTED, "interrupted");
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return s_fail (self, PC_EXIT_UNREACHABLE, "no reply from the file service at %s "
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
            return s_fail (self, PC_EXIT_UNREACHABLE, "malformed reply from the file service: %s", why);
        }
        return 0;
    }
}

//  One request, one reply (OK, ERROR, or FCHUNK). Replies to other request
//  ids (left over from an abandoned window) are dropped.
static int
s_call (client_xfer_t *self, pc_msg_t *request, int timeout_ms, pc_msg_t **reply_p)
{
    *reply_p = NULL;
    char reqid [32];
    int rc = s_send (self, request, reqid);
    if (rc)
        return rc;
    pc_msg_t *reply = pc_msg_new (NULL);
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        rc = s_wait (self, (int) (left > 0? left: 0), reply);
        if (rc)
            break;
        if (streq (pc_msg_reqid (reply), reqid)) {
            *reply_p = reply;
            return 0;
        }
    }
    if (rc == PC_EXIT_UNREACHABLE)
        s_fail (self, rc, "no reply from the file service at %s within %g s (is it running?)",
                self->endpoint, timeout_ms / 1000.0);
    pc_msg_destroy (&reply);
    return rc;
}

//  --------------------------------------------------------------------------
//  Reading what the service says

static bool
s_uint (const char *text, uint64_t *value)
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

static bool
s_sha_hex (const char *text)
{
    return text && strlen (text) == 64 && strspn (text, "0123456789abcdef") == 64;
}

//  Fills file from five fields: name, size, from, time, SHA-256. false when
//  any is not what PROTOCOL.md says (the entry is then not shown).
static bool
s_file_fields (pc_msg_t *reply, size_t first, client_xfer_file_t *file)
{
    const char *name = pc_msg_field (reply, first);
    const char *from = pc_msg_field (reply, first + 2);
    const char *time_txt = pc_msg_field (reply, first + 3);
    const char *sha = pc_msg_field (reply, first + 4);
    uint64_t time_ms = 0;
    if (!name || pc_file_name_check (name, strlen (name), NULL) == -1
    ||  !s_uint (pc_msg_field (reply, first + 1), &file->size)
    ||  !pc_name_valid (from) || !s_uint (time_txt, &time_ms) || !s_sha_hex (sha))
        return false;
    snprintf (file->name, sizeof (file->name), "%s", name);
    snprintf (file->from, sizeof (file->from), "%s", from);
    file->time = (int64_t) time_ms;
    snprintf (file->sha256, sizeof (file->sha256), "%s", sha);
    return true;
}

static void
s_hex (const uint8_t *sha, char *hex)
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
        rc = s_call (self, request, self->timeout_ms, &reply);
        pc_msg_destroy (&request);
        if (rc)
            break;
        if (pc_msg_is (reply, "ERROR"))
            rc = s_refused (self, "files", reply);
        else
        if (!pc_msg_is (reply, "OK") || pc_msg_nfields (reply) % 5)
            rc = s_fail (self, PC_EXIT_UNREACHABLE, "malformed FLIST reply from the file service");
        size_t page = rc? 0: pc_msg_nfields (reply) / 5;
        bool advanced = false;
        for (size_t i = 0; i < page; i++) {
            if (count == cap) {
                cap = cap? cap * 2: LIST_PAGE;
                files = (client_xfer_file_t *) realloc (files, cap * sizeof (client_xfer_file_t));
                assert (files);
            }
            if (s_file_fields (reply, i * 5, &files [count])) {
                advanced |= strcmp (files [count].name, after) > 0;
                count++;
            }
        }
        //  Resume after the last name the service sent (even one not shown)
        const char *last = page? pc_msg_field (reply, (page - 1) * 5): NULL;
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
    int rc = s_call (self, request, self->timeout_ms, &reply);
    pc_msg_destroy (&request);
    if (rc == 0 && !pc_msg_is (reply, "OK")) {
        char what [300];
        snprintf (what, sizeof (what), "rm %s", name);
        rc = pc_msg_is (reply, "ERROR")? s_refused (self, what, reply):
             s_fail (self, PC_EXIT_UNREACHABLE, "malformed FRM reply from the file service");
    }
    pc_msg_destroy (&reply);
    return rc;
}

//  --------------------------------------------------------------------------
//  Uploads

//  Where the upload's bytes come from: the file as it is, or its sealed
//  stream (which can only be read from the start: seeking re-encrypts).
typedef struct {
    int            fd;
    const char    *path;
    client_seal_t *seal;
    client_seal_info_t *info;           //  NULL for a room file
} source_t;

//  Positions src at offset of the bytes uploaded. 0 or an exit code.
static int
s_source_seek (client_xfer_t *self, source_t *src, uint64_t offset)
{
    if (lseek (src->fd, src->info? 0: (off_t) offset, SEEK_SET) == (off_t) -1)
        return s_fail (self, PC_EXIT_USAGE, "cannot read %s: %s", src->path, strerror (errno));
    if (!src->info)
        return 0;
    client_seal_destroy (&src->seal);
    src->seal = client_seal_new_push (src->info, src->fd);
    if (offset && client_seal_skip (src->seal, offset) == -1)
        return s_fail (self, PC_EXIT_USAGE, "%s: %s", src->path, client_seal_why (src->seal));
    return 0;
}

//  Reads exactly size bytes of the upload. 0 or an exit code.
static int
s_source_read (client_xfer_t *self, source_t *src, uint8_t *buffer, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = src->seal? client_seal_read (src->seal, buffer + done, size - done)
                             : read (src->fd, buffer + done, size - done);
        if (n == -1 && !src->seal && errno == EINTR)
            continue;
        if (n == -1 && src->seal)
            return s_fail (self, PC_EXIT_USAGE, "%s: %s", src->path, client_seal_why (src->seal));
        if (n == -1)
            return s_fail (self, PC_EXIT_USAGE, "cannot read %s: %s", src->path, strerror (errno));
        if (n == 0)
            return s_fail (self, PC_EXIT_USAGE, "%s changed while it was uploaded (it got "
                           "shorter): upload it again", src->path);
        done += (size_t) n;
    }
    return 0;
}

//  SHA-256 and size of the upload's bytes, reading them once. For a
//  private file the plaintext's SHA-256 goes to info->plain_sha too.
static int
s_source_hash (client_xfer_t *self, source_t *src, uint64_t size, char *sha_hex)
{
    int rc = s_source_seek (self, src, 0);
    if (rc)
        return rc;
    uint8_t *buffer = (uint8_t *) malloc (HASH_BUFFER);
    assert (buffer);
    crypto_hash_sha256_state hash;
    crypto_hash_sha256_init (&hash);
    uint64_t done = 0;
    while (rc == 0 && done < size) {
        size_t want = size - done < HASH_BUFFER? (size_t) (size - done): HASH_BUFFER;
        rc = s_source_read (self, src, buffer, want);
        if (rc == 0) {
            crypto_hash_sha256_update (&hash, buffer, want);
            done += want;
            s_progress (self, CLIENT_XFER_HASH, done, size, false);
            if (s_stopped (self))
                rc = s_fail (self, CLIENT_INTERRUPTED, "interrupted");
        }
    }
    if (rc == 0 && !src->seal) {
        //  The whole file was read: one byte more means it grew meanwhile.
        uint8_t probe;
        ssize_t n;
        do
            n = read (src->fd, &probe, 1);
        while (n == -1 && errno == EINTR);
        if (n > 0)
            rc = s_fail (self, PC_EXIT_USAGE, "%s changed while it was read (it got longer): "
                         "upload it once it is complete", src->path);
    }
    if (rc == 0 && src->seal) {
        uint8_t probe;
        if (client_seal_read (src->seal, &probe, 1) != 0)
            rc = s_fail (self, PC_EXIT_USAGE, "%s changed while it was read", src->path);
        else
            client_seal_plain_sha (src->seal, src->info->plain_sha);
    }
    free (buffer);
    if (rc == 0) {
        uint8_t sha [32];
        crypto_hash_sha256_final (&hash, sha);
        s_hex (sha, sha_hex);
        s_progress (self, CLIENT_XFER_HASH, size, size, true);
    }
    return rc;
}

//  A pending private upload: PENDING_DIR/HEX, HEX = SHA-256 of "space\n
//  name". It keeps what makes the sealed stream repeatable (key, header)
//  and what FPUT sent (meta, sizes, SHA-256s) until FDONE succeeds.
static void
s_pending_path (const client_xfer_keys_t *keys, const char *space, const char *name, char *path)
{
    crypto_hash_sha256_state hash;
    crypto_hash_sha256_init (&hash);
    crypto_hash_sha256_update (&hash, (const uint8_t *) space, strlen (space));
    crypto_hash_sha256_update (&hash, (const uint8_t *) "\n", 1);
    crypto_hash_sha256_update (&hash, (const uint8_t *) name, strlen (name));
    uint8_t sha [32];
    crypto_hash_sha256_final (&hash, sha);
    char hex [65];
    s_hex (sha, hex);
    snprintf (path, PATH_MAX, "%s/%s", keys->pending_dir, hex);
}

typedef struct {
    char     key [2 * CLIENT_SEAL_KEY + 1];
    char     header [2 * CLIENT_SEAL_HEADER + 1];
    char     plain_sha [65];
    uint64_t plain_size;
    char     sha [65];
    uint64_t size;
    char     meta [512];
} pending_t;

static bool
s_pending_load (const char *path, pending_t *pending)
{
    memset (pending, 0, sizeof (*pending));
    FILE *file = fopen (path, "r");
    if (!file)
        return false;
    char line [700];
    int fields = 0;
    while (fgets (line, sizeof (line), file)) {
        line [strcspn (line, "\n")] = 0;
        char *value = strchr (line, ' ');
        if (!value)
            continue;
        *value++ = 0;
        if (streq (line, "key") && strlen (value) == 2 * CLIENT_SEAL_KEY)
            fields |= 1, snprintf (pending->key, sizeof (pending->key), "%s", value);
        else
        if (streq (line, "header") && strlen (value) == 2 * CLIENT_SEAL_HEADER)
            fields |= 2, snprintf (pending->header, sizeof (pending->header), "%s", value);
        else
        if (streq (line, "plain-size") && s_uint (value, &pending->plain_size))
            fields |= 4;
        else
        if (streq (line, "plain-sha256") && s_sha_hex (value))
            fields |= 8, snprintf (pending->plain_sha, sizeof (pending->plain_sha), "%s", value);
        else
        if (streq (line, "size") && s_uint (value, &pending->size))
            fields |= 16;
        else
        if (streq (line, "sha256") && s_sha_hex (value))
            fields |= 32, snprintf (pending->sha, sizeof (pending->sha), "%s", value);
        else
        if (streq (line, "meta") && strlen (value) < sizeof (pending->meta))
            fields |= 64, snprintf (pending->meta, sizeof (pending->meta), "%s", value);
    }
    sodium_memzero (line, sizeof (line));
    fclose (file);
    return fields == 127;
}

//  The private upload's seal: the pending one when it is for this very
//  plaintext (and its meta still opens with these keys), else fresh.
//  Fills info, meta (caller frees), size and sha_hex of the sealed bytes.
static int
s_private_prepare (client_xfer_t *self, source_t *src, const char *space, const char *name,
                   const client_xfer_keys_t *keys, uint64_t plain_size,
                   client_seal_info_t *info, char **meta_p, uint64_t *size, char *sha_hex)
{
    client_seal_info_fresh (info);
    info->plain_size = plain_size;
    *size = client_seal_cipher_size (plain_size);
    src->info = info;
    int rc = s_source_hash (self, src, *size, sha_hex);
    if (rc)
        return rc;
    char path [PATH_MAX];
    s_pending_path (keys, space, name, path);
    pending_t pending;
    client_seal_info_t opened;
    char plain_hex [65];
    s_hex (info->plain_sha, plain_hex);
    bool resume = s_pending_load (path, &pending)
               && pending.plain_size == plain_size && streq (pending.plain_sha, plain_hex)
               && pending.size == *size
               && client_seal_meta_open (pending.meta, keys->peer_public, keys->own_secret, &opened) == 0
               && opened.plain_size == plain_size
               && sodium_memcmp (opened.plain_sha, info->plain_sha, CLIENT_SEAL_SHA) == 0;
    if (resume) {
        char key_hex [2 * CLIENT_SEAL_KEY + 1], header_hex [2 * CLIENT_SEAL_HEADER + 1];
        sodium_bin2hex (key_hex, sizeof (key_hex), opened.key, CLIENT_SEAL_KEY);
        sodium_bin2hex (header_hex, sizeof (header_hex), opened.header, CLIENT_SEAL_HEADER);
        resume = streq (key_hex, pending.key) && streq (header_hex, pending.header);
        sodium_memzero (key_hex, sizeof (key_hex));
    }
    if (resume) {
        *info = opened;
        snprintf (sha_hex, 65, "%s", pending.sha);
        *meta_p = strdup (pending.meta);
    }
    else {
        *meta_p = client_seal_meta (info, keys->peer_public, keys->own_secret);
        if (!*meta_p)
            rc = s_fail (self, PC_EXIT_REFUSED, "cannot seal for the recipient: their key is not usable");
        else {
            char key_hex [2 * CLIENT_SEAL_KEY + 1], header_hex [2 * CLIENT_SEAL_HEADER + 1];
            sodium_bin2hex (key_hex, sizeof (key_hex), info->key, CLIENT_SEAL_KEY);
            sodium_bin2hex (header_hex, sizeof (header_hex), info->header, CLIENT_SEAL_HEADER);
            char *text = zsys_sprintf ("key %s\nheader %s\nplain-size %" PRIu64 "\nplain-sha256 %s\n"
                                       "size %" PRIu64 "\nsha256 %s\nmeta %s\n", key_hex, header_hex,
                                       plain_size, plain_hex, *size, sha_hex, *meta_p);
            if (client_state_write_atomic (path, text, 0600) == -1)
                rc = s_fail (self, PC_EXIT_USAGE, "cannot keep the upload's key in %s: %s",
                             keys->pending_dir, strerror (errno));
            sodium_memzero (text, strlen (text));
            free (text);
            sodium_memzero (key_hex, sizeof (key_hex));
        }
    }
    sodium_memzero (&opened, sizeof (opened));
    sodium_memzero (&pending, sizeof (pending));
    return rc;
}

typedef struct {
    char     reqid [32];
    uint64_t end;                       //  the service's offset once it took this chunk
} inflight_t;

//  FDATA from offset to the end, PC_CREDIT chunks in flight. 0 or an exit code.
static int
s_send_chunks (client_xfer_t *self, source_t *src, const char *upload, uint64_t offset,
               uint64_t size, size_t chunk)
{
    uint8_t *buffer = (uint8_t *) malloc (chunk);
    assert (buffer);
    inflight_t window [PC_CREDIT];
    size_t head = 0, count = 0;         //  a ring: oldest at head
    uint64_t next = offset, acked = offset;
    int resyncs = 0;
    bool resyncing = false;             //  a 409 came: drain, then restart where the service is
    uint64_t service_at = offset;       //  what the last reply said the service holds
    pc_msg_t *reply = pc_msg_new (NULL);
    int rc = s_source_seek (self, src, offset);
    while (rc == 0 && (acked < size || count)) {
        while (!resyncing && count < PC_CREDIT && next < size) {
            size_t take = size - next < chunk? (size_t) (size - next): chunk;
            rc = s_source_read (self, src, buffer, take);
            if (rc)
                break;
            pc_msg_t *request = pc_msg_new ("FDATA");
            pc_msg_add (request, upload);
            pc_msg_addf (request, "%" PRIu64, next);
            pc_msg_add_mem (request, buffer, take);
            inflight_t *slot = &window [(head + count) % PC_CREDIT];
            rc = s_send (self, request, slot->reqid);
            pc_msg_destroy (&request);
            if (rc)
                break;
            next += take;
            slot->end = next;
            count++;
        }
        if (rc || count == 0)
            break;
        rc = s_wait (self, self->timeout_ms, reply);
        if (rc)
            break;
        size_t index = 0;
        while (index < count && !streq (window [(head + index) % PC_CREDIT].reqid, pc_msg_reqid (reply)))
            index++;
        if (index == count)
            continue;                   //  a reply to an abandoned request
        //  Replies come in order on one connection: everything before it
        //  was answered already, or never will be.
        uint64_t end = window [(head + index) % PC_CREDIT].end;
        head = (head + index + 1) % PC_CREDIT;
        count -= index + 1;
        uint64_t reported = 0;
        if (pc_msg_is (reply, "OK")) {
            if (!s_uint (pc_msg_field (reply, 0), &reported) || reported != end) {
                rc = s_fail (self, PC_EXIT_UNREACHABLE, "the file service acknowledged the wrong "
                             "offset (expected %" PRIu64 ")", end);
                break;
            }
            service_at = acked = end;
            s_progress (self, CLIENT_XFER_SEND, acked, size, false);
        }
        else
        if (pc_msg_error_code (reply) == PC_ERR_CONFLICT && s_uint (pc_msg_field (reply, 2), &reported)
        &&  reported <= size && resyncs < RESYNC_MAX) {
            resyncing = true;
            service_at = reported;
        }
        else {
            rc = pc_msg_is (reply, "ERROR")? s_refused (self, "upload", reply):
                 s_fail (self, PC_EXIT_UNREACHABLE, "malformed FDATA reply from the file service");
            break;
        }
        if (resyncing && count == 0) {
            //  Every request of the window is answered: the service stands
            //  at service_at, continue from there.
            resyncs++;
            resyncing = false;
            next = acked = service_at;
            rc = s_source_seek (self, src, next);
        }
    }
    pc_msg_destroy (&reply);
    free (buffer);
    if (rc == 0)
        s_progress (self, CLIENT_XFER_SEND, size, size, true);
    return rc;
}

int
client_xfer_put (client_xfer_t *self, const char *space, const char *name, const char *path,
                 const client_xfer_keys_t *keys, client_xfer_file_t *result)
{
    assert (self && space && name && path && result);
    memset (result, 0, sizeof (*result));
    self->error [0] = 0;
    bool private_ = client_xfer_private (space);
    assert (!private_ || keys);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd == -1 || fstat (fd, &st) == -1) {
        int rc = s_fail (self, PC_EXIT_USAGE, "cannot read %s: %s", path, strerror (errno));
        if (fd != -1)
            close (fd);
        return rc;
    }
    if (!S_ISREG (st.st_mode)) {
        close (fd);
        return s_fail (self, PC_EXIT_USAGE, "%s is not a regular file", path);
    }
    source_t src = { fd, path, NULL, NULL };
    client_seal_info_t info;
    memset (&info, 0, sizeof (info));
    char *meta = NULL;
    char sha [65] = "";
    uint64_t size = (uint64_t) st.st_size;
    int rc;
    if (private_)
        rc = s_private_prepare (self, &src, space, name, keys, (uint64_t) st.st_size,
                                &info, &meta, &size, sha);
    else
        rc = s_source_hash (self, &src, size, sha);

    pc_msg_t *reply = NULL;
    if (rc == 0) {
        pc_msg_t *request = pc_msg_new ("FPUT");
        pc_msg_add (request, space);
        pc_msg_add (request, name);
        pc_msg_addf (request, "%" PRIu64, size);
        pc_msg_add (request, sha);
        pc_msg_add (request, meta? meta: "");
        rc = s_call (self, request, self->timeout_ms, &reply);
        pc_msg_destroy (&request);
    }
    char upload [PC_ID_MAX + 1] = "";
    uint64_t offset = 0, chunk = 0;
    if (rc == 0) {
        if (pc_msg_is (reply, "ERROR")) {
            char what [300];
            snprintf (what, sizeof (what), "put %s", name);
            rc = s_refused (self, what, reply);
        }
        else
        if (!pc_msg_is (reply, "OK") || !pc_msg_field (reply, 0)
        ||  !s_uint (pc_msg_field (reply, 1), &offset) || !s_uint (pc_msg_field (reply, 2), &chunk)
        ||  offset > size || chunk < 1 || chunk > PC_CHUNK_MAX)
            rc = s_fail (self, PC_EXIT_UNREACHABLE, "malformed FPUT reply from the file service");
        else
            snprintf (upload, sizeof (upload), "%s", pc_msg_field (reply, 0));
        pc_msg_destroy (&reply);
    }
    if (rc == 0 && offset > 0)
        s_note (self, "resuming at %" PRIu64 " bytes", offset);
    if (rc == 0)
        rc = s_send_chunks (self, &src, upload, offset, size, (size_t) chunk);
    for (int tries = 0; rc == 0; tries++) {
        pc_msg_t *request = pc_msg_new ("FDONE");
        pc_msg_add (request, upload);
        int timeout = self->timeout_ms > DONE_TIMEOUT_MS? self->timeout_ms: DONE_TIMEOUT_MS;
        rc = s_call (self, request, timeout, &reply);
        pc_msg_destroy (&request);
        if (rc || pc_msg_error_code (reply) != PC_ERR_UNAVAILABLE || tries + 1 == DONE_TRIES)
            break;
        //  The service's storage is down, the upload kept: ask again
        pc_msg_destroy (&reply);
        for (int64_t until = zclock_mono () + DONE_PAUSE_MS; rc == 0 && zclock_mono () < until;) {
            zclock_sleep (SLICE_MS);
            if (s_stopped (self))
                rc = s_fail (self, CLIENT_INTERRUPTED, "interrupted");
        }
    }
    if (rc == 0) {
        if (pc_msg_is (reply, "ERROR")) {
            char what [300];
            snprintf (what, sizeof (what), "put %s", name);
            rc = s_refused (self, what, reply);
        }
        else
        if (!pc_msg_is (reply, "OK"))
            rc = s_fail (self, PC_EXIT_UNREACHABLE, "malformed FDONE reply from the file service");
        pc_msg_destroy (&reply);
    }
    if (rc == 0) {
        snprintf (result->name, sizeof (result->name), "%s", name);
        result->size = size;
        result->time = pc_now_ms ();
        snprintf (result->sha256, sizeof (result->sha256), "%s", sha);
        if (private_) {
            char pending [PATH_MAX];
            s_pending_path (keys, space, name, pending);
            unlink (pending);
        }
    }
    client_seal_destroy (&src.seal);
    client_seal_info_clear (&info);
    free (meta);
    close (fd);
    return rc;
}

//  --------------------------------------------------------------------------
//  Downloads

static int
s_write_all (int fd, const uint8_t *data, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = write (fd, data + done, size - done);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ENOSPC;
            return -1;
        }
        done += (size_t) n;
    }
    return 0;
}

typedef struct {
    char     reqid [32];
    uint64_t offset;
    size_t   length;
} request_t;

//  FREAD from offset to size, PC_CREDIT in flight, each chunk handed to
//  sink (room: written and hashed; private: opened). 0 or an exit code.
typedef int (sink_fn) (void *arg, const uint8_t *data, size_t size);

static int
s_read_chunks (client_xfer_t *self, const char *handle, uint64_t offset, uint64_t size,
               sink_fn *sink, void *sink_arg, const char *name)
{
    request_t window [PC_CREDIT];
    size_t head = 0, count = 0;
    uint64_t next = offset, received = offset;
    pc_msg_t *reply = pc_msg_new (NULL);
    int rc = 0;
    while (rc == 0 && received < size) {
        while (count < PC_CREDIT && next < size) {
            request_t *slot = &window [(head + count) % PC_CREDIT];
            slot->offset = next;
            slot->length = size - next < PC_CHUNK_MAX? (size_t) (size - next): PC_CHUNK_MAX;
            pc_msg_t *request = pc_msg_new ("FREAD");
            pc_msg_add (request, handle);
            pc_msg_addf (request, "%" PRIu64, slot->offset);
            pc_msg_addf (request, "%zu", slot->length);
            rc = s_send (self, request, slot->reqid);
            pc_msg_destroy (&request);
            if (rc)
                break;
            next += slot->length;
            count++;
        }
        if (rc)
            break;
        rc = s_wait (self, self->timeout_ms, reply);
        if (rc)
            break;
        request_t *oldest = &window [head];
        if (!streq (oldest->reqid, pc_msg_reqid (reply)))
            continue;                   //  not ours (an earlier attempt's)
        uint64_t at = 0;
        if (pc_msg_is (reply, "ERROR")) {
            char what [300];
            snprintf (what, sizeof (what), "get %s", name);
            rc = s_refused (self, what, reply);
            break;
        }
        if (!pc_msg_is (reply, "FCHUNK") || !s_uint (pc_msg_field (reply, 0), &at)
        ||  at != oldest->offset) {
            rc = s_fail (self, PC_EXIT_UNREACHABLE, "malformed FREAD reply from the file service");
            break;
        }
        size_t got = pc_msg_field_size (reply, 1);
        if (got != oldest->length) {
            rc = s_damaged (self, "%s: the file service sent %zu bytes at offset %" PRIu64
                            " instead of %zu: the file is damaged, download refused",
                            name, got, at, oldest->length);
            break;
        }
        rc = sink (sink_arg, (const uint8_t *) pc_msg_field (reply, 1), got);
        if (rc)
            break;
        received += got;
        head = (head + 1) % PC_CREDIT;
        count--;
        s_progress (self, CLIENT_XFER_RECV, received, size, false);
    }
    pc_msg_destroy (&reply);
    if (rc == 0)
        s_progress (self, CLIENT_XFER_RECV, size, size, true);
    return rc;
}

typedef struct {
    client_xfer_t *xfer;
    int            fd;
    const char    *part;
    crypto_hash_sha256_state hash;      //  of the bytes stored (the sealed ones when private)
    client_seal_t *seal;                //  private: opens them into fd
} sink_t;

static int
s_sink (void *arg, const uint8_t *data, size_t size)
{
    sink_t *self = (sink_t *) arg;
    crypto_hash_sha256_update (&self->hash, data, size);
    if (self->seal) {
        if (client_seal_write (self->seal, data, size) == 0)
            return 0;
        if (strncmp (client_seal_why (self->seal), "cannot write", 12) == 0)
            return s_fail (self->xfer, PC_EXIT_USAGE, "%s: %s", self->part, client_seal_why (self->seal));
        return s_damaged (self->xfer, "%s: download refused", client_seal_why (self->seal));
    }
    if (s_write_all (self->fd, data, size) == -1)
        return s_fail (self->xfer, PC_EXIT_USAGE, "cannot write %s: %s", self->part, strerror (errno));
    return 0;
}

//  Hashes the first size bytes of fd (a partial download being resumed).
static int
s_hash_prefix (client_xfer_t *self, sink_t *sink, uint64_t size)
{
    uint8_t *buffer = (uint8_t *) malloc (HASH_BUFFER);
    assert (buffer);
    int rc = 0;
    uint64_t done = 0;
    while (done < size) {
        size_t want = size - done < HASH_BUFFER? (size_t) (size - done): HASH_BUFFER;
        ssize_t n = pread (sink->fd, buffer, want, (off_t) done);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = s_fail (self, PC_EXIT_USAGE, "cannot read %s: %s", sink->part,
                         n == 0? "it got shorter": strerror (errno));
            break;
        }
        crypto_hash_sha256_update (&sink->hash, buffer, (size_t) n);
        done += (uint64_t) n;
        s_progress (self, CLIENT_XFER_HASH, done, size, false);
        if (s_stopped (self)) {
            rc = s_fail (self, CLIENT_INTERRUPTED, "interrupted");
            break;
        }
    }
    free (buffer);
    return rc;
}

//  FOPEN: fills file and meta (caller frees) and the handle. 0 or exit code.
static int
s_open_remote (client_xfer_t *self, const char *space, const char *name, char *handle,
               client_xfer_file_t *file, char **meta_p)
{
    pc_msg_t *request = pc_msg_new ("FOPEN");
    pc_msg_add (request, space);
    pc_msg_add (request, name);
    pc_msg_t *reply = NULL;
    int rc = s_call (self, request, self->timeout_ms, &reply);
    pc_msg_destroy (&request);
    if (rc)
        return rc;
    uint64_t time_ms = 0;
    const char *sha = pc_msg_field (reply, 2);
    if (pc_msg_is (reply, "ERROR")) {
        char what [300];
        snprintf (what, sizeof (what), "get %s", name);
        rc = s_refused (self, what, reply);
    }
    else
    if (!pc_msg_is (reply, "OK") || pc_msg_nfields (reply) < 6
    ||  strlen (pc_msg_field (reply, 0)) > PC_ID_MAX || !*pc_msg_field (reply, 0)
    ||  !s_uint (pc_msg_field (reply, 1), &file->size) || !s_sha_hex (sha)
    ||  !pc_name_valid (pc_msg_field (reply, 3)) || !s_uint (pc_msg_field (reply, 4), &time_ms))
        rc = s_fail (self, PC_EXIT_UNREACHABLE, "malformed FOPEN reply from the file service");
    else {
        snprintf (handle, PC_ID_MAX + 1, "%s", pc_msg_field (reply, 0));
        snprintf (file->name, sizeof (file->name), "%s", name);
        snprintf (file->sha256, sizeof (file->sha256), "%s", sha);
        snprintf (file->from, sizeof (file->from), "%s", pc_msg_field (reply, 3));
        file->time = (int64_t) time_ms;
        *meta_p = strdup (pc_msg_field (reply, 5));
    }
    pc_msg_destroy (&reply);
    return rc;
}

//  Moves part to dest: replaces dest only with force (link(2) refuses an
//  existing name atomically). 0 or an exit code.
static int
s_put_in_place (client_xfer_t *self, const char *part, const char *dest, bool force)
{
    if (!force) {
        if (link (part, dest) == 0) {
            unlink (part);
            return 0;
        }
        if (errno == EEXIST)
            return s_fail (self, PC_EXIT_USAGE, "%s exists (use --force to replace it); "
                           "the download is kept in %s", dest, part);
        //  A file system without hard links: rename, having looked first.
        struct stat st;
        if (lstat (dest, &st) == 0)
            return s_fail (self, PC_EXIT_USAGE, "%s exists (use --force to replace it)", dest);
    }
    if (rename (part, dest) == -1)
        return s_fail (self, PC_EXIT_USAGE, "cannot move %s to %s: %s", part, dest, strerror (errno));
    return 0;
}

int
client_xfer_get (client_xfer_t *self, const char *space, const char *name, const char *dest,
                 bool force, const client_xfer_keys_t *keys, client_xfer_file_t *result)
{
    assert (self && space && name && dest && result);
    memset (result, 0, sizeof (*result));
    self->error [0] = 0;
    self->damaged = false;
    bool private_ = client_xfer_private (space);
    assert (!private_ || keys);
    struct stat st;
    if (!force && lstat (dest, &st) == 0)
        return s_fail (self, PC_EXIT_USAGE, "%s exists (use --force to replace it)", dest);
    char part [PATH_MAX];
    if (strlen (dest) + 6 > sizeof (part))
        return s_fail (self, PC_EXIT_USAGE, "%s: the path is too long", dest);
    snprintf (part, sizeof (part), "%s.part", dest);

    char handle [PC_ID_MAX + 1];
    char *meta = NULL;
    int rc = s_open_remote (self, space, name, handle, result, &meta);
    client_seal_info_t info;
    memset (&info, 0, sizeof (info));
    if (rc == 0 && private_) {
        if (client_seal_meta_open (meta, keys->peer_public, keys->own_secret, &info) == -1)
            rc = s_fail (self, PC_EXIT_UNREACHABLE, "%s: its key does not open (not sealed for "
                         "you, tampered with, or a key changed): download refused", name);
        else
        if (client_seal_cipher_size (info.plain_size) != result->size)
            rc = s_fail (self, PC_EXIT_UNREACHABLE, "%s: its size does not match what its sender "
                         "sealed: download refused", name);
    }
    free (meta);
    if (rc) {
        client_seal_info_clear (&info);
        return rc;
    }
    //  A private file's plaintext is the user's alone until it is checked:
    //  0600, and never resumed (its decryption needs every byte before).
    int fd = open (part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (private_? O_TRUNC: 0),
                   private_? 0600: 0666);
    if (fd == -1 || fstat (fd, &st) == -1) {
        rc = s_fail (self, PC_EXIT_USAGE, "cannot write %s: %s", part, strerror (errno));
        if (fd != -1)
            close (fd);
        client_seal_info_clear (&info);
        return rc;
    }
    uint64_t have = private_ || (uint64_t) st.st_size > result->size? 0: (uint64_t) st.st_size;
    uint64_t start = have - have % PC_CHUNK_MAX;
    bool retried = false;
    sink_t sink;
    memset (&sink, 0, sizeof (sink));
    sink.xfer = self;
    sink.fd = fd;
    sink.part = part;
    while (true) {
        crypto_hash_sha256_init (&sink.hash);
        client_seal_destroy (&sink.seal);
        if (ftruncate (fd, (off_t) start) == -1 || lseek (fd, (off_t) start, SEEK_SET) == (off_t) -1) {
            rc = s_fail (self, PC_EXIT_USAGE, "cannot write %s: %s", part, strerror (errno));
            break;
        }
        if (private_)
            sink.seal = client_seal_new_pull (&info, fd);
        if (start > 0) {
            rc = s_hash_prefix (self, &sink, start);
            if (rc)
                break;
            s_note (self, "resuming at %" PRIu64 " bytes", start);
        }
        rc = s_read_chunks (self, handle, start, result->size, s_sink, &sink, name);
        if (rc == 0 && sink.seal && client_seal_finish (sink.seal) == -1)
            rc = s_damaged (self, "%s: %s: download refused", name, client_seal_why (sink.seal));
        if (rc == 0) {
            uint8_t sha [32];
            char hex [65];
            crypto_hash_sha256_final (&sink.hash, sha);
            s_hex (sha, hex);
            if (!streq (hex, result->sha256)) {
                if (start > 0 && !retried) {
                    //  The part kept from an earlier run was of another
                    //  file (removed and shared again): start over, once.
                    s_note (self, "%s did not match the file: downloading it again from 0", part);
                    retried = true;
                    start = 0;
                    continue;
                }
                rc = s_damaged (self, "%s: checksum mismatch, download refused", name);
            }
        }
        break;
    }
    client_seal_destroy (&sink.seal);
    client_seal_info_clear (&info);
    if (rc == 0 && fsync (fd) == -1)
        rc = s_fail (self, PC_EXIT_USAGE, "cannot write %s: %s", part, strerror (errno));
    close (fd);
    //  What failed a check is never kept, nor a private file's partial
    //  plaintext (it cannot resume); a room file merely interrupted is, so
    //  that the next get resumes.
    if (rc && (self->damaged || private_))
        unlink (part);
    if (rc == 0)
        rc = s_put_in_place (self, part, dest, force);
    if (rc == 0 && private_)
        result->size = client_seal_plain_size (result->size);
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
    assert (client_xfer_put (t->xfer, "lobby", "a.bin", t->src, NULL, &file) == PC_EXIT_REFUSED);
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
    assert (client_xfer_get (t->xfer, "@bob", "secret.bin", t->dest, false, &carol, &file) == PC_EXIT_UNREACHABLE);
    assert (strstr (client_xfer_error (t->xfer), "does not open"));
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

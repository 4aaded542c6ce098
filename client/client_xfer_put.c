//  client_xfer_put.c: uploads: hashing (or sealing) the source, FPUT,
//  FDATA with credit, resume where the service stands, FDONE.
#include "client_xfer_core.h"
#include "pc_proto.h"

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
        return xfer_fail (self, PC_EXIT_USAGE, "cannot read %s: %s", src->path, strerror (errno));
    if (!src->info)
        return 0;
    client_seal_destroy (&src->seal);
    src->seal = client_seal_new_push (src->info, src->fd);
    if (offset && client_seal_skip (src->seal, offset) == -1)
        return xfer_fail (self, PC_EXIT_USAGE, "%s: %s", src->path, client_seal_why (src->seal));
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
            return xfer_fail (self, PC_EXIT_USAGE, "%s: %s", src->path, client_seal_why (src->seal));
        if (n == -1)
            return xfer_fail (self, PC_EXIT_USAGE, "cannot read %s: %s", src->path, strerror (errno));
        if (n == 0)
            return xfer_fail (self, PC_EXIT_USAGE, "%s changed while it was uploaded (it got "
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
            xfer_progress (self, CLIENT_XFER_HASH, done, size, false);
            if (xfer_stopped (self))
                rc = xfer_fail (self, CLIENT_INTERRUPTED, "interrupted");
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
            rc = xfer_fail (self, PC_EXIT_USAGE, "%s changed while it was read (it got longer): "
                         "upload it once it is complete", src->path);
    }
    if (rc == 0 && src->seal) {
        uint8_t probe;
        if (client_seal_read (src->seal, &probe, 1) != 0)
            rc = xfer_fail (self, PC_EXIT_USAGE, "%s changed while it was read", src->path);
        else
            client_seal_plain_sha (src->seal, src->info->plain_sha);
    }
    free (buffer);
    if (rc == 0) {
        uint8_t sha [32];
        crypto_hash_sha256_final (&hash, sha);
        xfer_hex (sha, sha_hex);
        xfer_progress (self, CLIENT_XFER_HASH, size, size, true);
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
    xfer_hex (sha, hex);
    snprintf (path, PATH_MAX, "%s/%s", keys->pending_dir, hex);
}

typedef struct {
    char     key [2 * CLIENT_SEAL_KEY + 1];
    char     header [2 * CLIENT_SEAL_HEADER + 1];
    char     plain_sha [65];
    uint64_t plain_size;
    char     sha [65];
    uint64_t size;
    char     meta [8192];              //  sealed for up to 2 x PC_DEVICES_MAX devices
} pending_t;

static bool
s_pending_load (const char *path, pending_t *pending)
{
    memset (pending, 0, sizeof (*pending));
    FILE *file = fopen (path, "r");
    if (!file)
        return false;
    char line [8400];
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
        if (streq (line, "plain-size") && xfer_uint (value, &pending->plain_size))
            fields |= 4;
        else
        if (streq (line, "plain-sha256") && xfer_sha_hex (value))
            fields |= 8, snprintf (pending->plain_sha, sizeof (pending->plain_sha), "%s", value);
        else
        if (streq (line, "size") && xfer_uint (value, &pending->size))
            fields |= 16;
        else
        if (streq (line, "sha256") && xfer_sha_hex (value))
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
    xfer_hex (info->plain_sha, plain_hex);
    bool resume = s_pending_load (path, &pending)
               && pending.plain_size == plain_size && streq (pending.plain_sha, plain_hex)
               && pending.size == *size
               && xfer_meta_open (keys, pending.meta, &opened) == 0
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
        *meta_p = xfer_meta_seal (keys, info);
        if (!*meta_p)
            rc = xfer_fail (self, PC_EXIT_REFUSED, "cannot seal for the recipient: their key is not usable");
        else {
            char key_hex [2 * CLIENT_SEAL_KEY + 1], header_hex [2 * CLIENT_SEAL_HEADER + 1];
            sodium_bin2hex (key_hex, sizeof (key_hex), info->key, CLIENT_SEAL_KEY);
            sodium_bin2hex (header_hex, sizeof (header_hex), info->header, CLIENT_SEAL_HEADER);
            char *text = zsys_sprintf ("key %s\nheader %s\nplain-size %" PRIu64 "\nplain-sha256 %s\n"
                                       "size %" PRIu64 "\nsha256 %s\nmeta %s\n", key_hex, header_hex,
                                       plain_size, plain_hex, *size, sha_hex, *meta_p);
            if (client_state_write_atomic (path, text, 0600) == -1)
                rc = xfer_fail (self, PC_EXIT_USAGE, "cannot keep the upload's key in %s: %s",
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
            rc = xfer_send (self, request, slot->reqid);
            pc_msg_destroy (&request);
            if (rc)
                break;
            next += take;
            slot->end = next;
            count++;
        }
        if (rc || count == 0)
            break;
        rc = xfer_wait (self, self->timeout_ms, reply);
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
            if (!xfer_uint (pc_fdata_ok_offset (reply), &reported) || reported != end) {
                rc = xfer_fail (self, PC_EXIT_UNREACHABLE, "the file service acknowledged the wrong "
                             "offset (expected %" PRIu64 ")", end);
                break;
            }
            service_at = acked = end;
            xfer_progress (self, CLIENT_XFER_SEND, acked, size, false);
        }
        else
        if (pc_msg_error_code (reply) == PC_ERR_CONFLICT && xfer_uint (pc_error_detail (reply), &reported)
        &&  reported <= size && resyncs < RESYNC_MAX) {
            resyncing = true;
            service_at = reported;
        }
        else {
            rc = pc_msg_is (reply, "ERROR")? xfer_refused (self, "upload", reply):
                 xfer_fail (self, PC_EXIT_UNREACHABLE, "malformed FDATA reply from the file service");
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
        xfer_progress (self, CLIENT_XFER_SEND, size, size, true);
    return rc;
}

//  FPUT: where the upload (re)starts. 0 with upload, *offset, *chunk set,
//  or an exit code (error set).
//  The space holds a file of that name: true when it is this very upload
//  (same size and SHA-256 of the bytes stored), as after a put that was
//  interrupted once FDONE had gone out: a rerun then has nothing to do.
static bool
s_already_there (client_xfer_t *self, const char *space, const char *name, uint64_t size,
                 const char *sha)
{
    client_xfer_file_t *files = NULL;
    size_t count = 0;
    bool same = false;
    if (client_xfer_list (self, space, &files, &count) == 0)
        for (size_t i = 0; i < count && !same; i++)
            same = streq (files [i].name, name) && files [i].size == size
                && streq (files [i].sha256, sha);
    free (files);
    self->error [0] = 0;
    return same;
}

//  FPUT: 0 with the upload's id, offset and chunk size; 1 when the space
//  has this very file already; else an exit code (error set).
static int
s_fput (client_xfer_t *self, const char *space, const char *name, uint64_t size,
        const char *sha, const char *meta, char *upload, uint64_t *offset, uint64_t *chunk)
{
    pc_msg_t *request = pc_msg_new ("FPUT");
    pc_msg_add (request, space);
    pc_msg_add (request, name);
    pc_msg_addf (request, "%" PRIu64, size);
    pc_msg_add (request, sha);
    pc_msg_add (request, meta? meta: "");
    pc_msg_t *reply = NULL;
    int rc = xfer_call (self, request, self->timeout_ms, &reply);
    pc_msg_destroy (&request);
    if (rc)
        return rc;
    if (pc_msg_is (reply, "ERROR") && pc_msg_error_code (reply) == PC_ERR_CONFLICT
    &&  s_already_there (self, space, name, size, sha))
        rc = 1;
    else
    if (pc_msg_is (reply, "ERROR")) {
        char what [300];
        snprintf (what, sizeof (what), "put %s", name);
        rc = xfer_refused (self, what, reply);
    }
    else
    if (!pc_msg_is (reply, "OK") || !pc_fput_ok_upload (reply)
    ||  !xfer_uint (pc_fput_ok_offset (reply), offset) || !xfer_uint (pc_fput_ok_chunk (reply), chunk)
    ||  *offset > size || *chunk < 1 || *chunk > PC_CHUNK_MAX)
        rc = xfer_fail (self, PC_EXIT_UNREACHABLE, "malformed FPUT reply from the file service");
    else
        snprintf (upload, PC_ID_MAX + 1, "%s", pc_fput_ok_upload (reply));
    pc_msg_destroy (&reply);
    return rc;
}

//  FDONE, asked again while the service's storage is down (503). 0 or an
//  exit code (error set).
static int
s_fdone (client_xfer_t *self, const char *name, const char *upload)
{
    pc_msg_t *reply = NULL;
    int rc = 0;
    for (int tries = 0; rc == 0; tries++) {
        pc_msg_t *request = pc_msg_new ("FDONE");
        pc_msg_add (request, upload);
        int timeout = self->timeout_ms > DONE_TIMEOUT_MS? self->timeout_ms: DONE_TIMEOUT_MS;
        rc = xfer_call (self, request, timeout, &reply);
        pc_msg_destroy (&request);
        if (rc || pc_msg_error_code (reply) != PC_ERR_UNAVAILABLE || tries + 1 == DONE_TRIES)
            break;
        //  The service's storage is down, the upload kept: ask again
        pc_msg_destroy (&reply);
        for (int64_t until = zclock_mono () + DONE_PAUSE_MS; rc == 0 && zclock_mono () < until;) {
            zclock_sleep (SLICE_MS);
            if (xfer_stopped (self))
                rc = xfer_fail (self, CLIENT_INTERRUPTED, "interrupted");
        }
    }
    if (rc == 0) {
        if (pc_msg_is (reply, "ERROR")) {
            char what [300];
            snprintf (what, sizeof (what), "put %s", name);
            rc = xfer_refused (self, what, reply);
        }
        else
        if (!pc_msg_is (reply, "OK"))
            rc = xfer_fail (self, PC_EXIT_UNREACHABLE, "malformed FDONE reply from the file service");
    }
    pc_msg_destroy (&reply);
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
        int rc = xfer_fail (self, PC_EXIT_USAGE, "cannot read %s: %s", path, strerror (errno));
        if (fd != -1)
            close (fd);
        return rc;
    }
    if (!S_ISREG (st.st_mode)) {
        close (fd);
        return xfer_fail (self, PC_EXIT_USAGE, "%s is not a regular file", path);
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

    char upload [PC_ID_MAX + 1] = "";
    uint64_t offset = 0, chunk = 0;
    if (rc == 0)
        rc = s_fput (self, space, name, size, sha, meta, upload, &offset, &chunk);
    bool there = rc == 1;
    if (there) {
        xfer_note (self, "%s is there already, the same bytes: nothing to send", name);
        rc = 0;
    }
    if (rc == 0 && offset > 0)
        xfer_note (self, "resuming at %" PRIu64 " bytes", offset);
    if (rc == 0 && !there)
        rc = s_send_chunks (self, &src, upload, offset, size, (size_t) chunk);
    if (rc == 0 && !there)
        rc = s_fdone (self, name, upload);
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


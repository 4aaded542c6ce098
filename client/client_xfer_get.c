//  client_xfer_get.c: downloads: FOPEN, FREAD with credit, resume from a
//  .part, checks, private files opened as they arrive.
#include "client_xfer_core.h"
#include "pc_proto.h"

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
            rc = xfer_send (self, request, slot->reqid);
            pc_msg_destroy (&request);
            if (rc)
                break;
            next += slot->length;
            count++;
        }
        if (rc)
            break;
        rc = xfer_wait (self, self->timeout_ms, reply);
        if (rc)
            break;
        request_t *oldest = &window [head];
        if (!streq (oldest->reqid, pc_msg_reqid (reply)))
            continue;                   //  not ours (an earlier attempt's)
        uint64_t at = 0;
        if (pc_msg_is (reply, "ERROR")) {
            char what [300];
            snprintf (what, sizeof (what), "get %s", name);
            rc = xfer_refused (self, what, reply);
            break;
        }
        if (!pc_msg_is (reply, "FCHUNK") || !xfer_uint (pc_fchunk_offset (reply), &at)
        ||  at != oldest->offset) {
            rc = xfer_fail (self, PC_EXIT_UNREACHABLE, "malformed FREAD reply from the file service");
            break;
        }
        size_t got = pc_fchunk_data_size (reply);
        if (got != oldest->length) {
            rc = xfer_damaged (self, "%s: the file service sent %zu bytes at offset %" PRIu64
                            " instead of %zu: the file is damaged, download refused",
                            name, got, at, oldest->length);
            break;
        }
        rc = sink (sink_arg, (const uint8_t *) pc_fchunk_data (reply), got);
        if (rc)
            break;
        received += got;
        head = (head + 1) % PC_CREDIT;
        count--;
        xfer_progress (self, CLIENT_XFER_RECV, received, size, false);
    }
    pc_msg_destroy (&reply);
    if (rc == 0)
        xfer_progress (self, CLIENT_XFER_RECV, size, size, true);
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
            return xfer_fail (self->xfer, PC_EXIT_USAGE, "%s: %s", self->part, client_seal_why (self->seal));
        return xfer_damaged (self->xfer, "%s: download refused", client_seal_why (self->seal));
    }
    if (s_write_all (self->fd, data, size) == -1)
        return xfer_fail (self->xfer, PC_EXIT_USAGE, "cannot write %s: %s", self->part, strerror (errno));
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
            rc = xfer_fail (self, PC_EXIT_USAGE, "cannot read %s: %s", sink->part,
                         n == 0? "it got shorter": strerror (errno));
            break;
        }
        crypto_hash_sha256_update (&sink->hash, buffer, (size_t) n);
        done += (uint64_t) n;
        xfer_progress (self, CLIENT_XFER_HASH, done, size, false);
        if (xfer_stopped (self)) {
            rc = xfer_fail (self, CLIENT_INTERRUPTED, "interrupted");
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
    int rc = xfer_call (self, request, self->timeout_ms, &reply);
    pc_msg_destroy (&request);
    if (rc)
        return rc;
    uint64_t time_ms = 0;
    const char *sha = pc_fopen_ok_sha256 (reply);
    if (pc_msg_is (reply, "ERROR")) {
        char what [300];
        snprintf (what, sizeof (what), "get %s", name);
        rc = xfer_refused (self, what, reply);
    }
    else
    if (!pc_msg_is (reply, "OK") || pc_msg_nfields (reply) < 6
    ||  strlen (pc_fopen_ok_handle (reply)) > PC_ID_MAX || !*pc_fopen_ok_handle (reply)
    ||  !xfer_uint (pc_fopen_ok_size (reply), &file->size) || !xfer_sha_hex (sha)
    ||  !pc_name_valid (pc_fopen_ok_from (reply)) || !xfer_uint (pc_fopen_ok_time (reply), &time_ms))
        rc = xfer_fail (self, PC_EXIT_UNREACHABLE, "malformed FOPEN reply from the file service");
    else {
        snprintf (handle, PC_ID_MAX + 1, "%s", pc_fopen_ok_handle (reply));
        snprintf (file->name, sizeof (file->name), "%s", name);
        snprintf (file->sha256, sizeof (file->sha256), "%s", sha);
        snprintf (file->from, sizeof (file->from), "%s", pc_fopen_ok_from (reply));
        file->time = (int64_t) time_ms;
        *meta_p = strdup (pc_fopen_ok_meta (reply));
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
            return xfer_fail (self, PC_EXIT_USAGE, "%s exists (use --force to replace it); "
                           "the download is kept in %s", dest, part);
        //  A file system without hard links: rename, having looked first.
        struct stat st;
        if (lstat (dest, &st) == 0)
            return xfer_fail (self, PC_EXIT_USAGE, "%s exists (use --force to replace it)", dest);
    }
    if (rename (part, dest) == -1)
        return xfer_fail (self, PC_EXIT_USAGE, "cannot move %s to %s: %s", part, dest, strerror (errno));
    return 0;
}

//  Reads the file into the sink from have (cut to a whole chunk), hashing
//  (and, with info, opening) as it goes, and checks it; a kept part of
//  another file is started over once. 0 or an exit code (error set).
static int
s_download (client_xfer_t *self, sink_t *sink, const char *handle, const char *name,
            client_xfer_file_t *result, client_seal_info_t *info, uint64_t have)
{
    int rc = 0;
    uint64_t start = have - have % PC_CHUNK_MAX;
    bool retried = false;
    while (true) {
        crypto_hash_sha256_init (&sink->hash);
        client_seal_destroy (&sink->seal);
        if (ftruncate (sink->fd, (off_t) start) == -1 || lseek (sink->fd, (off_t) start, SEEK_SET) == (off_t) -1) {
            rc = xfer_fail (self, PC_EXIT_USAGE, "cannot write %s: %s", sink->part, strerror (errno));
            break;
        }
        if (info)
            sink->seal = client_seal_new_pull (info, sink->fd);
        if (start > 0) {
            rc = s_hash_prefix (self, sink, start);
            if (rc)
                break;
            xfer_note (self, "resuming at %" PRIu64 " bytes", start);
        }
        rc = s_read_chunks (self, handle, start, result->size, s_sink, sink, name);
        if (rc == 0 && sink->seal && client_seal_finish (sink->seal) == -1)
            rc = xfer_damaged (self, "%s: %s: download refused", name, client_seal_why (sink->seal));
        if (rc == 0) {
            uint8_t sha [32];
            char hex [65];
            crypto_hash_sha256_final (&sink->hash, sha);
            xfer_hex (sha, hex);
            if (!streq (hex, result->sha256)) {
                if (start > 0 && !retried) {
                    //  The part kept from an earlier run was of another
                    //  file (removed and shared again): start over, once.
                    xfer_note (self, "%s did not match the file: downloading it again from 0", sink->part);
                    retried = true;
                    start = 0;
                    continue;
                }
                rc = xfer_damaged (self, "%s: checksum mismatch, download refused", name);
            }
        }
        break;
    }
    return rc;
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
        return xfer_fail (self, PC_EXIT_USAGE, "%s exists (use --force to replace it)", dest);
    char part [PATH_MAX];
    if (strlen (dest) + 6 > sizeof (part))
        return xfer_fail (self, PC_EXIT_USAGE, "%s: the path is too long", dest);
    snprintf (part, sizeof (part), "%s.part", dest);

    char handle [PC_ID_MAX + 1];
    char *meta = NULL;
    int rc = s_open_remote (self, space, name, handle, result, &meta);
    client_seal_info_t info;
    memset (&info, 0, sizeof (info));
    if (rc == 0 && private_) {
        if (xfer_meta_open (keys, meta, &info) == -1)
            //  Not for this device: refused (2), not a server failure (3).
            rc = xfer_fail (self, PC_EXIT_REFUSED, "%s: not sealed for this device's key (sent "
                         "before your key changed, or tampered with): download refused", name);
        else
        if (client_seal_cipher_size (info.plain_size) != result->size)
            rc = xfer_fail (self, PC_EXIT_UNREACHABLE, "%s: its size does not match what its sender "
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
        rc = xfer_fail (self, PC_EXIT_USAGE, "cannot write %s: %s", part, strerror (errno));
        if (fd != -1)
            close (fd);
        client_seal_info_clear (&info);
        return rc;
    }
    uint64_t have = private_ || (uint64_t) st.st_size > result->size? 0: (uint64_t) st.st_size;
    sink_t sink;
    memset (&sink, 0, sizeof (sink));
    sink.xfer = self;
    sink.fd = fd;
    sink.part = part;
    rc = s_download (self, &sink, handle, name, result, private_? &info: NULL, have);
    client_seal_destroy (&sink.seal);
    client_seal_info_clear (&info);
    if (rc == 0 && fsync (fd) == -1)
        rc = xfer_fail (self, PC_EXIT_USAGE, "cannot write %s: %s", part, strerror (errno));
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


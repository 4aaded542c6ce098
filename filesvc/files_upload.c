//  files_upload.c: uploads, in chunks, resumable, checked against their
//  SHA-256 before they are listed (files_upload.h).
#include "files_upload.h"
#include "files_server.h"
#include "files_testkit.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <inttypes.h>

#define TOUCH_MS            60000       //  an active upload's Redis stamp, at most this often
#define SWEEP_BATCH         100         //  stale uploads discarded per sweep

void
files_upload_destroy (files_upload_t **self_p)
{
    if (*self_p) {
        files_upload_t *self = *self_p;
        files_entry_destroy (&self->entry);
        zstr_free (&self->key);
        free (self);
        *self_p = NULL;
    }
}

//  The upload id names, if it is request's key's; else answers 404.
static files_upload_t *
s_upload_lookup (files_core_t *self, pc_msg_t *request, const char *id)
{
    files_upload_t *upload = (files_upload_t *) zhashx_lookup (self->uploads, id);
    if (!upload || !streq (upload->key, pc_msg_user_id (request))) {
        files_core_error (self, request, PC_ERR_NOT_FOUND, "no such upload for this key", NULL);
        return NULL;
    }
    upload->last_used = pc_now_ms ();
    return upload;
}

//  Forgets the upload: its bytes, its record, its place on the quota.
static void
s_upload_discard (files_core_t *self, files_upload_t *upload)
{
    files_disk_part_remove (self->disk, upload->entry->id);
    if (files_store_upload_discard (self->store, upload->entry) == -1)
        zsys_warning ("filesvc: upload %s discarded, its record stays until the sweep "
                      "(storage down)", upload->entry->id);
    zhashx_delete (self->uploads, upload->entry->id);
}

static void
s_reply_upload (files_core_t *self, pc_msg_t *request, files_upload_t *upload)
{
    pc_msg_t *reply = pc_msg_new_ok (request);
    pc_msg_add (reply, upload->entry->id);
    pc_msg_addf (reply, "%" PRIu64, upload->offset);
    pc_msg_addf (reply, "%d", PC_CHUNK_MAX);
    files_core_send (self, &reply);
}

//  FPUT of a pending upload of the same user, space, name, size and sha:
//  it goes on at the last whole chunk held, for this key from now on.
static void
s_fput_resume (files_core_t *self, pc_msg_t *request, files_entry_t *entry)
{
    int64_t held = files_disk_part_size (self->disk, entry->id);
    if (held < 0) {
        held = 0;
        if (files_disk_part_create (self->disk, entry->id) == -1) {
            int error = errno;
            zsys_error ("filesvc: cannot create an upload file in %s: %s",
                        files_disk_dir (self->disk), strerror (error));
            files_store_upload_discard (self->store, entry);
            files_entry_destroy (&entry);
            files_core_error (self, request, files_core_no_room (error)? PC_ERR_STORAGE: PC_ERR_INTERNAL,
                     "cannot store the upload on the server", NULL);
            return;
        }
    }
    uint64_t offset = (uint64_t) held > entry->size? entry->size: (uint64_t) held;
    offset -= offset % PC_CHUNK_MAX;
    if ((uint64_t) held != offset)
        files_disk_part_truncate (self->disk, entry->id, offset);
    files_upload_t *upload = (files_upload_t *) zhashx_lookup (self->uploads, entry->id);
    if (upload) {
        files_entry_destroy (&entry);
        zstr_free (&upload->key);
    }
    else {
        upload = (files_upload_t *) zmalloc (sizeof (files_upload_t));
        assert (upload);
        upload->entry = entry;
        zhashx_insert (self->uploads, entry->id, upload);
    }
    upload->key = strdup (pc_msg_user_id (request));
    upload->offset = offset;
    upload->last_used = upload->touched = pc_now_ms ();
    files_store_upload_touch (self->store, upload->entry->id, upload->touched);
    zsys_info ("filesvc: %s resumes upload %s at %" PRIu64 " of %" PRIu64 " bytes",
               upload->entry->user, upload->entry->id, offset, upload->entry->size);
    s_reply_upload (self, request, upload);
}

//  The newest FPUT of a name wins: the user's pending uploads of this space
//  and name with another size or SHA-256 (the file changed, or a private
//  file was sealed again under a fresh key) could never be finished, so they
//  go, bytes, record, quota and all; their ids answer 404 from now on.
//  0 | -1 (storage down; those discarded before it went are gone all the same).
static int
s_fput_replace (files_core_t *self, const char *user, const char *space, const char *name,
                uint64_t size, const char *sha)
{
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, (czmq_destructor *) zstr_free);
    int rc = files_store_upload_replace (self->store, user, space, name, size, sha, ids);
    for (char *id = (char *) zlistx_first (ids); id; id = (char *) zlistx_next (ids)) {
        if (files_disk_id_valid (id))
            files_disk_part_remove (self->disk, id);
        zhashx_delete (self->uploads, id);
        zsys_info ("filesvc: %s's upload %s discarded: its name was put again with another "
                   "size or SHA-256", user, id);
    }
    zlistx_destroy (&ids);
    return rc;
}

int
files_upload_precheck (files_core_t *self, pc_msg_t *request)
{
    uint64_t size;
    if (!files_core_unsigned (pc_fput_size (request), &size)) {
        files_core_error (self, request, PC_ERR_MALFORMED, "size must be 0 or more", NULL);
        return -1;
    }
    if (!files_core_sha_valid (pc_fput_sha256 (request))) {
        files_core_error (self, request, PC_ERR_MALFORMED,
                          "SHA-256 must be 64 lower-case hex digits", NULL);
        return -1;
    }
    return 0;
}

void
files_upload_fput (files_core_t *self, pc_msg_t *request, const char *user,
                   const char *role, const char *space)
{
    const char *name = pc_fput_name (request);
    uint64_t size = 0;
    files_core_unsigned (pc_fput_size (request), &size);      //  files_upload_precheck'd
    const char *sha = pc_fput_sha256 (request);
    if (size > self->config.files_max) {
        char text [96];
        snprintf (text, sizeof (text), "larger than the largest file allowed here (%llu bytes)",
                  self->config.files_max);
        files_core_error (self, request, PC_ERR_TOO_LONG, text, NULL);
        return;
    }
    files_entry_t *entry = NULL;
    int rc = files_store_lookup (self->store, space, name, &entry);
    files_entry_destroy (&entry);
    if (rc == 0) {
        files_core_error (self, request, PC_ERR_CONFLICT, "the space already has a file of that name", NULL);
        return;
    }
    if (rc == 1)
        rc = files_store_upload_find (self->store, user, space, name, size, sha, &entry);
    if (rc == -1) {
        files_core_unavailable (self, request);
        return;
    }
    if (rc == 0) {
        s_fput_resume (self, request, entry);
        return;
    }
    //  Before the disk and quota checks: what it frees counts for this one
    if (s_fput_replace (self, user, space, name, size, sha) == -1) {
        files_core_unavailable (self, request);
        return;
    }
    uint64_t free_bytes;
    if (files_disk_free (self->disk, &free_bytes) == 0
    &&  (free_bytes < size || free_bytes - size < self->config.files_min_free)) {
        zsys_warning ("filesvc: %s has %" PRIu64 " bytes free: an upload of %" PRIu64
                      " bytes refused", files_disk_dir (self->disk), free_bytes, size);
        files_core_error (self, request, PC_ERR_STORAGE, "not enough disk space on the server", NULL);
        return;
    }
    entry = (files_entry_t *) zmalloc (sizeof (files_entry_t));
    assert (entry);
    char id [FILES_ID_SIZE + 1];
    files_disk_new_id (id);
    entry->id = strdup (id);
    entry->user = strdup (user);
    entry->space = strdup (space);
    entry->name = strdup (name);
    entry->sha = strdup (sha);
    entry->meta = strdup (pc_fput_meta (request));
    entry->size = size;
    uint64_t used = 0;
    rc = files_store_upload_begin (self->store, entry, self->config.files_quota,
                                   FILES_PENDING_MAX, pc_now_ms (), &used);
    if (rc != 0) {
        char text [128];
        if (rc == 1)
            snprintf (text, sizeof (text), "over your quota: %" PRIu64 " of %llu bytes used",
                      used, self->config.files_quota);
        else
            snprintf (text, sizeof (text), "too many unfinished uploads (%d): finish one first",
                      FILES_PENDING_MAX);
        if (rc == -1)
            files_core_unavailable (self, request);
        else
            files_core_error (self, request, PC_ERR_STORAGE, text, NULL);
        files_entry_destroy (&entry);
        return;
    }
    if (files_disk_part_create (self->disk, id) == -1) {
        int error = errno;
        zsys_error ("filesvc: cannot create an upload file in %s: %s",
                    files_disk_dir (self->disk), strerror (error));
        files_store_upload_discard (self->store, entry);
        files_entry_destroy (&entry);
        files_core_error (self, request, files_core_no_room (error)? PC_ERR_STORAGE: PC_ERR_INTERNAL,
                 "cannot store the upload on the server", NULL);
        return;
    }
    files_upload_t *upload = (files_upload_t *) zmalloc (sizeof (files_upload_t));
    assert (upload);
    upload->entry = entry;
    upload->key = strdup (pc_msg_user_id (request));
    upload->last_used = upload->touched = pc_now_ms ();
    zhashx_insert (self->uploads, id, upload);
    files_core_debug (self, "filesvc: %s starts upload %s (%" PRIu64 " bytes)", user, id, size);
    s_reply_upload (self, request, upload);
}

void
files_upload_fdata (files_core_t *self, pc_msg_t *request)
{
    files_upload_t *upload = s_upload_lookup (self, request, pc_fdata_upload (request));
    if (!upload)
        return;
    uint64_t offset;
    char held [24];
    snprintf (held, sizeof (held), "%" PRIu64, upload->offset);
    if (!files_core_unsigned (pc_fdata_offset (request), &offset) || offset != upload->offset) {
        files_core_error (self, request, PC_ERR_CONFLICT, "not where the upload stands", held);
        return;
    }
    size_t size = pc_fdata_data_size (request);
    if (offset + size > upload->entry->size) {
        files_core_error (self, request, PC_ERR_TOO_LONG, "past the declared size", NULL);
        return;
    }
    if (files_disk_part_write (self->disk, upload->entry->id, offset,
                               pc_fdata_data (request), size) == -1) {
        int error = errno;
        zsys_error ("filesvc: cannot write upload %s at %" PRIu64 ": %s: discarded",
                    upload->entry->id, offset, strerror (error));
        s_upload_discard (self, upload);
        if (files_core_no_room (error))
            files_core_error (self, request, PC_ERR_STORAGE,
                     "the server's disk is full: the upload is discarded", NULL);
        else
            files_core_error (self, request, PC_ERR_INTERNAL,
                     "cannot write the upload: it is discarded", NULL);
        return;
    }
    upload->offset += size;
    self->bytes_in += size;
    if (upload->last_used - upload->touched >= TOUCH_MS) {
        upload->touched = upload->last_used;
        files_store_upload_touch (self->store, upload->entry->id, upload->touched);
    }
    pc_msg_t *reply = pc_msg_new_ok (request);
    pc_msg_addf (reply, "%" PRIu64, upload->offset);
    files_core_send (self, &reply);
}

void
files_upload_fdone (files_core_t *self, pc_msg_t *request)
{
    files_upload_t *upload = s_upload_lookup (self, request, pc_fdone_upload (request));
    if (!upload)
        return;
    files_entry_t *entry = upload->entry;
    if (upload->offset < entry->size) {
        char held [24];
        snprintf (held, sizeof (held), "%" PRIu64, upload->offset);
        files_core_error (self, request, PC_ERR_CONFLICT, "the upload is incomplete", held);
        return;
    }
    //  The bytes on disk, not what we think we wrote, are what gets listed
    int rc = files_disk_part_check (self->disk, entry->id, entry->size, entry->sha);
    if (rc != 0) {
        if (rc == -1)
            zsys_error ("filesvc: cannot read upload %s: %s: discarded", entry->id, strerror (errno));
        s_upload_discard (self, upload);
        if (rc == 1)
            files_core_error (self, request, PC_ERR_CONFLICT,
                     "checksum mismatch: the upload is discarded", NULL);
        else
            files_core_error (self, request, PC_ERR_INTERNAL, "cannot read the upload: it is discarded", NULL);
        return;
    }
    if (files_disk_part_commit (self->disk, entry->id) == -1) {
        int error = errno;
        zsys_error ("filesvc: cannot keep upload %s: %s: discarded", entry->id, strerror (error));
        s_upload_discard (self, upload);
        files_core_error (self, request, files_core_no_room (error)? PC_ERR_STORAGE: PC_ERR_INTERNAL,
                 "cannot store the file on the server: the upload is discarded", NULL);
        return;
    }
    rc = files_store_upload_list (self->store, entry, pc_now_ms ());
    if (rc == -1) {
        //  Not listed: back to a part, so that FDONE can be asked again
        files_disk_part_uncommit (self->disk, entry->id);
        files_core_unavailable (self, request);
        return;
    }
    if (rc == 1) {
        files_disk_remove (self->disk, entry->id);
        s_upload_discard (self, upload);
        files_core_error (self, request, PC_ERR_CONFLICT,
                 "the space already has a file of that name: the upload is discarded", NULL);
        return;
    }
    self->uploads_total++;
    zsys_info ("filesvc: %s shared %" PRIu64 " bytes in %s (file %s)", entry->user, entry->size,
               entry->space, entry->id);
    pc_msg_t *reply = pc_msg_new_ok (request);
    pc_msg_add (reply, entry->name);
    pc_msg_addf (reply, "%" PRIu64, entry->size);
    pc_msg_add (reply, entry->sha);
    files_core_send (self, &reply);
    files_core_file_up (self, entry);
    zhashx_delete (self->uploads, entry->id);
}

void
files_upload_sweep (files_core_t *self, int64_t now)
{
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, (czmq_destructor *) zstr_free);
    if (files_store_upload_stale (self->store, now - FILES_STALE_MS, SWEEP_BATCH, ids) == -1) {
        zlistx_destroy (&ids);
        return;                 //  next time
    }
    size_t swept = 0;
    for (char *id = (char *) zlistx_first (ids); id; id = (char *) zlistx_next (ids)) {
        files_entry_t *entry = NULL;
        if (files_store_upload_get (self->store, id, &entry) != 0) {
            //  A leftover in the sorted set only: tidy it (discard needs no more)
            entry = (files_entry_t *) zmalloc (sizeof (files_entry_t));
            entry->id = strdup (id);
            entry->user = strdup ("-");
            entry->space = strdup ("-");
            entry->name = strdup ("-");
            entry->sha = strdup ("-");
        }
        if (files_store_upload_discard (self->store, entry) == 0) {
            if (files_disk_id_valid (id))
                files_disk_part_remove (self->disk, id);
            zhashx_delete (self->uploads, id);
            swept++;
        }
        files_entry_destroy (&entry);
    }
    zlistx_destroy (&ids);
    ids = files_disk_stale_parts (self->disk, FILES_STALE_MS);
    for (char *id = (char *) zlistx_first (ids); id; id = (char *) zlistx_next (ids)) {
        files_entry_t *entry = NULL;
        if (files_store_upload_get (self->store, id, &entry) == 1) {
            files_disk_part_remove (self->disk, id);
            swept++;
        }
        files_entry_destroy (&entry);
    }
    zlistx_destroy (&ids);
    if (swept)
        zsys_info ("filesvc: discarded %zu upload(s) untouched for 24 h", swept);
}

//  --------------------------------------------------------------------------
//  Selftest: the real actor, a fake broker and two clients (files_testkit.h)

//  A request from kit->WHO (client or other); fcheck: the broker answers.
#define s_call(kit, who, fcheck, ...) \
    files_testkit_call ((kit), (kit)->who, (fcheck), PC_SIGNATURE, __VA_ARGS__, NULL)

//  The broker hears file-up, with the file id to post it once.
static void
s_test_file_up (files_testkit_t *kit, const char *id)
{
    pc_msg_t *event = files_testkit_event (kit, "file-up");
    assert (pc_msg_nfields (event) == 6);
    assert (streq (pc_ev_file_up_user (event), "alice") && streq (pc_ev_file_up_space (event), "room/lobby"));
    assert (streq (pc_ev_file_up_name (event), "hello.txt") && streq (pc_ev_file_up_size (event), "12"));
    assert (streq (pc_ev_file_up_file_id (event), id));
    pc_msg_destroy (&event);
}

//  An upload in two chunks, with every way to get a chunk wrong.
static void
s_test_chunks (files_testkit_t *kit)
{
    pc_msg_t *reply = s_call (kit, client, true, "FPUT", "u1", "lobby", "hello.txt", "12",
                              kit->sha, "");
    assert (reply && pc_msg_is (reply, "OK") && pc_msg_nfields (reply) == 3);
    char *upload = strdup (pc_fput_ok_upload (reply));
    assert (streq (pc_fput_ok_offset (reply), "0"));
    assert (atoi (pc_fput_ok_chunk (reply)) == PC_CHUNK_MAX);
    pc_msg_destroy (&reply);
    reply = s_call (kit, client, false, "FDATA", "d1", upload, "0", "hello");
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_fdata_ok_offset (reply), "5"));
    pc_msg_destroy (&reply);
    reply = s_call (kit, client, false, "FDATA", "d2", upload, "0", "hello");
    assert (pc_msg_error_code (reply) == PC_ERR_CONFLICT && streq (pc_error_detail (reply), "5"));
    pc_msg_destroy (&reply);
    reply = s_call (kit, other, false, "FDATA", "d3", upload, "5", ", files");
    files_testkit_error (&reply, PC_ERR_NOT_FOUND);
    reply = s_call (kit, client, false, "FDONE", "f0", upload);
    files_testkit_error (&reply, PC_ERR_CONFLICT);
    reply = s_call (kit, client, false, "FDATA", "d4", upload, "5", ", files!");
    files_testkit_error (&reply, PC_ERR_TOO_LONG);
    reply = s_call (kit, client, false, "FDATA", "d5", upload, "5", ", files");
    assert (reply && streq (pc_fdata_ok_offset (reply), "12"));
    pc_msg_destroy (&reply);
    reply = s_call (kit, client, false, "FDONE", "f1", upload);
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_fdone_ok_name (reply), "hello.txt"));
    assert (streq (pc_fdone_ok_size (reply), "12") && streq (pc_fdone_ok_sha256 (reply), kit->sha));
    pc_msg_destroy (&reply);
    s_test_file_up (kit, upload);
    //  A second FPUT of the name is a conflict; too large is refused
    reply = s_call (kit, client, true, "FPUT", "u2", "lobby", "hello.txt", "12", kit->sha, "");
    files_testkit_error (&reply, PC_ERR_CONFLICT);
    reply = s_call (kit, client, true, "FPUT", "u3", "lobby", "big.bin", "2000000", kit->sha, "");
    files_testkit_error (&reply, PC_ERR_TOO_LONG);
    //  Removed again: the quota is back at 0 for the cases after this one
    reply = s_call (kit, client, true, "FRM", "m1", "lobby", "hello.txt");
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    zstr_free (&upload);
}

//  A wrong checksum: refused, discarded, not listed.
static void
s_test_checksum (files_testkit_t *kit)
{
    pc_msg_t *reply = s_call (kit, client, true, "FPUT", "u4", "lobby", "liar.txt", "5",
                              kit->sha, "");
    assert (reply && pc_msg_is (reply, "OK"));
    char *liar = strdup (pc_fput_ok_upload (reply));
    pc_msg_destroy (&reply);
    reply = s_call (kit, client, false, "FDATA", "d6", liar, "0", "lies!");
    pc_msg_destroy (&reply);
    reply = s_call (kit, client, false, "FDONE", "f2", liar);
    files_testkit_error (&reply, PC_ERR_CONFLICT);
    reply = s_call (kit, client, false, "FDONE", "f3", liar);
    files_testkit_error (&reply, PC_ERR_NOT_FOUND);
    zstr_free (&liar);
}

static void
s_test_redis_is (files_testkit_t *kit, const char *command, const char *expected)
{
    char *value = files_testkit_redis (kit, command);
    if (!streq (value, expected))
        printf ("%s: expected %s, got %s\n", command, expected, value);
    assert (streq (value, expected));
    zstr_free (&value);
}

//  A pending upload untouched for a day is swept, bytes, record and quota.
static void
s_test_sweep (files_testkit_t *kit)
{
    pc_msg_t *reply = s_call (kit, client, true, "FPUT", "u5", "lobby", "old.txt", "12",
                              kit->sha, "");
    assert (reply && pc_msg_is (reply, "OK"));
    char *old = strdup (pc_fput_ok_upload (reply));
    pc_msg_destroy (&reply);
    reply = s_call (kit, client, false, "FDATA", "d7", old, "0", "hello");
    pc_msg_destroy (&reply);
    assert (files_testkit_exists (kit, "files/tmp/%s.part", old));
    s_test_redis_is (kit, "GET fquota:alice", "12");
    char command [80];
    snprintf (command, sizeof (command), "ZADD fuploads XX 1 %s", old);
    char *ignored = files_testkit_redis (kit, command);
    zstr_free (&ignored);
    //  A leftover without its record
    ignored = files_testkit_redis (kit, "ZADD fuploads 1 00000000000000000000000000000abc");
    zstr_free (&ignored);
    zstr_send (kit->server, "SWEEP");
    char *swept = zstr_recv (kit->server);
    assert (swept && streq (swept, "SWEPT"));
    zstr_free (&swept);
    assert (!files_testkit_exists (kit, "files/tmp/%s.part", old));
    s_test_redis_is (kit, "GET fquota:alice", "0");
    s_test_redis_is (kit, "ZCARD fuploads", "0");
    reply = s_call (kit, client, false, "FDATA", "d8", old, "5", ", files");
    files_testkit_error (&reply, PC_ERR_NOT_FOUND);
    zstr_free (&old);
}

//  A pending upload's id, from an FPUT that must succeed at offset 0.
static char *
s_test_fput (files_testkit_t *kit, const char *name, const char *size, const char *sha)
{
    pc_msg_t *reply = s_call (kit, client, true, "FPUT", "u", "lobby", name, size, sha, "");
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_fput_ok_offset (reply), "0"));
    char *id = strdup (pc_fput_ok_upload (reply));
    pc_msg_destroy (&reply);
    return id;
}

//  The newest FPUT of a name wins: put again with another SHA-256 (the
//  file changed), the pending upload goes, bytes, record and quota, even
//  when the user is at her quota (2 MiB here).
static void
s_test_replace (files_testkit_t *kit)
{
    char *a = s_test_fput (kit, "a.bin", "1048576", kit->sha);
    char *first = s_test_fput (kit, "b.bin", "1048576", kit->sha);
    pc_msg_t *reply = s_call (kit, client, false, "FDATA", "d9", first, "0", "hello");
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    assert (files_testkit_exists (kit, "files/tmp/%s.part", first));
    reply = s_call (kit, client, true, "FPUT", "u8", "lobby", "c.bin", "1", kit->sha, "");
    files_testkit_error (&reply, PC_ERR_STORAGE);
    char changed [65];
    files_disk_sha256_hex ("changed", 7, changed);
    char *second = s_test_fput (kit, "b.bin", "1048576", changed);
    assert (!streq (second, first));
    assert (!files_testkit_exists (kit, "files/tmp/%s.part", first));
    reply = s_call (kit, client, false, "FDATA", "d10", first, "5", ", files");
    files_testkit_error (&reply, PC_ERR_NOT_FOUND);
    reply = s_call (kit, client, false, "FDONE", "f4", first);
    files_testkit_error (&reply, PC_ERR_NOT_FOUND);
    s_test_redis_is (kit, "GET fquota:alice", "2097152");
    //  The same FPUT again resumes the new one; still at the quota
    reply = s_call (kit, client, true, "FPUT", "u10", "lobby", "b.bin", "1048576", changed, "");
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_fput_ok_upload (reply), second));
    pc_msg_destroy (&reply);
    reply = s_call (kit, client, true, "FPUT", "u11", "lobby", "c.bin", "1", kit->sha, "");
    files_testkit_error (&reply, PC_ERR_STORAGE);
    //  Another size replaces it too; a.bin, another name, is untouched
    char *third = s_test_fput (kit, "b.bin", "12", kit->sha);
    assert (!streq (third, second));
    reply = s_call (kit, client, false, "FDATA", "d11", second, "0", "hello");
    files_testkit_error (&reply, PC_ERR_NOT_FOUND);
    s_test_redis_is (kit, "GET fquota:alice", "1048588");
    s_test_redis_is (kit, "ZCARD fuploads", "2");
    zstr_free (&a);
    zstr_free (&first);
    zstr_free (&second);
    zstr_free (&third);
}

void
files_upload_test (bool verbose)
{
    printf (" * files_upload: ");
    files_testkit_t *kit = files_testkit_new (verbose);
    if (!kit)
        return;
    s_test_chunks (kit);
    s_test_checksum (kit);
    s_test_sweep (kit);
    s_test_replace (kit);
    files_testkit_destroy (&kit);
    printf ("OK\n");
}

//  files_download.c: listing, downloads by handle, removal
//  (files_download.h).
#include "files_download.h"
#include "files_server.h"
#include "files_testkit.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <inttypes.h>
#include <unistd.h>

void
files_download_destroy (files_handle_t **self_p)
{
    if (*self_p) {
        files_handle_t *self = *self_p;
        if (self->fd >= 0)
            close (self->fd);
        zstr_free (&self->id);
        zstr_free (&self->key);
        zstr_free (&self->user);
        zstr_free (&self->space);
        zstr_free (&self->name);
        zstr_free (&self->file);
        free (self);
        *self_p = NULL;
    }
}

void
files_download_flist (files_core_t *self, pc_msg_t *request, const char *user,
                      const char *role, const char *space)
{
    zlistx_t *entries = zlistx_new ();
    zlistx_set_destructor (entries, (czmq_destructor *) files_entry_destroy);
    if (files_store_list (self->store, space, entries) == -1) {
        files_core_unavailable (self, request);
        zlistx_destroy (&entries);
        return;
    }
    const char *after = pc_flist_after (request);
    pc_msg_t *reply = pc_msg_new_ok (request);
    for (files_entry_t *entry = (files_entry_t *) zlistx_first (entries); entry;
         entry = (files_entry_t *) zlistx_next (entries)) {
        if (after && strcmp (entry->name, after) <= 0)
            continue;
        if (pc_msg_nfields (reply) + 5 > PC_FIELDS_MAX)
            break;              //  the rest: FLIST space LAST-NAME
        pc_msg_add (reply, entry->name);
        pc_msg_addf (reply, "%" PRIu64, entry->size);
        pc_msg_add (reply, entry->user);
        pc_msg_addf (reply, "%" PRId64, entry->time);
        pc_msg_add (reply, entry->sha);
    }
    files_core_send (self, &reply);
    zlistx_destroy (&entries);
}

//  The last byte was read: counted and reported once, the descriptor let go.
static void
s_download_done (files_core_t *self, files_handle_t *handle)
{
    if (handle->fd >= 0)
        close (handle->fd);
    handle->fd = -1;
    if (handle->done)
        return;
    handle->done = true;
    self->downloads_total++;
    char size [24];
    snprintf (size, sizeof (size), "%" PRIu64, handle->size);
    files_core_event (self, "file-down", handle->user, handle->space,
             files_core_event_name (handle->space, handle->name), size, NULL);
}

void
files_download_fopen (files_core_t *self, pc_msg_t *request, const char *user,
                      const char *role, const char *space)
{
    files_entry_t *entry = NULL;
    int rc = files_store_lookup (self->store, space, pc_fopen_name (request), &entry);
    if (rc == -1) {
        files_core_unavailable (self, request);
        return;
    }
    if (rc == 1) {
        files_core_error (self, request, PC_ERR_NOT_FOUND, "no such file", NULL);
        return;
    }
    //  Downloads under way count; of the finished ones (no descriptor) a
    //  key keeps the FILES_HANDLES_MAX most recent, so it cannot pile up
    //  handles either
    const char *key = pc_msg_user_id (request);
    size_t open = 0, finished = 0;
    files_handle_t *oldest = NULL;
    for (files_handle_t *handle = (files_handle_t *) zhashx_first (self->handles); handle;
         handle = (files_handle_t *) zhashx_next (self->handles))
        if (streq (handle->key, key) && handle->fd >= 0)
            open++;
        else
        if (streq (handle->key, key)) {
            finished++;
            if (!oldest || handle->last_used < oldest->last_used)
                oldest = handle;
        }
    if (finished >= FILES_HANDLES_MAX && oldest)
        zhashx_delete (self->handles, oldest->id);
    if (open >= FILES_HANDLES_MAX) {
        char text [96];
        snprintf (text, sizeof (text), "too many downloads open for this key (%d): finish one first",
                  FILES_HANDLES_MAX);
        files_core_error (self, request, PC_ERR_THROTTLED, text, "1");
        files_entry_destroy (&entry);
        return;
    }
    int fd = files_disk_open (self->disk, entry->id);
    if (fd == -1) {
        zsys_error ("filesvc: file %s is listed but cannot be opened: %s", entry->id,
                    strerror (errno));
        files_core_error (self, request, PC_ERR_NOT_FOUND, "the file's bytes are missing on the server", NULL);
        files_entry_destroy (&entry);
        return;
    }
    files_handle_t *handle = (files_handle_t *) zmalloc (sizeof (files_handle_t));
    assert (handle);
    char id [FILES_ID_SIZE + 1];
    files_disk_new_id (id);
    handle->id = strdup (id);
    handle->key = strdup (key);
    handle->user = strdup (user);
    handle->space = strdup (space);
    handle->name = strdup (entry->name);
    handle->file = strdup (entry->id);
    handle->fd = fd;
    handle->size = entry->size;
    handle->last_used = pc_now_ms ();
    zhashx_insert (self->handles, id, handle);
    pc_msg_t *reply = pc_msg_new_ok (request);
    pc_msg_add (reply, id);
    pc_msg_addf (reply, "%" PRIu64, entry->size);
    pc_msg_add (reply, entry->sha);
    pc_msg_add (reply, entry->user);
    pc_msg_addf (reply, "%" PRId64, entry->time);
    pc_msg_add (reply, entry->meta);
    files_core_send (self, &reply);
    if (entry->size == 0)
        s_download_done (self, handle);         //  nothing to read: done
    files_entry_destroy (&entry);
}

void
files_download_fread (files_core_t *self, pc_msg_t *request)
{
    files_handle_t *handle = (files_handle_t *) zhashx_lookup (self->handles, pc_fread_handle (request));
    if (!handle || !streq (handle->key, pc_msg_user_id (request))) {
        files_core_error (self, request, PC_ERR_NOT_FOUND, "no such handle for this key", NULL);
        return;
    }
    handle->last_used = pc_now_ms ();
    uint64_t offset, length;
    if (!files_core_unsigned (pc_fread_length (request), &length) || length < 1 || length > PC_CHUNK_MAX) {
        files_core_error (self, request, PC_ERR_MALFORMED, "length must be 1-262144", NULL);
        return;
    }
    if (!files_core_unsigned (pc_fread_offset (request), &offset) || offset >= handle->size) {
        files_core_error (self, request, PC_ERR_MALFORMED, "offset past the end", NULL);
        return;
    }
    if (handle->fd < 0) {       //  read again after the end: open again
        handle->fd = files_disk_open (self->disk, handle->file);
        if (handle->fd < 0) {
            files_core_error (self, request, PC_ERR_NOT_FOUND, "the file was removed", NULL);
            return;
        }
    }
    size_t want = handle->size - offset < length? (size_t) (handle->size - offset): (size_t) length;
    ssize_t got = files_disk_read (handle->fd, offset, self->buffer, want);
    if (got <= 0) {
        zsys_error ("filesvc: cannot read file of %s at %" PRIu64 ": %s", handle->space, offset,
                    got == 0? "shorter than listed": strerror (errno));
        files_core_error (self, request, PC_ERR_INTERNAL, "cannot read the file on the server", NULL);
        return;
    }
    pc_msg_t *reply = pc_msg_new ("FCHUNK");
    pc_msg_set_routing_id (reply, pc_msg_routing_id (request));
    pc_msg_set_reqid (reply, pc_msg_reqid (request));
    pc_msg_addf (reply, "%" PRIu64, offset);
    pc_msg_add_mem (reply, self->buffer, (size_t) got);
    files_core_send (self, &reply);
    self->bytes_out += (uint64_t) got;
    if (offset + (uint64_t) got == handle->size)
        s_download_done (self, handle);
}

void
files_download_frm (files_core_t *self, pc_msg_t *request, const char *user, const char *role, const char *space)
{
    files_entry_t *entry = NULL;
    int rc = files_store_lookup (self->store, space, pc_frm_name (request), &entry);
    if (rc == -1)
        files_core_unavailable (self, request);
    else
    if (rc == 1)
        files_core_error (self, request, PC_ERR_NOT_FOUND, "no such file", NULL);
    else
    if (!streq (entry->user, user) && !streq (role, "admin"))
        files_core_error (self, request, PC_ERR_FORBIDDEN, "only the uploader or an admin may remove a file",
                 NULL);
    else
    if ((rc = files_store_remove (self->store, entry)) == -1)
        files_core_unavailable (self, request);
    else
    if (rc == 1)
        files_core_error (self, request, PC_ERR_NOT_FOUND, "no such file", NULL);
    else {
        files_disk_remove (self->disk, entry->id);
        zsys_info ("filesvc: %s removed file %s (%s's) from %s", user, entry->id, entry->user,
                   entry->space);
        pc_msg_t *reply = pc_msg_new_ok (request);
        files_core_send (self, &reply);
        files_core_event (self, "file-rm", user, space, files_core_event_name (space, entry->name), NULL);
    }
    files_entry_destroy (&entry);
}

size_t
files_download_active (files_core_t *self)
{
    size_t active = 0;
    for (files_handle_t *handle = (files_handle_t *) zhashx_first (self->handles); handle;
         handle = (files_handle_t *) zhashx_next (self->handles))
        if (handle->fd >= 0)
            active++;
    return active;
}

//  --------------------------------------------------------------------------
//  Selftest: the real actor, a fake broker and two clients (files_testkit.h)

//  A request from kit->WHO (client or other); fcheck: the broker answers.
#define s_call(kit, who, fcheck, ...) \
    files_testkit_call ((kit), (kit)->who, (fcheck), PC_SIGNATURE, __VA_ARGS__, NULL)

//  An empty space, then one file listed; listing after its name is empty.
//  Returns the file's id; caller frees.
static char *
s_test_list (files_testkit_t *kit)
{
    pc_msg_t *reply = s_call (kit, client, true, "FLIST", "l1", "lobby");
    assert (reply && pc_msg_is (reply, "OK") && pc_msg_nfields (reply) == 0);
    pc_msg_destroy (&reply);
    char *id = files_testkit_put (kit, "hello.txt");
    reply = s_call (kit, client, true, "FLIST", "l2", "lobby");
    assert (reply && pc_flist_ok_count (reply) == 1 && streq (pc_flist_ok_name (reply, 0), "hello.txt"));
    assert (streq (pc_flist_ok_size (reply, 0), "12") && streq (pc_flist_ok_from (reply, 0), "alice"));
    assert (streq (pc_flist_ok_sha256 (reply, 0), kit->sha));
    pc_msg_destroy (&reply);
    reply = s_call (kit, client, true, "FLIST", "l3", "lobby", "hello.txt");
    assert (reply && pc_msg_is (reply, "OK") && pc_msg_nfields (reply) == 0);
    pc_msg_destroy (&reply);
    return id;
}

//  Download: the bytes come back; the handle is the key's alone.
static void
s_test_read (files_testkit_t *kit)
{
    pc_msg_t *reply = s_call (kit, client, true, "FOPEN", "o1", "lobby", "hello.txt");
    assert (reply && pc_msg_is (reply, "OK") && pc_msg_nfields (reply) == 6);
    char *handle = strdup (pc_fopen_ok_handle (reply));
    assert (streq (pc_fopen_ok_size (reply), "12") && streq (pc_fopen_ok_from (reply), "alice"));
    pc_msg_destroy (&reply);
    reply = s_call (kit, client, false, "FREAD", "r1", handle, "7", "100");
    assert (reply && pc_msg_cmd (reply) == PC_CMD_FCHUNK && streq (pc_fchunk_offset (reply), "7"));
    assert (pc_fchunk_data_size (reply) == 5 && memcmp (pc_fchunk_data (reply), "files", 5) == 0);
    pc_msg_destroy (&reply);
    //  The last byte read: the broker hears file-down
    pc_msg_t *event = files_testkit_event (kit, "file-down");
    assert (streq (pc_ev_file_down_user (event), "alice") && streq (pc_ev_file_down_size (event), "12"));
    pc_msg_destroy (&event);
    reply = s_call (kit, client, false, "FREAD", "r2", handle, "12", "100");
    files_testkit_error (&reply, PC_ERR_MALFORMED);
    reply = s_call (kit, client, false, "FREAD", "r3", handle, "0", "0");
    files_testkit_error (&reply, PC_ERR_MALFORMED);
    reply = s_call (kit, other, false, "FREAD", "r4", handle, "0", "100");
    files_testkit_error (&reply, PC_ERR_NOT_FOUND);
    reply = s_call (kit, client, true, "FOPEN", "o2", "lobby", "nothere");
    files_testkit_error (&reply, PC_ERR_NOT_FOUND);
    zstr_free (&handle);
}

//  Removal: only by the uploader (or an admin); gone from the list and the disk.
static void
s_test_remove (files_testkit_t *kit, const char *id)
{
    pc_msg_t *reply = s_call (kit, client, true, "FLIST", "l4", "lobby");
    assert (reply && pc_msg_nfields (reply) == 5);
    pc_msg_destroy (&reply);
    reply = s_call (kit, client, true, "FOPEN", "o3", "lobby", "hello.txt");
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    reply = s_call (kit, client, true, "FRM", "m0", "lobby", "nothere");
    files_testkit_error (&reply, PC_ERR_NOT_FOUND);
    assert (files_testkit_exists (kit, "files/%s", id));
    reply = s_call (kit, client, true, "FRM", "m1", "lobby", "hello.txt");
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    reply = s_call (kit, client, true, "FLIST", "l5", "lobby");
    assert (reply && pc_msg_is (reply, "OK") && pc_msg_nfields (reply) == 0);
    pc_msg_destroy (&reply);
    assert (!files_testkit_exists (kit, "files/%s", id));
}

void
files_download_test (bool verbose)
{
    printf (" * files_download: ");
    files_testkit_t *kit = files_testkit_new (verbose);
    if (!kit)
        return;
    char *id = s_test_list (kit);
    s_test_read (kit);
    s_test_remove (kit, id);
    zstr_free (&id);
    files_testkit_destroy (&kit);
    printf ("OK\n");
}

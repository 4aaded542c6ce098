//  files_server.c: the file service's request loop (FLIST, FPUT, FDATA,
//  FDONE, FOPEN, FREAD, FRM), its FCHECKs to the broker and its events.
#include "files_server.h"
#include "files_disk.h"
#include "files_store.h"
#include "pc_redis.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_msg.h"
#include "pc_util.h"
#include "pc_zap.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <unistd.h>

#define TICK_MS             250
#define BURST_MAX           64          //  requests read in a row before the timers
#define CHECKS_MAX          4096        //  FCHECKs waiting for the broker, all keys
#define OUTBOX_MAX          1000        //  file-up events waiting for the broker's OK
#define OUTBOX_RETRY_MS     2000
#define OUTBOX_KEEP_MS      (10 * 60 * 1000)   //  the broker's dedup window
#define SWEEP_FIRST_MS      5000
#define SWEEP_MS            (10 * 60 * 1000)
#define SWEEP_BATCH         100
#define TOUCH_MS            60000       //  an active upload's Redis stamp, at most this often

//  czmq 4.2 has no log level: per-message logs only with -v
#define s_debug(self, ...) do { if ((self)->verbose) zsys_debug (__VA_ARGS__); } while (0)

//  An upload this process is receiving (its record is in Redis too).
typedef struct {
    files_entry_t *entry;       //  id, user, space, name, size, sha, meta
    char    *key;               //  the only key it answers
    uint64_t offset;            //  bytes held: the next FDATA's offset
    int64_t  last_used;
    int64_t  touched;           //  last time Redis was told
} upload_t;

//  A download. Its descriptor is held while it is under way: once the last
//  byte was read it is closed (and opened again if the client reads more),
//  so only downloads under way count against FILES_HANDLES_MAX.
typedef struct {
    char    *id;
    char    *key;
    char    *user;
    char    *space;
    char    *name;
    char    *file;              //  the file's id on disk
    int      fd;                //  -1 once the download is done
    uint64_t size;
    int64_t  last_used;
    bool     done;              //  the last byte was read (counted once)
} handle_t;

//  A client request waiting for the broker's FCHECK answer.
typedef struct {
    pc_msg_t *request;
    int64_t   deadline;
} check_t;

//  A file-up event the broker has not acknowledged yet.
typedef struct {
    pc_msg_t *event;
    int64_t   next_try;
    int64_t   give_up;
} outgoing_t;

typedef struct {
    zsock_t      *pipe;
    pc_config_t   config;
    bool          verbose;
    bool          terminated;
    zsock_t      *router;           //  clients, base+5
    zsock_t      *broker;           //  DEALER to the broker's ROUTER
    zpoller_t    *poller;
    files_store_t *store;
    files_disk_t *disk;
    zhashx_t     *checks;           //  FCHECK request id -> check_t
    zhashx_t     *uploads;          //  upload id -> upload_t
    zhashx_t     *handles;          //  handle -> handle_t
    zhashx_t     *outbox;           //  FEVENT request id -> outgoing_t
    pc_msg_t     *request;          //  reused for every client request
    pc_msg_t     *answer;           //  reused for every broker message
    char         *buffer;           //  one chunk, for FREAD
    uint64_t      next_check;
    int64_t       next_event;
    int64_t       next_sweep;
    bool          broker_lost;      //  logged once per outage
    //  Counters, for the "files" event and the log
    uint64_t      uploads_total;
    uint64_t      downloads_total;
    uint64_t      bytes_in;
    uint64_t      bytes_out;
    uint64_t      malformed;
} server_t;

static void
s_upload_destroy (upload_t **self_p)
{
    if (*self_p) {
        upload_t *self = *self_p;
        files_entry_destroy (&self->entry);
        zstr_free (&self->key);
        free (self);
        *self_p = NULL;
    }
}

static void
s_handle_destroy (handle_t **self_p)
{
    if (*self_p) {
        handle_t *self = *self_p;
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

static void
s_check_destroy (check_t **self_p)
{
    if (*self_p) {
        pc_msg_destroy (&(*self_p)->request);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_outgoing_destroy (outgoing_t **self_p)
{
    if (*self_p) {
        pc_msg_destroy (&(*self_p)->event);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_server_destroy (server_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        server_t *self = *self_p;
        zpoller_destroy (&self->poller);
        zsock_destroy (&self->router);
        zsock_destroy (&self->broker);
        zhashx_destroy (&self->checks);
        zhashx_destroy (&self->uploads);
        zhashx_destroy (&self->handles);
        zhashx_destroy (&self->outbox);
        files_store_destroy (&self->store);
        files_disk_destroy (&self->disk);
        pc_msg_destroy (&self->request);
        pc_msg_destroy (&self->answer);
        free (self->buffer);
        free (self);
        *self_p = NULL;
    }
}

//  Creates the server: folders, sockets; NULL (logged) when it cannot.
static server_t *
s_server_new (zsock_t *pipe, files_server_args_t *args)
{
    server_t *self = (server_t *) zmalloc (sizeof (server_t));
    assert (self);
    self->pipe = pipe;
    self->config = *args->config;
    self->verbose = args->verbose;
    self->checks = zhashx_new ();
    zhashx_set_destructor (self->checks, (czmq_destructor *) s_check_destroy);
    self->uploads = zhashx_new ();
    zhashx_set_destructor (self->uploads, (czmq_destructor *) s_upload_destroy);
    self->handles = zhashx_new ();
    zhashx_set_destructor (self->handles, (czmq_destructor *) s_handle_destroy);
    self->outbox = zhashx_new ();
    zhashx_set_destructor (self->outbox, (czmq_destructor *) s_outgoing_destroy);
    self->request = pc_msg_new (NULL);
    self->answer = pc_msg_new (NULL);
    self->buffer = (char *) malloc (PC_CHUNK_MAX);
    assert (self->buffer);
    self->next_event = pc_now_ms () + FILES_EVENT_MS;
    self->next_sweep = pc_now_ms () + SWEEP_FIRST_MS;
    self->store = files_store_new (self->config.redis_host, self->config.redis_port);
    self->disk = files_disk_new (self->config.files_dir);
    if (!self->disk) {
        zsys_error ("filesvc: cannot create %s: %s", self->config.files_dir, strerror (errno));
        args->port = -1;
        s_server_destroy (&self);
        return NULL;
    }
    self->router = zsock_new (ZMQ_ROUTER);
    assert (self->router);
    zcert_apply (args->cert, self->router);
    pc_zap_secure (self->router, "clients");
    zsock_set_backlog (self->router, PC_BACKLOG);
    zsock_set_maxmsgsize (self->router, PC_MSG_MAX);
    zsock_set_linger (self->router, 0);
    args->port = zsock_bind (self->router, "%s", args->endpoint);
    if (args->port == -1) {
        zsys_error ("filesvc: cannot bind %s: %s", args->endpoint, zmq_strerror (zmq_errno ()));
        s_server_destroy (&self);
        return NULL;
    }
    //  ZMQ_IMMEDIATE: an FCHECK is never queued for a broker that is not
    //  connected; the client hears 503 at once instead of after the timeout.
    self->broker = pc_keys_client (ZMQ_DEALER, args->cert, args->broker_key);
    zsock_set_immediate (self->broker, 1);
    zsock_set_reconnect_ivl (self->broker, 200);
    zsock_set_reconnect_ivl_max (self->broker, 2000);
    if (zsock_connect (self->broker, "%s", args->broker) == -1) {
        zsys_error ("filesvc: bad broker endpoint '%s'", args->broker);
        args->port = -1;
        s_server_destroy (&self);
        return NULL;
    }
    self->poller = zpoller_new (self->pipe, self->router, self->broker, NULL);
    assert (self->poller);
    //  An actor ends on $TERM from its owner, not on the signal flag:
    //  without nonstop, zpoller_wait returns at once after SIGTERM and the
    //  $TERM would never be read (the owner then waits forever).
    zpoller_set_nonstop (self->poller, true);
    return self;
}

//  --------------------------------------------------------------------------
//  Replies and events

static void
s_send (server_t *self, pc_msg_t **reply_p)
{
    pc_msg_send (*reply_p, self->router);
    pc_msg_destroy (reply_p);
}

//  ERROR code text [detail] to request's sender.
static void
s_error (server_t *self, pc_msg_t *request, int code, const char *text, const char *detail)
{
    pc_msg_t *reply = pc_msg_new_error (request, code, text);
    if (detail)
        pc_msg_add (reply, detail);
    s_send (self, &reply);
}

static void
s_unavailable (server_t *self, pc_msg_t *request)
{
    s_error (self, request, PC_ERR_UNAVAILABLE,
             "file storage unavailable (its database is down), try again later", NULL);
}

//  An error of errno's kind: no room (507) or something else (500).
static bool
s_no_room (int error)
{
    return error == ENOSPC || error == EDQUOT || error == EFBIG;
}

//  FEVENT kind fields... (NULL-terminated) to the broker, fire and forget.
static void
s_event (server_t *self, const char *kind, ...)
{
    pc_msg_t *event = pc_msg_new ("FEVENT");
    pc_msg_set_reqid (event, "ev");
    pc_msg_add (event, kind);
    va_list args;
    va_start (args, kind);
    for (const char *field = va_arg (args, const char *); field; field = va_arg (args, const char *))
        pc_msg_add (event, field);
    va_end (args);
    pc_msg_send_nowait (event, self->broker);
    pc_msg_destroy (&event);
}

//  A private file's name is not the monitor's business (PROTOCOL.md).
static const char *
s_event_name (const char *space, const char *name)
{
    return strncmp (space, "dm/", 3) == 0? "-": name;
}

//  file-up, kept and resent until the broker acknowledges it: the broker
//  posts "shared NAME (SIZE)" in the room, once (the file id dedups it).
static void
s_event_file_up (server_t *self, files_entry_t *entry)
{
    pc_msg_t *event = pc_msg_new ("FEVENT");
    char reqid [FILES_ID_SIZE + 4];
    snprintf (reqid, sizeof (reqid), "up-%s", entry->id);
    pc_msg_set_reqid (event, reqid);
    pc_msg_add (event, "file-up");
    pc_msg_add (event, entry->user);
    pc_msg_add (event, entry->space);
    pc_msg_add (event, s_event_name (entry->space, entry->name));
    pc_msg_addf (event, "%" PRIu64, entry->size);
    pc_msg_add (event, entry->id);
    pc_msg_send_nowait (event, self->broker);
    if (zhashx_size (self->outbox) >= OUTBOX_MAX) {
        zsys_warning ("filesvc: %zu events wait for the broker: file-up %s not kept",
                      zhashx_size (self->outbox), entry->id);
        pc_msg_destroy (&event);
        return;
    }
    outgoing_t *outgoing = (outgoing_t *) zmalloc (sizeof (outgoing_t));
    assert (outgoing);
    outgoing->event = event;
    outgoing->next_try = pc_now_ms () + OUTBOX_RETRY_MS;
    outgoing->give_up = pc_now_ms () + OUTBOX_KEEP_MS;
    zhashx_update (self->outbox, reqid, outgoing);
}

//  --------------------------------------------------------------------------
//  Uploads

static upload_t *
s_upload_lookup (server_t *self, pc_msg_t *request)
{
    upload_t *upload = (upload_t *) zhashx_lookup (self->uploads, pc_msg_field (request, 0));
    if (!upload || !streq (upload->key, pc_msg_user_id (request))) {
        s_error (self, request, PC_ERR_NOT_FOUND, "no such upload for this key", NULL);
        return NULL;
    }
    upload->last_used = pc_now_ms ();
    return upload;
}

//  Forgets the upload: its bytes, its record, its place on the quota.
static void
s_upload_discard (server_t *self, upload_t *upload)
{
    files_disk_part_remove (self->disk, upload->entry->id);
    if (files_store_upload_discard (self->store, upload->entry) == -1)
        zsys_warning ("filesvc: upload %s discarded, its record stays until the sweep "
                      "(storage down)", upload->entry->id);
    zhashx_delete (self->uploads, upload->entry->id);
}

//  Parses a field the codec checked as an int; false when negative.
static bool
s_unsigned (const char *text, uint64_t *value)
{
    if (!text || *text == '-')
        return false;
    *value = strtoull (text, NULL, 10);
    return true;
}

static bool
s_sha_valid (const char *text)
{
    if (!text || strlen (text) != 64)
        return false;
    for (const char *c = text; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

static void
s_reply_upload (server_t *self, pc_msg_t *request, upload_t *upload)
{
    pc_msg_t *reply = pc_msg_new_ok (request);
    pc_msg_add (reply, upload->entry->id);
    pc_msg_addf (reply, "%" PRIu64, upload->offset);
    pc_msg_addf (reply, "%d", PC_CHUNK_MAX);
    s_send (self, &reply);
}

//  FPUT of a pending upload of the same user, space, name, size and sha:
//  it goes on at the last whole chunk held, for this key from now on.
static void
s_fput_resume (server_t *self, pc_msg_t *request, files_entry_t *entry)
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
            s_error (self, request, s_no_room (error)? PC_ERR_STORAGE: PC_ERR_INTERNAL,
                     "cannot store the upload on the server", NULL);
            return;
        }
    }
    uint64_t offset = (uint64_t) held > entry->size? entry->size: (uint64_t) held;
    offset -= offset % PC_CHUNK_MAX;
    if ((uint64_t) held != offset)
        files_disk_part_truncate (self->disk, entry->id, offset);
    upload_t *upload = (upload_t *) zhashx_lookup (self->uploads, entry->id);
    if (upload) {
        files_entry_destroy (&entry);
        zstr_free (&upload->key);
    }
    else {
        upload = (upload_t *) zmalloc (sizeof (upload_t));
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
s_fput_replace (server_t *self, const char *user, const char *space, const char *name,
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

static void
s_fput (server_t *self, pc_msg_t *request, const char *user, const char *space)
{
    const char *name = pc_msg_field (request, 1);
    uint64_t size = 0;
    s_unsigned (pc_msg_field (request, 2), &size);      //  checked before FCHECK
    const char *sha = pc_msg_field (request, 3);
    if (size > self->config.files_max) {
        char text [96];
        snprintf (text, sizeof (text), "larger than the largest file allowed here (%llu bytes)",
                  self->config.files_max);
        s_error (self, request, PC_ERR_TOO_LONG, text, NULL);
        return;
    }
    files_entry_t *entry = NULL;
    int rc = files_store_lookup (self->store, space, name, &entry);
    files_entry_destroy (&entry);
    if (rc == 0) {
        s_error (self, request, PC_ERR_CONFLICT, "the space already has a file of that name", NULL);
        return;
    }
    if (rc == 1)
        rc = files_store_upload_find (self->store, user, space, name, size, sha, &entry);
    if (rc == -1) {
        s_unavailable (self, request);
        return;
    }
    if (rc == 0) {
        s_fput_resume (self, request, entry);
        return;
    }
    //  Before the disk and quota checks: what it frees counts for this one
    if (s_fput_replace (self, user, space, name, size, sha) == -1) {
        s_unavailable (self, request);
        return;
    }
    uint64_t free_bytes;
    if (files_disk_free (self->disk, &free_bytes) == 0
    &&  (free_bytes < size || free_bytes - size < self->config.files_min_free)) {
        zsys_warning ("filesvc: %s has %" PRIu64 " bytes free: an upload of %" PRIu64
                      " bytes refused", files_disk_dir (self->disk), free_bytes, size);
        s_error (self, request, PC_ERR_STORAGE, "not enough disk space on the server", NULL);
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
    entry->meta = strdup (pc_msg_field (request, 4));
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
            s_unavailable (self, request);
        else
            s_error (self, request, PC_ERR_STORAGE, text, NULL);
        files_entry_destroy (&entry);
        return;
    }
    if (files_disk_part_create (self->disk, id) == -1) {
        int error = errno;
        zsys_error ("filesvc: cannot create an upload file in %s: %s",
                    files_disk_dir (self->disk), strerror (error));
        files_store_upload_discard (self->store, entry);
        files_entry_destroy (&entry);
        s_error (self, request, s_no_room (error)? PC_ERR_STORAGE: PC_ERR_INTERNAL,
                 "cannot store the upload on the server", NULL);
        return;
    }
    upload_t *upload = (upload_t *) zmalloc (sizeof (upload_t));
    assert (upload);
    upload->entry = entry;
    upload->key = strdup (pc_msg_user_id (request));
    upload->last_used = upload->touched = pc_now_ms ();
    zhashx_insert (self->uploads, id, upload);
    s_debug (self, "filesvc: %s starts upload %s (%" PRIu64 " bytes)", user, id, size);
    s_reply_upload (self, request, upload);
}

static void
s_fdata (server_t *self, pc_msg_t *request)
{
    upload_t *upload = s_upload_lookup (self, request);
    if (!upload)
        return;
    uint64_t offset;
    char held [24];
    snprintf (held, sizeof (held), "%" PRIu64, upload->offset);
    if (!s_unsigned (pc_msg_field (request, 1), &offset) || offset != upload->offset) {
        s_error (self, request, PC_ERR_CONFLICT, "not where the upload stands", held);
        return;
    }
    size_t size = pc_msg_field_size (request, 2);
    if (offset + size > upload->entry->size) {
        s_error (self, request, PC_ERR_TOO_LONG, "past the declared size", NULL);
        return;
    }
    if (files_disk_part_write (self->disk, upload->entry->id, offset,
                               pc_msg_field (request, 2), size) == -1) {
        int error = errno;
        zsys_error ("filesvc: cannot write upload %s at %" PRIu64 ": %s: discarded",
                    upload->entry->id, offset, strerror (error));
        s_upload_discard (self, upload);
        if (s_no_room (error))
            s_error (self, request, PC_ERR_STORAGE,
                     "the server's disk is full: the upload is discarded", NULL);
        else
            s_error (self, request, PC_ERR_INTERNAL,
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
    s_send (self, &reply);
}

static void
s_fdone (server_t *self, pc_msg_t *request)
{
    upload_t *upload = s_upload_lookup (self, request);
    if (!upload)
        return;
    files_entry_t *entry = upload->entry;
    if (upload->offset < entry->size) {
        char held [24];
        snprintf (held, sizeof (held), "%" PRIu64, upload->offset);
        s_error (self, request, PC_ERR_CONFLICT, "the upload is incomplete", held);
        return;
    }
    //  The bytes on disk, not what we think we wrote, are what gets listed
    int rc = files_disk_part_check (self->disk, entry->id, entry->size, entry->sha);
    if (rc != 0) {
        if (rc == -1)
            zsys_error ("filesvc: cannot read upload %s: %s: discarded", entry->id, strerror (errno));
        s_upload_discard (self, upload);
        if (rc == 1)
            s_error (self, request, PC_ERR_CONFLICT,
                     "checksum mismatch: the upload is discarded", NULL);
        else
            s_error (self, request, PC_ERR_INTERNAL, "cannot read the upload: it is discarded", NULL);
        return;
    }
    if (files_disk_part_commit (self->disk, entry->id) == -1) {
        int error = errno;
        zsys_error ("filesvc: cannot keep upload %s: %s: discarded", entry->id, strerror (error));
        s_upload_discard (self, upload);
        s_error (self, request, s_no_room (error)? PC_ERR_STORAGE: PC_ERR_INTERNAL,
                 "cannot store the file on the server: the upload is discarded", NULL);
        return;
    }
    rc = files_store_upload_list (self->store, entry, pc_now_ms ());
    if (rc == -1) {
        //  Not listed: back to a part, so that FDONE can be asked again
        files_disk_part_uncommit (self->disk, entry->id);
        s_unavailable (self, request);
        return;
    }
    if (rc == 1) {
        files_disk_remove (self->disk, entry->id);
        s_upload_discard (self, upload);
        s_error (self, request, PC_ERR_CONFLICT,
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
    s_send (self, &reply);
    s_event_file_up (self, entry);
    zhashx_delete (self->uploads, entry->id);
}

//  --------------------------------------------------------------------------
//  Downloads, listing, removal

static void
s_flist (server_t *self, pc_msg_t *request, const char *space)
{
    zlistx_t *entries = zlistx_new ();
    zlistx_set_destructor (entries, (czmq_destructor *) files_entry_destroy);
    if (files_store_list (self->store, space, entries) == -1) {
        s_unavailable (self, request);
        zlistx_destroy (&entries);
        return;
    }
    const char *after = pc_msg_field (request, 1);
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
    s_send (self, &reply);
    zlistx_destroy (&entries);
}

//  The last byte was read: counted and reported once, the descriptor let go.
static void
s_download_done (server_t *self, handle_t *handle)
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
    s_event (self, "file-down", handle->user, handle->space,
             s_event_name (handle->space, handle->name), size, NULL);
}

static void
s_fopen (server_t *self, pc_msg_t *request, const char *user, const char *space)
{
    files_entry_t *entry = NULL;
    int rc = files_store_lookup (self->store, space, pc_msg_field (request, 1), &entry);
    if (rc == -1) {
        s_unavailable (self, request);
        return;
    }
    if (rc == 1) {
        s_error (self, request, PC_ERR_NOT_FOUND, "no such file", NULL);
        return;
    }
    //  Downloads under way count; of the finished ones (no descriptor) a
    //  key keeps the FILES_HANDLES_MAX most recent, so it cannot pile up
    //  handles either
    const char *key = pc_msg_user_id (request);
    size_t open = 0, finished = 0;
    handle_t *oldest = NULL;
    for (handle_t *handle = (handle_t *) zhashx_first (self->handles); handle;
         handle = (handle_t *) zhashx_next (self->handles))
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
        s_error (self, request, PC_ERR_THROTTLED, text, "1");
        files_entry_destroy (&entry);
        return;
    }
    int fd = files_disk_open (self->disk, entry->id);
    if (fd == -1) {
        zsys_error ("filesvc: file %s is listed but cannot be opened: %s", entry->id,
                    strerror (errno));
        s_error (self, request, PC_ERR_NOT_FOUND, "the file's bytes are missing on the server", NULL);
        files_entry_destroy (&entry);
        return;
    }
    handle_t *handle = (handle_t *) zmalloc (sizeof (handle_t));
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
    s_send (self, &reply);
    if (entry->size == 0)
        s_download_done (self, handle);         //  nothing to read: done
    files_entry_destroy (&entry);
}

static void
s_fread (server_t *self, pc_msg_t *request)
{
    handle_t *handle = (handle_t *) zhashx_lookup (self->handles, pc_msg_field (request, 0));
    if (!handle || !streq (handle->key, pc_msg_user_id (request))) {
        s_error (self, request, PC_ERR_NOT_FOUND, "no such handle for this key", NULL);
        return;
    }
    handle->last_used = pc_now_ms ();
    uint64_t offset, length;
    if (!s_unsigned (pc_msg_field (request, 2), &length) || length < 1 || length > PC_CHUNK_MAX) {
        s_error (self, request, PC_ERR_MALFORMED, "length must be 1-262144", NULL);
        return;
    }
    if (!s_unsigned (pc_msg_field (request, 1), &offset) || offset >= handle->size) {
        s_error (self, request, PC_ERR_MALFORMED, "offset past the end", NULL);
        return;
    }
    if (handle->fd < 0) {       //  read again after the end: open again
        handle->fd = files_disk_open (self->disk, handle->file);
        if (handle->fd < 0) {
            s_error (self, request, PC_ERR_NOT_FOUND, "the file was removed", NULL);
            return;
        }
    }
    size_t want = handle->size - offset < length? (size_t) (handle->size - offset): (size_t) length;
    ssize_t got = files_disk_read (handle->fd, offset, self->buffer, want);
    if (got <= 0) {
        zsys_error ("filesvc: cannot read file of %s at %" PRIu64 ": %s", handle->space, offset,
                    got == 0? "shorter than listed": strerror (errno));
        s_error (self, request, PC_ERR_INTERNAL, "cannot read the file on the server", NULL);
        return;
    }
    pc_msg_t *reply = pc_msg_new ("FCHUNK");
    pc_msg_set_routing_id (reply, pc_msg_routing_id (request));
    pc_msg_set_reqid (reply, pc_msg_reqid (request));
    pc_msg_addf (reply, "%" PRIu64, offset);
    pc_msg_add_mem (reply, self->buffer, (size_t) got);
    s_send (self, &reply);
    self->bytes_out += (uint64_t) got;
    if (offset + (uint64_t) got == handle->size)
        s_download_done (self, handle);
}

static void
s_frm (server_t *self, pc_msg_t *request, const char *user, const char *role, const char *space)
{
    files_entry_t *entry = NULL;
    int rc = files_store_lookup (self->store, space, pc_msg_field (request, 1), &entry);
    if (rc == -1)
        s_unavailable (self, request);
    else
    if (rc == 1)
        s_error (self, request, PC_ERR_NOT_FOUND, "no such file", NULL);
    else
    if (!streq (entry->user, user) && !streq (role, "admin"))
        s_error (self, request, PC_ERR_FORBIDDEN, "only the uploader or an admin may remove a file",
                 NULL);
    else
    if ((rc = files_store_remove (self->store, entry)) == -1)
        s_unavailable (self, request);
    else
    if (rc == 1)
        s_error (self, request, PC_ERR_NOT_FOUND, "no such file", NULL);
    else {
        files_disk_remove (self->disk, entry->id);
        zsys_info ("filesvc: %s removed file %s (%s's) from %s", user, entry->id, entry->user,
                   entry->space);
        pc_msg_t *reply = pc_msg_new_ok (request);
        s_send (self, &reply);
        s_event (self, "file-rm", user, space, s_event_name (space, entry->name), NULL);
    }
    files_entry_destroy (&entry);
}

//  --------------------------------------------------------------------------
//  The broker: FCHECK out, answers in

//  A request that names a space waits for the broker's FCHECK answer.
static void
s_check (server_t *self, pc_msg_t *request)
{
    if (streq (pc_msg_command (request), "FPUT")) {
        //  What needs no broker is refused before asking it
        uint64_t size;
        if (!s_unsigned (pc_msg_field (request, 2), &size)) {
            s_error (self, request, PC_ERR_MALFORMED, "size must be 0 or more", NULL);
            return;
        }
        if (!s_sha_valid (pc_msg_field (request, 3))) {
            s_error (self, request, PC_ERR_MALFORMED,
                     "SHA-256 must be 64 lower-case hex digits", NULL);
            return;
        }
    }
    if (zhashx_size (self->checks) >= CHECKS_MAX) {
        s_error (self, request, PC_ERR_UNAVAILABLE, "the file service is busy, try again", NULL);
        return;
    }
    char reqid [32];
    snprintf (reqid, sizeof (reqid), "k%" PRIu64, ++self->next_check);
    pc_msg_t *ask = pc_msg_new ("FCHECK");
    pc_msg_set_reqid (ask, reqid);
    pc_msg_add (ask, pc_msg_user_id (request));
    pc_msg_add (ask, pc_msg_field (request, 0));
    int rc = pc_msg_send_nowait (ask, self->broker);
    pc_msg_destroy (&ask);
    if (rc == -1) {
        if (!self->broker_lost)
            zsys_warning ("filesvc: the broker is not connected: answering 503");
        self->broker_lost = true;
        s_error (self, request, PC_ERR_UNAVAILABLE,
                 "the file service cannot reach the broker to check your session, try again",
                 NULL);
        return;
    }
    check_t *check = (check_t *) zmalloc (sizeof (check_t));
    assert (check);
    check->request = pc_msg_dup (request);
    check->deadline = pc_now_ms () + FILES_CHECK_MS;
    zhashx_insert (self->checks, reqid, check);
}

//  The broker said who the key is and which space it may use.
static void
s_checked (server_t *self, pc_msg_t *request, pc_msg_t *answer)
{
    if (!pc_msg_is (answer, "OK")) {
        int code = pc_msg_error_code (answer);
        if (code < 400 || code > 599)
            code = PC_ERR_UNAVAILABLE;
        s_error (self, request, code, pc_msg_error_reason (answer), NULL);
        return;
    }
    const char *user = pc_msg_field (answer, 0);
    const char *role = pc_msg_field (answer, 1);
    const char *space = pc_msg_field (answer, 2);
    if (pc_msg_nfields (answer) != 3 || !pc_name_valid (user) || !space
    ||  strlen (space) > PC_ID_MAX
    ||  (strncmp (space, "room/", 5) != 0 && strncmp (space, "dm/", 3) != 0)) {
        zsys_warning ("filesvc: unexpected FCHECK answer from the broker");
        s_error (self, request, PC_ERR_INTERNAL, "unexpected answer from the broker", NULL);
        return;
    }
    const char *command = pc_msg_command (request);
    s_debug (self, "filesvc: %s %s in %s", user, command, space);
    if (streq (command, "FLIST"))
        s_flist (self, request, space);
    else
    if (streq (command, "FPUT"))
        s_fput (self, request, user, space);
    else
    if (streq (command, "FOPEN"))
        s_fopen (self, request, user, space);
    else
        s_frm (self, request, user, role, space);
}

static void
s_handle_broker (server_t *self)
{
    pc_msg_t *answer = self->answer;
    if (pc_msg_recv (answer, self->broker) != 0) {
        zsys_warning ("filesvc: malformed message from the broker: %s", pc_msg_error_text (answer));
        return;
    }
    if (self->broker_lost)
        zsys_info ("filesvc: the broker answers again");
    self->broker_lost = false;
    const char *reqid = pc_msg_reqid (answer);
    check_t *check = (check_t *) zhashx_lookup (self->checks, reqid);
    if (check) {
        s_checked (self, check->request, answer);
        zhashx_delete (self->checks, reqid);
        return;
    }
    outgoing_t *outgoing = (outgoing_t *) zhashx_lookup (self->outbox, reqid);
    if (outgoing && pc_msg_is (answer, "OK"))
        zhashx_delete (self->outbox, reqid);
    else
    if (outgoing)
        zsys_warning ("filesvc: the broker refused %s (%d %s): will try again", reqid,
                      pc_msg_error_code (answer), pc_msg_error_reason (answer));
    //  else: a late FCHECK answer (the client had its 503) or an event's OK
}

//  --------------------------------------------------------------------------
//  Client requests

//  Answers the request just read (rc from pc_msg_recv/next), or asks the
//  broker first. -1 when nothing could be read.
static int
s_handle_one (server_t *self, int rc)
{
    pc_msg_t *request = self->request;
    if (rc == -1)
        return -1;
    const char *key = pc_msg_user_id (request);
    if (rc == -2) {
        self->malformed++;
        zsys_warning ("filesvc: malformed request from %s: %s", key? key: "?",
                      pc_msg_error_text (request));
        if (pc_msg_routing_id (request))
            s_error (self, request, pc_msg_error (request), pc_msg_error_text (request), NULL);
        return 0;
    }
    if (!key) {                 //  cannot happen with CURVE; refuse, don't assert
        s_error (self, request, PC_ERR_FORBIDDEN, "no CURVE identity", NULL);
        return 0;
    }
    const char *command = pc_msg_command (request);
    if (streq (command, "PING")) {
        pc_msg_t *reply = pc_msg_new_ok (request);
        pc_msg_add (reply, "PONG");
        s_send (self, &reply);
    }
    else
    if (streq (command, "FLIST") || streq (command, "FPUT") || streq (command, "FOPEN")
    ||  streq (command, "FRM"))
        s_check (self, request);
    else
    if (streq (command, "FDATA"))
        s_fdata (self, request);
    else
    if (streq (command, "FDONE"))
        s_fdone (self, request);
    else
    if (streq (command, "FREAD"))
        s_fread (self, request);
    else {
        self->malformed++;
        s_error (self, request, PC_ERR_UNKNOWN, "not a file service command", NULL);
    }
    return 0;
}

//  Reads one frame of requests and answers each (a frame may hold a
//  batch). -1 when nothing could be read.
static int
s_handle_request (server_t *self)
{
    int rc = s_handle_one (self, pc_msg_recv (self->request, self->router));
    while (rc == 0 && pc_msg_more (self->request))
        rc = s_handle_one (self, pc_msg_next (self->request));
    return rc;
}

//  --------------------------------------------------------------------------
//  Timers

static void
s_expire (server_t *self, int64_t now)
{
    zlistx_t *doomed = zlistx_new ();
    zlistx_set_destructor (doomed, (czmq_destructor *) zstr_free);
    for (check_t *check = (check_t *) zhashx_first (self->checks); check;
         check = (check_t *) zhashx_next (self->checks))
        if (now >= check->deadline) {
            s_error (self, check->request, PC_ERR_UNAVAILABLE,
                     "the broker is not answering: cannot check your session, try again", NULL);
            zlistx_add_end (doomed, strdup ((const char *) zhashx_cursor (self->checks)));
        }
    if (zlistx_size (doomed))
        zsys_warning ("filesvc: %zu request(s) got no FCHECK answer from the broker",
                      zlistx_size (doomed));
    for (char *id = (char *) zlistx_first (doomed); id; id = (char *) zlistx_next (doomed))
        zhashx_delete (self->checks, id);
    zlistx_purge (doomed);

    for (handle_t *handle = (handle_t *) zhashx_first (self->handles); handle;
         handle = (handle_t *) zhashx_next (self->handles))
        if (now - handle->last_used >= FILES_HANDLE_IDLE_MS)
            zlistx_add_end (doomed, strdup (handle->id));
    for (char *id = (char *) zlistx_first (doomed); id; id = (char *) zlistx_next (doomed))
        zhashx_delete (self->handles, id);
    zlistx_purge (doomed);

    //  An idle upload stays in Redis (and on disk): FPUT resumes it
    for (upload_t *upload = (upload_t *) zhashx_first (self->uploads); upload;
         upload = (upload_t *) zhashx_next (self->uploads))
        if (now - upload->last_used >= FILES_UPLOAD_IDLE_MS)
            zlistx_add_end (doomed, strdup (upload->entry->id));
    for (char *id = (char *) zlistx_first (doomed); id; id = (char *) zlistx_next (doomed))
        zhashx_delete (self->uploads, id);
    zlistx_destroy (&doomed);
}

static void
s_resend_events (server_t *self, int64_t now)
{
    zlistx_t *expired = zlistx_new ();
    zlistx_set_destructor (expired, (czmq_destructor *) zstr_free);
    for (outgoing_t *outgoing = (outgoing_t *) zhashx_first (self->outbox); outgoing;
         outgoing = (outgoing_t *) zhashx_next (self->outbox)) {
        if (now >= outgoing->give_up)
            zlistx_add_end (expired, strdup ((const char *) zhashx_cursor (self->outbox)));
        else
        if (now >= outgoing->next_try) {
            pc_msg_send_nowait (outgoing->event, self->broker);
            outgoing->next_try = now + OUTBOX_RETRY_MS;
        }
    }
    if (zlistx_size (expired))
        zsys_warning ("filesvc: the broker never acknowledged %zu file-up event(s)",
                      zlistx_size (expired));
    for (char *id = (char *) zlistx_first (expired); id; id = (char *) zlistx_next (expired))
        zhashx_delete (self->outbox, id);
    zlistx_destroy (&expired);
}

//  Pending uploads untouched for FILES_STALE_MS go, with their bytes; so do
//  parts as old that Redis does not know (it lost them, or was wiped).
static void
s_sweep (server_t *self, int64_t now)
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

static void
s_tick (server_t *self)
{
    int64_t now = pc_now_ms ();
    s_expire (self, now);
    if (now >= self->next_event) {
        size_t downloading = 0;
        for (handle_t *handle = (handle_t *) zhashx_first (self->handles); handle;
             handle = (handle_t *) zhashx_next (self->handles))
            if (handle->fd >= 0)
                downloading++;
        char counts [6][24];
        snprintf (counts [0], 24, "%zu", zhashx_size (self->uploads));
        snprintf (counts [1], 24, "%zu", downloading);
        snprintf (counts [2], 24, "%" PRIu64, self->uploads_total);
        snprintf (counts [3], 24, "%" PRIu64, self->downloads_total);
        snprintf (counts [4], 24, "%" PRIu64, self->bytes_in);
        snprintf (counts [5], 24, "%" PRIu64, self->bytes_out);
        s_event (self, "files", counts [0], counts [1], counts [2], counts [3], counts [4],
                 counts [5], NULL);
        s_resend_events (self, now);
        self->next_event = now + FILES_EVENT_MS;
    }
    if (now >= self->next_sweep) {
        s_sweep (self, now);
        self->next_sweep = now + SWEEP_MS;
    }
}

static void
s_handle_pipe (server_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "VERBOSE"))
        self->verbose = true;
    else
    if (streq (command, "SWEEP")) {         //  now, not in 10 minutes (tests)
        s_sweep (self, pc_now_ms ());
        zstr_send (self->pipe, "SWEPT");
    }
    zstr_free (&command);
}

void
files_server_actor (zsock_t *pipe, void *args)
{
    assert (args);
    server_t *self = s_server_new (pipe, (files_server_args_t *) args);
    zsock_signal (pipe, 0);             //  ready (args->port tells how it went)
    if (!self)
        return;
    int64_t next_tick = pc_now_ms () + TICK_MS;
    while (!self->terminated) {
        int64_t wait = next_tick - pc_now_ms ();
        void *which = zpoller_wait (self->poller, (int) (wait > 0? wait: 0));
        if (which == self->pipe)
            s_handle_pipe (self);
        //  zpoller_wait names only the first ready socket: serve both that
        //  are ready each turn, so that clients streaming chunks cannot
        //  starve the broker's FCHECK answers (or the other way round).
        //  One request per turn from each waiting peer (the ROUTER queues
        //  fairly), a burst at most, then the timers.
        if (which == self->router || (zsock_events (self->router) & ZMQ_POLLIN))
            for (int count = 0; count < BURST_MAX; count++)
                if (s_handle_request (self) == -1
                ||  !(zsock_events (self->router) & ZMQ_POLLIN))
                    break;
        for (int count = 0; count < BURST_MAX && (zsock_events (self->broker) & ZMQ_POLLIN); count++)
            s_handle_broker (self);
        if (pc_now_ms () >= next_tick) {
            s_tick (self);
            next_tick = pc_now_ms () + TICK_MS;
        }
    }
    zsys_info ("filesvc: stopping (%" PRIu64 " uploads, %" PRIu64 " downloads, %" PRIu64
               " malformed requests)", self->uploads_total, self->downloads_total, self->malformed);
    s_server_destroy (&self);
}

//  --------------------------------------------------------------------------
//  Selftest: the real actor, a fake broker (a ROUTER with the broker's key
//  that answers FCHECK and FEVENT) and a client, all in this process.

static const char *s_test_alice;        //  the key the fake broker knows as alice

//  Sends frames (NULL-terminated) from dealer; the reply or NULL. With
//  broker, the fake broker answers the FCHECK this causes: alice may use
//  "lobby", anyone else is refused, and "silent" gets no answer at all.
static pc_msg_t *
s_test_call (zsock_t *dealer, zsock_t *broker, const char *first, ...)
{
    zmsg_t *msg = zmsg_new ();
    va_list args;
    va_start (args, first);
    for (const char *frame = first; frame; frame = va_arg (args, const char *))
        zmsg_addstr (msg, frame);
    va_end (args);
    assert (zmsg_send (&msg, dealer) == 0);
    //  A request that names a space: the fake broker answers its FCHECK
    if (broker) {
        pc_msg_t *ask = pc_msg_new (NULL);
        while (true) {
            assert (pc_msg_recv (ask, broker) == 0);
            if (pc_msg_is (ask, "FCHECK"))
                break;
            pc_msg_t *ok = pc_msg_new_ok (ask);         //  an FEVENT
            pc_msg_send (ok, broker);
            pc_msg_destroy (&ok);
        }
        const char *space = pc_msg_field (ask, 1);
        pc_msg_t *answer;
        if (streq (space, "lobby") && streq (pc_msg_field (ask, 0), s_test_alice)) {
            answer = pc_msg_new_ok (ask);
            pc_msg_add (answer, "alice");
            pc_msg_add (answer, "user");
            pc_msg_add (answer, "room/lobby");
        }
        else
            answer = pc_msg_new_error (ask, PC_ERR_FORBIDDEN, "join the room first");
        if (!streq (space, "silent"))
            pc_msg_send (answer, broker);
        pc_msg_destroy (&answer);
        pc_msg_destroy (&ask);
    }
    pc_msg_t *reply = pc_msg_new (NULL);
    if (pc_msg_recv (reply, dealer) != 0)
        pc_msg_destroy (&reply);
    return reply;
}

static void
s_test_error (pc_msg_t **reply_p, int code)
{
    assert (*reply_p);
    if (pc_msg_error_code (*reply_p) != code)
        printf ("expected %d, got %s %d %s\n", code, pc_msg_command (*reply_p),
                pc_msg_error_code (*reply_p), pc_msg_error_reason (*reply_p));
    assert (pc_msg_error_code (*reply_p) == code);
    pc_msg_destroy (reply_p);
}

void
files_server_test (bool verbose)
{
    printf (" * files_server: ");
    int redis_port = 0;
    pid_t redis = pc_redis_server_start (&redis_port);
    if (redis == -1) {
        printf ("SKIPPED (cannot start redis-server)\n");
        return;
    }
    char dir [] = "/tmp/files_server_test.XXXXXX";
    assert (mkdtemp (dir));
    pc_config_t config;
    assert (pc_config_load (&config) == 0);
    snprintf (config.files_dir, sizeof (config.files_dir), "%s/files", dir);
    snprintf (config.redis_host, sizeof (config.redis_host), "127.0.0.1");
    config.redis_port = redis_port;
    config.files_max = 1 << 20;
    config.files_quota = 2 << 20;
    config.files_min_free = 0;

    zactor_t *zap = pc_zap_new ();
    pc_zap_allow_any (zap, "clients");
    zcert_t *broker_cert = zcert_new ();
    zcert_t *service_cert = zcert_new ();
    zcert_t *client_cert = zcert_new ();
    zcert_t *other_cert = zcert_new ();
    s_test_alice = zcert_public_txt (client_cert);
    //  The fake broker
    zsock_t *broker = zsock_new (ZMQ_ROUTER);
    zcert_apply (broker_cert, broker);
    pc_zap_secure (broker, "clients");
    zsock_set_rcvtimeo (broker, 5000);
    int broker_port = zsock_bind (broker, "tcp://127.0.0.1:*");
    assert (broker_port > 0);
    char broker_endpoint [64];
    snprintf (broker_endpoint, sizeof (broker_endpoint), "tcp://127.0.0.1:%d", broker_port);
    files_server_args_t args = {
        &config, service_cert, zcert_public_txt (broker_cert), "tcp://127.0.0.1:*",
        broker_endpoint, verbose, 0
    };
    zactor_t *server = zactor_new (files_server_actor, &args);
    assert (server && args.port > 0);
    zsock_t *client = pc_keys_client (ZMQ_DEALER, client_cert, zcert_public_txt (service_cert));
    zsock_set_rcvtimeo (client, 5000);
    assert (zsock_connect (client, "tcp://127.0.0.1:%d", args.port) == 0);
    zsock_t *other = pc_keys_client (ZMQ_DEALER, other_cert, zcert_public_txt (service_cert));
    zsock_set_rcvtimeo (other, 5000);
    assert (zsock_connect (other, "tcp://127.0.0.1:%d", args.port) == 0);

    pc_msg_t *reply = s_test_call (client, NULL, PC_SIGNATURE, "PING", "p1", NULL);
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_msg_field (reply, 0), "PONG"));
    pc_msg_destroy (&reply);
    //  Malformed and unknown: an error each, and the service goes on
    reply = s_test_call (client, NULL, "GET / HTTP/1.0", "x", "y", NULL);
    s_test_error (&reply, PC_ERR_MALFORMED);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "SEND", "s1", "lobby", "c1", "hi", NULL);
    s_test_error (&reply, PC_ERR_UNKNOWN);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FLIST", "l0", NULL);
    s_test_error (&reply, PC_ERR_MALFORMED);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FPUT", "u0", "lobby", "a.txt", "5",
                         "not-a-sha", "", NULL);
    s_test_error (&reply, PC_ERR_MALFORMED);

    //  An empty room, then an upload in two chunks
    reply = s_test_call (client, broker, PC_SIGNATURE, "FLIST", "l1", "lobby", NULL);
    assert (reply && pc_msg_is (reply, "OK") && pc_msg_nfields (reply) == 0);
    pc_msg_destroy (&reply);
    const char *text = "hello, files";
    char sha [65];
    files_disk_sha256_hex (text, strlen (text), sha);
    reply = s_test_call (client, broker, PC_SIGNATURE, "FPUT", "u1", "lobby", "hello.txt", "12",
                         sha, "", NULL);
    assert (reply && pc_msg_is (reply, "OK") && pc_msg_nfields (reply) == 3);
    char *upload = strdup (pc_msg_field (reply, 0));
    assert (streq (pc_msg_field (reply, 1), "0"));
    assert (atoi (pc_msg_field (reply, 2)) == PC_CHUNK_MAX);
    pc_msg_destroy (&reply);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDATA", "d1", upload, "0", "hello", NULL);
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_msg_field (reply, 0), "5"));
    pc_msg_destroy (&reply);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDATA", "d2", upload, "0", "hello", NULL);
    assert (pc_msg_error_code (reply) == PC_ERR_CONFLICT && streq (pc_msg_field (reply, 2), "5"));
    pc_msg_destroy (&reply);
    reply = s_test_call (other, NULL, PC_SIGNATURE, "FDATA", "d3", upload, "5", ", files", NULL);
    s_test_error (&reply, PC_ERR_NOT_FOUND);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDONE", "f0", upload, NULL);
    s_test_error (&reply, PC_ERR_CONFLICT);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDATA", "d4", upload, "5", ", files!", NULL);
    s_test_error (&reply, PC_ERR_TOO_LONG);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDATA", "d5", upload, "5", ", files", NULL);
    assert (reply && streq (pc_msg_field (reply, 0), "12"));
    pc_msg_destroy (&reply);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDONE", "f1", upload, NULL);
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_msg_field (reply, 0), "hello.txt"));
    assert (streq (pc_msg_field (reply, 1), "12") && streq (pc_msg_field (reply, 2), sha));
    pc_msg_destroy (&reply);
    //  The broker hears file-up, with the file id to post it once
    pc_msg_t *event = pc_msg_new (NULL);
    do
        assert (pc_msg_recv (event, broker) == 0);
    while (!streq (pc_msg_field (event, 0), "file-up"));
    assert (pc_msg_is (event, "FEVENT") && pc_msg_nfields (event) == 6);
    assert (streq (pc_msg_field (event, 1), "alice") && streq (pc_msg_field (event, 2), "room/lobby"));
    assert (streq (pc_msg_field (event, 3), "hello.txt") && streq (pc_msg_field (event, 4), "12"));
    assert (streq (pc_msg_field (event, 5), upload));
    pc_msg_t *ok = pc_msg_new_ok (event);
    pc_msg_send (ok, broker);
    pc_msg_destroy (&ok);
    pc_msg_destroy (&event);

    //  Listed; a second FPUT of the name is a conflict
    reply = s_test_call (client, broker, PC_SIGNATURE, "FLIST", "l2", "lobby", NULL);
    assert (reply && pc_msg_nfields (reply) == 5 && streq (pc_msg_field (reply, 0), "hello.txt"));
    assert (streq (pc_msg_field (reply, 2), "alice") && streq (pc_msg_field (reply, 4), sha));
    pc_msg_destroy (&reply);
    reply = s_test_call (client, broker, PC_SIGNATURE, "FLIST", "l3", "lobby", "hello.txt", NULL);
    assert (reply && pc_msg_is (reply, "OK") && pc_msg_nfields (reply) == 0);
    pc_msg_destroy (&reply);
    reply = s_test_call (client, broker, PC_SIGNATURE, "FPUT", "u2", "lobby", "hello.txt", "12",
                         sha, "", NULL);
    s_test_error (&reply, PC_ERR_CONFLICT);
    reply = s_test_call (client, broker, PC_SIGNATURE, "FPUT", "u3", "lobby", "big.bin", "2000000",
                         sha, "", NULL);
    s_test_error (&reply, PC_ERR_TOO_LONG);
    //  The broker says no: its code and reason reach the client
    reply = s_test_call (other, broker, PC_SIGNATURE, "FLIST", "l4", "lobby", NULL);
    s_test_error (&reply, PC_ERR_FORBIDDEN);

    //  Download: the bytes come back; the handle is the key's alone
    reply = s_test_call (client, broker, PC_SIGNATURE, "FOPEN", "o1", "lobby", "hello.txt", NULL);
    assert (reply && pc_msg_is (reply, "OK") && pc_msg_nfields (reply) == 6);
    char *handle = strdup (pc_msg_field (reply, 0));
    assert (streq (pc_msg_field (reply, 1), "12") && streq (pc_msg_field (reply, 3), "alice"));
    pc_msg_destroy (&reply);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FREAD", "r1", handle, "7", "100", NULL);
    assert (reply && pc_msg_is (reply, "FCHUNK") && streq (pc_msg_field (reply, 0), "7"));
    assert (pc_msg_field_size (reply, 1) == 5 && memcmp (pc_msg_field (reply, 1), "files", 5) == 0);
    pc_msg_destroy (&reply);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FREAD", "r2", handle, "12", "100", NULL);
    s_test_error (&reply, PC_ERR_MALFORMED);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FREAD", "r3", handle, "0", "0", NULL);
    s_test_error (&reply, PC_ERR_MALFORMED);
    reply = s_test_call (other, NULL, PC_SIGNATURE, "FREAD", "r4", handle, "0", "100", NULL);
    s_test_error (&reply, PC_ERR_NOT_FOUND);
    reply = s_test_call (client, broker, PC_SIGNATURE, "FOPEN", "o2", "lobby", "nothere", NULL);
    s_test_error (&reply, PC_ERR_NOT_FOUND);

    //  A wrong checksum: refused, not listed
    reply = s_test_call (client, broker, PC_SIGNATURE, "FPUT", "u4", "lobby", "liar.txt", "5",
                         sha, "", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    char *liar = strdup (pc_msg_field (reply, 0));
    pc_msg_destroy (&reply);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDATA", "d6", liar, "0", "lies!", NULL);
    pc_msg_destroy (&reply);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDONE", "f2", liar, NULL);
    s_test_error (&reply, PC_ERR_CONFLICT);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDONE", "f3", liar, NULL);
    s_test_error (&reply, PC_ERR_NOT_FOUND);

    //  Removal: gone from the list and from the disk
    reply = s_test_call (client, broker, PC_SIGNATURE, "FRM", "m1", "lobby", "hello.txt", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    reply = s_test_call (client, broker, PC_SIGNATURE, "FLIST", "l5", "lobby", NULL);
    assert (reply && pc_msg_is (reply, "OK") && pc_msg_nfields (reply) == 0);
    pc_msg_destroy (&reply);
    char path [PATH_MAX];
    snprintf (path, sizeof (path), "%s/files/%s", dir, upload);
    assert (access (path, F_OK) == -1);

    //  A pending upload untouched for a day is swept, bytes, record and quota
    reply = s_test_call (client, broker, PC_SIGNATURE, "FPUT", "u5", "lobby", "old.txt", "12",
                         sha, "", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    char *old = strdup (pc_msg_field (reply, 0));
    pc_msg_destroy (&reply);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDATA", "d7", old, "0", "hello", NULL);
    pc_msg_destroy (&reply);
    snprintf (path, sizeof (path), "%s/files/tmp/%s.part", dir, old);
    assert (access (path, F_OK) == 0);
    redisContext *redis_test = redisConnect ("127.0.0.1", redis_port);
    assert (redis_test && !redis_test->err);
    redisReply *raw = (redisReply *) redisCommand (redis_test, "GET fquota:alice");
    assert (raw && raw->type == REDIS_REPLY_STRING && streq (raw->str, "12"));
    freeReplyObject (raw);
    raw = (redisReply *) redisCommand (redis_test, "ZADD fuploads XX 1 %s", old);
    freeReplyObject (raw);
    raw = (redisReply *) redisCommand (redis_test, "ZADD fuploads 1 00000000000000000000000000000abc");
    freeReplyObject (raw);      //  a leftover without its record
    zstr_send (server, "SWEEP");
    char *swept = zstr_recv (server);
    assert (swept && streq (swept, "SWEPT"));
    zstr_free (&swept);
    assert (access (path, F_OK) == -1);
    raw = (redisReply *) redisCommand (redis_test, "GET fquota:alice");
    assert (raw && raw->type == REDIS_REPLY_STRING && streq (raw->str, "0"));
    freeReplyObject (raw);
    raw = (redisReply *) redisCommand (redis_test, "ZCARD fuploads");
    assert (raw && raw->type == REDIS_REPLY_INTEGER && raw->integer == 0);
    freeReplyObject (raw);
    redisFree (redis_test);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDATA", "d8", old, "5", ", files", NULL);
    s_test_error (&reply, PC_ERR_NOT_FOUND);
    zstr_free (&old);

    //  The newest FPUT of a name wins: put again with another SHA-256 (the
    //  file changed), the pending upload goes, bytes, record and quota, even
    //  when the user is at her quota (2 MiB here)
    reply = s_test_call (client, broker, PC_SIGNATURE, "FPUT", "u6", "lobby", "a.bin", "1048576",
                         sha, "", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    reply = s_test_call (client, broker, PC_SIGNATURE, "FPUT", "u7", "lobby", "b.bin", "1048576",
                         sha, "", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    char *first = strdup (pc_msg_field (reply, 0));
    pc_msg_destroy (&reply);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDATA", "d9", first, "0", "hello", NULL);
    assert (reply && pc_msg_is (reply, "OK"));
    pc_msg_destroy (&reply);
    snprintf (path, sizeof (path), "%s/files/tmp/%s.part", dir, first);
    assert (access (path, F_OK) == 0);
    reply = s_test_call (client, broker, PC_SIGNATURE, "FPUT", "u8", "lobby", "c.bin", "1",
                         sha, "", NULL);
    s_test_error (&reply, PC_ERR_STORAGE);
    char changed [65];
    files_disk_sha256_hex ("changed", 7, changed);
    reply = s_test_call (client, broker, PC_SIGNATURE, "FPUT", "u9", "lobby", "b.bin", "1048576",
                         changed, "", NULL);
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_msg_field (reply, 1), "0"));
    char *second = strdup (pc_msg_field (reply, 0));
    assert (!streq (second, first));
    pc_msg_destroy (&reply);
    assert (access (path, F_OK) == -1);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDATA", "d10", first, "5", ", files", NULL);
    s_test_error (&reply, PC_ERR_NOT_FOUND);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDONE", "f4", first, NULL);
    s_test_error (&reply, PC_ERR_NOT_FOUND);
    redis_test = redisConnect ("127.0.0.1", redis_port);
    assert (redis_test && !redis_test->err);
    raw = (redisReply *) redisCommand (redis_test, "GET fquota:alice");
    assert (raw && raw->type == REDIS_REPLY_STRING && streq (raw->str, "2097152"));
    freeReplyObject (raw);
    //  The same FPUT again resumes the new one; still at the quota
    reply = s_test_call (client, broker, PC_SIGNATURE, "FPUT", "u10", "lobby", "b.bin", "1048576",
                         changed, "", NULL);
    assert (reply && pc_msg_is (reply, "OK") && streq (pc_msg_field (reply, 0), second));
    pc_msg_destroy (&reply);
    reply = s_test_call (client, broker, PC_SIGNATURE, "FPUT", "u11", "lobby", "c.bin", "1",
                         sha, "", NULL);
    s_test_error (&reply, PC_ERR_STORAGE);
    //  Another size replaces it too; a.bin, another name, is untouched
    reply = s_test_call (client, broker, PC_SIGNATURE, "FPUT", "u12", "lobby", "b.bin", "12",
                         sha, "", NULL);
    assert (reply && pc_msg_is (reply, "OK") && !streq (pc_msg_field (reply, 0), second));
    pc_msg_destroy (&reply);
    reply = s_test_call (client, NULL, PC_SIGNATURE, "FDATA", "d11", second, "0", "hello", NULL);
    s_test_error (&reply, PC_ERR_NOT_FOUND);
    raw = (redisReply *) redisCommand (redis_test, "GET fquota:alice");
    assert (raw && raw->type == REDIS_REPLY_STRING && streq (raw->str, "1048588"));
    freeReplyObject (raw);
    raw = (redisReply *) redisCommand (redis_test, "ZCARD fuploads");
    assert (raw && raw->type == REDIS_REPLY_INTEGER && raw->integer == 2);
    freeReplyObject (raw);
    redisFree (redis_test);
    zstr_free (&first);
    zstr_free (&second);

    //  A broker that does not answer: 503 after FILES_CHECK_MS
    int64_t start = zclock_mono ();
    reply = s_test_call (client, broker, PC_SIGNATURE, "FLIST", "l6", "silent", NULL);
    s_test_error (&reply, PC_ERR_UNAVAILABLE);
    assert (zclock_mono () - start >= FILES_CHECK_MS - 100);

    zstr_free (&upload);
    zstr_free (&handle);
    zstr_free (&liar);
    zsock_destroy (&client);
    zsock_destroy (&other);
    zactor_destroy (&server);
    zsock_destroy (&broker);
    zcert_destroy (&broker_cert);
    zcert_destroy (&service_cert);
    zcert_destroy (&client_cert);
    zcert_destroy (&other_cert);
    pc_zap_destroy (&zap);
    pc_redis_server_stop (redis);
    char command [PATH_MAX + 16];
    snprintf (command, sizeof (command), "rm -rf '%s'", dir);
    assert (system (command) == 0);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

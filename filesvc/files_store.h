//  files_store.h: the file service's metadata in Redis (hiredis).
//
//  Keys (PROTOCOL.md, "Storage"):
//    fspace:SPACE-ID   hash: file name -> file id (what FLIST lists)
//    fmeta:ID          hash: space, name, size, sha, from, time, meta
//    fupload:ID        hash: user, space, name, size, sha, meta, touched
//    fuploads:USER     hash: "SPACE-ID\nSIZE\nSHA\nNAME" -> upload id (resume)
//    fuploads          sorted set: upload id by last touched (Unix ms)
//    fquota:USER       bytes of the user's files and pending uploads
//
//  Every change that spans keys is one Lua script (atomic), so an upload
//  is pending or listed, never half of each, and the quota follows.
//  Like auth_store: the connection is made lazily and dropped on any error,
//  so the store recovers by itself when Redis returns; an outage is logged
//  once. Every call answers within about 1 s (connect) + 2 s (command).
#ifndef FILES_STORE_H_INCLUDED
#define FILES_STORE_H_INCLUDED

#include <czmq.h>

typedef struct _files_store_t files_store_t;

//  A listed file, or a pending upload (user is the uploader; from and time
//  are set for a listed file, touched for an upload).
typedef struct {
    char    *id;
    char    *space;
    char    *name;
    char    *sha;
    char    *meta;
    char    *user;
    uint64_t size;
    int64_t  time;
} files_entry_t;

void        files_entry_destroy      (files_entry_t **self_p);

//  Does not connect yet; never NULL.
files_store_t *files_store_new       (const char *host, int port);
void        files_store_destroy      (files_store_t **self_p);
//  False while Redis does not answer (as of the last call).
bool        files_store_available    (files_store_t *self);

//  The files of space, sorted by name (files_entry_t, the list owns them).
//  0 | -1 unavailable.
int         files_store_list         (files_store_t *self, const char *space, zlistx_t *entries);
//  The file name in space: 0 found (*entry_p caller's), 1 none, -1.
int         files_store_lookup       (files_store_t *self, const char *space, const char *name,
                                      files_entry_t **entry_p);

//  A pending upload of user with these space, name, size and sha (resume):
//  0 found (*entry_p caller's), 1 none, -1.
int         files_store_upload_find  (files_store_t *self, const char *user, const char *space,
                                      const char *name, uint64_t size, const char *sha,
                                      files_entry_t **entry_p);
//  The pending upload id: 0 found (*entry_p caller's), 1 none, -1.
int         files_store_upload_get   (files_store_t *self, const char *id, files_entry_t **entry_p);
//  Records a new pending upload (entry: id, user, space, name, size, sha,
//  meta) and reserves its size on the user's quota, unless that would go
//  over quota bytes or the user already has max_pending uploads: 0 begun,
//  1 over quota (*used_p: bytes already used), 2 too many pending, -1.
int         files_store_upload_begin (files_store_t *self, files_entry_t *entry, uint64_t quota,
                                      size_t max_pending, int64_t now_ms, uint64_t *used_p);
//  Marks the upload as used now (the stale sweep spares it): 0 | -1.
int         files_store_upload_touch (files_store_t *self, const char *id, int64_t now_ms);
//  Forgets the pending upload and gives its size back to the quota (once,
//  however often it is called): 0 | -1.
int         files_store_upload_discard (files_store_t *self, files_entry_t *entry);
//  The newest FPUT of a name wins: discards every pending upload of user in
//  space named name whose size or sha differs from these (the exact match,
//  which FPUT resumes, stays), each as files_store_upload_discard does, so
//  its size goes back to the quota once. Adds the ids discarded to ids (the
//  list owns the strings), also those discarded before a failure: 0 | -1.
int         files_store_upload_replace (files_store_t *self, const char *user, const char *space,
                                        const char *name, uint64_t size, const char *sha,
                                        zlistx_t *ids);
//  Lists the finished upload as a file (from = entry->user, time = now):
//  0 listed, 1 the space has a file of that name, -1.
int         files_store_upload_list  (files_store_t *self, files_entry_t *entry, int64_t now_ms);
//  Ids of uploads untouched since before cutoff_ms, at most limit (the list
//  owns the strings): 0 | -1.
int         files_store_upload_stale (files_store_t *self, int64_t cutoff_ms, size_t limit,
                                      zlistx_t *ids);

//  Unlists entry (from files_store_lookup) and gives its size back to its
//  uploader's quota: 0 removed, 1 it was not listed (any more), -1.
int         files_store_remove       (files_store_t *self, files_entry_t *entry);
//  Bytes on user's quota: 0 | -1.
int         files_store_quota_used   (files_store_t *self, const char *user, uint64_t *used_p);

void        files_store_test         (bool verbose);
#endif

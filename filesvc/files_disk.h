//  files_disk.h: the file service's bytes on disk (PROTOCOL.md, "Storage").
//
//  DIR/tmp/ID.part   an upload, appended in order
//  DIR/ID            a listed file, renamed into place after its check
//
//  IDs are random lower-case hex made here (files_disk_new_id): a user's
//  file name never reaches a path. Nothing is held in memory: writes and
//  reads go one chunk at a time, the check streams the file through
//  SHA-256. Calls that fail return -1 with errno set (ENOSPC, EDQUOT and
//  EFBIG mean "no room", which the caller answers with 507).
#ifndef FILES_DISK_H_INCLUDED
#define FILES_DISK_H_INCLUDED

#include <czmq.h>

#define FILES_ID_SIZE       32          //  hex digits of an id (16 random bytes)

typedef struct _files_disk_t files_disk_t;

//  Creates DIR and DIR/tmp (mode 0700) when missing; NULL (errno) when it
//  cannot.
files_disk_t *files_disk_new        (const char *dir);
void        files_disk_destroy      (files_disk_t **self_p);
const char *files_disk_dir          (files_disk_t *self);
//  A fresh random id: FILES_ID_SIZE hex digits and a NUL into id.
void        files_disk_new_id       (char *id);
//  True if text is an id this module could have made (so safe in a path).
bool        files_disk_id_valid     (const char *text);

//  Creates an empty DIR/tmp/ID.part (exclusive, 0600): 0 | -1.
int         files_disk_part_create  (files_disk_t *self, const char *id);
//  Size of DIR/tmp/ID.part, or -1 (errno) when it does not exist.
int64_t     files_disk_part_size    (files_disk_t *self, const char *id);
//  Cuts the part to size bytes: 0 | -1.
int         files_disk_part_truncate (files_disk_t *self, const char *id, uint64_t size);
//  Writes size bytes at offset (all of them, or -1 with errno): 0 | -1.
int         files_disk_part_write   (files_disk_t *self, const char *id, uint64_t offset,
                                     const void *data, size_t size);
//  Reads the whole part through SHA-256: 0 when it is size bytes long and
//  its SHA-256 is sha_hex (64 lower-case hex), 1 when either differs, -1
//  when it cannot be read.
int         files_disk_part_check   (files_disk_t *self, const char *id, uint64_t size,
                                     const char *sha_hex);
//  fsync, then renames DIR/tmp/ID.part to DIR/ID and syncs the folder:
//  once it returns 0 the bytes survive a crash. 0 | -1.
int         files_disk_part_commit  (files_disk_t *self, const char *id);
//  Renames DIR/ID back to DIR/tmp/ID.part (a listing that failed): 0 | -1.
int         files_disk_part_uncommit (files_disk_t *self, const char *id);
//  Removes DIR/tmp/ID.part, if there.
void        files_disk_part_remove  (files_disk_t *self, const char *id);
//  Ids of the parts not modified for max_age_ms (caller destroys the list).
zlistx_t   *files_disk_stale_parts  (files_disk_t *self, int64_t max_age_ms);

//  Opens DIR/ID for reading: a file descriptor, or -1 (errno).
int         files_disk_open         (files_disk_t *self, const char *id);
//  Reads up to size bytes at offset into data (short only at the end of
//  the file): the count, or -1.
ssize_t     files_disk_read         (int fd, uint64_t offset, void *data, size_t size);
//  Removes DIR/ID, if there.
void        files_disk_remove       (files_disk_t *self, const char *id);
//  Bytes an unprivileged writer may still use on DIR's file system: 0 | -1.
int         files_disk_free         (files_disk_t *self, uint64_t *bytes);
//  SHA-256 of data as 64 lower-case hex digits and a NUL into hex.
void        files_disk_sha256_hex   (const void *data, size_t size, char *hex);

void        files_disk_test         (bool verbose);
#endif

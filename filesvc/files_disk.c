//  files_disk.c: uploads and files on disk, one chunk at a time.
#include "files_disk.h"
#include "pc_limits.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define HASH_BLOCK          (256 * 1024)    //  read per step when checking

struct _files_disk_t {
    char *dir;
    char *tmp;
};

files_disk_t *
files_disk_new (const char *dir)
{
    assert (dir);
    if (sodium_init () < 0) {
        errno = ENOSYS;
        return NULL;
    }
    files_disk_t *self = (files_disk_t *) zmalloc (sizeof (files_disk_t));
    assert (self);
    self->dir = strdup (dir);
    self->tmp = zsys_sprintf ("%s/tmp", dir);
    assert (self->dir && self->tmp);
    //  mkdir -p for DIR (it may be PYCHAT_DATA/files in a fresh PYCHAT_DATA)
    char path [PATH_MAX];
    snprintf (path, sizeof (path), "%s", dir);
    for (char *slash = strchr (path + 1, '/'); slash; slash = strchr (slash + 1, '/')) {
        *slash = 0;
        if (mkdir (path, 0700) == -1 && errno != EEXIST)
            break;
        *slash = '/';
    }
    if ((mkdir (self->dir, 0700) == -1 && errno != EEXIST)
    ||  (mkdir (self->tmp, 0700) == -1 && errno != EEXIST)) {
        int saved = errno;
        files_disk_destroy (&self);
        errno = saved;
        return NULL;
    }
    return self;
}

void
files_disk_destroy (files_disk_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        files_disk_t *self = *self_p;
        zstr_free (&self->dir);
        zstr_free (&self->tmp);
        free (self);
        *self_p = NULL;
    }
}

const char *
files_disk_dir (files_disk_t *self)
{
    assert (self);
    return self->dir;
}

void
files_disk_new_id (char *id)
{
    unsigned char bytes [FILES_ID_SIZE / 2];
    randombytes_buf (bytes, sizeof (bytes));
    sodium_bin2hex (id, FILES_ID_SIZE + 1, bytes, sizeof (bytes));
}

bool
files_disk_id_valid (const char *text)
{
    if (!text || strlen (text) != FILES_ID_SIZE)
        return false;
    for (const char *c = text; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

static void
s_part_path (files_disk_t *self, const char *id, char *path, size_t size)
{
    assert (files_disk_id_valid (id));
    snprintf (path, size, "%s/%s.part", self->tmp, id);
}

static void
s_file_path (files_disk_t *self, const char *id, char *path, size_t size)
{
    assert (files_disk_id_valid (id));
    snprintf (path, size, "%s/%s", self->dir, id);
}

int
files_disk_part_create (files_disk_t *self, const char *id)
{
    assert (self);
    char path [PATH_MAX];
    s_part_path (self, id, path, sizeof (path));
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1)
        return -1;
    close (fd);
    return 0;
}

int64_t
files_disk_part_size (files_disk_t *self, const char *id)
{
    assert (self);
    char path [PATH_MAX];
    s_part_path (self, id, path, sizeof (path));
    struct stat st;
    if (stat (path, &st) == -1)
        return -1;
    return (int64_t) st.st_size;
}

int
files_disk_part_truncate (files_disk_t *self, const char *id, uint64_t size)
{
    assert (self);
    char path [PATH_MAX];
    s_part_path (self, id, path, sizeof (path));
    return truncate (path, (off_t) size);
}

int
files_disk_part_write (files_disk_t *self, const char *id, uint64_t offset,
                       const void *data, size_t size)
{
    assert (self);
    char path [PATH_MAX];
    s_part_path (self, id, path, sizeof (path));
    //  Opened per chunk: no descriptor is held for an upload that a client
    //  abandons, and a chunk costs one open next to 256 KiB of I/O.
    int fd = open (path, O_WRONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    const char *bytes = (const char *) data;
    size_t done = 0;
    while (done < size) {
        ssize_t rc = pwrite (fd, bytes + done, size - done, (off_t) (offset + done));
        if (rc == -1 && errno == EINTR)
            continue;
        if (rc <= 0) {
            int saved = rc == 0? ENOSPC: errno;
            close (fd);
            errno = saved;
            return -1;
        }
        done += (size_t) rc;
    }
    return close (fd);
}

ssize_t
files_disk_read (int fd, uint64_t offset, void *data, size_t size)
{
    char *bytes = (char *) data;
    size_t done = 0;
    while (done < size) {
        ssize_t rc = pread (fd, bytes + done, size - done, (off_t) (offset + done));
        if (rc == -1 && errno == EINTR)
            continue;
        if (rc == -1)
            return -1;
        if (rc == 0)
            break;              //  end of file
        done += (size_t) rc;
    }
    return (ssize_t) done;
}

int
files_disk_part_check (files_disk_t *self, const char *id, uint64_t size, const char *sha_hex)
{
    assert (self);
    assert (sha_hex);
    char path [PATH_MAX];
    s_part_path (self, id, path, sizeof (path));
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    struct stat st;
    if (fstat (fd, &st) == -1) {
        close (fd);
        return -1;
    }
    if ((uint64_t) st.st_size != size) {
        close (fd);
        return 1;
    }
    char *block = (char *) malloc (HASH_BLOCK);
    assert (block);
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    uint64_t offset = 0;
    int rc = 0;
    while (offset < size) {
        size_t want = size - offset < HASH_BLOCK? (size_t) (size - offset): HASH_BLOCK;
        ssize_t got = files_disk_read (fd, offset, block, want);
        if (got <= 0) {
            rc = got == 0? 1: -1;       //  shorter than it said: not the file
            break;
        }
        crypto_hash_sha256_update (&state, (const unsigned char *) block, (unsigned long long) got);
        offset += (uint64_t) got;
    }
    free (block);
    close (fd);
    if (rc)
        return rc;
    unsigned char digest [crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final (&state, digest);
    char hex [crypto_hash_sha256_BYTES * 2 + 1];
    sodium_bin2hex (hex, sizeof (hex), digest, sizeof (digest));
    return streq (hex, sha_hex)? 0: 1;
}

static int
s_sync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

int
files_disk_part_commit (files_disk_t *self, const char *id)
{
    assert (self);
    char part [PATH_MAX], file [PATH_MAX];
    s_part_path (self, id, part, sizeof (part));
    s_file_path (self, id, file, sizeof (file));
    int fd = open (part, O_WRONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    if (fsync (fd) == -1) {
        int saved = errno;
        close (fd);
        errno = saved;
        return -1;
    }
    close (fd);
    if (rename (part, file) == -1)
        return -1;
    s_sync_dir (self->dir);             //  best effort: the rename itself is done
    return 0;
}

int
files_disk_part_uncommit (files_disk_t *self, const char *id)
{
    assert (self);
    char part [PATH_MAX], file [PATH_MAX];
    s_part_path (self, id, part, sizeof (part));
    s_file_path (self, id, file, sizeof (file));
    return rename (file, part);
}

void
files_disk_part_remove (files_disk_t *self, const char *id)
{
    assert (self);
    char path [PATH_MAX];
    s_part_path (self, id, path, sizeof (path));
    if (unlink (path) == -1 && errno != ENOENT)
        zsys_warning ("filesvc: cannot remove %s: %s", path, strerror (errno));
}

zlistx_t *
files_disk_stale_parts (files_disk_t *self, int64_t max_age_ms)
{
    assert (self);
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, (czmq_destructor *) zstr_free);
    DIR *dir = opendir (self->tmp);
    if (!dir)
        return ids;
    time_t cutoff = time (NULL) - (time_t) (max_age_ms / 1000);
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        size_t length = strlen (entry->d_name);
        if (length != FILES_ID_SIZE + 5 || strneq (entry->d_name + FILES_ID_SIZE, ".part"))
            continue;
        char id [FILES_ID_SIZE + 1];
        memcpy (id, entry->d_name, FILES_ID_SIZE);
        id [FILES_ID_SIZE] = 0;
        if (!files_disk_id_valid (id))
            continue;
        char path [PATH_MAX];
        struct stat st;
        s_part_path (self, id, path, sizeof (path));
        if (stat (path, &st) == 0 && st.st_mtime < cutoff)
            zlistx_add_end (ids, strdup (id));
    }
    closedir (dir);
    return ids;
}

int
files_disk_open (files_disk_t *self, const char *id)
{
    assert (self);
    char path [PATH_MAX];
    s_file_path (self, id, path, sizeof (path));
    return open (path, O_RDONLY | O_CLOEXEC);
}

void
files_disk_remove (files_disk_t *self, const char *id)
{
    assert (self);
    char path [PATH_MAX];
    s_file_path (self, id, path, sizeof (path));
    if (unlink (path) == -1 && errno != ENOENT)
        zsys_warning ("filesvc: cannot remove %s: %s", path, strerror (errno));
}

int
files_disk_free (files_disk_t *self, uint64_t *bytes)
{
    assert (self);
    struct statvfs st;
    if (statvfs (self->dir, &st) == -1)
        return -1;
    *bytes = (uint64_t) st.f_bavail * (uint64_t) st.f_frsize;
    return 0;
}

void
files_disk_sha256_hex (const void *data, size_t size, char *hex)
{
    unsigned char digest [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (digest, (const unsigned char *) data, (unsigned long long) size);
    sodium_bin2hex (hex, crypto_hash_sha256_BYTES * 2 + 1, digest, sizeof (digest));
}

//  --------------------------------------------------------------------------
//  Selftest

void
files_disk_test (bool verbose)
{
    printf (" * files_disk: ");
    char root [] = "/tmp/files_disk_test.XXXXXX";
    assert (mkdtemp (root));
    char dir [PATH_MAX];
    snprintf (dir, sizeof (dir), "%s/a/b/files", root);
    files_disk_t *disk = files_disk_new (dir);
    assert (disk);
    assert (streq (files_disk_dir (disk), dir));

    char id [FILES_ID_SIZE + 1], other [FILES_ID_SIZE + 1];
    files_disk_new_id (id);
    files_disk_new_id (other);
    assert (files_disk_id_valid (id) && !streq (id, other));
    assert (!files_disk_id_valid ("../etc/passwd"));
    assert (!files_disk_id_valid ("ABCDEF0123456789ABCDEF0123456789"));

    //  An upload in two chunks, checked, committed, read back
    assert (files_disk_part_size (disk, id) == -1);
    assert (files_disk_part_create (disk, id) == 0);
    assert (files_disk_part_create (disk, id) == -1 && errno == EEXIST);
    const char *text = "hello, \0binary world";
    size_t size = 20;
    assert (files_disk_part_write (disk, id, 0, text, 7) == 0);
    assert (files_disk_part_write (disk, id, 7, text + 7, size - 7) == 0);
    assert (files_disk_part_size (disk, id) == (int64_t) size);
    char sha [65], wrong [65];
    files_disk_sha256_hex (text, size, sha);
    files_disk_sha256_hex (text, size - 1, wrong);
    assert (strlen (sha) == 64);
    assert (files_disk_part_check (disk, id, size, sha) == 0);
    assert (files_disk_part_check (disk, id, size, wrong) == 1);
    assert (files_disk_part_check (disk, id, size + 1, sha) == 1);
    assert (files_disk_part_check (disk, other, size, sha) == -1);
    assert (files_disk_part_commit (disk, id) == 0);
    assert (files_disk_part_size (disk, id) == -1);
    int fd = files_disk_open (disk, id);
    assert (fd >= 0);
    char back [64];
    assert (files_disk_read (fd, 0, back, sizeof (back)) == (ssize_t) size);
    assert (memcmp (back, text, size) == 0);
    assert (files_disk_read (fd, 15, back, 3) == 3 && memcmp (back, text + 15, 3) == 0);
    assert (files_disk_read (fd, size, back, 3) == 0);
    close (fd);
    //  Listing failed: back to a part, then removed for good
    assert (files_disk_part_uncommit (disk, id) == 0);
    assert (files_disk_part_size (disk, id) == (int64_t) size);
    assert (files_disk_part_truncate (disk, id, 4) == 0);
    assert (files_disk_part_size (disk, id) == 4);
    zlistx_t *stale = files_disk_stale_parts (disk, 3600 * 1000);
    assert (zlistx_size (stale) == 0);
    zlistx_destroy (&stale);
    stale = files_disk_stale_parts (disk, -10000);      //  "older than the future"
    assert (zlistx_size (stale) == 1 && streq ((char *) zlistx_first (stale), id));
    zlistx_destroy (&stale);
    files_disk_part_remove (disk, id);
    files_disk_part_remove (disk, id);                  //  gone already: quiet
    assert (files_disk_part_size (disk, id) == -1);
    assert (files_disk_open (disk, id) == -1);
    files_disk_remove (disk, id);

    uint64_t free_bytes = 0;
    assert (files_disk_free (disk, &free_bytes) == 0 && free_bytes > 0);
    files_disk_destroy (&disk);
    files_disk_destroy (&disk);
    //  A folder that cannot be made
    assert (files_disk_new ("/proc/no/such/place") == NULL);

    char command [PATH_MAX + 16];
    snprintf (command, sizeof (command), "rm -rf '%s'", root);
    assert (system (command) == 0);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

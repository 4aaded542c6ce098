//  client_state.c: atomic little files under PYCHAT_HOME.
#include "client_state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  mkdir -p of the directory part of path.
static int
s_make_parents (const char *path)
{
    char dir [PATH_MAX];
    if (strlen (path) >= sizeof (dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    snprintf (dir, sizeof (dir), "%s", path);
    char *slash = strrchr (dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir (dir, 0700) == -1 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir (dir, 0700) == -1 && errno != EEXIST)
        return -1;
    return 0;
}

int
client_state_write_atomic (const char *path, const char *text, int mode)
{
    if (s_make_parents (path) == -1)
        return -1;
    char tmp [PATH_MAX + 32];
    snprintf (tmp, sizeof (tmp), "%s.tmp.%d", path, (int) getpid ());
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd == -1)
        return -1;
    size_t size = strlen (text), done = 0;
    while (done < size) {
        ssize_t n = write (fd, text + done, size - done);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = errno;
            close (fd);
            unlink (tmp);
            errno = saved;
            return -1;
        }
        done += (size_t) n;
    }
    //  mode as asked even under a restrictive umask's opposite
    if (fchmod (fd, (mode_t) mode) == -1 || close (fd) == -1) {
        int saved = errno;
        unlink (tmp);
        errno = saved;
        return -1;
    }
    if (rename (tmp, path) == -1) {
        int saved = errno;
        unlink (tmp);
        errno = saved;
        return -1;
    }
    return 0;
}

int
client_state_read_text (const char *path, char *buffer, size_t size)
{
    if (!size)
        return -1;
    buffer [0] = 0;
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    size_t n = fread (buffer, 1, size - 1, file);
    fclose (file);
    buffer [n] = 0;
    buffer [strcspn (buffer, "\r\n")] = 0;
    return 0;
}

static void
s_state_path (const char *home, const char *user, const char *key, char *path, size_t size)
{
    snprintf (path, size, "%s/state/%s/%s", home, user, key);
}

bool
client_state_load (const char *home, const char *user, const char *key, uint64_t *id)
{
    char path [PATH_MAX], text [32];
    s_state_path (home, user, key, path, sizeof (path));
    if (client_state_read_text (path, text, sizeof (text)) == -1 || !*text)
        return false;
    char *end;
    errno = 0;
    unsigned long long value = strtoull (text, &end, 10);
    if (*end || errno || text [0] == '-')
        return false;           //  a damaged file: as if there were none
    *id = (uint64_t) value;
    return true;
}

int
client_state_save (const char *home, const char *user, const char *key, uint64_t id)
{
    char path [PATH_MAX], text [32];
    s_state_path (home, user, key, path, sizeof (path));
    snprintf (text, sizeof (text), "%" PRIu64 "\n", id);
    static bool warned = false;         //  one line, not one per message
    if (client_state_write_atomic (path, text, 0600) == -1) {
        if (!warned)
            fprintf (stderr, "pychat: cannot save %s: %s\n", path, strerror (errno));
        warned = true;
        return -1;
    }
    return 0;
}

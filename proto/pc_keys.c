//  pc_keys.c: CURVE key files, created once and shared between processes.
#include "pc_keys.h"
#include "pc_limits.h"

#include <errno.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

bool
pc_keys_valid_z85 (const char *text)
{
    uint8_t key [32];
    return text && strlen (text) == 40 && zmq_z85_decode (key, text) != NULL;
}

static int
s_mkdirs (const char *dir)
{
    char path [PATH_MAX];
    if (snprintf (path, sizeof (path), "%s", dir) >= (int) sizeof (path))
        return -1;
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir (path, 0755) == -1 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir (path, 0700) == -1 && errno != EEXIST)
        return -1;
    return 0;
}

int
pc_keys_write_text (const char *path, const char *text, int mode)
{
    char tmp [PATH_MAX];
    snprintf (tmp, sizeof (tmp), "%s.tmp.%d", path, (int) getpid ());
    FILE *file = fopen (tmp, "w");
    if (!file)
        return -1;
    chmod (tmp, (mode_t) mode);
    fprintf (file, "%s\n", text);
    if (fclose (file) != 0 || rename (tmp, path) != 0) {
        unlink (tmp);
        return -1;
    }
    return 0;
}

static char *
s_read_line (FILE *file, char *line, size_t size)
{
    if (!fgets (line, (int) size, file))
        return NULL;
    line [strcspn (line, "\r\n")] = 0;
    return line;
}

zcert_t *
pc_keys_load (const char *dir, const char *name)
{
    char path [PATH_MAX];
    snprintf (path, sizeof (path), "%s/%s.key", dir, name);
    FILE *file = fopen (path, "r");
    if (!file)
        return NULL;
    char public_txt [64], secret_txt [64];
    zcert_t *cert = NULL;
    if (s_read_line (file, public_txt, sizeof (public_txt))
    &&  s_read_line (file, secret_txt, sizeof (secret_txt))
    &&  pc_keys_valid_z85 (public_txt) && pc_keys_valid_z85 (secret_txt)) {
        uint8_t public_key [32], secret_key [32];
        zmq_z85_decode (public_key, public_txt);
        zmq_z85_decode (secret_key, secret_txt);
        cert = zcert_new_from (public_key, secret_key);
        memset (secret_key, 0, sizeof (secret_key));
    }
    memset (secret_txt, 0, sizeof (secret_txt));
    fclose (file);
    if (!cert)
        errno = EINVAL;
    return cert;
}

zcert_t *
pc_keys_ensure (const char *dir, const char *name)
{
    if (s_mkdirs (dir) == -1)
        return NULL;
    zcert_t *cert = pc_keys_load (dir, name);
    if (!cert && errno == ENOENT) {
        //  Write a fresh key under a private name, then link it into place:
        //  link(2) fails if another process got there first, and then we
        //  use theirs.
        char path [PATH_MAX], tmp [PATH_MAX];
        snprintf (path, sizeof (path), "%s/%s.key", dir, name);
        snprintf (tmp, sizeof (tmp), "%s/.%s.key.%d", dir, name, (int) getpid ());
        zcert_t *fresh = zcert_new ();
        int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd == -1) {
            zcert_destroy (&fresh);
            return NULL;
        }
        char text [100];
        int size = snprintf (text, sizeof (text), "%s\n%s\n",
                             zcert_public_txt (fresh), zcert_secret_txt (fresh));
        bool written = write (fd, text, (size_t) size) == size && fsync (fd) == 0;
        close (fd);
        memset (text, 0, sizeof (text));
        zcert_destroy (&fresh);
        if (written && link (tmp, path) == -1 && errno != EEXIST)
            written = false;
        unlink (tmp);
        if (!written)
            return NULL;
        cert = pc_keys_load (dir, name);
    }
    if (cert) {
        char path [PATH_MAX];
        snprintf (path, sizeof (path), "%s/%s.pub", dir, name);
        char *existing = pc_keys_public (dir, name);
        //  (Re)write NAME.pub when it is missing or stale.
        struct stat st;
        if (stat (path, &st) == -1 || !existing || strneq (existing, zcert_public_txt (cert)))
            pc_keys_write_text (path, zcert_public_txt (cert), 0644);
        zstr_free (&existing);
    }
    return cert;
}

char *
pc_keys_public (const char *dir, const char *name)
{
    char path [PATH_MAX];
    char line [64];
    snprintf (path, sizeof (path), "%s/%s.pub", dir, name);
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (path, sizeof (path), "%s/%s.key", dir, name);
        file = fopen (path, "r");
    }
    if (!file)
        return NULL;
    char *result = NULL;
    if (s_read_line (file, line, sizeof (line)) && pc_keys_valid_z85 (line))
        result = strdup (line);
    fclose (file);
    return result;
}

zsock_t *
pc_keys_client (int type, zcert_t *cert, const char *server_key)
{
    assert (cert);
    assert (server_key);
    zsock_t *sock = zsock_new (type);
    assert (sock);
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, server_key);
    zsock_set_maxmsgsize (sock, PC_MSG_MAX);
    zsock_set_linger (sock, 0);
    return sock;
}

bool
pc_keys_device_id (const char *z85, char *out)
{
    uint8_t key [32], hash [16];
    if (!z85 || !pc_keys_valid_z85 (z85) || !zmq_z85_decode (key, z85))
        return false;
    crypto_generichash (hash, sizeof (hash), key, sizeof (key), NULL, 0);
    snprintf (out, PC_DEVICE_ID, "%02x%02x%02x%02x", hash [0], hash [1], hash [2], hash [3]);
    return true;
}

void
pc_keys_test (bool verbose)
{
    printf (" * pc_keys: ");
    char dir [] = "/tmp/pc_keys_test.XXXXXX";
    assert (mkdtemp (dir));
    char sub [PATH_MAX];
    snprintf (sub, sizeof (sub), "%s/a/keys", dir);
    zcert_t *first = pc_keys_ensure (sub, "broker");
    assert (first);
    zcert_t *again = pc_keys_ensure (sub, "broker");
    assert (again);
    assert (streq (zcert_public_txt (first), zcert_public_txt (again)));
    assert (streq (zcert_secret_txt (first), zcert_secret_txt (again)));
    char *public_txt = pc_keys_public (sub, "broker");
    assert (public_txt && streq (public_txt, zcert_public_txt (first)));
    char path [PATH_MAX];
    snprintf (path, sizeof (path), "%s/broker.key", sub);
    struct stat st;
    assert (stat (path, &st) == 0 && (st.st_mode & 0777) == 0600);
    assert (pc_keys_public (sub, "nobody") == NULL);
    assert (pc_keys_load (sub, "nobody") == NULL);
    //  A corrupt key file is refused, not half-read
    snprintf (path, sizeof (path), "%s/bad.key", sub);
    pc_keys_write_text (path, "not a key", 0600);
    assert (pc_keys_load (sub, "bad") == NULL);
    assert (pc_keys_valid_z85 (public_txt));
    assert (!pc_keys_valid_z85 ("short"));
    char device_id [PC_DEVICE_ID];
    assert (pc_keys_device_id (public_txt, device_id) && strlen (device_id) == 8);
    assert (!pc_keys_device_id ("short", device_id));
    zstr_free (&public_txt);
    zcert_destroy (&first);
    zcert_destroy (&again);
    char command [PATH_MAX + 16];
    snprintf (command, sizeof (command), "rm -rf '%s'", dir);
    assert (system (command) == 0);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

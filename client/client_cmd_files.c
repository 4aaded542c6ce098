//  client_cmd_files.c: put, files, get, rm (PROTOCOL.md, "File sharing").

#include "client_cmd_core.h"
#include "pc_proto.h"
#include "client_post.h"


//  --------------------------------------------------------------------------
//  Files: put, files, get, rm (PROTOCOL.md, "File sharing")
//
//  Each logs in like the other commands, joins the room (membership is per
//  session, and the file service asks the broker whether this session may
//  use the space; files, get and rm only join a room that exists) or
//  fetches the other user's pinned key, asks the broker
//  FILES for the file service, and lets client_xfer talk to it with the
//  session's own certificate.

#define FILES_PING_MS       10000       //  the broker forgets a session silent for 60 s

typedef struct {
    char        room [PC_NAME_MAX + 1];
    char        peer [PC_NAME_MAX + 1];     //  --with, --from, --to
    char        space [PC_NAME_MAX + 2];    //  "room" or "@peer"
    const char *as;
    bool        json;
    bool        force;
    const char *args [3];                   //  what follows ROOM
    int         nargs;
} file_args_t;

//  What a file command holds while it runs.
typedef struct {
    session_t      session;
    client_xfer_t *xfer;
    client_xfer_keys_t keys;                //  private spaces
    bool           private_;
    int64_t        next_ping;
    bool           tty;                     //  stderr is a terminal: show progress
    bool           line_open;               //  a progress line is on it now
    const char    *label;                   //  the file, for the progress line
    client_xfer_phase_t phase;
    int64_t        phase_at;
    uint64_t       phase_from;
} files_t;

//  Reads the arguments of a file command: ROOM or --with USER (--from,
//  --to), then min_args to max_args more (as the synopsis says); options
//  allows "as", "json", "force".
static int
s_file_args (int argc, char **argv, const char *options, int min_args, int max_args,
             const char *synopsis, file_args_t *self)
{
    memset (self, 0, sizeof (*self));
    const char *command = argv [0];
    const char *positional [8];
    int count = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        const char *value = NULL;
        size_t len = strcspn (arg, "=");
        bool with = (len == 6 && (strncmp (arg, "--with", 6) == 0 || strncmp (arg, "--from", 6) == 0))
                 || (len == 4 && strncmp (arg, "--to", 4) == 0);
        bool as = len == 4 && strncmp (arg, "--as", 4) == 0 && strstr (options, "as");
        if (with || as) {
            if (arg [len] == '=')
                value = arg + len + 1;
            else
            if (i + 1 < argc)
                value = argv [++i];
            if (!value || !*value)
                return client_cmd_usage_error ("%s needs a value", arg);
            if (as)
                self->as = value;
            else {
                if (*self->peer)
                    return client_cmd_usage_error ("%s: one --with USER at most", command);
                int rc = cmd_user_arg (value, self->peer, sizeof (self->peer));
                if (rc)
                    return rc;
            }
        }
        else
        if (streq (arg, "--json") && strstr (options, "json"))
            self->json = true;
        else
        if (streq (arg, "--force") && strstr (options, "force"))
            self->force = true;
        else
        if (strncmp (arg, "--", 2) == 0 && arg [2])
            return client_cmd_usage_error ("unknown option '%s'", arg);
        else {
            if (streq (arg, "--") && i + 1 < argc)
                arg = argv [++i];           //  a file whose name starts with -
            if (count == 8)
                return client_cmd_usage_error ("%s: too many arguments", command);
            positional [count++] = arg;
        }
    }
    int first = 0;
    if (!*self->peer) {
        if (count == 0)
            return client_cmd_usage_error ("usage: %s", synopsis);
        int rc = client_cmd_room_arg (positional [0], self->room, sizeof (self->room));
        if (rc)
            return rc;
        snprintf (self->space, sizeof (self->space), "%s", self->room);
        first = 1;
    }
    else
        snprintf (self->space, sizeof (self->space), "@%s", self->peer);
    if (count - first < min_args || count - first > max_args)
        return client_cmd_usage_error ("usage: %s", synopsis);
    for (int i = first; i < count; i++)
        self->args [self->nargs++] = positional [i];
    return 0;
}


//  A file name as given: 0, or PC_EXIT_REJECTED after one line.
static int
s_file_name_arg (const char *name, const char *hint)
{
    const char *why = NULL;
    if (pc_file_name_check (name, strlen (name), &why) == 0)
        return 0;
    char safe [300];
    client_conn_sanitize (name, safe, sizeof (safe));
    fprintf (stderr, "pychat: bad file name '%s': %s%s\n", safe, why, hint);
    return PC_EXIT_REJECTED;
}


//  Ends the progress line, so that what comes next starts a line of its own.
static void
s_files_line_end (files_t *self)
{
    if (self->line_open) {
        fputs ("\r\033[K", stderr);
        fflush (stderr);
        self->line_open = false;
    }
}


static void
s_files_progress (void *arg, client_xfer_phase_t phase, uint64_t done, uint64_t total)
{
    files_t *self = (files_t *) arg;
    if (!self->tty)
        return;
    int64_t now = zclock_mono ();
    if (phase != self->phase || !self->phase_at) {
        self->phase = phase;
        self->phase_at = now;
        self->phase_from = done;
    }
    char done_txt [32], total_txt [32], rate_txt [32] = "";
    client_xfer_size_text (done, done_txt, sizeof (done_txt));
    client_xfer_size_text (total, total_txt, sizeof (total_txt));
    double seconds = (now - self->phase_at) / 1000.0;
    if (seconds > 0.5 && done > self->phase_from) {
        client_xfer_size_text ((uint64_t) ((done - self->phase_from) / seconds), rate_txt,
                               sizeof (rate_txt));
        strcat (rate_txt, "/s");
    }
    const char *what = phase == CLIENT_XFER_HASH? "checking": phase == CLIENT_XFER_SEND?
                       "uploading": "downloading";
    char label [64];
    client_conn_sanitize (self->label, label, sizeof (label));
    fprintf (stderr, "\r\033[K%s %s: %3d%%  %s of %s  %s", what, label,
             total? (int) (done * 100 / total): 100, done_txt, total_txt, rate_txt);
    fflush (stderr);
    self->line_open = true;
}


static void
s_files_note (void *arg, const char *text)
{
    files_t *self = (files_t *) arg;
    s_files_line_end (self);
    fprintf (stderr, "pychat: %s\n", text);
}


//  Keeps the broker session alive during a long transfer (the file
//  service asks the broker about this session's key).
static int
s_files_tick (void *arg)
{
    files_t *self = (files_t *) arg;
    int64_t now = zclock_mono ();
    if (now >= self->next_ping) {
        client_conn_drain (self->session.conn);
        client_conn_ping_async (self->session.conn);
        self->next_ping = now + FILES_PING_MS;
    }
    return 0;
}


//  Logs in, joins the room (for a read, only if it exists: see below) or
//  pins the peer's key, finds the file service. verb names the command
//  ("put", "files", "get", "rm"). 0 or an exit code (one line printed).
static int
s_files_open (client_opts_t *opts, file_args_t *args, files_t *self, const char *verb,
              const char *label)
{
    memset (self, 0, sizeof (*self));
    self->tty = isatty (STDERR_FILENO);
    self->label = label;
    self->private_ = *args->peer != 0;
    if (self->private_ && opts->user && streq (args->peer, opts->user)) {
        fprintf (stderr, "pychat: private files are shared with another user, not with yourself\n");
        return PC_EXIT_REJECTED;
    }
    int rc = cmd_open (opts, &self->session, true, false);
    if (rc == 0)
        rc = cmd_login (opts, &self->session);
    client_conn_t *conn = self->session.conn;
    //  put posts "shared NAME" in the room as its user, as send posts a
    //  message: it joins the room, making it if need be; files, get and rm
    //  read a room, which must exist.
    if (rc == 0 && !self->private_ && streq (verb, "put"))
        rc = client_conn_join (conn, args->room);
    else
    if (rc == 0 && !self->private_) {
        char what [PC_NAME_MAX + 16];
        snprintf (what, sizeof (what), "%s #%s", verb, args->room);
        rc = client_conn_enter (conn, args->room, what);
    }
    if (rc == 0 && self->private_) {
        //  Sealed for (and opened from) every device of the peer's and of
        //  our own, as a DM is
        client_dm_keys_t device;
        rc = client_dm_device_load (opts->home, &device);
        if (rc == 0)
            rc = client_dm_peer_devices (conn, opts->home, opts->user, device.id, args->peer,
                                         &self->keys.peer_devices);
        if (rc == 0 && !streq (args->peer, opts->user)
        &&  client_dm_devices_get (conn, opts->user, &self->keys.own_devices) == 0
        &&  client_dm_devices_check (opts->home, opts->user, device.id, opts->user,
                                     &self->keys.own_devices, client_dm_say_stderr, NULL) == 1)
            memset (&self->keys.own_devices, 0, sizeof (self->keys.own_devices));
        if (rc == 0) {
            client_dm_devices_t *own = &self->keys.own_devices;
            if (!client_dm_devices_find (own, device.id) && own->count < PC_DEVICES_MAX) {
                client_dm_device_t *self_device = &own->device [own->count++];
                memset (self_device, 0, sizeof (*self_device));
                snprintf (self_device->id, sizeof (self_device->id), "%s", device.id);
                snprintf (self_device->z85, sizeof (self_device->z85), "%s", device.public_txt);
            }
            client_dm_z85_decode (self->keys.peer_devices.device [0].z85, self->keys.peer_public);
            snprintf (self->keys.own_id, sizeof (self->keys.own_id), "%s", device.id);
            memcpy (self->keys.own_secret, device.secret_key, sizeof (self->keys.own_secret));
            snprintf (self->keys.pending_dir, sizeof (self->keys.pending_dir), "%s/uploads/%s",
                      opts->home, opts->user);
        }
        client_dm_keys_clear (&device);
    }
    pc_msg_t *reply = NULL;
    if (rc == 0) {
        pc_msg_t *request = pc_msg_new ("FILES");
        rc = client_conn_call (conn, "file sharing", request, &reply);
        pc_msg_destroy (&request);
    }
    if (rc == 0) {
        const char *port = pc_files_ok_port (reply);
        const char *key = pc_files_ok_key (reply);
        const char *host = pc_files_ok_host (reply);
        char why [300];
        self->xfer = client_xfer_new (host && *host? host: client_conn_host (conn), port? atoi (port): 0, key? key: "",
                                      self->session.cert, opts->timeout_ms, why, sizeof (why));
        if (!self->xfer) {
            fprintf (stderr, "pychat: %s\n", why);
            rc = PC_EXIT_UNREACHABLE;
        }
    }
    pc_msg_destroy (&reply);
    if (self->xfer) {
        client_xfer_set_progress (self->xfer, s_files_progress, self);
        client_xfer_set_note (self->xfer, s_files_note, self);
        client_xfer_set_tick (self->xfer, s_files_tick, self);
        self->next_ping = zclock_mono () + FILES_PING_MS;
    }
    return rc;
}


//  What a client_xfer call returned: its failure is reported (one line).
static int
s_files_done (files_t *self, int rc)
{
    s_files_line_end (self);
    if (rc && rc != CLIENT_INTERRUPTED) {
        char line [600];
        client_conn_sanitize (client_xfer_error (self->xfer), line, sizeof (line));
        fprintf (stderr, "pychat: %s\n", line);
    }
    return rc;
}


//  Frees everything the command held.
static int
s_files_close (files_t *self, int rc)
{
    s_files_line_end (self);
    client_xfer_destroy (&self->xfer);
    sodium_memzero (&self->keys, sizeof (self->keys));
    cmd_close (&self->session);
    return rc;
}


//  Tells peer about a private file with an ordinary (sealed) DM.
static int
s_files_tell (client_opts_t *opts, files_t *self, const char *peer, const char *name,
              uint64_t size)
{
    char *text = client_xfer_dm_text (opts->user, name, size);
    pc_buf_t body = { text, strlen (text), 0 };
    int timeout = opts->timeout_ms;
    if (!opts->timeout_given)
        opts->timeout_ms = SEND_TIMEOUT_MS;
    int rc = client_post_run (opts, self->session.password, NULL, peer, &body, false);
    opts->timeout_ms = timeout;
    free (text);
    return rc;
}


int
client_cmd_put (client_opts_t *opts, int argc, char **argv)
{
    file_args_t args;
    int rc = s_file_args (argc, argv, "as", 1, 1,
                          "pychat put ROOM FILE [--as NAME], or put --to USER FILE [--as NAME]", &args);
    if (rc)
        return rc;
    const char *path = args.args [0];
    const char *slash = strrchr (path, '/');
    const char *name = args.as? args.as: slash? slash + 1: path;
    rc = s_file_name_arg (name, args.as? "": " (use --as NAME)");
    if (rc)
        return rc;
    struct stat st;
    if (stat (path, &st) == -1 || access (path, R_OK) == -1) {
        char safe [300];
        client_conn_sanitize (path, safe, sizeof (safe));
        fprintf (stderr, "pychat: cannot read %s: %s\n", safe, strerror (errno));
        return PC_EXIT_USAGE;
    }
    if (!S_ISREG (st.st_mode)) {
        char safe [300];
        client_conn_sanitize (path, safe, sizeof (safe));
        fprintf (stderr, "pychat: %s is not a regular file\n", safe);
        return PC_EXIT_USAGE;
    }
    files_t files;
    rc = s_files_open (opts, &args, &files, "put", name);
    client_xfer_file_t file;
    if (rc == 0)
        rc = s_files_done (&files, client_xfer_put (files.xfer, args.space, name, path,
                                                    files.private_? &files.keys: NULL, &file));
    if (rc == 0) {
        char size_txt [32], safe [300];
        client_xfer_size_text ((uint64_t) st.st_size, size_txt, sizeof (size_txt));
        client_conn_sanitize (name, safe, sizeof (safe));
        if (files.private_)
            printf ("sent %s (%s) to %s, encrypted end to end\n", safe, size_txt, args.peer);
        else
            printf ("shared %s (%s) in #%s, sha256 %s\n", safe, size_txt, args.room, file.sha256);
        rc = client_listen_flush_stdout ();
        if (rc == 0 && files.private_)
            rc = s_files_tell (opts, &files, args.peer, name, (uint64_t) st.st_size);
    }
    return s_files_close (&files, rc);
}


int
client_cmd_files (client_opts_t *opts, int argc, char **argv)
{
    file_args_t args;
    int rc = s_file_args (argc, argv, "json", 0, 0,
                          "pychat files ROOM [--json], or files --with USER [--json]", &args);
    if (rc)
        return rc;
    files_t files;
    rc = s_files_open (opts, &args, &files, "files", "");
    client_xfer_file_t *list = NULL;
    size_t count = 0;
    if (rc == 0)
        rc = s_files_done (&files, client_xfer_list (files.xfer, args.space, &list, &count));
    if (rc == 0) {
        pc_buf_t out;
        pc_buf_init (&out);
        int width = 4;
        for (size_t i = 0; i < count; i++)
            if ((int) strlen (list [i].name) > width)
                width = (int) strlen (list [i].name) < 40? (int) strlen (list [i].name): 40;
        if (!args.json && count)
            pc_buf_printf (&out, "%-*s  %10s  %-*s  %-16s  %s\n", width, "NAME", "SIZE",
                           PC_NAME_MAX < 12? PC_NAME_MAX: 12, "FROM", "WHEN", "SHA-256");
        for (size_t i = 0; i < count; i++) {
            client_xfer_file_t *file = &list [i];
            //  A private file is stored sealed: show what its owner shared
            uint64_t size = files.private_? client_seal_plain_size (file->size): file->size;
            if (size == UINT64_MAX)
                size = file->size;
            if (args.json) {
                pc_buf_append (&out, "{\"name\":", 8);
                pc_buf_json_str (&out, file->name);
                pc_buf_printf (&out, ",\"size\":%" PRIu64 ",\"from\":", size);
                pc_buf_json_str (&out, file->from);
                pc_buf_printf (&out, ",\"time\":%" PRId64 ",\"sha256\":\"%s\"", file->time, file->sha256);
                if (files.private_)
                    pc_buf_printf (&out, ",\"encrypted\":true,\"stored_size\":%" PRIu64, file->size);
                pc_buf_append (&out, "}\n", 2);
            }
            else {
                char name [PC_FILE_NAME_MAX + 1], size_txt [32], when [32];
                client_conn_sanitize (file->name, name, sizeof (name));
                client_xfer_size_text (size, size_txt, sizeof (size_txt));
                time_t seconds = (time_t) (file->time / 1000);
                strftime (when, sizeof (when), "%Y-%m-%d %H:%M", localtime (&seconds));
                pc_buf_printf (&out, "%-*s  %10s  %-12s  %-16s  %s\n", width, name, size_txt,
                               file->from, when, files.private_? "(encrypted)": file->sha256);
            }
        }
        if (!args.json && count == 0)
            pc_buf_printf (&out, "no files shared %s%s\n", files.private_? "with ": "in #",
                           files.private_? args.peer: args.room);
        fwrite (out.data, 1, out.size, stdout);
        pc_buf_free (&out);
        rc = client_listen_flush_stdout ();
    }
    free (list);
    return s_files_close (&files, rc);
}


int
client_cmd_get (client_opts_t *opts, int argc, char **argv)
{
    file_args_t args;
    int rc = s_file_args (argc, argv, "force", 1, 2,
                          "pychat get ROOM NAME [DEST] [--force], or get --with USER NAME [DEST]", &args);
    if (rc)
        return rc;
    const char *name = args.args [0];
    rc = s_file_name_arg (name, "");
    if (rc)
        return rc;
    //  DEST: a path, or a directory to put NAME in; ./NAME by default.
    char dest [PATH_MAX];
    struct stat st;
    const char *given = args.nargs > 1? args.args [1]: NULL;
    if (given && stat (given, &st) == 0 && S_ISDIR (st.st_mode))
        snprintf (dest, sizeof (dest), "%s/%s", given, name);
    else
        snprintf (dest, sizeof (dest), "%s", given? given: name);
    char safe_dest [PATH_MAX];
    client_conn_sanitize (dest, safe_dest, sizeof (safe_dest));
    if (!args.force && lstat (dest, &st) == 0) {
        fprintf (stderr, "pychat: %s exists (use --force to replace it)\n", safe_dest);
        return PC_EXIT_USAGE;
    }
    files_t files;
    rc = s_files_open (opts, &args, &files, "get", name);
    client_xfer_file_t file;
    if (rc == 0)
        rc = s_files_done (&files, client_xfer_get (files.xfer, args.space, name, dest, args.force,
                                                    files.private_? &files.keys: NULL, &file));
    if (rc == 0) {
        char size_txt [32], safe [300];
        client_xfer_size_text (file.size, size_txt, sizeof (size_txt));
        client_conn_sanitize (name, safe, sizeof (safe));
        printf ("saved %s to %s (%s from %s)\n", safe, safe_dest, size_txt, file.from);
        rc = client_listen_flush_stdout ();
    }
    return s_files_close (&files, rc);
}


int
client_cmd_rm (client_opts_t *opts, int argc, char **argv)
{
    file_args_t args;
    int rc = s_file_args (argc, argv, "", 1, 1,
                          "pychat rm ROOM NAME, or rm --with USER NAME", &args);
    if (rc)
        return rc;
    const char *name = args.args [0];
    rc = s_file_name_arg (name, "");
    if (rc)
        return rc;
    files_t files;
    rc = s_files_open (opts, &args, &files, "rm", name);
    if (rc == 0)
        rc = s_files_done (&files, client_xfer_rm (files.xfer, args.space, name));
    if (rc == 0) {
        char safe [300];
        client_conn_sanitize (name, safe, sizeof (safe));
        printf ("removed %s\n", safe);
        rc = client_listen_flush_stdout ();
    }
    return s_files_close (&files, rc);
}

//  client_ui_share.c: /upload, /files, /download in the full-screen client
//  (PROTOCOL.md, "File sharing"): the transfer runs in a thread of its own
//  (client_ui_xfer); this file asks for what it needs and reports.

#include "client_ui_core.h"
#include "pc_proto.h"


//  --------------------------------------------------------------------------
//  File transfers: /upload, /files, /download (PROTOCOL.md, "File sharing")
//
//  The main loop only asks the broker FILES (and, in a DM window, the
//  peer's pinned key); the transfer itself runs in a thread of its own
//  with this session's certificate (client_ui_xfer), and this loop polls
//  its reports with the keyboard and the sockets.

xfer_t *
ui_xfer_find (ui_t *self, int id)
{
    for (size_t i = 0; i < self->nxfers; i++)
        if (self->xfers [i].id == id)
            return &self->xfers [i];
    return NULL;
}


//  Where a transfer reports: the window it began in, else the status window.
static win_t *
s_xfer_win (ui_t *self, xfer_t *xfer)
{
    win_t *win = ui_win_find (self, xfer->win_type, xfer->target);
    return win? win: self->wins [0];
}


static const char *
s_xfer_what (xfer_t *xfer)
{
    return xfer->kind == CLIENT_UI_XFER_PUT? "upload": xfer->kind == CLIENT_UI_XFER_GET?
           "download": "files";
}


void
ui_xfer_remove (ui_t *self, xfer_t *xfer)
{
    client_ui_xfer_destroy (&xfer->run);
    free (xfer->path);
    size_t index = (size_t) (xfer - self->xfers);
    memmove (self->xfers + index, self->xfers + index + 1,
             (self->nxfers - index - 1) * sizeof (xfer_t));
    self->nxfers--;
}


void
ui_xfer_fail (ui_t *self, xfer_t *xfer, const char *why)
{
    char name [PC_FILE_NAME_MAX + 1];
    client_conn_sanitize (xfer->name, name, sizeof (name));
    ui_sys (self, s_xfer_win (self, xfer), L_ERR, "%s%s%s: %s", s_xfer_what (xfer), *name? " ": "",
           name, why);
    ui_xfer_remove (self, xfer);
}


//  Asks the broker where the file service is (again after a reconnect).
void
ui_xfer_ask (ui_t *self, xfer_t *xfer)
{
    xfer->state = X_FILES;
    if (self->state == C_ONLINE)
        ui_simple (self, "FILES", NULL, NULL, NULL, R_FILES, NULL, xfer->id);
}


//  The peer's devices and our own arrived (checked against the pins), or
//  there are none usable (peer NULL).
void
ui_xfer_keyed (ui_t *self, int id, const client_dm_devices_t *peer, const client_dm_devices_t *own)
{
    xfer_t *xfer = ui_xfer_find (self, id);
    if (!xfer || xfer->state != X_KEY)
        return;
    if (!peer || !peer->count || !client_dm_z85_decode (peer->device [0].z85, xfer->peer_public))
        ui_xfer_fail (self, xfer, "cancelled: no trusted key for this user");
    else {
        xfer->peer_devices = *peer;
        xfer->own_devices = *own;
        ui_xfer_ask (self, xfer);
    }
}


//  FILES answered: start the thread.
void
ui_xfer_start (ui_t *self, xfer_t *xfer, pc_msg_t *reply)
{
    char reason [200];
    client_conn_sanitize (pc_msg_error_reason (reply), reason, sizeof (reason));
    if (pc_msg_is (reply, "ERROR")) {
        ui_xfer_fail (self, xfer, *reason? reason: pc_error_name (pc_msg_error_code (reply)));
        return;
    }
    zcert_t *cert = client_net_cert (self->net);
    const char *port = pc_files_ok_port (reply);
    const char *key = pc_files_ok_key (reply);
    const char *host = pc_files_ok_host (reply);
    if (!cert || !port || !key || !pc_keys_valid_z85 (key)) {
        ui_xfer_fail (self, xfer, "the broker gave no usable file service");
        return;
    }
    client_xfer_keys_t keys;
    memset (&keys, 0, sizeof (keys));
    bool private_ = client_xfer_private (xfer->space);
    if (private_) {
        memcpy (keys.peer_public, xfer->peer_public, sizeof (keys.peer_public));
        keys.peer_devices = xfer->peer_devices;
        keys.own_devices = xfer->own_devices;
        snprintf (keys.own_id, sizeof (keys.own_id), "%s", self->dm_keys.id);
        memcpy (keys.own_secret, self->dm_keys.secret_key, sizeof (keys.own_secret));
        snprintf (keys.pending_dir, sizeof (keys.pending_dir), "%s/uploads/%s",
                  self->opts->home, self->user);
    }
    xfer->run = client_ui_xfer_new (xfer->kind, host && *host? host: client_net_host (self->net), atoi (port), key,
                                    cert, self->opts->timeout_ms, xfer->space, xfer->name,
                                    xfer->path, private_? &keys: NULL);
    sodium_memzero (&keys, sizeof (keys));
    xfer->state = X_RUN;
}


//  The thread finished: say how, in the transfer's window.
static void
s_xfer_done (ui_t *self, xfer_t *xfer)
{
    win_t *win = s_xfer_win (self, xfer);
    client_ui_xfer_t *run = xfer->run;
    if (client_ui_xfer_rc (run)) {
        char why [600];
        client_conn_sanitize (client_ui_xfer_error (run), why, sizeof (why));
        ui_xfer_fail (self, xfer, why);
        return;
    }
    bool private_ = client_xfer_private (xfer->space);
    char name [PC_FILE_NAME_MAX + 1], size_txt [32];
    client_conn_sanitize (xfer->name, name, sizeof (name));
    if (xfer->kind == CLIENT_UI_XFER_LIST) {
        size_t count = 0;
        const client_xfer_file_t *files = client_ui_xfer_files (run, &count);
        ui_win_files_free (win);
        win->files = (char **) calloc (count + 1, sizeof (char *));
        assert (win->files);
        if (count == 0)
            ui_sys (self, win, L_SYS, "no files in %s", win->title);
        else
            ui_sys (self, win, L_SYS, "%zu file%s in %s (name, size, from, when, SHA-256):",
                   count, count == 1? "": "s", win->title);
        for (size_t i = 0; i < count; i++) {
            const client_xfer_file_t *file = &files [i];
            uint64_t size = private_? client_seal_plain_size (file->size): file->size;
            client_xfer_size_text (size == UINT64_MAX? file->size: size, size_txt, sizeof (size_txt));
            char when [32], file_name [PC_FILE_NAME_MAX + 1];
            time_t seconds = (time_t) (file->time / 1000);
            strftime (when, sizeof (when), "%Y-%m-%d %H:%M", localtime (&seconds));
            client_conn_sanitize (file->name, file_name, sizeof (file_name));
            ui_sys (self, win, L_SYS, "  %s  %s  %s  %s  %.16s%s", file_name, size_txt, file->from,
                   when, private_? "encrypted": file->sha256, private_? "": "...");
            win->files [win->nfiles++] = strdup (file->name);
        }
    }
    else
    if (xfer->kind == CLIENT_UI_XFER_PUT) {
        client_xfer_size_text (xfer->size, size_txt, sizeof (size_txt));
        if (private_) {
            ui_sys (self, win, L_SYS, "sent %s (%s) to %s, encrypted end to end", name, size_txt,
                   xfer->target);
            //  Tell them, with an ordinary sealed DM
            char *text = client_xfer_dm_text (self->user, xfer->name, xfer->size);
            ui_dm_say (self, ui_dm_window (self, xfer->target), text);
            free (text);
        }
        else
            ui_sys (self, win, L_SYS, "uploaded %s (%s) to %s", name, size_txt, win->title);
    }
    else {
        client_xfer_size_text (client_ui_xfer_result (run)->size, size_txt, sizeof (size_txt));
        char path [PATH_MAX];
        client_conn_sanitize (xfer->path, path, sizeof (path));
        ui_sys (self, win, L_SYS, "saved %s (%s) to %s", name, size_txt, path);
    }
    ui_xfer_remove (self, xfer);
}


//  Reads what the transfer threads reported.
void
ui_xfer_poll (ui_t *self)
{
    for (size_t i = self->nxfers; i-- > 0;) {
        xfer_t *xfer = &self->xfers [i];
        if (!xfer->run)
            continue;
        client_ui_xfer_event_t event;
        while ((event = client_ui_xfer_read (xfer->run)) != CLIENT_UI_XFER_NONE) {
            if (event == CLIENT_UI_XFER_NOTE) {
                char name [PC_FILE_NAME_MAX + 1], note [512];
                client_conn_sanitize (xfer->name, name, sizeof (name));
                client_conn_sanitize (client_ui_xfer_note (xfer->run), note, sizeof (note));
                ui_sys (self, s_xfer_win (self, xfer), L_SYS, "%s: %s", name, note);
            }
            else
            if (event == CLIENT_UI_XFER_DONE) {
                s_xfer_done (self, xfer);       //  removes it
                break;
            }
        }
    }
}


//  "~/x" is $HOME/x.
void
ui_expand_home (const char *path, char *out, size_t size)
{
    const char *home = getenv ("HOME");
    if (path [0] == '~' && (path [1] == '/' || path [1] == 0) && home)
        snprintf (out, size, "%s%s", home, path + 1);
    else
        snprintf (out, size, "%s", path);
}


//  Splits args into at most max words; a word may be "quoted" (file names
//  hold spaces). Returns how many, or -1 when there are more than max.
static int
s_words (char *args, char **words, int max)
{
    int count = 0;
    char *p = args;
    while (true) {
        while (*p == ' ')
            p++;
        if (!*p)
            return count;
        if (count == max)
            return -1;
        if (*p == '"' && strchr (p + 1, '"')) {
            words [count++] = p + 1;
            p = strchr (p + 1, '"');
        }
        else {
            words [count++] = p;
            p += strcspn (p, " ");
        }
        if (*p)
            *p++ = 0;
    }
}


void
ui_xfer_command (ui_t *self, win_t *win, const char *cmd, const char *args)
{
    if (win->type != W_ROOM && win->type != W_DM) {
        ui_sys (self, win, L_ERR, "%s works in a room window (shared with the room) or a DM "
               "window (private, encrypted)", cmd);
        return;
    }
    if (win->type == W_DM && !self->dm_ready) {
        ui_sys (self, win, L_ERR, "private files need the device key in %s", self->opts->home);
        return;
    }
    if (self->nxfers == XFERS_MAX) {
        ui_sys (self, win, L_ERR, "%d transfers are running already: wait for one to end", XFERS_MAX);
        return;
    }
    xfer_t xfer;
    memset (&xfer, 0, sizeof (xfer));
    char path [PATH_MAX] = "", *copy = strdup (args);
    char *words [3];
    int count = s_words (copy, words, 2);
    const char *why = NULL;
    if (streq (cmd, "/upload")) {
        xfer.kind = CLIENT_UI_XFER_PUT;
        const char *given = args + strspn (args, " ");
        struct stat st;
        ui_expand_home (given, path, sizeof (path));
        const char *slash = strrchr (path, '/');
        snprintf (xfer.name, sizeof (xfer.name), "%s", slash? slash + 1: path);
        if (!*given)
            why = "usage: /upload PATH";
        else
        if (stat (path, &st) == -1 || access (path, R_OK) == -1)
            why = strerror (errno);
        else
        if (!S_ISREG (st.st_mode))
            why = "not a regular file";
        else
        if (pc_file_name_check (xfer.name, strlen (xfer.name), &why) == 0)
            xfer.size = (uint64_t) st.st_size;
    }
    else
    if (streq (cmd, "/files")) {
        xfer.kind = CLIENT_UI_XFER_LIST;
        if (count != 0)
            why = "usage: /files";
    }
    else {
        xfer.kind = CLIENT_UI_XFER_GET;
        struct stat st;
        if (count < 1)
            why = "usage: /download NAME [DEST] (a NAME with spaces in \"quotes\")";
        else {
            snprintf (xfer.name, sizeof (xfer.name), "%s", words [0]);
            if (pc_file_name_check (xfer.name, strlen (xfer.name), &why) == 0) {
                char given [PATH_MAX];
                ui_expand_home (count == 2? words [1]: xfer.name, given, sizeof (given));
                if (count == 2 && stat (given, &st) == 0 && S_ISDIR (st.st_mode))
                    snprintf (path, sizeof (path), "%s/%s", given, xfer.name);
                else
                    snprintf (path, sizeof (path), "%s", given);
                if (lstat (path, &st) == 0)
                    why = "exists already: give another DEST";
            }
        }
    }
    free (copy);
    if (why) {
        char safe [PATH_MAX];
        client_conn_sanitize (*path? path: xfer.name, safe, sizeof (safe));
        ui_sys (self, win, L_ERR, "%s%s%s", *safe? safe: "", *safe? ": ": "", why);
        return;
    }
    xfer.id = ++self->next_xfer;
    xfer.win_type = win->type;
    snprintf (xfer.target, sizeof (xfer.target), "%s", win->target);
    snprintf (xfer.space, sizeof (xfer.space), "%s%s", win->type == W_DM? "@": "", win->target);
    xfer.path = strdup (path);
    xfer.state = win->type == W_DM? X_KEY: X_FILES;
    self->xfers [self->nxfers++] = xfer;
    xfer_t *added = &self->xfers [self->nxfers - 1];
    if (self->state != C_ONLINE)
        ui_sys (self, win, L_SYS, "not connected: the %s starts once connected", s_xfer_what (added));
    if (win->type == W_DM) {
        char id [16];
        snprintf (id, sizeof (id), "%d", xfer.id);
        ui_job_add (self, J_FILEKEY, win->target, win->target, id, NULL, 0, 0, false);
    }
    else
        ui_xfer_ask (self, added);
}

//  client_ui_dm.c: direct messages in the full-screen client: sealed with
//  client_dm for every device of the peer and of our own, devices pinned on
//  first use (PYCHAT_HOME/peers/USER), a new one announced, a changed key
//  refused until /trust USER. An action that needs devices waits as a job
//  until GETKEY answers. /devices lists and revokes our own.

#include "client_ui_core.h"
#include "pc_proto.h"
#include "client_state.h"
#include "client_dm_kinds.h"

#include <errno.h>


//  --------------------------------------------------------------------------
//  Direct messages: the DM window of a user.

win_t *
ui_dm_window (ui_t *self, const char *user)
{
    win_t *win = ui_win_find (self, W_DM, user);
    return win? win: ui_win_new (self, W_DM, user);
}


//  The devices of user looked up this run, or NULL.
static client_dm_devices_t *
s_peer_devices (ui_t *self, const char *user)
{
    for (size_t i = 0; i < self->npeers; i++)
        if (streq (self->peer_user [i], user))
            return &self->peer_devices [i];
    return NULL;
}

static void
s_peer_forget (ui_t *self, const char *user)
{
    for (size_t i = 0; i < self->npeers; i++)
        if (streq (self->peer_user [i], user)) {
            self->npeers--;
            memmove (self->peer_user [i], self->peer_user [self->npeers], sizeof (self->peer_user [i]));
            self->peer_devices [i] = self->peer_devices [self->npeers];
            self->peer_fetched [i] = self->peer_fetched [self->npeers];
            return;
        }
}

static void
s_peer_keep (ui_t *self, const char *user, const client_dm_devices_t *devices)
{
    client_dm_devices_t *known = s_peer_devices (self, user);
    if (!known && self->npeers < PEERS_MAX) {
        snprintf (self->peer_user [self->npeers], PC_NAME_MAX + 1, "%s", user);
        known = &self->peer_devices [self->npeers++];
    }
    if (known) {
        *known = *devices;
        self->peer_fetched [known - self->peer_devices] = zclock_mono ();
    }
}

//  Whose devices job needs first (sender's for a box, else the peer's),
//  and second (ours, to seal a copy for our other devices), or NULL.
static const char *
s_need (ui_t *self, job_t *job, int which)
{
    if (which == 0)
        return job->kind == J_OPEN? job->from: job->user;
    return (job->kind == J_SEND || job->kind == J_FILEKEY) && !streq (job->user, self->user)?
        self->user: NULL;
}

static bool
s_ready (ui_t *self, job_t *job)
{
    for (int k = 0; k < 2; k++) {
        const char *user = s_need (self, job, k);
        if (user && !s_peer_devices (self, user))
            return false;
    }
    return true;
}

void
ui_job_free (job_t *job)
{
    if (job->data)
        memset (job->data, 0, strlen (job->data));
    free (job->data);
    job->data = NULL;
}

//  Our own list with this device in it (its SETKEY may still be on the way).
static client_dm_devices_t
s_own_devices (ui_t *self)
{
    client_dm_devices_t own;
    client_dm_devices_t *known = s_peer_devices (self, self->user);
    if (known)
        own = *known;
    else
        memset (&own, 0, sizeof (own));
    if (!client_dm_devices_find (&own, self->dm_keys.id) && own.count < PC_DEVICES_MAX) {
        client_dm_device_t *device = &own.device [own.count++];
        memset (device, 0, sizeof (*device));
        snprintf (device->id, sizeof (device->id), "%s", self->dm_keys.id);
        snprintf (device->z85, sizeof (device->z85), "%s", self->dm_keys.public_txt);
        snprintf (device->name, sizeof (device->name), "%s", self->dm_keys.name);
    }
    return own;
}

static void
s_show_box (ui_t *self, win_t *win, job_t *job, const client_dm_devices_t *sender, bool last_try)
{
    char *text = NULL;
    int rc = client_dm_kinds_open (job->data, &self->dm_keys, sender, &text);
    (void) last_try;
    if (rc == 0 && text) {
        ui_add_message (self, win, job->id, job->from, job->ts, text, job->live);
        memset (text, 0, strlen (text));
        free (text);
    }
    else
        ui_sys (self, win, L_ERR, "a direct message from %s did not open (tampered, or "
                                 "not sealed for this device): not shown", job->from);
}

//  Runs job with the devices it needs (looked up and checked).
static void
s_job_run (ui_t *self, job_t *job)
{
    char finger [CLIENT_DM_FINGER];
    client_dm_devices_t *devices = s_peer_devices (self, s_need (self, job, 0));
    if (!devices)
        return;
    if (job->kind == J_FILEKEY) {
        client_dm_devices_t own = s_own_devices (self);
        ui_xfer_keyed (self, atoi (job->data), devices, &own);
        return;
    }
    win_t *win = ui_dm_window (self, job->user);
    if (!win)
        return;
    if (job->kind == J_SEND) {
        client_dm_devices_t own = s_own_devices (self);
        //  A delete carries no text
        char *box = streq (job->about, "delete")? strdup ("-")
                  : client_dm_seal_devices (job->data, strlen (job->data), &self->dm_keys,
                                            devices, &own);
        pc_msg_t *request = NULL;
        if (box) {
            request = pc_msg_new ("DM");
            pc_msg_add (request, job->user);
            pc_msg_add (request, job->cid);
            pc_msg_add (request, box);
            if (*job->about) {
                pc_msg_add (request, job->about);
                pc_msg_addf (request, "%" PRIu64, job->ref);
            }
        }
        const char *why = !box? "  [not sent: a published key is not usable]":
                          ui_request (self, request, R_DM, job->cid, 0) == -1?
                          "  [not sent: not connected]": NULL;
        if (why) {
            win_t *where = NULL;
            line_t *line = ui_find_cid (self, job->cid, &where);
            if (line) {
                line->pending = false;
                line->failed = true;
                line->len = ui_append (&line->text, line->len, why);
                line->cache_width = 0;
            }
        }
        pc_msg_destroy (&request);
        free (box);
    }
    else
    if (job->kind == J_OPEN)
        s_show_box (self, win, job, devices, true);
    else
    if (job->kind == J_FINGERPRINT) {
        for (size_t i = 0; i < devices->count; i++) {
            client_dm_fingerprint_z85 (devices->device [i].z85, finger);
            ui_sys (self, win, L_SYS, "%s's device '%s' (%s): %s", job->user,
                    devices->device [i].name, devices->device [i].id, finger);
        }
        client_dm_fingerprint (self->dm_keys.public_key, finger);
        ui_sys (self, win, L_SYS, "your own fingerprint: %s", finger);
    }
    else
        ui_sys (self, win, L_SYS, "%s's %zu device%s pinned as trusted", job->user,
                devices->count, devices->count == 1? " is": "s are");
}

static void s_job_submit (ui_t *self, job_t job);

void
ui_job_add (ui_t *self, job_kind_t kind, const char *user, const char *from, const char *data,
           const char *cid, uint64_t id, int64_t ts, bool live)
{
    if (!self->dm_ready) {
        ui_sys (self, NULL, L_ERR, "direct messages are off: no device key in %s", self->opts->home);
        return;
    }
    job_t job;
    memset (&job, 0, sizeof (job));
    job.kind = kind;
    snprintf (job.user, sizeof (job.user), "%s", user);
    snprintf (job.from, sizeof (job.from), "%s", from? from: user);
    job.data = data? strdup (data): NULL;
    snprintf (job.cid, sizeof (job.cid), "%s", cid? cid: "");
    job.id = id;
    job.ts = ts;
    job.live = live;
    s_job_submit (self, job);
}

//  Runs job now when the devices it needs are known, else keeps it (it
//  owns job.data) and asks for them
static void
s_job_submit (ui_t *self, job_t job)
{
    job_kind_t kind = job.kind;
    const char *user = job.user;
    if (kind == J_FINGERPRINT || kind == J_TRUST)
        s_peer_forget (self, user);     //  asked again: what the server says now
    if (kind == J_SEND || kind == J_FILEKEY)
        //  Sealing for a list looked up a while ago would miss a device
        //  added since, and go on sealing for a revoked one
        for (int k = 0; k < 2; k++) {
            const char *need = s_need (self, &job, k);
            client_dm_devices_t *known = need? s_peer_devices (self, need): NULL;
            if (known && zclock_mono () - self->peer_fetched [known - self->peer_devices] > PEER_FRESH_MS)
                s_peer_forget (self, need);
        }
    if (kind == J_OPEN) {
        //  The sender's devices known (or pinned) may do, without a lookup;
        //  a device they do not hold is looked up (a new one: announced)
        client_dm_devices_t pins;
        client_dm_devices_t *known = s_peer_devices (self, job.from);
        if (!known) {
            client_dm_pins_load (self->opts->home, job.from, &pins);
            known = &pins;
        }
        char *text = NULL;
        int rc = client_dm_kinds_open (job.data, &self->dm_keys, known, &text);
        if (text) {
            memset (text, 0, strlen (text));
            free (text);
        }
        if (rc != 1) {
            win_t *win = ui_dm_window (self, job.user);
            if (win)
                s_show_box (self, win, &job, known, true);
            ui_job_free (&job);
            return;
        }
        s_peer_forget (self, job.from);
    }
    if (s_ready (self, &job)) {
        s_job_run (self, &job);
        ui_job_free (&job);
        return;
    }
    if (self->njobs == JOBS_MAX) {
        ui_sys (self, NULL, L_ERR, "too many direct messages wait for keys: dropped one");
        ui_job_free (&job);
        return;
    }
    for (int k = 0; k < 2; k++) {
        const char *need = s_need (self, &job, k);
        if (!need || s_peer_devices (self, need))
            continue;
        bool asked = false;
        for (size_t i = 0; i < self->njobs; i++)
            for (int m = 0; m < 2; m++) {
                const char *other = s_need (self, &self->jobs [i], m);
                asked |= other && streq (other, need);
            }
        if (!asked && ui_simple (self, "GETKEY", need, NULL, NULL, R_GETKEY, need, 0) == -1)
            ui_sys (self, NULL, L_ERR, "not connected: %s's devices will be fetched after "
                    "reconnecting", need);
    }
    self->jobs [self->njobs++] = job;
}


//  GETKEY says there is no such account: nothing waiting for its key is
//  done; our lines say "not sent", and a DM window that holds nothing
//  but those closes again (it was opened for a name that is wrong).
static void
s_no_such_user (ui_t *self, const char *user)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->njobs; i++) {
        job_t *job = &self->jobs [i];
        if (!streq (job->user, user)) {
            self->jobs [kept++] = *job;
            continue;
        }
        win_t *where = NULL;
        line_t *line = job->kind == J_SEND? ui_find_cid (self, job->cid, &where): NULL;
        if (line)
            ui_line_answered (line, "no such user", 0);
        if (job->kind == J_FILEKEY)
            ui_xfer_keyed (self, atoi (job->data), NULL, NULL);     //  cancelled
        ui_job_free (job);
    }
    self->njobs = kept;
    win_t *win = ui_win_find (self, W_DM, user);
    bool only_ours = win != NULL;
    for (size_t i = 0; win && i < win->nlines; i++)
        only_ours &= win->lines [i]->own || win->lines [i]->kind != L_MSG;
    if (only_ours)
        ui_win_close (self, ui_win_index (self, win));
    ui_sys (self, only_ours? ui_current (self): win, L_ERR,
            "no such user: %s (nothing was sent)", user);
}

//  What client_dm_devices_check says goes to the user's DM window when
//  there is one (else the status window); a device of our own that we did
//  not know of, loudly.
typedef struct {
    ui_t       *ui;
    const char *user;
} say_t;

static void
s_say (void *arg, bool loud, const char *line)
{
    say_t *say = (say_t *) arg;
    ui_t *self = say->ui;
    win_t *win = ui_win_find (self, W_DM, say->user);
    ui_sys (self, win? win: self->wins [0], loud? L_ERR: L_SYS, "%s%s", loud? "WARNING: ": "", line);
    if (loud && win != ui_current (self))
        ui_sys (self, ui_current (self), L_ERR, "WARNING: %s", line);
}

void
ui_on_getkey (ui_t *self, const char *user, pc_msg_t *reply)
{
    if (client_dm_no_such_user (reply)) {
        s_no_such_user (self, user);
        return;
    }
    bool own = streq (user, self->user);
    client_dm_devices_t devices;
    bool valid = client_dm_devices_parse (reply, &devices) == 0;
    if (!valid && own) {
        memset (&devices, 0, sizeof (devices));     //  our first key is on the way
        valid = true;
    }
    bool trust = false;
    for (size_t i = 0; i < self->njobs; i++)
        trust |= self->jobs [i].kind == J_TRUST && streq (self->jobs [i].user, user);
    int checked = 0;
    if (valid && trust)
        checked = client_dm_pins_save (self->opts->home, user, &devices)? -1: 0;
    else
    if (valid) {
        say_t say = { self, user };
        checked = client_dm_devices_check (self->opts->home, self->user, self->dm_keys.id, user,
                                           &devices, s_say, &say);
    }
    if (valid && checked == 0)
        s_peer_keep (self, user, &devices);
    //  Every job that needed user: run when it has all it needs, failed
    //  when user's devices are not usable, else kept
    size_t kept = 0;
    for (size_t i = 0; i < self->njobs; i++) {
        job_t *job = &self->jobs [i];
        const char *first = s_need (self, job, 0), *second = s_need (self, job, 1);
        bool needs = streq (first, user) || (second && streq (second, user));
        if (!needs) {
            self->jobs [kept++] = *job;
            continue;
        }
        win_t *win = ui_dm_window (self, job->user);
        if (!valid || checked) {
            if (!valid)
                ui_sys (self, win, L_ERR, "%s has no direct-message key yet (they must log in "
                       "once with a client that publishes it)", user);
            else
            if (checked == 1)
                ui_sys (self, win, L_ERR, "%s's key CHANGED: refused; /fingerprint %s, then "
                       "/trust %s once you have checked it", user, user, user);
            if (job->kind == J_FILEKEY)
                ui_xfer_keyed (self, atoi (job->data), NULL, NULL);     //  no usable key: cancelled
            if (job->kind == J_SEND) {
                win_t *where = NULL;
                line_t *line = ui_find_cid (self, job->cid, &where);
                if (line)
                    ui_line_answered (line, "no usable key", 0);
            }
            ui_job_free (job);
            continue;
        }
        if (!s_ready (self, job)) {
            self->jobs [kept++] = *job;
            continue;
        }
        s_job_run (self, job);
        ui_job_free (job);
    }
    self->njobs = kept;
}


//  --------------------------------------------------------------------------
//  /devices

void
ui_devices_command (ui_t *self, win_t *win, const char *arg)
{
    char id [CLIENT_DM_ID + 1] = "";
    if (strncmp (arg, "revoke ", 7) == 0) {
        snprintf (id, sizeof (id), "%s", arg + 7);
        if (strlen (id) != CLIENT_DM_ID - 1 || strspn (id, "0123456789abcdef") != CLIENT_DM_ID - 1) {
            ui_sys (self, win, L_ERR, "usage: /devices revoke ID (8 hex digits, from /devices)");
            return;
        }
        if (ui_simple (self, "DEVREVOKE", id, NULL, NULL, R_DEVREVOKE, id, 0) == -1)
            ui_sys (self, win, L_ERR, "not connected");
        return;
    }
    if (strncmp (arg, "name ", 5) == 0 && arg [5]) {
        //  Kept where `pychat devices name` keeps it, published at once
        char name [CLIENT_DM_NAME], path [PATH_MAX], text [CLIENT_DM_NAME + 2];
        snprintf (name, sizeof (name), "%s", arg + 5);
        for (char *c = name; *c; c++)
            *c = *c > 0x20 && *c < 0x7f? *c: '_';
        snprintf (path, sizeof (path), "%s/device.name", self->opts->home);
        snprintf (text, sizeof (text), "%s\n", name);
        if (client_state_write_atomic (path, text, 0600) == -1) {
            ui_sys (self, win, L_ERR, "cannot save %s: %s", path, strerror (errno));
            return;
        }
        snprintf (self->dm_keys.name, sizeof (self->dm_keys.name), "%s", name);
        ui_simple (self, "SETKEY", self->dm_keys.public_txt, self->dm_keys.name, NULL, R_SETKEY,
                   NULL, 0);
        ui_sys (self, win, L_SYS, "this device is now named '%s'", name);
        return;
    }
    if (*arg) {
        ui_sys (self, win, L_ERR, "usage: /devices, /devices revoke ID, /devices name NAME");
        return;
    }
    if (ui_simple (self, "GETKEY", self->user, NULL, NULL, R_DEVICES, self->user, 0) == -1)
        ui_sys (self, win, L_ERR, "not connected");
}

void
ui_on_devices (ui_t *self, pc_msg_t *reply, bool revoke, const char *what)
{
    win_t *win = ui_current (self);
    if (revoke) {
        if (pc_msg_is (reply, "OK")) {
            ui_sys (self, win, L_SYS, "revoked device %s: direct messages are no longer sealed "
                    "for it", what);
            s_peer_forget (self, self->user);
        }
        else {
            char reason [160];
            client_conn_sanitize (pc_msg_error_reason (reply), reason, sizeof (reason));
            ui_sys (self, win, L_ERR, "cannot revoke %s: %s", what, reason);
        }
        return;
    }
    client_dm_devices_t devices;
    if (client_dm_devices_parse (reply, &devices)) {
        ui_sys (self, win, L_ERR, "no devices listed yet");
        return;
    }
    ui_sys (self, win, L_SYS, "your devices (/devices revoke ID stops sealing for one):");
    char finger [CLIENT_DM_FINGER];
    for (size_t i = 0; i < devices.count; i++) {
        client_dm_fingerprint_z85 (devices.device [i].z85, finger);
        ui_sys (self, win, L_SYS, "  %s  %s  %s%s", devices.device [i].id, devices.device [i].name,
                finger, streq (devices.device [i].id, self->dm_keys.id)? "  (this device)": "");
    }
    say_t say = { self, self->user };
    if (client_dm_devices_check (self->opts->home, self->user, self->dm_keys.id, self->user,
                                 &devices, s_say, &say) == 0)
        s_peer_keep (self, self->user, &devices);
}

bool
ui_dm_own_echo (ui_t *self, const char *from, const char *box, int64_t ts)
{
    //  An event (an edit...) is shown when it comes back, as in a room
    char id [CLIENT_DM_ID];
    return streq (from, self->user) && *box != '\x1e' && client_dm_box_sender (box, id)
        && streq (id, self->dm_keys.id) && ts >= self->started;
}


void
ui_dm_say (ui_t *self, win_t *win, const char *text)
{
    zuuid_t *uuid = zuuid_new ();
    char cid [40];
    snprintf (cid, sizeof (cid), "%s", zuuid_str (uuid));
    zuuid_destroy (&uuid);
    line_t *line = ui_line_new (L_MSG, 0, self->user, pc_now_ms (), text);
    line->own = true;
    line->pending = true;
    snprintf (line->cid, sizeof (line->cid), "%s", cid);
    ui_win_insert (win, line, win->nlines);
    win->scroll = 0;
    ui_job_add (self, J_SEND, win->target, self->user, text, cid, 0, 0, false);
}


void
ui_dm_about (ui_t *self, win_t *win, const char *kind, uint64_t ref, const char *text)
{
    if (!self->dm_ready) {
        ui_sys (self, win, L_ERR, "direct messages are off: no device key in %s", self->opts->home);
        return;
    }
    if ((streq (kind, "react") || streq (kind, "unreact")) && !pc_reaction_valid (text)) {
        ui_sys (self, win, L_ERR, "a reaction is one emoji or a short token of A-Z a-z 0-9 _ + : -");
        return;
    }
    //  Shown when its copy comes back (ui_dm_own_echo lets events through)
    job_t job;
    memset (&job, 0, sizeof (job));
    job.kind = J_SEND;
    snprintf (job.user, sizeof (job.user), "%s", win->target);
    snprintf (job.from, sizeof (job.from), "%s", self->user);
    job.data = strdup (text);
    zuuid_t *uuid = zuuid_new ();
    snprintf (job.cid, sizeof (job.cid), "%s", zuuid_str (uuid));
    zuuid_destroy (&uuid);
    snprintf (job.about, sizeof (job.about), "%s", kind);
    job.ref = ref;
    s_job_submit (self, job);
}

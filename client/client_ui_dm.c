//  client_ui_dm.c: direct messages in the full-screen client: sealed with
//  client_dm (crypto_box), keys pinned on first use (PYCHAT_HOME/peers/USER),
//  a changed key refused until /trust USER. An action that needs a peer's
//  key waits as a job until GETKEY answers.

#include "client_ui_core.h"
#include "pc_proto.h"


//  --------------------------------------------------------------------------
//  Direct messages: sealed with client_dm (crypto_box), keys pinned on first
//  use (PYCHAT_HOME/peers/USER), a changed key refused until /trust USER.

win_t *
ui_dm_window (ui_t *self, const char *user)
{
    win_t *win = ui_win_find (self, W_DM, user);
    return win? win: ui_win_new (self, W_DM, user);
}


static const char *
s_peer_key (ui_t *self, const char *user)
{
    for (size_t i = 0; i < self->npeers; i++)
        if (streq (self->peer_user [i], user))
            return self->peer_key [i];
    return NULL;
}


void
ui_job_free (job_t *job)
{
    if (job->data)
        memset (job->data, 0, strlen (job->data));
    free (job->data);
    job->data = NULL;
}


//  Runs job with the peer's (pinned) key z85.
static void
s_job_run (ui_t *self, job_t *job, const char *z85)
{
    uint8_t key [CLIENT_DM_KEY];
    char finger [CLIENT_DM_FINGER];
    if (job->kind == J_FILEKEY) {
        ui_xfer_keyed (self, atoi (job->data), z85);
        return;
    }
    win_t *win = ui_dm_window (self, job->kind == J_OPEN? job->from: job->user);
    if (!win)
        return;
    if (!client_dm_z85_decode (z85, key)) {
        ui_sys (self, win, L_ERR, "%s's key is malformed", job->user);
        return;
    }
    if (job->kind == J_SEND) {
        char *box = client_dm_seal (job->data, strlen (job->data), key, self->dm_keys.secret_key);
        pc_msg_t *request = pc_msg_new ("DM");
        pc_msg_add (request, job->user);
        pc_msg_add (request, job->cid);
        pc_msg_add (request, box);
        if (ui_request (self, request, R_DM, job->cid, 0) == -1) {
            win_t *where = NULL;
            line_t *line = ui_find_cid (self, job->cid, &where);
            if (line) {
                line->pending = false;
                line->failed = true;
                line->len = ui_append (&line->text, line->len, "  [not sent: not connected]");
                line->cache_width = 0;
            }
        }
        pc_msg_destroy (&request);
        free (box);
    }
    else
    if (job->kind == J_OPEN) {
        char *text = client_dm_open (job->data, key, self->dm_keys.secret_key);
        if (text) {
            ui_add_message (self, win, job->id, job->from, job->ts, text, job->live);
            memset (text, 0, strlen (text));
            free (text);
        }
        else
            ui_sys (self, win, L_ERR, "a direct message from %s did not open (tampered, or "
                                     "sealed for another key): not shown", job->from);
    }
    else
    if (job->kind == J_FINGERPRINT) {
        client_dm_fingerprint (key, finger);
        ui_sys (self, win, L_SYS, "%s's key fingerprint: %s (pinned)", job->user, finger);
        client_dm_fingerprint (self->dm_keys.public_key, finger);
        ui_sys (self, win, L_SYS, "your own fingerprint: %s", finger);
    }
    else
        ui_sys (self, win, L_SYS, "%s's key is pinned as trusted", job->user);
}


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
    const char *known = kind == J_FINGERPRINT || kind == J_TRUST? NULL: s_peer_key (self, user);
    if (known) {
        s_job_run (self, &job, known);
        ui_job_free (&job);
        return;
    }
    if (self->njobs == JOBS_MAX) {
        ui_sys (self, NULL, L_ERR, "too many direct messages wait for keys: dropped one");
        ui_job_free (&job);
        return;
    }
    bool asked = false;
    for (size_t i = 0; i < self->njobs; i++)
        asked |= streq (self->jobs [i].user, user);
    self->jobs [self->njobs++] = job;
    if (!asked && ui_simple (self, "GETKEY", user, NULL, NULL, R_GETKEY, user, 0) == -1)
        ui_sys (self, NULL, L_ERR, "not connected: %s's key will be fetched after reconnecting", user);
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
            ui_xfer_keyed (self, atoi (job->data), NULL);     //  cancelled
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


void
ui_on_getkey (ui_t *self, const char *user, pc_msg_t *reply)
{
    if (client_dm_no_such_user (reply)) {
        s_no_such_user (self, user);
        return;
    }
    const char *z85 = pc_msg_is (reply, "OK")? pc_getkey_ok_key (reply): NULL;
    char pinned [CLIENT_DM_Z85];
    bool has_pin = client_dm_pin_load (self->opts->home, user, pinned);
    bool valid = z85 && pc_keys_valid_z85 (z85);
    bool changed = valid && has_pin && !streq (pinned, z85);
    size_t kept = 0;
    for (size_t i = 0; i < self->njobs; i++) {
        job_t *job = &self->jobs [i];
        if (!streq (job->user, user)) {
            self->jobs [kept++] = *job;
            continue;
        }
        win_t *win = ui_dm_window (self, job->kind == J_OPEN? job->from: user);
        bool run = false;
        if (!valid)
            ui_sys (self, win, L_ERR, "%s has no direct-message key yet (they must log in once "
                   "with a client that publishes it)", user);
        else
        if (job->kind == J_TRUST) {
            if (client_dm_pin_save (self->opts->home, user, z85) == 0)
                s_job_run (self, job, z85);
            run = true;
        }
        else
        if (changed) {
            char finger [CLIENT_DM_FINGER];
            client_dm_fingerprint_z85 (z85, finger);
            ui_sys (self, win, L_ERR, "%s's key CHANGED (now %s): refused; /fingerprint %s, "
                   "then /trust %s once you have checked it", user, finger, user, user);
        }
        else {
            if (!has_pin && client_dm_pin_save (self->opts->home, user, z85) == 0) {
                has_pin = true;
                snprintf (pinned, sizeof (pinned), "%s", z85);
            }
            s_job_run (self, job, z85);
            run = true;
        }
        if (!run && job->kind == J_FILEKEY)
            ui_xfer_keyed (self, atoi (job->data), NULL);     //  no usable key: cancelled
        ui_job_free (job);
    }
    self->njobs = kept;
    if (valid && (!changed || !has_pin) && self->npeers < PEERS_MAX && !s_peer_key (self, user)) {
        snprintf (self->peer_user [self->npeers], PC_NAME_MAX + 1, "%s", user);
        snprintf (self->peer_key [self->npeers++], CLIENT_DM_Z85, "%s", z85);
    }
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

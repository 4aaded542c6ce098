//  client_ui_session.c: what the session engine (client_session) tells the
//  full-screen client: login, messages in id order, acknowledged SENDs,
//  replies to its own requests, fan-out, state changes.

#include "client_ui_core.h"
#include "client_cmd.h"
#include "pc_proto.h"


//  LOGIN refused: back to the form, saying why.
static void
s_login_refused (ui_t *self, pc_msg_t *reply)
{
    int code = pc_msg_error_code (reply);
    char reason [160];
    client_conn_sanitize (pc_msg_error_reason (reply), reason, sizeof (reason));
    self->state = C_IDLE;
    self->busy = false;
    self->mode = M_FORM;
    self->focus = 2;
    //  A person at the form now: a server that does not answer is said
    //  so there, not retried behind it
    client_session_set_persistent (self->session, false);
    bool resumed = self->resuming;
    self->resuming = false;
    if (resumed && code == PC_ERR_AUTH && !self->password [0]) {
        //  The saved token was revoked or expired (ui_on_token forgot it)
        snprintf (self->form_msg, sizeof (self->form_msg),
                  "Your saved session has ended; please log in again.");
        return;
    }
    //  LOGIN says 401 for an unknown user and a wrong password alike (the
    //  auth service will not tell which): no offer to create an account
    //  that may well exist; Ctrl-R, on the form, registers.
    if (code == PC_ERR_AUTH)
        snprintf (self->form_msg, sizeof (self->form_msg),
                  "Wrong password, or no account '%s' (Ctrl-R creates it)", self->user);
    else
    if (code == PC_ERR_CONFLICT)
        snprintf (self->form_msg, sizeof (self->form_msg),
                  "The name '%s' is taken: check the password", self->user);
    else
    if (code == PC_ERR_THROTTLED) {
        char wait [32];
        client_conn_sanitize (pc_error_detail (reply), wait, sizeof (wait));
        snprintf (self->form_msg, sizeof (self->form_msg),
                  "Too many failed logins: retry in %s s", *wait? wait: "a few");
    }
    else
        snprintf (self->form_msg, sizeof (self->form_msg), "%s: %s",
                  self->registering? "Cannot register": "Login refused", reason);
}


//  The session engine logged in (again): the engine joins the rooms and
//  resends the outbox itself; here the DM key, the inbox, waiting jobs.
void
ui_on_login (void *arg, pc_msg_t *reply, bool again)
{
    ui_t *self = (ui_t *) arg;
    if (pc_msg_is (reply, "ERROR")) {
        s_login_refused (self, reply);
        return;
    }
    self->busy = false;
    self->registering = false;
    self->resuming = false;
    if (self->mode == M_FORM) {
        self->mode = M_CHAT;
        ui_conf_save (self);
    }
    ui_sys (self, self->wins [0], L_SYS, "%s as %s to %s", again? "reconnected": "connected",
           self->user, self->server);
    ui_rooms_restore (self);            //  once: the rooms of the last run, or #lobby
    for (size_t i = 0; i < self->nxfers; i++)
        if (self->xfers [i].state == X_FILES)
            ui_xfer_ask (self, &self->xfers [i]);
    if (!self->dm_ready)
        return;
    //  This device in the account's list, then read what came while we
    //  were away; the lookups lost with the connection go out again.
    ui_simple (self, "SETKEY", self->dm_keys.public_txt, self->dm_keys.name, NULL, R_SETKEY,
               NULL, 0);
    char since [32];
    snprintf (since, sizeof (since), "%" PRIu64, self->inbox_last);
    ui_simple (self, "INBOX", since, "200", NULL, R_INBOX, NULL, 0);
    const char *asked [2 * JOBS_MAX];
    size_t nasked = 0;
    for (size_t i = 0; i < self->njobs; i++) {
        job_t *job = &self->jobs [i];
        const char *needs [2] = { job->kind == J_OPEN? job->from: job->user,
                                  job->kind == J_SEND || job->kind == J_FILEKEY? self->user: NULL };
        for (int k = 0; k < 2; k++) {
            bool first = needs [k] != NULL;
            for (size_t m = 0; first && m < nasked; m++)
                first = !streq (asked [m], needs [k]);
            if (first) {
                asked [nasked++] = needs [k];
                ui_simple (self, "GETKEY", needs [k], NULL, NULL, R_GETKEY, needs [k], 0);
            }
        }
    }
}


static void
s_on_inbox (ui_t *self, pc_msg_t *reply)
{
    size_t n = pc_inbox_ok_count (reply);
    for (size_t m = 0; m < n; m++) {
        uint64_t id = strtoull (pc_inbox_ok_id (reply, m), NULL, 10);
        const char *from = pc_inbox_ok_from (reply, m);
        const char *to = pc_inbox_ok_to (reply, m);
        int64_t ts = strtoll (pc_inbox_ok_time (reply, m), NULL, 10);
        if (id > self->inbox_last)
            self->inbox_last = id;
        if (!pc_name_valid (from) || !to || !pc_name_valid (to)
        ||  ui_dm_own_echo (self, from, pc_inbox_ok_box (reply, m), ts))
            continue;
        //  our own copy (from another device, or an earlier run) goes to
        //  the window of the one it was for
        const char *other = streq (from, self->user)? to: from;
        ui_job_add (self, J_OPEN, other, from, pc_inbox_ok_box (reply, m), NULL, id, ts, false);
    }
}


//  A login gave this device a resume token: saved (mode 0600) for the next
//  start, as the CLI does; token NULL: the saved one was refused, and goes.
void
ui_on_token (void *arg, const char *token, const char *sid)
{
    ui_t *self = (ui_t *) arg;
    if (self->user [0])
        client_token_update (self->opts->home, self->user, self->opts->server_key, token, sid);
}


//  SLOWMODE answered (n: the seconds asked for), in the room's window.
static void
s_on_slowmode (ui_t *self, win_t *win, const char *room, long n, const char *error)
{
    if (error)
        ui_sys (self, win, L_ERR, "slowmode #%s: %s", room, error);
    else
    if (n > 0)
        ui_sys (self, win, L_SYS, "slow mode in #%s: one message every %ld s", room, n);
    else
        ui_sys (self, win, L_SYS, "slow mode in #%s ended", room);
}


//  /history N and scroll-back pages (the catch-up is the engine's).
static void
s_on_history (ui_t *self, win_t *win, pc_msg_t *reply, const char *reason, long n_asked)
{
    if (reason) {
        ui_sys (self, win, L_ERR, "history of #%s: %s", win->target, reason);
        return;
    }
    size_t n = pc_history_ok_count (reply);
    for (size_t m = 0; m < n; m++)
        ui_add_message (self, win, strtoull (pc_history_ok_id (reply, m), NULL, 10),
                        pc_history_ok_from (reply, m),
                        strtoll (pc_history_ok_time (reply, m), NULL, 10),
                        pc_history_ok_text (reply, m), false);
    if (n_asked == -1)
        ui_sys (self, win, L_SYS, "history: %zu messages", n);
}


static void
s_on_who (ui_t *self, win_t *win, const char *room, pc_msg_t *reply, bool quiet)
{
    //  "NAME online" or "NAME away TEXT" (WHO room presence)
    if (win) {
        ui_win_members_free (win);
        win->members = (char **) calloc (pc_msg_nfields (reply) + 1, sizeof (char *));
    }
    pc_buf_t list;
    pc_buf_init (&list);
    size_t count = 0;
    for (size_t f = 0; f < pc_msg_nfields (reply); f++) {
        char name [PC_NAME_MAX + 1], state [16], away [256], safe [256];
        if (client_cmd_presence_parse (pc_who_ok_user (reply, f), name, state, away, sizeof (away)))
            continue;
        ui_presence_seed (self, name, state, away);
        if (win)
            win->members [win->nmembers++] = strdup (name);
        client_conn_sanitize (away, safe, sizeof (safe));
        pc_buf_printf (&list, "%s%s%s%s%s", count++? ", ": "", name,
                       streq (state, "away")? " (away": "", *safe? ": ": "", safe);
        if (streq (state, "away"))
            pc_buf_printf (&list, ")");
    }
    if (!quiet)
        ui_sys (self, win, L_SYS, "#%s: %zu members: %s", room, count, list.data? list.data: "");
    pc_buf_free (&list);
}


static void
s_on_rooms (ui_t *self, pc_msg_t *reply)
{
    win_t *to = ui_current (self);
    for (size_t k = 0; k < self->nknown; k++)
        free (self->known_rooms [k]);
    free (self->known_rooms);
    self->nknown = pc_msg_nfields (reply);
    self->known_rooms = (char **) calloc (self->nknown + 1, sizeof (char *));
    ui_sys (self, to, L_SYS, "%zu rooms (name, members, messages):", self->nknown);
    for (size_t f = 0; f < self->nknown; f++) {
        char name [80], safe [160];
        client_conn_sanitize (pc_rooms_ok_room (reply, f), safe, sizeof (safe));
        sscanf (safe, "%79s", name);
        self->known_rooms [f] = strdup (name);
        ui_sys (self, to, L_SYS, "  #%s", safe);
    }
}


//  A request that will get no reply: the connection was lost, or it expired.
static void
s_on_no_reply (ui_t *self, req_kind_t kind, const char *what, long n)
{
    win_t *win = what [0]? ui_win_find (self, W_ROOM, what): NULL;
    if (kind == R_OLDER && win)
        win->fetching = false;
    else
    if (kind == R_FILES) {
        xfer_t *xfer = ui_xfer_find (self, (int) n);
        if (xfer && xfer->state == X_FILES)
            ui_xfer_fail (self, xfer, "the broker did not say where the file service is");
    }
    else
    if (kind == R_DM) {
        win_t *where = NULL;
        line_t *line = ui_find_cid (self, what, &where);
        if (line && line->pending)
            ui_line_answered (line, "connection lost", 0);
    }
}


//  The reply to one of this file's requests (client_session_request).
void
ui_on_reply (void *arg, int kind_int, const char *what, long n, pc_msg_t *reply)
{
    ui_t *self = (ui_t *) arg;
    req_kind_t kind = (req_kind_t) kind_int;
    if (!reply) {
        s_on_no_reply (self, kind, what, n);
        return;
    }
    char reason [200];
    bool error = pc_msg_is (reply, "ERROR");
    client_conn_sanitize (pc_msg_error_reason (reply), reason, sizeof (reason));
    if (error && !*reason)
        snprintf (reason, sizeof (reason), "%s", pc_error_name (pc_msg_error_code (reply)));
    win_t *win = what [0]? ui_win_find (self, W_ROOM, what): NULL;
    switch (kind) {
        case R_AWAY:
        case R_TYPING:
            ui_presence_on_reply (self, kind, reply);
            break;
        case R_LOGOUT:
            self->logged_out = true;
            self->logout_ok = !error;
            break;
        case R_SLOWMODE:
            s_on_slowmode (self, win? win: ui_current (self), what, n, error? reason: NULL);
            break;
        case R_SETKEY:
            if (error) {
                ui_sys (self, self->wins [0], L_ERR, "WARNING: this device's DM key was not "
                        "published (%s): direct messages will not be sealed for it", reason);
                if (ui_current (self) != self->wins [0])
                    ui_sys (self, ui_current (self), L_ERR, "WARNING: this device's DM key was "
                            "not published (%s)", reason);
            }
            break;
        case R_DEVICES:
        case R_DEVREVOKE:
            ui_on_devices (self, reply, kind == R_DEVREVOKE, what);
            break;
        case R_GETKEY:
            ui_on_getkey (self, what, reply);
            break;
        case R_FILES: {
            xfer_t *xfer = ui_xfer_find (self, (int) n);
            if (xfer && xfer->state == X_FILES)
                ui_xfer_start (self, xfer, reply);
            break;
        }
        case R_DM: {
            win_t *where = NULL;
            line_t *line = ui_find_cid (self, what, &where);
            const char *ts = pc_dm_ok_time (reply);
            const char *own = error? NULL: pc_dm_ok_own (reply);
            if (line)
                ui_line_answered (line, error? reason: NULL, !error && ts? strtoll (ts, NULL, 10): 0);
            if (line && own && strtoull (own, NULL, 10))
                line->id = strtoull (own, NULL, 10);    //  our inbox's id: /edit names it
            if (!line && error && where == NULL)
                ui_sys (self, ui_current (self), L_ERR, "direct message: %s", reason);
            break;
        }
        case R_INBOX:
            if (!error)
                s_on_inbox (self, reply);
            break;
        case R_HISTORY:
        case R_OLDER:
            if (win && kind == R_OLDER)
                win->fetching = false;
            if (win)
                s_on_history (self, win, reply, error? reason: NULL, n);
            break;
        case R_WHO:
        case R_WHO_QUIET:
            if (error && kind == R_WHO)
                ui_sys (self, win, L_ERR, "who: %s", reason);
            else
            if (!error)
                s_on_who (self, win, what, reply, kind == R_WHO_QUIET);
            break;
        case R_UNREAD:
        case R_MARK:
        case R_NOTIFY:
        case R_MENTIONS:
            ui_marks_on_reply (self, kind, what, reply, error? reason: NULL);
            break;
        case R_SEARCH:
            ui_on_search (self, win, what, reply, error? reason: NULL);
            break;
        case R_ROOMS:
            if (error)
                ui_sys (self, ui_current (self), L_ERR, "rooms: %s", reason);
            else
                s_on_rooms (self, reply);
            break;
    }
}


//  A SEND was answered: the pending line gets its id, or says why not.
void
ui_on_sent (void *arg, const char *cid, int code, const char *reason, uint64_t id, int64_t ts)
{
    ui_t *self = (ui_t *) arg;
    win_t *where = NULL;
    line_t *line = ui_find_cid (self, cid, &where);
    if (!line && code) {                //  an edit, delete, reply or reaction
        char safe [200];
        client_conn_sanitize (reason, safe, sizeof (safe));
        ui_sys (self, ui_current (self), L_ERR, "not done: %s", *safe? safe: pc_error_name (code));
        return;
    }
    if (!line)
        return;
    if (code) {
        char safe [200];
        client_conn_sanitize (reason, safe, sizeof (safe));
        ui_line_answered (line, *safe? safe: pc_error_name (code), 0);
        return;
    }
    bool dup = false;
    for (size_t l = 0; l < where->nlines; l++)
        dup |= where->lines [l] != line && where->lines [l]->id == id;
    if (dup) {                          //  the fan-out showed it already
        for (size_t l = 0; l < where->nlines; l++)
            if (where->lines [l] == line) {
                ui_line_destroy (&where->lines [l]);
                memmove (where->lines + l, where->lines + l + 1,
                         (where->nlines - l - 1) * sizeof (line_t *));
                where->nlines--;
                break;
            }
        return;
    }
    if (!line->pending)
        return;
    line->id = id;
    ui_line_answered (line, NULL, ts);
    if (id > where->last_id)
        where->last_id = id;
}


//  A stored message of a followed room, in id order, once.
void
ui_on_message (void *arg, const char *room, uint64_t id, const char *from, int64_t ts,
              const char *text, bool live)
{
    ui_t *self = (ui_t *) arg;
    win_t *win = ui_win_find (self, W_ROOM, room);
    if (!win)
        return;
    if (live) {
        ui_member_seen (win, from);
        ui_presence_spoke (self, room, from);
    }
    ui_add_message (self, win, id, from, ts, text, live);
}


void
ui_on_lost (void *arg, const char *room, uint64_t first, uint64_t last)
{
    ui_t *self = (ui_t *) arg;
    win_t *win = ui_win_find (self, W_ROOM, room);
    if (win)
        ui_sys (self, win, L_ERR, "messages %" PRIu64 "-%" PRIu64 " are no longer in the history",
               first, last);
}


//  Flood control held a message back: the engine sends it again by itself;
//  the window says so once for each wait
void
ui_on_held (void *arg, const char *cid, int64_t wait_ms, const char *reason)
{
    ui_t *self = (ui_t *) arg;
    win_t *where = NULL;
    line_t *line = ui_find_cid (self, cid, &where);
    int64_t now = zclock_mono ();
    if (self->held_said && now - self->held_said < 1000)
        return;
    self->held_said = now;
    char safe [120];
    client_conn_sanitize (reason, safe, sizeof (safe));
    ui_sys (self, line? where: self->wins [0], L_SYS, "held back by the server (%s): sending again in %.1f s",
            *safe? safe: "rate limit", wait_ms / 1000.0);
}

void
ui_on_join_failed (void *arg, const char *room, int code, const char *reason)
{
    ui_t *self = (ui_t *) arg;
    win_t *win = ui_win_find (self, W_ROOM, room);
    char safe [200];
    client_conn_sanitize (reason, safe, sizeof (safe));
    if (win)
        ui_sys (self, win, L_ERR, "cannot join #%s: %s", room, *safe? safe: pc_error_name (code));
}


//  Joined and caught up: who is in each room (for Tab).
void
ui_on_ready (void *arg)
{
    ui_t *self = (ui_t *) arg;
    for (size_t i = 0; i < self->nwins; i++)
        if (self->wins [i]->type == W_ROOM && !self->wins [i]->nmembers)
            ui_simple (self, "WHO", self->wins [i]->target, "presence", NULL, R_WHO_QUIET,
                      self->wins [i]->target, 0);
    ui_marks_refresh (self);            //  the sidebar's counts, from the server
}


void
ui_on_state (void *arg, client_session_state_t state, const char *why)
{
    ui_t *self = (ui_t *) arg;
    char safe [160];
    client_conn_sanitize (why, safe, sizeof (safe));
    bool was_online = self->state == C_ONLINE;
    switch (state) {
        case CLIENT_SESSION_ONLINE:     self->state = C_ONLINE; break;
        case CLIENT_SESSION_CONNECTING: self->state = C_CONNECTING; break;
        case CLIENT_SESSION_WAITING:
            self->state = C_WAIT;
            if (was_online)
                ui_sys (self, self->wins [0], L_ERR, "connection lost: %s", safe);
            break;
        case CLIENT_SESSION_IDLE:
        case CLIENT_SESSION_REFUSED:
            if (self->mode == M_CHAT && state == CLIENT_SESSION_REFUSED && self->busy) {
                ui_sys (self, self->wins [0], L_ERR, "%s", safe);
                self->state = C_DEAD;
                snprintf (self->dead_reason, sizeof (self->dead_reason), "%s", "bad server");
            }
            else
            if (self->busy) {                   //  the form waits for an answer
                self->state = C_IDLE;
                snprintf (self->form_msg, sizeof (self->form_msg), "%s", safe);
            }
            self->busy = false;
            break;
    }
}


//  Fan-out that is not a room's MSG: direct messages and notices.
void
ui_on_fanout (void *arg, pc_msg_t *msg)
{
    ui_t *self = (ui_t *) arg;
    if (ui_presence_on_fanout (self, msg))
        return;
    if (ui_marks_on_fanout (self, msg))
        return;
    if (pc_msg_is (msg, "DMMSG") && pc_msg_nfields (msg) >= 5) {
        const char *from = pc_dmmsg_from (msg);
        const char *to = pc_dmmsg_to (msg);
        const char *other = streq (from, self->user)? to: from;
        win_t *win = ui_win_find (self, W_DM, other);
        if (!win)
            win = ui_win_new (self, W_DM, other);
        if (!win)
            return;
        uint64_t id = strtoull (pc_dmmsg_id (msg), NULL, 10);
        int64_t ts = strtoll (pc_dmmsg_time (msg), NULL, 10);
        if (!pc_name_valid (from) || !pc_name_valid (other))
            return;
        if (id > self->inbox_last)
            self->inbox_last = id;
        //  our own copy: shown already when this device wrote it, else it
        //  is what we wrote on another device
        if (ui_dm_own_echo (self, from, pc_dmmsg_box (msg), ts))
            return;
        ui_job_add (self, J_OPEN, other, from, pc_dmmsg_box (msg), NULL, id, ts, true);
    }
    else
    if (pc_msg_is (msg, "NOTICE") && pc_msg_nfields (msg) >= 2) {
        char kind [64], text [512];
        client_conn_sanitize (pc_notice_kind (msg), kind, sizeof (kind));
        client_conn_sanitize (pc_notice_text (msg), text, sizeof (text));
        ui_sys (self, self->wins [0], L_ERR, "%s: %s", kind, text);
        if (ui_current (self) != self->wins [0])
            ui_sys (self, ui_current (self), L_ERR, "%s: %s", kind, text);
        if (self->bell)
            beep ();
        if (streq (kind, "banned") || streq (kind, "deleted")) {
            client_session_stop (self->session);
            self->state = C_DEAD;
            snprintf (self->dead_reason, sizeof (self->dead_reason), "%s", kind);
        }
    }
}

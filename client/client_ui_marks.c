//  client_ui_marks.c: read markers, unread counts from the server, the
//  notification level of each room and mentions in the full-screen client
//  (PROTOCOL.md, "Read markers and mentions").
//
//  The sidebar's counts come from the server (UNREAD, once joined and
//  caught up, and again when another device moved a marker past what this
//  one has seen); live messages add to them here. Viewing a room marks it
//  read (MARK, at most once a second per room), which clears the count on
//  the user's other devices through their MARKED.
#include "client_ui_core.h"
#include "pc_proto.h"

#define MARK_EVERY_MS       1000        //  a room's MARKs, at most this often
#define MENTIONS_SHOWN      20          //  /mentions lists the newest this many

static int
s_level (const char *text)
{
    return streq (text, "none")? LEVEL_NONE: streq (text, "mentions")? LEVEL_MENTIONS: LEVEL_ALL;
}

static const char *
s_level_name (int level)
{
    return level == LEVEL_NONE? "none": level == LEVEL_MENTIONS? "mentions": "all";
}

void
ui_marks_refresh (ui_t *self)
{
    ui_simple (self, "UNREAD", NULL, NULL, NULL, R_UNREAD, NULL, 0);
}

void
ui_marks_viewed (ui_t *self, win_t *win)
{
    if (win->type != W_ROOM || win->last_id <= win->marked)
        return;
    int64_t now = zclock_mono ();
    if (self->state != C_ONLINE || now - win->mark_at < MARK_EVERY_MS) {
        win->mark_due = true;           //  ui_marks_tick sends it
        return;
    }
    char id [32];
    snprintf (id, sizeof (id), "%" PRIu64, win->last_id);
    if (ui_simple (self, "MARK", win->target, id, NULL, R_MARK, win->target, 0) == 0) {
        win->marked = win->last_id;
        win->mark_at = now;
        win->mark_due = false;
    }
}

void
ui_marks_tick (ui_t *self)
{
    for (size_t i = 0; i < self->nwins; i++) {
        win_t *win = self->wins [i];
        if (win->mark_due && i == self->current && self->mode == M_CHAT)
            ui_marks_viewed (self, win);
    }
}

//  UNREAD: per room, "ROOM UNREAD MENTIONS LEVEL MARK LAST"
static void
s_on_unread (ui_t *self, pc_msg_t *reply)
{
    for (size_t i = 0; i < pc_unread_ok_count (reply); i++) {
        char room [64], level [16];
        long long unread, mentions;
        unsigned long long mark, last;
        if (sscanf (pc_unread_ok_room (reply, i), "%63s %lld %lld %15s %llu %llu", room, &unread,
                    &mentions, level, &mark, &last) != 6)
            continue;
        win_t *win = ui_win_find (self, W_ROOM, room);
        if (!win)
            continue;
        win->level = s_level (level);
        if (mark > win->marked)
            win->marked = mark;
        if (win == ui_current (self) && self->mode == M_CHAT) {
            win->unread = 0;
            win->mention = false;
            ui_marks_viewed (self, win);
            continue;
        }
        long long shown = win->level == LEVEL_ALL? unread: win->level == LEVEL_MENTIONS? mentions: 0;
        win->unread = shown > 999? 999: (int) shown;
        win->mention = win->level != LEVEL_NONE && mentions > 0;
    }
}

static void
s_on_mentions (ui_t *self, pc_msg_t *reply)
{
    win_t *to = ui_current (self);
    size_t count = pc_mentions_ok_count (reply);
    ui_sys (self, to, L_SYS, count? "mentions of @%s (newest last):": "no mentions of @%s",
            self->user);
    for (size_t i = 0; i < count; i++) {
        char room [64], from [64], text [512], when [16];
        client_conn_sanitize (pc_mentions_ok_room (reply, i), room, sizeof (room));
        client_conn_sanitize (pc_mentions_ok_from (reply, i), from, sizeof (from));
        client_conn_sanitize (pc_mentions_ok_text (reply, i), text, sizeof (text));
        time_t t = (time_t) (strtoll (pc_mentions_ok_time (reply, i), NULL, 10) / 1000);
        strftime (when, sizeof (when), "%m-%d %H:%M", localtime (&t));
        ui_sys (self, to, L_SYS, "  %s #%s <%s> %s", when, room, from, text);
    }
}

void
ui_marks_on_reply (ui_t *self, int kind, const char *what, pc_msg_t *reply, const char *error)
{
    if (kind == R_UNREAD && !error)
        s_on_unread (self, reply);
    else
    if (kind == R_MENTIONS && error)
        ui_sys (self, ui_current (self), L_ERR, "mentions: %s", error);
    else
    if (kind == R_MENTIONS)
        s_on_mentions (self, reply);
    else
    if (kind == R_NOTIFY) {
        win_t *win = ui_win_find (self, W_ROOM, what);
        if (error)
            ui_sys (self, win? win: ui_current (self), L_ERR, "notify #%s: %s", what, error);
        else {
            const char *level = pc_notify_ok_level (reply);
            ui_sys (self, win? win: ui_current (self), L_SYS, "#%s: notify %s%s", what, level,
                    streq (level, "none")? " (muted)": streq (level, "mentions")? " (mentions only)": "");
            ui_marks_refresh (self);
        }
    }
    //  R_MARK: the marker moved (MARKED follows) or was ahead already
}

bool
ui_marks_on_fanout (ui_t *self, pc_msg_t *msg)
{
    if (pc_msg_is (msg, "MARKED") && pc_msg_nfields (msg) >= 2) {
        win_t *win = ui_win_find (self, W_ROOM, pc_marked_room (msg));
        uint64_t id = strtoull (pc_marked_id (msg), NULL, 10);
        if (!win)
            return true;
        if (id > win->marked)
            win->marked = id;
        if (id >= win->last_id) {       //  read elsewhere up to all we have
            win->unread = 0;
            win->mention = false;
        }
        else
        if (win != ui_current (self))
            ui_marks_refresh (self);    //  the server knows how many are left
        return true;
    }
    if (pc_msg_is (msg, "MENTION") && pc_msg_nfields (msg) >= 5) {
        char room [64], from [64], text [512];
        client_conn_sanitize (pc_mention_room (msg), room, sizeof (room));
        client_conn_sanitize (pc_mention_from (msg), from, sizeof (from));
        client_conn_sanitize (pc_mention_text (msg), text, sizeof (text));
        ui_sys (self, self->wins [0], L_SYS, "mention: <%s> in #%s: %s", from, room, text);
        win_t *win = ui_win_find (self, W_ROOM, room);
        if (!win && self->bell)
            beep ();                    //  a room this device does not show
        return true;
    }
    return false;
}

//  /mentions, /notify [ROOM] all|mentions|none
void
ui_marks_command (ui_t *self, win_t *win, const char *cmd, const char *arg, const char *rest)
{
    if (streq (cmd, "/mentions")) {
        char limit [16];
        snprintf (limit, sizeof (limit), "%d", MENTIONS_SHOWN);
        ui_simple (self, "MENTIONS", "0", limit, NULL, R_MENTIONS, NULL, 0);
        return;
    }
    const char *level = *rest? rest: arg;
    char room [PC_NAME_MAX + 2] = "";
    if (*rest) {
        snprintf (room, sizeof (room), "%s", *arg == '#'? arg + 1: arg);
        pc_name_fold (room);
    }
    else
    if (win->type == W_ROOM)
        snprintf (room, sizeof (room), "%s", win->target);
    if (!streq (level, "all") && !streq (level, "mentions") && !streq (level, "none")) {
        win_t *shown = *room? ui_win_find (self, W_ROOM, room): NULL;
        if (shown && !*arg)
            ui_sys (self, win, L_SYS, "#%s: notify %s", room, s_level_name (shown->level));
        else
            ui_sys (self, win, L_ERR, "usage: /notify [ROOM] all|mentions|none");
        return;
    }
    if (!pc_name_valid (room)) {
        ui_sys (self, win, L_ERR, "/notify: name a room, or use it in a room's window");
        return;
    }
    ui_simple (self, "NOTIFY", room, level, NULL, R_NOTIFY, room, 0);
}

//  client_ui_presence.c: presence and typing in the full-screen client
//  (PROTOCOL.md, "Presence and typing"): /away, who is online or away (a
//  line in the windows that know the user, a marker on DM windows in the
//  sidebar, /who), "bob is typing…" on the status line until bob's message
//  comes or 5 s pass, and TYPING sent while the user types (one every 3 s
//  per window at most).

#include "client_ui_core.h"
#include "client_cmd.h"

#define TYPING_SHOWN_MS     5000        //  a notice is shown this long
#define TYPING_EVERY_MS     3000        //  we tell at most this often per window
#define TYPISTS_MAX         32

typedef struct {
    char    space [PC_NAME_MAX + 2];    //  room, or "@USER" for a DM
    char    from [PC_NAME_MAX + 1];
    int64_t until;                      //  zclock_mono ms
} typist_t;

struct _ui_presence_t {
    zhashx_t *states;                   //  user -> "STATE TEXT" (owned)
    typist_t  typists [TYPISTS_MAX];
    char      told [PC_NAME_MAX + 2];   //  the space we last said we type in
    int64_t   told_at;
    int64_t   asked_at;                 //  the last WHO for a newcomer (zclock_mono ms)
};

ui_presence_t *
ui_presence_new (void)
{
    ui_presence_t *self = (ui_presence_t *) zmalloc (sizeof (ui_presence_t));
    assert (self);
    self->states = zhashx_new ();
    zhashx_set_destructor (self->states, (zhashx_destructor_fn *) zstr_free);
    return self;
}

void
ui_presence_destroy (ui_presence_t **self_p)
{
    if (*self_p) {
        zhashx_destroy (&(*self_p)->states);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Whether user's state changed (and is now state text)
static bool
s_remember (ui_presence_t *self, const char *user, const char *state, const char *text)
{
    char *now = zsys_sprintf ("%s %s", state, text? text: "");
    const char *before = (const char *) zhashx_lookup (self->states, user);
    if (before && streq (before, now)) {
        zstr_free (&now);
        return false;
    }
    zhashx_update (self->states, user, now);
    return true;
}

const char *
ui_presence_state (ui_t *self, const char *user)
{
    const char *now = (const char *) zhashx_lookup (self->presence->states, user);
    if (!now)
        return NULL;
    return strncmp (now, "away", 4) == 0? "away": strncmp (now, "offline", 7) == 0? "offline": "online";
}

//  Who types in win now ("bob", "bob, carol"), or false
bool
ui_presence_typing (ui_t *self, win_t *win, char *out, size_t size)
{
    char space [PC_NAME_MAX + 2];
    if (win->type == W_ROOM)
        snprintf (space, sizeof (space), "%s", win->target);
    else
    if (win->type == W_DM)
        snprintf (space, sizeof (space), "@%s", win->target);
    else
        return false;
    int64_t now = zclock_mono ();
    size_t len = 0, count = 0;
    *out = 0;
    for (size_t i = 0; i < TYPISTS_MAX; i++) {
        typist_t *typist = &self->presence->typists [i];
        if (typist->until > now && streq (typist->space, space) && len + 40 < size) {
            len += (size_t) snprintf (out + len, size - len, "%s%s", count? ", ": "", typist->from);
            count++;
        }
    }
    return count > 0;
}

//  from spoke in space (NULL: left): no longer typing there
void
ui_presence_spoke (ui_t *self, const char *space, const char *from)
{
    for (size_t i = 0; i < TYPISTS_MAX; i++) {
        typist_t *typist = &self->presence->typists [i];
        if ((!space || streq (typist->space, space)) && streq (typist->from, from))
            typist->until = 0;
    }
}

//  A PRESENCE or TYPING of the fan-out: true when it was one.
bool
ui_presence_on_fanout (ui_t *self, pc_msg_t *msg)
{
    if (pc_msg_is (msg, "TYPING") && pc_msg_nfields (msg) >= 2) {
        const char *space = pc_typing_space (msg), *from = pc_typing_from (msg);
        const char *name = *space == '@'? space + 1: space;
        if (!pc_name_valid (name) || !pc_name_valid (from) || streq (from, self->user))
            return true;
        //  The same typist again, else a slot whose notice is over, else the first
        int64_t now = zclock_mono ();
        typist_t *slot = NULL;
        for (size_t i = 0; i < TYPISTS_MAX && !slot; i++) {
            typist_t *typist = &self->presence->typists [i];
            if (streq (typist->space, space) && streq (typist->from, from))
                slot = typist;
        }
        for (size_t i = 0; i < TYPISTS_MAX && !slot; i++)
            if (self->presence->typists [i].until <= now)
                slot = &self->presence->typists [i];
        if (!slot)
            slot = &self->presence->typists [0];
        snprintf (slot->space, sizeof (slot->space), "%s", space);
        snprintf (slot->from, sizeof (slot->from), "%s", from);
        slot->until = now + TYPING_SHOWN_MS;
        return true;
    }
    if (!pc_msg_is (msg, "PRESENCE") || pc_msg_nfields (msg) < 2)
        return false;
    const char *user = pc_presence_user (msg), *state = pc_presence_state (msg);
    const char *text = pc_presence_text (msg)? pc_presence_text (msg): "";
    if (!pc_name_valid (user)
    ||  !(streq (state, "online") || streq (state, "away") || streq (state, "offline")))
        return true;
    if (!s_remember (self->presence, user, state, text))
        return true;
    char safe [256], line [320];
    client_conn_sanitize (text, safe, sizeof (safe));
    if (streq (user, self->user))
        snprintf (line, sizeof (line), "you are %s%s%s", state, *safe? ": ": "", safe);
    else
        snprintf (line, sizeof (line), "%s is %s%s%s", user, state, *safe? ": ": "", safe);
    if (streq (state, "offline"))
        ui_presence_spoke (self, NULL, user);
    if (streq (user, self->user)) {
        //  Said by another device of ours (this one's /away has its answer)
        ui_sys (self, self->wins [0], L_SYS, "%s", line);
        return true;
    }
    //  In every window that knows the user, else in the status window
    size_t shown = 0;
    for (size_t w = 0; w < self->nwins; w++) {
        win_t *win = self->wins [w];
        bool knows = win->type == W_DM && streq (win->target, user);
        for (size_t m = 0; win->type == W_ROOM && m < win->nmembers && !knows; m++)
            knows = streq (win->members [m], user);
        if (knows) {
            ui_sys (self, win, L_SYS, "%s", line);
            shown++;
        }
        //  Gone: no longer a member of our rooms (Tab, the count)
        for (size_t m = 0; streq (state, "offline") && win->type == W_ROOM && m < win->nmembers; m++)
            if (streq (win->members [m], user)) {
                free (win->members [m]);
                win->members [m] = win->members [--win->nmembers];
                win->members [win->nmembers] = NULL;
                break;
            }
    }
    if (!shown) {
        ui_sys (self, self->wins [0], L_SYS, "%s", line);
        //  Someone new in one of our rooms (PRESENCE names no room): the
        //  rooms' members are asked again, at most once a second
        int64_t now = zclock_mono ();
        if (!streq (state, "offline") && now - self->presence->asked_at >= 1000) {
            self->presence->asked_at = now;
            for (size_t w = 0; w < self->nwins; w++)
                if (self->wins [w]->type == W_ROOM)
                    ui_simple (self, "WHO", self->wins [w]->target, "presence", NULL, R_WHO_QUIET,
                               self->wins [w]->target, 0);
        }
    }
    return true;
}

//  WHO room presence answered: the states it names are the latest known.
void
ui_presence_seed (ui_t *self, const char *user, const char *state, const char *text)
{
    if (*state)
        s_remember (self->presence, user, state, text);
}

//  A key went into the input line of the current window
void
ui_presence_typed (ui_t *self)
{
    win_t *win = ui_current (self);
    if (self->state != C_ONLINE || (win->type != W_ROOM && win->type != W_DM))
        return;
    size_t len;
    const wchar_t *text = client_ui_input_text (self->input, &len);
    if (len == 0 || (text [0] == L'/' && (len < 2 || text [1] != L'/')))
        return;                         //  a command is not a message being typed
    char space [PC_NAME_MAX + 2];
    snprintf (space, sizeof (space), "%s%s", win->type == W_DM? "@": "", win->target);
    int64_t now = zclock_mono ();
    if (streq (space, self->presence->told) && now - self->presence->told_at < TYPING_EVERY_MS)
        return;
    snprintf (self->presence->told, sizeof (self->presence->told), "%s", space);
    self->presence->told_at = now;
    ui_simple (self, "TYPING", space, NULL, NULL, R_TYPING, NULL, 0);
}

//  /away [MESSAGE]
void
ui_presence_away (ui_t *self, win_t *win, const char *text)
{
    while (text && *text == ' ')
        text++;
    if (text && strlen (text) > 200) {
        ui_sys (self, win, L_ERR, "away: the message is at most 200 bytes");
        return;
    }
    if (ui_simple (self, "AWAY", text && *text? text: NULL, NULL, NULL, R_AWAY, NULL, 0) == -1)
        ui_sys (self, win, L_ERR, "not connected");
}

void
ui_presence_on_reply (ui_t *self, int kind, pc_msg_t *reply)
{
    if (kind != R_AWAY)
        return;                         //  TYPING: a refusal is no news to the user
    if (pc_msg_is (reply, "ERROR")) {
        char safe [200];
        client_conn_sanitize (pc_msg_error_reason (reply), safe, sizeof (safe));
        ui_sys (self, ui_current (self), L_ERR, "away: %s", safe);
    }
    else
    if (pc_msg_nfields (reply) >= 1 && streq (pc_away_ok_state (reply), "online"))
        ui_sys (self, ui_current (self), L_SYS, "you are back (online)");
    else
        ui_sys (self, ui_current (self), L_SYS, "you are away: /away alone brings you back");
}

//  client_ui_keys.c: keys of the full-screen client: the login form, the
//  chat screen (editing, windows, scrolling).

#include "client_ui_core.h"

#include <signal.h>


//  --------------------------------------------------------------------------
//  Keys

static int
s_read_key (ui_t *self, wint_t *key)
{
    if (self->has_pushback) {
        self->has_pushback = false;
        *key = self->pushback;
        return self->pushback_type;
    }
    return get_wch (key);
}


//  A key read ahead that belongs to the next round (OK is 0, hence the
//  flag of its own: a pushed-back character used to be lost).
static void
s_push_back (ui_t *self, int type, wint_t key)
{
    self->pushback = key;
    self->pushback_type = type;
    self->has_pushback = true;
}


//  A key inside a bracketed paste: text goes into field as it is, a line
//  break as LF (kept only when multiline, else a space), nothing is run.
static void
s_key_paste (ui_t *self, client_ui_input_t *field, bool multiline, int type, wint_t key)
{
    if (type == KEY_CODE_YES) {
        if (key == KEY_PASTE_END)
            self->pasting = false;
        else
        if (key == KEY_ENTER)
            client_ui_input_insert (field, multiline? L'\n': L' ');
        return;
    }
    if (key == '\r' || key == '\n')
        client_ui_input_insert (field, multiline? L'\n': L' ');
    else
    if (key == '\t')
        client_ui_input_insert (field, L' ');
    else
    if (key >= 32 && key != 127 && !(key >= 0x80 && key < 0xa0))
        client_ui_input_insert (field, (wchar_t) key);
}


static void
s_scroll (ui_t *self, int pages)
{
    win_t *win = ui_current (self);
    int width = ui_pane_width ();
    int page = LINES - 4 > 1? LINES - 4: 1;
    size_t total = 0;
    for (size_t i = 0; i < win->nlines; i++)
        total += ui_line_rows (win->lines [i], width);
    size_t height = LINES - 2 > 0? (size_t) (LINES - 2): 1;
    size_t max = total > height? total - height: 0;
    if (pages < 0) {
        win->scroll += (size_t) page;
        if (win->scroll >= max) {
            win->scroll = max;
            //  At the top of what we have: ask the server for older lines.
            if (win->type == W_ROOM && win->oldest_id > 1 && !win->fetching
            &&  self->state == C_ONLINE) {
                uint64_t since = win->oldest_id > HISTORY_PAGE + 1? win->oldest_id - HISTORY_PAGE - 1: 1;
                long limit = (long) (win->oldest_id - since - 1);
                if (since == 1 && win->last_id <= PC_HISTORY_MAX) {
                    since = 0;                  //  "latest N" reaches id 1
                    limit = PC_HISTORY_MAX;
                }
                if (limit > 0) {
                    win->fetching = true;
                    ui_history (self, win, since, limit, R_OLDER, 0);
                }
            }
        }
    }
    else
        win->scroll = win->scroll > (size_t) page? win->scroll - (size_t) page: 0;
}


static char *
s_field_text (client_ui_input_t *field)
{
    size_t len;
    const wchar_t *text = client_ui_input_text (field, &len);
    return client_ui_text_encode (text, len);
}


static void
s_key_form (ui_t *self, int type, wint_t key)
{
    if (self->busy)
        return;
    client_ui_input_t *field = self->fields [self->focus];
    if (type == KEY_CODE_YES) {
        switch (key) {
            case KEY_UP: case KEY_BTAB: self->focus = (self->focus + 2) % 3; break;
            case KEY_DOWN: self->focus = (self->focus + 1) % 3; break;
            case KEY_LEFT: client_ui_input_left (field); break;
            case KEY_RIGHT: client_ui_input_right (field); break;
            case KEY_HOME: client_ui_input_home (field); break;
            case KEY_END: client_ui_input_end (field); break;
            case KEY_BACKSPACE: client_ui_input_backspace (field); break;
            case KEY_DC: client_ui_input_delete (field); break;
            case KEY_ENTER: key = '\r'; type = OK; break;
        }
        if (type == KEY_CODE_YES)
            return;
    }
    if (key == '\t')
        self->focus = (self->focus + 1) % 3;
    else
    if (key == 3 || key == 4) {
        self->quit = true;
        if (key == 3)
            self->exit_code = 128 + SIGINT;     //  Ctrl-C: 130, as everywhere
    }
    else
    if (key == 127 || key == 8)
        client_ui_input_backspace (field);
    else
    if (key == 21)
        client_ui_input_kill_head (field);
    else
    if (key == '\r' || key == '\n' || key == 18) {         //  Enter: sign in; Ctrl-R: register
        bool create = key == 18;
        if (self->focus < 2 && !create) {
            self->focus++;
            return;
        }
        char *server = s_field_text (self->fields [0]);
        char *user = s_field_text (self->fields [1]);
        char *password = s_field_text (self->fields [2]);
        pc_name_fold (user);
        if (!pc_name_valid (user)) {
            snprintf (self->form_msg, sizeof (self->form_msg), "User names are 1-%d of a-z 0-9 _ -",
                      PC_NAME_MAX);
            self->focus = 1;
        }
        else
        if (!*password || strlen (password) > PC_SECRET_MAX)
            snprintf (self->form_msg, sizeof (self->form_msg), "The password must be 1-%d bytes",
                      PC_SECRET_MAX);
        else {
            snprintf (self->server, sizeof (self->server), "%s", server);
            snprintf (self->user, sizeof (self->user), "%s", user);
            snprintf (self->password, sizeof (self->password), "%s", password);
            //  A newcomer registers straight away: no failed LOGIN first
            snprintf (self->form_msg, sizeof (self->form_msg), create? "Creating %s...":
                      "Signing in to %s...", create? user: server);
            self->registering = create;
            ui_connect (self, create);
        }
        memset (password, 0, strlen (password));
        free (server);
        free (user);
        free (password);
    }
    else
    if (key >= 32 && key != 127)
        client_ui_input_insert (field, (wchar_t) key);
}


static void
s_key_chat (ui_t *self, int type, wint_t key)
{
    if (type == KEY_CODE_YES || key != '\t') {
        free (self->tab_prefix);
        self->tab_prefix = NULL;
    }
    client_ui_input_t *in = self->input;
    if (type == KEY_CODE_YES) {
        switch (key) {
            case KEY_LEFT: client_ui_input_left (in); break;
            case KEY_RIGHT: client_ui_input_right (in); break;
            case KEY_HOME: client_ui_input_home (in); break;
            case KEY_END: client_ui_input_end (in); break;
            case KEY_BACKSPACE: client_ui_input_backspace (in); break;
            case KEY_DC: client_ui_input_delete (in); break;
            case KEY_UP: client_ui_input_history_up (in); break;
            case KEY_DOWN: client_ui_input_history_down (in); break;
            case KEY_PPAGE: s_scroll (self, -1); break;
            case KEY_NPAGE: s_scroll (self, 1); break;
            case KEY_ENTER: ui_submit (self); break;
            default: break;
        }
        return;
    }
    switch (key) {
        case 1: client_ui_input_home (in); break;           //  Ctrl-A
        case 5: client_ui_input_end (in); break;            //  Ctrl-E
        case 23: client_ui_input_kill_word (in); break;     //  Ctrl-W
        case 21: client_ui_input_kill_head (in); break;     //  Ctrl-U
        case 11: client_ui_input_kill_tail (in); break;     //  Ctrl-K
        case 2: client_ui_input_left (in); break;           //  Ctrl-B
        case 6: client_ui_input_right (in); break;          //  Ctrl-F
        case 4: client_ui_input_delete (in); break;         //  Ctrl-D
        case 8: case 127: client_ui_input_backspace (in); break;
        case 12: clearok (curscr, TRUE); break;             //  Ctrl-L
        case 14: ui_switch (self, (self->current + 1) % self->nwins); break;                 //  Ctrl-N
        case 16: ui_switch (self, (self->current + self->nwins - 1) % self->nwins); break;  //  Ctrl-P
        case 3:                                             //  Ctrl-C: 130, as everywhere
            self->quit = true;
            self->exit_code = 128 + SIGINT;
            break;
        case '\t': ui_complete (self); break;
        case 27: {                                          //  Alt-KEY arrives as ESC KEY
            wint_t next;
            int got = s_read_key (self, &next);
            if (got == OK && next >= '1' && next <= '9')
                ui_switch (self, (size_t) (next - '1'));
            else
            if (got == OK && next == '0')
                ui_switch (self, 9);
            else
            if (got != ERR)
                s_push_back (self, got, next);      //  not ours: a key of its own
            break;
        }
        case '\r': case '\n': {
            //  More input already waiting right after Enter: a paste from
            //  a terminal without bracketed paste; the line break becomes
            //  part of the message.
            wint_t next;
            int got = s_read_key (self, &next);
            if (got != ERR) {
                s_push_back (self, got, next);
                client_ui_input_insert (in, L'\n');
            }
            else
                ui_submit (self);
            break;
        }
        default:
            if (key >= 32 && key != 127) {
                client_ui_input_insert (in, (wchar_t) key);
                ui_presence_typed (self);
            }
            break;
    }
}


void
ui_keys (ui_t *self)
{
    wint_t key;
    int type;
    while ((type = s_read_key (self, &key)) != ERR) {
        if (type == KEY_CODE_YES && key == KEY_RESIZE)
            continue;                       //  redrawn after the loop
        if (type == KEY_CODE_YES && key == KEY_PASTE_BEGIN) {
            self->pasting = true;
            continue;
        }
        if (self->pasting) {
            bool chat = self->mode == M_CHAT;
            s_key_paste (self, chat? self->input: self->fields [self->focus], chat, type, key);
            continue;
        }
        if (type == KEY_CODE_YES && key == KEY_PASTE_END)
            continue;
        if (self->mode == M_FORM)
            s_key_form (self, type, key);
        else
            s_key_chat (self, type, key);
        if (self->quit)
            break;
    }
}

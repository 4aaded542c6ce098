//  client_ui_cmd.c: the input line of the full-screen client: slash
//  commands (a table), plain lines (SEND or a DM), Tab completion.

#include "client_ui_core.h"


static const char *s_commands [] = {
    "/join", "/leave", "/msg", "/me", "/who", "/rooms", "/history", "/fingerprint",
    "/trust", "/devices", "/upload", "/files", "/download", "/set", "/slowmode", "/close", "/help",
    "/quit", "/logout", "/edit", "/delete", "/reply", "/react", "/unreact", "/thread",
    "/mentions", "/notify", "/away", "/search", NULL
};

static const char *s_help [] = {
    "/join ROOM          join ROOM and open its window",
    "/leave [ROOM]       leave the room (this window's by default) and close it",
    "/msg USER [TEXT]    open the direct-message window with USER (and send TEXT)",
    "/me TEXT            an action: shown as \"* you TEXT\"",
    "/who                list the members of this room (and who is away)",
    "/away [MESSAGE]     away, saying why; /away alone: back",
    "/rooms              list the rooms on the server",
    "/history N          fetch the latest N (1-200) messages of this room",
    "/search WORDS       messages of this room (or DM window) holding every word;",
    "                    word* matches the words it begins",
    "/fingerprint USER   show the fingerprint of each of USER's DM devices",
    "/trust USER         pin USER's current devices as trusted",
    "/devices            your DM devices; /devices revoke ID stops sealing for one,",
    "                    /devices name NAME names this one",
    "/upload PATH        share a file here (in a DM window: encrypted for them)",
    "/files              list the files shared here",
    "/download NAME [TO] save a file shared here (default TO: ./NAME)",
    "/set bell on|off    ring the bell on a mention or DM (also: colors)",
    "/slowmode [ROOM] N  one message per user every N s; 0 ends it",
    "/mentions           messages that named you; /notify [ROOM] all|mentions|none",
    "/close              close this window (leaves a room)",
    "/reply ID TEXT      (also /edit, /delete, /react, /unreact, /thread)",
    "/help               this list",
    "/quit               leave (this device stays logged in)",
    "/logout             revoke this device's session and leave",
    "keys: Alt-1..9 or Ctrl-N/Ctrl-P windows, PgUp/PgDn scroll, Tab completes,",
    "      Up/Down input history, Ctrl-A/E/W/U/K edit, Ctrl-L redraw, Ctrl-C quit",
    NULL
};


//  --------------------------------------------------------------------------
//  Commands

static bool
s_room_name (const char *arg, char *out)
{
    if (!arg || strlen (arg) > PC_NAME_MAX + 1)
        return false;
    snprintf (out, PC_NAME_MAX + 2, "%s", *arg == '#'? arg + 1: arg);
    pc_name_fold (out);
    return pc_name_valid (out);
}


static void
s_say (ui_t *self, const char *text)
{
    win_t *win = ui_current (self);
    if (win->type == W_DM) {
        ui_dm_say (self, win, text);
        return;
    }
    if (win->type != W_ROOM) {
        ui_sys (self, win, L_ERR, "this is not a room: /join ROOM first (Alt-N switches windows)");
        return;
    }
    char cid [CLIENT_SESSION_CID];
    if (client_session_send (self->session, win->target, text, cid) == -1) {
        ui_sys (self, win, L_ERR, "%d messages are waiting to be sent already: not sent", OUTBOX_MAX);
        return;
    }
    line_t *line = ui_line_new (L_MSG, 0, self->user, pc_now_ms (), text);
    line->own = true;
    line->pending = true;
    snprintf (line->cid, sizeof (line->cid), "%s", cid);
    ui_win_insert (win, line, win->nlines);
    win->scroll = 0;
}


void
ui_open_room (ui_t *self, const char *room, bool show)
{
    win_t *win = ui_win_find (self, W_ROOM, room);
    if (!win) {
        win = ui_win_new (self, W_ROOM, room);
        if (!win) {
            ui_sys (self, NULL, L_ERR, "too many windows: /close some");
            return;
        }
        ui_sys (self, win, L_SYS, "joining #%s...", room);
        client_session_follow (self->session, room, false, 0, 50);
        ui_rooms_save (self);
    }
    if (show)
        ui_switch (self, ui_win_index (self, win));
}


//  One slash command: its words (cmd, the first argument, the rest) and
//  the line as typed.
typedef struct {
    const char *cmd;
    const char *arg;                    //  "" when none
    const char *rest;                   //  "" when none
    const char *line;
    win_t      *win;                    //  the current window
} cmd_t;

typedef void (cmd_fn) (ui_t *self, cmd_t *cmd);

static void
s_cmd_join (ui_t *self, cmd_t *cmd)
{
    char room [PC_NAME_MAX + 2];
    if (!*cmd->arg)
        ui_sys (self, cmd->win, L_ERR, "usage: /join ROOM");
    else
    if (!s_room_name (cmd->arg, room))
        ui_sys (self, cmd->win, L_ERR, "bad room name: use 1-%d of a-z 0-9 _ -", PC_NAME_MAX);
    else
        ui_open_room (self, room, true);
}

//  The room window named by the argument, else the current window.
static win_t *
s_target (ui_t *self, cmd_t *cmd)
{
    char room [PC_NAME_MAX + 2];
    if (*cmd->arg && s_room_name (cmd->arg, room))
        return ui_win_find (self, W_ROOM, room);
    return cmd->win;
}

static void
s_cmd_leave (ui_t *self, cmd_t *cmd)
{
    win_t *target = s_target (self, cmd);
    if (!target || target->type == W_STATUS) {
        ui_sys (self, cmd->win, L_ERR, streq (cmd->cmd, "/close")? "the status window stays open"
                                                                 : "not in a room window");
        return;
    }
    if (target->type == W_ROOM)
        client_session_unfollow (self->session, target->target);
    ui_sys (self, self->wins [0], L_SYS, "left %s", target->title);
    ui_win_close (self, ui_win_index (self, target));
    ui_rooms_save (self);
}

static void
s_cmd_msg (ui_t *self, cmd_t *cmd)
{
    char user [PC_NAME_MAX + 2];
    if (!*cmd->arg || strlen (cmd->arg) > PC_NAME_MAX) {
        ui_sys (self, cmd->win, L_ERR, "usage: /msg USER [TEXT]");
        return;
    }
    snprintf (user, sizeof (user), "%s", *cmd->arg == '@'? cmd->arg + 1: cmd->arg);
    pc_name_fold (user);
    if (!pc_name_valid (user)) {
        ui_sys (self, cmd->win, L_ERR, "bad user name");
        return;
    }
    win_t *dm = ui_win_find (self, W_DM, user);
    if (!dm)
        dm = ui_win_new (self, W_DM, user);
    if (dm) {
        ui_switch (self, ui_win_index (self, dm));
        if (*cmd->rest)
            s_say (self, cmd->rest);
    }
}

static void
s_cmd_me (ui_t *self, cmd_t *cmd)
{
    if (!*cmd->arg) {
        ui_sys (self, cmd->win, L_ERR, "usage: /me TEXT");
        return;
    }
    char *text = zsys_sprintf ("/me %s", cmd->line + 4);
    s_say (self, text);
    free (text);
}

static void
s_cmd_who (ui_t *self, cmd_t *cmd)
{
    win_t *target = s_target (self, cmd);
    if (!target || target->type != W_ROOM)
        ui_sys (self, cmd->win, L_ERR, "usage: /who in a room window");
    else
    if (ui_simple (self, "WHO", target->target, "presence", NULL, R_WHO, target->target, 0) == -1)
        ui_sys (self, cmd->win, L_ERR, "not connected");
}

static void
s_cmd_rooms (ui_t *self, cmd_t *cmd)
{
    if (ui_simple (self, "ROOMS", NULL, NULL, NULL, R_ROOMS, NULL, 0) == -1)
        ui_sys (self, cmd->win, L_ERR, "not connected");
}

static void
s_cmd_history (ui_t *self, cmd_t *cmd)
{
    long n = atol (cmd->arg);
    if (cmd->win->type != W_ROOM || n < 1 || n > PC_HISTORY_MAX)
        ui_sys (self, cmd->win, L_ERR, "usage: /history N (1-%d) in a room window", PC_HISTORY_MAX);
    else
        ui_history (self, cmd->win, 0, n, R_HISTORY, -1);     //  -1: say how many came
}

static void
s_cmd_key (ui_t *self, cmd_t *cmd)
{
    char user [PC_NAME_MAX + 2];
    snprintf (user, sizeof (user), "%s", *cmd->arg? (*cmd->arg == '@'? cmd->arg + 1: cmd->arg):
                                        cmd->win->type == W_DM? cmd->win->target: "");
    pc_name_fold (user);
    if (!pc_name_valid (user))
        ui_sys (self, cmd->win, L_ERR, "usage: %s USER", cmd->cmd);
    else
        ui_job_add (self, streq (cmd->cmd, "/trust")? J_TRUST: J_FINGERPRINT, user, user, NULL,
                    NULL, 0, 0, false);
}

static void
s_cmd_devices (ui_t *self, cmd_t *cmd)
{
    char arg [96];
    snprintf (arg, sizeof (arg), "%s%s%s", cmd->arg, *cmd->rest? " ": "", cmd->rest);
    ui_devices_command (self, cmd->win, arg);
}

static void
s_cmd_share (ui_t *self, cmd_t *cmd)
{
    ui_xfer_command (self, cmd->win, cmd->cmd, cmd->line + strlen (cmd->cmd));
}

static void
s_cmd_set (ui_t *self, cmd_t *cmd)
{
    bool on = streq (cmd->rest, "on");
    bool off = streq (cmd->rest, "off");
    bool *flag = streq (cmd->arg, "bell")? &self->bell:
                 streq (cmd->arg, "colors") || streq (cmd->arg, "colours")? &self->colours: NULL;
    if (!flag || !(on || off)) {
        ui_sys (self, cmd->win, L_ERR, "usage: /set bell on|off, /set colors on|off");
        return;
    }
    *flag = on;
    ui_conf_save (self);
    ui_sys (self, cmd->win, L_SYS, "%s %s", flag == &self->bell? "bell": "colors", on? "on": "off");
}

//  /slowmode SECONDS (this room) or /slowmode ROOM SECONDS; the answer
//  comes in the room's window (R_SLOWMODE).
static void
s_cmd_slowmode (ui_t *self, cmd_t *cmd)
{
    char room [PC_NAME_MAX + 2] = "";
    const char *seconds_txt = *cmd->rest? cmd->rest: cmd->arg;
    if (*cmd->rest && !s_room_name (cmd->arg, room)) {
        ui_sys (self, cmd->win, L_ERR, "bad room name: use 1-%d of a-z 0-9 _ -", PC_NAME_MAX);
        return;
    }
    if (!*cmd->rest && cmd->win->type == W_ROOM)
        snprintf (room, sizeof (room), "%s", cmd->win->target);
    long seconds = client_cmd_slowmode_seconds (seconds_txt);
    if (!*room || !*seconds_txt) {
        ui_sys (self, cmd->win, L_ERR, "usage: /slowmode SECONDS in a room window, "
                "or /slowmode ROOM SECONDS");
        return;
    }
    if (seconds < 0) {
        ui_sys (self, cmd->win, L_ERR, "slowmode: SECONDS is a whole number 0-%d (0 ends slow mode)",
                PC_SLOWMODE_MAX);
        return;
    }
    char value [16];
    snprintf (value, sizeof (value), "%ld", seconds);
    if (ui_simple (self, "SLOWMODE", room, value, NULL, R_SLOWMODE, room, seconds) == -1)
        ui_sys (self, cmd->win, L_ERR, "not connected");
}

static void
s_cmd_help (ui_t *self, cmd_t *cmd)
{
    ui_sys (self, cmd->win, L_SYS, "commands:");
    for (size_t i = 0; s_help [i]; i++)
        ui_sys (self, cmd->win, L_SYS, "  %s", s_help [i]);
}

static void
s_cmd_quit (ui_t *self, cmd_t *cmd)
{
    self->quit = true;
}

//  /logout: like /quit, but this device's token is revoked on the server
//  and forgotten here (client_ui_run), so the next start shows the form.
static void
s_cmd_logout (ui_t *self, cmd_t *cmd)
{
    if (self->state != C_ONLINE) {
        ui_sys (self, cmd->win, L_ERR, "not connected: /logout needs the server to revoke "
                "the session (/quit leaves)");
        return;
    }
    self->revoke = true;
    self->quit = true;
}

//  A message id as typed: digits, or "." for the last stored message of
//  the window (own_only: the last one of ours). 0 when there is none.
static uint64_t
s_ref_of (ui_t *self, win_t *win, const char *arg, bool own_only)
{
    if (streq (arg, ".")) {
        for (size_t i = win->nlines; i-- > 0;) {
            line_t *line = win->lines [i];
            if (line->id && (line->kind == L_MSG || line->kind == L_ACTION)
            &&  (!own_only || streq (line->from, self->user)))
                return line->id;
        }
        return 0;
    }
    if (!*arg || strspn (arg, "0123456789") != strlen (arg) || strlen (arg) > 19)
        return 0;
    return strtoull (arg, NULL, 10);
}

//  /edit, /delete, /reply, /react, /unreact and /thread
static void
s_cmd_about (ui_t *self, cmd_t *cmd)
{
    const char *kind = cmd->cmd + 1;
    bool erase = streq (kind, "delete"), thread = streq (kind, "thread");
    if (cmd->win->type != W_ROOM && !(cmd->win->type == W_DM && !thread)) {
        ui_sys (self, cmd->win, L_ERR, "%s works in a room window%s", cmd->cmd,
                thread? "": " or a direct-message window");
        return;
    }
    uint64_t ref = s_ref_of (self, cmd->win, cmd->arg, streq (kind, "edit"));
    if (!ref || ((erase || thread) != !*cmd->rest)) {
        ui_sys (self, cmd->win, L_ERR, "usage: %s ID%s", cmd->cmd,
                erase || thread? "": streq (kind, "react") || streq (kind, "unreact")? " EMOJI": " TEXT");
        return;
    }
    if (thread)
        ui_thread (self, cmd->win, ref);
    else
    if (cmd->win->type == W_DM)
        ui_dm_about (self, cmd->win, kind, ref, erase? "-": cmd->rest);
    else
        ui_say_about (self, kind, ref, erase? "-": cmd->rest);
}

void
ui_say_about (ui_t *self, const char *kind, uint64_t ref, const char *text)
{
    win_t *win = ui_current (self);
    char cid [CLIENT_SESSION_CID];
    zuuid_t *uuid = zuuid_new ();
    snprintf (cid, sizeof (cid), "%s", zuuid_str (uuid));
    zuuid_destroy (&uuid);
    pc_msg_t *request = pc_msg_new ("SEND");
    pc_msg_add (request, win->target);
    pc_msg_add (request, cid);
    pc_msg_add (request, text);
    pc_msg_add (request, kind);
    pc_msg_addf (request, "%" PRIu64, ref);
    //  Shown when the room's entry comes back (or its error: ui_on_sent)
    if (client_session_send_request (self->session, &request) == -1)
        ui_sys (self, win, L_ERR, "%d messages are waiting to be sent already: not sent", OUTBOX_MAX);
}

static void
s_cmd_away (ui_t *self, cmd_t *cmd)
{
    ui_presence_away (self, cmd->win, strlen (cmd->line) > 5? cmd->line + 5: NULL);
}

//  /mentions, /notify (client_ui_marks.c)
static void
s_cmd_marks (ui_t *self, cmd_t *cmd)
{
    ui_marks_command (self, cmd->win, cmd->cmd, cmd->arg, cmd->rest);
}

//  /search WORDS (client_ui_search.c)
static void
s_cmd_search (ui_t *self, cmd_t *cmd)
{
    const char *words = cmd->line + strlen (cmd->cmd);
    while (*words == ' ')
        words++;
    ui_cmd_search (self, cmd->win, words);
}

static const struct {
    const char *name;
    cmd_fn     *run;
} s_table [] = {
    { "/away", s_cmd_away },
    { "/edit", s_cmd_about }, { "/delete", s_cmd_about }, { "/reply", s_cmd_about },
    { "/react", s_cmd_about }, { "/unreact", s_cmd_about }, { "/thread", s_cmd_about },
    { "/join", s_cmd_join }, { "/leave", s_cmd_leave }, { "/part", s_cmd_leave },
    { "/close", s_cmd_leave }, { "/msg", s_cmd_msg }, { "/query", s_cmd_msg },
    { "/me", s_cmd_me }, { "/who", s_cmd_who }, { "/rooms", s_cmd_rooms },
    { "/history", s_cmd_history }, { "/fingerprint", s_cmd_key }, { "/trust", s_cmd_key },
    { "/devices", s_cmd_devices }, { "/search", s_cmd_search },
    { "/upload", s_cmd_share }, { "/files", s_cmd_share }, { "/download", s_cmd_share },
    { "/set", s_cmd_set }, { "/slowmode", s_cmd_slowmode }, { "/help", s_cmd_help },
    { "/quit", s_cmd_quit }, { "/exit", s_cmd_quit }, { "/logout", s_cmd_logout },
    { "/mentions", s_cmd_marks }, { "/notify", s_cmd_marks }
};

static void
s_command (ui_t *self, const char *line)
{
    char *copy = strdup (line);
    char *rest = copy;
    char *name = strsep (&rest, " ");
    while (rest && *rest == ' ')
        rest++;
    char *arg = rest? strsep (&rest, " "): NULL;
    while (rest && *rest == ' ')
        rest++;
    cmd_t cmd = { name, arg? arg: "", rest? rest: "", line, ui_current (self) };
    size_t i = 0;
    while (i < sizeof (s_table) / sizeof (s_table [0]) && !streq (s_table [i].name, name))
        i++;
    if (i < sizeof (s_table) / sizeof (s_table [0]))
        s_table [i].run (self, &cmd);
    else
        ui_sys (self, cmd.win, L_ERR, "unknown command %.40s: /help lists them", name);
    free (copy);
}


void
ui_submit (ui_t *self)
{
    size_t len;
    const wchar_t *wide = client_ui_input_text (self->input, &len);
    win_t *win = ui_current (self);
    if (client_ui_input_overflow (self->input)) {
        ui_sys (self, win, L_ERR, "the input holds at most %d characters: %zu were dropped, nothing sent",
               INPUT_MAX, client_ui_input_overflow (self->input));
        client_ui_input_clear (self->input);
        return;
    }
    char *text = client_ui_text_encode (wide, len);
    size_t bytes = strlen (text);
    while (bytes && text [bytes - 1] == '\n')
        text [--bytes] = 0;                 //  a paste that ended with a line break
    bool blank = strspn (text, " \n") == bytes;
    if (blank) {
        free (text);
        return;
    }
    win->scroll = 0;
    if (text [0] == '/' && text [1] != '/' && strncmp (text, "/me ", 4) != 0) {
        client_ui_input_remember (self->input);
        client_ui_input_clear (self->input);
        s_command (self, text);
    }
    else {
        const char *say = text [0] == '/' && text [1] == '/'? text + 1: text;
        if (strncmp (text, "/me ", 4) == 0) {
            client_ui_input_remember (self->input);
            client_ui_input_clear (self->input);
            s_command (self, text);
        }
        else
        if (strlen (say) > PC_TEXT_MAX)
            //  Kept in the input line, so it can be cut down and sent.
            ui_sys (self, win, L_ERR, "the message is %zu bytes; the limit is %d: not sent "
                   "(it is still in the input line)", strlen (say), PC_TEXT_MAX);
        else {
            client_ui_input_remember (self->input);
            client_ui_input_clear (self->input);
            s_say (self, say);
        }
    }
    free (text);
}


//  --------------------------------------------------------------------------
//  Tab completion: commands at the start, #rooms, else nicks of the window.

//  Local paths that start with prefix ("~/" is $HOME), for /upload:
//  directories end with '/', hidden names only when asked for.
static void
s_path_candidates (const char *prefix, zlistx_t *out)
{
    const char *slash = strrchr (prefix, '/');
    char shown [PATH_MAX], dir [PATH_MAX];
    snprintf (shown, sizeof (shown), "%.*s", slash? (int) (slash - prefix + 1): 0, prefix);
    ui_expand_home (*shown? shown: ".", dir, sizeof (dir));
    const char *base = slash? slash + 1: prefix;
    DIR *handle = opendir (dir);
    if (!handle)
        return;
    struct dirent *entry;
    size_t found = 0;
    while ((entry = readdir (handle)) && found < 1000) {
        const char *name = entry->d_name;
        if (streq (name, ".") || streq (name, "..") || (name [0] == '.' && base [0] != '.')
        ||  strncmp (name, base, strlen (base)) != 0)
            continue;
        char full [PATH_MAX * 2];
        struct stat st;
        snprintf (full, sizeof (full), "%s/%s", dir, name);
        bool is_dir = stat (full, &st) == 0 && S_ISDIR (st.st_mode);
        char *pick = zsys_sprintf ("%s%s%s", shown, name, is_dir? "/": "");
        zlistx_add_end (out, pick);
        free (pick);
        found++;
    }
    closedir (handle);
}


static void
s_candidates (ui_t *self, const char *prefix, int context, zlistx_t *out)
{
    size_t n = strlen (prefix);
    if (context == 1) {                     //  /download NAME: the last /files
        win_t *win = ui_current (self);
        for (size_t i = 0; i < win->nfiles; i++)
            if (strncmp (win->files [i], prefix [0] == '"'? prefix + 1: prefix,
                         prefix [0] == '"'? n - 1: n) == 0) {
                bool quote = strchr (win->files [i], ' ') != NULL;
                char *pick = zsys_sprintf ("%s%s%s", quote? "\"": "", win->files [i], quote? "\"": "");
                zlistx_add_end (out, pick);
                free (pick);
            }
        return;
    }
    if (context == 2) {                     //  /upload PATH
        s_path_candidates (prefix, out);
        return;
    }
    if (prefix [0] == '/') {
        for (size_t i = 0; s_commands [i]; i++)
            if (strncmp (s_commands [i], prefix, n) == 0)
                zlistx_add_end (out, (void *) s_commands [i]);
        return;
    }
    if (prefix [0] == '#') {
        for (size_t i = 0; i < self->nwins; i++)
            if (self->wins [i]->type == W_ROOM && strncmp (self->wins [i]->title, prefix, n) == 0)
                zlistx_add_end (out, self->wins [i]->title);
        for (size_t i = 0; i < self->nknown; i++) {
            char *name = zsys_sprintf ("#%s", self->known_rooms [i]);
            if (strncmp (name, prefix, n) == 0 && !ui_win_find (self, W_ROOM, self->known_rooms [i]))
                zlistx_add_end (out, name);
            free (name);
        }
        return;
    }
    win_t *win = ui_current (self);
    for (size_t i = 0; i < win->nmembers; i++)
        if (strncasecmp (win->members [i], prefix, n) == 0)
            zlistx_add_end (out, win->members [i]);
    for (size_t i = 0; i < self->nwins; i++)
        if (self->wins [i]->type == W_DM && strncasecmp (self->wins [i]->target, prefix, n) == 0)
            zlistx_add_end (out, self->wins [i]->target);
}


void
ui_complete (ui_t *self)
{
    size_t len;
    const wchar_t *text = client_ui_input_text (self->input, &len);
    size_t cursor = client_ui_input_cursor (self->input);
    if (!self->tab_prefix) {
        size_t from = cursor;
        while (from && text [from - 1] != ' ')
            from--;
        self->tab_from = from;
        self->tab_index = 0;
        self->tab_prefix = (wchar_t *) calloc (cursor - from + 1, sizeof (wchar_t));
        memcpy (self->tab_prefix, text + from, (cursor - from) * sizeof (wchar_t));
    }
    char *prefix = client_ui_text_encode (self->tab_prefix, wcslen (self->tab_prefix));
    zlistx_t *list = zlistx_new ();
    zlistx_set_duplicator (list, (czmq_duplicator *) strdup);
    zlistx_set_destructor (list, (czmq_destructor *) zstr_free);
    zlistx_set_comparator (list, (czmq_comparator *) strcmp);
    //  What is being completed: a command, a room or nick, or the
    //  argument of /download (a file of this window) or /upload (a path)
    int context = 0;
    if (self->tab_from == 10 && len >= 10 && wcsncmp (text, L"/download ", 10) == 0)
        context = 1;
    else
    if (self->tab_from == 8 && len >= 8 && wcsncmp (text, L"/upload ", 8) == 0)
        context = 2;
    s_candidates (self, prefix, context, list);
    pc_list_sort (list, (czmq_comparator *) strcmp);
    size_t count = zlistx_size (list);
    if (count) {
        const char *pick = (const char *) zlistx_first (list);
        for (size_t i = 0; i < self->tab_index % count; i++)
            pick = (const char *) zlistx_next (list);
        self->tab_index++;
        bool nick = context == 0 && prefix [0] != '/' && prefix [0] != '#';
        bool dir = context == 2 && pick [strlen (pick) - 1] == '/';
        char *with = zsys_sprintf ("%s%s", pick, nick && self->tab_from == 0? ": ": dir? "": " ");
        size_t wlen;
        wchar_t *wide = client_ui_text_decode (with, &wlen);
        client_ui_input_replace (self->input, self->tab_from, wide, wlen);
        free (wide);
        free (with);
    }
    else
        beep ();
    zlistx_destroy (&list);
    free (prefix);
}

//  client_ui.c: the full-screen client: windows, network state, commands.
//
//  Everything runs in one thread and one loop (s_loop): zmq_poll on stdin,
//  the DEALER and the SUB, at most 200 ms at a time, then timers (PING,
//  liveness, reconnect, SUBS retries). Requests are sent without waiting
//  and matched to their replies by request id (s_req_*), so the keyboard is
//  served whatever the server does.
//
//  Messages of a room are kept in id order without duplicates: live ones
//  (MSG on the session topic), catch-up (HISTORY after the last id, after a
//  gap or a reconnect) and scroll-back (HISTORY before the oldest id) all go
//  through s_add_message. The session engine (client_session) keeps the
//  login, the joins, the outbox, the catch-up and the reconnects: this file
//  hears from it through callbacks. Our own lines appear at once, dimmed,
//  until the SEND is acknowledged.
//
//  /me is sent as text with a leading "/me " (the marker travels as is, so
//  `pychat listen` shows "<alice> /me waves"); this client draws it as
//  "* alice waves".
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700           //  wcwidth, and the wide ncursesw API
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#define NCURSES_WIDECHAR 1
#include "client_ui.h"
#include "client_ui_input.h"
#include "client_ui_net.h"
#include "client_ui_text.h"
#include "client_ui_xfer.h"
#include "client_conn.h"
#include "client_dm.h"
#include "client_seal.h"
#include "client_session.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <curses.h>
#include <dirent.h>
#include <langinfo.h>
#include <sys/stat.h>
#include <locale.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#define WINDOWS_MAX         64
#define LINES_MAX           5000        //  per window; older lines are dropped
#define INPUT_MAX           32768       //  characters; a message is 4096 bytes
#define OUTBOX_MAX          200
#define MIN_COLS            40
#define MIN_ROWS            10
#define HISTORY_PAGE        100

//  Colour pairs: 1..6 are nick colours.
#define NICK_COLOURS        6
#define P_SYS               7
#define P_ERR               8
#define P_BAR               9
#define P_SIDE_CUR          10
#define P_MENTION           11

typedef enum { L_MSG, L_ACTION, L_SYS, L_ERR } line_kind_t;
typedef enum { W_STATUS, W_ROOM, W_DM } win_type_t;
typedef enum { C_IDLE, C_CONNECTING, C_ONLINE, C_WAIT, C_DEAD } conn_state_t;
typedef enum { M_FORM, M_CHAT } mode_t_;
//  What a front-end request was for (client_session_request's kind).
typedef enum {
    R_HISTORY, R_OLDER, R_WHO, R_WHO_QUIET, R_ROOMS, R_LOGOUT, R_GETKEY, R_SETKEY, R_DM,
    R_INBOX, R_FILES
} req_kind_t;

typedef struct {
    line_kind_t kind;
    uint64_t id;                    //  0: not a stored message (yet)
    bool     own;
    bool     pending;               //  own line not yet acknowledged
    bool     failed;
    char     cid [40];              //  own lines: client message id
    char     from [PC_NAME_MAX + 1];
    char    *body;                  //  UTF-8 as sent
    wchar_t *text;                  //  what is drawn: time, nick, body
    size_t   len;
    size_t   time_end, nick_start, nick_end;
    int      indent;                //  cells before the body
    int      cache_width;           //  rows for this pane width
    size_t   cache_rows;
} line_t;

typedef struct {
    win_type_t type;
    char     target [PC_NAME_MAX + 1];  //  room or user
    char     title [PC_NAME_MAX + 3];   //  "#room", "@user", "status"
    line_t **lines;
    size_t   nlines, cap;
    uint64_t last_id, oldest_id;
    bool     joined;
    bool     fetching;              //  a scroll-back HISTORY is out
    int      unread;
    bool     mention;
    size_t   scroll;                //  rows scrolled back from the bottom
    char   **members;
    size_t   nmembers;
    char   **files;                 //  names of the last /files, for Tab
    size_t   nfiles;
} win_t;

//  A DM action waiting for the peer's key (GETKEY): seal and send, open a
//  received box, show the fingerprint, pin the key, start a private file
//  transfer (data: the transfer's id).
typedef enum { J_SEND, J_OPEN, J_FINGERPRINT, J_TRUST, J_FILEKEY } job_kind_t;
typedef struct {
    job_kind_t kind;
    char     user [PC_NAME_MAX + 1];
    char     from [PC_NAME_MAX + 1];
    char    *data;                  //  text to seal, or box to open
    char     cid [40];
    uint64_t id;
    int64_t  ts;
    bool     live;
} job_t;

#define JOBS_MAX            256
#define PEERS_MAX           128

//  A file transfer (/upload, /download, /files): it waits for the peer's
//  key (private spaces), then for the broker's FILES reply, then runs in
//  its own thread (client_ui_xfer) and reports in the window it began in.
typedef enum { X_KEY, X_FILES, X_RUN } xfer_state_t;
typedef struct {
    int          id;
    client_ui_xfer_kind_t kind;
    xfer_state_t state;
    win_type_t   win_type;
    char         target [PC_NAME_MAX + 1];
    char         space [PC_NAME_MAX + 2];
    char         name [PC_FILE_NAME_MAX + 1];
    char        *path;
    uint64_t     size;              //  an upload's local size
    uint8_t      peer_public [CLIENT_DM_KEY];
    client_ui_xfer_t *run;
} xfer_t;

#define XFERS_MAX           16

typedef struct {
    client_opts_t *opts;
    client_dm_keys_t dm_keys;
    bool         dm_ready;
    job_t        jobs [JOBS_MAX];
    size_t       njobs;
    char         peer_user [PEERS_MAX][PC_NAME_MAX + 1];
    char         peer_key [PEERS_MAX][CLIENT_DM_Z85];
    size_t       npeers;
    xfer_t       xfers [XFERS_MAX];
    size_t       nxfers;
    int          next_xfer;
    uint64_t     inbox_last;
    client_ui_net_t *net;
    client_session_t *session;
    mode_t_      mode;
    conn_state_t state;
    bool         logged_out;
    bool         registering;
    bool         quit;
    int          exit_code;
    char         server [512];
    char         user [PC_NAME_MAX + 1];
    char         password [PC_SECRET_MAX + 1];
    char         dead_reason [64];
    char         conf_path [PATH_MAX];
    bool         bell, colours, has_colours;
    //  windows
    win_t       *wins [WINDOWS_MAX];
    size_t       nwins;
    size_t       current;
    char       **known_rooms;       //  from the last /rooms, for Tab
    size_t       nknown;
    //  input
    client_ui_input_t *input;
    size_t       input_scroll;
    wint_t       pushback;
    int          pushback_type;     //  0 none, OK, KEY_CODE_YES
    size_t       tab_from;          //  Tab cycling state
    size_t       tab_index;
    wchar_t     *tab_prefix;
    //  login form
    client_ui_input_t *fields [3];  //  server, user, password
    int          focus;
    char         form_msg [256];
    bool         ask_register;
    bool         busy;
} ui_t;

static const char *s_commands [] = {
    "/join", "/leave", "/msg", "/me", "/who", "/rooms", "/history", "/fingerprint",
    "/trust", "/upload", "/files", "/download", "/set", "/close", "/help", "/quit", NULL
};

static const char *s_help [] = {
    "/join ROOM          join ROOM and open its window",
    "/leave [ROOM]       leave the room (this window's by default) and close it",
    "/msg USER [TEXT]    open the direct-message window with USER (and send TEXT)",
    "/me TEXT            an action: shown as \"* you TEXT\" (sent with a leading \"/me \")",
    "/who                list the members of this room",
    "/rooms              list the rooms on the server",
    "/history N          fetch the latest N (1-200) messages of this room",
    "/fingerprint USER   show USER's direct-message key fingerprint",
    "/trust USER         pin USER's current key as trusted",
    "/upload PATH        share a file here (in a DM window: encrypted for them)",
    "/files              list the files shared here",
    "/download NAME [TO] save a file shared here (default TO: ./NAME)",
    "/set bell on|off    ring the terminal bell on a mention or DM (also: colors)",
    "/close              close this window (leaves a room)",
    "/help               this list",
    "/quit               log out and leave",
    "keys: Alt-1..9 or Ctrl-N/Ctrl-P windows, PgUp/PgDn scroll, Tab completes,",
    "      Up/Down input history, Ctrl-A/E/W/U/K edit, Ctrl-L redraw, Ctrl-C quit",
    NULL
};

static void s_draw (ui_t *self);
static void s_xfer_keyed (ui_t *self, int id, const char *z85);
static void s_sys (ui_t *self, win_t *win, line_kind_t kind, const char *format, ...)
            __attribute__ ((format (printf, 4, 5)));

//  --------------------------------------------------------------------------
//  Configuration: PYCHAT_HOME/ui.conf

static void
s_conf_load (ui_t *self)
{
    snprintf (self->conf_path, sizeof (self->conf_path), "%s/ui.conf", self->opts->home);
    self->bell = true;
    self->colours = true;
    FILE *file = fopen (self->conf_path, "r");
    if (!file)
        return;
    char line [256];
    while (fgets (line, sizeof (line), file)) {
        char key [64], value [128];
        if (line [0] == '#' || sscanf (line, "%63s %127s", key, value) != 2)
            continue;
        if (streq (key, "bell"))
            self->bell = streq (value, "on");
        else
        if (streq (key, "colors"))
            self->colours = streq (value, "on");
        else
        if (streq (key, "user") && !self->user [0]) {
            snprintf (self->user, sizeof (self->user), "%s", value);
            pc_name_fold (self->user);
            if (!pc_name_valid (self->user))
                self->user [0] = 0;
        }
    }
    fclose (file);
}

static void
s_conf_save (ui_t *self)
{
    zsys_dir_create ("%s", self->opts->home);
    char tmp [PATH_MAX + 8];
    snprintf (tmp, sizeof (tmp), "%s.tmp", self->conf_path);
    FILE *file = fopen (tmp, "w");
    if (!file)
        return;
    fprintf (file, "# pychat full-screen client settings (the password is never stored)\n");
    if (self->user [0])
        fprintf (file, "user %s\n", self->user);
    fprintf (file, "bell %s\n", self->bell? "on": "off");
    fprintf (file, "colors %s\n", self->colours? "on": "off");
    if (fclose (file) == 0)
        rename (tmp, self->conf_path);
}

//  --------------------------------------------------------------------------
//  Lines and windows

static int
s_nick_pair (const char *name)
{
    uint32_t hash = 2166136261u;            //  FNV-1a: stable across runs
    for (const char *p = name; *p; p++)
        hash = (hash ^ (unsigned char) *p) * 16777619u;
    return (int) (hash % NICK_COLOURS) + 1;
}

static void
s_line_destroy (line_t **line_p)
{
    if (*line_p) {
        free ((*line_p)->body);
        free ((*line_p)->text);
        free (*line_p);
        *line_p = NULL;
    }
}

//  Appends UTF-8 to a wide buffer (grown as needed); returns the new length.
static size_t
s_append (wchar_t **buf, size_t len, const char *utf8)
{
    size_t add;
    wchar_t *wide = client_ui_text_decode (utf8, &add);
    *buf = (wchar_t *) realloc (*buf, (len + add + 1) * sizeof (wchar_t));
    assert (*buf);
    memcpy (*buf + len, wide, add * sizeof (wchar_t));
    (*buf) [len + add] = 0;
    free (wide);
    return len + add;
}

//  Builds the drawn text of a line from its parts.
static void
s_line_render (line_t *line, int64_t ts)
{
    char clock [16] = "--:--";
    if (ts > 0) {
        time_t seconds = (time_t) (ts / 1000);
        struct tm tm;
        if (localtime_r (&seconds, &tm))
            strftime (clock, sizeof (clock), "%H:%M", &tm);
    }
    free (line->text);
    line->text = NULL;
    size_t len = s_append (&line->text, 0, clock);
    len = s_append (&line->text, len, " ");
    line->time_end = len;
    const char *body = line->body;
    if (line->kind == L_MSG && strncmp (body, "/me ", 4) == 0) {
        line->kind = L_ACTION;
    }
    if (line->kind == L_ACTION) {
        body += 4;
        len = s_append (&line->text, len, "* ");
        line->nick_start = len;
        len = s_append (&line->text, len, line->from);
        line->nick_end = len;
        len = s_append (&line->text, len, " ");
    }
    else
    if (line->kind == L_MSG) {
        len = s_append (&line->text, len, "<");
        line->nick_start = len;
        len = s_append (&line->text, len, line->from);
        line->nick_end = len;
        len = s_append (&line->text, len, "> ");
    }
    else {
        len = s_append (&line->text, len, line->kind == L_ERR? "!!! ": "-!- ");
        line->nick_start = line->nick_end = len;
    }
    line->indent = client_ui_text_width (line->text, len);
    len = s_append (&line->text, len, body);
    line->len = len;
    line->cache_width = 0;
}

static line_t *
s_line_new (line_kind_t kind, uint64_t id, const char *from, int64_t ts, const char *body)
{
    line_t *line = (line_t *) zmalloc (sizeof (line_t));
    assert (line);
    line->kind = kind;
    line->id = id;
    snprintf (line->from, sizeof (line->from), "%s", from? from: "");
    line->body = strdup (body? body: "");
    assert (line->body);
    s_line_render (line, ts);
    return line;
}

static size_t
s_line_rows (line_t *line, int width)
{
    if (line->cache_width != width) {
        line->cache_rows = client_ui_text_wrap (line->text, line->len, width, line->indent, NULL, 0);
        line->cache_width = width;
    }
    return line->cache_rows;
}

static win_t *
s_win_new (ui_t *self, win_type_t type, const char *target)
{
    if (self->nwins >= WINDOWS_MAX)
        return NULL;
    win_t *win = (win_t *) zmalloc (sizeof (win_t));
    assert (win);
    win->type = type;
    snprintf (win->target, sizeof (win->target), "%s", target);
    snprintf (win->title, sizeof (win->title), "%s%s",
              type == W_ROOM? "#": type == W_DM? "@": "", target);
    self->wins [self->nwins++] = win;
    return win;
}

static void
s_win_members_free (win_t *win)
{
    for (size_t i = 0; i < win->nmembers; i++)
        free (win->members [i]);
    free (win->members);
    win->members = NULL;
    win->nmembers = 0;
}

static void
s_win_files_free (win_t *win)
{
    for (size_t i = 0; i < win->nfiles; i++)
        free (win->files [i]);
    free (win->files);
    win->files = NULL;
    win->nfiles = 0;
}

static void
s_win_destroy (win_t **win_p)
{
    win_t *win = *win_p;
    if (!win)
        return;
    for (size_t i = 0; i < win->nlines; i++)
        s_line_destroy (&win->lines [i]);
    free (win->lines);
    s_win_members_free (win);
    s_win_files_free (win);
    free (win);
    *win_p = NULL;
}

static win_t *
s_win_find (ui_t *self, win_type_t type, const char *target)
{
    for (size_t i = 0; i < self->nwins; i++)
        if (self->wins [i]->type == type && streq (self->wins [i]->target, target))
            return self->wins [i];
    return NULL;
}

static size_t
s_win_index (ui_t *self, win_t *win)
{
    for (size_t i = 0; i < self->nwins; i++)
        if (self->wins [i] == win)
            return i;
    return 0;
}

static win_t *
s_current (ui_t *self)
{
    return self->wins [self->current];
}

static void
s_switch (ui_t *self, size_t index)
{
    if (index >= self->nwins)
        return;
    self->current = index;
    self->wins [index]->unread = 0;
    self->wins [index]->mention = false;
    free (self->tab_prefix);
    self->tab_prefix = NULL;
}

static void
s_win_close (ui_t *self, size_t index)
{
    if (index == 0 || index >= self->nwins)
        return;                             //  the status window stays
    s_win_destroy (&self->wins [index]);
    memmove (self->wins + index, self->wins + index + 1,
             (self->nwins - index - 1) * sizeof (win_t *));
    self->nwins--;
    if (self->current >= index && self->current > 0)
        self->current--;
    s_switch (self, self->current);
}

static int
s_pane_width (void)
{
    int side = COLS >= 80? 18: 12;
    return COLS - side - 1;
}

//  Inserts line at position, keeping the reader's place when scrolled back.
static void
s_win_insert (win_t *win, line_t *line, size_t at)
{
    if (win->nlines == win->cap) {
        win->cap = win->cap? win->cap * 2: 64;
        win->lines = (line_t **) realloc (win->lines, win->cap * sizeof (line_t *));
        assert (win->lines);
    }
    memmove (win->lines + at + 1, win->lines + at, (win->nlines - at) * sizeof (line_t *));
    win->lines [at] = line;
    win->nlines++;
    if (win->scroll && at == win->nlines - 1)
        win->scroll += s_line_rows (line, s_pane_width ());
    if (win->nlines > LINES_MAX) {
        s_line_destroy (&win->lines [0]);
        memmove (win->lines, win->lines + 1, (win->nlines - 1) * sizeof (line_t *));
        win->nlines--;
        win->oldest_id = 0;
        for (size_t i = 0; i < win->nlines && !win->oldest_id; i++)
            win->oldest_id = win->lines [i]->id;
    }
}

static void
s_sys (ui_t *self, win_t *win, line_kind_t kind, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = zsys_vprintf (format, args);
    va_end (args);
    if (!win)
        win = s_current (self);
    line_t *line = s_line_new (kind, 0, NULL, pc_now_ms (), text);
    s_win_insert (win, line, win->nlines);
    free (text);
}

static void
s_notify (ui_t *self, win_t *win, bool mention)
{
    if (win == s_current (self) && self->mode == M_CHAT)
        return;
    win->unread++;
    if (mention)
        win->mention = true;
}

//  Adds a stored message (live, catch-up or scroll-back) once, in id order.
static void
s_add_message (ui_t *self, win_t *win, uint64_t id, const char *from, int64_t ts,
               const char *text, bool live)
{
    if (id == 0)
        return;
    for (size_t i = win->nlines; i-- > 0;)
        if (win->lines [i]->id == id)
            return;                         //  seen already
    bool own = streq (from, self->user);
    if (own)
        for (size_t i = 0; i < win->nlines; i++) {
            line_t *line = win->lines [i];
            if (line->own && line->pending && line->id == 0 && streq (line->body, text)) {
                line->id = id;
                line->pending = false;
                s_line_render (line, ts);
                if (id > win->last_id)
                    win->last_id = id;
                return;
            }
        }
    line_t *line = s_line_new (L_MSG, id, from, ts, text);
    line->own = own;
    //  After the last line with a smaller id, before pending own lines.
    size_t at = win->nlines;
    while (at > 0 && (win->lines [at - 1]->id > id || win->lines [at - 1]->pending))
        at--;
    s_win_insert (win, line, at);
    if (id > win->last_id)
        win->last_id = id;
    if (!win->oldest_id || id < win->oldest_id)
        win->oldest_id = id;
    if (live && !own) {
        bool mention = win->type == W_DM || client_ui_text_mentions (text, self->user);
        s_notify (self, win, mention);
        if (mention && self->bell)
            beep ();
    }
}

//  --------------------------------------------------------------------------
//  Requests

static int
s_request (ui_t *self, pc_msg_t *request, req_kind_t kind, const char *arg, long n)
{
    return client_session_request (self->session, request, (int) kind, arg, n);
}

static int
s_simple (ui_t *self, const char *command, const char *f1, const char *f2, const char *f3,
          req_kind_t kind, const char *arg, long n)
{
    pc_msg_t *request = pc_msg_new (command);
    if (f1) pc_msg_add (request, f1);
    if (f2) pc_msg_add (request, f2);
    if (f3) pc_msg_add (request, f3);
    int rc = s_request (self, request, kind, arg, n);
    pc_msg_destroy (&request);
    return rc;
}

static void
s_history (ui_t *self, win_t *win, uint64_t since, long limit, req_kind_t kind, long n)
{
    char since_txt [32], limit_txt [16];
    snprintf (since_txt, sizeof (since_txt), "%" PRIu64, since);
    snprintf (limit_txt, sizeof (limit_txt), "%ld", limit);
    s_simple (self, "HISTORY", win->target, since_txt, limit_txt, kind, win->target, n);
}

static line_t *
s_find_cid (ui_t *self, const char *cid, win_t **win_p)
{
    for (size_t w = 0; w < self->nwins; w++)
        for (size_t i = self->wins [w]->nlines; i-- > 0;)
            if (self->wins [w]->lines [i]->own && streq (self->wins [w]->lines [i]->cid, cid)) {
                *win_p = self->wins [w];
                return self->wins [w]->lines [i];
            }
    return NULL;
}

//  --------------------------------------------------------------------------
//  Connection state

static void
s_connect (ui_t *self, bool register_first)
{
    self->busy = true;
    if (register_first)
        client_session_register (self->session, self->server, self->opts->server_key,
                                 self->user, self->password);
    else
        client_session_start (self->session, self->server, self->opts->server_key,
                              self->user, self->password);
}

//  --------------------------------------------------------------------------
//  Direct messages: sealed with client_dm (crypto_box), keys pinned on first
//  use (PYCHAT_HOME/peers/USER), a changed key refused until /trust USER.

static win_t *
s_dm_window (ui_t *self, const char *user)
{
    win_t *win = s_win_find (self, W_DM, user);
    return win? win: s_win_new (self, W_DM, user);
}

static const char *
s_peer_key (ui_t *self, const char *user)
{
    for (size_t i = 0; i < self->npeers; i++)
        if (streq (self->peer_user [i], user))
            return self->peer_key [i];
    return NULL;
}

static void
s_job_free (job_t *job)
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
        s_xfer_keyed (self, atoi (job->data), z85);
        return;
    }
    win_t *win = s_dm_window (self, job->kind == J_OPEN? job->from: job->user);
    if (!win)
        return;
    if (!client_dm_z85_decode (z85, key)) {
        s_sys (self, win, L_ERR, "%s's key is malformed", job->user);
        return;
    }
    if (job->kind == J_SEND) {
        char *box = client_dm_seal (job->data, strlen (job->data), key, self->dm_keys.secret_key);
        pc_msg_t *request = pc_msg_new ("DM");
        pc_msg_add (request, job->user);
        pc_msg_add (request, job->cid);
        pc_msg_add (request, box);
        if (s_request (self, request, R_DM, job->cid, 0) == -1) {
            win_t *where = NULL;
            line_t *line = s_find_cid (self, job->cid, &where);
            if (line) {
                line->pending = false;
                line->failed = true;
                line->len = s_append (&line->text, line->len, "  [not sent: not connected]");
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
            s_add_message (self, win, job->id, job->from, job->ts, text, job->live);
            memset (text, 0, strlen (text));
            free (text);
        }
        else
            s_sys (self, win, L_ERR, "a direct message from %s did not open (tampered, or "
                                     "sealed for another key): not shown", job->from);
    }
    else
    if (job->kind == J_FINGERPRINT) {
        client_dm_fingerprint (key, finger);
        s_sys (self, win, L_SYS, "%s's key fingerprint: %s (pinned)", job->user, finger);
        client_dm_fingerprint (self->dm_keys.public_key, finger);
        s_sys (self, win, L_SYS, "your own fingerprint: %s", finger);
    }
    else
        s_sys (self, win, L_SYS, "%s's key is pinned as trusted", job->user);
}

static void
s_job_add (ui_t *self, job_kind_t kind, const char *user, const char *from, const char *data,
           const char *cid, uint64_t id, int64_t ts, bool live)
{
    if (!self->dm_ready) {
        s_sys (self, NULL, L_ERR, "direct messages are off: no device key in %s", self->opts->home);
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
        s_job_free (&job);
        return;
    }
    if (self->njobs == JOBS_MAX) {
        s_sys (self, NULL, L_ERR, "too many direct messages wait for keys: dropped one");
        s_job_free (&job);
        return;
    }
    bool asked = false;
    for (size_t i = 0; i < self->njobs; i++)
        asked |= streq (self->jobs [i].user, user);
    self->jobs [self->njobs++] = job;
    if (!asked && s_simple (self, "GETKEY", user, NULL, NULL, R_GETKEY, user, 0) == -1)
        s_sys (self, NULL, L_ERR, "not connected: %s's key will be fetched after reconnecting", user);
}

static void
s_on_getkey (ui_t *self, const char *user, pc_msg_t *reply)
{
    const char *z85 = pc_msg_is (reply, "OK")? pc_msg_field (reply, 1): NULL;
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
        win_t *win = s_dm_window (self, job->kind == J_OPEN? job->from: user);
        bool run = false;
        if (!valid)
            s_sys (self, win, L_ERR, "%s has no direct-message key yet (they must log in once "
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
            s_sys (self, win, L_ERR, "%s's key CHANGED (now %s): refused; /fingerprint %s, "
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
            s_xfer_keyed (self, atoi (job->data), NULL);     //  no usable key: cancelled
        s_job_free (job);
    }
    self->njobs = kept;
    if (valid && (!changed || !has_pin) && self->npeers < PEERS_MAX && !s_peer_key (self, user)) {
        snprintf (self->peer_user [self->npeers], PC_NAME_MAX + 1, "%s", user);
        snprintf (self->peer_key [self->npeers++], CLIENT_DM_Z85, "%s", z85);
    }
}

static void
s_dm_say (ui_t *self, win_t *win, const char *text)
{
    zuuid_t *uuid = zuuid_new ();
    char cid [40];
    snprintf (cid, sizeof (cid), "%s", zuuid_str (uuid));
    zuuid_destroy (&uuid);
    line_t *line = s_line_new (L_MSG, 0, self->user, pc_now_ms (), text);
    line->own = true;
    line->pending = true;
    snprintf (line->cid, sizeof (line->cid), "%s", cid);
    s_win_insert (win, line, win->nlines);
    win->scroll = 0;
    s_job_add (self, J_SEND, win->target, self->user, text, cid, 0, 0, false);
}

//  --------------------------------------------------------------------------
//  File transfers: /upload, /files, /download (PROTOCOL.md, "File sharing")
//
//  The main loop only asks the broker FILES (and, in a DM window, the
//  peer's pinned key); the transfer itself runs in a thread of its own
//  with this session's certificate (client_ui_xfer), and this loop polls
//  its reports with the keyboard and the sockets.

static xfer_t *
s_xfer_find (ui_t *self, int id)
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
    win_t *win = s_win_find (self, xfer->win_type, xfer->target);
    return win? win: self->wins [0];
}

static const char *
s_xfer_what (xfer_t *xfer)
{
    return xfer->kind == CLIENT_UI_XFER_PUT? "upload": xfer->kind == CLIENT_UI_XFER_GET?
           "download": "files";
}

static void
s_xfer_remove (ui_t *self, xfer_t *xfer)
{
    client_ui_xfer_destroy (&xfer->run);
    free (xfer->path);
    size_t index = (size_t) (xfer - self->xfers);
    memmove (self->xfers + index, self->xfers + index + 1,
             (self->nxfers - index - 1) * sizeof (xfer_t));
    self->nxfers--;
}

static void
s_xfer_fail (ui_t *self, xfer_t *xfer, const char *why)
{
    char name [PC_FILE_NAME_MAX + 1];
    client_conn_sanitize (xfer->name, name, sizeof (name));
    s_sys (self, s_xfer_win (self, xfer), L_ERR, "%s%s%s: %s", s_xfer_what (xfer), *name? " ": "",
           name, why);
    s_xfer_remove (self, xfer);
}

//  Asks the broker where the file service is (again after a reconnect).
static void
s_xfer_ask (ui_t *self, xfer_t *xfer)
{
    xfer->state = X_FILES;
    if (self->state == C_ONLINE)
        s_simple (self, "FILES", NULL, NULL, NULL, R_FILES, NULL, xfer->id);
}

//  The peer's pinned key arrived (z85), or there is none usable (NULL).
static void
s_xfer_keyed (ui_t *self, int id, const char *z85)
{
    xfer_t *xfer = s_xfer_find (self, id);
    if (!xfer || xfer->state != X_KEY)
        return;
    if (!z85 || !client_dm_z85_decode (z85, xfer->peer_public))
        s_xfer_fail (self, xfer, "cancelled: no trusted key for this user");
    else
        s_xfer_ask (self, xfer);
}

//  FILES answered: start the thread.
static void
s_xfer_start (ui_t *self, xfer_t *xfer, pc_msg_t *reply)
{
    char reason [200];
    client_conn_sanitize (pc_msg_error_reason (reply), reason, sizeof (reason));
    if (pc_msg_is (reply, "ERROR")) {
        s_xfer_fail (self, xfer, *reason? reason: pc_error_name (pc_msg_error_code (reply)));
        return;
    }
    zcert_t *cert = client_ui_net_cert (self->net);
    const char *port = pc_msg_field (reply, 0);
    const char *key = pc_msg_field (reply, 1);
    if (!cert || !port || !key || !pc_keys_valid_z85 (key)) {
        s_xfer_fail (self, xfer, "the broker gave no usable file service");
        return;
    }
    client_xfer_keys_t keys;
    memset (&keys, 0, sizeof (keys));
    bool private_ = client_xfer_private (xfer->space);
    if (private_) {
        memcpy (keys.peer_public, xfer->peer_public, sizeof (keys.peer_public));
        memcpy (keys.own_secret, self->dm_keys.secret_key, sizeof (keys.own_secret));
        snprintf (keys.pending_dir, sizeof (keys.pending_dir), "%s/uploads/%s",
                  self->opts->home, self->user);
    }
    xfer->run = client_ui_xfer_new (xfer->kind, client_ui_net_host (self->net), atoi (port), key,
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
        s_xfer_fail (self, xfer, why);
        return;
    }
    bool private_ = client_xfer_private (xfer->space);
    char name [PC_FILE_NAME_MAX + 1], size_txt [32];
    client_conn_sanitize (xfer->name, name, sizeof (name));
    if (xfer->kind == CLIENT_UI_XFER_LIST) {
        size_t count = 0;
        const client_xfer_file_t *files = client_ui_xfer_files (run, &count);
        s_win_files_free (win);
        win->files = (char **) calloc (count + 1, sizeof (char *));
        assert (win->files);
        if (count == 0)
            s_sys (self, win, L_SYS, "no files in %s", win->title);
        else
            s_sys (self, win, L_SYS, "%zu file%s in %s (name, size, from, when, SHA-256):",
                   count, count == 1? "": "s", win->title);
        for (size_t i = 0; i < count; i++) {
            const client_xfer_file_t *file = &files [i];
            uint64_t size = private_? client_seal_plain_size (file->size): file->size;
            client_xfer_size_text (size == UINT64_MAX? file->size: size, size_txt, sizeof (size_txt));
            char when [32], file_name [PC_FILE_NAME_MAX + 1];
            time_t seconds = (time_t) (file->time / 1000);
            strftime (when, sizeof (when), "%Y-%m-%d %H:%M", localtime (&seconds));
            client_conn_sanitize (file->name, file_name, sizeof (file_name));
            s_sys (self, win, L_SYS, "  %s  %s  %s  %s  %.16s%s", file_name, size_txt, file->from,
                   when, private_? "encrypted": file->sha256, private_? "": "...");
            win->files [win->nfiles++] = strdup (file->name);
        }
    }
    else
    if (xfer->kind == CLIENT_UI_XFER_PUT) {
        client_xfer_size_text (xfer->size, size_txt, sizeof (size_txt));
        if (private_) {
            s_sys (self, win, L_SYS, "sent %s (%s) to %s, encrypted end to end", name, size_txt,
                   xfer->target);
            //  Tell them, with an ordinary sealed DM
            char *text = client_xfer_dm_text (self->user, xfer->name, xfer->size);
            s_dm_say (self, s_dm_window (self, xfer->target), text);
            free (text);
        }
        else
            s_sys (self, win, L_SYS, "uploaded %s (%s) to %s", name, size_txt, win->title);
    }
    else {
        client_xfer_size_text (client_ui_xfer_result (run)->size, size_txt, sizeof (size_txt));
        char path [PATH_MAX];
        client_conn_sanitize (xfer->path, path, sizeof (path));
        s_sys (self, win, L_SYS, "saved %s (%s) to %s", name, size_txt, path);
    }
    s_xfer_remove (self, xfer);
}

//  Reads what the transfer threads reported.
static void
s_xfer_poll (ui_t *self)
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
                s_sys (self, s_xfer_win (self, xfer), L_SYS, "%s: %s", name, note);
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
static void
s_expand_home (const char *path, char *out, size_t size)
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

static void
s_xfer_command (ui_t *self, win_t *win, const char *cmd, const char *args)
{
    if (win->type != W_ROOM && win->type != W_DM) {
        s_sys (self, win, L_ERR, "%s works in a room window (shared with the room) or a DM "
               "window (private, encrypted)", cmd);
        return;
    }
    if (win->type == W_DM && !self->dm_ready) {
        s_sys (self, win, L_ERR, "private files need the device key in %s", self->opts->home);
        return;
    }
    if (self->nxfers == XFERS_MAX) {
        s_sys (self, win, L_ERR, "%d transfers are running already: wait for one to end", XFERS_MAX);
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
        s_expand_home (given, path, sizeof (path));
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
                s_expand_home (count == 2? words [1]: xfer.name, given, sizeof (given));
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
        s_sys (self, win, L_ERR, "%s%s%s", *safe? safe: "", *safe? ": ": "", why);
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
        s_sys (self, win, L_SYS, "not connected: the %s starts once connected", s_xfer_what (added));
    if (win->type == W_DM) {
        char id [16];
        snprintf (id, sizeof (id), "%d", xfer.id);
        s_job_add (self, J_FILEKEY, win->target, win->target, id, NULL, 0, 0, false);
    }
    else
        s_xfer_ask (self, added);
}

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
    if (code == PC_ERR_AUTH) {
        snprintf (self->form_msg, sizeof (self->form_msg),
                  "No account '%s', or a wrong password. Create the account? (y/n)", self->user);
        self->ask_register = true;
    }
    else
    if (code == PC_ERR_CONFLICT)
        snprintf (self->form_msg, sizeof (self->form_msg),
                  "The name '%s' is taken: check the password", self->user);
    else
    if (code == PC_ERR_THROTTLED) {
        char wait [32];
        client_conn_sanitize (pc_msg_field (reply, 2), wait, sizeof (wait));
        snprintf (self->form_msg, sizeof (self->form_msg),
                  "Too many failed logins: retry in %s s", *wait? wait: "a few");
    }
    else
        snprintf (self->form_msg, sizeof (self->form_msg), "%s: %s",
                  self->registering? "Cannot register": "Login refused", reason);
}

//  The session engine logged in (again): the engine joins the rooms and
//  resends the outbox itself; here the DM key, the inbox, waiting jobs.
static void
s_on_login (void *arg, pc_msg_t *reply, bool again)
{
    ui_t *self = (ui_t *) arg;
    if (pc_msg_is (reply, "ERROR")) {
        s_login_refused (self, reply);
        return;
    }
    self->busy = false;
    self->registering = false;
    if (self->mode == M_FORM) {
        self->mode = M_CHAT;
        s_conf_save (self);
    }
    s_sys (self, self->wins [0], L_SYS, "%s as %s to %s", again? "reconnected": "connected",
           self->user, self->server);
    for (size_t i = 0; i < self->nxfers; i++)
        if (self->xfers [i].state == X_FILES)
            s_xfer_ask (self, &self->xfers [i]);
    if (!self->dm_ready)
        return;
    //  Publish our DM key (the broker keeps the latest), then read what
    //  came while we were away.
    s_simple (self, "SETKEY", self->dm_keys.public_txt, NULL, NULL, R_SETKEY, NULL, 0);
    char since [32];
    snprintf (since, sizeof (since), "%" PRIu64, self->inbox_last);
    s_simple (self, "INBOX", since, "200", NULL, R_INBOX, NULL, 0);
    for (size_t i = 0; i < self->njobs; i++) {
        bool first = true;
        for (size_t k = 0; k < i; k++)
            first &= !streq (self->jobs [k].user, self->jobs [i].user);
        if (first)
            s_simple (self, "GETKEY", self->jobs [i].user, NULL, NULL, R_GETKEY,
                      self->jobs [i].user, 0);
    }
}

//  Someone who writes in a room is a member: Tab completes the name even
//  when they joined after our last WHO.
static void
s_member_seen (win_t *win, const char *name)
{
    for (size_t i = 0; i < win->nmembers; i++)
        if (streq (win->members [i], name))
            return;
    win->members = (char **) realloc (win->members, (win->nmembers + 2) * sizeof (char *));
    assert (win->members);
    win->members [win->nmembers++] = strdup (name);
}

//  An own line's request was answered: shown as sent, or as failed.
static void
s_line_answered (line_t *line, const char *error, int64_t ts)
{
    line->pending = false;
    if (error) {
        line->failed = true;
        size_t len = s_append (&line->text, line->len, "  [not sent: ");
        len = s_append (&line->text, len, error);
        line->len = s_append (&line->text, len, "]");
        line->cache_width = 0;
    }
    else
        s_line_render (line, ts);
}

static void
s_on_inbox (ui_t *self, pc_msg_t *reply)
{
    size_t n = pc_msg_nfields (reply) / 5;
    for (size_t m = 0; m < n; m++) {
        uint64_t id = strtoull (pc_msg_field (reply, m * 5), NULL, 10);
        const char *from = pc_msg_field (reply, m * 5 + 1);
        if (id > self->inbox_last)
            self->inbox_last = id;
        if (!pc_name_valid (from))
            continue;
        s_job_add (self, J_OPEN, from, from, pc_msg_field (reply, m * 5 + 4), NULL, id,
                   strtoll (pc_msg_field (reply, m * 5 + 3), NULL, 10), false);
    }
}

//  /history N and scroll-back pages (the catch-up is the engine's).
static void
s_on_history (ui_t *self, win_t *win, pc_msg_t *reply, const char *reason, long n_asked)
{
    if (reason) {
        s_sys (self, win, L_ERR, "history of #%s: %s", win->target, reason);
        return;
    }
    size_t n = pc_msg_nfields (reply) / 4;
    for (size_t m = 0; m < n; m++)
        s_add_message (self, win, strtoull (pc_msg_field (reply, m * 4), NULL, 10),
                       pc_msg_field (reply, m * 4 + 1),
                       strtoll (pc_msg_field (reply, m * 4 + 2), NULL, 10),
                       pc_msg_field (reply, m * 4 + 3), false);
    if (n_asked == -1)
        s_sys (self, win, L_SYS, "history: %zu messages", n);
}

static void
s_on_who (ui_t *self, win_t *win, const char *room, pc_msg_t *reply, bool quiet)
{
    if (win) {
        s_win_members_free (win);
        win->nmembers = pc_msg_nfields (reply);
        win->members = (char **) calloc (win->nmembers + 1, sizeof (char *));
        for (size_t f = 0; f < win->nmembers; f++)
            win->members [f] = strdup (pc_msg_field (reply, f));
    }
    if (quiet)
        return;
    pc_buf_t list;
    pc_buf_init (&list);
    for (size_t f = 0; f < pc_msg_nfields (reply); f++)
        pc_buf_printf (&list, "%s%s", f? ", ": "", pc_msg_field (reply, f));
    s_sys (self, win, L_SYS, "#%s: %zu members: %s", room, pc_msg_nfields (reply),
           list.data? list.data: "");
    pc_buf_free (&list);
}

static void
s_on_rooms (ui_t *self, pc_msg_t *reply)
{
    win_t *to = s_current (self);
    for (size_t k = 0; k < self->nknown; k++)
        free (self->known_rooms [k]);
    free (self->known_rooms);
    self->nknown = pc_msg_nfields (reply);
    self->known_rooms = (char **) calloc (self->nknown + 1, sizeof (char *));
    s_sys (self, to, L_SYS, "%zu rooms (name, members, messages):", self->nknown);
    for (size_t f = 0; f < self->nknown; f++) {
        char name [80], safe [160];
        client_conn_sanitize (pc_msg_field (reply, f), safe, sizeof (safe));
        sscanf (safe, "%79s", name);
        self->known_rooms [f] = strdup (name);
        s_sys (self, to, L_SYS, "  #%s", safe);
    }
}

//  A request that will get no reply: the connection was lost, or it expired.
static void
s_on_no_reply (ui_t *self, req_kind_t kind, const char *what, long n)
{
    win_t *win = what [0]? s_win_find (self, W_ROOM, what): NULL;
    if (kind == R_OLDER && win)
        win->fetching = false;
    else
    if (kind == R_FILES) {
        xfer_t *xfer = s_xfer_find (self, (int) n);
        if (xfer && xfer->state == X_FILES)
            s_xfer_fail (self, xfer, "the broker did not say where the file service is");
    }
    else
    if (kind == R_DM) {
        win_t *where = NULL;
        line_t *line = s_find_cid (self, what, &where);
        if (line && line->pending)
            s_line_answered (line, "connection lost", 0);
    }
}

//  The reply to one of this file's requests (client_session_request).
static void
s_on_reply (void *arg, int kind_int, const char *what, long n, pc_msg_t *reply)
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
    win_t *win = what [0]? s_win_find (self, W_ROOM, what): NULL;
    switch (kind) {
        case R_LOGOUT:
            self->logged_out = true;
            break;
        case R_SETKEY:
            if (error)
                s_sys (self, self->wins [0], L_ERR, "cannot publish the DM key: %s", reason);
            break;
        case R_GETKEY:
            s_on_getkey (self, what, reply);
            break;
        case R_FILES: {
            xfer_t *xfer = s_xfer_find (self, (int) n);
            if (xfer && xfer->state == X_FILES)
                s_xfer_start (self, xfer, reply);
            break;
        }
        case R_DM: {
            win_t *where = NULL;
            line_t *line = s_find_cid (self, what, &where);
            const char *ts = pc_msg_field (reply, 1);
            if (line)
                s_line_answered (line, error? reason: NULL, !error && ts? strtoll (ts, NULL, 10): 0);
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
                s_sys (self, win, L_ERR, "who: %s", reason);
            else
            if (!error)
                s_on_who (self, win, what, reply, kind == R_WHO_QUIET);
            break;
        case R_ROOMS:
            if (error)
                s_sys (self, s_current (self), L_ERR, "rooms: %s", reason);
            else
                s_on_rooms (self, reply);
            break;
    }
}

//  A SEND was answered: the pending line gets its id, or says why not.
static void
s_on_sent (void *arg, const char *cid, int code, const char *reason, uint64_t id, int64_t ts)
{
    ui_t *self = (ui_t *) arg;
    win_t *where = NULL;
    line_t *line = s_find_cid (self, cid, &where);
    if (!line)
        return;
    if (code) {
        char safe [200];
        client_conn_sanitize (reason, safe, sizeof (safe));
        s_line_answered (line, *safe? safe: pc_error_name (code), 0);
        return;
    }
    bool dup = false;
    for (size_t l = 0; l < where->nlines; l++)
        dup |= where->lines [l] != line && where->lines [l]->id == id;
    if (dup) {                          //  the fan-out showed it already
        for (size_t l = 0; l < where->nlines; l++)
            if (where->lines [l] == line) {
                s_line_destroy (&where->lines [l]);
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
    s_line_answered (line, NULL, ts);
    if (id > where->last_id)
        where->last_id = id;
}

//  A stored message of a followed room, in id order, once.
static void
s_on_message (void *arg, const char *room, uint64_t id, const char *from, int64_t ts,
              const char *text, bool live)
{
    ui_t *self = (ui_t *) arg;
    win_t *win = s_win_find (self, W_ROOM, room);
    if (!win)
        return;
    if (live)
        s_member_seen (win, from);
    s_add_message (self, win, id, from, ts, text, live);
}

static void
s_on_lost (void *arg, const char *room, uint64_t first, uint64_t last)
{
    ui_t *self = (ui_t *) arg;
    win_t *win = s_win_find (self, W_ROOM, room);
    if (win)
        s_sys (self, win, L_ERR, "messages %" PRIu64 "-%" PRIu64 " are no longer in the history",
               first, last);
}

static void
s_on_join_failed (void *arg, const char *room, int code, const char *reason)
{
    ui_t *self = (ui_t *) arg;
    win_t *win = s_win_find (self, W_ROOM, room);
    char safe [200];
    client_conn_sanitize (reason, safe, sizeof (safe));
    if (win)
        s_sys (self, win, L_ERR, "cannot join #%s: %s", room, *safe? safe: pc_error_name (code));
}

//  Joined and caught up: who is in each room (for Tab).
static void
s_on_ready (void *arg)
{
    ui_t *self = (ui_t *) arg;
    for (size_t i = 0; i < self->nwins; i++)
        if (self->wins [i]->type == W_ROOM && !self->wins [i]->nmembers)
            s_simple (self, "WHO", self->wins [i]->target, NULL, NULL, R_WHO_QUIET,
                      self->wins [i]->target, 0);
}

static void
s_on_state (void *arg, client_session_state_t state, const char *why)
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
                s_sys (self, self->wins [0], L_ERR, "connection lost: %s", safe);
            break;
        case CLIENT_SESSION_IDLE:
        case CLIENT_SESSION_REFUSED:
            if (self->mode == M_CHAT && state == CLIENT_SESSION_REFUSED && self->busy) {
                s_sys (self, self->wins [0], L_ERR, "%s", safe);
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
static void
s_on_fanout (void *arg, pc_msg_t *msg)
{
    ui_t *self = (ui_t *) arg;
    if (pc_msg_is (msg, "DMMSG") && pc_msg_nfields (msg) >= 5) {
        const char *from = pc_msg_field (msg, 1);
        const char *to = pc_msg_field (msg, 2);
        const char *other = streq (from, self->user)? to: from;
        win_t *win = s_win_find (self, W_DM, other);
        if (!win)
            win = s_win_new (self, W_DM, other);
        if (!win)
            return;
        uint64_t id = strtoull (pc_msg_field (msg, 0), NULL, 10);
        if (streq (from, self->user) || !pc_name_valid (from))
            return;
        if (id > self->inbox_last)
            self->inbox_last = id;
        s_job_add (self, J_OPEN, from, from, pc_msg_field (msg, 4), NULL, id,
                   strtoll (pc_msg_field (msg, 3), NULL, 10), true);
    }
    else
    if (pc_msg_is (msg, "NOTICE") && pc_msg_nfields (msg) >= 2) {
        char kind [64], text [512];
        client_conn_sanitize (pc_msg_field (msg, 0), kind, sizeof (kind));
        client_conn_sanitize (pc_msg_field (msg, 1), text, sizeof (text));
        s_sys (self, self->wins [0], L_ERR, "%s: %s", kind, text);
        if (s_current (self) != self->wins [0])
            s_sys (self, s_current (self), L_ERR, "%s: %s", kind, text);
        if (self->bell)
            beep ();
        if (streq (kind, "banned") || streq (kind, "deleted")) {
            client_session_stop (self->session);
            self->state = C_DEAD;
            snprintf (self->dead_reason, sizeof (self->dead_reason), "%s", kind);
        }
    }
}

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
    win_t *win = s_current (self);
    if (win->type == W_DM) {
        s_dm_say (self, win, text);
        return;
    }
    if (win->type != W_ROOM) {
        s_sys (self, win, L_ERR, "this is not a room: /join ROOM first (Alt-N switches windows)");
        return;
    }
    char cid [CLIENT_SESSION_CID];
    if (client_session_send (self->session, win->target, text, cid) == -1) {
        s_sys (self, win, L_ERR, "%d messages are waiting to be sent already: not sent", OUTBOX_MAX);
        return;
    }
    line_t *line = s_line_new (L_MSG, 0, self->user, pc_now_ms (), text);
    line->own = true;
    line->pending = true;
    snprintf (line->cid, sizeof (line->cid), "%s", cid);
    s_win_insert (win, line, win->nlines);
    win->scroll = 0;
}

static void
s_open_room (ui_t *self, const char *room)
{
    win_t *win = s_win_find (self, W_ROOM, room);
    if (!win) {
        win = s_win_new (self, W_ROOM, room);
        if (!win) {
            s_sys (self, NULL, L_ERR, "too many windows: /close some");
            return;
        }
        s_sys (self, win, L_SYS, "joining #%s...", room);
        client_session_follow (self->session, room, false, 0, 50);
    }
    s_switch (self, s_win_index (self, win));
}

static void
s_command (ui_t *self, const char *line)
{
    char *copy = strdup (line);
    char *rest = copy;
    char *cmd = strsep (&rest, " ");
    while (rest && *rest == ' ')
        rest++;
    char *arg = rest? strsep (&rest, " "): NULL;
    while (rest && *rest == ' ')
        rest++;
    win_t *win = s_current (self);
    char room [PC_NAME_MAX + 2];

    if (streq (cmd, "/join")) {
        if (!arg || !*arg)
            s_sys (self, win, L_ERR, "usage: /join ROOM");
        else
        if (!s_room_name (arg, room))
            s_sys (self, win, L_ERR, "bad room name: use 1-%d of a-z 0-9 _ -", PC_NAME_MAX);
        else
            s_open_room (self, room);
    }
    else
    if (streq (cmd, "/leave") || streq (cmd, "/part") || streq (cmd, "/close")) {
        win_t *target = win;
        if (arg && *arg && s_room_name (arg, room))
            target = s_win_find (self, W_ROOM, room);
        if (!target || target->type == W_STATUS)
            s_sys (self, win, L_ERR, streq (cmd, "/close")? "the status window stays open"
                                                          : "not in a room window");
        else {
            if (target->type == W_ROOM)
                client_session_unfollow (self->session, target->target);
            s_sys (self, self->wins [0], L_SYS, "left %s", target->title);
            s_win_close (self, s_win_index (self, target));
        }
    }
    else
    if (streq (cmd, "/msg") || streq (cmd, "/query")) {
        char user [PC_NAME_MAX + 2];
        if (!arg || !*arg || strlen (arg) > PC_NAME_MAX)
            s_sys (self, win, L_ERR, "usage: /msg USER [TEXT]");
        else {
            snprintf (user, sizeof (user), "%s", *arg == '@'? arg + 1: arg);
            pc_name_fold (user);
            if (!pc_name_valid (user))
                s_sys (self, win, L_ERR, "bad user name");
            else {
                win_t *dm = s_win_find (self, W_DM, user);
                if (!dm)
                    dm = s_win_new (self, W_DM, user);
                if (dm) {
                    s_switch (self, s_win_index (self, dm));
                    if (rest && *rest)
                        s_say (self, rest);
                }
            }
        }
    }
    else
    if (streq (cmd, "/me")) {
        if (!arg || !*arg)
            s_sys (self, win, L_ERR, "usage: /me TEXT");
        else {
            char *text = zsys_sprintf ("/me %s", line + 4);
            s_say (self, text);
            free (text);
        }
    }
    else
    if (streq (cmd, "/who")) {
        win_t *target = win;
        if (arg && *arg && s_room_name (arg, room))
            target = s_win_find (self, W_ROOM, room);
        if (!target || target->type != W_ROOM)
            s_sys (self, win, L_ERR, "usage: /who in a room window");
        else
        if (s_simple (self, "WHO", target->target, NULL, NULL, R_WHO, target->target, 0) == -1)
            s_sys (self, win, L_ERR, "not connected");
    }
    else
    if (streq (cmd, "/rooms")) {
        if (s_simple (self, "ROOMS", NULL, NULL, NULL, R_ROOMS, NULL, 0) == -1)
            s_sys (self, win, L_ERR, "not connected");
    }
    else
    if (streq (cmd, "/history")) {
        long n = arg? atol (arg): 0;
        if (win->type != W_ROOM || n < 1 || n > PC_HISTORY_MAX)
            s_sys (self, win, L_ERR, "usage: /history N (1-%d) in a room window", PC_HISTORY_MAX);
        else
            s_history (self, win, 0, n, R_HISTORY, -1);     //  -1: say how many came
    }
    else
    if (streq (cmd, "/fingerprint") || streq (cmd, "/trust")) {
        char user [PC_NAME_MAX + 2];
        snprintf (user, sizeof (user), "%s", arg && *arg? (*arg == '@'? arg + 1: arg):
                                            win->type == W_DM? win->target: "");
        pc_name_fold (user);
        if (!pc_name_valid (user))
            s_sys (self, win, L_ERR, "usage: %s USER", cmd);
        else
            s_job_add (self, streq (cmd, "/trust")? J_TRUST: J_FINGERPRINT, user, user, NULL,
                       NULL, 0, 0, false);
    }
    else
    if (streq (cmd, "/upload") || streq (cmd, "/files") || streq (cmd, "/download"))
        s_xfer_command (self, win, cmd, line + strlen (cmd));
    else
    if (streq (cmd, "/set")) {
        bool on = rest && streq (rest, "on");
        bool off = rest && streq (rest, "off");
        if (arg && streq (arg, "bell") && (on || off)) {
            self->bell = on;
            s_conf_save (self);
            s_sys (self, win, L_SYS, "bell %s", on? "on": "off");
        }
        else
        if (arg && (streq (arg, "colors") || streq (arg, "colours")) && (on || off)) {
            self->colours = on;
            s_conf_save (self);
            s_sys (self, win, L_SYS, "colors %s", on? "on": "off");
        }
        else
            s_sys (self, win, L_ERR, "usage: /set bell on|off, /set colors on|off");
    }
    else
    if (streq (cmd, "/help")) {
        s_sys (self, win, L_SYS, "commands:");
        for (size_t i = 0; s_help [i]; i++)
            s_sys (self, win, L_SYS, "  %s", s_help [i]);
    }
    else
    if (streq (cmd, "/quit") || streq (cmd, "/exit"))
        self->quit = true;
    else
        s_sys (self, win, L_ERR, "unknown command %.40s: /help lists them", cmd);
    free (copy);
}

static void
s_submit (ui_t *self)
{
    size_t len;
    const wchar_t *wide = client_ui_input_text (self->input, &len);
    win_t *win = s_current (self);
    if (client_ui_input_overflow (self->input)) {
        s_sys (self, win, L_ERR, "the input holds at most %d characters: %zu were dropped, nothing sent",
               INPUT_MAX, client_ui_input_overflow (self->input));
        client_ui_input_clear (self->input);
        return;
    }
    char *text = client_ui_text_encode (wide, len);
    size_t bytes = strlen (text);
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
            s_sys (self, win, L_ERR, "the message is %zu bytes; the limit is %d: not sent "
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
    s_expand_home (*shown? shown: ".", dir, sizeof (dir));
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
        win_t *win = s_current (self);
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
            if (strncmp (name, prefix, n) == 0 && !s_win_find (self, W_ROOM, self->known_rooms [i]))
                zlistx_add_end (out, name);
            free (name);
        }
        return;
    }
    win_t *win = s_current (self);
    for (size_t i = 0; i < win->nmembers; i++)
        if (strncasecmp (win->members [i], prefix, n) == 0)
            zlistx_add_end (out, win->members [i]);
    for (size_t i = 0; i < self->nwins; i++)
        if (self->wins [i]->type == W_DM && strncasecmp (self->wins [i]->target, prefix, n) == 0)
            zlistx_add_end (out, self->wins [i]->target);
}

static void
s_complete (ui_t *self)
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

//  --------------------------------------------------------------------------
//  Keys

static int
s_read_key (ui_t *self, wint_t *key)
{
    if (self->pushback_type) {
        int type = self->pushback_type;
        *key = self->pushback;
        self->pushback_type = 0;
        return type;
    }
    return get_wch (key);
}

static void
s_scroll (ui_t *self, int pages)
{
    win_t *win = s_current (self);
    int width = s_pane_width ();
    int page = LINES - 4 > 1? LINES - 4: 1;
    size_t total = 0;
    for (size_t i = 0; i < win->nlines; i++)
        total += s_line_rows (win->lines [i], width);
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
                    s_history (self, win, since, limit, R_OLDER, 0);
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
    if (self->ask_register && type == OK) {
        self->ask_register = false;
        if (key == 'y' || key == 'Y') {
            snprintf (self->form_msg, sizeof (self->form_msg), "Creating %s...", self->user);
            self->registering = true;
            s_connect (self, true);
        }
        else
            self->form_msg [0] = 0;
        return;
    }
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
    if (key == 3 || key == 4)
        self->quit = true;
    else
    if (key == 127 || key == 8)
        client_ui_input_backspace (field);
    else
    if (key == 21)
        client_ui_input_kill_head (field);
    else
    if (key == '\r' || key == '\n') {
        if (self->focus < 2) {
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
            snprintf (self->form_msg, sizeof (self->form_msg), "Signing in to %s...", server);
            s_connect (self, false);
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
            case KEY_ENTER: s_submit (self); break;
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
        case 14: s_switch (self, (self->current + 1) % self->nwins); break;                 //  Ctrl-N
        case 16: s_switch (self, (self->current + self->nwins - 1) % self->nwins); break;  //  Ctrl-P
        case 3: self->quit = true; break;                    //  Ctrl-C
        case '\t': s_complete (self); break;
        case 27: {                                          //  Alt-KEY arrives as ESC KEY
            wint_t next;
            int got = s_read_key (self, &next);
            if (got == OK && next >= '1' && next <= '9')
                s_switch (self, (size_t) (next - '1'));
            else
            if (got == OK && next == '0')
                s_switch (self, 9);
            break;
        }
        case '\r': case '\n': {
            //  More input already waiting right after Enter: a paste; the
            //  line break becomes part of the message.
            wint_t next;
            int got = s_read_key (self, &next);
            if (got != ERR) {
                self->pushback = next;
                self->pushback_type = got;
                client_ui_input_insert (in, L'\n');
            }
            else
                s_submit (self);
            break;
        }
        default:
            if (key >= 32 && key != 127)
                client_ui_input_insert (in, (wchar_t) key);
            break;
    }
}

static void
s_keys (ui_t *self)
{
    wint_t key;
    int type;
    while ((type = s_read_key (self, &key)) != ERR) {
        if (type == KEY_CODE_YES && key == KEY_RESIZE)
            continue;                       //  redrawn after the loop
        if (self->mode == M_FORM)
            s_key_form (self, type, key);
        else
            s_key_chat (self, type, key);
        if (self->quit)
            break;
    }
}

//  --------------------------------------------------------------------------
//  Drawing

static attr_t
s_colour (ui_t *self, int pair)
{
    return self->has_colours && self->colours? COLOR_PAIR (pair): 0;
}

//  Draws text [from, to) at (y, x), unprintable characters as U+FFFD.
static void
s_put (int y, int x, const wchar_t *text, size_t from, size_t to, attr_t attr)
{
    if (to <= from)
        return;
    wchar_t buf [256];
    attron (attr);
    move (y, x);
    while (from < to) {
        size_t n = 0;
        while (from < to && n < 255) {
            wchar_t c = text [from++];
            buf [n++] = c == '\n'? L' ': wcwidth (c) < 0? (wchar_t) 0xFFFD: c;
        }
        buf [n] = 0;
        addnwstr (buf, (int) n);
    }
    attroff (attr);
}

static void
s_put_utf8 (int y, int x, const char *utf8, int width, attr_t attr)
{
    size_t len;
    wchar_t *wide = client_ui_text_decode (utf8, &len);
    size_t n = 0;
    int used = 0;
    while (n < len && used + client_ui_text_cwidth (wide [n]) <= width)
        used += client_ui_text_cwidth (wide [n++]);
    s_put (y, x, wide, 0, n, attr);
    free (wide);
}

static void
s_draw_line_row (ui_t *self, line_t *line, client_ui_row_t row, int y, int x)
{
    attr_t body = A_NORMAL;
    if (line->kind == L_SYS)
        body = s_colour (self, P_SYS);
    else
    if (line->kind == L_ERR)
        body = s_colour (self, P_ERR) | A_BOLD;
    else
    if (line->own)
        body = A_BOLD;
    if (line->pending)
        body = A_DIM;
    if (line->failed)
        body = s_colour (self, P_ERR);
    attr_t nick = s_colour (self, s_nick_pair (line->from)) | A_BOLD;
    size_t cuts [4] = { line->time_end, line->nick_start, line->nick_end, line->len };
    attr_t attrs [4] = { A_DIM, body, nick, body };
    size_t at = row.start;
    int cx = x;
    for (int s = 0; s < 4 && at < row.end; s++) {
        size_t stop = cuts [s] < row.end? cuts [s]: row.end;
        if (stop > at) {
            s_put (y, cx, line->text, at, stop, attrs [s]);
            cx += client_ui_text_width (line->text + at, stop - at);
            at = stop;
        }
    }
}

static void
s_draw_pane (ui_t *self, int x, int width, int height)
{
    win_t *win = s_current (self);
    size_t skip = win->scroll;
    int y = height - 1;
    for (size_t i = win->nlines; i-- > 0 && y >= 0;) {
        line_t *line = win->lines [i];
        size_t n = s_line_rows (line, width);
        client_ui_row_t *rows = (client_ui_row_t *) calloc (n, sizeof (client_ui_row_t));
        client_ui_text_wrap (line->text, line->len, width, line->indent, rows, n);
        int indent = client_ui_text_indent (width, line->indent);
        for (size_t r = n; r-- > 0 && y >= 0;) {
            if (skip) {
                skip--;
                continue;
            }
            s_draw_line_row (self, line, rows [r], y, x + (r? indent: 0));
            y--;
        }
        free (rows);
    }
    if (skip)                               //  scrolled past the top
        win->scroll -= skip;
}

static void
s_draw_sidebar (ui_t *self, int width, int height)
{
    for (size_t i = 0; i < self->nwins && (int) i < height; i++) {
        win_t *win = self->wins [i];
        char count [16] = "";
        if (win->unread)
            snprintf (count, sizeof (count), "%d%s", win->unread > 999? 999: win->unread,
                      win->mention? "!": "");
        else
        if (win->mention)
            snprintf (count, sizeof (count), "!");
        char label [80];
        snprintf (label, sizeof (label), "%zu %s", i + 1, win->title);
        int room_for_label = width - (int) strlen (count) - 2;
        attr_t attr = i == self->current? (s_colour (self, P_SIDE_CUR) | A_REVERSE | A_BOLD): A_NORMAL;
        if (i != self->current && win->mention)
            attr = s_colour (self, P_MENTION) | A_BOLD;
        else
        if (i != self->current && win->unread)
            attr = A_BOLD;
        move ((int) i, 0);
        attron (attr);
        for (int c = 0; c < width; c++)
            addch (' ');
        mvaddnstr ((int) i, 1, label, room_for_label > 0? room_for_label: 0);
        if (*count)
            mvaddstr ((int) i, width - (int) strlen (count) - 1, count);
        attroff (attr);
    }
}

static void
s_draw_status (ui_t *self, int y)
{
    char state [64];
    int64_t now = zclock_mono ();
    switch (self->state) {
        case C_ONLINE: snprintf (state, sizeof (state), "connected"); break;
        case C_CONNECTING:
            snprintf (state, sizeof (state), client_session_ever_online (self->session)?
                      "reconnecting..." : "connecting...");
            break;
        case C_WAIT:
            snprintf (state, sizeof (state), "reconnecting in %d s",
                      (int) ((client_session_retry_at (self->session) - now + 999) / 1000));
            break;
        case C_DEAD: snprintf (state, sizeof (state), "disconnected: %s", self->dead_reason); break;
        default: snprintf (state, sizeof (state), "offline"); break;
    }
    win_t *win = s_current (self);
    char info [256];
    int len = snprintf (info, sizeof (info), " [%s] %s | %s", state, self->user, win->title);
    if (win->type == W_ROOM && win->nmembers)
        len += snprintf (info + len, sizeof (info) - (size_t) len, " (%zu)", win->nmembers);
    size_t queued = client_session_queued (self->session);
    if (queued)
        len += snprintf (info + len, sizeof (info) - (size_t) len, " | %zu queued", queued);
    //  Transfers: the first running one with its progress, then how many more
    size_t running = 0;
    for (size_t i = 0; i < self->nxfers; i++) {
        xfer_t *xfer = &self->xfers [i];
        if (xfer->kind == CLIENT_UI_XFER_LIST)
            continue;
        if (running++ == 0 && len < 180) {
            uint64_t done = xfer->run? client_ui_xfer_done (xfer->run): 0;
            uint64_t total = xfer->run? client_ui_xfer_total (xfer->run): 0;
            bool hashing = xfer->run && client_ui_xfer_phase (xfer->run) == CLIENT_XFER_HASH;
            char name [32];
            size_t cut = strlen (xfer->name) < 24? strlen (xfer->name): 24;
            while (cut > 0 && ((unsigned char) xfer->name [cut] & 0xc0) == 0x80)
                cut--;                      //  never half a UTF-8 character
            snprintf (name, sizeof (name), "%.*s%s", (int) cut, xfer->name,
                      cut < strlen (xfer->name)? "~": "");
            client_conn_sanitize (name, name, sizeof (name));
            len += snprintf (info + len, sizeof (info) - (size_t) len, " | %s %s %d%%",
                             hashing? "checking": xfer->kind == CLIENT_UI_XFER_PUT? "up": "down",
                             name, total? (int) (done * 100 / total): 0);
        }
    }
    if (running > 1)
        len += snprintf (info + len, sizeof (info) - (size_t) len, " (+%zu)", running - 1);
    if (win->scroll)
        snprintf (info + len, sizeof (info) - (size_t) len, " | -- scrolled back, PgDn --");
    attr_t attr = self->has_colours && self->colours? COLOR_PAIR (P_BAR): A_REVERSE;
    if (self->state != C_ONLINE && self->has_colours && self->colours)
        attr = COLOR_PAIR (P_ERR) | A_REVERSE;
    attron (attr);
    move (y, 0);
    for (int c = 0; c < COLS; c++)
        addch (' ');
    mvaddnstr (y, 0, info, COLS);
    attroff (attr);
}

//  Draws an input field at row y from column x, width cells; returns the
//  cursor column. Keeps *scroll such that the cursor is visible.
static int
s_draw_input (client_ui_input_t *in, size_t *scroll, int y, int x, int width, bool hidden)
{
    size_t len;
    const wchar_t *text = client_ui_input_text (in, &len);
    size_t cursor = client_ui_input_cursor (in);
    wchar_t *shown = (wchar_t *) calloc (len + 1, sizeof (wchar_t));
    for (size_t i = 0; i < len; i++)
        shown [i] = hidden? L'*': text [i] == '\n'? (wchar_t) 0x21B5: text [i];
    if (*scroll > cursor)
        *scroll = cursor;
    while (client_ui_text_width (shown + *scroll, cursor - *scroll) > width - 1)
        (*scroll)++;
    size_t end = *scroll;
    int used = 0;
    while (end < len && used + client_ui_text_cwidth (shown [end]) <= width - 1)
        used += client_ui_text_cwidth (shown [end++]);
    s_put (y, x, shown, *scroll, end, A_NORMAL);
    int cx = x + client_ui_text_width (shown + *scroll, cursor - *scroll);
    free (shown);
    return cx;
}

static void
s_draw_form (ui_t *self)
{
    int w = COLS - 4 < 64? COLS - 4: 64;
    int x = (COLS - w) / 2;
    int y = LINES / 2 - 5 > 0? LINES / 2 - 5: 0;
    attron (A_BOLD);
    mvaddstr (y, x, "PyChat - sign in");
    attroff (A_BOLD);
    static const char *labels [3] = { "Server:   ", "User:     ", "Password: " };
    static size_t scrolls [3];
    int cursor_x = 0, cursor_y = 0;
    for (int f = 0; f < 3; f++) {
        int fy = y + 2 + f * 2;
        mvaddstr (fy, x, labels [f]);
        int fx = x + 10;
        attron (A_UNDERLINE);
        for (int c = 0; c < w - 10; c++)
            mvaddch (fy, fx + c, ' ');
        attroff (A_UNDERLINE);
        int cx = s_draw_input (self->fields [f], &scrolls [f], fy, fx, w - 10, f == 2);
        if (f == self->focus) {
            cursor_x = cx;
            cursor_y = fy;
        }
    }
    if (self->form_msg [0])
        s_put_utf8 (y + 8, x, self->form_msg, w, s_colour (self, P_ERR) | A_BOLD);
    s_put_utf8 (y + 10, x, "Tab/Enter: next field  Enter on password: sign in  Ctrl-C: quit",
                w, A_DIM);
    move (cursor_y, cursor_x);
}

static void
s_draw (ui_t *self)
{
    erase ();
    if (COLS < MIN_COLS || LINES < MIN_ROWS) {
        mvaddnstr (0, 0, "terminal too small", COLS);
        char need [40];
        snprintf (need, sizeof (need), "need %dx%d", MIN_COLS, MIN_ROWS);
        if (LINES > 1)
            mvaddnstr (1, 0, need, COLS);
        refresh ();
        return;
    }
    if (self->mode == M_FORM) {
        curs_set (1);
        s_draw_form (self);
        refresh ();
        return;
    }
    int side = COLS >= 80? 18: 12;
    int height = LINES - 2;
    s_draw_sidebar (self, side, height);
    mvvline (0, side, ACS_VLINE, height);
    s_draw_pane (self, side + 1, COLS - side - 1, height);
    s_draw_status (self, LINES - 2);
    win_t *win = s_current (self);
    char prompt [48];
    snprintf (prompt, sizeof (prompt), "%s> ", win->title);
    int px = (int) strlen (prompt);
    if (px > COLS / 3)
        px = COLS / 3;
    mvaddnstr (LINES - 1, 0, prompt, px);
    int cx = s_draw_input (self->input, &self->input_scroll, LINES - 1, px, COLS - px, false);
    move (LINES - 1, cx);
    curs_set (1);
    refresh ();
}

//  --------------------------------------------------------------------------
//  Setup and the loop

static void
s_init_screen (ui_t *self)
{
    initscr ();
    raw ();
    noecho ();
    nonl ();
    keypad (stdscr, TRUE);
    timeout (0);
    set_escdelay (25);
    self->has_colours = has_colors ();
    if (self->has_colours) {
        start_color ();
        use_default_colors ();
        static const short nick [NICK_COLOURS] = {
            COLOR_RED, COLOR_GREEN, COLOR_YELLOW, COLOR_BLUE, COLOR_MAGENTA, COLOR_CYAN
        };
        for (short i = 0; i < NICK_COLOURS; i++)
            init_pair ((short) (i + 1), nick [i], -1);
        init_pair (P_SYS, COLOR_CYAN, -1);
        init_pair (P_ERR, COLOR_RED, -1);
        init_pair (P_BAR, COLOR_WHITE, COLOR_BLUE);
        init_pair (P_SIDE_CUR, COLOR_WHITE, COLOR_BLUE);
        init_pair (P_MENTION, COLOR_YELLOW, -1);
    }
}

static void
s_field_set (client_ui_input_t *field, const char *utf8)
{
    size_t len;
    wchar_t *wide = client_ui_text_decode (utf8, &len);
    client_ui_input_clear (field);
    for (size_t i = 0; i < len; i++)
        client_ui_input_insert (field, wide [i]);
    free (wide);
}

static void
s_loop (ui_t *self)
{
    while (!self->quit && !client_conn_interrupted ()) {
        client_session_tick (self->session);
        s_draw (self);
        zmq_pollitem_t items [3 + XFERS_MAX];
        memset (items, 0, sizeof (items));
        items [0].fd = STDIN_FILENO;
        items [0].events = ZMQ_POLLIN;
        int count = 1;
        for (size_t i = 0; i < self->nxfers; i++)
            if (self->xfers [i].run) {
                items [count].socket = client_ui_xfer_socket (self->xfers [i].run);
                items [count++].events = ZMQ_POLLIN;
            }
        void *dealer = client_ui_net_dealer (self->net);
        void *sub = client_ui_net_sub (self->net);
        if (dealer) {
            items [count].socket = dealer;
            items [count++].events = ZMQ_POLLIN;
        }
        if (sub) {
            items [count].socket = sub;
            items [count++].events = ZMQ_POLLIN;
        }
        //  200 ms at most: the status line's countdown and PINGs stay on time.
        int timeout_ms = self->pushback_type? 0: 200;
        zmq_poll (items, count, timeout_ms);  //  EINTR (SIGWINCH) just loops
        s_keys (self);
        client_session_input (self->session);
        s_xfer_poll (self);
    }
}

int
client_ui_run (client_opts_t *opts)
{
    setlocale (LC_ALL, "");
    if (!streq (nl_langinfo (CODESET), "UTF-8"))
        setlocale (LC_CTYPE, "C.UTF-8");    //  wide characters need a UTF-8 locale
    ui_t *self = (ui_t *) zmalloc (sizeof (ui_t));
    assert (self);
    self->opts = opts;
    self->net = client_ui_net_new ();
    client_session_events_t events = {
        .state = s_on_state, .login = s_on_login, .join_failed = s_on_join_failed,
        .message = s_on_message, .lost = s_on_lost, .sent = s_on_sent, .reply = s_on_reply,
        .fanout = s_on_fanout, .ready = s_on_ready
    };
    self->session = client_session_new (&client_ui_net_transport, self->net, &events, self);
    self->exit_code = PC_EXIT_OK;
    if (opts->user)
        snprintf (self->user, sizeof (self->user), "%s", opts->user);
    s_conf_load (self);
    snprintf (self->server, sizeof (self->server), "%s", opts->server);
    self->input = client_ui_input_new (INPUT_MAX);
    for (int f = 0; f < 3; f++)
        self->fields [f] = client_ui_input_new (f == 2? PC_SECRET_MAX: 512);
    s_field_set (self->fields [0], self->server);
    s_field_set (self->fields [1], self->user);
    self->focus = self->user [0]? 2: 1;
    s_win_new (self, W_STATUS, "status");
    snprintf (self->wins [0]->title, sizeof (self->wins [0]->title), "status");
    s_sys (self, self->wins [0], L_SYS, "PyChat: /join ROOM to start, /help for the commands");

    //  Before the screen: client_dm reports a problem on stderr.
    self->dm_ready = client_dm_device_load (opts->home, &self->dm_keys) == 0;
    const char *password = getenv ("PYCHAT_PASSWORD");
    s_init_screen (self);
    if (self->user [0] && opts->user && password && *password && strlen (password) <= PC_SECRET_MAX) {
        snprintf (self->password, sizeof (self->password), "%s", password);
        self->mode = M_CHAT;
        client_session_set_persistent (self->session, true);
        s_connect (self, false);
    }
    else
        self->mode = M_FORM;
    s_loop (self);

    if (self->state == C_ONLINE) {
        //  Best effort LOGOUT, at most 300 ms: the broker frees the session.
        s_simple (self, "LOGOUT", NULL, NULL, NULL, R_LOGOUT, NULL, 0);
        int64_t deadline = zclock_mono () + 300;
        while (zclock_mono () < deadline && !self->logged_out) {
            zmq_pollitem_t item = { client_ui_net_dealer (self->net), 0, ZMQ_POLLIN, 0 };
            if (zmq_poll (&item, 1, 50) > 0)
                client_session_input (self->session);
        }
    }
    endwin ();
    int rc = self->exit_code;
    memset (self->password, 0, sizeof (self->password));
    for (size_t i = 0; i < self->nwins; i++)
        s_win_destroy (&self->wins [i]);
    for (size_t i = 0; i < self->nknown; i++)
        free (self->known_rooms [i]);
    free (self->known_rooms);
    free (self->tab_prefix);
    for (size_t i = 0; i < self->njobs; i++)
        s_job_free (&self->jobs [i]);
    while (self->nxfers)                    //  stops the threads still running
        s_xfer_remove (self, &self->xfers [self->nxfers - 1]);
    client_dm_keys_clear (&self->dm_keys);
    client_ui_input_destroy (&self->input);
    for (int f = 0; f < 3; f++)
        client_ui_input_destroy (&self->fields [f]);
    client_session_destroy (&self->session);
    client_ui_net_destroy (&self->net);
    free (self);
    return rc;
}

void
client_ui_test (bool verbose)
{
    client_ui_text_test (verbose);
    client_ui_input_test (verbose);
    assert (s_nick_pair ("bob") == s_nick_pair ("bob"));
    assert (s_nick_pair ("bob") >= 1 && s_nick_pair ("bob") <= NICK_COLOURS);
}

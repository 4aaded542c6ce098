//  client_ui_core.h: what the files of the full-screen client share (not
//  for other modules): its state (ui_t), windows and lines, and the
//  functions one of its files offers the others, named ui_*.
#ifndef CLIENT_UI_CORE_H_INCLUDED
#define CLIENT_UI_CORE_H_INCLUDED

#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700           //  wcwidth, and the wide ncursesw API
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#define NCURSES_WIDECHAR 1
#include "client_ui.h"
#include "client_ui_input.h"
#include "client_net.h"
#include "client_ui_text.h"
#include "client_ui_xfer.h"
#include "client_conn.h"
#include "client_dm.h"
#include "client_seal.h"
#include "client_session.h"
#include "client_state.h"
#include "client_token.h"
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

//  Bracketed paste (xterm's mode 2004): the terminal wraps a paste in
//  ESC[200~ ... ESC[201~, which ncurses then reads as these two keys.
#define PASTE_ON            "\033[?2004h"
#define PASTE_OFF           "\033[?2004l"
#define KEY_PASTE_BEGIN     (KEY_MAX + 1)
#define KEY_PASTE_END       (KEY_MAX + 2)

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
    R_INBOX, R_FILES, R_SLOWMODE, R_DEVICES, R_DEVREVOKE,
    R_UNREAD, R_MARK, R_NOTIFY, R_MENTIONS, R_AWAY, R_TYPING, R_SEARCH
} req_kind_t;

typedef struct _ui_presence_t ui_presence_t;    //  client_ui_presence.c

//  A room's notification level (NOTIFY): what its count shows.
#define LEVEL_ALL           0
#define LEVEL_MENTIONS      1
#define LEVEL_NONE          2

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
    int64_t  ts;                    //  server time (ms), for a render again
    char    *quote;                 //  a reply: "<FROM> the line it replies to", else NULL
    char    *reactions;             //  "EMOJI USER\n" per reaction given, else NULL
    uint64_t reply_to;              //  a reply: the id of its message, else 0
    bool     edited;
    bool     deleted;
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
    int      level;                 //  LEVEL_*, from the server
    uint64_t marked;                //  the read marker as the server has it (or we sent)
    int64_t  mark_at;               //  when we last sent MARK (mono ms)
    bool     mark_due;              //  a MARK waits for MARK_EVERY_MS
    size_t   scroll;                //  rows scrolled back from the bottom
    char   **members;
    size_t   nmembers;
    char   **files;                 //  names of the last /files, for Tab
    size_t   nfiles;
} win_t;

//  A DM action waiting for devices (GETKEY): seal and send (the peer's and
//  our own), open a received box (the sender's), show the fingerprints, pin
//  the devices, start a private file transfer (data: the transfer's id).
//  user is the DM window's other party, from the sender of a box.
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
    char     about [16];            //  J_SEND: edit, delete, reply, react, unreact, or ""
    uint64_t ref;                   //  and the message it is about (our inbox's id)
} job_t;

#define JOBS_MAX            256
#define PEERS_MAX           128
#define PEER_FRESH_MS       30000       //  a device added or revoked reaches our sealing this late

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
    client_dm_devices_t peer_devices;   //  private: the meta is sealed for these
    client_dm_devices_t own_devices;    //  and these
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
    client_dm_devices_t peer_devices [PEERS_MAX];   //  looked up and checked this run
    int64_t      peer_fetched [PEERS_MAX];          //  when (ms): sealing looks up again after PEER_FRESH_MS
    size_t       npeers;
    int64_t      started;           //  when this run began (ms): our own copies since are shown already
    xfer_t       xfers [XFERS_MAX];
    size_t       nxfers;
    int          next_xfer;
    uint64_t     inbox_last;
    client_net_t *net;
    client_session_t *session;
    mode_t_      mode;
    conn_state_t state;
    bool         logged_out;        //  LOGOUT answered
    bool         logout_ok;         //  ... with OK
    bool         revoke;            //  /logout: LOGOUT without keep, the token forgotten
    bool         resuming;          //  logging in with the saved token (no form yet)
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
    int          pushback_type;     //  OK or KEY_CODE_YES (OK is 0)
    bool         has_pushback;
    bool         pasting;           //  between ESC[200~ and ESC[201~
    size_t       tab_from;          //  Tab cycling state
    size_t       tab_index;
    wchar_t     *tab_prefix;
    //  login form
    client_ui_input_t *fields [3];  //  server, user, password
    int          focus;
    char         form_msg [256];
    bool         busy;
    bool         rooms_restored;    //  the rooms of the last run were joined
    int64_t      held_said;         //  when "held back" was last shown (ms)
    ui_presence_t *presence;        //  who is away, who types (client_ui_presence)
} ui_t;

//  client_ui_search.c: /search, and SEARCH's reply
void ui_cmd_search (ui_t *self, win_t *win, const char *words);
void ui_on_search (ui_t *self, win_t *win, const char *room, pc_msg_t *reply, const char *error);

//  client_ui.c
void ui_conf_save (ui_t *self);
int ui_request (ui_t *self, pc_msg_t *request, req_kind_t kind, const char *arg, long n);
int ui_simple (ui_t *self, const char *command, const char *f1, const char *f2, const char *f3, req_kind_t kind, const char *arg, long n);
void ui_history (ui_t *self, win_t *win, uint64_t since, long limit, req_kind_t kind, long n);
void ui_connect (ui_t *self, bool register_first);
void ui_rooms_save (ui_t *self);
void ui_rooms_restore (ui_t *self);

//  client_ui_win.c
int ui_nick_pair (const char *name);
void ui_line_destroy (line_t **line_p);
size_t ui_append (wchar_t **buf, size_t len, const char *utf8);
line_t * ui_line_new (line_kind_t kind, uint64_t id, const char *from, int64_t ts, const char *body);
size_t ui_line_rows (line_t *line, int width);
win_t * ui_win_new (ui_t *self, win_type_t type, const char *target);
void ui_win_members_free (win_t *win);
void ui_win_files_free (win_t *win);
void ui_win_destroy (win_t **win_p);
win_t * ui_win_find (ui_t *self, win_type_t type, const char *target);
size_t ui_win_index (ui_t *self, win_t *win);
win_t * ui_current (ui_t *self);
void ui_switch (ui_t *self, size_t index);
void ui_win_close (ui_t *self, size_t index);
int ui_pane_width (void);
void ui_win_insert (win_t *win, line_t *line, size_t at);
void ui_sys (ui_t *self, win_t *win, line_kind_t kind, const char *format, ...)
            __attribute__ ((format (printf, 4, 5)));
//  /edit, /delete, /reply, /react, /unreact: a SEND about message ref of
//  the current room (PROTOCOL.md, "Edits, deletes, replies and reactions").
void ui_say_about (ui_t *self, const char *kind, uint64_t ref, const char *text);
//  /thread ID: message ID of win and the replies to it, listed in win.
void ui_thread (ui_t *self, win_t *win, uint64_t ref);
void ui_add_message (ui_t *self, win_t *win, uint64_t id, const char *from, int64_t ts, const char *text, bool live);
line_t * ui_find_cid (ui_t *self, const char *cid, win_t **win_p);
void ui_member_seen (win_t *win, const char *name);
void ui_line_answered (line_t *line, const char *error, int64_t ts);

//  client_ui_dm.c
win_t * ui_dm_window (ui_t *self, const char *user);
void ui_job_free (job_t *job);
void ui_job_add (ui_t *self, job_kind_t kind, const char *user, const char *from, const char *data, const char *cid, uint64_t id, int64_t ts, bool live);
void ui_on_getkey (ui_t *self, const char *user, pc_msg_t *reply);
//  /devices [revoke ID]: the account's DM devices, or revoke one.
void ui_devices_command (ui_t *self, win_t *win, const char *arg);
void ui_on_devices (ui_t *self, pc_msg_t *reply, bool revoke, const char *what);
//  Whether a DM box came from this very device during this run (its line
//  is shown already).
bool ui_dm_own_echo (ui_t *self, const char *from, const char *box, int64_t ts);
void ui_dm_say (ui_t *self, win_t *win, const char *text);
//  /edit, /delete, /reply, /react, /unreact in a DM window: a DM about
//  message ref (an id of our inbox), its text sealed as a DM's.
void ui_dm_about (ui_t *self, win_t *win, const char *kind, uint64_t ref, const char *text);

//  client_ui_share.c
xfer_t * ui_xfer_find (ui_t *self, int id);
void ui_xfer_remove (ui_t *self, xfer_t *xfer);
void ui_xfer_fail (ui_t *self, xfer_t *xfer, const char *why);
void ui_xfer_ask (ui_t *self, xfer_t *xfer);
void ui_xfer_keyed (ui_t *self, int id, const client_dm_devices_t *peer,
                    const client_dm_devices_t *own);
void ui_xfer_start (ui_t *self, xfer_t *xfer, pc_msg_t *reply);
void ui_xfer_poll (ui_t *self);
void ui_expand_home (const char *path, char *out, size_t size);
void ui_xfer_command (ui_t *self, win_t *win, const char *cmd, const char *args);

//  client_ui_session.c
void ui_on_login (void *arg, pc_msg_t *reply, bool again);
void ui_on_reply (void *arg, int kind_int, const char *what, long n, pc_msg_t *reply);
void ui_on_sent (void *arg, const char *cid, int code, const char *reason, uint64_t id, int64_t ts);
void ui_on_message (void *arg, const char *room, uint64_t id, const char *from, int64_t ts, const char *text, bool live);
void ui_on_lost (void *arg, const char *room, uint64_t first, uint64_t last);
void ui_on_held (void *arg, const char *cid, int64_t wait_ms, const char *reason);
void ui_on_join_failed (void *arg, const char *room, int code, const char *reason);
void ui_on_ready (void *arg);
void ui_on_state (void *arg, client_session_state_t state, const char *why);
void ui_on_fanout (void *arg, pc_msg_t *msg);
void ui_on_token (void *arg, const char *token, const char *sid);

//  client_ui_marks.c: read markers, server unread counts, levels, mentions
void ui_marks_refresh (ui_t *self);
void ui_marks_viewed (ui_t *self, win_t *win);
void ui_marks_tick (ui_t *self);
void ui_marks_on_reply (ui_t *self, int kind, const char *what, pc_msg_t *reply, const char *error);
bool ui_marks_on_fanout (ui_t *self, pc_msg_t *msg);
void ui_marks_command (ui_t *self, win_t *win, const char *cmd, const char *arg, const char *rest);

//  client_ui_cmd.c
void ui_submit (ui_t *self);
void ui_open_room (ui_t *self, const char *room, bool show);
void ui_complete (ui_t *self);

//  client_ui_presence.c: /away, PRESENCE and TYPING (PROTOCOL.md, "Presence
//  and typing")
ui_presence_t * ui_presence_new (void);
void ui_presence_destroy (ui_presence_t **self_p);
bool ui_presence_on_fanout (ui_t *self, pc_msg_t *msg);
void ui_presence_on_reply (ui_t *self, int kind, pc_msg_t *reply);
void ui_presence_seed (ui_t *self, const char *user, const char *state, const char *text);
//  user's last known state ("online", "away", "offline"), or NULL
const char * ui_presence_state (ui_t *self, const char *user);
bool ui_presence_typing (ui_t *self, win_t *win, char *out, size_t size);
void ui_presence_spoke (ui_t *self, const char *space, const char *from);
void ui_presence_typed (ui_t *self);
void ui_presence_away (ui_t *self, win_t *win, const char *text);

//  client_ui_keys.c
void ui_keys (ui_t *self);

//  client_ui_draw.c
void ui_draw (ui_t *self);

#endif

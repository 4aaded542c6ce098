//  console_ui.c: the dashboard. Everything is drawn from the last STATS
//  snapshot on every frame, clipped to the terminal's size, so a resize is
//  only a redraw and no size (not even 1x1) can make a write go off screen.
#define _DEFAULT_SOURCE 1             //  wcwidth, localtime_r, the wide curses calls
#define _XOPEN_SOURCE 700
#define NCURSES_WIDECHAR 1
#include "console_ui.h"

#include <curses.h>
#include <limits.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#ifndef streq
#define streq(a, b)     (strcmp ((a), (b)) == 0)
#endif

#define MIN_COLS        40
#define MIN_LINES       12
#define FILTER_MAX      64
#define LINE_MAX_CHARS  512

enum { PANE_ROOMS, PANE_USERS, PANE_EVENTS, PANE_ALERTS, PANES };
static const char *s_pane_names [PANES] = { "Rooms", "Users", "Events", "Alerts" };

enum { COLOR_ALERT = 1, COLOR_GOOD, COLOR_WARN, COLOR_TITLE };

//  What the status line is asking for, if anything
enum { PROMPT_NONE, PROMPT_BAN, PROMPT_UNBAN, PROMPT_KICK };

#define NO_ADMIN_KEY    "admin actions need the server's admin key " \
                        "(run the console on the server host)"

struct _console_ui_t {
    SCREEN         *screen;
    char           *endpoint;
    console_json_t *snapshot;       //  the last STATS, or NULL
    bool            reachable;
    char            status [160];
    char            notice [160];   //  one-off message, until the next key
    int             focus;
    int             scroll [PANES]; //  rows scrolled (events: back from the newest)
    char            filter [FILTER_MAX];
    bool            filtering;
    bool            help;
    bool            colors;
    bool            admin;          //  the admin key is readable
    int             selected [2];   //  Rooms, Users: the selected row (after the filter)
    int             prompt;         //  PROMPT_*
    char            target [64];    //  the user a ban or kick is about
    char            entry [FILTER_MAX];     //  unban: the user, kick: the room
    char            last_banned [64];
    console_ui_action_t action;     //  confirmed, not yet taken by console.c
    bool            action_ready;
};

console_ui_t *
console_ui_new (const char *endpoint)
{
    SCREEN *screen = newterm (NULL, stdout, stdin);
    if (!screen)
        return NULL;
    console_ui_t *self = (console_ui_t *) calloc (1, sizeof (console_ui_t));
    if (!self) {
        endwin ();
        delscreen (screen);
        return NULL;
    }
    self->screen = screen;
    self->endpoint = strdup (endpoint? endpoint: "");
    snprintf (self->status, sizeof (self->status), "connecting");
    cbreak ();
    noecho ();
    nonl ();
    keypad (stdscr, TRUE);
    nodelay (stdscr, TRUE);
    set_escdelay (50);
    curs_set (0);
    if (has_colors ()) {
        start_color ();
        use_default_colors ();
        init_pair (COLOR_ALERT, COLOR_WHITE, COLOR_RED);
        init_pair (COLOR_GOOD, COLOR_GREEN, -1);
        init_pair (COLOR_WARN, COLOR_YELLOW, -1);
        init_pair (COLOR_TITLE, COLOR_BLACK, COLOR_CYAN);
        self->colors = true;
    }
    return self;
}

void
console_ui_destroy (console_ui_t **self_p)
{
    if (*self_p) {
        console_ui_t *self = *self_p;
        endwin ();
        delscreen (self->screen);
        console_json_destroy (&self->snapshot);
        free (self->endpoint);
        free (self);
        *self_p = NULL;
    }
}

void
console_ui_set_snapshot (console_ui_t *self, console_json_t **snapshot_p)
{
    console_json_destroy (&self->snapshot);
    self->snapshot = *snapshot_p;
    *snapshot_p = NULL;
}

void
console_ui_set_admin (console_ui_t *self, bool available)
{
    self->admin = available;
}

bool
console_ui_take_action (console_ui_t *self, console_ui_action_t *action)
{
    if (!self->action_ready)
        return false;
    *action = self->action;
    self->action_ready = false;
    return true;
}

void
console_ui_notice (console_ui_t *self, const char *text)
{
    snprintf (self->notice, sizeof (self->notice), "%s", text? text: "");
}

void
console_ui_set_status (console_ui_t *self, bool reachable, const char *text)
{
    self->reachable = reachable;
    snprintf (self->status, sizeof (self->status), "%s", text? text: "");
}

//  --------------------------------------------------------------------------
//  Drawing primitives: every write is clipped to the screen

static attr_t
s_color (console_ui_t *self, int pair)
{
    return self->colors? (attr_t) COLOR_PAIR (pair): 0;
}

//  Writes UTF-8 text at (y, x), at most width columns, in attr. Characters
//  the locale cannot show, and control characters, become '?'.
//  Returns the columns used.
static int
s_text (int y, int x, int width, const char *text, attr_t attr)
{
    if (y < 0 || y >= LINES || x < 0 || x >= COLS || width <= 0 || !text)
        return 0;
    if (width > COLS - x)
        width = COLS - x;
    wchar_t line [LINE_MAX_CHARS];
    size_t count = 0;
    int used = 0;
    mbstate_t state;
    memset (&state, 0, sizeof (state));
    const char *cursor = text;
    size_t left = strlen (text);
    while (left && count < LINE_MAX_CHARS - 1) {
        wchar_t wc;
        size_t size = mbrtowc (&wc, cursor, left, &state);
        if (size == (size_t) -1 || size == (size_t) -2 || size == 0) {
            memset (&state, 0, sizeof (state));
            wc = L'?';
            size = 1;
        }
        int cols = wcwidth (wc);
        if (cols < 0 || wc == L'\t' || wc == L'\n') {
            wc = L'?';
            cols = 1;
        }
        if (used + cols > width)
            break;
        line [count++] = wc;
        used += cols;
        cursor += size;
        left -= size;
    }
    line [count] = 0;
    attron (attr);
    mvaddnwstr (y, x, line, (int) count);
    attroff (attr);
    return used;
}

static int
s_textf (int y, int x, int width, attr_t attr, const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));

static int
s_textf (int y, int x, int width, attr_t attr, const char *format, ...)
{
    char line [LINE_MAX_CHARS];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof (line), format, args);
    va_end (args);
    return s_text (y, x, width, line, attr);
}

//  A bar of width columns in attr (a title or status background).
static void
s_bar (int y, int x, int width, attr_t attr)
{
    if (y < 0 || y >= LINES || x < 0 || x >= COLS || width <= 0)
        return;
    if (width > COLS - x)
        width = COLS - x;
    attron (attr);
    mvhline (y, x, ' ', width);
    attroff (attr);
}

static double
s_num (console_json_t *object, const char *key)
{
    return console_json_number (console_json_get (object, key), 0);
}

static void
s_clock (int64_t unix_ms, char *out, size_t size)
{
    time_t seconds = (time_t) (unix_ms / 1000);
    struct tm tm;
    if (unix_ms <= 0 || !localtime_r (&seconds, &tm))
        snprintf (out, size, "--:--:--");
    else
        strftime (out, size, "%H:%M:%S", &tm);
}

static void
s_duration (int64_t seconds, char *out, size_t size)
{
    if (seconds < 0)
        snprintf (out, size, "-");
    else
    if (seconds < 3600)
        snprintf (out, size, "%dm%02ds", (int) (seconds / 60), (int) (seconds % 60));
    else
        snprintf (out, size, "%dh%02dm", (int) (seconds / 3600), (int) (seconds / 60 % 60));
}

static bool
s_matches (console_ui_t *self, const char *name)
{
    return !*self->filter || (name && strstr (name, self->filter));
}

//  Clamps a pane's scroll to what its rows can show; returns it.
static int
s_clamp (console_ui_t *self, int pane, int items, int rows)
{
    int most = items > rows? items - rows: 0;
    if (self->scroll [pane] > most)
        self->scroll [pane] = most;
    if (self->scroll [pane] < 0)
        self->scroll [pane] = 0;
    return self->scroll [pane];
}

//  Rooms and Users list names: the keys of "rooms", the strings of "online".
//  Anything else the network sent counts as no rows.
static size_t
s_items (console_ui_t *self, int pane)
{
    console_json_t *list = console_json_get (self->snapshot,
                                             pane == PANE_ROOMS? "rooms": "online");
    if (pane == PANE_ROOMS? !console_json_is_object (list): !console_json_is_array (list))
        return 0;
    return console_json_size (list);
}

static const char *
s_item (console_ui_t *self, int pane, size_t index)
{
    if (index >= s_items (self, pane))
        return NULL;
    console_json_t *list = console_json_get (self->snapshot,
                                             pane == PANE_ROOMS? "rooms": "online");
    return pane == PANE_ROOMS? console_json_key (list, index):
           console_json_string (console_json_at (list, index), NULL);
}

//  Rows the pane shows after the filter
static int
s_shown (console_ui_t *self, int pane)
{
    int shown = 0;
    for (size_t i = 0; i < s_items (self, pane); i++) {
        const char *name = s_item (self, pane, i);
        shown += name && s_matches (self, name);
    }
    return shown;
}

//  The selected name of Rooms or Users (the last row when the selection is
//  past the end), or NULL when the pane shows nothing.
static const char *
s_selected_name (console_ui_t *self, int pane)
{
    const char *last = NULL;
    int row = 0;
    for (size_t i = 0; i < s_items (self, pane); i++) {
        const char *name = s_item (self, pane, i);
        if (!name || !s_matches (self, name))
            continue;
        if (row++ == self->selected [pane])
            return name;
        last = name;
    }
    return last;
}

//  Clamps the selection to the rows, scrolls it into view; returns the scroll.
static int
s_follow (console_ui_t *self, int pane, int shown, int rows)
{
    if (rows < 1)
        rows = 1;
    int *selected = &self->selected [pane];
    if (*selected >= shown)
        *selected = shown - 1;
    if (*selected < 0)
        *selected = 0;
    if (*selected < self->scroll [pane])
        self->scroll [pane] = *selected;
    if (*selected >= self->scroll [pane] + rows)
        self->scroll [pane] = *selected - rows + 1;
    return s_clamp (self, pane, shown, rows);
}

//  The selected row: reversed in the focused pane, bold otherwise
static attr_t
s_row_attr (console_ui_t *self, int pane, int row)
{
    if (row != self->selected [pane])
        return 0;
    return pane == self->focus? A_REVERSE | A_BOLD: A_BOLD;
}

//  --------------------------------------------------------------------------
//  The parts of the screen

//  The last 60 s of message rate, one block character per second.
static void
s_sparkline (console_ui_t *self, int y, int x, int width, console_json_t *history)
{
    static const wchar_t blocks [] = L"\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588";
    static const char ascii [] = "_.-:=+*#";
    bool wide = MB_CUR_MAX > 1 && wcwidth (blocks [0]) == 1;
    size_t count = console_json_size (history);
    if (width <= 0 || y >= LINES || x >= COLS)
        return;
    if ((size_t) width > count)
        width = (int) count;
    if (width > COLS - x)
        width = COLS - x;
    double top = 0;
    for (size_t i = count - (size_t) width; i < count; i++) {
        double value = console_json_number (console_json_at (history, i), 0);
        if (value > top)
            top = value;
    }
    wchar_t line [128];
    int used = 0;
    for (size_t i = count - (size_t) width; i < count && used < 127; i++) {
        double value = console_json_number (console_json_at (history, i), 0);
        int level = value <= 0 || top <= 0? -1: (int) ((value * 8 - 1) / top);
        if (level > 7)
            level = 7;
        line [used++] = level < 0? L' ': wide? blocks [level]: (wchar_t) ascii [level];
    }
    line [used] = 0;
    attron (s_color (self, COLOR_GOOD));
    mvaddnwstr (y, x, line, used);
    attroff (s_color (self, COLOR_GOOD));
}

static int
s_service (console_ui_t *self, int y, int x, int width, const char *name, const char *state)
{
    int used = s_textf (y, x, width, 0, "%s ", name);
    attr_t attr = streq (state, "up")? s_color (self, COLOR_GOOD) | A_BOLD:
                  streq (state, "down")? s_color (self, COLOR_ALERT) | A_BOLD:
                  s_color (self, COLOR_WARN);
    used += s_text (y, x + used, width - used, state, attr);
    return used + s_text (y, x + used, width - used, "  ", 0);
}

static void
s_overview (console_ui_t *self, int width)
{
    console_json_t *stats = self->snapshot;
    char uptime [32];
    s_duration (stats? (int64_t) s_num (stats, "uptime_s"): -1, uptime, sizeof (uptime));
    s_bar (0, 0, width, s_color (self, COLOR_TITLE) | A_REVERSE * !self->colors);
    int used = s_textf (0, 0, width, s_color (self, COLOR_TITLE) | A_BOLD
                        | A_REVERSE * !self->colors,
                        " PyChat console  %s  monitor up %s  ", self->endpoint, uptime);
    s_text (0, used, width - used, self->status,
            (self->reachable? s_color (self, COLOR_TITLE): s_color (self, COLOR_ALERT))
            | A_BOLD | A_REVERSE * !self->colors);
    if (!stats) {
        s_text (2, 1, width - 1, "waiting for the first statistics from the monitor...", A_DIM);
        return;
    }
    used = s_textf (1, 1, width - 1, A_BOLD, "Messages %.0f",
                    s_num (stats, "messages_total"));
    used += s_textf (1, 1 + used, width - 1 - used, 0,
                     "   rate %.1f/s  1m %.2f/s  15m %.2f/s   ",
                     s_num (stats, "rate_1s"), s_num (stats, "rate_1m"),
                     s_num (stats, "rate_15m"));
    s_sparkline (self, 1, 1 + used, width - 2 - used, console_json_get (stats, "rate_history"));

    double failures = s_num (stats, "login_failures_1m");
    used = s_textf (2, 1, width - 1, A_BOLD, "Online %.0f", s_num (stats, "users_online"));
    used += s_text (2, 1 + used, width - 1 - used, "   Failed logins/min ", 0);
    used += s_textf (2, 1 + used, width - 1 - used,
                     failures > 0? s_color (self, COLOR_WARN) | A_BOLD: 0, "%.0f", failures);
    s_textf (2, 1 + used, width - 1 - used, 0,
             " (total %.0f)   DMs %.0f   Rejected %.0f   Malformed %.0f",
             s_num (stats, "login_failures_total"), s_num (stats, "dms_total"),
             s_num (stats, "rejects_total"), s_num (stats, "malformed_total"));

    console_json_t *broker = console_json_get (stats, "broker");
    bool broker_up = console_json_number (console_json_get (stats, "broker_up"), 0) != 0;
    used = 1 + s_service (self, 3, 1, width - 1, "Broker", broker_up? "up": "down");
    if (console_json_is_object (broker)) {
        char broker_uptime [32];
        s_duration ((int64_t) s_num (broker, "uptime_s"), broker_uptime, sizeof (broker_uptime));
        used += s_textf (3, used, width - used, A_DIM, "(%.0f sessions, %.0f journal, up %s)  ",
                         s_num (broker, "sessions"), s_num (broker, "journal"), broker_uptime);
    }
    used += s_service (self, 3, used, width - used, "Authsvc",
                       console_json_string (console_json_get (stats, "authsvc"), "unknown"));
    used += s_service (self, 3, used, width - used, "Redis",
                       console_json_string (console_json_get (stats, "redis"), "unknown"));
    used += s_textf (3, used, width - used, A_DIM, "Monitor RSS %.1f MiB  ",
                     s_num (stats, "memory_rss_bytes") / 1048576.0);
    console_json_t *files = console_json_get (stats, "files");
    if (console_json_is_object (files)) {
        used += s_service (self, 3, used, width - used, "Files",
                           console_json_string (console_json_get (files, "filesvc"), "unknown"));
        s_textf (3, used, width - used, A_DIM, "(%.0f active, %.0f up / %.0f down, %.1f / %.1f MiB)",
                 s_num (files, "active_uploads") + s_num (files, "active_downloads"),
                 s_num (files, "uploads_total"), s_num (files, "downloads_total"),
                 s_num (files, "bytes_in_total") / 1048576.0,
                 s_num (files, "bytes_out_total") / 1048576.0);
    }

    console_json_t *alerts = console_json_get (stats, "alerts");
    size_t count = console_json_size (alerts);
    if (count == 0)
        s_text (4, 1, width - 1, "No active alerts", s_color (self, COLOR_GOOD));
    else {
        console_json_t *first = console_json_at (alerts, 0);
        s_bar (4, 0, width, s_color (self, COLOR_ALERT) | A_REVERSE * !self->colors);
        s_textf (4, 1, width - 1, s_color (self, COLOR_ALERT) | A_BOLD | A_REVERSE * !self->colors,
                 "ALERT %s: %s%s", console_json_string (console_json_get (first, "kind"), "?"),
                 console_json_string (console_json_get (first, "detail"), ""),
                 count > 1? "  (more in pane 4)": "");
    }
}

//  A pane's title row; the focused pane is reversed.
static void
s_pane_title (console_ui_t *self, int pane, int y, int x, int width, const char *extra)
{
    attr_t attr = pane == self->focus? A_REVERSE | A_BOLD: A_BOLD | A_UNDERLINE;
    s_bar (y, x, width, attr);
    s_textf (y, x, width, attr, " %d %s %s", pane + 1, s_pane_names [pane], extra? extra: "");
}

static void
s_rooms (console_ui_t *self, int top, int x, int width, int height)
{
    console_json_t *rooms = console_json_get (self->snapshot, "rooms");
    int shown = s_shown (self, PANE_ROOMS);
    char extra [FILTER_MAX + 32];
    snprintf (extra, sizeof (extra), "(%d)%s%s", shown, *self->filter? " filter: ": "",
              self->filter);
    s_pane_title (self, PANE_ROOMS, top, x, width, extra);
    if (height < 3)
        return;
    int name_width = width - 30 > 8? width - 30: 8;
    s_textf (top + 1, x, width, A_DIM, " %-*s %7s %9s %8s", name_width - 1, "name",
             "members", "messages", "msgs/s");
    int rows = height - 2;
    int skip = s_follow (self, PANE_ROOMS, shown, rows);
    int row = skip;
    int y = top + 2;
    //  One pass over the rooms (an object is not indexed)
    for (void *iter = json_object_iter (rooms); iter && y < top + height;
         iter = json_object_iter_next (rooms, iter)) {
        const char *name = json_object_iter_key (iter);
        if (!s_matches (self, name) || skip-- > 0)
            continue;
        console_json_t *room = json_object_iter_value (iter);
        bool hot = false;
        console_json_t *alerts = console_json_get (self->snapshot, "alerts");
        for (size_t a = 0; a < console_json_size (alerts); a++)
            if (streq (console_json_string (console_json_get (console_json_at (alerts, a),
                       "subject"), ""), name))
                hot = true;
        attr_t attr = (hot? s_color (self, COLOR_ALERT) | A_BOLD: 0)
                    | s_row_attr (self, PANE_ROOMS, row++);
        if (attr & A_REVERSE)
            s_bar (y, x, width, attr);
        int used = s_textf (y, x, name_width, attr, " %s", name);
        (void) used;
        s_textf (y, x + name_width, width - name_width, attr, " %7.0f %9.0f %8.2f",
                 s_num (room, "members"), s_num (room, "messages"), s_num (room, "rate_1m"));
        y++;
    }
}

static void
s_users (console_ui_t *self, int top, int x, int width, int height)
{
    int shown = s_shown (self, PANE_USERS);
    char extra [48];
    snprintf (extra, sizeof (extra), "online (%.0f)",
              s_num (self->snapshot, "users_online"));
    s_pane_title (self, PANE_USERS, top, x, width, extra);
    int rows = height - 1;
    int skip = s_follow (self, PANE_USERS, shown, rows);
    int row = skip;
    int y = top + 1;
    for (size_t i = 0; i < s_items (self, PANE_USERS) && y < top + height; i++) {
        const char *name = s_item (self, PANE_USERS, i);
        if (!name || !s_matches (self, name) || skip-- > 0)
            continue;
        attr_t attr = s_row_attr (self, PANE_USERS, row++);
        if (attr & A_REVERSE)
            s_bar (y, x, width, attr);
        s_textf (y++, x, width, attr, " %s", name);
    }
}

static void
s_events (console_ui_t *self, int top, int x, int width, int height)
{
    console_json_t *events = console_json_get (self->snapshot, "events");
    int count = (int) console_json_size (events);
    s_pane_title (self, PANE_EVENTS, top, x, width,
                  self->scroll [PANE_EVENTS]? "(scrolled back)": "(newest last)");
    int rows = height - 1;
    int back = s_clamp (self, PANE_EVENTS, count, rows);
    int first = count - rows - back;
    if (first < 0)
        first = 0;
    int y = top + 1;
    for (int i = first; i < count - back && y < top + height; i++) {
        console_json_t *event = console_json_at (events, (size_t) i);
        const char *kind = console_json_string (console_json_get (event, "kind"), "?");
        char clock [16];
        s_clock ((int64_t) s_num (event, "ts"), clock, sizeof (clock));
        attr_t attr = streq (kind, "alert")? s_color (self, COLOR_ALERT) | A_BOLD:
                      streq (kind, "login-failed") || streq (kind, "reject")
                      || streq (kind, "auth-down")? s_color (self, COLOR_WARN): 0;
        s_textf (y++, x, width, attr, " %s %-13s %s", clock, kind,
                 console_json_string (console_json_get (event, "text"), ""));
    }
}

static void
s_alerts (console_ui_t *self, int top, int x, int width, int height)
{
    console_json_t *alerts = console_json_get (self->snapshot, "alerts");
    int count = (int) console_json_size (alerts);
    char extra [32];
    snprintf (extra, sizeof (extra), "(%d active)", count);
    s_pane_title (self, PANE_ALERTS, top, x, width, extra);
    console_json_t *totals = console_json_get (self->snapshot, "alerts_total");
    if (!console_json_is_object (totals))
        totals = NULL;              //  its keys are listed below
    int items = count + (int) console_json_size (totals) + 1;
    int skip = s_clamp (self, PANE_ALERTS, items, height - 1);
    int y = top + 1;
    for (int i = 0; i < items && y < top + height; i++) {
        if (skip-- > 0)
            continue;
        if (i < count) {
            console_json_t *alert = console_json_at (alerts, (size_t) i);
            char clock [16];
            s_clock ((int64_t) s_num (alert, "since_ms"), clock, sizeof (clock));
            s_textf (y++, x, width, s_color (self, COLOR_ALERT) | A_BOLD
                     | A_REVERSE * !self->colors, " %s since %s: %s",
                     console_json_string (console_json_get (alert, "kind"), "?"), clock,
                     console_json_string (console_json_get (alert, "detail"), ""));
        }
        else
        if (i == count)
            s_text (y++, x, width, " raised so far:", A_DIM);
        else {
            size_t index = (size_t) (i - count - 1);
            s_textf (y++, x, width, A_DIM, "   %-16s %.0f", console_json_key (totals, index),
                     console_json_number (console_json_at (totals, index), 0));
        }
    }
}

static void
s_status_line (console_ui_t *self, int y, int width)
{
    s_bar (y, 0, width, A_REVERSE);
    if (self->filtering)
        s_textf (y, 0, width, A_REVERSE | A_BOLD,
                 " Filter rooms and users: %s_   (Enter keep, Esc clear)", self->filter);
    else
    if (self->prompt == PROMPT_BAN)
        s_textf (y, 0, width, A_REVERSE | A_BOLD, " Ban %s? (y/n)", self->target);
    else
    if (self->prompt == PROMPT_UNBAN)
        s_textf (y, 0, width, A_REVERSE | A_BOLD,
                 " Unban user: %s_   (Enter unban, Esc cancel)", self->entry);
    else
    if (self->prompt == PROMPT_KICK)
        s_textf (y, 0, width, A_REVERSE | A_BOLD,
                 " Kick %s from room: %s_   (Enter kick, Esc cancel)", self->target, self->entry);
    else
    if (*self->notice)
        s_textf (y, 0, width, A_REVERSE | A_BOLD, " %s", self->notice);
    else
    if (!self->reachable)
        s_textf (y, 0, width, s_color (self, COLOR_ALERT) | A_BOLD | A_REVERSE * !self->colors,
                 " %s ", self->status);
    else
        s_text (y, 0, width, " Tab/1-4 pane  \u2191\u2193 PgUp PgDn scroll  / filter  "
                "? help  q quit", A_REVERSE);
}

//  A vertical separator: U+2502 where the locale has it, else '|'.
static void
s_vline (int y, int x, int rows)
{
    if (rows <= 0)
        return;
    cchar_t line;
    wchar_t glyph [2] = { MB_CUR_MAX > 1 && wcwidth (L'\u2502') == 1? L'\u2502': L'|', 0 };
    setcchar (&line, glyph, A_DIM, 0, NULL);
    mvvline_set (y, x, &line, rows);
}

static void
s_help (console_ui_t *self, int width)
{
    static const char *lines [] = {
        "PyChat console - keys",
        "",
        "  Tab, Shift-Tab   focus the next / previous pane",
        "  1 2 3 4          focus Rooms, Users, Events, Alerts",
        "  Up Down          select in Rooms and Users, scroll Events (older / newer) and Alerts",
        "  PgUp PgDn        scroll by a page; Home End: first / last",
        "  /                filter rooms and users by a substring (Esc clears)",
        "  ?                this help (any key closes it)",
        "  q                quit",
        "",
        "Admin actions (the console on the server host, with its admin key):",
        "  b                ban the user selected in Users (asks y/n)",
        "  u                unban a user (the selected one, or type the name)",
        "  k                kick the user selected in Users from a room (the one",
        "                   selected in Rooms, or type it)",
        "",
        "The statistics come from the monitor's STATS, asked about once a second.",
        NULL
    };
    for (int i = 0; lines [i]; i++)
        s_text (1 + i, 2, width - 2, lines [i], i == 0? A_BOLD: 0);
}

void
console_ui_draw (console_ui_t *self)
{
    erase ();
    int width = COLS, height = LINES;
    if (width < MIN_COLS || height < MIN_LINES) {
        s_text (0, 0, width, "terminal too small", A_BOLD);
        s_textf (1, 0, width, 0, "need %dx%d", MIN_COLS, MIN_LINES);
        refresh ();
        return;
    }
    s_overview (self, width);
    if (self->help)
        s_help (self, width);
    else {
        int top = 5, bottom = height - 1;
        int upper = (bottom - top) / 2;
        int left = width * 3 / 5;
        s_rooms (self, top, 0, left, upper);
        s_users (self, top, left + 1, width - left - 1, upper);
        int lower_left = width * 2 / 3;
        s_events (self, top + upper, 0, lower_left, bottom - top - upper);
        s_alerts (self, top + upper, lower_left + 1, width - lower_left - 1,
                  bottom - top - upper);
        s_vline (top + 1, left, upper - 1);
        s_vline (top + upper + 1, lower_left, bottom - top - upper - 1);
    }
    s_status_line (self, height - 1, width);
    refresh ();
}

//  --------------------------------------------------------------------------
//  Keys

static void
s_scroll (console_ui_t *self, int rows)
{
    if (self->focus == PANE_ROOMS || self->focus == PANE_USERS) {
        //  these move the selection; the draw scrolls it into view
        int *selected = &self->selected [self->focus];
        *selected = rows < -1000 || *selected + rows < 0? 0: *selected + rows;
        if (*selected > 1000000)
            *selected = 1000000;    //  the draw clamps it to the last row
        return;
    }
    //  Events count back from the newest: "up" means older, further back
    if (self->focus == PANE_EVENTS)
        self->scroll [PANE_EVENTS] -= rows;
    else
        self->scroll [self->focus] += rows;
    //  the next draw clamps it to the pane
}

//  A one-line editor on buffer (UTF-8): 1 on Enter, -1 on Esc, else 0.
static int
s_edit_key (char *buffer, size_t limit, int rc, wint_t key)
{
    size_t size = strlen (buffer);
    if (rc == KEY_CODE_YES) {
        if (key == KEY_BACKSPACE) {
            while (size && ((unsigned char) buffer [size - 1] & 0xC0) == 0x80)
                size--;
            if (size)
                size--;
            buffer [size] = 0;
        }
        return key == KEY_ENTER? 1: 0;
    }
    if (key == '\r' || key == '\n')
        return 1;
    if (key == 27)
        return -1;
    if (key == 127 || key == 8)
        return s_edit_key (buffer, limit, KEY_CODE_YES, KEY_BACKSPACE);
    if (key >= 32) {
        char bytes [MB_LEN_MAX];
        mbstate_t state;
        memset (&state, 0, sizeof (state));
        size_t count = wcrtomb (bytes, (wchar_t) key, &state);
        if (count != (size_t) -1 && size + count < limit) {
            memcpy (buffer + size, bytes, count);
            buffer [size + count] = 0;
        }
    }
    return 0;
}

static void
s_filter_key (console_ui_t *self, int rc, wint_t key)
{
    int done = s_edit_key (self->filter, sizeof (self->filter), rc, key);
    if (done == -1)
        self->filter [0] = 0;
    if (done)
        self->filtering = false;
    self->selected [PANE_ROOMS] = self->selected [PANE_USERS] = 0;
}

//  The operator confirmed: console.c takes it with console_ui_take_action
static void
s_act (console_ui_t *self, const char *command, const char *user, const char *room)
{
    snprintf (self->action.command, sizeof (self->action.command), "%s", command);
    snprintf (self->action.user, sizeof (self->action.user), "%s", user);
    snprintf (self->action.room, sizeof (self->action.room), "%s", room);
    self->action_ready = true;
    snprintf (self->notice, sizeof (self->notice), "%s %s%s%s: waiting for the broker",
              command, user, *room? " ": "", room);
}

//  b, u, k: open the prompt (the action goes only after y / Enter)
static void
s_admin_key (console_ui_t *self, wint_t key)
{
    if (!self->admin) {
        snprintf (self->notice, sizeof (self->notice), "%s", NO_ADMIN_KEY);
        return;
    }
    const char *user = self->focus == PANE_USERS? s_selected_name (self, PANE_USERS): NULL;
    if (key == 'u') {
        snprintf (self->entry, sizeof (self->entry), "%s", user? user: self->last_banned);
        self->prompt = PROMPT_UNBAN;
        return;
    }
    if (!user) {
        snprintf (self->notice, sizeof (self->notice),
                  "select a user in the Users pane (2) first");
        return;
    }
    snprintf (self->target, sizeof (self->target), "%s", user);
    if (key == 'b')
        self->prompt = PROMPT_BAN;
    else {
        const char *room = s_selected_name (self, PANE_ROOMS);
        snprintf (self->entry, sizeof (self->entry), "%s", room? room: "");
        self->prompt = PROMPT_KICK;
    }
}

static void
s_prompt_key (console_ui_t *self, int rc, wint_t key)
{
    if (self->prompt == PROMPT_BAN) {
        if (rc == OK && (key == 'y' || key == 'Y')) {
            s_act (self, "BAN", self->target, "");
            snprintf (self->last_banned, sizeof (self->last_banned), "%s", self->target);
        }
        else
            snprintf (self->notice, sizeof (self->notice), "ban of %s cancelled", self->target);
        self->prompt = PROMPT_NONE;
        return;
    }
    int done = s_edit_key (self->entry, sizeof (self->entry), rc, key);
    if (done == 0)
        return;
    if (done == 1 && *self->entry) {
        if (self->prompt == PROMPT_UNBAN)
            s_act (self, "UNBAN", self->entry, "");
        else
            s_act (self, "KICK", self->target, self->entry);
    }
    else
        snprintf (self->notice, sizeof (self->notice), "%s cancelled",
                  self->prompt == PROMPT_UNBAN? "unban": "kick");
    self->prompt = PROMPT_NONE;
}

int
console_ui_keys (console_ui_t *self)
{
    wint_t key;
    int rc;
    while ((rc = get_wch (&key)) != ERR) {
        if (rc == KEY_CODE_YES && key == KEY_RESIZE) {
            clearok (curscr, TRUE);         //  repaint everything at the new size
            continue;
        }
        self->notice [0] = 0;
        if (self->filtering) {
            s_filter_key (self, rc, key);
            continue;
        }
        if (self->prompt != PROMPT_NONE) {
            s_prompt_key (self, rc, key);
            continue;
        }
        if (self->help) {
            self->help = false;
            if (rc == OK && key == 'q')
                return 1;
            continue;
        }
        if (rc == KEY_CODE_YES)
            switch (key) {
                case KEY_UP:    s_scroll (self, -1); break;
                case KEY_DOWN:  s_scroll (self, 1); break;
                case KEY_PPAGE: s_scroll (self, -10); break;
                case KEY_NPAGE: s_scroll (self, 10); break;
                case KEY_HOME:  s_scroll (self, -100000); break;
                case KEY_END:   s_scroll (self, 100000); break;
                case KEY_BTAB:  self->focus = (self->focus + PANES - 1) % PANES; break;
                default: break;
            }
        else
        switch (key) {
            case 'q': case 'Q':
                return 1;
            case '\t':
                self->focus = (self->focus + 1) % PANES;
                break;
            case '1': case '2': case '3': case '4':
                self->focus = (int) (key - '1');
                break;
            case '/':
                self->filtering = true;
                break;
            case '?': case 'h':
                self->help = true;
                break;
            case 'b': case 'u': case 'k':
                s_admin_key (self, key);
                break;
            case 27:
                self->filter [0] = 0;
                break;
            default:
                break;
        }
    }
    return 0;
}

//  client_ui_draw.c: drawing the full-screen client with ncursesw: sidebar,
//  message pane, status line, input line, the login form.

#include "client_ui_core.h"


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
    attr_t nick = s_colour (self, ui_nick_pair (line->from)) | A_BOLD;
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
    win_t *win = ui_current (self);
    size_t skip = win->scroll;
    int y = height - 1;
    for (size_t i = win->nlines; i-- > 0 && y >= 0;) {
        line_t *line = win->lines [i];
        size_t n = ui_line_rows (line, width);
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
        //  A DM window without unread lines says when its peer is away or offline
        const char *state = win->type == W_DM? ui_presence_state (self, win->target): NULL;
        if (!*count && state && !streq (state, "online"))
            snprintf (count, sizeof (count), "%s", streq (state, "away")? "away": "off");
        char label [80];
        snprintf (label, sizeof (label), "%zu %s", i + 1, win->title);
        //  A label that fills its room keeps one blank before the count
        int room_for_label = width - (int) strlen (count) - (*count? 3: 2);
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
    win_t *win = ui_current (self);
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
    //  Who is typing here (until their message, or 5 s after their last notice)
    char typing [72];           //  so that info never overflows: len < 150 + 90
    if (len < 150 && ui_presence_typing (self, win, typing, sizeof (typing)))
        len += snprintf (info + len, sizeof (info) - (size_t) len, " | %s %s typing...", typing,
                         strchr (typing, ',')? "are": "is");
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
    s_put_utf8 (y + 11, x, "New here? Ctrl-R creates the account with this name and password",
                w, A_DIM);
    move (cursor_y, cursor_x);
}


void
ui_draw (ui_t *self)
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
    win_t *win = ui_current (self);
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

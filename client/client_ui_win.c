//  client_ui_win.c: lines and windows of the full-screen client: rendering a
//  line, windows in the sidebar, messages kept in id order, unread counts.

#include "client_ui_core.h"
#include "client_listen.h"


//  --------------------------------------------------------------------------
//  Lines and windows

int
ui_nick_pair (const char *name)
{
    uint32_t hash = 2166136261u;            //  FNV-1a: stable across runs
    for (const char *p = name; *p; p++)
        hash = (hash ^ (unsigned char) *p) * 16777619u;
    return (int) (hash % NICK_COLOURS) + 1;
}


void
ui_line_destroy (line_t **line_p)
{
    if (*line_p) {
        free ((*line_p)->body);
        free ((*line_p)->text);
        free ((*line_p)->quote);
        free ((*line_p)->reactions);
        free (*line_p);
        *line_p = NULL;
    }
}


//  Appends UTF-8 to a wide buffer (grown as needed); returns the new length.
size_t
ui_append (wchar_t **buf, size_t len, const char *utf8)
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


//  Appends "  [EMOJI N, ...]" for pairs ("EMOJI USER\n" each, unique):
//  the count of each emoji, in the order first given.
static size_t
s_append_reactions (wchar_t **text, size_t len, const char *pairs)
{
    len = ui_append (text, len, "  [");
    bool first = true;
    for (const char *pair = pairs; *pair; pair = strchr (pair, '\n') + 1) {
        size_t emoji = strcspn (pair, " ");
        bool earlier = false;
        size_t count = 0;
        for (const char *other = pairs; *other; other = strchr (other, '\n') + 1)
            if (strncmp (other, pair, emoji) == 0 && other [emoji] == ' ') {
                earlier |= other < pair;
                count++;
            }
        if (earlier)
            continue;
        char item [64];
        snprintf (item, sizeof (item), "%s%.*s %zu", first? "": ", ", (int) emoji, pair, count);
        len = ui_append (text, len, item);
        first = false;
    }
    return ui_append (text, len, "]");
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
    size_t len = ui_append (&line->text, 0, clock);
    len = ui_append (&line->text, len, " ");
    line->time_end = len;
    const char *body = line->body;
    if (line->kind == L_MSG && strncmp (body, "/me ", 4) == 0) {
        line->kind = L_ACTION;
    }
    if (line->kind == L_ACTION) {
        body += 4;
        len = ui_append (&line->text, len, "* ");
        line->nick_start = len;
        len = ui_append (&line->text, len, line->from);
        line->nick_end = len;
        len = ui_append (&line->text, len, " ");
    }
    else
    if (line->kind == L_MSG) {
        len = ui_append (&line->text, len, "<");
        line->nick_start = len;
        len = ui_append (&line->text, len, line->from);
        line->nick_end = len;
        len = ui_append (&line->text, len, "> ");
    }
    else {
        len = ui_append (&line->text, len, line->kind == L_ERR? "!!! ": "-!- ");
        line->nick_start = line->nick_end = len;
    }
    line->indent = client_ui_text_width (line->text, len);
    if (line->quote) {
        len = ui_append (&line->text, len, "(re ");
        len = ui_append (&line->text, len, line->quote);
        len = ui_append (&line->text, len, ") ");
    }
    len = ui_append (&line->text, len, line->deleted? "[deleted]": body);
    if (line->edited && !line->deleted)
        len = ui_append (&line->text, len, " (edited)");
    if (line->reactions && *line->reactions && !line->deleted)
        len = s_append_reactions (&line->text, len, line->reactions);
    line->len = len;
    line->cache_width = 0;
}


line_t *
ui_line_new (line_kind_t kind, uint64_t id, const char *from, int64_t ts, const char *body)
{
    line_t *line = (line_t *) zmalloc (sizeof (line_t));
    assert (line);
    line->kind = kind;
    line->id = id;
    snprintf (line->from, sizeof (line->from), "%s", from? from: "");
    line->body = strdup (body? body: "");
    assert (line->body);
    line->ts = ts;
    s_line_render (line, ts);
    return line;
}


//  The stored message ref of win (a line with that id), or NULL
static line_t *
s_line_of (win_t *win, uint64_t ref)
{
    for (size_t i = win->nlines; i-- > 0;)
        if (win->lines [i]->id == ref && win->lines [i]->kind != L_SYS
        &&  win->lines [i]->kind != L_ERR)
            return win->lines [i];
    return NULL;
}

//  An edit, delete or reaction: folded into the line of its message when
//  the window has it, else said in a line of its own.
static void
s_apply_event (ui_t *self, win_t *win, const char *from, const char *kind, uint64_t ref,
               const char *text)
{
    line_t *line = s_line_of (win, ref);
    if (!line) {
        if (streq (kind, "delete"))
            ui_sys (self, win, L_SYS, "%s deleted message %" PRIu64, from, ref);
        else
        if (streq (kind, "edit"))
            ui_sys (self, win, L_SYS, "%s edited message %" PRIu64 ": %s", from, ref, text);
        return;
    }
    if (streq (kind, "edit") && streq (from, line->from)) {
        free (line->body);
        line->body = strdup (text);
        line->edited = true;
    }
    else
    if (streq (kind, "delete"))
        line->deleted = true;
    else
    if (streq (kind, "react") || streq (kind, "unreact")) {
        char *pair = zsys_sprintf ("%s %s\n", text, from);
        const char *pairs = line->reactions? line->reactions: "";
        const char *had = strstr (pairs, pair);
        while (had && had != pairs && had [-1] != '\n')
            had = strstr (had + 1, pair);
        pc_buf_t out;
        pc_buf_init (&out);
        pc_buf_append (&out, pairs, had? (size_t) (had - pairs): strlen (pairs));
        if (had)
            pc_buf_append (&out, had + strlen (pair), strlen (had + strlen (pair)));
        if (streq (kind, "react"))
            pc_buf_append (&out, pair, strlen (pair));
        free (line->reactions);
        line->reactions = strdup (out.size? out.data: "");
        pc_buf_free (&out);
        free (pair);
    }
    s_line_render (line, line->ts);
}

//  "<FROM> TEXT" of message ref, cut to about 40 characters, for a reply
static char *
s_quote_of (win_t *win, uint64_t ref)
{
    line_t *line = s_line_of (win, ref);
    if (!line)
        return zsys_sprintf ("message %" PRIu64, ref);
    const char *body = line->deleted? "[deleted]": line->body;
    size_t cut = 0, chars = 0;
    while (body [cut] && body [cut] != '\n' && chars < 40) {
        cut++;
        while ((body [cut] & 0xc0) == 0x80)
            cut++;
        chars++;
    }
    return zsys_sprintf ("<%s> %.*s%s", line->from, (int) cut, body,
                         body [cut]? "...": "");
}


size_t
ui_line_rows (line_t *line, int width)
{
    if (line->cache_width != width) {
        line->cache_rows = client_ui_text_wrap (line->text, line->len, width, line->indent, NULL, 0);
        line->cache_width = width;
    }
    return line->cache_rows;
}


win_t *
ui_win_new (ui_t *self, win_type_t type, const char *target)
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


void
ui_win_members_free (win_t *win)
{
    for (size_t i = 0; i < win->nmembers; i++)
        free (win->members [i]);
    free (win->members);
    win->members = NULL;
    win->nmembers = 0;
}


void
ui_win_files_free (win_t *win)
{
    for (size_t i = 0; i < win->nfiles; i++)
        free (win->files [i]);
    free (win->files);
    win->files = NULL;
    win->nfiles = 0;
}


void
ui_win_destroy (win_t **win_p)
{
    win_t *win = *win_p;
    if (!win)
        return;
    for (size_t i = 0; i < win->nlines; i++)
        ui_line_destroy (&win->lines [i]);
    free (win->lines);
    ui_win_members_free (win);
    ui_win_files_free (win);
    free (win);
    *win_p = NULL;
}


win_t *
ui_win_find (ui_t *self, win_type_t type, const char *target)
{
    for (size_t i = 0; i < self->nwins; i++)
        if (self->wins [i]->type == type && streq (self->wins [i]->target, target))
            return self->wins [i];
    return NULL;
}


size_t
ui_win_index (ui_t *self, win_t *win)
{
    for (size_t i = 0; i < self->nwins; i++)
        if (self->wins [i] == win)
            return i;
    return 0;
}


win_t *
ui_current (ui_t *self)
{
    return self->wins [self->current];
}


void
ui_switch (ui_t *self, size_t index)
{
    if (index >= self->nwins)
        return;
    self->current = index;
    self->wins [index]->unread = 0;
    self->wins [index]->mention = false;
    ui_marks_viewed (self, self->wins [index]);
    free (self->tab_prefix);
    self->tab_prefix = NULL;
}


void
ui_win_close (ui_t *self, size_t index)
{
    if (index == 0 || index >= self->nwins)
        return;                             //  the status window stays
    ui_win_destroy (&self->wins [index]);
    memmove (self->wins + index, self->wins + index + 1,
             (self->nwins - index - 1) * sizeof (win_t *));
    self->nwins--;
    if (self->current >= index && self->current > 0)
        self->current--;
    ui_switch (self, self->current);
}


int
ui_pane_width (void)
{
    int side = COLS >= 80? 18: 12;
    return COLS - side - 1;
}


//  Inserts line at position, keeping the reader's place when scrolled back.
void
ui_win_insert (win_t *win, line_t *line, size_t at)
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
        win->scroll += ui_line_rows (line, ui_pane_width ());
    if (win->nlines > LINES_MAX) {
        ui_line_destroy (&win->lines [0]);
        memmove (win->lines, win->lines + 1, (win->nlines - 1) * sizeof (line_t *));
        win->nlines--;
        win->oldest_id = 0;
        for (size_t i = 0; i < win->nlines && !win->oldest_id; i++)
            win->oldest_id = win->lines [i]->id;
    }
}


void
ui_sys (ui_t *self, win_t *win, line_kind_t kind, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = zsys_vprintf (format, args);
    va_end (args);
    if (!win)
        win = ui_current (self);
    line_t *line = ui_line_new (kind, 0, NULL, pc_now_ms (), text);
    ui_win_insert (win, line, win->nlines);
    free (text);
}


static void
s_notify (ui_t *self, win_t *win, bool mention)
{
    if (win == ui_current (self) && self->mode == M_CHAT) {
        ui_marks_viewed (self, win);            //  read as it arrives
        return;
    }
    if (win->level == LEVEL_NONE || (win->level == LEVEL_MENTIONS && !mention))
        return;
    win->unread++;
    if (mention)
        win->mention = true;
}


//  Adds a stored message (live, catch-up or scroll-back) once, in id order.
void
ui_add_message (ui_t *self, win_t *win, uint64_t id, const char *from, int64_t ts,
               const char *text, bool live)
{
    if (id == 0)
        return;
    for (size_t i = win->nlines; i-- > 0;)
        if (win->lines [i]->id == id)
            return;                         //  seen already
    char kind [16];
    uint64_t ref = 0;
    const char *rest = text;
    bool event = client_listen_event (text, kind, sizeof (kind), &ref, &rest);
    if (event && !streq (kind, "reply")) {
        s_apply_event (self, win, from, kind, ref, rest);
        if (id > win->last_id)
            win->last_id = id;
        return;
    }
    bool own = streq (from, self->user);
    if (own && !event)
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
    line_t *line = ui_line_new (L_MSG, id, from, ts, rest);
    line->own = own;
    if (event) {                        //  a reply: the line it quotes first
        line->quote = s_quote_of (win, ref);
        line->reply_to = ref;
        s_line_render (line, ts);
    }
    //  After the last line with a smaller id, before pending own lines.
    size_t at = win->nlines;
    while (at > 0 && (win->lines [at - 1]->id > id || win->lines [at - 1]->pending))
        at--;
    ui_win_insert (win, line, at);
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


line_t *
ui_find_cid (ui_t *self, const char *cid, win_t **win_p)
{
    for (size_t w = 0; w < self->nwins; w++)
        for (size_t i = self->wins [w]->nlines; i-- > 0;)
            if (self->wins [w]->lines [i]->own && streq (self->wins [w]->lines [i]->cid, cid)) {
                *win_p = self->wins [w];
                return self->wins [w]->lines [i];
            }
    return NULL;
}


//  Someone who writes in a room is a member: Tab completes the name even
//  when they joined after our last WHO.
void
ui_member_seen (win_t *win, const char *name)
{
    for (size_t i = 0; i < win->nmembers; i++)
        if (streq (win->members [i], name))
            return;
    win->members = (char **) realloc (win->members, (win->nmembers + 2) * sizeof (char *));
    assert (win->members);
    win->members [win->nmembers++] = strdup (name);
}


//  An own line's request was answered: shown as sent, or as failed.
void
ui_line_answered (line_t *line, const char *error, int64_t ts)
{
    line->pending = false;
    if (error) {
        line->failed = true;
        size_t len = ui_append (&line->text, line->len, "  [not sent: ");
        len = ui_append (&line->text, len, error);
        line->len = ui_append (&line->text, len, "]");
        line->cache_width = 0;
    }
    else
        s_line_render (line, ts);
}


void
ui_thread (ui_t *self, win_t *win, uint64_t ref)
{
    line_t *root = s_line_of (win, ref);
    if (!root) {
        ui_sys (self, win, L_ERR, "no message %" PRIu64 " in this window (/history N fetches more)", ref);
        return;
    }
    ui_sys (self, win, L_SYS, "thread of message %" PRIu64 ":", ref);
    size_t count = win->nlines, replies = 0;
    for (size_t i = 0; i < count; i++) {
        line_t *line = win->lines [i];
        bool reply = line->reply_to == ref;
        if (line != root && !reply)
            continue;
        replies += line != root;
        ui_sys (self, win, L_SYS, "  %s<%s> %s%s", line == root? "": "  ", line->from,
                line->deleted? "[deleted]": line->body, line->edited? " (edited)": "");
    }
    ui_sys (self, win, L_SYS, "%zu %s", replies, replies == 1? "reply": "replies");
}

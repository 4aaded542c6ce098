//  client_ui_search.c: /search in the full-screen client. In a room
//  window the broker searches the room (SEARCH); in a DM window the lines
//  this device opened are searched here, since the server cannot read
//  them (PROTOCOL.md, "Search").

#include "client_ui_core.h"
#include "pc_words.h"

#define UI_SEARCH_HITS      20

static void
s_clock (int64_t ts, char *out, size_t size)
{
    time_t seconds = (time_t) (ts / 1000);
    struct tm tm;
    localtime_r (&seconds, &tm);
    strftime (out, size, "%H:%M", &tm);
}

//  "ID FROM TEXT" of a hit's neighbour, as an indented line
static void
s_near (ui_t *self, win_t *win, const char *label, const char *near)
{
    const char *from = strchr (near, ' ');
    const char *text = from? strchr (from + 1, ' '): NULL;
    if (!text)
        return;
    char safe [256];
    client_conn_sanitize (text + 1, safe, sizeof (safe));
    ui_sys (self, win, L_SYS, "    %s #%.*s <%.*s> %s", label, (int) (from - near), near,
            (int) (text - from - 1), from + 1, safe);
}

void
ui_on_search (ui_t *self, win_t *win, const char *room, pc_msg_t *reply, const char *error)
{
    if (!win)
        win = ui_current (self);
    if (error) {
        ui_sys (self, win, L_ERR, "search: %s", error);
        return;
    }
    size_t fields = pc_search_ok_count (reply);
    ui_sys (self, win, L_SYS, "search #%s: %zu hit%s%s", room, fields / 6, fields / 6 == 1? "": "s",
            fields? " (newest first)": "");
    for (size_t i = 0; i + 6 <= fields; i += 6) {
        char clock [16], from [PC_NAME_MAX + 1], text [512];
        s_clock (strtoll (pc_search_ok_hit (reply, i + 2), NULL, 10), clock, sizeof (clock));
        client_conn_sanitize (pc_search_ok_hit (reply, i + 1), from, sizeof (from));
        client_conn_sanitize (pc_search_ok_hit (reply, i + 3), text, sizeof (text));
        ui_sys (self, win, L_SYS, "  #%s [%s] <%s> %s", pc_search_ok_hit (reply, i), clock, from, text);
        s_near (self, win, "before", pc_search_ok_hit (reply, i + 4));
        s_near (self, win, "after ", pc_search_ok_hit (reply, i + 5));
    }
}

//  A DM window: its lines, newest first
static void
s_search_lines (ui_t *self, win_t *win, const pc_query_t *query)
{
    size_t hits = 0;
    ui_sys (self, win, L_SYS, "search %s (this device's messages, newest first):", win->title);
    size_t nlines = win->nlines;
    for (size_t k = nlines; k > 0 && hits < UI_SEARCH_HITS; k--) {
        line_t *line = win->lines [k - 1];
        if (line->kind != L_MSG && line->kind != L_ACTION)
            continue;
        if (!line->body || line->deleted || !pc_query_matches (query, line->body))
            continue;
        char clock [16], text [512];
        s_clock (line->ts, clock, sizeof (clock));
        client_conn_sanitize (line->body, text, sizeof (text));
        ui_sys (self, win, L_SYS, "  #%" PRIu64 " [%s] <%s> %s", line->id, clock, line->from, text);
        hits++;
    }
    if (hits == 0)
        ui_sys (self, win, L_SYS, "  no message here holds %s", query->count > 1? "all of those words"
                                                                                : "that word");
}

void
ui_cmd_search (ui_t *self, win_t *win, const char *words)
{
    pc_query_t query;
    const char *why = NULL;
    if (win->type == W_STATUS) {
        ui_sys (self, win, L_ERR, "usage: /search WORDS in a room or DM window (word* for a prefix)");
        return;
    }
    if (!pc_utf8_valid (words, strlen (words)) || pc_query_parse (words, &query, &why) == -1) {
        ui_sys (self, win, L_ERR, "search: %s", why? why: "the query is not valid UTF-8");
        return;
    }
    if (win->type == W_DM)
        s_search_lines (self, win, &query);
    else
    if (ui_simple (self, "SEARCH", win->target, words, NULL, R_SEARCH, win->target, 0) == -1)
        ui_sys (self, win, L_ERR, "not connected");
}

//  client_ui_text.c: UTF-8 <-> wchar_t, display widths, wrapping.
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700           //  wcwidth, and the wide ncursesw API
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#define NCURSES_WIDECHAR 1
#include "client_ui_text.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REPLACEMENT     0xFFFD

//  Decodes one UTF-8 sequence at s (n bytes left); returns the bytes used
//  (at least 1) and the code point in *cp, U+FFFD when malformed.
static size_t
s_next (const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s [0];
    size_t need;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) { need = 1; c &= 0x1F; min = 0x80; }
    else
    if (c >= 0xE0 && c <= 0xEF) { need = 2; c &= 0x0F; min = 0x800; }
    else
    if (c >= 0xF0 && c <= 0xF4) { need = 3; c &= 0x07; min = 0x10000; }
    else {
        *cp = REPLACEMENT;
        return 1;
    }
    if (need >= n) {
        *cp = REPLACEMENT;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if ((s [i] & 0xC0) != 0x80) {
            *cp = REPLACEMENT;
            return i;
        }
        c = (c << 6) | (s [i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        c = REPLACEMENT;
    *cp = c;
    return need + 1;
}

wchar_t *
client_ui_text_decode (const char *utf8, size_t *len_p)
{
    size_t n = utf8? strlen (utf8): 0;
    wchar_t *out = (wchar_t *) malloc ((n + 1) * sizeof (wchar_t));
    assert (out);
    size_t len = 0;
    const unsigned char *s = (const unsigned char *) (utf8? utf8: "");
    size_t i = 0;
    while (i < n) {
        unsigned cp;
        i += s_next (s + i, n - i, &cp);
        if (cp == '\t')
            cp = ' ';
        else
        if ((cp < 0x20 && cp != '\n') || cp == 0x7F || (cp >= 0x80 && cp < 0xA0))
            cp = REPLACEMENT;
        out [len++] = (wchar_t) cp;
    }
    out [len] = 0;
    if (len_p)
        *len_p = len;
    return out;
}

char *
client_ui_text_encode (const wchar_t *text, size_t len)
{
    char *out = (char *) malloc (len * 4 + 1);
    assert (out);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned c = (unsigned) text [i];
        if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            c = REPLACEMENT;
        if (c < 0x80)
            out [n++] = (char) c;
        else
        if (c < 0x800) {
            out [n++] = (char) (0xC0 | (c >> 6));
            out [n++] = (char) (0x80 | (c & 0x3F));
        }
        else
        if (c < 0x10000) {
            out [n++] = (char) (0xE0 | (c >> 12));
            out [n++] = (char) (0x80 | ((c >> 6) & 0x3F));
            out [n++] = (char) (0x80 | (c & 0x3F));
        }
        else {
            out [n++] = (char) (0xF0 | (c >> 18));
            out [n++] = (char) (0x80 | ((c >> 12) & 0x3F));
            out [n++] = (char) (0x80 | ((c >> 6) & 0x3F));
            out [n++] = (char) (0x80 | (c & 0x3F));
        }
    }
    out [n] = 0;
    return out;
}

int
client_ui_text_cwidth (wchar_t c)
{
    if (c == '\n')
        return 0;
    int w = wcwidth (c);
    if (w < 0)
        return 1;           //  drawn as a replacement by the caller
    return w > 2? 2: w;
}

int
client_ui_text_width (const wchar_t *text, size_t len)
{
    int width = 0;
    for (size_t i = 0; i < len; i++)
        width += client_ui_text_cwidth (text [i]);
    return width;
}

int
client_ui_text_indent (int width, int indent)
{
    if (indent > width / 2)
        indent = width / 2;
    return indent < 0? 0: indent;
}

size_t
client_ui_text_wrap (const wchar_t *text, size_t len, int width, int indent,
                     client_ui_row_t *rows, size_t max)
{
    if (width < 2)
        width = 2;
    indent = client_ui_text_indent (width, indent);
    size_t count = 0;
    size_t start = 0;
    bool first = true;
    while (true) {
        int room = first? width: width - indent;
        int used = 0;
        size_t i = start;
        size_t last_space = (size_t) -1;
        bool forced = false;
        while (i < len) {
            if (text [i] == '\n') {
                forced = true;
                break;
            }
            int w = client_ui_text_cwidth (text [i]);
            if (used + w > room)
                break;
            //  A space inside the first row's prefix (time, nick) is no
            //  place to break: the body would start on an empty row.
            if (text [i] == ' ' && (!first || used >= indent))
                last_space = i;
            used += w;
            i++;
        }
        size_t end = i;
        size_t next = i;
        if (forced)
            next = i + 1;                   //  the LF itself is not drawn
        else
        if (i < len) {
            if (text [i] == ' ') {
                end = i;                    //  the row ends just before a space
                next = i + 1;
            }
            else
            if (last_space != (size_t) -1 && last_space > start) {
                end = last_space;           //  break at the space, drop it
                next = last_space + 1;
            }
            else
            if (i == start) {
                end = next = i + 1;         //  a character wider than the row
            }
        }
        if (rows && count < max) {
            rows [count].start = start;
            rows [count].end = end;
        }
        count++;
        if (next >= len && !forced)
            break;
        if (next >= len && forced) {
            //  A trailing LF: nothing after it, no empty row.
            break;
        }
        start = next;
        first = false;
    }
    return count;
}

bool
client_ui_text_mentions (const char *text, const char *name)
{
    size_t n = strlen (name);
    if (!n)
        return false;
    for (const char *p = text; *p; p++) {
        if (strncasecmp (p, name, n) != 0)
            continue;
        bool left = p == text || !(isalnum ((unsigned char) p [-1]) || p [-1] == '_' || p [-1] == '-');
        char after = p [n];
        bool right = !(isalnum ((unsigned char) after) || after == '_' || after == '-');
        if (left && right)
            return true;
    }
    return false;
}

void
client_ui_text_test (bool verbose)
{
    if (verbose)
        printf (" * client_ui_text: ");
    size_t len;
    wchar_t *w = client_ui_text_decode ("a\tb\x01" "\xe4\xbd\xa0\xff", &len);
    assert (len == 6);
    assert (w [1] == ' ' && w [3] == REPLACEMENT && w [4] == 0x4F60 && w [5] == REPLACEMENT);
    free (w);
    w = client_ui_text_decode ("\xe4\xbd\xa0\xe5\xa5\xbd", &len);
    char *back = client_ui_text_encode (w, len);
    assert (strcmp (back, "\xe4\xbd\xa0\xe5\xa5\xbd") == 0);
    free (back);
    free (w);
    //  Wrapping: never more cells than the width, words kept when possible.
    w = client_ui_text_decode ("hello world again", &len);
    client_ui_row_t rows [8];
    size_t n = client_ui_text_wrap (w, len, 11, 2, rows, 8);
    assert (n == 2 && rows [0].end == 11 && rows [1].start == 12);
    free (w);
    assert (client_ui_text_mentions ("hi Alice!", "alice"));
    assert (!client_ui_text_mentions ("hi alicexx", "alice"));
    if (verbose)
        printf ("OK\n");
}

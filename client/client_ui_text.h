//  client_ui_text.h: wide text for the terminal: UTF-8 in, display cells out.
//
//  Everything that reaches the screen goes through here: text from the
//  network becomes wchar_t (the locale must be UTF-8: setlocale (LC_ALL, "")),
//  control characters become visible or spaces, and wrapping counts the cells
//  each character really takes (wcwidth: 2 for CJK and most emoji, 0 for
//  combining marks), so a wide character is never cut in half at the margin.
#ifndef CLIENT_UI_TEXT_H_INCLUDED
#define CLIENT_UI_TEXT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

//  Decodes UTF-8 into a new wide string (caller frees); invalid bytes become
//  U+FFFD, TAB becomes a space, LF is kept (a forced line break), every other
//  control character becomes U+FFFD. *len_p gets the length when not NULL.
wchar_t    *client_ui_text_decode   (const char *utf8, size_t *len_p);
//  Encodes a wide string as UTF-8 into a new string (caller frees).
char       *client_ui_text_encode   (const wchar_t *text, size_t len);
//  Display cells of one character: 0..2 (non-printable counts as 1, since
//  it is drawn as a replacement).
int         client_ui_text_cwidth   (wchar_t c);
//  Display cells of text [0..len).
int         client_ui_text_width    (const wchar_t *text, size_t len);

//  One screen row of a wrapped line: characters [start, end) of the text.
typedef struct {
    size_t start;
    size_t end;
} client_ui_row_t;

//  Wraps text [0..len) into rows of at most width cells; rows after the
//  first start indent cells in (indent is capped to width / 2). Breaks after
//  the last space that fits, else inside the word; LF forces a break.
//  Fills up to max rows into rows (may be NULL) and returns the number of
//  rows the whole text needs (at least 1).
size_t      client_ui_text_wrap     (const wchar_t *text, size_t len, int width, int indent,
                                     client_ui_row_t *rows, size_t max);
//  Indent actually used by wrap for a given width.
int         client_ui_text_indent   (int width, int indent);

//  Case-insensitive whole-word search of name (ASCII) in UTF-8 text.
bool        client_ui_text_mentions (const char *text, const char *name);

void        client_ui_text_test     (bool verbose);
#endif

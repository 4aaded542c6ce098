//  client_ui_input.c: the input line editor.
#include "client_ui_input.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_MAX     200

struct _client_ui_input_t {
    wchar_t *text;                  //  max + 1, NUL-terminated
    size_t   len;
    size_t   max;
    size_t   cursor;
    size_t   overflow;
    wchar_t *history [HISTORY_MAX]; //  oldest first
    size_t   nhistory;
    size_t   browse;                //  nhistory: not browsing
    wchar_t *draft;                 //  the line being written, while browsing
};

client_ui_input_t *
client_ui_input_new (size_t max)
{
    client_ui_input_t *self = (client_ui_input_t *) calloc (1, sizeof (client_ui_input_t));
    assert (self);
    self->max = max;
    self->text = (wchar_t *) calloc (max + 1, sizeof (wchar_t));
    assert (self->text);
    return self;
}

void
client_ui_input_destroy (client_ui_input_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        client_ui_input_t *self = *self_p;
        for (size_t i = 0; i < self->nhistory; i++)
            free (self->history [i]);
        free (self->draft);
        free (self->text);
        free (self);
        *self_p = NULL;
    }
}

static void
s_set (client_ui_input_t *self, const wchar_t *text)
{
    size_t len = text? wcslen (text): 0;
    if (len > self->max)
        len = self->max;
    if (len)
        memcpy (self->text, text, len * sizeof (wchar_t));
    self->len = self->cursor = len;
    self->text [len] = 0;
}

void
client_ui_input_insert (client_ui_input_t *self, wchar_t c)
{
    if (self->len >= self->max) {
        self->overflow++;
        return;
    }
    memmove (self->text + self->cursor + 1, self->text + self->cursor,
             (self->len - self->cursor) * sizeof (wchar_t));
    self->text [self->cursor++] = c;
    self->text [++self->len] = 0;
}

void client_ui_input_left (client_ui_input_t *self) { if (self->cursor) self->cursor--; }
void client_ui_input_right (client_ui_input_t *self) { if (self->cursor < self->len) self->cursor++; }
void client_ui_input_home (client_ui_input_t *self) { self->cursor = 0; }
void client_ui_input_end (client_ui_input_t *self) { self->cursor = self->len; }

//  Removes characters [from, to).
static void
s_cut (client_ui_input_t *self, size_t from, size_t to)
{
    if (to <= from)
        return;
    memmove (self->text + from, self->text + to, (self->len - to) * sizeof (wchar_t));
    self->len -= to - from;
    self->text [self->len] = 0;
    if (self->cursor >= to)
        self->cursor -= to - from;
    else
    if (self->cursor > from)
        self->cursor = from;
}

void
client_ui_input_backspace (client_ui_input_t *self)
{
    if (self->cursor)
        s_cut (self, self->cursor - 1, self->cursor);
}

void
client_ui_input_delete (client_ui_input_t *self)
{
    if (self->cursor < self->len)
        s_cut (self, self->cursor, self->cursor + 1);
}

void
client_ui_input_kill_word (client_ui_input_t *self)
{
    size_t from = self->cursor;
    while (from && self->text [from - 1] == ' ')
        from--;
    while (from && self->text [from - 1] != ' ')
        from--;
    s_cut (self, from, self->cursor);
}

void client_ui_input_kill_head (client_ui_input_t *self) { s_cut (self, 0, self->cursor); }
void client_ui_input_kill_tail (client_ui_input_t *self) { s_cut (self, self->cursor, self->len); }

void
client_ui_input_history_up (client_ui_input_t *self)
{
    if (self->browse > self->nhistory)
        self->browse = self->nhistory;
    if (self->browse == 0)
        return;
    if (self->browse == self->nhistory) {
        free (self->draft);
        self->draft = wcsdup (self->text);
    }
    self->browse--;
    s_set (self, self->history [self->browse]);
}

void
client_ui_input_history_down (client_ui_input_t *self)
{
    if (self->browse >= self->nhistory)
        return;
    self->browse++;
    if (self->browse == self->nhistory) {
        s_set (self, self->draft);
        free (self->draft);
        self->draft = NULL;
    }
    else
        s_set (self, self->history [self->browse]);
}

void
client_ui_input_remember (client_ui_input_t *self)
{
    if (self->len == 0)
        return;
    if (self->nhistory && wcscmp (self->history [self->nhistory - 1], self->text) == 0) {
        self->browse = self->nhistory;
        return;
    }
    if (self->nhistory == HISTORY_MAX) {
        free (self->history [0]);
        memmove (self->history, self->history + 1, (HISTORY_MAX - 1) * sizeof (wchar_t *));
        self->nhistory--;
    }
    self->history [self->nhistory++] = wcsdup (self->text);
    self->browse = self->nhistory;
}

void
client_ui_input_clear (client_ui_input_t *self)
{
    s_set (self, NULL);
    self->overflow = 0;
    self->browse = self->nhistory;
    free (self->draft);
    self->draft = NULL;
}

void
client_ui_input_replace (client_ui_input_t *self, size_t from, const wchar_t *text, size_t len)
{
    assert (from <= self->cursor);
    s_cut (self, from, self->cursor);
    for (size_t i = 0; i < len; i++)
        client_ui_input_insert (self, text [i]);
}

const wchar_t *
client_ui_input_text (client_ui_input_t *self, size_t *len_p)
{
    if (len_p)
        *len_p = self->len;
    return self->text;
}

size_t client_ui_input_cursor (client_ui_input_t *self) { return self->cursor; }
size_t client_ui_input_overflow (client_ui_input_t *self) { return self->overflow; }

void
client_ui_input_test (bool verbose)
{
    if (verbose)
        printf (" * client_ui_input: ");
    client_ui_input_t *input = client_ui_input_new (16);
    const wchar_t *word = L"hello big world";
    for (size_t i = 0; word [i]; i++)
        client_ui_input_insert (input, word [i]);
    client_ui_input_kill_word (input);
    assert (wcscmp (client_ui_input_text (input, NULL), L"hello big ") == 0);
    client_ui_input_home (input);
    client_ui_input_delete (input);
    client_ui_input_end (input);
    client_ui_input_backspace (input);
    assert (wcscmp (client_ui_input_text (input, NULL), L"ello big") == 0);
    client_ui_input_remember (input);
    client_ui_input_clear (input);
    client_ui_input_insert (input, L'x');
    client_ui_input_history_up (input);
    assert (wcscmp (client_ui_input_text (input, NULL), L"ello big") == 0);
    client_ui_input_history_down (input);
    assert (wcscmp (client_ui_input_text (input, NULL), L"x") == 0);
    for (int i = 0; i < 20; i++)
        client_ui_input_insert (input, L'y');
    assert (client_ui_input_overflow (input) == 5);
    client_ui_input_destroy (&input);
    client_ui_input_destroy (&input);
    if (verbose)
        printf ("OK\n");
}

//  client_ui_input.h: the input line editor (no drawing, no terminal).
//
//  A wide-character buffer with a cursor, the Emacs-style edits of a shell
//  (Ctrl-A/E/W/U/K, Delete, Backspace) and a history of sent lines (Up/Down
//  keep the line being written as a draft). Pasted text may hold LF.
#ifndef CLIENT_UI_INPUT_H_INCLUDED
#define CLIENT_UI_INPUT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

typedef struct _client_ui_input_t client_ui_input_t;

//  max: characters the line may hold (a paste beyond it is cut and counted
//  by client_ui_input_overflow, so the caller can say so).
client_ui_input_t *client_ui_input_new (size_t max);
void        client_ui_input_destroy    (client_ui_input_t **self_p);

void        client_ui_input_insert     (client_ui_input_t *self, wchar_t c);
void        client_ui_input_left       (client_ui_input_t *self);
void        client_ui_input_right      (client_ui_input_t *self);
void        client_ui_input_home       (client_ui_input_t *self);
void        client_ui_input_end        (client_ui_input_t *self);
void        client_ui_input_backspace  (client_ui_input_t *self);
void        client_ui_input_delete     (client_ui_input_t *self);
void        client_ui_input_kill_word  (client_ui_input_t *self);     //  Ctrl-W
void        client_ui_input_kill_head  (client_ui_input_t *self);     //  Ctrl-U
void        client_ui_input_kill_tail  (client_ui_input_t *self);     //  Ctrl-K
void        client_ui_input_history_up   (client_ui_input_t *self);
void        client_ui_input_history_down (client_ui_input_t *self);
//  Adds the current line to the history (unless empty or equal to the last).
void        client_ui_input_remember   (client_ui_input_t *self);
void        client_ui_input_clear      (client_ui_input_t *self);
//  Replaces characters [from, cursor) by text and puts the cursor after it.
void        client_ui_input_replace    (client_ui_input_t *self, size_t from,
                                        const wchar_t *text, size_t len);

const wchar_t *client_ui_input_text    (client_ui_input_t *self, size_t *len_p);
size_t      client_ui_input_cursor     (client_ui_input_t *self);
//  Characters dropped because the line was full since the last clear.
size_t      client_ui_input_overflow   (client_ui_input_t *self);

void        client_ui_input_test       (bool verbose);
#endif

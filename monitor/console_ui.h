//  console_ui.h: the console's full-screen dashboard (ncursesw); with
//  console.c the only ncurses user in the monitor folder.
//
//  Draws the latest STATS snapshot: overview counters with a 60 s
//  sparkline, rooms, online users, the monitor's event log and the active
//  alerts. Reads the keyboard without blocking: Tab / 1-4 focus a pane,
//  arrows and PgUp/PgDn scroll it (in Rooms and Users they move the
//  selection), / filters rooms and users, ? help, q quit. With the admin
//  key, b / u / k ban, unban and kick (asking first); the UI only collects
//  the confirmed action, console.c sends it and reports the result back.
//
//      console_ui_t *ui = console_ui_new ("tcp://127.0.0.1:5558");
//      console_ui_set_snapshot (ui, &stats);       //  takes the parsed STATS
//      console_ui_set_status (ui, false, "monitor unreachable, retrying");
//      console_ui_set_admin (ui, true);            //  the admin key is there
//      while (console_ui_keys (ui) == 0) {
//          console_ui_action_t action;
//          if (console_ui_take_action (ui, &action)) ...send it...
//          console_ui_draw (ui);
//      }
//      console_ui_destroy (&ui);                   //  restores the terminal
#ifndef CONSOLE_UI_H_INCLUDED
#define CONSOLE_UI_H_INCLUDED

#include <stdbool.h>
#include "console_json.h"

typedef struct _console_ui_t console_ui_t;

//  A confirmed admin action: BAN user, UNBAN user, KICK room user.
typedef struct {
    char command [8];
    char user [64];
    char room [64];                 //  KICK only
} console_ui_action_t;

//  Starts curses on the terminal; NULL if the terminal cannot be used.
console_ui_t *console_ui_new          (const char *endpoint);
void          console_ui_destroy      (console_ui_t **self_p);
//  Takes ownership of *snapshot_p (a parsed STATS object) and nulls it.
void          console_ui_set_snapshot (console_ui_t *self, console_json_t **snapshot_p);
//  Connection state for the status line; text is copied.
void          console_ui_set_status   (console_ui_t *self, bool reachable, const char *text);
//  Handles every pending key (and resizes). 1 when the user asked to quit.
int           console_ui_keys         (console_ui_t *self);
//  Whether admin actions are possible (the server's admin key is readable).
void          console_ui_set_admin    (console_ui_t *self, bool available);
//  True once per confirmed action, copying it into *action.
bool          console_ui_take_action  (console_ui_t *self, console_ui_action_t *action);
//  Shows a one-off line (an admin action's result) on the status line until
//  the next key; text is copied.
void          console_ui_notice       (console_ui_t *self, const char *text);
//  Redraws the screen (cheap: curses sends only what changed).
void          console_ui_draw         (console_ui_t *self);
#endif

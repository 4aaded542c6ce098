//  client_ui.h: the full-screen terminal client (ncursesw).
//
//  `pychat` with no command, on a terminal, runs this: a login screen (or
//  PYCHAT_USER + PYCHAT_PASSWORD), then a sidebar of windows (status, rooms,
//  DMs), the message pane, a status line and an input line. One zmq_poll
//  loop serves the keyboard (stdin as a poll item), the DEALER and the SUB,
//  so nothing the network does can freeze the screen. The session engine
//  (client_session) keeps the session: a server that stops answering for
//  3 s is reconnected with backoff, one that forgot the login (restarted)
//  is logged in again at once, and what was typed meanwhile is sent
//  afterwards. /help inside lists every command.
//
//  PYCHAT_HOME/ui.conf holds "key value" lines: user NAME (the last user
//  who logged in; never the password), bell on|off, colors on|off.
#ifndef CLIENT_UI_H_INCLUDED
#define CLIENT_UI_H_INCLUDED

#include "client_cmd.h"

//  Runs until /quit, Ctrl-C or SIGTERM; returns the process exit code.
int     client_ui_run   (client_opts_t *opts);

//  Unit tests of the pieces that need no terminal.
void    client_ui_test  (bool verbose);

#endif

//  client_listen.h: `pychat listen` (rooms and direct messages, resumed
//  from PYCHAT_HOME/state, gaps filled from HISTORY/INBOX, reconnecting on
//  its own) and the pieces `pychat history` shares with it: printing and
//  paged HISTORY/INBOX reads.
//
//  What listen prints is every message of its rooms and every direct
//  message to its user, in per-room (per-inbox) id order, each once: ids
//  are per-room sequence numbers (PROTOCOL.md, "History and zero loss"), so
//  a live message whose id is not last + 1 makes it fetch the gap first,
//  and an id it has printed already is dropped.
#ifndef CLIENT_LISTEN_H_INCLUDED
#define CLIENT_LISTEN_H_INCLUDED

#include <stdint.h>
#include <stdio.h>
#include "client_cmd.h"
#include "client_conn.h"

//  Writes a message's text for a terminal: every line after the first
//  indented, control characters made visible (^[ for ESC, ^? for DEL,
//  \xNN for C1 controls and bytes that are not UTF-8), so that no text can
//  pass for a line of its own or move the cursor.
void    client_listen_plain_text (FILE *out, const char *text);
//  One message on stdout, as listen prints it: plain
//  "[HH:MM:SS] #room <from> text" or a JSON line {"id","room","from","ts","text"}.
//  Edits, deletes, replies and reactions are room entries whose text is
//  RS KIND SP ID [SP TEXT] (PROTOCOL.md): true and its parts when text is
//  one (*rest borrowed from text).
#define CLIENT_EVENT_MARK   '\x1e'
bool    client_listen_event (const char *text, char *kind, size_t size, uint64_t *ref,
                             const char **rest);
//  Prints one room entry, "[HH:MM:SS] #room <from> text" or
//  {"id","room","from","ts","text"}; an event says what it is about
//  ("kind", "ref"); extra (plain: appended after two spaces; JSON: more members, "k":v,...)
//  may be NULL.
void    client_listen_print_entry (bool json, const char *id, const char *room,
                                   const char *from, const char *ts, const char *text,
                                   const char *extra);
//  One opened direct message: "[HH:MM:SS] *dm* <from> text" or
//  {"dm":true,"id","from","to","ts","text"}.
//  sent: a copy of a DM the listening user wrote (from another device).
//  text may be an opened event (client_dm_kinds), printed as a room's is;
//  extra as for client_listen_print_entry (NULL: none).
void    client_listen_print_dm  (bool json, const char *id, const char *from,
                                 const char *to, const char *ts, const char *text, bool sent,
                                 const char *extra);

//  Called with each record of a HISTORY page (fields: id from time text)
//  or an INBOX page (id from to time box), oldest first. Returns 0 to go
//  on, 1 to stop.
typedef int (client_listen_record_fn) (void *arg, uint64_t id, const char **fields);

//  Reads the records after id `after` (0: from the oldest) of room, or of
//  the user's inbox when room is NULL, page by page (PC_HISTORY_MAX), at
//  most max of them (0: all). 0, or an exit code (message printed) or
//  CLIENT_INTERRUPTED.
int     client_listen_fetch     (client_conn_t *conn, const char *room, uint64_t after,
                                 long max, client_listen_record_fn *fn, void *arg);
//  The newest max records (any number), oldest first. Same returns.
int     client_listen_latest    (client_conn_t *conn, const char *room, long max,
                                 client_listen_record_fn *fn, void *arg);

//  Runs `listen ARGS`; password is the user's (kept only for reconnects).
//  Returns the exit code.
int     client_listen_run       (client_opts_t *opts, const char *password,
                                 int argc, char **argv);

//  The usage lines of listen and history.
#define CLIENT_LISTEN_USAGE \
    "  listen [ROOM...] [--count N] [--timeout SECONDS] [--json] [--since ID] [--presence]\n" \
    "                                print messages of the rooms and direct messages\n" \
    "                                to you as they arrive, after those missed since\n" \
    "                                the last listen (or after ID); no ROOM: DMs only;\n" \
    "                                --presence: who comes, goes away, goes offline,\n" \
    "                                and who is typing, too\n"

//  Flushes stdout: 0, or PC_EXIT_USAGE after one line on stderr (none for
//  a closed pipe, which is how `| head` ends us).
int     client_listen_flush_stdout (void);

#endif

//  client_post.h: `pychat send` and `pychat dm` on the session engine.
//
//  One message, posted the way the protocol wants it (PROTOCOL.md,
//  "History and zero loss"): under one client message id, sent again after
//  every lost connection or forgotten login until the broker answers it,
//  within the command's timeout. A DM is sealed for the recipient's key,
//  fetched (and pinned on first use) after LOGIN.
#ifndef CLIENT_POST_H_INCLUDED
#define CLIENT_POST_H_INCLUDED

#include "client_cmd.h"
#include "pc_util.h"

//  Sends text to room (a SEND) or, when room is NULL, to peer (a DM), and
//  prints the message id (print_id). The exit code, one line printed on failure.
int     client_post_run (client_opts_t *opts, const char *password, const char *room,
                         const char *peer, pc_buf_t *text, bool print_id);
//  The same SEND about message ref of room (or DM about message ref of the
//  sender's inbox, with peer): kind is edit, delete, reply, react or
//  unreact (PROTOCOL.md, "Edits, deletes, replies and reactions").
int     client_post_event (client_opts_t *opts, const char *password, const char *room,
                           const char *peer, pc_buf_t *text, const char *kind,
                           const char *ref, bool print_id);

#endif

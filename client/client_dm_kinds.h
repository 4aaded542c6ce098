//  client_dm_kinds.h: edits, deletes, replies and reactions of direct
//  messages, as a client sees them (PROTOCOL.md, "Direct messages").
//
//  An inbox entry (INBOX, DMMSG) holds a DM's box, or an event about one:
//  RS KIND SP REF [SP BOX], REF an id of this user's own inbox (the broker
//  translates), BOX the edit's new text, the reply or the reaction, sealed
//  for every device as a DM is (a delete has none). Once opened, an event
//  reads as a room's does, RS KIND SP REF [SP TEXT], so that the code that
//  prints and folds a room's events folds a conversation's too.
#ifndef CLIENT_DM_KINDS_H_INCLUDED
#define CLIENT_DM_KINDS_H_INCLUDED

#include "client_dm.h"

//  Opens an inbox entry's box into *text (caller frees, wipes): a DM's
//  text, or an event with its text opened. Returns as
//  client_dm_open_devices: 0, 1 the sender's device is not among sender's,
//  -1 it does not open.
int     client_dm_kinds_open   (const char *box, const client_dm_keys_t *own,
                                const client_dm_devices_t *sender, char **text);
//  Opens the entries of an INBOX read one by one, looking a sender's devices
//  up once when one is not pinned (trust on first use, as listen does).
typedef struct {
    client_conn_t   *conn;
    const char      *home, *user;
    client_dm_keys_t keys;
    zhashx_t        *asked;             //  senders looked up
    size_t           unopened;          //  entries that did not open
} client_dm_reader_t;

//  0, or an exit code (the device key cannot be loaded; said).
int     client_dm_reader_init  (client_dm_reader_t *self, client_conn_t *conn,
                                const char *home, const char *user);
//  The entry's opened text (client_dm_kinds_open; caller frees, wipes), or
//  NULL when it does not open (counted in unopened).
char   *client_dm_reader_open  (client_dm_reader_t *self, const char *from, const char *box);
void    client_dm_reader_clear (client_dm_reader_t *self);

void    client_dm_kinds_test   (bool verbose);

#endif

//  broker_dm_kinds.h: edits, deletes, replies and reactions of direct
//  messages (PROTOCOL.md, "Direct messages", "Edits, deletes, replies and
//  reactions").
//
//  A DM lives twice: in the recipient's inbox (id R) and, as the sender's
//  copy, in the sender's (id S). Every ref a client sends or receives is an
//  id in its own inbox; the broker keeps the pair in one hash per user,
//  dmlink:USER (field: an id of USER's inbox, value "PEER PEER-ID"), written
//  when a DM and its copy are stored, and translates: the event stored in
//  each inbox names the message by that inbox's id.
#ifndef BROKER_DM_KINDS_H_INCLUDED
#define BROKER_DM_KINDS_H_INCLUDED

#include "broker_ctx.h"

//  A DM stored as to_seq in to's inbox and as from_seq in from's (its
//  copy): links the two ids (one Redis round trip). Best effort: a link
//  that is not written only makes the message's events 404.
void    broker_dm_kinds_link  (broker_t *self, const char *to, uint64_t to_seq,
                               const char *from, uint64_t from_seq);
//  A DM with a kind (edit, delete, reply, react, unreact) and a ref:
//  checked, stored in both inboxes, delivered, answered.
int     broker_dm_kinds_event (broker_t *self, pc_msg_t *request, broker_session_t *session);
void    broker_dm_kinds_test  (bool verbose);

#endif

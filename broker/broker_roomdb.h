//  broker_roomdb.h: what the broker keeps in Redis besides messages: room
//  settings and the audit log, on the store's connection (an outage is the
//  store's too).
#ifndef BROKER_ROOMDB_H_INCLUDED
#define BROKER_ROOMDB_H_INCLUDED

#include "broker_store.h"

//  Audit log: appends (actor, action, target) to the stream "audit" (newest
//  10,000). 0 | -1 unavailable.
int         broker_roomdb_audit     (broker_store_t *store, const char *actor,
                                     const char *action, const char *target);
//  What Redis holds of a room: its settings, kept in "roommeta:NAME"
//  (creator, invite_only) and "roominvited:NAME" (set), and its messages
//  ("room:NAME", counted in "room:NAME:count" by the store).
typedef struct {
    bool     known;             //  Redis holds any of it: the room exists
    bool     invite_only;
    char    *creator;           //  NULL if none; the caller frees it
    uint64_t messages;          //  stored ever (for a room from before the count: held)
} broker_roomdb_room_t;

//  Reads the room into *out (an unknown room reads as not known, open, no
//  creator, no messages) and its invited into invited (names it owns).
//  0 | -1 unavailable.
int         broker_roomdb_load      (broker_store_t *store, const char *room,
                                     broker_roomdb_room_t *out, zlistx_t *invited);
//  Creates the settings: 0 created, 1 the room was created before, -1.
int         broker_roomdb_create    (broker_store_t *store, const char *room, const char *creator,
                                     bool invite_only);
//  Adds (add true) or removes user from the invited: 0 | -1.
int         broker_roomdb_invite    (broker_store_t *store, const char *room, const char *user,
                                     bool add);

//  Slow mode, in "roommeta:NAME" field slowmode: set 0 | -1; get the
//  seconds (0: off) or -1.
int         broker_roomdb_set_slowmode (broker_store_t *store, const char *room, int seconds);
int         broker_roomdb_slowmode  (broker_store_t *store, const char *room);

void        broker_roomdb_test      (bool verbose);
#endif

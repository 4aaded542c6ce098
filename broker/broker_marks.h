//  broker_marks.h: read markers, unread counts, notification levels and
//  the mentions inbox (PROTOCOL.md, "Read markers and mentions").
//
//  Everything lives in Redis, per user, so that every device and every
//  broker sees the same: "marks:USER" (room -> the last id read; it only
//  moves forward), "notify:USER" (room -> mentions | none; all is no
//  field), "joined:USER" (the rooms the user is in: JOINed and not left
//  nor kicked since), "mentions:USER" (a stream of the room messages that
//  named @USER in a room the user is in, newest PC_MENTIONS_KEEP, ids from
//  "mentions:USER:seq"). Nobody but the user reads them: every command
//  acts on the session's own user.
//
//  A marker that moves and a mention are told live to every session of the
//  user (MARKED, MENTION on the session's topic); with several brokers
//  through the control channel, so sessions on other brokers hear it too.
#ifndef BROKER_MARKS_H_INCLUDED
#define BROKER_MARKS_H_INCLUDED

#include "broker_ctx.h"

#define BROKER_MARKS_SCAN_MAX   1000    //  entries an unread count reads per room (it says 1000 at most)
#define BROKER_MENTIONS_KEEP    500     //  a user's mentions inbox keeps the newest this many
#define BROKER_MENTIONS_NAMES   8       //  distinct @names one message may notify

//  user's session joined room (its last id is last): the room is the
//  user's from now on; a first join puts the marker at last, so that what
//  came before is not unread.
void        broker_marks_joined     (broker_t *self, const char *user, const char *room,
                                     uint64_t last);
//  user left room (LEAVE, KICK): no more mentions from it, not in UNREAD.
void        broker_marks_left       (broker_t *self, const char *user, const char *room);
//  The account is gone: its markers, levels, rooms and mentions too.
void        broker_marks_forget     (broker_t *self, const char *user);
//  A room message was stored (new, not a resend): when its text names
//  @someone (a cheap strchr first: most messages pay nothing more), each
//  named member of the room gets it in their mentions inbox and live.
void        broker_marks_message    (broker_t *self, const char *room, uint64_t seq,
                                     int64_t ts, const char *from, const char *text);
//  A control message of another broker ("mark", "mention"): tells the
//  user's sessions here. false when command is not ours.
bool        broker_marks_control    (broker_t *self, const char *command, const char *a,
                                     const char *b, const char *c);

//  Calls fn for each distinct name text mentions ("@name", name 1-32 of
//  [a-z0-9_-] as typed in any case, not inside a word: "a@b" is none),
//  at most max; returns how many.
typedef void (broker_marks_name_fn) (void *arg, const char *name);
size_t      broker_marks_names      (const char *text, size_t max, broker_marks_name_fn *fn, void *arg);

void        broker_marks_test       (bool verbose);
#endif

//  broker_moderation.h: removing people: KICK from a room, the admins' BAN,
//  UNBAN, DELUSER, RESETPW (carried out by the auth service, see
//  broker_authlink), the audit log, and the notices the removed get.
#ifndef BROKER_MODERATION_H_INCLUDED
#define BROKER_MODERATION_H_INCLUDED

#include "broker_ctx.h"

//  Handlers (broker_dispatch.h): KICK, and the admins' account commands
//  (USERS, BAN, UNBAN, DELUSER, RESETPW, MKADMIN) in broker_on_account.

//  Audit log (Redis stream "audit") and the monitor's event feed.
void        broker_moderation_audit (broker_t *self, const char *actor, const char *action,
                                     const char *target);
//  Tells the monitor what others wrote to the audit log since the last
//  call (the auth service's create-admin, from pychat-admin on the server
//  host); the broker's own entries were told as they were made. The first
//  call only notes where the log ends, so a restart replays nothing.
void        broker_moderation_audit_poll (broker_t *self);
//  Ends every session of user at once: they are told why (a NOTICE kind,
//  text), then forgotten, so nothing more is delivered to them and their
//  next command is refused. With several brokers, on every broker.
void        broker_moderation_drop_user (broker_t *self, const char *user, const char *kind,
                                         const char *text);
//  The same, on this broker only (another broker asked).
void        broker_moderation_drop_here (broker_t *self, const char *user, const char *kind,
                                         const char *text);
//  Takes every session of victim here out of room, telling them text;
//  returns how many there were.
size_t      broker_moderation_kick_here (broker_t *self, broker_room_t *room, const char *victim,
                                         const char *text);
#endif

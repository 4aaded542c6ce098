//  broker_moderation.h: removing people: KICK from a room, the admins' BAN,
//  UNBAN, DELUSER, RESETPW (carried out by the auth service, see
//  broker_authlink), the audit log, and the notices the removed get.
#ifndef BROKER_MODERATION_H_INCLUDED
#define BROKER_MODERATION_H_INCLUDED

#include "broker_ctx.h"

int         broker_on_kick          (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_ban           (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_unban         (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_deluser       (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_resetpw       (broker_t *self, pc_msg_t *request, broker_session_t *session);

//  Audit log (Redis stream "audit") and the monitor's event feed.
void        broker_moderation_audit (broker_t *self, const char *actor, const char *action,
                                     const char *target);
//  Ends every session of user at once: they are told why (a NOTICE kind,
//  text), then forgotten, so nothing more is delivered to them and their
//  next command is refused.
void        broker_moderation_drop_user (broker_t *self, const char *user, const char *kind,
                                         const char *text);
#endif

//  broker_files.h: the broker's side of file sharing (PROTOCOL.md, "File
//  sharing"): it tells clients where the file service is (FILES), tells
//  the file service who a key is and which spaces it may use (FCHECK), and
//  relays the service's events (FEVENT).
#ifndef BROKER_FILES_H_INCLUDED
#define BROKER_FILES_H_INCLUDED

#include "broker_ctx.h"

int         broker_on_files         (broker_t *self, pc_msg_t *request, broker_session_t *session);
//  From the file service's key only; session is NULL.
int         broker_on_fcheck        (broker_t *self, pc_msg_t *request, broker_session_t *session);
int         broker_on_fevent        (broker_t *self, pc_msg_t *request, broker_session_t *session);

void        broker_files_test       (bool verbose);
#endif

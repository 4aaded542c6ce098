//  broker_files.h: the broker's side of file sharing (PROTOCOL.md, "File
//  sharing"): it tells clients where the file service is (FILES), tells
//  the file service who a key is and which spaces it may use (FCHECK), and
//  relays the service's events (FEVENT).
#ifndef BROKER_FILES_H_INCLUDED
#define BROKER_FILES_H_INCLUDED

#include "broker_ctx.h"

//  Handlers (broker_dispatch.h): FILES; FCHECK and FEVENT from the file
//  service's key only (session NULL).

void        broker_files_test       (bool verbose);
#endif

//  files_server.h: the file service (PROTOCOL.md, "File sharing"), as a
//  czmq actor.
//
//  It owns a CURVE ROUTER on base+5 (ZAP domain "clients": any key; the
//  key is the client's broker session) and a CURVE DEALER to the broker's
//  ROUTER, over which it asks FCHECK (may this key use this space?) and
//  reports FEVENTs. Requests that name a space (FLIST, FPUT, FOPEN, FRM)
//  wait for the broker's answer, at most FILES_CHECK_MS; the others (FDATA,
//  FDONE, FREAD) use the upload id or handle that key was given.
#ifndef FILES_SERVER_H_INCLUDED
#define FILES_SERVER_H_INCLUDED

#include <czmq.h>
#include "pc_config.h"

#define FILES_CHECK_MS      3000        //  FCHECK unanswered by then: 503
#define FILES_HANDLES_MAX   16          //  downloads under way per key
#define FILES_HANDLE_IDLE_MS  60000     //  a download handle unused this long is closed
#define FILES_UPLOAD_IDLE_MS  600000    //  an upload unused this long must be resumed (FPUT)
#define FILES_PENDING_MAX   64          //  unfinished uploads per user
#define FILES_STALE_MS      (24 * 3600 * 1000LL)   //  pending uploads discarded after
#define FILES_EVENT_MS      2000        //  "files" counters to the broker

//  What the actor needs. It starts as pc_service.h says (READY, or FAILED
//  with the reason); once READY, port is the bound port.
typedef struct {
    pc_config_t *config;        //  copied
    zcert_t     *cert;          //  the service's certificate (borrowed)
    const char  *broker_key;    //  the broker's public key (Z85)
    const char  *endpoint;      //  bind endpoint, tcp://BIND:base+5 (may end in :*)
    const char  *broker;        //  the broker's ROUTER, tcp://HOST:base
    bool         verbose;
    int          port;          //  out: bound port, or -1 (the actor has ended)
} files_server_args_t;

//  pc_service_start (&service, files_server_actor, &args, NULL); ends on "$TERM". Other commands on
//  the pipe: "VERBOSE" (debug log per request), "SWEEP" (discard stale
//  uploads now rather than at the next 10-minute sweep; answers "SWEPT").
void        files_server_actor  (zsock_t *pipe, void *args);

void        files_server_test   (bool verbose);
#endif

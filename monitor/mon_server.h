//  mon_server.h: the monitor's actor: subscribes to all of the broker's
//  fan-out (SUB, CURVE client), answers PING and STATS on a ROUTER (CURVE
//  server, ZAP domain "console"), logs a summary line every few seconds,
//  re-evaluates the alerts and republishes the Prometheus text every second.
//
//      mon_server_args_t args = { cert, broker_key, fanout, bind, 5000, false,
//                                 http, 0, 0, 0 };
//      zactor_t *server = pc_service_start (&service, mon_server_actor, &args, NULL);
//      char *endpoint = mon_server_endpoint (server);  //  NULL server: it said why
//      ...
//      zactor_destroy (&server);
//
//  The process must run a ZAP handler (pc_zap_new) that accepts the
//  "console" domain before the actor starts.
#ifndef MON_SERVER_H_INCLUDED
#define MON_SERVER_H_INCLUDED

#include <czmq.h>
#include "mon_http.h"

typedef struct {
    zcert_t    *cert;           //  the monitor's own certificate (copied)
    const char *broker_key;     //  broker's public key, Z85 (copied)
    const char *fanout;         //  endpoint the SUB connects to (copied)
    const char *bind;           //  endpoint the ROUTER binds, "tcp://H:*" ok
    int         summary_ms;     //  interval of the summary log line
    bool        verbose;        //  zsys_debug per message (czmq 4.2 has no log level)
    mon_http_t *http;           //  where the metrics text goes, or NULL (not owned)
    int         alert_login_failures;   //  0: default (mon_stats.h)
    int         alert_room_rate;        //  0: default
    int         metrics_top_rooms;      //  rooms with a label of their own; 0: default
} mon_server_args_t;

//  The zactor body; args is a mon_server_args_t, read only while starting.
//  Starts as pc_service.h says (READY, or FAILED with the reason: a bind or
//  connect that failed). Pipe commands: "ENDPOINT" -> the ROUTER's bound
//  endpoint; "STATS" -> the STATS JSON; "$TERM" ends the actor.
void        mon_server_actor    (zsock_t *pipe, void *args);

//  Asks the actor for its bound endpoint; caller frees.
char       *mon_server_endpoint (zactor_t *self);
//  Asks the actor for its STATS JSON; caller frees.
char       *mon_server_stats    (zactor_t *self);

void        mon_server_test     (bool verbose);
#endif

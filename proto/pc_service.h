//  pc_service.h: what every PyChat binary's main does the same way.
//
//  The command line (getopt_long: -v/--verbose, -h/--help, -V/--version,
//  one-line usage errors), logging, the configuration, the one start
//  contract of a service actor and the wait for SIGINT/SIGTERM:
//
//      pc_service_t service = { .name = "pychat-broker", .help = s_help };
//      int rc = pc_service_init (&service, argc, argv);
//      if (rc != PC_SERVICE_GO)
//          return rc;                          //  --help, --version, usage error
//      zactor_t *actor = pc_service_start (&service, broker_server_actor, &service.config);
//      if (!actor)
//          return PC_EXIT_UNREACHABLE;         //  one line said why
//      rc = pc_service_wait (&service, actor); //  until a signal, or the actor dies
//      zactor_destroy (&actor);
//
//  The start contract, for every service actor: it calls zsock_signal (pipe, 0)
//  first (czmq's zactor_new waits for that and ignores the status), then,
//  once its sockets are bound, exactly one of
//
//      pc_service_ready (pipe);                                  //  "READY"
//      pc_service_failed (pipe, "cannot bind %s: %s", ...);     //  "FAILED" REASON
//
//  and after failing it ends.
#ifndef PC_SERVICE_H_INCLUDED
#define PC_SERVICE_H_INCLUDED

#include <czmq.h>
#include "pc_config.h"

#define PC_SERVICE_GO   -1          //  pc_service_init: go on (any other value: exit with it)

typedef struct {
    const char  *name;              //  the binary: log ident, usage, --version
    const char  *help;              //  after "usage: NAME [-v]": options and environment
    bool         verbose;           //  out: -v given
    pc_config_t  config;            //  out: the environment's configuration
} pc_service_t;

//  Parses the command line, sets up logging (ident name, stderr, no syslog)
//  and loads the configuration. PC_SERVICE_GO, or the exit code for main:
//  PC_EXIT_OK after --help or --version, PC_EXIT_USAGE after a usage error
//  or a malformed environment (one line on stderr either way).
int         pc_service_init     (pc_service_t *self, int argc, char *argv []);

//  Raises the soft RLIMIT_NOFILE to the hard limit (pc_service_init does,
//  and sets libzmq's socket cap to match before any socket exists).
//  Returns the soft limit now in force.
size_t      pc_service_raise_nofile (void);

//  Starts actor (args as zactor_new takes them) and waits for its
//  READY or FAILED. NULL when it did not start, after logging
//  "NAME: cannot start: REASON". reason_p, when not NULL, gets the reason
//  (caller frees) instead of the log line.
zactor_t   *pc_service_start    (pc_service_t *self, zactor_fn actor, void *args,
                                 char **reason_p);

//  The actor's side of the start contract (see above).
void        pc_service_ready    (zsock_t *pipe);
void        pc_service_failed   (zsock_t *pipe, const char *format, ...)
                                 __attribute__ ((format (printf, 2, 3)));

//  Sleeps until SIGINT or SIGTERM (PC_EXIT_OK) or until the actor ends by
//  itself (logged; PC_EXIT_UNREACHABLE). Messages the actor sends
//  meanwhile are dropped.
int         pc_service_wait     (pc_service_t *self, zactor_t *actor);

//  The one-line usage error of every binary, after getopt_long returned
//  '?' or ':' (optstring starting with ':'): "NAME: unknown option '--x'
//  (try --help)" or "NAME: option '--timeout' needs a value (try --help)"
//  on stderr. Returns PC_EXIT_USAGE.
int         pc_service_bad_option (const char *name, int code, char *argv []);
//  "NAME: MESSAGE (try --help)" on stderr; returns PC_EXIT_USAGE.
int         pc_service_usage_error (const char *name, const char *format, ...)
                                 __attribute__ ((format (printf, 2, 3)));
//  Prints "NAME VERSION" on stdout; returns PC_EXIT_OK.
int         pc_service_version  (const char *name);

void        pc_service_test     (bool verbose);
#endif

//  pychat-broker: sessions, rooms, routing and fan-out.
//
//  Reads its configuration from the environment (proto/pc_config.h), starts
//  the ZAP handler and the broker actor, and runs until SIGINT or SIGTERM.
#include "broker_server.h"
#include "pc_limits.h"
#include "pc_zap.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

//  Every connection costs libzmq some 16-18 KB blocks it mostly never
//  touches (a pipe's first 256-message chunk in each direction, the
//  decoder's buffer). From the heap they land on pages that earlier,
//  freed blocks had touched, so they count in full; mapped fresh (at or
//  above the mmap threshold) only the pages in use count, and freeing them
//  gives the memory back. Measured: bytes per idle client 76 KB -> 62 KB
//  (bench/run --only pychat --set subs_a=0 --set subs_b=0 --set idle=1000).
//  The cap keeps the mappings well under vm.max_map_count (65530); past it
//  blocks come from the heap again. The broker's fan-out frames stay under
//  the threshold (FANOUT_FRAME_MAX) so the hot path never maps.
static void
s_tune_malloc (void)
{
#ifdef __GLIBC__
    mallopt (M_MMAP_THRESHOLD, 16 * 1024);
    mallopt (M_MMAP_MAX, 32 * 1024);
#endif
}

int
main (int argc, char *argv [])
{
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "-v") || streq (argv [i], "--verbose"))
            verbose = true;
        else {
            fprintf (stderr, "usage: pychat-broker [-v]\n"
                     "configuration comes from the environment: PYCHAT_DATA, PYCHAT_PORT,\n"
                     "PYCHAT_BIND, PYCHAT_AUTHSVC (see README.md)\n");
            return streq (argv [i], "-h") || streq (argv [i], "--help")? 0: PC_EXIT_USAGE;
        }
    }
    pc_config_t config;
    if (pc_config_load (&config) == -1)
        return PC_EXIT_USAGE;
    s_tune_malloc ();
    zsys_init ();
    zsys_set_logident ("pychat-broker");
    zsys_set_logstream (stderr);
    zsys_set_logsystem (false);
    if (!verbose)
        zsys_set_logsender (NULL);

    zactor_t *zap = pc_zap_new ();
    if (!zap) {
        zsys_error ("broker: cannot start the ZAP handler");
        return 1;
    }
    pc_zap_allow_any (zap, "clients");
    zactor_t *broker = zactor_new (broker_server_actor, &config);
    char *status = broker? zstr_recv (broker): NULL;
    if (!status || !streq (status, "READY")) {
        zstr_free (&status);
        zactor_destroy (&broker);
        pc_zap_destroy (&zap);
        return PC_EXIT_UNREACHABLE;
    }
    zstr_free (&status);
    if (verbose)
        zstr_send (broker, "VERBOSE");
    zsys_info ("broker: ready (data in %s)", config.data_dir);
    //  Wait for a signal: czmq's handler sets zsys_interrupted
    while (!zsys_interrupted) {
        char *message = zstr_recv (broker);         //  interrupted by the signal
        zstr_free (&message);
        if (!message && zsys_interrupted)
            break;
    }
    zsys_info ("broker: shutting down");
    zactor_destroy (&broker);
    pc_zap_destroy (&zap);
    return 0;
}

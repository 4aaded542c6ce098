//  main.c: pychat-filesvc, the file service (PROTOCOL.md, "File sharing").
//
//  Reads the configuration from the environment (proto/pc_config.h), serves
//  clients on base+5 with its own CURVE key ($PYCHAT_DATA/keys/filesvc.key),
//  asks the broker at tcp://PYCHAT_BROKER:base who may use which space, and
//  runs until SIGINT or SIGTERM.
#include "files_server.h"
#include "pc_config.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_zap.h"

#include <signal.h>

static void
s_usage (FILE *stream)
{
    fprintf (stream,
        "usage: pychat-filesvc [-v]\n"
        "  -v   log every request (debug)\n"
        "environment: PYCHAT_DATA, PYCHAT_PORT, PYCHAT_BIND, PYCHAT_REDIS, PYCHAT_BROKER,\n"
        "  PYCHAT_FILES_DIR (default PYCHAT_DATA/files), PYCHAT_FILES_MAX (100M),\n"
        "  PYCHAT_FILES_QUOTA (1G per user), PYCHAT_FILES_MIN_FREE (64M)\n");
}

int
main (int argc, char *argv [])
{
    bool verbose = false;
    for (int arg = 1; arg < argc; arg++) {
        if (streq (argv [arg], "-v") || streq (argv [arg], "--verbose"))
            verbose = true;
        else
        if (streq (argv [arg], "-h") || streq (argv [arg], "--help")) {
            s_usage (stdout);
            return PC_EXIT_OK;
        }
        else {
            s_usage (stderr);
            return PC_EXIT_USAGE;
        }
    }
    pc_config_t config;
    if (pc_config_load (&config))
        return PC_EXIT_USAGE;
    zsys_init ();
    zsys_set_logident ("pychat-filesvc");
    zsys_set_logstream (stderr);
    zsys_set_logsystem (false);
    if (!verbose)
        zsys_set_logsender (NULL);
    //  A write past RLIMIT_FSIZE must fail with EFBIG (answered 507), not
    //  kill the process.
    signal (SIGXFSZ, SIG_IGN);

    //  The ZAP handler first: it must be there before any CURVE server socket.
    zactor_t *zap = pc_zap_new ();
    zcert_t *cert = pc_keys_ensure (config.keys_dir, "filesvc");
    //  The broker's key: made here if the broker has not started yet (the
    //  creation is atomic, so both end up with the same key).
    zcert_t *broker_cert = pc_keys_ensure (config.keys_dir, "broker");
    if (!zap || !cert || !broker_cert) {
        zsys_error ("filesvc: cannot create or read keys in %s: %s", config.keys_dir,
                    strerror (errno));
        zcert_destroy (&cert);
        zcert_destroy (&broker_cert);
        pc_zap_destroy (&zap);
        return PC_EXIT_UNREACHABLE;
    }
    pc_zap_allow_any (zap, "clients");

    char endpoint [300], broker [300];
    pc_config_bind_endpoint (&config, PC_OFF_FILES, endpoint, sizeof (endpoint));
    snprintf (broker, sizeof (broker), "tcp://%s:%d", config.broker_host,
              config.base_port + PC_OFF_BROKER);
    files_server_args_t args = {
        &config, cert, zcert_public_txt (broker_cert), endpoint, broker, verbose, 0
    };
    zactor_t *server = zactor_new (files_server_actor, &args);
    int rc = PC_EXIT_OK;
    if (!server || args.port == -1)
        rc = PC_EXIT_UNREACHABLE;
    else {
        zsys_info ("filesvc: listening on %s (key %s), files in %s, broker %s, redis %s:%d",
                   endpoint, zcert_public_txt (cert), config.files_dir, broker,
                   config.redis_host, config.redis_port);
        zsys_info ("filesvc: largest file %llu bytes, %llu bytes per user, %llu bytes kept free",
                   config.files_max, config.files_quota, config.files_min_free);
        //  Sleeps until a signal arrives (here, or in the actor, which then
        //  ends and wakes us up).
        zpoller_t *poller = zpoller_new (server, NULL);
        while (!zsys_interrupted) {
            void *which = zpoller_wait (poller, -1);
            if (zsys_interrupted || zpoller_terminated (poller))
                break;
            if (which == server) {
                zsys_error ("filesvc: server ended unexpectedly");
                rc = PC_EXIT_UNREACHABLE;
                break;
            }
        }
        zpoller_destroy (&poller);
        if (rc == PC_EXIT_OK)
            zsys_info ("filesvc: shutting down");
    }
    zactor_destroy (&server);
    pc_zap_destroy (&zap);
    zcert_destroy (&cert);
    zcert_destroy (&broker_cert);
    zsys_info ("filesvc: stopped");
    return rc;
}

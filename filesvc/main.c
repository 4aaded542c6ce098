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
#include "pc_redis.h"
#include "pc_service.h"
#include "pc_zap.h"

#include <signal.h>

static const char *s_help =
    "  -v, --verbose   log every request (debug)\n"
    "  -h, --help      this text\n"
    "  -V, --version   the version\n"
    "environment: PYCHAT_DATA, PYCHAT_PORT, PYCHAT_BIND, PYCHAT_REDIS, PYCHAT_BROKER,\n"
    "  PYCHAT_FILES_DIR (default PYCHAT_DATA/files), PYCHAT_FILES_MAX (100M),\n"
    "  PYCHAT_FILES_QUOTA (1G per user), PYCHAT_FILES_MIN_FREE (64M)\n";

int
main (int argc, char *argv [])
{
    pc_service_t service = { .name = "pychat-filesvc", .help = s_help };
    int rc = pc_service_init (&service, argc, argv);
    if (rc != PC_SERVICE_GO)
        return rc;
    pc_config_t *config = &service.config;
    //  A write past RLIMIT_FSIZE must fail with EFBIG (answered 507), not
    //  kill the process.
    signal (SIGXFSZ, SIG_IGN);

    //  The ZAP handler first: it must be there before any CURVE server socket.
    zactor_t *zap = pc_zap_new ();
    zcert_t *cert = pc_keys_ensure (config->keys_dir, "filesvc");
    //  The broker's key: made here if the broker has not started yet (the
    //  creation is atomic, so both end up with the same key).
    zcert_t *broker_cert = pc_keys_ensure (config->keys_dir, "broker");
    rc = PC_EXIT_UNREACHABLE;
    if (!zap || !cert || !broker_cert)
        zsys_error ("filesvc: cannot create or read keys in %s: %s", config->keys_dir,
                    strerror (errno));
    else {
        pc_zap_allow_any (zap, "clients");
        char endpoint [300], broker [300];
        pc_config_bind_endpoint (config, PC_OFF_FILES, endpoint, sizeof (endpoint));
        snprintf (broker, sizeof (broker), "tcp://%s:%d", config->broker_host,
                  config->base_port + PC_OFF_BROKER);
        files_server_args_t args = {
            config, cert, zcert_public_txt (broker_cert), endpoint, broker, service.verbose, 0
        };
        zactor_t *server = pc_service_start (&service, files_server_actor, &args, NULL);
        if (server) {
            char where [300];
            zsys_info ("filesvc: listening on %s (key %s), files in %s, broker %s, redis %s",
                       endpoint, zcert_public_txt (cert), config->files_dir, broker,
                       pc_redis_where (config->redis_host, config->redis_port, where,
                                       sizeof (where)));
            zsys_info ("filesvc: largest file %llu bytes, %llu bytes per user, %llu bytes kept free",
                       config->files_max, config->files_quota, config->files_min_free);
            rc = pc_service_wait (&service, server);
            zsys_info ("filesvc: shutting down");
        }
        zactor_destroy (&server);
    }
    pc_zap_destroy (&zap);
    zcert_destroy (&cert);
    zcert_destroy (&broker_cert);
    zsys_info ("filesvc: stopped");
    return rc;
}

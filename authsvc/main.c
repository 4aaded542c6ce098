//  main.c: pychat-authsvc, the auth service (accounts, Argon2id, throttling).
//
//  Reads the configuration from the environment (proto/pc_config.h), trusts
//  the broker's and the admin tool's CURVE keys, serves on base+2 (or on
//  PYCHAT_AUTHSVC_BIND, so several instances can run side by side) until
//  SIGINT or SIGTERM.
#include "auth_server.h"
#include "auth_hash.h"
#include "auth_store.h"
#include "pc_config.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_zap.h"

static void
s_usage (FILE *stream)
{
    fprintf (stream,
        "usage: pychat-authsvc [-v]\n"
        "  -v   log every request (debug)\n"
        "environment: PYCHAT_DATA, PYCHAT_PORT, PYCHAT_BIND, PYCHAT_REDIS,\n"
        "  PYCHAT_AUTHSVC_BIND (endpoint, e.g. tcp://127.0.0.1:6001),\n"
        "  PYCHAT_THROTTLE_SOURCE (failed LOGINs per source before 429, default %d)\n",
        AUTH_SOURCE_LIMIT);
}

//  Trusts DIR/NAME's public key on the services domain, creating the key
//  pair when it does not exist yet. 0 | -1.
static int
s_trust (zactor_t *zap, const char *dir, const char *name)
{
    zcert_t *cert = pc_keys_ensure (dir, name);
    if (!cert) {
        zsys_error ("authsvc: cannot create or read %s/%s.key: %s", dir, name, strerror (errno));
        return -1;
    }
    pc_zap_allow_key (zap, AUTH_ZAP_DOMAIN, zcert_public_txt (cert));
    zcert_destroy (&cert);
    return 0;
}

int
main (int argc, char *argv [])
{
    bool verbose = false;
    for (int arg = 1; arg < argc; arg++) {
        if (streq (argv [arg], "-v"))
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
    zsys_init ();
    zsys_set_logident ("pychat-authsvc");
    zsys_set_logstream (stderr);

    pc_config_t config;
    if (pc_config_load (&config))
        return PC_EXIT_USAGE;
    int source_limit = AUTH_SOURCE_LIMIT;
    const char *limit_text = getenv ("PYCHAT_THROTTLE_SOURCE");
    if (limit_text && *limit_text) {
        char *end;
        long value = strtol (limit_text, &end, 10);
        if (*end || value < 1 || value > 1000000) {
            zsys_error ("authsvc: PYCHAT_THROTTLE_SOURCE must be 1-1000000, not '%s'", limit_text);
            return PC_EXIT_USAGE;
        }
        source_limit = (int) value;
    }
    char endpoint [300];
    const char *bind = getenv ("PYCHAT_AUTHSVC_BIND");
    if (bind && *bind)
        snprintf (endpoint, sizeof (endpoint), "%s", bind);
    else
        pc_config_bind_endpoint (&config, PC_OFF_AUTHSVC, endpoint, sizeof (endpoint));
    if (auth_hash_init ()) {
        zsys_error ("authsvc: cannot initialise libsodium");
        return PC_EXIT_UNREACHABLE;
    }

    //  The ZAP handler first: it must be there before any CURVE server socket.
    zactor_t *zap = pc_zap_new ();
    zcert_t *cert = pc_keys_ensure (config.keys_dir, "authsvc");
    if (!cert)
        zsys_error ("authsvc: cannot create or read %s/authsvc.key: %s",
                    config.keys_dir, strerror (errno));
    if (!zap || !cert
    ||  s_trust (zap, config.keys_dir, "broker")
    ||  s_trust (zap, config.keys_dir, "admin")) {
        zcert_destroy (&cert);
        pc_zap_destroy (&zap);
        return PC_EXIT_UNREACHABLE;
    }

    auth_server_args_t args = {
        endpoint, cert, config.redis_host, config.redis_port, source_limit, verbose, 0
    };
    zactor_t *server = zactor_new (auth_server_actor, &args);
    int rc = PC_EXIT_OK;
    if (!server || args.port == -1)
        rc = PC_EXIT_UNREACHABLE;
    else {
        zsys_info ("authsvc: listening on %s (port %d, key %s), redis %s:%d, source limit %d",
                   endpoint, args.port, zcert_public_txt (cert), config.redis_host, config.redis_port,
                   source_limit);
        //  Sleeps until a signal arrives (here, or in the actor, which then
        //  ends and wakes us up).
        zpoller_t *poller = zpoller_new (server, NULL);
        while (!zsys_interrupted) {
            void *which = zpoller_wait (poller, -1);
            if (zsys_interrupted || zpoller_terminated (poller))
                break;
            if (which == server) {
                zsys_error ("authsvc: server ended unexpectedly");
                rc = PC_EXIT_UNREACHABLE;
                break;
            }
        }
        zpoller_destroy (&poller);
        if (rc == PC_EXIT_OK)
            zsys_info ("authsvc: stopping");
    }
    zactor_destroy (&server);
    pc_zap_destroy (&zap);
    zcert_destroy (&cert);
    zsys_info ("authsvc: stopped");
    return rc;
}

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
#include "pc_service.h"
#include "pc_zap.h"

#define S_HELP(limit) \
    "  -v, --verbose   log every request (debug)\n" \
    "  -h, --help      this text\n" \
    "  -V, --version   the version\n" \
    "environment: PYCHAT_DATA, PYCHAT_PORT, PYCHAT_BIND, PYCHAT_REDIS,\n" \
    "  PYCHAT_AUTHSVC_BIND (endpoint, e.g. tcp://127.0.0.1:6001),\n" \
    "  PYCHAT_THROTTLE_SOURCE (failed LOGINs per source before 429, default " #limit ")\n"
#define S_HELP_OF(limit) S_HELP (limit)

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

//  auth_server_actor tells how its start went in args->port; this shim
//  turns that into pc_service's start contract (READY / FAILED reason) and
//  passes $TERM on, until auth_server.c speaks the contract itself.
static void
s_auth_actor (zsock_t *pipe, void *args)
{
    auth_server_args_t *server_args = (auth_server_args_t *) args;
    zactor_t *server = zactor_new (auth_server_actor, server_args);
    zsock_signal (pipe, 0);
    if (!server || server_args->port == -1) {
        pc_service_failed (pipe, "cannot serve on %s", server_args->endpoint);
        zactor_destroy (&server);
        return;
    }
    pc_service_ready (pipe);
    zpoller_t *poller = zpoller_new (pipe, server, NULL);
    while (zpoller_wait (poller, -1) == pipe) {
        char *command = zstr_recv (pipe);
        bool term = !command || streq (command, "$TERM");
        zstr_free (&command);
        if (term)
            break;
    }
    zpoller_destroy (&poller);      //  $TERM, an interrupt, or the server ended
    zactor_destroy (&server);
}

//  PYCHAT_THROTTLE_SOURCE, or the default; -1 (logged) when malformed.
static int
s_source_limit (void)
{
    const char *limit_text = getenv ("PYCHAT_THROTTLE_SOURCE");
    if (!limit_text || !*limit_text)
        return AUTH_SOURCE_LIMIT;
    char *end;
    long value = strtol (limit_text, &end, 10);
    if (*end || value < 1 || value > 1000000) {
        zsys_error ("authsvc: PYCHAT_THROTTLE_SOURCE must be 1-1000000, not '%s'", limit_text);
        return -1;
    }
    return (int) value;
}

//  The ZAP handler (before any CURVE server socket) trusting the broker's
//  and the admin tool's keys, and the service's own certificate. 0 | -1.
static int
s_keys (pc_config_t *config, zactor_t **zap_p, zcert_t **cert_p)
{
    *zap_p = pc_zap_new ();
    *cert_p = pc_keys_ensure (config->keys_dir, "authsvc");
    if (!*cert_p)
        zsys_error ("authsvc: cannot create or read %s/authsvc.key: %s",
                    config->keys_dir, strerror (errno));
    if (!*zap_p || !*cert_p
    ||  s_trust (*zap_p, config->keys_dir, "broker")
    ||  s_trust (*zap_p, config->keys_dir, "admin")) {
        zcert_destroy (cert_p);
        pc_zap_destroy (zap_p);
        return -1;
    }
    return 0;
}

int
main (int argc, char *argv [])
{
    pc_service_t service = { .name = "pychat-authsvc", .help = S_HELP_OF (AUTH_SOURCE_LIMIT) };
    int rc = pc_service_init (&service, argc, argv);
    if (rc != PC_SERVICE_GO)
        return rc;
    pc_config_t *config = &service.config;
    int source_limit = s_source_limit ();
    if (source_limit == -1)
        return PC_EXIT_USAGE;
    char endpoint [300];
    const char *bind = getenv ("PYCHAT_AUTHSVC_BIND");
    if (bind && *bind)
        snprintf (endpoint, sizeof (endpoint), "%s", bind);
    else
        pc_config_bind_endpoint (config, PC_OFF_AUTHSVC, endpoint, sizeof (endpoint));
    if (auth_hash_init ()) {
        zsys_error ("authsvc: cannot initialise libsodium");
        return PC_EXIT_UNREACHABLE;
    }
    zactor_t *zap;
    zcert_t *cert;
    if (s_keys (config, &zap, &cert))
        return PC_EXIT_UNREACHABLE;
    auth_server_args_t args = {
        endpoint, cert, config->redis_host, config->redis_port, source_limit, service.verbose, 0
    };
    zactor_t *server = pc_service_start (&service, s_auth_actor, &args, NULL);
    rc = PC_EXIT_UNREACHABLE;
    if (server) {
        zsys_info ("authsvc: listening on %s (port %d, key %s), redis %s:%d, source limit %d",
                   endpoint, args.port, zcert_public_txt (cert), config->redis_host,
                   config->redis_port, source_limit);
        rc = pc_service_wait (&service, server);
        zsys_info ("authsvc: stopping");
    }
    zactor_destroy (&server);
    pc_zap_destroy (&zap);
    zcert_destroy (&cert);
    zsys_info ("authsvc: stopped");
    return rc;
}

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
#include "pc_redis.h"
#include "pc_service.h"
#include "pc_zap.h"

#define S_HELP(limit) \
    "  -v, --verbose   log every request (debug)\n" \
    "  -h, --help      this text\n" \
    "  -V, --version   the version\n" \
    "environment: PYCHAT_DATA, PYCHAT_PORT, PYCHAT_BIND, PYCHAT_REDIS,\n" \
    "  PYCHAT_AUTHSVC_BIND (endpoint, e.g. tcp://127.0.0.1:6001),\n" \
    "  PYCHAT_THROTTLE_SOURCE (failed LOGINs per source before 429, default " #limit "),\n" \
    "  PYCHAT_AUTH_WORKERS (Argon2id threads, default: one per core),\n" \
    "  PYCHAT_AUTH_QUEUE (requests waiting for them before 503, default 16 per worker)\n"
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

//  The variable name as a number within 1..max, or fallback when unset;
//  -1 (logged) when malformed.
static int
s_env_int (const char *name, int fallback, long max)
{
    const char *text = getenv (name);
    if (!text || !*text)
        return fallback;
    char *end;
    long value = strtol (text, &end, 10);
    if (*end || value < 1 || value > max) {
        zsys_error ("authsvc: %s must be 1-%ld, not '%s'", name, max, text);
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
    int source_limit = s_env_int ("PYCHAT_THROTTLE_SOURCE", AUTH_SOURCE_LIMIT, 1000000);
    int workers = s_env_int ("PYCHAT_AUTH_WORKERS", 0, 256);
    int queue = s_env_int ("PYCHAT_AUTH_QUEUE", 0, 100000);
    if (source_limit == -1 || workers == -1 || queue == -1)
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
        endpoint, cert, config->redis_host, config->redis_port, source_limit, service.verbose, 0,
        workers, queue
    };
    zactor_t *server = pc_service_start (&service, auth_server_actor, &args, NULL);
    rc = PC_EXIT_UNREACHABLE;
    if (server) {
        char where [300];
        zsys_info ("authsvc: listening on %s (port %d, key %s), redis %s, source limit %d, "
                   "%d Argon2id workers, queue %d", endpoint, args.port, zcert_public_txt (cert),
                   pc_redis_where (config->redis_host, config->redis_port, where, sizeof (where)),
                   source_limit, args.workers, args.queue);
        rc = pc_service_wait (&service, server);
        zsys_info ("authsvc: stopping");
    }
    zactor_destroy (&server);
    pc_zap_destroy (&zap);
    zcert_destroy (&cert);
    zsys_info ("authsvc: stopped");
    return rc;
}

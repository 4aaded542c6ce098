//  pychat-monitor: subscribes to everything the broker fans out, keeps
//  statistics, answers STATS for the console, logs a summary every 5 s.
//
//  Configuration: the PYCHAT_* environment (proto/pc_config.h).
#include "mon_server.h"
#include "mon_stats.h"
#include "pc_config.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_service.h"
#include "pc_zap.h"

//  A positive integer from the environment, or fallback (with a warning
//  when the variable is set but is not one).
static int
s_env_int (const char *name, int fallback)
{
    const char *value = getenv (name);
    if (!value || !*value)
        return fallback;
    char *end;
    errno = 0;
    long number = strtol (value, &end, 10);
    if (*end || errno || number < 1 || number > 1000000000) {
        zsys_warning ("monitor: %s=%s is not a positive number, using %d", name, value, fallback);
        return fallback;
    }
    return (int) number;
}

static const char *s_help =
    "  -v, --verbose   debug logging (one line per message heard; never message texts)\n"
    "  -h, --help      this text\n"
    "  -V, --version   the version\n"
    "Environment: PYCHAT_DATA, PYCHAT_PORT, PYCHAT_BIND, PYCHAT_BROKER (see PROTOCOL.md);\n"
    "  PYCHAT_ALERT_LOGIN_FAILURES  failed logins in 60 s that raise an alert (default 5)\n"
    "  PYCHAT_ALERT_ROOM_RATE       a room's messages/s over 10 s that raise one (default 500)\n"
    "  PYCHAT_METRICS_TOP_ROOMS     rooms with a label of their own in /metrics (default 20)\n"
    "Prometheus metrics: GET http://PYCHAT_BIND:PYCHAT_PORT+4/metrics\n";

//  The monitor's certificate and the broker's public key (made here when
//  the broker has not started yet: pc_keys_ensure is atomic). 0 | -1, logged.
static int
s_keys (pc_config_t *config, zcert_t **cert_p, char **broker_key_p)
{
    *cert_p = pc_keys_ensure (config->keys_dir, "monitor");
    zcert_t *broker_cert = *cert_p? pc_keys_ensure (config->keys_dir, "broker"): NULL;
    if (!broker_cert) {
        zsys_error ("monitor: cannot create or read %s/%s.key: %s", config->keys_dir,
                    *cert_p? "broker": "monitor", strerror (errno));
        zcert_destroy (cert_p);
        return -1;
    }
    *broker_key_p = strdup (zcert_public_txt (broker_cert));
    zcert_destroy (&broker_cert);
    return 0;
}

int
main (int argc, char *argv [])
{
    pc_service_t service = { .name = "pychat-monitor", .help = s_help };
    int rc = pc_service_init (&service, argc, argv);
    if (rc != PC_SERVICE_GO)
        return rc;
    pc_config_t *config = &service.config;
    zcert_t *cert;
    char *broker_key;
    if (s_keys (config, &cert, &broker_key))
        return PC_EXIT_UNREACHABLE;
    char fanout [512], bind [512];
    snprintf (fanout, sizeof (fanout), "tcp://%s:%d",
              config->broker_host, config->base_port + PC_OFF_FANOUT);
    pc_config_bind_endpoint (config, PC_OFF_MONITOR, bind, sizeof (bind));
    zactor_t *zap = pc_zap_new ();
    assert (zap);
    pc_zap_allow_any (zap, "console");

    //  The metrics endpoint first: the actor publishes into it.
    int metrics_port = config->base_port + PC_OFF_METRICS;
    mon_http_t *http = mon_http_new (config->bind, metrics_port);
    mon_server_args_t args = { cert, broker_key, fanout, bind, 5000, service.verbose, http,
                               s_env_int ("PYCHAT_ALERT_LOGIN_FAILURES", MON_ALERT_LOGIN_FAILURES),
                               s_env_int ("PYCHAT_ALERT_ROOM_RATE", MON_ALERT_ROOM_RATE),
                               s_env_int ("PYCHAT_METRICS_TOP_ROOMS", MON_METRICS_TOP_ROOMS) };
    zactor_t *server = http? pc_service_start (&service, mon_server_actor, &args, NULL): NULL;
    rc = PC_EXIT_UNREACHABLE;
    if (server) {
        char *endpoint = mon_server_endpoint (server);
        zsys_info ("monitor: started (key %s), stats on %s, metrics on http://%s:%d/metrics",
                   zcert_public_txt (cert), endpoint, config->bind, metrics_port);
        zstr_free (&endpoint);
        rc = pc_service_wait (&service, server);
        zsys_info ("monitor: stopping");
    }
    zactor_destroy (&server);
    mon_http_destroy (&http);
    pc_zap_destroy (&zap);
    zcert_destroy (&cert);
    free (broker_key);
    return rc;
}

//  pychat-monitor: subscribes to everything the broker fans out, keeps
//  statistics, answers STATS for the console, logs a summary every 5 s.
//
//  Configuration: the PYCHAT_* environment (proto/pc_config.h).
#include "mon_server.h"
#include "mon_stats.h"
#include "pc_config.h"
#include "pc_keys.h"
#include "pc_limits.h"
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

static void
s_usage (FILE *stream)
{
    fprintf (stream,
        "usage: pychat-monitor [-v]\n"
        "  -v   debug logging (one line per message heard; never message texts)\n"
        "Environment: PYCHAT_DATA, PYCHAT_PORT, PYCHAT_BIND, PYCHAT_BROKER (see PROTOCOL.md);\n"
        "  PYCHAT_ALERT_LOGIN_FAILURES  failed logins in 60 s that raise an alert (default 5)\n"
        "  PYCHAT_ALERT_ROOM_RATE       a room's messages/s over 10 s that raise one (default 500)\n"
        "Prometheus metrics: GET http://PYCHAT_BIND:PYCHAT_PORT+4/metrics\n");
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
    zsys_init ();
    zsys_set_logident ("pychat-monitor");
    zsys_set_logstream (stderr);
    zsys_set_logsystem (false);

    pc_config_t config;
    if (pc_config_load (&config) == -1)
        return PC_EXIT_USAGE;
    zcert_t *cert = pc_keys_ensure (config.keys_dir, "monitor");
    if (!cert) {
        zsys_error ("monitor: cannot create or read %s/monitor.key: %s",
                    config.keys_dir, strerror (errno));
        return PC_EXIT_UNREACHABLE;
    }
    //  The broker's key is created by whichever of the two starts first
    //  (pc_keys_ensure is atomic); only its public half is kept.
    zcert_t *broker_cert = pc_keys_ensure (config.keys_dir, "broker");
    if (!broker_cert) {
        zsys_error ("monitor: cannot create or read %s/broker.key: %s",
                    config.keys_dir, strerror (errno));
        zcert_destroy (&cert);
        return PC_EXIT_UNREACHABLE;
    }
    char *broker_key = strdup (zcert_public_txt (broker_cert));
    zcert_destroy (&broker_cert);

    char fanout [512], bind [512];
    snprintf (fanout, sizeof (fanout), "tcp://%s:%d",
              config.broker_host, config.base_port + PC_OFF_FANOUT);
    pc_config_bind_endpoint (&config, PC_OFF_MONITOR, bind, sizeof (bind));

    zactor_t *zap = pc_zap_new ();
    assert (zap);
    pc_zap_allow_any (zap, "console");

    //  The metrics endpoint first: the actor publishes into it.
    int metrics_port = config.base_port + PC_OFF_METRICS;
    mon_http_t *http = mon_http_new (config.bind, metrics_port);
    mon_server_args_t args = { cert, broker_key, fanout, bind, 5000, verbose, http,
                               s_env_int ("PYCHAT_ALERT_LOGIN_FAILURES", MON_ALERT_LOGIN_FAILURES),
                               s_env_int ("PYCHAT_ALERT_ROOM_RATE", MON_ALERT_ROOM_RATE) };
    zactor_t *server = zactor_new (mon_server_actor, &args);
    assert (server);
    char *endpoint = mon_server_endpoint (server);
    int status = PC_EXIT_OK;
    if (!endpoint || streq (endpoint, "") || !http)
        status = PC_EXIT_UNREACHABLE;
    else {
        zsys_info ("monitor: started (key %s), stats on %s, metrics on http://%s:%d/metrics",
                   zcert_public_txt (cert), endpoint, config.bind, metrics_port);
        //  Wait for SIGINT/SIGTERM (czmq's handler sets zsys_interrupted),
        //  or for the actor to go away.
        zpoller_t *poller = zpoller_new (server, NULL);
        while (!zsys_interrupted) {
            void *which = zpoller_wait (poller, 1000);
            if (which == server) {
                zsys_error ("monitor: server stopped unexpectedly");
                status = PC_EXIT_UNREACHABLE;
                break;
            }
        }
        zpoller_destroy (&poller);
        zsys_info ("monitor: stopping");
    }
    zstr_free (&endpoint);
    zactor_destroy (&server);
    mon_http_destroy (&http);
    pc_zap_destroy (&zap);
    zcert_destroy (&cert);
    free (broker_key);
    return status;
}

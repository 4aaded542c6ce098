//  pychat-console: the monitoring console. Asks the monitor for STATS about
//  once a second over CURVE and shows it full screen (console_ui), or, with
//  --once --json, prints one snapshot and exits (for scripts and tests).
//
//  Configuration: the PYCHAT_* environment (proto/pc_config.h); the
//  monitor's public key is $PYCHAT_DATA/keys/monitor.pub, the console's
//  own key is made afresh on every run. On the server host, where the
//  admin key ($PYCHAT_DATA/keys/admin.key) is readable, the dashboard can
//  also ban, unban and kick (console_admin) through the broker.
#include "console_admin.h"
#include "console_json.h"
#include "console_ui.h"
#include "pc_config.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_msg.h"
#include "pc_service.h"
#include "pc_util.h"

#include <getopt.h>
#include <locale.h>

#define POLL_MS             1000    //  a STATS request this often
#define REPLY_TIMEOUT_MS    3000    //  then the monitor counts as unreachable
#define RETRY_MS            1000    //  and we try a new connection after this

typedef struct {
    pc_config_t config;
    zcert_t    *cert;               //  ephemeral
    zsock_t    *dealer;
    pc_msg_t   *msg;
    char        reqid [32];         //  the request in flight, "" if none
    int64_t     sent_at;
    uint64_t    sequence;
} conn_t;

static void
s_usage (FILE *stream)
{
    fprintf (stream,
        "usage: pychat-console [--once [--json]] [--timeout SECONDS]\n"
        "       pychat-console --selftest [-v] | --help | --version\n"
        "  (no option)      full-screen dashboard; q quits, ? shows the keys\n"
        "  --once --json    print one STATS snapshot (JSON) and exit; exit 3 when the\n"
        "                   monitor does not answer within --timeout (default 5 s)\n"
        "Environment: PYCHAT_DATA (keys/monitor.pub; keys/admin.key and broker.pub for\n"
        "the admin keys b u k), PYCHAT_PORT, PYCHAT_MONITOR, PYCHAT_BROKER.\n");
}

static void
s_disconnect (conn_t *self)
{
    zsock_destroy (&self->dealer);
    self->reqid [0] = 0;
}

//  A new DEALER to the monitor; -1 when its public key is not there yet.
static int
s_connect (conn_t *self)
{
    s_disconnect (self);
    char *server_key = pc_keys_public (self->config.keys_dir, "monitor");
    if (!server_key)
        return -1;
    self->dealer = pc_keys_client (ZMQ_DEALER, self->cert, server_key);
    zsock_set_sndhwm (self->dealer, 10);
    free (server_key);
    if (zsock_connect (self->dealer, "%s", self->config.monitor) == -1) {
        zsock_destroy (&self->dealer);
        return -1;
    }
    return 0;
}

static void
s_request (conn_t *self, int64_t now)
{
    snprintf (self->reqid, sizeof (self->reqid), "c%" PRIu64, ++self->sequence);
    pc_msg_reset (self->msg, "STATS");
    pc_msg_set_reqid (self->msg, self->reqid);
    if (pc_msg_send_nowait (self->msg, self->dealer) == -1)
        self->reqid [0] = 0;        //  the queue is full: nobody is there
    self->sent_at = now;
}

//  Takes one reply off the socket: 1 with *json set (caller frees) when it
//  is the answer to the request in flight, 0 for anything else, -1 when the
//  monitor answered with an error (*json then holds the reason).
static int
s_receive (conn_t *self, char **json)
{
    *json = NULL;
    int rc = pc_msg_recv (self->msg, self->dealer);
    if (rc != 0 || !*self->reqid || !streq (pc_msg_reqid (self->msg), self->reqid))
        return 0;
    self->reqid [0] = 0;
    if (pc_msg_is (self->msg, "OK") && pc_msg_nfields (self->msg) == 1) {
        *json = strdup (pc_stats_ok_json (self->msg));
        return 1;
    }
    char reason [256];
    snprintf (reason, sizeof (reason), "monitor answered %d %s", pc_msg_error_code (self->msg),
              pc_msg_error_reason (self->msg));
    *json = strdup (reason);
    return -1;
}

//  --once: one request, one answer on stdout.
static int
s_once (conn_t *self, int timeout_ms, bool json)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline && !zsys_interrupted) {
        if (!self->dealer && s_connect (self) == -1) {
            zclock_sleep (100);     //  the monitor has not made its key yet
            continue;
        }
        if (!*self->reqid)
            s_request (self, zclock_mono ());
        zmq_pollitem_t items [] = { { zsock_resolve (self->dealer), 0, ZMQ_POLLIN, 0 } };
        int64_t left = deadline - zclock_mono ();
        if (zmq_poll (items, 1, (long) (left > 0? left: 0)) <= 0)
            continue;
        char *text;
        int rc = s_receive (self, &text);
        if (rc == 1) {
            printf ("%s\n", text);
            if (!json) {
                //  A line for a person too, on stderr
                console_json_t *stats = console_json_parse (text);
                fprintf (stderr, "%.0f messages, %.0f online\n",
                         console_json_number (console_json_get (stats, "messages_total"), 0),
                         console_json_number (console_json_get (stats, "users_online"), 0));
                console_json_destroy (&stats);
            }
            free (text);
            return PC_EXIT_OK;
        }
        if (rc == -1) {
            fprintf (stderr, "pychat-console: %s\n", text);
            free (text);
            return PC_EXIT_UNREACHABLE;
        }
    }
    fprintf (stderr, "pychat-console: the monitor at %s did not answer within %d s\n",
             self->config.monitor, timeout_ms / 1000);
    return PC_EXIT_UNREACHABLE;
}

//  The dashboard: one loop polls the socket and the keyboard.
static int
s_dashboard (conn_t *self)
{
    console_ui_t *ui = console_ui_new (self->config.monitor);
    if (!ui) {
        fprintf (stderr, "pychat-console: cannot use this terminal (TERM=%s)\n",
                 getenv ("TERM")? getenv ("TERM"): "");
        return PC_EXIT_USAGE;
    }
    console_admin_t *admin = console_admin_new (&self->config);
    console_ui_set_admin (ui, admin != NULL);
    char result [256];
    int64_t next_poll = 0;
    int64_t unreachable_since = 0;
    bool quit = false;
    while (!quit && !zsys_interrupted) {
        int64_t now = zclock_mono ();
        if (*self->reqid && now - self->sent_at > REPLY_TIMEOUT_MS) {
            //  No answer: start over on a fresh connection
            s_disconnect (self);
            if (!unreachable_since)
                unreachable_since = now;
            console_ui_set_status (ui, false, "monitor unreachable, retrying");
            next_poll = now + RETRY_MS;
        }
        if (!*self->reqid && now >= next_poll) {
            if (!self->dealer && s_connect (self) == -1) {
                console_ui_set_status (ui, false, "monitor unreachable (no keys/monitor.pub "
                                       "yet), retrying");
                next_poll = now + RETRY_MS;
            }
            else {
                s_request (self, now);
                next_poll = now + POLL_MS;
            }
        }
        zmq_pollitem_t items [3] = {
            { NULL, 0, ZMQ_POLLIN, 0 },     //  the keyboard
        };
        int count = 1;
        if (self->dealer)
            items [count++] = (zmq_pollitem_t) { zsock_resolve (self->dealer), 0, ZMQ_POLLIN, 0 };
        zsock_t *admin_socket = admin? console_admin_socket (admin): NULL;
        if (admin_socket)
            items [count++] = (zmq_pollitem_t) { zsock_resolve (admin_socket), 0, ZMQ_POLLIN, 0 };
        int64_t wait = next_poll - now;
        if (*self->reqid || (admin && console_admin_busy (admin)))
            wait = 100;
        if (wait > 250)
            wait = 250;             //  the clock on screen moves
        if (wait < 0)
            wait = 0;
        zmq_poll (items, count, (long) wait);      //  EINTR on a resize: fine
        if (self->dealer && (zsock_events (self->dealer) & ZMQ_POLLIN)) {
            char *text;
            int rc = s_receive (self, &text);
            if (rc == 1) {
                console_json_t *stats = console_json_parse (text);
                if (stats) {
                    console_ui_set_snapshot (ui, &stats);
                    console_ui_set_status (ui, true, "connected");
                    unreachable_since = 0;
                }
                else
                    console_ui_set_status (ui, false, "the monitor sent statistics that do "
                                           "not parse");
                console_json_destroy (&stats);
            }
            else
            if (rc == -1)
                console_ui_set_status (ui, false, text);
            free (text);
        }
        if (admin && console_admin_poll (admin, zclock_mono (), result, sizeof (result)))
            console_ui_notice (ui, result);
        quit = console_ui_keys (ui) == 1;
        console_ui_action_t action;
        if (console_ui_take_action (ui, &action)
        &&  admin && console_admin_send (admin, &action, result, sizeof (result)) == -1)
            console_ui_notice (ui, result);
        console_ui_draw (ui);
    }
    console_admin_destroy (&admin);
    console_ui_destroy (&ui);
    return PC_EXIT_OK;
}

typedef struct {
    bool once;
    bool json;
    bool selftest;
    bool verbose;
    int  timeout_ms;
} options_t;

//  The command line into options. -1 to go on, else the exit code.
static int
s_options (options_t *options, int argc, char *argv [])
{
    static const struct option longs [] = {
        { "once", no_argument, NULL, 'o' },         { "json", no_argument, NULL, 'j' },
        { "timeout", required_argument, NULL, 't' }, { "selftest", no_argument, NULL, 's' },
        { "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },      { NULL, 0, NULL, 0 }
    };
    opterr = 0;
    int code;
    while ((code = getopt_long (argc, argv, ":vhV", longs, NULL)) != -1) {
        char *end;
        double seconds;
        switch (code) {
            case 'o': options->once = true; break;
            case 'j': options->json = true; break;
            case 's': options->selftest = true; break;
            case 'v': options->verbose = true; break;
            case 'h': s_usage (stdout); return PC_EXIT_OK;
            case 'V': return pc_service_version ("pychat-console");
            case 't':
                seconds = strtod (optarg, &end);
                if (*end || seconds <= 0 || seconds > 86400)
                    return pc_service_usage_error ("pychat-console",
                        "--timeout takes seconds (more than 0, at most 86400), not '%s'", optarg);
                options->timeout_ms = (int) (seconds * 1000);
                break;
            default: return pc_service_bad_option ("pychat-console", code, argv);
        }
    }
    if (optind < argc)
        return pc_service_usage_error ("pychat-console", "unexpected argument '%s'", argv [optind]);
    if (options->json)
        options->once = true;       //  --json alone means one snapshot
    return -1;
}

int
main (int argc, char *argv [])
{
    options_t options = { .timeout_ms = 5000 };
    int status = s_options (&options, argc, argv);
    if (status != -1)
        return status;
    if (options.selftest) {
        console_json_test (options.verbose);
        return PC_EXIT_OK;
    }
    setlocale (LC_ALL, "");
    zsys_init ();                   //  its SIGINT handler first: curses keeps it
    zsys_set_logident ("pychat-console");
    zsys_set_logsystem (false);
    zsys_set_logstream (options.once? stderr: NULL);    //  nothing over the dashboard

    conn_t conn;
    memset (&conn, 0, sizeof (conn));
    if (pc_config_load (&conn.config) == -1)
        return PC_EXIT_USAGE;
    conn.cert = zcert_new ();
    conn.msg = pc_msg_new (NULL);
    assert (conn.cert && conn.msg);
    status = options.once? s_once (&conn, options.timeout_ms, options.json): s_dashboard (&conn);
    s_disconnect (&conn);
    pc_msg_destroy (&conn.msg);
    zcert_destroy (&conn.cert);
    return status;
}

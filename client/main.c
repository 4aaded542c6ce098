//  main.c: `pychat`, the scriptable command-line client.
//
//  Reads the global options (getopt_long, up to the command) and the
//  environment, then runs one command
//  (client_cmd.h). Exit codes: 0 ok, 1 usage, 2 refused, 3 unreachable or
//  timed out, 4 input rejected.
#include "client_cmd.h"
#include "client_conn.h"
#include "client_dm.h"
#include "client_dm_kinds.h"
#include "client_seal.h"
#include "client_session.h"
#include "client_token.h"
#include "client_ui.h"
#include "client_ui_xfer.h"
#include "client_xfer.h"
#include "pc_config.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_util.h"
#include "pc_version.h"

#include <getopt.h>

#include <pwd.h>
#include <unistd.h>

typedef int (command_fn) (client_opts_t *opts, int argc, char **argv);

static const struct {
    const char *name;
    command_fn *run;
} s_commands [] = {
    { "register", client_cmd_register },
    { "send",     client_cmd_send },
    { "edit",     client_cmd_edit },
    { "delete",   client_cmd_delete },
    { "react",    client_cmd_react },
    { "listen",   client_cmd_listen },
    { "rooms",    client_cmd_rooms },
    { "who",      client_cmd_who },
    { "away",     client_cmd_away },
    { "sessions", client_cmd_sessions },
    { "logout",   client_cmd_logout },
    { "ping",     client_cmd_ping },
    { "history",  client_cmd_history },
    { "search",   client_cmd_search },
    { "dm",       client_cmd_dm },
    { "trust",    client_cmd_trust },
    { "fingerprint", client_cmd_fingerprint },
    { "devices",  client_cmd_devices },
    { "admin",    client_cmd_admin },
    { "passwd",   client_cmd_passwd },
    { "delete-account", client_cmd_delete_account },
    { "create-room", client_cmd_create_room },
    { "invite",   client_cmd_invite },
    { "slowmode", client_cmd_slowmode },
    { "put",      client_cmd_put },
    { "files",    client_cmd_files },
    { "get",      client_cmd_get },
    { "rm",       client_cmd_rm },
    { "read",     client_cmd_read },
    { "unread",   client_cmd_unread },
    { "mentions", client_cmd_mentions },
    { "notify",   client_cmd_notify },
};
#define COMMANDS (sizeof (s_commands) / sizeof (s_commands [0]))

static const char *
s_env (const char *name)
{
    const char *value = getenv (name);
    return value && *value? value: NULL;
}

static void
s_default_home (char *home, size_t size)
{
    const char *env = s_env ("PYCHAT_HOME");
    if (env) {
        snprintf (home, size, "%s", env);
        return;
    }
    const char *dir = s_env ("HOME");
    if (!dir) {
        struct passwd *pw = getpwuid (getuid ());
        dir = pw && pw->pw_dir? pw->pw_dir: ".";
    }
    snprintf (home, size, "%s/.config/pychat", dir);
}

//  One line on stderr, and a hint where the rest is.
static int
s_bad_usage (const char *what, const char *arg)
{
    fprintf (stderr, "pychat: %s%s%s (pychat --help lists the commands and options)\n",
             what, arg? " ": "", arg? arg: "");
    return PC_EXIT_USAGE;
}

static int
s_selftest (bool verbose)
{
    client_seal_test (verbose);
    client_dm_test (verbose);
    client_dm_kinds_test (verbose);
    client_session_test (verbose);
    client_token_test (verbose);
    client_xfer_test (verbose);
    client_ui_test (verbose);
    client_ui_xfer_test (verbose);
    return PC_EXIT_OK;
}

typedef struct {
    const char *server, *server_key, *user, *timeout;
} globals_t;

enum { O_SERVER = 256, O_SERVER_KEY, O_USER, O_TIMEOUT, O_SELFTEST, O_VERSION };

//  The global options, up to the command (getopt_long with "+": what
//  follows the command is the command's). *first: the command's index.
//  0 to go on, else the exit code (-1: done, exit 0).
static int
s_globals (int argc, char **argv, globals_t *globals, int *first)
{
    static const struct option options [] = {
        { "server",     required_argument, NULL, O_SERVER },
        { "server-key", required_argument, NULL, O_SERVER_KEY },
        { "user",       required_argument, NULL, O_USER },
        { "timeout",    required_argument, NULL, O_TIMEOUT },
        { "selftest",   no_argument,       NULL, O_SELFTEST },
        { "version",    no_argument,       NULL, O_VERSION },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    opterr = 0;
    int option;
    while ((option = getopt_long (argc, argv, "+:h", options, NULL)) != -1) {
        switch (option) {
            case O_SERVER:     globals->server = optarg; break;
            case O_SERVER_KEY: globals->server_key = optarg; break;
            case O_USER:       globals->user = optarg; break;
            case O_TIMEOUT:    globals->timeout = optarg; break;
            case O_SELFTEST:
                //  The client modules' own tests (make test runs them)
                return s_selftest (optind < argc && streq (argv [optind], "-v")) == 0? -1: 1;
            case O_VERSION:
                printf ("pychat %s\n", PC_VERSION);
                return -1;
            case 'h':
                client_cmd_usage (stdout);
                return -1;
            case ':':
                return s_bad_usage ("a value is missing after", argv [optind - 1]);
            default:
                return s_bad_usage ("unknown option", argv [optind - 1]);
        }
        if (optarg && !*optarg)
            return s_bad_usage ("a value is missing after", argv [optind - 1]);
    }
    *first = optind;
    return 0;
}

static int
s_timeout (const char *timeout, client_opts_t *opts)
{
    opts->timeout_ms = 5000;
    if (!timeout)
        return 0;
    char *end;
    double seconds = strtod (timeout, &end);
    if (*end || !(seconds > 0) || seconds > 86400)
        return s_bad_usage ("--timeout needs a positive number of seconds, not", timeout);
    opts->timeout_ms = (int) (seconds * 1000 + 0.5);
    if (opts->timeout_ms < 1)
        opts->timeout_ms = 1;
    opts->timeout_given = true;
    return 0;
}

//  The user name, folded and checked into name. 0 or an exit code.
static int
s_user (const char *user, char *name, client_opts_t *opts)
{
    if (!user)
        return 0;
    if (strlen (user) > PC_NAME_MAX) {
        fprintf (stderr, "pychat: bad user name: at most %d characters\n", PC_NAME_MAX);
        return PC_EXIT_REJECTED;
    }
    snprintf (name, PC_NAME_MAX + 1, "%s", user);
    pc_name_fold (name);
    if (pc_name_valid (name)) {
        opts->user = name;
        return 0;
    }
    char safe [64];
    client_conn_sanitize (user, safe, sizeof (safe));
    fprintf (stderr, "pychat: bad user name '%s': use 1-%d of a-z 0-9 _ -\n", safe, PC_NAME_MAX);
    return PC_EXIT_REJECTED;
}

//  The server key: given (checked), else the broker's public key file.
static int
s_server_key (const char *server_key, const pc_config_t *config, client_opts_t *opts,
              char **key_from_file)
{
    if (!server_key) {
        opts->server_key = *key_from_file = pc_keys_public (config->data_dir, "broker");
        return 0;
    }
    if (!pc_keys_valid_z85 (server_key)) {
        fprintf (stderr, "pychat: the server key must be 40 characters of Z85 "
                         "(--server-key or PYCHAT_SERVER_KEY)\n");
        return PC_EXIT_USAGE;
    }
    opts->server_key = server_key;
    return 0;
}

static int
s_run (int argc, char **argv)
{
    globals_t globals = { s_env ("PYCHAT_SERVER"), s_env ("PYCHAT_SERVER_KEY"),
                          s_env ("PYCHAT_USER"), NULL };
    int i = 1;
    int rc = s_globals (argc, argv, &globals, &i);
    if (rc)
        return rc == -1? PC_EXIT_OK: rc;
    //  No command: the full-screen client on a terminal, else the usage.
    bool full_screen = i >= argc && isatty (0) && isatty (1);
    const char *command = full_screen? "": i < argc? argv [i]: "help";
    if (streq (command, "help")) {
        client_cmd_usage (stdout);
        return PC_EXIT_OK;
    }
    command_fn *run = NULL;
    for (size_t c = 0; c < COMMANDS; c++)
        if (streq (s_commands [c].name, command))
            run = s_commands [c].run;
    if (!run && !full_screen)
        return s_bad_usage ("unknown command", command);

    client_opts_t opts;
    memset (&opts, 0, sizeof (opts));
    if ((rc = s_timeout (globals.timeout, &opts)))
        return rc;
    pc_config_t config;
    if (pc_config_load (&config) == -1)
        return PC_EXIT_USAGE;
    char default_server [64];
    snprintf (default_server, sizeof (default_server), "tcp://127.0.0.1:%d", config.base_port);
    opts.server = globals.server? globals.server: default_server;
    char *key_from_file = NULL;
    if ((rc = s_server_key (globals.server_key, &config, &opts, &key_from_file)))
        return rc;
    char name [PC_NAME_MAX + 1];
    rc = s_user (globals.user, name, &opts);
    s_default_home (opts.home, sizeof (opts.home));
    if (rc == 0)
        rc = full_screen? client_ui_run (&opts): run (&opts, argc - i, argv + i);
    zstr_free (&key_from_file);
    return rc;
}

int
main (int argc, char *argv [])
{
    client_conn_catch_signals ();
    int rc = client_conn_exit_code (s_run (argc, argv));
    fflush (stdout);
    return rc;
}

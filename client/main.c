//  main.c: `pychat`, the scriptable command-line client.
//
//  Reads the global options and the environment, then runs one command
//  (client_cmd.h). Exit codes: 0 ok, 1 usage, 2 refused, 3 unreachable or
//  timed out, 4 input rejected.
#include "client_cmd.h"
#include "client_conn.h"
#include "client_seal.h"
#include "client_session.h"
#include "client_ui.h"
#include "client_ui_xfer.h"
#include "client_xfer.h"
#include "pc_config.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <pwd.h>
#include <unistd.h>

typedef int (command_fn) (client_opts_t *opts, int argc, char **argv);

static const struct {
    const char *name;
    command_fn *run;
} s_commands [] = {
    { "register", client_cmd_register },
    { "send",     client_cmd_send },
    { "listen",   client_cmd_listen },
    { "rooms",    client_cmd_rooms },
    { "who",      client_cmd_who },
    { "ping",     client_cmd_ping },
    { "history",  client_cmd_history },
    { "dm",       client_cmd_dm },
    { "trust",    client_cmd_trust },
    { "fingerprint", client_cmd_fingerprint },
    { "admin",    client_cmd_admin },
    { "passwd",   client_cmd_passwd },
    { "delete-account", client_cmd_delete_account },
    { "create-room", client_cmd_create_room },
    { "invite",   client_cmd_invite },
    { "put",      client_cmd_put },
    { "files",    client_cmd_files },
    { "get",      client_cmd_get },
    { "rm",       client_cmd_rm },
};
#define COMMANDS (sizeof (s_commands) / sizeof (s_commands [0]))

static const char *
s_env (const char *name)
{
    const char *value = getenv (name);
    return value && *value? value: NULL;
}

//  Takes the value of "--name VALUE" or "--name=VALUE" at argv [*i];
//  NULL when argv [*i] is another option, "" when the value is missing.
static const char *
s_option (const char *name, int argc, char **argv, int *i)
{
    size_t len = strlen (name);
    const char *arg = argv [*i];
    if (strncmp (arg, name, len) != 0)
        return NULL;
    if (arg [len] == '=')
        return arg + len + 1;
    if (arg [len] != 0)
        return NULL;
    if (*i + 1 >= argc)
        return "";
    return argv [++*i];
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

static int
s_bad_usage (const char *what, const char *arg)
{
    fprintf (stderr, "pychat: %s%s%s\n", what, arg? " ": "", arg? arg: "");
    client_cmd_usage (stderr);
    return PC_EXIT_USAGE;
}

static int
s_run (int argc, char **argv)
{
    const char *server = s_env ("PYCHAT_SERVER");
    const char *server_key = s_env ("PYCHAT_SERVER_KEY");
    const char *user = s_env ("PYCHAT_USER");
    const char *timeout = NULL;
    int i = 1;
    for (; i < argc && strncmp (argv [i], "-", 1) == 0; i++) {
        const char *value;
        if (streq (argv [i], "--selftest")) {
            //  The client modules' own tests (make test runs them)
            bool verbose = i + 1 < argc && streq (argv [i + 1], "-v");
            client_seal_test (verbose);
            client_session_test (verbose);
            client_xfer_test (verbose);
            client_ui_test (verbose);
            client_ui_xfer_test (verbose);
            return PC_EXIT_OK;
        }
        if (streq (argv [i], "--help") || streq (argv [i], "-h")) {
            client_cmd_usage (stdout);
            return PC_EXIT_OK;
        }
        if (streq (argv [i], "--"))  {
            i++;
            break;
        }
        if ((value = s_option ("--server-key", argc, argv, &i)))
            server_key = value;
        else
        if ((value = s_option ("--server", argc, argv, &i)))
            server = value;
        else
        if ((value = s_option ("--user", argc, argv, &i)))
            user = value;
        else
        if ((value = s_option ("--timeout", argc, argv, &i)))
            timeout = value;
        else
            return s_bad_usage ("unknown option", argv [i]);
        if (!*value)
            return s_bad_usage ("a value is missing after", argv [i]);
    }
    //  No command: the full-screen client on a terminal, else the usage.
    bool full_screen = i >= argc && isatty (0) && isatty (1);
    if (i >= argc && !full_screen) {
        client_cmd_usage (stdout);
        return PC_EXIT_OK;
    }
    const char *command = full_screen? "": argv [i];
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
    opts.timeout_ms = 5000;
    if (timeout) {
        char *end;
        double seconds = strtod (timeout, &end);
        if (*end || !(seconds > 0) || seconds > 86400)
            return s_bad_usage ("--timeout needs a positive number of seconds, not", timeout);
        opts.timeout_ms = (int) (seconds * 1000 + 0.5);
        if (opts.timeout_ms < 1)
            opts.timeout_ms = 1;
        opts.timeout_given = true;
    }
    pc_config_t config;
    if (pc_config_load (&config) == -1)
        return PC_EXIT_USAGE;
    char default_server [64];
    snprintf (default_server, sizeof (default_server), "tcp://127.0.0.1:%d", config.base_port);
    opts.server = server? server: default_server;

    char *key_from_file = NULL;
    if (server_key) {
        if (!pc_keys_valid_z85 (server_key)) {
            fprintf (stderr, "pychat: the server key must be 40 characters of Z85 "
                             "(--server-key or PYCHAT_SERVER_KEY)\n");
            return PC_EXIT_USAGE;
        }
        opts.server_key = server_key;
    }
    else
        opts.server_key = key_from_file = pc_keys_public (config.data_dir, "broker");

    char name [PC_NAME_MAX + 1];
    int rc = 0;
    if (user) {
        if (strlen (user) > PC_NAME_MAX) {
            fprintf (stderr, "pychat: bad user name: at most %d characters\n", PC_NAME_MAX);
            rc = PC_EXIT_REJECTED;
        }
        else {
            snprintf (name, sizeof (name), "%s", user);
            pc_name_fold (name);
            if (pc_name_valid (name))
                opts.user = name;
            else {
                char safe [64];
                client_conn_sanitize (user, safe, sizeof (safe));
                fprintf (stderr, "pychat: bad user name '%s': use 1-%d of a-z 0-9 _ -\n",
                         safe, PC_NAME_MAX);
                rc = PC_EXIT_REJECTED;
            }
        }
    }
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
    int rc = s_run (argc, argv);
    fflush (stdout);
    return rc;
}

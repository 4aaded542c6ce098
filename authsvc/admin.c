//  pychat-admin: account administration on the server host.
//
//  Uses the admin key from $PYCHAT_DATA/keys (only someone with access to
//  the server's data folder has it): no account needed. create-admin talks
//  to the auth service directly (no broker needed: this is how the first
//  admin is made); ban, unban and users go through the broker, which acts on
//  them at once (a ban ends the user's open sessions).
#include "pc_config.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_msg.h"
#include "pc_service.h"
#include "pc_util.h"

#include <getopt.h>
#include <termios.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: pychat-admin COMMAND | --help | --version\n"
        "  create-admin NAME    create NAME as an admin, or make an existing NAME an admin\n"
        "                       (password from PYCHAT_PASSWORD, else asked)\n"
        "  users                list the accounts\n"
        "  ban NAME | unban NAME\n"
        "configuration: PYCHAT_DATA (keys), PYCHAT_PORT / PYCHAT_AUTHSVC (the auth service)\n");
}

//  Reads a password without echo from the terminal; 0 or -1.
static int
s_ask (const char *prompt, char *buffer, size_t size)
{
    FILE *tty = fopen ("/dev/tty", "r+");
    if (!tty)
        return -1;
    struct termios saved, quiet;
    tcgetattr (fileno (tty), &saved);
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t) ECHO;
    tcsetattr (fileno (tty), TCSAFLUSH, &quiet);
    fprintf (tty, "%s", prompt);
    fflush (tty);
    char *line = fgets (buffer, (int) size, tty);
    tcsetattr (fileno (tty), TCSAFLUSH, &saved);
    fprintf (tty, "\n");
    fclose (tty);
    if (!line)
        return -1;
    buffer [strcspn (buffer, "\r\n")] = 0;
    return 0;
}

//  The commands: the request each sends, whether it takes a NAME, and
//  whether it goes through the broker (create-admin goes to the auth
//  service: that is how the first admin is made, with no broker needed).
typedef struct {
    const char *name;
    const char *request;
    bool        takes_name;
    bool        via_broker;
} command_t;

static const command_t s_commands [] = {
    { "create-admin", "MKADMIN", true, false },
    { "users", "USERS", false, true },
    { "ban", "BAN", true, true },
    { "unban", "UNBAN", true, true }
};

//  Options, then COMMAND [NAME] into *command_p and name. -1 to go on,
//  else the exit code.
static int
s_arguments (int argc, char *argv [], const command_t **command_p, char *name, size_t size)
{
    static const struct option longs [] = {
        { "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    opterr = 0;
    int code;
    //  "+": options only before the command (a NAME may start with '-')
    while ((code = getopt_long (argc, argv, "+:hV", longs, NULL)) != -1) {
        if (code == 'h') {
            s_usage (stdout);
            return PC_EXIT_OK;
        }
        if (code == 'V')
            return pc_service_version ("pychat-admin");
        return pc_service_bad_option ("pychat-admin", code, argv);
    }
    if (optind >= argc)
        return pc_service_usage_error ("pychat-admin", "which command?");
    const command_t *command = NULL;
    for (size_t i = 0; i < sizeof (s_commands) / sizeof (s_commands [0]); i++)
        if (streq (s_commands [i].name, argv [optind]))
            command = &s_commands [i];
    if (!command)
        return pc_service_usage_error ("pychat-admin", "unknown command '%s'", argv [optind]);
    if (argc - optind != (command->takes_name? 2: 1))
        return pc_service_usage_error ("pychat-admin", "%s takes %s", command->name,
                                       command->takes_name? "one NAME": "no argument");
    *command_p = command;
    if (command->takes_name) {
        const char *given = argv [optind + 1];
        snprintf (name, size, "%s", given);
        pc_name_fold (name);
        if (strlen (given) > PC_NAME_MAX || !pc_name_valid (name)) {
            fprintf (stderr, "pychat-admin: a name is 1-32 of a-z 0-9 _ -\n");
            return PC_EXIT_REJECTED;
        }
    }
    return -1;
}

//  The password for create-admin: PYCHAT_PASSWORD, else asked twice on the
//  terminal. 0, or the exit code (message printed).
static int
s_password (char *password, size_t size)
{
    const char *env = getenv ("PYCHAT_PASSWORD");
    if (env && *env)
        snprintf (password, size, "%s", env);
    else {
        char again [PC_SECRET_MAX + 2];
        if (s_ask ("password: ", password, size) == -1
        ||  s_ask ("again: ", again, sizeof (again)) == -1) {
            fprintf (stderr, "pychat-admin: no password (set PYCHAT_PASSWORD or run on a terminal)\n");
            return PC_EXIT_USAGE;
        }
        bool same = streq (password, again);
        memset (again, 0, sizeof (again));
        if (!same) {
            fprintf (stderr, "pychat-admin: the passwords differ\n");
            return PC_EXIT_REJECTED;
        }
    }
    if (!*password) {
        fprintf (stderr, "pychat-admin: the password is empty\n");
        return PC_EXIT_REJECTED;
    }
    return 0;
}

//  Sends the request, prints the answer. The exit code.
static int
s_call (const command_t *command, const char *endpoint, zsock_t *dealer, const char *name,
        char *password)
{
    pc_msg_t *request = pc_msg_new (command->request);
    pc_msg_set_reqid (request, "a1");
    if (command->takes_name)
        pc_msg_add (request, name);
    if (*password)
        pc_msg_add (request, password);
    pc_msg_send (request, dealer);
    pc_msg_destroy (&request);
    pc_msg_t *reply = pc_msg_new (NULL);
    int rc = PC_EXIT_OK;
    if (pc_msg_recv (reply, dealer) != 0) {
        fprintf (stderr, "pychat-admin: no answer from the %s at %s\n",
                 command->via_broker? "broker": "auth service", endpoint);
        rc = PC_EXIT_UNREACHABLE;
    }
    else
    if (pc_msg_is (reply, "ERROR")) {
        fprintf (stderr, "pychat-admin: %s\n", pc_msg_error_reason (reply));
        rc = pc_error_exit (pc_msg_error_code (reply));
    }
    else
    if (!command->takes_name)
        for (size_t i = 0; i < pc_msg_nfields (reply); i++)
            printf ("%s\n", pc_msg_field (reply, i));
    else
        printf ("%s: done\n", command->name);
    pc_msg_destroy (&reply);
    return rc;
}

int
main (int argc, char *argv [])
{
    const command_t *command = NULL;
    char name [PC_NAME_MAX + 1] = "";
    int rc = s_arguments (argc, argv, &command, name, sizeof (name));
    if (rc != -1)
        return rc;
    pc_config_t config;
    if (pc_config_load (&config) == -1)
        return PC_EXIT_USAGE;
    zsys_init ();
    zsys_set_logstream (stderr);
    zcert_t *cert = pc_keys_load (config.keys_dir, "admin");
    char *server_key = pc_keys_public (config.keys_dir, command->via_broker? "broker": "authsvc");
    if (!cert || !server_key) {
        fprintf (stderr, "pychat-admin: no keys in %s: start the stack once (make up) first\n",
                 config.keys_dir);
        zcert_destroy (&cert);
        zstr_free (&server_key);
        return PC_EXIT_UNREACHABLE;
    }
    char password [PC_SECRET_MAX + 2] = "";
    rc = command->via_broker? 0: s_password (password, sizeof (password));
    //  The broker, or the first auth service endpoint
    char endpoint [512];
    if (command->via_broker)
        snprintf (endpoint, sizeof (endpoint), "tcp://%s:%d", config.broker_host,
                  config.base_port + PC_OFF_BROKER);
    else {
        snprintf (endpoint, sizeof (endpoint), "%s", config.authsvc);
        endpoint [strcspn (endpoint, ",")] = 0;
    }
    if (rc == 0) {
        zsock_t *dealer = pc_keys_client (ZMQ_DEALER, cert, server_key);
        zsock_set_rcvtimeo (dealer, 10000);
        zsock_connect (dealer, "%s", endpoint);
        rc = s_call (command, endpoint, dealer, name, password);
        zsock_destroy (&dealer);
    }
    memset (password, 0, sizeof (password));
    zcert_destroy (&cert);
    zstr_free (&server_key);
    return rc;
}

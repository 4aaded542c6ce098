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
#include "pc_util.h"

#include <termios.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: pychat-admin COMMAND\n"
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

int
main (int argc, char *argv [])
{
    if (argc < 2 || streq (argv [1], "-h") || streq (argv [1], "--help")) {
        s_usage (argc < 2? stderr: stdout);
        return argc < 2? PC_EXIT_USAGE: PC_EXIT_OK;
    }
    const char *command = argv [1];
    bool takes_name = streq (command, "create-admin") || streq (command, "ban")
                   || streq (command, "unban");
    if (!(takes_name || streq (command, "users")) || (takes_name && argc != 3)
    ||  (!takes_name && argc != 2)) {
        s_usage (stderr);
        return PC_EXIT_USAGE;
    }
    char name [PC_NAME_MAX + 1] = "";
    if (takes_name) {
        snprintf (name, sizeof (name), "%s", argv [2]);
        pc_name_fold (name);
        if (strlen (argv [2]) > PC_NAME_MAX || !pc_name_valid (name)) {
            fprintf (stderr, "pychat-admin: a name is 1-32 of a-z 0-9 _ -\n");
            return PC_EXIT_REJECTED;
        }
    }
    pc_config_t config;
    if (pc_config_load (&config) == -1)
        return PC_EXIT_USAGE;
    zsys_init ();
    zsys_set_logstream (stderr);
    zcert_t *cert = pc_keys_load (config.keys_dir, "admin");
    bool via_broker = !streq (command, "create-admin");
    char *server_key = pc_keys_public (config.keys_dir, via_broker? "broker": "authsvc");
    if (!cert || !server_key) {
        fprintf (stderr, "pychat-admin: no keys in %s: start the stack once (make up) first\n",
                 config.keys_dir);
        zcert_destroy (&cert);
        zstr_free (&server_key);
        return PC_EXIT_UNREACHABLE;
    }
    char password [PC_SECRET_MAX + 2] = "";
    if (streq (command, "create-admin")) {
        const char *env = getenv ("PYCHAT_PASSWORD");
        if (env && *env)
            snprintf (password, sizeof (password), "%s", env);
        else {
            char again [sizeof (password)];
            if (s_ask ("password: ", password, sizeof (password)) == -1
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
    }
    //  The broker, or the first auth service endpoint
    char endpoint [512];
    if (via_broker)
        snprintf (endpoint, sizeof (endpoint), "tcp://%s:%d", config.broker_host,
                  config.base_port + PC_OFF_BROKER);
    else {
        snprintf (endpoint, sizeof (endpoint), "%s", config.authsvc);
        endpoint [strcspn (endpoint, ",")] = 0;
    }

    zsock_t *dealer = pc_keys_client (ZMQ_DEALER, cert, server_key);
    zsock_set_rcvtimeo (dealer, 10000);
    zsock_connect (dealer, "%s", endpoint);

    pc_msg_t *request = pc_msg_new (streq (command, "create-admin")? "MKADMIN":
                                    streq (command, "ban")? "BAN":
                                    streq (command, "unban")? "UNBAN": "USERS");
    pc_msg_set_reqid (request, "a1");
    if (takes_name)
        pc_msg_add (request, name);
    if (streq (command, "create-admin"))
        pc_msg_add (request, password);
    memset (password, 0, sizeof (password));
    pc_msg_send (request, dealer);
    pc_msg_destroy (&request);
    pc_msg_t *reply = pc_msg_new (NULL);
    int rc = PC_EXIT_OK;
    if (pc_msg_recv (reply, dealer) != 0) {
        fprintf (stderr, "pychat-admin: no answer from the %s at %s\n",
                 via_broker? "broker": "auth service", endpoint);
        rc = PC_EXIT_UNREACHABLE;
    }
    else
    if (pc_msg_is (reply, "ERROR")) {
        fprintf (stderr, "pychat-admin: %s\n", pc_msg_error_reason (reply));
        rc = pc_error_exit (pc_msg_error_code (reply));
    }
    else
    if (streq (command, "users"))
        for (size_t i = 0; i < pc_msg_nfields (reply); i++)
            printf ("%s\n", pc_msg_field (reply, i));
    else
        printf ("%s: done\n", command);
    pc_msg_destroy (&reply);
    zsock_destroy (&dealer);
    zcert_destroy (&cert);
    zstr_free (&server_key);
    return rc;
}

//  client_cmd.c: register, send, listen, history, dm, trust, fingerprint,
//  rooms, who, ping.
#include "client_cmd.h"
#include "client_conn.h"
#include "client_dm.h"
#include "client_listen.h"
#include "client_seal.h"
#include "client_state.h"
#include "client_xfer.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#define TRY_MS              1000        //  one try of a SEND or DM before resending
#define LOGIN_TRY_MS        3000        //  one try of LOGIN (a password hash on the way)
#define RETRY_PAUSE_MS      100         //  after a refusal that says "try again"
#define SEND_TIMEOUT_MS     10000       //  send and dm, without --timeout
#define HISTORY_DEFAULT     50

//  What a connected command holds; s_close frees it all.
typedef struct {
    zcert_t       *cert;
    client_conn_t *conn;
    char           password [PC_SECRET_MAX + 2];
} session_t;

void
client_cmd_usage (FILE *stream)
{
    fprintf (stream,
        "usage: pychat [GLOBAL OPTIONS] COMMAND [ARGS]\n"
        "\n"
        "commands:\n"
        "  register                      create the account --user with a password\n"
        "  send ROOM TEXT...             join ROOM and send TEXT; prints the message id\n"
        "                                (resent until the broker confirms it, at most\n"
        "                                --timeout, default 10 s)\n"
        CLIENT_LISTEN_USAGE
        "  history ROOM [--limit N] [--since ID] [--json]\n"
        "                                print the last N (default 50) messages of ROOM,\n"
        "                                or the N after message ID\n"
        "  dm USER TEXT...               send USER a direct message, sealed end to end\n"
        "                                for USER's device; prints the message id\n"
        "  fingerprint [USER]            the fingerprint of your device key, or of USER's\n"
        "  trust USER                    accept USER's current key (after comparing its\n"
        "                                fingerprint with USER out of band)\n"
        "  rooms [--json]                list the rooms with members and messages\n"
        "  who ROOM [--json]             list the members of ROOM\n"
        "  ping                          check that the broker answers\n"
        "  passwd                        change your password (old: PYCHAT_PASSWORD or\n"
        "                                asked; new: PYCHAT_NEW_PASSWORD or asked)\n"
        "  delete-account                delete your account (asks for the password)\n"
        "  create-room ROOM [--invite-only]\n"
        "                                claim a new room; an invite-only room admits\n"
        "                                its creator, the invited and admins\n"
        "  invite ROOM USER              invite USER (the room's creator or an admin)\n"
        "  put ROOM FILE [--as NAME]     share FILE in ROOM (an interrupted upload resumes)\n"
        "  put --to USER FILE [--as NAME]\n"
        "                                share FILE with USER alone, encrypted end to end;\n"
        "                                USER gets a direct message saying so\n"
        "  files ROOM [--json]           the files of ROOM: name, size, who, when, SHA-256\n"
        "  files --with USER [--json]    the files you and USER share privately\n"
        "  get ROOM NAME [DEST] [--force]\n"
        "  get --with USER NAME [DEST] [--force]\n"
        "                                download NAME to DEST (default ./NAME), checked\n"
        "                                against its SHA-256; an interrupted room download\n"
        "                                resumes from DEST.part, a private one starts over\n"
        "  rm ROOM NAME, rm --with USER NAME\n"
        "                                remove a file you shared (admins: any file)\n"
        "                                (--from and --to mean the same as --with)\n"
        "  admin users [--json]          (admins) accounts: role, created, last seen, banned\n"
        "  admin ban USER | admin unban USER\n"
        "                                (admins) a ban ends USER's sessions at once\n"
        "  admin kick ROOM USER          (admins, or the room's creator) remove USER\n"
        "  admin delete USER             (admins) delete the account\n"
        "  admin reset-password USER     (admins) new password: PYCHAT_NEW_PASSWORD or asked\n"
        "  help                          this text\n"
        "\n"
        "global options (before the command):\n"
        "  --server tcp://HOST:PORT      broker (PYCHAT_SERVER; default tcp://127.0.0.1:$PYCHAT_PORT)\n"
        "  --server-key Z85              broker public key (PYCHAT_SERVER_KEY; default\n"
        "                                the text of $PYCHAT_DATA/broker.pub)\n"
        "  --user NAME                   account name (PYCHAT_USER)\n"
        "  --timeout SECONDS             wait for each reply (default 5)\n"
        "\n"
        "The password comes from PYCHAT_PASSWORD, else it is asked on the terminal.\n"
        "This device's key lives in $PYCHAT_HOME (default ~/.config/pychat); it is also\n"
        "your direct-message key. $PYCHAT_HOME/state/USER/ holds where listen stopped,\n"
        "$PYCHAT_HOME/peers/ the keys of the people you wrote to (trust on first use),\n"
        "$PYCHAT_HOME/uploads/USER/ the key of an unfinished private upload (0600).\n"
        "\n"
        "exit codes: 0 ok, 1 usage, 2 authentication or permission refused,\n"
        "            3 server unreachable or timed out, 4 input rejected\n");
}

int
client_cmd_usage_error (const char *format, const char *arg)
{
    fprintf (stderr, "pychat: ");
    fprintf (stderr, format, arg);
    fprintf (stderr, " (pychat --help lists the commands and options)\n");
    return PC_EXIT_USAGE;
}

//  Folds a room name as typed into out; PC_EXIT_REJECTED when it is bad.
static int
s_room_arg (const char *arg, char *out, size_t size)
{
    char safe [80];
    if (strlen (arg) >= size) {
        client_conn_sanitize (arg, safe, sizeof (safe));
        fprintf (stderr, "pychat: bad room name '%s': at most %d characters\n", safe, PC_NAME_MAX);
        return PC_EXIT_REJECTED;
    }
    snprintf (out, size, "%s", arg);
    pc_name_fold (out);
    if (!pc_name_valid (out)) {
        client_conn_sanitize (arg, safe, sizeof (safe));
        fprintf (stderr, "pychat: bad room name '%s': use 1-%d of a-z 0-9 _ -\n", safe, PC_NAME_MAX);
        return PC_EXIT_REJECTED;
    }
    return 0;
}

//  Reads one line from the terminal without echo into buffer. 0 ok, -1
//  when there is no terminal or the read failed (message printed).
static int
s_ask_password (const char *prompt, char *buffer, size_t size)
{
    int fd = open ("/dev/tty", O_RDWR | O_NOCTTY);
    if (fd == -1) {
        fprintf (stderr, "pychat: no password: set PYCHAT_PASSWORD or run on a terminal\n");
        return -1;
    }
    FILE *tty = fdopen (fd, "r+");
    if (!tty) {
        close (fd);
        fprintf (stderr, "pychat: cannot read the password from the terminal\n");
        return -1;
    }
    struct termios saved, quiet;
    bool restore = tcgetattr (fd, &saved) == 0;
    if (restore) {
        quiet = saved;
        quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        tcsetattr (fd, TCSAFLUSH, &quiet);
    }
    fputs (prompt, tty);
    fflush (tty);
    char *line = fgets (buffer, (int) size, tty);
    if (restore)
        tcsetattr (fd, TCSAFLUSH, &saved);
    fputs ("\n", tty);
    fclose (tty);
    if (!line) {
        buffer [0] = 0;
        fprintf (stderr, "pychat: %s\n", client_conn_interrupted ()? "interrupted": "no password given");
        return -1;
    }
    buffer [strcspn (buffer, "\r\n")] = 0;
    return 0;
}

//  Fills session->password from PYCHAT_PASSWORD or the terminal (asked
//  twice when confirm). 0 or an exit code.
static int
s_get_password (session_t *session, const char *user, bool confirm)
{
    const char *env = getenv ("PYCHAT_PASSWORD");
    char *password = session->password;
    if (env && *env) {
        if (strlen (env) > PC_SECRET_MAX) {
            fprintf (stderr, "pychat: the password is longer than %d bytes\n", PC_SECRET_MAX);
            return PC_EXIT_REJECTED;
        }
        snprintf (password, sizeof (session->password), "%s", env);
        return 0;
    }
    char prompt [80];
    snprintf (prompt, sizeof (prompt), "%s for %s: ", confirm? "New password": "Password", user);
    if (s_ask_password (prompt, password, sizeof (session->password)) == -1)
        return PC_EXIT_USAGE;
    if (strlen (password) > PC_SECRET_MAX) {
        fprintf (stderr, "pychat: the password is longer than %d bytes\n", PC_SECRET_MAX);
        return PC_EXIT_REJECTED;
    }
    if (!*password) {
        fprintf (stderr, "pychat: the password is empty\n");
        return PC_EXIT_REJECTED;
    }
    if (confirm) {
        char again [PC_SECRET_MAX + 2];
        int rc = s_ask_password ("Repeat the password: ", again, sizeof (again));
        bool same = rc == 0 && streq (again, password);
        memset (again, 0, sizeof (again));
        if (rc == -1)
            return PC_EXIT_USAGE;
        if (!same) {
            fprintf (stderr, "pychat: the two passwords differ\n");
            return PC_EXIT_REJECTED;
        }
    }
    return 0;
}

//  Everything a command needs before its first request: server key, user
//  and password (when need_user), device key, the DEALER. 0 or exit code.
static int
s_open (client_opts_t *opts, session_t *session, bool need_user, bool confirm)
{
    memset (session, 0, sizeof (*session));
    if (!opts->server_key) {
        fprintf (stderr, "pychat: no server key: set PYCHAT_SERVER_KEY, use --server-key, "
                         "or put broker.pub in $PYCHAT_DATA\n");
        return PC_EXIT_UNREACHABLE;
    }
    if (need_user) {
        if (!opts->user) {
            fprintf (stderr, "pychat: no user name: use --user NAME or set PYCHAT_USER\n");
            return PC_EXIT_USAGE;
        }
        int rc = s_get_password (session, opts->user, confirm);
        if (rc)
            return rc;
    }
    //  The device key stays in PYCHAT_HOME (mode 0600); each process talks
    //  over a key of its own, so that a `send` in one terminal is a session
    //  apart from a `listen` in another (the broker's session is one key).
    zcert_t *device = pc_keys_ensure (opts->home, "device");
    if (!device) {
        fprintf (stderr, "pychat: cannot create or read the device key in %s: %s\n",
                 opts->home, strerror (errno));
        return PC_EXIT_USAGE;
    }
    zcert_destroy (&device);
    session->cert = zcert_new ();
    session->conn = client_conn_new (opts->server, opts->server_key, session->cert, opts->timeout_ms);
    if (!session->conn)
        return PC_EXIT_USAGE;
    return 0;
}

static void
s_close (session_t *session)
{
    if (session->conn)
        client_conn_logout (session->conn);     //  only when logged in
    client_conn_destroy (&session->conn);
    zcert_destroy (&session->cert);
    sodium_memzero (session->password, sizeof (session->password));
}

//  LOGIN, then publish the device key when the server does not hold it
//  (PROTOCOL.md, "Direct messages"). 0 or an exit code.
static int
s_login (client_opts_t *opts, session_t *session)
{
    int rc = client_conn_login (session->conn, opts->user, session->password);
    if (rc)
        return rc;
    client_dm_keys_t keys;
    rc = client_dm_device_load (opts->home, &keys);
    if (rc == 0)
        rc = client_dm_publish (session->conn, opts->user, &keys);
    client_dm_keys_clear (&keys);
    return rc;
}

//  One try of request: 0 with *reply_p OK; 1 when it is worth trying again
//  (no reply, 503, or 403 "log in first": the broker restarted and the
//  login is forgotten); else an exit code (message printed).
static int
s_try (client_conn_t *conn, const char *what, pc_msg_t *request, pc_msg_t **reply_p)
{
    int rc = client_conn_request (conn, request, reply_p);
    if (rc == CLIENT_INTERRUPTED)
        return rc;
    if (rc)
        return 1;
    if (pc_msg_is (*reply_p, "OK"))
        return 0;
    int code = pc_msg_error_code (*reply_p);
    if (code == PC_ERR_UNAVAILABLE
    || (code == PC_ERR_FORBIDDEN && streq (pc_msg_error_reason (*reply_p), "log in first"))) {
        if (code == PC_ERR_FORBIDDEN)
            client_conn_forget_login (conn);
        pc_msg_destroy (reply_p);
        return 1;
    }
    char reason [256];
    client_conn_sanitize (pc_msg_error_reason (*reply_p), reason, sizeof (reason));
    int exit_code = pc_error_exit (code);
    fprintf (stderr, "pychat: %s %s: %s\n", what,
             exit_code == PC_EXIT_REJECTED? "rejected": "refused", *reason? reason: pc_error_name (code));
    pc_msg_destroy (reply_p);
    return exit_code;
}

//  Sends request (which carries a client message id) until the broker
//  answers OK or opts->timeout_ms passes: each try waits TRY_MS, then the
//  SAME request (same client message id: the broker stores it once) goes
//  again, after LOGIN and JOIN room (when room) whenever the session was
//  lost. 0 with *reply_p OK, else an exit code (message printed).
static int
s_reliable (client_opts_t *opts, session_t *session, const char *what, const char *room,
            pc_msg_t *request, pc_msg_t **reply_p)
{
    client_conn_t *conn = session->conn;
    client_conn_set_quiet (conn, true);
    int64_t deadline = zclock_mono () + opts->timeout_ms;
    bool joined = false;
    int rc = 1;
    while (rc == 1) {
        if (client_conn_interrupted ())
            return CLIENT_INTERRUPTED;
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            break;
        if (!client_conn_logged_in (conn)) {
            client_conn_set_timeout (conn, (int) (left < LOGIN_TRY_MS? left: LOGIN_TRY_MS));
            rc = s_login (opts, session);
            if (rc == PC_EXIT_UNREACHABLE) {
                client_conn_forget_login (conn);
                zclock_sleep (RETRY_PAUSE_MS);
                rc = 1;
                continue;
            }
            if (rc)
                return rc;
            joined = false;
            rc = 1;
        }
        left = deadline - zclock_mono ();
        client_conn_set_timeout (conn, (int) (left < TRY_MS? (left > 0? left: 1): TRY_MS));
        if (room && !joined) {
            pc_msg_t *join = pc_msg_new ("JOIN");
            pc_msg_add (join, room);
            pc_msg_t *reply = NULL;
            char join_what [64];
            snprintf (join_what, sizeof (join_what), "join #%s", room);
            rc = s_try (conn, join_what, join, &reply);
            pc_msg_destroy (&join);
            pc_msg_destroy (&reply);
            if (rc == 1)
                continue;
            if (rc)
                return rc;
            joined = true;
            rc = 1;
        }
        rc = s_try (conn, what, request, reply_p);
        if (rc == 1 && !client_conn_logged_in (conn))
            continue;                       //  log in again at once
        if (rc == 1)
            zclock_sleep (10);
    }
    if (rc == 1) {
        fprintf (stderr, "pychat: no reply from %s within %g s (is the broker running?)\n",
                 opts->server, opts->timeout_ms / 1000.0);
        rc = PC_EXIT_UNREACHABLE;
    }
    return rc;
}

//  Joins the words of argv [first..] with spaces into text and checks it
//  as the protocol's text type. 0, or PC_EXIT_REJECTED (message printed).
static int
s_text_args (int argc, char **argv, int first, pc_buf_t *text)
{
    pc_buf_init (text);
    for (int i = first; i < argc; i++) {
        if (i > first)
            pc_buf_append (text, " ", 1);
        pc_buf_append (text, argv [i], strlen (argv [i]));
    }
    if (text->size == 0)
        fprintf (stderr, "pychat: the text is empty\n");
    else
    if (text->size > PC_TEXT_MAX)
        fprintf (stderr, "pychat: text is %zu bytes; the limit is %d\n", text->size, PC_TEXT_MAX);
    else
    if (!pc_utf8_valid (text->data, text->size))
        fprintf (stderr, "pychat: the text is not valid UTF-8 or holds control characters\n");
    else
        return 0;
    return PC_EXIT_REJECTED;
}

//  Prints the message id of a SEND/DM reply. 0 or an exit code.
static int
s_print_id (pc_msg_t *reply, const char *what)
{
    const char *id = pc_msg_field (reply, 0);
    char safe [PC_ID_MAX + 1];
    client_conn_sanitize (id? id: "", safe, sizeof (safe));
    if (!*safe) {
        fprintf (stderr, "pychat: malformed %s reply (no message id)\n", what);
        return PC_EXIT_UNREACHABLE;
    }
    printf ("%s\n", safe);
    return client_listen_flush_stdout ();
}

//  A random client message id, new for each invocation.
static void
s_new_cmid (char *cmid, size_t size)
{
    uint8_t bytes [16];
    randombytes_buf (bytes, sizeof (bytes));
    sodium_bin2hex (cmid, size, bytes, sizeof (bytes));
}

//  A request interrupted by a signal: the command did not complete.
static int
s_finish (int rc)
{
    if (rc == CLIENT_INTERRUPTED) {
        fprintf (stderr, "pychat: interrupted\n");
        return PC_EXIT_UNREACHABLE;
    }
    return rc;
}

//  --------------------------------------------------------------------------

int
client_cmd_register (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 1)
        return client_cmd_usage_error ("register takes no arguments (the name is --user)%s", "");
    session_t session;
    int rc = s_open (opts, &session, true, true);
    if (rc == 0) {
        pc_msg_t *request = pc_msg_new ("REGISTER");
        pc_msg_add (request, opts->user);
        pc_msg_add (request, session.password);
        pc_msg_t *reply = NULL;
        rc = client_conn_call (session.conn, "register", request, &reply);
        pc_msg_destroy (&request);
        pc_msg_destroy (&reply);
        //  Log in once, so that the device key is published: others can
        //  write to the new account from now on.
        if (rc == 0)
            rc = s_login (opts, &session);
        if (rc == 0) {
            printf ("registered %s\n", opts->user);
            rc = client_listen_flush_stdout ();
        }
    }
    s_close (&session);
    return s_finish (rc);
}

int
client_cmd_send (client_opts_t *opts, int argc, char **argv)
{
    if (argc < 3)
        return client_cmd_usage_error ("send needs a room and a text%s", "");
    char room [PC_NAME_MAX + 1];
    int rc = s_room_arg (argv [1], room, sizeof (room));
    if (rc)
        return rc;
    pc_buf_t text;
    if (s_text_args (argc, argv, 2, &text)) {
        pc_buf_free (&text);
        return PC_EXIT_REJECTED;
    }
    if (!opts->timeout_given)
        opts->timeout_ms = SEND_TIMEOUT_MS;
    session_t session;
    rc = s_open (opts, &session, true, false);
    if (rc == 0) {
        char cmid [33];
        s_new_cmid (cmid, sizeof (cmid));
        pc_msg_t *request = pc_msg_new ("SEND");
        pc_msg_add (request, room);
        pc_msg_add (request, cmid);
        pc_msg_add (request, text.data);
        pc_msg_t *reply = NULL;
        rc = s_reliable (opts, &session, "send", room, request, &reply);
        pc_msg_destroy (&request);
        if (rc == 0)
            rc = s_print_id (reply, "SEND");
        pc_msg_destroy (&reply);
    }
    pc_buf_free (&text);
    s_close (&session);
    return s_finish (rc);
}

int
client_cmd_listen (client_opts_t *opts, int argc, char **argv)
{
    session_t session;
    memset (&session, 0, sizeof (session));
    //  Usage errors first: no password is asked for a listen that cannot run
    for (int i = 1; i < argc; i++)
        if (streq (argv [i], "--help"))
            return client_cmd_usage_error ("listen: see the usage%s", "");
    int rc = s_open (opts, &session, true, false);
    if (rc == 0) {
        //  listen opens its own connections (it reconnects); it only needs
        //  the password, kept in session until the end.
        client_conn_destroy (&session.conn);
        rc = client_listen_run (opts, session.password, argc, argv);
    }
    s_close (&session);
    return rc == CLIENT_INTERRUPTED? PC_EXIT_OK: rc;
}

//  --------------------------------------------------------------------------
//  history

typedef struct {
    const char *room;
    bool        json;
} history_t;

static int
s_history_record (void *arg, uint64_t id, const char **fields)
{
    history_t *self = (history_t *) arg;
    client_listen_print_msg (self->json, fields [0], self->room, fields [1], fields [2], fields [3]);
    return 0;
}

int
client_cmd_history (client_opts_t *opts, int argc, char **argv)
{
    history_t self = { NULL, false };
    char room [PC_NAME_MAX + 1] = "";
    long limit = HISTORY_DEFAULT;
    bool since_given = false;
    uint64_t since = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        char *end;
        if (streq (arg, "--json"))
            self.json = true;
        else
        if (streq (arg, "--limit")) {
            if (i + 1 >= argc)
                return client_cmd_usage_error ("--limit needs a number%s", "");
            errno = 0;
            limit = strtol (argv [++i], &end, 10);
            if (!*argv [i] || *end || errno || limit < 1)
                return client_cmd_usage_error ("--limit needs a positive number, not '%s'", argv [i]);
        }
        else
        if (streq (arg, "--since")) {
            if (i + 1 >= argc)
                return client_cmd_usage_error ("--since needs a message id%s", "");
            errno = 0;
            since = strtoull (argv [++i], &end, 10);
            if (!*argv [i] || *end || errno || argv [i][0] == '-')
                return client_cmd_usage_error ("--since needs a message id (a number), not '%s'", argv [i]);
            since_given = true;
        }
        else
        if (strncmp (arg, "--", 2) == 0)
            return client_cmd_usage_error ("unknown history option '%s'", arg);
        else
        if (*room)
            return client_cmd_usage_error ("history takes one room, not also '%s'", arg);
        else {
            int rc = s_room_arg (arg, room, sizeof (room));
            if (rc)
                return rc;
        }
    }
    if (!*room)
        return client_cmd_usage_error ("history needs a room%s", "");
    self.room = room;
    session_t session;
    int rc = s_open (opts, &session, true, false);
    if (rc == 0)
        rc = s_login (opts, &session);
    //  Reading a room's history is for its members (PROTOCOL.md): join it
    //  for this session, which ends with the command.
    if (rc == 0)
        rc = client_conn_join (session.conn, room);
    if (rc == 0) {
        if (since_given)
            rc = client_listen_fetch (session.conn, room, since, limit, s_history_record, &self);
        else
            rc = client_listen_latest (session.conn, room, limit, s_history_record, &self);
        int out = client_listen_flush_stdout ();
        if (rc == 0)
            rc = out;
    }
    s_close (&session);
    return s_finish (rc);
}

//  --------------------------------------------------------------------------
//  dm, trust, fingerprint

//  Folds a user name as typed into out; PC_EXIT_REJECTED when it is bad.
static int
s_user_arg (const char *arg, char *out, size_t size)
{
    char safe [80];
    client_conn_sanitize (arg, safe, sizeof (safe));
    if (strlen (arg) >= size) {
        fprintf (stderr, "pychat: bad user name '%s': at most %d characters\n", safe, PC_NAME_MAX);
        return PC_EXIT_REJECTED;
    }
    snprintf (out, size, "%s", arg);
    pc_name_fold (out);
    if (!pc_name_valid (out)) {
        fprintf (stderr, "pychat: bad user name '%s': use 1-%d of a-z 0-9 _ -\n", safe, PC_NAME_MAX);
        return PC_EXIT_REJECTED;
    }
    return 0;
}

//  GETKEY user, reporting "no key yet". 0 with z85 set, or an exit code.
static int
s_peer_key (client_conn_t *conn, const char *user, char *z85)
{
    int rc = client_dm_getkey (conn, user, z85);
    if (rc == 1) {
        fprintf (stderr, "pychat: %s has no key yet (they must log in once)\n", user);
        rc = PC_EXIT_REFUSED;
    }
    return rc;
}

int
client_cmd_dm (client_opts_t *opts, int argc, char **argv)
{
    if (argc < 3)
        return client_cmd_usage_error ("dm needs a user and a text%s", "");
    char peer [PC_NAME_MAX + 1];
    int rc = s_user_arg (argv [1], peer, sizeof (peer));
    if (rc)
        return rc;
    pc_buf_t text;
    if (s_text_args (argc, argv, 2, &text)) {
        pc_buf_free (&text);
        return PC_EXIT_REJECTED;
    }
    if (!opts->timeout_given)
        opts->timeout_ms = SEND_TIMEOUT_MS;
    session_t session;
    client_dm_keys_t keys;
    memset (&keys, 0, sizeof (keys));
    char *box = NULL;
    rc = s_open (opts, &session, true, false);
    if (rc == 0)
        rc = s_login (opts, &session);
    char server_key [CLIENT_DM_Z85] = "";
    if (rc == 0)
        rc = client_dm_peer_key (session.conn, opts->home, peer, server_key);
    if (rc == 0)
        rc = client_dm_device_load (opts->home, &keys);
    if (rc == 0) {
        uint8_t recipient [CLIENT_DM_KEY];
        if (client_dm_z85_decode (server_key, recipient))
            box = client_dm_seal (text.data, text.size, recipient, keys.secret_key);
        if (!box) {
            fprintf (stderr, "pychat: cannot seal for %s: their published key is not usable\n", peer);
            rc = PC_EXIT_REFUSED;
        }
    }
    client_dm_keys_clear (&keys);
    sodium_memzero (text.data, text.size);
    if (rc == 0) {
        char cmid [33];
        s_new_cmid (cmid, sizeof (cmid));
        pc_msg_t *request = pc_msg_new ("DM");
        pc_msg_add (request, peer);
        pc_msg_add (request, cmid);
        pc_msg_add (request, box);
        pc_msg_t *reply = NULL;
        rc = s_reliable (opts, &session, "dm", NULL, request, &reply);
        pc_msg_destroy (&request);
        if (rc == 0)
            rc = s_print_id (reply, "DM");
        pc_msg_destroy (&reply);
    }
    free (box);
    pc_buf_free (&text);
    s_close (&session);
    return s_finish (rc);
}

int
client_cmd_trust (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 2)
        return client_cmd_usage_error ("trust needs one user%s", "");
    char peer [PC_NAME_MAX + 1];
    int rc = s_user_arg (argv [1], peer, sizeof (peer));
    if (rc)
        return rc;
    session_t session;
    rc = s_open (opts, &session, true, false);
    if (rc == 0)
        rc = s_login (opts, &session);
    char key [CLIENT_DM_Z85] = "";
    if (rc == 0)
        rc = s_peer_key (session.conn, peer, key);
    char finger [CLIENT_DM_FINGER];
    if (rc == 0 && !client_dm_fingerprint_z85 (key, finger))
        rc = PC_EXIT_UNREACHABLE;
    if (rc == 0 && client_dm_pin_save (opts->home, peer, key))
        rc = PC_EXIT_USAGE;
    if (rc == 0) {
        printf ("now trusting %s: %s\n", peer, finger);
        rc = client_listen_flush_stdout ();
    }
    s_close (&session);
    return s_finish (rc);
}

int
client_cmd_fingerprint (client_opts_t *opts, int argc, char **argv)
{
    if (argc > 2)
        return client_cmd_usage_error ("fingerprint takes at most one user%s", "");
    char finger [CLIENT_DM_FINGER];
    if (argc == 1) {
        client_dm_keys_t keys;
        int rc = client_dm_device_load (opts->home, &keys);
        if (rc)
            return rc;
        client_dm_fingerprint (keys.public_key, finger);
        client_dm_keys_clear (&keys);
        printf ("%s\n", finger);
        return client_listen_flush_stdout ();
    }
    char peer [PC_NAME_MAX + 1];
    int rc = s_user_arg (argv [1], peer, sizeof (peer));
    if (rc)
        return rc;
    session_t session;
    rc = s_open (opts, &session, true, false);
    if (rc == 0)
        rc = s_login (opts, &session);
    char key [CLIENT_DM_Z85] = "", pinned [CLIENT_DM_Z85] = "";
    if (rc == 0)
        rc = s_peer_key (session.conn, peer, key);
    if (rc == 0 && !client_dm_fingerprint_z85 (key, finger))
        rc = PC_EXIT_UNREACHABLE;
    if (rc == 0) {
        printf ("%s: %s\n", peer, finger);
        if (client_dm_pin_load (opts->home, peer, pinned) && !streq (pinned, key)
        &&  client_dm_fingerprint_z85 (pinned, finger))
            printf ("%s (pinned, differs): %s\n", peer, finger);
        rc = client_listen_flush_stdout ();
    }
    s_close (&session);
    return s_finish (rc);
}

//  --------------------------------------------------------------------------
//  rooms, who, ping

static bool
s_json_flag (int argc, char **argv, int first, int *bad)
{
    bool json = false;
    *bad = 0;
    for (int i = first; i < argc; i++)
        if (streq (argv [i], "--json"))
            json = true;
        else
            *bad = i;
    return json;
}

int
client_cmd_rooms (client_opts_t *opts, int argc, char **argv)
{
    int bad;
    bool json = s_json_flag (argc, argv, 1, &bad);
    if (bad)
        return client_cmd_usage_error ("rooms: unexpected argument '%s'", argv [bad]);
    session_t session;
    int rc = s_open (opts, &session, true, false);
    if (rc == 0)
        rc = s_login (opts, &session);
    pc_msg_t *reply = NULL;
    if (rc == 0) {
        pc_msg_t *request = pc_msg_new ("ROOMS");
        rc = client_conn_call (session.conn, "rooms", request, &reply);
        pc_msg_destroy (&request);
    }
    if (rc == 0) {
        size_t count = pc_msg_nfields (reply);
        char (*names) [PC_NAME_MAX + 1] = calloc (count + 1, sizeof (*names));
        long long *members = calloc (count + 1, sizeof (long long));
        long long *messages = calloc (count + 1, sizeof (long long));
        assert (names && members && messages);
        size_t rows = 0, skipped = 0, width = 0;
        for (size_t i = 0; i < count; i++) {
            char name [64], tail [2];
            long long m, n;
            if (sscanf (pc_msg_field (reply, i), "%63s %lld %lld %1s", name, &m, &n, tail) != 3
            ||  !pc_name_valid (name) || m < 0 || n < 0) {
                skipped++;
                continue;
            }
            snprintf (names [rows], sizeof (names [rows]), "%s", name);
            members [rows] = m;
            messages [rows] = n;
            if (strlen (name) > width)
                width = strlen (name);
            rows++;
        }
        if (json) {
            pc_buf_t out;
            pc_buf_init (&out);
            pc_buf_append (&out, "[", 1);
            for (size_t i = 0; i < rows; i++) {
                pc_buf_append (&out, i? ",{\"name\":": "{\"name\":", i? 9: 8);
                pc_buf_json_str (&out, names [i]);
                pc_buf_printf (&out, ",\"members\":%lld,\"messages\":%lld}", members [i], messages [i]);
            }
            pc_buf_append (&out, "]\n", 2);
            fwrite (out.data, 1, out.size, stdout);
            pc_buf_free (&out);
        }
        else
            for (size_t i = 0; i < rows; i++)
                printf ("%-*s  %lld member%s  %lld message%s\n", (int) width, names [i],
                        members [i], members [i] == 1? "": "s",
                        messages [i], messages [i] == 1? "": "s");
        rc = client_listen_flush_stdout ();
        if (skipped)
            fprintf (stderr, "pychat: ignored %zu malformed room entr%s from the server\n",
                     skipped, skipped == 1? "y": "ies");
        free (names);
        free (members);
        free (messages);
    }
    pc_msg_destroy (&reply);
    s_close (&session);
    return s_finish (rc);
}

int
client_cmd_who (client_opts_t *opts, int argc, char **argv)
{
    int bad;
    bool json = s_json_flag (argc, argv, 2, &bad);
    if (argc < 2 || streq (argv [1], "--json"))
        return client_cmd_usage_error ("who needs a room%s", "");
    if (bad)
        return client_cmd_usage_error ("who: unexpected argument '%s'", argv [bad]);
    char room [PC_NAME_MAX + 1];
    int rc = s_room_arg (argv [1], room, sizeof (room));
    if (rc)
        return rc;
    session_t session;
    rc = s_open (opts, &session, true, false);
    if (rc == 0)
        rc = s_login (opts, &session);
    pc_msg_t *reply = NULL;
    if (rc == 0) {
        pc_msg_t *request = pc_msg_new ("WHO");
        pc_msg_add (request, room);
        char what [64];
        snprintf (what, sizeof (what), "who #%s", room);
        rc = client_conn_call (session.conn, what, request, &reply);
        pc_msg_destroy (&request);
    }
    if (rc == 0) {
        pc_buf_t out;
        pc_buf_init (&out);
        if (json)
            pc_buf_append (&out, "[", 1);
        size_t shown = 0;
        for (size_t i = 0; i < pc_msg_nfields (reply); i++) {
            const char *name = pc_msg_field (reply, i);
            if (!pc_name_valid (name))
                continue;           //  names only: nothing else reaches the terminal
            if (json) {
                if (shown)
                    pc_buf_append (&out, ",", 1);
                pc_buf_json_str (&out, name);
            }
            else
                pc_buf_printf (&out, "%s\n", name);
            shown++;
        }
        if (json)
            pc_buf_append (&out, "]\n", 2);
        fwrite (out.data, 1, out.size, stdout);
        pc_buf_free (&out);
        rc = client_listen_flush_stdout ();
    }
    pc_msg_destroy (&reply);
    s_close (&session);
    return s_finish (rc);
}

int
client_cmd_ping (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 1)
        return client_cmd_usage_error ("ping takes no arguments%s", "");
    session_t session;
    int rc = s_open (opts, &session, false, false);
    if (rc == 0) {
        pc_msg_t *request = pc_msg_new ("PING");
        pc_msg_t *reply = NULL;
        int64_t start = zclock_usecs ();
        rc = client_conn_call (session.conn, "ping", request, &reply);
        int64_t elapsed = zclock_usecs () - start;
        if (rc == 0) {
            printf ("pong from %s in %.1f ms\n", client_conn_endpoint (session.conn), elapsed / 1000.0);
            rc = client_listen_flush_stdout ();
        }
        pc_msg_destroy (&request);
        pc_msg_destroy (&reply);
    }
    s_close (&session);
    return s_finish (rc);
}

//  --------------------------------------------------------------------------
//  Accounts and moderation (PROTOCOL.md, "Accounts, roles and moderation")

//  Reads a new password from PYCHAT_NEW_PASSWORD, else asks twice on the
//  terminal. 0 or an exit code.
static int
s_new_password (char *buffer, size_t size)
{
    const char *env = getenv ("PYCHAT_NEW_PASSWORD");
    if (env && *env)
        snprintf (buffer, size, "%s", env);
    else {
        char again [PC_SECRET_MAX + 2];
        if (s_ask_password ("New password: ", buffer, size) == -1
        ||  s_ask_password ("Repeat the new password: ", again, sizeof (again)) == -1)
            return PC_EXIT_USAGE;
        bool same = streq (buffer, again);
        sodium_memzero (again, sizeof (again));
        if (!same) {
            fprintf (stderr, "pychat: the two passwords differ\n");
            return PC_EXIT_REJECTED;
        }
    }
    if (!*buffer || strlen (buffer) > PC_SECRET_MAX) {
        fprintf (stderr, "pychat: the new password must be 1-%d bytes\n", PC_SECRET_MAX);
        return PC_EXIT_REJECTED;
    }
    return 0;
}

//  Logs in, sends command with up to three fields, prints done on success
//  (unless NULL). With reply_p, hands the OK reply back instead.
static int
s_account_call (client_opts_t *opts, const char *what, const char *command,
                const char *a, const char *b, const char *c, const char *done,
                pc_msg_t **reply_p)
{
    session_t session;
    int rc = s_open (opts, &session, true, false);
    if (rc == 0)
        rc = s_login (opts, &session);
    pc_msg_t *reply = NULL;
    if (rc == 0) {
        pc_msg_t *request = pc_msg_new (command);
        const char *fields [] = { a, b, c };
        for (size_t i = 0; i < 3 && fields [i]; i++)
            pc_msg_add (request, fields [i]);
        rc = client_conn_call (session.conn, what, request, &reply);
        pc_msg_destroy (&request);
    }
    if (rc == 0 && done)
        printf ("%s\n", done);
    if (rc == 0 && reply_p)
        *reply_p = reply;
    else
        pc_msg_destroy (&reply);
    //  After DELETEME or a ban of ourselves the session is gone: no LOGOUT
    if (streq (command, "DELETEME"))
        client_conn_forget_login (session.conn);
    s_close (&session);
    if (rc == 0)
        rc = client_listen_flush_stdout ();
    return s_finish (rc);
}

static int
s_admin_users (client_opts_t *opts, bool json)
{
    pc_msg_t *reply = NULL;
    int rc = s_account_call (opts, "users", "USERS", NULL, NULL, NULL, NULL, &reply);
    if (rc)
        return rc;
    pc_buf_t out;
    pc_buf_init (&out);
    if (json)
        pc_buf_append (&out, "[", 1);
    size_t shown = 0;
    for (size_t i = 0; i < pc_msg_nfields (reply); i++) {
        char name [64], role [16], tail [2];
        long long created, last_login;
        int banned;
        if (sscanf (pc_msg_field (reply, i), "%63s %15s %lld %lld %d %1s", name, role,
                    &created, &last_login, &banned, tail) != 5 || !pc_name_valid (name))
            continue;
        if (json) {
            pc_buf_append (&out, shown? ",{\"name\":": "{\"name\":", shown? 9: 8);
            pc_buf_json_str (&out, name);
            pc_buf_append (&out, ",\"role\":", 8);
            pc_buf_json_str (&out, role);
            pc_buf_printf (&out, ",\"created\":%lld,\"last_seen\":%lld,\"banned\":%s}",
                           created, last_login, banned? "true": "false");
        }
        else {
            char seen [32] = "never";
            if (last_login > 0) {
                time_t when = (time_t) (last_login / 1000);
                strftime (seen, sizeof (seen), "%Y-%m-%d %H:%M", localtime (&when));
            }
            time_t made = (time_t) (created / 1000);
            char made_txt [32];
            strftime (made_txt, sizeof (made_txt), "%Y-%m-%d", localtime (&made));
            pc_buf_printf (&out, "%-20s %-6s created %s  last seen %-16s%s\n", name, role,
                           made_txt, seen, banned? "  BANNED": "");
        }
        shown++;
    }
    if (json)
        pc_buf_append (&out, "]\n", 2);
    fwrite (out.data, 1, out.size, stdout);
    pc_buf_free (&out);
    pc_msg_destroy (&reply);
    return client_listen_flush_stdout ();
}

int
client_cmd_admin (client_opts_t *opts, int argc, char **argv)
{
    if (argc < 2)
        return client_cmd_usage_error ("admin needs a subcommand (users, ban, unban, kick, delete, "
                              "reset-password)%s", "");
    const char *sub = argv [1];
    char user [PC_NAME_MAX + 1], room [PC_NAME_MAX + 1];
    int rc;
    if (streq (sub, "users")) {
        bool json = argc == 3 && streq (argv [2], "--json");
        if (argc > 3 || (argc == 3 && !json))
            return client_cmd_usage_error ("admin users [--json]%s", "");
        return s_admin_users (opts, json);
    }
    if (streq (sub, "kick")) {
        if (argc != 4)
            return client_cmd_usage_error ("admin kick ROOM USER%s", "");
        if ((rc = s_room_arg (argv [2], room, sizeof (room))) || (rc = s_user_arg (argv [3], user, sizeof (user))))
            return rc;
        return s_account_call (opts, "kick", "KICK", room, user, NULL, "kicked", NULL);
    }
    if (argc != 3)
        return client_cmd_usage_error ("admin %s USER", sub);
    if ((rc = s_user_arg (argv [2], user, sizeof (user))))
        return rc;
    if (streq (sub, "ban"))
        return s_account_call (opts, "ban", "BAN", user, NULL, NULL, "banned", NULL);
    if (streq (sub, "unban"))
        return s_account_call (opts, "unban", "UNBAN", user, NULL, NULL, "unbanned", NULL);
    if (streq (sub, "delete"))
        return s_account_call (opts, "delete", "DELUSER", user, NULL, NULL, "deleted", NULL);
    if (streq (sub, "reset-password")) {
        char password [PC_SECRET_MAX + 2];
        rc = s_new_password (password, sizeof (password));
        if (rc == 0)
            rc = s_account_call (opts, "reset-password", "RESETPW", user, password, NULL,
                                 "password reset", NULL);
        sodium_memzero (password, sizeof (password));
        return rc;
    }
    return client_cmd_usage_error ("unknown admin subcommand '%s'", sub);
}

int
client_cmd_passwd (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 1)
        return client_cmd_usage_error ("passwd takes no arguments%s", "");
    char password [PC_SECRET_MAX + 2];
    int rc = s_new_password (password, sizeof (password));
    if (rc == 0) {
        //  The old password is the login password (PYCHAT_PASSWORD or asked)
        session_t probe;
        memset (&probe, 0, sizeof (probe));
        rc = s_get_password (&probe, opts->user? opts->user: "?", false);
        if (rc == 0)
            rc = s_account_call (opts, "passwd", "PASSWD", probe.password, password, NULL,
                                 "password changed", NULL);
        sodium_memzero (probe.password, sizeof (probe.password));
    }
    sodium_memzero (password, sizeof (password));
    return rc;
}

int
client_cmd_delete_account (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 1)
        return client_cmd_usage_error ("delete-account takes no arguments%s", "");
    session_t probe;
    memset (&probe, 0, sizeof (probe));
    int rc = s_get_password (&probe, opts->user? opts->user: "?", false);
    if (rc == 0)
        rc = s_account_call (opts, "delete-account", "DELETEME", probe.password, NULL, NULL,
                             "account deleted", NULL);
    sodium_memzero (probe.password, sizeof (probe.password));
    return rc;
}

int
client_cmd_create_room (client_opts_t *opts, int argc, char **argv)
{
    bool invite_only = argc == 3 && streq (argv [2], "--invite-only");
    if (argc < 2 || argc > 3 || (argc == 3 && !invite_only))
        return client_cmd_usage_error ("create-room ROOM [--invite-only]%s", "");
    char room [PC_NAME_MAX + 1];
    int rc = s_room_arg (argv [1], room, sizeof (room));
    if (rc)
        return rc;
    return s_account_call (opts, "create-room", "CREATE", room,
                           invite_only? "invite-only": "open", NULL, "room created", NULL);
}

int
client_cmd_invite (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 3)
        return client_cmd_usage_error ("invite ROOM USER%s", "");
    char room [PC_NAME_MAX + 1], user [PC_NAME_MAX + 1];
    int rc = s_room_arg (argv [1], room, sizeof (room));
    if (rc == 0)
        rc = s_user_arg (argv [2], user, sizeof (user));
    if (rc)
        return rc;
    return s_account_call (opts, "invite", "INVITE", room, user, NULL, "invited", NULL);
}

//  --------------------------------------------------------------------------
//  Files: put, files, get, rm (PROTOCOL.md, "File sharing")
//
//  Each logs in like the other commands, joins the room (membership is per
//  session, and the file service asks the broker whether this session may
//  use the space) or fetches the other user's pinned key, asks the broker
//  FILES for the file service, and lets client_xfer talk to it with the
//  session's own certificate.

#define FILES_PING_MS       10000       //  the broker forgets a session silent for 60 s

typedef struct {
    char        room [PC_NAME_MAX + 1];
    char        peer [PC_NAME_MAX + 1];     //  --with, --from, --to
    char        space [PC_NAME_MAX + 2];    //  "room" or "@peer"
    const char *as;
    bool        json;
    bool        force;
    const char *args [3];                   //  what follows ROOM
    int         nargs;
} file_args_t;

//  What a file command holds while it runs.
typedef struct {
    session_t      session;
    client_xfer_t *xfer;
    client_xfer_keys_t keys;                //  private spaces
    bool           private_;
    int64_t        next_ping;
    bool           tty;                     //  stderr is a terminal: show progress
    bool           line_open;               //  a progress line is on it now
    const char    *label;                   //  the file, for the progress line
    client_xfer_phase_t phase;
    int64_t        phase_at;
    uint64_t       phase_from;
} files_t;

//  Reads the arguments of a file command: ROOM or --with USER (--from,
//  --to), then min_args to max_args more (as the synopsis says); options
//  allows "as", "json", "force".
static int
s_file_args (int argc, char **argv, const char *options, int min_args, int max_args,
             const char *synopsis, file_args_t *self)
{
    memset (self, 0, sizeof (*self));
    const char *command = argv [0];
    const char *positional [8];
    int count = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        const char *value = NULL;
        size_t len = strcspn (arg, "=");
        bool with = (len == 6 && (strncmp (arg, "--with", 6) == 0 || strncmp (arg, "--from", 6) == 0))
                 || (len == 4 && strncmp (arg, "--to", 4) == 0);
        bool as = len == 4 && strncmp (arg, "--as", 4) == 0 && strstr (options, "as");
        if (with || as) {
            if (arg [len] == '=')
                value = arg + len + 1;
            else
            if (i + 1 < argc)
                value = argv [++i];
            if (!value || !*value)
                return client_cmd_usage_error ("%s needs a value", arg);
            if (as)
                self->as = value;
            else {
                if (*self->peer)
                    return client_cmd_usage_error ("%s: one --with USER at most", command);
                int rc = s_user_arg (value, self->peer, sizeof (self->peer));
                if (rc)
                    return rc;
            }
        }
        else
        if (streq (arg, "--json") && strstr (options, "json"))
            self->json = true;
        else
        if (streq (arg, "--force") && strstr (options, "force"))
            self->force = true;
        else
        if (strncmp (arg, "--", 2) == 0 && arg [2])
            return client_cmd_usage_error ("unknown option '%s'", arg);
        else {
            if (streq (arg, "--") && i + 1 < argc)
                arg = argv [++i];           //  a file whose name starts with -
            if (count == 8)
                return client_cmd_usage_error ("%s: too many arguments", command);
            positional [count++] = arg;
        }
    }
    int first = 0;
    if (!*self->peer) {
        if (count == 0)
            return client_cmd_usage_error ("usage: %s", synopsis);
        int rc = s_room_arg (positional [0], self->room, sizeof (self->room));
        if (rc)
            return rc;
        snprintf (self->space, sizeof (self->space), "%s", self->room);
        first = 1;
    }
    else
        snprintf (self->space, sizeof (self->space), "@%s", self->peer);
    if (count - first < min_args || count - first > max_args)
        return client_cmd_usage_error ("usage: %s", synopsis);
    for (int i = first; i < count; i++)
        self->args [self->nargs++] = positional [i];
    return 0;
}

//  A file name as given: 0, or PC_EXIT_REJECTED after one line.
static int
s_file_name_arg (const char *name, const char *hint)
{
    const char *why = NULL;
    if (pc_file_name_check (name, strlen (name), &why) == 0)
        return 0;
    char safe [300];
    client_conn_sanitize (name, safe, sizeof (safe));
    fprintf (stderr, "pychat: bad file name '%s': %s%s\n", safe, why, hint);
    return PC_EXIT_REJECTED;
}

//  Ends the progress line, so that what comes next starts a line of its own.
static void
s_files_line_end (files_t *self)
{
    if (self->line_open) {
        fputs ("\r\033[K", stderr);
        fflush (stderr);
        self->line_open = false;
    }
}

static void
s_files_progress (void *arg, client_xfer_phase_t phase, uint64_t done, uint64_t total)
{
    files_t *self = (files_t *) arg;
    if (!self->tty)
        return;
    int64_t now = zclock_mono ();
    if (phase != self->phase || !self->phase_at) {
        self->phase = phase;
        self->phase_at = now;
        self->phase_from = done;
    }
    char done_txt [32], total_txt [32], rate_txt [32] = "";
    client_xfer_size_text (done, done_txt, sizeof (done_txt));
    client_xfer_size_text (total, total_txt, sizeof (total_txt));
    double seconds = (now - self->phase_at) / 1000.0;
    if (seconds > 0.5 && done > self->phase_from) {
        client_xfer_size_text ((uint64_t) ((done - self->phase_from) / seconds), rate_txt,
                               sizeof (rate_txt));
        strcat (rate_txt, "/s");
    }
    const char *what = phase == CLIENT_XFER_HASH? "checking": phase == CLIENT_XFER_SEND?
                       "uploading": "downloading";
    char label [64];
    client_conn_sanitize (self->label, label, sizeof (label));
    fprintf (stderr, "\r\033[K%s %s: %3d%%  %s of %s  %s", what, label,
             total? (int) (done * 100 / total): 100, done_txt, total_txt, rate_txt);
    fflush (stderr);
    self->line_open = true;
}

static void
s_files_note (void *arg, const char *text)
{
    files_t *self = (files_t *) arg;
    s_files_line_end (self);
    fprintf (stderr, "pychat: %s\n", text);
}

//  Keeps the broker session alive during a long transfer (the file
//  service asks the broker about this session's key).
static int
s_files_tick (void *arg)
{
    files_t *self = (files_t *) arg;
    int64_t now = zclock_mono ();
    if (now >= self->next_ping) {
        client_conn_drain (self->session.conn);
        client_conn_ping_async (self->session.conn);
        self->next_ping = now + FILES_PING_MS;
    }
    return 0;
}

//  Logs in, joins the room or pins the peer's key, finds the file service.
//  0 or an exit code (one line printed).
static int
s_files_open (client_opts_t *opts, file_args_t *args, files_t *self, const char *label)
{
    memset (self, 0, sizeof (*self));
    self->tty = isatty (STDERR_FILENO);
    self->label = label;
    self->private_ = *args->peer != 0;
    if (self->private_ && opts->user && streq (args->peer, opts->user)) {
        fprintf (stderr, "pychat: private files are shared with another user, not with yourself\n");
        return PC_EXIT_REJECTED;
    }
    int rc = s_open (opts, &self->session, true, false);
    if (rc == 0)
        rc = s_login (opts, &self->session);
    client_conn_t *conn = self->session.conn;
    if (rc == 0 && !self->private_)
        rc = client_conn_join (conn, args->room);
    if (rc == 0 && self->private_) {
        char z85 [CLIENT_DM_Z85];
        client_dm_keys_t device;
        rc = client_dm_peer_key (conn, opts->home, args->peer, z85);
        if (rc == 0 && !client_dm_z85_decode (z85, self->keys.peer_public)) {
            fprintf (stderr, "pychat: %s's published key is not usable\n", args->peer);
            rc = PC_EXIT_REFUSED;
        }
        if (rc == 0)
            rc = client_dm_device_load (opts->home, &device);
        if (rc == 0) {
            memcpy (self->keys.own_secret, device.secret_key, sizeof (self->keys.own_secret));
            snprintf (self->keys.pending_dir, sizeof (self->keys.pending_dir), "%s/uploads/%s",
                      opts->home, opts->user);
        }
        client_dm_keys_clear (&device);
    }
    pc_msg_t *reply = NULL;
    if (rc == 0) {
        pc_msg_t *request = pc_msg_new ("FILES");
        rc = client_conn_call (conn, "file sharing", request, &reply);
        pc_msg_destroy (&request);
    }
    if (rc == 0) {
        const char *port = pc_msg_field (reply, 0);
        const char *key = pc_msg_field (reply, 1);
        char why [300];
        self->xfer = client_xfer_new (client_conn_host (conn), port? atoi (port): 0, key? key: "",
                                      self->session.cert, opts->timeout_ms, why, sizeof (why));
        if (!self->xfer) {
            fprintf (stderr, "pychat: %s\n", why);
            rc = PC_EXIT_UNREACHABLE;
        }
    }
    pc_msg_destroy (&reply);
    if (self->xfer) {
        client_xfer_set_progress (self->xfer, s_files_progress, self);
        client_xfer_set_note (self->xfer, s_files_note, self);
        client_xfer_set_tick (self->xfer, s_files_tick, self);
        self->next_ping = zclock_mono () + FILES_PING_MS;
    }
    return rc;
}

//  What a client_xfer call returned: its failure is reported (one line).
static int
s_files_done (files_t *self, int rc)
{
    s_files_line_end (self);
    if (rc && rc != CLIENT_INTERRUPTED) {
        char line [600];
        client_conn_sanitize (client_xfer_error (self->xfer), line, sizeof (line));
        fprintf (stderr, "pychat: %s\n", line);
    }
    return rc;
}

//  Frees everything the command held; an interruption is reported.
static int
s_files_close (files_t *self, int rc)
{
    s_files_line_end (self);
    client_xfer_destroy (&self->xfer);
    sodium_memzero (&self->keys, sizeof (self->keys));
    s_close (&self->session);
    return s_finish (rc);
}

//  Tells peer about a private file with an ordinary (sealed) DM.
static int
s_files_tell (client_opts_t *opts, files_t *self, const char *peer, const char *name,
              uint64_t size)
{
    char *text = client_xfer_dm_text (opts->user, name, size);
    client_dm_keys_t device;
    int rc = client_dm_device_load (opts->home, &device);
    char *box = rc? NULL: client_dm_seal (text, strlen (text), self->keys.peer_public, device.secret_key);
    client_dm_keys_clear (&device);
    free (text);
    if (rc == 0 && !box) {
        fprintf (stderr, "pychat: cannot seal for %s: their published key is not usable\n", peer);
        rc = PC_EXIT_REFUSED;
    }
    if (rc == 0) {
        char cmid [33];
        s_new_cmid (cmid, sizeof (cmid));
        pc_msg_t *request = pc_msg_new ("DM");
        pc_msg_add (request, peer);
        pc_msg_add (request, cmid);
        pc_msg_add (request, box);
        pc_msg_t *reply = NULL;
        int timeout = opts->timeout_ms;
        if (!opts->timeout_given)
            opts->timeout_ms = SEND_TIMEOUT_MS;
        rc = s_reliable (opts, &self->session, "telling the recipient", NULL, request, &reply);
        opts->timeout_ms = timeout;
        pc_msg_destroy (&request);
        pc_msg_destroy (&reply);
    }
    free (box);
    return rc;
}

int
client_cmd_put (client_opts_t *opts, int argc, char **argv)
{
    file_args_t args;
    int rc = s_file_args (argc, argv, "as", 1, 1,
                          "pychat put ROOM FILE [--as NAME], or put --to USER FILE [--as NAME]", &args);
    if (rc)
        return rc;
    const char *path = args.args [0];
    const char *slash = strrchr (path, '/');
    const char *name = args.as? args.as: slash? slash + 1: path;
    rc = s_file_name_arg (name, args.as? "": " (use --as NAME)");
    if (rc)
        return rc;
    struct stat st;
    if (stat (path, &st) == -1 || access (path, R_OK) == -1) {
        char safe [300];
        client_conn_sanitize (path, safe, sizeof (safe));
        fprintf (stderr, "pychat: cannot read %s: %s\n", safe, strerror (errno));
        return PC_EXIT_USAGE;
    }
    if (!S_ISREG (st.st_mode)) {
        char safe [300];
        client_conn_sanitize (path, safe, sizeof (safe));
        fprintf (stderr, "pychat: %s is not a regular file\n", safe);
        return PC_EXIT_USAGE;
    }
    files_t files;
    rc = s_files_open (opts, &args, &files, name);
    client_xfer_file_t file;
    if (rc == 0)
        rc = s_files_done (&files, client_xfer_put (files.xfer, args.space, name, path,
                                                    files.private_? &files.keys: NULL, &file));
    if (rc == 0) {
        char size_txt [32], safe [300];
        client_xfer_size_text ((uint64_t) st.st_size, size_txt, sizeof (size_txt));
        client_conn_sanitize (name, safe, sizeof (safe));
        if (files.private_)
            printf ("sent %s (%s) to %s, encrypted end to end\n", safe, size_txt, args.peer);
        else
            printf ("shared %s (%s) in #%s, sha256 %s\n", safe, size_txt, args.room, file.sha256);
        rc = client_listen_flush_stdout ();
        if (rc == 0 && files.private_)
            rc = s_files_tell (opts, &files, args.peer, name, (uint64_t) st.st_size);
    }
    return s_files_close (&files, rc);
}

int
client_cmd_files (client_opts_t *opts, int argc, char **argv)
{
    file_args_t args;
    int rc = s_file_args (argc, argv, "json", 0, 0,
                          "pychat files ROOM [--json], or files --with USER [--json]", &args);
    if (rc)
        return rc;
    files_t files;
    rc = s_files_open (opts, &args, &files, "");
    client_xfer_file_t *list = NULL;
    size_t count = 0;
    if (rc == 0)
        rc = s_files_done (&files, client_xfer_list (files.xfer, args.space, &list, &count));
    if (rc == 0) {
        pc_buf_t out;
        pc_buf_init (&out);
        int width = 4;
        for (size_t i = 0; i < count; i++)
            if ((int) strlen (list [i].name) > width)
                width = (int) strlen (list [i].name) < 40? (int) strlen (list [i].name): 40;
        if (!args.json && count)
            pc_buf_printf (&out, "%-*s  %10s  %-*s  %-16s  %s\n", width, "NAME", "SIZE",
                           PC_NAME_MAX < 12? PC_NAME_MAX: 12, "FROM", "WHEN", "SHA-256");
        for (size_t i = 0; i < count; i++) {
            client_xfer_file_t *file = &list [i];
            //  A private file is stored sealed: show what its owner shared
            uint64_t size = files.private_? client_seal_plain_size (file->size): file->size;
            if (size == UINT64_MAX)
                size = file->size;
            if (args.json) {
                pc_buf_append (&out, "{\"name\":", 8);
                pc_buf_json_str (&out, file->name);
                pc_buf_printf (&out, ",\"size\":%" PRIu64 ",\"from\":", size);
                pc_buf_json_str (&out, file->from);
                pc_buf_printf (&out, ",\"time\":%" PRId64 ",\"sha256\":\"%s\"", file->time, file->sha256);
                if (files.private_)
                    pc_buf_printf (&out, ",\"encrypted\":true,\"stored_size\":%" PRIu64, file->size);
                pc_buf_append (&out, "}\n", 2);
            }
            else {
                char name [PC_FILE_NAME_MAX + 1], size_txt [32], when [32];
                client_conn_sanitize (file->name, name, sizeof (name));
                client_xfer_size_text (size, size_txt, sizeof (size_txt));
                time_t seconds = (time_t) (file->time / 1000);
                strftime (when, sizeof (when), "%Y-%m-%d %H:%M", localtime (&seconds));
                pc_buf_printf (&out, "%-*s  %10s  %-12s  %-16s  %s\n", width, name, size_txt,
                               file->from, when, files.private_? "(encrypted)": file->sha256);
            }
        }
        if (!args.json && count == 0)
            pc_buf_printf (&out, "no files shared %s%s\n", files.private_? "with ": "in #",
                           files.private_? args.peer: args.room);
        fwrite (out.data, 1, out.size, stdout);
        pc_buf_free (&out);
        rc = client_listen_flush_stdout ();
    }
    free (list);
    return s_files_close (&files, rc);
}

int
client_cmd_get (client_opts_t *opts, int argc, char **argv)
{
    file_args_t args;
    int rc = s_file_args (argc, argv, "force", 1, 2,
                          "pychat get ROOM NAME [DEST] [--force], or get --with USER NAME [DEST]", &args);
    if (rc)
        return rc;
    const char *name = args.args [0];
    rc = s_file_name_arg (name, "");
    if (rc)
        return rc;
    //  DEST: a path, or a directory to put NAME in; ./NAME by default.
    char dest [PATH_MAX];
    struct stat st;
    const char *given = args.nargs > 1? args.args [1]: NULL;
    if (given && stat (given, &st) == 0 && S_ISDIR (st.st_mode))
        snprintf (dest, sizeof (dest), "%s/%s", given, name);
    else
        snprintf (dest, sizeof (dest), "%s", given? given: name);
    char safe_dest [PATH_MAX];
    client_conn_sanitize (dest, safe_dest, sizeof (safe_dest));
    if (!args.force && lstat (dest, &st) == 0) {
        fprintf (stderr, "pychat: %s exists (use --force to replace it)\n", safe_dest);
        return PC_EXIT_USAGE;
    }
    files_t files;
    rc = s_files_open (opts, &args, &files, name);
    client_xfer_file_t file;
    if (rc == 0)
        rc = s_files_done (&files, client_xfer_get (files.xfer, args.space, name, dest, args.force,
                                                    files.private_? &files.keys: NULL, &file));
    if (rc == 0) {
        char size_txt [32], safe [300];
        client_xfer_size_text (file.size, size_txt, sizeof (size_txt));
        client_conn_sanitize (name, safe, sizeof (safe));
        printf ("saved %s to %s (%s from %s)\n", safe, safe_dest, size_txt, file.from);
        rc = client_listen_flush_stdout ();
    }
    return s_files_close (&files, rc);
}

int
client_cmd_rm (client_opts_t *opts, int argc, char **argv)
{
    file_args_t args;
    int rc = s_file_args (argc, argv, "", 1, 1,
                          "pychat rm ROOM NAME, or rm --with USER NAME", &args);
    if (rc)
        return rc;
    const char *name = args.args [0];
    rc = s_file_name_arg (name, "");
    if (rc)
        return rc;
    files_t files;
    rc = s_files_open (opts, &args, &files, name);
    if (rc == 0)
        rc = s_files_done (&files, client_xfer_rm (files.xfer, args.space, name));
    if (rc == 0) {
        char safe [300];
        client_conn_sanitize (name, safe, sizeof (safe));
        printf ("removed %s\n", safe);
        rc = client_listen_flush_stdout ();
    }
    return s_files_close (&files, rc);
}

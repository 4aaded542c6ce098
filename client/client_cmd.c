//  client_cmd.c: register, send, listen, rooms, who, ping.
#include "client_cmd.h"
#include "client_conn.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PING_INTERVAL_MS    10000       //  the broker drops sessions idle 60 s
#define ROOMS_MAX           64          //  rooms one listen may follow

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
        "  listen ROOM... [--count N] [--timeout SECONDS] [--json]\n"
        "                                print messages of the rooms as they arrive\n"
        "  rooms [--json]                list the rooms with members and messages\n"
        "  who ROOM [--json]             list the members of ROOM\n"
        "  ping                          check that the broker answers\n"
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
        "This device's key lives in $PYCHAT_HOME (default ~/.config/pychat).\n"
        "\n"
        "exit codes: 0 ok, 1 usage, 2 authentication or permission refused,\n"
        "            3 server unreachable or timed out, 4 input rejected\n");
}

static int
s_usage_error (const char *format, const char *arg)
{
    fprintf (stderr, "pychat: ");
    fprintf (stderr, format, arg);
    fprintf (stderr, "\n");
    client_cmd_usage (stderr);
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

//  Parses a positive number of seconds into milliseconds; -1 when bad.
static int
s_seconds_arg (const char *arg)
{
    char *end;
    errno = 0;
    double seconds = strtod (arg, &end);
    if (!*arg || *end || errno || !(seconds > 0) || seconds > 86400.0 * 365)
        return -1;
    int ms = (int) (seconds * 1000 + 0.5);
    return ms > 0? ms: 1;
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
    memset (session->password, 0, sizeof (session->password));
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

//  Reports a failed write to stdout; 0 when stdout is fine.
static int
s_check_stdout (void)
{
    if (fflush (stdout) == 0 && !ferror (stdout))
        return 0;
    if (errno != EPIPE)
        fprintf (stderr, "pychat: cannot write the output: %s\n", strerror (errno));
    return PC_EXIT_USAGE;
}

//  --------------------------------------------------------------------------

int
client_cmd_register (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 1)
        return s_usage_error ("register takes no arguments (the name is --user)%s", "");
    session_t session;
    int rc = s_open (opts, &session, true, true);
    if (rc == 0) {
        pc_msg_t *request = pc_msg_new ("REGISTER");
        pc_msg_add (request, opts->user);
        pc_msg_add (request, session.password);
        pc_msg_t *reply = NULL;
        rc = client_conn_call (session.conn, "register", request, &reply);
        pc_msg_destroy (&request);
        if (rc == 0) {
            printf ("registered %s\n", opts->user);
            rc = s_check_stdout ();
        }
        pc_msg_destroy (&reply);
    }
    s_close (&session);
    return s_finish (rc);
}

int
client_cmd_send (client_opts_t *opts, int argc, char **argv)
{
    if (argc < 3)
        return s_usage_error ("send needs a room and a text%s", "");
    char room [PC_NAME_MAX + 1];
    int rc = s_room_arg (argv [1], room, sizeof (room));
    if (rc)
        return rc;
    pc_buf_t text;
    pc_buf_init (&text);
    for (int i = 2; i < argc; i++) {
        if (i > 2)
            pc_buf_append (&text, " ", 1);
        pc_buf_append (&text, argv [i], strlen (argv [i]));
    }
    if (text.size == 0)
        fprintf (stderr, "pychat: the text is empty\n");
    else
    if (text.size > PC_TEXT_MAX)
        fprintf (stderr, "pychat: text is %zu bytes; the limit is %d\n", text.size, PC_TEXT_MAX);
    else
    if (!pc_utf8_valid (text.data, text.size))
        fprintf (stderr, "pychat: the text is not valid UTF-8 or holds control characters\n");
    else
        rc = -2;                    //  valid
    if (rc != -2) {
        pc_buf_free (&text);
        return PC_EXIT_REJECTED;
    }
    session_t session;
    rc = s_open (opts, &session, true, false);
    if (rc == 0)
        rc = client_conn_login (session.conn, opts->user, session.password);
    if (rc == 0)
        rc = client_conn_join (session.conn, room);
    if (rc == 0) {
        pc_msg_t *request = pc_msg_new ("SEND");
        pc_msg_add (request, room);
        zuuid_t *uuid = zuuid_new ();
        pc_msg_add (request, zuuid_str (uuid));         //  client message id
        zuuid_destroy (&uuid);
        pc_msg_add (request, text.data);
        pc_msg_t *reply = NULL;
        rc = client_conn_call (session.conn, "send", request, &reply);
        pc_msg_destroy (&request);
        if (rc == 0) {
            const char *id = pc_msg_field (reply, 0);
            char safe [PC_ID_MAX + 1];
            client_conn_sanitize (id? id: "", safe, sizeof (safe));
            if (*safe) {
                printf ("%s\n", safe);
                rc = s_check_stdout ();
            }
            else {
                fprintf (stderr, "pychat: malformed SEND reply (no message id)\n");
                rc = PC_EXIT_UNREACHABLE;
            }
        }
        pc_msg_destroy (&reply);
    }
    pc_buf_free (&text);
    s_close (&session);
    return s_finish (rc);
}

//  --------------------------------------------------------------------------
//  listen

typedef struct {
    client_conn_t *conn;            //  borrowed
    char   *rooms [ROOMS_MAX];
    size_t  nrooms;
    long    count;                  //  0: no limit
    int     timeout_ms;             //  0: no limit
    bool    json;
    long    received;
    long    malformed;
} listen_t;

//  Writes one MSG on stdout. 0, or 1 when the message is not one of ours.
static int
s_print_msg (listen_t *self, pc_msg_t *msg)
{
    const char *id = pc_msg_field (msg, 0);
    const char *room = pc_msg_field (msg, 1);
    const char *from = pc_msg_field (msg, 2);
    const char *ts_txt = pc_msg_field (msg, 3);
    const char *text = pc_msg_field (msg, 4);
    const char *topic = pc_msg_topic (msg);
    const char *expected = client_conn_topic (self->conn);
    bool ours = false;
    for (size_t i = 0; i < self->nrooms && !ours; i++)
        ours = streq (self->rooms [i], room);
    if (!ours || !topic || !streq (topic, expected))
        return 1;
    long long ts = strtoll (ts_txt, NULL, 10);
    if (self->json) {
        pc_buf_t line;
        pc_buf_init (&line);
        pc_buf_append (&line, "{\"id\":", 6);
        pc_buf_json_str (&line, id);
        pc_buf_append (&line, ",\"room\":", 8);
        pc_buf_json_str (&line, room);
        pc_buf_append (&line, ",\"from\":", 8);
        pc_buf_json_str (&line, from);
        pc_buf_printf (&line, ",\"ts\":%lld,\"text\":", ts);
        pc_buf_json_str (&line, text);
        pc_buf_append (&line, "}\n", 2);
        fwrite (line.data, 1, line.size, stdout);
        pc_buf_free (&line);
    }
    else {
        time_t seconds = (time_t) (ts / 1000);
        struct tm tm;
        char clock [16] = "??:??:??";
        if (localtime_r (&seconds, &tm))
            strftime (clock, sizeof (clock), "%H:%M:%S", &tm);
        //  The codec allows TAB and LF only: nothing can move the cursor.
        printf ("[%s] #%s <%s> %s\n", clock, room, from, text);
    }
    return 0;
}

static int
s_listen_args (listen_t *self, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        if (streq (arg, "--json"))
            self->json = true;
        else
        if (streq (arg, "--count")) {
            char *end;
            if (i + 1 >= argc)
                return s_usage_error ("--count needs a number%s", "");
            self->count = strtol (argv [++i], &end, 10);
            if (!*argv [i] || *end || self->count < 1)
                return s_usage_error ("--count needs a positive number, not '%s'", argv [i]);
        }
        else
        if (streq (arg, "--timeout")) {
            if (i + 1 >= argc)
                return s_usage_error ("--timeout needs a number of seconds%s", "");
            self->timeout_ms = s_seconds_arg (argv [++i]);
            if (self->timeout_ms == -1)
                return s_usage_error ("--timeout needs a positive number of seconds, not '%s'", argv [i]);
        }
        else
        if (strncmp (arg, "--", 2) == 0)
            return s_usage_error ("unknown listen option '%s'", arg);
        else {
            char room [PC_NAME_MAX + 1];
            int rc = s_room_arg (arg, room, sizeof (room));
            if (rc)
                return rc;
            bool seen = false;
            for (size_t r = 0; r < self->nrooms && !seen; r++)
                seen = streq (self->rooms [r], room);
            if (seen)
                continue;
            if (self->nrooms == ROOMS_MAX) {
                fprintf (stderr, "pychat: at most %d rooms at once\n", ROOMS_MAX);
                return PC_EXIT_REJECTED;
            }
            self->rooms [self->nrooms++] = strdup (room);
        }
    }
    if (self->nrooms == 0)
        return s_usage_error ("listen needs at least one room%s", "");
    return 0;
}

//  Receives until count, timeout or a signal. Returns the exit code.
static int
s_listen_loop (listen_t *self, client_conn_t *conn)
{
    zsock_t *dealer = client_conn_dealer (conn);
    zsock_t *sub = client_conn_sub (conn);
    zpoller_t *poller = zpoller_new (dealer, sub, NULL);
    assert (poller);
    pc_msg_t *msg = pc_msg_new (NULL);
    int64_t start = zclock_mono ();
    int64_t next_ping = start + PING_INTERVAL_MS;
    int64_t deadline = self->timeout_ms? start + self->timeout_ms: 0;
    int rc = PC_EXIT_OK;
    while (!client_conn_interrupted ()) {
        if (self->count && self->received >= self->count)
            break;
        int64_t now = zclock_mono ();
        if (deadline && now >= deadline) {
            if (self->count) {
                fprintf (stderr, "pychat: timed out after %g s with %ld of %ld messages\n",
                         self->timeout_ms / 1000.0, self->received, self->count);
                rc = PC_EXIT_UNREACHABLE;
            }
            break;
        }
        if (now >= next_ping) {
            client_conn_ping_async (conn);      //  if it would block, the next one goes
            next_ping = now + PING_INTERVAL_MS;
        }
        int64_t until = deadline && deadline < next_ping? deadline: next_ping;
        void *which = zpoller_wait (poller, (int) (until - now));
        if (which == dealer)
            client_conn_drain (conn);
        else
        if (which == sub) {
            int status = pc_msg_recv (msg, sub);
            if (status == -1)
                continue;
            if (status == -2 || !pc_msg_is (msg, "MSG") || s_print_msg (self, msg) != 0) {
                self->malformed++;
                continue;
            }
            self->received++;
            rc = s_check_stdout ();
            if (rc)
                break;
        }
    }
    pc_msg_destroy (&msg);
    zpoller_destroy (&poller);
    return rc;
}

int
client_cmd_listen (client_opts_t *opts, int argc, char **argv)
{
    listen_t self;
    memset (&self, 0, sizeof (self));
    int rc = s_listen_args (&self, argc, argv);
    session_t session;
    memset (&session, 0, sizeof (session));
    if (rc == 0)
        rc = s_open (opts, &session, true, false);
    if (rc == 0)
        rc = client_conn_login (session.conn, opts->user, session.password);
    for (size_t r = 0; r < self.nrooms && rc == 0; r++)
        rc = client_conn_join (session.conn, self.rooms [r]);
    if (rc == 0)
        rc = client_conn_subscribe (session.conn);
    if (rc == 0) {
        self.conn = session.conn;
        fputs ("ready\n", stderr);
        fflush (stderr);
        rc = s_listen_loop (&self, session.conn);
    }
    if (rc == CLIENT_INTERRUPTED)
        rc = PC_EXIT_OK;            //  a signal is how one stops listening
    s_close (&session);
    for (size_t r = 0; r < self.nrooms; r++)
        free (self.rooms [r]);
    return rc;
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
        return s_usage_error ("rooms: unexpected argument '%s'", argv [bad]);
    session_t session;
    int rc = s_open (opts, &session, true, false);
    if (rc == 0)
        rc = client_conn_login (session.conn, opts->user, session.password);
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
        rc = s_check_stdout ();
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
        return s_usage_error ("who needs a room%s", "");
    if (bad)
        return s_usage_error ("who: unexpected argument '%s'", argv [bad]);
    char room [PC_NAME_MAX + 1];
    int rc = s_room_arg (argv [1], room, sizeof (room));
    if (rc)
        return rc;
    session_t session;
    rc = s_open (opts, &session, true, false);
    if (rc == 0)
        rc = client_conn_login (session.conn, opts->user, session.password);
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
        rc = s_check_stdout ();
    }
    pc_msg_destroy (&reply);
    s_close (&session);
    return s_finish (rc);
}

int
client_cmd_ping (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 1)
        return s_usage_error ("ping takes no arguments%s", "");
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
            rc = s_check_stdout ();
        }
        pc_msg_destroy (&request);
        pc_msg_destroy (&reply);
    }
    s_close (&session);
    return s_finish (rc);
}

//  client_cmd.c: register, send, listen, history, dm, trust, fingerprint,
//  and the session plumbing every command uses (client_cmd_core.h).

#include "client_cmd_core.h"
#include "client_post.h"
#include "client_dm_kinds.h"

//  The text of pychat --help (data, not code: one string)
static const char s_usage [] =
        "usage: pychat [GLOBAL OPTIONS] COMMAND [ARGS]\n"
        "\n"
        "commands:\n"
        "  register                      create the account --user with a password\n"
        "  send ROOM TEXT...             join ROOM and send TEXT; prints the message id\n"
        "                                (resent until the broker confirms it, at most\n"
        "                                --timeout, default 10 s)\n"
        "  send ROOM --reply ID TEXT...  send TEXT as a reply to message ID of ROOM\n"
        "  edit ROOM ID TEXT...          replace the text of your message ID\n"
        "  delete ROOM ID                delete message ID (yours; the room's creator\n"
        "                                and admins: any), its text gone from the server\n"
        "  react ROOM ID EMOJI [--remove]\n"
        "                                react to message ID with one emoji or a short\n"
        "                                token (A-Z a-z 0-9 _ + : -), or take it back\n"
        "  edit @USER ID TEXT..., delete @USER ID, react @USER ID EMOJI [--remove]\n"
        "                                the same for direct message ID with USER (the id\n"
        "                                in your own inbox; edit and delete: yours only,\n"
        "                                a delete leaves both inboxes)\n"
        CLIENT_LISTEN_USAGE
        "  history ROOM [--limit N] [--since ID] [--thread ID] [--json]\n"
        "                                print the last N (default 50) messages of ROOM,\n"
        "                                or the N after message ID, edits, deletes and\n"
        "                                reactions folded in (--json: every entry);\n"
        "                                --thread: message ID and the replies to it\n"
        "  history @USER [--limit N] [--since ID] [--thread ID] [--json]\n"
        "                                the same for your direct messages with USER,\n"
        "                                opened on this device\n"
        "  search ROOM WORDS... [--limit N] [--before ID] [--json]\n"
        "                                the newest messages of ROOM holding every word\n"
        "                                (word*: any word it begins), each with the\n"
        "                                message before and after it\n"
        "  search @USER WORDS..., search --dm WORDS...\n"
        "                                the same in your direct messages (with USER),\n"
        "                                opened and searched on this device\n"
        "  dm USER TEXT...               send USER a direct message, sealed end to end\n"
        "                                for each of USER's devices and your other ones;\n"
        "                                prints the message id (in your own inbox)\n"
        "  dm USER --reply ID TEXT...    send TEXT as a reply to direct message ID\n"
        "  fingerprint [USER]            the fingerprint of this device's key, or of each\n"
        "                                of USER's devices\n"
        "  trust USER                    accept USER's current devices (after comparing\n"
        "                                their fingerprints with USER out of band)\n"
        "  devices [USER]                your DM devices (or USER's): id, name, since,\n"
        "                                fingerprint\n"
        "  devices revoke ID             stop sealing direct messages for your device ID\n"
        "  devices name NAME             name this device (default: PYCHAT_DEVICE, else\n"
        "                                the host name)\n"
        "  rooms [--json]                list the rooms with members and messages\n"
        "  read ROOM [ID]                mark ROOM read up to message ID (default: its\n"
        "                                last); your other devices' counts clear too\n"
        "  unread [--json]               per room you are in: unread messages, mentions\n"
        "  mentions [--since ID] [--limit N] [--json]\n"
        "                                messages that named you (@you), kept for you\n"
        "  notify ROOM all|mentions|none what counts as unread in ROOM and what is told\n"
        "                                live: every message, mentions only, nothing\n"
        "  who ROOM [--json]             list the members of ROOM: online, or away and why\n"
        "  away [MESSAGE]                away with MESSAGE (at most 200 bytes) while another\n"
        "                                session of yours is online; no MESSAGE: back\n"
        "  sessions [--user NAME]        your devices' resume tokens (admins: NAME's)\n"
        "  sessions revoke ID [--user NAME]  revoke one (ID '*': all of them)\n"
        "  logout                        revoke this device's token and forget it\n"
        "  ping                          check that the broker answers\n"
        "  passwd                        change your password (old: PYCHAT_PASSWORD or\n"
        "                                asked; new: PYCHAT_NEW_PASSWORD or asked)\n"
        "  delete-account                delete your account (asks for the password)\n"
        "  create-room ROOM [--invite-only]\n"
        "                                claim a new room; an invite-only room admits\n"
        "                                its creator, the invited and admins\n"
        "  invite ROOM USER              invite USER (the room's creator or an admin)\n"
        "  slowmode ROOM SECONDS         (the room's creator or an admin) one message per\n"
        "                                user every SECONDS (0-3600) in ROOM; 0 ends it\n"
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
        "  --server tcp://HOST:PORT      broker (PYCHAT_SERVER; default tcp://127.0.0.1:$PYCHAT_PORT);\n"
        "                                several brokers of one PyChat: A,B,... (tried in turn)\n"
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
        "A ROOM may be written #ROOM.\n"
        "\n"
        "exit codes: 0 ok, 1 usage, 2 authentication or permission refused,\n"
        "            3 server unreachable, timed out or its key does not match,\n"
        "            4 input rejected, 130 interrupted (Ctrl-C)\n";

void
client_cmd_usage (FILE *stream)
{
    fputs (s_usage, stream);
}


int
client_cmd_usage_error (const char *format, const char *arg)
{
    fprintf (stderr, "pychat: ");
    fprintf (stderr, format, arg);
    fprintf (stderr, " (pychat --help lists the commands and options)\n");
    return PC_EXIT_USAGE;
}


int
client_cmd_room_arg (const char *arg, char *out, size_t size)
{
    char safe [80];
    if (arg [0] == '#' && arg [1])
        arg++;                          //  "#lobby", as /join takes it
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
int
cmd_ask_password (const char *prompt, char *buffer, size_t size)
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
        if (!client_conn_interrupted ())
            fprintf (stderr, "pychat: no password given\n");
        return -1;
    }
    buffer [strcspn (buffer, "\r\n")] = 0;
    return 0;
}


//  Fills session->password from PYCHAT_PASSWORD or the terminal (asked
//  twice when confirm). 0 or an exit code.
int
cmd_get_password (session_t *session, const char *user, bool confirm)
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
    if (cmd_ask_password (prompt, password, sizeof (session->password)) == -1)
        return client_conn_interrupted ()? CLIENT_INTERRUPTED: PC_EXIT_USAGE;
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
        int rc = cmd_ask_password ("Repeat the password: ", again, sizeof (again));
        bool same = rc == 0 && streq (again, password);
        memset (again, 0, sizeof (again));
        if (rc == -1)
            return client_conn_interrupted ()? CLIENT_INTERRUPTED: PC_EXIT_USAGE;
        if (!same) {
            fprintf (stderr, "pychat: the two passwords differ\n");
            return PC_EXIT_REJECTED;
        }
    }
    return 0;
}


//  Everything a command needs before its first request: server key, user
//  and password (when need_user), device key, the DEALER. 0 or exit code.
int
cmd_open (client_opts_t *opts, session_t *session, bool need_user, bool confirm)
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
        //  A saved resume token logs in without the password: it is asked
        //  for only when the server refuses the token
        if (confirm || !client_token_load (opts->home, opts->user, opts->server_key,
                                           session->token, session->sid)) {
            int rc = cmd_get_password (session, opts->user, confirm);
            if (rc)
                return rc;
        }
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


void
cmd_close (session_t *session)
{
    if (session->conn)
        client_conn_logout (session->conn);     //  only when logged in
    client_conn_destroy (&session->conn);
    zcert_destroy (&session->cert);
    sodium_memzero (session->password, sizeof (session->password));
    sodium_memzero (session->token, sizeof (session->token));
}


//  LOGIN, then publish the device key when the server does not hold it
//  (PROTOCOL.md, "Direct messages"). 0 or an exit code.
int
cmd_login (client_opts_t *opts, session_t *session)
{
    char device [CLIENT_DEVICE_MAX];
    client_token_device (device, sizeof (device));
    int rc = CLIENT_CONN_TOKEN_REFUSED;
    if (*session->token) {
        rc = client_conn_resume (session->conn, opts->user, session->token, device);
        if (rc == CLIENT_CONN_TOKEN_REFUSED) {
            client_token_forget (opts->home, opts->user);
            session->token [0] = session->sid [0] = 0;
        }
    }
    if (rc == CLIENT_CONN_TOKEN_REFUSED) {
        if (!*session->password && (rc = cmd_get_password (session, opts->user, false)))
            return rc;
        rc = client_conn_login (session->conn, opts->user, session->password, device,
                                session->token, session->sid);
        if (rc == 0 && *session->token)
            client_token_save (opts->home, opts->user, opts->server_key, session->token,
                               session->sid);
    }
    if (rc)
        return rc;
    client_dm_keys_t keys;
    rc = client_dm_device_load (opts->home, &keys);
    if (rc == 0)
        rc = client_dm_publish (session->conn, opts->user, &keys);
    client_dm_keys_clear (&keys);
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



//  A random client message id, new for each invocation.
void
cmd_new_cmid (char *cmid, size_t size)
{
    uint8_t bytes [16];
    randombytes_buf (bytes, sizeof (bytes));
    sodium_bin2hex (cmid, size, bytes, sizeof (bytes));
}


//  The one way a command talks to the broker: opens the session (server
//  key, user, password, device key, DEALER), logs in (S_LOGIN), runs fn,
//  logs out and closes. The exit code (or CLIENT_INTERRUPTED).
int
cmd_with_session (client_opts_t *opts, int flags, session_fn *fn, void *arg)
{
    session_t session;
    int rc = cmd_open (opts, &session, flags & S_USER, (flags & S_CONFIRM) == S_CONFIRM);
    if (rc == 0 && (flags & S_LOGIN) == S_LOGIN)
        rc = cmd_login (opts, &session);
    if (rc == 0)
        rc = fn (opts, &session, arg);
    cmd_close (&session);
    return rc;                          //  CLIENT_INTERRUPTED: main's exit-code policy
}


//  One request and its OK reply, for cmd_call.
typedef struct {
    const char *what;                   //  names it in a refusal
    pc_msg_t   *request;
    pc_msg_t   *reply;
    bool        forget;                 //  no LOGOUT after it (DELETEME)
} call_t;

static int
s_call_fn (client_opts_t *opts, session_t *session, void *arg)
{
    call_t *call = (call_t *) arg;
    int rc = client_conn_call (session->conn, call->what, call->request, &call->reply);
    if (call->forget)
        client_conn_forget_login (session->conn);
    return rc;
}


//  Logs in, sends request (borrowed), logs out: 0 with *reply_p the OK
//  reply (caller owns), or an exit code (*reply_p NULL).
int
cmd_call (client_opts_t *opts, int flags, const char *what, pc_msg_t *request, pc_msg_t **reply_p)
{
    call_t call = { what, request, NULL, pc_msg_is (request, "DELETEME") };
    int rc = cmd_with_session (opts, flags, s_call_fn, &call);
    if (rc == 0 && reply_p)
        *reply_p = call.reply;
    else
        pc_msg_destroy (&call.reply);
    return rc;
}


//  --------------------------------------------------------------------------

static int
s_register (client_opts_t *opts, session_t *session, void *arg)
{
    pc_msg_t *request = pc_msg_new ("REGISTER");
    pc_msg_add (request, opts->user);
    pc_msg_add (request, session->password);
    pc_msg_t *reply = NULL;
    int rc = client_conn_call (session->conn, "register", request, &reply);
    pc_msg_destroy (&request);
    pc_msg_destroy (&reply);
    //  Log in once, so that the device key is published: others can
    //  write to the new account from now on.
    if (rc == 0)
        rc = cmd_login (opts, session);
    if (rc == 0) {
        //  Registering is not logging in on this device: the token of that
        //  login goes (the first command that logs in gets one)
        pc_msg_t *logout = pc_logout_new (NULL);
        pc_msg_t *ok = NULL;
        client_conn_call (session->conn, "logout", logout, &ok);
        pc_msg_destroy (&logout);
        pc_msg_destroy (&ok);
        client_conn_forget_login (session->conn);
        client_token_forget (opts->home, opts->user);
    }
    if (rc == 0) {
        printf ("registered %s\n", opts->user);
        rc = client_listen_flush_stdout ();
    }
    return rc;
}


int
client_cmd_register (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 1)
        return client_cmd_usage_error ("register takes no arguments (the name is --user)%s", "");
    return cmd_with_session (opts, S_CONFIRM, s_register, NULL);
}


//  One SEND or DM, on the session engine (client_post): it gets through
//  broker restarts with its client message id.
typedef struct {
    const char *room;                   //  SEND, or NULL
    const char *peer;                   //  DM
    pc_buf_t   *text;
    const char *kind;                   //  SEND: edit, delete, reply, react, unreact
    const char *ref;                    //  the message it is about
} post_t;

static int
s_post_fn (client_opts_t *opts, session_t *session, void *arg)
{
    post_t *job = (post_t *) arg;
    return client_post_event (opts, session->password, job->room, job->peer, job->text,
                              job->kind, job->ref, true);
}

//  A message id as typed: digits, not 0. 0 or PC_EXIT_USAGE (said).
static int
s_ref_arg (const char *arg, const char *what)
{
    if (!*arg || strspn (arg, "0123456789") != strlen (arg) || strlen (arg) > 19
    ||  strtoull (arg, NULL, 10) == 0)
        return client_cmd_usage_error (what, arg);
    return 0;
}

//  send ROOM --reply ID TEXT, edit ROOM ID TEXT, delete ROOM ID,
//  react ROOM ID EMOJI [--remove]: a SEND about message ID.
static int
s_post_about (client_opts_t *opts, const char *room_arg, const char *kind, const char *ref,
              int argc, char **argv, int first)
{
    //  @USER: a direct message of the conversation with USER, by the id
    //  it has in one's own inbox
    char room [PC_NAME_MAX + 1], peer [PC_NAME_MAX + 1];
    bool dm = room_arg [0] == '@';
    int rc = dm? cmd_user_arg (room_arg + 1, peer, sizeof (peer))
               : client_cmd_room_arg (room_arg, room, sizeof (room));
    if (rc)
        return rc;
    if ((rc = s_ref_arg (ref, "a message id is a positive number, not '%s'")))
        return rc;
    if (dm && (streq (kind, "react") || streq (kind, "unreact"))
    &&  !pc_reaction_valid (argv [first]))
        return client_cmd_usage_error ("a reaction is one emoji or a short token of "
                                       "A-Z a-z 0-9 _ + : -, not '%s'", argv [first]);
    pc_buf_t text;
    if (first < 0) {                    //  a delete: the text is not used
        pc_buf_init (&text);
        pc_buf_append (&text, "-", 1);
    }
    else
    if (s_text_args (argc, argv, first, &text)) {
        pc_buf_free (&text);
        return PC_EXIT_REJECTED;
    }
    if (!opts->timeout_given)
        opts->timeout_ms = SEND_TIMEOUT_MS;
    post_t job = { dm? NULL: room, dm? peer: NULL, &text, kind, ref };
    rc = cmd_with_session (opts, S_USER, s_post_fn, &job);
    if (dm)
        sodium_memzero (text.data, text.size);
    pc_buf_free (&text);
    return rc;
}

int
client_cmd_edit (client_opts_t *opts, int argc, char **argv)
{
    if (argc < 4)
        return client_cmd_usage_error ("edit needs a room, a message id and the new text%s", "");
    return s_post_about (opts, argv [1], "edit", argv [2], argc, argv, 3);
}

int
client_cmd_delete (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 3)
        return client_cmd_usage_error ("delete needs a room and a message id%s", "");
    return s_post_about (opts, argv [1], "delete", argv [2], argc, argv, -1);
}

int
client_cmd_react (client_opts_t *opts, int argc, char **argv)
{
    bool remove = argc == 5 && streq (argv [4], "--remove");
    if (argc != 4 && !remove)
        return client_cmd_usage_error ("react needs a room, a message id and one emoji "
                                       "(then --remove to take it back)%s", "");
    return s_post_about (opts, argv [1], remove? "unreact": "react", argv [2], 4, argv, 3);
}

int
client_cmd_send (client_opts_t *opts, int argc, char **argv)
{
    if (argc >= 3 && streq (argv [2], "--reply")) {
        if (argc < 5)
            return client_cmd_usage_error ("send ROOM --reply ID needs a text%s", "");
        return s_post_about (opts, argv [1], "reply", argv [3], argc, argv, 4);
    }
    if (argc < 3)
        return client_cmd_usage_error ("send needs a room and a text%s", "");
    char room [PC_NAME_MAX + 1];
    int rc = client_cmd_room_arg (argv [1], room, sizeof (room));
    if (rc)
        return rc;
    pc_buf_t text;
    if (s_text_args (argc, argv, 2, &text)) {
        pc_buf_free (&text);
        return PC_EXIT_REJECTED;
    }
    if (!opts->timeout_given)
        opts->timeout_ms = SEND_TIMEOUT_MS;
    post_t job = { room, NULL, &text, NULL, NULL };
    rc = cmd_with_session (opts, S_USER, s_post_fn, &job);
    pc_buf_free (&text);
    return rc;
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
    int rc = cmd_open (opts, &session, true, false);
    if (rc == 0) {
        //  listen opens its own connections (it reconnects); it only needs
        //  the password, kept in session until the end.
        client_conn_destroy (&session.conn);
        rc = client_listen_run (opts, session.password, argc, argv);
    }
    cmd_close (&session);
    return rc;                          //  Ctrl-C: 130, as everywhere
}


//  --------------------------------------------------------------------------
//  history

typedef struct {
    const char *room;
    const char *peer;                   //  @USER: the conversation with USER
    const char *me;
    client_dm_reader_t *reader;
    bool        json;
    bool        since_given;
    uint64_t    since;
    long        limit;
    uint64_t    thread;                 //  --thread ID, else 0
    zlistx_t   *entries;                //  entry_t, oldest first
} history_t;

//  One entry of the page, and what is folded into it
typedef struct {
    char       *id, *from, *ts, *text;
    uint64_t    seq, ref;
    char        kind [16];              //  "" for a plain message
    const char *body;                   //  the text, or an event's TEXT
    bool        shown;                  //  folded into an entry shown
} entry_t;

static void
s_entry_destroy (entry_t **self_p)
{
    if (*self_p) {
        entry_t *self = *self_p;
        free (self->id);
        free (self->from);
        free (self->ts);
        free (self->text);
        free (self);
        *self_p = NULL;
    }
}

static int
s_history_record (void *arg, uint64_t id, const char **fields)
{
    history_t *self = (history_t *) arg;
    entry_t *entry = (entry_t *) zmalloc (sizeof (entry_t));
    assert (entry);
    entry->id = strdup (fields [0]);
    entry->from = strdup (fields [1]);
    entry->ts = strdup (fields [2]);
    entry->text = strdup (fields [3]);
    entry->seq = id;
    entry->body = entry->text;
    if (!client_listen_event (entry->text, entry->kind, sizeof (entry->kind), &entry->ref,
                              &entry->body))
        *entry->kind = 0;
    zlistx_add_end (self->entries, entry);
    return 0;
}

//  An INBOX record (id from to time box) of the conversation, opened
static int
s_dm_history_record (void *arg, uint64_t id, const char **fields)
{
    history_t *self = (history_t *) arg;
    const char *from = fields [1], *to = fields [2];
    if (!streq (streq (from, self->me)? to: from, self->peer))
        return 0;
    char *text = client_dm_reader_open (self->reader, from, fields [4]);
    if (!text)
        return 0;
    const char *record [] = { fields [0], from, fields [3], text };
    s_history_record (self, id, record);
    sodium_memzero (text, strlen (text));
    free (text);
    return 0;
}

//  One line of the page: a room's entry, or a conversation's
static void
s_history_line (history_t *self, entry_t *e, const char *text, const char *extra)
{
    if (self->peer) {
        bool sent = streq (e->from, self->me);
        client_listen_print_dm (self->json, e->id, e->from, sent? self->peer: self->me, e->ts,
                                text, sent, extra);
    }
    else
        client_listen_print_entry (self->json, e->id, self->room, e->from, e->ts, text, extra);
}

static entry_t *
s_entry_find (zlistx_t *entries, uint64_t seq)
{
    for (entry_t *e = (entry_t *) zlistx_first (entries); e; e = (entry_t *) zlistx_next (entries))
        if (e->seq == seq && (!*e->kind || streq (e->kind, "reply")))
            return e;
    return NULL;
}

//  Prints the page with each message's edits and reactions folded in: its
//  latest text ("edited"), and the count of each reaction (who reacted,
//  less who took it back). An edit, delete or reaction whose message is
//  not in the page (a deleted one never is) is printed as itself.
static void
s_history_print (history_t *self)
{
    zlistx_t *entries = self->entries;
    //  Pass 1: what folds into a message shown
    for (entry_t *e = (entry_t *) zlistx_first (entries); e; e = (entry_t *) zlistx_next (entries))
        if (*e->kind && !streq (e->kind, "reply")) {
            e->shown = s_entry_find (entries, e->ref) != NULL;
            zlistx_find (entries, e);       //  back where it was
        }
    for (entry_t *e = (entry_t *) zlistx_first (entries); e; e = (entry_t *) zlistx_next (entries)) {
        if (*e->kind && !streq (e->kind, "reply")) {
            if (!e->shown && !self->thread)
                s_history_line (self, e, e->text, NULL);
            continue;
        }
        if (self->thread && e->seq != self->thread
        &&  !(streq (e->kind, "reply") && e->ref == self->thread))
            continue;
        //  Its latest text and its reactions: (emoji, user) pairs in order
        const char *body = e->body;
        bool edited = false;
        zlistx_t *pairs = zlistx_new ();
        zlistx_set_destructor (pairs, (czmq_destructor *) zstr_free);
        zlistx_set_duplicator (pairs, (czmq_duplicator *) strdup);
        zlistx_set_comparator (pairs, (czmq_comparator *) strcmp);
        for (entry_t *f = (entry_t *) zlistx_next (entries); f; f = (entry_t *) zlistx_next (entries)) {
            if (f->ref != e->seq || !*f->kind)
                continue;
            if (streq (f->kind, "edit") && streq (f->from, e->from)) {
                body = f->body;
                edited = true;
            }
            char pair [256];
            snprintf (pair, sizeof (pair), "%s %s", f->body, f->from);
            void *had = zlistx_find (pairs, pair);
            if (streq (f->kind, "react") && !had)
                zlistx_add_end (pairs, pair);
            else
            if (streq (f->kind, "unreact") && had)
                zlistx_delete (pairs, had);
        }
        zlistx_find (entries, e);
        //  Counts per emoji, in the order first given
        pc_buf_t extra;
        pc_buf_init (&extra);
        if (self->json && edited)
            pc_buf_printf (&extra, "\"edited\":true");
        size_t kinds = 0;
        for (const char *pair = (const char *) zlistx_first (pairs); pair;
             pair = (const char *) zlistx_next (pairs)) {
            size_t len = strcspn (pair, " ");
            bool earlier = false;
            size_t count = 0;
            for (const char *other = (const char *) zlistx_first (pairs); other;
                 other = (const char *) zlistx_next (pairs)) {
                if (strncmp (other, pair, len) == 0 && other [len] == ' ') {
                    if (other == pair)
                        break;
                    earlier = true;
                }
            }
            zlistx_find (pairs, (void *) pair);
            if (earlier)
                continue;
            for (const char *other = (const char *) zlistx_first (pairs); other;
                 other = (const char *) zlistx_next (pairs))
                count += strncmp (other, pair, len) == 0 && other [len] == ' ';
            zlistx_find (pairs, (void *) pair);
            if (self->json)
                pc_buf_printf (&extra, "%s%s\"%.*s\":%zu", extra.size? ",": "",
                               kinds? "": "\"reactions\":{", (int) len, pair, count);
            else
                pc_buf_printf (&extra, "%s%.*s %zu", kinds? ", ": (edited? "(edited) [": "["),
                               (int) len, pair, count);
            kinds++;
        }
        if (kinds)
            pc_buf_printf (&extra, self->json? "}": "]");
        else
        if (edited && !self->json)
            pc_buf_printf (&extra, "(edited)");
        char *text = NULL;
        if (streq (e->kind, "reply")) {
            //  A reply keeps its marker, with the latest text
            text = zsys_sprintf ("%creply %" PRIu64 " %s", CLIENT_EVENT_MARK, e->ref, body);
            body = text;
        }
        s_history_line (self, e, body, extra.data);
        zstr_free (&text);
        pc_buf_free (&extra);
        zlistx_destroy (&pairs);
    }
}

//  history @USER: the inbox, read whole and opened here (the server cannot
//  tell one conversation from another's text, nor open it), its latest
//  limit entries of the conversation folded as a room's
static int
s_dm_history_fn (client_opts_t *opts, session_t *session, void *arg)
{
    history_t *self = (history_t *) arg;
    client_dm_reader_t reader;
    int rc = client_dm_reader_init (&reader, session->conn, opts->home, opts->user);
    if (rc)
        return rc;
    self->reader = &reader;
    self->me = opts->user;
    self->entries = zlistx_new ();
    zlistx_set_destructor (self->entries, (czmq_destructor *) s_entry_destroy);
    rc = client_listen_fetch (session->conn, NULL, self->since_given? self->since: 0, 0,
                              s_dm_history_record, self);
    while (!self->thread && zlistx_size (self->entries) > (size_t) self->limit) {
        zlistx_first (self->entries);
        zlistx_delete (self->entries, zlistx_cursor (self->entries));
    }
    if (rc == 0)
        s_history_print (self);
    zlistx_destroy (&self->entries);
    if (reader.unopened)
        fprintf (stderr, "pychat: %zu direct message(s) could not be opened on this device\n",
                 reader.unopened);
    client_dm_reader_clear (&reader);
    int out = client_listen_flush_stdout ();
    return rc? rc: out;
}

static int
s_history_fn (client_opts_t *opts, session_t *session, void *arg)
{
    history_t *self = (history_t *) arg;
    //  Reading a room's history is for its members (PROTOCOL.md): join it
    //  for this session, which ends with the command; reading a room that
    //  does not exist does not create it.
    char what [PC_NAME_MAX + 16];
    snprintf (what, sizeof (what), "history #%s", self->room);
    int rc = client_conn_enter (session->conn, self->room, what);
    if (rc)
        return rc;
    self->entries = zlistx_new ();
    zlistx_set_destructor (self->entries, (czmq_destructor *) s_entry_destroy);
    if (self->since_given)
        rc = client_listen_fetch (session->conn, self->room, self->since, self->limit,
                                  s_history_record, self);
    else
        rc = client_listen_latest (session->conn, self->room, self->limit, s_history_record, self);
    if (rc == 0)
        s_history_print (self);
    zlistx_destroy (&self->entries);
    int out = client_listen_flush_stdout ();
    return rc? rc: out;
}


int
client_cmd_history (client_opts_t *opts, int argc, char **argv)
{
    history_t self = { NULL, NULL, NULL, NULL, false, false, 0, 0, 0, NULL };
    char peer [PC_NAME_MAX + 1] = "";
    uint64_t thread = 0;
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
        if (streq (arg, "--thread")) {
            if (i + 1 >= argc)
                return client_cmd_usage_error ("--thread needs a message id%s", "");
            int rc = s_ref_arg (argv [++i], "--thread needs a message id (a number), not '%s'");
            if (rc)
                return rc;
            thread = strtoull (argv [i], NULL, 10);
        }        else
        if (strncmp (arg, "--", 2) == 0)
            return client_cmd_usage_error ("unknown history option '%s'", arg);
        else
        if (*room || *peer)
            return client_cmd_usage_error ("history takes one room, not also '%s'", arg);
        else
        if (arg [0] == '@') {
            int rc = cmd_user_arg (arg + 1, peer, sizeof (peer));
            if (rc)
                return rc;
        }
        else {
            int rc = client_cmd_room_arg (arg, room, sizeof (room));
            if (rc)
                return rc;
        }
    }
    if (!*room && !*peer)
        return client_cmd_usage_error ("history needs a room (or @USER)%s", "");
    self.room = room;
    self.peer = *peer? peer: NULL;
    self.since_given = since_given;
    self.since = since;
    self.limit = limit;
    if (thread) {
        //  The message and the replies after it
        self.thread = thread;
        self.since_given = true;
        self.since = thread - 1;
        self.limit = PC_HISTORY_MAX;
    }
    return cmd_with_session (opts, S_LOGIN, self.peer? s_dm_history_fn: s_history_fn, &self);
}


//  --------------------------------------------------------------------------
//  dm, trust, fingerprint

//  Folds a user name as typed into out; PC_EXIT_REJECTED when it is bad.
int
cmd_user_arg (const char *arg, char *out, size_t size)
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


int
client_cmd_dm (client_opts_t *opts, int argc, char **argv)
{
    if (argc >= 3 && streq (argv [2], "--reply")) {
        if (argc < 5)
            return client_cmd_usage_error ("dm USER --reply ID needs a text%s", "");
        char at [256];
        snprintf (at, sizeof (at), "@%.250s", argv [1]);
        return s_post_about (opts, at, "reply", argv [3], argc, argv, 4);
    }
    if (argc < 3)
        return client_cmd_usage_error ("dm needs a user and a text%s", "");
    char peer [PC_NAME_MAX + 1];
    int rc = cmd_user_arg (argv [1], peer, sizeof (peer));
    if (rc)
        return rc;
    pc_buf_t text;
    if (s_text_args (argc, argv, 2, &text)) {
        pc_buf_free (&text);
        return PC_EXIT_REJECTED;
    }
    if (!opts->timeout_given)
        opts->timeout_ms = SEND_TIMEOUT_MS;
    post_t job = { NULL, peer, &text, NULL, NULL };
    rc = cmd_with_session (opts, S_USER, s_post_fn, &job);
    sodium_memzero (text.data, text.size);
    pc_buf_free (&text);
    return rc;
}

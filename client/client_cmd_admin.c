//  client_cmd_admin.c: rooms, who, ping, and the account and moderation
//  commands (passwd, delete-account, create-room, invite, slowmode, admin ...).

#include "client_cmd_core.h"
#include "pc_proto.h"


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
    pc_msg_t *reply = NULL;
    pc_msg_t *request = pc_msg_new ("ROOMS");
    int rc = cmd_call (opts, S_LOGIN, "rooms", request, &reply);
    pc_msg_destroy (&request);
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
            if (sscanf (pc_rooms_ok_room (reply, i), "%63s %lld %lld %1s", name, &m, &n, tail) != 3
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
    return rc;
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
    int rc = client_cmd_room_arg (argv [1], room, sizeof (room));
    if (rc)
        return rc;
    pc_msg_t *reply = NULL;
    pc_msg_t *request = pc_msg_new ("WHO");
    pc_msg_add (request, room);
    pc_msg_add (request, "presence");       //  "NAME online" or "NAME away TEXT"
    char what [64];
    snprintf (what, sizeof (what), "who #%s", room);
    rc = cmd_call (opts, S_LOGIN, what, request, &reply);
    pc_msg_destroy (&request);
    if (rc == 0) {
        pc_buf_t out;
        pc_buf_init (&out);
        if (json)
            pc_buf_append (&out, "[", 1);
        size_t shown = 0;
        for (size_t i = 0; i < pc_msg_nfields (reply); i++) {
            char name [PC_NAME_MAX + 1], state [16], away [256];
            if (client_cmd_presence_parse (pc_who_ok_user (reply, i), name, state, away, sizeof (away)))
                continue;           //  names only: nothing else reaches the terminal
            if (json) {
                if (shown)
                    pc_buf_append (&out, ",", 1);
                pc_buf_append (&out, "{\"name\":", 8);
                pc_buf_json_str (&out, name);
                pc_buf_append (&out, ",\"state\":", 9);
                pc_buf_json_str (&out, state);
                if (*away) {
                    pc_buf_append (&out, ",\"away\":", 8);
                    pc_buf_json_str (&out, away);
                }
                pc_buf_append (&out, "}", 1);
            }
            else
            if (*away) {
                char safe [256];
                client_conn_sanitize (away, safe, sizeof (safe));
                pc_buf_printf (&out, "%s  %s: %s\n", name, state, safe);
            }
            else
                pc_buf_printf (&out, "%s  %s\n", name, state);
            shown++;
        }
        if (json)
            pc_buf_append (&out, "]\n", 2);
        fwrite (out.data, 1, out.size, stdout);
        pc_buf_free (&out);
        rc = client_listen_flush_stdout ();
    }
    pc_msg_destroy (&reply);
    return rc;
}


static int
s_ping_fn (client_opts_t *opts, session_t *session, void *arg)
{
    pc_msg_t *request = pc_msg_new ("PING");
    pc_msg_t *reply = NULL;
    int64_t start = zclock_usecs ();
    int rc = client_conn_call (session->conn, "ping", request, &reply);
    int64_t elapsed = zclock_usecs () - start;
    if (rc == 0) {
        printf ("pong from %s in %.1f ms\n", client_conn_endpoint (session->conn), elapsed / 1000.0);
        rc = client_listen_flush_stdout ();
    }
    pc_msg_destroy (&request);
    pc_msg_destroy (&reply);
    return rc;
}


int
client_cmd_ping (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 1)
        return client_cmd_usage_error ("ping takes no arguments%s", "");
    return cmd_with_session (opts, 0, s_ping_fn, NULL);
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
        if (cmd_ask_password ("New password: ", buffer, size) == -1
        ||  cmd_ask_password ("Repeat the new password: ", again, sizeof (again)) == -1)
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
    pc_msg_t *request = pc_msg_new (command);
    const char *fields [] = { a, b, c };
    for (size_t i = 0; i < 3 && fields [i]; i++)
        pc_msg_add (request, fields [i]);
    int rc = cmd_call (opts, S_LOGIN, what, request, reply_p);
    pc_msg_destroy (&request);
    if (rc == 0 && done)
        printf ("%s\n", done);
    return rc == 0? client_listen_flush_stdout (): rc;
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
        if (sscanf (pc_users_ok_account (reply, i), "%63s %15s %lld %lld %d %1s", name, role,
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
        if ((rc = client_cmd_room_arg (argv [2], room, sizeof (room))) || (rc = cmd_user_arg (argv [3], user, sizeof (user))))
            return rc;
        return s_account_call (opts, "kick", "KICK", room, user, NULL, "kicked", NULL);
    }
    if (argc != 3)
        return client_cmd_usage_error ("admin %s USER", sub);
    if ((rc = cmd_user_arg (argv [2], user, sizeof (user))))
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
        rc = cmd_get_password (&probe, opts->user? opts->user: "?", false);
        if (rc == 0)
            rc = s_account_call (opts, "passwd", "PASSWD", probe.password, password, NULL,
                                 "password changed", NULL);
        //  The saved token is bound to the old PYCHAT_PASSWORD: the next
        //  command logs in with the new one and gets this device a new token
        if (rc == 0)
            client_token_forget (opts->home, opts->user);
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
    int rc = cmd_get_password (&probe, opts->user? opts->user: "?", false);
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
    int rc = client_cmd_room_arg (argv [1], room, sizeof (room));
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
    int rc = client_cmd_room_arg (argv [1], room, sizeof (room));
    if (rc == 0)
        rc = cmd_user_arg (argv [2], user, sizeof (user));
    if (rc)
        return rc;
    return s_account_call (opts, "invite", "INVITE", room, user, NULL, "invited", NULL);
}


long
client_cmd_slowmode_seconds (const char *arg)
{
    size_t digits = arg? strspn (arg, "0123456789"): 0;
    if (digits == 0 || arg [digits] || digits > 4)
        return -1;                      //  empty, signed, not a number, or too long
    long seconds = strtol (arg, NULL, 10);
    return seconds <= PC_SLOWMODE_MAX? seconds: -1;
}


//  pychat slowmode ROOM SECONDS: one message per user every SECONDS in ROOM
//  (0 ends it); the room's creator or an admin. SECONDS is checked here, so
//  a bad one never reaches the broker (exit 4, as a bad room name).
int
client_cmd_slowmode (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 3)
        return client_cmd_usage_error ("slowmode ROOM SECONDS (0-3600; 0 ends slow mode)%s", "");
    char room [PC_NAME_MAX + 1];
    int rc = client_cmd_room_arg (argv [1], room, sizeof (room));
    if (rc)
        return rc;
    long seconds = client_cmd_slowmode_seconds (argv [2]);
    if (seconds < 0) {
        char safe [32];
        client_conn_sanitize (argv [2], safe, sizeof (safe));
        fprintf (stderr, "pychat: bad SECONDS '%s': a whole number 0-%d (0 ends slow mode)\n",
                 safe, PC_SLOWMODE_MAX);
        return PC_EXIT_REJECTED;
    }
    char value [16], what [PC_NAME_MAX + 16], done [PC_NAME_MAX + 64];
    snprintf (value, sizeof (value), "%ld", seconds);
    snprintf (what, sizeof (what), "slowmode #%s", room);
    if (seconds)
        snprintf (done, sizeof (done), "slow mode in #%s: one message every %ld s", room, seconds);
    else
        snprintf (done, sizeof (done), "slow mode in #%s ended", room);
    return s_account_call (opts, what, "SLOWMODE", room, value, NULL, done, NULL);
}

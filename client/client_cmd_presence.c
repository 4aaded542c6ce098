//  client_cmd_presence.c: `pychat away [MESSAGE]`, and reading the states
//  of WHO room presence (PROTOCOL.md, "Presence and typing").

#include "client_cmd_core.h"
#include "pc_proto.h"
#include "client_presence.h"

int
client_cmd_presence_parse (const char *field, char *name, char *state, char *away,
                           size_t away_size)
{
    if (!field)
        return -1;
    const char *space = strchr (field, ' ');
    size_t length = space? (size_t) (space - field): strlen (field);
    if (length == 0 || length > PC_NAME_MAX)
        return -1;
    memcpy (name, field, length);
    name [length] = 0;
    *state = 0;
    *away = 0;
    if (!pc_name_valid (name))
        return -1;
    if (!space)
        return 0;
    const char *rest = space + 1;
    const char *after = strchr (rest, ' ');
    length = after? (size_t) (after - rest): strlen (rest);
    if (length == 0 || length > 15)
        return -1;
    memcpy (state, rest, length);
    state [length] = 0;
    if (!streq (state, "online") && !streq (state, "away"))
        return -1;
    if (after)
        snprintf (away, away_size, "%s", after + 1);
    return 0;
}

int
client_cmd_away (client_opts_t *opts, int argc, char **argv)
{
    //  The words of the message, as given (one argument or several)
    pc_buf_t text;
    pc_buf_init (&text);
    for (int i = 1; i < argc; i++)
        pc_buf_printf (&text, "%s%s", i > 1? " ": "", argv [i]);
    pc_msg_t *request = pc_away_new (text.size? text.data: NULL);
    pc_msg_t *reply = NULL;
    int rc = cmd_call (opts, S_LOGIN, "away", request, &reply);
    pc_msg_destroy (&request);
    if (rc == 0) {
        if (text.size) {
            char safe [256];
            client_conn_sanitize (text.data, safe, sizeof (safe));
            printf ("away: %s\n", safe);
        }
        else
            printf ("back: online\n");
        rc = client_listen_flush_stdout ();
    }
    pc_msg_destroy (&reply);
    pc_buf_free (&text);
    return rc;
}

//  --------------------------------------------------------------------------
//  pychat listen --presence

static void
s_now (char *clock, size_t size, int64_t *ms)
{
    *ms = zclock_time ();
    time_t seconds = (time_t) (*ms / 1000);
    struct tm tm;
    snprintf (clock, size, "??:??:??");
    if (localtime_r (&seconds, &tm))
        strftime (clock, size, "%H:%M:%S", &tm);
}

bool
client_presence_print (bool json, pc_msg_t *msg, zhashx_t *states)
{
    char clock [16];
    int64_t ms;
    if (pc_msg_is (msg, "PRESENCE") && pc_msg_nfields (msg) >= 2) {
        const char *user = pc_presence_user (msg), *state = pc_presence_state (msg);
        const char *text = pc_presence_text (msg)? pc_presence_text (msg): "";
        if (!pc_name_valid (user)
        ||  !(streq (state, "online") || streq (state, "away") || streq (state, "offline")))
            return false;
        char *now = zsys_sprintf ("%s %s", state, text);
        const char *before = (const char *) zhashx_lookup (states, user);
        if (before && streq (before, now)) {
            zstr_free (&now);
            return false;           //  the same state again (another shared room)
        }
        zhashx_update (states, user, now);
        s_now (clock, sizeof (clock), &ms);
        if (json) {
            pc_buf_t line;
            pc_buf_init (&line);
            pc_buf_append (&line, "{\"presence\":", 12);
            pc_buf_json_str (&line, state);
            pc_buf_append (&line, ",\"user\":", 8);
            pc_buf_json_str (&line, user);
            if (*text) {
                pc_buf_append (&line, ",\"text\":", 8);
                pc_buf_json_str (&line, text);
            }
            pc_buf_printf (&line, ",\"ts\":%" PRId64 "}\n", ms);
            fwrite (line.data, 1, line.size, stdout);
            pc_buf_free (&line);
        }
        else
        if (*text) {
            char safe [256];
            client_conn_sanitize (text, safe, sizeof (safe));
            printf ("[%s] * %s is %s: %s\n", clock, user, state, safe);
        }
        else
            printf ("[%s] * %s is %s\n", clock, user, state);
        return true;
    }
    if (pc_msg_is (msg, "TYPING") && pc_msg_nfields (msg) >= 2) {
        const char *space = pc_typing_space (msg), *from = pc_typing_from (msg);
        const char *name = *space == '@'? space + 1: space;
        if (!pc_name_valid (from) || !pc_name_valid (name))
            return false;
        s_now (clock, sizeof (clock), &ms);
        if (json) {
            pc_buf_t line;
            pc_buf_init (&line);
            pc_buf_append (&line, "{\"typing\":", 10);
            pc_buf_json_str (&line, space);
            pc_buf_append (&line, ",\"from\":", 8);
            pc_buf_json_str (&line, from);
            pc_buf_printf (&line, ",\"ts\":%" PRId64 "}\n", ms);
            fwrite (line.data, 1, line.size, stdout);
            pc_buf_free (&line);
        }
        else
        if (*space == '@')
            printf ("[%s] @%s is typing...\n", clock, from);
        else
            printf ("[%s] #%s %s is typing...\n", clock, space, from);
        return true;
    }
    return false;
}

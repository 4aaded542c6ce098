//  client_cmd_marks.c: `pychat read`, `unread`, `mentions`, `notify`: read
//  markers, unread counts, the mentions inbox and per-room notification
//  levels, all kept by the server so every device agrees (PROTOCOL.md,
//  "Read markers and mentions").
#include "client_cmd_core.h"
#include "pc_proto.h"

#include <inttypes.h>

//  A whole number as typed: digits only, at most 19 of them; -1 else.
static long long
s_count_arg (const char *arg)
{
    size_t size = strlen (arg);
    if (size == 0 || size > 18 || strspn (arg, "0123456789") != size)
        return -1;
    return strtoll (arg, NULL, 10);
}

//  pychat read ROOM [ID]: marks ROOM read up to ID (none: its last message)
int
client_cmd_read (client_opts_t *opts, int argc, char **argv)
{
    if (argc < 2 || argc > 3)
        return client_cmd_usage_error ("read needs a room and at most an id%s", "");
    char room [PC_NAME_MAX + 1];
    int rc = client_cmd_room_arg (argv [1], room, sizeof (room));
    if (rc)
        return rc;
    if (argc == 3 && s_count_arg (argv [2]) < 1)
        return client_cmd_usage_error ("read: bad message id '%s'", argv [2]);
    pc_msg_t *request = pc_mark_new (room, argc == 3? argv [2]: NULL);
    pc_msg_t *reply = NULL;
    char what [PC_NAME_MAX + 16];
    snprintf (what, sizeof (what), "read #%s", room);
    rc = cmd_call (opts, S_LOGIN, what, request, &reply);
    pc_msg_destroy (&request);
    if (rc == 0 && pc_msg_nfields (reply) >= 2) {
        char mark [32];
        client_conn_sanitize (pc_mark_ok_id (reply), mark, sizeof (mark));
        printf ("#%s read up to %s\n", room, mark);
        rc = client_listen_flush_stdout ();
    }
    pc_msg_destroy (&reply);
    return rc;
}

//  pychat unread [--json]: per room you are in, what is unread (as your
//  notification level shows it)
int
client_cmd_unread (client_opts_t *opts, int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++)
        if (streq (argv [i], "--json"))
            json = true;
        else
            return client_cmd_usage_error ("unread: unexpected argument '%s'", argv [i]);
    pc_msg_t *request = pc_unread_new ();
    pc_msg_t *reply = NULL;
    int rc = cmd_call (opts, S_LOGIN, "unread", request, &reply);
    pc_msg_destroy (&request);
    if (rc) {
        pc_msg_destroy (&reply);
        return rc;
    }
    pc_buf_t out;
    pc_buf_init (&out);
    pc_buf_append (&out, "[", 1);
    size_t rows = 0;
    for (size_t i = 0; i < pc_unread_ok_count (reply); i++) {
        char room [64], level [16], tail [2];
        long long unread, mentions, mark, last;
        if (sscanf (pc_unread_ok_room (reply, i), "%63s %lld %lld %15s %lld %lld %1s", room, &unread,
                    &mentions, level, &mark, &last, tail) != 6 || !pc_name_valid (room))
            continue;
        if (json) {
            pc_buf_append (&out, rows? ",{\"room\":": "{\"room\":", rows? 9: 8);
            pc_buf_json_str (&out, room);
            pc_buf_printf (&out, ",\"unread\":%lld,\"mentions\":%lld,\"level\":", unread, mentions);
            pc_buf_json_str (&out, level);
            pc_buf_printf (&out, ",\"mark\":%lld,\"last\":%lld}", mark, last);
        }
        else
        if (streq (level, "none"))
            printf ("#%s  muted\n", room);
        else
        if (streq (level, "mentions"))
            printf ("#%s  %lld mention%s  (notify: mentions)\n", room, mentions, mentions == 1? "": "s");
        else
            printf ("#%s  %lld unread%s  %lld mention%s\n", room, unread,
                    unread >= 1000? "+": "", mentions, mentions == 1? "": "s");
        rows++;
    }
    pc_buf_append (&out, "]\n", 2);
    if (json)
        fwrite (out.data, 1, out.size, stdout);
    pc_buf_free (&out);
    pc_msg_destroy (&reply);
    return client_listen_flush_stdout ();
}

//  pychat mentions [--since ID] [--limit N] [--json]
int
client_cmd_mentions (client_opts_t *opts, int argc, char **argv)
{
    bool json = false;
    const char *since = "0", *limit = "50";    //  since 0: the latest limit
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--json"))
            json = true;
        else
        if (streq (argv [i], "--since") && i + 1 < argc && s_count_arg (argv [i + 1]) >= 0)
            since = s_count_arg (argv [++i]) == 0? "-1": argv [i];     //  after none: from the first
        else
        if (streq (argv [i], "--limit") && i + 1 < argc
        &&  s_count_arg (argv [i + 1]) >= 1 && s_count_arg (argv [i + 1]) <= PC_HISTORY_MAX)
            limit = argv [++i];
        else
            return client_cmd_usage_error ("mentions: unexpected or bad argument '%s'", argv [i]);
    }
    pc_msg_t *request = pc_mentions_new (since, limit);
    pc_msg_t *reply = NULL;
    int rc = cmd_call (opts, S_LOGIN, "mentions", request, &reply);
    pc_msg_destroy (&request);
    if (rc) {
        pc_msg_destroy (&reply);
        return rc;
    }
    pc_buf_t out;
    pc_buf_init (&out);
    pc_buf_append (&out, "[", 1);
    for (size_t i = 0; i < pc_mentions_ok_count (reply); i++) {
        const char *room = pc_mentions_ok_room (reply, i), *from = pc_mentions_ok_from (reply, i);
        if (!pc_name_valid (room) || !pc_name_valid (from))
            continue;
        long long id = strtoll (pc_mentions_ok_id (reply, i), NULL, 10);
        long long msg = strtoll (pc_mentions_ok_msg (reply, i), NULL, 10);
        long long ts = strtoll (pc_mentions_ok_time (reply, i), NULL, 10);
        const char *text = pc_mentions_ok_text (reply, i);
        if (json) {
            pc_buf_printf (&out, "%s{\"id\":%lld,\"room\":", i? ",": "", id);
            pc_buf_json_str (&out, room);
            pc_buf_printf (&out, ",\"msg\":%lld,\"from\":", msg);
            pc_buf_json_str (&out, from);
            pc_buf_printf (&out, ",\"time\":%lld,\"text\":", ts);
            pc_buf_json_str (&out, text);
            pc_buf_append (&out, "}", 1);
        }
        else {
            char safe [PC_TEXT_MAX + 1], when [32];
            client_conn_sanitize (text, safe, sizeof (safe));
            time_t t = (time_t) (ts / 1000);
            strftime (when, sizeof (when), "%Y-%m-%d %H:%M", localtime (&t));
            printf ("%lld  %s  #%s:%lld  <%s> %s\n", id, when, room, msg, from, safe);
        }
    }
    pc_buf_append (&out, "]\n", 2);
    if (json)
        fwrite (out.data, 1, out.size, stdout);
    pc_buf_free (&out);
    pc_msg_destroy (&reply);
    return client_listen_flush_stdout ();
}

//  pychat notify ROOM all|mentions|none
int
client_cmd_notify (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 3)
        return client_cmd_usage_error ("notify needs a room and a level (all, mentions or none)%s", "");
    char room [PC_NAME_MAX + 1];
    int rc = client_cmd_room_arg (argv [1], room, sizeof (room));
    if (rc)
        return rc;
    const char *level = argv [2];
    if (!streq (level, "all") && !streq (level, "mentions") && !streq (level, "none"))
        return client_cmd_usage_error ("notify: the level is all, mentions or none, not '%s'", level);
    pc_msg_t *request = pc_notify_new (room, level);
    pc_msg_t *reply = NULL;
    char what [PC_NAME_MAX + 16];
    snprintf (what, sizeof (what), "notify #%s", room);
    rc = cmd_call (opts, S_LOGIN, what, request, &reply);
    pc_msg_destroy (&request);
    if (rc == 0) {
        printf ("#%s: notify %s\n", room, level);
        rc = client_listen_flush_stdout ();
    }
    pc_msg_destroy (&reply);
    return rc;
}

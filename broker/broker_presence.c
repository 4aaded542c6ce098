//  broker_presence.c: online, away, offline and typing (see broker_presence.h).
#include "broker_presence.h"
#include "broker_cluster.h"
#include "broker_dispatch.h"
#include "pc_limits.h"
#include "pc_redis.h"
#include "pc_util.h"

//  How a message is handed to the sessions concerned
#define TO_SUBJECT_ROOMS    1       //  also the rooms of the subject's sessions here
#define TO_SUBJECT          2       //  also the subject's own sessions here
#define NOT_SUBJECT         4       //  never the subject's own sessions

//  A user's first session on this broker came (ARGV[3] "in") or their last
//  one here went ("out"): when no other live broker has them (always, alone
//  on Redis: ARGV[4] "1"), the user was or is now offline everywhere: their
//  away message and the rooms they entered while online are forgotten, and
//  the answer is those rooms ({1, ROOM...}); else {0}. One script, so that
//  two brokers' last sessions of a user ending at once cannot both miss it.
//  KEYS[1] online:ID; ARGV[1] user, ARGV[2] this broker's id
static const char *s_script =
    "local user, me = ARGV[1], ARGV[2]\n"
    "if ARGV[4] ~= '1' then\n"
    "  if ARGV[3] == 'in' then redis.call('SADD', KEYS[1], user)\n"
    "  else redis.call('SREM', KEYS[1], user) end\n"
    "  for _, id in ipairs(redis.call('SMEMBERS', 'brokers')) do\n"
    "    if id ~= me and redis.call('EXISTS', 'broker:' .. id) == 1\n"
    "    and redis.call('SISMEMBER', 'online:' .. id, user) == 1 then return {0} end\n"
    "  end\n"
    "end\n"
    "local rooms = redis.call('SMEMBERS', 'presrooms:' .. user)\n"
    "redis.call('DEL', 'away:' .. user, 'presrooms:' .. user)\n"
    "table.insert(rooms, 1, 1)\n"
    "return rooms\n";

static pc_redis_t *
s_redis (broker_t *self)
{
    return broker_store_redis (self->store);
}

//  user came online here (in) or left the last of this broker's sessions:
//  true when no other live broker has them (or Redis cannot be asked), with
//  *rooms_p (when given) the rooms they entered while online, comma-separated
//  (caller frees).
static bool
s_alone (broker_t *self, const char *user, bool in, char **rooms_p)
{
    //  "online:ID" is forgotten with "members:*:ID" when the broker registers
    //  (a kill -9 left its predecessor's users there) and when it leaves
    const char *id = self->cluster? broker_cluster_id (self->cluster): "-";
    char key [64];
    snprintf (key, sizeof (key), "online:%s", id);
    const char *argv [] = { "EVAL", s_script, "1", key, user, id, in? "in": "out",
                            self->cluster? "0": "1" };
    redisReply *reply = pc_redis_argv (s_redis (self), 8, argv, NULL);
    bool alone = !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
              || reply->element [0]->type != REDIS_REPLY_INTEGER || reply->element [0]->integer == 1;
    if (rooms_p) {
        pc_buf_t list;
        pc_buf_init (&list);
        for (size_t i = 1; alone && reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++)
            if (reply->element [i]->type == REDIS_REPLY_STRING && pc_name_valid (reply->element [i]->str))
                pc_buf_printf (&list, "%s%s", list.size? ",": "", reply->element [i]->str);
        *rooms_p = list.size? strdup (list.data): NULL;
        pc_buf_free (&list);
    }
    if (reply)
        freeReplyObject (reply);
    return alone;
}

//  The away message of user (caller frees), NULL when online, or when
//  Redis cannot be read.
static char *
s_away (broker_t *self, const char *user)
{
    redisReply *reply = pc_redis_command (s_redis (self), "GET away:%s", user);
    char *text = reply && reply->type == REDIS_REPLY_STRING? strdup (reply->str): NULL;
    if (reply)
        freeReplyObject (reply);
    return text;
}

static void
s_send (broker_t *self, pc_msg_t *msg, broker_session_t *session, zhashx_t *done)
{
    if (!broker_session_user (session) || zhashx_lookup (done, broker_session_key (session)))
        return;
    zhashx_insert (done, broker_session_key (session), (void *) 1);
    pc_msg_set_topic (msg, broker_session_topic (session));
    pc_msg_send (msg, broker_fanout_socket (self->fanout));
}

//  msg to each session here in rooms (names separated by commas or
//  spaces; NULL: none), once each, as flags say about the subject user.
static void
s_deliver (broker_t *self, pc_msg_t *msg, const char *rooms, const char *subject, int flags)
{
    zhashx_t *done = zhashx_new ();
    zlistx_t *names = zlistx_new ();
    zlistx_set_destructor (names, (czmq_destructor *) zstr_free);
    if (rooms) {
        char *copy = strdup (rooms), *rest = copy, *name;
        while ((name = strsep (&rest, ", ")))
            if (*name)
                zlistx_add_end (names, strdup (name));
        free (copy);
    }
    if (flags & NOT_SUBJECT)
        //  Counted as done: never sent to
        for (broker_session_t *session = (broker_session_t *) zhashx_first (self->sessions);
             session; session = (broker_session_t *) zhashx_next (self->sessions))
            if (broker_session_user (session) && streq (broker_session_user (session), subject))
                zhashx_insert (done, broker_session_key (session), (void *) 1);
    if (flags & (TO_SUBJECT_ROOMS | TO_SUBJECT)) {
        zlistx_t *mine = zlistx_new ();
        for (broker_session_t *session = (broker_session_t *) zhashx_first (self->sessions);
             session; session = (broker_session_t *) zhashx_next (self->sessions))
            if (broker_session_user (session) && streq (broker_session_user (session), subject))
                zlistx_add_end (mine, session);
        for (broker_session_t *session = (broker_session_t *) zlistx_first (mine); session;
             session = (broker_session_t *) zlistx_next (mine)) {
            if (flags & TO_SUBJECT)
                s_send (self, msg, session, done);
            if (flags & TO_SUBJECT_ROOMS) {
                zlistx_t *joined = broker_session_rooms (session);
                for (char *name = (char *) zlistx_first (joined); name;
                     name = (char *) zlistx_next (joined))
                    zlistx_add_end (names, strdup (name));
                zlistx_destroy (&joined);
            }
        }
        zlistx_destroy (&mine);
    }
    for (char *name = (char *) zlistx_first (names); name; name = (char *) zlistx_next (names)) {
        broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, name);
        if (!room)
            continue;
        //  Collected first: s_send does not touch the room's iterator, but
        //  keep the walk short and plain
        zlistx_t *members = zlistx_new ();
        for (void *member = broker_room_first_session (room); member;
             member = broker_room_next_session (room))
            zlistx_add_end (members, member);
        for (broker_session_t *member = (broker_session_t *) zlistx_first (members); member;
             member = (broker_session_t *) zlistx_next (members))
            s_send (self, msg, member, done);
        zlistx_destroy (&members);
    }
    zlistx_destroy (&names);
    zhashx_destroy (&done);
}

//  user's state (online, away, offline; text: the away message) to the
//  members of rooms (comma-separated, may be "") and of the rooms user is
//  in, here and, unless heard from another broker, on every broker.
static void
s_announce (broker_t *self, const char *user, const char *state, const char *text,
            const char *rooms, bool local_only)
{
    pc_msg_t *msg = pc_presence_new (user, state, text && *text? text: NULL);
    s_deliver (self, msg, rooms, user, TO_SUBJECT_ROOMS | TO_SUBJECT);
    pc_msg_destroy (&msg);
    if (self->cluster && !local_only) {
        //  The other brokers learn the rooms of user's sessions here too
        pc_buf_t what;
        pc_buf_init (&what);
        pc_buf_printf (&what, "%s %s", state, rooms? rooms: "");
        for (broker_session_t *session = (broker_session_t *) zhashx_first (self->sessions);
             session; session = (broker_session_t *) zhashx_next (self->sessions)) {
            if (!broker_session_user (session) || !streq (broker_session_user (session), user))
                continue;
            zlistx_t *joined = broker_session_rooms (session);
            for (char *name = (char *) zlistx_first (joined); name;
                 name = (char *) zlistx_next (joined))
                pc_buf_printf (&what, ",%s", name);
            zlistx_destroy (&joined);
        }
        broker_cluster_control (self, "presence", user, what.data, text? text: "");
        pc_buf_free (&what);
    }
}

//  --------------------------------------------------------------------------
//  Sessions coming and going

void
broker_presence_login (broker_t *self, broker_session_t *session)
{
    const char *user = broker_session_user (session);
    size_t mine = 0;
    for (broker_session_t *other = (broker_session_t *) zhashx_first (self->sessions); other;
         other = (broker_session_t *) zhashx_next (self->sessions))
        if (broker_session_user (other) && streq (broker_session_user (other), user))
            mine++;
    if (mine == 1)
        s_alone (self, user, true, NULL);
}

void
broker_presence_logout (broker_t *self, broker_session_t *session, size_t others)
{
    const char *user = broker_session_user (session);
    char *rooms = NULL;
    if (!user || others > 0 || !s_alone (self, user, false, &rooms))
        return;
    //  Offline everywhere: the rooms they entered while online hear it
    s_announce (self, user, "offline", NULL, rooms? rooms: "", false);
    zstr_free (&rooms);
}

void
broker_presence_joined (broker_t *self, const char *user, const char *room)
{
    redisReply *reply = pc_redis_command (s_redis (self), "SADD presrooms:%s %s", user, room);
    if (reply)
        freeReplyObject (reply);
    char *away = s_away (self, user);
    pc_msg_t *msg = pc_presence_new (user, away? "away": "online", away);
    s_deliver (self, msg, room, user, 0);
    pc_msg_destroy (&msg);
    if (self->cluster) {
        char *what = zsys_sprintf ("%s %s", away? "away": "online", room);
        broker_cluster_control (self, "presence", user, what, away? away: "");
        zstr_free (&what);
    }
    zstr_free (&away);
}

//  --------------------------------------------------------------------------
//  AWAY [text]

int
broker_on_away (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *user = broker_session_user (session);
    const char *text = pc_away_text (request);
    if (text && strlen (text) > BROKER_AWAY_MAX) {
        char reason [64];
        snprintf (reason, sizeof (reason), "away message: at most %d bytes", BROKER_AWAY_MAX);
        broker_ctx_reply_error (self, request, PC_ERR_TOO_LONG, reason);
        return 0;
    }
    if (text && strpbrk (text, "\n\t")) {
        broker_ctx_reply_error (self, request, PC_ERR_BAD_TEXT, "away message: one line");
        return 0;
    }
    redisReply *reply = text? pc_redis_command (s_redis (self), "SET away:%s %s", user, text)
                            : pc_redis_command (s_redis (self), "DEL away:%s", user);
    if (!reply) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable");
        return 0;
    }
    freeReplyObject (reply);
    s_announce (self, user, text? "away": "online", text, "", false);
    broker_ctx_send (self, pc_away_ok (request, text? "away": "online"));
    return 0;
}

//  --------------------------------------------------------------------------
//  TYPING space: "ROOM" or "@USER"

//  A typing notice of from in space (as sent) to the sessions here.
static void
s_typing_here (broker_t *self, const char *from, const char *space)
{
    if (*space == '@') {
        char seen [PC_NAME_MAX + 2];
        snprintf (seen, sizeof (seen), "@%s", from);    //  the peer's name for the DM
        pc_msg_t *msg = pc_typing_new (seen, from);
        broker_fanout_to_user (self->fanout, msg, space + 1);
        pc_msg_destroy (&msg);
    }
    else {
        pc_msg_t *msg = pc_typing_new (space, from);
        s_deliver (self, msg, space, from, NOT_SUBJECT);
        pc_msg_destroy (&msg);
    }
}

int
broker_on_typing (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *user = broker_session_user (session);
    const char *space = pc_typing_space (request);
    const char *name = *space == '@'? space + 1: space;
    char reason [PC_NAME_MAX + 64];
    if (!pc_name_valid (name)) {
        broker_ctx_reply_error (self, request, PC_ERR_BAD_NAME,
                                "typing: a room, or @ and a user name");
        return 0;
    }
    if (*space == '@' && streq (name, user)) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "typing: not to yourself");
        return 0;
    }
    if (*space != '@' && !broker_session_in_room (session, name)) {
        snprintf (reason, sizeof (reason), "typing: not in #%s (join it first)", name);
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN, reason);
        return 0;
    }
    char key [PC_NAME_MAX + 16];
    snprintf (key, sizeof (key), "typing/%s", space);
    int64_t wait = broker_limits_slow (self->limits, key, user, BROKER_TYPING_EVERY_S, pc_now_ms ());
    if (wait > 0) {
        snprintf (reason, sizeof (reason), "typing: one notice every %d s", BROKER_TYPING_EVERY_S);
        pc_msg_t *reply = pc_msg_new_error (request, PC_ERR_THROTTLED, reason);
        pc_msg_addf (reply, "retry-after=%" PRId64, wait);
        broker_ctx_send (self, reply);
        return 0;
    }
    s_typing_here (self, user, space);
    if (self->cluster)
        broker_cluster_control (self, "typing", user, space, "");
    broker_ctx_reply_ok (self, request);
    return 0;
}

//  --------------------------------------------------------------------------
//  Other brokers' news

void
broker_presence_control (broker_t *self, const char *command, const char *a, const char *b,
                         const char *c)
{
    if (!a || !b || !pc_name_valid (a))
        return;
    if (streq (command, "typing")) {
        const char *name = *b == '@'? b + 1: b;
        if (pc_name_valid (name))
            s_typing_here (self, a, b);
    }
    else
    if (streq (command, "presence")) {
        char state [16] = "";
        const char *rooms = strchr (b, ' ');
        snprintf (state, sizeof (state), "%.*s", (int) (rooms? rooms - b: (int) strlen (b)), b);
        if (streq (state, "online") || streq (state, "away") || streq (state, "offline"))
            s_announce (self, a, state, c, rooms? rooms + 1: "", true);
    }
}

//  --------------------------------------------------------------------------
//  WHO room presence

zlistx_t *
broker_presence_who (broker_t *self, zlistx_t *members)
{
    size_t count = zlistx_size (members);
    zlistx_t *out = zlistx_new ();
    zlistx_set_destructor (out, (czmq_destructor *) zstr_free);
    if (count == 0)
        return out;
    redisReply *reply = pc_redis_keys (s_redis (self), "MGET", "away:", members);
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == count) {
        size_t i = 0;
        for (const char *user = (const char *) zlistx_first (members); user;
             user = (const char *) zlistx_next (members), i++) {
            redisReply *away = reply->element [i];
            zlistx_add_end (out, away->type == REDIS_REPLY_STRING
                                 ? zsys_sprintf ("%s away %s", user, away->str)
                                 : zsys_sprintf ("%s online", user));
        }
    }
    else
        zlistx_destroy (&out);
    if (reply)
        freeReplyObject (reply);
    return out;
}

void
broker_presence_test (bool verbose)
{
    printf (" * broker_presence: ");
    //  Presence needs sessions, rooms and Redis: tests/wire/test_presence.py
    //  runs it against real stacks. Here: the script's shape.
    assert (strstr (s_script, "SADD") && strstr (s_script, "'away:' .. user"));
    assert (BROKER_AWAY_MAX < PC_TEXT_MAX);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

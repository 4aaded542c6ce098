//  broker_files.c: FILES, FCHECK, FEVENT (see broker_files.h).
#include "broker_files.h"
#include "broker_dispatch.h"
#include "pc_limits.h"
#include "pc_util.h"

#define FILESVC_SILENCE_MS  6000    //  file service not heard for this long: FILES answers 503

//  FILES: where the file service is, while it is alive.
int
broker_on_files (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    if (!self->filesvc_heard || pc_now_ms () - self->filesvc_heard > FILESVC_SILENCE_MS) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE,
                                "the file service is not running (not heard from in the last 6 s)");
        return 0;
    }
    //  What clients are told: PYCHAT_PUBLIC_FILES when the operator set it
    //  (ports remapped by a container runtime or a proxy), else base+5 on
    //  the broker's own host (an empty host field).
    char port [16];
    snprintf (port, sizeof (port), "%d", self->config.public_files_port
              ? self->config.public_files_port: self->config.base_port + PC_OFF_FILES);
    broker_ctx_send (self, pc_files_ok (request, port, self->filesvc_key,
                                        self->config.public_files_host));
    return 0;
}

//  The space id of "@peer" for user: one space for the pair, whoever asks
//  (the names sorted). 0, or -1 when it was refused (answered).
static int
s_pair_space (broker_t *self, pc_msg_t *request, const char *user, const char *peer,
              char *space_id, size_t max)
{
    if (!pc_name_valid (peer)) {
        broker_ctx_reply_error (self, request, PC_ERR_BAD_NAME, "a private space is @ and a user name");
        return -1;
    }
    if (streq (peer, user)) {
        broker_ctx_reply_error (self, request, PC_ERR_BAD_NAME,
                                "a private space is shared with another user, not yourself");
        return -1;
    }
    bool first = strcmp (user, peer) < 0;
    snprintf (space_id, max, "dm/%s+%s", first? user: peer, first? peer: user);
    return 0;
}

//  The space id of a room for session: 0, or -1 when it was refused.
static int
s_room_space (broker_t *self, pc_msg_t *request, broker_session_t *session, const char *space,
              char *space_id, size_t max)
{
    if (!pc_name_valid (space)) {
        broker_ctx_reply_error (self, request, PC_ERR_BAD_NAME, "a space is a room name or @user");
        return -1;
    }
    //  The files of a room are for its members, as its history is; a room
    //  that does not exist (or that session may not see) is 404
    if (!broker_ctx_room_for (self, request, session, space))
        return -1;
    if (!broker_session_in_room (session, space)) {
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN, "join the room before using its files");
        return -1;
    }
    snprintf (space_id, max, "room/%s", space);
    return 0;
}

//  FCHECK key space: OK user role space-id when key's session is logged in
//  and may use space (a room it joined, or "@peer" for the pair's space).
int
broker_on_fcheck (broker_t *self, pc_msg_t *request, broker_session_t *filesvc)
{
    const char *key = pc_fcheck_key (request);
    const char *space = pc_fcheck_space (request);
    broker_session_t *session = (broker_session_t *) zhashx_lookup (self->sessions, key);
    const char *user = session? broker_session_user (session): NULL;
    if (!user) {
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN,
                                "log in to the broker first, with the key you use for files");
        return 0;
    }
    char space_id [PC_NAME_MAX * 2 + 8];
    int rc = space [0] == '@'?
             s_pair_space (self, request, user, space + 1, space_id, sizeof (space_id)):
             s_room_space (self, request, session, space, space_id, sizeof (space_id));
    if (rc == -1)
        return 0;
    broker_ctx_send (self, pc_fcheck_ok (request, user, broker_session_role (session), space_id));
    return 0;
}

//  "shared NAME (SIZE)": bytes, or KiB, MiB, GiB with one decimal.
static void
s_human_size (const char *text, char *size, size_t max)
{
    double value = (double) strtoull (text, NULL, 10);
    const char *units [] = { "KiB", "MiB", "GiB" };
    if (value < 1024)
        snprintf (size, max, "%.0f B", value);
    else {
        size_t unit = 0;
        for (value /= 1024; value >= 1024 && unit < 2; value /= 1024)
            unit++;
        snprintf (size, max, "%.1f %s", value, units [unit]);
    }
}

//  Posts "shared NAME (SIZE)" in room as user, stored then delivered like
//  any room message, once per file id (a resent event is not posted
//  again): 0 posted, 1 posted before, -1 not stored (storage down).
static int
s_post_shared (broker_t *self, const char *name, const char *user, const char *file,
               const char *size, const char *file_id)
{
    char human [32], text [PC_TEXT_MAX + 1], cmid [PC_ID_MAX + 1], stream [48];
    s_human_size (size, human, sizeof (human));
    snprintf (text, sizeof (text), "shared %s (%s)", file, human);
    if (!pc_utf8_valid (text, strlen (text)))
        return 1;               //  the file service checked the name: cannot happen
    snprintf (cmid, sizeof (cmid), "file-%.58s", file_id);
    snprintf (stream, sizeof (stream), "room:%s", name);
    uint64_t seq;
    int64_t ts;
    int rc = broker_store_append (self->store, stream, user, cmid, text, &seq, &ts);
    if (rc == -1)
        return -1;
    broker_room_t *room = broker_ctx_room (self, name);
    if (room)
        broker_room_set_seq (room, seq);
    if (rc == 1)
        return 1;
    if (!room)
        return 0;               //  stored (its history has it); Redis went away meanwhile
    broker_room_add_message (room);
    pc_msg_t *out = pc_msg_new ("MSG");
    pc_msg_addf (out, "%" PRIu64, seq);
    pc_msg_add (out, name);
    pc_msg_add (out, user);
    pc_msg_addf (out, "%" PRId64, ts);
    pc_msg_add (out, text);
    zframe_t *packed = pc_msg_pack (out);
    broker_fanout_room_add (self->fanout, room, zframe_data (packed), zframe_size (packed));
    broker_fanout_flush (self->fanout);
    zframe_destroy (&packed);
    pc_msg_destroy (&out);
    return 0;
}

//  A file-up event in a room is posted there: 0 go on (posted, or not for a
//  room), 1 answered already (storage down, or posted before).
static int
s_post_file_up (broker_t *self, pc_msg_t *request)
{
    const char *user = pc_ev_file_up_user (request);
    const char *space = pc_ev_file_up_space (request);
    const char *file_id = pc_msg_nfields (request) >= 6? pc_ev_file_up_file_id (request): "";
    if (strncmp (space, "room/", 5) != 0 || !pc_name_valid (space + 5) || !pc_name_valid (user)
    ||  !*file_id)
        return 0;
    int rc = s_post_shared (self, space + 5, user, pc_ev_file_up_name (request),
                            pc_ev_file_up_size (request), file_id);
    if (rc == -1)
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable, try again");
    else
    if (rc == 1)                //  seen before: announced already
        broker_ctx_reply_ok (self, request);
    return rc == 0? 0: 1;
}

//  FEVENT kind fields...: published as EVENT on "$ev/"; a file-up in a
//  room is also posted there (answered 503 when it cannot be stored, so
//  the file service sends it again).
int
broker_on_fevent (broker_t *self, pc_msg_t *request, broker_session_t *filesvc)
{
    if (pc_msg_ev (request) == PC_EV_FILE_UP && pc_msg_nfields (request) >= 5
    &&  s_post_file_up (self, request) == 1)
        return 0;
    pc_msg_t *event = pc_event_new (pc_fevent_kind (request));
    pc_msg_set_topic (event, PC_TOPIC_EVENT);
    for (size_t i = 0; i < pc_fevent_arg_count (request); i++)
        pc_msg_add (event, pc_fevent_arg (request, i));
    broker_fanout_send (self->fanout, event);
    pc_msg_destroy (&event);
    broker_ctx_reply_ok (self, request);
    return 0;
}

void
broker_files_test (bool verbose)
{
    printf (" * broker_files: ");
    char size [32];
    s_human_size ("512", size, sizeof (size));
    assert (streq (size, "512 B"));
    s_human_size ("1536", size, sizeof (size));
    assert (streq (size, "1.5 KiB"));
    s_human_size ("3145728", size, sizeof (size));
    assert (streq (size, "3.0 MiB"));
    s_human_size ("5368709120", size, sizeof (size));
    assert (streq (size, "5.0 GiB"));
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

//  broker_dm_kinds.c: edits, deletes, replies and reactions of direct
//  messages (see broker_dm_kinds.h).
//
//  The broker never sees a DM's text, nor an event's: an edit's new text, a
//  reply and a reaction travel as a new sealed box. What it checks is what
//  it can see: that ref is a message (not an event) of this conversation in
//  the asker's inbox, and that an edit or a delete is its author's.
#include "broker_dm_kinds.h"
#include "broker_chat.h"
#include "pc_limits.h"
#include "pc_proto.h"
#include "pc_util.h"

#include <inttypes.h>

//  Links the two ids of a DM. KEYS: dmlink:TO, dmlink:FROM.
//  ARGV: to-id, "FROM from-id", from-id, "TO to-id".
static const char *s_link_lua =
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) "
    "redis.call('HSET', KEYS[2], ARGV[3], ARGV[4]) "
    "return 1";

//  A delete: message ID's entry and its edits leave the inbox, in both
//  inboxes at once, and so do its links. KEYS: inbox:A, dmlink:A,
//  inbox:B, dmlink:B. ARGV: the id in A, the id in B ("": a DM to oneself,
//  one inbox). Returns the entries removed.
static const char *s_scrub_lua =
    "local gone = 0 "
    "local function scrub (stream, link, id) "
    "  local first = id .. '-0' "
    "  local prefix = '\\30edit ' .. id .. ' ' "
    "  for _, e in ipairs (redis.call ('XRANGE', stream, first, '+')) do "
    "    local f = e[2] "
    "    for i = 1, #f - 1, 2 do "
    "      if f[i] == 'text' and (e[1] == first "
    "          or string.sub (f[i + 1], 1, #prefix) == prefix) then "
    "        gone = gone + redis.call ('XDEL', stream, e[1]) end "
    "    end "
    "  end "
    "  redis.call ('HDEL', link, id) "
    "end "
    "scrub (KEYS[1], KEYS[2], ARGV[1]) "
    "if ARGV[2] ~= '' then scrub (KEYS[3], KEYS[4], ARGV[2]) end "
    "return gone";

void
broker_dm_kinds_link (broker_t *self, const char *to, uint64_t to_seq,
                      const char *from, uint64_t from_seq)
{
    char to_key [PC_NAME_MAX + 8], from_key [PC_NAME_MAX + 8];
    char to_id [24], from_id [24], to_val [PC_NAME_MAX + 24], from_val [PC_NAME_MAX + 24];
    snprintf (to_key, sizeof (to_key), "dmlink:%s", to);
    snprintf (from_key, sizeof (from_key), "dmlink:%s", from);
    snprintf (to_id, sizeof (to_id), "%" PRIu64, to_seq);
    snprintf (from_id, sizeof (from_id), "%" PRIu64, from_seq);
    snprintf (to_val, sizeof (to_val), "%s %" PRIu64, from, from_seq);
    snprintf (from_val, sizeof (from_val), "%s %" PRIu64, to, to_seq);
    const char *argv [] = { "EVAL", s_link_lua, "2", to_key, from_key,
                            to_id, to_val, from_id, from_val };
    redisReply *reply = pc_redis_argv (broker_store_redis (self->store), 9, argv, NULL);
    if (!reply)
        zsys_warning ("broker: a DM's link was not stored (its events will be 404)");
    else
        freeReplyObject (reply);
}

//  The peer's id of message seq of user's inbox: 0 with peer_seq set, 1 no
//  link to peer, -1 Redis unavailable.
static int
s_link_find (broker_t *self, const char *user, uint64_t seq, const char *peer,
             uint64_t *peer_seq)
{
    redisReply *reply = pc_redis_command (broker_store_redis (self->store),
                                          "HGET dmlink:%s %" PRIu64, user, seq);
    if (!reply)
        return -1;
    int rc = 1;
    char name [PC_NAME_MAX + 1];
    unsigned long long id;
    if (reply->type == REDIS_REPLY_STRING
    &&  sscanf (reply->str, "%32s %llu", name, &id) == 2 && streq (name, peer)) {
        *peer_seq = id;
        rc = 0;
    }
    freeReplyObject (reply);
    return rc;
}

static int
s_scrub (broker_t *self, const char *user, uint64_t seq, const char *peer, uint64_t peer_seq)
{
    broker_store_flush (self->store);
    char keys [4][PC_NAME_MAX + 8], ids [2][24];
    snprintf (keys [0], sizeof (keys [0]), "inbox:%s", user);
    snprintf (keys [1], sizeof (keys [1]), "dmlink:%s", user);
    snprintf (keys [2], sizeof (keys [2]), "inbox:%s", peer);
    snprintf (keys [3], sizeof (keys [3]), "dmlink:%s", peer);
    snprintf (ids [0], sizeof (ids [0]), "%" PRIu64, seq);
    if (peer_seq)
        snprintf (ids [1], sizeof (ids [1]), "%" PRIu64, peer_seq);
    else
        *ids [1] = 0;
    const char *argv [] = { "EVAL", s_scrub_lua, "4", keys [0], keys [1], keys [2], keys [3],
                            ids [0], ids [1] };
    redisReply *reply = pc_redis_argv (broker_store_redis (self->store), 9, argv, NULL);
    if (!reply)
        return -1;
    int rc = reply->type == REDIS_REPLY_INTEGER? 0: -1;
    freeReplyObject (reply);
    return rc;
}

//  True when this event was stored in to's inbox already (a resend after a
//  lost OK: the store's dedup key): it is answered as the first time, not
//  checked again (a deleted message is no longer there to check).
static bool
s_stored_before (broker_t *self, const char *user, const char *to, const char *cmid)
{
    char stream [PC_NAME_MAX + 16];
    snprintf (stream, sizeof (stream), "inbox:%s", to);
    return broker_store_sent_before (self->store, user, stream, cmid);
}

//  A message (plain or a reply) may be edited, deleted, replied and
//  reacted to; an event may not.
static bool
s_is_message (const char *text)
{
    return text [0] != BROKER_EVENT_MARK || strncmp (text + 1, "reply ", 6) == 0;
}

static void
s_not_found (broker_t *self, pc_msg_t *request, uint64_t ref, const char *to)
{
    char reason [96];
    snprintf (reason, sizeof (reason), "no message %" PRIu64 " with @%s", ref, to);
    broker_ctx_reply_error (self, request, PC_ERR_NOT_FOUND, reason);
}

//  Checks what the broker can see of an event about message ref of
//  user's inbox, in the conversation with to: 0 with *peer_ref (to's id of
//  it) set, and for a delete the message gone from both inboxes; -1 when
//  the request was answered with an error.
static int
s_check (broker_t *self, pc_msg_t *request, const char *user, const char *to, uint64_t ref,
         bool alone, bool erase, bool edit, uint64_t *peer_ref)
{
    char own [PC_NAME_MAX + 8];
    snprintf (own, sizeof (own), "inbox:%s", user);
    //  ref is an id of the asker's inbox: a DM from to, or the copy of one
    //  to to ("USER>TO")
    broker_record_t *target = NULL;
    int rc = broker_store_entry (self->store, own, ref, &target);
    if (rc == -1) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable, try again");
        return -1;
    }
    char author [PC_NAME_MAX + 1] = "";
    const char *peer = NULL;
    if (rc == 0) {
        const char *arrow = strchr (target->from, '>');
        snprintf (author, sizeof (author), "%.*s",
                  (int) (arrow? arrow - target->from: (ptrdiff_t) strlen (target->from)),
                  target->from);
        peer = arrow? arrow + 1: target->from;
    }
    bool found = rc == 0 && s_is_message (target->text) && streq (peer, to);
    broker_store_record_destroy (&target);
    if (!found) {
        s_not_found (self, request, ref, to);
        return -1;
    }
    if ((edit || erase) && !streq (author, user)) {
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN, edit
                                ? "only its author may edit a direct message"
                                : "only its author may delete a direct message");
        return -1;
    }
    if (!alone && (rc = s_link_find (self, user, ref, to, peer_ref)) != 0) {
        if (rc == -1)
            broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable, try again");
        else
            s_not_found (self, request, ref, to);   //  stored before links, or its copy was lost
        return -1;
    }
    //  A delete takes the box out of both inboxes first: what is
    //  acknowledged as deleted is gone
    if (erase && s_scrub (self, user, ref, to, *peer_ref) != 0) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable, try again");
        return -1;
    }
    return 0;
}

int
broker_dm_kinds_event (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *to = pc_dm_to (request);
    const char *kind = pc_dm_kind (request);
    const char *box = pc_dm_box (request);
    const char *user = broker_session_user (session);
    bool edit = streq (kind, "edit"), erase = streq (kind, "delete"), reply = streq (kind, "reply");
    bool react = streq (kind, "react") || streq (kind, "unreact");
    if (!(edit || erase || reply || react)) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED,
                                "kind: edit, delete, reply, react or unreact");
        return 0;
    }
    const char *ref_text = pc_dm_ref (request);
    if (!ref_text || *ref_text == '-' || strtoull (ref_text, NULL, 10) == 0) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "ref: the id of a message");
        return 0;
    }
    uint64_t ref = strtoull (ref_text, NULL, 10);
    bool alone = streq (to, user);      //  a DM to oneself: one inbox
    char own [PC_NAME_MAX + 8], peer_inbox [PC_NAME_MAX + 8];
    snprintf (own, sizeof (own), "inbox:%s", user);
    snprintf (peer_inbox, sizeof (peer_inbox), "inbox:%s", to);
    uint64_t peer_ref = 0;
    int rc = 0;
    if (!s_stored_before (self, user, to, pc_dm_cmid (request))) {
        rc = s_check (self, request, user, to, ref, alone, erase, edit, &peer_ref);
        if (rc)
            return 0;                   //  answered
    }
    //  The event, in each inbox with that inbox's id of the message
    pc_buf_t mine, theirs;
    pc_buf_init (&mine);
    pc_buf_init (&theirs);
    pc_buf_printf (&mine, "%c%s %" PRIu64, BROKER_EVENT_MARK, kind, ref);
    pc_buf_printf (&theirs, "%c%s %" PRIu64, BROKER_EVENT_MARK, kind, peer_ref);
    if (!erase) {
        pc_buf_printf (&mine, " %s", box);
        pc_buf_printf (&theirs, " %s", box);
    }
    uint64_t seq = 0, own_seq = 0;
    int64_t ts = 0, own_ts = 0;
    if (!alone) {
        rc = broker_store_append (self->store, peer_inbox, user, pc_dm_cmid (request),
                                  theirs.data, &seq, &ts);
        if (rc < 0) {
            broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, rc == -2
                                    ? "message not yet on a replica: send it again (it is stored once)"
                                    : "message not stored: storage unavailable, try again");
            pc_buf_free (&mine);
            pc_buf_free (&theirs);
            return 0;
        }
        if (rc == 0 && !self->cluster)
            broker_chat_deliver_dm (self, to, seq, ts, user, theirs.data);
    }
    char copy_from [2 * PC_NAME_MAX + 2];
    snprintf (copy_from, sizeof (copy_from), alone? "%s": "%s>%s", user, to);
    int own_rc = broker_store_append (self->store, own, copy_from, pc_dm_cmid (request),
                                      mine.data, &own_seq, &own_ts);
    if (own_rc < 0 && alone) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE,
                                "message not stored: storage unavailable, try again");
        pc_buf_free (&mine);
        pc_buf_free (&theirs);
        return 0;
    }
    if (own_rc < 0)
        zsys_warning ("broker: the sender's copy of a DM event was not stored");
    else
    if (own_rc == 0 && !self->cluster)
        broker_chat_deliver_dm (self, user, own_seq, own_ts, copy_from, mine.data);
    if (alone) {
        seq = own_seq;
        ts = own_ts;
    }
    //  A reply is a message: it may be edited, deleted, replied to
    if (reply && !alone && own_rc >= 0)
        broker_dm_kinds_link (self, to, seq, user, own_seq);
    if (rc == 0 || own_rc == 0)
        broker_ctx_event (self, "dm", user, to);    //  metadata only
    char id [24], time [24], own_id [24];
    snprintf (id, sizeof (id), "%" PRIu64, seq);
    snprintf (time, sizeof (time), "%" PRId64, ts);
    snprintf (own_id, sizeof (own_id), "%" PRIu64, own_rc >= 0? own_seq: 0);
    broker_ctx_send (self, pc_dm_ok (request, id, time, own_id));
    pc_buf_free (&mine);
    pc_buf_free (&theirs);
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest: links and the delete's scrub on a real Redis

static uint64_t
s_test_append (broker_store_t *store, const char *stream, const char *from, const char *text)
{
    uint64_t seq = 0;
    int64_t ts;
    char cmid [32];
    snprintf (cmid, sizeof (cmid), "t-%" PRIu64, (uint64_t) zclock_usecs ());
    int rc = broker_store_append (store, stream, from, cmid, text, &seq, &ts);
    assert (rc == 0);
    return seq;
}

void
broker_dm_kinds_test (bool verbose)
{
    printf (" * broker_dm_kinds: ");
    int port = 0;
    pid_t redis = pc_redis_server_start (&port);
    if (redis <= 0) {
        printf ("SKIPPED (no redis-server)\n");
        return;
    }
    broker_t self;
    memset (&self, 0, sizeof (self));
    self.store = broker_store_new ("127.0.0.1", port, 100);
    //  Two DMs a -> b, each with its copy, linked; an edit of the first
    uint64_t keep_b = s_test_append (self.store, "inbox:b", "a", "2 k BOXKEEP");
    uint64_t keep_a = s_test_append (self.store, "inbox:a", "a>b", "2 k BOXKEEP");
    broker_dm_kinds_link (&self, "b", keep_b, "a", keep_a);
    uint64_t doomed_b = s_test_append (self.store, "inbox:b", "a", "2 k BOXGONE");
    uint64_t doomed_a = s_test_append (self.store, "inbox:a", "a>b", "2 k BOXGONE");
    broker_dm_kinds_link (&self, "b", doomed_b, "a", doomed_a);
    char edit [64];
    snprintf (edit, sizeof (edit), "\x1e" "edit %" PRIu64 " 2 k EDITGONE", doomed_b);
    uint64_t edit_b = s_test_append (self.store, "inbox:b", "a", edit);
    snprintf (edit, sizeof (edit), "\x1e" "edit %" PRIu64 " 2 k EDITGONE", doomed_a);
    s_test_append (self.store, "inbox:a", "a>b", edit);
    uint64_t peer = 0;
    assert (s_link_find (&self, "a", doomed_a, "b", &peer) == 0 && peer == doomed_b);
    assert (s_link_find (&self, "b", doomed_b, "a", &peer) == 0 && peer == doomed_a);
    assert (s_link_find (&self, "a", doomed_a, "c", &peer) == 1);   //  another conversation
    //  The delete: the DM and its edit leave both inboxes, and so do their
    //  links; the other DM stays
    assert (s_scrub (&self, "a", doomed_a, "b", doomed_b) == 0);
    broker_record_t *record = NULL;
    assert (broker_store_entry (self.store, "inbox:a", doomed_a, &record) == 1);
    assert (broker_store_entry (self.store, "inbox:b", doomed_b, &record) == 1);
    assert (broker_store_entry (self.store, "inbox:b", edit_b, &record) == 1);
    assert (broker_store_entry (self.store, "inbox:b", keep_b, &record) == 0);
    assert (streq (record->text, "2 k BOXKEEP"));
    broker_store_record_destroy (&record);
    assert (s_link_find (&self, "a", doomed_a, "b", &peer) == 1);
    assert (s_link_find (&self, "b", doomed_b, "a", &peer) == 1);
    assert (s_link_find (&self, "a", keep_a, "b", &peer) == 0 && peer == keep_b);
    zlistx_t *records = broker_store_records_new ();
    assert (broker_store_history (self.store, "inbox:a", BROKER_FROM_START, 100, records) == 0);
    assert (zlistx_size (records) == 1);
    zlistx_destroy (&records);
    assert (s_is_message ("2 k BOX") && s_is_message ("\x1e" "reply 3 2 k BOX"));
    assert (!s_is_message ("\x1e" "edit 3 2 k BOX") && !s_is_message ("\x1e" "delete 3"));
    broker_store_destroy (&self.store);
    pc_redis_server_stop (redis);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

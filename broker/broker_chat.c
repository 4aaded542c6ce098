//  broker_chat.c: rooms and messages (see broker_chat.h).
#include "broker_chat.h"
#include "broker_cluster.h"
#include "broker_dispatch.h"
#include "broker_dm_kinds.h"
#include "broker_marks.h"
#include "broker_moderation.h"
#include "broker_presence.h"
#include "broker_roomdb.h"
#include "pc_limits.h"
#include "pc_util.h"

int
broker_on_ping (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    broker_ctx_send (self, pc_ping_ok (request, "PONG"));
    return 0;
}


//  First sight of the room since start: learn its last id from Redis
static void
s_learn_seq (broker_t *self, broker_room_t *room, const char *name)
{
    char stream [48];
    snprintf (stream, sizeof (stream), "room:%s", name);
    zlistx_t *records = broker_store_records_new ();
    if (broker_store_history (self->store, stream, 0, 1, records) == 0
    &&  zlistx_first (records))
        broker_room_set_seq (room, ((broker_record_t *) zlistx_first (records))->seq);
    zlistx_destroy (&records);
}

int
broker_on_join (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_join_room (request);
    const char *user = broker_session_user (session);
    broker_room_t *room = broker_ctx_room (self, name);
    if (!room) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE,
                                "room settings unavailable: storage is down");
        return 0;
    }
    if (!broker_session_in_room (session, name)
    &&  !broker_room_may_join (room, user, broker_ctx_is_admin (session))) {
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN,
                                "invite-only room: ask its creator for an invitation");
        return 0;
    }
    if (broker_room_seq (room) == 0)
        s_learn_seq (self, room, name);
    if (self->cluster) {
        broker_cluster_watch_room (self, name);
        broker_cluster_room_made (self, name);
    }
    if (!broker_session_in_room (session, name)) {
        broker_session_add_room (session, name);
        if (broker_room_join (room, user, broker_session_key (session), session))
            broker_ctx_membership (self, user, name, true);
    }
    broker_marks_joined (self, user, name, broker_room_seq (room));
    broker_ctx_send (self, pc_join_ok (request, name, broker_session_topic (session)));
    return 0;
}

int
broker_on_leave (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_leave_room (request);
    if (!broker_session_in_room (session, name)) {
        broker_ctx_reply_error (self, request, PC_ERR_NOT_FOUND, "not in that room");
        return 0;
    }
    broker_room_t *room = (broker_room_t *) zhashx_lookup (self->rooms, name);
    if (room && broker_room_leave (room, broker_session_user (session), broker_session_key (session))) {
        broker_ctx_membership (self, broker_session_user (session), name, false);
        broker_marks_left (self, broker_session_user (session), name);
    }
    broker_session_remove_room (session, name);
    broker_ctx_send (self, pc_leave_ok (request, name));
    return 0;
}

//  --------------------------------------------------------------------------
//  SEND: the hot path. Per SEND: one lookup of the sender's room, one
//  packed MSG built once and shared by every member (broker_fanout).

//  Can this SEND join the batch? Else it gets its answer now.
static bool
s_send_batchable (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_send_room (request);
    if (!broker_session_in_room (session, name)) {
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN, "join the room before sending to it");
        return false;
    }
    //  A resent SEND (same client message id) is acknowledged, not repeated
    uint64_t seq;
    int64_t ts;
    if (broker_session_sent (session, name, pc_send_cmid (request), &seq, &ts)) {
        char id_text [PC_INT_TEXT], ts_text [PC_INT_TEXT];
        pc_uint_text (id_text, seq);
        pc_int_text (ts_text, ts);
        broker_ctx_send (self, pc_send_ok (request, id_text, ts_text));
        return false;
    }
    return true;
}

static void s_send_event (broker_t *self, pc_msg_t *request, broker_session_t *session);

//  The request is the filling lot's next slot, the one the actor read it
//  into: batching it is counting it. A SEND with a kind (an edit, delete,
//  reply or reaction) is not batched: it is checked against the message it
//  is about first.
int
broker_on_send (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    broker_lot_t *lot = broker_ctx_lot (self);
    assert (request == lot->msgs [lot->size]);
    if (pc_send_kind (request)) {
        broker_chat_flush (self);       //  what it is about may be in the lot
        s_send_event (self, request, session);
    }
    else
    if (s_send_batchable (self, request, session)) {
        lot->received [lot->size] = zclock_usecs ();
        lot->sessions [lot->size++] = session;
        if (lot->size == BROKER_BATCH_MAX)
            broker_chat_post (self);
    }
    return 0;
}

void
broker_chat_deliver (broker_t *self, broker_room_t *room, uint64_t seq, int64_t ts,
                     const char *from, const char *text)
{
    broker_room_set_seq (room, seq);
    broker_room_add_message (room);
    char id [PC_INT_TEXT], time [PC_INT_TEXT];
    pc_uint_text (id, seq);
    pc_int_text (time, ts);
    const char *fields [] = { id, broker_room_name (room), from, time, text };
    pc_buf_reset (&self->packed);
    pc_msg_pack_parts (&self->packed, "MSG", NULL, 5, fields, NULL);
    broker_fanout_room_add (self->fanout, room, self->packed.data, self->packed.size);
}

void
broker_chat_deliver_dm (broker_t *self, const char *owner, uint64_t seq, int64_t ts,
                        const char *from, const char *box)
{
    char id [32], time [32], sender [PC_NAME_MAX + 1];
    snprintf (id, sizeof (id), "%" PRIu64, seq);
    snprintf (time, sizeof (time), "%" PRId64, ts);
    //  The sender's copy in its own inbox is from "FROM>TO"
    const char *to = owner;
    const char *arrow = strchr (from, '>');
    if (arrow) {
        snprintf (sender, sizeof (sender), "%.*s", (int) (arrow - from), from);
        from = sender;
        to = arrow + 1;
    }
    pc_msg_t *out = pc_dmmsg_new (id, from, to, time, box);
    broker_fanout_to_user (self->fanout, out, owner);
    pc_msg_destroy (&out);
}

//  Delivers the lot's new messages (rc 0) to their rooms: the fan-out
//  sends each session this lot's messages of a room in a few frames, and
//  the room's topic, which only the monitor may hear, each message once.
static void
s_deliver_lot (broker_t *self, broker_lot_t *lot)
{
    for (size_t i = 0; i < lot->size; i++) {
        if (lot->items [i].rc != 0)
            continue;
        broker_room_t *room = broker_ctx_room (self, pc_send_room (lot->msgs [i]));
        if (room)               //  cannot fail: its sender is in it (stored, in the history)
            broker_chat_deliver (self, room, lot->items [i].seq, lot->items [i].ts,
                                 lot->items [i].from, lot->items [i].text);
    }
    broker_fanout_flush (self->fanout);
}

//  A SEND's id and time, remembered against a resend
static void
s_remember (pc_msg_t *request, broker_session_t *session, broker_append_t *item)
{
    broker_session_remember (session, pc_send_room (request), pc_send_cmid (request),
                             item->seq, item->ts);
}

//  What the session keeps of a SEND stored (rc 0) or recognised (rc 1),
//  and its id and time as text for the OK. A lot numbered ahead was
//  remembered when it was delivered.
static void
s_ack_note (pc_msg_t *request, broker_session_t *session, broker_append_t *item, bool ahead,
            char *id, char *ts)
{
    if (item->rc == 0 && !ahead)
        broker_session_set_resends_done (session);
    if (!ahead)
        s_remember (request, session, item);
    pc_uint_text (id, item->seq);
    pc_int_text (ts, item->ts);
}

//  The answer to one SEND: its id and time, or that it was not stored
static pc_msg_t *
s_ack (pc_msg_t *request, broker_session_t *session, broker_append_t *item, bool ahead)
{
    if (item->rc < 0) {
        if (ahead)
            broker_session_forget (session, pc_send_room (request), pc_send_cmid (request));
        return pc_msg_new_error (request, PC_ERR_UNAVAILABLE, item->rc == -2
                                 ? "message not yet on a replica: send it again (it is stored once)"
                                 : "message not stored: storage unavailable, try again");
    }
    char id [PC_INT_TEXT], ts [PC_INT_TEXT];
    s_ack_note (request, session, item, ahead, id, ts);
    return pc_send_ok (request, id, ts);
}

static void
s_acknowledge_one (broker_t *self, pc_msg_t *request, broker_session_t *session,
                   broker_append_t *item, bool ahead)
{
    broker_ctx_send (self, s_ack (request, session, item, ahead));
}

//  Acknowledges each SEND of the lot. A connection's answers of one lot
//  go out packed in one frame (a batch, PROTOCOL.md "Framing"): one CURVE
//  box each way instead of one per SEND, and one send instead of two. An
//  OK (pc_send_ok's OK ID TIME) is packed from its parts.
static void
s_acknowledge (broker_t *self, broker_lot_t *lot)
{
    bool done [BROKER_BATCH_MAX] = { false };
    for (size_t i = 0; i < lot->size; i++) {
        if (done [i])
            continue;
        zframe_t *client = pc_msg_routing_id (lot->msgs [i]);
        pc_buf_reset (&self->acks);
        for (size_t j = i; j < lot->size; j++) {
            if (done [j] || !zframe_eq (pc_msg_routing_id (lot->msgs [j]), client))
                continue;
            done [j] = true;
            broker_append_t *item = &lot->items [j];
            if (item->rc < 0) {
                pc_msg_t *reply = s_ack (lot->msgs [j], lot->sessions [j], item, lot->ahead);
                pc_msg_pack_append (reply, &self->acks);
                pc_msg_destroy (&reply);
                continue;
            }
            char id [PC_INT_TEXT], ts [PC_INT_TEXT];
            s_ack_note (lot->msgs [j], lot->sessions [j], item, lot->ahead, id, ts);
            const char *fields [] = { id, ts };
            pc_msg_pack_parts (&self->acks, "OK", pc_msg_reqid (lot->msgs [j]), 2, fields, NULL);
        }
        broker_ctx_send_packed (self, client, &self->acks);
    }
}

//  Delivery latency as the broker sees it: read -> handed to every
//  member's queue (the monitor shows it per heartbeat)
static void
s_count_latency (broker_t *self, broker_lot_t *lot, int64_t delivered)
{
    for (size_t i = 0; i < lot->size; i++) {
        uint64_t latency = (uint64_t) (delivered - lot->received [i]);
        self->latency_sum_us += latency;
        self->latency_count++;
        broker_latency_observe (&self->latency, latency);
        if (latency > self->latency_max_us)
            self->latency_max_us = latency;
    }
}

static void s_settle (broker_t *self);

//  Numbers the lot, writes it and delivers it. Senders past their resends
//  get ids now, and their messages go out once Redis's socket has them,
//  while Redis stores them (lot->ahead: answered when Redis is done, see
//  s_answer); a lot with anyone else waits for Redis's dedup check and
//  numbering (see broker_session_resends_done), after the lots before it.
//  With several brokers Redis numbers and publishes, and delivery comes
//  from the subscription (broker_cluster), in id order on every broker.
static void
s_lot_start (broker_t *self, broker_lot_t *lot)
{
    self->flushes++;
    self->flushed += lot->size;
    for (size_t i = 0; i < lot->size; i++) {
        pc_msg_t *request = lot->msgs [i];
        const char *room = pc_send_room (request);     //  a name: at most PC_NAME_MAX
        size_t size = strlen (room);
        assert (size + 6 <= sizeof (lot->streams [i]));
        memcpy (lot->streams [i], "room:", 5);
        memcpy (lot->streams [i] + 5, room, size + 1);
        lot->items [i] = (broker_append_t) {
            lot->streams [i], broker_session_user (lot->sessions [i]),
            pc_send_cmid (request), pc_send_text (request), 0, 0, 0
        };
    }
    bool ahead = !self->cluster;
    for (size_t i = 0; i < lot->size && ahead; i++)
        ahead = broker_session_resends_done (lot->sessions [i]);
    lot->ahead = ahead && broker_store_number_many (self->store, lot->items, lot->size);
    if (lot->ahead) {
        self->flushed_ahead += lot->size;
        lot->ticket = broker_store_write_send (self->store, lot->items, lot->size);
        //  A resend read before Redis answers is recognised
        for (size_t i = 0; i < lot->size; i++)
            if (lot->items [i].rc >= 0)
                s_remember (lot->msgs [i], lot->sessions [i], &lot->items [i]);
    }
    else {
        s_settle (self);                //  answers go out in order
        broker_store_append_many (self->store, lot->items, lot->size);
    }
    if (!self->cluster)
        s_deliver_lot (self, lot);
    s_count_latency (self, lot, zclock_usecs ());
    if (lot->ahead)
        broker_store_write_release (self->store);
}

//  Acknowledges a lot Redis has answered, and empties it
static void
s_answer (broker_t *self, broker_lot_t *lot)
{
    s_acknowledge (self, lot);
    for (size_t i = 0; i < lot->size; i++)      //  @names: a strchr for most
        if (lot->items [i].rc == 0)
            broker_marks_message (self, pc_send_room (lot->msgs [i]), lot->items [i].seq,
                                  lot->items [i].ts, lot->items [i].from, lot->items [i].text);
    lot->size = 0;
}

//  Answers the lots in flight that Redis has answered up to ticket
//  answered, oldest first
static void
s_answer_flying (broker_t *self, uint64_t answered)
{
    while (self->lots_flying && self->lots [self->lot_first].ticket <= answered) {
        s_answer (self, &self->lots [self->lot_first]);
        self->lot_first = (self->lot_first + 1) % BROKER_LOTS;
        self->lots_flying--;
    }
}

//  Waits for Redis to answer every lot in flight, and answers them
static void
s_settle (broker_t *self)
{
    if (self->lots_flying) {
        broker_lot_t *last = &self->lots [(self->lot_first + self->lots_flying - 1) % BROKER_LOTS];
        s_answer_flying (self, broker_store_write_read (self->store, last->ticket));
    }
}

void
broker_chat_post (broker_t *self)
{
    broker_lot_t *lot = broker_ctx_lot (self);
    if (lot->size == 0)
        return;
    //  The ring is full: the oldest lot must be answered first
    if (self->lots_flying == BROKER_LOTS - 1)
        s_answer_flying (self, broker_store_write_read (self->store,
                                                        self->lots [self->lot_first].ticket));
    s_lot_start (self, lot);
    if (lot->ahead)
        self->lots_flying++;
    else
        s_answer (self, lot);
}

void
broker_chat_answer (broker_t *self)
{
    if (self->lots_flying)
        s_answer_flying (self, broker_store_write_read (self->store, 0));
}

int
broker_chat_redis_fd (broker_t *self)
{
    return self->lots_flying? broker_store_write_fd (self->store): -1;
}

void
broker_chat_flush (broker_t *self)
{
    broker_chat_post (self);
    s_settle (self);
}

//  --------------------------------------------------------------------------
//  Edits, deletes, replies and reactions (PROTOCOL.md): each is the room's
//  next entry, RS KIND SP REF [SP TEXT], stored and delivered through the
//  same append as a message (with several brokers Redis numbers and
//  publishes it, and every broker delivers it in id order).

//  What a message entry is: a message (plain or a reply) may be edited,
//  deleted, replied to and reacted to; an event may not.
static bool
s_is_message (const char *text)
{
    return text [0] != BROKER_EVENT_MARK || strncmp (text + 1, "reply ", 6) == 0;
}

static void
s_send_event (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_send_room (request);
    const char *kind = pc_send_kind (request);
    const char *text = pc_send_text (request);
    const char *user = broker_session_user (session);
    if (!s_send_batchable (self, request, session))
        return;                         //  not a member, or a resend answered
    bool edit = streq (kind, "edit"), erase = streq (kind, "delete"), reply = streq (kind, "reply");
    bool react = streq (kind, "react") || streq (kind, "unreact");
    if (!(edit || erase || reply || react)) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED,
                                "kind: edit, delete, reply, react or unreact");
        return;
    }
    const char *ref_text = pc_send_ref (request);
    if (!ref_text || *ref_text == '-' || strtoull (ref_text, NULL, 10) == 0) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "ref: the id of a message");
        return;
    }
    uint64_t ref = strtoull (ref_text, NULL, 10);
    if (react && !pc_reaction_valid (text)) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED,
                                "a reaction is one emoji or a short token of A-Z a-z 0-9 _ + : -");
        return;
    }
    char stream [48];
    snprintf (stream, sizeof (stream), "room:%s", name);
    broker_record_t *target = NULL;
    int rc = broker_store_entry (self->store, stream, ref, &target);
    if (rc == -1) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable, try again");
        return;
    }
    if (rc == 1 || !s_is_message (target->text)) {
        broker_store_record_destroy (&target);
        char reason [96];
        snprintf (reason, sizeof (reason), "no message %" PRIu64 " in #%s", ref, name);
        broker_ctx_reply_error (self, request, PC_ERR_NOT_FOUND, reason);
        return;
    }
    //  An edit is its author's; a delete its author's, the room's
    //  creator's or an admin's
    bool author = streq (target->from, user);
    broker_store_record_destroy (&target);
    broker_room_t *room = broker_ctx_room (self, name);
    const char *creator = room? broker_room_creator (room): NULL;
    if ((edit && !author)
    ||  (erase && !author && !broker_ctx_is_admin (session) && !(creator && streq (creator, user)))) {
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN, edit
                                ? "only its author may edit a message"
                                : "only its author, the room's creator or an admin may delete a message");
        return;
    }
    //  A delete takes the text out of Redis first: what is acknowledged
    //  as deleted is gone
    if (erase && broker_store_scrub (self->store, stream, ref) != 0) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable, try again");
        return;
    }
    pc_buf_t event;
    pc_buf_init (&event);
    pc_buf_printf (&event, "%c%s %" PRIu64, BROKER_EVENT_MARK, kind, ref);
    if (!erase)
        pc_buf_printf (&event, " %s", text);
    broker_append_t item = { stream, user, pc_send_cmid (request), event.data, 0, 0, 0 };
    broker_store_append_many (self->store, &item, 1);
    if (!self->cluster && item.rc == 0 && room) {
        broker_chat_deliver (self, room, item.seq, item.ts, item.from, item.text);
        broker_fanout_flush (self->fanout);
    }
    s_acknowledge_one (self, request, session, &item, false);
    if (reply && item.rc == 0)
        broker_marks_message (self, name, item.seq, item.ts, user, item.text);
    pc_buf_free (&event);
}

//  --------------------------------------------------------------------------
//  Lists and history

//  ROOMS: the rooms that exist and session may see (an invite-only room is
//  not listed to outsiders), with members and messages ever stored.
int
broker_on_rooms (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    //  With several brokers: every broker's rooms and members
    zlistx_t *names = self->cluster? broker_cluster_rooms (self): zhashx_keys (self->rooms);
    zlistx_t *live = self->cluster? broker_cluster_brokers (self): NULL;
    if (!names || (self->cluster && !live)) {
        zlistx_destroy (&names);
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable");
        return 0;
    }
    pc_msg_t *reply = pc_msg_new_ok (request);
    zlistx_set_comparator (names, (czmq_comparator *) strcmp);
    pc_list_sort (names, (czmq_comparator *) strcmp);
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names)) {
        broker_room_t *room;
        if (broker_ctx_room_find (self, name, &room) != 0 || !broker_ctx_room_visible (room, session))
            continue;
        size_t members = broker_room_members (room);
        zlistx_t *everyone = self->cluster? broker_cluster_members (self, name, live): NULL;
        if (everyone)
            members = zlistx_size (everyone);
        zlistx_destroy (&everyone);
        pc_msg_addf (reply, "%s %zu %" PRIu64, name, members, broker_room_messages (room));
        if (pc_msg_nfields (reply) >= PC_FIELDS_MAX)
            break;
    }
    zlistx_destroy (&names);
    zlistx_destroy (&live);
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
    return 0;
}

int
broker_on_who (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    broker_room_t *room = broker_ctx_room_for (self, request, session, pc_who_room (request));
    if (!room)
        return 0;
    zlistx_t *members = self->cluster? broker_cluster_members (self, broker_room_name (room), NULL)
                                     : broker_room_member_list (room);
    if (!members) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable");
        return 0;
    }
    //  WHO room presence: "NAME online" or "NAME away TEXT" per member
    const char *with = pc_who_with (request);
    if (with && streq (with, "presence")) {
        zlistx_t *states = broker_presence_who (self, members);
        zlistx_destroy (&members);
        if (!states) {
            broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable");
            return 0;
        }
        members = states;
    }
    else
    if (with) {
        zlistx_destroy (&members);
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "WHO room [presence]");
        return 0;
    }
    pc_msg_t *reply = pc_msg_new_ok (request);
    for (const char *user = (const char *) zlistx_first (members); user;
         user = (const char *) zlistx_next (members)) {
        pc_msg_add (reply, user);
        if (pc_msg_nfields (reply) >= PC_FIELDS_MAX)
            break;
    }
    zlistx_destroy (&members);
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
    return 0;
}

int
broker_on_subs (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    pc_msg_t *reply = pc_msg_new_ok (request);
    zlistx_t *topics = broker_session_subs (session);
    for (const char *topic = (const char *) zlistx_first (topics); topic;
         topic = (const char *) zlistx_next (topics))
        pc_msg_add (reply, topic);
    zlistx_destroy (&topics);
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
    return 0;
}

//  Parses a decimal field the codec already checked as an integer; clamps.
static uint64_t
s_number (const char *text, uint64_t low, uint64_t high)
{
    if (!text || *text == '-')
        return low;
    unsigned long long value = strtoull (text, NULL, 10);
    return value < low? low: value > high? high: value;
}

//  HISTORY/INBOX's since: -1 from the start, 0 the newest, N after id N.
static uint64_t
s_since (const char *text)
{
    if (text && streq (text, "-1"))
        return BROKER_FROM_START;
    return s_number (text, 0, UINT64_MAX - 1);
}

//  Answers with up to limit messages of stream after since (or the latest
//  limit when since is 0): per message the fields id, from, ts, text, and
//  with to set, id, from, to, ts, box (an inbox).
static void
s_reply_stream (broker_t *self, pc_msg_t *request, const char *stream, const char *to,
                uint64_t since, size_t limit)
{
    zlistx_t *records = broker_store_records_new ();
    if (broker_store_history (self->store, stream, since, limit, records) == -1) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "history unavailable: storage is down");
        zlistx_destroy (&records);
        return;
    }
    pc_msg_t *reply = pc_msg_new_ok (request);
    for (broker_record_t *record = (broker_record_t *) zlistx_first (records); record;
         record = (broker_record_t *) zlistx_next (records)) {
        pc_msg_addf (reply, "%" PRIu64, record->seq);
        //  A sender's copy in its own inbox is stored from "FROM>TO" (names
        //  never hold '>'): it went to TO, not to the inbox's owner
        const char *arrow = to? strchr (record->from, '>'): NULL;
        if (arrow) {
            pc_msg_addf (reply, "%.*s", (int) (arrow - record->from), record->from);
            pc_msg_add (reply, arrow + 1);
        }
        else {
            pc_msg_add (reply, record->from);
            if (to)
                pc_msg_add (reply, to);
        }
        pc_msg_addf (reply, "%" PRId64, record->ts);
        pc_msg_add (reply, record->text);
    }
    pc_msg_send (reply, self->router);
    pc_msg_destroy (&reply);
    zlistx_destroy (&records);
}

int
broker_on_history (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    //  A room's history is for its members, as its messages are; a room
    //  that does not exist (or that session may not see) is 404
    const char *name = pc_history_room (request);
    if (!broker_ctx_room_for (self, request, session, name))
        return 0;
    if (!broker_session_in_room (session, name)) {
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN,
                                "join the room before reading its history");
        return 0;
    }
    char stream [48];
    snprintf (stream, sizeof (stream), "room:%s", name);
    s_reply_stream (self, request, stream, NULL, s_since (pc_history_since (request)),
                    (size_t) s_number (pc_history_limit (request), 1, PC_HISTORY_MAX));
    return 0;
}

int
broker_on_inbox (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    char stream [48];
    const char *user = broker_session_user (session);
    snprintf (stream, sizeof (stream), "inbox:%s", user);
    s_reply_stream (self, request, stream, user, s_since (pc_inbox_since (request)),
                    (size_t) s_number (pc_inbox_limit (request), 1, PC_HISTORY_MAX));
    return 0;
}

//  DM to cmid box: the box holds one key box per device of the recipient
//  and of the sender (PROTOCOL.md, "Direct messages"); the broker stores it
//  in the recipient's inbox and, as the sender's copy for its other
//  devices, in the sender's (from "FROM>TO", see s_reply_stream), and
//  delivers it to every session of both. It
//  never sees the text. The reply's id is the recipient's inbox id, then
//  its time and the id of the sender's copy (0: not stored). The two ids
//  are linked (broker_dm_kinds) for the message's edits, deletes, replies
//  and reactions, which are DMs with a kind and a ref.
int
broker_on_dm (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *to = pc_dm_to (request);
    const char *box = pc_dm_box (request);
    if (strlen (box) > PC_BOX_MAX || strlen (box) == 0) {
        broker_ctx_reply_error (self, request, strlen (box)? PC_ERR_TOO_LONG: PC_ERR_MALFORMED,
                                "a sealed message is 1-8192 characters");
        return 0;
    }
    if (pc_dm_kind (request))           //  an edit, delete, reply or reaction
        return broker_dm_kinds_event (self, request, session);
    const char *from = broker_session_user (session);
    char stream [48];
    snprintf (stream, sizeof (stream), "inbox:%s", to);
    uint64_t seq;
    int64_t stored_ts;
    int rc = broker_store_append (self->store, stream, from, pc_dm_cmid (request), box,
                                  &seq, &stored_ts);
    if (rc < 0) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, rc == -2
                                ? "message not yet on a replica: send it again (it is stored once)"
                                : "message not stored: storage unavailable, try again");
        return 0;
    }
    char id [32], ts [32], own [32];
    snprintf (id, sizeof (id), "%" PRIu64, seq);
    snprintf (ts, sizeof (ts), "%" PRId64, stored_ts);
    snprintf (own, sizeof (own), "%s", streq (from, to)? id: "0");
    if (rc == 0) {
        if (!self->cluster)     //  else from the subscription of every broker with a session of to
            broker_chat_deliver_dm (self, to, seq, stored_ts, from, box);
        broker_ctx_event (self, "dm", from, to);        //  metadata only
    }
    //  The sender's copy, under the same cmid: a resent DM (rc 1) whose
    //  copy was lost with the broker gets it now, one that has it does not
    //  get a second. A copy that cannot be stored costs the sender's other
    //  devices that one message, not the recipient theirs.
    if (!streq (from, to)) {
        snprintf (stream, sizeof (stream), "inbox:%s", from);
        char copy_from [2 * PC_NAME_MAX + 2];
        snprintf (copy_from, sizeof (copy_from), "%s>%s", from, to);
        uint64_t own_seq;
        int64_t own_ts;
        int own_rc = broker_store_append (self->store, stream, copy_from, pc_dm_cmid (request), box,
                                          &own_seq, &own_ts);
        if (own_rc < 0)
            zsys_warning ("broker: the sender's copy of a DM was not stored");
        else {
            if (own_rc == 0 && !self->cluster)
                broker_chat_deliver_dm (self, from, own_seq, own_ts, copy_from, box);
            snprintf (own, sizeof (own), "%" PRIu64, own_seq);
        }
    }
    broker_ctx_send (self, pc_dm_ok (request, id, ts, own));
    //  After the OK, which need not wait for it: the broker reads its next
    //  request (an edit of this DM, say) only once the link is written
    if (!streq (own, "0") && !streq (from, to))
        broker_dm_kinds_link (self, to, seq, from, strtoull (own, NULL, 10));
    return 0;
}

//  --------------------------------------------------------------------------
//  Room settings

//  CREATE room mode: claims a new room (mode "open" or "invite-only"); its
//  creator may invite and kick.
int
broker_on_create (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_create_room (request);
    const char *mode = pc_create_mode (request);
    if (!streq (mode, "open") && !streq (mode, "invite-only")) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "mode is open or invite-only");
        return 0;
    }
    bool fresh = zhashx_lookup (self->rooms, name) == NULL;
    broker_room_t *room = broker_ctx_room (self, name);
    if (!room) {
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE,
                                "room settings unavailable: storage is down");
        return 0;
    }
    if (broker_room_creator (room) || broker_room_messages (room) > 0 || broker_room_members (room) > 0) {
        broker_ctx_reply_error (self, request, PC_ERR_CONFLICT, "the room exists already");
        return 0;
    }
    const char *user = broker_session_user (session);
    bool invite_only = streq (mode, "invite-only");
    int rc = broker_roomdb_create (self->store, name, user, invite_only);
    if (rc == -1) {
        if (fresh)              //  not created: nothing of it stays
            zhashx_delete (self->rooms, name);
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable");
    }
    else
    if (rc == 1)
        broker_ctx_reply_error (self, request, PC_ERR_CONFLICT, "the room exists already");
    else {
        broker_room_set_policy (room, invite_only, user);
        if (self->cluster) {
            broker_cluster_room_made (self, name);
            broker_cluster_control (self, "room", name, NULL, NULL);
        }
        broker_moderation_audit (self, user, invite_only? "create-room-invite-only": "create-room", name);
        broker_ctx_send (self, pc_create_ok (request, name, mode));
    }
    return 0;
}

bool
broker_chat_may_moderate (broker_room_t *room, broker_session_t *session)
{
    const char *creator = broker_room_creator (room);
    return broker_ctx_is_admin (session) || (creator && streq (creator, broker_session_user (session)));
}

int
broker_on_invite (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_invite_room (request);
    const char *guest = pc_invite_user (request);
    broker_room_t *room = broker_ctx_room_for (self, request, session, name);
    if (!room)
        ;                       //  answered: no such room (or storage down)
    else
    if (!broker_chat_may_moderate (room, session))
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN,
                                "only the room's creator or an admin may invite");
    else
    if (broker_roomdb_invite (self->store, name, guest, true) == -1)
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable");
    else {
        broker_room_invite (room, guest, true);
        if (self->cluster)
            broker_cluster_control (self, "room", name, NULL, NULL);
        broker_moderation_audit (self, broker_session_user (session), "invite", guest);
        broker_ctx_send (self, pc_invite_ok (request, name, guest));
    }
    return 0;
}

//  SLOWMODE room seconds: the room's creator or an admin sets how long a
//  user waits between two posts there (0: no wait)
int
broker_on_slowmode (broker_t *self, pc_msg_t *request, broker_session_t *session)
{
    const char *name = pc_slowmode_room (request);
    char *end;
    long seconds = strtol (pc_slowmode_seconds (request), &end, 10);
    if (*end || seconds < 0 || seconds > PC_SLOWMODE_MAX) {
        broker_ctx_reply_error (self, request, PC_ERR_MALFORMED, "seconds is 0-3600");
        return 0;
    }
    broker_room_t *room = broker_ctx_room_for (self, request, session, name);
    if (!room)
        ;                       //  answered: no such room (or storage down)
    else
    if (!broker_chat_may_moderate (room, session))
        broker_ctx_reply_error (self, request, PC_ERR_FORBIDDEN,
                                "only the room's creator or an admin may set slow mode");
    else
    if (broker_roomdb_set_slowmode (self->store, name, (int) seconds) == -1)
        broker_ctx_reply_error (self, request, PC_ERR_UNAVAILABLE, "storage unavailable");
    else {
        broker_room_set_slowmode (room, (int) seconds);
        if (self->cluster)
            broker_cluster_control (self, "room", name, NULL, NULL);
        char value [16];
        snprintf (value, sizeof (value), "%ld", seconds);
        char target [64];
        snprintf (target, sizeof (target), "%s %s", name, value);
        broker_moderation_audit (self, broker_session_user (session), "slowmode", target);
        broker_ctx_send (self, pc_slowmode_ok (request, name, value));
    }
    return 0;
}

void
broker_chat_test (bool verbose)
{
    printf (" * broker_chat: ");
    assert (s_number (NULL, 1, 10) == 1);
    assert (s_number ("-5", 1, 10) == 1);
    assert (s_number ("7", 1, 10) == 7);
    assert (s_number ("70", 1, 10) == 10);
    assert (s_since ("-1") == BROKER_FROM_START);
    assert (s_since ("0") == 0);
    assert (s_since ("42") == 42);
    assert (s_since ("18446744073709551615") == UINT64_MAX - 1);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

//  broker_session.c: per-key session state.
#include "broker_session.h"

#include "pc_limits.h"

#include <sodium.h>

#define SENT_RING 64            //  client message ids remembered per session

//  A SEND remembered: its room and client message id ("ROOM CMID") and the
//  id and time it got. Looked up by every SEND, written by every SEND
//  stored: a ring of fixed slots, found by a hash of the key, costs no
//  allocation (a hash table of strings cost four mallocs, four frees and an
//  snprintf per SEND, 8 % of the broker's thread at one publisher).
typedef struct {
    uint32_t  hash;             //  0: an empty slot
    char      key [PC_NAME_MAX + PC_ID_MAX + 2];
    uint64_t  seq;
    int64_t   ts;
} sent_t;

struct _broker_session_t {
    char      key [41];
    char      topic [24];
    char     *user;
    char     *role;
    char      sid [24];         //  the login's resume token id, or ""
    int64_t   last_seen;
    zhashx_t *rooms;            //  room name -> (void *) 1
    zhashx_t *subs;             //  topic -> (void *) 1
    sent_t   *sent;             //  SENT_RING slots, from the first SEND remembered
    size_t    sent_next;        //  the slot written next (the oldest)
    bool      resends_done;     //  a SEND of this login was found new
};

broker_session_t *
broker_session_new (const char *key)
{
    broker_session_t *self = (broker_session_t *) zmalloc (sizeof (broker_session_t));
    assert (self);
    snprintf (self->key, sizeof (self->key), "%s", key);
    byte token [8];
    randombytes_buf (token, sizeof (token));
    char hex [17];
    for (size_t i = 0; i < sizeof (token); i++)
        snprintf (hex + 2 * i, 3, "%02x", token [i]);
    snprintf (self->topic, sizeof (self->topic), "s/%s/", hex);
    self->rooms = zhashx_new ();
    self->subs = zhashx_new ();
    return self;
}

void
broker_session_destroy (broker_session_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        broker_session_t *self = *self_p;
        zhashx_destroy (&self->rooms);
        zhashx_destroy (&self->subs);
        free (self->sent);
        zstr_free (&self->user);
        zstr_free (&self->role);
        free (self);
        *self_p = NULL;
    }
}

const char *broker_session_key (broker_session_t *self) { return self->key; }
const char *broker_session_topic (broker_session_t *self) { return self->topic; }
const char *broker_session_user (broker_session_t *self) { return self->user; }
const char *broker_session_role (broker_session_t *self) { return self->role? self->role: "user"; }
int64_t broker_session_last_seen (broker_session_t *self) { return self->last_seen; }
void broker_session_touch (broker_session_t *self, int64_t now_ms) { self->last_seen = now_ms; }

void
broker_session_login (broker_session_t *self, const char *user, const char *role)
{
    broker_session_logout (self);
    self->user = strdup (user);
    self->role = strdup (role);
}

const char *broker_session_token_id (broker_session_t *self) { return self->sid; }

void
broker_session_set_token_id (broker_session_t *self, const char *sid)
{
    snprintf (self->sid, sizeof (self->sid), "%s", sid? sid: "");
}

void
broker_session_logout (broker_session_t *self)
{
    self->sid [0] = 0;
    zstr_free (&self->user);
    zstr_free (&self->role);
    zhashx_purge (self->rooms);
    zhashx_purge (self->subs);
    //  What this login sent is not the next login's (another user may
    //  log in on the same connection)
    if (self->sent)
        memset (self->sent, 0, SENT_RING * sizeof (sent_t));
    self->sent_next = 0;
    self->resends_done = false;
}

bool
broker_session_resends_done (broker_session_t *self)
{
    return self->resends_done;
}

void
broker_session_set_resends_done (broker_session_t *self)
{
    self->resends_done = true;
}

bool
broker_session_in_room (broker_session_t *self, const char *room)
{
    return zhashx_lookup (self->rooms, room) != NULL;
}

void
broker_session_add_room (broker_session_t *self, const char *room)
{
    zhashx_update (self->rooms, room, (void *) 1);
}

void
broker_session_remove_room (broker_session_t *self, const char *room)
{
    zhashx_delete (self->rooms, room);
}

zlistx_t *
broker_session_rooms (broker_session_t *self)
{
    return zhashx_keys (self->rooms);
}

void
broker_session_add_sub (broker_session_t *self, const char *topic)
{
    zhashx_update (self->subs, topic, (void *) 1);
}

void
broker_session_remove_sub (broker_session_t *self, const char *topic)
{
    zhashx_delete (self->subs, topic);
}

zlistx_t *
broker_session_subs (broker_session_t *self)
{
    return zhashx_keys (self->subs);
}

//  "ROOM CMID" into key and its hash (never 0); false when either is too
//  long to be a room or a client message id (nothing is remembered)
static bool
s_sent_key (const char *room, const char *cmid, char *key, uint32_t *hash)
{
    size_t room_size = strlen (room), cmid_size = strlen (cmid);
    if (room_size > PC_NAME_MAX || cmid_size > PC_ID_MAX)
        return false;
    memcpy (key, room, room_size);
    key [room_size] = ' ';
    memcpy (key + room_size + 1, cmid, cmid_size + 1);
    uint32_t h = 2166136261u;           //  FNV-1a
    for (const char *at = key; *at; at++)
        h = (h ^ (uint8_t) *at) * 16777619u;
    *hash = h? h: 1;
    return true;
}

static sent_t *
s_sent_find (broker_session_t *self, const char *room, const char *cmid)
{
    char key [PC_NAME_MAX + PC_ID_MAX + 2];
    uint32_t hash;
    if (!self->sent || !s_sent_key (room, cmid, key, &hash))
        return NULL;
    for (size_t i = 0; i < SENT_RING; i++)
        if (self->sent [i].hash == hash && streq (self->sent [i].key, key))
            return &self->sent [i];
    return NULL;
}

bool
broker_session_sent (broker_session_t *self, const char *room, const char *cmid,
                     uint64_t *seq, int64_t *ts)
{
    sent_t *sent = s_sent_find (self, room, cmid);
    if (sent && seq)
        *seq = sent->seq;
    if (sent && ts)
        *ts = sent->ts;
    return sent != NULL;
}

void
broker_session_remember (broker_session_t *self, const char *room, const char *cmid,
                         uint64_t seq, int64_t ts)
{
    if (!self->sent) {
        self->sent = (sent_t *) calloc (SENT_RING, sizeof (sent_t));
        assert (self->sent);
    }
    //  The oldest slot goes
    sent_t *slot = &self->sent [self->sent_next];
    if (!s_sent_key (room, cmid, slot->key, &slot->hash))
        return;
    slot->seq = seq;
    slot->ts = ts;
    self->sent_next = (self->sent_next + 1) % SENT_RING;
}

void
broker_session_forget (broker_session_t *self, const char *room, const char *cmid)
{
    sent_t *sent = s_sent_find (self, room, cmid);
    if (sent)
        sent->hash = 0;                 //  its slot is reused in turn
}

void
broker_session_test (bool verbose)
{
    printf (" * broker_session: ");
    broker_session_t *session = broker_session_new ("0123456789012345678901234567890123456789");
    assert (broker_session_user (session) == NULL);
    assert (strlen (broker_session_topic (session)) == 19);
    broker_session_t *other = broker_session_new ("0123456789012345678901234567890123456789");
    assert (strneq (broker_session_topic (session), broker_session_topic (other)));
    broker_session_destroy (&other);
    broker_session_login (session, "alice", "user");
    assert (streq (broker_session_user (session), "alice"));
    assert (streq (broker_session_token_id (session), ""));
    broker_session_set_token_id (session, "0123456789abcdef");
    assert (streq (broker_session_token_id (session), "0123456789abcdef"));
    broker_session_add_room (session, "lobby");
    assert (broker_session_in_room (session, "lobby"));
    assert (!broker_session_in_room (session, "dev"));
    broker_session_add_sub (session, "r/lobby/");
    zlistx_t *subs = broker_session_subs (session);
    assert (zlistx_size (subs) == 1);
    zlistx_destroy (&subs);
    //  Client message ids: remembered, then evicted after SENT_RING more
    uint64_t seq;
    int64_t ts;
    broker_session_remember (session, "lobby", "c1", 17, 1700000000123);
    assert (broker_session_sent (session, "lobby", "c1", &seq, &ts));
    assert (seq == 17 && ts == 1700000000123);
    assert (!broker_session_sent (session, "dev", "c1", NULL, NULL));
    assert (!broker_session_sent (session, "lobby", "c", NULL, NULL));
    assert (!broker_session_sent (session, "lobb", "y c1", NULL, NULL));
    broker_session_remember (session, "lobby", "c2", 18, 1700000000124);
    broker_session_forget (session, "lobby", "c2");
    assert (!broker_session_sent (session, "lobby", "c2", NULL, NULL));
    assert (broker_session_sent (session, "lobby", "c1", NULL, NULL));
    for (int i = 0; i < SENT_RING; i++) {
        char cmid [16];
        snprintf (cmid, sizeof (cmid), "x%d", i);
        broker_session_remember (session, "lobby", cmid, (uint64_t) i, i);
    }
    assert (!broker_session_sent (session, "lobby", "c1", NULL, NULL));
    assert (broker_session_sent (session, "lobby", "x63", &seq, &ts) && seq == 63 && ts == 63);
    assert (broker_session_sent (session, "lobby", "x0", &seq, NULL) && seq == 0);
    assert (!broker_session_resends_done (session));
    broker_session_set_resends_done (session);
    assert (broker_session_resends_done (session));
    broker_session_logout (session);
    assert (broker_session_user (session) == NULL);
    assert (streq (broker_session_token_id (session), ""));
    assert (!broker_session_sent (session, "lobby", "x63", NULL, NULL));
    assert (!broker_session_resends_done (session));
    assert (!broker_session_in_room (session, "lobby"));
    broker_session_destroy (&session);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

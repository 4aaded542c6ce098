//  broker_room.c: rooms, membership counted per user, per-room sequence.
#include "broker_room.h"
#include "pc_util.h"
#include "pc_limits.h"

struct _broker_room_t {
    char     *name;
    char     *topic;
    zhashx_t *members;          //  user -> number of that user's sessions in the room
    zhashx_t *sessions;         //  session key -> session handle (not owned)
    uint64_t  seq;
    uint64_t  messages;         //  stored in the room, ever (Redis's STREAM:count)
    bool      loaded;
    bool      invite_only;
    char     *creator;
    zhashx_t *invited;          //  user -> (void *) 1
    int       slowmode;         //  seconds between two posts of a user, 0: off
};

broker_room_t *
broker_room_new (const char *name)
{
    broker_room_t *self = (broker_room_t *) zmalloc (sizeof (broker_room_t));
    assert (self);
    self->name = strdup (name);
    self->topic = zsys_sprintf ("%s%s/", PC_TOPIC_ROOM, name);
    self->members = zhashx_new ();
    self->sessions = zhashx_new ();
    self->invited = zhashx_new ();
    return self;
}

void
broker_room_destroy (broker_room_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        broker_room_t *self = *self_p;
        zhashx_destroy (&self->members);
        zhashx_destroy (&self->sessions);
        zhashx_destroy (&self->invited);
        zstr_free (&self->creator);
        zstr_free (&self->name);
        zstr_free (&self->topic);
        free (self);
        *self_p = NULL;
    }
}

const char *broker_room_name (broker_room_t *self) { return self->name; }
const char *broker_room_topic (broker_room_t *self) { return self->topic; }
size_t broker_room_members (broker_room_t *self) { return zhashx_size (self->members); }
uint64_t broker_room_seq (broker_room_t *self) { return self->seq; }
uint64_t broker_room_messages (broker_room_t *self) { return self->messages; }
void broker_room_set_messages (broker_room_t *self, uint64_t messages) { self->messages = messages; }
void broker_room_add_message (broker_room_t *self) { self->messages++; }

bool
broker_room_has_member (broker_room_t *self, const char *user)
{
    return zhashx_lookup (self->members, user) != NULL;
}

void *broker_room_first_session (broker_room_t *self) { return zhashx_first (self->sessions); }
void *broker_room_next_session (broker_room_t *self) { return zhashx_next (self->sessions); }

bool
broker_room_join (broker_room_t *self, const char *user, const char *key, void *session)
{
    if (zhashx_lookup (self->sessions, key))
        return false;           //  this session is in already
    zhashx_insert (self->sessions, key, session);
    uintptr_t count = (uintptr_t) zhashx_lookup (self->members, user);
    zhashx_update (self->members, user, (void *) (count + 1));
    return count == 0;
}

bool
broker_room_leave (broker_room_t *self, const char *user, const char *key)
{
    if (!zhashx_lookup (self->sessions, key))
        return false;
    zhashx_delete (self->sessions, key);
    uintptr_t count = (uintptr_t) zhashx_lookup (self->members, user);
    if (count == 0)
        return false;
    if (count == 1) {
        zhashx_delete (self->members, user);
        return true;
    }
    zhashx_update (self->members, user, (void *) (count - 1));
    return false;
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

zlistx_t *
broker_room_member_list (broker_room_t *self)
{
    zlistx_t *list = zlistx_new ();
    zlistx_set_duplicator (list, (czmq_duplicator *) strdup);
    zlistx_set_destructor (list, (czmq_destructor *) zstr_free);
    zlistx_set_comparator (list, s_compare);
    zlistx_t *keys = zhashx_keys (self->members);
    for (const char *user = (const char *) zlistx_first (keys); user;
         user = (const char *) zlistx_next (keys))
        zlistx_add_end (list, (void *) user);
    zlistx_destroy (&keys);
    pc_list_sort (list, s_compare);
    return list;
}

void
broker_room_set_seq (broker_room_t *self, uint64_t seq)
{
    if (seq > self->seq)
        self->seq = seq;
}

void
broker_room_set_policy (broker_room_t *self, bool invite_only, const char *creator)
{
    self->loaded = true;
    self->invite_only = invite_only;
    zstr_free (&self->creator);
    self->creator = creator? strdup (creator): NULL;
}

bool broker_room_loaded (broker_room_t *self) { return self->loaded; }
void broker_room_set_slowmode (broker_room_t *self, int seconds) { self->slowmode = seconds > 0? seconds: 0; }
int broker_room_slowmode (broker_room_t *self) { return self->slowmode; }
bool broker_room_invite_only (broker_room_t *self) { return self->invite_only; }
const char *broker_room_creator (broker_room_t *self) { return self->creator; }

void
broker_room_invite (broker_room_t *self, const char *user, bool add)
{
    if (add)
        zhashx_update (self->invited, user, (void *) 1);
    else
        zhashx_delete (self->invited, user);
}

void
broker_room_copy_invited (broker_room_t *self, broker_room_t *from)
{
    zhashx_purge (self->invited);
    for (void *item = zhashx_first (from->invited); item; item = zhashx_next (from->invited))
        zhashx_update (self->invited, (const char *) zhashx_cursor (from->invited), (void *) 1);
}

bool
broker_room_may_join (broker_room_t *self, const char *user, bool admin)
{
    return !self->invite_only || admin
        || (self->creator && streq (self->creator, user))
        || zhashx_lookup (self->invited, user) != NULL;
}

void
broker_room_test (bool verbose)
{
    printf (" * broker_room: ");
    broker_room_t *room = broker_room_new ("lobby");
    assert (streq (broker_room_topic (room), "r/lobby/"));
    int bob_session, alice_1, alice_2;
    assert (broker_room_join (room, "bob", "kb", &bob_session));
    assert (broker_room_join (room, "alice", "ka1", &alice_1));
    assert (!broker_room_join (room, "alice", "ka2", &alice_2));  //  second session
    assert (!broker_room_join (room, "alice", "ka2", &alice_2));  //  twice: no-op
    assert (broker_room_members (room) == 2);
    assert (broker_room_has_member (room, "alice") && !broker_room_has_member (room, "carol"));
    size_t sessions = 0;
    for (void *s = broker_room_first_session (room); s; s = broker_room_next_session (room))
        sessions++;
    assert (sessions == 3);
    assert (!broker_room_leave (room, "alice", "ka1"));         //  one session left
    assert (broker_room_members (room) == 2);
    zlistx_t *list = broker_room_member_list (room);
    assert (zlistx_size (list) == 2);
    assert (streq ((char *) zlistx_first (list), "alice"));
    assert (streq ((char *) zlistx_next (list), "bob"));
    zlistx_destroy (&list);
    assert (!broker_room_leave (room, "alice", "ka1"));         //  not in any more
    assert (broker_room_leave (room, "alice", "ka2"));
    assert (!broker_room_leave (room, "carol", "kc"));
    assert (broker_room_members (room) == 1);
    assert (broker_room_may_join (room, "anyone", false));
    broker_room_set_policy (room, true, "alice");
    assert (broker_room_loaded (room));
    assert (!broker_room_may_join (room, "mallory", false));
    assert (broker_room_may_join (room, "alice", false));       //  creator
    assert (broker_room_may_join (room, "root", true));         //  admin
    broker_room_invite (room, "dave", true);
    assert (broker_room_may_join (room, "dave", false));
    broker_room_invite (room, "dave", false);
    assert (!broker_room_may_join (room, "dave", false));
    broker_room_t *other = broker_room_new ("other");
    broker_room_invite (other, "erin", true);
    broker_room_copy_invited (room, other);
    assert (broker_room_may_join (room, "erin", false));
    broker_room_destroy (&other);
    broker_room_set_seq (room, 7);
    broker_room_set_seq (room, 3);          //  never backwards
    assert (broker_room_seq (room) == 7);
    assert (broker_room_messages (room) == 0);  //  ids are not a count
    broker_room_set_messages (room, 4);
    broker_room_add_message (room);
    assert (broker_room_messages (room) == 5);
    broker_room_destroy (&room);
    broker_room_destroy (&room);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

//  broker_limits.c: token buckets per user and per session, slow mode and
//  the refusal counts (broker_limits.h).
#include "broker_limits.h"

#include <math.h>
#include "pc_limits.h"

#define SLOW_KEEP_MS    (PC_SLOWMODE_MAX * 1000)    //  the longest slow mode

typedef struct {
    double  tokens;
    int64_t at;                 //  when tokens was right (ms)
} bucket_t;

typedef struct {
    bucket_t send;
    bucket_t query;
    uint64_t refused;           //  since the last broker_limits_refusals
} user_limits_t;

struct _broker_limits_t {
    pc_rate_t send, query, session;
    zhashx_t *users;            //  user (or key before login) -> user_limits_t
    zhashx_t *sessions;         //  key -> bucket_t
    zhashx_t *posts;            //  "room user" -> int64_t * last post (ms)
};

static void
s_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

broker_limits_t *
broker_limits_new (const pc_config_t *config)
{
    broker_limits_t *self = (broker_limits_t *) zmalloc (sizeof (broker_limits_t));
    assert (self);
    self->send = config->rate_send;
    self->query = config->rate_query;
    self->session = config->rate_session;
    self->users = zhashx_new ();
    self->sessions = zhashx_new ();
    self->posts = zhashx_new ();
    zhashx_set_destructor (self->users, s_free);
    zhashx_set_destructor (self->sessions, s_free);
    zhashx_set_destructor (self->posts, s_free);
    return self;
}

void
broker_limits_destroy (broker_limits_t **self_p)
{
    if (*self_p) {
        broker_limits_t *self = *self_p;
        zhashx_destroy (&self->users);
        zhashx_destroy (&self->sessions);
        zhashx_destroy (&self->posts);
        free (self);
        *self_p = NULL;
    }
}

//  Takes a token from bucket: 0, or the ms until there is one. A fresh
//  bucket (at 0) starts full.
static int64_t
s_take (bucket_t *bucket, pc_rate_t rate, int64_t now)
{
    if (rate.rate <= 0)
        return 0;
    if (bucket->at == 0)
        bucket->tokens = rate.burst;
    else
    if (now > bucket->at)
        bucket->tokens = fmin (rate.burst, bucket->tokens + rate.rate * (double) (now - bucket->at) / 1000.0);
    bucket->at = now;
    if (bucket->tokens >= 1) {
        bucket->tokens -= 1;
        return 0;
    }
    int64_t wait = (int64_t) ceil ((1 - bucket->tokens) * 1000.0 / rate.rate);
    return wait > 0? wait: 1;
}

//  Whether a bucket that was right at `at` is full again at now
static bool
s_full (bucket_t *bucket, pc_rate_t rate, int64_t now)
{
    return bucket->at == 0 || rate.rate <= 0
        || bucket->tokens + rate.rate * (double) (now - bucket->at) / 1000.0 >= rate.burst;
}

static user_limits_t *
s_user (broker_limits_t *self, const char *name)
{
    user_limits_t *user = (user_limits_t *) zhashx_lookup (self->users, name);
    if (!user) {
        user = (user_limits_t *) zmalloc (sizeof (user_limits_t));
        assert (user);
        zhashx_insert (self->users, name, user);
    }
    return user;
}

//  The commands that read much for one request
static bool
s_is_query (pc_cmd_t command)
{
    return command == PC_CMD_HISTORY || command == PC_CMD_INBOX || command == PC_CMD_ROOMS
        || command == PC_CMD_WHO || command == PC_CMD_USERS || command == PC_CMD_SEARCH
        || command == PC_CMD_UNREAD || command == PC_CMD_MENTIONS;
}

int64_t
broker_limits_check (broker_limits_t *self, pc_cmd_t command, const char *user,
                     const char *key, int64_t now, const char **what_p)
{
    assert (self);
    int64_t wait = 0;
    const char *what = NULL;
    if (self->session.rate > 0) {
        bucket_t *bucket = (bucket_t *) zhashx_lookup (self->sessions, key);
        if (!bucket) {
            bucket = (bucket_t *) zmalloc (sizeof (bucket_t));
            assert (bucket);
            zhashx_insert (self->sessions, key, bucket);
        }
        wait = s_take (bucket, self->session, now);
        what = "too many requests";
    }
    bool sends = command == PC_CMD_SEND || command == PC_CMD_DM;
    if (wait == 0 && user && (sends || s_is_query (command))) {
        user_limits_t *limits = s_user (self, user);
        wait = sends? s_take (&limits->send, self->send, now): s_take (&limits->query, self->query, now);
        what = sends? "too many messages": "too many requests";
    }
    if (wait > 0)
        s_user (self, user? user: key)->refused++;
    if (what_p)
        *what_p = what;
    return wait;
}

int64_t
broker_limits_slow (broker_limits_t *self, const char *room, const char *user, int seconds,
                    int64_t now)
{
    assert (self);
    if (seconds <= 0)
        return 0;
    char name [128];
    snprintf (name, sizeof (name), "%s %s", room, user);
    int64_t *last = (int64_t *) zhashx_lookup (self->posts, name);
    int64_t interval = (int64_t) seconds * 1000;
    if (last && now - *last < interval) {
        s_user (self, user)->refused++;
        return interval - (now - *last);
    }
    if (!last) {
        last = (int64_t *) zmalloc (sizeof (int64_t));
        assert (last);
        zhashx_insert (self->posts, name, last);
    }
    *last = now;
    return 0;
}

void
broker_limits_prune (broker_limits_t *self, int64_t now)
{
    assert (self);
    zlistx_t *gone = zlistx_new ();
    zlistx_set_destructor (gone, (czmq_destructor *) zstr_free);
    for (user_limits_t *user = (user_limits_t *) zhashx_first (self->users); user;
         user = (user_limits_t *) zhashx_next (self->users))
        if (user->refused == 0 && s_full (&user->send, self->send, now)
        &&  s_full (&user->query, self->query, now))
            zlistx_add_end (gone, strdup ((const char *) zhashx_cursor (self->users)));
    for (char *name = (char *) zlistx_first (gone); name; name = (char *) zlistx_next (gone))
        zhashx_delete (self->users, name);
    zlistx_purge (gone);
    for (bucket_t *bucket = (bucket_t *) zhashx_first (self->sessions); bucket;
         bucket = (bucket_t *) zhashx_next (self->sessions))
        if (s_full (bucket, self->session, now))
            zlistx_add_end (gone, strdup ((const char *) zhashx_cursor (self->sessions)));
    for (char *name = (char *) zlistx_first (gone); name; name = (char *) zlistx_next (gone))
        zhashx_delete (self->sessions, name);
    zlistx_purge (gone);
    for (int64_t *last = (int64_t *) zhashx_first (self->posts); last;
         last = (int64_t *) zhashx_next (self->posts))
        if (now - *last >= SLOW_KEEP_MS)
            zlistx_add_end (gone, strdup ((const char *) zhashx_cursor (self->posts)));
    for (char *name = (char *) zlistx_first (gone); name; name = (char *) zlistx_next (gone))
        zhashx_delete (self->posts, name);
    zlistx_destroy (&gone);
}

zhashx_t *
broker_limits_refusals (broker_limits_t *self)
{
    assert (self);
    zhashx_t *counts = zhashx_new ();
    zhashx_set_destructor (counts, (czmq_destructor *) zstr_free);
    for (user_limits_t *user = (user_limits_t *) zhashx_first (self->users); user;
         user = (user_limits_t *) zhashx_next (self->users))
        if (user->refused) {
            char count [24];
            snprintf (count, sizeof (count), "%" PRIu64, user->refused);
            zhashx_insert (counts, zhashx_cursor (self->users), strdup (count));
            user->refused = 0;
        }
    return counts;
}

size_t
broker_limits_size (broker_limits_t *self)
{
    return zhashx_size (self->users) + zhashx_size (self->sessions) + zhashx_size (self->posts);
}

//  --------------------------------------------------------------------------
//  Selftest

void
broker_limits_test (bool verbose)
{
    printf (" * broker_limits: ");
    pc_config_t config;
    memset (&config, 0, sizeof (config));
    config.rate_send = (pc_rate_t) { 10, 3 };        //  3 at once, then one per 100 ms
    config.rate_query = (pc_rate_t) { 0, 0 };        //  off
    config.rate_session = (pc_rate_t) { 1000, 5 };
    broker_limits_t *limits = broker_limits_new (&config);
    const char *what;
    int64_t now = 1000000;
    for (int i = 0; i < 3; i++)
        assert (broker_limits_check (limits, PC_CMD_SEND, "alice", "k1", now, &what) == 0);
    assert (broker_limits_check (limits, PC_CMD_SEND, "alice", "k1", now, &what) == 100);
    assert (streq (what, "too many messages"));
    //  Per user: another of alice's sessions shares her bucket; bob has his own
    assert (broker_limits_check (limits, PC_CMD_DM, "alice", "k2", now + 50, NULL) == 50);
    assert (broker_limits_check (limits, PC_CMD_SEND, "bob", "k3", now, NULL) == 0);
    assert (broker_limits_check (limits, PC_CMD_SEND, "alice", "k2", now + 100, NULL) == 0);
    //  Queries are off; the session's bucket counts every command
    for (int i = 0; i < 3; i++)
        assert (broker_limits_check (limits, PC_CMD_HISTORY, "alice", "k1", now + 100, NULL) == 0);
    for (int i = 0; i < 5; i++)
        assert (broker_limits_check (limits, PC_CMD_PING, NULL, "k9", now, NULL) == 0);
    assert (broker_limits_check (limits, PC_CMD_PING, NULL, "k9", now, &what) == 1);
    assert (streq (what, "too many requests"));
    zhashx_t *refusals = broker_limits_refusals (limits);
    assert (zhashx_size (refusals) == 2);
    assert (streq ((char *) zhashx_lookup (refusals, "alice"), "2"));
    assert (streq ((char *) zhashx_lookup (refusals, "k9"), "1"));
    zhashx_destroy (&refusals);
    refusals = broker_limits_refusals (limits);
    assert (zhashx_size (refusals) == 0);
    zhashx_destroy (&refusals);
    //  Slow mode: one post per 2 s per user and room
    assert (broker_limits_slow (limits, "lobby", "alice", 2, now) == 0);
    assert (broker_limits_slow (limits, "lobby", "alice", 2, now + 500) == 1500);
    assert (broker_limits_slow (limits, "lobby", "bob", 2, now + 500) == 0);
    assert (broker_limits_slow (limits, "other", "alice", 2, now + 500) == 0);
    assert (broker_limits_slow (limits, "lobby", "alice", 0, now + 600) == 0);
    assert (broker_limits_slow (limits, "lobby", "alice", 2, now + 2000) == 0);
    //  Idle long enough and reported, nothing is held
    refusals = broker_limits_refusals (limits);
    assert (zhashx_size (refusals) == 1 && streq ((char *) zhashx_lookup (refusals, "alice"), "1"));
    zhashx_destroy (&refusals);
    broker_limits_prune (limits, now + SLOW_KEEP_MS + 3000);
    assert (broker_limits_size (limits) == 0);
    broker_limits_destroy (&limits);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

//  client_listen.c: listen with resume, gap filling and reconnection.
#include "client_listen.h"
#include "client_cmd.h"
#include "client_dm.h"
#include "client_state.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <errno.h>
#include <inttypes.h>
#include <time.h>
#include <sodium.h>

#define ROOMS_MAX           64          //  rooms one listen may follow
#define PROBE_INTERVAL_MS   1000        //  SUBS (a ping that needs the login)
#define SILENCE_MS          3000        //  no reply for this long: reconnect
#define SAVE_INTERVAL_MS    200         //  state files at most this often
#define RECONNECT_WAIT_MS   3000        //  per request while reconnecting

static const int s_backoff_ms [] = { 500, 1000, 2000, 4000, 5000 };
#define BACKOFF_STEPS (sizeof (s_backoff_ms) / sizeof (s_backoff_ms [0]))

//  --------------------------------------------------------------------------
//  Printing

static void
s_clock (const char *ts_txt, char *clock, size_t size)
{
    long long ts = strtoll (ts_txt? ts_txt: "0", NULL, 10);
    time_t seconds = (time_t) (ts / 1000);
    struct tm tm;
    snprintf (clock, size, "??:??:??");
    if (localtime_r (&seconds, &tm))
        strftime (clock, size, "%H:%M:%S", &tm);
}

void
client_listen_print_msg (bool json, const char *id, const char *room,
                         const char *from, const char *ts, const char *text)
{
    if (json) {
        pc_buf_t line;
        pc_buf_init (&line);
        pc_buf_append (&line, "{\"id\":", 6);
        pc_buf_json_str (&line, id);
        pc_buf_append (&line, ",\"room\":", 8);
        pc_buf_json_str (&line, room);
        pc_buf_append (&line, ",\"from\":", 8);
        pc_buf_json_str (&line, from);
        pc_buf_printf (&line, ",\"ts\":%lld,\"text\":", strtoll (ts, NULL, 10));
        pc_buf_json_str (&line, text);
        pc_buf_append (&line, "}\n", 2);
        fwrite (line.data, 1, line.size, stdout);
        pc_buf_free (&line);
    }
    else {
        char clock [16];
        s_clock (ts, clock, sizeof (clock));
        //  The codec allows TAB and LF only: nothing can move the cursor.
        printf ("[%s] #%s <%s> %s\n", clock, room, from, text);
    }
}

void
client_listen_print_dm (bool json, const char *id, const char *from,
                        const char *to, const char *ts, const char *text)
{
    if (json) {
        pc_buf_t line;
        pc_buf_init (&line);
        pc_buf_append (&line, "{\"dm\":true,\"id\":", 16);
        pc_buf_json_str (&line, id);
        pc_buf_append (&line, ",\"from\":", 8);
        pc_buf_json_str (&line, from);
        pc_buf_append (&line, ",\"to\":", 6);
        pc_buf_json_str (&line, to);
        pc_buf_printf (&line, ",\"ts\":%lld,\"text\":", strtoll (ts, NULL, 10));
        pc_buf_json_str (&line, text);
        pc_buf_append (&line, "}\n", 2);
        fwrite (line.data, 1, line.size, stdout);
        sodium_memzero (line.data, line.size);
        pc_buf_free (&line);
    }
    else {
        char clock [16];
        s_clock (ts, clock, sizeof (clock));
        printf ("[%s] *dm* <%s> %s\n", clock, from, text);
    }
}

//  --------------------------------------------------------------------------
//  Paged reads

//  A message id: 1-20 decimal digits. false when malformed.
static bool
s_parse_id (const char *text, uint64_t *id)
{
    if (!text || !*text || strlen (text) > 20)
        return false;
    for (const char *p = text; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    errno = 0;
    unsigned long long value = strtoull (text, NULL, 10);
    if (errno || value == 0)
        return false;
    *id = (uint64_t) value;
    return true;
}

//  since for "from the very first message" (-1 on the wire)
#define FROM_START UINT64_MAX

//  One HISTORY/INBOX request: since, limit. On 0, *reply_p is OK.
static int
s_page (client_conn_t *conn, const char *room, uint64_t since, long limit, pc_msg_t **reply_p)
{
    pc_msg_t *request = pc_msg_new (room? "HISTORY": "INBOX");
    if (room)
        pc_msg_add (request, room);
    if (since == FROM_START)
        pc_msg_add (request, "-1");
    else
        pc_msg_addf (request, "%" PRIu64, since);
    pc_msg_addf (request, "%ld", limit);
    char what [64];
    if (room)
        snprintf (what, sizeof (what), "history of #%s", room);
    else
        snprintf (what, sizeof (what), "inbox");
    int rc = client_conn_call (conn, what, request, reply_p);
    pc_msg_destroy (&request);
    return rc;
}

//  Hands each well-formed record of reply to fn, ids above *last only;
//  updates *last and *handed. Returns the number of records in the page,
//  or -1 when fn asked to stop.
static long
s_hand_out (pc_msg_t *reply, const char *room, uint64_t *last, long *handed, long max,
            client_listen_record_fn *fn, void *arg)
{
    size_t stride = room? 4: 5;
    size_t nfields = pc_msg_nfields (reply);
    long records = (long) (nfields / stride);
    for (size_t i = 0; i + stride <= nfields; i += stride) {
        const char *fields [5];
        for (size_t f = 0; f < stride; f++)
            fields [f] = pc_msg_field (reply, i + f);
        uint64_t id;
        if (!s_parse_id (fields [0], &id) || id <= *last)
            continue;               //  malformed, or seen on the previous page
        *last = id;
        (*handed)++;
        if (fn (arg, id, fields) || (max && *handed >= max))
            return -1;
    }
    return records;
}

int
client_listen_fetch (client_conn_t *conn, const char *room, uint64_t after,
                     long max, client_listen_record_fn *fn, void *arg)
{
    long handed = 0;
    uint64_t last = after;
    //  after 0 means from the very first message: since -1 on the wire
    uint64_t since = after? after: FROM_START;
    while (true) {
        pc_msg_t *reply = NULL;
        int rc = s_page (conn, room, since, PC_HISTORY_MAX, &reply);
        if (rc)
            return rc;
        long got = s_hand_out (reply, room, &last, &handed, max, fn, arg);
        pc_msg_destroy (&reply);
        if (got < PC_HISTORY_MAX)
            return 0;               //  stopped, or the last page
        since = last;
    }
}

int
client_listen_latest (client_conn_t *conn, const char *room, long max,
                      client_listen_record_fn *fn, void *arg)
{
    long handed = 0;
    uint64_t last = 0;
    if (max <= PC_HISTORY_MAX) {
        pc_msg_t *reply = NULL;
        int rc = s_page (conn, room, 0, max, &reply);
        if (rc == 0)
            s_hand_out (reply, room, &last, &handed, max, fn, arg);
        pc_msg_destroy (&reply);
        return rc;
    }
    //  More than one page: find the newest id, then read forward.
    pc_msg_t *reply = NULL;
    int rc = s_page (conn, room, 0, 1, &reply);
    if (rc)
        return rc;
    uint64_t newest = 0;
    bool any = pc_msg_nfields (reply) > 0 && s_parse_id (pc_msg_field (reply, 0), &newest);
    pc_msg_destroy (&reply);
    if (!any)
        return 0;
    uint64_t after = newest > (uint64_t) max? newest - (uint64_t) max: 0;
    return client_listen_fetch (conn, room, after, max, fn, arg);
}

//  --------------------------------------------------------------------------
//  listen

typedef struct {
    char     name [PC_NAME_MAX + 1];    //  room, or CLIENT_STATE_DM
    bool     dm;
    bool     known;                     //  last means something
    uint64_t last;                      //  last id printed (or the start line)
    uint64_t seen;                      //  highest id a live message announced
    bool     dirty;                     //  last not saved yet
} track_t;

typedef struct {
    client_opts_t *opts;
    const char    *password;
    client_dm_keys_t keys;
    track_t        tracks [ROOMS_MAX + 1];
    size_t         ntracks;             //  the rooms, then the DM track
    long           count;               //  0: no limit
    long           printed;
    int            timeout_ms;          //  0: no limit
    int64_t        deadline;
    bool           json;
    bool           since_given;
    uint64_t       since;
    zcert_t       *cert;                //  this connection's ephemeral key
    client_conn_t *conn;
    zpoller_t     *poller;
    pc_msg_t      *probe;               //  the last SUBS sent
    int64_t        last_heard;
    int64_t        next_probe;
    int64_t        next_save;
    bool           done;                //  --count reached
    bool           lost;                //  the connection is gone
    bool           ready;               //  "ready" was printed
    long           unopened;
} listen_t;

static int
s_args (listen_t *self, int argc, char **argv)
{
    size_t nrooms = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        if (streq (arg, "--json"))
            self->json = true;
        else
        if (streq (arg, "--count")) {
            char *end;
            if (i + 1 >= argc)
                return client_cmd_usage_error ("--count needs a number%s", "");
            self->count = strtol (argv [++i], &end, 10);
            if (!*argv [i] || *end || self->count < 1)
                return client_cmd_usage_error ("--count needs a positive number, not '%s'", argv [i]);
        }
        else
        if (streq (arg, "--since")) {
            char *end;
            if (i + 1 >= argc)
                return client_cmd_usage_error ("--since needs a message id%s", "");
            errno = 0;
            self->since = strtoull (argv [++i], &end, 10);
            if (!*argv [i] || *end || errno || argv [i][0] == '-')
                return client_cmd_usage_error ("--since needs a message id (a number), not '%s'", argv [i]);
            self->since_given = true;
        }
        else
        if (streq (arg, "--timeout")) {
            if (i + 1 >= argc)
                return client_cmd_usage_error ("--timeout needs a number of seconds%s", "");
            char *end;
            errno = 0;
            double seconds = strtod (argv [++i], &end);
            if (!*argv [i] || *end || errno || !(seconds > 0) || seconds > 86400.0 * 365)
                return client_cmd_usage_error ("--timeout needs a positive number of seconds, not '%s'", argv [i]);
            self->timeout_ms = (int) (seconds * 1000 + 0.5);
            if (self->timeout_ms < 1)
                self->timeout_ms = 1;
        }
        else
        if (strncmp (arg, "--", 2) == 0)
            return client_cmd_usage_error ("unknown listen option '%s'", arg);
        else {
            char room [PC_NAME_MAX + 1], safe [80];
            client_conn_sanitize (arg, safe, sizeof (safe));
            if (strlen (arg) > PC_NAME_MAX) {
                fprintf (stderr, "pychat: bad room name '%s': at most %d characters\n",
                         safe, PC_NAME_MAX);
                return PC_EXIT_REJECTED;
            }
            snprintf (room, sizeof (room), "%s", arg);
            pc_name_fold (room);
            if (!pc_name_valid (room)) {
                fprintf (stderr, "pychat: bad room name '%s': use 1-%d of a-z 0-9 _ -\n",
                         safe, PC_NAME_MAX);
                return PC_EXIT_REJECTED;
            }
            bool seen = false;
            for (size_t r = 0; r < nrooms && !seen; r++)
                seen = streq (self->tracks [r].name, room);
            if (seen)
                continue;
            if (nrooms == ROOMS_MAX) {
                fprintf (stderr, "pychat: at most %d rooms at once\n", ROOMS_MAX);
                return PC_EXIT_REJECTED;
            }
            snprintf (self->tracks [nrooms++].name, PC_NAME_MAX + 1, "%s", room);
        }
    }
    track_t *dm = &self->tracks [nrooms];
    snprintf (dm->name, sizeof (dm->name), "%s", CLIENT_STATE_DM);
    dm->dm = true;
    self->ntracks = nrooms + 1;
    return 0;
}

static track_t *
s_room_track (listen_t *self, const char *room)
{
    for (size_t i = 0; i + 1 < self->ntracks; i++)
        if (streq (self->tracks [i].name, room))
            return &self->tracks [i];
    return NULL;
}

static track_t *
s_dm_track (listen_t *self)
{
    return &self->tracks [self->ntracks - 1];
}

static void
s_save (listen_t *self)
{
    for (size_t i = 0; i < self->ntracks; i++) {
        track_t *track = &self->tracks [i];
        if (track->dirty) {
            client_state_save (self->opts->home, self->opts->user, track->name, track->last);
            track->dirty = false;
        }
    }
    self->next_save = zclock_mono () + SAVE_INTERVAL_MS;
}

//  The sender's public key: pinned, else fetched and pinned (trust on
//  first use). false when there is none.
static bool
s_sender_key (listen_t *self, const char *from, uint8_t *key)
{
    char z85 [CLIENT_DM_Z85];
    if (client_dm_pin_load (self->opts->home, from, z85))
        return client_dm_z85_decode (z85, key);
    if (!pc_name_valid (from) || !self->conn)
        return false;
    if (client_dm_getkey (self->conn, from, z85) != 0 || !client_dm_z85_decode (z85, key))
        return false;
    client_dm_pin_save (self->opts->home, from, z85);
    return true;
}

//  Prints one message of track unless it was printed already. fields: for
//  a room id from time text, for the inbox id from to time box.
static void
s_deliver (listen_t *self, track_t *track, uint64_t id, const char **fields)
{
    if (self->done || (track->known && id <= track->last))
        return;
    track->known = true;
    track->last = id;
    track->dirty = true;
    if (track->dm) {
        char from [80];
        client_conn_sanitize (fields [1], from, sizeof (from));
        uint8_t sender [CLIENT_DM_KEY];
        char *text = NULL;
        if (s_sender_key (self, fields [1], sender))
            text = client_dm_open (fields [4], sender, self->keys.secret_key);
        if (!text) {
            fprintf (stderr, "pychat: direct message %s from %s could not be opened "
                             "(tampered, or not sealed for this device); not shown\n",
                     fields [0], from);
            self->unopened++;
            return;
        }
        client_listen_print_dm (self->json, fields [0], fields [1], fields [2], fields [3], text);
        sodium_memzero (text, strlen (text));
        free (text);
    }
    else
        client_listen_print_msg (self->json, fields [0], track->name, fields [1],
                                 fields [2], fields [3]);
    self->printed++;
    if (self->count && self->printed >= self->count)
        self->done = true;
}

typedef struct {
    listen_t *self;
    track_t  *track;
} fill_t;

static int
s_on_record (void *arg, uint64_t id, const char **fields)
{
    fill_t *fill = (fill_t *) arg;
    s_deliver (fill->self, fill->track, id, fields);
    return fill->self->done? 1: 0;
}

//  Prints what the store holds after track->last. 0 or an exit code.
static int
s_catch_up (listen_t *self, track_t *track)
{
    fill_t fill = { self, track };
    uint64_t before = track->last;
    int rc = client_listen_fetch (self->conn, track->dm? NULL: track->name, track->last, 0,
                                  s_on_record, &fill);
    if (rc == 0) {
        if (track->seen > track->last && !self->done) {
            //  Announced live but no longer in the store (trimmed): say so
            //  once, and go on from there.
            fprintf (stderr, "pychat: %s%s: messages %" PRIu64 "-%" PRIu64
                             " are no longer in the history\n",
                     track->dm? "": "#", track->dm? "inbox": track->name,
                     before + 1, track->seen);
            track->last = track->seen;
            track->dirty = true;
        }
        self->last_heard = zclock_mono ();
    }
    return rc;
}

//  Opens a new connection (a new ephemeral CURVE key): LOGIN, key
//  publication, JOIN, subscription; on the first one also the start line
//  of rooms without one; then catches up. 0 or an exit code.
static int
s_connect (listen_t *self, bool first)
{
    client_opts_t *opts = self->opts;
    self->cert = zcert_new ();
    assert (self->cert);
    int wait_ms = first || opts->timeout_ms < RECONNECT_WAIT_MS? opts->timeout_ms: RECONNECT_WAIT_MS;
    self->conn = client_conn_new (opts->server, opts->server_key, self->cert, wait_ms);
    if (!self->conn)
        return PC_EXIT_USAGE;
    client_conn_set_quiet (self->conn, !first);
    int rc = client_conn_login (self->conn, opts->user, self->password);
    if (rc == 0)
        rc = client_dm_publish (self->conn, opts->user, &self->keys);
    for (size_t i = 0; i + 1 < self->ntracks && rc == 0; i++)
        rc = client_conn_join (self->conn, self->tracks [i].name);
    if (rc == 0)
        rc = client_conn_subscribe (self->conn);
    if (rc == 0 && first) {
        //  A room without a start line starts now: learn its newest id, so
        //  that what comes after (live or missed) is numbered from there.
        for (size_t i = 0; i + 1 < self->ntracks && rc == 0; i++) {
            track_t *track = &self->tracks [i];
            if (track->known)
                continue;
            pc_msg_t *reply = NULL;
            rc = s_page (self->conn, track->name, 0, 1, &reply);
            if (rc == 0) {
                uint64_t id = 0;
                if (pc_msg_nfields (reply) >= 4)
                    s_parse_id (pc_msg_field (reply, 0), &id);
                track->last = id;
                track->known = true;
            }
            pc_msg_destroy (&reply);
        }
        if (rc == 0) {
            fputs ("ready\n", stderr);
            fflush (stderr);
            self->ready = true;
        }
    }
    for (size_t i = 0; i < self->ntracks && rc == 0 && !self->done; i++)
        rc = s_catch_up (self, &self->tracks [i]);
    if (rc == 0) {
        self->poller = zpoller_new (client_conn_dealer (self->conn), client_conn_sub (self->conn), NULL);
        assert (self->poller);
        self->last_heard = zclock_mono ();
        self->next_probe = self->last_heard + PROBE_INTERVAL_MS;
        self->lost = false;
    }
    return rc;
}

static void
s_disconnect (listen_t *self, bool logout)
{
    if (self->conn && logout)
        client_conn_logout (self->conn);
    zpoller_destroy (&self->poller);
    client_conn_destroy (&self->conn);
    zcert_destroy (&self->cert);
    pc_msg_destroy (&self->probe);
}

//  Sleeps ms unless a signal or the deadline comes first: 0, or
//  CLIENT_INTERRUPTED, or 1 at the deadline.
static int
s_sleep (listen_t *self, int ms)
{
    int64_t until = zclock_mono () + ms;
    while (zclock_mono () < until) {
        if (client_conn_interrupted ())
            return CLIENT_INTERRUPTED;
        if (self->deadline && zclock_mono () >= self->deadline)
            return 1;
        zclock_sleep (20);
    }
    return 0;
}

//  Reconnects with backoff until it works, the deadline passes (1), a
//  signal arrives, or the server refuses us (an exit code).
static int
s_reconnect (listen_t *self)
{
    s_disconnect (self, false);
    s_save (self);
    for (size_t attempt = 0; ; attempt++) {
        int wait = s_backoff_ms [attempt < BACKOFF_STEPS? attempt: BACKOFF_STEPS - 1];
        fprintf (stderr, "pychat: connection lost, reconnecting in %g s\n", wait / 1000.0);
        fflush (stderr);
        fflush (stdout);
        int rc = s_sleep (self, wait);
        if (rc)
            return rc;
        rc = s_connect (self, false);
        if (rc == 0) {
            fprintf (stderr, "pychat: reconnected\n");
            fflush (stderr);
            return 0;
        }
        s_disconnect (self, false);
        if (rc == CLIENT_INTERRUPTED || rc == PC_EXIT_REFUSED || rc == PC_EXIT_REJECTED
        ||  rc == PC_EXIT_USAGE)
            return rc;
    }
}

//  A live MSG or DMMSG for track with id.
static int
s_live (listen_t *self, track_t *track, uint64_t id, const char **fields)
{
    if (track->known && id <= track->last)
        return 0;                               //  printed already
    if (!track->known || id == track->last + 1) {
        s_deliver (self, track, id, fields);
        return 0;
    }
    //  A gap: fetch it (this message included) from the store first.
    if (id > track->seen)
        track->seen = id;
    return s_catch_up (self, track);
}

static void
s_on_dealer (listen_t *self, pc_msg_t *msg)
{
    if (pc_msg_recv (msg, client_conn_dealer (self->conn)) != 0)
        return;
    if (!self->probe || !streq (pc_msg_reqid (msg), pc_msg_reqid (self->probe))) {
        self->last_heard = zclock_mono ();      //  a late reply is a reply too
        return;
    }
    if (pc_msg_is (msg, "ERROR")) {
        //  403 "log in first": the broker restarted and forgot us
        self->lost = true;
        return;
    }
    bool listed = false;
    for (size_t i = 0; i < pc_msg_nfields (msg) && !listed; i++)
        listed = streq (pc_msg_field (msg, i), client_conn_topic (self->conn));
    if (listed)
        self->last_heard = zclock_mono ();
    else
        self->lost = true;                      //  our subscription is gone
    pc_msg_destroy (&self->probe);
}

static int s_on_one (listen_t *self, pc_msg_t *msg);

//  One fan-out message (or batch of them). 0, or an exit code from a gap
//  fill.
static int
s_on_sub (listen_t *self, pc_msg_t *msg)
{
    int status = pc_msg_recv (msg, client_conn_sub (self->conn));
    self->last_heard = zclock_mono ();
    while (true) {
        if (status == 0) {
            int rc = s_on_one (self, msg);
            if (rc)
                return rc;
        }
        if (!pc_msg_more (msg))
            return 0;
        status = pc_msg_next (msg);
    }
}

static int
s_on_one (listen_t *self, pc_msg_t *msg)
{
    const char *topic = pc_msg_topic (msg);
    if (!topic || !streq (topic, client_conn_topic (self->conn)))
        return 0;
    if (pc_msg_is (msg, "NOTICE") && pc_msg_nfields (msg) >= 2) {
        //  kicked: that room stops; banned or deleted: everything stops
        char text [256];
        client_conn_sanitize (pc_msg_field (msg, 1), text, sizeof (text));
        fprintf (stderr, "pychat: %s\n", text);
        const char *kind = pc_msg_field (msg, 0);
        if (streq (kind, "banned") || streq (kind, "deleted")) {
            self->done = true;
            return PC_EXIT_REFUSED;
        }
        return 0;
    }
    uint64_t id;
    if (!s_parse_id (pc_msg_field (msg, 0), &id))
        return 0;
    if (pc_msg_is (msg, "MSG") && pc_msg_nfields (msg) >= 5) {
        track_t *track = s_room_track (self, pc_msg_field (msg, 1));
        if (!track)
            return 0;
        const char *fields [4] = { pc_msg_field (msg, 0), pc_msg_field (msg, 2),
                                   pc_msg_field (msg, 3), pc_msg_field (msg, 4) };
        return s_live (self, track, id, fields);
    }
    if (pc_msg_is (msg, "DMMSG") && pc_msg_nfields (msg) >= 5
    &&  streq (pc_msg_field (msg, 2), self->opts->user)) {
        const char *fields [5] = { pc_msg_field (msg, 0), pc_msg_field (msg, 1),
                                   pc_msg_field (msg, 2), pc_msg_field (msg, 3),
                                   pc_msg_field (msg, 4) };
        return s_live (self, s_dm_track (self), id, fields);
    }
    return 0;
}

int
client_listen_flush_stdout (void)
{
    if (fflush (stdout) == 0 && !ferror (stdout))
        return 0;
    if (errno != EPIPE)
        fprintf (stderr, "pychat: cannot write the output: %s\n", strerror (errno));
    return PC_EXIT_USAGE;
}

static int
s_loop (listen_t *self)
{
    pc_msg_t *msg = pc_msg_new (NULL);
    int rc = 0;
    while (!client_conn_interrupted () && !self->done) {
        int64_t now = zclock_mono ();
        if (self->deadline && now >= self->deadline)
            break;
        if (!self->lost && now - self->last_heard >= SILENCE_MS) {
            //  Replies may be waiting (after a SIGSTOP, say): read them first
            while (!self->lost && (zsock_events (client_conn_dealer (self->conn)) & ZMQ_POLLIN))
                s_on_dealer (self, msg);
            if (zsock_events (client_conn_sub (self->conn)) & ZMQ_POLLIN)
                self->last_heard = zclock_mono ();
            now = zclock_mono ();
        }
        if (self->lost || now - self->last_heard >= SILENCE_MS) {
            rc = s_reconnect (self);
            if (rc == 1) {
                rc = 0;
                break;                          //  the deadline
            }
            if (rc)
                break;
            continue;
        }
        if (now >= self->next_probe) {
            if (!self->probe)
                self->probe = pc_msg_new ("SUBS");
            client_conn_send_async (self->conn, self->probe);
            self->next_probe = now + PROBE_INTERVAL_MS;
            //  Live messages announced a gap the store could not fill yet
            //  (it was down): try again.
            for (size_t i = 0; i < self->ntracks && rc == 0 && !self->done; i++)
                if (self->tracks [i].seen > self->tracks [i].last)
                    rc = s_catch_up (self, &self->tracks [i]);
            if (rc == CLIENT_INTERRUPTED)
                break;
            rc = 0;
        }
        if (now >= self->next_save)
            s_save (self);
        if ((rc = client_listen_flush_stdout ()))
            break;
        int64_t until = self->next_probe;
        if (self->deadline && self->deadline < until)
            until = self->deadline;
        int wait = (int) (until - now);
        void *which = zpoller_wait (self->poller, wait > 0? wait: 0);
        if (which == client_conn_dealer (self->conn))
            s_on_dealer (self, msg);
        else
        if (which == client_conn_sub (self->conn)) {
            //  Up to a batch at a time: fewer flushes under a flood
            for (int n = 0; n < 256 && !self->done; n++) {
                int status = s_on_sub (self, msg);
                if (status == CLIENT_INTERRUPTED || (status && self->done)) {
                    rc = status;                //  interrupted, or banned
                    break;
                }
                if (status)
                    self->lost = true;          //  a gap fill got no reply
                if (self->lost || !(zsock_events (client_conn_sub (self->conn)) & ZMQ_POLLIN))
                    break;
            }
            if (rc)
                break;
        }
    }
    pc_msg_destroy (&msg);
    if (rc == 0)
        rc = client_listen_flush_stdout ();
    return rc;
}

int
client_listen_run (client_opts_t *opts, const char *password, int argc, char **argv)
{
    listen_t self;
    memset (&self, 0, sizeof (self));
    self.opts = opts;
    self.password = password;
    int rc = s_args (&self, argc, argv);
    if (rc)
        return rc;
    rc = client_dm_device_load (opts->home, &self.keys);
    if (rc)
        return rc;
    //  Where each track starts: --since (rooms), else the saved id.
    for (size_t i = 0; i < self.ntracks; i++) {
        track_t *track = &self.tracks [i];
        if (!track->dm && self.since_given) {
            track->last = self.since;
            track->known = true;
        }
        else
            track->known = client_state_load (opts->home, opts->user, track->name, &track->last);
        if (track->dm && !track->known) {
            track->last = 0;            //  the whole inbox, on the first listen
            track->known = true;
        }
    }
    int64_t start = zclock_mono ();
    self.deadline = self.timeout_ms? start + self.timeout_ms: 0;
    self.next_save = start + SAVE_INTERVAL_MS;
    rc = s_connect (&self, true);
    if (rc && rc != CLIENT_INTERRUPTED && self.ready) {
        self.lost = true;               //  lost during the first catch-up: reconnect
        rc = 0;
    }
    else
    if (rc) {
        s_disconnect (&self, false);
        client_dm_keys_clear (&self.keys);
        return rc == CLIENT_INTERRUPTED? PC_EXIT_OK: rc;
    }
    rc = s_loop (&self);
    if (rc == 0 && self.count && self.printed < self.count && !client_conn_interrupted ()) {
        fprintf (stderr, "pychat: timed out after %g s with %ld of %ld messages\n",
                 self.timeout_ms / 1000.0, self.printed, self.count);
        rc = PC_EXIT_UNREACHABLE;
    }
    if (rc == CLIENT_INTERRUPTED)
        rc = PC_EXIT_OK;                //  a signal is how one stops listening
    s_save (&self);
    s_disconnect (&self, true);
    client_dm_keys_clear (&self.keys);
    return rc;
}

//  client_listen.c: `pychat listen` on the session engine (client_session:
//  login, joins, gap filling, reconnection), printing and resuming from
//  PYCHAT_HOME/state; and the paged reads `pychat history` shares.
#include "client_listen.h"
#include "client_presence.h"
#include "pc_proto.h"
#include "client_cmd.h"
#include "client_dm.h"
#include "client_dm_kinds.h"
#include "client_session.h"
#include "client_token.h"
#include "client_state.h"
#include "client_net.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <errno.h>
#include <inttypes.h>
#include <time.h>
#include <sodium.h>

#define ROOMS_MAX           64          //  rooms one listen may follow
#define SILENCE_MS          3000        //  no reply for this long: reconnect
#define SAVE_INTERVAL_MS    200         //  state files at most this often
#define BACKOFF_FIRST_MS    500         //  then 1, 2, 4, 5, 5 ... s
#define BACKOFF_MAX_MS      5000

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

//  What a continuation line of a plain message starts with: never column
//  0, so no message text can pass for a line of its own.
#define CONTINUATION        "           "

void
client_listen_plain_text (FILE *out, const char *text)
{
    const unsigned char *s = (const unsigned char *) (text? text: "");
    while (*s) {
        unsigned char c = *s;
        if (c == '\n') {
            fputs ("\n" CONTINUATION, out);
            s++;
        }
        else
        if (c == '\t') {
            fputc ('\t', out);
            s++;
        }
        else
        if (c < 0x20 || c == 0x7f) {
            fprintf (out, "^%c", c == 0x7f? '?': c + '@');     //  ^[ for ESC
            s++;
        }
        else
        if (c < 0x80) {
            fputc (c, out);
            s++;
        }
        else {
            //  A whole, valid UTF-8 character goes out as is, but a C1 control
            //  (U+0080..U+009F: CSI is one of them) or a broken sequence is
            //  written as \xNN, one byte at a time.
            size_t extra = (c & 0xe0) == 0xc0? 1: (c & 0xf0) == 0xe0? 2: (c & 0xf8) == 0xf0? 3: 0;
            size_t have = 0;
            while (have < extra && (s [1 + have] & 0xc0) == 0x80)
                have++;
            bool c1 = c == 0xc2 && have == 1 && s [1] < 0xa0;
            if (extra == 0 || have < extra || c1
            ||  !pc_utf8_valid ((const char *) s, extra + 1)) {
                fprintf (out, "\\x%02x", c);
                s++;
                if (c1)
                    fprintf (out, "\\x%02x", *s++);
            }
            else {
                fwrite (s, 1, extra + 1, out);
                s += extra + 1;
            }
        }
    }
}

bool
client_listen_event (const char *text, char *kind, size_t size, uint64_t *ref, const char **rest)
{
    if (!text || text [0] != CLIENT_EVENT_MARK)
        return false;
    const char *space = strchr (text + 1, ' ');
    if (!space || (size_t) (space - text - 1) >= size)
        return false;
    snprintf (kind, size, "%.*s", (int) (space - text - 1), text + 1);
    char *end;
    *ref = strtoull (space + 1, &end, 10);
    if (end == space + 1)
        return false;
    *rest = *end == ' '? end + 1: end;
    return true;
}

static void s_print_marker (const char *kind, uint64_t ref);

//  One entry's JSON line: a room's ({"id","room",...}) when room is set, a
//  DM's ({"dm":true,"id","from","to",...}) when to is; then ts, text, an
//  event's kind and ref, and extra's members. Wiped after writing (a DM's
//  text was sealed until this device opened it).
static void
s_print_json (const char *id, const char *room, const char *from, const char *to,
              const char *ts, const char *rest, const char *kind, uint64_t ref,
              const char *extra)
{
    pc_buf_t line;
    pc_buf_init (&line);
    pc_buf_append (&line, room? "{\"id\":": "{\"dm\":true,\"id\":", room? 6: 16);
    pc_buf_json_str (&line, id);
    if (room) {
        pc_buf_append (&line, ",\"room\":", 8);
        pc_buf_json_str (&line, room);
    }
    pc_buf_append (&line, ",\"from\":", 8);
    pc_buf_json_str (&line, from);
    if (!room) {
        pc_buf_append (&line, ",\"to\":", 6);
        pc_buf_json_str (&line, to? to: "");
    }
    pc_buf_printf (&line, ",\"ts\":%lld,\"text\":", strtoll (ts, NULL, 10));
    pc_buf_json_str (&line, rest);
    if (kind) {
        pc_buf_append (&line, ",\"kind\":", 8);
        pc_buf_json_str (&line, kind);
        pc_buf_printf (&line, ",\"ref\":%" PRIu64, ref);
    }
    if (extra && *extra)
        pc_buf_printf (&line, ",%s", extra);
    pc_buf_append (&line, "}\n", 2);
    fwrite (line.data, 1, line.size, stdout);
    sodium_memzero (line.data, line.size);
    pc_buf_free (&line);
}

void
client_listen_print_entry (bool json, const char *id, const char *room, const char *from,
                           const char *ts, const char *text, const char *extra)
{
    char kind [16];
    uint64_t ref = 0;
    const char *rest = text;
    bool event = client_listen_event (text, kind, sizeof (kind), &ref, &rest);
    if (json) {
        s_print_json (id, room, from, NULL, ts, rest, event? kind: NULL, ref, extra);
        return;
    }
    char clock [16];
    s_clock (ts, clock, sizeof (clock));
    printf ("[%s] #%s <%s> ", clock, room, from);
    if (event)
        s_print_marker (kind, ref);
    client_listen_plain_text (stdout, rest);
    if (extra && *extra)
        printf ("  %s", extra);
    putchar ('\n');
}

//  The marker of an event's plain line ("(edited #12) ")
static void
s_print_marker (const char *kind, uint64_t ref)
{
    if (streq (kind, "reply"))
        printf ("(reply to #%" PRIu64 ") ", ref);
    else
    if (streq (kind, "edit"))
        printf ("(edited #%" PRIu64 ") ", ref);
    else
    if (streq (kind, "delete"))
        printf ("(deleted #%" PRIu64 ")", ref);
    else
    if (streq (kind, "react"))
        printf ("(reacted to #%" PRIu64 ") ", ref);
    else
    if (streq (kind, "unreact"))
        printf ("(took back a reaction to #%" PRIu64 ") ", ref);
}

void
client_listen_print_dm (bool json, const char *id, const char *from,
                        const char *to, const char *ts, const char *text, bool sent,
                        const char *extra)
{
    char kind [16];
    uint64_t ref = 0;
    const char *rest = text;
    bool event = client_listen_event (text, kind, sizeof (kind), &ref, &rest);
    if (json)
        s_print_json (id, NULL, from, to, ts, rest, event? kind: NULL, ref, extra);
    else {
        char clock [16];
        s_clock (ts, clock, sizeof (clock));
        if (to && !streq (from, to) && sent)      //  a copy of what we wrote elsewhere
            printf ("[%s] *dm to %s* <%s> ", clock, to, from);
        else
            printf ("[%s] *dm* <%s> ", clock, from);
        if (event)
            s_print_marker (kind, ref);
        client_listen_plain_text (stdout, rest);
        if (extra && *extra)
            printf ("  %s", extra);
        putchar ('\n');
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
    long records = (long) (room? pc_history_ok_count (reply): pc_inbox_ok_count (reply));
    for (long i = 0; i < records; i++) {
        size_t m = (size_t) i;
        const char *fields [5] = {
            room? pc_history_ok_id (reply, m): pc_inbox_ok_id (reply, m),
            room? pc_history_ok_from (reply, m): pc_inbox_ok_from (reply, m),
            room? pc_history_ok_time (reply, m): pc_inbox_ok_to (reply, m),
            room? pc_history_ok_text (reply, m): pc_inbox_ok_time (reply, m),
            room? NULL: pc_inbox_ok_box (reply, m) };
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
    bool any = pc_msg_nfields (reply) > 0
            && s_parse_id (room? pc_history_ok_id (reply, 0): pc_inbox_ok_id (reply, 0), &newest);
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
    bool     dirty;                     //  last not saved yet
} track_t;

//  A direct message waiting for its sender's key (GETKEY is out), kept in
//  order: what comes after it waits too.
typedef struct {
    uint64_t id;
    char     from [PC_NAME_MAX + 1];
    char     to [PC_NAME_MAX + 1];
    int64_t  ts;
    char    *box;
    bool     asked;                     //  GETKEY of from was sent
    bool     answered;                  //  and answered
} held_t;

typedef enum { L_SETKEY, L_GETKEY, L_LOGOUT } listen_req_t;

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
    client_net_t  *net;
    client_session_t *session;
    zlistx_t      *held;                //  held_t *
    zhashx_t      *reactions;           //  "ROOM ID" -> "EMOJI USER\n"... given so far
    int64_t        next_save;
    bool           done;                //  --count reached, or refused
    int            rc;                  //  the exit code once done
    bool           ready;               //  "ready" was printed
    bool           logged_out;
    bool           presence;            //  --presence: PRESENCE and TYPING lines too
    zhashx_t      *states;              //  user -> the state printed last
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
        if (streq (arg, "--presence"))
            self->presence = true;
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
            char room [PC_NAME_MAX + 1];
            int rc = client_cmd_room_arg (arg, room, sizeof (room));
            if (rc)
                return rc;
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
s_track (listen_t *self, const char *name)
{
    for (size_t i = 0; i < self->ntracks; i++)
        if (streq (self->tracks [i].name, name))
            return &self->tracks [i];
    return NULL;
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

static void
s_stop (listen_t *self, int rc)
{
    if (!self->done)
        self->rc = rc;
    self->done = true;
}

static void
s_printed (listen_t *self, track_t *track, uint64_t id)
{
    track->known = true;
    track->last = id;
    track->dirty = true;
    self->printed++;
    if (self->count && self->printed >= self->count)
        s_stop (self, 0);
}

//  A reaction seen live: who gave which emoji to which message, so that
//  its line says the count now (extra: plain "(EMOJI N)", JSON "count":N).
//  Counts start at this listen's first entry: history has them all.
static void
s_count_reaction (listen_t *self, const char *room, const char *from, const char *text,
                  char *extra, size_t size)
{
    char kind [16];
    uint64_t ref;
    const char *emoji;
    if (!client_listen_event (text, kind, sizeof (kind), &ref, &emoji)
    ||  !(streq (kind, "react") || streq (kind, "unreact")))
        return;
    char key [PC_NAME_MAX + 32];
    snprintf (key, sizeof (key), "%s %" PRIu64, room, ref);
    const char *pairs = (const char *) zhashx_lookup (self->reactions, key);
    char *pair = zsys_sprintf ("%s %s\n", emoji, from);
    pc_buf_t out;
    pc_buf_init (&out);
    size_t count = 0;
    for (const char *at = pairs? pairs: ""; *at; at = strchr (at, '\n') + 1) {
        size_t len = strchr (at, '\n') + 1 - at;
        if (len == strlen (pair) && strncmp (at, pair, len) == 0)
            continue;                   //  given again or taken back: re-added below
        pc_buf_append (&out, at, len);
        count += strncmp (at, emoji, strlen (emoji)) == 0 && at [strlen (emoji)] == ' ';
    }
    if (streq (kind, "react")) {
        pc_buf_append (&out, pair, strlen (pair));
        count++;
    }
    zhashx_update (self->reactions, key, strdup (out.size? out.data: ""));
    if (self->json)
        snprintf (extra, size, "\"count\":%zu", count);
    else
        snprintf (extra, size, "(%s %zu)", emoji, count);
    pc_buf_free (&out);
    free (pair);
}

static void
s_on_message (void *arg, const char *room, uint64_t id, const char *from, int64_t ts,
              const char *text, bool live)
{
    listen_t *self = (listen_t *) arg;
    track_t *track = s_track (self, room);
    if (self->done || !track)
        return;
    char id_txt [24], ts_txt [24];
    snprintf (id_txt, sizeof (id_txt), "%" PRIu64, id);
    snprintf (ts_txt, sizeof (ts_txt), "%" PRId64, ts);
    char extra [64] = "";
    s_count_reaction (self, room, from, text, extra, sizeof (extra));
    client_listen_print_entry (self->json, id_txt, room, from, ts_txt, text, extra);
    s_printed (self, track, id);
}

//  Opens and prints one held direct message with the sender's pinned
//  devices, or says it could not be opened. 1: the sender's device is not
//  pinned (nothing done).
static int
s_open_dm (listen_t *self, held_t *dm, bool last_try)
{
    client_dm_devices_t sender;
    client_dm_pins_load (self->opts->home, dm->from, &sender);
    char *text = NULL;
    int rc = client_dm_kinds_open (dm->box, &self->keys, &sender, &text);
    if (rc == 1 && !last_try)
        return 1;
    track_t *track = s_track (self, CLIENT_STATE_DM);
    char id_txt [24];
    snprintf (id_txt, sizeof (id_txt), "%" PRIu64, dm->id);
    if (!text) {
        char from [80];
        client_conn_sanitize (dm->from, from, sizeof (from));
        fprintf (stderr, "pychat: direct message %s from %s could not be opened "
                         "(tampered, or not sealed for this device); not shown\n", id_txt, from);
        track->last = dm->id;               //  reported: not again
        track->dirty = true;
        return 0;
    }
    char ts_txt [24];
    snprintf (ts_txt, sizeof (ts_txt), "%" PRId64, dm->ts);
    char extra [64] = "";
    s_count_reaction (self, "@", dm->from, text, extra, sizeof (extra));
    client_listen_print_dm (self->json, id_txt, dm->from, dm->to, ts_txt, text,
                            streq (dm->from, self->opts->user), extra);
    sodium_memzero (text, strlen (text));
    free (text);
    s_printed (self, track, dm->id);
    return 0;
}

//  Prints the held direct messages in order while their senders' devices
//  are known; asks for the devices of a sender whose device is not pinned
//  (trust on first use, a new device announced) and waits.
static void
s_drain (listen_t *self)
{
    held_t *dm;
    while (!self->done && (dm = (held_t *) zlistx_first (self->held))) {
        if (dm->asked && !dm->answered)
            return;                         //  s_on_reply goes on
        bool can_ask = !dm->asked && pc_name_valid (dm->from);
        if (s_open_dm (self, dm, !can_ask) == 1) {
            pc_msg_t *request = pc_msg_new ("GETKEY");
            pc_msg_add (request, dm->from);
            dm->asked = client_session_request (self->session, request, L_GETKEY, dm->from, 0) == 0;
            pc_msg_destroy (&request);
            if (dm->asked)
                return;                     //  s_on_reply goes on
            s_open_dm (self, dm, true);
        }
        zlistx_delete (self->held, zlistx_cursor (self->held));
    }
}

static void
s_held_destroy (void **item)
{
    held_t *dm = (held_t *) *item;
    if (dm) {
        free (dm->box);
        free (dm);
        *item = NULL;
    }
}

static void
s_on_dm (void *arg, uint64_t id, const char *from, const char *to, int64_t ts,
         const char *box, bool live)
{
    listen_t *self = (listen_t *) arg;
    if (self->done)
        return;
    held_t *dm = (held_t *) zmalloc (sizeof (held_t));
    dm->id = id;
    snprintf (dm->from, sizeof (dm->from), "%s", from);
    snprintf (dm->to, sizeof (dm->to), "%s", to);
    dm->ts = ts;
    dm->box = strdup (box);
    zlistx_add_end (self->held, dm);
    s_drain (self);
}

static void
s_on_reply (void *arg, int kind, const char *what, long n, pc_msg_t *reply)
{
    listen_t *self = (listen_t *) arg;
    if (kind == L_LOGOUT)
        self->logged_out = true;
    if (kind == L_SETKEY && reply)
        client_dm_setkey_refused (reply, client_dm_say_stderr, NULL);
    if (kind != L_GETKEY)
        return;
    client_dm_devices_t devices;
    if (reply && client_dm_devices_parse (reply, &devices) == 0)
        client_dm_devices_check (self->opts->home, self->opts->user, self->keys.id, what,
                                 &devices, client_dm_say_stderr, NULL);
    held_t *dm = (held_t *) zlistx_first (self->held);
    for (; dm; dm = (held_t *) zlistx_next (self->held))
        if (!reply)
            dm->asked = false;          //  lost with the connection: ask again
        else
        if (streq (dm->from, what))
            dm->answered = true;
    if (reply)
        s_drain (self);
}

static void
s_on_lost (void *arg, const char *room, uint64_t first, uint64_t last)
{
    listen_t *self = (listen_t *) arg;
    bool dm = streq (room, CLIENT_SESSION_INBOX);
    fprintf (stderr, "pychat: %s%s: messages %" PRIu64 "-%" PRIu64 " are no longer in the history\n",
             dm? "": "#", dm? "inbox": room, first, last);
    if (self->json) {
        //  The same, for a program: an object of its own among the messages
        pc_buf_t line;
        pc_buf_init (&line);
        pc_buf_printf (&line, "{\"gap\":true,\"room\":");
        pc_buf_json_str (&line, dm? "": room);
        pc_buf_printf (&line, ",\"dm\":%s,\"first\":%" PRIu64 ",\"last\":%" PRIu64 "}\n",
                       dm? "true": "false", first, last);
        fwrite (line.data, 1, line.size, stdout);
        fflush (stdout);
        pc_buf_free (&line);
    }
    track_t *track = s_track (self, dm? CLIENT_STATE_DM: room);
    if (track) {
        track->last = last;
        track->dirty = true;
    }
}

static void
s_on_token (void *arg, const char *token, const char *sid)
{
    listen_t *self = (listen_t *) arg;
    client_token_update (self->opts->home, self->opts->user, self->opts->server_key, token, sid);
}

static int
s_on_password (void *arg, char *password, size_t size)
{
    return client_token_password (((listen_t *) arg)->opts->user, password, size);
}

static void
s_on_login (void *arg, pc_msg_t *reply, bool again)
{
    listen_t *self = (listen_t *) arg;
    if (pc_msg_is (reply, "ERROR")) {
        s_stop (self, client_conn_report ("login", reply));
        return;
    }
    //  This device in the account's list: others can write to it.
    pc_msg_t *request = client_dm_setkey_new (&self->keys);
    client_session_request (self->session, request, L_SETKEY, NULL, 0);
    pc_msg_destroy (&request);
}

static void
s_on_join_failed (void *arg, const char *room, int code, const char *reason)
{
    listen_t *self = (listen_t *) arg;
    if (code == PC_ERR_UNAVAILABLE)
        return;                         //  joined again after the next login
    char what [64];
    snprintf (what, sizeof (what), "join #%s", room);
    s_stop (self, client_conn_report_code (what, code, reason));
}

static void
s_on_state (void *arg, client_session_state_t state, const char *why)
{
    listen_t *self = (listen_t *) arg;
    char safe [200];
    client_conn_sanitize (why, safe, sizeof (safe));
    if (state == CLIENT_SESSION_WAITING) {
        int64_t wait = client_session_retry_at (self->session) - zclock_mono ();
        fprintf (stderr, "pychat: connection lost, reconnecting in %g s\n",
                 (wait > 0? wait: 0) / 1000.0);
        fflush (stderr);
        s_save (self);
    }
    else
    if (state == CLIENT_SESSION_IDLE && *safe) {
        //  The first LOGIN got no answer: as every command says it
        fprintf (stderr, "pychat: no reply from %s within %g s (is the broker running?)\n",
                 self->opts->server, self->opts->timeout_ms / 1000.0);
        s_stop (self, PC_EXIT_UNREACHABLE);
    }
    else
    if (state == CLIENT_SESSION_REFUSED && !self->done) {
        fprintf (stderr, "pychat: %s\n", safe);
        s_stop (self, PC_EXIT_USAGE);
    }
}

//  Subscribed and caught up: "ready" the first time, "reconnected" after.
static void
s_on_ready (void *arg)
{
    listen_t *self = (listen_t *) arg;
    if (!self->ready) {
        fputs ("ready\n", stderr);
        self->ready = true;
        client_session_set_patience (self->session, SILENCE_MS);
    }
    else
        fputs ("pychat: reconnected\n", stderr);
    fflush (stderr);
}

//  NOTICE: kicked stops a room; banned or deleted stop everything.
static void
s_on_fanout (void *arg, pc_msg_t *msg)
{
    listen_t *self = (listen_t *) arg;
    if (self->presence && client_presence_print (self->json, msg, self->states))
        return;
    if (!pc_msg_is (msg, "NOTICE") || pc_msg_nfields (msg) < 2)
        return;
    char text [256];
    client_conn_sanitize (pc_notice_text (msg), text, sizeof (text));
    fprintf (stderr, "pychat: %s\n", text);
    const char *kind = pc_notice_kind (msg);
    if (streq (kind, "banned") || streq (kind, "deleted"))
        s_stop (self, PC_EXIT_REFUSED);
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

//  Waits up to ms for the transport, then lets the engine read and tick.
static void
s_wait (listen_t *self, int ms)
{
    client_net_wait (self->net, ms);
    client_session_input (self->session);
    client_session_tick (self->session);
}

static int
s_loop (listen_t *self)
{
    while (!client_conn_interrupted () && !self->done) {
        int64_t now = zclock_mono ();
        if (self->deadline && now >= self->deadline)
            break;
        if (now >= self->next_save)
            s_save (self);
        int rc = client_listen_flush_stdout ();
        if (rc)
            return rc;
        int64_t wait = 100;
        if (self->deadline && self->deadline - now < wait)
            wait = self->deadline - now;
        s_wait (self, (int) (wait > 0? wait: 0));
        if (client_net_key_refused (self->net)) {
            fprintf (stderr, "pychat: " CLIENT_NET_KEY_REFUSED "\n", self->opts->server);
            return PC_EXIT_UNREACHABLE;
        }
    }
    int rc = client_listen_flush_stdout ();
    return self->rc? self->rc: rc;
}

//  Where each track starts: --since (rooms), else the saved id; rooms
//  without one start at their newest message, the inbox at its first.
static void
s_follow (listen_t *self)
{
    for (size_t i = 0; i < self->ntracks; i++) {
        track_t *track = &self->tracks [i];
        if (!track->dm && self->since_given) {
            track->last = self->since;
            track->known = true;
        }
        else
            track->known = client_state_load (self->opts->home, self->opts->user, track->name,
                                              &track->last);
        if (track->dm && !track->known) {
            track->last = 0;
            track->known = true;
        }
        if (track->dm)
            client_session_follow_inbox (self->session, track->last);
        else
            client_session_follow (self->session, track->name, track->known, track->last, 0);
    }
}

//  Best-effort LOGOUT, at most a short while: the broker frees the session.
static void
s_logout (listen_t *self)
{
    if (client_session_state (self->session) != CLIENT_SESSION_ONLINE)
        return;
    pc_msg_t *request = pc_msg_new ("LOGOUT");
    pc_msg_add (request, "keep");       //  the token stays for the next run
    client_session_request (self->session, request, L_LOGOUT, NULL, 0);
    pc_msg_destroy (&request);
    int64_t deadline = zclock_mono () + 300;
    while (!self->logged_out && zclock_mono () < deadline)
        s_wait (self, 50);
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
    self.held = zlistx_new ();
    zlistx_set_destructor (self.held, s_held_destroy);
    self.reactions = zhashx_new ();
    self.states = zhashx_new ();
    zhashx_set_destructor (self.states, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_destructor (self.reactions, (zhashx_destructor_fn *) zstr_free);
    self.net = client_net_new ();
    client_session_events_t events = {
        .state = s_on_state, .login = s_on_login, .join_failed = s_on_join_failed,
        .message = s_on_message, .dm = s_on_dm, .lost = s_on_lost, .reply = s_on_reply,
        .fanout = s_on_fanout, .ready = s_on_ready, .token = s_on_token, .password = s_on_password
    };
    self.session = client_session_new (&client_net_transport, self.net, &events, &self);
    client_token_setup (self.session, opts->home, opts->user, opts->server_key);
    client_session_set_backoff (self.session, BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
    client_session_set_patience (self.session, opts->timeout_ms);
    s_follow (&self);
    int64_t start = zclock_mono ();
    self.deadline = self.timeout_ms? start + self.timeout_ms: 0;
    self.next_save = start + SAVE_INTERVAL_MS;
    client_session_start (self.session, opts->server, opts->server_key, opts->user, password);
    rc = s_loop (&self);
    if (rc == 0 && !self.done && client_conn_interrupted ())
        rc = CLIENT_INTERRUPTED;            //  stopped by Ctrl-C: 130 (main)
    if (rc == 0 && self.count && self.printed < self.count && !client_conn_interrupted ()) {
        fprintf (stderr, "pychat: timed out after %g s with %ld of %ld messages\n",
                 self.timeout_ms / 1000.0, self.printed, self.count);
        rc = PC_EXIT_UNREACHABLE;
    }
    s_save (&self);
    s_logout (&self);
    client_session_destroy (&self.session);
    client_net_destroy (&self.net);
    zlistx_destroy (&self.held);
    zhashx_destroy (&self.reactions);
    zhashx_destroy (&self.states);
    client_dm_keys_clear (&self.keys);
    return rc;
}

//  client_cmd_search.c: pychat search ROOM WORDS, and the direct messages'
//  search, which only the client can do (PROTOCOL.md, "Search").

#include "client_cmd_core.h"
#include "pc_words.h"

#define SEARCH_DEFAULT      20

typedef struct {
    char        room [PC_NAME_MAX + 1];     //  "" for direct messages
    char        peer [PC_NAME_MAX + 1];     //  @USER: only DMs with USER ("" any)
    bool        dm;
    bool        json;
    long        limit;
    uint64_t    before;                     //  --before ID, else 0
    pc_buf_t    query;
    pc_query_t  parsed;
} search_t;

//  "ID FROM TEXT" (a hit's neighbour) as a line under the hit
static void
s_print_near (const char *label, const char *near)
{
    const char *from = strchr (near, ' ');
    const char *text = from? strchr (from + 1, ' '): NULL;
    if (!text)
        return;
    printf ("    %s #%.*s <%.*s> ", label, (int) (from - near), near, (int) (text - from - 1), from + 1);
    client_listen_plain_text (stdout, text + 1);
    putchar ('\n');
}

static void
s_json_near (pc_buf_t *extra, const char *name, const char *near)
{
    pc_buf_printf (extra, "%s\"%s\":", extra->size? ",": "", name);
    pc_buf_json_str (extra, near);
}

static int
s_room_fn (client_opts_t *opts, session_t *session, void *arg)
{
    search_t *self = (search_t *) arg;
    char what [PC_NAME_MAX + 16];
    snprintf (what, sizeof (what), "search #%s", self->room);
    int rc = client_conn_enter (session->conn, self->room, what);
    if (rc)
        return rc;
    char limit [24], before [24];
    snprintf (limit, sizeof (limit), "%ld", self->limit > PC_SEARCH_LIMIT_MAX? PC_SEARCH_LIMIT_MAX
                                                                               : self->limit);
    snprintf (before, sizeof (before), "%" PRIu64, self->before);
    pc_msg_t *request = pc_search_new (self->room, self->query.data, limit, before);
    pc_msg_t *reply = NULL;
    rc = client_conn_call (session->conn, what, request, &reply);
    pc_msg_destroy (&request);
    if (rc)
        return rc;
    size_t fields = pc_search_ok_count (reply);
    for (size_t i = 0; i + 6 <= fields; i += 6) {
        const char *id = pc_search_ok_hit (reply, i), *from = pc_search_ok_hit (reply, i + 1);
        const char *ts = pc_search_ok_hit (reply, i + 2), *text = pc_search_ok_hit (reply, i + 3);
        const char *prev = pc_search_ok_hit (reply, i + 4), *next = pc_search_ok_hit (reply, i + 5);
        pc_buf_t extra;
        pc_buf_init (&extra);
        if (self->json) {
            s_json_near (&extra, "before", prev);
            s_json_near (&extra, "after", next);
        }
        else
            pc_buf_printf (&extra, "(#%s)", id);
        client_listen_print_entry (self->json, id, self->room, from, ts, text, extra.data);
        pc_buf_free (&extra);
        if (!self->json) {
            s_print_near ("before", prev);
            s_print_near ("after ", next);
        }
    }
    const char *more = pc_search_ok_next (reply);
    if (fields == 0)
        fprintf (stderr, "pychat: no message of #%s holds %s\n", self->room,
                 self->parsed.count > 1? "all of those words": "that word");
    if (more && strtoull (more, NULL, 10) > 0 && !self->json)
        fprintf (stderr, "pychat: more with --before %s\n", more);
    pc_msg_destroy (&reply);
    return client_listen_flush_stdout ();
}

//  --------------------------------------------------------------------------
//  Direct messages: read the whole inbox, open each box, match locally

typedef struct {
    uint64_t id;
    char    *from, *to, *ts, *text;
} opened_t;

typedef struct {
    search_t       *search;
    client_opts_t  *opts;
    client_conn_t  *conn;
    client_dm_keys_t keys;
    zhashx_t       *asked;              //  senders whose devices were looked up
    zlistx_t       *opened;             //  opened_t, oldest first
    size_t          unopened;
} dm_search_t;

static void
s_opened_destroy (opened_t **self_p)
{
    if (*self_p) {
        opened_t *self = *self_p;
        free (self->from);
        free (self->to);
        free (self->ts);
        if (self->text) {
            sodium_memzero (self->text, strlen (self->text));
            free (self->text);
        }
        free (self);
        *self_p = NULL;
    }
}

static int
s_dm_record (void *arg, uint64_t id, const char **fields)
{
    dm_search_t *self = (dm_search_t *) arg;
    const char *from = fields [1], *to = fields [2], *box = fields [4];
    const char *other = streq (from, self->opts->user)? to: from;
    if (*self->search->peer && !streq (other, self->search->peer))
        return 0;
    if (*box == CLIENT_EVENT_MARK)
        return 0;                       //  an edit, a reply, a reaction: not searched
    client_dm_devices_t sender;
    client_dm_pins_load (self->opts->home, from, &sender);
    char *text = NULL;
    int rc = client_dm_open_devices (box, &self->keys, &sender, &text);
    if (rc == 1 && pc_name_valid (from) && !zhashx_lookup (self->asked, from)) {
        //  A device not pinned yet: look the sender's devices up (trust on
        //  first use, as listen does), once per sender
        zhashx_insert (self->asked, from, (void *) 1);
        if (client_dm_peer_devices (self->conn, self->opts->home, self->opts->user, self->keys.id,
                                    from, &sender) == 0)
            rc = client_dm_open_devices (box, &self->keys, &sender, &text);
    }
    if (!text) {
        self->unopened++;
        return 0;
    }
    opened_t *dm = (opened_t *) zmalloc (sizeof (opened_t));
    assert (dm);
    dm->id = id;
    dm->from = strdup (from);
    dm->to = strdup (to);
    dm->ts = strdup (fields [3]);
    dm->text = text;
    zlistx_add_end (self->opened, dm);
    return 0;
}

//  The neighbour of dm in the same conversation, before or after it
static opened_t *
s_dm_near (zlistx_t *opened, opened_t *dm, const char *me, bool older)
{
    const char *other = streq (dm->from, me)? dm->to: dm->from;
    zlistx_find (opened, dm);
    for (opened_t *near = (opened_t *) (older? zlistx_prev (opened): zlistx_next (opened)); near;
         near = (opened_t *) (older? zlistx_prev (opened): zlistx_next (opened))) {
        const char *its = streq (near->from, me)? near->to: near->from;
        if (streq (its, other)) {
            zlistx_find (opened, dm);
            return near;
        }
    }
    zlistx_find (opened, dm);           //  the caller's walk goes on from dm
    return NULL;
}

static int
s_dm_fn (client_opts_t *opts, session_t *session, void *arg)
{
    search_t *search = (search_t *) arg;
    dm_search_t self;
    memset (&self, 0, sizeof (self));
    self.search = search;
    self.opts = opts;
    self.conn = session->conn;
    int rc = client_dm_device_load (opts->home, &self.keys);
    if (rc)
        return rc;
    self.asked = zhashx_new ();
    self.opened = zlistx_new ();
    zlistx_set_destructor (self.opened, (czmq_destructor *) s_opened_destroy);
    rc = client_listen_fetch (session->conn, NULL, 0, 0, s_dm_record, &self);
    long shown = 0;
    for (opened_t *dm = (opened_t *) zlistx_last (self.opened); rc == 0 && dm && shown < search->limit;
         dm = (opened_t *) zlistx_prev (self.opened)) {
        if ((search->before && dm->id >= search->before) || !pc_query_matches (&search->parsed, dm->text))
            continue;
        char id [24];
        snprintf (id, sizeof (id), "%" PRIu64, dm->id);
        bool sent = streq (dm->from, opts->user);
        opened_t *prev = s_dm_near (self.opened, dm, opts->user, true);
        opened_t *next = s_dm_near (self.opened, dm, opts->user, false);
        if (search->json) {
            client_listen_print_dm (true, id, dm->from, dm->to, dm->ts, dm->text, sent, NULL);
        }
        else {
            printf ("(#%s) ", id);
            client_listen_print_dm (false, id, dm->from, dm->to, dm->ts, dm->text, sent, NULL);
            for (int side = 0; side < 2; side++) {
                opened_t *near = side? next: prev;
                if (!near)
                    continue;
                printf ("    %s #%" PRIu64 " <%s> ", side? "after ": "before", near->id, near->from);
                client_listen_plain_text (stdout, near->text);
                putchar ('\n');
            }
        }
        shown++;
    }
    if (rc == 0 && shown == 0)
        fprintf (stderr, "pychat: no direct message%s%s holds %s\n", *search->peer? " with ": "",
                 search->peer, search->parsed.count > 1? "all of those words": "that word");
    if (rc == 0 && self.unopened)
        fprintf (stderr, "pychat: %zu direct message(s) could not be opened on this device: "
                         "not searched\n", self.unopened);
    zlistx_destroy (&self.opened);
    zhashx_destroy (&self.asked);
    client_dm_keys_clear (&self.keys);
    int out = client_listen_flush_stdout ();
    return rc? rc: out;
}

int
client_cmd_search (client_opts_t *opts, int argc, char **argv)
{
    search_t self;
    memset (&self, 0, sizeof (self));
    self.limit = SEARCH_DEFAULT;
    pc_buf_init (&self.query);
    bool have_where = false;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *arg = argv [i];
        char *end;
        if (streq (arg, "--json"))
            self.json = true;
        else
        if (streq (arg, "--dm"))
            self.dm = have_where = true;
        else
        if (streq (arg, "--limit") || streq (arg, "--before")) {
            if (i + 1 >= argc) {
                rc = client_cmd_usage_error ("%s needs a number", arg);
                break;
            }
            errno = 0;
            unsigned long long value = strtoull (argv [++i], &end, 10);
            if (!*argv [i] || *end || errno || argv [i][0] == '-' || value == 0)
                rc = client_cmd_usage_error ("needs a positive number, not '%s'", argv [i]);
            else
            if (streq (arg, "--limit"))
                self.limit = value > 1000? 1000: (long) value;
            else
                self.before = value;
        }
        else
        if (strncmp (arg, "--", 2) == 0)
            rc = client_cmd_usage_error ("unknown search option '%s'", arg);
        else
        if (!have_where) {
            have_where = true;
            if (arg [0] == '@') {
                self.dm = true;
                rc = cmd_user_arg (arg + 1, self.peer, sizeof (self.peer));
            }
            else
                rc = client_cmd_room_arg (arg, self.room, sizeof (self.room));
        }
        else {
            if (self.query.size)
                pc_buf_append (&self.query, " ", 1);
            pc_buf_append (&self.query, arg, strlen (arg));
        }
    }
    if (rc == 0 && !have_where)
        rc = client_cmd_usage_error ("search needs a room, @USER or --dm, then words%s", "");
    const char *why = NULL;
    if (rc == 0 && !pc_utf8_valid (self.query.data? self.query.data: "", self.query.size)) {
        fprintf (stderr, "pychat: the query is not valid UTF-8 or holds control characters\n");
        rc = PC_EXIT_REJECTED;
    }
    if (rc == 0 && pc_query_parse (self.query.data? self.query.data: "", &self.parsed, &why) == -1) {
        fprintf (stderr, "pychat: %s\n", why);
        rc = PC_EXIT_REJECTED;
    }
    if (rc == 0)
        rc = cmd_with_session (opts, S_LOGIN, self.dm? s_dm_fn: s_room_fn, &self);
    pc_buf_free (&self.query);
    return rc;
}

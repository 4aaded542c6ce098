//  client_ui.c: the full-screen client: windows, network state, commands.
//
//  Everything runs in one thread and one loop (s_loop): zmq_poll on stdin,
//  the DEALER and the SUB, at most 200 ms at a time, then timers (PING,
//  liveness, reconnect, SUBS retries). Requests are sent without waiting
//  and matched to their replies by request id (s_req_*), so the keyboard is
//  served whatever the server does.
//
//  Messages of a room are kept in id order without duplicates: live ones
//  (MSG on the session topic), catch-up (HISTORY after the last id, after a
//  gap or a reconnect) and scroll-back (HISTORY before the oldest id) all go
//  through ui_add_message. The session engine (client_session) keeps the
//  login, the joins, the outbox, the catch-up and the reconnects: this file
//  hears from it through callbacks. Our own lines appear at once, dimmed,
//  until the SEND is acknowledged.
//
//  /me is sent as text with a leading "/me " (the marker travels as is, so
//  `pychat listen` shows "<alice> /me waves"); this client draws it as
//  "* alice waves".

#include "client_ui_core.h"

//  --------------------------------------------------------------------------
//  Configuration: PYCHAT_HOME/ui.conf

static void
s_conf_load (ui_t *self)
{
    snprintf (self->conf_path, sizeof (self->conf_path), "%s/ui.conf", self->opts->home);
    self->bell = true;
    self->colours = true;
    FILE *file = fopen (self->conf_path, "r");
    if (!file)
        return;
    char line [256];
    while (fgets (line, sizeof (line), file)) {
        char key [64], value [128];
        if (line [0] == '#' || sscanf (line, "%63s %127s", key, value) != 2)
            continue;
        if (streq (key, "bell"))
            self->bell = streq (value, "on");
        else
        if (streq (key, "colors"))
            self->colours = streq (value, "on");
        else
        if (streq (key, "user") && !self->user [0]) {
            snprintf (self->user, sizeof (self->user), "%s", value);
            pc_name_fold (self->user);
            if (!pc_name_valid (self->user))
                self->user [0] = 0;
        }
    }
    fclose (file);
}


void
ui_conf_save (ui_t *self)
{
    zsys_dir_create ("%s", self->opts->home);
    char tmp [PATH_MAX + 8];
    snprintf (tmp, sizeof (tmp), "%s.tmp", self->conf_path);
    FILE *file = fopen (tmp, "w");
    if (!file)
        return;
    fprintf (file, "# pychat full-screen client settings (the password is never stored)\n");
    if (self->user [0])
        fprintf (file, "user %s\n", self->user);
    fprintf (file, "bell %s\n", self->bell? "on": "off");
    fprintf (file, "colors %s\n", self->colours? "on": "off");
    if (fclose (file) == 0)
        rename (tmp, self->conf_path);
}


//  --------------------------------------------------------------------------
//  The rooms this user was in: PYCHAT_HOME/state/USER/@rooms, one a line
//  ('@' is no room name's), rejoined at the next start; none yet: #lobby.

#define ROOMS_FILE          "@rooms"
#define FIRST_ROOM          "lobby"

static void
s_rooms_path (ui_t *self, char *path, size_t size)
{
    snprintf (path, size, "%s/state/%s/%s", self->opts->home, self->user, ROOMS_FILE);
}


void
ui_rooms_save (ui_t *self)
{
    if (!self->rooms_restored || !self->user [0])
        return;                         //  never overwrite what was not read
    pc_buf_t list;
    pc_buf_init (&list);
    for (size_t i = 0; i < self->nwins; i++)
        if (self->wins [i]->type == W_ROOM)
            pc_buf_printf (&list, "%s\n", self->wins [i]->target);
    char path [PATH_MAX];
    s_rooms_path (self, path, sizeof (path));
    if (client_state_write_atomic (path, list.data? list.data: "", 0600) == -1)
        ui_sys (self, self->wins [0], L_ERR, "cannot save the list of rooms in %s: %s",
                path, strerror (errno));
    pc_buf_free (&list);
}


void
ui_rooms_restore (ui_t *self)
{
    if (self->rooms_restored)
        return;
    self->rooms_restored = true;
    char path [PATH_MAX];
    s_rooms_path (self, path, sizeof (path));
    FILE *file = fopen (path, "r");
    if (!file) {
        ui_open_room (self, FIRST_ROOM, true);
        return;
    }
    char line [128];
    bool first = true;
    while (fgets (line, sizeof (line), file)) {
        line [strcspn (line, "\r\n")] = 0;
        pc_name_fold (line);
        if (pc_name_valid (line)) {
            ui_open_room (self, line, first);
            first = false;
        }
    }
    fclose (file);
    ui_rooms_save (self);               //  with what was joined before the login
}


//  --------------------------------------------------------------------------
//  Requests

int
ui_request (ui_t *self, pc_msg_t *request, req_kind_t kind, const char *arg, long n)
{
    return client_session_request (self->session, request, (int) kind, arg, n);
}


int
ui_simple (ui_t *self, const char *command, const char *f1, const char *f2, const char *f3,
          req_kind_t kind, const char *arg, long n)
{
    pc_msg_t *request = pc_msg_new (command);
    if (f1) pc_msg_add (request, f1);
    if (f2) pc_msg_add (request, f2);
    if (f3) pc_msg_add (request, f3);
    int rc = ui_request (self, request, kind, arg, n);
    pc_msg_destroy (&request);
    return rc;
}


void
ui_history (ui_t *self, win_t *win, uint64_t since, long limit, req_kind_t kind, long n)
{
    char since_txt [32], limit_txt [16];
    snprintf (since_txt, sizeof (since_txt), "%" PRIu64, since);
    snprintf (limit_txt, sizeof (limit_txt), "%ld", limit);
    ui_simple (self, "HISTORY", win->target, since_txt, limit_txt, kind, win->target, n);
}


//  --------------------------------------------------------------------------
//  Connection state

void
ui_connect (ui_t *self, bool register_first)
{
    self->busy = true;
    if (register_first)
        client_session_register (self->session, self->server, self->opts->server_key,
                                 self->user, self->password);
    else
        client_session_start (self->session, self->server, self->opts->server_key,
                              self->user, self->password);
}


//  --------------------------------------------------------------------------
//  Setup and the loop

static void
s_init_screen (ui_t *self)
{
    initscr ();
    raw ();
    noecho ();
    nonl ();
    keypad (stdscr, TRUE);
    timeout (0);
    set_escdelay (25);
    define_key ("\033[200~", KEY_PASTE_BEGIN);
    define_key ("\033[201~", KEY_PASTE_END);
    fputs (PASTE_ON, stdout);
    fflush (stdout);
    self->has_colours = has_colors ();
    if (self->has_colours) {
        start_color ();
        use_default_colors ();
        static const short nick [NICK_COLOURS] = {
            COLOR_RED, COLOR_GREEN, COLOR_YELLOW, COLOR_BLUE, COLOR_MAGENTA, COLOR_CYAN
        };
        for (short i = 0; i < NICK_COLOURS; i++)
            init_pair ((short) (i + 1), nick [i], -1);
        init_pair (P_SYS, COLOR_CYAN, -1);
        init_pair (P_ERR, COLOR_RED, -1);
        init_pair (P_BAR, COLOR_WHITE, COLOR_BLUE);
        init_pair (P_SIDE_CUR, COLOR_WHITE, COLOR_BLUE);
        init_pair (P_MENTION, COLOR_YELLOW, -1);
    }
}


static void
s_field_set (client_ui_input_t *field, const char *utf8)
{
    size_t len;
    wchar_t *wide = client_ui_text_decode (utf8, &len);
    client_ui_input_clear (field);
    for (size_t i = 0; i < len; i++)
        client_ui_input_insert (field, wide [i]);
    free (wide);
}


//  The broker refuses every CURVE handshake: our server key is not its
//  key. Retrying cannot help; say so, once, and stop trying.
static void
s_check_key (ui_t *self)
{
    if (self->state == C_ONLINE || !client_net_key_refused (self->net))
        return;
    char why [300];
    snprintf (why, sizeof (why), CLIENT_NET_KEY_REFUSED, self->server);
    self->busy = true;                      //  an answer to what is waiting
    ui_on_state (self, CLIENT_SESSION_REFUSED, why);
    client_session_stop (self->session);
    if (self->state == C_DEAD)
        snprintf (self->dead_reason, sizeof (self->dead_reason), "%s", "wrong server key");
}


static void
s_loop (ui_t *self)
{
    while (!self->quit && !client_conn_interrupted ()) {
        client_session_tick (self->session);
        ui_marks_tick (self);
        ui_draw (self);
        zmq_pollitem_t items [3 + XFERS_MAX];
        memset (items, 0, sizeof (items));
        items [0].fd = STDIN_FILENO;
        items [0].events = ZMQ_POLLIN;
        int count = 1;
        for (size_t i = 0; i < self->nxfers; i++)
            if (self->xfers [i].run) {
                items [count].socket = client_ui_xfer_socket (self->xfers [i].run);
                items [count++].events = ZMQ_POLLIN;
            }
        void *dealer = client_net_dealer (self->net);
        void *sub = client_net_sub (self->net);
        if (dealer) {
            items [count].socket = dealer;
            items [count++].events = ZMQ_POLLIN;
        }
        if (sub) {
            items [count].socket = sub;
            items [count++].events = ZMQ_POLLIN;
        }
        //  200 ms at most: the status line's countdown and PINGs stay on time.
        int timeout_ms = self->has_pushback? 0: 200;
        zmq_poll (items, count, timeout_ms);  //  EINTR (SIGWINCH) just loops
        ui_keys (self);
        client_session_input (self->session);
        ui_xfer_poll (self);
        s_check_key (self);
    }
}


int
client_ui_run (client_opts_t *opts)
{
    setlocale (LC_ALL, "");
    if (!streq (nl_langinfo (CODESET), "UTF-8"))
        setlocale (LC_CTYPE, "C.UTF-8");    //  wide characters need a UTF-8 locale
    ui_t *self = (ui_t *) zmalloc (sizeof (ui_t));
    assert (self);
    self->opts = opts;
    self->net = client_net_new ();
    client_session_events_t events = {
        .state = ui_on_state, .login = ui_on_login, .join_failed = ui_on_join_failed,
        .message = ui_on_message, .lost = ui_on_lost, .held = ui_on_held, .sent = ui_on_sent, .reply = ui_on_reply,
        .fanout = ui_on_fanout, .ready = ui_on_ready, .token = ui_on_token
    };
    self->session = client_session_new (&client_net_transport, self->net, &events, self);
    self->presence = ui_presence_new ();
    self->exit_code = PC_EXIT_OK;
    if (opts->user)
        snprintf (self->user, sizeof (self->user), "%s", opts->user);
    s_conf_load (self);
    snprintf (self->server, sizeof (self->server), "%s", opts->server);
    self->input = client_ui_input_new (INPUT_MAX);
    for (int f = 0; f < 3; f++)
        self->fields [f] = client_ui_input_new (f == 2? PC_SECRET_MAX: 512);
    s_field_set (self->fields [0], self->server);
    s_field_set (self->fields [1], self->user);
    self->focus = self->user [0]? 2: 1;
    ui_win_new (self, W_STATUS, "status");
    snprintf (self->wins [0]->title, sizeof (self->wins [0]->title), "status");
    ui_sys (self, self->wins [0], L_SYS, "PyChat: /join ROOM to start, /help for the commands");

    //  Before the screen: client_dm reports a problem on stderr.
    self->dm_ready = client_dm_device_load (opts->home, &self->dm_keys) == 0;
    self->started = pc_now_ms ();
    //  The resume token a login of this user saved here (the CLI's, or an
    //  earlier run's) logs in without the form; a refused one is forgotten
    //  and the form comes back (ui_on_token, ui_on_login).
    const char *password = getenv ("PYCHAT_PASSWORD");
    bool have_password = self->user [0] && opts->user && password && *password
                      && strlen (password) <= PC_SECRET_MAX;
    self->resuming = client_token_setup (self->session, opts->home,
                                         self->user [0]? self->user: NULL, opts->server_key);
    s_init_screen (self);
    if (have_password || self->resuming) {
        if (have_password)
            snprintf (self->password, sizeof (self->password), "%s", password);
        self->mode = M_CHAT;
        client_session_set_persistent (self->session, true);
        ui_connect (self, false);
    }
    else
        self->mode = M_FORM;
    s_loop (self);

    if (self->state == C_ONLINE) {
        //  Best effort LOGOUT, at most 300 ms: the broker frees the session.
        //  /quit keeps this device's token for the next start; /logout
        //  revokes it (and it is forgotten here).
        ui_simple (self, "LOGOUT", self->revoke? NULL: "keep", NULL, NULL, R_LOGOUT, NULL, 0);
        int64_t deadline = zclock_mono () + 300;
        while (zclock_mono () < deadline && !self->logged_out) {
            zmq_pollitem_t item = { client_net_dealer (self->net), 0, ZMQ_POLLIN, 0 };
            if (zmq_poll (&item, 1, 50) > 0)
                client_session_input (self->session);
        }
    }
    if (self->revoke)
        client_token_forget (opts->home, self->user);
    fputs (PASTE_OFF, stdout);
    fflush (stdout);
    endwin ();
    if (self->revoke)
        printf ("logged out %s on this device%s\n", self->user,
                self->logout_ok? "": " (the server did not confirm it)");
    int rc = client_conn_interrupted ()? CLIENT_INTERRUPTED: self->exit_code;
    memset (self->password, 0, sizeof (self->password));
    for (size_t i = 0; i < self->nwins; i++)
        ui_win_destroy (&self->wins [i]);
    for (size_t i = 0; i < self->nknown; i++)
        free (self->known_rooms [i]);
    free (self->known_rooms);
    free (self->tab_prefix);
    for (size_t i = 0; i < self->njobs; i++)
        ui_job_free (&self->jobs [i]);
    while (self->nxfers)                    //  stops the threads still running
        ui_xfer_remove (self, &self->xfers [self->nxfers - 1]);
    client_dm_keys_clear (&self->dm_keys);
    client_ui_input_destroy (&self->input);
    for (int f = 0; f < 3; f++)
        client_ui_input_destroy (&self->fields [f]);
    client_session_destroy (&self->session);
    client_net_destroy (&self->net);
    ui_presence_destroy (&self->presence);
    free (self);
    return rc;
}


void
client_ui_test (bool verbose)
{
    client_ui_text_test (verbose);
    client_ui_input_test (verbose);
    assert (ui_nick_pair ("bob") == ui_nick_pair ("bob"));
    assert (ui_nick_pair ("bob") >= 1 && ui_nick_pair ("bob") <= NICK_COLOURS);
}

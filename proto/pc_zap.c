//  pc_zap.c: ZAP handler actor: CURVE key -> User-Id, per-domain allow-lists.
#include "pc_zap.h"
#include "pc_limits.h"
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/filter.h>
#include <pthread.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

//  Descriptors kept free for what the process needs besides its clients
//  (Redis reconnecting, a log file, a service's connection): an open
//  domain's handshake is refused ("300": try later) once fewer are left,
//  so that a storm of connections never takes the process's last
//  descriptor. The count is read from /proc at most every COUNT_MS while
//  far from the limit, at every handshake when near it.
#define FD_RESERVE_MIN  16
#define COUNT_MS        100

typedef struct {
    zhash_t *any;               //  domains that accept any key
    zhash_t *allowed;           //  "domain key" -> present
    size_t   fd_limit;          //  RLIMIT_NOFILE when the handler started
    size_t   fd_used;           //  descriptors open at the last count
    int64_t  fd_counted;        //  when (zclock_mono), 0: never
    size_t   fd_refused;        //  handshakes refused for want of descriptors
    size_t   fd_reserve;        //  kept for the process's own needs
    size_t   fd_backlog;        //  what the listeners' accept queues may hold
    bool     fd_near;           //  count at every check
    bool     gate_closed;       //  listeners drop new connections
    size_t   gate_closings;
} zap_t;

//  Descriptors open in this process; the limit when they cannot be counted
//  (opening /proc/self/fd needs one).
static size_t
s_fd_count (zap_t *self)
{
    DIR *dir = opendir ("/proc/self/fd");
    if (!dir)
        return self->fd_limit;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (entry->d_name [0] != '.')
            count++;
    closedir (dir);
    return count > 0? count - 1: 0;     //  not the directory's own
}

//  --------------------------------------------------------------------------
//  The gate. libzmq accepts every connection its listener is offered, and
//  once accept fails for want of a descriptor (EMFILE) its I/O thread spins
//  on the listener, which stays readable, starving every handshake and
//  session. So the process's TCP listeners are gated: while descriptors run
//  short, a socket filter on each listener drops incoming connections'
//  packets (clients see no answer to their SYN and retry later), and the
//  accept queue, at most the backlog long (pc_zap_backlog), drains into the
//  descriptors kept for it. Refusing handshakes (ZAP "500") starts earlier,
//  so that in a storm clients are told; the gate is the backstop.
#define GATE_LISTENERS  8
#define GATE_TICK_MS    5       //  how often descriptors are counted when near
static pthread_mutex_t s_gate_lock = PTHREAD_MUTEX_INITIALIZER;
static int s_gate_fds [GATE_LISTENERS];
static size_t s_gate_count;

//  The backlog for a server socket: bounded by the descriptor limit, as the
//  gate lets at most that many connections in after it closes.
static size_t
s_backlog_for (size_t fd_limit)
{
    size_t backlog = fd_limit / 16 < 8? 8: fd_limit / 16;
    return backlog < PC_BACKLOG? backlog: PC_BACKLOG;
}

int
pc_zap_backlog (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        return (int) s_backlog_for ((size_t) limit.rlim_cur);
    return PC_BACKLOG;
}

//  Whether fd is (still) a listening socket: a listener closed since it
//  was gated may have left its number to a connection
static bool
s_listening (int fd)
{
    int listening = 0;
    socklen_t size = sizeof (listening);
    return getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0 && listening;
}

//  The TCP port of sock's last bound endpoint, else -1
static int
s_endpoint_port (zsock_t *sock)
{
    char *endpoint = zsock_last_endpoint (sock);
    int port = -1;
    char *colon = endpoint? strrchr (endpoint, ':'): NULL;
    if (endpoint && strncmp (endpoint, "tcp://", 6) == 0 && colon)
        port = atoi (colon + 1);
    zstr_free (&endpoint);
    return port > 0? port: -1;
}

void
pc_zap_gate (zsock_t *sock)
{
    assert (sock);
    int port = s_endpoint_port (sock);
    DIR *dir = port > 0? opendir ("/proc/self/fd"): NULL;
    if (!dir)
        return;
    //  Listeners closed since (a selftest's servers) make room
    pthread_mutex_lock (&s_gate_lock);
    size_t kept = 0;
    for (size_t index = 0; index < s_gate_count; index++)
        if (s_listening (s_gate_fds [index]))
            s_gate_fds [kept++] = s_gate_fds [index];
    s_gate_count = kept;
    pthread_mutex_unlock (&s_gate_lock);
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        int fd = atoi (entry->d_name);
        struct sockaddr_storage address;
        socklen_t address_size = sizeof (address);
        if (entry->d_name [0] == '.' || fd == dirfd (dir) || !s_listening (fd)
        ||  getsockname (fd, (struct sockaddr *) &address, &address_size) != 0)
            continue;
        int bound = address.ss_family == AF_INET
                  ? ntohs (((struct sockaddr_in *) &address)->sin_port)
                  : address.ss_family == AF_INET6
                  ? ntohs (((struct sockaddr_in6 *) &address)->sin6_port): -1;
        pthread_mutex_lock (&s_gate_lock);
        bool known = false;
        for (size_t index = 0; index < s_gate_count; index++)
            known |= s_gate_fds [index] == fd;
        if (bound == port && !known && s_gate_count < GATE_LISTENERS)
            s_gate_fds [s_gate_count++] = fd;
        pthread_mutex_unlock (&s_gate_lock);
    }
    closedir (dir);
}

//  Closes (drop every packet) or opens the gate on every listener
static void
s_gate_set (bool closed)
{
    struct sock_filter drop [] = { BPF_STMT (BPF_RET | BPF_K, 0) };
    struct sock_fprog program = { 1, drop };
    pthread_mutex_lock (&s_gate_lock);
    for (size_t index = 0; index < s_gate_count; index++) {
        int fd = s_gate_fds [index];
        if (!s_listening (fd))
            continue;                   //  closed since: never another socket's filter
        if (closed)
            setsockopt (fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof (program));
        else {
            int none = 0;
            setsockopt (fd, SOL_SOCKET, SO_DETACH_FILTER, &none, sizeof (none));
        }
    }
    pthread_mutex_unlock (&s_gate_lock);
}

static bool
s_gated (void)
{
    pthread_mutex_lock (&s_gate_lock);
    bool gated = s_gate_count > 0;
    pthread_mutex_unlock (&s_gate_lock);
    return gated;
}

//  Counts the descriptors (at most every COUNT_MS while far from the limit,
//  every time when near it) and closes or opens the gate. The margins:
//  reserve for the process's own needs, the backlog the gate may still
//  let in, and as much again for handshakes to be refused first.
static void
s_fd_check (zap_t *self, bool handshake)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        self->fd_limit = (size_t) limit.rlim_cur;
    self->fd_reserve = self->fd_limit / 16 > FD_RESERVE_MIN? self->fd_limit / 16: FD_RESERVE_MIN;
    self->fd_backlog = s_backlog_for (self->fd_limit);
    int64_t now = zclock_mono ();
    if (self->fd_near || self->gate_closed || self->fd_counted == 0
    ||  now - self->fd_counted >= COUNT_MS) {
        self->fd_used = s_fd_count (self);
        self->fd_counted = now;
    }
    else
    if (handshake)
        self->fd_used++;                //  this handshake's connection, at least
    size_t margin = self->fd_reserve + self->fd_backlog;
    self->fd_near = self->fd_used + 4 * margin >= self->fd_limit;
    if (!self->gate_closed && self->fd_used + margin >= self->fd_limit) {
        s_gate_set (true);
        self->gate_closed = true;
        self->gate_closings++;
        if (self->gate_closings % 100 == 1)
            zsys_warning ("zap: %zu of %zu descriptors in use: new connections wait "
                          "(closed %zu times so far)", self->fd_used, self->fd_limit,
                          self->gate_closings);
    }
    else
    if (self->gate_closed && self->fd_used + margin + self->fd_backlog / 2 < self->fd_limit) {
        s_gate_set (false);
        self->gate_closed = false;
    }
}

//  How often descriptors are counted on the actor's tick
static int
s_fd_tick (zap_t *self)
{
    return self->fd_near || self->gate_closed? GATE_TICK_MS: COUNT_MS;
}

//  Whether one more client may take a descriptor
static bool
s_fd_room (zap_t *self)
{
    s_fd_check (self, true);
    return self->fd_used + self->fd_reserve + 2 * self->fd_backlog < self->fd_limit;
}

static void
s_handle_request (zap_t *self, void *handler)
{
    zmsg_t *request = zmsg_recv (handler);
    if (!request)
        return;
    //  version, request id, domain, address, identity, mechanism, credentials
    char *version = zmsg_popstr (request);
    char *request_id = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *key = zmsg_pop (request);

    char user_id [41] = "";
    const char *status = "400";
    const char *text = "not allowed";
    if (version && streq (version, "1.0") && mechanism && streq (mechanism, "CURVE")
    &&  key && zframe_size (key) == 32) {
        zmq_z85_encode (user_id, zframe_data (key), 32);
        char entry [300];
        snprintf (entry, sizeof (entry), "%s %s", domain? domain: "", user_id);
        if (zhash_lookup (self->allowed, entry)) {
            status = "200";
            text = "OK";
        }
        else
        if (zhash_lookup (self->any, domain? domain: "")) {
            if (s_fd_room (self)) {
                status = "200";
                text = "OK";
            }
            else {
                //  Not "300" (temporary failure): libzmq 4.3 then neither
                //  sends ERROR nor closes, and the connection holds its
                //  descriptor until the handshake times out (30 s). With
                //  "500" the client gets ERROR, closes, and retries.
                status = "500";
                text = "server full: out of file descriptors";
                if (self->fd_refused++ % 100 == 0)
                    zsys_warning ("zap: %zu of %zu descriptors in use: refusing new connections "
                                  "(%zu refused so far)", self->fd_used, self->fd_limit,
                                  self->fd_refused);
            }
        }
    }
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, request_id? request_id: "");
    zmsg_addstr (reply, status);
    zmsg_addstr (reply, text);
    zmsg_addstr (reply, streq (status, "200")? user_id: "");
    zmsg_addmem (reply, NULL, 0);         //  no metadata
    zmsg_send (&reply, handler);

    zstr_free (&version);
    zstr_free (&request_id);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&identity);
    zstr_free (&mechanism);
    zframe_destroy (&key);
    zmsg_destroy (&request);
}

//  libzmq keeps every connection's pipe to the ZAP handler for as long as
//  the connection lives (session_base_t::_zap_pipe), though only the
//  handshake uses it: some 7 KB per connection, held on both ends. So the
//  handler retires its socket once it has answered and gone quiet (or has
//  answered RETIRE_AFTER requests): it unbinds it, binds a fresh socket to
//  the ZAP endpoint, still answers the old one for GRACE_MS (a request may
//  be on its way), then closes it, which ends every established
//  connection's ZAP pipe; the freed pages go back to the system. Servers
//  set ZMQ_ZAP_ENFORCE_DOMAIN (pc_zap_secure), so a handshake that falls in
//  the microseconds between unbind and bind is refused, and the client
//  reconnects, instead of being let in without a User-Id.
#define ZAP_ENDPOINT    "inproc://zeromq.zap.01"
//  Stable in libzmq 4.3 (options.cpp), though zmq.h lists it under drafts
#define ZMQ_ZAP_ENFORCE_DOMAIN_OPT 93
#define QUIET_MS        100
#define RETIRE_AFTER    256
#define GRACE_MS        500

//  The handler's sockets are plain libzmq sockets: czmq's zsock_new
//  asserts when a socket cannot be made (out of descriptors), and the
//  handler makes one on every retirement, while connections keep coming.
typedef struct {
    void    *handler;           //  REP bound to ZAP_ENDPOINT
    void    *retired;           //  unbound, answered until retired_at + GRACE_MS
    int64_t retired_at;
    size_t answered;            //  requests answered by handler
    int64_t last_request;
    bool trim;                  //  give freed memory back at the next quiet tick
    size_t retirements;
    int64_t retry_at;           //  no retirement before (a socket could not be made)
} zap_sockets_t;

static void
s_handler_close (void **handler_p)
{
    if (*handler_p) {
        int linger = 0;
        zmq_setsockopt (*handler_p, ZMQ_LINGER, &linger, sizeof (linger));
        zmq_close (*handler_p);
        *handler_p = NULL;
    }
}

//  A REP bound to the ZAP endpoint, or NULL (no descriptor for it: logged)
static void *
s_handler_new (void)
{
    void *handler = zmq_socket (zsys_init (), ZMQ_REP);
    if (!handler)
        zsys_warning ("zap: cannot make a socket: %s", zmq_strerror (zmq_errno ()));
    else
    if (zmq_bind (handler, ZAP_ENDPOINT) != 0)
        s_handler_close (&handler);
    return handler;
}

static void
s_retire (zap_sockets_t *sockets, int64_t now)
{
    //  The fresh socket first: without a descriptor for it, the old one
    //  goes on serving (inproc endpoints are taken until unbound, so it is
    //  bound once the old one has let go)
    void *fresh = zmq_socket (zsys_init (), ZMQ_REP);
    if (!fresh) {
        sockets->retry_at = now + QUIET_MS;     //  out of descriptors: later
        return;
    }
    if (zmq_unbind (sockets->handler, ZAP_ENDPOINT) != 0 || zmq_bind (fresh, ZAP_ENDPOINT) != 0) {
        s_handler_close (&fresh);
        zmq_bind (sockets->handler, ZAP_ENDPOINT);
        return;
    }
    sockets->retired = sockets->handler;
    sockets->retired_at = now;
    sockets->handler = fresh;
    sockets->answered = 0;
    sockets->retirements++;
}

//  Time the loop may sleep before the next retirement step, -1 = forever
static int
s_next_timeout (zap_sockets_t *sockets, int64_t now)
{
    int64_t due = -1;
    if (sockets->retired)
        due = sockets->retired_at + GRACE_MS;
    else
    if (sockets->answered > 0 || sockets->trim) {
        due = sockets->last_request + QUIET_MS;
        if (sockets->answered > 0 && due < sockets->retry_at)
            due = sockets->retry_at;
    }
    if (due < 0)
        return -1;
    return due > now? (int) (due - now): 0;
}

static void
s_retirement_step (zap_sockets_t *sockets, int64_t now)
{
    if (sockets->retired) {
        if (now >= sockets->retired_at + GRACE_MS) {
            s_handler_close (&sockets->retired);
            sockets->trim = true;
            sockets->last_request = now;
        }
    }
    else
    if (now >= sockets->retry_at
    && (sockets->answered >= RETIRE_AFTER
    || (sockets->answered > 0 && now >= sockets->last_request + QUIET_MS)))
        s_retire (sockets, now);
    else
    if (sockets->trim && now >= sockets->last_request + QUIET_MS) {
#ifdef __GLIBC__
        malloc_trim (0);
#endif
        sockets->trim = false;
    }
}

//  Returns true when the actor should end
static bool
s_handle_command (zap_t *self, zap_sockets_t *sockets, zsock_t *pipe)
{
    zmsg_t *command = zmsg_recv (pipe);
    if (!command)
        return true;
    char *verb = zmsg_popstr (command);
    char *domain = zmsg_popstr (command);
    char *key = zmsg_popstr (command);
    bool done = false;
    bool answered = false;
    if (verb && streq (verb, "$TERM"))
        done = true;
    else
    if (verb && streq (verb, "ANY") && domain)
        zhash_insert (self->any, domain, (void *) 1);
    else
    if (verb && streq (verb, "ALLOW") && domain && key) {
        char entry [300];
        snprintf (entry, sizeof (entry), "%s %s", domain, key);
        zhash_insert (self->allowed, entry, (void *) 1);
    }
    else
    if (verb && streq (verb, "RETIREMENTS")) {
        zsock_send (pipe, "8", (uint64_t) sockets->retirements);
        answered = true;
    }
    zstr_free (&verb);
    zstr_free (&domain);
    zstr_free (&key);
    zmsg_destroy (&command);
    if (!done && !answered)
        zsock_signal (pipe, 0);
    return done;
}

static void
s_zap_actor (zsock_t *pipe, void *args)
{
    zap_t self = { .any = zhash_new (), .allowed = zhash_new (), .fd_limit = 1024 };
    zap_sockets_t sockets = { .handler = s_handler_new () };
    zsock_signal (pipe, sockets.handler? 0: 1);
    //  An actor ends on $TERM from its owner, not on the signal flag, so
    //  an interrupted poll (EINTR after SIGTERM) just goes round again.
    while (sockets.handler) {
        zmq_pollitem_t items [] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
            { sockets.handler, 0, ZMQ_POLLIN, 0 },
            { sockets.retired, 0, ZMQ_POLLIN, 0 }
        };
        int64_t now = zclock_mono ();
        int timeout = s_next_timeout (&sockets, now);
        //  With listeners gated, descriptors are counted on a tick too:
        //  accepted connections take theirs before they handshake
        bool gated = s_gated ();
        if (gated) {
            int64_t due = self.fd_counted + s_fd_tick (&self);
            int wait = due > now? (int) (due - now): 0;
            if (timeout < 0 || wait < timeout)
                timeout = wait;
        }
        int rc = zmq_poll (items, sockets.retired? 3: 2, timeout);
        if (rc == -1 && zmq_errno () != EINTR)
            break;
        now = zclock_mono ();
        if (gated && now >= self.fd_counted + s_fd_tick (&self))
            s_fd_check (&self, false);
        if (rc > 0 && (items [0].revents & ZMQ_POLLIN)
        &&  s_handle_command (&self, &sockets, pipe))
            break;
        if (rc > 0 && (items [1].revents & ZMQ_POLLIN)) {
            s_handle_request (&self, sockets.handler);
            sockets.answered++;
            sockets.last_request = now;
        }
        if (rc > 0 && sockets.retired && (items [2].revents & ZMQ_POLLIN))
            s_handle_request (&self, sockets.retired);
        s_retirement_step (&sockets, now);
    }
    s_handler_close (&sockets.retired);
    s_handler_close (&sockets.handler);
    zhash_destroy (&self.any);
    zhash_destroy (&self.allowed);
}

zactor_t *
pc_zap_new (void)
{
    return zactor_new (s_zap_actor, NULL);
}

void
pc_zap_destroy (zactor_t **self_p)
{
    zactor_destroy (self_p);
}

void
pc_zap_allow_any (zactor_t *self, const char *domain)
{
    zstr_sendx (self, "ANY", domain, NULL);
    zsock_wait (self);
}

void
pc_zap_allow_key (zactor_t *self, const char *domain, const char *key)
{
    zstr_sendx (self, "ALLOW", domain, key, NULL);
    zsock_wait (self);
}

size_t
pc_zap_retirements (zactor_t *self)
{
    zstr_send (self, "RETIREMENTS");
    uint64_t count = 0;
    zsock_recv (self, "8", &count);
    return (size_t) count;
}

void
pc_zap_secure (zsock_t *sock, const char *domain)
{
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, domain);
    //  No handler, no handshake: never let a client in without a User-Id
    int enforce = 1;
    int rc = zmq_setsockopt (zsock_resolve (sock), ZMQ_ZAP_ENFORCE_DOMAIN_OPT,
                             &enforce, sizeof (enforce));
    assert (rc == 0);
}

//  A secured ROUTER on domain "svc", bound to a free loopback port
static zsock_t *
s_test_server (zcert_t *cert, char *endpoint, size_t size)
{
    zsock_t *server = zsock_new (ZMQ_ROUTER);
    assert (server);
    zcert_apply (cert, server);
    pc_zap_secure (server, "svc");
    int port = zsock_bind (server, "tcp://127.0.0.1:*");
    assert (port > 0);
    snprintf (endpoint, size, "tcp://127.0.0.1:%d", port);
    return server;
}

//  A DEALER with cert's keys, connected to server at endpoint
static zsock_t *
s_test_client (zcert_t *cert, zcert_t *server, const char *endpoint)
{
    zsock_t *client = zsock_new (ZMQ_DEALER);
    assert (client);
    zcert_apply (cert, client);
    zsock_set_curve_serverkey (client, zcert_public_txt (server));
    zsock_connect (client, "%s", endpoint);
    return client;
}

void
pc_zap_test (bool verbose)
{
    printf (" * pc_zap: ");
    zcert_t *server_cert = zcert_new ();
    zcert_t *friend_cert = zcert_new ();
    zcert_t *stranger_cert = zcert_new ();

    //  With no handler bound, a secured socket lets nobody in; the client
    //  retries, and gets in once the handler is there
    char early_endpoint [64];
    zsock_t *early = s_test_server (server_cert, early_endpoint, sizeof (early_endpoint));
    zsock_t *early_client = s_test_client (friend_cert, server_cert, early_endpoint);
    zstr_send (early_client, "too early");
    zsock_set_rcvtimeo (early, 300);
    assert (zframe_recv (early) == NULL);
    zactor_t *zap = pc_zap_new ();
    assert (zap);
    pc_zap_allow_key (zap, "svc", zcert_public_txt (friend_cert));
    zsock_set_rcvtimeo (early, 3000);
    zmsg_t *late_hello = zmsg_recv (early);
    assert (late_hello);
    assert (streq (zframe_meta (zmsg_last (late_hello), "User-Id"), zcert_public_txt (friend_cert)));
    zmsg_destroy (&late_hello);
    zsock_destroy (&early_client);
    zsock_destroy (&early);

    char endpoint [64];
    zsock_t *server = s_test_server (server_cert, endpoint, sizeof (endpoint));

    zsock_t *friend = s_test_client (friend_cert, server_cert, endpoint);
    zsock_t *stranger = s_test_client (stranger_cert, server_cert, endpoint);

    zstr_send (stranger, "from stranger");
    zstr_send (friend, "from friend");
    zsock_set_rcvtimeo (server, 2000);
    zframe_t *routing_id = zframe_recv (server);
    assert (routing_id);
    zframe_t *body = zframe_recv (server);
    assert (body);
    assert (zframe_streq (body, "from friend"));
    assert (streq (zframe_meta (body, "User-Id"), zcert_public_txt (friend_cert)));
    zframe_destroy (&body);
    zframe_destroy (&routing_id);
    //  The stranger's message never arrives
    zsock_set_rcvtimeo (server, 300);
    assert (zframe_recv (server) == NULL);

    //  Once quiet, the handler retires its socket; the connection made
    //  before goes on, and a new one still gets its User-Id
    zclock_sleep (QUIET_MS + GRACE_MS + 200);
    assert (pc_zap_retirements (zap) >= 1);
    zstr_send (friend, "after retirement");
    zsock_t *late = s_test_client (friend_cert, server_cert, endpoint);
    zstr_send (late, "late");
    zsock_set_rcvtimeo (server, 2000);
    for (int i = 0; i < 2; i++) {
        routing_id = zframe_recv (server);
        assert (routing_id);
        body = zframe_recv (server);
        assert (body);
        assert (zframe_streq (body, "after retirement") || zframe_streq (body, "late"));
        assert (streq (zframe_meta (body, "User-Id"), zcert_public_txt (friend_cert)));
        zframe_destroy (&body);
        zframe_destroy (&routing_id);
    }
    zsock_set_rcvtimeo (server, 300);
    assert (zframe_recv (server) == NULL);

    zsock_destroy (&late);
    zsock_destroy (&friend);
    zsock_destroy (&stranger);

    //  The gate: closed, a new connection gets no answer (its SYNs are
    //  dropped); opened, it gets in with its SYN retried
    pc_zap_gate (server);
    s_gate_set (true);
    zsock_t *waiting = s_test_client (friend_cert, server_cert, endpoint);
    zstr_send (waiting, "through the gate");
    zsock_set_rcvtimeo (server, 500);
    assert (zframe_recv (server) == NULL);
    s_gate_set (false);
    zsock_set_rcvtimeo (server, 5000);      //  the kernel retries the SYN after 1 s
    routing_id = zframe_recv (server);
    assert (routing_id);
    body = zframe_recv (server);
    assert (body && zframe_streq (body, "through the gate"));
    zframe_destroy (&body);
    zframe_destroy (&routing_id);
    zsock_destroy (&waiting);
    zsock_destroy (&server);
    //  A listener closed since it was gated is left alone
    s_gate_set (true);
    s_gate_set (false);
    zcert_destroy (&server_cert);
    zcert_destroy (&friend_cert);
    zcert_destroy (&stranger_cert);
    pc_zap_destroy (&zap);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

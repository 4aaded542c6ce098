//  pc_redis.c: a service's connection to Redis (hiredis 0.14).
#include "pc_redis.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define SENTINELS_MAX       8
#define SENTINEL_MS         300         //  to ask one sentinel

struct _pc_redis_t {
    char         *service;
    char         *host;             //  Redis, or (with sentinels) the primary they last named
    int           port;
    char         *sentinels [SENTINELS_MAX];    //  "host:port" (PYCHAT_REDIS_SENTINELS)
    size_t        nsentinels;
    char         *master;           //  the name they know the primary by
    redisContext *redis;            //  NULL while not connected
    bool          down;             //  an outage is under way (logged once)
    int           timeout_ms;       //  to connect
    int           retry_ms;         //  between attempts to connect
    int64_t       next_attempt;     //  no attempt before (ms)
    pc_redis_connect_fn *on_connect;
    void         *on_connect_arg;
    bool          connecting;       //  in on_connect: no new connection
    pc_redis_pending_fn *pending;   //  reads a pipeline's answers still due
    void         *pending_arg;
};

redisContext *
pc_redis_connect (const char *host, int port, struct timeval timeout)
{
    if (port == 0 && *host == '/')
        return redisConnectUnixWithTimeout (host, timeout);
    return redisConnectWithTimeout (host, port, timeout);
}

const char *
pc_redis_where (const char *host, int port, char *buf, size_t size)
{
    if (port == 0 && *host == '/')
        snprintf (buf, size, "%s", host);
    else
        snprintf (buf, size, "%s:%d", host, port);
    return buf;
}

pc_redis_t *
pc_redis_new (const char *service, const char *host, int port)
{
    assert (service);
    assert (host);
    pc_redis_t *self = (pc_redis_t *) zmalloc (sizeof (pc_redis_t));
    assert (self);
    self->service = strdup (service);
    self->host = strdup (host);
    assert (self->service && self->host);
    self->port = port;
    self->timeout_ms = 1000;
    //  Redis Sentinel: the primary is whatever the sentinels name at each
    //  connect, so a service follows a failover by reconnecting
    const char *sentinels = getenv ("PYCHAT_REDIS_SENTINELS");
    for (const char *at = sentinels? sentinels: ""; *at && self->nsentinels < SENTINELS_MAX; ) {
        size_t len = strcspn (at, ",");
        if (len)
            self->sentinels [self->nsentinels++] = strndup (at, len);
        at += len;
        at += strspn (at, ", ");
    }
    const char *master = getenv ("PYCHAT_REDIS_MASTER");
    self->master = strdup (master && *master? master: "pychat");
    return self;
}

//  Asks the sentinels, in turn, where the primary is now: true with
//  self->host and port set
static bool
s_ask_sentinels (pc_redis_t *self)
{
    struct timeval timeout = { 0, SENTINEL_MS * 1000 };
    for (size_t i = 0; i < self->nsentinels; i++) {
        char host [256];
        const char *colon = strrchr (self->sentinels [i], ':');
        if (!colon || (size_t) (colon - self->sentinels [i]) >= sizeof (host))
            continue;
        memcpy (host, self->sentinels [i], (size_t) (colon - self->sentinels [i]));
        host [colon - self->sentinels [i]] = 0;
        redisContext *sentinel = redisConnectWithTimeout (host, atoi (colon + 1), timeout);
        if (!sentinel || sentinel->err) {
            if (sentinel)
                redisFree (sentinel);
            continue;
        }
        redisSetTimeout (sentinel, timeout);
        redisReply *reply = (redisReply *) redisCommand (sentinel, "SENTINEL get-master-addr-by-name %s",
                                                         self->master);
        bool found = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
                  && reply->element [0]->type == REDIS_REPLY_STRING
                  && reply->element [1]->type == REDIS_REPLY_STRING;
        if (found) {
            int port = atoi (reply->element [1]->str);
            if (port != self->port || !streq (self->host, reply->element [0]->str))
                zsys_info ("%s: sentinel %s names %s:%d the redis primary '%s'", self->service,
                           self->sentinels [i], reply->element [0]->str, port, self->master);
            free (self->host);
            self->host = strdup (reply->element [0]->str);
            self->port = port;
        }
        if (reply)
            freeReplyObject (reply);
        redisFree (sentinel);
        if (found)
            return true;
    }
    return false;
}

bool
pc_redis_address (pc_redis_t *self, char *host, size_t size, int *port)
{
    assert (self);
    if (self->nsentinels && !s_ask_sentinels (self))
        return false;
    snprintf (host, size, "%s", self->host);
    *port = self->port;
    return true;
}

void
pc_redis_set_connect (pc_redis_t *self, int timeout_ms, int retry_ms)
{
    assert (self);
    self->timeout_ms = timeout_ms;
    self->retry_ms = retry_ms;
}

void
pc_redis_set_on_connect (pc_redis_t *self, pc_redis_connect_fn *fn, void *arg)
{
    assert (self);
    self->on_connect = fn;
    self->on_connect_arg = arg;
}

void
pc_redis_destroy (pc_redis_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        pc_redis_t *self = *self_p;
        if (self->redis)
            redisFree (self->redis);
        free (self->service);
        free (self->host);
        for (size_t i = 0; i < self->nsentinels; i++)
            free (self->sentinels [i]);
        free (self->master);
        free (self);
        *self_p = NULL;
    }
}

void
pc_redis_down (pc_redis_t *self, const char *why)
{
    assert (self);
    char where [300];
    if (!self->down)
        zsys_error ("%s: redis %s unavailable (%s): answering 503 until it is back", self->service,
                    pc_redis_where (self->host, self->port, where, sizeof (where)),
                    why && *why? why: "unknown error");
    self->down = true;
}

static void
s_up (pc_redis_t *self)
{
    char where [300];
    if (self->down)
        zsys_info ("%s: redis %s is back", self->service,
                   pc_redis_where (self->host, self->port, where, sizeof (where)));
    self->down = false;
}

void
pc_redis_drop (pc_redis_t *self, const char *why)
{
    assert (self);
    pc_redis_down (self, why);
    if (self->redis) {
        redisFree (self->redis);
        self->redis = NULL;
    }
    self->next_attempt = zclock_mono () + self->retry_ms;
}

bool
pc_redis_available (pc_redis_t *self)
{
    assert (self);
    return !self->down;
}

redisContext *
pc_redis_current (pc_redis_t *self)
{
    assert (self);
    return self->redis;
}

void
pc_redis_set_pending (pc_redis_t *self, pc_redis_pending_fn *fn, void *arg)
{
    assert (self);
    self->pending = fn;
    self->pending_arg = arg;
}

redisContext *
pc_redis_context (pc_redis_t *self)
{
    assert (self);
    //  Whoever left answers on the connection reads them before anyone
    //  else's command is sent (once: it may use the connection itself)
    if (self->pending) {
        pc_redis_pending_fn *pending = self->pending;
        self->pending = NULL;
        pending (self->pending_arg);
    }
    if (self->redis || self->connecting || zclock_mono () < self->next_attempt)
        return self->redis;
    struct timeval connect_timeout = { self->timeout_ms / 1000, (self->timeout_ms % 1000) * 1000 };
    struct timeval command_timeout = { 2, 0 };
    if (self->nsentinels && !s_ask_sentinels (self)) {
        pc_redis_drop (self, "no sentinel answers");
        return NULL;
    }
    self->redis = pc_redis_connect (self->host, self->port, connect_timeout);
    if (!self->redis || self->redis->err
    ||  redisSetTimeout (self->redis, command_timeout) != REDIS_OK) {
        //  The message lives in the context: log before it is freed
        char why [128];
        snprintf (why, sizeof (why), "%s", self->redis? self->redis->errstr: "out of memory");
        pc_redis_drop (self, why);
        return NULL;
    }
    if (self->on_connect) {
        self->connecting = true;
        self->on_connect (self, self->on_connect_arg);
        self->connecting = false;
    }
    return self->redis;             //  NULL if on_connect's commands failed
}

redisReply *
pc_redis_checked (pc_redis_t *self, redisReply *reply)
{
    assert (self);
    if (!reply) {
        char why [128];
        snprintf (why, sizeof (why), "%s", self->redis? self->redis->errstr: "not connected");
        pc_redis_drop (self, why);
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        //  A primary demoted by a failover refuses writes: find the new one
        if (strstr (reply->str, "READONLY") || strstr (reply->str, "NOREPLICAS")
        ||  strstr (reply->str, "MASTERDOWN"))
            pc_redis_drop (self, reply->str);
        else
            pc_redis_down (self, reply->str);
        freeReplyObject (reply);
        return NULL;
    }
    s_up (self);
    return reply;
}

redisReply *
pc_redis_command (pc_redis_t *self, const char *format, ...)
{
    redisContext *redis = pc_redis_context (self);
    if (!redis)
        return NULL;
    va_list args;
    va_start (args, format);
    redisReply *reply = (redisReply *) redisvCommand (redis, format, args);
    va_end (args);
    return pc_redis_checked (self, reply);
}

redisReply *
pc_redis_argv (pc_redis_t *self, int argc, const char **argv, const size_t *argvlen)
{
    redisContext *redis = pc_redis_context (self);
    if (!redis)
        return NULL;
    return pc_redis_checked (self, (redisReply *) redisCommandArgv (redis, argc, argv, argvlen));
}

redisReply *
pc_redis_keys (pc_redis_t *self, const char *command, const char *prefix, zlistx_t *names)
{
    size_t count = zlistx_size (names);
    if (count == 0)
        return NULL;
    const char **argv = (const char **) calloc (count + 1, sizeof (char *));
    char **keys = (char **) calloc (count + 1, sizeof (char *));
    assert (argv && keys);
    argv [0] = command;
    size_t at = 1;
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names), at++)
        argv [at] = keys [at] = zsys_sprintf ("%s%.*s", prefix, (int) strcspn (name, " "), name);
    redisReply *reply = pc_redis_argv (self, (int) at, argv, NULL);
    for (size_t i = 1; i < at; i++)
        zstr_free (&keys [i]);
    free (keys);
    free (argv);
    return reply;
}

//  --------------------------------------------------------------------------
//  A private redis-server, for the selftests

static int
s_free_port (void)
{
    //  Below the kernel's ephemeral range (32768 up): a port free now but in
    //  that range may be taken by an outgoing connection before Redis binds
    static unsigned seed;
    if (!seed)
        seed = (unsigned) getpid () ^ (unsigned) zclock_time ();
    for (int attempt = 0; attempt < 200; attempt++) {
        int port = 20000 + (int) (rand_r (&seed) % 12000);
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        if (fd == -1)
            return -1;
        struct sockaddr_in addr;
        memset (&addr, 0, sizeof (addr));
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        addr.sin_port = htons ((uint16_t) port);
        bool bound = bind (fd, (struct sockaddr *) &addr, sizeof (addr)) == 0;
        close (fd);
        if (bound)
            return port;
    }
    return -1;
}

static bool
s_answers (int port)
{
    struct timeval timeout = { 0, 200000 };
    redisContext *redis = redisConnectWithTimeout ("127.0.0.1", port, timeout);
    bool answers = false;
    if (redis && !redis->err) {
        redisSetTimeout (redis, timeout);
        redisReply *reply = (redisReply *) redisCommand (redis, "PING");
        answers = reply && reply->type == REDIS_REPLY_STATUS && streq (reply->str, "PONG");
        if (reply)
            freeReplyObject (reply);
    }
    if (redis)
        redisFree (redis);
    return answers;
}

pid_t
pc_redis_server_start (int *port_p)
{
    assert (port_p);
    int port = *port_p? *port_p: s_free_port ();
    if (port <= 0)
        return -1;
    char port_text [16];
    snprintf (port_text, sizeof (port_text), "%d", port);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == -1)
        return -1;
    if (pid == 0) {
        //  A selftest that fails ends on an assertion, before it can stop
        //  its Redis: the kernel stops it then (the thread that forked is
        //  the selftest's main thread, which lives as long as the test)
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        int null = open ("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2 (null, STDIN_FILENO);
            dup2 (null, STDOUT_FILENO);
            dup2 (null, STDERR_FILENO);
        }
        execlp ("redis-server", "redis-server", "--port", port_text, "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no", (char *) NULL);
        _exit (127);
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        if (s_answers (port)) {
            *port_p = port;
            return pid;
        }
        if (waitpid (pid, NULL, WNOHANG) == pid)
            return -1;                  //  exited: not installed, port taken...
        zclock_sleep (50);
    }
    pc_redis_server_stop (pid);
    return -1;
}

void
pc_redis_server_stop (pid_t pid)
{
    if (pid > 0) {
        kill (pid, SIGTERM);
        waitpid (pid, NULL, 0);
    }
}

//  --------------------------------------------------------------------------
//  Selftest

static void
s_test_on_connect (pc_redis_t *self, void *arg)
{
    redisReply *reply = pc_redis_command (self, "PING");
    if (reply) {
        (*(int *) arg)++;
        freeReplyObject (reply);
    }
}

//  A caller that must not block: a connection hook, and no new attempt
//  within the retry interval after a failure
static void
s_test_retry (int port)
{
    pc_redis_t *redis = pc_redis_new ("selftest", "127.0.0.1", port);
    int connects = 0;
    pc_redis_set_on_connect (redis, s_test_on_connect, &connects);
    pc_redis_set_connect (redis, 500, 300);
    assert (pc_redis_context (redis) && connects == 1);
    assert (pc_redis_context (redis) && connects == 1);
    pc_redis_drop (redis, "selftest");
    assert (!pc_redis_available (redis));
    assert (pc_redis_context (redis) == NULL);          //  too soon
    zclock_sleep (350);
    assert (pc_redis_context (redis) && connects == 2);
    assert (pc_redis_available (redis));                //  the hook's PING ended the outage
    pc_redis_destroy (&redis);
}

//  A pipeline's answers left to read: the pending fn reads them before
//  anyone else's command, once, and is forgotten
static void
s_test_pending_read (void *arg)
{
    pc_redis_t *redis = (pc_redis_t *) arg;
    redisContext *context = pc_redis_current (redis);
    redisReply *reply = NULL;
    assert (context && redisGetReply (context, (void **) &reply) == REDIS_OK);
    assert (reply && reply->type == REDIS_REPLY_STRING && streq (reply->str, "mine"));
    freeReplyObject (reply);
    //  The fn may use the connection itself: it is not called again
    reply = pc_redis_command (redis, "PING");
    assert (reply);
    freeReplyObject (reply);
}

static void
s_test_pending (pc_redis_t *redis)
{
    redisContext *context = pc_redis_context (redis);
    assert (context && pc_redis_current (redis) == context);
    const char *argv [] = { "ECHO", "mine" };
    assert (redisAppendCommandArgv (context, 2, argv, NULL) == REDIS_OK);
    int done = 0;
    while (!done)
        assert (redisBufferWrite (context, &done) == REDIS_OK);
    pc_redis_set_pending (redis, s_test_pending_read, redis);
    redisReply *reply = pc_redis_command (redis, "ECHO %s", "theirs");
    assert (reply && reply->type == REDIS_REPLY_STRING && streq (reply->str, "theirs"));
    freeReplyObject (reply);
    reply = pc_redis_command (redis, "ECHO %s", "again");     //  fn forgotten
    assert (reply && streq (reply->str, "again"));
    freeReplyObject (reply);
}

void
pc_redis_test (bool verbose)
{
    printf (" * pc_redis: ");
    char where [64];
    assert (streq (pc_redis_where ("127.0.0.1", 6379, where, sizeof (where)), "127.0.0.1:6379"));
    assert (streq (pc_redis_where ("/run/redis.sock", 0, where, sizeof (where)), "/run/redis.sock"));
    int port = 0;
    pid_t server = pc_redis_server_start (&port);
    assert (server > 0 && port > 0);
    pc_redis_t *redis = pc_redis_new ("selftest", "127.0.0.1", port);
    assert (pc_redis_available (redis));
    redisReply *reply = pc_redis_command (redis, "SET %s %b", "k", "a\0b", (size_t) 3);
    assert (reply);
    freeReplyObject (reply);
    const char *argv [] = { "GET", "k" };
    reply = pc_redis_argv (redis, 2, argv, NULL);
    assert (reply && reply->type == REDIS_REPLY_STRING && reply->len == 3);
    freeReplyObject (reply);
    s_test_pending (redis);
    //  An error reply is an outage to the caller, and the next good one ends it
    assert (pc_redis_command (redis, "NOSUCHCOMMAND") == NULL);
    assert (!pc_redis_available (redis));
    reply = pc_redis_command (redis, "PING");
    assert (reply && pc_redis_available (redis));
    freeReplyObject (reply);
    //  Redis gone: NULL, quickly; back: the next call connects afresh
    pc_redis_server_stop (server);
    assert (pc_redis_command (redis, "PING") == NULL);
    assert (pc_redis_context (redis) == NULL && !pc_redis_available (redis));
    server = pc_redis_server_start (&port);
    assert (server > 0);
    reply = pc_redis_command (redis, "PING");
    assert (reply && pc_redis_available (redis));
    freeReplyObject (reply);
    pc_redis_destroy (&redis);
    pc_redis_destroy (&redis);
    s_test_retry (port);
    pc_redis_server_stop (server);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

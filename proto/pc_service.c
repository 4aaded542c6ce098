//  pc_service.c: the command line, logging, start contract and signal wait
//  that every PyChat binary's main shares (pc_service.h).
#include "pc_service.h"
#include "pc_limits.h"
#include "pc_version.h"

#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdarg.h>

int
pc_service_version (const char *name)
{
    printf ("%s %s\n", name, PC_VERSION);
    return PC_EXIT_OK;
}

int
pc_service_usage_error (const char *name, const char *format, ...)
{
    char message [256];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof (message), format, args);
    va_end (args);
    fprintf (stderr, "%s: %s (try --help)\n", name, message);
    return PC_EXIT_USAGE;
}

int
pc_service_bad_option (const char *name, int code, char *argv [])
{
    //  getopt_long leaves optind past the option it refused; a short one
    //  inside a cluster (-vx) is only known by optopt.
    const char *arg = argv [optind - 1];
    char option [64];
    if (strncmp (arg, "--", 2) == 0 || !optopt)
        snprintf (option, sizeof (option), "%.*s", (int) strcspn (arg, "="), arg);
    else
        snprintf (option, sizeof (option), "-%c", optopt);
    if (code == ':')
        return pc_service_usage_error (name, "option '%s' needs a value", option);
    return pc_service_usage_error (name, "unknown option '%s'", option);
}

//  libzmq keeps a table of its sockets sized by ZMQ_MAX_SOCKETS: a few
//  pointers each, so the cap stays modest even when the descriptors are not
#define MAX_SOCKETS_CAP     65536

size_t
pc_service_raise_nofile (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == -1)
        return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        struct rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        //  An unlimited hard limit is refused by the kernel (nr_open): ask
        //  for a large finite number instead
        if (raised.rlim_cur == RLIM_INFINITY || raised.rlim_cur > (1 << 20))
            raised.rlim_cur = 1 << 20;
        if (setrlimit (RLIMIT_NOFILE, &raised) == 0)
            limit = raised;
    }
    return limit.rlim_cur == RLIM_INFINITY? (size_t) 1 << 20: (size_t) limit.rlim_cur;
}

int
pc_service_init (pc_service_t *self, int argc, char *argv [])
{
    assert (self && self->name);
    static const struct option options [] = {
        { "verbose", no_argument, NULL, 'v' },
        { "help",    no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    self->verbose = false;
    opterr = 0;
    optind = 0;                     //  glibc: start afresh (the selftest parses twice)
    int code;
    while ((code = getopt_long (argc, argv, ":vhV", options, NULL)) != -1) {
        if (code == 'v')
            self->verbose = true;
        else
        if (code == 'h') {
            printf ("usage: %s [-v]\n%s", self->name, self->help? self->help: "");
            return PC_EXIT_OK;
        }
        else
        if (code == 'V')
            return pc_service_version (self->name);
        else
            return pc_service_bad_option (self->name, code, argv);
    }
    if (optind < argc)
        return pc_service_usage_error (self->name, "unexpected argument '%s'", argv [optind]);
    //  Before the first socket: libzmq reads its socket cap when the
    //  context starts
    size_t nofile = pc_service_raise_nofile ();
    zsys_set_max_sockets (nofile < 1024? 1024: nofile > MAX_SOCKETS_CAP? MAX_SOCKETS_CAP: nofile);
    zsys_init ();
    //  A peer gone from under a write (Redis stopped, its Unix socket
    //  closed) is the write's error, handled where it happens, not the
    //  service's death: hiredis writes with write (), which raises SIGPIPE
    signal (SIGPIPE, SIG_IGN);
    zsys_set_logident (self->name);
    zsys_set_logstream (stderr);
    zsys_set_logsystem (false);
    if (pc_config_load (&self->config) == -1)
        return PC_EXIT_USAGE;
    return PC_SERVICE_GO;
}

void
pc_service_ready (zsock_t *pipe)
{
    zstr_send (pipe, "READY");
}

void
pc_service_failed (zsock_t *pipe, const char *format, ...)
{
    char reason [512];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof (reason), format, args);
    va_end (args);
    zstr_sendx (pipe, "FAILED", reason, NULL);
}

//  czmq's word that the actor has ended (its last signal) was read here:
//  zactor_destroy must not wait for it again.
static void
s_mark_ended (zactor_t *actor)
{
    zsock_set_sndtimeo (zactor_sock (actor), 0);
    zsock_set_rcvtimeo (zactor_sock (actor), 0);
}

//  The actor's first word after zactor_new: 0 READY, -1 with *reason_p set.
static int
s_start_status (zactor_t *actor, char **reason_p)
{
    zmsg_t *msg = zmsg_recv (actor);
    int rc = -1;
    if (!msg)
        *reason_p = strdup ("the actor's pipe failed while starting");
    else
    if (zmsg_signal (msg) >= 0) {   //  czmq's word that the actor has ended
        s_mark_ended (actor);
        *reason_p = strdup ("the actor ended while starting");
    }
    else {
        char *status = zmsg_popstr (msg);
        char *reason = zmsg_popstr (msg);
        if (status && streq (status, "READY"))
            rc = 0;
        else
            *reason_p = reason? strdup (reason): strdup ("failed (see the log above)");
        zstr_free (&status);
        zstr_free (&reason);
    }
    zmsg_destroy (&msg);
    return rc;
}

zactor_t *
pc_service_start (pc_service_t *self, zactor_fn actor, void *args, char **reason_p)
{
    assert (self);
    //  SIGINT or SIGTERM now would interrupt zactor_new's wait for the
    //  actor's first signal and leave that signal on the pipe, where it
    //  reads as the actor's end. Held back until the actor has answered,
    //  it lands in pc_service_wait (threads started meanwhile keep it
    //  blocked: they end on $TERM, as actors do).
    sigset_t stops, saved;
    sigemptyset (&stops);
    sigaddset (&stops, SIGINT);
    sigaddset (&stops, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &stops, &saved);
    zactor_t *started = zactor_new (actor, args);
    char *reason = NULL;
    if (!started)
        reason = strdup ("cannot create the actor");
    else
    if (s_start_status (started, &reason) == -1)
        zactor_destroy (&started);
    pthread_sigmask (SIG_SETMASK, &saved, NULL);
    if (reason_p)
        *reason_p = reason;
    else {
        if (reason)
            zsys_error ("%s: cannot start: %s", self->name, reason);
        zstr_free (&reason);
    }
    return started;
}

int
pc_service_wait (pc_service_t *self, zactor_t *actor)
{
    assert (self);
    assert (actor);
    zpoller_t *poller = zpoller_new (actor, NULL);
    assert (poller);
    int rc = PC_EXIT_OK;
    while (!zsys_interrupted) {
        if (zpoller_wait (poller, 1000) != actor)
            continue;               //  a timeout or a signal: the loop decides
        zmsg_t *msg = zmsg_recv (actor);
        bool ended = msg && zmsg_signal (msg) >= 0;
        zmsg_destroy (&msg);        //  else a word nobody asked for, or an interrupt
        if (!ended)
            continue;
        s_mark_ended (actor);
        if (!zsys_interrupted) {
            zsys_error ("%s: the service ended unexpectedly", self->name);
            rc = PC_EXIT_UNREACHABLE;
        }
        break;
    }
    zpoller_destroy (&poller);
    return rc;
}

//  --------------------------------------------------------------------------
//  Selftest

static void
s_test_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    const char *mode = (const char *) args;
    if (streq (mode, "fail")) {
        pc_service_failed (pipe, "cannot bind %s", "tcp://nowhere:1");
        return;
    }
    if (streq (mode, "quit"))
        return;                     //  ends without a word
    pc_service_ready (pipe);
    if (streq (mode, "die"))
        return;                     //  ready, then ends by itself
    char *command = zstr_recv (pipe);   //  $TERM
    zstr_free (&command);
}

static void
s_test_options (bool verbose)
{
    char *help [] = { "pychat-test", "--help", NULL };
    char *version [] = { "pychat-test", "-V", NULL };
    char *unknown [] = { "pychat-test", "--nope=1", NULL };
    char *cluster [] = { "pychat-test", "-vx", NULL };
    char *extra [] = { "pychat-test", "-v", "extra", NULL };
    pc_service_t service = { .name = "pychat-test", .help = "  -v   verbose\n" };
    //  --help and --version print on stdout: only shown with -v
    fflush (stdout);
    int saved = dup (STDOUT_FILENO);
    int null = open ("/dev/null", O_WRONLY);
    if (!verbose && saved >= 0 && null >= 0)
        dup2 (null, STDOUT_FILENO);
    assert (pc_service_init (&service, 2, help) == PC_EXIT_OK);
    assert (pc_service_init (&service, 2, version) == PC_EXIT_OK);
    fflush (stdout);
    if (saved >= 0) {
        dup2 (saved, STDOUT_FILENO);
        close (saved);
    }
    if (null >= 0)
        close (null);
    assert (pc_service_init (&service, 2, unknown) == PC_EXIT_USAGE);
    assert (pc_service_init (&service, 2, cluster) == PC_EXIT_USAGE);
    assert (pc_service_init (&service, 3, extra) == PC_EXIT_USAGE);
    assert (service.verbose);
    //  The soft descriptor limit is raised to the hard one
    struct rlimit limit;
    assert (getrlimit (RLIMIT_NOFILE, &limit) == 0);
    size_t nofile = pc_service_raise_nofile ();
    assert (nofile >= (size_t) (limit.rlim_max == RLIM_INFINITY? 1024: limit.rlim_cur));
    assert (getrlimit (RLIMIT_NOFILE, &limit) == 0 && (limit.rlim_cur == limit.rlim_max || nofile == 1 << 20));
}

static void
s_test_start (void)
{
    pc_service_t service = { .name = "pychat-test", .help = NULL };
    char *reason = NULL;
    zactor_t *actor = pc_service_start (&service, s_test_actor, "fail", &reason);
    assert (!actor && reason && streq (reason, "cannot bind tcp://nowhere:1"));
    zstr_free (&reason);
    actor = pc_service_start (&service, s_test_actor, "quit", &reason);
    assert (!actor && reason && strstr (reason, "ended"));
    zstr_free (&reason);
    actor = pc_service_start (&service, s_test_actor, "run", &reason);
    assert (actor && !reason);
    zactor_destroy (&actor);
    actor = pc_service_start (&service, s_test_actor, "die", NULL);
    assert (actor);
    assert (pc_service_wait (&service, actor) == PC_EXIT_UNREACHABLE);
    zactor_destroy (&actor);
}

void
pc_service_test (bool verbose)
{
    printf (" * pc_service: ");
    s_test_options (verbose);
    s_test_start ();
    printf ("OK\n");
}

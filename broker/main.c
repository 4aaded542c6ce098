//  pychat-broker: sessions, rooms, routing and fan-out.
//
//  Reads its configuration from the environment (proto/pc_config.h), starts
//  the ZAP handler and the broker actor, and runs until SIGINT or SIGTERM.
#include "broker_server.h"
#include "pc_limits.h"
#include "pc_service.h"
#include "pc_zap.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

//  Every connection costs libzmq some 16-18 KB blocks it mostly never
//  touches (a pipe's first 256-message chunk in each direction, the
//  decoder's buffer). From the heap they land on pages that earlier,
//  freed blocks had touched, so they count in full; mapped fresh (at or
//  above the mmap threshold) only the pages in use count, and freeing them
//  gives the memory back. Measured: bytes per idle client 76 KB -> 62 KB
//  (bench/run --only pychat --set subs_a=0 --set subs_b=0 --set idle=1000).
//  The cap keeps the mappings well under vm.max_map_count (65530); past it
//  blocks come from the heap again. The broker's fan-out frames stay under
//  the threshold (FANOUT_FRAME_MAX) so the hot path never maps.
static void
s_tune_malloc (void)
{
#ifdef __GLIBC__
    mallopt (M_MMAP_THRESHOLD, 16 * 1024);
    mallopt (M_MMAP_MAX, 32 * 1024);
#endif
}

//  libzmq hands a received message over in place, in its decoder's read
//  buffer (zero copy), so a buffer that any message still points to cannot
//  be read into again. The broker holds each SEND until its lot is stored,
//  so the I/O thread allocated a fresh ~20 KB buffer for nearly every read
//  and the broker freed it: with the threshold above, an mmap and an
//  munmap with a TLB flush across both cores, 8 % of the broker's time at
//  one publisher (perf). Copied out (a few hundred bytes, from the heap),
//  the one buffer is read into again and again. A context option, so set
//  before any socket exists; ZMQ_ZERO_COPY_RECV is a draft name in zmq.h
//  that Debian's libzmq 4.3.4 takes (where one does not, nothing changes).
#ifndef ZMQ_ZERO_COPY_RECV
#define ZMQ_ZERO_COPY_RECV 10
#endif
static void
s_copy_on_receive (void)
{
    zmq_ctx_set (zsys_init (), ZMQ_ZERO_COPY_RECV, 0);
}

static const char *s_help =
    "  -v, --verbose   debug logging\n"
    "  -h, --help      this text\n"
    "  -V, --version   the version\n"
    "configuration comes from the environment: PYCHAT_DATA, PYCHAT_PORT,\n"
    "PYCHAT_BIND, PYCHAT_AUTHSVC (see README.md)\n";

int
main (int argc, char *argv [])
{
    pc_service_t service = { .name = "pychat-broker", .help = s_help };
    int rc = pc_service_init (&service, argc, argv);
    if (rc != PC_SERVICE_GO)
        return rc;
    s_tune_malloc ();
    s_copy_on_receive ();
    zactor_t *zap = pc_zap_new ();
    if (!zap) {
        zsys_error ("broker: cannot start the ZAP handler");
        return PC_EXIT_UNREACHABLE;
    }
    pc_zap_allow_any (zap, "clients");
    zactor_t *broker = pc_service_start (&service, broker_server_actor, &service.config, NULL);
    rc = PC_EXIT_UNREACHABLE;
    if (broker) {
        if (service.verbose)
            zstr_send (broker, "VERBOSE");
        zsys_info ("broker: ready (data in %s)", service.config.data_dir);
        rc = pc_service_wait (&service, broker);
        zsys_info ("broker: shutting down");
    }
    zactor_destroy (&broker);
    pc_zap_destroy (&zap);
    return rc;
}

//  selftest.c: runs every module's selftest (czmq style).
#include "pc_msg.h"
#include "pc_util.h"
#include "pc_words.h"
#include "pc_keys.h"
#include "pc_config.h"
#include "pc_zap.h"
#include "pc_redis.h"
#include "pc_fanout.h"
#include "pc_service.h"
#include "pc_proc.h"
#include "selftests.h"

int
main (int argc, char *argv [])
{
    bool verbose = argc > 1 && streq (argv [1], "-v");
    zsys_init ();
    zsys_set_logstream (stderr);
    printf ("Running PyChat selftests...\n");
    pc_util_test (verbose);
    pc_words_test (verbose);
    pc_msg_test (verbose);
    pc_keys_test (verbose);
    pc_config_test (verbose);
    pc_zap_test (verbose);
    pc_redis_test (verbose);
    pc_fanout_test (verbose);
    pc_service_test (verbose);
    pc_proc_test (verbose);
    PYCHAT_MODULE_SELFTESTS (verbose);
    printf ("Selftests passed\n");
    return 0;
}

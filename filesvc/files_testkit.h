//  files_testkit.h: the file service's selftest fixture, shared by the
//  selftests of files_server, files_upload and files_download.
//
//  A private redis-server, the real actor, a fake broker (a ROUTER with
//  the broker's key) and two clients: "client", the key the fake broker
//  knows as alice, and "other", a key it refuses.
//
//      files_testkit_t *kit = files_testkit_new (verbose);
//      if (!kit)
//          return;                     //  no redis-server: SKIPPED printed
//      pc_msg_t *reply = files_testkit_call (kit, kit->client, true,
//                            PC_SIGNATURE, "FLIST", "l1", "lobby", NULL);
//      ...
//      files_testkit_destroy (&kit);
#ifndef FILES_TESTKIT_H_INCLUDED
#define FILES_TESTKIT_H_INCLUDED

#include <czmq.h>
#include "pc_config.h"
#include "pc_msg.h"

#define FILES_TESTKIT_TEXT  "hello, files"      //  what files_testkit_put uploads

typedef struct {
    char        dir [64];           //  a fresh folder; files in dir/files
    pc_config_t config;             //  1 MiB per file, 2 MiB per user
    int         redis_port;
    pid_t       redis;
    zactor_t   *zap;
    zcert_t    *broker_cert;
    zcert_t    *service_cert;
    zcert_t    *client_cert;
    zcert_t    *other_cert;
    zsock_t    *broker;             //  the fake broker
    zactor_t   *server;             //  the real actor
    zsock_t    *client;             //  alice
    zsock_t    *other;              //  refused by the broker
    char        sha [65];           //  SHA-256 of FILES_TESTKIT_TEXT
} files_testkit_t;

//  NULL (after printing SKIPPED) when redis-server cannot start.
files_testkit_t *files_testkit_new  (bool verbose);
void        files_testkit_destroy   (files_testkit_t **self_p);

//  Sends frames (NULL-terminated) from dealer; the reply or NULL. With
//  fcheck, the fake broker answers the FCHECK this causes: alice may use
//  "lobby" (as room/lobby), anyone else is refused, and "silent" gets no
//  answer at all. FEVENTs it meets meanwhile it acknowledges.
pc_msg_t   *files_testkit_call      (files_testkit_t *self, zsock_t *dealer, bool fcheck,
                                     const char *first, ...);
//  Asserts *reply_p is ERROR code, then destroys it.
void        files_testkit_error     (pc_msg_t **reply_p, int code);
//  Alice uploads FILES_TESTKIT_TEXT as name to lobby (FPUT, FDATA, FDONE)
//  and the broker acknowledges its file-up. The file id; caller frees.
char       *files_testkit_put       (files_testkit_t *self, const char *name);
//  The broker's next FEVENT of kind (the others acknowledged); caller destroys.
pc_msg_t   *files_testkit_event     (files_testkit_t *self, const char *kind);
//  One Redis command's reply as text (a string, or an integer printed);
//  caller frees.
char       *files_testkit_redis     (files_testkit_t *self, const char *command);
//  True when dir/FORMAT... exists.
bool        files_testkit_exists    (files_testkit_t *self, const char *format, ...);
#endif

//  client_xfer_core.h: what client_xfer.c (lists, requests, errors),
//  client_xfer_put.c (uploads) and client_xfer_get.c (downloads) share;
//  not for other modules.
#ifndef CLIENT_XFER_CORE_H_INCLUDED
#define CLIENT_XFER_CORE_H_INCLUDED

#include "client_xfer.h"
#include "client_conn.h"
#include "client_net.h"
#include "client_seal.h"
#include "client_state.h"
#include "pc_keys.h"
#include "pc_msg.h"
#include "pc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

//  A private file's meta sealed for keys' devices (the older form for
//  peer_public when there are none): caller frees, NULL when a key is not
//  usable. Opened: 0 with info set, or -1.
char   *xfer_meta_seal (const client_xfer_keys_t *keys, const client_seal_info_t *info);
int     xfer_meta_open (const client_xfer_keys_t *keys, const char *meta, client_seal_info_t *info);

#define SLICE_MS            100         //  longest wait between two ticks
#define PROGRESS_MS         100         //  at most ten progress calls a second
#define DONE_TIMEOUT_MS     120000      //  FDONE: the service hashes and fsyncs it all
#define RESYNC_MAX          5           //  409s in a row before an upload gives up
#define HASH_BUFFER         (256 * 1024)
#define LIST_PAGE           204         //  files in a full FLIST reply
#define DONE_TRIES          5           //  FDONE 503 (storage down): the upload is kept
#define DONE_PAUSE_MS       1000

struct _client_xfer_t {
    char        endpoint [300];
    client_net_t *net;                  //  the DEALER to the file service
    int         timeout_ms;
    char        error [512];
    bool        damaged;                //  the failure was a check: discard the download
    client_xfer_progress_fn *progress;
    void       *progress_arg;
    int64_t     progress_at;
    client_xfer_note_fn *note;
    void       *note_arg;
    client_xfer_tick_fn *tick;
    void       *tick_arg;
};

int xfer_fail (client_xfer_t *self, int code, const char *format, ...);
int xfer_damaged (client_xfer_t *self, const char *format, ...);
int xfer_refused (client_xfer_t *self, const char *what, pc_msg_t *reply);
void xfer_progress (client_xfer_t *self, client_xfer_phase_t phase, uint64_t done, uint64_t total, bool force);
void xfer_note (client_xfer_t *self, const char *format, ...);
bool xfer_stopped (client_xfer_t *self);
int xfer_send (client_xfer_t *self, pc_msg_t *request, char *reqid);
int xfer_wait (client_xfer_t *self, int timeout_ms, pc_msg_t *reply);
int xfer_call (client_xfer_t *self, pc_msg_t *request, int timeout_ms, pc_msg_t **reply_p);
bool xfer_uint (const char *text, uint64_t *value);
void xfer_hex (const uint8_t *sha, char *hex);
bool xfer_sha_hex (const char *text);

#endif

//  client_ui_xfer.h: the full-screen client's file transfers, each in a
//  thread of its own (a zactor), so the screen never waits for a file.
//
//  The thread runs client_xfer with a copy of the broker session's
//  certificate (the file service asks the broker who that key is) and
//  reports over the actor's pipe: progress (at most ten a second), notes,
//  a listing, then the result. The UI polls client_ui_xfer_socket with its
//  other sockets and calls client_ui_xfer_read when it is readable.
//  Destroying a transfer that still runs stops it within 100 ms (a room
//  download keeps its DEST.part, an upload what the service holds).
#ifndef CLIENT_UI_XFER_H_INCLUDED
#define CLIENT_UI_XFER_H_INCLUDED

#include <czmq.h>
#include "client_xfer.h"

typedef struct _client_ui_xfer_t client_ui_xfer_t;

typedef enum {
    CLIENT_UI_XFER_LIST,
    CLIENT_UI_XFER_PUT,
    CLIENT_UI_XFER_GET
} client_ui_xfer_kind_t;

//  What client_ui_xfer_read found.
typedef enum {
    CLIENT_UI_XFER_NONE,                //  nothing waiting
    CLIENT_UI_XFER_PROGRESS,            //  phase, done, total changed
    CLIENT_UI_XFER_NOTE,                //  a note ("resuming at N bytes")
    CLIENT_UI_XFER_DONE                 //  finished: rc, error, result, files
} client_ui_xfer_event_t;

//  Starts kind on space: name and path are the file's name and local path
//  (put: the source; get: the destination, never replaced; list: unused).
//  The file service is at tcp://host:port with server_key; cert is
//  copied; keys (private spaces, else NULL) are copied and wiped after.
client_ui_xfer_t *client_ui_xfer_new (client_ui_xfer_kind_t kind, const char *host, int port,
                                      const char *server_key, zcert_t *cert, int timeout_ms,
                                      const char *space, const char *name, const char *path,
                                      const client_xfer_keys_t *keys);
//  Stops the thread if it still runs; frees, nulls *self_p.
void        client_ui_xfer_destroy  (client_ui_xfer_t **self_p);

//  The socket to poll (ZMQ_POLLIN) for the thread's reports.
void       *client_ui_xfer_socket   (client_ui_xfer_t *self);
//  Reads one report, without waiting.
client_ui_xfer_event_t client_ui_xfer_read (client_ui_xfer_t *self);

client_xfer_phase_t client_ui_xfer_phase (client_ui_xfer_t *self);
uint64_t    client_ui_xfer_done     (client_ui_xfer_t *self);
uint64_t    client_ui_xfer_total    (client_ui_xfer_t *self);
const char *client_ui_xfer_note     (client_ui_xfer_t *self);
bool        client_ui_xfer_finished (client_ui_xfer_t *self);
//  After DONE: 0 or an exit code, and the error line when not 0.
int         client_ui_xfer_rc       (client_ui_xfer_t *self);
const char *client_ui_xfer_error    (client_ui_xfer_t *self);
//  After DONE: the file put or got (borrowed).
const client_xfer_file_t *client_ui_xfer_result (client_ui_xfer_t *self);
//  After a listing's DONE: the files (borrowed) and their count.
const client_xfer_file_t *client_ui_xfer_files (client_ui_xfer_t *self, size_t *count_p);

void        client_ui_xfer_test     (bool verbose);

#endif

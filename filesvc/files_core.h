//  files_core.h: the file service's state, shared by its request loop
//  (files_server), its uploads (files_upload) and its downloads
//  (files_download), and the replies and events all three send.
//
//  One thread owns it all (the actor's): nothing here locks.
#ifndef FILES_CORE_H_INCLUDED
#define FILES_CORE_H_INCLUDED

#include <czmq.h>
#include "files_disk.h"
#include "files_server.h"
#include "files_store.h"
#include "pc_config.h"
#include "pc_msg.h"

#define OUTBOX_MAX          1000        //  file-up events waiting for the broker's OK
#define OUTBOX_RETRY_MS     2000
#define OUTBOX_KEEP_MS      (10 * 60 * 1000)   //  the broker's dedup window

//  czmq 4.2 has no log level: per-message logs only with -v
#define files_core_debug(self, ...) \
    do { if ((self)->verbose) zsys_debug (__VA_ARGS__); } while (0)

//  An upload this process is receiving (its record is in Redis too).
typedef struct {
    files_entry_t *entry;       //  id, user, space, name, size, sha, meta
    char    *key;               //  the only key it answers
    uint64_t offset;            //  bytes held: the next FDATA's offset
    int64_t  last_used;
    int64_t  touched;           //  last time Redis was told
} files_upload_t;

//  A download. Its descriptor is held while it is under way: once the last
//  byte was read it is closed (and opened again if the client reads more),
//  so only downloads under way count against FILES_HANDLES_MAX.
typedef struct {
    char    *id;
    char    *key;
    char    *user;
    char    *space;
    char    *name;
    char    *file;              //  the file's id on disk
    int      fd;                //  -1 once the download is done
    uint64_t size;
    int64_t  last_used;
    bool     done;              //  the last byte was read (counted once)
} files_handle_t;

//  A file-up event the broker has not acknowledged yet.
typedef struct {
    pc_msg_t *event;
    int64_t   next_try;
    int64_t   give_up;
} files_outgoing_t;

//  The service: its sockets, stores, what is under way, its counters.
//  files_server owns the loop and checks; files_upload the uploads;
//  files_download the handles.
typedef struct {
    zsock_t      *pipe;
    pc_config_t   config;
    bool          verbose;
    bool          terminated;
    zsock_t      *router;           //  clients, base+5
    zsock_t      *broker;           //  DEALER to the broker's ROUTER
    zpoller_t    *poller;
    files_store_t *store;
    files_disk_t *disk;
    zhashx_t     *checks;           //  FCHECK request id -> files_server's check_t
    zhashx_t     *uploads;          //  upload id -> files_upload_t
    zhashx_t     *handles;          //  handle -> files_handle_t
    zhashx_t     *outbox;           //  FEVENT request id -> files_outgoing_t
    pc_msg_t     *request;          //  reused for every client request
    pc_msg_t     *answer;           //  reused for every broker message
    char         *buffer;           //  one chunk, for FREAD
    uint64_t      next_check;
    int64_t       next_event;
    int64_t       next_sweep;
    bool          broker_lost;      //  logged once per outage
    //  Counters, for the "files" event and the log
    uint64_t      uploads_total;
    uint64_t      downloads_total;
    uint64_t      bytes_in;
    uint64_t      bytes_out;
    uint64_t      malformed;
} files_core_t;

//  The reply to its request's sender; takes it over.
void        files_core_send         (files_core_t *self, pc_msg_t **reply_p);
//  ERROR code text [detail] to request's sender.
void        files_core_error        (files_core_t *self, pc_msg_t *request, int code,
                                     const char *text, const char *detail);
//  503: the metadata store (Redis) is down.
void        files_core_unavailable  (files_core_t *self, pc_msg_t *request);
//  True when errno value error means no room (507) rather than a fault (500).
bool        files_core_no_room      (int error);
//  FEVENT kind fields... (NULL-terminated) to the broker, fire and forget.
void        files_core_event        (files_core_t *self, const char *kind, ...);
//  The name an event may carry: "-" for a private (dm/) space's file.
const char *files_core_event_name   (const char *space, const char *name);
//  file-up for entry, kept in the outbox and resent until the broker's OK.
void        files_core_file_up      (files_core_t *self, files_entry_t *entry);
void        files_core_outgoing_destroy (files_outgoing_t **self_p);
//  Parses a field the codec checked as an int; false when negative.
bool        files_core_unsigned     (const char *text, uint64_t *value);
//  True for 64 lower-case hex digits.
bool        files_core_sha_valid    (const char *text);

void        files_core_test         (bool verbose);
#endif

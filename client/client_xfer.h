//  client_xfer.h: the transfer engine: list, upload, download and remove
//  files with the file service (PROTOCOL.md, "File sharing").
//
//  One DEALER to the file service, speaking CURVE with the certificate of a
//  logged-in broker session (the service asks the broker who that key is).
//  Uploads and downloads keep PC_CREDIT chunks in flight (the Guide's
//  credit-based flow control) and read or write the file chunk by chunk:
//  memory stays flat whatever the file's size. Both ends check SHA-256.
//
//  A space is a room ("lobby") or a private pair ("@bob"). Private files
//  are sealed with client_seal before they leave and opened while they
//  arrive; they need a client_xfer_keys_t.
//
//  The engine never prints and never blocks for more than 100 ms without
//  calling its tick: the command line and the full-screen client's
//  background thread both drive it. Every operation returns 0 or an exit
//  code (PC_EXIT_*), or CLIENT_INTERRUPTED when the tick (or a signal) said
//  stop; client_xfer_error then holds one line for a person.
#ifndef CLIENT_XFER_H_INCLUDED
#define CLIENT_XFER_H_INCLUDED

#include <czmq.h>
#include <limits.h>
#include "pc_limits.h"
#include "client_dm.h"

typedef struct _client_xfer_t client_xfer_t;

//  One file of a space, as FLIST and FOPEN describe it.
typedef struct {
    char     name [PC_FILE_NAME_MAX + 1];
    uint64_t size;                      //  bytes stored (a private file's sealed size)
    char     from [PC_NAME_MAX + 1];
    int64_t  time;                      //  Unix ms
    char     sha256 [65];               //  of the bytes stored, lower-case hex
} client_xfer_file_t;

//  What a private space needs: the other user's devices and our own
//  (checked against the pins; the meta is sealed for each of them), this
//  device's id and secret key, and where an interrupted private upload
//  keeps its key and header until FDONE (a directory, created 0700; files
//  0600). With no devices, the older meta for one key: peer_public.
typedef struct {
    uint8_t peer_public [32];
    uint8_t own_secret [32];
    char    own_id [CLIENT_DM_ID];
    client_dm_devices_t peer_devices;
    client_dm_devices_t own_devices;
    char    pending_dir [PATH_MAX];
} client_xfer_keys_t;

typedef enum {
    CLIENT_XFER_HASH,                   //  reading the local file before FPUT
    CLIENT_XFER_SEND,                   //  FDATA
    CLIENT_XFER_RECV,                   //  FREAD
} client_xfer_phase_t;

//  Progress: at most ten calls a second, and one at the end of a phase.
typedef void (client_xfer_progress_fn) (void *arg, client_xfer_phase_t phase,
                                        uint64_t done, uint64_t total);
//  A line worth telling the user ("resuming at 1048576 bytes").
typedef void (client_xfer_note_fn) (void *arg, const char *text);
//  Called at least every 100 ms while waiting; non-zero stops the transfer.
typedef int  (client_xfer_tick_fn) (void *arg);

//  Connects a DEALER to tcp://host:port (the file service, its public key
//  server_key) as cert (borrowed: it must outlive the engine). Replies are
//  awaited timeout_ms (FDONE, which checks the whole file, longer). NULL
//  when the endpoint is not usable (*why filled).
client_xfer_t *client_xfer_new (const char *host, int port, const char *server_key,
                                zcert_t *cert, int timeout_ms, char *why, size_t why_size);
void        client_xfer_destroy     (client_xfer_t **self_p);

void        client_xfer_set_progress (client_xfer_t *self, client_xfer_progress_fn *fn, void *arg);
void        client_xfer_set_note    (client_xfer_t *self, client_xfer_note_fn *fn, void *arg);
void        client_xfer_set_tick    (client_xfer_t *self, client_xfer_tick_fn *fn, void *arg);

//  The last failure, one line without "pychat: "; "" when none.
const char *client_xfer_error       (client_xfer_t *self);

//  FLIST: the files of space, sorted by name, into *files_p (caller frees)
//  and *count_p.
int         client_xfer_list        (client_xfer_t *self, const char *space,
                                     client_xfer_file_t **files_p, size_t *count_p);
//  Uploads the file at path as name. An upload the service holds part of
//  (an earlier run was interrupted) resumes where it stands, with a note;
//  one the service holds whole already (same name, size and SHA-256: an
//  earlier run was interrupted after its end) is done, with a note.
//  keys: required for a private space, else NULL. *result describes the
//  listed file (a private file: its sealed size and SHA-256).
int         client_xfer_put         (client_xfer_t *self, const char *space, const char *name,
                                     const char *path, const client_xfer_keys_t *keys,
                                     client_xfer_file_t *result);
//  Downloads name into dest: bytes go to dest.part, are checked (size,
//  SHA-256, and a private file's seal), and only then become dest; a file
//  that does not match is deleted and refused (PC_EXIT_UNREACHABLE). An
//  existing dest is replaced only with force. A room file resumes from an
//  existing dest.part (re-hashed, cut to a whole chunk); a private file
//  always starts again from 0, since its decryption cannot start midway.
//  *result: the file as listed; a private file's size is the plaintext's.
int         client_xfer_get         (client_xfer_t *self, const char *space, const char *name,
                                     const char *dest, bool force, const client_xfer_keys_t *keys,
                                     client_xfer_file_t *result);
//  FRM.
int         client_xfer_rm          (client_xfer_t *self, const char *space, const char *name);

//  "@bob" for a private space, else a room: true when space is private.
bool        client_xfer_private     (const char *space);
//  bytes as the broker's "shared" line writes them: "512 B", "1.5 KiB",
//  "200.0 MiB" (binary units, one decimal).
void        client_xfer_size_text   (uint64_t bytes, char *out, size_t size);

//  The DM that tells the recipient of a private file about it (caller
//  frees): "sent you a file: NAME (SIZE) — pychat get --with SENDER NAME",
//  the name quoted for a shell when it needs to be.
char       *client_xfer_dm_text     (const char *sender, const char *name, uint64_t size);

void        client_xfer_test        (bool verbose);

#endif

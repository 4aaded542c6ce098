//  client_dm.h: end-to-end sealed direct messages (PROTOCOL.md, "Direct
//  messages"): the device key, sealing and opening, key pinning and
//  fingerprints.
//
//  The device key PYCHAT_HOME/device.key (X25519, the same file the CURVE
//  layer uses) is this device's DM key; its public half is published with
//  SETKEY, under the device's name (PYCHAT_HOME/device.name, else
//  PYCHAT_DEVICE, else the host name), in the account's device list. Its id
//  is pc_keys_device_id of the key.
//
//  A DM is sealed once for every device of the recipient and of the sender
//  (PROTOCOL.md, "Direct messages"):
//
//      box     = "2" SP sender-id SP body 1*(SP device-id ":" key-box)
//      body    = base64 (nonce (24) || crypto_secretbox_easy (text, nonce, K))
//      key-box = base64 (nonce (24) || crypto_box_easy (K || H, nonce,
//                        device public, sender device secret))
//
//  K is a fresh secretbox key, H the BLAKE2b-128 of the body's base64 text,
//  so that a device that holds K cannot swap the body under another
//  device's key box. A box without spaces is the older form, base64 (nonce
//  || crypto_box_easy (text, ...)) for one key; it still opens.
//
//  Trust on first use, per device: PYCHAT_HOME/peers/USER holds one line
//  "ID KEY NAME" per device of USER seen so far (the older one-line form, a
//  key alone, reads as one device). A device that appears is announced and
//  pinned (one of the user's own devices: loudly); a pinned id whose key
//  differs is refused until `pychat trust USER`; a device that left the
//  list is unpinned and no longer sealed for.
//
//  Secret bytes are wiped (sodium_memzero) as soon as they are not needed,
//  and never printed.
#ifndef CLIENT_DM_H_INCLUDED
#define CLIENT_DM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "client_conn.h"
#include "pc_limits.h"

#define CLIENT_DM_KEY       32          //  X25519 key bytes
#define CLIENT_DM_Z85       41          //  40 characters of Z85 and a NUL
#define CLIENT_DM_FINGER    40          //  "xxxx xxxx ... xxxx" and a NUL

#define CLIENT_DM_ID        9           //  a device id: 8 hex digits and a NUL
#define CLIENT_DM_NAME      65          //  a device name and a NUL

typedef struct {
    uint8_t public_key [CLIENT_DM_KEY];
    uint8_t secret_key [CLIENT_DM_KEY];
    char    public_txt [CLIENT_DM_Z85];
    char    id [CLIENT_DM_ID];          //  this device's id
    char    name [CLIENT_DM_NAME];      //  this device's name
} client_dm_keys_t;

//  One DM device of an account, and a list of them (values, no allocation).
typedef struct {
    char    id [CLIENT_DM_ID];
    char    z85 [CLIENT_DM_Z85];
    char    name [CLIENT_DM_NAME];
    int64_t added;                      //  ms, 0 when not known
} client_dm_device_t;

typedef struct {
    size_t  count;
    client_dm_device_t device [PC_DEVICES_MAX];
} client_dm_devices_t;

//  How client_dm_devices_check tells what it saw: one line, loud for a
//  device of one's own that this device did not know of.
typedef void (client_dm_say_fn) (void *arg, bool loud, const char *line);

//  Loads (creating it when missing) PYCHAT_HOME/device.key into keys.
//  0, or PC_EXIT_USAGE with a message.
int     client_dm_device_load   (const char *home, client_dm_keys_t *keys);
//  Wipes keys.
void    client_dm_keys_clear    (client_dm_keys_t *keys);

//  Seals text for every device in the lists (an id in two lists once), as
//  own's device; returns the box (caller frees), or NULL when a key is not
//  usable or the box would pass PC_BOX_MAX.
char   *client_dm_seal_devices  (const char *text, size_t size, const client_dm_keys_t *own,
                                 const client_dm_devices_t *first,
                                 const client_dm_devices_t *second);
//  The sender's device id of box into id (CLIENT_DM_ID); false for a box of
//  the older form (no sender id) or a malformed one.
bool    client_dm_box_sender    (const char *box, char *id);
//  Opens box with the sender's devices: 0 with *text set (caller frees;
//  as client_dm_open's), 1 when the sender's device is not among them (look
//  them up again, then retry), -1 when it does not open (not sealed for
//  this device, tampered, malformed).
int     client_dm_open_devices  (const char *box, const client_dm_keys_t *own,
                                 const client_dm_devices_t *sender, char **text);

//  A short secret (a private file's meta) sealed for every device in the
//  lists, each in its own box: "2" SP sender-id 1*(SP device-id ":"
//  base64 (nonce || crypto_box_easy (plain, ...))). Caller frees; NULL when
//  a key is not usable.
char   *client_dm_seal_blob     (const uint8_t *plain, size_t size, const client_dm_keys_t *own,
                                 const client_dm_devices_t *first,
                                 const client_dm_devices_t *second);
//  Opens the box for own's device in sealed, from a sender's device found
//  in either list, into plain (exactly size bytes). 0, or -1.
int     client_dm_open_blob     (const char *sealed, const client_dm_keys_t *own,
                                 const client_dm_devices_t *first,
                                 const client_dm_devices_t *second, uint8_t *plain, size_t size);

//  Seals text for the recipient; returns the base64 box (caller frees).
char   *client_dm_seal          (const char *text, size_t size,
                                 const uint8_t *recipient_public, const uint8_t *own_secret);
//  Opens box from sender; returns the text (caller frees; NUL-terminated,
//  valid UTF-8 without control characters but TAB and LF), or NULL when the
//  box does not open (tampered, sealed for another key, not base64, or not
//  printable text).
char   *client_dm_open          (const char *box, const uint8_t *sender_public,
                                 const uint8_t *own_secret);

//  The fingerprint of a public key: BLAKE2b-128 of its 32 bytes, as 8 groups
//  of 4 hex digits separated by spaces.
void    client_dm_fingerprint   (const uint8_t *public_key, char *out);
//  Same, from Z85; false when z85 is not a valid key.
bool    client_dm_fingerprint_z85 (const char *z85, char *out);
//  Z85 text to 32 bytes; false when not a valid key.
bool    client_dm_z85_decode    (const char *z85, uint8_t *out);

//  The devices of a GETKEY reply into devices. 0, or -1 when malformed.
int     client_dm_devices_parse (pc_msg_t *reply, client_dm_devices_t *devices);
//  The device with id in devices, or NULL.
const client_dm_device_t *
        client_dm_devices_find  (const client_dm_devices_t *devices, const char *id);
//  The devices pinned for user into devices (none: count 0).
void    client_dm_pins_load     (const char *home, const char *user, client_dm_devices_t *devices);
//  Pins exactly devices for user. 0, or -1 with a message.
int     client_dm_pins_save     (const char *home, const char *user,
                                 const client_dm_devices_t *devices);
//  Trust on first use, per device: checks the devices the server lists for
//  user against the pins, pins the new ones (say announces them; user ==
//  own's user and an id that is not own's: loud) and unpins those that
//  left. 0, or 1 when a pinned id has another key now (refused, nothing
//  pinned; say told why), or -1 when the pins cannot be saved.
int     client_dm_devices_check (const char *home, const char *me, const char *own_id,
                                 const char *user, const client_dm_devices_t *server,
                                 client_dm_say_fn *say, void *arg);
//  A client_dm_say_fn that prints to stderr ("pychat: " first).
void    client_dm_say_stderr    (void *arg, bool loud, const char *line);
//  The SETKEY request that publishes own's device (key and name).
pc_msg_t *
        client_dm_setkey_new    (const client_dm_keys_t *own);

//  True when reply is GETKEY's 404 for an account that does not exist
//  (detail PC_GETKEY_NO_USER), not one that has no key yet.
bool    client_dm_no_such_user  (pc_msg_t *reply);
//  GETKEY user into devices: 0, 1 when the user has no key (404; no
//  message), else an exit code (message printed).
int     client_dm_devices_get   (client_conn_t *conn, const char *user,
                                 client_dm_devices_t *devices);
//  The devices to seal for (or open from) user, trust on first use per
//  device (client_dm_devices_check, said on stderr); me and own_id name
//  this device (NULL: not known). 0 or an exit code with one line printed.
int     client_dm_peer_devices  (client_conn_t *conn, const char *home, const char *me,
                                 const char *own_id, const char *user,
                                 client_dm_devices_t *devices);
//  A refused SETKEY (this device revoked, too many devices): said, loudly.
void    client_dm_setkey_refused (pc_msg_t *reply, client_dm_say_fn *say, void *arg);
//  After LOGIN: publishes this device (SETKEY key name); a refusal for the
//  device itself is said, not fatal. 0 or an exit code.
int     client_dm_publish       (client_conn_t *conn, const char *user,
                                 const client_dm_keys_t *keys);

void    client_dm_test          (bool verbose);

#endif

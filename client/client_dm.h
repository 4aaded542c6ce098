//  client_dm.h: end-to-end sealed direct messages (PROTOCOL.md, "Direct
//  messages"): the device key, sealing and opening, key pinning and
//  fingerprints.
//
//  The device key PYCHAT_HOME/device.key (X25519, the same file the CURVE
//  layer uses) is the user's DM key; its public half is published with
//  SETKEY. A box is base64 (ORIGINAL variant) of nonce (24 random bytes) ||
//  crypto_box_easy (text, nonce, recipient public, sender secret).
//
//  Trust on first use: PYCHAT_HOME/peers/USER holds the key first seen for
//  USER (Z85, one line); a different key on the server is refused until
//  `pychat trust USER`.
//
//  Secret bytes are wiped (sodium_memzero) as soon as they are not needed,
//  and never printed.
#ifndef CLIENT_DM_H_INCLUDED
#define CLIENT_DM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "client_conn.h"

#define CLIENT_DM_KEY       32          //  X25519 key bytes
#define CLIENT_DM_Z85       41          //  40 characters of Z85 and a NUL
#define CLIENT_DM_FINGER    40          //  "xxxx xxxx ... xxxx" and a NUL

typedef struct {
    uint8_t public_key [CLIENT_DM_KEY];
    uint8_t secret_key [CLIENT_DM_KEY];
    char    public_txt [CLIENT_DM_Z85];
} client_dm_keys_t;

//  Loads (creating it when missing) PYCHAT_HOME/device.key into keys.
//  0, or PC_EXIT_USAGE with a message.
int     client_dm_device_load   (const char *home, client_dm_keys_t *keys);
//  Wipes keys.
void    client_dm_keys_clear    (client_dm_keys_t *keys);

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

//  The pinned key of user into z85 (CLIENT_DM_Z85 bytes): true when one is
//  pinned (and valid), false when none.
bool    client_dm_pin_load      (const char *home, const char *user, char *z85);
//  Pins z85 for user (atomic write, mode 0644). 0, or -1 with a message.
int     client_dm_pin_save      (const char *home, const char *user, const char *z85);

//  GETKEY user: 0 with z85 filled, 1 when the user has no key (404; no
//  message), else an exit code (message printed; PC_EXIT_REFUSED with
//  "no such user" when there is no such account).
int     client_dm_getkey        (client_conn_t *conn, const char *user, char *z85);
//  True when reply is GETKEY's 404 for an account that does not exist
//  (detail PC_GETKEY_NO_USER), not one that has no key yet.
bool    client_dm_no_such_user  (pc_msg_t *reply);
//  The key to seal for (or open from) user, trust on first use: GETKEY,
//  then the pinned key must be the same (none pinned yet: this one is
//  pinned). 0 with z85 filled, else an exit code with one line printed
//  (no key yet, a changed key: compare fingerprints, then `pychat trust`).
int     client_dm_peer_key      (client_conn_t *conn, const char *home, const char *user,
                                 char *z85);
//  After LOGIN: publishes keys->public_txt with SETKEY unless the server
//  already holds it for user. 0 or an exit code.
int     client_dm_publish       (client_conn_t *conn, const char *user,
                                 const client_dm_keys_t *keys);

#endif

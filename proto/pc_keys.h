//  pc_keys.h: CURVE key files.
//
//  DIR/NAME.key holds "public\nsecret\n" in Z85 (mode 0600); DIR/NAME.pub
//  holds the public key alone. Creation is atomic (write, then link(2)), so
//  processes that start together all end up with the same key.
#ifndef PC_KEYS_H_INCLUDED
#define PC_KEYS_H_INCLUDED

#include <czmq.h>

//  Loads DIR/NAME.key, creating DIR (0700) and the key when missing.
//  Returns the certificate (caller owns) or NULL with errno set.
zcert_t    *pc_keys_ensure      (const char *dir, const char *name);
//  Loads an existing DIR/NAME.key; NULL if it does not exist or is bad.
zcert_t    *pc_keys_load        (const char *dir, const char *name);
//  Z85 public key of DIR/NAME (from NAME.pub or NAME.key); caller frees;
//  NULL when neither exists.
char       *pc_keys_public      (const char *dir, const char *name);
//  Writes text (plus a newline) to path atomically with the given mode.
int         pc_keys_write_text  (const char *path, const char *text, int mode);
//  A socket of type (DEALER, SUB...) that speaks CURVE as cert to the
//  server whose public key is server_key, with the protocol's message size
//  limit and no linger; not connected yet. Caller owns it.
zsock_t    *pc_keys_client      (int type, zcert_t *cert, const char *server_key);
//  True if text is a 40-character Z85 key.
bool        pc_keys_valid_z85   (const char *text);
//  The id of a DM device key (PROTOCOL.md, "Direct messages"): the first 8
//  hex digits of its fingerprint (BLAKE2b-128 of the 32 key bytes) into out
//  (PC_DEVICE_ID bytes). false when z85 is not a valid key.
#define PC_DEVICE_ID    9
bool        pc_keys_device_id   (const char *z85, char *out);

void        pc_keys_test        (bool verbose);
#endif

//  client_seal.h: private files, encrypted end to end (PROTOCOL.md, "Private
//  files").
//
//  A private file travels and rests as a libsodium secretstream
//  (crypto_secretstream_xchacha20poly1305) under a fresh random key: records
//  of CLIENT_SEAL_RECORD plaintext bytes, each CLIENT_SEAL_ABYTES longer once
//  sealed, the last one (possibly shorter, possibly empty) tagged FINAL, so a
//  truncated or reordered file never decrypts. The key, the stream header,
//  the plaintext size and its SHA-256 travel in the upload's meta field:
//
//      meta = base64 (nonce || crypto_box_easy (key || header || size (8
//             bytes, big-endian) || SHA-256, peer public, own secret))
//
//  crypto_box is symmetric in the pair (X25519 of alice's secret and bob's
//  public equals bob's secret and alice's public): both ends open it with
//  their own device key and the other one's pinned key, nobody else can.
//
//  An encryptor is deterministic given key and header: the upload encrypts
//  twice (once to learn the ciphertext's size and SHA-256 for FPUT, then
//  while sending), and a resumed upload encrypts again from the start.
#ifndef CLIENT_SEAL_H_INCLUDED
#define CLIENT_SEAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CLIENT_SEAL_RECORD  65536       //  plaintext bytes per record
#define CLIENT_SEAL_ABYTES  17          //  what sealing adds to each record
#define CLIENT_SEAL_KEY     32
#define CLIENT_SEAL_HEADER  24
#define CLIENT_SEAL_SHA     32

//  What meta carries. Secret: wipe with client_seal_info_clear.
typedef struct {
    uint8_t  key [CLIENT_SEAL_KEY];
    uint8_t  header [CLIENT_SEAL_HEADER];
    uint64_t plain_size;
    uint8_t  plain_sha [CLIENT_SEAL_SHA];
} client_seal_info_t;

//  A fresh random key and header; plain_size and plain_sha zeroed.
void        client_seal_info_fresh  (client_seal_info_t *info);
void        client_seal_info_clear  (client_seal_info_t *info);

//  Bytes of the sealed stream of plain_size plaintext bytes.
uint64_t    client_seal_cipher_size (uint64_t plain_size);
//  The plaintext size a sealed stream of cipher_size bytes holds, or
//  UINT64_MAX when no stream has that size (a listing shows it).
uint64_t    client_seal_plain_size  (uint64_t cipher_size);

//  The meta text for info (base64, caller frees), or NULL when the peer's
//  key is unusable (all zeros).
//  The meta's plaintext (key, header, plain size, plain SHA-256) as bytes,
//  for sealing it for several devices (client_dm_seal_blob), and back.
#define CLIENT_SEAL_META_PLAIN  (CLIENT_SEAL_KEY + CLIENT_SEAL_HEADER + 8 + CLIENT_SEAL_SHA)
void        client_seal_info_pack   (const client_seal_info_t *info, uint8_t *plain);
void        client_seal_info_unpack (const uint8_t *plain, client_seal_info_t *info);
char       *client_seal_meta        (const client_seal_info_t *info,
                                     const uint8_t *peer_public, const uint8_t *own_secret);
//  Opens meta into info: 0, or -1 when it is not base64 of the right size
//  or does not open with these keys (tampered, or sealed for others).
int         client_seal_meta_open   (const char *meta, const uint8_t *peer_public,
                                     const uint8_t *own_secret, client_seal_info_t *info);

typedef struct _client_seal_t client_seal_t;

//  An encryptor reading the plaintext from fd (from its current position):
//  exactly info->plain_size bytes, else client_seal_read fails ("the file
//  changed while it was read"). info is copied.
client_seal_t *client_seal_new_push (const client_seal_info_t *info, int fd);
//  A decryptor writing the plaintext to fd. info is copied.
client_seal_t *client_seal_new_pull (const client_seal_info_t *info, int fd);
//  Wipes the keys; frees, nulls *self_p.
void        client_seal_destroy     (client_seal_t **self_p);

//  Encryptor: up to size bytes of the sealed stream into out; 0 at its end;
//  -1 on a read error or a file that changed (client_seal_why says which).
ssize_t     client_seal_read        (client_seal_t *self, uint8_t *out, size_t size);
//  Encryptor: skips count bytes of the sealed stream (encrypting them, as
//  the stream's state must advance). 0 or -1.
int         client_seal_skip        (client_seal_t *self, uint64_t count);
//  Encryptor, at the end: the SHA-256 of the plaintext it read.
void        client_seal_plain_sha   (client_seal_t *self, uint8_t *sha);

//  Decryptor: takes size bytes of the sealed stream, writes whatever
//  records they complete. 0, or -1 (a record that does not decrypt, data
//  after the last record, a write error).
int         client_seal_write       (client_seal_t *self, const uint8_t *data, size_t size);
//  Decryptor, after the last byte: the last record was tagged FINAL and
//  the plaintext has the size and SHA-256 meta promised. 0 or -1.
int         client_seal_finish      (client_seal_t *self);

//  Why the last -1 happened, one line; "" before any.
const char *client_seal_why         (client_seal_t *self);

void        client_seal_test        (bool verbose);

#endif

//  client_seal.c: secretstream records and the sealed meta of private files.
#include "client_seal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#define SEALED_RECORD   (CLIENT_SEAL_RECORD + CLIENT_SEAL_ABYTES)
#define META_PLAIN      (CLIENT_SEAL_KEY + CLIENT_SEAL_HEADER + 8 + CLIENT_SEAL_SHA)
#define META_SEALED     (crypto_box_NONCEBYTES + crypto_box_MACBYTES + META_PLAIN)

struct _client_seal_t {
    bool     push;                  //  encryptor (else decryptor)
    int      fd;
    client_seal_info_t info;
    crypto_secretstream_xchacha20poly1305_state state;
    crypto_hash_sha256_state plain_hash;
    uint64_t plain_done;            //  plaintext bytes read (push) or written (pull)
    uint8_t *plain;                 //  one record of plaintext
    uint8_t *sealed;                //  one sealed record
    size_t   sealed_len;            //  bytes in sealed
    size_t   sealed_pos;            //  push: bytes of it already handed out
    bool     final;                 //  the FINAL record was made (push) or seen (pull)
    bool     failed;
    char     why [160];
};

void
client_seal_info_fresh (client_seal_info_t *info)
{
    assert (info);
    memset (info, 0, sizeof (*info));
    crypto_secretstream_xchacha20poly1305_keygen (info->key);
    crypto_secretstream_xchacha20poly1305_state state;
    crypto_secretstream_xchacha20poly1305_init_push (&state, info->header, info->key);
    sodium_memzero (&state, sizeof (state));
}

void
client_seal_info_clear (client_seal_info_t *info)
{
    sodium_memzero (info, sizeof (*info));
}

uint64_t
client_seal_cipher_size (uint64_t plain_size)
{
    uint64_t records = plain_size == 0? 1: (plain_size + CLIENT_SEAL_RECORD - 1) / CLIENT_SEAL_RECORD;
    return plain_size + records * CLIENT_SEAL_ABYTES;
}

uint64_t
client_seal_plain_size (uint64_t cipher_size)
{
    //  Every record but the last is SEALED_RECORD bytes, the last 17..SEALED_RECORD.
    uint64_t records = (cipher_size + SEALED_RECORD - 1) / SEALED_RECORD;
    if (records == 0 || cipher_size < records * CLIENT_SEAL_ABYTES)
        return UINT64_MAX;
    uint64_t plain = cipher_size - records * CLIENT_SEAL_ABYTES;
    return client_seal_cipher_size (plain) == cipher_size? plain: UINT64_MAX;
}

static void
s_put64 (uint8_t *out, uint64_t value)
{
    for (int i = 7; i >= 0; i--) {
        out [i] = (uint8_t) value;
        value >>= 8;
    }
}

static uint64_t
s_get64 (const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = (value << 8) | in [i];
    return value;
}

void
client_seal_info_pack (const client_seal_info_t *info, uint8_t *plain)
{
    memcpy (plain, info->key, CLIENT_SEAL_KEY);
    memcpy (plain + CLIENT_SEAL_KEY, info->header, CLIENT_SEAL_HEADER);
    s_put64 (plain + CLIENT_SEAL_KEY + CLIENT_SEAL_HEADER, info->plain_size);
    memcpy (plain + CLIENT_SEAL_KEY + CLIENT_SEAL_HEADER + 8, info->plain_sha, CLIENT_SEAL_SHA);
}

void
client_seal_info_unpack (const uint8_t *plain, client_seal_info_t *info)
{
    memset (info, 0, sizeof (*info));
    memcpy (info->key, plain, CLIENT_SEAL_KEY);
    memcpy (info->header, plain + CLIENT_SEAL_KEY, CLIENT_SEAL_HEADER);
    info->plain_size = s_get64 (plain + CLIENT_SEAL_KEY + CLIENT_SEAL_HEADER);
    memcpy (info->plain_sha, plain + CLIENT_SEAL_KEY + CLIENT_SEAL_HEADER + 8, CLIENT_SEAL_SHA);
}

char *
client_seal_meta (const client_seal_info_t *info, const uint8_t *peer_public, const uint8_t *own_secret)
{
    uint8_t plain [META_PLAIN];
    memcpy (plain, info->key, CLIENT_SEAL_KEY);
    memcpy (plain + CLIENT_SEAL_KEY, info->header, CLIENT_SEAL_HEADER);
    s_put64 (plain + CLIENT_SEAL_KEY + CLIENT_SEAL_HEADER, info->plain_size);
    memcpy (plain + CLIENT_SEAL_KEY + CLIENT_SEAL_HEADER + 8, info->plain_sha, CLIENT_SEAL_SHA);
    uint8_t sealed [META_SEALED];
    randombytes_buf (sealed, crypto_box_NONCEBYTES);
    int rc = crypto_box_easy (sealed + crypto_box_NONCEBYTES, plain, sizeof (plain), sealed,
                              peer_public, own_secret);
    sodium_memzero (plain, sizeof (plain));
    if (rc != 0)
        return NULL;
    size_t size = sodium_base64_ENCODED_LEN (sizeof (sealed), sodium_base64_VARIANT_ORIGINAL);
    char *meta = (char *) malloc (size);
    assert (meta);
    sodium_bin2base64 (meta, size, sealed, sizeof (sealed), sodium_base64_VARIANT_ORIGINAL);
    return meta;
}

int
client_seal_meta_open (const char *meta, const uint8_t *peer_public, const uint8_t *own_secret,
                       client_seal_info_t *info)
{
    memset (info, 0, sizeof (*info));
    uint8_t sealed [META_SEALED + 1];
    size_t size = 0;
    if (!meta || strlen (meta) > 2 * sizeof (sealed)
    ||  sodium_base642bin (sealed, sizeof (sealed), meta, strlen (meta), NULL, &size, NULL,
                           sodium_base64_VARIANT_ORIGINAL) != 0
    ||  size != META_SEALED)
        return -1;
    uint8_t plain [META_PLAIN];
    if (crypto_box_open_easy (plain, sealed + crypto_box_NONCEBYTES, size - crypto_box_NONCEBYTES,
                              sealed, peer_public, own_secret) != 0)
        return -1;
    memcpy (info->key, plain, CLIENT_SEAL_KEY);
    memcpy (info->header, plain + CLIENT_SEAL_KEY, CLIENT_SEAL_HEADER);
    info->plain_size = s_get64 (plain + CLIENT_SEAL_KEY + CLIENT_SEAL_HEADER);
    memcpy (info->plain_sha, plain + CLIENT_SEAL_KEY + CLIENT_SEAL_HEADER + 8, CLIENT_SEAL_SHA);
    sodium_memzero (plain, sizeof (plain));
    return 0;
}

//  The stream state from key and header. init_push draws the header at
//  random and derives the state from it; init_pull derives the very same
//  state from a given header (libsodium: HChaCha20 of key and header, the
//  counter reset, the header's tail as nonce). So an encryptor starts from
//  init_pull too, which is what makes sealing repeatable: the selftest
//  checks that both give the same bytes.
static client_seal_t *
s_new (const client_seal_info_t *info, int fd, bool push)
{
    client_seal_t *self = (client_seal_t *) calloc (1, sizeof (client_seal_t));
    assert (self);
    self->push = push;
    self->fd = fd;
    self->info = *info;
    crypto_secretstream_xchacha20poly1305_init_pull (&self->state, self->info.header, self->info.key);
    crypto_hash_sha256_init (&self->plain_hash);
    self->plain = (uint8_t *) malloc (CLIENT_SEAL_RECORD);
    self->sealed = (uint8_t *) malloc (SEALED_RECORD);
    assert (self->plain && self->sealed);
    return self;
}

client_seal_t *
client_seal_new_push (const client_seal_info_t *info, int fd)
{
    return s_new (info, fd, true);
}

client_seal_t *
client_seal_new_pull (const client_seal_info_t *info, int fd)
{
    return s_new (info, fd, false);
}

void
client_seal_destroy (client_seal_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        client_seal_t *self = *self_p;
        sodium_memzero (self->plain, CLIENT_SEAL_RECORD);
        free (self->plain);
        free (self->sealed);
        sodium_memzero (self, sizeof (*self));
        free (self);
        *self_p = NULL;
    }
}

static int
s_fail (client_seal_t *self, const char *why)
{
    if (!self->failed)
        snprintf (self->why, sizeof (self->why), "%s", why);
    self->failed = true;
    return -1;
}

const char *
client_seal_why (client_seal_t *self)
{
    assert (self);
    return self->why;
}

//  Reads exactly size bytes (size 0: checks that the file ends here).
static int
s_read_exact (client_seal_t *self, uint8_t *out, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = read (self->fd, out + done, size - done);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            char why [120];
            snprintf (why, sizeof (why), "cannot read the file: %s", strerror (errno));
            return s_fail (self, why);
        }
        if (n == 0)
            return s_fail (self, "the file changed while it was read (it got shorter)");
        done += (size_t) n;
    }
    return 0;
}

//  Encryptor: seals the next record into self->sealed.
static int
s_seal_next (client_seal_t *self)
{
    uint64_t left = self->info.plain_size - self->plain_done;
    size_t size = left < CLIENT_SEAL_RECORD? (size_t) left: CLIENT_SEAL_RECORD;
    bool last = size == left;
    if (s_read_exact (self, self->plain, size) == -1)
        return -1;
    if (last) {
        uint8_t probe;
        ssize_t n;
        do
            n = read (self->fd, &probe, 1);
        while (n == -1 && errno == EINTR);
        if (n > 0)
            return s_fail (self, "the file changed while it was read (it got longer)");
    }
    crypto_hash_sha256_update (&self->plain_hash, self->plain, size);
    self->plain_done += size;
    unsigned long long sealed_len = 0;
    crypto_secretstream_xchacha20poly1305_push (
        &self->state, self->sealed, &sealed_len, self->plain, size, NULL, 0,
        last? crypto_secretstream_xchacha20poly1305_TAG_FINAL: crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    self->sealed_len = (size_t) sealed_len;
    self->sealed_pos = 0;
    self->final = last;
    return 0;
}

ssize_t
client_seal_read (client_seal_t *self, uint8_t *out, size_t size)
{
    assert (self && self->push);
    if (self->failed)
        return -1;
    size_t done = 0;
    while (done < size) {
        if (self->sealed_pos == self->sealed_len) {
            if (self->final)
                break;
            if (s_seal_next (self) == -1)
                return -1;
        }
        size_t take = self->sealed_len - self->sealed_pos;
        if (take > size - done)
            take = size - done;
        memcpy (out + done, self->sealed + self->sealed_pos, take);
        self->sealed_pos += take;
        done += take;
    }
    return (ssize_t) done;
}

int
client_seal_skip (client_seal_t *self, uint64_t count)
{
    assert (self && self->push);
    uint8_t *scratch = (uint8_t *) malloc (SEALED_RECORD);
    assert (scratch);
    int rc = 0;
    while (count > 0) {
        size_t want = count < SEALED_RECORD? (size_t) count: SEALED_RECORD;
        ssize_t n = client_seal_read (self, scratch, want);
        if (n <= 0) {
            rc = n == 0? s_fail (self, "cannot skip past the end of the sealed file"): -1;
            break;
        }
        count -= (uint64_t) n;
    }
    free (scratch);
    return rc;
}

void
client_seal_plain_sha (client_seal_t *self, uint8_t *sha)
{
    assert (self && self->push);
    crypto_hash_sha256_state copy = self->plain_hash;
    crypto_hash_sha256_final (&copy, sha);
}

static int
s_write_all (client_seal_t *self, const uint8_t *data, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = write (self->fd, data + done, size - done);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            char why [120];
            snprintf (why, sizeof (why), "cannot write: %s", n == -1? strerror (errno): "no space");
            return s_fail (self, why);
        }
        done += (size_t) n;
    }
    return 0;
}

//  Decryptor: opens the sealed record held in self->sealed.
static int
s_open_record (client_seal_t *self)
{
    if (self->sealed_len < CLIENT_SEAL_ABYTES)
        return s_fail (self, "the encrypted file is truncated");
    unsigned long long size = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull (&self->state, self->plain, &size, &tag,
                                                    self->sealed, self->sealed_len, NULL, 0) != 0)
        return s_fail (self, "a part of the encrypted file does not decrypt (tampered with, "
                             "or not sealed with this key)");
    self->sealed_len = 0;
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
        self->final = true;
    else
    if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
        return s_fail (self, "the encrypted file holds an unexpected record");
    if (self->plain_done + size > self->info.plain_size)
        return s_fail (self, "the encrypted file holds more than its sender declared");
    crypto_hash_sha256_update (&self->plain_hash, self->plain, (size_t) size);
    self->plain_done += size;
    return s_write_all (self, self->plain, (size_t) size);
}

int
client_seal_write (client_seal_t *self, const uint8_t *data, size_t size)
{
    assert (self && !self->push);
    if (self->failed)
        return -1;
    while (size > 0) {
        if (self->final)
            return s_fail (self, "the encrypted file goes on after its last record");
        size_t take = SEALED_RECORD - self->sealed_len;
        if (take > size)
            take = size;
        memcpy (self->sealed + self->sealed_len, data, take);
        self->sealed_len += take;
        data += take;
        size -= take;
        if (self->sealed_len == SEALED_RECORD && s_open_record (self) == -1)
            return -1;
    }
    return 0;
}

int
client_seal_finish (client_seal_t *self)
{
    assert (self && !self->push);
    if (self->failed)
        return -1;
    if (self->sealed_len > 0 && s_open_record (self) == -1)
        return -1;
    if (!self->final)
        return s_fail (self, "the encrypted file is truncated (its last record is missing)");
    if (self->plain_done != self->info.plain_size)
        return s_fail (self, "the decrypted file is shorter than its sender declared");
    uint8_t sha [CLIENT_SEAL_SHA];
    crypto_hash_sha256_final (&self->plain_hash, sha);
    if (sodium_memcmp (sha, self->info.plain_sha, CLIENT_SEAL_SHA) != 0)
        return s_fail (self, "the decrypted file does not match its sender's SHA-256");
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest

//  Seals size bytes of pattern through a pipe-less temp file; returns the
//  sealed bytes (caller frees) and their count.
static uint8_t *
s_test_seal (client_seal_info_t *info, const char *path, size_t *sealed_size)
{
    int fd = open (path, O_RDONLY);
    assert (fd >= 0);
    client_seal_t *push = client_seal_new_push (info, fd);
    size_t cap = (size_t) client_seal_cipher_size (info->plain_size);
    uint8_t *out = (uint8_t *) malloc (cap + 1);
    assert (out);
    size_t done = 0;
    ssize_t n;
    while ((n = client_seal_read (push, out + done, 1000)) > 0)     //  odd slices
        done += (size_t) n;
    assert (n == 0);
    assert (done == cap);
    client_seal_plain_sha (push, info->plain_sha);
    client_seal_destroy (&push);
    close (fd);
    *sealed_size = done;
    return out;
}

//  Opens sealed into path2; 0 or -1.
static int
s_test_open (client_seal_info_t *info, const uint8_t *sealed, size_t size, const char *path)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert (fd >= 0);
    client_seal_t *pull = client_seal_new_pull (info, fd);
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < size; at += 77777) {
        size_t take = size - at < 77777? size - at: 77777;
        rc = client_seal_write (pull, sealed + at, take);
    }
    if (rc == 0)
        rc = client_seal_finish (pull);
    client_seal_destroy (&pull);
    close (fd);
    return rc;
}

//  One size: sealed twice alike, as push would, round trip, tampering
//  refused, skipping.
static void
s_test_size (const char *src, const char *dst, size_t size, size_t s)
{
    uint8_t *plain = (uint8_t *) malloc (size + 1);
    for (size_t i = 0; i < size; i++)
        plain [i] = (uint8_t) (i * 7 + s);
    FILE *file = fopen (src, "wb");
    assert (file && fwrite (plain, 1, size, file) == size);
    fclose (file);

    client_seal_info_t info;
    client_seal_info_fresh (&info);
    info.plain_size = size;
    size_t sealed_size = 0, again_size = 0;
    uint8_t *sealed = s_test_seal (&info, src, &sealed_size);
    uint8_t *again = s_test_seal (&info, src, &again_size);
    //  Repeatable: a second pass (a resumed upload) gives the same bytes
    assert (sealed_size == again_size && memcmp (sealed, again, sealed_size) == 0);
    //  ... and they are what init_push + push would have made
    if (size <= CLIENT_SEAL_RECORD) {
        crypto_secretstream_xchacha20poly1305_state state;
        uint8_t header [CLIENT_SEAL_HEADER];
        crypto_secretstream_xchacha20poly1305_init_push (&state, header, info.key);
        memcpy (info.header, header, sizeof (header));
        uint8_t *direct = (uint8_t *) malloc (size + CLIENT_SEAL_ABYTES);
        crypto_secretstream_xchacha20poly1305_push (&state, direct, NULL, plain, size, NULL, 0,
                                                    crypto_secretstream_xchacha20poly1305_TAG_FINAL);
        free (again);
        again = s_test_seal (&info, src, &again_size);
        assert (memcmp (direct, again, again_size) == 0);
        free (sealed);
        sealed = again;
        again = NULL;
        free (direct);
    }
    uint8_t sha [CLIENT_SEAL_SHA];
    crypto_hash_sha256 (sha, plain, size);
    assert (memcmp (sha, info.plain_sha, sizeof (sha)) == 0);
    //  Round trip
    assert (s_test_open (&info, sealed, sealed_size, dst) == 0);
    file = fopen (dst, "rb");
    uint8_t *back = (uint8_t *) malloc (size + 1);
    assert (file && fread (back, 1, size + 1, file) == size);
    fclose (file);
    assert (memcmp (back, plain, size) == 0);
    //  One flipped bit anywhere, a cut, a lost record, a wrong key: refused
    sealed [sealed_size / 2] ^= 1;
    assert (s_test_open (&info, sealed, sealed_size, dst) == -1);
    sealed [sealed_size / 2] ^= 1;
    assert (s_test_open (&info, sealed, sealed_size - 1, dst) == -1);
    if (sealed_size > 65553)
        assert (s_test_open (&info, sealed, 65553, dst) == -1);
    client_seal_info_t wrong = info;
    wrong.key [0] ^= 1;
    assert (s_test_open (&wrong, sealed, sealed_size, dst) == -1);
    wrong = info;
    wrong.plain_sha [0] ^= 1;
    assert (s_test_open (&wrong, sealed, sealed_size, dst) == -1);
    //  Skipping then reading gives the tail of the same stream
    if (sealed_size > 70000) {
        int fd = open (src, O_RDONLY);
        client_seal_t *push = client_seal_new_push (&info, fd);
        assert (client_seal_skip (push, 70000) == 0);
        uint8_t tail [100];
        assert (client_seal_read (push, tail, sizeof (tail)) == sizeof (tail));
        assert (memcmp (tail, sealed + 70000, sizeof (tail)) == 0);
        client_seal_destroy (&push);
        close (fd);
    }
    free (again);
    free (back);
    free (sealed);
    free (plain);
    client_seal_info_clear (&info);
}

//  A file that changes size under the encryptor is refused.
static void
s_test_grown (const char *src)
{
    client_seal_info_t info;
    client_seal_info_fresh (&info);
    info.plain_size = 10;
    FILE *file = fopen (src, "wb");
    assert (file && fwrite ("12345678901", 1, 11, file) == 11);
    fclose (file);
    int fd = open (src, O_RDONLY);
    client_seal_t *push = client_seal_new_push (&info, fd);
    uint8_t out [64];
    assert (client_seal_read (push, out, sizeof (out)) == -1);
    assert (strstr (client_seal_why (push), "longer"));
    client_seal_destroy (&push);
    close (fd);

    client_seal_info_clear (&info);
}

//  Meta: both ends of the pair open it, a third key does not.
static void
s_test_meta (void)
{
    client_seal_info_t info;
    client_seal_info_fresh (&info);
    uint8_t alice_pk [32], alice_sk [32], bob_pk [32], bob_sk [32], carol_pk [32], carol_sk [32];
    crypto_box_keypair (alice_pk, alice_sk);
    crypto_box_keypair (bob_pk, bob_sk);
    crypto_box_keypair (carol_pk, carol_sk);
    info.plain_size = 123456789012ULL;
    memset (info.plain_sha, 0xab, sizeof (info.plain_sha));
    char *meta = client_seal_meta (&info, bob_pk, alice_sk);
    assert (meta);
    client_seal_info_t opened;
    assert (client_seal_meta_open (meta, alice_pk, bob_sk, &opened) == 0);
    assert (memcmp (&opened, &info, sizeof (info)) == 0);
    assert (client_seal_meta_open (meta, bob_pk, alice_sk, &opened) == 0);
    assert (opened.plain_size == 123456789012ULL);
    assert (client_seal_meta_open (meta, alice_pk, carol_sk, &opened) == -1);
    assert (client_seal_meta_open (meta, carol_pk, bob_sk, &opened) == -1);
    meta [10] = meta [10] == 'A'? 'B': 'A';
    assert (client_seal_meta_open (meta, alice_pk, bob_sk, &opened) == -1);
    assert (client_seal_meta_open ("", alice_pk, bob_sk, &opened) == -1);
    assert (client_seal_meta_open ("not base64!", alice_pk, bob_sk, &opened) == -1);
    free (meta);
    client_seal_info_clear (&info);
}

void
client_seal_test (bool verbose)
{
    printf (" * client_seal: ");
    assert (sodium_init () >= 0);
    assert (client_seal_cipher_size (0) == 17);
    assert (client_seal_cipher_size (1) == 18);
    assert (client_seal_cipher_size (65536) == 65553);
    assert (client_seal_cipher_size (65537) == 65537 + 34);
    for (uint64_t plain = 0; plain < 300000; plain += 4093)
        assert (client_seal_plain_size (client_seal_cipher_size (plain)) == plain);
    assert (client_seal_plain_size (65536 + 17) == 65536);
    assert (client_seal_plain_size (16) == UINT64_MAX);
    assert (client_seal_plain_size (65553 + 5) == UINT64_MAX);

    char dir [] = "/tmp/client_seal_test.XXXXXX";
    assert (mkdtemp (dir));
    char src [PATH_MAX], dst [PATH_MAX];
    snprintf (src, sizeof (src), "%s/src", dir);
    snprintf (dst, sizeof (dst), "%s/dst", dir);
    size_t sizes [] = { 0, 1, 65535, 65536, 65537, 3 * 65536, 200001 };
    for (size_t s = 0; s < sizeof (sizes) / sizeof (sizes [0]); s++)
        s_test_size (src, dst, sizes [s], s);
    s_test_grown (src);
    s_test_meta ();
    unlink (src);
    unlink (dst);
    rmdir (dir);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

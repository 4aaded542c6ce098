//  auth_hash.c: Argon2id password hashes (libsodium).
#include "auth_hash.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

static long s_count;               //  Argon2id runs, atomically counted

long
auth_hash_count (void)
{
    return __atomic_load_n (&s_count, __ATOMIC_RELAXED);
}

int
auth_hash_init (void)
{
    //  sodium_init returns 1 when already initialised: that is fine too.
    return sodium_init () < 0? -1: 0;
}

char *
auth_hash_password (const char *password)
{
    assert (password);
    char *hash = (char *) malloc (crypto_pwhash_STRBYTES);
    if (!hash)
        return NULL;
    __atomic_add_fetch (&s_count, 1, __ATOMIC_RELAXED);
    if (crypto_pwhash_str (hash, password, strlen (password),
                           crypto_pwhash_OPSLIMIT_INTERACTIVE,
                           crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        free (hash);
        return NULL;
    }
    return hash;
}

bool
auth_hash_verify (const char *hash, const char *password)
{
    assert (password);
    //  crypto_pwhash_str_verify reads a NUL-terminated string of at most
    //  STRBYTES; anything longer (or missing) is not one of our hashes.
    //  It is copied into a full-size buffer, as the prototype asks.
    size_t size = hash? strnlen (hash, crypto_pwhash_STRBYTES): crypto_pwhash_STRBYTES;
    if (size >= crypto_pwhash_STRBYTES)
        return false;
    char buffer [crypto_pwhash_STRBYTES] = { 0 };
    memcpy (buffer, hash, size);
    __atomic_add_fetch (&s_count, 1, __ATOMIC_RELAXED);
    return crypto_pwhash_str_verify (buffer, password, strlen (password)) == 0;
}

void
auth_hash_test (bool verbose)
{
    printf (" * auth_hash: ");
    assert (auth_hash_init () == 0);
    long before = auth_hash_count ();
    char *hash = auth_hash_password ("correct horse");
    assert (hash);
    assert (auth_hash_count () == before + 1);
    assert (strncmp (hash, "$argon2id$", 10) == 0);
    assert (auth_hash_verify (hash, "correct horse"));
    assert (!auth_hash_verify (hash, "correct horsE"));
    assert (!auth_hash_verify (hash, ""));
    //  Same password, different salt: different hash, both verify
    char *other = auth_hash_password ("correct horse");
    assert (other);
    assert (strcmp (hash, other) != 0);
    assert (auth_hash_verify (other, "correct horse"));
    //  Garbage and missing hashes never match
    assert (!auth_hash_verify (NULL, "x"));
    assert (!auth_hash_verify ("", "x"));
    assert (!auth_hash_verify ("$argon2id$garbage", "x"));
    char big [300];
    memset (big, 'a', sizeof (big) - 1);
    big [sizeof (big) - 1] = 0;
    assert (!auth_hash_verify (big, "x"));
    free (hash);
    free (other);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

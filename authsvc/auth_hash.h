//  auth_hash.h: password hashing with Argon2id (libsodium crypto_pwhash_str).
//
//  Hashes are self-describing strings ("$argon2id$v=19$m=...,t=...,p=...$...")
//  with OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE: ~50-100 ms each, on
//  purpose. Neither passwords nor hashes are ever logged.
#ifndef AUTH_HASH_H_INCLUDED
#define AUTH_HASH_H_INCLUDED

#include <stdbool.h>

//  Initialises libsodium; call once before anything else. 0 ok, -1 failed.
int         auth_hash_init      (void);
//  Hashes password; returns a new string (caller frees) or NULL when out of
//  memory (Argon2id needs tens of MiB).
char       *auth_hash_password  (const char *password);
//  True if password matches hash. A malformed hash never matches.
bool        auth_hash_verify    (const char *hash, const char *password);
//  How many Argon2id computations (hashes and verifications) this process
//  has run: the auth service's STATS shows it, so that a test can tell a
//  RESUME did none. Safe from any thread.
long        auth_hash_count     (void);

void        auth_hash_test      (bool verbose);
#endif

//  auth_store.h: accounts and login throttling in Redis (hiredis).
//
//  Keys (PROTOCOL.md, "Commands to the auth service"):
//    user:NAME       hash: hash (Argon2id), role, created, last_login (Unix ms),
//                    dmkey (the DM key published last, Z85: GETKEY's key),
//                    dev:ID "KEY ADDED-MS NAME" per DM device (PROTOCOL.md,
//                    "Direct messages"), revoked:KEY (ms) per revoked device
//    users           set of every account name
//    fail:acct:NAME  failed LOGINs of an account (counter with a TTL)
//    fail:src:SRC    failed LOGINs from a source (counter with a TTL)
//    lock:acct:NAME  present while the account's LOGINs are refused (PX)
//    lock:src:SRC    present while the source's LOGINs are refused (PX)
//
//  Every call either answers or returns -1 ("storage unavailable") within
//  about 1 s (connect) + 2 s (command): the connection is made lazily, dropped
//  on any failure and made again on the next call, so the store recovers by
//  itself when Redis comes back. An outage is logged once, not per request.
#ifndef AUTH_STORE_H_INCLUDED
#define AUTH_STORE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <czmq.h>

typedef struct _auth_store_t auth_store_t;

#define AUTH_ACCOUNT_LIMIT      5       //  failures of one account within 60 s
#define AUTH_SOURCE_LIMIT       30      //  failures from one source within 60 s
#define AUTH_FAIL_WINDOW_S      60
#define AUTH_LOCK_FIRST_MS      2000    //  then doubled per further failure
#define AUTH_LOCK_MAX_MS        900000  //  15 min

//  Does not connect yet; never NULL.
auth_store_t *auth_store_new        (const char *host, int port);
void        auth_store_destroy      (auth_store_t **self_p);
//  Failure thresholds (defaults AUTH_ACCOUNT_LIMIT, AUTH_SOURCE_LIMIT).
void        auth_store_set_limits   (auth_store_t *self, int account_limit, int source_limit);

//  Creates account name with role "user", atomically (even across processes):
//  0 created, 1 name taken, -1 unavailable.
int         auth_store_user_create  (auth_store_t *self, const char *name,
                                     const char *hash, int64_t now_ms);
//  Reads an account: 0 found (*hash_p and *role_p are the caller's to free),
//  1 no such account, -1 unavailable.
int         auth_store_user_lookup  (auth_store_t *self, const char *name,
                                     char **hash_p, char **role_p);
//  Is LOGIN of name from source refused right now? 0 no, 1 yes (*wait_s =
//  whole seconds left, rounded up, >= 1), -1 unavailable.
int         auth_store_throttled    (auth_store_t *self, const char *name,
                                     const char *source, int *wait_s);
//  Counts one failed LOGIN against name and source, and starts (or doubles)
//  their locks when over the limit. 0 | -1 unavailable.
int         auth_store_login_failed (auth_store_t *self, const char *name,
                                     const char *source);
//  Records a successful LOGIN (last_login) and clears the account's failures.
//  0 | -1 unavailable.
int         auth_store_login_ok     (auth_store_t *self, const char *name, int64_t now_ms);

//  Sets field (hash, role, banned) of an existing account: 0 set, 1 no such
//  account, -1 unavailable.
int         auth_store_user_set     (auth_store_t *self, const char *name,
                                     const char *field, const char *value);
//  Is the account banned? 1 yes, 0 no (or no account), -1 unavailable.
int         auth_store_user_banned  (auth_store_t *self, const char *name);
//  Deletes an account: 0 deleted, 1 no such account, -1 unavailable.
int         auth_store_user_delete  (auth_store_t *self, const char *name);
//  Appends one line per account to lines (caller's list, it owns the
//  strings): "NAME ROLE CREATED-MS LAST-LOGIN-MS BANNED(0|1)", sorted by name.
//  0 | -1 unavailable.
int         auth_store_users        (auth_store_t *self, zlistx_t *lines);
//  Appends to the audit log (Redis stream "audit", newest 10,000): who did
//  what to whom. 0 | -1 unavailable.
int         auth_store_audit        (auth_store_t *self, const char *actor,
                                     const char *action, const char *target);

//  Adds (or renames) one DM device of name: key (Z85) with its id and
//  device name; it becomes the account's dmkey. 0 set, 1 no such account,
//  2 the key was revoked, 3 PC_DEVICES_MAX devices already, 4 another key
//  has that id, -1 unavailable.
int         auth_store_device_set   (auth_store_t *self, const char *name, const char *key,
                                     const char *id, const char *device);
//  Revokes name's device id: it leaves the list and its key may not come
//  back. 0 done, 1 no such account, 2 no such device, -1 unavailable.
int         auth_store_device_revoke (auth_store_t *self, const char *name, const char *id);
//  Appends one string "ID KEY ADDED-MS NAME" per device of name to devices
//  (a zlistx_t that frees its items). An account that only has a dmkey
//  (published before devices were kept) lists it as device "unknown".
//  0, 2 no such account, -1 unavailable.
int         auth_store_devices      (auth_store_t *self, const char *name, zlistx_t *devices);
//  Reads name's public DM key: 0 found (*key_p the caller's to free),
//  1 the account has no key, 2 no such account, -1 unavailable.
int         auth_store_key_get      (auth_store_t *self, const char *name, char **key_p);

//  The store's Redis connection (for auth_tokens; borrowed).
struct _pc_redis_t *auth_store_redis (auth_store_t *self);

void        auth_store_test         (bool verbose);
#endif

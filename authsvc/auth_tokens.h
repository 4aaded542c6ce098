//  auth_tokens.h: resume tokens (PROTOCOL.md, "Sessions and resume tokens").
//
//  A token is 32 random bytes (libsodium), given to the client once as 64
//  hex digits; Redis holds only its BLAKE2b hash (crypto_generichash):
//    tok:HASH    "USER SID" with a TTL (AUTH_TOKEN_TTL_S), renewed on use
//    toks:USER   hash: SID -> "HASH DEVICE CREATED-MS LAST-USED-MS"
//  SID, the token's id (16 hex digits), is what the owner lists and
//  revokes. One token per device: a new one replaces the device's last.
//  Every call is one Lua script (atomic, whatever the number of authsvc
//  processes); -1 means Redis is unavailable.
#ifndef AUTH_TOKENS_H_INCLUDED
#define AUTH_TOKENS_H_INCLUDED

#include "auth_store.h"

#define AUTH_TOKEN_TTL_S        (30 * 24 * 3600)    //  sliding: renewed on every RESUME
#define AUTH_TOKEN_TEXT         65                  //  64 hex digits and a NUL
#define AUTH_TOKEN_SID          17                  //  16 hex digits and a NUL

//  A new token of user for device (replacing that device's token): 0 with
//  token and sid filled, or -1.
int     auth_tokens_issue   (auth_store_t *store, const char *user, const char *device,
                             int64_t now_ms, char *token, char *sid);
//  Is token user's live token? 0 yes (sid filled, TTL renewed, last use
//  recorded), 1 no (unknown, expired, revoked, another user's), -1.
int     auth_tokens_resume  (auth_store_t *store, const char *user, const char *token,
                             int64_t now_ms, char *sid);
//  Revokes user's token sid ("*": all of them), but never keep (NULL: none).
//  0 some revoked, 1 none matched, -1.
int     auth_tokens_revoke  (auth_store_t *store, const char *user, const char *sid,
                             const char *keep);
//  One line per live token of user: "SID DEVICE CREATED-MS LAST-USED-MS",
//  oldest first (expired ones are dropped on the way). 0 | -1.
int     auth_tokens_list    (auth_store_t *store, const char *user, zlistx_t *lines);

void    auth_tokens_test    (bool verbose);
#endif

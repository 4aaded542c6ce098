//  client_state.h: small files under PYCHAT_HOME, written atomically.
//
//  PYCHAT_HOME/state/USER/ROOM   the last message id `listen` printed in ROOM
//  PYCHAT_HOME/state/USER/@dm    the last direct message id it printed
//  PYCHAT_HOME/peers/USER        (client_dm.h) the devices pinned for USER
//
//  Every write goes to a temporary file in the same directory, then
//  rename(2): a reader (or a crash) sees the old content or the new one,
//  never half of one.
#ifndef CLIENT_STATE_H_INCLUDED
#define CLIENT_STATE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_STATE_DM     "@dm"       //  the key of the direct-message track

//  Writes text (as given, nothing added) to path atomically with mode,
//  creating the parent directories (0700). 0, or -1 with errno set.
int     client_state_write_atomic (const char *path, const char *text, int mode);
//  Reads at most size-1 bytes of path into buffer, NUL-terminated, with the
//  trailing newline removed. 0, or -1 (missing or unreadable).
int     client_state_read_text  (const char *path, char *buffer, size_t size);

//  The last id saved for USER's KEY (a room name or CLIENT_STATE_DM).
//  true with *id set when there is one, false when none (or unreadable).
bool    client_state_load       (const char *home, const char *user, const char *key,
                                 uint64_t *id);
//  Saves id for USER's KEY. 0, or -1 (a message is printed once per key).
int     client_state_save       (const char *home, const char *user, const char *key,
                                 uint64_t id);

#endif

//  client_cmd_core.h: what the files of the scriptable commands share
//  (not for other modules): the session a command holds, the one wrapper
//  that opens, logs in, runs and closes it, and argument helpers.
#ifndef CLIENT_CMD_CORE_H_INCLUDED
#define CLIENT_CMD_CORE_H_INCLUDED

#include "client_cmd.h"
#include "client_conn.h"
#include "client_dm.h"
#include "client_listen.h"
#include "client_seal.h"
#include "client_state.h"
#include "client_token.h"
#include "client_xfer.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#define SEND_TIMEOUT_MS     10000       //  send and dm, without --timeout
#define HISTORY_DEFAULT     50

//  What a connected command holds; cmd_close frees it all.
typedef struct {
    zcert_t       *cert;
    client_conn_t *conn;
    char           password [PC_SECRET_MAX + 2];
    char           token [CLIENT_TOKEN_MAX];    //  saved resume token ("" none):
    char           sid [CLIENT_TOKEN_SID];      //  the password is asked only if refused
} session_t;

//  What a command does with its session once logged in (when it asked
//  for that): 0 or an exit code, one line printed.
typedef int (session_fn) (client_opts_t *opts, session_t *session, void *arg);

#define S_USER      1                   //  a user and a password are needed
#define S_LOGIN     3                   //  LOGIN (and the key publication) first
#define S_CONFIRM   5                   //  a new password: asked twice

int cmd_ask_password (const char *prompt, char *buffer, size_t size);
int cmd_get_password (session_t *session, const char *user, bool confirm);
int cmd_open (client_opts_t *opts, session_t *session, bool need_user, bool confirm);
void cmd_close (session_t *session);
int cmd_login (client_opts_t *opts, session_t *session);
void cmd_new_cmid (char *cmid, size_t size);
int cmd_with_session (client_opts_t *opts, int flags, session_fn *fn, void *arg);
int cmd_call (client_opts_t *opts, int flags, const char *what, pc_msg_t *request, pc_msg_t **reply_p);
int cmd_user_arg (const char *arg, char *out, size_t size);

#endif

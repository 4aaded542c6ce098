//  client_conn.h: the scriptable commands' connection to the broker:
//  blocking request/reply with a timeout on the one transport (client_net).
//  Requests carry unique request ids; a reply is matched by its id, stale
//  replies are dropped. (What runs a session over time, with its fan-out,
//  is client_session.)
//
//  Every function that can fail prints ONE line on stderr ("pychat: ...")
//  and returns the command-line exit code (PC_EXIT_*), or 0 when it worked,
//  or CLIENT_INTERRUPTED (no message) when SIGINT/SIGTERM arrived.
#ifndef CLIENT_CONN_H_INCLUDED
#define CLIENT_CONN_H_INCLUDED

#include <czmq.h>
#include "pc_msg.h"

#define CLIENT_INTERRUPTED  (-1)

typedef struct _client_conn_t client_conn_t;

//  Installs the SIGINT/SIGTERM handlers (instead of czmq's) and ignores
//  SIGPIPE. Call once, first thing in main.
void        client_conn_catch_signals (void);
//  True once SIGINT or SIGTERM arrived.
bool        client_conn_interrupted   (void);
//  The one exit-code policy of `pychat`, applied to what a command
//  returned: 0 stays 0 (the command did all it had to); after SIGINT or
//  SIGTERM anything else is 128 + the signal (130 for Ctrl-C), with
//  "pychat: interrupted" when nothing was said yet (rc CLIENT_INTERRUPTED);
//  otherwise rc as it is (PC_EXIT_*).
int         client_conn_exit_code     (int rc);

//  Connects a DEALER to endpoint ("tcp://HOST:PORT") with CURVE. cert is
//  borrowed (it must outlive the connection); server_key is Z85. NULL with
//  a message when the endpoint is not usable.
client_conn_t *client_conn_new      (const char *endpoint, const char *server_key,
                                     zcert_t *cert, int timeout_ms);
//  Destroys both sockets; frees, nulls *self_p.
void        client_conn_destroy     (client_conn_t **self_p);

//  Sends request under a fresh request id and waits up to the timeout for
//  the reply with that id. 0 with *reply_p (OK or ERROR, caller owns) set;
//  else an exit code or CLIENT_INTERRUPTED, *reply_p NULL.
int         client_conn_request     (client_conn_t *self, pc_msg_t *request, pc_msg_t **reply_p);
//  Like client_conn_request, but an ERROR reply is reported ("pychat: WHAT
//  refused: REASON") and returned as its exit code: 0 means *reply_p is OK.
int         client_conn_call        (client_conn_t *self, const char *what,
                                     pc_msg_t *request, pc_msg_t **reply_p);

//  Prints the one-line report of an ERROR reply ("pychat: WHAT refused:
//  REASON"); returns its exit code.
int         client_conn_report      (const char *what, pc_msg_t *reply);
//  The same for an error code and reason.
int         client_conn_report_code (const char *what, int code, const char *reason);
//  LOGIN from device (NULL: none); token and sid (CLIENT_TOKEN_MAX and
//  CLIENT_TOKEN_SID bytes, or NULL) get the resume token and its id ("" if
//  none came).
int         client_conn_login       (client_conn_t *self, const char *name, const char *password,
                                     const char *device, char *token, char *sid);
//  RESUME with a saved token: 0, CLIENT_CONN_TOKEN_REFUSED (401 or 403,
//  nothing printed: the caller falls back to the password), or an exit code.
#define CLIENT_CONN_TOKEN_REFUSED   (-2)
int         client_conn_resume      (client_conn_t *self, const char *name, const char *token,
                                     const char *device);
//  JOIN room (idempotent on the broker).
int         client_conn_join        (client_conn_t *self, const char *room);
//  JOIN room only if it exists: for a command that reads a room (its
//  history, its files), which must not create it. A room that does not
//  exist is reported as the broker says it ("pychat: WHAT refused: no such
//  room: ROOM", exit 2).
int         client_conn_enter       (client_conn_t *self, const char *room, const char *what);
//  Sends PING without waiting; its reply is read and dropped by
//  client_conn_drain. 0 or -1 when the socket would block.
int         client_conn_ping_async  (client_conn_t *self);
//  Reads and drops whatever replies are waiting on the DEALER.
void        client_conn_drain       (client_conn_t *self);
//  Best-effort LOGOUT keep (the resume token stays valid for the next
//  command): waits at most a short while for the reply.
void        client_conn_logout      (client_conn_t *self);

//  Quiet: a request that times out prints nothing (reconnect loops report
//  the outage themselves). ERROR replies are still reported.
void        client_conn_set_quiet   (client_conn_t *self, bool quiet);
//  Changes how long each later request waits for its reply.
void        client_conn_set_timeout (client_conn_t *self, int timeout_ms);
//  True after a successful LOGIN (and until LOGOUT or forget_login).
bool        client_conn_logged_in   (client_conn_t *self);
//  The broker answered 403 "log in first" (it restarted): LOGIN again.
void        client_conn_forget_login (client_conn_t *self);
const char *client_conn_endpoint    (client_conn_t *self);
//  The broker's host (of "tcp://HOST:PORT"): other services of the
//  broker's (the file service) are reached there.
const char *client_conn_host        (client_conn_t *self);

//  Copies text into out with every control character (but TAB) replaced
//  by '?': what a server says is printed to a terminal.
void        client_conn_sanitize    (const char *text, char *out, size_t size);

#endif

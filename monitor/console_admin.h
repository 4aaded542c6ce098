//  console_admin.h: the console's admin actions (BAN, UNBAN, KICK) over a
//  CURVE DEALER to the broker, with the server's admin key: the broker
//  treats that key as its admin, no LOGIN needed (see authsvc/admin.c).
//
//  One request at a time, never waited for: the main loop polls the socket
//  (console_admin_socket) and calls console_admin_poll, which gives the
//  result line, or "no answer from the broker" after 3 s.
//
//      console_admin_t *admin = console_admin_new (&config);   //  NULL: no admin key
//      console_admin_send (admin, &action, result, sizeof (result));
//      ...poll console_admin_socket (admin)...
//      if (console_admin_poll (admin, zclock_mono (), result, sizeof (result))) show it
#ifndef CONSOLE_ADMIN_H_INCLUDED
#define CONSOLE_ADMIN_H_INCLUDED

#include "console_ui.h"
#include "pc_config.h"

#include <czmq.h>

typedef struct _console_admin_t console_admin_t;

//  NULL when $PYCHAT_DATA/keys/admin.key cannot be read.
console_admin_t *console_admin_new     (pc_config_t *config);
void             console_admin_destroy (console_admin_t **self_p);
//  Sends the action: 0, or -1 with the reason in result (another action in
//  flight, a bad name, no broker key).
int              console_admin_send    (console_admin_t *self, console_ui_action_t *action,
                                        char *result, size_t size);
//  True while a request waits for its answer.
bool             console_admin_busy    (console_admin_t *self);
//  The DEALER to poll, or NULL when there is none.
zsock_t         *console_admin_socket  (console_admin_t *self);
//  Reads what the broker sent and checks the timeout: true with the
//  result line in result when the request in flight is over.
bool             console_admin_poll    (console_admin_t *self, int64_t now,
                                        char *result, size_t size);
#endif

//  client_cmd.h: the scriptable commands of `pychat` and their output.
//
//  Each command takes the global options and its own arguments (argv [0]
//  is the command name) and returns the process exit code (PC_EXIT_*),
//  having printed ONE line on stderr for any failure.
#ifndef CLIENT_CMD_H_INCLUDED
#define CLIENT_CMD_H_INCLUDED

#include <limits.h>
#include <stdio.h>
#include <stdbool.h>

typedef struct {
    const char *server;             //  tcp://HOST:PORT
    const char *server_key;         //  Z85, or NULL when none was found
    const char *user;               //  folded and valid, or NULL when none given
    int         timeout_ms;         //  request replies
    bool        timeout_given;      //  --timeout was given (else commands may differ)
    char        home [PATH_MAX];    //  PYCHAT_HOME: the device key
} client_opts_t;

int     client_cmd_register (client_opts_t *opts, int argc, char **argv);
int     client_cmd_send     (client_opts_t *opts, int argc, char **argv);
int     client_cmd_edit     (client_opts_t *opts, int argc, char **argv);
int     client_cmd_delete   (client_opts_t *opts, int argc, char **argv);
int     client_cmd_react    (client_opts_t *opts, int argc, char **argv);
int     client_cmd_listen   (client_opts_t *opts, int argc, char **argv);
int     client_cmd_rooms    (client_opts_t *opts, int argc, char **argv);
int     client_cmd_who      (client_opts_t *opts, int argc, char **argv);
int     client_cmd_away     (client_opts_t *opts, int argc, char **argv);
//  A WHO room presence field, "NAME online" or "NAME away TEXT" (a plain
//  "NAME" from an older broker: state ""): 0 with name, state and away
//  (the away message, "" when none) filled, -1 when malformed.
int     client_cmd_presence_parse (const char *field, char *name, char *state, char *away,
                                   size_t away_size);
int     client_cmd_sessions (client_opts_t *opts, int argc, char **argv);
int     client_cmd_logout   (client_opts_t *opts, int argc, char **argv);
int     client_cmd_ping     (client_opts_t *opts, int argc, char **argv);
int     client_cmd_history  (client_opts_t *opts, int argc, char **argv);
int     client_cmd_search   (client_opts_t *opts, int argc, char **argv);
int     client_cmd_dm       (client_opts_t *opts, int argc, char **argv);
int     client_cmd_trust    (client_opts_t *opts, int argc, char **argv);
int     client_cmd_fingerprint (client_opts_t *opts, int argc, char **argv);
int     client_cmd_devices  (client_opts_t *opts, int argc, char **argv);
int     client_cmd_admin    (client_opts_t *opts, int argc, char **argv);
int     client_cmd_passwd   (client_opts_t *opts, int argc, char **argv);
int     client_cmd_delete_account (client_opts_t *opts, int argc, char **argv);
int     client_cmd_create_room (client_opts_t *opts, int argc, char **argv);
int     client_cmd_invite   (client_opts_t *opts, int argc, char **argv);
int     client_cmd_slowmode (client_opts_t *opts, int argc, char **argv);
int     client_cmd_put      (client_opts_t *opts, int argc, char **argv);
int     client_cmd_files    (client_opts_t *opts, int argc, char **argv);
int     client_cmd_get      (client_opts_t *opts, int argc, char **argv);
int     client_cmd_rm       (client_opts_t *opts, int argc, char **argv);
int     client_cmd_read     (client_opts_t *opts, int argc, char **argv);
int     client_cmd_unread   (client_opts_t *opts, int argc, char **argv);
int     client_cmd_mentions (client_opts_t *opts, int argc, char **argv);
int     client_cmd_notify   (client_opts_t *opts, int argc, char **argv);

//  Folds a room name as typed ("Dev", "#dev") into out (size: at least
//  PC_NAME_MAX + 1); PC_EXIT_REJECTED with one line on stderr when bad.
int     client_cmd_room_arg (const char *arg, char *out, size_t size);
//  SLOWMODE's seconds as typed: a whole number 0-PC_SLOWMODE_MAX
//  (PROTOCOL.md), digits only; -1 for anything else. The CLI and the
//  full-screen client check it before anything is sent.
long    client_cmd_slowmode_seconds (const char *arg);
//  The usage text, on stdout (help) or stderr (bad usage).
void    client_cmd_usage    (FILE *stream);
//  One line on stderr: "pychat: " + format (with arg) and where the usage
//  is; PC_EXIT_USAGE.
int     client_cmd_usage_error (const char *format, const char *arg);

#endif

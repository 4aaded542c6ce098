//  client_token.h: the resume token a client keeps for a user, and the
//  device name it logs in under (PROTOCOL.md, "Sessions and resume tokens").
//
//  PYCHAT_HOME/tokens/USER (mode 0600): one line, the server's public key,
//  the token, its id and a check of PYCHAT_PASSWORD (a keyed BLAKE2b, "-"
//  when the password was typed), separated by spaces. When PYCHAT_PASSWORD
//  is set and differs from the one the token came with, the token is not
//  used: an explicitly given password is always checked by the server. A token is used only with the server it came
//  from; a refused one is forgotten and the password asked for instead.
#ifndef CLIENT_TOKEN_H_INCLUDED
#define CLIENT_TOKEN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define CLIENT_TOKEN_MAX    80          //  bytes of a token, NUL included
#define CLIENT_TOKEN_SID    24          //  bytes of a token id
#define CLIENT_DEVICE_MAX   65          //  bytes of a device name

//  The device name: PYCHAT_DEVICE, else the host name; only printable
//  ASCII without spaces (others become '_'), at most 64 bytes.
void    client_token_device (char *device, size_t size);
//  The token saved for user with server_key: true with token and sid
//  filled (each CLIENT_TOKEN_MAX / CLIENT_TOKEN_SID bytes), else false.
bool    client_token_load   (const char *home, const char *user, const char *server_key,
                             char *token, char *sid);
//  Saves it (mode 0600, atomically). 0, or -1 (a message is printed).
int     client_token_save   (const char *home, const char *user, const char *server_key,
                             const char *token, const char *sid);
//  Forgets user's token (the file is removed).
void    client_token_forget (const char *home, const char *user);

//  Saves token (NULL: forgets the saved one): what a session engine's
//  events.token does.
void    client_token_update (const char *home, const char *user, const char *server_key,
                             const char *token, const char *sid);
//  A password for user after a refused token: PYCHAT_PASSWORD, else asked
//  on the terminal. 0, or -1 (a message is printed).
int     client_token_password (const char *user, char *password, size_t size);
//  Gives a session engine (client_session_t *) the device name and the
//  token saved for user and server_key, if any: true when there was one.
bool    client_token_setup  (void *session, const char *home, const char *user,
                             const char *server_key);

void    client_token_test   (bool verbose);
#endif

//  client_token.c: the saved resume token and the device name.
#include "client_token.h"
#include "client_state.h"
#include "client_session.h"
#include "client_cmd_core.h"

#include <czmq.h>
#include <sodium.h>
#include <unistd.h>

void
client_token_device (char *device, size_t size)
{
    char host [256] = "";
    const char *name = getenv ("PYCHAT_DEVICE");
    if (!name || !*name) {
        if (gethostname (host, sizeof (host) - 1) != 0 || !*host)
            snprintf (host, sizeof (host), "unknown");
        name = host;
    }
    size_t max = size < CLIENT_DEVICE_MAX? size: CLIENT_DEVICE_MAX;
    size_t i = 0;
    for (; name [i] && i + 1 < max; i++)
        device [i] = name [i] > 0x20 && name [i] < 0x7f? name [i]: '_';
    device [i] = 0;
}

//  What binds a saved token to PYCHAT_PASSWORD as it was when the token
//  came: BLAKE2b of the password keyed with the token ("-" when the
//  password was typed, not in the environment). A command run with another
//  PYCHAT_PASSWORD logs in with that password instead of the token: a
//  password given explicitly is always the one checked.
static void
s_password_check (const char *token, char *check, size_t size)
{
    const char *password = getenv ("PYCHAT_PASSWORD");
    if (!password || !*password || size < 65) {
        snprintf (check, size, "-");
        return;
    }
    uint8_t digest [32];
    crypto_generichash (digest, sizeof (digest), (const uint8_t *) password, strlen (password),
                        (const uint8_t *) token, strlen (token) > 64? 64: strlen (token));
    sodium_bin2hex (check, size, digest, sizeof (digest));
}

static void
s_path (const char *home, const char *user, char *path, size_t size)
{
    snprintf (path, size, "%s/tokens/%s", home, user);
}

bool
client_token_load (const char *home, const char *user, const char *server_key,
                   char *token, char *sid)
{
    char path [1024], text [256];
    s_path (home, user, path, sizeof (path));
    if (!server_key || client_state_read_text (path, text, sizeof (text)) == -1)
        return false;
    char *key = strtok (text, " ");
    char *tok = key? strtok (NULL, " "): NULL;
    char *id = tok? strtok (NULL, " "): NULL;
    char *saved_check = id? strtok (NULL, " "): NULL;
    bool found = id && streq (key, server_key) && strlen (tok) < CLIENT_TOKEN_MAX
              && strlen (id) < CLIENT_TOKEN_SID;
    if (found && saved_check && !streq (saved_check, "-")) {
        char check [65];
        s_password_check (tok, check, sizeof (check));
        found = streq (check, "-") || streq (check, saved_check);
    }
    if (found) {
        snprintf (token, CLIENT_TOKEN_MAX, "%s", tok);
        snprintf (sid, CLIENT_TOKEN_SID, "%s", id);
    }
    sodium_memzero (text, sizeof (text));
    return found;
}

int
client_token_save (const char *home, const char *user, const char *server_key,
                   const char *token, const char *sid)
{
    char path [1024], text [256], check [65];
    s_path (home, user, path, sizeof (path));
    s_password_check (token, check, sizeof (check));
    snprintf (text, sizeof (text), "%s %s %s %s\n", server_key, token, sid, check);
    int rc = client_state_write_atomic (path, text, 0600);
    sodium_memzero (text, sizeof (text));
    if (rc == -1)
        fprintf (stderr, "pychat: cannot save the session token in %s: %s\n", path, strerror (errno));
    return rc;
}

void
client_token_forget (const char *home, const char *user)
{
    char path [1024];
    s_path (home, user, path, sizeof (path));
    unlink (path);
}

void
client_token_update (const char *home, const char *user, const char *server_key,
                     const char *token, const char *sid)
{
    if (token)
        client_token_save (home, user, server_key, token, sid? sid: "-");
    else
        client_token_forget (home, user);
}

int
client_token_password (const char *user, char *password, size_t size)
{
    session_t session;
    memset (&session, 0, sizeof (session));
    int rc = cmd_get_password (&session, user, false);
    if (rc == 0)
        snprintf (password, size, "%s", session.password);
    sodium_memzero (session.password, sizeof (session.password));
    return rc == 0? 0: -1;
}

bool
client_token_setup (void *session, const char *home, const char *user, const char *server_key)
{
    char device [CLIENT_DEVICE_MAX], token [CLIENT_TOKEN_MAX], sid [CLIENT_TOKEN_SID];
    client_token_device (device, sizeof (device));
    client_session_set_device ((client_session_t *) session, device);
    bool found = user && client_token_load (home, user, server_key, token, sid);
    if (found)
        client_session_set_token ((client_session_t *) session, token);
    sodium_memzero (token, sizeof (token));
    return found;
}

void
client_token_test (bool verbose)
{
    printf (" * client_token: ");
    char home [] = "/tmp/pychat-token-test-XXXXXX";
    assert (mkdtemp (home));
    char token [CLIENT_TOKEN_MAX], sid [CLIENT_TOKEN_SID];
    assert (!client_token_load (home, "alice", "KEY", token, sid));
    assert (client_token_save (home, "alice", "KEY", "abc123", "0011") == 0);
    assert (client_token_load (home, "alice", "KEY", token, sid));
    assert (streq (token, "abc123") && streq (sid, "0011"));
    assert (!client_token_load (home, "alice", "OTHER", token, sid));
    //  Saved under one PYCHAT_PASSWORD: another one is not served the token
    setenv ("PYCHAT_PASSWORD", "first", 1);
    assert (client_token_save (home, "alice", "KEY", "abc123", "0011") == 0);
    assert (client_token_load (home, "alice", "KEY", token, sid));
    setenv ("PYCHAT_PASSWORD", "second", 1);
    assert (!client_token_load (home, "alice", "KEY", token, sid));
    unsetenv ("PYCHAT_PASSWORD");
    assert (client_token_load (home, "alice", "KEY", token, sid));
    char path [1200];
    snprintf (path, sizeof (path), "%s/tokens/alice", home);
    struct stat st;
    assert (stat (path, &st) == 0 && (st.st_mode & 0777) == 0600);
    client_token_forget (home, "alice");
    assert (!client_token_load (home, "alice", "KEY", token, sid));
    setenv ("PYCHAT_DEVICE", "my laptop", 1);
    char device [CLIENT_DEVICE_MAX];
    client_token_device (device, sizeof (device));
    assert (streq (device, "my_laptop"));
    unsetenv ("PYCHAT_DEVICE");
    client_token_device (device, sizeof (device));
    assert (*device && !strchr (device, ' '));
    snprintf (path, sizeof (path), "%s/tokens", home);
    rmdir (path);
    rmdir (home);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

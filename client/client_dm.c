//  client_dm.c: sealing, opening, pinning and fingerprints of direct messages.
#include "client_dm.h"
#include "pc_proto.h"
#include "client_state.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <errno.h>
#include <sodium.h>

int
client_dm_device_load (const char *home, client_dm_keys_t *keys)
{
    memset (keys, 0, sizeof (*keys));
    if (sodium_init () < 0) {
        fprintf (stderr, "pychat: libsodium cannot start\n");
        return PC_EXIT_USAGE;
    }
    zcert_t *device = pc_keys_ensure (home, "device");
    if (!device) {
        fprintf (stderr, "pychat: cannot create or read the device key in %s: %s\n",
                 home, strerror (errno));
        return PC_EXIT_USAGE;
    }
    memcpy (keys->public_key, zcert_public_key (device), CLIENT_DM_KEY);
    memcpy (keys->secret_key, zcert_secret_key (device), CLIENT_DM_KEY);
    snprintf (keys->public_txt, sizeof (keys->public_txt), "%s", zcert_public_txt (device));
    //  czmq does not wipe what it frees: do it for it (the cert owns this
    //  memory; it is const only in the API)
    sodium_memzero ((void *) zcert_secret_key (device), CLIENT_DM_KEY);
    char *secret_txt = (char *) zcert_secret_txt (device);
    sodium_memzero (secret_txt, strlen (secret_txt));
    zcert_destroy (&device);
    return 0;
}

void
client_dm_keys_clear (client_dm_keys_t *keys)
{
    sodium_memzero (keys, sizeof (*keys));
}

char *
client_dm_seal (const char *text, size_t size,
                const uint8_t *recipient_public, const uint8_t *own_secret)
{
    size_t sealed_size = crypto_box_NONCEBYTES + crypto_box_MACBYTES + size;
    uint8_t *sealed = (uint8_t *) malloc (sealed_size);
    assert (sealed);
    randombytes_buf (sealed, crypto_box_NONCEBYTES);
    if (crypto_box_easy (sealed + crypto_box_NONCEBYTES, (const uint8_t *) text, size,
                         sealed, recipient_public, own_secret) != 0) {
        free (sealed);
        return NULL;                //  a weak (all-zero) public key
    }
    size_t b64_size = sodium_base64_ENCODED_LEN (sealed_size, sodium_base64_VARIANT_ORIGINAL);
    char *box = (char *) malloc (b64_size);
    assert (box);
    sodium_bin2base64 (box, b64_size, sealed, sealed_size, sodium_base64_VARIANT_ORIGINAL);
    free (sealed);
    return box;
}

char *
client_dm_open (const char *box, const uint8_t *sender_public, const uint8_t *own_secret)
{
    size_t box_size = strlen (box);
    if (box_size > PC_BOX_MAX)
        return NULL;
    size_t max = box_size / 4 * 3 + 3;
    uint8_t *sealed = (uint8_t *) malloc (max + 1);
    assert (sealed);
    size_t sealed_size = 0;
    if (sodium_base642bin (sealed, max, box, box_size, NULL, &sealed_size, NULL,
                           sodium_base64_VARIANT_ORIGINAL) != 0
    ||  sealed_size < crypto_box_NONCEBYTES + crypto_box_MACBYTES) {
        free (sealed);
        return NULL;
    }
    size_t size = sealed_size - crypto_box_NONCEBYTES - crypto_box_MACBYTES;
    char *text = (char *) malloc (size + 1);
    assert (text);
    int rc = crypto_box_open_easy ((uint8_t *) text, sealed + crypto_box_NONCEBYTES,
                                   sealed_size - crypto_box_NONCEBYTES, sealed,
                                   sender_public, own_secret);
    free (sealed);
    if (rc != 0 || size == 0 || !pc_utf8_valid (text, size)) {
        sodium_memzero (text, size + 1);
        free (text);
        return NULL;
    }
    text [size] = 0;
    return text;
}

void
client_dm_fingerprint (const uint8_t *public_key, char *out)
{
    uint8_t hash [16];
    crypto_generichash (hash, sizeof (hash), public_key, CLIENT_DM_KEY, NULL, 0);
    char *p = out;
    for (int i = 0; i < 16; i += 2) {
        if (i)
            *p++ = ' ';
        sprintf (p, "%02x%02x", hash [i], hash [i + 1]);
        p += 4;
    }
    *p = 0;
}

bool
client_dm_z85_decode (const char *z85, uint8_t *out)
{
    if (!z85 || !pc_keys_valid_z85 (z85))
        return false;
    return zmq_z85_decode (out, z85) != NULL;
}

bool
client_dm_fingerprint_z85 (const char *z85, char *out)
{
    uint8_t key [CLIENT_DM_KEY];
    if (!client_dm_z85_decode (z85, key))
        return false;
    client_dm_fingerprint (key, out);
    return true;
}

static void
s_pin_path (const char *home, const char *user, char *path, size_t size)
{
    snprintf (path, size, "%s/peers/%s", home, user);
}

bool
client_dm_pin_load (const char *home, const char *user, char *z85)
{
    char path [PATH_MAX], text [64];
    s_pin_path (home, user, path, sizeof (path));
    if (client_state_read_text (path, text, sizeof (text)) == -1 || !pc_keys_valid_z85 (text))
        return false;
    snprintf (z85, CLIENT_DM_Z85, "%s", text);
    return true;
}

int
client_dm_pin_save (const char *home, const char *user, const char *z85)
{
    char path [PATH_MAX], text [64];
    s_pin_path (home, user, path, sizeof (path));
    snprintf (text, sizeof (text), "%s\n", z85);
    if (client_state_write_atomic (path, text, 0644) == -1) {
        fprintf (stderr, "pychat: cannot save %s: %s\n", path, strerror (errno));
        return -1;
    }
    return 0;
}

bool
client_dm_no_such_user (pc_msg_t *reply)
{
    if (!reply || !pc_msg_is (reply, "ERROR") || pc_msg_error_code (reply) != PC_ERR_NOT_FOUND)
        return false;
    const char *detail = pc_error_detail (reply);
    return detail && streq (detail, PC_GETKEY_NO_USER);
}

int
client_dm_getkey (client_conn_t *conn, const char *user, char *z85)
{
    pc_msg_t *request = pc_msg_new ("GETKEY");
    pc_msg_add (request, user);
    pc_msg_t *reply = NULL;
    int rc = client_conn_request (conn, request, &reply);
    pc_msg_destroy (&request);
    if (rc)
        return rc;
    if (pc_msg_is (reply, "ERROR")) {
        int code = pc_msg_error_code (reply);
        if (client_dm_no_such_user (reply)) {
            fprintf (stderr, "pychat: no such user: %s\n", user);
            rc = PC_EXIT_REFUSED;
        }
        else
        if (code == PC_ERR_NOT_FOUND)
            rc = 1;
        else {
            char reason [160];
            client_conn_sanitize (pc_msg_error_reason (reply), reason, sizeof (reason));
            fprintf (stderr, "pychat: key lookup of %s refused: %s\n", user, reason);
            rc = pc_error_exit (code);
        }
    }
    else {
        const char *key = pc_getkey_ok_key (reply);
        if (!key || !pc_keys_valid_z85 (key)) {
            fprintf (stderr, "pychat: malformed GETKEY reply (no key)\n");
            rc = PC_EXIT_UNREACHABLE;
        }
        else
            snprintf (z85, CLIENT_DM_Z85, "%s", key);
    }
    pc_msg_destroy (&reply);
    return rc;
}

int
client_dm_peer_key (client_conn_t *conn, const char *home, const char *user, char *z85)
{
    int rc = client_dm_getkey (conn, user, z85);
    if (rc == 1) {
        fprintf (stderr, "pychat: %s has no key yet (they must log in once)\n", user);
        return PC_EXIT_REFUSED;
    }
    if (rc)
        return rc;
    char pinned [CLIENT_DM_Z85] = "";
    if (!client_dm_pin_load (home, user, pinned))
        return client_dm_pin_save (home, user, z85)? PC_EXIT_USAGE: 0;
    if (!streq (pinned, z85)) {
        fprintf (stderr, "pychat: %s's key has changed since you last talked; compare "
                         "`pychat fingerprint %s` out of band, then run `pychat trust %s`\n",
                 user, user, user);
        return PC_EXIT_REFUSED;
    }
    return 0;
}

int
client_dm_publish (client_conn_t *conn, const char *user, const client_dm_keys_t *keys)
{
    char current [CLIENT_DM_Z85] = "";
    int rc = client_dm_getkey (conn, user, current);
    if (rc == 0 && streq (current, keys->public_txt))
        return 0;
    if (rc != 0 && rc != 1)
        return rc;
    pc_msg_t *request = pc_msg_new ("SETKEY");
    pc_msg_add (request, keys->public_txt);
    pc_msg_t *reply = NULL;
    rc = client_conn_call (conn, "publishing the device key", request, &reply);
    pc_msg_destroy (&request);
    pc_msg_destroy (&reply);
    return rc;
}

//  client_dm.c: sealing, opening, pinning and fingerprints of direct messages.
#include "client_dm.h"
#include "pc_proto.h"
#include "client_state.h"
#include "pc_keys.h"
#include "pc_limits.h"
#include "pc_util.h"
#include "client_token.h"

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
    pc_keys_device_id (keys->public_txt, keys->id);
    //  The name given with `pychat devices name`, else the session's
    char path [PATH_MAX], name [CLIENT_DM_NAME] = "";
    snprintf (path, sizeof (path), "%s/device.name", home);
    if (client_state_read_text (path, name, sizeof (name)) == -1 || !*name)
        client_token_device (name, sizeof (name));
    snprintf (keys->name, sizeof (keys->name), "%s", name);
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

//  --------------------------------------------------------------------------
//  Boxes for several devices

#define KEYBOX_PLAIN    (crypto_secretbox_KEYBYTES + 16)
#define KEYBOX_SEALED   (crypto_box_NONCEBYTES + crypto_box_MACBYTES + KEYBOX_PLAIN)

static char *
s_base64 (const uint8_t *data, size_t size)
{
    size_t b64_size = sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_ORIGINAL);
    char *text = (char *) malloc (b64_size);
    assert (text);
    sodium_bin2base64 (text, b64_size, data, size, sodium_base64_VARIANT_ORIGINAL);
    return text;
}

//  Decodes size characters of base64 at text into a new buffer (caller
//  frees) and its length; NULL when not base64.
static uint8_t *
s_unbase64 (const char *text, size_t size, size_t *length)
{
    uint8_t *data = (uint8_t *) malloc (size / 4 * 3 + 4);
    assert (data);
    if (sodium_base642bin (data, size / 4 * 3 + 3, text, size, NULL, length, NULL,
                           sodium_base64_VARIANT_ORIGINAL) != 0) {
        free (data);
        return NULL;
    }
    return data;
}

static bool
s_seal_key (pc_buf_t *out, const char *id, const char *z85, const uint8_t *plain,
            const uint8_t *own_secret)
{
    uint8_t public_key [CLIENT_DM_KEY], sealed [KEYBOX_SEALED];
    if (!client_dm_z85_decode (z85, public_key))
        return false;
    randombytes_buf (sealed, crypto_box_NONCEBYTES);
    if (crypto_box_easy (sealed + crypto_box_NONCEBYTES, plain, KEYBOX_PLAIN, sealed,
                         public_key, own_secret) != 0)
        return false;
    char *text = s_base64 (sealed, sizeof (sealed));
    pc_buf_printf (out, " %s:%s", id, text);
    free (text);
    return true;
}

char *
client_dm_seal_devices (const char *text, size_t size, const client_dm_keys_t *own,
                        const client_dm_devices_t *first, const client_dm_devices_t *second)
{
    uint8_t key [crypto_secretbox_KEYBYTES];
    crypto_secretbox_keygen (key);
    size_t body_size = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + size;
    uint8_t *body = (uint8_t *) malloc (body_size);
    assert (body);
    randombytes_buf (body, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy (body + crypto_secretbox_NONCEBYTES, (const uint8_t *) text, size,
                           body, key);
    char *body_txt = s_base64 (body, body_size);
    free (body);
    uint8_t plain [KEYBOX_PLAIN];
    memcpy (plain, key, sizeof (key));
    crypto_generichash (plain + sizeof (key), 16, (const uint8_t *) body_txt, strlen (body_txt),
                        NULL, 0);
    sodium_memzero (key, sizeof (key));
    pc_buf_t out;
    pc_buf_init (&out);
    pc_buf_printf (&out, "2 %s %s", own->id, body_txt);
    free (body_txt);
    bool ok = true;
    const client_dm_devices_t *lists [2] = { first, second };
    for (int l = 0; l < 2 && ok; l++)
        for (size_t i = 0; lists [l] && i < lists [l]->count && ok; i++) {
            const client_dm_device_t *device = &lists [l]->device [i];
            if (l == 1 && first && client_dm_devices_find (first, device->id))
                continue;
            ok = s_seal_key (&out, device->id, device->z85, plain, own->secret_key);
        }
    sodium_memzero (plain, sizeof (plain));
    if (!ok || out.size > PC_BOX_MAX) {
        pc_buf_free (&out);
        return NULL;
    }
    return out.data;                    //  pc_buf_t's data is malloc'd
}

bool
client_dm_box_sender (const char *box, char *id)
{
    if (!box || strncmp (box, "2 ", 2) != 0)
        return false;
    const char *start = box + 2;
    size_t size = strcspn (start, " ");
    if (size != CLIENT_DM_ID - 1 || start [size] != ' ')
        return false;
    memcpy (id, start, size);
    id [size] = 0;
    return true;
}

//  Opens a box of the current form with the sender's public key.
static char *
s_open_sealed (const char *box, const char *own_id, const uint8_t *sender_public,
               const uint8_t *own_secret)
{
    const char *body = box + 2 + CLIENT_DM_ID;      //  "2 ID "
    size_t body_size = strcspn (body, " ");
    //  this device's key box
    char tag [CLIENT_DM_ID + 2];
    snprintf (tag, sizeof (tag), " %s:", own_id);
    const char *mine = strstr (body + body_size, tag);
    if (!mine)
        return NULL;
    mine += strlen (tag);
    size_t sealed_size = 0;
    uint8_t *sealed = s_unbase64 (mine, strcspn (mine, " "), &sealed_size);
    if (!sealed)
        return NULL;
    uint8_t plain [KEYBOX_PLAIN];
    int rc = sealed_size == KEYBOX_SEALED?
        crypto_box_open_easy (plain, sealed + crypto_box_NONCEBYTES,
                              sealed_size - crypto_box_NONCEBYTES, sealed, sender_public,
                              own_secret): -1;
    free (sealed);
    if (rc != 0)
        return NULL;
    //  the body is the one the key was sealed with
    uint8_t hash [16];
    crypto_generichash (hash, sizeof (hash), (const uint8_t *) body, body_size, NULL, 0);
    size_t cipher_size = 0;
    uint8_t *cipher = sodium_memcmp (hash, plain + crypto_secretbox_KEYBYTES, 16) == 0?
        s_unbase64 (body, body_size, &cipher_size): NULL;
    char *text = NULL;
    if (cipher && cipher_size >= crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        size_t size = cipher_size - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
        text = (char *) malloc (size + 1);
        assert (text);
        if (crypto_secretbox_open_easy ((uint8_t *) text, cipher + crypto_secretbox_NONCEBYTES,
                                        cipher_size - crypto_secretbox_NONCEBYTES, cipher,
                                        plain) != 0
        ||  size == 0 || !pc_utf8_valid (text, size)) {
            sodium_memzero (text, size + 1);
            free (text);
            text = NULL;
        }
        else
            text [size] = 0;
    }
    free (cipher);
    sodium_memzero (plain, sizeof (plain));
    return text;
}

int
client_dm_open_devices (const char *box, const client_dm_keys_t *own,
                        const client_dm_devices_t *sender, char **text)
{
    *text = NULL;
    char id [CLIENT_DM_ID];
    uint8_t sender_public [CLIENT_DM_KEY];
    if (client_dm_box_sender (box, id)) {
        const client_dm_device_t *device = client_dm_devices_find (sender, id);
        if (!device)
            return 1;
        if (!client_dm_z85_decode (device->z85, sender_public))
            return -1;
        *text = s_open_sealed (box, own->id, sender_public, own->secret_key);
        return *text? 0: -1;
    }
    if (strchr (box, ' '))
        return -1;
    //  The older form, sealed for one key: any device of the sender's may
    //  have sealed it
    for (size_t i = 0; i < sender->count && !*text; i++)
        if (client_dm_z85_decode (sender->device [i].z85, sender_public))
            *text = client_dm_open (box, sender_public, own->secret_key);
    return *text? 0: sender->count? -1: 1;
}

char *
client_dm_seal_blob (const uint8_t *plain, size_t size, const client_dm_keys_t *own,
                     const client_dm_devices_t *first, const client_dm_devices_t *second)
{
    pc_buf_t out;
    pc_buf_init (&out);
    pc_buf_printf (&out, "2 %s", own->id);
    size_t sealed_size = crypto_box_NONCEBYTES + crypto_box_MACBYTES + size;
    uint8_t *sealed = (uint8_t *) malloc (sealed_size);
    assert (sealed);
    bool ok = true;
    const client_dm_devices_t *lists [2] = { first, second };
    for (int l = 0; l < 2 && ok; l++)
        for (size_t i = 0; lists [l] && i < lists [l]->count && ok; i++) {
            const client_dm_device_t *device = &lists [l]->device [i];
            uint8_t public_key [CLIENT_DM_KEY];
            if (l == 1 && first && client_dm_devices_find (first, device->id))
                continue;
            ok = client_dm_z85_decode (device->z85, public_key);
            randombytes_buf (sealed, crypto_box_NONCEBYTES);
            ok = ok && crypto_box_easy (sealed + crypto_box_NONCEBYTES, plain, size, sealed,
                                        public_key, own->secret_key) == 0;
            if (ok) {
                char *text = s_base64 (sealed, sealed_size);
                pc_buf_printf (&out, " %s:%s", device->id, text);
                free (text);
            }
        }
    free (sealed);
    if (!ok) {
        pc_buf_free (&out);
        return NULL;
    }
    return out.data;
}

int
client_dm_open_blob (const char *sealed_txt, const client_dm_keys_t *own,
                     const client_dm_devices_t *first, const client_dm_devices_t *second,
                     uint8_t *plain, size_t size)
{
    char id [CLIENT_DM_ID];
    if (!client_dm_box_sender (sealed_txt, id))
        return -1;
    const client_dm_device_t *sender = client_dm_devices_find (first, id);
    if (!sender)
        sender = client_dm_devices_find (second, id);
    uint8_t sender_public [CLIENT_DM_KEY];
    if (!sender || !client_dm_z85_decode (sender->z85, sender_public))
        return -1;
    char tag [CLIENT_DM_ID + 2];
    snprintf (tag, sizeof (tag), " %s:", own->id);
    const char *mine = strstr (sealed_txt + 2, tag);
    if (!mine)
        return -1;
    mine += strlen (tag);
    size_t sealed_size = 0;
    uint8_t *sealed = s_unbase64 (mine, strcspn (mine, " "), &sealed_size);
    if (!sealed)
        return -1;
    int rc = sealed_size == crypto_box_NONCEBYTES + crypto_box_MACBYTES + size?
        crypto_box_open_easy (plain, sealed + crypto_box_NONCEBYTES,
                              sealed_size - crypto_box_NONCEBYTES, sealed, sender_public,
                              own->secret_key): -1;
    free (sealed);
    return rc == 0? 0: -1;
}

//  --------------------------------------------------------------------------
//  Device lists and pins

//  Parses "ID KEY ADDED NAME" (NAME may hold spaces); false when malformed.
static bool
s_device_parse (const char *line, client_dm_device_t *device)
{
    memset (device, 0, sizeof (*device));
    char id [16], z85 [64];
    long long added = 0;
    int name_at = 0;
    if (!line || sscanf (line, "%15s %63s %lld %n", id, z85, &added, &name_at) != 3 || !name_at)
        return false;
    char check [CLIENT_DM_ID];
    if (!pc_keys_device_id (z85, check) || !streq (check, id))
        return false;                   //  an id is its key's: nothing else is taken
    snprintf (device->id, sizeof (device->id), "%s", id);
    snprintf (device->z85, sizeof (device->z85), "%s", z85);
    client_conn_sanitize (line + name_at, device->name, sizeof (device->name));
    device->added = added;
    return true;
}

int
client_dm_devices_parse (pc_msg_t *reply, client_dm_devices_t *devices)
{
    memset (devices, 0, sizeof (*devices));
    if (!reply || !pc_msg_is (reply, "OK"))
        return -1;
    size_t count = pc_getkey_ok_count (reply);
    for (size_t i = 0; i < count && devices->count < PC_DEVICES_MAX; i++)
        if (!s_device_parse (pc_getkey_ok_device (reply, i), &devices->device [devices->count]))
            return -1;
        else
            devices->count++;
    //  A server of the older kind lists no devices: its one key is one
    const char *key = pc_getkey_ok_key (reply);
    if (count == 0 && key && pc_keys_valid_z85 (key)) {
        client_dm_device_t *device = &devices->device [devices->count++];
        pc_keys_device_id (key, device->id);
        snprintf (device->z85, sizeof (device->z85), "%s", key);
        snprintf (device->name, sizeof (device->name), "unknown");
    }
    return devices->count? 0: -1;
}

const client_dm_device_t *
client_dm_devices_find (const client_dm_devices_t *devices, const char *id)
{
    for (size_t i = 0; devices && i < devices->count; i++)
        if (streq (devices->device [i].id, id))
            return &devices->device [i];
    return NULL;
}

static void
s_pin_path (const char *home, const char *user, char *path, size_t size)
{
    snprintf (path, size, "%s/peers/%s", home, user);
}

void
client_dm_pins_load (const char *home, const char *user, client_dm_devices_t *devices)
{
    memset (devices, 0, sizeof (*devices));
    char path [PATH_MAX];
    s_pin_path (home, user, path, sizeof (path));
    FILE *file = fopen (path, "r");
    if (!file)
        return;
    char line [256];
    while (fgets (line, sizeof (line), file) && devices->count < PC_DEVICES_MAX) {
        line [strcspn (line, "\r\n")] = 0;
        client_dm_device_t *device = &devices->device [devices->count];
        if (pc_keys_valid_z85 (line)) {         //  the older form: a key alone
            memset (device, 0, sizeof (*device));
            pc_keys_device_id (line, device->id);
            snprintf (device->z85, sizeof (device->z85), "%s", line);
            snprintf (device->name, sizeof (device->name), "unknown");
            devices->count++;
        }
        else
        if (s_device_parse (line, device))
            devices->count++;
    }
    fclose (file);
}

int
client_dm_pins_save (const char *home, const char *user, const client_dm_devices_t *devices)
{
    char path [PATH_MAX];
    s_pin_path (home, user, path, sizeof (path));
    pc_buf_t text;
    pc_buf_init (&text);
    for (size_t i = 0; i < devices->count; i++)
        pc_buf_printf (&text, "%s %s %lld %s\n", devices->device [i].id, devices->device [i].z85,
                       (long long) devices->device [i].added, devices->device [i].name);
    int rc = client_state_write_atomic (path, text.data? text.data: "", 0644);
    pc_buf_free (&text);
    if (rc == -1) {
        fprintf (stderr, "pychat: cannot save %s: %s\n", path, strerror (errno));
        return -1;
    }
    return 0;
}

void
client_dm_say_stderr (void *arg, bool loud, const char *line)
{
    fprintf (stderr, "pychat: %s%s\n", loud? "WARNING: ": "", line);
}

int
client_dm_devices_check (const char *home, const char *me, const char *own_id,
                         const char *user, const client_dm_devices_t *server,
                         client_dm_say_fn *say, void *arg)
{
    client_dm_devices_t pins;
    client_dm_pins_load (home, user, &pins);
    bool first_use = pins.count == 0, own = me && streq (me, user), changed = false;
    char line [400], finger [CLIENT_DM_FINGER];
    for (size_t i = 0; i < server->count; i++) {
        const client_dm_device_t *device = &server->device [i];
        const client_dm_device_t *pinned = client_dm_devices_find (&pins, device->id);
        if (pinned && !streq (pinned->z85, device->z85)) {
            snprintf (line, sizeof (line), "%s's key has changed since you last talked; compare "
                      "`pychat fingerprint %s` out of band, then run `pychat trust %s`",
                      user, user, user);
            say (arg, false, line);
            return 1;
        }
        if (!pinned && !first_use) {
            client_dm_fingerprint_z85 (device->z85, finger);
            if (own && !(own_id && streq (device->id, own_id)))
                snprintf (line, sizeof (line), "a device you did not add here appeared on your "
                          "account %s: '%s' (id %s, fingerprint %s); if it is not yours, run "
                          "`pychat devices revoke %s` and change your password",
                          user, device->name, device->id, finger, device->id);
            else
                snprintf (line, sizeof (line), "%s added a device '%s' (id %s) — fingerprint %s",
                          user, device->name, device->id, finger);
            say (arg, own && !(own_id && streq (device->id, own_id)), line);
        }
        changed |= !pinned || !streq (pinned->name, device->name);
    }
    for (size_t i = 0; i < pins.count; i++)
        if (!client_dm_devices_find (server, pins.device [i].id)) {
            snprintf (line, sizeof (line), "%s no longer has the device '%s' (id %s)",
                      user, pins.device [i].name, pins.device [i].id);
            say (arg, false, line);
            changed = true;
        }
    if (changed && client_dm_pins_save (home, user, server))
        return -1;
    return 0;
}

pc_msg_t *
client_dm_setkey_new (const client_dm_keys_t *own)
{
    pc_msg_t *request = pc_msg_new ("SETKEY");
    pc_msg_add (request, own->public_txt);
    pc_msg_add (request, own->name);
    return request;
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

bool
client_dm_no_such_user (pc_msg_t *reply)
{
    if (!reply || !pc_msg_is (reply, "ERROR") || pc_msg_error_code (reply) != PC_ERR_NOT_FOUND)
        return false;
    const char *detail = pc_error_detail (reply);
    return detail && streq (detail, PC_GETKEY_NO_USER);
}

int
client_dm_devices_get (client_conn_t *conn, const char *user, client_dm_devices_t *devices)
{
    memset (devices, 0, sizeof (*devices));
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
    else
    if (client_dm_devices_parse (reply, devices)) {
        fprintf (stderr, "pychat: malformed GETKEY reply (no devices)\n");
        rc = PC_EXIT_UNREACHABLE;
    }
    pc_msg_destroy (&reply);
    return rc;
}

int
client_dm_peer_devices (client_conn_t *conn, const char *home, const char *me,
                        const char *own_id, const char *user, client_dm_devices_t *devices)
{
    int rc = client_dm_devices_get (conn, user, devices);
    if (rc == 1) {
        fprintf (stderr, "pychat: %s has no key yet (they must log in once)\n", user);
        return PC_EXIT_REFUSED;
    }
    if (rc)
        return rc;
    rc = client_dm_devices_check (home, me, own_id, user, devices, client_dm_say_stderr, NULL);
    return rc == 1? PC_EXIT_REFUSED: rc == -1? PC_EXIT_USAGE: 0;
}

//  A revoked device is told so and goes on: its session still works, it
//  only no longer takes part in direct messages.
void
client_dm_setkey_refused (pc_msg_t *reply, client_dm_say_fn *say, void *arg)
{
    if (!reply || !pc_msg_is (reply, "ERROR"))
        return;
    char reason [160], line [240];
    client_conn_sanitize (pc_msg_error_reason (reply), reason, sizeof (reason));
    snprintf (line, sizeof (line), "this device's DM key was not published (%s): direct "
              "messages will not be sealed for it", reason);
    say (arg, true, line);
}

int
client_dm_publish (client_conn_t *conn, const char *user, const client_dm_keys_t *keys)
{
    pc_msg_t *request = client_dm_setkey_new (keys);
    pc_msg_t *reply = NULL;
    int rc = client_conn_request (conn, request, &reply);
    pc_msg_destroy (&request);
    if (rc == 0 && pc_msg_is (reply, "ERROR")) {
        int code = pc_msg_error_code (reply);
        if (code == PC_ERR_FORBIDDEN || code == PC_ERR_CONFLICT)
            client_dm_setkey_refused (reply, client_dm_say_stderr, NULL);
        else
            rc = client_conn_report ("publishing the device key", reply);
    }
    pc_msg_destroy (&reply);
    return rc;
}

//  --------------------------------------------------------------------------
//  Selftest

static void
s_test_device (client_dm_device_t *device, client_dm_keys_t *keys, const char *name)
{
    memset (keys, 0, sizeof (*keys));
    crypto_box_keypair (keys->public_key, keys->secret_key);
    zmq_z85_encode (keys->public_txt, keys->public_key, CLIENT_DM_KEY);
    pc_keys_device_id (keys->public_txt, keys->id);
    snprintf (keys->name, sizeof (keys->name), "%s", name);
    memset (device, 0, sizeof (*device));
    snprintf (device->id, sizeof (device->id), "%s", keys->id);
    snprintf (device->z85, sizeof (device->z85), "%s", keys->public_txt);
    snprintf (device->name, sizeof (device->name), "%s", name);
}

static void
s_test_say (void *arg, bool loud, const char *line)
{
    int *said = (int *) arg;
    said [loud? 1: 0]++;
}

void
client_dm_test (bool verbose)
{
    printf (" * client_dm: ");
    assert (sodium_init () >= 0);
    //  alice (desk), bob (desk, laptop), carol
    client_dm_keys_t alice, bob_desk, bob_laptop, carol;
    client_dm_devices_t alices, bobs, carols;
    memset (&alices, 0, sizeof (alices));
    memset (&bobs, 0, sizeof (bobs));
    memset (&carols, 0, sizeof (carols));
    alices.count = carols.count = 1;
    bobs.count = 2;
    s_test_device (&alices.device [0], &alice, "desk");
    s_test_device (&bobs.device [0], &bob_desk, "desk");
    s_test_device (&bobs.device [1], &bob_laptop, "my laptop");
    s_test_device (&carols.device [0], &carol, "phone");

    char *box = client_dm_seal_devices ("hello bob", 9, &alice, &bobs, &alices);
    assert (box);
    char id [CLIENT_DM_ID];
    assert (client_dm_box_sender (box, id) && streq (id, alice.id));
    char *text = NULL;
    //  both of bob's devices and alice's own open it; carol does not
    assert (client_dm_open_devices (box, &bob_desk, &alices, &text) == 0 && streq (text, "hello bob"));
    free (text);
    assert (client_dm_open_devices (box, &bob_laptop, &alices, &text) == 0 && streq (text, "hello bob"));
    free (text);
    assert (client_dm_open_devices (box, &alice, &alices, &text) == 0);
    free (text);
    assert (client_dm_open_devices (box, &carol, &alices, &text) == -1 && !text);
    //  the sender unknown: look up again
    assert (client_dm_open_devices (box, &bob_desk, &carols, &text) == 1);
    //  a body swapped under a key box, a flipped byte: refused
    char *other = client_dm_seal_devices ("forged!!!", 9, &alice, &bobs, NULL);
    assert (other);
    char *forged = strdup (box);
    const char *other_body = other + 2 + CLIENT_DM_ID;
    char *body = forged + 2 + CLIENT_DM_ID;
    size_t body_size = strcspn (body, " ");
    assert (body_size == strcspn (other_body, " "));
    memcpy (body, other_body, body_size);
    assert (client_dm_open_devices (forged, &bob_desk, &alices, &text) == -1);
    free (forged);
    forged = strdup (box);
    forged [2 + CLIENT_DM_ID + 20] = forged [2 + CLIENT_DM_ID + 20] == 'A'? 'B': 'A';
    assert (client_dm_open_devices (forged, &bob_laptop, &alices, &text) == -1);
    free (forged);
    free (other);
    free (box);
    //  the older form still opens
    char *old = client_dm_seal ("old form", 8, bob_desk.public_key, alice.secret_key);
    assert (!client_dm_box_sender (old, id));
    assert (client_dm_open_devices (old, &bob_desk, &alices, &text) == 0 && streq (text, "old form"));
    free (text);
    free (old);
    //  a full text for PC_DEVICES_MAX devices on each side fits
    client_dm_devices_t many, mine;
    many.count = mine.count = PC_DEVICES_MAX;
    client_dm_keys_t scratch;
    for (size_t i = 0; i < PC_DEVICES_MAX; i++) {
        s_test_device (&many.device [i], &scratch, "x");
        s_test_device (&mine.device [i], &scratch, "y");
    }
    char *full = (char *) malloc (PC_TEXT_MAX);
    memset (full, 'a', PC_TEXT_MAX);
    box = client_dm_seal_devices (full, PC_TEXT_MAX, &alice, &many, &mine);
    assert (box && strlen (box) <= PC_BOX_MAX);
    free (box);
    free (full);

    //  A blob for bob's devices and alice's own opens on each, not on carol's
    uint8_t secret [40], back [40];
    memset (secret, 7, sizeof (secret));
    char *blob = client_dm_seal_blob (secret, sizeof (secret), &alice, &bobs, &alices);
    assert (blob);
    assert (client_dm_open_blob (blob, &bob_laptop, &alices, NULL, back, sizeof (back)) == 0);
    assert (memcmp (back, secret, sizeof (back)) == 0);
    assert (client_dm_open_blob (blob, &alice, &bobs, &alices, back, sizeof (back)) == 0);
    assert (client_dm_open_blob (blob, &carol, &alices, &bobs, back, sizeof (back)) == -1);
    assert (client_dm_open_blob (blob, &bob_desk, &bobs, NULL, back, sizeof (back)) == -1);
    free (blob);

    //  Pins: first use silent, a new device announced (loudly for one's
    //  own), a changed key refused, a device gone unpinned
    char dir [] = "/tmp/client_dm_test.XXXXXX";
    assert (mkdtemp (dir));
    int said [2] = { 0, 0 };
    client_dm_devices_t one = bobs;
    one.count = 1;
    assert (client_dm_devices_check (dir, "alice", alice.id, "bob", &one, s_test_say, said) == 0);
    assert (said [0] == 0 && said [1] == 0);
    assert (client_dm_devices_check (dir, "alice", alice.id, "bob", &bobs, s_test_say, said) == 0);
    assert (said [0] == 1 && said [1] == 0);
    client_dm_devices_t pins;
    client_dm_pins_load (dir, "bob", &pins);
    assert (pins.count == 2 && streq (pins.device [1].name, "my laptop"));
    client_dm_devices_t evil = bobs;
    snprintf (evil.device [1].z85, CLIENT_DM_Z85, "%s", carol.public_txt);
    assert (client_dm_devices_check (dir, "alice", alice.id, "bob", &evil, s_test_say, said) == 1);
    assert (client_dm_devices_check (dir, "bob", bob_desk.id, "bob", &one, s_test_say, said) == 0);
    assert (client_dm_devices_check (dir, "bob", bob_desk.id, "bob", &bobs, s_test_say, said) == 0);
    assert (said [1] == 1);
    client_dm_pins_load (dir, "bob", &pins);
    assert (pins.count == 2);
    //  the older pin file: one key
    char path [PATH_MAX];
    snprintf (path, sizeof (path), "%s/peers/carol", dir);
    char line [64];
    snprintf (line, sizeof (line), "%s\n", carol.public_txt);
    assert (client_state_write_atomic (path, line, 0644) == 0);
    client_dm_pins_load (dir, "carol", &pins);
    assert (pins.count == 1 && streq (pins.device [0].id, carol.id));
    char command [PATH_MAX + 16];
    snprintf (command, sizeof (command), "rm -rf '%s'", dir);
    assert (system (command) == 0);
    client_dm_keys_clear (&alice);
    client_dm_keys_clear (&bob_desk);
    client_dm_keys_clear (&bob_laptop);
    client_dm_keys_clear (&carol);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

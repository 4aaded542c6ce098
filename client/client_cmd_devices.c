//  client_cmd_devices.c: `pychat devices` (list, revoke, name this device),
//  `pychat fingerprint` and `pychat trust` (PROTOCOL.md, "Direct messages").
#include "client_cmd_core.h"
#include "client_dm.h"
#include "client_state.h"
#include "pc_proto.h"

#include <errno.h>
#include <time.h>

//  One device as a line for a person.
static void
s_print (const client_dm_device_t *device, const char *own_id, const char *note)
{
    char finger [CLIENT_DM_FINGER], when [32] = "?";
    client_dm_fingerprint_z85 (device->z85, finger);
    if (device->added > 0) {
        time_t added = (time_t) (device->added / 1000);
        strftime (when, sizeof (when), "%Y-%m-%d %H:%M", localtime (&added));
    }
    printf ("%s  %-20s  since %s  %s%s%s\n", device->id, device->name, when, finger,
            own_id && streq (device->id, own_id)? "  (this device)": "", note? note: "");
}

typedef struct {
    const char *user;                   //  whose devices, or NULL: ours
    const char *revoke;                 //  the device id to revoke, or NULL
} devices_t;

static int
s_devices_fn (client_opts_t *opts, session_t *session, void *arg)
{
    devices_t *job = (devices_t *) arg;
    if (job->revoke) {
        pc_msg_t *request = pc_devrevoke_new (job->revoke, NULL);
        pc_msg_t *reply = NULL;
        int rc = client_conn_call (session->conn, "devices revoke", request, &reply);
        pc_msg_destroy (&request);
        pc_msg_destroy (&reply);
        if (rc == 0)
            printf ("revoked device %s: direct messages are no longer sealed for it\n", job->revoke);
        return rc == 0? client_listen_flush_stdout (): rc;
    }
    client_dm_keys_t keys;
    int rc = client_dm_device_load (opts->home, &keys);
    if (rc)
        return rc;
    const char *user = job->user? job->user: opts->user;
    client_dm_devices_t devices;
    rc = client_dm_devices_get (session->conn, user, &devices);
    if (rc == 1) {
        printf ("%s has no devices yet\n", user);
        rc = 0;
    }
    else
    if (rc == 0) {
        //  what changed since this device last looked is said, as for a DM
        client_dm_devices_t pins;
        client_dm_pins_load (opts->home, user, &pins);
        for (size_t i = 0; i < devices.count; i++)
            s_print (&devices.device [i], streq (user, opts->user)? keys.id: NULL,
                     pins.count && !client_dm_devices_find (&pins, devices.device [i].id)?
                     "  (new)": NULL);
        if (client_dm_devices_check (opts->home, opts->user, keys.id, user, &devices,
                                     client_dm_say_stderr, NULL) == 1)
            rc = PC_EXIT_REFUSED;
    }
    client_dm_keys_clear (&keys);
    return rc == 0? client_listen_flush_stdout (): rc;
}

//  pychat devices [USER] | devices revoke ID | devices name NAME
int
client_cmd_devices (client_opts_t *opts, int argc, char **argv)
{
    devices_t job = { NULL, NULL };
    char user [PC_NAME_MAX + 1];
    if (argc == 3 && streq (argv [1], "revoke")) {
        job.revoke = argv [2];
        if (strlen (job.revoke) != CLIENT_DM_ID - 1
        ||  strspn (job.revoke, "0123456789abcdef") != CLIENT_DM_ID - 1)
            return client_cmd_usage_error ("devices revoke: a device id is 8 hex digits, not '%s'",
                                           job.revoke);
    }
    else
    if (argc >= 3 && streq (argv [1], "name")) {
        //  The name is kept here and published with the key at every login
        char name [CLIENT_DM_NAME] = "";
        size_t used = 0;
        for (int i = 2; i < argc && used < sizeof (name); i++)
            used += (size_t) snprintf (name + used, sizeof (name) - used, "%s%s", i > 2? " ": "", argv [i]);
        if (used >= sizeof (name) - 1 || used == 0)
            return client_cmd_usage_error ("devices name: 1-64 characters%s", "");
        for (char *c = name; *c; c++)
            if (*c == ' ')
                *c = '_';                   //  the protocol's id type: no spaces
            else
            if (*c < 0x20 || *c > 0x7e)
                return client_cmd_usage_error ("devices name: printable ASCII only, not '%s'", name);
        char path [PATH_MAX], text [CLIENT_DM_NAME + 2];
        snprintf (path, sizeof (path), "%s/device.name", opts->home);
        snprintf (text, sizeof (text), "%s\n", name);
        if (client_state_write_atomic (path, text, 0600) == -1) {
            fprintf (stderr, "pychat: cannot save %s: %s\n", path, strerror (errno));
            return PC_EXIT_USAGE;
        }
    }
    else
    if (argc == 2) {
        int rc = cmd_user_arg (argv [1], user, sizeof (user));
        if (rc)
            return rc;
        job.user = user;
    }
    else
    if (argc != 1)
        return client_cmd_usage_error ("devices: unexpected argument '%s'", argv [1]);
    return cmd_with_session (opts, S_LOGIN, s_devices_fn, &job);
}

//  --------------------------------------------------------------------------
//  fingerprint and trust

typedef struct {
    const char *peer;
    bool        trust;
} peer_t;

static int
s_peer_fn (client_opts_t *opts, session_t *session, void *arg)
{
    peer_t *job = (peer_t *) arg;
    client_dm_devices_t devices, pins;
    int rc = client_dm_devices_get (session->conn, job->peer, &devices);
    if (rc == 1) {
        fprintf (stderr, "pychat: %s has no key yet (they must log in once)\n", job->peer);
        return PC_EXIT_REFUSED;
    }
    if (rc)
        return rc;
    client_dm_pins_load (opts->home, job->peer, &pins);
    char finger [CLIENT_DM_FINGER];
    if (job->trust) {
        if (client_dm_pins_save (opts->home, job->peer, &devices))
            return PC_EXIT_USAGE;
        for (size_t i = 0; i < devices.count; i++) {
            client_dm_fingerprint_z85 (devices.device [i].z85, finger);
            printf ("now trusting %s's device '%s' (%s): %s\n", job->peer,
                    devices.device [i].name, devices.device [i].id, finger);
        }
        return client_listen_flush_stdout ();
    }
    for (size_t i = 0; i < devices.count; i++) {
        const client_dm_device_t *device = &devices.device [i];
        const client_dm_device_t *pinned = client_dm_devices_find (&pins, device->id);
        client_dm_fingerprint_z85 (device->z85, finger);
        printf ("%s %s '%s': %s%s\n", job->peer, device->id, device->name, finger,
                !pinned? "  (not pinned yet)": "");
        if (pinned && !streq (pinned->z85, device->z85)
        &&  client_dm_fingerprint_z85 (pinned->z85, finger))
            printf ("%s %s (pinned, differs): %s\n", job->peer, device->id, finger);
    }
    return client_listen_flush_stdout ();
}

int
client_cmd_trust (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 2)
        return client_cmd_usage_error ("trust needs one user%s", "");
    char peer [PC_NAME_MAX + 1];
    int rc = cmd_user_arg (argv [1], peer, sizeof (peer));
    if (rc)
        return rc;
    peer_t job = { peer, true };
    return cmd_with_session (opts, S_LOGIN, s_peer_fn, &job);
}

int
client_cmd_fingerprint (client_opts_t *opts, int argc, char **argv)
{
    if (argc > 2)
        return client_cmd_usage_error ("fingerprint takes at most one user%s", "");
    if (argc == 1) {
        client_dm_keys_t keys;
        int rc = client_dm_device_load (opts->home, &keys);
        if (rc)
            return rc;
        char finger [CLIENT_DM_FINGER];
        client_dm_fingerprint (keys.public_key, finger);
        client_dm_keys_clear (&keys);
        printf ("%s\n", finger);
        return client_listen_flush_stdout ();
    }
    char peer [PC_NAME_MAX + 1];
    int rc = cmd_user_arg (argv [1], peer, sizeof (peer));
    if (rc)
        return rc;
    peer_t job = { peer, false };
    return cmd_with_session (opts, S_LOGIN, s_peer_fn, &job);
}

//  client_dm_kinds.c: direct messages' events, opened (see client_dm_kinds.h).
#include "client_dm_kinds.h"
#include "client_listen.h"
#include "pc_util.h"

#include <inttypes.h>
#include <sodium.h>

int
client_dm_kinds_open (const char *box, const client_dm_keys_t *own,
                      const client_dm_devices_t *sender, char **text)
{
    char kind [16];
    uint64_t ref;
    const char *inner;
    *text = NULL;
    if (!client_listen_event (box, kind, sizeof (kind), &ref, &inner))
        return client_dm_open_devices (box, own, sender, text);
    if (streq (kind, "delete")) {
        *text = zsys_sprintf ("%cdelete %" PRIu64, CLIENT_EVENT_MARK, ref);
        return 0;
    }
    char *opened = NULL;
    int rc = client_dm_open_devices (inner, own, sender, &opened);
    if (rc)
        return rc;
    *text = zsys_sprintf ("%c%s %" PRIu64 " %s", CLIENT_EVENT_MARK, kind, ref, opened);
    sodium_memzero (opened, strlen (opened));
    free (opened);
    return 0;
}

int
client_dm_reader_init (client_dm_reader_t *self, client_conn_t *conn, const char *home,
                       const char *user)
{
    memset (self, 0, sizeof (*self));
    self->conn = conn;
    self->home = home;
    self->user = user;
    int rc = client_dm_device_load (home, &self->keys);
    if (rc == 0)
        self->asked = zhashx_new ();
    return rc;
}

char *
client_dm_reader_open (client_dm_reader_t *self, const char *from, const char *box)
{
    client_dm_devices_t sender;
    client_dm_pins_load (self->home, from, &sender);
    char *text = NULL;
    int rc = client_dm_kinds_open (box, &self->keys, &sender, &text);
    if (rc == 1 && pc_name_valid (from) && !zhashx_lookup (self->asked, from)) {
        zhashx_insert (self->asked, from, (void *) 1);
        if (client_dm_peer_devices (self->conn, self->home, self->user, self->keys.id,
                                    from, &sender) == 0)
            client_dm_kinds_open (box, &self->keys, &sender, &text);
    }
    if (!text)
        self->unopened++;
    return text;
}

void
client_dm_reader_clear (client_dm_reader_t *self)
{
    zhashx_destroy (&self->asked);
    client_dm_keys_clear (&self->keys);
}

void
client_dm_kinds_test (bool verbose)
{
    printf (" * client_dm_kinds: ");
    //  A delete opens without keys; a malformed box does not open
    client_dm_keys_t keys;
    client_dm_devices_t none;
    memset (&keys, 0, sizeof (keys));
    memset (&none, 0, sizeof (none));
    char *text = NULL;
    assert (client_dm_kinds_open ("\x1e" "delete 12", &keys, &none, &text) == 0);
    assert (streq (text, "\x1e" "delete 12"));
    free (text);
    assert (client_dm_kinds_open ("\x1e" "edit 12 ???", &keys, &none, &text) != 0);
    assert (text == NULL);
    printf ("OK\n");
}

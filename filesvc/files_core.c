//  files_core.c: the replies and events every part of the file service
//  sends (files_core.h).
#include "files_core.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <inttypes.h>

void
files_core_outgoing_destroy (files_outgoing_t **self_p)
{
    if (*self_p) {
        pc_msg_destroy (&(*self_p)->event);
        free (*self_p);
        *self_p = NULL;
    }
}

void
files_core_send (files_core_t *self, pc_msg_t **reply_p)
{
    pc_msg_send (*reply_p, self->router);
    pc_msg_destroy (reply_p);
}

//  ERROR code text [detail] to request's sender.
void
files_core_error (files_core_t *self, pc_msg_t *request, int code, const char *text, const char *detail)
{
    pc_msg_t *reply = pc_msg_new_error (request, code, text);
    if (detail)
        pc_msg_add (reply, detail);
    files_core_send (self, &reply);
}

void
files_core_unavailable (files_core_t *self, pc_msg_t *request)
{
    files_core_error (self, request, PC_ERR_UNAVAILABLE,
             "file storage unavailable (its database is down), try again later", NULL);
}

//  An error of errno's kind: no room (507) or something else (500).
bool
files_core_no_room (int error)
{
    return error == ENOSPC || error == EDQUOT || error == EFBIG;
}

//  FEVENT kind fields... (NULL-terminated) to the broker, fire and forget.
void
files_core_event (files_core_t *self, const char *kind, ...)
{
    pc_msg_t *event = pc_msg_new ("FEVENT");
    pc_msg_set_reqid (event, "ev");
    pc_msg_add (event, kind);
    va_list args;
    va_start (args, kind);
    for (const char *field = va_arg (args, const char *); field; field = va_arg (args, const char *))
        pc_msg_add (event, field);
    va_end (args);
    pc_msg_send_nowait (event, self->broker);
    pc_msg_destroy (&event);
}

//  A private file's name is not the monitor's business (PROTOCOL.md).
const char *
files_core_event_name (const char *space, const char *name)
{
    return strncmp (space, "dm/", 3) == 0? "-": name;
}

//  file-up, kept and resent until the broker acknowledges it: the broker
//  posts "shared NAME (SIZE)" in the room, once (the file id dedups it).
void
files_core_file_up (files_core_t *self, files_entry_t *entry)
{
    pc_msg_t *event = pc_msg_new ("FEVENT");
    char reqid [FILES_ID_SIZE + 4];
    snprintf (reqid, sizeof (reqid), "up-%s", entry->id);
    pc_msg_set_reqid (event, reqid);
    pc_msg_add (event, "file-up");
    pc_msg_add (event, entry->user);
    pc_msg_add (event, entry->space);
    pc_msg_add (event, files_core_event_name (entry->space, entry->name));
    pc_msg_addf (event, "%" PRIu64, entry->size);
    pc_msg_add (event, entry->id);
    pc_msg_send_nowait (event, self->broker);
    if (zhashx_size (self->outbox) >= OUTBOX_MAX) {
        zsys_warning ("filesvc: %zu events wait for the broker: file-up %s not kept",
                      zhashx_size (self->outbox), entry->id);
        pc_msg_destroy (&event);
        return;
    }
    files_outgoing_t *outgoing = (files_outgoing_t *) zmalloc (sizeof (files_outgoing_t));
    assert (outgoing);
    outgoing->event = event;
    outgoing->next_try = pc_now_ms () + OUTBOX_RETRY_MS;
    outgoing->give_up = pc_now_ms () + OUTBOX_KEEP_MS;
    zhashx_update (self->outbox, reqid, outgoing);
}

//  Parses a field the codec checked as an int; false when negative.
bool
files_core_unsigned (const char *text, uint64_t *value)
{
    if (!text || *text == '-')
        return false;
    *value = strtoull (text, NULL, 10);
    return true;
}

bool
files_core_sha_valid (const char *text)
{
    if (!text || strlen (text) != 64)
        return false;
    for (const char *c = text; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

//  --------------------------------------------------------------------------
//  Selftest

void
files_core_test (bool verbose)
{
    printf (" * files_core: ");
    uint64_t value = 0;
    assert (files_core_unsigned ("42", &value) && value == 42);
    assert (!files_core_unsigned ("-1", &value) && !files_core_unsigned (NULL, &value));
    char sha [65];
    memset (sha, 'a', 64);
    sha [64] = 0;
    assert (files_core_sha_valid (sha));
    sha [3] = 'A';
    assert (!files_core_sha_valid (sha) && !files_core_sha_valid ("abc"));
    assert (streq (files_core_event_name ("dm/ab", "secret.txt"), "-"));
    assert (streq (files_core_event_name ("room/lobby", "a.txt"), "a.txt"));
    assert (files_core_no_room (ENOSPC) && !files_core_no_room (EACCES));
    printf ("OK\n");
}

//  pc_msg.c: the PyChat codec. Bounds-checked; never asserts on input.
#include "pc_msg.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <stdarg.h>

typedef enum {
    F_NAME,         //  1..32 of [a-z0-9_-]
    F_TEXT,         //  1..4096 bytes of UTF-8, no controls but TAB and LF
    F_SECRET,       //  1..1024 bytes, no NUL
    F_ID,           //  1..64 printable ASCII
    F_INT,          //  decimal integer, optional '-'
    F_ANY,          //  0..65536 bytes, no NUL
    F_FILE,         //  a file name: 1..255 bytes of UTF-8, no '/', '\\', leading '.'
    F_BLOB          //  1..PC_CHUNK_MAX bytes, any content (file chunks)
} field_type_t;

typedef struct {
    const char  *command;
    size_t       min, max;          //  field counts
    field_type_t type [5];          //  past the last listed, the last repeats
    size_t       ntypes;
} schema_t;

//  The command table: PROTOCOL.md lists the same commands with the same fields.
static const schema_t s_schemas [] = {
    { "PING",     0, 0,  { F_ANY }, 0 },
    { "REGISTER", 2, 3,  { F_NAME, F_SECRET, F_ID }, 3 },
    { "LOGIN",    2, 3,  { F_NAME, F_SECRET, F_ID }, 3 },
    { "LOGOUT",   0, 0,  { F_ANY }, 0 },
    { "JOIN",     1, 1,  { F_NAME }, 1 },
    { "LEAVE",    1, 1,  { F_NAME }, 1 },
    { "SEND",     3, 3,  { F_NAME, F_ID, F_TEXT }, 3 },
    { "ROOMS",    0, 0,  { F_ANY }, 0 },
    { "WHO",      1, 1,  { F_NAME }, 1 },
    { "SUBS",     0, 0,  { F_ANY }, 0 },
    { "HISTORY",  3, 3,  { F_NAME, F_INT, F_INT }, 3 },
    { "DM",       3, 3,  { F_NAME, F_ID, F_ANY }, 3 },
    { "INBOX",    2, 2,  { F_INT, F_INT }, 2 },
    { "SETKEY",   1, 2,  { F_ID, F_NAME }, 2 },
    { "GETKEY",   1, 1,  { F_NAME }, 1 },
    { "DMMSG",    5, 5,  { F_ID, F_NAME, F_NAME, F_INT, F_ANY }, 5 },
    { "USERS",    0, 0,  { F_ANY }, 0 },
    { "BAN",      1, 1,  { F_NAME }, 1 },
    { "UNBAN",    1, 1,  { F_NAME }, 1 },
    { "KICK",     2, 2,  { F_NAME, F_NAME }, 2 },
    { "DELUSER",  1, 1,  { F_NAME }, 1 },
    { "RESETPW",  2, 2,  { F_NAME, F_SECRET }, 2 },
    { "PASSWD",   2, 3,  { F_SECRET, F_SECRET, F_NAME }, 3 },
    { "DELETEME", 1, 2,  { F_SECRET, F_NAME }, 2 },
    { "MKADMIN",  2, 2,  { F_NAME, F_SECRET }, 2 },
    { "CREATE",   2, 2,  { F_NAME, F_ID }, 2 },
    { "INVITE",   2, 2,  { F_NAME, F_NAME }, 2 },
    { "NOTICE",   2, 2,  { F_ID, F_ANY }, 2 },
    { "STATS",    0, 0,  { F_ANY }, 0 },
    { "OK",       0, PC_FIELDS_MAX, { F_ANY }, 1 },
    { "ERROR",    2, 3,  { F_INT, F_ANY, F_ANY }, 3 },
    { "MSG",      5, 5,  { F_ID, F_NAME, F_NAME, F_INT, F_TEXT }, 5 },
    { "EVENT",    1, PC_FIELDS_MAX, { F_ID, F_ANY }, 2 },
    //  File sharing: the broker's side, then the file service's (base+5)
    { "FILES",    0, 0,  { F_ANY }, 0 },
    { "FCHECK",   2, 2,  { F_ID, F_ID }, 2 },
    { "FEVENT",   1, 16, { F_ID, F_ANY }, 2 },
    { "FLIST",    1, 2,  { F_ID, F_FILE }, 2 },
    { "FPUT",     5, 5,  { F_ID, F_FILE, F_INT, F_ID, F_ANY }, 5 },
    { "FDATA",    3, 3,  { F_ID, F_INT, F_BLOB }, 3 },
    { "FDONE",    1, 1,  { F_ID }, 1 },
    { "FOPEN",    2, 2,  { F_ID, F_FILE }, 2 },
    { "FREAD",    3, 3,  { F_ID, F_INT, F_INT }, 3 },
    { "FCHUNK",   2, 2,  { F_INT, F_BLOB }, 2 },
    { "FRM",      2, 2,  { F_ID, F_FILE }, 2 },
};
#define SCHEMAS (sizeof (s_schemas) / sizeof (s_schemas [0]))

struct _pc_msg_t {
    zframe_t *routing_id;
    char     *topic;
    char     *command;
    char     *reqid;
    char    **fields;           //  each NUL-terminated, for string use
    size_t   *sizes;            //  and its size, for binary fields
    size_t    nfields;
    size_t    cap;
    char     *user_id;
    char     *peer_address;
    int       error;
    char      error_text [160];
    zframe_t *batch;            //  a packed frame with messages still to decode
    size_t    batch_offset;     //  where the next one starts
};

pc_msg_t *
pc_msg_new (const char *command)
{
    pc_msg_t *self = (pc_msg_t *) zmalloc (sizeof (pc_msg_t));
    assert (self);
    pc_msg_reset (self, command);
    return self;
}

void
pc_msg_destroy (pc_msg_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        pc_msg_t *self = *self_p;
        pc_msg_reset (self, NULL);
        free (self->fields);
        free (self->sizes);
        free (self);
        *self_p = NULL;
    }
}

void
pc_msg_reset (pc_msg_t *self, const char *command)
{
    assert (self);
    zframe_destroy (&self->routing_id);
    zstr_free (&self->topic);
    zstr_free (&self->command);
    zstr_free (&self->reqid);
    zstr_free (&self->user_id);
    zstr_free (&self->peer_address);
    zframe_destroy (&self->batch);
    self->batch_offset = 0;
    for (size_t i = 0; i < self->nfields; i++)
        free (self->fields [i]);
    self->nfields = 0;
    self->error = 0;
    self->error_text [0] = 0;
    if (command)
        self->command = strdup (command);
}

static const schema_t *
s_schema (const char *command)
{
    for (size_t i = 0; i < SCHEMAS; i++)
        if (streq (s_schemas [i].command, command))
            return &s_schemas [i];
    return NULL;
}

static int
s_fail (pc_msg_t *self, int code, const char *format, ...)
{
    self->error = code;
    va_list args;
    va_start (args, format);
    vsnprintf (self->error_text, sizeof (self->error_text), format, args);
    va_end (args);
    return -2;
}

static bool
s_printable (const byte *data, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (data [i] < 0x21 || data [i] > 0x7e)
            return false;
    return true;
}

//  Checks one field frame against its type; 0 or a PC_ERR_* code.
static int
s_check_field (field_type_t type, const byte *data, size_t size, const char **why)
{
    switch (type) {
        case F_NAME: {
            if (size < 1 || size > PC_NAME_MAX) {
                *why = "name must be 1-32 characters";
                return PC_ERR_BAD_NAME;
            }
            for (size_t i = 0; i < size; i++) {
                byte c = data [i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
                    *why = "name may hold only a-z 0-9 _ -";
                    return PC_ERR_BAD_NAME;
                }
            }
            return 0;
        }
        case F_TEXT:
            if (size > PC_TEXT_MAX) {
                *why = "text longer than 4096 bytes";
                return PC_ERR_TOO_LONG;
            }
            if (size == 0) {
                *why = "text is empty";
                return PC_ERR_BAD_TEXT;
            }
            if (!pc_utf8_valid ((const char *) data, size)) {
                *why = "text is not valid UTF-8 (or holds control characters)";
                return PC_ERR_BAD_TEXT;
            }
            return 0;
        case F_SECRET:
            if (size < 1 || size > PC_SECRET_MAX) {
                *why = size? "password longer than 1024 bytes": "password is empty";
                return size? PC_ERR_TOO_LONG: PC_ERR_MALFORMED;
            }
            if (memchr (data, 0, size)) {
                *why = "password holds a NUL byte";
                return PC_ERR_MALFORMED;
            }
            return 0;
        case F_ID:
            if (size < 1 || size > PC_ID_MAX || !s_printable (data, size)) {
                *why = "id must be 1-64 printable ASCII characters";
                return size > PC_ID_MAX? PC_ERR_TOO_LONG: PC_ERR_MALFORMED;
            }
            return 0;
        case F_INT: {
            size_t i = (size > 0 && data [0] == '-')? 1: 0;
            if (size <= i || size > 20) {
                *why = "integer expected";
                return PC_ERR_MALFORMED;
            }
            for (; i < size; i++)
                if (data [i] < '0' || data [i] > '9') {
                    *why = "integer expected";
                    return PC_ERR_MALFORMED;
                }
            return 0;
        }
        case F_ANY:
            if (size > PC_FIELD_MAX) {
                *why = "field longer than 65536 bytes";
                return PC_ERR_TOO_LONG;
            }
            if (memchr (data, 0, size)) {
                *why = "field holds a NUL byte";
                return PC_ERR_MALFORMED;
            }
            return 0;
        case F_FILE:
            if (size > PC_FILE_NAME_MAX) {
                *why = "file name longer than 255 bytes";
                return PC_ERR_BAD_NAME;
            }
            return pc_file_name_check ((const char *) data, size, why)? PC_ERR_BAD_NAME: 0;
        case F_BLOB:
            if (size > PC_CHUNK_MAX) {
                *why = "chunk longer than 262144 bytes";
                return PC_ERR_TOO_LONG;
            }
            if (size == 0) {
                *why = "chunk is empty";
                return PC_ERR_MALFORMED;
            }
            return 0;
    }
    return PC_ERR_MALFORMED;
}

static char *
s_frame_strdup (zframe_t *frame)
{
    size_t size = zframe_size (frame);
    char *string = (char *) malloc (size + 1);
    assert (string);
    memcpy (string, zframe_data (frame), size);
    string [size] = 0;
    return string;
}

//  Takes ownership of field, a NUL-terminated copy of size bytes.
static void
s_push_sized (pc_msg_t *self, char *field, size_t size)
{
    if (self->nfields == self->cap) {
        self->cap = self->cap? self->cap * 2: 8;
        self->fields = (char **) realloc (self->fields, self->cap * sizeof (char *));
        self->sizes = (size_t *) realloc (self->sizes, self->cap * sizeof (size_t));
        assert (self->fields && self->sizes);
    }
    self->sizes [self->nfields] = size;
    self->fields [self->nfields++] = field;
}

static void
s_push (pc_msg_t *self, char *field)
{
    s_push_sized (self, field, strlen (field));
}

static uint32_t
s_get32 (const byte *data)
{
    return ((uint32_t) data [0] << 24) | ((uint32_t) data [1] << 16)
         | ((uint32_t) data [2] << 8) | (uint32_t) data [3];
}

//  Splits a packed frame into a zmsg, or NULL when it is not well formed:
//  a 4-byte part count, then each part as a 4-byte size and its bytes,
//  filling the frame exactly.
static zmsg_t *
s_unpack (zframe_t *frame, size_t *offset_p)
{
    const byte *data = zframe_data (frame) + *offset_p;
    size_t size = zframe_size (frame) - *offset_p;
    if (size < 4)
        return NULL;
    uint32_t parts = s_get32 (data);
    if (parts < 3 || parts > PC_FIELDS_MAX + 3)
        return NULL;
    size_t offset = 4;
    zmsg_t *msg = zmsg_new ();
    for (uint32_t i = 0; i < parts; i++) {
        if (size - offset < 4)
            break;
        uint32_t part = s_get32 (data + offset);
        offset += 4;
        if (part > size - offset)
            break;
        zmsg_addmem (msg, data + offset, part);
        offset += part;
    }
    if (zmsg_size (msg) != parts)
        zmsg_destroy (&msg);
    else
        *offset_p += offset;
    return msg;
}

static int s_decode_body (pc_msg_t *self, zmsg_t *msg);

int
pc_msg_decode (pc_msg_t *self, zmsg_t **msg_p, int flags)
{
    assert (self);
    assert (msg_p);
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    pc_msg_reset (self, NULL);
    if (!msg)
        return -1;

    int rc = 0;
    zframe_t *frame;
    if (flags & PC_MSG_ROUTED) {
        self->routing_id = zmsg_pop (msg);
        if (!self->routing_id) {
            rc = s_fail (self, PC_ERR_MALFORMED, "no routing id");
            goto done;
        }
    }
    if (flags & PC_MSG_TOPIC) {
        frame = zmsg_pop (msg);
        if (!frame) {
            rc = s_fail (self, PC_ERR_MALFORMED, "no topic");
            goto done;
        }
        self->topic = s_frame_strdup (frame);
        zframe_destroy (&frame);
    }
    //  Metadata rides on every frame of a message received from a socket.
    frame = zmsg_first (msg);
    if (frame) {
        const char *value = zframe_meta (frame, "User-Id");
        if (value && *value)
            self->user_id = strdup (value);
        value = zframe_meta (frame, "Peer-Address");
        if (value && *value)
            self->peer_address = strdup (value);
    }
    //  Packed form: one frame holding one or more messages, their parts
    //  size-prefixed; the first is decoded now, the rest by pc_msg_next.
    if (zmsg_size (msg) == 1) {
        size_t offset = 0;
        zmsg_t *unpacked = s_unpack (zmsg_first (msg), &offset);
        if (!unpacked) {
            rc = s_fail (self, PC_ERR_MALFORMED, "bad packed message");
            goto done;
        }
        if (offset < zframe_size (zmsg_first (msg))) {
            self->batch = zmsg_pop (msg);
            self->batch_offset = offset;
        }
        zmsg_destroy (&msg);
        msg = unpacked;
    }
    rc = s_decode_body (self, msg);
done:
    zmsg_destroy (&msg);
    return rc;
}

pc_msg_t *
pc_msg_dup (pc_msg_t *self)
{
    assert (self);
    pc_msg_t *copy = pc_msg_new (self->command);
    pc_msg_set_reqid (copy, self->reqid);
    pc_msg_set_topic (copy, self->topic);
    pc_msg_set_routing_id (copy, self->routing_id);
    if (self->user_id)
        copy->user_id = strdup (self->user_id);
    if (self->peer_address)
        copy->peer_address = strdup (self->peer_address);
    for (size_t i = 0; i < self->nfields; i++)
        pc_msg_add_mem (copy, self->fields [i], self->sizes [i]);
    return copy;
}

bool
pc_msg_more (pc_msg_t *self)
{
    assert (self);
    return self->batch != NULL;
}

int
pc_msg_next (pc_msg_t *self)
{
    assert (self);
    if (!self->batch)
        return -1;
    zframe_t *batch = self->batch;
    size_t offset = self->batch_offset;
    self->batch = NULL;
    char *topic = self->topic;
    self->topic = NULL;
    pc_msg_reset (self, NULL);
    self->topic = topic;
    zmsg_t *msg = s_unpack (batch, &offset);
    if (!msg) {
        zframe_destroy (&batch);
        return s_fail (self, PC_ERR_MALFORMED, "bad packed message");
    }
    if (offset < zframe_size (batch)) {
        self->batch = batch;
        self->batch_offset = offset;
    }
    else
        zframe_destroy (&batch);
    int rc = s_decode_body (self, msg);
    zmsg_destroy (&msg);
    return rc;
}

//  Decodes SIGNATURE COMMAND REQID FIELD*. 0 | -2 (msg stays the caller's).
static int
s_decode_body (pc_msg_t *self, zmsg_t *msg)
{
    int rc = 0;
    zframe_t *frame;
    if (zmsg_size (msg) < 3) {
        rc = s_fail (self, PC_ERR_MALFORMED, "a message has at least 3 frames, got %zu",
                     zmsg_size (msg));
        goto done;
    }
    if (zmsg_size (msg) > PC_FIELDS_MAX + 3) {
        rc = s_fail (self, PC_ERR_MALFORMED, "too many frames");
        goto done;
    }
    //  Signature
    frame = zmsg_first (msg);
    if (!zframe_streq (frame, PC_SIGNATURE)) {
        if (zframe_size (frame) >= 6 && memcmp (zframe_data (frame), "PYCHAT", 6) == 0)
            rc = s_fail (self, PC_ERR_VERSION, "protocol version not supported (this is %s)",
                         PC_SIGNATURE);
        else
            rc = s_fail (self, PC_ERR_MALFORMED, "bad signature");
        goto done;
    }
    //  Request id: read before the command, so an error reply can carry it.
    zframe_t *command = zmsg_next (msg);
    frame = zmsg_next (msg);
    if (zframe_size (frame) > PC_ID_MAX || !s_printable (zframe_data (frame), zframe_size (frame))) {
        rc = s_fail (self, PC_ERR_MALFORMED, "request id must be 0-64 printable ASCII characters");
        goto done;
    }
    self->reqid = s_frame_strdup (frame);
    if (zframe_size (command) > 16 || !s_printable (zframe_data (command), zframe_size (command))) {
        rc = s_fail (self, PC_ERR_UNKNOWN, "unknown command");
        goto done;
    }
    self->command = s_frame_strdup (command);
    const schema_t *schema = s_schema (self->command);
    if (!schema) {
        rc = s_fail (self, PC_ERR_UNKNOWN, "unknown command '%s'", self->command);
        goto done;
    }
    size_t count = zmsg_size (msg) - 3;
    if (count < schema->min || count > schema->max) {
        rc = s_fail (self, PC_ERR_MALFORMED, "%s takes %zu to %zu fields, got %zu",
                     schema->command, schema->min, schema->max, count);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        frame = zmsg_next (msg);
        field_type_t type = schema->type [i < schema->ntypes? i: schema->ntypes - 1];
        const char *why = "";
        int code = s_check_field (type, zframe_data (frame), zframe_size (frame), &why);
        if (code) {
            rc = s_fail (self, code, "%s field %zu: %s", schema->command, i + 1, why);
            goto done;
        }
        s_push_sized (self, s_frame_strdup (frame), zframe_size (frame));
    }
done:
    return rc;
}

int
pc_msg_recv (pc_msg_t *self, zsock_t *input)
{
    assert (self);
    assert (input);
    zmsg_t *msg = zmsg_recv (input);
    if (!msg)
        return -1;
    int type = zsock_type (input);
    int flags = type == ZMQ_ROUTER? PC_MSG_ROUTED:
                (type == ZMQ_SUB || type == ZMQ_XSUB)? PC_MSG_TOPIC: 0;
    return pc_msg_decode (self, &msg, flags);
}

zmsg_t *
pc_msg_encode (pc_msg_t *self)
{
    assert (self);
    assert (self->command);
    zmsg_t *msg = zmsg_new ();
    if (self->routing_id)
        zmsg_append (msg, &(zframe_t *) { zframe_dup (self->routing_id) });
    if (self->topic)
        zmsg_addstr (msg, self->topic);
    zmsg_addstr (msg, PC_SIGNATURE);
    zmsg_addstr (msg, self->command);
    zmsg_addstr (msg, self->reqid? self->reqid: "");
    for (size_t i = 0; i < self->nfields; i++)
        zmsg_addmem (msg, self->fields [i], self->sizes [i]);
    return msg;
}

static void
s_put32 (byte *data, size_t value)
{
    data [0] = (byte) (value >> 24);
    data [1] = (byte) (value >> 16);
    data [2] = (byte) (value >> 8);
    data [3] = (byte) value;
}

zframe_t *
pc_msg_pack (pc_msg_t *self)
{
    assert (self);
    assert (self->command);
    const char *reqid = self->reqid? self->reqid: "";
    size_t size = 4 + 4 + strlen (PC_SIGNATURE) + 4 + strlen (self->command) + 4 + strlen (reqid);
    for (size_t i = 0; i < self->nfields; i++)
        size += 4 + self->sizes [i];
    zframe_t *frame = zframe_new (NULL, size);
    byte *data = zframe_data (frame);
    s_put32 (data, 3 + self->nfields);
    size_t offset = 4;
    const char *head [] = { PC_SIGNATURE, self->command, reqid };
    for (size_t i = 0; i < 3 + self->nfields; i++) {
        const char *part = i < 3? head [i]: self->fields [i - 3];
        size_t length = i < 3? strlen (part): self->sizes [i - 3];
        s_put32 (data + offset, length);
        memcpy (data + offset + 4, part, length);
        offset += 4 + length;
    }
    assert (offset == size);
    return frame;
}

static int
s_send (pc_msg_t *self, zsock_t *output, int flags)
{
    zmsg_t *msg = pc_msg_encode (self);
    size_t count = zmsg_size (msg);
    size_t index = 0;
    zframe_t *frame;
    int rc = 0;
    while ((frame = zmsg_pop (msg))) {
        int more = ++index < count? ZFRAME_MORE: 0;
        //  Only the first frame can fail with EAGAIN: the rest are atomic.
        rc = zframe_send (&frame, output, more | flags);
        if (rc == -1) {
            zframe_destroy (&frame);
            break;
        }
    }
    zmsg_destroy (&msg);
    return rc;
}

int
pc_msg_send (pc_msg_t *self, zsock_t *output)
{
    return s_send (self, output, 0);
}

int
pc_msg_send_nowait (pc_msg_t *self, zsock_t *output)
{
    return s_send (self, output, ZFRAME_DONTWAIT);
}

const char *pc_msg_command (pc_msg_t *self) { assert (self); return self->command? self->command: ""; }
const char *pc_msg_reqid (pc_msg_t *self) { assert (self); return self->reqid? self->reqid: ""; }
const char *pc_msg_topic (pc_msg_t *self) { assert (self); return self->topic; }
zframe_t *pc_msg_routing_id (pc_msg_t *self) { assert (self); return self->routing_id; }
const char *pc_msg_user_id (pc_msg_t *self) { assert (self); return self->user_id; }
const char *pc_msg_peer_address (pc_msg_t *self) { assert (self); return self->peer_address; }
size_t pc_msg_nfields (pc_msg_t *self) { assert (self); return self->nfields; }
int pc_msg_error (pc_msg_t *self) { assert (self); return self->error; }
const char *pc_msg_error_text (pc_msg_t *self) { assert (self); return self->error_text; }

void
pc_msg_set_reqid (pc_msg_t *self, const char *reqid)
{
    assert (self);
    zstr_free (&self->reqid);
    self->reqid = reqid? strdup (reqid): NULL;
}

void
pc_msg_set_topic (pc_msg_t *self, const char *topic)
{
    assert (self);
    zstr_free (&self->topic);
    self->topic = topic? strdup (topic): NULL;
}

void
pc_msg_set_routing_id (pc_msg_t *self, zframe_t *routing_id)
{
    assert (self);
    zframe_destroy (&self->routing_id);
    self->routing_id = routing_id? zframe_dup (routing_id): NULL;
}

const char *
pc_msg_field (pc_msg_t *self, size_t index)
{
    assert (self);
    return index < self->nfields? self->fields [index]: NULL;
}

size_t
pc_msg_field_size (pc_msg_t *self, size_t index)
{
    assert (self);
    return index < self->nfields? self->sizes [index]: 0;
}

void
pc_msg_add (pc_msg_t *self, const char *field)
{
    assert (self);
    assert (field);
    s_push (self, strdup (field));
}

void
pc_msg_add_mem (pc_msg_t *self, const void *data, size_t size)
{
    assert (self);
    assert (data || size == 0);
    char *field = (char *) malloc (size + 1);
    assert (field);
    if (size)
        memcpy (field, data, size);
    field [size] = 0;
    s_push_sized (self, field, size);
}

void
pc_msg_addf (pc_msg_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *field = zsys_vprintf (format, args);
    va_end (args);
    assert (field);
    s_push (self, field);
}

bool
pc_msg_is (pc_msg_t *self, const char *command)
{
    assert (self);
    return self->command && streq (self->command, command);
}

int
pc_msg_error_code (pc_msg_t *self)
{
    if (!pc_msg_is (self, "ERROR") || self->nfields < 2)
        return 0;
    return atoi (self->fields [0]);
}

const char *
pc_msg_error_reason (pc_msg_t *self)
{
    if (!pc_msg_is (self, "ERROR") || self->nfields < 2)
        return "";
    return self->fields [1];
}

static pc_msg_t *
s_reply (pc_msg_t *request, const char *command)
{
    pc_msg_t *reply = pc_msg_new (command);
    pc_msg_set_routing_id (reply, request->routing_id);
    pc_msg_set_reqid (reply, request->reqid);
    return reply;
}

pc_msg_t *
pc_msg_new_error (pc_msg_t *request, int code, const char *text)
{
    pc_msg_t *reply = s_reply (request, "ERROR");
    pc_msg_addf (reply, "%d", code);
    pc_msg_add (reply, text);
    return reply;
}

pc_msg_t *
pc_msg_new_ok (pc_msg_t *request)
{
    return s_reply (request, "OK");
}

//  --------------------------------------------------------------------------
//  Selftest

static int
s_decode_frames (pc_msg_t *self, int flags, int nframes, const char **frames, const size_t *sizes)
{
    zmsg_t *msg = zmsg_new ();
    for (int i = 0; i < nframes; i++)
        zmsg_addmem (msg, frames [i], sizes? sizes [i]: strlen (frames [i]));
    return pc_msg_decode (self, &msg, flags);
}

void
pc_msg_test (bool verbose)
{
    printf (" * pc_msg: ");
    //  Round trip through a real socket pair
    zsock_t *output = zsock_new_dealer ("@inproc://pc_msg_test");
    zsock_t *input = zsock_new_router (">inproc://pc_msg_test");
    pc_msg_t *msg = pc_msg_new ("SEND");
    pc_msg_set_reqid (msg, "r1");
    pc_msg_add (msg, "lobby");
    pc_msg_add (msg, "c-1");
    pc_msg_add (msg, "héllo 你好");
    assert (pc_msg_send (msg, output) == 0);
    pc_msg_t *got = pc_msg_new (NULL);
    assert (pc_msg_recv (got, input) == 0);
    assert (pc_msg_routing_id (got));
    assert (streq (pc_msg_command (got), "SEND"));
    assert (streq (pc_msg_reqid (got), "r1"));
    assert (pc_msg_nfields (got) == 3);
    assert (streq (pc_msg_field (got, 2), "héllo 你好"));
    assert (pc_msg_field (got, 3) == NULL);
    //  Reply goes back to the sender
    pc_msg_t *reply = pc_msg_new_ok (got);
    pc_msg_add (reply, "7");
    assert (pc_msg_send (reply, input) == 0);
    assert (pc_msg_recv (got, output) == 0);
    assert (pc_msg_is (got, "OK"));
    assert (streq (pc_msg_reqid (got), "r1"));
    assert (streq (pc_msg_field (got, 0), "7"));
    pc_msg_destroy (&reply);
    pc_msg_destroy (&msg);
    zsock_destroy (&input);
    zsock_destroy (&output);

    //  Malformed inputs: each gets the right code, none crashes
    const char *ok3 [] = { PC_SIGNATURE, "PING", "x" };
    assert (s_decode_frames (got, 0, 3, ok3, NULL) == 0);
    const char *short2 [] = { PC_SIGNATURE, "PING" };
    assert (s_decode_frames (got, 0, 2, short2, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_MALFORMED);
    const char *badsig [] = { "HTTP/1.1", "PING", "x" };
    assert (s_decode_frames (got, 0, 3, badsig, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_MALFORMED);
    const char *newver [] = { "PYCHAT9", "PING", "x" };
    assert (s_decode_frames (got, 0, 3, newver, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_VERSION);
    const char *unknown [] = { PC_SIGNATURE, "FLY", "r9" };
    assert (s_decode_frames (got, 0, 3, unknown, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_UNKNOWN);
    assert (streq (pc_msg_reqid (got), "r9"));
    const char *extra [] = { PC_SIGNATURE, "PING", "x", "surplus" };
    assert (s_decode_frames (got, 0, 4, extra, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_MALFORMED);
    const char *badname [] = { PC_SIGNATURE, "JOIN", "x", "Lobby" };
    assert (s_decode_frames (got, 0, 4, badname, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_BAD_NAME);
    const char *badutf8 [] = { PC_SIGNATURE, "SEND", "x", "lobby", "c1", "\xff\xfe" };
    assert (s_decode_frames (got, 0, 6, badutf8, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_BAD_TEXT);
    char *big = (char *) malloc (PC_TEXT_MAX + 2);
    memset (big, 'a', PC_TEXT_MAX + 1);
    big [PC_TEXT_MAX + 1] = 0;
    const char *toolong [] = { PC_SIGNATURE, "SEND", "x", "lobby", "c1", big };
    assert (s_decode_frames (got, 0, 6, toolong, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_TOO_LONG);
    big [PC_TEXT_MAX] = 0;             //  exactly at the limit: accepted
    assert (s_decode_frames (got, 0, 6, toolong, NULL) == 0);
    free (big);
    const char *nul [] = { PC_SIGNATURE, "LOGIN", "x", "alice", "pa\0ss" };
    size_t nulsizes [] = { 7, 5, 1, 5, 5 };
    assert (s_decode_frames (got, 0, 5, nul, nulsizes) == -2);
    const char *badreq [] = { PC_SIGNATURE, "PING", "has space" };
    assert (s_decode_frames (got, 0, 3, badreq, NULL) == -2);
    const char *routed_empty [] = { "" };
    assert (s_decode_frames (got, PC_MSG_ROUTED | PC_MSG_TOPIC, 1, routed_empty, NULL) == -2);
    assert (s_decode_frames (got, PC_MSG_ROUTED, 0, NULL, NULL) == -2);
    const char *fanout [] = { "r/lobby/", PC_SIGNATURE, "MSG", "", "12", "lobby", "bob", "1700000000000", "hi" };
    assert (s_decode_frames (got, PC_MSG_TOPIC, 9, fanout, NULL) == 0);
    assert (streq (pc_msg_topic (got), "r/lobby/"));
    assert (streq (pc_msg_field (got, 4), "hi"));
    //  Packed form: the same message in one frame; broken packs refused
    pc_msg_t *packme = pc_msg_new ("MSG");
    pc_msg_add (packme, "7");
    pc_msg_add (packme, "lobby");
    pc_msg_add (packme, "bob");
    pc_msg_add (packme, "1700000000000");
    pc_msg_add (packme, "héllo");
    zframe_t *packed = pc_msg_pack (packme);
    zmsg_t *wire = zmsg_new ();
    zmsg_addstr (wire, "s/0123/");
    zmsg_append (wire, &(zframe_t *) { zframe_dup (packed) });
    assert (pc_msg_decode (got, &wire, PC_MSG_TOPIC) == 0);
    assert (pc_msg_is (got, "MSG") && streq (pc_msg_field (got, 4), "héllo"));
    assert (streq (pc_msg_topic (got), "s/0123/"));
    for (size_t cut = 0; cut < zframe_size (packed); cut++) {
        zmsg_t *broken = zmsg_new ();
        zmsg_addstr (broken, "s/0123/");
        zmsg_addmem (broken, zframe_data (packed), cut);
        assert (pc_msg_decode (got, &broken, PC_MSG_TOPIC) == -2);
    }
    //  A batch: three packed messages in one frame, decoded one by one
    zframe_t *one = pc_msg_pack (packme);
    pc_msg_reset (packme, "MSG");
    pc_msg_add (packme, "8");
    pc_msg_add (packme, "lobby");
    pc_msg_add (packme, "ann");
    pc_msg_add (packme, "1700000000001");
    pc_msg_add (packme, "second");
    zframe_t *two = pc_msg_pack (packme);
    size_t total = 2 * zframe_size (one) + zframe_size (two);
    byte *joined = (byte *) malloc (total);
    memcpy (joined, zframe_data (one), zframe_size (one));
    memcpy (joined + zframe_size (one), zframe_data (two), zframe_size (two));
    memcpy (joined + zframe_size (one) + zframe_size (two), zframe_data (one), zframe_size (one));
    wire = zmsg_new ();
    zmsg_addstr (wire, "s/0123/");
    zmsg_addmem (wire, joined, total);
    assert (pc_msg_decode (got, &wire, PC_MSG_TOPIC) == 0);
    assert (streq (pc_msg_field (got, 0), "7") && pc_msg_more (got));
    pc_msg_t *copy = pc_msg_dup (got);
    assert (pc_msg_next (got) == 0);
    assert (streq (pc_msg_field (got, 0), "8") && streq (pc_msg_field (got, 4), "second"));
    assert (streq (pc_msg_topic (got), "s/0123/"));
    assert (streq (pc_msg_field (copy, 4), "héllo") && !pc_msg_more (copy));
    assert (pc_msg_more (got) && pc_msg_next (got) == 0);
    assert (streq (pc_msg_field (got, 0), "7") && !pc_msg_more (got));
    assert (pc_msg_next (got) == -1);
    //  A batch cut short: the whole messages decode, the torn one is malformed
    wire = zmsg_new ();
    zmsg_addstr (wire, "s/0123/");
    zmsg_addmem (wire, joined, total - 3);
    assert (pc_msg_decode (got, &wire, PC_MSG_TOPIC) == 0);
    assert (pc_msg_next (got) == 0);
    assert (pc_msg_next (got) == -2 && !pc_msg_more (got));
    free (joined);
    pc_msg_destroy (&copy);
    zframe_destroy (&one);
    zframe_destroy (&two);
    zframe_destroy (&packed);
    pc_msg_destroy (&packme);
    //  Binary fields survive encode, pack and decode byte for byte
    pc_msg_t *chunk = pc_msg_new ("FCHUNK");
    pc_msg_add (chunk, "0");
    const byte bytes [] = { 0, 1, 0, 255, 10, 0 };
    pc_msg_add_mem (chunk, bytes, sizeof (bytes));
    wire = pc_msg_encode (chunk);
    assert (pc_msg_decode (got, &wire, 0) == 0);
    assert (pc_msg_field_size (got, 1) == sizeof (bytes));
    assert (memcmp (pc_msg_field (got, 1), bytes, sizeof (bytes)) == 0);
    pc_msg_t *chunk_copy = pc_msg_dup (got);
    assert (pc_msg_field_size (chunk_copy, 1) == sizeof (bytes));
    wire = zmsg_new ();
    zmsg_append (wire, &(zframe_t *) { pc_msg_pack (chunk_copy) });
    assert (pc_msg_decode (got, &wire, 0) == 0);
    assert (memcmp (pc_msg_field (got, 1), bytes, sizeof (bytes)) == 0);
    pc_msg_destroy (&chunk_copy);
    pc_msg_destroy (&chunk);
    const char *nulname [] = { PC_SIGNATURE, "FDATA", "x", "u1", "0", "" };
    assert (s_decode_frames (got, 0, 6, nulname, NULL) == -2);   //  empty chunk
    const char *traversal [] = { PC_SIGNATURE, "FOPEN", "x", "lobby", "../../etc/passwd" };
    assert (s_decode_frames (got, 0, 5, traversal, NULL) == -2);
    assert (pc_msg_error (got) == PC_ERR_BAD_NAME);
    const char *err [] = { PC_SIGNATURE, "ERROR", "x", "429", "slow down", "12" };
    assert (s_decode_frames (got, 0, 6, err, NULL) == 0);
    assert (pc_msg_error_code (got) == 429);
    assert (streq (pc_msg_error_reason (got), "slow down"));
    //  Random garbage never crashes the decoder
    for (int round = 0; round < 2000; round++) {
        zmsg_t *junk = zmsg_new ();
        int nframes = randof (8);
        for (int f = 0; f < nframes; f++) {
            byte data [40];
            size_t size = randof (sizeof (data));
            for (size_t b = 0; b < size; b++)
                data [b] = (byte) randof (256);
            if (f == 0 && randof (2))
                zmsg_addstr (junk, PC_SIGNATURE);
            else
            if (f == 1 && randof (2))
                zmsg_addstr (junk, s_schemas [randof (SCHEMAS)].command);
            else
                zmsg_addmem (junk, data, size);
        }
        int rc = pc_msg_decode (got, &junk, randof (4));
        assert (rc == 0 || rc == -2);
    }
    pc_msg_destroy (&got);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

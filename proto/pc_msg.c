//  pc_msg.c: the PyChat codec. Bounds-checked; never asserts on input.
#include "pc_msg.h"
#include "pc_limits.h"
#include "pc_util.h"

#include <stdarg.h>

//  The command table (pc_schemas, pc_cmd_lookup) is generated from
//  proto/pychat.json into pc_proto.c; PROTOCOL.md lists the same commands.

struct _pc_msg_t {
    zframe_t *routing_id;
    char     *topic;
    char     *command;
    pc_cmd_t  cmd;              //  command's entry in pc_schemas, or unknown
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
    self->cmd = PC_CMD_UNKNOWN;
    if (command) {
        self->command = strdup (command);
        self->cmd = pc_cmd_lookup (command);
    }
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
s_check_field (pc_field_type_t type, const byte *data, size_t size, const char **why)
{
    switch (type) {
        case PC_F_NAME: {
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
        case PC_F_TEXT:
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
        case PC_F_SECRET:
            if (size < 1 || size > PC_SECRET_MAX) {
                *why = size? "password longer than 1024 bytes": "password is empty";
                return size? PC_ERR_TOO_LONG: PC_ERR_MALFORMED;
            }
            if (memchr (data, 0, size)) {
                *why = "password holds a NUL byte";
                return PC_ERR_MALFORMED;
            }
            return 0;
        case PC_F_ID:
            if (size < 1 || size > PC_ID_MAX || !s_printable (data, size)) {
                *why = "id must be 1-64 printable ASCII characters";
                return size > PC_ID_MAX? PC_ERR_TOO_LONG: PC_ERR_MALFORMED;
            }
            return 0;
        case PC_F_INT: {
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
        case PC_F_ANY:
            if (size > PC_FIELD_MAX) {
                *why = "field longer than 65536 bytes";
                return PC_ERR_TOO_LONG;
            }
            if (memchr (data, 0, size)) {
                *why = "field holds a NUL byte";
                return PC_ERR_MALFORMED;
            }
            return 0;
        case PC_F_FILE:
            if (size > PC_FILE_NAME_MAX) {
                *why = "file name longer than 255 bytes";
                return PC_ERR_BAD_NAME;
            }
            return pc_file_name_check ((const char *) data, size, why)? PC_ERR_BAD_NAME: 0;
        case PC_F_BLOB:
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

//  One part of a message as it lies on the wire (not owned)
typedef struct {
    const byte *data;
    size_t      size;
} part_t;

//  A NUL-terminated copy of a part, for string use
static char *
s_part_strdup (const part_t *part)
{
    char *string = (char *) malloc (part->size + 1);
    assert (string);
    memcpy (string, part->data, part->size);
    string [part->size] = 0;
    return string;
}

#define PARTS_MAX   (PC_FIELDS_MAX + 3)

//  Unsigned LEB128: 7 bits per byte, low first, high bit set on all but
//  the last. Returns the bytes read (1..4), or 0 when data does not hold a
//  well-formed number below 2^28 (more than any frame ZeroMQ lets in).
static size_t
s_varint_get (const byte *data, size_t size, size_t *value)
{
    size_t result = 0;
    for (size_t i = 0; i < size && i < 4; i++) {
        result |= (size_t) (data [i] & 0x7f) << (7 * i);
        if (!(data [i] & 0x80)) {
            if (i > 0 && data [i] == 0)
                return 0;           //  one number, one spelling: no padding
            *value = result;
            return i + 1;
        }
    }
    return 0;
}

static size_t
s_varint_put (byte *data, size_t value)
{
    size_t i = 0;
    while (value >= 0x80) {
        data [i++] = (byte) (value | 0x80);
        value >>= 7;
    }
    data [i++] = (byte) value;
    return i;
}

static size_t
s_varint_size (size_t value)
{
    size_t size = 1;
    while (value >= 0x80) {
        value >>= 7;
        size++;
    }
    return size;
}

//  Reads one packed message at *offset_p in data: a part count, then each
//  part as its size and bytes (counts and sizes as varints). 0 and *offset_p
//  moved past it, or -1 when it is not well formed (nothing moved).
static int
s_unpack (const byte *data, size_t size, size_t *offset_p, part_t *parts, size_t *nparts)
{
    size_t offset = *offset_p, count;
    size_t used = s_varint_get (data + offset, size - offset, &count);
    if (!used || count < 3 || count > PARTS_MAX)
        return -1;
    offset += used;
    for (size_t i = 0; i < count; i++) {
        size_t part;
        used = s_varint_get (data + offset, size - offset, &part);
        if (!used || part > size - offset - used)
            return -1;
        offset += used;
        parts [i] = (part_t) { data + offset, part };
        offset += part;
    }
    *nparts = count;
    *offset_p = offset;
    return 0;
}

int
pc_msg_unpack_parts (const byte *data, size_t size, size_t *offset,
                     const byte **parts, size_t *sizes, size_t max)
{
    part_t found [PARTS_MAX];
    size_t count = 0;
    if (*offset > size || s_unpack (data, size, offset, found, &count) == -1)
        return -1;
    for (size_t i = 0; i < count && i < max; i++) {
        parts [i] = found [i].data;
        sizes [i] = found [i].size;
    }
    return (int) count;
}

static int s_decode_body (pc_msg_t *self, const part_t *parts, size_t count);

//  Decodes the packed message at self->batch_offset of frame, which is kept
//  as self's batch while more messages follow it. 0 | -2.
static int
s_decode_packed (pc_msg_t *self, zframe_t *frame, size_t offset)
{
    part_t parts [PARTS_MAX];
    size_t count = 0;
    if (s_unpack (zframe_data (frame), zframe_size (frame), &offset, parts, &count) == -1) {
        zframe_destroy (&frame);
        return s_fail (self, PC_ERR_MALFORMED, "bad packed message");
    }
    int rc = s_decode_body (self, parts, count);
    if (offset < zframe_size (frame)) {
        self->batch = frame;
        self->batch_offset = offset;
    }
    else
        zframe_destroy (&frame);
    return rc;
}



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
    size_t offset = 0;          //  where the packed messages start
    if (flags & PC_MSG_TOPIC) {
        frame = zmsg_first (msg);
        if (!frame) {
            rc = s_fail (self, PC_ERR_MALFORMED, "no topic");
            goto done;
        }
        if (zmsg_size (msg) == 1) {
            //  One frame: the topic, a NUL, then packed messages
            const byte *nul = (const byte *) memchr (zframe_data (frame), 0,
                                                     zframe_size (frame));
            if (!nul) {
                rc = s_fail (self, PC_ERR_MALFORMED, "no topic");
                goto done;
            }
            offset = (size_t) (nul - zframe_data (frame));
            self->topic = s_part_strdup (&(part_t) { zframe_data (frame), offset });
            offset++;                   //  the packed messages start after the NUL
        }
        else {
            self->topic = s_part_strdup (&(part_t) { zframe_data (frame), zframe_size (frame) });
            zmsg_remove (msg, frame);
            zframe_destroy (&frame);
        }
    }
    //  Packed form: one frame holding one or more messages; the first is
    //  decoded now, the rest by pc_msg_next.
    if (zmsg_size (msg) == 1) {
        rc = s_decode_packed (self, zmsg_pop (msg), offset);
        goto done;
    }
    //  Plain form: one frame per part
    if (zmsg_size (msg) < 3 || zmsg_size (msg) > PARTS_MAX) {
        rc = s_fail (self, PC_ERR_MALFORMED, zmsg_size (msg) < 3?
                     "a message has at least 3 frames": "too many frames");
        goto done;
    }
    part_t parts [PARTS_MAX];
    size_t count = 0;
    for (frame = zmsg_first (msg); frame; frame = zmsg_next (msg))
        parts [count++] = (part_t) { zframe_data (frame), zframe_size (frame) };
    rc = s_decode_body (self, parts, count);
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
    //  The rest of a batch came from the same peer, on the same topic
    zframe_t *batch = self->batch;
    size_t offset = self->batch_offset;
    self->batch = NULL;
    char *topic = self->topic, *user_id = self->user_id, *peer = self->peer_address;
    zframe_t *routing_id = self->routing_id;
    self->topic = self->user_id = self->peer_address = NULL;
    self->routing_id = NULL;
    pc_msg_reset (self, NULL);
    self->topic = topic;
    self->user_id = user_id;
    self->peer_address = peer;
    self->routing_id = routing_id;
    return s_decode_packed (self, batch, offset);
}

static bool
s_part_is (const part_t *part, const char *text)
{
    return part->size == strlen (text) && memcmp (part->data, text, part->size) == 0;
}

void
pc_msg_move_batch (pc_msg_t *self, pc_msg_t *source)
{
    assert (self);
    assert (source);
    pc_msg_reset (self, NULL);
    self->batch = source->batch;
    self->batch_offset = source->batch_offset;
    source->batch = NULL;
    source->batch_offset = 0;
    self->routing_id = source->routing_id? zframe_dup (source->routing_id): NULL;
    self->topic = source->topic? strdup (source->topic): NULL;
    self->user_id = source->user_id? strdup (source->user_id): NULL;
    self->peer_address = source->peer_address? strdup (source->peer_address): NULL;
}

//  Decodes SIGNATURE COMMAND REQID FIELD* (3 <= count <= PARTS_MAX). 0 | -2.
static int
s_decode_body (pc_msg_t *self, const part_t *parts, size_t count)
{
    if (!s_part_is (&parts [0], PC_SIGNATURE)) {
        if (parts [0].size >= 6 && memcmp (parts [0].data, "PYCHAT", 6) == 0)
            return s_fail (self, PC_ERR_VERSION, "protocol version not supported (this is %s)",
                           PC_SIGNATURE);
        return s_fail (self, PC_ERR_MALFORMED, "bad signature");
    }
    //  Request id: read before the command, so an error reply can carry it.
    const part_t *command = &parts [1], *reqid = &parts [2];
    if (reqid->size > PC_ID_MAX || !s_printable (reqid->data, reqid->size))
        return s_fail (self, PC_ERR_MALFORMED, "request id must be 0-64 printable ASCII characters");
    self->reqid = s_part_strdup (reqid);
    if (command->size > 16 || !s_printable (command->data, command->size))
        return s_fail (self, PC_ERR_UNKNOWN, "unknown command");
    self->command = s_part_strdup (command);
    self->cmd = pc_cmd_lookup (self->command);
    const pc_schema_t *schema = &pc_schemas [self->cmd];
    if (self->cmd == PC_CMD_UNKNOWN)
        return s_fail (self, PC_ERR_UNKNOWN, "unknown command '%s'", self->command);
    size_t nfields = count - 3;
    if (nfields < schema->min || nfields > schema->max)
        return s_fail (self, PC_ERR_MALFORMED, "%s takes %zu to %zu fields, got %zu",
                       schema->name, schema->min, schema->max, nfields);
    for (size_t i = 0; i < nfields; i++) {
        const part_t *field = &parts [3 + i];
        pc_field_type_t type = schema->type [i < schema->ntypes? i: schema->ntypes - 1];
        const char *why = "";
        int code = s_check_field (type, field->data, field->size, &why);
        if (code)
            return s_fail (self, code, "%s field %zu: %s", schema->name, i + 1, why);
        s_push_sized (self, s_part_strdup (field), field->size);
    }
    return 0;
}

static int
s_recv (pc_msg_t *self, zsock_t *input, bool wait)
{
    assert (self);
    assert (input);
    zmsg_t *msg = wait? zmsg_recv (input): zmsg_recv_nowait (input);
    if (!msg)
        return -1;
    int type = zsock_type (input);
    int flags = type == ZMQ_ROUTER? PC_MSG_ROUTED:
                (type == ZMQ_SUB || type == ZMQ_XSUB)? PC_MSG_TOPIC: 0;
    return pc_msg_decode (self, &msg, flags);
}

int
pc_msg_recv (pc_msg_t *self, zsock_t *input)
{
    return s_recv (self, input, true);
}

int
pc_msg_recv_nowait (pc_msg_t *self, zsock_t *input)
{
    return s_recv (self, input, false);
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

//  SIGNATURE COMMAND REQID (NULL: "") and nfields fields (fields [i] of
//  sizes [i] bytes; sizes NULL: NUL-terminated), packed: its size, and
//  writing it at data (that many bytes)
static size_t
s_parts_size (const char *command, const char *reqid, size_t nfields,
              const char *const *fields, const size_t *sizes)
{
    const char *head [] = { PC_SIGNATURE, command, reqid? reqid: "" };
    size_t size = s_varint_size (3 + nfields);
    for (size_t i = 0; i < 3 + nfields; i++) {
        size_t length = i < 3? strlen (head [i]): sizes? sizes [i - 3]: strlen (fields [i - 3]);
        size += s_varint_size (length) + length;
    }
    return size;
}

static void
s_parts_write (byte *data, size_t size, const char *command, const char *reqid, size_t nfields,
               const char *const *fields, const size_t *sizes)
{
    const char *head [] = { PC_SIGNATURE, command, reqid? reqid: "" };
    size_t offset = s_varint_put (data, 3 + nfields);
    for (size_t i = 0; i < 3 + nfields; i++) {
        const char *part = i < 3? head [i]: fields [i - 3];
        size_t length = i < 3 || !sizes? strlen (part): sizes [i - 3];
        offset += s_varint_put (data + offset, length);
        memcpy (data + offset, part, length);
        offset += length;
    }
    assert (offset == size);
}

//  The packed message's size, without a prefix
static size_t
s_packed_size (pc_msg_t *self)
{
    assert (self->command);
    return s_parts_size (self->command, self->reqid, self->nfields,
                         (const char *const *) self->fields, self->sizes);
}

//  Writes the packed message at data (s_packed_size bytes)
static void
s_pack_write (pc_msg_t *self, byte *data, size_t size)
{
    s_parts_write (data, size, self->command, self->reqid, self->nfields,
                   (const char *const *) self->fields, self->sizes);
}

//  The packed message, after prefix (prefix_size bytes, may be 0), into a
//  new ZeroMQ message.
static void
s_pack_into (pc_msg_t *self, const char *prefix, size_t prefix_size, zmq_msg_t *out)
{
    size_t size = s_packed_size (self);
    int rc = zmq_msg_init_size (out, prefix_size + size);
    assert (rc == 0);
    byte *data = (byte *) zmq_msg_data (out);
    if (prefix_size)
        memcpy (data, prefix, prefix_size);
    s_pack_write (self, data + prefix_size, size);
}

void
pc_msg_pack_append (pc_msg_t *self, pc_buf_t *buf)
{
    assert (self);
    assert (buf);
    size_t size = s_packed_size (self);
    s_pack_write (self, (byte *) pc_buf_extend (buf, size), size);
}

void
pc_msg_pack_parts (pc_buf_t *buf, const char *command, const char *reqid,
                   size_t nfields, const char *const *fields, const size_t *sizes)
{
    assert (buf && command);
    size_t size = s_parts_size (command, reqid, nfields, fields, sizes);
    s_parts_write ((byte *) pc_buf_extend (buf, size), size, command, reqid, nfields, fields, sizes);
}

zframe_t *
pc_msg_pack (pc_msg_t *self)
{
    assert (self);
    zmq_msg_t packed;
    s_pack_into (self, NULL, 0, &packed);
    zframe_t *frame = zframe_new (zmq_msg_data (&packed), zmq_msg_size (&packed));
    zmq_msg_close (&packed);
    return frame;
}

//  Sends self in packed form: [routing id] then one frame, which starts
//  with the topic and a NUL when there is a topic.
static int
s_send (pc_msg_t *self, zsock_t *output, int flags)
{
    assert (self);
    void *handle = zsock_resolve (output);
    int zflags = (flags & ZFRAME_DONTWAIT)? ZMQ_DONTWAIT: 0;
    //  Only the first frame can fail with EAGAIN: the rest are atomic.
    if (self->routing_id
    &&  zmq_send (handle, zframe_data (self->routing_id), zframe_size (self->routing_id),
                  ZMQ_SNDMORE | zflags) == -1)
        return -1;
    zmq_msg_t packed;
    if (self->topic)
        s_pack_into (self, self->topic, strlen (self->topic) + 1, &packed);
    else
        s_pack_into (self, NULL, 0, &packed);
    if (zmq_msg_send (&packed, handle, self->routing_id? 0: zflags) == -1) {
        zmq_msg_close (&packed);
        return -1;
    }
    return 0;
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
pc_cmd_t    pc_msg_cmd     (pc_msg_t *self) { assert (self); return self->cmd; }
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

//  pc_msg.h: one PyChat protocol message (opaque) and its codec.
//
//  Every message is [routing-id] [topic] SIGNATURE COMMAND REQID FIELD*
//  (PROTOCOL.md, "Framing"). The codec decodes, bounds-checks and encodes;
//  what to do about a bad message is the caller's policy.
#ifndef PC_MSG_H_INCLUDED
#define PC_MSG_H_INCLUDED

#include <czmq.h>
#include "pc_util.h"

typedef struct _pc_msg_t pc_msg_t;

//  Decoding flags, for pc_msg_decode; pc_msg_recv derives them from the
//  socket type (ROUTER: routed; SUB, XSUB: topic).
#define PC_MSG_ROUTED   1           //  first frame is a ROUTER routing id
#define PC_MSG_TOPIC    2           //  first (next) frame is a PUB/SUB topic

pc_msg_t   *pc_msg_new          (const char *command);      //  caller owns result
void        pc_msg_destroy      (pc_msg_t **self_p);        //  frees, nulls *self_p

//  Receives and decodes one message: 0 ok, -1 interrupted, -2 malformed (the
//  error code and text say why; the request id is kept when it was readable).
int         pc_msg_recv         (pc_msg_t *self, zsock_t *input);
//  The same without waiting: -1 also when nothing is waiting. Cheaper than
//  asking ZMQ_EVENTS first (that is a poll and a getpid system call each).
int         pc_msg_recv_nowait  (pc_msg_t *self, zsock_t *input);
//  Decodes *msg_p (takes ownership, nulls it). Same return codes.
int         pc_msg_decode       (pc_msg_t *self, zmsg_t **msg_p, int flags);
//  Sends the message; the message is kept, so it can be sent again. 0 | -1.
int         pc_msg_send         (pc_msg_t *self, zsock_t *output);
//  Sends with ZMQ_DONTWAIT: -1 (errno EAGAIN) when it would block.
int         pc_msg_send_nowait  (pc_msg_t *self, zsock_t *output);
//  Encodes into a new zmsg in plain form, one frame per part (caller owns).
//  pc_msg_send does not use it: it sends the packed form.
zmsg_t     *pc_msg_encode       (pc_msg_t *self);
//  Encodes SIGNATURE COMMAND REQID FIELD* into one frame (PROTOCOL.md,
//  "Framing"): a part count, then each part's size and bytes. One frame is
//  one CURVE box, however many parts the message has.
zframe_t   *pc_msg_pack         (pc_msg_t *self);
//  Appends the packed message to buf: a batch is messages packed one after
//  another (PROTOCOL.md, "Framing"), built without a copy per message.
void        pc_msg_pack_append  (pc_msg_t *self, pc_buf_t *buf);
//  The same for COMMAND REQID (NULL: "") and nfields fields (fields [i]
//  of sizes [i] bytes; sizes NULL: NUL-terminated), without making a
//  pc_msg_t: for the broker's per-message paths (a delivery, an OK), where
//  building one cost a dozen allocations.
void        pc_msg_pack_parts   (pc_buf_t *buf, const char *command, const char *reqid,
                                 size_t nfields, const char *const *fields, const size_t *sizes);
//  For lean readers: the parts of the packed message at *offset in data,
//  neither copied nor checked (parts [i] points into data). Returns the
//  part count (at most max are filled in) and moves *offset past the
//  message, or -1 when it does not add up (*offset unchanged).
int         pc_msg_unpack_parts (const byte *data, size_t size, size_t *offset,
                                 const byte **parts, size_t *sizes, size_t max);

//  A packed frame may carry several messages in a row (a batch): recv and
//  decode give the first; while pc_msg_more is true, pc_msg_next decodes
//  the next one in place (same topic). next: 0 | -2 malformed | -1 none.
bool        pc_msg_more         (pc_msg_t *self);
int         pc_msg_next         (pc_msg_t *self);
//  Moves the rest of source's batch, with its sender (routing id, topic,
//  CURVE User-Id, peer address), into self, which is reset first; then
//  pc_msg_next (self) decodes the next message. For a server that keeps a
//  decoded request while it reads the next one.
void        pc_msg_move_batch   (pc_msg_t *self, pc_msg_t *source);
//  A copy of the decoded message (topic, ids, fields; not the batch).
pc_msg_t   *pc_msg_dup          (pc_msg_t *self);

//  Clears command, fields, ids and error; keeps nothing.
void        pc_msg_reset        (pc_msg_t *self, const char *command);

const char *pc_msg_command      (pc_msg_t *self);           //  borrowed
const char *pc_msg_reqid        (pc_msg_t *self);           //  borrowed, "" if none
void        pc_msg_set_reqid    (pc_msg_t *self, const char *reqid);
const char *pc_msg_topic        (pc_msg_t *self);           //  borrowed or NULL
void        pc_msg_set_topic    (pc_msg_t *self, const char *topic);
zframe_t   *pc_msg_routing_id   (pc_msg_t *self);           //  borrowed or NULL
void        pc_msg_set_routing_id (pc_msg_t *self, zframe_t *routing_id);   //  copies
//  CURVE User-Id (Z85 public key) and peer address of the sender, as the
//  receiving socket's ZAP handler set them; NULL when not known.
const char *pc_msg_user_id      (pc_msg_t *self);
const char *pc_msg_peer_address (pc_msg_t *self);

size_t      pc_msg_nfields      (pc_msg_t *self);
const char *pc_msg_field        (pc_msg_t *self, size_t index);    //  borrowed, NULL past end
void        pc_msg_add          (pc_msg_t *self, const char *field);
//  Size of a field in bytes: binary fields (FDATA, FCHUNK data) may hold NUL.
size_t      pc_msg_field_size   (pc_msg_t *self, size_t index);
//  Adds a field of size bytes, copied; any content.
void        pc_msg_add_mem      (pc_msg_t *self, const void *data, size_t size);
void        pc_msg_addf         (pc_msg_t *self, const char *format, ...)
                                __attribute__ ((format (printf, 2, 3)));

//  After -2 from recv/decode: the PC_ERR_* code and a one-line reason.
int         pc_msg_error        (pc_msg_t *self);
const char *pc_msg_error_text   (pc_msg_t *self);

//  For replies: is this an ERROR, and its code / text.
bool        pc_msg_is           (pc_msg_t *self, const char *command);
int         pc_msg_error_code   (pc_msg_t *self);           //  0 unless ERROR
const char *pc_msg_error_reason (pc_msg_t *self);           //  "" unless ERROR

//  Builds an ERROR reply to request (routing id and request id copied).
pc_msg_t   *pc_msg_new_error    (pc_msg_t *request, int code, const char *text);
//  Builds an OK reply to request (routing id and request id copied).
pc_msg_t   *pc_msg_new_ok       (pc_msg_t *request);

void        pc_msg_test         (bool verbose);

//  The generated vocabulary: command enum, named accessors, constructors.
#include "pc_proto.h"
#endif

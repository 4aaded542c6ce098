//  pc_fanout.h: the framing of fan-out messages (XPUB -> SUB).
//
//  PROTOCOL.md, "Framing" and "Fan-out messages": a fan-out frame is the
//  subscriber's topic, a NUL, then packed messages (pc_msg_pack) that fill
//  the frame; a batch goes out in frames of at most PC_FANOUT_FRAME_MAX
//  (one message alone may be larger). A frame over PC_FANOUT_INLINE_MAX is
//  sent as two frames instead, [topic][packed messages], so that one body is
//  built once and shared by reference among many subscribers. Receivers
//  accept both. Who gets what is the sender's business, not this one's.
#ifndef PC_FANOUT_H_INCLUDED
#define PC_FANOUT_H_INCLUDED

#include <czmq.h>

//  CURVE allocates two buffers of a frame's size per subscriber; below the
//  allocator's mmap threshold (16 KiB: the broker's main.c sets it) they
//  come from the heap instead of fresh pages, and a few boxes per batch
//  cost little more than one.
#define PC_FANOUT_FRAME_MAX     (12 * 1024)
//  Up to this size a copy per subscriber costs less than a second box.
#define PC_FANOUT_INLINE_MAX    8192

//  Sends size bytes of packed messages on topic as one frame (topic, NUL,
//  data) on a ZeroMQ socket handle; never blocks on an XPUB (a subscriber
//  over its high-water mark loses it). 0 | -1.
int     pc_fanout_send          (void *handle, const char *topic, const void *data, size_t size);
//  A body for pc_fanout_send_shared: a copy of data (caller closes it with
//  zmq_msg_close). 0 | -1.
int     pc_fanout_body_init     (zmq_msg_t *body, const void *data, size_t size);
//  Sends [topic][body], the body shared by reference (body stays the
//  caller's). 0 | -1.
int     pc_fanout_send_shared   (void *handle, const char *topic, zmq_msg_t *body);
//  Whether size more bytes of packed messages may join a frame that holds
//  frame_size bytes already (an empty frame takes any message).
static inline bool
pc_fanout_fits (size_t frame_size, size_t size)
{
    return frame_size == 0 || frame_size + size <= PC_FANOUT_FRAME_MAX;
}

void    pc_fanout_test          (bool verbose);
#endif

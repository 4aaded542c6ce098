//  broker_store.h: room history in Redis, one stream per room.
//
//  Streams are named by the caller: "room:NAME" for a room, "inbox:USER" for
//  a user's direct messages; the parameters named room below are such names.
//  A message is stored before it is acknowledged: one Lua script does the
//  dedup check (sender + client message id), the per-stream sequence (INCR
//  of NAME:seq) and the XADD (id "SEQ-0", trimmed to the newest history_max),
//  so a resent SEND is stored once even across broker restarts. Room
//  messages of senders past their resends are numbered by the broker and
//  delivered while Redis stores them, from ids reserved in NAME:ahead.
//
//  While Redis is down, messages to rooms whose sequence the broker knows
//  are kept in an in-memory journal (bounded) with the next sequence number
//  and written, in order, when Redis returns: chat goes on during a Redis
//  outage; what a broker crash *during* an outage would lose is the journal.
#ifndef BROKER_STORE_H_INCLUDED
#define BROKER_STORE_H_INCLUDED

#include <czmq.h>
#include "pc_redis.h"

typedef struct _broker_store_t broker_store_t;

#define BROKER_STORE_RESERVE    1024    //  ids reserved ahead at a time (see broker_store.c)
#define BROKER_STORE_RETRY_MS   500     //  between reconnection attempts

typedef struct {
    uint64_t seq;
    int64_t  ts;
    char    *from;
    char    *text;
} broker_record_t;

broker_store_t *broker_store_new     (const char *host, int port, size_t history_max);
void        broker_store_destroy     (broker_store_t **self_p);
//  Several brokers on one Redis (broker_cluster.h): every append is
//  numbered by Redis and published, in the same script, on the stream's
//  channel (broker_store_channel); nothing is numbered ahead and nothing
//  journaled (while Redis is away appends fail: 503).
void        broker_store_set_cluster (broker_store_t *self, bool cluster);
//  Acknowledge only what replicas Redis replicas have (WAIT, at most
//  timeout_ms), or all the primary has when it has fewer (ROLE, read each
//  second: a primary left alone after a failover still takes SENDs): an
//  append they do not confirm in time gives rc -2 (stored on the primary,
//  which may lose it in a failover: the client resends, and the resend is
//  recognised). 0: no wait (the default).
void        broker_store_set_replicas (broker_store_t *self, int replicas, int timeout_ms);
//  A message of stream was delivered with id seq: this broker never
//  numbers another message seq or lower (a Redis that came back with less,
//  after a failover, is moved past it).
void        broker_store_delivered   (broker_store_t *self, const char *stream, uint64_t seq);
//  "pc:STREAM": the channel a stream's new messages are published on.
void        broker_store_channel     (const char *stream, char *channel, size_t size);

//  Stores one room message. 0: stored (or journaled), *seq and *ts set;
//  1: a duplicate of an earlier message (its *seq and *ts returned);
//  -1: cannot be stored (Redis down and the room's sequence unknown, or the
//  journal is full); -2: stored but not confirmed by the replicas asked for.
int         broker_store_append      (broker_store_t *self, const char *room, const char *from,
                                      const char *cmid, const char *text,
                                      uint64_t *seq, int64_t *ts);
//  Whether from stored a message with client message id cmid in stream
//  within the dedup window (10 to 20 minutes): a resend. False also when
//  Redis cannot say.
bool        broker_store_sent_before (broker_store_t *self, const char *from, const char *stream,
                                      const char *cmid);
//  Many appends at once, pipelined to Redis (one round trip for the lot);
//  each item's rc, seq and ts as broker_store_append would give them.
typedef struct {
    const char *stream;
    const char *from;
    const char *cmid;
    const char *text;
    uint64_t    seq;
    int64_t     ts;
    int         rc;
} broker_append_t;

void        broker_store_append_many (broker_store_t *self, broker_append_t *items, size_t count);
//  Numbering ahead, so that delivery need not wait for Redis: gives every
//  item its id and time now (rc 0; an item repeating an earlier one's
//  sender, stream and client message id gets that one's, rc 1) and returns
//  true, or returns false and numbers none when any stream's next ids are
//  not reserved yet (its first message since start: append_many it) or
//  Redis is down. No dedup check against Redis: only for senders whose
//  resends are behind them (see broker_session_resends_done).
bool        broker_store_number_many (broker_store_t *self, broker_append_t *items, size_t count);
//  Writes items numbered by number_many, pipelined, without waiting for
//  Redis: write_send hands the lot to Redis's socket, held there (TCP_CORK)
//  until write_release; once it returns the kernel has it: deliver then,
//  and a broker that dies does not lose what it delivered. It returns the
//  lot's ticket (1, 2, ...). Up to BROKER_STORE_LOTS lots may be in flight;
//  their items must stay put until they are answered.
//  write_read reads Redis's answers: what the socket holds (poll
//  write_fd, -1 when no lot is in flight), then waits until the lot of
//  ticket wait is answered (0: no wait). It returns the last ticket
//  answered; lots are answered in order. What Redis cannot take is
//  journaled (rc -1: the journal is full, the message is lost).
//  Anyone else's use of the connection reads the answers due first.
//  write_finish releases and waits for ticket.
#define BROKER_STORE_LOTS       4
uint64_t    broker_store_write_send    (broker_store_t *self, broker_append_t *items, size_t count);
void        broker_store_write_release (broker_store_t *self);
int         broker_store_write_fd      (broker_store_t *self);
uint64_t    broker_store_write_read    (broker_store_t *self, uint64_t wait);
void        broker_store_write_finish  (broker_store_t *self, uint64_t ticket);
//  Appends to records (broker_record_t *, list owns them) up to limit
//  messages of room: those after since (oldest first) when since > 0,
//  the first limit when since is BROKER_FROM_START, else (0) the latest
//  limit. 0 ok, -1 Redis unavailable.
#define BROKER_FROM_START   UINT64_MAX
int         broker_store_history     (broker_store_t *self, const char *room, uint64_t since,
                                      size_t limit, zlistx_t *records);
//  New list for broker_store_history (destroys its records).
zlistx_t   *broker_store_records_new (void);
//  Writes the journal if Redis is back; call it now and then. Returns the
//  number of messages still waiting.
size_t      broker_store_flush       (broker_store_t *self);
bool        broker_store_available   (broker_store_t *self);
//  The last id of stream as far as this store knows: false when it has
//  never learnt it (then it cannot number messages while Redis is away).
bool        broker_store_known_seq   (broker_store_t *self, const char *stream, uint64_t *seq);

//  Edits, deletes, replies and reactions are entries of the room's stream
//  like messages (appended the same way, numbered in the same sequence),
//  with a text that SEND's text cannot hold: RS (0x1E) KIND SP ID [SP TEXT]
//  (PROTOCOL.md, "Edits, deletes, replies and reactions").
#define BROKER_EVENT_MARK   '\x1e'
//  The entry seq of stream: 0 and *record_p (the caller's, destroyed by
//  broker_store_record_destroy);
//  1 no such entry (never, trimmed or deleted); -1 Redis unavailable.
int         broker_store_entry       (broker_store_t *self, const char *stream, uint64_t seq,
                                      broker_record_t **record_p);
//  Takes message seq's text out of Redis: the entry and every edit of it
//  are removed (a stream entry cannot be rewritten). 0 ok, -1 unavailable.
int         broker_store_scrub       (broker_store_t *self, const char *stream, uint64_t seq);
void        broker_store_record_destroy (broker_record_t **record_p);

//  The store's connection to Redis, for broker_roomdb (borrowed).
pc_redis_t *broker_store_redis       (broker_store_t *self);

void        broker_store_test        (bool verbose);
#endif

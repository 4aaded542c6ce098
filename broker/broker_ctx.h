//  broker_ctx.h: the broker's shared state, as the actor (broker_server)
//  and every command module (broker_chat, broker_moderation,
//  broker_authlink, broker_files) see it, and the helpers they share.
//
//  Every command handler has the same shape (see broker_dispatch.h):
//      int broker_on_<command> (broker_t *self, pc_msg_t *request,
//                               broker_session_t *session);
//  The actor checks who may send the command before it calls the handler.
#ifndef BROKER_CTX_H_INCLUDED
#define BROKER_CTX_H_INCLUDED

#include <czmq.h>
#include "pc_config.h"
#include "pc_msg.h"
#include "broker_fanout.h"
#include "broker_limits.h"
#include "broker_metrics.h"
#include "broker_room.h"
#include "broker_session.h"
#include "broker_store.h"

#define BROKER_BATCH_MAX    256     //  requests read in one go; SENDs among them share one Redis round trip
#define BROKER_LOTS         3       //  lots of SENDs: one filling, up to two waiting for Redis

//  czmq 4.2 has no log level: per-message logs only with -v
#define broker_debug(self, ...) do { if ((self)->verbose) zsys_debug (__VA_ARGS__); } while (0)

//  A lot of SENDs read together: numbered, delivered and written to Redis
//  in one go, acknowledged once Redis has them (broker_chat)
typedef struct {
    pc_msg_t   *msgs [BROKER_BATCH_MAX];        //  requests, reused
    broker_session_t *sessions [BROKER_BATCH_MAX];
    int64_t     received [BROKER_BATCH_MAX];    //  when each SEND was read (us)
    broker_append_t items [BROKER_BATCH_MAX];
    char        streams [BROKER_BATCH_MAX][48];
    size_t      size;
    bool        ahead;          //  numbered here, written without waiting
    uint64_t    ticket;         //  the store's, while its write is in flight
} broker_lot_t;

typedef struct _broker_t broker_t;
typedef struct _broker_cluster_t broker_cluster_t;
typedef struct _broker_search_t broker_search_t;
struct _broker_t {
    zsock_t    *pipe;
    pc_config_t config;
    zcert_t    *cert;
    char       *admin_key;      //  pychat-admin on the server host
    char       *filesvc_key;    //  the file service (FCHECK, FEVENT)
    int64_t     filesvc_heard;  //  its last message (ms), 0: never
    zsock_t    *router;
    broker_fanout_t *fanout;    //  the XPUB
    zsock_t    *authsvc;
    zhashx_t   *sessions;       //  key -> broker_session_t
    zhashx_t   *rooms;          //  name -> broker_room_t
    zhashx_t   *pending;        //  auth request id -> broker_pending_t (broker_authlink)
    broker_store_t *store;      //  history and inboxes in Redis
    broker_cluster_t *cluster;  //  several brokers on one Redis (NULL: alone)
    broker_limits_t *limits;    //  flood control and slow mode
    broker_search_t *search;    //  the search index's cursors (broker_search)
    int64_t     next_trim;      //  when the heap is next given back (malloc_trim)
    uint64_t    next_auth_id;
    pc_msg_t   *msg;            //  reused for every receive
    //  A ring of lots: those written and waiting for Redis's answer
    //  (lots_flying of them from lot_first, oldest first), then the one
    //  SENDs are read into (broker_ctx_lot; see broker_on_send)
    broker_lot_t lots [BROKER_LOTS];
    size_t      lot_first, lots_flying;
    uint64_t    latency_sum_us; //  read -> published, this heartbeat window
    uint64_t    latency_max_us;
    uint64_t    latency_count;
    broker_latency_t latency;   //  the same, as a histogram since the start
    size_t      members_cursor; //  the next room whose members the heartbeat names
    pc_msg_t   *carry;          //  the rest of a client's batch of requests
    pc_buf_t    acks;           //  one connection's acknowledgements of a lot, packed
    pc_buf_t    packed;         //  one delivery, packed
    int64_t     next_heartbeat;
    char        audit_seen [48];    //  the last audit entry read ("": none yet)
    int64_t     auth_heard;     //  last reply from an auth service (ms), 0: never
    int64_t     started;
    bool        terminated;
    bool        verbose;
    //  Counters, for the log and the monitor
    uint64_t    malformed;
    uint64_t    flushes, flushed;   //  broker_chat_flush calls with work, SENDs they stored
    uint64_t    flushed_ahead;      //  of those, SENDs numbered ahead of Redis
};

//  The lot SENDs are read into now.
broker_lot_t *broker_ctx_lot        (broker_t *self);
//  Replies to request: an ERROR, or an OK without fields.
void        broker_ctx_reply_error  (broker_t *self, pc_msg_t *request, int code, const char *text);
void        broker_ctx_reply_ok     (broker_t *self, pc_msg_t *request);
//  Sends reply (a fresh message: this takes it and destroys it) to its client.
void        broker_ctx_send         (broker_t *self, pc_msg_t *reply);
//  Sends packed replies (a batch) to the client at routing_id, as one frame.
void        broker_ctx_send_packed  (broker_t *self, zframe_t *routing_id, pc_buf_t *packed);
//  Sends the monitor an EVENT (kind, a, b; NULL: none) on "$ev/".
void        broker_ctx_event        (broker_t *self, const char *kind, const char *a, const char *b);
//  Rooms. A room exists from its first JOIN or CREATE, and once Redis holds
//  anything of it (messages, settings): only JOIN, CREATE (and what is
//  stored in a room, which needs a member) make one; reading one that does
//  not exist makes nothing.
//  The room of that name, made on first sight with what Redis holds of it;
//  NULL while Redis cannot be read (a room not seen yet).
broker_room_t *broker_ctx_room      (broker_t *self, const char *name);
//  The room if it exists: 0 (*room_p set), 1 no such room, -1 Redis cannot
//  be read (a room not seen yet).
int         broker_ctx_room_find    (broker_t *self, const char *name, broker_room_t **room_p);
//  May session learn that room exists? An open room: anyone; an
//  invite-only room: its members, creator, invited and admins.
bool        broker_ctx_room_visible (broker_room_t *room, broker_session_t *session);
//  The room named for a read by request, or NULL when the request was
//  answered: 404 "no such room: NAME" when it does not exist or session may
//  not see it (the same answer, so outsiders do not learn of a private
//  room), 503 while Redis cannot be read.
broker_room_t *broker_ctx_room_for  (broker_t *self, pc_msg_t *request, broker_session_t *session,
                                     const char *name);
bool        broker_ctx_is_admin     (broker_session_t *session);
//  Reads a room's settings again (another broker changed them).
void        broker_ctx_room_reload  (broker_t *self, const char *name);
//  user's membership of room began (in) or ended here: tells the monitor,
//  and the other brokers' WHO.
void        broker_ctx_membership   (broker_t *self, const char *user, const char *room, bool in);
//  Leaves every room and forgets the user; tells the monitor.
void        broker_ctx_logout       (broker_t *self, broker_session_t *session);
#endif

//  client_session.h: the client's session engine, never blocking.
//
//  One broker session as the protocol wants it kept (PROTOCOL.md, "History
//  and zero loss" and "Subscriptions"): LOGIN, then JOIN of every followed
//  room, then the SENDs that were not acknowledged (first, in the order
//  they were sent, with the same client message ids), then SUBS until the
//  session topic is listed, then the catch-up of every room from its last
//  id. Afterwards a SUBS every second is the probe: a reply that no longer
//  lists the topic, or any reply that says 403 "log in first" (the broker
//  restarted and forgot the session), logs in again on a new connection at
//  once; no reply for 3 s reconnects with backoff (1, 2, 4 ... 30 s).
//
//  Live room messages are handed on in id order, each once: an id that is
//  not the last + 1 makes the engine fetch the gap from HISTORY first.
//
//  The engine talks to a transport through a small table of functions
//  (client_session_transport_t), so a test can drive it with a scripted
//  fake; client_conn provides the real one. It tells its front end what
//  happens through callbacks (client_session_events_t). Everything runs in
//  the caller's thread: it polls the transport's sockets and calls
//  client_session_input, and calls client_session_tick at least every
//  200 ms.
#ifndef CLIENT_SESSION_H_INCLUDED
#define CLIENT_SESSION_H_INCLUDED

#include <czmq.h>
#include "pc_msg.h"

#define CLIENT_SESSION_REQID    32      //  bytes of a request id, NUL included
#define CLIENT_SESSION_CID      40      //  bytes of a client message id
#define CLIENT_SESSION_INBOX    "@dm"   //  the track of the user's direct messages

//  What the engine needs of a connection: open (a new key each time),
//  close, send a request under a fresh request id (copied into reqid),
//  open the SUB at the DEALER's host, read the next reply / fan-out
//  message (NULL when none is waiting; caller owns), and a monotonic clock
//  in ms. Returns: 0, or -1 (errtext says why, for open).
typedef struct {
    int       (*open)      (void *handle, const char *endpoint, const char *server_key,
                            char *errtext, size_t size);
    void      (*close)     (void *handle);
    int       (*send)      (void *handle, pc_msg_t *request, char *reqid);
    int       (*subscribe) (void *handle, int port, const char *topic);
    pc_msg_t *(*reply)     (void *handle);
    pc_msg_t *(*fanout)    (void *handle);
    int64_t   (*now)       (void *handle);
} client_session_transport_t;

typedef enum {
    CLIENT_SESSION_IDLE,                //  not started, or stopped
    CLIENT_SESSION_CONNECTING,          //  LOGIN sent
    CLIENT_SESSION_ONLINE,              //  logged in
    CLIENT_SESSION_WAITING,             //  lost: the next attempt comes at retry_at
    CLIENT_SESSION_REFUSED              //  LOGIN refused (or the endpoint unusable)
} client_session_state_t;

//  No reply at all for this long (by default): the server is gone
#define CLIENT_SESSION_DEAD_MS  3000

//  Every callback may be NULL. arg is the front end's (client_session_new).
typedef struct {
    //  The state changed; why says what happened (a lost connection, a
    //  refused LOGIN's reason), "" when nothing needs saying.
    void (*state)    (void *arg, client_session_state_t state, const char *why);
    //  LOGIN answered: OK (every login, after a reconnect too: publish keys,
    //  read the inbox here) or ERROR (the state is REFUSED then).
    void (*login)    (void *arg, pc_msg_t *reply, bool again);
    //  JOIN of a followed room answered with an ERROR (code, reason).
    void (*join_failed) (void *arg, const char *room, int code, const char *reason);
    //  A stored message of a followed room, in id order, once. live: it
    //  came on the fan-out (not from a catch-up).
    void (*message)  (void *arg, const char *room, uint64_t id, const char *from,
                      int64_t ts, const char *text, bool live);
    //  A direct message to the user (client_session_follow_inbox), in id
    //  order, once; box is sealed (client_dm).
    void (*dm)       (void *arg, uint64_t id, const char *from, const char *to,
                      int64_t ts, const char *box, bool live);
    //  The server held back a SEND or DM (429, flood control or slow
    //  mode): it goes again by itself in wait_ms. reason is the server's.
    void (*held)     (void *arg, const char *cid, int64_t wait_ms, const char *reason);
    //  Messages first to last are no longer in the history (trimmed).
    void (*lost)     (void *arg, const char *room, uint64_t first, uint64_t last);
    //  A SEND was answered: code 0 with its id and time, or the ERROR's
    //  code and reason (the message is dropped from the outbox either way).
    //  A DM's id is the sender's copy's (an id of its own inbox), when the
    //  broker stored one; else the recipient's.
    void (*sent)     (void *arg, const char *cid, int code, const char *reason,
                      uint64_t id, int64_t ts);
    //  A front-end request (client_session_request) was answered; reply is
    //  NULL when it never will be (the connection was lost, or 15 s passed).
    void (*reply)    (void *arg, int kind, const char *what, long n, pc_msg_t *reply);
    //  A fan-out message that is not a MSG of a followed room (DMMSG,
    //  NOTICE, ...).
    void (*fanout)   (void *arg, pc_msg_t *msg);
    //  Subscribed and caught up after a (re)login.
    void (*ready)    (void *arg);
    //  A LOGIN gave a resume token (save it: token and its id sid), or a
    //  RESUME was refused (token NULL: forget the saved one).
    void (*token)    (void *arg, const char *token, const char *sid);
    //  A RESUME was refused and no password is at hand: fill password
    //  (size bytes) and return 0, or -1 to give up (REFUSED).
    int  (*password) (void *arg, char *password, size_t size);
} client_session_events_t;

typedef struct _client_session_t client_session_t;

//  The wait an ERROR asks for: "retry-after=MS" in its detail (or its
//  reason), in ms; -1 when it names none.
int64_t     client_session_retry_after (pc_msg_t *reply);

//  handle is the transport's (borrowed).
client_session_t *client_session_new (const client_session_transport_t *transport, void *handle,
                                      const client_session_events_t *events, void *arg);
void        client_session_destroy   (client_session_t **self_p);

//  Opens the connection and sends LOGIN. The password is kept (for
//  logging in again) and wiped on destroy.
void        client_session_start     (client_session_t *self, const char *endpoint,
                                      const char *server_key, const char *user,
                                      const char *password);
//  The same, with REGISTER first: a refused REGISTER comes to
//  events.login like a refused LOGIN.
void        client_session_register  (client_session_t *self, const char *endpoint,
                                      const char *server_key, const char *user,
                                      const char *password);
//  Logs in with RESUME and this token (from an earlier LOGIN) first; a
//  refused token falls back to the password. After every LOGIN the engine
//  keeps the token it got and reconnects with it: no password hashing on
//  the server for a reconnect.
void        client_session_set_token (client_session_t *self, const char *token);
//  The device name sent with LOGIN and RESUME (client_token_device).
void        client_session_set_device (client_session_t *self, const char *device);
//  The id of the token this login holds ("" when none).
const char *client_session_token_id (client_session_t *self);
//  Before the first login the engine gives up when the server does not
//  answer (IDLE: a person at a form is waiting); persistent, it retries
//  with backoff as it does afterwards.
void        client_session_set_persistent (client_session_t *self, bool persistent);
//  Reliable (the scriptable send and dm): a SEND or DM answered 503 and a
//  JOIN answered 503 go again at the next probe, and a SEND waits for its
//  room's JOIN. Otherwise (the full-screen client) 503 is an answer.
void        client_session_set_reliable (client_session_t *self, bool reliable);
//  Waits after a lost connection: first_ms, doubled each time up to max_ms
//  (default 1 s to 30 s).
void        client_session_set_backoff (client_session_t *self, int first_ms, int max_ms);
//  How long a silent server is waited for (default 3 s): for LOGIN, and
//  for the replies to the probe.
void        client_session_set_patience (client_session_t *self, int ms);
//  Closes the connection; followed rooms and the outbox are kept.
void        client_session_stop      (client_session_t *self);

//  Follows room: JOIN now (when online) and after every login, then the
//  catch-up. known: last is the last id the front end has (0: from the
//  first message); else the latest backlog messages are handed on (0: none,
//  the room starts at its newest message; -1: the room is only joined, for
//  SENDs, and nothing of it is handed on).
void        client_session_follow    (client_session_t *self, const char *room, bool known,
                                      uint64_t last, long backlog);
//  Follows the user's direct messages after id last (0: from the first),
//  from INBOX and DMMSG, like a room (events.dm); "room" CLIENT_SESSION_INBOX
//  in events.lost. Without it, DMMSG goes to events.fanout.
void        client_session_follow_inbox (client_session_t *self, uint64_t last);
//  Stops following room (LEAVE when online).
void        client_session_unfollow  (client_session_t *self, const char *room);

//  Queues text for room under a new client message id (copied into cid)
//  and sends it when online. 0, or -1 when the outbox is full.
int         client_session_send      (client_session_t *self, const char *room,
                                      const char *text, char *cid);
//  Queues a SEND or DM request (fields: target, client message id, ...;
//  taken over) the same way. 0, or -1 when the outbox is full.
int         client_session_send_request (client_session_t *self, pc_msg_t **request_p);
size_t      client_session_queued    (client_session_t *self);

//  Sends a front-end request; its reply comes to events.reply with kind,
//  what and n. 0, or -1 when not online (nothing is called then).
int         client_session_request   (client_session_t *self, pc_msg_t *request, int kind,
                                      const char *what, long n);

//  Reads every reply and fan-out message waiting on the transport.
void        client_session_input     (client_session_t *self);
//  Timers: probe, liveness, reconnect, SUBS retries, expiry.
void        client_session_tick      (client_session_t *self);

client_session_state_t client_session_state (client_session_t *self);
bool        client_session_ever_online (client_session_t *self);
//  When the next attempt comes (WAITING), on the transport's clock.
int64_t     client_session_retry_at  (client_session_t *self);
const char *client_session_user      (client_session_t *self);
const char *client_session_topic     (client_session_t *self);

void        client_session_test      (bool verbose);

#endif

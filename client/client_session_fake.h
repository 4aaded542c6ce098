//  client_session_fake.h: a scripted fake of client_session's transport
//  table, for client_session's selftest only.
//
//  Nothing goes anywhere: what the engine sends is kept for the test to
//  take (client_session_fake_expect), replies and fan-out are queued by the
//  test, and the clock moves only when the test moves it.
#ifndef CLIENT_SESSION_FAKE_H_INCLUDED
#define CLIENT_SESSION_FAKE_H_INCLUDED

#include "client_session.h"

typedef struct _client_session_fake_t client_session_fake_t;

extern const client_session_transport_t client_session_fake_transport;

client_session_fake_t *client_session_fake_new (void);
void        client_session_fake_destroy (client_session_fake_t **self_p);
//  The fake's clock (ms) and how often the engine opened a connection.
int64_t    *client_session_fake_clock   (client_session_fake_t *self);
int         client_session_fake_opens   (client_session_fake_t *self);
bool        client_session_fake_is_open (client_session_fake_t *self);
const char *client_session_fake_topic   (client_session_fake_t *self);     //  subscribed to
size_t      client_session_fake_pending (client_session_fake_t *self);     //  sent, not taken
void        client_session_fake_purge   (client_session_fake_t *self);     //  drops those

//  The next request the engine sent: must be command; caller owns it.
pc_msg_t   *client_session_fake_expect  (client_session_fake_t *fake, const char *command);
//  Answers request OK with fields (NULL-terminated); destroys request.
void        client_session_fake_answer  (client_session_fake_t *fake, pc_msg_t **request_p, ...);
//  Answers request ERROR code reason; destroys request.
void        client_session_fake_refuse  (client_session_fake_t *fake, pc_msg_t **request_p,
                                         int code, const char *reason);
//  Queues a MSG of room from bob on the subscribed topic.
void        client_session_fake_fan     (client_session_fake_t *fake, const char *id,
                                         const char *room, const char *text);

//  Scripts a login of session (user alice, topic s/T/, following room
//  r): LOGIN answered, then JOIN r, resends SENDs (handed back in sends),
//  SUBS; JOIN and SUBS answered. Returns the catch-up HISTORY, still out.
pc_msg_t   *client_session_fake_login   (client_session_t *session, client_session_fake_t *fake,
                                         pc_msg_t **sends, int resends);

//  A front end that writes down what it hears (the events' arg): one
//  "ROOM:ID:TEXT;" per message ('*' after it when not live), one
//  "sent:CODE:ID;" per SEND answered.
typedef struct {
    char log [4096];
    int  readies;
    client_session_state_t state;
} client_session_fake_heard_t;
extern const client_session_events_t client_session_fake_events;

#endif

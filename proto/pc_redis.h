//  pc_redis.h: a service's connection to Redis (hiredis), shared by the
//  stores of authsvc and filesvc.
//
//  Connected lazily, at most 1 s to connect, 2 s per command, so no call
//  blocks for long; dropped after an I/O error (its stream may be out of
//  step) and made afresh by the next call. An outage is logged once when it
//  starts and once when it ends ("SERVICE: redis HOST:PORT unavailable
//  (...): answering 503 until it is back" / "... is back"); meanwhile the
//  callers answer 503.
#ifndef PC_REDIS_H_INCLUDED
#define PC_REDIS_H_INCLUDED

#include <czmq.h>
#include <hiredis/hiredis.h>

typedef struct _pc_redis_t pc_redis_t;

//  service names the log lines ("authsvc"). Does not connect yet. With
//  PYCHAT_REDIS_SENTINELS set (host:port,...), host and port are only the
//  first guess: each connect asks the sentinels where the primary named
//  PYCHAT_REDIS_MASTER (default "pychat") is, so a service follows a
//  failover; a write refused as READONLY (a demoted primary) reconnects.
//  host and port: a TCP address, or (port 0) the path of a Unix socket.
pc_redis_t   *pc_redis_new        (const char *service, const char *host, int port);
void          pc_redis_destroy    (pc_redis_t **self_p);
//  The connected context (borrowed), connecting first if need be; NULL
//  when Redis cannot be reached (the outage is logged).
redisContext *pc_redis_context    (pc_redis_t *self);
//  Checks a reply the caller got from pc_redis_context's context: NULL
//  (I/O error: the connection is dropped) and error replies count as an
//  outage and give NULL (an error reply is freed); any other reply ends an
//  outage and is returned.
redisReply   *pc_redis_checked    (pc_redis_t *self, redisReply *reply);
//  One command (hiredis format); its reply (caller frees) or NULL, as
//  pc_redis_checked.
redisReply   *pc_redis_command    (pc_redis_t *self, const char *format, ...);
//  One command from an argument vector (binary-safe); as pc_redis_command.
redisReply   *pc_redis_argv       (pc_redis_t *self, int argc, const char **argv,
                                   const size_t *argvlen);
//  COMMAND PREFIX+NAME... : one command over a key per name of names (each
//  name up to its first space, so "ID ENDPOINT" items give ID), e.g.
//  MGET away:alice away:bob; as pc_redis_command. An empty list: NULL.
redisReply   *pc_redis_keys       (pc_redis_t *self, const char *command, const char *prefix,
                                   zlistx_t *names);
//  A connection to host:port, or to the Unix socket host when port is 0
//  (pc_config: PYCHAT_REDIS=/PATH); NULL or a context with err set, as
//  hiredis's redisConnectWithTimeout.
redisContext *pc_redis_connect    (const char *host, int port, struct timeval timeout);
//  "host:port", or the socket's path, for a log line; returns buf.
const char   *pc_redis_where      (const char *host, int port, char *buf, size_t size);
//  Where Redis (the primary) is now, asking the sentinels if there are
//  any: true with host and *port set, false when none answers.
bool          pc_redis_address    (pc_redis_t *self, char *host, size_t size, int *port);
//  Marks an outage (logged once): for replies of the wrong shape.
void          pc_redis_down       (pc_redis_t *self, const char *why);
//  Marks an outage and drops the connection: for a pipeline whose replies
//  are out of step, or an I/O error met on the raw context.
void          pc_redis_drop       (pc_redis_t *self, const char *why);
//  For a caller that must not block long (the broker's event loop):
//  connect within timeout_ms, and after a failure try again no sooner
//  than retry_ms later (until then pc_redis_context gives NULL). The
//  defaults: 1000 and 0.
void          pc_redis_set_connect (pc_redis_t *self, int timeout_ms, int retry_ms);
//  Called with each fresh connection, before pc_redis_context returns it
//  (to load scripts...); commands made from it may fail, which ends the
//  connection again.
typedef void (pc_redis_connect_fn) (pc_redis_t *self, void *arg);
void          pc_redis_set_on_connect (pc_redis_t *self, pc_redis_connect_fn *fn, void *arg);
//  A caller that leaves a pipeline's answers to read later (the broker's
//  lots in flight) sets fn: the next pc_redis_context calls it first (and
//  forgets it), so that nobody reads another's answers. NULL: none due.
typedef void (pc_redis_pending_fn) (void *arg);
void          pc_redis_set_pending (pc_redis_t *self, pc_redis_pending_fn *fn, void *arg);
//  The context if connected, without connecting or calling the pending
//  fn (to tell whether a pipeline's connection is still the one in use).
redisContext *pc_redis_current    (pc_redis_t *self);
//  False while an outage is under way.
bool          pc_redis_available  (pc_redis_t *self);

//  For selftests: starts a private redis-server on 127.0.0.1 (*port_p, or a
//  free port when 0, written back), without persistence; returns its pid
//  once it answers PING, or -1 (not installed, port taken...).
pid_t         pc_redis_server_start (int *port_p);
//  SIGTERM and wait; nothing for pid <= 0.
void          pc_redis_server_stop  (pid_t pid);

void          pc_redis_test       (bool verbose);
#endif

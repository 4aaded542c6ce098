//  pc_zap.h: the in-process ZAP handler (ARCHITECTURE.md, decision 2).
//
//  Every CURVE handshake in this process asks it. It sets the connection's
//  User-Id to the client's public key in Z85, which every received message
//  then carries (zmq_msg_gets "User-Id"), and accepts a key per domain:
//  either any key ("ANY"), or only keys on the domain's allow-list.
#ifndef PC_ZAP_H_INCLUDED
#define PC_ZAP_H_INCLUDED

#include <czmq.h>

//  Starts the handler (one per process, before any CURVE server socket).
zactor_t   *pc_zap_new          (void);
void        pc_zap_destroy      (zactor_t **self_p);
//  Accepts every CURVE key on domain.
void        pc_zap_allow_any    (zactor_t *self, const char *domain);
//  Accepts key (Z85) on domain; a domain with no ANY accepts only its list.
void        pc_zap_allow_key    (zactor_t *self, const char *domain, const char *key);
//  Makes sock a CURVE server whose handshakes this handler decides, on
//  domain; with no handler bound a handshake fails rather than passes.
void        pc_zap_secure       (zsock_t *sock, const char *domain);
//  Gates the TCP listener sock has just bound (see pc_zap.c): while the
//  process is short of descriptors, new connections wait in their SYN
//  retries instead of making libzmq spin on a failing accept.
void        pc_zap_gate         (zsock_t *sock);
//  The listen backlog for a server socket (ZMQ_BACKLOG): PC_BACKLOG, less
//  when the descriptor limit is low (the gate lets in up to a backlog).
int         pc_zap_backlog      (void);
//  How many times the handler has retired its socket (see pc_zap.c).
size_t      pc_zap_retirements  (zactor_t *self);

void        pc_zap_test         (bool verbose);
#endif

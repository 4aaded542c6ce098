//  client_xfer_fake.h: a file service in a thread, for client_xfer's
//  selftest only.
//
//  It holds files in memory and does just what PROTOCOL.md says ("File
//  sharing"; no FCHECK: it trusts every key). Start it with
//  zactor_new (client_xfer_fake_actor, cert) (cert: the service's, borrowed)
//  and read its port with zstr_recv. Its pipe takes test knobs
//  (client_xfer_fake_knob): "CORRUPT" NAME flips a stored byte, "STALL" N
//  stops answering FDATA once N bytes are held (a crash mid-upload),
//  "RESUME" answers again.
#ifndef CLIENT_XFER_FAKE_H_INCLUDED
#define CLIENT_XFER_FAKE_H_INCLUDED

#include <czmq.h>

void    client_xfer_fake_actor  (zsock_t *pipe, void *args);
//  Sends a knob and waits until the service applied it.
void    client_xfer_fake_knob   (zactor_t *service, const char *command, const char *arg);

#endif

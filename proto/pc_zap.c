//  pc_zap.c: ZAP handler actor: CURVE key -> User-Id, per-domain allow-lists.
#include "pc_zap.h"

typedef struct {
    zhash_t *any;               //  domains that accept any key
    zhash_t *allowed;           //  "domain key" -> present
} zap_t;

static void
s_handle_request (zap_t *self, zsock_t *handler)
{
    zmsg_t *request = zmsg_recv (handler);
    if (!request)
        return;
    //  version, request id, domain, address, identity, mechanism, credentials
    char *version = zmsg_popstr (request);
    char *request_id = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *key = zmsg_pop (request);

    char user_id [41] = "";
    const char *status = "400";
    const char *text = "not allowed";
    if (version && streq (version, "1.0") && mechanism && streq (mechanism, "CURVE")
    &&  key && zframe_size (key) == 32) {
        zmq_z85_encode (user_id, zframe_data (key), 32);
        char entry [300];
        snprintf (entry, sizeof (entry), "%s %s", domain? domain: "", user_id);
        if (zhash_lookup (self->any, domain? domain: "") || zhash_lookup (self->allowed, entry)) {
            status = "200";
            text = "OK";
        }
    }
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, request_id? request_id: "");
    zmsg_addstr (reply, status);
    zmsg_addstr (reply, text);
    zmsg_addstr (reply, streq (status, "200")? user_id: "");
    zmsg_addmem (reply, NULL, 0);         //  no metadata
    zmsg_send (&reply, handler);

    zstr_free (&version);
    zstr_free (&request_id);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&identity);
    zstr_free (&mechanism);
    zframe_destroy (&key);
    zmsg_destroy (&request);
}

static void
s_zap_actor (zsock_t *pipe, void *args)
{
    zap_t self = { zhash_new (), zhash_new () };
    zsock_t *handler = zsock_new (ZMQ_REP);
    int rc = zsock_bind (handler, "inproc://zeromq.zap.01");
    zsock_signal (pipe, rc == 0? 0: 1);
    zpoller_t *poller = zpoller_new (pipe, handler, NULL);
    //  An actor ends on $TERM from its owner, not on the signal flag:
    //  without nonstop, zpoller_wait returns at once after SIGTERM and the
    //  $TERM would never be read (the owner then waits forever).
    zpoller_set_nonstop (poller, true);
    while (rc == 0) {
        void *which = zpoller_wait (poller, -1);
        if (which == handler)
            s_handle_request (&self, handler);
        else
        if (which == pipe) {
            zmsg_t *command = zmsg_recv (pipe);
            if (!command)
                break;
            char *verb = zmsg_popstr (command);
            char *domain = zmsg_popstr (command);
            char *key = zmsg_popstr (command);
            bool done = false;
            if (verb && streq (verb, "$TERM"))
                done = true;
            else
            if (verb && streq (verb, "ANY") && domain)
                zhash_insert (self.any, domain, (void *) 1);
            else
            if (verb && streq (verb, "ALLOW") && domain && key) {
                char entry [300];
                snprintf (entry, sizeof (entry), "%s %s", domain, key);
                zhash_insert (self.allowed, entry, (void *) 1);
            }
            zstr_free (&verb);
            zstr_free (&domain);
            zstr_free (&key);
            zmsg_destroy (&command);
            if (done)
                break;
            zsock_signal (pipe, 0);
        }
        else
            break;                          //  interrupted
    }
    zpoller_destroy (&poller);
    zsock_destroy (&handler);
    zhash_destroy (&self.any);
    zhash_destroy (&self.allowed);
}

zactor_t *
pc_zap_new (void)
{
    return zactor_new (s_zap_actor, NULL);
}

void
pc_zap_destroy (zactor_t **self_p)
{
    zactor_destroy (self_p);
}

void
pc_zap_allow_any (zactor_t *self, const char *domain)
{
    zstr_sendx (self, "ANY", domain, NULL);
    zsock_wait (self);
}

void
pc_zap_allow_key (zactor_t *self, const char *domain, const char *key)
{
    zstr_sendx (self, "ALLOW", domain, key, NULL);
    zsock_wait (self);
}

void
pc_zap_test (bool verbose)
{
    printf (" * pc_zap: ");
    zactor_t *zap = pc_zap_new ();
    assert (zap);
    zcert_t *server_cert = zcert_new ();
    zcert_t *friend_cert = zcert_new ();
    zcert_t *stranger_cert = zcert_new ();
    pc_zap_allow_key (zap, "svc", zcert_public_txt (friend_cert));

    zsock_t *server = zsock_new (ZMQ_ROUTER);
    zcert_apply (server_cert, server);
    zsock_set_curve_server (server, 1);
    zsock_set_zap_domain (server, "svc");
    int port = zsock_bind (server, "tcp://127.0.0.1:*");
    assert (port > 0);
    char endpoint [64];
    snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", port);

    zsock_t *friend = zsock_new (ZMQ_DEALER);
    zcert_apply (friend_cert, friend);
    zsock_set_curve_serverkey (friend, zcert_public_txt (server_cert));
    zsock_connect (friend, "%s", endpoint);
    zsock_t *stranger = zsock_new (ZMQ_DEALER);
    zcert_apply (stranger_cert, stranger);
    zsock_set_curve_serverkey (stranger, zcert_public_txt (server_cert));
    zsock_connect (stranger, "%s", endpoint);

    zstr_send (stranger, "from stranger");
    zstr_send (friend, "from friend");
    zsock_set_rcvtimeo (server, 2000);
    zframe_t *routing_id = zframe_recv (server);
    assert (routing_id);
    zframe_t *body = zframe_recv (server);
    assert (body);
    assert (zframe_streq (body, "from friend"));
    assert (streq (zframe_meta (body, "User-Id"), zcert_public_txt (friend_cert)));
    zframe_destroy (&body);
    zframe_destroy (&routing_id);
    //  The stranger's message never arrives
    zsock_set_rcvtimeo (server, 300);
    assert (zframe_recv (server) == NULL);

    zsock_destroy (&friend);
    zsock_destroy (&stranger);
    zsock_destroy (&server);
    zcert_destroy (&server_cert);
    zcert_destroy (&friend_cert);
    zcert_destroy (&stranger_cert);
    pc_zap_destroy (&zap);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}

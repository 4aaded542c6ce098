//  mon_http.h: the Prometheus endpoint, GET /metrics over HTTP
//  (libmicrohttpd, its own internal polling thread).
//
//  The HTTP thread never touches the statistics: the monitor's actor
//  renders the metrics text about once a second and hands it over with
//  mon_http_publish; the request handler copies the latest text under a
//  mutex. So a scrape costs the aggregator nothing and cannot race it.
//
//      mon_http_t *http = mon_http_new ("127.0.0.1", 5559);
//      mon_http_publish (http, text, strlen (text));
//      ...
//      mon_http_destroy (&http);
#ifndef MON_HTTP_H_INCLUDED
#define MON_HTTP_H_INCLUDED

#include <czmq.h>

typedef struct _mon_http_t mon_http_t;

//  Listens on host ("*" or "" for every interface, else an IPv4 or IPv6
//  address) and port (0: any free port). NULL, with the reason logged, when
//  the address is not valid or the port cannot be bound.
mon_http_t *mon_http_new        (const char *host, int port);
void        mon_http_destroy    (mon_http_t **self_p);
//  The port it listens on (useful after port 0).
int         mon_http_port       (mon_http_t *self);
//  Replaces the text served on /metrics (copied).
void        mon_http_publish    (mon_http_t *self, const char *text, size_t size);
//  Requests served so far (every path).
uint64_t    mon_http_requests   (mon_http_t *self);

void        mon_http_test       (bool verbose);
#endif

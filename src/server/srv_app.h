/* srv_app.h - the top layer of a `herd serve` connection: the applications, above the sessions
 * (srv_session.h). Internal to src/server; includes only go down.
 *
 *   routes.c   which path goes to which app (the HTTP session's app), and POST /publish/<topic>
 *   echo.c     /echo: every data frame back as it came
 *   pubsub.c   topics: /pubsub/<topic> and /sse/<topic> subscribers, broadcast, the history for
 *              Last-Event-ID, --tick, --slow-policy
 *
 * Each app gives the sessions it runs on a constant table (SRV_*_SESSION(&its hooks)), which it
 * sets in c->ops when it takes a connection. The topics' own structures are pubsub.c's. */
#ifndef HERD_SERVER_SRV_APP_H
#define HERD_SERVER_SRV_APP_H

#include "proto/http1.h"
#include "server/srv_session.h"

/* App flags (c->aflags). */
#define SRV_AF_SENDER 0x01 /* pubsub: sent a message of the batch being delivered (not to it) */

/* ---- routes.c ---- */

/* The HTTP session with the router as its app: every connection's first session (server.c sets
 * it at the accept; a keep-alive connection comes back to it after each POST). */
extern const struct srv_session_ops srv_routes__http;

/* ---- echo.c ---- */

/* A WebSocket whose data frames are echoed, fragment by fragment. */
extern const struct srv_session_ops srv_echo__ws;

/* ---- pubsub.c ---- */

/* The topic named name[0..len), created when new (kept until the server stops). NULL when out
 * of memory. Takes the hub lock. */
struct srv_chan *srv_pubsub__chan(struct server *s, const char *name, size_t len);

/* GET /pubsub/<topic>: upgrade c to a WebSocket subscribed to the topic, whose data messages go
 * to every other subscriber. Returns 0, or < 0 when refused (answered) or closed. */
int srv_pubsub__ws(struct srv_conn *c, const struct http1_request *req, const char *topic,
                   size_t len);

/* GET /sse/<topic>: open an event stream of the topic, replay what its history holds after
 * Last-Event-ID, subscribe. Returns 0, or < 0 when refused (answered) or closed. */
int srv_pubsub__sse(struct srv_conn *c, const struct http1_request *req, const char *topic,
                    size_t len);

/* Publish payload fr[hl..hl+plen) to ch from worker w; fr[0..hl) is its server frame header
 * (srv_ws__head; copied: the bytes stay the caller's). sender (NULL for none) does not get it.
 * The message joins the worker's pending batch, which srv_pubsub__flush numbers and delivers. */
void srv_pubsub__publish(struct srv_worker *w, struct srv_chan *ch, struct srv_conn *sender,
                         const uint8_t *fr, size_t hl, size_t plen);

/* Number and deliver the pending batch: per run of one topic, the topic's lock once (seqs,
 * history, one mailbox push per other worker), and one write per local subscriber with all of
 * the run's messages. w->after_read (the end of each read), and at each --tick firing and
 * mailbox drain. */
void srv_pubsub__flush(struct srv_worker *w);

/* Deliver what the mailbox holds (also after a stall). */
void srv_pubsub__drain(struct srv_worker *w);

/* Worker setup and teardown: pubsub's state on w (allocated or dies), its mailbox, the wake
 * callback, the --tick timer (worker 0). */
void srv_pubsub__worker_init(struct srv_worker *w);
void srv_pubsub__worker_start(struct srv_worker *w);
void srv_pubsub__worker_stop(struct srv_worker *w);
void srv_pubsub__worker_free(struct srv_worker *w);

/* Server setup and teardown: the hub of topics (allocated or dies); free every topic (every
 * worker is gone). */
void srv_pubsub__server_init(struct server *s);
void srv_pubsub__server_free(struct server *s);

#endif

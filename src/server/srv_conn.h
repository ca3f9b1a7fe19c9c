/* srv_conn.h - the bottom layer of `herd serve`: a connection over its buffered stream, the
 * worker thread that owns it, and the seam to the layers above. Internal to src/server.
 *
 * A server connection has three layers, each in its own files, and calls only go down:
 *
 *   app      server/srv_app.h      which path goes to which application (routes.c), the echo
 *                                  (echo.c), topics and their subscribers, broadcast, --tick and
 *                                  --slow-policy (pubsub.c)
 *   session  server/srv_session.h  the protocol: HTTP request heads and bodies, error replies
 *                                  and admission (http.c), WebSocket frames (wsconn.c), the
 *                                  event stream (sse.c)
 *   conn     server/srv_conn.h     this file: the stream, timers, back-pressure, the stall,
 *                                  closing and lingering (conn.c), the output batch and the
 *                                  output calls of every layer (out.c)
 *
 * server.c, the top, sees every layer: threads, listeners, accept, the fault timers.
 *
 * What goes up goes through one table: c->ops, the session that takes the connection's input,
 * with the app it serves (struct srv_session_ops, chosen by the layer above at each change of
 * protocol: HTTP at the accept, a WebSocket or an event stream after an upgrade), and w->after_read
 * for the worker (deliver what a read published). scripts/check-deps.sh keeps the includes
 * pointing down.
 *
 * One struct srv_worker per thread: its own loop, SO_REUSEPORT listener, read buffer, chunk
 * pool, rng, output batch and connections. Nothing on a connection's path is shared between
 * workers; the only cross-thread state is the stop flag and the count of open connections behind
 * --max-connections, touched once per connection, never per message. Pub/sub is the exception
 * (srv_app.h): topics are process-wide, with a lock per topic taken once per published batch.
 *
 * TLS (--tls-cert/--tls-key): one server context for all threads; a connection starts with
 * SRV_CF_HANDSHAKE and every byte after the handshake goes through its stream. The stream
 * (stream/stream.h) owns the rules of reading and writing (read until drained, the short-read
 * shortcut, TLS records, the retry of a TLS write from the same byte, a budget per wake-up). */
#ifndef HERD_SERVER_SRV_CONN_H
#define HERD_SERVER_SRV_CONN_H

#include "base/clock.h"
#include "base/pool.h"
#include "base/rng.h"
#include "loop/loop.h"
#include "net/net.h"
#include "proto/http1.h"
#include "proto/ws.h"
#include "server/server.h"
#include "stream/stream.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#define SRV_RBUF_BYTES (256u << 10) /* per-thread read buffer */
#define SRV_OUT_LIMIT (8u << 20) /* queued output above which reading pauses */
#define SRV_HEAD_TIMEOUT_NS (10 * NS_PER_S) /* a request head (or body) must complete within */
#define SRV_CLOSE_TIMEOUT_NS (5 * NS_PER_S) /* closing: time to flush the final reply, else RST */
#define SRV_LINGER_NS (2 * NS_PER_S) /* write side shut: time to wait for the peer's EOF */
#define SRV_BATCH_IOV 64
#define SRV_BATCH_SCRATCH 2048

/* Connection flags, the conn layer's (the layers above have their own bytes in the struct). */
#define SRV_CF_CLOSED 0x01 /* closed: ignore stale events; recycled by the after-callback */
#define SRV_CF_CLOSING 0x02 /* a final reply is queued: input is discarded, close after it */
#define SRV_CF_LINGER 0x04 /* write side shut down: read to EOF (or deadline), then close */
#define SRV_CF_PEER_EOF 0x08 /* the peer's EOF came while the final reply was still queued */
#define SRV_CF_PENDING 0x10 /* readiness or a timer came during a stall: handle at resume */
#define SRV_CF_READ_BLOCKED 0x20 /* reading paused: more than SRV_OUT_LIMIT output queued */
#define SRV_CF_COUNTED 0x40 /* counted in server.open (--max-connections) */
#define SRV_CF_ABORT 0x80 /* srv_conn__close resets (SO_LINGER 0): the last bytes cannot go out */
#define SRV_CF_HANDSHAKE 0x100 /* the TLS handshake is in progress (under the head deadline) */

struct srv_conn;
struct srv_worker;
struct srv_app_hooks; /* srv_session.h */
struct srv_chan; /* srv_app.h */
struct srv_pubsub; /* srv_app.h */
struct srv_hub; /* srv_app.h */
struct srv_pmd; /* wsconn.c */
struct srv_wsz; /* wsconn.c */

/* The session a connection's input goes to, and the app above it: the seam between this layer
 * and the ones above. The tables are constant, one per pair of a session and an app (defined
 * with the SRV_*_SESSION macros of srv_session.h, in the app layer); c->ops changes when the
 * protocol does (an upgrade), and at nothing else. */
struct srv_session_ops {
    /* Consume input p[0..len) (writable: payloads are unmasked and re-framed in place). Returns
     * the bytes used; fewer than len only at an incomplete unit at the end (its whole length
     * goes to *need when known: a frame once its header is in), when the connection moved to
     * another session (c->ops changed: the rest is the new session's), or when it is closing or
     * closed. Replies go into the worker's batch (out.c), which this layer commits after. */
    size_t (*consume)(struct srv_conn *c, uint8_t *p, size_t len, size_t *need);
    /* The connection closes: let go of what the session and its app hold. */
    void (*close)(struct srv_conn *c);
    /* The server stops while nothing is half written: a last word written at once or not at all
     * (a WebSocket's 1001, an event stream's last chunk). NULL: none. */
    void (*bye)(struct srv_conn *c);
    /* The app the session hands requests and messages to (srv_session.h). */
    const struct srv_app_hooks *app;
    /* deadline_ns applies in this session (a request head or body is awaited), besides the
     * deadlines of closing, which apply to all. */
    int timed;
};

/* A server connection: no buffers of its own (the stream holds an incomplete unit and output
 * the kernel did not take, in pool chunks, only while they exist). At most 256 bytes; 208 on
 * x86-64, as before the layers. */
struct srv_conn {
    /* ---- the conn layer's (conn.c, out.c) ---- */
    struct loop_io io; /* io.fd == s.fd */
    struct loop_timer timer;
    struct stream s;
    struct srv_worker *w;
    struct srv_conn *next, *prev; /* worker's live list; free/closed lists use next only */
    const struct srv_session_ops *ops; /* never NULL: set at the accept */
    uint64_t deadline_ns; /* head timeout, or closing/linger deadline */
    uint32_t serial; /* tells a connection from a later one in the same slot (mailbox senders) */
    uint32_t linger_outq; /* SRV_CF_LINGER: bytes the kernel had not sent, or not had acked, then */
    uint16_t flags; /* SRV_CF_* */
    uint8_t sflags; /* SRV_SF_*: the session layer's (srv_session.h) */
    uint8_t aflags; /* SRV_AF_*: the app layer's (srv_app.h) */
    /* ---- the session layer's: the state of c->ops' session ---- */
    union {
        struct {
            uint64_t left; /* a body with Content-Length: bytes still to come */
            struct http1_chunked ck; /* a chunked body: the decoder */
        } http;
        struct {
            struct ws_msg msg;
            uint8_t rsv; /* RSV bits of the data messages this session sends (0: no extension) */
            struct srv_pmd *pmd; /* permessage-deflate's state when agreed, else NULL */
        } ws;
    } u;
    /* ---- the app layer's ---- */
    struct srv_chan *chan; /* the topic subscribed to (pubsub, SSE), or published to (POST) */
    struct srv_conn *tnext, *tprev; /* pubsub, SSE: this worker's subscriber list of the topic */
    union {
        /* pubsub: a fragmented message being assembled; POST: the body. WS_MAX_HEAD room first,
         * for the frame header. */
        struct chunk *frag;
        uint64_t sse_from; /* SSE: messages up to this seq came in the replay, or before */
    } a;
};

static_assert(sizeof(struct srv_conn) <= 256, "a server connection must stay small");

/* Output gathered while one connection's input is processed, written with one writev when the
 * input is consumed. Entries point into the read buffer, the stream's unit chunk, or scratch. */
struct srv_batch {
    struct srv_conn *conn;
    int n;
    size_t bytes;
    size_t scratch_used;
    uint64_t due_ns; /* 0: now; else hold until then (--delay) */
    struct iovec iov[SRV_BATCH_IOV];
    uint8_t scratch[SRV_BATCH_SCRATCH];
};

struct srv_slab;

/* A worker's share of struct server_counts (server.h). Written by the worker's thread only and
 * read by the command's thread at any time: atomics, bumped with a relaxed load and store (a
 * plain add; no locked instruction on the delivery path). */
struct srv_counts {
    atomic_uint_fast64_t accepted, opened, refused, received, published, delivered, queued, dropped,
        closed, reset;
};

#define SRV_COUNT(w, field, n)                                                                     \
    atomic_store_explicit(&(w)->counts.field,                                                      \
                          atomic_load_explicit(&(w)->counts.field, memory_order_relaxed) + (n),    \
                          memory_order_relaxed)

struct srv_worker {
    /* ---- the conn layer's ---- */
    struct server *srv;
    unsigned idx;
    struct loop *loop;
    struct pool pool;
    struct stream_env env; /* the pool and the read buffer (SRV_RBUF_BYTES) */
    int stalled; /* --stall: neither reading nor writing now */
    struct srv_conn *live;
    struct srv_conn *closed; /* closed this iteration, recycled in the after-callback */
    uint64_t nlive;
    /* After the input of one read was consumed and its replies committed: deliver what it
     * published, one write per subscriber (pubsub; set by server.c). */
    void (*after_read)(struct srv_worker *w);
    struct srv_batch batch;
    struct srv_counts counts;
    /* ---- the session layer's ---- */
    uint64_t max_frame; /* a frame's (or a POST body's) payload at most -> 1009 (413) */
    struct rng rng; /* --reject */
    uint8_t *sse_buf; /* events encoded for this worker's SSE subscribers (grown, never shrunk) */
    size_t sse_cap;
    struct srv_wsz *wsz; /* permessage-deflate's shared streams and scratches (--compress) */
    /* ---- the app layer's ---- */
    struct srv_pubsub *ps; /* pubsub's state on this worker */
    /* ---- the top's (server.c) ---- */
    pthread_t thread;
    int thread_started;
    struct loop_io listen_io;
    int reserve_fd; /* spare fd given up on EMFILE (libuv's emfile trick) */
    struct loop_timer accept_retry; /* retry accept after EMFILE */
    struct loop_timer stall_timer;
    struct loop_timer die_timer;
    uint64_t stall_start_ns; /* start of the next or current stall */
    int accept_pending; /* the listener was readable during a stall */
    struct srv_conn *free_list;
    struct srv_slab *slabs;
    uint32_t serial; /* of the last connection accepted */
};

struct server {
    struct server_params params;
    char *bind;
    uint16_t port;
    unsigned nworkers;
    struct srv_worker *workers;
    uint64_t start_ns;
    atomic_int stop;
    atomic_uint_fast64_t open; /* upgraded connections and streams, for --max-connections */
    struct net_tls_ctx *tls; /* --tls-cert/--tls-key: every connection starts with a handshake */
    struct srv_hub *hub; /* the topics (srv_app.h) */
};

/* ---- conn.c ---- */

/* Event and timer callbacks of a connection (set up by server.c when accepting). */
void srv_conn__io_cb(struct loop *l, struct loop_io *io, uint32_t events);
void srv_conn__timer_cb(struct loop *l, struct loop_timer *t);

/* Run what was held back during a stall: flush, read to EAGAIN, re-arm. */
void srv_conn__resume(struct srv_conn *c);

/* Close now: the session lets go (ops->close), stop watching, close the stream, unlink; the
 * struct itself goes back to the free list in the after-callback. Safe to call twice. */
void srv_conn__close(struct srv_conn *c);

/* Mark the connection as closing: a final reply is (being) queued, later input is discarded,
 * and the socket closes once the queue drains (or at the deadline). */
void srv_conn__set_closing(struct srv_conn *c);

/* After output progressed: start the lingering close when closing and nothing is left. */
void srv_conn__after_write(struct srv_conn *c);

/* Arm the connection's timer for the earliest of its deadline and its queued output's due
 * time, or cancel it. */
void srv_conn__timer_update(struct srv_conn *c);

/* ---- out.c ---- */

/* The due time of replies and deliveries produced now on w: 0 without --delay. */
uint64_t srv_out__due(const struct srv_worker *w);

/* Add len bytes at p to the batch; they must stay valid until srv_out__commit. due_ns as in
 * struct srv_batch. Returns 0, or < 0 when a commit forced by a full batch closed c. */
int srv_out__ref(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns);

/* Copy a small reply (<= SRV_BATCH_SCRATCH bytes) into the batch. Returns as srv_out__ref. */
int srv_out__copy(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns);

/* Write the batch through the stream: at once when nothing is queued and it is due, the rest
 * queued. Returns 0, or < 0 when c was closed (write error, out of memory). */
int srv_out__commit(struct srv_conn *c);

/* Write what is due from the queue. Returns 0, or < 0 when c was closed. */
int srv_out__flush(struct srv_conn *c);

/* Write p[0..len) to c at once when nothing is queued, the worker is not stalled and due_ns has
 * come; queue nothing. Returns the bytes written (0 when none could be), or < 0 when c was
 * closed. */
ssize_t srv_out__try(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns);

/* Queue p[0..len) behind whatever is queued (no write attempt). Returns 0, or < 0 when c was
 * closed (out of memory). Follow with srv_out__settle. */
int srv_out__queue(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns);

/* After srv_out__try/srv_out__queue: arm the timer for queued output, finish a close. Returns
 * 0, or < 0 when c is closed. */
int srv_out__settle(struct srv_conn *c);

/* Send len bytes at p to c outside the batch (a broadcast to a connection other than the one
 * whose input is being processed): written straight when nothing is queued and due_ns has come,
 * the rest queued. Returns 0, or < 0 when c was closed. */
int srv_out__send(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns);

#endif

/* server_internal.h - the insides of `herd serve`, shared by the files of src/server only.
 *
 * One struct srv_worker per thread: its own loop, SO_REUSEPORT listener, read buffer, chunk
 * pool, rng, output batch and connections. Nothing on a connection's path is shared between
 * workers; the only cross-thread state is the stop flag and the count of open connections behind
 * --max-connections, touched once per connection, never per message.
 *
 * Files: server.c (threads, listeners, accept, connection slabs, stall and die-after timers),
 * conn.c (read path, partial input, timers, closing), out.c (output batch and queue, --delay),
 * routes.c (request heads, route dispatch, HTTP error replies, POST /publish bodies), wsconn.c
 * (WebSocket upgrade and frames, the echo), sse.c (GET /sse/<topic>: the event stream and its
 * replay), pubsub.c (topics, their history, broadcast, --tick, --slow-policy).
 *
 * Pub/sub is the exception to "nothing shared": a topic (struct srv_chan) is process-wide, with
 * a lock over its sequence number and history ring and one subscriber list per worker (touched
 * by that worker only), and each worker has a mailbox (mutex + array of refcounted messages)
 * through which the other workers hand it what was published on them, with a loop_wake. The
 * locks are taken once per published message (per thread for the mailboxes), never on the echo
 * path.
 *
 * TLS (--tls-cert/--tls-key): one server context for all threads; a connection starts in
 * SRV_ST_TLS and every byte after the handshake goes through its stream. The stream
 * (stream/stream.h) owns the rules of reading and writing (read until drained, the short-read
 * shortcut, TLS records, the retry of a TLS write from the same byte, a budget per wake-up). */
#ifndef HERD_SERVER_SERVER_INTERNAL_H
#define HERD_SERVER_SERVER_INTERNAL_H

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
#define SRV_MAX_FRAME (64ull << 20) /* per-thread limit on a frame's payload -> 1009 */
#define SRV_OUT_LIMIT (8u << 20) /* queued output above which reading pauses */
#define SRV_HEAD_TIMEOUT_NS (10 * NS_PER_S) /* a request head (or body) must complete within */
#define SRV_KEEPALIVE_NS (60 * NS_PER_S) /* an idle keep-alive connection between requests */
#define SRV_CLOSE_TIMEOUT_NS (5 * NS_PER_S) /* closing: time to flush the final reply, else RST */
#define SRV_LINGER_NS (2 * NS_PER_S) /* write side shut: time to wait for the peer's EOF */
#define SRV_BATCH_IOV 64
#define SRV_BATCH_SCRATCH 2048
#define SRV_SLAB_CONNS 64

enum srv_state {
    SRV_ST_HEAD, /* reading the HTTP request head */
    SRV_ST_TLS, /* TLS handshake in progress (then SRV_ST_HEAD); under the head deadline */
    SRV_ST_WS, /* an open WebSocket */
    SRV_ST_BODY, /* reading a POST /publish body (then SRV_ST_HEAD again, keep-alive) */
    SRV_ST_SSE, /* an open event stream: output only, input is discarded */
};

/* What an open connection does with data messages. */
enum srv_app {
    SRV_APP_NONE,
    SRV_APP_ECHO,
    SRV_APP_PUBSUB, /* a WebSocket on /pubsub/<topic> */
    SRV_APP_SSE, /* an event stream of /sse/<topic> */
};

/* Connection flags. */
#define SRV_CF_CLOSED 0x01 /* closed: ignore stale events; recycled by the after-callback */
#define SRV_CF_CLOSING 0x02 /* a final reply is queued: input is discarded, close after it */
#define SRV_CF_LINGER 0x04 /* write side shut down: read to EOF (or deadline), then close */
#define SRV_CF_PEER_EOF 0x08 /* the peer's EOF came while the final reply was still queued */
#define SRV_CF_PENDING 0x10 /* readiness or a timer came during a stall: handle at resume */
#define SRV_CF_READ_BLOCKED 0x20 /* reading paused: more than SRV_OUT_LIMIT output queued */
#define SRV_CF_COUNTED 0x40 /* counted in server.open (--max-connections) */
#define SRV_CF_CHUNKED 0x80 /* SSE: the stream is in chunked transfer coding (HTTP/1.1) */
#define SRV_CF_BODY_CHUNKED 0x100 /* POST: the request body is in chunked transfer coding */
#define SRV_CF_HTTP_CLOSE 0x200 /* POST: no keep-alive, close after the reply */
#define SRV_CF_SENDER 0x400 /* pubsub: sent a message of the batch being delivered (not to it) */
#define SRV_CF_ABORT 0x800 /* conn__close resets (SO_LINGER 0): the final bytes cannot go out */

/* A server connection: no buffers of its own. Its stream holds only an incomplete head or
 * frame, and the output that could not be written yet or is held by --delay, in chunks from the
 * worker's pool. */
struct srv_conn {
    struct loop_io io; /* io.fd == s.fd */
    struct loop_timer timer;
    struct stream s;
    struct srv_worker *w;
    struct srv_conn *next, *prev; /* worker's live list; free/closed lists use next only */
    uint64_t deadline_ns; /* head timeout, or closing/linger deadline */
    union {
        struct ws_msg msg; /* SRV_ST_WS */
        uint64_t sse_from; /* SRV_ST_SSE: messages up to this seq came in the replay, or before */
        struct {
            struct srv_chan *chan; /* the topic published to */
            uint64_t left; /* Content-Length: bytes still to come */
            struct http1_chunked ck; /* SRV_CF_BODY_CHUNKED: the decoder */
        } body; /* SRV_ST_BODY */
    } u;
    struct srv_chan *chan; /* pubsub, SSE: the topic subscribed to */
    struct srv_conn *tnext, *tprev; /* pubsub, SSE: this worker's subscriber list of the topic */
    /* pubsub: a fragmented message being assembled; POST: the body. WS_MAX_HEAD room first, for
     * the frame header. */
    struct chunk *frag;
    uint32_t serial; /* tells a connection from a later one in the same slot (mailbox senders) */
    uint32_t linger_outq; /* SRV_CF_LINGER: bytes the kernel had not sent, or not had acked, then */
    uint16_t flags;
    uint8_t state; /* enum srv_state */
    uint8_t app; /* enum srv_app */
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

struct srv_slab {
    struct srv_slab *next;
    struct srv_conn conns[SRV_SLAB_CONNS];
};

#define SRV_CHAN_BUCKETS 4096
#define SRV_HIST_BYTES (1u << 20) /* history ring: payload bytes per topic at most */

/* One worker's subscribers of a topic (WebSocket and SSE alike). */
struct srv_subs {
    struct srv_conn *head;
    uint32_t n, nsse;
};

/* An entry of a topic's history ring: a payload at logical offset `off` of the byte ring. */
struct srv_hist {
    uint64_t seq;
    uint64_t off;
    uint64_t len;
};

/* A topic, process-wide: created on first use, kept until the server stops. The lock guards seq
 * and the history; local[i] belongs to worker i alone. The history holds the last
 * --history messages (at most SRV_HIST_BYTES of payload) as a contiguous run of seqs; each
 * payload lies contiguous in the byte ring (a payload that would wrap starts over at the
 * beginning), at logical offsets that only grow. */
struct srv_chan {
    struct srv_chan *next; /* hub bucket chain */
    pthread_mutex_t lock;
    uint64_t seq; /* messages published so far: the id of the last one */
    struct srv_hist *hist; /* ring of params.history entries (NULL until the first message) */
    uint64_t hfirst,
        hcount; /* index (unbounded, mod params.history) of the oldest entry; entries */
    uint8_t *bytes; /* the byte ring, grown up to SRV_HIST_BYTES */
    uint64_t bcap;
    uint64_t bstart, bend; /* logical offsets of the held bytes: [bstart, bend) */
    struct srv_subs *local; /* [server.nworkers] */
    size_t len;
    char name[];
};

/* A message of a publish batch: its server frame (header, then payload) lies at `off` of the
 * batch's bytes, right after the previous message's of the same topic. */
struct srv_bmsg {
    struct srv_chan *chan;
    struct srv_conn *sender; /* skipped, when its serial matches; NULL for none */
    uint32_t sender_serial;
    uint32_t sender_w; /* the sender's worker: no other reads *sender */
    uint64_t seq; /* taken when the batch is published (pubsub__flush) */
    size_t off; /* of the frame in the batch's bytes */
    size_t len; /* of the frame */
    uint32_t head_len; /* of the frame's header: the payload follows */
};

/* A growable batch of messages (grown, never shrunk): frames back to back, and their table. */
struct srv_bq {
    uint8_t *bytes;
    size_t len, cap;
    struct srv_bmsg *msgs;
    size_t n, mcap;
};

/* A run of messages of one topic published on one worker, handed to the others (refcounted: one
 * reference per mailbox it sits in): msgs[n], then their frames back to back (bytes of them;
 * msgs[i].off counts from the first). The publishing worker hands one to itself too while its
 * own mailbox is not empty, so that every worker delivers a topic's messages in seq order. */
struct srv_pub {
    atomic_uint refs;
    struct srv_chan *chan;
    size_t n, bytes;
    struct srv_bmsg msgs[];
};

struct srv_mailbox {
    pthread_mutex_t lock;
    struct srv_pub **items;
    size_t n, cap;
};

struct srv_worker {
    struct server *srv;
    unsigned idx;
    pthread_t thread;
    int thread_started;
    struct loop *loop;
    struct loop_io listen_io;
    int reserve_fd; /* spare fd given up on EMFILE (libuv's emfile trick) */
    struct loop_timer accept_retry; /* retry accept after EMFILE */
    struct loop_timer stall_timer;
    struct loop_timer die_timer;
    uint64_t stall_start_ns; /* start of the next or current stall */
    int stalled;
    int accept_pending; /* the listener was readable during a stall */
    struct srv_conn *live;
    struct srv_conn *free_list;
    struct srv_conn *closed; /* closed this iteration, recycled in the after-callback */
    struct srv_slab *slabs;
    uint64_t nlive;
    uint64_t max_frame;
    struct pool pool;
    struct rng rng;
    struct stream_env env; /* the pool and the read buffer (SRV_RBUF_BYTES) */
    uint32_t serial; /* of the last connection accepted */
    struct srv_mailbox mbox;
    struct srv_pub **mbox_spare; /* swapped with the mailbox's array at each drain */
    size_t mbox_spare_cap;
    struct srv_bq pending; /* published, not yet numbered nor delivered: see pubsub__flush */
    struct srv_bq merged; /* mailbox runs of one topic merged into one delivery */
    size_t *ws_off, *sse_off, *ev_off; /* a delivery's message boundaries (grown, never shrunk) */
    size_t off_cap;
    uint8_t *sse_buf; /* events encoded for this worker's SSE subscribers (grown, never shrunk) */
    size_t sse_cap;
    struct srv_chan *tick_chan; /* topic "tick" */
    struct loop_timer tick_timer; /* --tick, worker 0 only */
    uint64_t tick_start_ns;
    uint64_t tick_seq; /* stamped messages published so far */
    struct srv_batch batch;
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
    pthread_mutex_t hub_lock; /* over chans[] */
    struct srv_chan *chans[SRV_CHAN_BUCKETS];
    struct net_tls_ctx *tls; /* --tls-cert/--tls-key: every connection starts with a handshake */
};

/* ---- conn.c ---- */

/* Event and timer callbacks of a connection (set up by server.c when accepting). */
void conn__io_cb(struct loop *l, struct loop_io *io, uint32_t events);
void conn__timer_cb(struct loop *l, struct loop_timer *t);

/* Run what was held back during a stall: flush, read to EAGAIN, re-arm. */
void conn__resume(struct srv_conn *c);

/* Close now: stop watching, close the fd, return chunks, unlink; the struct itself goes back to
 * the free list in the after-callback. Safe to call twice. */
void conn__close(struct srv_conn *c);

/* Mark the connection as closing: a final reply is (being) queued, later input is discarded,
 * and the socket closes once the queue drains (or at the deadline). */
void conn__set_closing(struct srv_conn *c);

/* After output progressed: start the lingering close when closing and nothing is left. */
void conn__after_write(struct srv_conn *c);

/* Arm the connection's timer for the earliest of its deadline and its queued output's due
 * time, or cancel it. */
void conn__timer_update(struct srv_conn *c);

/* The due time of replies produced now: 0 without --delay. */
uint64_t conn__reply_due(const struct srv_conn *c);

/* ---- out.c ---- */

/* Add len bytes at p to the batch; they must stay valid until out__commit. due_ns as in
 * struct srv_batch. Returns 0, or < 0 when a commit forced by a full batch closed c. */
int out__ref(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns);

/* Copy a small reply (<= SRV_BATCH_SCRATCH bytes) into the batch. Returns as out__ref. */
int out__copy(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns);

/* Write the batch through the stream: at once when nothing is queued and it is due, the rest
 * queued. Returns 0, or < 0 when c was closed (write error, out of memory). */
int out__commit(struct srv_conn *c);

/* Write what is due from the queue. Returns 0, or < 0 when c was closed. */
int out__flush(struct srv_conn *c);

/* Write p[0..len) to c at once when nothing is queued, the worker is not stalled and due_ns has
 * come; queue nothing. Returns the bytes written (0 when none could be), or < 0 when c was
 * closed. */
ssize_t out__try(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns);

/* Queue p[0..len) behind whatever is queued (no write attempt). Returns 0, or < 0 when c was
 * closed (out of memory). Follow with out__settle. */
int out__queue(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns);

/* After out__try/out__queue: arm the timer for queued output, finish a close. Returns 0, or < 0
 * when c is closed. */
int out__settle(struct srv_conn *c);

/* Send len bytes at p to c outside the batch (a broadcast to a connection other than the one
 * whose input is being processed): written straight when nothing is queued and due_ns has come,
 * the rest queued. Returns 0, or < 0 when c was closed. */
int out__send(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns);

/* ---- routes.c ---- */

enum srv_route {
    SRV_ROUTE_NONE,
    SRV_ROUTE_ECHO, /* /echo */
    SRV_ROUTE_PUBSUB, /* /pubsub/<topic> */
    SRV_ROUTE_SSE, /* /sse/<topic> */
    SRV_ROUTE_PUBLISH, /* /publish/<topic> */
};

struct srv_route_match {
    enum srv_route route;
    const char *topic; /* into the path, for routes with a topic */
    size_t topic_len;
};

/* Match a request target (the query string is ignored). */
void routes__match(const char *path, size_t len, struct srv_route_match *m);

/* Consume a request head from p[0..len): returns 0 while incomplete, else the bytes used (the
 * head; what follows belongs to the protocol it switched to). Answers errors itself. */
size_t routes__consume_head(struct srv_conn *c, uint8_t *p, size_t len);

/* Consume POST /publish body bytes from p[0..len) (writable: chunked coding is decoded in
 * place). Returns the bytes used; at the end of the body the message is published, the answer
 * batched and the connection back in SRV_ST_HEAD (or closing). */
size_t routes__consume_body(struct srv_conn *c, uint8_t *p, size_t len);

/* Answer with an HTTP error status and a one-line body, then close. extra_headers is NULL or
 * CRLF-terminated header lines. */
void routes__http_error(struct srv_conn *c, int status, const char *extra_headers);

/* The faults and limits of a long-lived connection (an upgrade, an event stream), after its
 * request proved valid: --reject and --max-connections. Returns 0 when admitted (and counted),
 * < 0 after answering 503. */
int routes__admit(struct srv_conn *c);

/* ---- wsconn.c ---- */

/* Validate a WebSocket upgrade request and answer 101 (or an error, then close). Returns 0 when
 * the connection is now a WebSocket running `app`, < 0 when it was refused. */
int wsconn__upgrade(struct srv_conn *c, const struct http1_request *req, enum srv_app app);

/* Consume frames from p[0..len) (writable: payloads are unmasked in place). Returns the bytes of
 * whole frames used; an incomplete frame at the end is left to the caller, its whole length in
 * *need once its header is in. */
size_t wsconn__consume(struct srv_conn *c, uint8_t *p, size_t len, size_t *need);

/* Send a close frame with `code` and close once it is out. */
void wsconn__send_close(struct srv_conn *c, unsigned code, uint64_t due);

/* ---- sse.c ---- */

/* GET /sse/<topic>: validate, answer 200 with the stream's head, replay what the history holds
 * after Last-Event-ID, subscribe. Returns 0 when c is now an event stream, < 0 when it was
 * refused (answered) or closed. */
int sse__open(struct srv_conn *c, const struct http1_request *req, const char *topic, size_t len);

/* Encode the message payload[0..len) with this id into the worker's SSE buffer, after `at`
 * bytes already there (grown as needed), flags as sse_emit_event's. Returns the bytes encoded,
 * 0 when out of memory; *event_off (when not NULL) as sse_emit_event's. */
size_t sse__encode(struct srv_worker *w, size_t at, uint64_t seq, const uint8_t *payload,
                   size_t len, unsigned flags, size_t *event_off);

/* The bytes to send c of an event encoded by sse__encode at buf[0..len): all of it for a
 * chunked stream, the bare event for an HTTP/1.0 one. */
const uint8_t *sse__bytes(const struct srv_conn *c, const uint8_t *buf, size_t len,
                          size_t event_off, size_t *out_len);

/* End a stream: the last chunk when chunked, then close once it is out. */
void sse__end(struct srv_conn *c, uint64_t due);

/* ---- pubsub.c ---- */

/* The topic named name[0..len), created when new (kept until the server stops). NULL when out
 * of memory. Takes the hub lock. */
struct srv_chan *pubsub__chan(struct server *s, const char *name, size_t len);

/* Subscribe c (an upgraded WebSocket or an event stream) to ch on its worker. */
void pubsub__join(struct srv_conn *c, struct srv_chan *ch);

/* Leave the topic and drop a half-assembled message (closing). */
void pubsub__leave(struct srv_conn *c);

/* Publish payload fr[hl..hl+plen) to ch from worker w; fr[0..hl) is its server frame header
 * (copied: the bytes stay the caller's). sender (NULL for none) does not get it. The message joins
 * the worker's pending batch, which pubsub__flush numbers and delivers. */
void pubsub__publish(struct srv_worker *w, struct srv_chan *ch, struct srv_conn *sender,
                     const uint8_t *fr, size_t hl, size_t plen);

/* Number and deliver the pending batch: per run of one topic, the topic's lock once (seqs,
 * history, one mailbox push per other worker), and one write per local subscriber with all of
 * the run's messages. Called at the end of each read, --tick firing and mailbox drain. */
void pubsub__flush(struct srv_worker *w);

/* Under ch's lock: encode for an SSE subscriber what the history holds after last_id into the
 * worker's SSE buffer (flags as sse_emit_event's), and return ch->seq, the last id covered. *len
 * is the bytes encoded (0 when none, or out of memory). */
uint64_t pubsub__replay(struct srv_worker *w, struct srv_chan *ch, uint64_t last_id, unsigned flags,
                        size_t *len);

/* A data frame from subscriber c (payload unmasked at pl; the frame's header is before it and at
 * least 4 bytes longer than a server header). Returns 0, or < 0 when c was closed. */
int pubsub__frame(struct srv_conn *c, const struct ws_frame *f, uint8_t *pl, int complete);

/* Worker setup and teardown: mailbox, wake callback, --tick timer (worker 0). */
void pubsub__worker_init(struct srv_worker *w);
void pubsub__worker_start(struct srv_worker *w);
void pubsub__worker_stop(struct srv_worker *w);
void pubsub__worker_free(struct srv_worker *w);

/* Server setup and teardown: the hub lock; free every topic (every worker is gone). */
void pubsub__server_init(struct server *s);
void pubsub__server_free(struct server *s);

/* Deliver what the mailbox holds (also after a stall). */
void pubsub__drain(struct srv_worker *w);

#endif

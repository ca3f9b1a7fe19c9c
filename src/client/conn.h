/* conn.h - the client's bottom layer: a connection over its buffered stream, the worker that owns
 * it, and the two seams above it. Internal to src/client.
 *
 * A client connection has three layers, each in its own files, and calls only go down:
 *
 *   role      client/role.h      what to send next, what a received message means (roles.c,
 *                                track.c, message.c): data plus hooks, struct role_ops
 *   session   client/session.h   the protocol: the request, then frames (ws.c) or an event
 *                                stream (sse.c), behind struct session_ops
 *   conn      client/conn.h      this file (conn.c): connect, TLS, the stream, timers, failure
 *                                and close, reconnects, counters of the connection's life
 *
 * What goes up goes through the operations and hooks: conn.c hands input to w->sess->consume and
 * tells the role through w->role; a session tells the role of stamps, PONGs and whole messages
 * through w->role. Both tables are chosen once per run (the URL's scheme, --role) by worker.c,
 * the top, which sees every layer. scripts/check-deps.sh keeps the includes pointing down.
 *
 * Permessage-deflate will live inside the WebSocket session; HTTP publishing will be a third
 * session; conversations (flows) a role. */
#ifndef HERD_CLIENT_CONN_H
#define HERD_CLIENT_CONN_H

#include "base/pool.h"
#include "base/rng.h"
#include "client/client.h"
#include "load/load.h"
#include "loop/loop.h"
#include "net/net.h"
#include "proto/pmd.h"
#include "proto/stamp.h"
#include "proto/ws.h"
#include "stats/stats.h"
#include "stream/stream.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define WORKER_RBUF (256u << 10) /* one read buffer per thread */
#define WORKER_WBUF (256u << 10) /* one write scratch per thread */
#define MAX_TARGET_ADDRS 16
#define CLOSE_GRACE_NS (2 * NS_PER_S)
/* Output queued past this (a peer that does not read what it makes us answer) stops reading
 * until half of it is written: memory stays bounded whatever the peer sends. */
#define CONN_TX_LIMIT (4u << 20)

enum conn_state {
    CS_IDLE, /* not started yet, or waiting to reconnect */
    CS_CONNECTING, /* TCP connect in progress */
    CS_TLS, /* TLS handshake in progress */
    CS_HANDSHAKE, /* request sent, waiting for the response head */
    CS_OPEN, /* open: messages flow */
    CS_CLOSING, /* our close frame is out, waiting for the peer's */
    CS_DONE, /* finished for good */
};

/* Connection flags. */
#define CF_STOPPING 0x0001 /* we started the close (end of run): the peer's close is no error */
#define CF_CLOSE_AFTER 0x0002 /* close the socket once the write queue drains */
#define CF_IN_MSG_STAMP 0x0004 /* a stamp was already seen in the message being received */
#define CF_GOT_MESSAGE 0x0008 /* a data message arrived since the connection opened */
#define CF_RAMP 0x0010 /* closed by a --stages ramp-down: back to a free slot */
#define CF_NO_RETRY 0x0020 /* the server said not to come back (SSE 204): no reconnect */
#define CF_READ_WAIT 0x0040 /* --read-rate: reading paused until the allowance grows */
#define CF_READ_BLOCKED 0x0080 /* reading paused: more than CONN_TX_LIMIT queued to write */

struct sse_state; /* client/session.h */
struct hpub_state; /* client/http_pub.c */
struct ws_pmd; /* client/session.h */
struct track; /* client/role.h */
struct flow_conn; /* client/flow.c */
struct flow_tmpl; /* flow/flow.h */

/* One connection: 232 bytes; every buffer is a pool chunk held only while needed (the
 * stream's incomplete unit and write queue). */
struct conn {
    struct loop_io io; /* fd and readiness callback */
    struct loop_timer timer; /* the one deadline of the current state */
    struct stream s;
    struct worker *w;
    uint32_t index; /* global connection number ({{conn}}) */
    uint16_t flags; /* CF_* */
    uint16_t inflight; /* messages or PINGs awaiting their reply */
    uint32_t retries; /* reconnect attempts since the last open */
    uint8_t state; /* enum conn_state */
    union { /* the session's own state */
        struct {
            struct ws_msg msg; /* fragment sequencing and UTF-8 state */
            union {
                uint8_t key[16]; /* Sec-WebSocket-Key bytes while handshaking */
                struct {
                    struct ws_pmd *pmd; /* permessage-deflate's state, NULL without */
                    struct chunk *frag; /* a fragmented message: its stamp search, or its bytes for
                                           a role that reads payloads */
                } open; /* once open (the key is spent) */
            } h;
        } ws;
        struct sse_state *sse; /* from the first request to the end for good */
        struct hpub_state *hp; /* HTTP publishing: the response FIFO, from the first connect */
    } u;
    uint64_t t_start_ns; /* attempt started (mono) */
    uint64_t t_phase_ns; /* current phase started: connect, or request sent */
    uint64_t t_open_ns; /* opened (mono), 0 before */
    uint64_t t_rx_ns; /* last byte received (mono), for --idle-timeout */
    uint64_t next_send_ns; /* open model: intended time of the next message */
    uint64_t next_ping_ns; /* --ping-interval: next keep-alive */
    uint64_t seq; /* messages sent on this connection */
    uint64_t rx_seq; /* highest echo seq received */
    uint64_t t_drop_ns; /* when an open connection dropped (mono), 0 when not */
    uint64_t rr_at_ns; /* --read-rate: the allowance is what accrued since this time */
    struct track *track; /* subscribers: per-publisher sequence state, from the first stamp */
    struct flow_conn *fl; /* a flow's state (client/flow.c), from the first open */
};

/* The idle budget: herd's own memory for an idle plain connection must stay far below 512 bytes
 * (DESIGN.md); the struct is most of it. */
_Static_assert(sizeof(struct conn) <= 256, "struct conn grew past its budget");

/* The protocol of a run's connections, chosen once (ws:// and wss:// -> WebSocket, http:// and
 * https:// -> SSE). Called by conn.c and the roles; a NULL operation is one the protocol lacks. */
struct session_ops {
    const char *name;
    /* Per worker, at start: what the sessions of its connections share (the request, built
     * once). Returns 0, or < 0 with one line in err. */
    int (*setup)(struct worker *w, char *err, size_t errlen);
    void (*teardown)(struct worker *w);
    /* Connected (TLS up when there is TLS): send the request; the state becomes CS_HANDSHAKE. */
    void (*start)(struct conn *c, uint64_t now);
    /* Input (the head, then the protocol), stream_consume_fn's contract: the bytes used, *need
     * for an incomplete unit, or STREAM_STOP when the connection ended. */
    long (*consume)(struct conn *c, uint8_t *buf, size_t len, uint64_t now, size_t *need);
    /* Send one data message: text unless `binary`. Returns 0, or < 0 when the connection failed. */
    int (*send)(struct conn *c, const uint8_t *p, size_t len, int binary);
    /* Send a PING whose payload is intended_ns (so its PONG times itself). Returns as send. */
    int (*ping)(struct conn *c, uint64_t intended_ns);
    /* End an open connection gracefully (end of run, ramp-down). */
    void (*close)(struct conn *c);
    /* Tell the peer why we give up on an open connection (close `code`), without waiting. */
    void (*goodbye)(struct conn *c, unsigned code);
    /* The reconnection delay the server asked for (SSE `retry`), 0 for none. */
    uint64_t (*retry_ns)(const struct conn *c);
    /* The connection is over (it may reconnect): drop per-attempt state. */
    void (*reset)(struct conn *c);
    /* Over for good: free the session's state. */
    void (*release)(struct conn *c);
};

/* What the connections of a run do once open, chosen once (--role): data plus hooks, each
 * optional. Called by conn.c and the sessions, never switched on. */
struct role_ops {
    enum client_role role;
    /* The role reads what messages say (conversations): the sessions hand `message` each whole
     * message's payload, assembling fragments and inflating into a pool chunk when they must.
     * Roles without it get NULL and cost nothing for it. */
    uint8_t wants_payload;
    /* Opened: set up the load model (spread open-model sends). */
    void (*open)(struct conn *c, uint64_t now);
    /* Send what the load model asks for now. NULL: the role never sends. */
    void (*pump)(struct conn *c, uint64_t now);
    /* When the role wants the connection's timer (its next open-model send), UINT64_MAX for
     * never. */
    uint64_t (*next_at)(const struct conn *c);
    /* A stamp in a received data message (its first; once per message). */
    void (*stamp)(struct conn *c, const struct stamp *s, uint64_t now);
    /* A whole data message was received (after its stamp, if any): its payload p[0..len) when
     * the role wants_payload (else p is NULL), valid until the hook returns. */
    void (*message)(struct conn *c, const uint8_t *p, size_t len, int binary, uint64_t now);
    /* A PONG (payload p[0..len)). */
    void (*pong)(struct conn *c, const uint8_t *p, size_t len, uint64_t now);
};

/* Fan-out tallies per (publisher, seq): deliveries and the last one's time. The data lives here
 * because each worker holds two (swapped with its stats blocks); track.c has the functions. */
struct fan_entry {
    uint64_t pub, seq;
    uint64_t stamp_ns; /* the stamp's time (realtime) */
    uint64_t last_ns; /* the latest delivery (realtime) */
    uint64_t count; /* deliveries, 0 = free slot */
};
struct fan_table {
    struct fan_entry *e;
    size_t cap, n;
};

struct client_run;
struct template; /* client/role.h */

struct worker {
    struct client_run *run;
    const struct client_params *p;
    const struct session_ops *sess; /* == run->sess */
    const struct role_ops *role; /* == run->role */
    unsigned id;
    pthread_t thread;
    struct loop *loop;
    struct pool pool;
    struct stream_env env; /* the pool and the read buffer, for the streams */
    struct rng rng;
    struct stats blocks[2];
    int active; /* index of the block being recorded into */
    struct stats *st; /* == &blocks[active] */
    _Atomic uint64_t swap_req; /* reporter -> worker: swap generation wanted */
    _Atomic uint64_t swap_done; /* worker -> reporter: swap generation done */
    _Atomic int exited;
    int64_t open; /* connections open now */
    int64_t connecting; /* attempts in flight: started, not yet open, failed or cut short */
    int64_t peak_interval; /* most open during this interval */
    struct conn *conns; /* this worker's connections */
    size_t nconns;
    size_t started; /* connections started so far (connect pacing) */
    _Atomic size_t live; /* connections not CS_DONE (read by the reporter) */
    uint64_t pace_t0_ns;
    double pace_rate; /* per second for this worker, 0 = all at once */
    struct loop_timer pace_timer; /* connect pacing, or the --stages controller */
    double stage_budget; /* --stages with --connect-rate: connections we may start */
    uint64_t stage_last_ns;
    int stopping;
    uint64_t stop_deadline_ns;
    struct loop_timer stop_timer;
    int64_t real_minus_mono_ns; /* fixed for the run: maps stamps of our own messages to mono */
    uint8_t *wbuf; /* frame scratch */
    void *sess_data; /* the session's per-worker state (its setup and teardown) */
    uint8_t *mbuf; /* message render scratch */
    size_t mbuf_cap;
    struct net_tls_session *tls_session; /* --tls-resume: the newest session to offer */
    struct fan_table fan[2]; /* fan-out tallies, swapped with the stats blocks */
    char *req; /* the session's request, built once (session setup) */
    size_t req_len, req_key_off;
    /* --data in the URL's query or -H values: the request as a template, rendered for each
     * connection at its start (request__render); NULL when the request is the same for all */
    struct flow_tmpl *req_tmpl;
};

/* A test seam: when set, a connection takes its socket from here instead of connecting (a
 * socketpair end, with a scripted peer on the other); returns the fd or -errno. */
typedef int conn_connect_fn(struct conn *c, void *arg);

struct client_run {
    const struct client_params *p;
    const struct session_ops *sess;
    const struct role_ops *role;
    struct worker *workers;
    unsigned nworkers;
    struct net_addr addrs[MAX_TARGET_ADDRS];
    size_t naddrs;
    struct net_addr *src; /* --bind source addresses, or NULL */
    size_t nsrc;
    struct template *tmpl; /* the message template (role layer) */
    struct pmd_params pmd_offer; /* --compress: what the WebSocket session offers */
    /* Stamp publisher ids: the run's id in the high 32 bits, the connection number + 1 below. */
    uint64_t pub_base;
    struct backoff backoff; /* --reconnect delays */
    struct net_tls_ctx *tls_ctx; /* wss://: one client context shared by every connection */
    const char *tls_name; /* SNI and the name verified */
    /* The first failure of each class, with its reason, for the final message: set once by
     * whichever worker fails first (a compare-and-swap per failure, never per message). */
    _Atomic int why_set[ERR_COUNT];
    char why[ERR_COUNT][160];
    uint64_t t0_ns; /* the run started (mono): --stages count from here */
    /* The reporter's fan-out state: tallies of all workers summed, awaiting settlement, and per
     * publisher the highest seq settled (entry seq 0, last_ns = that seq). */
    struct fan_table fan_all, fan_settled;
    _Atomic uint64_t first_open_ns;
    _Atomic int stop;
    _Atomic int abrupt;
    uint64_t grace_ns;
    uint64_t swap_gen;
    int *step_hist; /* a flow's request steps: index of steps.<name> in the stats blocks, by
                       step (NULL without a flow) */
    conn_connect_fn *connect_fn; /* tests only; NULL: connect for real */
    void *connect_arg;
};

/* ---- conn.c: for the worker (top) ---- */

void conn__start(struct worker *w, struct conn *c);
/* End of run: close an open connection gracefully, cut one still opening. */
void conn__stop(struct conn *c);
/* The grace period is over: drop whatever is left. */
void conn__abort(struct conn *c);
/* Close an open (or opening) connection for a --stages ramp-down; its slot becomes free again. */
void conn__ramp_down(struct conn *c);

/* ---- conn.c: for the sessions and roles ---- */

/* Write p[0..len): at once, or queued behind what the kernel did not take. Returns 0, or < 0
 * after which the connection has been failed. */
int conn__write(struct conn *c, const void *p, size_t len);

/* A failure: counted once as errors.<cls> (and connections.failed when it never opened), then
 * the connection ends. While stopping, the peer's end is no error and nothing is counted. */
void conn__fail(struct conn *c, enum err_class cls);
/* conn__fail with the reason (static text) kept when it is the first of its class in the run. */
void conn__fail_why(struct conn *c, enum err_class cls, const char *why);
/* A failure known by its errno or herd code (TLS, EOF and the socket errors get their class). */
void conn__fail_errno(struct conn *c, int err);
/* The server answered the request with an HTTP status that does not open the connection:
 * errors.http_status by code, and connections.failed; why (static text, or NULL) is kept as
 * conn__fail_why keeps it. */
void conn__fail_status(struct conn *c, int status, const char *why);
/* A clean end: no error. */
void conn__finish(struct conn *c);

/* The response head opened the connection: the handshake and ready times, connections.opened,
 * the role's start. Leaves the state CS_OPEN (or closing, when the run ended meanwhile). */
void conn__opened(struct conn *c, uint64_t now);

/* A whole data message arrived: messages.received, first_message, then the role's hook with
 * the payload (NULL unless the role wants it). */
void conn__message_in(struct conn *c, const uint8_t *p, size_t len, int binary, uint64_t now);

/* Our close is out: wait (at most the grace period) for the peer's; the socket closes once the
 * write queue drains when close_after_write. */
void conn__closing(struct conn *c, int close_after_write);

/* The time of the connection's next timer changed (a role's schedule): arm it again. */
void conn__rearm(struct conn *c);

/* The worker's count of a connection finished for good (worker.c). */
void worker__conn_done(struct worker *w, struct conn *c);

#endif

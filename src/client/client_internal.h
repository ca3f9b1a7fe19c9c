/* client_internal.h - the worker and connection structures, shared inside src/client only. */
#ifndef HERD_CLIENT_CLIENT_INTERNAL_H
#define HERD_CLIENT_CLIENT_INTERNAL_H

#include "base/pool.h"
#include "base/rng.h"
#include "client/client.h"
#include "load/load.h"
#include "loop/loop.h"
#include "net/net.h"
#include "proto/http1.h"
#include "proto/sse.h"
#include "proto/stamp.h"
#include "proto/ws.h"
#include "stats/stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define WORKER_RBUF (256u << 10) /* one read buffer per thread */
#define WORKER_WBUF (256u << 10) /* one write scratch per thread */
#define MAX_TARGET_ADDRS 16
#define CLOSE_GRACE_NS (2 * NS_PER_S)

enum conn_state {
    CS_IDLE, /* not started yet, or waiting to reconnect */
    CS_CONNECTING, /* TCP connect in progress */
    CS_TLS, /* TLS handshake in progress */
    CS_HANDSHAKE, /* upgrade request sent, waiting for the response head */
    CS_OPEN, /* WebSocket open */
    CS_CLOSING, /* our close frame is out, waiting for the peer's */
    CS_DONE, /* finished for good */
};

/* Connection flags. */
#define CF_WANT_WRITE 0x01 /* the write queue is non-empty: flush on EPOLLOUT */
#define CF_STOPPING 0x02 /* we started the close (end of run): the peer's close is no error */
#define CF_CLOSE_AFTER 0x04 /* close the socket once the write queue drains */
#define CF_IN_MSG_STAMP 0x08 /* a stamp was already seen in the message being received */
#define CF_RAMP 0x20 /* closed by a --stages ramp-down: back to a free slot */
#define CF_GOT_MESSAGE 0x10 /* a data message arrived since the connection opened */
#define CF_NO_RETRY 0x40 /* the server said not to come back (SSE 204): no reconnect */
#define CF_READ_WAIT 0x80 /* --read-rate: reading paused until the allowance grows */

/* An SSE connection's stream state, held from its first connect to its end for good (the last
 * event id outlives reconnects). Only SSE connections have one. */
#define SSE_ID_MAX 128
struct sse_state {
    struct sse_parser p;
    struct http1_chunked ch;
    uint64_t body_left; /* Content-Length framing: bytes left; UINT64_MAX = until close */
    uint64_t retry_ms; /* the server's reconnection time, 0 = none given */
    struct stamp stamp; /* the stamp of the event being built */
    struct chunk *line; /* a data line split over reads, joined to find a stamp in it */
    uint8_t chunked; /* Transfer-Encoding: chunked */
    uint8_t has_stamp; /* `stamp` is set for the event being built */
    uint8_t id_bad; /* the id field being read is too long to keep */
    uint8_t id_len, buf_len, last_len;
    char id[SSE_ID_MAX]; /* the id field being read */
    char buf[SSE_ID_MAX]; /* the last event ID buffer (WHATWG) */
    char last[SSE_ID_MAX]; /* the last event ID string: sent as Last-Event-ID */
};

/* track.c: sequence tracking per connection (loss, duplicates, reordering per publisher) */
struct pub_seen {
    uint64_t pub; /* publisher id, 0 = free slot */
    uint64_t top; /* highest seq seen */
    uint64_t bits; /* bit k: seq top-1-k arrived */
};
struct track {
    uint32_t cap, n; /* slots (a power of two), used */
    struct pub_seen e[];
};
enum track_kind {
    TRACK_FIRST, /* the first message heard from this publisher: the baseline */
    TRACK_NEW, /* above the highest seen (lost ones before it were added to *lost) */
    TRACK_DUP, /* seen before */
    TRACK_LATE, /* below the highest seen and not seen before: reordered */
};
/* Account seq of publisher pub; *t is created or grown as needed (setup, not per message once
 * the publishers are known). Messages found lost are added to *lost. */
enum track_kind track_seen(struct track **t, uint64_t pub, uint64_t seq, uint64_t *lost);
/* At the end: the messages still missing in the windows, which count as lost. */
uint64_t track_flush(struct track *t);
void track_free(struct track **t);

/* track.c: fan-out tallies, per (publisher, seq): deliveries and the last one's time */
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
void fan_add(struct fan_table *t, uint64_t pub, uint64_t seq, uint64_t stamp_ns, uint64_t last_ns,
             uint64_t count);
struct fan_entry *fan_find(const struct fan_table *t, uint64_t pub, uint64_t seq);
void fan_clear(struct fan_table *t);
void fan_free(struct fan_table *t);

/* One connection: about 200 bytes; all buffers are pool chunks held only while needed. */
struct conn {
    struct loop_io io; /* fd and readiness callback */
    struct loop_timer timer; /* the one deadline of the current state */
    struct worker *w;
    uint32_t index; /* global connection number ({{conn}}) */
    uint8_t state; /* enum conn_state */
    uint8_t flags;
    uint16_t inflight; /* messages or PINGs awaiting their reply */
    struct ws_msg msg; /* fragment sequencing and UTF-8 state */
    struct net_tls *tls; /* TLS state (wss://), NULL for plain */
    struct chunk *rx; /* incomplete head or frame bytes */
    struct chunk *tx_head, *tx_tail; /* bytes the kernel would not take yet */
    uint64_t t_start_ns; /* attempt started (mono) */
    uint64_t t_phase_ns; /* current phase started: connect, or request sent */
    uint64_t t_open_ns; /* opened (mono), 0 before */
    uint64_t t_rx_ns; /* last byte received (mono), for --idle-timeout */
    uint64_t next_send_ns; /* open model: intended time of the next message */
    uint64_t next_ping_ns; /* --ping-interval: next keep-alive */
    uint64_t seq; /* messages sent on this connection */
    uint64_t rx_seq; /* highest echo seq received */
    uint64_t t_drop_ns; /* when an open connection dropped (mono), 0 when not */
    uint32_t retries; /* reconnect attempts since the last open */
    uint8_t key[16]; /* Sec-WebSocket-Key bytes while handshaking */
    struct sse_state *sse; /* http:// and https:// (SSE), NULL for WebSocket */
    struct track *track; /* subscribers: per-publisher sequence state, from the first stamp */
    uint64_t rr_at_ns; /* --read-rate: the allowance is what accrued since this time */
};

/* The idle budget: herd's own memory for an idle plain connection must stay far below 512 bytes
 * (DESIGN.md); the struct is most of it. */
_Static_assert(sizeof(struct conn) <= 256, "struct conn grew past its budget");

/* A message template, parsed once: literal runs and placeholders. */
enum seg_kind { SEG_LIT, SEG_STAMP, SEG_SEQ, SEG_CONN };
struct seg {
    enum seg_kind kind;
    uint32_t off, len; /* SEG_LIT: bytes of tmpl->text */
};
struct template
{
    char *text;
    size_t text_len;
    struct seg segs[64];
    size_t nsegs;
    size_t pad_to; /* pad the rendered message with filler to this size (generated messages) */
};

struct client_run;

struct worker {
    struct client_run *run;
    const struct client_params *p;
    unsigned id;
    pthread_t thread;
    struct loop *loop;
    struct pool pool;
    struct rng rng;
    struct stats blocks[2];
    int active; /* index of the block being recorded into */
    struct stats *st; /* == &blocks[active] */
    _Atomic uint64_t swap_req; /* reporter -> worker: swap generation wanted */
    _Atomic uint64_t swap_done; /* worker -> reporter: swap generation done */
    _Atomic int exited;
    int64_t open; /* connections open now */
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
    uint8_t *rbuf;
    uint8_t *wbuf;
    uint8_t *mbuf; /* message render scratch */
    size_t mbuf_cap;
    struct net_tls_session *tls_session; /* --tls-resume: the newest session to offer */
    struct fan_table fan[2]; /* fan-out tallies, swapped with the stats blocks */
    char *req; /* the upgrade request, with a key placeholder */
    size_t req_len, req_key_off;
};

struct client_run {
    const struct client_params *p;
    struct worker *workers;
    unsigned nworkers;
    struct net_addr addrs[MAX_TARGET_ADDRS];
    size_t naddrs;
    struct net_addr *src; /* --bind source addresses, or NULL */
    size_t nsrc;
    struct template tmpl;
    struct backoff backoff; /* --reconnect delays */
    struct net_tls_ctx *tls_ctx; /* wss://: one client context shared by every connection */
    const char *tls_name; /* SNI and the name verified */
    _Atomic int tls_error_set; /* the first TLS failure's reason, for the final message */
    char tls_error[256];
    uint64_t t0_ns; /* the run started (mono): --stages count from here */
    /* The reporter's fan-out state: tallies of all workers summed, awaiting settlement, and per
     * publisher the highest seq settled (entry seq 0, last_ns = that seq). */
    struct fan_table fan_all, fan_settled;
    _Atomic uint64_t first_open_ns;
    _Atomic int stop;
    _Atomic int abrupt;
    uint64_t grace_ns;
    uint64_t swap_gen;
};

/* conn.c */
void conn_start(struct worker *w, struct conn *c);
void conn_stop(struct conn *c);
void conn_abort(struct conn *c);
/* Close an open (or opening) connection for a --stages ramp-down; its slot becomes free again. */
void conn_ramp_down(struct conn *c);

/* message.c */
int template_parse(struct template *t, const char *text, size_t len, size_t pad_to, char *err,
                   size_t errlen);
void template_free(struct template *t);
/* Render message number seq of connection c into out (cap bytes). Returns the length. */
size_t template_render(const struct template *t, uint8_t *out, size_t cap, const struct stamp *s,
                       uint64_t conn_index);
/* The longest render. */
size_t template_max_len(const struct template *t);

/* worker.c */
void worker_conn_done(struct worker *w, struct conn *c);

#endif

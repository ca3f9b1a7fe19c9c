/* pubsub.c - topics, an app of `herd serve` (srv_app.h): ws://H/pubsub/<topic> broadcasts every
 * data message to every other connection on the topic, WebSocket (pubsub) and event stream (/sse)
 * alike; POST /publish (routes.c) and --tick publish to it too. --slow-policy says what a
 * subscriber whose queue grows gets. A subscriber runs in the WebSocket or the event stream
 * session (srv_session.h) with this file's hooks: its data messages are published, and it leaves
 * its topic when it closes. The topics' structures are this file's alone.
 *
 * A topic (struct srv_chan) is process-wide: its sequence number (the SSE id of each message),
 * its history ring (for Last-Event-ID) and one list of subscribers per worker. Connections never
 * move between threads, so a topic's subscribers may sit on several workers. A message
 * published on worker A is encoded once as an unmasked server frame (header + payload, re-framed
 * in place before the payload as the echo does, or after the assembled fragments; the header from
 * srv_ws__head, as for every frame) and copied into A's pending batch.
 *
 * Batches: delivery costs a write per subscriber, so it is done per batch, not per message. What
 * one read of a connection published (or one --tick firing) is flushed at the end of that read
 * (srv_pubsub__flush, the worker's after_read): per run of one topic, under the topic's lock A
 * takes the next seqs, copies the payloads into the history and hands one refcounted copy of the
 * run to every other worker's mailbox (mutex + array, FIFO), waking its loop; then A gives each of
 * its WebSocket subscribers all of the run's frames with one write and, encoded once as events
 * (each with its own id), each SSE subscriber all of the events with one write; the other workers
 * do the same with their copy, merging consecutive runs of one topic from their mailbox into one
 * delivery. A server that falls behind reads more messages per read, so its batches grow and it
 * catches up instead of queueing without bound. The sender is skipped: "every other connection" (a
 * subscriber that sent some of a run's messages gets the others one by one).
 *
 * Order: seqs are taken and copies handed out under the same lock, so every mailbox gets a
 * topic's messages in seq order. A's own subscribers would see its messages before older ones of
 * other workers still in A's mailbox, so while A's mailbox is not empty A hands the copy to
 * itself too, behind them, instead of delivering at once. Every subscriber therefore gets a
 * topic's messages in seq order (an SSE subscriber sees its ids increase).
 *
 * History: the last --history messages (default 1024) and at most SRV_HIST_BYTES (1 MiB) of
 * payload per topic, in a byte ring that grows on demand, so a quiet topic costs little. A new
 * event stream with Last-Event-ID: N gets what the ring still holds after N (replayed under the
 * topic's lock, which also fixes the seq from which it takes live messages: nothing is lost
 * between the replay and the live stream, nothing comes twice).
 *
 * Writes go straight to the socket when the subscriber has nothing queued; what the kernel does
 * not take is queued in pool chunks: the rest of the message the write cut (never a partial
 * frame or event), then message by message under --slow-policy, which decides once something is
 * queued and a message would take the queue past --queue-limit:
 *   buffer  queue anyway, up to SRV_PUBSUB_HARD_CAP, past which the subscriber is closed (1008);
 *   drop    the whole message is dropped for this subscriber (it gets later ones that fit);
 *   close   the subscriber gets a close frame 1008 (policy violation) after what is queued, and
 *           is closed once that is out (or after SRV_CLOSE_TIMEOUT_NS); an event stream gets
 *           the last chunk (chunked) or nothing (HTTP/1.0) instead of the close frame.
 * Event streams and WebSockets are judged alike, by the bytes queued for them.
 * A single message larger than the limit still goes to a subscriber whose queue is empty. */
#include "server/srv_app.h"

#include "base/compiler.h"
#include "base/err.h"
#include "base/log.h"
#include "proto/sse_emit.h"
#include "proto/stamp.h"

#include <stdlib.h>
#include <string.h>

#define SRV_PUBSUB_HARD_CAP (64ull << 20) /* --slow-policy buffer: queued bytes per subscriber */
#define SRV_TICK_MAX_BURST 100000 /* --tick: messages per timer firing at most (catch-up) */
#define SRV_PUB_BATCH_BYTES (256u << 10) /* a batch (pending, or merged mailbox runs) at most */
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
    uint64_t seq; /* taken when the batch is published (srv_pubsub__flush) */
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

/* pubsub's state on one worker (w->ps). */
struct srv_pubsub {
    struct srv_worker *w;
    struct srv_mailbox mbox;
    struct srv_pub **mbox_spare; /* swapped with the mailbox's array at each drain */
    size_t mbox_spare_cap;
    struct srv_bq pending; /* published, not yet numbered nor delivered: see srv_pubsub__flush */
    struct srv_bq merged; /* mailbox runs of one topic merged into one delivery */
    size_t *ws_off, *sse_off, *ev_off; /* a delivery's message boundaries (grown, never shrunk) */
    size_t off_cap;
    /* permessage-deflate subscribers: a delivery's messages compressed once per window size
     * (their boundaries, grown with off_cap), and the payloads handed to the compressor */
    size_t *z_off[16];
    size_t z_cap[16];
    const uint8_t **zp;
    size_t *zlen;
    uint8_t *zop;
    size_t zp_cap;
    struct srv_chan *tick_chan; /* topic "tick" */
    struct loop_timer tick_timer; /* --tick, worker 0 only */
    uint64_t tick_start_ns;
    uint64_t tick_seq; /* stamped messages published so far */
};

/* The topics of the process (s->hub). */
struct srv_hub {
    pthread_mutex_t lock; /* over chans[] */
    struct srv_chan *chans[SRV_CHAN_BUCKETS];
};

static uint64_t topic_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The sessions of subscribers: WebSockets whose data messages are published, event streams. */
static int srv_pubsub_frame(struct srv_conn *c, const struct ws_frame *f, uint8_t *pl, int complete,
                            uint64_t due);
static void srv_pubsub_leave(struct srv_conn *c);

static const struct srv_app_hooks srv_pubsub_ws_hooks = {
    .message = srv_pubsub_frame,
    .close = srv_pubsub_leave,
};
static const struct srv_app_hooks srv_pubsub_sse_hooks = {.close = srv_pubsub_leave};
static const struct srv_session_ops srv_pubsub_ws = SRV_WS_SESSION(&srv_pubsub_ws_hooks);
static const struct srv_session_ops srv_pubsub_sse = SRV_SSE_SESSION(&srv_pubsub_sse_hooks);

static int srv_pubsub_is_sse(const struct srv_conn *c)
{
    return c->ops == &srv_pubsub_sse;
}

struct srv_chan *srv_pubsub__chan(struct server *s, const char *name, size_t len)
{
    struct srv_hub *hub = s->hub;
    pthread_mutex_lock(&hub->lock);
    struct srv_chan **pp = &hub->chans[topic_hash(name, len) % SRV_CHAN_BUCKETS];
    while (*pp && !((*pp)->len == len && memcmp((*pp)->name, name, len) == 0))
        pp = &(*pp)->next;
    struct srv_chan *ch = *pp;
    if (!ch) {
        /* Once per topic, never per message. */
        ch = calloc(1, sizeof *ch + len);
        struct srv_subs *local = ch ? calloc(s->nworkers, sizeof *local) : NULL;
        if (!local) {
            free(ch);
            ch = NULL;
        } else {
            pthread_mutex_init(&ch->lock, NULL);
            ch->local = local;
            ch->len = len;
            memcpy(ch->name, name, len);
            *pp = ch;
        }
    }
    pthread_mutex_unlock(&hub->lock);
    return ch;
}

/* Subscribe c (an upgraded WebSocket or an event stream, in its session already) to ch on its
 * worker. */
static void srv_pubsub_join(struct srv_conn *c, struct srv_chan *ch)
{
    struct srv_subs *sl = &ch->local[c->w->idx];
    c->chan = ch;
    c->tprev = NULL;
    c->tnext = sl->head;
    if (sl->head)
        sl->head->tprev = c;
    sl->head = c;
    sl->n++;
    if (srv_pubsub_is_sse(c))
        sl->nsse++;
}

/* The close hook of subscribers: leave the topic and drop a half-assembled message. */
static void srv_pubsub_leave(struct srv_conn *c)
{
    struct srv_worker *w = c->w;
    if (!srv_pubsub_is_sse(c)) {
        pool_put(&w->pool, c->a.frag);
        c->a.frag = NULL;
    }
    struct srv_chan *ch = c->chan;
    if (!ch)
        return;
    struct srv_subs *sl = &ch->local[w->idx];
    if (c->tprev)
        c->tprev->tnext = c->tnext;
    else
        sl->head = c->tnext;
    if (c->tnext)
        c->tnext->tprev = c->tprev;
    sl->n--;
    if (srv_pubsub_is_sse(c))
        sl->nsse--;
    c->chan = NULL;
    c->tnext = c->tprev = NULL;
}

/* ---- history (under the topic's lock) ---- */

static void chan_hist_clear(struct srv_chan *ch)
{
    ch->hfirst = ch->hcount = 0;
    ch->bstart = ch->bend = 0;
}

static void chan_hist_drop_oldest(struct srv_chan *ch, uint64_t max)
{
    ch->hfirst++;
    ch->hcount--;
    ch->bstart = ch->hcount ? ch->hist[ch->hfirst % max].off : ch->bend;
}

/* Grow the byte ring to hold `need` bytes, moving what it holds to the start. */
static int chan_hist_grow(struct srv_chan *ch, uint64_t max, uint64_t need)
{
    uint64_t cap = ch->bcap ? ch->bcap : 4096;
    while (cap < need && cap < SRV_HIST_BYTES)
        cap *= 2;
    if (cap > SRV_HIST_BYTES)
        cap = SRV_HIST_BYTES;
    uint8_t *b = malloc(cap);
    if (!b)
        return -1;
    uint64_t at = 0;
    for (uint64_t i = 0; i < ch->hcount; i++) {
        struct srv_hist *h = &ch->hist[(ch->hfirst + i) % max];
        if (h->len)
            memcpy(b + at, ch->bytes + h->off % ch->bcap, h->len);
        h->off = at;
        at += h->len;
    }
    free(ch->bytes);
    ch->bytes = b;
    ch->bcap = cap;
    ch->bstart = 0;
    ch->bend = at;
    return 0;
}

/* Keep payload p[0..len) as message seq. A payload that cannot be kept empties the history, so
 * that it always holds a contiguous run of seqs. */
static void chan_hist_add(struct srv_chan *ch, uint64_t max, uint64_t seq, const uint8_t *p,
                          size_t len)
{
    if (!max)
        return;
    if (!ch->hist && !(ch->hist = malloc(max * sizeof *ch->hist)))
        return;
    if (len > SRV_HIST_BYTES) {
        chan_hist_clear(ch);
        return;
    }
    if (ch->hcount == max)
        chan_hist_drop_oldest(ch, max);
    uint64_t at;
    for (;;) {
        at = ch->bend;
        if (ch->bcap && at % ch->bcap + len > ch->bcap)
            at += ch->bcap - at % ch->bcap; /* contiguous: start over at the ring's start */
        if (at + len - ch->bstart <= ch->bcap)
            break;
        if (ch->bcap < SRV_HIST_BYTES) {
            if (chan_hist_grow(ch, max, ch->bend - ch->bstart + len) != 0) {
                chan_hist_clear(ch);
                return;
            }
        } else if (ch->hcount) {
            chan_hist_drop_oldest(ch, max);
        } else {
            ch->bstart = ch->bend = 0; /* empty: any offset will do */
        }
    }
    if (len)
        memcpy(ch->bytes + at % ch->bcap, p, len);
    ch->hist[(ch->hfirst + ch->hcount) % max] =
        (struct srv_hist){.seq = seq, .off = at, .len = len};
    ch->hcount++;
    ch->bend = at + len;
}

/* Under ch's lock: encode for an SSE subscriber what the history holds after last_id into the
 * worker's SSE buffer (flags as sse_emit_event's), and return ch->seq, the last id covered. *len
 * is the bytes encoded (0 when none, or out of memory). */
static uint64_t srv_pubsub_replay(struct srv_worker *w, struct srv_chan *ch, uint64_t last_id,
                                  unsigned flags, size_t *len)
{
    uint64_t max = w->srv->params.history;
    size_t at = 0;
    pthread_mutex_lock(&ch->lock);
    uint64_t seq = ch->seq;
    if (ch->hcount && last_id < seq) {
        /* The entries hold seqs first..seq, contiguous. */
        uint64_t first = ch->hist[ch->hfirst % max].seq;
        uint64_t i = last_id + 1 > first ? last_id + 1 - first : 0;
        for (; i < ch->hcount; i++) {
            const struct srv_hist *h = &ch->hist[(ch->hfirst + i) % max];
            const uint8_t *pl = h->len ? ch->bytes + h->off % ch->bcap : (const uint8_t *)"";
            size_t n = srv_sse__encode(w, at, h->seq, pl, h->len, flags, NULL);
            if (!n) {
                at = 0; /* out of memory: no replay */
                break;
            }
            at += n;
        }
    }
    pthread_mutex_unlock(&ch->lock);
    *len = at;
    return seq;
}

/* Close a subscriber for the slow-subscriber policy: 1008 (or the stream's end) after what is
 * queued. */
static void close_slow(struct srv_conn *s, uint64_t due)
{
    if (srv_pubsub_is_sse(s))
        srv_sse__end(s, due);
    else
        srv_ws__end(s, WS_CLOSE_POLICY, due);
}

enum { SLOW_QUEUE, SLOW_SKIP, SLOW_SHUT };

/* --slow-policy for a message that would take a subscriber's queue to `after` bytes. */
static int slow_verdict(const struct server_params *p, uint64_t after)
{
    switch (p->slow_policy) {
    case SLOW_BUFFER: return after > SRV_PUBSUB_HARD_CAP ? SLOW_SHUT : SLOW_QUEUE;
    case SLOW_DROP: return after > p->queue_limit ? SLOW_SKIP : SLOW_QUEUE;
    case SLOW_CLOSE: return after > p->queue_limit ? SLOW_SHUT : SLOW_QUEUE;
    }
    return SLOW_QUEUE;
}

/* Give s messages i0..n-1 of base, message i at base[off[i]..off[i+1]): with one write when
 * nothing is queued for s; what that write leaves (the rest of the message it cut, whatever the
 * policy: never a partial frame or event), and everything when output is queued already, goes
 * to the queue message by message under --slow-policy, runs of accepted messages at once. */
static void deliver_range(struct srv_conn *s, const uint8_t *base, const size_t *off, size_t i0,
                          size_t n, uint64_t due)
{
    if (s->flags & (SRV_CF_CLOSED | SRV_CF_CLOSING))
        return;
    struct srv_worker *w = s->w;
    size_t i = i0;
    if (!stream_tx_pending(&s->s)) {
        size_t total = off[n] - off[i0];
        ssize_t wr = srv_out__try(s, base + off[i0], total, due);
        if (wr < 0)
            return; /* closed */
        if ((size_t)wr == total) {
            SRV_COUNT(w, delivered, n - i0);
            srv_out__settle(s);
            return;
        }
        size_t at = off[i0] + (size_t)wr;
        while (off[i + 1] <= at)
            i++;
        SRV_COUNT(w, delivered, i + 1 - i0); /* written, the last one in part */
        SRV_COUNT(w, queued, 1);
        if (srv_out__queue(s, base + at, off[i + 1] - at, due) < 0)
            return;
        i++;
    }
    const struct server_params *p = &w->srv->params;
    size_t run = i; /* accepted, not yet queued: run..i-1 */
    for (; i < n; i++) {
        uint64_t after = s->s.tx_bytes + (off[i + 1] - off[run]);
        int v = slow_verdict(p, after);
        if (v == SLOW_QUEUE)
            continue;
        SRV_COUNT(w, delivered, i - run);
        SRV_COUNT(w, queued, i - run);
        if (run < i && srv_out__queue(s, base + off[run], off[i] - off[run], due) < 0)
            return;
        run = i + 1;
        if (v == SLOW_SHUT) {
            SRV_COUNT(w, closed, 1);
            close_slow(s, due);
            return;
        }
        SRV_COUNT(w, dropped, 1);
    }
    SRV_COUNT(w, delivered, n - run);
    SRV_COUNT(w, queued, n - run);
    if (run < n && srv_out__queue(s, base + off[run], off[n] - off[run], due) < 0)
        return;
    srv_out__settle(s);
}

static void deliver_one(struct srv_conn *s, const uint8_t *fr, size_t len, uint64_t due)
{
    const size_t off[2] = {0, len};
    deliver_range(s, fr, off, 0, 1, due);
}

/* Make room for n message boundaries (+1) in each of the worker's arrays. */
static int off_reserve(struct srv_pubsub *ps, size_t n)
{
    if (n + 1 <= ps->off_cap)
        return 0;
    size_t cap = ps->off_cap ? ps->off_cap : 64;
    while (cap < n + 1)
        cap *= 2;
    size_t *a = realloc(ps->ws_off, cap * sizeof *a);
    if (a)
        ps->ws_off = a;
    size_t *b = a ? realloc(ps->sse_off, cap * sizeof *b) : NULL;
    if (b)
        ps->sse_off = b;
    size_t *e = b ? realloc(ps->ev_off, cap * sizeof *e) : NULL;
    if (!e)
        return -1;
    ps->ev_off = e;
    ps->off_cap = cap;
    return 0;
}

/* Compress a delivery's messages m[0..n) (frames at fr + m[k].off) for the subscribers that agreed
 * to permessage-deflate with window `bits`: *frames and ps->z_off[bits]. Returns 0, or < 0 when
 * out of memory (they miss the messages). */
static int compress_for(struct srv_worker *w, int bits, const struct srv_bmsg *m, size_t n,
                        const uint8_t *fr, const uint8_t **frames)
{
    struct srv_pubsub *ps = w->ps;
    if (ps->z_cap[bits] < n + 1) {
        size_t *o = realloc(ps->z_off[bits], (n + 1) * sizeof *o);
        if (!o)
            return -1;
        ps->z_off[bits] = o;
        ps->z_cap[bits] = n + 1;
    }
    if (ps->zp_cap < n) {
        const uint8_t **a = realloc(ps->zp, n * sizeof *a);
        if (a)
            ps->zp = a;
        size_t *b = a ? realloc(ps->zlen, n * sizeof *b) : NULL;
        if (b)
            ps->zlen = b;
        uint8_t *c = b ? realloc(ps->zop, n) : NULL;
        if (!c)
            return -1;
        ps->zop = c;
        ps->zp_cap = n;
    }
    for (size_t k = 0; k < n; k++) {
        const uint8_t *f = fr + m[k].off;
        ps->zp[k] = f + m[k].head_len;
        ps->zlen[k] = m[k].len - m[k].head_len;
        ps->zop[k] = f[0] & 0x0f;
    }
    return srv_ws__compress_run(w, bits, n, ps->zp, ps->zlen, ps->zop, frames, ps->z_off[bits]);
}

/* Deliver messages m[0..n) of ch (frames back to back at fr + m[i].off, in seq order) to this
 * worker's subscribers of ch: each gets all of them at once (a WebSocket the frames, an event
 * stream the events, encoded once here), except the messages it sent itself and, for a stream,
 * those it got in its replay. */
static void deliver_run(struct srv_worker *w, struct srv_chan *ch, const struct srv_bmsg *m,
                        size_t n, const uint8_t *fr, uint64_t due)
{
    struct srv_pubsub *ps = w->ps;
    struct srv_subs *sl = &ch->local[w->idx];
    if (!sl->head || !n || off_reserve(ps, n) != 0)
        return;
    const uint8_t *ws = fr + m[0].off;
    for (size_t k = 0; k < n; k++)
        ps->ws_off[k] = m[k].off - m[0].off;
    ps->ws_off[n] = m[n - 1].off + m[n - 1].len - m[0].off;
    int sse_ok = 0;
    if (sl->nsse) {
        /* Encoded once per worker, chunked; HTTP/1.0 streams take the bare events in it. */
        size_t at = 0;
        sse_ok = 1;
        for (size_t k = 0; k < n && sse_ok; k++) {
            const struct srv_bmsg *x = &m[k];
            size_t len = srv_sse__encode(w, at, x->seq, fr + x->off + x->head_len,
                                         x->len - x->head_len, SSE_EMIT_CHUNKED, &ps->ev_off[k]);
            ps->sse_off[k] = at;
            at += len;
            sse_ok = len != 0; /* out of memory: the streams miss these messages */
        }
        ps->sse_off[n] = at;
    }
    /* Only the publishing worker's own runs name local senders; they get the others' messages
     * one by one. */
    for (size_t k = 0; k < n; k++) {
        struct srv_conn *s = m[k].sender;
        if (s && m[k].sender_w == w->idx && s->serial == m[k].sender_serial && s->chan == ch)
            s->aflags |= SRV_AF_SENDER;
    }
    /* Compressed once per window size, at the first subscriber that needs it. */
    const uint8_t *zf[16] = {0};
    /* deliver_* may close s, which unlinks s; it never closes another connection. */
    struct srv_conn *next;
    for (struct srv_conn *s = sl->head; s; s = next) {
        next = s->tnext;
        const uint8_t *base = fr;
        const size_t *zo = NULL;
        if (!srv_pubsub_is_sse(s) && srv_ws__compressed(s)) {
            int b = srv_ws__tx_bits(s);
            if (!zf[b] && compress_for(w, b, m, n, fr, &zf[b]) != 0)
                continue; /* out of memory: it misses these messages */
            base = zf[b];
            zo = ps->z_off[b];
        }
        if (s->aflags & SRV_AF_SENDER) {
            s->aflags &= (uint8_t)~SRV_AF_SENDER;
            for (size_t k = 0; k < n; k++) {
                if (m[k].sender == s && m[k].sender_serial == s->serial)
                    continue;
                if (zo)
                    deliver_one(s, base + zo[k], zo[k + 1] - zo[k], due);
                else
                    deliver_one(s, fr + m[k].off, m[k].len, due);
            }
            continue;
        }
        if (zo) {
            deliver_range(s, base, zo, 0, n, due);
            continue;
        }
        if (!srv_pubsub_is_sse(s)) {
            deliver_range(s, ws, ps->ws_off, 0, n, due);
            continue;
        }
        size_t i0 = 0;
        while (i0 < n && m[i0].seq <= s->a.sse_from)
            i0++; /* it came in the replay, or before the stream opened */
        if (i0 == n || !sse_ok)
            continue;
        if (s->sflags & SRV_SF_CHUNKED) {
            deliver_range(s, w->sse_buf, ps->sse_off, i0, n, due);
            continue;
        }
        for (size_t k = i0; k < n; k++) {
            size_t len, ev = ps->sse_off[k];
            const uint8_t *b =
                srv_sse__bytes(s, w->sse_buf + ev, ps->sse_off[k + 1] - ev, ps->ev_off[k], &len);
            deliver_one(s, b, len, due);
        }
    }
}

static void pub_release(struct srv_pub *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free(p);
}

static uint8_t *pub_frames(struct srv_pub *p)
{
    return (uint8_t *)(p->msgs + p->n);
}

/* Hand p to worker `to`; the reference passes to its mailbox. */
static void mbox_push(struct srv_worker *to, struct srv_pub *p)
{
    struct srv_mailbox *m = &to->ps->mbox;
    int wake = 0;
    pthread_mutex_lock(&m->lock);
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct srv_pub **items = realloc(m->items, cap * sizeof *items);
        if (!items) {
            pthread_mutex_unlock(&m->lock);
            pub_release(p); /* out of memory: that thread misses these messages */
            return;
        }
        m->items = items;
        m->cap = cap;
    }
    m->items[m->n++] = p;
    wake = m->n == 1; /* else a wake is already pending or the drain is running */
    pthread_mutex_unlock(&m->lock);
    if (wake)
        loop_wake(to->loop);
}

/* Behind what w's own mailbox holds, if anything: returns 1 when p went in (the reference
 * passes to the mailbox), 0 when the mailbox is empty (or out of memory). No wake: one is
 * pending, or worker_resume drains. */
static int mbox_push_if_busy(struct srv_worker *w, struct srv_pub *p)
{
    struct srv_mailbox *m = &w->ps->mbox;
    int pushed = 0;
    pthread_mutex_lock(&m->lock);
    if (m->n && m->n < m->cap) {
        m->items[m->n++] = p;
        pushed = 1;
    } else if (m->n) {
        struct srv_pub **items = realloc(m->items, m->cap * 2 * sizeof *items);
        if (items) {
            m->items = items;
            m->cap *= 2;
            m->items[m->n++] = p;
            pushed = 1;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return pushed;
}

/* Grow a batch to take one more message of len bytes. */
static int bq_reserve(struct srv_bq *q, size_t len)
{
    if (q->len + len > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + len)
            cap *= 2;
        uint8_t *b = realloc(q->bytes, cap);
        if (!b)
            return -1;
        q->bytes = b;
        q->cap = cap;
    }
    if (q->n == q->mcap) {
        size_t cap = q->mcap ? q->mcap * 2 : 64;
        struct srv_bmsg *m = realloc(q->msgs, cap * sizeof *m);
        if (!m)
            return -1;
        q->msgs = m;
        q->mcap = cap;
    }
    return 0;
}

static void bq_free(struct srv_bq *q)
{
    free(q->bytes);
    free(q->msgs);
    memset(q, 0, sizeof *q);
}

void srv_pubsub__publish(struct srv_worker *w, struct srv_chan *ch, struct srv_conn *sender,
                         const uint8_t *fr, size_t hl, size_t plen)
{
    struct srv_bq *q = &w->ps->pending;
    size_t len = hl + plen;
    if (bq_reserve(q, len) != 0)
        return; /* out of memory: the message is lost before it was numbered */
    SRV_COUNT(w, published, 1);
    memcpy(q->bytes + q->len, fr, len);
    q->msgs[q->n++] = (struct srv_bmsg){
        .chan = ch,
        .sender = sender,
        .sender_serial = sender ? sender->serial : 0,
        .sender_w = w->idx,
        .off = q->len,
        .len = len,
        .head_len = (uint32_t)hl,
    };
    q->len += len;
    if (q->len >= SRV_PUB_BATCH_BYTES)
        srv_pubsub__flush(w);
}

/* Publish run m[0..n) of one topic (frames back to back in bytes): number it, keep it in the
 * history, hand it to the other workers, deliver it here. */
static void publish_run(struct srv_worker *w, struct srv_bmsg *m, size_t n, const uint8_t *bytes,
                        uint64_t due)
{
    struct srv_chan *ch = m[0].chan;
    struct server *srv = w->srv;
    size_t first = m[0].off, total = m[n - 1].off + m[n - 1].len - first;
    struct srv_pub *p = NULL;
    if (srv->nworkers > 1) {
        /* One allocation per run (per read of a publisher), not per message. */
        p = malloc(sizeof *p + n * sizeof *m + total);
        if (p) {
            p->chan = ch;
            p->n = n;
            p->bytes = total;
            memcpy(pub_frames(p), bytes + first, total);
        }
    }
    int deferred = 0;
    pthread_mutex_lock(&ch->lock);
    for (size_t k = 0; k < n; k++) {
        m[k].seq = ++ch->seq;
        chan_hist_add(ch, srv->params.history, m[k].seq, bytes + m[k].off + m[k].head_len,
                      m[k].len - m[k].head_len);
    }
    if (p) {
        memcpy(p->msgs, m, n * sizeof *m);
        for (size_t k = 0; k < n; k++)
            p->msgs[k].off -= first;
        /* No other thread holds p yet: the count can be set before each push. */
        atomic_init(&p->refs, srv->nworkers);
        deferred = mbox_push_if_busy(w, p);
        if (!deferred)
            atomic_store_explicit(&p->refs, srv->nworkers - 1, memory_order_relaxed);
        for (unsigned i = 0; i < srv->nworkers; i++)
            if (&srv->workers[i] != w)
                mbox_push(&srv->workers[i], p);
    }
    pthread_mutex_unlock(&ch->lock);
    if (!deferred)
        deliver_run(w, ch, m, n, bytes, due);
}

void srv_pubsub__flush(struct srv_worker *w)
{
    struct srv_bq *q = &w->ps->pending;
    if (!q->n)
        return;
    uint64_t due = srv_out__due(w);
    /* Nothing publishes while a batch is delivered: q stays as it is until reset. */
    for (size_t i = 0, j; i < q->n; i = j) {
        for (j = i + 1; j < q->n && q->msgs[j].chan == q->msgs[i].chan; j++)
            ;
        publish_run(w, q->msgs + i, j - i, q->bytes, due);
    }
    q->n = q->len = 0;
}

void srv_pubsub__drain(struct srv_worker *w)
{
    struct srv_pubsub *ps = w->ps;
    struct srv_mailbox *m = &ps->mbox;
    srv_pubsub__flush(w);
    for (;;) {
        /* Take the items, leave the spare array (no allocation per drain). */
        pthread_mutex_lock(&m->lock);
        struct srv_pub **items = m->items;
        size_t n = m->n, cap = m->cap;
        if (n) {
            m->items = ps->mbox_spare;
            m->cap = ps->mbox_spare_cap;
            m->n = 0;
        }
        pthread_mutex_unlock(&m->lock);
        if (!n)
            return;
        uint64_t due = srv_out__due(w);
        /* Consecutive runs of one topic (in seq order) make one delivery, up to a bound. */
        for (size_t i = 0, j; i < n; i = j) {
            struct srv_pub *p = items[i];
            size_t bytes = p->bytes;
            for (j = i + 1; j < n && items[j]->chan == p->chan &&
                            bytes + items[j]->bytes <= SRV_PUB_BATCH_BYTES;
                 j++)
                bytes += items[j]->bytes;
            if (j == i + 1) {
                deliver_run(w, p->chan, p->msgs, p->n, pub_frames(p), due);
            } else {
                struct srv_bq *q = &ps->merged;
                q->n = q->len = 0;
                size_t k;
                for (k = i; k < j; k++) {
                    struct srv_pub *x = items[k];
                    if (bq_reserve(q, x->bytes) != 0)
                        break;
                    while (q->mcap < q->n + x->n) {
                        struct srv_bmsg *mm = realloc(q->msgs, 2 * q->mcap * sizeof *mm);
                        if (!mm)
                            break;
                        q->msgs = mm;
                        q->mcap *= 2;
                    }
                    if (q->mcap < q->n + x->n)
                        break;
                    memcpy(q->bytes + q->len, pub_frames(x), x->bytes);
                    for (size_t t = 0; t < x->n; t++) {
                        q->msgs[q->n + t] = x->msgs[t];
                        q->msgs[q->n + t].off += q->len;
                    }
                    q->n += x->n;
                    q->len += x->bytes;
                }
                j = k > i ? k : i + 1; /* out of memory: the rest next round */
                if (k > i)
                    deliver_run(w, p->chan, q->msgs, q->n, q->bytes, due);
                else
                    deliver_run(w, p->chan, p->msgs, p->n, pub_frames(p), due);
            }
            for (size_t k = i; k < j; k++)
                pub_release(items[k]);
        }
        ps->mbox_spare = items;
        ps->mbox_spare_cap = cap;
    }
}

static void srv_pubsub_wake(struct loop *l, void *arg)
{
    (void)l;
    struct srv_worker *w = arg;
    if (!w->stalled) /* else worker_resume drains */
        srv_pubsub__drain(w);
}

/* ---- the subscribers' sessions ---- */

int srv_pubsub__ws(struct srv_conn *c, const struct http1_request *req, const char *topic,
                   size_t len)
{
    struct srv_chan *ch = srv_pubsub__chan(c->w->srv, topic, len);
    if (!ch) {
        srv_http__error(c, 503, NULL);
        return -1;
    }
    if (srv_ws__upgrade(c, req, &srv_pubsub_ws) < 0)
        return -1;
    srv_pubsub_join(c, ch);
    return 0;
}

/* Last-Event-ID as a decimal seq; anything else is no id (the stream starts live). */
static int srv_pubsub_last_id(const struct http1_header *h, uint64_t *id)
{
    if (!h || h->value_len == 0 || h->value_len > 20)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < h->value_len; i++) {
        unsigned d = (unsigned)(h->value[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *id = v;
    return 1;
}

int srv_pubsub__sse(struct srv_conn *c, const struct http1_request *req, const char *topic,
                    size_t len)
{
    struct srv_worker *w = c->w;
    if (srv_sse__check(c, req) < 0)
        return -1;
    struct srv_chan *ch = srv_pubsub__chan(w->srv, topic, len);
    if (!ch) {
        srv_http__error(c, 503, NULL);
        return -1;
    }
    uint64_t last = UINT64_MAX;
    srv_pubsub_last_id(http1_header_find(req->headers, req->num_headers, "Last-Event-ID"), &last);
    if (srv_sse__open(c, req, &srv_pubsub_sse) < 0)
        return -1;
    size_t replay = 0;
    unsigned flags = (c->sflags & SRV_SF_CHUNKED) ? SSE_EMIT_CHUNKED : 0;
    c->a.sse_from = srv_pubsub_replay(w, ch, last, flags, &replay);
    srv_pubsub_join(c, ch);
    if (replay && srv_out__send(c, w->sse_buf, replay, 0) < 0)
        return -1;
    return 0;
}

/* The message hook of a subscriber's WebSocket: its data messages are published to the topic
 * (frames of a fragmented message assembled first). */
static int srv_pubsub_frame(struct srv_conn *c, const struct ws_frame *f, uint8_t *pl, int complete,
                            uint64_t due)
{
    struct srv_worker *w = c->w;
    size_t plen = (size_t)f->payload_len;
    uint8_t head[WS_MAX_HEAD];
    if (!c->a.frag && complete) {
        /* The common case, one frame: re-frame in place (our header is shorter than the
         * client's by at least the mask key) and publish those bytes, a frame built once for
         * every subscriber. */
        size_t hl = srv_ws__head(head, NULL, 1, f->opcode, plen);
        HERD_ASSERT(hl <= f->head_len);
        memcpy(pl - hl, head, hl);
        srv_pubsub__publish(w, c->chan, c, pl - hl, hl, plen);
        return 0;
    }
    /* A fragmented message: assemble it after WS_MAX_HEAD bytes of room; the chunk's `off`
     * holds the message's opcode. */
    struct chunk *t = c->a.frag;
    size_t have = t ? t->len - WS_MAX_HEAD : 0;
    if (have + plen > w->max_frame) {
        srv_ws__send_close(c, WS_CLOSE_TOO_BIG, due);
        return -1;
    }
    size_t need = WS_MAX_HEAD + have + plen;
    if (!t || t->cap < need) {
        size_t want = need;
        if (t && want < 2 * (size_t)t->cap)
            want = 2 * (size_t)t->cap;
        struct chunk *n = pool_get(&w->pool, want);
        if (!n) {
            srv_conn__close(c);
            return -1;
        }
        if (t) {
            memcpy(n->data, t->data, t->len);
            n->len = t->len;
            n->off = t->off;
            pool_put(&w->pool, t);
        } else {
            n->len = WS_MAX_HEAD;
            n->off = f->opcode;
        }
        c->a.frag = t = n;
    }
    memcpy(t->data + t->len, pl, plen);
    t->len += (uint32_t)plen;
    if (!complete)
        return 0;
    size_t total = t->len - WS_MAX_HEAD;
    size_t hl = srv_ws__head(head, NULL, 1, t->off, total);
    uint8_t *fr = t->data + WS_MAX_HEAD - hl;
    memcpy(fr, head, hl);
    c->a.frag = NULL;
    srv_pubsub__publish(w, c->chan, c, fr, hl, total);
    pool_put(&w->pool, t);
    return 0;
}

/* ---- --tick ---- */

static void tick_publish(struct srv_pubsub *ps)
{
    uint8_t fr[WS_MAX_HEAD + STAMP_MAX];
    ps->tick_seq++;
    struct stamp st = {.publisher = 0, .seq = ps->tick_seq, .real_ns = real_ns()};
    size_t n = stamp_format((char *)fr + 2, &st); /* a stamp is short: a 2-byte header */
    size_t hl = srv_ws__head(fr, NULL, 1, WS_OP_TEXT, n);
    HERD_ASSERT(hl == 2);
    srv_pubsub__publish(ps->w, ps->tick_chan, NULL, fr, hl, n);
}

static void tick_cb(struct loop *l, struct loop_timer *timer)
{
    struct srv_pubsub *ps = container_of(timer, struct srv_pubsub, tick_timer);
    struct srv_worker *w = ps->w;
    double rate = w->srv->params.tick_rate;
    uint64_t now = loop_now(l);
    if (!w->stalled) {
        /* Messages due by now since the start; several per firing above the wheel's rate, and a
         * burst after a stall, as a server catching up would send. */
        uint64_t due = (uint64_t)((double)(now - ps->tick_start_ns) * rate / 1e9);
        for (int k = 0; ps->tick_seq < due && k < SRV_TICK_MAX_BURST; k++)
            tick_publish(ps);
        srv_pubsub__flush(w); /* the firing is one batch */
    }
    uint64_t next = ps->tick_start_ns + (uint64_t)((double)(ps->tick_seq + 1) * 1e9 / rate);
    if (next <= now)
        next = now + LOOP_TICK_NS;
    loop_timer_arm(l, timer, next);
}

/* ---- worker setup ---- */

void srv_pubsub__worker_init(struct srv_worker *w)
{
    struct srv_pubsub *ps = xcalloc(1, sizeof *ps);
    ps->w = w;
    pthread_mutex_init(&ps->mbox.lock, NULL);
    ps->tick_timer.cb = tick_cb;
    w->ps = ps;
}

void srv_pubsub__worker_start(struct srv_worker *w)
{
    struct srv_pubsub *ps = w->ps;
    loop_set_wake_cb(w->loop, srv_pubsub_wake, w);
    double rate = w->srv->params.tick_rate;
    if (w->idx != 0 || !(rate > 0))
        return;
    ps->tick_chan = srv_pubsub__chan(w->srv, "tick", 4);
    if (!ps->tick_chan)
        return;
    ps->tick_start_ns = loop_now(w->loop);
    loop_timer_arm(w->loop, &ps->tick_timer, ps->tick_start_ns + (uint64_t)(1e9 / rate));
}

void srv_pubsub__worker_stop(struct srv_worker *w)
{
    loop_timer_cancel(w->loop, &w->ps->tick_timer);
}

void srv_pubsub__worker_free(struct srv_worker *w)
{
    struct srv_pubsub *ps = w->ps;
    if (!ps)
        return;
    /* Every thread has been joined: nothing pushes any more. */
    for (size_t i = 0; i < ps->mbox.n; i++)
        pub_release(ps->mbox.items[i]);
    free(ps->mbox.items);
    free(ps->mbox_spare);
    bq_free(&ps->pending);
    bq_free(&ps->merged);
    free(ps->ws_off);
    free(ps->sse_off);
    free(ps->ev_off);
    for (int b = 0; b < 16; b++)
        free(ps->z_off[b]);
    free(ps->zp);
    free(ps->zlen);
    free(ps->zop);
    pthread_mutex_destroy(&ps->mbox.lock);
    free(ps);
    w->ps = NULL;
}

void srv_pubsub__server_init(struct server *s)
{
    s->hub = xcalloc(1, sizeof *s->hub);
    pthread_mutex_init(&s->hub->lock, NULL);
}

void srv_pubsub__server_free(struct server *s)
{
    struct srv_hub *hub = s->hub;
    if (!hub)
        return;
    for (size_t i = 0; i < SRV_CHAN_BUCKETS; i++) {
        while (hub->chans[i]) {
            struct srv_chan *ch = hub->chans[i];
            hub->chans[i] = ch->next;
            for (unsigned k = 0; k < s->nworkers; k++)
                HERD_ASSERT(ch->local[k].head == NULL);
            pthread_mutex_destroy(&ch->lock);
            free(ch->hist);
            free(ch->bytes);
            free(ch->local);
            free(ch);
        }
    }
    pthread_mutex_destroy(&hub->lock);
    free(hub);
    s->hub = NULL;
}

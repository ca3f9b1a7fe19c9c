/* pubsub.c - topics: ws://H/pubsub/<topic> broadcasts every data message to every other
 * connection on the topic, WebSocket (pubsub) and event stream (/sse) alike; POST /publish and
 * --tick publish to it too. --slow-policy says what a subscriber whose queue grows gets.
 *
 * A topic (struct srv_chan) is process-wide: its sequence number (the SSE id of each message),
 * its history ring (for Last-Event-ID) and one list of subscribers per worker. Connections never
 * move between threads, so a topic's subscribers may sit on several workers. A message
 * published on worker A is encoded once as an unmasked server frame (header + payload, re-framed
 * in place before the payload as the echo does, or after the assembled fragments). Under the
 * topic's lock A takes the next seq, copies the payload into the history and hands one
 * refcounted copy of the frame to every other worker's mailbox (mutex + array, FIFO), waking its
 * loop; then A writes the frame to its own WebSocket subscribers and, encoded once as an event,
 * to its SSE subscribers; the other workers do the same with their copy. The sender is skipped:
 * "every other connection".
 *
 * Order: seqs are taken and copies handed out under the same lock, so every mailbox gets a
 * topic's messages in seq order. A's own subscribers would see its message before older ones of
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
 * Writes go straight to the socket when the subscriber has nothing queued, else a copy is queued
 * in pool chunks (out__send). --slow-policy decides once something is queued and this message
 * would take the queue past --queue-limit:
 *   buffer  queue anyway, up to SRV_PUBSUB_HARD_CAP, past which the subscriber is closed (1008);
 *   drop    the message is dropped for this subscriber (it gets later ones that fit);
 *   close   the subscriber gets a close frame 1008 (policy violation) after what is queued, and
 *           is closed once that is out (or after SRV_CLOSE_TIMEOUT_NS); an event stream gets
 *           the last chunk (chunked) or nothing (HTTP/1.0) instead of the close frame.
 * Event streams and WebSockets are judged alike, by the bytes queued for them.
 * A single message larger than the limit still goes to a subscriber whose queue is empty. */
#include "server/server_internal.h"

#include "base/compiler.h"
#include "base/err.h"
#include "proto/sse_emit.h"
#include "proto/stamp.h"

#include <stdlib.h>
#include <string.h>

#define SRV_PUBSUB_HARD_CAP (64ull << 20) /* --slow-policy buffer: queued bytes per subscriber */
#define SRV_TICK_MAX_BURST 100000 /* --tick: messages per timer firing at most (catch-up) */

static uint64_t topic_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

struct srv_chan *pubsub__chan(struct server *s, const char *name, size_t len)
{
    pthread_mutex_lock(&s->hub_lock);
    struct srv_chan **pp = &s->chans[topic_hash(name, len) % SRV_CHAN_BUCKETS];
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
    pthread_mutex_unlock(&s->hub_lock);
    return ch;
}

void pubsub__join(struct srv_conn *c, struct srv_chan *ch)
{
    struct srv_subs *sl = &ch->local[c->w->idx];
    c->chan = ch;
    c->tprev = NULL;
    c->tnext = sl->head;
    if (sl->head)
        sl->head->tprev = c;
    sl->head = c;
    sl->n++;
    if (c->app == SRV_APP_SSE)
        sl->nsse++;
}

void pubsub__leave(struct srv_conn *c)
{
    struct srv_worker *w = c->w;
    pool_put(&w->pool, c->frag);
    c->frag = NULL;
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
    if (c->app == SRV_APP_SSE)
        sl->nsse--;
    c->chan = NULL;
    c->tnext = c->tprev = NULL;
}

/* ---- history (under the topic's lock) ---- */

static void hist_clear(struct srv_chan *ch)
{
    ch->hfirst = ch->hcount = 0;
    ch->bstart = ch->bend = 0;
}

static void hist_drop_oldest(struct srv_chan *ch, uint64_t max)
{
    ch->hfirst++;
    ch->hcount--;
    ch->bstart = ch->hcount ? ch->hist[ch->hfirst % max].off : ch->bend;
}

/* Grow the byte ring to hold `need` bytes, moving what it holds to the start. */
static int hist_grow(struct srv_chan *ch, uint64_t max, uint64_t need)
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
static void hist_add(struct srv_chan *ch, uint64_t max, uint64_t seq, const uint8_t *p, size_t len)
{
    if (!max)
        return;
    if (!ch->hist && !(ch->hist = malloc(max * sizeof *ch->hist)))
        return;
    if (len > SRV_HIST_BYTES) {
        hist_clear(ch);
        return;
    }
    if (ch->hcount == max)
        hist_drop_oldest(ch, max);
    uint64_t at;
    for (;;) {
        at = ch->bend;
        if (ch->bcap && at % ch->bcap + len > ch->bcap)
            at += ch->bcap - at % ch->bcap; /* contiguous: start over at the ring's start */
        if (at + len - ch->bstart <= ch->bcap)
            break;
        if (ch->bcap < SRV_HIST_BYTES) {
            if (hist_grow(ch, max, ch->bend - ch->bstart + len) != 0) {
                hist_clear(ch);
                return;
            }
        } else if (ch->hcount) {
            hist_drop_oldest(ch, max);
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

uint64_t pubsub__replay(struct srv_worker *w, struct srv_chan *ch, uint64_t last_id, unsigned flags,
                        size_t *len)
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
            size_t n = sse__encode(w, at, h->seq, pl, h->len, flags, NULL);
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

/* The due time of what is published now: 0 without --delay (as conn__reply_due). */
static uint64_t pub_due(struct srv_worker *w)
{
    uint64_t delay = w->srv->params.delay_ns;
    if (!delay)
        return 0;
    uint64_t due = loop_now(w->loop) + delay;
    return (due + LOOP_TICK_NS - 1) / LOOP_TICK_NS * LOOP_TICK_NS;
}

/* Close a subscriber for the slow-subscriber policy: 1008 (or the stream's end) after what is
 * queued. */
static void close_slow(struct srv_conn *s, uint64_t due)
{
    if (s->app == SRV_APP_SSE) {
        sse__end(s, due);
        return;
    }
    uint8_t fr[4];
    size_t n = ws_frame_head_encode(fr, 1, 0, WS_OP_CLOSE, 2, NULL);
    fr[n] = (uint8_t)(WS_CLOSE_POLICY >> 8);
    fr[n + 1] = (uint8_t)(WS_CLOSE_POLICY & 0xff);
    conn__set_closing(s);
    out__send(s, fr, n + 2, due);
}

static void deliver_one(struct srv_conn *s, const uint8_t *fr, size_t len, uint64_t due)
{
    if (s->flags & (SRV_CF_CLOSED | SRV_CF_CLOSING))
        return;
    const struct server_params *p = &s->w->srv->params;
    if (s->out_bytes) {
        uint64_t after = s->out_bytes + len;
        switch (p->slow_policy) {
        case SLOW_BUFFER:
            if (after > SRV_PUBSUB_HARD_CAP) {
                close_slow(s, due);
                return;
            }
            break;
        case SLOW_DROP:
            if (after > p->queue_limit)
                return;
            break;
        case SLOW_CLOSE:
            if (after > p->queue_limit) {
                close_slow(s, due);
                return;
            }
            break;
        }
    }
    out__send(s, fr, len, due);
}

/* Write message seq (server frame fr[0..hl+plen), payload at fr + hl) to this worker's
 * subscribers of ch, except `sender` (when its serial still matches). */
static void deliver_local(struct srv_worker *w, struct srv_chan *ch, const struct srv_conn *sender,
                          uint32_t sender_serial, uint64_t seq, const uint8_t *fr, size_t hl,
                          size_t plen, uint64_t due)
{
    struct srv_subs *sl = &ch->local[w->idx];
    size_t ev_len = 0, ev_off = 0;
    /* deliver_one may close s, which unlinks s; it never closes another connection. */
    struct srv_conn *next;
    for (struct srv_conn *s = sl->head; s; s = next) {
        next = s->tnext;
        if (s == sender && s->serial == sender_serial)
            continue;
        if (s->app != SRV_APP_SSE) {
            deliver_one(s, fr, hl + plen, due);
            continue;
        }
        if (seq <= s->u.sse_from)
            continue; /* it came in the replay, or before the stream opened */
        if (!ev_len) {
            /* Encoded once per worker, chunked; HTTP/1.0 streams take the bare event in it. */
            ev_len = sse__encode(w, 0, seq, fr + hl, plen, SSE_EMIT_CHUNKED, &ev_off);
            if (!ev_len)
                return; /* out of memory: the streams miss this message */
        }
        size_t n;
        const uint8_t *b = sse__bytes(s, w->sse_buf, ev_len, ev_off, &n);
        deliver_one(s, b, n, due);
    }
}

static void pub_release(struct srv_pub *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free(p);
}

/* Hand p to worker `to`; the reference passes to its mailbox. */
static void mbox_push(struct srv_worker *to, struct srv_pub *p)
{
    struct srv_mailbox *m = &to->mbox;
    int wake = 0;
    pthread_mutex_lock(&m->lock);
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct srv_pub **items = realloc(m->items, cap * sizeof *items);
        if (!items) {
            pthread_mutex_unlock(&m->lock);
            pub_release(p); /* out of memory: that thread misses this message */
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
    struct srv_mailbox *m = &w->mbox;
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

void pubsub__publish(struct srv_worker *w, struct srv_chan *ch, const struct srv_conn *sender,
                     const uint8_t *fr, size_t hl, size_t plen)
{
    uint64_t due = pub_due(w);
    struct server *srv = w->srv;
    size_t len = hl + plen;
    struct srv_pub *p = NULL;
    if (srv->nworkers > 1) {
        p = malloc(sizeof *p + len);
        if (p) {
            p->head_len = (uint32_t)hl;
            p->chan = ch;
            p->sender = sender;
            p->sender_serial = sender ? sender->serial : 0;
            p->frame_len = len;
            memcpy(p->data, fr, len);
        }
    }
    int deferred = 0;
    pthread_mutex_lock(&ch->lock);
    uint64_t seq = ++ch->seq;
    hist_add(ch, srv->params.history, seq, fr + hl, plen);
    if (p) {
        /* No other thread holds p yet: the count can be set before each push. */
        p->seq = seq;
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
        deliver_local(w, ch, sender, sender ? sender->serial : 0, seq, fr, hl, plen, due);
}

void pubsub__drain(struct srv_worker *w)
{
    struct srv_mailbox *m = &w->mbox;
    for (;;) {
        pthread_mutex_lock(&m->lock);
        struct srv_pub **items = m->items;
        size_t n = m->n;
        m->items = NULL;
        m->n = m->cap = 0;
        pthread_mutex_unlock(&m->lock);
        if (!n) {
            free(items);
            return;
        }
        uint64_t due = pub_due(w);
        for (size_t i = 0; i < n; i++) {
            struct srv_pub *p = items[i];
            deliver_local(w, p->chan, p->sender, p->sender_serial, p->seq, p->data, p->head_len,
                          p->frame_len - p->head_len, due);
            pub_release(p);
        }
        free(items);
    }
}

static void wake_cb(struct loop *l, void *arg)
{
    (void)l;
    struct srv_worker *w = arg;
    if (!w->stalled) /* else worker_resume drains */
        pubsub__drain(w);
}

int pubsub__frame(struct srv_conn *c, const struct ws_frame *f, uint8_t *pl, int complete)
{
    struct srv_worker *w = c->w;
    size_t plen = (size_t)f->payload_len;
    uint8_t head[WS_MAX_HEAD];
    if (!c->frag && complete) {
        /* The common case, one frame: re-frame in place (our header is shorter than the
         * client's by at least the mask key) and publish those bytes. */
        size_t hl = ws_frame_head_encode(head, 1, 0, f->opcode, plen, NULL);
        HERD_ASSERT(hl <= f->head_len);
        memcpy(pl - hl, head, hl);
        pubsub__publish(w, c->chan, c, pl - hl, hl, plen);
        return 0;
    }
    /* A fragmented message: assemble it after WS_MAX_HEAD bytes of room; the chunk's `off`
     * holds the message's opcode. */
    struct chunk *t = c->frag;
    size_t have = t ? t->len - WS_MAX_HEAD : 0;
    if (have + plen > w->max_frame) {
        wsconn__send_close(c, WS_CLOSE_TOO_BIG, conn__reply_due(c));
        return -1;
    }
    size_t need = WS_MAX_HEAD + have + plen;
    if (!t || t->cap < need) {
        size_t want = need;
        if (t && want < 2 * (size_t)t->cap)
            want = 2 * (size_t)t->cap;
        struct chunk *n = pool_get(&w->pool, want);
        if (!n) {
            conn__close(c);
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
        c->frag = t = n;
    }
    memcpy(t->data + t->len, pl, plen);
    t->len += (uint32_t)plen;
    if (!complete)
        return 0;
    size_t total = t->len - WS_MAX_HEAD;
    size_t hl = ws_frame_head_encode(head, 1, 0, t->off, total, NULL);
    uint8_t *fr = t->data + WS_MAX_HEAD - hl;
    memcpy(fr, head, hl);
    c->frag = NULL;
    pubsub__publish(w, c->chan, c, fr, hl, total);
    pool_put(&w->pool, t);
    return 0;
}

/* ---- --tick ---- */

static void tick_publish(struct srv_worker *w)
{
    uint8_t fr[2 + STAMP_MAX];
    w->tick_seq++;
    struct stamp st = {.publisher = 0, .seq = w->tick_seq, .real_ns = real_ns()};
    size_t n = stamp_format((char *)fr + 2, &st);
    size_t hl = ws_frame_head_encode(fr, 1, 0, WS_OP_TEXT, n, NULL);
    HERD_ASSERT(hl == 2);
    pubsub__publish(w, w->tick_chan, NULL, fr, hl, n);
}

static void tick_cb(struct loop *l, struct loop_timer *timer)
{
    struct srv_worker *w = container_of(timer, struct srv_worker, tick_timer);
    double rate = w->srv->params.tick_rate;
    uint64_t now = loop_now(l);
    if (!w->stalled) {
        /* Messages due by now since the start; several per firing above the wheel's rate, and a
         * burst after a stall, as a server catching up would send. */
        uint64_t due = (uint64_t)((double)(now - w->tick_start_ns) * rate / 1e9);
        for (int k = 0; w->tick_seq < due && k < SRV_TICK_MAX_BURST; k++)
            tick_publish(w);
    }
    uint64_t next = w->tick_start_ns + (uint64_t)((double)(w->tick_seq + 1) * 1e9 / rate);
    if (next <= now)
        next = now + LOOP_TICK_NS;
    loop_timer_arm(l, timer, next);
}

/* ---- worker setup ---- */

void pubsub__worker_init(struct srv_worker *w)
{
    pthread_mutex_init(&w->mbox.lock, NULL);
    w->tick_timer.cb = tick_cb;
}

void pubsub__worker_start(struct srv_worker *w)
{
    loop_set_wake_cb(w->loop, wake_cb, w);
    double rate = w->srv->params.tick_rate;
    if (w->idx != 0 || !(rate > 0))
        return;
    w->tick_chan = pubsub__chan(w->srv, "tick", 4);
    if (!w->tick_chan)
        return;
    w->tick_start_ns = loop_now(w->loop);
    loop_timer_arm(w->loop, &w->tick_timer, w->tick_start_ns + (uint64_t)(1e9 / rate));
}

void pubsub__worker_stop(struct srv_worker *w)
{
    loop_timer_cancel(w->loop, &w->tick_timer);
}

void pubsub__worker_free(struct srv_worker *w)
{
    /* Every thread has been joined: nothing pushes any more. */
    for (size_t i = 0; i < w->mbox.n; i++)
        pub_release(w->mbox.items[i]);
    free(w->mbox.items);
    w->mbox.items = NULL;
    w->mbox.n = w->mbox.cap = 0;
    pthread_mutex_destroy(&w->mbox.lock);
    free(w->sse_buf);
    w->sse_buf = NULL;
    w->sse_cap = 0;
}

void pubsub__server_init(struct server *s)
{
    pthread_mutex_init(&s->hub_lock, NULL);
}

void pubsub__server_free(struct server *s)
{
    for (size_t i = 0; i < SRV_CHAN_BUCKETS; i++) {
        while (s->chans[i]) {
            struct srv_chan *ch = s->chans[i];
            s->chans[i] = ch->next;
            for (unsigned k = 0; k < s->nworkers; k++)
                HERD_ASSERT(ch->local[k].head == NULL);
            pthread_mutex_destroy(&ch->lock);
            free(ch->hist);
            free(ch->bytes);
            free(ch->local);
            free(ch);
        }
    }
    pthread_mutex_destroy(&s->hub_lock);
}

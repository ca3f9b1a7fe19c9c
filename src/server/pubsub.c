/* pubsub.c - ws://H/pubsub/<topic>: every data message is broadcast to every other connection on
 * the topic; --tick publishes stamped messages to topic "tick"; --slow-policy says what a
 * subscriber whose queue grows gets.
 *
 * Connections never move between threads, so a topic's subscribers may sit on several workers.
 * Each worker keeps its own table (topic name -> intrusive list of its subscribers). A message
 * published on worker A is encoded once as an unmasked server frame (header + payload, re-framed
 * in place before the payload as the echo does, or after the assembled fragments); A writes
 * those same bytes to its own subscribers, then hands one refcounted copy to every other
 * worker's mailbox (mutex + array) and wakes its loop; that worker writes the copy to its own
 * subscribers. The sender is skipped: "every other connection". Order is kept per publisher
 * (one connection is on one thread, and mailboxes are FIFO).
 *
 * Writes go straight to the socket when the subscriber has nothing queued, else a copy is queued
 * in pool chunks (out__send). --slow-policy decides once something is queued and this message
 * would take the queue past --queue-limit:
 *   buffer  queue anyway, up to SRV_PUBSUB_HARD_CAP, past which the subscriber is closed (1008);
 *   drop    the message is dropped for this subscriber (it gets later ones that fit);
 *   close   the subscriber gets a close frame 1008 (policy violation) after what is queued, and
 *           is closed once that is out (or after SRV_CLOSE_TIMEOUT_NS).
 * A single message larger than the limit still goes to a subscriber whose queue is empty. */
#include "server/server_internal.h"

#include "base/compiler.h"
#include "base/err.h"
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

static struct srv_topic **topic_slot(struct srv_worker *w, const char *name, size_t len)
{
    struct srv_topic **pp = &w->topics[topic_hash(name, len) % SRV_TOPIC_BUCKETS];
    while (*pp && !((*pp)->len == len && memcmp((*pp)->name, name, len) == 0))
        pp = &(*pp)->next;
    return pp;
}

int pubsub__join(struct srv_conn *c, const char *name, size_t len)
{
    struct srv_worker *w = c->w;
    struct srv_topic **pp = topic_slot(w, name, len);
    struct srv_topic *t = *pp;
    if (!t) {
        t = malloc(sizeof *t + len);
        if (!t)
            return HERD_E_NOMEM;
        memset(t, 0, sizeof *t);
        t->len = len;
        memcpy(t->name, name, len);
        *pp = t;
    }
    c->topic = t;
    c->tprev = NULL;
    c->tnext = t->subs;
    if (t->subs)
        t->subs->tprev = c;
    t->subs = c;
    t->nsubs++;
    return 0;
}

void pubsub__leave(struct srv_conn *c)
{
    struct srv_worker *w = c->w;
    pool_put(&w->pool, c->frag);
    c->frag = NULL;
    struct srv_topic *t = c->topic;
    if (!t)
        return;
    if (c->tprev)
        c->tprev->tnext = c->tnext;
    else
        t->subs = c->tnext;
    if (c->tnext)
        c->tnext->tprev = c->tprev;
    c->topic = NULL;
    c->tnext = c->tprev = NULL;
    if (--t->nsubs == 0) {
        struct srv_topic **pp = topic_slot(w, t->name, t->len);
        HERD_ASSERT(*pp == t);
        *pp = t->next;
        free(t);
    }
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

/* Close a subscriber for the slow-subscriber policy: 1008 after what is queued. */
static void close_slow(struct srv_conn *s, uint64_t due)
{
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

/* Write fr to this worker's subscribers of the topic, except `sender`. */
static void deliver_local(struct srv_worker *w, const char *name, size_t nlen,
                          const struct srv_conn *sender, const uint8_t *fr, size_t len,
                          uint64_t due)
{
    struct srv_topic *t = *topic_slot(w, name, nlen);
    if (!t)
        return;
    /* deliver_one may close s, which unlinks s (and frees t only when s was the last one, when
     * next is NULL); it never closes another connection. */
    struct srv_conn *next;
    for (struct srv_conn *s = t->subs; s; s = next) {
        next = s->tnext;
        if (s != sender)
            deliver_one(s, fr, len, due);
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

/* Publish a frame on worker w: its own subscribers at once, the other workers by mailbox. */
static void publish(struct srv_worker *w, const char *name, size_t nlen,
                    const struct srv_conn *sender, const uint8_t *fr, size_t len)
{
    uint64_t due = pub_due(w);
    struct server *srv = w->srv;
    if (srv->nworkers > 1) {
        struct srv_pub *p = malloc(sizeof *p + nlen + len);
        if (p) {
            atomic_init(&p->refs, srv->nworkers - 1);
            p->topic_len = (uint32_t)nlen;
            p->frame_len = len;
            memcpy(p->data, name, nlen);
            memcpy(p->data + nlen, fr, len);
            for (unsigned i = 0; i < srv->nworkers; i++)
                if (&srv->workers[i] != w)
                    mbox_push(&srv->workers[i], p);
        }
    }
    deliver_local(w, name, nlen, sender, fr, len, due);
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
            deliver_local(w, (const char *)p->data, p->topic_len, NULL, p->data + p->topic_len,
                          p->frame_len, due);
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
        publish(w, c->topic->name, c->topic->len, c, pl - hl, hl + plen);
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
    publish(w, c->topic->name, c->topic->len, c, fr, hl + total);
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
    publish(w, "tick", 4, NULL, fr, hl + n);
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
    for (size_t i = 0; i < SRV_TOPIC_BUCKETS; i++)
        HERD_ASSERT(w->topics[i] == NULL);
    pthread_mutex_destroy(&w->mbox.lock);
}

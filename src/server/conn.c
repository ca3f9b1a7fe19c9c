/* conn.c - a server connection's read path, timers and closing.
 *
 * Reads land in the worker's read buffer and are consumed in place. Only an incomplete request
 * head or frame is kept, in a pool chunk on the connection (rtail), sized for the whole frame as
 * soon as its header is known; the rest of a large frame is then read straight into that chunk.
 *
 * Closing is deferred: conn__close() stops watching and closes the fd at once, but the struct
 * goes back to the free list only in the loop's after-callback, because events for it may still
 * be in the current batch (they see SRV_CF_CLOSED and are ignored). */
#include "server/server_internal.h"

#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"

#include <errno.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static inline size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

uint64_t conn__reply_due(const struct srv_conn *c)
{
    uint64_t delay = c->w->srv->params.delay_ns;
    if (!delay)
        return 0;
    /* Rounded up to the wheel's tick so that replies of neighbouring iterations share chunks. */
    uint64_t due = loop_now(c->w->loop) + delay;
    return (due + LOOP_TICK_NS - 1) / LOOP_TICK_NS * LOOP_TICK_NS;
}

/* Whether deadline_ns applies: a request head or body in progress (or awaited on a keep-alive
 * connection), a TLS handshake, a close. Open WebSockets and event streams have none. */
static int conn_has_deadline(const struct srv_conn *c)
{
    return (c->state != SRV_ST_WS && c->state != SRV_ST_SSE) ||
           (c->flags & (SRV_CF_CLOSING | SRV_CF_LINGER)) != 0;
}

void conn__timer_update(struct srv_conn *c)
{
    struct loop *l = c->w->loop;
    uint64_t at = UINT64_MAX;
    if (conn_has_deadline(c))
        at = c->deadline_ns;
    if (c->out_head) {
        /* Output already due waits for EPOLLOUT, not for the timer. */
        uint64_t due = out__chunk_due(c->out_head);
        if (due > loop_now(l) && due < at)
            at = due;
    }
    if (at == UINT64_MAX)
        loop_timer_cancel(l, &c->timer);
    else
        loop_timer_arm(l, &c->timer, at);
}

void conn__close(struct srv_conn *c)
{
    if (c->flags & SRV_CF_CLOSED)
        return;
    struct srv_worker *w = c->w;
    c->flags |= SRV_CF_CLOSED;
    pubsub__leave(c); /* a topic subscribed to; a fragment or POST body being assembled */
    if (w->batch.conn == c) {
        w->batch.n = 0;
        w->batch.bytes = 0;
        w->batch.scratch_used = 0;
        w->batch.conn = NULL;
    }
    loop_io_del(w->loop, &c->io);
    net_tls_free(&c->s);
    net_close(c->io.fd, (c->flags & SRV_CF_ABORT) != 0);
    loop_timer_cancel(w->loop, &c->timer);
    pool_put(&w->pool, c->rtail);
    c->rtail = NULL;
    out__discard(c);
    if (c->flags & SRV_CF_COUNTED)
        atomic_fetch_sub_explicit(&w->srv->open, 1, memory_order_relaxed);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->live = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = w->closed;
    w->closed = c;
    w->nlive--;
}

void conn__set_closing(struct srv_conn *c)
{
    if (c->flags & SRV_CF_CLOSING)
        return;
    c->flags |= SRV_CF_CLOSING;
    uint64_t due = conn__reply_due(c);
    uint64_t from = due ? due : loop_now(c->w->loop);
    c->deadline_ns = from + SRV_CLOSE_TIMEOUT_NS;
    conn__timer_update(c);
}

/* Bytes the kernel has not sent, or not had acknowledged, on c's socket. */
static uint32_t conn_outq(const struct srv_conn *c)
{
    int outq = 0;
    return ioctl(c->s.fd, SIOCOUTQ, &outq) == 0 && outq > 0 ? (uint32_t)outq : 0;
}

/* The final reply is out: shut our side and wait for the peer's EOF, so that unread input
 * arriving meanwhile does not make the kernel answer with RST and destroy the close frame
 * before the peer reads it (a lingering close, as nginx does). */
static void conn_linger(struct srv_conn *c)
{
    if (c->flags & SRV_CF_PEER_EOF) {
        conn__close(c);
        return;
    }
    shutdown(c->s.fd, SHUT_WR);
    c->linger_outq = conn_outq(c);
    c->flags |= SRV_CF_LINGER;
    c->deadline_ns = loop_now(c->w->loop) + SRV_LINGER_NS;
    conn__timer_update(c);
}

void conn__after_write(struct srv_conn *c)
{
    if ((c->flags & (SRV_CF_CLOSING | SRV_CF_LINGER | SRV_CF_CLOSED)) == SRV_CF_CLOSING &&
        !c->out_head)
        conn_linger(c);
}

/* Dispatch bytes by state, from state to state (a head, its body, the next head of a keep-alive
 * connection, or frames after an upgrade); returns the bytes used. Replies batched on the way
 * are written at the end. */
static size_t conn_consume(struct srv_conn *c, uint8_t *p, size_t len)
{
    size_t used = 0;
    while (used < len && !(c->flags & (SRV_CF_CLOSED | SRV_CF_CLOSING))) {
        size_t n = 0;
        switch (c->state) {
        case SRV_ST_HEAD: n = routes__consume_head(c, p + used, len - used); break;
        case SRV_ST_BODY: n = routes__consume_body(c, p + used, len - used); break;
        case SRV_ST_WS:
            /* Whole frames: what it leaves is incomplete (no decoding it twice). */
            used += wsconn__consume(c, p + used, len - used);
            goto done;
        case SRV_ST_SSE: used = len; goto done; /* a stream's input is discarded */
        default: HERD_ASSERT(0);
        }
        if (n == 0)
            break; /* incomplete: the rest waits in the tail */
        used += n;
    }
done:
    if (c->flags & SRV_CF_CLOSED)
        return len;
    if (c->w->batch.conn == c && out__commit(c) < 0)
        return len;
    if (c->flags & SRV_CF_CLOSING)
        return len;
    return used;
}

/* Total bytes (from t->off) the incomplete unit in the tail needs before it can be consumed:
 * the whole frame once its header is there, else enough for the longest header; a request head
 * may take up to the head limit (the parser then says whether it is complete or too big). */
static size_t tail_want(const struct srv_conn *c, const uint8_t *p, size_t have)
{
    if (c->state != SRV_ST_WS)
        return HTTP1_MAX_HEAD + 1; /* only a head is kept incomplete: bodies are copied */
    struct ws_frame f;
    memset(&f, 0, sizeof f);
    int r = ws_frame_decode(p, have, WS_F_EXPECT_MASKED, c->w->max_frame, &f);
    if (r == HERD_E_AGAIN && f.head_len && have >= f.head_len)
        return (size_t)f.head_len + (size_t)f.payload_len;
    return have > WS_MAX_HEAD ? have + 1 : WS_MAX_HEAD;
}

/* Make room in the tail for `need` bytes counted from its start; returns 0 or -1 (no memory). */
static int tail_reserve(struct srv_conn *c, size_t need)
{
    struct chunk *t = c->rtail;
    size_t have = t->len - t->off;
    if (t->cap - t->off >= need)
        return 0;
    if (t->cap >= need) {
        memmove(t->data, t->data + t->off, have);
        t->off = 0;
        t->len = (uint32_t)have;
        return 0;
    }
    struct chunk *n = pool_get(&c->w->pool, need);
    if (!n)
        return -1;
    memcpy(n->data, t->data + t->off, have);
    n->len = (uint32_t)have;
    pool_put(&c->w->pool, t);
    c->rtail = n;
    return 0;
}

/* Keep p[0..len), an incomplete unit, in a new tail chunk. */
static int tail_save(struct srv_conn *c, const uint8_t *p, size_t len)
{
    size_t want = tail_want(c, p, len);
    if (c->state == SRV_ST_HEAD)
        want = len; /* heads grow on demand; most fit the smallest chunk */
    struct chunk *t = pool_get(&c->w->pool, want > len ? want : len);
    if (!t)
        return -1;
    memcpy(t->data, p, len);
    t->len = (uint32_t)len;
    c->rtail = t;
    return 0;
}

/* Consume what the tail holds; drop it when used up. */
static void tail_consume(struct srv_conn *c)
{
    struct chunk *t = c->rtail;
    size_t used = conn_consume(c, t->data + t->off, t->len - t->off);
    if (c->flags & SRV_CF_CLOSED)
        return;
    t->off += (uint32_t)used;
    if (t->off == t->len) {
        pool_put(&c->w->pool, t);
        c->rtail = NULL;
    }
}

/* Feed p[0..n) (in the read buffer): first complete the tail, then consume in place, then keep
 * the incomplete end. */
static void conn_feed(struct srv_conn *c, uint8_t *p, size_t n)
{
    while (n && c->rtail) {
        struct chunk *t = c->rtail;
        size_t have = t->len - t->off;
        size_t want = tail_want(c, t->data + t->off, have);
        size_t take = want > have ? min_sz(n, want - have) : 0;
        /* A frame's chunk is sized for the whole frame at once, not grown piece by piece. */
        size_t need = c->state == SRV_ST_WS ? want : have + take;
        if (take == 0 || tail_reserve(c, need) != 0) {
            conn__close(c);
            return;
        }
        t = c->rtail;
        memcpy(t->data + t->len, p, take);
        t->len += (uint32_t)take;
        p += take;
        n -= take;
        tail_consume(c);
        if (c->flags & (SRV_CF_CLOSED | SRV_CF_CLOSING))
            return;
    }
    if (!n)
        return;
    size_t used = conn_consume(c, p, n);
    if (c->flags & (SRV_CF_CLOSED | SRV_CF_CLOSING))
        return;
    if (used < n && tail_save(c, p + used, n - used) != 0)
        conn__close(c);
}

/* Lingering: discard input until EOF. */
static void conn_drain(struct srv_conn *c)
{
    for (;;) {
        ssize_t n = net_stream_read(&c->s, c->w->rbuf, SRV_RBUF_BYTES);
        if (n > 0)
            continue;
        if (n == -EAGAIN)
            return;
        if (n == -EINTR)
            continue;
        conn__close(c);
        return;
    }
}

static void conn_eof(struct srv_conn *c)
{
    if ((c->flags & SRV_CF_CLOSING) && c->out_head) {
        c->flags |= SRV_CF_PEER_EOF; /* flush the final reply, then close */
        return;
    }
    conn__close(c);
}

/* Drive the TLS handshake; returns 1 when it is done (the request head comes next), 0 while it
 * waits for the socket or when it failed (c closed). A client that fails it (a plain ws:// one,
 * an untrusted certificate) is simply closed: nothing can be said to it in HTTP. */
static int conn_tls_handshake(struct srv_conn *c)
{
    int rc = net_tls_handshake(&c->s);
    if (rc == -EAGAIN)
        return 0;
    if (rc != 0) {
        conn__close(c);
        return 0;
    }
    c->state = SRV_ST_HEAD;
    return 1;
}

/* Read until EAGAIN, or until a short read when `drain` is 0: with edge-triggered epoll a short
 * read means the socket was empty at that moment, and anything arriving later raises a new edge,
 * so the extra read() that would only return EAGAIN is skipped. Not with TLS: a TLS read returns
 * one record at most, while more records may wait in the socket (or the rest of this one in
 * OpenSSL's buffer), and no new edge would come for them. */
static void conn_read(struct srv_conn *c, int drain)
{
    struct srv_worker *w = c->w;
    if (c->s.tls)
        drain = 1;
    for (;;) {
        if (c->flags & (SRV_CF_CLOSED | SRV_CF_PEER_EOF))
            return;
        if (w->stalled) {
            c->flags |= SRV_CF_PENDING;
            return;
        }
        if (c->state == SRV_ST_TLS && !conn_tls_handshake(c))
            return;
        if (c->flags & SRV_CF_LINGER) {
            conn_drain(c);
            return;
        }
        if (c->out_bytes > SRV_OUT_LIMIT) {
            c->flags |= SRV_CF_READ_BLOCKED; /* back-pressure: resumes when the queue drains */
            return;
        }
        struct chunk *t = c->rtail;
        size_t asked, have = 0, want = 0;
        ssize_t n;
        if (t && c->state == SRV_ST_WS) {
            have = t->len - t->off;
            want = tail_want(c, t->data + t->off, have);
        }
        if (want > have && want - have >= SRV_DIRECT_READ_MIN) {
            /* The rest of a big frame: read it into its chunk, no copy through rbuf. */
            if (tail_reserve(c, want) != 0) {
                conn__close(c);
                return;
            }
            t = c->rtail;
            asked = want - have;
            n = net_stream_read(&c->s, t->data + t->len, asked);
            if (n > 0) {
                t->len += (uint32_t)n;
                tail_consume(c);
            }
        } else {
            asked = SRV_RBUF_BYTES;
            n = net_stream_read(&c->s, w->rbuf, asked);
            if (n > 0)
                conn_feed(c, w->rbuf, (size_t)n);
        }
        if (n > 0) {
            /* What this read published goes out as one batch: one write per subscriber. */
            pubsub__flush(w);
            if ((size_t)n < asked && !drain)
                return;
            continue;
        }
        if (n == 0) {
            conn_eof(c);
            return;
        }
        if (n == -EAGAIN)
            return;
        if (n == -EINTR)
            continue;
        conn__close(c);
        return;
    }
}

/* Reading paused for back-pressure resumes once half the limit has drained. */
static void conn_unblock(struct srv_conn *c)
{
    if ((c->flags & (SRV_CF_READ_BLOCKED | SRV_CF_CLOSED)) == SRV_CF_READ_BLOCKED &&
        c->out_bytes <= SRV_OUT_LIMIT / 2) {
        c->flags &= (uint16_t)~SRV_CF_READ_BLOCKED;
        conn_read(c, 1);
    }
}

void conn__io_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
    (void)l;
    struct srv_conn *c = container_of(io, struct srv_conn, io);
    if (c->flags & SRV_CF_CLOSED)
        return;
    if (c->w->stalled) {
        c->flags |= SRV_CF_PENDING;
        return;
    }
    if ((events & LOOP_WRITE) && c->out_head) {
        if (out__flush(c) < 0)
            return;
        conn_unblock(c);
    }
    /* TLS reads on write edges too: the handshake waits for either, and a read may have had to
     * wait for room to send (a TLS 1.3 key update) with input left in the socket. */
    if ((events & (LOOP_READ | LOOP_ERR) || c->s.tls) && !(c->flags & SRV_CF_READ_BLOCKED))
        conn_read(c, (events & (LOOP_HUP | LOOP_ERR)) != 0);
}

/* At a close's deadline: whether output is still queued here, or (lingering) the kernel still
 * holds what it held when the lingering began, none of it acknowledged. The peer then stopped
 * reading, and a FIN behind that data would never reach it: closing abortively (RST) tells it at
 * once, and frees the socket here. A peer that reads, however slowly, gets the rest and the FIN
 * from the kernel after the close. */
static int conn_undeliverable(const struct srv_conn *c)
{
    if (!(c->flags & (SRV_CF_CLOSING | SRV_CF_LINGER)))
        return 0;
    if (c->out_head)
        return 1;
    if (!(c->flags & SRV_CF_LINGER))
        return 0;
    uint32_t outq = conn_outq(c);
    return outq > 0 && outq >= c->linger_outq;
}

void conn__timer_cb(struct loop *l, struct loop_timer *t)
{
    struct srv_conn *c = container_of(t, struct srv_conn, timer);
    if (c->flags & SRV_CF_CLOSED)
        return;
    if (c->w->stalled) {
        c->flags |= SRV_CF_PENDING;
        return;
    }
    if (conn_has_deadline(c) && loop_now(l) >= c->deadline_ns) {
        if (conn_undeliverable(c))
            c->flags |= SRV_CF_ABORT;
        conn__close(c);
        return;
    }
    if (c->out_head) {
        if (out__flush(c) < 0)
            return;
        conn_unblock(c);
    } else {
        conn__timer_update(c);
    }
}

void conn__resume(struct srv_conn *c)
{
    if (c->out_head && out__flush(c) < 0)
        return;
    if (!(c->flags & SRV_CF_READ_BLOCKED))
        conn_read(c, 1);
    else
        conn_unblock(c);
    if (!(c->flags & SRV_CF_CLOSED))
        conn__timer_update(c);
}

/* conn.c - a server connection's read path, timers and closing: the conn layer (srv_conn.h).
 *
 * Reads go through the connection's stream (stream/stream.h), which lands them in the worker's
 * read buffer and keeps only an incomplete request head or frame, in a pool chunk; the input is
 * handed to the session of the connection (c->ops), from session to session when one upgrades
 * to another within a read. The batch of replies the session gathered is committed after each
 * read, then the worker delivers what the read published (w->after_read).
 *
 * The stream reads at most STREAM_READ_BUDGET times per wake-up: a client that floods is served
 * again in the next iteration (loop_io_again), after the timers and the other connections.
 *
 * Closing is deferred: srv_conn__close() stops watching and closes the fd at once, but the
 * struct goes back to the free list only in the loop's after-callback, because events for it
 * may still be in the current batch (they see SRV_CF_CLOSED and are ignored). */
#include "server/srv_conn.h"

#include "base/compiler.h"
#include "base/err.h"

#include <errno.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* Whether deadline_ns applies: a request head or body in progress (or awaited on a keep-alive
 * connection), a TLS handshake, a close. Open WebSockets and event streams have none. */
static int srv_conn_has_deadline(const struct srv_conn *c)
{
    return c->ops->timed || (c->flags & (SRV_CF_CLOSING | SRV_CF_LINGER)) != 0;
}

void srv_conn__timer_update(struct srv_conn *c)
{
    struct loop *l = c->w->loop;
    uint64_t at = UINT64_MAX;
    if (srv_conn_has_deadline(c))
        at = c->deadline_ns;
    if (stream_tx_pending(&c->s)) {
        /* Output already due waits for EPOLLOUT, not for the timer. */
        uint64_t due = stream_tx_due(&c->s);
        if (due > loop_now(l) && due < at)
            at = due;
    }
    if (at == UINT64_MAX)
        loop_timer_cancel(l, &c->timer);
    else
        loop_timer_arm(l, &c->timer, at);
}

void srv_conn__close(struct srv_conn *c)
{
    if (c->flags & SRV_CF_CLOSED)
        return;
    struct srv_worker *w = c->w;
    c->flags |= SRV_CF_CLOSED;
    c->ops->close(c); /* a topic subscribed to; a fragment or POST body being assembled */
    if (w->batch.conn == c) {
        w->batch.n = 0;
        w->batch.bytes = 0;
        w->batch.scratch_used = 0;
        w->batch.conn = NULL;
    }
    loop_io_del(w->loop, &c->io);
    stream_close(&c->s, &w->pool, (c->flags & SRV_CF_ABORT) != 0);
    loop_timer_cancel(w->loop, &c->timer);
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

void srv_conn__set_closing(struct srv_conn *c)
{
    if (c->flags & SRV_CF_CLOSING)
        return;
    c->flags |= SRV_CF_CLOSING;
    uint64_t due = srv_out__due(c->w);
    uint64_t from = due ? due : loop_now(c->w->loop);
    c->deadline_ns = from + SRV_CLOSE_TIMEOUT_NS;
    srv_conn__timer_update(c);
}

/* Bytes the kernel has not sent, or not had acknowledged, on c's socket. */
static uint32_t srv_conn_outq(const struct srv_conn *c)
{
    int outq = 0;
    return ioctl(c->s.fd, SIOCOUTQ, &outq) == 0 && outq > 0 ? (uint32_t)outq : 0;
}

/* The final reply is out: shut our side and wait for the peer's EOF, so that unread input
 * arriving meanwhile does not make the kernel answer with RST and destroy the close frame
 * before the peer reads it (a lingering close, as nginx does). */
static void srv_conn_linger(struct srv_conn *c)
{
    if (c->flags & SRV_CF_PEER_EOF) {
        srv_conn__close(c);
        return;
    }
    shutdown(c->s.fd, SHUT_WR);
    c->linger_outq = srv_conn_outq(c);
    c->flags |= SRV_CF_LINGER;
    c->deadline_ns = loop_now(c->w->loop) + SRV_LINGER_NS;
    srv_conn__timer_update(c);
}

void srv_conn__after_write(struct srv_conn *c)
{
    if ((c->flags & (SRV_CF_CLOSING | SRV_CF_LINGER | SRV_CF_CLOSED)) == SRV_CF_CLOSING &&
        !stream_tx_pending(&c->s))
        srv_conn_linger(c);
}

/* The stream's consumer: hand buf[0..len) to the connection's session, and to the next one
 * when it upgrades (a head, then frames); then write the replies batched on the way and
 * deliver what was published. Closing or closed, the rest of the input is of no use: stop. A
 * connection whose queued output passed SRV_OUT_LIMIT pauses its reading (back-pressure), and
 * resumes when half of it is written (srv_conn_unblock). */
static long srv_conn_consume(void *ctx, uint8_t *buf, size_t len, size_t *need)
{
    struct srv_conn *c = ctx;
    struct srv_worker *w = c->w;
    size_t used = 0;
    for (;;) {
        const struct srv_session_ops *ops = c->ops;
        *need = 0;
        used += ops->consume(c, buf + used, len - used, need);
        if (used == len || (c->flags & (SRV_CF_CLOSED | SRV_CF_CLOSING)) || c->ops == ops)
            break;
    }
    if (w->batch.conn == c)
        srv_out__commit(c);
    /* What this read published goes out as one batch: one write per subscriber. */
    w->after_read(w);
    if (c->flags & (SRV_CF_CLOSED | SRV_CF_CLOSING))
        return STREAM_STOP;
    if (c->s.tx_bytes > SRV_OUT_LIMIT) {
        c->flags |= SRV_CF_READ_BLOCKED;
        stream_pause(&c->s);
    }
    return (long)used;
}

static void srv_conn_eof(struct srv_conn *c)
{
    if ((c->flags & SRV_CF_CLOSING) && stream_tx_pending(&c->s)) {
        c->flags |= SRV_CF_PEER_EOF; /* flush the final reply, then close */
        return;
    }
    srv_conn__close(c);
}

/* Drive the TLS handshake; returns 1 when it is done (the request head comes next), 0 while it
 * waits for the socket or when it failed (c closed). A client that fails it (a plain ws:// one,
 * an untrusted certificate) is simply closed: nothing can be said to it in HTTP. */
static int srv_conn_tls_handshake(struct srv_conn *c)
{
    int rc = stream_tls_handshake(&c->s);
    if (rc == -EAGAIN)
        return 0;
    if (rc != 0) {
        srv_conn__close(c);
        return 0;
    }
    c->flags &= (uint16_t)~SRV_CF_HANDSHAKE;
    return 1;
}

/* Read and consume what the socket holds, by the stream's rules; `hup`: the peer's FIN (or an
 * error) came with this edge, or no edge may come for what is there (a resume): read on to
 * EAGAIN or EOF. Closing, input is read and discarded (so that the peer's EOF is seen). */
static void srv_conn_read(struct srv_conn *c, int hup)
{
    struct srv_worker *w = c->w;
    for (;;) {
        if (c->flags & (SRV_CF_CLOSED | SRV_CF_PEER_EOF))
            return;
        if (w->stalled) {
            c->flags |= SRV_CF_PENDING;
            return;
        }
        if ((c->flags & SRV_CF_HANDSHAKE) && !srv_conn_tls_handshake(c))
            return;
        if (c->s.tx_bytes > SRV_OUT_LIMIT) {
            c->flags |= SRV_CF_READ_BLOCKED; /* back-pressure: resumes when the queue drains */
            return;
        }
        int rc;
        if (c->flags & (SRV_CF_CLOSING | SRV_CF_LINGER)) {
            rc = stream_discard_input(&c->s, &w->env);
        } else {
            const struct stream_rd rd = {.limit = SIZE_MAX, .hup = hup};
            rc = stream_read(&c->s, &w->env, &rd, srv_conn_consume, c, NULL);
        }
        switch (rc) {
        case STREAM_STOPPED: continue; /* closed, or closing: the rest is discarded */
        case STREAM_DRAINED:
        case STREAM_PAUSED: /* back-pressure: SRV_CF_READ_BLOCKED is set */
        case STREAM_LIMIT: return;
        case STREAM_BUDGET:
            /* Input may remain, and no new edge will say so: come back in the next iteration,
             * after the timers and the other connections. */
            loop_io_again(w->loop, &c->io, LOOP_READ | (hup ? LOOP_HUP : 0));
            return;
        case STREAM_EOF: srv_conn_eof(c); return;
        default: srv_conn__close(c); return; /* a socket or TLS error, out of memory */
        }
    }
}

/* Reading paused for back-pressure resumes once half the limit has drained. */
static void srv_conn_unblock(struct srv_conn *c)
{
    if ((c->flags & (SRV_CF_READ_BLOCKED | SRV_CF_CLOSED)) == SRV_CF_READ_BLOCKED &&
        c->s.tx_bytes <= SRV_OUT_LIMIT / 2) {
        c->flags &= (uint16_t)~SRV_CF_READ_BLOCKED;
        srv_conn_read(c, 1);
    }
}

void srv_conn__io_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
    (void)l;
    struct srv_conn *c = container_of(io, struct srv_conn, io);
    if (c->flags & SRV_CF_CLOSED)
        return;
    if (c->w->stalled) {
        c->flags |= SRV_CF_PENDING;
        return;
    }
    if ((events & LOOP_WRITE) && stream_tx_pending(&c->s)) {
        if (srv_out__flush(c) < 0)
            return;
        srv_conn_unblock(c);
    }
    /* TLS reads on write edges too: the handshake waits for either, and a read may have had to
     * wait for room to send (a TLS 1.3 key update) with input left in the socket. */
    if ((events & (LOOP_READ | LOOP_ERR) || c->s.tls) && !(c->flags & SRV_CF_READ_BLOCKED))
        srv_conn_read(c, (events & (LOOP_HUP | LOOP_ERR)) != 0);
}

/* At a close's deadline: whether output is still queued here, or (lingering) the kernel still
 * holds what it held when the lingering began, none of it acknowledged. The peer then stopped
 * reading, and a FIN behind that data would never reach it: closing abortively (RST) tells it at
 * once, and frees the socket here. A peer that reads, however slowly, gets the rest and the FIN
 * from the kernel after the close. */
static int srv_conn_undeliverable(const struct srv_conn *c)
{
    if (!(c->flags & (SRV_CF_CLOSING | SRV_CF_LINGER)))
        return 0;
    if (stream_tx_pending(&c->s))
        return 1;
    if (!(c->flags & SRV_CF_LINGER))
        return 0;
    uint32_t outq = srv_conn_outq(c);
    return outq > 0 && outq >= c->linger_outq;
}

void srv_conn__timer_cb(struct loop *l, struct loop_timer *t)
{
    struct srv_conn *c = container_of(t, struct srv_conn, timer);
    if (c->flags & SRV_CF_CLOSED)
        return;
    if (c->w->stalled) {
        c->flags |= SRV_CF_PENDING;
        return;
    }
    if (srv_conn_has_deadline(c) && loop_now(l) >= c->deadline_ns) {
        if (srv_conn_undeliverable(c)) {
            c->flags |= SRV_CF_ABORT;
            SRV_COUNT(c->w, reset, 1);
        }
        srv_conn__close(c);
        return;
    }
    if (stream_tx_pending(&c->s)) {
        if (srv_out__flush(c) < 0)
            return;
        srv_conn_unblock(c);
    } else {
        srv_conn__timer_update(c);
    }
}

void srv_conn__resume(struct srv_conn *c)
{
    if (stream_tx_pending(&c->s) && srv_out__flush(c) < 0)
        return;
    if (!(c->flags & SRV_CF_READ_BLOCKED))
        srv_conn_read(c, 1);
    else
        srv_conn_unblock(c);
    if (!(c->flags & SRV_CF_CLOSED))
        srv_conn__timer_update(c);
}

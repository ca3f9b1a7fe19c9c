/* out.c - a server connection's output: the batch, and every write of the layers above.
 *
 * Replies are gathered in the worker's batch as references to bytes already in memory (the
 * unmasked payload in the read buffer, re-framed in place) and committed with one writev once a
 * read has been consumed. The stream (stream/stream.h) writes at once when nothing is queued and
 * queues in pool chunks what the kernel does not take or what --delay holds (a due time per
 * chunk); EPOLLOUT or the connection's timer then drains the queue in order. During a --stall
 * nothing is written: output is only queued, and written at the resume. */
#include "server/srv_conn.h"

#include "base/compiler.h"
#include "base/err.h"

#include <string.h>

uint64_t srv_out__due(const struct srv_worker *w)
{
    uint64_t delay = w->srv->params.delay_ns;
    if (!delay)
        return 0;
    /* Rounded up to the wheel's tick so that replies of neighbouring iterations share chunks. */
    uint64_t due = loop_now(w->loop) + delay;
    return (due + LOOP_TICK_NS - 1) / LOOP_TICK_NS * LOOP_TICK_NS;
}

static void srv_out_batch_reset(struct srv_batch *b)
{
    b->conn = NULL;
    b->n = 0;
    b->bytes = 0;
    b->scratch_used = 0;
    b->due_ns = 0;
}

/* Before adding `len` bytes (`scratch` of them into scratch) with `due_ns`: commit first when
 * the batch is full or holds output for another time. */
static int srv_out_make_room(struct srv_conn *c, size_t scratch, uint64_t due_ns)
{
    struct srv_batch *b = &c->w->batch;
    HERD_ASSERT(b->n == 0 || b->conn == c);
    if (b->n && (b->n == SRV_BATCH_IOV || b->due_ns != due_ns ||
                 b->scratch_used + scratch > SRV_BATCH_SCRATCH))
        return srv_out__commit(c);
    return 0;
}

int srv_out__ref(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns)
{
    struct srv_batch *b = &c->w->batch;
    if (srv_out_make_room(c, 0, due_ns) < 0)
        return -1;
    b->conn = c;
    b->due_ns = due_ns;
    b->iov[b->n++] = (struct iovec){.iov_base = (void *)p, .iov_len = len};
    b->bytes += len;
    return 0;
}

int srv_out__copy(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns)
{
    struct srv_batch *b = &c->w->batch;
    HERD_ASSERT(len <= SRV_BATCH_SCRATCH);
    if (srv_out_make_room(c, len, due_ns) < 0)
        return -1;
    uint8_t *dst = b->scratch + b->scratch_used;
    memcpy(dst, p, len);
    b->scratch_used += len;
    b->conn = c;
    b->due_ns = due_ns;
    b->iov[b->n++] = (struct iovec){.iov_base = dst, .iov_len = len};
    b->bytes += len;
    return 0;
}

int srv_out__settle(struct srv_conn *c)
{
    if (c->flags & SRV_CF_CLOSED)
        return -1;
    if (stream_tx_pending(&c->s)) {
        if (c->w->stalled)
            c->flags |= SRV_CF_PENDING; /* flushed at resume */
        srv_conn__timer_update(c);
    }
    srv_conn__after_write(c);
    return (c->flags & SRV_CF_CLOSED) ? -1 : 0;
}

int srv_out__commit(struct srv_conn *c)
{
    struct srv_worker *w = c->w;
    struct srv_batch *b = &w->batch;
    if (!b->n)
        return 0;
    HERD_ASSERT(b->conn == c);
    ssize_t n =
        stream_writev(&c->s, &w->pool, b->iov, b->n, b->due_ns, loop_now(w->loop), !w->stalled);
    srv_out_batch_reset(b);
    if (n < 0) {
        srv_conn__close(c);
        return (int)n;
    }
    return srv_out__settle(c);
}

int srv_out__flush(struct srv_conn *c)
{
    struct srv_worker *w = c->w;
    if (!w->stalled && stream_tx_pending(&c->s)) {
        ssize_t r = stream_flush(&c->s, &w->pool, loop_now(w->loop));
        if (r < 0) {
            srv_conn__close(c);
            return (int)r;
        }
    }
    srv_conn__timer_update(c);
    srv_conn__after_write(c);
    return (c->flags & SRV_CF_CLOSED) ? -1 : 0;
}

ssize_t srv_out__try(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns)
{
    struct srv_worker *w = c->w;
    if (w->stalled || due_ns > loop_now(w->loop))
        return 0;
    struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
    ssize_t n = stream_try_writev(&c->s, &iov, 1);
    if (n < 0)
        srv_conn__close(c);
    return n;
}

int srv_out__queue(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns)
{
    struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
    ssize_t rc = stream_writev(&c->s, &c->w->pool, &iov, 1, due_ns, 0, 0);
    if (rc < 0) {
        srv_conn__close(c);
        return (int)rc;
    }
    if (c->w->stalled)
        c->flags |= SRV_CF_PENDING; /* flushed at resume */
    return 0;
}

int srv_out__send(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns)
{
    struct srv_worker *w = c->w;
    struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
    ssize_t n = stream_writev(&c->s, &w->pool, &iov, 1, due_ns, loop_now(w->loop), !w->stalled);
    if (n < 0) {
        srv_conn__close(c);
        return (int)n;
    }
    return srv_out__settle(c);
}

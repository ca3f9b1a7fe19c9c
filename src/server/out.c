/* out.c - a server connection's output.
 *
 * Replies are gathered in the worker's batch as references to bytes already in memory (the
 * unmasked payload in the read buffer, re-framed in place) and written with one writev once a
 * read has been consumed. Only what the kernel does not take, or what --delay holds, is copied
 * into pool chunks queued on the connection (as libuv writes at once when its queue is empty and
 * queues the rest); EPOLLOUT or the connection's timer then drains the queue in order.
 *
 * A queued chunk starts with its due time (SRV_OUT_HDR bytes, monotonic ns; 0 = now), then the
 * bytes; chunk->off starts past the due time. Due times never decrease along the queue.
 *
 * TLS: a write takes one buffer and returns after one record, so out_write writes buffer by
 * buffer, at most SRV_TLS_WRITE_MAX bytes per call, until done or -EAGAIN. A write that got
 * -EAGAIN must be retried from the same byte with at least as many bytes, and it is: the next
 * attempt always starts at the head of the queue, where the failed one started (whatever was
 * written before it is consumed, nothing is written while a queue exists), and the head chunk
 * then holds the rest of that buffer, or at least SRV_TLS_WRITE_MAX bytes of it (the first
 * chunk out_enqueue takes has room for min(rest, largest class)), and it only grows. */
#include "server/server_internal.h"

#include "base/compiler.h"
#include "base/err.h"

#include <errno.h>
#include <string.h>

uint64_t out__chunk_due(const struct chunk *t)
{
    uint64_t due;
    memcpy(&due, t->data, sizeof due);
    return due;
}

static void batch_reset(struct srv_batch *b)
{
    b->conn = NULL;
    b->n = 0;
    b->bytes = 0;
    b->scratch_used = 0;
    b->due_ns = 0;
}

/* Before adding `len` bytes (`scratch` of them into scratch) with `due_ns`: commit first when
 * the batch is full or holds output for another time. */
static int batch_make_room(struct srv_conn *c, size_t scratch, uint64_t due_ns)
{
    struct srv_batch *b = &c->w->batch;
    HERD_ASSERT(b->n == 0 || b->conn == c);
    if (b->n && (b->n == SRV_BATCH_IOV || b->due_ns != due_ns ||
                 b->scratch_used + scratch > SRV_BATCH_SCRATCH))
        return out__commit(c);
    return 0;
}

int out__ref(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns)
{
    struct srv_batch *b = &c->w->batch;
    if (batch_make_room(c, 0, due_ns) < 0)
        return -1;
    b->conn = c;
    b->due_ns = due_ns;
    b->iov[b->n++] = (struct iovec){.iov_base = (void *)p, .iov_len = len};
    b->bytes += len;
    return 0;
}

int out__copy(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns)
{
    struct srv_batch *b = &c->w->batch;
    HERD_ASSERT(len <= SRV_BATCH_SCRATCH);
    if (batch_make_room(c, len, due_ns) < 0)
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

/* Write iov[0..n): returns the bytes written (maybe short), or -EAGAIN / -errno / HERD_E_TLS
 * when nothing was. */
static ssize_t out_write(struct srv_conn *c, const struct iovec *iov, int n)
{
    if (!c->s.tls)
        return net_stream_writev(&c->s, iov, n);
    size_t done = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        while (len) {
            size_t k = len < SRV_TLS_WRITE_MAX ? len : SRV_TLS_WRITE_MAX;
            ssize_t r = net_stream_write(&c->s, p, k);
            if (r == -EINTR)
                continue;
            if (r <= 0)
                return done ? (ssize_t)done : (r < 0 ? r : -EAGAIN);
            done += (size_t)r;
            p += r;
            len -= (size_t)r;
        }
    }
    return (ssize_t)done;
}

/* Copy iov[] past its first `skip` bytes to the end of the queue, due at due_ns. */
static int out_enqueue(struct srv_conn *c, const struct iovec *iov, int n, size_t skip,
                       uint64_t due_ns)
{
    struct pool *pool = &c->w->pool;
    const size_t max_chunk = pool_class_cap[POOL_CLASSES - 1];
    for (int i = 0; i < n; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        p += skip;
        len -= skip;
        skip = 0;
        while (len) {
            struct chunk *t = c->out_tail;
            if (!t || t->len == t->cap || out__chunk_due(t) != due_ns) {
                size_t want = len + SRV_OUT_HDR;
                t = pool_get(pool, want < max_chunk ? want : max_chunk);
                if (!t)
                    return HERD_E_NOMEM;
                memcpy(t->data, &due_ns, sizeof due_ns);
                t->off = t->len = SRV_OUT_HDR;
                if (c->out_tail)
                    c->out_tail->next = t;
                else
                    c->out_head = t;
                c->out_tail = t;
            }
            size_t k = t->cap - t->len;
            if (k > len)
                k = len;
            memcpy(t->data + t->len, p, k);
            t->len += (uint32_t)k;
            p += k;
            len -= k;
            c->out_bytes += k;
        }
    }
    return 0;
}

/* Drop `n` written bytes from the head of the queue. */
static void out_consume(struct srv_conn *c, size_t n)
{
    c->out_bytes -= n;
    while (n) {
        struct chunk *t = c->out_head;
        size_t left = t->len - t->off;
        if (n < left) {
            t->off += (uint32_t)n;
            return;
        }
        n -= left;
        c->out_head = t->next;
        if (!c->out_head)
            c->out_tail = NULL;
        pool_put(&c->w->pool, t);
    }
}

int out__commit(struct srv_conn *c)
{
    struct srv_worker *w = c->w;
    struct srv_batch *b = &w->batch;
    if (!b->n)
        return 0;
    HERD_ASSERT(b->conn == c);
    size_t skip = 0;
    int rc = 0;
    if (!c->out_head && b->due_ns <= loop_now(w->loop)) {
        ssize_t n = out_write(c, b->iov, b->n);
        if (n >= 0)
            skip = (size_t)n;
        else if (n != -EAGAIN && n != -EINTR)
            rc = (int)n;
    }
    if (rc == 0 && skip < b->bytes)
        rc = out_enqueue(c, b->iov, b->n, skip, b->due_ns);
    batch_reset(b);
    if (rc < 0) {
        conn__close(c);
        return rc;
    }
    if (c->out_head)
        conn__timer_update(c);
    conn__after_write(c);
    return (c->flags & SRV_CF_CLOSED) ? -1 : 0;
}

int out__flush(struct srv_conn *c)
{
    struct srv_worker *w = c->w;
    uint64_t now = loop_now(w->loop);
    while (c->out_head && !w->stalled) {
        struct iovec iov[SRV_BATCH_IOV];
        int n = 0;
        size_t total = 0;
        for (struct chunk *t = c->out_head; t && n < SRV_BATCH_IOV; t = t->next) {
            if (out__chunk_due(t) > now)
                break;
            iov[n].iov_base = t->data + t->off;
            iov[n].iov_len = t->len - t->off;
            total += iov[n].iov_len;
            n++;
        }
        if (!n)
            break;
        ssize_t r = out_write(c, iov, n);
        if (r == -EINTR)
            continue;
        if (r == -EAGAIN)
            break; /* EPOLLOUT resumes */
        if (r < 0) {
            conn__close(c);
            return (int)r;
        }
        out_consume(c, (size_t)r);
        if ((size_t)r < total)
            break;
    }
    conn__timer_update(c);
    conn__after_write(c);
    return (c->flags & SRV_CF_CLOSED) ? -1 : 0;
}

ssize_t out__try(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns)
{
    struct srv_worker *w = c->w;
    if (c->out_head || w->stalled || due_ns > loop_now(w->loop))
        return 0;
    struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
    ssize_t n = out_write(c, &iov, 1);
    if (n >= 0)
        return n;
    if (n == -EAGAIN || n == -EINTR)
        return 0;
    conn__close(c);
    return n;
}

int out__queue(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns)
{
    struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
    int rc = out_enqueue(c, &iov, 1, 0, due_ns);
    if (rc < 0) {
        conn__close(c);
        return rc;
    }
    if (c->w->stalled)
        c->flags |= SRV_CF_PENDING; /* flushed at resume */
    return 0;
}

int out__settle(struct srv_conn *c)
{
    if (c->flags & SRV_CF_CLOSED)
        return -1;
    if (c->out_head)
        conn__timer_update(c);
    conn__after_write(c);
    return (c->flags & SRV_CF_CLOSED) ? -1 : 0;
}

int out__send(struct srv_conn *c, const void *p, size_t len, uint64_t due_ns)
{
    ssize_t n = out__try(c, p, len, due_ns);
    if (n < 0)
        return (int)n;
    if ((size_t)n < len && out__queue(c, (const uint8_t *)p + n, len - (size_t)n, due_ns) < 0)
        return -1;
    return out__settle(c);
}

void out__discard(struct srv_conn *c)
{
    while (c->out_head) {
        struct chunk *t = c->out_head;
        c->out_head = t->next;
        pool_put(&c->w->pool, t);
    }
    c->out_tail = NULL;
    c->out_bytes = 0;
}

/* stream.c - the buffered stream: input with its incomplete unit, output with its queue.
 *
 * Input. Each read lands after the bytes the incomplete unit kept from before, so the consumer
 * always sees one contiguous run (the kept bytes are copied to the front of the thread's read
 * buffer first; they are a head or a frame's first bytes, small). A unit whose rest is large
 * (STREAM_DIRECT_MIN or more missing) is completed in its own chunk instead, sized once for the
 * whole unit, by reads of exactly the missing bytes: no copy through the read buffer, and no
 * re-copy of a growing prefix.
 *
 * Output. A queued chunk starts with its due time (TX_HDR bytes, monotonic ns; 0 = now), then
 * the bytes; chunk->off starts past the due time. Due times never decrease along the queue.
 *
 * TLS. A read returns at most one record, so reads go on to EAGAIN (no short-read shortcut). A
 * write takes one buffer and returns after one record, so buffers are written one at a time, at
 * most TX_TLS_MAX bytes per call. A write that got EAGAIN must be retried from the same byte with
 * at least as many bytes, and it is: nothing is written while a queue exists, the next attempt
 * starts at the head of the queue where the failed one started, and the head chunk holds the rest
 * of that buffer or at least TX_TLS_MAX bytes of it (enqueue's first chunk has room for
 * min(rest, the largest class)), and it only grows. */
#include "stream/stream.h"

#include "base/compiler.h"
#include "base/err.h"

#include <errno.h>
#include <string.h>

#define TX_HDR 8 /* a queued chunk starts with its due time */
#define TX_TLS_MAX 16384 /* TLS: bytes per write call, one full record */
#define STREAM_DIRECT_MIN (16u << 10) /* complete a unit this far from whole in its own chunk */
#define STREAM_F_PAUSE 0x80000000u /* in _rx_need's top bit: the consumer asked to pause */

void stream_init(struct stream *s, int fd)
{
    *s = (struct stream){.fd = fd};
}

int stream_tls_client(struct stream *s, struct net_tls_ctx *ctx, const char *name,
                      struct net_tls_session **slot)
{
    struct net_stream ns = {.fd = s->fd};
    int rc = net_tls_start(&ns, ctx, name, slot);
    s->tls = ns.tls;
    return rc;
}

int stream_tls_server(struct stream *s, struct net_tls_ctx *ctx)
{
    struct net_stream ns = {.fd = s->fd};
    int rc = net_tls_accept(&ns, ctx);
    s->tls = ns.tls;
    return rc;
}

static inline struct net_stream ns_of(const struct stream *s)
{
    return (struct net_stream){.fd = s->fd, .tls = s->tls};
}

int stream_tls_handshake(struct stream *s)
{
    struct net_stream ns = ns_of(s);
    return net_tls_handshake(&ns);
}

int stream_tls_resumed(const struct stream *s)
{
    struct net_stream ns = ns_of(s);
    return net_tls_resumed(&ns);
}

void stream_close(struct stream *s, struct pool *pool, int reset)
{
    pool_put(pool, s->_rx);
    s->_rx = NULL;
    s->_rx_need = 0;
    stream_tx_discard(s, pool);
    if (s->tls) {
        struct net_stream ns = ns_of(s);
        net_tls_free(&ns);
        s->tls = NULL;
    }
    if (s->fd >= 0)
        net_close(s->fd, reset);
    s->fd = -1;
}

/* ---- input ---- */

void stream_pause(struct stream *s)
{
    s->_rx_need |= STREAM_F_PAUSE;
}

/* Keep p[0..len), an incomplete unit whose whole length is `need` (0 when unknown), in a chunk
 * with room for all of it. Returns 0 or HERD_E_NOMEM. */
static int rx_keep(struct stream *s, struct pool *pool, const uint8_t *p, size_t len, size_t need)
{
    struct chunk *k = pool_get(pool, need > len ? need : len);
    if (!k)
        return HERD_E_NOMEM;
    memcpy(k->data, p, len);
    k->len = (uint32_t)len;
    s->_rx = k;
    s->_rx_need = (uint32_t)(need > UINT32_MAX >> 1 ? 0 : need);
    return 0;
}

/* Make the kept unit's chunk hold `want` bytes from its start. Returns 0 or HERD_E_NOMEM. */
static int rx_reserve(struct stream *s, struct pool *pool, size_t want)
{
    struct chunk *k = s->_rx;
    size_t have = k->len - k->off;
    if (k->cap - k->off >= want)
        return 0;
    if (k->cap >= want) {
        memmove(k->data, k->data + k->off, have);
        k->off = 0;
        k->len = (uint32_t)have;
        return 0;
    }
    struct chunk *g = pool_get(pool, want);
    if (!g)
        return HERD_E_NOMEM;
    memcpy(g->data, k->data + k->off, have);
    g->len = (uint32_t)have;
    pool_put(pool, k);
    s->_rx = g;
    return 0;
}

int stream_read(struct stream *s, const struct stream_env *env, const struct stream_rd *rd,
                stream_consume_fn *fn, void *ctx, size_t *nread)
{
    size_t total = 0, left = rd->limit;
    int rc;
    for (int reads = 0;; reads++) {
        if (reads == STREAM_READ_BUDGET) {
            rc = STREAM_BUDGET;
            break;
        }
        if (left == 0) {
            rc = STREAM_LIMIT;
            break;
        }
        struct chunk *k = s->_rx;
        size_t have = k ? k->len - k->off : 0;
        size_t need = s->_rx_need;
        /* Direct: the unit's rest is large, or what is kept would crowd the read buffer. */
        int direct =
            k && ((need > have && need - have >= STREAM_DIRECT_MIN) || have > env->rbuf_cap / 2);
        uint8_t *dst;
        size_t want;
        if (direct) {
            size_t whole = need > have ? need : 2 * have;
            if (rx_reserve(s, env->pool, whole) != 0) {
                rc = HERD_E_NOMEM;
                break;
            }
            k = s->_rx;
            dst = k->data + k->len;
            want = k->off + whole - k->len;
        } else {
            dst = env->rbuf + have;
            want = env->rbuf_cap - have;
        }
        if (rd->piece && want > rd->piece)
            want = rd->piece;
        if (want > left)
            want = left;
        struct net_stream ns = ns_of(s);
        ssize_t n = net_stream_read(&ns, dst, want);
        if (n == -EINTR)
            continue;
        if (n == -EAGAIN) {
            rc = STREAM_DRAINED;
            break;
        }
        if (n <= 0) {
            rc = n == 0 ? STREAM_EOF : (int)n;
            break;
        }
        total += (size_t)n;
        if (left != SIZE_MAX)
            left -= (size_t)n;

        uint8_t *buf;
        size_t len;
        struct chunk *own = NULL; /* a direct unit's chunk, detached while it is consumed */
        if (direct) {
            k->len += (uint32_t)n;
            if (k->len - k->off < need) /* still incomplete: read on */
                goto next;
            own = k;
            buf = k->data + k->off;
            len = k->len - k->off;
        } else {
            if (k) {
                memcpy(env->rbuf, k->data + k->off, have);
                pool_put(env->pool, k);
            }
            buf = env->rbuf;
            len = have + (size_t)n;
        }
        s->_rx = NULL;
        s->_rx_need = 0;
        size_t unit = 0;
        long used = fn(ctx, buf, len, &unit);
        if (used < 0) {
            pool_put(env->pool, own); /* the stream itself may be closed: touch nothing else */
            if (nread)
                *nread = total;
            return STREAM_STOPPED;
        }
        int paused = (s->_rx_need & STREAM_F_PAUSE) != 0;
        s->_rx_need = 0;
        if ((size_t)used < len) {
            const uint8_t *rest = buf + used;
            size_t rlen = len - (size_t)used;
            if (own && own->cap >= (unit > rlen ? unit : rlen)) {
                memmove(own->data, rest, rlen); /* reuse the unit's chunk for the next one */
                own->off = 0;
                own->len = (uint32_t)rlen;
                s->_rx = own;
                s->_rx_need = (uint32_t)(unit > UINT32_MAX >> 1 ? 0 : unit);
                own = NULL;
            } else if (rx_keep(s, env->pool, rest, rlen, unit) != 0) {
                pool_put(env->pool, own);
                rc = HERD_E_NOMEM;
                break;
            }
        }
        if (UNLIKELY(own))
            pool_put(env->pool, own);
        if (paused) {
            rc = STREAM_PAUSED;
            break;
        }
    next:
        /* A short plain read drained the socket: skip the read that would only say EAGAIN; the
         * next bytes raise a new edge. Not with TLS (more may wait in the library or the socket
         * behind the one record read), nor when the peer's FIN came with this edge (no other
         * edge will come, and only a read sees the end). */
        if ((size_t)n < want && !s->tls && !rd->hup) {
            rc = STREAM_DRAINED;
            break;
        }
    }
    if (nread)
        *nread = total;
    return rc;
}

int stream_discard_input(struct stream *s, const struct stream_env *env)
{
    for (int reads = 0; reads < STREAM_READ_BUDGET; reads++) {
        struct net_stream ns = ns_of(s);
        ssize_t n = net_stream_read(&ns, env->rbuf, env->rbuf_cap);
        if (n > 0 || n == -EINTR)
            continue;
        if (n == -EAGAIN)
            return STREAM_DRAINED;
        return n == 0 ? STREAM_EOF : (int)n;
    }
    return STREAM_BUDGET;
}

/* ---- output ---- */

uint64_t stream_tx_due(const struct stream *s)
{
    uint64_t due;
    memcpy(&due, s->_tx_head->data, sizeof due);
    return due;
}

static uint64_t chunk_due(const struct chunk *t)
{
    uint64_t due;
    memcpy(&due, t->data, sizeof due);
    return due;
}

/* Write iov[0..n): the bytes written (maybe short), or -EAGAIN / -errno / HERD_E_TLS when none
 * were. */
static ssize_t tx_write(struct stream *s, const struct iovec *iov, int n)
{
    struct net_stream ns = ns_of(s);
    if (!s->tls) {
        for (;;) {
            ssize_t r = net_stream_writev(&ns, iov, n);
            if (r != -EINTR)
                return r;
        }
    }
    size_t done = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        while (len) {
            size_t k = len < TX_TLS_MAX ? len : TX_TLS_MAX;
            ssize_t r = net_stream_write(&ns, p, k);
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
static int tx_enqueue(struct stream *s, struct pool *pool, const struct iovec *iov, int n,
                      size_t skip, uint64_t due_ns)
{
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
            struct chunk *t = s->_tx_tail;
            if (!t || t->len == t->cap || chunk_due(t) != due_ns) {
                size_t want = len + TX_HDR;
                t = pool_get(pool, want < max_chunk ? want : max_chunk);
                if (!t)
                    return HERD_E_NOMEM;
                memcpy(t->data, &due_ns, sizeof due_ns);
                t->off = t->len = TX_HDR;
                if (s->_tx_tail)
                    s->_tx_tail->next = t;
                else
                    s->_tx_head = t;
                s->_tx_tail = t;
            }
            size_t k = t->cap - t->len;
            if (k > len)
                k = len;
            memcpy(t->data + t->len, p, k);
            t->len += (uint32_t)k;
            p += k;
            len -= k;
            s->tx_bytes += k;
        }
    }
    return 0;
}

/* Drop `n` written bytes from the head of the queue. */
static void tx_consume(struct stream *s, struct pool *pool, size_t n)
{
    s->tx_bytes -= n;
    while (n) {
        struct chunk *t = s->_tx_head;
        size_t left = t->len - t->off;
        if (n < left) {
            t->off += (uint32_t)n;
            return;
        }
        n -= left;
        s->_tx_head = t->next;
        if (!s->_tx_head)
            s->_tx_tail = NULL;
        pool_put(pool, t);
    }
}

ssize_t stream_writev(struct stream *s, struct pool *pool, const struct iovec *iov, int n,
                      uint64_t due_ns, uint64_t now, int try_now)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    size_t done = 0;
    if (try_now && !s->_tx_head && due_ns <= now) {
        ssize_t w = tx_write(s, iov, n);
        if (w >= 0)
            done = (size_t)w;
        else if (w != -EAGAIN)
            return w;
    }
    if (done < total) {
        int rc = tx_enqueue(s, pool, iov, n, done, due_ns);
        if (rc < 0)
            return rc;
    }
    return (ssize_t)done;
}

ssize_t stream_try_writev(struct stream *s, const struct iovec *iov, int n)
{
    if (s->_tx_head)
        return 0;
    ssize_t w = tx_write(s, iov, n);
    return w == -EAGAIN ? 0 : w;
}

ssize_t stream_flush(struct stream *s, struct pool *pool, uint64_t now)
{
    size_t done = 0;
    while (s->_tx_head) {
        struct iovec iov[16];
        int n = 0;
        size_t total = 0;
        for (struct chunk *t = s->_tx_head; t && n < 16; t = t->next) {
            if (chunk_due(t) > now)
                break;
            iov[n].iov_base = t->data + t->off;
            iov[n].iov_len = t->len - t->off;
            total += iov[n].iov_len;
            n++;
        }
        if (!n)
            break;
        ssize_t r = tx_write(s, iov, n);
        if (r == -EAGAIN)
            break; /* EPOLLOUT resumes */
        if (r < 0)
            return r;
        tx_consume(s, pool, (size_t)r);
        done += (size_t)r;
        if ((size_t)r < total)
            break;
    }
    return (ssize_t)done;
}

void stream_tx_discard(struct stream *s, struct pool *pool)
{
    while (s->_tx_head) {
        struct chunk *t = s->_tx_head;
        s->_tx_head = t->next;
        pool_put(pool, t);
    }
    s->_tx_tail = NULL;
    s->tx_bytes = 0;
}

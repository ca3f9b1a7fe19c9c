/* stream.h - one buffered byte stream under every protocol of herd, client and server alike.
 *
 * A stream owns a connected socket, the TLS session over it when there is one, the bytes of an
 * incomplete input unit (a response head, a frame: only those, in a pool chunk) and the output
 * the kernel would not take yet (pool chunks, in order). The protocols above see bytes in and
 * bytes out, never a socket: the rules of edge-triggered reading (read until drained; skip the
 * read that would only say EAGAIN after a short plain read; never with TLS, whose reads return
 * one record while more may wait), a budget per wake-up so that one flooding peer cannot starve
 * the loop, and TLS's rule that a write refused with EAGAIN is retried from the same byte are
 * all written here, once.
 *
 * Memory: a stream holds no buffer of its own. Reads land in the thread's read buffer (struct
 * stream_env) and are consumed in place; only the unconsumed end of the input, an incomplete
 * unit, is kept in a chunk sized for the whole unit when its length is known, and the rest of a
 * large unit is then read straight into that chunk. Writes go to the kernel at once; only what it
 * does not take is copied into chunks. Queued chunks carry a time before which they are not
 * written (0 = now), which herd serve's --delay uses; the client always queues for now.
 *
 * Nothing here logs or counts: the caller classifies errors and counts bytes (the return values
 * say how many moved). One stream belongs to one thread. */
#ifndef HERD_STREAM_STREAM_H
#define HERD_STREAM_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/pool.h"
#include "net/net.h"

/* What the streams of one thread share: its pool and its read buffer. */
struct stream_env {
    struct pool *pool;
    uint8_t *rbuf;
    size_t rbuf_cap; /* at least 64 KiB */
};

/* One stream, embedded in its connection. Fields are the stream's own (read tx_bytes freely). */
struct stream {
    struct net_tls *tls; /* TLS over fd, or NULL */
    struct chunk *_rx; /* the incomplete unit at the end of the input, or NULL */
    struct chunk *_tx_head,
        *_tx_tail; /* output not written yet; each chunk starts with its due time */
    uint64_t tx_bytes; /* bytes queued in _tx_head.. */
    uint32_t _rx_need; /* the unit's whole length once known, else 0 */
    int fd;
};

/* Start a stream on a connected (or connecting) socket. */
void stream_init(struct stream *s, int fd);

/* TLS over the stream's socket (net_tls_start / net_tls_accept). Returns 0 or HERD_E_NOMEM. */
int stream_tls_client(struct stream *s, struct net_tls_ctx *ctx, const char *name,
                      struct net_tls_session **slot);
int stream_tls_server(struct stream *s, struct net_tls_ctx *ctx);

/* Drive the TLS handshake: 0 when done, -EAGAIN while it waits, HERD_E_TLS when it failed. */
int stream_tls_handshake(struct stream *s);

/* Whether the TLS session was resumed (client, after the handshake). */
int stream_tls_resumed(const struct stream *s);

/* Close the stream: free what it holds, free the TLS session, close the socket (with RST when
 * `reset`). Safe on a stream closed already (fd < 0). */
void stream_close(struct stream *s, struct pool *pool, int reset);

/* ---- input ---- */

/* The protocol's side of a read: consume buf[0..len) (writable: payloads may be unmasked and
 * re-framed in place). Returns the bytes used; what is left is an incomplete unit, kept for the
 * next read, whose whole length (when the protocol knows it) goes to *need. Returns
 * STREAM_STOP, touching nothing of the stream after, when the connection ended (the caller may
 * have closed the stream) or the protocol wants no more input now (see stream_pause). */
typedef long stream_consume_fn(void *ctx, uint8_t *buf, size_t len, size_t *need);
#define STREAM_STOP (-1L)

/* How much one stream_read may take. */
struct stream_rd {
    size_t limit; /* bytes in all (a slow reader's allowance); SIZE_MAX: no limit */
    size_t piece; /* bytes per read() at most; 0: as much as the buffer takes */
    int hup; /* the peer's FIN came with this wake-up: read on to EOF, whatever the sizes */
};

/* Results of stream_read (besides -errno, HERD_E_TLS and HERD_E_NOMEM). */
enum stream_rc {
    STREAM_DRAINED = 0, /* the socket is empty for now: a new edge will come */
    STREAM_EOF = 1, /* the peer closed its side */
    STREAM_STOPPED = 2, /* the consumer returned STREAM_STOP */
    STREAM_PAUSED = 3, /* the consumer asked for a pause (stream_pause) */
    STREAM_LIMIT = 4, /* rd->limit bytes were read */
    STREAM_BUDGET = 5, /* the budget of one wake-up is spent and input may remain: call again
                        * soon (loop_io_again); the edge will not come back by itself */
};

/* Reads per stream_read at most when every read fills what was asked (a peer that floods). */
#define STREAM_READ_BUDGET 16

/* Read and consume until the socket is drained or a limit is reached. Each read takes what the
 * incomplete unit kept from before plus new bytes, contiguous, and hands them to fn. *nread
 * (may be NULL) gets the bytes read from the socket. */
int stream_read(struct stream *s, const struct stream_env *env, const struct stream_rd *rd,
                stream_consume_fn *fn, void *ctx, size_t *nread);

/* From inside a consumer: stop reading after this buffer (stream_read returns STREAM_PAUSED; the
 * unconsumed end is kept as usual). For back-pressure: a connection whose output is queued past
 * its limit stops reading until the queue drains. */
void stream_pause(struct stream *s);

/* Bytes of input held back (an incomplete unit). */
static inline size_t stream_rx_held(const struct stream *s)
{
    return s->_rx ? s->_rx->len - s->_rx->off : 0;
}

/* Read and discard until EAGAIN (a lingering close). Returns STREAM_DRAINED, STREAM_EOF,
 * STREAM_BUDGET or < 0, as stream_read. */
int stream_discard_input(struct stream *s, const struct stream_env *env);

/* ---- output ---- */

/* Write iov[0..n) (total bytes `total`, or 0 to have it summed): at once when nothing is queued
 * and due_ns has come (due_ns <= now), the rest queued behind, due at due_ns. With `try_now`
 * 0 nothing is written, only queued (a stalled server). Returns the bytes the kernel took (0..),
 * or < 0 on a socket or TLS error, or HERD_E_NOMEM: the stream is then broken, the caller closes
 * it. */
ssize_t stream_writev(struct stream *s, struct pool *pool, const struct iovec *iov, int n,
                      uint64_t due_ns, uint64_t now, int try_now);

static inline ssize_t stream_write(struct stream *s, struct pool *pool, const void *p, size_t len)
{
    struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
    return stream_writev(s, pool, &iov, 1, 0, 0, 1);
}

/* Write iov[0..n) at once and queue nothing, for a caller that decides itself what becomes of
 * the rest (herd serve gives a slow subscriber whole messages or none, by --slow-policy; a last
 * word at shutdown is written whole or not at all). Writes nothing while output is queued.
 * Returns the bytes the kernel took (0..), or < 0 on a socket or TLS error. With TLS, what a
 * write left must be queued next (stream_writev), from the first byte not taken, as the retry of
 * a refused record. */
ssize_t stream_try_writev(struct stream *s, const struct iovec *iov, int n);

/* Write what is queued and due by `now`, until the kernel pushes back. Returns the bytes written
 * (0..), or < 0 as stream_writev. */
ssize_t stream_flush(struct stream *s, struct pool *pool, uint64_t now);

/* Whether output is queued. */
static inline int stream_tx_pending(const struct stream *s)
{
    return s->_tx_head != NULL;
}

/* The due time of the first queued chunk (0 = now); only when stream_tx_pending. */
uint64_t stream_tx_due(const struct stream *s);

/* Drop all queued output (closing). */
void stream_tx_discard(struct stream *s, struct pool *pool);

#endif

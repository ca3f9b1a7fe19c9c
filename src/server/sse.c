/* sse.c - the event stream session of `herd serve` (WHATWG HTML 9.2), which GET /sse/<topic>
 * opens (pubsub.c subscribes it to the topic).
 *
 * The answer is 200 with Content-Type: text/event-stream and Cache-Control: no-cache. An
 * HTTP/1.1 client gets the stream in chunked transfer coding, one chunk per event (what real
 * servers behind a keep-alive connection send); an HTTP/1.0 client gets it bare, framed by the
 * connection's close. Each message of the topic is one event: "id: <seq>" (the topic's sequence
 * number) and one "data:" line per line of the message (proto/sse_emit.h). A message is encoded
 * once per worker (pubsub.c) and the same bytes go to every stream there. --sse-retry DUR starts
 * every stream with "retry: <ms>".
 *
 * A stream only flows out: whatever the client sends is read and discarded (so its EOF is
 * seen). It obeys --slow-policy and --queue-limit like a WebSocket subscriber, counts as a
 * connection for --max-connections and can be refused by --reject. */
#include "server/srv_session.h"

#include "base/compiler.h"
#include "proto/http1.h"
#include "proto/sse_emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t srv_sse__encode(struct srv_worker *w, size_t at, uint64_t seq, const uint8_t *payload,
                       size_t len, unsigned flags, size_t *event_off)
{
    size_t need = sse_emit_size(seq, payload, len, flags);
    if (at + need > w->sse_cap) {
        /* Grown rarely (the largest event so far, or a replay), never shrunk. */
        size_t cap = w->sse_cap ? w->sse_cap : 4096;
        while (cap < at + need)
            cap *= 2;
        uint8_t *b = realloc(w->sse_buf, cap);
        if (!b)
            return 0;
        w->sse_buf = b;
        w->sse_cap = cap;
    }
    return sse_emit_event(w->sse_buf + at, seq, payload, len, flags, event_off);
}

const uint8_t *srv_sse__bytes(const struct srv_conn *c, const uint8_t *buf, size_t len,
                              size_t event_off, size_t *out_len)
{
    if (c->sflags & SRV_SF_CHUNKED) {
        *out_len = len;
        return buf;
    }
    *out_len = len - event_off - 2;
    return buf + event_off;
}

void srv_sse__end(struct srv_conn *c, uint64_t due)
{
    srv_conn__set_closing(c);
    if (c->sflags & SRV_SF_CHUNKED)
        srv_out__send(c, SSE_EMIT_LAST_CHUNK, strlen(SSE_EMIT_LAST_CHUNK), due);
    else
        srv_conn__after_write(c);
}

void srv_sse__bye(struct srv_conn *c)
{
    if (!(c->sflags & SRV_SF_CHUNKED))
        return;
    struct iovec iov = {.iov_base = (void *)SSE_EMIT_LAST_CHUNK,
                        .iov_len = strlen(SSE_EMIT_LAST_CHUNK)};
    (void)stream_try_writev(&c->s, &iov, 1);
}

size_t srv_sse__consume(struct srv_conn *c, uint8_t *p, size_t len, size_t *need)
{
    (void)c;
    (void)p;
    (void)need;
    return len; /* a stream's input is discarded */
}

int srv_sse__check(struct srv_conn *c, const struct http1_request *req)
{
    if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0) {
        srv_http__error(c, 405, "Allow: GET\r\n");
        return -1;
    }
    return srv_http__admit(c);
}

int srv_sse__open(struct srv_conn *c, const struct http1_request *req,
                  const struct srv_session_ops *ops)
{
    const struct server_params *p = &c->w->srv->params;
    int chunked = req->minor_version >= 1;
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Type: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\n"
                     "%s"
                     "\r\n",
                     chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n");
    HERD_ASSERT(n > 0 && (size_t)n < sizeof head);
    if (srv_out__copy(c, head, (size_t)n, 0) < 0)
        return -1;
    if (p->sse_retry_ms) {
        char ev[64];
        int k = snprintf(ev, sizeof ev, "retry: %llu\n\n", (unsigned long long)p->sse_retry_ms);
        HERD_ASSERT(k > 0 && (size_t)k < sizeof ev);
        char chunk[96];
        int m = chunked ? snprintf(chunk, sizeof chunk, "%x\r\n%s\r\n", (unsigned)k, ev)
                        : snprintf(chunk, sizeof chunk, "%s", ev);
        HERD_ASSERT(m > 0 && (size_t)m < sizeof chunk);
        if (srv_out__copy(c, chunk, (size_t)m, 0) < 0)
            return -1;
    }
    if (srv_out__commit(c) < 0)
        return -1;
    c->ops = ops;
    c->sflags = chunked ? SRV_SF_CHUNKED : 0;
    memset(&c->u, 0, sizeof c->u);
    srv_conn__timer_update(c); /* no head deadline any more */
    return 0;
}

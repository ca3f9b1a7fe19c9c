/* sse.c - http://H/sse/<topic>: the topic as a Server-Sent Events stream (WHATWG HTML 9.2).
 *
 * The answer is 200 with Content-Type: text/event-stream and Cache-Control: no-cache. An
 * HTTP/1.1 client gets the stream in chunked transfer coding, one chunk per event (what real
 * servers behind a keep-alive connection send); an HTTP/1.0 client gets it bare, framed by the
 * connection's close. Each message of the topic is one event: "id: <seq>" (the topic's sequence
 * number) and one "data:" line per line of the message (proto/sse_emit.h). A message is encoded
 * once per worker (pubsub.c) and the same bytes go to every stream there.
 *
 * Last-Event-ID: N on the request replays what the topic's history still holds after N, before
 * the live events (pubsub__replay). --sse-retry DUR starts every stream with "retry: <ms>".
 *
 * A stream only flows out: whatever the client sends is read and discarded (so its EOF is
 * seen). It obeys --slow-policy and --queue-limit like a WebSocket subscriber, counts as a
 * connection for --max-connections and can be refused by --reject. */
#include "server/server_internal.h"

#include "base/compiler.h"
#include "proto/http1.h"
#include "proto/sse_emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t sse__encode(struct srv_worker *w, size_t at, uint64_t seq, const uint8_t *payload,
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

const uint8_t *sse__bytes(const struct srv_conn *c, const uint8_t *buf, size_t len,
                          size_t event_off, size_t *out_len)
{
    if (c->flags & SRV_CF_CHUNKED) {
        *out_len = len;
        return buf;
    }
    *out_len = len - event_off - 2;
    return buf + event_off;
}

void sse__end(struct srv_conn *c, uint64_t due)
{
    conn__set_closing(c);
    if (c->flags & SRV_CF_CHUNKED)
        out__send(c, SSE_EMIT_LAST_CHUNK, strlen(SSE_EMIT_LAST_CHUNK), due);
    else
        conn__after_write(c);
}

/* Last-Event-ID as a decimal seq; anything else is no id (the stream starts live). */
static int last_event_id(const struct http1_header *h, uint64_t *id)
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

int sse__open(struct srv_conn *c, const struct http1_request *req, const char *topic, size_t len)
{
    struct srv_worker *w = c->w;
    const struct server_params *p = &w->srv->params;
    if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0) {
        routes__http_error(c, 405, "Allow: GET\r\n");
        return -1;
    }
    if (routes__admit(c) < 0)
        return -1;
    struct srv_chan *ch = pubsub__chan(w->srv, topic, len);
    if (!ch) {
        routes__http_error(c, 503, NULL);
        return -1;
    }
    uint64_t last = UINT64_MAX;
    last_event_id(http1_header_find(req->headers, req->num_headers, "Last-Event-ID"), &last);
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
    if (out__copy(c, head, (size_t)n, 0) < 0)
        return -1;
    if (p->sse_retry_ms) {
        char ev[64];
        int k = snprintf(ev, sizeof ev, "retry: %llu\n\n", (unsigned long long)p->sse_retry_ms);
        HERD_ASSERT(k > 0 && (size_t)k < sizeof ev);
        char chunk[96];
        int m = chunked ? snprintf(chunk, sizeof chunk, "%x\r\n%s\r\n", (unsigned)k, ev)
                        : snprintf(chunk, sizeof chunk, "%s", ev);
        HERD_ASSERT(m > 0 && (size_t)m < sizeof chunk);
        if (out__copy(c, chunk, (size_t)m, 0) < 0)
            return -1;
    }
    if (out__commit(c) < 0)
        return -1;

    c->state = SRV_ST_SSE;
    c->app = SRV_APP_SSE;
    if (chunked)
        c->flags |= SRV_CF_CHUNKED;
    size_t replay = 0;
    c->u.sse_from = pubsub__replay(w, ch, last, chunked ? SSE_EMIT_CHUNKED : 0, &replay);
    pubsub__join(c, ch);
    conn__timer_update(c); /* no head deadline any more */
    if (replay && out__send(c, w->sse_buf, replay, 0) < 0)
        return -1;
    return 0;
}

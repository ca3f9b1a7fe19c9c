/* sse.c - the Server-Sent Events session (WHATWG HTML, "Server-sent events"): the GET, the
 * response head, the body's framing (chunked, Content-Length, or until close), the event stream,
 * and what outlives a reconnect: the last event ID (sent back as Last-Event-ID) and the server's
 * `retry`.
 *
 * The stream is parsed incrementally (proto/sse.h), so nothing is kept back between reads but the
 * last bytes of a data line that a stamp may start in (proto/stamp.h, stamp_split). An event's
 * first stamp is its stamp; a dispatched event is a message received. Lines and events are
 * bounded by --max-message as they arrive: one past it fails the connection (errors.protocol),
 * as a WebSocket message past it does. */
#include "client/session.h"

#include "base/clock.h"
#include "base/compiler.h"
#include "base/err.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HANDSHAKE_HEADERS 32

static int sse_setup(struct worker *w, char *err, size_t errlen)
{
    return request__build(w, err, errlen);
}

static void sse_teardown(struct worker *w)
{
    request__free(w);
}

/* The request of one attempt: the run's, plus Last-Event-ID when an id was seen before. */
static void sse_start(struct conn *c, uint64_t now)
{
    struct worker *w = c->w;
    if (!c->u.sse)
        c->u.sse = xcalloc(1, sizeof *c->u.sse);
    struct sse_state *s = c->u.sse;
    sse_init(&s->p);
    s->ch = (struct http1_chunked){0};
    s->chunked = 0;
    s->body_left = UINT64_MAX;
    s->has_stamp = 0;
    s->split.n = 0;
    s->ev_bytes = s->line_bytes = 0;
    s->id_bad = 0;
    s->id_len = s->buf_len = 0; /* a new stream starts with an empty last event ID buffer */
    size_t n;
    request__render(c, &n);
    if (s->last_len) {
        memcpy(w->wbuf + n, "Last-Event-ID: ", 15);
        n += 15;
        memcpy(w->wbuf + n, s->last, s->last_len);
        n += s->last_len;
        memcpy(w->wbuf + n, "\r\n", 2);
        n += 2;
    }
    memcpy(w->wbuf + n, "\r\n", 2);
    n += 2;
    c->state = CS_HANDSHAKE;
    c->t_phase_ns = now;
    conn__write(c, w->wbuf, n);
}

/* Whether a header value is the media type `type` (case-insensitive), parameters allowed. */
static int media_type_is(const struct http1_header *h, const char *type)
{
    size_t n = strlen(type);
    if (!h || h->value_len < n || strncasecmp(h->value, type, n) != 0)
        return 0;
    return h->value_len == n || h->value[n] == ';' || h->value[n] == ' ' || h->value[n] == '\t';
}

/* The response head: 200 with text/event-stream opens the stream; 204 means "do not reconnect"
 * (WHATWG); any other status is counted by code. Returns bytes consumed, 0 when the head is
 * incomplete, -1 when the connection ended. */
static long handle_head(struct conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
    struct sse_state *s = c->u.sse;
    struct http1_header hdrs[HANDSHAKE_HEADERS];
    struct http1_response r = {.headers = hdrs, .num_headers = HANDSHAKE_HEADERS};
    int n = http1_response_parse((const char *)buf, len, &r);
    if (n == HERD_E_AGAIN)
        return 0;
    if (n < 0) {
        conn__fail_why(c, ERR_HANDSHAKE,
                       n == HERD_E_TOO_BIG ? "response head over 16 KiB"
                                           : "malformed response head");
        return -1;
    }
    if (r.status != 200) {
        if (r.status == 204)
            c->flags |= CF_NO_RETRY;
        conn__fail_status(c, r.status,
                          r.status == 426 || r.status == 101
                              ? "the server wants a WebSocket here: a WebSocket endpoint is "
                                "opened with ws:// or wss://, not http://"
                              : NULL);
        return -1;
    }
    if (!media_type_is(http1_header_find(r.headers, r.num_headers, "content-type"),
                       "text/event-stream")) {
        conn__fail_why(c, ERR_HANDSHAKE, "200 without Content-Type: text/event-stream");
        return -1;
    }
    uint64_t length = 0;
    int framing = http1_body_framing(r.headers, r.num_headers, 0, r.minor_version, &length);
    if (framing < 0) {
        conn__fail_why(c, ERR_HANDSHAKE,
                       "body framing refused (Content-Length with Transfer-Encoding, differing "
                       "lengths, or a coding other than chunked)");
        return -1;
    }
    s->chunked = framing == HTTP1_BODY_CHUNKED;
    if (framing == HTTP1_BODY_LENGTH)
        s->body_left = length;
    conn__opened(c, now);
    return c->state == CS_OPEN ? n : -1;
}

/* A piece of a data line: the event's size against --max-message, and its stamp, found wherever
 * the reads split it (an event's first stamp is its stamp). Nothing of the line is kept but the
 * last bytes a stamp may start in. Returns 0, or -1 when the connection failed. */
static int sse_data(struct conn *c, const struct sse_item *it)
{
    struct sse_state *s = c->u.sse;
    s->ev_bytes += it->len + ((it->flags & (SSE_F_START | SSE_F_LF)) == (SSE_F_START | SSE_F_LF));
    if (s->ev_bytes > c->w->p->max_message) {
        /* As a WebSocket message past the limit (closed with 1009): a protocol error. */
        conn__fail_why(c, ERR_PROTOCOL, "an event larger than --max-message");
        return -1;
    }
    if (s->has_stamp)
        return 0;
    if (it->flags & SSE_F_START)
        s->split.n = 0;
    if (stamp_split_feed(&s->split, it->p, it->len, (it->flags & SSE_F_END) != 0, &s->stamp) == 1)
        s->has_stamp = 1;
    return 0;
}

static void sse_id(struct sse_state *s, const struct sse_item *it)
{
    if (it->flags & SSE_F_START) {
        s->id_len = 0;
        s->id_bad = 0;
    }
    if (it->len > (size_t)(SSE_ID_MAX - 1 - s->id_len))
        s->id_bad = 1;
    else if (it->len) {
        memcpy(s->id + s->id_len, it->p, it->len);
        s->id_len = (uint8_t)(s->id_len + it->len);
    }
    if ((it->flags & SSE_F_END) && !(it->flags & SSE_F_NUL) && !s->id_bad) {
        memcpy(s->buf, s->id, s->id_len);
        s->buf_len = s->id_len;
    }
}

/* A dispatched event: a message received, timed by its stamp. */
static void sse_event(struct conn *c, uint64_t now)
{
    struct sse_state *s = c->u.sse;
    if (s->has_stamp) {
        s->has_stamp = 0;
        if (c->w->role->stamp)
            c->w->role->stamp(c, &s->stamp, now);
    }
    conn__message_in(c, NULL, 0, 0, now);
}

/* Events in de-framed body bytes. Returns 0, or -1 when the connection ended. */
static int sse_events(struct conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
    struct sse_state *s = c->u.sse;
    size_t off = 0;
    while (off < len) {
        struct sse_item it;
        size_t used = 0;
        int kind = sse_next(&s->p, buf + off, len - off, &used, &it);
        off += used;
        if (kind == SSE_NONE)
            break;
        /* Lines, whatever their field, are bounded too (a line that never ends). */
        if (it.flags & SSE_F_START)
            s->line_bytes = 0;
        s->line_bytes += it.len;
        if (s->line_bytes > c->w->p->max_message) {
            conn__fail_why(c, ERR_PROTOCOL, "an event stream line longer than --max-message");
            return -1;
        }
        switch (kind) {
        case SSE_DATA:
            if (sse_data(c, &it) != 0)
                return -1;
            break;
        case SSE_ID: sse_id(s, &it); break;
        case SSE_RETRY: s->retry_ms = it.retry; break;
        case SSE_DISPATCH:
        case SSE_DISCARD:
            /* Either way the last event ID string takes the buffer's value (WHATWG). */
            memcpy(s->last, s->buf, s->buf_len);
            s->last_len = s->buf_len;
            if (kind == SSE_DISPATCH)
                sse_event(c, now);
            s->has_stamp = 0;
            s->ev_bytes = 0;
            break;
        default: break;
        }
        if (c->state == CS_DONE)
            return -1;
    }
    return 0;
}

/* Body bytes of an open event stream: undo the transfer framing, then parse. The end of the
 * body is the server ending the stream. Returns 0, or -1 when the connection ended. */
static int sse_body(struct conn *c, uint8_t *buf, size_t len, uint64_t now)
{
    struct sse_state *s = c->u.sse;
    int ended = 0;
    if (s->chunked) {
        size_t used = 0;
        int rc = http1_chunked_decode(&s->ch, buf, &len, &used);
        if (rc < 0) {
            conn__fail_why(c, ERR_PROTOCOL, "invalid chunked transfer coding");
            return -1;
        }
        ended = rc == 1;
    } else if (s->body_left != UINT64_MAX) {
        if (len >= s->body_left) {
            len = (size_t)s->body_left;
            ended = 1;
        }
        s->body_left -= len;
    }
    if (sse_events(c, buf, len, now) != 0)
        return -1;
    if (ended) {
        conn__fail(c, ERR_EOF);
        return -1;
    }
    return 0;
}

/* An event stream is parsed incrementally: nothing is kept back but an incomplete head. */
static long sse_consume(struct conn *c, uint8_t *buf, size_t len, uint64_t now, size_t *need)
{
    (void)need;
    size_t off = 0;
    if (c->state == CS_HANDSHAKE) {
        long n = handle_head(c, buf, len, now);
        if (n < 0)
            return STREAM_STOP;
        if (n == 0)
            return 0;
        off = (size_t)n;
    }
    if (off < len && c->state == CS_OPEN && sse_body(c, buf + off, len - off, now) != 0)
        return STREAM_STOP;
    return c->state == CS_DONE ? STREAM_STOP : (long)len;
}

/* An event stream has no close handshake: closing the socket is the end. */
static void sse_close(struct conn *c)
{
    c->flags |= CF_STOPPING;
    conn__finish(c);
}

/* The server's `retry` is the reconnection time (WHATWG). */
static uint64_t sse_retry_ns(const struct conn *c)
{
    return c->u.sse ? c->u.sse->retry_ms * NS_PER_MS : 0;
}

static void sse_release(struct conn *c)
{
    free(c->u.sse);
    c->u.sse = NULL;
}

const struct session_ops session_sse = {
    .name = "sse",
    .setup = sse_setup,
    .teardown = sse_teardown,
    .start = sse_start,
    .consume = sse_consume,
    .close = sse_close,
    .retry_ns = sse_retry_ns,
    .release = sse_release,
};

/* http_pub.c - publishing over HTTP (--role publish on an http:// or https:// URL): a session
 * whose messages are requests (POST by default, --method) with the message as body, sent on a
 * keep-alive connection, pipelined as the load model asks (closed: --pipeline requests out;
 * open: --rate), and each response timed from its request's intended send time into the `post`
 * histogram, so that a broker whose publishers POST and whose subscribers read SSE is measured
 * end to end in one scenario.
 *
 * The connection is open once TCP (and TLS) is up: there is no handshake. Responses come in the
 * order of the requests (HTTP/1.1 pipelining), so a FIFO of intended times per connection pairs
 * them. A response other than 2xx is counted by status (errors.http_status) and the connection
 * goes on; a malformed one, or one whose body runs to the close, ends it. */
#include "client/session.h"

#include "base/clock.h"
#include "base/compiler.h"
#include "base/err.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HPUB_FIFO 256 /* requests out at once per connection */
#define HPUB_HEADERS 32

struct hpub_state {
    uint64_t body_left; /* bytes of the current response's body still to skip */
    struct http1_chunked ch;
    uint8_t in_body, chunked;
    uint32_t head, tail; /* FIFO of intended send times (mono): [head, tail) */
    uint64_t t[HPUB_FIFO];
};

static int hpub_setup(struct worker *w, char *err, size_t errlen)
{
    const struct client_params *p = w->p;
    char buf[8192];
    int has_type = 0;
    for (size_t i = 0; i < p->nheaders; i++)
        has_type |= strncasecmp(p->headers[i], "content-type:", 13) == 0;
    int n = snprintf(buf, sizeof buf, "%s %s HTTP/1.1\r\nHost: %s\r\n%s",
                     p->method ? p->method : "POST", p->url.target, p->url.authority,
                     has_type ? "" : "Content-Type: text/plain\r\n");
    for (size_t i = 0; i < p->nheaders && n > 0 && (size_t)n < sizeof buf; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s\r\n", p->headers[i]);
    if (n < 0 || (size_t)n + 64 >= sizeof buf) {
        snprintf(err, errlen, "the request head is longer than %zu bytes (-H)", sizeof buf - 64);
        return -1;
    }
    w->req = xmalloc((size_t)n);
    memcpy(w->req, buf, (size_t)n);
    w->req_len = (size_t)n;
    return 0;
}

static void hpub_teardown(struct worker *w)
{
    request__free(w);
}

/* Connected: nothing to negotiate, the connection is open. */
static void hpub_start(struct conn *c, uint64_t now)
{
    if (!c->u.hp)
        c->u.hp = xcalloc(1, sizeof *c->u.hp);
    c->state = CS_HANDSHAKE;
    c->t_phase_ns = now;
    conn__opened(c, now);
}

static int hpub_send(struct conn *c, const uint8_t *p, size_t len, int binary)
{
    (void)binary;
    struct worker *w = c->w;
    struct hpub_state *h = c->u.hp;
    if (h->tail - h->head == HPUB_FIFO) {
        conn__fail_why(c, ERR_OTHER, "more than 256 requests without a response");
        return -1;
    }
    /* The intended send time is the stamp's (data_one writes it from the load model's time),
     * else now. */
    uint64_t now = loop_now(w->loop), t = now;
    struct stamp s;
    if (stamp_find(p, len, &s) >= 0) {
        int64_t m = (int64_t)s.real_ns - w->real_minus_mono_ns;
        if (m > 0 && (uint64_t)m <= now)
            t = (uint64_t)m;
    }
    h->t[h->tail++ % HPUB_FIFO] = t;
    char cl[48];
    int k = snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", len);
    size_t head = w->req_len + (size_t)k;
    if (head + len <= WORKER_WBUF) {
        memcpy(w->wbuf, w->req, w->req_len);
        memcpy(w->wbuf + w->req_len, cl, (size_t)k);
        memcpy(w->wbuf + head, p, len);
        return conn__write(c, w->wbuf, head + len);
    }
    memcpy(w->wbuf, w->req, w->req_len);
    memcpy(w->wbuf + w->req_len, cl, (size_t)k);
    if (conn__write(c, w->wbuf, head) != 0)
        return -1;
    return conn__write(c, p, len);
}

/* A response head: its time, its status. Returns the bytes used, 0 when incomplete, -1 when the
 * connection ended. */
static long hpub_head(struct conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
    struct hpub_state *h = c->u.hp;
    struct stats *st = c->w->st;
    struct http1_header hdrs[HPUB_HEADERS];
    struct http1_response r = {.headers = hdrs, .num_headers = HPUB_HEADERS};
    int n = http1_response_parse((const char *)buf, len, &r);
    if (n == HERD_E_AGAIN)
        return 0;
    if (n < 0 || h->head == h->tail) {
        conn__fail_why(c, ERR_PROTOCOL,
                       n < 0 ? "malformed response head" : "a response to no request");
        return -1;
    }
    uint64_t t = h->t[h->head++ % HPUB_FIFO];
    if (r.status >= 200 && r.status < 300)
        hist_record(st->hist[M_POST], (int64_t)((now > t ? now - t : 0) / NS_PER_US));
    else
        stats_http_status(st, r.status);
    st->ctr[CTR_MESSAGES_RECEIVED]++;
    if (c->inflight > 0)
        c->inflight--;
    uint64_t length = 0;
    int framing = http1_body_framing(r.headers, r.num_headers, 0, r.minor_version, &length);
    if (framing < 0 || framing == HTTP1_BODY_CLOSE) {
        conn__fail_why(c, ERR_PROTOCOL,
                       "a response without Content-Length or chunked (a body to the close)");
        return -1;
    }
    h->chunked = framing == HTTP1_BODY_CHUNKED;
    h->body_left = h->chunked ? 0 : length;
    h->ch = (struct http1_chunked){0};
    h->in_body = h->chunked || length > 0;
    return n;
}

static long hpub_consume(struct conn *c, uint8_t *buf, size_t len, uint64_t now, size_t *need)
{
    (void)need;
    struct hpub_state *h = c->u.hp;
    size_t off = 0;
    int answered = 0;
    while (off < len && (c->state == CS_OPEN || c->state == CS_CLOSING)) {
        if (!h->in_body) {
            long n = hpub_head(c, buf + off, len - off, now);
            if (n < 0)
                return STREAM_STOP;
            if (n == 0)
                break;
            off += (size_t)n;
            answered = 1;
            continue;
        }
        if (h->chunked) {
            size_t l = len - off, used = 0;
            int rc = http1_chunked_decode(&h->ch, buf + off, &l, &used);
            if (rc < 0) {
                conn__fail_why(c, ERR_PROTOCOL, "invalid chunked transfer coding");
                return STREAM_STOP;
            }
            off += used;
            if (rc == 1)
                h->in_body = 0;
        } else {
            size_t k = len - off < h->body_left ? len - off : (size_t)h->body_left;
            off += k;
            h->body_left -= k;
            if (h->body_left == 0)
                h->in_body = 0;
        }
    }
    if (c->state == CS_DONE || c->state == CS_IDLE)
        return STREAM_STOP;
    if (c->state == CS_CLOSING && h->head == h->tail && !h->in_body) {
        conn__finish(c); /* the last response came */
        return STREAM_STOP;
    }
    /* Closed model: a response makes room for the next request. */
    if (answered && c->state == CS_OPEN && c->w->role->pump && c->w->p->rate <= 0)
        c->w->role->pump(c, now);
    return (long)off;
}

/* HTTP has no close handshake: the end of the run waits (at most the grace period) for the
 * responses of the requests out, which may have published, then closes the socket. */
static void hpub_close(struct conn *c)
{
    struct hpub_state *h = c->u.hp;
    c->flags |= CF_STOPPING;
    if (!h || h->head == h->tail) {
        conn__finish(c);
        return;
    }
    conn__closing(c, 0);
}

static void hpub_reset(struct conn *c)
{
    struct hpub_state *h = c->u.hp;
    if (h)
        memset(h, 0, sizeof *h);
}

static void hpub_release(struct conn *c)
{
    free(c->u.hp);
    c->u.hp = NULL;
}

const struct session_ops session_http_pub = {
    .name = "http-publish",
    .setup = hpub_setup,
    .teardown = hpub_teardown,
    .start = hpub_start,
    .consume = hpub_consume,
    .send = hpub_send,
    .close = hpub_close,
    .reset = hpub_reset,
    .release = hpub_release,
};

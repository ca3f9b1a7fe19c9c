/* routes.c - request heads, route dispatch and POST bodies for `herd serve`.
 *
 *   GET /echo               WebSocket echo (wsconn.c)
 *   GET /pubsub/<topic>     WebSocket broadcast (pubsub.c)
 *   GET /sse/<topic>        event stream (sse.c)
 *   POST /publish/<topic>   publish the body (here): 200 with Content-Length: 0
 *
 * A POST body comes with Content-Length or in chunked transfer coding (decoded in place as it
 * arrives) and is assembled in a pool chunk (c->frag) after room for a frame header; once whole
 * it is published as one message, text when it is valid UTF-8, else binary. The connection is
 * kept alive (HTTP/1.1 unless "Connection: close"; HTTP/1.0 with "Connection: keep-alive"), so a
 * client may post many times, pipelined too. "Expect: 100-continue" is answered at once.
 *
 * Errors are answered with a one-line body and Connection: close; the connection then closes
 * once the answer is out. */
#include "server/server_internal.h"

#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"
#include "proto/utf8.h"

#include <stdio.h>
#include <string.h>

#define ROUTES_MAX_HEADERS 64

static int prefix_topic(const char *path, size_t len, const char *prefix, struct srv_route_match *m)
{
    size_t pl = strlen(prefix);
    if (len <= pl || memcmp(path, prefix, pl) != 0)
        return 0;
    const char *topic = path + pl;
    size_t tl = len - pl;
    if (memchr(topic, '/', tl))
        return 0;
    m->topic = topic;
    m->topic_len = tl;
    return 1;
}

void routes__match(const char *path, size_t len, struct srv_route_match *m)
{
    const char *q = memchr(path, '?', len);
    if (q)
        len = (size_t)(q - path);
    *m = (struct srv_route_match){.route = SRV_ROUTE_NONE};
    if (len == 5 && memcmp(path, "/echo", 5) == 0)
        m->route = SRV_ROUTE_ECHO;
    else if (prefix_topic(path, len, "/pubsub/", m))
        m->route = SRV_ROUTE_PUBSUB;
    else if (prefix_topic(path, len, "/sse/", m))
        m->route = SRV_ROUTE_SSE;
    else if (prefix_topic(path, len, "/publish/", m))
        m->route = SRV_ROUTE_PUBLISH;
}

static const char *status_reason(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

void routes__http_error(struct srv_conn *c, int status, const char *extra_headers)
{
    const char *reason = status_reason(status);
    char buf[512];
    int n =
        snprintf(buf, sizeof buf,
                 "HTTP/1.1 %d %s\r\n"
                 "Content-Type: text/plain\r\n"
                 "Content-Length: %zu\r\n"
                 "Connection: close\r\n"
                 "%s"
                 "\r\n"
                 "%s\n",
                 status, reason, strlen(reason) + 1, extra_headers ? extra_headers : "", reason);
    HERD_ASSERT(n > 0 && (size_t)n < sizeof buf);
    if (out__copy(c, buf, (size_t)n, 0) < 0)
        return;
    conn__set_closing(c);
    out__commit(c);
}

int routes__admit(struct srv_conn *c)
{
    struct srv_worker *w = c->w;
    struct server *s = w->srv;
    if (s->params.reject > 0 && rng_unit(&w->rng) < s->params.reject) {
        routes__http_error(c, 503, NULL);
        return -1;
    }
    uint64_t open = atomic_fetch_add_explicit(&s->open, 1, memory_order_relaxed);
    c->flags |= SRV_CF_COUNTED;
    if (s->params.max_connections && open >= s->params.max_connections) {
        routes__http_error(c, 503, NULL);
        return -1;
    }
    return 0;
}

/* ---- POST /publish/<topic> ---- */

/* The body is whole: publish it, answer, and wait for the next request (or close). */
static void publish_end(struct srv_conn *c)
{
    struct srv_worker *w = c->w;
    struct chunk *t = c->frag;
    c->frag = NULL;
    size_t plen = t->len - WS_MAX_HEAD;
    uint8_t *pl = t->data + WS_MAX_HEAD;
    unsigned op = utf8_valid(pl, plen) ? WS_OP_TEXT : WS_OP_BINARY;
    uint8_t head[WS_MAX_HEAD];
    size_t hl = ws_frame_head_encode(head, 1, 0, op, plen, NULL);
    memcpy(pl - hl, head, hl);
    pubsub__publish(w, c->u.body.chan, NULL, pl - hl, hl, plen);
    pool_put(&w->pool, t);

    int close = (c->flags & SRV_CF_HTTP_CLOSE) != 0;
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    static const char ok_close[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\n\r\n";
    const char *reply = close ? ok_close : ok;
    if (out__copy(c, reply, strlen(reply), 0) < 0)
        return;
    c->flags &= (uint16_t) ~(SRV_CF_BODY_CHUNKED | SRV_CF_HTTP_CLOSE);
    memset(&c->u, 0, sizeof c->u);
    c->state = SRV_ST_HEAD;
    if (close) {
        conn__set_closing(c); /* the batch is committed by the caller */
        return;
    }
    c->deadline_ns = loop_now(w->loop) + SRV_KEEPALIVE_NS;
    conn__timer_update(c);
}

/* A POST /publish head of head_len bytes: set up for its body. Returns the bytes used. */
static size_t publish_begin(struct srv_conn *c, const struct http1_request *req, size_t head_len,
                            size_t len, const struct srv_route_match *m)
{
    struct srv_worker *w = c->w;
    const struct http1_header *hs = req->headers;
    size_t nh = req->num_headers;
    if (req->method_len != 4 || memcmp(req->method, "POST", 4) != 0) {
        routes__http_error(c, 405, "Allow: POST\r\n");
        return len;
    }
    /* RFC 9112 6.3: a body delimited both ways, or by differing lengths, or by a coding other
     * than chunked, is refused and the connection closed (the request smuggling shapes). */
    uint64_t left = 0;
    int framing = http1_body_framing(hs, nh, 1, req->minor_version, &left);
    if (framing < 0) {
        routes__http_error(c, 400, NULL);
        return len;
    }
    int chunked = framing == HTTP1_BODY_CHUNKED;
    if (!chunked && !http1_header_find(hs, nh, "Content-Length")) {
        routes__http_error(c, 411, NULL);
        return len;
    }
    if (left > w->max_frame) {
        routes__http_error(c, 413, NULL);
        return len;
    }
    const struct http1_header *conn = http1_header_find(hs, nh, "Connection");
    int keep = req->minor_version >= 1
                   ? !(conn && http1_token_list_has(conn->value, conn->value_len, "close"))
                   : (conn && http1_token_list_has(conn->value, conn->value_len, "keep-alive"));
    struct srv_chan *ch = pubsub__chan(w->srv, m->topic, m->topic_len);
    size_t cap = WS_MAX_HEAD + (chunked ? 0 : left);
    struct chunk *t = ch ? pool_get(&w->pool, cap) : NULL;
    if (!t) {
        routes__http_error(c, 503, NULL);
        return len;
    }
    t->len = WS_MAX_HEAD;
    c->frag = t;
    const struct http1_header *expect = http1_header_find(hs, nh, "Expect");
    if (expect && req->minor_version >= 1 &&
        http1_token_list_has(expect->value, expect->value_len, "100-continue")) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (out__copy(c, cont, strlen(cont), 0) < 0)
            return len;
    }
    memset(&c->u, 0, sizeof c->u);
    c->u.body.chan = ch;
    c->u.body.left = left;
    if (chunked)
        c->flags |= SRV_CF_BODY_CHUNKED;
    if (!keep)
        c->flags |= SRV_CF_HTTP_CLOSE;
    c->state = SRV_ST_BODY;
    c->deadline_ns = loop_now(w->loop) + SRV_HEAD_TIMEOUT_NS;
    conn__timer_update(c);
    if (!chunked && left == 0)
        publish_end(c);
    return head_len;
}

/* Append n body bytes to c->frag, growing it. Returns 0, or < 0 after answering 413 or when out
 * of memory (closed). */
static int body_append(struct srv_conn *c, const uint8_t *p, size_t n)
{
    struct srv_worker *w = c->w;
    struct chunk *t = c->frag;
    size_t have = t->len - WS_MAX_HEAD;
    if (have + n > w->max_frame) {
        routes__http_error(c, 413, NULL);
        return -1;
    }
    if (t->cap - t->len < n) {
        size_t want = 2 * (size_t)t->cap;
        if (want < (size_t)t->len + n)
            want = (size_t)t->len + n;
        struct chunk *g = pool_get(&w->pool, want);
        if (!g) {
            conn__close(c);
            return -1;
        }
        memcpy(g->data, t->data, t->len);
        g->len = t->len;
        pool_put(&w->pool, t);
        c->frag = t = g;
    }
    memcpy(t->data + t->len, p, n);
    t->len += (uint32_t)n;
    return 0;
}

size_t routes__consume_body(struct srv_conn *c, uint8_t *p, size_t len)
{
    size_t used, n;
    int done;
    if (c->flags & SRV_CF_BODY_CHUNKED) {
        n = len;
        int rc = http1_chunked_decode(&c->u.body.ck, p, &n, &used);
        if (rc < 0) {
            routes__http_error(c, 400, NULL);
            return len;
        }
        done = rc == 1;
    } else {
        n = used = len < c->u.body.left ? len : (size_t)c->u.body.left;
        c->u.body.left -= n;
        done = c->u.body.left == 0;
    }
    if (n && body_append(c, p, n) < 0)
        return len;
    if (done)
        publish_end(c);
    return used;
}

size_t routes__consume_head(struct srv_conn *c, uint8_t *p, size_t len)
{
    struct http1_header headers[ROUTES_MAX_HEADERS];
    struct http1_request req = {.headers = headers, .num_headers = ROUTES_MAX_HEADERS};
    int r = http1_request_parse((const char *)p, len, &req);
    if (r == HERD_E_AGAIN)
        return 0;
    if (r == HERD_E_TOO_BIG) {
        routes__http_error(c, 431, NULL);
        return len;
    }
    if (r < 0) {
        routes__http_error(c, 400, NULL);
        return len;
    }
    struct srv_route_match m;
    routes__match(req.path, req.path_len, &m);
    switch (m.route) {
    case SRV_ROUTE_ECHO:
        if (wsconn__upgrade(c, &req, SRV_APP_ECHO) < 0)
            return len;
        return (size_t)r;
    case SRV_ROUTE_PUBSUB: {
        struct srv_chan *ch = pubsub__chan(c->w->srv, m.topic, m.topic_len);
        if (!ch) {
            routes__http_error(c, 503, NULL);
            return len;
        }
        if (wsconn__upgrade(c, &req, SRV_APP_PUBSUB) < 0)
            return len;
        pubsub__join(c, ch);
        return (size_t)r;
    }
    case SRV_ROUTE_SSE:
        if (sse__open(c, &req, m.topic, m.topic_len) < 0)
            return len;
        return (size_t)r;
    case SRV_ROUTE_PUBLISH: return publish_begin(c, &req, (size_t)r, len, &m);
    case SRV_ROUTE_NONE: break;
    }
    routes__http_error(c, 404, NULL);
    return len;
}

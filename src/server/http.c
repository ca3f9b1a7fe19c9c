/* http.c - the HTTP session of `herd serve`: request heads, POST bodies, error replies.
 *
 * Every connection starts here (after TLS): request heads are parsed where they lie (the read
 * buffer, or the stream's chunk while a head is incomplete) and handed to the app's request hook
 * (the router, routes.c), which upgrades the connection to another session, takes a body, or
 * answers an error. A body comes with Content-Length or in chunked transfer coding (decoded in
 * place as it arrives) and goes up to the app's body hook piece by piece; at its end the session
 * answers 200 with Content-Length: 0. The connection is kept alive (HTTP/1.1 unless "Connection:
 * close"; HTTP/1.0 with "Connection: keep-alive"), so a client may post many times, pipelined
 * too. "Expect: 100-continue" is answered at once.
 *
 * Errors are answered with a one-line body and Connection: close; the connection then closes
 * once the answer is out. */
#include "server/srv_session.h"

#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"

#include <stdio.h>
#include <string.h>

#define SRV_HTTP_MAX_HEADERS 64

void srv_session__close(struct srv_conn *c)
{
    if (c->ops->app->close)
        c->ops->app->close(c);
}

static const char *srv_http_reason(int status)
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

void srv_http__error(struct srv_conn *c, int status, const char *extra_headers)
{
    const char *reason = srv_http_reason(status);
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
    if (srv_out__copy(c, buf, (size_t)n, 0) < 0)
        return;
    srv_conn__set_closing(c);
    srv_out__commit(c);
}

int srv_http__admit(struct srv_conn *c)
{
    struct srv_worker *w = c->w;
    struct server *s = w->srv;
    if (s->params.reject > 0 && rng_unit(&w->rng) < s->params.reject) {
        SRV_COUNT(w, refused, 1);
        srv_http__error(c, 503, NULL);
        return -1;
    }
    uint64_t open = atomic_fetch_add_explicit(&s->open, 1, memory_order_relaxed);
    c->flags |= SRV_CF_COUNTED;
    if (s->params.max_connections && open >= s->params.max_connections) {
        SRV_COUNT(w, refused, 1);
        srv_http__error(c, 503, NULL);
        return -1;
    }
    SRV_COUNT(w, opened, 1);
    return 0;
}

int srv_http__body_framing(struct srv_conn *c, const struct http1_request *req, uint64_t *len,
                           int *chunked)
{
    const struct http1_header *hs = req->headers;
    size_t nh = req->num_headers;
    /* RFC 9112 6.3: a body delimited both ways, or by differing lengths, or by a coding other
     * than chunked, is refused and the connection closed (the request smuggling shapes). */
    *len = 0;
    int framing = http1_body_framing(hs, nh, 1, req->minor_version, len);
    if (framing < 0) {
        srv_http__error(c, 400, NULL);
        return -1;
    }
    *chunked = framing == HTTP1_BODY_CHUNKED;
    if (!*chunked && !http1_header_find(hs, nh, "Content-Length")) {
        srv_http__error(c, 411, NULL);
        return -1;
    }
    return 0;
}

int srv_http__body(struct srv_conn *c, const struct http1_request *req, uint64_t len, int chunked)
{
    const struct http1_header *hs = req->headers;
    size_t nh = req->num_headers;
    const struct http1_header *conn = http1_header_find(hs, nh, "Connection");
    int keep = req->minor_version >= 1
                   ? !(conn && http1_token_list_has(conn->value, conn->value_len, "close"))
                   : (conn && http1_token_list_has(conn->value, conn->value_len, "keep-alive"));
    const struct http1_header *expect = http1_header_find(hs, nh, "Expect");
    if (expect && req->minor_version >= 1 &&
        http1_token_list_has(expect->value, expect->value_len, "100-continue")) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (srv_out__copy(c, cont, strlen(cont), 0) < 0)
            return -1;
    }
    memset(&c->u, 0, sizeof c->u);
    c->u.http.left = len;
    c->sflags |= SRV_SF_BODY;
    if (chunked)
        c->sflags |= SRV_SF_BODY_CHUNKED;
    if (!keep)
        c->sflags |= SRV_SF_HTTP_CLOSE;
    c->deadline_ns = loop_now(c->w->loop) + SRV_HEAD_TIMEOUT_NS;
    srv_conn__timer_update(c);
    return 0;
}

/* The app took the whole body: answer, and wait for the next request (or close). */
static void srv_http_body_done(struct srv_conn *c)
{
    int close = (c->sflags & SRV_SF_HTTP_CLOSE) != 0;
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    static const char ok_close[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\n\r\n";
    const char *reply = close ? ok_close : ok;
    if (srv_out__copy(c, reply, strlen(reply), 0) < 0)
        return;
    c->sflags &= (uint8_t) ~(SRV_SF_BODY | SRV_SF_BODY_CHUNKED | SRV_SF_HTTP_CLOSE);
    memset(&c->u, 0, sizeof c->u);
    if (close) {
        srv_conn__set_closing(c); /* the batch is committed by the conn layer */
        return;
    }
    c->deadline_ns = loop_now(c->w->loop) + SRV_KEEPALIVE_NS;
    srv_conn__timer_update(c);
}

/* Body bytes from p[0..len) (writable: chunked coding is decoded in place). Returns the bytes
 * used; at the end of the body the app has it, the answer is batched and the connection reads
 * heads again (or is closing). */
static size_t srv_http_body(struct srv_conn *c, uint8_t *p, size_t len)
{
    size_t used, n;
    int done;
    if (c->sflags & SRV_SF_BODY_CHUNKED) {
        n = len;
        int rc = http1_chunked_decode(&c->u.http.ck, p, &n, &used);
        if (rc < 0) {
            srv_http__error(c, 400, NULL);
            return len;
        }
        done = rc == 1;
    } else {
        n = used = len < c->u.http.left ? len : (size_t)c->u.http.left;
        c->u.http.left -= n;
        done = c->u.http.left == 0;
    }
    if ((n || done) && c->ops->app->body(c, p, n, done) < 0)
        return len;
    if (done)
        srv_http_body_done(c);
    return used;
}

/* A request head from p[0..len): returns 0 while incomplete, else the bytes used (the head;
 * what follows is its body, the next request, or belongs to the session it switched to).
 * Answers errors itself. */
static size_t srv_http_head(struct srv_conn *c, uint8_t *p, size_t len)
{
    struct http1_header headers[SRV_HTTP_MAX_HEADERS];
    struct http1_request req = {.headers = headers, .num_headers = SRV_HTTP_MAX_HEADERS};
    int r = http1_request_parse((const char *)p, len, &req);
    if (r == HERD_E_AGAIN)
        return 0;
    if (r == HERD_E_TOO_BIG) {
        srv_http__error(c, 431, NULL);
        return len;
    }
    if (r < 0) {
        srv_http__error(c, 400, NULL);
        return len;
    }
    if (c->ops->app->request(c, &req) < 0)
        return len;
    /* A body of Content-Length: 0 is whole already. */
    if ((c->sflags & (SRV_SF_BODY | SRV_SF_BODY_CHUNKED)) == SRV_SF_BODY && c->u.http.left == 0)
        srv_http_body(c, p + r, 0);
    return (size_t)r;
}

size_t srv_http__consume(struct srv_conn *c, uint8_t *p, size_t len, size_t *need)
{
    (void)need; /* a head's length is not known before its end: kept as it grows */
    const struct srv_session_ops *ops = c->ops;
    size_t used = 0;
    while (used < len && !(c->flags & (SRV_CF_CLOSED | SRV_CF_CLOSING))) {
        size_t n = (c->sflags & SRV_SF_BODY) ? srv_http_body(c, p + used, len - used)
                                             : srv_http_head(c, p + used, len - used);
        if (n == 0)
            break; /* an incomplete head: the stream keeps it */
        used += n;
        if (c->ops != ops)
            break; /* upgraded: the rest is the new session's */
    }
    return used;
}

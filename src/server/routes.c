/* routes.c - which path goes to which app in `herd serve`: the app of the HTTP session.
 *
 *   GET /echo               WebSocket echo (echo.c)
 *   GET /pubsub/<topic>     WebSocket broadcast (pubsub.c)
 *   GET /sse/<topic>        event stream (pubsub.c, sse.c)
 *   POST /publish/<topic>   publish the body (here): 200 with Content-Length: 0
 *
 * A POST body (framed and de-chunked by the HTTP session, http.c) is assembled in a pool chunk
 * (c->a.frag) after room for a frame header; once whole it is published as one message, text
 * when it is valid UTF-8, else binary. Anything else is answered 404. */
#include "server/srv_app.h"

#include "base/compiler.h"
#include "proto/http1.h"
#include "proto/utf8.h"

#include <string.h>

enum srv_route {
    SRV_ROUTE_NONE,
    SRV_ROUTE_ECHO, /* /echo */
    SRV_ROUTE_PUBSUB, /* /pubsub/<topic> */
    SRV_ROUTE_SSE, /* /sse/<topic> */
    SRV_ROUTE_PUBLISH, /* /publish/<topic> */
};

struct srv_route_match {
    enum srv_route route;
    const char *topic; /* into the path, for routes with a topic */
    size_t topic_len;
};

static int srv_routes_prefix(const char *path, size_t len, const char *prefix,
                             struct srv_route_match *m)
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

/* Match a request target (the query string is ignored). */
static void srv_routes_match(const char *path, size_t len, struct srv_route_match *m)
{
    const char *q = memchr(path, '?', len);
    if (q)
        len = (size_t)(q - path);
    *m = (struct srv_route_match){.route = SRV_ROUTE_NONE};
    if (len == 5 && memcmp(path, "/echo", 5) == 0)
        m->route = SRV_ROUTE_ECHO;
    else if (srv_routes_prefix(path, len, "/pubsub/", m))
        m->route = SRV_ROUTE_PUBSUB;
    else if (srv_routes_prefix(path, len, "/sse/", m))
        m->route = SRV_ROUTE_SSE;
    else if (srv_routes_prefix(path, len, "/publish/", m))
        m->route = SRV_ROUTE_PUBLISH;
}

/* ---- POST /publish/<topic> ---- */

/* A POST /publish head: set up for its body, or answer. Returns 0, or < 0 when answered. */
static int srv_routes_publish(struct srv_conn *c, const struct http1_request *req,
                              const struct srv_route_match *m)
{
    struct srv_worker *w = c->w;
    if (req->method_len != 4 || memcmp(req->method, "POST", 4) != 0) {
        srv_http__error(c, 405, "Allow: POST\r\n");
        return -1;
    }
    uint64_t left;
    int chunked;
    if (srv_http__body_framing(c, req, &left, &chunked) < 0)
        return -1;
    if (left > w->max_frame) {
        srv_http__error(c, 413, NULL);
        return -1;
    }
    struct srv_chan *ch = srv_pubsub__chan(w->srv, m->topic, m->topic_len);
    size_t cap = WS_MAX_HEAD + (chunked ? 0 : left);
    struct chunk *t = ch ? pool_get(&w->pool, cap) : NULL;
    if (!t) {
        srv_http__error(c, 503, NULL);
        return -1;
    }
    t->len = WS_MAX_HEAD;
    c->a.frag = t;
    c->chan = ch;
    return srv_http__body(c, req, left, chunked);
}

/* Body bytes: appended to c->a.frag, growing it; the whole body is published, as a message of
 * its own (a frame built once for every subscriber). */
static int srv_routes_body(struct srv_conn *c, const uint8_t *p, size_t n, int done)
{
    struct srv_worker *w = c->w;
    struct chunk *t = c->a.frag;
    size_t have = t->len - WS_MAX_HEAD;
    if (have + n > w->max_frame) {
        srv_http__error(c, 413, NULL);
        return -1;
    }
    if (t->cap - t->len < n) {
        size_t want = 2 * (size_t)t->cap;
        if (want < (size_t)t->len + n)
            want = (size_t)t->len + n;
        struct chunk *g = pool_get(&w->pool, want);
        if (!g) {
            srv_conn__close(c);
            return -1;
        }
        memcpy(g->data, t->data, t->len);
        g->len = t->len;
        pool_put(&w->pool, t);
        c->a.frag = t = g;
    }
    if (n) {
        memcpy(t->data + t->len, p, n);
        t->len += (uint32_t)n;
    }
    if (!done)
        return 0;
    c->a.frag = NULL;
    size_t plen = t->len - WS_MAX_HEAD;
    uint8_t *pl = t->data + WS_MAX_HEAD;
    unsigned op = utf8_valid(pl, plen) ? WS_OP_TEXT : WS_OP_BINARY;
    uint8_t head[WS_MAX_HEAD];
    size_t hl = srv_ws__head(head, NULL, 1, op, plen);
    memcpy(pl - hl, head, hl);
    SRV_COUNT(w, received, 1);
    srv_pubsub__publish(w, c->chan, NULL, pl - hl, hl, plen);
    pool_put(&w->pool, t);
    c->chan = NULL;
    return 0;
}

/* ---- the router ---- */

static int srv_routes_request(struct srv_conn *c, const struct http1_request *req)
{
    struct srv_route_match m;
    srv_routes_match(req->path, req->path_len, &m);
    switch (m.route) {
    case SRV_ROUTE_ECHO: return srv_ws__upgrade(c, req, &srv_echo__ws);
    case SRV_ROUTE_PUBSUB: return srv_pubsub__ws(c, req, m.topic, m.topic_len);
    case SRV_ROUTE_SSE: return srv_pubsub__sse(c, req, m.topic, m.topic_len);
    case SRV_ROUTE_PUBLISH: return srv_routes_publish(c, req, &m);
    case SRV_ROUTE_NONE: break;
    }
    srv_http__error(c, 404, NULL);
    return -1;
}

/* A POST body being assembled goes back to the pool. */
static void srv_routes_close(struct srv_conn *c)
{
    pool_put(&c->w->pool, c->a.frag);
    c->a.frag = NULL;
    c->chan = NULL;
}

static const struct srv_app_hooks srv_routes_hooks = {
    .request = srv_routes_request,
    .body = srv_routes_body,
    .close = srv_routes_close,
};

const struct srv_session_ops srv_routes__http = SRV_HTTP_SESSION(&srv_routes_hooks);

/* routes.c - request heads and route dispatch for `herd serve`.
 *
 *   GET /echo               WebSocket echo (wsconn.c)
 *   GET /pubsub/<topic>     WebSocket broadcast (pubsub.c)
 *   GET /sse/<topic>        event stream               (not yet: 404)
 *   POST /publish/<topic>   publish the body           (not yet: 404)
 *
 * Every answer other than a 101 is an HTTP error with a one-line body and Connection: close; the
 * connection then closes once the answer is out. */
#include "server/server_internal.h"

#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"

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
    case SRV_ROUTE_PUBSUB:
        if (wsconn__upgrade(c, &req, SRV_APP_PUBSUB) < 0)
            return len;
        if (pubsub__join(c, m.topic, m.topic_len) < 0) {
            conn__close(c);
            return len;
        }
        return (size_t)r;
    case SRV_ROUTE_SSE:
    case SRV_ROUTE_PUBLISH:
    case SRV_ROUTE_NONE: break;
    }
    routes__http_error(c, 404, NULL);
    return len;
}

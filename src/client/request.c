/* request.c - the request of a run's connections, built once per worker: the WebSocket upgrade
 * (only the key differs per connection, written at req_key_off) or the SSE GET (a Last-Event-ID
 * header may go in before the final CRLF, at req_key_off). */
#include "client/session.h"

#include "base/compiler.h"
#include "base/log.h"
#include "flow/flow.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define REQUEST_MAX 8192

/* Append to a request being built; past the buffer's end it only counts, so one check at the
 * end finds an overflow. */
static void PRINTF_LIKE(4, 5) req_add(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(*n < cap ? buf + *n : NULL, *n < cap ? cap - *n : 0, fmt, ap);
    va_end(ap);
    if (k > 0)
        *n += (size_t)k;
}

int request__build(struct worker *w, char *err, size_t errlen)
{
    const struct client_params *p = w->p;
    char buf[REQUEST_MAX];
    size_t n = 0, key_off = 0;
    req_add(buf, sizeof buf, &n, "GET %s HTTP/1.1\r\nHost: %s\r\n", p->url.target,
            p->url.authority);
    if (p->url.sse) {
        req_add(buf, sizeof buf, &n, "Accept: text/event-stream\r\nCache-Control: no-cache\r\n");
    } else {
        req_add(buf, sizeof buf, &n,
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: ");
        key_off = n;
        req_add(buf, sizeof buf, &n, "%*s\r\nSec-WebSocket-Version: 13\r\n", WS_KEY_LEN, "");
        if (p->subprotocol)
            req_add(buf, sizeof buf, &n, "Sec-WebSocket-Protocol: %s\r\n", p->subprotocol);
    }
    if (p->compress && !p->url.sse) {
        char offer[256];
        if (pmd_offer_format(&w->run->pmd_offer, offer, sizeof offer) == 0) {
            snprintf(err, errlen, "--compress: the offer is too long");
            return -1;
        }
        req_add(buf, sizeof buf, &n, "Sec-WebSocket-Extensions: %s\r\n", offer);
    }
    if (p->origin)
        req_add(buf, sizeof buf, &n, "Origin: %s\r\n", p->origin);
    for (size_t i = 0; i < p->nheaders; i++)
        req_add(buf, sizeof buf, &n, "%s\r\n", p->headers[i]);
    req_add(buf, sizeof buf, &n, "\r\n");
    if (n >= sizeof buf) {
        snprintf(err, errlen, "the request is longer than %zu bytes (-H, --origin)", sizeof buf);
        return -1;
    }
    if (p->url.sse)
        key_off = n - 2;
    w->req = xmalloc(n);
    memcpy(w->req, buf, n);
    w->req_len = n;
    w->req_key_off = key_off;
    /* --data in the URL's query or a header: a template rendered per connection (cli checked
     * its columns, and that it fits WORKER_WBUF) */
    if (p->data && memmem(buf, n, "{{data.", 7)) {
        w->req_tmpl = xcalloc(1, sizeof *w->req_tmpl);
        if (flow_tmpl_compile_request(w->req_tmpl, buf, n, p->data, err, errlen) != 0 ||
            w->req_tmpl->max_len + 128 > WORKER_WBUF) {
            if (!err[0])
                snprintf(err, errlen, "--data: the request grows past %u bytes", WORKER_WBUF);
            return -1;
        }
    }
    return 0;
}

void request__free(struct worker *w)
{
    free(w->req);
    w->req = NULL;
    if (w->req_tmpl) {
        flow_tmpl_free(w->req_tmpl);
        free(w->req_tmpl);
        w->req_tmpl = NULL;
    }
}

size_t request__render(struct conn *c, size_t *key_off)
{
    struct worker *w = c->w;
    if (LIKELY(!w->req_tmpl)) {
        memcpy(w->wbuf, w->req, w->req_len);
        *key_off = w->req_key_off;
        return w->req_len;
    }
    const struct csv_table *d = w->p->data;
    struct flow_env e = {.conn = c->index, .data = d, .row = csv_row_of(d, c->index)};
    size_t n = flow_render(w->req_tmpl, &e, (char *)w->wbuf);
    if (w->p->url.sse) {
        *key_off = n - 2;
    } else {
        static const char k[] = "\r\nSec-WebSocket-Key: ";
        const uint8_t *at = memmem(w->wbuf, n, k, sizeof k - 1);
        *key_off = at ? (size_t)(at - w->wbuf) + sizeof k - 1 : 0;
    }
    return n;
}

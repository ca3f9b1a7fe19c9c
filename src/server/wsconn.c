/* wsconn.c - the WebSocket session of `herd serve`: the opening handshake (RFC 6455 4.2), frames,
 * PING/PONG and the close handshake; data frames go up to the app (echo.c, pubsub.c).
 *
 * Frames are decoded where they lie (the read buffer, or the stream's chunk for a frame that
 * came in pieces), unmasked in place, and a reply is re-framed in place: a client's header is 4
 * bytes longer than ours for the same length (the mask key; both use the minimal length form,
 * 5.2), so our header fits right before the payload and the reply is one contiguous iovec,
 * written without a copy. Control frames between fragments are answered in order.
 *
 * Every header the server sends is made by srv_ws__head, through proto's one frame builder, with
 * the RSV bits of the session.
 *
 * permessage-deflate (RFC 7692, --compress): herd serve accepts the first offer it can take and
 * always answers without server context takeover, so that what it sends is compressed one
 * message at a time with a stream shared by the worker (one per window size), and a broadcast
 * is compressed once for every subscriber that agreed (srv_ws__compress_run). On such a
 * connection every data message goes out compressed (RSV1), and every message that comes in is
 * gathered whole (inflated when compressed, never past --max-message's server counterpart, 64
 * MiB) before the app sees it as one frame, so that the echo compresses whole messages and
 * pubsub publishes them. A client that keeps its context gets an inflater of its own, made at
 * its first compressed message (about 44 KiB with a 32 KiB window); one that does not shares
 * the worker's. */
#include "server/srv_session.h"

#include "base/compiler.h"
#include "base/err.h"
#include "base/log.h"
#include "proto/http1.h"
#include "proto/pmd.h"
#include "proto/utf8.h"

#include <stdlib.h>
#include <string.h>

#define SRV_ZSCRATCH (16u << 10) /* inflated bytes per step */

/* One connection's permessage-deflate state. */
struct srv_pmd {
    struct pmd_params agreed;
    uint8_t rx_on; /* the message being received is compressed */
    uint8_t op; /* its opcode (text or binary) */
    uint32_t utf8; /* the UTF-8 state of a compressed text message */
    uint64_t total; /* its inflated bytes so far */
    struct chunk *msg; /* the message being gathered: WS_MAX_HEAD bytes of room, then it */
    z_stream *rx; /* the client's context takeover: an inflater of its own, NULL until used */
};

/* The worker's share: deflaters by window size (each message starts afresh), the inflater of
 * clients without context takeover, scratches. */
struct srv_wsz {
    z_stream *tx[16];
    z_stream *rx_fresh;
    uint8_t *zbuf; /* a compressed reply */
    size_t zcap;
    uint8_t *run[16]; /* compressed broadcasts, by window size (srv_ws__compress_run) */
    size_t run_cap[16];
    uint8_t scratch[SRV_ZSCRATCH];
};

static struct srv_wsz *wsz_of(struct srv_worker *w)
{
    if (!w->wsz)
        w->wsz = xcalloc(1, sizeof *w->wsz);
    return w->wsz;
}

static void zfree(z_stream **z, int deflater)
{
    if (!*z)
        return;
    if (deflater)
        pmd_deflate_end(*z);
    else
        pmd_inflate_end(*z);
    free(*z);
    *z = NULL;
}

void srv_ws__worker_free(struct srv_worker *w)
{
    struct srv_wsz *z = w->wsz;
    if (!z)
        return;
    for (int b = 0; b < 16; b++) {
        zfree(&z->tx[b], 1);
        free(z->run[b]);
    }
    zfree(&z->rx_fresh, 0);
    free(z->zbuf);
    free(z);
    w->wsz = NULL;
}

/* The window our compression keeps to for c: what c asked of the server, else the largest. */
static int tx_bits(const struct srv_pmd *d)
{
    return d->agreed.server_max_window_bits ? d->agreed.server_max_window_bits : 15;
}

/* The worker's deflater for a window, made at first use; NULL when out of memory. */
static z_stream *tx_stream(struct srv_worker *w, int bits)
{
    struct srv_wsz *z = wsz_of(w);
    if (!z->tx[bits]) {
        z_stream *s = malloc(sizeof *s);
        if (!s || pmd_deflate_init(s, bits, pmd_mem_level(bits)) != 0) {
            free(s);
            return NULL;
        }
        z->tx[bits] = s;
    }
    return z->tx[bits];
}

/* Make *buf hold `need` bytes. */
static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    uint8_t *b = realloc(*buf, n);
    if (!b)
        return -1;
    *buf = b;
    *cap = n;
    return 0;
}

/* Compress p[0..len) as one message with opcode op into buf at `at` (grown as needed): the frame
 * (RSV1 header, then the compressed payload) starts at buf + at. Returns its length, or < 0. */
static long deflate_frame(struct srv_worker *w, int bits, unsigned op, const uint8_t *p, size_t len,
                          uint8_t **buf, size_t *cap, size_t at)
{
    z_stream *z = tx_stream(w, bits);
    size_t bound = pmd_deflate_bound(len);
    if (!z || grow(buf, cap, at + WS_MAX_HEAD + bound) != 0)
        return HERD_E_NOMEM;
    long n = pmd_deflate(z, p, len, *buf + at + WS_MAX_HEAD, bound, 1);
    if (n < 0)
        return n;
    uint8_t head[WS_MAX_HEAD];
    size_t hl = ws_frame_head_encode(head, 1, 4, op, (uint64_t)n, NULL);
    memmove(*buf + at + hl, *buf + at + WS_MAX_HEAD, (size_t)n);
    memcpy(*buf + at, head, hl);
    return (long)(hl + (size_t)n);
}

int srv_ws__tx_bits(const struct srv_conn *c)
{
    return tx_bits(c->u.ws.pmd);
}

int srv_ws__compress_run(struct srv_worker *w, int bits, size_t n, const uint8_t *const *p,
                         const size_t *len, const uint8_t *op, const uint8_t **frames, size_t *off)
{
    struct srv_wsz *z = wsz_of(w);
    size_t at = 0;
    for (size_t k = 0; k < n; k++) {
        off[k] = at;
        long fl = deflate_frame(w, bits, op[k], p[k], len[k], &z->run[bits], &z->run_cap[bits], at);
        if (fl < 0)
            return (int)fl;
        at += (size_t)fl;
    }
    off[n] = at;
    *frames = z->run[bits];
    return 0;
}

int srv_ws__upgrade(struct srv_conn *c, const struct http1_request *req,
                    const struct srv_session_ops *ops)
{
    struct ws_upgrade u;
    if (ws_upgrade_check(req, &u, NULL) != 0) {
        srv_http__error(c, u.status, u.headers);
        return -1;
    }
    /* Faults and limits, after the request proved valid. */
    if (srv_http__admit(c) < 0)
        return -1;
    /* --compress: the first offer herd can take, answered without server context takeover. */
    struct pmd_params agreed;
    char ext[160];
    int deflate = c->w->srv->params.compress &&
                  pmd_offer_select(req->headers, req->num_headers, 1, &agreed) == 1 &&
                  pmd_response_format(&agreed, ext, sizeof ext) > 0;
    char buf[512];
    size_t n = ws_upgrade_reply(buf, sizeof buf, &u, deflate ? ext : NULL);
    HERD_ASSERT(n > 0);

    c->ops = ops;
    c->sflags = 0;
    memset(&c->u, 0, sizeof c->u);
    if (deflate) {
        struct srv_pmd *d = calloc(1, sizeof *d);
        if (!d) {
            srv_conn__close(c);
            return -1;
        }
        d->agreed = agreed;
        c->u.ws.pmd = d;
        c->u.ws.rsv = 4; /* RFC 7692 6: RSV1 on every message it sends */
    }
    /* The handshake answer is not a reply to hold: --delay applies to messages. */
    if (srv_out__copy(c, buf, n, 0) < 0 || srv_out__commit(c) < 0)
        return -1;
    srv_conn__timer_update(c); /* no head deadline any more */
    return 0;
}

size_t srv_ws__head(uint8_t out[WS_MAX_HEAD], const struct srv_conn *c, int fin, unsigned op,
                    uint64_t len)
{
    /* RFC 7692 6: RSV1 marks a compressed message on its first frame only; control frames and
     * continuations carry none. */
    unsigned rsv = c && (op == WS_OP_TEXT || op == WS_OP_BINARY) ? c->u.ws.rsv : 0;
    return ws_frame_head_encode(out, fin, rsv, op, len, NULL);
}

int srv_ws__reply(struct srv_conn *c, const struct ws_frame *f, unsigned op, uint8_t *pl,
                  uint64_t due)
{
    if (c->u.ws.pmd && !(op & 8)) {
        /* A data message (whole: a deflate connection's messages reach the app whole) goes out
         * compressed, after what the batch holds. */
        struct srv_wsz *z = wsz_of(c->w);
        long fl = deflate_frame(c->w, tx_bits(c->u.ws.pmd), op, pl, (size_t)f->payload_len,
                                &z->zbuf, &z->zcap, 0);
        if (fl < 0) {
            srv_conn__close(c);
            return -1;
        }
        if (c->w->batch.conn == c && srv_out__commit(c) < 0)
            return -1;
        return srv_out__send(c, z->zbuf, (size_t)fl, due);
    }
    uint8_t head[WS_MAX_HEAD];
    size_t hl = srv_ws__head(head, c, f->fin, op, f->payload_len);
    HERD_ASSERT(hl <= f->head_len);
    memcpy(pl - hl, head, hl);
    return srv_out__ref(c, pl - hl, hl + (size_t)f->payload_len, due);
}

void srv_ws__send_close(struct srv_conn *c, unsigned code, uint64_t due)
{
    uint8_t fr[WS_MAX_HEAD + 2];
    size_t n = ws_close_encode(fr, code, NULL);
    if (srv_out__copy(c, fr, n, due) < 0)
        return;
    srv_conn__set_closing(c);
    srv_out__commit(c);
}

void srv_ws__end(struct srv_conn *c, unsigned code, uint64_t due)
{
    uint8_t fr[WS_MAX_HEAD + 2];
    size_t n = ws_close_encode(fr, code, NULL);
    srv_conn__set_closing(c);
    srv_out__send(c, fr, n, due);
}

void srv_ws__bye(struct srv_conn *c)
{
    uint8_t fr[WS_MAX_HEAD + 2];
    struct iovec iov = {.iov_base = fr, .iov_len = ws_close_encode(fr, WS_CLOSE_GOING_AWAY, NULL)};
    (void)stream_try_writev(&c->s, &iov, 1);
}

void srv_ws__close(struct srv_conn *c)
{
    struct srv_pmd *d = c->u.ws.pmd;
    if (d) {
        pool_put(&c->w->pool, d->msg);
        zfree(&d->rx, 0);
        free(d);
        c->u.ws.pmd = NULL;
    }
    srv_session__close(c);
}

/* Append p[0..len) to the message being gathered. Returns 0, HERD_E_TOO_BIG, HERD_E_NOMEM. */
static int gather(struct srv_conn *c, const uint8_t *p, size_t len)
{
    struct srv_pmd *d = c->u.ws.pmd;
    struct chunk *k = d->msg;
    size_t have = k ? k->len - WS_MAX_HEAD : 0;
    if (have + len > c->w->max_frame)
        return HERD_E_TOO_BIG;
    if (!k || k->cap - k->len < len) {
        size_t want = WS_MAX_HEAD + (have + len) * 2;
        struct chunk *g = pool_get(&c->w->pool, want < 256 ? 256 : want);
        if (!g)
            return HERD_E_NOMEM;
        g->len = WS_MAX_HEAD;
        if (k) {
            memcpy(g->data + WS_MAX_HEAD, k->data + WS_MAX_HEAD, have);
            g->len += (uint32_t)have;
        }
        pool_put(&c->w->pool, k);
        d->msg = k = g;
    }
    if (len)
        memcpy(k->data + k->len, p, len);
    k->len += (uint32_t)len;
    return 0;
}

static int inflated(void *ctx, const uint8_t *p, size_t len)
{
    struct srv_conn *c = ctx;
    struct srv_pmd *d = c->u.ws.pmd;
    if (d->op == WS_OP_TEXT) {
        d->utf8 = utf8_feed(d->utf8, p, len);
        if (d->utf8 == UTF8_REJECT)
            return HERD_E_UTF8;
    }
    return gather(c, p, len);
}

/* A data frame on a deflate connection: gathered (inflated when the message is compressed);
 * the whole message goes to the app as one frame. Returns 0, or < 0 when c is closing or
 * closed. */
static int deflate_message(struct srv_conn *c, const struct ws_frame *f, uint8_t *pl, int complete,
                           uint64_t due)
{
    struct srv_pmd *d = c->u.ws.pmd;
    struct srv_worker *w = c->w;
    if (f->opcode != WS_OP_CONT) {
        d->op = f->opcode;
        d->total = 0;
        d->utf8 = UTF8_ACCEPT;
        if (d->msg)
            d->msg->len = WS_MAX_HEAD;
    }
    int rc;
    if (d->rx_on) {
        struct srv_wsz *z = wsz_of(w);
        z_stream **slot = d->agreed.client_no_context_takeover ? &z->rx_fresh : &d->rx;
        if (!*slot) {
            z_stream *s = malloc(sizeof *s);
            if (!s || pmd_inflate_init(s, 15) != 0) {
                free(s);
                srv_conn__close(c);
                return -1;
            }
            *slot = s;
        } else if (f->opcode != WS_OP_CONT && d->agreed.client_no_context_takeover) {
            inflateReset(*slot);
        }
        rc = pmd_inflate(*slot, pl, (size_t)f->payload_len, f->fin, z->scratch, SRV_ZSCRATCH,
                         w->max_frame, &d->total, inflated, c);
        if (rc == 0 && complete && d->op == WS_OP_TEXT && d->utf8 != UTF8_ACCEPT)
            rc = HERD_E_UTF8;
    } else {
        rc = gather(c, pl, (size_t)f->payload_len);
    }
    if (rc == HERD_E_NOMEM) {
        srv_conn__close(c);
        return -1;
    }
    if (rc < 0) {
        srv_ws__send_close(c,
                           rc == HERD_E_TOO_BIG ? WS_CLOSE_TOO_BIG
                           : rc == HERD_E_UTF8  ? WS_CLOSE_INVALID_DATA
                                                : WS_CLOSE_PROTOCOL,
                           due);
        return -1;
    }
    if (!complete)
        return 0;
    if (!d->msg && gather(c, NULL, 0) != 0) { /* an empty message: room for its header */
        srv_conn__close(c);
        return -1;
    }
    struct chunk *k = d->msg;
    struct ws_frame whole = {
        .fin = 1, .opcode = d->op, .head_len = WS_MAX_HEAD, .payload_len = k->len - WS_MAX_HEAD};
    rc = c->ops->app->message(c, &whole, k->data + WS_MAX_HEAD, 1, due);
    /* The app may have batched references into the message: write them before it goes. */
    if (rc == 0 && c->w->batch.conn == c && srv_out__commit(c) < 0)
        rc = -1;
    if (c->u.ws.pmd) {
        pool_put(&w->pool, d->msg);
        d->msg = NULL;
    }
    return rc;
}

size_t srv_ws__consume(struct srv_conn *c, uint8_t *p, size_t len, size_t *need)
{
    uint64_t due = srv_out__due(c->w);
    size_t off = 0;
    struct srv_pmd *d = c->u.ws.pmd;
    unsigned flags = WS_F_EXPECT_MASKED | (d ? WS_F_ALLOW_RSV1 : 0);
    while (off < len) {
        struct ws_frame f;
        f.head_len = 0; /* set only once the header is in */
        int r = ws_frame_decode(p + off, len - off, flags, c->w->max_frame, &f);
        if (r == HERD_E_AGAIN) {
            /* The stream keeps it, in a chunk for the whole frame once its header is in. */
            if (f.head_len && len - off >= f.head_len)
                *need = (size_t)f.head_len + (size_t)f.payload_len;
            break;
        }
        if (r < 0) {
            srv_ws__send_close(c, r == HERD_E_TOO_BIG ? WS_CLOSE_TOO_BIG : WS_CLOSE_PROTOCOL, due);
            return len;
        }
        uint8_t *pl = p + off + f.head_len;
        size_t plen = (size_t)f.payload_len;
        if (plen)
            ws_mask(pl, pl, plen, f.mask, 0);
        /* RSV1 on a message's first frame: compressed; its text is checked once inflated. */
        if (d && (f.opcode == WS_OP_TEXT || f.opcode == WS_OP_BINARY))
            d->rx_on = (f.rsv & 4) != 0;
        int m = ws_msg_feed(&c->u.ws.msg, &f, pl, !(d && d->rx_on && !(f.opcode & 8)));
        if (m < 0) {
            srv_ws__send_close(c, m == HERD_E_UTF8 ? WS_CLOSE_INVALID_DATA : WS_CLOSE_PROTOCOL,
                               due);
            return len;
        }
        int rc = 0;
        switch (f.opcode) {
        case WS_OP_CONT:
        case WS_OP_TEXT:
        case WS_OP_BINARY:
            SRV_COUNT(c->w, received, m == 1);
            rc = d ? deflate_message(c, &f, pl, m == 1, due)
                   : c->ops->app->message(c, &f, pl, m == 1, due);
            break;
        case WS_OP_PING: rc = srv_ws__reply(c, &f, WS_OP_PONG, pl, due); break;
        case WS_OP_PONG: break;
        case WS_OP_CLOSE: {
            unsigned code = WS_CLOSE_NORMAL;
            if (plen >= 2)
                code = (unsigned)pl[0] << 8 | pl[1];
            srv_ws__send_close(c, code, due);
            return len;
        }
        default: break;
        }
        if (rc < 0)
            return len;
        off += (size_t)r;
    }
    return off;
}

/* ws.c - the WebSocket session (RFC 6455, client side): the upgrade request and its reply,
 * frames both ways, PING/PONG, the close handshake, and permessage-deflate (RFC 7692).
 *
 * Frames are decoded where they lie in the read buffer (the stream keeps only an incomplete
 * frame); a server's frames are unmasked, so a payload is used in place. Frames out are built by
 * proto's one builder in the worker's scratch, masked with a fresh key from the worker's random
 * buffer (RFC 6455 5.3), and written at once. Stamps found in data frames go up to the role, the
 * first per message; whole messages go up through conn__message_in.
 *
 * permessage-deflate (--compress): data messages go out compressed with RSV1 set on their one
 * frame; compressed messages coming in (RSV1 on a first frame) are inflated frame by frame
 * through a per-worker scratch, the pieces validated as UTF-8 (text), searched for the stamp and
 * counted against --max-message, and never held whole. zlib's state is what costs memory (up to
 * 256 KiB to deflate with a 32 KiB window): a direction without context takeover shares one
 * stream per worker, reset for each message; one with takeover gets its own stream per
 * connection at its first message, sized from the negotiated window. Control frames are never
 * compressed. */
#include "client/session.h"

#include "base/clock.h"
#include "base/compiler.h"
#include "base/err.h"
#include "base/log.h"
#include "proto/http1.h"
#include "proto/utf8.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HANDSHAKE_HEADERS 32
#define ZSCRATCH (16u << 10) /* inflated bytes per step */

/* The worker's share of permessage-deflate: the streams of directions without context takeover
 * (one deflater per window size, one inflater), made at first use, and the scratches. */
struct ws_worker {
    z_stream *tx_fresh[16]; /* by window bits */
    z_stream *rx_fresh;
    uint8_t *zbuf; /* a compressed message */
    size_t zcap;
    struct stamp_split split; /* the stamp search of a compressed message in one frame */
    uint8_t scratch[ZSCRATCH]; /* inflated pieces */
};

static int ws_setup(struct worker *w, char *err, size_t errlen)
{
    if (w->p->compress) {
        struct ws_worker *ww = xcalloc(1, sizeof *ww);
        ww->zcap = pmd_deflate_bound(WORKER_WBUF);
        ww->zbuf = xmalloc(ww->zcap);
        w->sess_data = ww;
    }
    return request__build(w, err, errlen);
}

static void zstream_free(z_stream **z, int deflater)
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

static void ws_teardown(struct worker *w)
{
    request__free(w);
    struct ws_worker *ww = w->sess_data;
    if (ww) {
        for (int b = 0; b < 16; b++)
            zstream_free(&ww->tx_fresh[b], 1);
        zstream_free(&ww->rx_fresh, 0);
        free(ww->zbuf);
        free(ww);
        w->sess_data = NULL;
    }
}

/* The stream to compress this connection's next message with, or NULL when out of memory. */
static z_stream *tx_stream(struct conn *c, int *fresh)
{
    struct ws_pmd *d = c->u.ws.h.open.pmd;
    struct ws_worker *ww = c->w->sess_data;
    int bits = d->agreed.client_max_window_bits ? d->agreed.client_max_window_bits : 15;
    z_stream **slot = d->agreed.client_no_context_takeover ? &ww->tx_fresh[bits] : &d->tx;
    *fresh = d->agreed.client_no_context_takeover;
    if (!*slot) {
        z_stream *z = xmalloc(sizeof *z);
        if (pmd_deflate_init(z, bits, pmd_mem_level(bits)) != 0) {
            free(z);
            return NULL;
        }
        *slot = z;
    }
    return *slot;
}

static z_stream *rx_stream(struct conn *c)
{
    struct ws_pmd *d = c->u.ws.h.open.pmd;
    struct ws_worker *ww = c->w->sess_data;
    int shared = d->agreed.server_no_context_takeover;
    z_stream **slot = shared ? &ww->rx_fresh : &d->rx;
    if (!*slot) {
        z_stream *z = xmalloc(sizeof *z);
        /* A shared inflater takes any window; one of our own, the negotiated one. */
        int bits =
            shared || !d->agreed.server_max_window_bits ? 15 : d->agreed.server_max_window_bits;
        if (pmd_inflate_init(z, bits) != 0) {
            free(z);
            return NULL;
        }
        *slot = z;
    } else if (shared) {
        inflateReset(*slot);
    }
    return *slot;
}

static void pmd_free(struct conn *c)
{
    struct ws_pmd *d = c->u.ws.h.open.pmd;
    if (!d)
        return;
    zstream_free(&d->tx, 1);
    zstream_free(&d->rx, 0);
    free(d);
    c->u.ws.h.open.pmd = NULL;
}

/* ---- frames out ---- */

static int send_frame_rsv(struct conn *c, unsigned rsv, unsigned opcode, const uint8_t *payload,
                          size_t len)
{
    struct worker *w = c->w;
    uint8_t *out = w->wbuf;
    uint8_t key[4];
    rng_bytes(&w->rng, key, 4);
    if (LIKELY(len <= WORKER_WBUF - WS_MAX_HEAD)) {
        size_t n = ws_frame_encode(out, WORKER_WBUF, 1, rsv, opcode, payload, len, key);
        return conn__write(c, out, n);
    }
    /* Rare (messages above the scratch size): the payload is masked in a chunk of its own. */
    size_t h = ws_frame_head_encode(out, 1, rsv, opcode, len, key);
    if (conn__write(c, out, h) != 0)
        return -1;
    struct chunk *k = pool_get(&w->pool, len);
    if (!k) {
        conn__fail_why(c, ERR_OTHER, "out of memory for an outgoing message");
        return -1;
    }
    ws_mask(k->data, payload, len, key, 0);
    int rc = conn__write(c, k->data, len);
    pool_put(&w->pool, k);
    return rc;
}

static int send_frame(struct conn *c, unsigned opcode, const uint8_t *payload, size_t len)
{
    return send_frame_rsv(c, 0, opcode, payload, len);
}

static void send_close(struct conn *c, unsigned code)
{
    uint8_t fr[WS_MAX_HEAD + 2];
    uint8_t key[4];
    rng_bytes(&c->w->rng, key, 4);
    conn__write(c, fr, ws_close_encode(fr, code, key));
}

/* A data message, compressed when permessage-deflate was agreed: RSV1 on its frame. */
static int ws_send(struct conn *c, const uint8_t *p, size_t len, int binary)
{
    unsigned op = binary ? WS_OP_BINARY : WS_OP_TEXT;
    struct ws_pmd *d = c->u.ws.h.open.pmd;
    if (LIKELY(!d))
        return send_frame(c, op, p, len);
    struct worker *w = c->w;
    struct ws_worker *ww = w->sess_data;
    int fresh;
    z_stream *z = tx_stream(c, &fresh);
    if (!z) {
        conn__fail_why(c, ERR_OTHER, "out of memory for a deflate stream");
        return -1;
    }
    uint8_t *out = ww->zbuf;
    size_t cap = ww->zcap;
    struct chunk *k = NULL;
    if (pmd_deflate_bound(len) > cap) { /* larger than the scratch: a chunk of its own */
        cap = pmd_deflate_bound(len);
        k = pool_get(&w->pool, cap);
        if (!k) {
            conn__fail_why(c, ERR_OTHER, "out of memory for a compressed message");
            return -1;
        }
        out = k->data;
    }
    long n = pmd_deflate(z, p, len, out, cap, fresh);
    if (n < 0) {
        pool_put(&w->pool, k);
        conn__fail_why(c, ERR_OTHER, "deflate failed");
        return -1;
    }
    w->st->ctr[CTR_DEFLATE_SENT_PAYLOAD] += len;
    w->st->ctr[CTR_DEFLATE_SENT_COMPRESSED] += (uint64_t)n;
    int rc = send_frame_rsv(c, 4, op, out, (size_t)n);
    pool_put(&w->pool, k);
    return rc;
}

/* A PING whose payload is its intended send time (mono ns), so the PONG times itself and the
 * connection keeps no table of outstanding PINGs. */
static int ws_ping(struct conn *c, uint64_t intended_ns)
{
    uint8_t p[8];
    memcpy(p, &intended_ns, 8);
    c->w->st->ctr[CTR_PINGS_SENT]++;
    return send_frame(c, WS_OP_PING, p, 8);
}

/* Start the close handshake with 1000 (end of run, ramp-down): the peer's answering close is no
 * error, and the grace timer drops the connection if that answer never comes. */
static void ws_close(struct conn *c)
{
    c->flags |= CF_STOPPING;
    send_close(c, WS_CLOSE_NORMAL);
    if (c->state != CS_OPEN) /* the write failed: the connection is already finished */
        return;
    conn__closing(c, 0);
}

static void ws_goodbye(struct conn *c, unsigned code)
{
    send_close(c, code);
}

/* ---- the upgrade ---- */

/* Send the upgrade request: the run's, with this attempt's key. */
static void ws_start(struct conn *c, uint64_t now)
{
    struct worker *w = c->w;
    char key[WS_KEY_LEN + 1];
    rng_bytes(&w->rng, c->u.ws.h.key, sizeof c->u.ws.h.key);
    ws_key_make(key, c->u.ws.h.key);
    size_t key_off;
    size_t n = request__render(c, &key_off);
    memcpy(w->wbuf + key_off, key, WS_KEY_LEN);
    c->state = CS_HANDSHAKE;
    c->t_phase_ns = now;
    conn__write(c, w->wbuf, n);
}

/* Check the response head; on success the connection is open. Returns bytes consumed, 0 when
 * the head is incomplete, -1 when the connection ended. */
/* What a status other than 101 says to a user, where it says something: a 2xx is an ordinary
 * HTTP resource, or an event stream (which herd reads with http://). NULL: the status says it. */
static const char *status_why(const struct http1_response *r)
{
    if (r->status < 200 || r->status > 299)
        return NULL;
    const struct http1_header *ct = http1_header_find(r->headers, r->num_headers, "content-type");
    static const char sse[] = "text/event-stream";
    if (ct && ct->value_len >= sizeof sse - 1 && strncasecmp(ct->value, sse, sizeof sse - 1) == 0)
        return "the server answered 200 with an event stream instead of 101 Switching Protocols: "
               "an event stream (SSE) is read with http:// or https://, not ws://";
    return "the server answered with a 2xx instead of 101 Switching Protocols: not a WebSocket "
           "endpoint";
}

static long handle_head(struct conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
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
    char key[WS_KEY_LEN + 1];
    ws_key_make(key, c->u.ws.h.key);
    const struct client_params *p = c->w->p;
    struct ws_handshake_expect e = {.key = key, .subprotocol = p->subprotocol};
    const char *why = NULL;
    int deflate = 0;
    int rc = ws_handshake_check(&r, &e, p->compress ? &deflate : NULL, &why);
    if (rc == HERD_E_STATUS) {
        conn__fail_status(c, r.status, status_why(&r));
        return -1;
    }
    if (rc != 0) {
        conn__fail_why(c, ERR_HANDSHAKE, why);
        return -1;
    }
    struct pmd_params agreed;
    if (deflate &&
        pmd_response_check(r.headers, r.num_headers, &c->w->run->pmd_offer, &agreed, &why) != 1) {
        conn__fail_why(c, ERR_HANDSHAKE, why ? why : "permessage-deflate answer refused");
        return -1;
    }
    memset(&c->u.ws.h, 0, sizeof c->u.ws.h); /* the key is spent: the open state from here */
    if (deflate) {
        struct ws_pmd *d = xcalloc(1, sizeof *d);
        d->agreed = agreed;
        c->u.ws.h.open.pmd = d;
    }
    c->u.ws.msg = (struct ws_msg){0};
    conn__opened(c, now);
    return c->state == CS_DONE ? -1 : n;
}

/* ---- frames in ---- */

static void protocol_error(struct conn *c, int err)
{
    unsigned code = err == HERD_E_UTF8      ? WS_CLOSE_INVALID_DATA
                    : err == HERD_E_TOO_BIG ? WS_CLOSE_TOO_BIG
                                            : WS_CLOSE_PROTOCOL;
    send_close(c, code);
    conn__fail_why(c, ERR_PROTOCOL,
                   err == HERD_E_UTF8      ? "invalid UTF-8 in a text message or close reason"
                   : err == HERD_E_TOO_BIG ? "a message larger than --max-message (closed 1009)"
                                           : "a frame that breaks RFC 6455 (closed 1002)");
}

static void on_pong(struct conn *c, const uint8_t *p, size_t len, uint64_t now)
{
    const struct role_ops *role = c->w->role;
    if (role->pong)
        role->pong(c, p, len, now);
}

static void on_close_frame(struct conn *c, const uint8_t *p, size_t len)
{
    unsigned code = WS_CLOSE_NO_STATUS;
    if (ws_close_parse(p, len, &code) != 0) {
        protocol_error(c, HERD_E_PROTO);
        return;
    }
    if (c->flags & CF_STOPPING) { /* the answer to our close: a clean end */
        conn__finish(c);
        return;
    }
    stats_close_code(c->w->st, code);
    /* RFC 6455 5.5.1: answer with a close echoing the code, then let the server close TCP. */
    send_close(c, code);
    c->flags |= CF_STOPPING;
    if (c->state == CS_DONE)
        return;
    if (stream_tx_pending(&c->s)) {
        conn__closing(c, 1);
        return;
    }
    conn__finish(c);
}

/* The stamp search of a message in fragments, whose boundaries may fall anywhere: its state
 * lives in a pool chunk while such a message is being received (a message in one frame, the
 * usual case, needs none). NULL when out of memory (the connection failed). */
static struct stamp_split *split_state(struct conn *c)
{
    struct chunk *k = c->u.ws.h.open.frag;
    if (!k) {
        k = pool_get(&c->w->pool, sizeof(struct stamp_split));
        if (!k) {
            conn__fail_why(c, ERR_OTHER, "out of memory for a fragmented message");
            return NULL;
        }
        memset(k->data, 0, sizeof(struct stamp_split));
        c->u.ws.h.open.frag = k;
    }
    return (struct stamp_split *)(void *)k->data;
}

/* Returns as stamp_split_feed, or -2 when out of memory (failed). */
static int split_feed(struct conn *c, const uint8_t *p, size_t len, int final, struct stamp *s)
{
    struct stamp_split *sp = split_state(c);
    return sp ? stamp_split_feed(sp, p, len, final, s) : -2;
}

static void split_end(struct conn *c)
{
    pool_put(&c->w->pool, c->u.ws.h.open.frag);
    c->u.ws.h.open.frag = NULL;
}

/* What an inflated piece of a compressed message goes through: UTF-8 (text) and the stamp. */
/* A role that reads payloads gets each message whole: the bytes of one in fragments, or
 * inflated, are gathered in c's frag chunk (grown by doubling, never past --max-message). Returns
 * 0, or HERD_E_TOO_BIG past the limit, HERD_E_NOMEM. */
static int frag_append(struct conn *c, const uint8_t *p, size_t len)
{
    struct chunk *k = c->u.ws.h.open.frag;
    size_t have = k ? k->len : 0;
    if (have + len > c->w->p->max_message)
        return HERD_E_TOO_BIG;
    if (!k || k->cap - k->len < len) {
        size_t want = (have + len) * 2 < 256 ? 256 : (have + len) * 2;
        struct chunk *g = pool_get(&c->w->pool, want);
        if (!g)
            return HERD_E_NOMEM;
        if (have)
            memcpy(g->data, k->data, have);
        g->len = (uint32_t)have;
        pool_put(&c->w->pool, k);
        c->u.ws.h.open.frag = k = g;
    }
    if (len)
        memcpy(k->data + k->len, p, len);
    k->len += (uint32_t)len;
    return 0;
}

struct inflated {
    struct conn *c;
    int text;
    int collect; /* gather the message (a role that reads payloads) rather than search it */
    uint32_t utf8;
    int found; /* the stamp: 1 found, 0 not yet, -1 none */
    struct stamp_split *sp;
    struct stamp s;
};

static int inflated_piece(void *ctx, const uint8_t *p, size_t len)
{
    struct inflated *in = ctx;
    if (in->text) {
        in->utf8 = utf8_feed(in->utf8, p, len);
        if (in->utf8 == UTF8_REJECT)
            return HERD_E_UTF8;
    }
    if (in->collect)
        return frag_append(in->c, p, len);
    if (in->found == 0)
        in->found = stamp_split_feed(in->sp, p, len, 0, &in->s);
    return 0;
}

/* A data frame of a compressed message: inflate it. Returns 0, or -1 when the connection ended. */
static int inflate_frame(struct conn *c, const struct ws_frame *f, const uint8_t *payload, int text,
                         uint32_t *utf8, int collect, uint64_t now)
{
    struct ws_pmd *d = c->u.ws.h.open.pmd;
    struct worker *w = c->w;
    struct ws_worker *ww = w->sess_data;
    if (f->opcode != WS_OP_CONT) { /* a message's first frame */
        d->rx_total = 0;
        if (!rx_stream(c)) {
            conn__fail_why(c, ERR_OTHER, "out of memory for an inflate stream");
            return -1;
        }
    }
    z_stream *z = d->agreed.server_no_context_takeover ? ww->rx_fresh : d->rx;
    struct inflated in = {.c = c,
                          .text = text,
                          .collect = collect,
                          .utf8 = *utf8,
                          .found = collect || (c->flags & CF_IN_MSG_STAMP) ? 1 : 0};
    /* A message in one frame is searched with the worker's state; one in fragments keeps its
     * own between them. */
    if (collect) {
        /* gathered: searched whole at its end */
    } else if (f->fin && f->opcode != WS_OP_CONT) {
        ww->split.n = 0;
        in.sp = &ww->split;
    } else if (!in.found && !(in.sp = split_state(c))) {
        return -1;
    }
    uint64_t before = d->rx_total;
    int rc = pmd_inflate(z, payload, (size_t)f->payload_len, f->fin, ww->scratch, ZSCRATCH,
                         w->p->max_message, &d->rx_total, inflated_piece, &in);
    w->st->ctr[CTR_DEFLATE_RECEIVED_COMPRESSED] += f->payload_len;
    w->st->ctr[CTR_DEFLATE_RECEIVED_PAYLOAD] += d->rx_total - before;
    if (rc == 0 && in.text && f->fin && in.utf8 != UTF8_ACCEPT)
        rc = HERD_E_UTF8;
    if (rc == HERD_E_NOMEM) {
        conn__fail_why(c, ERR_OTHER, "out of memory for a message");
        return -1;
    }
    if (rc < 0) {
        protocol_error(c, rc == HERD_E_TOO_BIG || rc == HERD_E_UTF8 ? rc : HERD_E_PROTO);
        return -1;
    }
    *utf8 = in.utf8;
    if (collect)
        return 0;
    if (in.found == 0 && f->fin)
        in.found = stamp_split_feed(in.sp, NULL, 0, 1, &in.s);
    if (in.found == 1 && !(c->flags & CF_IN_MSG_STAMP)) {
        c->flags |= CF_IN_MSG_STAMP;
        split_end(c);
        if (w->role->stamp)
            w->role->stamp(c, &in.s, now);
    }
    return 0;
}

/* A data frame for a role that reads payloads: the message goes up whole, with its stamp first.
 * Returns 0 to go on, -1 when the connection ended. */
static int payload_frame(struct conn *c, const struct ws_frame *f, const uint8_t *payload,
                         int compressed, int complete, int text, uint32_t utf8, uint64_t now)
{
    size_t len = (size_t)f->payload_len;
    const uint8_t *msg = payload;
    size_t mlen = len;
    if (compressed) {
        if (inflate_frame(c, f, payload, text, &utf8, 1, now) != 0)
            return -1;
        if (!complete) {
            c->u.ws.msg.utf8 = utf8;
            return 0;
        }
        msg = (const uint8_t *)"";
        mlen = 0;
    } else if (!complete || c->u.ws.h.open.frag) {
        int rc = frag_append(c, payload, len);
        if (rc < 0) {
            if (rc == HERD_E_NOMEM)
                conn__fail_why(c, ERR_OTHER, "out of memory for a message");
            else
                protocol_error(c, rc);
            return -1;
        }
        if (!complete)
            return 0;
    }
    struct chunk *k = c->u.ws.h.open.frag;
    if (k) {
        msg = k->data;
        mlen = k->len;
    }
    struct stamp s;
    if (stamp_find(msg, mlen, &s) >= 0 && c->w->role->stamp)
        c->w->role->stamp(c, &s, now);
    if (c->state == CS_OPEN || c->state == CS_CLOSING)
        conn__message_in(c, msg, mlen, !text, now);
    split_end(c);
    return c->state == CS_DONE ? -1 : 0;
}

/* Returns 0 to go on, -1 when the connection ended. */
static int handle_frame(struct conn *c, const struct ws_frame *f, const uint8_t *payload,
                        uint64_t now)
{
    size_t len = (size_t)f->payload_len;
    struct ws_pmd *d = c->u.ws.h.open.pmd;
    /* RSV1 marks a compressed message on its first frame (RFC 7692 6); its text is checked as
     * UTF-8 once inflated. */
    if (UNLIKELY(d) && !(f->opcode & 8) && f->opcode != WS_OP_CONT)
        d->rx_on = (f->rsv & 4) != 0;
    int compressed = UNLIKELY(d) && d->rx_on && !(f->opcode & 8);
    /* The message's kind and UTF-8 state before this frame (ws_msg_feed forgets them when it
     * ends the message; a compressed one is validated after inflating). */
    int text = (f->opcode == WS_OP_CONT ? c->u.ws.msg.opcode : f->opcode) == WS_OP_TEXT;
    uint32_t utf8 = f->opcode == WS_OP_CONT ? c->u.ws.msg.utf8 : UTF8_ACCEPT;
    int rc = ws_msg_feed(&c->u.ws.msg, f, payload, !compressed);
    if (rc < 0) {
        protocol_error(c, rc);
        return -1;
    }
    switch (f->opcode) {
    case WS_OP_PING:
        if (c->state == CS_OPEN)
            send_frame(c, WS_OP_PONG, payload, len);
        break;
    case WS_OP_PONG: on_pong(c, payload, len, now); break;
    case WS_OP_CLOSE: on_close_frame(c, payload, len); return -1;
    default: /* data frame */
        if (UNLIKELY(c->w->role->wants_payload))
            return payload_frame(c, f, payload, compressed, rc == 1, text, utf8, now);
        if (compressed) {
            if (inflate_frame(c, f, payload, text, &utf8, 0, now) != 0)
                return -1;
            if (rc != 1)
                c->u.ws.msg.utf8 = utf8;
        } else if (!(c->flags & CF_IN_MSG_STAMP)) {
            struct stamp s;
            int found = rc == 1 && !c->u.ws.h.open.frag ? stamp_find(payload, len, &s) >= 0
                                                        : split_feed(c, payload, len, rc == 1, &s);
            if (found == -2)
                return -1;
            if (found == 1) {
                c->flags |= CF_IN_MSG_STAMP;
                split_end(c);
                if (c->w->role->stamp)
                    c->w->role->stamp(c, &s, now);
            }
        }
        if (rc == 1) { /* message complete */
            c->flags &= (uint16_t)~CF_IN_MSG_STAMP;
            split_end(c);
            conn__message_in(c, NULL, 0, !text, now);
        }
        break;
    }
    return c->state == CS_DONE ? -1 : 0;
}

static long ws_consume(struct conn *c, uint8_t *buf, size_t len, uint64_t now, size_t *need)
{
    size_t off = 0;
    if (c->state == CS_HANDSHAKE) {
        long n = handle_head(c, buf, len, now);
        if (n <= 0) /* the parser says when an incomplete head has grown too big */
            return n < 0 ? STREAM_STOP : 0;
        off = (size_t)n;
    }
    uint64_t max = c->w->p->max_message;
    unsigned flags = WS_F_EXPECT_UNMASKED | (c->u.ws.h.open.pmd ? WS_F_ALLOW_RSV1 : 0);
    while (off < len && (c->state == CS_OPEN || c->state == CS_CLOSING)) {
        struct ws_frame f;
        int n = ws_frame_decode(buf + off, len - off, flags, max, &f);
        if (n == HERD_E_AGAIN) {
            if (f.head_len)
                *need = f.head_len + f.payload_len;
            break;
        }
        if (n < 0) {
            protocol_error(c, n);
            return STREAM_STOP;
        }
        if (handle_frame(c, &f, buf + off + f.head_len, now) != 0)
            return STREAM_STOP;
        off += (size_t)n;
    }
    return c->state == CS_DONE ? STREAM_STOP : (long)off;
}

static void ws_reset(struct conn *c)
{
    /* Once open the union holds deflate's state and a fragmented message's stamp search;
     * before, the key (and after a failed upgrade nothing the next attempt needs). */
    if (c->state == CS_OPEN || c->state == CS_CLOSING) {
        pmd_free(c);
        split_end(c);
    }
    memset(&c->u.ws.h, 0, sizeof c->u.ws.h);
    c->u.ws.msg = (struct ws_msg){0};
}

const struct session_ops session_ws = {
    .name = "websocket",
    .setup = ws_setup,
    .teardown = ws_teardown,
    .start = ws_start,
    .consume = ws_consume,
    .send = ws_send,
    .ping = ws_ping,
    .close = ws_close,
    .goodbye = ws_goodbye,
    .reset = ws_reset,
};

/* ws.c - the WebSocket session (RFC 6455, client side): the upgrade request and its reply,
 * frames both ways, PING/PONG, the close handshake.
 *
 * Frames are decoded where they lie in the read buffer (the stream keeps only an incomplete
 * frame); a server's frames are unmasked, so a payload is used in place. Frames out are built by
 * proto's one builder in the worker's scratch, masked with a fresh key from the worker's random
 * buffer (RFC 6455 5.3), and written at once. Stamps found in data frames go up to the role, the
 * first per message; whole messages go up through conn__message_in. */
#include "client/session.h"

#include "base/clock.h"
#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"

#include <stdlib.h>
#include <string.h>

#define HANDSHAKE_HEADERS 32

static int ws_setup(struct worker *w, char *err, size_t errlen)
{
    return request__build(w, err, errlen);
}

static void ws_teardown(struct worker *w)
{
    free(w->req);
    w->req = NULL;
}

/* ---- frames out ---- */

static int send_frame(struct conn *c, unsigned opcode, const uint8_t *payload, size_t len)
{
    struct worker *w = c->w;
    uint8_t *out = w->wbuf;
    uint8_t key[4];
    rng_bytes(&w->rng, key, 4);
    if (LIKELY(len <= WORKER_WBUF - WS_MAX_HEAD)) {
        size_t n = ws_frame_encode(out, WORKER_WBUF, 1, 0, opcode, payload, len, key);
        return conn__write(c, out, n);
    }
    /* Rare (messages above the scratch size): the payload is masked in a chunk of its own. */
    size_t h = ws_frame_head_encode(out, 1, 0, opcode, len, key);
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

static void send_close(struct conn *c, unsigned code)
{
    uint8_t fr[WS_MAX_HEAD + 2];
    uint8_t key[4];
    rng_bytes(&c->w->rng, key, 4);
    conn__write(c, fr, ws_close_encode(fr, code, key));
}

static int ws_send(struct conn *c, const uint8_t *p, size_t len, int binary)
{
    return send_frame(c, binary ? WS_OP_BINARY : WS_OP_TEXT, p, len);
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
    rng_bytes(&w->rng, c->u.ws.key, sizeof c->u.ws.key);
    ws_key_make(key, c->u.ws.key);
    memcpy(w->wbuf, w->req, w->req_len);
    memcpy(w->wbuf + w->req_key_off, key, WS_KEY_LEN);
    c->state = CS_HANDSHAKE;
    c->t_phase_ns = now;
    conn__write(c, w->wbuf, w->req_len);
}

/* Check the response head; on success the connection is open. Returns bytes consumed, 0 when
 * the head is incomplete, -1 when the connection ended. */
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
    ws_key_make(key, c->u.ws.key);
    struct ws_handshake_expect e = {.key = key, .subprotocol = c->w->p->subprotocol};
    const char *why = NULL;
    int rc = ws_handshake_check(&r, &e, NULL, &why);
    if (rc == HERD_E_STATUS) {
        conn__fail_status(c, r.status);
        return -1;
    }
    if (rc != 0) {
        conn__fail_why(c, ERR_HANDSHAKE, why);
        return -1;
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

/* The stamp of a message in fragments, found wherever their boundaries fall: the search's state
 * lives in a pool chunk while such a message is being received (a message in one frame, the
 * usual case, needs none). Returns as stamp_split_feed, or -2 when out of memory (failed). */
static int split_feed(struct conn *c, const uint8_t *p, size_t len, int final, struct stamp *s)
{
    struct chunk *k = c->u.ws.split;
    if (!k) {
        k = pool_get(&c->w->pool, sizeof(struct stamp_split));
        if (!k) {
            conn__fail_why(c, ERR_OTHER, "out of memory for a fragmented message");
            return -2;
        }
        memset(k->data, 0, sizeof(struct stamp_split));
        c->u.ws.split = k;
    }
    return stamp_split_feed((struct stamp_split *)(void *)k->data, p, len, final, s);
}

static void split_end(struct conn *c)
{
    pool_put(&c->w->pool, c->u.ws.split);
    c->u.ws.split = NULL;
}

/* Returns 0 to go on, -1 when the connection ended. */
static int handle_frame(struct conn *c, const struct ws_frame *f, const uint8_t *payload,
                        uint64_t now)
{
    size_t len = (size_t)f->payload_len;
    int rc = ws_msg_feed(&c->u.ws.msg, f, payload, 1);
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
        if (!(c->flags & CF_IN_MSG_STAMP)) {
            struct stamp s;
            int found = rc == 1 && !c->u.ws.split ? stamp_find(payload, len, &s) >= 0
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
            conn__message_in(c, now);
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
    while (off < len && (c->state == CS_OPEN || c->state == CS_CLOSING)) {
        struct ws_frame f;
        int n = ws_frame_decode(buf + off, len - off, WS_F_EXPECT_UNMASKED, max, &f);
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
    c->u.ws.msg = (struct ws_msg){0};
    split_end(c);
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

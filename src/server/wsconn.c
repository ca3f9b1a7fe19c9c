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
 * the RSV bits of the session: none today; permessage-deflate (RFC 7692) will set RSV1 on the
 * messages it compresses, from its state in c->u.ws. */
#include "server/srv_session.h"

#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"

#include <string.h>

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
    char buf[512];
    size_t n = ws_upgrade_reply(buf, sizeof buf, &u, NULL);
    HERD_ASSERT(n > 0);

    c->ops = ops;
    c->sflags = 0;
    memset(&c->u, 0, sizeof c->u);
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

size_t srv_ws__consume(struct srv_conn *c, uint8_t *p, size_t len, size_t *need)
{
    uint64_t due = srv_out__due(c->w);
    size_t off = 0;
    while (off < len) {
        struct ws_frame f;
        f.head_len = 0; /* set only once the header is in */
        int r = ws_frame_decode(p + off, len - off, WS_F_EXPECT_MASKED, c->w->max_frame, &f);
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
        int m = ws_msg_feed(&c->u.ws.msg, &f, pl, 1);
        if (m < 0) {
            srv_ws__send_close(c, m == HERD_E_UTF8 ? WS_CLOSE_INVALID_DATA : WS_CLOSE_PROTOCOL,
                               due);
            return len;
        }
        int rc = 0;
        switch (f.opcode) {
        case WS_OP_CONT:
        case WS_OP_TEXT:
        case WS_OP_BINARY: rc = c->ops->app->message(c, &f, pl, m == 1, due); break;
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

/* wsconn.c - WebSocket connections of `herd serve`: the opening handshake (RFC 6455 4.2) and
 * frames, with the echo as the first application.
 *
 * Frames are decoded where they lie (the read buffer, or the stream's chunk for a frame that
 * came in pieces), unmasked in place, and an echo is
 * re-framed in place: a client's header is 4 bytes longer than ours for the same length (the
 * mask key; both use the minimal length form, 5.2), so our header fits right before the payload
 * and the reply is one contiguous iovec, written without a copy. A fragmented message is echoed
 * fragment by fragment with the same FIN/opcode sequence, which is valid and needs no buffering;
 * control frames between fragments are answered in order. */
#include "server/server_internal.h"

#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"

#include <stdio.h>
#include <string.h>

int wsconn__upgrade(struct srv_conn *c, const struct http1_request *req, enum srv_app app)
{
    struct ws_upgrade u;
    if (ws_upgrade_check(req, &u, NULL) != 0) {
        routes__http_error(c, u.status, u.headers);
        return -1;
    }
    /* Faults and limits, after the request proved valid. */
    if (routes__admit(c) < 0)
        return -1;
    char buf[512];
    size_t n = ws_upgrade_reply(buf, sizeof buf, &u, NULL);
    HERD_ASSERT(n > 0);

    c->state = SRV_ST_WS;
    c->app = (uint8_t)app;
    c->u.msg = (struct ws_msg){0};
    /* The handshake answer is not a reply to hold: --delay applies to messages. */
    if (out__copy(c, buf, n, 0) < 0 || out__commit(c) < 0)
        return -1;
    conn__timer_update(c); /* no head deadline any more */
    return 0;
}

/* Send a close frame with `code` and close once it is out (7.1.1-7.1.2). */
void wsconn__send_close(struct srv_conn *c, unsigned code, uint64_t due)
{
    uint8_t fr[WS_MAX_HEAD + 2];
    size_t n = ws_close_encode(fr, code, NULL);
    if (out__copy(c, fr, n, due) < 0)
        return;
    conn__set_closing(c);
    out__commit(c);
}

/* Reply with the frame's payload under a new header (opcode op, same FIN), written in place
 * before the payload. */
static int reply_in_place(struct srv_conn *c, const struct ws_frame *f, unsigned op, uint8_t *pl,
                          uint64_t due)
{
    uint8_t head[WS_MAX_HEAD];
    size_t hl = ws_frame_head_encode(head, f->fin, 0, op, f->payload_len, NULL);
    HERD_ASSERT(hl <= f->head_len);
    memcpy(pl - hl, head, hl);
    return out__ref(c, pl - hl, hl + (size_t)f->payload_len, due);
}

size_t wsconn__consume(struct srv_conn *c, uint8_t *p, size_t len, size_t *need)
{
    uint64_t due = conn__reply_due(c);
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
            wsconn__send_close(c, r == HERD_E_TOO_BIG ? WS_CLOSE_TOO_BIG : WS_CLOSE_PROTOCOL, due);
            return len;
        }
        uint8_t *pl = p + off + f.head_len;
        size_t plen = (size_t)f.payload_len;
        if (plen)
            ws_mask(pl, pl, plen, f.mask, 0);
        int m = ws_msg_feed(&c->u.msg, &f, pl, 1);
        if (m < 0) {
            wsconn__send_close(c, m == HERD_E_UTF8 ? WS_CLOSE_INVALID_DATA : WS_CLOSE_PROTOCOL,
                               due);
            return len;
        }
        int rc = 0;
        switch (f.opcode) {
        case WS_OP_CONT:
        case WS_OP_TEXT:
        case WS_OP_BINARY:
            if (c->app == SRV_APP_PUBSUB)
                rc = pubsub__frame(c, &f, pl, m == 1);
            else
                rc = reply_in_place(c, &f, f.opcode, pl, due);
            break;
        case WS_OP_PING: rc = reply_in_place(c, &f, WS_OP_PONG, pl, due); break;
        case WS_OP_PONG: break;
        case WS_OP_CLOSE: {
            unsigned code = WS_CLOSE_NORMAL;
            if (plen >= 2)
                code = (unsigned)pl[0] << 8 | pl[1];
            wsconn__send_close(c, code, due);
            return len;
        }
        default: break;
        }
        if (rc < 0)
            return len;
        off += (size_t)r;
    }
    out__commit(c);
    return off;
}

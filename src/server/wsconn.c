/* wsconn.c - WebSocket connections of `herd serve`: the opening handshake (RFC 6455 4.2) and
 * frames, with the echo as the first application.
 *
 * Frames are decoded where they lie (read buffer or rtail), unmasked in place, and an echo is
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

#define WSCONN_MAX_SUBPROTOCOL 128

static int is_base64(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '+' || ch == '/';
}

/* 4.2.1: the key is the base64 of 16 bytes: 22 characters and "==". */
static int key_valid(const struct http1_header *h)
{
    if (!h || h->value_len != WS_KEY_LEN || memcmp(h->value + 22, "==", 2) != 0)
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (!is_base64((unsigned char)h->value[i]))
            return 0;
    return 1;
}

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* The first subprotocol offered, when it is a token: we accept whatever the client prefers. */
static size_t first_subprotocol(const struct http1_header *h, const char **out)
{
    if (!h)
        return 0;
    const char *p = h->value, *end = h->value + h->value_len;
    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
        p++;
    const char *s = p;
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    size_t n = (size_t)(p - s);
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (n == 0 || n > WSCONN_MAX_SUBPROTOCOL || (p < end && *p != ','))
        return 0;
    *out = s;
    return n;
}

int wsconn__upgrade(struct srv_conn *c, const struct http1_request *req, enum srv_app app)
{
    const struct http1_header *hs = req->headers;
    size_t nh = req->num_headers;

    if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0) {
        routes__http_error(c, 405, "Allow: GET\r\n");
        return -1;
    }
    const struct http1_header *upgrade = http1_header_find(hs, nh, "Upgrade");
    if (!upgrade || !http1_token_list_has(upgrade->value, upgrade->value_len, "websocket")) {
        routes__http_error(c, 426, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
        return -1;
    }
    const struct http1_header *conn = http1_header_find(hs, nh, "Connection");
    const struct http1_header *key = http1_header_find(hs, nh, "Sec-WebSocket-Key");
    if (req->minor_version < 1 || !conn ||
        !http1_token_list_has(conn->value, conn->value_len, "upgrade") || !key_valid(key)) {
        routes__http_error(c, 400, NULL);
        return -1;
    }
    /* 4.2.2: a version we do not speak gets 426 and the versions we do. */
    const struct http1_header *ver = http1_header_find(hs, nh, "Sec-WebSocket-Version");
    if (!ver || ver->value_len != 2 || memcmp(ver->value, "13", 2) != 0) {
        routes__http_error(c, 426, "Sec-WebSocket-Version: 13\r\n");
        return -1;
    }

    /* Faults and limits, after the request proved valid. */
    if (routes__admit(c) < 0)
        return -1;

    char accept[WS_ACCEPT_LEN + 1];
    ws_accept_make(accept, key->value, key->value_len);
    const char *proto = NULL;
    size_t proto_len =
        first_subprotocol(http1_header_find(hs, nh, "Sec-WebSocket-Protocol"), &proto);
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "%s%.*s%s"
                     "\r\n",
                     accept, proto_len ? "Sec-WebSocket-Protocol: " : "", (int)proto_len,
                     proto_len ? proto : "", proto_len ? "\r\n" : "");
    HERD_ASSERT(n > 0 && (size_t)n < sizeof buf);

    c->state = SRV_ST_WS;
    c->app = (uint8_t)app;
    c->u.msg = (struct ws_msg){0};
    /* The handshake answer is not a reply to hold: --delay applies to messages. */
    if (out__copy(c, buf, (size_t)n, 0) < 0 || out__commit(c) < 0)
        return -1;
    conn__timer_update(c); /* no head deadline any more */
    return 0;
}

/* Send a close frame with `code` and close once it is out (7.1.1-7.1.2). */
void wsconn__send_close(struct srv_conn *c, unsigned code, uint64_t due)
{
    uint8_t fr[4];
    size_t n = ws_frame_head_encode(fr, 1, 0, WS_OP_CLOSE, 2, NULL);
    fr[n] = (uint8_t)(code >> 8);
    fr[n + 1] = (uint8_t)code;
    if (out__copy(c, fr, n + 2, due) < 0)
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

size_t wsconn__consume(struct srv_conn *c, uint8_t *p, size_t len)
{
    uint64_t due = conn__reply_due(c);
    size_t off = 0;
    while (off < len) {
        struct ws_frame f;
        int r = ws_frame_decode(p + off, len - off, WS_F_EXPECT_MASKED, c->w->max_frame, &f);
        if (r == HERD_E_AGAIN)
            break;
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

/* fuzz_ws_frame.c - libFuzzer target for RFC 6455 frame decoding (both roles) and message
 * sequencing.
 *
 * The first byte picks the decoder flags and the payload limit; the rest is a stream of frames,
 * decoded one after another and fed to ws_msg_feed, as a connection would.
 * Invariants: a complete frame's length is head_len + payload_len and within the input; the head
 * re-encodes to the very same bytes (the decoder accepts only minimal lengths); every strict
 * prefix of a complete frame is HERD_E_AGAIN; unmasking twice is the identity; ws_msg_feed
 * returns only its documented values. Then the input is used as a payload for an
 * encode -> decode round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "base/err.h"
#include "proto/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint64_t limits[4] = {UINT64_MAX, 0, WS_MAX_CONTROL, 1u << 16};

static void check_frame(const uint8_t *buf, size_t len, int rc, unsigned flags, uint64_t max,
                        const struct ws_frame *f, struct ws_msg *m)
{
    HERD_ASSERT((size_t)rc <= len);
    HERD_ASSERT(f->head_len >= 2 && f->head_len <= WS_MAX_HEAD);
    HERD_ASSERT((uint64_t)rc == f->head_len + f->payload_len);
    HERD_ASSERT(f->payload_len <= max);
    HERD_ASSERT(f->opcode <= 2 || (f->opcode >= 8 && f->opcode <= 10));
    if (f->opcode >= 8)
        HERD_ASSERT(f->fin && f->payload_len <= WS_MAX_CONTROL);
    if (flags & WS_F_EXPECT_MASKED)
        HERD_ASSERT(f->masked);
    if (flags & WS_F_EXPECT_UNMASKED)
        HERD_ASSERT(!f->masked);
    if (!(flags & WS_F_ALLOW_RSV1))
        HERD_ASSERT(f->rsv == 0);

    /* The head re-encodes byte for byte. */
    uint8_t head[WS_MAX_HEAD];
    size_t hl = ws_frame_head_encode(head, f->fin, f->rsv, f->opcode, f->payload_len,
                                     f->masked ? f->mask : NULL);
    HERD_ASSERT(hl == f->head_len && memcmp(head, buf, hl) == 0);

    /* Strict prefixes are incomplete. */
    struct ws_frame g;
    HERD_ASSERT(ws_frame_decode(buf, (size_t)rc - 1, flags, max, &g) == HERD_E_AGAIN);
    HERD_ASSERT(ws_frame_decode(buf, f->head_len - 1u, flags, max, &g) == HERD_E_AGAIN);
    /* Extra bytes after the frame change nothing. */
    HERD_ASSERT(ws_frame_decode(buf, len, flags, max, &g) == rc);

    size_t n = (size_t)f->payload_len;
    uint8_t *pl = malloc(n ? n : 1), *again = malloc(n ? n : 1);
    HERD_ASSERT(pl && again);
    const uint8_t *src = buf + f->head_len;
    if (f->masked) {
        /* Unmask in two pieces; masking back gives the wire bytes. */
        size_t cut = n / 3;
        ws_mask(pl, src, cut, f->mask, 0);
        ws_mask(pl + cut, src + cut, n - cut, f->mask, cut);
        memcpy(again, pl, n);
        ws_mask(again, again, n, f->mask, 0);
        HERD_ASSERT(memcmp(again, src, n) == 0);
    } else {
        memcpy(pl, src, n);
    }
    int mrc = ws_msg_feed(m, f, pl, !(f->rsv & 4));
    HERD_ASSERT(mrc == 0 || mrc == 1 || mrc == HERD_E_PROTO || mrc == HERD_E_UTF8);
    if (mrc == 1)
        HERD_ASSERT(f->fin && f->opcode < 8);
    if (f->opcode == WS_OP_CLOSE) {
        unsigned code = 0;
        int crc = ws_close_parse(pl, n, &code);
        HERD_ASSERT(crc == (mrc < 0 ? mrc : 0));
        if (crc == 0)
            HERD_ASSERT(n == 0 ? code == WS_CLOSE_NO_STATUS
                               : code >= 1000 && code < 5000 && code != 1005 && code != 1006);
    }
    free(pl);
    free(again);
}

/* Encode the bytes as the payload of a frame whose head is chosen by `sel`, then decode it. */
static void round_trip(const uint8_t *payload, size_t n, unsigned sel)
{
    static const uint8_t ops[6] = {0, 1, 2, 8, 9, 10};
    unsigned op = ops[sel % 6];
    int masked = (sel >> 3) & 1, fin = op >= 8 || ((sel >> 4) & 1);
    unsigned rsv = op == 1 || op == 2 ? (sel >> 5) & 4 : 0;
    if (op >= 8 && n > WS_MAX_CONTROL)
        n = WS_MAX_CONTROL;
    uint8_t key[4] = {(uint8_t)sel, (uint8_t)(sel * 7), (uint8_t)(n), 0x5a};
    uint8_t *frame = malloc(WS_MAX_HEAD + n);
    HERD_ASSERT(frame);
    size_t hl = ws_frame_head_encode(frame, fin, rsv, op, n, masked ? key : NULL);
    if (masked)
        ws_mask(frame + hl, payload, n, key, 0);
    else if (n)
        memcpy(frame + hl, payload, n);
    unsigned flags = WS_F_ALLOW_RSV1 | (masked ? WS_F_EXPECT_MASKED : WS_F_EXPECT_UNMASKED);
    struct ws_frame f;
    int rc = ws_frame_decode(frame, hl + n, flags, UINT64_MAX, &f);
    HERD_ASSERT(rc == (int)(hl + n));
    HERD_ASSERT(f.fin == fin && f.rsv == rsv && f.opcode == op && f.masked == masked);
    HERD_ASSERT(f.head_len == hl && f.payload_len == n);
    if (masked) {
        ws_mask(frame + hl, frame + hl, n, f.mask, 0);
        HERD_ASSERT(n == 0 || memcmp(frame + hl, payload, n) == 0);
    }
    free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned flags = data[0] & 7;
    uint64_t max = limits[(data[0] >> 3) & 3];
    const uint8_t *p = data + 1;
    size_t len = size - 1;

    struct ws_msg m = {0};
    while (len > 0) {
        struct ws_frame f;
        int rc = ws_frame_decode(p, len, flags, max, &f);
        HERD_ASSERT(rc > 0 || rc == HERD_E_AGAIN || rc == HERD_E_PROTO || rc == HERD_E_TOO_BIG);
        if (rc <= 0)
            break;
        check_frame(p, len, rc, flags, max, &f, &m);
        p += rc;
        len -= (size_t)rc;
    }

    round_trip(data + 1, size - 1, data[0]);
    return 0;
}

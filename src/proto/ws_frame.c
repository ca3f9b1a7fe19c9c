/* ws_frame.c - RFC 6455 frames: decode and encode heads, masking, message sequencing and close
 * payloads.
 *
 *    0                   1                   2                   3
 *   +-+-+-+-+-------+-+-------------+-------------------------------+
 *   |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 *   |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 *   |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 *   +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 *   |    ...    Masking-key (0 or 4 bytes), then payload data ...    |
 *
 * ws_frame_decode() and ws_mask() run for every frame of a load test, so they avoid branches the
 * compiler cannot turn into flag arithmetic and never allocate. */
#include "proto/ws.h"

#include "base/compiler.h"
#include "base/err.h"
#include "proto/utf8.h"

#include <limits.h>
#include <string.h>

/* Opcodes defined by RFC 6455 5.2 as a bit set: 0, 1, 2, 8, 9, A. The rest are reserved, and a
 * reserved opcode fails the connection (5.2, "If an unknown opcode is received"). */
#define OP_KNOWN                                                                                   \
    ((1u << WS_OP_CONT) | (1u << WS_OP_TEXT) | (1u << WS_OP_BINARY) | (1u << WS_OP_CLOSE) |        \
     (1u << WS_OP_PING) | (1u << WS_OP_PONG))

/* The flag arithmetic in ws_frame_decode relies on these values. */
_Static_assert(WS_F_EXPECT_MASKED == 1 && WS_F_EXPECT_UNMASKED == 2, "mask flags");
_Static_assert(WS_F_ALLOW_RSV1 == 4, "WS_F_ALLOW_RSV1 must equal RSV1's bit in ws_frame.rsv");

/* ws_frame_decode returns the frame length as an int, so a frame must fit one whatever the
 * caller's max_payload; 2 GiB messages are far outside what a load generator sends. */
#define PAYLOAD_CAP ((uint64_t)INT_MAX - WS_MAX_HEAD)

static uint64_t be_load(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int ws_frame_decode(const uint8_t *buf, size_t len, unsigned flags, uint64_t max_payload,
                    struct ws_frame *f)
{
    if (UNLIKELY(len < 2)) {
        f->head_len = 0; /* callers size what they keep by it: never leave it unset */
        return HERD_E_AGAIN;
    }

    unsigned b0 = buf[0], b1 = buf[1];
    unsigned fin = b0 >> 7, rsv = (b0 >> 4) & 7, op = b0 & 0xf;
    unsigned masked = b1 >> 7, len7 = b1 & 0x7f;
    unsigned is_control = op >> 3;

    /* Every rule that the first two bytes settle, folded into one test so the common case costs
     * a single well-predicted branch:
     * - the opcode is known (5.2);
     * - RSV bits are zero unless an extension defines them (5.2). permessage-deflate defines RSV1
     *   for the first frame of a data message only, never for control frames or continuations
     *   (RFC 7692 6.1);
     * - the mask bit matches our role: clients mask every frame, servers none (5.1);
     * - control frames are not fragmented and carry at most 125 bytes (5.5). */
    unsigned is_data_start = op - 1u < 2u; /* text or binary */
    unsigned rsv_ok = (flags & WS_F_ALLOW_RSV1) & -is_data_start; /* the flag is RSV1's bit */
    unsigned bad = ((OP_KNOWN >> op) & 1) ^ 1;
    bad |= rsv & ~rsv_ok;
    bad |= flags & WS_F_EXPECT_MASKED & (masked ^ 1);
    bad |= (flags & WS_F_EXPECT_UNMASKED) >> 1 & masked;
    bad |= is_control & ((fin ^ 1) | (len7 > WS_MAX_CONTROL));
    if (UNLIKELY(bad))
        return HERD_E_PROTO;

    unsigned ext = len7 < 126 ? 0 : len7 == 126 ? 2 : 8;
    unsigned head_len = 2 + ext + masked * 4;
    if (UNLIKELY(len < head_len)) {
        f->head_len = 0;
        return HERD_E_AGAIN;
    }

    uint64_t plen = len7;
    if (ext) {
        plen = be_load(buf + 2, ext);
        /* 5.2: "the minimal number of bytes MUST be used to encode the length", and the most
         * significant bit of the 64-bit form MUST be 0. */
        uint64_t min = ext == 2 ? 126 : 65536;
        if (UNLIKELY(plen < min || plen >> 63))
            return HERD_E_PROTO;
    }
    if (UNLIKELY(plen > max_payload || plen > PAYLOAD_CAP))
        return HERD_E_TOO_BIG;

    f->fin = (uint8_t)fin;
    f->rsv = (uint8_t)rsv;
    f->opcode = (uint8_t)op;
    f->masked = (uint8_t)masked;
    if (masked)
        memcpy(f->mask, buf + 2 + ext, 4);
    else
        memset(f->mask, 0, 4);
    f->head_len = (uint8_t)head_len;
    f->payload_len = plen;

    if (UNLIKELY(len - head_len < plen))
        return HERD_E_AGAIN;
    return (int)(head_len + plen);
}

size_t ws_frame_head_encode(uint8_t *out, int fin, unsigned rsv, unsigned opcode,
                            uint64_t payload_len, const uint8_t *mask)
{
    size_t n = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv & 7) << 4 | (opcode & 0xf));
    /* The minimal length form (5.2), which is also what our decoder insists on. */
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
    } else if (payload_len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        n = 4;
    } else {
        out[1] = 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        out[1] |= 0x80;
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

size_t ws_frame_encode(uint8_t *out, size_t cap, int fin, unsigned rsv, unsigned opcode,
                       const uint8_t *payload, size_t len, const uint8_t *mask)
{
    if (cap < WS_MAX_HEAD || cap - WS_MAX_HEAD < len)
        return 0;
    size_t h = ws_frame_head_encode(out, fin, rsv, opcode, len, mask);
    if (mask)
        ws_mask(out + h, payload, len, mask, 0);
    else if (len)
        memmove(out + h, payload, len);
    return h + len;
}

size_t ws_close_encode(uint8_t out[WS_MAX_HEAD + 2], unsigned code, const uint8_t *mask)
{
    /* 1005 means "no code": it is never sent, the close goes out empty (7.4.1). */
    if (code == WS_CLOSE_NO_STATUS)
        return ws_frame_encode(out, WS_MAX_HEAD + 2, 1, 0, WS_OP_CLOSE, NULL, 0, mask);
    uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    return ws_frame_encode(out, WS_MAX_HEAD + 2, 1, 0, WS_OP_CLOSE, p, 2, mask);
}

/* 5.3: octet i of the payload is XORed with octet i MOD 4 of the key. A word is built from the
 * key rotated by `offset`, so each 8-byte block (which starts at a multiple of 4 from the
 * rotation point) takes the same word. Bytes are copied into and out of uint64_t with memcpy:
 * legal at any alignment, and one unaligned load/store on x86-64 and arm64. */
void ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4], size_t offset)
{
    uint8_t k[8];
    for (int i = 0; i < 8; i++)
        k[i] = key[(offset + (size_t)i) & 3];
    uint64_t kw;
    memcpy(&kw, k, 8);

    size_t i = 0;
    /* Four words per round: enough independent work to keep the load/store ports busy. */
    for (; len - i >= 32; i += 32) {
        uint64_t w[4];
        memcpy(w, src + i, 32);
        w[0] ^= kw;
        w[1] ^= kw;
        w[2] ^= kw;
        w[3] ^= kw;
        memcpy(dst + i, w, 32);
    }
    for (; len - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= kw;
        memcpy(dst + i, &w, 8);
    }
    for (; i < len; i++)
        dst[i] = src[i] ^ k[i & 3];
}

/* 7.4.1 and 7.4.2, with the IANA registry for 1012-1014: the codes an endpoint may send. 1004
 * is reserved, 1005, 1006 and 1015 are for reporting only, 1016-2999 are unassigned, 3000-3999
 * are registered for libraries and frameworks, 4000-4999 are private. */
static int close_code_ok(unsigned code)
{
    if (code >= 3000)
        return code <= 4999;
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

int ws_close_parse(const uint8_t *p, size_t len, unsigned *code)
{
    /* 5.5.1: the body is optional; when present it starts with a 2-byte code. */
    if (len == 0) {
        *code = WS_CLOSE_NO_STATUS;
        return 0;
    }
    if (len == 1)
        return HERD_E_PROTO;
    unsigned c = (unsigned)p[0] << 8 | p[1];
    if (!close_code_ok(c))
        return HERD_E_PROTO;
    /* The reason is UTF-8 (5.5.1), and invalid UTF-8 fails the connection (8.1). */
    if (!utf8_valid(p + 2, len - 2))
        return HERD_E_UTF8;
    *code = c;
    return 0;
}

int ws_msg_feed(struct ws_msg *m, const struct ws_frame *f, const uint8_t *p, int check_utf8)
{
    unsigned op = f->opcode;
    size_t len = (size_t)f->payload_len;

    /* 5.4: control frames may be injected in the middle of a fragmented message and are not
     * part of it. */
    if (op & 8) {
        if (op == WS_OP_CLOSE) {
            unsigned code;
            int rc = ws_close_parse(p, len, &code);
            return rc < 0 ? rc : 0;
        }
        return op == WS_OP_PING || op == WS_OP_PONG ? 0 : HERD_E_PROTO;
    }

    if (op == WS_OP_CONT) {
        /* A continuation needs a message in progress (5.4). */
        if (UNLIKELY(m->opcode == 0))
            return HERD_E_PROTO;
    } else if (LIKELY(op == WS_OP_TEXT || op == WS_OP_BINARY)) {
        /* Messages do not interleave: no new data frame until the last one ended (5.4). */
        if (UNLIKELY(m->opcode != 0))
            return HERD_E_PROTO;
        m->opcode = (uint8_t)op;
        m->utf8 = UTF8_ACCEPT;
    } else {
        return HERD_E_PROTO;
    }

    /* 8.1: text must be valid UTF-8 as a whole; a fragment may end inside a character, so the
     * validator's state is carried from one fragment to the next and must be at a character
     * boundary only when the message ends. */
    if (m->opcode == WS_OP_TEXT && check_utf8) {
        m->utf8 = utf8_feed(m->utf8, p, len);
        if (UNLIKELY(m->utf8 == UTF8_REJECT || (f->fin && m->utf8 != UTF8_ACCEPT)))
            return HERD_E_UTF8;
    }
    if (f->fin) {
        m->opcode = 0;
        m->utf8 = UTF8_ACCEPT;
        return 1;
    }
    return 0;
}

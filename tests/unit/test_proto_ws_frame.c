/* test_proto_ws_frame.c - RFC 6455 frame codec, masking, message sequencing, close payloads. */
#include "base/err.h"
#include "proto/utf8.h"
#include "proto/ws.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NO_LIMIT UINT64_MAX

/* ---- input at the end of a page followed by a PROT_NONE page (picohttpparser's test.c), so
 * that a read past the end faults instead of passing silently ---- */
struct guard {
    uint8_t *base;
    size_t size;
};

static uint8_t *guard_put(struct guard *g, const uint8_t *src, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = (n + page - 1) / page;
    if (data_pages == 0)
        data_pages = 1;
    g->size = (data_pages + 1) * page;
    g->base = mmap(NULL, g->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->base == MAP_FAILED)
        abort();
    if (mprotect(g->base + data_pages * page, page, PROT_NONE) != 0)
        abort();
    uint8_t *p = g->base + data_pages * page - n;
    if (n)
        memcpy(p, src, n);
    return p;
}

static void guard_free(struct guard *g)
{
    munmap(g->base, g->size);
}

/* Decode with the input ending right before a PROT_NONE page. */
static int decode_guarded(const uint8_t *buf, size_t len, unsigned flags, uint64_t max,
                          struct ws_frame *f)
{
    struct guard g;
    uint8_t *p = guard_put(&g, buf, len);
    int rc = ws_frame_decode(p, len, flags, max, f);
    guard_free(&g);
    return rc;
}

/* Every strict prefix is HERD_E_AGAIN and the whole frame decodes to its length, all of it
 * against a guard page. For big frames only the prefixes around the head are guarded (an mmap
 * per prefix of 64 KiB would be slow), the rest use the plain buffer. */
static int every_split(const uint8_t *buf, size_t len, unsigned flags)
{
    struct ws_frame f;
    if (ws_frame_decode(buf, len, flags, NO_LIMIT, &f) != (int)len)
        return 0;
    size_t head_len = f.head_len;
    for (size_t i = 0; i < len; i++) {
        f.head_len = 0;
        int rc = i < 64 || len - i < 64 ? decode_guarded(buf, i, flags, NO_LIMIT, &f)
                                        : ws_frame_decode(buf, i, flags, NO_LIMIT, &f);
        if (rc != HERD_E_AGAIN)
            return 0;
        /* Once the head is in, and only then, f tells how long the frame is. */
        if (i < head_len ? f.head_len != 0
                         : f.head_len != head_len || f.head_len + f.payload_len != len)
            return 0;
    }
    return decode_guarded(buf, len, flags, NO_LIMIT, &f) == (int)len;
}

static uint8_t *unmasked_payload(const uint8_t *frame, const struct ws_frame *f, uint8_t *out)
{
    if (f->masked)
        ws_mask(out, frame + f->head_len, (size_t)f->payload_len, f->mask, 0);
    else
        memcpy(out, frame + f->head_len, (size_t)f->payload_len);
    return out;
}

/* ---- RFC 6455 5.7 examples ---- */
static void test_rfc_examples(void)
{
    struct ws_frame f;
    uint8_t pl[16];

    static const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    CHECK_EQ_I64(ws_frame_decode(hello, sizeof hello, WS_F_EXPECT_UNMASKED, NO_LIMIT, &f), 7);
    CHECK(f.fin == 1 && f.rsv == 0 && f.opcode == WS_OP_TEXT && f.masked == 0);
    CHECK_EQ_U64(f.head_len, 2);
    CHECK_EQ_U64(f.payload_len, 5);
    CHECK_EQ_MEM(hello + 2, "Hello", 5);
    CHECK(every_split(hello, sizeof hello, WS_F_EXPECT_UNMASKED));

    static const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                     0x7f, 0x9f, 0x4d, 0x51, 0x58};
    CHECK_EQ_I64(ws_frame_decode(masked, sizeof masked, WS_F_EXPECT_MASKED, NO_LIMIT, &f), 11);
    CHECK(f.fin == 1 && f.opcode == WS_OP_TEXT && f.masked == 1);
    CHECK_EQ_U64(f.head_len, 6);
    CHECK_EQ_MEM(f.mask, "\x37\xfa\x21\x3d", 4);
    CHECK_EQ_MEM(unmasked_payload(masked, &f, pl), "Hello", 5);
    CHECK(every_split(masked, sizeof masked, WS_F_EXPECT_MASKED));

    /* Encoding gives the same bytes. */
    uint8_t out[WS_MAX_HEAD + 5];
    size_t h = ws_frame_head_encode(out, 1, 0, WS_OP_TEXT, 5, NULL);
    CHECK_EQ_U64(h, 2);
    memcpy(out + h, "Hello", 5);
    CHECK_EQ_MEM(out, hello, sizeof hello);
    h = ws_frame_head_encode(out, 1, 0, WS_OP_TEXT, 5, (const uint8_t *)"\x37\xfa\x21\x3d");
    CHECK_EQ_U64(h, 6);
    ws_mask(out + h, (const uint8_t *)"Hello", 5, out + 2, 0);
    CHECK_EQ_MEM(out, masked, sizeof masked);

    /* A fragmented unmasked text message. */
    static const uint8_t frag1[] = {0x01, 0x03, 0x48, 0x65, 0x6c};
    static const uint8_t frag2[] = {0x80, 0x02, 0x6c, 0x6f};
    struct ws_msg m = {0};
    CHECK_EQ_I64(ws_frame_decode(frag1, sizeof frag1, WS_F_EXPECT_UNMASKED, NO_LIMIT, &f), 5);
    CHECK(f.fin == 0 && f.opcode == WS_OP_TEXT);
    CHECK_EQ_I64(ws_msg_feed(&m, &f, frag1 + 2, 1), 0);
    CHECK_EQ_I64(ws_frame_decode(frag2, sizeof frag2, WS_F_EXPECT_UNMASKED, NO_LIMIT, &f), 4);
    CHECK(f.fin == 1 && f.opcode == WS_OP_CONT);
    CHECK_EQ_I64(ws_msg_feed(&m, &f, frag2 + 2, 1), 1);
    CHECK(every_split(frag1, sizeof frag1, 0));
    CHECK(every_split(frag2, sizeof frag2, 0));

    /* Unmasked ping, masked pong. */
    static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    CHECK_EQ_I64(ws_frame_decode(ping, sizeof ping, WS_F_EXPECT_UNMASKED, NO_LIMIT, &f), 7);
    CHECK(f.fin == 1 && f.opcode == WS_OP_PING && f.payload_len == 5);
    CHECK(every_split(ping, sizeof ping, WS_F_EXPECT_UNMASKED));
    static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                   0x7f, 0x9f, 0x4d, 0x51, 0x58};
    CHECK_EQ_I64(ws_frame_decode(pong, sizeof pong, WS_F_EXPECT_MASKED, NO_LIMIT, &f), 11);
    CHECK(f.opcode == WS_OP_PONG && f.masked);
    CHECK_EQ_MEM(unmasked_payload(pong, &f, pl), "Hello", 5);
    CHECK(every_split(pong, sizeof pong, WS_F_EXPECT_MASKED));

    /* 256 bytes of binary data in one unmasked frame: 0x82 0x7E 0x0100. */
    uint8_t *big = malloc(10 + 65536);
    big[0] = 0x82, big[1] = 0x7e, big[2] = 0x01, big[3] = 0x00;
    for (int i = 0; i < 256; i++)
        big[4 + i] = (uint8_t)i;
    CHECK_EQ_I64(ws_frame_decode(big, 260, WS_F_EXPECT_UNMASKED, NO_LIMIT, &f), 260);
    CHECK(f.opcode == WS_OP_BINARY && f.head_len == 4 && f.payload_len == 256);
    CHECK(every_split(big, 260, WS_F_EXPECT_UNMASKED));

    /* 64 KiB in one unmasked frame: 0x82 0x7F 0x0000000000010000. */
    static const uint8_t head64[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0};
    memcpy(big, head64, 10);
    memset(big + 10, 'x', 65536);
    CHECK_EQ_I64(ws_frame_decode(big, 10 + 65536, WS_F_EXPECT_UNMASKED, NO_LIMIT, &f), 65546);
    CHECK(f.opcode == WS_OP_BINARY && f.head_len == 10 && f.payload_len == 65536);
    CHECK(every_split(big, 10 + 65536, WS_F_EXPECT_UNMASKED));
    uint8_t eh[WS_MAX_HEAD];
    CHECK_EQ_U64(ws_frame_head_encode(eh, 1, 0, WS_OP_BINARY, 65536, NULL), 10);
    CHECK_EQ_MEM(eh, head64, 10);
    free(big);
}

/* ---- length forms ---- */
static void test_lengths(void)
{
    static const struct {
        uint64_t len;
        size_t head;
    } cases[] = {{0, 2},
                 {1, 2},
                 {125, 2},
                 {126, 4},
                 {127, 4},
                 {65535, 4},
                 {65536, 10},
                 {65537, 10},
                 {1ull << 32, 10},
                 {1ull << 62, 10},
                 {(1ull << 63) - 1, 10}};
    static const uint8_t key[4] = {1, 2, 3, 4};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int masked = 0; masked < 2; masked++) {
            uint8_t h[WS_MAX_HEAD];
            struct ws_frame f;
            memset(&f, 0xee, sizeof f);
            size_t n =
                ws_frame_head_encode(h, 1, 0, WS_OP_BINARY, cases[i].len, masked ? key : NULL);
            CHECK_EQ_U64(n, cases[i].head + (masked ? 4 : 0));
            /* Only the head is there: AGAIN (or the whole frame when the payload is empty). */
            int rc = decode_guarded(h, n, 0, NO_LIMIT, &f);
            if (cases[i].len == 0) {
                CHECK_EQ_I64(rc, (int)n);
            } else if (cases[i].len > INT32_MAX - WS_MAX_HEAD) {
                CHECK_EQ_I64(rc, HERD_E_TOO_BIG); /* would not fit the int returned */
                continue;
            } else {
                CHECK_EQ_I64(rc, HERD_E_AGAIN);
            }
            CHECK_EQ_U64(f.head_len, n);
            CHECK_EQ_U64(f.payload_len, cases[i].len);
            CHECK_EQ_U64(f.masked, masked);
            if (masked)
                CHECK_EQ_MEM(f.mask, key, 4);
            /* A head one byte short is AGAIN without a verdict on the length. */
            CHECK_EQ_I64(decode_guarded(h, n - 1, 0, NO_LIMIT, &f), HERD_E_AGAIN);
            /* The limit. */
            CHECK_EQ_I64(decode_guarded(h, n, 0, cases[i].len ? cases[i].len - 1 : 0, &f),
                         cases[i].len ? HERD_E_TOO_BIG : (int)n);
        }
    }

    /* 64-bit length with the most significant bit set. */
    static const uint8_t msb[] = {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0};
    struct ws_frame f;
    CHECK_EQ_I64(decode_guarded(msb, sizeof msb, 0, NO_LIMIT, &f), HERD_E_PROTO);
    static const uint8_t msb2[] = {0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ_I64(decode_guarded(msb2, sizeof msb2, 0, NO_LIMIT, &f), HERD_E_PROTO);

    /* Non-minimal encodings. */
    static const uint8_t nm16_0[] = {0x82, 0x7e, 0x00, 0x00};
    static const uint8_t nm16_125[] = {0x82, 0x7e, 0x00, 0x7d};
    static const uint8_t ok16_126[] = {0x82, 0x7e, 0x00, 0x7e};
    static const uint8_t nm64_5[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 5};
    static const uint8_t nm64_126[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 126};
    static const uint8_t nm64_65535[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t ok64_65536[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0};
    CHECK_EQ_I64(decode_guarded(nm16_0, 4, 0, NO_LIMIT, &f), HERD_E_PROTO);
    CHECK_EQ_I64(decode_guarded(nm16_125, 4, 0, NO_LIMIT, &f), HERD_E_PROTO);
    CHECK_EQ_I64(decode_guarded(ok16_126, 4, 0, NO_LIMIT, &f), HERD_E_AGAIN);
    CHECK_EQ_I64(decode_guarded(nm64_5, 10, 0, NO_LIMIT, &f), HERD_E_PROTO);
    CHECK_EQ_I64(decode_guarded(nm64_126, 10, 0, NO_LIMIT, &f), HERD_E_PROTO);
    CHECK_EQ_I64(decode_guarded(nm64_65535, 10, 0, NO_LIMIT, &f), HERD_E_PROTO);
    CHECK_EQ_I64(decode_guarded(ok64_65536, 10, 0, NO_LIMIT, &f), HERD_E_AGAIN);
    /* Before the extended length is complete the verdict waits. */
    CHECK_EQ_I64(decode_guarded(nm16_0, 3, 0, NO_LIMIT, &f), HERD_E_AGAIN);
    CHECK_EQ_I64(decode_guarded(nm64_5, 9, 0, NO_LIMIT, &f), HERD_E_AGAIN);
    CHECK_EQ_I64(decode_guarded(msb, 9, 0, NO_LIMIT, &f), HERD_E_AGAIN);
}

/* ---- header rule violations ---- */
static void test_violations(void)
{
    struct ws_frame f;
    uint8_t b[8] = {0};

    /* Reserved opcodes 3-7 and B-F, found with just two bytes. */
    int bad = 0;
    for (unsigned op = 0; op < 16; op++) {
        int known = op <= 2 || (op >= 8 && op <= 10);
        b[0] = (uint8_t)(0x80 | op), b[1] = 0;
        int rc = decode_guarded(b, 2, 0, NO_LIMIT, &f);
        CHECK_QUIET(known ? rc == 2 : rc == HERD_E_PROTO, bad);
        CHECK_QUIET(decode_guarded(b, 1, 0, NO_LIMIT, &f) == HERD_E_AGAIN, bad);
    }
    CHECK_EQ_U64(bad, 0);
    b[0] = 0x83, b[1] = 0;
    CHECK_EQ_I64(decode_guarded(b, 2, 0, NO_LIMIT, &f), HERD_E_PROTO);
    b[0] = 0x8b;
    CHECK_EQ_I64(decode_guarded(b, 2, 0, NO_LIMIT, &f), HERD_E_PROTO);
    b[0] = 0x8f;
    CHECK_EQ_I64(decode_guarded(b, 2, 0, NO_LIMIT, &f), HERD_E_PROTO);

    /* Control frames: at most 125 bytes, never fragmented (5.5). */
    static const uint8_t ctl_ops[] = {WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG};
    for (size_t i = 0; i < 3; i++) {
        b[0] = (uint8_t)(0x80 | ctl_ops[i]);
        b[1] = 125;
        CHECK_EQ_I64(decode_guarded(b, 2, 0, NO_LIMIT, &f), HERD_E_AGAIN);
        b[1] = 126, b[2] = 0, b[3] = 126;
        CHECK_EQ_I64(decode_guarded(b, 2, 0, NO_LIMIT, &f), HERD_E_PROTO);
        CHECK_EQ_I64(decode_guarded(b, 4, 0, NO_LIMIT, &f), HERD_E_PROTO);
        b[1] = 127;
        CHECK_EQ_I64(decode_guarded(b, 2, 0, NO_LIMIT, &f), HERD_E_PROTO);
        b[0] = ctl_ops[i], b[1] = 0; /* FIN clear */
        CHECK_EQ_I64(decode_guarded(b, 2, 0, NO_LIMIT, &f), HERD_E_PROTO);
    }

    /* RSV bits. */
    b[1] = 0;
    b[0] = 0xc1; /* RSV1, text */
    CHECK_EQ_I64(decode_guarded(b, 2, 0, NO_LIMIT, &f), HERD_E_PROTO);
    CHECK_EQ_I64(decode_guarded(b, 2, WS_F_ALLOW_RSV1, NO_LIMIT, &f), 2);
    CHECK_EQ_U64(f.rsv, 4);
    b[0] = 0xc2; /* RSV1, binary */
    CHECK_EQ_I64(decode_guarded(b, 2, WS_F_ALLOW_RSV1, NO_LIMIT, &f), 2);
    b[0] = 0x41; /* RSV1 on the first fragment */
    CHECK_EQ_I64(decode_guarded(b, 2, WS_F_ALLOW_RSV1, NO_LIMIT, &f), 2);
    b[0] = 0xc0; /* RSV1 on a continuation (RFC 7692 6.1) */
    CHECK_EQ_I64(decode_guarded(b, 2, WS_F_ALLOW_RSV1, NO_LIMIT, &f), HERD_E_PROTO);
    b[0] = 0xc9; /* RSV1 on a ping */
    CHECK_EQ_I64(decode_guarded(b, 2, WS_F_ALLOW_RSV1, NO_LIMIT, &f), HERD_E_PROTO);
    b[0] = 0xa1; /* RSV2 */
    CHECK_EQ_I64(decode_guarded(b, 2, WS_F_ALLOW_RSV1, NO_LIMIT, &f), HERD_E_PROTO);
    b[0] = 0x91; /* RSV3 */
    CHECK_EQ_I64(decode_guarded(b, 2, WS_F_ALLOW_RSV1, NO_LIMIT, &f), HERD_E_PROTO);
    b[0] = 0xf1;
    CHECK_EQ_I64(decode_guarded(b, 2, 0, NO_LIMIT, &f), HERD_E_PROTO);

    /* Masking contrary to the role (5.1). */
    b[0] = 0x81, b[1] = 0x80;
    CHECK_EQ_I64(decode_guarded(b, 6, WS_F_EXPECT_MASKED, NO_LIMIT, &f), 6);
    CHECK_EQ_I64(decode_guarded(b, 2, WS_F_EXPECT_UNMASKED, NO_LIMIT, &f), HERD_E_PROTO);
    CHECK_EQ_I64(decode_guarded(b, 6, 0, NO_LIMIT, &f), 6);
    CHECK_EQ_I64(decode_guarded(b, 5, 0, NO_LIMIT, &f), HERD_E_AGAIN);
    b[1] = 0x00;
    CHECK_EQ_I64(decode_guarded(b, 2, WS_F_EXPECT_MASKED, NO_LIMIT, &f), HERD_E_PROTO);
    CHECK_EQ_I64(decode_guarded(b, 2, WS_F_EXPECT_UNMASKED, NO_LIMIT, &f), 2);

    /* max_payload. */
    static const uint8_t five[] = {0x82, 0x05, 1, 2, 3, 4, 5};
    CHECK_EQ_I64(decode_guarded(five, 7, 0, 4, &f), HERD_E_TOO_BIG);
    CHECK_EQ_I64(decode_guarded(five, 2, 0, 4, &f), HERD_E_TOO_BIG); /* known from the head */
    CHECK_EQ_I64(decode_guarded(five, 7, 0, 5, &f), 7);
    static const uint8_t k256[] = {0x82, 0x7e, 0x01, 0x00};
    CHECK_EQ_I64(decode_guarded(k256, 4, 0, 255, &f), HERD_E_TOO_BIG);
    CHECK_EQ_I64(decode_guarded(k256, 4, 0, 256, &f), HERD_E_AGAIN);
}

/* ---- encode then decode ---- */
static void test_round_trip(void)
{
    static const uint64_t extra[] = {1000, 4095, 4096, 65534, 65535, 65536, 65537, 100000};
    uint8_t *buf = malloc(WS_MAX_HEAD + 100000 + 1);
    uint8_t *pl = malloc(100000);
    uint8_t *back = malloc(100000);
    int bad = 0, n_frames = 0;
    for (size_t k = 0; k < 300 + sizeof extra / 8; k++) {
        uint64_t len = k < 300 ? k : extra[k - 300];
        for (size_t i = 0; i < len; i++)
            pl[i] = (uint8_t)(i * 7 + k);
        for (unsigned variant = 0; variant < 8; variant++) {
            int masked = variant & 1, fin = (variant >> 1) & 1;
            unsigned op = (variant >> 2) & 1 ? WS_OP_BINARY : WS_OP_TEXT;
            unsigned rsv = fin ? 4 : 0;
            uint8_t key[4] = {(uint8_t)k, 0xa5, (uint8_t)(k >> 8), 0x3c};
            size_t h = ws_frame_head_encode(buf, fin, rsv, op, len, masked ? key : NULL);
            if (masked)
                ws_mask(buf + h, pl, (size_t)len, key, 0);
            else
                memcpy(buf + h, pl, (size_t)len);
            unsigned flags = WS_F_ALLOW_RSV1 | (masked ? WS_F_EXPECT_MASKED : WS_F_EXPECT_UNMASKED);
            struct ws_frame f;
            int rc = ws_frame_decode(buf, h + len, flags, NO_LIMIT, &f);
            CHECK_QUIET(rc == (int)(h + len), bad);
            CHECK_QUIET(f.fin == fin && f.rsv == rsv && f.opcode == op && f.masked == masked &&
                            f.head_len == h && f.payload_len == len,
                        bad);
            /* The minimal length form, and nothing longer. */
            CHECK_QUIET(h == (len < 126 ? 2u : len < 65536 ? 4u : 10u) + (masked ? 4u : 0u), bad);
            /* Bytes after the frame are not part of it. */
            buf[h + len] = 0x81;
            CHECK_QUIET(ws_frame_decode(buf, h + len + 1, flags, NO_LIMIT, &f) == rc, bad);
            CHECK_QUIET(ws_frame_decode(buf, h + len - 1, flags, NO_LIMIT, &f) == HERD_E_AGAIN,
                        bad);
            CHECK_QUIET(memcmp(unmasked_payload(buf, &f, back), pl, (size_t)len) == 0, bad);
            n_frames++;
        }
    }
    CHECK_EQ_U64(bad, 0);
    CHECK(n_frames > 2000);

    /* Every split of a few frames of each form, guarded. */
    static const uint64_t split_lens[] = {0, 1, 125, 126, 300, 65535, 65536};
    bad = 0;
    for (size_t i = 0; i < sizeof split_lens / 8; i++) {
        uint64_t len = split_lens[i];
        size_t h =
            ws_frame_head_encode(buf, 1, 0, WS_OP_BINARY, len, (const uint8_t *)"\x11\x22\x33\x44");
        memset(buf + h, 0x5a, (size_t)len);
        CHECK_QUIET(every_split(buf, h + len, WS_F_EXPECT_MASKED), bad);
    }
    CHECK_EQ_U64(bad, 0);
    free(buf);
    free(pl);
    free(back);
}

/* ---- masking ---- */
static void ref_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4],
                     size_t offset)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = src[i] ^ key[(offset + i) % 4];
}

static void test_mask(void)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    uint8_t src[128], dst[128], want[128], inplace[128];
    int bad = 0;
    for (size_t len = 0; len <= 100; len++) {
        for (size_t offset = 0; offset < 4; offset++) {
            for (size_t sa = 0; sa < 8; sa++) {
                for (size_t da = 0; da < 8; da++) {
                    for (size_t i = 0; i < len; i++)
                        src[sa + i] = (uint8_t)(i * 31 + len + 1);
                    memset(dst, 0xcc, sizeof dst);
                    ref_mask(want, src + sa, len, key, offset);
                    ws_mask(dst + da, src + sa, len, key, offset);
                    CHECK_QUIET(memcmp(dst + da, want, len) == 0, bad);
                    /* No byte outside [da, da + len) is written. */
                    for (size_t i = 0; i < da; i++)
                        CHECK_QUIET(dst[i] == 0xcc, bad);
                    for (size_t i = da + len; i < sizeof dst; i++)
                        CHECK_QUIET(dst[i] == 0xcc, bad);
                }
                /* In place. */
                memcpy(inplace + sa, src + sa, len);
                ws_mask(inplace + sa, inplace + sa, len, key, offset);
                CHECK_QUIET(memcmp(inplace + sa, want, len) == 0, bad);
            }
        }
    }
    CHECK_EQ_U64(bad, 0);

    /* Unmasking in pieces with the running offset equals unmasking at once. */
    bad = 0;
    for (size_t len = 0; len <= 100; len++) {
        for (size_t cut = 0; cut <= len; cut++) {
            for (size_t i = 0; i < len; i++)
                src[i] = (uint8_t)(i ^ 0x5a);
            ref_mask(want, src, len, key, 0);
            ws_mask(dst, src, cut, key, 0);
            ws_mask(dst + cut, src + cut, len - cut, key, cut);
            CHECK_QUIET(memcmp(dst, want, len) == 0, bad);
        }
    }
    CHECK_EQ_U64(bad, 0);

    /* Near the guard page, so a word-sized overread would fault. */
    bad = 0;
    for (size_t len = 0; len <= 40; len++) {
        struct guard g;
        uint8_t *p = guard_put(&g, src, len);
        ref_mask(want, src, len, key, 1);
        ws_mask(p, p, len, key, 1);
        CHECK_QUIET(memcmp(p, want, len) == 0, bad);
        guard_free(&g);
    }
    CHECK_EQ_U64(bad, 0);
    /* Masking twice is the identity. */
    for (size_t i = 0; i < 100; i++)
        src[i] = (uint8_t)i;
    ws_mask(dst, src, 100, key, 3);
    ws_mask(dst, dst, 100, key, 3);
    CHECK_EQ_MEM(dst, src, 100);
}

/* ---- message sequencing ---- */
static struct ws_frame mkframe(int fin, unsigned op, size_t len)
{
    struct ws_frame f = {0};
    f.fin = (uint8_t)fin;
    f.opcode = (uint8_t)op;
    f.payload_len = len;
    return f;
}

static int feed(struct ws_msg *m, int fin, unsigned op, const char *p, int check)
{
    struct ws_frame f = mkframe(fin, op, strlen(p));
    return ws_msg_feed(m, &f, (const uint8_t *)p, check);
}

static void test_msg(void)
{
    struct ws_msg m = {0};
    CHECK_EQ_U64(sizeof m, 8);

    /* Fragmented text with a ping between the fragments. */
    CHECK_EQ_I64(feed(&m, 0, WS_OP_TEXT, "Hel", 1), 0);
    CHECK_EQ_I64(feed(&m, 1, WS_OP_PING, "ping", 1), 0);
    CHECK_EQ_I64(feed(&m, 1, WS_OP_PONG, "", 1), 0);
    CHECK_EQ_I64(feed(&m, 0, WS_OP_CONT, "l", 1), 0);
    CHECK_EQ_I64(feed(&m, 1, WS_OP_CONT, "o", 1), 1);
    CHECK_EQ_U64(m.opcode, 0);
    /* Then an unfragmented one. */
    CHECK_EQ_I64(feed(&m, 1, WS_OP_BINARY, "\xff\xfe", 1), 1);
    CHECK_EQ_I64(feed(&m, 1, WS_OP_TEXT, "", 1), 1);

    /* Continuation without a started message. */
    struct ws_msg m2 = {0};
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_CONT, "x", 1), HERD_E_PROTO);
    m2 = (struct ws_msg){0};
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_CONT, "x", 1), HERD_E_PROTO);

    /* A new data frame inside a message. */
    m2 = (struct ws_msg){0};
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_TEXT, "a", 1), 0);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_BINARY, "b", 1), HERD_E_PROTO);
    m2 = (struct ws_msg){0};
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_BINARY, "a", 1), 0);
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_TEXT, "b", 1), HERD_E_PROTO);

    /* Invalid UTF-8 split across fragments. */
    m2 = (struct ws_msg){0};
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_TEXT, "ok \xe2\x82", 1), 0);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_CONT, "(", 1), HERD_E_UTF8);
    m2 = (struct ws_msg){0};
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_TEXT, "\xed", 1), 0);
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_CONT, "\xa0", 1), HERD_E_UTF8); /* a surrogate */
    /* A message that ends inside a character. */
    m2 = (struct ws_msg){0};
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_TEXT, "a", 1), 0);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_CONT, "\xe2\x82", 1), HERD_E_UTF8);
    m2 = (struct ws_msg){0};
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_TEXT, "\xf0\x9f\x98", 1), HERD_E_UTF8);

    /* Valid multi-byte characters split across fragments, with a ping in the middle. */
    m2 = (struct ws_msg){0};
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_TEXT, "\xe2", 1), 0);
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_CONT, "\x82", 1), 0);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_PING, "\xff", 1), 0); /* ping payload is not text */
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_CONT, "\xac\xf0\x9f", 1), 0);
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_CONT, "", 1), 0);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_CONT, "\x98\x80", 1), 1);

    /* Binary messages and check_utf8 = 0 skip validation. */
    m2 = (struct ws_msg){0};
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_BINARY, "\xff", 1), 1);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_TEXT, "\xff", 0), 1);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_TEXT, "\xff", 1), HERD_E_UTF8);

    /* Close frames are checked, between fragments too. */
    m2 = (struct ws_msg){0};
    CHECK_EQ_I64(feed(&m2, 0, WS_OP_TEXT, "a", 1), 0);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_CLOSE,
                      "\x03\xe8"
                      "bye",
                      1),
                 0);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_CLOSE, "\x03", 1), HERD_E_PROTO);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_CLOSE, "\x03\xed", 1), HERD_E_PROTO);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_CLOSE, "\x03\xe8\xff", 1), HERD_E_UTF8);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_CLOSE, "", 1), 0);
    CHECK_EQ_I64(feed(&m2, 1, WS_OP_CONT, "b", 1), 1);

    /* Reserved opcodes handed in directly. */
    m2 = (struct ws_msg){0};
    CHECK_EQ_I64(feed(&m2, 1, 3, "", 1), HERD_E_PROTO);
    CHECK_EQ_I64(feed(&m2, 1, 0xb, "", 1), HERD_E_PROTO);

    /* Decoding and feeding a fragmented masked message end to end. */
    uint8_t wire[64];
    size_t n = 0;
    static const uint8_t key[4] = {9, 8, 7, 6};
    const char *parts[] = {"caf", "\xc3", "\xa9!"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(parts[i]);
        n += ws_frame_head_encode(wire + n, i == 2, 0, i ? WS_OP_CONT : WS_OP_TEXT, l, key);
        ws_mask(wire + n, (const uint8_t *)parts[i], l, key, 0);
        n += l;
    }
    m2 = (struct ws_msg){0};
    size_t at = 0;
    int last = -1, frames = 0;
    while (at < n) {
        struct ws_frame f;
        int rc = ws_frame_decode(wire + at, n - at, WS_F_EXPECT_MASKED, 1 << 20, &f);
        if (rc < 0)
            break;
        uint8_t pl[16];
        ws_mask(pl, wire + at + f.head_len, (size_t)f.payload_len, f.mask, 0);
        last = ws_msg_feed(&m2, &f, pl, 1);
        at += (size_t)rc;
        frames++;
    }
    CHECK_EQ_U64(frames, 3);
    CHECK_EQ_I64(last, 1);
    CHECK_EQ_U64(at, n);
}

/* ---- close payloads ---- */
static int close_code(unsigned code, const char *reason, unsigned *out)
{
    uint8_t b[64];
    b[0] = (uint8_t)(code >> 8), b[1] = (uint8_t)code;
    size_t n = strlen(reason);
    memcpy(b + 2, reason, n);
    return ws_close_parse(b, 2 + n, out);
}

static void test_close(void)
{
    unsigned code = 0;
    CHECK_EQ_I64(ws_close_parse(NULL, 0, &code), 0);
    CHECK_EQ_U64(code, WS_CLOSE_NO_STATUS);
    CHECK_EQ_I64(ws_close_parse((const uint8_t *)"\x03", 1, &code), HERD_E_PROTO);

    static const unsigned invalid[] = {0,    1,    999,  1004, 1005, 1006, 1015,
                                       1016, 1100, 2000, 2999, 5000, 6000, 65535};
    int bad = 0;
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        CHECK_QUIET(close_code(invalid[i], "", &code) == HERD_E_PROTO, bad);
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_I64(close_code(1004, "", &code), HERD_E_PROTO);
    CHECK_EQ_I64(close_code(5000, "", &code), HERD_E_PROTO);

    static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                     1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        code = 0;
        CHECK_QUIET(close_code(valid[i], "", &code) == 0 && code == valid[i], bad);
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_I64(close_code(1000, "", &code), 0);
    CHECK_EQ_U64(code, 1000);
    CHECK_EQ_I64(close_code(1001, "going away", &code), 0);
    CHECK_EQ_U64(code, 1001);
    CHECK_EQ_I64(close_code(3000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", &code), 0);
    CHECK_EQ_U64(code, 3000);
    CHECK_EQ_I64(close_code(4999, "x", &code), 0);
    CHECK_EQ_U64(code, 4999);

    /* Invalid UTF-8 reasons. */
    CHECK_EQ_I64(close_code(1000, "\xff", &code), HERD_E_UTF8);
    CHECK_EQ_I64(close_code(1000, "ok\xe2\x82", &code), HERD_E_UTF8); /* truncated */
    CHECK_EQ_I64(close_code(1000, "\xed\xa0\x80", &code), HERD_E_UTF8);
    CHECK_EQ_I64(close_code(1000, "\xc0\x80", &code), HERD_E_UTF8);
    /* An invalid code is reported before the reason is looked at. */
    CHECK_EQ_I64(close_code(999, "\xff", &code), HERD_E_PROTO);
}

/* The one frame builder: what it writes decodes to what was given, on both sides, with the
 * RSV bits passed through; and a close frame carries its code. */
static void test_encode(void)
{
    static uint8_t payload[70000], out[70000 + WS_MAX_HEAD], back[70000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    static const size_t lens[] = {0, 1, 125, 126, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (int masked = 0; masked < 2; masked++) {
            size_t n = ws_frame_encode(out, sizeof out, 1, 4, WS_OP_BINARY, payload, lens[i],
                                       masked ? key : NULL);
            struct ws_frame f;
            unsigned fl = (masked ? WS_F_EXPECT_MASKED : WS_F_EXPECT_UNMASKED) | WS_F_ALLOW_RSV1;
            CHECK_EQ_I64(ws_frame_decode(out, n, fl, UINT64_MAX, &f), (int64_t)n);
            CHECK_EQ_U64(f.payload_len, lens[i]);
            CHECK_EQ_I64(f.rsv, 4);
            CHECK_EQ_I64(f.fin, 1);
            ws_mask(back, out + f.head_len, lens[i], f.mask, 0);
            if (!masked)
                memcpy(back, out + f.head_len, lens[i]);
            CHECK_EQ_MEM(back, payload, lens[i]);
        }
    }
    /* Too small an output: 0, nothing written past cap. */
    CHECK_EQ_U64(ws_frame_encode(out, 20, 1, 0, WS_OP_TEXT, payload, 7, NULL), 0);
    CHECK_EQ_U64(ws_frame_encode(out, 21, 1, 0, WS_OP_TEXT, payload, 7, NULL), 9);

    uint8_t c[WS_MAX_HEAD + 2];
    size_t n = ws_close_encode(c, WS_CLOSE_TOO_BIG, NULL);
    CHECK_EQ_U64(n, 4);
    CHECK(c[0] == 0x88 && c[1] == 2 && c[2] == 0x03 && c[3] == 0xf1);
    unsigned code = 0;
    CHECK_EQ_I64(ws_close_parse(c + 2, 2, &code), 0);
    CHECK_EQ_U64(code, 1009);
    n = ws_close_encode(c, WS_CLOSE_NO_STATUS, key);
    CHECK_EQ_U64(n, 6);
    CHECK(c[0] == 0x88 && c[1] == 0x80);
    n = ws_close_encode(c, WS_CLOSE_NORMAL, key);
    CHECK_EQ_U64(n, 8);
    struct ws_frame f;
    CHECK_EQ_I64(ws_frame_decode(c, n, WS_F_EXPECT_MASKED, 125, &f), 8);
    uint8_t pl[2];
    ws_mask(pl, c + f.head_len, 2, f.mask, 0);
    CHECK(pl[0] == 0x03 && pl[1] == 0xe8);
}

/* An incomplete header says so with head_len 0, whatever f held before: callers size the bytes
 * they keep by it (a stale value once made the client ask its pool for terabytes). */
static void test_incomplete_head_len(void)
{
    static const uint8_t frames[][14] = {
        {0x81, 0x05},
        {0x82, 126, 0x01, 0x00},
        {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0},
        {0x81, 0x85, 1, 2, 3, 4},
    };
    static const size_t lens[] = {2, 4, 10, 6};
    static const unsigned fl[] = {WS_F_EXPECT_UNMASKED, WS_F_EXPECT_UNMASKED, WS_F_EXPECT_UNMASKED,
                                  WS_F_EXPECT_MASKED};
    int bad = 0;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (size_t cut = 0; cut < lens[i]; cut++) {
            struct ws_frame f;
            memset(&f, 0xa5, sizeof f);
            int rc = ws_frame_decode(frames[i], cut, fl[i], UINT64_MAX, &f);
            CHECK_QUIET(rc == HERD_E_AGAIN && f.head_len == 0, bad);
        }
    }
    CHECK_EQ_I64(bad, 0);
}

int main(void)
{
    test_encode();
    test_incomplete_head_len();
    test_rfc_examples();
    test_lengths();
    test_violations();
    test_round_trip();
    test_mask();
    test_msg();
    test_close();
    return tap_done();
}

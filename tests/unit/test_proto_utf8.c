/* test_proto_utf8.c - the incremental UTF-8 validator against a plain decoding reference. */
#include "proto/utf8.h"
#include "tap.h"

#include <stdint.h>
#include <string.h>

/* Reference: decode each character and check RFC 3629's rules on the scalar value. */
static int ref_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t j = 1; j < len; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

#define V(s) utf8_valid((const uint8_t *)(s), sizeof(s) - 1)

static void test_vectors(void)
{
    CHECK(V(""));
    CHECK(V("hello, world"));
    CHECK(V("\x7f"));
    CHECK(V("\xc2\x80")); /* U+0080 */
    CHECK(V("\xdf\xbf")); /* U+07FF */
    CHECK(V("\xe0\xa0\x80")); /* U+0800 */
    CHECK(V("\xe2\x82\xac")); /* euro sign */
    CHECK(V("\xed\x9f\xbf")); /* U+D7FF, just below the surrogates */
    CHECK(V("\xee\x80\x80")); /* U+E000, just above */
    CHECK(V("\xef\xbf\xbf")); /* U+FFFF */
    CHECK(V("\xf0\x90\x80\x80")); /* U+10000 */
    CHECK(V("\xf0\x9f\x98\x80")); /* an emoji */
    CHECK(V("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
    CHECK(V("\xce\xba\xe1\xbd\xb9")); /* Greek "kosme", Autobahn 6.2 */

    CHECK(!V("\xc0\x80")); /* overlong NUL */
    CHECK(!V("\xc1\xbf")); /* overlong */
    CHECK(!V("\xe0\x80\x80")); /* overlong */
    CHECK(!V("\xe0\x9f\xbf")); /* overlong U+07FF */
    CHECK(!V("\xf0\x80\x80\x80")); /* overlong */
    CHECK(!V("\xf0\x8f\xbf\xbf")); /* overlong U+FFFF */
    CHECK(!V("\xed\xa0\x80")); /* surrogate U+D800 */
    CHECK(!V("\xed\xbf\xbf")); /* surrogate U+DFFF */
    CHECK(!V("\xf4\x90\x80\x80")); /* U+110000 */
    CHECK(!V("\xf5\x80\x80\x80")); /* lead byte above F4 */
    CHECK(!V("\xff")); /* never valid */
    CHECK(!V("\x80")); /* lone continuation */
    CHECK(!V("a\xbf")); /* lone continuation after ASCII */
    CHECK(!V("\xc2")); /* truncated 2-byte */
    CHECK(!V("\xe2\x82")); /* truncated 3-byte */
    CHECK(!V("\xf0\x9f\x98")); /* truncated 4-byte */
    CHECK(!V("\xe2\x82"
             "a")); /* interrupted by ASCII */
    CHECK(!V("\xce\xba\xe1\xbd\xb9\xed\xa0\x80"
             "edited"));

    /* A truncated sequence leaves the state "inside a character", neither verdict. */
    uint32_t st = utf8_feed(UTF8_ACCEPT, (const uint8_t *)"\xf0\x9f", 2);
    CHECK(st != UTF8_ACCEPT && st != UTF8_REJECT);
    CHECK_EQ_U64(utf8_feed(st, (const uint8_t *)"\x98\x80", 2), UTF8_ACCEPT);
    /* REJECT sticks; garbage states are rejected. */
    CHECK_EQ_U64(utf8_feed(UTF8_REJECT, (const uint8_t *)"abc", 3), UTF8_REJECT);
    CHECK_EQ_U64(utf8_feed(12345, (const uint8_t *)"abc", 3), UTF8_REJECT);
    CHECK_EQ_U64(utf8_feed(UTF8_ACCEPT, NULL, 0), UTF8_ACCEPT);
}

/* Every 1-, 2- and 3-byte string, and a dense set of 4-byte ones, against the reference. */
static void test_exhaustive(void)
{
    int bad = 0;
    uint8_t b[4];
    for (unsigned i = 0; i < 256; i++) {
        b[0] = (uint8_t)i;
        CHECK_QUIET(utf8_valid(b, 1) == ref_valid(b, 1), bad);
    }
    for (unsigned i = 0; i < 65536; i++) {
        b[0] = (uint8_t)(i >> 8), b[1] = (uint8_t)i;
        CHECK_QUIET(utf8_valid(b, 2) == ref_valid(b, 2), bad);
    }
    for (unsigned i = 0; i < (1u << 24); i++) {
        b[0] = (uint8_t)(i >> 16), b[1] = (uint8_t)(i >> 8), b[2] = (uint8_t)i;
        CHECK_QUIET(utf8_valid(b, 3) == ref_valid(b, 3), bad);
    }
    static const uint8_t edge[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    for (unsigned l = 0xe8; l <= 0xff; l++) {
        for (unsigned s = 0; s < 256; s++) {
            for (size_t x = 0; x < sizeof(edge); x++) {
                for (size_t y = 0; y < sizeof(edge); y++) {
                    b[0] = (uint8_t)l, b[1] = (uint8_t)s, b[2] = edge[x], b[3] = edge[y];
                    CHECK_QUIET(utf8_valid(b, 4) == ref_valid(b, 4), bad);
                }
            }
        }
    }
    CHECK_EQ_U64(bad, 0);
}

/* Splitting the input anywhere must not change the verdict. */
static int split_agrees(const uint8_t *p, size_t n)
{
    uint32_t whole = utf8_feed(UTF8_ACCEPT, p, n);
    for (size_t i = 0; i <= n; i++) {
        uint32_t st = utf8_feed(utf8_feed(UTF8_ACCEPT, p, i), p + i, n - i);
        if (st != whole)
            return 0;
    }
    uint32_t st = UTF8_ACCEPT;
    for (size_t i = 0; i < n; i++)
        st = utf8_feed(st, p + i, 1);
    return st == whole;
}

static void test_splits(void)
{
    static const char mixed[] = "ascii run of twenty+ \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 "
                                "\xe2\x82\xac 12345678 \xf0\x9f\x98\x80\xf4\x8f\xbf\xbf end";
    const uint8_t *m = (const uint8_t *)mixed;
    size_t n = sizeof(mixed) - 1;
    CHECK(utf8_valid(m, n));
    CHECK(split_agrees(m, n));

    /* The same with one byte corrupted at each position in turn. */
    uint8_t buf[sizeof(mixed)];
    int bad = 0;
    static const uint8_t junk[] = {0x80, 0xbf, 0xc0, 0xe0, 0xed, 0xf4, 0xff, 'a'};
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < sizeof(junk); j++) {
            memcpy(buf, m, n);
            buf[i] = junk[j];
            CHECK_QUIET(split_agrees(buf, n), bad);
            CHECK_QUIET(utf8_valid(buf, n) == ref_valid(buf, n), bad);
        }
    }
    CHECK_EQ_U64(bad, 0);
}

/* The 8-byte ASCII fast path at every alignment, with the first non-ASCII byte anywhere. */
static void test_fast_path(void)
{
    uint8_t buf[96];
    int bad = 0;
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; len <= 80; len++) {
            uint8_t *p = buf + off;
            memset(p, 'x', len);
            CHECK_QUIET(utf8_valid(p, len), bad);
            for (size_t k = 0; k < len; k++) {
                memset(p, 'x', len);
                p[k] = 0xff;
                CHECK_QUIET(!utf8_valid(p, len), bad);
                p[k] = 0x80;
                CHECK_QUIET(!utf8_valid(p, len), bad);
                if (k + 2 <= len) {
                    p[k] = 0xc3, p[k + 1] = 0xa9; /* e acute */
                    CHECK_QUIET(utf8_valid(p, len), bad);
                    p[k + 1] = 'x';
                    CHECK_QUIET(!utf8_valid(p, len), bad);
                }
            }
            /* A character cut by the end of the buffer stays pending, not accepted. */
            if (len) {
                memset(p, 'x', len);
                p[len - 1] = 0xe2;
                uint32_t st = utf8_feed(UTF8_ACCEPT, p, len);
                CHECK_QUIET(st != UTF8_ACCEPT && st != UTF8_REJECT, bad);
            }
        }
    }
    CHECK_EQ_U64(bad, 0);
}

/* Random strings built from valid characters with random damage, against the reference. */
static void test_random(void)
{
    uint8_t buf[64];
    int bad = 0, valid = 0;
    for (int round = 0; round < 200000; round++) {
        size_t n = 0;
        while (n < sizeof(buf) - 4) {
            unsigned kind = (unsigned)(rnd() % 6);
            uint32_t cp = (uint32_t)rnd();
            if (kind < 2) {
                buf[n++] = (uint8_t)(cp & 0x7f);
            } else if (kind == 2) {
                cp = 0x80 + cp % (0x800 - 0x80);
                buf[n++] = (uint8_t)(0xc0 | cp >> 6);
                buf[n++] = (uint8_t)(0x80 | (cp & 0x3f));
            } else if (kind == 3) {
                cp = 0x800 + cp % (0x10000 - 0x800);
                if (cp >= 0xd800 && cp <= 0xdfff)
                    cp -= 0x800;
                buf[n++] = (uint8_t)(0xe0 | cp >> 12);
                buf[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
                buf[n++] = (uint8_t)(0x80 | (cp & 0x3f));
            } else if (kind == 4) {
                cp = 0x10000 + cp % (0x110000 - 0x10000);
                buf[n++] = (uint8_t)(0xf0 | cp >> 18);
                buf[n++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
                buf[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
                buf[n++] = (uint8_t)(0x80 | (cp & 0x3f));
            } else {
                break;
            }
        }
        if (rnd() % 2 && n)
            buf[rnd() % n] = (uint8_t)rnd();
        int r = ref_valid(buf, n);
        valid += r;
        CHECK_QUIET(utf8_valid(buf, n) == r, bad);
        size_t cut = n ? (size_t)(rnd() % n) : 0;
        CHECK_QUIET(utf8_feed(utf8_feed(UTF8_ACCEPT, buf, cut), buf + cut, n - cut) ==
                        utf8_feed(UTF8_ACCEPT, buf, n),
                    bad);
    }
    CHECK_EQ_U64(bad, 0);
    CHECK(valid > 1000); /* both verdicts were exercised */
}

int main(void)
{
    test_vectors();
    test_exhaustive();
    test_splits();
    test_fast_path();
    test_random();
    return tap_done();
}

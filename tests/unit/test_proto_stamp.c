/* test_proto_stamp.c - formatting and finding the herd1 stamp. */
#include "proto/stamp.h"
#include "tap.h"

#include <stdint.h>
#include <string.h>

static long find(const char *s, struct stamp *st)
{
    return stamp_find((const uint8_t *)s, strlen(s), st);
}

static void test_format(void)
{
    char out[STAMP_MAX];
    struct stamp s = {7, 42, 1700000000000000000ull};
    size_t n = stamp_format(out, &s);
    CHECK_EQ_U64(n, strlen("herd1:7:42:1700000000000000000"));
    CHECK_EQ_MEM(out, "herd1:7:42:1700000000000000000", n);

    struct stamp zero = {0, 0, 0};
    n = stamp_format(out, &zero);
    CHECK_EQ_U64(n, 11);
    CHECK_EQ_MEM(out, "herd1:0:0:0", 11);

    struct stamp max = {UINT64_MAX, UINT64_MAX, UINT64_MAX};
    n = stamp_format(out, &max);
    CHECK(n <= STAMP_MAX);
    CHECK_EQ_MEM(out, "herd1:18446744073709551615:18446744073709551615:18446744073709551615", n);
}

static void test_round_trip(void)
{
    static const uint64_t vals[] = {0,
                                    1,
                                    9,
                                    10,
                                    99,
                                    12345,
                                    4294967295ull,
                                    4294967296ull,
                                    1700000000000000000ull,
                                    UINT64_MAX - 1,
                                    UINT64_MAX};
    int bad = 0;
    char buf[STAMP_MAX + 16];
    for (size_t a = 0; a < sizeof(vals) / 8; a++) {
        for (size_t b = 0; b < sizeof(vals) / 8; b++) {
            for (size_t c = 0; c < sizeof(vals) / 8; c++) {
                struct stamp in = {vals[a], vals[b], vals[c]}, out;
                memcpy(buf, "xx", 2);
                size_t n = stamp_format(buf + 2, &in);
                memcpy(buf + 2 + n, "\"}", 2);
                long at = stamp_find((const uint8_t *)buf, n + 4, &out);
                CHECK_QUIET(at == 2 && out.publisher == in.publisher && out.seq == in.seq &&
                                out.real_ns == in.real_ns,
                            bad);
                /* And at the very end of the buffer. */
                at = stamp_find((const uint8_t *)buf, n + 2, &out);
                CHECK_QUIET(at == 2 && out.real_ns == in.real_ns, bad);
            }
        }
    }
    CHECK_EQ_U64(bad, 0);
}

static void test_find(void)
{
    struct stamp s;

    CHECK_EQ_I64(find("{\"data\":\"herd1:7:42:1700000000000000000\"}", &s), 9);
    CHECK_EQ_U64(s.publisher, 7);
    CHECK_EQ_U64(s.seq, 42);
    CHECK_EQ_U64(s.real_ns, 1700000000000000000ull);

    /* Several candidates; the first ones are malformed. */
    CHECK_EQ_I64(find("herd herd1 herd1: herd1:x:1:2 herd1:1::3 herd1:1:2: herd1:5:6:7", &s), 52);
    CHECK_EQ_U64(s.publisher, 5);
    CHECK_EQ_U64(s.seq, 6);
    CHECK_EQ_U64(s.real_ns, 7);

    /* A stamp starting inside a malformed candidate is still found. */
    CHECK_EQ_I64(find("herd1:herd1:1:2:3", &s), 6);
    CHECK_EQ_U64(s.real_ns, 3);

    /* At the very end of the buffer, the shortest stamp. */
    CHECK_EQ_I64(find("abc herd1:1:2:3", &s), 4);
    CHECK_EQ_U64(s.real_ns, 3);
    CHECK_EQ_I64(find("herd1:1:2:3", &s), 0);
    CHECK_EQ_I64(find("herd1:1:2:", &s), -1);
    CHECK_EQ_I64(find("herd1:1:2", &s), -1);

    /* The time ends at the first non-digit. */
    CHECK_EQ_I64(find("herd1:1:2:345abc", &s), 0);
    CHECK_EQ_U64(s.real_ns, 345);

    /* Overflowing and over-long fields are rejected. */
    CHECK_EQ_I64(find("herd1:18446744073709551616:1:1", &s), -1);
    CHECK_EQ_I64(find("herd1:1:18446744073709551616:1", &s), -1);
    CHECK_EQ_I64(find("herd1:1:1:18446744073709551616", &s), -1);
    CHECK_EQ_I64(find("herd1:1:1:99999999999999999999", &s), -1);
    CHECK_EQ_I64(find("herd1:000000000000000000001:1:1", &s), -1); /* 21 digits */
    CHECK_EQ_I64(find("herd1:1:1:000000000000000000001", &s), -1);
    CHECK_EQ_I64(find("herd1:00000000000000000001:1:1", &s), 0); /* 20 digits */
    CHECK_EQ_U64(s.publisher, 1);
    CHECK_EQ_I64(find("herd1:18446744073709551615:1:2 herd1:1:2:3", &s), 0);
    CHECK_EQ_U64(s.publisher, UINT64_MAX);
    CHECK_EQ_I64(find("herd1:18446744073709551616:1:2 herd1:1:2:3", &s), 31);

    /* No stamp at all. */
    CHECK_EQ_I64(find("", &s), -1);
    CHECK_EQ_I64(find("hello world", &s), -1);
    CHECK_EQ_I64(find("HERD1:1:2:3", &s), -1);
    CHECK_EQ_I64(find("herd2:1:2:3", &s), -1);
    CHECK_EQ_I64(stamp_find(NULL, 0, &s), -1);

    /* Embedded NUL bytes do not stop the search (binary messages). */
    static const uint8_t bin[] = {0,   1,   2,   'h', 0,   'h', 'e', 'r', 'd',
                                  '1', ':', '9', ':', '8', ':', '7', 0};
    CHECK_EQ_I64(stamp_find(bin, sizeof(bin), &s), 5);
    CHECK_EQ_U64(s.publisher, 9);
}

/* Split search: every message below, cut at every pair of points and byte by byte, finds what
 * stamp_find finds in the whole. */
static int split_same(const uint8_t *m, size_t len, const size_t *cuts, size_t ncuts)
{
    struct stamp whole, got;
    long at = stamp_find(m, len, &whole);
    struct stamp_split sp = {0};
    size_t off = 0;
    int r = 0;
    for (size_t i = 0; i <= ncuts && r == 0; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (end < off)
            end = off;
        r = stamp_split_feed(&sp, m + off, end - off, end == len, &got);
        off = end;
    }
    if ((r == 1) != (at >= 0))
        return 0;
    return r != 1 || (got.publisher == whole.publisher && got.seq == whole.seq &&
                      got.real_ns == whole.real_ns);
}

static void test_split(void)
{
    static const char *const msgs[] = {
        "herd1:1:2:3",
        "x herd1:12:345:1700000000123456789 y",
        "{\"d\":\"herd1:7:8:9\"}",
        "herd1:herd1:1:2:3",
        "herd1:1:2:", /* malformed: none */
        "no stamp at all, just words",
        "herd1:1:2:3 and herd1:4:5:6",
        "\xc3\xa9\xe2\x82\xac herd1:18446744073709551615:18446744073709551615:"
        "18446744073709551615",
        "herd1:1:2:123456789012345678901", /* 21 digits: not a stamp */
        "hhhhherd1:5:5:5hhh",
        "",
    };
    int bad = 0, cases = 0;
    for (size_t k = 0; k < sizeof msgs / sizeof msgs[0]; k++) {
        const uint8_t *m = (const uint8_t *)msgs[k];
        size_t len = strlen(msgs[k]);
        for (size_t a = 0; a <= len; a++) {
            for (size_t b = a; b <= len; b++) {
                size_t cuts[2] = {a, b};
                CHECK_QUIET(split_same(m, len, cuts, 2), bad);
                cases++;
            }
        }
        size_t bytes[128];
        for (size_t i = 0; i < len && i < 128; i++)
            bytes[i] = i + 1;
        CHECK_QUIET(split_same(m, len, bytes, len < 128 ? len : 128), bad);
    }
    CHECK_EQ_I64(bad, 0);
    CHECK(cases > 3000);
    /* A long message whose stamp lies past many kilobytes, fed in 1000-byte pieces. */
    static uint8_t big[10000];
    memset(big, 'h', sizeof big);
    memcpy(big + 7777, "herd1:3:4:5", 11);
    size_t cuts[9];
    for (int i = 0; i < 9; i++)
        cuts[i] = 1000 * (size_t)(i + 1);
    CHECK(split_same(big, sizeof big, cuts, 9));
    /* The kept bytes stay bounded whatever comes. */
    struct stamp_split sp = {0};
    struct stamp s;
    for (int i = 0; i < 10; i++)
        CHECK_EQ_I64(stamp_split_feed(&sp, big, 1000, 0, &s), 0);
    CHECK(sp.n <= sizeof sp.b);
}

/* Format -> find round trips for values of every length, 1 to 20 digits, and the largest. */
static void test_round_trip_lengths(void)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t v[3] = {x >> (x % 64), x % 1000 + (uint64_t)i, x};
        if (i == 0)
            v[0] = v[1] = v[2] = UINT64_MAX;
        if (i == 1)
            v[0] = v[1] = v[2] = 0;
        struct stamp s = {v[0], v[1], v[2]}, t;
        char buf[STAMP_MAX + 2];
        size_t n = stamp_format(buf, &s);
        buf[n] = 'x';
        CHECK_QUIET(stamp_find((const uint8_t *)buf, n + (size_t)(i & 1), &t) == 0 &&
                        t.publisher == s.publisher && t.seq == s.seq && t.real_ns == s.real_ns,
                    bad);
    }
    CHECK_EQ_I64(bad, 0);
}

int main(void)
{
    test_round_trip_lengths();
    test_split();
    test_format();
    test_round_trip();
    test_find();
    return tap_done();
}

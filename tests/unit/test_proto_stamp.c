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

int main(void)
{
    test_format();
    test_round_trip();
    test_find();
    return tap_done();
}

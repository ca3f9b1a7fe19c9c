/* test_cli_units.c - durations, sizes, rates and counts as users write them. */
#include "base/err.h"
#include "cli/cli.h"
#include "tap.h"

#include <math.h>

static void duration_ok(const char *s, uint64_t want)
{
    uint64_t ns = 12345;
    const char *why = NULL;
    int rc = cli_parse_duration(s, &ns, &why);
    CHECK_EQ_I64(rc, 0);
    CHECK_EQ_U64(ns, want);
    if (rc != 0 || ns != want)
        printf("#   input \"%s\" (%s)\n", s, why ? why : "");
}

static void duration_bad(const char *s, const char *want_why)
{
    uint64_t ns = 12345;
    const char *why = NULL;
    CHECK_EQ_I64(cli_parse_duration(s, &ns, &why), HERD_E_INVAL);
    CHECK_EQ_STR(why, want_why);
    CHECK_EQ_U64(ns, 12345); /* untouched on error */
}

static void size_ok(const char *s, uint64_t want)
{
    uint64_t b = 7;
    const char *why = NULL;
    int rc = cli_parse_size(s, &b, &why);
    CHECK_EQ_I64(rc, 0);
    CHECK_EQ_U64(b, want);
    if (rc != 0 || b != want)
        printf("#   input \"%s\" (%s)\n", s, why ? why : "");
}

static void size_bad(const char *s, const char *want_why)
{
    uint64_t b = 7;
    const char *why = NULL;
    CHECK_EQ_I64(cli_parse_size(s, &b, &why), HERD_E_INVAL);
    CHECK_EQ_STR(why, want_why);
    CHECK_EQ_U64(b, 7);
}

static void rate_ok(const char *s, double want)
{
    double r = -1;
    const char *why = NULL;
    int rc = cli_parse_rate(s, &r, &why);
    CHECK_EQ_I64(rc, 0);
    int close = fabs(r - want) <= 1e-9 * (want > 1 ? want : 1);
    CHECK(close);
    if (rc != 0 || !close)
        printf("#   input \"%s\": got %.12g, expected %.12g (%s)\n", s, r, want, why ? why : "");
}

static void rate_bad(const char *s, const char *want_why)
{
    double r = -1;
    const char *why = NULL;
    CHECK_EQ_I64(cli_parse_rate(s, &r, &why), HERD_E_INVAL);
    CHECK_EQ_STR(why, want_why);
    CHECK(r == -1);
}

static void count_ok(const char *s, uint64_t want)
{
    uint64_t n = 3;
    const char *why = NULL;
    int rc = cli_parse_count(s, &n, &why);
    CHECK_EQ_I64(rc, 0);
    CHECK_EQ_U64(n, want);
    if (rc != 0 || n != want)
        printf("#   input \"%s\" (%s)\n", s, why ? why : "");
}

static void count_bad(const char *s, const char *want_why)
{
    uint64_t n = 3;
    const char *why = NULL;
    CHECK_EQ_I64(cli_parse_count(s, &n, &why), HERD_E_INVAL);
    CHECK_EQ_STR(why, want_why);
    CHECK_EQ_U64(n, 3);
}

static void test_duration(void)
{
    static const char bad[] = "expected a duration like 30s, 500ms or 2m";
    duration_ok("30s", 30000000000ull);
    duration_ok("2m", 120000000000ull);
    duration_ok("2min", 120000000000ull);
    duration_ok("500ms", 500000000ull);
    duration_ok("1h", 3600000000000ull);
    duration_ok("250us", 250000ull);
    duration_ok("10ns", 10ull);
    duration_ok("1.5s", 1500000000ull);
    duration_ok("0.1s", 100000000ull);
    duration_ok("0.001ms", 1000ull);
    duration_ok("10", 10000000000ull); /* bare number = seconds */
    duration_ok("0.25", 250000000ull);
    duration_ok("0", 0);
    duration_ok("0s", 0);
    duration_ok("1m30s", 90000000000ull);
    duration_ok("1h2m3s4ms", 3723004000000ull);
    duration_ok("007s", 7000000000ull);
    duration_ok("1.5ns", 2); /* rounds to the nearest ns */
    duration_ok("5000000h", 18000000000000000000ull);

    duration_bad("", bad);
    duration_bad(NULL, bad);
    duration_bad("s", bad);
    duration_bad("-1s", bad);
    duration_bad("+1s", bad);
    duration_bad(" 1s", bad);
    duration_bad("1s ", bad);
    duration_bad("1 s", bad);
    duration_bad("1.s", bad);
    duration_bad(".5s", bad);
    duration_bad("1e3s", bad);
    duration_bad("0x10s", bad);
    duration_bad("inf", bad);
    duration_bad("nan", bad);
    duration_bad("10d", bad);
    duration_bad("10S", bad);
    duration_bad("1m30", bad); /* a bare number only on its own */
    duration_bad("30s30", bad);
    duration_bad("fast", bad);
    duration_bad("6000000h", "duration too long");
    duration_bad("99999999999999999999s", "duration too long");
}

static void test_size(void)
{
    static const char bad[] = "expected a size like 256, 4k or 1MiB";
    size_ok("0", 0);
    size_ok("256", 256);
    size_ok("256b", 256);
    size_ok("256B", 256);
    size_ok("4k", 4096);
    size_ok("4K", 4096);
    size_ok("4kb", 4096);
    size_ok("4KB", 4096);
    size_ok("4KiB", 4096);
    size_ok("4kib", 4096);
    size_ok("1M", 1048576);
    size_ok("1m", 1048576);
    size_ok("1MB", 1048576);
    size_ok("1MiB", 1048576);
    size_ok("1G", 1073741824ull);
    size_ok("1GiB", 1073741824ull);
    size_ok("2T", 2199023255552ull);
    size_ok("1TiB", 1099511627776ull);
    size_ok("1.5k", 1536);
    size_ok("1.1k", 1126); /* the fraction of a byte left over is dropped */
    size_ok("0.5MiB", 524288);
    size_ok("64MiB", 67108864);
    size_ok("18446744073709551614", 18446744073709551614ull);

    size_bad("", bad);
    size_bad(NULL, bad);
    size_bad("k", bad);
    size_bad("-1", bad);
    size_bad("4 k", bad);
    size_bad("4kk", bad);
    size_bad("4KiBs", bad);
    size_bad("4x", bad);
    size_bad("1e3", bad);
    size_bad("big", bad);
    size_bad("1.5", "expected a whole number of bytes");
    size_bad("1.5b", "expected a whole number of bytes");
    size_bad("16777216T", "size too large");
    size_bad("18446744073709551616", "size too large");
}

static void test_rate(void)
{
    static const char bad[] = "expected a number with optional /s";
    rate_ok("100", 100);
    rate_ok("100/s", 100);
    rate_ok("100/sec", 100);
    rate_ok("6000/m", 100);
    rate_ok("6000/min", 100);
    rate_ok("7200/h", 2);
    rate_ok("5/ms", 5000);
    rate_ok("2/us", 2e6);
    rate_ok("2000/s", 2000);
    rate_ok("0.5", 0.5);
    rate_ok("0.5/s", 0.5);
    rate_ok("0", 0);
    rate_ok("10k", 10000);
    rate_ok("10K/s", 10000);
    rate_ok("1.5M/s", 1.5e6);
    rate_ok("1000000000000", 1e12);

    rate_bad("", bad);
    rate_bad(NULL, bad);
    rate_bad("fast", bad);
    rate_bad("/s", bad);
    rate_bad("-5", bad);
    rate_bad("5/", bad);
    rate_bad("5/d", bad);
    rate_bad("5 /s", bad);
    rate_bad("5/s/s", bad);
    rate_bad("5m/s", bad); /* lower-case m is not a multiplier */
    rate_bad("1e3", bad);
    rate_bad("inf", bad);
    rate_bad("2000000000000", "rate too large");
    rate_bad("2G", bad);
}

static void test_count(void)
{
    static const char bad[] = "expected a whole number";
    count_ok("0", 0);
    count_ok("1", 1);
    count_ok("10000", 10000);
    count_ok("10k", 10000);
    count_ok("10K", 10000);
    count_ok("1M", 1000000);
    count_ok("2G", 2000000000ull);
    count_ok("1.5k", 1500);
    count_ok("1.001k", 1001);
    count_ok("2.5M", 2500000);
    count_ok("18446744073709551614", 18446744073709551614ull);

    count_bad("", bad);
    count_bad(NULL, bad);
    count_bad("ten", bad);
    count_bad("-1", bad);
    count_bad("+1", bad);
    count_bad("1.5", bad);
    count_bad("1.0001k", bad);
    count_bad("10m", bad); /* milli or mega? refused */
    count_bad("10 k", bad);
    count_bad("10kk", bad);
    count_bad("1e6", bad);
    count_bad("0x10", bad);
    count_bad("k", bad);
    count_bad("18446744073709551616", "number too large");
    count_bad("20000000000G", "number too large");
}

static void instant_ok(const char *s, uint64_t now, uint64_t want)
{
    uint64_t at = 7;
    const char *why = NULL;
    int rc = cli_parse_instant(s, now, &at, &why);
    CHECK_EQ_I64(rc, 0);
    CHECK_EQ_U64(at, want);
    if (rc != 0 || at != want)
        printf("#   input \"%s\" (%s)\n", s, why ? why : "");
}

static void instant_bad(const char *s, const char *want_why)
{
    uint64_t at = 7;
    const char *why = NULL;
    CHECK_EQ_I64(cli_parse_instant(s, 1000, &at, &why), HERD_E_INVAL);
    CHECK_EQ_STR(why, want_why);
    CHECK_EQ_U64(at, 7);
}

static void test_instant(void)
{
    const uint64_t s = 1000000000ull;
    /* date -u -d 2026-12-02T15:10:00Z +%s: 1796224200 */
    instant_ok("2026-12-02T15:10:00Z", 0, 1796224200ull * s);
    instant_ok("2026-12-02t15:10:00z", 0, 1796224200ull * s);
    instant_ok("2026-12-02 15:10:00+00:00", 0, 1796224200ull * s);
    instant_ok("2026-12-02T15:10:00.25Z", 0, 1796224200ull * s + 250000000ull);
    instant_ok("2026-12-02T15:10:00.123456789Z", 0, 1796224200ull * s + 123456789ull);
    instant_ok("1970-01-01T00:00:00Z", 5, 0);
    instant_ok("2024-02-29T23:59:59Z", 0, 1709251199ull * s); /* a leap day */
    instant_ok("2000-03-01T00:00:00Z", 0, 951868800ull * s);
    instant_ok("1796224200", 0, 1796224200ull * s);
    instant_ok("1796224200.5", 0, 1796224200ull * s + 500000000ull);
    instant_ok("1796224200.000000001", 0, 1796224200ull * s + 1);
    instant_ok("+30s", 1796224200ull * s + 3, 1796224230ull * s + 3);
    instant_ok("+1m30s", 0, 90ull * s);
    instant_ok("+0s", 42, 42);
    const char *form = "expected a UTC time like 2026-12-02T15:10:00Z, Unix seconds, or +DURATION";
    const char *rfc = "expected a UTC time like 2026-12-02T15:10:00Z";
    const char *nodate = "no such date or time of day (from 1970 on, seconds 0 to 59)";
    instant_bad("", form);
    instant_bad("soon", form);
    instant_bad("-5", form);
    instant_bad("12:00", form);
    instant_bad("1796224200.", form);
    instant_bad("1796224200.1234567891", form);
    instant_bad("1796224200 ", form);
    instant_bad("1e9", form);
    instant_bad("999999999999", "too far in the future");
    instant_bad("99999999999", "too far in the future");
    instant_bad("9999-12-31T00:00:00Z", "too far in the future");
    instant_bad("2026-12-02T15:10:00", rfc);
    instant_bad("2026-12-02T15:10Z", rfc);
    instant_bad("2026-12-02", rfc);
    instant_bad("2026-12-02T15:10:00.Z", rfc);
    instant_bad("2026-12-02T15:10:00+01:00",
                "expected a UTC time (ending in Z or +00:00), not another offset");
    instant_bad("2026-02-29T00:00:00Z", nodate);
    instant_bad("2026-13-01T00:00:00Z", nodate);
    instant_bad("2026-12-02T24:00:00Z", nodate);
    instant_bad("2026-12-02T23:00:60Z", nodate);
    instant_bad("1969-12-31T23:59:59Z", nodate);
    instant_bad("+", "expected a duration like 30s, 500ms or 2m");
    instant_bad("+soon", "expected a duration like 30s, 500ms or 2m");
}

int main(void)
{
    test_duration();
    test_size();
    test_rate();
    test_count();
    test_instant();
    return tap_done();
}

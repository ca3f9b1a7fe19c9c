/* units.c - durations, sizes, rates and counts as users write them, shared by the command line
 * and scenario files.
 *
 * The grammar is strict on purpose: no sign, no exponent, no surrounding spaces, unit suffixes
 * from a fixed list. A typo must become an error, never a silently different load. */
#include "cli/cli.h"

#include "base/clock.h"
#include "base/err.h"
#include "cli/cli_internal.h"
#include "load/load.h"

#include <string.h>
#include <strings.h>

/* Long double keeps 64 bits of mantissa on x86-64 (and more elsewhere), so whole numbers up to
 * 2^64 are exact and range checks against UINT64_MAX are meaningful. */
#define U64_LIMIT 18446744073709551615.0L

int cli__number(const char *s, const char **end, long double *v)
{
    const char *p = s;
    long double whole = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9')
        whole = whole * 10 + (*p++ - '0');
    long double frac = 0;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1; /* "1." is a typo more often than a number */
        /* Digits past the 18th are below any precision we use; collect the first 18 as an
         * integer and divide once, which rounds better than adding digit/10^k terms. */
        uint64_t f = 0;
        long double scale = 1;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 18) {
                f = f * 10 + (uint64_t)(*p - '0');
                scale *= 10;
                n++;
            }
            p++;
        }
        frac = (long double)f / scale;
    }
    *v = whole + frac;
    *end = p;
    return 0;
}

static int fail(const char **why, const char *msg)
{
    if (why)
        *why = msg;
    return HERD_E_INVAL;
}

/* Round a non-negative value to the nearest whole number; the caller checked the range. */
static uint64_t round_u64(long double v)
{
    if (v >= U64_LIMIT)
        return UINT64_MAX;
    /* Not (uint64_t)(v + 0.5): near 2^64 the sum itself rounds (to even), which is off by one
     * for odd whole numbers. The difference v - i is exact. */
    uint64_t i = (uint64_t)v;
    if (v - (long double)i >= 0.5L && i < UINT64_MAX)
        i++;
    return i;
}

/* Whether v is a whole number. Decimal fractions are not exact in binary ("1.001k" is
 * 1000.99999...), so a difference far below one counts as none. */
static int is_whole(long double v)
{
    long double d = v - (long double)round_u64(v);
    return d > -1e-6L && d < 1e-6L;
}

struct unit {
    const char *suffix;
    long double factor;
};

/* The longest suffix of `units` that s starts with, or NULL. Lists put "ms" before "m" and
 * "min" before "m" so that prefixes never shadow the longer unit. */
static const struct unit *unit_match(const struct unit *units, size_t n, const char *s, int nocase,
                                     const char **end)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(units[i].suffix);
        int same = nocase ? strncasecmp(s, units[i].suffix, len) == 0
                          : strncmp(s, units[i].suffix, len) == 0;
        if (same) {
            *end = s + len;
            return &units[i];
        }
    }
    return NULL;
}

int cli_parse_duration(const char *s, uint64_t *ns, const char **why)
{
    const char *reason = NULL;
    int rc = load_parse_duration(s, s ? strlen(s) : 0, ns, &reason);
    if (rc != 0 && why)
        *why = reason;
    return rc;
}

int cli_parse_size(const char *s, uint64_t *bytes, const char **why)
{
    static const char expected[] = "expected a size like 256, 4k or 1MiB";
    /* Powers of 1024 whatever the spelling: people write "4k" and "4KB" for a 4096-byte
     * payload, and a load generator has no business with disk-vendor megabytes. */
    static const struct unit units[] = {
        {"kib", 1024.0L},
        {"kb", 1024.0L},
        {"k", 1024.0L},
        {"mib", 1048576.0L},
        {"mb", 1048576.0L},
        {"m", 1048576.0L},
        {"gib", 1073741824.0L},
        {"gb", 1073741824.0L},
        {"g", 1073741824.0L},
        {"tib", 1099511627776.0L},
        {"tb", 1099511627776.0L},
        {"t", 1099511627776.0L},
        {"b", 1.0L},
    };
    if (!s || !*s)
        return fail(why, expected);
    const char *p;
    long double v;
    if (cli__number(s, &p, &v) != 0)
        return fail(why, expected);
    long double factor = 1;
    if (*p) {
        const char *after;
        const struct unit *u = unit_match(units, sizeof units / sizeof units[0], p, 1, &after);
        if (!u || *after)
            return fail(why, expected);
        factor = u->factor;
    }
    long double total = v * factor;
    if (total >= U64_LIMIT)
        return fail(why, "size too large");
    if (factor == 1 && !is_whole(total))
        return fail(why, "expected a whole number of bytes");
    /* "1.5k" is 1536; a fraction of a byte left over by a multiplier ("1.1k") is dropped. */
    *bytes = is_whole(total) ? round_u64(total) : (uint64_t)total;
    return 0;
}

int cli_parse_rate(const char *s, double *per_s, const char **why)
{
    static const char expected[] = "expected a number with optional /s";
    static const struct unit per[] = {
        {"/sec", 1.0L},    {"/s", 1.0L},  {"/min", 1.0L / 60}, {"/ms", 1000.0L},
        {"/m", 1.0L / 60}, {"/us", 1e6L}, {"/h", 1.0L / 3600},
    };
    static const struct unit mult[] = {{"k", 1e3L}, {"K", 1e3L}, {"M", 1e6L}};
    if (!s || !*s)
        return fail(why, expected);
    const char *p;
    long double v;
    if (cli__number(s, &p, &v) != 0)
        return fail(why, expected);
    const char *after;
    const struct unit *u = unit_match(mult, sizeof mult / sizeof mult[0], p, 0, &after);
    if (u) {
        v *= u->factor;
        p = after;
    }
    if (*p) {
        u = unit_match(per, sizeof per / sizeof per[0], p, 0, &after);
        if (!u || *after)
            return fail(why, expected);
        v *= u->factor;
    }
    /* A billion per second per connection is far past anything a socket does; refusing larger
     * numbers keeps later arithmetic (intervals in ns) away from zero and infinity. */
    if (v > 1e12L)
        return fail(why, "rate too large");
    *per_s = (double)v;
    return 0;
}

int cli_parse_count(const char *s, uint64_t *n, const char **why)
{
    static const char expected[] = "expected a whole number";
    /* Powers of 1000 for counts ("10k connections"). Lower-case m is refused: it reads as
     * milli as easily as mega. */
    static const struct unit mult[] = {{"k", 1e3L}, {"K", 1e3L}, {"M", 1e6L}, {"G", 1e9L}};
    if (!s || !*s)
        return fail(why, expected);
    const char *p;
    long double v;
    if (cli__number(s, &p, &v) != 0)
        return fail(why, expected);
    if (*p) {
        const char *after;
        const struct unit *u = unit_match(mult, sizeof mult / sizeof mult[0], p, 0, &after);
        if (!u || *after)
            return fail(why, expected);
        v *= u->factor;
    }
    if (v >= U64_LIMIT)
        return fail(why, "number too large");
    if (!is_whole(v))
        return fail(why, expected);
    *n = round_u64(v);
    return 0;
}

/* ---- an instant: --start-at ---- */

/* The last second whose nanoseconds fit in 64 bits (the year 2554). */
#define MAX_INSTANT_S ((UINT64_MAX - NS_PER_S) / NS_PER_S)

/* Up to `max` digits at *p into *v; returns how many were read. */
static int digits(const char **p, int max, uint64_t *v)
{
    int n = 0;
    *v = 0;
    while (n < max && **p >= '0' && **p <= '9') {
        *v = *v * 10 + (uint64_t)(**p - '0');
        (*p)++;
        n++;
    }
    return n;
}

/* ".ddddddddd" (1 to 9 digits) at *p into nanoseconds; none is 0. Returns -1 for "." alone or
 * more than 9 digits (below a nanosecond, which herd cannot honour). */
static int fraction_ns(const char **p, uint64_t *ns)
{
    *ns = 0;
    if (**p != '.')
        return 0;
    (*p)++;
    uint64_t f;
    int n = digits(p, 10, &f);
    if (n < 1 || n > 9)
        return -1;
    for (int i = n; i < 9; i++)
        f *= 10;
    *ns = f;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static unsigned month_days(uint64_t y, uint64_t m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[m - 1] + (m == 2 && leap);
}

/* "2026-12-02T15:10:00Z", "2026-12-02T15:10:00.25Z" (or with +00:00): RFC 3339 in UTC. */
static int rfc3339_utc(const char *s, uint64_t *real_ns, const char **why)
{
    static const char form[] = "expected a UTC time like 2026-12-02T15:10:00Z";
    const char *p = s;
    uint64_t y, mo, d, h, mi, sec, frac;
    if (digits(&p, 4, &y) != 4 || *p++ != '-' || digits(&p, 2, &mo) != 2 || *p++ != '-' ||
        digits(&p, 2, &d) != 2 || (*p != 'T' && *p != 't' && *p != ' '))
        return fail(why, form);
    p++;
    if (digits(&p, 2, &h) != 2 || *p++ != ':' || digits(&p, 2, &mi) != 2 || *p++ != ':' ||
        digits(&p, 2, &sec) != 2 || fraction_ns(&p, &frac) != 0)
        return fail(why, form);
    if (strcmp(p, "Z") != 0 && strcmp(p, "z") != 0 && strcmp(p, "+00:00") != 0 &&
        strcmp(p, "-00:00") != 0) {
        if (*p == '+' || *p == '-')
            return fail(why, "expected a UTC time (ending in Z or +00:00), not another offset");
        return fail(why, form);
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 ||
        sec > 59)
        return fail(why, "no such date or time of day (from 1970 on, seconds 0 to 59)");
    int64_t days = days_from_civil((int64_t)y, (unsigned)mo, (unsigned)d);
    uint64_t secs = (uint64_t)days * 86400u + h * 3600u + mi * 60u + sec;
    if (secs > MAX_INSTANT_S)
        return fail(why, "too far in the future");
    *real_ns = secs * NS_PER_S + frac;
    return 0;
}

int cli_parse_instant(const char *s, uint64_t now_real_ns, uint64_t *real_ns, const char **why)
{
    static const char form[] =
        "expected a UTC time like 2026-12-02T15:10:00Z, Unix seconds, or +DURATION";
    if (!s || !*s)
        return fail(why, form);
    if (*s == '+') {
        uint64_t d;
        const char *reason = NULL;
        if (cli_parse_duration(s + 1, &d, &reason) != 0)
            return fail(why, reason ? reason : form);
        if (d > UINT64_MAX - now_real_ns)
            return fail(why, "too far in the future");
        *real_ns = now_real_ns + d;
        return 0;
    }
    if (strlen(s) >= 10 && s[4] == '-')
        return rfc3339_utc(s, real_ns, why);
    const char *p = s;
    uint64_t secs, frac;
    int n = digits(&p, 12, &secs);
    if (n < 1 || fraction_ns(&p, &frac) != 0 || *p)
        return fail(why, form);
    if (n > 11 || secs > MAX_INSTANT_S)
        return fail(why, "too far in the future");
    *real_ns = secs * NS_PER_S + frac;
    return 0;
}

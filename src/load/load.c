#include "load/load.h"

#include "base/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Decimal digits with an optional fraction ("1.5"): no sign, exponent or bare "1." / ".5". */
static int parse_number(const char *p, const char *end, const char **after, long double *v)
{
    if (p == end || *p < '0' || *p > '9')
        return -1;
    long double whole = 0;
    while (p < end && *p >= '0' && *p <= '9')
        whole = whole * 10 + (*p++ - '0');
    long double frac = 0;
    if (p < end && *p == '.') {
        p++;
        if (p == end || *p < '0' || *p > '9')
            return -1;
        /* The first 18 digits as one integer divided once: it rounds better than a sum of
         * digit/10^k terms, and further digits are below any precision we use. */
        uint64_t f = 0;
        long double scale = 1;
        for (int n = 0; p < end && *p >= '0' && *p <= '9'; p++)
            if (n++ < 18) {
                f = f * 10 + (uint64_t)(*p - '0');
                scale *= 10;
            }
        frac = (long double)f / scale;
    }
    *v = whole + frac;
    *after = p;
    return 0;
}

int load_parse_duration(const char *s, size_t len, uint64_t *ns, const char **why)
{
    static const char expected[] = "expected a duration like 30s, 500ms or 2m";
    /* "ms" and "min" before "m", so that a prefix never shadows the longer unit. */
    static const struct {
        const char *suffix;
        long double factor;
    } units[] = {{"ns", 1.0L}, {"us", 1e3L}, {"ms", 1e6L},  {"min", 60e9L},
                 {"m", 60e9L}, {"s", 1e9L},  {"h", 3600e9L}};
    if (!s || len == 0) {
        *why = expected;
        return HERD_E_INVAL;
    }
    /* Compound forms ("1m30s") add up, each part with its unit. A bare number means seconds,
     * but only on its own: "1m30" reads as a mistake. */
    const char *p = s, *end = s + len;
    long double total = 0;
    for (int parts = 0; p < end; parts++) {
        long double v;
        if (parse_number(p, end, &p, &v) != 0) {
            *why = expected;
            return HERD_E_INVAL;
        }
        size_t u = 0;
        while (u < sizeof units / sizeof units[0] &&
               ((size_t)(end - p) < strlen(units[u].suffix) ||
                memcmp(p, units[u].suffix, strlen(units[u].suffix)) != 0))
            u++;
        if (u == sizeof units / sizeof units[0]) {
            if (parts == 0 && p == end) {
                total = v * 1e9L;
                break;
            }
            *why = expected;
            return HERD_E_INVAL;
        }
        total += v * units[u].factor;
        p += strlen(units[u].suffix);
    }
    if (total >= 18446744073709551615.0L) {
        *why = "duration too long";
        return HERD_E_INVAL;
    }
    /* Round to the nearest ns; not (uint64_t)(total + 0.5), which itself rounds near 2^64. */
    uint64_t i = (uint64_t)total;
    if (total - (long double)i >= 0.5L && i < UINT64_MAX)
        i++;
    *ns = i;
    return 0;
}

int backoff_parse(const char *spec, struct backoff *b, const char **why)
{
    static const char form[] =
        "expected none, fixed:DUR or exp:MIN..MAX, optionally with ,jitter=full|equal|none";
    memset(b, 0, sizeof *b);
    const char *comma = strchr(spec, ',');
    size_t head = comma ? (size_t)(comma - spec) : strlen(spec);
    if (head == 4 && strncmp(spec, "none", 4) == 0) {
        b->kind = BACKOFF_NONE;
    } else if (head > 6 && strncmp(spec, "fixed:", 6) == 0) {
        b->kind = BACKOFF_FIXED;
        if (load_parse_duration(spec + 6, head - 6, &b->base_ns, why) != 0)
            return HERD_E_INVAL;
        b->max_ns = b->base_ns;
    } else if (head > 4 && strncmp(spec, "exp:", 4) == 0) {
        b->kind = BACKOFF_EXP;
        b->jitter = JITTER_FULL;
        const char *dots = strstr(spec + 4, "..");
        if (!dots || dots > spec + head) {
            *why = form;
            return HERD_E_INVAL;
        }
        if (load_parse_duration(spec + 4, (size_t)(dots - spec - 4), &b->base_ns, why) != 0 ||
            load_parse_duration(dots + 2, (size_t)(spec + head - dots - 2), &b->max_ns, why) != 0)
            return HERD_E_INVAL;
        if (b->base_ns == 0 || b->max_ns < b->base_ns) {
            *why = "exp:MIN..MAX needs 0 < MIN <= MAX";
            return HERD_E_INVAL;
        }
    } else {
        *why = form;
        return HERD_E_INVAL;
    }
    if (comma) {
        const char *j = comma + 1;
        if (strcmp(j, "jitter=full") == 0)
            b->jitter = JITTER_FULL;
        else if (strcmp(j, "jitter=equal") == 0)
            b->jitter = JITTER_EQUAL;
        else if (strcmp(j, "jitter=none") == 0)
            b->jitter = JITTER_NONE;
        else {
            *why = form;
            return HERD_E_INVAL;
        }
    }
    return 0;
}

uint64_t backoff_delay(const struct backoff *b, unsigned attempt, double u)
{
    double d;
    switch (b->kind) {
    case BACKOFF_NONE: return 0;
    case BACKOFF_FIXED: d = (double)b->base_ns; break;
    default:
        d = (double)b->base_ns * ldexp(1.0, attempt > 60 ? 60 : (int)attempt);
        if (d > (double)b->max_ns)
            d = (double)b->max_ns;
        break;
    }
    switch (b->jitter) {
    case JITTER_FULL: d *= u; break;
    case JITTER_EQUAL: d = d / 2 + d / 2 * u; break;
    default: break;
    }
    return (uint64_t)d;
}

int stages_parse(const char *spec, struct stage *out, size_t max, const char **why)
{
    size_t n = 0;
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len);
        if (!colon) {
            *why = "expected DURATION:COUNT items like 30s:1000,1m:1000,10s:0";
            return HERD_E_INVAL;
        }
        if (n == max) {
            *why = "too many stages";
            return HERD_E_INVAL;
        }
        if (load_parse_duration(p, (size_t)(colon - p), &out[n].dur_ns, why) != 0)
            return HERD_E_INVAL;
        char *end;
        const char *num = colon + 1;
        if (num == p + len || *num < '0' || *num > '9') {
            *why = "expected a whole number of connections after ':'";
            return HERD_E_INVAL;
        }
        unsigned long long v = strtoull(num, &end, 10);
        if (end != p + len) {
            *why = "expected a whole number of connections after ':'";
            return HERD_E_INVAL;
        }
        out[n].target = v;
        n++;
        p += len + (p[len] == ',');
    }
    if (n == 0) {
        *why = "no stages";
        return HERD_E_INVAL;
    }
    return (int)n;
}

uint64_t stages_target(const struct stage *st, size_t n, uint64_t from, uint64_t t_ns)
{
    uint64_t start = 0, prev = from;
    for (size_t i = 0; i < n; i++) {
        if (t_ns < start + st[i].dur_ns) {
            double f = (double)(t_ns - start) / (double)st[i].dur_ns;
            return (uint64_t)llround((double)prev + ((double)st[i].target - (double)prev) * f);
        }
        start += st[i].dur_ns;
        prev = st[i].target;
    }
    return prev;
}

uint64_t stages_duration(const struct stage *st, size_t n)
{
    uint64_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += st[i].dur_ns;
    return d;
}

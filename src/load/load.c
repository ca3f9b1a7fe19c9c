#include "load/load.h"

#include "base/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int load_parse_duration(const char *s, size_t len, uint64_t *ns, const char **why)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf) {
        *why = "expected a duration like 30s, 2m, 500ms";
        return HERD_E_INVAL;
    }
    memcpy(buf, s, len);
    buf[len] = 0;
    if (!((buf[0] >= '0' && buf[0] <= '9') || buf[0] == '.')) {
        *why = "expected a duration like 30s, 2m, 500ms";
        return HERD_E_INVAL;
    }
    char *end;
    double v = strtod(buf, &end);
    double mult;
    if (*end == 0 || strcmp(end, "s") == 0)
        mult = 1e9;
    else if (strcmp(end, "ms") == 0)
        mult = 1e6;
    else if (strcmp(end, "us") == 0)
        mult = 1e3;
    else if (strcmp(end, "ns") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mult = 60e9;
    else if (strcmp(end, "h") == 0)
        mult = 3600e9;
    else {
        *why = "unknown duration unit (use ns, us, ms, s, m or h)";
        return HERD_E_INVAL;
    }
    double t = v * mult;
    if (!(t >= 0) || t > 1e18) {
        *why = "duration out of range";
        return HERD_E_INVAL;
    }
    *ns = (uint64_t)t;
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

/* stamp.c - format and find the herd1 stamp (DESIGN.md "The stamp"). */
#include "proto/stamp.h"

#include <string.h>

static const char prefix[] = "herd1:";
#define PREFIX_LEN (sizeof(prefix) - 1)
#define FIELD_MAX_DIGITS 20 /* UINT64_MAX has 20 digits */

/* Decimal digits of v written at out; returns their count. Not snprintf: this runs for every
 * message a publisher sends, and a format string parse per call is wasted work. */
size_t stamp_put_u64(char *out, uint64_t v)
{
    char tmp[FIELD_MAX_DIGITS];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

size_t stamp_format(char *out, const struct stamp *s)
{
    size_t n = PREFIX_LEN;
    memcpy(out, prefix, PREFIX_LEN);
    n += stamp_put_u64(out + n, s->publisher);
    out[n++] = ':';
    n += stamp_put_u64(out + n, s->seq);
    out[n++] = ':';
    n += stamp_put_u64(out + n, s->real_ns);
    return n;
}

/* Parse a run of 1..20 decimal digits at p[0..end) into *v. Returns the number of digits, or 0
 * when there is none, the run is too long or the value does not fit 64 bits. */
static size_t u64_parse(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t acc = 0;
    size_t n = 0;
    while (p + n < end && p[n] >= '0' && p[n] <= '9') {
        unsigned d = p[n] - '0';
        /* A 21st digit is rejected by the overflow test too; the explicit bound keeps a long
         * run of zeros from passing as a number. */
        if (n == FIELD_MAX_DIGITS || acc > (UINT64_MAX - d) / 10)
            return 0;
        acc = acc * 10 + d;
        n++;
    }
    *v = acc;
    return n;
}

/* Parse the fields after "herd1:" at p; the end of the stamp when they are well formed, else
 * NULL. */
static const uint8_t *stamp_parse(const uint8_t *p, const uint8_t *end, struct stamp *s)
{
    size_t n = u64_parse(p, end, &s->publisher);
    if (n == 0 || p + n >= end || p[n] != ':')
        return 0;
    p += n + 1;
    n = u64_parse(p, end, &s->seq);
    if (n == 0 || p + n >= end || p[n] != ':')
        return 0;
    p += n + 1;
    /* The timestamp ends at the first non-digit or at the end of the buffer, so that a stamp
     * wrapped in any envelope (a JSON string, a text line) is still found. */
    n = u64_parse(p, end, &s->real_ns);
    return n ? p + n : NULL;
}

/* stamp_find, and where the stamp ends (*stop, an offset of buf). */
static long find_ending(const uint8_t *buf, size_t len, struct stamp *s, size_t *stop)
{
    /* The shortest stamp is "herd1:0:0:0", 11 bytes. (Checked first: buf may be NULL.) */
    if (len < PREFIX_LEN + 5)
        return -1;
    const uint8_t *p = buf, *end = buf + len;
    struct stamp tmp;

    while ((size_t)(end - p) >= PREFIX_LEN + 5) {
        const uint8_t *h = memchr(p, 'h', (size_t)(end - p) - (PREFIX_LEN + 4));
        if (!h)
            break;
        const uint8_t *e;
        if (memcmp(h + 1, prefix + 1, PREFIX_LEN - 1) == 0 &&
            (e = stamp_parse(h + PREFIX_LEN, end, &tmp)) != NULL) {
            *s = tmp;
            *stop = (size_t)(e - buf);
            return (long)(h - buf);
        }
        /* A malformed candidate: go on from the next byte, since a real stamp may start
         * inside it ("herd1:herd1:1:2:3"). */
        p = h + 1;
    }
    return -1;
}

long stamp_find(const uint8_t *buf, size_t len, struct stamp *s)
{
    size_t stop;
    return find_ending(buf, len, s, &stop);
}

/* ---- a message in pieces ---- */

/* Keep the last bytes of a[0..an) + b[0..bn) that a stamp may still start in. */
static void split_keep(struct stamp_split *sp, const uint8_t *a, size_t an, const uint8_t *b,
                       size_t bn)
{
    const size_t keep = sizeof sp->b;
    uint8_t tmp[sizeof sp->b];
    size_t n = 0;
    if (bn < keep) {
        size_t from_a = an < keep - bn ? an : keep - bn;
        if (from_a)
            memcpy(tmp, a + an - from_a, from_a);
        n = from_a;
    }
    size_t from_b = bn < keep ? bn : keep;
    if (from_b)
        memcpy(tmp + n, b + bn - from_b, from_b);
    n += from_b;
    if (n)
        memcpy(sp->b, tmp, n);
    sp->n = (uint8_t)n;
}

int stamp_split_feed(struct stamp_split *sp, const uint8_t *p, size_t len, int final,
                     struct stamp *s)
{
    size_t stop;
    if (sp->n) {
        /* A stamp that starts in what was kept: look at it with the first bytes of p, which
         * hold its rest if it is whole by now (a stamp is at most STAMP_MAX - 4 bytes long). */
        uint8_t w[2 * STAMP_MAX];
        size_t take = len < STAMP_MAX ? len : STAMP_MAX, wl = sp->n + take;
        memcpy(w, sp->b, sp->n);
        if (take)
            memcpy(w + sp->n, p, take);
        long o = find_ending(w, wl, s, &stop);
        if (o >= 0 && (size_t)o < sp->n) {
            if (stop == wl && !(final && take == len)) {
                /* Its digits run to the end of what has come: more may follow. */
                split_keep(sp, NULL, 0, w + o, wl - (size_t)o);
                return 0;
            }
            sp->n = 0;
            return 1;
        }
    }
    long o = find_ending(p, len, s, &stop);
    if (o >= 0) {
        if (stop == len && !final) {
            split_keep(sp, NULL, 0, p + o, len - (size_t)o);
            return 0;
        }
        sp->n = 0;
        return 1;
    }
    if (final) {
        sp->n = 0;
        return -1;
    }
    split_keep(sp, sp->b, sp->n, p, len);
    return 0;
}

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

/* Parse the fields after "herd1:" at p; 1 when they are well formed. */
static int stamp_parse(const uint8_t *p, const uint8_t *end, struct stamp *s)
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
    return n != 0;
}

long stamp_find(const uint8_t *buf, size_t len, struct stamp *s)
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
        if (memcmp(h + 1, prefix + 1, PREFIX_LEN - 1) == 0 &&
            stamp_parse(h + PREFIX_LEN, end, &tmp)) {
            *s = tmp;
            return (long)(h - buf);
        }
        /* A malformed candidate: go on from the next byte, since a real stamp may start
         * inside it ("herd1:herd1:1:2:3"). */
        p = h + 1;
    }
    return -1;
}

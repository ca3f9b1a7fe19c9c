/* stamp.c - format and find the herd1 stamp (DESIGN.md "The stamp"). */
#include "proto/stamp.h"

#include <string.h>

static const char prefix[] = "herd1:";
#define PREFIX_LEN (sizeof(prefix) - 1)
#define FIELD_MAX_DIGITS 20 /* UINT64_MAX has 20 digits */

/* "00".."99": two digits per division. */
static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930"
    "31323334353637383940414243444546474849505152535455565758596061"
    "62636465666768697071727374757677787980818283848586878889909192"
    "93949596979899";

/* Decimal digits of v written at out; returns their count. Not snprintf: this runs for every
 * message a publisher sends (three times, a 20-digit publisher id and time among them), so the
 * digits are made two at a time, from the end of a buffer of the right length. */
size_t stamp_put_u64(char *out, uint64_t v)
{
    static const uint64_t pow10[FIELD_MAX_DIGITS] = {1ull,
                                                     10ull,
                                                     100ull,
                                                     1000ull,
                                                     10000ull,
                                                     100000ull,
                                                     1000000ull,
                                                     10000000ull,
                                                     100000000ull,
                                                     1000000000ull,
                                                     10000000000ull,
                                                     100000000000ull,
                                                     1000000000000ull,
                                                     10000000000000ull,
                                                     100000000000000ull,
                                                     1000000000000000ull,
                                                     10000000000000000ull,
                                                     100000000000000000ull,
                                                     1000000000000000000ull,
                                                     10000000000000000000ull};
    /* The digit count from the bit length (log10(2) ~ 1233/4096), then one comparison. */
    size_t n = v ? (size_t)((64 - __builtin_clzll(v)) * 1233 >> 12) : 0;
    n += n < FIELD_MAX_DIGITS && v >= pow10[n];
    if (n == 0)
        n = 1;
    char *p = out + n;
    /* Four digits per 64-bit division, two per table lookup. */
    while (v >= 10000) {
        unsigned r = (unsigned)(v % 10000);
        v /= 10000;
        p -= 4;
        memcpy(p, digit_pairs + 2 * (r / 100), 2);
        memcpy(p + 2, digit_pairs + 2 * (r % 100), 2);
    }
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, digit_pairs + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
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

/* Whether p[0..8) are eight ASCII digits, and their value (SWAR: all eight in a few multiplies,
 * in the byte order of a little-endian load, swapped on a big-endian host). */
static int digits8(const uint8_t *p, uint32_t *out)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    /* Every byte in '0'..'9': its high nibble is 3, and adding 6 keeps it 3. */
    if ((v & 0xf0f0f0f0f0f0f0f0ull) != 0x3030303030303030ull ||
        ((v + 0x0606060606060606ull) & 0xf0f0f0f0f0f0f0f0ull) != 0x3030303030303030ull)
        return 0;
    v -= 0x3030303030303030ull;
    v = v * 10 + (v >> 8); /* pairs of digits in bytes 0, 2, 4, 6 */
    v = ((v & 0x000000ff000000ffull) * (100 + (1000000ull << 32)) +
         ((v >> 16) & 0x000000ff000000ffull) * (1 + (10000ull << 32))) >>
        32;
    *out = (uint32_t)v;
    return 1;
}

/* Parse a run of 1..20 decimal digits at p[0..end) into *v. Returns the number of digits, or 0
 * when there is none, the run is too long or the value does not fit 64 bits. */
static size_t u64_parse(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t acc = 0;
    size_t n = 0;
    /* Eight digits at a time while they are all there (a stamp's publisher and time have
     * nineteen or twenty), then one at a time. */
    while (n + 8 <= FIELD_MAX_DIGITS - 1 && end - (p + n) >= 8) {
        uint32_t eight;
        if (!digits8(p + n, &eight))
            break;
        acc = acc * 100000000u + eight;
        n += 8;
    }
    /* Nineteen digits always fit 64 bits (10^19 - 1 < 2^64): no overflow test for them. */
    while (n < FIELD_MAX_DIGITS - 1 && p + n < end && (unsigned)(p[n] - '0') < 10) {
        acc = acc * 10 + (unsigned)(p[n] - '0');
        n++;
    }
    if (n == FIELD_MAX_DIGITS - 1 && p + n < end && (unsigned)(p[n] - '0') < 10) {
        unsigned d = p[n] - '0';
        /* The twentieth digit may overflow; a twenty-first is never a number (the explicit
         * bound keeps a long run of zeros from passing as one). */
        if (acc > (UINT64_MAX - d) / 10 || (p + n + 1 < end && (unsigned)(p[n + 1] - '0') < 10))
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

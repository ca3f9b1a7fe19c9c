/* hist_v2.c - the HdrHistogram V2 compressed encoding, as base64 text.
 *
 * Layers, outermost first (all integers big-endian):
 *   base64 text
 *   compressed wrapper: cookie 0x1c849304|0x10 (4), length of the zlib data (4), zlib data
 *   payload (inflated): cookie 0x1c849303|0x10 (4), counts length in bytes (4), normalizing
 *     index offset (4), significant figures (4), lowest (8), highest (8), integer-to-double
 *     ratio (8, an IEEE double), then the counts
 *   counts: one ZigZag LEB128 varint per slot from slot 0 to the slot of the max; a negative
 *     number -n stands for n empty slots. The varint is the "64b9B" flavour: up to eight 7-bit
 *     groups, and a ninth byte carries a full 8 bits.
 * The 0x10 in the cookies is HdrHistogram's "word size" nibble; readers compare the cookie with
 * that nibble masked off, as Java, C and JS do.
 *
 * The decoder reads report files that anyone may have written, so it treats every field as
 * hostile: sizes are checked before use, inflation is capped, and everything not understood
 * is HERD_E_PROTO. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/base64.h"
#include "base/err.h"
#include "stats/stats.h"
#include "stats/stats_internal.h"

#define V2_ENCODING_COOKIE 0x1c849303u
#define V2_COMPRESSED_COOKIE 0x1c849304u
#define V2_WORD_SIZE_NIBBLE 0x10u
#define V2_COOKIE_BASE(c) ((c) & ~0xf0u)

#define V2_HEADER_BYTES 40
#define V2_WRAPPER_BYTES 8
#define V2_VARINT_MAX 9

/* Limits for the decoder. The inflated payload for herd's own histograms is at most ~25 KiB;
 * 16 MiB leaves room for any sane histogram from elsewhere while bounding a zlib bomb. The
 * counts array is bounded alike (2^21 slots = 16 MiB): that admits every range at up to 4
 * significant digits and refuses only absurd parameters (e.g. 5 digits over all of int64). */
#define V2_MAX_INFLATED (16u << 20)
#define V2_MAX_COUNTS (1 << 21)
/* Deflate adds at most a few bytes per 16 KiB to what it cannot compress, so no encoder makes
 * text much beyond 4/3 of the inflate cap: refuse longer input before allocating anything. */
#define V2_MAX_TEXT ((size_t)V2_MAX_INFLATED / 3 * 4 + 65536)

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* ZigZag maps small magnitudes of either sign to small unsigned numbers: 0, -1, 1, -2 ... */
static size_t put_varint(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (n < 8 && z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z; /* after 8 groups of 7 bits, the 9th byte holds the last 8 bits */
    return n;
}

/* Read one varint from p[0..len). Returns the bytes used, or 0 when it runs past the end. */
static size_t get_varint(const uint8_t *p, size_t len, int64_t *out)
{
    uint64_t z = 0;
    size_t n = 0;
    for (;;) {
        if (n == len)
            return 0;
        uint8_t b = p[n];
        if (n == 8) {
            z |= (uint64_t)b << 56;
            n++;
            break;
        }
        z |= (uint64_t)(b & 0x7f) << (7 * n);
        n++;
        if (!(b & 0x80))
            break;
    }
    *out = (int64_t)((z >> 1) ^ (0 - (z & 1)));
    return n;
}

long hist_v2_encode(const struct hist *h, char **out)
{
    *out = NULL;
    /* Slots past the max are all empty: the format stops at the max's slot (at least one slot,
     * so an empty histogram is the single count 0, as in HdrHistogram). */
    int32_t limit = hist__index_of(h, h->max_value) + 1;
    if (limit > h->counts_len)
        limit = h->counts_len;

    size_t raw_cap = V2_HEADER_BYTES + (size_t)limit * V2_VARINT_MAX;
    uint8_t *raw = malloc(raw_cap);
    if (!raw)
        return HERD_E_NOMEM;

    size_t n = V2_HEADER_BYTES;
    for (int32_t i = 0; i < limit;) {
        int64_t c = h->counts[i++];
        if (c < 0) {
            free(raw);
            return HERD_E_INVAL; /* no valid encoding; cannot happen through the API */
        }
        if (c == 0) {
            int64_t zeros = 1;
            while (i < limit && h->counts[i] == 0) {
                zeros++;
                i++;
            }
            /* A lone empty slot is written as 0, a run as -run (as Java and JS do). */
            if (zeros > 1)
                c = -zeros;
        }
        n += put_varint(raw + n, c);
    }

    put_be32(raw, V2_ENCODING_COOKIE | V2_WORD_SIZE_NIBBLE);
    put_be32(raw + 4, (uint32_t)(n - V2_HEADER_BYTES));
    put_be32(raw + 8, 0); /* normalizing index offset: herd never shifts histograms */
    put_be32(raw + 12, (uint32_t)h->sigfigs);
    put_be64(raw + 16, (uint64_t)h->lowest);
    put_be64(raw + 24, (uint64_t)h->highest);
    put_be64(raw + 32, 0x3ff0000000000000ull); /* 1.0: counts are in the recorded unit (us) */

    uLongf zlen = compressBound((uLong)n);
    size_t wrapped_len = V2_WRAPPER_BYTES + (size_t)zlen;
    uint8_t *wrapped = malloc(wrapped_len);
    if (!wrapped) {
        free(raw);
        return HERD_E_NOMEM;
    }
    int zrc = compress2(wrapped + V2_WRAPPER_BYTES, &zlen, raw, (uLong)n, Z_DEFAULT_COMPRESSION);
    free(raw);
    if (zrc != Z_OK || zlen > INT32_MAX) {
        free(wrapped);
        return zrc == Z_MEM_ERROR ? HERD_E_NOMEM : HERD_E_INVAL;
    }
    put_be32(wrapped, V2_COMPRESSED_COOKIE | V2_WORD_SIZE_NIBBLE);
    put_be32(wrapped + 4, (uint32_t)zlen);
    wrapped_len = V2_WRAPPER_BYTES + (size_t)zlen;

    size_t text_len = base64_encoded_len(wrapped_len);
    char *text = malloc(text_len + 1);
    if (!text) {
        free(wrapped);
        return HERD_E_NOMEM;
    }
    base64_encode(wrapped, wrapped_len, text);
    free(wrapped);
    *out = text;
    return (long)text_len;
}

/* Inflate a whole zlib stream into a new buffer of at most V2_MAX_INFLATED bytes. The buffer
 * grows by doubling rather than trusting any declared size. Returns 0 or HERD_E_PROTO. */
static int inflate_all(const uint8_t *src, size_t len, uint8_t **out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        return HERD_E_PROTO;
    zs.next_in = (Bytef *)src;
    zs.avail_in = (uInt)len;

    size_t cap = 4096, used = 0;
    uint8_t *buf = NULL;
    int rc = HERD_E_PROTO;
    for (;;) {
        if (used == cap || !buf) {
            if (buf)
                cap *= 2;
            if (cap > V2_MAX_INFLATED)
                break;
            uint8_t *nb = realloc(buf, cap);
            if (!nb)
                break;
            buf = nb;
        }
        zs.next_out = buf + used;
        zs.avail_out = (uInt)(cap - used);
        int zrc = inflate(&zs, Z_NO_FLUSH);
        used = cap - zs.avail_out;
        if (zrc == Z_STREAM_END) {
            rc = 0;
            break;
        }
        /* Z_BUF_ERROR with output room left means the input ended early (truncated). */
        if (zrc != Z_OK && !(zrc == Z_BUF_ERROR && zs.avail_out == 0))
            break;
        if (zs.avail_out != 0 && zs.avail_in == 0)
            break;
    }
    inflateEnd(&zs);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = used;
    return 0;
}

/* Parse an inflated payload into a new histogram. */
static int decode_payload(const uint8_t *p, size_t len, struct hist **out)
{
    if (len < V2_HEADER_BYTES)
        return HERD_E_PROTO;
    uint32_t cookie = get_be32(p);
    uint32_t counts_bytes = get_be32(p + 4);
    int32_t sigfigs = (int32_t)get_be32(p + 12);
    int64_t lowest = (int64_t)get_be64(p + 16);
    int64_t highest = (int64_t)get_be64(p + 24);
    /* The normalizing index offset (p + 8) and the conversion ratio (p + 32) are read past, as
     * the C and JS readers do: neither changes the meaning of an integer histogram's counts,
     * and hdr-histogram-js writes 1 in both where Java writes 0 and 1.0. */
    if (V2_COOKIE_BASE(cookie) != V2_ENCODING_COOKIE)
        return HERD_E_PROTO;
    if (counts_bytes != len - V2_HEADER_BYTES)
        return HERD_E_PROTO; /* a length that lies, or trailing bytes */

    struct hist cfg;
    if (hist__configure(&cfg, lowest, highest, sigfigs) < 0 || cfg.counts_len > V2_MAX_COUNTS)
        return HERD_E_PROTO;
    struct hist *h = hist_new(lowest, highest, sigfigs);
    if (!h)
        return HERD_E_NOMEM;

    const uint8_t *c = p + V2_HEADER_BYTES;
    size_t left = counts_bytes;
    int64_t slot = 0, total = 0;
    while (left > 0) {
        int64_t v;
        size_t used = get_varint(c, left, &v);
        if (used == 0)
            goto bad; /* varint cut off by the end of the payload */
        c += used;
        left -= used;
        if (v < 0) {
            /* -n: skip n empty slots. Compare before adding, so that no n can overflow. */
            if (v == INT64_MIN || -v > h->counts_len - slot)
                goto bad;
            slot += -v;
        } else {
            if (slot >= h->counts_len || __builtin_add_overflow(total, v, &total))
                goto bad;
            h->counts[slot++] = v;
        }
    }
    hist__recount(h);
    *out = h;
    return 0;
bad:
    hist_free(h);
    return HERD_E_PROTO;
}

int hist_v2_decode(const char *b64, size_t len, struct hist **out)
{
    *out = NULL;
    if (len < 4 || len > V2_MAX_TEXT)
        return HERD_E_PROTO;
    uint8_t *bin = malloc(len / 4 * 3 + 3);
    if (!bin)
        return HERD_E_NOMEM;
    long bin_len = base64_decode(b64, len, bin);
    if (bin_len < V2_WRAPPER_BYTES || V2_COOKIE_BASE(get_be32(bin)) != V2_COMPRESSED_COOKIE) {
        free(bin);
        return HERD_E_PROTO;
    }
    /* The zlib length may not claim more than is there; bytes after it are ignored, as the
     * reference readers do. */
    uint32_t zlen = get_be32(bin + 4);
    if (zlen > (uint64_t)bin_len - V2_WRAPPER_BYTES) {
        free(bin);
        return HERD_E_PROTO;
    }
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    int rc = inflate_all(bin + V2_WRAPPER_BYTES, zlen, &raw, &raw_len);
    free(bin);
    if (rc < 0)
        return rc;
    rc = decode_payload(raw, raw_len, out);
    free(raw);
    return rc;
}

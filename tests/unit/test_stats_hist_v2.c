/* test_stats_hist_v2.c - HdrHistogram V2 compressed encoding: byte layout, round trips,
 * strings written by another implementation, and a decoder that survives any input. */
#include <math.h>
#include <stdlib.h>
#include <zlib.h>

#include "base/compiler.h"
#include "base/err.h"
#include "stats/stats.h"
#include "base/base64.h"
#include "stats/stats_internal.h"
#include "tap.h"

static uint64_t seed = 0x2545f4914f6cdd1dull;

static uint64_t next_u64(void)
{
    uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- helpers ---- */

static int same_hist(const struct hist *a, const struct hist *b)
{
    int ok = a->lowest == b->lowest && a->highest == b->highest && a->sigfigs == b->sigfigs &&
             a->unit_magnitude == b->unit_magnitude &&
             a->sub_bucket_half_count_magnitude == b->sub_bucket_half_count_magnitude &&
             a->sub_bucket_count == b->sub_bucket_count && a->bucket_count == b->bucket_count &&
             a->sub_bucket_mask == b->sub_bucket_mask && a->counts_len == b->counts_len &&
             a->total_count == b->total_count && hist_min(a) == hist_min(b) &&
             hist_max(a) == hist_max(b);
    if (ok)
        ok = memcmp(a->counts, b->counts, (size_t)a->counts_len * sizeof a->counts[0]) == 0;
    return ok;
}

/* Encode, decode, compare; returns the text (caller frees) or NULL. */
static char *roundtrip(const struct hist *h, const char *what)
{
    char *text = NULL;
    long n = hist_v2_encode(h, &text);
    CHECK(n > 0 && text && (size_t)n == strlen(text));
    if (n <= 0)
        return NULL;
    struct hist *d = NULL;
    int rc = hist_v2_decode(text, (size_t)n, &d);
    tap_result(rc == 0 && d && same_hist(h, d), __FILE__, __LINE__, what);
    if (rc == 0 && d) {
        static const double ps[] = {0, 1, 50, 90, 99, 99.9, 99.99, 100};
        int bad = 0;
        for (size_t i = 0; i < ARRAY_SIZE(ps); i++)
            CHECK_QUIET(hist_percentile(h, ps[i]) == hist_percentile(d, ps[i]), bad);
        CHECK_QUIET(fabs(hist_mean(h) - hist_mean(d)) <= 1e-9 * (1 + hist_mean(h)), bad);
        CHECK_QUIET(fabs(hist_stdev(h) - hist_stdev(d)) <= 1e-9 * (1 + hist_stdev(h)), bad);
        CHECK_EQ_I64(bad, 0);
        /* Re-encoding the decoded histogram gives the same text. */
        char *again = NULL;
        long m = hist_v2_encode(d, &again);
        CHECK(m == n && again && strcmp(again, text) == 0);
        free(again);
    }
    hist_free(d);
    return text;
}

/* Base64 -> wrapper -> inflate, for inspecting what the encoder wrote. */
static size_t unwrap(const char *text, uint8_t *raw, size_t raw_cap)
{
    size_t n = strlen(text);
    uint8_t *bin = malloc(n);
    long bn = base64_decode(text, n, bin);
    uLongf rl = (uLongf)raw_cap;
    int ok = bn >= 8 && uncompress(raw, &rl, bin + 8, (uLong)(bn - 8)) == Z_OK;
    CHECK(ok);
    CHECK(bn >= 8 && bin[0] == 0x1c && bin[1] == 0x84 && bin[2] == 0x93 && bin[3] == 0x14);
    CHECK(bn >= 8 &&
          ((uint32_t)bin[4] << 24 | bin[5] << 16 | bin[6] << 8 | bin[7]) == (uint32_t)(bn - 8));
    free(bin);
    return ok ? (size_t)rl : 0;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void test_layout(void)
{
    uint8_t raw[256];
    struct hist *h = hist_new_default();

    /* Empty: a single count 0. */
    char *text = roundtrip(h, "empty round trip");
    size_t n = unwrap(text, raw, sizeof raw);
    CHECK_EQ_I64(n, 41);
    CHECK_EQ_U64(be(raw, 4), 0x1c849313u); /* V2 cookie with the word-size nibble */
    CHECK_EQ_U64(be(raw + 4, 4), 1); /* counts length in bytes */
    CHECK_EQ_U64(be(raw + 8, 4), 0); /* normalizing index offset */
    CHECK_EQ_U64(be(raw + 12, 4), 3);
    CHECK_EQ_U64(be(raw + 16, 8), 1);
    CHECK_EQ_U64(be(raw + 24, 8), 3600000000u);
    CHECK_EQ_U64(be(raw + 32, 8), 0x3ff0000000000000u); /* 1.0 */
    CHECK_EQ_I64(raw[40], 0);
    free(text);

    /* One 5: five empty slots (-5 zigzags to 9), then 1 (zigzags to 2). */
    hist_record(h, 5);
    text = roundtrip(h, "single value round trip");
    n = unwrap(text, raw, sizeof raw);
    CHECK_EQ_I64(n, 42);
    CHECK_EQ_U64(be(raw + 4, 4), 2);
    CHECK_EQ_I64(raw[40], 9);
    CHECK_EQ_I64(raw[41], 2);
    free(text);

    /* One 1: a lone empty slot is 0, not -1; a count of 300 takes two bytes (600 = 0xd8 0x04). */
    hist_reset(h);
    hist_record_n(h, 1, 300);
    text = roundtrip(h, "lone zero round trip");
    n = unwrap(text, raw, sizeof raw);
    CHECK_EQ_I64(n, 43);
    CHECK_EQ_I64(raw[40], 0);
    CHECK_EQ_I64(raw[41], 0xd8);
    CHECK_EQ_I64(raw[42], 0x04);
    free(text);

    /* A count needing all nine varint bytes. */
    hist_reset(h);
    hist_record_n(h, 0, INT64_MAX);
    text = roundtrip(h, "count INT64_MAX round trip");
    n = unwrap(text, raw, sizeof raw);
    CHECK_EQ_I64(n, 49);
    CHECK_EQ_I64(raw[48], 0xff);
    free(text);
    hist_free(h);
}

static void test_roundtrips(void)
{
    struct {
        int64_t lowest, highest;
        int sigfigs;
    } params[] = {
        {1, HIST_HIGHEST, 3}, {1, INT64_MAX, 3}, {1000, 1000000000000LL, 2},
        {1, 10000000, 5},     {3, 1000, 1},      {1, 2, 3},
    };
    char what[128];
    for (size_t k = 0; k < ARRAY_SIZE(params); k++) {
        struct hist *h = hist_new(params[k].lowest, params[k].highest, params[k].sigfigs);
        CHECK(h != NULL);
        if (!h)
            continue;
        for (int i = 0; i < 20000; i++) {
            /* Log-spread values over the whole range, some counts large. */
            int64_t v = (int64_t)(next_u64() % (uint64_t)params[k].highest);
            v >>= next_u64() % 63;
            hist_record_n(h, v, i % 100 == 0 ? (int64_t)(next_u64() % 1000000) + 1 : 1);
        }
        hist_record(h, params[k].highest);
        snprintf(what, sizeof what, "round trip %lld..%lld at %d digits",
                 (long long)params[k].lowest, (long long)params[k].highest, params[k].sigfigs);
        free(roundtrip(h, what));

        hist_reset(h);
        hist_record(h, params[k].highest);
        snprintf(what, sizeof what, "round trip only the top of %lld..%lld",
                 (long long)params[k].lowest, (long long)params[k].highest);
        free(roundtrip(h, what));

        hist_reset(h);
        hist_record_n(h, 0, 42);
        free(roundtrip(h, "round trip only zeros"));
        hist_free(h);
    }

    /* Every metric-sized histogram with dense data. */
    struct hist *h = hist_new_default();
    for (int64_t v = 0; v < 300000; v += 7)
        hist_record_n(h, v, v % 13 + 1);
    free(roundtrip(h, "round trip dense"));
    hist_free(h);
}

/* Strings written by hdr-histogram-js 3.0.1 (an independent implementation) and the figures it
 * decodes from them. It writes 1 in the normalizing index offset and ratio fields, where Java
 * writes 0 and 1.0; readers ignore both. */
static void test_reference_strings(void)
{
    /* 1..3.6e9 at 3 digits: 0 1 2 3 100 250x5 1000x3 12345 99999 1000000 3000000000. */
    const char *a = "HISTFAAAAD54nJNpmSzMwMAgxcDAwMjAwMDMAAEgNsO1yUsYYHwmJiam/YxMK5m4bnKz7bZgWmzA1"
                    "G3G9Hw7IxMA8hIKCw==";
    struct hist *h = NULL;
    CHECK_EQ_I64(hist_v2_decode(a, strlen(a), &h), 0);
    if (h) {
        CHECK_EQ_I64(h->lowest, 1);
        CHECK_EQ_I64(h->highest, 3600000000LL);
        CHECK_EQ_I64(h->sigfigs, 3);
        CHECK_EQ_I64(h->total_count, 17);
        CHECK_EQ_I64(hist_min(h), 0);
        CHECK_EQ_I64(hist_max(h), 3001024511LL);
        CHECK_EQ_I64(hist_percentile(h, 50), 250);
        CHECK_EQ_I64(hist_percentile(h, 90), 1000447);
        CHECK_EQ_I64(hist_percentile(h, 99), 3001024511LL);
        CHECK(fabs(hist_mean(h) - 176534872.47058824) < 1e-3);
        CHECK(fabs(hist_stdev(h) - 705860304.740809) < 1e-3);
        CHECK_EQ_I64(h->counts[hist__index_of(h, 250)], 5);
        CHECK_EQ_I64(h->counts[hist__index_of(h, 1000)], 3);
        CHECK_EQ_I64(h->counts[hist__index_of(h, 12345)], 1);
        struct hist *mine = hist_new_default();
        static const int64_t vals[] = {0,    1,    2,     3,     100,     1000,
                                       1000, 1000, 12345, 99999, 1000000, 3000000000LL};
        for (size_t i = 0; i < ARRAY_SIZE(vals); i++)
            hist_record(mine, vals[i]);
        hist_record_n(mine, 250, 5);
        CHECK(same_hist(h, mine));
        hist_free(mine);
        hist_free(h);
    }

    /* 1000..1e12 at 2 digits: 1500x7, 123456789, 999999999999. */
    const char *b = "HISTFAAAADB4nJNpmSzMwMDAwcDAwMjAwMDEAAbMLxgYGF5cWSrAAAWMzHznxZm+SzIBAI36Bro=";
    h = NULL;
    CHECK_EQ_I64(hist_v2_decode(b, strlen(b), &h), 0);
    if (h) {
        CHECK_EQ_I64(h->lowest, 1000);
        CHECK_EQ_I64(h->highest, 1000000000000LL);
        CHECK_EQ_I64(h->sigfigs, 2);
        CHECK_EQ_I64(h->total_count, 9);
        CHECK_EQ_I64(hist_min(h), 1024);
        CHECK_EQ_I64(hist_percentile(h, 50), 1535);
        CHECK_EQ_I64(hist_percentile(h, 90), 1000727379967LL);
        CHECK_EQ_I64(hist_max(h), 1000727379967LL);
        CHECK(fabs(hist_mean(h) - 110967041678.22223) < 1e-2);
        hist_free(h);
    }
}

/* ---- hostile input ---- */

/* Build a text from parts: payload header fields, counts bytes, then the wrapper. */
struct craft {
    uint32_t cookie, zcookie;
    int32_t offset, sigfigs;
    int64_t lowest, highest;
    int64_t counts_len_delta; /* added to the declared counts length */
    int64_t zlen_delta; /* added to the declared zlib length */
    size_t zcut; /* zlib bytes to drop from the end */
};

/* Compress and wrap a payload as a valid text (the caller frees). */
static char *wrap_payload(const uint8_t *raw, size_t n)
{
    uLongf zl = compressBound((uLong)n);
    uint8_t *w = malloc(8 + zl);
    compress(w + 8, &zl, raw, (uLong)n);
    const uint32_t f[] = {0x1c849314u, (uint32_t)zl};
    for (int i = 0; i < 2; i++)
        for (int b = 0; b < 4; b++)
            w[i * 4 + b] = (uint8_t)(f[i] >> (24 - 8 * b));
    char *text = malloc(base64_encoded_len(8 + zl) + 1);
    base64_encode(w, 8 + zl, text);
    free(w);
    return text;
}

static char *craft(const struct craft *c, const uint8_t *counts, size_t n)
{
    uint8_t *raw = malloc(40 + n);
    uint64_t f[] = {c->cookie, (uint64_t)((int64_t)n + c->counts_len_delta), (uint32_t)c->offset,
                    (uint32_t)c->sigfigs};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++)
            raw[i * 4 + b] = (uint8_t)(f[i] >> (24 - 8 * b));
    uint64_t g[] = {(uint64_t)c->lowest, (uint64_t)c->highest, 0x3ff0000000000000ull};
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 8; b++)
            raw[16 + i * 8 + b] = (uint8_t)(g[i] >> (56 - 8 * b));
    memcpy(raw + 40, counts, n);
    uLongf zl = compressBound((uLong)(40 + n));
    uint8_t *w = malloc(8 + zl);
    compress(w + 8, &zl, raw, (uLong)(40 + n));
    free(raw);
    zl -= c->zcut;
    uint32_t declared = (uint32_t)((int64_t)zl + c->zlen_delta);
    for (int b = 0; b < 4; b++) {
        w[b] = (uint8_t)(c->zcookie >> (24 - 8 * b));
        w[4 + b] = (uint8_t)(declared >> (24 - 8 * b));
    }
    char *text = malloc(base64_encoded_len(8 + zl) + 1);
    base64_encode(w, 8 + zl, text);
    free(w);
    return text;
}

/* Decode from an exact-size heap copy, so that ASan sees any read past the end. */
static int decode_exact(const char *text, size_t n, struct hist **out)
{
    char *copy = malloc(n ? n : 1);
    memcpy(copy, text, n);
    int rc = hist_v2_decode(copy, n, out);
    free(copy);
    return rc;
}

static int crafted_rc(const struct craft *c, const uint8_t *counts, size_t n)
{
    char *text = craft(c, counts, n);
    struct hist *h = NULL;
    int rc = decode_exact(text, strlen(text), &h);
    if (rc == 0)
        CHECK(h != NULL);
    else
        CHECK(h == NULL);
    hist_free(h);
    free(text);
    return rc;
}

static void test_crafted(void)
{
    const struct craft ok = {0x1c849313u, 0x1c849314u, 0, 3, 1, 3600000000LL, 0, 0, 0};
    struct craft c;
    const uint8_t two[] = {0x09, 0x02}; /* five empty slots, then 1 */

    CHECK_EQ_I64(crafted_rc(&ok, two, sizeof two), 0);
    /* The word-size nibble is not checked, as in the reference readers. */
    c = ok, c.cookie = 0x1c849303u, c.zcookie = 0x1c849304u;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), 0);
    /* hdr-histogram-js writes 1 here; it is ignored. */
    c = ok, c.offset = 1;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), 0);

    c = ok, c.cookie = 0x1c849301u; /* V1 */
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.cookie = 0;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.zcookie = 0x1c849302u;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.zcookie = 0x1c849313u;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    /* Lengths that lie. */
    c = ok, c.counts_len_delta = 1;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.counts_len_delta = -1;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.counts_len_delta = 0x7fffffff;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.zlen_delta = 1;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.zlen_delta = 0x7fffffff;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.zlen_delta = -1; /* zlib stream cut short */
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.zcut = 4; /* no adler32 trailer */
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    /* Absurd parameters. */
    c = ok, c.sigfigs = 0;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.sigfigs = 6;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.sigfigs = -1;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.lowest = 0;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.lowest = -1;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.highest = 1;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.highest = -5;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    c = ok, c.lowest = (int64_t)1 << 61, c.highest = INT64_MAX;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    /* 5 digits over all of int64 would need ~49 MiB of counts: refused before allocating. */
    c = ok, c.sigfigs = 5, c.highest = INT64_MAX;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), HERD_E_PROTO);
    /* 4 digits over all of int64 (~6 MiB) is still accepted. */
    c = ok, c.sigfigs = 4, c.highest = INT64_MAX;
    CHECK_EQ_I64(crafted_rc(&c, two, sizeof two), 0);

    /* Varints: cut off, too long a zero run, a run of INT64_MIN, counts past the array, totals
     * that overflow. */
    const uint8_t cut[] = {0x02, 0x80};
    CHECK_EQ_I64(crafted_rc(&ok, cut, sizeof cut), HERD_E_PROTO);
    const uint8_t cut9[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
    CHECK_EQ_I64(crafted_rc(&ok, cut9, sizeof cut9), HERD_E_PROTO);
    const uint8_t min_run[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ_I64(crafted_rc(&ok, min_run, sizeof min_run), HERD_E_PROTO);
    const uint8_t long_run[] = {0x81, 0xf0, 0x02}; /* skip 23553: one past the 23552 slots */
    CHECK_EQ_I64(crafted_rc(&ok, long_run, sizeof long_run), HERD_E_PROTO);
    const uint8_t full_run[] = {0xff, 0xef, 0x02}; /* skip exactly 23552: fine, nothing after */
    CHECK_EQ_I64(crafted_rc(&ok, full_run, sizeof full_run), 0);
    const uint8_t past[] = {0xff, 0xef, 0x02, 0x02}; /* ... and one count after the end */
    CHECK_EQ_I64(crafted_rc(&ok, past, sizeof past), HERD_E_PROTO);
    const uint8_t big[] = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* INT64_MAX */
                           0x02};
    CHECK_EQ_I64(crafted_rc(&ok, big, sizeof big), HERD_E_PROTO);
    CHECK_EQ_I64(crafted_rc(&ok, big, 9), 0);
    const uint8_t none[1] = {0};
    CHECK_EQ_I64(crafted_rc(&ok, none, 0), 0); /* no counts at all: an empty histogram */

    /* A zlib bomb: 20 MiB of zero bytes after the header inflates past the cap. */
    size_t bomb_n = 20u << 20;
    uint8_t *bomb = calloc(1, bomb_n);
    CHECK_EQ_I64(crafted_rc(&ok, bomb, bomb_n), HERD_E_PROTO);
    free(bomb);

    /* Not base64, too short, NULL-free junk. */
    struct hist *h = NULL;
    CHECK_EQ_I64(decode_exact("", 0, &h), HERD_E_PROTO);
    CHECK_EQ_I64(decode_exact("HIST", 4, &h), HERD_E_PROTO);
    CHECK_EQ_I64(decode_exact("HISTFAAA", 8, &h), HERD_E_PROTO);
    CHECK_EQ_I64(decode_exact("not base64 at all!", 18, &h), HERD_E_PROTO);
    CHECK(h == NULL);
}

/* Every truncation and every one-character change of a valid text: an error or a histogram,
 * never a crash (run under ASan to mean it). */
static void test_mutations(void)
{
    struct hist *h = hist_new_default();
    for (int i = 0; i < 3000; i++)
        hist_record(h, (int64_t)(next_u64() % 100000) >> (next_u64() % 17));
    char *text = NULL;
    long n = hist_v2_encode(h, &text);
    CHECK(n > 0);
    int bad = 0, decoded = 0;
    for (long len = 0; len <= n; len++) {
        struct hist *d = NULL;
        int rc = decode_exact(text, (size_t)len, &d);
        CHECK_QUIET((rc == 0) == (d != NULL) && (rc == 0 || rc == HERD_E_PROTO), bad);
        if (rc == 0) {
            decoded++;
            CHECK_QUIET(d->total_count >= 0, bad);
        }
        hist_free(d);
    }
    CHECK_EQ_I64(bad, 0);
    /* Only the full text (and, at most, the text without its padding) is a histogram. */
    CHECK(decoded >= 1 && decoded <= 3);

    static const char swap[] = "AZaz09+/=\x01";
    int changed_ok = 0;
    char *copy = malloc((size_t)n);
    for (long i = 0; i < n; i++) {
        for (size_t s = 0; s < sizeof swap - 1; s++) {
            memcpy(copy, text, (size_t)n);
            if (copy[i] == swap[s])
                continue;
            copy[i] = swap[s];
            struct hist *d = NULL;
            int rc = hist_v2_decode(copy, (size_t)n, &d);
            CHECK_QUIET((rc == 0) == (d != NULL) && (rc == 0 || rc == HERD_E_PROTO), bad);
            if (rc == 0)
                changed_ok++;
            hist_free(d);
        }
    }
    free(copy);
    CHECK_EQ_I64(bad, 0);
    /* The adler32 check catches nearly every change inside the zlib data. */
    CHECK(changed_ok < n);
    char msg[80];
    snprintf(msg, sizeof msg, "text of %ld chars: %d one-character changes decoded", n, changed_ok);
    tap_diag(msg);

    free(text);
    hist_free(h);
}

/* Zlib's checksum shields the payload parser from most corruption, so corrupt the inflated
 * payload itself and wrap it validly: random byte changes, insertions and deletions. */
static void test_payload_mutations(void)
{
    struct hist *h = hist_new_default();
    for (int i = 0; i < 500; i++)
        hist_record_n(h, (int64_t)(next_u64() % 5000000) >> (next_u64() % 23), i % 7 + 1);
    char *text = NULL;
    long n = hist_v2_encode(h, &text);
    uint8_t raw[16384], mut[16400];
    size_t raw_n = unwrap(text, raw, sizeof raw);
    free(text);
    CHECK(raw_n > 40);
    int bad = 0, decoded = 0;
    for (int round = 0; round < 6000; round++) {
        size_t m = raw_n;
        memcpy(mut, raw, raw_n);
        int edits = 1 + (int)(next_u64() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)(next_u64() % m);
            switch (next_u64() % 4) {
            case 0: mut[at] = (uint8_t)next_u64(); break;
            case 1: mut[at] ^= (uint8_t)(1u << (next_u64() % 8)); break;
            case 2: /* insert a byte */
                memmove(mut + at + 1, mut + at, m - at);
                mut[at] = (uint8_t)next_u64();
                m++;
                break;
            default: /* delete a byte */
                if (m > 1) {
                    memmove(mut + at, mut + at + 1, m - at - 1);
                    m--;
                }
            }
        }
        /* Keep the declared counts length right half of the time, so the varints are reached. */
        if (m >= 40 && round % 2 == 0) {
            uint32_t cl = (uint32_t)(m - 40);
            for (int b = 0; b < 4; b++)
                mut[4 + b] = (uint8_t)(cl >> (24 - 8 * b));
        }
        char *t = wrap_payload(mut, m);
        struct hist *d = NULL;
        int rc = decode_exact(t, strlen(t), &d);
        CHECK_QUIET((rc == 0) == (d != NULL) && (rc == 0 || rc == HERD_E_PROTO), bad);
        if (rc == 0) {
            decoded++;
            /* Whatever decodes must survive its own round trip. */
            char *again = NULL;
            long an = hist_v2_encode(d, &again);
            struct hist *d2 = NULL;
            CHECK_QUIET(an > 0 && hist_v2_decode(again, (size_t)an, &d2) == 0 && same_hist(d, d2),
                        bad);
            free(again);
            hist_free(d2);
        }
        hist_free(d);
        free(t);
    }
    CHECK_EQ_I64(bad, 0);
    CHECK(decoded > 0); /* some mutations only change counts, and must decode */
    char msg[64];
    snprintf(msg, sizeof msg, "%d of 6000 mutated payloads decoded", decoded);
    tap_diag(msg);
    (void)n;
    hist_free(h);
}

int main(void)
{
    test_layout();
    test_roundtrips();
    test_reference_strings();
    test_crafted();
    test_mutations();
    test_payload_mutations();
    return tap_done();
}

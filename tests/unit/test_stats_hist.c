/* test_stats_hist.c - the HDR histogram: layout, percentiles against sorted arrays, statistics,
 * merge, clamping, reset. */
#include <math.h>
#include <stdlib.h>

#include "base/compiler.h"
#include "stats/stats.h"
#include "stats/stats_internal.h"
#include "tap.h"

/* A fixed-seed generator, so that a failure reproduces. */
static uint64_t seed = 0x9e3779b97f4a7c15ull;

static uint64_t next_u64(void)
{
    uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double next_unit(void)
{
    return (double)(next_u64() >> 11) * 0x1.0p-53;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_layout(void)
{
    /* The layout HdrHistogram gives 1..3.6e9 at 3 digits: 2048 slots per bucket, 22 buckets. */
    struct hist *h = hist_new_default();
    CHECK(h != NULL);
    CHECK_EQ_I64(h->lowest, 1);
    CHECK_EQ_I64(h->highest, 3600000000LL);
    CHECK_EQ_I64(h->sigfigs, 3);
    CHECK_EQ_I64(h->unit_magnitude, 0);
    CHECK_EQ_I64(h->sub_bucket_half_count_magnitude, 10);
    CHECK_EQ_I64(h->sub_bucket_count, 2048);
    CHECK_EQ_I64(h->sub_bucket_half_count, 1024);
    CHECK_EQ_I64(h->bucket_count, 22);
    CHECK_EQ_I64(h->sub_bucket_mask, 2047);
    CHECK_EQ_I64(h->counts_len, 23552);
    CHECK_EQ_I64(h->total_count, 0);
    CHECK_EQ_I64(h->min_value, INT64_MAX);
    CHECK_EQ_I64(h->max_value, 0);
    hist_free(h);

    /* lowest 1000 -> unit magnitude 9 (512); 2 digits -> 256 slots. */
    h = hist_new(1000, 1000000000, 2);
    CHECK(h != NULL);
    CHECK_EQ_I64(h->unit_magnitude, 9);
    CHECK_EQ_I64(h->sub_bucket_half_count_magnitude, 7);
    CHECK_EQ_I64(h->sub_bucket_count, 256);
    CHECK_EQ_I64(h->sub_bucket_mask, 255 << 9);
    /* 256 << 9 = 2^17 doubles past 1e9 (< 2^30) after 13 doublings: 14 buckets. */
    CHECK_EQ_I64(h->bucket_count, 14);
    CHECK_EQ_I64(h->counts_len, 15 * 128);
    hist_free(h);

    /* Significant figures 1..5 map to 32, 256, 2048, 32768, 262144 slots. */
    int32_t slots[] = {32, 256, 2048, 32768, 262144};
    for (int s = 1; s <= 5; s++) {
        h = hist_new(1, 1000000, s);
        CHECK(h && h->sub_bucket_count == slots[s - 1]);
        hist_free(h);
    }

    /* The widest range still fits in int64. */
    h = hist_new(1, INT64_MAX, 3);
    CHECK(h != NULL);
    if (h) {
        CHECK_EQ_I64(h->bucket_count, 53);
        hist_record(h, INT64_MAX);
        CHECK_EQ_I64(hist_max(h), INT64_MAX);
        CHECK(hist_min(h) > 0 && hist_values_equivalent(h, hist_min(h), INT64_MAX));
        CHECK_EQ_I64(hist_percentile(h, 100.0), INT64_MAX);
        CHECK_EQ_I64(h->clamped, 0);
        hist_free(h);
    }

    CHECK(hist_new(0, 1000, 3) == NULL);
    CHECK(hist_new(-5, 1000, 3) == NULL);
    CHECK(hist_new(1, 1000, 0) == NULL);
    CHECK(hist_new(1, 1000, 6) == NULL);
    CHECK(hist_new(100, 199, 3) == NULL);
    h = hist_new(100, 200, 3); /* highest == 2 * lowest is the narrowest range */
    CHECK(h != NULL);
    hist_free(h);
    CHECK(hist_new((int64_t)1 << 60, INT64_MAX, 3) == NULL); /* unit + half magnitude > 61 */
    CHECK(hist_new(INT64_MAX, INT64_MAX, 1) == NULL);
}

/* Every slot's lowest value maps back to the slot, and every value lies inside its slot. */
static void test_index_roundtrip(int64_t lowest, int64_t highest, int sigfigs)
{
    struct hist *h = hist_new(lowest, highest, sigfigs);
    CHECK(h != NULL);
    if (!h)
        return;
    int bad = 0;
    int64_t prev = -1;
    for (int32_t i = 0; i < h->counts_len; i++) {
        int64_t v = hist__value_at(h, i);
        CHECK_QUIET(v > prev, bad); /* slots are in increasing order */
        CHECK_QUIET(hist__index_of(h, v) == i, bad);
        prev = v;
    }
    CHECK_QUIET(hist__index_of(h, highest) < h->counts_len, bad);
    for (int k = 0; k < 20000; k++) {
        int64_t v = (int64_t)(next_u64() % (uint64_t)highest);
        if (k & 1)
            v >>= next_u64() % 62; /* spread over the magnitudes */
        int32_t i = hist__index_of(h, v);
        CHECK_QUIET(i >= 0 && i < h->counts_len, bad);
        CHECK_QUIET(hist__value_at(h, i) <= v, bad);
        CHECK_QUIET(i + 1 == h->counts_len || hist__value_at(h, i + 1) > v, bad);
    }
    CHECK_EQ_I64(bad, 0);
    hist_free(h);
}

static void test_equivalence(void)
{
    struct hist *h = hist_new_default();
    CHECK(hist_values_equivalent(h, 0, 0));
    CHECK(!hist_values_equivalent(h, 0, 1));
    CHECK(hist_values_equivalent(h, 2047, 2047));
    CHECK(!hist_values_equivalent(h, 2046, 2047)); /* bucket 0: single units up to 2047 */
    CHECK(hist_values_equivalent(h, 2048, 2049)); /* bucket 1: steps of 2 */
    CHECK(!hist_values_equivalent(h, 2049, 2050));
    CHECK(hist_values_equivalent(h, 10000, 10007)); /* bucket 3: steps of 8, 10000 = 1250 * 8 */
    CHECK(!hist_values_equivalent(h, 10007, 10008));
    CHECK(hist_values_equivalent(h, -3, 0)); /* negatives are recorded as 0 */
    hist_free(h);
}

/* Known figures: 10000 x 1000 and one 1e8 (HdrHistogram's own basic test data). */
static void test_known(void)
{
    struct hist *h = hist_new_default();
    hist_record_n(h, 1000, 10000);
    hist_record(h, 100000000);
    CHECK_EQ_I64(h->total_count, 10001);
    CHECK_EQ_I64(hist_percentile(h, 30.0), 1000);
    CHECK_EQ_I64(hist_percentile(h, 99.0), 1000);
    CHECK_EQ_I64(hist_percentile(h, 99.99), 1000);
    /* 1e8 lies in bucket 16 (steps of 65536): 1525 * 65536 = 99942400 .. 100007935. */
    CHECK_EQ_I64(hist_percentile(h, 99.999), 100007935);
    CHECK_EQ_I64(hist_percentile(h, 100.0), 100007935);
    CHECK_EQ_I64(hist_percentile(h, 250.0), 100007935);
    CHECK_EQ_I64(hist_percentile(h, 0.0), 1000);
    CHECK_EQ_I64(hist_percentile(h, -1.0), 1000);
    CHECK_EQ_I64(hist_min(h), 1000);
    CHECK_EQ_I64(hist_max(h), 100007935);
    /* Mean of median-equivalent values: (10000 * 1000 + 99942400 + 32768) / 10001. */
    double mean = (10000.0 * 1000 + 99942400 + 32768) / 10001;
    CHECK(fabs(hist_mean(h) - mean) < 1e-6);
    double dev1 = 1000 - mean, dev2 = 99975168 - mean;
    double sd = sqrt((10000 * dev1 * dev1 + dev2 * dev2) / 10001);
    CHECK(fabs(hist_stdev(h) - sd) < 1e-6 * sd);

    /* A rank that is an exact integer must not round up to the next one: 99% of 1000 is 990.
     */
    hist_reset(h);
    for (int v = 1; v <= 1000; v++)
        hist_record(h, v);
    CHECK_EQ_I64(hist_percentile(h, 99.0), 990);
    CHECK_EQ_I64(hist_percentile(h, 50.0), 500);
    CHECK_EQ_I64(hist_percentile(h, 0.1), 1);
    CHECK_EQ_I64(hist_percentile(h, 0.05), 1);
    CHECK_EQ_I64(hist_percentile(h, 99.95), 1000);
    CHECK_EQ_I64(hist_percentile(h, 29.0), 290);
    /* 1.1 / 100 * 1000 and 1.8 / 100 * 1000 come out one ulp above 11 and 18. */
    CHECK_EQ_I64(hist_percentile(h, 1.1), 11);
    CHECK_EQ_I64(hist_percentile(h, 1.8), 18);
    CHECK_EQ_I64(hist_percentile(h, 7.4), 74);
    CHECK(fabs(hist_mean(h) - 500.5) < 1e-9);
    hist_free(h);
}

static void test_empty(void)
{
    struct hist *h = hist_new_default();
    CHECK_EQ_I64(hist_percentile(h, 50.0), 0);
    CHECK_EQ_I64(hist_min(h), 0);
    CHECK_EQ_I64(hist_max(h), 0);
    CHECK(hist_mean(h) == 0.0);
    CHECK(hist_stdev(h) == 0.0);
    hist_record_n(h, 5, 0); /* a zero count records nothing */
    hist_record_n(h, 5, -3); /* nor does a negative one */
    CHECK_EQ_I64(h->total_count, 0);
    CHECK_EQ_I64(h->min_value, INT64_MAX);
    hist_record(h, 0);
    CHECK_EQ_I64(hist_min(h), 0);
    CHECK_EQ_I64(hist_max(h), 0);
    CHECK_EQ_I64(hist_percentile(h, 100.0), 0);
    hist_free(h);
}

enum dist { D_UNIFORM_SMALL, D_LOG_UNIFORM, D_CONSTANT, D_TWO_POINT, D_UNIFORM_WIDE, D_COUNT };
static const char *const dist_name[D_COUNT] = {"uniform 0..5000", "log-uniform 1..3.6e9",
                                               "constant 4242", "two-point 150/95000",
                                               "uniform 1..3.6e9"};

static int64_t draw(enum dist d)
{
    switch (d) {
    case D_UNIFORM_SMALL: return (int64_t)(next_u64() % 5001);
    case D_LOG_UNIFORM: return (int64_t)exp(next_unit() * log(3.6e9));
    case D_CONSTANT: return 4242;
    case D_TWO_POINT: return next_u64() % 10 < 9 ? 150 : 95000;
    case D_UNIFORM_WIDE: return 1 + (int64_t)(next_u64() % 3600000000ull);
    default: return 0;
    }
}

/* Percentiles, min, max, mean and stdev against the exact figures of a sorted array. */
static void test_distribution(enum dist d, int n)
{
    char msg[128];
    snprintf(msg, sizeof msg, "distribution %s, n = %d", dist_name[d], n);
    tap_diag(msg);

    int64_t *v = malloc((size_t)n * sizeof *v);
    struct hist *h = hist_new_default();
    double sum = 0;
    for (int i = 0; i < n; i++) {
        v[i] = draw(d);
        hist_record(h, v[i]);
        sum += (double)v[i];
    }
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    double mean = sum / n, sq = 0;
    for (int i = 0; i < n; i++)
        sq += ((double)v[i] - mean) * ((double)v[i] - mean);
    double sd = sqrt(sq / n);

    CHECK_EQ_I64(h->total_count, n);
    CHECK_EQ_I64(h->clamped, 0);
    /* The sorted-array percentile is the value of rank ceil(p / 100 * n); with p given in
     * thousandths of a percent the rank is computed exactly in integers. */
    static const int64_t p_milli[] = {1,     100,   1000,  10000, 25000, 50000,  75000, 90000,
                                      95000, 99000, 99900, 99990, 99999, 100000, 33333, 66667};
    int bad_equiv = 0, bad_rel = 0;
    for (size_t k = 0; k < ARRAY_SIZE(p_milli); k++) {
        int64_t rank = (p_milli[k] * n + 99999) / 100000;
        if (rank < 1)
            rank = 1;
        int64_t truth = v[rank - 1];
        int64_t got = hist_percentile(h, (double)p_milli[k] / 1000.0);
        CHECK_QUIET(hist_values_equivalent(h, got, truth), bad_equiv);
        CHECK_QUIET(got >= truth && (double)(got - truth) <= 1e-3 * (double)truth, bad_rel);
        if (!hist_values_equivalent(h, got, truth) || got < truth) {
            snprintf(msg, sizeof msg, "p%.3f: got %lld, sorted array %lld",
                     (double)p_milli[k] / 1000.0, (long long)got, (long long)truth);
            tap_diag(msg);
        }
    }
    CHECK_EQ_I64(bad_equiv, 0);
    CHECK_EQ_I64(bad_rel, 0);

    CHECK(hist_values_equivalent(h, hist_min(h), v[0]));
    CHECK(hist_min(h) <= v[0] && (double)(v[0] - hist_min(h)) <= 1e-3 * (double)v[0]);
    CHECK(hist_values_equivalent(h, hist_max(h), v[n - 1]));
    CHECK(hist_max(h) >= v[n - 1] && (double)(hist_max(h) - v[n - 1]) <= 1e-3 * (double)v[n - 1]);
    CHECK_EQ_I64(h->min_value, v[0]);
    CHECK_EQ_I64(h->max_value, v[n - 1]);
    CHECK(fabs(hist_mean(h) - mean) <= 1e-3 * mean);
    CHECK(fabs(hist_stdev(h) - sd) <= 1e-3 * mean);
    if (d == D_CONSTANT)
        CHECK(hist_stdev(h) == 0.0);

    free(v);
    hist_free(h);
}

static int same_counts(const struct hist *a, const struct hist *b)
{
    return a->counts_len == b->counts_len &&
           memcmp(a->counts, b->counts, (size_t)a->counts_len * sizeof a->counts[0]) == 0;
}

static void test_merge(void)
{
    struct hist *a = hist_new_default(), *b = hist_new_default(), *both = hist_new_default();
    for (int i = 0; i < 50000; i++) {
        int64_t x = draw(D_LOG_UNIFORM), y = draw(D_UNIFORM_SMALL);
        hist_record(a, x);
        hist_record(both, x);
        hist_record_n(b, y, 3);
        hist_record_n(both, y, 3);
    }
    hist_record(b, HIST_HIGHEST + 10); /* clamped counts merge too */
    hist_record(both, HIST_HIGHEST + 10);
    CHECK_EQ_I64(hist_add(a, b), 0);
    CHECK(same_counts(a, both));
    CHECK_EQ_I64(a->total_count, both->total_count);
    CHECK_EQ_I64(a->min_value, both->min_value);
    CHECK_EQ_I64(a->max_value, both->max_value);
    CHECK_EQ_I64(a->clamped, 1);
    CHECK_EQ_I64(hist_percentile(a, 99.9), hist_percentile(both, 99.9));
    CHECK(hist_mean(a) == hist_mean(both));

    /* Adding an empty histogram changes nothing, min included. */
    struct hist *empty = hist_new_default();
    CHECK_EQ_I64(hist_add(a, empty), 0);
    CHECK(same_counts(a, both));
    CHECK_EQ_I64(a->min_value, both->min_value);
    /* Into an empty one: a copy. */
    CHECK_EQ_I64(hist_add(empty, both), 0);
    CHECK(same_counts(empty, both));
    CHECK_EQ_I64(empty->min_value, both->min_value);
    CHECK_EQ_I64(empty->max_value, both->max_value);

    /* Different parameters: refused, nothing added. */
    struct hist *other = hist_new(1, HIST_HIGHEST, 2);
    struct hist *other2 = hist_new(1, HIST_HIGHEST * 2, 3);
    hist_record(other, 5);
    hist_record(other2, 5);
    int64_t before = a->total_count;
    CHECK_EQ_I64(hist_add(a, other), -1);
    CHECK_EQ_I64(hist_add(a, other2), -1);
    CHECK_EQ_I64(a->total_count, before);
    CHECK(same_counts(a, both));

    hist_free(a);
    hist_free(b);
    hist_free(both);
    hist_free(empty);
    hist_free(other);
    hist_free(other2);
}

static void test_clamp_reset(void)
{
    struct hist *h = hist_new(1, 1000000, 3);
    hist_record(h, 1000001);
    hist_record_n(h, INT64_MAX, 2);
    CHECK_EQ_I64(h->clamped, 3);
    CHECK_EQ_I64(h->total_count, 3);
    CHECK_EQ_I64(h->max_value, 1000000);
    CHECK(hist_values_equivalent(h, hist_max(h), 1000000));
    CHECK_EQ_I64(h->counts[hist__index_of(h, 1000000)], 3);
    hist_record(h, 1000000); /* the top itself is not clamped */
    CHECK_EQ_I64(h->clamped, 3);
    hist_record(h, -7);
    hist_record(h, INT64_MIN);
    CHECK_EQ_I64(h->clamped, 5);
    CHECK_EQ_I64(h->counts[0], 2);
    CHECK_EQ_I64(hist_min(h), 0);
    CHECK_EQ_I64(h->total_count, 6);

    hist_reset(h);
    CHECK_EQ_I64(h->total_count, 0);
    CHECK_EQ_I64(h->clamped, 0);
    CHECK_EQ_I64(h->min_value, INT64_MAX);
    CHECK_EQ_I64(h->max_value, 0);
    int nonzero = 0;
    for (int32_t i = 0; i < h->counts_len; i++)
        CHECK_QUIET(h->counts[i] == 0, nonzero);
    CHECK_EQ_I64(nonzero, 0);
    CHECK_EQ_I64(h->sub_bucket_count, 2048); /* parameters survive */
    hist_record(h, 77);
    CHECK_EQ_I64(hist_percentile(h, 50.0), 77);
    CHECK_EQ_I64(hist_min(h), 77);
    hist_free(h);
}

/* A coarse unit: values below `lowest` share slot 0, and min/max report slot edges. */
static void test_unit_magnitude(void)
{
    struct hist *h = hist_new(1000, 100000000, 3); /* unit 512 */
    hist_record(h, 700);
    hist_record(h, 1500);
    CHECK_EQ_I64(hist_min(h), 512);
    CHECK_EQ_I64(hist_max(h), 1535);
    CHECK_EQ_I64(hist_percentile(h, 50.0), 1023);
    CHECK(hist_values_equivalent(h, 0, 511));
    CHECK(!hist_values_equivalent(h, 511, 512));
    hist_free(h);
}

/* Cumulative counts at bounds, against counting a sorted array (exact below 2048, where every
 * slot holds one value; within a slot's width above). */
static void test_count_at_or_below(void)
{
    struct hist *h = hist_new_default();
    int64_t vals[] = {0, 1, 99, 100, 100, 101, 2047, 2500, 2501, 9999, 1000000, HIST_HIGHEST + 5};
    for (size_t i = 0; i < ARRAY_SIZE(vals); i++)
        hist_record(h, vals[i]);
    int64_t bounds[] = {0, 100, 2047, 2500, 1000000, HIST_HIGHEST, INT64_MAX};
    uint64_t got[ARRAY_SIZE(bounds)];
    hist_count_at_or_below(h, bounds, ARRAY_SIZE(bounds), got);
    CHECK_EQ_U64(got[0], 1);
    CHECK_EQ_U64(got[1], 5);
    CHECK_EQ_U64(got[2], 7);
    CHECK_EQ_U64(got[3], 9); /* 2500 and 2501 share a slot (width 2 from 2048) */
    CHECK_EQ_U64(got[4], 11);
    CHECK_EQ_U64(got[5], 12); /* the clamped sample sits at highest */
    CHECK_EQ_U64(got[6], 12);
    hist_count_at_or_below(h, bounds, 0, got); /* nothing asked: nothing written */
    hist_free(h);
}

int main(void)
{
    test_count_at_or_below();
    test_layout();
    test_index_roundtrip(1, HIST_HIGHEST, 3);
    test_index_roundtrip(1, INT64_MAX, 3);
    test_index_roundtrip(1000, 1000000000000LL, 2);
    test_index_roundtrip(1, 1000000, 5);
    test_index_roundtrip(7, 1LL << 40, 1);
    test_equivalence();
    test_known();
    test_empty();
    for (int d = 0; d < D_COUNT; d++)
        test_distribution((enum dist)d, 200000);
    test_distribution(D_LOG_UNIFORM, 7);
    test_distribution(D_TWO_POINT, 10);
    test_merge();
    test_clamp_reset();
    test_unit_magnitude();
    return tap_done();
}

/* hist.c - HDR histogram: the bucket layout and statistics of HdrHistogram, written for herd.
 *
 * Layout. A value v is split into a bucket (its power of two) and a sub-bucket (its top bits).
 * Each bucket has sub_bucket_count = 2^(sub_bucket_half_count_magnitude + 1) slots, enough for
 * `sigfigs` decimal digits: 2 * 10^sigfigs <= sub_bucket_count. Bucket 0 covers 0 ..
 * sub_bucket_count << unit_magnitude in steps of 2^unit_magnitude; bucket b > 0 covers the next
 * octave in steps twice as wide as bucket b - 1. Since the lower half of bucket b would repeat
 * the range of bucket b - 1, only bucket 0 stores its lower half, so counts[] holds
 * (bucket_count + 1) * sub_bucket_half_count slots. The relative width of any slot is at most
 * 1 / sub_bucket_half_count, which is what "sigfigs significant digits" promises.
 *
 * Every value in one slot is "equivalent": the statistics report a slot by its lowest, highest
 * or median value, exactly as HdrHistogram does, so numbers agree with other implementations
 * that decode our V2 output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "base/err.h"
#include "stats/stats.h"
#include "stats/stats_internal.h"

int hist__configure(struct hist *cfg, int64_t lowest, int64_t highest, int sigfigs)
{
    if (lowest < 1 || sigfigs < 1 || sigfigs > 5 || highest / 2 < lowest)
        return HERD_E_INVAL;

    /* Smallest power of two holding 2 * 10^sigfigs distinct steps: a half bucket then has at
     * least 10^sigfigs steps, so a slot is never wider than 10^-sigfigs of its values. */
    int64_t single_unit_top = 2;
    for (int i = 0; i < sigfigs; i++)
        single_unit_top *= 10;
    int count_magnitude = 0;
    while (((int64_t)1 << count_magnitude) < single_unit_top)
        count_magnitude++;
    int half_magnitude = (count_magnitude > 1 ? count_magnitude : 1) - 1;
    int unit_magnitude = 63 - __builtin_clzll((unsigned long long)lowest);

    /* The top slot value must stay below 2^63 (HdrHistogram_c's limit too). */
    if (unit_magnitude + half_magnitude > 61)
        return HERD_E_INVAL;

    int32_t sub_bucket_count = (int32_t)1 << (half_magnitude + 1);

    /* Buckets needed until the first value past the last bucket exceeds `highest`. Doubling
     * stops before it would pass 2^63: one more bucket then reaches the top of int64. */
    int64_t past_end = (int64_t)sub_bucket_count << unit_magnitude;
    int32_t buckets = 1;
    while (past_end <= highest) {
        if (past_end > INT64_MAX / 2) {
            buckets++;
            break;
        }
        past_end <<= 1;
        buckets++;
    }

    cfg->lowest = lowest;
    cfg->highest = highest;
    cfg->sigfigs = sigfigs;
    cfg->unit_magnitude = unit_magnitude;
    cfg->sub_bucket_half_count_magnitude = half_magnitude;
    cfg->sub_bucket_count = sub_bucket_count;
    cfg->sub_bucket_half_count = sub_bucket_count / 2;
    cfg->bucket_count = buckets;
    cfg->sub_bucket_mask = (int64_t)(sub_bucket_count - 1) << unit_magnitude;
    cfg->counts_len = (buckets + 1) * (sub_bucket_count / 2);
    cfg->_pad = 0;
    return 0;
}

struct hist *hist_new(int64_t lowest, int64_t highest, int sigfigs)
{
    struct hist cfg;
    if (hist__configure(&cfg, lowest, highest, sigfigs) < 0)
        return NULL;
    struct hist *h = calloc(1, sizeof *h + (size_t)cfg.counts_len * sizeof h->counts[0]);
    if (!h)
        return NULL;
    memcpy(h, &cfg, offsetof(struct hist, total_count));
    h->min_value = INT64_MAX;
    return h;
}

struct hist *hist_new_default(void)
{
    return hist_new(HIST_LOWEST, HIST_HIGHEST, HIST_SIGFIGS);
}

void hist_free(struct hist *h)
{
    free(h);
}

void hist_reset(struct hist *h)
{
    memset(h->counts, 0, (size_t)h->counts_len * sizeof h->counts[0]);
    h->total_count = 0;
    h->min_value = INT64_MAX;
    h->max_value = 0;
    h->clamped = 0;
}

/* Bucket of v: how far v's highest set bit lies above the top of bucket 0. OR-ing in the mask
 * sends every value of bucket 0 (including 0) to the same answer without a branch. */
static inline int32_t bucket_of(const struct hist *h, int64_t v)
{
    int top_bits = 64 - __builtin_clzll((unsigned long long)(v | h->sub_bucket_mask));
    return top_bits - h->unit_magnitude - (h->sub_bucket_half_count_magnitude + 1);
}

static inline int32_t sub_bucket_of(const struct hist *h, int64_t v, int32_t bucket)
{
    return (int32_t)(v >> (bucket + h->unit_magnitude));
}

static inline int32_t index_of(const struct hist *h, int64_t v)
{
    int32_t bucket = bucket_of(h, v);
    int32_t sub = sub_bucket_of(h, v, bucket);
    /* Buckets above 0 live only in their upper half, hence the half-count offset. */
    return ((bucket + 1) << h->sub_bucket_half_count_magnitude) + (sub - h->sub_bucket_half_count);
}

int32_t hist__index_of(const struct hist *h, int64_t v)
{
    return index_of(h, v);
}

int64_t hist__value_at(const struct hist *h, int32_t i)
{
    int32_t bucket = (i >> h->sub_bucket_half_count_magnitude) - 1;
    int32_t sub = (i & (h->sub_bucket_half_count - 1)) + h->sub_bucket_half_count;
    if (bucket < 0) {
        /* The lower half of bucket 0: slots 0 .. half_count - 1 are values themselves. */
        sub -= h->sub_bucket_half_count;
        bucket = 0;
    }
    return (int64_t)sub << (bucket + h->unit_magnitude);
}

/* Negative values are recorded as 0, so they are equivalent to 0 too. */
static inline int64_t non_negative(int64_t v)
{
    return v < 0 ? 0 : v;
}

static int64_t lowest_equivalent(const struct hist *h, int64_t v)
{
    int32_t bucket = bucket_of(h, v);
    return (int64_t)sub_bucket_of(h, v, bucket) << (bucket + h->unit_magnitude);
}

/* Width of v's slot. Unsigned, since the top slot may end exactly at 2^63. */
static uint64_t equivalent_range(const struct hist *h, int64_t v)
{
    int32_t bucket = bucket_of(h, v);
    if (sub_bucket_of(h, v, bucket) >= h->sub_bucket_count)
        bucket++;
    return (uint64_t)1 << (h->unit_magnitude + bucket);
}

static int64_t highest_equivalent(const struct hist *h, int64_t v)
{
    return (int64_t)((uint64_t)lowest_equivalent(h, v) + equivalent_range(h, v) - 1);
}

static int64_t median_equivalent(const struct hist *h, int64_t v)
{
    return (int64_t)((uint64_t)lowest_equivalent(h, v) + (equivalent_range(h, v) >> 1));
}

void hist_record_n(struct hist *h, int64_t v, int64_t count)
{
    if (UNLIKELY(count <= 0))
        return;
    if (UNLIKELY((uint64_t)v > (uint64_t)h->highest)) {
        /* One unsigned compare catches both negative values and values above the range. */
        h->clamped += count;
        v = v < 0 ? 0 : h->highest;
    }
    h->counts[index_of(h, v)] += count;
    h->total_count += count;
    if (v < h->min_value)
        h->min_value = v;
    if (v > h->max_value)
        h->max_value = v;
}

static int same_layout(const struct hist *a, const struct hist *b)
{
    return a->lowest == b->lowest && a->highest == b->highest && a->sigfigs == b->sigfigs &&
           a->counts_len == b->counts_len;
}

int hist_add(struct hist *dst, const struct hist *src)
{
    if (!same_layout(dst, src))
        return -1;
    /* Identical layouts: adding slot by slot is exact, no value is re-bucketed. */
    for (int32_t i = 0; i < src->counts_len; i++)
        dst->counts[i] += src->counts[i];
    dst->total_count += src->total_count;
    dst->clamped += src->clamped;
    if (src->min_value < dst->min_value)
        dst->min_value = src->min_value;
    if (src->max_value > dst->max_value)
        dst->max_value = src->max_value;
    return 0;
}

void hist__recount(struct hist *h)
{
    int32_t first = -1, last = -1;
    int64_t total = 0;
    for (int32_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i] == 0)
            continue;
        if (first < 0)
            first = i;
        last = i;
        total += h->counts[i];
    }
    h->total_count = total;
    h->min_value = first < 0 ? INT64_MAX : hist__value_at(h, first);
    h->max_value = last < 0 ? 0 : hist__value_at(h, last);
}

int64_t hist_percentile(const struct hist *h, double p)
{
    if (h->total_count <= 0)
        return 0;
    if (!(p > 0.0))
        return hist_min(h); /* HdrHistogram: the 0th percentile is the lowest equivalent */
    if (p > 100.0)
        p = 100.0;

    /* The rank is ceil(p% of the total), less one ulp first: p / 100 * n often comes out one ulp
     * above an exact integer (e.g. 99.0 / 100 * 1000), and must not round up past it. Same
     * arithmetic as HdrHistogram (Java and JS), so the figures match theirs. */
    double fp_rank = (p / 100.0) * (double)h->total_count;
    double ulp = ldexp(1.0, ilogb(fp_rank) - 52);
    double ceil_rank = ceil(fp_rank - ulp);
    int64_t rank = ceil_rank < 1.0 ? 1 : (int64_t)ceil_rank;

    int64_t seen = 0;
    for (int32_t i = 0; i < h->counts_len; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            return highest_equivalent(h, hist__value_at(h, i));
    }
    return hist_max(h); /* unreachable while total_count matches counts[] */
}

int64_t hist_min(const struct hist *h)
{
    /* Not min_value == INT64_MAX: that is also a value one can record. */
    if (h->total_count <= 0)
        return 0;
    return lowest_equivalent(h, h->min_value);
}

int64_t hist_max(const struct hist *h)
{
    if (h->total_count <= 0)
        return 0;
    return highest_equivalent(h, h->max_value);
}

double hist_mean(const struct hist *h)
{
    if (h->total_count <= 0)
        return 0.0;
    /* Sum in double: count * value overflows int64 easily at an hour in microseconds. */
    double sum = 0.0;
    for (int32_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i])
            sum += (double)h->counts[i] * (double)median_equivalent(h, hist__value_at(h, i));
    }
    return sum / (double)h->total_count;
}

double hist_stdev(const struct hist *h)
{
    if (h->total_count <= 0)
        return 0.0;
    double mean = hist_mean(h);
    double sum_sq = 0.0;
    for (int32_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i]) {
            double dev = (double)median_equivalent(h, hist__value_at(h, i)) - mean;
            sum_sq += dev * dev * (double)h->counts[i];
        }
    }
    return sqrt(sum_sq / (double)h->total_count);
}

int hist_values_equivalent(const struct hist *h, int64_t v1, int64_t v2)
{
    return lowest_equivalent(h, non_negative(v1)) == lowest_equivalent(h, non_negative(v2));
}

void hist_count_at_or_below(const struct hist *h, const int64_t *bounds, size_t n, uint64_t *out)
{
    uint64_t seen = 0;
    int32_t i = 0;
    for (size_t k = 0; k < n; k++) {
        int64_t b = non_negative(bounds[k]);
        /* Bounds above the range take everything (the clamped samples sit at `highest`). */
        int32_t last = b >= h->highest ? h->counts_len - 1 : index_of(h, b);
        if (last >= h->counts_len)
            last = h->counts_len - 1;
        for (; i <= last; i++)
            seen += (uint64_t)h->counts[i];
        out[k] = seen;
    }
}

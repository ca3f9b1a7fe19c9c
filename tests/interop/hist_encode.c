/* hist_encode.c - interop helper: record values with herd's histogram and print its V2 text
 * and the figures herd computes, for tests/integration/test_hdr_interop.py to compare with an
 * independent decoder (hdr_decode.js). Not part of the build; the test compiles it:
 *
 *   cc -std=c11 -D_GNU_SOURCE -Isrc tests/interop/hist_encode.c src/stats/(*).c \
 *      src/base/(*).c -lz -lm
 *
 * Usage: hist_encode [LOWEST HIGHEST SIGFIGS] < values
 * Input: one "VALUE" or "VALUE COUNT" per line (defaults: herd's 1..3600000000 at 3 digits).
 * Output: one JSON line: {"hdr":"...","totalCount":N,"min":N,"minNonZeroValue":N|null,
 *   "maxValue":N,"p50":N,"p90":N,"p99":N,"p999":N,"mean":X,"stdDeviation":X,"clamped":N,
 *   "counts":[[slot's lowest value,count],...]} */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "stats/stats.h"
#include "stats/stats_internal.h"

int main(int argc, char **argv)
{
    int64_t lowest = HIST_LOWEST, highest = HIST_HIGHEST;
    int sigfigs = HIST_SIGFIGS;
    if (argc == 4) {
        lowest = strtoll(argv[1], NULL, 10);
        highest = strtoll(argv[2], NULL, 10);
        sigfigs = atoi(argv[3]);
    } else if (argc != 1) {
        fprintf(stderr, "usage: hist_encode [LOWEST HIGHEST SIGFIGS] < values\n");
        return 2;
    }
    struct hist *h = hist_new(lowest, highest, sigfigs);
    if (!h) {
        fprintf(stderr, "hist_encode: bad parameters\n");
        return 2;
    }

    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        long long v, count = 1;
        int n = sscanf(line, "%lld %lld", &v, &count);
        if (n >= 1)
            hist_record_n(h, v, count);
    }

    char *text = NULL;
    if (hist_v2_encode(h, &text) < 0) {
        fprintf(stderr, "hist_encode: encoding failed\n");
        return 1;
    }
    /* HdrHistogram's "min non-zero": the first non-empty slot past slot 0. */
    int64_t min_nonzero = -1;
    for (int32_t i = 1; i < h->counts_len && min_nonzero < 0; i++) {
        if (h->counts[i])
            min_nonzero = hist__value_at(h, i);
    }

    printf("{\"hdr\":\"%s\",\"totalCount\":%" PRId64 ",\"min\":%" PRId64, text, h->total_count,
           hist_min(h));
    if (min_nonzero < 0)
        printf(",\"minNonZeroValue\":null");
    else
        printf(",\"minNonZeroValue\":%" PRId64, min_nonzero);
    printf(",\"maxValue\":%" PRId64 ",\"p50\":%" PRId64 ",\"p90\":%" PRId64 ",\"p99\":%" PRId64
           ",\"p999\":%" PRId64 ",\"mean\":%.17g,\"stdDeviation\":%.17g,\"clamped\":%" PRId64
           ",\"counts\":[",
           hist_max(h), hist_percentile(h, 50), hist_percentile(h, 90), hist_percentile(h, 99),
           hist_percentile(h, 99.9), hist_mean(h), hist_stdev(h), h->clamped);
    const char *sep = "";
    for (int32_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i]) {
            printf("%s[%" PRId64 ",%" PRId64 "]", sep, hist__value_at(h, i), h->counts[i]);
            sep = ",";
        }
    }
    printf("]}\n");
    free(text);
    hist_free(h);
    return 0;
}

/* fuzz_hist_v2.c - libFuzzer target for the HdrHistogram V2 decoder (the `hdr` text of reports).
 *
 * Each input is tried twice: as the base64 text itself, and as an inflated payload that is
 * compressed, wrapped and encoded here first. Random text almost never gets through zlib's
 * checksum, so the second way is what lets the fuzzer reach the header and varint parser.
 * Whatever decodes must be a consistent histogram, and must survive a round trip: encode it,
 * decode that, and get the same parameters and counts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/compiler.h"
#include "base/err.h"
#include "stats/stats.h"
#include "base/base64.h"
#include "stats/stats_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *in, size_t size)
{
    struct hist *h = NULL;
    int rc = hist_v2_decode(in, size, &h);
    if (rc != 0) {
        HERD_ASSERT(rc == HERD_E_PROTO && h == NULL);
        return;
    }
    HERD_ASSERT(h != NULL);
    int64_t total = 0;
    for (int32_t i = 0; i < h->counts_len; i++) {
        HERD_ASSERT(h->counts[i] >= 0);
        total += h->counts[i];
    }
    HERD_ASSERT(total == h->total_count);
    HERD_ASSERT(hist_min(h) <= hist_max(h));
    HERD_ASSERT(hist_percentile(h, 50.0) <= hist_max(h));
    (void)hist_mean(h);
    (void)hist_stdev(h);

    char *text = NULL;
    long n = hist_v2_encode(h, &text);
    HERD_ASSERT(n > 0 && text != NULL);
    struct hist *again = NULL;
    HERD_ASSERT(hist_v2_decode(text, (size_t)n, &again) == 0);
    HERD_ASSERT(again->lowest == h->lowest && again->highest == h->highest &&
                again->sigfigs == h->sigfigs && again->counts_len == h->counts_len);
    HERD_ASSERT(again->total_count == h->total_count);
    HERD_ASSERT(again->min_value == h->min_value && again->max_value == h->max_value);
    HERD_ASSERT(memcmp(again->counts, h->counts, (size_t)h->counts_len * sizeof h->counts[0]) == 0);
    free(text);
    hist_free(again);
    hist_free(h);
}

/* Compress and wrap a payload as the encoder would, then check the text. */
static void check_payload(const uint8_t *raw, size_t size)
{
    if (size > (1u << 20))
        return;
    uLongf zlen = compressBound((uLong)size);
    uint8_t *bin = malloc(8 + zlen);
    HERD_ASSERT(bin && compress(bin + 8, &zlen, raw, (uLong)size) == Z_OK);
    const uint32_t head[2] = {0x1c849314u, (uint32_t)zlen};
    for (int i = 0; i < 8; i++)
        bin[i] = (uint8_t)(head[i / 4] >> (24 - 8 * (i % 4)));
    char *text = malloc(base64_encoded_len(8 + zlen) + 1);
    HERD_ASSERT(text);
    base64_encode(bin, 8 + zlen, text);
    free(bin);
    check_text(text, strlen(text));
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_text((const char *)data, size);
    check_payload(data, size);
    return 0;
}

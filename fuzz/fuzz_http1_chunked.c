/* fuzz_http1_chunked.c - libFuzzer target for the in-place chunked decoder.
 * Invariants: consumed <= input, output <= consumed; "need more" consumes everything; and the
 * input fed in two pieces (split where the first two bytes say) or byte by byte gives the same
 * result, output and total consumed as in one piece. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
    int rc;
    size_t out_len, used;
};

/* Feed data in pieces ending at cuts[] (ascending), appending the output to out. */
static struct result decode(const uint8_t *data, size_t size, const size_t *cuts, size_t ncuts,
                            size_t step, uint8_t *out)
{
    struct http1_chunked c;
    memset(&c, 0, sizeof c);
    struct result res = {0, 0, 0};
    size_t start = 0, k = 0;
    while (start < size || (start == 0 && size == 0)) {
        size_t stop = step ? start + step : k < ncuts ? cuts[k++] : size;
        if (stop > size)
            stop = size;
        size_t n = stop - start, in_len = n, consumed = (size_t)-1;
        uint8_t *piece = malloc(n ? n : 1);
        HERD_ASSERT(piece);
        if (n)
            memcpy(piece, data + start, n);
        res.rc = http1_chunked_decode(&c, piece, &n, &consumed);
        HERD_ASSERT(res.rc == 0 || res.rc == 1 || res.rc == HERD_E_PROTO);
        HERD_ASSERT(consumed <= in_len && n <= consumed);
        if (res.rc == 0)
            HERD_ASSERT(consumed == in_len);
        if (n)
            memcpy(out + res.out_len, piece, n);
        free(piece);
        res.out_len += n;
        res.used += consumed;
        if (res.rc != 0 || stop == size)
            break;
        start = stop;
    }
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *a = malloc(size + 1), *b = malloc(size + 1);
    HERD_ASSERT(a && b);
    struct result whole = decode(data, size, NULL, 0, 0, a);

    size_t cut = size >= 2 ? ((size_t)data[0] << 8 | data[1]) % (size + 1) : 0;
    struct result two = decode(data, size, &cut, 1, 0, b);
    HERD_ASSERT(two.rc == whole.rc && two.out_len == whole.out_len && two.used == whole.used);
    HERD_ASSERT(memcmp(a, b, whole.out_len) == 0);

    if (size <= 4096) {
        struct result bytes = decode(data, size, NULL, 0, 1, b);
        HERD_ASSERT(bytes.rc == whole.rc && bytes.out_len == whole.out_len &&
                    bytes.used == whole.used);
        HERD_ASSERT(memcmp(a, b, whole.out_len) == 0);
    }
    free(a);
    free(b);
    return 0;
}

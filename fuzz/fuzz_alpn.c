/* fuzz_alpn.c - libFuzzer target for ALPN selection over a client's protocol list (wire
 * format), which herd serve takes from any client. Invariants: a pick lies inside the input,
 * preceded by its length byte 8 and spells http/1.1; it is the first such entry of a walk over
 * well-formed entries; a list with a length running past its end picks nothing after it. */
#include <stdint.h>
#include <string.h>

#include "base/compiler.h"
#include "net/tls_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reference: walk the entries; the first http/1.1, or none (also when one overruns). */
static const uint8_t *ref_pick(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t len = p[i];
        if (n - i - 1 < len)
            return NULL;
        if (len == 8 && memcmp(p + i + 1, "http/1.1", 8) == 0)
            return p + i + 1;
        i += 1 + len;
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65535)
        return 0; /* a TLS extension holds at most 2^16 - 1 bytes */
    const unsigned char *sel = NULL;
    int ok = net_tls__alpn_pick(data, (unsigned)size, &sel);
    const uint8_t *ref = ref_pick(data, size);
    HERD_ASSERT(ok == (ref != NULL));
    if (ok) {
        HERD_ASSERT(sel == ref);
        HERD_ASSERT(sel > data && sel + 8 <= data + size && sel[-1] == 8);
        HERD_ASSERT(memcmp(sel, "http/1.1", 8) == 0);
    }
    return 0;
}

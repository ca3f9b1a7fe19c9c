/* fuzz_utf8.c - libFuzzer target for the incremental UTF-8 validator.
 * Invariants: the verdict equals a plain decoding reference; the state after any split of the
 * input, and after byte-by-byte feeding, equals the state after the whole; only ACCEPT means
 * valid. */
#include <stdint.h>
#include <string.h>

#include "base/compiler.h"
#include "proto/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decode each character and check RFC 3629's rules on the scalar value. */
static int ref_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            len = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            len = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            len = 4, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if (n - i < len)
            return 0;
        for (size_t j = 1; j < len; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t whole = utf8_feed(UTF8_ACCEPT, data, size);
    HERD_ASSERT((whole == UTF8_ACCEPT) == ref_valid(data, size));
    HERD_ASSERT(utf8_valid(data, size) == (whole == UTF8_ACCEPT));

    /* Every split point for small inputs, a spread of them for large ones. */
    size_t step = size / 64 + 1;
    for (size_t i = 0; i <= size; i += step) {
        uint32_t st = utf8_feed(UTF8_ACCEPT, data, i);
        HERD_ASSERT(utf8_feed(st, data + i, size - i) == whole);
    }
    uint32_t st = UTF8_ACCEPT;
    for (size_t i = 0; i < size; i++)
        st = utf8_feed(st, data + i, 1);
    HERD_ASSERT(st == whole);
    return 0;
}

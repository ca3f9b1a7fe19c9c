/* fuzz_stamp.c - libFuzzer target for finding the herd1 stamp in arbitrary messages.
 * Invariants: a stamp found lies within the buffer and starts with "herd1:"; formatting what
 * was found and searching the result finds it again at offset 0; a stamp appended to the input
 * is always found, at or before where it was put; format -> find round trips for values taken
 * from the input; the input fed in pieces (cut where its first bytes say, and byte by byte)
 * finds exactly what stamp_find finds in the whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "proto/stamp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t load64(const uint8_t *p, size_t n, size_t at)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (at + i < n ? p[at + i] : 0);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stamp s, t;
    char text[STAMP_MAX];

    long at = stamp_find(data, size, &s);
    HERD_ASSERT(at >= -1);
    if (at >= 0) {
        HERD_ASSERT((size_t)at + 11 <= size && memcmp(data + at, "herd1:", 6) == 0);
        size_t n = stamp_format(text, &s);
        HERD_ASSERT(n <= STAMP_MAX);
        HERD_ASSERT(stamp_find((const uint8_t *)text, n, &t) == 0);
        HERD_ASSERT(t.publisher == s.publisher && t.seq == s.seq && t.real_ns == s.real_ns);
    }

    /* In pieces: cuts taken from the input, then one byte at a time. */
    for (int mode = 0; mode < 2; mode++) {
        struct stamp_split sp = {0};
        struct stamp u;
        size_t off = 0;
        int r = 0;
        unsigned k = 0;
        while (r == 0) {
            size_t step = mode ? 1 : (size_t)(size ? data[k++ % size] % 97 : 0) + 1;
            size_t n = size - off < step ? size - off : step;
            r = stamp_split_feed(&sp, data + off, n, off + n == size, &u);
            off += n;
            HERD_ASSERT(r != 0 || off < size);
        }
        HERD_ASSERT((r == 1) == (at >= 0));
        if (r == 1)
            HERD_ASSERT(u.publisher == s.publisher && u.seq == s.seq && u.real_ns == s.real_ns);
    }

    /* Values from the input, formatted and appended after a separator. */
    struct stamp in = {load64(data, size, 0), load64(data, size, 8), load64(data, size, 16)};
    uint8_t *buf = malloc(size + 1 + STAMP_MAX);
    HERD_ASSERT(buf);
    if (size)
        memcpy(buf, data, size);
    buf[size] = ' ';
    size_t n = stamp_format((char *)buf + size + 1, &in);
    HERD_ASSERT(n <= STAMP_MAX);
    long at2 = stamp_find(buf, size + 1 + n, &t);
    HERD_ASSERT(at2 >= 0 && (size_t)at2 <= size + 1);
    if (at >= 0)
        HERD_ASSERT(at2 <= at);
    if ((size_t)at2 == size + 1)
        HERD_ASSERT(t.publisher == in.publisher && t.seq == in.seq && t.real_ns == in.real_ns);
    /* On its own, too. */
    HERD_ASSERT(stamp_find(buf + size + 1, n, &t) == 0);
    HERD_ASSERT(t.publisher == in.publisher && t.seq == in.seq && t.real_ns == in.real_ns);
    free(buf);
    return 0;
}

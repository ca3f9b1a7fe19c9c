/* fuzz_sse_emit.c - libFuzzer target for the event stream writer, as a round trip.
 * The input is an id (its first 8 bytes, little-endian, when there are 8) and a message (the
 * rest). Invariants: the output has sse_emit_size() bytes and at most sse_emit_max(); the chunked
 * form de-chunks (http1_chunked_decode, with the last chunk after it) to exactly the bare form;
 * the bare form, parsed by sse_next (whole, and byte by byte), dispatches exactly one event whose
 * data is the message with every line break (CRLF, CR, LF) as LF and whose id is the id in
 * decimal. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "proto/http1.h"
#include "proto/sse.h"
#include "proto/sse_emit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse s[0..n) in pieces of `step`; the one event's data and id, and how many were dispatched. */
static int parse(const uint8_t *s, size_t n, size_t step, uint8_t *d, size_t *dlen, char *id,
                 size_t *idlen)
{
    struct sse_parser p;
    sse_init(&p);
    size_t dl = 0, il = 0;
    int events = 0;
    for (size_t off = 0; off < n;) {
        size_t k = n - off < step ? n - off : step;
        size_t pos = 0;
        for (;;) {
            struct sse_item it;
            size_t used;
            int kind = sse_next(&p, s + off + pos, k - pos, &used, &it);
            HERD_ASSERT(used <= k - pos);
            pos += used;
            if (kind == SSE_NONE)
                break;
            if (kind == SSE_DATA) {
                if (it.flags & SSE_F_LF)
                    d[dl++] = '\n';
                if (it.len)
                    memcpy(d + dl, it.p, it.len);
                dl += it.len;
            } else if (kind == SSE_ID) {
                if (it.flags & SSE_F_START)
                    il = 0;
                HERD_ASSERT(il + it.len <= 20);
                if (it.len)
                    memcpy(id + il, it.p, it.len);
                il += it.len;
            } else if (kind == SSE_DISPATCH) {
                events++;
                *dlen = dl;
                *idlen = il;
            } else {
                HERD_ASSERT(0); /* nothing else is ever written */
            }
        }
        off += k;
    }
    return events;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t id = size;
    if (size >= 8) {
        id = 0;
        for (int i = 7; i >= 0; i--)
            id = id << 8 | data[i];
        data += 8;
        size -= 8;
    }
    size_t max = sse_emit_max(size);
    uint8_t *bare = malloc(max), *ch = malloc(max + 5), *got = malloc(size + 1),
            *want = malloc(size + 1);
    HERD_ASSERT(bare && ch && got && want);

    size_t off;
    size_t bn = sse_emit_event(bare, id, data, size, 0, NULL);
    size_t cn = sse_emit_event(ch, id, data, size, SSE_EMIT_CHUNKED, &off);
    HERD_ASSERT(bn == sse_emit_size(id, data, size, 0) && bn <= max);
    HERD_ASSERT(cn == sse_emit_size(id, data, size, SSE_EMIT_CHUNKED) && cn <= max);
    HERD_ASSERT(cn == off + bn + 2 && memcmp(ch + off, bare, bn) == 0);

    memcpy(ch + cn, SSE_EMIT_LAST_CHUNK, 5);
    struct http1_chunked ck = {0};
    size_t dl = cn + 5, used = 0;
    HERD_ASSERT(http1_chunked_decode(&ck, ch, &dl, &used) == 1);
    HERD_ASSERT(used == cn + 5 && dl == bn && memcmp(ch, bare, bn) == 0);

    size_t wn = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\r') {
            want[wn++] = '\n';
            if (i + 1 < size && data[i + 1] == '\n')
                i++;
        } else {
            want[wn++] = data[i];
        }
    }
    char idtxt[24], idgot[24];
    int idn = snprintf(idtxt, sizeof idtxt, "%llu", (unsigned long long)id);
    size_t steps[2] = {bn, 1};
    for (int k = 0; k < 2; k++) {
        size_t gl = 0, il = 0;
        HERD_ASSERT(parse(bare, bn, steps[k], got, &gl, idgot, &il) == 1);
        HERD_ASSERT(gl == wn && (wn == 0 || memcmp(got, want, wn) == 0));
        HERD_ASSERT(il == (size_t)idn && memcmp(idgot, idtxt, il) == 0);
    }
    free(bare);
    free(ch);
    free(got);
    free(want);
    return 0;
}

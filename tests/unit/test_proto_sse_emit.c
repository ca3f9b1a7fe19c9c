/* test_proto_sse_emit.c - the event stream writer: exact bytes for known messages, and every
 * message read back by herd's own parsers (http1_chunked_decode, then sse_next) as the same data
 * (line breaks as LF) and id, whole and byte by byte; sizes agree with sse_emit_size and never
 * pass sse_emit_max. */
#include "proto/sse_emit.h"
#include "proto/http1.h"
#include "proto/sse.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUF 65536

struct got {
    uint8_t data[BUF];
    size_t len;
    char id[32];
    size_t id_len;
    int events;
};

/* Feed s[0..n) to the event parser in pieces of `step` bytes; collect dispatched events (the
 * last one's data and id). */
static void parse(const uint8_t *s, size_t n, size_t step, struct got *g)
{
    struct sse_parser p;
    sse_init(&p);
    uint8_t data[BUF];
    size_t dlen = 0;
    char id[32];
    size_t idlen = 0;
    memset(g, 0, sizeof *g);
    for (size_t off = 0; off < n;) {
        size_t k = n - off < step ? n - off : step;
        size_t pos = 0;
        for (;;) {
            struct sse_item it;
            size_t used;
            int kind = sse_next(&p, s + off + pos, k - pos, &used, &it);
            pos += used;
            if (kind == SSE_NONE)
                break;
            if (kind == SSE_DATA) {
                if (it.flags & SSE_F_LF)
                    data[dlen++] = '\n';
                memcpy(data + dlen, it.p ? it.p : (const uint8_t *)"", it.len);
                dlen += it.len;
            } else if (kind == SSE_ID) {
                if (it.flags & SSE_F_START)
                    idlen = 0;
                memcpy(id + idlen, it.p ? it.p : (const uint8_t *)"", it.len);
                idlen += it.len;
            } else if (kind == SSE_DISPATCH) {
                memcpy(g->data, data, dlen);
                g->len = dlen;
                memcpy(g->id, id, idlen);
                g->id_len = idlen;
                g->events++;
                dlen = 0;
            }
        }
        off += k;
    }
}

/* data with every line break as LF */
static size_t normalize(const uint8_t *d, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\r') {
            out[o++] = '\n';
            if (i + 1 < n && d[i + 1] == '\n')
                i++;
        } else {
            out[o++] = d[i];
        }
    }
    return o;
}

static void roundtrip(uint64_t id, const uint8_t *d, size_t n)
{
    static uint8_t out[BUF * 8], want[BUF];
    char idtxt[32];
    snprintf(idtxt, sizeof idtxt, "%llu", (unsigned long long)id);
    size_t wn = normalize(d, n, want);
    for (unsigned flags = 0; flags <= SSE_EMIT_CHUNKED; flags++) {
        size_t off = 99;
        size_t len = sse_emit_event(out, id, d, n, flags, &off);
        CHECK_EQ_U64(len, sse_emit_size(id, d, n, flags));
        CHECK(len <= sse_emit_max(n));
        if (flags & SSE_EMIT_CHUNKED) {
            /* the unframed event sits inside the chunk */
            static uint8_t plain[BUF * 8];
            size_t plen = sse_emit_event(plain, id, d, n, 0, NULL);
            CHECK_EQ_U64(len - off - 2, plen);
            CHECK(memcmp(out + off, plain, plen) == 0);
            /* de-chunk with the body decoder, then add the last chunk: complete */
            static uint8_t tmp[BUF * 8 + 8];
            memcpy(tmp, out, len);
            memcpy(tmp + len, SSE_EMIT_LAST_CHUNK, 5);
            struct http1_chunked ck = {0};
            size_t dl = len + 5, used = 0;
            int rc = http1_chunked_decode(&ck, tmp, &dl, &used);
            CHECK_EQ_I64(rc, 1);
            CHECK_EQ_U64(used, len + 5);
            CHECK_EQ_U64(dl, plen);
            CHECK(memcmp(tmp, plain, plen) == 0);
        } else {
            CHECK_EQ_U64(off, 0);
        }
        size_t steps[] = {len, 1, 7};
        for (size_t k = 0; k < 3; k++) {
            if (flags & SSE_EMIT_CHUNKED)
                break; /* parsed above as the bare event */
            struct got g;
            parse(out, len, steps[k], &g);
            /* "data: " alone still dispatches (the buffer holds its LF), with empty data */
            CHECK_EQ_I64(g.events, 1);
            CHECK_EQ_U64(g.len, wn);
            CHECK(memcmp(g.data, want, wn) == 0);
            CHECK_EQ_U64(g.id_len, strlen(idtxt));
            CHECK(memcmp(g.id, idtxt, g.id_len) == 0);
        }
    }
}

static void exact(void)
{
    uint8_t out[256];
    const char *m = "hello";
    size_t n = sse_emit_event(out, 7, (const uint8_t *)m, 5, 0, NULL);
    CHECK_EQ_U64(n, strlen("id: 7\ndata: hello\n\n"));
    CHECK(memcmp(out, "id: 7\ndata: hello\n\n", n) == 0);

    m = "a\nb\r\nc\rd";
    n = sse_emit_event(out, 12, (const uint8_t *)m, strlen(m), 0, NULL);
    const char *w = "id: 12\ndata: a\ndata: b\ndata: c\ndata: d\n\n";
    CHECK_EQ_U64(n, strlen(w));
    CHECK(memcmp(out, w, n) == 0);

    size_t off;
    n = sse_emit_event(out, 1, (const uint8_t *)"x", 1, SSE_EMIT_CHUNKED, &off);
    w = "f\r\nid: 1\ndata: x\n\n\r\n"; /* 15 bytes of event */
    CHECK_EQ_U64(n, strlen(w));
    CHECK(memcmp(out, w, n) == 0);
    CHECK_EQ_U64(off, 3);

    n = sse_emit_event(out, 18446744073709551615ull, (const uint8_t *)"", 0, 0, NULL);
    w = "id: 18446744073709551615\ndata: \n\n";
    CHECK_EQ_U64(n, strlen(w));
    CHECK(memcmp(out, w, n) == 0);

    /* a trailing line break is an empty last line */
    n = sse_emit_event(out, 3, (const uint8_t *)"a\n", 2, 0, NULL);
    w = "id: 3\ndata: a\ndata: \n\n";
    CHECK_EQ_U64(n, strlen(w));
    CHECK(memcmp(out, w, n) == 0);
}

int main(void)
{
    exact();
    static const char *const msgs[] = {
        "x",      "hello world",  "a\nb",        "a\r\nb",     "a\rb",
        "\n",     "\r\n",         "\r\r\n\n",    "\n\n\n",     " leading space",
        ":colon", "data: nested", "herd1:1:2:3", "trailing\r",
    };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++)
        roundtrip(i * 977, (const uint8_t *)msgs[i], strlen(msgs[i]));
    roundtrip(5, (const uint8_t *)"", 0);
    /* pseudo-random bytes, many line breaks, sizes around chunk-size digit changes */
    static uint8_t big[5000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof big; i++) {
        x = x * 1103515245u + 12345u;
        uint8_t b = (uint8_t)(x >> 16);
        big[i] = (b & 7) == 0 ? '\n' : (b & 7) == 1 ? '\r' : (uint8_t)(' ' + b % 90);
    }
    size_t sizes[] = {1, 2, 3, 200, 237, 238, 239, 240, 241, 4000, 5000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        roundtrip(UINT64_MAX - i, big, sizes[i]);
    /* no line break at all: the exact 4095/4096 chunk-size boundary */
    memset(big, 'z', sizeof big);
    for (size_t n = 4060; n < 4090; n++)
        roundtrip(1, big, n);
    return tap_done();
}

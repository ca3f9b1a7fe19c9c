/* fuzz_pmd.c - libFuzzer target for permessage-deflate: the extension-header parser (both
 * sides) and the inflate path.
 * The first byte picks what the rest is:
 *   even: a Sec-WebSocket-Extensions value. The client's check answers 1, 0 or
 *         HERD_E_HANDSHAKE with a reason; an accepted answer keeps to the offer; the server's
 *         pick, formatted, passes the client's check of the offer it answers.
 *   odd:  compressed bytes. Inflating them (whole, and in two pieces cut where the second byte
 *         says) gives the same bytes or the same error, never more than the limit; and the
 *         input deflated then inflated, in pieces, is the input again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"
#include "proto/pmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LIMIT 65536

struct sink {
    uint8_t *buf;
    size_t n;
};

static int to_sink(void *ctx, const uint8_t *p, size_t len)
{
    struct sink *s = ctx;
    HERD_ASSERT(s->n + len <= LIMIT);
    memcpy(s->buf + s->n, p, len);
    s->n += len;
    return 0;
}

static void headers(const uint8_t *data, size_t size)
{
    struct http1_header h = {"Sec-WebSocket-Extensions", 24, (const char *)data, size};
    static const struct pmd_params offers[] = {
        {0},
        {1, 1, 10, PMD_BITS_ASKED},
        {0, 0, 0, 12},
    };
    for (size_t i = 0; i < sizeof offers / sizeof offers[0]; i++) {
        struct pmd_params a;
        const char *why = NULL;
        int rc = pmd_response_check(&h, 1, &offers[i], &a, &why);
        HERD_ASSERT(rc == 0 || rc == 1 || rc == HERD_E_HANDSHAKE);
        if (rc == HERD_E_HANDSHAKE)
            HERD_ASSERT(why != NULL);
        if (rc == 1) {
            HERD_ASSERT(a.server_max_window_bits == 0 ||
                        (a.server_max_window_bits >= 8 && a.server_max_window_bits <= 15));
            HERD_ASSERT(a.client_max_window_bits == 0 ||
                        (a.client_max_window_bits >= 9 && a.client_max_window_bits <= 15));
            if (offers[i].server_max_window_bits)
                HERD_ASSERT(a.server_max_window_bits <= offers[i].server_max_window_bits);
            HERD_ASSERT(a.client_no_context_takeover >= offers[i].client_no_context_takeover);
        }
    }
    struct pmd_params a;
    for (int snt = 0; snt < 2; snt++) {
        if (pmd_offer_select(&h, 1, snt, &a) != 1)
            continue;
        char out[256];
        size_t n = pmd_response_format(&a, out, sizeof out);
        HERD_ASSERT(n > 0);
        struct http1_header back = {"Sec-WebSocket-Extensions", 24, out, n};
        struct pmd_params offer = {.server_no_context_takeover = 0,
                                   .client_no_context_takeover = a.client_no_context_takeover,
                                   .server_max_window_bits = a.server_max_window_bits},
                          got;
        HERD_ASSERT(pmd_response_check(&back, 1, &offer, &got, NULL) == 1);
        HERD_ASSERT(got.server_no_context_takeover == a.server_no_context_takeover);
    }
}

static void compressed(const uint8_t *data, size_t size)
{
    static uint8_t out1[LIMIT], out2[LIMIT], scratch[512];
    size_t cut = size ? data[0] % (size + 1) : 0;
    z_stream z;
    HERD_ASSERT(pmd_inflate_init(&z, 15) == 0);
    struct sink a = {out1, 0}, b = {out2, 0};
    uint64_t ta = 0, tb = 0;
    int ra = pmd_inflate(&z, data, size, 1, scratch, sizeof scratch, LIMIT, &ta, to_sink, &a);
    inflateReset(&z);
    int rb = pmd_inflate(&z, data, cut, 0, scratch, sizeof scratch, LIMIT, &tb, to_sink, &b);
    if (rb == 0)
        rb = pmd_inflate(&z, data + cut, size - cut, 1, scratch, sizeof scratch, LIMIT, &tb,
                         to_sink, &b);
    HERD_ASSERT(ra == 0 || ra == HERD_E_PROTO || ra == HERD_E_TOO_BIG);
    HERD_ASSERT(a.n <= LIMIT && b.n <= LIMIT);
    if (ra == 0 && rb == 0)
        HERD_ASSERT(a.n == b.n && memcmp(out1, out2, a.n) == 0);
    pmd_inflate_end(&z);

    /* The input as a message: deflated, then inflated in two pieces. */
    size_t cap = pmd_deflate_bound(size);
    uint8_t *comp = malloc(cap);
    HERD_ASSERT(comp);
    z_stream d;
    HERD_ASSERT(pmd_deflate_init(&d, 9 + (size % 7), 1 + (int)(size % 9)) == 0);
    long n = pmd_deflate(&d, data, size, comp, cap, 1);
    HERD_ASSERT(n >= 0 && (size_t)n <= cap);
    HERD_ASSERT(pmd_inflate_init(&z, 15) == 0);
    struct sink c = {out1, 0};
    uint64_t tc = 0;
    size_t half = (size_t)n / 2;
    if (size <= LIMIT) {
        HERD_ASSERT(
            pmd_inflate(&z, comp, half, 0, scratch, sizeof scratch, LIMIT, &tc, to_sink, &c) == 0);
        HERD_ASSERT(pmd_inflate(&z, comp + half, (size_t)n - half, 1, scratch, sizeof scratch,
                                LIMIT, &tc, to_sink, &c) == 0);
        HERD_ASSERT(c.n == size && memcmp(out1, data, size) == 0);
    }
    pmd_inflate_end(&z);
    pmd_deflate_end(&d);
    free(comp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        compressed(data + 1, size - 1);
    else
        headers(data + 1, size - 1);
    return 0;
}

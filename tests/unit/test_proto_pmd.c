/* test_proto_pmd.c - permessage-deflate (RFC 7692): the negotiation rules both sides, the
 * section 7.2.3 examples, round trips with and without context takeover, compressed messages
 * inflated in every split, and a decompression bomb stopped at the limit. */
#include "base/err.h"
#include "proto/http1.h"
#include "proto/pmd.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* ---- negotiation ---- */

static int check_resp(const char *value, const struct pmd_params *offer, struct pmd_params *agreed)
{
    struct http1_header h = {"Sec-WebSocket-Extensions", 24, value, strlen(value)};
    const char *why = NULL;
    int rc = pmd_response_check(&h, 1, offer, agreed, &why);
    if (rc < 0 && !why)
        return -999; /* a refusal must say why */
    return rc;
}

static void test_option(void)
{
    struct pmd_params o;
    const char *why = NULL;
    CHECK_EQ_I64(pmd_option_parse(NULL, &o, &why), 0);
    CHECK(!o.server_no_context_takeover && !o.client_max_window_bits);
    CHECK_EQ_I64(pmd_option_parse("server_no_context_takeover,client_max_window_bits=10", &o, &why),
                 0);
    CHECK(o.server_no_context_takeover && o.client_max_window_bits == 10);
    CHECK_EQ_I64(pmd_option_parse("client_max_window_bits", &o, &why), 0);
    CHECK_EQ_U64(o.client_max_window_bits, PMD_BITS_ASKED);
    CHECK_EQ_I64(pmd_option_parse("client_no_context_takeover, server_max_window_bits=9", &o, &why),
                 0);
    CHECK(o.client_no_context_takeover && o.server_max_window_bits == 9);
    static const char *const bad[] = {
        "server_max_window_bits", /* needs a value */
        "server_max_window_bits=16",
        "server_max_window_bits=7",
        "client_max_window_bits=8", /* zlib cannot compress with 8 */
        "server_no_context_takeover=1",
        "bogus",
        "server_no_context_takeover,server_no_context_takeover",
        "client_max_window_bits=010",
        ",",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        CHECK_EQ_I64(pmd_option_parse(bad[i], &o, &why), HERD_E_INVAL);
        CHECK(why != NULL);
    }
    char out[256];
    pmd_option_parse("server_no_context_takeover,client_max_window_bits", &o, &why);
    CHECK(pmd_offer_format(&o, out, sizeof out) > 0);
    CHECK_EQ_STR(out, "permessage-deflate; server_no_context_takeover; client_max_window_bits");
    pmd_option_parse("client_max_window_bits=10,server_max_window_bits=12", &o, &why);
    pmd_offer_format(&o, out, sizeof out);
    CHECK_EQ_STR(out, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10");
    CHECK_EQ_U64(pmd_offer_format(&o, out, 20), 0);
}

static void test_response(void)
{
    struct pmd_params offer = {0}, a;
    /* Declined: no extension, or an empty header. */
    CHECK_EQ_I64(check_resp("", &offer, &a), 0);
    CHECK_EQ_I64(check_resp(" , ", &offer, &a), 0);
    /* Accepted plainly, with the server's own choices (allowed unasked, 7.1.1-7.1.2). */
    CHECK_EQ_I64(check_resp("permessage-deflate", &offer, &a), 1);
    CHECK(!a.server_no_context_takeover && !a.client_no_context_takeover);
    CHECK_EQ_I64(check_resp("permessage-deflate; server_no_context_takeover; "
                            "client_no_context_takeover; server_max_window_bits=10",
                            &offer, &a),
                 1);
    CHECK(a.server_no_context_takeover && a.client_no_context_takeover &&
          a.server_max_window_bits == 10);
    CHECK_EQ_I64(check_resp("PerMessage-Deflate;server_max_window_bits=\"11\"", &offer, &a), 1);
    CHECK_EQ_U64(a.server_max_window_bits, 11);
    /* client_max_window_bits only when offered, and no larger than offered. */
    CHECK_EQ_I64(check_resp("permessage-deflate; client_max_window_bits=10", &offer, &a),
                 HERD_E_HANDSHAKE);
    offer.client_max_window_bits = PMD_BITS_ASKED;
    CHECK_EQ_I64(check_resp("permessage-deflate; client_max_window_bits=10", &offer, &a), 1);
    CHECK_EQ_U64(a.client_max_window_bits, 10);
    offer.client_max_window_bits = 11;
    CHECK_EQ_I64(check_resp("permessage-deflate; client_max_window_bits=12", &offer, &a),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check_resp("permessage-deflate", &offer, &a), 1);
    CHECK_EQ_U64(a.client_max_window_bits, 11); /* what herd offered to keep to */
    offer = (struct pmd_params){.server_max_window_bits = 10};
    CHECK_EQ_I64(check_resp("permessage-deflate; server_max_window_bits=12", &offer, &a),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check_resp("permessage-deflate; server_max_window_bits=9", &offer, &a), 1);
    /* What herd offered not to do, it does not do, whatever the answer. */
    offer = (struct pmd_params){.client_no_context_takeover = 1};
    CHECK_EQ_I64(check_resp("permessage-deflate", &offer, &a), 1);
    CHECK(a.client_no_context_takeover);
    /* Refused: another extension, twice, unknown or repeated parameters, bad values. */
    offer = (struct pmd_params){.client_max_window_bits = PMD_BITS_ASKED};
    static const char *const bad[] = {
        "x-webkit-deflate-frame",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate; foo",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=\"1 0\"",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=8",
        "permessage-deflate;",
        "permessage-deflate; server_max_window_bits=\"10",
        "permessage-deflate x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = check_resp(bad[i], &offer, &a);
        CHECK_EQ_I64(rc, HERD_E_HANDSHAKE);
        if (rc != HERD_E_HANDSHAKE)
            printf("#   accepted: %s\n", bad[i]);
    }
    /* Two headers form one list. */
    struct http1_header two[2] = {{"Sec-WebSocket-Extensions", 24, "permessage-deflate", 18},
                                  {"sec-websocket-extensions", 24, "permessage-deflate", 18}};
    CHECK_EQ_I64(pmd_response_check(two, 2, &offer, &a, NULL), HERD_E_HANDSHAKE);
}

static int select_from(const char *value, int snt, struct pmd_params *a)
{
    struct http1_header h = {"Sec-WebSocket-Extensions", 24, value, strlen(value)};
    return pmd_offer_select(&h, 1, snt, a);
}

static void test_select(void)
{
    struct pmd_params a;
    CHECK_EQ_I64(select_from("", 0, &a), 0);
    CHECK_EQ_I64(select_from("x-foo", 0, &a), 0);
    CHECK_EQ_I64(select_from("permessage-deflate", 0, &a), 1);
    CHECK(!a.server_no_context_takeover);
    CHECK_EQ_I64(select_from("permessage-deflate; client_max_window_bits", 1, &a), 1);
    CHECK(a.server_no_context_takeover && !a.client_max_window_bits);
    /* The first acceptable offer: bad ones are passed over, not the request. */
    CHECK_EQ_I64(select_from("permessage-deflate; bogus, permessage-deflate; "
                             "server_max_window_bits=8, permessage-deflate; "
                             "client_no_context_takeover; server_max_window_bits=10",
                             0, &a),
                 1);
    CHECK(a.client_no_context_takeover && a.server_max_window_bits == 10);
    char out[256];
    CHECK(pmd_response_format(&a, out, sizeof out) > 0);
    CHECK_EQ_STR(out, "permessage-deflate; client_no_context_takeover; server_max_window_bits=10");
    /* An answer the server formats passes the client's check of the offer it answers. */
    struct pmd_params offer = {.client_no_context_takeover = 1, .server_max_window_bits = 10};
    struct pmd_params back;
    CHECK_EQ_I64(check_resp(out, &offer, &back), 1);
}

/* ---- the codec ---- */

struct sink {
    uint8_t buf[1 << 21];
    size_t n;
    int calls;
};

static int to_sink(void *ctx, const uint8_t *p, size_t len)
{
    struct sink *s = ctx;
    if (s->n + len > sizeof s->buf)
        return -77;
    memcpy(s->buf + s->n, p, len);
    s->n += len;
    s->calls++;
    return 0;
}

static uint8_t scratch[4096];

static int inflate_all(z_stream *z, const uint8_t *in, size_t len, struct sink *s, uint64_t max)
{
    uint64_t total = 0;
    s->n = 0;
    return pmd_inflate(z, in, len, 1, scratch, sizeof scratch, max, &total, to_sink, s);
}

static void test_rfc_examples(void)
{
    static struct sink s;
    z_stream z;
    CHECK_EQ_I64(pmd_inflate_init(&z, 15), 0);
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    CHECK_EQ_I64(inflate_all(&z, hello, sizeof hello, &s, 1000), 0);
    CHECK(s.n == 5 && memcmp(s.buf, "Hello", 5) == 0);
    /* 7.2.3.2: the second message uses the first's window (context takeover). */
    static const uint8_t again[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    CHECK_EQ_I64(inflate_all(&z, again, sizeof again, &s, 1000), 0);
    CHECK(s.n == 5 && memcmp(s.buf, "Hello", 5) == 0);
    /* 7.2.3.3: a stored block. */
    static const uint8_t stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    CHECK_EQ_I64(inflate_all(&z, stored, sizeof stored, &s, 1000), 0);
    CHECK(s.n == 5 && memcmp(s.buf, "Hello", 5) == 0);
    /* 7.2.3.4: BFINAL set. */
    static const uint8_t final[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
    inflateReset(&z);
    CHECK_EQ_I64(inflate_all(&z, final, sizeof final, &s, 1000), 0);
    CHECK(s.n == 5 && memcmp(s.buf, "Hello", 5) == 0);
    /* 7.2.3.5: two blocks in one message. */
    static const uint8_t two[] = {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff,
                                  0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00};
    CHECK_EQ_I64(inflate_all(&z, two, sizeof two, &s, 1000), 0);
    CHECK(s.n == 5 && memcmp(s.buf, "Hello", 5) == 0);
    /* 7.2.3.6: an empty message compresses to one 00 byte. */
    static const uint8_t empty[] = {0x00};
    CHECK_EQ_I64(inflate_all(&z, empty, 1, &s, 1000), 0);
    CHECK_EQ_U64(s.n, 0);
    /* Garbage is a protocol error. */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    inflateReset(&z);
    CHECK_EQ_I64(inflate_all(&z, junk, sizeof junk, &s, 1000), HERD_E_PROTO);
    pmd_inflate_end(&z);

    z_stream d;
    CHECK_EQ_I64(pmd_deflate_init(&d, 15, 8), 0);
    uint8_t out[64];
    CHECK_EQ_I64(pmd_deflate(&d, (const uint8_t *)"", 0, out, sizeof out, 1), 1);
    CHECK_EQ_U64(out[0], 0);
    long n = pmd_deflate(&d, (const uint8_t *)"Hello", 5, out, sizeof out, 1);
    CHECK_EQ_I64(n, 7);
    CHECK_EQ_MEM(out, hello, 7);
    pmd_deflate_end(&d);
}

static void test_round_trips(void)
{
    static uint8_t msg[200000], comp[220000];
    static struct sink s;
    uint64_t x = 12345;
    for (size_t i = 0; i < sizeof msg; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        /* compressible text with a random stretch */
        msg[i] = i % 7000 < 5000 ? (uint8_t)("herd says hello "[i % 16]) : (uint8_t)(x >> 56);
    }
    static const size_t lens[] = {0, 1, 32, 1024, 65536, 200000};
    for (int takeover = 0; takeover < 2; takeover++) {
        z_stream d, z;
        pmd_deflate_init(&d, takeover ? 15 : 10, takeover ? 8 : 4);
        pmd_inflate_init(&z, takeover ? 15 : 10);
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            size_t len = lens[k];
            long n = pmd_deflate(&d, msg, len, comp, pmd_deflate_bound(len), !takeover);
            CHECK(n >= 0);
            if (!takeover)
                inflateReset(&z);
            CHECK_EQ_I64(inflate_all(&z, comp, (size_t)n, &s, UINT64_MAX), 0);
            CHECK(s.n == len && memcmp(s.buf, msg, len) == 0);
        }
        pmd_deflate_end(&d);
        pmd_inflate_end(&z);
    }
    /* Too small an output: refused, and the stream is still good for the next message. */
    z_stream d;
    pmd_deflate_init(&d, 15, 8);
    CHECK_EQ_I64(pmd_deflate(&d, msg + 150000, 1000, comp, 20, 1), HERD_E_TOO_BIG);
    long n = pmd_deflate(&d, msg, 1000, comp, sizeof comp, 1);
    CHECK(n > 0);
    pmd_deflate_end(&d);
}

/* A compressed message in fragments, split at every point: the same bytes come out. */
static void test_every_split(void)
{
    static uint8_t comp[4096];
    static struct sink s;
    const char *text =
        "{\"m\":\"herd1:3:8:1700000000000000000\",\"pad\":\"aaaaaaaaaaaaaaaaaaaaaa\"}";
    size_t len = strlen(text);
    z_stream d, z;
    pmd_deflate_init(&d, 15, 8);
    pmd_inflate_init(&z, 15);
    long n = pmd_deflate(&d, (const uint8_t *)text, len, comp, sizeof comp, 1);
    int bad = 0;
    for (long cut = 0; cut <= n; cut++) {
        inflateReset(&z);
        s.n = 0;
        uint64_t total = 0;
        int rc =
            pmd_inflate(&z, comp, (size_t)cut, 0, scratch, 16, UINT64_MAX, &total, to_sink, &s);
        rc |= pmd_inflate(&z, comp + cut, (size_t)(n - cut), 1, scratch, 16, UINT64_MAX, &total,
                          to_sink, &s);
        CHECK_QUIET(rc == 0 && s.n == len && memcmp(s.buf, text, len) == 0 && total == len, bad);
    }
    CHECK_EQ_I64(bad, 0);
    pmd_deflate_end(&d);
    pmd_inflate_end(&z);
}

/* A small frame that inflates past the limit: stopped as soon as it passes, never handed over. */
static void test_bomb(void)
{
    static uint8_t zeros[1 << 20], comp[1 << 16];
    static struct sink s;
    z_stream d, z;
    pmd_deflate_init(&d, 15, 8);
    long n = pmd_deflate(&d, zeros, sizeof zeros, comp, sizeof comp, 1);
    CHECK(n > 0 && n < 2048); /* a megabyte of zeros is about a kilobyte */
    pmd_inflate_init(&z, 15);
    s.n = 0;
    uint64_t total = 0;
    int rc =
        pmd_inflate(&z, comp, (size_t)n, 1, scratch, sizeof scratch, 65536, &total, to_sink, &s);
    CHECK_EQ_I64(rc, HERD_E_TOO_BIG);
    CHECK(s.n <= 65536);
    CHECK(total > 65536 && total <= 65536 + sizeof scratch);
    pmd_deflate_end(&d);
    pmd_inflate_end(&z);
}

int main(void)
{
    test_option();
    test_response();
    test_select();
    test_rfc_examples();
    test_round_trips();
    test_every_split();
    test_bomb();
    return tap_done();
}

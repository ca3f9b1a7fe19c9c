/* test_proto_http1.c - HTTP/1.1 head parsers, header helpers and chunked decoding. */
#include "base/err.h"
#include "proto/http1.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Input at the end of a page followed by a PROT_NONE page, so overreads fault. */
struct guard {
    char *base;
    size_t size;
};

static char *guard_put(struct guard *g, const char *src, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = n / page + 1;
    g->size = (data_pages + 1) * page;
    g->base = mmap(NULL, g->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->base == MAP_FAILED || mprotect(g->base + data_pages * page, page, PROT_NONE) != 0)
        abort();
    char *p = g->base + data_pages * page - n;
    memcpy(p, src, n);
    return p;
}

static void guard_free(struct guard *g)
{
    munmap(g->base, g->size);
}

#define MAXH 32
static struct http1_header hdrs[MAXH];

static int resp(const char *s, size_t len, struct http1_response *r, size_t cap)
{
    struct guard g;
    char *p = guard_put(&g, s, len);
    memset(r, 0, sizeof *r);
    r->headers = hdrs;
    r->num_headers = cap;
    int rc = http1_response_parse(p, len, r);
    /* Pointers into the guarded copy are rebased onto s so that callers can compare. */
    if (rc >= 0) {
        r->reason = s + (r->reason - p);
        for (size_t i = 0; i < r->num_headers; i++) {
            hdrs[i].name = s + (hdrs[i].name - p);
            hdrs[i].value = s + (hdrs[i].value - p);
        }
    }
    guard_free(&g);
    return rc;
}

static int resp_s(const char *s, struct http1_response *r)
{
    return resp(s, strlen(s), r, MAXH);
}

static int req(const char *s, size_t len, struct http1_request *r, size_t cap)
{
    struct guard g;
    char *p = guard_put(&g, s, len);
    memset(r, 0, sizeof *r);
    r->headers = hdrs;
    r->num_headers = cap;
    int rc = http1_request_parse(p, len, r);
    if (rc >= 0) {
        r->method = s + (r->method - p);
        r->path = s + (r->path - p);
        for (size_t i = 0; i < r->num_headers; i++) {
            hdrs[i].name = s + (hdrs[i].name - p);
            hdrs[i].value = s + (hdrs[i].value - p);
        }
    }
    guard_free(&g);
    return rc;
}

static int hdr_is(size_t i, const char *name, const char *value)
{
    return hdrs[i].name_len == strlen(name) && memcmp(hdrs[i].name, name, strlen(name)) == 0 &&
           hdrs[i].value_len == strlen(value) && memcmp(hdrs[i].value, value, strlen(value)) == 0;
}

/* Every strict prefix of a complete head is HERD_E_AGAIN. */
static int prefixes_again_resp(const char *s)
{
    struct http1_response r;
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (resp(s, i, &r, MAXH) != HERD_E_AGAIN)
            return 0;
    }
    return resp(s, n, &r, MAXH) == (int)n;
}

static int prefixes_again_req(const char *s)
{
    struct http1_request r;
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (req(s, i, &r, MAXH) != HERD_E_AGAIN)
            return 0;
    }
    return req(s, n, &r, MAXH) == (int)n;
}

static void test_response(void)
{
    struct http1_response r;
    const char *s = "HTTP/1.1 101 Switching Protocols\r\n"
                    "Upgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                    "\r\n"
                    "\x81\x02hi";
    int rc = resp_s(s, &r);
    CHECK_EQ_I64(rc, (int)strlen(s) - 4);
    CHECK_EQ_I64(r.minor_version, 1);
    CHECK_EQ_I64(r.status, 101);
    CHECK(r.reason_len == 19 && memcmp(r.reason, "Switching Protocols", 19) == 0);
    CHECK_EQ_U64(r.num_headers, 3);
    CHECK(hdr_is(0, "Upgrade", "websocket"));
    CHECK(hdr_is(1, "Connection", "Upgrade"));
    CHECK(hdr_is(2, "Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));

    /* Many headers, whitespace trimming, empty values, obs-text. */
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big, "HTTP/1.0 200 OK\r\n");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "X-H%d: \t value %d \t\r\n", i, i);
    n += (size_t)snprintf(big + n, sizeof big - n, "Empty:\r\nObs: caf\xe9\r\n\r\n");
    rc = resp(big, n, &r, MAXH);
    CHECK_EQ_I64(rc, (int)n);
    CHECK_EQ_I64(r.minor_version, 0);
    CHECK_EQ_I64(r.status, 200);
    CHECK_EQ_U64(r.num_headers, 32);
    CHECK(hdr_is(0, "X-H0", "value 0"));
    CHECK(hdr_is(29, "X-H29", "value 29"));
    CHECK(hdr_is(30, "Empty", ""));
    CHECK(hdr_is(31, "Obs", "caf\xe9"));
    /* Too many headers for the array. */
    CHECK_EQ_I64(resp(big, n, &r, 31), HERD_E_PROTO);
    CHECK_EQ_I64(resp(big, n, &r, 0), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1 204 No Content\r\n\r\n", &r), 27);
    CHECK_EQ_U64(r.num_headers, 0);
    /* On AGAIN the capacity is left for the retry. */
    r.num_headers = 7;
    r.headers = hdrs;
    CHECK_EQ_I64(http1_response_parse("HTTP/1.1 200 OK\r\nA: b\r\n", 23, &r), HERD_E_AGAIN);
    CHECK_EQ_U64(r.num_headers, 7);

    /* Bare LF line ends, and mixed. */
    CHECK_EQ_I64(resp_s("HTTP/1.1 200 OK\nA: b\nC:d\n\n", &r), 26);
    CHECK_EQ_U64(r.num_headers, 2);
    CHECK(hdr_is(0, "A", "b") && hdr_is(1, "C", "d"));
    CHECK_EQ_I64(resp_s("HTTP/1.1 200 OK\r\nA: b\n\r\n", &r), 24);

    /* No reason phrase, with and without the SP. */
    CHECK_EQ_I64(resp_s("HTTP/1.1 101\r\n\r\n", &r), 16);
    CHECK_EQ_I64(r.status, 101);
    CHECK_EQ_U64(r.reason_len, 0);
    CHECK_EQ_I64(resp_s("HTTP/1.1 503 \r\n\r\n", &r), 17);
    CHECK_EQ_I64(r.status, 503);

    /* A missing final CRLF: AGAIN at every prefix. */
    CHECK(prefixes_again_resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\n\r\n"));
    CHECK(prefixes_again_resp(big));
    CHECK(prefixes_again_resp("HTTP/1.1 200 OK\nA: b\n\n"));
    CHECK(prefixes_again_resp("HTTP/1.1 101\r\n\r\n"));

    /* Malformed. */
    CHECK_EQ_I64(resp_s("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1 200 OK\r\nA : b\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1 200 OK\r\n: b\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1 200 OK\r\nA(: b\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", &r), HERD_E_PROTO); /* fold */
    CHECK_EQ_I64(resp_s("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp("HTTP/1.1 200 OK\r\nA: \0\r\n\r\n", 25, &r, MAXH), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1 200 OK\r\n\rX", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1 20 OK\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1 2000 OK\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1 200OK\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1 2x0 OK\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1  200 OK\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/2.0 200 OK\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.x 200 OK\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1.1 200 O\x7fK\r\n\r\n", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("\r\nHTTP/1.1 200 OK\r\n\r\n", &r), HERD_E_PROTO);
    /* Garbage fails at once, without waiting for a line end. */
    CHECK_EQ_I64(resp_s("SSH-2.0-OpenSSH", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/2", &r), HERD_E_PROTO);
    CHECK_EQ_I64(resp_s("HTTP/1", &r), HERD_E_AGAIN);
    CHECK_EQ_I64(resp_s("", &r), HERD_E_AGAIN);
    CHECK_EQ_I64(http1_response_parse(NULL, 0, &r), HERD_E_AGAIN);

    /* The size limit. */
    size_t cap = HTTP1_MAX_HEAD + 100;
    char *huge = malloc(cap);
    const char *head = "HTTP/1.1 200 OK\r\nX: ";
    size_t hl = strlen(head);
    memcpy(huge, head, hl);
    /* Exactly HTTP1_MAX_HEAD bytes long: accepted. */
    memset(huge + hl, 'a', HTTP1_MAX_HEAD - hl - 4);
    memcpy(huge + HTTP1_MAX_HEAD - 4, "\r\n\r\n", 4);
    CHECK_EQ_I64(resp(huge, HTTP1_MAX_HEAD, &r, MAXH), HTTP1_MAX_HEAD);
    CHECK_EQ_U64(hdrs[0].value_len, HTTP1_MAX_HEAD - hl - 4);
    CHECK_EQ_I64(resp(huge, HTTP1_MAX_HEAD - 1, &r, MAXH), HERD_E_AGAIN);
    /* One byte more: too big, whether or not the end has arrived. */
    memset(huge + hl, 'a', HTTP1_MAX_HEAD - hl - 3);
    memcpy(huge + HTTP1_MAX_HEAD - 3, "\r\n\r\n", 4);
    CHECK_EQ_I64(resp(huge, HTTP1_MAX_HEAD + 1, &r, MAXH), HERD_E_TOO_BIG);
    CHECK_EQ_I64(resp(huge, HTTP1_MAX_HEAD, &r, MAXH), HERD_E_TOO_BIG);
    CHECK_EQ_I64(resp(huge, HTTP1_MAX_HEAD - 1, &r, MAXH), HERD_E_AGAIN);
    memset(huge + hl, 'a', cap - hl);
    CHECK_EQ_I64(resp(huge, cap, &r, MAXH), HERD_E_TOO_BIG);
    free(huge);
}

static void test_request(void)
{
    struct http1_request r;
    const char *s = "GET /path?q=1 HTTP/1.1\r\n"
                    "Host: example.com\r\n"
                    "Upgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n"
                    "\r\n";
    CHECK_EQ_I64(req(s, strlen(s), &r, MAXH), (int)strlen(s));
    CHECK(r.method_len == 3 && memcmp(r.method, "GET", 3) == 0);
    CHECK(r.path_len == 9 && memcmp(r.path, "/path?q=1", 9) == 0);
    CHECK_EQ_I64(r.minor_version, 1);
    CHECK_EQ_U64(r.num_headers, 5);
    CHECK(hdr_is(0, "Host", "example.com"));
    CHECK(hdr_is(3, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="));
    CHECK(prefixes_again_req(s));

    const char *post = "POST /publish/t1 HTTP/1.0\nContent-Length: 5\n\nhello";
    CHECK_EQ_I64(req(post, strlen(post), &r, MAXH), (int)strlen(post) - 5);
    CHECK(r.method_len == 4 && r.minor_version == 0 && r.num_headers == 1);
    /* Empty lines before the request line are skipped (RFC 9112 2.2). */
    const char *lead = "\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    CHECK_EQ_I64(req(lead, strlen(lead), &r, MAXH), (int)strlen(lead));
    CHECK(r.path_len == 1 && r.path[0] == '/');
    CHECK(prefixes_again_req(lead));

#define BAD_REQ(x) CHECK_EQ_I64(req(x, strlen(x), &r, MAXH), HERD_E_PROTO)
    BAD_REQ("GET  /path HTTP/1.1\r\n\r\n");
    BAD_REQ("GET /path  HTTP/1.1\r\n\r\n");
    BAD_REQ("GET /path HTTP/1.1x\r\n\r\n");
    BAD_REQ("GET /path HTTP/1.\r\n\r\n");
    BAD_REQ("GET /path\r\n\r\n");
    BAD_REQ("GET\r\n\r\n");
    BAD_REQ(" GET / HTTP/1.1\r\n\r\n");
    BAD_REQ("G(T / HTTP/1.1\r\n\r\n");
    BAD_REQ("GET /a\x01 HTTP/1.1\r\n\r\n");
    BAD_REQ("GET / HTTP/2.0\r\n\r\n");
    BAD_REQ("GET / HTTP/1.1\r\nHost\r\n\r\n");
    BAD_REQ("GET / HTTP/1.1\r\nHost : x\r\n\r\n");
    BAD_REQ("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n");
    BAD_REQ("\rGET / HTTP/1.1\r\n\r\n");
    CHECK_EQ_I64(req("GET / HTTP/1.1\r\nA: b\r\nC: d\r\n\r\n", 30, &r, 1), HERD_E_PROTO);
    CHECK_EQ_I64(req("GET / HTTP/1.1\r\n", 16, &r, 1), HERD_E_AGAIN);
    CHECK_EQ_I64(req("\r\n", 2, &r, 1), HERD_E_AGAIN);
    CHECK_EQ_I64(http1_request_parse(NULL, 0, &r), HERD_E_AGAIN);

    char *huge = malloc(HTTP1_MAX_HEAD + 10);
    memcpy(huge, "GET /", 5);
    memset(huge + 5, 'a', HTTP1_MAX_HEAD + 5);
    CHECK_EQ_I64(req(huge, HTTP1_MAX_HEAD + 10, &r, MAXH), HERD_E_TOO_BIG);
    CHECK_EQ_I64(req(huge, HTTP1_MAX_HEAD - 1, &r, MAXH), HERD_E_AGAIN);
    free(huge);
}

static void test_helpers(void)
{
    struct http1_header h[3] = {
        {"Content-Type", 12, "text/plain", 10},
        {"Connection", 10, "keep-alive, Upgrade", 19},
        {"connection", 10, "close", 5},
    };
    CHECK(http1_header_find(h, 3, "content-type") == &h[0]);
    CHECK(http1_header_find(h, 3, "CONNECTION") == &h[1]);
    CHECK(http1_header_find(h, 3, "Connectio") == NULL);
    CHECK(http1_header_find(h, 3, "Connections") == NULL);
    CHECK(http1_header_find(h, 0, "Connection") == NULL);

#define TL(v, t) http1_token_list_has(v, strlen(v), t)
    CHECK(TL("keep-alive, Upgrade", "upgrade"));
    CHECK(TL("keep-alive, Upgrade", "Keep-Alive"));
    CHECK(TL("Upgrade", "UPGRADE"));
    CHECK(TL("  upgrade\t", "upgrade"));
    CHECK(TL(",,upgrade,", "upgrade"));
    CHECK(TL("a,b , upgrade ,c", "upgrade"));
    CHECK(!TL("upgrade2", "upgrade"));
    CHECK(!TL("up grade", "upgrade"));
    CHECK(!TL("keep-alive", "upgrade"));
    CHECK(!TL("", "upgrade"));
    CHECK(!TL("upgradeX, Xupgrade", "upgrade"));
    CHECK(TL("upgrade", "upgrade"));
    /* Only the first value_len bytes count. */
    CHECK(!http1_token_list_has("keep-alive, upgrade", 12, "upgrade"));
}

/* ---- chunked ---- */

/* Decode `in` fed in the pieces that `cuts` delimits (cuts ascending, within len). The output
 * is appended to out; returns the final rc and sets *used to the total consumed. */
static int chunked_pieces(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                          uint8_t *out, size_t *out_len, size_t *used)
{
    struct http1_chunked c;
    memset(&c, 0, sizeof c);
    size_t start = 0, o = 0, total = 0;
    int rc = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t stop = k < ncuts ? cuts[k] : len;
        size_t n = stop - start, consumed = 99999;
        struct guard g;
        char *p = guard_put(&g, in + start, n);
        rc = http1_chunked_decode(&c, (uint8_t *)p, &n, &consumed);
        if (rc >= 0 && (n > consumed || consumed > stop - start)) {
            guard_free(&g);
            return -1;
        }
        memcpy(out + o, p, n);
        guard_free(&g);
        o += n;
        total += consumed;
        start = stop;
        if (rc != 0)
            break;
    }
    *out_len = o;
    *used = total;
    return rc;
}

static int chunked_one(const char *in, size_t len, uint8_t *out, size_t *out_len, size_t *used)
{
    return chunked_pieces(in, len, NULL, 0, out, out_len, used);
}

/* One shot, every split in two, and byte by byte all give the same result. */
static int chunked_consistent(const char *in, size_t len)
{
    uint8_t want[512], got[512];
    size_t want_len, want_used, got_len, got_used;
    int want_rc = chunked_one(in, len, want, &want_len, &want_used);
    for (size_t i = 0; i <= len; i++) {
        int rc = chunked_pieces(in, len, &i, 1, got, &got_len, &got_used);
        if (rc != want_rc || got_len != want_len || memcmp(got, want, want_len) != 0)
            return 0;
        if (rc == 1 && got_used != want_used)
            return 0;
    }
    size_t cuts[512];
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    int rc = chunked_pieces(in, len, cuts, len ? len - 1 : 0, got, &got_len, &got_used);
    if (rc != want_rc || got_len != want_len || memcmp(got, want, want_len) != 0)
        return 0;
    return rc != 1 || got_used == want_used;
}

static void test_chunked(void)
{
    uint8_t out[512];
    size_t olen, used;
    const char *wiki = "4\r\nWiki\r\n"
                       "5;foo=bar\r\npedia\r\n"
                       "E ; a=\"b\" ; c\r\n in\r\n\r\nchunks.\r\n"
                       "0\r\n"
                       "Expires: never\r\n"
                       "X-Trailer: 1\r\n"
                       "\r\n"
                       "NEXT";
    size_t wlen = strlen(wiki);
    CHECK_EQ_I64(chunked_one(wiki, wlen, out, &olen, &used), 1);
    CHECK_EQ_U64(olen, 23);
    CHECK_EQ_MEM(out, "Wikipedia in\r\n\r\nchunks.", 23);
    CHECK_EQ_U64(used, wlen - 4);
    CHECK(chunked_consistent(wiki, wlen));
    /* Incomplete at every prefix. */
    int bad = 0;
    for (size_t i = 0; i < wlen - 4; i++)
        CHECK_QUIET(chunked_one(wiki, i, out, &olen, &used) == 0 && used == i, bad);
    CHECK_EQ_U64(bad, 0);

    /* Upper and lower case hex, leading zeros, bare LF. */
    char hex[600];
    size_t n = (size_t)snprintf(hex, sizeof hex,
                                "a\r\n0123456789\r\nA\n0123456789\n"
                                "000000000000000000001f\r\n");
    memset(hex + n, 'z', 31);
    n += 31;
    n += (size_t)snprintf(hex + n, sizeof hex - n, "\r\n1F\r\n");
    memset(hex + n, 'y', 31);
    n += 31;
    n += (size_t)snprintf(hex + n, sizeof hex - n, "\r\n0\n\n");
    CHECK_EQ_I64(chunked_one(hex, n, out, &olen, &used), 1);
    CHECK_EQ_U64(olen, 82);
    CHECK_EQ_U64(used, n);
    CHECK_EQ_MEM(out, "01234567890123456789zzz", 23);
    CHECK(chunked_consistent(hex, n));

    /* No trailers, and trailers with bare LF. */
    CHECK_EQ_I64(chunked_one("0\r\n\r\n", 5, out, &olen, &used), 1);
    CHECK_EQ_U64(olen, 0);
    CHECK_EQ_U64(used, 5);
    CHECK_EQ_I64(chunked_one("1\r\nx\r\n0\nT: v\n\n", 14, out, &olen, &used), 1);
    CHECK_EQ_U64(used, 14);
    CHECK(chunked_consistent("1\r\nx\r\n0\nT: v\n\n", 14));

    /* Once done, the decoder stays done and takes nothing more. */
    struct http1_chunked c;
    memset(&c, 0, sizeof c);
    uint8_t b[32];
    memcpy(b, "0\r\n\r\nrest", 9);
    size_t len = 9, cons;
    CHECK_EQ_I64(http1_chunked_decode(&c, b, &len, &cons), 1);
    CHECK_EQ_U64(cons, 5);
    CHECK_EQ_U64(len, 0);
    len = 4;
    CHECK_EQ_I64(http1_chunked_decode(&c, b + 5, &len, &cons), 1);
    CHECK(len == 0 && cons == 0);

    /* Errors. */
#define CH_BAD(x) CHECK_EQ_I64(chunked_one(x, strlen(x), out, &olen, &used), HERD_E_PROTO)
    CH_BAD("g\r\n");
    CH_BAD("\r\n");
    CH_BAD(";ext\r\n");
    CH_BAD(" 4\r\nWiki\r\n");
    CH_BAD("4\r\nWikiX\r\n");
    CH_BAD("4\r\nWiki\rX");
    CH_BAD("4\rX");
    CH_BAD("4 x\r\n");
    CH_BAD("4;a\x01\r\n");
    CH_BAD("0\r\n\rX");
    CH_BAD("-1\r\n");
    CH_BAD("0x10\r\n");
    /* Chunk sizes that do not fit 64 bits. */
    CH_BAD("10000000000000000\r\n");
    CH_BAD("fffffffffffffffff\r\n");
    CH_BAD("123456789abcdef01\r\n");
    CHECK(chunked_consistent("10000000000000000\r\n", 19));
    CHECK(chunked_consistent("4\r\nWikiX\r\n", 10));
    /* The largest size is accepted and waits for its data. */
    memset(&c, 0, sizeof c);
    memcpy(b, "FFFFFFFFFFFFFFFF\r\nabc", 21);
    len = 21;
    CHECK_EQ_I64(http1_chunked_decode(&c, b, &len, &cons), 0);
    CHECK_EQ_U64(c.remaining, UINT64_MAX - 3);
    CHECK(len == 3 && memcmp(b, "abc", 3) == 0 && cons == 21);
    /* On an error, consumed says where. */
    memset(&c, 0, sizeof c);
    memcpy(b, "2\r\nab\r\nzz", 9);
    len = 9;
    CHECK_EQ_I64(http1_chunked_decode(&c, b, &len, &cons), HERD_E_PROTO);
    CHECK_EQ_U64(cons, 7);
    CHECK_EQ_U64(len, 2);
}

/* The one token test: exactly the tchar set of RFC 9110 5.6.2. */
static void test_tchar(void)
{
    int bad = 0, n = 0;
    for (int c = 0; c < 256; c++) {
        int want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
        CHECK_QUIET(http1_is_tchar((unsigned char)c) == want, bad);
        n += want;
    }
    CHECK_EQ_I64(bad, 0);
    CHECK_EQ_I64(n, 77);
}

static void test_content_length(void)
{
    uint64_t v = 7;
#define CL(s) http1_content_length(s, strlen(s), &v)
    CHECK_EQ_I64(CL("0"), 0);
    CHECK_EQ_U64(v, 0);
    CHECK_EQ_I64(CL("1234"), 0);
    CHECK_EQ_U64(v, 1234);
    CHECK_EQ_I64(CL("0000000000000000005"), 0); /* 19 digits, leading zeros */
    CHECK_EQ_U64(v, 5);
    CHECK_EQ_I64(CL("9999999999999999999"), 0);
    CHECK_EQ_U64(v, 9999999999999999999ull);
    v = 7;
    static const char *const bad[] = {"",
                                      "-1",
                                      "+1",
                                      " 1",
                                      "1 ",
                                      "1.0",
                                      "0x10",
                                      "1e3",
                                      "a",
                                      "10000000000000000000",
                                      "99999999999999999999",
                                      "1,2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_I64(CL(bad[i]), HERD_E_PROTO);
    CHECK_EQ_U64(v, 7); /* untouched on failure */
#undef CL
}

/* Framing from heads: parse a head with the real parser, then decide. */
static int framing(const char *head, int request, uint64_t *len)
{
    struct http1_header h[MAXH];
    *len = 12345;
    if (request) {
        struct http1_request r = {.headers = h, .num_headers = MAXH};
        if (http1_request_parse(head, strlen(head), &r) <= 0)
            return -1;
        return http1_body_framing(h, r.num_headers, 1, r.minor_version, len);
    }
    struct http1_response r = {.headers = h, .num_headers = MAXH};
    if (http1_response_parse(head, strlen(head), &r) <= 0)
        return -1;
    return http1_body_framing(h, r.num_headers, 0, r.minor_version, len);
}

static void test_body_framing(void)
{
    uint64_t len;
#define REQ(hdrs) "POST /p HTTP/1.1\r\nHost: x\r\n" hdrs "\r\n"
#define REQ10(hdrs) "POST /p HTTP/1.0\r\n" hdrs "\r\n"
#define RESP(hdrs) "HTTP/1.1 200 OK\r\n" hdrs "\r\n"
    /* Requests. */
    CHECK_EQ_I64(framing(REQ("Content-Length: 5\r\n"), 1, &len), HTTP1_BODY_LENGTH);
    CHECK_EQ_U64(len, 5);
    CHECK_EQ_I64(framing(REQ(""), 1, &len), HTTP1_BODY_LENGTH);
    CHECK_EQ_U64(len, 0);
    CHECK_EQ_I64(framing(REQ("Transfer-Encoding: chunked\r\n"), 1, &len), HTTP1_BODY_CHUNKED);
    CHECK_EQ_I64(framing(REQ("Transfer-Encoding: CHUNKED\r\n"), 1, &len), HTTP1_BODY_CHUNKED);
    /* The same length repeated is one length (RFC 9110 8.6); different ones are refused. */
    CHECK_EQ_I64(framing(REQ("Content-Length: 5, 5\r\n"), 1, &len), HTTP1_BODY_LENGTH);
    CHECK_EQ_U64(len, 5);
    CHECK_EQ_I64(framing(REQ("Content-Length: 5\r\nContent-Length: 5\r\n"), 1, &len),
                 HTTP1_BODY_LENGTH);
    CHECK_EQ_I64(framing(REQ("Content-Length: 5\r\nContent-Length: 6\r\n"), 1, &len), HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ("Content-Length: 5, 6\r\n"), 1, &len), HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ("Content-Length: 5,\r\n"), 1, &len), HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ("Content-Length:\r\n"), 1, &len), HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ("Content-Length: -1\r\n"), 1, &len), HERD_E_PROTO);
    /* The smuggling shapes: both framings, or a coding herd cannot undo. */
    CHECK_EQ_I64(framing(REQ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 1, &len),
                 HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 1, &len),
                 HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ("Transfer-Encoding: gzip\r\n"), 1, &len), HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ("Transfer-Encoding: gzip, chunked\r\n"), 1, &len), HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ("Transfer-Encoding: chunked, chunked\r\n"), 1, &len), HERD_E_PROTO);
    CHECK_EQ_I64(
        framing(REQ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 1, &len),
        HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ("Transfer-Encoding: chunked;x=1\r\n"), 1, &len), HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ("Transfer-Encoding: ,\r\n"), 1, &len), HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ("Transfer-Encoding:\r\n"), 1, &len), HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ10("Transfer-Encoding: chunked\r\n"), 1, &len), HERD_E_PROTO);
    CHECK_EQ_I64(framing(REQ10("Content-Length: 3\r\n"), 1, &len), HTTP1_BODY_LENGTH);
    CHECK_EQ_U64(len, 3);
    /* Responses: without either header the body runs to the close. */
    CHECK_EQ_I64(framing(RESP(""), 0, &len), HTTP1_BODY_CLOSE);
    CHECK_EQ_I64(framing(RESP("Content-Length: 0\r\n"), 0, &len), HTTP1_BODY_LENGTH);
    CHECK_EQ_U64(len, 0);
    CHECK_EQ_I64(framing(RESP("Transfer-Encoding: chunked\r\n"), 0, &len), HTTP1_BODY_CHUNKED);
    CHECK_EQ_I64(framing(RESP("Transfer-Encoding: chunked\r\nContent-Length: 9\r\n"), 0, &len),
                 HERD_E_PROTO);
    CHECK_EQ_I64(framing(RESP("Content-Length:\r\n"), 0, &len), HERD_E_PROTO);
    CHECK_EQ_I64(framing(RESP("Transfer-Encoding: gzip\r\n"), 0, &len), HERD_E_PROTO);
#undef REQ
#undef REQ10
#undef RESP
}

int main(void)
{
    test_response();
    test_request();
    test_helpers();
    test_chunked();
    test_tchar();
    test_content_length();
    test_body_framing();
    return tap_done();
}

/* fuzz_http1_response.c - libFuzzer target for http1_response_parse.
 * Invariants: only the documented codes; a head length within the input and HTTP1_MAX_HEAD;
 * names and values inside the head, names made of token characters, values trimmed and free of
 * CR/LF; the header count within capacity; every strict prefix of a complete head is
 * HERD_E_AGAIN; the same head parses alike with and without the bytes that follow it; the
 * header helpers find what the parser returned; the body framing decides every parsed head. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 24

static void check_headers(const char *buf, int rc, const struct http1_header *h, size_t n)
{
    HERD_ASSERT(n <= CAP);
    for (size_t i = 0; i < n; i++) {
        HERD_ASSERT(h[i].name >= buf && h[i].name + h[i].name_len <= buf + rc);
        HERD_ASSERT(h[i].value >= buf && h[i].value + h[i].value_len <= buf + rc);
        HERD_ASSERT(h[i].name_len > 0 && h[i].name[h[i].name_len] == ':');
        for (size_t j = 0; j < h[i].name_len; j++)
            HERD_ASSERT((unsigned char)h[i].name[j] > ' ' && h[i].name[j] != ':');
        for (size_t j = 0; j < h[i].value_len; j++)
            HERD_ASSERT(h[i].value[j] != '\r' && h[i].value[j] != '\n' && h[i].value[j] != 0);
        if (h[i].value_len) {
            HERD_ASSERT(h[i].value[0] != ' ' && h[i].value[0] != '\t');
            char last = h[i].value[h[i].value_len - 1];
            HERD_ASSERT(last != ' ' && last != '\t');
        }
        /* The lookup finds this name (perhaps an earlier header of the same name). */
        char name[HTTP1_MAX_HEAD + 1];
        memcpy(name, h[i].name, h[i].name_len);
        name[h[i].name_len] = '\0';
        const struct http1_header *f = http1_header_find(h, n, name);
        HERD_ASSERT(f && f <= &h[i]);
        /* A value is a list that holds each of its own elements. */
        if (h[i].value_len && !memchr(h[i].value, ',', h[i].value_len)) {
            memcpy(name, h[i].value, h[i].value_len);
            name[h[i].value_len] = '\0';
            if (strlen(name) == h[i].value_len)
                HERD_ASSERT(http1_token_list_has(h[i].value, h[i].value_len, name));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct http1_header h[CAP];
    struct http1_response r;
    memset(&r, 0, sizeof r);
    r.headers = h;
    r.num_headers = CAP;
    int rc = http1_response_parse(buf, size, &r);
    HERD_ASSERT(rc > 0 || rc == HERD_E_AGAIN || rc == HERD_E_PROTO || rc == HERD_E_TOO_BIG);
    if (rc == HERD_E_AGAIN)
        HERD_ASSERT(size < HTTP1_MAX_HEAD);
    if (rc <= 0) {
        HERD_ASSERT(r.num_headers == CAP);
        return 0;
    }
    HERD_ASSERT((size_t)rc <= size && rc <= HTTP1_MAX_HEAD);
    HERD_ASSERT(r.minor_version >= 0 && r.minor_version <= 9);
    HERD_ASSERT(r.status >= 0 && r.status <= 999);
    HERD_ASSERT(r.reason >= buf && r.reason + r.reason_len <= buf + rc);
    check_headers(buf, rc, h, r.num_headers);

    /* The head alone parses the same; its strict prefixes are incomplete. */
    struct http1_header h2[CAP];
    struct http1_response r2;
    memset(&r2, 0, sizeof r2);
    r2.headers = h2;
    r2.num_headers = CAP;
    HERD_ASSERT(http1_response_parse(buf, (size_t)rc, &r2) == rc);
    HERD_ASSERT(r2.num_headers == r.num_headers && r2.status == r.status);
    size_t cuts[3] = {(size_t)rc - 1, (size_t)rc / 2, 1};
    for (int i = 0; i < 3; i++) {
        r2.num_headers = CAP;
        HERD_ASSERT(http1_response_parse(buf, cuts[i], &r2) == HERD_E_AGAIN);
    }
    /* Fewer slots than headers is a protocol error, not an overflow. */
    if (r.num_headers > 0) {
        r2.num_headers = r.num_headers - 1;
        HERD_ASSERT(http1_response_parse(buf, size, &r2) == HERD_E_PROTO);
    }
    uint64_t blen = 0;
    int fr = http1_body_framing(h, r.num_headers, 0, r.minor_version, &blen);
    HERD_ASSERT(fr == HTTP1_BODY_LENGTH || fr == HTTP1_BODY_CHUNKED || fr == HTTP1_BODY_CLOSE ||
                fr == HERD_E_PROTO);
    return 0;
}

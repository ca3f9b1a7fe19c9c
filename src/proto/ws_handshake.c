/* ws_handshake.c - the client side of the RFC 6455 opening handshake: the key, the expected
 * accept value, and the checks of 4.1 on the server's reply. (The server side uses
 * ws_accept_make too.) */
#include "proto/ws.h"

#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"

#include <openssl/evp.h>
#include <string.h>

/* 1.3 and 4.2.2: the GUID appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding (RFC 4648 4), written to out with a NUL; returns the length.
 * out holds 4 * ceil(n / 3) + 1 bytes. */
static size_t b64_encode(char *out, const uint8_t *in, size_t n)
{
    size_t o = 0, i = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

void ws_key_make(char out[WS_KEY_LEN + 1], const uint8_t random16[16])
{
    /* 4.1: a nonce of 16 random bytes, base64-encoded. The randomness is the caller's. */
    b64_encode(out, random16, 16);
}

void ws_accept_make(char out[WS_ACCEPT_LEN + 1], const char *key, size_t key_len)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    int ok = 0;

    /* The streaming EVP interface hashes key and GUID without a copy into a bounded buffer, so a
     * server is not limited in the keys it can answer. (SHA-1's weakness does not matter here:
     * 4.2.2 uses it only to show that the server understood the handshake.) */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx) {
        ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, key, key_len) == 1 &&
             EVP_DigestUpdate(ctx, ws_guid, sizeof(ws_guid) - 1) == 1 &&
             EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len == 20;
        EVP_MD_CTX_free(ctx);
    }
    if (UNLIKELY(!ok)) {
        /* Out of memory inside libcrypto. All '=' is never the base64 of 20 bytes, so the
         * value matches no reply and the handshake fails instead of passing unchecked. */
        memset(out, '=', WS_ACCEPT_LEN);
        out[WS_ACCEPT_LEN] = '\0';
        return;
    }
    b64_encode(out, md, 20);
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static unsigned ascii_lower(unsigned c)
{
    return c - 'A' < 26 ? c | 0x20 : c;
}

static int ascii_ieq(const char *a, size_t a_len, const char *b)
{
    size_t n = strlen(b);
    if (a_len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return 0;
    }
    return 1;
}

/* Whether the comma separated list holds exactly s[0..n), compared case-sensitively: the
 * subprotocol tokens of 4.1 are matched as sent (as browsers do), unlike header tokens. */
static int list_has_exact(const char *list, const char *s, size_t n)
{
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        while (p < e && is_ows(*p))
            p++;
        const char *t = e;
        while (t > p && is_ows(t[-1]))
            t--;
        if ((size_t)(t - p) == n && memcmp(p, s, n) == 0)
            return 1;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* Whether any header named `name` lists `token` (several fields of one name form one list,
 * RFC 9110 5.3). */
static int headers_have_token(const struct http1_response *r, const char *name, const char *token)
{
    for (size_t i = 0; i < r->num_headers; i++) {
        const struct http1_header *h = &r->headers[i];
        if (ascii_ieq(h->name, h->name_len, name) &&
            http1_token_list_has(h->value, h->value_len, token))
            return 1;
    }
    return 0;
}

/* Walk the extensions of one Sec-WebSocket-Extensions value (9.1):
 *   extension-list = 1#extension;  extension = extension-token *( ";" extension-param )
 * Counts permessage-deflate elements in *deflates and returns 0, or -1 when another extension is
 * named. Parameters are left to the deflate negotiation; here only names matter. Commas inside
 * quoted parameter values are skipped. */
static int extensions_scan(const char *v, size_t len, int *deflates)
{
    const char *p = v, *end = v + len;
    while (p < end) {
        const char *e = p;
        int quoted = 0;
        while (e < end && (quoted || *e != ',')) {
            if (*e == '"')
                quoted = !quoted;
            else if (*e == '\\' && quoted && e + 1 < end)
                e++;
            e++;
        }
        const char *s = p;
        while (s < e && is_ows(*s))
            s++;
        const char *t = s;
        while (t < e && *t != ';' && !is_ows(*t))
            t++;
        if (t > s) {
            if (!ascii_ieq(s, (size_t)(t - s), "permessage-deflate"))
                return -1;
            (*deflates)++;
        }
        p = e < end ? e + 1 : e;
    }
    return 0;
}

static int fail(const char **why, const char *reason, int rc)
{
    if (why)
        *why = reason;
    return rc;
}

int ws_handshake_check(const struct http1_response *r, const struct ws_handshake_expect *e,
                       int *deflate, const char **why)
{
    if (deflate)
        *deflate = 0;
    if (why)
        *why = NULL;

    /* 4.1, reply item 1: anything but 101 is handled per HTTP; for us it is a status error,
     * counted under errors.http_status. */
    if (r->status != 101)
        return fail(why, "status is not 101 Switching Protocols", HERD_E_STATUS);
    /* Items 2 and 3: Upgrade is "websocket", Connection includes "Upgrade", both compared
     * case-insensitively, either possibly a list. */
    if (!headers_have_token(r, "Upgrade", "websocket"))
        return fail(why, "Upgrade: websocket missing", HERD_E_HANDSHAKE);
    if (!headers_have_token(r, "Connection", "upgrade"))
        return fail(why, "Connection: Upgrade missing", HERD_E_HANDSHAKE);

    /* Item 4: Sec-WebSocket-Accept is base64(SHA-1(key + GUID)), compared exactly. */
    const struct http1_header *acc = NULL;
    const struct http1_header *proto = NULL;
    int deflates = 0;
    for (size_t i = 0; i < r->num_headers; i++) {
        const struct http1_header *h = &r->headers[i];
        if (ascii_ieq(h->name, h->name_len, "Sec-WebSocket-Accept")) {
            if (acc)
                return fail(why, "Sec-WebSocket-Accept repeated", HERD_E_HANDSHAKE);
            acc = h;
        } else if (ascii_ieq(h->name, h->name_len, "Sec-WebSocket-Protocol")) {
            if (proto)
                return fail(why, "Sec-WebSocket-Protocol repeated", HERD_E_HANDSHAKE);
            proto = h;
        } else if (ascii_ieq(h->name, h->name_len, "Sec-WebSocket-Extensions")) {
            /* Item 5: only extensions we offered, and we offer at most permessage-deflate. */
            if (extensions_scan(h->value, h->value_len, &deflates) < 0 || (deflates && !deflate))
                return fail(why, "unsolicited extension", HERD_E_HANDSHAKE);
        }
    }
    if (!acc)
        return fail(why, "Sec-WebSocket-Accept missing", HERD_E_HANDSHAKE);
    char want[WS_ACCEPT_LEN + 1];
    ws_accept_make(want, e->key, strlen(e->key));
    if (acc->value_len != WS_ACCEPT_LEN || memcmp(acc->value, want, WS_ACCEPT_LEN) != 0)
        return fail(why, "Sec-WebSocket-Accept does not match the key", HERD_E_HANDSHAKE);

    /* Item 6: a subprotocol only if we offered some, and then one of those. An empty field is
     * taken as none chosen. A server may choose none even when offered; that is accepted. */
    if (proto && proto->value_len) {
        if (!e->subprotocol || !e->subprotocol[0])
            return fail(why, "unsolicited subprotocol", HERD_E_HANDSHAKE);
        if (!list_has_exact(e->subprotocol, proto->value, proto->value_len))
            return fail(why, "subprotocol not among those offered", HERD_E_HANDSHAKE);
    }

    /* RFC 7692 5: the server accepts at most one permessage-deflate offer. */
    if (deflates > 1)
        return fail(why, "permessage-deflate accepted twice", HERD_E_HANDSHAKE);
    if (deflate)
        *deflate = deflates == 1;
    return 0;
}

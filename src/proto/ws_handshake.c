/* ws_handshake.c - the RFC 6455 opening handshake, both sides: the client's key, the accept
 * value and the checks of 4.1 on the server's reply; the server's checks of 4.2.1 on the
 * request and its 101 answer (4.2.2). */
#include "proto/ws.h"

#include "base/base64.h"
#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* 1.3 and 4.2.2: the GUID appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void ws_key_make(char out[WS_KEY_LEN + 1], const uint8_t random16[16])
{
    /* 4.1: a nonce of 16 random bytes, base64-encoded. The randomness is the caller's. */
    base64_encode(random16, 16, out);
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
    base64_encode(md, 20, out);
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
    /* HTTP/1.0 has no Upgrade (RFC 9110 7.8 applies to 1.1): a 1.0 101 is no WebSocket. */
    if (r->minor_version < 1)
        return fail(why, "101 in HTTP/1.0", HERD_E_HANDSHAKE);
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

/* ---- the server's side ---- */

static int refuse(struct ws_upgrade *u, int status, const char *headers, const char **why,
                  const char *reason)
{
    u->status = status;
    u->headers = headers;
    return fail(why, reason, HERD_E_HANDSHAKE);
}

/* 4.2.1 item 5: the key is the base64 of 16 bytes, so 24 characters ending in "==". */
static int key_valid(const struct http1_header *h)
{
    uint8_t raw[24];
    return h && h->value_len == WS_KEY_LEN && base64_decode(h->value, h->value_len, raw) == 16;
}

/* The first subprotocol offered, when it is a token (4.2.2: the server chooses; we take the
 * client's first preference). */
static void first_subprotocol(const struct http1_header *h, struct ws_upgrade *u)
{
    if (!h)
        return;
    const char *p = h->value, *end = h->value + h->value_len;
    while (p < end && (is_ows(*p) || *p == ','))
        p++;
    const char *s = p;
    while (p < end && http1_is_tchar((unsigned char)*p))
        p++;
    size_t n = (size_t)(p - s);
    while (p < end && is_ows(*p))
        p++;
    if (n == 0 || n > WS_MAX_SUBPROTOCOL || (p < end && *p != ','))
        return;
    u->subprotocol = s;
    u->subprotocol_len = n;
}

int ws_upgrade_check(const struct http1_request *r, struct ws_upgrade *u, const char **why)
{
    const struct http1_header *hs = r->headers;
    size_t nh = r->num_headers;
    *u = (struct ws_upgrade){0};
    if (why)
        *why = NULL;
    if (r->method_len != 3 || memcmp(r->method, "GET", 3) != 0)
        return refuse(u, 405, "Allow: GET\r\n", why, "method is not GET");
    const struct http1_header *upgrade = http1_header_find(hs, nh, "Upgrade");
    if (!upgrade || !http1_token_list_has(upgrade->value, upgrade->value_len, "websocket"))
        return refuse(u, 426, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n", why,
                      "Upgrade: websocket missing");
    if (r->minor_version < 1)
        return refuse(u, 400, NULL, why, "upgrade in HTTP/1.0");
    const struct http1_header *conn = http1_header_find(hs, nh, "Connection");
    if (!conn || !http1_token_list_has(conn->value, conn->value_len, "upgrade"))
        return refuse(u, 400, NULL, why, "Connection: Upgrade missing");
    const struct http1_header *key = http1_header_find(hs, nh, "Sec-WebSocket-Key");
    if (!key_valid(key))
        return refuse(u, 400, NULL, why, "Sec-WebSocket-Key is not the base64 of 16 bytes");
    /* 4.2.2: a version we do not speak gets 426 and the versions we do. */
    const struct http1_header *ver = http1_header_find(hs, nh, "Sec-WebSocket-Version");
    if (!ver || ver->value_len != 2 || memcmp(ver->value, "13", 2) != 0)
        return refuse(u, 426, "Sec-WebSocket-Version: 13\r\n", why,
                      "Sec-WebSocket-Version is not 13");
    u->key = key->value;
    u->key_len = key->value_len;
    first_subprotocol(http1_header_find(hs, nh, "Sec-WebSocket-Protocol"), u);
    return 0;
}

size_t ws_upgrade_reply(char *out, size_t cap, const struct ws_upgrade *u, const char *extensions)
{
    char accept[WS_ACCEPT_LEN + 1];
    ws_accept_make(accept, u->key, u->key_len);
    int sp = u->subprotocol != NULL, ext = extensions != NULL;
    int n =
        snprintf(out, cap,
                 "HTTP/1.1 101 Switching Protocols\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n"
                 "%s%.*s%s"
                 "%s%s%s"
                 "\r\n",
                 accept, sp ? "Sec-WebSocket-Protocol: " : "", sp ? (int)u->subprotocol_len : 0,
                 sp ? u->subprotocol : "", sp ? "\r\n" : "",
                 ext ? "Sec-WebSocket-Extensions: " : "", ext ? extensions : "", ext ? "\r\n" : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

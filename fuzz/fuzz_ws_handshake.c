/* fuzz_ws_handshake.c - libFuzzer target for the client's check of a WebSocket upgrade reply:
 * the bytes are parsed as a response head (http1_response_parse), then checked against the
 * RFC 6455 1.3 example key by ws_handshake_check, with and without subprotocols and
 * permessage-deflate offered.
 * Invariants: only the documented codes come back; a reason is given exactly on failure; a
 * success has status 101 and the right Sec-WebSocket-Accept; deflate is reported only when
 * offered. */
#include <stdint.h>
#include <string.h>

#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"
#include "proto/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";

static void check(const struct http1_response *r, const char *subprotocol, int offer_deflate)
{
    struct ws_handshake_expect e = {key, subprotocol};
    int deflate = -1;
    const char *why = "unset";
    int rc = ws_handshake_check(r, &e, offer_deflate ? &deflate : NULL, &why);
    HERD_ASSERT(rc == 0 || rc == HERD_E_STATUS || rc == HERD_E_HANDSHAKE);
    HERD_ASSERT(rc == 0 ? why == NULL : why != NULL && *why != '\0');
    HERD_ASSERT((rc == HERD_E_STATUS) == (r->status != 101));
    if (offer_deflate)
        HERD_ASSERT(deflate == 0 || (deflate == 1 && rc == 0));
    if (rc == 0) {
        const struct http1_header *a =
            http1_header_find(r->headers, r->num_headers, "sec-websocket-accept");
        HERD_ASSERT(a && a->value_len == WS_ACCEPT_LEN &&
                    memcmp(a->value, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WS_ACCEPT_LEN) == 0);
    }
    /* Same verdict without a place for the reason. */
    HERD_ASSERT(ws_handshake_check(r, &e, offer_deflate ? &deflate : NULL, NULL) == rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http1_header h[16];
    struct http1_response r;
    memset(&r, 0, sizeof r);
    r.headers = h;
    r.num_headers = 16;
    int rc = http1_response_parse((const char *)data, size, &r);
    HERD_ASSERT(rc > 0 || rc == HERD_E_AGAIN || rc == HERD_E_PROTO || rc == HERD_E_TOO_BIG);
    if (rc <= 0)
        return 0;
    HERD_ASSERT((size_t)rc <= size && r.num_headers <= 16);
    check(&r, NULL, 0);
    check(&r, NULL, 1);
    check(&r, "chat, superchat", 0);
    check(&r, "chat", 1);
    check(&r, "", 1);
    return 0;
}

/* test_proto_ws_handshake.c - key, accept value and the client's check of the 101 reply. */
#include "base/err.h"
#include "proto/http1.h"
#include "proto/ws.h"
#include "tap.h"

#include <stdio.h>

#include <stdint.h>
#include <string.h>

static const char rfc_key[] = "dGhlIHNhbXBsZSBub25jZQ==";
static const char rfc_accept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

static void test_keys(void)
{
    char acc[WS_ACCEPT_LEN + 1];
    /* RFC 6455 1.3. */
    ws_accept_make(acc, rfc_key, strlen(rfc_key));
    CHECK_EQ_STR(acc, rfc_accept);
    CHECK_EQ_U64(strlen(acc), WS_ACCEPT_LEN);
    /* Only key_len bytes are hashed. */
    ws_accept_make(acc, "dGhlIHNhbXBsZSBub25jZQ==trailing", 24);
    CHECK_EQ_STR(acc, rfc_accept);
    /* A long key is hashed whole (a server may be sent anything). */
    char long_key[1000];
    memset(long_key, 'k', sizeof long_key);
    ws_accept_make(acc, long_key, sizeof long_key);
    CHECK_EQ_U64(strlen(acc), WS_ACCEPT_LEN);
    CHECK(strcmp(acc, rfc_accept) != 0);
    /* An empty key: SHA-1 of the GUID alone. */
    ws_accept_make(acc, "", 0);
    CHECK_EQ_U64(strlen(acc), WS_ACCEPT_LEN);

    /* RFC 6455 1.3: the nonce "the sample nonce" encodes to the example key. */
    char key[WS_KEY_LEN + 1];
    ws_key_make(key, (const uint8_t *)"the sample nonce");
    CHECK_EQ_STR(key, rfc_key);

    /* Length and alphabet for many nonces. */
    int bad = 0;
    uint8_t nonce[16];
    for (int round = 0; round < 1000; round++) {
        for (int i = 0; i < 16; i++)
            nonce[i] = (uint8_t)(round * 131 + i * 17 + (round >> 3) * i);
        memset(key, '#', sizeof key);
        ws_key_make(key, nonce);
        CHECK_QUIET(strlen(key) == WS_KEY_LEN, bad);
        for (int i = 0; i < 22; i++) {
            char ch = key[i];
            int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                     (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
            CHECK_QUIET(ok, bad);
        }
        CHECK_QUIET(key[22] == '=' && key[23] == '=', bad);
    }
    CHECK_EQ_U64(bad, 0);
    uint8_t zeros[16] = {0}, ones[16];
    memset(ones, 0xff, 16);
    ws_key_make(key, zeros);
    CHECK_EQ_STR(key, "AAAAAAAAAAAAAAAAAAAAAA==");
    ws_key_make(key, ones);
    CHECK_EQ_STR(key, "/////////////////////w==");
}

static struct http1_header hdrs[32];

/* Parse a reply and check it against the RFC key and the given offers. */
static int check(const char *reply, const char *subprotocol, int *deflate, const char **why)
{
    struct http1_response r;
    memset(&r, 0, sizeof r);
    r.headers = hdrs;
    r.num_headers = 32;
    int rc = http1_response_parse(reply, strlen(reply), &r);
    if (rc != (int)strlen(reply))
        return -1;
    struct ws_handshake_expect e = {rfc_key, subprotocol};
    return ws_handshake_check(&r, &e, deflate, why);
}

#define GOOD_HEAD                                                                                  \
    "HTTP/1.1 101 Switching Protocols\r\n"                                                         \
    "Upgrade: websocket\r\n"                                                                       \
    "Connection: Upgrade\r\n"                                                                      \
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"

static void test_check(void)
{
    const char *why = "unset";
    int deflate = -1;

    CHECK_EQ_I64(check(GOOD_HEAD "\r\n", NULL, NULL, &why), 0);
    CHECK(why == NULL);
    CHECK_EQ_I64(check(GOOD_HEAD "\r\n", NULL, &deflate, &why), 0);
    CHECK_EQ_I64(deflate, 0);
    CHECK_EQ_I64(check(GOOD_HEAD "\r\n", NULL, NULL, NULL), 0);

    /* Status. */
    CHECK_EQ_I64(check("HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                       NULL, NULL, &why),
                 HERD_E_STATUS);
    CHECK(why != NULL);
    CHECK_EQ_I64(check("HTTP/1.1 503 Service Unavailable\r\n\r\n", NULL, NULL, &why),
                 HERD_E_STATUS);
    CHECK_EQ_I64(check("HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n", NULL,
                       NULL, &why),
                 HERD_E_STATUS);

    /* Upgrade and Connection. */
    why = NULL;
    CHECK_EQ_I64(check("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                       NULL, NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK(why != NULL && strstr(why, "Upgrade") != NULL);
    CHECK_EQ_I64(check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                       NULL, NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                       NULL, NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: keep-alive\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                       NULL, NULL, &why),
                 HERD_E_HANDSHAKE);

    /* Case-insensitive names and tokens, token lists, repeated fields forming one list. */
    CHECK_EQ_I64(check("HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
                       "CONNECTION: keep-alive, Upgrade\r\n"
                       "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                       NULL, NULL, &why),
                 0);
    CHECK_EQ_I64(check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: keep-alive\r\nConnection: upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                       NULL, NULL, &why),
                 0);

    /* The accept value: wrong, missing, wrong case (base64 is case-sensitive), repeated. */
    why = NULL;
    CHECK_EQ_I64(check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=\r\n\r\n",
                       NULL, NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK(why != NULL && strstr(why, "Accept") != NULL);
    CHECK_EQ_I64(check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\n\r\n",
                       NULL, NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: S3PPLMBITXAQ9KYGZZHZRBK+XOO=\r\n\r\n",
                       NULL, NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=x\r\n\r\n",
                       NULL, NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", NULL,
                       NULL, &why),
                 HERD_E_HANDSHAKE);

    /* Subprotocols. */
    why = NULL;
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Protocol: chat\r\n\r\n", NULL, NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK(why != NULL && strstr(why, "unsolicited") != NULL);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Protocol: chat\r\n\r\n", "", NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Protocol: chat\r\n\r\n", "chat", NULL, &why), 0);
    CHECK_EQ_I64(
        check(GOOD_HEAD "Sec-WebSocket-Protocol: superchat\r\n\r\n", "chat, superchat", NULL, &why),
        0);
    CHECK_EQ_I64(
        check(GOOD_HEAD "Sec-WebSocket-Protocol: chat\r\n\r\n", "chat,superchat", NULL, &why), 0);
    why = NULL;
    CHECK_EQ_I64(
        check(GOOD_HEAD "Sec-WebSocket-Protocol: other\r\n\r\n", "chat, superchat", NULL, &why),
        HERD_E_HANDSHAKE);
    CHECK(why != NULL && strstr(why, "offered") != NULL);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Protocol: Chat\r\n\r\n", "chat", NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Protocol: cha\r\n\r\n", "chat", NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n",
                       "chat, superchat", NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Protocol: chat\r\n"
                                 "Sec-WebSocket-Protocol: chat\r\n\r\n",
                       "chat", NULL, &why),
                 HERD_E_HANDSHAKE);
    /* Offered but none chosen is the server's right. */
    CHECK_EQ_I64(check(GOOD_HEAD "\r\n", "chat", NULL, &why), 0);

    /* Extensions. */
    why = NULL;
    CHECK_EQ_I64(
        check(GOOD_HEAD "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", NULL, NULL, &why),
        HERD_E_HANDSHAKE);
    CHECK(why != NULL && strstr(why, "extension") != NULL);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n", NULL,
                       NULL, &why),
                 HERD_E_HANDSHAKE);
    deflate = -1;
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", NULL,
                       &deflate, &why),
                 0);
    CHECK_EQ_I64(deflate, 1);
    deflate = -1;
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Extensions: Permessage-Deflate; "
                                 "client_max_window_bits=10; server_no_context_takeover\r\n\r\n",
                       NULL, &deflate, &why),
                 0);
    CHECK_EQ_I64(deflate, 1);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Extensions: permessage-deflate; x=\"a,b\"\r\n\r\n",
                       NULL, &deflate, &why),
                 0);
    deflate = -1;
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Extensions: foo\r\n\r\n", NULL, &deflate, &why),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(deflate, 0);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Extensions: permessage-deflate, foo\r\n\r\n", NULL,
                       &deflate, &why),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                                 "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                       NULL, &deflate, &why),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Extensions: permessage-deflate, "
                                 "permessage-deflate\r\n\r\n",
                       NULL, &deflate, &why),
                 HERD_E_HANDSHAKE);
    /* An empty extensions field names nothing. */
    deflate = -1;
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Extensions:\r\n\r\n", NULL, &deflate, &why), 0);
    CHECK_EQ_I64(deflate, 0);
    CHECK_EQ_I64(check(GOOD_HEAD "Sec-WebSocket-Extensions:\r\n\r\n", NULL, NULL, &why), 0);
}

/* A 101 in HTTP/1.0 is no upgrade (RFC 9110 7.8 belongs to 1.1). */
static void test_check_version(void)
{
    const char *why = NULL;
    CHECK_EQ_I64(check("HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                       NULL, NULL, &why),
                 HERD_E_HANDSHAKE);
    CHECK(why != NULL && strstr(why, "1.0") != NULL);
}

/* ---- the server's side ---- */

static struct http1_header req_hdrs[32];

static int upgrade(const char *head, struct ws_upgrade *u)
{
    struct http1_request r;
    memset(&r, 0, sizeof r);
    r.headers = req_hdrs;
    r.num_headers = 32;
    if (http1_request_parse(head, strlen(head), &r) != (int)strlen(head))
        return -1;
    return ws_upgrade_check(&r, u, NULL);
}

#define UP_LINE "GET /chat HTTP/1.1\r\n"
#define UP_REST                                                                                    \
    "Host: server.example.com\r\n"                                                                 \
    "Upgrade: websocket\r\n"                                                                       \
    "Connection: Upgrade\r\n"                                                                      \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                                              \
    "Sec-WebSocket-Version: 13\r\n"

static void test_upgrade(void)
{
    struct ws_upgrade u;
    /* RFC 6455 1.2's request, and the 1.3 accept value in the reply. */
    CHECK_EQ_I64(upgrade(UP_LINE UP_REST "\r\n", &u), 0);
    CHECK_EQ_U64(u.key_len, 24);
    CHECK(u.subprotocol == NULL);
    char out[512];
    size_t n = ws_upgrade_reply(out, sizeof out, &u, NULL);
    CHECK(n > 0 && n == strlen(out));
    CHECK(strstr(out, "HTTP/1.1 101 ") == out);
    CHECK(strstr(out, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL);
    CHECK(strstr(out, "Sec-WebSocket-Protocol") == NULL);
    CHECK(n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0);
    /* The reply passes the client's own check. */
    CHECK_EQ_I64(check(out, NULL, NULL, NULL), 0);
    /* Too small a buffer: 0, nothing half-written is returned as a reply. */
    CHECK_EQ_U64(ws_upgrade_reply(out, 40, &u, NULL), 0);

    /* Subprotocols: the first offered, when it is a token. */
    CHECK_EQ_I64(upgrade(UP_LINE UP_REST "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n", &u), 0);
    CHECK(u.subprotocol && u.subprotocol_len == 4 && memcmp(u.subprotocol, "chat", 4) == 0);
    n = ws_upgrade_reply(out, sizeof out, &u, "permessage-deflate");
    CHECK(strstr(out, "\r\nSec-WebSocket-Protocol: chat\r\n") != NULL);
    CHECK(strstr(out, "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n") != NULL);
    CHECK_EQ_I64(upgrade(UP_LINE UP_REST "Sec-WebSocket-Protocol: a b\r\n\r\n", &u), 0);
    CHECK(u.subprotocol == NULL);

    /* Refusals and what they answer. */
    CHECK_EQ_I64(upgrade("POST /chat HTTP/1.1\r\n" UP_REST "\r\n", &u), HERD_E_HANDSHAKE);
    CHECK_EQ_I64(u.status, 405);
    CHECK(u.headers && strstr(u.headers, "Allow: GET") != NULL);
    CHECK_EQ_I64(upgrade("GET /chat HTTP/1.0\r\n" UP_REST "\r\n", &u), HERD_E_HANDSHAKE);
    CHECK_EQ_I64(u.status, 400);
    CHECK_EQ_I64(upgrade(UP_LINE "Host: x\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                 "Sec-WebSocket-Version: 13\r\n\r\n",
                         &u),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(u.status, 426);
    CHECK(u.headers && strstr(u.headers, "Upgrade: websocket") != NULL);
    CHECK_EQ_I64(upgrade(UP_LINE "Upgrade: websocket\r\nConnection: keep-alive\r\n"
                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                 "Sec-WebSocket-Version: 13\r\n\r\n",
                         &u),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(u.status, 400);
    static const char *const keys[] = {
        "dGhlIHNhbXBsZSBub25jZQ=", /* 23 characters */
        "dGhlIHNhbXBsZSBub25jZQ===", /* 25 */
        "dGhlIHNhbXBsZSBub25jZR==", /* non-zero leftover bits */
        "dGhlIHNhbXBsZSBub25j-Q==", /* not the alphabet */
        "dGhlIHNhbXBsZSBub25jZQAA", /* 18 bytes, not 16 */
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char head[512];
        snprintf(head, sizeof head,
                 UP_LINE "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 keys[i]);
        CHECK_EQ_I64(upgrade(head, &u), HERD_E_HANDSHAKE);
        CHECK_EQ_I64(u.status, 400);
    }
    CHECK_EQ_I64(upgrade(UP_LINE "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                 "Sec-WebSocket-Version: 8\r\n\r\n",
                         &u),
                 HERD_E_HANDSHAKE);
    CHECK_EQ_I64(u.status, 426);
    CHECK(u.headers && strstr(u.headers, "Sec-WebSocket-Version: 13") != NULL);
}

int main(void)
{
    test_keys();
    test_check();
    test_check_version();
    test_upgrade();
    return tap_done();
}

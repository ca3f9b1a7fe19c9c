/* ws.h - RFC 6455 WebSocket codec: frames (both roles), masking, the opening handshake and close
 * payloads. Pure: no I/O, no allocation, no logging. Random bytes come in as arguments.
 *
 * Frames are parsed with a pull API in the style of picohttpparser: the caller hands a buffer,
 * ws_frame_decode() says how long the whole frame is, or that more bytes are needed, or that the
 * frame violates the protocol. Message-level rules (fragmentation sequence, UTF-8 across
 * fragments, close payloads) are checked by struct ws_msg. */
#ifndef HERD_PROTO_WS_H
#define HERD_PROTO_WS_H

#include <stddef.h>
#include <stdint.h>

enum ws_op {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* Close status codes (RFC 6455 7.4.1). */
enum ws_close {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005, /* never on the wire */
    WS_CLOSE_ABNORMAL = 1006, /* never on the wire */
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

#define WS_MAX_HEAD 14 /* 2 + 8 (length) + 4 (mask) */
#define WS_MAX_CONTROL 125 /* RFC 6455 5.5 */

/* Decoder flags. */
#define WS_F_EXPECT_MASKED 0x1 /* we are the server: every frame must be masked (5.1) */
#define WS_F_EXPECT_UNMASKED 0x2 /* we are the client: no frame may be masked (5.1) */
#define WS_F_ALLOW_RSV1 0x4 /* permessage-deflate negotiated (RFC 7692) */

struct ws_frame {
    uint8_t fin;
    uint8_t rsv; /* RSV1..RSV3 as bits 0x4, 0x2, 0x1 */
    uint8_t opcode; /* enum ws_op */
    uint8_t masked;
    uint8_t mask[4];
    uint8_t head_len; /* bytes of header, 2..14 */
    uint64_t payload_len; /* bytes of payload */
};

/* Decode the frame at the start of buf[0..len).
 * Returns the whole frame length (head_len + payload_len) when all of it is in buf; the payload
 * starts at buf + f->head_len and is still masked when f->masked.
 * Returns HERD_E_AGAIN when more bytes are needed: if the header itself is complete, f is filled
 * so the caller knows how much to wait for; if not, f->head_len is 0 (and the rest of f unset).
 * Returns HERD_E_PROTO for a violation: reserved opcode, RSV bits not allowed by flags, masking
 * contrary to flags, non-minimal or 64-bit length with the MSB set, control frame with FIN clear
 * or payload > 125. Returns HERD_E_TOO_BIG when payload_len > max_payload, or when the frame
 * length would not fit the int returned (INT_MAX - WS_MAX_HEAD bytes of payload at most). */
int ws_frame_decode(const uint8_t *buf, size_t len, unsigned flags, uint64_t max_payload,
                    struct ws_frame *f);

/* Write a frame header to out (at least WS_MAX_HEAD bytes) using the minimal length encoding.
 * mask is NULL for an unmasked (server) frame, else the 4-byte key. rsv as in struct ws_frame.
 * Returns the header length. */
size_t ws_frame_head_encode(uint8_t *out, int fin, unsigned rsv, unsigned opcode,
                            uint64_t payload_len, const uint8_t *mask);

/* The whole frame: header (as ws_frame_head_encode) and payload[0..len), masked with `mask`
 * unless it is NULL, into out[0..cap). The one frame builder of herd, for both sides: the
 * client's messages, PINGs and closes, and the server's replies and broadcasts, so that the RSV
 * bits an extension sets (RFC 7692: RSV1 on a compressed message's first frame) are given in one
 * place. payload may not overlap out. Returns the frame's length, or 0 when cap is smaller than
 * WS_MAX_HEAD + len. */
size_t ws_frame_encode(uint8_t *out, size_t cap, int fin, unsigned rsv, unsigned opcode,
                       const uint8_t *payload, size_t len, const uint8_t *mask);

/* A close frame with `code` (5.5.1) and no reason; WS_CLOSE_NO_STATUS sends an empty close.
 * Returns its length (at most WS_MAX_HEAD + 2). */
size_t ws_close_encode(uint8_t out[WS_MAX_HEAD + 2], unsigned code, const uint8_t *mask);

/* dst[i] = src[i] ^ key[(offset + i) % 4] for i < len; dst may equal src. Works a word at a
 * time (8 bytes), so it is as cheap as a copy. `offset` lets a payload be unmasked in pieces. */
void ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4], size_t offset);

/* Message sequencing across frames (RFC 6455 5.4): continuation without a started message, a
 * new data frame inside a message, and invalid UTF-8 in text messages (checked incrementally
 * across fragments, 8.1). Embedded in each connection; 8 bytes. */
struct ws_msg {
    uint8_t opcode; /* opcode of the message in progress, 0 when none */
    uint8_t _pad[3];
    uint32_t utf8; /* incremental UTF-8 state (utf8.h) */
};

/* Account for the frame f whose (unmasked) payload is p[0..f->payload_len). Control frames are
 * not part of a message and may come between fragments; for them this only checks a close
 * payload (ws_close_parse). Returns 1 when f completes a data message, 0 when it does not (a
 * non-final fragment or a control frame), HERD_E_PROTO for a sequencing violation and
 * HERD_E_UTF8 for invalid UTF-8 in a text message or close reason. When permessage-deflate is in
 * use the caller validates text after inflating and passes check_utf8 = 0. */
int ws_msg_feed(struct ws_msg *m, const struct ws_frame *f, const uint8_t *p, int check_utf8);

/* Parse a close payload: empty (code 1005 reported), or 2-byte code + UTF-8 reason. Returns 0 and
 * sets *code, HERD_E_PROTO for a 1-byte payload or a code that may not be sent (7.4.1/7.4.2:
 * < 1000, 1004-1006, 1015, 1016-2999 except registered ones, >= 5000), HERD_E_UTF8 for an
 * invalid reason. */
int ws_close_parse(const uint8_t *p, size_t len, unsigned *code);

/* Opening handshake (RFC 6455 4.1, 4.2.2). */
#define WS_KEY_LEN 24 /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */

/* Sec-WebSocket-Key from 16 random bytes: out gets 24 characters and a NUL. */
void ws_key_make(char out[WS_KEY_LEN + 1], const uint8_t random16[16]);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)), 28 characters and a NUL. */
void ws_accept_make(char out[WS_ACCEPT_LEN + 1], const char *key, size_t key_len);

struct http1_response;
struct http1_request;

/* What the client asked for, to check the reply against. */
struct ws_handshake_expect {
    const char *key; /* the Sec-WebSocket-Key sent */
    const char *subprotocol; /* NULL when none was offered; comma separated list otherwise */
};

/* Check a parsed response head (http1.h) against RFC 6455 4.1 rules: status 101 in HTTP/1.1
 * (an upgrade does not exist in 1.0), Upgrade:
 * websocket, Connection: upgrade (case-insensitive, token lists), matching Sec-WebSocket-Accept,
 * a Sec-WebSocket-Protocol only if offered and one of those offered, no extension unless
 * permessage-deflate was offered (*deflate set when accepted; pass NULL when not offered).
 * Returns 0, HERD_E_STATUS (status != 101) or HERD_E_HANDSHAKE; on failure *why points at a static
 * one-line reason. */
int ws_handshake_check(const struct http1_response *r, const struct ws_handshake_expect *e,
                       int *deflate, const char **why);

/* The server's side (4.2.1-4.2.2): what a valid upgrade request asked for, pointing into its
 * head, or on failure the answer it gets. */
#define WS_MAX_SUBPROTOCOL 128
struct ws_upgrade {
    const char *key; /* Sec-WebSocket-Key: base64 of 16 bytes */
    size_t key_len;
    const char *subprotocol; /* the first one offered, when it is a token; NULL for none */
    size_t subprotocol_len;
    int status; /* on failure: the status to answer, 400, 405 or 426 */
    const char *headers; /* on failure: CRLF-terminated header lines for that answer, or NULL */
};

/* Check a request head as a server: GET, HTTP/1.1, Upgrade: websocket, Connection: upgrade,
 * a key that is the base64 of 16 bytes, Sec-WebSocket-Version 13. Returns 0 with u filled, or
 * HERD_E_HANDSHAKE with u->status, u->headers and *why set (a version we do not speak or no
 * Upgrade gets 426 and the version we do, a method other than GET 405, the rest 400). */
int ws_upgrade_check(const struct http1_request *r, struct ws_upgrade *u, const char **why);

/* The 101 answer to a checked upgrade, choosing u's subprotocol, with `extensions` (a
 * Sec-WebSocket-Extensions value, or NULL) into out[0..cap). Returns its length, or 0 when it
 * does not fit. */
size_t ws_upgrade_reply(char *out, size_t cap, const struct ws_upgrade *u, const char *extensions);

#endif

/* base64.h - standard base64 (RFC 4648 section 4: '+' and '/', '=' padding), the one encoder and
 * strict decoder of herd: WebSocket handshake keys (proto) and the `hdr` text of the JSON report
 * (stats). Pure: no allocation, no I/O. */
#ifndef HERD_BASE_BASE64_H
#define HERD_BASE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Length of the text for n bytes, without the terminating NUL. */
size_t base64_encoded_len(size_t n);

/* Write the text for src[0..n) and a NUL to dst, which has base64_encoded_len(n) + 1 bytes.
 * Returns the text's length. */
size_t base64_encode(const uint8_t *src, size_t n, char *dst);

/* Decode text of len characters into dst, which has room for len / 4 * 3 + 3 bytes. Padding is
 * optional, but when present must be correct; any other character, a dangling single character
 * or non-zero leftover bits make it fail, so that every byte string has exactly one accepted
 * text. Returns the number of bytes written, or -1. */
long base64_decode(const char *src, size_t len, uint8_t *dst);

#endif

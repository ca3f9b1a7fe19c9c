/* base64.c - standard base64 (RFC 4648 section 4): handshake keys and the report's `hdr` text.
 *
 * The decoder must survive arbitrary report files and request heads, so it is small and strict:
 * one accepted text per byte string. */
#include "base/base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

size_t base64_encode(const uint8_t *src, size_t n, char *dst)
{
    char *start = dst;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t w = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        *dst++ = alphabet[w >> 18];
        *dst++ = alphabet[(w >> 12) & 63];
        *dst++ = alphabet[(w >> 6) & 63];
        *dst++ = alphabet[w & 63];
    }
    if (n - i == 1) {
        uint32_t w = (uint32_t)src[i] << 16;
        *dst++ = alphabet[w >> 18];
        *dst++ = alphabet[(w >> 12) & 63];
        *dst++ = '=';
        *dst++ = '=';
    } else if (n - i == 2) {
        uint32_t w = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
        *dst++ = alphabet[w >> 18];
        *dst++ = alphabet[(w >> 12) & 63];
        *dst++ = alphabet[(w >> 6) & 63];
        *dst++ = '=';
    }
    *dst = '\0';
    return (size_t)(dst - start);
}

/* 0..63 for an alphabet character, -1 for anything else (including '=' and NUL). */
static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long base64_decode(const char *src, size_t len, uint8_t *dst)
{
    /* Padding, if any, must complete the last quantum to 4 characters; then drop it. */
    if (len > 0 && src[len - 1] == '=') {
        if (len % 4 != 0)
            return -1;
        len--;
        if (src[len - 1] == '=')
            len--;
    }
    if (len % 4 == 1)
        return -1; /* 6 bits cannot make a byte */

    long out = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int s = sextet((unsigned char)src[i]);
        if (s < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)s;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[out++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits of a short last quantum must be zero, so that every byte string has
     * exactly one accepted text. */
    if (acc != 0)
        return -1;
    return out;
}

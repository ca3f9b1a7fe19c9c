/* utf8.h - incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, <= U+10FFFF),
 * usable across fragment and read boundaries. Pure. */
#ifndef HERD_PROTO_UTF8_H
#define HERD_PROTO_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UTF8_ACCEPT 0u /* at a character boundary, all valid so far */
#define UTF8_REJECT 1u /* invalid; stays so */

/* Feed p[0..n) to a validator in `state`; returns the new state. Any value other than
 * UTF8_ACCEPT and UTF8_REJECT means "inside a multi-byte character". A fast path skips ASCII
 * eight bytes at a time. */
uint32_t utf8_feed(uint32_t state, const uint8_t *p, size_t n);

/* Whole-buffer check: 1 when p[0..n) is complete valid UTF-8, else 0. */
int utf8_valid(const uint8_t *p, size_t n);

#endif

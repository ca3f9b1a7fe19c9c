/* stats_internal.h - what the files of src/stats share with each other (and with the unit tests
 * of this folder), never with other modules.
 *
 * hist.c owns the bucket arithmetic; hist_v2.c needs it to walk and rebuild the counts array, and
 * base64.c is the text layer under the V2 encoding. */
#ifndef HERD_STATS_STATS_INTERNAL_H
#define HERD_STATS_STATS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "stats/stats.h"

/* Fill the parameter fields of *cfg (everything before total_count) for lowest..highest at
 * sigfigs digits, leaving the counters alone. Returns 0, or HERD_E_INVAL when the arguments are
 * out of range: lowest < 1, sigfigs outside 1..5, highest < 2 * lowest, or a range so wide that
 * bucket values would not fit in 63 bits. */
int hist__configure(struct hist *cfg, int64_t lowest, int64_t highest, int sigfigs);

/* Index into counts[] of the bucket holding v, for 0 <= v <= the top of the array (every value
 * up to `highest` qualifies). */
int32_t hist__index_of(const struct hist *h, int64_t v);

/* Lowest value of the bucket at counts[] index i, 0 <= i < counts_len. */
int64_t hist__value_at(const struct hist *h, int32_t i);

/* Recompute total_count, min_value and max_value from counts[], as a decoder must: the V2
 * format carries only the counts. min/max become the lowest value of the first and last
 * non-empty bucket, which hist_min()/hist_max() map to the same figures as the originals. */
void hist__recount(struct hist *h);

/* Standard base64 (RFC 4648 section 4, '+' and '/', '=' padding). */

/* Length of the text for n bytes, without the terminating NUL. */
size_t base64__encoded_len(size_t n);

/* Write the text for src[0..n) and a NUL to dst, which has base64__encoded_len(n) + 1 bytes. */
void base64__encode(const uint8_t *src, size_t n, char *dst);

/* Decode text of len characters into dst, which has room for len / 4 * 3 + 3 bytes. Padding is
 * optional, but when present must be correct; any other character, a dangling single character
 * or non-zero leftover bits make it fail. Returns the number of bytes written, or -1. */
long base64__decode(const char *src, size_t len, uint8_t *dst);

#endif

/* stats_internal.h - what the files of src/stats share with each other (and with the unit tests
 * of this folder), never with other modules.
 *
 * hist.c owns the bucket arithmetic; hist_v2.c needs it to walk and rebuild the counts array. */
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

#endif

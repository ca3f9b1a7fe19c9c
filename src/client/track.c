/* track.c - what subscribers learn from stamps: loss, duplicates and reordering per publisher on
 * each connection, and per-thread fan-out tallies that the reporter merges.
 *
 * Sequence tracking keeps, per publisher a connection has heard from, the highest seq seen and a
 * 64-bit window of which of the 64 seqs below it arrived. A seq above the top moves the window;
 * a seq that leaves the window without having arrived is lost. So a message that comes up to 64
 * places late counts as reordered, not lost; one later than that was already counted lost and
 * counts as reordered too. A connection's first message from a publisher sets the baseline:
 * joining late loses nothing. The state outlives reconnects of the connection, so messages
 * published while it was away count as lost unless the server replays them (SSE Last-Event-ID).
 *
 * Fan-out: each worker tallies, per (publisher, seq), how many of its connections got the message
 * and when the last did, in a hash table it alone writes; at each stats swap the table is handed
 * to the reporter with the stats block, and the reporter sums the tables of all workers. */
#include "client/role.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>

#define TRACK_INITIAL 4
#define FAN_INITIAL 1024

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull + (a << 6) + (a >> 2));
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

/* ---- per connection: sequence tracking ---- */

static struct track *track_new(uint32_t cap)
{
    struct track *t = xcalloc(1, sizeof *t + cap * sizeof t->e[0]);
    t->cap = cap;
    return t;
}

static struct pub_seen *track_slot(struct track *t, uint64_t pub)
{
    uint32_t mask = t->cap - 1;
    for (uint32_t i = (uint32_t)mix(pub, 0) & mask;; i = (i + 1) & mask)
        if (t->e[i].pub == pub || t->e[i].pub == 0)
            return &t->e[i];
}

/* Seqs missing among the d highest positions of the window, which a move by d pushes out. */
static uint64_t missing_leaving(uint64_t bits, uint64_t d)
{
    if (d >= 64)
        return 64 - (uint64_t)__builtin_popcountll(bits);
    return d - (uint64_t)__builtin_popcountll(bits >> (64 - d));
}

enum track_kind track__seen(struct track **tp, uint64_t pub, uint64_t seq, uint64_t *lost)
{
    if (pub == 0) /* not a publisher id herd hands out: do not track */
        return TRACK_NEW;
    struct track *t = *tp;
    if (!t)
        t = *tp = track_new(TRACK_INITIAL);
    struct pub_seen *e = track_slot(t, pub);
    if (e->pub == 0) {
        if ((t->n + 1) * 2 > t->cap) { /* keep the table at most half full */
            struct track *g = track_new(t->cap * 2);
            for (uint32_t i = 0; i < t->cap; i++)
                if (t->e[i].pub)
                    *track_slot(g, t->e[i].pub) = t->e[i];
            g->n = t->n;
            free(t);
            t = *tp = g;
            e = track_slot(t, pub);
        }
        e->pub = pub;
        e->top = seq;
        e->bits = ~0ull; /* everything before the first message heard is not expected */
        t->n++;
        return TRACK_FIRST;
    }
    if (seq > e->top) {
        uint64_t d = seq - e->top;
        *lost += missing_leaving(e->bits, d);
        if (d > 65) /* the gap is wider than the window: those never entered it */
            *lost += d - 65;
        e->bits = d < 64 ? e->bits << d : 0;
        if (d <= 64)
            e->bits |= 1ull << (d - 1); /* the old top */
        e->top = seq;
        return TRACK_NEW;
    }
    if (seq == e->top)
        return TRACK_DUP;
    uint64_t k = e->top - 1 - seq;
    if (k >= 64) /* beyond the window: already counted lost */
        return TRACK_LATE;
    if (e->bits & (1ull << k))
        return TRACK_DUP;
    e->bits |= 1ull << k;
    return TRACK_LATE;
}

uint64_t track__flush(struct track *t)
{
    uint64_t lost = 0;
    if (!t)
        return 0;
    for (uint32_t i = 0; i < t->cap; i++) {
        struct pub_seen *e = &t->e[i];
        if (e->pub) {
            lost += 64 - (uint64_t)__builtin_popcountll(e->bits);
            e->bits = ~0ull;
        }
    }
    return lost;
}

void track__free(struct track **tp)
{
    free(*tp);
    *tp = NULL;
}

/* ---- per worker: fan-out tallies ---- */

static void fan_alloc(struct fan_table *t, size_t cap)
{
    t->e = xcalloc(cap, sizeof *t->e);
    t->cap = cap;
    t->n = 0;
}

static struct fan_entry *fan_slot(const struct fan_table *t, uint64_t pub, uint64_t seq)
{
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)mix(pub, seq) & mask;; i = (i + 1) & mask) {
        struct fan_entry *e = &t->e[i];
        if (e->count == 0 || (e->pub == pub && e->seq == seq))
            return e;
    }
}

struct fan_entry *fan__find(const struct fan_table *t, uint64_t pub, uint64_t seq)
{
    if (!t->cap)
        return NULL;
    struct fan_entry *e = fan_slot(t, pub, seq);
    return e->count ? e : NULL;
}

void fan__add(struct fan_table *t, uint64_t pub, uint64_t seq, uint64_t stamp_ns, uint64_t last_ns,
              uint64_t count)
{
    if (count == 0)
        return;
    if (!t->cap)
        fan_alloc(t, FAN_INITIAL);
    struct fan_entry *e = fan_slot(t, pub, seq);
    if (e->count == 0) {
        if ((t->n + 1) * 10 > t->cap * 7) { /* grow at 70 % */
            struct fan_table g;
            fan_alloc(&g, t->cap * 2);
            for (size_t i = 0; i < t->cap; i++)
                if (t->e[i].count)
                    *fan_slot(&g, t->e[i].pub, t->e[i].seq) = t->e[i];
            g.n = t->n;
            free(t->e);
            *t = g;
            e = fan_slot(t, pub, seq);
        }
        *e = (struct fan_entry){.pub = pub, .seq = seq, .stamp_ns = stamp_ns, .last_ns = last_ns};
        t->n++;
    } else if (last_ns > e->last_ns) {
        e->last_ns = last_ns;
    }
    e->count += count;
}

void fan__clear(struct fan_table *t)
{
    if (t->n)
        memset(t->e, 0, t->cap * sizeof *t->e);
    t->n = 0;
}

void fan__free(struct fan_table *t)
{
    free(t->e);
    *t = (struct fan_table){0};
}

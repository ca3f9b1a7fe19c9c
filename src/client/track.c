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
        if (!t->e[i].used || t->e[i].pub == pub)
            return &t->e[i];
}

/* Seqs missing among the d highest positions of the window, which a move by d pushes out. */
static uint64_t missing_leaving(uint64_t bits, uint64_t d)
{
    if (d >= 64)
        return 64 - (uint64_t)__builtin_popcountll(bits);
    return d - (uint64_t)__builtin_popcountll(bits >> (64 - d));
}

enum track_kind track__seen(struct track **tp, uint64_t pub, uint64_t seq, uint64_t real_ns,
                            uint64_t *lost)
{
    struct track *t = *tp;
    if (!t)
        t = *tp = track_new(TRACK_INITIAL);
    struct pub_seen *e = track_slot(t, pub);
    if (!e->used) {
        if ((t->n + 1) * 2 > t->cap) { /* keep the table at most half full */
            struct track *g = track_new(t->cap * 2);
            for (uint32_t i = 0; i < t->cap; i++)
                if (t->e[i].used)
                    *track_slot(g, t->e[i].pub) = t->e[i];
            g->n = t->n;
            free(t);
            t = *tp = g;
            e = track_slot(t, pub);
        }
        e->used = 1;
        e->pub = pub;
        e->top = seq;
        e->top_ns = real_ns;
        e->bits = ~0ull; /* everything before the first message heard is not expected */
        t->n++;
        return TRACK_FIRST;
    }
    if (seq > e->top) {
        e->top_ns = real_ns;
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
    /* One publisher's stamps carry its intended send times, which grow with its seq: a lower seq
     * stamped later than the highest is another publisher that took the same id. */
    if (real_ns > e->top_ns)
        return TRACK_COLLISION;
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
        if (e->used) {
            lost += 64 - (uint64_t)__builtin_popcountll(e->bits);
            e->bits = ~0ull;
        }
    }
    return lost;
}

void track__each(const struct track *t, void (*fn)(void *ctx, uint64_t pub, uint64_t top),
                 void *ctx)
{
    for (uint32_t i = 0; t && i < t->cap; i++)
        if (t->e[i].used)
            fn(ctx, t->e[i].pub, t->e[i].top);
}

void track__free(struct track **tp)
{
    free(*tp);
    *tp = NULL;
}

/* ---- the last seq per publisher ---- */

static struct publast_entry *publast_slot(const struct publast *m, uint64_t pub)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)mix(pub, 1) & mask;; i = (i + 1) & mask)
        if (!m->e[i].used || m->e[i].pub == pub)
            return &m->e[i];
}

void publast__note(struct publast *m, uint64_t pub, uint64_t seq)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct publast g = {xcalloc(m->cap ? 2 * m->cap : 64, sizeof *g.e),
                            m->cap ? 2 * m->cap : 64, m->n};
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].used)
                *publast_slot(&g, m->e[i].pub) = m->e[i];
        free(m->e);
        *m = g;
    }
    struct publast_entry *e = publast_slot(m, pub);
    if (!e->used) {
        *e = (struct publast_entry){pub, seq, 1};
        m->n++;
    } else if (seq > e->last) {
        e->last = seq;
    }
}

uint64_t publast__get(const struct publast *m, uint64_t pub)
{
    if (!m->cap)
        return 0;
    const struct publast_entry *e = publast_slot(m, pub);
    return e->used ? e->last : 0;
}

void publast__free(struct publast *m)
{
    free(m->e);
    *m = (struct publast){0};
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

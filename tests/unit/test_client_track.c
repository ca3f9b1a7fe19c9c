/* Unit tests: per-publisher sequence tracking (loss, duplicates, reordering) and fan-out tallies
 * (src/client/track.c), checked against a reference that keeps every seq it saw. */
#include "client/role.h"

#include "tap.h"

#include <stdlib.h>

/* Feed seqs of one publisher; return the totals the tracker reports, lost including the flush
 * at the end. */
struct totals {
    uint64_t lost, dup, late, first;
};

static struct totals feed(const uint64_t *seqs, size_t n)
{
    struct track *t = NULL;
    struct totals r = {0};
    for (size_t i = 0; i < n; i++) {
        switch (track__seen(&t, 7, seqs[i], seqs[i], &r.lost)) {
        case TRACK_FIRST: r.first++; break;
        case TRACK_DUP: r.dup++; break;
        case TRACK_LATE: r.late++; break;
        default: break;
        }
    }
    r.lost += track__flush(t);
    track__free(&t);
    CHECK(t == NULL);
    return r;
}

static void test_in_order(void)
{
    uint64_t s[100];
    for (int i = 0; i < 100; i++)
        s[i] = (uint64_t)i + 1;
    struct totals r = feed(s, 100);
    CHECK_EQ_U64(r.first, 1);
    CHECK_EQ_U64(r.lost, 0);
    CHECK_EQ_U64(r.dup, 0);
    CHECK_EQ_U64(r.late, 0);
}

static void test_join_late(void)
{
    /* The first seq heard is 500: the 499 before it are not losses. */
    uint64_t s[] = {500, 501, 502};
    struct totals r = feed(s, 3);
    CHECK_EQ_U64(r.lost, 0);
}

static void test_gaps(void)
{
    uint64_t s[] = {1, 2, 5, 6, 10};
    struct totals r = feed(s, 5);
    CHECK_EQ_U64(r.lost, 5); /* 3 4 7 8 9 */
    CHECK_EQ_U64(r.late, 0);
}

static void test_swap_is_no_loss(void)
{
    uint64_t s[] = {1, 3, 2, 4, 6, 5, 7};
    struct totals r = feed(s, 7);
    CHECK_EQ_U64(r.lost, 0);
    CHECK_EQ_U64(r.late, 2);
    CHECK_EQ_U64(r.dup, 0);
}

static void test_duplicates(void)
{
    uint64_t s[] = {1, 1, 2, 3, 2, 3, 4, 1};
    struct totals r = feed(s, 8);
    CHECK_EQ_U64(r.dup, 4);
    CHECK_EQ_U64(r.lost, 0);
    CHECK_EQ_U64(r.late, 0);
}

static void test_wide_gaps(void)
{
    /* Gaps around the window's width: 63, 64, 65, 66 and 1000 missing. */
    uint64_t gaps[] = {63, 64, 65, 66, 1000};
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        uint64_t s[] = {1, 2 + gaps[g], 3 + gaps[g]};
        struct totals r = feed(s, 3);
        CHECK_EQ_U64(r.lost, gaps[g]);
    }
}

static void test_late_beyond_window(void)
{
    /* 2 arrives after 100: 98 places late, beyond the window: it was counted lost already. */
    uint64_t s[100];
    s[0] = 1;
    for (int i = 1; i < 99; i++)
        s[i] = (uint64_t)i + 2; /* 3..100 */
    s[99] = 2;
    struct totals r = feed(s, 100);
    CHECK_EQ_U64(r.lost, 1);
    CHECK_EQ_U64(r.late, 1);
}

/* Random streams against a reference that remembers every seq: with reordering inside the
 * window, lost is exactly the seqs never delivered (above the first), dup the repeats. */
static void test_random_against_reference(void)
{
    srand(12345);
    for (int round = 0; round < 200; round++) {
        enum { N = 600 };
        uint64_t s[N * 2];
        size_t n = 0;
        uint64_t first = 1 + (uint64_t)(rand() % 50);
        for (uint64_t q = first; q < first + N; q++) {
            int r = rand() % 100;
            if (r < 5 && q != first)
                continue; /* dropped */
            s[n++] = q;
            if (r >= 95)
                s[n++] = q; /* repeated */
        }
        /* Swap neighbours now and then (at most 2 places: inside the window). */
        for (size_t i = 1; i + 1 < n; i++)
            if (rand() % 20 == 0 && s[i] != s[i + 1]) {
                uint64_t x = s[i];
                s[i] = s[i + 1];
                s[i + 1] = x;
                i++;
            }
        static unsigned char seen[N + 64];
        memset(seen, 0, sizeof seen);
        uint64_t dup = 0, distinct = 0, top = first;
        for (size_t i = 0; i < n; i++) {
            uint64_t k = s[i] - first;
            if (seen[k])
                dup++;
            else
                distinct++;
            seen[k] = 1;
            if (s[i] > top)
                top = s[i];
        }
        uint64_t expect_lost = (top - first + 1) - distinct;
        struct totals r = feed(s, n);
        CHECK_EQ_U64(r.lost, expect_lost);
        CHECK_EQ_U64(r.dup, dup);
    }
}

static void test_many_publishers(void)
{
    struct track *t = NULL;
    uint64_t lost = 0;
    for (uint64_t seq = 1; seq <= 3; seq++)
        for (uint64_t pub = 1; pub <= 1000; pub++) {
            uint64_t q = seq == 2 && pub % 10 == 0 ? 99 : seq;
            track__seen(&t, pub, q, q, &lost);
        }
    /* Publishers 10, 20, ...: 1, 99, 3 -> 2..98 lost (97), 3 is late beyond the window (and
     * stays lost). 2..34 are counted at once; 35..98 are in the window until the flush. */
    CHECK_EQ_U64(lost, 100 * 33);
    CHECK(t->cap >= 2000);
    CHECK_EQ_U64(t->n, 1000);
    lost += track__flush(t);
    CHECK_EQ_U64(lost, 100 * 97);
    track__free(&t);
}

static void each_note(void *ctx, uint64_t pub, uint64_t top)
{
    uint64_t *seen = ctx;
    seen[0] = pub;
    seen[1] = top;
}

/* Publisher 0 (herd serve --tick publishes as 0) is a publisher like any other. */
static void test_publisher_zero(void)
{
    struct track *t = NULL;
    uint64_t lost = 0;
    CHECK_EQ_I64(track__seen(&t, 0, 1, 1, &lost), TRACK_FIRST);
    CHECK_EQ_I64(track__seen(&t, 0, 2, 2, &lost), TRACK_NEW);
    CHECK_EQ_I64(track__seen(&t, 0, 200, 200, &lost), TRACK_NEW);
    CHECK_EQ_I64(track__seen(&t, 0, 200, 200, &lost), TRACK_DUP);
    lost += track__flush(t);
    CHECK_EQ_U64(lost, 197);
    CHECK_EQ_U64(t->n, 1);
    track__free(&t);
}

/* Two publishers that took one id: a lower seq stamped later than the highest is a collision,
 * not a duplicate or a reorder; a genuinely late message is older. */
static void test_collision(void)
{
    struct track *t = NULL;
    uint64_t lost = 0;
    CHECK_EQ_I64(track__seen(&t, 5, 1, 1000, &lost), TRACK_FIRST);
    CHECK_EQ_I64(track__seen(&t, 5, 3, 3000, &lost), TRACK_NEW);
    CHECK_EQ_I64(track__seen(&t, 5, 2, 2000, &lost), TRACK_LATE);
    CHECK_EQ_I64(track__seen(&t, 5, 3, 3000, &lost), TRACK_DUP);
    CHECK_EQ_I64(track__seen(&t, 5, 1, 3500, &lost), TRACK_COLLISION); /* another's seq 1 */
    CHECK_EQ_I64(track__seen(&t, 5, 3, 4000, &lost), TRACK_COLLISION);
    CHECK_EQ_U64(lost, 0);
    uint64_t seen[2] = {0, 0};
    track__each(t, each_note, seen);
    CHECK(seen[0] == 5 && seen[1] == 3);
    track__free(&t);
}

/* The last seq per publisher: the highest noted wins; every id, 0 included, found after growth. */
static void test_publast(void)
{
    struct publast m = {0};
    CHECK_EQ_U64(publast__get(&m, 7), 0);
    for (uint64_t pub = 0; pub < 5000; pub++)
        publast__note(&m, pub, pub * 3 + 1);
    publast__note(&m, 0, 100);
    publast__note(&m, 0, 50); /* lower: ignored */
    int bad = 0;
    for (uint64_t pub = 1; pub < 5000; pub++)
        CHECK_QUIET(publast__get(&m, pub) == pub * 3 + 1, bad);
    CHECK_EQ_I64(bad, 0);
    CHECK_EQ_U64(publast__get(&m, 0), 100);
    CHECK_EQ_U64(publast__get(&m, 99999), 0);
    CHECK_EQ_U64(m.n, 5000);
    publast__free(&m);
}

static void test_fan_table(void)
{
    struct fan_table a = {0};
    for (uint64_t seq = 1; seq <= 5000; seq++) {
        fan__add(&a, 3, seq, 1000 * seq, 1000 * seq + 5, 1);
        fan__add(&a, 3, seq, 1000 * seq, 1000 * seq + 9, 2);
        fan__add(&a, 3, seq, 1000 * seq, 1000 * seq + 7, 1);
    }
    CHECK_EQ_U64(a.n, 5000);
    const struct fan_entry *e = fan__find(&a, 3, 4242);
    CHECK(e != NULL);
    if (e) {
        CHECK_EQ_U64(e->count, 4);
        CHECK_EQ_U64(e->last_ns, 4242000 + 9);
        CHECK_EQ_U64(e->stamp_ns, 4242000);
    }
    CHECK(fan__find(&a, 4, 4242) == NULL);
    fan__add(&a, 9, 9, 9, 9, 0); /* no deliveries: nothing */
    CHECK(fan__find(&a, 9, 9) == NULL);
    fan__clear(&a);
    CHECK_EQ_U64(a.n, 0);
    CHECK(fan__find(&a, 3, 4242) == NULL);
    fan__free(&a);
}

int main(void)
{
    test_publast();
    test_publisher_zero();
    test_collision();
    test_in_order();
    test_join_late();
    test_gaps();
    test_swap_is_no_loss();
    test_duplicates();
    test_wide_gaps();
    test_late_beyond_window();
    test_random_against_reference();
    test_many_publishers();
    test_fan_table();
    return tap_done();
}

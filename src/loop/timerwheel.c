/* timerwheel.c - a hashed timing wheel with 100 us ticks.
 *
 * A timer due at tick T lives in slot T % WHEEL_SLOTS. Timers further away than one turn share
 * the slot with nearer ones and are simply skipped until their turn comes (each costs one
 * comparison per turn, i.e. per 409.6 ms), so arming and cancelling are O(1) and no timer ever
 * allocates. A bitmap of non-empty slots lets the loop find the next wake-up without scanning
 * 4096 slots. */
#include "loop/loop_internal.h"

#include "base/compiler.h"

static inline void bit_set(struct wheel *w, uint32_t s)
{
    w->nonempty[s >> 6] |= 1ull << (s & 63);
}

static inline void bit_clear(struct wheel *w, uint32_t s)
{
    w->nonempty[s >> 6] &= ~(1ull << (s & 63));
}

void wheel__init(struct wheel *w, uint64_t now_ns)
{
    *w = (struct wheel){0};
    w->tick = now_ns / LOOP_TICK_NS;
}

static void link_timer(struct wheel *w, struct loop_timer *t)
{
    uint32_t s = (uint32_t)(t->_at_tick & WHEEL_MASK);
    t->_next = w->slot[s];
    if (t->_next)
        t->_next->_pprev = &t->_next;
    w->slot[s] = t;
    t->_pprev = &w->slot[s];
    bit_set(w, s);
    w->count++;
}

/* Unlink without knowing the wheel: the slot head is reached through _pprev. The slot's bit is
 * left set; wheel__run clears bits of slots it finds empty. */
static void unlink_timer(struct loop_timer *t)
{
    *t->_pprev = t->_next;
    if (t->_next)
        t->_next->_pprev = t->_pprev;
    t->_next = NULL;
    t->_pprev = NULL;
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t at_ns)
{
    struct wheel *w = &l->wheel;
    if (t->_pprev) {
        unlink_timer(t);
        w->count--;
    }
    /* Round up so a timer never fires early; never into a slot already processed. */
    uint64_t at_tick = (at_ns + LOOP_TICK_NS - 1) / LOOP_TICK_NS;
    if (at_tick <= w->tick)
        at_tick = w->tick + 1;
    t->_at_tick = at_tick;
    link_timer(w, t);
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
    if (!t->_pprev)
        return;
    unlink_timer(t);
    l->wheel.count--;
}

/* Process slot s for tick `tick`: fire every timer due by `tick`. */
static void run_slot(struct loop *l, uint32_t s, uint64_t tick)
{
    struct wheel *w = &l->wheel;
    struct loop_timer *list = w->slot[s];
    w->slot[s] = NULL;
    if (list)
        list->_pprev = &list;
    /* Timers not yet due go back into the slot; due ones fire. A callback may arm or cancel any
     * timer, including ones still on `list`, because unlinking goes through _pprev. */
    while (list) {
        struct loop_timer *t = list;
        unlink_timer(t);
        if (t->_at_tick > tick) {
            link_timer(w, t);
            w->count--; /* link_timer counted it again */
            continue;
        }
        w->count--;
        t->cb(l, t);
    }
    if (!w->slot[s])
        bit_clear(w, s);
}

void wheel__run(struct loop *l, uint64_t now_ns)
{
    struct wheel *w = &l->wheel;
    uint64_t now_tick = now_ns / LOOP_TICK_NS;
    while (w->tick < now_tick) {
        uint64_t tick = w->tick + 1;
        /* Jump over empty slots using the bitmap, but never past now_tick. */
        uint32_t s = (uint32_t)(tick & WHEEL_MASK);
        uint64_t word = w->nonempty[s >> 6] >> (s & 63);
        if (!word) {
            uint64_t skip = 64 - (s & 63);
            w->tick = tick + skip - 1 < now_tick ? tick + skip - 1 : now_tick;
            continue;
        }
        uint64_t skip = (uint64_t)__builtin_ctzll(word);
        tick += skip;
        if (tick > now_tick) {
            w->tick = now_tick;
            break;
        }
        w->tick = tick;
        run_slot(l, (uint32_t)(tick & WHEEL_MASK), tick);
    }
}

uint64_t wheel__next_ns(const struct wheel *w, uint64_t now_ns, uint64_t cap)
{
    if (w->count == 0)
        return cap;
    uint64_t now_tick = now_ns / LOOP_TICK_NS;
    if (now_tick > w->tick)
        return 0; /* slots are waiting to be processed */
    /* Scan the bitmap forward from the next tick for at most one turn. */
    uint64_t tick = w->tick + 1;
    uint64_t limit = tick + WHEEL_SLOTS;
    while (tick < limit) {
        uint32_t s = (uint32_t)(tick & WHEEL_MASK);
        uint64_t word = w->nonempty[s >> 6] >> (s & 63);
        if (word) {
            tick += (uint64_t)__builtin_ctzll(word);
            break;
        }
        tick += 64 - (s & 63);
    }
    uint64_t at_ns = tick * LOOP_TICK_NS;
    if (at_ns <= now_ns)
        return 0;
    uint64_t d = at_ns - now_ns;
    return d < cap ? d : cap;
}

size_t loop_timer_count(const struct loop *l)
{
    return l->wheel.count;
}

int loop__validate(const struct loop *l)
{
    const struct wheel *w = &l->wheel;
    size_t n = 0;
    for (uint32_t s = 0; s < WHEEL_SLOTS; s++) {
        struct loop_timer *const *pp = &w->slot[s];
        for (const struct loop_timer *t = w->slot[s]; t; t = t->_next) {
            if (t->_pprev != pp)
                return -1;
            if ((t->_at_tick & WHEEL_MASK) != s)
                return -2;
            if (!(w->nonempty[s >> 6] & (1ull << (s & 63))))
                return -3;
            pp = &((struct loop_timer *)t)->_next;
            n++;
        }
    }
    if (n != w->count)
        return -4;
    return 0;
}

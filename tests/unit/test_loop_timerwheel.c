/* Timer wheel: timers never fire early, fire once, survive arm/cancel from callbacks, and the
 * wheel's invariants hold after every step. Time is driven through loop_run_once with short
 * waits, so these tests take real (but small) time. */
#include "base/clock.h"
#include "base/rng.h"
#include "loop/loop.h"
#include "tap.h"

#include <stdlib.h>

#define N 2000

struct tt {
    struct loop_timer t;
    uint64_t due_ns;
    uint64_t fired_ns;
    int fired;
    int cancelled;
};

static struct tt timers[N];
static int early, twice;

static void on_fire(struct loop *l, struct loop_timer *t)
{
    struct tt *x = (struct tt *)(void *)t;
    uint64_t now = loop_now(l);
    if (now + LOOP_TICK_NS < x->due_ns) /* never more than rounding early */
        early++;
    if (x->fired)
        twice++;
    x->fired = 1;
    x->fired_ns = now;
    /* Callbacks may cancel other timers: cancel the next one every 7th. */
    size_t i = (size_t)(x - timers);
    if (i % 7 == 0 && i + 1 < N && !timers[i + 1].fired) {
        loop_timer_cancel(l, &timers[i + 1].t);
        timers[i + 1].cancelled = 1;
    }
}

static void test_random(void)
{
    struct loop *l = loop_new();
    CHECK(l != NULL);
    struct rng r;
    rng_init(&r);
    uint64_t now = loop_now_update(l);
    for (int i = 0; i < N; i++) {
        timers[i].t.cb = on_fire;
        /* Mostly within one turn (409.6 ms), some beyond it. */
        uint64_t d = rng_below(&r, i % 10 == 0 ? 900 * NS_PER_MS : 300 * NS_PER_MS);
        timers[i].due_ns = now + d;
        loop_timer_arm(l, &timers[i].t, now + d);
    }
    /* Re-arm a few to move them. */
    for (int i = 1; i < N; i += 50) {
        timers[i].due_ns = now + 50 * NS_PER_MS;
        loop_timer_arm(l, &timers[i].t, timers[i].due_ns);
    }
    CHECK_EQ_I64(loop__validate(l), 0);
    CHECK_EQ_U64(loop_timer_count(l), N);
    int bad_validate = 0;
    uint64_t end = now + 1200 * NS_PER_MS;
    while (loop_now_update(l) < end) {
        loop_run_once(l, 5 * NS_PER_MS);
        CHECK_QUIET(loop__validate(l) == 0, bad_validate);
    }
    CHECK_EQ_I64(bad_validate, 0);
    int missed = 0, late = 0;
    for (int i = 0; i < N; i++) {
        if (timers[i].cancelled)
            continue;
        if (!timers[i].fired)
            missed++;
        else if (timers[i].fired_ns > timers[i].due_ns + 50 * NS_PER_MS)
            late++;
    }
    CHECK_EQ_I64(early, 0);
    CHECK_EQ_I64(twice, 0);
    CHECK_EQ_I64(missed, 0);
    CHECK_EQ_I64(late, 0);
    CHECK_EQ_U64(loop_timer_count(l), 0);
    loop_free(l);
}

static int rearm_count;
static void rearm_self(struct loop *l, struct loop_timer *t)
{
    if (++rearm_count < 20)
        loop_timer_arm(l, t, loop_now(l)); /* due now: must fire on a later iteration */
}

static void test_rearm_now(void)
{
    struct loop *l = loop_new();
    struct loop_timer t = {.cb = rearm_self};
    loop_timer_arm(l, &t, loop_now(l));
    for (int i = 0; i < 100 && rearm_count < 20; i++)
        loop_run_once(l, 1 * NS_PER_MS);
    CHECK_EQ_I64(rearm_count, 20);
    CHECK(!loop_timer_armed(&t));
    /* Cancel twice is harmless. */
    loop_timer_arm(l, &t, loop_now(l) + NS_PER_S);
    loop_timer_cancel(l, &t);
    loop_timer_cancel(l, &t);
    CHECK_EQ_U64(loop_timer_count(l), 0);
    CHECK_EQ_I64(loop__validate(l), 0);
    loop_free(l);
}

static int woke;
static void on_wake(struct loop *l, void *arg)
{
    (void)l;
    (void)arg;
    woke++;
}

static void test_wake(void)
{
    struct loop *l = loop_new();
    loop_set_wake_cb(l, on_wake, NULL);
    loop_wake(l);
    loop_wake(l);
    uint64_t t0 = mono_ns();
    loop_run_once(l, NS_PER_S);
    CHECK_EQ_I64(woke, 1);
    CHECK(mono_ns() - t0 < NS_PER_S / 2);
    loop_free(l);
}

int main(void)
{
    test_random();
    test_rearm_now();
    test_wake();
    return tap_done();
}

/* loop_internal.h - the loop's struct, shared by epoll.c and timerwheel.c only. */
#ifndef HERD_LOOP_LOOP_INTERNAL_H
#define HERD_LOOP_LOOP_INTERNAL_H

#include "loop/loop.h"

#define WHEEL_BITS 12
#define WHEEL_SLOTS (1u << WHEEL_BITS) /* 4096 x 100 us = 409.6 ms per turn */
#define WHEEL_MASK (WHEEL_SLOTS - 1)

struct wheel {
    uint64_t tick; /* every slot up to and including this tick has been processed */
    size_t count; /* armed timers */
    uint64_t nonempty[WHEEL_SLOTS / 64];
    struct loop_timer *slot[WHEEL_SLOTS];
};

struct loop {
    int epfd;
    int no_pwait2; /* epoll_pwait2 is missing (Linux < 5.11, valgrind): epoll_wait in ms */
    uint64_t now_ns;
    struct loop_io wake_io;
    loop_wake_cb *wake_cb;
    void *wake_arg;
    loop_wake_cb *after_cb;
    void *after_arg;
    struct loop_io **again; /* watchers queued by loop_io_again for the next iteration */
    size_t nagain, again_cap;
    struct loop_io **run; /* the ones being delivered now (swapped with `again`) */
    size_t nrun, run_cap;
    struct wheel wheel;
};

#define LOOP__AGAIN_SHIFT 8 /* loop_io._events bits holding the queued events */
#define LOOP__AGAIN_MASK (0xffu << LOOP__AGAIN_SHIFT)

void wheel__init(struct wheel *w, uint64_t now_ns);

/* Fire every timer due at or before now_ns. */
void wheel__run(struct loop *l, uint64_t now_ns);

/* ns until the next possibly-due slot, capped at `cap`; 0 when something is due now. */
uint64_t wheel__next_ns(const struct wheel *w, uint64_t now_ns, uint64_t cap);

#endif

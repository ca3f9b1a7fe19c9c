/* loop.h - one event loop per thread: epoll (edge-triggered), a timer wheel, a wake-up eventfd.
 * Knows nothing of protocols.
 *
 * Watchers and timers are intrusive: the owner embeds struct loop_io / struct loop_timer and the
 * loop stores no per-fd state of its own, so a connection is one allocation. Callbacks run on the
 * loop's thread; nothing here is thread safe except loop_wake(). */
#ifndef HERD_LOOP_LOOP_H
#define HERD_LOOP_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_io;
struct loop_timer;

/* Readiness callback: events is a mask of LOOP_READ, LOOP_WRITE, LOOP_HUP, LOOP_ERR. */
typedef void loop_io_cb(struct loop *l, struct loop_io *io, uint32_t events);
typedef void loop_timer_cb(struct loop *l, struct loop_timer *t);
typedef void loop_wake_cb(struct loop *l, void *arg);

#define LOOP_READ 0x1u
#define LOOP_WRITE 0x2u
#define LOOP_HUP 0x4u
#define LOOP_ERR 0x8u

/* An fd watcher, embedded in its owner. */
struct loop_io {
    int fd;
    uint32_t _events; /* registered interest; bits 8..15: events queued by loop_io_again */
    loop_io_cb *cb;
};

/* A timer, embedded in its owner. Armed timers fire once; re-arm from the callback to repeat. */
struct loop_timer {
    struct loop_timer *_next, **_pprev; /* slot list; _pprev NULL when not armed */
    uint64_t _at_tick; /* due tick */
    loop_timer_cb *cb;
};

/* A loop; NULL with errno on failure. */
struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watch io->fd edge-triggered for `events` (LOOP_READ | LOOP_WRITE); HUP and ERR are always
 * reported. Returns 0 or -errno. */
int loop_io_add(struct loop *l, struct loop_io *io, uint32_t events);

/* Stop watching io (before closing its fd). Returns 0 or -errno. */
int loop_io_del(struct loop *l, struct loop_io *io);

/* Deliver `events` to io once more in the next iteration, as if epoll had reported them: for a
 * reader that stopped at its budget with input left, which edge-triggered epoll will not report
 * again. The next iteration does not wait while such work is queued; timers and other
 * watchers' events of that iteration run too, so one busy peer cannot starve them. Repeated
 * calls before then add to the same delivery; loop_io_del cancels it. */
void loop_io_again(struct loop *l, struct loop_io *io, uint32_t events);

/* io's fd is being closed without loop_io_del (closing removes it from epoll): drop what
 * loop_io_again queued for it, so that the struct may watch another fd at once. Cheap when
 * nothing is queued. */
void loop_io_closed(struct loop *l, struct loop_io *io);

/* Monotonic time in ns, read once per loop iteration (cheap). loop_now_update() re-reads it. */
uint64_t loop_now(const struct loop *l);
uint64_t loop_now_update(struct loop *l);

/* Arm t to fire at monotonic time at_ns (rounded up to the wheel's tick, LOOP_TICK_NS). Re-arming
 * an armed timer moves it. A time in the past fires on the next iteration. */
void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t at_ns);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);
static inline int loop_timer_armed(const struct loop_timer *t)
{
    return t->_pprev != NULL;
}

/* Timer resolution: 100 us, so open-model sends are not late by a whole millisecond. */
#define LOOP_TICK_NS 100000ull

/* Called on the loop's thread after another thread's loop_wake(). */
void loop_set_wake_cb(struct loop *l, loop_wake_cb *cb, void *arg);

/* Wake the loop from any thread (an eventfd write). */
void loop_wake(struct loop *l);

/* Called once per iteration after all events and timers: the place for deferred work (frees,
 * batched flushes). */
void loop_set_after_cb(struct loop *l, loop_wake_cb *cb, void *arg);

/* Run one iteration: wait at most max_wait_ns (or until the next timer), dispatch events, fire
 * due timers, run the after-callback. Returns the number of events dispatched or -errno. */
int loop_run_once(struct loop *l, uint64_t max_wait_ns);

/* Number of armed timers (tests and diagnostics). */
size_t loop_timer_count(const struct loop *l);

/* Check the wheel's invariants (tests); returns 0 when consistent. */
int loop__validate(const struct loop *l);

#endif

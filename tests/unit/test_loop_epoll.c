/* test_loop_epoll.c - the loop's watchers: edge-triggered delivery, and loop_io_again (a
 * delivery queued for the next iteration, which does not wait for it, cancelled by
 * loop_io_closed and by reusing the watcher). */
#include "base/clock.h"
#include "loop/loop.h"
#include "tap.h"

#include <sys/socket.h>
#include <unistd.h>

struct w {
    struct loop_io io;
    int calls;
    uint32_t last;
    int requeue; /* queue itself again from the callback this many times */
};

static void on_io(struct loop *l, struct loop_io *io, uint32_t events)
{
    struct w *w = (struct w *)io;
    w->calls++;
    w->last = events;
    if (w->requeue > 0) {
        w->requeue--;
        loop_io_again(l, io, LOOP_READ);
    }
}

static void test_again(void)
{
    struct loop *l = loop_new();
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    struct w a = {.io = {.fd = sv[0], .cb = on_io}};
    CHECK_EQ_I64(loop_io_add(l, &a.io, LOOP_READ | LOOP_WRITE), 0);
    loop_run_once(l, 0); /* the first edge: writable */
    CHECK_EQ_I64(a.calls, 1);
    CHECK(a.last & LOOP_WRITE);

    /* Nothing pending: a run waits (here up to 20 ms) and delivers nothing. */
    a.calls = 0;
    uint64_t t0 = mono_ns();
    loop_run_once(l, 20 * NS_PER_MS);
    CHECK(mono_ns() - t0 >= 15 * NS_PER_MS);
    CHECK_EQ_I64(a.calls, 0);

    /* Queued: the next run does not wait, and delivers the queued events once, merged. */
    loop_io_again(l, &a.io, LOOP_READ);
    loop_io_again(l, &a.io, LOOP_HUP);
    t0 = mono_ns();
    loop_run_once(l, 5 * NS_PER_S);
    CHECK(mono_ns() - t0 < 1 * NS_PER_S);
    CHECK_EQ_I64(a.calls, 1);
    CHECK_EQ_U64(a.last, LOOP_READ | LOOP_HUP);
    loop_run_once(l, 0);
    CHECK_EQ_I64(a.calls, 1);

    /* Queued from its own callback: once per iteration, never twice in one. */
    a.calls = 0;
    a.requeue = 3;
    loop_io_again(l, &a.io, LOOP_READ);
    for (int i = 0; i < 3; i++) {
        loop_run_once(l, 5 * NS_PER_S);
        CHECK_EQ_I64(a.calls, i + 1);
    }
    loop_run_once(l, 5 * NS_PER_S);
    CHECK_EQ_I64(a.calls, 4);
    loop_run_once(l, 0);
    CHECK_EQ_I64(a.calls, 4);

    /* Cancelled by loop_io_closed, and by loop_io_del. */
    a.calls = 0;
    loop_io_again(l, &a.io, LOOP_READ);
    loop_io_closed(l, &a.io);
    loop_run_once(l, 0);
    CHECK_EQ_I64(a.calls, 0);
    loop_io_again(l, &a.io, LOOP_READ);
    CHECK_EQ_I64(loop_io_del(l, &a.io), 0);
    loop_run_once(l, 0);
    CHECK_EQ_I64(a.calls, 0);

    /* Reused for another fd: the old queued delivery does not reach the new one. */
    int sv2[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv2) == 0);
    CHECK_EQ_I64(loop_io_add(l, &a.io, LOOP_READ), 0);
    loop_io_again(l, &a.io, LOOP_READ);
    a.io.fd = sv2[0];
    close(sv[0]);
    CHECK_EQ_I64(loop_io_add(l, &a.io, LOOP_READ), 0);
    loop_run_once(l, 0);
    CHECK_EQ_I64(a.calls, 0);

    /* Two watchers; one deleted from inside the other's queued delivery is not called. */
    struct w b = {.io = {.fd = sv2[1], .cb = on_io}};
    CHECK_EQ_I64(loop_io_add(l, &b.io, LOOP_READ), 0);
    loop_io_again(l, &a.io, LOOP_READ);
    loop_io_again(l, &b.io, LOOP_READ);
    loop_io_closed(l, &b.io);
    loop_run_once(l, 0);
    CHECK_EQ_I64(a.calls, 1);
    CHECK_EQ_I64(b.calls, 0);

    close(sv[1]);
    close(sv2[0]);
    close(sv2[1]);
    loop_free(l);
}

int main(void)
{
    test_again();
    return tap_done();
}

/* epoll.c - the loop proper: epoll_pwait2 (ns timeouts), edge-triggered watchers, an eventfd
 * for cross-thread wake-ups, the timer wheel, and an after-iteration hook for deferred work.
 *
 * Watchers are registered once with EPOLLET for everything they may ever want, so the hot path
 * never calls epoll_ctl: a connection that has nothing to write simply ignores EPOLLOUT edges. */
#include "loop/loop_internal.h"

#include "base/clock.h"
#include "base/compiler.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 512

static void wake_read(struct loop *l, struct loop_io *io, uint32_t events)
{
    (void)events;
    uint64_t v;
    while (read(io->fd, &v, sizeof v) == (ssize_t)sizeof v)
        ;
    if (l->wake_cb)
        l->wake_cb(l, l->wake_arg);
}

struct loop *loop_new(void)
{
    struct loop *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || efd < 0) {
        int e = errno;
        if (l->epfd >= 0)
            close(l->epfd);
        if (efd >= 0)
            close(efd);
        free(l);
        errno = e;
        return NULL;
    }
    l->now_ns = mono_ns();
    wheel__init(&l->wheel, l->now_ns);
    l->wake_io.fd = efd;
    l->wake_io.cb = wake_read;
    if (loop_io_add(l, &l->wake_io, LOOP_READ) != 0) {
        int e = errno;
        close(efd);
        close(l->epfd);
        free(l);
        errno = e;
        return NULL;
    }
    return l;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    free(l->again);
    free(l->run);
    close(l->wake_io.fd);
    close(l->epfd);
    free(l);
}

int loop_io_add(struct loop *l, struct loop_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = EPOLLET | EPOLLRDHUP, .data.ptr = io};
    if (events & LOOP_READ)
        ev.events |= EPOLLIN;
    if (events & LOOP_WRITE)
        ev.events |= EPOLLOUT;
    loop_io_closed(l, io); /* a struct reused for a new fd: nothing queued for the old one */
    io->_events = events;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) != 0)
        return -errno;
    return 0;
}

/* Forget io in the queued and the running again-lists (it is going away). */
static void again_forget(struct loop *l, struct loop_io *io)
{
    for (size_t i = 0; i < l->nagain; i++)
        if (l->again[i] == io)
            l->again[i] = NULL;
    for (size_t i = 0; i < l->nrun; i++)
        if (l->run[i] == io)
            l->run[i] = NULL;
    io->_events &= ~LOOP__AGAIN_MASK;
}

int loop_io_del(struct loop *l, struct loop_io *io)
{
    loop_io_closed(l, io);
    io->_events = 0;
    if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL) != 0)
        return -errno;
    return 0;
}

void loop_io_closed(struct loop *l, struct loop_io *io)
{
    if (io->_events & LOOP__AGAIN_MASK)
        again_forget(l, io);
}

void loop_io_again(struct loop *l, struct loop_io *io, uint32_t events)
{
    events &= 0xffu;
    if (!events)
        return;
    if (!(io->_events & LOOP__AGAIN_MASK)) {
        if (l->nagain == l->again_cap) {
            size_t cap = l->again_cap ? 2 * l->again_cap : 64;
            struct loop_io **a = realloc(l->again, cap * sizeof *a);
            if (!a)
                die("out of memory");
            l->again = a;
            l->again_cap = cap;
        }
        l->again[l->nagain++] = io;
    }
    io->_events |= events << LOOP__AGAIN_SHIFT;
}

/* Deliver what loop_io_again queued before this iteration. Watchers queued again meanwhile go
 * to the next one. */
static void again_run(struct loop *l)
{
    if (!l->nagain)
        return;
    /* Swap the lists: callbacks may queue (into `again`) or forget (both are scanned). */
    struct loop_io **run = l->again;
    size_t cap = l->again_cap;
    l->again = l->run;
    l->again_cap = l->run_cap;
    l->run = run;
    l->run_cap = cap;
    l->nrun = l->nagain;
    l->nagain = 0;
    for (size_t i = 0; i < l->nrun; i++) {
        struct loop_io *io = run[i];
        if (!io)
            continue;
        run[i] = NULL;
        uint32_t ev = (io->_events & LOOP__AGAIN_MASK) >> LOOP__AGAIN_SHIFT;
        io->_events &= ~LOOP__AGAIN_MASK;
        if (ev)
            io->cb(l, io, ev);
    }
    l->nrun = 0;
}

uint64_t loop_now(const struct loop *l)
{
    return l->now_ns;
}

uint64_t loop_now_update(struct loop *l)
{
    l->now_ns = mono_ns();
    return l->now_ns;
}

void loop_set_wake_cb(struct loop *l, loop_wake_cb *cb, void *arg)
{
    l->wake_cb = cb;
    l->wake_arg = arg;
}

void loop_set_after_cb(struct loop *l, loop_wake_cb *cb, void *arg)
{
    l->after_cb = cb;
    l->after_arg = arg;
}

void loop_wake(struct loop *l)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the loop will wake anyway. */
    ssize_t n = write(l->wake_io.fd, &one, sizeof one);
    (void)n;
}

int loop_run_once(struct loop *l, uint64_t max_wait_ns)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    uint64_t wait_ns = wheel__next_ns(&l->wheel, loop_now_update(l), l->nagain ? 0 : max_wait_ns);
    struct timespec ts = {.tv_sec = (time_t)(wait_ns / NS_PER_S),
                          .tv_nsec = (long)(wait_ns % NS_PER_S)};
    int n = l->no_pwait2 ? -1 : epoll_pwait2(l->epfd, evs, LOOP_MAX_EVENTS, &ts, NULL);
    if (n < 0 && (l->no_pwait2 || errno == ENOSYS)) {
        /* Without epoll_pwait2 (a kernel before 5.11, or valgrind, which does not know it), the
         * wait is in milliseconds, rounded up so that a timer never fires early. */
        l->no_pwait2 = 1;
        n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS,
                       (int)((wait_ns + NS_PER_MS - 1) / NS_PER_MS > INT32_MAX
                                 ? INT32_MAX
                                 : (wait_ns + NS_PER_MS - 1) / NS_PER_MS));
    }
    if (n < 0) {
        if (errno != EINTR)
            return -errno;
        n = 0;
    }
    loop_now_update(l);
    for (int i = 0; i < n; i++) {
        struct loop_io *io = evs[i].data.ptr;
        uint32_t e = evs[i].events, m = 0;
        if (e & EPOLLIN)
            m |= LOOP_READ;
        if (e & EPOLLOUT)
            m |= LOOP_WRITE;
        if (e & (EPOLLHUP | EPOLLRDHUP))
            m |= LOOP_HUP | LOOP_READ; /* read to find EOF or the error */
        if (e & EPOLLERR)
            m |= LOOP_ERR;
        io->cb(l, io, m);
    }
    again_run(l);
    wheel__run(l, loop_now_update(l));
    if (l->after_cb)
        l->after_cb(l, l->after_arg);
    return n;
}

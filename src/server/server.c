/* server.c - `herd serve` threads, the top of the server's layers (srv_conn.h): one loop per
 * thread, each with its own SO_REUSEPORT listener, so the kernel spreads connections and no
 * connection is ever shared. Also the connection slabs and free lists, the accept (every
 * connection starts in the HTTP session of the router), the stall window (--stall/--stall-every)
 * and --die-after. */
#include "server/srv_app.h"

#include "base/clock.h"
#include "base/compiler.h"
#include "base/err.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SRV_BACKLOG 4096
#define SRV_MAX_THREADS 1024
#define SRV_ACCEPT_RETRY_NS (100 * NS_PER_MS)
#define SRV_SLAB_CONNS 64

struct srv_slab {
    struct srv_slab *next;
    struct srv_conn conns[SRV_SLAB_CONNS];
};

/* ---- connections: per-thread slabs and free list ---- */

static struct srv_conn *srv_conn_alloc(struct srv_worker *w)
{
    if (!w->free_list) {
        /* Once per SRV_SLAB_CONNS accepts; never per message. Failing is not fatal here: the
         * caller drops the connection. */
        struct srv_slab *s = malloc(sizeof *s);
        if (!s)
            return NULL;
        s->next = w->slabs;
        w->slabs = s;
        for (int i = SRV_SLAB_CONNS - 1; i >= 0; i--) {
            s->conns[i].next = w->free_list;
            w->free_list = &s->conns[i];
        }
    }
    struct srv_conn *c = w->free_list;
    w->free_list = c->next;
    memset(c, 0, sizeof *c);
    return c;
}

static void srv_conn_new(struct srv_worker *w, int fd)
{
    struct srv_conn *c = srv_conn_alloc(w);
    if (!c) {
        net_close(fd, 1);
        return;
    }
    if (w->srv->params.sndbuf) {
        /* Else the kernel's send buffer of a subscriber that stops reading takes megabytes
         * before --queue-limit is reached (the kernel doubles the value, see socket(7)). */
        int v = (int)w->srv->params.sndbuf;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    }
    c->w = w;
    c->serial = ++w->serial;
    c->io.fd = fd;
    c->io.cb = srv_conn__io_cb;
    stream_init(&c->s, fd);
    c->timer.cb = srv_conn__timer_cb;
    c->ops = &srv_routes__http;
    if (w->srv->tls) {
        /* The handshake runs from the first event: the ClientHello is usually there already. */
        if (stream_tls_server(&c->s, w->srv->tls) != 0) {
            stream_close(&c->s, &w->pool, 1);
            c->next = w->free_list;
            w->free_list = c;
            return;
        }
        c->flags |= SRV_CF_HANDSHAKE;
    }
    /* Registered once for both directions; epoll reports data that arrived before the add. */
    if (loop_io_add(w->loop, &c->io, LOOP_READ | LOOP_WRITE) != 0) {
        stream_close(&c->s, &w->pool, 1);
        c->next = w->free_list;
        w->free_list = c;
        return;
    }
    c->next = w->live;
    if (w->live)
        w->live->prev = c;
    w->live = c;
    w->nlive++;
    c->deadline_ns = loop_now(w->loop) + SRV_HEAD_TIMEOUT_NS;
    srv_conn__timer_update(c);
}

/* After every iteration: connections closed in it can no longer be named by a pending event. */
static void worker_after(struct loop *l, void *arg)
{
    (void)l;
    struct srv_worker *w = arg;
    srv_pubsub__flush(w); /* published outside a read: nothing waits past an iteration */
    while (w->closed) {
        struct srv_conn *c = w->closed;
        w->closed = c->next;
        c->next = w->free_list;
        w->free_list = c;
    }
}

/* ---- accept ---- */

static int open_reserve(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Out of descriptors (libuv's uv__emfile_trick): give up the reserve fd, accept and close what
 * is waiting so that clients learn at once instead of hanging in the backlog, take the reserve
 * back, and retry a little later rather than spin. */
static void accept_emfile(struct srv_worker *w)
{
    if (w->reserve_fd >= 0) {
        close(w->reserve_fd);
        w->reserve_fd = -1;
        for (;;) {
            int fd = net_accept(w->listen_io.fd);
            if (fd < 0)
                break;
            SRV_COUNT(w, accepted, 1);
            SRV_COUNT(w, refused, 1);
            net_close(fd, 1);
        }
        w->reserve_fd = open_reserve();
    }
    loop_timer_arm(w->loop, &w->accept_retry, loop_now(w->loop) + SRV_ACCEPT_RETRY_NS);
}

/* Edge-triggered: accept until EAGAIN. */
static void worker_accept(struct srv_worker *w)
{
    for (;;) {
        if (w->stalled) {
            w->accept_pending = 1;
            return;
        }
        int fd = net_accept(w->listen_io.fd);
        if (fd >= 0) {
            SRV_COUNT(w, accepted, 1);
            srv_conn_new(w, fd);
            continue;
        }
        switch (fd) {
        case -EAGAIN: return;
        case -EINTR:
        case -ECONNABORTED:
        case -EPROTO:
        case -EPERM: continue;
        case -EMFILE:
        case -ENFILE:
        case -ENOBUFS:
        case -ENOMEM: accept_emfile(w); return;
        default:
            loop_timer_arm(w->loop, &w->accept_retry, loop_now(w->loop) + SRV_ACCEPT_RETRY_NS);
            return;
        }
    }
}

static void listen_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
    (void)l;
    (void)events;
    worker_accept(container_of(io, struct srv_worker, listen_io));
}

static void accept_retry_cb(struct loop *l, struct loop_timer *t)
{
    (void)l;
    worker_accept(container_of(t, struct srv_worker, accept_retry));
}

/* ---- faults ---- */

/* --stall: every stall_every, the thread stops reading, writing and accepting for `stall`.
 * Events and timers that come meanwhile only mark the connection; bytes wait in the kernel's
 * buffers and are served late, which is what a frozen server looks like to a client. */
static void worker_resume(struct srv_worker *w)
{
    w->stalled = 0;
    srv_pubsub__drain(w); /* what other threads published during the stall */
    if (w->accept_pending) {
        w->accept_pending = 0;
        worker_accept(w);
    }
    struct srv_conn *next;
    for (struct srv_conn *c = w->live; c; c = next) {
        next = c->next; /* srv_conn__resume may close (unlink) c, never another connection */
        if (c->flags & SRV_CF_PENDING) {
            c->flags &= (uint16_t)~SRV_CF_PENDING;
            srv_conn__resume(c);
        }
    }
}

static void stall_cb(struct loop *l, struct loop_timer *t)
{
    struct srv_worker *w = container_of(t, struct srv_worker, stall_timer);
    const struct server_params *p = &w->srv->params;
    uint64_t now = loop_now(l);
    if (!w->stalled) {
        w->stalled = 1;
        loop_timer_arm(l, t, w->stall_start_ns + p->stall_ns);
        return;
    }
    worker_resume(w);
    /* Stalls start every stall_every from the server's start, on every thread alike. */
    do
        w->stall_start_ns += p->stall_every_ns;
    while (w->stall_start_ns <= now);
    loop_timer_arm(l, t, w->stall_start_ns);
}

static void die_cb(struct loop *l, struct loop_timer *t)
{
    (void)l;
    struct server *s = container_of(t, struct srv_worker, die_timer)->srv;
    /* --die-after: a server dying, abruptly: no close frames, no FINs sent by us first. The
     * listeners go first, though: at exit the kernel may release them after the connections,
     * and a client reconnecting the moment its connection dropped could then complete a TCP
     * handshake with a dying listener, only to be reset when it went. A listener shut down
     * stops at once, so every attempt from the first drop on is refused. */
    for (unsigned i = 0; i < s->nworkers; i++)
        if (s->workers[i].listen_io.fd >= 0)
            shutdown(s->workers[i].listen_io.fd, SHUT_RDWR);
    _exit(0);
}

/* ---- threads ---- */

static void worker_shutdown(struct srv_worker *w)
{
    while (w->live) {
        struct srv_conn *c = w->live;
        /* Best effort: a last word (1001, the end of a chunked event stream) where nothing is
         * half written. */
        if (c->ops->bye && !(c->flags & SRV_CF_CLOSING) && !stream_tx_pending(&c->s))
            c->ops->bye(c);
        srv_conn__close(c);
    }
    worker_after(w->loop, w);
    if (w->listen_io.fd >= 0) {
        loop_io_del(w->loop, &w->listen_io);
        close(w->listen_io.fd);
        w->listen_io.fd = -1;
    }
    loop_timer_cancel(w->loop, &w->accept_retry);
    loop_timer_cancel(w->loop, &w->stall_timer);
    loop_timer_cancel(w->loop, &w->die_timer);
    srv_pubsub__worker_stop(w);
}

static void *worker_main(void *arg)
{
    struct srv_worker *w = arg;
    struct server *s = w->srv;
    char name[16];
    snprintf(name, sizeof name, "herd-serve-%u", w->idx);
    pthread_setname_np(pthread_self(), name);

    loop_now_update(w->loop);
    srv_pubsub__worker_start(w);
    if (s->params.stall_ns && s->params.stall_every_ns) {
        w->stall_start_ns = s->start_ns + s->params.stall_every_ns;
        loop_timer_arm(w->loop, &w->stall_timer, w->stall_start_ns);
    }
    if (w->idx == 0 && s->params.die_after_ns)
        loop_timer_arm(w->loop, &w->die_timer, s->start_ns + s->params.die_after_ns);

    while (!atomic_load_explicit(&s->stop, memory_order_acquire)) {
        int rc = loop_run_once(w->loop, NS_PER_S);
        if (rc < 0 && rc != -EINTR) {
            log_warn("serve: thread %u: event loop failed: %s", w->idx, strerror(-rc));
            break;
        }
    }
    worker_shutdown(w);
    return NULL;
}

/* Free what worker_init set up; the thread (if any) has been joined. */
static void worker_free(struct srv_worker *w)
{
    if (w->listen_io.fd >= 0)
        close(w->listen_io.fd);
    if (w->reserve_fd >= 0)
        close(w->reserve_fd);
    while (w->slabs) {
        struct srv_slab *s = w->slabs;
        w->slabs = s->next;
        free(s);
    }
    srv_pubsub__worker_free(w);
    srv_ws__worker_free(w);
    free(w->sse_buf);
    HERD_ASSERT(w->pool.outstanding == 0);
    pool_destroy(&w->pool);
    free(w->env.rbuf);
    loop_free(w->loop);
}

static int worker_init(struct server *s, unsigned idx, uint16_t port, char *err, size_t errlen)
{
    struct srv_worker *w = &s->workers[idx];
    w->srv = s;
    w->idx = idx;
    w->listen_io.fd = -1;
    w->reserve_fd = -1;
    w->max_frame = SRV_MAX_FRAME;
    w->accept_retry.cb = accept_retry_cb;
    w->stall_timer.cb = stall_cb;
    w->die_timer.cb = die_cb;
    srv_pubsub__worker_init(w);
    pool_init(&w->pool);
    rng_init(&w->rng);
    w->loop = loop_new();
    if (!w->loop) {
        snprintf(err, errlen, "cannot create an event loop: %s", strerror(errno));
        return -1;
    }
    w->env = (struct stream_env){&w->pool, xmalloc(SRV_RBUF_BYTES), SRV_RBUF_BYTES};
    w->after_read = srv_pubsub__flush;
    int fd = net_listen(s->bind, port, 1, SRV_BACKLOG);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s:%u: %s", s->bind, port, strerror(-fd));
        return -1;
    }
    w->listen_io.fd = fd;
    w->listen_io.cb = listen_cb;
    int rc = loop_io_add(w->loop, &w->listen_io, LOOP_READ);
    if (rc != 0) {
        snprintf(err, errlen, "cannot watch the listener: %s", strerror(-rc));
        return -1;
    }
    w->reserve_fd = open_reserve();
    loop_set_after_cb(w->loop, worker_after, w);
    return 0;
}

static void server_free(struct server *s)
{
    for (unsigned i = 0; i < s->nworkers; i++)
        worker_free(&s->workers[i]);
    srv_pubsub__server_free(s);
    free(s->workers);
    free(s->bind);
    net_tls_ctx_free(s->tls);
    free(s);
}

int server_params_check(const struct server_params *p, char *err, size_t errlen)
{
    if (!p->tls_cert && !p->tls_key)
        return 0;
    if (!p->tls_cert || !p->tls_key) {
        snprintf(err, errlen, "%s",
                 p->tls_cert ? "--tls-cert: needs --tls-key" : "--tls-key: needs --tls-cert");
        return HERD_E_INVAL;
    }
    struct net_tls_ctx *ctx = net_tls_server_ctx(p->tls_cert, p->tls_key, err, errlen);
    if (!ctx)
        return HERD_E_INVAL;
    net_tls_ctx_free(ctx);
    return 0;
}

struct server *server_start(const struct server_params *p, char *err, size_t errlen)
{
    unsigned n = p->threads;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (unsigned)cpus : 1;
    }
    if (n > SRV_MAX_THREADS)
        n = SRV_MAX_THREADS;

    struct server *s = xcalloc(1, sizeof *s);
    s->params = *p;
    s->bind = xstrdup(p->bind ? p->bind : "127.0.0.1");
    s->params.bind = s->bind;
    s->params.tls_cert = s->params.tls_key = NULL; /* loaded below; not kept by pointer */
    s->workers = xcalloc(n, sizeof *s->workers);
    atomic_init(&s->stop, 0);
    atomic_init(&s->open, 0);
    srv_pubsub__server_init(s);
    s->start_ns = mono_ns();

    if (p->tls_cert || p->tls_key) {
        if (!p->tls_cert || !p->tls_key) {
            snprintf(err, errlen, "%s",
                     p->tls_cert ? "--tls-cert: needs --tls-key" : "--tls-key: needs --tls-cert");
            server_free(s);
            return NULL;
        }
        s->tls = net_tls_server_ctx(p->tls_cert, p->tls_key, err, errlen);
        if (!s->tls) {
            server_free(s);
            return NULL;
        }
    }

    /* SO_REUSEPORT would let us join another process's listener on a fixed port and silently
     * share its traffic: probe the port without it first, so "address in use" stays an error.
     * The probe only binds: a probe that listened could take a client's connection (one that
     * retries while this server restarts) into its backlog and reset it on close. */
    uint16_t port = p->port;
    if (port != 0 && !p->_share_port) {
        int rc = net_port_free(s->bind, port);
        if (rc < 0) {
            snprintf(err, errlen, "cannot listen on %s:%u: %s", s->bind, port, strerror(-rc));
            server_free(s);
            return NULL;
        }
    }
    /* Port 0: the first listener picks a free port, the others join it. */
    for (unsigned i = 0; i < n; i++) {
        s->nworkers = i + 1;
        if (worker_init(s, i, port, err, errlen) != 0) {
            server_free(s);
            return NULL;
        }
        if (port == 0) {
            port = net_local_port(s->workers[i].listen_io.fd);
            if (port == 0) {
                snprintf(err, errlen, "cannot read the bound port: %s", strerror(errno));
                server_free(s);
                return NULL;
            }
        }
    }
    s->port = port;

    /* Workers take no signals: the command's thread waits for SIGINT/SIGTERM. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 0; i < n; i++) {
        struct srv_worker *w = &s->workers[i];
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            snprintf(err, errlen, "cannot start a thread: %s", strerror(rc));
            server_stop(s);
            return NULL;
        }
        w->thread_started = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return s;
}

uint16_t server_port(const struct server *s)
{
    return s->port;
}

void server_counts(const struct server *s, struct server_counts *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < s->nworkers; i++) {
        const struct srv_counts *k = &s->workers[i].counts;
#define SRV_SUM(f) out->f += atomic_load_explicit(&k->f, memory_order_relaxed)
        SRV_SUM(accepted);
        SRV_SUM(opened);
        SRV_SUM(refused);
        SRV_SUM(received);
        SRV_SUM(published);
        SRV_SUM(delivered);
        SRV_SUM(queued);
        SRV_SUM(dropped);
        SRV_SUM(closed);
        SRV_SUM(reset);
#undef SRV_SUM
    }
}

void server_halt(struct server *s)
{
    atomic_store_explicit(&s->stop, 1, memory_order_release);
    for (unsigned i = 0; i < s->nworkers; i++)
        if (s->workers[i].thread_started)
            loop_wake(s->workers[i].loop);
    /* Loops are freed only after every thread is joined: a wake must never reach a freed loop. */
    for (unsigned i = 0; i < s->nworkers; i++) {
        if (s->workers[i].thread_started)
            pthread_join(s->workers[i].thread, NULL);
        s->workers[i].thread_started = 0;
    }
}

void server_stop(struct server *s)
{
    if (!s)
        return;
    server_halt(s);
    server_free(s);
}

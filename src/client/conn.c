/* conn.c - the client's bottom layer: one connection's life over its buffered stream. Connect ->
 * (TLS) -> the session's request -> open -> close, with the timers of each state, failures
 * counted once by class, and reconnects with backoff. The protocol is the session's
 * (w->sess) and the traffic the role's (w->role): this file never asks which they are.
 *
 * Memory: a connection holds no buffer of its own; the stream keeps only an incomplete unit and
 * what the kernel would not take (src/stream).
 *
 * Time: one fresh CLOCK_MONOTONIC read after each read serves every frame in it and the sends it
 * triggers; open-model sends carry their intended time (roles.c).
 *
 * Bounds against a hostile peer: output queued past CONN_TX_LIMIT (a server that floods PINGs
 * and never reads our PONGs) stops reading until half of it is written, and a read stops after
 * its budget (STREAM_READ_BUDGET) and comes back in the next loop iteration, so a flood can
 * neither grow memory without end nor starve the timers, the stats swap and the stop. */
#include "client/conn.h"

#include "base/clock.h"
#include "base/compiler.h"
#include "base/err.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>

static void on_io(struct loop *l, struct loop_io *io, uint32_t events);
static void on_timer(struct loop *l, struct loop_timer *t);
static void do_read(struct conn *c, int hup);
static void arm_open_timer(struct conn *c);

/* ---- --read-rate: a slow reader ---- */

/* The allowance accrues at read_rate bytes/s from rr_at_ns, up to a burst of 100 ms worth (at
 * least one byte), so a paused reader does not catch up all at once. */
static inline double read_burst(double rate)
{
    return rate / 10 < 1 ? 1 : rate / 10;
}

/* Bytes this connection may read now; SIZE_MAX when unlimited (or not open yet: the response
 * head is always read). */
static size_t read_allowance(struct conn *c, uint64_t now)
{
    double rate = c->w->p->read_rate;
    if (rate < 0 || (c->state != CS_OPEN && c->state != CS_CLOSING))
        return SIZE_MAX;
    if (rate == 0)
        return 0;
    uint64_t burst_ns = (uint64_t)(read_burst(rate) * 1e9 / rate);
    if (c->rr_at_ns + burst_ns < now)
        c->rr_at_ns = now - burst_ns;
    return now > c->rr_at_ns ? (size_t)((double)(now - c->rr_at_ns) * rate / 1e9) : 0;
}

static void read_spent(struct conn *c, size_t n)
{
    c->rr_at_ns += (uint64_t)((double)n * 1e9 / c->w->p->read_rate);
}

/* When a paused reader may read again: once a useful amount (up to 1 KiB) has accrued. */
static uint64_t read_resume_at(const struct conn *c)
{
    double rate = c->w->p->read_rate;
    double want = read_burst(rate) < 1024 ? read_burst(rate) : 1024;
    return c->rr_at_ns + (uint64_t)(want * 1e9 / rate);
}

/* ---- failure and close ---- */

static enum err_class classify_errno(int err)
{
    switch (-err) {
    case ECONNREFUSED: return ERR_REFUSED;
    case ETIMEDOUT: return ERR_TIMEOUT;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED: return ERR_RESET;
    /* Local limits that stop a run short of -c: the report names them. */
    case EADDRNOTAVAIL:
    case EADDRINUSE: return ERR_PORTS;
    case EMFILE:
    case ENFILE: return ERR_DESCRIPTORS;
    case ENOMEM:
    case ENOBUFS: return ERR_MEMORY;
    default: return ERR_OTHER;
    }
}

/* The connection is over: count it, free what it holds, close the socket, then reconnect after
 * a backoff or finish for good. Events still queued for it in this loop iteration see CS_DONE
 * (or CS_IDLE) and are ignored; the struct itself is never freed during the run, only reused. */
static void finish_with(struct conn *c, int reset)
{
    struct worker *w = c->w;
    if (c->state == CS_DONE)
        return;
    int was_open = c->state == CS_OPEN || c->state == CS_CLOSING;
    if (was_open) {
        w->st->ctr[CTR_CONNECTIONS_CLOSED]++;
        w->open--;
    } else if (c->state != CS_IDLE) {
        /* An attempt ends here: failed (counted by conn__fail), or cut short by the end of the
         * run or a ramp-down: pending. Every attempt is exactly one of opened, failed, pending. */
        w->connecting--;
        if (c->flags & CF_STOPPING)
            w->st->ctr[CTR_CONNECTIONS_PENDING]++;
    }
    loop_timer_cancel(w->loop, &c->timer);
    if (w->sess->reset)
        w->sess->reset(c);
    loop_io_closed(w->loop, &c->io);
    stream_close(&c->s, &w->pool, reset);
    c->io.fd = -1;
    int ramp = c->flags & CF_RAMP;
    int no_retry = c->flags & CF_NO_RETRY;
    c->flags = 0;
    const struct client_params *p = w->p;
    if (ramp && !w->stopping) { /* a free slot for the next ramp-up */
        c->state = CS_IDLE;
        return;
    }
    if (p->reconnect && !w->stopping && !no_retry &&
        (p->max_retries == 0 || c->retries < p->max_retries)) {
        /* Back off, then try again from the timer: never from inside this event's dispatch,
         * where a stale event of the old socket could be taken for the new one's. */
        uint64_t now = loop_now(w->loop);
        if (was_open)
            c->t_drop_ns = now;
        uint64_t delay = backoff_delay(&w->run->backoff, c->retries, rng_unit(&w->rng));
        /* A reconnection time the server asked for (SSE `retry`) replaces --backoff for the
         * first attempt after a drop; failed attempts after it back off as usual. */
        uint64_t asked = w->sess->retry_ns ? w->sess->retry_ns(c) : 0;
        if (asked && c->retries == 0)
            delay = asked;
        c->retries++;
        c->state = CS_IDLE;
        loop_timer_arm(w->loop, &c->timer, now + delay);
        return;
    }
    c->state = CS_DONE;
    if (w->sess->release)
        w->sess->release(c);
    worker__conn_done(w, c);
}

void conn__finish(struct conn *c)
{
    finish_with(c, 0);
}

void conn__fail(struct conn *c, enum err_class cls)
{
    struct worker *w = c->w;
    if (c->state == CS_DONE || c->state == CS_IDLE)
        return;
    int opened = c->state == CS_OPEN || c->state == CS_CLOSING;
    /* While stopping, the peer closing or resetting is the expected end, not an error. */
    if (!(c->flags & CF_STOPPING)) {
        stats_error(w->st, cls);
        if (!opened)
            w->st->ctr[CTR_CONNECTIONS_FAILED]++;
    }
    finish_with(c, cls == ERR_RESET);
}

/* Keep the reason of the run's first failure of class cls. */
static void note_why(struct conn *c, enum err_class cls, const char *why)
{
    struct client_run *run = c->w->run;
    int zero = 0;
    if (c->flags & CF_STOPPING)
        return;
    if (atomic_load_explicit(&run->why_set[cls], memory_order_relaxed) == 0 &&
        atomic_compare_exchange_strong(&run->why_set[cls], &zero, 1))
        snprintf(run->why[cls], sizeof run->why[cls], "%s", why);
}

void conn__fail_why(struct conn *c, enum err_class cls, const char *why)
{
    if (c->state == CS_DONE || c->state == CS_IDLE)
        return;
    note_why(c, cls, why);
    conn__fail(c, cls);
}

void conn__fail_status(struct conn *c, int status, const char *why)
{
    struct worker *w = c->w;
    if (why && c->state != CS_DONE && c->state != CS_IDLE)
        note_why(c, ERR_HTTP_STATUS, why);
    stats_http_status(w->st, status);
    if (!(c->flags & CF_STOPPING))
        w->st->ctr[CTR_CONNECTIONS_FAILED]++;
    conn__finish(c);
}

/* A TLS failure (handshake, or an alert or bad record later): errors.tls and its kind; the
 * run keeps the first one's reason for the final message. */
static void fail_tls(struct conn *c)
{
    struct worker *w = c->w;
    if (c->state == CS_DONE || c->state == CS_IDLE)
        return;
    note_why(c, ERR_TLS, net_tls_last_error());
    if (!(c->flags & CF_STOPPING)) {
        enum net_tls_fail k = net_tls_last_fail();
        w->st->ctr[k == NET_TLS_FAIL_VERIFY  ? CTR_TLS_ERR_VERIFY
                   : k == NET_TLS_FAIL_ALERT ? CTR_TLS_ERR_ALERT
                                             : CTR_TLS_ERR_PROTOCOL]++;
    }
    conn__fail(c, ERR_TLS);
}

void conn__fail_errno(struct conn *c, int err)
{
    if (err == HERD_E_TLS) {
        fail_tls(c);
        return;
    }
    if (err == HERD_E_CLOSED) {
        conn__fail(c, ERR_EOF);
        return;
    }
    enum err_class cls = err == HERD_E_NOMEM ? ERR_OTHER : classify_errno(err);
    if (c->state != CS_DONE && c->state != CS_IDLE)
        note_why(c, cls, herd_strerror(err));
    conn__fail(c, cls);
}

/* ---- writing ---- */

int conn__write(struct conn *c, const void *p, size_t len)
{
    struct worker *w = c->w;
    ssize_t n = stream_write(&c->s, &w->pool, p, len);
    if (n < 0) {
        conn__fail_errno(c, (int)n);
        return (int)n;
    }
    w->st->ctr[CTR_BYTES_SENT] += (uint64_t)n;
    return 0;
}

/* EPOLLOUT: write queued output until the kernel pushes back; then the next steps that waited
 * for it: a close after the last bytes, reading again below the limit, the role's next sends. */
static void flush(struct conn *c, uint64_t now)
{
    struct worker *w = c->w;
    ssize_t n = stream_flush(&c->s, &w->pool, 0);
    if (n < 0) {
        conn__fail_errno(c, (int)n);
        return;
    }
    w->st->ctr[CTR_BYTES_SENT] += (uint64_t)n;
    if ((c->flags & CF_READ_BLOCKED) && c->s.tx_bytes <= CONN_TX_LIMIT / 2) {
        c->flags &= (uint16_t)~CF_READ_BLOCKED;
        do_read(c, 1); /* the input waiting since reading paused */
        if (c->state == CS_DONE || c->state == CS_IDLE)
            return;
    }
    if (stream_tx_pending(&c->s))
        return;
    if (c->flags & CF_CLOSE_AFTER) {
        conn__finish(c);
        return;
    }
    /* The queue drained: the role may send what it held back. */
    if (c->state == CS_OPEN && w->role->pump)
        w->role->pump(c, now);
}

void conn__closing(struct conn *c, int close_after_write)
{
    struct worker *w = c->w;
    if (close_after_write)
        c->flags |= CF_CLOSE_AFTER;
    c->state = CS_CLOSING;
    loop_timer_arm(w->loop, &c->timer, loop_now(w->loop) + CLOSE_GRACE_NS);
}

/* ---- timers ---- */

static void arm_open_timer(struct conn *c)
{
    struct worker *w = c->w;
    const struct client_params *p = w->p;
    uint64_t at = w->role->next_at ? w->role->next_at(c) : UINT64_MAX;
    if (p->ping_interval_ns && w->sess->ping && c->next_ping_ns < at)
        at = c->next_ping_ns;
    if ((c->flags & CF_READ_WAIT) && read_resume_at(c) < at)
        at = read_resume_at(c);
    if (p->idle_timeout_ns && c->t_rx_ns + p->idle_timeout_ns < at)
        at = c->t_rx_ns + p->idle_timeout_ns;
    if (at != UINT64_MAX)
        loop_timer_arm(w->loop, &c->timer, at);
}

void conn__rearm(struct conn *c)
{
    if (c->state == CS_OPEN)
        arm_open_timer(c);
}

static void on_timer(struct loop *l, struct loop_timer *t)
{
    struct conn *c = container_of(t, struct conn, timer);
    struct worker *w = c->w;
    const struct client_params *p = w->p;
    uint64_t now = loop_now(l);
    switch (c->state) {
    case CS_IDLE: conn__start(w, c); return; /* the backoff is over: reconnect */
    case CS_CONNECTING: conn__fail_why(c, ERR_TIMEOUT, "TCP connect timed out"); return;
    case CS_TLS: conn__fail_why(c, ERR_TIMEOUT, "TLS handshake timed out"); return;
    case CS_HANDSHAKE: conn__fail_why(c, ERR_TIMEOUT, "no response head in time"); return;
    case CS_CLOSING: conn__finish(c); return; /* the peer never answered our close */
    case CS_OPEN:
        if (p->idle_timeout_ns && now >= c->t_rx_ns + p->idle_timeout_ns) {
            if (w->sess->goodbye)
                w->sess->goodbye(c, WS_CLOSE_GOING_AWAY);
            conn__fail_why(c, ERR_IDLE_TIMEOUT, "silent for --idle-timeout");
            return;
        }
        if ((c->flags & CF_READ_WAIT) && now >= read_resume_at(c)) {
            c->flags &= (uint16_t)~CF_READ_WAIT;
            do_read(c, 1); /* an EOF may have come while paused: read until EAGAIN */
            if (c->state != CS_OPEN)
                return;
        }
        if (p->ping_interval_ns && w->sess->ping && now >= c->next_ping_ns) {
            c->next_ping_ns += p->ping_interval_ns;
            if (c->next_ping_ns < now)
                c->next_ping_ns = now + p->ping_interval_ns;
            if (w->sess->ping(c, now) != 0)
                return;
        }
        if (w->role->pump)
            w->role->pump(c, now);
        if (c->state == CS_OPEN)
            arm_open_timer(c);
        return;
    default: return;
    }
}

/* ---- opening ---- */

void conn__opened(struct conn *c, uint64_t now)
{
    struct worker *w = c->w;
    struct stats *st = w->st;
    c->state = CS_OPEN;
    c->t_open_ns = now;
    c->t_rx_ns = now;
    c->inflight = 0;
    w->connecting--;
    /* seq and rx_seq go on across reconnects: a publisher's seq counts from 1 once per run
     * (subscribers keep their windows across drops), and echoes lost with a drop are lost. */
    st->ctr[CTR_CONNECTIONS_OPENED]++;
    if (c->t_drop_ns) {
        st->ctr[CTR_CONNECTIONS_RECONNECTS]++;
        hist_record(st->hist[M_RECONNECT], (int64_t)((now - c->t_drop_ns) / NS_PER_US));
        c->t_drop_ns = 0;
    }
    c->retries = 0;
    if (++w->open > w->peak_interval)
        w->peak_interval = w->open;
    hist_record(st->hist[M_HANDSHAKE], (int64_t)((now - c->t_phase_ns) / NS_PER_US));
    hist_record(st->hist[M_READY], (int64_t)((now - c->t_start_ns) / NS_PER_US));
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&w->run->first_open_ns, &zero, now);
    loop_timer_cancel(w->loop, &c->timer);
    if (w->stopping) { /* the run ended while we were handshaking */
        w->sess->close(c);
        return;
    }
    if (w->role->open)
        w->role->open(c, now);
    if (w->p->ping_interval_ns)
        c->next_ping_ns = now + w->p->ping_interval_ns;
    c->rr_at_ns = now;
    if (w->role->pump)
        w->role->pump(c, now);
    if (c->state == CS_OPEN)
        arm_open_timer(c);
}

void conn__message_in(struct conn *c, const uint8_t *p, size_t len, int binary, uint64_t now)
{
    struct worker *w = c->w;
    w->st->ctr[CTR_MESSAGES_RECEIVED]++;
    if (!(c->flags & CF_GOT_MESSAGE)) {
        c->flags |= CF_GOT_MESSAGE;
        hist_record(w->st->hist[M_FIRST_MESSAGE], (int64_t)((now - c->t_open_ns) / NS_PER_US));
    }
    if (w->role->message)
        w->role->message(c, p, len, binary, now);
}

static void tls_step(struct conn *c)
{
    struct worker *w = c->w;
    int rc = stream_tls_handshake(&c->s);
    if (rc == -EAGAIN)
        return;
    if (rc != 0) {
        conn__fail_errno(c, rc);
        return;
    }
    uint64_t now = mono_ns();
    hist_record(w->st->hist[M_TLS], (int64_t)((now - c->t_phase_ns) / NS_PER_US));
    if (stream_tls_resumed(&c->s))
        w->st->ctr[CTR_TLS_RESUMED]++;
    w->sess->start(c, now);
}

static void on_connected(struct conn *c)
{
    struct worker *w = c->w;
    uint64_t now = mono_ns();
    hist_record(w->st->hist[M_CONNECT], (int64_t)((now - c->t_phase_ns) / NS_PER_US));
    if (!w->run->tls_ctx) {
        w->sess->start(c, now);
        return;
    }
    if (stream_tls_client(&c->s, w->run->tls_ctx, w->run->tls_name,
                          w->p->tls_resume ? &w->tls_session : NULL) != 0) {
        conn__fail_why(c, ERR_OTHER, "out of memory for a TLS session");
        return;
    }
    c->state = CS_TLS;
    c->t_phase_ns = now;
    tls_step(c);
}

/* ---- reading ---- */

/* The stream's consumer: the session's, then back-pressure: a connection whose output is
 * queued past the limit reads no more until half of it is written. A slow reader whose head
 * just opened the connection pauses too, so that its reading goes on at its rate. */
static long consume(void *ctx, uint8_t *buf, size_t len, size_t *need)
{
    struct conn *c = ctx;
    struct worker *w = c->w;
    uint64_t now = mono_ns();
    c->t_rx_ns = now;
    int handshaking = c->state == CS_HANDSHAKE;
    long used = w->sess->consume(c, buf, len, now, need);
    if (used < 0)
        return used;
    if (c->s.tx_bytes > CONN_TX_LIMIT) {
        c->flags |= CF_READ_BLOCKED;
        stream_pause(&c->s);
    } else if (UNLIKELY(handshaking && c->state == CS_OPEN && w->p->read_rate >= 0)) {
        stream_pause(&c->s);
    }
    return used;
}

static void do_read(struct conn *c, int hup)
{
    struct worker *w = c->w;
again:
    if (c->flags & CF_READ_BLOCKED)
        return;
    struct stream_rd rd = {.limit = SIZE_MAX, .hup = hup};
    if (UNLIKELY(w->p->read_rate >= 0)) {
        /* (no clock read on this path unless --read-rate is given) */
        rd.limit = read_allowance(c, loop_now_update(w->loop));
        if (rd.limit == 0) { /* --read-rate: wait until the allowance grows (never, at 0) */
            c->flags |= CF_READ_WAIT;
            arm_open_timer(c);
            return;
        }
        /* A slow reader reads its response head in small pieces, so the stream that may
         * follow it in the same buffers is not taken past the rate on the way. */
        if (rd.limit == SIZE_MAX)
            rd.piece = 512;
    }
    size_t n = 0;
    int rc = stream_read(&c->s, &w->env, &rd, consume, c, &n);
    w->st->ctr[CTR_BYTES_RECEIVED] += n;
    if (rd.limit != SIZE_MAX && rc != STREAM_STOPPED)
        read_spent(c, n);
    switch (rc) {
    case STREAM_DRAINED:
    case STREAM_STOPPED: return;
    case STREAM_PAUSED: /* reading blocked (it resumes from flush), or a slow reader's head */
        if (c->flags & CF_READ_BLOCKED)
            return;
        goto again;
    case STREAM_BUDGET: /* input may remain: come back after the others had their turn */
        loop_io_again(w->loop, &c->io, LOOP_READ | (hup ? LOOP_HUP : 0));
        return;
    case STREAM_LIMIT: /* --read-rate: the allowance is spent */
        c->flags |= CF_READ_WAIT;
        arm_open_timer(c);
        return;
    case STREAM_EOF: conn__fail_errno(c, HERD_E_CLOSED); return;
    default: conn__fail_errno(c, rc); return;
    }
}

static void on_io(struct loop *l, struct loop_io *io, uint32_t events)
{
    struct conn *c = container_of(io, struct conn, io);
    (void)l;
    switch (c->state) {
    case CS_CONNECTING: {
        if (!(events & (LOOP_WRITE | LOOP_ERR | LOOP_HUP)))
            return;
        int rc = net_connect_result(io->fd);
        if (rc != 0) {
            conn__fail_errno(c, rc);
            return;
        }
        on_connected(c);
        return;
    }
    case CS_TLS: tls_step(c); return;
    case CS_HANDSHAKE:
    case CS_OPEN:
    case CS_CLOSING:
        if ((events & LOOP_WRITE) && stream_tx_pending(&c->s)) {
            flush(c, mono_ns());
            if (c->state == CS_DONE || c->state == CS_IDLE)
                return;
        }
        if ((events & LOOP_ERR) && (c->flags & (CF_READ_WAIT | CF_READ_BLOCKED))) {
            /* A paused reader learns of a reset at once (the kernel dropped the unread bytes
             * anyway). A FIN is no error: the bytes before it, a close frame among them, are
             * still read at the reader's pace, and the end is seen after them. */
            int e = net_connect_result(io->fd);
            if (e) {
                conn__fail_errno(c, e);
                return;
            }
        }
        if (events & (LOOP_READ | LOOP_ERR))
            do_read(c, (events & LOOP_HUP) != 0);
        return;
    default: return; /* a stale event for a finished connection */
    }
}

/* ---- start and stop ---- */

void conn__start(struct worker *w, struct conn *c)
{
    const struct client_run *run = w->run;
    uint64_t now = loop_now_update(w->loop);
    c->w = w;
    c->state = CS_CONNECTING;
    c->flags = 0;
    c->t_start_ns = now;
    c->t_phase_ns = now;
    c->t_open_ns = 0;
    c->io.cb = on_io;
    c->timer.cb = on_timer;
    w->st->ctr[CTR_CONNECTIONS_ATTEMPTED]++;
    w->connecting++;
    int fd;
    if (UNLIKELY(run->connect_fn)) {
        fd = run->connect_fn(c, run->connect_arg);
    } else {
        const struct net_addr *dst = &run->addrs[c->index % run->naddrs];
        const struct net_addr *src = run->nsrc ? &run->src[c->index % run->nsrc] : NULL;
        /* --read-rate: a slow reader's receive window stays small (about a second of its rate,
         * 4 KiB to 256 KiB), as a slow client's would, so the server feels it within seconds
         * and not after megabytes of kernel buffering. */
        int rcvbuf = 0;
        if (w->p->read_rate >= 0) {
            double b = w->p->read_rate < 4096 ? 4096 : w->p->read_rate;
            rcvbuf = b > 256 * 1024 ? 256 * 1024 : (int)b;
        }
        fd = net_connect_start(dst, src, rcvbuf);
    }
    stream_init(&c->s, fd < 0 ? -1 : fd);
    c->io.fd = fd < 0 ? -1 : fd;
    if (fd < 0) {
        conn__fail_errno(c, fd);
        return;
    }
    if (loop_io_add(w->loop, &c->io, LOOP_READ | LOOP_WRITE) != 0) {
        conn__fail_why(c, ERR_OTHER, "epoll refused the socket");
        return;
    }
    loop_timer_arm(w->loop, &c->timer, now + w->p->timeout_ns);
}

void conn__stop(struct conn *c)
{
    switch (c->state) {
    case CS_OPEN: c->w->sess->close(c); return;
    case CS_CONNECTING:
    case CS_TLS:
    case CS_HANDSHAKE:
        /* Cut short by the end of the run: neither a failure nor an open connection. */
        c->flags |= CF_STOPPING;
        conn__finish(c);
        return;
    default: return;
    }
}

void conn__ramp_down(struct conn *c)
{
    c->flags |= CF_RAMP; /* when it is finished, its slot is free again (finish_with) */
    conn__stop(c);
}

void conn__abort(struct conn *c)
{
    if (c->state != CS_DONE) {
        c->flags |= CF_STOPPING;
        conn__finish(c);
    }
}

/* conn.c - one client connection: connect -> (TLS) -> upgrade or SSE request -> open -> close,
 * and the roles' traffic on it. WebSocket (ws://, wss://) and Server-Sent Events (http://,
 * https://) share everything up to the response head; then frames or an event stream.
 *
 * Memory: a connection holds no buffer of its own. Reads land in the worker's read buffer and
 * are decoded in place; only an incomplete head or frame is copied to a pool chunk, and only
 * bytes the kernel would not take are queued in pool chunks. Frames are built in the worker's
 * write scratch and written at once.
 *
 * Time: one fresh CLOCK_MONOTONIC read after each read() serves every frame in that buffer and
 * the sends it triggers; open-model sends carry their intended time, so a stalled server shows
 * up in the percentiles instead of being hidden (coordinated omission). */
#include "client/client_internal.h"

#include "base/clock.h"
#include "base/compiler.h"
#include "base/err.h"
#include "base/log.h"
#include "proto/http1.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_BURST 64 /* open model: most overdue messages sent at once */
#define HANDSHAKE_HEADERS 32

static void on_io(struct loop *l, struct loop_io *io, uint32_t events);
static void on_timer(struct loop *l, struct loop_timer *t);
static void finish(struct conn *c);
static void send_next(struct conn *c, uint64_t now);
static void do_read(struct conn *c, int hup);
static int sse_head(struct conn *c, const struct http1_response *r, uint64_t now);
static void on_stamp(struct conn *c, const struct stamp *s, uint64_t now);
static void protocol_error(struct conn *c, int err);
static void send_sse_request(struct conn *c, uint64_t now);

static inline struct worker *W(const struct conn *c)
{
    return c->w;
}

static inline struct net_stream stream(const struct conn *c)
{
    return (struct net_stream){.fd = c->io.fd, .tls = c->tls};
}

static inline uint64_t rate_interval_ns(const struct worker *w)
{
    return (uint64_t)(1e9 / w->p->rate);
}

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
    double rate = W(c)->p->read_rate;
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
    c->rr_at_ns += (uint64_t)((double)n * 1e9 / W(c)->p->read_rate);
}

/* When a paused reader may read again: once a useful amount (up to 1 KiB) has accrued. */
static uint64_t read_resume_at(const struct conn *c)
{
    double rate = W(c)->p->read_rate;
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

static void release_buffers(struct conn *c)
{
    struct pool *pool = &W(c)->pool;
    pool_put(pool, c->rx);
    c->rx = NULL;
    if (c->sse) {
        pool_put(pool, c->sse->line);
        c->sse->line = NULL;
    }
    while (c->tx_head) {
        struct chunk *next = c->tx_head->next;
        pool_put(pool, c->tx_head);
        c->tx_head = next;
    }
    c->tx_tail = NULL;
}

/* The connection is over: count it, free what it holds, close the socket. Events still queued
 * for it in this loop iteration see CS_DONE and are ignored; the struct itself is never freed
 * during the run, only reused. */
static void finish_with(struct conn *c, int reset)
{
    struct worker *w = W(c);
    if (c->state == CS_DONE)
        return;
    int was_open = c->state == CS_OPEN || c->state == CS_CLOSING;
    if (was_open) {
        w->st->ctr[CTR_CONNECTIONS_CLOSED]++;
        w->open--;
    }
    loop_timer_cancel(w->loop, &c->timer);
    release_buffers(c);
    if (c->tls) {
        struct net_stream s = stream(c);
        net_tls_free(&s);
        c->tls = NULL;
    }
    net_close(c->io.fd, reset);
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
        /* SSE: the server's `retry` is the reconnection time (WHATWG), in place of --backoff
         * for the first attempt after a drop; failed attempts after it back off as usual. */
        if (c->sse && c->sse->retry_ms && c->retries == 0)
            delay = c->sse->retry_ms * NS_PER_MS;
        c->retries++;
        c->state = CS_IDLE;
        loop_timer_arm(w->loop, &c->timer, now + delay);
        return;
    }
    c->state = CS_DONE;
    if (c->sse) {
        free(c->sse);
        c->sse = NULL;
    }
    worker_conn_done(w, c);
}

static void finish(struct conn *c)
{
    finish_with(c, 0);
}

/* A failure: count its class once, where it is detected. */
static void fail(struct conn *c, enum err_class cls)
{
    struct worker *w = W(c);
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

/* A TLS failure (handshake, or an alert or bad record later): errors.tls and its kind; the
 * run keeps the first one's reason for the final message. */
static void fail_tls(struct conn *c)
{
    struct worker *w = W(c);
    struct client_run *run = w->run;
    if (c->state == CS_DONE || c->state == CS_IDLE)
        return;
    int zero = 0;
    if (atomic_compare_exchange_strong(&run->tls_error_set, &zero, 1))
        snprintf(run->tls_error, sizeof run->tls_error, "%s", net_tls_last_error());
    if (!(c->flags & CF_STOPPING)) {
        enum net_tls_fail k = net_tls_last_fail();
        w->st->ctr[k == NET_TLS_FAIL_VERIFY  ? CTR_TLS_ERR_VERIFY
                   : k == NET_TLS_FAIL_ALERT ? CTR_TLS_ERR_ALERT
                                             : CTR_TLS_ERR_PROTOCOL]++;
    }
    fail(c, ERR_TLS);
}

static void fail_errno(struct conn *c, int err)
{
    if (err == HERD_E_TLS) {
        fail_tls(c);
        return;
    }
    if (err == HERD_E_CLOSED) {
        fail(c, ERR_EOF);
        return;
    }
    fail(c, classify_errno(err));
}

/* ---- writing ---- */

static int queue_bytes(struct conn *c, const uint8_t *p, size_t len)
{
    struct worker *w = W(c);
    while (len > 0) {
        struct chunk *t = c->tx_tail;
        if (!t || t->len == t->cap) {
            t = pool_get(&w->pool, len < 2000 ? 2000 : len);
            if (!t)
                return HERD_E_NOMEM;
            if (c->tx_tail)
                c->tx_tail->next = t;
            else
                c->tx_head = t;
            c->tx_tail = t;
        }
        size_t n = t->cap - t->len < len ? t->cap - t->len : len;
        memcpy(t->data + t->len, p, n);
        t->len += (uint32_t)n;
        p += n;
        len -= n;
    }
    c->flags |= CF_WANT_WRITE;
    return 0;
}

/* Write now if nothing is queued; queue what the kernel does not take. Returns 0, or a negative
 * error after which the connection has been failed. */
static int conn_write(struct conn *c, const uint8_t *p, size_t len)
{
    struct worker *w = W(c);
    if (!(c->flags & CF_WANT_WRITE)) {
        struct net_stream s = stream(c);
        /* Plain: one write takes everything unless the socket buffer is full. TLS: a write
         * takes at most one record (16 KiB), so write on until done or pushed back. */
        while (len > 0) {
            ssize_t n = net_stream_write(&s, p, len);
            if (n == -EAGAIN)
                break;
            if (n < 0) {
                fail_errno(c, (int)n);
                return (int)n;
            }
            w->st->ctr[CTR_BYTES_SENT] += (uint64_t)n;
            p += n;
            len -= (size_t)n;
            if (!c->tls)
                break; /* a short plain write means the buffer is full: queue the rest */
        }
        if (len == 0)
            return 0;
    }
    int rc = queue_bytes(c, p, len);
    if (rc != 0)
        fail(c, ERR_OTHER);
    return rc;
}

/* EPOLLOUT: write queued chunks until the kernel pushes back. */
static void flush(struct conn *c, uint64_t now)
{
    struct worker *w = W(c);
    while (c->tx_head) {
        struct iovec iov[8];
        int n = 0;
        for (struct chunk *k = c->tx_head; k && n < 8; k = k->next, n++) {
            iov[n].iov_base = k->data + k->off;
            iov[n].iov_len = k->len - k->off;
        }
        struct net_stream s = stream(c);
        ssize_t wr = net_stream_writev(&s, iov, n);
        if (wr == -EAGAIN)
            return;
        if (wr < 0) {
            fail_errno(c, (int)wr);
            return;
        }
        w->st->ctr[CTR_BYTES_SENT] += (uint64_t)wr;
        size_t left = (size_t)wr;
        while (left > 0 && c->tx_head) {
            struct chunk *k = c->tx_head;
            size_t avail = k->len - k->off;
            if (left < avail) {
                k->off += (uint32_t)left;
                break;
            }
            left -= avail;
            c->tx_head = k->next;
            pool_put(&w->pool, k);
        }
    }
    c->tx_tail = NULL;
    c->flags &= (uint8_t)~CF_WANT_WRITE;
    if (c->flags & CF_CLOSE_AFTER) {
        finish(c);
        return;
    }
    /* The request went out in pieces: nothing more to do until the response. */
    if (c->state == CS_OPEN)
        send_next(c, now);
}

/* ---- frames out ---- */

static int send_frame(struct conn *c, unsigned opcode, const uint8_t *payload, size_t len)
{
    struct worker *w = W(c);
    uint8_t *out = w->wbuf;
    uint8_t key[4];
    rng_bytes(&w->rng, key, 4);
    size_t h = ws_frame_head_encode(out, 1, 0, opcode, len, key);
    if (h + len > WORKER_WBUF) {
        /* Rare (messages above the scratch size): frame in a queued chunk. */
        if (conn_write(c, out, h) != 0)
            return -1;
        struct chunk *k = pool_get(&w->pool, len);
        if (!k) {
            fail(c, ERR_OTHER);
            return -1;
        }
        ws_mask(k->data, payload, len, key, 0);
        int rc = conn_write(c, k->data, len);
        pool_put(&w->pool, k);
        return rc;
    }
    ws_mask(out + h, payload, len, key, 0);
    return conn_write(c, out, h + len);
}

static void send_close(struct conn *c, unsigned code)
{
    uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    send_frame(c, WS_OP_CLOSE, p, code == WS_CLOSE_NO_STATUS ? 0 : 2);
}

/* Start the close handshake with 1000 (end of run, ramp-down): the peer's answering close is no
 * error, and the grace timer drops the connection if that answer never comes. */
static void close_gracefully(struct conn *c)
{
    struct worker *w = W(c);
    c->flags |= CF_STOPPING;
    if (c->sse) { /* an event stream has no close handshake: closing the socket is the end */
        finish(c);
        return;
    }
    send_close(c, WS_CLOSE_NORMAL);
    if (c->state != CS_OPEN) /* the write failed: the connection is already finished */
        return;
    c->state = CS_CLOSING;
    loop_timer_arm(w->loop, &c->timer, loop_now(w->loop) + CLOSE_GRACE_NS);
}

/* A PING whose payload is its intended send time (mono ns), so the PONG times itself and the
 * connection keeps no table of outstanding PINGs. */
static int send_ping(struct conn *c, uint64_t intended_ns)
{
    uint8_t p[8];
    memcpy(p, &intended_ns, 8);
    W(c)->st->ctr[CTR_PINGS_SENT]++;
    return send_frame(c, WS_OP_PING, p, 8);
}

/* A stamped data message; the stamp's time is the intended send time on CLOCK_REALTIME, derived
 * from mono through the run's fixed offset, so our own echoes are timed on mono. */
static int send_data(struct conn *c, uint64_t intended_ns)
{
    struct worker *w = W(c);
    struct stamp s = {
        .publisher = (uint64_t)c->index + 1,
        .seq = ++c->seq,
        .real_ns = (uint64_t)((int64_t)intended_ns + w->real_minus_mono_ns),
    };
    size_t n = template_render(&w->run->tmpl, w->mbuf, w->mbuf_cap, &s, c->index);
    w->st->ctr[CTR_MESSAGES_SENT]++;
    return send_frame(c, w->p->binary ? WS_OP_BINARY : WS_OP_TEXT, w->mbuf, n);
}

static int send_one(struct conn *c, uint64_t intended_ns)
{
    int rc;
    switch (W(c)->p->role) {
    case ROLE_PING: rc = send_ping(c, intended_ns); break;
    case ROLE_ECHO:
    case ROLE_PUBLISH: rc = send_data(c, intended_ns); break;
    default: return 0;
    }
    if (rc == 0)
        c->inflight++;
    return rc;
}

/* Send what the load model asks for now. Closed model: keep `pipeline` in flight. Open model:
 * every message whose intended time has come, at most MAX_BURST at once (the timer brings the
 * rest), and never past a full write queue: those wait, still carrying their intended time. */
static void send_next(struct conn *c, uint64_t now)
{
    struct worker *w = W(c);
    const struct client_params *p = w->p;
    if (c->state != CS_OPEN || p->role == ROLE_IDLE || p->role == ROLE_SUBSCRIBE)
        return;
    if (p->rate > 0) {
        for (int burst = 0; burst < MAX_BURST && c->next_send_ns <= now; burst++) {
            if (c->flags & CF_WANT_WRITE)
                return;
            if (send_one(c, c->next_send_ns) != 0)
                return;
            c->next_send_ns += rate_interval_ns(w);
        }
        return;
    }
    while (c->inflight < p->pipeline && !(c->flags & CF_WANT_WRITE))
        if (send_one(c, now) != 0)
            return;
}

/* ---- timers ---- */

static void arm_open_timer(struct conn *c)
{
    struct worker *w = W(c);
    const struct client_params *p = w->p;
    uint64_t at = UINT64_MAX;
    if (p->rate > 0 && (p->role == ROLE_PING || p->role == ROLE_ECHO || p->role == ROLE_PUBLISH))
        at = c->next_send_ns;
    if (p->ping_interval_ns && !c->sse && c->next_ping_ns < at)
        at = c->next_ping_ns;
    if ((c->flags & CF_READ_WAIT) && read_resume_at(c) < at)
        at = read_resume_at(c);
    if (p->idle_timeout_ns && c->t_rx_ns + p->idle_timeout_ns < at)
        at = c->t_rx_ns + p->idle_timeout_ns;
    if (at != UINT64_MAX)
        loop_timer_arm(w->loop, &c->timer, at);
}

static void on_timer(struct loop *l, struct loop_timer *t)
{
    struct conn *c = container_of(t, struct conn, timer);
    struct worker *w = W(c);
    const struct client_params *p = w->p;
    uint64_t now = loop_now(l);
    switch (c->state) {
    case CS_IDLE: conn_start(w, c); return; /* the backoff is over: reconnect */
    case CS_CONNECTING:
    case CS_TLS:
    case CS_HANDSHAKE: fail(c, ERR_TIMEOUT); return;
    case CS_CLOSING: finish(c); return; /* the peer never answered our close */
    case CS_OPEN:
        if (p->idle_timeout_ns && now >= c->t_rx_ns + p->idle_timeout_ns) {
            if (!c->sse)
                send_close(c, WS_CLOSE_GOING_AWAY);
            fail(c, ERR_IDLE_TIMEOUT);
            return;
        }
        if ((c->flags & CF_READ_WAIT) && now >= read_resume_at(c)) {
            c->flags &= (uint8_t)~CF_READ_WAIT;
            do_read(c, 1); /* an EOF may have come while paused: read until EAGAIN */
            if (c->state != CS_OPEN)
                return;
        }
        if (p->ping_interval_ns && !c->sse && now >= c->next_ping_ns) {
            c->next_ping_ns += p->ping_interval_ns;
            if (c->next_ping_ns < now)
                c->next_ping_ns = now + p->ping_interval_ns;
            if (send_ping(c, now) != 0)
                return;
        }
        send_next(c, now);
        if (c->state == CS_OPEN)
            arm_open_timer(c);
        return;
    default: return;
    }
}

/* ---- opening ---- */

static void on_open(struct conn *c, uint64_t now)
{
    struct worker *w = W(c);
    struct stats *st = w->st;
    c->state = CS_OPEN;
    c->t_open_ns = now;
    c->t_rx_ns = now;
    c->inflight = 0;
    /* seq and rx_seq go on across reconnects: a publisher's seq counts from 1 once per run
     * (subscribers keep their windows across drops), and echoes lost with a drop are lost. */
    c->msg = (struct ws_msg){0};
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
        close_gracefully(c);
        return;
    }
    /* Spread open-model sends over one interval so connections do not fire in lockstep. */
    if (w->p->rate > 0)
        c->next_send_ns = now + rng_below(&w->rng, rate_interval_ns(w));
    if (w->p->ping_interval_ns)
        c->next_ping_ns = now + w->p->ping_interval_ns;
    c->rr_at_ns = now;
    send_next(c, now);
    if (c->state == CS_OPEN)
        arm_open_timer(c);
}

/* Send the upgrade request. It was built once for the run; only the key differs per
 * connection. */
static void send_upgrade(struct conn *c, uint64_t now)
{
    struct worker *w = W(c);
    if (w->p->url.sse) {
        send_sse_request(c, now);
        return;
    }
    char key[WS_KEY_LEN + 1];
    rng_bytes(&w->rng, c->key, sizeof c->key);
    ws_key_make(key, c->key);
    memcpy(w->wbuf, w->req, w->req_len);
    memcpy(w->wbuf + w->req_key_off, key, WS_KEY_LEN);
    c->state = CS_HANDSHAKE;
    c->t_phase_ns = now;
    conn_write(c, w->wbuf, w->req_len);
}

static void tls_step(struct conn *c)
{
    struct worker *w = W(c);
    struct net_stream s = stream(c);
    int rc = net_tls_handshake(&s);
    if (rc == -EAGAIN)
        return;
    if (rc != 0) {
        fail_errno(c, rc);
        return;
    }
    uint64_t now = mono_ns();
    hist_record(w->st->hist[M_TLS], (int64_t)((now - c->t_phase_ns) / NS_PER_US));
    if (net_tls_resumed(&s))
        w->st->ctr[CTR_TLS_RESUMED]++;
    send_upgrade(c, now);
}

static void on_connected(struct conn *c)
{
    struct worker *w = W(c);
    uint64_t now = mono_ns();
    hist_record(w->st->hist[M_CONNECT], (int64_t)((now - c->t_phase_ns) / NS_PER_US));
    if (!w->run->tls_ctx) {
        send_upgrade(c, now);
        return;
    }
    struct net_stream s = stream(c);
    if (net_tls_start(&s, w->run->tls_ctx, w->run->tls_name,
                      w->p->tls_resume ? &w->tls_session : NULL) != 0) {
        fail(c, ERR_OTHER);
        return;
    }
    c->tls = s.tls;
    c->state = CS_TLS;
    c->t_phase_ns = now;
    tls_step(c);
}

/* Check the response head; on success the connection is open. Returns bytes consumed, 0 when
 * the head is incomplete, -1 when the connection failed. */
static long handle_head(struct conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
    struct worker *w = W(c);
    struct http1_header hdrs[HANDSHAKE_HEADERS];
    struct http1_response r = {.headers = hdrs, .num_headers = HANDSHAKE_HEADERS};
    int n = http1_response_parse((const char *)buf, len, &r);
    if (n == HERD_E_AGAIN)
        return 0;
    if (n < 0) {
        fail(c, ERR_HANDSHAKE);
        return -1;
    }
    if (c->sse)
        return sse_head(c, &r, now) == 0 ? n : -1;
    char key[WS_KEY_LEN + 1];
    ws_key_make(key, c->key);
    struct ws_handshake_expect e = {.key = key, .subprotocol = w->p->subprotocol};
    const char *why = NULL;
    int rc = ws_handshake_check(&r, &e, NULL, &why);
    if (rc == HERD_E_STATUS) {
        stats_http_status(w->st, r.status);
        if (!(c->flags & CF_STOPPING))
            w->st->ctr[CTR_CONNECTIONS_FAILED]++;
        finish(c);
        return -1;
    }
    if (rc != 0) {
        fail(c, ERR_HANDSHAKE);
        return -1;
    }
    on_open(c, now);
    return n;
}

/* ---- Server-Sent Events ---- */

/* The request of one attempt: the run's, plus Last-Event-ID when an id was seen before. */
static void send_sse_request(struct conn *c, uint64_t now)
{
    struct worker *w = W(c);
    if (!c->sse)
        c->sse = xcalloc(1, sizeof *c->sse);
    struct sse_state *s = c->sse;
    sse_init(&s->p);
    s->ch = (struct http1_chunked){0};
    s->chunked = 0;
    s->body_left = UINT64_MAX;
    s->has_stamp = 0;
    s->id_bad = 0;
    s->id_len = s->buf_len = 0; /* a new stream starts with an empty last event ID buffer */
    size_t n = w->req_key_off;
    memcpy(w->wbuf, w->req, n);
    if (s->last_len) {
        memcpy(w->wbuf + n, "Last-Event-ID: ", 15);
        n += 15;
        memcpy(w->wbuf + n, s->last, s->last_len);
        n += s->last_len;
        memcpy(w->wbuf + n, "\r\n", 2);
        n += 2;
    }
    memcpy(w->wbuf + n, "\r\n", 2);
    n += 2;
    c->state = CS_HANDSHAKE;
    c->t_phase_ns = now;
    conn_write(c, w->wbuf, n);
}

/* Whether a header value is the media type `type` (case-insensitive), parameters allowed. */
static int media_type_is(const struct http1_header *h, const char *type)
{
    size_t n = strlen(type);
    if (!h || h->value_len < n || strncasecmp(h->value, type, n) != 0)
        return 0;
    return h->value_len == n || h->value[n] == ';' || h->value[n] == ' ' || h->value[n] == '\t';
}

/* The response head of an SSE request: 200 with text/event-stream opens the stream; 204 means
 * "do not reconnect" (WHATWG); any other status is counted by code. Returns 0 when open, -1
 * when the connection ended. */
static int sse_head(struct conn *c, const struct http1_response *r, uint64_t now)
{
    struct worker *w = W(c);
    struct sse_state *s = c->sse;
    if (r->status != 200) {
        if (r->status == 204)
            c->flags |= CF_NO_RETRY;
        stats_http_status(w->st, r->status);
        if (!(c->flags & CF_STOPPING))
            w->st->ctr[CTR_CONNECTIONS_FAILED]++;
        finish(c);
        return -1;
    }
    if (!media_type_is(http1_header_find(r->headers, r->num_headers, "content-type"),
                       "text/event-stream")) {
        fail(c, ERR_HANDSHAKE);
        return -1;
    }
    uint64_t length = 0;
    int framing = http1_body_framing(r->headers, r->num_headers, 0, r->minor_version, &length);
    if (framing < 0) {
        fail(c, ERR_HANDSHAKE);
        return -1;
    }
    s->chunked = framing == HTTP1_BODY_CHUNKED;
    if (framing == HTTP1_BODY_LENGTH)
        s->body_left = length;
    on_open(c, now);
    return c->state == CS_OPEN ? 0 : -1;
}

/* Look for the event's stamp in a piece of a data line. A line split over reads is joined in a
 * pool chunk first, so that a stamp cut in two is neither missed nor misread; a line that fits
 * in one read is searched where it lies. Returns 0, or -1 when the connection failed. */
static int sse_data(struct conn *c, const struct sse_item *it)
{
    struct worker *w = W(c);
    struct sse_state *s = c->sse;
    if (s->has_stamp)
        return 0; /* an event's first stamp is its stamp */
    const uint8_t *p = it->p;
    size_t len = it->len;
    if (s->line || !(it->flags & SSE_F_END)) {
        struct chunk *k = s->line;
        size_t have = k ? k->len : 0;
        if (have + len > w->p->max_message) { /* a line this long holds no stamp we time */
            pool_put(&w->pool, k);
            s->line = NULL;
            return 0;
        }
        if (!k || k->cap < have + len) {
            struct chunk *g = pool_get(&w->pool, (have + len) * 2 < 256 ? 256 : (have + len) * 2);
            if (!g) {
                fail(c, ERR_OTHER);
                return -1;
            }
            if (k)
                memcpy(g->data, k->data, have);
            g->len = (uint32_t)have;
            pool_put(&w->pool, k);
            s->line = k = g;
        }
        if (len)
            memcpy(k->data + k->len, p, len);
        k->len += (uint32_t)len;
        if (!(it->flags & SSE_F_END))
            return 0;
        p = k->data;
        len = k->len;
    }
    if (stamp_find(p, len, &s->stamp) >= 0)
        s->has_stamp = 1;
    if (s->line) {
        pool_put(&w->pool, s->line);
        s->line = NULL;
    }
    return 0;
}

static void sse_id(struct sse_state *s, const struct sse_item *it)
{
    if (it->flags & SSE_F_START) {
        s->id_len = 0;
        s->id_bad = 0;
    }
    if (it->len > (size_t)(SSE_ID_MAX - 1 - s->id_len))
        s->id_bad = 1;
    else if (it->len) {
        memcpy(s->id + s->id_len, it->p, it->len);
        s->id_len = (uint8_t)(s->id_len + it->len);
    }
    if ((it->flags & SSE_F_END) && !(it->flags & SSE_F_NUL) && !s->id_bad) {
        memcpy(s->buf, s->id, s->id_len);
        s->buf_len = s->id_len;
    }
}

/* A dispatched event: a message received, timed by its stamp. */
static void sse_event(struct conn *c, uint64_t now)
{
    struct worker *w = W(c);
    struct sse_state *s = c->sse;
    w->st->ctr[CTR_MESSAGES_RECEIVED]++;
    if (!(c->flags & CF_GOT_MESSAGE)) {
        c->flags |= CF_GOT_MESSAGE;
        hist_record(w->st->hist[M_FIRST_MESSAGE], (int64_t)((now - c->t_open_ns) / NS_PER_US));
    }
    if (s->has_stamp) {
        s->has_stamp = 0;
        on_stamp(c, &s->stamp, now);
    }
}

/* Events in de-framed body bytes. Returns 0, or -1 when the connection ended. */
static int sse_events(struct conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
    struct sse_state *s = c->sse;
    size_t off = 0;
    while (off < len) {
        struct sse_item it;
        size_t used = 0;
        int kind = sse_next(&s->p, buf + off, len - off, &used, &it);
        off += used;
        switch (kind) {
        case SSE_DATA:
            if (sse_data(c, &it) != 0)
                return -1;
            break;
        case SSE_ID: sse_id(s, &it); break;
        case SSE_RETRY: s->retry_ms = it.retry; break;
        case SSE_DISPATCH:
        case SSE_DISCARD:
            /* Either way the last event ID string takes the buffer's value (WHATWG). */
            memcpy(s->last, s->buf, s->buf_len);
            s->last_len = s->buf_len;
            if (kind == SSE_DISPATCH)
                sse_event(c, now);
            s->has_stamp = 0;
            break;
        default: break;
        }
        if (c->state == CS_DONE)
            return -1;
    }
    return 0;
}

/* Body bytes of an open event stream: undo the transfer framing, then parse. The end of the
 * body is the server ending the stream. Returns 0, or -1 when the connection ended. */
static int sse_body(struct conn *c, uint8_t *buf, size_t len, uint64_t now)
{
    struct sse_state *s = c->sse;
    int ended = 0;
    if (s->chunked) {
        size_t used = 0;
        int rc = http1_chunked_decode(&s->ch, buf, &len, &used);
        if (rc < 0) {
            protocol_error(c, rc);
            return -1;
        }
        ended = rc == 1;
    } else if (s->body_left != UINT64_MAX) {
        if (len >= s->body_left) {
            len = (size_t)s->body_left;
            ended = 1;
        }
        s->body_left -= len;
    }
    if (sse_events(c, buf, len, now) != 0)
        return -1;
    if (ended) {
        fail(c, ERR_EOF);
        return -1;
    }
    return 0;
}

/* ---- frames in ---- */

static void protocol_error(struct conn *c, int err)
{
    if (c->sse) {
        fail(c, ERR_PROTOCOL);
        return;
    }
    unsigned code = err == HERD_E_UTF8      ? WS_CLOSE_INVALID_DATA
                    : err == HERD_E_TOO_BIG ? WS_CLOSE_TOO_BIG
                                            : WS_CLOSE_PROTOCOL;
    send_close(c, code);
    fail(c, ERR_PROTOCOL);
}

static void on_pong(struct conn *c, const uint8_t *p, size_t len, uint64_t now)
{
    struct worker *w = W(c);
    if (len != 8)
        return; /* not one of ours */
    uint64_t sent;
    memcpy(&sent, p, 8);
    if (sent > now || now - sent > 3600 * NS_PER_S)
        return;
    w->st->ctr[CTR_PINGS_RECEIVED]++;
    hist_record(w->st->hist[M_RTT], (int64_t)((now - sent) / NS_PER_US));
    if (w->p->role == ROLE_PING && c->inflight > 0) {
        c->inflight--;
        if (w->p->rate <= 0)
            send_next(c, now);
    }
}

/* A stamp in a received data message. For our own echoes: round trip on mono, and sequence
 * accounting per connection. */
static void on_stamp(struct conn *c, const struct stamp *s, uint64_t now)
{
    struct worker *w = W(c);
    struct stats *st = w->st;
    if (w->p->role == ROLE_ECHO && s->publisher == (uint64_t)c->index + 1) {
        int64_t sent = (int64_t)s->real_ns - w->real_minus_mono_ns;
        if (sent > 0 && (uint64_t)sent <= now)
            hist_record(st->hist[M_RTT], (int64_t)((now - (uint64_t)sent) / NS_PER_US));
        if (s->seq == c->rx_seq + 1) {
            c->rx_seq = s->seq;
        } else if (s->seq > c->rx_seq) {
            st->ctr[CTR_MESSAGES_LOST] += s->seq - c->rx_seq - 1;
            c->rx_seq = s->seq;
        } else if (s->seq == c->rx_seq) {
            st->ctr[CTR_MESSAGES_DUPLICATED]++;
        } else {
            /* Late, not lost after all. */
            st->ctr[CTR_MESSAGES_REORDERED]++;
            if (st->ctr[CTR_MESSAGES_LOST] > 0)
                st->ctr[CTR_MESSAGES_LOST]--;
        }
        if (c->inflight > 0)
            c->inflight--;
        return;
    }
    /* Another publisher's stamp: one-way latency (clocks of other hosts must be in sync). */
    uint64_t real = real_ns();
    if (s->real_ns <= real)
        hist_record(st->hist[M_LATENCY], (int64_t)((real - s->real_ns) / NS_PER_US));
    if (w->p->role != ROLE_SUBSCRIBE)
        return;
    /* Loss, duplicates and reordering per publisher; a first delivery also goes to this
     * thread's fan-out tally (expected = delivered + lost, counted where each is known). */
    uint64_t lost = 0;
    enum track_kind k = track_seen(&c->track, s->publisher, s->seq, &lost);
    st->ctr[CTR_MESSAGES_LOST] += lost;
    st->ctr[CTR_FANOUT_EXPECTED] += lost;
    if (k == TRACK_DUP) {
        st->ctr[CTR_MESSAGES_DUPLICATED]++;
        return;
    }
    if (k == TRACK_LATE)
        st->ctr[CTR_MESSAGES_REORDERED]++;
    st->ctr[CTR_FANOUT_EXPECTED]++;
    st->ctr[CTR_FANOUT_DELIVERED]++;
    fan_add(&w->fan[w->active], s->publisher, s->seq, s->real_ns, real, 1);
}

static void on_close_frame(struct conn *c, const uint8_t *p, size_t len)
{
    struct worker *w = W(c);
    unsigned code = WS_CLOSE_NO_STATUS;
    if (ws_close_parse(p, len, &code) != 0) {
        protocol_error(c, HERD_E_PROTO);
        return;
    }
    if (c->flags & CF_STOPPING) { /* the answer to our close: a clean end */
        finish(c);
        return;
    }
    stats_close_code(w->st, code);
    /* RFC 6455 5.5.1: answer with a close echoing the code, then let the server close TCP. */
    send_close(c, code);
    c->flags |= CF_STOPPING;
    if (c->state == CS_DONE)
        return;
    if (c->flags & CF_WANT_WRITE) {
        c->flags |= CF_CLOSE_AFTER;
        c->state = CS_CLOSING;
        loop_timer_arm(w->loop, &c->timer, loop_now(w->loop) + CLOSE_GRACE_NS);
        return;
    }
    finish(c);
}

/* Returns 0 to go on, -1 when the connection ended. */
static int handle_frame(struct conn *c, const struct ws_frame *f, const uint8_t *payload,
                        uint64_t now)
{
    struct worker *w = W(c);
    size_t len = (size_t)f->payload_len;
    int rc = ws_msg_feed(&c->msg, f, payload, 1);
    if (rc < 0) {
        protocol_error(c, rc);
        return -1;
    }
    switch (f->opcode) {
    case WS_OP_PING:
        if (c->state == CS_OPEN)
            send_frame(c, WS_OP_PONG, payload, len);
        break;
    case WS_OP_PONG: on_pong(c, payload, len, now); break;
    case WS_OP_CLOSE: on_close_frame(c, payload, len); return -1;
    default: /* data frame */
        if (!(c->flags & CF_IN_MSG_STAMP)) {
            struct stamp s;
            if (stamp_find(payload, len, &s) >= 0) {
                c->flags |= CF_IN_MSG_STAMP;
                on_stamp(c, &s, now);
            }
        }
        if (rc == 1) { /* message complete */
            w->st->ctr[CTR_MESSAGES_RECEIVED]++;
            if (!(c->flags & CF_GOT_MESSAGE)) {
                c->flags |= CF_GOT_MESSAGE;
                hist_record(w->st->hist[M_FIRST_MESSAGE],
                            (int64_t)((now - c->t_open_ns) / NS_PER_US));
            }
            c->flags &= (uint8_t)~CF_IN_MSG_STAMP;
            if (w->p->role == ROLE_ECHO && w->p->rate <= 0)
                send_next(c, now);
        }
        break;
    }
    return c->state == CS_DONE ? -1 : 0;
}

/* Decode what is in buf. Returns bytes consumed (the rest is an incomplete head or frame, whose
 * full length, if known, goes to *need), or -1 when the connection ended. */
static long consume(struct conn *c, uint8_t *buf, size_t len, uint64_t now, size_t *need)
{
    size_t off = 0;
    *need = 0;
    if (c->state == CS_HANDSHAKE) {
        long n = handle_head(c, buf, len, now);
        if (n <= 0)
            return n;
        off = (size_t)n;
    }
    if (c->sse) { /* an event stream is parsed incrementally: nothing is kept back */
        if (off < len && c->state == CS_OPEN && sse_body(c, buf + off, len - off, now) != 0)
            return -1;
        return (long)len;
    }
    while (off < len && (c->state == CS_OPEN || c->state == CS_CLOSING)) {
        struct ws_frame f;
        int n =
            ws_frame_decode(buf + off, len - off, WS_F_EXPECT_UNMASKED, W(c)->p->max_message, &f);
        if (n == HERD_E_AGAIN) {
            if (f.head_len)
                *need = f.head_len + f.payload_len;
            break;
        }
        if (n < 0) {
            protocol_error(c, n);
            return -1;
        }
        if (handle_frame(c, &f, buf + off + f.head_len, now) != 0)
            return -1;
        off += (size_t)n;
    }
    return (long)off;
}

/* Keep the unconsumed tail in a chunk sized for the whole frame when its length is known. */
static int stash(struct conn *c, const uint8_t *p, size_t len, size_t need)
{
    struct worker *w = W(c);
    size_t want = need > len ? need : len;
    struct chunk *k = pool_get(&w->pool, want);
    if (!k) {
        fail(c, ERR_OTHER);
        return -1;
    }
    memmove(k->data, p, len);
    k->len = (uint32_t)len;
    c->rx = k;
    return 0;
}

static void do_read(struct conn *c, int hup)
{
    struct worker *w = W(c);
    struct net_stream s = stream(c);
    for (;;) {
        /* Frames too large for the read buffer are read straight into their own chunk. */
        struct chunk *big = c->rx && c->rx->cap > WORKER_RBUF / 2 ? c->rx : NULL;
        uint8_t *buf = big ? big->data : w->rbuf;
        size_t pre = c->rx ? c->rx->len : 0;
        size_t cap = big ? big->cap : WORKER_RBUF;
        size_t want = cap - pre;
        /* (no clock read on this path unless --read-rate is given) */
        size_t allow = w->p->read_rate < 0 ? SIZE_MAX : read_allowance(c, loop_now_update(w->loop));
        if (allow == 0) { /* --read-rate: wait until the allowance grows (never, at 0) */
            c->flags |= CF_READ_WAIT;
            arm_open_timer(c);
            return;
        }
        if (want > allow)
            want = allow;
        /* A slow reader reads its response head in small pieces, so the stream that may
         * follow it in the same buffers is not taken past the rate on the way. */
        if (allow == SIZE_MAX && w->p->read_rate >= 0 && want > 512)
            want = 512;
        ssize_t n = net_stream_read(&s, buf + pre, want);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            fail_errno(c, n == 0 ? HERD_E_CLOSED : (int)n);
            return;
        }
        uint64_t now = mono_ns();
        w->st->ctr[CTR_BYTES_RECEIVED] += (uint64_t)n;
        c->t_rx_ns = now;
        if (allow != SIZE_MAX)
            read_spent(c, (size_t)n);
        if (!big && pre) {
            memcpy(buf, c->rx->data, pre);
            pool_put(&w->pool, c->rx);
        }
        c->rx = NULL;
        size_t len = pre + (size_t)n, need = 0;
        long used = consume(c, buf, len, now, &need);
        if (used < 0) {
            if (big)
                pool_put(&w->pool, big);
            return;
        }
        if ((size_t)used < len) {
            if (c->state == CS_HANDSHAKE && len >= HTTP1_MAX_HEAD) {
                if (big)
                    pool_put(&w->pool, big);
                fail(c, ERR_HANDSHAKE);
                return;
            }
            if (big && big->cap >= need && big->cap >= len - (size_t)used) {
                memmove(big->data, big->data + used, len - (size_t)used);
                big->len = (uint32_t)(len - (size_t)used);
                c->rx = big;
                big = NULL;
            } else if (stash(c, buf + used, len - (size_t)used, need) != 0) {
                pool_put(&w->pool, big);
                return;
            }
        }
        if (big)
            pool_put(&w->pool, big);
        /* A short read drained the socket: skip the read that would only say EAGAIN. The next
         * bytes raise a new edge. Not with TLS: a read returns at most one record, and more
         * may wait in OpenSSL's buffer or in the socket. Not when the peer's FIN came with this
         * edge: no other edge will come, and only the next read sees the end. */
        if ((size_t)n < want && !c->tls && !hup)
            return;
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
            fail_errno(c, rc);
            return;
        }
        on_connected(c);
        return;
    }
    case CS_TLS: tls_step(c); return;
    case CS_HANDSHAKE:
    case CS_OPEN:
    case CS_CLOSING:
        if ((events & LOOP_WRITE) && (c->flags & CF_WANT_WRITE)) {
            flush(c, mono_ns());
            if (c->state == CS_DONE)
                return;
        }
        if ((events & LOOP_ERR) && (c->flags & CF_READ_WAIT)) {
            /* A paused reader learns of a reset at once (the kernel dropped the unread bytes
             * anyway). A FIN is no error: the bytes before it, a close frame among them, are
             * still read at the reader's pace, and the end is seen after them. */
            int e = net_connect_result(io->fd);
            if (e) {
                fail_errno(c, e);
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

void conn_start(struct worker *w, struct conn *c)
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
    const struct net_addr *dst = &run->addrs[c->index % run->naddrs];
    const struct net_addr *src = run->nsrc ? &run->src[c->index % run->nsrc] : NULL;
    /* --read-rate: a slow reader's receive window stays small (about a second of its rate,
     * 4 KiB to 256 KiB), as a slow client's would, so the server feels it within seconds and
     * not after megabytes of kernel buffering. */
    int rcvbuf = 0;
    if (w->p->read_rate >= 0) {
        double b = w->p->read_rate < 4096 ? 4096 : w->p->read_rate;
        rcvbuf = b > 256 * 1024 ? 256 * 1024 : (int)b;
    }
    int fd = net_connect_start(dst, src, rcvbuf);
    if (fd < 0) {
        c->io.fd = -1;
        fail_errno(c, fd);
        return;
    }
    c->io.fd = fd;
    if (loop_io_add(w->loop, &c->io, LOOP_READ | LOOP_WRITE) != 0) {
        fail(c, ERR_OTHER);
        return;
    }
    loop_timer_arm(w->loop, &c->timer, now + w->p->timeout_ns);
}

void conn_stop(struct conn *c)
{
    switch (c->state) {
    case CS_OPEN: close_gracefully(c); return;
    case CS_CONNECTING:
    case CS_TLS:
    case CS_HANDSHAKE:
        /* Cut short by the end of the run: neither a failure nor an open connection. */
        c->flags |= CF_STOPPING;
        finish(c);
        return;
    default: return;
    }
}

void conn_ramp_down(struct conn *c)
{
    c->flags |= CF_RAMP; /* when it is finished, its slot is free again (finish_with) */
    conn_stop(c);
}

/* The grace period is over: whatever is still open is dropped. */
void conn_abort(struct conn *c)
{
    if (c->state != CS_DONE) {
        c->flags |= CF_STOPPING;
        finish(c);
    }
}

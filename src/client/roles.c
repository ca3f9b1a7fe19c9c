/* roles.c - what a connection does once open: the built-in roles as data plus hooks.
 *
 *   ping       sends PINGs (their payload is the intended send time), times each PONG
 *   echo       sends stamped data messages, times each echo on mono, counts echo loss
 *   publish    sends stamped data messages (at --rate), times others' stamps one way
 *   subscribe  times stamps one way; loss, duplicates and reordering per publisher; fan-out
 *   idle       holds the connection
 *
 * The load models are shared by the sending roles: closed (keep `pipeline` in flight: the next
 * goes out when a reply comes) and open (--rate per connection, each message timed from its
 * intended send time, so a stalled server shows in the percentiles instead of hiding:
 * coordinated omission). A role sends through the session (c->w->sess), never the socket. */
#include "client/role.h"

#include "base/clock.h"
#include "base/compiler.h"

#include <string.h>

#define MAX_BURST 64 /* open model: most overdue messages sent at once */

static inline uint64_t rate_interval_ns(const struct worker *w)
{
    return (uint64_t)(1e9 / w->p->rate);
}

/* ---- the load models ---- */

/* Send one unit of the role's traffic; 0, or < 0 when the connection failed. */
typedef int send_one_fn(struct conn *c, uint64_t intended_ns);

/* Send what the load model asks for now. Closed model: keep `pipeline` in flight. Open model:
 * every message whose intended time has come, at most MAX_BURST at once (the timer brings the
 * rest), and never past a full write queue: those wait, still carrying their intended time. */
static void pump_with(struct conn *c, uint64_t now, send_one_fn *one)
{
    struct worker *w = c->w;
    const struct client_params *p = w->p;
    if (c->state != CS_OPEN)
        return;
    if (p->rate > 0) {
        for (int burst = 0; burst < MAX_BURST && c->next_send_ns <= now; burst++) {
            if (stream_tx_pending(&c->s))
                return;
            if (one(c, c->next_send_ns) != 0)
                return;
            c->inflight++;
            c->next_send_ns += rate_interval_ns(w);
        }
        return;
    }
    while (c->inflight < p->pipeline && !stream_tx_pending(&c->s)) {
        if (one(c, now) != 0)
            return;
        c->inflight++;
    }
}

static void open_model(struct conn *c, uint64_t now)
{
    struct worker *w = c->w;
    c->inflight = 0;
    /* Spread open-model sends over one interval so connections do not fire in lockstep. */
    if (w->p->rate > 0)
        c->next_send_ns = now + rng_below(&w->rng, rate_interval_ns(w));
}

static uint64_t next_send_at(const struct conn *c)
{
    return c->w->p->rate > 0 ? c->next_send_ns : UINT64_MAX;
}

/* ---- what every role does with a stamp or a PONG ---- */

/* Another publisher's stamp: one-way latency (clocks of other hosts must be in sync). Every
 * stamped message is a sample, so that latency.count is the stamped messages received: one
 * whose stamp lies ahead of herd's clock counts 0, and latency.ahead and the most it was ahead
 * say how far the clocks disagree. Returns the realtime clock read. */
static uint64_t latency(struct conn *c, const struct stamp *s)
{
    struct stats *st = c->w->st;
    uint64_t real = real_ns();
    if (LIKELY(s->real_ns <= real)) {
        hist_record(st->hist[M_LATENCY], (int64_t)((real - s->real_ns) / NS_PER_US));
        return real;
    }
    hist_record(st->hist[M_LATENCY], 0);
    st->ctr[CTR_LATENCY_AHEAD]++;
    uint64_t ahead_us = (s->real_ns - real + NS_PER_US - 1) / NS_PER_US;
    if (ahead_us > st->ahead_max_us)
        st->ahead_max_us = ahead_us;
    return real;
}

static void foreign_stamp(struct conn *c, const struct stamp *s, uint64_t now)
{
    (void)now;
    latency(c, s);
}

/* A PONG of one of our PINGs (8 bytes: its intended send time): its round trip. Returns 1 when
 * it was one of ours. */
static int pong_timed(struct conn *c, const uint8_t *p, size_t len, uint64_t now)
{
    if (len != 8)
        return 0; /* not one of ours */
    uint64_t sent;
    memcpy(&sent, p, 8);
    if (sent > now || now - sent > 3600 * NS_PER_S)
        return 0;
    struct stats *st = c->w->st;
    st->ctr[CTR_PINGS_RECEIVED]++;
    hist_record(st->hist[M_RTT], (int64_t)((now - sent) / NS_PER_US));
    return 1;
}

static void keepalive_pong(struct conn *c, const uint8_t *p, size_t len, uint64_t now)
{
    pong_timed(c, p, len, now);
}

/* ---- ping ---- */

static int ping_one(struct conn *c, uint64_t intended_ns)
{
    return c->w->sess->ping(c, intended_ns);
}

static void ping_pump(struct conn *c, uint64_t now)
{
    pump_with(c, now, ping_one);
}

static void ping_pong(struct conn *c, const uint8_t *p, size_t len, uint64_t now)
{
    if (!pong_timed(c, p, len, now) || c->inflight == 0)
        return;
    c->inflight--;
    if (c->w->p->rate <= 0)
        ping_pump(c, now);
}

/* ---- echo and publish: stamped data messages ---- */

/* A stamped data message; the stamp's time is the intended send time on CLOCK_REALTIME, derived
 * from mono through the run's fixed offset, so our own echoes are timed on mono. */
static int data_one(struct conn *c, uint64_t intended_ns)
{
    struct worker *w = c->w;
    struct stamp s = {
        .publisher = w->run->pub_base + c->index + 1,
        .seq = ++c->seq,
        .real_ns = (uint64_t)((int64_t)intended_ns + w->real_minus_mono_ns),
    };
    size_t n = template__render(w->run->tmpl, w->mbuf, w->mbuf_cap, &s, c->index);
    w->st->ctr[CTR_MESSAGES_SENT]++;
    return w->sess->send(c, w->mbuf, n, w->p->binary);
}

static void data_pump(struct conn *c, uint64_t now)
{
    pump_with(c, now, data_one);
}

/* A stamp in a received message. Our own echo: round trip on mono, and sequence accounting per
 * connection; another publisher's: one-way latency. */
static void echo_stamp(struct conn *c, const struct stamp *s, uint64_t now)
{
    struct worker *w = c->w;
    struct stats *st = w->st;
    if (s->publisher != w->run->pub_base + c->index + 1) {
        latency(c, s);
        return;
    }
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
}

/* Closed model: a whole echo makes room for the next message. */
static void echo_message(struct conn *c, const uint8_t *p, size_t len, int binary, uint64_t now)
{
    (void)p;
    (void)len;
    (void)binary;
    if (c->w->p->rate <= 0)
        data_pump(c, now);
}

/* ---- subscribe ---- */

/* Another publisher's stamp: latency; loss, duplicates and reordering per publisher; a first
 * delivery also goes to this thread's fan-out tally (expected = delivered + lost, counted where
 * each is known). */
static void subscribe_stamp(struct conn *c, const struct stamp *s, uint64_t now)
{
    (void)now;
    struct worker *w = c->w;
    struct stats *st = w->st;
    uint64_t real = latency(c, s);
    uint64_t lost = 0;
    enum track_kind k = track__seen(&c->track, s->publisher, s->seq, s->real_ns, &lost);
    st->ctr[CTR_MESSAGES_LOST] += lost;
    st->ctr[CTR_FANOUT_EXPECTED] += lost;
    if (k == TRACK_COLLISION) {
        st->ctr[CTR_STAMPS_COLLISIONS]++;
        return;
    }
    if (k == TRACK_DUP) {
        st->ctr[CTR_MESSAGES_DUPLICATED]++;
        return;
    }
    if (k == TRACK_LATE)
        st->ctr[CTR_MESSAGES_REORDERED]++;
    st->ctr[CTR_FANOUT_EXPECTED]++;
    st->ctr[CTR_FANOUT_DELIVERED]++;
    fan__add(&w->fan[w->active], s->publisher, s->seq, s->real_ns, real, 1);
}

/* ---- the tables ---- */

static const struct role_ops role_ping = {
    .role = ROLE_PING,
    .open = open_model,
    .pump = ping_pump,
    .next_at = next_send_at,
    .stamp = foreign_stamp,
    .pong = ping_pong,
};

static const struct role_ops role_echo = {
    .role = ROLE_ECHO,
    .open = open_model,
    .pump = data_pump,
    .next_at = next_send_at,
    .stamp = echo_stamp,
    .message = echo_message,
    .pong = keepalive_pong,
};

static const struct role_ops role_publish = {
    .role = ROLE_PUBLISH,
    .open = open_model,
    .pump = data_pump,
    .next_at = next_send_at,
    .stamp = foreign_stamp,
    .pong = keepalive_pong,
};

static const struct role_ops role_subscribe = {
    .role = ROLE_SUBSCRIBE,
    .stamp = subscribe_stamp,
    .pong = keepalive_pong,
};

static const struct role_ops role_idle = {
    .role = ROLE_IDLE,
    .stamp = foreign_stamp,
    .pong = keepalive_pong,
};

const struct role_ops *role__ops(enum client_role r)
{
    switch (r) {
    case ROLE_PING: return &role_ping;
    case ROLE_ECHO: return &role_echo;
    case ROLE_PUBLISH: return &role_publish;
    case ROLE_SUBSCRIBE: return &role_subscribe;
    case ROLE_IDLE: return &role_idle;
    }
    return &role_idle;
}

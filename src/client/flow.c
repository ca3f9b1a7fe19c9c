/* flow.c - conversations: the role that runs a compiled flow (flow/flow.h) on each connection.
 *
 * It is a role like the built-in ones (struct role_ops): it plugs in through the same hooks, so
 * the sessions and conn.c never ask whether a flow runs, and the built-in roles' tables are
 * untouched. It asks the session for whole payloads (wants_payload). Per connection it holds a
 * struct flow_conn, allocated when the connection first opens and reused across reconnects:
 * the program counter, repeat counters, captured variables and the request window. Nothing
 * allocates per message; a message is walked as JSON only when a JSON rule asks, and once.
 *
 * Steps run until one waits (an expect, a sleep, replies, a full write queue); a timer brings
 * back a step whose time came (conn.c arms it from next_at). A flow that runs many steps without
 * waiting yields after FLOW_BUDGET steps, so one connection never holds the loop.
 *
 * Requests: each carries {{seq}}; its reply is found by the key (a JSON pointer or a regex
 * group) in a window of slots indexed by seq. Closed model: in_flight requests out at once; open
 * model (rate: or --rate): sent at their intended times, each timed from it. A reply that never
 * comes is counted (errors.reply_timeout) when its timeout passes and frees its slot. */
#include "client/role.h"

#include "base/clock.h"
#include "base/compiler.h"
#include "base/log.h"
#include "flow/flow.h"

#include <stdlib.h>
#include <string.h>

#define FLOW_BUDGET 256

struct rq_slot {
    uint64_t seq; /* 0 = free */
    uint64_t t_ns; /* intended send time (mono) */
};

struct flow_conn {
    const struct role_ops *then; /* the built-in role carrying on, NULL while the steps run */
    uint32_t pc;
    uint8_t waiting; /* the current step has started (its deadline or window is set) */
    uint8_t done; /* past the last step */
    uint64_t wake_ns; /* sleep's end, expect's deadline; UINT64_MAX none */
    uint64_t seq; /* {{seq}}: messages this flow sent */
    size_t row; /* --data row */
    /* the running request step */
    uint64_t rq_sent, rq_done, rq_next_ns, rq_lo;
    uint32_t rq_out, rq_cap;
    struct rq_slot *slots;
    uint32_t rep[FLOW_MAX_DEPTH];
    uint16_t var_len[FLOW_MAX_VARS];
    const char *var[FLOW_MAX_VARS];
    char vbuf[]; /* nvars * FLOW_VAR_MAX */
};

static inline const struct flow *flow_of(const struct conn *c)
{
    return c->w->p->flow;
}

static uint64_t rand64_cb(void *ctx)
{
    return rng_u64(ctx);
}

static void env_of(struct conn *c, struct flow_env *e)
{
    struct worker *w = c->w;
    struct flow_conn *fs = c->fl;
    *e = (struct flow_env){
        .seq = fs->seq,
        .conn = c->index,
        .var = fs->var,
        .var_len = fs->var_len,
        .data = w->p->data,
        .row = fs->row,
        .rand64 = rand64_cb,
        .rand_ctx = &w->rng,
    };
}

/* Render t and send it. Returns 0, or < 0 when the connection failed. */
static int send_tmpl(struct conn *c, const struct flow_tmpl *t, int binary, uint64_t intended_ns)
{
    struct worker *w = c->w;
    struct flow_env e;
    env_of(c, &e);
    char stamp[STAMP_MAX];
    if (t->has_stamp) {
        /* Stamps count on their own (c->seq, as the publish role's), so that subscribers see
         * no gap for the flow's other messages. */
        struct stamp s = {
            .publisher = w->run->pub_base + c->index + 1,
            .seq = ++c->seq,
            .real_ns = (uint64_t)((int64_t)intended_ns + w->real_minus_mono_ns),
        };
        e.stamp = stamp;
        e.stamp_len = stamp_format(stamp, &s);
    }
    for (size_t i = 0; i < t->nsegs; i++) {
        if (t->segs[i].kind == FSEG_TIME || t->segs[i].kind == FSEG_TIME_MS) {
            e.real_ns = real_ns();
            break;
        }
    }
    size_t n = flow_render(t, &e, (char *)w->mbuf);
    w->st->ctr[CTR_MESSAGES_SENT]++;
    return w->sess->send(c, w->mbuf, n, binary);
}

static void capture(struct conn *c, const struct flow_step *st, struct flow_msg *m)
{
    struct flow_conn *fs = c->fl;
    const struct flow *f = flow_of(c);
    for (size_t i = 0; i < st->ncap; i++) {
        const struct flow_capture *cp = &st->cap[i];
        char *dst = fs->vbuf + (size_t)cp->var * FLOW_VAR_MAX;
        long n = 0;
        if (cp->kind == FC_JSON) {
            if (m->json_state == 0)
                m->json_state = json_find(m->p, m->len, f->ptrs, f->nptrs, m->v) == 0 ? 1 : -1;
            if (m->json_state > 0 && m->v[cp->ptr].type != JV_NONE) {
                n = jval_copy(&m->v[cp->ptr], dst, FLOW_VAR_MAX);
                if (n < 0) { /* too long: the raw text, cut */
                    n = (long)(m->v[cp->ptr].len < FLOW_VAR_MAX ? m->v[cp->ptr].len : FLOW_VAR_MAX);
                    memcpy(dst, m->v[cp->ptr].p, (size_t)n);
                }
            }
        } else {
            regmatch_t g = m->groups[cp->ptr];
            if (g.rm_so >= 0 && g.rm_eo >= g.rm_so) {
                n = (long)(g.rm_eo - g.rm_so);
                if (n > FLOW_VAR_MAX)
                    n = FLOW_VAR_MAX;
                memcpy(dst, m->p + g.rm_so, (size_t)n);
            }
        }
        fs->var_len[cp->var] = (uint16_t)n;
    }
}

static inline void advance(struct flow_conn *fs)
{
    fs->pc++;
    fs->waiting = 0;
    fs->wake_ns = UINT64_MAX;
}

/* ---- requests ---- */

static double rq_rate(const struct conn *c, const struct flow_step *st)
{
    return st->rate > 0 ? st->rate : c->w->p->rate;
}

static void rq_begin(struct conn *c, const struct flow_step *st, uint64_t now)
{
    struct flow_conn *fs = c->fl;
    fs->rq_sent = fs->rq_done = 0;
    fs->rq_out = 0;
    fs->rq_lo = fs->seq + 1;
    uint32_t cap = 2;
    while (cap < 2 * st->in_flight)
        cap <<= 1;
    fs->rq_cap = cap;
    memset(fs->slots, 0, cap * sizeof *fs->slots);
    double rate = rq_rate(c, st);
    /* Open model: spread the first request over one interval, so connections do not fire in
     * lockstep. */
    fs->rq_next_ns = rate > 0 ? now + rng_below(&c->w->rng, (uint64_t)(1e9 / rate)) : now;
    fs->waiting = 1;
}

/* Replies whose timeout passed: counted, their slots freed. */
static void rq_expire(struct conn *c, const struct flow_step *st, uint64_t now)
{
    struct flow_conn *fs = c->fl;
    while (fs->rq_lo <= fs->seq) {
        struct rq_slot *s = &fs->slots[fs->rq_lo & (fs->rq_cap - 1)];
        if (s->seq == fs->rq_lo) {
            if (s->t_ns + st->time_ns > now)
                return;
            s->seq = 0;
            fs->rq_out--;
            fs->rq_done++;
            stats_error(c->w->st, ERR_REPLY_TIMEOUT);
        }
        fs->rq_lo++;
    }
}

/* Send what the step's load model asks for now. Returns < 0 when the connection failed. */
static int rq_pump(struct conn *c, const struct flow_step *st, uint64_t now)
{
    struct flow_conn *fs = c->fl;
    double rate = rq_rate(c, st);
    for (int burst = 0; burst < 64; burst++) {
        if (st->arg && fs->rq_sent >= st->arg)
            return 0;
        if (stream_tx_pending(&c->s))
            return 0;
        uint64_t intended = now;
        if (rate > 0) {
            if (fs->rq_next_ns > now)
                return 0;
            intended = fs->rq_next_ns;
        } else if (fs->rq_out >= st->in_flight) {
            return 0;
        }
        struct rq_slot *s = &fs->slots[(fs->seq + 1) & (fs->rq_cap - 1)];
        if (s->seq != 0 || fs->rq_out >= fs->rq_cap)
            return 0; /* the window is full: wait for a reply or a timeout */
        fs->seq++;
        s->seq = fs->seq;
        s->t_ns = intended;
        fs->rq_out++;
        fs->rq_sent++;
        c->w->st->ctr[CTR_REQUESTS_SENT]++;
        if (rate > 0)
            fs->rq_next_ns += (uint64_t)(1e9 / rate);
        if (send_tmpl(c, &st->tmpl, st->binary, intended) != 0)
            return -1;
    }
    return 0;
}

/* The key of a reply, or -1. */
static int rq_key(const struct flow *f, const struct flow_step *st, struct flow_msg *m,
                  uint64_t *key)
{
    if (st->key_kind == FC_JSON) {
        if (m->json_state == 0)
            m->json_state = json_find(m->p, m->len, f->ptrs, f->nptrs, m->v) == 0 ? 1 : -1;
        if (m->json_state < 0)
            return -1;
        return flow_key_parse(&m->v[st->key_ptr], key);
    }
    regmatch_t g = m->groups[st->key_ptr];
    if (g.rm_so < 0 || g.rm_eo <= g.rm_so)
        return -1;
    struct jval v = {m->p + g.rm_so, (size_t)(g.rm_eo - g.rm_so), JV_NUMBER};
    return flow_key_parse(&v, key);
}

/* A message during a request step: its reply? Returns 1 when it was one. */
static int rq_reply(struct conn *c, const struct flow_step *st, struct flow_msg *m, uint64_t now,
                    char *scratch)
{
    struct flow_conn *fs = c->fl;
    const struct flow *f = flow_of(c);
    struct flow_env e;
    env_of(c, &e);
    if (st->match.n && !flow_match_test(f, &st->match, m, &e, scratch))
        return 0;
    uint64_t key;
    if (st->key_kind == FC_GROUP && !st->match.has_regex)
        return 0;
    if (rq_key(f, st, m, &key) != 0 || key == 0)
        return 0;
    struct rq_slot *s = &fs->slots[key & (fs->rq_cap - 1)];
    if (s->seq != key)
        return 0; /* not outstanding: timed out already, or not ours */
    struct stats *stt = c->w->st;
    hist_record(stt->step[c->w->run->step_hist[fs->pc]],
                (int64_t)((now > s->t_ns ? now - s->t_ns : 0) / NS_PER_US));
    stt->ctr[CTR_REQUESTS_ANSWERED]++;
    s->seq = 0;
    fs->rq_out--;
    fs->rq_done++;
    capture(c, st, m);
    return 1;
}

/* ---- running the steps ---- */

static void start_then(struct conn *c, const struct role_ops *r, uint64_t now)
{
    c->fl->then = r;
    if (r->open)
        r->open(c, now);
    if (r->pump && c->state == CS_OPEN)
        r->pump(c, now);
}

static void finish_steps(struct conn *c)
{
    struct flow_conn *fs = c->fl;
    fs->done = 1;
    fs->waiting = 0;
    fs->wake_ns = UINT64_MAX;
    c->w->st->ctr[CTR_FLOW_COMPLETED]++;
}

static void run_steps(struct conn *c, uint64_t now)
{
    struct flow_conn *fs = c->fl;
    const struct flow *f = flow_of(c);
    for (int budget = FLOW_BUDGET; budget > 0; budget--) {
        if (fs->done || c->state != CS_OPEN)
            return;
        if (fs->pc >= f->nsteps) {
            finish_steps(c);
            return;
        }
        const struct flow_step *st = &f->steps[fs->pc];
        switch (st->op) {
        case FOP_SEND:
            if (stream_tx_pending(&c->s))
                return; /* flush brings us back (pump) */
            fs->seq++;
            if (send_tmpl(c, &st->tmpl, st->binary, now) != 0)
                return;
            advance(fs);
            break;
        case FOP_SLEEP:
            if (!fs->waiting) {
                fs->waiting = 1;
                fs->wake_ns =
                    now + st->time_ns + (st->jitter_ns ? rng_below(&c->w->rng, st->jitter_ns) : 0);
            }
            if (now < fs->wake_ns)
                return;
            advance(fs);
            break;
        case FOP_EXPECT:
            if (!fs->waiting) {
                fs->waiting = 1;
                fs->wake_ns = now + st->time_ns;
            }
            if (now < fs->wake_ns)
                return;
            /* no match in time */
            if (st->on_miss == FLOW_MISS_FAIL) {
                conn__fail_why(c, ERR_EXPECT, "a flow's expect saw no matching message in time");
                return;
            }
            stats_error(c->w->st, ERR_EXPECT);
            advance(fs);
            break;
        case FOP_REQUEST:
            if (!fs->waiting)
                rq_begin(c, st, now);
            rq_expire(c, st, now);
            if (rq_pump(c, st, now) != 0)
                return;
            if (st->arg && fs->rq_done >= st->arg) {
                advance(fs);
                break;
            }
            return;
        case FOP_REPEAT:
            fs->rep[st->depth] = (uint32_t)st->arg;
            advance(fs);
            break;
        case FOP_END: {
            const struct flow_step *head = &f->steps[st->jump];
            if (head->arg == 0 || --fs->rep[st->depth] > 0) {
                fs->pc = st->jump + 1;
                fs->waiting = 0;
                fs->wake_ns = UINT64_MAX;
            } else {
                advance(fs);
            }
            break;
        }
        case FOP_THEN:
            finish_steps(c);
            start_then(c, role__ops((enum client_role)st->arg), now);
            return;
        case FOP_CLOSE:
            finish_steps(c);
            c->w->sess->close(c);
            return;
        }
    }
    /* Out of budget: come back on the next loop iteration. */
    fs->wake_ns = now;
}

/* ---- the role's hooks ---- */

static void flow_open(struct conn *c, uint64_t now)
{
    struct worker *w = c->w;
    const struct flow *f = flow_of(c);
    struct flow_conn *fs = c->fl;
    if (!fs) {
        fs = xcalloc(1, sizeof *fs + f->nvars * FLOW_VAR_MAX);
        uint32_t most = 1;
        for (size_t i = 0; i < f->nsteps; i++) {
            if (f->steps[i].op == FOP_REQUEST && f->steps[i].in_flight > most)
                most = f->steps[i].in_flight;
        }
        uint32_t cap = 2;
        while (cap < 2 * most)
            cap <<= 1;
        fs->slots = xcalloc(cap, sizeof *fs->slots);
        for (size_t v = 0; v < FLOW_MAX_VARS; v++)
            fs->var[v] = fs->vbuf + (v < f->nvars ? v * FLOW_VAR_MAX : 0);
        const struct csv_table *d = w->p->data;
        if (d)
            fs->row = csv_row_of(d, c->index); /* the row its request took, too */
        c->fl = fs;
    }
    /* (Re)started from the first step: variables are captured again. */
    fs->then = NULL;
    fs->pc = 0;
    fs->waiting = 0;
    fs->done = 0;
    fs->wake_ns = UINT64_MAX;
    memset(fs->var_len, 0, sizeof fs->var_len);
    c->inflight = 0;
    (void)now;
}

static void flow_pump(struct conn *c, uint64_t now)
{
    struct flow_conn *fs = c->fl;
    if (!fs)
        return;
    if (fs->then) {
        if (fs->then->pump)
            fs->then->pump(c, now);
        return;
    }
    run_steps(c, now);
}

static uint64_t flow_next_at(const struct conn *c)
{
    const struct flow_conn *fs = c->fl;
    if (!fs)
        return UINT64_MAX;
    if (fs->then)
        return fs->then->next_at ? fs->then->next_at(c) : UINT64_MAX;
    uint64_t at = fs->wake_ns;
    if (!fs->done && fs->waiting) {
        const struct flow_step *st = &flow_of(c)->steps[fs->pc];
        if (st->op == FOP_REQUEST) {
            if (rq_rate(c, st) > 0 && (st->arg == 0 || fs->rq_sent < st->arg) &&
                fs->rq_next_ns < at)
                at = fs->rq_next_ns;
            /* the oldest outstanding request's timeout */
            for (uint64_t s = fs->rq_lo; s <= fs->seq && s < fs->rq_lo + fs->rq_cap; s++) {
                const struct rq_slot *sl = &fs->slots[s & (fs->rq_cap - 1)];
                if (sl->seq == s) {
                    if (sl->t_ns + st->time_ns < at)
                        at = sl->t_ns + st->time_ns;
                    break;
                }
            }
        }
    }
    return at;
}

static void flow_stamp(struct conn *c, const struct stamp *s, uint64_t now)
{
    const struct flow_conn *fs = c->fl;
    if (fs && fs->then && fs->then->stamp)
        fs->then->stamp(c, s, now);
}

static void flow_pong(struct conn *c, const uint8_t *p, size_t len, uint64_t now)
{
    const struct flow_conn *fs = c->fl;
    if (fs && fs->then && fs->then->pong)
        fs->then->pong(c, p, len, now);
}

static void flow_message(struct conn *c, const uint8_t *p, size_t len, int binary, uint64_t now)
{
    struct flow_conn *fs = c->fl;
    const struct flow *f = flow_of(c);
    if (!fs || c->state != CS_OPEN)
        return;
    struct flow_msg m;
    m.p = (const char *)p;
    m.len = len;
    m.json_state = 0;
    char scratch[FLOW_VAR_MAX * 4 + 512];
    struct flow_env e;
    int matched = 0, moved = 0;
    if (!fs->done && fs->waiting && fs->pc < f->nsteps) {
        const struct flow_step *st = &f->steps[fs->pc];
        if (st->op == FOP_EXPECT) {
            env_of(c, &e);
            if (flow_match_test(f, &st->match, &m, &e, scratch)) {
                capture(c, st, &m);
                advance(fs);
                matched = moved = 1;
            }
        } else if (st->op == FOP_REQUEST) {
            matched = moved = rq_reply(c, st, &m, now, scratch);
        }
    }
    for (size_t i = 0; i < f->non; i++) {
        const struct flow_on *r = &f->on[i];
        env_of(c, &e);
        if (!flow_match_test(f, &r->match, &m, &e, scratch))
            continue;
        matched = 1;
        c->w->st->ctr[CTR_FLOW_ON_MATCHED]++;
        if (r->has_reply) {
            fs->seq++;
            if (send_tmpl(c, &r->reply, r->binary, now) != 0)
                return;
        }
    }
    if (fs->then) {
        if (fs->then->message)
            fs->then->message(c, NULL, len, binary, now);
        return;
    }
    if (!matched)
        c->w->st->ctr[CTR_FLOW_UNMATCHED]++;
    if (moved) {
        run_steps(c, now);
        conn__rearm(c);
    }
}

const struct role_ops role_flow = {
    .role = ROLE_IDLE,
    .wants_payload = 1,
    .open = flow_open,
    .pump = flow_pump,
    .next_at = flow_next_at,
    .stamp = flow_stamp,
    .message = flow_message,
    .pong = flow_pong,
};

void flow__conn_free(struct conn *c)
{
    if (c->fl) {
        free(c->fl->slots);
        free(c->fl);
        c->fl = NULL;
    }
}

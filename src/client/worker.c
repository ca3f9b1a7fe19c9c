/* worker.c - worker threads and the run: sharding connections, connect pacing, the stats swap
 * with the reporter, and the graceful stop.
 *
 * The reporter and the workers share exactly three things: the swap generation (reporter asks,
 * worker answers after flipping its active stats block), the stop flag, and first_open_ns. All
 * are atomics touched once per interval or once per run, never per message. */
#include "client/worker.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "flow/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PACE_TICK_NS NS_PER_MS
/* A published message's fan-out is settled this long after its stamp, or at the end of the run:
 * then its last delivery time is final. Later deliveries still count as delivered. */
#define FANOUT_SETTLE_NS (5 * NS_PER_S)

void worker__conn_done(struct worker *w, struct conn *c)
{
    (void)c;
    w->live--;
}

static void swap_blocks(struct worker *w)
{
    w->blocks[w->active].open = w->open;
    w->blocks[w->active].connecting = w->connecting;
    w->blocks[w->active].peak = w->peak_interval;
    w->active ^= 1;
    w->st = &w->blocks[w->active];
    /* The fan-out tallies go with the stats block: the reporter drains the other one. */
    w->peak_interval = w->open;
}

static void on_stop_timer(struct loop *l, struct loop_timer *t)
{
    struct worker *w = container_of(t, struct worker, stop_timer);
    (void)l;
    for (size_t i = 0; i < w->nconns; i++)
        conn__abort(&w->conns[i]);
}

static void begin_stop(struct worker *w)
{
    w->stopping = 1;
    loop_timer_cancel(w->loop, &w->pace_timer);
    int abrupt = atomic_load(&w->run->abrupt);
    for (size_t i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (c->state == CS_IDLE) { /* not started yet, or waiting to reconnect */
            loop_timer_cancel(w->loop, &c->timer);
            c->state = CS_DONE;
            w->live--;
        } else if (abrupt) {
            conn__abort(c);
        } else {
            conn__stop(c);
        }
    }
    loop_timer_arm(w->loop, &w->stop_timer, loop_now(w->loop) + w->run->grace_ns);
}

static void on_wake(struct loop *l, void *arg)
{
    struct worker *w = arg;
    (void)l;
    uint64_t req = atomic_load_explicit(&w->swap_req, memory_order_acquire);
    if (req != atomic_load_explicit(&w->swap_done, memory_order_relaxed)) {
        swap_blocks(w);
        atomic_store_explicit(&w->swap_done, req, memory_order_release);
    }
    if (atomic_load(&w->run->stop)) {
        if (!w->stopping)
            begin_stop(w);
        else if (atomic_load(&w->run->abrupt))
            on_stop_timer(w->loop, &w->stop_timer);
    }
}

/* Connect pacing: start as many connections as the rate allows by now. */
static void on_pace(struct loop *l, struct loop_timer *t)
{
    struct worker *w = container_of(t, struct worker, pace_timer);
    uint64_t now = loop_now(l);
    /* Connection k (from 0) is due at t0 + k / rate: floor, or a wake a hair after its time
     * would start the next one early too. */
    size_t due = (size_t)((double)(now - w->pace_t0_ns) * w->pace_rate / 1e9) + 1;
    while (w->started < w->nconns && w->started < due)
        conn__start(w, &w->conns[w->started++]);
    if (w->started < w->nconns) {
        uint64_t next = w->pace_t0_ns + (uint64_t)((double)w->started * 1e9 / w->pace_rate);
        loop_timer_arm(l, t, next > now + PACE_TICK_NS ? next : now + PACE_TICK_NS);
    }
}

/* --stages: every tick, bring this worker's connections to its share of the stage target.
 * Connections being opened (or backing off to reconnect) count as wanted; free slots are idle
 * and have no timer. Ramping down closes the most recently started ones with close 1000. */
#define STAGE_TICK_NS (20 * NS_PER_MS)

static int conn_wanted(const struct conn *c)
{
    return c->state == CS_CONNECTING || c->state == CS_TLS || c->state == CS_HANDSHAKE ||
           c->state == CS_OPEN || (c->state == CS_IDLE && loop_timer_armed(&c->timer));
}

static void on_stage(struct loop *l, struct loop_timer *t)
{
    struct worker *w = container_of(t, struct worker, pace_timer);
    const struct client_params *p = w->p;
    uint64_t now = loop_now(l);
    uint64_t total = stages_target(p->stages, p->nstages, 0, now - w->run->t0_ns);
    uint64_t shard = shard_share(total, p->shard_index, p->shard_count);
    unsigned nw = w->run->nworkers;
    uint64_t want = shard / nw + (w->id < shard % nw);
    if (want > w->nconns)
        want = w->nconns;
    size_t have = 0;
    for (size_t i = 0; i < w->nconns; i++)
        have += conn_wanted(&w->conns[i]);
    if (have < want) {
        uint64_t n = want - have;
        if (w->pace_rate > 0) {
            w->stage_budget += (double)(now - w->stage_last_ns) * w->pace_rate / 1e9;
            if (w->stage_budget > w->pace_rate)
                w->stage_budget = w->pace_rate; /* at most one second's worth at once */
            if ((double)n > w->stage_budget)
                n = (uint64_t)w->stage_budget;
            w->stage_budget -= (double)n;
        }
        for (size_t i = 0; i < w->nconns && n > 0; i++) {
            struct conn *c = &w->conns[i];
            if (c->state == CS_IDLE && !loop_timer_armed(&c->timer)) {
                conn__start(w, c);
                n--;
            }
        }
    } else if (have > want) {
        uint64_t n = have - want;
        for (size_t i = w->nconns; i-- > 0 && n > 0;) {
            struct conn *c = &w->conns[i];
            if (conn_wanted(c)) {
                if (c->state == CS_IDLE) { /* backing off: just stop waiting */
                    loop_timer_cancel(l, &c->timer);
                    c->t_drop_ns = 0;
                    c->retries = 0;
                } else {
                    conn__ramp_down(c);
                }
                n--;
            }
        }
    }
    w->stage_last_ns = now;
    loop_timer_arm(l, t, now + STAGE_TICK_NS);
}

void worker__begin(struct worker *w)
{
    loop_set_wake_cb(w->loop, on_wake, w);
    w->pace_timer.cb = on_pace;
    w->stop_timer.cb = on_stop_timer;
    w->pace_t0_ns = loop_now_update(w->loop);
    if (w->p->nstages) {
        w->pace_timer.cb = on_stage;
        w->stage_last_ns = w->pace_t0_ns;
        on_stage(w->loop, &w->pace_timer);
    } else if (w->pace_rate > 0)
        on_pace(w->loop, &w->pace_timer);
    else
        while (w->started < w->nconns)
            conn__start(w, &w->conns[w->started++]);
    /* Pick up a stop or swap that came before the loop was ready. */
    on_wake(w->loop, w);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    worker__begin(w);
    while (!(w->stopping && w->live == 0)) {
        int rc = loop_run_once(w->loop, 100 * NS_PER_MS);
        if (rc < 0)
            die("event loop failed: %s", herd_strerror(rc));
    }
    loop_timer_cancel(w->loop, &w->stop_timer);
    /* Messages still missing behind newer ones when the run ends are lost, and were expected
     * (as a loss a gap shows is: fanout.expected = delivered + lost + unseen). */
    for (size_t i = 0; i < w->nconns; i++) {
        uint64_t lost = track__flush(w->conns[i].track);
        w->st->ctr[CTR_MESSAGES_LOST] += lost;
        w->st->ctr[CTR_FANOUT_EXPECTED] += lost;
    }
    atomic_store_explicit(&w->exited, 1, memory_order_release);
    return NULL;
}

static unsigned ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* The run's id, the high half of its publisher ids, so that publishers of independent runs on
 * one topic never share an id (two `herd run --role publish` processes once both counted as
 * publisher 1, and every message of one looked like a duplicate of the other's). Random, never
 * 0, unless the run is one process of a larger one: HERD_RUN_ID (which --procs gives its
 * children) names the id they share, and a --shard without it takes 0, so that the shards of a
 * run, started anywhere, keep ids that are disjoint (their connection numbers are) and the same
 * from one run to the next. */
static uint32_t run_id(const struct client_params *p)
{
    const char *env = getenv("HERD_RUN_ID");
    if (env && *env) {
        char *end;
        unsigned long v = strtoul(env, &end, 10);
        if (*end == '\0' && v <= UINT32_MAX)
            return (uint32_t)v;
    }
    if (p->shard_count > 1)
        return 0;
    struct rng g;
    rng_init(&g);
    uint32_t id;
    do {
        rng_bytes(&g, &id, sizeof id);
        id &= INT32_MAX;
    } while (id == 0);
    return id;
}

struct client_run *run__prepare(const struct client_params *p, char *err, size_t errlen)
{
    struct client_run *r = xcalloc(1, sizeof *r);
    r->p = p;
    r->grace_ns = CLOSE_GRACE_NS;
    r->t0_ns = mono_ns();
    int n = net_resolve(p->url.host, p->url.port, r->addrs, MAX_TARGET_ADDRS, err, errlen);
    if (n < 0)
        goto fail;
    /* Connect to the first address only: spreading over several would mix targets. */
    r->naddrs = 1;
    if (p->bind) {
        /* --bind: source addresses taken round-robin by connection number, to pass the ~28k
         * ports each (source, destination) address pair allows. */
        const char *why = NULL;
        r->src = xcalloc(CLIENT_MAX_BIND, sizeof *r->src);
        int ns = net_parse_addrs(p->bind, r->src, CLIENT_MAX_BIND, &why);
        if (ns <= 0) {
            snprintf(err, errlen, "--bind: %s", why ? why : "no address");
            goto fail;
        }
        r->nsrc = (size_t)ns;
    }

    if (p->url.tls) {
        struct net_tls_opts to = {
            .insecure = p->insecure, .cacert = p->cacert, .cert = p->cert, .key = p->key};
        r->tls_ctx = net_tls_client_ctx(&to, err, errlen);
        if (!r->tls_ctx)
            goto fail;
        r->tls_name = p->sni ? p->sni : p->url.host;
        if (p->tls_resume)
            net_tls_client_enable_resume(r->tls_ctx);
    }
    if (p->reconnect) {
        const char *why = NULL;
        if (backoff_parse(p->backoff ? p->backoff : "exp:100ms..30s,jitter=full", &r->backoff,
                          &why) != 0) {
            snprintf(err, errlen, "--backoff: %s", why);
            goto fail;
        }
    }

    /* Messages: a template, or the stamp padded to --size. */
    const char *text = p->message ? p->message : "{{stamp}}";
    size_t tlen = p->message ? p->message_len : strlen(text);
    r->tmpl = xcalloc(1, sizeof *r->tmpl);
    if (template__parse(r->tmpl, text, tlen, p->size, err, errlen) != 0)
        goto fail;
    r->pub_base = (uint64_t)run_id(p) << 32;
    if (p->compress) {
        const char *why = NULL;
        if (pmd_option_parse(p->compress_params, &r->pmd_offer, &why) != 0) {
            snprintf(err, errlen, "--compress: %s", why);
            goto fail;
        }
    }
    /* The seams, chosen once: the protocol by the URL's scheme, the traffic by --role. */
    r->sess = !p->url.sse                           ? &session_ws
              : p->role == ROLE_PUBLISH && !p->flow ? &session_http_pub
                                                    : &session_sse;
    r->role = p->flow ? &role_flow : role__ops(p->role);

    /* This shard's connections: global indexes shard_index, shard_index + shard_count, ... */
    uint64_t mine = 0;
    if (p->connections > p->shard_index)
        mine = (p->connections - p->shard_index + p->shard_count - 1) / p->shard_count;
    unsigned nw = p->threads ? p->threads : ncpus();
    if (nw > mine && mine > 0)
        nw = (unsigned)mine;
    if (nw == 0)
        nw = 1;
    r->nworkers = 0;
    r->workers = xcalloc(nw, sizeof *r->workers);
    int64_t offset = (int64_t)real_ns() - (int64_t)mono_ns();
    size_t msg_cap = template__max_len(r->tmpl) + 64;
    if (p->flow && p->flow->max_render + 64 > msg_cap)
        msg_cap = p->flow->max_render + 64;
    if (p->flow)
        r->step_hist = xcalloc(p->flow->nsteps ? p->flow->nsteps : 1, sizeof *r->step_hist);
    if (msg_cap < WORKER_WBUF)
        msg_cap = WORKER_WBUF;
    for (unsigned i = 0; i < nw; i++) {
        struct worker *w = &r->workers[i];
        w->run = r;
        w->p = p;
        w->sess = r->sess;
        w->role = r->role;
        w->id = i;
        w->loop = loop_new();
        if (!w->loop)
            die("cannot create event loop: %s", strerror(errno));
        pool_init(&w->pool);
        rng_init(&w->rng);
        stats_init(&w->blocks[0]);
        stats_init(&w->blocks[1]);
        /* A flow's request steps: their histograms, in the same order in every block. */
        for (size_t k = 0; p->flow && k < p->flow->nsteps; k++) {
            if (p->flow->steps[k].op != FOP_REQUEST)
                continue;
            int h = stats_step_add(&w->blocks[0], p->flow->steps[k].name);
            int h1 = stats_step_add(&w->blocks[1], p->flow->steps[k].name);
            HERD_ASSERT(h >= 0 && h == h1); /* the compiler allows FLOW_MAX_REQUESTS */
            r->step_hist[k] = h;
        }
        w->st = &w->blocks[0];
        w->env = (struct stream_env){&w->pool, xmalloc(WORKER_RBUF), WORKER_RBUF};
        w->wbuf = xmalloc(WORKER_WBUF);
        w->mbuf = xmalloc(msg_cap);
        w->mbuf_cap = msg_cap;
        w->real_minus_mono_ns = offset;
        w->nconns = (size_t)(mine / nw + (i < mine % nw));
        w->conns = xcalloc(w->nconns ? w->nconns : 1, sizeof *w->conns);
        for (size_t k = 0; k < w->nconns; k++) {
            struct conn *c = &w->conns[k];
            c->w = w;
            c->io.fd = -1;
            c->index = p->index_base + (uint32_t)(p->shard_index + (k * nw + i) * p->shard_count);
            c->state = CS_IDLE;
        }
        w->live = w->nconns;
        w->pace_rate = p->connect_rate > 0 ? p->connect_rate / nw / p->shard_count : 0;
        r->nworkers = i + 1; /* (set up so far: what client_run_free undoes) */
        if (w->sess->setup(w, err, errlen) != 0) {
            client_run_free(r);
            return NULL;
        }
    }
    return r;
fail:
    client_run_free(r);
    return NULL;
}

int client_params_check(const struct client_params *p, char *err, size_t errlen)
{
    if (p->url.tls) {
        struct net_tls_opts to = {
            .insecure = p->insecure, .cacert = p->cacert, .cert = p->cert, .key = p->key};
        struct net_tls_ctx *ctx = net_tls_client_ctx(&to, err, errlen);
        if (!ctx)
            return HERD_E_INVAL;
        net_tls_ctx_free(ctx);
    }
    const char *why = NULL;
    struct backoff b;
    if (p->reconnect && p->backoff && backoff_parse(p->backoff, &b, &why) != 0) {
        snprintf(err, errlen, "--backoff: %s", why);
        return HERD_E_INVAL;
    }
    struct pmd_params offer;
    if (p->compress && pmd_option_parse(p->compress_params, &offer, &why) != 0) {
        snprintf(err, errlen, "--compress: %s", why);
        return HERD_E_INVAL;
    }
    return 0;
}

struct client_run *client_run_start(const struct client_params *p, char *err, size_t errlen)
{
    struct client_run *r = run__prepare(p, err, errlen);
    if (!r)
        return NULL;
    for (unsigned i = 0; i < r->nworkers; i++)
        if (pthread_create(&r->workers[i].thread, NULL, worker_main, &r->workers[i]) != 0)
            die("cannot start worker thread");
    return r;
}

/* Reporter: add a worker's drained tallies to the run's. A delivery of a message settled
 * already (later than FANOUT_SETTLE_NS) is not a new message: it only counted as delivered. */
static void fan_merge(struct client_run *r, struct fan_table *t)
{
    for (size_t i = 0; i < t->cap && t->n; i++) {
        const struct fan_entry *e = &t->e[i];
        if (!e->count)
            continue;
        const struct fan_entry *done = fan__find(&r->fan_settled, e->pub, 0);
        if (done && e->seq <= done->last_ns && !fan__find(&r->fan_all, e->pub, e->seq))
            continue;
        fan__add(&r->fan_all, e->pub, e->seq, e->stamp_ns, e->last_ns, e->count);
    }
    fan__clear(t);
}

/* Reporter: messages whose stamp is older than FANOUT_SETTLE_NS (all of them at the end) get
 * their fan-out time recorded: stamp -> the last delivery in any thread. */
static void fan_settle(struct client_run *r, struct stats *into, int all)
{
    if (!r->fan_all.n)
        return;
    uint64_t before = real_ns() - FANOUT_SETTLE_NS;
    struct fan_table keep = {0};
    for (size_t i = 0; i < r->fan_all.cap; i++) {
        const struct fan_entry *e = &r->fan_all.e[i];
        if (!e->count)
            continue;
        if (!all && e->stamp_ns >= before) {
            fan__add(&keep, e->pub, e->seq, e->stamp_ns, e->last_ns, e->count);
            continue;
        }
        into->ctr[CTR_FANOUT_MESSAGES]++;
        hist_record(into->hist[M_FANOUT], e->last_ns > e->stamp_ns
                                              ? (int64_t)((e->last_ns - e->stamp_ns) / NS_PER_US)
                                              : 0);
        struct fan_entry *done = fan__find(&r->fan_settled, e->pub, 0);
        if (!done)
            fan__add(&r->fan_settled, e->pub, 0, 0, e->seq, 1);
        else if (e->seq > done->last_ns)
            done->last_ns = e->seq;
    }
    fan__free(&r->fan_all);
    r->fan_all = keep;
}

void client_run_collect(struct client_run *r, struct stats *into)
{
    uint64_t gen = ++r->swap_gen;
    for (unsigned i = 0; i < r->nworkers; i++) {
        struct worker *w = &r->workers[i];
        if (atomic_load_explicit(&w->exited, memory_order_acquire))
            continue;
        atomic_store_explicit(&w->swap_req, gen, memory_order_release);
        loop_wake(w->loop);
    }
    for (unsigned i = 0; i < r->nworkers; i++) {
        struct worker *w = &r->workers[i];
        for (;;) {
            if (atomic_load_explicit(&w->exited, memory_order_acquire)) {
                /* Finished: both blocks are ours now. The gauges are the worker's own, counted
                 * once: a swap it answered just before exiting left them in the inactive block
                 * too, and open and peak would otherwise add up twice (peak above -c). */
                struct stats *ina = &w->blocks[w->active ^ 1];
                int64_t peak = w->peak_interval > ina->peak ? w->peak_interval : ina->peak;
                ina->open = ina->peak = ina->connecting = 0;
                w->blocks[w->active].open = w->open;
                w->blocks[w->active].connecting = w->connecting;
                w->blocks[w->active].peak = peak;
                stats_merge(into, &w->blocks[w->active]);
                stats_reset(&w->blocks[w->active]);
                fan_merge(r, &w->fan[w->active]);
                w->blocks[w->active].open = w->blocks[w->active].peak = 0;
                w->blocks[w->active].connecting = 0;
                w->peak_interval = 0;
                break;
            }
            if (atomic_load_explicit(&w->swap_done, memory_order_acquire) == gen)
                break;
            /* A worker answers after its current batch of events (up to milliseconds): poll
             * gently, or the reporter preempts the very worker it waits for. */
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        struct stats *inactive = &w->blocks[w->active ^ 1];
        stats_merge(into, inactive);
        stats_reset(inactive);
        inactive->open = inactive->peak = inactive->connecting = 0;
        fan_merge(r, &w->fan[w->active ^ 1]);
    }
    fan_settle(r, into, client_run_done(r));
}

static void note_top(void *ctx, uint64_t pub, uint64_t top)
{
    publast__note(ctx, pub, top);
}

struct unseen_ctx {
    const struct publast *last;
    uint64_t unseen;
};

static void count_tail(void *ctx, uint64_t pub, uint64_t top)
{
    struct unseen_ctx *u = ctx;
    uint64_t last = publast__get(u->last, pub);
    if (last > top)
        u->unseen += last - top;
}

void client_runs_count_unseen(struct client_run *const *runs, size_t n, struct stats *const *totals)
{
    struct publast last = {0};
    for (size_t i = 0; i < n; i++) {
        const struct client_run *r = runs[i];
        int sends = r->role->pump && r->role->role != ROLE_PING;
        for (unsigned k = 0; k < r->nworkers; k++) {
            const struct worker *w = &r->workers[k];
            for (size_t j = 0; j < w->nconns; j++) {
                const struct conn *c = &w->conns[j];
                track__each(c->track, note_top, &last);
                if (sends && c->seq)
                    publast__note(&last, r->pub_base + c->index + 1, c->seq);
            }
        }
    }
    for (size_t i = 0; i < n && last.n; i++) {
        const struct client_run *r = runs[i];
        struct unseen_ctx u = {&last, 0};
        for (unsigned k = 0; k < r->nworkers; k++)
            for (size_t j = 0; j < r->workers[k].nconns; j++)
                track__each(r->workers[k].conns[j].track, count_tail, &u);
        totals[i]->ctr[CTR_MESSAGES_UNSEEN] += u.unseen;
        totals[i]->ctr[CTR_FANOUT_EXPECTED] += u.unseen;
    }
    publast__free(&last);
}

uint64_t client_run_first_open_ns(const struct client_run *r)
{
    return atomic_load(&((struct client_run *)r)->first_open_ns);
}

const char *client_run_tls_error(const struct client_run *r)
{
    return client_run_why(r, ERR_TLS);
}

const char *client_run_why(const struct client_run *r, enum err_class cls)
{
    return atomic_load(&((struct client_run *)r)->why_set[cls]) ? r->why[cls] : NULL;
}

size_t client_run_live(const struct client_run *r)
{
    size_t n = 0;
    for (unsigned i = 0; i < r->nworkers; i++)
        n += atomic_load_explicit(&((struct client_run *)r)->workers[i].live, memory_order_relaxed);
    return n;
}

int client_run_done(const struct client_run *r)
{
    for (unsigned i = 0; i < r->nworkers; i++)
        if (!atomic_load_explicit(&((struct client_run *)r)->workers[i].exited,
                                  memory_order_acquire))
            return 0;
    return 1;
}

void client_run_stop(struct client_run *r, uint64_t grace_ns, int abrupt)
{
    r->grace_ns = grace_ns;
    if (abrupt)
        atomic_store(&r->abrupt, 1);
    atomic_store(&r->stop, 1);
    for (unsigned i = 0; i < r->nworkers; i++)
        loop_wake(r->workers[i].loop);
}

void client_run_join(struct client_run *r)
{
    for (unsigned i = 0; i < r->nworkers; i++)
        pthread_join(r->workers[i].thread, NULL);
}

void client_run_free(struct client_run *r)
{
    if (!r)
        return;
    for (unsigned i = 0; i < r->nworkers; i++) {
        struct worker *w = &r->workers[i];
        for (size_t k = 0; k < w->nconns; k++) {
            struct conn *c = &w->conns[k];
            if (c->s.fd >= 0)
                stream_close(&c->s, &w->pool, 0);
            if (w->sess->release) /* one waiting to reconnect when the run stopped */
                w->sess->release(c);
            track__free(&c->track);
            flow__conn_free(c);
        }
        stats_free(&w->blocks[0]);
        stats_free(&w->blocks[1]);
        net_tls_session_clear(&w->tls_session);
        fan__free(&w->fan[0]);
        fan__free(&w->fan[1]);
        if (w->sess->teardown)
            w->sess->teardown(w);
        pool_destroy(&w->pool);
        loop_free(w->loop);
        free(w->conns);
        free(w->env.rbuf);
        free(w->wbuf);
        free(w->mbuf);
    }
    free(r->workers);
    fan__free(&r->fan_all);
    fan__free(&r->fan_settled);
    net_tls_ctx_free(r->tls_ctx);
    if (r->tmpl) {
        template__free(r->tmpl);
        free(r->tmpl);
        free(r->step_hist);
    }
    free(r->src);
    free(r);
}

/* run.c - `herd run`: start the workers, act as the reporter (one collect per second, the live
 * line, the time series), stop on time or on a signal, write the reports, pick the exit code.
 *
 * Signals are blocked in every thread and taken synchronously here with sigtimedwait, so a
 * SIGINT never interrupts a worker mid-write: the first one ends the run gracefully (close
 * frames, reports marked incomplete), a second one ends it at once, still writing the reports. */
#include "cmd/cmd.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/syslimits.h"
#include "client/client.h"
#include "cmd/metrics_http.h"
#include "flow/flow.h"
#include "net/net.h"
#include "report/report.h"
#include "scenario/scenario.h"
#include "stats/procwatch.h"
#include "stats/stats.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TICK_NS NS_PER_S

_Static_assert(RUN_MAX_WATCH <= REPORT_MAX_TARGETS, "every watched process has a summary");

static void rfc3339_now(char *out, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%.20s.%03dZ", base, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* A time-series row from one interval's stats. */
static void fill_row(struct ts_row *row, const struct stats *iv, double t)
{
    memset(row, 0, sizeof *row);
    row->t = t;
    row->open = iv->open;
    row->attempted = iv->ctr[CTR_CONNECTIONS_ATTEMPTED];
    row->opened = iv->ctr[CTR_CONNECTIONS_OPENED];
    row->failed = iv->ctr[CTR_CONNECTIONS_FAILED];
    row->closed = iv->ctr[CTR_CONNECTIONS_CLOSED];
    row->reconnects = iv->ctr[CTR_CONNECTIONS_RECONNECTS];
    row->pending = iv->ctr[CTR_CONNECTIONS_PENDING];
    row->connecting = iv->connecting;
    row->sent = iv->ctr[CTR_MESSAGES_SENT] + iv->ctr[CTR_PINGS_SENT];
    row->received = iv->ctr[CTR_MESSAGES_RECEIVED] + iv->ctr[CTR_PINGS_RECEIVED];
    row->errors = stats_errors_total(iv);
    for (int m = 0; m < M_COUNT; m++)
        report_row_set_hist(row, m, iv->hist[m]); /* out of memory: the row has no hdr[m] */
}

/* What was recorded after the last tick (the workers' last words, fan-out settled at the end)
 * joins the last row's histograms, so that the rows add up to the totals (--hlog). */
static void last_row_add(struct ts_row *row, const struct stats *rest)
{
    for (int m = 0; m < M_COUNT; m++) {
        if (!rest->hist[m]->total_count)
            continue;
        struct hist *h = NULL;
        if (row->hdr[m] && hist_v2_decode(row->hdr[m], strlen(row->hdr[m]), &h) != 0)
            continue;
        if (!h)
            h = hist_new_default();
        if (h && hist_add(h, rest->hist[m]) == 0)
            report_row_set_hist(row, m, h);
        hist_free(h);
    }
}

/* The metric the live line shows: the one the role times. */
static int live_metric(const struct client_params *p)
{
    switch (p->role) {
    case ROLE_PING:
    case ROLE_ECHO: return M_RTT;
    case ROLE_SUBSCRIBE: return M_LATENCY;
    default: return M_READY;
    }
}

/* One client run of a `herd run`: the single URL, or one group of a scenario. */
struct group_run {
    const char *name; /* NULL: the single-URL run */
    struct run_options *o;
    struct client_run *run;
    struct stats total, iv;
    int64_t peak, open_at_end;
    int64_t connecting_at_end; /* attempts in flight as the run ended */
    uint64_t stop_at;
    int stopping;
};

/* What the reporter needs besides the groups. */
struct run_plan {
    struct group_run *g;
    size_t n;
    int scenario; /* report groups (else the one run is the report) */
    const char *target; /* the report's target */
    const struct threshold *thr; /* the run's thresholds, on the totals */
    size_t nthr;
    struct report_outputs outs; /* the summary and the report files */
    int quiet;
    int allow_empty; /* --allow-empty: a run that measured nothing does not exit 4 */
    const struct report_kv *config;
    size_t nconfig;
    const char *metrics_listen; /* --metrics-listen, or NULL */
    const int *watch_pid; /* --watch-pid */
    size_t nwatch;
    uint64_t start_at_real_ns; /* --start-at, 0 = at once */
};

/* The reporter's state: the run's totals and time series, and how the run is ending. */
struct reporter {
    sigset_t sigs; /* SIGINT and SIGTERM, blocked, taken with sigtimedwait */
    uint64_t t0, next_tick, last_tick;
    struct stats total, iv;
    struct ts_row *rows;
    size_t nrows, rows_cap;
    int64_t peak;
    int live; /* the live line on stderr */
    int signals; /* SIGINT/SIGTERM taken */
    int complete; /* 0 once cut short */
    int no_open; /* no connection of some group ever opened */
    struct metrics_http *metrics; /* --metrics-listen */
    struct procwatch watch[RUN_MAX_WATCH]; /* --watch-pid */
    struct report_target targets[RUN_MAX_WATCH];
    size_t nwatch;
};

/* The watched processes' second: each one's sample into its summary and the row's sums; one
 * that is gone is said once on stderr, and the run goes on. */
static void watch_tick(struct reporter *r, struct ts_row *row, uint64_t now)
{
    for (size_t i = 0; i < r->nwatch; i++) {
        struct procwatch_sample smp;
        int was_gone = r->watch[i].gone;
        if (procwatch_sample(&r->watch[i], now, &smp) == 0) {
            report_target_note(&r->targets[i], row, &smp);
            continue;
        }
        report_target_note(&r->targets[i], row, NULL);
        if (!was_gone && r->live)
            fputs("\r\033[K", stderr); /* the live line gives way, and comes back next second */
        if (!was_gone)
            log_warn(
                "herd: warning: --watch-pid: process %d (%s) is gone at %.0fs; its series stops "
                "there",
                r->watch[i].pid, r->watch[i].name, row->t);
    }
}

/* --metrics-listen: the figures as they stand, for the next scrape. */
static void metrics_tick(const struct run_plan *pl, struct reporter *r, const struct stats *total,
                         const struct ts_row *row, int64_t open, int64_t connecting, uint64_t now)
{
    if (!r->metrics)
        return;
    struct report_live l = {
        .tool_version = HERD_VERSION,
        .total = total,
        .open = open,
        .connecting = connecting,
        .peak = r->peak,
        .elapsed_s = (double)(now - r->t0) / 1e9,
        .row = row,
    };
    struct report_live_group *groups = NULL;
    if (pl->scenario) {
        groups = xcalloc(pl->n, sizeof *groups);
        for (size_t i = 0; i < pl->n; i++)
            groups[i] =
                (struct report_live_group){pl->g[i].name, &pl->g[i].total, pl->g[i].open_at_end};
        l.groups = groups;
        l.ngroups = pl->n;
    }
    char *text = NULL;
    long len = report_prom_render(&l, &text);
    if (len >= 0)
        metrics_http_publish(r->metrics, text, (size_t)len);
    free(groups);
}

/* The end of group g's run: its stages' total from the start, or -d after the first connection
 * of any group opened; 0 while that is unknown or once it is stopping. */
static uint64_t group_deadline(const struct group_run *g, uint64_t t0, uint64_t first_any)
{
    const struct client_params *p = &g->o->client;
    if (g->stopping)
        return 0;
    if (p->nstages)
        return t0 + p->duration_ns;
    return first_any ? first_any + p->duration_ns : 0;
}

static void group_stop(struct group_run *g, uint64_t at, int abrupt)
{
    if (g->stopping && !abrupt)
        return;
    if (!g->stopping)
        g->stop_at = at;
    g->stopping = 1;
    client_run_stop(g->run, abrupt ? 0 : 2 * NS_PER_S, abrupt);
}

/* When the first connection of any group opened, 0 while none has. */
static uint64_t first_open_any(const struct run_plan *pl)
{
    uint64_t first = 0;
    for (size_t i = 0; i < pl->n; i++) {
        uint64_t f = client_run_first_open_ns(pl->g[i].run);
        if (f && (!first || f < first))
            first = f;
    }
    return first;
}

/* At the end of a run: a local limit that kept it below the connections asked for gets one line
 * on stderr naming the limit and what to do about it. */
static void limit_say(const struct report_limit *l, unsigned long nofile)
{
    if (!l->asked)
        return;
    fprintf(stderr, "herd: reached %llu of %llu connections: ", (unsigned long long)l->reached,
            (unsigned long long)l->asked);
    if (strcmp(l->cause, "ports") == 0)
        fprintf(stderr,
                "local ports ran out for the address pair (EADDRNOTAVAIL, %llu times); add "
                "source addresses with --bind 127.0.0.2-127.0.0.40\n",
                (unsigned long long)l->errors);
    else if (strcmp(l->cause, "descriptors") == 0)
        fprintf(stderr,
                "the process ran out of file descriptors (EMFILE/ENFILE, %llu times; its limit "
                "is %lu); raise ulimit -n or spread the run with --procs N\n",
                (unsigned long long)l->errors, nofile);
    else
        fprintf(stderr,
                "the kernel refused memory for sockets (ENOMEM/ENOBUFS, %llu times); see "
                "net.ipv4.tcp_mem and net.core.*mem\n",
                (unsigned long long)l->errors);
}

static const char *no_open_reason(const struct stats *s)
{
    return s->err[ERR_REFUSED]       ? "connection refused"
           : s->err[ERR_TIMEOUT]     ? "timed out"
           : s->err[ERR_HTTP_STATUS] ? "the server answered with an HTTP error"
           : s->err[ERR_HANDSHAKE]   ? "bad handshake reply"
           : s->err[ERR_TLS]         ? "TLS handshake failed"
           : s->err[ERR_PORTS]       ? "no local port left"
           : s->err[ERR_DESCRIPTORS] ? "no file descriptor left"
                                     : "see errors in the report";
}

/* ---- before: descriptors, the groups' workers ---- */

/* Descriptors: one per connection of this shard, plus a reserve. Sets *asked to the
 * connections this process is to hold. Returns 0, or EXIT_USAGE (said on stderr). */
static int descriptors_check(const struct run_plan *pl, unsigned long nofile, uint64_t *asked)
{
    uint64_t mine = 1;
    *asked = 0;
    for (size_t i = 0; i < pl->n; i++) {
        const struct client_params *p = &pl->g[i].o->client;
        mine += p->connections / (p->shard_count ? p->shard_count : 1);
        *asked += shard_share(p->connections, p->shard_index, p->shard_count);
    }
    if (mine + FD_RESERVE <= nofile)
        return 0;
    fprintf(stderr,
            "herd: -c: %llu connections need %llu file descriptors, but this process may "
            "hold %lu (hard limit); run shards with --shard I/N in several processes\n",
            (unsigned long long)(mine - 1), (unsigned long long)(mine + FD_RESERVE), nofile);
    return EXIT_USAGE;
}

/* sched_setattr's argument (the first version of struct sched_attr, which every kernel that
 * has the call accepts; glibc has no wrapper before 2.41). */
struct start_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};

/* For the last stretch before --start-at, ask the scheduler for a short slice (Linux 6.12 and
 * later, EEVDF: a waking task with a shorter slice preempts the running one, where it would
 * otherwise wait its turn behind every runnable task of a busy CPU). *saved receives the
 * thread's attributes to restore; returns 0 when the slice was set, -1 when the kernel does not
 * have this (nothing changed then). */
static int start_slice_short(struct start_sched_attr *saved)
{
    memset(saved, 0, sizeof *saved);
    if (syscall(SYS_sched_getattr, 0, saved, (unsigned)sizeof *saved, 0u) != 0 ||
        saved->sched_policy != SCHED_OTHER)
        return -1;
    struct start_sched_attr a = *saved;
    a.size = sizeof a;
    a.sched_runtime = 100 * NS_PER_US;
    return syscall(SYS_sched_setattr, 0, &a, 0u) == 0 ? 0 : -1;
}

/* --start-at: sleep until the instant at_real_ns. The last stretch is one clock_nanosleep on
 * CLOCK_REALTIME with TIMER_ABSTIME, which wakes at the instant however the clock was set in
 * between (shards on several hosts agree on wall-clock time, not on monotonic time); before it,
 * SIGINT and SIGTERM (blocked, in sigs) are taken in slices of at most a second, so that a
 * run waiting for its start can still be stopped. The whole wait runs with a short scheduler
 * slice (start_slice_short), so that neither wake-up waits behind a busy CPU's other tasks;
 * *actual_real_ns is read on waking, before the slice is given back (which may let another task
 * run first). Returns 0, or the signal that stopped it. */
static int start_wait(uint64_t at_real_ns, const sigset_t *sigs, uint64_t *actual_real_ns)
{
    const uint64_t last_stretch = 200 * NS_PER_MS;
    struct start_sched_attr saved;
    int slice = start_slice_short(&saved);
    int sig = 0;
    for (;;) {
        uint64_t now = real_ns();
        if (now >= at_real_ns)
            break;
        uint64_t left = at_real_ns - now;
        if (left > last_stretch) {
            uint64_t w = left - last_stretch / 2;
            w = w > NS_PER_S ? NS_PER_S : w;
            struct timespec ts = {(time_t)(w / NS_PER_S), (long)(w % NS_PER_S)};
            int got = sigtimedwait(sigs, NULL, &ts);
            if (got == SIGINT || got == SIGTERM) {
                sig = got;
                break;
            }
            continue;
        }
        struct timespec at = {(time_t)(at_real_ns / NS_PER_S), (long)(at_real_ns % NS_PER_S)};
        if (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, NULL) != EINTR)
            break;
    }
    *actual_real_ns = real_ns();
    if (slice == 0) { /* back to the slice it had, before any worker is started */
        saved.size = sizeof saved;
        syscall(SYS_sched_setattr, 0, &saved, 0u);
    }
    return sig;
}

/* Start every group's client run. Returns 0, or EXIT_NORUN (said on stderr) with none left
 * running. */
static int groups_start(struct run_plan *pl)
{
    char err[512] = "";
    for (size_t i = 0; i < pl->n; i++) {
        struct group_run *g = &pl->g[i];
        g->run = client_run_start(&g->o->client, err, sizeof err);
        if (!g->run) {
            if (g->name)
                fprintf(stderr, "herd: group %s: %s\n", g->name, err);
            else
                fprintf(stderr, "herd: %s\n", err);
            for (size_t k = 0; k < i; k++) {
                client_run_stop(pl->g[k].run, 0, 1);
                client_run_join(pl->g[k].run);
                client_run_free(pl->g[k].run);
            }
            return EXIT_NORUN;
        }
        stats_init(&g->total);
        stats_init(&g->iv);
    }
    return 0;
}

/* ---- during: the reporter loop and the stop policy ---- */

/* One tick: collect every group's interval into its totals and the run's, one time-series row,
 * the live line. */
static void reporter_tick(struct run_plan *pl, struct reporter *r, uint64_t now)
{
    struct stats *iv = &r->iv;
    for (size_t i = 0; i < pl->n; i++) {
        struct group_run *g = &pl->g[i];
        client_run_collect(g->run, &g->iv);
        if (g->iv.peak > g->peak)
            g->peak = g->iv.peak;
        if (g->iv.open > g->peak)
            g->peak = g->iv.open;
        stats_merge(&g->total, &g->iv);
        if (!g->stopping) { /* open and connecting as the run ended, before herd's own closes */
            g->open_at_end = g->iv.open;
            g->connecting_at_end = g->iv.connecting;
        }
        stats_merge(iv, &g->iv); /* open, connecting and the interval peaks add up */
        stats_reset(&g->iv);
        g->iv.open = g->iv.peak = g->iv.connecting = 0;
    }
    if (iv->peak > r->peak)
        r->peak = iv->peak;
    if (iv->open > r->peak)
        r->peak = iv->open;
    stats_merge(&r->total, iv);
    if (r->nrows == r->rows_cap) {
        r->rows_cap *= 2;
        r->rows = xrealloc(r->rows, r->rows_cap * sizeof *r->rows);
    }
    struct ts_row *row = &r->rows[r->nrows++];
    fill_row(row, iv, (double)(now - r->t0) / 1e9);
    watch_tick(r, row, now);
    metrics_tick(pl, r, &r->total, row, row->open, row->connecting, now);
    if (r->live)
        report_live_print(stderr, row, (double)(now - r->last_tick) / 1e9,
                          live_metric(&pl->g[0].o->client));
    r->last_tick = now;
    stats_reset(iv);
    iv->open = iv->peak = iv->connecting = 0;
}

/* After a tick, what ends which group: its deadline (a graceful stop); no connection of some
 * group ever opened, every attempt having failed or none finished in time (the whole run stops
 * at once: it cannot be what was asked); every connection of a group gone for good (a server
 * that vanished: that group stops, marked incomplete). */
static void stop_policy(struct run_plan *pl, struct reporter *r, uint64_t now, uint64_t first_any)
{
    for (size_t i = 0; i < pl->n; i++) {
        struct group_run *g = &pl->g[i];
        const struct client_params *p = &g->o->client;
        if (g->stopping)
            continue;
        uint64_t d = group_deadline(g, r->t0, first_any);
        uint64_t first = client_run_first_open_ns(g->run);
        if (d && now >= d) {
            group_stop(g, d, 0);
        } else if (!first && (client_run_live(g->run) == 0 ||
                              (!p->nstages && now > r->t0 + p->timeout_ns + TICK_NS))) {
            r->no_open = 1;
            r->complete = 0;
            for (size_t k = 0; k < pl->n; k++)
                group_stop(&pl->g[k], now, 1);
            return;
        } else if (first && client_run_live(g->run) == 0) {
            r->complete = 0;
            group_stop(g, now, 1);
        }
    }
}

/* Be the reporter until every group's run is done: wake at each tick, at a group's deadline
 * (exactly: no traffic runs past what the report says) and on SIGINT/SIGTERM (the first stops
 * every group gracefully, a second at once). */
static void reporter_loop(struct run_plan *pl, struct reporter *r)
{
    for (;;) {
        uint64_t now = mono_ns();
        uint64_t first_any = first_open_any(pl);
        uint64_t wake = r->next_tick;
        int stopping_any = 0, all_done = 1;
        for (size_t i = 0; i < pl->n; i++) {
            uint64_t d = group_deadline(&pl->g[i], r->t0, first_any);
            if (d && d < wake)
                wake = d;
            stopping_any |= pl->g[i].stopping;
            all_done &= client_run_done(pl->g[i].run);
        }
        uint64_t wait = wake > now ? wake - now : 0;
        if (stopping_any && wait > 20 * NS_PER_MS) /* notice the workers finishing promptly */
            wait = 20 * NS_PER_MS;
        struct timespec ts = {(time_t)(wait / NS_PER_S), (long)(wait % NS_PER_S)};
        int sig = wait && !all_done ? sigtimedwait(&r->sigs, NULL, &ts) : -1;
        if (sig == SIGINT || sig == SIGTERM) {
            r->signals++;
            r->complete = 0;
            for (size_t i = 0; i < pl->n; i++)
                group_stop(&pl->g[i], mono_ns(), r->signals > 1);
            continue;
        }
        now = mono_ns();
        int end_now = 0;
        all_done = 1;
        for (size_t i = 0; i < pl->n; i++) {
            uint64_t d = group_deadline(&pl->g[i], r->t0, first_any);
            end_now |= d && now >= d;
            all_done &= client_run_done(pl->g[i].run);
        }
        if (now < r->next_tick && !end_now && !all_done)
            continue;
        r->next_tick += TICK_NS;
        if (r->next_tick < now)
            r->next_tick = now + TICK_NS;
        reporter_tick(pl, r, now);
        if (all_done)
            return;
        stop_policy(pl, r, now, first_any);
    }
}

/* ---- after: the last figures, the report, the outputs ---- */

/* Join every group and take what was recorded after the last tick; the groups' and the run's
 * open and connecting (as the run ended) and peak; the messages each subscriber never saw after
 * its last one (client_runs_count_unseen: what every group's subscribers saw and its publishers
 * sent). Returns when the last group stopped. */
static uint64_t groups_finish(struct run_plan *pl, struct reporter *r)
{
    uint64_t stop_at = 0;
    for (size_t i = 0; i < pl->n; i++) {
        struct group_run *g = &pl->g[i];
        client_run_join(g->run);
        client_run_collect(g->run, &g->iv); /* anything recorded after the last tick */
        stats_merge(&g->total, &g->iv);
        stats_merge(&r->total, &g->iv);
        if (r->nrows)
            last_row_add(&r->rows[r->nrows - 1], &g->iv);
        g->total.open = g->open_at_end;
        g->total.connecting = g->connecting_at_end;
        g->total.peak = g->peak;
        stop_at = g->stop_at > stop_at ? g->stop_at : stop_at;
    }
    struct client_run **runs = xcalloc(pl->n, sizeof *runs);
    struct stats **totals = xcalloc(pl->n, sizeof *totals);
    uint64_t *before = xcalloc(pl->n, sizeof *before);
    for (size_t i = 0; i < pl->n; i++) {
        runs[i] = pl->g[i].run;
        totals[i] = &pl->g[i].total;
        before[i] = pl->g[i].total.ctr[CTR_MESSAGES_UNSEEN];
    }
    client_runs_count_unseen(runs, pl->n, totals);
    for (size_t i = 0; i < pl->n; i++) {
        /* The run's total gets what each group got: unseen, and as many more expected. */
        uint64_t unseen = pl->g[i].total.ctr[CTR_MESSAGES_UNSEEN] - before[i];
        r->total.ctr[CTR_MESSAGES_UNSEEN] += unseen;
        r->total.ctr[CTR_FANOUT_EXPECTED] += unseen;
    }
    free(before);
    free(totals);
    free(runs);
    r->total.open = r->total.connecting = 0;
    for (size_t i = 0; i < pl->n; i++) {
        r->total.open += pl->g[i].open_at_end;
        r->total.connecting += pl->g[i].connecting_at_end;
    }
    r->total.peak = r->peak;
    if (r->live)
        fputs("\r\033[K", stderr);
    return stop_at;
}

/* Fill the report from the run's figures; evaluate the thresholds. Returns how many failed. */
static int report_fill(const struct run_plan *pl, const struct reporter *r, struct report *rep,
                       uint64_t stop_at, uint64_t asked)
{
    const struct client_params *p0 = &pl->g[0].o->client;
    int any_stages = 0;
    for (size_t i = 0; i < pl->n; i++)
        any_stages |= pl->g[i].o->client.nstages != 0;
    uint64_t first = first_open_any(pl);
    rep->tool_version = HERD_VERSION;
    /* Attempts still connecting as the run ended: how they went is not in the report (and the
     * connection figures leave them out), so it is not complete either. */
    rep->complete = r->complete && r->total.connecting == 0;
    rep->target = pl->target;
    uint64_t begin = any_stages ? r->t0 : first;
    rep->duration_s = begin && stop_at > begin ? (double)(stop_at - begin) / 1e9 : 0.0;
    rep->shards = 1;
    rep->total = &r->total;
    rep->rows = r->rows;
    rep->nrows = r->nrows;
    memcpy(rep->config, pl->config, pl->nconfig * sizeof pl->config[0]);
    rep->nconfig = pl->nconfig;
    report_env_fill(&rep->env);
    /* --stages: this process's targets, judged from the time series (single-URL runs). */
    double stage_start = 0;
    for (size_t k = 0; !pl->scenario && k < p0->nstages && k < REPORT_MAX_STAGES; k++) {
        struct report_stage *st = &rep->stages[rep->nstages++];
        st->target = shard_share(p0->stages[k].target, p0->shard_index, p0->shard_count);
        st->start_s = stage_start;
        stage_start += (double)p0->stages[k].dur_ns / 1e9;
        st->end_s = stage_start;
    }
    report_stages_eval(rep);
    for (size_t i = 0; pl->scenario && i < pl->n && i < REPORT_MAX_GROUPS; i++) {
        const struct group_run *g = &pl->g[i];
        struct report_group *rg = &rep->groups[rep->ngroups++];
        rg->name = g->name;
        rg->target = g->o->client.url_text;
        rg->role = g->o->client.flow ? "flow" : client_role_name[g->o->client.role];
        rg->stats = &g->total;
        rg->config = g->o->config;
        rg->nconfig = g->o->nconfig;
    }
    report_limit_check(&r->total, asked, &rep->limit);
    int failed = report_thresholds_eval(rep, pl->thr, pl->nthr);
    for (size_t i = 0; i < rep->ngroups; i++)
        failed +=
            report_group_thresholds_eval(rep, i, pl->g[i].o->thresholds, pl->g[i].o->nthresholds);
    return failed;
}

/* What went wrong that the report's figures do not say in words: groups that never opened a
 * connection (and why), the first reason of each class of failure, a local limit, the report's
 * warnings (which a child of --procs leaves to its parent, which says them of the merged
 * figures). One line each on stderr. */
static void run_diagnose(const struct run_plan *pl, const struct report *rep, unsigned long nofile)
{
    for (size_t i = 0; i < pl->n; i++) {
        const struct group_run *g = &pl->g[i];
        if (client_run_first_open_ns(g->run))
            continue;
        if (g->name)
            fprintf(stderr, "herd: group %s: no connection opened to %s (%s)\n", g->name,
                    g->o->client.url_text, no_open_reason(&g->total));
        else
            fprintf(stderr, "herd: no connection opened to %s (%s)\n", g->o->client.url_text,
                    no_open_reason(&g->total));
    }
    for (size_t i = 0; i < pl->n; i++) {
        const struct group_run *g = &pl->g[i];
        for (int cls = 0; cls < ERR_COUNT; cls++) {
            const char *why = g->total.err[cls] ? client_run_why(g->run, cls) : NULL;
            if (why)
                fprintf(stderr, "herd: %s%s%serrors.%s: %llu; the first: %s\n",
                        g->name ? "group " : "", g->name ? g->name : "", g->name ? ": " : "",
                        err_class_name[cls], (unsigned long long)g->total.err[cls], why);
        }
    }
    limit_say(&rep->limit, nofile);
    if (!procs_is_child())
        report_warnings_print(stderr, rep);
}

/* Start every group's run, be the reporter until all are done, write the outputs. The outputs
 * are checked first: a report that cannot be written is a usage error before anything
 * connects, not a surprise after the run. */
static int run_plan_execute(struct run_plan *pl)
{
    char err[600];
    if (report_outputs_check(&pl->outs, err, sizeof err) != 0) {
        fprintf(stderr, "herd: %s\n", err);
        return EXIT_USAGE;
    }
    unsigned long nofile = syslimits_nofile_raise();
    uint64_t asked;
    int code = descriptors_check(pl, nofile, &asked);
    if (code != 0)
        return code;

    struct reporter r = {.complete = 1, .rows_cap = 64};
    sigemptyset(&r.sigs);
    sigaddset(&r.sigs, SIGINT);
    sigaddset(&r.sigs, SIGTERM);
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &r.sigs, &old);
    signal(SIGPIPE, SIG_IGN);

    /* --watch-pid and --metrics-listen: a process that is not there, or a port in use, is bad
     * usage, found before any connection opens. */
    for (size_t i = 0; i < pl->nwatch && i < RUN_MAX_WATCH; i++) {
        if (procwatch_open(&r.watch[i], pl->watch_pid[i], mono_ns(), err, sizeof err) != 0) {
            fprintf(stderr, "herd: %s\n", err);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            return EXIT_USAGE;
        }
        report_target_init(&r.targets[i], r.watch[i].pid, r.watch[i].name);
        r.nwatch++;
    }
    if (pl->metrics_listen) {
        r.metrics = metrics_http_start(pl->metrics_listen, err, sizeof err);
        if (!r.metrics) {
            fprintf(stderr, "herd: %s\n", err);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            return EXIT_USAGE;
        }
    }

    /* The report is large (threshold results, groups): keep it off the stack. */
    struct report *rep = xcalloc(1, sizeof *rep);
    if (pl->start_at_real_ns) {
        uint64_t now = real_ns();
        if (!pl->quiet && now < pl->start_at_real_ns)
            fprintf(stderr, "herd: starting in %.3f s (--start-at)\n",
                    (double)(pl->start_at_real_ns - now) / 1e9);
        uint64_t actual = 0;
        int sig = start_wait(pl->start_at_real_ns, &r.sigs, &actual);
        if (sig) {
            fprintf(stderr, "herd: %s before --start-at: nothing ran\n", strsignal(sig));
            free(rep);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            return EXIT_NORUN;
        }
        /* The schedule runs on the monotonic clock from here: t0 is taken right after. */
        rep->start = (struct report_start){pl->start_at_real_ns, actual, actual,
                                           (int64_t)(actual - pl->start_at_real_ns), 1};
    }
    rfc3339_now(rep->started_at, sizeof rep->started_at);
    rep->run_id = getenv("HERD_RUN_ID");
    r.t0 = mono_ns();
    code = groups_start(pl);
    if (code != 0) {
        metrics_http_stop(r.metrics);
        free(rep);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return code;
    }
    stats_init(&r.total);
    stats_init(&r.iv);
    r.rows = xcalloc(r.rows_cap, sizeof *r.rows);
    r.live = !pl->quiet && isatty(STDERR_FILENO);
    r.next_tick = r.t0 + TICK_NS;
    r.last_tick = r.t0;
    metrics_tick(pl, &r, &r.total, NULL, 0, 0, r.t0); /* zeros until the first second is in */

    reporter_loop(pl, &r);
    uint64_t stop_at = groups_finish(pl, &r);

    memcpy(rep->targets, r.targets, r.nwatch * sizeof r.targets[0]);
    rep->ntargets = r.nwatch;
    int failed = report_fill(pl, &r, rep, stop_at, asked);
    /* The last scrape sees the final figures. */
    if (r.nrows)
        metrics_tick(pl, &r, &r.total, &r.rows[r.nrows - 1], r.total.open, r.total.connecting,
                     mono_ns());
    int empty = report_warnings_derive(rep);
    int all_opened = 1;
    for (size_t i = 0; i < pl->n; i++)
        all_opened &= client_run_first_open_ns(pl->g[i].run) != 0;
    code = r.no_open || !all_opened    ? EXIT_NORUN
           : empty && !pl->allow_empty ? EXIT_EMPTY
           : failed                    ? EXIT_THRESHOLD
                                       : EXIT_OK;
    if (report_outputs_write(&pl->outs, rep) != 0)
        code = code ? code : EXIT_NORUN;
    run_diagnose(pl, rep, nofile);
    metrics_http_stop(r.metrics);

    for (size_t i = 0; i < pl->n; i++) {
        client_run_free(pl->g[i].run);
        stats_free(&pl->g[i].total);
        stats_free(&pl->g[i].iv);
    }
    stats_free(&r.total);
    stats_free(&r.iv);
    report_rows_free(r.rows, r.nrows);
    free(r.rows);
    free(rep);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return code;
}

int run_execute(struct run_options *o, FILE *out)
{
    struct group_run g = {.o = o};
    struct run_plan pl = {
        .g = &g,
        .n = 1,
        .target = o->client.url_text,
        .thr = o->thresholds,
        .nthr = o->nthresholds,
        .quiet = o->client.quiet,
        .allow_empty = o->allow_empty,
        .config = o->config,
        .nconfig = o->nconfig,
        .metrics_listen = o->metrics_listen,
        .watch_pid = o->watch_pid,
        .nwatch = o->nwatch,
        .start_at_real_ns = o->start_at_real_ns,
    };
    cli_run_outputs(o, out, &pl.outs);
    return run_plan_execute(&pl);
}

/* Online CPUs, for sharing them out between groups. */
static unsigned ncpus_online(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* The report's "config" of a scenario run: the file, the number of groups, the connections in
 * all, the duration; each group's own options are in its "config". Strings go to top's arena. */
static void scenario_config(struct scenario *s)
{
    struct run_options *t = &s->top;
    t->nconfig = 0;
    t->arena_used = 0;
    char buf[4][64];
    snprintf(buf[0], sizeof buf[0], "%zu", s->ngroups);
    snprintf(buf[1], sizeof buf[1], "%llu", (unsigned long long)s->connections);
    snprintf(buf[2], sizeof buf[2], "%.9g", (double)t->client.duration_ns / 1e9);
    snprintf(buf[3], sizeof buf[3], "%u/%u", t->client.shard_index, t->client.shard_count);
    const char *keys[] = {"file",  "groups", "connections", "duration",
                          "shard", "procs",  "allow_empty"};
    char procs[16];
    snprintf(procs, sizeof procs, "%u", t->client.procs);
    const char *vals[] = {s->name, buf[0], buf[1], buf[2], buf[3], procs, "true"};
    const int num[] = {0, 1, 1, 1, 0, 1, 1};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (i == 4 && t->client.shard_count <= 1)
            continue;
        if (i == 5 && !t->client.procs)
            continue;
        if (i == 6 && !t->allow_empty)
            continue;
        size_t len = strlen(vals[i]) + 1;
        if (t->arena_used + len > sizeof t->arena || t->nconfig == REPORT_MAX_CONFIG)
            break;
        char *dst = t->arena + t->arena_used;
        memcpy(dst, vals[i], len);
        t->arena_used += len;
        t->config[t->nconfig++] = (struct report_kv){keys[i], dst, num[i]};
    }
    /* --metrics-listen and --watch-pid, as a single-URL run's config has them */
    char pids[RUN_MAX_WATCH * 12] = "";
    size_t used = 0;
    for (size_t i = 0; i < t->nwatch; i++)
        used += (size_t)snprintf(pids + used, sizeof pids - used, "%s%d", i ? "," : "",
                                 t->watch_pid[i]);
    const char *more_keys[] = {"metrics_listen", "watch_pid"};
    const char *more_vals[] = {t->metrics_listen, t->nwatch ? pids : NULL};
    for (size_t i = 0; i < 2; i++) {
        size_t len = more_vals[i] ? strlen(more_vals[i]) + 1 : 0;
        if (!len || t->arena_used + len > sizeof t->arena || t->nconfig == REPORT_MAX_CONFIG)
            continue;
        char *dst = t->arena + t->arena_used;
        memcpy(dst, more_vals[i], len);
        t->arena_used += len;
        t->config[t->nconfig++] = (struct report_kv){more_keys[i], dst, 0};
    }
}

/* --check: what would run. */
static void check_print(FILE *out, const struct scenario *s, const struct run_options *single)
{
    if (single) {
        const struct client_params *p = &single->client;
        fprintf(out, "ok: %s  %s  %llu connections  %u threads\n", p->url_text,
                p->flow ? "flow" : client_role_name[p->role], (unsigned long long)p->connections,
                p->threads);
        if (p->flow)
            flow_print(out, p->flow, "  ");
        return;
    }
    fprintf(out, "%s: %zu groups, %llu connections\n", s->name, s->ngroups,
            (unsigned long long)s->connections);
    for (size_t i = 0; i < s->ngroups; i++) {
        const struct scenario_group *g = &s->groups[i];
        const struct client_params *p = &g->opts.client;
        char dur[32];
        report_fmt_us(dur, sizeof dur, (double)p->duration_ns / 1e3);
        fprintf(out, "  %-16s %-9s %6llu connections  %s%s  %u threads  %s\n", g->name,
                p->flow ? "flow" : client_role_name[p->role], (unsigned long long)p->connections,
                p->nstages ? "stages " : "", dur, p->threads, p->url_text);
        for (size_t k = 0; k < g->opts.nthresholds; k++)
            fprintf(out, "  %-16s threshold %s\n", "", g->opts.thresholds[k].expr);
        if (p->flow)
            flow_print(out, p->flow, "    ");
    }
    for (size_t k = 0; k < s->top.nthresholds; k++)
        fprintf(out, "  threshold %s\n", s->top.thresholds[k].expr);
}

/* --check: the report files o asks for can be written (as run_plan_execute and procs_execute
 * check before a run). Returns 0, or EXIT_USAGE said on stderr. */
static int outputs_check(const struct run_options *o)
{
    struct report_outputs outs;
    char err[600];
    cli_run_outputs(o, NULL, &outs);
    if (report_outputs_check(&outs, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "herd: %s\n", err);
    return EXIT_USAGE;
}

/* --bind and what the engine would refuse that is the user's to fix (a TLS file it cannot
 * load, say) are checked here, before any process or connection starts, so that they are usage
 * errors (exit 2) like every other bad option. Prints the message; returns 0 when fine. */
static int bind_check(const struct run_options *o, const char *group)
{
    char err[512] = "";
    if (o->client.bind) {
        struct net_addr *a = xcalloc(CLIENT_MAX_BIND, sizeof *a);
        const char *why = NULL;
        int n = net_parse_addrs(o->client.bind, a, CLIENT_MAX_BIND, &why);
        free(a);
        if (n <= 0)
            snprintf(err, sizeof err, "--bind: %s (got \"%s\")", why ? why : "no address",
                     o->client.bind);
    }
    if (!err[0] && client_params_check(&o->client, err, sizeof err) == 0)
        return 0;
    if (group)
        fprintf(stderr, "herd: group %s: %s\n", group, err);
    else
        fprintf(stderr, "herd: %s\n", err);
    return -1;
}

struct overrides {
    struct scenario_override *v;
    size_t n, cap;
};

static int override_add(void *ctx, const char *name, const char *value)
{
    struct overrides *ov = ctx;
    if (ov->n == ov->cap) {
        ov->cap = ov->cap ? ov->cap * 2 : 16;
        ov->v = xrealloc(ov->v, ov->cap * sizeof *ov->v);
    }
    ov->v[ov->n++] = (struct scenario_override){name, value};
    return 0;
}

/* herd run -f FILE: parse (the command line over the top-level keys), check, run. */
static int cmd_run_scenario(struct run_options *o, int argc, char **argv)
{
    if (o->client.url_text) {
        fprintf(stderr, "herd: -f: the URLs come from the scenario file; give no URL with -f\n");
        return EXIT_USAGE;
    }
    struct overrides ov = {0};
    cli_run_walk(argc, argv, override_add, &ov);
    struct scenario_input in = {ov.v, ov.n, 0};
    struct scenario *s = xcalloc(1, sizeof *s);
    char err[512];
    int rc;
    if (scenario_parse_file(o->scenario_path, &in, s, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        rc = EXIT_USAGE;
        goto out;
    }
    scenario_threads_assign(s, ncpus_online());
    s->top.client.connections = s->connections;
    scenario_config(s);
    if (o->check) {
        rc = outputs_check(&s->top);
        if (rc == EXIT_OK)
            check_print(stdout, s, NULL);
        goto out;
    }
    for (size_t i = 0; i < s->ngroups; i++) {
        if (bind_check(&s->groups[i].opts, s->groups[i].name) != 0) {
            rc = EXIT_USAGE;
            goto out;
        }
    }
    if (s->top.client.quiet)
        log_level = LOG_WARN;
    /* --procs N (or procs: N), or as many processes as the descriptor limit asks for; a child
     * of --procs runs its shard itself. */
    unsigned procs = procs_is_child()      ? 1
                     : s->top.client.procs ? s->top.client.procs
                                           : procs_needed(&s->top);
    if (procs > 1) {
        rc = procs_execute(&s->top, procs, argc, argv, stdout);
        goto out;
    }
    struct group_run *g = xcalloc(s->ngroups, sizeof *g);
    for (size_t i = 0; i < s->ngroups; i++) {
        g[i].name = s->groups[i].name;
        g[i].o = &s->groups[i].opts;
    }
    /* Connection numbers (and so stamp publisher ids) stay unique across groups. */
    uint64_t base = 0;
    for (size_t i = 0; i < s->ngroups; i++) {
        s->groups[i].opts.client.index_base = (uint32_t)base;
        base += s->groups[i].opts.client.connections;
    }
    /* The report's target: the URL every group shares, or none. */
    const char *target = s->groups[0].opts.client.url_text;
    for (size_t i = 1; i < s->ngroups && target; i++) {
        if (strcmp(target, s->groups[i].opts.client.url_text) != 0)
            target = NULL;
    }
    struct run_plan pl = {
        .g = g,
        .n = s->ngroups,
        .scenario = 1,
        .target = target,
        .thr = s->top.thresholds,
        .nthr = s->top.nthresholds,
        .quiet = s->top.client.quiet,
        .allow_empty = s->top.allow_empty,
        .config = s->top.config,
        .nconfig = s->top.nconfig,
        .metrics_listen = s->top.metrics_listen,
        .watch_pid = s->top.watch_pid,
        .nwatch = s->top.nwatch,
        .start_at_real_ns = s->top.start_at_real_ns,
    };
    cli_run_outputs(&s->top, stdout, &pl.outs);
    rc = run_plan_execute(&pl);
    free(g);
out:
    scenario_free(s);
    free(s);
    free(ov.v);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    struct run_options o;
    char err[512] = "";
    int rc = cli_run_parse(argc, argv, &o, err, sizeof err);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc < 0) {
        fprintf(stderr, "herd: %s\n", err);
        return EXIT_USAGE;
    }
    if (o.scenario_path) {
        rc = cmd_run_scenario(&o, argc, argv);
        cli_run_options_free(&o);
        return rc;
    }
    if (o.check) {
        rc = outputs_check(&o);
        if (rc == EXIT_OK)
            check_print(stdout, NULL, &o);
        cli_run_options_free(&o);
        return rc;
    }
    if (bind_check(&o, NULL) != 0) {
        cli_run_options_free(&o);
        return EXIT_USAGE;
    }
    if (o.client.quiet)
        log_level = LOG_WARN;
    /* --procs N, or as many processes as the descriptor limit asks for. */
    unsigned procs = o.client.procs ? o.client.procs : procs_needed(&o);
    if (procs > 1)
        rc = procs_execute(&o, procs, argc, argv, stdout);
    else
        rc = run_execute(&o, stdout);
    cli_run_options_free(&o);
    return rc;
}

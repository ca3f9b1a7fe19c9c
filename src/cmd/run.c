/* run.c - `herd run`: start the workers, act as the reporter (one collect per second, the live
 * line, the time series), stop on time or on a signal, write the reports, pick the exit code.
 *
 * Signals are blocked in every thread and taken synchronously here with sigtimedwait, so a
 * SIGINT never interrupts a worker mid-write: the first one ends the run gracefully (close
 * frames, reports marked incomplete), a second one ends it at once, still writing the reports. */
#include "cmd/cmd.h"

#include "base/clock.h"
#include "base/log.h"
#include "client/client.h"
#include "report/report.h"
#include "stats/stats.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define TICK_NS NS_PER_S

unsigned long raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (unsigned long)rl.rlim_cur;
}

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
    row->sent = iv->ctr[CTR_MESSAGES_SENT] + iv->ctr[CTR_PINGS_SENT];
    row->received = iv->ctr[CTR_MESSAGES_RECEIVED] + iv->ctr[CTR_PINGS_RECEIVED];
    row->errors = stats_errors_total(iv);
    for (int m = 0; m < M_COUNT; m++) {
        row->count[m] = (uint64_t)iv->hist[m]->total_count;
        if (row->count[m]) {
            row->p50_us[m] = hist_percentile(iv->hist[m], 50.0);
            row->p99_us[m] = hist_percentile(iv->hist[m], 99.0);
        }
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

int run_execute(struct run_options *o, FILE *out)
{
    struct client_params *p = &o->client;
    char err[512] = "";

    /* Descriptors: one per connection of this shard, plus a reserve. */
    unsigned long nofile = raise_nofile();
    uint64_t mine = p->connections / (p->shard_count ? p->shard_count : 1) + 1;
    if (mine + FD_RESERVE > nofile) {
        fprintf(stderr,
                "herd: -c: %llu connections need %llu file descriptors, but this process may "
                "hold %lu (hard limit); run shards with --shard I/N in several processes\n",
                (unsigned long long)p->connections, (unsigned long long)(mine + FD_RESERVE),
                nofile);
        return EXIT_USAGE;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    signal(SIGPIPE, SIG_IGN);

    struct report rep = {0};
    rfc3339_now(rep.started_at, sizeof rep.started_at);
    uint64_t t0 = mono_ns();
    struct client_run *run = client_run_start(p, err, sizeof err);
    if (!run) {
        fprintf(stderr, "herd: %s\n", err);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return EXIT_NORUN;
    }

    struct stats total, iv;
    stats_init(&total);
    stats_init(&iv);
    size_t rows_cap = 64, nrows = 0;
    struct ts_row *rows = xcalloc(rows_cap, sizeof *rows);
    int live = !p->quiet && isatty(STDERR_FILENO);
    int signals = 0, complete = 1, stopping = 0;
    uint64_t stop_at = 0, next_tick = t0 + TICK_NS, last_tick = t0;
    int64_t peak = 0, open_at_end = 0;

    for (;;) {
        uint64_t now = mono_ns();
        /* The end of the run: -d after the first open, or the stages' total from the start.
         * The reporter wakes exactly then, so no traffic runs past what the report says. */
        uint64_t first_ns = client_run_first_open_ns(run);
        uint64_t deadline = stopping     ? 0
                            : p->nstages ? t0 + p->duration_ns
                            : first_ns   ? first_ns + p->duration_ns
                                         : 0;
        uint64_t wake = deadline && deadline < next_tick ? deadline : next_tick;
        uint64_t wait = wake > now ? wake - now : 0;
        if (stopping && wait > 20 * NS_PER_MS) /* notice the workers finishing promptly */
            wait = 20 * NS_PER_MS;
        struct timespec ts = {(time_t)(wait / NS_PER_S), (long)(wait % NS_PER_S)};
        int sig = wait ? sigtimedwait(&sigs, NULL, &ts) : -1;
        if (sig == SIGINT || sig == SIGTERM) {
            signals++;
            complete = 0;
            if (signals == 1 && !stopping) {
                stopping = 1;
                stop_at = mono_ns();
                client_run_stop(run, 2 * NS_PER_S, 0);
            } else {
                client_run_stop(run, 0, 1);
            }
            continue;
        }
        now = mono_ns();
        int end_now = deadline && now >= deadline;
        if (now < next_tick && !end_now && !client_run_done(run))
            continue;
        next_tick += TICK_NS;
        if (next_tick < now)
            next_tick = now + TICK_NS;

        client_run_collect(run, &iv);
        if (iv.peak > peak)
            peak = iv.peak;
        if (iv.open > peak)
            peak = iv.open;
        stats_merge(&total, &iv);
        if (!stopping) /* the report's open count: as the run ended, before herd's own closes */
            open_at_end = iv.open;
        if (nrows == rows_cap) {
            rows_cap *= 2;
            rows = xrealloc(rows, rows_cap * sizeof *rows);
        }
        fill_row(&rows[nrows], &iv, (double)(now - t0) / 1e9);
        if (live)
            report_live_print(stderr, &rows[nrows], (double)(now - last_tick) / 1e9,
                              live_metric(p));
        nrows++;
        last_tick = now;
        stats_reset(&iv);
        iv.open = iv.peak = 0;

        if (client_run_done(run))
            break;
        if (stopping)
            continue;
        uint64_t first = client_run_first_open_ns(run);
        if (end_now) {
            stopping = 1;
            stop_at = deadline;
            client_run_stop(run, 2 * NS_PER_S, 0);
        } else if (!first && (client_run_live(run) == 0 ||
                              (!p->nstages && now > t0 + p->timeout_ns + TICK_NS))) {
            /* Nothing ever opened: every attempt failed or none finished in time. */
            stopping = 1;
            complete = 0;
            stop_at = now;
            client_run_stop(run, 0, 1);
        } else if (first && client_run_live(run) == 0) {
            /* Every connection is gone (a server that vanished) and none will come back. */
            stopping = 1;
            complete = 0;
            stop_at = now;
            client_run_stop(run, 0, 1);
        }
    }
    client_run_join(run);
    client_run_collect(run, &iv); /* anything recorded after the last tick */
    stats_merge(&total, &iv);
    total.open = open_at_end;
    total.peak = peak;
    if (live)
        fputs("\r\033[K", stderr);

    uint64_t first = client_run_first_open_ns(run);
    rep.tool_version = HERD_VERSION;
    rep.complete = complete;
    rep.target = p->url_text;
    uint64_t begin = p->nstages ? t0 : first;
    rep.duration_s = begin && stop_at > begin ? (double)(stop_at - begin) / 1e9 : 0.0;
    rep.shards = 1;
    rep.total = &total;
    rep.rows = rows;
    rep.nrows = nrows;
    memcpy(rep.config, o->config, o->nconfig * sizeof o->config[0]);
    rep.nconfig = o->nconfig;
    /* --stages: this process's targets, judged from the time series. */
    double stage_start = 0;
    for (size_t k = 0; k < p->nstages && k < REPORT_MAX_STAGES; k++) {
        struct report_stage *st = &rep.stages[rep.nstages++];
        st->target = shard_share(p->stages[k].target, p->shard_index, p->shard_count);
        st->start_s = stage_start;
        stage_start += (double)p->stages[k].dur_ns / 1e9;
        st->end_s = stage_start;
    }
    report_stages_eval(&rep);
    int failed = report_thresholds_eval(&rep, o->thresholds, o->nthresholds);

    int code = !first ? EXIT_NORUN : failed ? EXIT_THRESHOLD : EXIT_OK;
    if (out)
        report_summary_print(out, &rep);
    if (!first)
        fprintf(stderr, "herd: no connection opened to %s (%s)\n", p->url_text,
                total.err[ERR_REFUSED]       ? "connection refused"
                : total.err[ERR_TIMEOUT]     ? "timed out"
                : total.err[ERR_HTTP_STATUS] ? "the server answered with an HTTP error"
                : total.err[ERR_HANDSHAKE]   ? "bad handshake reply"
                : total.err[ERR_TLS]         ? "TLS handshake failed"
                                             : "see errors in the report");
    const char *tls_err = client_run_tls_error(run);
    if (tls_err)
        fprintf(stderr, "herd: %llu TLS failures; the first: %s\n",
                (unsigned long long)total.err[ERR_TLS], tls_err);
    if (o->json_path && report_json_write(&rep, o->json_path, err, sizeof err) != 0) {
        fprintf(stderr, "herd: --json: %s\n", err);
        code = code ? code : EXIT_NORUN;
    }
    if (o->csv_path && report_csv_write(&rep, o->csv_path, err, sizeof err) != 0) {
        fprintf(stderr, "herd: --csv: %s\n", err);
        code = code ? code : EXIT_NORUN;
    }

    client_run_free(run);
    stats_free(&total);
    stats_free(&iv);
    free(rows);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return code;
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
        fprintf(stderr, "herd: -f: scenario files are not supported yet\n");
        cli_run_options_free(&o);
        return EXIT_USAGE;
    }
    /* Options the command line knows but the engine does not do yet: say so rather than run
     * something other than what was asked. */
    const char *later = o.client.compress ? "--compress"
                        : o.html_path     ? "--html"
                        : o.hlog_path     ? "--hlog"
                                          : NULL;
    if (later) {
        fprintf(stderr, "herd: %s: not supported yet\n", later);
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

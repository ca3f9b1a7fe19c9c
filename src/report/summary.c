/* summary.c - what a person reads: the final table and the live line. Scripts must use the JSON
 * report instead; nothing here is a contract, so it can favour readability. */
#include "report/report.h"

#include "report/report_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

void report_fmt_us(char *out, size_t outlen, double us)
{
    /* Three significant digits in the largest unit that keeps the number >= 1. The thresholds
     * are taken after rounding, so 999.7 us prints as "1.00ms", not "1000us". */
    if (!isfinite(us) || us < 0) {
        snprintf(out, outlen, "-");
        return;
    }
    const char *unit = "us";
    double v = us;
    if (us >= 999.5) {
        v = us / 1e3;
        unit = "ms";
        if (v >= 999.5) {
            v = us / 1e6;
            unit = "s";
        }
    }
    if (unit[0] == 'u')
        snprintf(out, outlen, "%.0f%s", v, unit);
    else if (v < 9.995)
        snprintf(out, outlen, "%.2f%s", v, unit);
    else if (v < 99.95)
        snprintf(out, outlen, "%.1f%s", v, unit);
    else
        snprintf(out, outlen, "%.0f%s", v, unit);
}

/* 1536 -> "1.50KiB" */
static void fmt_bytes(char *out, size_t outlen, uint64_t b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    size_t u = 0;
    while (v >= 1023.5 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, outlen, "%" PRIu64 "B", b);
    else
        snprintf(out, outlen, "%.*f%s", v < 9.995 ? 2 : v < 99.95 ? 1 : 0, v, units[u]);
}

/* 12345.6 -> "12.3k" for rates in a narrow column */
static void fmt_rate(char *out, size_t outlen, double v)
{
    if (!isfinite(v) || v < 0)
        snprintf(out, outlen, "-");
    else if (v < 999.5)
        snprintf(out, outlen, "%.*f", v < 9.95 ? 1 : 0, v);
    else if (v < 999.5e3)
        snprintf(out, outlen, "%.*fk", v < 9.995e3 ? 2 : v < 99.95e3 ? 1 : 0, v / 1e3);
    else
        snprintf(out, outlen, "%.*fM", v < 9.995e6 ? 2 : v < 99.95e6 ? 1 : 0, v / 1e6);
}

static void print_thresholds(FILE *out, const struct report *r)
{
    if (!r->nthresholds)
        return;
    fprintf(out, "\nthresholds\n");
    size_t width = 0;
    for (size_t i = 0; i < r->nthresholds; i++) {
        const struct threshold_result *res = &r->thresholds[i];
        size_t l = res->t ? strlen(res->t->expr) : 0;
        if (res->group)
            l += strlen(res->group) + 2;
        width = l > width ? l : width;
    }
    for (size_t i = 0; i < r->nthresholds; i++) {
        const struct threshold_result *res = &r->thresholds[i];
        const struct threshold *t = res->t;
        char v[48];
        if (!t)
            continue;
        if (res->no_data)
            snprintf(v, sizeof v, "no samples");
        else if (t->kind == THR_PERCENTILE && t->percentile != -4.0)
            report_fmt_us(v, sizeof v, res->value);
        else if (t->kind == THR_RATE)
            snprintf(v, sizeof v, "%.1f/s", res->value);
        else if (t->kind == THR_RATIO || (t->kind == THR_TARGET && strstr(t->name, "cpu")))
            snprintf(v, sizeof v, "%.3g%%", res->value);
        else if (t->kind == THR_TARGET && strcmp(t->name, "target.rss") == 0)
            fmt_bytes(v, sizeof v, (uint64_t)res->value);
        else
            snprintf(v, sizeof v, "%.0f", res->value);
        char label[256];
        /* A group's threshold was checked on the group's figures: say which. */
        snprintf(label, sizeof label, "%s%s%s", res->group ? res->group : "",
                 res->group ? ": " : "", t->expr);
        fprintf(out, "  %-4s  %-*s  %s\n", res->ok ? "ok" : "FAIL", (int)width, label, v);
    }
}

void report_stages_eval(struct report *r)
{
    uint64_t prev = 0;
    for (size_t k = 0; k < r->nstages; k++) {
        struct report_stage *st = &r->stages[k];
        int up = st->target >= prev;
        prev = st->target;
        st->reached = 0;
        for (size_t i = 0; i < r->nrows; i++) {
            const struct ts_row *row = &r->rows[i];
            /* Samples are about one second apart: a stage that reaches its target at its very
             * end is seen by the next sample, so allow one sample (and some slack) past it. */
            if (row->t < st->start_s || row->t > st->end_s + 1.5)
                continue;
            uint64_t open = (uint64_t)(row->open < 0 ? 0 : row->open);
            if (up ? open >= st->target : open <= st->target) {
                st->reached = 1;
                st->reached_at_s = row->t;
                break;
            }
        }
    }
}

/* --watch-pid: each watched process over the run. */
static void print_targets(FILE *out, const struct report *r)
{
    if (!r->ntargets)
        return;
    fprintf(out, "\ntarget processes\n");
    for (size_t i = 0; i < r->ntargets; i++) {
        const struct report_target *t = &r->targets[i];
        char rss[24], fds[24];
        fmt_bytes(rss, sizeof rss, t->rss_max_bytes);
        if (t->fds_max >= 0)
            snprintf(fds, sizeof fds, "%" PRId64, t->fds_max);
        else
            snprintf(fds, sizeof fds, "-");
        fprintf(out,
                "  %d %-15s cpu mean %.1f%% (user %.1f%%, system %.1f%%) max %.1f%%  rss max %s  "
                "fds max %s  threads max %" PRIu64,
                t->pid, t->name, t->cpu_mean_pct, t->cpu_user_mean_pct, t->cpu_system_mean_pct,
                t->cpu_max_pct, rss, fds, t->threads_max);
        if (t->exited_at_s >= 0)
            fprintf(out, "  EXITED at %.0fs", t->exited_at_s);
        fputc('\n', out);
    }
}

static void print_stages(FILE *out, const struct report *r)
{
    if (!r->nstages)
        return;
    fprintf(out, "\nstages\n");
    for (size_t k = 0; k < r->nstages; k++) {
        const struct report_stage *st = &r->stages[k];
        if (st->reached)
            fprintf(out, "  ok    %6.1fs-%6.1fs  %llu connections, reached at %.1fs\n", st->start_s,
                    st->end_s, (unsigned long long)st->target, st->reached_at_s);
        else
            fprintf(out, "  MISS  %6.1fs-%6.1fs  %llu connections, not reached\n", st->start_s,
                    st->end_s, (unsigned long long)st->target);
    }
}

static void print_errors(FILE *out, const struct stats *s)
{
    uint64_t total = stats_errors_total(s);
    fprintf(out, "%-13s", "errors");
    if (!total) {
        fprintf(out, "none\n");
        return;
    }
    const char *sep = "";
    for (int c = 0; c < ERR_COUNT; c++) {
        if (!s->err[c])
            continue;
        fprintf(out, "%s%s %" PRIu64, sep, err_class_name[c], s->err[c]);
        /* The code breakdown is what one acts on: 503s are load shedding, 1006 is a drop. */
        const uint64_t *by_code = c == ERR_HTTP_STATUS        ? s->http_status
                                  : c == ERR_CLOSED_BY_SERVER ? s->close_code
                                                              : NULL;
        int ncodes = c == ERR_HTTP_STATUS ? STATS_HTTP_CODES : STATS_CLOSE_CODES;
        if (by_code) {
            const char *inner = " (";
            for (int k = 0; k < ncodes; k++) {
                if (!by_code[k])
                    continue;
                fprintf(out, "%s%d: %" PRIu64, inner, k, by_code[k]);
                inner = ", ";
            }
            if (inner[0] == ',')
                fputc(')', out);
        }
        sep = ", ";
    }
    fputc('\n', out);
}

/* tls: handshakes and how many resumed a session; fan-out: delivery ratio and its p99. */
static void print_derived(FILE *out, const struct stats *s, const char *indent)
{
    const struct hist *th = s->hist[M_TLS];
    if (th && th->total_count > 0) {
        uint64_t resumed = s->ctr[CTR_TLS_RESUMED];
        fprintf(out, "%s%-*s%" PRId64 " handshakes, %" PRIu64 " resumed (%.1f %%)\n", indent,
                13 - (int)strlen(indent), "tls", th->total_count, resumed,
                100.0 * (double)resumed / (double)th->total_count);
    }
    struct report_fanout_fig f;
    if (report__fanout(s, &f)) {
        const struct hist *fh = s->hist[M_FANOUT];
        char p99[24] = "-";
        if (fh && fh->total_count)
            report_fmt_us(p99, sizeof p99, (double)hist_percentile(fh, 99.0));
        /* Both: the ratio of the losses a gap showed, and what arrived of all that was
         * published, which also counts the messages no subscriber saw after its last one. */
        fprintf(out,
                "%sfan-out: %" PRIu64 " messages, delivery ratio %.2f %% (of the losses seen), "
                "received of published %.2f %%, fanout p99 %s\n",
                indent, f.messages, 100.0 * f.delivery_ratio, 100.0 * f.received_of_published, p99);
    }
}

/* After drops (--reconnect): how many dropped, how many came back and, of those that did, how
 * soon; then the busiest second of attempts, where a thundering herd shows. */
static void print_recovery(FILE *out, const struct report *r)
{
    struct report_recovery_fig f;
    if (!report__recovery(r, &f))
        return;
    fprintf(out, "%-13s%" PRIu64 " dropped, %" PRIu64 " back", "recovery", f.dropped, f.back);
    if (f.back) {
        char b50[24], b90[24], b100[24];
        report_fmt_us(b50, sizeof b50, (double)f.back_50_us);
        report_fmt_us(b90, sizeof b90, (double)f.back_90_us);
        report_fmt_us(b100, sizeof b100, (double)f.back_100_us);
        fprintf(out, ": 50%% of those back within %s, 90%% within %s, all %" PRIu64 " within %s",
                b50, b90, f.back, b100);
    }
    if (f.dropped > f.back)
        fprintf(out, "; %" PRIu64 " not back at the end", f.dropped - f.back);
    fputc('\n', out);
    if (f.busiest)
        fprintf(out,
                "%-13sbusiest second: %" PRIu64
                " attempts (the second ending at %.1fs), of %" PRIu64 " in all\n",
                "attempts", f.busiest_attempted, f.busiest_t,
                r->total->ctr[CTR_CONNECTIONS_ATTEMPTED]);
}

/* One short block per scenario group: what it was, its connections and messages, a line per
 * metric with samples, its errors. */
static void print_groups(FILE *out, const struct report *r)
{
    double secs = r->duration_s > 0 ? r->duration_s : 0;
    for (size_t i = 0; i < r->ngroups; i++) {
        const struct report_group *g = &r->groups[i];
        const struct stats *s = g->stats;
        fprintf(out, "\ngroup %s  %s  %s\n", g->name ? g->name : "", g->role ? g->role : "",
                g->target ? g->target : "");
        if (!s)
            continue;
        const uint64_t *c = s->ctr;
        fprintf(out,
                "  %-14sattempted %" PRIu64 "  opened %" PRIu64 "  failed %" PRIu64
                "  pending %" PRIu64 "  reconnects %" PRIu64 "  open %" PRId64 "  peak %" PRId64
                "\n",
                "connections", c[CTR_CONNECTIONS_ATTEMPTED], c[CTR_CONNECTIONS_OPENED],
                c[CTR_CONNECTIONS_FAILED], c[CTR_CONNECTIONS_PENDING],
                c[CTR_CONNECTIONS_RECONNECTS], s->open, s->peak);
        char rs[24], rr[24];
        fmt_rate(rs, sizeof rs, secs > 0 ? (double)c[CTR_MESSAGES_SENT] / secs : 0);
        fmt_rate(rr, sizeof rr, secs > 0 ? (double)c[CTR_MESSAGES_RECEIVED] / secs : 0);
        fprintf(out,
                "  %-14ssent %" PRIu64 " (%s/s)  received %" PRIu64 " (%s/s)  lost %" PRIu64 "\n",
                "messages", c[CTR_MESSAGES_SENT], rs, c[CTR_MESSAGES_RECEIVED], rr,
                c[CTR_MESSAGES_LOST]);
        for (int m = 0; m < M_COUNT + (int)s->nsteps; m++) {
            const struct hist *h = m < M_COUNT ? s->hist[m] : s->step[m - M_COUNT];
            if (!h || h->total_count == 0)
                continue;
            char label[64];
            if (m < M_COUNT)
                snprintf(label, sizeof label, "%s", metric_name[m]);
            else
                snprintf(label, sizeof label, "steps.%s", s->step_name[m - M_COUNT]);
            char p50[24], p95[24], p99[24], mx[24];
            report_fmt_us(p50, sizeof p50, (double)hist_percentile(h, 50.0));
            report_fmt_us(p95, sizeof p95, (double)hist_percentile(h, 95.0));
            report_fmt_us(p99, sizeof p99, (double)hist_percentile(h, 99.0));
            report_fmt_us(mx, sizeof mx, (double)hist_max(h));
            fprintf(out, "  %-14s%" PRId64 " samples  p50 %s  p95 %s  p99 %s  max %s\n", label,
                    h->total_count, p50, p95, p99, mx);
        }
        print_derived(out, s, "  ");
        fputs("  ", out);
        print_errors(out, s);
    }
}

void report_summary_print(FILE *out, const struct report *r)
{
    const struct stats *s = r->total;
    double secs = r->duration_s > 0 ? r->duration_s : 0;
    const char *what = r->target;
    for (size_t i = 0; !what && i < r->nconfig; i++) {
        if (r->config[i].key && strcmp(r->config[i].key, "file") == 0)
            what = r->config[i].value;
    }
    char incomplete[96] = "";
    if (!r->complete && s && s->connecting > 0)
        snprintf(incomplete, sizeof incomplete,
                 "  (incomplete: %" PRId64 " attempts still connecting at the end)", s->connecting);
    else if (!r->complete)
        snprintf(incomplete, sizeof incomplete, "  (incomplete: stopped early)");
    fprintf(out, "\nherd %s  %.1fs%s\n", what ? what : "", secs, incomplete);
    if (r->shards > 1)
        fprintf(out, "merged from %u shards\n", r->shards);
    if (r->start.planned_ns) { /* --start-at: how together the start was */
        char late[32], skew[32];
        report_fmt_us(late, sizeof late, (double)r->start.late_max_ns / 1e3);
        report_fmt_us(skew, sizeof skew, (double)(r->start.last_ns - r->start.first_ns) / 1e3);
        if (r->start.shards > 1)
            fprintf(out, "start        at --start-at + %s at most; skew between %u shards %s\n",
                    late, r->start.shards, skew);
        else
            fprintf(out, "start        at --start-at + %s\n", late);
    }
    if (!s) {
        print_thresholds(out, r);
        return;
    }
    const uint64_t *c = s->ctr;
    fprintf(out,
            "\n%-13sattempted %" PRIu64 "  opened %" PRIu64 "  failed %" PRIu64 "  pending %" PRIu64
            "  closed %" PRIu64 "  reconnects %" PRIu64 "  open %" PRId64 "  peak %" PRId64 "\n",
            "connections", c[CTR_CONNECTIONS_ATTEMPTED], c[CTR_CONNECTIONS_OPENED],
            c[CTR_CONNECTIONS_FAILED], c[CTR_CONNECTIONS_PENDING], c[CTR_CONNECTIONS_CLOSED],
            c[CTR_CONNECTIONS_RECONNECTS], s->open, s->peak);
    char rs[24], rr[24];
    fmt_rate(rs, sizeof rs, secs > 0 ? (double)c[CTR_MESSAGES_SENT] / secs : 0);
    fmt_rate(rr, sizeof rr, secs > 0 ? (double)c[CTR_MESSAGES_RECEIVED] / secs : 0);
    fprintf(out,
            "%-13ssent %" PRIu64 " (%s/s)  received %" PRIu64 " (%s/s)  lost %" PRIu64
            "  duplicated %" PRIu64 "  reordered %" PRIu64,
            "messages", c[CTR_MESSAGES_SENT], rs, c[CTR_MESSAGES_RECEIVED], rr,
            c[CTR_MESSAGES_LOST], c[CTR_MESSAGES_DUPLICATED], c[CTR_MESSAGES_REORDERED]);
    if (c[CTR_MESSAGES_UNSEEN])
        fprintf(out, "  unseen %" PRIu64, c[CTR_MESSAGES_UNSEEN]);
    fputc('\n', out);
    char bs[24], br[24];
    fmt_bytes(bs, sizeof bs, c[CTR_BYTES_SENT]);
    fmt_bytes(br, sizeof br, c[CTR_BYTES_RECEIVED]);
    fprintf(out, "%-13ssent %s  received %s\n", "bytes", bs, br);
    if (c[CTR_PINGS_SENT] || c[CTR_PINGS_RECEIVED])
        fprintf(out, "%-13ssent %" PRIu64 "  pongs %" PRIu64 "\n", "pings", c[CTR_PINGS_SENT],
                c[CTR_PINGS_RECEIVED]);
    print_derived(out, s, "");

    /* The latency table: one row per metric that has samples. */
    static const struct {
        const char *head;
        double p; /* < 0: min (-1), max (-2), mean (-3) */
    } cols[] = {{"min", -1}, {"p50", 50},     {"p90", 90}, {"p95", 95},
                {"p99", 99}, {"p99.9", 99.9}, {"max", -2}, {"mean", -3}};
    int any = 0;
    for (int m = 0; m < M_COUNT + (int)s->nsteps; m++) {
        const struct hist *h = m < M_COUNT ? s->hist[m] : s->step[m - M_COUNT];
        if (!h || h->total_count == 0)
            continue;
        char label[64];
        if (m < M_COUNT)
            snprintf(label, sizeof label, "%s", metric_name[m]);
        else
            snprintf(label, sizeof label, "steps.%s", s->step_name[m - M_COUNT]);
        if (!any) {
            fprintf(out, "\n%-13s%10s", "", "count");
            for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
                fprintf(out, "%9s", cols[k].head);
            fputc('\n', out);
            any = 1;
        }
        fprintf(out, "%-13s%10" PRId64, label, h->total_count);
        for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
            double v = cols[k].p == -1   ? (double)hist_min(h)
                       : cols[k].p == -2 ? (double)hist_max(h)
                       : cols[k].p == -3 ? hist_mean(h)
                                         : (double)hist_percentile(h, cols[k].p);
            char t[24];
            report_fmt_us(t, sizeof t, v);
            fprintf(out, "%9s", t);
        }
        fputc('\n', out);
    }
    fputc('\n', out);
    print_errors(out, s);
    print_recovery(out, r);
    print_groups(out, r);
    print_stages(out, r);
    print_targets(out, r);
    print_thresholds(out, r);
}

void report_live_print(FILE *out, const struct ts_row *row, double interval_s, int metric)
{
    char sent[24], recv[24], lat[64];
    double iv = interval_s > 0 ? interval_s : 1;
    fmt_rate(sent, sizeof sent, (double)row->sent / iv);
    fmt_rate(recv, sizeof recv, (double)row->received / iv);
    if (metric >= 0 && metric < M_COUNT && row->count[metric]) {
        char p50[24], p99[24];
        report_fmt_us(p50, sizeof p50, (double)row->p50_us[metric]);
        report_fmt_us(p99, sizeof p99, (double)row->p99_us[metric]);
        snprintf(lat, sizeof lat, "%s p50 %s p99 %s", metric_name[metric], p50, p99);
    } else if (metric >= 0 && metric < M_COUNT) {
        snprintf(lat, sizeof lat, "%s -", metric_name[metric]);
    } else {
        lat[0] = '\0';
    }
    char line[320], target[96] = "";
    if (row->target_n) { /* --watch-pid */
        char rss[24];
        fmt_bytes(rss, sizeof rss, row->target_rss_bytes);
        snprintf(target, sizeof target, "  target cpu %.0f%% rss %s",
                 row->target_cpu_user_pct + row->target_cpu_system_pct, rss);
    }
    snprintf(line, sizeof line,
             "[%5.0fs] open %" PRId64 "  out %s/s  in %s/s  %s  errors %" PRIu64 "%s", row->t,
             row->open, sent, recv, lat, row->errors, target);
    /* On a terminal the line rewrites itself (\r, then clear to the end of the line); in a log
     * file each interval gets its own line. */
    if (isatty(fileno(out)))
        fprintf(out, "\r%s\033[K", line);
    else
        fprintf(out, "%s\n", line);
    fflush(out);
}

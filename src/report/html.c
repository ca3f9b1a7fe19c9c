/* html.c - the HTML report (--html F, herd report RUN.json --html F): one self-contained file a
 * person reads on a laptop, a phone or paper. No script, no style sheet, font or image from
 * anywhere (a Content-Security-Policy says so): the charts are inline SVG that svg.c draws. It
 * holds what the terminal summary holds and what a terminal cannot show: the run second by
 * second and each histogram's whole percentile distribution. Like the summary it is for people;
 * scripts read the JSON report. */
#include "report/report.h"

#include "base/err.h"
#include "report/html_internal.h"
#include "report/report_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PCT_POINTS 121 /* points of a distribution curve */

static const struct {
    const char *head;
    double p; /* < 0: min (-1), max (-2), mean (-3) */
} hist_cols[] = {{"min", -1},     {"p50", 50},       {"p90", 90}, {"p95", 95}, {"p99", 99},
                 {"p99.9", 99.9}, {"p99.99", 99.99}, {"max", -2}, {"mean", -3}};

static double hist_col(const struct hist *h, double p)
{
    return p == -1   ? (double)hist_min(h)
           : p == -2 ? (double)hist_max(h)
           : p == -3 ? hist_mean(h)
                     : (double)hist_percentile(h, p);
}

static void td_num_u64(struct sbuf *b, uint64_t v)
{
    sb_printf(b, "<td class=\"num\">%" PRIu64 "</td>", v);
}

static void td_us(struct sbuf *b, double us)
{
    char t[32];
    report_fmt_us(t, sizeof t, us);
    sb_printf(b, "<td class=\"num\">%s</td>", t);
}

/* One histogram table: a row per metric with samples. */
static void hist_table(struct sbuf *b, const struct stats *s)
{
    int any = 0;
    for (int m = 0; m < M_COUNT; m++) {
        const struct hist *h = s->hist[m];
        if (!h || h->total_count == 0)
            continue;
        if (!any) {
            sb_put(b, "<div class=\"scroll\"><table class=\"hist\"><tr><th></th>"
                      "<th class=\"num\">count</th>");
            for (size_t k = 0; k < ARRAY_SIZE(hist_cols); k++)
                sb_printf(b, "<th class=\"num\">%s</th>", hist_cols[k].head);
            sb_put(b, "</tr>\n");
            any = 1;
        }
        sb_printf(b, "<tr><th>%s</th>", metric_name[m]);
        td_num_u64(b, (uint64_t)h->total_count);
        for (size_t k = 0; k < ARRAY_SIZE(hist_cols); k++)
            td_us(b, hist_col(h, hist_cols[k].p));
        sb_put(b, "</tr>\n");
    }
    if (any)
        sb_put(b, "</table></div>\n");
    else
        sb_put(b, "<p class=\"mut\">no timed samples</p>\n");
}

/* Errors by class, with the HTTP statuses and close codes behind them. */
static void errors_table(struct sbuf *b, const struct stats *s)
{
    if (!stats_errors_total(s)) {
        sb_put(b, "<p class=\"errors none\">errors: none</p>\n");
        return;
    }
    sb_put(b, "<div class=\"scroll\"><table class=\"errors\"><tr><th>error class</th>"
              "<th class=\"num\">count</th><th>by code</th></tr>\n");
    for (int c = 0; c < ERR_COUNT; c++) {
        if (!s->err[c])
            continue;
        sb_printf(b, "<tr><td>%s</td>", err_class_name[c]);
        td_num_u64(b, s->err[c]);
        sb_put(b, "<td>");
        const uint64_t *by_code = c == ERR_HTTP_STATUS        ? s->http_status
                                  : c == ERR_CLOSED_BY_SERVER ? s->close_code
                                                              : NULL;
        int ncodes = c == ERR_HTTP_STATUS ? STATS_HTTP_CODES : STATS_CLOSE_CODES;
        const char *sep = "";
        for (int k = 0; by_code && k < ncodes; k++) {
            if (!by_code[k])
                continue;
            sb_printf(b, "%s%s %d: %" PRIu64, sep, c == ERR_HTTP_STATUS ? "HTTP" : "close", k,
                      by_code[k]);
            sep = ", ";
        }
        sb_put(b, "</td></tr>\n");
    }
    sb_put(b, "</table></div>\n");
}

/* Connections, messages and bytes of s, as a two-column table. */
static void counters_table(struct sbuf *b, const struct stats *s, double secs)
{
    const uint64_t *c = s->ctr;
    char rs[32], rr[32];
    html_fmt_count(rs, sizeof rs, secs > 0 ? (double)c[CTR_MESSAGES_SENT] / secs : 0);
    html_fmt_count(rr, sizeof rr, secs > 0 ? (double)c[CTR_MESSAGES_RECEIVED] / secs : 0);
    sb_put(b, "<div class=\"scroll\"><table class=\"counters\">\n");
    sb_printf(b,
              "<tr><th>connections</th><td>attempted %" PRIu64 ", opened %" PRIu64
              ", failed %" PRIu64 ", pending %" PRIu64 ", closed %" PRIu64 ", reconnects %" PRIu64
              ", open at the end %" PRId64 ", peak %" PRId64 "</td></tr>\n",
              c[CTR_CONNECTIONS_ATTEMPTED], c[CTR_CONNECTIONS_OPENED], c[CTR_CONNECTIONS_FAILED],
              c[CTR_CONNECTIONS_PENDING], c[CTR_CONNECTIONS_CLOSED], c[CTR_CONNECTIONS_RECONNECTS],
              s->open, s->peak);
    sb_printf(b,
              "<tr><th>messages</th><td>sent %" PRIu64 " (%s/s), received %" PRIu64
              " (%s/s), lost %" PRIu64 ", duplicated %" PRIu64 ", reordered %" PRIu64,
              c[CTR_MESSAGES_SENT], rs, c[CTR_MESSAGES_RECEIVED], rr, c[CTR_MESSAGES_LOST],
              c[CTR_MESSAGES_DUPLICATED], c[CTR_MESSAGES_REORDERED]);
    if (c[CTR_MESSAGES_UNSEEN])
        sb_printf(b, ", unseen %" PRIu64, c[CTR_MESSAGES_UNSEEN]);
    sb_put(b, "</td></tr>\n");
    char bs[32], br[32];
    html_fmt_count(bs, sizeof bs, (double)c[CTR_BYTES_SENT]);
    html_fmt_count(br, sizeof br, (double)c[CTR_BYTES_RECEIVED]);
    sb_printf(b, "<tr><th>bytes</th><td>sent %sB, received %sB</td></tr>\n", bs, br);
    if (c[CTR_PINGS_SENT] || c[CTR_PINGS_RECEIVED])
        sb_printf(b, "<tr><th>pings</th><td>sent %" PRIu64 ", pongs %" PRIu64 "</td></tr>\n",
                  c[CTR_PINGS_SENT], c[CTR_PINGS_RECEIVED]);
    const struct hist *th = s->hist[M_TLS];
    if (th && th->total_count > 0)
        sb_printf(b,
                  "<tr><th>tls</th><td>%" PRId64 " handshakes, %" PRIu64
                  " resumed (%.1f %%)</td></tr>\n",
                  th->total_count, c[CTR_TLS_RESUMED],
                  100.0 * (double)c[CTR_TLS_RESUMED] / (double)th->total_count);
    struct report_fanout_fig f;
    if (report__fanout(s, &f))
        sb_printf(b,
                  "<tr class=\"fanout\"><th>fan-out</th><td>%" PRIu64 " messages to %" PRIu64
                  " expected deliveries: %" PRIu64 " delivered, %" PRIu64
                  " unseen; delivery ratio %.2f %% (of the losses seen), received of published "
                  "%.2f %%</td></tr>\n",
                  f.messages, f.expected, f.delivered, f.unseen, 100.0 * f.delivery_ratio,
                  100.0 * f.received_of_published);
    if (c[CTR_LATENCY_AHEAD]) {
        char mx[32];
        report_fmt_us(mx, sizeof mx, (double)s->ahead_max_us);
        sb_printf(b,
                  "<tr><th>stamps ahead</th><td>%" PRIu64
                  " stamps ahead of herd's clock, by up to %s</td></tr>\n",
                  c[CTR_LATENCY_AHEAD], mx);
    }
    sb_put(b, "</table></div>\n");
}

static void kv_table(struct sbuf *b, const struct report_kv *kv, size_t n)
{
    if (!n)
        return;
    sb_put(b, "<div class=\"scroll\"><table class=\"config\">\n");
    for (size_t i = 0; i < n; i++) {
        if (!kv[i].key)
            continue;
        sb_put(b, "<tr><th>");
        sb_esc(b, kv[i].key);
        sb_put(b, "</th><td><code>");
        sb_esc(b, kv[i].value);
        sb_put(b, "</code></td></tr>\n");
    }
    sb_put(b, "</table></div>\n");
}

static void section_head(struct sbuf *b, const struct report *r, const char *heading)
{
    const char *what = r->target;
    for (size_t i = 0; !what && i < r->nconfig; i++) {
        if (r->config[i].key && strcmp(r->config[i].key, "file") == 0)
            what = r->config[i].value;
    }
    sb_put(b, "<header><h1>");
    sb_esc(b, heading);
    sb_put(b, "</h1>\n<p class=\"target\"><code>");
    sb_esc(b, what ? what : "");
    sb_put(b, "</code></p>\n<p>");
    sb_printf(b, "<span class=\"badge %s\">%s</span> ", r->complete ? "ok" : "bad",
              r->complete ? "complete" : "incomplete");
    size_t failed = 0;
    for (size_t i = 0; i < r->nthresholds; i++)
        failed += !r->thresholds[i].ok;
    if (r->nthresholds)
        sb_printf(b, "<span class=\"badge %s\">thresholds: %zu of %zu held</span> ",
                  failed ? "bad" : "ok", r->nthresholds - failed, r->nthresholds);
    sb_printf(b, "started ");
    sb_esc(b, r->started_at[0] ? r->started_at : "-");
    sb_printf(b, ", ran %.1f s", r->duration_s);
    if (r->shards > 1)
        sb_printf(b, ", merged from %u shards", r->shards);
    sb_put(b, "</p>\n");
    if (r->env.command_line[0]) {
        sb_put(b, "<pre class=\"cmdline\">");
        sb_esc(b, r->env.command_line);
        sb_put(b, "</pre>\n");
    }
    sb_put(b, "</header>\n");
}

static void section_thresholds(struct sbuf *b, const struct report *r, const char *pfx)
{
    if (!r->nthresholds)
        return;
    sb_printf(b,
              "<section id=\"%sthresholds\"><h2>Thresholds</h2>\n<div class=\"scroll\"><table>"
              "<tr><th></th><th>threshold</th><th>group</th><th class=\"num\">measured</th>"
              "</tr>\n",
              pfx);
    for (size_t i = 0; i < r->nthresholds; i++) {
        const struct threshold_result *res = &r->thresholds[i];
        sb_printf(b, "<tr><td class=\"%s\">%s</td><td><code>", res->ok ? "ok" : "bad",
                  res->ok ? "ok" : "FAIL");
        sb_esc(b, res->t ? res->t->expr : "");
        sb_put(b, "</code></td><td>");
        sb_esc(b, res->group ? res->group : "");
        char v[48];
        int is_time = res->t && res->t->kind == THR_PERCENTILE && res->t->percentile != -4.0;
        if (res->no_data)
            snprintf(v, sizeof v, "no data");
        else if (is_time)
            report_fmt_us(v, sizeof v, res->value);
        else if (res->t && res->t->kind == THR_RATIO)
            snprintf(v, sizeof v, "%.3g %%", res->value);
        else
            snprintf(v, sizeof v, "%.6g", res->value);
        sb_printf(b, "</td><td class=\"num\">%s</td></tr>\n", v);
    }
    sb_put(b, "</table></div></section>\n");
}

static void section_summary(struct sbuf *b, const struct report *r, const char *pfx)
{
    double secs = r->duration_s > 0 ? r->duration_s : 0;
    sb_printf(b, "<section id=\"%ssummary\"><h2>Summary</h2>\n", pfx);
    if (r->ngroups)
        sb_put(b, "<h3>the whole run</h3>\n");
    counters_table(b, r->total, secs);
    hist_table(b, r->total);
    for (size_t i = 0; i < r->ngroups; i++) {
        const struct report_group *g = &r->groups[i];
        sb_put(b, "<div class=\"group\"><h3>group ");
        sb_esc(b, g->name);
        sb_put(b, " <span class=\"mut\">");
        sb_esc(b, g->role);
        sb_put(b, " <code>");
        sb_esc(b, g->target);
        sb_put(b, "</code></span></h3>\n");
        if (g->stats) {
            counters_table(b, g->stats, secs);
            hist_table(b, g->stats);
            errors_table(b, g->stats);
        }
        sb_put(b, "</div>\n");
    }
    sb_put(b, "</section>\n");
}

/* The per-second charts: connections, attempts, messages, then p50 and p99 of each histogram
 * that has samples in some second. */
static void section_timeseries(struct sbuf *b, const struct report *r, const char *pfx)
{
    sb_printf(b, "<section id=\"%stimeseries\"><h2>Over the run, second by second</h2>\n", pfx);
    size_t n = r->nrows;
    if (!n || !r->rows) {
        sb_put(b, "<p class=\"mut\">no time series (the run lasted under a second)</p>"
                  "</section>\n");
        return;
    }
    double *x = calloc(n, sizeof *x), *y = calloc(n * 4, sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        b->oom = 1;
        return;
    }
    double *y0 = y, *y1 = y + n, *y2 = y + 2 * n, *y3 = y + 3 * n;
    for (size_t i = 0; i < n; i++)
        x[i] = round(r->rows[i].t * 1000.0) / 1000.0;
    sb_put(b, "<div class=\"charts\">\n");
    /* Rates per second of each row's own interval. */
    for (size_t i = 0; i < n; i++) {
        const struct ts_row *row = &r->rows[i];
        double dt = i ? row->t - r->rows[i - 1].t : row->t;
        dt = dt > 0.05 ? dt : 1.0;
        y0[i] = (double)row->open;
        y1[i] = (double)row->connecting;
        y2[i] = (double)row->attempted / dt;
        y3[i] = (double)row->failed / dt;
    }
    char id[80];
    snprintf(id, sizeof id, "%sconnections", pfx);
    struct svg_series s[4] = {{"open", y0}, {"connecting", y1}};
    svg_chart(b, id, "Open connections", SVG_X_SECONDS, SVG_Y_COUNT, x, n, s, 2);
    double *y4 = calloc(n * 3, sizeof *y4);
    if (!y4) {
        b->oom = 1;
    } else {
        for (size_t i = 0; i < n; i++) {
            const struct ts_row *row = &r->rows[i];
            double dt = i ? row->t - r->rows[i - 1].t : row->t;
            dt = dt > 0.05 ? dt : 1.0;
            y4[i] = (double)row->reconnects / dt;
            y4[n + i] = (double)row->errors / dt;
        }
        struct svg_series a[4] = {
            {"attempts/s", y2}, {"failures/s", y3}, {"reconnects/s", y4}, {"errors/s", y4 + n}};
        snprintf(id, sizeof id, "%sattempts", pfx);
        svg_chart(b, id, "Connection attempts, failures and reconnects per second", SVG_X_SECONDS,
                  SVG_Y_COUNT, x, n, a, 4);
        for (size_t i = 0; i < n; i++) {
            const struct ts_row *row = &r->rows[i];
            double dt = i ? row->t - r->rows[i - 1].t : row->t;
            dt = dt > 0.05 ? dt : 1.0;
            y0[i] = (double)row->sent / dt;
            y1[i] = (double)row->received / dt;
        }
        struct svg_series m[2] = {{"out (sent)/s", y0}, {"in (received)/s", y1}};
        snprintf(id, sizeof id, "%smessages", pfx);
        svg_chart(b, id, "Messages per second, out and in", SVG_X_SECONDS, SVG_Y_COUNT, x, n, m, 2);
        free(y4);
    }
    for (int mt = 0; mt < M_COUNT; mt++) {
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            any |= r->rows[i].count[mt] != 0;
            y0[i] = r->rows[i].count[mt] ? (double)r->rows[i].p50_us[mt] : NAN;
            y1[i] = r->rows[i].count[mt] ? (double)r->rows[i].p99_us[mt] : NAN;
        }
        if (!any)
            continue;
        char title[96];
        snprintf(id, sizeof id, "%sts-%s", pfx, metric_name[mt]);
        snprintf(title, sizeof title, "%s: p50 and p99 of each second", metric_name[mt]);
        struct svg_series p[2] = {{"p50", y0}, {"p99", y1}};
        svg_chart(b, id, title, SVG_X_SECONDS, SVG_Y_US, x, n, p, 2);
    }
    /* The watched processes (--watch-pid), summed over those alive: a second none was alive
     * leaves a gap. */
    int watched = 0;
    for (size_t i = 0; i < n; i++)
        watched |= r->rows[i].target_n > 0;
    if (watched) {
        for (size_t i = 0; i < n; i++) {
            const struct ts_row *row = &r->rows[i];
            int on = row->target_n > 0;
            y0[i] = on ? row->target_cpu_user_pct + row->target_cpu_system_pct : NAN;
            y1[i] = on ? row->target_cpu_user_pct : NAN;
            y2[i] = on ? row->target_cpu_system_pct : NAN;
            y3[i] = on ? (double)row->target_rss_bytes / (1024.0 * 1024.0) : NAN;
        }
        struct svg_series cpu[3] = {{"user + system", y0}, {"user", y1}, {"system", y2}};
        snprintf(id, sizeof id, "%starget-cpu", pfx);
        svg_chart(b, id, "Watched processes: CPU, % of one CPU", SVG_X_SECONDS, SVG_Y_COUNT, x, n,
                  cpu, 3);
        struct svg_series rss[1] = {{"RSS MiB", y3}};
        snprintf(id, sizeof id, "%starget-rss", pfx);
        svg_chart(b, id, "Watched processes: resident memory, MiB", SVG_X_SECONDS, SVG_Y_COUNT, x,
                  n, rss, 1);
        for (size_t i = 0; i < n; i++) {
            const struct ts_row *row = &r->rows[i];
            int on = row->target_n > 0;
            y0[i] = on && row->target_fds >= 0 ? (double)row->target_fds : NAN;
            y1[i] = on ? (double)row->target_threads : NAN;
        }
        struct svg_series fd[2] = {{"open descriptors", y0}, {"threads", y1}};
        snprintf(id, sizeof id, "%starget-fds", pfx);
        svg_chart(b, id, "Watched processes: descriptors and threads", SVG_X_SECONDS, SVG_Y_COUNT,
                  x, n, fd, 2);
    }
    sb_put(b, "</div></section>\n");
    free(x);
    free(y);
}

/* One percentile-distribution chart per histogram with samples: the whole run's curve, and each
 * group's beside it. */
static void section_distributions(struct sbuf *b, const struct report *r, const char *pfx)
{
    double grid[PCT_POINTS];
    size_t n = svg_percentile_grid(grid, PCT_POINTS);
    double *y = calloc(n * SVG_MAX_SERIES, sizeof *y);
    if (!y) {
        b->oom = 1;
        return;
    }
    int opened = 0;
    for (int m = 0; m < M_COUNT; m++) {
        const struct hist *h = r->total->hist[m];
        if (!h || h->total_count == 0)
            continue;
        if (!opened) {
            sb_printf(b,
                      "<section id=\"%sdistributions\"><h2>Percentile distributions</h2>\n"
                      "<p class=\"mut\">Each histogram's value at every percentile, to 99.999 %%, "
                      "on a log scale of 1/(1-p).</p>\n<div class=\"charts\">\n",
                      pfx);
            opened = 1;
        }
        struct svg_series s[SVG_MAX_SERIES];
        size_t ns = 0;
        char names[SVG_MAX_SERIES][80];
        const struct hist *src[SVG_MAX_SERIES];
        src[ns] = h;
        snprintf(names[ns], sizeof names[ns], "%s", r->ngroups ? "the whole run" : metric_name[m]);
        ns++;
        for (size_t g = 0; r->ngroups > 1 && g < r->ngroups && ns < SVG_MAX_SERIES; g++) {
            const struct stats *gs = r->groups[g].stats;
            if (!gs || !gs->hist[m] || gs->hist[m]->total_count == 0)
                continue;
            src[ns] = gs->hist[m];
            snprintf(names[ns], sizeof names[ns], "group %s", r->groups[g].name);
            ns++;
        }
        for (size_t k = 0; k < ns; k++) {
            s[k].name = names[k];
            s[k].y = y + k * n;
            for (size_t i = 0; i < n; i++)
                y[k * n + i] = (double)hist_percentile(src[k], grid[i]);
        }
        char id[80], title[96];
        snprintf(id, sizeof id, "%spct-%s", pfx, metric_name[m]);
        snprintf(title, sizeof title, "%s: percentile distribution (%" PRId64 " samples)",
                 metric_name[m], h->total_count);
        svg_chart(b, id, title, SVG_X_PERCENTILE, SVG_Y_US, grid, n, s, ns);
    }
    if (opened)
        sb_put(b, "</div></section>\n");
    free(y);
}

static void section_errors(struct sbuf *b, const struct report *r, const char *pfx)
{
    sb_printf(b, "<section id=\"%serrors\"><h2>Errors</h2>\n", pfx);
    errors_table(b, r->total);
    sb_put(b, "</section>\n");
}

/* Stages, recovery after drops, the local limit, warnings: each only when there is one. */
static void section_blocks(struct sbuf *b, const struct report *r, const char *pfx)
{
    if (r->ntargets) {
        sb_printf(b,
                  "<section id=\"%stargets\"><h2>Watched processes</h2>\n<div class=\"scroll\">"
                  "<table><tr><th>pid</th><th>name</th><th class=\"num\">seconds</th>"
                  "<th class=\"num\">CPU max</th><th class=\"num\">CPU mean</th>"
                  "<th class=\"num\">RSS max</th><th class=\"num\">descriptors max</th>"
                  "<th class=\"num\">threads max</th><th>exited</th></tr>\n",
                  pfx);
        for (size_t k = 0; k < r->ntargets; k++) {
            const struct report_target *t = &r->targets[k];
            sb_printf(b, "<tr><td class=\"num\">%d</td><td>", t->pid);
            sb_esc(b, t->name);
            sb_printf(b,
                      "</td><td class=\"num\">%" PRIu64 "</td><td class=\"num\">%.1f %%</td>"
                      "<td class=\"num\">%.1f %%</td><td class=\"num\">%.1f MiB</td>",
                      t->samples, t->cpu_max_pct, t->cpu_mean_pct,
                      (double)t->rss_max_bytes / (1024.0 * 1024.0));
            if (t->fds_max >= 0)
                sb_printf(b, "<td class=\"num\">%" PRId64 "</td>", t->fds_max);
            else
                sb_put(b, "<td class=\"num\">-</td>");
            sb_printf(b, "<td class=\"num\">%" PRIu64 "</td>", t->threads_max);
            if (t->exited_at_s >= 0)
                sb_printf(b, "<td class=\"bad\">at %.1fs</td></tr>\n", t->exited_at_s);
            else
                sb_put(b, "<td>no</td></tr>\n");
        }
        sb_put(b, "</table></div></section>\n");
    }
    if (r->nstages) {
        sb_printf(b,
                  "<section id=\"%sstages\"><h2>Stages</h2>\n<div class=\"scroll\"><table><tr>"
                  "<th></th><th class=\"num\">from</th><th class=\"num\">to</th>"
                  "<th class=\"num\">connections</th><th>reached</th></tr>\n",
                  pfx);
        for (size_t k = 0; k < r->nstages; k++) {
            const struct report_stage *st = &r->stages[k];
            sb_printf(b,
                      "<tr><td class=\"%s\">%s</td><td class=\"num\">%.1fs</td>"
                      "<td class=\"num\">%.1fs</td><td class=\"num\">%" PRIu64 "</td>",
                      st->reached ? "ok" : "bad", st->reached ? "ok" : "MISS", st->start_s,
                      st->end_s, st->target);
            if (st->reached)
                sb_printf(b, "<td>at %.1fs</td></tr>\n", st->reached_at_s);
            else
                sb_put(b, "<td>not reached</td></tr>\n");
        }
        sb_put(b, "</table></div></section>\n");
    }
    struct report_recovery_fig f;
    if (report__recovery(r, &f)) {
        sb_printf(b,
                  "<section id=\"%srecovery\"><h2>Recovery after drops</h2>\n<p>%" PRIu64
                  " dropped, %" PRIu64 " back",
                  pfx, f.dropped, f.back);
        if (f.back) {
            char b50[24], b90[24], b100[24];
            report_fmt_us(b50, sizeof b50, (double)f.back_50_us);
            report_fmt_us(b90, sizeof b90, (double)f.back_90_us);
            report_fmt_us(b100, sizeof b100, (double)f.back_100_us);
            sb_printf(b, ": 50 %% of those back within %s, 90 %% within %s, all within %s", b50,
                      b90, b100);
        }
        if (f.dropped > f.back)
            sb_printf(b, "; %" PRIu64 " not back at the end", f.dropped - f.back);
        sb_put(b, ".</p>\n");
        if (f.busiest)
            sb_printf(b,
                      "<p>Busiest second of attempts: %" PRIu64
                      " (the second ending at %.1fs), of %" PRIu64 " in all.</p>\n",
                      f.busiest_attempted, f.busiest_t, r->total->ctr[CTR_CONNECTIONS_ATTEMPTED]);
        sb_put(b, "</section>\n");
    }
    if (r->limit.asked) {
        sb_printf(b,
                  "<section id=\"%slimit\"><h2>Local limit</h2>\n<p class=\"bad\">%" PRIu64
                  " connections asked for, %" PRIu64 " reached: this machine ran out of ",
                  pfx, r->limit.asked, r->limit.reached);
        sb_esc(b, r->limit.cause);
        sb_printf(b, " (%" PRIu64 " errors of that class).</p></section>\n", r->limit.errors);
    }
    if (r->nwarnings) {
        sb_printf(b, "<section id=\"%swarnings\"><h2>Warnings</h2>\n<ul>\n", pfx);
        for (size_t i = 0; i < r->nwarnings; i++) {
            sb_put(b, "<li>");
            sb_esc(b, r->warnings[i]);
            sb_put(b, "</li>\n");
        }
        sb_put(b, "</ul></section>\n");
    }
}

static void section_config(struct sbuf *b, const struct report *r, const char *pfx)
{
    sb_printf(b, "<section id=\"%sconfig\"><h2>Configuration</h2>\n", pfx);
    if (r->env.command_line[0]) {
        sb_put(b, "<h3>command line</h3>\n<pre>");
        sb_esc(b, r->env.command_line);
        sb_put(b, "</pre>\n");
    }
    sb_put(b, "<h3>effective options</h3>\n");
    kv_table(b, r->config, r->nconfig);
    for (size_t i = 0; i < r->ngroups; i++) {
        sb_put(b, "<h3>group ");
        sb_esc(b, r->groups[i].name);
        sb_put(b, "</h3>\n");
        kv_table(b, r->groups[i].config, r->groups[i].nconfig);
    }
    sb_printf(b,
              "</section>\n<section id=\"%senvironment\"><h2>Environment</h2>\n"
              "<div class=\"scroll\"><table>\n<tr><th>herd</th><td>",
              pfx);
    sb_esc(b, r->tool_version ? r->tool_version : "unknown");
    sb_put(b, "</td></tr>\n");
    if (r->env.host[0]) {
        sb_put(b, "<tr><th>host</th><td>");
        sb_esc(b, r->env.host);
        sb_put(b, "</td></tr>\n<tr><th>kernel</th><td>");
        sb_esc(b, r->env.kernel);
        sb_printf(b, "</td></tr>\n<tr><th>CPUs</th><td>%u</td></tr>\n", r->env.cpus);
        if (r->env.nofile == UINT64_MAX)
            sb_put(b, "<tr><th>descriptor limit</th><td>unlimited</td></tr>\n");
        else
            sb_printf(b, "<tr><th>descriptor limit</th><td>%" PRIu64 "</td></tr>\n", r->env.nofile);
    } else {
        sb_put(b, "<tr><td colspan=\"2\" class=\"mut\">not recorded in this report</td></tr>\n");
    }
    sb_put(b, "</table></div></section>\n");
}

/* Everything of one report after the page's head; pfx makes its ids unique on a page of
 * several. */
static void report_body(struct sbuf *b, const struct report *r, const char *heading,
                        const char *pfx)
{
    section_head(b, r, heading);
    section_thresholds(b, r, pfx);
    if (r->total) {
        section_summary(b, r, pfx);
        section_timeseries(b, r, pfx);
        section_distributions(b, r, pfx);
        section_errors(b, r, pfx);
    }
    section_blocks(b, r, pfx);
    section_config(b, r, pfx);
}

int report_html_render(const struct report *r, char **out, size_t *len)
{
    struct sbuf b = {0};
    char title[300];
    snprintf(title, sizeof title, "herd report: %s", r->target ? r->target : "scenario");
    html_head(&b, title);
    report_body(&b, r, "herd report", "");
    sb_printf(&b, "<footer class=\"mut\"><p>Written by herd %s.</p></footer>\n</body>\n</html>\n",
              r->tool_version ? r->tool_version : "");
    if (b.oom) {
        sb_free(&b);
        return HERD_E_NOMEM;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

int report_html_write_set(const struct report *const *r, const char *const *titles, size_t n,
                          const char *title, const char *path, char *err, size_t errlen)
{
    struct sbuf b = {0};
    html_head(&b, title);
    sb_put(&b, "<h1>");
    sb_esc(&b, title);
    sb_put(&b, "</h1>\n<nav><ul>\n");
    for (size_t i = 0; i < n; i++) {
        sb_printf(&b, "<li><a href=\"#run%zu\">", i);
        sb_esc(&b, titles[i]);
        sb_put(&b, "</a></li>\n");
    }
    sb_put(&b, "</ul></nav>\n");
    for (size_t i = 0; i < n; i++) {
        char pfx[32];
        snprintf(pfx, sizeof pfx, "run%zu-", i);
        sb_printf(&b, "<article class=\"run\" id=\"run%zu\">\n", i);
        report_body(&b, r[i], titles[i], pfx);
        sb_put(&b, "</article>\n");
    }
    sb_put(&b, "<footer class=\"mut\"><p>Written by herd.</p></footer>\n</body>\n</html>\n");
    if (b.oom) {
        sb_free(&b);
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot build the HTML report: out of memory", path);
        return HERD_E_NOMEM;
    }
    int rc = atomic_file_write(path, b.p, b.len, err, errlen);
    sb_free(&b);
    return rc;
}

int report_html_write(const struct report *r, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    if (report_html_render(r, &text, &len) != 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot build the HTML report: out of memory", path);
        return HERD_E_NOMEM;
    }
    int rc = atomic_file_write(path, text, len, err, errlen);
    free(text);
    return rc;
}

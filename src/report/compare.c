/* compare.c - two runs side by side (`herd report BASE.json NEW.json`): each histogram's
 * percentiles and the main counters with their deltas, in the terminal and as HTML, and the
 * --max-regression verdict that lets CI keep a saved baseline. */
#include "report/report.h"

#include "base/err.h"
#include "report/html_internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The percentiles compared, with their row suffixes; `judged` ones make the default set. */
static const struct {
    const char *suffix;
    double p; /* -2 max, -3 mean */
    int judged;
} stat_cols[] = {{"p50", 50, 1},     {"p90", 90, 1}, {"p95", 95, 1}, {"p99", 99, 1},
                 {"p99.9", 99.9, 1}, {"max", -2, 0}, {"mean", -3, 0}};

#define PCT_POINTS 121

static int is_metric(const char *name, size_t len)
{
    for (int m = 0; m < M_COUNT; m++) {
        if (strlen(metric_name[m]) == len && strncmp(metric_name[m], name, len) == 0)
            return 1;
    }
    return 0;
}

int report_regression_parse(const char *text, struct report_regression *out, size_t *n, size_t max,
                            char *why, size_t whylen)
{
    const char *p = text;
    if (!*p) {
        snprintf(why, whylen, "--max-regression: expected a percentage like 10%% or rtt.p99=10%%");
        return HERD_E_INVAL;
    }
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[128];
        if (len == 0 || len >= sizeof item) {
            snprintf(why, whylen, "--max-regression \"%s\": an empty or overlong item", text);
            return HERD_E_INVAL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (*n >= max) {
            snprintf(why, whylen, "--max-regression: more than %zu limits", max);
            return HERD_E_INVAL;
        }
        struct report_regression *r = &out[*n];
        memset(r, 0, sizeof *r);
        char *eq = strchr(item, '=');
        const char *num = item;
        if (eq) {
            *eq = '\0';
            num = eq + 1;
            size_t ml = strlen(item);
            if (!ml || ml >= sizeof r->metric) {
                snprintf(why, whylen, "--max-regression \"%s\": expected METRIC=N%%", text);
                return HERD_E_INVAL;
            }
            for (const char *c = item; *c; c++) {
                if (!isalnum((unsigned char)*c) && !strchr("._/:-", *c)) {
                    snprintf(why, whylen, "--max-regression \"%s\": \"%s\" is not a metric", text,
                             item);
                    return HERD_E_INVAL;
                }
            }
            memcpy(r->metric, item, ml + 1);
        }
        char *end;
        double v = strtod(num, &end);
        if (end == num || strcmp(end, "%") != 0 || !isfinite(v) || v < 0) {
            snprintf(why, whylen,
                     "--max-regression \"%s\": expected a percentage >= 0 like 10%% (\"%s\")", text,
                     num);
            return HERD_E_INVAL;
        }
        r->pct = v;
        (*n)++;
        p += len;
        if (*p == ',') {
            p++;
            if (!*p) {
                snprintf(why, whylen, "--max-regression \"%s\": an empty item", text);
                return HERD_E_INVAL;
            }
        }
    }
    return 0;
}

struct rows {
    struct report_cmp_row *v;
    size_t n, cap;
};

static struct report_cmp_row *row_add(struct rows *r, const char *name, enum report_cmp_kind kind,
                                      int dir)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct report_cmp_row *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return NULL;
        r->v = v;
        r->cap = cap;
    }
    struct report_cmp_row *row = &r->v[r->n++];
    memset(row, 0, sizeof *row);
    snprintf(row->name, sizeof row->name, "%s", name);
    row->kind = kind;
    row->dir = dir;
    row->limit = NAN;
    row->delta_pct = NAN;
    return row;
}

static double stat_of(const struct hist *h, double p)
{
    return p == -2 ? (double)hist_max(h) : p == -3 ? hist_mean(h) : (double)hist_percentile(h, p);
}

static double per_s(uint64_t v, double secs)
{
    return secs > 0 ? (double)v / secs : 0;
}

/* The part of a row name after its group ("subs:rtt.p99" -> "rtt.p99"). */
static const char *figure_of(const char *name)
{
    const char *colon = strchr(name, ':');
    return colon ? colon + 1 : name;
}

/* Whether the limit's metric names this row: exactly (2), or its histogram's judged stats (1),
 * in the same group ("rtt" names "rtt.p99"; "subs:rtt" names "subs:rtt.p99"). */
static int selects(const char *metric, const struct report_cmp_row *row)
{
    if (strcmp(metric, row->name) == 0)
        return 2;
    size_t ml = strlen(metric);
    const char *fig = figure_of(metric);
    return row->in_default && strncmp(row->name, metric, ml) == 0 && row->name[ml] == '.' &&
           is_metric(fig, strlen(fig));
}

/* The rows of one pair of figures: the run's (prefix "") or a group's ("NAME:"). Returns 0, or
 * -1 out of memory. */
static int stats_rows(struct rows *rows, const char *prefix, const struct stats *bs,
                      const struct stats *ns, double bsec, double nsec)
{
    static const struct stats empty_stats; /* a group only one report has */
    int hb0 = bs != NULL, hn0 = ns != NULL;
    bs = bs ? bs : &empty_stats;
    ns = ns ? ns : &empty_stats;
    char name[sizeof rows->v->name];
#define ROW(label, kind, dir, hb, vb, hn, vn, dflt)                                                \
    do {                                                                                           \
        snprintf(name, sizeof name, "%s%s", prefix, label);                                        \
        struct report_cmp_row *r_ = row_add(rows, name, kind, dir);                                \
        if (!r_)                                                                                   \
            return -1;                                                                             \
        r_->has_base = (hb) && hb0;                                                                \
        r_->base = (vb);                                                                           \
        r_->has_new = (hn) && hn0;                                                                 \
        r_->nw = (vn);                                                                             \
        r_->in_default = (dflt);                                                                   \
    } while (0)
    if (!*prefix)
        ROW("duration_s", CMP_SECONDS, 0, 1, bsec, 1, nsec, 0);
    static const struct {
        enum counter c;
        int dir;
    } ctrs[] = {{CTR_CONNECTIONS_ATTEMPTED, 0}, {CTR_CONNECTIONS_OPENED, -1},
                {CTR_CONNECTIONS_FAILED, 1},    {CTR_CONNECTIONS_RECONNECTS, 1},
                {CTR_MESSAGES_SENT, 0},         {CTR_MESSAGES_RECEIVED, 0},
                {CTR_MESSAGES_LOST, 1}};
    for (size_t i = 0; i < ARRAY_SIZE(ctrs); i++)
        ROW(counter_name[ctrs[i].c], CMP_COUNT, ctrs[i].dir, 1, (double)bs->ctr[ctrs[i].c], 1,
            (double)ns->ctr[ctrs[i].c], 0);
    ROW("connections.peak", CMP_COUNT, -1, 1, (double)bs->peak, 1, (double)ns->peak, 0);
    ROW("errors", CMP_COUNT, 1, 1, (double)stats_errors_total(bs), 1,
        (double)stats_errors_total(ns), 0);
    ROW("messages.sent/s", CMP_RATE, -1, 1, per_s(bs->ctr[CTR_MESSAGES_SENT], bsec), 1,
        per_s(ns->ctr[CTR_MESSAGES_SENT], nsec), bs->ctr[CTR_MESSAGES_SENT] > 0);
    ROW("messages.received/s", CMP_RATE, -1, 1, per_s(bs->ctr[CTR_MESSAGES_RECEIVED], bsec), 1,
        per_s(ns->ctr[CTR_MESSAGES_RECEIVED], nsec), bs->ctr[CTR_MESSAGES_RECEIVED] > 0);
    for (int m = 0; m < M_COUNT; m++) {
        const struct hist *hb = bs->hist[m], *hn = ns->hist[m];
        int b = hb && hb->total_count > 0, n = hn && hn->total_count > 0;
        if (!b && !n)
            continue;
        char label[64];
        snprintf(label, sizeof label, "%s.count", metric_name[m]);
        ROW(label, CMP_COUNT, 0, 1, b ? (double)hb->total_count : 0, 1,
            n ? (double)hn->total_count : 0, 0);
        for (size_t k = 0; k < ARRAY_SIZE(stat_cols); k++) {
            snprintf(label, sizeof label, "%s.%s", metric_name[m], stat_cols[k].suffix);
            ROW(label, CMP_TIME, 1, b, b ? stat_of(hb, stat_cols[k].p) : NAN, n,
                n ? stat_of(hn, stat_cols[k].p) : NAN, stat_cols[k].judged);
        }
    }
#undef ROW
    return 0;
}

static const struct stats *group_stats(const struct report *r, const char *name)
{
    for (size_t g = 0; g < r->ngroups; g++) {
        if (r->groups[g].name && strcmp(r->groups[g].name, name) == 0)
            return r->groups[g].stats;
    }
    return NULL;
}

int report_compare_build(const struct report *base, const struct report *nw, const char *base_name,
                         const char *new_name, const struct report_regression *rg, size_t nrg,
                         struct report_compare *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->base = base;
    out->nw = nw;
    out->base_name = base_name;
    out->new_name = new_name;
    struct rows rows = {0};
    double bsec = base->duration_s, nsec = nw->duration_s;
    if (stats_rows(&rows, "", base->total, nw->total, bsec, nsec) != 0)
        goto oom;
    /* Scenario groups by name: BASE's in its order, then those only NEW has. */
    for (int side = 0; side < 2; side++) {
        const struct report *r = side ? nw : base;
        for (size_t g = 0; g < r->ngroups; g++) {
            const char *gname = r->groups[g].name ? r->groups[g].name : "";
            if (side && group_stats(base, gname))
                continue;
            char prefix[REPORT_GROUP_NAME + 2];
            snprintf(prefix, sizeof prefix, "%s:", gname);
            if (stats_rows(&rows, prefix, group_stats(base, gname), group_stats(nw, gname), bsec,
                           nsec) != 0)
                goto oom;
        }
    }
    /* deltas */
    for (size_t i = 0; i < rows.n; i++) {
        struct report_cmp_row *r = &rows.v[i];
        if (!r->has_base || !r->has_new)
            continue;
        if (r->base != 0)
            r->delta_pct = (r->nw - r->base) / fabs(r->base) * 100.0;
        else
            r->delta_pct = r->nw == 0 ? 0 : r->nw > 0 ? INFINITY : -INFINITY;
    }
    /* Limits: a figure's own name wins over its histogram's name, which wins over the default
     * set (the bare "10%"), whatever their order on the command line. */
    for (size_t k = 0; k < nrg; k++) {
        int matched = !rg[k].metric[0];
        for (size_t i = 0; i < rows.n && !matched; i++)
            matched = selects(rg[k].metric, &rows.v[i]) != 0;
        if (!matched) {
            snprintf(err, errlen,
                     "--max-regression: neither report has a figure named \"%s\" (a histogram "
                     "with samples such as rtt or rtt.p99, a counter such as errors or "
                     "connections.failed, messages.received/s; GROUP:rtt.p99 in a scenario)",
                     rg[k].metric);
            free(rows.v);
            return HERD_E_INVAL;
        }
    }
    for (int strength = 0; strength <= 2; strength++) {
        for (size_t k = 0; k < nrg; k++) {
            for (size_t i = 0; i < rows.n; i++) {
                int s = !rg[k].metric[0] ? (rows.v[i].in_default ? 0 : -1)
                                         : selects(rg[k].metric, &rows.v[i]);
                if (s == strength && (s > 0 || !rg[k].metric[0]))
                    rows.v[i].limit = rg[k].pct;
            }
        }
    }
    for (size_t i = 0; i < rows.n; i++) {
        struct report_cmp_row *r = &rows.v[i];
        if (isnan(r->limit))
            continue;
        if (r->has_base && !r->has_new)
            r->regressed = 1; /* the figure is gone: worse than any limit */
        else if (r->has_base && r->has_new && r->dir != 0)
            r->regressed = r->dir * r->delta_pct > r->limit;
        else if (r->has_base && r->has_new && r->dir == 0) /* judged only when chosen */
            r->regressed = fabs(r->delta_pct) > r->limit;
        out->nregressed += r->regressed != 0;
    }
    out->rows = rows.v;
    out->n = rows.n;
    return 0;
oom:
    free(rows.v);
    snprintf(err, errlen, "out of memory");
    return HERD_E_NOMEM;
}

void report_compare_free(struct report_compare *c)
{
    free(c->rows);
    memset(c, 0, sizeof *c);
}

static void fmt_val(char *out, size_t outlen, const struct report_cmp_row *r, int has, double v)
{
    if (!has || !isfinite(v))
        snprintf(out, outlen, "-");
    else if (r->kind == CMP_TIME)
        report_fmt_us(out, outlen, v);
    else if (r->kind == CMP_SECONDS)
        snprintf(out, outlen, "%.1fs", v);
    else if (r->kind == CMP_RATE)
        html_fmt_count(out, outlen, v);
    else
        snprintf(out, outlen, "%.0f", v);
}

static void fmt_delta(char *out, size_t outlen, const struct report_cmp_row *r)
{
    if (isnan(r->delta_pct))
        snprintf(out, outlen, "%s", r->has_base && !r->has_new ? "gone" : "-");
    else if (isinf(r->delta_pct))
        snprintf(out, outlen, "%s", r->delta_pct > 0 ? "new" : "-inf");
    else
        snprintf(out, outlen, "%+.1f%%", r->delta_pct);
}

static void run_line(FILE *out, const char *label, const char *file, const struct report *r)
{
    fprintf(out, "%-5s %s  (%s, %s, %.1fs%s)\n", label, file, r->target ? r->target : "scenario",
            r->started_at[0] ? r->started_at : "-", r->duration_s,
            r->complete ? "" : ", incomplete");
}

void report_compare_print(FILE *out, const struct report_compare *c)
{
    fputc('\n', out);
    run_line(out, "BASE", c->base_name, c->base);
    run_line(out, "NEW", c->new_name, c->nw);
    int w = 24; /* the name column: as wide as the longest name */
    for (size_t i = 0; i < c->n; i++) {
        int l = (int)strlen(c->rows[i].name) + 2;
        w = l > w ? l : w;
    }
    fprintf(out, "\n%-*s%12s%12s%10s\n", w, "", "BASE", "NEW", "delta");
    for (size_t i = 0; i < c->n; i++) {
        const struct report_cmp_row *r = &c->rows[i];
        /* a heading before each scenario group's rows */
        const char *fig = figure_of(r->name);
        if (fig != r->name &&
            (i == 0 || figure_of(c->rows[i - 1].name) - c->rows[i - 1].name != fig - r->name ||
             strncmp(c->rows[i - 1].name, r->name, (size_t)(fig - r->name))))
            fprintf(out, "\ngroup %.*s\n", (int)(fig - r->name - 1), r->name);
        /* a blank line before each histogram (its rows start with NAME.count) */
        const char *dot = strchr(fig, '.');
        if (dot && strcmp(dot, ".count") == 0)
            fputc('\n', out);
        char b[32], n[32], d[32];
        fmt_val(b, sizeof b, r, r->has_base, r->base);
        fmt_val(n, sizeof n, r, r->has_new, r->nw);
        fmt_delta(d, sizeof d, r);
        fprintf(out, "%-*s%12s%12s%10s", w, r->name, b, n, d);
        if (r->regressed)
            fprintf(out, "  REGRESSION (limit %g%%)", r->limit);
        fputc('\n', out);
    }
    int judged = 0;
    for (size_t i = 0; i < c->n; i++)
        judged |= !isnan(c->rows[i].limit);
    if (judged) {
        if (c->nregressed)
            fprintf(out,
                    "\nregressions: %zu figures of NEW are worse than BASE beyond their limit\n",
                    c->nregressed);
        else
            fprintf(out, "\nno regression beyond the limits\n");
    }
}

/* ---- HTML ---- */

static void html_run_row(struct sbuf *b, const char *label, const char *file,
                         const struct report *r)
{
    sb_printf(b, "<tr><th>%s</th><td><code>", label);
    sb_esc(b, file);
    sb_put(b, "</code></td><td><code>");
    sb_esc(b, r->target ? r->target : "scenario");
    sb_put(b, "</code></td><td>");
    sb_esc(b, r->started_at);
    sb_printf(b, "</td><td class=\"num\">%.1fs</td><td>%s</td></tr>\n", r->duration_s,
              r->complete ? "complete" : "incomplete");
}

/* Both runs' series of one kind, aligned by row index on the longer run's seconds. */
static void html_ts_pair(struct sbuf *b, const struct report_compare *c, const char *id,
                         const char *title, int what)
{
    size_t nb = c->base->nrows, nn = c->nw->nrows, n = nb > nn ? nb : nn;
    if (!n || (!c->base->rows && !c->nw->rows))
        return;
    const struct ts_row *lr = nb >= nn ? c->base->rows : c->nw->rows;
    double *x = calloc(n * 3, sizeof *x);
    if (!x) {
        b->oom = 1;
        return;
    }
    double *yb = x + n, *yn = x + 2 * n;
    for (size_t i = 0; i < n; i++) {
        x[i] = round(lr[i].t * 1000) / 1000;
        const struct ts_row *rows[2] = {i < nb ? &c->base->rows[i] : NULL,
                                        i < nn ? &c->nw->rows[i] : NULL};
        const struct ts_row *prev[2] = {i && i < nb ? &c->base->rows[i - 1] : NULL,
                                        i && i < nn ? &c->nw->rows[i - 1] : NULL};
        double *ys[2] = {yb, yn};
        for (int k = 0; k < 2; k++) {
            const struct ts_row *r = rows[k];
            if (!r) {
                ys[k][i] = NAN;
                continue;
            }
            double dt = prev[k] ? r->t - prev[k]->t : r->t;
            dt = dt > 0.05 ? dt : 1.0;
            ys[k][i] = what == 0 ? (double)r->open : (double)r->received / dt;
        }
    }
    struct svg_series s[2] = {{"BASE", yb}, {"NEW", yn}};
    svg_chart(b, id, title, SVG_X_SECONDS, SVG_Y_COUNT, x, n, s, 2);
    free(x);
}

int report_compare_html_write(const struct report_compare *c, const char *path, char *err,
                              size_t errlen)
{
    struct sbuf b = {0};
    html_head(&b, "herd report: BASE vs NEW");
    sb_put(&b, "<header><h1>herd: two runs compared</h1>\n");
    int judged = 0;
    for (size_t i = 0; i < c->n; i++)
        judged |= !isnan(c->rows[i].limit);
    if (judged)
        sb_printf(&b, "<p><span class=\"badge %s\">%s</span></p>\n", c->nregressed ? "bad" : "ok",
                  c->nregressed ? "regression beyond the limits"
                                : "no regression beyond the limits");
    sb_put(&b, "<div class=\"scroll\"><table><tr><th></th><th>file</th><th>target</th>"
               "<th>started</th><th class=\"num\">ran</th><th></th></tr>\n");
    html_run_row(&b, "BASE", c->base_name, c->base);
    html_run_row(&b, "NEW", c->new_name, c->nw);
    sb_put(&b, "</table></div></header>\n<section id=\"compare\"><h2>Figures</h2>\n"
               "<div class=\"scroll\"><table class=\"compare\"><tr><th></th>"
               "<th class=\"num\">BASE</th><th class=\"num\">NEW</th><th class=\"num\">delta</th>"
               "<th>limit</th></tr>\n");
    for (size_t i = 0; i < c->n; i++) {
        const struct report_cmp_row *r = &c->rows[i];
        char bv[32], nv[32], d[32];
        fmt_val(bv, sizeof bv, r, r->has_base, r->base);
        fmt_val(nv, sizeof nv, r, r->has_new, r->nw);
        fmt_delta(d, sizeof d, r);
        /* better or worse, by the figure's direction */
        const char *cls = "";
        if (r->regressed)
            cls = "bad";
        else if (r->dir && isfinite(r->delta_pct) && r->dir * r->delta_pct < 0)
            cls = "ok";
        sb_printf(&b,
                  "<tr><th>%s</th><td class=\"num\">%s</td><td class=\"num\">%s</td>"
                  "<td class=\"num %s\">%s</td><td>",
                  r->name, bv, nv, cls, d);
        if (!isnan(r->limit) && r->has_base)
            sb_printf(&b, "%s %g%%", r->regressed ? "<span class=\"bad\">over</span>" : "within",
                      r->limit);
        sb_put(&b, "</td></tr>\n");
    }
    sb_put(&b, "</table></div></section>\n<section id=\"charts\"><h2>Charts</h2>\n"
               "<div class=\"charts\">\n");
    double grid[PCT_POINTS];
    size_t n = svg_percentile_grid(grid, PCT_POINTS);
    double *y = calloc(2 * n, sizeof *y);
    if (!y)
        b.oom = 1;
    for (int m = 0; y && m < M_COUNT; m++) {
        const struct hist *hb = c->base->total->hist[m], *hn = c->nw->total->hist[m];
        int hasb = hb && hb->total_count > 0, hasn = hn && hn->total_count > 0;
        if (!hasb && !hasn)
            continue;
        for (size_t i = 0; i < n; i++) {
            y[i] = hasb ? (double)hist_percentile(hb, grid[i]) : NAN;
            y[n + i] = hasn ? (double)hist_percentile(hn, grid[i]) : NAN;
        }
        struct svg_series s[2] = {{"BASE", y}, {"NEW", y + n}};
        char id[64], title[96];
        snprintf(id, sizeof id, "pct-%s", metric_name[m]);
        snprintf(title, sizeof title, "%s: percentile distribution", metric_name[m]);
        svg_chart(&b, id, title, SVG_X_PERCENTILE, SVG_Y_US, grid, n, s, 2);
    }
    free(y);
    html_ts_pair(&b, c, "connections", "Open connections", 0);
    html_ts_pair(&b, c, "received", "Messages received per second", 1);
    sb_put(&b, "</div></section>\n<footer class=\"mut\"><p>Written by herd.</p></footer>\n"
               "</body>\n</html>\n");
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

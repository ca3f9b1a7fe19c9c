/* merge.c - merge reports read back (the shards of one run) into one, exactly where the figures
 * allow: see report.h for what each field becomes. */
#include "report/report.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>

/* Row d's histogram of metric m += s's, exactly (both decoded, added, encoded again), with
 * count, p50 and p99 from the sum. Returns 0, or -1 (d unchanged) when a text does not decode. */
static int merge_row_hist(struct ts_row *d, const struct ts_row *s, int m)
{
    struct hist *a = NULL, *b = NULL;
    int rc = -1;
    if (hist_v2_decode(s->hdr[m], strlen(s->hdr[m]), &b) != 0)
        return -1;
    if (d->hdr[m])
        rc = hist_v2_decode(d->hdr[m], strlen(d->hdr[m]), &a);
    else
        rc = (a = hist_new_default()) ? 0 : -1;
    if (rc == 0)
        rc = hist_add(a, b);
    if (rc == 0)
        report_row_set_hist(d, m, a); /* out of memory: the figures, without the text */
    hist_free(a);
    hist_free(b);
    return rc;
}

static void merge_row(struct ts_row *d, const struct ts_row *s)
{
    d->t = s->t > d->t ? s->t : d->t;
    d->open += s->open;
    d->attempted += s->attempted;
    d->opened += s->opened;
    d->failed += s->failed;
    d->closed += s->closed;
    d->reconnects += s->reconnects;
    d->pending += s->pending;
    d->connecting += s->connecting;
    d->sent += s->sent;
    d->received += s->received;
    d->errors += s->errors;
    /* --watch-pid: the processes each shard watched add up (--procs lets one child watch) */
    if (s->target_n) {
        if (!d->target_n)
            d->target_fds = 0;
        d->target_n += s->target_n;
        d->target_cpu_user_pct += s->target_cpu_user_pct;
        d->target_cpu_system_pct += s->target_cpu_system_pct;
        d->target_rss_bytes += s->target_rss_bytes;
        d->target_threads += s->target_threads;
        d->target_fds = d->target_fds < 0 || s->target_fds < 0 ? -1 : d->target_fds + s->target_fds;
    }
    for (int m = 0; m < M_COUNT; m++) {
        if (!s->count[m])
            continue;
        if (s->hdr[m] && (!d->count[m] || d->hdr[m]) && merge_row_hist(d, s, m) == 0)
            continue;
        /* Without both histograms (a report written before rows carried them): each is an upper
         * bound of the merged percentile: in every shard at most 1 % (50 %) of the samples lie
         * above its own p99 (p50), so at most that share of the union lies above the largest of
         * them. */
        if (!d->count[m] || s->p50_us[m] > d->p50_us[m])
            d->p50_us[m] = s->p50_us[m];
        if (!d->count[m] || s->p99_us[m] > d->p99_us[m])
            d->p99_us[m] = s->p99_us[m];
        d->count[m] += s->count[m];
        free(d->hdr[m]); /* the merged interval's histogram is not known */
        d->hdr[m] = NULL;
    }
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* Groups merge by name: counters, errors and histograms add up, so do open and the peaks (a
 * group has no time series to align, so its merged peak is the sum: an upper bound). */
static void merge_groups(struct report_read *dst, const struct report_read *src)
{
    for (size_t i = 0; i < src->ngroups; i++) {
        const struct report_read_group *sg = &src->groups[i];
        struct report_read_group *dg = NULL;
        for (size_t k = 0; k < dst->ngroups && !dg; k++) {
            if (strcmp(dst->groups[k].name, sg->name) == 0)
                dg = &dst->groups[k];
        }
        if (!dg) {
            if (dst->ngroups == REPORT_MAX_GROUPS)
                continue;
            dst->groups = xrealloc(dst->groups, (dst->ngroups + 1) * sizeof *dst->groups);
            dg = &dst->groups[dst->ngroups++];
            memset(dg, 0, sizeof *dg);
            stats_init(&dg->total);
            dg->name = xstrdup(sg->name);
            dg->target = dup_or_null(sg->target);
            dg->role = dup_or_null(sg->role);
            for (size_t k = 0; k < sg->nconfig; k++) {
                dg->config[k].key = xstrdup(sg->config[k].key);
                dg->config[k].value = xstrdup(sg->config[k].value);
                dg->config[k].is_number = sg->config[k].is_number;
            }
            dg->nconfig = sg->nconfig;
        }
        stats_merge(&dg->total, &sg->total);
        dg->peak_sum += sg->peak_sum;
        dg->total.peak = dg->peak_sum;
    }
}

void report_start_merge(struct report_start *a, const struct report_start *b)
{
    if (!b->planned_ns)
        return;
    if (!a->planned_ns) {
        *a = *b;
        return;
    }
    a->planned_ns = b->planned_ns < a->planned_ns ? b->planned_ns : a->planned_ns;
    a->first_ns = b->first_ns < a->first_ns ? b->first_ns : a->first_ns;
    a->last_ns = b->last_ns > a->last_ns ? b->last_ns : a->last_ns;
    a->late_max_ns = b->late_max_ns > a->late_max_ns ? b->late_max_ns : a->late_max_ns;
    a->shards += b->shards;
}

void report_read_merge(struct report_read *dst, const struct report_read *src)
{
    int64_t peak_max = dst->total.peak > src->total.peak ? dst->total.peak : src->total.peak;
    stats_merge(&dst->total, &src->total); /* counters, errors, histograms; open and peak summed */
    dst->total.peak = peak_max; /* the largest single peak until report_read_merge_done */
    dst->peak_sum += src->peak_sum;
    if (!dst->env.host[0] && !dst->env.command_line[0])
        dst->env = src->env; /* the first report's that has one */

    if (src->nrows > dst->nrows) {
        dst->rows = xrealloc(dst->rows, src->nrows * sizeof *dst->rows);
        memset(dst->rows + dst->nrows, 0, (src->nrows - dst->nrows) * sizeof *dst->rows);
        dst->nrows = src->nrows;
    }
    for (size_t i = 0; i < src->nrows; i++)
        merge_row(&dst->rows[i], &src->rows[i]);

    if (dst->nstages == src->nstages) {
        for (size_t k = 0; k < dst->nstages; k++)
            dst->stages[k].target += src->stages[k].target;
    } else {
        dst->nstages = 0;
    }

    dst->duration_s = src->duration_s > dst->duration_s ? src->duration_s : dst->duration_s;
    dst->complete = dst->complete && src->complete;
    dst->shards += src->shards;
    if (src->started_at[0] && (!dst->started_at[0] || strcmp(src->started_at, dst->started_at) < 0))
        memcpy(dst->started_at, src->started_at, sizeof dst->started_at);
    if (!dst->target && src->target)
        dst->target = xstrdup(src->target);
    for (size_t i = 0; i < src->nthresholds; i++) {
        size_t j = 0;
        while (j < dst->nthresholds &&
               (strcmp(dst->thresholds[j], src->thresholds[i]) != 0 ||
                strcmp(dst->threshold_group[j], src->threshold_group[i]) != 0))
            j++;
        if (j == dst->nthresholds && dst->nthresholds < REPORT_MAX_RESULTS) {
            memcpy(dst->thresholds[dst->nthresholds], src->thresholds[i],
                   sizeof dst->thresholds[0]);
            memcpy(dst->threshold_group[dst->nthresholds++], src->threshold_group[i],
                   sizeof dst->threshold_group[0]);
        }
    }
    merge_groups(dst, src);
    /* Warnings: each once (those the figures call for are derived again from the merged ones
     * when the merged report is written). */
    for (size_t i = 0; i < src->nwarnings && dst->nwarnings < REPORT_MAX_WARNINGS; i++) {
        size_t j = 0;
        while (j < dst->nwarnings && strcmp(dst->warnings[j], src->warnings[i]) != 0)
            j++;
        if (j == dst->nwarnings)
            memcpy(dst->warnings[dst->nwarnings++], src->warnings[i], sizeof dst->warnings[0]);
    }
    /* The watched processes: each report's, side by side. */
    for (size_t i = 0; i < src->ntargets && dst->ntargets < REPORT_MAX_TARGETS; i++)
        dst->targets[dst->ntargets++] = src->targets[i];
    report_start_merge(&dst->start, &src->start);
    /* The limit: what the shards asked and reached adds up; the first cause names it. */
    if (src->limit.asked) {
        if (!dst->limit.asked)
            memcpy(dst->limit.cause, src->limit.cause, sizeof dst->limit.cause);
        dst->limit.asked += src->limit.asked;
        dst->limit.reached += src->limit.reached;
        dst->limit.errors += src->limit.errors;
    }
}

void report_read_merge_done(struct report_read *r)
{
    if (r->nrows) {
        int64_t most = r->total.peak;
        for (size_t i = 0; i < r->nrows; i++)
            most = r->rows[i].open > most ? r->rows[i].open : most;
        r->total.peak = most;
    } else {
        r->total.peak = r->peak_sum;
    }
    /* The shards that hit a limit fell short by asked - reached each; shards that did not hit
     * one reached their share. */
    if (r->limit.asked) {
        uint64_t shortfall =
            r->limit.asked > r->limit.reached ? r->limit.asked - r->limit.reached : 0;
        r->limit.reached = r->total.peak > 0 ? (uint64_t)r->total.peak : 0;
        r->limit.asked = r->limit.reached + shortfall;
    }
    if (r->nstages) {
        struct report view;
        report_read_view(r, &view);
        report_stages_eval(&view);
        memcpy(r->stages, view.stages, r->nstages * sizeof r->stages[0]);
    }
}

void report_read_view(const struct report_read *r, struct report *out)
{
    memset(out, 0, sizeof *out);
    out->tool_version = r->tool_version;
    out->complete = r->complete;
    out->target = r->target;
    memcpy(out->started_at, r->started_at, sizeof out->started_at);
    out->duration_s = r->duration_s;
    out->shards = r->shards;
    memcpy(out->config, r->config, r->nconfig * sizeof r->config[0]);
    out->nconfig = r->nconfig;
    out->total = &r->total;
    out->rows = r->rows;
    out->nrows = r->nrows;
    memcpy(out->stages, r->stages, r->nstages * sizeof r->stages[0]);
    out->nstages = r->nstages;
    for (size_t i = 0; i < r->ngroups && i < REPORT_MAX_GROUPS; i++) {
        struct report_group *g = &out->groups[out->ngroups++];
        const struct report_read_group *rg = &r->groups[i];
        g->name = rg->name;
        g->target = rg->target;
        g->role = rg->role;
        g->stats = &rg->total;
        g->config = rg->config;
        g->nconfig = rg->nconfig;
    }
    out->limit = r->limit;
    out->env = r->env;
    memcpy(out->targets, r->targets, r->ntargets * sizeof r->targets[0]);
    out->ntargets = r->ntargets;
    out->start = r->start;
    memcpy(out->warnings, r->warnings, r->nwarnings * sizeof r->warnings[0]);
    out->nwarnings = r->nwarnings;
}

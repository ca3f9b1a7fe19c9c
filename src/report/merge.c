/* merge.c - merge reports read back (the shards of one run) into one, exactly where the figures
 * allow: see report.h for what each field becomes. */
#include "report/report.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>

static void merge_row(struct ts_row *d, const struct ts_row *s)
{
    d->t = s->t > d->t ? s->t : d->t;
    d->open += s->open;
    d->attempted += s->attempted;
    d->opened += s->opened;
    d->failed += s->failed;
    d->closed += s->closed;
    d->reconnects += s->reconnects;
    d->sent += s->sent;
    d->received += s->received;
    d->errors += s->errors;
    for (int m = 0; m < M_COUNT; m++) {
        if (!s->count[m])
            continue;
        /* Each is an upper bound of the merged percentile: in every shard at most 1 % (50 %)
         * of the samples lie above its own p99 (p50), so at most that share of the union lies
         * above the largest of them. */
        if (!d->count[m] || s->p50_us[m] > d->p50_us[m])
            d->p50_us[m] = s->p50_us[m];
        if (!d->count[m] || s->p99_us[m] > d->p99_us[m])
            d->p99_us[m] = s->p99_us[m];
        d->count[m] += s->count[m];
    }
}

void report_read_merge(struct report_read *dst, const struct report_read *src)
{
    int64_t peak_max = dst->total.peak > src->total.peak ? dst->total.peak : src->total.peak;
    stats_merge(&dst->total, &src->total); /* counters, errors, histograms; open and peak summed */
    dst->total.peak = peak_max; /* the largest single peak until report_read_merge_done */
    dst->peak_sum += src->peak_sum;

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
        while (j < dst->nthresholds && strcmp(dst->thresholds[j], src->thresholds[i]) != 0)
            j++;
        if (j == dst->nthresholds && dst->nthresholds < REPORT_MAX_THRESHOLDS)
            memcpy(dst->thresholds[dst->nthresholds++], src->thresholds[i],
                   sizeof dst->thresholds[0]);
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
}

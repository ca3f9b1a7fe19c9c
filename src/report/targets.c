/* targets.c - the watched processes (--watch-pid) in the report: each one's summary over the
 * run (the "targets" list) and the per-second sums of the time series (target_* of a row). */
#include "report/report.h"

#include <string.h>

void report_target_init(struct report_target *t, int pid, const char *name)
{
    memset(t, 0, sizeof *t);
    t->pid = pid;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->exited_at_s = -1;
    t->fds_max = -1;
}

void report_target_note(struct report_target *t, struct ts_row *row,
                        const struct procwatch_sample *s)
{
    if (!s) { /* gone: the first second it is seen gone is when it exited */
        if (t->exited_at_s < 0)
            t->exited_at_s = row->t;
        return;
    }
    double cpu = s->cpu_user_pct + s->cpu_system_pct;
    t->samples++;
    double n = (double)t->samples;
    t->cpu_mean_pct += (cpu - t->cpu_mean_pct) / n;
    t->cpu_user_mean_pct += (s->cpu_user_pct - t->cpu_user_mean_pct) / n;
    t->cpu_system_mean_pct += (s->cpu_system_pct - t->cpu_system_mean_pct) / n;
    if (cpu > t->cpu_max_pct)
        t->cpu_max_pct = cpu;
    if (s->rss_bytes > t->rss_max_bytes)
        t->rss_max_bytes = s->rss_bytes;
    t->rss_last_bytes = s->rss_bytes;
    if (s->fds > t->fds_max)
        t->fds_max = s->fds;
    if (s->threads > t->threads_max)
        t->threads_max = s->threads;
    /* The row's sums over the processes alive in this second. */
    if (!row->target_n)
        row->target_fds = 0;
    row->target_n++;
    row->target_cpu_user_pct += s->cpu_user_pct;
    row->target_cpu_system_pct += s->cpu_system_pct;
    row->target_rss_bytes += s->rss_bytes;
    row->target_threads += s->threads;
    if (s->fds < 0 || row->target_fds < 0)
        row->target_fds = -1;
    else
        row->target_fds += s->fds;
}

/* merge.c - `herd merge A.json B.json ...`: merge the JSON reports of the shards of one run
 * (herd run --shard I/N, or the processes of --procs) into one. Counters, errors and histograms
 * add up exactly; what the reports cannot give exactly (the peak, per-second percentiles) is
 * bounded as report.h says. */
#include "cmd/cmd.h"

#include "base/log.h"
#include "report/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A warning the merge itself adds (not derived from figures): kept through later merges. */
#define MERGE_WARNING_PREFIX "merge: "

int merge_finish(struct report_read *m, const struct threshold *thr, size_t nthr,
                 int file_thresholds, const struct report_kv *config, size_t nconfig,
                 const struct report_outputs *outs, int *failed, int *empty)
{
    report_read_merge_done(m);
    struct report rep;
    report_read_view(m, &rep);
    rep.tool_version = HERD_VERSION;
    if (config) {
        memcpy(rep.config, config, nconfig * sizeof config[0]);
        rep.nconfig = nconfig;
    } else if (m->shards > 1) {
        /* One shard's "shard": "0/2" says nothing about the merged report. */
        size_t k = 0;
        for (size_t i = 0; i < rep.nconfig; i++) {
            if (strcmp(rep.config[i].key, "shard") != 0)
                rep.config[k++] = rep.config[i];
        }
        rep.nconfig = k;
    }
    /* The warnings: those the merge itself added (kept from the inputs), then what the merged
     * figures call for, derived again (an input's "rtt: no sample" may not hold of the whole). */
    size_t kept = 0;
    for (size_t i = 0; i < rep.nwarnings; i++) {
        if (strncmp(rep.warnings[i], MERGE_WARNING_PREFIX, strlen(MERGE_WARNING_PREFIX)) == 0)
            memmove(rep.warnings[kept++], rep.warnings[i], sizeof rep.warnings[0]);
    }
    rep.nwarnings = kept;
    *empty = report_warnings_derive(&rep);

    /* The thresholds: the inputs' own (evaluated again, on the merged figures), then the
     * caller's, each expression once. */
    struct threshold *all = xcalloc(REPORT_MAX_RESULTS, sizeof *all);
    size_t n = 0;
    for (size_t i = 0; file_thresholds && i < m->nthresholds && n < REPORT_MAX_THRESHOLDS; i++) {
        char why[256];
        if (m->threshold_group[i][0])
            continue; /* a group's: below */
        if (threshold_parse(m->thresholds[i], &all[n], why, sizeof why) != 0) {
            fprintf(stderr, "herd: merge: ignoring a threshold of the reports: %s\n", why);
            continue;
        }
        n++;
    }
    for (size_t i = 0; i < nthr && n < REPORT_MAX_THRESHOLDS; i++) {
        size_t j = 0;
        while (j < n && strcmp(all[j].expr, thr[i].expr) != 0)
            j++;
        if (j == n)
            all[n++] = thr[i];
    }
    *failed = report_thresholds_eval(&rep, all, n);
    /* A scenario group's thresholds, each on its group's merged figures. */
    size_t ng = n;
    for (size_t i = 0; file_thresholds && i < m->nthresholds && ng < REPORT_MAX_RESULTS; i++) {
        char why[256];
        if (!m->threshold_group[i][0])
            continue;
        size_t g = 0;
        while (g < rep.ngroups && strcmp(rep.groups[g].name, m->threshold_group[i]) != 0)
            g++;
        if (g == rep.ngroups) {
            fprintf(stderr, "herd: merge: ignoring a threshold of group %s, which has no figures\n",
                    m->threshold_group[i]);
            continue;
        }
        if (threshold_parse(m->thresholds[i], &all[ng], why, sizeof why) != 0) {
            fprintf(stderr, "herd: merge: ignoring a threshold of the reports: %s\n", why);
            continue;
        }
        *failed += report_group_thresholds_eval(&rep, g, &all[ng], 1);
        ng++;
    }

    int rc = report_outputs_write(outs, &rep);
    report_warnings_print(stderr, &rep);
    free(all);
    return rc;
}

int cmd_merge(int argc, char **argv)
{
    struct merge_options mo;
    char err[600];
    int code = EXIT_USAGE;
    struct report_read merged, next;
    int have = 0;

    int rc = cli_merge_parse(argc, argv, &mo, err, sizeof err);
    if (rc == CLI_HELP) {
        code = EXIT_OK;
        goto out;
    }
    if (rc < 0) {
        fprintf(stderr, "herd: %s\n", err);
        goto out;
    }
    /* The outputs before the inputs: a path that cannot be written is said before the work. */
    struct report_outputs outs;
    cli_run_outputs(&mo.run, stdout, &outs);
    if (report_outputs_check(&outs, err, sizeof err) != 0) {
        fprintf(stderr, "herd: %s\n", err);
        goto out;
    }

    for (size_t f = 0; f < mo.nfiles; f++) {
        struct report_read *r = have ? &next : &merged;
        if (report_json_read(mo.files[f], r, err, sizeof err) != 0) {
            fprintf(stderr, "herd: %s\n", err);
            report_read_free(r);
            goto out;
        }
        if (!have) {
            have = 1;
            continue;
        }
        if ((merged.target || next.target) &&
            (!merged.target || !next.target || strcmp(merged.target, next.target) != 0))
            fprintf(stderr, "herd: warning: %s is a report of %s, %s of %s; merging anyway\n",
                    mo.files[f], next.target ? next.target : "(no target)", mo.files[0],
                    merged.target ? merged.target : "(no target)");
        report_read_merge(&merged, &next);
        report_read_free(&next);
    }

    int failed = 0, empty = 0;
    if (merge_finish(&merged, mo.run.thresholds, mo.run.nthresholds, 1, NULL, 0, &outs, &failed,
                     &empty) != 0)
        code = EXIT_USAGE;
    else
        code = failed ? EXIT_THRESHOLD : EXIT_OK;
out:
    if (have)
        report_read_free(&merged);
    cli_merge_options_free(&mo);
    return code;
}

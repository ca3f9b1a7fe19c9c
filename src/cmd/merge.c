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

int merge_finish(struct report_read *m, const struct threshold *thr, size_t nthr,
                 int file_thresholds, const struct report_kv *config, size_t nconfig,
                 const char *json_path, const char *csv_path, FILE *out, int *failed)
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

    int rc = 0;
    char err[512];
    if (out)
        report_summary_print(out, &rep);
    if (json_path && report_json_write(&rep, json_path, err, sizeof err) != 0) {
        fprintf(stderr, "herd: --json: %s\n", err);
        rc = -1;
    }
    if (csv_path && report_csv_write(&rep, csv_path, err, sizeof err) != 0) {
        fprintf(stderr, "herd: --csv: %s\n", err);
        rc = -1;
    }
    free(all);
    return rc;
}

/* The value of option `name` at argv[*i] ("--name V" or "--name=V"); NULL if argv[*i] is not
 * that option. Sets *missing when the value is missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

int cmd_merge(int argc, char **argv)
{
    const char *json_path = NULL, *csv_path = NULL;
    struct threshold *thr = xcalloc(REPORT_MAX_THRESHOLDS, sizeof *thr);
    size_t nthr = 0;
    const char **files = xcalloc((size_t)argc, sizeof *files);
    size_t nfiles = 0;
    int code = EXIT_USAGE, options_done = 0;
    struct report_read merged, next;
    int have = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        if (options_done || a[0] != '-' || a[1] == '\0') {
            files[nfiles++] = a;
        } else if (strcmp(a, "--") == 0) {
            options_done = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cli_usage(stdout, "merge");
            code = EXIT_OK;
            goto out;
        } else if ((v = opt_value(argc, argv, &i, "--json", &missing)) != NULL) {
            json_path = v;
        } else if ((v = opt_value(argc, argv, &i, "--csv", &missing)) != NULL) {
            csv_path = v;
        } else if ((v = opt_value(argc, argv, &i, "--threshold", &missing)) != NULL) {
            char why[256];
            if (nthr == REPORT_MAX_THRESHOLDS) {
                fprintf(stderr, "herd: --threshold: at most %d thresholds\n",
                        REPORT_MAX_THRESHOLDS);
                goto out;
            }
            if (threshold_parse(v, &thr[nthr], why, sizeof why) != 0) {
                fprintf(stderr, "herd: --threshold: %s\n", why);
                goto out;
            }
            nthr++;
        } else if (missing) {
            fprintf(stderr, "herd: %s: expected a value\n", a);
            goto out;
        } else {
            fprintf(stderr, "herd: unknown option %s (see herd merge --help)\n", a);
            goto out;
        }
    }
    if (!nfiles) {
        fprintf(stderr, "herd: merge: expected JSON reports to merge (see herd merge --help)\n");
        goto out;
    }

    for (size_t f = 0; f < nfiles; f++) {
        char err[512];
        struct report_read *r = have ? &next : &merged;
        if (report_json_read(files[f], r, err, sizeof err) != 0) {
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
                    files[f], next.target ? next.target : "(no target)", files[0],
                    merged.target ? merged.target : "(no target)");
        report_read_merge(&merged, &next);
        report_read_free(&next);
    }

    int failed = 0;
    if (merge_finish(&merged, thr, nthr, 1, NULL, 0, json_path, csv_path, stdout, &failed) != 0)
        code = EXIT_USAGE;
    else
        code = failed ? EXIT_THRESHOLD : EXIT_OK;
out:
    if (have)
        report_read_free(&merged);
    free(files);
    free(thr);
    return code;
}

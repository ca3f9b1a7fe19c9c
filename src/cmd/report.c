/* report.c - `herd report`: a saved JSON report read again. With one report it prints the
 * terminal summary again (its thresholds judged again on its figures) and writes it as HTML,
 * CSV or JSON through the same output path as a run; with two it compares BASE and NEW side by
 * side, in the terminal and as HTML, and with --max-regression exits 1 when NEW is worse than
 * BASE by more than the limits: a saved baseline in CI. */
#include "cmd/cmd.h"

#include "base/log.h"
#include "report/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct report_args {
    const char *files[2];
    size_t nfiles;
    const char *html, *csv, *json;
    struct report_regression limits[REPORT_MAX_REGRESSIONS];
    size_t nlimits;
};

/* "--opt V" or "--opt=V" at argv[*i]: the value, or NULL when argv[*i] is not --opt. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt, int *missing)
{
    size_t n = strlen(opt);
    if (strncmp(argv[*i], opt, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

/* Returns 0, 1 for --help, or -1 with the reason said on stderr. */
static int args_parse(int argc, char **argv, struct report_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *v;
        int missing = 0;
        char why[300];
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            cli_usage(stdout, "report");
            return 1;
        } else if ((v = opt_value(argc, argv, &i, "--html", &missing))) {
            a->html = v;
        } else if ((v = opt_value(argc, argv, &i, "--csv", &missing))) {
            a->csv = v;
        } else if ((v = opt_value(argc, argv, &i, "--json", &missing))) {
            a->json = v;
        } else if ((v = opt_value(argc, argv, &i, "--max-regression", &missing))) {
            if (report_regression_parse(v, a->limits, &a->nlimits, REPORT_MAX_REGRESSIONS, why,
                                        sizeof why) != 0) {
                fprintf(stderr, "herd: report: %s\n", why);
                return -1;
            }
        } else if (missing) {
            fprintf(stderr, "herd: report: %s needs a value (see herd report --help)\n", argv[i]);
            return -1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "herd: report: unknown option %s (see herd report --help)\n", argv[i]);
            return -1;
        } else if (a->nfiles == 2) {
            fprintf(stderr,
                    "herd: report: at most two reports, BASE.json NEW.json (\"%s\" is a "
                    "third; herd merge adds up the shards of one run)\n",
                    argv[i]);
            return -1;
        } else {
            a->files[a->nfiles++] = argv[i];
        }
    }
    if (!a->nfiles) {
        fprintf(stderr, "herd: report: expected RUN.json, or BASE.json NEW.json (see herd report "
                        "--help)\n");
        return -1;
    }
    if (a->nfiles == 1 && a->nlimits) {
        fprintf(stderr, "herd: report: --max-regression compares two reports: BASE.json "
                        "NEW.json\n");
        return -1;
    }
    if (a->nfiles == 2 && (a->csv || a->json)) {
        fprintf(stderr, "herd: report: --%s writes one report; a comparison has --html only\n",
                a->csv ? "csv" : "json");
        return -1;
    }
    return 0;
}

/* The thresholds the report was run with, judged again on its figures (the run's and each
 * group's). Returns how many failed. */
static int thresholds_again(struct report *rep, const struct report_read *r, struct threshold *t)
{
    size_t n = 0;
    int failed = 0;
    char why[256];
    for (size_t i = 0; i < r->nthresholds && n < REPORT_MAX_THRESHOLDS; i++) {
        if (!r->threshold_group[i][0] &&
            threshold_parse(r->thresholds[i], &t[n], why, sizeof why) == 0)
            n++;
    }
    failed = report_thresholds_eval(rep, t, n);
    for (size_t i = 0; i < r->nthresholds && n < REPORT_MAX_RESULTS; i++) {
        if (!r->threshold_group[i][0])
            continue;
        for (size_t g = 0; g < rep->ngroups; g++) {
            if (strcmp(rep->groups[g].name, r->threshold_group[i]) == 0 &&
                threshold_parse(r->thresholds[i], &t[n], why, sizeof why) == 0) {
                failed += report_group_thresholds_eval(rep, g, &t[n], 1);
                n++;
                break;
            }
        }
    }
    return failed;
}

static int report_one(const struct report_args *a)
{
    struct report_outputs outs;
    memset(&outs, 0, sizeof outs);
    outs.summary = stdout;
    if (a->json)
        outs.file[outs.nfiles++] = (struct report_output){"json", a->json, report_json_write};
    if (a->csv)
        outs.file[outs.nfiles++] = (struct report_output){"csv", a->csv, report_csv_write};
    if (a->html)
        outs.file[outs.nfiles++] = (struct report_output){"html", a->html, report_html_write};
    char err[600];
    if (report_outputs_check(&outs, err, sizeof err) != 0) {
        fprintf(stderr, "herd: report: %s\n", err);
        return EXIT_USAGE;
    }
    struct report_read r;
    if (report_json_read(a->files[0], &r, err, sizeof err) != 0) {
        fprintf(stderr, "herd: report: %s\n", err);
        report_read_free(&r);
        return EXIT_USAGE;
    }
    struct report *rep = xcalloc(1, sizeof *rep);
    struct threshold *t = xcalloc(REPORT_MAX_RESULTS, sizeof *t);
    report_read_view(&r, rep);
    int failed = thresholds_again(rep, &r, t);
    int code = report_outputs_write(&outs, rep) != 0 ? EXIT_USAGE
               : failed                              ? EXIT_THRESHOLD
                                                     : EXIT_OK;
    report_warnings_print(stderr, rep);
    free(t);
    free(rep);
    report_read_free(&r);
    return code;
}

static int report_two(const struct report_args *a)
{
    char err[600];
    if (a->html && atomic_file_check(a->html, err, sizeof err) != 0) {
        fprintf(stderr, "herd: report: --html: %s\n", err);
        return EXIT_USAGE;
    }
    struct report_read r[2];
    int code = EXIT_USAGE;
    size_t nread = 0;
    for (; nread < 2; nread++) {
        if (report_json_read(a->files[nread], &r[nread], err, sizeof err) != 0) {
            fprintf(stderr, "herd: report: %s\n", err);
            report_read_free(&r[nread]);
            goto out;
        }
    }
    struct report *rep = xcalloc(2, sizeof *rep);
    report_read_view(&r[0], &rep[0]);
    report_read_view(&r[1], &rep[1]);
    struct report_compare c;
    if (report_compare_build(&rep[0], &rep[1], a->files[0], a->files[1], a->limits, a->nlimits, &c,
                             err, sizeof err) != 0) {
        fprintf(stderr, "herd: report: %s\n", err);
        free(rep);
        goto out;
    }
    report_compare_print(stdout, &c);
    fflush(stdout);
    code = c.nregressed ? EXIT_THRESHOLD : EXIT_OK;
    if (a->html && report_compare_html_write(&c, a->html, err, sizeof err) != 0) {
        fprintf(stderr, "herd: report: --html: %s\n", err);
        code = EXIT_USAGE;
    }
    report_compare_free(&c);
    free(rep);
out:
    for (size_t i = 0; i < nread; i++)
        report_read_free(&r[i]);
    return code;
}

int cmd_report(int argc, char **argv)
{
    struct report_args a;
    int rc = args_parse(argc, argv, &a);
    if (rc != 0)
        return rc > 0 ? EXIT_OK : EXIT_USAGE;
    return a.nfiles == 1 ? report_one(&a) : report_two(&a);
}

/* outputs.c - the one place that writes what a run (or a merge) produces at its end: the summary,
 * then each report file the command line asked for. `herd run`, `herd run --procs` and
 * `herd merge` all end here, and a new format is one more writer in cli's option table. */
#include "report/report.h"

#include <stdio.h>

int report_outputs_check(const struct report_outputs *o, char *err, size_t errlen)
{
    for (size_t i = 0; i < o->nfiles; i++) {
        const struct report_output *f = &o->file[i];
        char why[512];
        if (!f->write) {
            if (err && errlen)
                snprintf(err, errlen, "--%s: not supported yet", f->option);
            return -1;
        }
        if (f->path[0] == '-' && !f->path[1] && f->write == report_json_write)
            continue; /* --json -: on stdout, as a block among log lines */
        int rc = atomic_file_check(f->path, why, sizeof why);
        if (rc != 0) {
            if (err && errlen)
                snprintf(err, errlen, "--%s: %s", f->option, why);
            return rc;
        }
    }
    return 0;
}

int report_outputs_write(const struct report_outputs *o, const struct report *r)
{
    if (o->summary) {
        report_summary_print(o->summary, r);
        fflush(o->summary);
    }
    int rc = 0;
    for (size_t i = 0; i < o->nfiles; i++) {
        const struct report_output *f = &o->file[i];
        char err[600];
        if (!f->write) {
            fprintf(stderr, "herd: --%s: not supported yet\n", f->option);
            rc = -1;
        } else if (f->write(r, f->path, err, sizeof err) != 0) {
            fprintf(stderr, "herd: --%s: %s\n", f->option, err);
            rc = -1;
        }
    }
    return rc;
}

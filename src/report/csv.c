/* csv.c - the time series as CSV: one header row, one row per interval, the columns of the JSON
 * report's "timeseries". Spreadsheets and plotting scripts need fixed columns, so every metric
 * that has samples in any interval gets its two columns, left empty where an interval has none
 * (an empty cell, not 0, which would read as a measured 0 us). */
#include "report/report.h"

#include "base/compiler.h"
#include "base/err.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct buf {
    char *data;
    size_t len, cap;
    int oom;
};

static void buf_printf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
}

int report_csv_write(const struct report *r, const char *path, char *err, size_t errlen)
{
    int used[M_COUNT] = {0}, targets = 0;
    for (size_t i = 0; r->rows && i < r->nrows; i++) {
        for (int m = 0; m < M_COUNT; m++)
            used[m] |= r->rows[i].count[m] != 0;
        targets |= r->rows[i].target_n != 0;
    }
    struct buf b = {0};
    /* pending and connecting came later: after the first columns, so that readers by position
     * of the older ones still find them where they were. */
    buf_printf(&b, "t,open,attempted,opened,failed,closed,reconnects,sent,received,errors,pending,"
                   "connecting");
    for (int m = 0; m < M_COUNT; m++) {
        if (used[m])
            buf_printf(&b, ",%s_p50_us,%s_p99_us", metric_name[m], metric_name[m]);
    }
    /* --watch-pid: the JSON rows' target_* figures, empty in the seconds after every watched
     * process is gone */
    if (targets)
        buf_printf(&b, ",target_processes,target_cpu_pct,target_cpu_user_pct,"
                       "target_cpu_system_pct,target_rss_bytes,target_fds,target_threads");
    buf_printf(&b, "\n");
    for (size_t i = 0; r->rows && i < r->nrows; i++) {
        const struct ts_row *row = &r->rows[i];
        buf_printf(&b, "%.6g,%lld,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%lld", row->t,
                   (long long)row->open, (unsigned long long)row->attempted,
                   (unsigned long long)row->opened, (unsigned long long)row->failed,
                   (unsigned long long)row->closed, (unsigned long long)row->reconnects,
                   (unsigned long long)row->sent, (unsigned long long)row->received,
                   (unsigned long long)row->errors, (unsigned long long)row->pending,
                   (long long)row->connecting);
        for (int m = 0; m < M_COUNT; m++) {
            if (!used[m])
                continue;
            if (row->count[m])
                buf_printf(&b, ",%lld,%lld", (long long)row->p50_us[m], (long long)row->p99_us[m]);
            else
                buf_printf(&b, ",,");
        }
        if (targets && row->target_n) {
            buf_printf(&b, ",%d,%.3f,%.3f,%.3f,%llu,", row->target_n,
                       row->target_cpu_user_pct + row->target_cpu_system_pct,
                       row->target_cpu_user_pct, row->target_cpu_system_pct,
                       (unsigned long long)row->target_rss_bytes);
            if (row->target_fds >= 0)
                buf_printf(&b, "%lld", (long long)row->target_fds);
            buf_printf(&b, ",%llu", (unsigned long long)row->target_threads);
        } else if (targets) {
            buf_printf(&b, ",,,,,,,");
        }
        buf_printf(&b, "\n");
    }
    if (b.oom) {
        free(b.data);
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot build the CSV file: out of memory", path);
        return HERD_E_NOMEM;
    }
    int rc = atomic_file_write(path, b.data, b.len, err, errlen);
    free(b.data);
    return rc;
}

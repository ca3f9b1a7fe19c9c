/* hlog.c - the per-second histograms of the time series (each row's hdr texts), and the
 * HdrHistogram interval log written from them (--hlog).
 *
 * The log is the V1.3 format of HdrHistogram's HistogramLogWriter (Java), which its
 * HistogramLogReader, HdrHistogram_c's hdr_log_read, hdr-histogram-js and HistogramLogAnalyzer
 * read:
 *   #[Histogram log format version 1.3]
 *   #[StartTime: 1764687882.123 (seconds since epoch), 2025-12-02T15:04:42.123Z]
 *   #[BaseTime: 1764687882.123 (seconds since epoch)]
 *   "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
 *   Tag=rtt,0.000,1.000,0.412,HISTFAAAA...
 * StartTimestamp is seconds since BaseTime (the run's start), Interval_Max the interval's max
 * divided by 1000 (microseconds recorded, so milliseconds shown: Java's writer divides
 * nanoseconds by 1e6 the same way), and the histogram is the same V2 compressed base64 text as
 * the JSON report's "hdr". A metric gets a line only for the seconds in which it had samples. */
#include "report/report.h"

#include "base/compiler.h"
#include "base/err.h"
#include "report/sbuf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void report_rows_free(struct ts_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        for (int m = 0; m < M_COUNT; m++) {
            free(rows[i].hdr[m]);
            rows[i].hdr[m] = NULL;
        }
    }
}

int report_row_set_hist(struct ts_row *row, int m, const struct hist *h)
{
    free(row->hdr[m]);
    row->hdr[m] = NULL;
    row->count[m] = (uint64_t)h->total_count;
    row->p50_us[m] = h->total_count ? hist_percentile(h, 50.0) : 0;
    row->p99_us[m] = h->total_count ? hist_percentile(h, 99.0) : 0;
    if (!h->total_count)
        return 0;
    char *text = NULL;
    if (hist_v2_encode(h, &text) < 0)
        return HERD_E_NOMEM;
    row->hdr[m] = text;
    return 0;
}

/* Seconds since the epoch of an RFC 3339 UTC time as the report writes it
 * ("2025-12-02T15:04:42.123Z"); -1 when it is not one. */
static double rfc3339_epoch(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    if (s[n] == '.') {
        int digits = 0;
        for (n++; s[n] >= '0' && s[n] <= '9'; n++, digits++) {
            if (digits < 3)
                ms = ms * 10 + (s[n] - '0');
        }
        for (; digits > 0 && digits < 3; digits++)
            ms *= 10;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    return (double)t + ms / 1000.0;
}

int report_hlog_write(const struct report *r, const char *path, char *err, size_t errlen)
{
    struct sbuf b = {0};
    double start = rfc3339_epoch(r->started_at);
    if (start < 0)
        start = 0;
    sb_printf(&b, "#[Histogram log format version 1.3]\n");
    sb_printf(&b, "#[StartTime: %.3f (seconds since epoch), %s]\n", start, r->started_at);
    sb_printf(&b, "#[BaseTime: %.3f (seconds since epoch)]\n", start);
    sb_printf(
        &b,
        "#[herd %s: one interval per second per timed histogram with samples, tagged with its "
        "name; values in microseconds, Interval_Max in milliseconds]\n",
        r->tool_version ? r->tool_version : "");
    sb_printf(&b, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_"
                  "Histogram\"\n");
    int rc = 0;
    double prev = 0;
    for (size_t i = 0; r->rows && i < r->nrows && !rc; i++) {
        const struct ts_row *row = &r->rows[i];
        double len = row->t > prev ? row->t - prev : 0;
        for (int m = 0; m < M_COUNT; m++) {
            if (!row->hdr[m])
                continue;
            /* The max is in the text; decoding also proves the text sound before it is
             * written where other tools will trust it. */
            struct hist *h = NULL;
            if (hist_v2_decode(row->hdr[m], strlen(row->hdr[m]), &h) != 0) {
                if (err && errlen)
                    snprintf(err, errlen, "%s: timeseries[%zu].%s_hdr does not decode", path, i,
                             metric_name[m]);
                rc = HERD_E_PROTO;
                break;
            }
            sb_printf(&b, "Tag=%s,%.3f,%.3f,%.3f,%s\n", metric_name[m], prev, len,
                      (double)hist_max(h) / 1000.0, row->hdr[m]);
            hist_free(h);
        }
        prev = row->t;
    }
    if (!rc && b.oom) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot build the interval log: out of memory", path);
        rc = HERD_E_NOMEM;
    }
    if (!rc)
        rc = atomic_file_write(path, b.p ? b.p : "", b.len, err, errlen);
    free(b.p);
    return rc;
}

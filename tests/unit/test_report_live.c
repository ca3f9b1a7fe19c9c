/* test_report_live.c - the outputs of issue 14 parts 3-5 in the report module: the Prometheus
 * exposition (--metrics-listen), the HdrHistogram interval log (--hlog) and the per-second
 * histograms behind it (merged exactly), the watched processes (--watch-pid) in the JSON, read
 * back and merged, and the target.* thresholds. */
#include "base/err.h"
#include "report/report.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The value on the line of text that starts with `line_start` followed by a space. */
static double value_of(const char *text, const char *line_start)
{
    size_t n = strlen(line_start);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, line_start, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

static void test_prom(void)
{
    struct stats s;
    stats_init(&s);
    for (int i = 1; i <= 100; i++)
        hist_record(s.hist[M_RTT], i * 100); /* 100 us .. 10 ms */
    s.ctr[CTR_MESSAGES_SENT] = 12345;
    s.err[ERR_REFUSED] = 3;
    stats_http_status(&s, 503);
    struct ts_row row = {.t = 2,
                         .target_n = 1,
                         .target_cpu_user_pct = 50,
                         .target_rss_bytes = 4096,
                         .target_fds = 9,
                         .target_threads = 2};
    struct report_live l = {.tool_version = "test", .total = &s, .open = 7, .peak = 9, .row = &row};
    char *text = NULL;
    long len = report_prom_render(&l, &text);
    CHECK(len > 0 && text && (size_t)len == strlen(text));
    CHECK_EQ_I64((int64_t)value_of(text, "herd_messages_sent_total"), 12345);
    CHECK(strstr(text, "# TYPE herd_messages_sent_total counter\n") != NULL);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_connections_open"), 7);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_connections_peak"), 9);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_errors_total{class=\"refused\"}"), 3);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_errors_http_status_total{code=\"503\"}"), 1);
    /* Cumulative buckets: 100..1000 us are 10 samples, up to 2.5 ms 25, all 100 by 10 ms. */
    CHECK_EQ_I64((int64_t)value_of(text, "herd_rtt_seconds_bucket{le=\"0.0001\"}"), 1);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_rtt_seconds_bucket{le=\"0.001\"}"), 10);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_rtt_seconds_bucket{le=\"0.0025\"}"), 25);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_rtt_seconds_bucket{le=\"0.01\"}"), 100);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_rtt_seconds_bucket{le=\"+Inf\"}"), 100);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_rtt_seconds_count"), 100);
    double sum = value_of(text, "herd_rtt_seconds_sum"); /* 100 * 5050 us = 0.505 s */
    CHECK(sum > 0.504 && sum < 0.506);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_connect_seconds_count"), 0);
    CHECK(value_of(text, "herd_target_cpu_ratio{mode=\"user\"}") == 0.5);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_target_open_fds"), 9);
    /* Every line is a comment or "name value", and ends with a newline. */
    int bad = 0;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        if (!nl) {
            bad++;
            break;
        }
        if (*p != '#' && !memchr(p, ' ', (size_t)(nl - p)))
            bad++;
        p = nl + 1;
    }
    CHECK_EQ_I64(bad, 0);
    free(text);
    /* Without watched processes: no herd_target_ lines; without groups no herd_group_ ones. */
    l.row = NULL;
    CHECK(report_prom_render(&l, &text) > 0 && !strstr(text, "herd_target_"));
    CHECK(!strstr(text, "herd_group_"));
    free(text);
    /* Groups: their own family names, a label each, the name escaped. */
    struct report_live_group g[2] = {{"subs", &s, 5}, {"a\"b\\c", &s, 2}};
    l.groups = g;
    l.ngroups = 2;
    CHECK(report_prom_render(&l, &text) > 0);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_group_messages_sent_total{group=\"subs\"}"), 12345);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_group_connections_open{group=\"a\\\"b\\\\c\"}"), 2);
    CHECK_EQ_I64(
        (int64_t)value_of(text, "herd_group_rtt_seconds_bucket{group=\"subs\",le=\"0.001\"}"), 10);
    CHECK_EQ_I64((int64_t)value_of(text, "herd_group_rtt_seconds_count{group=\"subs\"}"), 100);
    CHECK_EQ_I64(
        (int64_t)value_of(text, "herd_group_errors_total{group=\"subs\",class=\"refused\"}"), 3);
    /* One TYPE line per family, whatever the number of groups. */
    int types = 0;
    for (const char *p = text; (p = strstr(p, "# TYPE herd_group_rtt_seconds ")) != NULL; p++)
        types++;
    CHECK_EQ_I64(types, 1);
    free(text);
    l.groups = NULL;
    l.ngroups = 0;
    stats_free(&s);
}

/* Two rows of a shard: the first with rtt samples, the second with none. */
static void shard_rows(struct ts_row *rows, int64_t base)
{
    memset(rows, 0, 2 * sizeof *rows);
    rows[0].t = 1.0;
    rows[1].t = 2.0;
    struct hist *h = hist_new_default();
    for (int i = 0; i < 1000; i++)
        hist_record(h, base + i);
    CHECK_EQ_I64(report_row_set_hist(&rows[0], M_RTT, h), 0);
    hist_free(h);
}

static void test_hlog_and_merge(void)
{
    struct report_read a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    stats_init(&a.total);
    stats_init(&b.total);
    a.rows = calloc(2, sizeof *a.rows);
    b.rows = calloc(2, sizeof *b.rows);
    a.nrows = b.nrows = 2;
    shard_rows(a.rows, 100);
    shard_rows(b.rows, 100000);
    CHECK_EQ_U64(a.rows[0].count[M_RTT], 1000);
    CHECK_EQ_I64(a.rows[0].p99_us[M_RTT], 1089);
    report_read_merge(&a, &b);
    /* Exact: 2000 samples, half at 100..1099 us and half at 100.000..100.999 ms (the max's
     * slot ends at 101055 us). */
    CHECK_EQ_U64(a.rows[0].count[M_RTT], 2000);
    CHECK(a.rows[0].hdr[M_RTT] != NULL);
    struct hist *h = NULL;
    CHECK_EQ_I64(hist_v2_decode(a.rows[0].hdr[M_RTT], strlen(a.rows[0].hdr[M_RTT]), &h), 0);
    CHECK_EQ_I64(h ? h->total_count : 0, 2000);
    CHECK_EQ_I64(a.rows[0].p50_us[M_RTT], h ? hist_percentile(h, 50) : -1);
    CHECK_EQ_I64(a.rows[0].p50_us[M_RTT], 1099);
    CHECK(a.rows[0].p99_us[M_RTT] >= 100979 && a.rows[0].p99_us[M_RTT] <= 101079);
    hist_free(h);
    CHECK(a.rows[1].hdr[M_RTT] == NULL && a.rows[1].count[M_RTT] == 0);

    /* The log of the merged rows. */
    struct report view;
    report_read_view(&a, &view);
    view.tool_version = "test";
    snprintf(view.started_at, sizeof view.started_at, "2025-01-02T03:04:05.678Z");
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/r.hlog", dir);
    CHECK_EQ_I64(report_hlog_write(&view, path, err, sizeof err), 0);
    char *text = slurp(path);
    CHECK(text && strncmp(text, "#[Histogram log format version 1.3]\n", 36) == 0);
    CHECK(text && strstr(text, "#[StartTime: 1735787045.678 (seconds since epoch), "
                               "2025-01-02T03:04:05.678Z]\n") != NULL);
    CHECK(text && strstr(text, "#[BaseTime: 1735787045.678 (seconds since epoch)]\n") != NULL);
    CHECK(text && strstr(text, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
                               "\"Interval_Compressed_Histogram\"\n") != NULL);
    char want[128];
    snprintf(want, sizeof want, "Tag=rtt,0.000,1.000,101.055,%.12s", a.rows[0].hdr[M_RTT]);
    CHECK(text && strstr(text, want) != NULL);
    CHECK(text && strstr(text, "Tag=rtt,1.000") == NULL); /* no line for an empty second */
    unlink(path);

    /* A row histogram that does not decode is refused, naming the row. */
    free(a.rows[0].hdr[M_RTT]);
    a.rows[0].hdr[M_RTT] = strdup("HISTFAAAAgarbage");
    report_read_view(&a, &view);
    CHECK(report_hlog_write(&view, path, err, sizeof err) < 0);
    CHECK(strstr(err, "timeseries[0].rtt_hdr") != NULL);
    CHECK(access(path, F_OK) != 0);
    report_read_free(&a);
    report_read_free(&b);
}

static void test_targets(void)
{
    struct stats s;
    stats_init(&s);
    struct ts_row rows[3];
    memset(rows, 0, sizeof rows);
    struct report r;
    memset(&r, 0, sizeof r);
    r.tool_version = "test";
    r.total = &s;
    r.rows = rows;
    r.nrows = 3;
    r.ntargets = 2;
    report_target_init(&r.targets[0], 100, "broker");
    report_target_init(&r.targets[1], 200, "sidecar");
    struct procwatch_sample a = {
        .cpu_user_pct = 30, .cpu_system_pct = 10, .rss_bytes = 1 << 20, .threads = 4, .fds = 10};
    struct procwatch_sample b = {.cpu_user_pct = 5, .rss_bytes = 1 << 10, .threads = 1, .fds = -1};
    for (int i = 0; i < 3; i++) {
        rows[i].t = i + 1;
        a.cpu_user_pct = 30 + 10 * i;
        report_target_note(&r.targets[0], &rows[i], &a);
        report_target_note(&r.targets[1], &rows[i], i < 1 ? &b : NULL);
    }
    CHECK_EQ_U64(r.targets[0].samples, 3);
    CHECK(r.targets[0].cpu_max_pct == 60 && r.targets[0].cpu_mean_pct == 50);
    CHECK(r.targets[0].exited_at_s < 0);
    CHECK(r.targets[1].exited_at_s == 2); /* first seen gone at the end of second 2 */
    CHECK_EQ_I64(rows[0].target_n, 2);
    CHECK_EQ_I64(rows[0].target_fds, -1); /* the sidecar's could not be counted */
    CHECK_EQ_I64(rows[1].target_n, 1);
    CHECK_EQ_I64(rows[1].target_fds, 10);
    CHECK_EQ_U64(rows[0].target_rss_bytes, (1 << 20) + (1 << 10));

    /* Thresholds over the seconds. */
    const char *exprs[] = {"target.cpu.max<80%",   "target.cpu.mean<50",
                           "target.rss.max<=1MiB", "target.threads.max==5",
                           "target.fds.max<11",    "target.cpu_user.mean>40"};
    struct threshold t[6];
    char why[256];
    for (int i = 0; i < 6; i++)
        CHECK_EQ_I64(threshold_parse(exprs[i], &t[i], why, sizeof why), 0);
    CHECK_EQ_I64(report_thresholds_eval(&r, t, 6), 2);
    CHECK(r.thresholds[0].ok && r.thresholds[0].value == 60); /* 50 + 10 in second 3 */
    CHECK(!r.thresholds[1].ok);
    CHECK(!r.thresholds[2].ok); /* 1 MiB + 1 KiB in second 1 */
    CHECK(r.thresholds[3].ok);
    CHECK(r.thresholds[4].ok && r.thresholds[4].value == 10); /* second 1 has no fds */
    CHECK(r.thresholds[5].ok);
    const char *bad[] = {"target.cpu<5", "target.disk.max<1", "target.cpu.p99<5",
                         "target.rss.max<1parsec", "target.fds.max<5%"};
    for (int i = 0; i < 5; i++) {
        CHECK(threshold_parse(bad[i], &t[0], why, sizeof why) < 0);
        CHECK(strstr(why, bad[i]) != NULL);
    }
    /* No second with a sample: no data, not ok. */
    r.nrows = 0;
    CHECK(threshold_parse("target.cpu.max<80%", &t[0], why, sizeof why) == 0);
    CHECK_EQ_I64(report_thresholds_eval(&r, t, 1), 1);
    CHECK(r.thresholds[0].no_data);
    r.nrows = 3;

    /* The JSON carries them; reading it back and merging two reports keeps both lists. */
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/t.json", dir);
    CHECK_EQ_I64(report_json_write(&r, path, err, sizeof err), 0);
    struct report_read rd, rd2;
    CHECK_EQ_I64(report_json_read(path, &rd, err, sizeof err), 0);
    CHECK_EQ_U64(rd.ntargets, 2);
    CHECK_EQ_I64(rd.targets[0].pid, 100);
    CHECK_EQ_STR(rd.targets[1].name, "sidecar");
    CHECK(rd.targets[1].exited_at_s == 2 && rd.targets[0].exited_at_s < 0);
    CHECK(rd.targets[0].cpu_max_pct == 60);
    CHECK_EQ_I64(rd.targets[1].fds_max, -1);
    CHECK_EQ_I64(rd.rows[0].target_n, 2);
    CHECK_EQ_I64(rd.rows[0].target_fds, -1);
    CHECK_EQ_I64(rd.rows[2].target_fds, 10);
    CHECK_EQ_I64(report_json_read(path, &rd2, err, sizeof err), 0);
    report_read_merge(&rd, &rd2);
    CHECK_EQ_U64(rd.ntargets, 4);
    CHECK_EQ_I64(rd.rows[2].target_n, 2);
    CHECK_EQ_U64(rd.rows[2].target_threads, 8);
    report_read_free(&rd);
    report_read_free(&rd2);
    unlink(path);
    stats_free(&s);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/herd-test-live-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    test_prom();
    test_hlog_and_merge();
    test_targets();
    rmdir(dir);
    return tap_done();
}

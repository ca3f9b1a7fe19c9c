/* test_report_json_read.c - reading JSON reports back: a report written with report_json_write
 * reads back with identical counters, errors and histograms; malformed files give one line that
 * names the file; merging two reports adds up exactly. */
#include "base/err.h"
#include "report/report.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void bad(const char *text, const char *want);

static void fill(struct stats *s, int scale)
{
    stats_init(s);
    for (int v = 1; v <= 1000; v++)
        hist_record_n(s->hist[M_RTT], v * scale, 1);
    hist_record_n(s->hist[M_CONNECT], 120, 100);
    hist_record(s->hist[M_CONNECT], 3600000001LL); /* clamped */
    for (int c = 0; c < CTR_COUNT; c++)
        s->ctr[c] = 1000 + (uint64_t)c * (uint64_t)scale;
    stats_error(s, ERR_REFUSED);
    stats_http_status(s, 503);
    stats_http_status(s, 429);
    stats_close_code(s, 1001);
    s->open = 40;
    s->peak = 50;
    s->connecting = 2 * scale;
    s->ahead_max_us = 700 * (uint64_t)scale;
}

static void write_report(const char *path, struct stats *s, double t0, int64_t open)
{
    struct report r = {0};
    struct ts_row rows[2] = {0};
    for (int i = 0; i < 2; i++) {
        rows[i].t = t0 + i;
        rows[i].open = open;
        rows[i].opened = 5;
        rows[i].sent = 100;
        rows[i].count[M_RTT] = 10;
        rows[i].p50_us[M_RTT] = 100 * (i + 1);
        rows[i].p99_us[M_RTT] = 900 * (i + 1);
        rows[i].pending = 3;
        rows[i].connecting = 1 + i;
    }
    r.tool_version = "test";
    r.complete = 1;
    r.target = "ws://127.0.0.1:1/echo";
    snprintf(r.started_at, sizeof r.started_at, "2024-01-01T00:00:0%d.000Z", (int)t0);
    r.duration_s = 2.5 + t0;
    r.shards = 1;
    r.config[0] = (struct report_kv){"connections", "10", 1};
    r.config[1] = (struct report_kv){"role", "ping", 0};
    r.config[2] = (struct report_kv){"binary", "false", 1};
    r.nconfig = 3;
    r.total = s;
    r.rows = rows;
    r.nrows = 2;
    struct threshold t;
    char why[128];
    CHECK_EQ_I64(threshold_parse("rtt.p99<20ms", &t, why, sizeof why), 0);
    report_thresholds_eval(&r, &t, 1);
    report_warning_add(&r, "merge: written at %.0f", t0);
    report_warning_add(&r, "latency.ahead: a warning");
    char err[256];
    CHECK_EQ_I64(report_json_write(&r, path, err, sizeof err), 0);
}

static int same_hist(const struct hist *a, const struct hist *b)
{
    return a->total_count == b->total_count && a->counts_len == b->counts_len &&
           hist_min(a) == hist_min(b) && hist_max(a) == hist_max(b) &&
           memcmp(a->counts, b->counts, (size_t)a->counts_len * sizeof a->counts[0]) == 0;
}

static void test_round_trip(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/a.json", dir);
    struct stats s;
    fill(&s, 1);
    write_report(path, &s, 1, 40);

    struct report_read r;
    char err[256] = "";
    CHECK_EQ_I64(report_json_read(path, &r, err, sizeof err), 0);
    for (int c = 0; c < CTR_COUNT; c++)
        CHECK_EQ_U64(r.total.ctr[c], s.ctr[c]);
    for (int e = 0; e < ERR_COUNT; e++)
        CHECK_EQ_U64(r.total.err[e], s.err[e]);
    CHECK_EQ_U64(r.total.http_status[503], 1);
    CHECK_EQ_U64(r.total.http_status[429], 1);
    CHECK_EQ_U64(r.total.close_code[1001], 1);
    CHECK_EQ_I64(r.total.open, 40);
    CHECK_EQ_I64(r.total.peak, 50);
    CHECK_EQ_I64(r.total.connecting, 2);
    CHECK_EQ_U64(r.total.ahead_max_us, 700);
    CHECK_EQ_U64(r.rows[0].pending, 3);
    CHECK_EQ_I64(r.rows[1].connecting, 2);
    CHECK_EQ_I64(r.nwarnings, 2);
    CHECK_EQ_STR(r.warnings[0], "merge: written at 1");
    CHECK_EQ_STR(r.warnings[1], "latency.ahead: a warning");
    for (int m = 0; m < M_COUNT; m++)
        CHECK(same_hist(r.total.hist[m], s.hist[m]));
    CHECK_EQ_I64(r.total.hist[M_CONNECT]->total_count, 101);
    CHECK_EQ_I64(r.complete, 1);
    CHECK_EQ_STR(r.target, "ws://127.0.0.1:1/echo");
    CHECK_EQ_STR(r.started_at, "2024-01-01T00:00:01.000Z");
    CHECK(r.duration_s == 3.5);
    CHECK_EQ_I64(r.shards, 1);
    CHECK_EQ_I64(r.nrows, 2);
    CHECK_EQ_I64(r.rows[1].open, 40);
    CHECK_EQ_I64(r.rows[1].p99_us[M_RTT], 1800);
    CHECK_EQ_I64(r.rows[1].count[M_RTT], 1);
    CHECK_EQ_I64(r.rows[1].count[M_CONNECT], 0);
    CHECK_EQ_I64(r.nconfig, 3);
    CHECK_EQ_STR(r.config[1].key, "role");
    CHECK_EQ_STR(r.config[1].value, "ping");
    CHECK_EQ_STR(r.config[2].value, "false");
    CHECK_EQ_I64(r.nthresholds, 1);
    CHECK_EQ_STR(r.thresholds[0], "rtt.p99<20ms");

    /* Written again, it reads back the same. */
    char path2[128];
    snprintf(path2, sizeof path2, "%s/a2.json", dir);
    struct report view;
    report_read_view(&r, &view);
    CHECK_EQ_I64(report_json_write(&view, path2, err, sizeof err), 0);
    struct report_read r2;
    CHECK_EQ_I64(report_json_read(path2, &r2, err, sizeof err), 0);
    for (int m = 0; m < M_COUNT; m++)
        CHECK(same_hist(r2.total.hist[m], s.hist[m]));
    CHECK_EQ_U64(r2.total.err[ERR_HTTP_STATUS], 2);
    CHECK_EQ_U64(r2.total.ahead_max_us, 700);
    CHECK_EQ_I64(r2.total.connecting, 2);
    CHECK_EQ_I64(r2.nwarnings, 2);
    report_read_free(&r2);
    report_read_free(&r);
    stats_free(&s);
}

static void test_merge(void)
{
    char pa[128], pb[128];
    snprintf(pa, sizeof pa, "%s/m0.json", dir);
    snprintf(pb, sizeof pb, "%s/m1.json", dir);
    struct stats s0, s1, sum;
    fill(&s0, 1);
    fill(&s1, 3);
    write_report(pa, &s0, 1, 30);
    write_report(pb, &s1, 0, 25);
    stats_init(&sum);
    stats_merge(&sum, &s0);
    stats_merge(&sum, &s1);

    struct report_read a, b;
    char err[256];
    CHECK_EQ_I64(report_json_read(pa, &a, err, sizeof err), 0);
    CHECK_EQ_I64(report_json_read(pb, &b, err, sizeof err), 0);
    report_read_merge(&a, &b);
    report_read_merge_done(&a);
    for (int c = 0; c < CTR_COUNT; c++)
        CHECK_EQ_U64(a.total.ctr[c], sum.ctr[c]);
    for (int m = 0; m < M_COUNT; m++)
        CHECK(same_hist(a.total.hist[m], sum.hist[m]));
    CHECK_EQ_U64(a.total.close_code[1001], 2);
    CHECK_EQ_I64(a.total.open, 80);
    CHECK_EQ_I64(a.total.peak, 55); /* aligned rows: 30 + 25 (more than one peak, 50) */
    CHECK_EQ_I64(a.shards, 2);
    CHECK(a.duration_s == 3.5);
    CHECK_EQ_STR(a.started_at, "2024-01-01T00:00:00.000Z");
    CHECK_EQ_I64(a.rows[0].sent, 200);
    CHECK_EQ_I64(a.rows[0].p99_us[M_RTT], 900);
    CHECK_EQ_U64(a.rows[0].pending, 6);
    CHECK_EQ_I64(a.rows[1].connecting, 4);
    CHECK_EQ_I64(a.total.connecting, 2 + 6); /* a gauge as the run ended: summed */
    CHECK_EQ_U64(a.total.ahead_max_us, 2100); /* the most of either, not the sum */
    /* warnings: the union, each once */
    CHECK_EQ_I64(a.nwarnings, 3);
    CHECK_EQ_STR(a.warnings[0], "merge: written at 1");
    CHECK_EQ_STR(a.warnings[1], "latency.ahead: a warning");
    CHECK_EQ_STR(a.warnings[2], "merge: written at 0");
    CHECK_EQ_I64(a.nthresholds, 1);
    report_read_free(&a);
    report_read_free(&b);
    stats_free(&s0);
    stats_free(&s1);
    stats_free(&sum);
}

/* A report written before the fields of issue 11 (no connections.pending or .connecting, no
 * unseen, no pending/connecting in the rows, no latency_ahead, no warnings) reads as before:
 * each missing figure 0. */
static void test_old_report(void)
{
    const char *old =
        "{\"tool\":\"herd\",\"version\":\"460079b\",\"report_version\":1,\"complete\":true,"
        "\"target\":\"ws://h/\",\"started_at\":\"2026-01-01T00:00:00.000Z\",\"duration_s\":2,"
        "\"config\":{\"role\":\"subscribe\"},"
        "\"counters\":{\"connections.attempted\":5,\"connections.opened\":5,"
        "\"messages.received\":10,\"fanout.messages\":2,\"fanout.expected\":10,"
        "\"fanout.delivered\":10,\"connections.open\":5,\"connections.peak\":5},"
        "\"timeseries\":[{\"t\":1,\"open\":5,\"attempted\":5,\"opened\":5}],"
        "\"fanout\":{\"messages\":2,\"expected\":10,\"delivered\":10,\"delivery_ratio\":1.0},"
        "\"thresholds\":[],\"shards\":1}";
    struct report_read r;
    char err[256] = "";
    CHECK_EQ_I64(report_json_parse(old, strlen(old), "old.json", &r, err, sizeof err), 0);
    CHECK_EQ_U64(r.total.ctr[CTR_CONNECTIONS_ATTEMPTED], 5);
    CHECK_EQ_U64(r.total.ctr[CTR_CONNECTIONS_PENDING], 0);
    CHECK_EQ_U64(r.total.ctr[CTR_MESSAGES_UNSEEN], 0);
    CHECK_EQ_I64(r.total.connecting, 0);
    CHECK_EQ_U64(r.total.ahead_max_us, 0);
    CHECK_EQ_I64(r.nrows, 1);
    CHECK_EQ_U64(r.rows[0].pending, 0);
    CHECK_EQ_I64(r.rows[0].connecting, 0);
    CHECK_EQ_I64(r.nwarnings, 0);
    report_read_free(&r);

    /* the new fields, malformed: one line naming the field */
    bad("{\"report_version\":1,\"counters\":{\"connections.connecting\":\"x\"}}",
        "counters.connections.connecting");
    bad("{\"report_version\":1,\"counters\":{},\"latency_ahead\":{\"max_us\":-1}}",
        "latency_ahead.max_us");
    bad("{\"report_version\":1,\"counters\":{},\"timeseries\":[{\"pending\":-2}]}",
        "timeseries[0].pending");
    bad("{\"report_version\":1,\"counters\":{},\"warnings\":\"x\"}", "warnings: expected");
    bad("{\"report_version\":1,\"counters\":{},\"warnings\":[1]}", "warnings[0]");
}

static void bad(const char *text, const char *want)
{
    struct report_read r;
    char err[256] = "";
    int rc = report_json_parse(text, strlen(text), "x.json", &r, err, sizeof err);
    CHECK(rc < 0);
    CHECK(strncmp(err, "x.json: ", 8) == 0 && strstr(err, want) != NULL);
    if (!strstr(err, want))
        printf("#   got \"%s\", expected it to contain \"%s\"\n", err, want);
    report_read_free(&r);
}

static void test_malformed(void)
{
    bad("", "empty file, not a herd report");
    bad("{\"report_version\":1", "truncated: the JSON ends inside report_version");
    bad("{\"report_version\":1,\"counters\":{},\"timeseries\":[{\"t\":1},{\"t\":2,\"sent\":",
        "truncated: the JSON ends inside timeseries[1].sent");
    bad("{\"report_version\":1,\"counters\":{\"a\":1,", "truncated: the JSON ends inside counters");
    bad("{\"report_version\":1,\"config\":{\"url\":\"ws://h/\\\"x", "inside config.url");
    bad("{\"report_version\":1,\"counters\":{\"a\":1,}}", "not JSON at counters");
    bad("[1,2]", "not a herd report (not a JSON object)");
    bad("{}", "not a herd report (report_version missing)");
    bad("{\"tool\":\"k6\",\"report_version\":1}", "not a herd report");
    bad("{\"report_version\":\"1\"}", "report_version");
    bad("{\"report_version\":2,\"counters\":{}}", "report_version 2 is not supported");
    bad("{\"report_version\":1}", "counters missing");
    bad("{\"report_version\":1,\"counters\":[]}", "counters: expected an object");
    bad("{\"report_version\":1,\"counters\":{\"messages.sent\":-1}}", "counters.messages.sent");
    bad("{\"report_version\":1,\"counters\":{\"messages.sent\":1.5}}", "counters.messages.sent");
    bad("{\"report_version\":1,\"counters\":{},\"errors\":{\"http_status\":{\"999\":1}}}",
        "errors.http_status");
    bad("{\"report_version\":1,\"counters\":{},\"histograms\":{\"rtt\":{\"count\":1}}}",
        "histograms.rtt.hdr: missing");
    bad("{\"report_version\":1,\"counters\":{},\"histograms\":{\"rtt\":{\"hdr\":\"!!\"}}}",
        "histograms.rtt.hdr: not a valid HdrHistogram V2 encoding");
    bad("{\"report_version\":1,\"counters\":{},\"timeseries\":[{\"t\":\"x\"}]}", "timeseries[0].t");
    bad("{\"report_version\":1,\"counters\":{},\"timeseries\":{}}", "timeseries: expected");
    bad("{\"report_version\":1,\"counters\":{},\"shards\":0}", "shards");
    bad("{\"report_version\":1,\"counters\":{},\"duration_s\":-3}", "duration_s");
    bad("{\"report_version\":1,\"report_version\":1,\"counters\":{}}", "not JSON");

    struct report_read r;
    char err[256] = "";
    CHECK(report_json_read("/nonexistent/dir/r.json", &r, err, sizeof err) < 0);
    CHECK(strncmp(err, "/nonexistent/dir/r.json: ", 25) == 0);
    report_read_free(&r);
}

/* ---- report blocks in a log stream (--json -) ---- */

struct found {
    int n;
    struct report_read r[2];
    unsigned line[2];
};

static int found_add(void *ctx, const struct report_block *b)
{
    struct found *f = ctx;
    char err[256];
    CHECK(f->n < 2);
    if (f->n >= 2)
        return -1;
    f->line[f->n] = b->line;
    CHECK_EQ_I64(report_json_parse(b->json, b->len, "block", &f->r[f->n], err, sizeof err), 0);
    f->n++;
    return 0;
}

static void blocks_bad(const char *text, const char *want)
{
    struct found f = {0};
    char err[300] = "";
    CHECK(report_blocks_scan(text, strlen(text), "pods.log", found_add, &f, err, sizeof err) < 0);
    CHECK_EQ_STR(err, want);
    for (int i = 0; i < f.n; i++)
        report_read_free(&f.r[i]);
}

static void test_blocks(void)
{
    struct stats s;
    fill(&s, 1);
    struct report r = {0};
    r.tool_version = "test";
    r.complete = 1;
    r.total = &s;
    r.shards = 1;
    r.config[0] = (struct report_kv){"shard", "1/2", 0};
    r.nconfig = 1;
    r.start = (struct report_start){1796224200000000000ull, 1796224200000100000ull,
                                    1796224200000100000ull, 100000, 1};
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char err[300];
    fputs("herd: starting in 2.000 s (--start-at)\n", mem);
    CHECK_EQ_I64(report_json_block_write(&r, mem, "42 x", err, sizeof err), 0);
    fputs("[pod/herd-1] herd: warning: a line after\n", mem);
    r.config[0].value = "0/2";
    CHECK_EQ_I64(report_json_block_write(&r, mem, "42 x", err, sizeof err), 0);
    fclose(mem);
    /* the markers, the run id made one token */
    CHECK(strstr(buf, "\n---- herd report begin run=42_x shard=1/2 ----\n{\"tool\":\"herd\",") !=
          NULL);
    CHECK(strstr(buf, "\n---- herd report end run=42_x shard=0/2 bytes=") != NULL);

    struct found f = {0};
    CHECK_EQ_I64(report_blocks_scan(buf, len, "pods.log", found_add, &f, err, sizeof err), 2);
    CHECK_EQ_I64(f.n, 2);
    CHECK_EQ_U64(f.line[0], 2);
    CHECK_EQ_U64(f.line[1], 6);
    if (f.n == 2) {
        CHECK_EQ_U64(f.r[0].total.ctr[CTR_CONNECTIONS_OPENED], s.ctr[CTR_CONNECTIONS_OPENED]);
        CHECK_EQ_U64(f.r[0].start.planned_ns, 1796224200000000000ull);
        CHECK_EQ_U64(f.r[0].start.first_ns, 1796224200000100000ull);
        CHECK_EQ_I64(f.r[0].start.late_max_ns, 100000);
        /* merged starts: the earliest and latest, the most late */
        f.r[1].start.first_ns += 7000000;
        f.r[1].start.last_ns += 7000000;
        f.r[1].start.late_max_ns += 7000000;
        report_read_merge(&f.r[0], &f.r[1]);
        CHECK_EQ_U64(f.r[0].start.last_ns - f.r[0].start.first_ns, 7000000);
        CHECK_EQ_I64(f.r[0].start.late_max_ns, 7100000);
        CHECK_EQ_U64(f.r[0].start.shards, 2);
        CHECK_EQ_U64(f.r[0].total.ctr[CTR_CONNECTIONS_OPENED], 2 * s.ctr[CTR_CONNECTIONS_OPENED]);
        CHECK_EQ_I64(f.r[0].total.hist[M_RTT]->total_count, 2 * s.hist[M_RTT]->total_count);
    }
    for (int i = 0; i < f.n; i++)
        report_read_free(&f.r[i]);

    /* a log collector's prefixes (kubectl logs --timestamps, CRLF) and a line inside the block */
    const char *pre = "2026-12-02T15:10:00.1Z ---- herd report begin run=1 shard=0/1 ----\r\n"
                      "stderr line\r\n"
                      "2026-12-02T15:10:00.12Z {\"tool\":\"herd\",\"report_version\":1,"
                      "\"counters\":{}}\r\n"
                      "2026-12-02T15:10:00.123Z ---- herd report end run=1 shard=0/1 bytes=48 "
                      "----\r\n";
    memset(&f, 0, sizeof f);
    CHECK_EQ_I64(report_blocks_scan(pre, strlen(pre), "p", found_add, &f, err, sizeof err), 1);
    for (int i = 0; i < f.n; i++)
        report_read_free(&f.r[i]);
    memset(&f, 0, sizeof f);
    CHECK_EQ_I64(report_blocks_scan("no report\n", 10, "p", found_add, &f, err, sizeof err), 0);

    /* cut short, and every way a block can be wrong */
    const char *end2 = strstr(strstr(buf, "report end") + 1, "---- herd report end");
    char *cut = strndup(buf, (size_t)(end2 - buf));
    blocks_bad(cut, "pods.log:6: the report run=42_x shard=0/2 begun here has no end marker (a "
                    "truncated log?)");
    free(cut);
    char *head = strndup(buf, (size_t)(strstr(buf, "\"tool\"") - buf) + 60);
    blocks_bad(head, "pods.log:2: the report run=42_x shard=1/2 begun here has no end marker (a "
                     "truncated log?)");
    free(head);
    blocks_bad("---- herd report begin run=1 shard=0/1 ----\n---- herd report begin run=1 "
               "shard=1/2 ----\n",
               "pods.log:1: the report run=1 shard=0/1 begun here has no end marker before the "
               "next begin at line 2 (a truncated log?)");
    blocks_bad("x\n---- herd report end run=1 shard=0/1 bytes=2 ----\n",
               "pods.log:2: a report end marker without a begin marker before it");
    blocks_bad("---- herd report begin run=1 shard=0/1 ----\n---- herd report end run=1 "
               "shard=0/1 bytes=0 ----\n",
               "pods.log:1: the report run=1 shard=0/1 begun here is empty");
    blocks_bad("---- herd report begin run=1 shard=0/1 ----\n{\"tool\":\"herd\"}\n---- herd "
               "report end run=1 shard=1/2 bytes=15 ----\n",
               "pods.log:3: this end marker (run=1 shard=1/2) does not close the report begun "
               "at line 1 (run=1 shard=0/1)");
    blocks_bad("---- herd report begin run=1 shard=0/1 ----\n{\"tool\":\"herd\"\n---- herd "
               "report end run=1 shard=0/1 bytes=15 ----\n",
               "pods.log:2: the report run=1 shard=0/1 has 14 bytes here, its end marker says 15 "
               "(a cut or altered line)");
    blocks_bad("---- herd report begin run=1 shard=0/1 ----\n{\"tool\":\"herd\"}\n---- herd "
               "report end run=1 shard=0/1 ----\n",
               "pods.log:3: a report end marker without \"bytes=LEN ----\"");
    blocks_bad("---- herd report begin run=1 shard=0/1\n",
               "pods.log:1: a report begin marker without its closing \"----\"");
    blocks_bad("---- herd report begin run=1 shard=0/1 ----\n{\"tool\":\"herd\"}\n{\"tool\":"
               "\"herd\"}\n",
               "pods.log:3: a second report in the block begun at line 1 (a missing end "
               "marker?)");
    free(buf);
    stats_free(&s);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/herd-test-json-read-XXXXXX");
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    test_round_trip();
    test_merge();
    test_old_report();
    test_malformed();
    test_blocks();
    const char *names[] = {"a.json", "a2.json", "m0.json", "m1.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    return tap_done();
}

/* test_report_json.c - the JSON report (DESIGN.md version 1) and the atomic writer: write a
 * report of a synthetic run, read it back with Jansson, check layout and figures, decode the
 * hdr strings, and check that no temporary file is left behind on success or failure. */
#include "base/err.h"
#include "report/report.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int files_in(const char *d)
{
    int n = 0;
    DIR *dh = opendir(d);
    if (!dh)
        return -1;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(dh);
    return n;
}

static int64_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) {
        printf("#   %s is not an integer\n", key);
        return -999999;
    }
    return (int64_t)json_integer_value(v);
}

static void fill_stats(struct stats *s)
{
    stats_init(s);
    for (int v = 1; v <= 1000; v++)
        hist_record(s->hist[M_RTT], v);
    hist_record_n(s->hist[M_RTT], 5000, 10);
    hist_record_n(s->hist[M_CONNECT], 120, 100);
    hist_record(s->hist[M_CONNECT], 3600000001LL); /* clamped to 1 h */
    for (int c = 0; c < CTR_COUNT; c++)
        s->ctr[c] = 1000 + (uint64_t)c;
    for (int i = 0; i < 3; i++)
        stats_error(s, ERR_REFUSED);
    stats_http_status(s, 503);
    stats_http_status(s, 503);
    stats_http_status(s, 429);
    for (int i = 0; i < 5; i++)
        stats_close_code(s, 1001);
    s->open = 42;
    s->peak = 100;
    s->connecting = 3;
    s->ahead_max_us = 2500;
}

static void check_hist(json_t *hj, const struct hist *h)
{
    CHECK(json_is_object(hj));
    CHECK_EQ_I64(jint(hj, "count"), h->total_count);
    CHECK_EQ_I64(jint(hj, "min_us"), hist_min(h));
    CHECK_EQ_I64(jint(hj, "max_us"), hist_max(h));
    CHECK_EQ_I64(jint(hj, "p50_us"), hist_percentile(h, 50));
    CHECK_EQ_I64(jint(hj, "p90_us"), hist_percentile(h, 90));
    CHECK_EQ_I64(jint(hj, "p95_us"), hist_percentile(h, 95));
    CHECK_EQ_I64(jint(hj, "p99_us"), hist_percentile(h, 99));
    CHECK_EQ_I64(jint(hj, "p999_us"), hist_percentile(h, 99.9));
    CHECK(fabs(json_number_value(json_object_get(hj, "mean_us")) - hist_mean(h)) < 0.001);
    CHECK(fabs(json_number_value(json_object_get(hj, "stdev_us")) - hist_stdev(h)) < 0.001);
    const char *hdr = json_string_value(json_object_get(hj, "hdr"));
    CHECK(hdr != NULL && *hdr);
    struct hist *d = NULL;
    CHECK_EQ_I64(hdr ? hist_v2_decode(hdr, strlen(hdr), &d) : -1, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK_EQ_I64(d->total_count, h->total_count);
    CHECK_EQ_I64(hist_min(d), hist_min(h));
    CHECK_EQ_I64(hist_max(d), hist_max(h));
    CHECK_EQ_I64(hist_percentile(d, 99.9), hist_percentile(h, 99.9));
    CHECK_EQ_I64(d->counts_len, h->counts_len);
    if (d->counts_len == h->counts_len)
        CHECK_EQ_MEM(d->counts, h->counts, (size_t)h->counts_len * sizeof h->counts[0]);
    hist_free(d);
}

static void test_report(void)
{
    struct stats s;
    fill_stats(&s);

    struct ts_row rows[3];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 3; i++) {
        rows[i].t = i + 1;
        rows[i].open = 40 + i;
        rows[i].attempted = 10 * (uint64_t)i + 1;
        rows[i].opened = 10 * (uint64_t)i + 2;
        rows[i].failed = (uint64_t)i;
        rows[i].closed = 3;
        rows[i].reconnects = 4;
        rows[i].sent = 500 + (uint64_t)i;
        rows[i].received = 499;
        rows[i].errors = 7;
        rows[i].pending = 6 + (uint64_t)i;
        rows[i].connecting = 2 - i;
    }
    rows[0].count[M_RTT] = 10;
    rows[0].p50_us[M_RTT] = 90;
    rows[0].p99_us[M_RTT] = 400;
    rows[2].count[M_RTT] = 5;
    rows[2].p50_us[M_RTT] = 95;
    rows[2].p99_us[M_RTT] = 410;
    rows[2].count[M_CONNECT] = 1;
    rows[2].p50_us[M_CONNECT] = 120;
    rows[2].p99_us[M_CONNECT] = 120;

    struct report r = {0};
    r.tool_version = "1.2.3-test";
    r.complete = 1;
    r.target = "ws://127.0.0.1:8080/echo";
    strcpy(r.started_at, "2026-01-02T03:04:05.678Z");
    r.duration_s = 30.5;
    r.shards = 1;
    r.total = &s;
    r.rows = rows;
    r.nrows = 3;
    static const struct report_kv config[] = {
        {"url", "ws://127.0.0.1:8080/echo", 0},
        {"connections", "100", 1},
        {"rate", "2.5", 1},
        {"compress", "true", 1},
        {"binary", "false", 1},
        {"role", "echo", 0},
        {"odd", "abc", 1}, /* not a number: kept as a string rather than lost */
        {"latin1", "caf\xe9", 0},
    };
    memcpy(r.config, config, sizeof config);
    r.nconfig = sizeof config / sizeof config[0];
    report_warning_add(&r, "first warning");
    report_warning_add(&r, "second: %s", "caf\xe9");
    report_warning_add(&r, "first warning"); /* once */

    struct threshold t[4];
    char why[256];
    CHECK_EQ_I64(threshold_parse("rtt.p99<20ms", &t[0], why, sizeof why), 0);
    CHECK_EQ_I64(threshold_parse("errors==0", &t[1], why, sizeof why), 0);
    CHECK_EQ_I64(threshold_parse("latency.p99<1ms", &t[2], why, sizeof why), 0);
    CHECK_EQ_I64(threshold_parse("connections.failed<200%", &t[3], why, sizeof why), 0);
    CHECK_EQ_I64(report_thresholds_eval(&r, t, 4), 2);

    char path[128], err[512] = "";
    snprintf(path, sizeof path, "%s/report.json", dir);
    CHECK_EQ_I64(report_json_write(&r, path, err, sizeof err), 0);
    CHECK_EQ_I64(files_in(dir), 1); /* no temporary file left */
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644); /* umask 022 */

    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root != NULL);
    if (!root) {
        printf("#   %s:%d: %s\n", path, jerr.line, jerr.text);
        stats_free(&s);
        return;
    }
    CHECK_EQ_STR(json_string_value(json_object_get(root, "tool")), "herd");
    CHECK_EQ_STR(json_string_value(json_object_get(root, "version")), "1.2.3-test");
    CHECK_EQ_I64(jint(root, "report_version"), 1);
    CHECK(json_is_true(json_object_get(root, "complete")));
    CHECK_EQ_STR(json_string_value(json_object_get(root, "target")), "ws://127.0.0.1:8080/echo");
    CHECK_EQ_STR(json_string_value(json_object_get(root, "started_at")),
                 "2026-01-02T03:04:05.678Z");
    CHECK(json_real_value(json_object_get(root, "duration_s")) == 30.5);
    CHECK_EQ_I64(jint(root, "shards"), 1);

    json_t *cfg = json_object_get(root, "config");
    CHECK(json_is_object(cfg));
    CHECK_EQ_STR(json_string_value(json_object_get(cfg, "url")), "ws://127.0.0.1:8080/echo");
    CHECK_EQ_I64(jint(cfg, "connections"), 100);
    CHECK(json_is_real(json_object_get(cfg, "rate")) &&
          json_real_value(json_object_get(cfg, "rate")) == 2.5);
    CHECK(json_is_true(json_object_get(cfg, "compress")));
    CHECK(json_is_false(json_object_get(cfg, "binary")));
    CHECK_EQ_STR(json_string_value(json_object_get(cfg, "role")), "echo");
    CHECK_EQ_STR(json_string_value(json_object_get(cfg, "odd")), "abc");
    CHECK_EQ_STR(json_string_value(json_object_get(cfg, "latin1")), "caf?");

    json_t *ctr = json_object_get(root, "counters");
    CHECK(json_is_object(ctr));
    CHECK_EQ_U64(json_object_size(ctr), CTR_COUNT + 3);
    for (int c = 0; c < CTR_COUNT; c++)
        CHECK_EQ_I64(jint(ctr, counter_name[c]), 1000 + c);
    CHECK_EQ_I64(jint(ctr, "connections.open"), 42);
    CHECK_EQ_I64(jint(ctr, "connections.peak"), 100);
    CHECK_EQ_I64(jint(ctr, "connections.connecting"), 3);

    /* fan-out: expected holds the unseen; both ratios, each to six digits */
    json_t *fo = json_object_get(root, "fanout");
    CHECK(json_is_object(fo));
    uint64_t exp_n = 1000 + CTR_FANOUT_EXPECTED, del_n = 1000 + CTR_FANOUT_DELIVERED,
             uns_n = 1000 + CTR_MESSAGES_UNSEEN;
    CHECK_EQ_I64(jint(fo, "expected"), (int64_t)exp_n);
    CHECK_EQ_I64(jint(fo, "delivered"), (int64_t)del_n);
    CHECK_EQ_I64(jint(fo, "unseen"), (int64_t)uns_n);
    double want_dr = (double)del_n / (double)(exp_n > uns_n + del_n ? exp_n - uns_n : del_n);
    CHECK(fabs(json_number_value(json_object_get(fo, "delivery_ratio")) - want_dr) < 1e-6);
    double want_rp = (double)del_n / (double)(exp_n > del_n ? exp_n : del_n);
    CHECK(fabs(json_number_value(json_object_get(fo, "received_of_published")) - want_rp) < 1e-6);
    /* stamps ahead of the clock: how many and the most */
    json_t *la = json_object_get(root, "latency_ahead");
    CHECK_EQ_I64(jint(la, "count"), 1000 + CTR_LATENCY_AHEAD);
    CHECK_EQ_I64(jint(la, "max_us"), 2500);
    /* the caller's warnings, as they are */
    json_t *wa = json_object_get(root, "warnings");
    CHECK(json_is_array(wa) && json_array_size(wa) == 2);
    CHECK_EQ_STR(json_string_value(json_array_get(wa, 0)), "first warning");
    CHECK_EQ_STR(json_string_value(json_array_get(wa, 1)), "second: caf?");

    json_t *errs = json_object_get(root, "errors");
    CHECK(json_is_object(errs));
    CHECK_EQ_U64(json_object_size(errs), ERR_COUNT);
    for (int e = 0; e < ERR_COUNT; e++) {
        json_t *v = json_object_get(errs, err_class_name[e]);
        if (e == ERR_HTTP_STATUS || e == ERR_CLOSED_BY_SERVER)
            CHECK(json_is_object(v));
        else
            CHECK_EQ_I64(jint(errs, err_class_name[e]), e == ERR_REFUSED ? 3 : 0);
    }
    json_t *http = json_object_get(errs, "http_status");
    CHECK_EQ_U64(json_object_size(http), 2);
    CHECK_EQ_I64(jint(http, "503"), 2);
    CHECK_EQ_I64(jint(http, "429"), 1);
    json_t *closes = json_object_get(errs, "closed_by_server");
    CHECK_EQ_U64(json_object_size(closes), 1);
    CHECK_EQ_I64(jint(closes, "1001"), 5);

    json_t *hs = json_object_get(root, "histograms");
    CHECK(json_is_object(hs));
    CHECK_EQ_U64(json_object_size(hs), 2); /* only the non-empty ones */
    CHECK(json_object_get(hs, "latency") == NULL);
    check_hist(json_object_get(hs, "rtt"), s.hist[M_RTT]);
    check_hist(json_object_get(hs, "connect"), s.hist[M_CONNECT]);
    CHECK_EQ_I64(jint(json_object_get(hs, "rtt"), "count"), 1010);
    CHECK_EQ_I64(jint(json_object_get(hs, "rtt"), "min_us"), 1);

    json_t *ts = json_object_get(root, "timeseries");
    CHECK(json_is_array(ts));
    CHECK_EQ_U64(json_array_size(ts), 3);
    static const char *const row_keys[] = {"t",      "open",    "attempted",  "opened",
                                           "failed", "closed",  "sent",       "received",
                                           "errors", "pending", "connecting", "reconnects"};
    for (size_t i = 0; i < json_array_size(ts); i++) {
        json_t *row = json_array_get(ts, i);
        for (size_t k = 0; k < sizeof row_keys / sizeof row_keys[0]; k++)
            CHECK(json_object_get(row, row_keys[k]) != NULL);
        CHECK(json_number_value(json_object_get(row, "t")) == (double)(i + 1));
        CHECK_EQ_I64(jint(row, "open"), 40 + (int64_t)i);
        CHECK_EQ_I64(jint(row, "attempted"), 10 * (int64_t)i + 1);
        CHECK_EQ_I64(jint(row, "opened"), 10 * (int64_t)i + 2);
        CHECK_EQ_I64(jint(row, "failed"), (int64_t)i);
        CHECK_EQ_I64(jint(row, "sent"), 500 + (int64_t)i);
        CHECK_EQ_I64(jint(row, "errors"), 7);
        CHECK_EQ_I64(jint(row, "pending"), 6 + (int64_t)i);
        CHECK_EQ_I64(jint(row, "connecting"), 2 - (int64_t)i);
    }
    json_t *r0 = json_array_get(ts, 0), *r1 = json_array_get(ts, 1), *r2 = json_array_get(ts, 2);
    CHECK_EQ_I64(jint(r0, "rtt_p50_us"), 90);
    CHECK_EQ_I64(jint(r0, "rtt_p99_us"), 400);
    CHECK(json_object_get(r0, "connect_p50_us") == NULL);
    CHECK(json_object_get(r1, "rtt_p50_us") == NULL); /* no samples in that interval */
    CHECK_EQ_U64(json_object_size(r1), sizeof row_keys / sizeof row_keys[0]);
    CHECK_EQ_I64(jint(r2, "rtt_p99_us"), 410);
    CHECK_EQ_I64(jint(r2, "connect_p50_us"), 120);

    json_t *th = json_object_get(root, "thresholds");
    CHECK(json_is_array(th));
    CHECK_EQ_U64(json_array_size(th), 4);
    json_t *t0 = json_array_get(th, 0), *t1 = json_array_get(th, 1);
    json_t *t2 = json_array_get(th, 2), *t3 = json_array_get(th, 3);
    CHECK_EQ_STR(json_string_value(json_object_get(t0, "expr")), "rtt.p99<20ms");
    CHECK(json_is_true(json_object_get(t0, "ok")));
    CHECK_EQ_I64(jint(t0, "value_us"), hist_percentile(s.hist[M_RTT], 99));
    CHECK(json_object_get(t0, "value") == NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(t1, "expr")), "errors==0");
    CHECK(json_is_false(json_object_get(t1, "ok")));
    CHECK_EQ_I64(jint(t1, "value"), 3 + 3 + 5);
    CHECK(json_is_false(json_object_get(t2, "ok")));
    CHECK(json_is_null(json_object_get(t2, "value_us"))); /* no samples */
    CHECK(json_is_true(json_object_get(t3, "ok")));
    CHECK(fabs(json_number_value(json_object_get(t3, "value")) - 1002.0 / 1000 * 100) < 0.001);
    json_decref(root);

    /* an incomplete run, overwriting the previous file */
    r.complete = 0;
    r.shards = 0; /* unset reads as one */
    r.nthresholds = 0;
    r.rows = NULL;
    r.nrows = 0;
    CHECK_EQ_I64(report_json_write(&r, path, err, sizeof err), 0);
    CHECK_EQ_I64(files_in(dir), 1);
    root = json_load_file(path, 0, &jerr);
    CHECK(root != NULL);
    CHECK(json_is_false(json_object_get(root, "complete")));
    CHECK_EQ_I64(jint(root, "shards"), 1);
    CHECK_EQ_U64(json_array_size(json_object_get(root, "timeseries")), 0);
    CHECK_EQ_U64(json_array_size(json_object_get(root, "thresholds")), 0);
    json_decref(root);

    /* recovery: 10 drops (the errors of opened connections), 8 back, the busiest second */
    struct stats rs;
    stats_init(&rs);
    rs.ctr[CTR_CONNECTIONS_FAILED] = 4;
    rs.err[ERR_REFUSED] = 4;
    rs.err[ERR_EOF] = 10;
    for (int i = 1; i <= 8; i++)
        hist_record(rs.hist[M_RECONNECT], 100000 * i);
    struct ts_row rrows[3] = {
        {.t = 1, .attempted = 10}, {.t = 2, .attempted = 14}, {.t = 3, .attempted = 2}};
    struct report rr = {0};
    rr.total = &rs;
    rr.rows = rrows;
    rr.nrows = 3;
    CHECK_EQ_I64(report_json_write(&rr, path, err, sizeof err), 0);
    root = json_load_file(path, 0, &jerr);
    json_t *rec = json_object_get(root, "recovery");
    CHECK(json_is_object(rec));
    CHECK_EQ_I64(jint(rec, "dropped"), 10);
    CHECK_EQ_I64(jint(rec, "back"), 8);
    CHECK_EQ_I64(jint(rec, "not_back"), 2);
    CHECK_EQ_I64(jint(rec, "connections"), 8);
    CHECK_EQ_I64(jint(rec, "back_100_us"), hist_max(rs.hist[M_RECONNECT]));
    json_t *busy = json_object_get(rec, "busiest_second");
    CHECK(json_number_value(json_object_get(busy, "t")) == 2.0);
    CHECK_EQ_I64(jint(busy, "attempted"), 14);
    json_decref(root);
    /* dropped with none back: no times to give (null), only when --reconnect was asked */
    hist_reset(rs.hist[M_RECONNECT]);
    CHECK_EQ_I64(report_json_write(&rr, path, err, sizeof err), 0);
    root = json_load_file(path, 0, &jerr);
    CHECK(json_object_get(root, "recovery") == NULL);
    json_decref(root);
    rr.config[0] = (struct report_kv){"reconnect", "true", 1};
    rr.nconfig = 1;
    CHECK_EQ_I64(report_json_write(&rr, path, err, sizeof err), 0);
    root = json_load_file(path, 0, &jerr);
    rec = json_object_get(root, "recovery");
    CHECK_EQ_I64(jint(rec, "dropped"), 10);
    CHECK_EQ_I64(jint(rec, "back"), 0);
    CHECK(json_is_null(json_object_get(rec, "back_100_us")));
    json_decref(root);
    stats_free(&rs);

    /* a directory that does not exist: a message naming the path, nothing written */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/missing/report.json", dir);
    err[0] = '\0';
    int rc = report_json_write(&r, bad, err, sizeof err);
    CHECK_EQ_I64(rc, -ENOENT);
    CHECK(strncmp(err, bad, strlen(bad)) == 0);
    CHECK(strstr(err, "No such file or directory") != NULL);
    CHECK(strchr(err, '\n') == NULL);
    CHECK_EQ_I64(files_in(dir), 1);

    /* an empty report (no stats at all) is still a valid version 1 report */
    struct report empty = {0};
    snprintf(path, sizeof path, "%s/empty.json", dir);
    CHECK_EQ_I64(report_json_write(&empty, path, err, sizeof err), 0);
    root = json_load_file(path, 0, &jerr);
    CHECK(root != NULL);
    CHECK(json_is_null(json_object_get(root, "target")));
    CHECK_EQ_I64(jint(json_object_get(root, "counters"), "messages.sent"), 0);
    CHECK_EQ_U64(json_object_size(json_object_get(root, "histograms")), 0);
    json_decref(root);
    unlink(path);

    snprintf(path, sizeof path, "%s/report.json", dir);
    unlink(path);
    stats_free(&s);
}

static void test_atomic_file(void)
{
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/plain.txt", dir);
    CHECK_EQ_I64(atomic_file_write(path, "hello\n", 6, err, sizeof err), 0);
    CHECK_EQ_I64(atomic_file_write(path, "bye\n", 4, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    char buf[16] = "";
    CHECK(f && fgets(buf, sizeof buf, f));
    if (f)
        fclose(f);
    CHECK_EQ_STR(buf, "bye\n");
    CHECK_EQ_I64(files_in(dir), 1);
    CHECK_EQ_I64(atomic_file_write(path, "", 0, err, sizeof err), 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 0);
    unlink(path);

    /* a name that is a directory: refused, with a message, and nothing left behind */
    snprintf(path, sizeof path, "%s/", dir);
    CHECK_EQ_I64(atomic_file_write(path, "x", 1, err, sizeof err), -EISDIR);
    CHECK(strstr(err, dir) != NULL);
    snprintf(path, sizeof path, "%s/sub", dir);
    CHECK(mkdir(path, 0755) == 0);
    CHECK(atomic_file_write(path, "x", 1, err, sizeof err) < 0); /* rename over a directory */
    CHECK(strncmp(err, path, strlen(path)) == 0);
    CHECK_EQ_I64(files_in(dir), 1); /* just sub, no temporary file */
    rmdir(path);
    CHECK_EQ_I64(atomic_file_write("", "x", 1, err, sizeof err), -EINVAL);

    /* a relative name lands in the current directory */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(dir) == 0);
    CHECK_EQ_I64(atomic_file_write("rel.txt", "r", 1, err, sizeof err), 0);
    CHECK(access("rel.txt", F_OK) == 0);
    unlink("rel.txt");
    CHECK(chdir(cwd) == 0);
    CHECK_EQ_I64(files_in(dir), 0);
}

int main(void)
{
    umask(022);
    snprintf(dir, sizeof dir, "/tmp/herd-test-json-XXXXXX");
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_report();
    test_atomic_file();
    CHECK(rmdir(dir) == 0);
    return tap_done();
}

/* test_report_summary.c - the human outputs (times for people, the summary table, the live line)
 * and the CSV time series. Human text is not a contract, so only its essentials are checked. */
#include "base/err.h"
#include "report/report.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void fmt(double us, const char *want)
{
    char out[32];
    report_fmt_us(out, sizeof out, us);
    CHECK_EQ_STR(out, want);
}

static void test_fmt_us(void)
{
    fmt(0, "0us");
    fmt(1, "1us");
    fmt(412, "412us");
    fmt(412.4, "412us");
    fmt(999, "999us");
    fmt(999.7, "1.00ms"); /* not "1000us" */
    fmt(1000, "1.00ms");
    fmt(3210, "3.21ms");
    fmt(9999, "10.0ms");
    fmt(45678, "45.7ms");
    fmt(99999, "100ms");
    fmt(321000, "321ms");
    fmt(999600, "1.00s");
    fmt(1.5e6, "1.50s");
    fmt(12.34e6, "12.3s");
    fmt(3600e6, "3600s");
    fmt(-1, "-");
    char tiny[4];
    report_fmt_us(tiny, sizeof tiny, 123456);
    CHECK(strlen(tiny) < sizeof tiny);
}

static char *capture_summary(const struct report *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    report_summary_print(f, r);
    fclose(f);
    return text;
}

static void test_summary(void)
{
    struct stats s;
    stats_init(&s);
    for (int v = 100; v < 200; v++)
        hist_record(s.hist[M_RTT], v);
    hist_record(s.hist[M_CONNECT], 2500);
    s.ctr[CTR_CONNECTIONS_ATTEMPTED] = 10;
    s.ctr[CTR_CONNECTIONS_OPENED] = 9;
    s.ctr[CTR_MESSAGES_SENT] = 12345;
    s.ctr[CTR_BYTES_SENT] = 3 << 20;
    stats_http_status(&s, 503);
    stats_close_code(&s, 1006);
    stats_error(&s, ERR_TIMEOUT);
    s.peak = 9;

    struct threshold t[2];
    char why[256];
    threshold_parse("rtt.p99<1ms", &t[0], why, sizeof why);
    threshold_parse("errors==0", &t[1], why, sizeof why);
    struct report r = {0};
    r.target = "ws://h/echo";
    r.duration_s = 10;
    r.complete = 1;
    r.total = &s;
    report_thresholds_eval(&r, t, 2);

    char *text = capture_summary(&r);
    CHECK(text != NULL);
    if (!text)
        return;
    CHECK(strstr(text, "ws://h/echo") != NULL);
    CHECK(strstr(text, "attempted 10") != NULL);
    CHECK(strstr(text, "opened 9") != NULL);
    CHECK(strstr(text, "sent 12345 (1.23k/s)") != NULL);
    CHECK(strstr(text, "3.00MiB") != NULL);
    CHECK(strstr(text, "\nrtt ") != NULL);
    CHECK(strstr(text, "\nconnect ") != NULL);
    CHECK(strstr(text, "\nlatency") == NULL); /* no samples, no row */
    CHECK(strstr(text, "2.50ms") != NULL);
    CHECK(strstr(text, "http_status 1 (503: 1)") != NULL);
    CHECK(strstr(text, "closed_by_server 1 (1006: 1)") != NULL);
    CHECK(strstr(text, "timeout 1") != NULL);
    CHECK(strstr(text, "ok    rtt.p99<1ms") != NULL);
    CHECK(strstr(text, "FAIL  errors==0") != NULL);
    CHECK(strstr(text, "incomplete") == NULL);
    /* p95 beside p50, p90 and p99: the column, and rtt's value in it (100..199 us) */
    CHECK(strstr(text, "p90      p95      p99") != NULL);
    char p90[24], p95[24], p99[24];
    report_fmt_us(p90, sizeof p90, (double)hist_percentile(s.hist[M_RTT], 90));
    report_fmt_us(p95, sizeof p95, (double)hist_percentile(s.hist[M_RTT], 95));
    report_fmt_us(p99, sizeof p99, (double)hist_percentile(s.hist[M_RTT], 99));
    char want95[96];
    snprintf(want95, sizeof want95, "%9s%9s%9s", p90, p95, p99); /* each in its column */
    CHECK(strcmp(p95, p90) != 0 && strcmp(p95, p99) != 0);
    CHECK(strstr(text, want95) != NULL);
    CHECK(strstr(text, "pending 0") != NULL);
    printf("# summary:\n");
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        printf("#   %s\n", line);
    free(text);

    r.complete = 0;
    r.total = NULL; /* nothing measured */
    r.nthresholds = 0;
    text = capture_summary(&r);
    CHECK(text && strstr(text, "incomplete") != NULL);
    free(text);

    struct stats quiet;
    stats_init(&quiet);
    r.total = &quiet;
    text = capture_summary(&r);
    CHECK(text && strstr(text, "errors       none") != NULL);
    CHECK(text && strstr(text, "\nstart ") == NULL); /* no --start-at, no line */
    free(text);

    /* --start-at: how late, and in a merge the skew between the shards */
    r.start = (struct report_start){1000000000, 1000150000, 1000150000, 150000, 1};
    text = capture_summary(&r);
    CHECK(text && strstr(text, "\nstart        at --start-at + 150us\n") != NULL);
    free(text);
    r.start = (struct report_start){1000000000, 1000150000, 1003360000, 3360000, 3};
    text = capture_summary(&r);
    CHECK(text && strstr(text, "\nstart        at --start-at + 3.36ms at most; skew between 3 "
                               "shards 3.21ms\n") != NULL);
    free(text);
    stats_free(&quiet);
    stats_free(&s);
}

/* What the figures hide, said in the summary: both fan-out ratios, attempts cut short, how
 * many dropped and came back (and how many did not), the busiest second of attempts. */
static void test_summary_blind_spots(void)
{
    struct stats s;
    stats_init(&s);
    s.ctr[CTR_CONNECTIONS_ATTEMPTED] = 40;
    s.ctr[CTR_CONNECTIONS_OPENED] = 25;
    s.ctr[CTR_CONNECTIONS_FAILED] = 5;
    s.ctr[CTR_CONNECTIONS_PENDING] = 10;
    s.ctr[CTR_MESSAGES_UNSEEN] = 200;
    s.ctr[CTR_FANOUT_MESSAGES] = 100;
    s.ctr[CTR_FANOUT_DELIVERED] = 600;
    s.ctr[CTR_FANOUT_EXPECTED] = 1000; /* 600 delivered, 200 lost, 200 unseen */
    s.err[ERR_REFUSED] = 5; /* the failed attempts */
    s.err[ERR_EOF] = 20; /* 20 drops */
    for (int i = 1; i <= 18; i++)
        hist_record(s.hist[M_RECONNECT], 100000 * i);
    struct ts_row rows[3] = {
        {.t = 1, .attempted = 20}, {.t = 2, .attempted = 3}, {.t = 3, .attempted = 17}};
    struct report r = {0};
    r.target = "ws://h/pubsub/t";
    r.duration_s = 3;
    r.complete = 0;
    r.total = &s;
    r.rows = rows;
    r.nrows = 3;
    s.connecting = 4;
    char *text = capture_summary(&r);
    CHECK(text != NULL);
    if (!text)
        return;
    CHECK(strstr(text, "incomplete: 4 attempts still connecting at the end") != NULL);
    CHECK(strstr(text, "attempted 40  opened 25  failed 5  pending 10") != NULL);
    CHECK(strstr(text, "unseen 200") != NULL);
    CHECK(strstr(text, "delivery ratio 75.00 %") != NULL); /* 600 of 800 seen */
    CHECK(strstr(text, "received of published 60.00 %") != NULL); /* 600 of 1000 */
    CHECK(strstr(text, "20 dropped, 18 back") != NULL);
    CHECK(strstr(text, "2 not back at the end") != NULL);
    CHECK(strstr(text, "all 18 within 1.80s") != NULL);
    CHECK(strstr(text, "busiest second: 20 attempts") != NULL);
    printf("# summary:\n");
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        printf("#   %s\n", line);
    free(text);
    stats_free(&s);
}

static void test_live(void)
{
    struct ts_row row;
    memset(&row, 0, sizeof row);
    row.t = 12;
    row.open = 1000;
    row.sent = 4115;
    row.received = 4100;
    row.errors = 2;
    row.count[M_RTT] = 10;
    row.p50_us[M_RTT] = 90;
    row.p99_us[M_RTT] = 4000;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    report_live_print(f, &row, 1.0, M_RTT);
    report_live_print(f, &row, 0.5, M_LATENCY);
    report_live_print(f, &row, 1.0, -1);
    fclose(f);
    CHECK(text != NULL);
    if (!text)
        return;
    /* not a terminal: one whole line per call */
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    CHECK_EQ_I64(lines, 3);
    CHECK(strchr(text, '\r') == NULL);
    CHECK(strstr(text, "open 1000") != NULL);
    CHECK(strstr(text, "out 4.12k/s") != NULL);
    CHECK(strstr(text, "out 8.23k/s") != NULL); /* half-second interval */
    CHECK(strstr(text, "rtt p50 90us p99 4.00ms") != NULL);
    CHECK(strstr(text, "latency -") != NULL);
    CHECK(strstr(text, "errors 2") != NULL);
    free(text);
}

static void test_csv(void)
{
    char dir[] = "/tmp/herd-test-csv-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct ts_row rows[2];
    memset(rows, 0, sizeof rows);
    rows[0].t = 1;
    rows[0].open = 5;
    rows[0].attempted = 5;
    rows[0].opened = 5;
    rows[0].sent = 100;
    rows[0].received = 99;
    rows[0].count[M_RTT] = 3;
    rows[0].p50_us[M_RTT] = 80;
    rows[0].p99_us[M_RTT] = 300;
    rows[1].t = 2.5;
    rows[1].open = 4;
    rows[1].closed = 1;
    rows[1].errors = 1;
    rows[1].pending = 2;
    rows[1].connecting = 3;
    rows[1].count[M_LATENCY] = 1;
    rows[1].p50_us[M_LATENCY] = 1000;
    rows[1].p99_us[M_LATENCY] = 1000;
    struct report r = {0};
    r.rows = rows;
    r.nrows = 2;
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/ts.csv", dir);
    CHECK_EQ_I64(report_csv_write(&r, path, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    char line[3][512] = {"", "", ""};
    for (int i = 0; f && i < 3; i++)
        CHECK(fgets(line[i], sizeof line[i], f) != NULL);
    CHECK(f && fgetc(f) == EOF);
    if (f)
        fclose(f);
    CHECK_EQ_STR(line[0], "t,open,attempted,opened,failed,closed,reconnects,sent,received,errors,"
                          "pending,connecting,rtt_p50_us,rtt_p99_us,latency_p50_us,"
                          "latency_p99_us\n");
    CHECK_EQ_STR(line[1], "1,5,5,5,0,0,0,100,99,0,0,0,80,300,,\n");
    CHECK_EQ_STR(line[2], "2.5,4,0,0,0,1,0,0,0,1,2,3,,,1000,1000\n");
    unlink(path);

    /* no rows: the header alone */
    r.nrows = 0;
    CHECK_EQ_I64(report_csv_write(&r, path, err, sizeof err), 0);
    f = fopen(path, "r");
    char only[512] = "";
    CHECK(f && fgets(only, sizeof only, f) && fgetc(f) == EOF);
    if (f)
        fclose(f);
    CHECK_EQ_STR(only, "t,open,attempted,opened,failed,closed,reconnects,sent,received,errors,"
                       "pending,connecting\n");
    unlink(path);

    snprintf(path, sizeof path, "%s/nope/ts.csv", dir);
    CHECK_EQ_I64(report_csv_write(&r, path, err, sizeof err), -ENOENT);
    CHECK(strncmp(err, path, strlen(path)) == 0);
    CHECK(rmdir(dir) == 0);
}

int main(void)
{
    test_fmt_us();
    test_summary();
    test_summary_blind_spots();
    test_live();
    test_csv();
    return tap_done();
}

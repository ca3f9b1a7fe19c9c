/* test_report_threshold.c - threshold expressions: parse every kind and operator, reject the
 * malformed ones with a reason that quotes them, evaluate against a synthetic run. */
#include "base/err.h"
#include "report/report.h"
#include "tap.h"

#include <math.h>

static void parse_ok(const char *expr, enum threshold_kind kind, enum threshold_op op, double limit)
{
    struct threshold t;
    char why[256] = "";
    int rc = threshold_parse(expr, &t, why, sizeof why);
    CHECK_EQ_I64(rc, 0);
    if (rc != 0) {
        printf("#   %s\n", why);
        return;
    }
    CHECK_EQ_STR(t.expr, expr);
    CHECK_EQ_I64(t.kind, kind);
    CHECK_EQ_I64(t.op, op);
    int near = fabs(t.limit - limit) <= 1e-9 * (fabs(limit) > 1 ? fabs(limit) : 1);
    CHECK(near);
    if (!near)
        printf("#   %s: limit %.12g, expected %.12g\n", expr, t.limit, limit);
}

static void parse_pct(const char *expr, int metric, double percentile, enum threshold_op op,
                      double limit_us)
{
    struct threshold t;
    char why[256] = "";
    parse_ok(expr, THR_PERCENTILE, op, limit_us);
    if (threshold_parse(expr, &t, why, sizeof why) != 0)
        return;
    CHECK_EQ_I64(t.metric, metric);
    int near = fabs(t.percentile - percentile) < 1e-9;
    CHECK(near);
    if (!near)
        printf("#   %s: percentile %.12g, expected %.12g\n", expr, t.percentile, percentile);
}

static void parse_name(const char *expr, enum threshold_kind kind, const char *name)
{
    struct threshold t;
    char why[256] = "";
    CHECK_EQ_I64(threshold_parse(expr, &t, why, sizeof why), 0);
    CHECK_EQ_I64(t.kind, kind);
    CHECK_EQ_STR(t.name, name);
}

static void parse_bad(const char *expr, const char *want)
{
    struct threshold t;
    char why[256] = "";
    CHECK_EQ_I64(threshold_parse(expr, &t, why, sizeof why), HERD_E_INVAL);
    CHECK_EQ_STR(why, want);
}

static void test_parse_percentiles(void)
{
    parse_pct("rtt.p99<20ms", M_RTT, 99, THR_LT, 20000);
    parse_pct("rtt.p99 < 20ms", M_RTT, 99, THR_LT, 20000);
    parse_pct(" rtt.p99<20ms ", M_RTT, 99, THR_LT, 20000);
    parse_pct("latency.p99.9<=5ms", M_LATENCY, 99.9, THR_LE, 5000);
    parse_pct("latency.p999<=5ms", M_LATENCY, 99.9, THR_LE, 5000);
    parse_pct("fanout.p9999>1s", M_FANOUT, 99.99, THR_GT, 1e6);
    parse_pct("connect.p50>=250us", M_CONNECT, 50, THR_GE, 250);
    parse_ok("connect.max>0", THR_PERCENTILE, THR_GT, 0); /* 0 needs no unit */
    parse_pct("tls.p90==100us", M_TLS, 90, THR_EQ, 100);
    parse_pct("handshake.p95!=2.5ms", M_HANDSHAKE, 95, THR_NE, 2500);
    parse_pct("ready.p5<1.5s", M_READY, 5, THR_LT, 1.5e6);
    parse_pct("first_message.p100<1s", M_FIRST_MESSAGE, 100, THR_LT, 1e6);
    parse_pct("reconnect.p99.99<10s", M_RECONNECT, 99.99, THR_LT, 1e7);
    parse_pct("rtt.min<1ms", M_RTT, -1, THR_LT, 1000);
    parse_pct("rtt.max<1s", M_RTT, -2, THR_LT, 1e6);
    parse_pct("rtt.mean<10ms", M_RTT, -3, THR_LT, 10000);
    parse_pct("rtt.count>=100", M_RTT, -4, THR_GE, 100);
    for (int m = 0; m < M_COUNT; m++) {
        char expr[64];
        snprintf(expr, sizeof expr, "%s.p99<1ms", metric_name[m]);
        parse_pct(expr, m, 99, THR_LT, 1000);
    }
}

static void test_parse_counters(void)
{
    parse_ok("errors==0", THR_COUNTER, THR_EQ, 0);
    parse_name("errors==0", THR_COUNTER, "errors");
    parse_ok("errors != 0", THR_COUNTER, THR_NE, 0);
    parse_ok("connections.opened>=1000", THR_COUNTER, THR_GE, 1000);
    parse_ok("connections.peak>10k", THR_COUNTER, THR_GT, 10000);
    parse_ok("bytes.received>1.5M", THR_COUNTER, THR_GT, 1.5e6);
    parse_ok("messages.sent>2G", THR_COUNTER, THR_GT, 2e9);
    parse_name("connections.open<=5", THR_COUNTER, "connections.open");
    parse_name("errors.refused<5", THR_COUNTER, "errors.refused");
    parse_name("errors.http_status<1", THR_COUNTER, "errors.http_status");
    parse_name("errors.http_status.503==0", THR_COUNTER, "errors.http_status.503");
    parse_name("errors.closed_by_server.1001<10", THR_COUNTER, "errors.closed_by_server.1001");
    for (int c = 0; c < CTR_COUNT; c++) {
        char expr[96];
        snprintf(expr, sizeof expr, "%s<1", counter_name[c]);
        parse_name(expr, THR_COUNTER, counter_name[c]);
        snprintf(expr, sizeof expr, "%s/s>2.5", counter_name[c]);
        parse_ok(expr, THR_RATE, THR_GT, 2.5);
    }
    for (int e = 0; e < ERR_COUNT; e++) {
        char expr[96], name[64];
        snprintf(name, sizeof name, "errors.%s", err_class_name[e]);
        snprintf(expr, sizeof expr, "%s==0", name);
        parse_name(expr, THR_COUNTER, name);
    }
    parse_name("messages.received/s>1000", THR_RATE, "messages.received");
    parse_name("errors/s<1", THR_RATE, "errors");
    parse_name("connections.failed<1%", THR_RATIO, "connections.failed");
    parse_ok("connections.failed<1%", THR_RATIO, THR_LT, 1);
    parse_ok("errors<=0.5%", THR_RATIO, THR_LE, 0.5);
    parse_ok("errors.timeout<2%", THR_RATIO, THR_LT, 2);
    parse_ok("messages.lost==0%", THR_RATIO, THR_EQ, 0);
    parse_ok("messages.duplicated<1%", THR_RATIO, THR_LT, 1);
    parse_ok("messages.reordered<5%", THR_RATIO, THR_LT, 5);
}

static void test_parse_malformed(void)
{
    parse_bad("", "\"\": expected <metric>.<stat><op><value> or <counter><op><value>, e.g. "
                  "rtt.p99<20ms or errors==0");
    parse_bad("rtt.p99", "\"rtt.p99\": missing a comparison (<, <=, >, >=, == or !=)");
    parse_bad("rtt.p99<20", "\"rtt.p99<20\": a time needs a unit: 20 us, ms or s");
    parse_bad("errors=0", "\"errors=0\": use == to compare");
    parse_bad("errors!0", "\"errors!0\": expected != after !");
    parse_bad("<5", "\"<5\": missing a metric or counter before <");
    parse_bad("errors<", "\"errors<\": missing a value after <");
    parse_bad("errors>= ", "\"errors>= \": missing a value after >=");
    parse_bad("errors<1<2", "\"errors<1<2\": only one comparison per threshold");
    parse_bad("errors<=>1", "\"errors<=>1\": only one comparison per threshold");
    parse_bad("rtt<20ms", "\"rtt<20ms\": expected rtt.<stat> with stat p50, p90, p99, p99.9, "
                          "p999, min, max, mean or count");
    parse_bad("rtt.<20ms", "\"rtt.<20ms\": expected rtt.<stat> with stat p50, p90, p99, p99.9, "
                           "p999, min, max, mean or count");
    parse_bad("rtt.p42x<1ms", "\"rtt.p42x<1ms\": unknown statistic \"p42x\" (expected p50, p90, "
                              "p99, p99.9, p999, min, max, mean or count)");
    parse_bad("rtt.median<1ms", "\"rtt.median<1ms\": unknown statistic \"median\" (expected p50, "
                                "p90, p99, p99.9, p999, min, max, mean or count)");
    parse_bad("rtt.p500<1ms", "\"rtt.p500<1ms\": unknown statistic \"p500\" (expected p50, p90, "
                              "p99, p99.9, p999, min, max, mean or count)");
    parse_bad("rtt.p<1ms", "\"rtt.p<1ms\": unknown statistic \"p\" (expected p50, p90, p99, "
                           "p99.9, p999, min, max, mean or count)");
    parse_bad("rtt.p0<1ms", "\"rtt.p0<1ms\": a percentile must be above 0 and at most 100");
    parse_bad("rtt.p100.5<1ms", "\"rtt.p100.5<1ms\": a percentile must be above 0 and at most "
                                "100");
    parse_bad("rtt.p99<fast", "\"rtt.p99<fast\": expected a time like 20ms after <");
    parse_bad("rtt.p99<-1ms", "\"rtt.p99<-1ms\": expected a time like 20ms after <");
    parse_bad("rtt.p99<20min",
              "\"rtt.p99<20min\": expected a time like 20ms after < (units us, ms, s)");
    parse_bad("rtt.p99<20 ms",
              "\"rtt.p99<20 ms\": expected a time like 20ms after < (units us, ms, s)");
    parse_bad("rtt.count>many", "\"rtt.count>many\": expected a count after >");
    parse_bad("rtt.count>5ms", "\"rtt.count>5ms\": expected a count after >");
    parse_bad("foo.p99<1ms", "\"foo.p99<1ms\": unknown metric or counter \"foo.p99\" (e.g. "
                             "rtt.p99, connections.failed, errors, messages.lost)");
    parse_bad("errors.nope<1", "\"errors.nope<1\": unknown metric or counter \"errors.nope\" "
                               "(e.g. rtt.p99, connections.failed, errors, messages.lost)");
    parse_bad("errors.http_status.600<1",
              "\"errors.http_status.600<1\": unknown metric or counter "
              "\"errors.http_status.600\" (e.g. rtt.p99, connections.failed, errors, "
              "messages.lost)");
    parse_bad("errors.refused.5<1", "\"errors.refused.5<1\": unknown metric or counter "
                                    "\"errors.refused.5\" (e.g. rtt.p99, connections.failed, "
                                    "errors, messages.lost)");
    parse_bad("rtt.p99/s<1", "\"rtt.p99/s<1\": unknown metric or counter \"rtt.p99\" (e.g. "
                             "rtt.p99, connections.failed, errors, messages.lost)");
    parse_bad("connections.open/s>1",
              "\"connections.open/s>1\": connections.open is a gauge; /s applies to counters");
    parse_bad("messages.sent<5%", "\"messages.sent<5%\": a percentage applies only to "
                                  "connections.failed, errors, messages.lost, "
                                  "messages.duplicated and messages.reordered");
    parse_bad("messages.received/s>5%",
              "\"messages.received/s>5%\": a rate cannot be a percentage");
    parse_bad("errors<-1", "\"errors<-1\": expected a number after <");
    parse_bad("errors<1x", "\"errors<1x\": expected a number after <");
    parse_bad("errors<1%%", "\"errors<1%%\": expected a number after <");
    parse_bad("errors<1e3", "\"errors<1e3\": expected a number after <");

    /* one line, whatever the input */
    struct threshold t;
    char why[256];
    CHECK_EQ_I64(threshold_parse("err\nors<1", &t, why, sizeof why), HERD_E_INVAL);
    CHECK(strchr(why, '\n') == NULL);
    char longexpr[200];
    memset(longexpr, 'a', sizeof longexpr - 1);
    longexpr[sizeof longexpr - 1] = '\0';
    CHECK_EQ_I64(threshold_parse(longexpr, &t, why, sizeof why), HERD_E_INVAL);
    CHECK(strstr(why, "too long (at most 127 characters)") != NULL);
    CHECK(strlen(why) < 160);
    /* a tiny buffer is not overrun */
    char small[8];
    CHECK_EQ_I64(threshold_parse("bogus", &t, small, sizeof small), HERD_E_INVAL);
    CHECK(strlen(small) < sizeof small);
    CHECK_EQ_I64(threshold_parse(NULL, &t, why, sizeof why), HERD_E_INVAL);
}

static struct threshold parsed(const char *expr)
{
    struct threshold t;
    char why[256];
    if (threshold_parse(expr, &t, why, sizeof why) != 0)
        printf("# cannot parse %s: %s\n", expr, why);
    return t;
}

static void test_eval(void)
{
    struct stats s;
    stats_init(&s);
    for (int v = 1; v <= 1000; v++)
        hist_record(s.hist[M_RTT], v);
    s.ctr[CTR_CONNECTIONS_ATTEMPTED] = 200;
    s.ctr[CTR_CONNECTIONS_OPENED] = 198;
    s.ctr[CTR_CONNECTIONS_FAILED] = 2;
    s.ctr[CTR_MESSAGES_RECEIVED] = 900;
    s.ctr[CTR_MESSAGES_LOST] = 100;
    s.ctr[CTR_MESSAGES_DUPLICATED] = 9;
    stats_error(&s, ERR_REFUSED);
    stats_http_status(&s, 503);
    s.open = 150;
    s.peak = 198;

    static const struct {
        const char *expr;
        int ok;
        double value; /* NAN: compare with the histogram's own figure */
    } cases[] = {
        {"rtt.p99<20ms", 1, NAN},
        {"rtt.p50>1ms", 0, NAN},
        {"rtt.max<=1000us", 1, 1000},
        {"rtt.max<1ms", 0, 1000},
        {"rtt.min==1us", 1, 1},
        {"rtt.mean>500us", 1, 500.5},
        {"rtt.count==1000", 1, 1000},
        {"rtt.count!=1000", 0, 1000},
        {"latency.p99<1ms", 0, 0}, /* no samples: fails */
        {"latency.count==0", 1, 0},
        {"connections.failed<1%", 0, 1},
        {"connections.failed<=1%", 1, 1},
        {"errors==2", 1, 2},
        {"errors<1.5%", 1, 1},
        {"errors.refused!=0", 1, 1},
        {"errors.http_status==1", 1, 1},
        {"errors.http_status.503==1", 1, 1},
        {"errors.http_status.502==0", 1, 0},
        {"errors.timeout>0", 0, 0},
        {"messages.lost<10%", 0, 10},
        {"messages.lost<=10%", 1, 10},
        {"messages.duplicated<=1%", 1, 1},
        {"messages.received/s==90", 1, 90},
        {"messages.received/s>=91", 0, 90},
        {"connections.open==150", 1, 150},
        {"connections.peak>=198", 1, 198},
        {"connections.opened>199", 0, 198},
    };
    size_t n = sizeof cases / sizeof cases[0];
    struct threshold t[sizeof cases / sizeof cases[0]];
    int want_failed = 0;
    for (size_t i = 0; i < n; i++) {
        t[i] = parsed(cases[i].expr);
        want_failed += !cases[i].ok;
    }
    struct report r = {0};
    r.total = &s;
    r.duration_s = 10;
    CHECK_EQ_I64(report_thresholds_eval(&r, t, n), want_failed);
    CHECK_EQ_U64(r.nthresholds, n);
    for (size_t i = 0; i < n; i++) {
        const struct threshold_result *res = &r.thresholds[i];
        double want = cases[i].value;
        if (isnan(want))
            want = (double)hist_percentile(s.hist[M_RTT], t[i].percentile);
        int good = res->t == &t[i] && res->ok == cases[i].ok && fabs(res->value - want) < 1e-9;
        CHECK(good);
        if (!good)
            printf("#   %s: ok %d value %.12g, expected ok %d value %.12g\n", cases[i].expr,
                   res->ok, res->value, cases[i].ok, want);
    }
    CHECK_EQ_I64(r.thresholds[8].no_data, 1);
    CHECK_EQ_I64(r.thresholds[9].no_data, 0);
    CHECK_EQ_I64(r.thresholds[0].no_data, 0);
    /* the percentile is HdrHistogram's: within the 3-digit precision of 990 */
    CHECK(r.thresholds[0].value >= 990 && r.thresholds[0].value <= 991);

    /* nothing attempted, nothing measured, no run time: ratios and rates are 0 */
    struct stats empty;
    stats_init(&empty);
    struct threshold z[3] = {parsed("connections.failed<1%"), parsed("messages.lost==0%"),
                             parsed("messages.sent/s==0")};
    struct report r2 = {0};
    r2.total = &empty;
    CHECK_EQ_I64(report_thresholds_eval(&r2, z, 3), 0);
    for (int i = 0; i < 3; i++)
        CHECK(r2.thresholds[i].ok && r2.thresholds[i].value == 0);

    /* no stats at all: counters read 0, time statistics have no data */
    struct threshold nt[2] = {parsed("errors==0"), parsed("rtt.p99<1s")};
    struct report r3 = {0};
    CHECK_EQ_I64(report_thresholds_eval(&r3, nt, 2), 1);
    CHECK(r3.thresholds[0].ok);
    CHECK(!r3.thresholds[1].ok && r3.thresholds[1].no_data);

    /* more than the report holds: the rest is ignored, never written past the array */
    struct threshold many[REPORT_MAX_RESULTS + 5];
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
        many[i] = parsed("errors>100");
    struct report r4 = {0};
    r4.total = &s;
    CHECK_EQ_I64(report_thresholds_eval(&r4, many, sizeof many / sizeof many[0]),
                 REPORT_MAX_RESULTS);
    CHECK_EQ_U64(r4.nthresholds, REPORT_MAX_RESULTS);

    stats_free(&s);
    stats_free(&empty);
}

/* steps.<name>.<stat>: a flow's request step, found by name in the stats. */
static void test_steps(void)
{
    struct threshold t;
    char why[256];
    CHECK_EQ_I64(threshold_parse("steps.balance.p99<50ms", &t, why, sizeof why), 0);
    CHECK_EQ_I64(t.kind, THR_PERCENTILE);
    CHECK_EQ_I64(t.metric, -1);
    CHECK_EQ_STR(t.name, "balance");
    CHECK(t.percentile == 99 && t.limit == 50000);
    CHECK_EQ_I64(threshold_parse("steps.a-b.p99.9<=1s", &t, why, sizeof why), 0);
    CHECK_EQ_STR(t.name, "a-b");
    CHECK(t.percentile > 99.89 && t.percentile < 99.91 && t.limit == 1e6);
    CHECK_EQ_I64(threshold_parse("steps.x.count>10", &t, why, sizeof why), 0);
    CHECK(threshold_parse("steps.p99<1ms", &t, why, sizeof why) < 0);
    CHECK(threshold_parse("steps.x.p0<1ms", &t, why, sizeof why) < 0);
    CHECK(threshold_parse("steps.x.p99<fast", &t, why, sizeof why) < 0);

    struct stats s;
    stats_init(&s);
    int k = stats_step_add(&s, "balance");
    CHECK_EQ_I64(k, 0);
    for (int v = 1; v <= 100; v++)
        hist_record(s.step[k], v * 1000);
    struct threshold th[3];
    CHECK_EQ_I64(threshold_parse("steps.balance.p99<50ms", &th[0], why, sizeof why), 0);
    CHECK_EQ_I64(threshold_parse("steps.balance.p50<=51ms", &th[1], why, sizeof why), 0);
    CHECK_EQ_I64(threshold_parse("steps.nope.p50<1s", &th[2], why, sizeof why), 0);
    struct report r = {0};
    r.total = &s;
    CHECK_EQ_I64(report_thresholds_eval(&r, th, 3), 2);
    CHECK(!r.thresholds[0].ok);
    CHECK(r.thresholds[1].ok);
    CHECK(!r.thresholds[2].ok && r.thresholds[2].no_data);
    stats_free(&s);
}

int main(void)
{
    test_steps();
    test_parse_percentiles();
    test_parse_counters();
    test_parse_malformed();
    test_eval();
    return tap_done();
}

/* test_report_html.c - the HTML report (html.c, svg.c), the comparison of two runs and
 * --max-regression (compare.c), and the report's environment (env.c). The page is for people,
 * so only what a reader and the browser test rely on is checked: its parts are there, every
 * chart has lines, nothing of the report's text reaches the page unescaped, nothing loads. */
#include "base/err.h"
#include "report/html_internal.h"
#include "report/report.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_sbuf(void)
{
    struct sbuf b = {0};
    sb_put(&b, "a");
    sb_printf(&b, "%d-%s", 42, "x");
    sb_esc(&b, "<b a=\"1\">&'\x01");
    CHECK_EQ_STR(b.p, "a42-x&lt;b a=&quot;1&quot;&gt;&amp;&#39;?");
    char big[2000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sb_printf(&b, "%s", big); /* longer than the small buffer */
    CHECK_EQ_U64(b.len, strlen(b.p));
    CHECK_EQ_U64(b.len, 41 + sizeof big - 1);
    CHECK(!b.oom);
    sb_free(&b);

    char t[32];
    html_fmt_count(t, sizeof t, 0);
    CHECK_EQ_STR(t, "0");
    html_fmt_count(t, sizeof t, 12345.6);
    CHECK_EQ_STR(t, "12.3k");
    html_fmt_count(t, sizeof t, 2.5e6);
    CHECK_EQ_STR(t, "2.50M");
    html_fmt_count(t, sizeof t, NAN);
    CHECK_EQ_STR(t, "-");
}

static void test_percentile_grid(void)
{
    double p[121];
    size_t n = svg_percentile_grid(p, 121);
    CHECK_EQ_U64(n, 121);
    CHECK(p[0] == 0.0);
    CHECK(fabs(p[24] - 90.0) < 1e-9); /* one decade in */
    CHECK(fabs(p[48] - 99.0) < 1e-9);
    CHECK(p[120] == 99.999);
    int rising = 1;
    for (size_t i = 1; i < n; i++)
        rising &= p[i] > p[i - 1];
    CHECK(rising);
}

static void test_chart(void)
{
    double x[] = {1, 2, 3, 4};
    double a[] = {10, 20, NAN, 40}, none[] = {NAN, NAN, NAN, NAN};
    struct svg_series s[] = {{"a<", a}, {"none", none}};
    struct sbuf b = {0};
    svg_chart(&b, "id1", "T", SVG_X_SECONDS, SVG_Y_COUNT, x, 4, s, 2);
    CHECK(strstr(b.p, "data-chart=\"id1\"") != NULL);
    CHECK_EQ_U64(count(b.p, "<path class=\"line\""), 1); /* the empty series draws nothing */
    CHECK_EQ_U64(count(b.p, "<rect "), 4); /* a hover column per point */
    CHECK(strstr(b.p, "a&lt;: 20") != NULL);
    CHECK(strstr(b.p, "none: -") != NULL);
    /* the gap at x=3 lifts the pen: 40 stands alone and is drawn as a diamond */
    const char *d = strstr(b.p, " d=\"");
    size_t moves = 0;
    for (const char *p = d ? d + 4 : ""; *p && *p != '"'; p++)
        moves += *p == 'M';
    CHECK_EQ_U64(moves, 2);
    CHECK(d && strstr(d, "l3 3l-3 3l-3 -3z\"") != NULL);
    CHECK(strstr(b.p, "nodata") == NULL);
    sb_free(&b);

    svg_chart(&b, "id2", "T", SVG_X_SECONDS, SVG_Y_US, x, 4, &s[1], 1);
    CHECK(strstr(b.p, "nodata") != NULL);
    CHECK(strstr(b.p, "<svg") == NULL);
    sb_free(&b);

    /* many points: at most 320 hover columns */
    size_t n = 5000;
    double *xs = calloc(n, sizeof *xs), *ys = calloc(n, sizeof *ys);
    for (size_t i = 0; i < n; i++) {
        xs[i] = (double)i + 1;
        ys[i] = (double)(i % 7);
    }
    ys[2345] = 1000; /* one spike: thinned or not, it is drawn */
    struct svg_series one = {"y", ys};
    svg_chart(&b, "id3", "T", SVG_X_SECONDS, SVG_Y_COUNT, xs, n, &one, 1);
    CHECK_EQ_U64(count(b.p, "<rect "), 320);
    CHECK_EQ_U64(count(b.p, "<path class=\"line\""), 1);
    const char *path = strstr(b.p, " d=\"");
    size_t points = 0;
    for (const char *p = path ? path + 4 : ""; *p && *p != '"'; p++)
        points += *p == 'L' || *p == 'M';
    CHECK(points > 600 && points <= 1200); /* the lowest and highest of 600 slices */
    CHECK(path && strstr(path, " 10.0L") != NULL); /* the spike touches the top (y = 10) */
    sb_free(&b);

    double grid[121];
    svg_percentile_grid(grid, 121);
    for (size_t i = 0; i < 121; i++)
        ys[i] = 100 + grid[i];
    svg_chart(&b, "pct", "T", SVG_X_PERCENTILE, SVG_Y_US, grid, 121, &one, 1);
    CHECK(strstr(b.p, ">99.999%<") != NULL);
    CHECK(strstr(b.p, ">99.9%<") != NULL);
    CHECK(strstr(b.p, "<title>99.999%") != NULL);
    sb_free(&b);
    free(xs);
    free(ys);
}

/* A run with rows, histograms, errors, thresholds, stages, groups, a limit and a warning. */
struct fixture {
    struct stats s, g1, g2;
    struct ts_row rows[5];
    struct threshold t[2];
    struct report r;
};

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    stats_init(&f->s);
    stats_init(&f->g1);
    stats_init(&f->g2);
    for (int v = 100; v < 1100; v++) {
        hist_record(f->s.hist[M_RTT], v);
        hist_record(f->g1.hist[M_RTT], v);
        hist_record(f->s.hist[M_LATENCY], v * 3);
        hist_record(f->g2.hist[M_LATENCY], v * 3);
    }
    f->s.ctr[CTR_CONNECTIONS_ATTEMPTED] = 12;
    f->s.ctr[CTR_CONNECTIONS_OPENED] = 10;
    f->s.ctr[CTR_MESSAGES_SENT] = 1000;
    f->s.ctr[CTR_MESSAGES_RECEIVED] = 990;
    stats_http_status(&f->s, 503);
    stats_close_code(&f->s, 4001);
    f->s.peak = 10;
    for (int i = 0; i < 5; i++) {
        struct ts_row *row = &f->rows[i];
        row->t = i + 1;
        row->open = 2 * i;
        row->attempted = 3;
        row->sent = 200;
        row->received = 198;
        row->count[M_RTT] = i == 2 ? 0 : 10; /* a second without rtt: a gap */
        row->p50_us[M_RTT] = 300 + i;
        row->p99_us[M_RTT] = 900 + i;
    }
    struct report *r = &f->r;
    r->tool_version = "test";
    r->complete = 1;
    r->target = "ws://h/echo?a=<b>&c";
    snprintf(r->started_at, sizeof r->started_at, "2026-12-02T12:00:00.000Z");
    r->duration_s = 5;
    r->shards = 1;
    r->config[0] = (struct report_kv){"url", "ws://h/echo?a=<b>&c", 0};
    r->config[1] = (struct report_kv){"connections", "10", 1};
    r->nconfig = 2;
    r->total = &f->s;
    r->rows = f->rows;
    r->nrows = 5;
    char why[200];
    threshold_parse("rtt.p99<20ms", &f->t[0], why, sizeof why);
    threshold_parse("errors==0", &f->t[1], why, sizeof why);
    report_thresholds_eval(r, f->t, 2);
    r->stages[0] = (struct report_stage){10, 0, 5, 1, 2.0};
    r->nstages = 1;
    r->groups[0] = (struct report_group){"subs", "ws://h/p", "subscribe", &f->g1, NULL, 0};
    r->groups[1] = (struct report_group){"pubs", "ws://h/p", "publish", &f->g2, NULL, 0};
    r->ngroups = 2;
    r->limit = (struct report_limit){20, 10, "descriptors", 7};
    report_warning_add(r, "a <warning> & more");
    snprintf(r->env.command_line, sizeof r->env.command_line, "herd run '<x>'");
    snprintf(r->env.host, sizeof r->env.host, "box");
    snprintf(r->env.kernel, sizeof r->env.kernel, "Linux 6 x86_64");
    r->env.cpus = 2;
    r->env.nofile = 1024;
}

static void fixture_free(struct fixture *f)
{
    stats_free(&f->s);
    stats_free(&f->g1);
    stats_free(&f->g2);
}

static void test_render(void)
{
    struct fixture *f = calloc(1, sizeof *f);
    fixture_init(f);
    char *html = NULL;
    size_t len = 0;
    CHECK_EQ_I64(report_html_render(&f->r, &html, &len), 0);
    CHECK_EQ_U64(len, strlen(html));
    CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    CHECK(strcmp(html + len - 8, "</html>\n") == 0);
    /* nothing loads, nothing runs */
    CHECK(strstr(html, "Content-Security-Policy\" content=\"default-src 'none'") != NULL);
    CHECK(strstr(html, "<script") == NULL);
    CHECK(strstr(html, "src=") == NULL);
    CHECK(strstr(html, "href=") == NULL);
    CHECK(strstr(html, "@import") == NULL);
    CHECK(strstr(html, "name=\"viewport\"") != NULL);
    CHECK(strstr(html, "@media print") != NULL);
    /* the report's text, escaped */
    CHECK(strstr(html, "<b>") == NULL && strstr(html, "<warning>") == NULL);
    CHECK(strstr(html, "ws://h/echo?a=&lt;b&gt;&amp;c") != NULL);
    CHECK(strstr(html, "a &lt;warning&gt; &amp; more") != NULL);
    CHECK(strstr(html, "herd run &#39;&lt;x&gt;&#39;") != NULL);
    /* the sections */
    static const char *const sections[] = {
        "thresholds", "summary", "timeseries", "distributions", "errors",
        "stages",     "limit",   "warnings",   "config",        "environment"};
    for (size_t i = 0; i < ARRAY_SIZE(sections); i++) {
        char want[64];
        snprintf(want, sizeof want, "<section id=\"%s\">", sections[i]);
        CHECK(strstr(html, want) != NULL);
        if (!strstr(html, want))
            printf("#   missing %s\n", want);
    }
    /* the charts: connections, attempts, messages, rtt per second; rtt and latency distributions
     * (the whole run and each group with samples) */
    static const char *const charts[] = {"connections", "attempts", "messages",
                                         "ts-rtt",      "pct-rtt",  "pct-latency"};
    for (size_t i = 0; i < ARRAY_SIZE(charts); i++) {
        char want[64];
        snprintf(want, sizeof want, "data-chart=\"%s\"", charts[i]);
        CHECK(strstr(html, want) != NULL);
    }
    CHECK_EQ_U64(count(html, "<figure class=\"chart\""), 6);
    CHECK(strstr(html, "data-chart=\"ts-latency\"") == NULL); /* no latency in any second */
    CHECK(strstr(html, "nodata") == NULL);
    const char *pct = strstr(html, "data-chart=\"pct-rtt\"");
    const char *pct_end = pct ? strstr(pct, "</figure>") : NULL;
    size_t lines = 0;
    for (const char *p = pct; p && p < pct_end && (p = strstr(p, "<path class=\"line\"")); p++)
        lines += p < pct_end;
    CHECK_EQ_U64(lines, 2); /* the whole run and group subs (pubs has no rtt) */
    /* errors with their codes; thresholds; environment */
    CHECK(strstr(html, "HTTP 503: 1") != NULL);
    CHECK(strstr(html, "close 4001: 1") != NULL);
    CHECK(strstr(html, "thresholds: 1 of 2 held") != NULL);
    CHECK(strstr(html, "<td>box</td>") != NULL);
    CHECK(strstr(html, "<td>1024</td>") != NULL);
    CHECK(strstr(html, "group subs") != NULL && strstr(html, "group pubs") != NULL);
    free(html);

    /* a report without time series or environment still renders */
    f->r.nrows = 0;
    f->r.rows = NULL;
    memset(&f->r.env, 0, sizeof f->r.env);
    CHECK_EQ_I64(report_html_render(&f->r, &html, &len), 0);
    CHECK(strstr(html, "no time series") != NULL);
    CHECK(strstr(html, "not recorded in this report") != NULL);
    free(html);
    fixture_free(f);
    free(f);
}

static void test_regression_parse(void)
{
    struct report_regression r[REPORT_MAX_REGRESSIONS];
    size_t n = 0;
    char why[300];
    CHECK_EQ_I64(report_regression_parse("10%", r, &n, REPORT_MAX_REGRESSIONS, why, sizeof why), 0);
    CHECK_EQ_U64(n, 1);
    CHECK_EQ_STR(r[0].metric, "");
    CHECK(r[0].pct == 10);
    CHECK_EQ_I64(report_regression_parse("rtt.p99=5%,messages.received/s=0.5%", r, &n,
                                         REPORT_MAX_REGRESSIONS, why, sizeof why),
                 0);
    CHECK_EQ_U64(n, 3);
    CHECK_EQ_STR(r[1].metric, "rtt.p99");
    CHECK(r[1].pct == 5);
    CHECK_EQ_STR(r[2].metric, "messages.received/s");
    CHECK(r[2].pct == 0.5);
    static const char *const bad[] = {"",       "10",      "x=",  "=5%",  "rtt=-1%", "5%,",
                                      "a b=1%", "rtt=5%%", ",5%", "nan%", "rtt=5"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        size_t k = 0;
        why[0] = '\0';
        int rc = report_regression_parse(bad[i], r, &k, REPORT_MAX_REGRESSIONS, why, sizeof why);
        CHECK(rc == HERD_E_INVAL && strstr(why, "--max-regression") && !strchr(why, '\n'));
        if (rc != HERD_E_INVAL)
            printf("#   accepted \"%s\"\n", bad[i]);
    }
    n = REPORT_MAX_REGRESSIONS;
    CHECK(report_regression_parse("1%", r, &n, REPORT_MAX_REGRESSIONS, why, sizeof why) ==
          HERD_E_INVAL);
}

static const struct report_cmp_row *row(const struct report_compare *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->rows[i].name, name) == 0)
            return &c->rows[i];
    }
    return NULL;
}

static void test_compare(void)
{
    struct stats bs, ns;
    stats_init(&bs);
    stats_init(&ns);
    for (int v = 1; v <= 1000; v++) {
        hist_record(bs.hist[M_RTT], 1000);
        hist_record(ns.hist[M_RTT], v <= 980 ? 1000 : 2000); /* p99 doubles, p50 stays */
        hist_record(bs.hist[M_CONNECT], 100);
    }
    bs.ctr[CTR_MESSAGES_RECEIVED] = 1000;
    ns.ctr[CTR_MESSAGES_RECEIVED] = 900;
    ns.err[ERR_RESET] = 3;
    struct report b = {0}, n = {0};
    b.total = &bs;
    n.total = &ns;
    b.duration_s = n.duration_s = 10;
    struct report_regression lim[8];
    size_t nl = 0;
    char why[300];
    struct report_compare c;

    /* no limits: deltas only, nothing judged */
    CHECK_EQ_I64(report_compare_build(&b, &n, "b", "n", lim, 0, &c, why, sizeof why), 0);
    CHECK_EQ_U64(c.nregressed, 0);
    const struct report_cmp_row *p99 = row(&c, "rtt.p99"), *p50 = row(&c, "rtt.p50");
    CHECK(p99 && fabs(p99->delta_pct - 100.0) < 1.0);
    CHECK(p50 && fabs(p50->delta_pct) < 0.5);
    CHECK(isnan(p99->limit));
    const struct row_want {
        const char *name;
        double delta;
    } rate = {"messages.received/s", -10.0};
    const struct report_cmp_row *rr = row(&c, rate.name);
    CHECK(rr && fabs(rr->delta_pct - rate.delta) < 1e-9 && rr->dir == -1);
    const struct report_cmp_row *er = row(&c, "errors");
    CHECK(er && isinf(er->delta_pct) && er->delta_pct > 0);
    const struct report_cmp_row *cn = row(&c, "connect.p50");
    CHECK(cn && cn->has_base && !cn->has_new);
    /* the terminal table */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    report_compare_print(out, &c);
    fclose(out);
    CHECK(strstr(text, "rtt.p99") != NULL && strstr(text, "+100.0%") != NULL);
    CHECK(strstr(text, "REGRESSION") == NULL);
    free(text);
    report_compare_free(&c);

    /* the bare limit: every histogram's p50..p99.9 and the rates; connect is gone from NEW */
    CHECK_EQ_I64(report_regression_parse("50%", lim, &nl, 8, why, sizeof why), 0);
    CHECK_EQ_I64(report_compare_build(&b, &n, "b", "n", lim, nl, &c, why, sizeof why), 0);
    CHECK(row(&c, "rtt.p99")->regressed);
    CHECK(row(&c, "rtt.p99.9")->regressed);
    CHECK(!row(&c, "rtt.p50")->regressed);
    CHECK(!row(&c, "rtt.max")->regressed && isnan(row(&c, "rtt.max")->limit)); /* not judged */
    CHECK(!row(&c, "messages.received/s")->regressed); /* -10 % within 50 % */
    CHECK(row(&c, "connect.p50")->regressed); /* gone */
    CHECK(!row(&c, "errors")->regressed && isnan(row(&c, "errors")->limit));
    size_t want = 0;
    for (size_t i = 0; i < c.n; i++)
        want += c.rows[i].regressed != 0;
    CHECK_EQ_U64(c.nregressed, want);
    report_compare_free(&c);

    /* chosen figures; the most specific limit wins whatever the order */
    nl = 0;
    CHECK_EQ_I64(report_regression_parse("rtt.p99=150%,rtt=0%,messages.received/s=5%,errors=0%",
                                         lim, &nl, 8, why, sizeof why),
                 0);
    CHECK_EQ_I64(report_compare_build(&b, &n, "b", "n", lim, nl, &c, why, sizeof why), 0);
    CHECK(!row(&c, "rtt.p99")->regressed && row(&c, "rtt.p99")->limit == 150);
    CHECK(!row(&c, "rtt.p50")->regressed && row(&c, "rtt.p50")->limit == 0);
    CHECK(row(&c, "rtt.p99.9")->regressed);
    CHECK(row(&c, "messages.received/s")->regressed);
    CHECK(row(&c, "errors")->regressed);
    CHECK(isnan(row(&c, "connect.p50")->limit)); /* not chosen */
    report_compare_free(&c);

    /* a name neither report has */
    nl = 0;
    CHECK_EQ_I64(report_regression_parse("latency=5%", lim, &nl, 8, why, sizeof why), 0);
    CHECK(report_compare_build(&b, &n, "b", "n", lim, nl, &c, why, sizeof why) == HERD_E_INVAL);
    CHECK(strstr(why, "\"latency\"") != NULL);
    nl = 0;
    CHECK_EQ_I64(report_regression_parse("rtt.p42=5%", lim, &nl, 8, why, sizeof why), 0);
    CHECK(report_compare_build(&b, &n, "b", "n", lim, nl, &c, why, sizeof why) == HERD_E_INVAL);

    /* against itself: never a regression, even at 0 % */
    nl = 0;
    CHECK_EQ_I64(report_regression_parse("0%,errors=0%,rtt.max=0%", lim, &nl, 8, why, sizeof why),
                 0);
    CHECK_EQ_I64(report_compare_build(&n, &n, "n", "n", lim, nl, &c, why, sizeof why), 0);
    CHECK_EQ_U64(c.nregressed, 0);
    report_compare_free(&c);

    /* scenario groups by name, each figure as GROUP:FIGURE; a group only NEW has is not judged */
    b.groups[0] = (struct report_group){"a", "ws://h/", "echo", &bs, NULL, 0};
    b.ngroups = 1;
    n.groups[0] = (struct report_group){"b", "ws://h/", "echo", &bs, NULL, 0};
    n.groups[1] = (struct report_group){"a", "ws://h/", "echo", &ns, NULL, 0};
    n.ngroups = 2;
    nl = 0;
    CHECK_EQ_I64(
        report_regression_parse("a:rtt=50%,a:connect.p50=1000%", lim, &nl, 8, why, sizeof why), 0);
    CHECK_EQ_I64(report_compare_build(&b, &n, "b", "n", lim, nl, &c, why, sizeof why), 0);
    CHECK(row(&c, "a:rtt.p99") && row(&c, "a:rtt.p99")->regressed);
    CHECK(!row(&c, "a:rtt.p50")->regressed && row(&c, "a:rtt.p50")->limit == 50);
    CHECK(row(&c, "a:connect.p50")->regressed); /* gone from NEW's group a */
    CHECK(isnan(row(&c, "rtt.p99")->limit)); /* the run's own figures: not chosen */
    CHECK(row(&c, "b:rtt.p50") && !row(&c, "b:rtt.p50")->has_base);
    CHECK_EQ_U64(c.nregressed, 3); /* a:rtt.p99, a:rtt.p99.9, a:connect.p50 */
    /* the groups come after the run's figures, BASE's groups first */
    CHECK(row(&c, "a:rtt.p50") < row(&c, "b:rtt.p50"));
    CHECK(row(&c, "rtt.mean") < row(&c, "a:duration_s") || !row(&c, "a:duration_s"));
    out = open_memstream(&text, &len);
    report_compare_print(out, &c);
    fclose(out);
    CHECK(strstr(text, "\ngroup a\n") != NULL && strstr(text, "\ngroup b\n") != NULL);
    free(text);
    report_compare_free(&c);
    nl = 0;
    CHECK_EQ_I64(report_regression_parse("zz:rtt=5%", lim, &nl, 8, why, sizeof why), 0);
    CHECK(report_compare_build(&b, &n, "b", "n", lim, nl, &c, why, sizeof why) == HERD_E_INVAL);
    stats_free(&bs);
    stats_free(&ns);
}

static void test_env(void)
{
    char *argv[] = {"herd", "run", "ws://h/x", "-H", "X-A: b c", "--msg", "it's", NULL};
    report_env_command_line_set(7, argv);
    struct report_env e;
    report_env_fill(&e);
    CHECK_EQ_STR(e.command_line, "herd run ws://h/x -H 'X-A: b c' --msg 'it'\\''s'");
    CHECK(e.host[0] != '\0');
    CHECK(strncmp(e.kernel, "Linux ", 6) == 0);
    CHECK(e.cpus >= 1);
    CHECK(e.nofile > 0);
    /* a command line longer than the field is cut, never overrun */
    static char longarg[5000];
    memset(longarg, 'a', sizeof longarg - 1);
    char *argv2[] = {"herd", "run", longarg, NULL};
    report_env_command_line_set(3, argv2);
    report_env_fill(&e);
    CHECK(strlen(e.command_line) < sizeof e.command_line);
    CHECK(strncmp(e.command_line, "herd run aaa", 12) == 0);
}

/* The environment goes into the JSON report and comes back, and a merge keeps the first's. */
static void test_env_json(void)
{
    struct fixture *f = calloc(1, sizeof *f);
    fixture_init(f);
    char dir[] = "/tmp/herd-test-html-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof path, "%s/r.json", dir);
    char err[600];
    CHECK_EQ_I64(report_json_write(&f->r, path, err, sizeof err), 0);
    struct report_read a, b;
    CHECK_EQ_I64(report_json_read(path, &a, err, sizeof err), 0);
    CHECK_EQ_STR(a.env.command_line, "herd run '<x>'");
    CHECK_EQ_STR(a.env.host, "box");
    CHECK_EQ_STR(a.env.kernel, "Linux 6 x86_64");
    CHECK_EQ_U64(a.env.cpus, 2);
    CHECK_EQ_U64(a.env.nofile, 1024);
    struct report view;
    report_read_view(&a, &view);
    CHECK_EQ_STR(view.env.host, "box");
    /* a report of before: no environment */
    memset(&f->r.env, 0, sizeof f->r.env);
    CHECK_EQ_I64(report_json_write(&f->r, path, err, sizeof err), 0);
    CHECK_EQ_I64(report_json_read(path, &b, err, sizeof err), 0);
    CHECK_EQ_STR(b.env.host, "");
    report_read_merge(&b, &a);
    CHECK_EQ_STR(b.env.host, "box"); /* the first that has one */
    report_read_free(&a);
    report_read_free(&b);
    /* no descriptor limit: null, and back */
    snprintf(f->r.env.host, sizeof f->r.env.host, "box");
    f->r.env.nofile = UINT64_MAX;
    CHECK_EQ_I64(report_json_write(&f->r, path, err, sizeof err), 0);
    CHECK_EQ_I64(report_json_read(path, &a, err, sizeof err), 0);
    CHECK(a.env.nofile == UINT64_MAX);
    report_read_free(&a);
    const char *bad = "{\"report_version\":1,\"counters\":{},\"environment\":{\"cpus\":\"2\"}}";
    CHECK(report_json_parse(bad, strlen(bad), "x.json", &a, err, sizeof err) < 0);
    CHECK(strstr(err, "environment.cpus") != NULL);
    report_read_free(&a);
    unlink(path);
    rmdir(dir);
    fixture_free(f);
    free(f);
}

int main(void)
{
    test_sbuf();
    test_percentile_grid();
    test_chart();
    test_render();
    test_regression_parse();
    test_compare();
    test_env();
    test_env_json();
    return tap_done();
}

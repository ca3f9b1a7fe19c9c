/* test_scenario_report.c - the report side of scenarios: groups written and read back exactly,
 * merged by name, group thresholds, the tls/fanout/limit blocks and report_limit_check. */
#include "report/report.h"
#include "tap.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char err[512];

static struct threshold parsed(const char *expr)
{
    struct threshold t;
    char why[256];
    if (threshold_parse(expr, &t, why, sizeof why) != 0)
        printf("# threshold_parse(%s): %s\n", expr, why);
    return t;
}

static void fill(struct stats *s, uint64_t opened, int64_t rtt_us, uint64_t n)
{
    stats_init(s);
    s->ctr[CTR_CONNECTIONS_ATTEMPTED] = opened;
    s->ctr[CTR_CONNECTIONS_OPENED] = opened;
    s->ctr[CTR_MESSAGES_SENT] = n;
    s->ctr[CTR_MESSAGES_RECEIVED] = n;
    s->open = (int64_t)opened;
    s->peak = (int64_t)opened;
    for (uint64_t i = 0; i < n; i++)
        hist_record(s->hist[M_RTT], rtt_us + (int64_t)i);
}

static json_t *load(const char *path)
{
    json_error_t je;
    return json_load_file(path, 0, &je);
}

static void test_limit_check(void)
{
    struct stats s;
    stats_init(&s);
    struct report_limit l;
    s.peak = 100;
    CHECK_EQ_I64(report_limit_check(&s, 200, &l), 0); /* no local-limit errors */
    s.err[ERR_PORTS] = 7;
    s.err[ERR_MEMORY] = 9;
    CHECK_EQ_I64(report_limit_check(&s, 200, &l), 1);
    CHECK_EQ_U64(l.asked, 200);
    CHECK_EQ_U64(l.reached, 100);
    CHECK_EQ_STR(l.cause, "memory");
    CHECK_EQ_U64(l.errors, 9);
    CHECK_EQ_I64(report_limit_check(&s, 100, &l), 0); /* reached what was asked */
    CHECK_EQ_U64(l.asked, 0);
    stats_free(&s);
}

static void test_groups_round_trip(void)
{
    struct stats total, a, b;
    fill(&a, 6, 100, 50);
    fill(&b, 4, 1000, 20);
    stats_init(&total);
    stats_merge(&total, &a);
    stats_merge(&total, &b);
    /* tls and fan-out on group b */
    hist_record_n(b.hist[M_TLS], 2000, 4);
    b.ctr[CTR_TLS_RESUMED] = 3;
    b.ctr[CTR_FANOUT_MESSAGES] = 10;
    b.ctr[CTR_FANOUT_EXPECTED] = 1000;
    b.ctr[CTR_FANOUT_DELIVERED] = 999;
    b.err[ERR_DESCRIPTORS] = 5;
    stats_merge(&total, &b); /* b's extras only (its counters again: fine for this test) */

    static const struct report_kv cfg_a[] = {{"connections", "6", 1}, {"role", "ping", 0}};
    struct report *r = calloc(1, sizeof *r);
    r->tool_version = "test";
    r->complete = 1;
    r->duration_s = 2.0;
    r->shards = 1;
    r->total = &total;
    r->ngroups = 2;
    r->groups[0] = (struct report_group){"pingers", "ws://h/echo", "ping", &a, cfg_a, 2};
    r->groups[1] = (struct report_group){"echoers", "ws://h/echo", "echo", &b, NULL, 0};
    CHECK_EQ_I64(report_limit_check(&total, 50, &r->limit), 1);
    struct threshold t_total = parsed("errors<100");
    struct threshold t_group[2] = {parsed("rtt.p99<1ms"), parsed("rtt.count==20")};
    CHECK_EQ_I64(report_thresholds_eval(r, &t_total, 1), 0);
    /* rtt of echoers is 1000..1019 us: p99 above 1 ms fails; the count holds */
    CHECK_EQ_I64(report_group_thresholds_eval(r, 1, t_group, 2), 1);
    CHECK_EQ_U64(r->nthresholds, 3);
    CHECK_EQ_STR(r->thresholds[1].group, "echoers");
    CHECK(r->thresholds[0].group == NULL);

    char path[] = "/tmp/herd-scn-report-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK_EQ_I64(report_json_write(r, path, err, sizeof err), 0);
    json_t *root = load(path);
    CHECK(root != NULL);
    json_t *groups = json_object_get(root, "groups");
    CHECK(json_is_object(groups) && json_object_size(groups) == 2);
    json_t *gb = json_object_get(groups, "echoers");
    CHECK_EQ_I64(
        json_integer_value(json_object_get(json_object_get(gb, "counters"), "connections.opened")),
        4);
    CHECK_EQ_STR(json_string_value(json_object_get(gb, "role")), "echo");
    json_t *tls = json_object_get(gb, "tls");
    CHECK_EQ_I64(json_integer_value(json_object_get(tls, "handshakes")), 4);
    CHECK(json_real_value(json_object_get(tls, "resumed_share")) == 0.75);
    json_t *fo = json_object_get(root, "fanout");
    CHECK(json_real_value(json_object_get(fo, "delivery_ratio")) == 0.999);
    json_t *lim = json_object_get(root, "limit");
    CHECK_EQ_STR(json_string_value(json_object_get(lim, "cause")), "descriptors");
    CHECK_EQ_I64(json_integer_value(json_object_get(lim, "asked")), 50);
    json_t *th = json_object_get(root, "thresholds");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(th, 2), "group")), "echoers");
    CHECK(json_object_get(json_array_get(th, 0), "group") == NULL);
    json_decref(root);

    /* Read back exactly; merge with itself: groups by name, doubled. */
    struct report_read x, y;
    CHECK_EQ_I64(report_json_read(path, &x, err, sizeof err), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_I64(report_json_read(path, &y, err, sizeof err), 0);
    CHECK_EQ_U64(x.ngroups, 2);
    CHECK_EQ_STR(x.groups[0].name, "pingers");
    CHECK_EQ_STR(x.groups[0].target, "ws://h/echo");
    CHECK_EQ_U64(x.groups[0].nconfig, 2);
    CHECK_EQ_U64(x.groups[0].total.ctr[CTR_MESSAGES_SENT], 50);
    CHECK_EQ_I64(x.groups[1].total.hist[M_RTT]->total_count, 20);
    CHECK_EQ_I64(hist_percentile(x.groups[1].total.hist[M_RTT], 99.0),
                 hist_percentile(b.hist[M_RTT], 99.0));
    CHECK_EQ_STR(x.threshold_group[1], "echoers");
    CHECK_EQ_STR(x.threshold_group[0], "");
    CHECK_EQ_U64(x.limit.asked, 50);
    /* a group only one side has is taken as it is */
    free(y.groups[0].name);
    y.groups[0].name = strdup("late");
    report_read_merge(&x, &y);
    report_read_merge_done(&x);
    CHECK_EQ_U64(x.ngroups, 3);
    CHECK_EQ_U64(x.groups[1].total.ctr[CTR_CONNECTIONS_OPENED], 8);
    CHECK_EQ_I64(x.groups[1].total.hist[M_RTT]->total_count, 40);
    CHECK_EQ_I64(x.groups[1].total.peak, 8); /* the sum of the peaks */
    CHECK_EQ_STR(x.groups[2].name, "late");
    CHECK_EQ_U64(x.groups[2].total.ctr[CTR_CONNECTIONS_OPENED], 6);
    /* limit: each report reached its peak of 14 of 50 asked; merged, the peak is 2 x 14 (no
     * time series) and the shortfalls add up: asked = 28 + 2 x 36 */
    CHECK_EQ_U64(x.limit.reached, 28);
    CHECK_EQ_U64(x.limit.asked, 100);
    struct report *view = calloc(1, sizeof *view);
    report_read_view(&x, view);
    CHECK_EQ_U64(view->ngroups, 3);
    CHECK_EQ_I64(report_group_thresholds_eval(view, 1, &t_group[1], 1), 1); /* 40 != 20 */
    free(view);
    report_read_free(&x);
    report_read_free(&y);
    unlink(path);

    /* Bad groups: one line naming the field. */
    static const char bad[] = "{\"report_version\": 1, \"counters\": {}, \"groups\": "
                              "{\"g\": {\"counters\": {\"messages.sent\": -1}}}}";
    CHECK(report_json_parse(bad, sizeof bad - 1, "b.json", &x, err, sizeof err) < 0);
    CHECK_EQ_STR(err, "b.json: groups.g.counters.messages.sent: expected a whole number >= 0");
    report_read_free(&x);
    static const char bad2[] = "{\"report_version\": 1, \"counters\": {}, \"groups\": [1]}";
    CHECK(report_json_parse(bad2, sizeof bad2 - 1, "b.json", &x, err, sizeof err) < 0);
    CHECK_EQ_STR(err, "b.json: groups: expected an object of name: group");
    report_read_free(&x);

    free(r);
    stats_free(&total);
    stats_free(&a);
    stats_free(&b);
}

int main(void)
{
    test_limit_check();
    test_groups_round_trip();
    return tap_done();
}

/* test_report_derived.c - what a report's figures mean beyond their values (derived.c): the
 * warnings of a run that measured nothing (each role's main figure, every connection ended in an
 * error, no connection opened), of clocks that disagree, publisher id collisions and attempts
 * still connecting; the fan-out ratios; recovery after drops. */
#include "report/report.h"
#include "report/report_internal.h"
#include "tap.h"

#include <string.h>

/* A report of stats s for role (config "role", plus "rate" when rate is given). */
static void report_of(struct report *r, struct stats *s, const char *role, const char *rate)
{
    memset(r, 0, sizeof *r);
    r->total = s;
    r->complete = 1;
    size_t n = 0;
    r->config[n++] = (struct report_kv){"role", role, 0};
    r->config[n++] = (struct report_kv){"pipeline", "1", 1};
    if (rate)
        r->config[n++] = (struct report_kv){"rate", rate, 1};
    r->nconfig = n;
}

/* The warnings of r that contain every one of the words (NULL-terminated). */
static int has(const struct report *r, const char *a, const char *b)
{
    for (size_t i = 0; i < r->nwarnings; i++) {
        if (strstr(r->warnings[i], a) && (!b || strstr(r->warnings[i], b)))
            return 1;
    }
    return 0;
}

static void opened(struct stats *s, uint64_t n)
{
    s->ctr[CTR_CONNECTIONS_ATTEMPTED] = n;
    s->ctr[CTR_CONNECTIONS_OPENED] = n;
    s->open = (int64_t)n;
}

static void test_roles(void)
{
    struct stats s;
    struct report r;
    stats_init(&s);

    /* ping: PINGs sent, no PONG */
    opened(&s, 3);
    s.ctr[CTR_PINGS_SENT] = 3;
    report_of(&r, &s, "ping", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 1);
    CHECK(has(&r, "ping: rtt: no sample", "3 PINGs"));
    CHECK_EQ_U64(r.nwarnings, 1);
    hist_record(s.hist[M_RTT], 100);
    report_of(&r, &s, "ping", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 0);
    CHECK_EQ_U64(r.nwarnings, 0);

    /* echo: messages came back without the stamp */
    stats_reset(&s);
    opened(&s, 2);
    s.ctr[CTR_MESSAGES_SENT] = 2;
    s.ctr[CTR_MESSAGES_RECEIVED] = 2;
    report_of(&r, &s, "echo", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 1);
    CHECK(has(&r, "echo: rtt: no sample", "stamp"));
    s.ctr[CTR_MESSAGES_RECEIVED] = 0;
    report_of(&r, &s, "echo", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 1);
    CHECK(has(&r, "echo: rtt", "none of the 2 messages sent came back"));

    /* subscribe: nothing arrived; then unstamped messages; then stamped ones */
    stats_reset(&s);
    opened(&s, 2);
    report_of(&r, &s, "subscribe", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 1);
    CHECK(has(&r, "subscribe: latency: no sample", "no message arrived"));
    s.ctr[CTR_MESSAGES_RECEIVED] = 9;
    report_of(&r, &s, "subscribe", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 1);
    CHECK(has(&r, "subscribe: latency", "9 messages arrived, none with a herd stamp"));
    hist_record(s.hist[M_LATENCY], 5000);
    report_of(&r, &s, "subscribe", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 0);

    /* publish: the first message of each connection only, without --rate; with --rate the
     * same count is what the rate asked for */
    stats_reset(&s);
    opened(&s, 5);
    s.ctr[CTR_MESSAGES_SENT] = 5;
    report_of(&r, &s, "publish", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 1);
    CHECK(has(&r, "publish: messages.sent: only 5", "--rate"));
    report_of(&r, &s, "publish", "2");
    CHECK_EQ_I64(report_warnings_derive(&r), 0);
    s.ctr[CTR_MESSAGES_SENT] = 0;
    report_of(&r, &s, "publish", "2");
    CHECK_EQ_I64(report_warnings_derive(&r), 1);
    CHECK(has(&r, "publish: messages.sent: 0", NULL));

    /* idle holds connections: that is its measure */
    stats_reset(&s);
    opened(&s, 4);
    report_of(&r, &s, "idle", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 0);
    CHECK_EQ_U64(r.nwarnings, 0);
    stats_free(&s);
}

static void test_connections(void)
{
    struct stats s;
    struct report r;
    stats_init(&s);

    /* every connection that opened was closed by the server with 4001 */
    opened(&s, 4);
    s.open = 0;
    s.ctr[CTR_CONNECTIONS_CLOSED] = 4;
    for (int i = 0; i < 4; i++)
        stats_close_code(&s, 4001);
    hist_record(s.hist[M_RTT], 100); /* it measured for a while: still, every one ended */
    report_of(&r, &s, "ping", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 1);
    CHECK(has(&r, "every connection ended in an error", "closed_by_server 4 (4001: 4)"));

    /* a --stages ramp-down closed them (herd's own closes, no errors): not an error */
    stats_reset(&s);
    opened(&s, 4);
    s.open = 0;
    s.ctr[CTR_CONNECTIONS_CLOSED] = 4;
    hist_record(s.hist[M_RTT], 100);
    report_of(&r, &s, "ping", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 0);

    /* some still open: not every connection ended */
    stats_reset(&s);
    opened(&s, 4);
    s.open = 1;
    s.ctr[CTR_CONNECTIONS_CLOSED] = 3;
    stats_error(&s, ERR_EOF);
    stats_error(&s, ERR_EOF);
    stats_error(&s, ERR_EOF);
    hist_record(s.hist[M_RTT], 100);
    report_of(&r, &s, "ping", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 0);

    /* no connection opened */
    stats_reset(&s);
    s.open = 0;
    s.ctr[CTR_CONNECTIONS_ATTEMPTED] = 3;
    s.ctr[CTR_CONNECTIONS_FAILED] = 3;
    s.err[ERR_REFUSED] = 3;
    report_of(&r, &s, "ping", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 1);
    CHECK(has(&r, "no connection opened", "refused 3"));

    /* attempts still connecting at the end, stamps ahead, collisions: warnings, not empty */
    stats_reset(&s);
    opened(&s, 2);
    hist_record(s.hist[M_LATENCY], 100);
    s.connecting = 3;
    s.ctr[CTR_LATENCY_AHEAD] = 7;
    s.ahead_max_us = 2500000;
    s.ctr[CTR_STAMPS_COLLISIONS] = 11;
    report_of(&r, &s, "subscribe", NULL);
    CHECK_EQ_I64(report_warnings_derive(&r), 0);
    CHECK_EQ_U64(r.nwarnings, 3);
    CHECK(has(&r, "connections.connecting: 3 attempts", NULL));
    CHECK(has(&r, "latency.ahead: 7 stamps", "up to 2.50s"));
    CHECK(has(&r, "stamps.collisions: 11 messages", NULL));
    /* derived twice: each once */
    CHECK_EQ_I64(report_warnings_derive(&r), 0);
    CHECK_EQ_U64(r.nwarnings, 3);
    stats_free(&s);
}

static void test_groups(void)
{
    struct stats total, a, b;
    stats_init(&total);
    stats_init(&a);
    stats_init(&b);
    opened(&a, 2);
    hist_record(a.hist[M_RTT], 100);
    opened(&b, 2); /* subscribers that got nothing */
    opened(&total, 4);
    static const struct report_kv cfg[] = {{"pipeline", "1", 1}};
    struct report r = {0};
    r.total = &total;
    r.groups[0] = (struct report_group){"pingers", "ws://h/echo", "ping", &a, cfg, 1};
    r.groups[1] = (struct report_group){"listeners", "ws://h/t", "subscribe", &b, cfg, 1};
    r.ngroups = 2;
    CHECK_EQ_I64(report_warnings_derive(&r), 1);
    CHECK_EQ_U64(r.nwarnings, 1);
    CHECK(has(&r, "group listeners: subscribe: latency", NULL));
    stats_free(&total);
    stats_free(&a);
    stats_free(&b);
}

static void test_figures(void)
{
    struct stats s;
    stats_init(&s);
    struct report_fanout_fig f;
    CHECK_EQ_I64(report__fanout(&s, &f), 0);
    s.ctr[CTR_FANOUT_MESSAGES] = 10;
    s.ctr[CTR_FANOUT_DELIVERED] = 60;
    s.ctr[CTR_FANOUT_EXPECTED] = 100;
    s.ctr[CTR_MESSAGES_UNSEEN] = 20;
    CHECK_EQ_I64(report__fanout(&s, &f), 1);
    CHECK(f.delivery_ratio == 0.75); /* 60 of the 80 whose fate was seen */
    CHECK(f.received_of_published == 0.6);
    /* an old report: no unseen, the ratio as it always was */
    s.ctr[CTR_MESSAGES_UNSEEN] = 0;
    report__fanout(&s, &f);
    CHECK(f.delivery_ratio == 0.6 && f.received_of_published == 0.6);

    /* recovery: 6 drops (errors less failed attempts), 4 back */
    stats_reset(&s);
    s.ctr[CTR_CONNECTIONS_FAILED] = 2;
    s.err[ERR_REFUSED] = 2;
    s.err[ERR_RESET] = 6;
    for (int i = 1; i <= 4; i++)
        hist_record(s.hist[M_RECONNECT], 1000 * i);
    struct ts_row rows[2] = {{.t = 1, .attempted = 3}, {.t = 2, .attempted = 9}};
    struct report r = {0};
    r.total = &s;
    r.rows = rows;
    r.nrows = 2;
    struct report_recovery_fig rf;
    CHECK_EQ_I64(report__recovery(&r, &rf), 1);
    CHECK_EQ_U64(rf.dropped, 6);
    CHECK_EQ_U64(rf.back, 4);
    CHECK_EQ_I64(rf.back_100_us, hist_max(s.hist[M_RECONNECT]));
    CHECK(rf.busiest && rf.busiest_t == 2 && rf.busiest_attempted == 9);
    /* drops without --reconnect and none back: no recovery to speak of */
    hist_reset(s.hist[M_RECONNECT]);
    CHECK_EQ_I64(report__recovery(&r, &rf), 0);
    r.config[0] = (struct report_kv){"reconnect", "true", 1};
    r.nconfig = 1;
    CHECK_EQ_I64(report__recovery(&r, &rf), 1);
    CHECK_EQ_U64(rf.dropped, 6);
    CHECK_EQ_U64(rf.back, 0);

    char text[128];
    report__errors_text(&s, text, sizeof text);
    CHECK_EQ_STR(text, "refused 2, reset 6");
    stats_reset(&s);
    report__errors_text(&s, text, sizeof text);
    CHECK_EQ_STR(text, "none");
    stats_free(&s);
}

int main(void)
{
    test_roles();
    test_connections();
    test_groups();
    test_figures();
    return tap_done();
}

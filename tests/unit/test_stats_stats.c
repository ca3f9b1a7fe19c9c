/* test_stats_stats.c - names, per-thread stats blocks, error helpers, reset and merge. */
#include <stdlib.h>
#include <string.h>

#include "stats/stats.h"
#include "tap.h"

static void test_names(void)
{
    static const char *const metrics[] = {"connect",       "tls", "handshake", "ready",
                                          "first_message", "rtt", "latency",   "fanout",
                                          "reconnect",     "post"};
    static const char *const counters[] = {"connections.attempted",
                                           "connections.opened",
                                           "connections.failed",
                                           "connections.closed",
                                           "connections.reconnects",
                                           "connections.pending",
                                           "messages.sent",
                                           "messages.received",
                                           "messages.lost",
                                           "messages.duplicated",
                                           "messages.reordered",
                                           "messages.unseen",
                                           "stamps.collisions",
                                           "latency.ahead",
                                           "deflate.sent.payload",
                                           "deflate.sent.compressed",
                                           "deflate.received.compressed",
                                           "deflate.received.payload",
                                           "bytes.sent",
                                           "bytes.received",
                                           "pings.sent",
                                           "pings.received",
                                           "tls.resumed",
                                           "tls.errors.verification",
                                           "tls.errors.alert",
                                           "tls.errors.protocol",
                                           "fanout.messages",
                                           "fanout.expected",
                                           "fanout.delivered",
                                           "flow.completed",
                                           "flow.unmatched",
                                           "flow.on_matched",
                                           "requests.sent",
                                           "requests.answered"};
    static const char *const errors[] = {
        "refused",      "timeout",      "dns",         "tls",    "http_status",
        "handshake",    "protocol",     "reset",       "eof",    "closed_by_server",
        "idle_timeout", "ports",        "descriptors", "memory", "other",
        "expect",       "reply_timeout"};
    CHECK_EQ_I64(sizeof metrics / sizeof metrics[0], M_COUNT);
    CHECK_EQ_I64(sizeof counters / sizeof counters[0], CTR_COUNT);
    CHECK_EQ_I64(sizeof errors / sizeof errors[0], ERR_COUNT);
    for (int i = 0; i < M_COUNT; i++)
        CHECK_EQ_STR(metric_name[i], metrics[i]);
    for (int i = 0; i < CTR_COUNT; i++)
        CHECK_EQ_STR(counter_name[i], counters[i]);
    for (int i = 0; i < ERR_COUNT; i++)
        CHECK_EQ_STR(err_class_name[i], errors[i]);
    CHECK_EQ_STR(counter_name[CTR_CONNECTIONS_OPENED], "connections.opened");
    CHECK_EQ_STR(metric_name[M_FIRST_MESSAGE], "first_message");
    CHECK_EQ_STR(err_class_name[ERR_CLOSED_BY_SERVER], "closed_by_server");
}

static int hist_same(const struct hist *a, const struct hist *b)
{
    return a->counts_len == b->counts_len && a->total_count == b->total_count &&
           a->min_value == b->min_value && a->max_value == b->max_value &&
           a->clamped == b->clamped &&
           memcmp(a->counts, b->counts, (size_t)a->counts_len * sizeof a->counts[0]) == 0;
}

static void test_init_errors(void)
{
    /* A block as a worker would hold it: garbage first, init must zero it all. */
    struct stats *s = malloc(sizeof *s);
    memset(s, 0xa5, sizeof *s);
    stats_init(s);
    int nonzero = 0;
    for (int i = 0; i < CTR_COUNT; i++)
        CHECK_QUIET(s->ctr[i] == 0, nonzero);
    for (int i = 0; i < ERR_COUNT; i++)
        CHECK_QUIET(s->err[i] == 0, nonzero);
    for (int i = 0; i < STATS_HTTP_CODES; i++)
        CHECK_QUIET(s->http_status[i] == 0, nonzero);
    for (int i = 0; i < STATS_CLOSE_CODES; i++)
        CHECK_QUIET(s->close_code[i] == 0, nonzero);
    CHECK_EQ_I64(nonzero, 0);
    CHECK_EQ_I64(s->open, 0);
    CHECK_EQ_I64(s->peak, 0);
    for (int m = 0; m < M_COUNT; m++) {
        CHECK(s->hist[m] != NULL && s->hist[m]->total_count == 0);
        CHECK(s->hist[m] && s->hist[m]->lowest == HIST_LOWEST &&
              s->hist[m]->highest == HIST_HIGHEST && s->hist[m]->sigfigs == HIST_SIGFIGS);
    }
    CHECK(s->hist[0] != s->hist[1]);

    CHECK_EQ_U64(stats_errors_total(s), 0);
    stats_error(s, ERR_REFUSED);
    stats_error(s, ERR_REFUSED);
    stats_error(s, ERR_TIMEOUT);
    stats_http_status(s, 503);
    stats_http_status(s, 503);
    stats_http_status(s, 404);
    stats_http_status(s, 599);
    stats_http_status(s, 600); /* outside the table: the class still counts */
    stats_http_status(s, -1);
    stats_http_status(s, 0);
    stats_close_code(s, 1001);
    stats_close_code(s, 4999);
    stats_close_code(s, 5000);
    stats_close_code(s, 65535);
    stats_close_code(s, 0);
    CHECK_EQ_U64(s->err[ERR_REFUSED], 2);
    CHECK_EQ_U64(s->err[ERR_TIMEOUT], 1);
    CHECK_EQ_U64(s->err[ERR_HTTP_STATUS], 7);
    CHECK_EQ_U64(s->http_status[503], 2);
    CHECK_EQ_U64(s->http_status[404], 1);
    CHECK_EQ_U64(s->http_status[599], 1);
    CHECK_EQ_U64(s->http_status[0], 1);
    CHECK_EQ_U64(s->err[ERR_CLOSED_BY_SERVER], 5);
    CHECK_EQ_U64(s->close_code[1001], 1);
    CHECK_EQ_U64(s->close_code[4999], 1);
    CHECK_EQ_U64(s->close_code[0], 1);
    CHECK_EQ_U64(stats_errors_total(s), 2 + 1 + 7 + 5);

    /* Reset zeroes everything but the gauges. */
    s->ctr[CTR_MESSAGES_SENT] = 10;
    s->open = 7;
    s->peak = 9;
    hist_record(s->hist[M_RTT], 123);
    stats_reset(s);
    CHECK_EQ_U64(s->ctr[CTR_MESSAGES_SENT], 0);
    CHECK_EQ_U64(stats_errors_total(s), 0);
    CHECK_EQ_U64(s->http_status[503], 0);
    CHECK_EQ_U64(s->close_code[1001], 0);
    CHECK_EQ_I64(s->hist[M_RTT]->total_count, 0);
    CHECK_EQ_I64(s->hist[M_RTT]->counts[123], 0);
    CHECK_EQ_I64(s->open, 7);
    CHECK_EQ_I64(s->peak, 9);

    stats_free(s);
    for (int m = 0; m < M_COUNT; m++)
        CHECK(s->hist[m] == NULL);
    stats_free(s); /* twice is harmless */
    free(s);
}

static void test_merge(void)
{
    struct stats a, b, both;
    stats_init(&a);
    stats_init(&b);
    stats_init(&both);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        struct stats *one = (x & 1) ? &a : &b;
        int m = (int)((x >> 8) % M_COUNT);
        int c = (int)((x >> 16) % CTR_COUNT);
        int64_t v = (int64_t)((x >> 24) % 10000000);
        hist_record(one->hist[m], v);
        hist_record(both.hist[m], v);
        one->ctr[c] += i;
        both.ctr[c] += i;
        if (i % 97 == 0) {
            stats_http_status(one, 500 + i % 4);
            stats_http_status(&both, 500 + i % 4);
            stats_close_code(one, 1000 + i % 15);
            stats_close_code(&both, 1000 + i % 15);
            stats_error(one, ERR_RESET);
            stats_error(&both, ERR_RESET);
        }
    }
    a.open = 3, a.peak = 5;
    b.open = 4, b.peak = 6;
    stats_merge(&a, &b);
    CHECK_EQ_MEM(a.ctr, both.ctr, sizeof a.ctr);
    CHECK_EQ_MEM(a.err, both.err, sizeof a.err);
    CHECK_EQ_MEM(a.http_status, both.http_status, sizeof a.http_status);
    CHECK_EQ_MEM(a.close_code, both.close_code, sizeof a.close_code);
    CHECK_EQ_I64(a.open, 7);
    CHECK_EQ_I64(a.peak, 11);
    int same = 0;
    for (int m = 0; m < M_COUNT; m++)
        same += hist_same(a.hist[m], both.hist[m]);
    CHECK_EQ_I64(same, M_COUNT);
    /* The source is untouched. */
    CHECK_EQ_I64(b.open, 4);
    /* Merging an empty block changes nothing. */
    struct stats empty;
    stats_init(&empty);
    stats_merge(&a, &empty);
    CHECK_EQ_MEM(a.ctr, both.ctr, sizeof a.ctr);
    same = 0;
    for (int m = 0; m < M_COUNT; m++)
        same += hist_same(a.hist[m], both.hist[m]);
    CHECK_EQ_I64(same, M_COUNT);
    stats_free(&a);
    stats_free(&b);
    stats_free(&both);
    stats_free(&empty);
}

/* Step histograms merge by name; a total gets the names as they come. */
static void test_steps(void)
{
    struct stats a, b, t;
    stats_init(&a);
    stats_init(&b);
    stats_init(&t);
    CHECK_EQ_I64(stats_step_add(&a, "x"), 0);
    CHECK_EQ_I64(stats_step_add(&a, "y"), 1);
    CHECK_EQ_I64(stats_step_add(&a, "x"), 0);
    CHECK_EQ_I64(stats_step_add(&b, "y"), 0);
    char long_name[STATS_STEP_NAME + 1];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK_EQ_I64(stats_step_add(&b, long_name), -1);
    CHECK_EQ_I64(stats_step_add(&b, ""), -1);
    hist_record(a.step[0], 10);
    hist_record(a.step[1], 20);
    hist_record(b.step[0], 30);
    stats_merge(&t, &a);
    stats_merge(&t, &b);
    CHECK_EQ_U64(t.nsteps, 2);
    CHECK_EQ_I64(stats_step_find(&t, "x")->total_count, 1);
    CHECK_EQ_I64(stats_step_find(&t, "y")->total_count, 2);
    CHECK(stats_step_find(&t, "z") == NULL);
    stats_reset(&t);
    CHECK_EQ_I64(stats_step_find(&t, "y")->total_count, 0);
    for (int i = 0; i < STATS_MAX_STEPS; i++) {
        char n[16];
        snprintf(n, sizeof n, "s%d", i);
        stats_step_add(&b, n);
    }
    CHECK_EQ_U64(b.nsteps, STATS_MAX_STEPS);
    CHECK_EQ_I64(stats_step_add(&b, "more"), -1);
    stats_free(&a);
    stats_free(&b);
    stats_free(&t);
}

int main(void)
{
    test_steps();
    test_names();
    test_init_errors();
    test_merge();
    return tap_done();
}

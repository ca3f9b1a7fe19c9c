/* derived.c - what a report's figures mean beyond their values: the fan-out ratios, recovery
 * after drops, and the warnings a person would otherwise miss (a run that measured nothing,
 * clocks that disagree, publisher ids that collide, attempts still connecting at the end).
 *
 * Everything here is computed from figures that merge exactly (counters, gauges, histograms,
 * time-series rows), so a report written by `herd run`, by `--procs` or by `herd merge` says the
 * same of the same figures. */
#include "report/report_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int report__fanout(const struct stats *s, struct report_fanout_fig *f)
{
    memset(f, 0, sizeof *f);
    if (!s || s->ctr[CTR_FANOUT_MESSAGES] == 0)
        return 0;
    f->messages = s->ctr[CTR_FANOUT_MESSAGES];
    f->expected = s->ctr[CTR_FANOUT_EXPECTED];
    f->delivered = s->ctr[CTR_FANOUT_DELIVERED];
    f->unseen = s->ctr[CTR_MESSAGES_UNSEEN];
    /* A report whose unseen messages were never added to expected (a hand-edited or foreign
     * one) cannot have more unseen than expected: keep the ratios within 0..1. */
    uint64_t detected = f->expected > f->unseen ? f->expected - f->unseen : 0;
    if (detected < f->delivered)
        detected = f->delivered;
    uint64_t published = f->expected > f->delivered ? f->expected : f->delivered;
    f->delivery_ratio = detected ? (double)f->delivered / (double)detected : 0.0;
    f->received_of_published = published ? (double)f->delivered / (double)published : 0.0;
    return 1;
}

uint64_t report__dropped(const struct stats *s)
{
    uint64_t errors = stats_errors_total(s);
    uint64_t failed = s->ctr[CTR_CONNECTIONS_FAILED];
    return errors > failed ? errors - failed : 0;
}

static const char *kv_get(const struct report_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; kv && i < n; i++) {
        if (kv[i].key && kv[i].value && strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    }
    return NULL;
}

/* Whether the run (or some group of it) asked for --reconnect. */
static int reconnect_asked(const struct report *r)
{
    const char *v = kv_get(r->config, r->nconfig, "reconnect");
    if (v && strcmp(v, "true") == 0)
        return 1;
    for (size_t i = 0; i < r->ngroups; i++) {
        v = kv_get(r->groups[i].config, r->groups[i].nconfig, "reconnect");
        if (v && strcmp(v, "true") == 0)
            return 1;
    }
    return 0;
}

int report__recovery(const struct report *r, struct report_recovery_fig *f)
{
    memset(f, 0, sizeof *f);
    const struct stats *s = r->total;
    if (!s)
        return 0;
    const struct hist *rh = s->hist[M_RECONNECT];
    f->dropped = report__dropped(s);
    f->back = rh ? (uint64_t)rh->total_count : 0;
    /* A connection is back only after a drop; figures that say otherwise (a drop counted while
     * herd was stopping) still must not claim more back than dropped. */
    if (f->back > f->dropped)
        f->dropped = f->back;
    if (f->back) {
        f->back_50_us = hist_percentile(rh, 50.0);
        f->back_90_us = hist_percentile(rh, 90.0);
        f->back_100_us = hist_max(rh);
    }
    for (size_t i = 0; r->rows && i < r->nrows; i++) {
        if (r->rows[i].attempted > f->busiest_attempted) {
            f->busiest = 1;
            f->busiest_attempted = r->rows[i].attempted;
            f->busiest_t = r->rows[i].t;
        }
    }
    return f->back > 0 || (f->dropped > 0 && reconnect_asked(r));
}

void report__errors_text(const struct stats *s, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
#define APPEND(...)                                                                                \
    do {                                                                                           \
        if (used < outlen) {                                                                       \
            int n_ = snprintf(out + used, outlen - used, __VA_ARGS__);                             \
            used = n_ < 0 ? outlen : used + (size_t)n_;                                            \
        }                                                                                          \
    } while (0)
    for (int c = 0; c < ERR_COUNT; c++) {
        if (!s->err[c])
            continue;
        APPEND("%s%s %" PRIu64, used ? ", " : "", err_class_name[c], s->err[c]);
        const uint64_t *by_code = c == ERR_HTTP_STATUS        ? s->http_status
                                  : c == ERR_CLOSED_BY_SERVER ? s->close_code
                                                              : NULL;
        int ncodes = c == ERR_HTTP_STATUS ? STATS_HTTP_CODES : STATS_CLOSE_CODES;
        const char *inner = " (";
        for (int k = 0; by_code && k < ncodes; k++) {
            if (!by_code[k])
                continue;
            APPEND("%s%d: %" PRIu64, inner, k, by_code[k]);
            inner = ", ";
        }
        if (inner[0] == ',')
            APPEND(")");
    }
#undef APPEND
    if (!used)
        snprintf(out, outlen, "none");
}

void report_warning_add(struct report *r, const char *fmt, ...)
{
    if (r->nwarnings == REPORT_MAX_WARNINGS)
        return;
    char *w = r->warnings[r->nwarnings];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w, REPORT_WARNING_LEN, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < r->nwarnings; i++) {
        if (strcmp(r->warnings[i], w) == 0)
            return;
    }
    r->nwarnings++;
}

/* One figure of role `role` that stayed empty: the sentence that names it into why[], or 0 when
 * the role measured what it is for. `rate` and `pipeline` are the run's (--rate, --pipeline). */
static int empty_figure(const struct stats *s, const char *role, double rate, uint64_t pipeline,
                        char *why, size_t whylen)
{
    const uint64_t *c = s->ctr;
    uint64_t opened = c[CTR_CONNECTIONS_OPENED];
    if (!role)
        return 0;
    if (strcmp(role, "ping") == 0) {
        if (s->hist[M_RTT]->total_count)
            return 0;
        if (!c[CTR_PINGS_SENT])
            snprintf(why, whylen, "rtt: no sample: no PING was sent");
        else
            snprintf(why, whylen, "rtt: no sample: none of the %" PRIu64 " PINGs got a PONG back",
                     c[CTR_PINGS_SENT]);
        return 1;
    }
    if (strcmp(role, "echo") == 0) {
        if (s->hist[M_RTT]->total_count)
            return 0;
        if (!c[CTR_MESSAGES_SENT])
            snprintf(why, whylen, "rtt: no sample: no message was sent");
        else if (!c[CTR_MESSAGES_RECEIVED])
            snprintf(why, whylen, "rtt: no sample: none of the %" PRIu64 " messages sent came back",
                     c[CTR_MESSAGES_SENT]);
        else
            snprintf(why, whylen,
                     "rtt: no sample: %" PRIu64 " messages came back but none carried herd's "
                     "stamp as it was sent (the server changed or dropped it)",
                     c[CTR_MESSAGES_RECEIVED]);
        return 1;
    }
    if (strcmp(role, "subscribe") == 0) {
        if (s->hist[M_LATENCY]->total_count)
            return 0;
        if (!c[CTR_MESSAGES_RECEIVED])
            snprintf(why, whylen,
                     "latency: no sample: no message arrived (nobody published on the topic, or "
                     "the server waits for a message first)");
        else
            snprintf(why, whylen,
                     "latency: no sample: %" PRIu64 " messages arrived, none with a herd stamp "
                     "(no latency, loss or fan-out to measure)",
                     c[CTR_MESSAGES_RECEIVED]);
        return 1;
    }
    if (strcmp(role, "publish") == 0) {
        if (!c[CTR_MESSAGES_SENT]) {
            snprintf(why, whylen, "messages.sent: 0: no message was published");
            return 1;
        }
        /* Without --rate a publisher is in the closed model: it keeps --pipeline messages in
         * flight and sends more only as replies come, which a pub/sub server does not send to
         * the publisher itself. */
        if (rate <= 0 && c[CTR_MESSAGES_SENT] <= opened * (pipeline ? pipeline : 1)) {
            snprintf(why, whylen,
                     "messages.sent: only %" PRIu64 ", the first %" PRIu64
                     " of each connection: without --rate a publisher keeps --pipeline messages "
                     "in flight and waits for replies it never gets; give --rate R",
                     c[CTR_MESSAGES_SENT], pipeline ? pipeline : 1);
            return 1;
        }
        return 0;
    }
    if (strcmp(role, "flow") == 0) {
        if (c[CTR_REQUESTS_SENT] && !c[CTR_REQUESTS_ANSWERED]) {
            snprintf(why, whylen,
                     "steps: no sample: none of the %" PRIu64 " requests got a reply with its key",
                     c[CTR_REQUESTS_SENT]);
            return 1;
        }
        if (!c[CTR_REQUESTS_SENT] && !c[CTR_FLOW_COMPLETED] && !c[CTR_MESSAGES_RECEIVED] &&
            opened) {
            snprintf(why, whylen, "flow: no connection ran its steps to the end, no message came");
            return 1;
        }
        return 0;
    }
    return 0; /* idle: holding the connections is the measure */
}

/* The warnings about one role's figures (the run's, or a group's with prefix "group NAME: ").
 * Returns 1 when they measured nothing. */
static int role_warnings(struct report *r, const char *prefix, const struct stats *s,
                         const char *role, const struct report_kv *config, size_t nconfig)
{
    const uint64_t *c = s->ctr;
    char errs[REPORT_WARNING_LEN / 2];
    report__errors_text(s, errs, sizeof errs);
    if (!c[CTR_CONNECTIONS_OPENED]) {
        if (c[CTR_CONNECTIONS_ATTEMPTED])
            report_warning_add(r, "%sno connection opened: every attempt failed: %s", prefix, errs);
        else
            report_warning_add(r, "%sno connection was attempted", prefix);
        return 1;
    }
    /* Every connection that opened had ended by the end of the run, each in an error (the
     * drops are as many as the closes): a server that closed every connection, a network that
     * dropped them. */
    uint64_t closed = c[CTR_CONNECTIONS_CLOSED];
    if (s->open == 0 && closed > 0 && report__dropped(s) >= closed) {
        report_warning_add(r, "%severy connection ended in an error: %s", prefix, errs);
        return 1;
    }
    const char *rate_text = kv_get(config, nconfig, "rate");
    const char *pipe_text = kv_get(config, nconfig, "pipeline");
    double rate = rate_text ? strtod(rate_text, NULL) : 0;
    uint64_t pipeline = pipe_text ? strtoull(pipe_text, NULL, 10) : 1;
    char why[REPORT_WARNING_LEN];
    if (empty_figure(s, role, rate, pipeline, why, sizeof why)) {
        report_warning_add(r, "%s%s: %s", prefix, role, why);
        return 1;
    }
    return 0;
}

int report_warnings_derive(struct report *r)
{
    const struct stats *s = r->total;
    if (!s)
        return 0;
    int empty = 0;
    if (r->ngroups == 0) {
        empty =
            role_warnings(r, "", s, kv_get(r->config, r->nconfig, "role"), r->config, r->nconfig);
    } else {
        for (size_t i = 0; i < r->ngroups; i++) {
            const struct report_group *g = &r->groups[i];
            if (!g->stats)
                continue;
            char prefix[REPORT_GROUP_NAME + 16];
            snprintf(prefix, sizeof prefix, "group %s: ", g->name ? g->name : "");
            empty |= role_warnings(r, prefix, g->stats, g->role, g->config, g->nconfig);
        }
    }
    const uint64_t *c = s->ctr;
    if (c[CTR_LATENCY_AHEAD]) {
        char ahead[32];
        report_fmt_us(ahead, sizeof ahead, (double)s->ahead_max_us);
        report_warning_add(r,
                           "latency.ahead: %" PRIu64 " stamps lay ahead of herd's clock, by up "
                           "to %s: the sender's clock and herd's disagree (sync the clocks); "
                           "those messages count as latency 0",
                           c[CTR_LATENCY_AHEAD], ahead);
    }
    if (c[CTR_STAMPS_COLLISIONS])
        report_warning_add(r,
                           "stamps.collisions: %" PRIu64 " messages carried a publisher id that "
                           "another publisher used too (its seq went back with a later stamp "
                           "time): they are not counted as received, lost or duplicated",
                           c[CTR_STAMPS_COLLISIONS]);
    if (s->connecting > 0)
        report_warning_add(r,
                           "connections.connecting: %" PRId64 " attempts were still connecting "
                           "when the run ended: connect, tls, handshake and ready leave them out",
                           s->connecting);
    return empty;
}

void report_warnings_print(FILE *out, const struct report *r)
{
    for (size_t i = 0; i < r->nwarnings; i++)
        fprintf(out, "herd: warning: %s\n", r->warnings[i]);
}

/* stats.c - names, per-thread stats blocks, merging.
 *
 * A struct stats is recorded into by one thread with plain increments (stats.h); everything here
 * runs off the hot path: setup, the reporter's swap-and-merge, and the report writers. */
#include <string.h>

#include "base/log.h"
#include "stats/stats.h"

/* Spelled as in DESIGN.md: these strings are the JSON, CSV and threshold names. */
const char *const metric_name[M_COUNT] = {
    [M_CONNECT] = "connect",
    [M_TLS] = "tls",
    [M_HANDSHAKE] = "handshake",
    [M_READY] = "ready",
    [M_FIRST_MESSAGE] = "first_message",
    [M_RTT] = "rtt",
    [M_LATENCY] = "latency",
    [M_FANOUT] = "fanout",
    [M_RECONNECT] = "reconnect",
    [M_POST] = "post",
};

const char *const counter_name[CTR_COUNT] = {
    [CTR_CONNECTIONS_ATTEMPTED] = "connections.attempted",
    [CTR_CONNECTIONS_OPENED] = "connections.opened",
    [CTR_CONNECTIONS_FAILED] = "connections.failed",
    [CTR_CONNECTIONS_CLOSED] = "connections.closed",
    [CTR_CONNECTIONS_RECONNECTS] = "connections.reconnects",
    [CTR_CONNECTIONS_PENDING] = "connections.pending",
    [CTR_MESSAGES_SENT] = "messages.sent",
    [CTR_MESSAGES_RECEIVED] = "messages.received",
    [CTR_MESSAGES_LOST] = "messages.lost",
    [CTR_MESSAGES_DUPLICATED] = "messages.duplicated",
    [CTR_MESSAGES_REORDERED] = "messages.reordered",
    [CTR_MESSAGES_UNSEEN] = "messages.unseen",
    [CTR_STAMPS_COLLISIONS] = "stamps.collisions",
    [CTR_LATENCY_AHEAD] = "latency.ahead",
    [CTR_DEFLATE_SENT_PAYLOAD] = "deflate.sent.payload",
    [CTR_DEFLATE_SENT_COMPRESSED] = "deflate.sent.compressed",
    [CTR_DEFLATE_RECEIVED_COMPRESSED] = "deflate.received.compressed",
    [CTR_DEFLATE_RECEIVED_PAYLOAD] = "deflate.received.payload",
    [CTR_BYTES_SENT] = "bytes.sent",
    [CTR_BYTES_RECEIVED] = "bytes.received",
    [CTR_PINGS_SENT] = "pings.sent",
    [CTR_PINGS_RECEIVED] = "pings.received",
    [CTR_TLS_RESUMED] = "tls.resumed",
    [CTR_TLS_ERR_VERIFY] = "tls.errors.verification",
    [CTR_TLS_ERR_ALERT] = "tls.errors.alert",
    [CTR_TLS_ERR_PROTOCOL] = "tls.errors.protocol",
    [CTR_FANOUT_MESSAGES] = "fanout.messages",
    [CTR_FANOUT_EXPECTED] = "fanout.expected",
    [CTR_FANOUT_DELIVERED] = "fanout.delivered",
    [CTR_FLOW_COMPLETED] = "flow.completed",
    [CTR_FLOW_UNMATCHED] = "flow.unmatched",
    [CTR_FLOW_ON_MATCHED] = "flow.on_matched",
    [CTR_REQUESTS_SENT] = "requests.sent",
    [CTR_REQUESTS_ANSWERED] = "requests.answered",
};

const char *const err_class_name[ERR_COUNT] = {
    [ERR_REFUSED] = "refused",
    [ERR_TIMEOUT] = "timeout",
    [ERR_DNS] = "dns",
    [ERR_TLS] = "tls",
    [ERR_HTTP_STATUS] = "http_status",
    [ERR_HANDSHAKE] = "handshake",
    [ERR_PROTOCOL] = "protocol",
    [ERR_RESET] = "reset",
    [ERR_EOF] = "eof",
    [ERR_CLOSED_BY_SERVER] = "closed_by_server",
    [ERR_IDLE_TIMEOUT] = "idle_timeout",
    [ERR_PORTS] = "ports",
    [ERR_DESCRIPTORS] = "descriptors",
    [ERR_MEMORY] = "memory",
    [ERR_OTHER] = "other",
    [ERR_EXPECT] = "expect",
    [ERR_REPLY_TIMEOUT] = "reply_timeout",
};

void stats_init(struct stats *s)
{
    memset(s, 0, sizeof *s);
    for (int m = 0; m < M_COUNT; m++) {
        s->hist[m] = hist_new_default();
        if (!s->hist[m])
            die("out of memory");
    }
}

void stats_free(struct stats *s)
{
    for (int m = 0; m < M_COUNT; m++) {
        hist_free(s->hist[m]);
        s->hist[m] = NULL;
    }
    for (unsigned i = 0; i < s->nsteps; i++) {
        hist_free(s->step[i]);
        s->step[i] = NULL;
    }
    s->nsteps = 0;
}

int stats_step_add(struct stats *s, const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= STATS_STEP_NAME)
        return -1;
    for (unsigned i = 0; i < s->nsteps; i++) {
        if (strcmp(s->step_name[i], name) == 0)
            return (int)i;
    }
    if (s->nsteps == STATS_MAX_STEPS)
        return -1;
    s->step[s->nsteps] = hist_new_default();
    if (!s->step[s->nsteps])
        die("out of memory");
    memcpy(s->step_name[s->nsteps], name, len + 1);
    return (int)s->nsteps++;
}

const struct hist *stats_step_find(const struct stats *s, const char *name)
{
    for (unsigned i = 0; i < s->nsteps; i++) {
        if (strcmp(s->step_name[i], name) == 0)
            return s->step[i];
    }
    return NULL;
}

void stats_reset(struct stats *s)
{
    memset(s->ctr, 0, sizeof s->ctr);
    memset(s->err, 0, sizeof s->err);
    memset(s->http_status, 0, sizeof s->http_status);
    memset(s->close_code, 0, sizeof s->close_code);
    s->ahead_max_us = 0;
    for (int m = 0; m < M_COUNT; m++)
        hist_reset(s->hist[m]);
    for (unsigned i = 0; i < s->nsteps; i++)
        hist_reset(s->step[i]);
}

void stats_merge(struct stats *dst, const struct stats *src)
{
    for (int i = 0; i < CTR_COUNT; i++)
        dst->ctr[i] += src->ctr[i];
    for (int i = 0; i < ERR_COUNT; i++)
        dst->err[i] += src->err[i];
    for (int i = 0; i < STATS_HTTP_CODES; i++)
        dst->http_status[i] += src->http_status[i];
    for (int i = 0; i < STATS_CLOSE_CODES; i++)
        dst->close_code[i] += src->close_code[i];
    dst->open += src->open;
    dst->connecting += src->connecting;
    if (src->ahead_max_us > dst->ahead_max_us)
        dst->ahead_max_us = src->ahead_max_us;
    dst->peak += src->peak;
    /* Every block's histograms come from hist_new_default(), so the layouts always match. */
    for (int m = 0; m < M_COUNT; m++) {
        int rc = hist_add(dst->hist[m], src->hist[m]);
        HERD_ASSERT(rc == 0);
    }
    /* Steps by name: the first merge into a total adds them. */
    for (unsigned i = 0; i < src->nsteps; i++) {
        int k = stats_step_add(dst, src->step_name[i]);
        if (k < 0)
            continue; /* more step names than a total holds: those are left out */
        int rc = hist_add(dst->step[k], src->step[i]);
        HERD_ASSERT(rc == 0);
    }
}

void stats_http_status(struct stats *s, int status)
{
    s->err[ERR_HTTP_STATUS]++;
    /* Codes outside 0..599 are not HTTP; they still count in the class total. */
    if (status >= 0 && status < STATS_HTTP_CODES)
        s->http_status[status]++;
}

void stats_close_code(struct stats *s, unsigned code)
{
    s->err[ERR_CLOSED_BY_SERVER]++;
    if (code < STATS_CLOSE_CODES)
        s->close_code[code]++;
}

uint64_t stats_errors_total(const struct stats *s)
{
    uint64_t total = 0;
    for (int i = 0; i < ERR_COUNT; i++)
        total += s->err[i];
    return total;
}

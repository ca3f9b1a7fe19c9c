/* prom.c - the live figures as Prometheus text exposition (format version 0.0.4), for
 * --metrics-listen. Rendered by the reporter once per tick from the run's merged totals (a
 * snapshot, never live worker state); the HTTP side only hands the text out.
 *
 * Names: herd_ + the counter's name with dots as underscores + _total (connections.opened ->
 * herd_connections_opened_total); errors by class as herd_errors_total{class=...}, with codes in
 * herd_errors_http_status_total{code=...} and herd_errors_closed_by_server_total{code=...};
 * gauges herd_connections_open, _connecting, _peak; each timed histogram as a Prometheus
 * histogram in seconds, herd_<metric>_seconds_bucket{le=...}, _sum, _count, its cumulative buckets
 * counted from the HDR histogram at its precision; the watched processes' sums as
 * herd_target_*. */
#include "report/report.h"

#include "base/compiler.h"
#include "base/err.h"
#include "report/sbuf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Bucket bounds in microseconds: 50 us to 60 s, roughly 1-2.5-5 per decade. */
static const int64_t bounds_us[] = {
    50,     100,    250,    500,     1000,    2500,    5000,     10000,    25000,    50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
};
#define NBOUNDS ARRAY_SIZE(bounds_us)

/* A metric name from a herd name: dots become underscores. */
static void prom_name(char *out, size_t outlen, const char *name)
{
    snprintf(out, outlen, "%s", name);
    for (char *c = out; *c; c++) {
        if (*c == '.')
            *c = '_';
    }
}

static void help_type(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The samples of histogram `name` (its family's HELP and TYPE written by the caller) with the
 * labels `labels` ("" or `group="a"`). */
static void histogram_samples(struct sbuf *b, const char *name, const char *labels,
                              const struct hist *h)
{
    const char *sep = *labels ? "," : "";
    uint64_t cum[NBOUNDS];
    hist_count_at_or_below(h, bounds_us, NBOUNDS, cum);
    for (size_t k = 0; k < NBOUNDS; k++)
        sb_printf(b, "%s_bucket{%s%sle=\"%.6g\"} %" PRIu64 "\n", name, labels, sep,
                  (double)bounds_us[k] / 1e6, cum[k]);
    uint64_t n = h->total_count > 0 ? (uint64_t)h->total_count : 0;
    sb_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, n);
    /* The sum from the bucket midpoints (HdrHistogram's mean times the count). */
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    sb_printf(b, "%s_sum%s%s%s %.9g\n", name, open, labels, close, hist_mean(h) * (double)n / 1e6);
    sb_printf(b, "%s_count%s%s%s %" PRIu64 "\n", name, open, labels, close, n);
}

static void histogram(struct sbuf *b, const char *metric, const struct hist *h)
{
    char name[64];
    snprintf(name, sizeof name, "herd_%s_seconds", metric);
    char help[96];
    snprintf(help, sizeof help, "herd's %s histogram, in seconds", metric);
    help_type(b, name, "histogram", help);
    histogram_samples(b, name, "", h);
}

/* `group="NAME"` with NAME escaped as the format asks (backslash, quote, newline). */
static void group_label(char *out, size_t outlen, const char *name)
{
    size_t o = (size_t)snprintf(out, outlen, "group=\"");
    for (const char *c = name; *c && o + 4 < outlen; c++) {
        if (*c == '\\' || *c == '"')
            out[o++] = '\\';
        if (*c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
            continue;
        }
        out[o++] = *c;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* A scenario's groups: the same figures as herd_*, as herd_group_* with a group label (their
 * own names, so that sum(herd_...) never counts a group twice). */
static void groups(struct sbuf *b, const struct report_live *l)
{
    char label[REPORT_GROUP_NAME * 2 + 16];
    for (int c = 0; c < CTR_COUNT; c++) {
        char base[64], name[96];
        prom_name(base, sizeof base, counter_name[c]);
        snprintf(name, sizeof name, "herd_group_%s_total", base);
        char help[96];
        snprintf(help, sizeof help, "herd's counter %s, by scenario group", counter_name[c]);
        help_type(b, name, "counter", help);
        for (size_t g = 0; g < l->ngroups; g++) {
            group_label(label, sizeof label, l->groups[g].name);
            sb_printf(b, "%s{%s} %" PRIu64 "\n", name, label, l->groups[g].total->ctr[c]);
        }
    }
    help_type(b, "herd_group_connections_open", "gauge", "connections open now, by scenario group");
    for (size_t g = 0; g < l->ngroups; g++) {
        group_label(label, sizeof label, l->groups[g].name);
        sb_printf(b, "herd_group_connections_open{%s} %" PRId64 "\n", label, l->groups[g].open);
    }
    help_type(b, "herd_group_errors_total", "counter", "errors by scenario group and class");
    for (size_t g = 0; g < l->ngroups; g++) {
        group_label(label, sizeof label, l->groups[g].name);
        for (int e = 0; e < ERR_COUNT; e++)
            sb_printf(b, "herd_group_errors_total{%s,class=\"%s\"} %" PRIu64 "\n", label,
                      err_class_name[e], l->groups[g].total->err[e]);
    }
    for (int m = 0; m < M_COUNT; m++) {
        char name[64], help[96];
        snprintf(name, sizeof name, "herd_group_%s_seconds", metric_name[m]);
        snprintf(help, sizeof help, "herd's %s histogram by scenario group, in seconds",
                 metric_name[m]);
        help_type(b, name, "histogram", help);
        for (size_t g = 0; g < l->ngroups; g++) {
            group_label(label, sizeof label, l->groups[g].name);
            histogram_samples(b, name, label, l->groups[g].total->hist[m]);
        }
    }
}

long report_prom_render(const struct report_live *l, char **text)
{
    struct sbuf b = {0};
    const struct stats *s = l->total;
    help_type(&b, "herd_info", "gauge", "herd's version; always 1");
    sb_printf(&b, "herd_info{version=\"%s\"} 1\n", l->tool_version ? l->tool_version : "");
    help_type(&b, "herd_elapsed_seconds", "gauge", "seconds since the run started");
    sb_printf(&b, "herd_elapsed_seconds %.3f\n", l->elapsed_s);
    for (int c = 0; c < CTR_COUNT; c++) {
        char base[64], name[80];
        prom_name(base, sizeof base, counter_name[c]);
        snprintf(name, sizeof name, "herd_%s_total", base);
        char help[96];
        snprintf(help, sizeof help, "herd's counter %s", counter_name[c]);
        help_type(&b, name, "counter", help);
        sb_printf(&b, "%s %" PRIu64 "\n", name, s->ctr[c]);
    }
    help_type(&b, "herd_connections_open", "gauge", "connections open now");
    sb_printf(&b, "herd_connections_open %" PRId64 "\n", l->open);
    help_type(&b, "herd_connections_connecting", "gauge",
              "connection attempts in flight (connecting, TLS, handshake)");
    sb_printf(&b, "herd_connections_connecting %" PRId64 "\n", l->connecting);
    help_type(&b, "herd_connections_peak", "gauge", "most connections open at once so far");
    sb_printf(&b, "herd_connections_peak %" PRId64 "\n", l->peak);
    help_type(&b, "herd_errors_total", "counter", "errors by class");
    for (int e = 0; e < ERR_COUNT; e++)
        sb_printf(&b, "herd_errors_total{class=\"%s\"} %" PRIu64 "\n", err_class_name[e],
                  s->err[e]);
    help_type(&b, "herd_errors_http_status_total", "counter",
              "handshakes answered with an HTTP error, by status");
    for (int code = 0; code < STATS_HTTP_CODES; code++) {
        if (s->http_status[code])
            sb_printf(&b, "herd_errors_http_status_total{code=\"%d\"} %" PRIu64 "\n", code,
                      s->http_status[code]);
    }
    help_type(&b, "herd_errors_closed_by_server_total", "counter",
              "connections the server closed, by close code");
    for (int code = 0; code < STATS_CLOSE_CODES; code++) {
        if (s->close_code[code])
            sb_printf(&b, "herd_errors_closed_by_server_total{code=\"%d\"} %" PRIu64 "\n", code,
                      s->close_code[code]);
    }
    for (int m = 0; m < M_COUNT; m++)
        histogram(&b, metric_name[m], s->hist[m]);
    if (l->ngroups)
        groups(&b, l);
    if (l->row && l->row->target_n) {
        const struct ts_row *r = l->row;
        help_type(&b, "herd_target_processes", "gauge", "watched processes alive (--watch-pid)");
        sb_printf(&b, "herd_target_processes %d\n", r->target_n);
        help_type(&b, "herd_target_cpu_ratio", "gauge",
                  "CPU of the watched processes over the last second (1 = one CPU), by mode");
        sb_printf(&b, "herd_target_cpu_ratio{mode=\"user\"} %.6f\n",
                  r->target_cpu_user_pct / 100.0);
        sb_printf(&b, "herd_target_cpu_ratio{mode=\"system\"} %.6f\n",
                  r->target_cpu_system_pct / 100.0);
        help_type(&b, "herd_target_resident_memory_bytes", "gauge",
                  "resident memory of the watched processes");
        sb_printf(&b, "herd_target_resident_memory_bytes %" PRIu64 "\n", r->target_rss_bytes);
        if (r->target_fds >= 0) {
            help_type(&b, "herd_target_open_fds", "gauge",
                      "open descriptors of the watched processes");
            sb_printf(&b, "herd_target_open_fds %" PRId64 "\n", r->target_fds);
        }
        help_type(&b, "herd_target_threads", "gauge", "threads of the watched processes");
        sb_printf(&b, "herd_target_threads %" PRIu64 "\n", r->target_threads);
    }
    if (b.oom) {
        free(b.p);
        *text = NULL;
        return HERD_E_NOMEM;
    }
    *text = b.p;
    return (long)b.len;
}

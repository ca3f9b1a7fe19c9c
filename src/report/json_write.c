/* json_write.c - the JSON report, DESIGN.md version 1. Scripts and CI keep these files and
 * `herd merge` reads them back, so the layout is a contract: field names change only with
 * report_version. */
#include "report/report.h"

#include "base/err.h"
#include "report/report_internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Percentiles reported for every histogram, with their JSON field names. */
static const struct {
    double p;
    const char *key;
} percentiles[] = {
    {50.0, "p50_us"}, {90.0, "p90_us"}, {95.0, "p95_us"}, {99.0, "p99_us"}, {99.9, "p999_us"},
};

/* Jansson refuses strings that are not UTF-8 (json_string returns NULL); user text such as a
 * URL or a path may be anything, so replace the offending bytes rather than lose the field. */
static json_t *str(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        copy[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *u64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v);
}

/* Means and deviations to a thousandth of a microsecond: more digits are noise. */
static json_t *real3(double v)
{
    if (!isfinite(v))
        return json_null();
    return json_real(round(v * 1000.0) / 1000.0);
}

static json_t *config_value(const struct report_kv *kv)
{
    const char *v = kv->value ? kv->value : "";
    if (kv->is_number) {
        if (strcmp(v, "true") == 0)
            return json_true();
        if (strcmp(v, "false") == 0)
            return json_false();
        char *end;
        errno = 0;
        long long ll = strtoll(v, &end, 10);
        if (*v && !*end && errno == 0)
            return json_integer(ll);
        double d = strtod(v, &end);
        if (*v && !*end && isfinite(d))
            return json_real(d);
    }
    return str(v);
}

/* Add to obj, taking ownership of val; a NULL val (out of memory) sets the failure flag. */
static void put(json_t *obj, const char *key, json_t *val, int *oom)
{
    if (!val || json_object_set_new(obj, key, val) != 0)
        *oom = 1;
}

static json_t *counters_obj(const struct stats *s, int *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = 1;
        return NULL;
    }
    for (int i = 0; i < CTR_COUNT; i++)
        put(o, counter_name[i], u64(s ? s->ctr[i] : 0), oom);
    put(o, "connections.open", json_integer(s ? s->open : 0), oom);
    put(o, "connections.peak", json_integer(s ? s->peak : 0), oom);
    /* Like connections.open, as the run ended: attempts in flight then (each also counts in
     * connections.pending once herd cut it short). */
    put(o, "connections.connecting", json_integer(s ? s->connecting : 0), oom);
    return o;
}

static json_t *codes_obj(const uint64_t *by_code, int ncodes, int *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = 1;
        return NULL;
    }
    for (int c = 0; by_code && c < ncodes; c++) {
        if (!by_code[c])
            continue;
        char key[16];
        snprintf(key, sizeof key, "%d", c);
        put(o, key, u64(by_code[c]), oom);
    }
    return o;
}

static json_t *errors_obj(const struct stats *s, int *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = 1;
        return NULL;
    }
    for (int c = 0; c < ERR_COUNT; c++) {
        json_t *v;
        if (c == ERR_HTTP_STATUS)
            v = codes_obj(s ? s->http_status : NULL, STATS_HTTP_CODES, oom);
        else if (c == ERR_CLOSED_BY_SERVER)
            v = codes_obj(s ? s->close_code : NULL, STATS_CLOSE_CODES, oom);
        else
            v = u64(s ? s->err[c] : 0);
        put(o, err_class_name[c], v, oom);
    }
    return o;
}

static json_t *hist_obj(const struct hist *h, int *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = 1;
        return NULL;
    }
    put(o, "count", json_integer(h->total_count), oom);
    put(o, "min_us", json_integer(hist_min(h)), oom);
    put(o, "mean_us", real3(hist_mean(h)), oom);
    put(o, "stdev_us", real3(hist_stdev(h)), oom);
    for (size_t i = 0; i < sizeof percentiles / sizeof percentiles[0]; i++)
        put(o, percentiles[i].key, json_integer(hist_percentile(h, percentiles[i].p)), oom);
    put(o, "max_us", json_integer(hist_max(h)), oom);
    char *hdr = NULL;
    if (hist_v2_encode(h, &hdr) >= 0 && hdr)
        put(o, "hdr", json_string(hdr), oom);
    else
        *oom = 1;
    free(hdr);
    return o;
}

static json_t *histograms_obj(const struct stats *s, int *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = 1;
        return NULL;
    }
    for (int m = 0; s && m < M_COUNT; m++) {
        if (s->hist[m] && s->hist[m]->total_count > 0)
            put(o, metric_name[m], hist_obj(s->hist[m], oom), oom);
    }
    /* A flow's request steps: "steps.<name>", beside the fixed metrics. */
    for (unsigned i = 0; s && i < s->nsteps; i++) {
        if (s->step[i]->total_count == 0)
            continue;
        char key[STATS_STEP_NAME + 8];
        snprintf(key, sizeof key, "steps.%s", s->step_name[i]);
        put(o, key, hist_obj(s->step[i], oom), oom);
    }
    return o;
}

/* The derived blocks, recomputed from counters and histograms wherever figures are written (so a
 * merge gets them right): "tls" when there were TLS handshakes, "fanout" when fan-out was
 * measured. */
static void derived_put(json_t *o, const struct stats *s, int *oom)
{
    const struct hist *th = s ? s->hist[M_TLS] : NULL;
    if (th && th->total_count > 0) {
        json_t *tls = json_object();
        uint64_t n = (uint64_t)th->total_count, resumed = s->ctr[CTR_TLS_RESUMED];
        put(tls, "handshakes", u64(n), oom);
        put(tls, "resumed", u64(resumed), oom);
        put(tls, "resumed_share", real3((double)resumed / (double)n), oom);
        put(o, "tls", tls, oom);
    }
    struct report_fanout_fig f;
    if (report__fanout(s, &f)) {
        json_t *fo = json_object();
        put(fo, "messages", u64(f.messages), oom);
        put(fo, "expected", u64(f.expected), oom);
        put(fo, "delivered", u64(f.delivered), oom);
        put(fo, "unseen", u64(f.unseen), oom);
        /* Six digits: 0.999712 says 99.9712 %. delivery_ratio knows only the losses a gap
         * showed; received_of_published also counts what no subscriber saw after its last. */
        put(fo, "delivery_ratio", json_real(round(f.delivery_ratio * 1e6) / 1e6), oom);
        put(fo, "received_of_published", json_real(round(f.received_of_published * 1e6) / 1e6),
            oom);
        put(o, "fanout", fo, oom);
    }
    /* Stamps ahead of herd's clock: how many (latency.ahead) and by how much at most, which
     * merges as a maximum. */
    if (s && s->ctr[CTR_LATENCY_AHEAD] > 0) {
        json_t *la = json_object();
        put(la, "count", u64(s->ctr[CTR_LATENCY_AHEAD]), oom);
        put(la, "max_us", u64(s->ahead_max_us), oom);
        put(o, "latency_ahead", la, oom);
    }
}

static json_t *config_obj(const struct report_kv *kv, size_t n, int *oom)
{
    json_t *config = json_object();
    if (!config) {
        *oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < n && i < REPORT_MAX_CONFIG; i++) {
        if (kv[i].key)
            put(config, kv[i].key, config_value(&kv[i]), oom);
    }
    return config;
}

/* groups: { "<name>": { target, role, config, counters, errors, histograms, tls, fanout } } */
static json_t *groups_obj(const struct report *r, int *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < r->ngroups && i < REPORT_MAX_GROUPS; i++) {
        const struct report_group *g = &r->groups[i];
        json_t *go = json_object();
        if (!go) {
            *oom = 1;
            continue;
        }
        put(go, "target", str(g->target), oom);
        put(go, "role", str(g->role), oom);
        put(go, "config", config_obj(g->config, g->nconfig, oom), oom);
        put(go, "counters", counters_obj(g->stats, oom), oom);
        put(go, "errors", errors_obj(g->stats, oom), oom);
        put(go, "histograms", histograms_obj(g->stats, oom), oom);
        derived_put(go, g->stats, oom);
        put(o, g->name ? g->name : "", go, oom);
    }
    return o;
}

static json_t *row_obj(const struct ts_row *row, int *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = 1;
        return NULL;
    }
    put(o, "t", json_real(row->t), oom);
    put(o, "open", json_integer(row->open), oom);
    put(o, "attempted", u64(row->attempted), oom);
    put(o, "opened", u64(row->opened), oom);
    put(o, "failed", u64(row->failed), oom);
    put(o, "closed", u64(row->closed), oom);
    put(o, "reconnects", u64(row->reconnects), oom);
    put(o, "pending", u64(row->pending), oom);
    put(o, "connecting", json_integer(row->connecting), oom);
    put(o, "sent", u64(row->sent), oom);
    put(o, "received", u64(row->received), oom);
    put(o, "errors", u64(row->errors), oom);
    /* Only metrics with samples in this interval: a 0 would read as a measured 0 us. */
    for (int m = 0; m < M_COUNT; m++) {
        if (!row->count[m])
            continue;
        char key[64];
        snprintf(key, sizeof key, "%s_p50_us", metric_name[m]);
        put(o, key, json_integer(row->p50_us[m]), oom);
        snprintf(key, sizeof key, "%s_p99_us", metric_name[m]);
        put(o, key, json_integer(row->p99_us[m]), oom);
        if (row->hdr[m]) { /* the interval's histogram: --hlog and exact merges */
            snprintf(key, sizeof key, "%s_hdr", metric_name[m]);
            put(o, key, str(row->hdr[m]), oom);
        }
    }
    if (row->target_n) { /* --watch-pid: the processes alive in this second, summed */
        put(o, "target_processes", json_integer(row->target_n), oom);
        put(o, "target_cpu_pct", json_real(row->target_cpu_user_pct + row->target_cpu_system_pct),
            oom);
        put(o, "target_cpu_user_pct", json_real(row->target_cpu_user_pct), oom);
        put(o, "target_cpu_system_pct", json_real(row->target_cpu_system_pct), oom);
        put(o, "target_rss_bytes", u64(row->target_rss_bytes), oom);
        if (row->target_fds >= 0)
            put(o, "target_fds", json_integer(row->target_fds), oom);
        put(o, "target_threads", u64(row->target_threads), oom);
    }
    return o;
}

static json_t *threshold_obj(const struct threshold_result *res, int *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = 1;
        return NULL;
    }
    put(o, "expr", str(res->t ? res->t->expr : ""), oom);
    if (res->group)
        put(o, "group", str(res->group), oom);
    put(o, "ok", json_boolean(res->ok), oom);
    int is_time = res->t && res->t->kind == THR_PERCENTILE && res->t->percentile != -4.0;
    const char *key = is_time ? "value_us" : "value";
    if (res->no_data)
        put(o, key, json_null(), oom);
    else if (is_time)
        put(o, key, json_integer((json_int_t)llround(res->value)), oom);
    else if (res->value == floor(res->value) && fabs(res->value) < 9e15)
        put(o, key, json_integer((json_int_t)res->value), oom);
    else
        put(o, key, real3(res->value), oom);
    return o;
}

/* ns since the epoch as RFC 3339 UTC with microseconds, "2026-12-02T15:10:00.000125Z". */
static void rfc3339_us(char *out, size_t len, uint64_t ns)
{
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%.20s.%06uZ", base, (unsigned)(ns % 1000000000u / 1000u));
}

/* "start": when a run told when to start (--start-at) was to start and did; in a merged report
 * the earliest and latest start of its shards, and skew_us between them. */
static json_t *start_obj(const struct report_start *st, int *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = 1;
        return NULL;
    }
    char text[48];
    rfc3339_us(text, sizeof text, st->planned_ns);
    put(o, "planned", str(text), oom);
    put(o, "planned_unix_ns", u64(st->planned_ns), oom);
    rfc3339_us(text, sizeof text, st->first_ns);
    put(o, "actual", str(text), oom);
    put(o, "actual_unix_ns", u64(st->first_ns), oom);
    put(o, "actual_last_unix_ns", u64(st->last_ns), oom);
    put(o, "late_us", real3((double)st->late_max_ns / 1e3), oom);
    put(o, "skew_us", real3((double)(st->last_ns - st->first_ns) / 1e3), oom);
    put(o, "shards", json_integer(st->shards), oom);
    return o;
}

static json_t *report_obj(const struct report *r, int *oom)
{
    json_t *root = json_object();
    if (!root) {
        *oom = 1;
        return NULL;
    }
    put(root, "tool", json_string("herd"), oom);
    put(root, "version", str(r->tool_version ? r->tool_version : "unknown"), oom);
    put(root, "report_version", json_integer(1), oom);
    put(root, "complete", json_boolean(r->complete), oom);
    put(root, "target", str(r->target), oom);
    put(root, "started_at", str(r->started_at), oom);
    put(root, "duration_s", json_real(isfinite(r->duration_s) ? r->duration_s : 0), oom);
    if (r->start.planned_ns)
        put(root, "start", start_obj(&r->start, oom), oom);

    put(root, "config", config_obj(r->config, r->nconfig, oom), oom);
    put(root, "counters", counters_obj(r->total, oom), oom);
    put(root, "errors", errors_obj(r->total, oom), oom);
    put(root, "histograms", histograms_obj(r->total, oom), oom);
    /* After drops: how many dropped, how many came back, and for those that did how long until
     * 50, 90 and 100 % of them were open again, each from its own drop (the reconnect
     * histogram's p50, p90 and max); the busiest second of attempts (a thundering herd). */
    struct report_recovery_fig rf;
    if (report__recovery(r, &rf)) {
        json_t *rec = json_object();
        put(rec, "dropped", u64(rf.dropped), oom);
        put(rec, "back", u64(rf.back), oom);
        put(rec, "not_back", u64(rf.dropped - rf.back), oom);
        put(rec, "connections", u64(rf.back), oom); /* = back, as in earlier reports */
        /* null when none came back: no time to give */
        put(rec, "back_50_us", rf.back ? json_integer(rf.back_50_us) : json_null(), oom);
        put(rec, "back_90_us", rf.back ? json_integer(rf.back_90_us) : json_null(), oom);
        put(rec, "back_100_us", rf.back ? json_integer(rf.back_100_us) : json_null(), oom);
        if (rf.busiest) {
            json_t *b = json_object();
            put(b, "t", json_real(rf.busiest_t), oom);
            put(b, "attempted", u64(rf.busiest_attempted), oom);
            put(rec, "busiest_second", b, oom);
        }
        put(root, "recovery", rec, oom);
    }
    derived_put(root, r->total, oom);
    if (r->limit.asked) {
        json_t *lim = json_object();
        put(lim, "asked", u64(r->limit.asked), oom);
        put(lim, "reached", u64(r->limit.reached), oom);
        put(lim, "cause", str(r->limit.cause), oom);
        put(lim, "errors", u64(r->limit.errors), oom);
        put(root, "limit", lim, oom);
    }
    if (r->ntargets) { /* --watch-pid */
        json_t *ta = json_array();
        for (size_t i = 0; ta && i < r->ntargets && i < REPORT_MAX_TARGETS; i++) {
            const struct report_target *t = &r->targets[i];
            json_t *o = json_object();
            put(o, "pid", json_integer(t->pid), oom);
            put(o, "name", str(t->name), oom);
            put(o, "samples", u64(t->samples), oom);
            put(o, "exited_at_s", t->exited_at_s >= 0 ? json_real(t->exited_at_s) : json_null(),
                oom);
            put(o, "cpu_max_pct", json_real(t->cpu_max_pct), oom);
            put(o, "cpu_mean_pct", json_real(t->cpu_mean_pct), oom);
            put(o, "cpu_user_mean_pct", json_real(t->cpu_user_mean_pct), oom);
            put(o, "cpu_system_mean_pct", json_real(t->cpu_system_mean_pct), oom);
            put(o, "rss_max_bytes", u64(t->rss_max_bytes), oom);
            put(o, "rss_last_bytes", u64(t->rss_last_bytes), oom);
            put(o, "fds_max", t->fds_max >= 0 ? json_integer(t->fds_max) : json_null(), oom);
            put(o, "threads_max", u64(t->threads_max), oom);
            if (json_array_append_new(ta, o) != 0)
                *oom = 1;
        }
        put(root, "targets", ta, oom);
    }
    /* A single-URL run has no groups: its report stays as it always was. */
    if (r->ngroups)
        put(root, "groups", groups_obj(r, oom), oom);

    json_t *ts = json_array();
    for (size_t i = 0; ts && r->rows && i < r->nrows; i++) {
        if (json_array_append_new(ts, row_obj(&r->rows[i], oom)) != 0)
            *oom = 1;
    }
    put(root, "timeseries", ts, oom);

    json_t *th = json_array();
    for (size_t i = 0; th && i < r->nthresholds && i < REPORT_MAX_RESULTS; i++) {
        if (json_array_append_new(th, threshold_obj(&r->thresholds[i], oom)) != 0)
            *oom = 1;
    }
    put(root, "thresholds", th, oom);
    if (r->nstages) {
        json_t *sa = json_array();
        for (size_t i = 0; sa && i < r->nstages; i++) {
            const struct report_stage *st = &r->stages[i];
            json_t *o = json_object();
            put(o, "target", json_integer((json_int_t)st->target), oom);
            put(o, "start_s", json_real(st->start_s), oom);
            put(o, "end_s", json_real(st->end_s), oom);
            put(o, "reached", json_boolean(st->reached), oom);
            put(o, "reached_at_s", st->reached ? json_real(st->reached_at_s) : json_null(), oom);
            if (json_array_append_new(sa, o) != 0)
                *oom = 1;
        }
        put(root, "stages", sa, oom);
    }
    json_t *wa = json_array();
    for (size_t i = 0; wa && i < r->nwarnings && i < REPORT_MAX_WARNINGS; i++) {
        if (json_array_append_new(wa, str(r->warnings[i])) != 0)
            *oom = 1;
    }
    put(root, "warnings", wa, oom);
    put(root, "shards", json_integer(r->shards ? r->shards : 1), oom);
    if (r->env.host[0] || r->env.command_line[0]) {
        json_t *env = json_object();
        put(env, "command_line", str(r->env.command_line), oom);
        put(env, "host", str(r->env.host), oom);
        put(env, "kernel", str(r->env.kernel), oom);
        put(env, "cpus", json_integer(r->env.cpus), oom);
        /* null: no limit (RLIM_INFINITY) */
        put(env, "nofile", r->env.nofile == UINT64_MAX ? json_null() : u64(r->env.nofile), oom);
        put(root, "environment", env, oom);
    }
    return root;
}

/* The report as JSON text (malloc'ed): indented for a file, or compact on one line. */
static char *report_text(const struct report *r, int compact)
{
    int oom = 0;
    json_t *root = report_obj(r, &oom);
    char *text = NULL;
    size_t flags = compact ? JSON_COMPACT : JSON_INDENT(2);
    if (root && !oom)
        text = json_dumps(root, flags | JSON_REAL_PRECISION(12));
    json_decref(root);
    return text;
}

/* The value of config key `key` in r, NULL when absent. */
static const char *config_get(const struct report *r, const char *key)
{
    for (size_t i = 0; i < r->nconfig; i++) {
        if (r->config[i].key && strcmp(r->config[i].key, key) == 0)
            return r->config[i].value;
    }
    return NULL;
}

int report_json_block_write(const struct report *r, FILE *out, const char *run_id, char *err,
                            size_t errlen)
{
    char *text = report_text(r, 1);
    if (!text) {
        if (err && errlen)
            snprintf(err, errlen, "-: cannot build the JSON report: out of memory");
        return HERD_E_NOMEM;
    }
    const char *shard = config_get(r, "shard");
    /* The labels are one token each: a run id from the environment must not break the line. */
    char id[41];
    snprintf(id, sizeof id, "%s", run_id && *run_id ? run_id : "-");
    for (char *c = id; *c; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            *c = '_';
    }
    char labels[128];
    snprintf(labels, sizeof labels, "run=%s shard=%.40s", id, shard ? shard : "0/1");
    size_t len = strlen(text);
    char *block = malloc(len + 2 * sizeof labels + 128);
    if (!block) {
        free(text);
        if (err && errlen)
            snprintf(err, errlen, "-: cannot build the JSON report: out of memory");
        return HERD_E_NOMEM;
    }
    int head = sprintf(block, "%sbegin %s ----\n", REPORT_BLOCK_MARK, labels);
    memcpy(block + head, text, len);
    int tail = sprintf(block + (size_t)head + len, "\n%send %s bytes=%zu ----\n", REPORT_BLOCK_MARK,
                       labels, len);
    free(text);
    /* One fwrite and a flush: the block leaves in one piece, not interleaved with anything the
     * process writes later. */
    fflush(out);
    size_t total = (size_t)head + len + (size_t)tail;
    int ok = fwrite(block, 1, total, out) == total && fflush(out) == 0;
    free(block);
    if (!ok) {
        if (err && errlen)
            snprintf(err, errlen, "-: cannot write the report on stdout: %s", strerror(errno));
        return -EIO;
    }
    return 0;
}

int report_json_write(const struct report *r, const char *path, char *err, size_t errlen)
{
    if (strcmp(path, "-") == 0)
        return report_json_block_write(r, stdout, r->run_id, err, errlen);
    char *text = report_text(r, 0);
    if (!text) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot build the JSON report: out of memory", path);
        return HERD_E_NOMEM;
    }
    size_t len = strlen(text);
    /* json_dumps leaves the last line open; text files end with a newline. */
    char *out = realloc(text, len + 2);
    if (!out) {
        free(text);
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot build the JSON report: out of memory", path);
        return HERD_E_NOMEM;
    }
    out[len++] = '\n';
    out[len] = '\0';
    int rc = atomic_file_write(path, out, len, err, errlen);
    free(out);
    return rc;
}

/* json_read.c - read a JSON report (DESIGN.md version 1) back, for `herd merge` and
 * `herd run --procs`. The layout is json_write.c's. Histograms come back exactly from their
 * "hdr" text. Reports are user files: every malformed input ends in one line naming the file and
 * the field, never in a crash. Unknown fields are ignored (later writers may add some). */
#include "report/report.h"

#include "base/err.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Reports larger than this are not herd's (a day of one-second rows is ~10 MB). */
#define READ_MAX_BYTES (512u << 20)

struct rd {
    const char *name;
    char *err;
    size_t errlen;
    const char *prefix; /* "groups.<name>." while reading a group, else "" */
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(struct rd *c, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        int n = snprintf(c->err, c->errlen, "%s: %s", c->name, c->prefix ? c->prefix : "");
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return HERD_E_PROTO;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

/* An optional non-negative integer field of obj; `where` names obj in messages. */
static int get_u64(struct rd *c, json_t *obj, const char *where, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(c, "%s%s%s: expected a whole number >= 0", where, *where ? "." : "", key);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_i64(struct rd *c, json_t *obj, const char *where, const char *key, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return fail(c, "%s%s%s: expected a whole number", where, *where ? "." : "", key);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int get_num(struct rd *c, json_t *obj, const char *where, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!isfinite(d) || d < 0)
        return fail(c, "%s%s%s: expected a number >= 0", where, *where ? "." : "", key);
    *out = d;
    return 0;
}

/* A decimal code 0..limit-1, strictly digits. */
static int parse_code(const char *s, int limit)
{
    if (!*s || strlen(s) > 6)
        return -1;
    int v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v < limit ? v : -1;
}

static int read_codes(struct rd *c, json_t *v, const char *cls, uint64_t *by_code, int limit,
                      uint64_t *class_total)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) { /* a bare class total */
        *class_total += (uint64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_object(v))
        return fail(c, "errors.%s: expected an object of code: count", cls);
    const char *key;
    json_t *n;
    json_object_foreach(v, key, n)
    {
        int code = parse_code(key, limit);
        if (code < 0)
            return fail(c, "errors.%s: \"%.32s\" is not a code below %d", cls, key, limit);
        if (!json_is_integer(n) || json_integer_value(n) < 0)
            return fail(c, "errors.%s.%s: expected a whole number >= 0", cls, key);
        by_code[code] += (uint64_t)json_integer_value(n);
        *class_total += (uint64_t)json_integer_value(n);
    }
    return 0;
}

static int read_counters(struct rd *c, json_t *root, struct stats *s)
{
    json_t *o = json_object_get(root, "counters");
    if (!o)
        return fail(c, "counters missing");
    if (!json_is_object(o))
        return fail(c, "counters: expected an object");
    for (int i = 0; i < CTR_COUNT; i++) {
        if (get_u64(c, o, "counters", counter_name[i], &s->ctr[i]) != 0)
            return HERD_E_PROTO;
    }
    if (get_i64(c, o, "counters", "connections.open", &s->open) != 0 ||
        get_i64(c, o, "counters", "connections.peak", &s->peak) != 0 ||
        get_i64(c, o, "counters", "connections.connecting", &s->connecting) != 0)
        return HERD_E_PROTO;
    return 0;
}

/* "latency_ahead": {"count", "max_us"}: the most a stamp lay ahead (the count is the counter
 * latency.ahead, read with the counters). Absent in reports without stamps ahead. */
static int read_ahead(struct rd *c, json_t *root, struct stats *s)
{
    json_t *o = json_object_get(root, "latency_ahead");
    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return fail(c, "latency_ahead: expected an object");
    return get_u64(c, o, "latency_ahead", "max_us", &s->ahead_max_us);
}

static int read_errors(struct rd *c, json_t *root, struct stats *s)
{
    json_t *o = json_object_get(root, "errors");
    if (!o)
        return 0;
    if (!json_is_object(o))
        return fail(c, "errors: expected an object");
    for (int k = 0; k < ERR_COUNT; k++) {
        json_t *v = json_object_get(o, err_class_name[k]);
        if (!v)
            continue;
        int rc = 0;
        if (k == ERR_HTTP_STATUS)
            rc = read_codes(c, v, err_class_name[k], s->http_status, STATS_HTTP_CODES, &s->err[k]);
        else if (k == ERR_CLOSED_BY_SERVER)
            rc = read_codes(c, v, err_class_name[k], s->close_code, STATS_CLOSE_CODES, &s->err[k]);
        else
            rc = get_u64(c, o, "errors", err_class_name[k], &s->err[k]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int read_histograms(struct rd *c, json_t *root, struct stats *s)
{
    json_t *o = json_object_get(root, "histograms");
    if (!o)
        return 0;
    if (!json_is_object(o))
        return fail(c, "histograms: expected an object");
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        if (strncmp(key, "steps.", 6) != 0)
            continue;
        json_t *hdr = json_is_object(val) ? json_object_get(val, "hdr") : NULL;
        if (!json_is_string(hdr))
            return fail(c, "histograms.%.60s.hdr: missing (the histogram cannot be merged)", key);
        int k = stats_step_add(s, key + 6);
        if (k < 0)
            return fail(c, "histograms.%.60s: too many steps, or a name too long", key);
        struct hist *d = NULL;
        if (hist_v2_decode(json_string_value(hdr), json_string_length(hdr), &d) != 0 || !d)
            return fail(c, "histograms.%.60s.hdr: not a valid HdrHistogram V2 encoding", key);
        int rc = hist_add(s->step[k], d);
        hist_free(d);
        if (rc != 0)
            return fail(c, "histograms.%.60s.hdr: range or precision is not herd's", key);
    }
    for (int m = 0; m < M_COUNT; m++) {
        json_t *h = json_object_get(o, metric_name[m]);
        if (!h)
            continue;
        if (!json_is_object(h))
            return fail(c, "histograms.%s: expected an object", metric_name[m]);
        json_t *hdr = json_object_get(h, "hdr");
        if (!json_is_string(hdr))
            return fail(c, "histograms.%s.hdr: %s", metric_name[m],
                        hdr ? "expected a string" : "missing (the histogram cannot be merged)");
        struct hist *d = NULL;
        if (hist_v2_decode(json_string_value(hdr), json_string_length(hdr), &d) != 0 || !d)
            return fail(c, "histograms.%s.hdr: not a valid HdrHistogram V2 encoding",
                        metric_name[m]);
        int rc = hist_add(s->hist[m], d);
        int64_t total = d->total_count;
        hist_free(d);
        if (rc != 0)
            return fail(c,
                        "histograms.%s.hdr: range or precision is not herd's (1 us to 1 h, 3 "
                        "significant digits)",
                        metric_name[m]);
        json_t *cnt = json_object_get(h, "count");
        if (cnt && (!json_is_integer(cnt) || json_integer_value(cnt) != total))
            return fail(c, "histograms.%s: count does not match the %lld samples of hdr",
                        metric_name[m], (long long)total);
    }
    return 0;
}

/* A row's target_* figures (--watch-pid), when it has them. */
static int read_row_target(struct rd *c, json_t *o, const char *where, struct ts_row *row)
{
    json_t *n = json_object_get(o, "target_processes");
    if (!n)
        return 0;
    if (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > 1000000)
        return fail(c, "%s.target_processes: expected a whole number from 1 to 1000000", where);
    row->target_n = (int)json_integer_value(n);
    row->target_fds = json_object_get(o, "target_fds") ? 0 : -1;
    if (get_num(c, o, where, "target_cpu_user_pct", &row->target_cpu_user_pct) != 0 ||
        get_num(c, o, where, "target_cpu_system_pct", &row->target_cpu_system_pct) != 0 ||
        get_u64(c, o, where, "target_rss_bytes", &row->target_rss_bytes) != 0 ||
        get_i64(c, o, where, "target_fds", &row->target_fds) != 0 ||
        get_u64(c, o, where, "target_threads", &row->target_threads) != 0)
        return HERD_E_PROTO;
    return 0;
}

/* The "targets" list (--watch-pid). */
static int read_targets(struct rd *c, json_t *root, struct report_read *r)
{
    json_t *a = json_object_get(root, "targets");
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return fail(c, "targets: expected an array");
    if (json_array_size(a) > REPORT_MAX_TARGETS)
        return fail(c, "targets: more than %d", REPORT_MAX_TARGETS);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        char where[32];
        snprintf(where, sizeof where, "targets[%zu]", i);
        if (!json_is_object(o))
            return fail(c, "%s: expected an object", where);
        struct report_target *t = &r->targets[r->ntargets];
        json_t *pid = json_object_get(o, "pid");
        json_t *name = json_object_get(o, "name");
        if (!json_is_integer(pid) || json_integer_value(pid) < 1 ||
            json_integer_value(pid) > INT32_MAX)
            return fail(c, "%s.pid: expected a process id", where);
        if (name && !json_is_string(name))
            return fail(c, "%s.name: expected a string", where);
        report_target_init(t, (int)json_integer_value(pid), name ? json_string_value(name) : "");
        json_t *ex = json_object_get(o, "exited_at_s");
        if (ex && !json_is_null(ex) && get_num(c, o, where, "exited_at_s", &t->exited_at_s) != 0)
            return HERD_E_PROTO;
        json_t *fds = json_object_get(o, "fds_max");
        if (fds && !json_is_null(fds) && get_i64(c, o, where, "fds_max", &t->fds_max) != 0)
            return HERD_E_PROTO;
        if (get_u64(c, o, where, "samples", &t->samples) != 0 ||
            get_num(c, o, where, "cpu_max_pct", &t->cpu_max_pct) != 0 ||
            get_num(c, o, where, "cpu_mean_pct", &t->cpu_mean_pct) != 0 ||
            get_num(c, o, where, "cpu_user_mean_pct", &t->cpu_user_mean_pct) != 0 ||
            get_num(c, o, where, "cpu_system_mean_pct", &t->cpu_system_mean_pct) != 0 ||
            get_u64(c, o, where, "rss_max_bytes", &t->rss_max_bytes) != 0 ||
            get_u64(c, o, where, "rss_last_bytes", &t->rss_last_bytes) != 0 ||
            get_u64(c, o, where, "threads_max", &t->threads_max) != 0)
            return HERD_E_PROTO;
        r->ntargets++;
    }
    return 0;
}

static int read_row(struct rd *c, json_t *o, size_t i, struct ts_row *row)
{
    char where[48];
    snprintf(where, sizeof where, "timeseries[%zu]", i);
    if (!json_is_object(o))
        return fail(c, "%s: expected an object", where);
    static const struct {
        const char *key;
        size_t off;
    } fields[] = {
        {"attempted", offsetof(struct ts_row, attempted)},
        {"opened", offsetof(struct ts_row, opened)},
        {"failed", offsetof(struct ts_row, failed)},
        {"closed", offsetof(struct ts_row, closed)},
        {"reconnects", offsetof(struct ts_row, reconnects)},
        {"pending", offsetof(struct ts_row, pending)},
        {"sent", offsetof(struct ts_row, sent)},
        {"received", offsetof(struct ts_row, received)},
        {"errors", offsetof(struct ts_row, errors)},
    };
    if (get_num(c, o, where, "t", &row->t) != 0 || get_i64(c, o, where, "open", &row->open) != 0 ||
        get_i64(c, o, where, "connecting", &row->connecting) != 0)
        return HERD_E_PROTO;
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        if (get_u64(c, o, where, fields[k].key, (uint64_t *)((char *)row + fields[k].off)) != 0)
            return HERD_E_PROTO;
    }
    for (int m = 0; m < M_COUNT; m++) {
        char key[64];
        snprintf(key, sizeof key, "%s_p50_us", metric_name[m]);
        int has = json_object_get(o, key) != NULL;
        if (get_i64(c, o, where, key, &row->p50_us[m]) != 0)
            return HERD_E_PROTO;
        snprintf(key, sizeof key, "%s_p99_us", metric_name[m]);
        has |= json_object_get(o, key) != NULL;
        if (get_i64(c, o, where, key, &row->p99_us[m]) != 0)
            return HERD_E_PROTO;
        row->count[m] = has ? 1 : 0;
        snprintf(key, sizeof key, "%s_hdr", metric_name[m]);
        json_t *hdr = json_object_get(o, key);
        if (!hdr)
            continue;
        struct hist *h = NULL;
        if (!json_is_string(hdr) ||
            hist_v2_decode(json_string_value(hdr), json_string_length(hdr), &h) != 0)
            return fail(c, "%s.%s: not an HdrHistogram V2 compressed base64 text", where, key);
        struct hist *mine = hist_new_default();
        int rc = mine ? hist_add(mine, h) : HERD_E_NOMEM;
        hist_free(h);
        if (rc == 0 && mine->total_count == 0)
            rc = -1;
        /* The row's own figures come from its histogram, so that they agree. */
        if (rc == 0)
            rc = report_row_set_hist(row, m, mine);
        hist_free(mine);
        if (rc != 0)
            return fail(c,
                        "%s.%s: an empty histogram, or range or precision not herd's (1 us to 1 h, "
                        "3 significant digits)",
                        where, key);
    }
    return read_row_target(c, o, where, row);
}

static int read_rows(struct rd *c, json_t *root, struct report_read *r)
{
    json_t *a = json_object_get(root, "timeseries");
    if (!a)
        return 0;
    if (!json_is_array(a))
        return fail(c, "timeseries: expected an array");
    size_t n = json_array_size(a);
    if (!n)
        return 0;
    r->rows = calloc(n, sizeof *r->rows);
    if (!r->rows)
        return fail(c, "out of memory for %zu time-series rows", n);
    for (size_t i = 0; i < n; i++) {
        r->nrows = i + 1; /* so that report_read_free frees what a bad row holds */
        if (read_row(c, json_array_get(a, i), i, &r->rows[i]) != 0)
            return HERD_E_PROTO;
    }
    return 0;
}

static int read_stages(struct rd *c, json_t *root, struct report_read *r)
{
    json_t *a = json_object_get(root, "stages");
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return fail(c, "stages: expected an array");
    if (json_array_size(a) > REPORT_MAX_STAGES)
        return fail(c, "stages: more than %d", REPORT_MAX_STAGES);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        char where[32];
        snprintf(where, sizeof where, "stages[%zu]", i);
        if (!json_is_object(o))
            return fail(c, "%s: expected an object", where);
        struct report_stage *st = &r->stages[i];
        memset(st, 0, sizeof *st);
        if (get_u64(c, o, where, "target", &st->target) != 0 ||
            get_num(c, o, where, "start_s", &st->start_s) != 0 ||
            get_num(c, o, where, "end_s", &st->end_s) != 0)
            return HERD_E_PROTO;
        json_t *reached = json_object_get(o, "reached");
        st->reached = json_is_true(reached);
        if (st->reached && get_num(c, o, where, "reached_at_s", &st->reached_at_s) != 0)
            return HERD_E_PROTO;
        r->nstages = i + 1;
    }
    return 0;
}

static int read_thresholds(struct rd *c, json_t *root, struct report_read *r)
{
    json_t *a = json_object_get(root, "thresholds");
    if (!a)
        return 0;
    if (!json_is_array(a))
        return fail(c, "thresholds: expected an array");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *e = json_object_get(json_array_get(a, i), "expr");
        if (!json_is_string(e))
            return fail(c, "thresholds[%zu].expr: expected a string", i);
        if (json_string_length(e) >= sizeof r->thresholds[0])
            return fail(c, "thresholds[%zu].expr: longer than %zu characters", i,
                        sizeof r->thresholds[0] - 1);
        json_t *g = json_object_get(json_array_get(a, i), "group");
        if (g && !json_is_null(g) &&
            (!json_is_string(g) || json_string_length(g) >= sizeof r->threshold_group[0] ||
             strlen(json_string_value(g)) != json_string_length(g)))
            return fail(c, "thresholds[%zu].group: expected a group name", i);
        if (r->nthresholds == REPORT_MAX_RESULTS)
            return fail(c, "thresholds: more than %d", REPORT_MAX_RESULTS);
        snprintf(r->threshold_group[r->nthresholds], sizeof r->threshold_group[0], "%s",
                 json_is_string(g) ? json_string_value(g) : "");
        snprintf(r->thresholds[r->nthresholds++], sizeof r->thresholds[0], "%s",
                 json_string_value(e));
    }
    return 0;
}

static int read_warnings(struct rd *c, json_t *root, struct report_read *r)
{
    json_t *a = json_object_get(root, "warnings");
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return fail(c, "warnings: expected an array of strings");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *w = json_array_get(a, i);
        if (!json_is_string(w) || strlen(json_string_value(w)) != json_string_length(w))
            return fail(c, "warnings[%zu]: expected a string", i);
        if (r->nwarnings == REPORT_MAX_WARNINGS)
            return fail(c, "warnings: more than %d", REPORT_MAX_WARNINGS);
        /* A longer one is cut: warnings are for people, and herd writes none that long. */
        snprintf(r->warnings[r->nwarnings++], sizeof r->warnings[0], "%s", json_string_value(w));
    }
    return 0;
}

static int read_env_str(struct rd *c, json_t *env, const char *key, char *out, size_t outlen)
{
    json_t *v = json_object_get(env, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return fail(c, "environment.%s: expected a string", key);
    snprintf(out, outlen, "%s", json_string_value(v));
    return 0;
}

static int read_env(struct rd *c, json_t *root, struct report_read *r)
{
    json_t *env = json_object_get(root, "environment");
    if (!env || json_is_null(env))
        return 0;
    if (!json_is_object(env))
        return fail(c, "environment: expected an object");
    struct report_env *e = &r->env;
    uint64_t cpus = 0;
    json_t *nofile = json_object_get(env, "nofile");
    if (read_env_str(c, env, "command_line", e->command_line, sizeof e->command_line) ||
        read_env_str(c, env, "host", e->host, sizeof e->host) ||
        read_env_str(c, env, "kernel", e->kernel, sizeof e->kernel) ||
        get_u64(c, env, "environment", "cpus", &cpus))
        return HERD_E_PROTO;
    if (nofile && json_is_null(nofile)) /* no limit */
        e->nofile = UINT64_MAX;
    else if (get_u64(c, env, "environment", "nofile", &e->nofile))
        return HERD_E_PROTO;
    e->cpus = cpus > 1000000 ? 1000000 : (unsigned)cpus;
    return 0;
}

static int read_config(struct rd *c, json_t *root, struct report_kv *config, size_t *nconfig)
{
    json_t *o = json_object_get(root, "config");
    if (!o)
        return 0;
    if (!json_is_object(o))
        return fail(c, "config: expected an object");
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        char buf[64];
        const char *text;
        int is_number = 1;
        if (json_is_string(v)) {
            text = json_string_value(v);
            is_number = 0;
        } else if (json_is_integer(v)) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
            text = buf;
        } else if (json_is_real(v)) {
            snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
            text = buf;
        } else if (json_is_boolean(v)) {
            text = json_is_true(v) ? "true" : "false";
        } else {
            continue; /* objects, arrays, null: nothing herd writes */
        }
        if (*nconfig == REPORT_MAX_CONFIG)
            return fail(c, "config: more than %d entries", REPORT_MAX_CONFIG);
        struct report_kv *kv = &config[*nconfig];
        kv->key = dup_str(key);
        kv->value = dup_str(text);
        kv->is_number = is_number;
        (*nconfig)++;
        if (!kv->key || !kv->value)
            return fail(c, "out of memory");
    }
    return 0;
}

static int read_limit(struct rd *c, json_t *root, struct report_read *r)
{
    json_t *o = json_object_get(root, "limit");
    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return fail(c, "limit: expected an object");
    struct report_limit *l = &r->limit;
    if (get_u64(c, o, "limit", "asked", &l->asked) != 0 ||
        get_u64(c, o, "limit", "reached", &l->reached) != 0 ||
        get_u64(c, o, "limit", "errors", &l->errors) != 0)
        return HERD_E_PROTO;
    json_t *cause = json_object_get(o, "cause");
    if (!json_is_string(cause) || json_string_length(cause) >= sizeof l->cause ||
        strlen(json_string_value(cause)) != json_string_length(cause))
        return fail(c, "limit.cause: expected ports, descriptors or memory");
    snprintf(l->cause, sizeof l->cause, "%s", json_string_value(cause));
    return 0;
}

/* "start" (json_write.c start_obj): the planned and actual start of a run given --start-at. */
static int read_start(struct rd *c, json_t *root, struct report_start *st)
{
    json_t *o = json_object_get(root, "start");
    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return fail(c, "start: expected an object");
    uint64_t shards = 1;
    double late_us = 0;
    if (get_u64(c, o, "start", "planned_unix_ns", &st->planned_ns) != 0 ||
        get_u64(c, o, "start", "actual_unix_ns", &st->first_ns) != 0 ||
        get_u64(c, o, "start", "shards", &shards) != 0)
        return HERD_E_PROTO;
    if (!st->planned_ns || !st->first_ns)
        return fail(c, "start: planned_unix_ns and actual_unix_ns must be given (above 0)");
    st->last_ns = st->first_ns;
    if (get_u64(c, o, "start", "actual_last_unix_ns", &st->last_ns) != 0)
        return HERD_E_PROTO;
    if (st->last_ns < st->first_ns)
        return fail(c, "start: actual_last_unix_ns is before actual_unix_ns");
    json_t *late = json_object_get(o, "late_us");
    if (late) {
        late_us = json_is_number(late) ? json_number_value(late) : NAN;
        if (!isfinite(late_us) || fabs(late_us) > 9e12)
            return fail(c, "start.late_us: expected a number of microseconds");
    }
    if (shards < 1 || shards > 1000000)
        return fail(c, "start.shards: expected a whole number from 1 to 1000000");
    st->late_max_ns = (int64_t)llround(late_us * 1e3);
    st->shards = (unsigned)shards;
    return 0;
}

/* An optional string field into *out (malloc'ed); null and absent leave it NULL. */
static int get_str(struct rd *c, json_t *obj, const char *key, char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return fail(c, "%s: expected a string", key);
    if (!(*out = dup_str(json_string_value(v))))
        return fail(c, "out of memory");
    return 0;
}

static int read_group(struct rd *c, json_t *g, struct report_read_group *rg)
{
    if (!json_is_object(g))
        return fail(c, "expected an object");
    int rc = get_str(c, g, "target", &rg->target);
    if (!rc)
        rc = get_str(c, g, "role", &rg->role);
    if (!rc)
        rc = read_config(c, g, rg->config, &rg->nconfig);
    if (!rc)
        rc = read_counters(c, g, &rg->total);
    if (!rc)
        rc = read_errors(c, g, &rg->total);
    if (!rc)
        rc = read_histograms(c, g, &rg->total);
    if (!rc)
        rc = read_ahead(c, g, &rg->total);
    rg->peak_sum = rg->total.peak;
    return rc;
}

static int read_groups(struct rd *c, json_t *root, struct report_read *r)
{
    json_t *o = json_object_get(root, "groups");
    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return fail(c, "groups: expected an object of name: group");
    size_t n = json_object_size(o);
    if (n > REPORT_MAX_GROUPS)
        return fail(c, "groups: more than %d", REPORT_MAX_GROUPS);
    r->groups = calloc(n ? n : 1, sizeof *r->groups);
    if (!r->groups)
        return fail(c, "out of memory");
    const char *key;
    json_t *g;
    json_object_foreach(o, key, g)
    {
        if (!*key || strlen(key) >= REPORT_GROUP_NAME)
            return fail(c, "groups: a group name must have 1 to %d characters",
                        REPORT_GROUP_NAME - 1);
        struct report_read_group *rg = &r->groups[r->ngroups++];
        stats_init(&rg->total);
        if (!(rg->name = dup_str(key)))
            return fail(c, "out of memory");
        char prefix[REPORT_GROUP_NAME + 16];
        snprintf(prefix, sizeof prefix, "groups.%s.", key);
        c->prefix = prefix;
        int rc = read_group(c, g, rg);
        c->prefix = "";
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int read_root(struct rd *c, json_t *root, struct report_read *r)
{
    if (!json_is_object(root))
        return fail(c, "not a herd report (not a JSON object)");
    json_t *tool = json_object_get(root, "tool");
    if (tool && (!json_is_string(tool) || strcmp(json_string_value(tool), "herd") != 0))
        return fail(c, "not a herd report (\"tool\" is not \"herd\")");
    json_t *ver = json_object_get(root, "report_version");
    if (!ver)
        return fail(c, "not a herd report (report_version missing)");
    if (!json_is_integer(ver))
        return fail(c, "report_version: expected a whole number");
    if (json_integer_value(ver) != 1)
        return fail(c, "report_version %lld is not supported (this herd reads version 1)",
                    (long long)json_integer_value(ver));

    json_t *v = json_object_get(root, "version");
    if (v && !json_is_string(v))
        return fail(c, "version: expected a string");
    if (v && !(r->tool_version = dup_str(json_string_value(v))))
        return fail(c, "out of memory");
    v = json_object_get(root, "complete");
    if (v && !json_is_boolean(v))
        return fail(c, "complete: expected true or false");
    r->complete = json_is_true(v);
    v = json_object_get(root, "target");
    if (v && !json_is_string(v) && !json_is_null(v))
        return fail(c, "target: expected a string");
    if (json_is_string(v) && !(r->target = dup_str(json_string_value(v))))
        return fail(c, "out of memory");
    v = json_object_get(root, "started_at");
    if (v && !json_is_string(v) && !json_is_null(v))
        return fail(c, "started_at: expected a string");
    if (json_is_string(v))
        snprintf(r->started_at, sizeof r->started_at, "%s", json_string_value(v));
    if (get_num(c, root, "", "duration_s", &r->duration_s) != 0)
        return HERD_E_PROTO;
    v = json_object_get(root, "shards");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000))
        return fail(c, "shards: expected a whole number from 1 to 1000000");
    r->shards = v ? (unsigned)json_integer_value(v) : 1;

    int rc = read_config(c, root, r->config, &r->nconfig);
    if (!rc)
        rc = read_counters(c, root, &r->total);
    if (!rc)
        rc = read_errors(c, root, &r->total);
    if (!rc)
        rc = read_histograms(c, root, &r->total);
    if (!rc)
        rc = read_ahead(c, root, &r->total);
    if (!rc)
        rc = read_rows(c, root, r);
    if (!rc)
        rc = read_stages(c, root, r);
    if (!rc)
        rc = read_thresholds(c, root, r);
    if (!rc)
        rc = read_limit(c, root, r);
    if (!rc)
        rc = read_start(c, root, &r->start);
    if (!rc)
        rc = read_groups(c, root, r);
    if (!rc)
        rc = read_warnings(c, root, r);
    if (!rc)
        rc = read_env(c, root, r);
    if (!rc)
        rc = read_targets(c, root, r);
    r->peak_sum = r->total.peak;
    return rc;
}

/* The field being read at byte pos of a JSON text, as "timeseries[3].sent" (nothing at the top
 * level): the innermost object key and array index open there. For messages about a report
 * that is cut short or broken. */
static void json_path_at(const char *text, size_t pos, char *out, size_t outlen)
{
    enum { DEPTH = 32 };
    struct {
        int is_obj, expect_key;
        size_t index;
        char key[48];
    } st[DEPTH];
    int depth = 0, skipped = 0; /* skipped: levels deeper than DEPTH */
    for (size_t i = 0; i < pos; i++) {
        char ch = text[i];
        if (ch == '"') {
            int capture = depth > 0 && !skipped && st[depth - 1].is_obj && st[depth - 1].expect_key;
            size_t k = 0;
            for (i++; i < pos && text[i] != '"'; i++) {
                if (text[i] == '\\')
                    i++;
                else if (capture && k + 1 < sizeof st[0].key)
                    st[depth - 1].key[k++] = text[i];
            }
            if (capture)
                st[depth - 1].key[k] = '\0';
        } else if (ch == '{' || ch == '[') {
            if (depth == DEPTH) {
                skipped++;
                continue;
            }
            st[depth].is_obj = ch == '{';
            st[depth].expect_key = ch == '{';
            st[depth].index = 0;
            st[depth].key[0] = '\0';
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (skipped)
                skipped--;
            else if (depth)
                depth--;
        } else if (ch == ',' && depth && !skipped) {
            if (st[depth - 1].is_obj) {
                st[depth - 1].expect_key = 1;
                st[depth - 1].key[0] = '\0';
            } else {
                st[depth - 1].index++;
            }
        } else if (ch == ':' && depth && !skipped && st[depth - 1].is_obj) {
            st[depth - 1].expect_key = 0;
        }
    }
    size_t used = 0;
    out[0] = '\0';
    for (int d = 0; d < depth && used < outlen; d++) {
        int n;
        if (st[d].is_obj && st[d].key[0])
            n = snprintf(out + used, outlen - used, "%s%s", used ? "." : "", st[d].key);
        else if (!st[d].is_obj)
            n = snprintf(out + used, outlen - used, "[%zu]", st[d].index);
        else
            n = 0;
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

int report_json_parse(const char *text, size_t len, const char *name, struct report_read *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    stats_init(&out->total);
    out->shards = 1;
    struct rd c = {name ? name : "report", err, errlen, ""};
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        size_t at = jerr.position > 0 && (size_t)jerr.position <= len ? (size_t)jerr.position : len;
        char path[256];
        json_path_at(text, at, path, sizeof path);
        /* Cut short (a run killed while writing, a partial copy): say so, and where. */
        int truncated =
            at >= len || strstr(jerr.text, "end of file") || strstr(jerr.text, "premature end");
        if (len == 0)
            return fail(&c, "empty file, not a herd report");
        if (truncated)
            return fail(&c, "truncated: the JSON ends inside %s (line %d, column %d)",
                        path[0] ? path : "the top level", jerr.line, jerr.column);
        return fail(&c, "not JSON at %s (line %d, column %d: %s)", path[0] ? path : "the top level",
                    jerr.line, jerr.column, jerr.text);
    }
    int rc = read_root(&c, root, out);
    json_decref(root);
    return rc;
}

int report_json_read(const char *path, struct report_read *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        memset(out, 0, sizeof *out);
        stats_init(&out->total);
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = ncap <= READ_MAX_BYTES ? realloc(buf, ncap) : NULL;
            if (!nb) {
                rc = HERD_E_TOO_BIG;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int read_err = ferror(f);
    fclose(f);
    if (rc || read_err) {
        free(buf);
        memset(out, 0, sizeof *out);
        stats_init(&out->total);
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path,
                     rc ? "too large for a herd report" : "read error");
        return rc ? rc : HERD_E_INVAL;
    }
    rc = report_json_parse(buf ? buf : "", len, path, out, err, errlen);
    free(buf);
    return rc;
}

void report_read_free(struct report_read *r)
{
    free(r->tool_version);
    free(r->target);
    for (size_t i = 0; i < r->nconfig; i++) {
        free((void *)r->config[i].key);
        free((void *)r->config[i].value);
    }
    stats_free(&r->total);
    report_rows_free(r->rows, r->nrows);
    free(r->rows);
    for (size_t g = 0; g < r->ngroups; g++) {
        struct report_read_group *rg = &r->groups[g];
        free(rg->name);
        free(rg->target);
        free(rg->role);
        for (size_t i = 0; i < rg->nconfig; i++) {
            free((void *)rg->config[i].key);
            free((void *)rg->config[i].value);
        }
        stats_free(&rg->total);
    }
    free(r->groups);
    memset(r, 0, sizeof *r);
}

/* threshold.c - pass/fail conditions for CI: `rtt.p99<20ms`, `errors==0`,
 * `connections.failed<1%`, `messages.received/s>1000`. The grammar is in report.h. */
#include "report/report.h"

#include "base/compiler.h"
#include "base/err.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

#define STAT_MIN -1.0
#define STAT_MAX -2.0
#define STAT_MEAN -3.0
#define STAT_COUNT -4.0

static int fail(char *why, size_t whylen, const char *expr, const char *fmt, ...) PRINTF_LIKE(4, 5);
static int fail(char *why, size_t whylen, const char *expr, const char *fmt, ...)
{
    if (!why || !whylen)
        return HERD_E_INVAL;
    /* The expression comes from the user; control bytes would break the one-line message (they
     * become '?' below). */
    char shown[80];
    size_t n = 0;
    for (const char *p = expr; *p && n < sizeof shown - 4; p++)
        shown[n++] = *p;
    if (expr[n] && n == sizeof shown - 4) {
        memcpy(shown + n, "...", 3);
        n += 3;
    }
    shown[n] = '\0';
    int used = snprintf(why, whylen, "\"%s\": ", shown);
    if (used < 0 || (size_t)used >= whylen)
        return HERD_E_INVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why + used, whylen - (size_t)used, fmt, ap);
    va_end(ap);
    /* ...and parts of it may be quoted again in the reason. */
    for (char *c = why; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    }
    return HERD_E_INVAL;
}

/* digits [ "." digits ] at *s, no sign or exponent (see cli__number for why). */
static int number(const char **s, double *v)
{
    const char *p = *s;
    double x = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9')
        x = x * 10 + (*p++ - '0');
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        double scale = 1;
        while (*p >= '0' && *p <= '9') {
            scale /= 10;
            x += (*p++ - '0') * scale;
        }
    }
    *v = x;
    *s = p;
    return 0;
}

/* Where a counter-like name takes its value from. */
enum source {
    SRC_NONE,
    SRC_CTR, /* stats.ctr[index] */
    SRC_ERRORS, /* all error classes */
    SRC_ERR_CLASS, /* stats.err[index] */
    SRC_HTTP_CODE, /* stats.http_status[index] */
    SRC_CLOSE_CODE, /* stats.close_code[index] */
    SRC_OPEN, /* gauge */
    SRC_PEAK, /* gauge */
    SRC_CONNECTING, /* gauge: attempts in flight as the run ended */
};

static enum source source_lookup(const char *name, int *index)
{
    *index = 0;
    for (int i = 0; i < CTR_COUNT; i++) {
        if (strcmp(name, counter_name[i]) == 0) {
            *index = i;
            return SRC_CTR;
        }
    }
    if (strcmp(name, "connections.open") == 0)
        return SRC_OPEN;
    if (strcmp(name, "connections.peak") == 0)
        return SRC_PEAK;
    if (strcmp(name, "connections.connecting") == 0)
        return SRC_CONNECTING;
    if (strcmp(name, "errors") == 0)
        return SRC_ERRORS;
    if (strncmp(name, "errors.", 7) != 0)
        return SRC_NONE;
    const char *cls = name + 7;
    for (int i = 0; i < ERR_COUNT; i++) {
        size_t len = strlen(err_class_name[i]);
        if (strncmp(cls, err_class_name[i], len) != 0)
            continue;
        if (cls[len] == '\0') {
            *index = i;
            return SRC_ERR_CLASS;
        }
        /* errors.http_status.503, errors.closed_by_server.1001 */
        int limit = i == ERR_HTTP_STATUS        ? STATS_HTTP_CODES
                    : i == ERR_CLOSED_BY_SERVER ? STATS_CLOSE_CODES
                                                : 0;
        if (!limit || cls[len] != '.')
            continue;
        const char *p = cls + len + 1;
        int code = 0;
        if (*p < '0' || *p > '9')
            return SRC_NONE;
        while (*p >= '0' && *p <= '9' && code < limit)
            code = code * 10 + (*p++ - '0');
        if (*p || code >= limit)
            return SRC_NONE;
        *index = code;
        return i == ERR_HTTP_STATUS ? SRC_HTTP_CODE : SRC_CLOSE_CODE;
    }
    return SRC_NONE;
}

/* The ratios that mean something, with what they divide by. */
static int ratio_allowed(const char *name)
{
    return strcmp(name, "connections.failed") == 0 || strcmp(name, "errors") == 0 ||
           strncmp(name, "errors.", 7) == 0 || strcmp(name, "messages.lost") == 0 ||
           strcmp(name, "messages.duplicated") == 0 || strcmp(name, "messages.reordered") == 0;
}

/* "p99" -> 99, "p99.9" -> 99.9, "p999" -> 99.9, "p9999" -> 99.99, "min" -> -1, ... */
static int stat_parse(const char *s, double *out)
{
    if (strcmp(s, "min") == 0)
        *out = STAT_MIN;
    else if (strcmp(s, "max") == 0)
        *out = STAT_MAX;
    else if (strcmp(s, "mean") == 0)
        *out = STAT_MEAN;
    else if (strcmp(s, "count") == 0)
        *out = STAT_COUNT;
    else if (s[0] != 'p')
        return -1;
    else {
        const char *p = s + 1;
        size_t digits = strspn(p, "0123456789");
        double v;
        if (digits > 2 && p[digits] == '\0' && strcmp(p, "100") != 0) {
            /* HdrHistogram's shorthand: the digits after "99" are decimals (p999 = 99.9). */
            if (strncmp(p, "99", 2) != 0 || digits > 12)
                return -1;
            char buf[16];
            snprintf(buf, sizeof buf, "99.%s", p + 2);
            p = buf;
            if (number(&p, &v) != 0 || *p)
                return -1;
        } else if (number(&p, &v) != 0 || *p) {
            return -1;
        }
        if (v <= 0 || v > 100)
            return -2;
        *out = v;
    }
    return 0;
}

static const char *op_text(enum threshold_op op)
{
    static const char *const text[] = {"<", "<=", ">", ">=", "==", "!="};
    return text[op];
}

/* --watch-pid figures: target.<figure>.<stat> */
static const char *const target_figures[] = {"cpu", "cpu_user", "cpu_system",
                                             "rss", "fds",      "threads"};

/* target.<figure>.<max|mean><op><value> (lhs and rhs split by threshold_parse). */
static int target_parse(const char *expr, const char *lhs, const char *rhs, struct threshold *t,
                        char *why, size_t whylen)
{
    const char *fig = lhs + 7;
    const char *dot = strrchr(fig, '.');
    int which = -1;
    for (size_t i = 0; dot && i < ARRAY_SIZE(target_figures); i++) {
        if (strlen(target_figures[i]) == (size_t)(dot - fig) &&
            strncmp(fig, target_figures[i], (size_t)(dot - fig)) == 0)
            which = (int)i;
    }
    if (which < 0)
        return fail(why, whylen, expr,
                    "expected target.<figure>.<max|mean> with figure cpu, cpu_user, cpu_system, "
                    "rss, fds or threads");
    if (strcmp(dot + 1, "max") == 0)
        t->percentile = STAT_MAX;
    else if (strcmp(dot + 1, "mean") == 0)
        t->percentile = STAT_MEAN;
    else
        return fail(why, whylen, expr, "unknown statistic \"%.20s\" (expected max or mean)",
                    dot + 1);
    snprintf(t->name, sizeof t->name, "target.%s", target_figures[which]);
    t->kind = THR_TARGET;
    const char *q = rhs;
    double n;
    if (number(&q, &n) != 0)
        return fail(why, whylen, expr, "expected a number after %s", op_text(t->op));
    if (which <= 2) { /* CPU: percent of one CPU */
        if (*q == '%')
            q++;
    } else if (which == 3) { /* RSS: a size */
        static const struct {
            const char *unit;
            double mul;
        } units[] = {{"", 1},         {"B", 1},          {"k", 1024},         {"K", 1024},
                     {"KiB", 1024},   {"KB", 1024},      {"M", 1048576},      {"MiB", 1048576},
                     {"MB", 1048576}, {"G", 1073741824}, {"GiB", 1073741824}, {"GB", 1073741824}};
        size_t i = 0;
        while (i < ARRAY_SIZE(units) && strcmp(q, units[i].unit) != 0)
            i++;
        if (i == ARRAY_SIZE(units))
            return fail(why, whylen, expr, "expected a size like 512MiB after %s", op_text(t->op));
        n *= units[i].mul;
        q += strlen(q);
    } else if (*q == 'k' || *q == 'K') {
        n *= 1e3, q++;
    } else if (*q == 'M') {
        n *= 1e6, q++;
    }
    if (*q)
        return fail(why, whylen, expr, "expected a %s after %s",
                    which <= 2 ? "percentage like 80%" : "number", op_text(t->op));
    t->limit = n;
    return 0;
}

/* The value of a target threshold over r's rows; returns 0, or -1 when no second has it. */
static int target_value(const struct report *r, const struct threshold *t, double *out)
{
    double sum = 0, most = 0;
    size_t n = 0;
    for (size_t i = 0; r->rows && i < r->nrows; i++) {
        const struct ts_row *row = &r->rows[i];
        if (!row->target_n)
            continue;
        double v;
        if (strcmp(t->name, "target.cpu") == 0)
            v = row->target_cpu_user_pct + row->target_cpu_system_pct;
        else if (strcmp(t->name, "target.cpu_user") == 0)
            v = row->target_cpu_user_pct;
        else if (strcmp(t->name, "target.cpu_system") == 0)
            v = row->target_cpu_system_pct;
        else if (strcmp(t->name, "target.rss") == 0)
            v = (double)row->target_rss_bytes;
        else if (strcmp(t->name, "target.threads") == 0)
            v = (double)row->target_threads;
        else if (row->target_fds >= 0)
            v = (double)row->target_fds;
        else
            continue;
        sum += v;
        most = n == 0 || v > most ? v : most;
        n++;
    }
    if (!n)
        return -1;
    *out = t->percentile == STAT_MAX ? most : sum / (double)n;
    return 0;
}

/* The right side of a time statistic: a time (us, ms or s; a bare number only for 0), or a count
 * for count. */
static int threshold__time_rhs(struct threshold *t, const char *rhs, const char *expr, char *why,
                               size_t whylen)
{
    const char *q = rhs;
    double n;
    if (t->percentile == STAT_COUNT) {
        if (number(&q, &n) != 0 || *q)
            return fail(why, whylen, expr, "expected a count after %s", op_text(t->op));
        t->limit = n;
        return 0;
    }
    if (number(&q, &n) != 0)
        return fail(why, whylen, expr, "expected a time like 20ms after %s", op_text(t->op));
    /* A time needs its unit: a bare 20 would be read in some unit the user did not mean
     * (herd records microseconds, k6 milliseconds). Only 0 is 0 in every unit. */
    if (*q == '\0' && n != 0)
        return fail(why, whylen, expr, "a time needs a unit: %g us, ms or s", n);
    if (*q == '\0' || strcmp(q, "us") == 0)
        t->limit = n;
    else if (strcmp(q, "ms") == 0)
        t->limit = n * 1e3;
    else if (strcmp(q, "s") == 0)
        t->limit = n * 1e6;
    else
        return fail(why, whylen, expr, "expected a time like 20ms after %s (units us, ms, s)",
                    op_text(t->op));
    return 0;
}

int threshold_parse(const char *expr, struct threshold *t, char *why, size_t whylen)
{
    static const char stats_list[] = "p50, p90, p99, p99.9, p999, min, max, mean or count";
    memset(t, 0, sizeof *t);
    t->metric = -1;
    if (!expr)
        expr = "";
    if (strlen(expr) >= sizeof t->expr)
        return fail(why, whylen, expr, "too long (at most %zu characters)", sizeof t->expr - 1);
    strcpy(t->expr, expr);

    /* Split into name, operator and value, allowing spaces around the operator (scenario files
     * quote "rtt.p99 < 20ms"). */
    char lhs[sizeof t->expr], rhs[sizeof t->expr];
    const char *p = expr + strspn(expr, " \t");
    size_t opat = strcspn(p, "<>=!");
    if (p[opat] == '\0') {
        if (!*p)
            return fail(why, whylen, expr,
                        "expected <metric>.<stat><op><value> or <counter><op><value>, e.g. "
                        "rtt.p99<20ms or errors==0");
        return fail(why, whylen, expr, "missing a comparison (<, <=, >, >=, == or !=)");
    }
    size_t l = opat;
    while (l > 0 && (p[l - 1] == ' ' || p[l - 1] == '\t'))
        l--;
    memcpy(lhs, p, l);
    lhs[l] = '\0';
    const char *o = p + opat;
    size_t oplen = 1;
    if (o[0] == '<' && o[1] == '=') {
        t->op = THR_LE;
        oplen = 2;
    } else if (o[0] == '>' && o[1] == '=') {
        t->op = THR_GE;
        oplen = 2;
    } else if (o[0] == '=' && o[1] == '=') {
        t->op = THR_EQ;
        oplen = 2;
    } else if (o[0] == '!' && o[1] == '=') {
        t->op = THR_NE;
        oplen = 2;
    } else if (o[0] == '<') {
        t->op = THR_LT;
    } else if (o[0] == '>') {
        t->op = THR_GT;
    } else if (o[0] == '=') {
        return fail(why, whylen, expr, "use == to compare");
    } else {
        return fail(why, whylen, expr, "expected != after !");
    }
    const char *v = o + oplen;
    v += strspn(v, " \t");
    size_t r = strlen(v);
    while (r > 0 && (v[r - 1] == ' ' || v[r - 1] == '\t'))
        r--;
    memcpy(rhs, v, r);
    rhs[r] = '\0';
    if (!*lhs)
        return fail(why, whylen, expr, "missing a metric or counter before %s", op_text(t->op));
    if (!*rhs)
        return fail(why, whylen, expr, "missing a value after %s", op_text(t->op));
    if (strpbrk(rhs, "<>=!"))
        return fail(why, whylen, expr, "only one comparison per threshold");

    if (strncmp(lhs, "target.", 7) == 0)
        return target_parse(expr, lhs, rhs, t, why, whylen);
    /* The left side: metric.stat, counter/s, or counter. */
    size_t llen = strlen(lhs);
    int is_rate = llen > 2 && strcmp(lhs + llen - 2, "/s") == 0;
    if (is_rate)
        lhs[llen - 2] = '\0';
    const char *dot = strchr(lhs, '.');
    size_t head = dot ? (size_t)(dot - lhs) : strlen(lhs);
    int idx;
    int is_counter = source_lookup(lhs, &idx) == SRC_CTR; /* tls.resumed is no tls statistic */
    /* steps.<name>.<stat>: a flow's request step (the name may hold dots: the stat is the
     * part after the last dot that parses as one). */
    if (!is_rate && strncmp(lhs, "steps.", 6) == 0) {
        const char *last = strrchr(lhs + 6, '.');
        /* p99.9: the stat may hold one dot itself */
        const char *st = last;
        if (last && last > lhs + 6) {
            const char *prev = last - 1;
            while (prev > lhs + 6 && *prev != '.')
                prev--;
            double pv;
            if (*prev == '.' && prev[1] == 'p' && stat_parse(prev + 1, &pv) == 0)
                st = prev;
        }
        if (!st || st == lhs + 5 || st - (lhs + 6) >= (ptrdiff_t)STATS_STEP_NAME || st == lhs + 6)
            return fail(why, whylen, expr, "expected steps.<name>.<stat> with stat %s", stats_list);
        int rc = stat_parse(st + 1, &t->percentile);
        if (rc == -2)
            return fail(why, whylen, expr, "a percentile must be above 0 and at most 100");
        if (rc != 0)
            return fail(why, whylen, expr, "unknown statistic \"%.20s\" (expected %s)", st + 1,
                        stats_list);
        t->kind = THR_PERCENTILE;
        t->metric = -1;
        snprintf(t->name, sizeof t->name, "%.*s", (int)(st - (lhs + 6)), lhs + 6);
        return threshold__time_rhs(t, rhs, expr, why, whylen);
    }
    for (int m = 0; m < M_COUNT && !is_rate && !is_counter; m++) {
        if (strlen(metric_name[m]) != head || strncmp(lhs, metric_name[m], head) != 0)
            continue;
        if (!dot || !dot[1])
            return fail(why, whylen, expr, "expected %s.<stat> with stat %s", metric_name[m],
                        stats_list);
        int rc = stat_parse(dot + 1, &t->percentile);
        if (rc == -2)
            return fail(why, whylen, expr, "a percentile must be above 0 and at most 100");
        if (rc != 0)
            return fail(why, whylen, expr, "unknown statistic \"%.20s\" (expected %s)", dot + 1,
                        stats_list);
        t->kind = THR_PERCENTILE;
        t->metric = m;
        return threshold__time_rhs(t, rhs, expr, why, whylen);
    }

    int index;
    enum source src = source_lookup(lhs, &index);
    if (src == SRC_NONE)
        return fail(why, whylen, expr,
                    "unknown metric or counter \"%.40s\" (e.g. rtt.p99, connections.failed, "
                    "errors, messages.lost)",
                    lhs);
    if (strlen(lhs) >= sizeof t->name)
        return fail(why, whylen, expr, "name too long");
    strcpy(t->name, lhs);
    if (is_rate && (src == SRC_OPEN || src == SRC_PEAK || src == SRC_CONNECTING))
        return fail(why, whylen, expr, "%s is a gauge; /s applies to counters", lhs);

    const char *q = rhs;
    double n;
    if (number(&q, &n) != 0)
        return fail(why, whylen, expr, "expected a number after %s", op_text(t->op));
    if (*q == 'k' || *q == 'K')
        n *= 1e3, q++;
    else if (*q == 'M')
        n *= 1e6, q++;
    else if (*q == 'G')
        n *= 1e9, q++;
    if (*q == '%' && q[1] == '\0') {
        if (is_rate)
            return fail(why, whylen, expr, "a rate cannot be a percentage");
        if (!ratio_allowed(lhs))
            return fail(why, whylen, expr,
                        "a percentage applies only to connections.failed, errors, "
                        "messages.lost, messages.duplicated and messages.reordered");
        t->kind = THR_RATIO;
        t->limit = n;
        return 0;
    }
    if (*q)
        return fail(why, whylen, expr, "expected a number after %s", op_text(t->op));
    t->kind = is_rate ? THR_RATE : THR_COUNTER;
    t->limit = n;
    return 0;
}

static double source_value(const struct stats *s, const char *name)
{
    int i;
    if (!s)
        return 0;
    switch (source_lookup(name, &i)) {
    case SRC_CTR: return (double)s->ctr[i];
    case SRC_ERRORS: return (double)stats_errors_total(s);
    case SRC_ERR_CLASS: return (double)s->err[i];
    case SRC_HTTP_CODE: return (double)s->http_status[i];
    case SRC_CLOSE_CODE: return (double)s->close_code[i];
    case SRC_OPEN: return (double)s->open;
    case SRC_PEAK: return (double)s->peak;
    case SRC_CONNECTING: return (double)s->connecting;
    case SRC_NONE: break;
    }
    return 0;
}

static double ratio_value(const struct stats *s, const char *name)
{
    if (!s)
        return 0;
    double num = source_value(s, name), den;
    if (strcmp(name, "messages.lost") == 0)
        den = (double)s->ctr[CTR_MESSAGES_RECEIVED] + (double)s->ctr[CTR_MESSAGES_LOST];
    else if (strncmp(name, "messages.", 9) == 0)
        den = (double)s->ctr[CTR_MESSAGES_RECEIVED];
    else
        den = (double)s->ctr[CTR_CONNECTIONS_ATTEMPTED];
    /* Nothing attempted means nothing failed: 0 %, and a count threshold catches an empty run. */
    return den > 0 ? num / den * 100.0 : 0;
}

static int compare(double v, enum threshold_op op, double limit)
{
    switch (op) {
    case THR_LT: return v < limit;
    case THR_LE: return v <= limit;
    case THR_GT: return v > limit;
    case THR_GE: return v >= limit;
    case THR_EQ: return v == limit;
    case THR_NE: return v != limit;
    }
    return 0;
}

/* Evaluate t[0..n) on s, appending to r->thresholds with `group` as the label. */
static int eval_on(struct report *r, const struct stats *s, const char *group,
                   const struct threshold *t, size_t n)
{
    int failed = 0;
    if (n > REPORT_MAX_RESULTS - r->nthresholds)
        n = REPORT_MAX_RESULTS - r->nthresholds;
    for (size_t i = 0; i < n; i++) {
        struct threshold_result *res = &r->thresholds[r->nthresholds + i];
        memset(res, 0, sizeof *res);
        res->t = &t[i];
        res->group = group;
        switch (t[i].kind) {
        case THR_PERCENTILE: {
            const struct hist *h = s && t[i].metric >= 0 && t[i].metric < M_COUNT
                                       ? s->hist[t[i].metric]
                                   : s && t[i].metric < 0 ? stats_step_find(s, t[i].name)
                                                          : NULL;
            int64_t count = h ? h->total_count : 0;
            if (t[i].percentile == STAT_COUNT) {
                res->value = (double)count;
            } else if (count == 0) {
                res->no_data = 1;
            } else if (t[i].percentile == STAT_MIN) {
                res->value = (double)hist_min(h);
            } else if (t[i].percentile == STAT_MAX) {
                res->value = (double)hist_max(h);
            } else if (t[i].percentile == STAT_MEAN) {
                res->value = hist_mean(h);
            } else {
                res->value = (double)hist_percentile(h, t[i].percentile);
            }
            break;
        }
        case THR_COUNTER: res->value = source_value(s, t[i].name); break;
        case THR_RATE:
            res->value = r->duration_s > 0 ? source_value(s, t[i].name) / r->duration_s : 0;
            break;
        case THR_RATIO: res->value = ratio_value(s, t[i].name); break;
        case THR_TARGET: res->no_data = target_value(r, &t[i], &res->value) != 0; break;
        }
        res->ok = !res->no_data && compare(res->value, t[i].op, t[i].limit);
        if (!res->ok)
            failed++;
    }
    r->nthresholds += n;
    return failed;
}

int report_thresholds_eval(struct report *r, const struct threshold *t, size_t n)
{
    r->nthresholds = 0;
    return eval_on(r, r->total, NULL, t, n);
}

int report_group_thresholds_eval(struct report *r, size_t g, const struct threshold *t, size_t n)
{
    if (g >= r->ngroups)
        return 0;
    return eval_on(r, r->groups[g].stats, r->groups[g].name, t, n);
}

int report_limit_check(const struct stats *s, uint64_t asked, struct report_limit *out)
{
    static const enum err_class classes[] = {ERR_PORTS, ERR_DESCRIPTORS, ERR_MEMORY};
    memset(out, 0, sizeof *out);
    if (!s || s->peak < 0 || (uint64_t)s->peak >= asked)
        return 0;
    int most = -1;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        if (s->err[classes[i]] && (most < 0 || s->err[classes[i]] > s->err[most]))
            most = (int)classes[i];
    }
    if (most < 0)
        return 0;
    out->asked = asked;
    out->reached = (uint64_t)s->peak;
    out->errors = s->err[most];
    snprintf(out->cause, sizeof out->cause, "%s", err_class_name[most]);
    return 1;
}

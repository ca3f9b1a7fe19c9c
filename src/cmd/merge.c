/* merge.c - `herd merge A.json B.json ...`: merge the JSON reports of the shards of one run
 * (herd run --shard I/N, or the processes of --procs) into one. Counters, errors and histograms
 * add up exactly; what the reports cannot give exactly (the peak, per-second percentiles) is
 * bounded as report.h says.
 *
 * Only shards of one run add up to a run: reports of separate runs (two days' runs of the same
 * target) merged would count every connection twice and look like one run twice the size. So
 * the inputs are checked first: each a shard I/N of the same N, no shard twice, the same
 * settings, and runs that overlapped in time. Anything else is refused (exit 2) unless --force,
 * and then the merged report says what it is made of in its warnings. */
#include "cmd/cmd.h"

#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "report/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Runs whose windows (start to start + duration) are this far apart are not one run's shards:
 * shards started by hand on several hosts may start seconds apart. */
#define MERGE_START_SLACK_S 10.0

/* A warning the merge itself adds (not derived from figures): kept through later merges, but
 * for the one of missing shards, which each merge says again of the shards it then holds. */
#define MERGE_WARNING_PREFIX "merge: "
#define MERGE_MISSING_TEXT " shards are missing"

int merge_finish(struct report_read *m, const struct threshold *thr, size_t nthr,
                 int file_thresholds, const struct report_kv *config, size_t nconfig,
                 const struct report_outputs *outs, int *failed, int *empty)
{
    report_read_merge_done(m);
    struct report rep;
    report_read_view(m, &rep);
    rep.tool_version = HERD_VERSION;
    rep.run_id = getenv("HERD_RUN_ID");
    if (config) {
        memcpy(rep.config, config, nconfig * sizeof config[0]);
        rep.nconfig = nconfig;
    }
    /* The warnings: those the merge itself added (kept from the inputs), then what the merged
     * figures call for, derived again (an input's "rtt: no sample" may not hold of the whole). */
    size_t kept = 0;
    for (size_t i = 0; i < rep.nwarnings; i++) {
        if (strncmp(rep.warnings[i], MERGE_WARNING_PREFIX, strlen(MERGE_WARNING_PREFIX)) == 0)
            memmove(rep.warnings[kept++], rep.warnings[i], sizeof rep.warnings[0]);
    }
    rep.nwarnings = kept;
    *empty = report_warnings_derive(&rep);

    /* The thresholds: the inputs' own (evaluated again, on the merged figures), then the
     * caller's, each expression once. */
    struct threshold *all = xcalloc(REPORT_MAX_RESULTS, sizeof *all);
    size_t n = 0;
    for (size_t i = 0; file_thresholds && i < m->nthresholds && n < REPORT_MAX_THRESHOLDS; i++) {
        char why[256];
        if (m->threshold_group[i][0])
            continue; /* a group's: below */
        if (threshold_parse(m->thresholds[i], &all[n], why, sizeof why) != 0) {
            fprintf(stderr, "herd: merge: ignoring a threshold of the reports: %s\n", why);
            continue;
        }
        n++;
    }
    for (size_t i = 0; i < nthr && n < REPORT_MAX_THRESHOLDS; i++) {
        size_t j = 0;
        while (j < n && strcmp(all[j].expr, thr[i].expr) != 0)
            j++;
        if (j == n)
            all[n++] = thr[i];
    }
    *failed = report_thresholds_eval(&rep, all, n);
    /* A scenario group's thresholds, each on its group's merged figures. */
    size_t ng = n;
    for (size_t i = 0; file_thresholds && i < m->nthresholds && ng < REPORT_MAX_RESULTS; i++) {
        char why[256];
        if (!m->threshold_group[i][0])
            continue;
        size_t g = 0;
        while (g < rep.ngroups && strcmp(rep.groups[g].name, m->threshold_group[i]) != 0)
            g++;
        if (g == rep.ngroups) {
            fprintf(stderr, "herd: merge: ignoring a threshold of group %s, which has no figures\n",
                    m->threshold_group[i]);
            continue;
        }
        if (threshold_parse(m->thresholds[i], &all[ng], why, sizeof why) != 0) {
            fprintf(stderr, "herd: merge: ignoring a threshold of the reports: %s\n", why);
            continue;
        }
        *failed += report_group_thresholds_eval(&rep, g, &all[ng], 1);
        ng++;
    }

    int rc = report_outputs_write(outs, &rep);
    report_warnings_print(stderr, &rep);
    free(all);
    return rc;
}

/* What a merge needs to know of each input to tell whether they are shards of one run. */
struct input_id {
    const char *file;
    unsigned n; /* the N of its "shard" (I/N, or I+J+.../N for a partial merge), 0 for none */
    unsigned *idx; /* its shard numbers, malloc'ed */
    size_t nidx;
    int has_start;
    double start_s, duration_s; /* started_at (Unix seconds) and duration_s */
    struct report_kv *config; /* its config, copied */
    size_t nconfig;
};

/* "I/N" or "I+J+K/N" (a merge of some shards of N) into id. Returns 0, or -1 when it is not
 * that. */
static int shard_parse(const char *v, struct input_id *id)
{
    const char *slash = strchr(v, '/');
    if (!slash)
        return -1;
    char *end;
    unsigned long n = strtoul(slash + 1, &end, 10);
    if (*end || end == slash + 1 || n < 1 || n > 1000000)
        return -1;
    size_t cap = 1;
    for (const char *c = v; c < slash; c++)
        cap += *c == '+';
    id->idx = xcalloc(cap, sizeof *id->idx);
    id->nidx = 0;
    for (const char *c = v; c < slash;) {
        if (*c < '0' || *c > '9')
            return -1;
        unsigned long i = strtoul(c, &end, 10);
        if (i >= n || end > slash || (end < slash && *end != '+'))
            return -1;
        id->idx[id->nidx++] = (unsigned)i;
        c = end < slash ? end + 1 : slash;
    }
    if (!id->nidx)
        return -1;
    id->n = (unsigned)n;
    return 0;
}

/* "2026-12-02T12:15:53.123Z" (as herd writes started_at) into Unix seconds. */
static int rfc3339_parse(const char *text, double *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    double frac = 0, scale = 0.1;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    }
    if (*p != 'Z' || p[1])
        return -1;
    *out = (double)timegm(&tm) + frac;
    return 0;
}

static void input_id_fill(struct input_id *id, const char *file, const struct report_read *r)
{
    memset(id, 0, sizeof *id);
    id->file = file;
    id->config = xcalloc(r->nconfig ? r->nconfig : 1, sizeof *id->config);
    for (size_t i = 0; i < r->nconfig; i++) {
        id->config[i].key = xstrdup(r->config[i].key);
        id->config[i].value = xstrdup(r->config[i].value);
        if (strcmp(r->config[i].key, "shard") == 0 && shard_parse(r->config[i].value, id) != 0) {
            free(id->idx);
            id->idx = NULL;
            id->nidx = 0;
            id->n = 0;
        }
    }
    id->nconfig = r->nconfig;
    id->has_start = r->started_at[0] && rfc3339_parse(r->started_at, &id->start_s) == 0;
    id->duration_s = r->duration_s;
}

static void input_id_free(struct input_id *id)
{
    for (size_t i = 0; i < id->nconfig; i++) {
        free((void *)id->config[i].key);
        free((void *)id->config[i].value);
    }
    free(id->config);
    free(id->idx);
}

/* Settings that differ between the shards of one run: the shard itself, how many local
 * processes each spread its shard over, and what each shows of itself on the side (its own
 * --metrics-listen port, the processes one shard watches). */
static int config_key_ignored(const char *key)
{
    return strcmp(key, "shard") == 0 || strcmp(key, "procs") == 0 ||
           strcmp(key, "metrics_listen") == 0 || strcmp(key, "watch_pid") == 0;
}

static const char *config_value_of(const struct input_id *id, const char *key)
{
    for (size_t i = 0; i < id->nconfig; i++) {
        if (strcmp(id->config[i].key, key) == 0)
            return id->config[i].value;
    }
    return NULL;
}

/* The first setting of b that differs from a's, as "KEY A vs B" in out; 0 when none does. */
static int config_differs(const struct input_id *a, const struct input_id *b, char *out,
                          size_t outlen)
{
    for (int pass = 0; pass < 2; pass++) {
        const struct input_id *x = pass ? b : a, *y = pass ? a : b;
        for (size_t i = 0; i < x->nconfig; i++) {
            const char *key = x->config[i].key;
            if (config_key_ignored(key))
                continue;
            const char *vx = x->config[i].value, *vy = config_value_of(y, key);
            if (vy && strcmp(vx, vy) == 0)
                continue;
            const char *va = pass ? vy : vx, *vb = pass ? vx : vy;
            snprintf(out, outlen, "%s %.80s vs %.80s", key, va ? va : "(not set)",
                     vb ? vb : "(not set)");
            return 1;
        }
    }
    return 0;
}

/* Whether the inputs are the shards of one run. Each reason they are not is one line in
 * why[] (at most maxwhy); returns how many. *missing is set to how many shards of N none of
 * the inputs holds (0 when they are not shards of one N). */
static size_t shards_check(const struct input_id *in, size_t n, char (*why)[REPORT_WARNING_LEN],
                           size_t maxwhy, unsigned *missing)
{
    size_t k = 0;
    *missing = 0;
#define WHY(...)                                                                                   \
    do {                                                                                           \
        if (k < maxwhy)                                                                            \
            snprintf(why[k++], REPORT_WARNING_LEN, __VA_ARGS__);                                   \
    } while (0)
    const struct input_id *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!in[i].n)
            WHY("%s is not a shard (its run had no --shard I/N): a whole run of its own",
                in[i].file);
        else if (!first)
            first = &in[i];
        else if (in[i].n != first->n)
            WHY("%s is a shard of %u, %s of %u: different shard counts", in[i].file, in[i].n,
                first->file, first->n);
    }
    /* Each shard number once. */
    for (size_t i = 0; first && i < n; i++) {
        for (size_t a = 0; in[i].n == first->n && a < in[i].nidx; a++) {
            for (size_t j = 0; j < i; j++) {
                for (size_t b = 0; in[j].n == first->n && b < in[j].nidx; b++) {
                    if (in[i].idx[a] == in[j].idx[b])
                        WHY("%s and %s both hold shard %u of %u", in[j].file, in[i].file,
                            in[i].idx[a], first->n);
                }
            }
        }
    }
    /* The same settings, and runs that overlapped in time (shards run together). */
    for (size_t i = 1; i < n; i++) {
        char diff[200];
        if (config_differs(&in[0], &in[i], diff, sizeof diff))
            WHY("%s ran with other settings than %s: %s", in[i].file, in[0].file, diff);
        if (in[0].has_start && in[i].has_start) {
            double d = in[i].start_s - in[0].start_s;
            const struct input_id *early = d >= 0 ? &in[0] : &in[i];
            double gap = d >= 0 ? d : -d;
            if (gap > early->duration_s + MERGE_START_SLACK_S)
                WHY("%s started %.0f s %s %s, which lasted %.1f s: their runs did not overlap",
                    in[i].file, gap, d >= 0 ? "after" : "before", in[0].file, early->duration_s);
        }
    }
    if (first && !k) {
        unsigned held = 0;
        for (size_t i = 0; i < n; i++)
            held += (unsigned)in[i].nidx;
        *missing = first->n > held ? first->n - held : 0;
    }
#undef WHY
    return k;
}

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

/* The merged report's "shard": none when the inputs made up the whole run (or were not shards
 * of one run), else the shard numbers it holds, "0+2/3", so that it can be merged with the
 * rest later. */
static void merged_shard_set(struct report_read *m, const struct input_id *in, size_t n,
                             unsigned missing, int one_run)
{
    size_t k = 0;
    char *value = NULL;
    if (one_run && missing) {
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
            total += in[i].nidx;
        unsigned *all = xcalloc(total, sizeof *all);
        size_t a = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < in[i].nidx; j++)
                all[a++] = in[i].idx[j];
        qsort(all, total, sizeof *all, cmp_unsigned);
        size_t cap = total * 12 + 16, used = 0;
        value = xmalloc(cap);
        for (size_t i = 0; i < total; i++)
            used += (size_t)snprintf(value + used, cap - used, "%s%u", i ? "+" : "", all[i]);
        snprintf(value + used, cap - used, "/%u", in[0].n);
        free(all);
    }
    for (size_t i = 0; i < m->nconfig; i++) {
        if (strcmp(m->config[i].key, "shard") == 0) {
            if (value) {
                free((void *)m->config[i].value);
                m->config[i].value = value;
                value = NULL;
                m->config[k++] = m->config[i];
            } else {
                free((void *)m->config[i].key);
                free((void *)m->config[i].value);
            }
            continue;
        }
        m->config[k++] = m->config[i];
    }
    m->nconfig = k;
    free(value);
}

/* Judge the inputs of a merge (ids[0..n), merged into m): refuse what is not the shards of one
 * run, each reason one line on stderr, unless force; else put the merge's own warnings first in
 * m's (what it is made of, shards missing) and set its "shard". Returns 0, or -1 when refused. */
static int inputs_judge(struct report_read *m, const struct input_id *ids, size_t n, int force)
{
    char(*why)[REPORT_WARNING_LEN] = xcalloc(REPORT_MAX_WARNINGS, sizeof *why);
    unsigned missing = 0;
    size_t nwhy = shards_check(ids, n, why, REPORT_MAX_WARNINGS - 1, &missing);
    if (nwhy && !force) {
        for (size_t i = 0; i < nwhy; i++)
            fprintf(stderr, "herd: merge: %s\n", why[i]);
        fprintf(stderr, "herd: merge: these reports are not the shards of one run; --force "
                        "merges them anyway\n");
        free(why);
        return -1;
    }
    int one_run = nwhy == 0;
    if (missing && one_run)
        snprintf(why[nwhy++], REPORT_WARNING_LEN, "%u of the %u" MERGE_MISSING_TEXT, missing,
                 ids[0].n);
    /* An input's "shards are missing" was true of it alone. */
    size_t kept = 0;
    for (size_t i = 0; i < m->nwarnings; i++) {
        if (!strstr(m->warnings[i], MERGE_MISSING_TEXT))
            memmove(m->warnings[kept++], m->warnings[i], sizeof m->warnings[0]);
    }
    m->nwarnings = kept;
    /* Said in the merged report (and on stderr with its other warnings): what it is made of,
     * before anything the inputs carried. */
    size_t room = REPORT_MAX_WARNINGS - nwhy;
    m->nwarnings = m->nwarnings < room ? m->nwarnings : room;
    memmove(m->warnings[nwhy], m->warnings[0], m->nwarnings * sizeof m->warnings[0]);
    for (size_t i = 0; i < nwhy; i++)
        snprintf(m->warnings[i], sizeof m->warnings[i], "%s%s", MERGE_WARNING_PREFIX, why[i]);
    m->nwarnings += nwhy;
    merged_shard_set(m, ids, n, missing, one_run);
    free(why);
    return 0;
}

/* The inputs of a merge as they are read: the merged report so far and what each input was. */
struct merge_state {
    struct report_read merged;
    int have;
    struct input_id *ids;
    size_t nids, cap;
    char **names; /* "FILE:LINE" of the reports found in log streams, to free */
    size_t nnames;
    char err[600];
};

/* One report (JSON text) named `name` into the merge. Returns 0, or -1 said in st->err. */
static int merge_add(struct merge_state *st, const char *name, const char *json, size_t len)
{
    struct report_read next;
    struct report_read *r = st->have ? &next : &st->merged;
    if (report_json_parse(json, len, name, r, st->err, sizeof st->err) != 0) {
        report_read_free(r);
        return -1;
    }
    if (st->nids == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 8;
        st->ids = xrealloc(st->ids, st->cap * sizeof *st->ids);
    }
    input_id_fill(&st->ids[st->nids++], name, r);
    if (!st->have) {
        st->have = 1;
        return 0;
    }
    report_read_merge(&st->merged, &next);
    report_read_free(&next);
    return 0;
}

struct stream_ctx {
    struct merge_state *st;
    const char *file;
};

static int block_add(void *ctx, const struct report_block *b)
{
    struct stream_ctx *c = ctx;
    struct merge_state *st = c->st;
    size_t n = strlen(c->file) + 16;
    char *name = xmalloc(n);
    snprintf(name, n, "%s:%u", c->file, b->json_line);
    st->names = xrealloc(st->names, (st->nnames + 1) * sizeof *st->names);
    st->names[st->nnames++] = name;
    return merge_add(st, name, b->json, b->len) == 0 ? 0 : -1;
}

/* Log streams of many shards (concatenated `kubectl logs`) can be large. */
#define MERGE_INPUT_MAX (1ull << 30)

/* One input: a JSON report file, or a log (a file, or "-" for stdin) holding report blocks
 * among other lines (`herd run --json -`). Returns 0, or -1 said in st->err. */
static int merge_input(struct merge_state *st, const char *file)
{
    char *text = NULL;
    size_t len = 0;
    int rc =
        file_read_all(strcmp(file, "-") == 0 ? "/dev/stdin" : file, MERGE_INPUT_MAX, &text, &len);
    if (rc != 0) {
        snprintf(st->err, sizeof st->err, "%s: %s", file,
                 rc == HERD_E_TOO_BIG ? "larger than 1 GiB" : strerror(-rc));
        return -1;
    }
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    if (i < len && text[i] == '{') { /* a report file */
        rc = merge_add(st, file, text, len);
        free(text);
        return rc;
    }
    struct stream_ctx c = {st, file};
    rc = report_blocks_scan(text, len, file, block_add, &c, st->err, sizeof st->err);
    free(text);
    if (rc == 0)
        snprintf(st->err, sizeof st->err,
                 "%s: no herd report in it (neither a JSON report nor a log with \"%sbegin\" "
                 "blocks of herd run --json -)",
                 file, REPORT_BLOCK_MARK);
    return rc > 0 ? 0 : -1;
}

int cmd_merge(int argc, char **argv)
{
    struct merge_options mo;
    char err[600];
    int code = EXIT_USAGE;
    struct merge_state st;
    memset(&st, 0, sizeof st);

    int rc = cli_merge_parse(argc, argv, &mo, err, sizeof err);
    if (rc == CLI_HELP) {
        code = EXIT_OK;
        goto out;
    }
    if (rc < 0) {
        fprintf(stderr, "herd: %s\n", err);
        goto out;
    }
    /* The outputs before the inputs: a path that cannot be written is said before the work. */
    struct report_outputs outs;
    cli_run_outputs(&mo.run, stdout, &outs);
    if (report_outputs_check(&outs, err, sizeof err) != 0) {
        fprintf(stderr, "herd: %s\n", err);
        goto out;
    }

    for (size_t f = 0; f < mo.nfiles; f++) {
        if (merge_input(&st, mo.files[f]) != 0) {
            fprintf(stderr, "herd: %s\n", st.err);
            goto out;
        }
    }

    if (st.nids > 1 && inputs_judge(&st.merged, st.ids, st.nids, mo.run.force) != 0)
        goto out;

    int failed = 0, empty = 0;
    if (merge_finish(&st.merged, mo.run.thresholds, mo.run.nthresholds, 1, NULL, 0, &outs, &failed,
                     &empty) != 0)
        code = EXIT_USAGE;
    else
        code = failed ? EXIT_THRESHOLD : EXIT_OK;
out:
    if (st.have)
        report_read_free(&st.merged);
    for (size_t i = 0; i < st.nids; i++)
        input_id_free(&st.ids[i]);
    free(st.ids);
    for (size_t i = 0; i < st.nnames; i++)
        free(st.names[i]);
    free(st.names);
    cli_merge_options_free(&mo);
    return code;
}

/* report.h - everything herd tells the user after (and during) a run: the live line, the summary
 * table, the JSON report (DESIGN.md version 1), CSV time series, thresholds.
 *
 * The report module reads snapshots (struct stats, struct report), never live worker state. A
 * report file is written atomically (a temporary file in the same directory, fsync, rename) when
 * it is a regular file; a device or a FIFO is written in place (atomic_file_write). */
#ifndef HERD_REPORT_REPORT_H
#define HERD_REPORT_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/compiler.h"
#include "stats/procwatch.h"
#include "stats/stats.h"

/* One row of the time series: one interval (normally one second). */
struct ts_row {
    double t; /* seconds since the run started, at the end of the interval */
    int64_t open; /* connections open at the end of the interval */
    uint64_t attempted, opened, failed, closed, reconnects;
    uint64_t pending; /* attempts cut short in the interval (connections.pending) */
    int64_t connecting; /* attempts in flight at the end of the interval: summed over the rows
                           up to this one, attempted = opened + failed + pending + connecting */
    uint64_t sent, received, errors;
    uint64_t count[M_COUNT]; /* histogram samples in the interval */
    int64_t p50_us[M_COUNT]; /* per-interval percentiles, 0 when count is 0 */
    int64_t p99_us[M_COUNT];
    /* The interval's histogram of each metric as HdrHistogram V2 compressed base64 text
     * (hist_v2_encode), malloc'ed and owned by the row (report_rows_free); NULL when count[m] is
     * 0 or the histogram is not known (a report written before rows carried them). What --hlog
     * writes, and what lets merged rows keep exact percentiles. */
    char *hdr[M_COUNT];
    /* The watched processes (--watch-pid) at the end of the interval, summed over those alive:
     * target_n of them (0: none watched, or every one gone). CPU in percent of one CPU over the
     * interval; target_fds is -1 when some process's descriptors could not be counted. */
    int target_n;
    double target_cpu_user_pct, target_cpu_system_pct;
    uint64_t target_rss_bytes, target_threads;
    int64_t target_fds;
};

/* Free the hdr texts of rows[0..n) (not the array itself). */
void report_rows_free(struct ts_row *rows, size_t n);

/* Set row->hdr[m] (replacing any) to the V2 text of h and count, p50 and p99 from it; an empty h
 * clears them. Returns 0, or HERD_E_NOMEM (row left without hdr[m]). */
int report_row_set_hist(struct ts_row *row, int m, const struct hist *h);

/* A configuration item echoed in the report's "config" object. */
struct report_kv {
    const char *key; /* option name, e.g. "connections" */
    const char *value; /* its effective value as text */
    int is_number; /* emit as a JSON number (value must then be a valid number; "true" and
                      "false" become JSON booleans; anything else falls back to a string) */
};

#define REPORT_MAX_CONFIG 64
#define REPORT_MAX_THRESHOLDS 32 /* per list: the run's, or one group's */
#define REPORT_MAX_RESULTS 256 /* threshold results of a report, the run's and every group's */
#define REPORT_MAX_GROUPS 64 /* scenario groups (scenario.h: SCENARIO_MAX_GROUPS) */
#define REPORT_GROUP_NAME 64 /* a group name with its NUL */

/* A threshold such as `rtt.p99<20ms`, `errors==0`, `connections.failed<1%`,
 * `messages.received/s>1000`. */
enum threshold_kind {
    THR_PERCENTILE, /* metric.pNN (or .min .max .mean .count): value in us */
    THR_COUNTER, /* counter total, or `errors` (all classes), or errors.<class> */
    THR_RATE, /* counter per second of run time: name/s */
    THR_RATIO, /* percent: connections.failed / connections.attempted, errors / attempted,
                  messages.lost / (received + lost) */
    THR_TARGET, /* --watch-pid: target.<figure>.<max|mean> over the time series' seconds */
};
enum threshold_op { THR_LT, THR_LE, THR_GT, THR_GE, THR_EQ, THR_NE };

struct threshold {
    char expr[128]; /* as written */
    enum threshold_kind kind;
    enum threshold_op op;
    int metric; /* enum metric for THR_PERCENTILE */
    double percentile; /* 99.9 for p999/p99.9; -1 min, -2 max, -3 mean, -4 count */
    char name[64]; /* counter name for THR_COUNTER/THR_RATE/THR_RATIO */
    double limit; /* in us for percentiles, plain number otherwise, percent for ratio */
};

/* Parse expr. Returns 0, or HERD_E_INVAL with a one-line reason in why[0..whylen) that quotes
 * the expression.
 * Grammar (spaces around the operator allowed; op is one of < <= > >= == !=):
 *   <metric>.<stat><op><time>   metric from metric_name[]; stat p50, p90, p99, p99.9, p999,
 *                               p9999, pNN, pNN.N, min, max, mean: time is a number with unit
 *                               us, ms or s, and a bare number is microseconds;
 *                               stat count: a plain count
 *   steps.<name>.<stat><op><time>  a flow's request step (stats_step_find by name; the
 *                               stat is the part after the last dot, p99.9 taken whole)
 *   <counter><op><N>            counter_name[] entries, the gauges connections.open,
 *                               connections.peak and connections.connecting,
 *                               errors (all classes), errors.<class>,
 *                               errors.http_status.<code>, errors.closed_by_server.<code>;
 *                               N may carry k, M or G (powers of 1000)
 *   <counter>/s<op><N>          per second of run time (not for the gauges)
 *   target.<figure>.<stat><op><V>  the watched processes (--watch-pid), summed per second:
 *                               figure cpu, cpu_user, cpu_system (V in percent of one CPU,
 *                               the % optional), rss (V a size: B, k/KiB, M/MiB, G/GiB, powers
 *                               of 1024), fds, threads (counts); stat max or mean over the
 *                               seconds sampled
 *   <counter><op><N>%           a ratio in percent: connections.failed and errors (and
 *                               errors.<class>) over connections.attempted, messages.lost over
 *                               messages.received + messages.lost, messages.duplicated and
 *                               messages.reordered over messages.received */
int threshold_parse(const char *expr, struct threshold *t, char *why, size_t whylen);

struct threshold_result {
    const struct threshold *t;
    const char *group; /* the scenario group it was checked on, NULL for the whole run */
    int ok;
    double value; /* measured: us for percentiles, count, per second, or percent */
    int no_data; /* a time statistic of a metric without samples: no value, and not ok (an
                    empty histogram must not pass rtt.p99<20ms in CI) */
};

/* One --stages stage as it went: did the open count reach the target, and when. */
struct report_stage {
    uint64_t target; /* connections this process was to hold at the stage's end */
    double start_s; /* stage start, seconds since the run started */
    double end_s; /* stage end */
    int reached; /* a per-second sample saw the open count at (ramping up: at least; down: at
                    most) the target, during the stage or within 1.5 s after its end */
    double reached_at_s; /* when it first did, seconds since the run started */
};
#define REPORT_MAX_STAGES 64

/* One group of a scenario (herd run -f): its own figures, beside the run's totals. */
struct report_group {
    const char *name;
    const char *target; /* its URL */
    const char *role; /* "ping", "subscribe", ... */
    const struct stats *stats; /* counters, errors, histograms, open and peak of the group */
    const struct report_kv *config; /* its effective options */
    size_t nconfig;
};

/* A local limit that kept the run below the connections asked for (the "limit" object):
 * applies when the peak stayed below `asked` and errors of class ports, descriptors or memory
 * occurred. */
struct report_limit {
    uint64_t asked; /* connections asked for (-c or the largest stage target); 0 = no limit hit */
    uint64_t reached; /* the peak of open connections */
    char cause[16]; /* "ports", "descriptors" or "memory": the class with the most errors */
    uint64_t errors; /* errors of that class */
};

/* Whether the limit applies to a run with these figures that asked for `asked` connections;
 * fills *out (zeroed when not). */
int report_limit_check(const struct stats *s, uint64_t asked, struct report_limit *out);

/* One watched process (--watch-pid), over the run: the "targets" list of the report. */
#define REPORT_MAX_TARGETS 8
struct report_target {
    int pid;
    char name[32]; /* its command name (/proc/PID/comm) */
    uint64_t samples; /* seconds it was sampled */
    double exited_at_s; /* when it was first seen gone, seconds since the run started; -1: it
                           lived to the end */
    double cpu_max_pct, cpu_mean_pct; /* user + system, percent of one CPU */
    double cpu_user_mean_pct, cpu_system_mean_pct;
    uint64_t rss_max_bytes, rss_last_bytes;
    int64_t fds_max; /* -1: never counted (no permission) */
    uint64_t threads_max;
};

/* A new summary for process pid called name (nothing sampled yet, not exited). */
void report_target_init(struct report_target *t, int pid, const char *name);

/* Fold one second's sample of a watched process into its summary and into row's target_* sums
 * (row->t is the second's end). s NULL: the process is gone (its exit time becomes row->t the
 * first time). */
void report_target_note(struct report_target *t, struct ts_row *row,
                        const struct procwatch_sample *s);

/* When the run started, for runs told when (--start-at): the "start" object. Times are
 * CLOCK_REALTIME, ns since the epoch. A merge keeps the earliest plan, the earliest and latest
 * actual start (their difference is the largest start skew between the shards) and the most a
 * shard started late. */
struct report_start {
    uint64_t planned_ns; /* 0: the run had no --start-at (no "start" object) */
    uint64_t first_ns, last_ns; /* the earliest and the latest actual start */
    int64_t late_max_ns; /* the most a start came after the plan */
    unsigned shards; /* how many starts these are of */
};

/* Merge b into a (either may be unset). */
void report_start_merge(struct report_start *a, const struct report_start *b);

#define REPORT_MAX_WARNINGS 32
#define REPORT_WARNING_LEN 384 /* one warning with its NUL */

/* Where a run ran and how it was asked for (the report's "environment" object; all empty in a
 * report written before herd recorded it). */
struct report_env {
    char command_line[2048]; /* "herd run ws://... -c 100", words with spaces quoted */
    char host[256]; /* uname nodename */
    char kernel[200]; /* uname sysname release machine */
    unsigned cpus; /* online CPUs, 0 = unknown */
    uint64_t nofile; /* the descriptor limit (RLIMIT_NOFILE soft) when the report was made */
};

/* Remember this process's command line for report_env_fill (main calls it once). */
void report_env_command_line_set(int argc, char *const *argv);

/* Fill *e from this machine (uname, sysconf, getrlimit) and the command line set above. */
void report_env_fill(struct report_env *e);

struct report {
    const char *tool_version;
    /* 0 when cut short (a signal, every connection gone) or when attempts were still connecting
     * as the run ended (connections.connecting: the report cannot say how they went) */
    int complete;
    const char *target; /* URL */
    char started_at[40]; /* RFC 3339 UTC with milliseconds */
    double duration_s; /* measured run time */
    unsigned shards; /* 1, or how many reports were merged */
    struct report_kv config[REPORT_MAX_CONFIG];
    size_t nconfig;
    const struct stats *total;
    const struct ts_row *rows;
    size_t nrows;
    struct threshold_result thresholds[REPORT_MAX_RESULTS];
    size_t nthresholds;
    struct report_stage stages[REPORT_MAX_STAGES];
    size_t nstages;
    /* Scenario groups; none for a single-URL run (the JSON then has no "groups" object). */
    struct report_group groups[REPORT_MAX_GROUPS];
    size_t ngroups;
    struct report_limit limit;
    struct report_start start;
    const char *run_id; /* HERD_RUN_ID, for the markers of `--json -` (NULL: none) */
    /* What the figures do not say by themselves (the "warnings" list): a role's main figure
     * that stayed empty, every connection ended in an error, clocks that disagree, publisher id
     * collisions, attempts still connecting at the end, a merge of reports that are not shards
     * of one run. One line each, without "herd: warning: ". */
    char warnings[REPORT_MAX_WARNINGS][REPORT_WARNING_LEN];
    size_t nwarnings;
    struct report_env env; /* the "environment" object; host "" = none */
    struct report_target targets[REPORT_MAX_TARGETS]; /* --watch-pid */
    size_t ntargets;
};

/* Append one warning to r (printf-like), unless r holds it already or is full. */
void report_warning_add(struct report *r, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* The warnings r's figures call for, appended to r->warnings (the run's, and each scenario
 * group's prefixed with "group NAME: "): the main figure of a role that stayed empty (ping and
 * echo: rtt; subscribe: latency; publish: messages sent beyond each connection's first
 * --pipeline), every connection that opened ended in an error (named by class), stamps ahead of
 * herd's clock (latency.ahead), publisher id collisions (stamps.collisions), attempts still
 * connecting when the run ended (connections.connecting). A role is read from the group, or
 * from the "role" of r->config; --rate and --pipeline from the config too. Computed from
 * figures that merge exactly, so a merged report gets the warnings of its merged figures.
 * Returns 1 when the run measured nothing (an empty main figure, or every connection ended in
 * an error, in the run or in some group), else 0. */
int report_warnings_derive(struct report *r);

/* Print r's warnings on out, one "herd: warning: ..." line each. */
void report_warnings_print(FILE *out, const struct report *r);

/* Judge each stage from the time series' per-second open counts (fills reached and
 * reached_at_s of r->stages[0..nstages), whose target, start_s and end_s the caller set). */
void report_stages_eval(struct report *r);

/* Evaluate every threshold against r's totals, filling r->thresholds from the start (any
 * earlier results are dropped). Returns how many failed. */
int report_thresholds_eval(struct report *r, const struct threshold *t, size_t n);

/* Evaluate thresholds on group g's figures (rates over the run's duration), appending the
 * results (marked with the group's name) after those already in r->thresholds. Returns how many
 * failed. */
int report_group_thresholds_eval(struct report *r, size_t g, const struct threshold *t, size_t n);

/* Write the JSON report (DESIGN.md version 1) atomically; path "-" writes it on stdout as a
 * block that survives among log lines (report_json_block_write). Returns 0, or a negative error
 * with a one-line message in err. */
int report_json_write(const struct report *r, const char *path, char *err, size_t errlen);

/* Write the time series as CSV (header row + one row per interval) atomically. */
int report_csv_write(const struct report *r, const char *path, char *err, size_t errlen);

/* Write the HTML report (html.c) atomically: one self-contained page with the summary, the time
 * series and percentile distributions as inline SVG charts, errors, thresholds, the
 * configuration and the environment. report_html_render builds it in memory (*out malloc'ed);
 * returns 0 or HERD_E_NOMEM. */
int report_html_write(const struct report *r, const char *path, char *err, size_t errlen);
int report_html_render(const struct report *r, char **out, size_t *len);
/* Several reports on one page (herd demo: ping, echo, broadcast), each under its title, with
 * `title` over them all. */
int report_html_write_set(const struct report *const *r, const char *const *titles, size_t n,
                          const char *title, const char *path, char *err, size_t errlen);

/* One scenario group's live figures. */
struct report_live_group {
    const char *name;
    const struct stats *total; /* since the start */
    int64_t open; /* at the last second's end */
};

/* The live figures at one tick, for --metrics-listen. */
struct report_live {
    const char *tool_version;
    const struct stats *total; /* counters, errors and histograms since the start */
    int64_t open, connecting, peak;
    double elapsed_s;
    const struct ts_row *row; /* the last time-series row (its target_* figures), or NULL */
    const struct report_live_group *groups; /* a scenario's groups (herd_group_*), or none */
    size_t ngroups;
};

/* Prometheus text exposition (version 0.0.4) of l into *text (malloc'ed, NUL terminated).
 * Returns its length, or HERD_E_NOMEM. */
long report_prom_render(const struct report_live *l, char **text);

/* Write the HdrHistogram interval log (the V1.3 format of HdrHistogram's HistogramLogWriter):
 * one line per second per timed histogram with samples in it, tagged with the metric's name,
 * from the rows' hdr texts. Values are microseconds; Interval_Max is in milliseconds. */
int report_hlog_write(const struct report *r, const char *path, char *err, size_t errlen);

/* A report file format: writes r to path (with atomic_file_write). Returns 0, or a negative error
 * with a one-line message in err. */
typedef int report_write_fn(const struct report *r, const char *path, char *err, size_t errlen);

/* One report file a run asked for. */
struct report_output {
    const char *option; /* the option that asked for it, without dashes ("json"): messages say
                           "--json: ..." */
    const char *path;
    report_write_fn *write; /* NULL: a format herd does not write yet */
};

#define REPORT_MAX_OUTPUTS 8

/* Everything a run (or a merge) shows and writes at its end: the summary table and the report
 * files. cli_run_outputs fills it from the command line. */
struct report_outputs {
    FILE *summary; /* where the summary table goes, NULL = nowhere */
    struct report_output file[REPORT_MAX_OUTPUTS];
    size_t nfiles;
};

/* Before the run: every file is of a format herd writes and its path can be written
 * (atomic_file_check). Returns 0, or a negative error with "--OPTION: PATH: why" in err for the
 * first that cannot. */
int report_outputs_check(const struct report_outputs *o, char *err, size_t errlen);

/* After the run: the summary on o->summary (then flushed, so that a report written through
 * /dev/stdout comes after it), then every file, each whatever became of the others. Each failure
 * is one line "herd: --OPTION: PATH: why" on stderr. Returns 0, or -1 when a file could not be
 * written. */
int report_outputs_write(const struct report_outputs *o, const struct report *r);

/* The final human summary: connections, messages, each non-empty histogram's
 * min/p50/p90/p95/p99/p99.9/max, the fan-out ratios, errors by class with HTTP statuses and
 * close codes, recovery after drops with the busiest second of attempts, thresholds. */
void report_summary_print(FILE *out, const struct report *r);

/* The live line (one per second on a terminal, overwritten with \r): elapsed, open connections,
 * msgs/s out and in, p50/p99 of the last interval of `metric` (-1: none), errors. When `out` is
 * not a terminal each call prints a whole line; on a terminal the caller ends the last one with
 * a newline. */
void report_live_print(FILE *out, const struct ts_row *row, double interval_s, int metric);

/* Write len bytes to path. A regular file (or a new one) is written atomically: a temporary file
 * in its directory, fsync, rename; a symlink to one stays a symlink and the file it names is
 * replaced, keeping its permission bits. A character device or a FIFO (/dev/null, a named pipe)
 * is written in place, and so is a descriptor named through /proc (/dev/stdout, /dev/fd/N;
 * appended to when it is a regular file): a rename would replace the node. A read-only file, a
 * directory, a block device and a socket are refused, and so is a FIFO nobody reads. Returns 0
 * or -errno with a one-line message naming path in err. */
int atomic_file_write(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* Whether atomic_file_write(path) can be expected to work, checked before a run rather than
 * after it: what it would refuse is refused here with the same message, and for a regular or a
 * new file a temporary file is created in its directory and removed again. Returns 0 or -errno
 * with a message in err. */
int atomic_file_check(const char *path, char *err, size_t errlen);

/* Format a duration in us for humans: "412us", "3.21ms", "1.50s". */
void report_fmt_us(char *out, size_t outlen, double us);

/* ---- comparing two runs (`herd report BASE.json NEW.json`, compare.c) ---- */

/* One --max-regression limit: "10%" (the default set: every histogram's p50 to p99.9 and the
 * message rates, of the run and of each scenario group), "rtt=10%" (rtt's p50 to p99.9),
 * "rtt.p99=10%" (one figure), "subs:rtt.p99=10%" (one figure of scenario group subs). */
struct report_regression {
    char metric[REPORT_GROUP_NAME + 64]; /* "" = the default set */
    double pct; /* how much worse NEW may be than BASE, in percent */
};
#define REPORT_MAX_REGRESSIONS 32

/* Parse one --max-regression value, which may list several limits separated by commas, into
 * out[*n..max). Returns 0, or HERD_E_INVAL with a one-line reason quoting the value in why. */
int report_regression_parse(const char *text, struct report_regression *out, size_t *n, size_t max,
                            char *why, size_t whylen);

enum report_cmp_kind { CMP_TIME, CMP_COUNT, CMP_RATE, CMP_SECONDS };

/* One figure of both runs. */
struct report_cmp_row {
    /* "rtt.p99", "messages.received/s", "connections.failed"; a scenario group's figures are
     * "GROUP:rtt.p99" */
    char name[REPORT_GROUP_NAME + 64];
    enum report_cmp_kind kind;
    int dir; /* +1: higher is worse (times, failures), -1: lower is worse (rates), 0: neither */
    int has_base, has_new; /* a histogram without samples has no percentiles */
    double base, nw;
    double delta_pct; /* (new - base) / base in percent; +-INFINITY from 0; NAN without both */
    double limit; /* the --max-regression limit on it in percent, NAN = not judged */
    int in_default; /* judged by a bare limit ("10%") */
    int regressed; /* worse by more than limit, or judged and missing from NEW */
};

struct report_compare {
    struct report_cmp_row *rows; /* malloc'ed */
    size_t n;
    size_t nregressed;
    const char *base_name, *new_name; /* the file names, for the headings */
    const struct report *base, *nw;
};

/* Compare base and nw (the histograms' percentiles, the main counters and rates) and judge the
 * limits rg[0..nrg). Returns 0, or HERD_E_INVAL with "--max-regression: ..." in err when a limit
 * names a figure neither report has. Free with report_compare_free. */
int report_compare_build(const struct report *base, const struct report *nw, const char *base_name,
                         const char *new_name, const struct report_regression *rg, size_t nrg,
                         struct report_compare *out, char *err, size_t errlen);
/* The comparison as a table with deltas, regressions marked, a verdict line when judged. */
void report_compare_print(FILE *out, const struct report_compare *c);
/* The comparison as one self-contained HTML page: the table and, per histogram, both runs'
 * percentile distributions in one chart; connections and messages per second of both. */
int report_compare_html_write(const struct report_compare *c, const char *path, char *err,
                              size_t errlen);
void report_compare_free(struct report_compare *c);

/* ---- reading reports back (`herd merge`, `herd run --procs`) ---- */

/* A JSON report (version 1) read back. It owns everything it points to; free it with
 * report_read_free. Histograms are decoded from their "hdr" text, so they are exact and merge
 * exactly. What the JSON does not carry is not invented: a time-series row's count[m] is 1 when
 * the row has percentiles of metric m, else 0 (the per-interval sample counts are not written). */
/* A scenario group read back. */
struct report_read_group {
    char *name;
    char *target; /* NULL when absent */
    char *role; /* NULL when absent */
    struct report_kv config[REPORT_MAX_CONFIG]; /* malloc'ed, as report_read's */
    size_t nconfig;
    struct stats total;
    int64_t peak_sum; /* for merging: the sum of the peaks merged in */
};

struct report_read {
    char *tool_version; /* "version" (NULL when absent) */
    int complete;
    char *target; /* NULL when null or absent */
    char started_at[40]; /* as written, "" when absent */
    double duration_s;
    unsigned shards;
    struct report_kv config[REPORT_MAX_CONFIG]; /* key and value malloc'ed; numbers and
                                                   booleans as text with is_number set */
    size_t nconfig;
    struct stats total; /* counters, errors (by code too), gauges, histograms */
    int64_t peak_sum; /* sum of the connections.peak of every report merged in (for merging) */
    struct ts_row *rows; /* malloc'ed */
    size_t nrows;
    struct report_stage stages[REPORT_MAX_STAGES];
    size_t nstages;
    char thresholds[REPORT_MAX_RESULTS][128]; /* the "expr" of each threshold */
    char threshold_group[REPORT_MAX_RESULTS][REPORT_GROUP_NAME]; /* its "group", "" = the run */
    size_t nthresholds;
    struct report_read_group *groups; /* malloc'ed; ngroups entries */
    size_t ngroups;
    struct report_limit limit;
    struct report_start start;
    char warnings[REPORT_MAX_WARNINGS][REPORT_WARNING_LEN]; /* the "warnings" list as written */
    size_t nwarnings;
    struct report_env env; /* "environment", zeroed when absent; a merge keeps the first's */
    struct report_target targets[REPORT_MAX_TARGETS]; /* the "targets" list (--watch-pid) */
    size_t ntargets;
};

/* Read the JSON report at path into *out (which the caller frees with report_read_free, whatever
 * the result). Returns 0, or a negative error with one line in err that names the file and what
 * is wrong, e.g. "a.json: not a herd report (report_version missing)". Never crashes on
 * malformed input. report_json_parse does the same from memory; `name` labels the messages. */
int report_json_read(const char *path, struct report_read *out, char *err, size_t errlen);
int report_json_parse(const char *text, size_t len, const char *name, struct report_read *out,
                      char *err, size_t errlen);
void report_read_free(struct report_read *r);

/* ---- reports in a log stream (`herd run --json -`, `herd merge`): json_blocks.c ---- */

/* A JSON report written to a log stream is one block of three lines:
 *   ---- herd report begin run=RUN shard=I/N ----
 *   {"tool":"herd",...}                 (the JSON report on one line)
 *   ---- herd report end run=RUN shard=I/N bytes=LEN ----
 * RUN is HERD_RUN_ID ("-" without one), I/N the shard ("0/1" for a run without --shard) and LEN
 * the bytes of the JSON line. */
#define REPORT_BLOCK_MARK "---- herd report "
#define REPORT_BLOCK_JSON_START "{\"tool\":\"herd\""

/* Write r as such a block on out, in one write, and flush. run_id NULL: "-". Returns 0, or a
 * negative error with one line in err. */
int report_json_block_write(const struct report *r, FILE *out, const char *run_id, char *err,
                            size_t errlen);

/* One block found in a stream. */
struct report_block {
    const char *json; /* the JSON report (into the scanned text), not NUL-terminated */
    size_t len;
    unsigned line; /* the line of its begin marker (from 1) */
    unsigned json_line; /* the line of the JSON */
    char labels[96]; /* "run=RUN shard=I/N" as the begin marker gives them */
};

/* Called for each block in order; a non-zero return ends the scan with it. */
typedef int report_block_fn(void *ctx, const struct report_block *b);

/* Find every report block in text[0..len) (any other lines are passed over: a log). A marker
 * counts anywhere in its line and the JSON from its REPORT_BLOCK_JSON_START, so prefixes that log
 * collectors put on lines (kubectl logs --prefix, --timestamps) do no harm, and so do other lines
 * inside a block (stderr interleaved). Returns how many blocks were found (0 for none), or a
 * negative error with "NAME:LINE: what" in err for a block that is not whole: a begin without an
 * end (a truncated log), an end without a begin, an end whose labels are another block's, a JSON
 * line whose length is not the end marker's, a block without a report or with two; or fn's
 * non-zero return. The JSON itself is not checked here. */
int report_blocks_scan(const char *text, size_t len, const char *name, report_block_fn *fn,
                       void *ctx, char *err, size_t errlen);

/* Merge src into dst, exactly where the figures allow: counters, errors and histograms add up
 * (bucket by bucket), connections.open and connections.connecting add up, the most a stamp lay
 * ahead is the larger, duration_s is the longest, complete only if both are, shards add up,
 * started_at is the earliest, the starts of --start-at as report_start_merge says,
 * thresholds and warnings are the union. Time-series rows are
 * aligned by index: counts, open and connecting add up, t is the later;
 * per-row percentiles cannot be merged from p50/p99 alone, so each becomes the larger of the
 * two, an upper bound of the true merged percentile. Stages add their targets (dropped when the
 * reports have different stages). Groups merge by name (a group only one report has is taken
 * as it is); a group's peak becomes the sum of the peaks (an upper bound: groups have no time
 * series). The limit's asked and reached add up. Call report_read_merge_done once after the last
 * merge. */
void report_read_merge(struct report_read *dst, const struct report_read *src);

/* Finish a merge: connections.peak becomes the highest summed `open` of the aligned time-series
 * rows, or the highest single peak if that is more (a lower bound of the true peak, which no
 * report records); without time series, the sum of the peaks (an upper bound). The stages are
 * judged again on the merged rows. */
void report_read_merge_done(struct report_read *r);

/* A struct report that points into r (valid while r lives), for the writers, the summary and
 * thresholds. tool_version is left for the caller to set. */
void report_read_view(const struct report_read *r, struct report *out);

#endif

/* cli.h - command lines into the params structs of client, server and report.
 *
 * Every user error becomes one line naming the option and what was expected, e.g.
 *   --rate: expected a number with optional /s, got "fast"
 * and the caller exits 2. Parsers of units (durations, sizes, rates, counts) are shared with
 * scenario files. One table of options (options.c) gives the parsers, --help, the scenario keys
 * (cli_run_option_flags), what `--procs` passes on to its children and the report files
 * (cli_run_outputs). */
#ifndef HERD_CLI_CLI_H
#define HERD_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client/client.h"
#include "report/report.h"
#include "server/server.h"

#define RUN_MAX_WATCH 8 /* --watch-pid processes */

/* The result of `herd run`'s command line. Strings (URL, paths, headers, --message) point into
 * argv (or the values given to cli_run_option), which must outlive the struct. */
struct run_options {
    struct client_params client;
    /* The report files asked for (NULL = none); cli_run_outputs lists them with their writers. */
    const char *json_path, *csv_path, *html_path, *hlog_path;
    const char *scenario_path; /* -f */
    /* --metrics-listen ADDR:PORT: serve Prometheus text exposition during the run (NULL = no) */
    const char *metrics_listen;
    /* --watch-pid PID (repeatable): local processes whose CPU, RSS, descriptors and threads are
     * sampled each second (the target's side of the run) */
    int watch_pid[RUN_MAX_WATCH];
    size_t nwatch;
    int check; /* --check: validate the options (and the scenario), print the groups, run nothing */
    int allow_empty; /* --allow-empty: a run that measured nothing exits 0 (it still warns) */
    int force; /* herd merge --force: merge reports that are not shards of one run */
    uint64_t start_at_real_ns; /* --start-at: connect nothing before this instant (CLOCK_REALTIME,
                                  ns since the epoch); 0 = start at once */
    struct threshold thresholds[REPORT_MAX_THRESHOLDS];
    size_t nthresholds;
    /* The effective options, echoed in the report's "config". Strings point into `arena`.
     * Durations are in seconds, sizes in bytes, rates per second; flags are true/false (with
     * is_number set, see struct report_kv). Header values are left out: they carry tokens. */
    struct report_kv config[REPORT_MAX_CONFIG];
    size_t nconfig;
    char arena[8192];
    size_t arena_used;
    char *message_buf; /* --message-file contents (malloc'ed), owned */
    const char *flow_path; /* --flow (compiled by cli_run_finish into flow_owned) */
    const char *data_path; /* --data (loaded by cli_run_finish into data_owned) */
    int data_random; /* --data-random */
    struct flow *flow_owned; /* the compiled flow client.flow points to, owned */
    struct csv_table *data_owned; /* the --data table client.data points to, owned */
    int _role_given; /* internal: --role was given (else an SSE URL implies subscribe) */
    unsigned _load_given; /* internal: CLI_GIVEN_* of -c, -d and --stages (they exclude) */
};

#define CLI_GIVEN_CONNECTIONS 1u
#define CLI_GIVEN_DURATION 2u
#define CLI_GIVEN_STAGES 4u

/* Results of the parse functions. */
#define CLI_OK 0
#define CLI_HELP 1 /* --help was printed; exit 0 */

/* Parse the arguments of `herd run` (argv[0] is "run"). Returns CLI_OK, CLI_HELP, or a negative
 * error with one line in err. Both "--opt value" and "--opt=value", "-c 10" and "-c10"; the URL
 * may stand anywhere; "--" ends the options. Call cli_run_options_free afterwards, whatever the
 * result. It is cli_run_init + cli_run_option for each option + cli_run_finish. */
int cli_run_parse(int argc, char **argv, struct run_options *o, char *err, size_t errlen);
void cli_run_options_free(struct run_options *o);

/* The building blocks of cli_run_parse, for scenario files, whose keys are the long options with
 * dashes written as underscores.
 * cli_run_init: zero o and set the defaults.
 * cli_run_option: apply one option. `name` is a long option name without the dashes ("rate",
 *   "connect_rate" or "connect-rate"), or "url" for the positional URL. `value` is the text of
 *   the value; for flags NULL or true/false/yes/no/on/off/1/0. Messages start with `name` as
 *   given. Returns CLI_OK, CLI_HELP (for "help"), or a negative error with one line in err.
 * cli_run_finish: checks that involve several options (a URL is required unless -f was given,
 *   --size against --max-message, --role against an SSE URL, --cert with --key) and fills in
 *   o->config. Returns CLI_OK or a negative error. */
void cli_run_init(struct run_options *o);
int cli_run_option(struct run_options *o, const char *name, const char *value, char *err,
                   size_t errlen);
int cli_run_finish(struct run_options *o, char *err, size_t errlen);

/* What kind of `herd run` option `name` is (a long name without the dashes, dashes or
 * underscores; "url" for the positional URL): CLI_OPT_UNKNOWN, CLI_OPT_FLAG (no value needed) or
 * CLI_OPT_VALUE. Scenario files use it to point an error at the key or at its value. */
#define CLI_OPT_UNKNOWN 0
#define CLI_OPT_FLAG 1
#define CLI_OPT_VALUE 2
int cli_run_option_kind(const char *name);

/* Where a `herd run` option counts besides the command line (cli_run_option_flags). */
#define CLI_RUN_WIDE                                                                               \
    0x01u /* the whole run's: the command line or a scenario's top level, never                    \
             a group */
#define CLI_CMDLINE_ONLY 0x02u /* the command line only, never a scenario key */
#define CLI_PARENT_ONLY                                                                            \
    0x04u /* `--procs` keeps it in the parent: its children get their own                          \
             shard, report and -q, and none of the run's thresholds */
#define CLI_REPEATABLE 0x08u /* may be given many times; a scenario key takes a list */
#define CLI_MERGE 0x10u /* `herd merge` takes it too */
#define CLI_OUTPUT 0x20u /* a report file (see cli_run_outputs) */
#define CLI_MERGE_ONLY 0x40u /* `herd merge`'s alone: herd run and scenario files refuse it */

/* The CLI_* flags of `herd run` option `name` (a long name without the dashes, dashes or
 * underscores); 0 for an unknown name and for "url". */
unsigned cli_run_option_flags(const char *name);

/* The outputs o asks for: the summary on `summary` (NULL = none) and every report file given
 * (--json, --csv, ...), each with the writer of its format (NULL while herd cannot write it:
 * report_outputs_check refuses it then). Paths point into o's strings. */
void cli_run_outputs(const struct run_options *o, FILE *summary, struct report_outputs *out);

/* Walk a `herd run` command line (argv[0] is "run") and call fn(ctx, name, value) for each
 * option in order: name is the long name ("connections" for -c, "url" for the positional URL),
 * value the text given (NULL for a flag without one); both point into argv. Stops at the first
 * non-zero return of fn and returns it; returns 0 after the last option. Meant for a command line
 * cli_run_parse accepted (an unknown option ends the walk with HERD_E_INVAL). -f uses it to
 * apply the command line over a scenario's top-level keys. */
typedef int cli_run_each_fn(void *ctx, const char *name, const char *value);
int cli_run_walk(int argc, char **argv, cli_run_each_fn *fn, void *ctx);

/* The result of `herd merge`'s command line: the reports to merge and, in `run`, what of
 * `herd run`'s options merge takes (CLI_MERGE: --threshold and the report files). */
struct merge_options {
    struct run_options run;
    const char **files; /* malloc'ed; the strings point into argv */
    size_t nfiles;
};

/* Parse the arguments of `herd merge` (argv[0] is "merge"). Returns CLI_OK, CLI_HELP (--help was
 * printed), or a negative error with one line in err. Call cli_merge_options_free afterwards,
 * whatever the result. */
int cli_merge_parse(int argc, char **argv, struct merge_options *m, char *err, size_t errlen);
void cli_merge_options_free(struct merge_options *m);

/* Parse the arguments of `herd serve` (argv[0] is "serve"). */
int cli_serve_parse(int argc, char **argv, struct server_params *p, char *err, size_t errlen);

/* Unit parsers: return 0 or HERD_E_INVAL with *why set to a static phrase for the message
 * ("expected a whole number", ...). Strict: no sign, exponent, spaces or hex; numbers are
 * digits with an optional fraction ("1.5"). */
/* "30s", "2m"/"2min", "500ms", "1h", "250us", "10ns", "1.5s", "1m30s"; a bare number = seconds */
int cli_parse_duration(const char *s, uint64_t *ns, const char **why);
/* "256", "256b", "4k"/"4KB"/"4KiB", "1M"/"1MiB", "1G", "1T" (powers of 1024, any case); "1.5k" is
 * 1536; a bare number must be whole */
int cli_parse_size(const char *s, uint64_t *bytes, const char **why);
/* "100", "100/s", "100/sec", "6000/m", "6000/min", "3600/h", "5/ms", "2/us", "10k/s", "1M/s"
 * -> per second; at most 1e12 */
int cli_parse_rate(const char *s, double *per_s, const char **why);
/* "10000", "10k"/"10K", "1M", "2G" (powers of 1000), "1.5k"; the result must be whole */
int cli_parse_count(const char *s, uint64_t *n, const char **why);

/* An instant as --start-at takes it: "2026-12-02T15:10:00Z" (RFC 3339 in UTC, up to 9 digits of
 * fraction, Z or +00:00), Unix seconds "1796310600" or "1796310600.25", or "+DUR" (a duration
 * from now_real_ns, "+30s"). Sets *real_ns (ns since the epoch); whether it is in the past is the
 * caller's to judge. */
int cli_parse_instant(const char *s, uint64_t now_real_ns, uint64_t *real_ns, const char **why);

/* Usage text for a subcommand ("run", "serve", "demo", "merge", "report"; NULL or anything else
 * = top level). */
void cli_usage(FILE *out, const char *cmd);

/* herd(1) in roff (man.c), from the same option tables as --help: `herd help --man`. */
void cli_man(FILE *out);

/* The bash completion script: `herd help --bash-completion`. */
void cli_bash_completion(FILE *out);

#endif

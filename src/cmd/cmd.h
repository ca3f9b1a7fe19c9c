/* cmd.h - the subcommands. Each returns the process exit code (DESIGN.md): 0 completed and
 * thresholds held, 1 a threshold failed, 2 bad usage, 3 the run could not happen, 4 the run
 * measured nothing (docs/usage.md "Reports and exit codes"). */
#ifndef HERD_CMD_CMD_H
#define HERD_CMD_CMD_H

#include "cli/cli.h"

#define EXIT_OK 0
#define EXIT_THRESHOLD 1
#define EXIT_USAGE 2
#define EXIT_NORUN 3
/* The run happened but measured nothing it was meant to: its role's main figure stayed empty
 * (ping, echo: rtt; subscribe: latency; publish: messages beyond each connection's first), or
 * every connection that opened ended in an error. --allow-empty makes such a run exit 0. */
#define EXIT_EMPTY 4

int cmd_run(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Run parsed options to the end: live line, summary on `out` (NULL = none), reports. Returns an
 * exit code. Used by `herd run` and `herd demo`. */
int run_execute(struct run_options *o, FILE *out);

/* Descriptors a process keeps for itself beyond one per connection (the limit itself:
 * base/syslimits.h). */
#define FD_RESERVE 64

/* Finish a merge (report_read_merge_done), evaluate thresholds on the merged figures (the
 * reports' own when file_thresholds, then thr[0..nthr); a report's threshold of a scenario group
 * is checked on that group's merged figures), derive the warnings of the merged figures (keeping
 * the merge's own, "merge: ..."), then write the outputs (report_outputs_write: the summary and
 * the report files) and say the warnings on stderr. config, when not NULL, replaces the reports'
 * "config". *failed is how many thresholds failed; *empty whether the merged run measured
 * nothing (report_warnings_derive). Returns 0, or -1 when a report could not be written (said
 * on stderr). */
int merge_finish(struct report_read *m, const struct threshold *thr, size_t nthr,
                 int file_thresholds, const struct report_kv *config, size_t nconfig,
                 const struct report_outputs *outs, int *failed, int *empty);

/* How many processes `herd run` needs for -c given this process's descriptor limit: 1 when one
 * is enough (or when this is already a child of --procs). */
unsigned procs_needed(const struct run_options *o);

/* Whether this process is a child of `herd run --procs` (it runs its shard itself). */
int procs_is_child(void);

/* herd run --procs N: run N copies of this command line as shards I/N (argv as cmd_run got it,
 * argv[0] = "run"), forward SIGINT/SIGTERM to them, merge their reports like `herd merge`, write
 * the user's reports, print the summary on `out`, evaluate thresholds. Returns the exit code. */
int procs_execute(struct run_options *o, unsigned nprocs, int argc, char **argv, FILE *out);

#endif

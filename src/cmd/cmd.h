/* cmd.h - the subcommands. Each returns the process exit code (DESIGN.md): 0 completed and
 * thresholds held, 1 a threshold failed, 2 bad usage, 3 the run could not happen. */
#ifndef HERD_CMD_CMD_H
#define HERD_CMD_CMD_H

#include "cli/cli.h"

#define EXIT_OK 0
#define EXIT_THRESHOLD 1
#define EXIT_USAGE 2
#define EXIT_NORUN 3

int cmd_run(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);

/* Run parsed options to the end: live line, summary on `out` (NULL = none), reports. Returns an
 * exit code. Used by `herd run` and `herd demo`. */
int run_execute(struct run_options *o, FILE *out);

/* Raise RLIMIT_NOFILE to the hard limit; returns the soft limit in force. */
unsigned long raise_nofile(void);

#endif

/* cli.h - command lines into the params structs of client, server and report.
 *
 * Every user error becomes one line naming the option and what was expected, e.g.
 *   --rate: expected a number with optional /s, got "fast"
 * and the caller exits 2. Parsers of units (durations, sizes, rates, counts) are shared with
 * scenario files. */
#ifndef HERD_CLI_CLI_H
#define HERD_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "client/client.h"
#include "report/report.h"
#include "server/server.h"

struct run_options {
    struct client_params client;
    const char *json_path, *csv_path, *html_path, *hlog_path;
    const char *scenario_path; /* -f */
    struct threshold thresholds[REPORT_MAX_THRESHOLDS];
    size_t nthresholds;
    /* The effective options, echoed in the report's "config". Strings point into `arena`. */
    struct report_kv config[REPORT_MAX_CONFIG];
    size_t nconfig;
    char arena[8192];
    size_t arena_used;
    char *message_buf; /* --message-file contents (malloc'ed), owned */
};

/* Results of the parse functions. */
#define CLI_OK 0
#define CLI_HELP 1 /* --help was printed; exit 0 */

/* Parse the arguments of `herd run` (argv[0] is "run"). Returns CLI_OK, CLI_HELP, or a negative
 * error with one line in err. */
int cli_run_parse(int argc, char **argv, struct run_options *o, char *err, size_t errlen);
void cli_run_options_free(struct run_options *o);

/* Parse the arguments of `herd serve` (argv[0] is "serve"). */
int cli_serve_parse(int argc, char **argv, struct server_params *p, char *err, size_t errlen);

/* Unit parsers: return 0 or HERD_E_INVAL with *why set to a static phrase for the message. */
/* "30s", "2m", "500ms", "1h", "250us", "1.5s", bare number = seconds */
int cli_parse_duration(const char *s, uint64_t *ns, const char **why);
/* "256", "4k"/"4KiB", "1M"/"1MiB", "1G" (powers of 1024) */
int cli_parse_size(const char *s, uint64_t *bytes, const char **why);
/* "100", "100/s", "6000/m", "5/ms", "2000/s" -> per second */
int cli_parse_rate(const char *s, double *per_s, const char **why);
/* "10000", "10k", "1M" (powers of 1000); must be >= 0 */
int cli_parse_count(const char *s, uint64_t *n, const char **why);

/* Usage text for a subcommand ("run", "serve", NULL = top level). */
void cli_usage(FILE *out, const char *cmd);

#endif

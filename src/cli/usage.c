/* usage.c - the help texts. The options of `herd run`, `herd serve` and `herd merge` are printed
 * from the option tables in options.c, so a new option appears in --help where it is defined;
 * what is written here is the prose around them. */
#include "cli/cli.h"

#include "base/compiler.h"
#include "cli/cli_internal.h"

#include <string.h>

#define HELP_COLUMN 28 /* where the description of an option starts */

static const char usage_top[] =
    "herd - load generator for WebSocket and Server-Sent Events APIs\n"
    "\n"
    "usage: herd COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  run [OPTIONS] URL         load test one target (ws:// wss:// -> WebSocket,\n"
    "                            http:// https:// -> SSE)\n"
    "  run -f SCENARIO.yaml      several groups of connections from one file\n"
    "  serve [OPTIONS]           the built-in target: echo, pub/sub broadcast, SSE, fault knobs\n"
    "  demo                      serve on loopback, a short mixed run against it, reports\n"
    "  merge A.json B.json ...   merge the reports of shards into one (histograms merge exactly);\n"
    "                            with one report, print its summary\n"
    "\n"
    "Run `herd COMMAND --help` for the options of a command.\n"
    "\n"
    "exit codes: 0 done and thresholds held, 1 a threshold failed, 2 bad usage or scenario,\n"
    "            3 the run could not happen (e.g. no connection ever opened),\n"
    "            4 the run measured nothing (no rtt, no latency, every connection ended in\n"
    "              an error; --allow-empty exits 0)\n";

static const char usage_run_head[] =
    "usage: herd run [OPTIONS] URL\n"
    "       herd run -f SCENARIO.yaml [OPTIONS]\n"
    "\n"
    "Open many connections to URL, drive traffic through them and measure. ws:// and wss://\n"
    "are WebSocket, http:// and https:// are Server-Sent Events (role subscribe).\n";

static const char usage_run_tail[] =
    "\n"
    "Report files are checked before the run and written at its end, also when it is cut\n"
    "short (Ctrl-C): a regular file atomically (temporary file, rename; a symlink stays one),\n"
    "a device or FIFO (/dev/null, /dev/stdout) in place; a read-only file is refused.\n"
    "Durations: 500ms, 30s, 2m, 1h, 1m30s (a bare number is seconds). Rates: 100, 100/s,\n"
    "6000/m, 5/ms. Counts: 10000, 10k, 1M. Sizes: 256, 4k, 1MiB (powers of 1024).\n"
    "Threshold metrics: connect tls handshake ready first_message rtt latency fanout reconnect,\n"
    "with .p50 .p90 .p95 .p99 .p99.9 .p999 .min .max .mean .count; a time takes its unit:\n"
    "us, ms or s (rtt.p99<20ms; a bare 20 is refused).\n"
    "Counters: connections.* messages.* bytes.* pings.* errors errors.<class>; name/s is a\n"
    "rate, N% a ratio (connections.failed, errors, messages.lost, messages.duplicated).\n"
    "\n"
    "At the end herd warns (stderr, and the report's \"warnings\") of what the figures hide:\n"
    "a role's main figure that stayed empty, every connection ended in an error, stamps ahead\n"
    "of herd's clock, publisher ids that collide, attempts still connecting at the end.\n"
    "\n"
    "exit codes: 0 done and thresholds held, 1 a threshold failed, 2 bad usage or scenario,\n"
    "            3 the run could not happen (no connection ever opened, a report could not be\n"
    "              written), 4 the run measured nothing (its role's main figure stayed empty:\n"
    "              ping, echo: rtt; subscribe: latency; publish: messages beyond the first;\n"
    "              or every connection ended in an error) unless --allow-empty\n";

static const char usage_serve_head[] =
    "usage: herd serve [OPTIONS]\n"
    "\n"
    "The built-in target:\n"
    "  ws://HOST/echo              echo every data message, pong every ping\n"
    "  ws://HOST/pubsub/TOPIC      broadcast every message to every other connection on TOPIC\n"
    "  http://HOST/sse/TOPIC       the topic as an event stream (honours Last-Event-ID)\n"
    "  POST http://HOST/publish/TOPIC  publish the body to TOPIC (answer 200, keep-alive)\n"
    "A message published on TOPIC (WebSocket, POST or --tick) goes to every WebSocket and\n"
    "event stream on TOPIC but its sender.\n"
    "When it stops, and on SIGUSR1, it prints its counts: connections accepted, opened and\n"
    "refused; messages received, published and delivered; and what --slow-policy did (queued,\n"
    "dropped, closed, reset).\n";

static const char usage_demo[] =
    "usage: herd demo [OPTIONS]\n"
    "\n"
    "Start `herd serve` on loopback, run a short ping load and a short echo load against it,\n"
    "print the summaries and write a JSON report of each. Nothing to set up.\n"
    "\n"
    "options:\n"
    "      --out DIR             where the reports go (default herd-demo)\n"
    "      --json F              the echo phase's report goes to F instead\n"
    "  -d DUR                    length of each phase (default 3s)\n"
    "  -c N                      connections (default 100)\n"
    "  -h, --help                this text\n";

static const char usage_merge_head[] =
    "usage: herd merge [OPTIONS] A.json B.json ...\n"
    "\n"
    "Merge the JSON reports of the shards of one run (herd run --shard I/N, or --procs) into\n"
    "one and print its summary. Counters and errors add up and histograms merge bucket by\n"
    "bucket, so percentiles are exact; per-second percentiles of the time series become the\n"
    "largest of the shards' (an upper bound). The reports' thresholds are evaluated again on\n"
    "the merged figures, with any given here. Given one report, it prints that report's\n"
    "summary (and writes it again with --json or --csv).\n"
    "\n"
    "Reports that are not shards of one run (no --shard I/N, different N, a shard twice,\n"
    "other settings, runs that did not overlap in time) are refused, exit 2, unless --force.\n";

static const char usage_merge_tail[] =
    "\n"
    "Report files are checked before the reports are read, and written as by herd run.\n"
    "\n"
    "exit codes: 0 merged and thresholds held, 1 a threshold failed, 2 bad usage, a file\n"
    "            that is not a herd report, reports that are not shards of one run (without\n"
    "            --force), or a report that could not be written\n";

static const char usage_report[] =
    "usage: herd report RUN.json [--html F] [--csv F]\n"
    "\n"
    "Not implemented yet: herd report will render a saved report and compare two.\n"
    "Until then, `herd merge RUN.json` prints the summary of a saved report, and\n"
    "`herd merge RUN.json --csv F` writes its time series as CSV.\n";

static const char *const section_heading[CLI_SEC_COUNT] = {
    [CLI_SEC_LOAD] = "load:",
    [CLI_SEC_MESSAGES] = "messages:",
    [CLI_SEC_HANDSHAKE] = "handshake:",
    [CLI_SEC_RECONNECT] = "reconnects and slow readers:",
    [CLI_SEC_TLS] = "TLS (wss://, https://):",
    [CLI_SEC_RESULTS] = "results:",
    [CLI_SEC_SERVE] = "options:",
    [CLI_SEC_FAULTS] = "faults to rehearse:",
};

const char *cli__section_heading(int section)
{
    return section > CLI_SEC_HIDDEN && section < CLI_SEC_COUNT ? section_heading[section] : "";
}

/* "  -c, --connections N       concurrent connections ...": the option, then its help, one
 * line of the text per line, the first beside the option. */
static void opt_print(FILE *out, const struct cli_opt *o)
{
    char left[80];
    if (o->short_name)
        snprintf(left, sizeof left, "  -%c, --%s%s%s", o->short_name, o->name, o->meta ? " " : "",
                 o->meta ? o->meta : "");
    else
        snprintf(left, sizeof left, "      --%s%s%s", o->name, o->meta ? " " : "",
                 o->meta ? o->meta : "");
    size_t width = strlen(left);
    if (width + 1 >= HELP_COLUMN) /* too long to share a line: the text goes under it */
        fprintf(out, "%s\n%*s", left, HELP_COLUMN, "");
    else
        fprintf(out, "%-*s", HELP_COLUMN, left);
    for (const char *line = o->help; *line;) {
        size_t len = strcspn(line, "\n");
        fprintf(out, "%.*s", (int)len, line);
        line += len;
        if (*line == '\n' && line[1]) {
            fprintf(out, "\n%*s", HELP_COLUMN, "");
            line++;
        } else if (*line == '\n') {
            line++;
        }
    }
    /* An output without a writer says so, and stops saying so when its writer lands. */
    if ((o->flags & CLI_OUTPUT) && !o->write)
        fputs(" (not supported yet)", out);
    fputc('\n', out);
}

void cli__opts_print(FILE *out, const struct cli_opt *table, size_t n, unsigned need,
                     const char *heading)
{
    if (heading) {
        fprintf(out, "\n%s\n", heading);
        for (size_t i = 0; i < n; i++) {
            if (table[i].help && table[i].section != CLI_SEC_HIDDEN &&
                (table[i].flags & need) == need)
                opt_print(out, &table[i]);
        }
        return;
    }
    for (int sec = CLI_SEC_HIDDEN + 1; sec < CLI_SEC_COUNT; sec++) {
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            if ((int)table[i].section != sec || !table[i].help || (table[i].flags & CLI_MERGE_ONLY))
                continue;
            if (!any)
                fprintf(out, "\n%s\n", section_heading[sec]);
            any = 1;
            opt_print(out, &table[i]);
        }
    }
}

void cli_usage(FILE *out, const char *cmd)
{
    if (!cmd) {
        fputs(usage_top, out);
    } else if (strcmp(cmd, "run") == 0) {
        fputs(usage_run_head, out);
        cli__opts_print(out, cli__run_opts, cli__run_nopts, 0, NULL);
        fputs(usage_run_tail, out);
    } else if (strcmp(cmd, "serve") == 0) {
        fputs(usage_serve_head, out);
        cli__opts_print(out, cli__serve_opts, cli__serve_nopts, 0, NULL);
    } else if (strcmp(cmd, "demo") == 0) {
        fputs(usage_demo, out);
    } else if (strcmp(cmd, "merge") == 0) {
        fputs(usage_merge_head, out);
        cli__opts_print(out, cli__run_opts, cli__run_nopts, CLI_MERGE, "options:");
        fputs(usage_merge_tail, out);
    } else if (strcmp(cmd, "report") == 0) {
        fputs(usage_report, out);
    } else {
        fputs(usage_top, out);
    }
}

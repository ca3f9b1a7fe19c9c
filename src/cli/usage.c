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
    "  demo                      serve on loopback; short ping, echo and broadcast runs\n"
    "                            against it; their reports, one of them HTML\n"
    "  merge A.json B.json ...   merge the reports of shards into one (histograms merge exactly);\n"
    "                            with one report, print its summary\n"
    "  report RUN.json           a saved report again: its summary, --html F\n"
    "  report BASE.json NEW.json two runs compared, with deltas; --max-regression 10%\n"
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
    "Start `herd serve` on loopback and run three short loads against it: ping, echo, and a\n"
    "broadcast (4 publishers, WebSocket and SSE subscribers on one topic). Print each summary,\n"
    "write a JSON report of each and one HTML report of the three, whose path comes last.\n"
    "Nothing to set up.\n"
    "\n"
    "options:\n"
    "      --out DIR             where the reports go (default herd-demo)\n"
    "      --json F              the echo phase's report goes to F instead\n"
    "      --html F              the HTML report goes to F instead of DIR/demo.html\n"
    "  -d DUR                    length of each phase (default 3s)\n"
    "  -c N                      connections of ping and echo, subscribers of the broadcast\n"
    "                            (default 100)\n"
    "  -h, --help                this text\n";

static const char usage_merge_head[] =
    "usage: herd merge [OPTIONS] A.json B.json ...   (or LOG, or - for stdin)\n"
    "\n"
    "Merge the JSON reports of the shards of one run (herd run --shard I/N, or --procs) into\n"
    "one and print its summary. Counters and errors add up and histograms merge bucket by\n"
    "bucket, so percentiles are exact, and so are those of each second (the rows' own\n"
    "histograms are added; reports without them give the largest of the shards' per-second\n"
    "percentiles, an upper bound). The reports' thresholds are evaluated again on the merged\n"
    "figures, with any given here. Given one report, it prints that report's summary (and\n"
    "writes it again with --json, --csv, --html or --hlog).\n"
    "\n"
    "Reports that are not shards of one run (no --shard I/N, different N, a shard twice,\n"
    "other settings, runs that did not overlap in time) are refused, exit 2, unless --force.\n"
    "\n"
    "An input is a JSON report file, or a log (a file, or - for stdin) holding the reports\n"
    "that herd run --json - wrote on stdout among other lines, e.g. the concatenated\n"
    "`kubectl logs` of a run's pods: every \"---- herd report begin ...\" block in it is one\n"
    "report. A block cut short or altered is an error naming its line.\n";

static const char usage_merge_tail[] =
    "\n"
    "Report files are checked before the reports are read, and written as by herd run.\n"
    "\n"
    "exit codes: 0 merged and thresholds held, 1 a threshold failed, 2 bad usage, a file\n"
    "            that is not a herd report, reports that are not shards of one run (without\n"
    "            --force), or a report that could not be written\n";

static const char usage_report[] =
    "usage: herd report RUN.json [--html F] [--csv F] [--json F]\n"
    "       herd report BASE.json NEW.json [--html F] [--max-regression LIMIT ...]\n"
    "\n"
    "With one JSON report (herd run --json), print its summary again, its thresholds judged\n"
    "again on its figures, and write it as HTML, CSV or JSON.\n"
    "With two, compare them side by side: each histogram's percentiles (p50 to p99.9, max,\n"
    "mean), the connection and message counters, errors and message rates, with the change\n"
    "from BASE to NEW in percent; a scenario's groups by name (GROUP:rtt.p99). --html F\n"
    "writes the comparison with both runs' charts.\n"
    "\n"
    "options:\n"
    "      --html F              HTML report (one file, no network; charts drawn as SVG)\n"
    "      --csv F               the time series as CSV (one report)\n"
    "      --json F              the report as JSON again (one report)\n"
    "      --max-regression LIMIT\n"
    "                            exit 1 when NEW is worse than BASE by more than LIMIT;\n"
    "                            repeatable, comma-separated:\n"
    "                            10%  every histogram's p50..p99.9 and the message rates\n"
    "                            rtt=10%  rtt's p50..p99.9;  rtt.p99=5%  one figure;\n"
    "                            errors=0% connections.failed=0% messages.received/s=5%\n"
    "                            subs:latency.p99=5% (a scenario group's figure)\n"
    "                            (a figure's own limit wins over its histogram's, which\n"
    "                            wins over the bare one; times and failures are worse\n"
    "                            higher, rates lower; a histogram gone from NEW is worse)\n"
    "  -h, --help                this text\n"
    "\n"
    "exit codes: 0 done (and no regression), 1 a regression beyond the limits (or, for one\n"
    "            report, a threshold of it fails), 2 bad usage or a file that is not a herd\n"
    "            report (the message names the file and the field)\n";

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

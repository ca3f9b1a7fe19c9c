/* options.c - the command lines of `herd run`, `herd serve` and `herd merge` into client_params,
 * server_params and the report outputs.
 *
 * A table-driven parser rather than getopt_long: getopt prints its own messages in its own
 * words, keeps global state, and cannot tell us whether the user wrote -c or --connections, which
 * every message names. Each value is checked where it is read, so that the one-line error names
 * the option as the user wrote it, what was expected, and what was given.
 *
 * The tables below are the one place that knows the options: their names, values and help text
 * (usage.c prints --help from them), which belong to the whole run rather than to a scenario
 * group, which `--procs` keeps in the parent, which `herd merge` takes, and which report file
 * each output option writes with what. */
#include "cli/cli.h"

#include "base/clock.h"
#include "base/compiler.h"
#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "cli/cli_internal.h"
#include "flow/flow.h"
#include "load/load.h"
#include "proto/http1.h"
#include "proto/pmd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CONNECTIONS 10000000u
#define MAX_THREADS 1024u
#define MAX_PIPELINE 65536u
#define MAX_PROCS 1024u
#define MAX_SHARDS 100000u
#define MAX_MESSAGE_FILE (1ull << 30)

/* ---- messages ---- */

static int errf(char *err, size_t errlen, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return HERD_E_INVAL;
}

/* A user value for a message: quoted, control bytes escaped (the message must stay one line),
 * cut short when long. */
static void quote(char *out, size_t outlen, const char *s)
{
    size_t o = 0;
    if (outlen < 8) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (o + 8 >= outlen || p - (const unsigned char *)s >= 60) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", *p);
        } else {
            if (*p == '"' || *p == '\\')
                out[o++] = '\\';
            out[o++] = (char)*p;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* An option name as the user wrote it, for a message: control bytes become '?'. */
static void label_copy(char *out, size_t outlen, const char *prefix, const char *name, size_t len)
{
    snprintf(out, outlen, "%s%.*s", prefix, (int)(len < 48 ? len : 48), name);
    for (char *c = out; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    }
}

static int bad_value(char *err, size_t errlen, const char *label, const char *why, const char *val)
{
    char q[96];
    quote(q, sizeof q, val);
    return errf(err, errlen, "%s: %s, got %s", label, why, q);
}

/* ---- typed values ---- */

static int get_count(const char *label, const char *val, uint64_t lo, uint64_t hi, uint64_t *out,
                     char *err, size_t errlen)
{
    uint64_t n;
    const char *why;
    if (cli_parse_count(val, &n, &why) != 0)
        return bad_value(err, errlen, label, why, val);
    if (n < lo || n > hi) {
        char range[96];
        snprintf(range, sizeof range, "expected a whole number from %" PRIu64 " to %" PRIu64, lo,
                 hi);
        return bad_value(err, errlen, label, range, val);
    }
    *out = n;
    return 0;
}

static int get_duration(const char *label, const char *val, int allow_zero, uint64_t *out,
                        char *err, size_t errlen)
{
    const char *why;
    if (cli_parse_duration(val, out, &why) != 0)
        return bad_value(err, errlen, label, why, val);
    if (!allow_zero && *out == 0)
        return bad_value(err, errlen, label, "expected a duration greater than 0", val);
    return 0;
}

static int get_size(const char *label, const char *val, uint64_t lo, uint64_t *out, char *err,
                    size_t errlen)
{
    const char *why;
    if (cli_parse_size(val, out, &why) != 0)
        return bad_value(err, errlen, label, why, val);
    if (*out < lo)
        return bad_value(err, errlen, label, "expected a size of at least 1 byte", val);
    return 0;
}

static int get_rate(const char *label, const char *val, double *out, char *err, size_t errlen)
{
    const char *why;
    if (cli_parse_rate(val, out, &why) != 0)
        return bad_value(err, errlen, label, why, val);
    /* 0 is refused rather than read as "unlimited": leaving the option out says that. */
    if (*out <= 0)
        return bad_value(err, errlen, label, "expected a rate greater than 0", val);
    return 0;
}

static int is_bool_word(const char *val)
{
    static const char *const words[] = {"true", "yes", "on", "1", "false", "no", "off", "0"};
    for (size_t i = 0; i < ARRAY_SIZE(words); i++)
        if (strcasecmp(val, words[i]) == 0)
            return 1;
    return 0;
}

static int get_bool(const char *label, const char *val, int *out, char *err, size_t errlen)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    if (!val) {
        *out = 1;
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (strcasecmp(val, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(val, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return bad_value(err, errlen, label, "expected true or false", val);
}

/* --compress, --compress=PARAMS (the RFC 7692 parameters to offer), or in a file compress: true
 * or compress: "PARAMS". */
static int compress_parse(const char *label, const char *val, struct client_params *p, char *err,
                          size_t errlen)
{
    if (!val || is_bool_word(val)) {
        p->compress_params = NULL;
        return get_bool(label, val, &p->compress, err, errlen);
    }
    struct pmd_params offer;
    const char *why = NULL;
    if (pmd_option_parse(val, &offer, &why) != 0)
        return bad_value(err, errlen, label, why, val);
    p->compress = 1;
    p->compress_params = val;
    return 0;
}

static int get_string(const char *label, const char *val, const char **out, char *err,
                      size_t errlen)
{
    if (!*val)
        return errf(err, errlen, "%s: expected a value, got an empty string", label);
    *out = val;
    return 0;
}

/* ---- the walk over argv, shared by run, serve and merge ---- */

typedef int opt_apply_fn(void *ctx, const struct cli_opt *opt, const char *label, const char *val,
                         char *err, size_t errlen);
typedef int positional_fn(void *ctx, const char *arg, char *err, size_t errlen);

static const struct cli_opt *opt_by_long(const struct cli_opt *table, size_t n, const char *name,
                                         size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(table[i].name) == len && strncmp(table[i].name, name, len) == 0)
            return &table[i];
    }
    return NULL;
}

static const struct cli_opt *opt_by_short(const struct cli_opt *table, size_t n, char c)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].short_name == c)
            return &table[i];
    }
    return NULL;
}

static int opt_missing(const struct cli_opt *opt, const char *label, char *err, size_t errlen)
{
    return errf(err, errlen, "%s: missing value (expected %s)", label, opt->form);
}

static int opt_todo(const char *label, char *err, size_t errlen)
{
    return errf(err, errlen, "%s: not implemented yet", label);
}

static int walk(int argc, char **argv, const struct cli_opt *table, size_t n, const char *cmd,
                opt_apply_fn *apply, positional_fn *positional, void *ctx, char *err, size_t errlen)
{
    int options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc;
        /* "-" alone is a positional argument by convention (it usually means stdin). */
        if (options_done || a[0] != '-' || a[1] == '\0') {
            rc = positional(ctx, a, err, errlen);
            if (rc != 0)
                return rc;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = 1;
            continue;
        }
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            char label[64];
            label_copy(label, sizeof label, "--", name, len);
            const struct cli_opt *opt = opt_by_long(table, n, name, len);
            if (!opt)
                return errf(err, errlen, "unknown option %s (see herd %s --help)", label, cmd);
            if (opt->arg == CLI_ARG_TODO)
                return opt_todo(label, err, errlen);
            const char *val = NULL;
            if (eq)
                val = eq + 1;
            else if (opt->arg == CLI_ARG_VALUE && i + 1 < argc)
                val = argv[++i];
            else if (opt->arg == CLI_ARG_VALUE)
                return opt_missing(opt, label, err, errlen);
            rc = apply(ctx, opt, label, val, err, errlen);
            if (rc != 0)
                return rc;
            continue;
        }
        /* A cluster of short options: flags may share one argument ("-qh"); an option with a
         * value takes the rest of the argument ("-c10") or the next one ("-c 10"). */
        for (const char *p = a + 1; *p; p++) {
            char label[8];
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                snprintf(label, sizeof label, "-\\x%02x", (unsigned char)*p);
            else
                snprintf(label, sizeof label, "-%c", *p);
            const struct cli_opt *opt = opt_by_short(table, n, *p);
            if (!opt)
                return errf(err, errlen, "unknown option %s (see herd %s --help)", label, cmd);
            if (opt->arg == CLI_ARG_FLAG) {
                rc = apply(ctx, opt, label, NULL, err, errlen);
                if (rc != 0)
                    return rc;
                continue;
            }
            const char *val;
            if (p[1])
                val = p + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return opt_missing(opt, label, err, errlen);
            rc = apply(ctx, opt, label, val, err, errlen);
            if (rc != 0)
                return rc;
            break;
        }
    }
    return 0;
}

/* ---- herd run ---- */

enum run_opt {
    R_CONNECTIONS,
    R_DURATION,
    R_THREADS,
    R_ROLE,
    R_CONNECT_RATE,
    R_RATE,
    R_PIPELINE,
    R_SIZE,
    R_TEXT,
    R_BINARY,
    R_MESSAGE,
    R_MESSAGE_FILE,
    R_FLOW,
    R_DATA,
    R_DATA_RANDOM,
    R_HEADER,
    R_SUBPROTOCOL,
    R_ORIGIN,
    R_METHOD,
    R_COMPRESS,
    R_TIMEOUT,
    R_IDLE_TIMEOUT,
    R_PING_INTERVAL,
    R_MAX_MESSAGE,
    R_THRESHOLD,
    R_OUTPUT, /* a report file: the row says which (path_field) and how it is written (write) */
    R_SHARD,
    R_QUIET,
    R_FILE,
    R_HELP,
    R_RECONNECT,
    R_BACKOFF,
    R_MAX_RETRIES,
    R_READ_RATE,
    R_BIND,
    R_INSECURE,
    R_CACERT,
    R_CERT,
    R_KEY,
    R_SNI,
    R_TLS_RESUME,
    R_PROCS,
    R_STAGES,
    R_CHECK,
    R_ALLOW_EMPTY,
    R_FORCE,
    R_METRICS_LISTEN,
    R_WATCH_PID,
    R_START_AT,
    R_TODO,
};

/* An output's flags: the whole run's, written by the parent of --procs, taken by herd merge. */
#define CLI_OUTPUT_FLAGS (CLI_OUTPUT | CLI_RUN_WIDE | CLI_PARENT_ONLY | CLI_MERGE)

/* `herd run`: the options in their --help sections. A row's flags (cli.h) say where else the
 * option counts: CLI_RUN_WIDE (not in a scenario group), CLI_CMDLINE_ONLY (not in a scenario
 * file), CLI_PARENT_ONLY (--procs keeps it from its children), CLI_REPEATABLE, CLI_MERGE
 * (`herd merge` takes it too), CLI_OUTPUT (a report file: path_field says where its path goes,
 * write what writes it, NULL while herd cannot yet; --help then says so). */
const struct cli_opt cli__run_opts[] = {
    /* load */
    {"connections", 'c', CLI_ARG_VALUE, R_CONNECTIONS, "a whole number", "N",
     "concurrent connections to hold (default 10; 10k, 1M allowed)", .section = CLI_SEC_LOAD},
    {"duration", 'd', CLI_ARG_VALUE, R_DURATION, "a duration like 30s", "DUR",
     "run time after the first connection opens (default 10s)", .section = CLI_SEC_LOAD},
    {"threads", 't', CLI_ARG_VALUE, R_THREADS, "a whole number", "N",
     "event-loop threads (default: number of CPUs)", .section = CLI_SEC_LOAD},
    {"role", 0, CLI_ARG_VALUE, R_ROLE, "ping, echo, publish, subscribe or idle", "ROLE",
     "ping (default): WebSocket PINGs, time the PONGs\n"
     "echo: send data, time the echo\n"
     "publish: send stamped messages at --rate\n"
     "subscribe: receive, time the stamps one way\n"
     "idle: hold the connection only",
     .section = CLI_SEC_LOAD},
    {"connect-rate", 0, CLI_ARG_VALUE, R_CONNECT_RATE, "a number with optional /s", "R",
     "new connections per second (default: as fast as possible)", .section = CLI_SEC_LOAD},
    {"stages", 0, CLI_ARG_VALUE, R_STAGES, "DURATION:COUNT items like 30s:1000,1m:1000,10s:0",
     "LIST",
     "ramp the open connections: 30s:1000,1m:1000,10s:0 ramps to 1000\n"
     "in 30s, holds them 1m, closes them in 10s (instead of -c and -d)",
     .section = CLI_SEC_LOAD},
    {"rate", 0, CLI_ARG_VALUE, R_RATE, "a number with optional /s", "R",
     "messages per second per connection (open model, timed from\n"
     "the intended send time)",
     .section = CLI_SEC_LOAD},
    {"pipeline", 0, CLI_ARG_VALUE, R_PIPELINE, "a whole number", "K",
     "closed model: messages in flight per connection (default 1)", .section = CLI_SEC_LOAD},
    {"shard", 0, CLI_ARG_VALUE, R_SHARD, "I/N", "I/N",
     "take shard I of N of every count and rate (0 <= I < N)", .section = CLI_SEC_LOAD,
     .flags = CLI_RUN_WIDE | CLI_PARENT_ONLY},
    {"procs", 0, CLI_ARG_VALUE, R_PROCS, "a whole number", "N",
     "spread the run over N local processes, merged exactly\n"
     "(automatic when the descriptor limit is below -c)",
     .section = CLI_SEC_LOAD, .flags = CLI_RUN_WIDE | CLI_PARENT_ONLY},
    {"start-at", 0, CLI_ARG_VALUE, R_START_AT, "a UTC time like 2026-12-02T15:10:00Z", "TIME",
     "connect nothing before TIME (RFC 3339 UTC, Unix seconds, or\n"
     "+DUR from now); shards given one TIME start together",
     .section = CLI_SEC_LOAD, .flags = CLI_RUN_WIDE | CLI_PARENT_ONLY},

    /* messages */
    {"size", 's', CLI_ARG_VALUE, R_SIZE, "a size like 256 or 4k", "BYTES",
     "payload size (256, 4k, 1MiB)", .section = CLI_SEC_MESSAGES},
    {"text", 0, CLI_ARG_FLAG, R_TEXT, NULL, NULL, "text data frames (the default)",
     .section = CLI_SEC_MESSAGES},
    {"binary", 0, CLI_ARG_FLAG, R_BINARY, NULL, NULL, "binary data frames",
     .section = CLI_SEC_MESSAGES},
    {"message", 0, CLI_ARG_VALUE, R_MESSAGE, "a message template", "STR",
     "message template; {{stamp}}, {{seq}} and {{conn}} are filled in",
     .section = CLI_SEC_MESSAGES},
    {"message-file", 0, CLI_ARG_VALUE, R_MESSAGE_FILE, "a file name", "F",
     "the template from a file", .section = CLI_SEC_MESSAGES},
    {"flow", 0, CLI_ARG_VALUE, R_FLOW, "a flow file name", "F",
     "a conversation per connection (YAML steps: send, expect,\n"
     "request, sleep, repeat, on, then); see docs/flows.md",
     .section = CLI_SEC_MESSAGES},
    {"data", 0, CLI_ARG_VALUE, R_DATA, "a CSV file name", "F.csv",
     "per-connection data: connection k takes row k (mod rows);\n"
     "{{data.COL}} in flows, -H values and the URL's query",
     .section = CLI_SEC_MESSAGES},
    {"data-random", 0, CLI_ARG_FLAG, R_DATA_RANDOM, NULL, NULL,
     "--data: each connection takes a random row", .section = CLI_SEC_MESSAGES},
    {"max-message", 0, CLI_ARG_VALUE, R_MAX_MESSAGE, "a size like 64MiB", "BYTES",
     "largest message accepted (default 64MiB)", .section = CLI_SEC_MESSAGES},

    /* handshake */
    {"header", 'H', CLI_ARG_VALUE, R_HEADER, "'Name: value'", "'K: V'",
     "extra request header (repeatable)", .section = CLI_SEC_HANDSHAKE, .flags = CLI_REPEATABLE},
    {"subprotocol", 0, CLI_ARG_VALUE, R_SUBPROTOCOL, "a protocol name", "P",
     "offer Sec-WebSocket-Protocol P", .section = CLI_SEC_HANDSHAKE},
    {"origin", 0, CLI_ARG_VALUE, R_ORIGIN, "an origin like https://example.com", "O",
     "send Origin: O", .section = CLI_SEC_HANDSHAKE},
    {"method", 0, CLI_ARG_VALUE, R_METHOD, "an HTTP method like POST or PUT", "M",
     "--role publish on http(s)://: the request method (default POST)",
     .section = CLI_SEC_HANDSHAKE},
    {"compress", 0, CLI_ARG_FLAG, R_COMPRESS, NULL, "[=PARAMS]",
     "offer permessage-deflate (RFC 7692); PARAMS like\n"
     "server_no_context_takeover,client_max_window_bits=10",
     .section = CLI_SEC_HANDSHAKE},
    {"timeout", 0, CLI_ARG_VALUE, R_TIMEOUT, "a duration like 10s", "DUR",
     "connect + handshake timeout (default 10s)", .section = CLI_SEC_HANDSHAKE},
    {"idle-timeout", 0, CLI_ARG_VALUE, R_IDLE_TIMEOUT, "a duration like 30s", "DUR",
     "fail a connection silent for this long (default: never)", .section = CLI_SEC_HANDSHAKE},
    {"ping-interval", 0, CLI_ARG_VALUE, R_PING_INTERVAL, "a duration like 15s", "DUR",
     "keep-alive PINGs on idle or subscribing connections", .section = CLI_SEC_HANDSHAKE},
    {"bind", 0, CLI_ARG_VALUE, R_BIND, "addresses like 127.0.0.2-127.0.0.40", "ADDRS",
     "local source addresses, e.g. 127.0.0.2-127.0.0.40", .section = CLI_SEC_HANDSHAKE},

    /* reconnects and slow readers */
    {"reconnect", 0, CLI_ARG_FLAG, R_RECONNECT, NULL, NULL, "open again after a drop",
     .section = CLI_SEC_RECONNECT},
    {"backoff", 0, CLI_ARG_VALUE, R_BACKOFF, "none, fixed:DUR or exp:MIN..MAX", "SPEC",
     "none, fixed:1s or exp:100ms..30s, optionally\n"
     ",jitter=full|equal|none",
     .section = CLI_SEC_RECONNECT},
    {"max-retries", 0, CLI_ARG_VALUE, R_MAX_RETRIES, "a whole number", "N",
     "reconnect attempts per connection (default: unlimited)", .section = CLI_SEC_RECONNECT},
    {"read-rate", 0, CLI_ARG_VALUE, R_READ_RATE, "bytes per second like 64k/s", "BYTES/s",
     "read at most this fast (64k/s); 0 stops reading", .section = CLI_SEC_RECONNECT},

    /* TLS */
    {"insecure", 0, CLI_ARG_FLAG, R_INSECURE, NULL, NULL, "do not verify the server's certificate",
     .section = CLI_SEC_TLS},
    {"cacert", 0, CLI_ARG_VALUE, R_CACERT, "a file name", "F", "CA certificates to verify with",
     .section = CLI_SEC_TLS},
    {"cert", 0, CLI_ARG_VALUE, R_CERT, "a file name", "F", "client certificate (with --key)",
     .section = CLI_SEC_TLS},
    {"key", 0, CLI_ARG_VALUE, R_KEY, "a file name", "F", "the client certificate's private key",
     .section = CLI_SEC_TLS},
    {"sni", 0, CLI_ARG_VALUE, R_SNI, "a server name", "NAME",
     "server name to send (default: the URL's host)", .section = CLI_SEC_TLS},
    {"tls-resume", 0, CLI_ARG_FLAG, R_TLS_RESUME, NULL, NULL, "resume TLS sessions on reconnect",
     .section = CLI_SEC_TLS},

    /* results */
    {"threshold", 0, CLI_ARG_VALUE, R_THRESHOLD, "an expression like rtt.p99<20ms", "EXPR",
     "exit 1 unless EXPR holds; repeatable, e.g.\n"
     "rtt.p99<20ms  errors==0  connections.failed<1%\n"
     "messages.received/s>1000  latency.p99.9<=5ms",
     .section = CLI_SEC_RESULTS, .flags = CLI_REPEATABLE | CLI_PARENT_ONLY | CLI_MERGE},
    {"json", 0, CLI_ARG_VALUE, R_OUTPUT, "a file name", "F",
     "JSON report; - writes it on stdout at the end, as one\n"
     "delimited block that survives among log lines (herd merge\n"
     "reads such logs)",
     .section = CLI_SEC_RESULTS, .flags = CLI_OUTPUT_FLAGS, .write = report_json_write,
     .path_field = offsetof(struct run_options, json_path)},
    {"csv", 0, CLI_ARG_VALUE, R_OUTPUT, "a file name", "F", "time series, one row per second",
     .section = CLI_SEC_RESULTS, .flags = CLI_OUTPUT_FLAGS, .write = report_csv_write,
     .path_field = offsetof(struct run_options, csv_path)},
    {"html", 0, CLI_ARG_VALUE, R_OUTPUT, "a file name", "F", "HTML report",
     .section = CLI_SEC_RESULTS, .flags = CLI_OUTPUT_FLAGS, .write = report_html_write,
     .path_field = offsetof(struct run_options, html_path)},
    {"hlog", 0, CLI_ARG_VALUE, R_OUTPUT, "a file name", "F", "HdrHistogram interval log",
     .section = CLI_SEC_RESULTS, .flags = CLI_OUTPUT_FLAGS, .write = report_hlog_write,
     .path_field = offsetof(struct run_options, hlog_path)},
    {"metrics-listen", 0, CLI_ARG_VALUE, R_METRICS_LISTEN, "ADDR:PORT like 127.0.0.1:9464",
     "ADDR:PORT",
     "serve Prometheus metrics (text exposition) at\n"
     "http://ADDR:PORT/metrics during the run (:PORT: every address)",
     .section = CLI_SEC_RESULTS, .flags = CLI_RUN_WIDE | CLI_PARENT_ONLY},
    {"watch-pid", 0, CLI_ARG_VALUE, R_WATCH_PID, "a process id", "PID",
     "sample a local process (the target) each second: CPU,\n"
     "RSS, descriptors, threads as target.*; repeatable",
     .section = CLI_SEC_RESULTS, .flags = CLI_RUN_WIDE | CLI_PARENT_ONLY | CLI_REPEATABLE},
    {"allow-empty", 0, CLI_ARG_FLAG, R_ALLOW_EMPTY, NULL, NULL,
     "no exit 4 for a run that measured nothing (no rtt, no\n"
     "latency, every connection ended in an error); it still warns",
     .section = CLI_SEC_RESULTS, .flags = CLI_RUN_WIDE},
    {"force", 0, CLI_ARG_FLAG, R_FORCE, NULL, NULL,
     "merge reports that are not the shards of one run (other\n"
     "settings, shard numbers or times); the report says so",
     .section = CLI_SEC_RESULTS, .flags = CLI_MERGE | CLI_MERGE_ONLY | CLI_CMDLINE_ONLY},
    {"quiet", 'q', CLI_ARG_FLAG, R_QUIET, NULL, NULL, "no live progress line",
     .section = CLI_SEC_RESULTS, .flags = CLI_RUN_WIDE | CLI_PARENT_ONLY},
    {"file", 'f', CLI_ARG_VALUE, R_FILE, "a scenario file name", "F",
     "scenario file (YAML); its keys are these long options", .section = CLI_SEC_RESULTS,
     .flags = CLI_CMDLINE_ONLY},
    {"check", 0, CLI_ARG_FLAG, R_CHECK, NULL, NULL,
     "check the options (and -f file), print the groups, run nothing", .section = CLI_SEC_RESULTS,
     .flags = CLI_CMDLINE_ONLY},
    {"help", 'h', CLI_ARG_FLAG, R_HELP, NULL, NULL, "this text", .section = CLI_SEC_RESULTS,
     .flags = CLI_CMDLINE_ONLY | CLI_MERGE},
};
const size_t cli__run_nopts = ARRAY_SIZE(cli__run_opts);

/* -H "Name: value". The handshake's own headers are refused: a second Upgrade or
 * Sec-WebSocket-Key would make a request that no server answers the way herd expects, and the
 * two that users do want to set have options that also make herd check the reply. */
static int header_check(const char *label, const char *h, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        const char *instead;
    } owned[] = {
        {"Host", NULL},
        {"Upgrade", NULL},
        {"Connection", NULL},
        {"Sec-WebSocket-Key", NULL},
        {"Sec-WebSocket-Version", NULL},
        {"Sec-WebSocket-Accept", NULL},
        {"Sec-WebSocket-Protocol", "--subprotocol"},
        {"Sec-WebSocket-Extensions", "--compress"},
        /* herd's requests are GETs without a body; these would misframe them */
        {"Content-Length", NULL},
        {"Transfer-Encoding", NULL},
    };
    const char *colon = strchr(h, ':');
    if (!colon || colon == h)
        return bad_value(err, errlen, label, "expected 'Name: value'", h);
    for (const char *p = h; p < colon; p++) {
        if (!http1_is_tchar((unsigned char)*p))
            return bad_value(err, errlen, label,
                             "expected 'Name: value' with a name of letters, digits and -", h);
    }
    for (const unsigned char *p = (const unsigned char *)colon + 1; *p; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return bad_value(err, errlen, label, "control characters are not allowed in a header",
                             h);
    }
    size_t nlen = (size_t)(colon - h);
    for (size_t i = 0; i < ARRAY_SIZE(owned); i++) {
        if (strlen(owned[i].name) != nlen || strncasecmp(owned[i].name, h, nlen) != 0)
            continue;
        if (owned[i].instead)
            return errf(err, errlen, "%s: use %s instead of a %s header", label, owned[i].instead,
                        owned[i].name);
        return errf(err, errlen, "%s: %s is part of the handshake and set by herd", label,
                    owned[i].name);
    }
    return 0;
}

/* --metrics-listen ADDR:PORT: an IPv4 address, a host name, [IPv6] or nothing (every
 * address), a colon, a port 1..65535. The address itself is resolved when herd listens. */
static int listen_parse(const char *label, const char *val, const char **out, char *err,
                        size_t errlen)
{
    const char *colon = strrchr(val, ':');
    const char *why = "expected ADDR:PORT like 127.0.0.1:9464 or :9464";
    if (!colon)
        return bad_value(err, errlen, label, why, val);
    if (val[0] == '[' && (colon == val || colon[-1] != ']'))
        return bad_value(err, errlen, label, why, val);
    if (val[0] != '[' && memchr(val, ':', (size_t)(colon - val)))
        return bad_value(err, errlen, label, "write an IPv6 address in brackets: [::1]:9464", val);
    for (const unsigned char *c = (const unsigned char *)val; c < (const unsigned char *)colon;
         c++) {
        if (*c <= 0x20 || *c == 0x7f || *c == '/')
            return bad_value(err, errlen, label, why, val);
    }
    uint64_t port;
    const char *pwhy;
    if (cli_parse_count(colon + 1, &port, &pwhy) != 0 || port < 1 || port > 65535)
        return bad_value(err, errlen, label, "expected a port from 1 to 65535 after the colon",
                         val);
    *out = val;
    return 0;
}

/* --read-rate: a size per second ("64k/s", "1MiB/s", "512"); 0 stops reading. */
static int read_rate_parse(const char *label, const char *val, double *out, char *err,
                           size_t errlen)
{
    char buf[64];
    size_t len = strlen(val);
    if (len >= sizeof buf)
        return bad_value(err, errlen, label, "expected bytes per second like 64k/s or 0", val);
    memcpy(buf, val, len + 1);
    if (len > 2 && strcmp(buf + len - 2, "/s") == 0)
        buf[len - 2] = '\0';
    uint64_t b;
    const char *why;
    if (cli_parse_size(buf, &b, &why) != 0)
        return bad_value(err, errlen, label, "expected bytes per second like 64k/s or 0", val);
    *out = (double)b;
    return 0;
}

static int shard_parse(const char *label, const char *val, unsigned *index, unsigned *count,
                       char *err, size_t errlen)
{
    static const char form[] = "expected I/N with 0 <= I < N";
    char buf[48];
    const char *slash = strchr(val, '/');
    if (!slash || (size_t)(slash - val) >= sizeof buf)
        return bad_value(err, errlen, label, form, val);
    memcpy(buf, val, (size_t)(slash - val));
    buf[slash - val] = '\0';
    uint64_t i, n;
    const char *why;
    if (cli_parse_count(buf, &i, &why) != 0 || cli_parse_count(slash + 1, &n, &why) != 0 || n < 1 ||
        n > MAX_SHARDS || i >= n)
        return bad_value(err, errlen, label, form, val);
    *index = (unsigned)i;
    *count = (unsigned)n;
    return 0;
}

/* --start-at: an instant at most a second in the past (a clock a little behind, or a shard that
 * started late, still joins; a stale time in a script is a mistake). */
static int start_at_parse(const char *label, const char *val, uint64_t *out, char *err,
                          size_t errlen)
{
    const char *why;
    uint64_t now = real_ns(), at;
    if (cli_parse_instant(val, now, &at, &why) != 0)
        return bad_value(err, errlen, label, why, val);
    if (at + NS_PER_S < now) {
        char q[96];
        quote(q, sizeof q, val);
        return errf(err, errlen,
                    "%s: %s is %.1f s in the past (now is %" PRIu64 " in Unix seconds)", label, q,
                    (double)(now - at) / 1e9, (uint64_t)(now / NS_PER_S));
    }
    *out = at;
    return 0;
}

static int message_file_read(struct run_options *o, const char *label, const char *path, char *err,
                             size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = file_read_all(path, MAX_MESSAGE_FILE, &buf, &len);
    if (rc == HERD_E_TOO_BIG)
        return errf(err, errlen, "%s: %s is larger than 1 GiB", label, path);
    if (rc != 0)
        return errf(err, errlen, "%s: cannot read %s: %s", label, path, strerror(-rc));
    free(o->message_buf);
    o->message_buf = buf;
    o->client.message = buf;
    o->client.message_len = len;
    return 0;
}

static int run_url(struct run_options *o, const char *val, char *err, size_t errlen)
{
    const char *why;
    if (o->client.url_text) {
        char q[96];
        quote(q, sizeof q, val);
        return errf(err, errlen,
                    "unexpected argument %s: herd run takes one URL (see herd run "
                    "--help)",
                    q);
    }
    if (url_parse(val, &o->client.url, &why) != 0)
        return bad_value(err, errlen, "URL", why, val);
    o->client.url_text = val;
    return 0;
}

static int run_apply(struct run_options *o, const struct cli_opt *opt, const char *label,
                     const char *val, char *err, size_t errlen)
{
    struct client_params *p = &o->client;
    uint64_t u;
    int rc = 0;
    int id = opt->id;
    switch (id) {
    case R_CONNECTIONS:
        rc = get_count(label, val, 1, MAX_CONNECTIONS, &p->connections, err, errlen);
        o->_load_given |= CLI_GIVEN_CONNECTIONS;
        break;
    case R_DURATION:
        rc = get_duration(label, val, 0, &p->duration_ns, err, errlen);
        o->_load_given |= CLI_GIVEN_DURATION;
        break;
    case R_THREADS:
        rc = get_count(label, val, 0, MAX_THREADS, &u, err, errlen);
        if (rc == 0)
            p->threads = (unsigned)u;
        break;
    case R_ROLE:
        for (int r = ROLE_PING; r <= ROLE_IDLE; r++) {
            if (strcmp(val, client_role_name[r]) == 0) {
                p->role = (enum client_role)r;
                o->_role_given = 1;
                return 0;
            }
        }
        return bad_value(err, errlen, label, "expected ping, echo, publish, subscribe or idle",
                         val);
    case R_CONNECT_RATE: rc = get_rate(label, val, &p->connect_rate, err, errlen); break;
    case R_RATE: rc = get_rate(label, val, &p->rate, err, errlen); break;
    case R_PIPELINE:
        rc = get_count(label, val, 1, MAX_PIPELINE, &u, err, errlen);
        if (rc == 0)
            p->pipeline = (unsigned)u;
        break;
    case R_SIZE:
        rc = get_size(label, val, 0, &u, err, errlen);
        if (rc == 0)
            p->size = (size_t)u;
        break;
    case R_TEXT:
    case R_BINARY: {
        int on;
        rc = get_bool(label, val, &on, err, errlen);
        if (rc == 0)
            p->binary = (id == R_BINARY) == (on != 0);
        break;
    }
    case R_MESSAGE:
        if (o->message_buf)
            return errf(err, errlen, "%s: give either --message or --message-file", label);
        p->message = val;
        p->message_len = strlen(val);
        break;
    case R_MESSAGE_FILE:
        if (p->message && !o->message_buf)
            return errf(err, errlen, "%s: give either --message or --message-file", label);
        rc = message_file_read(o, label, val, err, errlen);
        break;
    case R_FLOW: rc = get_string(label, val, &o->flow_path, err, errlen); break;
    case R_DATA: rc = get_string(label, val, &o->data_path, err, errlen); break;
    case R_DATA_RANDOM: rc = get_bool(label, val, &o->data_random, err, errlen); break;
    case R_HEADER:
        rc = header_check(label, val, err, errlen);
        if (rc != 0)
            break;
        if (p->nheaders == CLIENT_MAX_HEADERS)
            return errf(err, errlen, "%s: at most %d headers", label, CLIENT_MAX_HEADERS);
        p->headers[p->nheaders++] = val;
        break;
    case R_SUBPROTOCOL:
        rc = get_string(label, val, &p->subprotocol, err, errlen);
        for (const char *c = val; rc == 0 && *c; c++) {
            if (!http1_is_tchar((unsigned char)*c) && *c != ',' && *c != ' ')
                return bad_value(err, errlen, label, "expected a protocol name (a token)", val);
        }
        break;
    case R_ORIGIN:
        rc = get_string(label, val, &p->origin, err, errlen);
        for (const unsigned char *c = (const unsigned char *)val; rc == 0 && *c; c++) {
            if (*c < 0x20 || *c == 0x7f)
                return bad_value(err, errlen, label,
                                 "control characters are not allowed in an origin", val);
        }
        break;
    case R_COMPRESS: rc = compress_parse(label, val, p, err, errlen); break;
    case R_METHOD:
        rc = get_string(label, val, &p->method, err, errlen);
        for (const char *c = val; rc == 0 && *c; c++) {
            if (!http1_is_tchar((unsigned char)*c))
                return bad_value(err, errlen, label, "expected a method name (a token)", val);
        }
        if (rc == 0 && !*val)
            return bad_value(err, errlen, label, "expected a method name (a token)", val);
        break;
    case R_TIMEOUT: rc = get_duration(label, val, 0, &p->timeout_ns, err, errlen); break;
    case R_IDLE_TIMEOUT: rc = get_duration(label, val, 1, &p->idle_timeout_ns, err, errlen); break;
    case R_PING_INTERVAL:
        rc = get_duration(label, val, 1, &p->ping_interval_ns, err, errlen);
        break;
    case R_MAX_MESSAGE: rc = get_size(label, val, 1, &p->max_message, err, errlen); break;
    case R_THRESHOLD: {
        char why_buf[256];
        if (o->nthresholds == REPORT_MAX_THRESHOLDS)
            return errf(err, errlen, "%s: at most %d thresholds", label, REPORT_MAX_THRESHOLDS);
        if (threshold_parse(val, &o->thresholds[o->nthresholds], why_buf, sizeof why_buf) != 0)
            return errf(err, errlen, "%s: %s", label, why_buf);
        o->nthresholds++;
        break;
    }
    case R_OUTPUT:
        rc = get_string(label, val, (const char **)(void *)((char *)o + opt->path_field), err,
                        errlen);
        break;
    case R_STAGES: {
        const char *why;
        int n = stages_parse(val, p->stages, LOAD_MAX_STAGES, &why);
        if (n < 0)
            return bad_value(err, errlen, label, why, val);
        p->nstages = (size_t)n;
        o->_load_given |= CLI_GIVEN_STAGES;
        break;
    }
    case R_SHARD:
        rc = shard_parse(label, val, &p->shard_index, &p->shard_count, err, errlen);
        break;
    case R_START_AT: rc = start_at_parse(label, val, &o->start_at_real_ns, err, errlen); break;
    case R_QUIET: rc = get_bool(label, val, &p->quiet, err, errlen); break;
    case R_FILE: rc = get_string(label, val, &o->scenario_path, err, errlen); break;
    case R_CHECK: rc = get_bool(label, val, &o->check, err, errlen); break;
    case R_ALLOW_EMPTY: rc = get_bool(label, val, &o->allow_empty, err, errlen); break;
    case R_METRICS_LISTEN: rc = listen_parse(label, val, &o->metrics_listen, err, errlen); break;
    case R_WATCH_PID: {
        uint64_t pid;
        rc = get_count(label, val, 1, INT32_MAX, &pid, err, errlen);
        if (rc == 0 && o->nwatch == RUN_MAX_WATCH)
            return errf(err, errlen, "%s: at most %d processes", label, RUN_MAX_WATCH);
        if (rc == 0)
            o->watch_pid[o->nwatch++] = (int)pid;
        break;
    }
    case R_FORCE: rc = get_bool(label, val, &o->force, err, errlen); break;
    case R_HELP: cli_usage(stdout, "run"); return CLI_HELP;
    case R_RECONNECT: rc = get_bool(label, val, &p->reconnect, err, errlen); break;
    case R_BACKOFF: {
        /* The engine keeps the text and parses it with the same function; checking it here
         * turns a typo into an error before the run, not into a reconnect storm during it. */
        struct backoff b;
        const char *why;
        if (backoff_parse(val, &b, &why) != 0)
            return bad_value(err, errlen, label, why, val);
        p->backoff = val;
        break;
    }
    case R_MAX_RETRIES:
        rc = get_count(label, val, 1, UINT64_MAX, &p->max_retries, err, errlen);
        break;
    case R_READ_RATE: rc = read_rate_parse(label, val, &p->read_rate, err, errlen); break;
    case R_BIND: rc = get_string(label, val, &p->bind, err, errlen); break;
    case R_INSECURE: rc = get_bool(label, val, &p->insecure, err, errlen); break;
    case R_CACERT: rc = get_string(label, val, &p->cacert, err, errlen); break;
    case R_CERT: rc = get_string(label, val, &p->cert, err, errlen); break;
    case R_KEY: rc = get_string(label, val, &p->key, err, errlen); break;
    case R_SNI: rc = get_string(label, val, &p->sni, err, errlen); break;
    case R_TLS_RESUME: rc = get_bool(label, val, &p->tls_resume, err, errlen); break;
    case R_PROCS:
        rc = get_count(label, val, 1, MAX_PROCS, &u, err, errlen);
        if (rc == 0)
            p->procs = (unsigned)u;
        break;
    default: return opt_todo(label, err, errlen);
    }
    return rc;
}

static int run_apply_cb(void *ctx, const struct cli_opt *opt, const char *label, const char *val,
                        char *err, size_t errlen)
{
    if (opt->flags & CLI_MERGE_ONLY)
        return errf(err, errlen, "unknown option %s (see herd run --help)", label);
    return run_apply(ctx, opt, label, val, err, errlen);
}

static int run_positional_cb(void *ctx, const char *arg, char *err, size_t errlen)
{
    return run_url(ctx, arg, err, errlen);
}

void cli_run_init(struct run_options *o)
{
    memset(o, 0, sizeof *o);
    client_params_defaults(&o->client);
}

int cli_run_option(struct run_options *o, const char *name, const char *value, char *err,
                   size_t errlen)
{
    /* Scenario keys write dashes as underscores; fold them to find the option. */
    char folded[64];
    size_t len = strlen(name);
    if (len >= sizeof folded) {
        char label[64];
        label_copy(label, sizeof label, "", name, len);
        return errf(err, errlen, "unknown option %s...", label);
    }
    for (size_t i = 0; i <= len; i++)
        folded[i] = name[i] == '_' ? '-' : name[i];
    if (strcmp(folded, "url") == 0) {
        if (!value)
            return errf(err, errlen, "%s: missing value (expected a URL)", name);
        return run_url(o, value, err, errlen);
    }
    const struct cli_opt *opt = opt_by_long(cli__run_opts, cli__run_nopts, folded, len);
    if (!opt || (opt->flags & CLI_MERGE_ONLY)) {
        char label[64];
        label_copy(label, sizeof label, "", name, len);
        return errf(err, errlen, "unknown option %s", label);
    }
    if (opt->arg == CLI_ARG_TODO)
        return opt_todo(name, err, errlen);
    if (opt->arg == CLI_ARG_VALUE && !value)
        return opt_missing(opt, name, err, errlen);
    return run_apply(o, opt, name, value, err, errlen);
}

/* The row of `herd run` option name (dashes or underscores), NULL for none. */
static const struct cli_opt *run_opt_find(const char *name)
{
    char folded[64];
    size_t len = strlen(name);
    if (len >= sizeof folded)
        return NULL;
    for (size_t i = 0; i <= len; i++)
        folded[i] = name[i] == '_' ? '-' : name[i];
    return opt_by_long(cli__run_opts, cli__run_nopts, folded, len);
}

int cli_run_option_kind(const char *name)
{
    if (strcmp(name, "url") == 0)
        return CLI_OPT_VALUE;
    const struct cli_opt *opt = run_opt_find(name);
    if (!opt || opt->arg == CLI_ARG_TODO || (opt->flags & CLI_MERGE_ONLY))
        return CLI_OPT_UNKNOWN;
    return opt->arg == CLI_ARG_FLAG ? CLI_OPT_FLAG : CLI_OPT_VALUE;
}

unsigned cli_run_option_flags(const char *name)
{
    const struct cli_opt *opt = run_opt_find(name);
    return opt ? opt->flags : 0;
}

void cli_run_outputs(const struct run_options *o, FILE *summary, struct report_outputs *out)
{
    memset(out, 0, sizeof *out);
    out->summary = summary;
    for (size_t i = 0; i < cli__run_nopts; i++) {
        const struct cli_opt *opt = &cli__run_opts[i];
        if (!(opt->flags & CLI_OUTPUT))
            continue;
        const char *path = *(const char *const *)(const void *)((const char *)o + opt->path_field);
        if (!path || out->nfiles == REPORT_MAX_OUTPUTS)
            continue;
        out->file[out->nfiles++] = (struct report_output){opt->name, path, opt->write};
    }
}

struct each_ctx {
    cli_run_each_fn *fn;
    void *ctx;
};

static int each_apply_cb(void *ctx, const struct cli_opt *opt, const char *label, const char *val,
                         char *err, size_t errlen)
{
    struct each_ctx *e = ctx;
    (void)label, (void)err, (void)errlen;
    return e->fn(e->ctx, opt->name, val);
}

static int each_positional_cb(void *ctx, const char *arg, char *err, size_t errlen)
{
    struct each_ctx *e = ctx;
    (void)err, (void)errlen;
    return e->fn(e->ctx, "url", arg);
}

int cli_run_walk(int argc, char **argv, cli_run_each_fn *fn, void *ctx)
{
    struct each_ctx e = {fn, ctx};
    char err[128];
    return walk(argc, argv, cli__run_opts, cli__run_nopts, "run", each_apply_cb, each_positional_cb,
                &e, err, sizeof err);
}

/* ---- the effective configuration, for the report ---- */

static void config_add(struct run_options *o, const char *key, int is_number, const char *fmt, ...)
    PRINTF_LIKE(4, 5);
static void config_add(struct run_options *o, const char *key, int is_number, const char *fmt, ...)
{
    if (o->nconfig == REPORT_MAX_CONFIG)
        return;
    char *dst = o->arena + o->arena_used;
    size_t room = sizeof o->arena - o->arena_used;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    /* A value that does not fit is left out rather than cut: a truncated URL in a report
     * looks like the real one. With the sizes involved this takes pathological input. */
    if (n < 0 || (size_t)n >= room)
        return;
    o->arena_used += (size_t)n + 1;
    o->config[o->nconfig].key = key;
    o->config[o->nconfig].value = dst;
    o->config[o->nconfig].is_number = is_number;
    o->nconfig++;
}

static double seconds(uint64_t ns)
{
    return (double)ns / 1e9;
}

static const char *tf(int b)
{
    return b ? "true" : "false";
}

static void config_fill(struct run_options *o)
{
    const struct client_params *p = &o->client;
    o->nconfig = 0;
    o->arena_used = 0;
    if (p->url_text)
        config_add(o, "url", 0, "%s", p->url_text);
    if (o->scenario_path)
        config_add(o, "file", 0, "%s", o->scenario_path);
    config_add(o, "role", 0, "%s", p->flow ? "flow" : client_role_name[p->role]);
    config_add(o, "connections", 1, "%" PRIu64, p->connections);
    config_add(o, "duration", 1, "%.9g", seconds(p->duration_ns));
    config_add(o, "threads", 1, "%u", p->threads);
    if (p->connect_rate > 0)
        config_add(o, "connect_rate", 1, "%.9g", p->connect_rate);
    if (p->rate > 0)
        config_add(o, "rate", 1, "%.9g", p->rate);
    config_add(o, "pipeline", 1, "%u", p->pipeline);
    config_add(o, "size", 1, "%zu", p->size);
    config_add(o, "binary", 1, "%s", tf(p->binary));
    if (o->message_buf)
        config_add(o, "message_file_bytes", 1, "%zu", p->message_len);
    else if (p->message)
        config_add(o, "message_bytes", 1, "%zu", p->message_len);
    if (o->flow_path)
        config_add(o, "flow", 0, "%s", o->flow_path);
    else if (p->flow)
        config_add(o, "flow", 0, "inline");
    if (o->data_path)
        config_add(o, "data", 0, "%s%s", o->data_path, o->data_random ? " (random rows)" : "");
    if (p->nheaders) {
        /* Names only: values are often bearer tokens, and reports get shared. */
        char names[512];
        size_t used = 0;
        names[0] = '\0';
        for (size_t i = 0; i < p->nheaders && used < sizeof names; i++) {
            size_t nlen = strcspn(p->headers[i], ":");
            int n = snprintf(names + used, sizeof names - used, "%s%.*s", i ? ", " : "", (int)nlen,
                             p->headers[i]);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        config_add(o, "header", 0, "%s", names);
    }
    if (p->subprotocol)
        config_add(o, "subprotocol", 0, "%s", p->subprotocol);
    if (p->method)
        config_add(o, "method", 0, "%s", p->method);
    if (p->origin)
        config_add(o, "origin", 0, "%s", p->origin);
    if (p->compress && p->compress_params)
        config_add(o, "compress", 0, "%s", p->compress_params);
    else
        config_add(o, "compress", 1, "%s", tf(p->compress));
    config_add(o, "timeout", 1, "%.9g", seconds(p->timeout_ns));
    if (p->idle_timeout_ns)
        config_add(o, "idle_timeout", 1, "%.9g", seconds(p->idle_timeout_ns));
    if (p->ping_interval_ns)
        config_add(o, "ping_interval", 1, "%.9g", seconds(p->ping_interval_ns));
    config_add(o, "max_message", 1, "%" PRIu64, p->max_message);
    if (p->shard_count > 1)
        config_add(o, "shard", 0, "%u/%u", p->shard_index, p->shard_count);
    if (p->reconnect) {
        config_add(o, "reconnect", 1, "true");
        if (p->backoff)
            config_add(o, "backoff", 0, "%s", p->backoff);
        if (p->max_retries)
            config_add(o, "max_retries", 1, "%" PRIu64, p->max_retries);
    }
    if (p->read_rate >= 0)
        config_add(o, "read_rate", 1, "%.9g", p->read_rate);
    if (p->bind)
        config_add(o, "bind", 0, "%s", p->bind);
    if (p->url.tls) {
        config_add(o, "insecure", 1, "%s", tf(p->insecure));
        if (p->cacert)
            config_add(o, "cacert", 0, "%s", p->cacert);
        if (p->cert)
            config_add(o, "cert", 0, "%s", p->cert);
        if (p->sni)
            config_add(o, "sni", 0, "%s", p->sni);
        config_add(o, "tls_resume", 1, "%s", tf(p->tls_resume));
    }
    if (p->procs)
        config_add(o, "procs", 1, "%u", p->procs);
    if (o->allow_empty)
        config_add(o, "allow_empty", 1, "true");
    if (o->metrics_listen)
        config_add(o, "metrics_listen", 0, "%s", o->metrics_listen);
    if (o->nwatch) {
        char pids[RUN_MAX_WATCH * 12] = "";
        size_t used = 0;
        for (size_t i = 0; i < o->nwatch; i++)
            used += (size_t)snprintf(pids + used, sizeof pids - used, "%s%d", i ? "," : "",
                                     o->watch_pid[i]);
        config_add(o, "watch_pid", 0, "%s", pids);
    }
}

int cli_run_finish(struct run_options *o, char *err, size_t errlen)
{
    struct client_params *p = &o->client;
    if (!p->url_text && !o->scenario_path)
        return errf(err, errlen, "missing URL (see herd run --help)");
    if (p->url_text && p->url.sse) {
        /* An event stream only flows from server to client: of the roles, only subscribe and
         * idle mean something there, and subscribe is what someone pointing at SSE wants. */
        if (!o->_role_given)
            p->role = ROLE_SUBSCRIBE;
        else if (p->role != ROLE_SUBSCRIBE && p->role != ROLE_IDLE && p->role != ROLE_PUBLISH)
            return errf(err, errlen,
                        "--role: %s needs a WebSocket URL (ws:// or wss://); with an http(s) URL "
                        "use subscribe, idle or publish (HTTP POST)",
                        client_role_name[p->role]);
    }
    if (p->size > p->max_message)
        return errf(err, errlen, "--size: %zu bytes is more than --max-message (%" PRIu64 ")",
                    p->size, p->max_message);
    if (p->message && p->message_len > p->max_message)
        return errf(
            err, errlen, "%s: the message has %zu bytes, more than --max-message (%" PRIu64 ")",
            o->message_buf ? "--message-file" : "--message", p->message_len, p->max_message);
    if (p->cert && !p->key)
        return errf(err, errlen, "--cert: needs --key");
    if (p->key && !p->cert)
        return errf(err, errlen, "--key: needs --cert");
    if ((o->_load_given & CLI_GIVEN_STAGES) &&
        (o->_load_given & (CLI_GIVEN_CONNECTIONS | CLI_GIVEN_DURATION)))
        return errf(err, errlen,
                    "--stages: cannot go with %s: the stages set both the connections (their "
                    "largest target) and the duration (their total); give one or the other",
                    (o->_load_given & CLI_GIVEN_CONNECTIONS) ? "-c (connections)"
                                                             : "-d (duration)");
    if (p->nstages) {
        /* The stages say how many and for how long: -c is the largest target. */
        uint64_t most = 0;
        for (size_t i = 0; i < p->nstages; i++)
            most = p->stages[i].target > most ? p->stages[i].target : most;
        if (most == 0)
            return errf(err, errlen, "--stages: every stage targets 0 connections");
        p->connections = most;
        p->duration_ns = stages_duration(p->stages, p->nstages);
    }
    if (!p->reconnect && (p->backoff || p->max_retries))
        return errf(err, errlen, "%s: only applies with --reconnect",
                    p->backoff ? "--backoff" : "--max-retries");
    /* --data first: a flow's {{data.COL}} is checked against its columns. */
    if (o->data_path && !o->data_owned) {
        o->data_owned = xcalloc(1, sizeof *o->data_owned);
        if (csv_load(o->data_path, o->data_owned, err, errlen) != 0) {
            csv_free(o->data_owned);
            free(o->data_owned);
            o->data_owned = NULL;
            return HERD_E_INVAL;
        }
        o->data_owned->random = o->data_random;
        p->data = o->data_owned;
    } else if (o->data_random && !o->data_path) {
        return errf(err, errlen, "--data-random: needs --data");
    }
    /* {{data.COL}} in the URL's query and the -H values: rendered per connection. */
    for (size_t i = 0; i <= p->nheaders; i++) {
        const char *text = i < p->nheaders ? p->headers[i] : p->url_text ? p->url.target : NULL;
        if (!text || !strstr(text, "{{data."))
            continue;
        const char *opt = i < p->nheaders ? "--header" : "url";
        if (!p->data)
            return errf(err, errlen, "%s: {{data.COL}} needs --data FILE.csv", opt);
        struct flow_tmpl t;
        char why[256];
        int rc = flow_tmpl_compile_request(&t, text, strlen(text), p->data, why, sizeof why);
        flow_tmpl_free(&t);
        if (rc != 0)
            return errf(err, errlen, "%s: %s", opt, why);
    }
    if (o->flow_path && !o->flow_owned) {
        struct flow_input in = {p->data, 0};
        if (flow_compile_file(o->flow_path, &in, &o->flow_owned, err, errlen) != 0) {
            /* A mistake inside the file names its FILE:LINE:COLUMN; a file that cannot be read
             * names the option. */
            size_t n = strlen(o->flow_path);
            if (err && errlen &&
                !(strncmp(err, o->flow_path, n) == 0 && err[n] == ':' && err[n + 1] >= '0' &&
                  err[n + 1] <= '9')) {
                char why[512];
                snprintf(why, sizeof why, "%s", err);
                errf(err, errlen, "--flow: %s", why);
            }
            return HERD_E_INVAL;
        }
        p->flow = o->flow_owned;
    }
    if (p->flow && p->url_text && p->url.sse)
        return errf(err, errlen, "--flow: flows hold WebSocket conversations (ws:// or wss://)");
    config_fill(o);
    return CLI_OK;
}

int cli_run_parse(int argc, char **argv, struct run_options *o, char *err, size_t errlen)
{
    cli_run_init(o);
    int rc = walk(argc, argv, cli__run_opts, cli__run_nopts, "run", run_apply_cb, run_positional_cb,
                  o, err, errlen);
    if (rc != 0)
        return rc;
    return cli_run_finish(o, err, errlen);
}

void cli_run_options_free(struct run_options *o)
{
    flow_free(o->flow_owned);
    o->flow_owned = NULL;
    o->client.flow = NULL;
    if (o->data_owned) {
        csv_free(o->data_owned);
        free(o->data_owned);
        o->data_owned = NULL;
    }
    o->client.data = NULL;
    free(o->message_buf);
    o->message_buf = NULL;
    o->client.message = NULL;
    o->client.message_len = 0;
}

/* ---- herd merge: --threshold and the report files of herd run's table ---- */

static int merge_apply(void *ctx, const struct cli_opt *opt, const char *label, const char *val,
                       char *err, size_t errlen)
{
    struct merge_options *m = ctx;
    if (!(opt->flags & CLI_MERGE))
        return errf(err, errlen, "unknown option %s (see herd merge --help)", label);
    if (opt->id == R_HELP) {
        cli_usage(stdout, "merge");
        return CLI_HELP;
    }
    return run_apply(&m->run, opt, label, val, err, errlen);
}

static int merge_positional(void *ctx, const char *arg, char *err, size_t errlen)
{
    struct merge_options *m = ctx;
    (void)err, (void)errlen;
    m->files[m->nfiles++] = arg;
    return 0;
}

int cli_merge_parse(int argc, char **argv, struct merge_options *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    cli_run_init(&m->run);
    m->files = xcalloc((size_t)(argc > 0 ? argc : 1), sizeof *m->files);
    int rc = walk(argc, argv, cli__run_opts, cli__run_nopts, "merge", merge_apply, merge_positional,
                  m, err, errlen);
    if (rc != 0)
        return rc;
    if (!m->nfiles)
        return errf(err, errlen, "merge: expected JSON reports to merge (see herd merge --help)");
    return CLI_OK;
}

void cli_merge_options_free(struct merge_options *m)
{
    cli_run_options_free(&m->run);
    free(m->files);
    m->files = NULL;
    m->nfiles = 0;
}

/* ---- herd serve ---- */

#define SERVE_MAX_PROCS 1024

enum serve_opt {
    S_BIND,
    S_PORT,
    S_THREADS,
    S_DELAY,
    S_STALL,
    S_STALL_EVERY,
    S_TICK,
    S_SLOW_POLICY,
    S_QUEUE_LIMIT,
    S_SNDBUF,
    S_MAX_CONNECTIONS,
    S_REJECT,
    S_DIE_AFTER,
    S_TLS_CERT,
    S_TLS_KEY,
    S_HISTORY,
    S_SSE_RETRY,
    S_PROCS,
    S_COMPRESS,
    S_QUIET,
    S_HELP,
};

/* `herd serve`, in its --help sections. */
const struct cli_opt cli__serve_opts[] = {
    {"bind", 0, CLI_ARG_VALUE, S_BIND, "an address like 127.0.0.1", "ADDR",
     "address to listen on (default 127.0.0.1)", .section = CLI_SEC_SERVE},
    {"port", 0, CLI_ARG_VALUE, S_PORT, "a port number", "N",
     "port (default 8080; 0 = any free port)", .section = CLI_SEC_SERVE},
    {"threads", 't', CLI_ARG_VALUE, S_THREADS, "a whole number", "N",
     "event-loop threads (default: number of CPUs)", .section = CLI_SEC_SERVE},
    {"procs", 0, CLI_ARG_VALUE, S_PROCS, "a whole number", "N",
     "N processes sharing the port (SO_REUSEPORT), --threads each;\n"
     "topics are per process",
     .section = CLI_SEC_SERVE},
    {"tls-cert", 0, CLI_ARG_VALUE, S_TLS_CERT, "a file name", "F",
     "serve TLS (wss://, https://) with this certificate ...", .section = CLI_SEC_SERVE},
    {"tls-key", 0, CLI_ARG_VALUE, S_TLS_KEY, "a file name", "F", "... and this key",
     .section = CLI_SEC_SERVE},
    {"max-connections", 0, CLI_ARG_VALUE, S_MAX_CONNECTIONS, "a whole number", "N",
     "refuse connections beyond N (default: unlimited)", .section = CLI_SEC_SERVE},
    {"history", 0, CLI_ARG_VALUE, S_HISTORY, "a whole number", "N",
     "messages per topic kept for Last-Event-ID (default 1024)", .section = CLI_SEC_SERVE},
    {"sse-retry", 0, CLI_ARG_VALUE, S_SSE_RETRY, "a duration like 3s", "DUR",
     "start every event stream with retry: DUR", .section = CLI_SEC_SERVE},
    {"compress", 0, CLI_ARG_FLAG, S_COMPRESS, NULL, NULL,
     "accept permessage-deflate on /echo and /pubsub (always without\n"
     "server context takeover: a broadcast is compressed once)",
     .section = CLI_SEC_SERVE},
    {"quiet", 'q', CLI_ARG_FLAG, S_QUIET, NULL, NULL, "print nothing but errors",
     .section = CLI_SEC_SERVE},
    {"help", 'h', CLI_ARG_FLAG, S_HELP, NULL, NULL, "this text", .section = CLI_SEC_SERVE},

    {"delay", 0, CLI_ARG_VALUE, S_DELAY, "a duration like 10ms", "DUR", "hold each reply this long",
     .section = CLI_SEC_FAULTS},
    {"stall", 0, CLI_ARG_VALUE, S_STALL, "a duration like 1s", "DUR", "freeze for DUR ...",
     .section = CLI_SEC_FAULTS},
    {"stall-every", 0, CLI_ARG_VALUE, S_STALL_EVERY, "a duration like 10s", "DUR",
     "... every DUR (shows coordinated omission)", .section = CLI_SEC_FAULTS},
    {"tick", 0, CLI_ARG_VALUE, S_TICK, "a number with optional /s", "R",
     "publish stamped messages to topic \"tick\" at R per second", .section = CLI_SEC_FAULTS},
    {"slow-policy", 0, CLI_ARG_VALUE, S_SLOW_POLICY, "buffer, drop or close", "P",
     "what a slow subscriber gets: buffer (default), drop or close", .section = CLI_SEC_FAULTS},
    {"queue-limit", 0, CLI_ARG_VALUE, S_QUEUE_LIMIT, "a size like 1MiB", "BYTES",
     "per-subscriber queue before the policy applies (default 1MiB)", .section = CLI_SEC_FAULTS},
    {"sndbuf", 0, CLI_ARG_VALUE, S_SNDBUF, "a size like 32KiB", "BYTES",
     "SO_SNDBUF of accepted sockets (default: the kernel's autotuning;\n"
     "e.g. --sndbuf 32k --queue-limit 64k for prompt slow policies)",
     .section = CLI_SEC_FAULTS},
    {"reject", 0, CLI_ARG_VALUE, S_REJECT, "a fraction from 0 to 1", "P",
     "answer a fraction P of upgrades with 503 (0.1 or 10%)", .section = CLI_SEC_FAULTS},
    {"die-after", 0, CLI_ARG_VALUE, S_DIE_AFTER, "a duration like 30s", "DUR",
     "exit abruptly after DUR", .section = CLI_SEC_FAULTS},
};
const size_t cli__serve_nopts = ARRAY_SIZE(cli__serve_opts);

/* --reject: "0.05" or "5%". */
static int reject_parse(const char *label, const char *val, double *out, char *err, size_t errlen)
{
    static const char form[] = "expected a fraction from 0 to 1 (or a percentage)";
    const char *end;
    long double v;
    if (cli__number(val, &end, &v) != 0)
        return bad_value(err, errlen, label, form, val);
    if (*end == '%') {
        v /= 100;
        end++;
    }
    if (*end || v > 1)
        return bad_value(err, errlen, label, form, val);
    *out = (double)v;
    return 0;
}

static int serve_apply(void *ctx, const struct cli_opt *opt, const char *label, const char *val,
                       char *err, size_t errlen)
{
    struct server_params *p = ctx;
    uint64_t u;
    int rc = 0;
    switch (opt->id) {
    case S_BIND: rc = get_string(label, val, &p->bind, err, errlen); break;
    case S_PORT:
        rc = get_count(label, val, 0, 65535, &u, err, errlen);
        if (rc == 0)
            p->port = (uint16_t)u;
        break;
    case S_THREADS:
        rc = get_count(label, val, 0, MAX_THREADS, &u, err, errlen);
        if (rc == 0)
            p->threads = (unsigned)u;
        break;
    case S_DELAY: rc = get_duration(label, val, 1, &p->delay_ns, err, errlen); break;
    case S_STALL: rc = get_duration(label, val, 1, &p->stall_ns, err, errlen); break;
    case S_STALL_EVERY: rc = get_duration(label, val, 1, &p->stall_every_ns, err, errlen); break;
    case S_TICK: rc = get_rate(label, val, &p->tick_rate, err, errlen); break;
    case S_SLOW_POLICY:
        if (strcmp(val, "buffer") == 0)
            p->slow_policy = SLOW_BUFFER;
        else if (strcmp(val, "drop") == 0)
            p->slow_policy = SLOW_DROP;
        else if (strcmp(val, "close") == 0)
            p->slow_policy = SLOW_CLOSE;
        else
            rc = bad_value(err, errlen, label, "expected buffer, drop or close", val);
        break;
    case S_QUEUE_LIMIT: rc = get_size(label, val, 1, &p->queue_limit, err, errlen); break;
    case S_SNDBUF:
        rc = get_size(label, val, 0, &p->sndbuf, err, errlen);
        if (rc == 0 && p->sndbuf > (1ull << 30))
            rc = bad_value(err, errlen, label, "expected a size up to 1GiB", val);
        break;
    case S_MAX_CONNECTIONS:
        rc = get_count(label, val, 0, UINT64_MAX, &p->max_connections, err, errlen);
        break;
    case S_REJECT: rc = reject_parse(label, val, &p->reject, err, errlen); break;
    case S_DIE_AFTER: rc = get_duration(label, val, 0, &p->die_after_ns, err, errlen); break;
    case S_TLS_CERT: rc = get_string(label, val, &p->tls_cert, err, errlen); break;
    case S_TLS_KEY: rc = get_string(label, val, &p->tls_key, err, errlen); break;
    case S_HISTORY: rc = get_count(label, val, 0, 1u << 20, &p->history, err, errlen); break;
    case S_SSE_RETRY:
        rc = get_duration(label, val, 0, &u, err, errlen);
        if (rc == 0 && u < NS_PER_MS)
            rc = errf(err, errlen, "%s: at least 1ms", label);
        if (rc == 0)
            p->sse_retry_ms = u / NS_PER_MS;
        break;
    case S_PROCS:
        rc = get_count(label, val, 1, SERVE_MAX_PROCS, &u, err, errlen);
        if (rc == 0)
            p->procs = (unsigned)u;
        break;
    case S_COMPRESS: rc = get_bool(label, val, &p->compress, err, errlen); break;
    case S_QUIET: rc = get_bool(label, val, &p->quiet, err, errlen); break;
    case S_HELP: cli_usage(stdout, "serve"); return CLI_HELP;
    default: return opt_todo(label, err, errlen);
    }
    return rc;
}

static int serve_positional(void *ctx, const char *arg, char *err, size_t errlen)
{
    char q[96];
    (void)ctx;
    quote(q, sizeof q, arg);
    return errf(err, errlen,
                "unexpected argument %s: herd serve takes only options (see herd "
                "serve --help)",
                q);
}

int cli_serve_parse(int argc, char **argv, struct server_params *p, char *err, size_t errlen)
{
    server_params_defaults(p);
    int rc = walk(argc, argv, cli__serve_opts, cli__serve_nopts, "serve", serve_apply,
                  serve_positional, p, err, errlen);
    if (rc != 0)
        return rc;
    if (p->stall_ns && !p->stall_every_ns)
        return errf(err, errlen, "--stall: needs --stall-every");
    if (p->stall_every_ns && !p->stall_ns)
        return errf(err, errlen, "--stall-every: needs --stall");
    if (p->stall_ns && p->stall_ns >= p->stall_every_ns)
        return errf(err, errlen, "--stall: must be shorter than --stall-every");
    if (p->tls_cert && !p->tls_key)
        return errf(err, errlen, "--tls-cert: needs --tls-key");
    if (p->tls_key && !p->tls_cert)
        return errf(err, errlen, "--tls-key: needs --tls-cert");
    return CLI_OK;
}

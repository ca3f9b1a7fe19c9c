/* fuzz_units.c - libFuzzer target for what users type as option values: the four unit parsers,
 * threshold expressions, and every `herd run` option that takes a value (through
 * cli_run_option, the path scenario files take too).
 *
 * Invariants: a parser either succeeds or returns HERD_E_INVAL with a reason; what it accepts
 * survives a round trip through its canonical spelling; every error message is one line; a
 * parsed threshold evaluates without touching anything it should not. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "base/err.h"
#include "cli/cli.h"
#include "report/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line(const char *msg, size_t cap)
{
    HERD_ASSERT(strnlen(msg, cap) < cap);
    for (const char *p = msg; *p; p++)
        HERD_ASSERT(*p != '\n' && *p != '\r');
}

static void units(const char *s)
{
    const char *why = NULL;
    char canon[64];

    uint64_t ns = 0, ns2 = 0;
    int rc = cli_parse_duration(s, &ns, &why);
    HERD_ASSERT(rc == 0 || (rc == HERD_E_INVAL && why && *why));
    if (rc == 0) {
        snprintf(canon, sizeof canon, "%lluns", (unsigned long long)ns);
        HERD_ASSERT(cli_parse_duration(canon, &ns2, &why) == 0 && ns2 == ns);
    }

    uint64_t b = 0, b2 = 0;
    why = NULL;
    rc = cli_parse_size(s, &b, &why);
    HERD_ASSERT(rc == 0 || (rc == HERD_E_INVAL && why && *why));
    if (rc == 0) {
        snprintf(canon, sizeof canon, "%llu", (unsigned long long)b);
        HERD_ASSERT(cli_parse_size(canon, &b2, &why) == 0 && b2 == b);
    }

    double r = -1;
    why = NULL;
    rc = cli_parse_rate(s, &r, &why);
    HERD_ASSERT(rc == 0 || (rc == HERD_E_INVAL && why && *why));
    if (rc == 0)
        HERD_ASSERT(isfinite(r) && r >= 0 && r <= 1e12);

    uint64_t at = 0, at2 = 0;
    why = NULL;
    rc = cli_parse_instant(s, 1796224200ull * 1000000000ull, &at, &why);
    HERD_ASSERT(rc == 0 || (rc == HERD_E_INVAL && why && *why));
    if (rc == 0 && s[0] != '+') {
        snprintf(canon, sizeof canon, "%llu.%09llu", (unsigned long long)(at / 1000000000ull),
                 (unsigned long long)(at % 1000000000ull));
        HERD_ASSERT(cli_parse_instant(canon, 0, &at2, &why) == 0 && at2 == at);
    }

    uint64_t n = 0, n2 = 0;
    why = NULL;
    rc = cli_parse_count(s, &n, &why);
    HERD_ASSERT(rc == 0 || (rc == HERD_E_INVAL && why && *why));
    if (rc == 0) {
        snprintf(canon, sizeof canon, "%llu", (unsigned long long)n);
        HERD_ASSERT(cli_parse_count(canon, &n2, &why) == 0 && n2 == n);
    }
}

static void threshold(const char *s)
{
    /* Statistics without histograms (every hist NULL) and with a zero run time: evaluation
     * must cope with both. */
    static struct stats st;
    static struct report rep;
    struct threshold t;
    char why[200];
    why[0] = '\0';
    int rc = threshold_parse(s, &t, why, sizeof why);
    if (rc != 0) {
        HERD_ASSERT(rc == HERD_E_INVAL && why[0] == '"');
        one_line(why, sizeof why);
        return;
    }
    HERD_ASSERT(strcmp(t.expr, s) == 0);
    HERD_ASSERT(t.kind >= THR_PERCENTILE && t.kind <= THR_RATIO);
    HERD_ASSERT(t.op >= THR_LT && t.op <= THR_NE);
    HERD_ASSERT(t.kind != THR_PERCENTILE || (t.metric >= 0 && t.metric < M_COUNT));
    HERD_ASSERT(t.kind == THR_PERCENTILE || t.name[0]);
    HERD_ASSERT(isfinite(t.limit) && t.limit >= 0);
    rep.total = (rep.total == NULL) ? &st : NULL;
    int failed = report_thresholds_eval(&rep, &t, 1);
    HERD_ASSERT(failed == 0 || failed == 1);
    HERD_ASSERT(rep.nthresholds == 1 && rep.thresholds[0].t == &t);
    HERD_ASSERT(failed == !rep.thresholds[0].ok);
}

static void options(const char *s)
{
    /* Every value-taking option except the ones that read files or print. */
    static const char *const names[] = {
        "connections",
        "duration",
        "threads",
        "role",
        "connect_rate",
        "rate",
        "pipeline",
        "size",
        "message",
        "header",
        "subprotocol",
        "origin",
        "timeout",
        "idle-timeout",
        "ping_interval",
        "max_message",
        "threshold",
        "json",
        "shard",
        "backoff",
        "max_retries",
        "read_rate",
        "bind",
        "sni",
        "procs",
        "start_at",
        "url",
        "compress",
        "reconnect",
        "stages",
        "",
    };
    static struct run_options o;
    char err[256];
    cli_run_init(&o);
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        /* The last round takes the input as the option name too; a name that reads a file or
         * prints the usage is skipped. */
        const char *name = names[i][0] ? names[i] : s;
        if (strstr(name, "file") || strcmp(name, "help") == 0)
            continue;
        err[0] = '\0';
        int rc = cli_run_option(&o, name, s, err, sizeof err);
        HERD_ASSERT(rc == CLI_OK || rc == CLI_HELP || rc < 0);
        if (rc < 0)
            one_line(err, sizeof err);
    }
    err[0] = '\0';
    int rc = cli_run_finish(&o, err, sizeof err);
    if (rc < 0)
        one_line(err, sizeof err);
    HERD_ASSERT(o.arena_used <= sizeof o.arena && o.nconfig <= REPORT_MAX_CONFIG);
    cli_run_options_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The parsers take C strings, as argv and YAML scalars are: cut at the first NUL. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    units(s);
    threshold(s);
    options(s);
    free(s);
    return 0;
}

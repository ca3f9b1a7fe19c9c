/* test_scenario.c - scenario files: good files (defaults, overrides, lists, the command line over
 * the top level, threads), and every kind of mistake with its exact FILE:LINE:COLUMN line. */
#include "base/err.h"
#include "scenario/scenario.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char err[512];

static int parse(struct scenario *s, const char *text)
{
    err[0] = '\0';
    return scenario_parse_buffer(text, strlen(text), "t.yaml", NULL, s, err, sizeof err);
}

static int parse_ov(struct scenario *s, const char *text, const struct scenario_override *ov,
                    size_t n)
{
    struct scenario_input in = {ov, n, 0};
    err[0] = '\0';
    return scenario_parse_buffer(text, strlen(text), "t.yaml", &in, s, err, sizeof err);
}

/* The file must fail with exactly `want`. */
static void check_error(const char *text, const char *want)
{
    struct scenario s;
    int rc = parse(&s, text);
    CHECK(rc < 0);
    CHECK_EQ_STR(err, want);
    CHECK(strchr(err, '\n') == NULL);
    scenario_free(&s);
}

static const char *config(const struct run_options *o, const char *key)
{
    for (size_t i = 0; i < o->nconfig; i++) {
        if (strcmp(o->config[i].key, key) == 0)
            return o->config[i].value;
    }
    return NULL;
}

static void test_two_groups(void)
{
    struct scenario s;
    int rc = parse(&s, "duration: 60s\n"
                       "thresholds: [\"latency.p99<50ms\", \"messages.lost==0\"]\n"
                       "reconnect: true\n"
                       "backoff: \"exp:100ms..10s,jitter=full\"\n"
                       "header: [\"X-A: 1\", \"X-B: 2\"]\n"
                       "groups:\n"
                       "  - name: subscribers\n"
                       "    url: ws://127.0.0.1:8080/pubsub/t1\n"
                       "    role: subscribe\n"
                       "    connections: 10000\n"
                       "    connect_rate: 2000/s\n"
                       "  - name: publishers\n"
                       "    url: ws://127.0.0.1:8080/pubsub/t1\n"
                       "    role: publish\n"
                       "    connections: 10\n"
                       "    rate: 100/s\n"
                       "    size: 256\n"
                       "    header: \"X-C: 3\"\n"
                       "    thresholds: rtt.p99<1s\n");
    CHECK_EQ_I64(rc, 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_U64(s.ngroups, 2);
    CHECK_EQ_U64(s.connections, 10010);
    CHECK_EQ_U64(s.top.nthresholds, 2);
    CHECK_EQ_STR(s.top.thresholds[1].expr, "messages.lost==0");
    const struct client_params *a = &s.groups[0].opts.client, *b = &s.groups[1].opts.client;
    CHECK_EQ_STR(s.groups[0].name, "subscribers");
    CHECK_EQ_U64(s.groups[0].line, 7);
    CHECK_EQ_I64(a->role, ROLE_SUBSCRIBE);
    CHECK_EQ_U64(a->connections, 10000);
    CHECK(a->connect_rate == 2000.0);
    CHECK_EQ_U64(a->duration_ns, 60000000000ull);
    CHECK_EQ_I64(a->reconnect, 1);
    CHECK_EQ_STR(a->backoff, "exp:100ms..10s,jitter=full");
    CHECK_EQ_U64(a->nheaders, 2);
    CHECK_EQ_STR(a->headers[1], "X-B: 2");
    /* A group's key replaces the top-level one, lists included. */
    CHECK_EQ_U64(b->nheaders, 1);
    CHECK_EQ_STR(b->headers[0], "X-C: 3");
    CHECK_EQ_I64(b->role, ROLE_PUBLISH);
    CHECK(b->rate == 100.0);
    CHECK_EQ_U64(b->size, 256);
    CHECK_EQ_U64(b->duration_ns, 60000000000ull);
    /* Thresholds: the top level's are the run's, a group's its own. */
    CHECK_EQ_U64(s.groups[0].opts.nthresholds, 0);
    CHECK_EQ_U64(s.groups[1].opts.nthresholds, 1);
    CHECK_EQ_STR(s.groups[1].opts.thresholds[0].expr, "rtt.p99<1s");
    CHECK_EQ_STR(config(&s.groups[1].opts, "role"), "publish");
    CHECK(!s.groups[0].threads_given);
    scenario_threads_assign(&s, 8);
    CHECK_EQ_U64(a->threads, 8); /* round(8 * 10000 / 10010) */
    CHECK_EQ_U64(b->threads, 1); /* at least one */
    CHECK_EQ_STR(config(&s.groups[0].opts, "threads"), "8");
    scenario_free(&s);
}

static void test_values(void)
{
    struct scenario s;
    /* Flags, stages, dashes in keys, an SSE URL (subscribe implied), quoted numbers. */
    int rc = parse(&s, "threads: 2\n"
                       "groups:\n"
                       "- name: a.b-c_1\n"
                       "  url: ws://h/x\n"
                       "  binary: yes\n"
                       "  stages: 10s:100,5s:0\n"
                       "  connect-rate: \"50\"\n"
                       "  reconnect: false\n"
                       "- name: sse\n"
                       "  url: http://h/sse/t\n"
                       "  read_rate: 0\n"
                       "  threads: 1\n");
    CHECK_EQ_I64(rc, 0);
    CHECK_EQ_STR(err, "");
    const struct client_params *a = &s.groups[0].opts.client, *b = &s.groups[1].opts.client;
    CHECK_EQ_I64(a->binary, 1);
    CHECK_EQ_U64(a->nstages, 2);
    CHECK_EQ_U64(a->connections, 100); /* the largest stage */
    CHECK_EQ_U64(a->duration_ns, 15000000000ull);
    CHECK(a->connect_rate == 50.0);
    CHECK_EQ_I64(a->reconnect, 0);
    CHECK_EQ_I64(b->role, ROLE_SUBSCRIBE);
    CHECK(b->read_rate == 0.0);
    CHECK(s.groups[0].threads_given && s.groups[1].threads_given);
    scenario_threads_assign(&s, 16);
    CHECK_EQ_U64(a->threads, 2);
    CHECK_EQ_U64(b->threads, 1);
    CHECK_EQ_U64(s.connections, 110);
    scenario_free(&s);
}

static void test_overrides(void)
{
    struct scenario s;
    /* The command line wins over the top level, a group over both; --threshold adds. */
    const struct scenario_override ov[] = {
        {"duration", "5s"},         {"rate", "7"},    {"json", "out.json"}, {"quiet", NULL},
        {"threshold", "errors==0"}, {"shard", "1/2"},
    };
    int rc = parse_ov(&s,
                      "duration: 1m\n"
                      "rate: 1\n"
                      "thresholds: [rtt.p99<1s]\n"
                      "groups:\n"
                      "  - {name: a, url: \"ws://h/\", rate: 3}\n"
                      "  - {name: b, url: \"ws://h/\"}\n",
                      ov, sizeof ov / sizeof ov[0]);
    CHECK_EQ_I64(rc, 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_U64(s.groups[0].opts.client.duration_ns, 5000000000ull);
    CHECK(s.groups[0].opts.client.rate == 3.0);
    CHECK(s.groups[1].opts.client.rate == 7.0);
    CHECK_EQ_STR(s.top.json_path, "out.json");
    CHECK_EQ_I64(s.top.client.quiet, 1);
    CHECK_EQ_U64(s.top.nthresholds, 2);
    CHECK_EQ_U64(s.groups[1].opts.nthresholds, 0);
    CHECK_EQ_U64(s.groups[1].opts.client.shard_index, 1);
    CHECK_EQ_U64(s.groups[1].opts.client.shard_count, 2);
    CHECK_EQ_STR(s.top.scenario_path, "t.yaml");
    scenario_free(&s);
}

static void test_errors(void)
{
    /* YAML syntax */
    check_error("groups:\n  - name: a\n   url: x\n",
                "t.yaml:3:4: YAML: did not find expected '-' indicator while parsing a block "
                "collection (line 2)");
    check_error("groups: [a, b\n",
                "t.yaml:2:1: YAML: did not find expected ',' or ']' while parsing a flow "
                "sequence (line 1)");
    check_error("a: 1\n---\nb: 2\n", "t.yaml:3:1: a second YAML document: one scenario per file");
    check_error("x: *nope\n", "t.yaml:1:4: YAML: found undefined alias");
    /* the shape */
    check_error("", "t.yaml:1:1: no groups (the file is empty)");
    check_error("- a\n- b\n",
                "t.yaml:1:1: expected a mapping of options and groups at the top level, got a "
                "list");
    check_error("duration: 1s\n", "t.yaml:1:1: no groups (expected groups: with a list of groups)");
    check_error("groups: []\n", "t.yaml:1:9: groups: no groups (expected at least one)");
    check_error("groups:\n", "t.yaml:1:1: groups: expected a list of groups, got nothing");
    check_error("groups: {a: 1}\n", "t.yaml:1:9: groups: expected a list of groups, got a mapping");
    check_error("groups:\n  - ws://h/\n",
                "t.yaml:2:5: groups: expected a mapping with name, url, ..., got a value");
    /* keys */
    check_error("conections: 5\ngroups: [{name: a, url: ws://h/}]\n",
                "t.yaml:1:1: unknown key conections (keys are herd run long options, e.g. "
                "connect_rate)");
    check_error("groups:\n  - name: a\n    url: ws://h/\n    bogus_key: 1\n",
                "t.yaml:4:5: unknown key bogus_key (keys are herd run long options, e.g. "
                "connect_rate)");
    check_error("rate: 1\nrate: 2\ngroups: [{name: a, url: ws://h/}]\n",
                "t.yaml:2:1: duplicate key rate (also at line 1)");
    check_error(
        "groups:\n  - name: a\n    url: ws://h/\n    connect_rate: 1\n    connect-rate: 2\n",
        "t.yaml:5:5: duplicate key connect-rate (also at line 4)");
    check_error("? [a]\n: 1\ngroups: []\n",
                "t.yaml:1:3: expected an option name as key, got a list");
    check_error("file: x.yaml\ngroups: [{name: a, url: ws://h/}]\n",
                "t.yaml:1:1: file: not allowed in a scenario file");
    check_error("groups:\n  - name: a\n    url: ws://h/\n    json: r.json\n",
                "t.yaml:4:5: json: applies to the whole run: set it at the top level");
    check_error("name: x\ngroups: [{name: a, url: ws://h/}]\n",
                "t.yaml:1:1: name: names a group; put it in a group under groups:");
    /* values */
    check_error("groups:\n  - name: a\n    url: ws://h/\n    rate: fast\n",
                "t.yaml:4:11: rate: expected a number with optional /s, got \"fast\"");
    check_error("groups:\n  - name: a\n    url: ws://h/\n    connections: {n: 1}\n",
                "t.yaml:4:18: connections: expected a value, got a mapping");
    check_error("groups:\n  - name: a\n    url: ws://h/\n    rate: [1, 2]\n",
                "t.yaml:4:11: rate: expected one value, got a list");
    check_error("groups:\n  - name: a\n    url: ws://h/\n    header: [\"X-A: 1\", \"bad\"]\n",
                "t.yaml:4:24: header: expected 'Name: value', got \"bad\"");
    check_error("groups:\n  - name: a\n    url: ws://h/\n    rate:\n",
                "t.yaml:4:5: rate: missing value (expected a value)");
    check_error("groups:\n  - name: a\n    url: ws://h/\n    reconnect: maybe\n",
                "t.yaml:4:16: reconnect: expected true or false, got \"maybe\"");
    check_error("thresholds: [\"rtt.p99<20ms\", \"rtt.p99<fast\"]\ngroups: [{name: a, url: "
                "ws://h/}]\n",
                "t.yaml:1:30: thresholds: \"rtt.p99<fast\": expected a time like 20ms after <");
    check_error("groups:\n  - name: a\n    url: ftp://h/\n",
                "t.yaml:3:10: URL: unsupported scheme (expected ws://, wss://, http:// or "
                "https://), got \"ftp://h/\"");
    check_error("duration: soon\ngroups: [{name: a, url: ws://h/}]\n",
                "t.yaml:1:11: duration: expected a duration like 30s, 500ms or 2m, got \"soon\"");
    /* groups */
    check_error("groups:\n  - url: ws://h/\n", "t.yaml:2:5: group 1: missing name");
    check_error("groups:\n  - name: a\n    role: echo\n", "t.yaml:2:5: group \"a\": missing url");
    check_error("groups:\n  - name: a b\n    url: ws://h/\n",
                "t.yaml:2:11: name: expected letters, digits, _, - or . (at most 63), got \"a b\"");
    check_error("groups:\n  - name: a\n    url: ws://h/\n  - name: a\n    url: ws://h/\n",
                "t.yaml:4:11: duplicate group name \"a\" (also at line 2)");
    check_error("groups:\n  - name: a\n    url: ws://h/\n    groups: []\n",
                "t.yaml:4:5: groups: groups do not nest");
    check_error("groups:\n  - name: a\n    url: ws://h/\n  - 1: x\n",
                "t.yaml:4:5: group 2: missing name");
    /* checks across options (cli_run_finish), at the key that names the problem */
    check_error("groups:\n  - name: a\n    url: ws://h/\n    size: 2k\n    max_message: 1k\n",
                "t.yaml:4:5: size: 2048 bytes is more than --max-message (1024)");
    check_error("backoff: fixed:1s\ngroups: [{name: a, url: ws://h/}]\n",
                "t.yaml:1:1: backoff: only applies with --reconnect");
    check_error("groups:\n  - name: a\n    url: http://h/sse\n    role: echo\n",
                "t.yaml:4:5: role: echo needs a WebSocket URL (ws:// or wss://); with an http(s) "
                "URL use subscribe, idle or publish (HTTP POST)");
}

static void test_bytes(void)
{
    /* A NUL byte, invalid UTF-8, a BOM: one line each, never a crash. */
    struct scenario s;
    static const char nul[] = "groups:\n  - name: a\n    url: \"ws://h/\\0x\"\n";
    int rc = scenario_parse_buffer(nul, sizeof nul - 1, "t.yaml", NULL, &s, err, sizeof err);
    CHECK(rc < 0);
    CHECK_EQ_STR(err, "t.yaml:3:10: url: the value holds a NUL byte");
    scenario_free(&s);
    static const char bad[] = "groups:\n  - name: \xff\n";
    rc = scenario_parse_buffer(bad, sizeof bad - 1, "t.yaml", NULL, &s, err, sizeof err);
    CHECK(rc < 0);
    CHECK_EQ_STR(err, "t.yaml:2:11: YAML: invalid leading UTF-8 octet");
    scenario_free(&s);
    static const char bom[] = "\xef\xbb\xbfgroups: [{name: a, url: ws://h/}]\n";
    rc = scenario_parse_buffer(bom, sizeof bom - 1, "t.yaml", NULL, &s, err, sizeof err);
    CHECK_EQ_I64(rc, 0);
    scenario_free(&s);
    /* no_files: the fuzz target never reads files */
    struct scenario_input in = {NULL, 0, 1};
    static const char mf[] = "groups: [{name: a, url: ws://h/, message_file: /etc/passwd}]\n";
    rc = scenario_parse_buffer(mf, sizeof mf - 1, "t.yaml", &in, &s, err, sizeof err);
    CHECK(rc < 0);
    CHECK_EQ_STR(err, "t.yaml:1:34: message_file: files are not read here");
    scenario_free(&s);
}

static void test_file(void)
{
    char path[] = "/tmp/herd-scenario-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    static const char text[] = "groups:\n  - name: g\n    url: ws://127.0.0.1:1/\n";
    CHECK(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
    close(fd);
    struct scenario s;
    CHECK_EQ_I64(scenario_parse_file(path, NULL, &s, err, sizeof err), 0);
    CHECK_EQ_U64(s.ngroups, 1);
    CHECK_EQ_STR(s.name, path);
    scenario_free(&s);
    unlink(path);
    CHECK(scenario_parse_file(path, NULL, &s, err, sizeof err) < 0);
    char want[128];
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    CHECK_EQ_STR(err, want);
    scenario_free(&s);
}

/* Nesting and size limits: refused at the first collection too deep or node too many, before
 * the document is loaded (libyaml's parser is quadratic in the depth). */
static void test_limits(void)
{
    enum {
        DEEP = 100000,
        ITEMS = 100010, /* the node limit is 100 000 */
    };
    size_t cap = 64 + 2 * (size_t)ITEMS; /* ITEMS > DEEP */
    char *text = malloc(cap + 1);
    CHECK(text != NULL);
    if (!text)
        return;
    /* flow style: `groups: ` is level 1 and its `[` (column 9) level 2, so level 33 is the `[`
     * at column 40 */
    size_t n = (size_t)snprintf(text, cap, "groups: ");
    memset(text + n, '[', DEEP);
    memset(text + n + DEEP, ']', DEEP);
    text[n + 2 * DEEP] = '\0';
    check_error(text,
                "t.yaml:1:40: nested more than 32 levels deep (a scenario needs a few levels)");
    /* left open: the same line, not a syntax error at the end */
    text[n + DEEP] = '\0';
    check_error(text,
                "t.yaml:1:40: nested more than 32 levels deep (a scenario needs a few levels)");
    /* 32 levels are allowed: the next complaint is about the shape */
    text[n + 31] = '\0';
    memset(text + n + 31, ']', 31);
    text[n + 62] = '\0';
    check_error(text, "t.yaml:1:10: groups: expected a mapping with name, url, ..., got a list");

    /* block style: mapping k starts at line k, column 2(k-1)+1 */
    n = 0;
    for (int k = 1; k <= 40; k++)
        n += (size_t)snprintf(text + n, cap - n, "%*sk%d:\n", 2 * (k - 1), "", k);
    check_error(text, "t.yaml:33:65: nested more than 32 levels deep (a scenario needs a few "
                      "levels)");

    /* nodes: the mapping, the key and the list are 3, so item i is node 4 + i, at column
     * 10 + 2i; the 100 001st node is item 99 997 */
    n = (size_t)snprintf(text, cap, "groups: [");
    for (int i = 0; i < ITEMS; i++)
        n += (size_t)snprintf(text + n, cap - n, "1,");
    snprintf(text + n - 1, cap - n + 1, "]");
    check_error(text, "t.yaml:1:200004: more than 100000 values, lists and mappings: too large "
                      "for a scenario");
    free(text);
}

int main(void)
{
    test_two_groups();
    test_values();
    test_overrides();
    test_errors();
    test_bytes();
    test_file();
    test_limits();
    return tap_done();
}

/* test_cli_options.c - `herd run` and `herd serve` command lines: defaults, every option in both
 * forms, and the one-line errors (exact text for the common ones). */
#include "base/clock.h"
#include "base/err.h"
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "tap.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_ARGS 80

static char err[512];

/* --help prints the usage on stdout, which is the TAP stream: send it to /dev/null. */
static int quiet_stdout_begin(void)
{
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    close(null);
    return saved;
}

static void quiet_stdout_end(int saved)
{
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
}

/* Parse "run" followed by the NULL-terminated arguments. */
static int run(struct run_options *o, ...)
{
    char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = "run";
    va_list ap;
    va_start(ap, o);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < MAX_ARGS - 1)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    int saved = quiet_stdout_begin();
    int rc = cli_run_parse(argc, argv, o, err, sizeof err);
    quiet_stdout_end(saved);
    return rc;
}

static int serve(struct server_params *p, ...)
{
    char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = "serve";
    va_list ap;
    va_start(ap, p);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < MAX_ARGS - 1)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    int saved = quiet_stdout_begin();
    int rc = cli_serve_parse(argc, argv, p, err, sizeof err);
    quiet_stdout_end(saved);
    return rc;
}

static const struct report_kv *config_get(const struct run_options *o, const char *key)
{
    for (size_t i = 0; i < o->nconfig; i++) {
        if (strcmp(o->config[i].key, key) == 0)
            return &o->config[i];
    }
    return NULL;
}

static void check_config(const struct run_options *o, const char *key, const char *value,
                         int is_number)
{
    const struct report_kv *kv = config_get(o, key);
    CHECK(kv != NULL);
    if (!kv) {
        printf("#   config key %s missing\n", key);
        return;
    }
    CHECK_EQ_STR(kv->value, value);
    CHECK_EQ_I64(kv->is_number, is_number);
}

#define RUN_ERR(expected, ...)                                                                     \
    do {                                                                                           \
        struct run_options o_;                                                                     \
        int rc_ = run(&o_, __VA_ARGS__, NULL);                                                     \
        CHECK(rc_ < 0);                                                                            \
        CHECK_EQ_STR(err, expected);                                                               \
        cli_run_options_free(&o_);                                                                 \
    } while (0)

/* For messages whose tail comes from elsewhere (strerror, url.c): compare the start. */
#define RUN_ERR_PREFIX(prefix, ...)                                                                \
    do {                                                                                           \
        struct run_options o_;                                                                     \
        int rc_ = run(&o_, __VA_ARGS__, NULL);                                                     \
        CHECK(rc_ < 0);                                                                            \
        int pok_ = strncmp(err, prefix, strlen(prefix)) == 0;                                      \
        CHECK(pok_);                                                                               \
        if (!pok_)                                                                                 \
            printf("#   got \"%s\", expected a start of \"%s\"\n", err, prefix);                   \
        cli_run_options_free(&o_);                                                                 \
    } while (0)

#define SERVE_ERR(expected, ...)                                                                   \
    do {                                                                                           \
        struct server_params p_;                                                                   \
        int rc_ = serve(&p_, __VA_ARGS__, NULL);                                                   \
        CHECK(rc_ < 0);                                                                            \
        CHECK_EQ_STR(err, expected);                                                               \
    } while (0)

static void test_defaults(void)
{
    struct run_options o;
    CHECK_EQ_I64(run(&o, "ws://127.0.0.1:8080/echo", NULL), CLI_OK);
    const struct client_params *p = &o.client;
    CHECK_EQ_STR(p->url_text, "ws://127.0.0.1:8080/echo");
    CHECK_EQ_STR(p->url.host, "127.0.0.1");
    CHECK_EQ_I64(p->url.port, 8080);
    CHECK_EQ_STR(p->url.target, "/echo");
    CHECK_EQ_I64(p->role, ROLE_PING);
    CHECK_EQ_U64(p->connections, 10);
    CHECK_EQ_U64(p->duration_ns, 10 * NS_PER_S);
    CHECK_EQ_U64(p->threads, 0);
    CHECK(p->connect_rate == 0);
    CHECK(p->rate == 0);
    CHECK_EQ_U64(p->pipeline, 1);
    CHECK_EQ_U64(p->size, 0);
    CHECK_EQ_I64(p->binary, 0);
    CHECK(p->message == NULL);
    CHECK_EQ_U64(p->nheaders, 0);
    CHECK(p->subprotocol == NULL && p->origin == NULL);
    CHECK_EQ_I64(p->compress, 0);
    CHECK_EQ_U64(p->timeout_ns, 10 * NS_PER_S);
    CHECK_EQ_U64(p->idle_timeout_ns, 0);
    CHECK_EQ_U64(p->ping_interval_ns, 0);
    CHECK_EQ_U64(p->max_message, 64u << 20);
    CHECK_EQ_I64(p->quiet, 0);
    CHECK_EQ_U64(p->shard_index, 0);
    CHECK_EQ_U64(p->shard_count, 1);
    CHECK(p->bind == NULL && p->backoff == NULL && p->cacert == NULL && p->sni == NULL);
    CHECK(p->read_rate == -1);
    CHECK_EQ_I64(p->reconnect, 0);
    CHECK_EQ_U64(p->max_retries, 0);
    CHECK_EQ_U64(p->procs, 0);
    CHECK(o.json_path == NULL && o.csv_path == NULL && o.html_path == NULL && !o.hlog_path);
    CHECK(o.scenario_path == NULL);
    CHECK_EQ_U64(o.nthresholds, 0);

    check_config(&o, "url", "ws://127.0.0.1:8080/echo", 0);
    check_config(&o, "role", "ping", 0);
    check_config(&o, "connections", "10", 1);
    check_config(&o, "duration", "10", 1);
    check_config(&o, "threads", "0", 1);
    check_config(&o, "pipeline", "1", 1);
    check_config(&o, "size", "0", 1);
    check_config(&o, "timeout", "10", 1);
    check_config(&o, "binary", "false", 1);
    check_config(&o, "compress", "false", 1);
    check_config(&o, "max_message", "67108864", 1);
    CHECK(config_get(&o, "rate") == NULL); /* not given: closed model */
    CHECK(config_get(&o, "connect_rate") == NULL); /* not given: unlimited */
    CHECK(config_get(&o, "read_rate") == NULL);
    cli_run_options_free(&o);
}

static void test_both_forms(void)
{
    static const char *const forms[][2] = {
        {"-c", "250"},
        {"-c250", NULL},
        {"--connections", "250"},
        {"--connections=250", NULL},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        struct run_options o;
        int rc = forms[i][1] ? run(&o, forms[i][0], forms[i][1], "ws://h/", NULL)
                             : run(&o, forms[i][0], "ws://h/", NULL);
        CHECK_EQ_I64(rc, CLI_OK);
        CHECK_EQ_U64(o.client.connections, 250);
        cli_run_options_free(&o);
    }
    struct run_options o;
    CHECK_EQ_I64(run(&o, "-d30s", "-t", "4", "--duration=2m", "ws://h/", NULL), CLI_OK);
    CHECK_EQ_U64(o.client.duration_ns, 120 * NS_PER_S); /* the last one wins */
    CHECK_EQ_U64(o.client.threads, 4);
    cli_run_options_free(&o);

    /* flags cluster; a value-taking option ends the cluster */
    CHECK_EQ_I64(run(&o, "-qc10k", "ws://h/", NULL), CLI_OK);
    CHECK_EQ_I64(o.client.quiet, 1);
    CHECK_EQ_U64(o.client.connections, 10000);
    cli_run_options_free(&o);

    /* the URL may stand anywhere; "--" ends the options */
    CHECK_EQ_I64(run(&o, "-c", "5", "ws://h/x", "-d", "1s", NULL), CLI_OK);
    CHECK_EQ_STR(o.client.url_text, "ws://h/x");
    CHECK_EQ_U64(o.client.duration_ns, NS_PER_S);
    cli_run_options_free(&o);
    CHECK_EQ_I64(run(&o, "-s", "1k", "--", "ws://h/y", NULL), CLI_OK);
    CHECK_EQ_STR(o.client.url_text, "ws://h/y");
    CHECK_EQ_U64(o.client.size, 1024);
    cli_run_options_free(&o);
}

static void test_every_option(void)
{
    char path[] = "/tmp/herd-test-msg-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    static const char content[] = "{\"t\":\"{{stamp}}\",\"n\":{{seq}}}\n";
    CHECK_EQ_I64(write(fd, content, sizeof content - 1), (int64_t)(sizeof content - 1));
    close(fd);

    struct run_options o;
    int rc =
        run(&o, "--connections", "1k", "--duration", "1m30s", "--threads", "3", "--role", "echo",
            "--connect-rate", "2000/s", "--rate", "6000/m", "--pipeline", "8", "--size", "4KiB",
            "--binary", "--message-file", path, "-H", "Authorization: Bearer secret",
            "--header=X-Trace:1", "--subprotocol", "chat", "--origin", "https://example.com",
            "--compress", "--timeout", "5s", "--idle-timeout", "30s", "--ping-interval", "15s",
            "--max-message", "1MiB", "--threshold", "rtt.p99<20ms", "--threshold=errors==0",
            "--json", "out.json", "--csv", "out.csv", "--html", "out.html", "--hlog", "out.hlog",
            "--shard", "1/4", "--quiet", "--reconnect", "--backoff", "exp:100ms..30s,jitter=full",
            "--max-retries", "5", "--read-rate", "64k/s", "--bind", "127.0.0.2-127.0.0.40",
            "--insecure", "--cacert", "ca.pem", "--cert", "c.pem", "--key", "k.pem", "--sni",
            "example.com", "--tls-resume", "--procs", "4", "wss://example.com/ws", NULL);
    CHECK_EQ_I64(rc, CLI_OK);
    if (rc != CLI_OK)
        printf("#   %s\n", err);
    unlink(path);
    const struct client_params *p = &o.client;
    CHECK_EQ_U64(p->connections, 1000);
    CHECK_EQ_U64(p->duration_ns, 90 * NS_PER_S);
    CHECK_EQ_U64(p->threads, 3);
    CHECK_EQ_I64(p->role, ROLE_ECHO);
    CHECK(p->connect_rate == 2000);
    CHECK(p->rate > 99.999 && p->rate < 100.001);
    CHECK_EQ_U64(p->pipeline, 8);
    CHECK_EQ_U64(p->size, 4096);
    CHECK_EQ_I64(p->binary, 1);
    CHECK(o.message_buf != NULL && p->message == o.message_buf);
    CHECK_EQ_U64(p->message_len, sizeof content - 1);
    CHECK(p->message && memcmp(p->message, content, sizeof content - 1) == 0);
    CHECK_EQ_U64(p->nheaders, 2);
    CHECK_EQ_STR(p->headers[0], "Authorization: Bearer secret");
    CHECK_EQ_STR(p->headers[1], "X-Trace:1");
    CHECK_EQ_STR(p->subprotocol, "chat");
    CHECK_EQ_STR(p->origin, "https://example.com");
    CHECK_EQ_I64(p->compress, 1);
    CHECK_EQ_U64(p->timeout_ns, 5 * NS_PER_S);
    CHECK_EQ_U64(p->idle_timeout_ns, 30 * NS_PER_S);
    CHECK_EQ_U64(p->ping_interval_ns, 15 * NS_PER_S);
    CHECK_EQ_U64(p->max_message, 1 << 20);
    CHECK_EQ_U64(o.nthresholds, 2);
    CHECK_EQ_STR(o.thresholds[0].expr, "rtt.p99<20ms");
    CHECK(o.thresholds[0].kind == THR_PERCENTILE && o.thresholds[0].limit == 20000);
    CHECK_EQ_STR(o.thresholds[1].expr, "errors==0");
    CHECK_EQ_STR(o.json_path, "out.json");
    CHECK_EQ_STR(o.csv_path, "out.csv");
    CHECK_EQ_STR(o.html_path, "out.html");
    CHECK_EQ_STR(o.hlog_path, "out.hlog");
    CHECK_EQ_U64(p->shard_index, 1);
    CHECK_EQ_U64(p->shard_count, 4);
    CHECK_EQ_I64(p->quiet, 1);
    CHECK_EQ_I64(p->reconnect, 1);
    CHECK_EQ_STR(p->backoff, "exp:100ms..30s,jitter=full");
    CHECK_EQ_U64(p->max_retries, 5);
    CHECK(p->read_rate == 65536);
    CHECK_EQ_STR(p->bind, "127.0.0.2-127.0.0.40");
    CHECK_EQ_I64(p->insecure, 1);
    CHECK_EQ_STR(p->cacert, "ca.pem");
    CHECK_EQ_STR(p->cert, "c.pem");
    CHECK_EQ_STR(p->key, "k.pem");
    CHECK_EQ_STR(p->sni, "example.com");
    CHECK_EQ_I64(p->tls_resume, 1);
    CHECK_EQ_U64(p->procs, 4);
    CHECK_EQ_I64(p->url.tls, 1);
    CHECK_EQ_I64(p->url.port, 443);

    check_config(&o, "url", "wss://example.com/ws", 0);
    check_config(&o, "role", "echo", 0);
    check_config(&o, "connections", "1000", 1);
    check_config(&o, "duration", "90", 1);
    check_config(&o, "threads", "3", 1);
    check_config(&o, "connect_rate", "2000", 1);
    check_config(&o, "rate", "100", 1);
    check_config(&o, "pipeline", "8", 1);
    check_config(&o, "size", "4096", 1);
    check_config(&o, "binary", "true", 1);
    check_config(&o, "header", "Authorization, X-Trace", 0); /* names only, never values */
    check_config(&o, "subprotocol", "chat", 0);
    check_config(&o, "compress", "true", 1);
    check_config(&o, "timeout", "5", 1);
    check_config(&o, "idle_timeout", "30", 1);
    check_config(&o, "ping_interval", "15", 1);
    check_config(&o, "max_message", "1048576", 1);
    check_config(&o, "shard", "1/4", 0);
    check_config(&o, "reconnect", "true", 1);
    check_config(&o, "backoff", "exp:100ms..30s,jitter=full", 0);
    check_config(&o, "max_retries", "5", 1);
    check_config(&o, "read_rate", "65536", 1);
    check_config(&o, "bind", "127.0.0.2-127.0.0.40", 0);
    check_config(&o, "insecure", "true", 1);
    check_config(&o, "tls_resume", "true", 1);
    check_config(&o, "procs", "4", 1);
    size_t bad = 0;
    for (size_t i = 0; i < o.nconfig; i++) {
        CHECK_QUIET(strstr(o.config[i].value, "secret") == NULL, bad);
        /* keys are long option names with underscores */
        CHECK_QUIET(strchr(o.config[i].key, '-') == NULL, bad);
        CHECK_QUIET(o.config[i].value >= o.arena && o.config[i].value < o.arena + sizeof o.arena,
                    bad);
    }
    CHECK_EQ_U64(bad, 0);
    cli_run_options_free(&o);
    CHECK(o.message_buf == NULL);

    /* the remaining forms */
    CHECK_EQ_I64(run(&o, "--message", "hi {{seq}}", "--text", "-s", "256", "ws://h/", NULL),
                 CLI_OK);
    CHECK_EQ_STR(o.client.message, "hi {{seq}}");
    CHECK_EQ_U64(o.client.message_len, 10);
    CHECK_EQ_I64(o.client.binary, 0);
    check_config(&o, "message_bytes", "10", 1);
    cli_run_options_free(&o);

    static const char *const roles[] = {"ping", "echo", "publish", "subscribe", "idle"};
    for (int r = 0; r < 5; r++) {
        CHECK_EQ_I64(run(&o, "--role", roles[r], "ws://h/", NULL), CLI_OK);
        CHECK_EQ_I64(o.client.role, r);
        cli_run_options_free(&o);
    }

    /* flags take an explicit value too (scenario files write flag: false) */
    CHECK_EQ_I64(run(&o, "--compress=false", "--binary=yes", "--quiet=0", "ws://h/", NULL), CLI_OK);
    CHECK_EQ_I64(o.client.compress, 0);
    CHECK_EQ_I64(o.client.binary, 1);
    CHECK_EQ_I64(o.client.quiet, 0);
    cli_run_options_free(&o);
    /* --compress=PARAMS: the RFC 7692 parameters to offer */
    CHECK_EQ_I64(
        run(&o, "--compress=server_no_context_takeover,client_max_window_bits=10", "ws://h/", NULL),
        CLI_OK);
    CHECK_EQ_I64(o.client.compress, 1);
    CHECK_EQ_STR(o.client.compress_params, "server_no_context_takeover,client_max_window_bits=10");
    check_config(&o, "compress", "server_no_context_takeover,client_max_window_bits=10", 0);
    cli_run_options_free(&o);

    CHECK_EQ_I64(run(&o, "--read-rate", "0", "ws://h/", NULL), CLI_OK);
    CHECK(o.client.read_rate == 0);
    check_config(&o, "read_rate", "0", 1);
    cli_run_options_free(&o);

    CHECK_EQ_I64(run(&o, "--reconnect", "--backoff", "none", "ws://h/", NULL), CLI_OK);
    CHECK_EQ_STR(o.client.backoff, "none");
    cli_run_options_free(&o);

    /* -f without a URL: the scenario supplies them */
    CHECK_EQ_I64(run(&o, "-f", "scenario.yaml", NULL), CLI_OK);
    CHECK_EQ_STR(o.scenario_path, "scenario.yaml");
    CHECK(config_get(&o, "url") == NULL);
    cli_run_options_free(&o);

    /* an SSE URL implies the subscribe role */
    CHECK_EQ_I64(run(&o, "http://h/sse/t1", NULL), CLI_OK);
    CHECK_EQ_I64(o.client.role, ROLE_SUBSCRIBE);
    CHECK_EQ_I64(o.client.url.sse, 1);
    check_config(&o, "role", "subscribe", 0);
    cli_run_options_free(&o);
    CHECK_EQ_I64(run(&o, "--role", "idle", "https://h/sse/t1", NULL), CLI_OK);
    CHECK_EQ_I64(o.client.role, ROLE_IDLE);
    cli_run_options_free(&o);

    /* 32 headers fit */
    const char *hs[2 * CLIENT_MAX_HEADERS + 3];
    int n = 0;
    for (int i = 0; i < CLIENT_MAX_HEADERS; i++) {
        hs[n++] = "-H";
        hs[n++] = "X-A: b";
    }
    char *argv[2 * CLIENT_MAX_HEADERS + 4];
    argv[0] = "run";
    for (int i = 0; i < n; i++)
        argv[i + 1] = (char *)hs[i];
    argv[n + 1] = "ws://h/";
    argv[n + 2] = "-H";
    argv[n + 3] = "X-Too-Many: 1";
    CHECK_EQ_I64(cli_run_parse(n + 2, argv, &o, err, sizeof err), CLI_OK);
    CHECK_EQ_U64(o.client.nheaders, CLIENT_MAX_HEADERS);
    cli_run_options_free(&o);
    CHECK(cli_run_parse(n + 4, argv, &o, err, sizeof err) < 0);
    CHECK_EQ_STR(err, "-H: at most 32 headers");
    cli_run_options_free(&o);
}

static void test_help(void)
{
    struct run_options o;
    CHECK_EQ_I64(run(&o, "-h", NULL), CLI_HELP);
    cli_run_options_free(&o);
    CHECK_EQ_I64(run(&o, "ws://h/", "--help", NULL), CLI_HELP);
    cli_run_options_free(&o);
    struct server_params p;
    CHECK_EQ_I64(serve(&p, "--help", NULL), CLI_HELP);
    CHECK_EQ_I64(serve(&p, "-h", NULL), CLI_HELP);

    /* every usage text exists and is not the top-level one */
    static const char *const cmds[] = {"run", "serve", "demo", "merge", "report"};
    char *top = NULL, *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&top, &len);
    cli_usage(f, NULL);
    fclose(f);
    CHECK(top && strstr(top, "usage: herd COMMAND") != NULL);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        f = open_memstream(&text, &len);
        cli_usage(f, cmds[i]);
        fclose(f);
        char want[32];
        snprintf(want, sizeof want, "usage: herd %s", cmds[i]);
        CHECK(text && strstr(text, want) == text);
        free(text);
        text = NULL;
    }
    f = open_memstream(&text, &len);
    cli_usage(f, "nonsense");
    fclose(f);
    CHECK_EQ_STR(text, top);
    free(text);
    free(top);
}

static void test_run_errors(void)
{
    /* the exact texts users and the docs see */
    RUN_ERR("-c: expected a whole number, got \"ten\"", "-c", "ten", "ws://h/");
    RUN_ERR("--connections: expected a whole number, got \"ten\"", "--connections=ten", "ws://h/");
    RUN_ERR("--rate: expected a number with optional /s, got \"fast\"", "--rate", "fast",
            "ws://h/");
    RUN_ERR("unknown option --foo (see herd run --help)", "--foo", "ws://h/");
    RUN_ERR("unknown option --foo (see herd run --help)", "--foo=1", "ws://h/");
    RUN_ERR("unknown option -x (see herd run --help)", "-x", "ws://h/");
    RUN_ERR("unknown option -x (see herd run --help)", "-qx", "ws://h/");
    RUN_ERR("missing URL (see herd run --help)", "-c", "10");
    RUN_ERR("unexpected argument \"ws://b/\": herd run takes one URL (see herd run --help)",
            "ws://a/", "ws://b/");
    RUN_ERR_PREFIX("URL: unsupported scheme", "ftp://h/");
    RUN_ERR_PREFIX("URL: ", "ws://");
    RUN_ERR("-c: missing value (expected a whole number)", "ws://h/", "-c");
    RUN_ERR("--duration: missing value (expected a duration like 30s)", "ws://h/", "--duration");

    /* ranges */
    RUN_ERR("-c: expected a whole number from 1 to 10000000, got \"0\"", "-c", "0", "ws://h/");
    RUN_ERR("-c: expected a whole number from 1 to 10000000, got \"20M\"", "-c", "20M", "ws://h/");
    RUN_ERR("-c: expected a whole number, got \"-5\"", "-c", "-5", "ws://h/");
    RUN_ERR("-d: expected a duration greater than 0, got \"0s\"", "-d", "0s", "ws://h/");
    RUN_ERR("-d: expected a duration like 30s, 500ms or 2m, got \"soon\"", "-d", "soon", "ws://h/");
    RUN_ERR("-t: expected a whole number from 0 to 1024, got \"2000\"", "-t", "2000", "ws://h/");
    RUN_ERR("--pipeline: expected a whole number from 1 to 65536, got \"0\"", "--pipeline", "0",
            "ws://h/");
    RUN_ERR("--pipeline: expected a whole number from 1 to 65536, got \"65537\"", "--pipeline",
            "65537", "ws://h/");
    RUN_ERR("--rate: expected a rate greater than 0, got \"0\"", "--rate", "0", "ws://h/");
    RUN_ERR("--connect-rate: expected a rate greater than 0, got \"0/s\"", "--connect-rate", "0/s",
            "ws://h/");
    RUN_ERR("-s: expected a size like 256, 4k or 1MiB, got \"huge\"", "-s", "huge", "ws://h/");
    RUN_ERR("--size: 2097152 bytes is more than --max-message (1048576)", "-s", "2M",
            "--max-message", "1M", "ws://h/");
    RUN_ERR("--max-message: expected a size of at least 1 byte, got \"0\"", "--max-message", "0",
            "ws://h/");
    RUN_ERR("--timeout: expected a duration greater than 0, got \"0\"", "--timeout", "0",
            "ws://h/");
    RUN_ERR("--shard: expected I/N with 0 <= I < N, got \"4/4\"", "--shard", "4/4", "ws://h/");
    RUN_ERR("--shard: expected I/N with 0 <= I < N, got \"1\"", "--shard", "1", "ws://h/");
    RUN_ERR("--shard: expected I/N with 0 <= I < N, got \"0/0\"", "--shard", "0/0", "ws://h/");
    RUN_ERR("--role: expected ping, echo, publish, subscribe or idle, got \"fly\"", "--role", "fly",
            "ws://h/");
    RUN_ERR("--role: echo needs a WebSocket URL (ws:// or wss://); with an http(s) URL use "
            "subscribe, idle or publish (HTTP POST)",
            "--role", "echo", "http://h/sse/x");
    RUN_ERR("--compress: an unknown permessage-deflate parameter, got \"maybe\"",
            "--compress=maybe", "ws://h/");
    RUN_ERR("--compress: client_max_window_bits=8: zlib cannot compress with a 256-byte window "
            "(9..15), got \"client_max_window_bits=8\"",
            "--compress=client_max_window_bits=8", "ws://h/");
    RUN_ERR("--json: expected a value, got an empty string", "--json", "", "ws://h/");
    RUN_ERR("--stages: expected DURATION:COUNT items like 30s:1000,1m:1000,10s:0, got \"30s\"",
            "--stages", "30s", "ws://h/");
    RUN_ERR("--stages: expected a whole number of connections after ':', got \"30s:x\"", "--stages",
            "30s:x", "ws://h/");
    RUN_ERR("--stages: every stage targets 0 connections", "--stages", "1s:0", "ws://h/");
    RUN_ERR("--start-at: expected a UTC time like 2026-12-02T15:10:00Z, Unix seconds, or "
            "+DURATION, got \"12:00\"",
            "--start-at=12:00", "ws://h/");
    RUN_ERR_PREFIX("--start-at: \"1000\" is ", "--start-at=1000", "ws://h/");
    RUN_ERR("--procs: expected a whole number from 1 to 1024, got \"0\"", "--procs", "0",
            "ws://h/");
    RUN_ERR("--max-retries: expected a whole number from 1 to 18446744073709551615, got \"0\"",
            "--reconnect", "--max-retries", "0", "ws://h/");
    RUN_ERR("--read-rate: expected bytes per second like 64k/s or 0, got \"slow\"", "--read-rate",
            "slow", "ws://h/");

    /* headers */
    RUN_ERR("-H: Host is part of the handshake and set by herd", "-H", "Host: x", "ws://h/");
    RUN_ERR("-H: Sec-WebSocket-Key is part of the handshake and set by herd", "-H",
            "sec-websocket-key: abc", "ws://h/");
    RUN_ERR("-H: use --subprotocol instead of a Sec-WebSocket-Protocol header", "-H",
            "Sec-WebSocket-Protocol: chat", "ws://h/");
    RUN_ERR("--header: use --compress instead of a Sec-WebSocket-Extensions header", "--header",
            "sec-websocket-extensions: permessage-deflate", "ws://h/");
    RUN_ERR("-H: expected 'Name: value', got \"NoColon\"", "-H", "NoColon", "ws://h/");
    RUN_ERR("-H: expected 'Name: value', got \": v\"", "-H", ": v", "ws://h/");
    RUN_ERR("-H: expected 'Name: value' with a name of letters, digits and -, got \"Bad Name: v\"",
            "-H", "Bad Name: v", "ws://h/");
    RUN_ERR("-H: control characters are not allowed in a header, got \"X: a\\x0d\\x0aEvil: 1\"",
            "-H", "X: a\r\nEvil: 1", "ws://h/");

    /* combinations */
    RUN_ERR("--message-file: give either --message or --message-file", "--message", "x",
            "--message-file", "/etc/hostname", "ws://h/");
    RUN_ERR_PREFIX("--message-file: cannot read /nonexistent/msg: No such file", "--message-file",
                   "/nonexistent/msg", "ws://h/");
    RUN_ERR("--cert: needs --key", "--cert", "c.pem", "wss://h/");
    RUN_ERR("--key: needs --cert", "--key", "k.pem", "wss://h/");
    RUN_ERR("--backoff: only applies with --reconnect", "--backoff", "fixed:1s", "ws://h/");
    RUN_ERR_PREFIX("--backoff: ", "--reconnect", "--backoff", "exp:1s", "ws://h/");
    RUN_ERR_PREFIX("--backoff: ", "--reconnect", "--backoff", "linear", "ws://h/");

    /* thresholds: the reason comes from threshold_parse and quotes the expression */
    RUN_ERR("--threshold: \"rtt.p99<fast\": expected a time like 20ms after <", "--threshold",
            "rtt.p99<fast", "ws://h/");

    /* a value is never taken for more than one line of message */
    struct run_options o;
    CHECK(run(&o, "-c", "1\n2", "ws://h/", NULL) < 0);
    CHECK(strchr(err, '\n') == NULL);
    CHECK_EQ_STR(err, "-c: expected a whole number, got \"1\\x0a2\"");
    cli_run_options_free(&o);
    char long_value[300];
    memset(long_value, 'x', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    CHECK(run(&o, "-c", long_value, "ws://h/", NULL) < 0);
    CHECK(strlen(err) < 120);
    CHECK(strstr(err, "...\"") != NULL);
    cli_run_options_free(&o);
}

static void test_run_option_api(void)
{
    struct run_options o;
    cli_run_init(&o);
    CHECK_EQ_I64(cli_run_option(&o, "url", "ws://h/pubsub/t1", err, sizeof err), CLI_OK);
    CHECK_EQ_I64(cli_run_option(&o, "connect_rate", "2000/s", err, sizeof err), CLI_OK);
    CHECK_EQ_I64(cli_run_option(&o, "connect-rate", "1000/s", err, sizeof err), CLI_OK);
    CHECK_EQ_I64(cli_run_option(&o, "role", "subscribe", err, sizeof err), CLI_OK);
    CHECK_EQ_I64(cli_run_option(&o, "reconnect", NULL, err, sizeof err), CLI_OK);
    CHECK_EQ_I64(cli_run_option(&o, "compress", "false", err, sizeof err), CLI_OK);
    CHECK_EQ_I64(cli_run_option(&o, "threshold", "latency.p99<50ms", err, sizeof err), CLI_OK);
    CHECK_EQ_I64(cli_run_option(&o, "read_rate", "0", err, sizeof err), CLI_OK);
    CHECK(cli_run_option(&o, "foo_bar", "1", err, sizeof err) < 0);
    CHECK_EQ_STR(err, "unknown option foo_bar");
    CHECK(cli_run_option(&o, "connections", NULL, err, sizeof err) < 0);
    CHECK_EQ_STR(err, "connections: missing value (expected a whole number)");
    CHECK(cli_run_option(&o, "connect_rate", "fast", err, sizeof err) < 0);
    CHECK_EQ_STR(err, "connect_rate: expected a number with optional /s, got \"fast\"");
    CHECK_EQ_I64(cli_run_option(&o, "stages", "30s:10,1m:40,10s:0", err, sizeof err), CLI_OK);
    CHECK_EQ_I64(cli_run_finish(&o, err, sizeof err), CLI_OK);
    /* The stages set -c (the largest target) and -d (their total). */
    CHECK_EQ_U64(o.client.nstages, 3);
    CHECK_EQ_U64(o.client.connections, 40);
    CHECK_EQ_U64(o.client.duration_ns, 100000000000ull);
    CHECK(o.client.connect_rate == 1000);
    CHECK_EQ_I64(o.client.role, ROLE_SUBSCRIBE);
    CHECK_EQ_I64(o.client.reconnect, 1);
    CHECK(o.client.read_rate == 0);
    CHECK_EQ_U64(o.nthresholds, 1);
    check_config(&o, "connect_rate", "1000", 1);
    cli_run_options_free(&o);

    cli_run_init(&o);
    CHECK(cli_run_finish(&o, err, sizeof err) < 0);
    CHECK_EQ_STR(err, "missing URL (see herd run --help)");
    cli_run_options_free(&o);
}

static void test_serve(void)
{
    struct server_params p;
    CHECK_EQ_I64(serve(&p, NULL), CLI_OK);
    CHECK_EQ_STR(p.bind, "127.0.0.1");
    CHECK_EQ_I64(p.port, 8080);
    CHECK_EQ_U64(p.threads, 0);
    CHECK_EQ_U64(p.delay_ns, 0);
    CHECK_EQ_U64(p.stall_ns, 0);
    CHECK_EQ_I64(p.slow_policy, SLOW_BUFFER);
    CHECK_EQ_U64(p.queue_limit, 1u << 20);
    CHECK_EQ_U64(p.max_connections, 0);
    CHECK(p.reject == 0);
    CHECK_EQ_U64(p.die_after_ns, 0);
    CHECK(p.tls_cert == NULL && p.tls_key == NULL);
    CHECK_EQ_U64(p.history, 1024);
    CHECK_EQ_U64(p.sse_retry_ms, 0);
    CHECK_EQ_U64(p.procs, 1);
    CHECK_EQ_I64(p.quiet, 0);

    int rc = serve(&p, "--bind", "0.0.0.0", "--port=9000", "-t", "2", "--delay", "5ms", "--stall",
                   "1s", "--stall-every=10s", "--tick", "100/s", "--slow-policy", "drop",
                   "--queue-limit", "64k", "--max-connections", "100k", "--reject", "0.25",
                   "--die-after", "1m", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--history",
                   "0", "--sse-retry", "1.5s", "--procs", "4", "-q", NULL);
    CHECK_EQ_I64(rc, CLI_OK);
    if (rc)
        printf("#   %s\n", err);
    CHECK_EQ_STR(p.bind, "0.0.0.0");
    CHECK_EQ_I64(p.port, 9000);
    CHECK_EQ_U64(p.threads, 2);
    CHECK_EQ_U64(p.delay_ns, 5 * NS_PER_MS);
    CHECK_EQ_U64(p.stall_ns, NS_PER_S);
    CHECK_EQ_U64(p.stall_every_ns, 10 * NS_PER_S);
    CHECK(p.tick_rate == 100);
    CHECK_EQ_I64(p.slow_policy, SLOW_DROP);
    CHECK_EQ_U64(p.queue_limit, 65536);
    CHECK_EQ_U64(p.max_connections, 100000);
    CHECK(p.reject == 0.25);
    CHECK_EQ_U64(p.die_after_ns, 60 * NS_PER_S);
    CHECK_EQ_STR(p.tls_cert, "c.pem");
    CHECK_EQ_STR(p.tls_key, "k.pem");
    CHECK_EQ_U64(p.history, 0);
    CHECK_EQ_U64(p.sse_retry_ms, 1500);
    CHECK_EQ_U64(p.procs, 4);
    CHECK_EQ_I64(p.quiet, 1);

    CHECK_EQ_I64(serve(&p, "--port", "0", "--slow-policy=close", "--reject", "10%", NULL), CLI_OK);
    CHECK_EQ_I64(p.port, 0);
    CHECK_EQ_I64(p.slow_policy, SLOW_CLOSE);
    CHECK(p.reject > 0.0999 && p.reject < 0.1001);
    CHECK_EQ_I64(serve(&p, "--slow-policy", "buffer", "--quiet", NULL), CLI_OK);
    CHECK_EQ_I64(p.slow_policy, SLOW_BUFFER);

    SERVE_ERR("--port: expected a whole number from 0 to 65535, got \"70000\"", "--port", "70000");
    SERVE_ERR("--reject: expected a fraction from 0 to 1 (or a percentage), got \"2\"", "--reject",
              "2");
    SERVE_ERR("--reject: expected a fraction from 0 to 1 (or a percentage), got \"150%\"",
              "--reject", "150%");
    SERVE_ERR("--slow-policy: expected buffer, drop or close, got \"queue\"", "--slow-policy",
              "queue");
    SERVE_ERR("--stall: needs --stall-every", "--stall", "1s");
    SERVE_ERR("--stall-every: needs --stall", "--stall-every", "1s");
    SERVE_ERR("--stall: must be shorter than --stall-every", "--stall", "5s", "--stall-every",
              "1s");
    SERVE_ERR("--tls-cert: needs --tls-key", "--tls-cert", "c.pem");
    SERVE_ERR("--tls-key: needs --tls-cert", "--tls-key", "k.pem");
    SERVE_ERR("--tick: expected a rate greater than 0, got \"0\"", "--tick", "0");
    SERVE_ERR("--die-after: expected a duration greater than 0, got \"0s\"", "--die-after", "0s");
    SERVE_ERR("--delay: expected a duration like 30s, 500ms or 2m, got \"long\"", "--delay",
              "long");
    SERVE_ERR("--queue-limit: expected a size of at least 1 byte, got \"0\"", "--queue-limit", "0");
    SERVE_ERR("unknown option --connections (see herd serve --help)", "--connections", "5");
    SERVE_ERR("unknown option -c (see herd serve --help)", "-c", "5");
    SERVE_ERR("unexpected argument \"ws://h/\": herd serve takes only options (see herd serve "
              "--help)",
              "ws://h/");
    SERVE_ERR("--procs: expected a whole number from 1 to 1024, got \"0\"", "--procs", "0");
    SERVE_ERR("--sse-retry: at least 1ms", "--sse-retry", "10us");
    SERVE_ERR("--history: expected a whole number, got \"x\"", "--history", "x");
    SERVE_ERR("--port: missing value (expected a port number)", "--port");
}

static char *usage_text(const char *cmd)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_usage(f, cmd);
    fclose(f);
    return text;
}

/* "--name" (and its value's name) as --help shows it: at the start of an option column. */
static int lists(const char *text, const struct cli_opt *o)
{
    char want[96];
    snprintf(want, sizeof want, "--%s%s%s", o->name, o->meta ? " " : "", o->meta ? o->meta : "");
    size_t n = strlen(want);
    for (const char *p = text; (p = strstr(p, want)) != NULL; p++) {
        if ((p[n] == ' ' || p[n] == '\n') && (p == text || p[-1] == ' '))
            return 1;
    }
    return 0;
}

/* The one option table gives --help: every option a command parses is in its help, --stages
 * among them, and merge's help lists what merge takes and nothing else. */
static void test_help_from_the_table(void)
{
    char *run_help = usage_text("run"), *serve_help = usage_text("serve");
    char *merge_help = usage_text("merge");
    CHECK(strstr(run_help, "      --stages LIST ") != NULL);
    int missing = 0, extra = 0;
    for (size_t i = 0; i < cli__run_nopts; i++) {
        const struct cli_opt *o = &cli__run_opts[i];
        if (o->arg == CLI_ARG_TODO)
            continue;
        if (o->flags & CLI_MERGE_ONLY) /* merge's alone (--force): not herd run's */
            CHECK_QUIET(!lists(run_help, o), extra);
        else
            CHECK_QUIET(lists(run_help, o), missing);
        if (o->flags & CLI_MERGE)
            CHECK_QUIET(lists(merge_help, o), missing);
        else
            CHECK_QUIET(!lists(merge_help, o), extra);
    }
    for (size_t i = 0; i < cli__serve_nopts; i++)
        CHECK_QUIET(lists(serve_help, &cli__serve_opts[i]), missing);
    CHECK_EQ_I64(missing, 0);
    CHECK_EQ_I64(extra, 0);
    CHECK(strstr(run_help, "--start-at TIME") != NULL);
    CHECK(strstr(run_help, "--html F              HTML report\n") != NULL);
    /* the top level lists the commands there are */
    char *top = usage_text(NULL);
    CHECK(strstr(top, "  report RUN.json") != NULL);
    CHECK(strstr(top, "  merge A.json") != NULL);
    char *report_help = usage_text("report");
    CHECK(strstr(report_help, "--max-regression") != NULL);
    free(run_help);
    free(serve_help);
    free(merge_help);
    free(top);
    free(report_help);
}

/* Where an option counts besides the command line, as scenario.c and procs.c ask. */
static void test_option_flags(void)
{
    CHECK_EQ_U64(cli_run_option_flags("json"),
                 CLI_OUTPUT | CLI_RUN_WIDE | CLI_PARENT_ONLY | CLI_MERGE);
    CHECK_EQ_U64(cli_run_option_flags("csv"),
                 CLI_OUTPUT | CLI_RUN_WIDE | CLI_PARENT_ONLY | CLI_MERGE);
    CHECK_EQ_U64(cli_run_option_flags("threshold"), CLI_REPEATABLE | CLI_PARENT_ONLY | CLI_MERGE);
    CHECK_EQ_U64(cli_run_option_flags("header"), CLI_REPEATABLE);
    CHECK_EQ_U64(cli_run_option_flags("connect_rate"), 0);
    CHECK_EQ_U64(cli_run_option_flags("connect-rate"), 0);
    CHECK_EQ_U64(cli_run_option_flags("procs"), CLI_RUN_WIDE | CLI_PARENT_ONLY);
    CHECK_EQ_U64(cli_run_option_flags("shard"), CLI_RUN_WIDE | CLI_PARENT_ONLY);
    CHECK_EQ_U64(cli_run_option_flags("quiet"), CLI_RUN_WIDE | CLI_PARENT_ONLY);
    CHECK_EQ_U64(cli_run_option_flags("file"), CLI_CMDLINE_ONLY); /* --procs passes -f on */
    CHECK_EQ_U64(cli_run_option_flags("check"), CLI_CMDLINE_ONLY);
    CHECK_EQ_U64(cli_run_option_flags("stages"), 0);
    CHECK_EQ_U64(cli_run_option_flags("allow_empty"), CLI_RUN_WIDE);
    CHECK_EQ_U64(cli_run_option_flags("force"), CLI_MERGE | CLI_MERGE_ONLY | CLI_CMDLINE_ONLY);
    CHECK_EQ_U64(cli_run_option_kind("force"), CLI_OPT_UNKNOWN); /* not a herd run option */
    CHECK_EQ_U64(cli_run_option_kind("allow-empty"), CLI_OPT_FLAG);
    CHECK_EQ_U64(cli_run_option_flags("nope"), 0);
    CHECK_EQ_U64(cli_run_option_flags("url"), 0);
}

static void test_outputs(void)
{
    struct run_options o;
    CHECK_EQ_I64(run(&o, "--csv", "b.csv", "--json=a.json", "--html", "c.html", "ws://h/", NULL),
                 CLI_OK);
    struct report_outputs outs;
    cli_run_outputs(&o, stderr, &outs);
    CHECK(outs.summary == stderr);
    CHECK_EQ_U64(outs.nfiles, 3);
    /* in the table's order, each with its format's writer */
    CHECK_EQ_STR(outs.file[0].option, "json");
    CHECK_EQ_STR(outs.file[0].path, "a.json");
    CHECK(outs.file[0].write == report_json_write);
    CHECK_EQ_STR(outs.file[1].option, "csv");
    CHECK_EQ_STR(outs.file[1].path, "b.csv");
    CHECK(outs.file[1].write == report_csv_write);
    CHECK_EQ_STR(outs.file[2].option, "html");
    CHECK(outs.file[2].write == report_html_write);
    /* a format without a writer is refused before a run, naming the option */
    outs.file[2].write = NULL;
    char why[600];
    CHECK(report_outputs_check(&outs, why, sizeof why) < 0);
    CHECK_EQ_STR(why, "--html: not supported yet");
    cli_run_options_free(&o);

    CHECK_EQ_I64(run(&o, "ws://h/", NULL), CLI_OK);
    cli_run_outputs(&o, NULL, &outs);
    CHECK_EQ_U64(outs.nfiles, 0);
    CHECK(outs.summary == NULL);
    CHECK_EQ_I64(report_outputs_check(&outs, why, sizeof why), 0);
    cli_run_options_free(&o);
}

static int merge(struct merge_options *m, ...)
{
    char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = "merge";
    va_list ap;
    va_start(ap, m);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < MAX_ARGS - 1)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    int saved = quiet_stdout_begin();
    int rc = cli_merge_parse(argc, argv, m, err, sizeof err);
    quiet_stdout_end(saved);
    return rc;
}

static void test_merge(void)
{
    struct merge_options m;
    CHECK_EQ_I64(merge(&m, "a.json", "--json", "m.json", "--threshold=rtt.count>0", "--csv",
                       "m.csv", "--", "-b.json", NULL),
                 CLI_OK);
    CHECK_EQ_U64(m.nfiles, 2);
    CHECK_EQ_STR(m.files[0], "a.json");
    CHECK_EQ_STR(m.files[1], "-b.json");
    CHECK_EQ_STR(m.run.json_path, "m.json");
    CHECK_EQ_STR(m.run.csv_path, "m.csv");
    CHECK_EQ_U64(m.run.nthresholds, 1);
    CHECK_EQ_STR(m.run.thresholds[0].expr, "rtt.count>0");
    cli_merge_options_free(&m);

    CHECK_EQ_I64(merge(&m, "-h", NULL), CLI_HELP);
    cli_merge_options_free(&m);
    CHECK(merge(&m, "--rate", "5", "a.json", NULL) < 0);
    CHECK_EQ_STR(err, "unknown option --rate (see herd merge --help)");
    cli_merge_options_free(&m);
    CHECK(merge(&m, "-q", "a.json", NULL) < 0);
    CHECK_EQ_STR(err, "unknown option -q (see herd merge --help)");
    cli_merge_options_free(&m);
    CHECK(merge(&m, "--nope", "a.json", NULL) < 0);
    CHECK_EQ_STR(err, "unknown option --nope (see herd merge --help)");
    cli_merge_options_free(&m);
    CHECK(merge(&m, "--json", "m.json", NULL) < 0);
    CHECK_EQ_STR(err, "merge: expected JSON reports to merge (see herd merge --help)");
    cli_merge_options_free(&m);
    CHECK(merge(&m, "a.json", "--json", NULL) < 0);
    CHECK_EQ_STR(err, "--json: missing value (expected a file name)");
    cli_merge_options_free(&m);
    CHECK(merge(&m, "a.json", "--threshold", "rtt.p99<fast", NULL) < 0);
    CHECK_EQ_STR(err, "--threshold: \"rtt.p99<fast\": expected a time like 20ms after <");
    cli_merge_options_free(&m);
    /* --force is merge's alone; --allow-empty is herd run's alone */
    CHECK_EQ_I64(merge(&m, "--force", "a.json", "b.json", NULL), CLI_OK);
    CHECK_EQ_I64(m.run.force, 1);
    cli_merge_options_free(&m);
    CHECK_EQ_I64(merge(&m, "a.json", "b.json", NULL), CLI_OK);
    CHECK_EQ_I64(m.run.force, 0);
    cli_merge_options_free(&m);
    CHECK(merge(&m, "--allow-empty", "a.json", NULL) < 0);
    CHECK_EQ_STR(err, "unknown option --allow-empty (see herd merge --help)");
    cli_merge_options_free(&m);
}

/* --allow-empty: herd run's, echoed in the config; --force: not herd run's, nor a scenario
 * key. */
static void test_allow_empty_and_force(void)
{
    struct run_options o;
    CHECK_EQ_I64(run(&o, "--allow-empty", "ws://h/", NULL), CLI_OK);
    CHECK_EQ_I64(o.allow_empty, 1);
    int found = 0;
    for (size_t i = 0; i < o.nconfig; i++) {
        if (strcmp(o.config[i].key, "allow_empty") == 0)
            found = strcmp(o.config[i].value, "true") == 0 && o.config[i].is_number;
    }
    CHECK(found);
    cli_run_options_free(&o);
    CHECK_EQ_I64(run(&o, "ws://h/", NULL), CLI_OK);
    CHECK_EQ_I64(o.allow_empty, 0);
    for (size_t i = 0; i < o.nconfig; i++)
        CHECK(strcmp(o.config[i].key, "allow_empty") != 0);
    cli_run_options_free(&o);
    CHECK(run(&o, "--force", "ws://h/", NULL) < 0);
    CHECK_EQ_STR(err, "unknown option --force (see herd run --help)");
    cli_run_options_free(&o);
    cli_run_init(&o);
    CHECK(cli_run_option(&o, "force", NULL, err, sizeof err) < 0);
    CHECK_EQ_STR(err, "unknown option force");
    CHECK_EQ_I64(cli_run_option(&o, "allow_empty", "true", err, sizeof err), CLI_OK);
    CHECK_EQ_I64(o.allow_empty, 1);
    cli_run_options_free(&o);
}

/* --metrics-listen and --watch-pid (issue 14): what is accepted, what is refused, the config. */
static void test_live_options(void)
{
    struct run_options o;
    const char *good[] = {"127.0.0.1:9464", ":9464", "[::1]:9464", "localhost:1", "0.0.0.0:65535"};
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        CHECK_EQ_I64(run(&o, "--metrics-listen", good[i], "ws://h/", NULL), CLI_OK);
        CHECK_EQ_STR(o.metrics_listen, good[i]);
        cli_run_options_free(&o);
    }
    const char *bad[] = {"9464",     "127.0.0.1", "127.0.0.1:0",    "127.0.0.1:65536",
                         "::1:9464", "[::1:9464", "127.0.0.1:http", "a b:1",
                         "h:-1",     ""};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        CHECK(run(&o, "--metrics-listen", bad[i], "ws://h/", NULL) < 0);
        CHECK(strncmp(err, "--metrics-listen: ", 18) == 0);
        cli_run_options_free(&o);
    }
    CHECK_EQ_I64(
        run(&o, "--watch-pid", "42", "--watch-pid=7", "--metrics-listen=:9464", "ws://h/", NULL),
        CLI_OK);
    CHECK_EQ_U64(o.nwatch, 2);
    CHECK_EQ_I64(o.watch_pid[0], 42);
    CHECK_EQ_I64(o.watch_pid[1], 7);
    int seen = 0;
    for (size_t i = 0; i < o.nconfig; i++) {
        if (strcmp(o.config[i].key, "watch_pid") == 0)
            seen += strcmp(o.config[i].value, "42,7") == 0;
        if (strcmp(o.config[i].key, "metrics_listen") == 0)
            seen += strcmp(o.config[i].value, ":9464") == 0;
    }
    CHECK_EQ_I64(seen, 2);
    cli_run_options_free(&o);
    const char *badpid[] = {"0", "-1", "x", "2147483648", "1.5"};
    for (size_t i = 0; i < ARRAY_SIZE(badpid); i++) {
        CHECK(run(&o, "--watch-pid", badpid[i], "ws://h/", NULL) < 0);
        CHECK(strncmp(err, "--watch-pid: ", 13) == 0);
        cli_run_options_free(&o);
    }
    CHECK(run(&o, "--watch-pid=1", "--watch-pid=2", "--watch-pid=3", "--watch-pid=4",
              "--watch-pid=5", "--watch-pid=6", "--watch-pid=7", "--watch-pid=8", "--watch-pid=9",
              "ws://h/", NULL) < 0);
    CHECK(strstr(err, "at most 8") != NULL);
    cli_run_options_free(&o);
    CHECK_EQ_U64(cli_run_option_flags("metrics_listen"), CLI_RUN_WIDE | CLI_PARENT_ONLY);
    CHECK_EQ_U64(cli_run_option_flags("watch-pid"),
                 CLI_RUN_WIDE | CLI_PARENT_ONLY | CLI_REPEATABLE);
    CHECK_EQ_U64(cli_run_option_flags("hlog"),
                 CLI_OUTPUT | CLI_RUN_WIDE | CLI_PARENT_ONLY | CLI_MERGE);
}

int main(void)
{
    test_live_options();
    test_defaults();
    test_both_forms();
    test_every_option();
    test_help();
    test_run_errors();
    test_run_option_api();
    test_serve();
    test_help_from_the_table();
    test_option_flags();
    test_outputs();
    test_merge();
    test_allow_empty_and_force();
    return tap_done();
}

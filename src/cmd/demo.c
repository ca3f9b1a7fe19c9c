/* demo.c - `herd demo`: the embedded default. Starts `herd serve` in-process on a free loopback
 * port, runs a short ping load, a short echo load and a short broadcast (publishers, WebSocket
 * and event-stream subscribers on one topic, a scenario) against it, prints each summary, writes
 * a JSON report of each into --out DIR (default herd-demo/; --json F puts the echo report at F)
 * and one HTML report of the three, whose path it prints last. */
#include "cmd/cmd.h"

#include "base/log.h"
#include "base/syslimits.h"
#include "report/report.h"
#include "server/server.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int phase(const char *role, uint16_t port, const char *dir, const char *dur,
                 const char *conns, const char *json_path)
{
    char url[64], json[4096];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/echo", port);
    if (json_path)
        snprintf(json, sizeof json, "%s", json_path);
    else
        snprintf(json, sizeof json, "%s/demo-%s.json", dir, role);
    char *argv[] = {"run", url,         "--role", (char *)role, "-c", (char *)conns,
                    "-d",  (char *)dur, "--json", json,         "-q", NULL};
    int argc = (int)(sizeof argv / sizeof argv[0]) - 1;
    struct run_options o;
    char err[512] = "";
    if (cli_run_parse(argc, argv, &o, err, sizeof err) != 0) {
        fprintf(stderr, "herd: demo: %s\n", err);
        return EXIT_USAGE;
    }
    printf("\n== herd demo: %s, %s connections for %s against the built-in server ==\n", role,
           conns, dur);
    fflush(stdout);
    int rc = run_execute(&o, stdout);
    cli_run_options_free(&o);
    if (rc == EXIT_OK)
        printf("report: %s\n", json);
    return rc;
}

/* The broadcast: a scenario of publishers, WebSocket subscribers and event-stream subscribers on
 * one topic of the built-in server, written into dir and run like `herd run -f`. */
static int broadcast(uint16_t port, const char *dir, const char *dur, const char *conns,
                     const char *json)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "%s/demo-broadcast.yaml", dir);
    long n = strtol(conns, NULL, 10);
    long subs = n > 4 ? n / 2 : 2;
    FILE *f = fopen(yaml, "w");
    if (!f) {
        fprintf(stderr, "herd: demo: cannot write %s: %s\n", yaml, strerror(errno));
        return EXIT_USAGE;
    }
    fprintf(f,
            "# herd demo: one topic, its publishers and its subscribers over WebSocket and SSE\n"
            "duration: %s\n"
            "groups:\n"
            "  - name: ws-subscribers\n"
            "    url: ws://127.0.0.1:%u/pubsub/demo\n"
            "    role: subscribe\n"
            "    connections: %ld\n"
            "  - name: sse-subscribers\n"
            "    url: http://127.0.0.1:%u/sse/demo\n"
            "    role: subscribe\n"
            "    connections: %ld\n"
            "  - name: publishers\n"
            "    url: ws://127.0.0.1:%u/pubsub/demo\n"
            "    role: publish\n"
            "    connections: 4\n"
            "    rate: 10/s\n",
            dur, port, subs, port, subs, port);
    if (fclose(f) != 0) {
        fprintf(stderr, "herd: demo: cannot write %s: %s\n", yaml, strerror(errno));
        return EXIT_USAGE;
    }
    printf("\n== herd demo: broadcast, 4 publishers to %ld WebSocket and %ld SSE subscribers "
           "for %s (%s) ==\n",
           subs, subs, dur, yaml);
    fflush(stdout);
    char *argv[] = {"run", "-f", yaml, "--json", (char *)json, "-q", NULL};
    int rc = cmd_run((int)(sizeof argv / sizeof argv[0]) - 1, argv);
    if (rc == EXIT_OK)
        printf("report: %s\n", json);
    return rc;
}

/* One HTML page of the phases' reports, read back from their JSON. */
static int html_of(const char *const *json, const char *const *titles, size_t n, const char *path)
{
    struct report_read *rd = xcalloc(n, sizeof *rd);
    struct report *rep = xcalloc(n, sizeof *rep);
    const struct report **list = xcalloc(n, sizeof *list);
    char err[600];
    int rc = EXIT_OK;
    size_t nread = 0;
    for (; nread < n; nread++) {
        if (report_json_read(json[nread], &rd[nread], err, sizeof err) != 0) {
            fprintf(stderr, "herd: demo: %s\n", err);
            report_read_free(&rd[nread]);
            rc = EXIT_NORUN;
            goto out;
        }
        report_read_view(&rd[nread], &rep[nread]);
        list[nread] = &rep[nread];
    }
    if (report_html_write_set(list, titles, n, "herd demo", path, err, sizeof err) != 0) {
        fprintf(stderr, "herd: demo: %s\n", err);
        rc = EXIT_NORUN;
    }
out:
    for (size_t i = 0; i < nread; i++)
        report_read_free(&rd[i]);
    free(list);
    free(rep);
    free(rd);
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    const char *dir = "herd-demo", *dur = "3s", *conns = "100", *json = NULL, *html = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json = argv[++i];
        else if (strcmp(argv[i], "--html") == 0 && i + 1 < argc)
            html = argv[++i];
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
            dur = argv[++i];
        else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            conns = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            cli_usage(stdout, "demo");
            return EXIT_OK;
        } else {
            fprintf(stderr, "herd: demo: unknown option %s (see herd demo --help)\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "herd: demo: --out: cannot create %s: %s\n", dir, strerror(errno));
        return EXIT_USAGE;
    }
    /* Before the first phase, not after it: the echo phase's report must be writable. */
    char why[600];
    if (json && atomic_file_check(json, why, sizeof why) != 0) {
        fprintf(stderr, "herd: demo: --json: %s\n", why);
        return EXIT_USAGE;
    }
    char html_path[4096], ping_json[4096], echo_json[4096], bc_json[4096];
    snprintf(html_path, sizeof html_path, "%s/demo.html", dir);
    if (html && atomic_file_check(html, why, sizeof why) != 0) {
        fprintf(stderr, "herd: demo: --html: %s\n", why);
        return EXIT_USAGE;
    }
    snprintf(ping_json, sizeof ping_json, "%s/demo-ping.json", dir);
    snprintf(echo_json, sizeof echo_json, "%s", json ? json : "");
    if (!json)
        snprintf(echo_json, sizeof echo_json, "%s/demo-echo.json", dir);
    snprintf(bc_json, sizeof bc_json, "%s/demo-broadcast.json", dir);
    signal(SIGPIPE, SIG_IGN);
    syslimits_nofile_raise();
    struct server_params sp;
    server_params_defaults(&sp);
    sp.port = 0;
    sp.threads = 1;
    sp.quiet = 1;
    char err[512] = "";
    /* Block the signals before the server's threads start, so only the run's reporter takes
     * them. */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    struct server *s = server_start(&sp, err, sizeof err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!s) {
        fprintf(stderr, "herd: demo: cannot start the built-in server: %s\n", err);
        return EXIT_NORUN;
    }
    uint16_t port = server_port(s);
    int rc = phase("ping", port, dir, dur, conns, NULL);
    if (rc == EXIT_OK)
        rc = phase("echo", port, dir, dur, conns, json);
    if (rc == EXIT_OK)
        rc = broadcast(port, dir, dur, conns, bc_json);
    server_stop(s);
    if (rc == EXIT_OK) {
        const char *files[] = {ping_json, echo_json, bc_json};
        const char *titles[] = {"ping", "echo", "broadcast"};
        const char *out = html ? html : html_path;
        rc = html_of(files, titles, 3, out);
        if (rc == EXIT_OK)
            printf("\nHTML report of the three: %s\n", out);
    }
    return rc;
}

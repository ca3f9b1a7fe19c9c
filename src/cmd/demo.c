/* demo.c - `herd demo`: the embedded default. Starts `herd serve` in-process on a free loopback
 * port, runs a short ping load and a short echo load against it, prints both summaries and writes
 * a JSON report of each into --out DIR (default herd-demo/); --json F puts the echo report at F. */
#include "cmd/cmd.h"

#include "base/log.h"
#include "base/syslimits.h"
#include "report/report.h"
#include "server/server.h"

#include <errno.h>
#include <signal.h>
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

int cmd_demo(int argc, char **argv)
{
    const char *dir = "herd-demo", *dur = "3s", *conns = "100", *json = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json = argv[++i];
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
    server_stop(s);
    return rc;
}

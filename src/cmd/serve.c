/* serve.c - `herd serve`: run the built-in target until SIGINT/SIGTERM. */
#include "cmd/cmd.h"

#include "server/server.h"

#include <signal.h>
#include <stdio.h>

int cmd_serve(int argc, char **argv)
{
    struct server_params p;
    char err[512] = "";
    int rc = cli_serve_parse(argc, argv, &p, err, sizeof err);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc < 0) {
        fprintf(stderr, "herd: %s\n", err);
        return EXIT_USAGE;
    }
    raise_nofile();
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct server *s = server_start(&p, err, sizeof err);
    if (!s) {
        fprintf(stderr, "herd: serve: %s\n", err);
        return EXIT_NORUN;
    }
    if (!p.quiet)
        fprintf(stderr, "herd serve: listening on %s:%u (ws://%s:%u/echo)\n", p.bind,
                server_port(s), p.bind, server_port(s));
    int sig = 0;
    sigwait(&sigs, &sig);
    server_stop(s);
    return EXIT_OK;
}

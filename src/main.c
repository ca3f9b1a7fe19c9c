/* main.c - dispatch the subcommand; every command returns DESIGN.md's exit code. */
#include "base/log.h"
#include "cli/cli.h"
#include "cmd/cmd.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_usage(stderr, NULL);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "demo") == 0)
        return cmd_demo(argc - 1, argv + 1);
    if (strcmp(cmd, "merge") == 0)
        return cmd_merge(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("herd %s\n", HERD_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        cli_usage(stdout, argc > 2 ? argv[2] : NULL);
        return EXIT_OK;
    }
    fprintf(stderr, "herd: unknown command \"%s\" (expected run, serve, demo, merge, report)\n",
            cmd);
    return EXIT_USAGE;
}

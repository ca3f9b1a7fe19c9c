/* main.c - dispatch the subcommand; every command returns DESIGN.md's exit code. */
#include "base/log.h"
#include "cli/cli.h"
#include "cmd/cmd.h"
#include "net/net.h"
#include "report/report.h"

#include <stdio.h>
#include <string.h>

/* The commands, as `herd --help` lists them (cli/usage.c). */
static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} commands[] = {
    {"run", cmd_run},     {"serve", cmd_serve},   {"demo", cmd_demo},
    {"merge", cmd_merge}, {"report", cmd_report},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_usage(stderr, NULL);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    report_env_command_line_set(argc, argv);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("herd %s (TLS: %s)\n", HERD_VERSION, net_tls_library());
        return EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        /* What `make install` writes, from the option tables (cli/man.c). */
        if (argc > 2 && strcmp(argv[2], "--man") == 0)
            cli_man(stdout);
        else if (argc > 2 && strcmp(argv[2], "--bash-completion") == 0)
            cli_bash_completion(stdout);
        else
            cli_usage(stdout, argc > 2 ? argv[2] : NULL);
        return EXIT_OK;
    }
    fprintf(stderr, "herd: unknown command \"%s\" (expected ", cmd);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(stderr, "%s%s", commands[i].name,
                i + 2 < sizeof commands / sizeof commands[0]   ? ", "
                : i + 1 < sizeof commands / sizeof commands[0] ? " or "
                                                               : "");
    fprintf(stderr, "; see herd --help)\n");
    return EXIT_USAGE;
}

/* cli_internal.h - shared by the files of src/cli only: the option tables (options.c) that
 * usage.c prints --help from, and the number lexer. */
#ifndef HERD_CLI_CLI_INTERNAL_H
#define HERD_CLI_CLI_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "report/report.h"

/* Lex an unsigned decimal number `digits [ "." digits ]` at the start of s: no sign, no
 * exponent, no hex, no "inf"/"nan", no locale (strtod accepts all of those, and a load generator
 * must not read "0x10" or "1e3" as something the user did not mean). Returns 0 with *v and *end
 * set (end = first byte after the number), or -1 when s does not start with a number. */
int cli__number(const char *s, const char **end, long double *v);

enum cli_arg {
    CLI_ARG_FLAG, /* no value; "--flag=false" is allowed too (scenario files write flag: false) */
    CLI_ARG_VALUE, /* takes a value */
    CLI_ARG_TODO, /* a documented option the engine does not have yet: a clear error, not
                     "unknown" */
};

/* The --help sections, printed in this order. */
enum cli_section {
    CLI_SEC_HIDDEN, /* not in --help */
    CLI_SEC_LOAD, /* herd run */
    CLI_SEC_MESSAGES,
    CLI_SEC_HANDSHAKE,
    CLI_SEC_RECONNECT,
    CLI_SEC_TLS,
    CLI_SEC_RESULTS,
    CLI_SEC_SERVE, /* herd serve */
    CLI_SEC_FAULTS,
    CLI_SEC_COUNT,
};

/* One option: everything herd knows about it. */
struct cli_opt {
    const char *name; /* long name, with dashes */
    char short_name; /* 0 = none */
    enum cli_arg arg;
    int id; /* the command's own option number (options.c) */
    const char *form; /* what the value looks like, for "missing value" messages */
    const char *meta; /* the value's name in --help ("N", "DUR"); NULL for a flag */
    const char *help; /* --help text, lines separated by '\n'; NULL for none */
    enum cli_section section;
    unsigned flags; /* CLI_RUN_WIDE, CLI_PARENT_ONLY, ... (cli.h) */
    report_write_fn *write; /* CLI_OUTPUT: the writer of its format; NULL = not supported yet */
    size_t path_field; /* CLI_OUTPUT: offsetof its path in struct run_options */
};

/* The tables of `herd run` (which `herd merge` shares) and `herd serve`. */
extern const struct cli_opt cli__run_opts[];
extern const size_t cli__run_nopts;
extern const struct cli_opt cli__serve_opts[];
extern const size_t cli__serve_nopts;

/* Print the --help lines of table[0..n). heading NULL: every listed row but those of
 * `herd merge` alone (CLI_MERGE_ONLY), under its section's heading, section by section; else only
 * the rows whose flags include all of `need`, in table order, under `heading`. */
void cli__opts_print(FILE *out, const struct cli_opt *table, size_t n, unsigned need,
                     const char *heading);

/* The --help heading of a section ("load:"), "" for CLI_SEC_HIDDEN. */
const char *cli__section_heading(int section);

#endif

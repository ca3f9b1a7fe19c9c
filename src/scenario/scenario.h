/* scenario.h - scenario files (`herd run -f FILE.yaml`): YAML into one struct run_options per
 * group of connections.
 *
 * The file is a mapping. Its keys are `herd run` long options with dashes written as underscores
 * (`connect_rate`), plus `thresholds` (a list of expressions, for the whole run) and `groups` (a
 * list of mappings). Each group has a `name` and any long options; a group's key replaces the
 * top-level key of the same name. Every group's options are applied in this order:
 *
 *   1. the top-level keys (except groups and thresholds),
 *   2. the command line given with -f (it overrides top-level keys of the same name),
 *   3. the group's own keys (which win over both),
 *
 * with the same cli_run_option the command line uses, so a value means the same in both places,
 * then cli_run_finish. Options that belong to the whole run (json, csv, html, hlog, quiet,
 * procs, shard) are allowed at the top level and on the command line only.
 *
 * Every mistake is one line "FILE:LINE:COLUMN: message" (1-based, from libyaml's marks) that
 * points at the offending key or value. The parser takes any bytes: it never crashes and frees
 * what it allocated, whatever the input, and its time and memory stay linear in the size of the
 * file (SCENARIO_MAX_DEPTH, SCENARIO_MAX_NODES). */
#ifndef HERD_SCENARIO_SCENARIO_H
#define HERD_SCENARIO_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"

#define SCENARIO_MAX_GROUPS 64
#define SCENARIO_NAME_MAX 64 /* a group name: letters, digits, '_', '-', '.'; at most 63 */
#define SCENARIO_MAX_BYTES (4u << 20) /* larger files are not scenarios */
/* Lists and mappings nest at most this deep (the top-level mapping is level 1, a group's list of
 * headers level 4): deeper is an error at the first collection too deep. */
#define SCENARIO_MAX_DEPTH 32
/* At most this many nodes (values, lists, mappings, aliases) in the file: 64 groups of every
 * option with lists of headers and thresholds take a few thousand. */
#define SCENARIO_MAX_NODES 100000

struct scenario_group {
    char name[SCENARIO_NAME_MAX];
    /* The group's options, cli_run_finish done (so `config` holds its effective options). Its
     * `thresholds` are the group's own, checked on the group's figures. */
    struct run_options opts;
    int threads_given; /* `threads` was set (top level, command line or group) */
    unsigned line; /* 1-based line of the group in the file */
    char _threads_text[16]; /* private: the assigned threads, for the report's config */
};

/* An option from the command line given with -f: long name (dashes) and value (NULL for a
 * flag), as cli_run_walk reports them. */
struct scenario_override {
    const char *name;
    const char *value;
};

/* What scenario_parse_* takes besides the text. All optional (NULL = none). */
struct scenario_input {
    const struct scenario_override *overrides;
    size_t noverrides;
    int no_files; /* refuse message_file (the fuzz target must not read files) */
};

/* A parsed scenario. It owns every string its run_options point to. The struct holds pointers
 * into itself: never copy it, pass it by pointer. */
struct scenario {
    char *name; /* the file name, for messages and the report */
    /* The top-level keys and the command line, for the options of the whole run (json_path,
     * csv_path, client.quiet, client.procs, client.shard_*) and the top-level thresholds (which
     * are checked on the total). cli_run_finish is not called on it. */
    struct run_options top;
    struct scenario_group *groups;
    size_t ngroups;
    uint64_t connections; /* the sum of the groups' connections (-c, or the largest stage) */
    /* private */
    char **_strings;
    size_t _nstrings;
};

/* Parse a scenario from memory; `name` is the file name used in messages. Returns 0, or a
 * negative error with one line "NAME:LINE:COLUMN: message" in err. Call scenario_free
 * afterwards, whatever the result. */
int scenario_parse_buffer(const char *data, size_t len, const char *name,
                          const struct scenario_input *in, struct scenario *s, char *err,
                          size_t errlen);

/* The same from a file (at most SCENARIO_MAX_BYTES); an unreadable file is "PATH: reason". */
int scenario_parse_file(const char *path, const struct scenario_input *in, struct scenario *s,
                        char *err, size_t errlen);

/* Give each group that did not set `threads` a share of ncpus by its connections:
 * max(1, round(ncpus * group connections / total connections)). */
void scenario_threads_assign(struct scenario *s, unsigned ncpus);

/* Free everything s owns (also after a failed parse) and zero it. */
void scenario_free(struct scenario *s);

#endif
